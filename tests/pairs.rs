#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Properties of the losses on two or three inputs (`pair::GaussianNll`,
//! `pair::MarginRanking`) against the float64 reference
//! (`loss_kernels_reference::pairs`), each at every lane width: lengths
//! `1..=3*LANES+1` in samples of several `dim` at several slice offsets
//! (every tail path), per-element and per-sample variances, weights, both
//! reductions; the reference against central finite differences; NaN
//! propagation; every malformed call an `Err`.

use crate::common;

use common::lanes::{Family, each_lane};
use common::rng::Rng;
use common::tolerance::close;
use loss_kernels::lane::Level;
use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::pairs::{self as reference, PairResult};

const WIDEST: usize = Level::Avx512.lanes();

/// One batch: three inputs (the third `var` or the labels), weights.
struct Batch {
    x: [Vec<f32>; 3],
    weight: Vec<f32>,
    weighted: bool,
    dim: usize,
}

impl Batch {
    fn f64s(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| x as f64).collect()
    }
    fn weight64(&self) -> Option<Vec<f64>> {
        self.weighted.then(|| Batch::f64s(&self.weight))
    }
    fn n(&self) -> usize {
        self.x[0].len() / self.dim
    }
}

/// Every output of one call signature, to compare with the reference.
struct Got {
    per: Vec<f32>,
    sum: f32,
    grad: [Vec<f32>; 2],
    mean: f32,
    grad_mean: [Vec<f32>; 2],
    per_only: Vec<f32>,
    value_sum: f32,
}

/// Checks `got` against `want` (per-sample, sums, both gradients).
fn check(ctx: &str, got: &Got, want: &PairResult, n: usize) -> Result<(), String> {
    for (i, (&g, (&r, &c))) in got
        .per
        .iter()
        .zip(want.per_sample.iter().zip(&want.per_sample_scale))
        .enumerate()
    {
        if !close(g, r, 0.0, 2e-5 * c + 2e-6) {
            return Err(format!("{ctx}: per_sample[{i}] = {g}, want {r}"));
        }
    }
    if got.per != got.per_only {
        return Err(format!(
            "{ctx}: per_sample differs from per_sample_and_grad"
        ));
    }
    let total: f64 = want.per_sample.iter().sum();
    let scale: f64 = want.per_sample_scale.iter().sum();
    for (what, v, div) in [
        ("sum", got.sum, 1.0),
        ("value(Sum)", got.value_sum, 1.0),
        ("value(Mean)", got.mean, n as f64),
    ] {
        if !close(v, total / div, 0.0, (2e-5 * scale + 2e-6) / div) {
            return Err(format!("{ctx}: {what} = {v}, want {}", total / div));
        }
    }
    for side in 0..2 {
        for (k, ((&g, &gm), (&r, &c))) in got.grad[side]
            .iter()
            .zip(&got.grad_mean[side])
            .zip(want.grad[side].iter().zip(&want.grad_scale[side]))
            .enumerate()
        {
            if !close(g, r, 0.0, 2e-5 * c + 1e-6) {
                return Err(format!("{ctx}: grad[{side}][{k}] = {g}, want {r}"));
            }
            let rm = r / n as f64;
            if !close(gm, rm, 0.0, (2e-5 * c + 1e-6) / n as f64) {
                return Err(format!("{ctx}: grad mean[{side}][{k}] = {gm}, want {rm}"));
            }
        }
    }
    Ok(())
}

fn gaussian_batch(
    rng: &mut Rng,
    n: usize,
    dim: usize,
    per_sample_var: bool,
    offset: usize,
    weighted: bool,
) -> Batch {
    let len = n * dim;
    let var_len = if per_sample_var { n } else { len };
    let take = |rng: &mut Rng, len: usize, lo: f64, hi: f64| -> Vec<f32> {
        // The data sits at `offset` inside a larger buffer.
        let buf: Vec<f32> = (0..len + offset).map(|_| rng.range(lo, hi)).collect();
        buf[offset..].to_vec()
    };
    let pred = take(rng, len, -3.0, 3.0);
    let target = take(rng, len, -3.0, 3.0);
    // Variances from below eps (clamped) to large.
    let mut var = take(rng, var_len, 0.0, 4.0);
    for v in var.iter_mut().step_by(5) {
        *v *= 1e-4;
    }
    Batch {
        x: [pred, target, var],
        weight: (0..n).map(|_| rng.range(0.0, 2.0)).collect(),
        weighted,
        dim,
    }
}

/// A pair loss's calls: `(per-sample out, both gradients, reduction) -> value`.
type Call<'a> = dyn Fn(Option<&mut [f32]>, Option<[&mut [f32]; 2]>, Reduction) -> f32 + 'a;

/// Every entry point of one loss on one batch (`grad_lens` the lengths of
/// its two gradients).
fn got(call: &Call<'_>, n: usize, grad_lens: [usize; 2]) -> Got {
    let fresh = || grad_lens.map(|l| vec![f32::NAN; l]);
    let (mut per, mut grad) = (vec![f32::NAN; n], fresh());
    let [g0, g1] = &mut grad;
    let sum = call(Some(&mut per), Some([g0, g1]), Reduction::Sum);
    let mut grad_mean = fresh();
    let [m0, m1] = &mut grad_mean;
    let mean = call(None, Some([m0, m1]), Reduction::Mean);
    let mut per_only = vec![f32::NAN; n];
    call(Some(&mut per_only), None, Reduction::Sum);
    let value_sum = call(None, None, Reduction::Sum);
    assert_eq!(
        call(None, None, Reduction::Mean).to_bits(),
        mean.to_bits(),
        "value(Mean) vs value_and_grad(Mean)"
    );
    Got {
        per,
        sum,
        grad,
        mean,
        grad_mean,
        per_only,
        value_sum,
    }
}

fn gaussian_got(loss: GaussianNll<'_>, b: &Batch) -> Got {
    let [p, t, v] = &b.x;
    let loss = if b.weighted {
        loss.sample_weight(&b.weight)
    } else {
        loss
    };
    let call = |out: Option<&mut [f32]>, g: Option<[&mut [f32]; 2]>, r: Reduction| {
        let grads = g.map(|[gp, gv]| GaussianGrads { pred: gp, var: gv });
        match (out, grads) {
            (Some(o), Some(g)) => loss.per_sample_and_grad(p, t, v, o, g),
            (Some(o), None) => loss.per_sample(p, t, v, o).map(|_| f32::NAN),
            (None, Some(g)) => loss.value_and_grad(p, t, v, r, g),
            (None, None) => loss.value(p, t, v, r),
        }
        .unwrap()
    };
    got(&call, b.n(), [p.len(), v.len()])
}

/// Gaussian NLL: every length and offset, both `var` layouts, `full`,
/// weights, at every lane width.
#[test]
fn gaussian_nll_matches_reference() {
    each_lane(Family::Pointwise, |width| {
        let mut rng = Rng::new(31);
        for dim in [1, 2, 3, WIDEST + 1] {
            for n in 1..=3 * WIDEST + 1 {
                for offset in [0, 1, 5] {
                    for (per_sample_var, weighted, full) in [
                        (false, false, false),
                        (false, true, true),
                        (true, false, true),
                        (true, true, false),
                    ] {
                        let eps = if n % 2 == 0 { 1e-6 } else { 0.01 };
                        let b = gaussian_batch(&mut rng, n, dim, per_sample_var, offset, weighted);
                        let loss = GaussianNll::new().full(full).eps(eps).unwrap().dim(dim);
                        let got = gaussian_got(loss, &b);
                        let [p, t, v] = &b.x;
                        let want = reference::gaussian_nll(
                            &Batch::f64s(p),
                            &Batch::f64s(t),
                            &Batch::f64s(v),
                            dim,
                            full,
                            eps as f64,
                            b.weight64().as_deref(),
                        );
                        let ctx = format!(
                            "{width} lanes, dim {dim}, n {n}, offset {offset}, per-sample var \
                             {per_sample_var}, weighted {weighted}, full {full}"
                        );
                        check(&ctx, &got, &want, n).unwrap();
                    }
                }
            }
        }
    });
}

fn ranking_batch(rng: &mut Rng, n: usize, dim: usize, offset: usize, weighted: bool) -> Batch {
    let len = n * dim;
    let take = |rng: &mut Rng, lo: f64, hi: f64| -> Vec<f32> {
        let buf: Vec<f32> = (0..len + offset).map(|_| rng.range(lo, hi)).collect();
        buf[offset..].to_vec()
    };
    let x1 = take(rng, -3.0, 3.0);
    let x2 = take(rng, -3.0, 3.0);
    let labels = (0..len)
        .map(|_| if rng.coin(0.5) { 1.0 } else { -1.0 })
        .collect();
    Batch {
        x: [x1, x2, labels],
        weight: (0..n).map(|_| rng.range(0.0, 2.0)).collect(),
        weighted,
        dim,
    }
}

fn ranking_got(loss: MarginRanking<'_>, b: &Batch) -> Got {
    let [x1, x2, t] = &b.x;
    let loss = if b.weighted {
        loss.sample_weight(&b.weight)
    } else {
        loss
    };
    let call = |out: Option<&mut [f32]>, g: Option<[&mut [f32]; 2]>, r: Reduction| {
        let grads = g.map(|[g1, g2]| RankingGrads { x1: g1, x2: g2 });
        match (out, grads) {
            (Some(o), Some(g)) => loss.per_sample_and_grad(x1, x2, t, o, g),
            (Some(o), None) => loss.per_sample(x1, x2, t, o).map(|_| f32::NAN),
            (None, Some(g)) => loss.value_and_grad(x1, x2, t, r, g),
            (None, None) => loss.value(x1, x2, t, r),
        }
        .unwrap()
    };
    got(&call, b.n(), [x1.len(), x1.len()])
}

/// Margin ranking: every length and offset, weights, several margins, at
/// every lane width; elements within rounding of the kink are moved off it
/// (both one-sided derivatives are valid there).
#[test]
fn margin_ranking_matches_reference() {
    each_lane(Family::Pointwise, |width| {
        let mut rng = Rng::new(37);
        for dim in [1, 2, 3, WIDEST + 1] {
            for n in 1..=3 * WIDEST + 1 {
                for offset in [0, 1, 5] {
                    for (weighted, margin) in [(false, 0.0f32), (true, 0.5), (true, -1.0)] {
                        let mut b = ranking_batch(&mut rng, n, dim, offset, weighted);
                        for k in 0..n * dim {
                            let [x1, x2, t] = &mut b.x;
                            let kink = reference::margin_ranking_kink(
                                x1[k] as f64,
                                x2[k] as f64,
                                t[k] as f64,
                                margin as f64,
                            );
                            if kink < 1e-5 {
                                x1[k] += 0.25;
                            }
                        }
                        let loss = MarginRanking::new(margin).unwrap().dim(dim);
                        let got = ranking_got(loss, &b);
                        let [x1, x2, t] = &b.x;
                        let want = reference::margin_ranking(
                            &Batch::f64s(x1),
                            &Batch::f64s(x2),
                            &Batch::f64s(t),
                            dim,
                            margin as f64,
                            b.weight64().as_deref(),
                        );
                        let ctx = format!(
                            "{width} lanes, dim {dim}, n {n}, offset {offset}, weighted {weighted}, margin {margin}"
                        );
                        check(&ctx, &got, &want, n).unwrap();
                    }
                }
            }
        }
    });
}

/// The references' gradients against central finite differences of their
/// values (both inputs, both `var` layouts): this validates the oracle.
#[test]
fn reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(41);
    let h = 1e-6;
    for per_sample_var in [false, true] {
        let b = gaussian_batch(&mut rng, 4, 3, per_sample_var, 0, true);
        let [p, t, v] = b.x.each_ref().map(|x| Batch::f64s(x));
        // Keep var above eps: the clamp's pass-through gradient is not the
        // derivative of the clamped value there (SPEC's stated exception).
        let v: Vec<f64> = v.iter().map(|x| x + 0.1).collect();
        let w = b.weight64();
        let run =
            |p: &[f64], v: &[f64]| reference::gaussian_nll(p, &t, v, 3, true, 1e-6, w.as_deref());
        let base = run(&p, &v);
        let total = |r: &PairResult| r.per_sample.iter().sum::<f64>();
        for k in 0..p.len() {
            let (mut up, mut down) = (p.clone(), p.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (total(&run(&up, &v)) - total(&run(&down, &v))) / (2.0 * h);
            assert!(close(base.grad[0][k], fd, 1e-5, 1e-7), "pred {k}");
        }
        for k in 0..v.len() {
            let (mut up, mut down) = (v.clone(), v.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (total(&run(&p, &up)) - total(&run(&p, &down))) / (2.0 * h);
            assert!(close(base.grad[1][k], fd, 1e-4, 1e-6), "var {k}");
        }
    }
    let b = ranking_batch(&mut rng, 5, 2, 0, true);
    let [x1, x2, t] = b.x.each_ref().map(|x| Batch::f64s(x));
    let w = b.weight64();
    let run = |x1: &[f64], x2: &[f64]| reference::margin_ranking(x1, x2, &t, 2, 0.3, w.as_deref());
    let base = run(&x1, &x2);
    let total = |r: &PairResult| r.per_sample.iter().sum::<f64>();
    for k in 0..x1.len() {
        if reference::margin_ranking_kink(x1[k], x2[k], t[k], 0.3) < 1e-4 {
            continue;
        }
        for side in 0..2 {
            let bump = |d: f64| {
                let (mut a, mut c) = (x1.clone(), x2.clone());
                if side == 0 {
                    a[k] += d
                } else {
                    c[k] += d
                }
                total(&run(&a, &c))
            };
            let fd = (bump(h) - bump(-h)) / (2.0 * h);
            assert!(
                close(base.grad[side][k], fd, 1e-5, 1e-7),
                "side {side} k {k}"
            );
        }
    }
}

/// The crate's gradients against central finite differences of the
/// float64 reference's `Mean`, at every lane width.
#[test]
fn crate_gradients_match_finite_differences() {
    each_lane(Family::Pointwise, |lanes| {
        let mut rng = Rng::new(43);
        let h = 1e-6;
        for per_sample_var in [false, true] {
            let mut b = gaussian_batch(&mut rng, 3, 2, per_sample_var, 0, true);
            for v in &mut b.x[2] {
                *v += 0.1;
            }
            let got = gaussian_got(GaussianNll::new().dim(2), &b);
            let [p, t, v] = b.x.each_ref().map(|x| Batch::f64s(x));
            let w = b.weight64();
            let mean = |p: &[f64], v: &[f64]| {
                let r = reference::gaussian_nll(p, &t, v, 2, false, 1e-6, w.as_deref());
                r.per_sample.iter().sum::<f64>() / 3.0
            };
            for k in 0..p.len() {
                let (mut up, mut down) = (p.clone(), p.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (mean(&up, &v) - mean(&down, &v)) / (2.0 * h);
                let g = got.grad_mean[0][k];
                assert!(
                    close(g, fd, 1e-4, 1e-5),
                    "{lanes} lanes: pred {k}: {g} vs {fd}"
                );
            }
            for k in 0..v.len() {
                let (mut up, mut down) = (v.clone(), v.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (mean(&p, &up) - mean(&p, &down)) / (2.0 * h);
                let g = got.grad_mean[1][k];
                assert!(
                    close(g, fd, 1e-3, 1e-5),
                    "{lanes} lanes: var {k}: {g} vs {fd}"
                );
            }
        }
    });
}

/// Below `eps` the variance gradient is the pass-through one, as PyTorch's:
/// `0.5 (1/eps - s²/eps²)`, not 0.
#[test]
fn gaussian_var_gradient_passes_the_clamp() {
    each_lane(Family::Pointwise, |lanes| {
        let (mut gp, mut gv) = ([0.0f32; 1], [0.0f32; 1]);
        let loss = GaussianNll::new().eps(0.5).unwrap();
        loss.value_and_grad(
            &[1.0],
            &[0.0],
            &[0.1],
            Reduction::Sum,
            GaussianGrads {
                pred: &mut gp,
                var: &mut gv,
            },
        )
        .unwrap();
        // v = 0.5: d/dpred = 2, d/dvar = 0.5 (2 - 4) = -1
        assert_eq!((gp, gv), ([2.0], [-1.0]), "{lanes} lanes");
    });
}

/// NaN in any input propagates into the value and the gradients.
#[test]
fn nan_propagates() {
    each_lane(Family::Pointwise, |lanes| {
        for which in 0..3 {
            let mut x = [vec![0.5f32; 19], vec![0.25f32; 19], vec![1.0f32; 19]];
            x[which][17] = f32::NAN;
            let [a, b, c] = &x;
            let (mut g0, mut g1) = (vec![0.0f32; 19], vec![0.0f32; 19]);
            let v = GaussianNll::new()
                .value_and_grad(
                    a,
                    b,
                    c,
                    Reduction::Sum,
                    GaussianGrads {
                        pred: &mut g0,
                        var: &mut g1,
                    },
                )
                .unwrap();
            assert!(
                v.is_nan() && g0[17].is_nan() && g1[17].is_nan(),
                "{lanes} lanes, gaussian input {which}"
            );
            // x1 = 0.5, x2 = 0.25, t = 1: margin 1 keeps every element active.
            let v = MarginRanking::new(1.0)
                .unwrap()
                .value_and_grad(
                    a,
                    b,
                    c,
                    Reduction::Sum,
                    RankingGrads {
                        x1: &mut g0,
                        x2: &mut g1,
                    },
                )
                .unwrap();
            assert!(
                v.is_nan() && g0[17].is_nan() && g1[17].is_nan(),
                "{lanes} lanes, ranking input {which}"
            );
        }
    });
}

/// Every malformed call is an `Err` naming the argument.
#[test]
fn malformed_inputs_are_errors() {
    let x = [0.5f32; 6];
    let (mut g0, mut g1, mut out) = ([0.0f32; 6], [0.0f32; 6], [0.0f32; 6]);
    assert!(matches!(
        MarginRanking::new(f32::INFINITY),
        Err(Error::InvalidParameter {
            argument: "margin",
            ..
        })
    ));
    assert!(matches!(
        GaussianNll::new().eps(-1.0),
        Err(Error::InvalidParameter {
            argument: "eps",
            ..
        })
    ));
    assert!(GaussianNll::new().eps(f32::NAN).is_err());
    let g = GaussianNll::new();
    assert_eq!(
        g.value(&x, &x, &[1.0, -1.0, 1.0, 1.0, 1.0, 1.0], Reduction::Sum)
            .map_err(|e| matches!(
                e,
                Error::InvalidParameter {
                    argument: "var",
                    ..
                }
            )),
        Err(true)
    );
    assert_eq!(
        g.value(&[], &[], &[], Reduction::Sum),
        Err(Error::EmptyBatch { argument: "pred" })
    );
    assert_eq!(
        g.value(&x, &x[..5], &x, Reduction::Sum),
        Err(Error::LengthMismatch {
            argument: "target",
            expected: 6,
            found: 5
        })
    );
    // var: n·dim or n values; dim = 3 gives 6 or 2.
    assert_eq!(
        g.dim(3).value(&x, &x, &x[..3], Reduction::Sum),
        Err(Error::LengthMismatch {
            argument: "var",
            expected: 6,
            found: 3
        })
    );
    assert!(g.dim(3).value(&x, &x, &x[..2], Reduction::Sum).is_ok());
    assert_eq!(
        g.dim(0).value(&x, &x, &x, Reduction::Sum),
        Err(Error::ZeroSize { argument: "dim" })
    );
    assert_eq!(
        g.dim(4).value(&x, &x, &x, Reduction::Sum),
        Err(Error::NotDivisible {
            argument: "pred",
            length: 6,
            divisor: 4
        })
    );
    assert_eq!(
        g.sample_weight(&[1.0]).value(&x, &x, &x, Reduction::Sum),
        Err(Error::LengthMismatch {
            argument: "sample_weight",
            expected: 6,
            found: 1
        })
    );
    assert_eq!(
        g.per_sample(&x, &x, &x, &mut out[..5]),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        g.value_and_grad(
            &x,
            &x,
            &x,
            Reduction::Sum,
            GaussianGrads {
                pred: &mut g0[..5],
                var: &mut g1
            }
        ),
        Err(Error::LengthMismatch {
            argument: "grad.pred",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        g.dim(3).per_sample_and_grad(
            &x,
            &x,
            &x[..2],
            &mut out[..2],
            GaussianGrads {
                pred: &mut g0,
                var: &mut g1
            }
        ),
        Err(Error::LengthMismatch {
            argument: "grad.var",
            expected: 2,
            found: 6
        })
    );
    let m = MarginRanking::new(0.0).unwrap();
    assert_eq!(
        m.value(&x, &x[..5], &x, Reduction::Sum),
        Err(Error::LengthMismatch {
            argument: "x2",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        m.value(&x, &x, &x[..4], Reduction::Sum),
        Err(Error::LengthMismatch {
            argument: "labels",
            expected: 6,
            found: 4
        })
    );
    assert_eq!(
        m.dim(0).per_sample(&x, &x, &x, &mut out),
        Err(Error::ZeroSize { argument: "dim" })
    );
    assert_eq!(
        m.value_and_grad(
            &x,
            &x,
            &x,
            Reduction::Mean,
            RankingGrads {
                x1: &mut g0,
                x2: &mut g1[..2]
            }
        ),
        Err(Error::LengthMismatch {
            argument: "grad.x2",
            expected: 6,
            found: 2
        })
    );
    assert_eq!(
        m.dim(2).per_sample_and_grad(
            &x,
            &x,
            &x,
            &mut out,
            RankingGrads {
                x1: &mut g0,
                x2: &mut g1
            }
        ),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 3,
            found: 6
        })
    );
    assert_eq!(
        m.dim(2)
            .sample_weight(&[1.0])
            .value(&x, &x, &x, Reduction::Mean),
        Err(Error::LengthMismatch {
            argument: "sample_weight",
            expected: 3,
            found: 1
        })
    );
}
