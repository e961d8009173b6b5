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

use crate::common;

use loss_kernels::lane::testing::{self, MathFn};
use loss_kernels::lane::{self, Lane, Level, Native};

/// Worst error of `eval` (which writes `f(x)` for each `x`) against
/// `reference` over `xs`, as (relative error in units of `f32::EPSILON`,
/// absolute error, the input of the worst relative error).
fn worst(
    xs: &[f32],
    eval: &dyn Fn(&[f32], &mut [f32]),
    reference: impl Fn(f64) -> f64,
) -> (f64, f64, f32) {
    let (mut rel, mut abs, mut at) = (0.0f64, 0.0f64, 0.0f32);
    let mut out = vec![0.0f32; xs.len()];
    eval(xs, &mut out);
    for (&x, &y) in xs.iter().zip(&out) {
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
    (rel, abs, at)
}

/// `f` at lane type `L`, lane by lane (the last lane padded with its first
/// value).
fn at_lanes<L: Lane>(f: MathFn, xs: &[f32], out: &mut [f32]) {
    for (x, o) in xs.chunks(L::LANES).zip(out.chunks_mut(L::LANES)) {
        let v = L::load_or(x, x[0]);
        let y = f.eval(v);
        y.store(o);
    }
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
/// Computes `f` of each input into the output.
type Eval = dyn Fn(MathFn, &[f32], &mut [f32]);

/// Checks every function's bound with `eval(f, xs, out)` computing `f`.
fn check_all(name: &str, eval: &Eval) {
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
        worst(
            &sweep(-87.3, 0.0, n),
            &|x, o| eval(MathFn::ExpNonpositive, x, o),
            f64::exp,
        ),
        2.0,
        0.0,
    );
    report(
        "exp[-87.3,88.7]",
        worst(
            &sweep(-87.3, 88.7, n),
            &|x, o| eval(MathFn::Exp, x, o),
            f64::exp,
        ),
        2.0,
        0.0,
    );
    report(
        "ln[1e-30,1e30]",
        worst(
            &log_sweep(1e-30, 1e30, n),
            &|x, o| eval(MathFn::Ln, x, o),
            f64::ln,
        ),
        2.0,
        0.0,
    );
    report(
        "ln[0.5,2]",
        worst(&sweep(0.5, 2.0, n), &|x, o| eval(MathFn::Ln, x, o), f64::ln),
        2.0,
        0.0,
    );
    report(
        "ln_1p[0,1]",
        worst(
            &sweep(0.0, 1.0, n),
            &|x, o| eval(MathFn::Ln1p, x, o),
            f64::ln_1p,
        ),
        2.0,
        0.0,
    );
    report(
        "ln_1p[1e-6,1e6]",
        worst(
            &log_sweep(1e-6, 1e6, n),
            &|x, o| eval(MathFn::Ln1p, x, o),
            f64::ln_1p,
        ),
        3.0,
        0.0,
    );
    report(
        "softplus[-80,80]",
        worst(
            &sweep(-80.0, 80.0, n),
            &|x, o| eval(MathFn::Softplus, x, o),
            softplus64,
        ),
        3.0,
        1e-38,
    );
    report(
        "sigmoid[-80,80]",
        worst(
            &sweep(-80.0, 80.0, n),
            &|x, o| eval(MathFn::Sigmoid, x, o),
            sigmoid64,
        ),
        3.0,
        0.0,
    );
    report(
        "log_add_exp(0,x)[-80,0]",
        worst(
            &sweep(-80.0, 0.0, n),
            &|x, o| eval(MathFn::LogAddExp0, x, o),
            softplus64,
        ),
        2.0,
        0.0,
    );
    // The doc's 0.6 ulp, as a relative error (an ulp is at most one eps
    // relative), over the range the logistic losses feed it (1 + e^-|x|)
    // and the whole documented range.
    report(
        "recip[1,2]",
        worst(
            &sweep(1.0, 2.0, n),
            &|x, o| eval(MathFn::Recip, x, o),
            |x| 1.0 / x,
        ),
        0.6,
        0.0,
    );
    report(
        "recip[2^-126,2^126]",
        worst(
            &log_sweep(f32::MIN_POSITIVE, 2f32.powi(126), n),
            &|x, o| eval(MathFn::Recip, x, o),
            |x| 1.0 / x,
        ),
        0.6,
        0.0,
    );
    report(
        "tanh[-20,20] (abs)",
        worst(
            &sweep(-20.0, 20.0, n),
            &|x, o| eval(MathFn::Tanh, x, o),
            f64::tanh,
        ),
        0.0,
        1.2e-7,
    );
    assert!(
        failures.is_empty(),
        "bounds exceeded:\n{}",
        failures.join("\n")
    );
}

/// Every level this CPU runs (scalar, the portable level, AVX2 and AVX-512
/// where present), through the same dispatch as the losses.
#[test]
fn every_level_bounds() {
    let levels = common::lanes::levels();
    assert!(
        levels.contains(&Level::Scalar) && (levels.len() >= 2 || cfg!(feature = "force-scalar")),
        "{levels:?}"
    );
    for level in levels {
        common::lanes::with_level(level, || {
            check_all(level.name(), &|f, x, o| testing::map(f, x, o));
        });
    }
}

/// The build's `Native` lane type (for code of one's own over `math`).
#[test]
fn native_bounds() {
    check_all(lane::NATIVE_NAME, &at_lanes::<Native>);
}

/// The `wide` types a user can pick whatever the build.
#[test]
fn wide_bounds() {
    check_all("f32x8", &at_lanes::<wide::f32x8>);
    check_all("f32x16", &at_lanes::<wide::f32x16>);
}

/// Special values: every function maps NaN to NaN, and the documented
/// limits hold.
#[test]
fn special_values() {
    for level in common::lanes::levels() {
        common::lanes::with_level(level, || special_values_at(level));
    }
}

/// [`special_values`] at one level (a whole lane of `x`, lane 0 checked).
fn special_values_at(level: Level) {
    let one = |f: MathFn, x: f32| {
        let mut o = [0.0f32; 16];
        testing::map(f, &[x; 16], &mut o);
        assert!(
            o.iter().all(|v| v.to_bits() == o[0].to_bits()),
            "{level}: {f:?}({x})"
        );
        o[0]
    };
    for f in [
        MathFn::Exp,
        MathFn::ExpNonpositive,
        MathFn::Ln,
        MathFn::Ln1p,
        MathFn::Softplus,
        MathFn::Sigmoid,
        MathFn::Tanh,
        MathFn::LogAddExp0,
        MathFn::Recip,
    ] {
        assert!(one(f, f32::NAN).is_nan(), "{level}: {f:?}(NaN)");
    }
    assert_eq!(one(MathFn::Exp, 100.0), f32::INFINITY);
    assert_eq!(one(MathFn::Exp, f32::INFINITY), f32::INFINITY);
    assert_eq!(one(MathFn::Exp, f32::NEG_INFINITY), 0.0);
    assert_eq!(one(MathFn::ExpNonpositive, f32::NEG_INFINITY), 0.0);
    assert_eq!(one(MathFn::ExpNonpositive, -1e4), 0.0);
    assert_eq!(one(MathFn::Ln, 0.0), f32::NEG_INFINITY);
    assert_eq!(one(MathFn::Ln, f32::INFINITY), f32::INFINITY);
    assert!(one(MathFn::Ln, -1.0).is_nan());
    let sub = 1e-40f32;
    assert!(((one(MathFn::Ln, sub) as f64 - (sub as f64).ln()) / (sub as f64).ln()).abs() < 1e-6);
    assert_eq!(one(MathFn::Sigmoid, 1e4), 1.0);
    assert_eq!(one(MathFn::Sigmoid, -1e4), 0.0);
    assert_eq!(one(MathFn::Softplus, 1e4), 1e4);
    assert_eq!(one(MathFn::Softplus, -1e4), 0.0);
    assert_eq!(one(MathFn::Tanh, 1e4), 1.0);
    assert_eq!(one(MathFn::Tanh, -1e4), -1.0);
}
