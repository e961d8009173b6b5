//! Link check: every function of the C interface, with opaque pointers and
//! lengths (the interface validates them; nothing here may panic).
#![no_std]
#![no_main]

use core::hint::black_box;
use core::ptr::null_mut;
use loss_kernels::capi::*;
use loss_kernels_nopanic::{data, halt, indices, keep, param, size};

/// An opaque pointer to a writable buffer (or NULL).
fn out(buf: &mut [f32]) -> *mut f32 {
    black_box(buf.as_mut_ptr())
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let (mut a, mut b, mut c, mut d, mut ws) = (
        [0.0f32; 64],
        [0.0f32; 64],
        [0.0f32; 64],
        [0.0f32; 64],
        [0.0f32; 256],
    );
    let mut v = 0.0f32;
    let detail: *mut LkErrorDetail = black_box(null_mut());
    let x = data().as_ptr();
    let y = indices().as_ptr();
    let len = size(64);
    let code = black_box(1u32);
    let pw = black_box(LkPointwise {
        kind: black_box(2),
        param: param(1.0),
        flags: black_box(0),
        dim: size(1),
    });
    let ce = black_box(LkSoftmaxCrossEntropy {
        classes: size(4),
        label_smoothing: param(0.1),
        ignore_index: black_box(-1),
        log_probs: black_box(0),
    });
    let spec = black_box(LkCtc {
        blank: black_box(0),
        log_probs: black_box(0),
        batch_major: black_box(0),
        zero_infinity: black_box(0),
        t: size(4),
        n: size(2),
        c: size(5),
        max_label_len: size(3),
    });
    // SAFETY: every pointer is valid for the lengths given (64 values,
    // 16 indices, 256 workspace values) or NULL where the interface allows
    // it; the outputs do not alias the inputs.
    unsafe {
        keep(lk_pointwise_value_and_grad(
            &pw,
            x,
            x,
            len,
            x,
            code,
            out(&mut a),
            &mut v,
            detail,
        ));
        keep(lk_pointwise_per_sample(
            &pw,
            x,
            x,
            len,
            x,
            out(&mut b),
            out(&mut a),
            &mut v,
            detail,
        ));
        keep(lk_softmax_cross_entropy(
            &ce,
            x,
            len,
            y,
            x,
            x,
            x,
            code,
            out(&mut b),
            out(&mut a),
            &mut v,
            detail,
        ));
        keep(lk_kl_divergence(
            size(4),
            code,
            x,
            x,
            len,
            x,
            code,
            out(&mut b),
            out(&mut a),
            &mut v,
            detail,
        ));
        keep(lk_triplet(
            size(4),
            param(1.0),
            code,
            x,
            x,
            x,
            len,
            x,
            code,
            out(&mut d),
            out(&mut a),
            out(&mut b),
            out(&mut c),
            &mut v,
            detail,
        ));
        keep(lk_cosine_embedding(
            size(4),
            param(0.0),
            x,
            x,
            x,
            len,
            x,
            code,
            out(&mut d),
            out(&mut a),
            out(&mut b),
            &mut v,
            detail,
        ));
        let ws_len = lk_ctc_workspace_len(size(4), size(3)) + lk_ctc_value_workspace_len(size(3));
        keep(lk_ctc_value_and_grad(
            &spec,
            x,
            y,
            y,
            size(6),
            y,
            code,
            out(&mut ws),
            ws_len.min(256),
            out(&mut a),
            &mut v,
            detail,
        ));
        keep(lk_ctc_per_sample(
            &spec,
            x,
            y,
            y,
            size(6),
            y,
            out(&mut ws),
            ws_len.min(256),
            out(&mut b),
            out(&mut a),
            &mut v,
            detail,
        ));
    }
    keep(lk_status_str(black_box(3)));
    keep(lk_version());
    halt()
}
