//! Link check: every pointwise loss, every entry point, builders included.
#![no_std]
#![no_main]

use core::hint::black_box;
use loss_kernels::Reduction;
use loss_kernels::pointwise::{self, ElementLoss, Labels, Pointwise, SigmoidBcePerClass};
use loss_kernels_nopanic::{data, flag, halt, keep, param, size};

/// The entry points, with and without `dim` and sample weights.
#[inline(never)]
fn all<F: ElementLoss>(loss: Pointwise<'static, F>) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    let w = data();
    for loss in [loss, loss.dim(size(4))] {
        for loss in [loss, loss.sample_weight(w)] {
            keep(loss.value(data(), data(), reduction));
            keep(loss.value_and_grad(data(), data(), reduction, grad));
            keep(loss.value_and_accumulate_grad(data(), data(), reduction, param(0.5), grad));
            keep(loss.value_and_scaled_grad(data(), data(), reduction, param(0.5), grad));
            keep(loss.mean_denominator(data()));
            keep((loss.values_per_sample(), loss.sample_weights()));
            keep(loss.per_sample(data(), data(), out));
            keep(loss.per_sample_and_grad(data(), data(), out, grad));
        }
    }
}

/// The per-class `pos_weight` BCE's entry points.
#[inline(never)]
fn per_class(loss: SigmoidBcePerClass<'static>) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.classes());
    for loss in [loss, loss.sample_weight(data())] {
        keep(loss.value(data(), data(), reduction));
        keep(loss.value_and_grad(data(), data(), reduction, grad));
        keep(loss.per_sample(data(), data(), out));
        keep(loss.per_sample_and_grad(data(), data(), out, grad));
        keep(loss.value_and_accumulate_grad(data(), data(), reduction, param(0.5), grad));
        keep(loss.value_and_scaled_grad(data(), data(), reduction, param(0.5), grad));
        keep(loss.mean_denominator(data()));
    }
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    all(pointwise::L1::new());
    all(pointwise::L2::new());
    all(pointwise::LogCosh::new());
    all(pointwise::Logistic::new(Labels::Signed));
    all(pointwise::Logistic::new(Labels::Binary));
    all(pointwise::PoissonNll::new(flag(), flag()));
    if let Ok(l) = pointwise::Huber::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::Hinge::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::SquaredHinge::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::SigmoidBce::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::Bce::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::PoissonNll::new(flag(), flag()).eps(param(0.5)) {
        all(l);
    }
    all(pointwise::Mse::new());
    all(pointwise::SoftMargin::new());
    if let Ok(l) = pointwise::SmoothL1::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::HuberTorch::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::HingeEmbedding::new(param(1.0)) {
        all(l);
    }
    if let Ok(l) = pointwise::SigmoidFocal::new(param(0.25), param(2.0)) {
        all(l);
    }
    if let Ok(l) = SigmoidBcePerClass::new(data()) {
        per_class(l);
    }
    halt()
}
