//! A validated call of cross-entropy or KL divergence ([`Plan`]), the
//! choice of its kernel ([`kind`], [`Plan::dispatch`]), and the kernel entry
//! that runs it at a lane type ([`Kernel`]): it builds the [`TargetKind`]
//! of the call's targets, then walks the batch, narrow rows in transposed
//! blocks and the rest row by row.

use super::Input;
use super::kernel;
use super::narrow::{self, Scratch};
use super::strided;
use super::targets::{
    ClassLabels, Dense, Kl, KlLog, OneHot, Smoothed, Sparse, TargetKind, Unweighted, Weighted,
};
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
        labels: ClassLabels<'a>,
        /// Rows with this label are ignored.
        ignore_index: Option<i64>,
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
        /// Label smoothing `α`.
        smoothing: f32,
    },
    /// KL divergence against a row of target probabilities (or, with
    /// `log_target`, log-probabilities) per row.
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
    /// Samples in the batch: rows, or positions with a strided class axis.
    pub(super) rows: usize,
    /// Positions per sample of the strided class axis (1: the row layout,
    /// the classes contiguous).
    pub(super) spatial: usize,
    /// What the prediction rows hold.
    pub(super) input: Input,
    /// One weight per row, if any.
    pub(super) sample_weight: Option<&'a [f32]>,
    /// The reduction's factor (see [`crate::driver::reduction_scale`]).
    pub(super) grad_scale: f32,
    /// The targets.
    pub(super) targets: Targets<'a>,
}

/// The kernels of the family, one per kind of target and class weights.
/// An entry point picks one ([`Plan::dispatch`]) from its options and the
/// kind of its labels, in code inlined into the caller, so a build whose
/// calls can only reach some kernels links only those (a firmware using
/// sparse labels without smoothing links the one-hot kernel alone).
pub(super) mod kind {
    /// Sparse labels, no smoothing (any class weights).
    pub(in crate::softmax) const ONE_HOT: u8 = 0;
    /// Sparse labels with smoothing, no class weights.
    pub(in crate::softmax) const SMOOTHED: u8 = 1;
    /// Sparse labels with smoothing and class weights.
    pub(in crate::softmax) const SMOOTHED_WEIGHTED: u8 = 2;
    /// Dense targets, no class weights.
    pub(in crate::softmax) const DENSE: u8 = 3;
    /// Dense targets with class weights.
    pub(in crate::softmax) const DENSE_WEIGHTED: u8 = 4;
    /// KL divergence.
    pub(in crate::softmax) const KL: u8 = 5;
    /// KL divergence against log-probability targets.
    pub(in crate::softmax) const KL_LOG: u8 = 6;
}

impl<'a> Plan<'a> {
    /// Runs the call with the kernel `kind` (a [`kind`] constant, from the
    /// same options and labels as `self`) for rows of `input`: returns the
    /// reduced loss, writes the gradient and per-sample values `out` asks
    /// for (`GRAD` says whether `out.grad` is written).
    ///
    /// Inlined, so where the caller's options are known the choice is
    /// made at compile time; each kernel is its own function. With `ACC`
    /// the gradient is added to `out.grad` ([`Outputs`]' accumulating
    /// calls), a kernel of its own.
    #[inline(always)]
    pub(super) fn dispatch<const GRAD: bool, const ACC: bool>(
        self,
        kind: u8,
        input: Input,
        logits: &'a [f32],
        out: Outputs<'a>,
    ) -> f32 {
        let strided = self.spatial > 1;
        macro_rules! pick {
            ($($k:ident),*) => {
                match (kind, input, strided) {
                    $(
                        (kind::$k, Input::Logits, false) => {
                            self.run::<{ kind::$k }, true, GRAD, false, ACC>(logits, out)
                        }
                        (kind::$k, Input::LogProbs, false) => {
                            self.run::<{ kind::$k }, false, GRAD, false, ACC>(logits, out)
                        }
                        (kind::$k, Input::Logits, true) => {
                            self.run::<{ kind::$k }, true, GRAD, true, ACC>(logits, out)
                        }
                        (kind::$k, Input::LogProbs, true) => {
                            self.run::<{ kind::$k }, false, GRAD, true, ACC>(logits, out)
                        }
                    )*
                    _ => f32::NAN,
                }
            };
        }
        pick!(
            ONE_HOT,
            SMOOTHED,
            SMOOTHED_WEIGHTED,
            DENSE,
            DENSE_WEIGHTED,
            KL,
            KL_LOG
        )
    }

    /// The kernel `KIND` for rows of logits (`LOGITS`) or log-probabilities,
    /// in the row layout or (`STRIDED`) the strided class axis, through the
    /// backend seam.
    #[inline(never)]
    fn run<
        const KIND: u8,
        const LOGITS: bool,
        const GRAD: bool,
        const STRIDED: bool,
        const ACC: bool,
    >(
        self,
        logits: &'a [f32],
        out: Outputs<'a>,
    ) -> f32 {
        let input = if LOGITS {
            Input::Logits
        } else {
            Input::LogProbs
        };
        lane::run(Call::<KIND, GRAD, STRIDED, ACC> {
            plan: Plan { input, ..self },
            logits,
            out,
        })
    }
}

/// A plan with its inputs and outputs, ready for [`lane::run`].
struct Call<'a, const KIND: u8, const GRAD: bool, const STRIDED: bool, const ACC: bool> {
    plan: Plan<'a>,
    logits: &'a [f32],
    out: Outputs<'a>,
}

/// The per-call constants of sparse labels with smoothing `α`.
#[inline(always)]
fn sparse<'a, L: Lane>(
    classes: usize,
    labels: ClassLabels<'a>,
    ignore_index: Option<i64>,
    smoothing: f32,
    class_weight: Option<&'a [f32]>,
) -> Sparse<'a> {
    let class_weight_sum = match class_weight {
        Some(c) => {
            let [sum] = dots::<L, 1>(
                c.len(),
                #[inline(always)]
                |i| [(load(c, i, 0.0), L::splat(1.0))],
            );
            sum
        }
        None => classes as f32,
    };
    Sparse {
        labels,
        ignore_index,
        hot: 1.0 - smoothing,
        spread: smoothing / classes as f32,
        class_weight,
        class_weight_sum,
    }
}

/// The dense kind with smoothing `α`: `t -> (1-α) t + α/C`.
#[inline(always)]
fn dense<C>(classes: usize, class_weight: C, smoothing: f32) -> Dense<C> {
    Dense {
        class_weight,
        keep: 1.0 - smoothing,
        add: smoothing / classes as f32,
    }
}

impl<const KIND: u8, const GRAD: bool, const STRIDED: bool, const ACC: bool> Kernel
    for Call<'_, KIND, GRAD, STRIDED, ACC>
{
    type Output = f32;

    /// Builds the kernel `KIND`'s target kind, runs every row and reduces.
    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let Call { plan, logits, out } = self;
        let classes = plan.classes;
        let total = match (KIND, plan.targets) {
            (
                kind::ONE_HOT,
                Targets::Sparse {
                    labels,
                    ignore_index,
                    smoothing,
                    class_weight,
                },
            ) => {
                let sparse = sparse::<L>(classes, labels, ignore_index, smoothing, class_weight);
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, OneHot(sparse), logits, &[], out)
            }
            (
                kind::SMOOTHED,
                Targets::Sparse {
                    labels,
                    ignore_index,
                    smoothing,
                    class_weight: None,
                },
            ) => {
                let kind = Smoothed {
                    sparse: sparse::<L>(classes, labels, ignore_index, smoothing, None),
                    class_weight: Unweighted,
                };
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, kind, logits, &[], out)
            }
            (
                kind::SMOOTHED_WEIGHTED,
                Targets::Sparse {
                    labels,
                    ignore_index,
                    smoothing,
                    class_weight: Some(c),
                },
            ) => {
                let kind = Smoothed {
                    sparse: sparse::<L>(classes, labels, ignore_index, smoothing, Some(c)),
                    class_weight: Weighted(c),
                };
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, kind, logits, &[], out)
            }
            (
                kind::DENSE,
                Targets::Dense {
                    target,
                    class_weight: None,
                    smoothing,
                },
            ) => {
                let kind = dense(classes, Unweighted, smoothing);
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, kind, logits, target, out)
            }
            (
                kind::DENSE_WEIGHTED,
                Targets::Dense {
                    target,
                    class_weight: Some(c),
                    smoothing,
                },
            ) => {
                let kind = dense(classes, Weighted(c), smoothing);
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, kind, logits, target, out)
            }
            (kind::KL, Targets::Kl { target }) => {
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, Kl, logits, target, out)
            }
            (kind::KL_LOG, Targets::Kl { target }) => {
                batch::<L, _, GRAD, STRIDED, ACC>(&plan, KlLog, logits, target, out)
            }
            // The entry points pick `KIND` from the same targets.
            _ => f32::NAN,
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
fn batch<L: Lane, T: TargetKind, const GRAD: bool, const STRIDED: bool, const ACC: bool>(
    plan: &Plan<'_>,
    kind: T,
    logits: &[f32],
    target: &[f32],
    out: Outputs<'_>,
) -> f32 {
    if STRIDED {
        return match plan.input {
            Input::Logits => {
                strided::batch::<L, T, true, GRAD, ACC>(plan, kind, logits, target, out)
            }
            Input::LogProbs => {
                strided::batch::<L, T, false, GRAD, ACC>(plan, kind, logits, target, out)
            }
        };
    }
    let Plan {
        classes,
        rows,
        input,
        sample_weight,
        grad_scale,
        ..
    } = *plan;
    let Outputs {
        grad,
        values,
        grad_scale: factor,
    } = out;
    // The gradient's factor: the reduction's, times an accumulating call's.
    let grad_scale = grad_scale * factor;
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
            let losses = narrow::block::<L, T, GRAD, ACC>(
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
        #[inline(always)]
        |row| {
            let (loss, next_max) = kernel::row::<L, T, GRAD, ACC>(&kind, input, grad_scale, row, m);
            m = next_max;
            loss
        },
    );
    samples.total()
}
