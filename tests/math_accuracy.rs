#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Measures each `math` function's worst error against float64 `libm` over
//! the input range the losses feed it, for every lane type, and enforces the
//! bound written in the function's doc.

use loss_kernels::lane::Lane;
use loss_kernels::math;

/// Worst error of `f` (lane-wise) against `reference` over `xs`, as
/// (relative error in units of `f32::EPSILON`, absolute error).
fn worst<L: Lane>(
    xs: &[f32],
    f: impl Fn(L) -> L,
    reference: impl Fn(f64) -> f64,
) -> (f64, f64, f32) {
    let (mut rel, mut abs, mut at) = (0.0f64, 0.0f64, 0.0f32);
    let mut out = vec![0.0f32; L::LANES];
    for chunk in xs.chunks(L::LANES) {
        f(L::load_or(chunk, chunk[0])).store(&mut out);
        for (&x, &y) in chunk.iter().zip(&out) {
            let want = reference(x as f64);
            let err = (y as f64 - want).abs();
            let r = if want == 0.0 {
                if err == 0.0 { 0.0 } else { f64::INFINITY }
            } else {
                err / want.abs()
            };
            let r = r / f32::EPSILON as f64;
            if r > rel {
                (rel, at) = (r, x);
            }
            abs = abs.max(err);
        }
    }
    (rel, abs, at)
}

/// `n` points spread evenly over `[lo, hi]`, plus a geometric sweep of tiny
/// magnitudes when the range crosses zero, plus the end points.
fn sweep(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..=n)
        .map(|i| lo + (hi - lo) * (i as f32 / n as f32))
        .collect();
    if lo <= 0.0 && hi >= 0.0 {
        let mut m = 1e-30f32;
        while m < 1.0 {
            for x in [m, -m] {
                if x >= lo && x <= hi {
                    v.push(x);
                }
            }
            m *= 1.37;
        }
    }
    v.extend([lo, hi]);
    v
}

fn log_sweep(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    (0..=n)
        .map(|i| (a + (b - a) * i as f64 / n as f64).exp() as f32)
        .collect()
}

fn softplus64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Runs every documented bound for lane type `L`.
fn check_all<L: Lane>(name: &str) {
    let n = 200_000;
    let mut failures = Vec::new();
    let mut report = |what: &str, (rel, abs, at): (f64, f64, f32), max_rel: f64, max_abs: f64| {
        println!("{name:>6} {what:<22} worst rel {rel:6.3} eps (at {at:e}), worst abs {abs:.3e}");
        if rel > max_rel && abs > max_abs {
            failures.push(format!("{name} {what}: rel {rel} eps at {at}, abs {abs}"));
        }
    };
    report(
        "exp_nonpositive[-87.3,0]",
        worst::<L>(&sweep(-87.3, 0.0, n), math::exp_nonpositive, f64::exp),
        2.0,
        0.0,
    );
    report(
        "exp[-87.3,88.7]",
        worst::<L>(&sweep(-87.3, 88.7, n), math::exp, f64::exp),
        2.0,
        0.0,
    );
    report(
        "ln[1e-30,1e30]",
        worst::<L>(&log_sweep(1e-30, 1e30, n), math::ln, f64::ln),
        2.0,
        0.0,
    );
    report(
        "ln[0.5,2]",
        worst::<L>(&sweep(0.5, 2.0, n), math::ln, f64::ln),
        2.0,
        0.0,
    );
    report(
        "ln_1p[0,1]",
        worst::<L>(&sweep(0.0, 1.0, n), math::ln_1p, f64::ln_1p),
        2.0,
        0.0,
    );
    report(
        "ln_1p[1e-6,1e6]",
        worst::<L>(&log_sweep(1e-6, 1e6, n), math::ln_1p, f64::ln_1p),
        3.0,
        0.0,
    );
    report(
        "softplus[-80,80]",
        worst::<L>(&sweep(-80.0, 80.0, n), math::softplus, softplus64),
        3.0,
        1e-38,
    );
    report(
        "sigmoid[-80,80]",
        worst::<L>(&sweep(-80.0, 80.0, n), math::sigmoid, sigmoid64),
        3.0,
        0.0,
    );
    report(
        "log_add_exp(0,x)[-80,0]",
        worst::<L>(
            &sweep(-80.0, 0.0, n),
            |x| math::log_add_exp(L::splat(0.0), x),
            softplus64,
        ),
        2.0,
        0.0,
    );
    report(
        "tanh[-20,20] (abs)",
        worst::<L>(&sweep(-20.0, 20.0, n), math::tanh, f64::tanh),
        0.0,
        1.2e-7,
    );
    assert!(
        failures.is_empty(),
        "bounds exceeded:\n{}",
        failures.join("\n")
    );
}

#[test]
fn scalar_bounds() {
    check_all::<f32>("f32");
}

#[test]
fn f32x4_bounds() {
    check_all::<wide::f32x4>("f32x4");
}

#[test]
fn f32x8_bounds() {
    check_all::<wide::f32x8>("f32x8");
}

#[test]
fn f32x16_bounds() {
    check_all::<wide::f32x16>("f32x16");
}

/// Special values: every function maps NaN to NaN, and the documented
/// limits hold.
#[test]
fn special_values() {
    use loss_kernels::lane::Native;
    let one = |f: fn(Native) -> Native, x: f32| {
        let mut o = [0.0f32; 16];
        f(Native::splat(x)).store(&mut o);
        o[0]
    };
    for f in [
        math::exp,
        math::exp_nonpositive,
        math::ln,
        math::ln_1p,
        math::softplus,
        math::sigmoid,
        math::tanh,
    ] {
        assert!(one(f, f32::NAN).is_nan());
    }
    assert_eq!(one(math::exp, 100.0), f32::INFINITY);
    assert_eq!(one(math::exp, f32::INFINITY), f32::INFINITY);
    assert_eq!(one(math::exp, f32::NEG_INFINITY), 0.0);
    assert_eq!(one(math::exp_nonpositive, f32::NEG_INFINITY), 0.0);
    assert_eq!(one(math::exp_nonpositive, -1e4), 0.0);
    assert_eq!(one(math::ln, 0.0), f32::NEG_INFINITY);
    assert_eq!(one(math::ln, f32::INFINITY), f32::INFINITY);
    assert!(one(math::ln, -1.0).is_nan());
    let sub = 1e-40f32;
    assert!(((one(math::ln, sub) as f64 - (sub as f64).ln()) / (sub as f64).ln()).abs() < 1e-6);
    assert_eq!(one(math::sigmoid, 1e4), 1.0);
    assert_eq!(one(math::sigmoid, -1e4), 0.0);
    assert_eq!(one(math::softplus, 1e4), 1e4);
    assert_eq!(one(math::softplus, -1e4), 0.0);
    assert_eq!(one(math::tanh, 1e4), 1.0);
    assert_eq!(one(math::tanh, -1e4), -1.0);
}
