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
//! `lae(u, v) = ln(e^u + e^v)` ([`log_add_exp`]):
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
//! recursion is the mirror image). `α` is stored in full, `β` as one rolling
//! column updated in place, and the gradient row of step `t` is written
//! during the `β` sweep (warp-ctc's layout, not PyTorch's two full
//! matrices). The per-step `log_softmax` is computed once, in the `α` sweep:
//! its `exp(x - max)` row is parked in the caller's gradient slice and
//! rescaled in the `β` sweep. A step only computes the states that lie on
//! some alignment at that step (reachable from the start and able to reach
//! the end), rounded out to whole lanes.
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
//! use loss_kernels::ctc::{self, Activations, Ctc, Labels};
//! use loss_kernels::Reduction;
//! // T = 2 steps, N = 1 sequence, C = 3 classes (blank 0), label [1].
//! let logits = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
//! let acts = Activations::time_major(&logits, 2, 1, 3, &[2]);
//! let labels = Labels::Padded { labels: &[1], max_len: 1, lengths: &[1] };
//! let mut workspace = vec![0.0; ctc::workspace_len(2, 1)];
//! let mut grad = [0.0; 6];
//! let loss = Ctc::new(0).value_and_grad(&acts, &labels, Reduction::Sum, &mut workspace, &mut grad)?;
//! // alignments "1 1", "0 1", "1 0": p = e²+2e over (e+2)²
//! let e = core::f32::consts::E;
//! assert!((loss - -((e * e + 2.0 * e) / ((e + 2.0) * (e + 2.0))).ln()).abs() < 1e-6);
//! # Ok::<(), loss_kernels::Error>(())
//! ```

use crate::Reduction;
use crate::driver::Sum;
use crate::error::Error;
use crate::lane::{Lane, Native};
use crate::math::{exp_nonpositive, ln, log_add_exp};

const NEG_INF: f32 = f32::NEG_INFINITY;

/// How the activations are laid out in their slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `T × N × C`: step-major, as PyTorch and warp-ctc.
    #[default]
    TimeMajor,
    /// `N × T × C`: sequence-major, as Gluon's `NTC` and optax.
    BatchMajor,
}

/// What the activations hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Input {
    /// Unnormalised scores; a `log_softmax` over each step's `C` values is
    /// applied inside (Gluon, warp-ctc, optax). Gradient: `softmax - γ`.
    #[default]
    Logits,
    /// Log-probabilities, used as given, not renormalised (PyTorch).
    /// Gradient: `-γ` (see the [module docs](self) for PyTorch's variant).
    LogProbs,
}

/// Which class is the blank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blank {
    /// This class index (must be `< C`).
    Index(u32),
    /// The last class, `C - 1` (Gluon's `blank_label='last'`).
    Last,
}

/// The activations of a batch: `data` in `layout`, with `t` steps, `n`
/// sequences and `c` classes, and each sequence's input length.
///
/// ```
/// use loss_kernels::ctc::{Activations, Layout};
/// let data = [0.0; 2 * 3 * 4];
/// let a = Activations::batch_major(&data, 2, 3, 4, &[3, 2]);
/// assert_eq!((a.layout, a.t, a.n, a.c), (Layout::BatchMajor, 3, 2, 4));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Activations<'a> {
    /// `t * n * c` values in `layout`.
    pub data: &'a [f32],
    /// The order of the three axes in `data`.
    pub layout: Layout,
    /// The number of steps `T` (the padded time axis).
    pub t: usize,
    /// The number of sequences `N`.
    pub n: usize,
    /// The number of classes `C`, blank included.
    pub c: usize,
    /// `n` input lengths, each `<= t`: steps from a sequence's length on are
    /// ignored.
    pub input_lengths: &'a [u32],
}

impl<'a> Activations<'a> {
    /// Time-major activations (`T × N × C`).
    pub const fn time_major(
        data: &'a [f32],
        t: usize,
        n: usize,
        c: usize,
        input_lengths: &'a [u32],
    ) -> Self {
        Activations {
            data,
            layout: Layout::TimeMajor,
            t,
            n,
            c,
            input_lengths,
        }
    }

    /// Batch-major activations (`N × T × C`); note the argument order
    /// follows the layout.
    pub const fn batch_major(
        data: &'a [f32],
        n: usize,
        t: usize,
        c: usize,
        input_lengths: &'a [u32],
    ) -> Self {
        Activations {
            data,
            layout: Layout::BatchMajor,
            t,
            n,
            c,
            input_lengths,
        }
    }

    /// Start of the row of sequence `i` at step `step` in `data`.
    #[inline(always)]
    fn row_start(&self, i: usize, step: usize) -> usize {
        match self.layout {
            Layout::TimeMajor => (step * self.n + i) * self.c,
            Layout::BatchMajor => (i * self.t + step) * self.c,
        }
    }
}

/// The label sequences of a batch, with their lengths. Values must be
/// `< C` and never the blank; entries of a padded row past its length are
/// ignored (any value, e.g. `u32::MAX`).
///
/// ```
/// use loss_kernels::ctc::Labels;
/// // the same two labels, [1, 2] and [3], both ways
/// let padded = Labels::Padded { labels: &[1, 2, 3, u32::MAX], max_len: 2, lengths: &[2, 1] };
/// let concatenated = Labels::Concatenated { labels: &[1, 2, 3], lengths: &[2, 1] };
/// # let _ = (padded, concatenated);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    /// `n` rows of `max_len` labels (`labels.len() = n * max_len`).
    Padded {
        /// The rows, one per sequence.
        labels: &'a [u32],
        /// The row length `S`.
        max_len: usize,
        /// `n` label lengths, each `<= max_len`.
        lengths: &'a [u32],
    },
    /// All labels back to back (`labels.len() = Σ lengths`).
    Concatenated {
        /// The labels of sequence 0, then of sequence 1, ...
        labels: &'a [u32],
        /// `n` label lengths.
        lengths: &'a [u32],
    },
}

impl<'a> Labels<'a> {
    /// The `n` label lengths.
    fn lengths(&self) -> &'a [u32] {
        match *self {
            Labels::Padded { lengths, .. } | Labels::Concatenated { lengths, .. } => lengths,
        }
    }

    /// The label sequences in order (validated lengths assumed; a short
    /// slice yields short sequences, never a panic).
    fn sequences(&self) -> impl Iterator<Item = (usize, &'a [u32])> {
        let (labels, row) = match *self {
            Labels::Padded {
                labels, max_len, ..
            } => (labels, Some(max_len)),
            Labels::Concatenated { labels, .. } => (labels, None),
        };
        let mut offset = 0usize;
        self.lengths().iter().enumerate().map(move |(i, &len)| {
            let start = match row {
                Some(r) => i.saturating_mul(r),
                None => offset,
            };
            let end = start.saturating_add(len as usize);
            offset = end;
            (start, labels.get(start..end).unwrap_or(&[]))
        })
    }
}

/// The `f32` workspace a CTC call needs, for the longest input length `T`
/// and the longest label length `S` of the batch (so `workspace_len(t,
/// max_len)` of the padded shapes always suffices):
///
/// ```text
/// workspace_len(T, S) = 3 H (T + 2) + 2 T,   H = 16 ⌈(S + 1) / 16⌉ + 16
/// ```
///
/// `H` is the padded length of a column of blank (or label) states: the
/// `S + 1` states rounded up to the widest lane (16) plus one lane, so every
/// vector load and store of the recursion is a full lane. The workspace
/// holds, for the sequence being processed, the full `α` matrix
/// (`(T + 1) 2H`), the gathered emissions (`T H`), the per-step softmax
/// normalisers and `α` offsets (`2 T`), the rolling `β` column (`2H`), the
/// skip mask and a posterior column (`2H`). The formula is the same in every
/// build (any lane width). Every entry point asks for this length. The
/// arithmetic saturates: a saturated length is one no slice can hold, and
/// the call returns [`Error::WorkspaceTooSmall`].
///
/// ```
/// use loss_kernels::ctc::workspace_len;
/// // S = 40: H = 48 + 16 = 64
/// assert_eq!(workspace_len(150, 40), 3 * 64 * 152 + 2 * 150);
/// ```
pub const fn workspace_len(t: usize, max_label_len: usize) -> usize {
    let h = column_len(max_label_len);
    h.saturating_mul(3)
        .saturating_mul(t.saturating_add(2))
        .saturating_add(t.saturating_mul(2))
}

/// The widest lane of any build: columns are padded to a multiple of it.
const MAX_LANES: usize = 16;
const _: () = assert!(MAX_LANES.is_multiple_of(<Native as Lane>::LANES));

/// `H`: the padded length of a column of `S + 1` states (see
/// [`workspace_len`]), saturating.
const fn column_len(s: usize) -> usize {
    s.saturating_add(MAX_LANES)
        .saturating_div(MAX_LANES)
        .saturating_mul(MAX_LANES)
        .saturating_add(MAX_LANES)
}

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

/// The caller slices a call writes.
struct Outputs<'a> {
    grad: &'a mut [f32],
    values: &'a mut [f32],
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
    /// use loss_kernels::ctc::{self, Activations, Ctc, Labels};
    /// use loss_kernels::Reduction;
    /// // uniform log-probabilities over 2 classes, 3 steps, empty label:
    /// // the only alignment is all blanks, -ln p = 3 ln 2
    /// let lp = [-core::f32::consts::LN_2; 6];
    /// let acts = Activations::time_major(&lp, 3, 1, 2, &[3]);
    /// let labels = Labels::Concatenated { labels: &[], lengths: &[0] };
    /// let mut ws = vec![0.0; ctc::workspace_len(3, 0)];
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
        self.run::<false, false>(
            activations,
            labels,
            reduction,
            workspace,
            Outputs {
                grad: &mut [],
                values: &mut [],
            },
        )
    }

    /// The reduced loss and, in the same pass, its gradient w.r.t. the
    /// activations, written into `grad` (same length and layout as
    /// `activations.data`; every value is written).
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Labels};
    /// use loss_kernels::Reduction;
    /// let logits = [0.5, -1.0, 2.0, 0.0, 0.3, 0.1];
    /// let acts = Activations::batch_major(&logits, 1, 2, 3, &[2]);
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
        self.run::<true, false>(
            activations,
            labels,
            reduction,
            workspace,
            Outputs {
                grad,
                values: &mut [],
            },
        )
    }

    /// The per-sequence losses, one per sequence, into `out`.
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Labels};
    /// let logits = [0.0; 2 * 1 * 3];
    /// // label [1, 1] needs 3 steps (a blank between the repeats): infeasible
    /// let acts = Activations::time_major(&logits, 2, 1, 3, &[2]);
    /// let labels = Labels::Padded { labels: &[1, 1], max_len: 2, lengths: &[2] };
    /// let mut ws = vec![0.0; ctc::workspace_len(2, 2)];
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
        self.run::<false, true>(
            activations,
            labels,
            Reduction::Sum,
            workspace,
            Outputs {
                grad: &mut [],
                values: out,
            },
        )
        .map(|_| ())
    }

    /// The per-sequence losses into `out` and the gradient of their sum into
    /// `grad`, in one pass; returns the sum.
    ///
    /// ```
    /// use loss_kernels::ctc::{self, Activations, Ctc, Labels};
    /// let logits = [0.0; 3 * 2 * 3];
    /// let acts = Activations::time_major(&logits, 3, 2, 3, &[3, 2]);
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
        self.run::<true, true>(
            activations,
            labels,
            Reduction::Sum,
            workspace,
            Outputs { grad, values: out },
        )
    }

    /// Validates every argument, then runs the recursion sequence by
    /// sequence through the shared workspace.
    fn run<const GRAD: bool, const VALUES: bool>(
        &self,
        acts: &Activations<'_>,
        labels: &Labels<'_>,
        reduction: Reduction,
        workspace: &mut [f32],
        out: Outputs<'_>,
    ) -> Result<f32, Error> {
        let blank = validate(self.blank, acts, labels)?;
        if GRAD && out.grad.len() != acts.data.len() {
            return Err(mismatch("grad", acts.data.len(), out.grad.len()));
        }
        if VALUES && out.values.len() != acts.n {
            return Err(mismatch("out", acts.n, out.values.len()));
        }
        let max_t = acts.input_lengths.iter().copied().max().unwrap_or(0) as usize;
        let max_s = labels.lengths().iter().copied().max().unwrap_or(0) as usize;
        let need = workspace_len(max_t, max_s);
        if workspace.len() < need {
            return Err(Error::WorkspaceTooSmall {
                argument: "workspace",
                expected: need,
                found: workspace.len(),
            });
        }

        let n = acts.n;
        let mut total = Sum::default();
        let mut value_slots = out.values.iter_mut();
        let grad = out.grad;
        for ((i, (_, label)), &input_len) in labels.sequences().enumerate().zip(acts.input_lengths)
        {
            let scale = match reduction {
                Reduction::Sum => 1.0,
                Reduction::Mean => 1.0 / (n as f32 * label.len().max(1) as f32),
            };
            let seq = Sequence {
                acts,
                i,
                steps: input_len as usize,
                labels: label,
                blank,
                input: self.input,
            };
            let mut loss = if seq.feasible() {
                -seq.run::<Native, GRAD>(workspace, grad, scale)
            } else {
                f32::INFINITY
            };
            if GRAD {
                // Steps past the input length, and every step of an infinite
                // loss, get 0 gradient.
                let from = if loss == f32::INFINITY { 0 } else { seq.steps };
                for step in from..acts.t {
                    if let Some(row) = grad.get_mut(seq.row(step)) {
                        row.fill(0.0);
                    }
                }
            }
            if self.zero_infinity && loss == f32::INFINITY {
                loss = 0.0;
            }
            if let Some(slot) = value_slots.next() {
                *slot = loss;
            }
            total.add(loss * scale);
        }
        Ok(total.total())
    }
}

/// A length-mismatch error.
fn mismatch(argument: &'static str, expected: usize, found: usize) -> Error {
    Error::LengthMismatch {
        argument,
        expected,
        found,
    }
}

/// Checks the activations and labels against each other; returns the blank
/// index.
fn validate(blank: Blank, acts: &Activations<'_>, labels: &Labels<'_>) -> Result<usize, Error> {
    let (t, n, c) = (acts.t, acts.n, acts.c);
    if c == 0 {
        return Err(Error::ZeroSize {
            argument: "activations.c",
        });
    }
    if n == 0 {
        return Err(Error::EmptyBatch {
            argument: "activations",
        });
    }
    let size = t.checked_mul(n).and_then(|v| v.checked_mul(c));
    if size != Some(acts.data.len()) {
        return Err(mismatch(
            "activations",
            size.unwrap_or(usize::MAX),
            acts.data.len(),
        ));
    }
    let blank = match blank {
        Blank::Index(b) if (b as usize) < c => b as usize,
        Blank::Index(b) => {
            return Err(Error::OutOfRange {
                argument: "blank",
                index: 0,
                value: b as usize,
                limit: c,
            });
        }
        Blank::Last => c - 1,
    };
    if acts.input_lengths.len() != n {
        return Err(mismatch("input_lengths", n, acts.input_lengths.len()));
    }
    if let Some((index, &len)) = acts
        .input_lengths
        .iter()
        .enumerate()
        .find(|&(_, &len)| len as usize > t)
    {
        return Err(Error::OutOfRange {
            argument: "input_lengths",
            index,
            value: len as usize,
            limit: t.saturating_add(1),
        });
    }
    let lengths = labels.lengths();
    if lengths.len() != n {
        return Err(mismatch("label_lengths", n, lengths.len()));
    }
    match *labels {
        Labels::Padded {
            labels: values,
            max_len,
            ..
        } => {
            let size = n.checked_mul(max_len);
            if size != Some(values.len()) {
                return Err(mismatch("labels", size.unwrap_or(usize::MAX), values.len()));
            }
            if let Some((index, &len)) = lengths
                .iter()
                .enumerate()
                .find(|&(_, &len)| len as usize > max_len)
            {
                return Err(Error::OutOfRange {
                    argument: "label_lengths",
                    index,
                    value: len as usize,
                    limit: max_len.saturating_add(1),
                });
            }
        }
        Labels::Concatenated { labels: values, .. } => {
            let total = lengths
                .iter()
                .try_fold(0usize, |acc, &len| acc.checked_add(len as usize));
            if total != Some(values.len()) {
                return Err(mismatch(
                    "labels",
                    total.unwrap_or(usize::MAX),
                    values.len(),
                ));
            }
        }
    }
    for (start, seq) in labels.sequences() {
        for (k, &label) in seq.iter().enumerate() {
            let index = start + k;
            if label as usize >= c {
                return Err(Error::OutOfRange {
                    argument: "labels",
                    index,
                    value: label as usize,
                    limit: c,
                });
            }
            if label as usize == blank {
                return Err(Error::BlankInLabel {
                    argument: "labels",
                    index,
                });
            }
        }
    }
    Ok(blank)
}

/// The slice of `s` from `i` on (empty past the end).
#[inline(always)]
fn from(s: &[f32], i: usize) -> &[f32] {
    s.get(i..).unwrap_or(&[])
}

/// The mutable slice of `s` from `i` on (empty past the end).
#[inline(always)]
fn from_mut(s: &mut [f32], i: usize) -> &mut [f32] {
    s.get_mut(i..).unwrap_or(&mut [])
}

/// Splits the first `len` values off `rest` (fewer if it is shorter).
#[inline(always)]
fn carve<'a>(rest: &mut &'a mut [f32], len: usize) -> &'a mut [f32] {
    let all = core::mem::take(rest);
    let (head, tail) = all.split_at_mut(len.min(all.len()));
    *rest = tail;
    head
}

/// The bit pattern of a set mask lane (all ones), as `f32`.
const MASK_SET: f32 = f32::from_bits(u32::MAX);

/// One sequence of a validated batch.
struct Sequence<'s, 'a> {
    acts: &'s Activations<'a>,
    /// Which sequence of the batch.
    i: usize,
    /// Its input length.
    steps: usize,
    /// Its labels (`S` values, none the blank).
    labels: &'a [u32],
    blank: usize,
    input: Input,
}

impl Sequence<'_, '_> {
    /// Whether some alignment fits: `S` + adjacent repeats `<=` steps.
    fn feasible(&self) -> bool {
        let repeats = self
            .labels
            .iter()
            .zip(self.labels.iter().skip(1))
            .filter(|(a, b)| a == b)
            .count();
        self.labels.len() + repeats <= self.steps
    }

    /// The index range of the row at `step` in the activations (and grad).
    #[inline(always)]
    fn row(&self, step: usize) -> core::ops::Range<usize> {
        let start = self.acts.row_start(self.i, step);
        start..start + self.acts.c
    }

    /// The activation row at `step` (empty if out of range, which
    /// validation rules out).
    #[inline(always)]
    fn x(&self, step: usize) -> &[f32] {
        self.acts.data.get(self.row(step)).unwrap_or(&[])
    }

    /// Writes the emissions of one step: `e[0] = y(blank)`, `e[j] = y(l_j)`
    /// for `j = 1..=S`, with `y = x - shift`: a scalar gather, then one
    /// vector subtraction (`-∞` padding stays `-∞` for finite `shift`).
    #[inline(always)]
    fn emissions<L: Lane>(&self, x: &[f32], shift: f32, e: &mut [f32]) {
        let mut slots = e.iter_mut();
        if let Some(slot) = slots.next() {
            *slot = x.get(self.blank).copied().unwrap_or(f32::NAN);
        }
        for (&label, slot) in self.labels.iter().zip(&mut slots) {
            *slot = x.get(label as usize).copied().unwrap_or(f32::NAN);
        }
        // The one padding value a step reads unmasked (label S+1 of the
        // last unit); the rest of the row is never read unmasked.
        if let Some(slot) = slots.next() {
            *slot = NEG_INF;
        }
        if shift != 0.0 {
            let mut k = 0;
            while k <= self.labels.len() {
                (L::load_or(from(e, k), NEG_INF) - L::splat(shift)).store(from_mut(e, k));
                k += L::LANES;
            }
        }
    }

    /// Runs the forward (and, with `GRAD`, backward) recursion; returns
    /// `ln p(l|x)`. With `GRAD`, writes `scale ×` the gradient into the
    /// sequence's rows of `grad` for the steps below its input length (the
    /// caller zeroes the rest, and all rows when the result is `-∞`).
    ///
    /// Each stored `α` row (and the `β` column) is kept relative to a
    /// running offset: a step subtracts the previous column's maximum, so
    /// stored values stay near 0 and their rounding error does not grow
    /// with the step; the offsets are summed in `f64`.
    fn run<L: Lane, const GRAD: bool>(
        &self,
        workspace: &mut [f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32 {
        let s = self.labels.len();
        let steps = self.steps;
        // Columns of H blank states then H label states (S + 1 real ones
        // each, then padding), so every load and store is a whole lane. A
        // step stores -inf in the lanes past its last unit and in the units
        // it skips; the only padding read unmasked, label S + 1, holds -inf.
        // Nothing depends on the workspace's previous contents.
        let h = column_len(s);
        let width = 2 * h;
        let logits = self.input == Input::Logits;
        let mut rest = workspace;
        let skip = carve(&mut rest, h);
        let e_all = carve(&mut rest, if GRAD { steps * h } else { h });
        let inv_sums = carve(&mut rest, if GRAD { steps } else { 0 });
        let offsets = carve(&mut rest, if GRAD { steps } else { 0 });
        let alpha = carve(
            &mut rest,
            if GRAD { (steps + 1) * width } else { 2 * width },
        );
        let beta = carve(&mut rest, if GRAD { width } else { 0 });
        let gamma = carve(&mut rest, if GRAD { h } else { 0 });

        // skip[j]: label j-1 may follow label j-2 directly (they differ).
        skip.fill(0.0);
        for ((slot, a), b) in skip
            .iter_mut()
            .skip(2)
            .zip(self.labels)
            .zip(self.labels.iter().skip(1))
        {
            if a != b {
                *slot = MASK_SET;
            }
        }

        // α before step 0: only the first blank state, at log 1.
        // (Every later row is written in full by its step.)
        if let Some(row) = alpha.get_mut(..width) {
            row.fill(NEG_INF);
        }
        if let Some(a) = alpha.first_mut() {
            *a = 0.0;
        }
        // The stored row of step t is α_t - offset_t; `max` is the maximum
        // of the last stored row, subtracted by the next step.
        let (mut offset, mut max) = (0.0f64, 0.0f32);
        for step in 0..steps {
            let x = self.x(step);
            let shift = if logits {
                let u = if GRAD {
                    grad.get_mut(self.row(step)).unwrap_or(&mut [])
                } else {
                    &mut []
                };
                let (lse, sum) = log_normalizer::<L, GRAD>(x, u);
                if GRAD && let Some(v) = inv_sums.get_mut(step) {
                    *v = 1.0 / sum;
                }
                lse
            } else {
                0.0
            };
            let e = if GRAD {
                e_all.get_mut(step * h..(step + 1) * h).unwrap_or(&mut [])
            } else {
                &mut *e_all
            };
            self.emissions::<L>(x, shift, e);
            let (prev, cur) = if GRAD {
                let (head, tail) = alpha.split_at_mut(((step + 1) * width).min(alpha.len()));
                (from(head, step * width), tail)
            } else {
                let (head, tail) = alpha.split_at_mut(width.min(alpha.len()));
                if step % 2 == 0 {
                    (&*head, tail)
                } else {
                    (&*tail, head)
                }
            };
            offset += f64::from(max);
            if GRAD && let Some(v) = offsets.get_mut(step) {
                *v = offset as f32;
            }
            let units = Units::alpha(step, steps, s);
            let columns = Columns { e, skip, h, units };
            max = finite_or_zero(alpha_step::<L>(prev, cur, &columns, max));
        }

        let last = if GRAD { steps } else { steps % 2 };
        let row = from(alpha, last * width);
        let (blank_end, label_end) = (
            row.get(s).copied().unwrap_or(NEG_INF),
            row.get(h + s).copied().unwrap_or(NEG_INF),
        );
        let log_p = offset + f64::from(log_add_exp(blank_end, label_end));
        if !GRAD || log_p == f64::NEG_INFINITY {
            return log_p as f32;
        }

        // β after the last step: the virtual state past the end, reached
        // from the last blank and the last label.
        beta.fill(NEG_INF);
        if let Some(b) = beta.get_mut(s) {
            *b = 0.0;
        }
        let (mut beta_offset, mut beta_max) = (0.0f64, 0.0f32);
        for step in (0..steps).rev() {
            let e = e_all.get(step * h..(step + 1) * h).unwrap_or(&[]);
            let a = from(alpha, (step + 1) * width);
            beta_offset += f64::from(beta_max);
            let alpha_offset = f64::from(offsets.get(step).copied().unwrap_or(f32::NAN));
            // One below the exact shift: the posteriors' exponents stay
            // under 0 despite rounding (the factor e^-1 cancels in `norm`).
            let shift = (alpha_offset + beta_offset - log_p - 1.0) as f32;
            let units = Units::beta(step, steps, s);
            let columns = Columns { e, skip, h, units };
            let sums = beta_step::<L>(beta, a, &columns, beta_max, shift, gamma);
            beta_max = finite_or_zero(sums.max);
            let g = grad.get_mut(self.row(step)).unwrap_or(&mut []);
            // Subtract the posteriors (in the row's current units) first,
            // then scale: the scalar read-modify-writes then never wait on
            // the row's vector stores.
            let (weight, row_scale) = if logits {
                // The row holds u = e^(x - max); the gradient is
                // scale (u / Σu - γ) = (scale / Σu) (u - γ Σu).
                let inv_sum = inv_sums.get(step).copied().unwrap_or(f32::NAN);
                (1.0 / (sums.total * inv_sum), Some(scale * inv_sum))
            } else {
                g.fill(0.0);
                (scale / sums.total, None)
            };
            if let Some(v) = g.get_mut(self.blank) {
                *v -= weight * sums.blank;
            }
            // Labels 1..=S of the units computed (the others' posteriors
            // are 0 and their `gamma` slots stale).
            let first = units.start::<L>().max(1);
            let labels = self.labels.iter().skip(first - 1);
            let posteriors = gamma.iter().take(units.to + 1).skip(first);
            for (&label, &p) in labels.zip(posteriors) {
                if let Some(v) = g.get_mut(label as usize) {
                    *v -= weight * p;
                }
            }
            if let Some(r) = row_scale {
                scale_row::<L>(g, r);
            }
        }
        log_p as f32
    }
}

/// Sets `column` to `-∞` outside `[start, end)`.
#[inline(always)]
fn fill_outside(column: &mut [f32], start: usize, end: usize) {
    if let Some(below) = column.get_mut(..start) {
        below.fill(NEG_INF);
    }
    if let Some(above) = column.get_mut(end..) {
        above.fill(NEG_INF);
    }
}

/// `m`, or 0 where `m` is `±∞` (an all `-∞` column keeps its values).
#[inline(always)]
fn finite_or_zero(m: f32) -> f32 {
    if m.is_infinite() { 0.0 } else { m }
}

/// How a row of `n` values splits into lanes: `full` values in whole lanes,
/// then, if `n` is not a multiple of the lane width, a last lane that ends at
/// `n` (it overlaps the previous one when `n >= LANES`; `fresh` masks its
/// lanes not seen before) or, for a row shorter than one lane, a padded one.
struct Tail<L> {
    full: usize,
    /// Where the last lane starts, and the mask of its new lanes.
    last: Option<(usize, L)>,
}

impl<L: Lane> Tail<L> {
    #[inline(always)]
    fn of(n: usize) -> Self {
        let w = L::LANES;
        let full = n / w * w;
        let last = if full == n {
            None
        } else if n >= w {
            let start = n - w;
            Some((start, L::iota().ge(L::splat((full - start) as f32))))
        } else {
            Some((0, L::iota().lt(L::splat(n as f32))))
        };
        Tail { full, last }
    }
}

/// `(lse(x), Σ e^(x - max))` of one row; with `STORE`, writes `e^(x - max)`
/// into `u`.
#[inline(always)]
fn log_normalizer<L: Lane, const STORE: bool>(x: &[f32], u: &mut [f32]) -> (f32, f32) {
    let w = L::LANES;
    let tail = Tail::<L>::of(x.len());
    let mut m = L::splat(NEG_INF);
    let mut i = 0;
    while i < tail.full {
        m = m.max(L::load_or(from(x, i), NEG_INF));
        i += w;
    }
    if let Some((start, _)) = tail.last {
        m = m.max(L::load_or(from(x, start), NEG_INF));
    }
    let max = m.max_lane();
    let mut acc = L::splat(0.0);
    let mut i = 0;
    while i < tail.full {
        let v = exp_nonpositive(L::load_or(from(x, i), NEG_INF) - L::splat(max));
        if STORE {
            v.store(from_mut(u, i));
        }
        acc = acc + v;
        i += w;
    }
    if let Some((start, fresh)) = tail.last {
        // Overlapping lanes recompute the same values: storing them again
        // is harmless, counting them again is not.
        let v = exp_nonpositive(L::load_or(from(x, start), NEG_INF) - L::splat(max));
        if STORE {
            v.store(from_mut(u, start));
        }
        acc = acc + fresh.select(v, L::splat(0.0));
    }
    let sum = acc.sum();
    (max + ln(sum), sum)
}

/// `g *= r` over a row.
#[inline(always)]
fn scale_row<L: Lane>(g: &mut [f32], r: f32) {
    let w = L::LANES;
    let tail = Tail::<L>::of(g.len());
    let r = L::splat(r);
    let mut i = 0;
    while i < tail.full {
        let v = L::load_or(from(g, i), 0.0);
        (v * r).store(from_mut(g, i));
        i += w;
    }
    if let Some((start, fresh)) = tail.last {
        let v = L::load_or(from(g, start), 0.0);
        fresh.select(v * r, v).store(from_mut(g, start));
    }
}

/// The per-step inputs of a recursion step: the emissions `e` (`e[0]` the
/// blank's, `e[j]` label `j - 1`'s, `-∞` past `S`), the skip mask (`skip[j]`:
/// label `j - 1` differs from label `j - 2`), the label length `S` and the
/// padded column length `H`.
struct Columns<'c> {
    e: &'c [f32],
    skip: &'c [f32],
    h: usize,
    /// The units (state pairs) the step computes: `from` (rounded down to a
    /// lane) through `to`; see [`Units`].
    units: Units,
}

/// The state pairs ("units") a step must compute: those on some alignment
/// at that step, plus a margin of one. A forward unit `k` is blank `k` and
/// label `k` (the states `2k`, `2k + 1` of the extended label), a backward
/// unit `k` is blank `k` and label `k - 1` (`2k`, `2k - 1`). At step `t` of
/// `T`, a state `s` of `L = 2S + 1` is on an alignment only if `s <= 2t + 1`
/// (reachable from the start) and `s >= L - 2(T - t)` (can reach the end).
///
/// Skipping the rest is exact: lanes above `to` are stored as `-∞` (their
/// states are unreachable); a computed value reads only values computed at
/// the previous step, except the lowest forward lane, whose `label from`
/// input is read as `-∞` (that lane is below the window, so only values
/// that cannot reach the end depend on it); and states below the window
/// get exact `β = -∞`, so their posteriors are 0 whatever `α` holds there.
#[derive(Clone, Copy)]
struct Units {
    from: usize,
    to: usize,
}

impl Units {
    /// The forward units of step `t` of `steps`, for `S = s`.
    fn alpha(t: usize, steps: usize, s: usize) -> Units {
        Units {
            from: (s + t).saturating_sub(steps + 1),
            to: s.min(t + 1),
        }
    }
    /// The backward units of step `t` of `steps`, for `S = s`.
    fn beta(t: usize, steps: usize, s: usize) -> Units {
        Units {
            from: (s + t).saturating_sub(steps + 1),
            to: s.min(t + 2),
        }
    }
    /// The first lane-aligned unit.
    #[inline(always)]
    fn start<L: Lane>(self) -> usize {
        self.from - self.from % L::LANES
    }
    /// For the lane starting at unit `k`: `None` if all its units are at
    /// most `to`, else the mask of those that are.
    #[inline(always)]
    fn top<L: Lane>(self, k: usize) -> Option<L> {
        if k + L::LANES <= self.to + 1 {
            None
        } else {
            Some((L::iota() + L::splat(k as f32)).le(L::splat(self.to as f32)))
        }
    }
}

/// One step of the forward recursion: `prev` and `cur` are columns of
/// `2H` values, the `S + 1` blank states (padded to `H`) then a `-∞` pad and
/// the `S` label states (padded to `H`). Stores `α_t - offset` given `prev = α_{t-1} - offset + m`;
/// returns the maximum stored.
#[inline(always)]
fn alpha_step<L: Lane>(prev: &[f32], cur: &mut [f32], columns: &Columns<'_>, m: f32) -> f32 {
    let Columns {
        e, skip, h, units, ..
    } = *columns;
    let (prev_blank, prev_label) = prev.split_at(h.min(prev.len()));
    let (cur_blank, cur_label) = cur.split_at_mut(h.min(cur.len()));
    let prev_label = prev_label.get(..h).unwrap_or(prev_label);
    let cur_label = cur_label.get_mut(..h).unwrap_or(&mut []);
    // The units this step skips are -inf: blanks below `start` and from the
    // end of the last lane on, labels up to `start` (the pad included) and
    // past the last lane.
    let start = units.start::<L>();
    let end = (units.to / L::LANES + 1) * L::LANES;
    fill_outside(cur_blank, start, end);
    fill_outside(cur_label, start + 1, end + 1);
    let e_blank = L::splat(e.first().copied().unwrap_or(f32::NAN));
    let m = L::splat(m);
    let mut max = L::splat(NEG_INF);
    let mut k = start;
    while k <= units.to {
        // Blank state k and label state k (label k-1 of the sequence is at
        // label index k; index 0 is the pad).
        let blank = L::load_or(from(prev_blank, k), NEG_INF);
        let mut before = L::load_or(from(prev_label, k), NEG_INF);
        if k == start && k > 0 {
            // Label `start` belongs to a unit the previous step may have
            // skipped: read it as -∞ always (only unit `start`, below the
            // window, depends on it), so every build and entry point
            // computes the same values.
            before = L::iota()
                .eq(L::splat(0.0))
                .select(L::splat(NEG_INF), before);
        }
        let label = L::load_or(from(prev_label, k + 1), NEG_INF);
        let p = log_add_exp(blank, before);
        let mut new_blank = e_blank + (p - m);
        let q = L::load_or(from(skip, k + 1), 0.0).select(p, blank);
        let e_label = L::load_or(from(e, k + 1), NEG_INF);
        let mut new_label = e_label + (log_add_exp(label, q) - m);
        if let Some(keep) = units.top::<L>(k) {
            new_blank = keep.select(new_blank, L::splat(NEG_INF));
            new_label = keep.select(new_label, L::splat(NEG_INF));
        }
        new_blank.store(from_mut(cur_blank, k));
        new_label.store(from_mut(cur_label, k + 1));
        max = max.max(new_blank).max(new_label);
        k += L::LANES;
    }
    max.max_lane()
}

/// What a backward step reports.
struct BetaSums {
    /// The blank states' unnormalised posteriors, summed.
    blank: f32,
    /// All states' unnormalised posteriors, summed: the normaliser.
    total: f32,
    /// The maximum of the stored `β` column.
    max: f32,
}

/// One step of the backward recursion, in place on the `β` column (same
/// layout as `α`, stored relative to an offset, `m` its maximum): computes
/// `β̂` of the step less `m`, the unnormalised posteriors
/// `exp(α + β̂ + shift)` (label ones into `gamma`, index `j` for label
/// `j - 1`), then `β = e + β̂`.
#[inline(always)]
fn beta_step<L: Lane>(
    beta: &mut [f32],
    alpha: &[f32],
    columns: &Columns<'_>,
    m: f32,
    shift: f32,
    gamma: &mut [f32],
) -> BetaSums {
    let Columns {
        e, skip, h, units, ..
    } = *columns;
    let (beta_blank, beta_label) = beta.split_at_mut(h.min(beta.len()));
    let (alpha_blank, alpha_label) = alpha.split_at(h.min(alpha.len()));
    let alpha_label = alpha_label.get(..h).unwrap_or(alpha_label);
    let e_blank = L::splat(e.first().copied().unwrap_or(f32::NAN));
    let (m, shift) = (L::splat(m), L::splat(shift));
    let zero = L::splat(0.0);
    let (mut blank_acc, mut label_acc) = (zero, zero);
    let mut max = L::splat(NEG_INF);
    let mut k = units.start::<L>();
    while k <= units.to {
        let blank = L::load_or(from(beta_blank, k), NEG_INF);
        let label = L::load_or(from(beta_label, k), NEG_INF);
        let after = L::load_or(from(beta_label, k + 1), NEG_INF);
        let r = log_add_exp(blank, after);
        let q = L::load_or(from(skip, k + 1), 0.0).select(r, blank);
        let l = log_add_exp(label, q) - m;
        let r = r - m;
        let mut gb = exp_nonpositive(L::load_or(from(alpha_blank, k), NEG_INF) + r + shift);
        let mut gl = exp_nonpositive(L::load_or(from(alpha_label, k), NEG_INF) + l + shift);
        let mut new_blank = e_blank + r;
        let mut new_label = L::load_or(from(e, k), NEG_INF) + l;
        if let Some(keep) = units.top::<L>(k) {
            gb = keep.select(gb, zero);
            gl = keep.select(gl, zero);
            new_blank = keep.select(new_blank, L::splat(NEG_INF));
            new_label = keep.select(new_label, L::splat(NEG_INF));
        }
        blank_acc = blank_acc + gb;
        label_acc = label_acc + gl;
        gl.store(from_mut(gamma, k));
        new_blank.store(from_mut(beta_blank, k));
        new_label.store(from_mut(beta_label, k));
        max = max.max(new_blank).max(new_label);
        k += L::LANES;
    }
    if let Some(pad) = beta_label.first_mut() {
        *pad = NEG_INF;
    }
    let blank = blank_acc.sum();
    BetaSums {
        blank,
        total: blank + label_acc.sum(),
        max: max.max_lane(),
    }
}
