#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Low-noise CTC timing on the benchmark shapes (same data as
//! `benches/ctc.rs`): the minimum over `REPS` rounds of the mean of 10
//! calls, value + gradient and value only. On a loaded machine the minimum
//! is far steadier than criterion's median, which makes back-to-back
//! comparisons of two builds meaningful.
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo run --release --example ctc_time --target-dir target/native
//! SHAPE=0 REPS=1 valgrind --tool=callgrind target/v3/release/examples/ctc_time   # instruction counts
//! ```
//!
//! `SHAPE=0` / `SHAPE=1` runs one shape only; `REPS` (default 30) the
//! number of rounds. Valgrind has no AVX-512: count instructions on an
//! `x86-64-v3` build.

use loss_kernels::Reduction;
use loss_kernels::ctc::{Activations, Ctc, Dims, Labels, workspace_len};
use std::hint::black_box;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

fn main() {
    let only = env("SHAPE", usize::MAX);
    let reps = env("REPS", 30);
    let shapes = [(150usize, 32usize, 29usize, 40usize), (500, 8, 80, 100)];
    for (shape, (t, n, c, s)) in shapes.into_iter().enumerate() {
        if only != usize::MAX && only != shape {
            continue;
        }
        // The batch of `benches/ctc.rs`: logits uniform in [-4, 4), labels in 1..C.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
        };
        let data: Vec<f32> = (0..t * n * c)
            .map(|_| next() as f32 / (1u64 << 24) as f32 * 8.0 - 4.0)
            .collect();
        let labels: Vec<u32> = (0..n * s)
            .map(|_| 1 + (next() % (c as u64 - 1)) as u32)
            .collect();
        let lengths = vec![s as u32; n];
        let input_lengths = vec![t as u32; n];
        let labels = Labels::Padded {
            labels: &labels,
            max_len: s,
            lengths: &lengths,
        };
        let acts = Activations::time_major(
            &data,
            Dims {
                steps: t,
                batch: n,
                classes: c,
            },
            &input_lengths,
        );
        let mut ws = vec![0.0; workspace_len(t, s)];
        let mut grad = vec![0.0; data.len()];
        let ctc = Ctc::new(0);
        let (mut both, mut value) = (f64::MAX, f64::MAX);
        for _ in 0..reps {
            let start = Instant::now();
            for _ in 0..10 {
                black_box(
                    ctc.value_and_grad(
                        black_box(&acts),
                        &labels,
                        Reduction::Mean,
                        &mut ws,
                        &mut grad,
                    )
                    .unwrap(),
                );
            }
            both = both.min(start.elapsed().as_secs_f64() / 10.0);
            let start = Instant::now();
            for _ in 0..10 {
                black_box(
                    ctc.value(black_box(&acts), &labels, Reduction::Mean, &mut ws)
                        .unwrap(),
                );
            }
            value = value.min(start.elapsed().as_secs_f64() / 10.0);
        }
        println!(
            "T{t}N{n}C{c}S{s}: value+grad {:.3} ms, value {:.3} ms (min of {reps})",
            both * 1e3,
            value * 1e3
        );
    }
}
