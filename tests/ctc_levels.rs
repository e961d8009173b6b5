#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Value and gradient agree across the levels this CPU runs (scalar, SSE2, AVX2, AVX-512 on x86-64) for both
//! layouts, both input kinds and a tail of every kind along the classes
//! (`C = 3`: shorter than a lane; `C = 29`: whole lanes and a tail;
//! `C = 80`: whole lanes only), with and without `zero_infinity`, with a feasible sequence whose label has
//! repeats, an infeasible one and an empty label.

use crate::common;
use common::lanes::{levels, runs, with_level};
use loss_kernels::Error;
use loss_kernels::Reduction;
use loss_kernels::ctc::{Activations, Ctc, Dims, Input, Labels, workspace_len};
use loss_kernels::lane::Level;

const T: usize = 12;
const N: usize = 3;
const MAX_C: usize = 80;
/// Sequence 0: 7 labels with two repeats (needs 9 of its 12 steps);
/// sequence 1: 3 labels in 2 steps (infeasible); sequence 2: empty.
const LABELS: [u32; 10] = [1, 2, 2, 1, 2, 1, 1, 1, 1, 2];
const LABEL_LENGTHS: [u32; N] = [7, 3, 0];
const INPUT_LENGTHS: [u32; N] = [12, 2, 9];
const WORKSPACE: usize = workspace_len(T, 7);

/// What one level computes: per-sample values, the mean and its gradient,
/// the mean of `value` alone.
struct Got {
    per_sample: [f32; N],
    mean: f32,
    value: f32,
    grad: [f32; T * N * MAX_C],
}

fn run(acts: &Activations<'_>, ctc: Ctc, level: Level) -> Result<Got, Error> {
    let labels = Labels::Concatenated {
        labels: &LABELS,
        lengths: &LABEL_LENGTHS,
    };
    let mut ws = [0.0f32; WORKSPACE];
    let mut got = Got {
        per_sample: [0.0; N],
        mean: 0.0,
        value: 0.0,
        grad: [0.0; T * N * MAX_C],
    };
    let size = acts.data.len();
    let before = runs(level);
    let got = with_level(level, || {
        ctc.per_sample(acts, &labels, &mut ws, &mut got.per_sample)?;
        let grad = got.grad.get_mut(..size).unwrap_or(&mut []);
        got.mean = ctc.value_and_grad(acts, &labels, Reduction::Mean, &mut ws, grad)?;
        got.value = ctc.value(acts, &labels, Reduction::Mean, &mut ws)?;
        Ok(got)
    });
    // The calls went through the seam at this level.
    assert_eq!(runs(level), before + 3);
    got
}

fn close(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn every_lane_width_agrees() -> Result<(), Error> {
    let mut data = [0.0f32; T * N * MAX_C];
    let mut state = 0x9E37_79B9u32;
    for v in data.iter_mut() {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = (state >> 8) as f32 / (1u32 << 24) as f32 * 8.0 - 4.0;
    }
    for c in [3, 29, 80] {
        let data = data.get(..T * N * c).unwrap_or(&[]);
        let layouts = [
            Activations::time_major(
                data,
                Dims {
                    steps: T,
                    batch: N,
                    classes: c,
                },
                &INPUT_LENGTHS,
            ),
            Activations::batch_major(
                data,
                Dims {
                    steps: T,
                    batch: N,
                    classes: c,
                },
                &INPUT_LENGTHS,
            ),
        ];
        for acts in layouts {
            for (input, zero_infinity) in [
                (Input::Logits, false),
                (Input::LogProbs, false),
                (Input::Logits, true),
            ] {
                let ctc = Ctc::new(0).input(input).zero_infinity(zero_infinity);
                let want = run(&acts, ctc, Level::Scalar)?;
                let [feasible, infeasible, empty] = want.per_sample;
                assert!(feasible.is_finite() && empty.is_finite(), "C = {c}");
                let infinite = if zero_infinity { 0.0 } else { f32::INFINITY };
                assert_eq!(
                    (infeasible, want.mean.is_finite()),
                    (infinite, zero_infinity)
                );
                for level in levels().into_iter().skip(1) {
                    let got = run(&acts, ctc, level)?;
                    let case = (c, acts.layout, input, zero_infinity, level);
                    for (a, b) in got.per_sample.iter().zip(&want.per_sample) {
                        assert!(close(*a, *b), "{case:?}: {a} vs {b}");
                    }
                    assert!(close(got.mean, want.mean) && close(got.value, want.value));
                    for (k, (a, b)) in got.grad.iter().zip(&want.grad).enumerate() {
                        assert!(a.is_finite() && close(*a, *b), "{case:?} [{k}]: {a} vs {b}");
                    }
                }
            }
        }
    }
    Ok(())
}
