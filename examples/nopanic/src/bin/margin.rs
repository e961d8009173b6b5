//! Link check: the margin family (multi-label soft margin, multi-class
//! margin, multi-label margin), every entry point, `u32` and `i64` labels,
//! with and without weights.
#![no_std]
#![no_main]

use core::hint::black_box;
use loss_kernels::Reduction;
use loss_kernels::margin::{Label, MultiMargin, MultilabelMargin, MultilabelSoftMargin};
use loss_kernels_nopanic::{data, flag, halt, indices, indices_i64, keep, param, size};

#[inline(never)]
fn soft(loss: MultilabelSoftMargin<'_>) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), reduction));
    keep(loss.value_and_grad(data(), data(), reduction, grad));
    keep(loss.per_sample(data(), data(), out));
    keep(loss.per_sample_and_grad(data(), data(), out, grad));
    keep(loss.value_and_accumulate_grad(data(), data(), reduction, param(0.5), grad));
    keep(loss.value_and_scaled_grad(data(), data(), reduction, param(0.5), grad));
    keep(loss.mean_denominator(data()));
}

#[inline(never)]
fn multi<Y: Label>(loss: MultiMargin<'_>, labels: &[Y]) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), labels, reduction));
    keep(loss.value_and_grad(data(), labels, reduction, grad));
    keep(loss.per_sample(data(), labels, out));
    keep(loss.per_sample_and_grad(data(), labels, out, grad));
    keep(loss.value_and_accumulate_grad(data(), labels, reduction, param(0.5), grad));
    keep(loss.value_and_scaled_grad(data(), labels, reduction, param(0.5), grad));
    keep(loss.mean_denominator(data()));
}

#[inline(never)]
fn multilabel<Y: Label>(loss: MultilabelMargin<'_>, targets: &[Y]) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), targets, reduction));
    keep(loss.value_and_grad(data(), targets, reduction, grad));
    keep(loss.per_sample(data(), targets, out));
    keep(loss.per_sample_and_grad(data(), targets, out, grad));
    keep(loss.value_and_accumulate_grad(data(), targets, reduction, param(0.5), grad));
    keep(loss.value_and_scaled_grad(data(), targets, reduction, param(0.5), grad));
    keep(loss.mean_denominator(data()));
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    if let Ok(loss) = MultilabelSoftMargin::new(size(4)) {
        soft(loss);
        soft(loss.class_weight(data()).sample_weight(data()));
    }
    let p = if flag() { 2 } else { 1 };
    if let Ok(loss) = MultiMargin::new(size(4))
        .and_then(|l| l.p(size(p) as u32))
        .and_then(|l| l.margin(param(1.0)))
    {
        multi(loss, indices());
        multi(loss, indices_i64());
        multi(
            loss.class_weight(data()).sample_weight(data()),
            indices_i64(),
        );
    }
    if let Ok(loss) = MultilabelMargin::new(size(4)) {
        multilabel(loss, indices_i64());
        multilabel(loss.sample_weight(data()), indices());
    }
    halt()
}
