//! Link check: triplet (every distance, eps, swap), cosine embedding and
//! SDML, every entry point, with and without sample weights.
#![no_std]
#![no_main]

use core::hint::black_box;
use loss_kernels::Reduction;
use loss_kernels::embedding::{
    CosineEmbedding, CosineGrads, Distance, Sdml, SdmlGrads, Triplet, TripletGrads,
};
use loss_kernels_nopanic::{data, flag, halt, keep, param, size};

#[inline(never)]
fn triplet(loss: Triplet<'_>) {
    let (mut a, mut p, mut n, mut out) = ([0.0f32; 64], [0.0f32; 64], [0.0f32; 64], [0.0f32; 64]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), data(), reduction));
    let grads = TripletGrads {
        anchor: black_box(&mut a[..]),
        positive: black_box(&mut p[..]),
        negative: black_box(&mut n[..]),
    };
    keep(loss.value_and_grad(data(), data(), data(), reduction, grads));
    let grads = TripletGrads {
        anchor: black_box(&mut a[..]),
        positive: black_box(&mut p[..]),
        negative: black_box(&mut n[..]),
    };
    keep(loss.value_and_accumulate_grad(data(), data(), data(), reduction, param(0.5), grads));
    let grads = TripletGrads {
        anchor: black_box(&mut a[..]),
        positive: black_box(&mut p[..]),
        negative: black_box(&mut n[..]),
    };
    keep(loss.value_and_scaled_grad(data(), data(), data(), reduction, param(0.5), grads));
    keep(loss.mean_denominator(data()));
    keep(loss.per_sample(data(), data(), data(), out));
    let grads = TripletGrads {
        anchor: black_box(&mut a[..]),
        positive: black_box(&mut p[..]),
        negative: black_box(&mut n[..]),
    };
    keep(loss.per_sample_and_grad(data(), data(), data(), out, grads));
}

#[inline(never)]
fn cosine(loss: CosineEmbedding<'_>) {
    let (mut a, mut b, mut out) = ([0.0f32; 64], [0.0f32; 64], [0.0f32; 64]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), data(), reduction));
    let grads = CosineGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_grad(data(), data(), data(), reduction, grads));
    let grads = CosineGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_accumulate_grad(data(), data(), data(), reduction, param(0.5), grads));
    let grads = CosineGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_scaled_grad(data(), data(), data(), reduction, param(0.5), grads));
    keep(loss.mean_denominator(data()));
    keep(loss.per_sample(data(), data(), data(), out));
    let grads = CosineGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.per_sample_and_grad(data(), data(), data(), out, grads));
}

#[inline(never)]
fn sdml(loss: Sdml<'_>) {
    let (mut a, mut b, mut out) = ([0.0f32; 64], [0.0f32; 64], [0.0f32; 64]);
    let out = black_box(&mut out[..]);
    let reduction = black_box(Reduction::Mean);
    keep(loss.value(data(), data(), reduction));
    let grads = SdmlGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_grad(data(), data(), reduction, grads));
    keep(loss.per_sample(data(), data(), out));
    let grads = SdmlGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.per_sample_and_grad(data(), data(), out, grads));
    let grads = SdmlGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_accumulate_grad(data(), data(), reduction, param(0.5), grads));
    let grads = SdmlGrads {
        x1: black_box(&mut a[..]),
        x2: black_box(&mut b[..]),
    };
    keep(loss.value_and_scaled_grad(data(), data(), reduction, param(0.5), grads));
    keep(loss.mean_denominator(data()));
}

/// The entry symbol: the linker keeps what it reaches.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let distance = if flag() {
        Distance::Euclidean
    } else {
        Distance::Squared
    };
    if let Ok(loss) = Triplet::new(size(4)).and_then(|l| l.margin(param(1.0))) {
        let loss = loss.distance(distance);
        triplet(loss);
        triplet(loss.sample_weight(data()));
    }
    // The p-norms, eps and swap.
    if let Ok(loss) = Triplet::new(size(4))
        .and_then(|l| l.eps(param(1e-6)))
        .and_then(|l| Ok(l.distance(Distance::p_norm(size(1) as u32)?)))
    {
        triplet(loss.swap(flag()));
        triplet(loss.swap(true).sample_weight(data()));
        triplet(loss.distance(Distance::Manhattan));
    }
    if let Ok(loss) = Sdml::new(size(4)).and_then(|l| l.smoothing(param(0.3))) {
        sdml(loss);
        sdml(loss.sample_weight(data()));
    }
    if let Ok(loss) = CosineEmbedding::new(size(4)).and_then(|l| l.margin(param(0.0))) {
        cosine(loss);
        cosine(loss.sample_weight(data()));
    }
    halt()
}
