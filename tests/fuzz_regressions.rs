#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Inputs the fuzz targets (`fuzz/`) found, kept as plain tests so every
//! build (force-scalar, each x86 level, aarch64 under QEMU) runs them, each
//! at every lane width.

use crate::common;

use common::lanes::{Family, each_lane};

use loss_kernels::pointwise::{self, Huber};
use loss_kernels::{Error, Reduction};

/// A subnormal `rho` made `1 / rho` infinite and `0 · ∞` a NaN loss for a
/// zero residual: it is now rejected; the smallest normal `rho` works.
#[test]
fn huber_subnormal_rho_is_rejected() {
    each_lane(Family::Pointwise, |_lanes| {
        let err = Huber::new(1e-40).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidParameter {
                argument: "rho",
                ..
            }
        ));
        let loss = Huber::new(f32::MIN_POSITIVE).unwrap();
        let mut grad = [1.0f32; 3];
        let v = loss
            .value_and_grad(
                &[0.0, 1.0, -1.0],
                &[0.0, 1.0, -1.0],
                Reduction::Sum,
                &mut grad,
            )
            .unwrap();
        assert_eq!((v, grad), (0.0, [0.0; 3]));
        let v = pointwise::Huber::new(f32::MIN_POSITIVE)
            .unwrap()
            .value(&[f32::MIN_POSITIVE], &[0.0], Reduction::Sum)
            .unwrap();
        assert!(v.is_finite() && v >= 0.0);
    });
}

/// `p t` overflowing to `+∞` for finite `p`, `t` made the hinge's inactive
/// derivative `m · 0 = -∞ · 0` a NaN; it is 0 (and NaN only for NaN input).
#[test]
fn hinge_overflowing_product_has_zero_gradient() {
    each_lane(Family::Pointwise, |_lanes| {
        let big = 4.5e37f32;
        let loss = pointwise::Hinge::new(1.0).unwrap();
        for n in [1usize, 3, 4, 8, 16, 17, 33] {
            let pred = vec![big; n];
            let target = vec![big; n];
            let mut grad = vec![1.0f32; n];
            let v = loss
                .value_and_grad(&pred, &target, Reduction::Sum, &mut grad)
                .unwrap();
            assert_eq!(v, 0.0);
            assert!(grad.iter().all(|&g| g == 0.0), "{grad:?}");
        }
        let mut grad = [0.0f32; 2];
        loss.value_and_grad(
            &[f32::NAN, 0.5],
            &[1.0, f32::NAN],
            Reduction::Sum,
            &mut grad,
        )
        .unwrap();
        assert!(grad.iter().all(|g| g.is_nan()));
    });
}

/// With a huge `rho`, `s · s` overflowed to `+∞` inside the quadratic zone
/// (true value `s² / (2 rho)`, finite), and a zero sample weight then gave
/// `∞ · 0 = NaN`. The value is now `(s / rho) · s / 2`.
#[test]
fn huber_huge_rho_does_not_overflow() {
    each_lane(Family::Pointwise, |_lanes| {
        let rho = 2.66e36f32;
        let s = -1.69e36f32;
        let want = (s as f64) * (s as f64) / (2.0 * rho as f64);
        let loss = Huber::new(rho).unwrap();
        let mut grad = [0.0f32; 1];
        let v = loss
            .value_and_grad(&[s], &[0.0], Reduction::Sum, &mut grad)
            .unwrap();
        assert!(((v as f64 - want) / want).abs() < 1e-5, "{v} vs {want}");
        assert!((grad[0] as f64 - s as f64 / rho as f64).abs() < 1e-6);
        let mut out = [1.0f32; 2];
        loss.dim(2)
            .sample_weight(&[0.0])
            .per_sample(&[s, 1.0], &[0.0, 0.0], &mut out[..1])
            .unwrap();
        assert_eq!(out[0], 0.0);
    });
}

/// The pairs target's finding (`fuzz/findings/pairs/crash-e11ae3a9...`):
/// 34 samples of 7 zeros, `pred = target = var = 0` with one `var` per
/// sample, and a subnormal `eps = 5.996e-41` (bits `0xa722`). The kernel
/// multiplied `s` by `1 / v`, which overflows to `+∞` for `v < 1 /
/// f32::MAX`, so `s²/v = 0 · ∞` was NaN where the loss is `0.5 ln eps`;
/// it now divides, `s / v`. Both `var` layouts, at every level.
#[test]
fn gaussian_nll_subnormal_eps_is_finite() {
    use loss_kernels::pair::{GaussianGrads, GaussianNll};
    let eps = f32::from_bits(0xa722);
    let (n, dim) = (34, 7);
    let zeros = vec![0.0f32; n * dim];
    let want = 0.5 * f64::from(eps).ln();
    each_lane(Family::Pointwise, |lanes| {
        let loss = GaussianNll::new().eps(eps).unwrap().dim(dim);
        for var_len in [n, n * dim] {
            let var = vec![0.0f32; var_len];
            let what = format!("var of {var_len}, {lanes} lanes");
            let mean = loss.value(&zeros, &zeros, &var, Reduction::Mean).unwrap();
            assert!(
                (f64::from(mean) - want).abs() < 1e-5 * want.abs(),
                "{what}: Mean {mean}, want {want}"
            );
            let (mut gp, mut gv) = (vec![f32::NAN; n * dim], vec![f32::NAN; var_len]);
            let grads = GaussianGrads {
                pred: &mut gp,
                var: &mut gv,
            };
            let sum = loss
                .value_and_grad(&zeros, &zeros, &var, Reduction::Sum, grads)
                .unwrap();
            let want_sum = n as f64 * want;
            assert!(
                (f64::from(sum) - want_sum).abs() < 1e-5 * want_sum.abs(),
                "{what}: Sum {sum}, want {want_sum}"
            );
            assert!(gp.iter().all(|&g| g == 0.0), "{what}: pred gradient {gp:?}");
            // 0.5 / eps (per element: 0.5 / (eps dim)) is past f32::MAX: it
            // overflows to +inf as the math does, never NaN.
            assert!(
                gv.iter().all(|&g| g == f32::INFINITY),
                "{what}: var gradient {gv:?}"
            );
        }
    });
}

/// The pairs target's findings `fuzz/findings/pairs/crash-09e571b2...` and
/// `crash-94105fee...`: one `var` shared by a sample. With `pred` up to
/// 1e38 and `var` 1e36 the sample's `Σ s²/v` overflows f32 (the loss is
/// `+∞`) although the `var` gradient `0.5 (dim/v - Σ (s/v)²) / dim` is
/// about -5e3; with `pred` 1e3 and `var` 3e-29 it is the other way round,
/// `Σ (s/v)²` overflows where the loss (about 2e34) does not. The kernel
/// took one from the other, so one of them was infinite, and a zero sample
/// weight made it `0 · ∞`, NaN. Now each is finite where representable.
#[test]
fn gaussian_nll_shared_var_results_do_not_overflow() {
    // Large var: the loss overflows, the var gradient does not.
    shared_var_case(&[-1.8e38, 2.0e37, 5.0], 1.0e36);
    // Small var: the var gradient overflows, the loss does not.
    shared_var_case(&[1.0e3, 1.0e-29, 0.0], 3.0e-29);
}

/// One sample of `pred` against zeros with one shared `var` (above `eps`),
/// weights 1 and 0, at every level: each result within 1e-5 of float64
/// where f32 can hold it, `±∞` where it cannot (weight 1), 0 for weight 0.
fn shared_var_case(pred: &[f32], var: f32) {
    use loss_kernels::pair::{GaussianGrads, GaussianNll};
    let target = vec![0.0f32; pred.len()];
    let var = [var];
    let (v, dim) = (f64::from(var[0]), pred.len() as f64);
    let squares: f64 = pred.iter().map(|&p| (f64::from(p) / v).powi(2)).sum();
    let want_var = 0.5 * (dim / v - squares) / dim;
    let quadratic: f64 = pred.iter().map(|&p| f64::from(p).powi(2) / v).sum();
    let want_value = 0.5 * (dim * v.ln() + quadratic) / dim;
    // What f32 can hold: the value itself, or its overflow to ±inf.
    let as_f32 = |x: f64| {
        if x.abs() > f64::from(f32::MAX) {
            x.signum() * f64::INFINITY
        } else {
            x
        }
    };
    let close = |got: f32, want: f64| {
        let (got, want) = (f64::from(got), as_f32(want));
        got == want || (got - want).abs() <= 1e-5 * want.abs() + 1e-40
    };
    each_lane(Family::Pointwise, |lanes| {
        for weight in [1.0f32, 0.0] {
            let w64 = f64::from(weight);
            let (want_var, want_value) = (w64 * want_var, w64 * want_value);
            let w = [weight];
            // eps below var: no clamp.
            let loss = GaussianNll::new().eps(1e-38).unwrap();
            let loss = loss.dim(pred.len()).sample_weight(&w);
            let (mut gp, mut gv) = (vec![f32::NAN; pred.len()], [f32::NAN; 1]);
            let grads = GaussianGrads {
                pred: &mut gp,
                var: &mut gv,
            };
            let value = loss
                .value_and_grad(pred, &target, &var, Reduction::Sum, grads)
                .unwrap();
            let what = format!("var {}, weight {weight}, {lanes} lanes", var[0]);
            assert!(
                close(gv[0], want_var),
                "{what}: var gradient {}, want {want_var:e}",
                gv[0]
            );
            assert!(
                close(value, want_value),
                "{what}: value {value}, want {want_value:e}"
            );
            for (&g, &p) in gp.iter().zip(pred) {
                let want = w64 * f64::from(p) / v / dim;
                assert!(close(g, want), "{what}: pred gradient {g}, want {want:e}");
            }
        }
    });
}

/// The pairs target's finding `crash-56209d4b...`: one `var` per element,
/// clamped to a subnormal `eps` (2e-42), and `pred - target` = -2^-9. The
/// loss `0.5 (ln v + s²/v)` is about 9.5e35, but the kernel's `s · (s/v)`
/// overflowed in `s/v` (-9.8e38), so the loss was `∞`, and NaN for a zero
/// sample weight. Now each result is within 1e-5 of float64 or, where that
/// is past `f32::MAX`, its `±∞`; a zero weight gives a zero loss.
#[test]
fn gaussian_nll_tiny_var_loss_does_not_overflow() {
    use loss_kernels::pair::{GaussianGrads, GaussianNll};
    let eps = 2.0e-42f32;
    let (s, v) = (-0.001_953_125f32, f64::from(eps));
    let s64 = f64::from(s);
    let want_value = 0.5 * (v.ln() + s64 * s64 / v);
    let want_pred = s64 / v;
    let want_var = 0.5 * (1.0 / v - (s64 / v).powi(2));
    let as_f32 = |x: f64| {
        if x.abs() > f64::from(f32::MAX) {
            x.signum() * f64::INFINITY
        } else {
            x
        }
    };
    let close = |got: f32, want: f64| {
        let (got, want) = (f64::from(got), as_f32(want));
        got == want || (got - want).abs() <= 1e-5 * want.abs()
    };
    each_lane(Family::Pointwise, |lanes| {
        for weight in [1.0f32, 0.0] {
            let w = [weight];
            let loss = GaussianNll::new().eps(eps).unwrap().sample_weight(&w);
            let (mut gp, mut gv) = ([f32::NAN; 1], [f32::NAN; 1]);
            let grads = GaussianGrads {
                pred: &mut gp,
                var: &mut gv,
            };
            let value = loss
                .value_and_grad(&[s], &[0.0], &[0.0], Reduction::Sum, grads)
                .unwrap();
            let what = format!("weight {weight}, {lanes} lanes");
            if weight == 0.0 {
                // The gradients overflow f32 (-9.8e38, -4.8e77): 0 · ∞ is
                // NaN there, as in any f32 code; the loss is 0.
                assert_eq!(value, 0.0, "{what}: value");
                continue;
            }
            assert!(
                close(value, want_value),
                "{what}: value {value}, want {want_value:e}"
            );
            assert!(close(gp[0], want_pred), "{what}: pred gradient {}", gp[0]);
            assert!(close(gv[0], want_var), "{what}: var gradient {}", gv[0]);
        }
    });
}
