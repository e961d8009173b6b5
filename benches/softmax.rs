#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Softmax cross-entropy (value + gradient), `log_softmax` and one pass of
//! the crate's `exp`, each beside a plain scalar implementation (three
//! passes over the row, `libm`).
//!
//! Run: `cargo bench -p loss-kernels-benches --bench softmax -- --warm-up-time 1 --measurement-time 2`
//! (add `RUSTFLAGS="-C target-cpu=native"` for the host's widest lanes);
//! ratios: `python3 tools/bench_ratios.py target/criterion softmax/`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use loss_kernels::Reduction;
use loss_kernels::lane::{Lane, Native};
use loss_kernels::math::exp_nonpositive;
use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy, log_softmax, logsumexp};
use std::hint::black_box;

/// Deterministic pseudo-random values in `[-4, 4)`.
fn data(len: usize, seed: u64) -> Vec<f32> {
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
}

fn labels(n: usize, classes: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919) % classes) as u32).collect()
}

/// The scalar baseline: max, Σ exp, then the gradient with a second `exp`.
fn scalar_ce(logits: &[f32], labels: &[u32], classes: usize, grad: &mut [f32]) -> f32 {
    let n = labels.len();
    let inv_n = 1.0 / n as f32;
    let mut total = 0.0f64;
    for ((x, g), &y) in logits
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(labels)
    {
        let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let s: f32 = x.iter().map(|&v| libm::expf(v - m)).sum();
        let lse = m + libm::logf(s);
        total += f64::from(lse - x[y as usize]);
        for (k, (gk, &v)) in g.iter_mut().zip(x).enumerate() {
            let p = libm::expf(v - lse);
            *gk = (p - if k == y as usize { 1.0 } else { 0.0 }) * inv_n;
        }
    }
    (total / n as f64) as f32
}

/// The scalar baseline `log_softmax`: max, Σ exp, write.
fn scalar_log_softmax(logits: &[f32], classes: usize, out: &mut [f32]) {
    for (x, o) in logits
        .chunks_exact(classes)
        .zip(out.chunks_exact_mut(classes))
    {
        let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let s: f32 = x.iter().map(|&v| libm::expf(v - m)).sum();
        let l = m + libm::logf(s);
        for (ok, &v) in o.iter_mut().zip(x) {
            *ok = v - l;
        }
    }
}

/// One pass of the crate's `exp_nonpositive` over a slice, at `Native` (the
/// compile-time features: a reference row for native builds).
fn exp_pass(x: &[f32], out: &mut [f32]) {
    let w = <Native as Lane>::LANES;
    for (xs, os) in x.chunks_exact(w).zip(out.chunks_exact_mut(w)) {
        exp_nonpositive(Native::load_or(xs, 0.0)).store(os);
    }
}

/// The alternative the crate does not use: an online max, one pass per row
/// that rescales the running sum lane-wise whenever the max grows (two
/// `exp` per logit).
fn online_logsumexp(logits: &[f32], classes: usize, out: &mut [f32]) {
    let w = <Native as Lane>::LANES;
    for (x, o) in logits.chunks_exact(classes).zip(out.iter_mut()) {
        let mut m = Native::splat(f32::MIN);
        let mut s = Native::splat(0.0);
        let mut i = 0;
        while i < x.len() {
            let v = Native::load_or(&x[i..], f32::MIN);
            let m2 = m.max(v);
            s = s * exp_nonpositive(m - m2) + exp_nonpositive(v - m2);
            m = m2;
            i += w;
        }
        let big = m.max_lane();
        let total = (s * exp_nonpositive(m - Native::splat(big))).sum();
        *o = big + loss_kernels::math::ln(total);
    }
}

fn cross_entropy(c: &mut Criterion) {
    let mut group = c.benchmark_group("softmax/ce_value_grad");
    for (n, classes) in [(4096usize, 1000usize), (65536, 10), (256, 32000)] {
        let label = format!("{n}x{classes}");
        let logits = data(n * classes, 1);
        let y = labels(n, classes);
        let mut grad = vec![0.0f32; n * classes];
        group.throughput(Throughput::Elements((n * classes) as u64));
        let ce = SoftmaxCrossEntropy::new(classes).unwrap();
        group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
            b.iter(|| {
                ce.value_and_grad(
                    black_box(&logits),
                    Labels::Sparse(&y),
                    Reduction::Mean,
                    &mut grad,
                )
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("scalar", &label), |b| {
            b.iter(|| scalar_ce(black_box(&logits), &y, classes, &mut grad))
        });
        if classes == 1000 {
            // The aim: value + gradient within 2.5x of one exp pass.
            let negative: Vec<f32> = logits.iter().map(|v| -v.abs() * 4.0).collect();
            group.bench_function(BenchmarkId::new("exp-pass", &label), |b| {
                b.iter(|| exp_pass(black_box(&negative), &mut grad))
            });
        }
    }
    group.finish();
}

fn row_functions(c: &mut Criterion) {
    let (n, classes) = (4096usize, 1000usize);
    let label = format!("{n}x{classes}");
    let logits = data(n * classes, 2);
    let mut out = vec![0.0f32; n * classes];
    let mut group = c.benchmark_group("softmax/log_softmax");
    group.throughput(Throughput::Elements((n * classes) as u64));
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| log_softmax(black_box(&logits), classes, &mut out).unwrap())
    });
    group.bench_function(BenchmarkId::new("scalar", &label), |b| {
        b.iter(|| scalar_log_softmax(black_box(&logits), classes, &mut out))
    });
    group.finish();

    let mut lse = vec![0.0f32; n];
    let mut group = c.benchmark_group("softmax/logsumexp");
    group.throughput(Throughput::Elements((n * classes) as u64));
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| logsumexp(black_box(&logits), classes, &mut lse).unwrap())
    });
    group.bench_function(BenchmarkId::new("online-max", &label), |b| {
        b.iter(|| online_logsumexp(black_box(&logits), classes, &mut lse))
    });
    group.finish();
}

/// The strided class axis (`n × C × S`, segmentation-shaped): the scalar
/// baseline walks each position's classes at stride `S`.
fn scalar_strided_ce(
    x: &[f32],
    y: &[u32],
    classes: usize,
    spatial: usize,
    grad: &mut [f32],
) -> f32 {
    let positions = y.len();
    let inv = 1.0 / positions as f32;
    let mut total = 0.0f64;
    for (p, &label) in y.iter().enumerate() {
        let (i, s) = (p / spatial, p % spatial);
        let at = |k: usize| (i * classes + k) * spatial + s;
        let m = (0..classes).fold(f32::NEG_INFINITY, |m, k| m.max(x[at(k)]));
        let sum: f32 = (0..classes).map(|k| libm::expf(x[at(k)] - m)).sum();
        let lse = m + libm::logf(sum);
        total += f64::from(lse - x[at(label as usize)]);
        for k in 0..classes {
            let pk = libm::expf(x[at(k)] - lse);
            grad[at(k)] = (pk - if k == label as usize { 1.0 } else { 0.0 }) * inv;
        }
    }
    (total / positions as f64) as f32
}

/// The margin family's scalar baselines: PyTorch's loops.
fn scalar_multi_margin(x: &[f32], y: &[u32], classes: usize, grad: &mut [f32]) -> f32 {
    let mut total = 0.0;
    let inv = 1.0 / classes as f32;
    for ((r, g), &label) in x
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(y)
    {
        let label = label as usize;
        let mut gy = 0.0;
        for k in 0..classes {
            let z = 1.0 - r[label] + r[k];
            if k != label && z > 0.0 {
                total += z * inv;
                g[k] = inv;
                gy -= inv;
            } else {
                g[k] = 0.0;
            }
        }
        g[label] = gy;
    }
    total
}

fn scalar_multilabel_soft_margin(x: &[f32], t: &[f32], classes: usize, grad: &mut [f32]) -> f32 {
    let inv = 1.0 / classes as f32;
    let mut total = 0.0;
    for ((&v, &y), g) in x.iter().zip(t).zip(grad.iter_mut()) {
        let sp = v.max(0.0) + libm::log1pf(libm::expf(-v.abs()));
        total += (sp - y * v) * inv;
        *g = (1.0 / (1.0 + libm::expf(-v)) - y) * inv;
    }
    total
}

/// Reads the scores, writes the gradient: the memory traffic of a fused row
/// loss, with no arithmetic to speak of.
fn row_roof(x: &[f32], grad: &mut [f32]) {
    for (g, &v) in grad.iter_mut().zip(x) {
        *g = v + 1.0;
    }
}

/// `multilabel_margin_loss` as a user writes it: mark the row's listed
/// targets, then every (target, non-target) pair's hinge.
fn scalar_multilabel_margin(x: &[f32], y: &[i64], classes: usize, grad: &mut [f32]) -> f32 {
    let inv = 1.0 / classes as f32;
    let mut total = 0.0;
    let mut is_target = vec![false; classes];
    for ((r, g), ys) in x
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(y.chunks_exact(classes))
    {
        let list = ys.iter().take_while(|&&t| t >= 0).map(|&t| t as usize);
        is_target.fill(false);
        for j in list.clone() {
            is_target[j] = true;
        }
        g.fill(0.0);
        for j in list {
            for k in 0..classes {
                let z = 1.0 - r[j] + r[k];
                if !is_target[k] && z > 0.0 {
                    total += z * inv;
                    g[k] += inv;
                    g[j] -= inv;
                }
            }
        }
    }
    total
}

fn parity_rows(c: &mut Criterion) {
    use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
    let (n, classes, spatial) = (8usize, 21usize, 4096usize);
    let label = format!("{n}x{classes}x{spatial}");
    let x = data(n * classes * spatial, 3);
    let y = labels(n * spatial, classes);
    let mut grad = vec![0.0f32; x.len()];
    let mut group = c.benchmark_group("softmax/strided_ce_value_grad");
    group.throughput(Throughput::Elements(x.len() as u64));
    let ce = SoftmaxCrossEntropy::new(classes)
        .unwrap()
        .spatial(spatial)
        .unwrap();
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| {
            ce.value_and_grad(
                black_box(&x),
                Labels::Sparse(&y),
                Reduction::Mean,
                &mut grad,
            )
            .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("scalar", &label), |b| {
        b.iter(|| scalar_strided_ce(black_box(&x), &y, classes, spatial, &mut grad))
    });
    group.finish();

    let (n, classes) = (4096usize, 100usize);
    let label = format!("{n}x{classes}");
    let x = data(n * classes, 4);
    let t: Vec<f32> = data(n * classes, 5)
        .iter()
        .map(|v| f32::from(*v > 0.0))
        .collect();
    let y = labels(n, classes);
    let mut grad = vec![0.0f32; x.len()];
    let mut group = c.benchmark_group("margin/multi_margin_value_grad");
    group.throughput(Throughput::Elements(x.len() as u64));
    let mm = MultiMargin::new(classes).unwrap();
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| {
            mm.value_and_grad(black_box(&x), &y, Reduction::Sum, &mut grad)
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("scalar", &label), |b| {
        b.iter(|| scalar_multi_margin(black_box(&x), &y, classes, &mut grad))
    });
    group.bench_function(BenchmarkId::new("memory-roof", &label), |b| {
        b.iter(|| row_roof(black_box(&x), &mut grad))
    });
    group.finish();
    let mut group = c.benchmark_group("margin/multilabel_soft_margin_value_grad");
    group.throughput(Throughput::Elements(x.len() as u64));
    let ms = MultilabelSoftMargin::new(classes).unwrap();
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| {
            ms.value_and_grad(black_box(&x), &t, Reduction::Sum, &mut grad)
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("scalar", &label), |b| {
        b.iter(|| scalar_multilabel_soft_margin(black_box(&x), &t, classes, &mut grad))
    });
    group.finish();
    // Three listed targets per row, then PyTorch's -1 terminator.
    let listed: Vec<i64> = (0..n)
        .flat_map(|i| {
            let first = [i % classes, (i * 31 + 1) % classes, (i * 61 + 2) % classes];
            (0..classes).map(move |k| match k {
                0..3 => first[k] as i64,
                _ => -1,
            })
        })
        .collect();
    let mut group = c.benchmark_group("margin/multilabel_margin_value_grad");
    group.throughput(Throughput::Elements(x.len() as u64));
    let ml = MultilabelMargin::new(classes).unwrap();
    group.bench_function(BenchmarkId::new("loss-kernels", &label), |b| {
        b.iter(|| {
            ml.value_and_grad(black_box(&x), &listed, Reduction::Sum, &mut grad)
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("scalar", &label), |b| {
        b.iter(|| scalar_multilabel_margin(black_box(&x), &listed, classes, &mut grad))
    });
    group.finish();
}

criterion_group!(benches, cross_entropy, row_functions, parity_rows);
criterion_main!(benches);
