#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! CTC against a brute-force oracle (every alignment of tiny cases), a plain
//! float64 log-space reference (`loss_kernels_reference::ctc`), central
//! finite differences of that reference, random shapes through quickcheck,
//! the documented edge cases and every malformed input; every loss test at
//! every lane width.

use crate::common;

use common::lanes::{Family, each_lane, each_lane_test};
use common::rng::Rng;
use common::tolerance::close;
use loss_kernels::ctc::{Activations, Ctc, Dims, Input, Labels, Layout, workspace_len};
use loss_kernels::{Bound, Error, Reduction};
use loss_kernels_reference::ctc::{self as ctc_reference, Batch, Expect, brute_force, sequence};
use quickcheck::{QuickCheck, TestResult};

/// Shape limits of a generated batch.
#[derive(Clone, Copy)]
struct Limits {
    t: usize,
    n: usize,
    c: usize,
    s: usize,
}

/// A random batch within `lim`: random layout, blank, input kind, lengths
/// (some infeasible), repeated labels, and with `neg_inf`, some `-inf`
/// log-probabilities.
fn random_batch(rng: &mut Rng, lim: Limits, neg_inf: bool) -> Batch {
    let t = 1 + rng.below(lim.t);
    let n = 1 + rng.below(lim.n);
    let c = 2 + rng.below(lim.c - 1);
    let blank = if rng.coin(0.5) { 0 } else { rng.below(c) };
    let logits = rng.coin(0.5);
    let scale = if rng.coin(0.2) { 8.0 } else { 2.0 };
    let mut data: Vec<f32> = (0..t * n * c).map(|_| rng.uniform(-scale, scale)).collect();
    let input_lengths: Vec<u32> = (0..n)
        .map(|_| if rng.coin(0.6) { t } else { rng.below(t + 1) } as u32)
        .collect();
    let labels: Vec<Vec<u32>> = (0..n)
        .map(|_| {
            let len = rng.below(lim.s + 1);
            // Few distinct labels make adjacent repeats common.
            let distinct = 1 + rng.below(c - 1);
            (0..len)
                .map(|_| {
                    let k = rng.below(distinct);
                    (if k >= blank { k + 1 } else { k }) as u32
                })
                .collect()
        })
        .collect();
    let mut batch = Batch {
        t,
        n,
        c,
        batch_major: rng.coin(0.5),
        data: vec![],
        input_lengths,
        labels,
        blank,
        logits,
        zero_infinity: rng.coin(0.3),
    };
    if !logits {
        // Proper log-probabilities, rounded to f32, like PyTorch's input.
        let wide: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        let mut as_logits = batch.clone();
        as_logits.logits = true;
        as_logits.input_lengths = vec![t as u32; n];
        for i in 0..n {
            let y = as_logits.log_probs(i, &wide);
            for (step, row) in y.iter().enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    data[batch.index(i, step, k)] = v as f32;
                }
            }
        }
        if neg_inf {
            for v in data.iter_mut() {
                if rng.coin(0.1) {
                    *v = f32::NEG_INFINITY;
                }
            }
        }
    }
    batch.data = data;
    batch
}

/// What the crate returned through its four entry points.
struct Got {
    per_sample: Vec<f32>,
    sum: f32,
    mean: f32,
    grad_sum: Vec<f32>,
    grad_mean: Vec<f32>,
}

fn ctc_of(b: &Batch, blank_last: bool) -> Ctc {
    let ctc = if blank_last {
        assert_eq!(b.blank, b.c - 1);
        Ctc::blank_last()
    } else {
        Ctc::new(b.blank as u32)
    };
    ctc.input(if b.logits {
        Input::Logits
    } else {
        Input::LogProbs
    })
    .zero_infinity(b.zero_infinity)
}

/// Runs every entry point (labels padded or concatenated), checks they agree
/// with each other, and returns their results.
fn run(b: &Batch, padded: bool) -> Got {
    let ctc = ctc_of(b, false);
    let acts = Activations {
        data: &b.data,
        layout: if b.batch_major {
            Layout::BatchMajor
        } else {
            Layout::TimeMajor
        },
        dims: Dims {
            steps: b.t,
            batch: b.n,
            classes: b.c,
        },
        input_lengths: &b.input_lengths,
    };
    let lengths: Vec<u32> = b.labels.iter().map(|l| l.len() as u32).collect();
    let s = b.labels.iter().map(Vec::len).max().unwrap_or(0);
    let flat: Vec<u32> = if padded {
        b.labels
            .iter()
            .flat_map(|l| l.iter().copied().chain(std::iter::repeat(u32::MAX)).take(s))
            .collect()
    } else {
        b.labels.concat()
    };
    let labels = if padded {
        Labels::Padded {
            labels: &flat,
            max_len: s,
            lengths: &lengths,
        }
    } else {
        Labels::Concatenated {
            labels: &flat,
            lengths: &lengths,
        }
    };
    let mut ws = vec![f32::NAN; workspace_len(b.t, s)];
    let mut per = vec![f32::NAN; b.n];
    let mut grad_sum = vec![f32::NAN; b.data.len()];
    let sum = ctc
        .per_sample_and_grad(&acts, &labels, &mut ws, &mut per, &mut grad_sum)
        .unwrap();
    let mut per2 = vec![f32::NAN; b.n];
    ctc.per_sample(&acts, &labels, &mut ws, &mut per2).unwrap();
    let mut grad_mean = vec![f32::NAN; b.data.len()];
    let mean = ctc
        .value_and_grad(&acts, &labels, Reduction::Mean, &mut ws, &mut grad_mean)
        .unwrap();
    // The workspace's previous contents must not matter: refill it with
    // hostile values before the calls whose results must match bit for bit.
    let hostile = [1e30, f32::INFINITY, -1e30, 0.0][b.t % 4];
    ws.fill(hostile);
    let mut g = vec![f32::NAN; b.data.len()];
    let sum2 = ctc
        .value_and_grad(&acts, &labels, Reduction::Sum, &mut ws, &mut g)
        .unwrap();
    ws.fill(-hostile);
    let sum3 = ctc.value(&acts, &labels, Reduction::Sum, &mut ws).unwrap();
    let mean2 = ctc.value(&acts, &labels, Reduction::Mean, &mut ws).unwrap();
    let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    assert!(
        per.iter().zip(&per2).all(|(&a, &b)| same(a, b)),
        "{per:?} {per2:?}"
    );
    assert!(same(sum, sum2) && same(sum, sum3), "{sum} {sum2} {sum3}");
    assert!(same(mean, mean2), "{mean} {mean2}");
    assert!(grad_sum.iter().zip(&g).all(|(&a, &b)| same(a, b)));
    Got {
        per_sample: per,
        sum,
        mean,
        grad_sum,
        grad_mean,
    }
}

/// The worst `|got - want| / (atol + rtol |want|)` over a slice (> 1 fails),
/// with the index; mismatched infinities or NaN count as infinite.
fn worst(got: &[f32], want: &[f64], rtol: f64, atol: f64) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    let mut w = (0.0, 0);
    for (i, (&g, &e)) in got.iter().zip(want).enumerate() {
        let r = if close(g, e, rtol, atol) {
            if e.is_finite() {
                (g as f64 - e).abs() / (atol + rtol * e.abs())
            } else {
                0.0
            }
        } else {
            f64::INFINITY
        };
        if r > w.0 {
            w = (r, i);
        }
    }
    w
}

/// Loss and gradient tolerances against float64 truth.
const LOSS_RTOL: f64 = 2e-5;
const LOSS_ATOL: f64 = 2e-5;
const GRAD_RTOL: f64 = 1e-4;
const GRAD_ATOL: f64 = 2e-5;

/// Compares everything the crate returned with `want`; `Err` describes the
/// first mismatch.
fn check(b: &Batch, got: &Got, want: &Expect) -> Result<(), String> {
    type Check<'a> = (&'a str, &'a [f32], &'a [f64], f64, f64);
    let checks: [Check; 5] = [
        (
            "per_sample",
            &got.per_sample,
            &want.per_sample,
            LOSS_RTOL,
            LOSS_ATOL,
        ),
        ("sum", &[got.sum], &[want.sum], LOSS_RTOL, LOSS_ATOL),
        ("mean", &[got.mean], &[want.mean], LOSS_RTOL, LOSS_ATOL),
        (
            "grad_sum",
            &got.grad_sum,
            &want.grad_sum,
            GRAD_RTOL,
            GRAD_ATOL,
        ),
        (
            "grad_mean",
            &got.grad_mean,
            &want.grad_mean,
            GRAD_RTOL,
            GRAD_ATOL,
        ),
    ];
    for (what, g, w, rtol, atol) in checks {
        let (ratio, i) = worst(g, w, rtol, atol);
        if ratio > 1.0 {
            return Err(format!(
                "{what}[{i}] = {:e}, want {:e} (T={} N={} C={} blank={} logits={} batch_major={} \
                 zinf={} input_lengths={:?} labels={:?})",
                g[i],
                w[i],
                b.t,
                b.n,
                b.c,
                b.blank,
                b.logits,
                b.batch_major,
                b.zero_infinity,
                b.input_lengths,
                b.labels
            ));
        }
    }
    Ok(())
}

#[test]
fn reference_matches_brute_force() {
    // The float64 reference itself against every alignment, tightly.
    let mut rng = Rng::new(1);
    let lim = Limits {
        t: 7,
        n: 1,
        c: 4,
        s: 3,
    };
    for _ in 0..300 {
        let b = random_batch(&mut rng, lim, true);
        let data: Vec<f64> = b.data.iter().map(|&v| v as f64).collect();
        let y = b.log_probs(0, &data);
        let (loss, gamma) = sequence(&y, &b.labels[0], b.blank);
        let (want, want_gamma) = brute_force(&y, &b.labels[0], b.blank);
        assert!(
            (loss.is_infinite() && want.is_infinite()) || (loss - want).abs() < 1e-10,
            "{loss} {want}"
        );
        for (r, w) in gamma.iter().flatten().zip(want_gamma.iter().flatten()) {
            assert!((r - w).abs() < 1e-10, "{r} {w}");
        }
    }
}

#[test]
fn brute_force_oracle() {
    each_lane(Family::Ctc, |_lanes| {
        // Every alignment of tiny cases (T <= 7, C <= 4), batches of 1..3
        // sequences, both layouts, logits and log-probabilities (with -inf).
        let mut rng = Rng::new(2);
        let lim = Limits {
            t: 7,
            n: 3,
            c: 4,
            s: 4,
        };
        for case in 0..400 {
            let b = random_batch(&mut rng, lim, true);
            let data: Vec<f64> = b.data.iter().map(|&v| v as f64).collect();
            let mut want = b.expect();
            // Replace the reference's per-sequence results by brute force.
            for i in 0..b.n {
                let y = b.log_probs(i, &data);
                let (loss, gamma) = brute_force(&y, &b.labels[i], b.blank);
                let denominator = b.labels[i].len().max(1) as f64 * b.n as f64;
                if loss.is_finite() {
                    assert!((want.per_sample[i] - loss).abs() < 1e-9);
                    for (t, (yt, gt)) in y.iter().zip(&gamma).enumerate() {
                        for k in 0..b.c {
                            let g = if b.logits {
                                yt[k].exp() - gt[k]
                            } else {
                                -gt[k]
                            };
                            want.grad_sum[b.index(i, t, k)] = g;
                            want.grad_mean[b.index(i, t, k)] = g / denominator;
                        }
                    }
                } else {
                    assert!(b.zero_infinity || want.per_sample[i] == f64::INFINITY);
                }
            }
            let got = run(&b, case % 2 == 0);
            if let Err(e) = check(&b, &got, &want) {
                panic!("case {case}: {e}");
            }
        }
    });
}

#[test]
fn finite_differences() {
    each_lane(Family::Ctc, |_lanes| {
        // The crate's gradient of each reduction against central differences of
        // the float64 reference loss.
        let mut rng = Rng::new(3);
        let lim = Limits {
            t: 9,
            n: 3,
            c: 5,
            s: 3,
        };
        let mut checked = 0;
        for case in 0..60 {
            let b = random_batch(&mut rng, lim, false);
            let got = run(&b, case % 2 == 1);
            let data: Vec<f64> = b.data.iter().map(|&v| v as f64).collect();
            let base = b.expect_with(&data);
            for (mean, grad) in [(false, &got.grad_sum), (true, &got.grad_mean)] {
                let value = |e: &Expect| if mean { e.mean } else { e.sum };
                if !value(&base).is_finite() {
                    continue;
                }
                for j in 0..data.len() {
                    let h = 1e-6;
                    let (mut up, mut down) = (data.clone(), data.clone());
                    up[j] += h;
                    down[j] -= h;
                    let fd =
                        (value(&b.expect_with(&up)) - value(&b.expect_with(&down))) / (2.0 * h);
                    assert!(
                        (grad[j] as f64 - fd).abs() <= 2e-5 + 1e-4 * fd.abs(),
                        "case {case} mean={mean} [{j}]: {} vs finite difference {fd}",
                        grad[j]
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "only {checked} derivatives checked");
    });
}

fn quickcheck_against_reference(seed: u64) -> TestResult {
    each_lane_test(Family::Ctc, |_lanes| {
        let mut rng = Rng::new(seed);
        let lim = Limits {
            t: 40,
            n: 5,
            c: 12,
            s: 12,
        };
        let neg_inf = rng.coin(0.2);
        let b = random_batch(&mut rng, lim, neg_inf);
        let got = run(&b, seed.is_multiple_of(2));
        match check(&b, &got, &b.expect()) {
            Ok(()) => TestResult::passed(),
            Err(e) => TestResult::error(e),
        }
    })
}

#[test]
fn quickcheck_random_shapes() {
    QuickCheck::new()
        .tests(200)
        .quickcheck(quickcheck_against_reference as fn(u64) -> TestResult);
}

#[test]
fn every_lane_position_and_label_length() {
    each_lane(Family::Ctc, |_lanes| {
        // Label lengths 0..=40 cover every tail of every lane width.
        let mut rng = Rng::new(4);
        for s in 0..=40usize {
            let t = 2 * s + 3;
            let c = 6;
            let mut b = random_batch(
                &mut rng,
                Limits {
                    t: 1,
                    n: 1,
                    c,
                    s: 0,
                },
                false,
            );
            b.t = t;
            b.c = c;
            b.blank %= c;
            b.input_lengths = vec![t as u32];
            b.data = (0..t * c).map(|_| rng.uniform(-3.0, 3.0)).collect();
            b.logits = true;
            b.zero_infinity = false;
            b.labels = vec![
                (0..s)
                    .map(|_| {
                        let k = rng.below(c - 1);
                        (if k >= b.blank { k + 1 } else { k }) as u32
                    })
                    .collect(),
            ];
            let got = run(&b, s % 2 == 0);
            if let Err(e) = check(&b, &got, &b.expect()) {
                panic!("S = {s}: {e}");
            }
        }
    });
}

#[test]
fn every_class_count() {
    each_lane(Family::Ctc, |_lanes| {
        // C = 2..=40 covers the whole-lane, overlapping-tail and shorter-than-a-
        // lane paths of the per-step softmax and gradient row at every width.
        let mut rng = Rng::new(8);
        for c in 2..=40usize {
            let mut b = random_batch(
                &mut rng,
                Limits {
                    t: 8,
                    n: 3,
                    c: 2,
                    s: 0,
                },
                false,
            );
            b.c = c;
            b.blank = rng.below(c);
            b.data = (0..b.t * b.n * c).map(|_| rng.uniform(-3.0, 3.0)).collect();
            b.logits = c % 3 != 0;
            b.labels = (0..b.n)
                .map(|_| {
                    (0..rng.below(4))
                        .map(|_| {
                            let k = rng.below(c - 1);
                            (if k >= b.blank { k + 1 } else { k }) as u32
                        })
                        .collect()
                })
                .collect();
            let got = run(&b, c % 2 == 0);
            if let Err(e) = check(&b, &got, &b.expect()) {
                panic!("C = {c}: {e}");
            }
        }
    });
}

#[test]
fn long_sequences_stay_accurate() {
    each_lane(Family::Ctc, |_lanes| {
        // The benchmark's second shape (T = 500, C = 80, S = 100) against
        // float64: the per-step normalisation of the posteriors keeps the
        // gradient error at the level of a single step's rounding.
        let mut rng = Rng::new(5);
        let (t, c, s) = (500, 80, 100);
        for logits in [true, false] {
            let mut b = random_batch(
                &mut rng,
                Limits {
                    t: 1,
                    n: 1,
                    c: 2,
                    s: 0,
                },
                false,
            );
            b.t = t;
            b.c = c;
            b.blank = 0;
            b.logits = true;
            b.batch_major = false;
            b.n = 2;
            b.zero_infinity = false;
            b.input_lengths = vec![t as u32, 400];
            b.data = (0..t * 2 * c).map(|_| rng.uniform(-4.0, 4.0)).collect();
            b.labels = (0..2)
                .map(|_| (0..s).map(|_| 1 + rng.below(c - 1) as u32).collect())
                .collect();
            if !logits {
                let wide: Vec<f64> = b.data.iter().map(|&v| v as f64).collect();
                let rows: Vec<Vec<Vec<f64>>> = (0..2).map(|i| b.log_probs(i, &wide)).collect();
                for (i, y) in rows.iter().enumerate() {
                    for (step, row) in y.iter().enumerate() {
                        for (k, &v) in row.iter().enumerate() {
                            let at = b.index(i, step, k);
                            b.data[at] = v as f32;
                        }
                    }
                }
                b.logits = false;
            }
            let got = run(&b, true);
            let want = b.expect();
            let (r, i) = worst(&got.grad_sum, &want.grad_sum, 0.0, 1e-5);
            let max_err = got
                .grad_sum
                .iter()
                .zip(&want.grad_sum)
                .map(|(&g, &w)| (g as f64 - w).abs())
                .fold(0.0, f64::max);
            eprintln!("logits={logits}: max gradient error {max_err:e}");
            assert!(
                r <= 1.0,
                "grad[{i}]: {} vs {}",
                got.grad_sum[i],
                want.grad_sum[i]
            );
            let (r, i) = worst(&got.per_sample, &want.per_sample, 1e-5, 0.0);
            assert!(
                r <= 1.0,
                "loss[{i}]: {} vs {}",
                got.per_sample[i],
                want.per_sample[i]
            );
        }
    });
}

/// A one-sequence batch of log-probabilities (time-major).
fn log_prob_batch(y: &[&[f32]], label: &[u32], blank: usize) -> Batch {
    Batch {
        t: y.len(),
        n: 1,
        c: y.first().map_or(2, |r| r.len()),
        batch_major: false,
        data: y.concat(),
        input_lengths: vec![y.len() as u32],
        labels: vec![label.to_vec()],
        blank,
        logits: false,
        zero_infinity: false,
    }
}

#[test]
fn empty_label_is_minus_sum_of_blank_log_probs() {
    each_lane(Family::Ctc, |_lanes| {
        let rows: [&[f32]; 3] = [
            &[-0.1, -2.0, -3.0],
            &[-0.5, -1.0, -2.5],
            &[-0.2, -1.5, -4.0],
        ];
        let got = run(&log_prob_batch(&rows, &[], 0), true);
        assert!((got.per_sample[0] - 0.8).abs() < 1e-6);
        // -γ: the blank's posterior is 1 at every step
        assert_eq!(
            got.grad_sum,
            [-1.0, 0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0]
        );
        assert_eq!(got.mean, got.sum); // max(label length, 1) = 1
    });
}

#[test]
fn input_length_zero() {
    each_lane(Family::Ctc, |_lanes| {
        let mut b = log_prob_batch(&[&[-0.7, -0.7], &[-0.7, -0.7]], &[], 0);
        b.n = 2;
        b.data = vec![-0.7; 2 * 2 * 2];
        b.input_lengths = vec![0, 0];
        b.labels = vec![vec![], vec![1]];
        let got = run(&b, true);
        assert_eq!(got.per_sample, [0.0, f32::INFINITY]);
        assert!(got.grad_sum.iter().all(|&g| g == 0.0));
        b.zero_infinity = true;
        let got = run(&b, false);
        assert_eq!(got.per_sample, [0.0, 0.0]);
    });
}

#[test]
fn repeated_labels_need_a_blank_between() {
    each_lane(Family::Ctc, |_lanes| {
        // [1, 1] needs 3 steps: infeasible at 2, feasible at 3 (one alignment).
        let y: &[f32] = &[-1.0, -0.5];
        let got = run(&log_prob_batch(&[y, y], &[1, 1], 0), true);
        assert_eq!(got.per_sample, [f32::INFINITY]);
        assert_eq!(got.sum, f32::INFINITY);
        assert!(got.grad_sum.iter().all(|&g| g == 0.0), "{:?}", got.grad_sum);
        let got = run(&log_prob_batch(&[y, y, y], &[1, 1], 0), true);
        assert!(
            (got.per_sample[0] - 2.0).abs() < 1e-6,
            "{:?}",
            got.per_sample
        );
        assert_eq!(got.grad_sum, [0.0, -1.0, -1.0, 0.0, 0.0, -1.0]);
    });
}

#[test]
fn infeasible_is_infinite_never_a_silent_zero() {
    each_lane(Family::Ctc, |_lanes| {
        let y: &[f32] = &[-1.0, -1.0, -1.5];
        let mut b = log_prob_batch(&[y, y], &[1, 2, 1], 0);
        let got = run(&b, true);
        assert_eq!(
            (got.per_sample[0], got.sum, got.mean),
            (f32::INFINITY, f32::INFINITY, f32::INFINITY)
        );
        assert!(got.grad_sum.iter().chain(&got.grad_mean).all(|&g| g == 0.0));
        b.zero_infinity = true;
        let got = run(&b, true);
        assert_eq!((got.per_sample[0], got.sum, got.mean), (0.0, 0.0, 0.0));
    });
}

#[test]
fn negative_infinite_log_probs_never_nan() {
    each_lane(Family::Ctc, |_lanes| {
        let ninf = f32::NEG_INFINITY;
        // Class 2 impossible everywhere: a label needing it is +inf with zero
        // gradient; others are finite, and nothing is NaN.
        let rows: [&[f32]; 4] = [
            &[-0.5, -0.9, ninf],
            &[ninf, -0.1, ninf],
            &[-0.3, ninf, ninf],
            &[-0.2, -1.7, ninf],
        ];
        for (label, finite) in [
            (&[1u32][..], true),
            (&[1, 1], true),
            (&[2], false),
            (&[], false),
        ] {
            let b = log_prob_batch(&rows, label, 0);
            let got = run(&b, true);
            assert!(!got.per_sample[0].is_nan());
            assert_eq!(got.per_sample[0].is_finite(), finite, "{label:?}");
            assert!(got.grad_sum.iter().all(|g| g.is_finite()));
            check(&b, &got, &b.expect()).unwrap();
        }
        // All blanks impossible at one step, label [1, 1]: also +inf.
        let b = log_prob_batch(&[&[ninf, -0.1], &[ninf, -0.1], &[ninf, -0.1]], &[1, 1], 0);
        assert_eq!(run(&b, true).per_sample, [f32::INFINITY]);
    });
}

#[test]
fn nan_propagates() {
    each_lane(Family::Ctc, |_lanes| {
        let mut b = log_prob_batch(&[&[0.5, 0.1, -1.0], &[0.2, 0.3, 0.0]], &[1], 0);
        b.logits = true;
        b.data[4] = f32::NAN;
        let got = run(&b, true);
        assert!(got.per_sample[0].is_nan() && got.sum.is_nan());
        assert!(got.grad_sum.iter().any(|g| g.is_nan()));
        // log-probabilities: a NaN on the label's class at one step
        let mut b = log_prob_batch(&[&[-0.5, -1.0], &[-0.3, -1.2]], &[1], 0);
        b.data[3] = f32::NAN;
        assert!(run(&b, false).per_sample[0].is_nan());
    });
}

#[test]
fn blank_last_and_any_blank() {
    each_lane(Family::Ctc, |_lanes| {
        let mut rng = Rng::new(6);
        for case in 0..40 {
            let mut b = random_batch(
                &mut rng,
                Limits {
                    t: 10,
                    n: 3,
                    c: 6,
                    s: 4,
                },
                false,
            );
            // Relabel so that the last class is the blank.
            let last = b.c - 1;
            for l in b.labels.iter_mut().flatten() {
                if *l as usize == last {
                    *l = b.blank as u32;
                }
            }
            b.blank = last;
            let got = run(&b, case % 2 == 0);
            check(&b, &got, &b.expect()).unwrap();
            // Ctc::blank_last agrees with Ctc::new(C - 1) bit for bit.
            let acts = Activations::time_major(
                &b.data,
                Dims {
                    steps: b.t,
                    batch: b.n,
                    classes: b.c,
                },
                &b.input_lengths,
            );
            let flat = b.labels.concat();
            let lengths: Vec<u32> = b.labels.iter().map(|l| l.len() as u32).collect();
            let labels = Labels::Concatenated {
                labels: &flat,
                lengths: &lengths,
            };
            let s = b.labels.iter().map(Vec::len).max().unwrap();
            let mut ws = vec![0.0; workspace_len(b.t, s)];
            let v1 = ctc_of(&b, true).value(&acts, &labels, Reduction::Sum, &mut ws);
            let v2 = ctc_of(&b, false).value(&acts, &labels, Reduction::Sum, &mut ws);
            assert_eq!(v1.map(f32::to_bits), v2.map(f32::to_bits));
        }
    });
}

#[test]
fn workspace_len_is_exactly_enough() {
    each_lane(Family::Ctc, |_lanes| {
        let data = [0.0f32; 5 * 2 * 4];
        let acts = Activations::time_major(
            &data,
            Dims {
                steps: 5,
                batch: 2,
                classes: 4,
            },
            &[5, 3],
        );
        let labels = Labels::Padded {
            labels: &[1, 2, 3, 1, 9, 9],
            max_len: 3,
            lengths: &[3, 1],
        };
        let need = workspace_len(5, 3);
        // H = W ⌈4 / W⌉ + W for the build's lane padding W (32 at W = 16).
        let w = loss_kernels::ctc::WORKSPACE_LANES;
        let h = 4usize.div_ceil(w) * w + w;
        assert_eq!(need, 3 * h * (5 + 2) + 2 * 5);
        let mut ws = vec![0.0; need];
        let mut grad = [0.0; 40];
        let ctc = Ctc::new(0);
        ctc.value_and_grad(&acts, &labels, Reduction::Sum, &mut ws, &mut grad)
            .unwrap();
        assert_eq!(
            ctc.value_and_grad(&acts, &labels, Reduction::Sum, &mut ws[1..], &mut grad),
            Err(Error::WorkspaceTooSmall {
                argument: "workspace",
                sized_by: "ctc::workspace_len",
                expected: need,
                found: need - 1
            })
        );
        // Only the batch's longest input and label lengths count.
        let short = Labels::Padded {
            labels: &[1, 9, 9, 1, 9, 9],
            max_len: 3,
            lengths: &[1, 1],
        };
        let acts = Activations::time_major(
            &data,
            Dims {
                steps: 5,
                batch: 2,
                classes: 4,
            },
            &[2, 3],
        );
        let mut ws = vec![0.0; workspace_len(3, 1)];
        ctc.value(&acts, &short, Reduction::Mean, &mut ws).unwrap();
        assert_eq!(workspace_len(usize::MAX, 7), usize::MAX);
    });
}

#[test]
fn malformed_inputs_are_errors() {
    let data = [0.0f32; 4 * 2 * 3];
    let ok_acts = Activations::time_major(
        &data,
        Dims {
            steps: 4,
            batch: 2,
            classes: 3,
        },
        &[4, 2],
    );
    let ok_labels = Labels::Padded {
        labels: &[1, 2, 1, 0],
        max_len: 2,
        lengths: &[2, 1],
    };
    let ctc = Ctc::new(0);
    let mut ws = vec![0.0; workspace_len(4, 2)];
    let mut grad = [0.0; 24];
    let mut out = [0.0; 2];
    let call = |ctc: Ctc, acts: &Activations, labels: &Labels, ws: &mut [f32]| {
        ctc.value(acts, labels, Reduction::Sum, ws)
    };
    assert!(call(ctc, &ok_acts, &ok_labels, &mut ws).is_ok());

    let bad = |a: Activations| call(ctc, &a, &ok_labels, &mut vec![0.0; 1000]);
    assert_eq!(
        bad(Activations {
            dims: Dims {
                classes: 0,
                ..ok_acts.dims
            },
            ..ok_acts
        }),
        Err(Error::ZeroSize {
            argument: "dims.classes"
        })
    );
    assert_eq!(
        bad(Activations {
            dims: Dims {
                batch: 0,
                ..ok_acts.dims
            },
            input_lengths: &[],
            ..ok_acts
        }),
        Err(Error::EmptyBatch {
            argument: "activations"
        })
    );
    assert_eq!(
        bad(Activations {
            data: &data[1..],
            ..ok_acts
        }),
        Err(Error::LengthMismatch {
            argument: "activations",
            expected: 24,
            found: 23
        })
    );
    assert_eq!(
        bad(Activations {
            dims: Dims {
                steps: usize::MAX,
                ..ok_acts.dims
            },
            ..ok_acts
        }),
        Err(Error::LengthMismatch {
            argument: "activations",
            expected: usize::MAX,
            found: 24
        })
    );
    assert_eq!(
        bad(Activations {
            input_lengths: &[4],
            ..ok_acts
        }),
        Err(Error::LengthMismatch {
            argument: "input_lengths",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        bad(Activations {
            input_lengths: &[4, 5],
            ..ok_acts
        }),
        Err(Error::OutOfRange {
            argument: "input_lengths",
            index: Some(1),
            value: 5,
            bound: Bound::Steps(4)
        })
    );
    assert_eq!(
        call(Ctc::new(3), &ok_acts, &ok_labels, &mut ws),
        Err(Error::OutOfRange {
            argument: "blank",
            index: None,
            value: 3,
            bound: Bound::Classes(3)
        })
    );
    assert_eq!(
        call(Ctc::new(u32::MAX), &ok_acts, &ok_labels, &mut ws),
        Err(Error::OutOfRange {
            argument: "blank",
            index: None,
            value: u32::MAX as usize,
            bound: Bound::Classes(3)
        })
    );

    let bad = |l: Labels| call(ctc, &ok_acts, &l, &mut vec![0.0; 1000]);
    assert_eq!(
        bad(Labels::Padded {
            labels: &[1, 2, 1],
            max_len: 2,
            lengths: &[2, 1]
        }),
        Err(Error::LengthMismatch {
            argument: "labels",
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        bad(Labels::Padded {
            labels: &[1, 2],
            max_len: usize::MAX,
            lengths: &[2, 1]
        }),
        Err(Error::LengthMismatch {
            argument: "labels",
            expected: usize::MAX,
            found: 2
        })
    );
    assert_eq!(
        bad(Labels::Padded {
            labels: &[1, 2, 1, 0],
            max_len: 2,
            lengths: &[2]
        }),
        Err(Error::LengthMismatch {
            argument: "labels.lengths",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        bad(Labels::Padded {
            labels: &[1, 2, 1, 0],
            max_len: 2,
            lengths: &[2, 3]
        }),
        Err(Error::OutOfRange {
            argument: "labels.lengths",
            index: Some(1),
            value: 3,
            bound: Bound::MaxLen(2)
        })
    );
    assert_eq!(
        bad(Labels::Padded {
            labels: &[1, 3, 1, 0],
            max_len: 2,
            lengths: &[2, 1]
        }),
        Err(Error::OutOfRange {
            argument: "labels",
            index: Some(1),
            value: 3,
            bound: Bound::Classes(3)
        })
    );
    assert_eq!(
        bad(Labels::Padded {
            labels: &[1, 2, 0, 0],
            max_len: 2,
            lengths: &[2, 1]
        }),
        Err(Error::BlankInLabel {
            argument: "labels",
            index: 2
        })
    );
    assert_eq!(
        bad(Labels::Concatenated {
            labels: &[1, 2],
            lengths: &[2, 1]
        }),
        Err(Error::LengthMismatch {
            argument: "labels",
            expected: 3,
            found: 2
        })
    );
    assert!(matches!(
        bad(Labels::Concatenated {
            labels: &[1, 2],
            lengths: &[u32::MAX, u32::MAX]
        }),
        Err(Error::LengthMismatch {
            argument: "labels",
            found: 2,
            ..
        })
    ));
    assert_eq!(
        bad(Labels::Concatenated {
            labels: &[1, 2, 0],
            lengths: &[2, 1]
        }),
        Err(Error::BlankInLabel {
            argument: "labels",
            index: 2
        })
    );
    assert_eq!(
        ctc.value_and_grad(
            &ok_acts,
            &ok_labels,
            Reduction::Sum,
            &mut ws,
            &mut grad[1..]
        ),
        Err(Error::LengthMismatch {
            argument: "grad",
            expected: 24,
            found: 23
        })
    );
    assert_eq!(
        ctc.per_sample(&ok_acts, &ok_labels, &mut ws, &mut out[1..]),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        ctc.per_sample_and_grad(&ok_acts, &ok_labels, &mut [], &mut out, &mut grad),
        Err(Error::WorkspaceTooSmall {
            argument: "workspace",
            sized_by: "ctc::workspace_len",
            expected: workspace_len(4, 2),
            found: 0
        })
    );
}

/// The messages of the argument errors name the argument as the caller
/// spells it and the bound with what sets it (the sizes of
/// `malformed_inputs_are_errors`: T = 4, N = 2, C = 3, max_len = 2).
#[test]
fn error_messages_name_the_argument_and_the_bound() {
    let data = [0.0f32; 4 * 2 * 3];
    let dims = Dims {
        steps: 4,
        batch: 2,
        classes: 3,
    };
    let labels = Labels::Padded {
        labels: &[1, 2, 1, 0],
        max_len: 2,
        lengths: &[2, 1],
    };
    let mut ws = vec![0.0; 1000];
    let message = |ctc: Ctc, acts: &Activations, labels: &Labels, ws: &mut [f32]| match ctc.value(
        acts,
        labels,
        Reduction::Sum,
        ws,
    ) {
        Err(e) => e.to_string(),
        Ok(v) => format!("Ok({v})"),
    };
    let ctc = Ctc::new(0);
    let acts = Activations::time_major(&data, dims, &[5, 2]);
    assert_eq!(
        message(ctc, &acts, &labels, &mut ws),
        "`input_lengths[0]` is 5, must be at most 4, the number of steps"
    );
    let acts = Activations::batch_major(&data, dims, &[4, 2]);
    let long = Labels::Padded {
        labels: &[1, 2, 1, 0],
        max_len: 2,
        lengths: &[3, 1],
    };
    assert_eq!(
        message(ctc, &acts, &long, &mut ws),
        "`labels.lengths[0]` is 3, must be at most 2, the padded length `max_len`"
    );
    assert_eq!(
        message(Ctc::new(3), &acts, &labels, &mut ws),
        "`blank` is 3, must be below 3, the number of classes"
    );
    let class_3 = Labels::Padded {
        labels: &[1, 3, 1, 0],
        max_len: 2,
        lengths: &[2, 1],
    };
    assert_eq!(
        message(ctc, &acts, &class_3, &mut ws),
        "`labels[1]` is 3, must be below 3, the number of classes"
    );
    // A value-only call: 6 H, H = W ⌈3 / W⌉ + W (192 with 16-lane padding).
    let w = loss_kernels::ctc::WORKSPACE_LANES;
    let need = 6 * (3usize.div_ceil(w) * w + w);
    assert_eq!(loss_kernels::ctc::value_workspace_len(2), need);
    assert_eq!(
        message(ctc, &acts, &labels, &mut ws[..10]),
        format!("`workspace` holds 10 values, the call needs {need} (`ctc::value_workspace_len`)")
    );
    // Sizes given in the other order by habit, (t, n, c) for a batch-major
    // batch, cannot compile any more; the named sizes are the same for both
    // layouts, so the same `dims` describes either.
    let time_major = Activations::time_major(&data, dims, &[4, 2]);
    assert_eq!(time_major.dims, acts.dims);
    assert!(
        ctc.value(&time_major, &labels, Reduction::Sum, &mut ws)
            .is_ok()
    );
}

/// Arbitrary (mostly malformed) arguments: every entry point returns, never
/// panics; an `Ok` call wrote finite-or-infinite losses, never touched
/// memory beyond its slices (checked by Rust), and a too-small workspace or
/// wrong slice length is always an `Err`.
fn no_panic_on_arbitrary_arguments(seed: u64) -> TestResult {
    let mut rng = Rng::new(seed);
    let small = |rng: &mut Rng| rng.below(6);
    let (t, n, c) = (small(&mut rng), small(&mut rng), small(&mut rng));
    let len = if rng.coin(0.7) {
        t * n * c
    } else {
        small(&mut rng) * 7
    };
    let data: Vec<f32> = (0..len).map(|_| rng.uniform(-5.0, 5.0)).collect();
    let value = |rng: &mut Rng| -> u32 {
        match rng.below(4) {
            0 => u32::MAX - rng.below(3) as u32,
            _ => rng.below(7) as u32,
        }
    };
    let input_lengths: Vec<u32> = (0..n + rng.below(2)).map(|_| value(&mut rng)).collect();
    let lengths: Vec<u32> = (0..n + rng.below(2)).map(|_| value(&mut rng)).collect();
    let labels: Vec<u32> = (0..small(&mut rng) * 3).map(|_| value(&mut rng)).collect();
    let max_len = small(&mut rng);
    let acts = Activations {
        data: &data,
        layout: if rng.coin(0.5) {
            Layout::TimeMajor
        } else {
            Layout::BatchMajor
        },
        dims: Dims {
            steps: t,
            batch: n,
            classes: c,
        },
        input_lengths: &input_lengths,
    };
    let labels = if rng.coin(0.5) {
        Labels::Padded {
            labels: &labels,
            max_len,
            lengths: &lengths,
        }
    } else {
        Labels::Concatenated {
            labels: &labels,
            lengths: &lengths,
        }
    };
    let ctc = Ctc::new(value(&mut rng))
        .input(if rng.coin(0.5) {
            Input::Logits
        } else {
            Input::LogProbs
        })
        .zero_infinity(rng.coin(0.5));
    let mut ws = vec![f32::NAN; rng.below(400)];
    let mut out = vec![0.0; n + rng.below(2)];
    let mut grad = vec![0.0; len + rng.below(2)];
    let results = [
        ctc.value(&acts, &labels, Reduction::Mean, &mut ws)
            .map(|_| ()),
        ctc.value_and_grad(&acts, &labels, Reduction::Sum, &mut ws, &mut grad)
            .map(|_| ()),
        ctc.per_sample(&acts, &labels, &mut ws, &mut out),
        ctc.per_sample_and_grad(&acts, &labels, &mut ws, &mut out, &mut grad)
            .map(|_| ()),
    ];
    let too_small = ws.len() < workspace_len(t, 5) && ws.len() < workspace_len(0, 0);
    for r in results {
        if r.is_ok() && (too_small || data.len() != t * n * c) {
            return TestResult::error(format!("accepted malformed arguments: {r:?}"));
        }
    }
    TestResult::passed()
}

#[test]
fn quickcheck_arbitrary_arguments_never_panic() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(no_panic_on_arbitrary_arguments as fn(u64) -> TestResult);
}

#[test]
fn log_add_exp_accuracy() {
    use loss_kernels::lane::{Lane, Native};
    use loss_kernels::math::log_add_exp;
    let mut rng = Rng::new(7);
    let mut worst_err = 0.0f64;
    for _ in 0..200_000 {
        let a = rng.uniform(-200.0, 10.0);
        let b = if rng.coin(0.3) {
            a + rng.uniform(-1e-3, 1e-3)
        } else {
            rng.uniform(-200.0, 10.0)
        };
        let want = ctc_reference::lae(a as f64, b as f64);
        let mut lanes = [0.0f32; 16];
        log_add_exp(Native::splat(a), Native::splat(b)).store(&mut lanes);
        for got in [log_add_exp(a, b), lanes[0]] {
            // in units of one f32 ulp of the result's magnitude (at least 1)
            let err = (got as f64 - want).abs() / (want.abs().max(1.0) * f32::EPSILON as f64);
            worst_err = worst_err.max(err);
        }
    }
    assert!(worst_err <= 2.0, "log_add_exp error {worst_err} ulp");
    let ninf = f32::NEG_INFINITY;
    assert_eq!(log_add_exp(ninf, ninf), ninf);
    assert_eq!(log_add_exp(ninf, 1.5f32), 1.5);
    assert_eq!(log_add_exp(f32::INFINITY, 1.5f32), f32::INFINITY);
    assert!(log_add_exp(f32::NAN, ninf).is_nan() && log_add_exp(ninf, f32::NAN).is_nan());
}
