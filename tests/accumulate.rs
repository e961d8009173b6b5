#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Accumulating and scaled gradients (SPEC Part 2, "Reductions and
//! composition"): every family's `value_and_accumulate_grad` adds `scale ·
//! ∂L` to a gradient that already holds values, returns the loss unscaled
//! (the same bits as `value_and_grad`), and matches overwrite-then-add
//! computed separately and the float64 reference's gradient; every
//! family's `value_and_scaled_grad` writes `scale · ∂L` over a NaN-filled
//! gradient (every entry written, the same value bits); at every level, over
//! the options and layouts of each family (tails, blocks of the sweep,
//! narrow and wide rows, ignored rows, steps past an input length,
//! infeasible sequences).

use crate::common;

use common::lanes::{Family, each_lane};
use common::rng::Rng;
use common::tolerance::close;
use loss_kernels::ctc::{self, Activations, Ctc, Dims};
use loss_kernels::embedding::{
    CosineEmbedding, CosineGrads, Distance, Sdml, SdmlGrads, Triplet, TripletGrads,
};
use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
use loss_kernels::pointwise::{self, Labels as Signs};
use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::ctc::Batch;
use loss_kernels_reference::pointwise::{self as reference, Pointwise as Loss};

const SCALE: f32 = 0.37;

/// `got == before + scale · grad` within a few roundings of the terms.
fn accumulated(what: &str, got: &[f32], before: &[f32], grad: &[f32]) {
    accumulated_sums(what, got, before, grad, 0);
}

/// [`accumulated`] for a gradient whose entries are sums of up to `terms`
/// contributions added into the caller's slice one by one (the margin
/// family's per-target passes, SDML's pairs): each addition rounds at the
/// size of the running entry, so the roundings of up to `terms` additions
/// at the scale of `before` and the gradient are allowed besides.
fn accumulated_sums(what: &str, got: &[f32], before: &[f32], grad: &[f32], terms: usize) {
    assert_eq!(got.len(), before.len());
    let largest = grad.iter().fold(0.0f64, |m, &d| m.max(f64::from(d).abs()));
    let eps = f64::from(f32::EPSILON);
    for (k, ((&g, &b), &d)) in got.iter().zip(before).zip(grad).enumerate() {
        let want = f64::from(b) + f64::from(SCALE) * f64::from(d);
        let size = f64::from(b).abs() + f64::from(SCALE * d).abs();
        let running = f64::from(b).abs() + f64::from(SCALE) * largest;
        let tol = 4.0 * eps * size + terms as f64 * eps * running + 1e-30;
        assert!(
            (f64::from(g) - want).abs() <= tol,
            "{what}[{k}]: {g:e}, want {b:e} + {SCALE} · {d:e} = {want:e} (tolerance {tol:e})"
        );
    }
}

/// `got == before + scale · want` (the float64 reference's gradient).
fn against_reference(what: &str, got: &[f32], before: &[f32], want: &[f64], rtol: f64, atol: f64) {
    for (k, ((&g, &b), &w)) in got.iter().zip(before).zip(want).enumerate() {
        let want = f64::from(b) + f64::from(SCALE) * w;
        assert!(
            close(g, want, rtol, atol),
            "{what}[{k}]: {g:e}, want {want:e} (float64 reference)"
        );
    }
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

#[test]
fn pointwise_accumulates() {
    let mut rng = Rng::new(1);
    // 37: a tail at every width; 4099: past the sweep's first block.
    for n in [37, 4099] {
        for (loss, dim) in [
            (Loss::L2, 1),
            (Loss::Huber { rho: 0.5 }, 3),
            (Loss::Logistic { binary: true }, 1),
        ] {
            let len = n * dim;
            let pred = rng.vec(len, -2.0, 2.0);
            let target: Vec<f32> = (0..len)
                .map(|_| if rng.coin(0.5) { 1.0 } else { 0.0 })
                .collect();
            let weight = rng.vec(n, 0.0, 2.0);
            let before = rng.vec(len, -1.0, 1.0);
            for weighted in [false, true] {
                for reduction in [Reduction::Sum, Reduction::Mean] {
                    each_lane(Family::Pointwise, |lanes| {
                        let what = format!(
                            "{loss:?} n {n} dim {dim} weighted {weighted} {reduction:?} at {lanes} lanes"
                        );
                        let ((value, grad, got, v_acc), (scaled_grad, v_scaled)) = match loss {
                            Loss::L2 => run_pointwise(
                                pointwise::L2::new(),
                                dim,
                                weighted.then_some(&weight[..]),
                                &pred,
                                &target,
                                reduction,
                                &before,
                            ),
                            Loss::Huber { rho } => run_pointwise(
                                pointwise::Huber::new(rho).unwrap(),
                                dim,
                                weighted.then_some(&weight[..]),
                                &pred,
                                &target,
                                reduction,
                                &before,
                            ),
                            _ => run_pointwise(
                                pointwise::Logistic::new(Signs::Binary),
                                dim,
                                weighted.then_some(&weight[..]),
                                &pred,
                                &target,
                                reduction,
                                &before,
                            ),
                        };
                        assert_eq!(
                            value.to_bits(),
                            v_acc.to_bits(),
                            "{what}: the value changed"
                        );
                        assert_eq!(value.to_bits(), v_scaled.to_bits(), "{what}: scaled value");
                        accumulated(&what, &got, &before, &grad);
                        scaled(&what, &scaled_grad, &grad);
                        let w64 = f64s(&weight);
                        let want = reference::gradient(
                            loss,
                            &f64s(&pred),
                            &f64s(&target),
                            dim,
                            weighted.then_some(&w64[..]),
                            reduction == Reduction::Mean,
                        );
                        against_reference(&what, &got, &before, &want, 2e-5, 1e-6);
                    });
                }
            }
        }
    }
}

/// `value_and_grad`'s value and gradient, and the accumulated gradient
/// and value of `value_and_accumulate_grad`.
type Calls = (f32, Vec<f32>, Vec<f32>, f32);

/// `(value, gradient)` of `value_and_grad` and `(accumulated gradient,
/// value)` of `value_and_accumulate_grad` on a copy of `before`; and
/// `(gradient, value)` of `value_and_scaled_grad`.
fn run_pointwise<F: pointwise::ElementLoss>(
    loss: pointwise::Pointwise<'static, F>,
    dim: usize,
    weight: Option<&[f32]>,
    pred: &[f32],
    target: &[f32],
    reduction: Reduction,
    before: &[f32],
) -> (Calls, (Vec<f32>, f32)) {
    let loss = loss.dim(dim);
    let loss = match weight {
        Some(w) => loss.sample_weight(w),
        None => loss,
    };
    let mut grad = vec![f32::NAN; pred.len()];
    let mut got = before.to_vec();
    let mut scaled = vec![f32::NAN; pred.len()];
    let value = loss
        .value_and_grad(pred, target, reduction, &mut grad)
        .unwrap();
    let v_acc = loss
        .value_and_accumulate_grad(pred, target, reduction, SCALE, &mut got)
        .unwrap();
    let v_scaled = loss
        .value_and_scaled_grad(pred, target, reduction, SCALE, &mut scaled)
        .unwrap();
    ((value, grad, got, v_acc), (scaled, v_scaled))
}

#[test]
fn cross_entropy_and_kl_accumulate() {
    let mut rng = Rng::new(2);
    // 3 classes: the transposed blocks (and leftover rows); 40: the row kernel.
    for classes in [3, 40] {
        let rows = 37;
        let logits = rng.vec(rows * classes, -4.0, 4.0);
        let before = rng.vec(rows * classes, -1.0, 1.0);
        let labels: Vec<u32> = (0..rows)
            .map(|_| {
                if rng.coin(0.2) {
                    99
                } else {
                    rng.below(classes) as u32
                }
            })
            .collect();
        let class_weight = rng.vec(classes, 0.5, 2.0);
        let sample_weight = rng.vec(rows, 0.0, 2.0);
        let mut probs = rng.vec(rows * classes, 0.0, 1.0);
        for row in probs.chunks_mut(classes) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        let log_probs: Vec<f32> = logits
            .chunks(classes)
            .flat_map(|row| {
                let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let l = m + row.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
                row.iter().map(move |v| v - l).collect::<Vec<_>>()
            })
            .collect();
        let base = SoftmaxCrossEntropy::new(classes)
            .unwrap()
            .ignore_index(Some(99));
        let cases: Vec<(&str, SoftmaxCrossEntropy<'_>, Labels<'_>, &[f32])> = vec![
            ("one-hot", base, Labels::Sparse(&labels), &logits),
            (
                "one-hot, class and sample weights",
                base.class_weight(&class_weight)
                    .sample_weight(&sample_weight),
                Labels::Sparse(&labels),
                &logits,
            ),
            (
                "smoothed",
                base.label_smoothing(0.1).unwrap(),
                Labels::Sparse(&labels),
                &logits,
            ),
            (
                "smoothed, class weights",
                base.label_smoothing(0.2)
                    .unwrap()
                    .class_weight(&class_weight),
                Labels::Sparse(&labels),
                &logits,
            ),
            ("dense", base, Labels::Dense(&probs), &logits),
            (
                "dense, class weights",
                base.class_weight(&class_weight),
                Labels::Dense(&probs),
                &logits,
            ),
            (
                "log-probabilities",
                base.input(Input::LogProbs),
                Labels::Sparse(&labels),
                &log_probs,
            ),
        ];
        for (name, ce, labels, x) in &cases {
            for reduction in [Reduction::Sum, Reduction::Mean] {
                each_lane(Family::Softmax, |lanes| {
                    let what = format!(
                        "cross-entropy {name}, {classes} classes, {reduction:?}, {lanes} lanes"
                    );
                    let mut grad = vec![f32::NAN; x.len()];
                    let v = ce.value_and_grad(x, *labels, reduction, &mut grad).unwrap();
                    let mut got = before.clone();
                    let v_acc = ce
                        .value_and_accumulate_grad(x, *labels, reduction, SCALE, &mut got)
                        .unwrap();
                    assert_eq!(v.to_bits(), v_acc.to_bits(), "{what}: the value changed");
                    accumulated(&what, &got, &before, &grad);
                    let mut s = vec![f32::NAN; x.len()];
                    let v_s = ce
                        .value_and_scaled_grad(x, *labels, reduction, SCALE, &mut s)
                        .unwrap();
                    assert_eq!(v.to_bits(), v_s.to_bits(), "{what}: scaled value");
                    scaled(&what, &s, &grad);
                    // Ignored rows add exactly nothing.
                    if let Labels::Sparse(y) = labels {
                        for (i, &label) in y.iter().enumerate() {
                            if label == 99 {
                                let r = i * classes..(i + 1) * classes;
                                assert_eq!(got[r.clone()], before[r], "{what}: ignored row {i}");
                            }
                        }
                    }
                });
            }
        }
        for (name, kl, x) in [
            (
                "KL, log-probabilities",
                KlDivergence::new(classes).unwrap(),
                &log_probs,
            ),
            (
                "KL, logits, sample weights",
                KlDivergence::new(classes)
                    .unwrap()
                    .input(Input::Logits)
                    .sample_weight(&sample_weight),
                &logits,
            ),
        ] {
            each_lane(Family::Softmax, |lanes| {
                let what = format!("{name}, {classes} classes, {lanes} lanes");
                let mut grad = vec![f32::NAN; x.len()];
                let v = kl
                    .value_and_grad(x, &probs, Reduction::Mean, &mut grad)
                    .unwrap();
                let mut got = before.clone();
                let v_acc = kl
                    .value_and_accumulate_grad(x, &probs, Reduction::Mean, SCALE, &mut got)
                    .unwrap();
                assert_eq!(v.to_bits(), v_acc.to_bits(), "{what}: the value changed");
                accumulated(&what, &got, &before, &grad);
                let mut s = vec![f32::NAN; x.len()];
                let v_s = kl
                    .value_and_scaled_grad(x, &probs, Reduction::Mean, SCALE, &mut s)
                    .unwrap();
                assert_eq!(v.to_bits(), v_s.to_bits(), "{what}: scaled value");
                scaled(&what, &s, &grad);
            });
        }
        // The float64 reference: one-hot rows, Sum, x · softmax - onehot.
        each_lane(Family::Softmax, |lanes| {
            let mut got = before.clone();
            base.value_and_accumulate_grad(
                &logits,
                Labels::Sparse(&labels),
                Reduction::Sum,
                SCALE,
                &mut got,
            )
            .unwrap();
            let mut want = vec![0.0f64; logits.len()];
            for (i, row) in logits.chunks(classes).enumerate() {
                if labels[i] == 99 {
                    continue;
                }
                let mut w = vec![0.0; classes];
                w[labels[i] as usize] = 1.0;
                let r = loss_kernels_reference::rows::softmax_cross_entropy(&f64s(row), &w, false);
                want[i * classes..(i + 1) * classes].copy_from_slice(&r.grad);
            }
            against_reference(
                &format!("cross-entropy, {classes} classes, {lanes} lanes"),
                &got,
                &before,
                &want,
                0.0,
                1e-6,
            );
        });
    }
}

#[test]
fn embeddings_accumulate() {
    let mut rng = Rng::new(3);
    for dim in [5, 33] {
        let rows = 19;
        let len = rows * dim;
        let (a, p, n) = (
            rng.vec(len, -1.0, 1.0),
            rng.vec(len, -1.0, 1.0),
            rng.vec(len, -1.0, 1.0),
        );
        let weight = rng.vec(rows, 0.0, 2.0);
        let before: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(len, -1.0, 1.0)).collect();
        let signs: Vec<f32> = (0..rows)
            .map(|_| if rng.coin(0.5) { 1.0 } else { -1.0 })
            .collect();
        for distance in [Distance::Squared, Distance::Euclidean] {
            let triplet = Triplet::new(dim)
                .unwrap()
                .margin(0.5)
                .unwrap()
                .distance(distance)
                .sample_weight(&weight);
            each_lane(Family::Embedding, |lanes| {
                let what = format!("triplet {distance:?}, dim {dim}, {lanes} lanes");
                let mut g: Vec<Vec<f32>> = vec![vec![f32::NAN; len]; 3];
                let [ga, gp, gn] = &mut g[..] else {
                    unreachable!()
                };
                let grads = TripletGrads {
                    anchor: ga,
                    positive: gp,
                    negative: gn,
                };
                let v = triplet
                    .value_and_grad(&a, &p, &n, Reduction::Mean, grads)
                    .unwrap();
                let mut got = before.clone();
                let [ha, hp, hn] = &mut got[..] else {
                    unreachable!()
                };
                let grads = TripletGrads {
                    anchor: ha,
                    positive: hp,
                    negative: hn,
                };
                let v_acc = triplet
                    .value_and_accumulate_grad(&a, &p, &n, Reduction::Mean, SCALE, grads)
                    .unwrap();
                assert_eq!(v.to_bits(), v_acc.to_bits(), "{what}: the value changed");
                for k in 0..3 {
                    accumulated(&what, &got[k], &before[k], &g[k]);
                }
                let mut s: Vec<Vec<f32>> = vec![vec![f32::NAN; len]; 3];
                let [sa, sp, sn] = &mut s[..] else {
                    unreachable!()
                };
                let grads = TripletGrads {
                    anchor: sa,
                    positive: sp,
                    negative: sn,
                };
                let v_s = triplet
                    .value_and_scaled_grad(&a, &p, &n, Reduction::Mean, SCALE, grads)
                    .unwrap();
                assert_eq!(v.to_bits(), v_s.to_bits(), "{what}: scaled value");
                for k in 0..3 {
                    scaled(&what, &s[k], &g[k]);
                }
            });
        }
        let cosine = CosineEmbedding::new(dim)
            .unwrap()
            .margin(0.1)
            .unwrap()
            .sample_weight(&weight);
        each_lane(Family::Embedding, |lanes| {
            let what = format!("cosine, dim {dim}, {lanes} lanes");
            let (mut g1, mut g2) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            let grads = CosineGrads {
                x1: &mut g1,
                x2: &mut g2,
            };
            let v = cosine
                .value_and_grad(&a, &p, &signs, Reduction::Sum, grads)
                .unwrap();
            let (mut h1, mut h2) = (before[0].clone(), before[1].clone());
            let grads = CosineGrads {
                x1: &mut h1,
                x2: &mut h2,
            };
            let v_acc = cosine
                .value_and_accumulate_grad(&a, &p, &signs, Reduction::Sum, SCALE, grads)
                .unwrap();
            assert_eq!(v.to_bits(), v_acc.to_bits(), "{what}: the value changed");
            accumulated(&what, &h1, &before[0], &g1);
            accumulated(&what, &h2, &before[1], &g2);
            let (mut s1, mut s2) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            let grads = CosineGrads {
                x1: &mut s1,
                x2: &mut s2,
            };
            let v_s = cosine
                .value_and_scaled_grad(&a, &p, &signs, Reduction::Sum, SCALE, grads)
                .unwrap();
            assert_eq!(v.to_bits(), v_s.to_bits(), "{what}: scaled value");
            scaled(&what, &s1, &g1);
            scaled(&what, &s2, &g2);
        });
    }
}

#[test]
fn ctc_accumulates() {
    let mut rng = Rng::new(4);
    let (t, n, c) = (12, 4, 7);
    // Sequence 2 is shorter than T; sequence 3 is infeasible ([1, 1, 1]
    // needs 5 steps).
    let input_lengths = [12u32, 9, 7, 4];
    let labels: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![4, 4], vec![], vec![1, 1, 1]];
    let lengths: Vec<u32> = labels.iter().map(|l| l.len() as u32).collect();
    let flat: Vec<u32> = labels.concat();
    for batch_major in [false, true] {
        for logits in [true, false] {
            let data = rng.vec(t * n * c, -3.0, 3.0);
            let before = rng.vec(t * n * c, -1.0, 1.0);
            let dims = Dims {
                steps: t,
                batch: n,
                classes: c,
            };
            let acts = if batch_major {
                Activations::batch_major(&data, dims, &input_lengths)
            } else {
                Activations::time_major(&data, dims, &input_lengths)
            };
            let l = ctc::Labels::Concatenated {
                labels: &flat,
                lengths: &lengths,
            };
            let input = if logits {
                ctc::Input::Logits
            } else {
                ctc::Input::LogProbs
            };
            let loss = Ctc::new(0).input(input);
            let reference = Batch {
                t,
                n,
                c,
                batch_major,
                data: data.clone(),
                input_lengths: input_lengths.to_vec(),
                labels: labels.clone(),
                blank: 0,
                logits,
                zero_infinity: false,
            }
            .expect();
            let mut workspace = vec![0.0; ctc::workspace_len(t, 3)];
            each_lane(Family::Ctc, |lanes| {
                let what = format!("CTC batch-major {batch_major} logits {logits}, {lanes} lanes");
                let mut grad = vec![f32::NAN; data.len()];
                let v = loss
                    .value_and_grad(&acts, &l, Reduction::Mean, &mut workspace, &mut grad)
                    .unwrap();
                let mut got = before.clone();
                let v_acc = loss
                    .value_and_accumulate_grad(
                        &acts,
                        &l,
                        Reduction::Mean,
                        &mut workspace,
                        SCALE,
                        &mut got,
                    )
                    .unwrap();
                assert_eq!(v.to_bits(), v_acc.to_bits(), "{what}: the value changed");
                accumulated(&what, &got, &before, &grad);
                against_reference(&what, &got, &before, &reference.grad_mean, 0.0, 2e-6);
                // Scaled: every entry written (zeros past the input lengths
                // and for the infeasible sequence).
                let mut s = vec![f32::NAN; data.len()];
                let v_s = loss
                    .value_and_scaled_grad(
                        &acts,
                        &l,
                        Reduction::Mean,
                        &mut workspace,
                        SCALE,
                        &mut s,
                    )
                    .unwrap();
                assert_eq!(v.to_bits(), v_s.to_bits(), "{what}: scaled value");
                scaled(&what, &s, &grad);
                // The infeasible sequence and the steps past each input
                // length add exactly nothing.
                for (i, &len) in input_lengths.iter().enumerate() {
                    let from = if i == 3 { 0 } else { len as usize };
                    for step in from..t {
                        for k in 0..c {
                            let at = reference_index(batch_major, t, n, c, i, step, k);
                            assert_eq!(got[at], before[at], "{what}: sequence {i} step {step}");
                        }
                    }
                }
            });
        }
    }
}

fn reference_index(
    batch_major: bool,
    t: usize,
    n: usize,
    c: usize,
    i: usize,
    step: usize,
    k: usize,
) -> usize {
    if batch_major {
        (i * t + step) * c + k
    } else {
        (step * n + i) * c + k
    }
}

#[test]
fn scale_must_be_finite() {
    let mut grad = [0.0; 2];
    let err = pointwise::L2::new()
        .value_and_accumulate_grad(
            &[1.0, 2.0],
            &[0.0, 0.0],
            Reduction::Sum,
            f32::NAN,
            &mut grad,
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidParameter {
            argument: "scale",
            expected: "finite"
        }
    );
    let err = SoftmaxCrossEntropy::new(2)
        .unwrap()
        .value_and_accumulate_grad(
            &[1.0, 2.0],
            Labels::Sparse(&[0]),
            Reduction::Sum,
            f32::INFINITY,
            &mut grad,
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidParameter {
            argument: "scale",
            expected: "finite"
        }
    );
    assert_eq!(grad, [0.0; 2], "nothing is written on an error");
    let errs = [
        pointwise::L2::new().value_and_scaled_grad(
            &[1.0, 2.0],
            &[0.0, 0.0],
            Reduction::Sum,
            f32::NAN,
            &mut grad,
        ),
        SoftmaxCrossEntropy::new(2).unwrap().value_and_scaled_grad(
            &[1.0, 2.0],
            Labels::Sparse(&[0]),
            Reduction::Sum,
            f32::NEG_INFINITY,
            &mut grad,
        ),
    ];
    for err in errs {
        assert_eq!(
            err,
            Err(Error::InvalidParameter {
                argument: "scale",
                expected: "finite"
            })
        );
    }
    assert_eq!(grad, [0.0; 2], "nothing is written on an error");
}

/// Which gradient entry point a test's closure calls.
#[derive(Clone, Copy)]
enum Call {
    /// `value_and_grad`.
    Grad,
    /// `value_and_accumulate_grad` with this scale.
    Accumulate(f32),
    /// `value_and_scaled_grad` with this scale.
    Scaled(f32),
}

/// One loss's calls on `G` gradients: `run(Call::Grad, grads)` is its
/// `value_and_grad`, `run(Call::Accumulate(scale), grads)` its
/// `value_and_accumulate_grad`, `run(Call::Scaled(scale), grads)` its
/// `value_and_scaled_grad`. Checks, at every level: the accumulated
/// gradients are `before + SCALE · ∂L` (the overwriting call's, into
/// NaN-filled slices) and the scaled ones `SCALE · ∂L` (into NaN-filled
/// slices: every entry written), the values have the same bits, and `scale
/// = NaN` is the `scale` error with nothing written, in both.
fn accumulates<const G: usize>(
    (family, terms): (Family, usize),
    what: &str,
    before: &[Vec<f32>; G],
    run: impl Fn(Call, [&mut [f32]; G]) -> Result<f32, Error>,
) {
    each_lane(family, |lanes| {
        let what = format!("{what}, {lanes} lanes");
        let nan = before.clone().map(|g| vec![f32::NAN; g.len()]);
        let mut grad = nan.clone();
        let v = run(Call::Grad, grad.each_mut().map(|g| &mut g[..])).unwrap();
        let mut got = before.clone();
        let v_acc = run(Call::Accumulate(SCALE), got.each_mut().map(|g| &mut g[..])).unwrap();
        assert_eq!(v.to_bits(), v_acc.to_bits(), "{what}: the value changed");
        let mut scaled = nan.clone();
        let v_scaled = run(Call::Scaled(SCALE), scaled.each_mut().map(|g| &mut g[..])).unwrap();
        assert_eq!(
            v.to_bits(),
            v_scaled.to_bits(),
            "{what}: the scaled call's value changed"
        );
        for k in 0..G {
            let what = format!("{what}, gradient {k}");
            accumulated_sums(&what, &got[k], &before[k], &grad[k], terms);
            let zeros = vec![0.0; grad[k].len()];
            let what = format!("{what}, scaled");
            accumulated_sums(&what, &scaled[k], &zeros, &grad[k], terms.max(SCALED_TERMS));
        }
        for call in [Call::Accumulate(f32::NAN), Call::Scaled(f32::INFINITY)] {
            let mut bad = before.clone();
            let err = run(call, bad.each_mut().map(|g| &mut g[..])).unwrap_err();
            assert_eq!(
                err,
                Error::InvalidParameter {
                    argument: "scale",
                    expected: "finite"
                },
                "{what}"
            );
            assert_eq!(&bad, before, "{what}: written on an error");
        }
    });
}

/// The roundings at the scale of the largest gradient entry by which a
/// scaling call's entry may differ from `SCALE ·` the overwriting call's:
/// an entry is a difference of terms of that size (softmax − one-hot, the
/// two distances' parts), each scaled before they are subtracted, so where
/// they cancel the roundings are the terms', not the small result's.
const SCALED_TERMS: usize = 4;

/// [`accumulated_sums`] for a scaling call's gradient `got`: `SCALE · grad`
/// (into zeros), within [`SCALED_TERMS`] roundings of the largest entry.
fn scaled(what: &str, got: &[f32], grad: &[f32]) {
    let zeros = vec![0.0; grad.len()];
    accumulated_sums(&format!("{what}, scaled"), got, &zeros, grad, SCALED_TERMS);
}

/// `n` values, each -1 or +1.
fn signs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| if rng.coin(0.5) { 1.0 } else { -1.0 })
        .collect()
}

#[test]
fn pairs_accumulate() {
    let mut rng = Rng::new(5);
    // 37: a tail at every width; 4099: past the sweep's first block; dim 3
    // with and without one variance per sample.
    for (n, dim, shared) in [
        (37, 1, false),
        (4099, 1, false),
        (19, 3, false),
        (19, 3, true),
    ] {
        let len = n * dim;
        let pred = rng.vec(len, -2.0, 2.0);
        let target = rng.vec(len, -2.0, 2.0);
        let var = rng.vec(if shared { n } else { len }, 0.0, 2.0);
        let weight = rng.vec(n, 0.0, 2.0);
        let labels = signs(&mut rng, len);
        let before = [rng.vec(len, -1.0, 1.0), rng.vec(var.len(), -1.0, 1.0)];
        for weighted in [false, true] {
            for reduction in [Reduction::Sum, Reduction::Mean] {
                let case = format!("n {n} dim {dim} weighted {weighted} {reduction:?}");
                for full in [false, true] {
                    let base = GaussianNll::new().full(full).eps(1e-3).unwrap().dim(dim);
                    let loss = if weighted {
                        base.sample_weight(&weight)
                    } else {
                        base
                    };
                    let what = format!("GaussianNll full {full} shared var {shared} {case}");
                    accumulates(
                        (Family::Pointwise, 0),
                        &what,
                        &before,
                        |call, [pred_g, var_g]| {
                            let grads = GaussianGrads {
                                pred: pred_g,
                                var: var_g,
                            };
                            match call {
                                Call::Grad => {
                                    loss.value_and_grad(&pred, &target, &var, reduction, grads)
                                }
                                Call::Accumulate(s) => loss.value_and_accumulate_grad(
                                    &pred, &target, &var, reduction, s, grads,
                                ),
                                Call::Scaled(s) => loss.value_and_scaled_grad(
                                    &pred, &target, &var, reduction, s, grads,
                                ),
                            }
                        },
                    );
                }
                let base = MarginRanking::new(0.3).unwrap().dim(dim);
                let loss = if weighted {
                    base.sample_weight(&weight)
                } else {
                    base
                };
                let before = [before[0].clone(), rng.vec(len, -1.0, 1.0)];
                accumulates(
                    (Family::Pointwise, 0),
                    &format!("MarginRanking {case}"),
                    &before,
                    |call, [x1, x2]| {
                        let grads = RankingGrads { x1, x2 };
                        match call {
                            Call::Grad => {
                                loss.value_and_grad(&pred, &target, &labels, reduction, grads)
                            }
                            Call::Accumulate(s) => loss.value_and_accumulate_grad(
                                &pred, &target, &labels, reduction, s, grads,
                            ),
                            Call::Scaled(s) => loss.value_and_scaled_grad(
                                &pred, &target, &labels, reduction, s, grads,
                            ),
                        }
                    },
                );
            }
        }
    }
}

#[test]
fn per_class_bce_accumulates() {
    let mut rng = Rng::new(6);
    for classes in [1, 5, 19] {
        let rows = 37;
        let len = rows * classes;
        let pred = rng.vec(len, -4.0, 4.0);
        let target = rng.vec(len, 0.0, 1.0);
        let pos_weight = rng.vec(classes, 0.0, 3.0);
        let weight = rng.vec(rows, 0.0, 2.0);
        let before = [rng.vec(len, -1.0, 1.0)];
        for weighted in [false, true] {
            for reduction in [Reduction::Sum, Reduction::Mean] {
                let base = pointwise::SigmoidBcePerClass::new(&pos_weight).unwrap();
                let loss = if weighted {
                    base.sample_weight(&weight)
                } else {
                    base
                };
                let what = format!(
                    "SigmoidBcePerClass {classes} classes weighted {weighted} {reduction:?}"
                );
                accumulates(
                    (Family::Pointwise, 0),
                    &what,
                    &before,
                    |call, [g]| match call {
                        Call::Grad => loss.value_and_grad(&pred, &target, reduction, g),
                        Call::Accumulate(s) => {
                            loss.value_and_accumulate_grad(&pred, &target, reduction, s, g)
                        }
                        Call::Scaled(s) => {
                            loss.value_and_scaled_grad(&pred, &target, reduction, s, g)
                        }
                    },
                );
            }
        }
    }
}

#[test]
fn margin_family_accumulates() {
    let mut rng = Rng::new(7);
    // 3: rows narrower than a lane; 20: a whole lane and a tail.
    for classes in [3, 20] {
        let rows = 23;
        let len = rows * classes;
        let x = rng.vec(len, -1.5, 1.5);
        let labels: Vec<u32> = (0..rows).map(|_| rng.below(classes) as u32).collect();
        let wide: Vec<i64> = labels.iter().map(|&y| i64::from(y)).collect();
        // Each row: some targets (a repeat now and then), -1, then filler.
        let targets: Vec<i64> = (0..rows)
            .flat_map(|_| {
                let k = rng.below(classes);
                let mut row: Vec<i64> = (0..k).map(|_| rng.below(classes) as i64).collect();
                row.resize(classes, -1);
                if k + 1 < classes {
                    row[k + 1] = 0;
                }
                row
            })
            .collect();
        let dense: Vec<f32> = (0..len)
            .map(|_| {
                if rng.coin(0.3) {
                    1.0
                } else {
                    rng.uniform(0.0, 1.0)
                }
            })
            .collect();
        let class_weight = rng.vec(classes, 0.5, 2.0);
        let weight = rng.vec(rows, 0.0, 2.0);
        let before = [rng.vec(len, -1.0, 1.0)];
        for reduction in [Reduction::Sum, Reduction::Mean] {
            for p in [1, 2] {
                let loss = MultiMargin::new(classes)
                    .unwrap()
                    .p(p)
                    .unwrap()
                    .margin(0.5)
                    .unwrap()
                    .class_weight(&class_weight)
                    .sample_weight(&weight);
                let what = format!("MultiMargin p {p}, {classes} classes, {reduction:?}");
                accumulates(
                    (Family::Softmax, 0),
                    &what,
                    &before,
                    |call, [g]| match call {
                        Call::Grad => loss.value_and_grad(&x, &labels, reduction, g),
                        Call::Accumulate(s) => {
                            loss.value_and_accumulate_grad(&x, &labels, reduction, s, g)
                        }
                        Call::Scaled(s) => loss.value_and_scaled_grad(&x, &labels, reduction, s, g),
                    },
                );
                let what = format!("{what}, i64 labels");
                accumulates(
                    (Family::Softmax, 0),
                    &what,
                    &before,
                    |call, [g]| match call {
                        Call::Grad => loss.value_and_grad(&x, &wide, reduction, g),
                        Call::Accumulate(s) => {
                            loss.value_and_accumulate_grad(&x, &wide, reduction, s, g)
                        }
                        Call::Scaled(s) => loss.value_and_scaled_grad(&x, &wide, reduction, s, g),
                    },
                );
            }
            let loss = MultilabelMargin::new(classes)
                .unwrap()
                .sample_weight(&weight);
            let what = format!("MultilabelMargin, {classes} classes, {reduction:?}");
            accumulates(
                (Family::Softmax, classes),
                &what,
                &before,
                |call, [g]| match call {
                    Call::Grad => loss.value_and_grad(&x, &targets, reduction, g),
                    Call::Accumulate(s) => {
                        loss.value_and_accumulate_grad(&x, &targets, reduction, s, g)
                    }
                    Call::Scaled(s) => loss.value_and_scaled_grad(&x, &targets, reduction, s, g),
                },
            );
            let loss = MultilabelSoftMargin::new(classes)
                .unwrap()
                .class_weight(&class_weight)
                .sample_weight(&weight);
            let what = format!("MultilabelSoftMargin, {classes} classes, {reduction:?}");
            accumulates(
                (Family::Softmax, 0),
                &what,
                &before,
                |call, [g]| match call {
                    Call::Grad => loss.value_and_grad(&x, &dense, reduction, g),
                    Call::Accumulate(s) => {
                        loss.value_and_accumulate_grad(&x, &dense, reduction, s, g)
                    }
                    Call::Scaled(s) => loss.value_and_scaled_grad(&x, &dense, reduction, s, g),
                },
            );
        }
    }
}

#[test]
fn sdml_accumulates() {
    let mut rng = Rng::new(8);
    for (rows, dim) in [(9, 5), (6, 33)] {
        let len = rows * dim;
        let x1 = rng.vec(len, -1.0, 1.0);
        let x2 = rng.vec(len, -1.0, 1.0);
        let weight = rng.vec(rows, 0.0, 2.0);
        let before = [rng.vec(len, -1.0, 1.0), rng.vec(len, -1.0, 1.0)];
        for reduction in [Reduction::Sum, Reduction::Mean] {
            for smoothing in [0.0, 0.3] {
                let loss = Sdml::new(dim)
                    .unwrap()
                    .smoothing(smoothing)
                    .unwrap()
                    .sample_weight(&weight);
                let what = format!("SDML {rows} x {dim}, smoothing {smoothing}, {reduction:?}");
                accumulates(
                    (Family::Embedding, 2 * rows),
                    &what,
                    &before,
                    |call, [g1, g2]| {
                        let grads = SdmlGrads { x1: g1, x2: g2 };
                        match call {
                            Call::Grad => loss.value_and_grad(&x1, &x2, reduction, grads),
                            Call::Accumulate(s) => {
                                loss.value_and_accumulate_grad(&x1, &x2, reduction, s, grads)
                            }
                            Call::Scaled(s) => {
                                loss.value_and_scaled_grad(&x1, &x2, reduction, s, grads)
                            }
                        }
                    },
                );
            }
        }
    }
}

/// The strided (spatial) cross-entropy accumulates as the row form does:
/// logits and log-probabilities, sparse (with ignored positions) and dense
/// labels, class and sample weights, smoothing.
#[test]
fn strided_cross_entropy_accumulates() {
    let mut rng = Rng::new(9);
    for (classes, positions) in [(3, 5), (7, 19)] {
        let n = 4;
        let len = n * classes * positions;
        let at = |i: usize, k: usize, s: usize| (i * classes + k) * positions + s;
        let logits = rng.vec(len, -4.0, 4.0);
        // log-softmax along the strided class axis
        let mut log_probs = logits.clone();
        let mut probs = rng.vec(len, 0.0, 1.0);
        for i in 0..n {
            for s in 0..positions {
                let m = (0..classes)
                    .map(|k| logits[at(i, k, s)])
                    .fold(f32::NEG_INFINITY, f32::max);
                let l = m
                    + (0..classes)
                        .map(|k| (logits[at(i, k, s)] - m).exp())
                        .sum::<f32>()
                        .ln();
                let total: f32 = (0..classes).map(|k| probs[at(i, k, s)]).sum();
                for k in 0..classes {
                    log_probs[at(i, k, s)] = logits[at(i, k, s)] - l;
                    probs[at(i, k, s)] /= total;
                }
            }
        }
        let labels: Vec<u32> = (0..n * positions)
            .map(|_| {
                if rng.coin(0.2) {
                    99
                } else {
                    rng.below(classes) as u32
                }
            })
            .collect();
        let class_weight = rng.vec(classes, 0.5, 2.0);
        let sample_weight = rng.vec(n * positions, 0.0, 2.0);
        let before = [rng.vec(len, -1.0, 1.0)];
        let base = SoftmaxCrossEntropy::new(classes)
            .unwrap()
            .spatial(positions)
            .unwrap()
            .ignore_index(Some(99));
        for (input, x) in [(Input::Logits, &logits), (Input::LogProbs, &log_probs)] {
            for labels in [Labels::Sparse(&labels), Labels::Dense(&probs)] {
                for weighted in [false, true] {
                    for reduction in [Reduction::Sum, Reduction::Mean] {
                        let ce = base.input(input).label_smoothing(0.1).unwrap();
                        let ce = if weighted {
                            ce.class_weight(&class_weight).sample_weight(&sample_weight)
                        } else {
                            ce
                        };
                        let kind = if matches!(labels, Labels::Sparse(_)) {
                            "sparse"
                        } else {
                            "dense"
                        };
                        let what = format!(
                            "strided cross-entropy {input:?} {kind}, {classes} classes x {positions} positions, weighted {weighted}, {reduction:?}"
                        );
                        accumulates(
                            (Family::Softmax, 0),
                            &what,
                            &before,
                            |call, [g]| match call {
                                Call::Grad => ce.value_and_grad(x, labels, reduction, g),
                                Call::Accumulate(s) => {
                                    ce.value_and_accumulate_grad(x, labels, reduction, s, g)
                                }
                                Call::Scaled(s) => {
                                    ce.value_and_scaled_grad(x, labels, reduction, s, g)
                                }
                            },
                        );
                    }
                }
            }
        }
    }
}
