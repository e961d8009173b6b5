#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The row and embedding losses and options of SPEC Part 2 against the
//! float64 reference (`loss_kernels_reference::rows`), gradients also
//! against central finite differences of the reference, at every lane
//! width: the strided class axis of cross-entropy, KL with log-probability
//! targets, the margin family (`MultilabelSoftMargin`, `MultiMargin`,
//! `MultilabelMargin`), the p-norm triplet loss (eps, swap) and SDML; plus
//! NaN propagation and the error paths.
//!
//! Sizes sweep rows, classes, positions and `dim` over 1..40 so every lane
//! width sees whole lanes and a tail.

use crate::common;

use common::lanes::{Family, each_lane, each_lane_ok};
use common::rng::Rng;
use common::tolerance::{all_close, close, fd, to64, verdict};
use loss_kernels::embedding::{Distance, Sdml, SdmlGrads, Triplet, TripletGrads};
use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::rows as reference;
use quickcheck::{QuickCheck, TestResult};

const TESTS: u64 = 150;

/// Every entry point of a loss over `n` samples (gradient of `len`) against
/// the per-sample references `per_want`, the `Mean` denominator `den` and
/// the gradient of the sum `grad_want` (entries where `skip` is set are not
/// compared: a kink within rounding).
/// A loss's entry points: (per-sample out, grad, reduction) -> value.
type Call<'a> = dyn Fn(Option<&mut [f32]>, Option<&mut [f32]>, Reduction) -> f32 + 'a;

#[allow(clippy::too_many_arguments)]
fn check_calls(
    call: &Call<'_>,
    n: usize,
    len: usize,
    per_want: &[f64],
    den: f64,
    grad_want: &[f64],
    skip: &[bool],
    atol: f64,
) -> Result<(), String> {
    let (mut per, mut grad) = (vec![f32::NAN; n], vec![f32::NAN; len]);
    let sum = call(Some(&mut per), Some(&mut grad), Reduction::Sum);
    let sum_want: f64 = per_want.iter().sum();
    all_close("per_sample_and_grad.out", &per, per_want, 1e-5, atol)?;
    all_close(
        "per_sample_and_grad.sum",
        &[sum],
        &[sum_want],
        1e-5,
        atol * n as f64,
    )?;
    let masked = |g: &[f32]| -> Vec<f32> {
        g.iter()
            .zip(skip)
            .map(|(&v, &s)| if s { 0.0 } else { v })
            .collect()
    };
    let want_masked = |scale: f64| -> Vec<f64> {
        grad_want
            .iter()
            .zip(skip)
            .map(|(&v, &s)| if s { 0.0 } else { v * scale })
            .collect()
    };
    all_close("grad(sum)", &masked(&grad), &want_masked(1.0), 1e-4, 2e-5)?;
    let mut per = vec![f32::NAN; n];
    call(Some(&mut per), None, Reduction::Sum);
    all_close("per_sample", &per, per_want, 1e-5, atol)?;
    let mean_want = if den == 0.0 { 0.0 } else { sum_want / den };
    let inv = if den == 0.0 { 0.0 } else { 1.0 / den };
    for (r, want, scale) in [
        (Reduction::Sum, sum_want, 1.0),
        (Reduction::Mean, mean_want, inv),
    ] {
        let v = call(None, None, r);
        all_close("value", &[v], &[want], 1e-5, atol * n as f64)?;
        let mut g = vec![f32::NAN; len];
        let v = call(None, Some(&mut g), r);
        all_close("value_and_grad", &[v], &[want], 1e-5, atol * n as f64)?;
        all_close(
            "value_and_grad.grad",
            &masked(&g),
            &want_masked(scale),
            1e-4,
            2e-5,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The strided class axis.

#[derive(Clone, Debug)]
struct Strided {
    n: usize,
    classes: usize,
    spatial: usize,
    logits: Vec<f32>,
    labels: Option<Vec<i64>>,
    dense: Option<Vec<f32>>,
    ignore: Option<i64>,
    smoothing: f32,
    class_weight: Option<Vec<f32>>,
    sample_weight: Option<Vec<f32>>,
    log_probs: bool,
}

impl Strided {
    fn random(seed: u64, n: u8, classes: u8, spatial: u8, opts: u8) -> Strided {
        let mut r = Rng::new(seed);
        let (n, classes, spatial) = (
            1 + n as usize % 4,
            1 + classes as usize % 40,
            2 + spatial as usize % 38,
        );
        let log_probs = opts & 1 != 0;
        let dense = opts & 2 != 0;
        let len = n * classes * spatial;
        let logits = if log_probs {
            r.vec(len, -8.0, 0.0)
        } else {
            r.vec(len, -8.0, 8.0)
        };
        let ignore = (opts & 4 != 0).then(|| if r.coin(0.5) { -100 } else { 0 });
        let labels = (!dense).then(|| {
            (0..n * spatial)
                .map(|_| match ignore {
                    Some(i) if r.below(4) == 0 => i,
                    _ => r.below(classes) as i64,
                })
                .collect()
        });
        Strided {
            n,
            classes,
            spatial,
            logits,
            labels,
            dense: dense.then(|| r.vec(len, 0.0, 1.0)),
            ignore,
            smoothing: if opts & 8 != 0 { r.grid(0.0, 1.0) } else { 0.0 },
            class_weight: (opts & 16 != 0).then(|| r.vec(classes, 0.1, 2.0)),
            sample_weight: (opts & 32 != 0).then(|| r.vec(n * spatial, 0.0, 2.0)),
            log_probs,
        }
    }

    fn at(&self, i: usize, k: usize, s: usize) -> usize {
        (i * self.classes + k) * self.spatial + s
    }

    fn c(&self, k: usize) -> f64 {
        self.class_weight.as_ref().map_or(1.0, |c| f64::from(c[k]))
    }

    /// Position `(i, s)`'s effective target, or `None` when ignored.
    fn target(&self, i: usize, s: usize) -> Option<Vec<f64>> {
        let c = self.classes;
        let a = f64::from(self.smoothing);
        match (&self.labels, &self.dense) {
            (Some(y), _) => {
                let y = y[i * self.spatial + s];
                if Some(y) == self.ignore {
                    return None;
                }
                Some(
                    (0..c)
                        .map(|k| {
                            let hot = if k as i64 == y { 1.0 - a } else { 0.0 };
                            self.c(k) * (hot + a / c as f64)
                        })
                        .collect(),
                )
            }
            (None, Some(t)) => Some(
                (0..c)
                    .map(|k| {
                        let t = f64::from(t[self.at(i, k, s)]);
                        self.c(k) * ((1.0 - a) * t + a / c as f64)
                    })
                    .collect(),
            ),
            _ => unreachable!(),
        }
    }

    fn check(&self) -> Result<(), String> {
        let (n, c, sp) = (self.n, self.classes, self.spatial);
        let x64 = to64(&self.logits);
        let mut per_want = vec![0.0; n * sp];
        let mut grad_want = vec![0.0; x64.len()];
        let mut den = 0.0;
        for i in 0..n {
            for s in 0..sp {
                let Some(w) = self.target(i, s) else {
                    continue;
                };
                if let Some(y) = &self.labels {
                    den += self.c(y[i * sp + s] as usize);
                }
                let row: Vec<f64> = (0..c).map(|k| x64[self.at(i, k, s)]).collect();
                let sw = self
                    .sample_weight
                    .as_ref()
                    .map_or(1.0, |w| f64::from(w[i * sp + s]));
                let r = reference::softmax_cross_entropy(&row, &w, self.log_probs);
                per_want[i * sp + s] = sw * r.value;
                for k in 0..c {
                    grad_want[self.at(i, k, s)] = sw * r.grad[k];
                }
            }
        }
        if self.dense.is_some() {
            den = (n * sp) as f64;
        }
        let mut ce = SoftmaxCrossEntropy::new(c)
            .unwrap()
            .spatial(sp)
            .unwrap()
            .label_smoothing(self.smoothing)
            .unwrap()
            .ignore_index(self.ignore)
            .input(if self.log_probs {
                Input::LogProbs
            } else {
                Input::Logits
            });
        if let Some(cw) = &self.class_weight {
            ce = ce.class_weight(cw);
        }
        if let Some(w) = &self.sample_weight {
            ce = ce.sample_weight(w);
        }
        let labels = match (&self.labels, &self.dense) {
            (Some(y), _) => Labels::SparseI64(y),
            (None, Some(t)) => Labels::Dense(t),
            _ => unreachable!(),
        };
        let x = &self.logits;
        let call =
            |out: Option<&mut [f32]>, grad: Option<&mut [f32]>, r: Reduction| match (out, grad) {
                (Some(o), Some(g)) => ce.per_sample_and_grad(x, labels, o, g).unwrap(),
                (Some(o), None) => ce.per_sample(x, labels, o).map(|_| f32::NAN).unwrap(),
                (None, Some(g)) => ce.value_and_grad(x, labels, r, g).unwrap(),
                (None, None) => ce.value(x, labels, r).unwrap(),
            };
        let scale = per_want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let skip = vec![false; x.len()];
        check_calls(
            &call,
            n * sp,
            x.len(),
            &per_want,
            den,
            &grad_want,
            &skip,
            2e-6 * scale * c as f64,
        )
    }
}

#[test]
fn strided_cross_entropy_matches_reference() {
    fn prop(seed: u64, n: u8, classes: u8, spatial: u8, opts: u8) -> TestResult {
        let case = Strided::random(seed, n, classes, spatial, opts);
        verdict(each_lane_ok(Family::Softmax, |_| case.check()))
    }
    QuickCheck::new()
        .tests(TESTS)
        .quickcheck(prop as fn(u64, u8, u8, u8, u8) -> TestResult);
}

/// Every option, at spatial sizes with and without a lane tail.
#[test]
fn strided_cross_entropy_every_option() {
    for opts in 0..64u8 {
        for (c, s) in [(1, 2), (3, 17), (10, 16), (40, 5), (33, 33)] {
            let case = Strided::random(u64::from(opts) * 31 + s as u64, 2, c - 1, s - 2, opts);
            if let Err(e) = each_lane_ok(Family::Softmax, |_| case.check()) {
                panic!("opts {opts:#b}, C {c}, S {s}: {e}");
            }
        }
    }
}

/// With `S` positions the strided call equals the row form on the
/// transposed logits (exactly the same per-position math).
#[test]
fn strided_equals_row_form_of_the_transpose() {
    each_lane(Family::Softmax, |_| {
        let (n, c, s) = (3, 7, 11);
        let mut r = Rng::new(5);
        let x = r.vec(n * c * s, -5.0, 5.0);
        let y: Vec<i64> = (0..n * s).map(|_| r.below(c) as i64).collect();
        let mut rows = vec![0.0; x.len()];
        for i in 0..n {
            for k in 0..c {
                for p in 0..s {
                    rows[(i * s + p) * c + k] = x[(i * c + k) * s + p];
                }
            }
        }
        let ce = SoftmaxCrossEntropy::new(c).unwrap();
        let strided = ce
            .spatial(s)
            .unwrap()
            .value(&x, Labels::SparseI64(&y), Reduction::Mean)
            .unwrap();
        let row = ce
            .value(&rows, Labels::SparseI64(&y), Reduction::Mean)
            .unwrap();
        assert!(
            close(strided, f64::from(row), 1e-6, 1e-7),
            "{strided} vs {row}"
        );
    });
}

// ---------------------------------------------------------------------------
// KL divergence with log-probability targets.

#[test]
fn kl_log_target_matches_reference_and_finite_differences() {
    fn prop(seed: u64, n: u8, classes: u8, opts: u8) -> TestResult {
        verdict(each_lane_ok(Family::Softmax, |_| {
            let mut r = Rng::new(seed);
            let n = 1 + n as usize % 30;
            let c = 1 + classes as usize % 40;
            let logits = opts & 1 != 0;
            let x = if logits {
                r.vec(n * c, -8.0, 8.0)
            } else {
                r.vec(n * c, -8.0, 0.0)
            };
            let mut lt = r.vec(n * c, -10.0, 0.0);
            if opts & 4 != 0 {
                lt[0] = f32::NEG_INFINITY; // a zero probability: adds 0
            }
            let sw = (opts & 2 != 0).then(|| r.vec(n, 0.0, 2.0));
            let mut kl = KlDivergence::new(c)
                .unwrap()
                .log_target(true)
                .input(if logits {
                    Input::Logits
                } else {
                    Input::LogProbs
                });
            if let Some(w) = &sw {
                kl = kl.sample_weight(w);
            }
            let (x64, t64) = (
                to64(&x),
                to64(&lt).iter().map(|v| v.exp()).collect::<Vec<_>>(),
            );
            let s = |i: usize| sw.as_ref().map_or(1.0, |w| f64::from(w[i]));
            let row = |i: usize, xr: &[f64]| {
                s(i) * reference::kl_divergence(xr, &t64[i * c..(i + 1) * c], logits).value
            };
            let per_want: Vec<f64> = (0..n).map(|i| row(i, &x64[i * c..(i + 1) * c])).collect();
            let mut gw = vec![0.0; n * c];
            for i in 0..n {
                let mut xr = x64[i * c..(i + 1) * c].to_vec();
                for k in 0..c {
                    gw[i * c + k] = fd(&mut xr, k, &|v| row(i, v));
                }
            }
            let call = |out: Option<&mut [f32]>, grad: Option<&mut [f32]>, red| match (out, grad) {
                (Some(o), Some(g)) => kl.per_sample_and_grad(&x, &lt, o, g).unwrap(),
                (Some(o), None) => kl.per_sample(&x, &lt, o).map(|_| f32::NAN).unwrap(),
                (None, Some(g)) => kl.value_and_grad(&x, &lt, red, g).unwrap(),
                (None, None) => kl.value(&x, &lt, red).unwrap(),
            };
            let skip = vec![false; n * c];
            check_calls(
                &call,
                n,
                n * c,
                &per_want,
                n as f64,
                &gw,
                &skip,
                1e-5 * c as f64,
            )
        }))
    }
    QuickCheck::new()
        .tests(TESTS)
        .quickcheck(prop as fn(u64, u8, u8, u8) -> TestResult);
}

// ---------------------------------------------------------------------------
// The margin family.

/// One random margin-family case: `(n, classes, x)`.
fn margin_case(r: &mut Rng, n: u8, classes: u8) -> (usize, usize, Vec<f32>) {
    let n = 1 + n as usize % 20;
    let c = 1 + classes as usize % 40;
    (n, c, r.vec(n * c, -2.0, 2.0))
}

/// The per-row references and finite-difference gradients of a row loss
/// `row(i, x_i)`; `ambiguous(i)` marks rows whose gradient is set by a kink.
fn row_refs(
    n: usize,
    c: usize,
    x: &[f32],
    row: &dyn Fn(usize, &[f64]) -> f64,
    ambiguous: &dyn Fn(usize) -> bool,
) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
    let x64 = to64(x);
    let per: Vec<f64> = (0..n).map(|i| row(i, &x64[i * c..(i + 1) * c])).collect();
    let mut g = vec![0.0; n * c];
    let mut skip = vec![false; n * c];
    for i in 0..n {
        let mut xr = x64[i * c..(i + 1) * c].to_vec();
        let amb = ambiguous(i);
        for k in 0..c {
            g[i * c + k] = fd(&mut xr, k, &|v| row(i, v));
            skip[i * c + k] = amb;
        }
    }
    (per, g, skip)
}

#[test]
fn multilabel_soft_margin_matches_reference() {
    fn prop(seed: u64, n: u8, classes: u8, opts: u8) -> TestResult {
        verdict(each_lane_ok(Family::Softmax, |_| {
            let mut r = Rng::new(seed);
            let (n, c, x) = margin_case(&mut r, n, classes);
            let y = r.vec(n * c, 0.0, 1.0);
            let cw = (opts & 1 != 0).then(|| r.vec(c, 0.1, 2.0));
            let sw = (opts & 2 != 0).then(|| r.vec(n, 0.0, 2.0));
            let mut l = MultilabelSoftMargin::new(c).unwrap();
            if let Some(w) = &cw {
                l = l.class_weight(w);
            }
            if let Some(w) = &sw {
                l = l.sample_weight(w);
            }
            let (y64, cw64) = (to64(&y), cw.as_ref().map(|w| to64(w)));
            let s = |i: usize| sw.as_ref().map_or(1.0, |w| f64::from(w[i]));
            let row = |i: usize, xr: &[f64]| {
                s(i) * reference::multilabel_soft_margin(
                    xr,
                    &y64[i * c..(i + 1) * c],
                    cw64.as_deref(),
                )
                .value
            };
            let (per, g, skip) = row_refs(n, c, &x, &row, &|_| false);
            let call = |out: Option<&mut [f32]>, grad: Option<&mut [f32]>, red| match (out, grad) {
                (Some(o), Some(gr)) => l.per_sample_and_grad(&x, &y, o, gr).unwrap(),
                (Some(o), None) => l.per_sample(&x, &y, o).map(|_| f32::NAN).unwrap(),
                (None, Some(gr)) => l.value_and_grad(&x, &y, red, gr).unwrap(),
                (None, None) => l.value(&x, &y, red).unwrap(),
            };
            check_calls(&call, n, n * c, &per, n as f64, &g, &skip, 1e-5)
        }))
    }
    QuickCheck::new()
        .tests(TESTS)
        .quickcheck(prop as fn(u64, u8, u8, u8) -> TestResult);
}

#[test]
fn multi_margin_matches_reference() {
    fn prop(seed: u64, n: u8, classes: u8, opts: u8) -> TestResult {
        verdict(each_lane_ok(Family::Softmax, |_| {
            let mut r = Rng::new(seed);
            let (n, c, x) = margin_case(&mut r, n, classes);
            let p = if opts & 1 != 0 { 2 } else { 1 };
            let margin = r.grid(0.0, 2.0);
            let y: Vec<i64> = (0..n).map(|_| r.below(c) as i64).collect();
            let cw = (opts & 2 != 0).then(|| r.vec(c, 0.1, 2.0));
            let sw = (opts & 4 != 0).then(|| r.vec(n, 0.0, 2.0));
            let mut l = MultiMargin::new(c)
                .unwrap()
                .p(p)
                .unwrap()
                .margin(margin)
                .unwrap();
            if let Some(w) = &cw {
                l = l.class_weight(w);
            }
            if let Some(w) = &sw {
                l = l.sample_weight(w);
            }
            let cw64 = cw.as_ref().map(|w| to64(w));
            let s = |i: usize| sw.as_ref().map_or(1.0, |w| f64::from(w[i]));
            let m = f64::from(margin);
            let reference_row = |i: usize, xr: &[f64]| {
                reference::multi_margin(xr, y[i] as usize, p, m, cw64.as_deref())
            };
            let row = |i: usize, xr: &[f64]| s(i) * reference_row(i, xr).value;
            let x64 = to64(&x);
            let amb = |i: usize| reference_row(i, &x64[i * c..(i + 1) * c]).grad_ambiguous;
            let (per, g, skip) = row_refs(n, c, &x, &row, &amb);
            let yu: Vec<u32> = y.iter().map(|&v| v as u32).collect();
            let unsigned = opts & 8 != 0;
            let call = |out: Option<&mut [f32]>, grad: Option<&mut [f32]>, red| {
                if unsigned {
                    match (out, grad) {
                        (Some(o), Some(gr)) => l.per_sample_and_grad(&x, &yu, o, gr).unwrap(),
                        (Some(o), None) => l.per_sample(&x, &yu, o).map(|_| f32::NAN).unwrap(),
                        (None, Some(gr)) => l.value_and_grad(&x, &yu, red, gr).unwrap(),
                        (None, None) => l.value(&x, &yu, red).unwrap(),
                    }
                } else {
                    match (out, grad) {
                        (Some(o), Some(gr)) => l.per_sample_and_grad(&x, &y, o, gr).unwrap(),
                        (Some(o), None) => l.per_sample(&x, &y, o).map(|_| f32::NAN).unwrap(),
                        (None, Some(gr)) => l.value_and_grad(&x, &y, red, gr).unwrap(),
                        (None, None) => l.value(&x, &y, red).unwrap(),
                    }
                }
            };
            check_calls(&call, n, n * c, &per, n as f64, &g, &skip, 1e-5)
        }))
    }
    QuickCheck::new()
        .tests(TESTS)
        .quickcheck(prop as fn(u64, u8, u8, u8) -> TestResult);
}

#[test]
fn multilabel_margin_matches_reference() {
    fn prop(seed: u64, n: u8, classes: u8, opts: u8) -> TestResult {
        verdict(each_lane_ok(Family::Softmax, |_| {
            let mut r = Rng::new(seed);
            let (n, c, x) = margin_case(&mut r, n, classes);
            // Each row: a few targets (repeats allowed), then -1 and noise.
            let mut t = vec![0i64; n * c];
            for i in 0..n {
                let listed = r.below(c + 1);
                for k in 0..c {
                    t[i * c + k] = if k < listed {
                        r.below(c) as i64
                    } else if k == listed {
                        -1
                    } else {
                        r.below(c + 5) as i64 - 2
                    };
                }
            }
            let sw = (opts & 1 != 0).then(|| r.vec(n, 0.0, 2.0));
            let mut l = MultilabelMargin::new(c).unwrap();
            if let Some(w) = &sw {
                l = l.sample_weight(w);
            }
            let s = |i: usize| sw.as_ref().map_or(1.0, |w| f64::from(w[i]));
            let reference_row =
                |i: usize, xr: &[f64]| reference::multilabel_margin(xr, &t[i * c..(i + 1) * c]);
            let row = |i: usize, xr: &[f64]| s(i) * reference_row(i, xr).value;
            let x64 = to64(&x);
            let amb = |i: usize| reference_row(i, &x64[i * c..(i + 1) * c]).grad_ambiguous;
            let (per, g, skip) = row_refs(n, c, &x, &row, &amb);
            let call = |out: Option<&mut [f32]>, grad: Option<&mut [f32]>, red| match (out, grad) {
                (Some(o), Some(gr)) => l.per_sample_and_grad(&x, &t, o, gr).unwrap(),
                (Some(o), None) => l.per_sample(&x, &t, o).map(|_| f32::NAN).unwrap(),
                (None, Some(gr)) => l.value_and_grad(&x, &t, red, gr).unwrap(),
                (None, None) => l.value(&x, &t, red).unwrap(),
            };
            check_calls(&call, n, n * c, &per, n as f64, &g, &skip, 1e-5 * c as f64)
        }))
    }
    QuickCheck::new()
        .tests(TESTS)
        .quickcheck(prop as fn(u64, u8, u8, u8) -> TestResult);
}

// ---------------------------------------------------------------------------
// Triplet with a p-norm distance, eps and swap.

#[test]
fn triplet_pnorm_matches_reference() {
    fn prop(seed: u64, rows: u8, dim: u8, opts: u8) -> TestResult {
        verdict(each_lane_ok(Family::Embedding, |_| {
            let mut r = Rng::new(seed);
            let rows = 1 + rows as usize % 20;
            let dim = 1 + dim as usize % 40;
            let norm = if opts & 1 != 0 { 2 } else { 1 };
            let swap = opts & 2 != 0;
            let eps = [0.0f32, 1e-6, 1e-3][r.below(3)];
            let margin = r.grid(-0.5, 2.0);
            let len = rows * dim;
            let (a, p, n) = (
                r.vec(len, -1.0, 1.0),
                r.vec(len, -1.0, 1.0),
                r.vec(len, -1.0, 1.0),
            );
            let sw = (opts & 4 != 0).then(|| r.vec(rows, 0.0, 2.0));
            let mut loss = Triplet::new(dim)
                .unwrap()
                .distance(Distance::p_norm(norm).unwrap())
                .eps(eps)
                .unwrap()
                .margin(margin)
                .unwrap()
                .swap(swap);
            if let Some(w) = &sw {
                loss = loss.sample_weight(w);
            }
            let (a64, p64, n64) = (to64(&a), to64(&p), to64(&n));
            let s = |i: usize| sw.as_ref().map_or(1.0, |w| f64::from(w[i]));
            let (m, e) = (f64::from(margin), f64::from(eps));
            let mut per_want = vec![0.0; rows];
            let mut gw = vec![vec![0.0; len]; 3];
            let mut skip = vec![false; len];
            for i in 0..rows {
                let span = i * dim..(i + 1) * dim;
                let row = reference::triplet_pnorm(
                    &a64[span.clone()],
                    &p64[span.clone()],
                    &n64[span.clone()],
                    m,
                    norm,
                    e,
                    swap,
                );
                per_want[i] = s(i) * row.value;
                for (w, g) in gw.iter_mut().enumerate() {
                    for k in 0..dim {
                        g[i * dim + k] = s(i) * row.grad[w * dim + k];
                    }
                }
                for sk in &mut skip[span] {
                    *sk = row.grad_ambiguous;
                }
            }
            let (mut per, mut g) = (vec![f32::NAN; rows], vec![vec![f32::NAN; len]; 3]);
            let [ga, gp, gn] = &mut g[..] else { panic!() };
            let grads = TripletGrads {
                anchor: ga,
                positive: gp,
                negative: gn,
            };
            let sum = loss
                .per_sample_and_grad(&a, &p, &n, &mut per, grads)
                .unwrap();
            let sum_want: f64 = per_want.iter().sum();
            let atol = 1e-5 * dim as f64;
            all_close("per_sample", &per, &per_want, 1e-5, atol)?;
            all_close("sum", &[sum], &[sum_want], 1e-5, atol * rows as f64)?;
            let mean = loss.value(&a, &p, &n, Reduction::Mean).unwrap();
            all_close("mean", &[mean], &[sum_want / rows as f64], 1e-5, atol)?;
            let mut per2 = vec![f32::NAN; rows];
            loss.per_sample(&a, &p, &n, &mut per2).unwrap();
            all_close("per_sample only", &per2, &per_want, 1e-5, atol)?;
            for (name, got, want) in [
                ("anchor", &g[0], &gw[0]),
                ("positive", &g[1], &gw[1]),
                ("negative", &g[2], &gw[2]),
            ] {
                let got: Vec<f32> = got
                    .iter()
                    .zip(&skip)
                    .map(|(&v, &s)| if s { 0.0 } else { v })
                    .collect();
                let want: Vec<f64> = want
                    .iter()
                    .zip(&skip)
                    .map(|(&v, &s)| if s { 0.0 } else { v })
                    .collect();
                all_close(name, &got, &want, 1e-4, 2e-5)?;
            }
            Ok::<(), String>(())
        }))
    }
    QuickCheck::new()
        .tests(TESTS)
        .quickcheck(prop as fn(u64, u8, u8, u8) -> TestResult);
}

/// The reference's gradients are the derivative of its value: finite
/// differences away from kinks (the reference is what the crate is checked
/// against above).
#[test]
fn triplet_pnorm_reference_gradient_is_its_derivative() {
    let mut r = Rng::new(11);
    for case in 0..200 {
        let dim = 1 + case % 9;
        let (norm, swap) = (1 + (case % 2) as u32, case % 4 >= 2);
        let x: Vec<Vec<f64>> = (0..3).map(|_| to64(&r.vec(dim, -1.0, 1.0))).collect();
        let f = |w: usize, v: &[f64]| {
            let mut y = x.clone();
            y[w] = v.to_vec();
            reference::triplet_pnorm(&y[0], &y[1], &y[2], 0.5, norm, 1e-6, swap).value
        };
        let row = reference::triplet_pnorm(&x[0], &x[1], &x[2], 0.5, norm, 1e-6, swap);
        if row.grad_ambiguous {
            continue;
        }
        for (w, xw) in x.iter().enumerate() {
            let mut v = xw.clone();
            for k in 0..dim {
                let d = fd(&mut v, k, &|v| f(w, v));
                let g = row.grad[w * dim + k];
                assert!(
                    (d - g).abs() < 1e-6,
                    "case {case}: input {w}[{k}]: {g} vs fd {d}"
                );
            }
        }
    }
}

/// The swap tie splits the gradient equally: `a = p` gives
/// `d(a, n) = d(p, n)`.
#[test]
fn triplet_swap_tie_splits_the_gradient() {
    each_lane(Family::Embedding, |_| {
        let (a, p, n) = ([0.5f32, -1.0, 2.0], [0.5f32, -1.0, 2.0], [1.0f32, 1.0, 1.0]);
        let loss = Triplet::new(3)
            .unwrap()
            .distance(Distance::Manhattan)
            .eps(0.0)
            .unwrap()
            .margin(5.0)
            .unwrap()
            .swap(true);
        let (mut ga, mut gp, mut gn) = ([0.0f32; 3], [0.0f32; 3], [0.0f32; 3]);
        let grads = TripletGrads {
            anchor: &mut ga,
            positive: &mut gp,
            negative: &mut gn,
        };
        let v = loss
            .value_and_grad(&a, &p, &n, Reduction::Sum, grads)
            .unwrap();
        assert_eq!(v, 5.0 - 3.5);
        // d(a, p) = 0 (zero gradient); each of d(a, n), d(p, n) gets half.
        assert_eq!(ga, [0.5, 0.5, -0.5]);
        assert_eq!(gp, [0.5, 0.5, -0.5]);
        assert_eq!(gn, [-1.0, -1.0, 1.0]);
    });
}

// ---------------------------------------------------------------------------
// SDML.

#[test]
fn sdml_matches_reference_and_finite_differences() {
    fn prop(seed: u64, rows: u8, dim: u8, opts: u8) -> TestResult {
        verdict(each_lane_ok(Family::Embedding, |_| {
            let mut r = Rng::new(seed);
            // Some batches past one and two blocks of distances (64 rows).
            let n = if opts & 4 != 0 {
                60 + rows as usize % 80
            } else {
                2 + rows as usize % 11
            };
            let dim = 1 + dim as usize % 40;
            let s = [0.0f32, 0.1, 0.3, 0.9][(opts % 4) as usize];
            let (x1, x2) = (r.vec(n * dim, -1.0, 1.0), r.vec(n * dim, -1.0, 1.0));
            let loss = Sdml::new(dim).unwrap().smoothing(s).unwrap();
            let (a, b) = (to64(&x1), to64(&x2));
            let (per_want, g1w, g2w) = reference::sdml(&a, &b, dim, f64::from(s));
            // The reference gradient is the derivative of its sum.
            let total = |a: &[f64], b: &[f64]| {
                reference::sdml(a, b, dim, f64::from(s))
                    .0
                    .iter()
                    .sum::<f64>()
            };
            for k in [0, n * dim - 1] {
                let mut v = a.clone();
                let d = fd(&mut v, k, &|v| total(v, &b));
                if (d - g1w[k]).abs() > 1e-5 * (1.0 + d.abs()) {
                    return Err(format!("reference x1 gradient {k}: {} vs fd {d}", g1w[k]));
                }
                let mut v = b.clone();
                let d = fd(&mut v, k, &|v| total(&a, v));
                if (d - g2w[k]).abs() > 1e-5 * (1.0 + d.abs()) {
                    return Err(format!("reference x2 gradient {k}: {} vs fd {d}", g2w[k]));
                }
            }
            let (mut per, mut g1, mut g2) = (
                vec![f32::NAN; n],
                vec![f32::NAN; n * dim],
                vec![f32::NAN; n * dim],
            );
            let sum = loss
                .per_sample_and_grad(
                    &x1,
                    &x2,
                    &mut per,
                    SdmlGrads {
                        x1: &mut g1,
                        x2: &mut g2,
                    },
                )
                .unwrap();
            let atol = 1e-5 * dim as f64;
            let sum_want: f64 = per_want.iter().sum();
            all_close("per_sample", &per, &per_want, 1e-5, atol)?;
            all_close("sum", &[sum], &[sum_want], 1e-5, atol * n as f64)?;
            all_close("grad x1", &g1, &g1w, 1e-4, 1e-5 * dim as f64)?;
            all_close("grad x2", &g2, &g2w, 1e-4, 1e-5 * dim as f64)?;
            let mean = loss.value(&x1, &x2, Reduction::Mean).unwrap();
            all_close("mean", &[mean], &[sum_want / n as f64], 1e-5, atol)?;
            let (mut h1, mut h2) = (vec![f32::NAN; n * dim], vec![f32::NAN; n * dim]);
            let v = loss
                .value_and_grad(
                    &x1,
                    &x2,
                    Reduction::Mean,
                    SdmlGrads {
                        x1: &mut h1,
                        x2: &mut h2,
                    },
                )
                .unwrap();
            all_close(
                "value_and_grad(mean)",
                &[v],
                &[sum_want / n as f64],
                1e-5,
                atol,
            )?;
            let g1m: Vec<f64> = g1w.iter().map(|g| g / n as f64).collect();
            all_close("grad x1 (mean)", &h1, &g1m, 1e-4, 1e-5 * dim as f64)?;
            let mut per2 = vec![f32::NAN; n];
            loss.per_sample(&x1, &x2, &mut per2).unwrap();
            all_close("per_sample only", &per2, &per_want, 1e-5, atol)?;
            Ok::<(), String>(())
        }))
    }
    QuickCheck::new()
        .tests(60)
        .quickcheck(prop as fn(u64, u8, u8, u8) -> TestResult);
}

// ---------------------------------------------------------------------------
// NaN propagation and errors.

#[test]
fn nan_propagates_through_every_new_loss() {
    each_lane(Family::Softmax, |_| {
        let mut x = vec![0.5f32; 12];
        x[4] = f32::NAN;
        let ce = SoftmaxCrossEntropy::new(2).unwrap().spatial(3).unwrap();
        let v = ce
            .value(&x, Labels::SparseI64(&[0, 1, 0, 1, 0, 1]), Reduction::Sum)
            .unwrap();
        assert!(v.is_nan(), "strided cross-entropy");
        let v = KlDivergence::new(3)
            .unwrap()
            .log_target(true)
            .value(&x, &[-1.0; 12], Reduction::Sum)
            .unwrap();
        assert!(v.is_nan(), "kl log_target");
        let v = MultilabelSoftMargin::new(3)
            .unwrap()
            .value(&x, &[0.5; 12], Reduction::Sum)
            .unwrap();
        assert!(v.is_nan(), "multilabel_soft_margin");
        for p in [1, 2] {
            let v = MultiMargin::new(3)
                .unwrap()
                .p(p)
                .unwrap()
                .value(&x, &[0u32, 0, 0, 0], Reduction::Sum)
                .unwrap();
            assert!(v.is_nan(), "multi_margin p={p}");
        }
        let t = [1i64, -1, 0, 1, -1, 0, 2, -1, 0, 0, -1, 0];
        let v = MultilabelMargin::new(3)
            .unwrap()
            .value(&x, &t, Reduction::Sum)
            .unwrap();
        assert!(v.is_nan(), "multilabel_margin");
    });
    each_lane(Family::Embedding, |_| {
        let mut x = vec![0.5f32; 6];
        x[4] = f32::NAN;
        let y = [0.25f32; 6];
        for norm in [1, 2] {
            for swap in [false, true] {
                let t = Triplet::new(3)
                    .unwrap()
                    .distance(Distance::p_norm(norm).unwrap())
                    .swap(swap);
                let mut out = [0.0f32; 2];
                t.per_sample(&x, &y, &y, &mut out).unwrap();
                assert!(
                    out[1].is_nan() && !out[0].is_nan(),
                    "triplet p={norm} swap={swap}"
                );
            }
        }
        let mut out = [0.0f32; 2];
        Sdml::new(3).unwrap().per_sample(&x, &y, &mut out).unwrap();
        assert!(out[1].is_nan(), "sdml");
    });
}

fn is_err<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) {
    assert!(r.is_err(), "{what}: expected an error, got {r:?}");
}

#[test]
fn malformed_inputs_are_errors() {
    let ce = SoftmaxCrossEntropy::new(2).unwrap();
    is_err(ce.spatial(0), "spatial 0");
    let ce3 = ce.spatial(3).unwrap();
    is_err(
        ce3.value(&[0.0; 5], Labels::SparseI64(&[0; 3]), Reduction::Sum),
        "logits not n×C×S",
    );
    is_err(
        ce3.value(&[0.0; 6], Labels::SparseI64(&[0; 2]), Reduction::Sum),
        "labels not n×S",
    );
    is_err(
        ce3.sample_weight(&[1.0; 2])
            .value(&[0.0; 6], Labels::SparseI64(&[0; 3]), Reduction::Sum),
        "sample weights not n×S",
    );
    let mut out = [0.0; 2];
    is_err(
        ce3.per_sample(&[0.0; 6], Labels::SparseI64(&[0; 3]), &mut out),
        "out not n×S",
    );
    // A negative label that is not the ignored index.
    let e = ce.value(&[0.0; 4], Labels::SparseI64(&[0, -100]), Reduction::Sum);
    assert!(
        matches!(
            e,
            Err(Error::OutOfRange {
                argument: "labels",
                index: Some(1),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(
        ce.ignore_index(Some(-100))
            .value(&[0.0; 4], Labels::SparseI64(&[0, -100]), Reduction::Sum)
            .is_ok()
    );
    is_err(MultiMargin::new(2).unwrap().p(0), "p = 0");
    is_err(
        MultiMargin::new(2).unwrap().margin(f32::INFINITY),
        "margin inf",
    );
    is_err(
        MultiMargin::new(2)
            .unwrap()
            .value(&[0.0; 2], &[2u32], Reduction::Sum),
        "label >= C",
    );
    is_err(
        MultiMargin::new(2)
            .unwrap()
            .value(&[0.0; 2], &[-1i64], Reduction::Sum),
        "label < 0",
    );
    is_err(
        MultiMargin::new(2)
            .unwrap()
            .value(&[0.0; 4], &[0u32], Reduction::Sum),
        "labels short",
    );
    is_err(
        MultiMargin::new(2)
            .unwrap()
            .class_weight(&[1.0])
            .value(&[0.0; 2], &[0u32], Reduction::Sum),
        "class weights short",
    );
    is_err(
        MultilabelMargin::new(2)
            .unwrap()
            .value(&[0.0; 2], &[2i64, -1], Reduction::Sum),
        "target >= C",
    );
    assert!(
        MultilabelMargin::new(2)
            .unwrap()
            .value(&[0.0; 2], &[1i64, -1], Reduction::Sum)
            .is_ok()
    );
    // Entries after the terminator are not read.
    assert!(
        MultilabelMargin::new(3)
            .unwrap()
            .value(&[0.0; 3], &[1i64, -1, 7], Reduction::Sum)
            .is_ok()
    );
    is_err(
        MultilabelMargin::new(2)
            .unwrap()
            .value(&[0.0; 2], &[0i64], Reduction::Sum),
        "targets short",
    );
    is_err(
        MultilabelSoftMargin::new(2)
            .unwrap()
            .value(&[0.0; 2], &[0.0], Reduction::Sum),
        "target short",
    );
    let mut g = [0.0; 3];
    is_err(
        MultilabelSoftMargin::new(2).unwrap().value_and_grad(
            &[0.0; 2],
            &[0.0; 2],
            Reduction::Sum,
            &mut g,
        ),
        "grad long",
    );
    is_err(MultilabelSoftMargin::new(0), "0 classes");
    is_err(Distance::p_norm(0), "p = 0");
    is_err(Triplet::new(2).unwrap().eps(f32::NAN), "eps NaN");
    is_err(Sdml::new(2).unwrap().smoothing(1.0), "smoothing 1");
    is_err(Sdml::new(2).unwrap().smoothing(-0.1), "smoothing < 0");
    is_err(
        Sdml::new(2)
            .unwrap()
            .value(&[0.0; 2], &[0.0; 2], Reduction::Sum),
        "one row",
    );
    is_err(
        Sdml::new(2)
            .unwrap()
            .value(&[0.0; 4], &[0.0; 2], Reduction::Sum),
        "x2 short",
    );
    is_err(Sdml::new(0), "dim 0");
}
