//! Link check: CTC in both layouts, both inputs, both label layouts, every
//! entry point, the range views, and the workspace sizes.
#![no_std]
#![no_main]

use core::hint::black_box;
use loss_kernels::Reduction;
use loss_kernels::ctc::{self, Activations, Ctc, Dims, Input, Labels};
use loss_kernels_nopanic::{data, flag, halt, indices, keep, param, size};

#[inline(never)]
fn all(loss: Ctc, acts: &Activations<'_>, labels: &Labels<'_>) {
    let (mut grad, mut out, mut ws) = ([0.0f32; 64], [0.0f32; 64], [0.0f32; 256]);
    let grad = black_box(&mut grad[..]);
    let out = black_box(&mut out[..]);
    let ws = black_box(&mut ws[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(acts, labels, reduction, ws));
    keep(loss.value_and_grad(acts, labels, reduction, ws, grad));
    keep(loss.value_and_accumulate_grad(acts, labels, reduction, ws, param(0.5), grad));
    keep(loss.value_and_scaled_grad(acts, labels, reduction, ws, param(0.5), grad));
    keep(loss.mean_denominator(acts));
    keep(loss.validate(acts, labels));
    keep(loss.per_sample(acts, labels, ws, out));
    keep(loss.per_sample_and_grad(acts, labels, ws, out, grad));
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    keep(ctc::workspace_len(size(12), size(4)));
    let input = if flag() {
        Input::LogProbs
    } else {
        Input::Logits
    };
    let loss = if flag() {
        Ctc::blank_last()
    } else {
        Ctc::new(black_box(0))
    };
    let loss = loss.input(input).zero_infinity(flag());
    let (t, n, c) = (size(4), size(2), size(5));
    let acts = if flag() {
        Activations::batch_major(
            data(),
            Dims {
                steps: t,
                batch: n,
                classes: c,
            },
            indices(),
        )
    } else {
        Activations::time_major(
            data(),
            Dims {
                steps: t,
                batch: n,
                classes: c,
            },
            indices(),
        )
    };
    let padded = Labels::Padded {
        labels: indices(),
        max_len: size(3),
        lengths: indices(),
    };
    let concatenated = Labels::Concatenated {
        labels: indices(),
        lengths: indices(),
    };
    all(loss, &acts, &padded);
    all(loss, &acts, &concatenated);
    // Range views of the batch (in place) and every call on them.
    let range = size(0)..size(1);
    if let (Ok(view), Ok(labels)) = (
        acts.sequences(range.clone()),
        padded.sequences(range.clone()),
    ) {
        all(loss, &view, &labels);
    }
    keep(concatenated.sequences(range));
    halt()
}
