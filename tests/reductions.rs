#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Accurate reductions (SPEC Part 2, "Reductions and composition"): `Sum`
//! and `Mean` over `n = 2^24` samples within `1e-7` relative of a float64
//! sum, at every level, for each family's reduction: the pointwise sweep
//! (elements), cross-entropy rows and CTC sequences (the per-sample sum).
//!
//! The pointwise case is the issue's: `L2` on uniform data against the
//! float64 reference (`Sum` and `Mean`, with and without gradient, `dim`
//! and weights). For rows and sequences (one call per level: a call over
//! `2^24` samples takes about a second) the data is chosen so that each
//! sample's `f32` loss is exact (CTC: one step of log-probabilities, an
//! empty label: `-y_0(blank)`) or its rounding unbiased (cross-entropy:
//! two classes), and the `Mean` is checked against the float64 reference.

use crate::common;

use common::lanes::{Family, each_lane};
use common::rng::Rng;
use loss_kernels::Reduction;
use loss_kernels::ctc::{self, Activations, Ctc, Dims, Input, Labels};
use loss_kernels::pointwise::L2;
use loss_kernels::softmax::{self, SoftmaxCrossEntropy};
use loss_kernels_reference::pointwise::Pointwise as Loss;
use loss_kernels_reference::rows as reference;

/// The batch size of every test.
const N: usize = 1 << 24;

/// The bound: at least as accurate as PyTorch's float32 (9e-8 measured).
const BOUND: f64 = 1e-7;

fn relative(got: f32, want: f64) -> f64 {
    ((f64::from(got) - want) / want).abs()
}

fn check(what: &str, lanes: usize, got: f32, want: f64) {
    let e = relative(got, want);
    assert!(
        e <= BOUND,
        "{what} at {lanes} lanes: {got:e} vs float64 {want:e}, relative error {e:e}"
    );
}

#[test]
fn pointwise_sum_and_mean_at_2_pow_24() {
    let mut rng = Rng::new(24);
    let pred: Vec<f32> = (0..N).map(|_| rng.uniform(0.0, 1.0)).collect();
    let target: Vec<f32> = (0..N).map(|_| rng.uniform(0.0, 1.0)).collect();
    let mut grad = vec![0.0; N];
    // The table: 2^20, 2^22 and 2^24 values (printed with
    // `--nocapture`), each within the bound.
    for n in [1 << 20, 1 << 22, N] {
        let (pred, target) = (&pred[..n], &target[..n]);
        let sum: f64 = pred
            .iter()
            .zip(target)
            .map(|(&p, &t)| Loss::L2.f(f64::from(p), f64::from(t)))
            .sum();
        let mean = sum / n as f64;
        each_lane(Family::Pointwise, |lanes| {
            let l2 = L2::new();
            let got = l2.value(pred, target, Reduction::Mean).unwrap();
            println!(
                "L2 Mean, n = 2^{}, {lanes} lanes: relative error {:.1e}",
                n.trailing_zeros(),
                relative(got, mean)
            );
            check("L2 Mean", lanes, got, mean);
            check(
                "L2 Sum",
                lanes,
                l2.value(pred, target, Reduction::Sum).unwrap(),
                sum,
            );
            if n == N {
                let v = l2
                    .value_and_grad(pred, target, Reduction::Mean, &mut grad)
                    .unwrap();
                check("L2 Mean with gradient", lanes, v, mean);
                // Samples of two values: the same flat sweep, the same bound.
                let v = l2.dim(2).value(pred, target, Reduction::Sum).unwrap();
                check("L2 dim 2 Sum", lanes, v, sum / 2.0);
                // Sample weights: one weighted sweep.
                let w = vec![0.5f32; n];
                let v = l2
                    .sample_weight(&w)
                    .value(pred, target, Reduction::Sum)
                    .unwrap();
                check("L2 weighted Sum", lanes, v, sum / 2.0);
            }
        });
    }
}

#[test]
fn cross_entropy_rows_sum_at_2_pow_24() {
    // Two classes: row `i`'s loss is `ln(1 + e^(x_other - x_y))`, in (0, 6).
    let classes = 2;
    let mut rng = Rng::new(7);
    let logits: Vec<f32> = (0..N * classes).map(|_| rng.uniform(-3.0, 3.0)).collect();
    let labels: Vec<u32> = (0..N).map(|_| rng.below(classes) as u32).collect();
    let want: f64 = logits
        .chunks(classes)
        .zip(&labels)
        .map(|(row, &y)| {
            let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            reference::logsumexp(&x) - x[y as usize]
        })
        .sum();
    each_lane(Family::Softmax, |lanes| {
        let ce = SoftmaxCrossEntropy::new(classes).unwrap();
        let mean = ce
            .value(&logits, softmax::Labels::Sparse(&labels), Reduction::Mean)
            .unwrap();
        check(
            "cross-entropy Mean vs float64",
            lanes,
            mean,
            want / N as f64,
        );
    });
}

#[test]
fn ctc_sequences_sum_at_2_pow_24() {
    // One step of log-probabilities per sequence and empty labels: each
    // sequence's loss is exactly `-y_0(blank)`, so the float64 sum of the
    // data is the exact answer.
    let dims = Dims {
        steps: 1,
        batch: N,
        classes: 2,
    };
    let mut rng = Rng::new(11);
    let data: Vec<f32> = (0..N * 2).map(|_| rng.uniform(-4.0, 0.0)).collect();
    let input_lengths = vec![1u32; N];
    let lengths = vec![0u32; N];
    let acts = Activations::time_major(&data, dims, &input_lengths);
    let labels = Labels::Concatenated {
        labels: &[],
        lengths: &lengths,
    };
    let want: f64 = data.chunks(2).map(|row| -f64::from(row[0])).sum();
    let mut workspace = vec![0.0; ctc::value_workspace_len(0)];
    each_lane(Family::Ctc, |lanes| {
        let loss = Ctc::new(0).input(Input::LogProbs);
        let mean = loss
            .value(&acts, &labels, Reduction::Mean, &mut workspace)
            .unwrap();
        check("CTC Mean", lanes, mean, want / N as f64);
    });
}
