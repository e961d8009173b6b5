//! A validated call of cross-entropy or KL divergence ([`Plan`]), and the
//! kernel entry that runs it at a lane type ([`Kernel`]): it picks the
//! [`TargetKind`] of the call's targets, then walks the batch, narrow rows
//! in transposed blocks and the rest row by row.

use super::Input;
use super::kernel;
use super::narrow::{self, Scratch};
use super::targets::{Dense, Kl, OneHot, Smoothed, Sparse, TargetKind, Unweighted, Weighted};
use crate::driver::batch::Row;
use crate::driver::lanes::load;
use crate::driver::row::{dots, max};
use crate::driver::{Outputs, Samples, each_row};
use crate::lane::{self, Kernel, Lane};

/// What the targets of a call are (validated).
#[derive(Clone, Copy, Debug)]
pub(super) enum Targets<'a> {
    /// One class index per row (each `< classes` or `ignore_index`).
    Sparse {
        /// The labels.
        labels: &'a [u32],
        /// Rows with this label are ignored.
        ignore_index: Option<u32>,
        /// Label smoothing `α`.
        smoothing: f32,
        /// Class weights (length `classes`).
        class_weight: Option<&'a [f32]>,
    },
    /// A row of target weights per row.
    Dense {
        /// The targets, the logits' layout.
        target: &'a [f32],
        /// Class weights (length `classes`).
        class_weight: Option<&'a [f32]>,
    },
    /// KL divergence against a row of target probabilities per row.
    Kl {
        /// The targets, the predictions' layout.
        target: &'a [f32],
    },
}

/// Everything a call needs after validation.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan<'a> {
    /// Values per row.
    pub(super) classes: usize,
    /// Rows in the batch.
    pub(super) rows: usize,
    /// What the prediction rows hold.
    pub(super) input: Input,
    /// One weight per row, if any.
    pub(super) sample_weight: Option<&'a [f32]>,
    /// The reduction's factor (see [`crate::driver::reduction_scale`]).
    pub(super) grad_scale: f32,
    /// The targets.
    pub(super) targets: Targets<'a>,
}

impl<'a> Plan<'a> {
    /// Runs the call over `logits` through the backend seam: returns the
    /// reduced loss, writes the gradient and per-sample values `out` asks
    /// for (`GRAD` says whether `out.grad` is written).
    pub(super) fn run<const GRAD: bool>(self, logits: &'a [f32], out: Outputs<'a>) -> f32 {
        lane::run(Call::<GRAD> {
            plan: self,
            logits,
            out,
        })
    }
}

/// A plan with its inputs and outputs, ready for [`lane::run`].
struct Call<'a, const GRAD: bool> {
    plan: Plan<'a>,
    logits: &'a [f32],
    out: Outputs<'a>,
}

impl<const GRAD: bool> Kernel for Call<'_, GRAD> {
    type Output = f32;

    /// Picks the kernel of the targets' kind, runs every row and reduces.
    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let Call { plan, logits, out } = self;
        let total = match plan.targets {
            Targets::Sparse {
                labels,
                ignore_index,
                smoothing,
                class_weight,
            } => {
                let classes = plan.classes;
                let class_weight_sum = match class_weight {
                    Some(c) => {
                        let [sum] = dots::<L, 1>(c.len(), |i| [(load(c, i, 0.0), L::splat(1.0))]);
                        sum
                    }
                    None => classes as f32,
                };
                let sparse = Sparse {
                    labels,
                    ignore_index,
                    hot: 1.0 - smoothing,
                    spread: smoothing / classes as f32,
                    class_weight,
                    class_weight_sum,
                };
                match (sparse.spread == 0.0, class_weight) {
                    (true, _) => batch::<L, _, GRAD>(&plan, OneHot(sparse), logits, &[], out),
                    (false, None) => {
                        let kind = Smoothed {
                            sparse,
                            class_weight: Unweighted,
                        };
                        batch::<L, _, GRAD>(&plan, kind, logits, &[], out)
                    }
                    (false, Some(c)) => {
                        let kind = Smoothed {
                            sparse,
                            class_weight: Weighted(c),
                        };
                        batch::<L, _, GRAD>(&plan, kind, logits, &[], out)
                    }
                }
            }
            Targets::Dense {
                target,
                class_weight: None,
            } => batch::<L, _, GRAD>(&plan, Dense(Unweighted), logits, target, out),
            Targets::Dense {
                target,
                class_weight: Some(c),
            } => batch::<L, _, GRAD>(&plan, Dense(Weighted(c)), logits, target, out),
            Targets::Kl { target } => batch::<L, _, GRAD>(&plan, Kl, logits, target, out),
        };
        if plan.grad_scale == 0.0 {
            0.0
        } else {
            total * plan.grad_scale
        }
    }
}

/// Every row of the batch with targets of kind `T` (`target` the dense
/// targets, or empty): narrow rows of logits in transposed blocks of
/// `LANES` rows, the rest (and all log-probability rows) row by row.
/// Returns the sum of the per-sample losses.
#[inline(always)]
fn batch<L: Lane, T: TargetKind, const GRAD: bool>(
    plan: &Plan<'_>,
    kind: T,
    logits: &[f32],
    target: &[f32],
    out: Outputs<'_>,
) -> f32 {
    let Plan {
        classes,
        rows,
        input,
        sample_weight,
        grad_scale,
        ..
    } = *plan;
    let Outputs { grad, values } = out;
    let mut samples = Samples::new(values);
    let mut first = 0;
    if input == Input::Logits && narrow::transposed(classes, L::LANES) {
        let blocks = rows / L::LANES;
        let mut scratch = Scratch::new();
        // Blocks of `LANES` rows, not rows: `each_row`'s per-row weight,
        // slot and next row do not apply, and its per-row slicing measured
        // 2-3% of the whole call at 65536x10 (AVX-512) against this walk.
        // `max(1)`: validation rules out 0 classes, and without it
        // `chunks_exact`'s assertion keeps a panic path linked.
        let width = L::LANES * classes.max(1);
        let mut grads = grad.chunks_exact_mut(width);
        for (index, x) in logits.chunks_exact(width).take(blocks).enumerate() {
            let block = Row {
                index,
                x: [
                    x,
                    target
                        .get(index * width..(index + 1) * width)
                        .unwrap_or(&[]),
                ],
                next: &[],
                grad: [if GRAD {
                    grads.next().unwrap_or(&mut [])
                } else {
                    &mut []
                }],
                weight: 1.0,
            };
            let losses = narrow::block::<L, T, GRAD>(
                &kind,
                classes,
                block,
                sample_weight,
                grad_scale,
                &mut scratch,
            );
            for v in losses.iter().take(L::LANES) {
                samples.push(*v);
            }
        }
        first = blocks * L::LANES;
    }
    let mut m = match input {
        Input::Logits => max::<L>(
            logits
                .get(first * classes..(first + 1) * classes)
                .unwrap_or(&[]),
        ),
        Input::LogProbs => 0.0,
    };
    each_row(
        classes,
        first..rows,
        [logits, target],
        [grad],
        sample_weight,
        &mut samples,
        |row| {
            let (loss, next_max) = kernel::row::<L, T, GRAD>(&kind, input, grad_scale, row, m);
            m = next_max;
            loss
        },
    );
    samples.total()
}
