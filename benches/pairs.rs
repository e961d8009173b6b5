#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Throughput of the pair losses' fused value + both gradients (Gaussian
//! NLL with per-element variances, margin ranking), beside the plain scalar
//! loop a user would write (per element, `libm`, a value pass then a
//! gradient pass) and the memory roof: a kernel that reads the three inputs
//! and writes the two gradients, with no arithmetic to speak of.
//!
//! `cargo bench -p loss-kernels-benches --bench pairs`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use loss_kernels::Reduction;
use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
use std::hint::black_box;
use std::time::Duration;

/// Reads `a`, `b`, `c`, writes `g0`, `g1`: the traffic of any fused pair loss.
fn memory_roof(a: &[f32], b: &[f32], c: &[f32], g0: &mut [f32], g1: &mut [f32]) {
    for ((((g0, g1), &a), &b), &c) in g0.iter_mut().zip(g1.iter_mut()).zip(a).zip(b).zip(c) {
        *g0 = a - b;
        *g1 = b - c;
    }
}

/// Gaussian NLL (eps 1e-6), mean, as a plain loop.
fn plain_gaussian(p: &[f32], t: &[f32], v: &[f32], gp: &mut [f32], gv: &mut [f32]) -> f32 {
    let n = p.len() as f32;
    let mut sum = 0.0f32;
    for ((&p, &t), &v) in p.iter().zip(t).zip(v) {
        let v = libm::fmaxf(v, 1e-6);
        let s = p - t;
        sum += 0.5 * (libm::logf(v) + s * s / v);
    }
    for ((((gp, gv), &p), &t), &v) in gp.iter_mut().zip(gv.iter_mut()).zip(p).zip(t).zip(v) {
        let v = libm::fmaxf(v, 1e-6);
        let s = p - t;
        *gp = s / v / n;
        *gv = 0.5 * (1.0 / v - s * s / (v * v)) / n;
    }
    sum / n
}

/// Margin ranking (margin 0), mean, as a plain loop.
fn plain_ranking(x1: &[f32], x2: &[f32], t: &[f32], g1: &mut [f32], g2: &mut [f32]) -> f32 {
    let n = x1.len() as f32;
    let mut sum = 0.0f32;
    for ((&a, &b), &t) in x1.iter().zip(x2).zip(t) {
        sum += libm::fmaxf(0.0, -t * (a - b));
    }
    for ((((g1, g2), &a), &b), &t) in g1.iter_mut().zip(g2.iter_mut()).zip(x1).zip(x2).zip(t) {
        let active = -t * (a - b) > 0.0;
        *g1 = if active { -t / n } else { 0.0 };
        *g2 = if active { t / n } else { 0.0 };
    }
    sum / n
}

/// Deterministic inputs: two in `[-3, 3)`, the third a variance in
/// `[0.1, 4)` or a label `±1`.
fn inputs(n: usize, labels: bool) -> [Vec<f32>; 3] {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let a = (0..n).map(|_| 6.0 * next() - 3.0).collect();
    let b = (0..n).map(|_| 6.0 * next() - 3.0).collect();
    let c = (0..n)
        .map(|_| {
            if labels {
                if next() < 0.5 { -1.0 } else { 1.0 }
            } else {
                0.1 + 3.9 * next()
            }
        })
        .collect();
    [a, b, c]
}

fn pairs(c: &mut Criterion) {
    for (name, labels) in [("gaussian_nll", false), ("margin_ranking", true)] {
        let mut group = c.benchmark_group(format!("pairs/{name}"));
        for (label, n) in [
            ("1Ki", 1 << 10),
            ("16Ki", 1 << 14),
            ("64Ki", 1 << 16),
            ("1Mi", 1 << 20),
        ] {
            let [a, b, x] = inputs(n, labels);
            let (mut g0, mut g1) = (vec![0.0f32; n], vec![0.0f32; n]);
            group.throughput(Throughput::Elements(n as u64));
            let gaussian = GaussianNll::new();
            let ranking = MarginRanking::new(0.0).unwrap();
            group.bench_function(BenchmarkId::new("loss-kernels", label), |bench| {
                bench.iter(|| {
                    if labels {
                        let grads = RankingGrads {
                            x1: &mut g0,
                            x2: &mut g1,
                        };
                        ranking.value_and_grad(
                            black_box(&a),
                            black_box(&b),
                            black_box(&x),
                            Reduction::Mean,
                            grads,
                        )
                    } else {
                        let grads = GaussianGrads {
                            pred: &mut g0,
                            var: &mut g1,
                        };
                        gaussian.value_and_grad(
                            black_box(&a),
                            black_box(&b),
                            black_box(&x),
                            Reduction::Mean,
                            grads,
                        )
                    }
                    .unwrap()
                })
            });
            group.bench_function(BenchmarkId::new("scalar", label), |bench| {
                bench.iter(|| {
                    if labels {
                        plain_ranking(
                            black_box(&a),
                            black_box(&b),
                            black_box(&x),
                            &mut g0,
                            &mut g1,
                        )
                    } else {
                        plain_gaussian(
                            black_box(&a),
                            black_box(&b),
                            black_box(&x),
                            &mut g0,
                            &mut g1,
                        )
                    }
                })
            });
            group.bench_function(BenchmarkId::new("memory-roof", label), |bench| {
                bench.iter(|| {
                    memory_roof(
                        black_box(&a),
                        black_box(&b),
                        black_box(&x),
                        &mut g0,
                        &mut g1,
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = pairs
}
criterion_main!(benches);
