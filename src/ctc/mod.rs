//! Connectionist temporal classification (CTC): the negative log-likelihood
//! of a label sequence under per-step class distributions, summed over every
//! alignment, and its gradient, by the forward-backward recursion **entirely
//! in log space**.
//!
//! ## The math
//!
//! For one sequence with `T` steps (its input length), log-probabilities
//! `y_t(k)` (given, or `x_t(k) - lse(x_t)` from logits) and a label
//! `l = l_1..l_S`, the *extended label* inserts the blank `b` around every
//! label: `l' = b l_1 b l_2 ... l_S b`, `2S + 1` states. With
//! `lae(u, v) = ln(e^u + e^v)` ([`log_add_exp`](crate::math::log_add_exp)):
//!
//! ```text
//! α_0(0) = y_0(b),  α_0(1) = y_0(l_1),  α_0(s) = -∞ otherwise
//! α_t(s) = y_t(l'_s) + lae(α_{t-1}(s), α_{t-1}(s-1), [skip(s)] α_{t-1}(s-2))
//! β̂_t(s) = lae(β_{t+1}(s), β_{t+1}(s+1), [skip(s+2)] β_{t+1}(s+2)),
//!           β̂_{T-1}(s) = 0 for the last two states, -∞ otherwise
//! β_t(s) = y_t(l'_s) + β̂_t(s)
//! ln p(l|x) = lae(α_{T-1}(2S), α_{T-1}(2S-1))
//! γ_t(s) = exp(α_t(s) + β̂_t(s) - ln p(l|x))   (posterior of state s at t)
//! ```
//!
//! where `skip(s)` holds when `l'_s` is a label that differs from `l'_{s-2}`.
//! The loss is `-ln p(l|x)`; the gradient w.r.t. the log-probabilities is
//! `-γ_t(k) = -Σ_{s: l'_s = k} γ_t(s)` and w.r.t. logits `softmax(x_t) - γ_t`.
//!
//! **Log-probability gradients differ from PyTorch.** PyTorch's `ctc_loss`
//! returns `exp(y) - γ` for log-probability inputs, the gradient w.r.t. the
//! logits *behind* a `log_softmax`. This crate returns the exact derivative
//! of the returned value w.r.t. the values passed, `-γ`. Both give the same
//! gradient once back-propagated through a `log_softmax` (whose Jacobian
//! maps `-γ` to `softmax - γ`). For logits both agree: `softmax - γ`.
//!
//! ## How it runs
//!
//! The `2S + 1` states are stored as two arrays: the `S + 1` blanks
//! (`blank k` sits between `l_k` and `l_{k+1}`) and the `S` labels (`label k`
//! is `l_k`, behind one `-∞` pad for `label 0`), each padded with `-∞` to a
//! whole number of the widest lane, so every load and store is a full lane,
//! the blank emission is one splat and only the `S` label emissions are
//! gathered, once per step. The three-term recursion of a label reuses its
//! blank neighbour's two-term one: with `P(k) = lae(α(blank k), α(label k))`,
//!
//! ```text
//! α'(blank k) = y(b)   + P(k)
//! α'(label k) = y(l_k) + lae(α(label k), skip(k) ? P(k-1) : α(blank k-1))
//! ```
//!
//! so each state costs one `exp` and one `ln1p`, vectorized along the states
//! with [`Lane`]; the skip transition is a precomputed mask (the backward
//! recursion is the mirror image). The value alone is the forward (`α`)
//! sweep in two rolling columns. With the gradient, `α` is stored in full,
//! `β` as one rolling column updated in place, and the gradient row of step
//! `t` is written during the backward (`β`) sweep (warp-ctc's layout, not
//! PyTorch's two full matrices). The per-step `log_softmax` is computed
//! once, in the `α` sweep, with the crate's row primitives (maximum, then
//! `Σ e^(x - max)`): with the gradient its `e^(x - max)` row is parked in the
//! caller's gradient slice and rescaled in the `β` sweep. A step only
//! computes the states that lie on some alignment at that step (reachable
//! from the start and able to reach the end), rounded out to whole lanes.
//!
//! The parts: `inputs` (the argument types and their validation),
//! `workspace` (the two layouts of the caller's workspace, as named
//! regions), `recursion` (one `α` step, one `β` step, the window of states
//! a step computes), `sequence` (one sequence's forward and backward
//! sweeps); this file holds the builder, the entry points and the batch
//! loop, which runs through the backend seam (`lane::run`).
//!
//! ## Accuracy
//!
//! Everything is `f32`. Each stored `α` column (and the `β` column) is kept
//! relative to a running offset, the previous column's maximum, so stored
//! values stay near 0 and their rounding does not grow with the step; the
//! offsets are summed in `f64`. The posteriors of each step are normalised
//! to sum to 1 (`Σ_s γ_t(s) = 1` holds exactly in exact arithmetic), which
//! cancels the drift `α + β̂` still accumulates, and makes each gradient row
//! of logits sum to 0. Measured against float64 (`tests/ctc.rs`): at
//! `T = 500, C = 80, S = 100` the gradient's largest absolute error is
//! below `1e-5` (PyTorch's float32 `ctc_loss` shows `1.5e-5` at `T = 50` on
//! the conformance case); every case of the conformance file passes with its
//! tolerances.
//!
//! ## Edge cases
//!
//! * Empty label: `-Σ_t y_t(b)`. Input length 0: 0 for an empty label, `+∞`
//!   otherwise.
//! * Infeasible (input length `<` label length + adjacent repeats), or every
//!   alignment through a `-∞` log-probability: the loss is `+∞` and the
//!   sequence's gradient 0; with [`Ctc::zero_infinity`] the loss is 0.
//! * Steps at or past a sequence's input length get 0 gradient.
//! * NaN in the activations propagates into the loss and gradient.
//!
//! ## Example
//!
//! ```
//! use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
//! use loss_kernels::Reduction;
//! // T = 2 steps, N = 1 sequence, C = 3 classes (blank 0), label [1].
//! let logits = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
//! let acts = Activations::time_major(&logits, Dims { steps: 2, batch: 1, classes: 3 }, &[2]);
//! let labels = Labels::Padded { labels: &[1], max_len: 1, lengths: &[1] };
//! let mut workspace = vec![0.0; ctc::workspace_len(2, 1)];
//! let mut grad = [0.0; 6];
//! let loss = Ctc::new(0).value_and_grad(&acts, &labels, Reduction::Sum, &mut workspace, &mut grad)?;
//! // alignments "1 1", "0 1", "1 0": p = e²+2e over (e+2)²
//! let e = core::f32::consts::E;
//! assert!((loss - -((e * e + 2.0 * e) / ((e + 2.0) * (e + 2.0))).ln()).abs() < 1e-6);
//! # Ok::<(), loss_kernels::Error>(())
//! ```

mod inputs;
mod recursion;
mod sequence;
mod workspace;

pub use inputs::{Activations, Blank, Dims, Input, Labels, Layout};
pub use workspace::{WORKSPACE_LANES, value_workspace_len, workspace_len};

use crate::Reduction;
use crate::driver::{Outputs, Samples, reduction_scale};
use crate::error::{Domain, Error, check_len, check_param};
use crate::lane::{self, Kernel, Lane};
use sequence::{Program, Sequence, Value, ValueAndGrad};

/// The CTC loss: the blank, the input kind and `zero_infinity`. Build it
/// with [`Ctc::new`] (or [`Ctc::blank_last`]) and the builder methods, then
/// call [`value`](Self::value), [`value_and_grad`](Self::value_and_grad),
/// [`per_sample`](Self::per_sample) or
/// [`per_sample_and_grad`](Self::per_sample_and_grad).
///
/// Reductions: `Sum` adds the per-sequence losses; `Mean` is PyTorch's,
/// the mean over sequences of `loss_i / max(label_length_i, 1)`.
///
/// ```
/// use loss_kernels::ctc::{Ctc, Input};
/// let ctc = Ctc::blank_last().input(Input::LogProbs).zero_infinity(true);
/// # let _ = ctc;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctc {
    blank: Blank,
    input: Input,
    zero_infinity: bool,
}

impl Default for Ctc {
    fn default() -> Self {
        Ctc::new(0)
    }
}

impl Ctc {
    /// A CTC loss with blank class `blank` (checked `< C` at the call),
    /// logits input and `zero_infinity` off.
    pub const fn new(blank: u32) -> Self {
        Ctc {
            blank: Blank::Index(blank),
            input: Input::Logits,
            zero_infinity: false,
        }
    }

    /// A CTC loss whose blank is the last class, `C - 1`.
    pub const fn blank_last() -> Self {
        Ctc {
            blank: Blank::Last,
            ..Ctc::new(0)
        }
    }

    /// Sets what the activations hold (default [`Input::Logits`]).
    #[must_use]
    pub const fn input(self, input: Input) -> Self {
        Ctc { input, ..self }
    }

    /// With `true`, an infinite loss (infeasible alignment) becomes 0, with 0
    /// gradient (PyTorch's `zero_infinity`). Default `false`: `+∞`.
    #[must_use]
    pub const fn zero_infinity(self, on: bool) -> Self {
        Ctc {
            zero_infinity: on,
            ..self
        }
    }

    /// The blank setting.
    pub const fn blank(&self) -> Blank {
        self.blank
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    /// use loss_kernels::Reduction;
    /// // uniform log-probabilities over 2 classes, 3 steps, empty label:
    /// // the only alignment is all blanks, -ln p = 3 ln 2
    /// let lp = [-core::f32::consts::LN_2; 6];
    /// let acts = Activations::time_major(&lp, Dims { steps: 3, batch: 1, classes: 2 }, &[3]);
    /// let labels = Labels::Concatenated { labels: &[], lengths: &[0] };
    /// let mut ws = vec![0.0; ctc::value_workspace_len(0)];
    /// let ctc = Ctc::new(0).input(ctc::Input::LogProbs);
    /// let v = ctc.value(&acts, &labels, Reduction::Sum, &mut ws)?;
    /// assert!((v - 3.0 * core::f32::consts::LN_2).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        self.run::<Value, false, false>(activations, labels, reduction, workspace, Outputs::none())
    }

    /// The reduced loss and, in the same pass, its gradient w.r.t. the
    /// activations, written into `grad` (same length and layout as
    /// `activations.data`; every value is written).
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    /// use loss_kernels::Reduction;
    /// let logits = [0.5, -1.0, 2.0, 0.0, 0.3, 0.1];
    /// let acts = Activations::batch_major(&logits, Dims { steps: 2, batch: 1, classes: 3 }, &[2]);
    /// let labels = Labels::Padded { labels: &[2], max_len: 1, lengths: &[1] };
    /// let (mut ws, mut grad) = (vec![0.0; ctc::workspace_len(2, 1)], [0.0; 6]);
    /// Ctc::new(0).value_and_grad(&acts, &labels, Reduction::Mean, &mut ws, &mut grad)?;
    /// // softmax - γ: each step's gradient sums to 0
    /// assert!((grad[0] + grad[1] + grad[2]).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_grad(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<false>(activations, labels, reduction, workspace, 1.0, grad)
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. the activations
    /// **added** to `grad` (same length and layout as `activations.data`)
    /// in the same pass: `grad += scale · ∂L`. `scale` (finite) weights the
    /// gradient only, never the value; steps past a sequence's input
    /// length, and sequences with an infinite loss, add nothing. Needs the
    /// workspace of [`value_and_grad`](Self::value_and_grad).
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    /// use loss_kernels::Reduction;
    /// let logits = [0.5, -1.0, 2.0, 0.0, 0.3, 0.1];
    /// let acts = Activations::time_major(&logits, Dims { steps: 2, batch: 1, classes: 3 }, &[2]);
    /// let labels = Labels::Padded { labels: &[2], max_len: 1, lengths: &[1] };
    /// let mut ws = vec![0.0; ctc::workspace_len(2, 1)];
    /// let (mut once, mut twice) = ([0.0; 6], [0.0; 6]);
    /// let ctc = Ctc::new(0);
    /// ctc.value_and_grad(&acts, &labels, Reduction::Sum, &mut ws, &mut once)?;
    /// for _ in 0..2 {
    ///     ctc.value_and_accumulate_grad(&acts, &labels, Reduction::Sum, &mut ws, 0.5, &mut twice)?;
    /// }
    /// assert!(once.iter().zip(&twice).all(|(a, b)| (a - b).abs() < 1e-6));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_accumulate_grad(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<true>(activations, labels, reduction, workspace, scale, grad)
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. the activations
    /// **written** into `grad` (same length and layout as
    /// `activations.data`) in the same pass: `grad = scale · ∂L`, the value
    /// returned unscaled. Needs the workspace of
    /// [`value_and_grad`](Self::value_and_grad).
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    /// use loss_kernels::Reduction;
    /// let logits = [0.5, -1.0, 2.0, 0.0, 0.3, 0.1];
    /// let acts = Activations::time_major(&logits, Dims { steps: 2, batch: 1, classes: 3 }, &[2]);
    /// let labels = Labels::Padded { labels: &[2], max_len: 1, lengths: &[1] };
    /// let mut ws = vec![0.0; ctc::workspace_len(2, 1)];
    /// let (mut once, mut half) = ([0.0; 6], [f32::NAN; 6]);
    /// let ctc = Ctc::new(0);
    /// let v = ctc.value_and_grad(&acts, &labels, Reduction::Sum, &mut ws, &mut once)?;
    /// let w = ctc.value_and_scaled_grad(&acts, &labels, Reduction::Sum, &mut ws, 0.5, &mut half)?;
    /// assert_eq!(v, w);
    /// assert!(once.iter().zip(&half).all(|(a, b)| (0.5 * a - b).abs() < 1e-7));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_scaled_grad(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<false>(activations, labels, reduction, workspace, scale, grad)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    fn with_scale<const ACC: bool>(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        let scale = check_param("scale", scale, Domain::Finite)?;
        self.run::<ValueAndGrad, false, ACC>(
            activations,
            labels,
            reduction,
            workspace,
            Outputs::scaled(grad, scale),
        )
    }

    /// The `Mean` denominator of a batch: its number of sequences `N`
    /// (`Mean` is the mean over sequences of `loss_i / max(len_i, 1)`).
    /// Shards of sequences combine with it, within rounding: `Mean = Σ_k (d_k / d)
    /// Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::ctc::{Activations, Ctc, Dims};
    /// let data = [0.0; 2 * 3 * 4];
    /// let acts = Activations::batch_major(&data, Dims { steps: 2, batch: 3, classes: 4 }, &[2, 2, 1]);
    /// assert_eq!(Ctc::new(0).mean_denominator(&acts)?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, activations: &Activations<'_>) -> Result<f32, Error> {
        if activations.dims.batch == 0 {
            return Err(Error::EmptyBatch {
                argument: "activations",
            });
        }
        Ok(activations.dims.batch as f32)
    }

    /// The per-sequence losses, one per sequence, into `out`.
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    /// let logits = [0.0; 2 * 1 * 3];
    /// // label [1, 1] needs 3 steps (a blank between the repeats): infeasible
    /// let acts = Activations::time_major(&logits, Dims { steps: 2, batch: 1, classes: 3 }, &[2]);
    /// let labels = Labels::Padded { labels: &[1, 1], max_len: 2, lengths: &[2] };
    /// let mut ws = vec![0.0; ctc::value_workspace_len(2)];
    /// let mut out = [0.0];
    /// Ctc::new(0).per_sample(&acts, &labels, &mut ws, &mut out)?;
    /// assert_eq!(out, [f32::INFINITY]);
    /// Ctc::new(0).zero_infinity(true).per_sample(&acts, &labels, &mut ws, &mut out)?;
    /// assert_eq!(out, [0.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        workspace: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.run::<Value, true, false>(
            activations,
            labels,
            Reduction::Sum,
            workspace,
            Outputs::values(out),
        )
        .map(|_| ())
    }

    /// The per-sequence losses into `out` and the gradient of their sum into
    /// `grad`, in one pass; returns the sum.
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    /// let logits = [0.0; 3 * 2 * 3];
    /// let acts = Activations::time_major(&logits, Dims { steps: 3, batch: 2, classes: 3 }, &[3, 2]);
    /// let labels = Labels::Concatenated { labels: &[1, 2, 2], lengths: &[2, 1] };
    /// let (mut ws, mut out, mut grad) = (vec![0.0; ctc::workspace_len(3, 2)], [0.0; 2], [0.0; 18]);
    /// let sum = Ctc::new(0).per_sample_and_grad(&acts, &labels, &mut ws, &mut out, &mut grad)?;
    /// assert_eq!(sum, out[0] + out[1]);
    /// // step 2 is past sequence 1's input length: zero gradient
    /// assert_eq!(&grad[15..18], &[0.0; 3]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample_and_grad(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
        workspace: &mut [f32],
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.run::<ValueAndGrad, true, false>(
            activations,
            labels,
            Reduction::Sum,
            workspace,
            Outputs::both(grad, out),
        )
    }

    /// The argument checks of a call on `activations` and `labels`, without
    /// computing anything: what a caller that splits a batch (threads,
    /// [`Activations::sequences`]) checks on the whole batch first.
    ///
    /// ```
    /// use loss_kernels::ctc::{Activations, Ctc, Dims, Labels};
    /// let data = [0.0; 2 * 1 * 3];
    /// let acts = Activations::time_major(&data, Dims { steps: 2, batch: 1, classes: 3 }, &[2]);
    /// let labels = Labels::Padded { labels: &[5], max_len: 1, lengths: &[1] };
    /// assert!(Ctc::new(0).validate(&acts, &labels).is_err()); // 5 >= 3 classes
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn validate(
        &self,
        activations: &Activations<'_>,
        labels: &Labels<'_>,
    ) -> Result<(), Error> {
        inputs::validate(self.blank, activations, labels).map(|_| ())
    }

    /// Validates every argument, then runs the batch through the backend
    /// seam ([`lane::run`]).
    fn run<P: Program, const VALUES: bool, const ACC: bool>(
        &self,
        acts: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
        out: Outputs<'_>,
    ) -> Result<f32, Error> {
        let blank = inputs::validate(self.blank, acts, labels)?;
        if P::GRAD {
            check_len("grad", out.grad, acts.data.len())?;
        }
        if VALUES {
            check_len("out", out.values, acts.dims.batch)?;
        }
        let (need, sized_by) = if P::GRAD {
            let need = workspace_len(acts.max_input_len(), labels.max_len());
            (need, "ctc::workspace_len")
        } else {
            (
                value_workspace_len(labels.max_len()),
                "ctc::value_workspace_len",
            )
        };
        workspace::check(workspace, need, sized_by)?;
        Ok(lane::run(Batch::<P, ACC> {
            ctc: self,
            blank,
            acts,
            labels,
            reduction,
            workspace,
            out,
            program: core::marker::PhantomData,
        }))
    }
}

/// A validated CTC call (see [`Kernel`]): the sequences run one after the
/// other through the shared workspace.
struct Batch<'a, P, const ACC: bool> {
    ctc: &'a Ctc,
    /// The validated blank index.
    blank: usize,
    acts: &'a Activations<'a>,
    labels: &'a Labels<'a>,
    reduction: Reduction,
    workspace: &'a mut [f32],
    out: Outputs<'a>,
    program: core::marker::PhantomData<P>,
}

impl<P: Program, const ACC: bool> Kernel for Batch<'_, P, ACC> {
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let Batch {
            ctc,
            blank,
            acts,
            labels,
            reduction,
            workspace,
            out,
            ..
        } = self;
        let Outputs {
            grad,
            values,
            grad_scale: factor,
        } = out;
        let mut samples = Samples::new(values);
        let sequences = labels.each().map(|(_, label)| label);
        for ((i, label), &input_len) in sequences.enumerate().zip(acts.input_lengths) {
            let seq = Sequence {
                acts,
                i,
                steps: input_len as usize,
                labels: label,
                blank,
                input: ctc.input,
            };
            // PyTorch's mean: over sequences of loss / max(label length, 1).
            let denominator = acts.dims.batch as f32 * label.len().max(1) as f32;
            let scale = reduction_scale(reduction, denominator);
            let mut loss = if seq.feasible() {
                -P::log_likelihood::<L, ACC>(&seq, workspace, grad, scale * factor)
            } else {
                f32::INFINITY
            };
            if P::GRAD && !ACC {
                // Steps past the input length, and every step of an infinite
                // loss, get 0 gradient.
                let from = if loss == f32::INFINITY { 0 } else { seq.steps };
                for step in from..acts.dims.steps {
                    if let Some(row) = grad.get_mut(seq.row(step)) {
                        row.fill(0.0);
                    }
                }
            }
            if ctc.zero_infinity && loss == f32::INFINITY {
                loss = 0.0;
            }
            samples.push(loss * scale);
        }
        samples.total()
    }
}
