#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! CTC value + gradient from logits, beside the plain scalar float64
//! log-space reference of the tests (`loss_kernels_reference::ctc`).
//!
//! Shapes (time-major, every sequence at full length):
//! `T=150 N=32 C=29 S=40` and `T=500 N=8 C=80 S=100`.
//!
//! ```text
//! cargo bench -p loss-kernels-benches --bench ctc -- --warm-up-time 1 --measurement-time 2
//! RUSTFLAGS="-C target-cpu=native" cargo bench -p loss-kernels-benches --bench ctc --target-dir target/native \
//!     -- --warm-up-time 1 --measurement-time 2
//! python3 tools/bench_ratios.py target/criterion ctc/   # criterion writes to ./target/criterion
//! ```
//!
//! The crate runs at the detected level (`loss_kernels::lane::level()`); the
//! reference is the same float64 code in every build.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use loss_kernels::Reduction;
use loss_kernels::ctc::{Activations, Ctc, Dims, Labels, workspace_len};
use loss_kernels_reference::ctc::Batch;
use std::hint::black_box;

/// A deterministic batch: logits uniform in [-4, 4), labels in 1..C.
fn batch(t: usize, n: usize, c: usize, s: usize) -> Batch {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
    };
    let data = (0..t * n * c)
        .map(|_| next() as f32 / (1u64 << 24) as f32 * 8.0 - 4.0)
        .collect();
    let labels = (0..n)
        .map(|_| {
            (0..s)
                .map(|_| 1 + (next() % (c as u64 - 1)) as u32)
                .collect()
        })
        .collect();
    Batch {
        t,
        n,
        c,
        batch_major: false,
        data,
        input_lengths: vec![t as u32; n],
        labels,
        blank: 0,
        logits: true,
        zero_infinity: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ctc/value_and_grad");
    group.sample_size(10);
    for (t, n, classes, s) in [(150, 32, 29, 40), (500, 8, 80, 100)] {
        let b = batch(t, n, classes, s);
        let label = format!("T{t}N{n}C{classes}S{s}");
        let flat = b.labels.concat();
        let lengths = vec![s as u32; n];
        let labels = Labels::Padded {
            labels: &flat,
            max_len: s,
            lengths: &lengths,
        };
        let acts = Activations::time_major(
            &b.data,
            Dims {
                steps: t,
                batch: n,
                classes,
            },
            &b.input_lengths,
        );
        let mut ws = vec![0.0f32; workspace_len(t, s)];
        let mut grad = vec![0.0f32; b.data.len()];
        let ctc = Ctc::new(0);
        group.bench_function(BenchmarkId::new("loss-kernels", &label), |bench| {
            bench.iter(|| {
                ctc.value_and_grad(
                    black_box(&acts),
                    &labels,
                    Reduction::Mean,
                    &mut ws,
                    &mut grad,
                )
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("value only", &label), |bench| {
            bench.iter(|| {
                ctc.value(black_box(&acts), &labels, Reduction::Mean, &mut ws)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("scalar f64 reference", &label), |bench| {
            bench.iter(|| black_box(&b).expect())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
