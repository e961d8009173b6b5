#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Throughput of every pointwise loss's fused value + gradient, side by side
//! with (a) the plain scalar loop a user would write (per element, `libm`,
//! separate value and gradient passes) and (b) a memory roof: a kernel that
//! only reads `pred` and `target` and writes `grad`.
//!
//! `cargo bench -p loss-kernels-benches --bench pointwise`; ratios: `python3 tools/bench_ratios.py`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use loss_kernels::Reduction;
use loss_kernels::pointwise::{self, ElementLoss, Labels, Pointwise};
use std::hint::black_box;
use std::time::Duration;

/// The plain scalar version of each loss: element value and derivative.
#[derive(Clone, Copy)]
enum Plain {
    L1,
    L2,
    Huber,
    Hinge,
    SquaredHinge,
    Logistic,
    SigmoidBce,
    Bce,
    PoissonNll,
    LogCosh,
    Mse,
    SmoothL1,
    HuberTorch,
    SoftMargin,
    HingeEmbedding,
    SigmoidFocal,
}

/// torchvision's focal loss (alpha 0.25, gamma 2) as a user writes it:
/// value and derivative from `libm`.
fn plain_focal(p: f32, t: f32) -> (f32, f32) {
    let q = 1.0 / (1.0 + libm::expf(-p));
    let ce = libm::fmaxf(p, 0.0) - p * t + libm::log1pf(libm::expf(-libm::fabsf(p)));
    let m = q + t - 2.0 * q * t;
    let a = 0.25 * t + 0.75 * (1.0 - t);
    let dm = q * (1.0 - q) * (1.0 - 2.0 * t);
    (a * ce * m * m, a * ((q - t) * m * m + ce * 2.0 * m * dm))
}

impl Plain {
    fn value(self, p: f32, t: f32) -> f32 {
        let s = p - t;
        match self {
            Plain::L1 => libm::fabsf(s),
            Plain::L2 => 0.5 * s * s,
            Plain::Huber => {
                if libm::fabsf(s) > 1.0 {
                    libm::fabsf(s) - 0.5
                } else {
                    0.5 * s * s
                }
            }
            Plain::Hinge => libm::fmaxf(0.0, 1.0 - p * t),
            Plain::SquaredHinge => {
                let h = libm::fmaxf(0.0, 1.0 - p * t);
                h * h
            }
            Plain::Logistic | Plain::SigmoidBce => {
                libm::fmaxf(p, 0.0) - p * t + libm::log1pf(libm::expf(-libm::fabsf(p)))
            }
            Plain::Bce => -(t * libm::logf(p + 1e-12) + (1.0 - t) * libm::logf(1.0 - p + 1e-12)),
            Plain::PoissonNll => libm::expf(p) - t * p,
            Plain::LogCosh => libm::logf(libm::coshf(s)),
            Plain::Mse => s * s,
            Plain::SmoothL1 | Plain::HuberTorch => Plain::Huber.value(p, t),
            Plain::SoftMargin => libm::log1pf(libm::expf(-t * p)),
            Plain::HingeEmbedding => {
                if t == 1.0 {
                    p
                } else {
                    libm::fmaxf(0.0, 1.0 - p)
                }
            }
            Plain::SigmoidFocal => plain_focal(p, t).0,
        }
    }

    fn derivative(self, p: f32, t: f32) -> f32 {
        let s = p - t;
        match self {
            Plain::L1 => {
                if s > 0.0 {
                    1.0
                } else if s < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Plain::L2 => s,
            Plain::Huber => {
                if libm::fabsf(s) > 1.0 {
                    libm::copysignf(1.0, s)
                } else {
                    s
                }
            }
            Plain::Hinge => {
                if 1.0 - p * t > 0.0 {
                    -t
                } else {
                    0.0
                }
            }
            Plain::SquaredHinge => -2.0 * t * libm::fmaxf(0.0, 1.0 - p * t),
            Plain::Logistic | Plain::SigmoidBce => 1.0 / (1.0 + libm::expf(-p)) - t,
            Plain::Bce => -(t / (p + 1e-12) - (1.0 - t) / (1.0 - p + 1e-12)),
            Plain::PoissonNll => libm::expf(p) - t,
            Plain::LogCosh => libm::tanhf(s),
            Plain::Mse => 2.0 * s,
            Plain::SmoothL1 | Plain::HuberTorch => Plain::Huber.derivative(p, t),
            Plain::SoftMargin => -t / (1.0 + libm::expf(t * p)),
            Plain::HingeEmbedding => {
                if t == 1.0 {
                    1.0
                } else if 1.0 - p > 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Plain::SigmoidFocal => plain_focal(p, t).1,
        }
    }

    /// Mean loss, then the gradient: two passes, per element.
    fn value_and_grad(self, pred: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
        let n = pred.len() as f32;
        let mut sum = 0.0f32;
        for (&p, &t) in pred.iter().zip(target) {
            sum += self.value(p, t);
        }
        for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(target) {
            *g = self.derivative(p, t) / n;
        }
        sum / n
    }
}

/// Reads `pred` and `target`, writes `grad`: the memory traffic of any fused
/// pointwise loss, with no arithmetic to speak of.
fn memory_roof(pred: &[f32], target: &[f32], grad: &mut [f32]) {
    for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(target) {
        *g = p - t;
    }
}

/// Inputs in each loss's domain, deterministic.
fn inputs(n: usize, probabilities: bool, labels: bool) -> (Vec<f32>, Vec<f32>) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let pred = (0..n)
        .map(|_| {
            if probabilities {
                0.01 + 0.98 * next()
            } else {
                6.0 * next() - 3.0
            }
        })
        .collect();
    let target = (0..n)
        .map(|_| {
            if labels {
                if next() < 0.5 { 0.0 } else { 1.0 }
            } else {
                next()
            }
        })
        .collect();
    (pred, target)
}

fn bench_loss<F: ElementLoss>(
    c: &mut Criterion,
    name: &str,
    loss: Pointwise<'static, F>,
    plain: Plain,
) {
    let probabilities = matches!(plain, Plain::Bce);
    let labels = matches!(
        plain,
        Plain::Hinge
            | Plain::SquaredHinge
            | Plain::Logistic
            | Plain::SoftMargin
            | Plain::HingeEmbedding
            | Plain::SigmoidFocal
    );
    let mut group = c.benchmark_group(format!("pointwise/{name}"));
    for (label, n) in [
        ("1Ki", 1 << 10),
        ("16Ki", 1 << 14),
        ("64Ki", 1 << 16),
        ("1Mi", 1 << 20),
    ] {
        let (pred, target) = inputs(n, probabilities, labels);
        let mut grad = vec![0.0f32; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("loss-kernels", label), |b| {
            b.iter(|| {
                loss.value_and_grad(
                    black_box(&pred),
                    black_box(&target),
                    Reduction::Mean,
                    &mut grad,
                )
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("scalar", label), |b| {
            b.iter(|| plain.value_and_grad(black_box(&pred), black_box(&target), &mut grad))
        });
        group.bench_function(BenchmarkId::new("memory-roof", label), |b| {
            b.iter(|| memory_roof(black_box(&pred), black_box(&target), &mut grad))
        });
    }
    group.finish();
}

fn pointwise_losses(c: &mut Criterion) {
    bench_loss(c, "l1", pointwise::L1::new(), Plain::L1);
    bench_loss(c, "l2", pointwise::L2::new(), Plain::L2);
    bench_loss(
        c,
        "huber",
        pointwise::Huber::new(1.0).unwrap(),
        Plain::Huber,
    );
    bench_loss(
        c,
        "hinge",
        pointwise::Hinge::new(1.0).unwrap(),
        Plain::Hinge,
    );
    bench_loss(
        c,
        "squared_hinge",
        pointwise::SquaredHinge::new(1.0).unwrap(),
        Plain::SquaredHinge,
    );
    bench_loss(
        c,
        "logistic",
        pointwise::Logistic::new(Labels::Binary),
        Plain::Logistic,
    );
    bench_loss(
        c,
        "sigmoid_bce",
        pointwise::SigmoidBce::new(1.0).unwrap(),
        Plain::SigmoidBce,
    );
    bench_loss(c, "bce", pointwise::Bce::new(1.0).unwrap(), Plain::Bce);
    bench_loss(
        c,
        "poisson_nll",
        pointwise::PoissonNll::new(true, false),
        Plain::PoissonNll,
    );
    bench_loss(c, "log_cosh", pointwise::LogCosh::new(), Plain::LogCosh);
    bench_loss(c, "mse", pointwise::Mse::new(), Plain::Mse);
    bench_loss(
        c,
        "smooth_l1",
        pointwise::SmoothL1::new(1.0).unwrap(),
        Plain::SmoothL1,
    );
    bench_loss(
        c,
        "huber_torch",
        pointwise::HuberTorch::new(1.0).unwrap(),
        Plain::HuberTorch,
    );
    bench_loss(
        c,
        "soft_margin",
        pointwise::SoftMargin::new(),
        Plain::SoftMargin,
    );
    bench_loss(
        c,
        "hinge_embedding",
        pointwise::HingeEmbedding::new(1.0).unwrap(),
        Plain::HingeEmbedding,
    );
    bench_loss(
        c,
        "sigmoid_focal",
        pointwise::SigmoidFocal::new(0.25, 2.0).unwrap(),
        Plain::SigmoidFocal,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = pointwise_losses
}
criterion_main!(benches);
