#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! loss-kernels-rayon: each `par_*` call beside the single-thread call it
//! splits (the same kernels, on the calling thread), at the issue's sizes:
//! softmax cross-entropy 4096×1000 and 256×32000 (value + gradient), CTC
//! `T=150 N=32 C=29 S=40` time-major (value + gradient), L2 over 16 Mi
//! values (value + gradient: memory-bound); and at the threshold
//! (`MIN_VALUES` = 64 Ki values: cross-entropy 64×1024, L2 64 Ki), where
//! the threads must not be slower than the single thread.
//!
//! Beside them, the memory roof on one thread and on every thread (the same
//! rayon pool): a loop that reads the inputs once and writes one output,
//! the traffic of a fused call, with no arithmetic to speak of. A
//! memory-bound call's thread speed-up is bounded by the roof's.
//!
//! ```text
//! cargo bench -p loss-kernels-benches --features rayon --bench parallel -- --warm-up-time 1 --measurement-time 3
//! python3 tools/bench_ratios.py target/criterion parallel/
//! ```
//!
//! Needs `--features rayon` (it brings in the threads crate,
//! `loss-kernels-rayon`); without it the bench is empty.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[cfg(feature = "rayon")]
fn bench(c: &mut Criterion) {
    use loss_kernels::Reduction;
    use loss_kernels::ctc::{self, Activations, Ctc, Dims};
    use loss_kernels::pointwise::L2;
    use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    use loss_kernels_rayon::{ParCrossEntropy, ParCtc, ParPointwise};
    use rayon::prelude::*;
    use std::hint::black_box;

    // The roof: `out = x - y` (one input for the rows: `y = x`), on the
    // calling thread or split in 64 Ki-value chunks over the pool.
    let roof = |x: &[f32], y: &[f32], out: &mut [f32]| {
        for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
            *o = a - b;
        }
    };
    let par_roof = |x: &[f32], y: &[f32], out: &mut [f32]| {
        const CHUNK: usize = 1 << 16;
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .zip(y.par_chunks(CHUNK))
            .for_each(|((o, x), y)| roof(x, y, o));
    };
    let both_roofs = |group: &mut criterion::BenchmarkGroup<'_, _>,
                      label: &str,
                      x: &[f32],
                      y: &[f32],
                      out: &mut [f32]| {
        group.bench_function(BenchmarkId::new("memory-roof single thread", label), |b| {
            b.iter(|| roof(black_box(x), black_box(y), out))
        });
        group.bench_function(BenchmarkId::new("memory-roof rayon", label), |b| {
            b.iter(|| par_roof(black_box(x), black_box(y), out))
        });
    };

    let data = |len: usize, seed: u64| -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
            })
            .collect()
    };
    let mut group = c.benchmark_group("parallel");
    group.sample_size(10);
    // 64x1024 and L2 64Ki: the smallest batches the threads take
    // (`MIN_VALUES`: one leaf), and 128x1024 (two leaves), which must not
    // be slower than the single thread.
    for (rows, classes) in [(4096, 1000), (256, 32000), (64, 1024), (128, 1024)] {
        let x = data(rows * classes, 1);
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7919) % classes) as u32).collect();
        let mut grad = vec![0.0; x.len()];
        let ce = SoftmaxCrossEntropy::new(classes).unwrap();
        let label = format!("ce {rows}x{classes}");
        group.throughput(Throughput::Elements(x.len() as u64));
        group.bench_function(BenchmarkId::new("single thread", &label), |b| {
            b.iter(|| {
                black_box(
                    ce.value_and_grad(&x, Labels::Sparse(&labels), Reduction::Mean, &mut grad)
                        .unwrap(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("rayon", &label), |b| {
            b.iter(|| {
                black_box(
                    ce.par_value_and_grad(&x, Labels::Sparse(&labels), Reduction::Mean, &mut grad)
                        .unwrap(),
                )
            })
        });
        both_roofs(&mut group, &label, &x, &x, &mut grad);
    }
    {
        let (t, n, c, s) = (150, 32, 29, 40);
        let dims = Dims {
            steps: t,
            batch: n,
            classes: c,
        };
        let x = data(dims.len(), 2);
        let lengths = vec![t as u32; n];
        let labels: Vec<u32> = (0..n * s)
            .map(|i| 1 + ((i * 31) % (c - 1)) as u32)
            .collect();
        let label_lengths = vec![s as u32; n];
        let acts = Activations::time_major(&x, dims, &lengths);
        let labels = ctc::Labels::Padded {
            labels: &labels,
            max_len: s,
            lengths: &label_lengths,
        };
        let mut ws = vec![0.0; ctc::workspace_len(t, s)];
        let mut grad = vec![0.0; x.len()];
        let label = format!("ctc T={t} N={n} C={c} S={s}");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("single thread", &label), |b| {
            b.iter(|| {
                black_box(
                    Ctc::new(0)
                        .value_and_grad(&acts, &labels, Reduction::Mean, &mut ws, &mut grad)
                        .unwrap(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("rayon", &label), |b| {
            b.iter(|| {
                black_box(
                    Ctc::new(0)
                        .par_value_and_grad(&acts, &labels, Reduction::Mean, &mut grad)
                        .unwrap(),
                )
            })
        });
    }
    for (len, label) in [(16 << 20, "l2 16Mi"), (1 << 16, "l2 64Ki")] {
        let (p, t) = (data(len, 3), data(len, 4));
        let mut grad = vec![0.0; len];
        group.throughput(Throughput::Bytes((len * 3 * 4) as u64));
        group.bench_function(BenchmarkId::new("single thread", label), |b| {
            b.iter(|| {
                black_box(
                    L2::new()
                        .value_and_grad(&p, &t, Reduction::Mean, &mut grad)
                        .unwrap(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("rayon", label), |b| {
            b.iter(|| {
                black_box(
                    L2::new()
                        .par_value_and_grad(&p, &t, Reduction::Mean, &mut grad)
                        .unwrap(),
                )
            })
        });
        both_roofs(&mut group, label, &p, &t, &mut grad);
    }
    group.finish();
}

#[cfg(not(feature = "rayon"))]
fn bench(_: &mut Criterion) {
    let _ = (BenchmarkId::new("", ""), Throughput::Elements(0));
}

criterion_group!(benches, bench);
criterion_main!(benches);
