#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Properties of every pointwise loss against the float64 reference
//! (`loss_kernels_reference::pointwise`), each at every lane width: every
//! length `0..=3*LANES+1` at every slice offset (every tail path), random
//! `dim` and weights, both reductions, per-sample values; the reference's
//! own gradient against central finite differences; non-negativity; every
//! malformed input an `Err`.

use crate::common;

use common::dynamic::{AnyPointwise, boxed};
use common::lanes::{Family, each_lane, each_lane_ok};
use common::rng::Rng;
use common::tolerance::close;
use loss_kernels::lane::Level;
use loss_kernels::pointwise::{self, Labels};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::pointwise::{self as reference, Pointwise as Loss};
use quickcheck::{QuickCheck, TestResult};

/// The widest lane width of any level (16, AVX-512): sweeps sized for it
/// reach every tail of every level.
const WIDEST: usize = Level::Avx512.lanes();

/// Every loss with a few parameter choices.
fn all_losses() -> Vec<Loss> {
    vec![
        Loss::L1,
        Loss::L2,
        Loss::Huber { rho: 1.0 },
        Loss::Huber { rho: 0.3 },
        Loss::Hinge { margin: 1.0 },
        Loss::Hinge { margin: 0.5 },
        Loss::SquaredHinge { margin: 1.0 },
        Loss::SquaredHinge { margin: 2.0 },
        Loss::Logistic { binary: false },
        Loss::Logistic { binary: true },
        Loss::SigmoidBce { pos_weight: 1.0 },
        Loss::SigmoidBce { pos_weight: 2.5 },
        Loss::SigmoidBce { pos_weight: 0.0 },
        Loss::Bce { pos_weight: 1.0 },
        Loss::Bce { pos_weight: 3.0 },
        Loss::PoissonNll {
            log_input: true,
            full: false,
            eps: 1e-8,
        },
        Loss::PoissonNll {
            log_input: true,
            full: true,
            eps: 1e-8,
        },
        Loss::PoissonNll {
            log_input: false,
            full: false,
            eps: 1e-8,
        },
        Loss::PoissonNll {
            log_input: false,
            full: true,
            eps: 1e-8,
        },
        Loss::PoissonNll {
            log_input: false,
            full: false,
            eps: 0.5,
        },
        Loss::PoissonNll {
            log_input: false,
            full: true,
            eps: 1e-3,
        },
        Loss::LogCosh,
        Loss::Mse,
        Loss::SmoothL1 { beta: 1.0 },
        Loss::SmoothL1 { beta: 0.3 },
        Loss::SmoothL1 { beta: 0.0 },
        Loss::HuberTorch { delta: 1.0 },
        Loss::HuberTorch { delta: 2.5 },
        Loss::SoftMargin,
        Loss::HingeEmbedding { margin: 1.0 },
        Loss::HingeEmbedding { margin: -0.5 },
        Loss::SigmoidFocal {
            alpha: 0.25,
            gamma: 2.0,
        },
        Loss::SigmoidFocal {
            alpha: -1.0,
            gamma: 2.0,
        },
        Loss::SigmoidFocal {
            alpha: 0.75,
            gamma: 0.0,
        },
        Loss::SigmoidFocal {
            alpha: 0.5,
            gamma: 1.0,
        },
        Loss::SigmoidFocal {
            alpha: 0.25,
            gamma: 1.5,
        },
        Loss::SigmoidFocal {
            alpha: 0.25,
            gamma: 0.5,
        },
    ]
}

/// The crate's loss for a reference loss.
fn crate_loss<'w>(loss: Loss, dim: usize, weight: Option<&'w [f32]>) -> Box<dyn AnyPointwise + 'w> {
    match loss {
        Loss::L1 => boxed(pointwise::L1::new(), dim, weight),
        Loss::L2 => boxed(pointwise::L2::new(), dim, weight),
        Loss::Huber { rho } => boxed(pointwise::Huber::new(rho).unwrap(), dim, weight),
        Loss::Hinge { margin } => boxed(pointwise::Hinge::new(margin).unwrap(), dim, weight),
        Loss::SquaredHinge { margin } => {
            boxed(pointwise::SquaredHinge::new(margin).unwrap(), dim, weight)
        }
        Loss::Logistic { binary } => boxed(
            pointwise::Logistic::new(if binary {
                Labels::Binary
            } else {
                Labels::Signed
            }),
            dim,
            weight,
        ),
        Loss::SigmoidBce { pos_weight } => {
            boxed(pointwise::SigmoidBce::new(pos_weight).unwrap(), dim, weight)
        }
        Loss::Bce { pos_weight } => boxed(pointwise::Bce::new(pos_weight).unwrap(), dim, weight),
        Loss::PoissonNll {
            log_input,
            full,
            eps,
        } => {
            let l = pointwise::PoissonNll::new(log_input, full);
            // 1e-8 is the default: the `eps` builder runs for the others.
            let l = if eps == 1e-8 { l } else { l.eps(eps).unwrap() };
            boxed(l, dim, weight)
        }
        Loss::LogCosh => boxed(pointwise::LogCosh::new(), dim, weight),
        Loss::Mse => boxed(pointwise::Mse::new(), dim, weight),
        Loss::SmoothL1 { beta } => boxed(pointwise::SmoothL1::new(beta).unwrap(), dim, weight),
        Loss::HuberTorch { delta } => {
            boxed(pointwise::HuberTorch::new(delta).unwrap(), dim, weight)
        }
        Loss::SoftMargin => boxed(pointwise::SoftMargin::new(), dim, weight),
        Loss::HingeEmbedding { margin } => {
            boxed(pointwise::HingeEmbedding::new(margin).unwrap(), dim, weight)
        }
        Loss::SigmoidFocal { alpha, gamma } => boxed(
            pointwise::SigmoidFocal::new(alpha, gamma).unwrap(),
            dim,
            weight,
        ),
    }
}

/// A `(pred, target)` pair in the loss's domain.
fn sample(loss: Loss, rng: &mut Rng) -> (f32, f32) {
    let sign = |rng: &mut Rng| if rng.next() & 1 == 0 { -1.0 } else { 1.0 };
    match loss {
        Loss::L1
        | Loss::L2
        | Loss::Huber { .. }
        | Loss::LogCosh
        | Loss::Mse
        | Loss::SmoothL1 { .. }
        | Loss::HuberTorch { .. } => (rng.range(-5.0, 5.0), rng.range(-5.0, 5.0)),
        Loss::Hinge { .. }
        | Loss::SquaredHinge { .. }
        | Loss::Logistic { binary: false }
        | Loss::SoftMargin => (rng.range(-3.0, 3.0), sign(rng)),
        // Any t: the labels ±1 and other values (both terms apply).
        Loss::HingeEmbedding { .. } => (
            rng.range(-3.0, 3.0),
            match rng.below(3) {
                0 => -1.0,
                1 => 1.0,
                _ => rng.range(-2.0, 2.0),
            },
        ),
        // Hard labels (torchvision's use) and soft ones.
        Loss::SigmoidFocal { .. } => (
            rng.range(-12.0, 12.0),
            if rng.coin(0.5) {
                (rng.next() & 1) as f32
            } else {
                rng.range(0.0, 1.0)
            },
        ),
        Loss::Logistic { binary: true } => (rng.range(-12.0, 12.0), (rng.next() & 1) as f32),
        Loss::SigmoidBce { .. } => (rng.range(-12.0, 12.0), rng.range(0.0, 1.0)),
        Loss::Bce { .. } => (rng.range(0.02, 0.98), rng.range(0.0, 1.0)),
        Loss::PoissonNll {
            log_input: true, ..
        } => (rng.range(-3.0, 3.0), rng.range(0.0, 6.0)),
        Loss::PoissonNll {
            log_input: false, ..
        } => (rng.range(0.1, 5.0), rng.range(0.0, 6.0)),
    }
}

/// Checks every entry point of `loss` on one batch against the reference.
/// The data sits at `offset` inside larger buffers so unaligned starts run.
fn check_batch(
    loss: Loss,
    n_values: usize,
    dim: usize,
    weighted: bool,
    offset: usize,
    rng: &mut Rng,
) -> Result<(), String> {
    let mut pbuf = vec![0.0f32; n_values + offset];
    let mut tbuf = vec![0.0f32; n_values + offset];
    for k in 0..n_values {
        (pbuf[offset + k], tbuf[offset + k]) = sample(loss, rng);
    }
    let (pred, target) = (&pbuf[offset..], &tbuf[offset..]);
    let n = n_values / dim;
    let weights: Vec<f32> = (0..n).map(|_| rng.range(0.0, 2.0)).collect();
    let w = weighted.then_some(&weights[..]);
    let l = crate_loss(loss, dim, w);
    let p64: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
    let t64: Vec<f64> = target.iter().map(|&v| v as f64).collect();
    let w64: Vec<f64> = weights.iter().map(|&v| v as f64).collect();
    let w64 = weighted.then_some(&w64[..]);
    let ctx = format!("{loss:?} n_values={n_values} dim={dim} weighted={weighted} offset={offset}");

    // Loss magnitudes reach ~e^3 * 6 for Poisson; scale tolerances by the
    // size of the terms summed, as float32 summation does.
    let per_ref = reference::per_sample(loss, &p64, &t64, dim, w64);
    let mut per = vec![0.0f32; n];
    l.per_sample(pred, target, &mut per).unwrap();
    for (i, (&g, &r)) in per.iter().zip(&per_ref).enumerate() {
        if !close(g as f64, r, 2e-5, 2e-6) {
            return Err(format!("{ctx}: per_sample[{i}] = {g}, want {r}"));
        }
    }
    for mean in [false, true] {
        let red = if mean {
            Reduction::Mean
        } else {
            Reduction::Sum
        };
        let want = reference::reduced(loss, &p64, &t64, dim, w64, mean);
        let magnitude: f64 =
            per_ref.iter().map(|v| v.abs()).sum::<f64>() / if mean { n as f64 } else { 1.0 };
        let v = l.value(pred, target, red).unwrap();
        if !close(v as f64, want, 0.0, 2e-5 * magnitude + 1e-6) {
            return Err(format!("{ctx}: value({red:?}) = {v}, want {want}"));
        }
        let mut grad = vec![f32::NAN; n_values];
        let v2 = l.value_and_grad(pred, target, red, &mut grad).unwrap();
        if v2.to_bits() != v.to_bits() && !close(v2 as f64, want, 0.0, 2e-5 * magnitude + 1e-6) {
            return Err(format!(
                "{ctx}: value_and_grad({red:?}) = {v2}, want {want}"
            ));
        }
        let gref = reference::gradient(loss, &p64, &t64, dim, w64, mean);
        for (k, (&g, &r)) in grad.iter().zip(&gref).enumerate() {
            // At a kink the float32 and float64 sides may pick different
            // one-sided derivatives; both are valid subgradients.
            let at_kink = loss.kink_distance(p64[k], t64[k]) < 1e-5;
            if !at_kink && !close(g as f64, r, 2e-5, 1e-6) {
                return Err(format!("{ctx}: grad({red:?})[{k}] = {g}, want {r}"));
            }
        }
    }
    let mut out = vec![0.0f32; n];
    let mut grad = vec![0.0f32; n_values];
    l.per_sample_and_grad(pred, target, &mut out, &mut grad)
        .unwrap();
    for (i, (&g, &r)) in out.iter().zip(&per_ref).enumerate() {
        if !close(g as f64, r, 2e-5, 2e-6) {
            return Err(format!(
                "{ctx}: per_sample_and_grad.out[{i}] = {g}, want {r}"
            ));
        }
    }
    Ok(())
}

/// At each lane width (1, 4, 8, 16 on x86-64; 1 and 8 on aarch64), with
/// `S` = max(width, 8): every length `1..=3S+1` (in samples of `dim`, `dim`
/// in 1, 2, 3, `S+1`) at every offset `0..S`, for every loss, with and
/// without weights: every tail and alignment of every width the build runs.
/// (Each width gets its own cases: 16-lane cases at 8 lanes only repeat
/// tails, and made this test the longest one under QEMU.)
#[test]
fn every_length_and_offset_matches_reference() {
    each_lane(Family::Pointwise, |width| {
        let lanes = width.max(8);
        let mut rng = Rng::new(7);
        for loss in all_losses() {
            for dim in [1, 2, 3, lanes + 1] {
                for n in 1..=3 * lanes + 1 {
                    for offset in 0..lanes {
                        for weighted in [false, true] {
                            check_batch(loss, n * dim, dim, weighted, offset, &mut rng)
                                .map_err(|e| format!("at {width} lanes: {e}"))
                                .unwrap();
                        }
                    }
                }
            }
        }
    });
}

/// Random batches: random loss, length, `dim`, weights and offset.
#[test]
fn random_batches_match_reference() {
    fn prop(seed: u64) -> TestResult {
        let mut rng = Rng::new(seed);
        let losses = all_losses();
        let loss = losses[rng.below(losses.len())];
        let dim = 1 + rng.below(40);
        let n = 1 + rng.below(3 * WIDEST + 2);
        let offset = rng.below(WIDEST);
        let weighted = rng.next() & 1 == 1;
        let checked = each_lane_ok(Family::Pointwise, |_| {
            // The same batch at every width.
            let mut rng = rng.clone();
            check_batch(loss, n * dim, dim, weighted, offset, &mut rng)
        });
        match checked {
            Ok(()) => TestResult::passed(),
            Err(e) => TestResult::error(e),
        }
    }
    QuickCheck::new()
        .tests(400)
        .quickcheck(prop as fn(u64) -> TestResult);
}

/// The reference's analytic gradient against central finite differences of
/// the reference's value, in float64, away from kinks: this validates the
/// oracle the other tests compare the crate with.
#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = Rng::new(11);
    for loss in all_losses() {
        for _ in 0..200 {
            let (p, t) = sample(loss, &mut rng);
            let (p, t) = (p as f64, t as f64);
            let h = 1e-6;
            if loss.kink_distance(p, t) < 10.0 * h {
                continue;
            }
            let fd = (loss.f(p + h, t) - loss.f(p - h, t)) / (2.0 * h);
            let an = loss.df(p, t);
            assert!(
                close(fd, an, 1e-5, 1e-6),
                "{loss:?} at p={p} t={t}: fd {fd} vs analytic {an}"
            );
        }
    }
}

/// The crate's gradient against central finite differences of the float64
/// reduced loss, on whole random batches (dim and weights included).
#[test]
fn crate_gradient_matches_finite_differences() {
    each_lane(Family::Pointwise, |lanes| {
        let mut rng = Rng::new(13);
        for loss in all_losses() {
            let dim = 1 + rng.below(4);
            let n = 1 + rng.below(5);
            let len = n * dim;
            let (pred, target): (Vec<f32>, Vec<f32>) =
                (0..len).map(|_| sample(loss, &mut rng)).unzip();
            let weights: Vec<f32> = (0..n).map(|_| rng.range(0.1, 2.0)).collect();
            let p64: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
            let t64: Vec<f64> = target.iter().map(|&v| v as f64).collect();
            let w64: Vec<f64> = weights.iter().map(|&v| v as f64).collect();
            let mut grad = vec![0.0f32; len];
            crate_loss(loss, dim, Some(&weights))
                .value_and_grad(&pred, &target, Reduction::Mean, &mut grad)
                .unwrap();
            let h = 1e-6;
            for k in 0..len {
                if loss.kink_distance(p64[k], t64[k]) < 10.0 * h {
                    continue;
                }
                let mut up = p64.clone();
                up[k] += h;
                let mut down = p64.clone();
                down[k] -= h;
                let fd = (reference::reduced(loss, &up, &t64, dim, Some(&w64), true)
                    - reference::reduced(loss, &down, &t64, dim, Some(&w64), true))
                    / (2.0 * h);
                assert!(
                    close(grad[k] as f64, fd, 1e-4, 1e-5),
                    "{loss:?} at {lanes} lanes, k={k}: grad {} vs fd {fd}",
                    grad[k]
                );
            }
        }
    });
}

/// Losses that are non-negative by their math stay so (in float32 too).
#[test]
fn non_negative_where_the_math_says_so() {
    each_lane(Family::Pointwise, |lanes| {
        let mut rng = Rng::new(17);
        for loss in all_losses() {
            // Poisson NLL is not bounded below, hinge embedding is `p` for
            // `t = 1`; everything else is >= 0.
            if matches!(loss, Loss::PoissonNll { .. } | Loss::HingeEmbedding { .. }) {
                continue;
            }
            let len = 257;
            let (pred, target): (Vec<f32>, Vec<f32>) =
                (0..len).map(|_| sample(loss, &mut rng)).unzip();
            let mut per = vec![0.0f32; len];
            crate_loss(loss, 1, None)
                .per_sample(&pred, &target, &mut per)
                .unwrap();
            assert!(
                per.iter().all(|&v| v >= 0.0),
                "{loss:?} at {lanes} lanes: {per:?}"
            );
        }
    });
}

/// NaN data propagates into the value (never an error, never a panic).
#[test]
fn nan_propagates() {
    each_lane(Family::Pointwise, |lanes| {
        for loss in all_losses() {
            let mut pred = vec![0.5f32; 19];
            let target = vec![0.5f32; 19];
            pred[17] = f32::NAN;
            let v = crate_loss(loss, 1, None)
                .value(&pred, &target, Reduction::Sum)
                .unwrap();
            assert!(v.is_nan(), "{loss:?} at {lanes} lanes: {v}");
        }
    });
}

/// Every malformed call is an `Err` naming the argument, for every loss.
#[test]
fn malformed_inputs_are_errors() {
    let p = [0.5f32; 6];
    let mut g = [0.0f32; 6];
    let mut out = [0.0f32; 6];
    // Parameters.
    assert!(matches!(
        pointwise::Huber::new(0.0),
        Err(Error::InvalidParameter {
            argument: "rho",
            ..
        })
    ));
    assert!(pointwise::Huber::new(-1.0).is_err());
    assert!(pointwise::Huber::new(f32::NAN).is_err());
    assert!(pointwise::Huber::new(f32::INFINITY).is_err());
    assert!(matches!(
        pointwise::Hinge::new(f32::NAN),
        Err(Error::InvalidParameter {
            argument: "margin",
            ..
        })
    ));
    assert!(pointwise::SquaredHinge::new(f32::INFINITY).is_err());
    assert!(matches!(
        pointwise::SigmoidBce::new(-0.5),
        Err(Error::InvalidParameter {
            argument: "pos_weight",
            ..
        })
    ));
    assert!(pointwise::Bce::new(f32::NAN).is_err());
    for (r, argument) in [
        (pointwise::SmoothL1::new(-1.0).map(|_| ()), "beta"),
        (pointwise::SmoothL1::new(f32::NAN).map(|_| ()), "beta"),
        (pointwise::SmoothL1::new(1e-40).map(|_| ()), "beta"),
        (pointwise::SmoothL1::new(f32::INFINITY).map(|_| ()), "beta"),
        (pointwise::HuberTorch::new(0.0).map(|_| ()), "delta"),
        (pointwise::HuberTorch::new(1e-40).map(|_| ()), "delta"),
        (pointwise::HuberTorch::new(f32::NAN).map(|_| ()), "delta"),
        (
            pointwise::HingeEmbedding::new(f32::NAN).map(|_| ()),
            "margin",
        ),
        (
            pointwise::SigmoidFocal::new(f32::NAN, 2.0).map(|_| ()),
            "alpha",
        ),
        (
            pointwise::SigmoidFocal::new(0.25, -1.0).map(|_| ()),
            "gamma",
        ),
        (
            pointwise::SigmoidFocal::new(0.25, f32::INFINITY).map(|_| ()),
            "gamma",
        ),
        (
            pointwise::PoissonNll::new(false, false)
                .eps(0.0)
                .map(|_| ()),
            "eps",
        ),
        (
            pointwise::PoissonNll::new(false, true)
                .eps(f32::NAN)
                .map(|_| ()),
            "eps",
        ),
        // eps cannot apply to the log-input form: an error, not ignored.
        (
            pointwise::PoissonNll::new(true, false)
                .eps(1e-3)
                .map(|_| ()),
            "eps",
        ),
        (
            pointwise::SigmoidBcePerClass::new(&[1.0, -1.0]).map(|_| ()),
            "pos_weight",
        ),
        (
            pointwise::SigmoidBcePerClass::new(&[f32::NAN]).map(|_| ()),
            "pos_weight",
        ),
    ] {
        match r {
            Err(Error::InvalidParameter { argument: a, .. }) => assert_eq!(a, argument),
            other => panic!("{argument}: {other:?}"),
        }
    }
    assert_eq!(
        pointwise::SigmoidBcePerClass::new(&[]).map(|_| ()),
        Err(Error::ZeroSize {
            argument: "pos_weight"
        })
    );
    let per_class = pointwise::SigmoidBcePerClass::new(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(
        per_class.value(&p, &p, Reduction::Sum),
        Err(Error::NotDivisible {
            argument: "pred",
            length: 6,
            divisor: 4
        })
    );
    let per_class = pointwise::SigmoidBcePerClass::new(&[1.0, 2.0]).unwrap();
    assert!(per_class.value(&p, &p[..4], Reduction::Sum).is_err());
    assert!(per_class.per_sample(&p, &p, &mut out[..2]).is_err());
    assert!(
        per_class
            .value_and_grad(&p, &p, Reduction::Sum, &mut g[..5])
            .is_err()
    );
    assert!(
        per_class
            .sample_weight(&[1.0])
            .value(&p, &p, Reduction::Sum)
            .is_err()
    );
    let l2 = pointwise::L2::new();
    // Shapes.
    assert_eq!(
        l2.value(&[], &[], Reduction::Sum),
        Err(Error::EmptyBatch { argument: "pred" })
    );
    assert_eq!(
        l2.value(&p, &p[..5], Reduction::Sum),
        Err(Error::LengthMismatch {
            argument: "target",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        l2.dim(0).value(&p, &p, Reduction::Sum),
        Err(Error::ZeroSize { argument: "dim" })
    );
    assert_eq!(
        l2.dim(4).value(&p, &p, Reduction::Sum),
        Err(Error::NotDivisible {
            argument: "pred",
            length: 6,
            divisor: 4
        })
    );
    assert_eq!(
        l2.value_and_grad(&p, &p, Reduction::Mean, &mut g[..5]),
        Err(Error::LengthMismatch {
            argument: "grad",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        l2.dim(2)
            .sample_weight(&[1.0, 2.0])
            .value(&p, &p, Reduction::Mean),
        Err(Error::LengthMismatch {
            argument: "sample_weight",
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        l2.dim(2).per_sample(&p, &p, &mut out[..2]),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        l2.per_sample_and_grad(&p, &p, &mut out, &mut g[..1]),
        Err(Error::LengthMismatch {
            argument: "grad",
            expected: 6,
            found: 1
        })
    );
    // And for every loss, the same shape errors (the validation is shared,
    // but each loss goes through it).
    for loss in all_losses() {
        let l = crate_loss(loss, 4, None);
        let mut per = [0.0f32; 3];
        assert!(l.per_sample(&p, &p, &mut per).is_err(), "{loss:?}");
        assert!(
            l.value_and_grad(&p, &p, Reduction::Sum, &mut g).is_err(),
            "{loss:?}"
        );
        let l = crate_loss(loss, 1, Some(&[1.0]));
        assert!(l.value(&p, &p, Reduction::Mean).is_err(), "{loss:?}");
    }
}

/// Per-class `pos_weight`: every entry point against the float64 reference
/// at every lane width, for several class counts (tails of every width),
/// offsets and weights; equal weights give the scalar `SigmoidBce`.
#[test]
fn per_class_pos_weight_matches_reference() {
    each_lane(Family::Pointwise, |width| {
        let mut rng = Rng::new(23);
        for classes in [1, 2, 3, 7, WIDEST, WIDEST + 3, 2 * WIDEST + 1] {
            let pw: Vec<f32> = (0..classes)
                .map(|j| if j % 5 == 4 { 0.0 } else { rng.range(0.0, 4.0) })
                .collect();
            for n in [1, 2, 5] {
                for offset in [0, 1, 3] {
                    for weighted in [false, true] {
                        let len = n * classes;
                        let mut pbuf = vec![0.0f32; len + offset];
                        let mut tbuf = vec![0.0f32; len + offset];
                        for k in 0..len {
                            pbuf[offset + k] = rng.range(-12.0, 12.0);
                            tbuf[offset + k] = if rng.coin(0.5) {
                                (rng.next() & 1) as f32
                            } else {
                                rng.range(0.0, 1.0)
                            };
                        }
                        let (pred, target) = (&pbuf[offset..], &tbuf[offset..]);
                        let weights: Vec<f32> = (0..n).map(|_| rng.range(0.0, 2.0)).collect();
                        let p64: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
                        let t64: Vec<f64> = target.iter().map(|&v| v as f64).collect();
                        let w64: Vec<f64> = weights.iter().map(|&v| v as f64).collect();
                        let (per_ref, grad_ref) = reference::sigmoid_bce_per_class(
                            &p64,
                            &t64,
                            &pw,
                            weighted.then_some(&w64[..]),
                        );
                        let base = pointwise::SigmoidBcePerClass::new(&pw).unwrap();
                        let loss: Box<dyn AnyPointwise> = if weighted {
                            Box::new(base.sample_weight(&weights))
                        } else {
                            Box::new(base)
                        };
                        let ctx = format!(
                            "{width} lanes, classes {classes}, n {n}, offset {offset}, weighted {weighted}"
                        );
                        let (mut out, mut grad) = (vec![f32::NAN; n], vec![f32::NAN; len]);
                        let sum = loss
                            .per_sample_and_grad(pred, target, &mut out, &mut grad)
                            .unwrap();
                        for (i, (&g, &r)) in out.iter().zip(&per_ref).enumerate() {
                            assert!(close(g, r, 2e-5, 2e-6), "{ctx}: out[{i}] {g} vs {r}");
                        }
                        for (k, (&g, &r)) in grad.iter().zip(&grad_ref).enumerate() {
                            assert!(close(g, r, 2e-5, 1e-6), "{ctx}: grad[{k}] {g} vs {r}");
                        }
                        let total: f64 = per_ref.iter().sum();
                        let magnitude: f64 = per_ref.iter().map(|v| v.abs()).sum();
                        assert!(
                            close(sum, total, 0.0, 2e-5 * magnitude + 1e-6),
                            "{ctx}: sum"
                        );
                        let mean = loss.value(pred, target, Reduction::Mean).unwrap();
                        let want = total / n as f64;
                        assert!(
                            close(mean, want, 0.0, 2e-5 * magnitude / n as f64 + 1e-6),
                            "{ctx}: mean {mean} vs {want}"
                        );
                        let mut g_mean = vec![f32::NAN; len];
                        loss.value_and_grad(pred, target, Reduction::Mean, &mut g_mean)
                            .unwrap();
                        for (k, (&g, &r)) in g_mean.iter().zip(&grad_ref).enumerate() {
                            let r = r / n as f64;
                            assert!(close(g, r, 2e-5, 1e-6), "{ctx}: grad mean[{k}] {g} vs {r}");
                        }
                        let mut per = vec![f32::NAN; n];
                        loss.per_sample(pred, target, &mut per).unwrap();
                        assert_eq!(per, out, "{ctx}: per_sample vs per_sample_and_grad");
                    }
                }
            }
        }
        // Equal weights: the scalar pos_weight loss with dim = classes.
        let (pred, target): (Vec<f32>, Vec<f32>) = (0..60)
            .map(|_| (rng.range(-6.0, 6.0), rng.range(0.0, 1.0)))
            .unzip();
        let same = pointwise::SigmoidBcePerClass::new(&[2.5; 5]).unwrap();
        let scalar = pointwise::SigmoidBce::new(2.5).unwrap().dim(5);
        let a = same.value(&pred, &target, Reduction::Mean).unwrap();
        let b = scalar.value(&pred, &target, Reduction::Mean).unwrap();
        assert!(close(a, b as f64, 1e-6, 1e-7), "{width} lanes: {a} vs {b}");
        // NaN propagates.
        let mut nan_pred = pred.clone();
        nan_pred[33] = f32::NAN;
        let mut g = vec![0.0f32; 60];
        let v = same
            .value_and_grad(&nan_pred, &target, Reduction::Sum, &mut g)
            .unwrap();
        assert!(v.is_nan() && g[33].is_nan(), "{width} lanes: NaN lost");
    });
}

/// The per-class loss's gradient against central finite differences of its
/// float64 reference value.
#[test]
fn per_class_gradient_matches_finite_differences() {
    let mut rng = Rng::new(29);
    let pw = [0.5f32, 3.0, 0.0];
    let (pred, target): (Vec<f64>, Vec<f64>) = (0..12)
        .map(|_| (rng.range(-4.0, 4.0) as f64, rng.range(0.0, 1.0) as f64))
        .unzip();
    let weights = [0.5, 1.5, 1.0, 2.0];
    let (_, grad) = reference::sigmoid_bce_per_class(&pred, &target, &pw, Some(&weights));
    let h = 1e-6;
    for k in 0..pred.len() {
        let at = |d: f64| {
            let mut p = pred.clone();
            p[k] += d;
            let (per, _) = reference::sigmoid_bce_per_class(&p, &target, &pw, Some(&weights));
            per.iter().sum::<f64>()
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert!(close(grad[k], fd, 1e-5, 1e-7), "k={k}: {} vs {fd}", grad[k]);
    }
}

/// Fuzzing found it: a huge finite `alpha` (2.3e38) overflowed the focal
/// weight `α t + (1-α)(1-t)` when written `t (2α - 1) + (1 - α)` (NaN for
/// `t = 0`, where the weight is `1 - α`, finite).
#[test]
fn focal_weight_with_a_huge_alpha_stays_finite() {
    each_lane(Family::Pointwise, |lanes| {
        let alpha = f32::MAX * (86.0 / 128.0);
        let loss = pointwise::SigmoidFocal::new(alpha, 3.5).unwrap();
        let (pred, target) = ([-3.8125f32; 5], [0.0f32; 5]);
        let mut grad = [0.0f32; 5];
        let v = loss
            .value_and_grad(&pred, &target, Reduction::Sum, &mut grad)
            .unwrap();
        let e = Loss::SigmoidFocal { alpha, gamma: 3.5 }.eval(-3.8125, 0.0);
        assert!(
            close(v, 5.0 * e.f, 1e-4, 0.0),
            "{lanes} lanes: {v} vs {}",
            5.0 * e.f
        );
        for g in grad {
            assert!(close(g, e.g, 1e-4, 0.0), "{lanes} lanes: {g} vs {}", e.g);
        }
    });
}
