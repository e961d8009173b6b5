#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Triplet loss (value + the three gradients) at 4096×128, beside a plain
//! scalar implementation.
//!
//! Run: `cargo bench --bench embedding -- --warm-up-time 1 --measurement-time 2`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loss_kernels::Reduction;
use loss_kernels::embedding::{CosineEmbedding, CosineGrads, Distance, Triplet, TripletGrads};
use loss_kernels::lane::NATIVE_NAME;
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

/// The scalar baseline (squared distance, margin 1, mean): distances, then
/// the gradients.
fn scalar_triplet(a: &[f32], p: &[f32], n: &[f32], dim: usize, g: [&mut [f32]; 3]) -> f32 {
    let [ga, gp, gn] = g;
    let rows = a.len() / dim;
    let inv = 1.0 / rows as f32;
    let mut total = 0.0f32;
    for i in 0..rows {
        let r = i * dim..(i + 1) * dim;
        let (a, p, n) = (&a[r.clone()], &p[r.clone()], &n[r.clone()]);
        let dp: f32 = a.iter().zip(p).map(|(x, y)| (x - y) * (x - y)).sum();
        let dn: f32 = a.iter().zip(n).map(|(x, y)| (x - y) * (x - y)).sum();
        let l = dp - dn + 1.0;
        let k = if l > 0.0 { 2.0 * inv } else { 0.0 };
        total += l.max(0.0);
        for j in 0..dim {
            let (u, v) = (a[j] - p[j], a[j] - n[j]);
            ga[i * dim + j] = k * (u - v);
            gp[i * dim + j] = -k * u;
            gn[i * dim + j] = k * v;
        }
    }
    total * inv
}

fn triplet(c: &mut Criterion) {
    let (rows, dim) = (4096usize, 128usize);
    let len = rows * dim;
    let (a, p, n) = (data(len, 1), data(len, 2), data(len, 3));
    let (mut ga, mut gp, mut gn) = (vec![0.0f32; len], vec![0.0f32; len], vec![0.0f32; len]);
    let mut group = c.benchmark_group(format!("triplet_value_grad/{rows}x{dim}"));
    group.throughput(Throughput::Elements(len as u64));
    for (name, distance) in [
        ("squared", Distance::Squared),
        ("euclidean", Distance::Euclidean),
    ] {
        let loss = Triplet::new(dim).unwrap().distance(distance);
        group.bench_function(format!("crate-{NATIVE_NAME}-{name}"), |b| {
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
    }
    group.bench_function("scalar-squared", |b| {
        b.iter(|| scalar_triplet(black_box(&a), &p, &n, dim, [&mut ga, &mut gp, &mut gn]))
    });
    group.finish();

    let labels: Vec<f32> = (0..rows)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    let mut group = c.benchmark_group(format!("cosine_value_grad/{rows}x{dim}"));
    group.throughput(Throughput::Elements(len as u64));
    let loss = CosineEmbedding::new(dim).unwrap();
    group.bench_function(format!("crate-{NATIVE_NAME}"), |b| {
        b.iter(|| {
            let grads = CosineGrads {
                x1: &mut ga,
                x2: &mut gp,
            };
            loss.value_and_grad(black_box(&a), &p, &labels, Reduction::Mean, grads)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, triplet);
criterion_main!(benches);
