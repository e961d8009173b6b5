//! Link check: Gaussian NLL (both `var` layouts, `full`, `eps`) and margin
//! ranking, every entry point, with and without `dim` and sample weights.
#![no_std]
#![no_main]

use core::hint::black_box;
use loss_kernels::Reduction;
use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
use loss_kernels_nopanic::{data, flag, halt, keep, param, size};

#[inline(never)]
fn gaussian(loss: GaussianNll<'_>) {
    let (mut gp, mut gv, mut out) = ([0.0f32; 64], [0.0f32; 64], [0.0f32; 64]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), data(), reduction));
    let grads = GaussianGrads {
        pred: black_box(&mut gp[..]),
        var: black_box(&mut gv[..]),
    };
    keep(loss.value_and_grad(data(), data(), data(), reduction, grads));
    keep(loss.per_sample(data(), data(), data(), out));
    let grads = GaussianGrads {
        pred: black_box(&mut gp[..]),
        var: black_box(&mut gv[..]),
    };
    keep(loss.per_sample_and_grad(data(), data(), data(), out, grads));
    let grads = GaussianGrads {
        pred: black_box(&mut gp[..]),
        var: black_box(&mut gv[..]),
    };
    let scale = param(0.5);
    keep(loss.value_and_accumulate_grad(data(), data(), data(), reduction, scale, grads));
    let grads = GaussianGrads {
        pred: black_box(&mut gp[..]),
        var: black_box(&mut gv[..]),
    };
    keep(loss.value_and_scaled_grad(data(), data(), data(), reduction, scale, grads));
    keep(loss.mean_denominator(data()));
}

#[inline(never)]
fn ranking(loss: MarginRanking<'_>) {
    let (mut a, mut b, mut out) = ([0.0f32; 64], [0.0f32; 64], [0.0f32; 64]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), data(), reduction));
    let grads = RankingGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_grad(data(), data(), data(), reduction, grads));
    keep(loss.per_sample(data(), data(), data(), out));
    let grads = RankingGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.per_sample_and_grad(data(), data(), data(), out, grads));
    let grads = RankingGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    let scale = param(0.5);
    keep(loss.value_and_accumulate_grad(data(), data(), data(), reduction, scale, grads));
    let grads = RankingGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_scaled_grad(data(), data(), data(), reduction, scale, grads));
    keep(loss.mean_denominator(data()));
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    if let Ok(loss) = GaussianNll::new().full(flag()).eps(param(1e-6)) {
        let loss = loss.dim(size(4));
        gaussian(loss);
        gaussian(loss.sample_weight(data()));
    }
    if let Ok(loss) = MarginRanking::new(param(0.0)) {
        let loss = loss.dim(size(4));
        ranking(loss);
        ranking(loss.sample_weight(data()));
    }
    halt()
}
