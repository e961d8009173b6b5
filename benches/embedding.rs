#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Triplet (value + the three gradients) and cosine embedding (value + both
//! gradients) at 4096x128, beside a plain scalar implementation and a
//! memory roof (a loop that only reads the inputs and writes the gradients).
//!
//! Run: `cargo bench -p loss-kernels-benches --bench embedding -- --warm-up-time 1 --measurement-time 2`;
//! ratios: `python3 tools/bench_ratios.py target/criterion embedding/`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use loss_kernels::Reduction;
use loss_kernels::embedding::{CosineEmbedding, CosineGrads, Distance, Triplet, TripletGrads};
use std::hint::black_box;

fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The scalar baseline (margin 1, mean): distances, then the gradients.
fn scalar_triplet(x: [&[f32]; 3], dim: usize, euclidean: bool, g: [&mut [f32]; 3]) -> f32 {
    let [a, p, n] = x;
    let [ga, gp, gn] = g;
    let rows = a.len() / dim;
    let inv = 1.0 / rows as f32;
    let eps = if euclidean { 1e-6 } else { 0.0 };
    let mut total = 0.0f32;
    for i in 0..rows {
        let r = i * dim..(i + 1) * dim;
        let (a, p, n) = (&a[r.clone()], &p[r.clone()], &n[r.clone()]);
        let dp: f32 = a
            .iter()
            .zip(p)
            .map(|(x, y)| (x - y + eps) * (x - y + eps))
            .sum();
        let dn: f32 = a
            .iter()
            .zip(n)
            .map(|(x, y)| (x - y + eps) * (x - y + eps))
            .sum();
        let (l, kp, kn) = if euclidean {
            let (dp, dn) = (libm::sqrtf(dp), libm::sqrtf(dn));
            (dp - dn + 1.0, 1.0 / dp, 1.0 / dn)
        } else {
            (dp - dn + 1.0, 2.0, 2.0)
        };
        let k = if l > 0.0 { inv } else { 0.0 };
        total += l.max(0.0);
        for j in 0..dim {
            let (u, v) = (a[j] - p[j] + eps, a[j] - n[j] + eps);
            ga[i * dim + j] = k * (kp * u - kn * v);
            gp[i * dim + j] = -k * kp * u;
            gn[i * dim + j] = k * kn * v;
        }
    }
    total * inv
}

/// Reads every input once and writes every gradient once.
fn memory_roof(x: &[&[f32]], g: &mut [&mut [f32]]) {
    let k = x.len();
    for (j, g) in g.iter_mut().enumerate() {
        let (u, v) = (x[j], x[(j + 1) % k]);
        for ((o, a), b) in g.iter_mut().zip(u).zip(v) {
            *o = a - b;
        }
    }
}

fn triplet(c: &mut Criterion) {
    let (rows, dim) = (4096usize, 128usize);
    let label = format!("{rows}x{dim}");
    let len = rows * dim;
    let (a, p, n) = (data(len, 1), data(len, 2), data(len, 3));
    let (mut ga, mut gp, mut gn) = (vec![0.0f32; len], vec![0.0f32; len], vec![0.0f32; len]);
    for (name, distance) in [
        ("squared", Distance::Squared),
        ("euclidean", Distance::Euclidean),
    ] {
        let mut group = c.benchmark_group(format!("embedding/triplet_{name}"));
        group.throughput(Throughput::Elements(len as u64));
        let loss = Triplet::new(dim).unwrap().distance(distance);
        group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
            b.iter(|| {
                let grads = TripletGrads {
                    anchor: &mut ga,
                    positive: &mut gp,
                    negative: &mut gn,
                };
                loss.value_and_grad(black_box(&a), &p, &n, Reduction::Mean, grads)
                    .unwrap()
            })
        });
        let euclidean = distance == Distance::Euclidean;
        group.bench_function(BenchmarkId::new("scalar", &label), |b| {
            b.iter(|| {
                scalar_triplet(
                    [black_box(&a), &p, &n],
                    dim,
                    euclidean,
                    [&mut ga, &mut gp, &mut gn],
                )
            })
        });
        group.bench_function(BenchmarkId::new("memory-roof", &label), |b| {
            b.iter(|| memory_roof(&[black_box(&a), &p, &n], &mut [&mut ga, &mut gp, &mut gn]))
        });
        group.finish();
    }

    let labels: Vec<f32> = (0..rows)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    let mut group = c.benchmark_group("embedding/cosine");
    group.throughput(Throughput::Elements(len as u64));
    let loss = CosineEmbedding::new(dim).unwrap();
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| {
            let grads = CosineGrads {
                x1: &mut ga,
                x2: &mut gp,
            };
            loss.value_and_grad(black_box(&a), &p, &labels, Reduction::Mean, grads)
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("memory-roof", &label), |b| {
        b.iter(|| memory_roof(&[black_box(&a), &p], &mut [&mut ga, &mut gp]))
    });
    group.finish();
}

/// SDML's `n × n` distance step as a plain scalar loop, then the rest of
/// the value (per row: online `lse`, `Σ t D`).
fn scalar_sdml(x1: &[f32], x2: &[f32], dim: usize, s: f32) -> f32 {
    let n = x1.len() / dim;
    let (hot, off) = (1.0 - s, s / (n - 1) as f32);
    let mut total = 0.0;
    for i in 0..n {
        let a = &x1[i * dim..(i + 1) * dim];
        let (mut m, mut sum, mut td) = (f32::INFINITY, 0.0f32, 0.0f32);
        for j in 0..n {
            let b = &x2[j * dim..(j + 1) * dim];
            let mut d = 0.0f32;
            for k in 0..dim {
                let u = a[k] - b[k];
                d += u * u;
            }
            if d < m {
                sum = sum * libm::expf(d - m) + 1.0;
                m = d;
            } else {
                sum += libm::expf(m - d);
            }
            td += if i == j { hot } else { off } * d;
        }
        total += td + libm::logf(sum) - m;
    }
    total
}

fn sdml(c: &mut Criterion) {
    use loss_kernels::embedding::{Sdml, SdmlGrads};
    let (n, dim) = (256usize, 128usize);
    let label = format!("{n}x{dim}");
    let (x1, x2) = (data(n * dim, 7), data(n * dim, 8));
    let loss = Sdml::new(dim).unwrap();
    let mut group = c.benchmark_group("embedding/sdml");
    group.throughput(Throughput::Elements((n * n * dim) as u64));
    group.bench_function(BenchmarkId::new("loss-kernels-value", &label), |b| {
        b.iter(|| loss.value(black_box(&x1), &x2, Reduction::Sum).unwrap())
    });
    group.bench_function(BenchmarkId::new("scalar-value", &label), |b| {
        b.iter(|| scalar_sdml(black_box(&x1), &x2, dim, 0.3))
    });
    let (mut g1, mut g2) = (vec![0.0f32; n * dim], vec![0.0f32; n * dim]);
    group.bench_function(BenchmarkId::new("loss-kernels-value-grad", &label), |b| {
        b.iter(|| {
            let grads = SdmlGrads {
                x1: &mut g1,
                x2: &mut g2,
            };
            loss.value_and_grad(black_box(&x1), &x2, Reduction::Sum, grads)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, triplet, sdml);
criterion_main!(benches);
