//! Link check: cross-entropy (sparse `u32`/`i64` and dense labels, every
//! option, the strided class axis), KL divergence (both target kinds), and
//! the row functions; every entry point.
#![no_std]
#![no_main]

use core::hint::black_box;
use loss_kernels::Reduction;
use loss_kernels::softmax::{self, Input, KlDivergence, Labels, SoftmaxCrossEntropy};
use loss_kernels_nopanic::{data, flag, halt, indices, indices_i64, keep, param, size};

fn input() -> Input {
    if flag() {
        Input::LogProbs
    } else {
        Input::Logits
    }
}

#[inline(never)]
fn cross_entropy(loss: SoftmaxCrossEntropy<'_>, labels: Labels<'_>) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), labels, reduction));
    keep(loss.value_and_grad(data(), labels, reduction, grad));
    keep(loss.value_and_accumulate_grad(data(), labels, reduction, param(0.5), grad));
    keep(loss.value_and_scaled_grad(data(), labels, reduction, param(0.5), grad));
    keep(loss.mean_denominator(data(), labels));
    keep((loss.classes(), loss.positions(), loss.sample_weights()));
    keep(loss.per_sample(data(), labels, out));
    keep(loss.per_sample_and_grad(data(), labels, out, grad));
}

#[inline(never)]
fn kl(loss: KlDivergence<'_>) {
    let (mut grad, mut out) = ([0.0f32; 64], [0.0f32; 64]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), reduction));
    keep(loss.value_and_grad(data(), data(), reduction, grad));
    keep(loss.value_and_accumulate_grad(data(), data(), reduction, param(0.5), grad));
    keep(loss.value_and_scaled_grad(data(), data(), reduction, param(0.5), grad));
    keep(loss.mean_denominator(data()));
    keep(loss.per_sample(data(), data(), out));
    keep(loss.per_sample_and_grad(data(), data(), out, grad));
}

/// The firmware's call: sparse labels, `value_and_grad`, the class count
/// an argument of a function that is not inlined.
#[inline(never)]
fn sparse_value_and_grad(logits: &[f32], classes: usize, labels: &[u32], grad: &mut [f32]) {
    let loss = SoftmaxCrossEntropy::new(classes);
    keep(
        loss.and_then(|l| l.value_and_grad(logits, Labels::Sparse(labels), Reduction::Mean, grad)),
    );
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let mut grad = [0.0f32; 64];
    sparse_value_and_grad(data(), 3, indices(), black_box(&mut grad[..]));
    sparse_value_and_grad(data(), size(3), indices(), black_box(&mut grad[..]));
    if let Ok(loss) = SoftmaxCrossEntropy::new(size(4)) {
        let loss = loss.input(input()).ignore_index(black_box(Some(3)));
        cross_entropy(loss, Labels::Sparse(indices()));
        cross_entropy(loss, Labels::Dense(data()));
        if let Ok(loss) = loss.label_smoothing(param(0.1)) {
            let loss = loss.class_weight(data()).sample_weight(data());
            cross_entropy(loss, Labels::Sparse(indices()));
            cross_entropy(loss, Labels::Dense(data()));
        }
    }
    if let Ok(loss) = SoftmaxCrossEntropy::new(size(4)) {
        // PyTorch's int64 labels, dense smoothing, the strided class axis.
        let loss = loss.input(input()).ignore_index(black_box(Some(-100)));
        cross_entropy(loss, Labels::SparseI64(indices_i64()));
        if let Ok(loss) = loss.label_smoothing(param(0.1)) {
            cross_entropy(loss, Labels::Dense(data()));
            if let Ok(loss) = loss.spatial(size(3)) {
                cross_entropy(loss, Labels::SparseI64(indices_i64()));
                cross_entropy(loss, Labels::Sparse(indices()));
                let loss = loss.class_weight(data()).sample_weight(data());
                cross_entropy(loss, Labels::SparseI64(indices_i64()));
                cross_entropy(loss, Labels::Dense(data()));
            }
        }
    }
    if let Ok(loss) = KlDivergence::new(size(4)) {
        kl(loss.input(input()));
        kl(loss.input(input()).sample_weight(data()));
        kl(loss.input(input()).log_target(flag()));
        kl(loss.input(input()).log_target(true).sample_weight(data()));
    }
    let mut out = [0.0f32; 64];
    let out = black_box(&mut out[..]);
    keep(softmax::logsumexp(data(), size(4), out));
    keep(softmax::log_softmax(data(), size(4), out));
    keep(softmax::softmax(data(), size(4), out));
    halt()
}
