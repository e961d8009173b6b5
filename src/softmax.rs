//! Softmax cross-entropy, KL divergence and the row functions under them
//! ([`logsumexp`], [`log_softmax`], [`softmax`]), over rows of `classes`
//! values in a flat row-major slice.
//!
//! # Math
//!
//! For a row `x` with maximum `m`, `s = Σ_k e^(x_k - m)` and
//! `lse(x) = m + ln s` (never overflows). Every option reduces to an
//! *effective weighted target* `w_k` for the row:
//!
//! | labels | `w_k` |
//! |---|---|
//! | [`Labels::Sparse`] `y`, smoothing `α` | `(1-α) c_y [k = y] + (α/C) c_k` |
//! | [`Labels::Dense`] `t` | `c_k t_k` |
//!
//! (`c` the class weights, 1 without them). Write `w_k = hot [k = y] +
//! spread v_k` with `hot = (1-α) c_y`, `spread = α/C`, `v_k = c_k` for
//! sparse labels and `hot = 0`, `spread = 1`, `v_k = c_k t_k` for dense
//! ones. With `D = Σ_k v_k (m - x_k)` and `W = hot + spread Σ_k v_k`, a
//! row's loss is
//!
//! ```text
//! l = s_i Σ_k w_k (lse - x_k) = s_i (hot (m - x_y) + spread D + W ln s)
//! ```
//!
//! with every term a sum of non-negative parts: the row max never cancels
//! against the label's logit (the loss is `(m - x_y) + ln s`, not
//! `lse - x_y`, which loses digits at large logits). Its gradient is
//! `s_i (softmax(x)_k W - w_k)`.
//!
//! With [`Input::LogProbs`] (Gluon's `from_logits=True`) the rows are taken
//! as log-probabilities: `l = -s_i Σ_k w_k x_k`, gradient `-s_i w_k`.
//!
//! [`KlDivergence`] is the dense case without class weights plus the target
//! entropy: `l = s_i Σ_k t_k (ln t_k - log_softmax(x)_k)`, with `t ln t = 0`
//! at `t = 0`; for log-probability input `log_softmax(x)` is `x` itself.
//!
//! # Reductions
//!
//! `Sum` adds the per-sample losses. `Mean` divides by
//! * for sparse labels, `Σ c[y_i]` over the rows that are not ignored (the
//!   number of such rows without class weights; PyTorch's rule). Sample
//!   weights scale the numerator only. If the denominator is 0 (every row
//!   ignored, or zero class weights) the mean is 0 and the gradient is 0.
//! * for dense labels and KL, the number of rows `n` (KL's `Mean` is
//!   PyTorch's `batchmean`: the true KL divergence averaged over samples).
//!
//! Ignored rows contribute exactly 0 loss and 0 gradient whatever their
//! logits hold.
//!
//! # Numerics and speed
//!
//! Each row is read from memory once: a pass for the max, a pass that
//! computes `e^(x - m)` with [`exp_nonpositive`] (one `exp` per logit) and
//! writes it into the gradient while summing, then a pass that scales the
//! gradient in place (the row is in L1 by then). No temporary buffer. The
//! max pass of row `i + 1` runs inside the exp pass of row `i`, so the next
//! row streams in from memory while this one is exponentiated (12% faster
//! at 4096×1000 than separate passes).
//! An online max (one pass that rescales the running sum whenever the max
//! grows) is not used: for the gradient it needs a second `exp` per logit,
//! and for the value alone it measured slower than two passes over an
//! L1-resident row (see `notes/rows.md`).
//!
//! # Accuracy (measured against float64, every lane width)
//!
//! | quantity | error |
//! |---|---|
//! | cross-entropy per sample, logits in ±10 and ±1e4, 10–1000 classes | `<= 1.4 ε (abs(l) + 1)` |
//! | its gradient | `<= 2.4e-7` absolute |
//! | KL divergence (logits) per sample | `<= 2.7 ε (abs(l) + 1)`, gradient `<= 8.1e-7` absolute |
//!
//! (`ε = f32::EPSILON`; the properties in `tests/rows.rs` enforce looser
//! bounds on random cases of every option.)
//!
//! When rows are narrow (up to 32 classes, e.g. 10 classes in 16 lanes) the
//! kernel works on `LANES` rows at a time, transposed through a stack
//! buffer: lane `j` holds row `j` of the block, so every lane does useful
//! work, the max and sums need no horizontal reduction and the per-row `ln`
//! is one vector `ln` per block. Leftover rows (fewer than `LANES`) take the
//! row kernel.
//!
//! ```
//! use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
//! use loss_kernels::Reduction;
//! let logits = [1.0, 10.0, 8.0, 2.0]; // two rows of two classes
//! let mut grad = [0.0; 4];
//! let loss = SoftmaxCrossEntropy::new(2)?
//!     .value_and_grad(&logits, Labels::Sparse(&[0, 1]), Reduction::Mean, &mut grad)?;
//! assert!((loss - 7.5013).abs() < 1e-4);
//! assert!((grad[0] + grad[1]).abs() < 1e-6);
//! # Ok::<(), loss_kernels::Error>(())
//! ```

use crate::Reduction;
use crate::driver::Sum;
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{Lane, Native};
use crate::math::{exp_nonpositive, ln};

/// The labels of a cross-entropy batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Labels<'a> {
    /// One class index per row, each `< classes` (or equal to the
    /// `ignore_index`).
    Sparse(&'a [u32]),
    /// A row of `classes` non-negative target weights per row (usually a
    /// probability distribution), same layout as the logits.
    Dense(&'a [f32]),
}

/// What the prediction rows hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Unnormalised logits: `log_softmax` is applied inside.
    Logits,
    /// Log-probabilities (Gluon's `from_logits=True`): used as given.
    LogProbs,
}

/// Softmax cross-entropy over rows of `classes` logits; see the
/// [module docs](self) for the math, the options and the `Mean` rule.
///
/// ```
/// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
/// use loss_kernels::Reduction;
/// let logits = [0.0, 0.0, 0.0, 5.0, 0.0, 0.0];
/// let class_weight = [1.0, 2.0, 1.0];
/// let mut grad = [0.0; 6];
/// let loss = SoftmaxCrossEntropy::new(3)?
///     .label_smoothing(0.1)?
///     .ignore_index(Some(7))
///     .class_weight(&class_weight)
///     .value_and_grad(&logits, Labels::Sparse(&[1, 7]), Reduction::Mean, &mut grad)?;
/// assert!(loss > 0.0 && grad[3..] == [0.0; 3]); // the second row is ignored
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxCrossEntropy<'w> {
    classes: usize,
    smoothing: f32,
    ignore_index: Option<u32>,
    input: Input,
    class_weight: Option<&'w [f32]>,
    sample_weight: Option<&'w [f32]>,
}

impl SoftmaxCrossEntropy<'static> {
    /// Cross-entropy over rows of `classes` logits (at least 1), without
    /// smoothing, ignored label or weights.
    ///
    /// ```
    /// use loss_kernels::softmax::SoftmaxCrossEntropy;
    /// assert!(SoftmaxCrossEntropy::new(0).is_err());
    /// ```
    pub fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(SoftmaxCrossEntropy {
            classes,
            smoothing: 0.0,
            ignore_index: None,
            input: Input::Logits,
            class_weight: None,
            sample_weight: None,
        })
    }
}

impl<'w> SoftmaxCrossEntropy<'w> {
    /// Label smoothing `α` in `[0, 1]` (PyTorch semantics): the sparse target
    /// becomes `(1-α) onehot(y) + α/classes`. Ignored for dense labels.
    ///
    /// ```
    /// use loss_kernels::softmax::SoftmaxCrossEntropy;
    /// assert!(SoftmaxCrossEntropy::new(3)?.label_smoothing(1.5).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn label_smoothing(self, alpha: f32) -> Result<Self, Error> {
        let smoothing = check_param("label_smoothing", alpha, Domain::UnitInterval)?;
        Ok(SoftmaxCrossEntropy { smoothing, ..self })
    }

    /// Rows whose sparse label equals `index` contribute 0 loss and 0
    /// gradient and do not count in `Mean`; `index` may be `>= classes`.
    #[must_use]
    pub fn ignore_index(self, index: Option<u32>) -> Self {
        SoftmaxCrossEntropy {
            ignore_index: index,
            ..self
        }
    }

    /// Whether the rows are logits (default) or log-probabilities.
    #[must_use]
    pub fn input(self, input: Input) -> Self {
        SoftmaxCrossEntropy { input, ..self }
    }

    /// Per-class weights (length `classes`, checked at the call).
    #[must_use]
    pub fn class_weight<'v>(self, weight: &'v [f32]) -> SoftmaxCrossEntropy<'v>
    where
        'w: 'v,
    {
        SoftmaxCrossEntropy {
            class_weight: Some(weight),
            ..self
        }
    }

    /// Per-sample weights (one per row, checked at the call); they scale
    /// each row's loss and gradient, not the `Mean` denominator.
    #[must_use]
    pub fn sample_weight<'v>(self, weight: &'v [f32]) -> SoftmaxCrossEntropy<'v>
    where
        'w: 'v,
    {
        SoftmaxCrossEntropy {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let v = SoftmaxCrossEntropy::new(2)?.value(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum)?;
    /// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
    ) -> Result<f32, Error> {
        self.plan(logits, labels, reduction)?
            .run::<false>(logits, &mut [], &mut [])
    }

    /// The reduced loss and, in the same pass, its gradient w.r.t. the
    /// logits written into `grad` (the logits' length).
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let mut grad = [0.0; 2];
    /// SoftmaxCrossEntropy::new(2)?
    ///     .value_and_grad(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum, &mut grad)?;
    /// assert_eq!(grad, [0.5, -0.5]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, logits.len())?;
        self.plan(logits, labels, reduction)?
            .run::<true>(logits, grad, &mut [])
    }

    /// The per-sample losses (sample-weighted, not divided by any
    /// denominator) into `out`, one per row.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let mut out = [0.0; 2];
    /// SoftmaxCrossEntropy::new(1)?.per_sample(&[3.0, -2.0], Labels::Sparse(&[0, 0]), &mut out)?;
    /// assert_eq!(out, [0.0, 0.0]); // one class: probability 1
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let plan = self.plan(logits, labels, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        plan.run::<false>(logits, &mut [], out).map(|_| ())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`, in one pass; returns the sum.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let (mut out, mut grad) = ([0.0; 1], [0.0; 2]);
    /// let sum = SoftmaxCrossEntropy::new(2)?
    ///     .per_sample_and_grad(&[0.0, 0.0], Labels::Dense(&[0.5, 0.5]), &mut out, &mut grad)?;
    /// assert!((sum - core::f32::consts::LN_2).abs() < 1e-7 && grad == [0.0, 0.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample_and_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, logits.len())?;
        let plan = self.plan(logits, labels, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        plan.run::<true>(logits, grad, out)
    }

    /// Validates every argument once and works out the per-call constants.
    fn plan<'a>(
        &'a self,
        logits: &[f32],
        labels: Labels<'a>,
        reduction: Reduction,
    ) -> Result<Plan<'a>, Error> {
        let classes = self.classes;
        let n = rows("logits", "classes", logits.len(), classes)?;
        if let Some(c) = self.class_weight {
            check_len("class_weight", c, classes)?;
        }
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        let class_weight_sum = match self.class_weight {
            Some(c) => sum_of(c),
            None => classes as f32,
        };
        let (sparse, target, hot, spread, denominator) = match labels {
            Labels::Sparse(y) => {
                if y.len() != n {
                    return Err(Error::LengthMismatch {
                        argument: "labels",
                        expected: n,
                        found: y.len(),
                    });
                }
                let mut den = Sum::default();
                for (index, &label) in y.iter().enumerate() {
                    if Some(label) == self.ignore_index {
                        continue;
                    }
                    let k = label as usize;
                    if k >= classes {
                        return Err(Error::OutOfRange {
                            argument: "labels",
                            index,
                            value: k,
                            limit: classes,
                        });
                    }
                    den.add(class_of(self.class_weight, k));
                }
                let alpha = self.smoothing;
                (
                    Some(y),
                    None,
                    1.0 - alpha,
                    alpha / classes as f32,
                    den.total(),
                )
            }
            Labels::Dense(t) => {
                check_len("labels", t, logits.len())?;
                (None, Some(t), 0.0, 1.0, n as f32)
            }
        };
        Ok(Plan {
            classes,
            rows: n,
            input: self.input,
            sparse,
            target,
            class_weight: self.class_weight,
            sample_weight: self.sample_weight,
            ignore_index: self.ignore_index,
            hot,
            spread,
            class_weight_sum,
            entropy: false,
            grad_scale: match reduction {
                Reduction::Sum => 1.0,
                Reduction::Mean if denominator == 0.0 => 0.0,
                Reduction::Mean => 1.0 / denominator,
            },
        })
    }
}

/// KL divergence `Σ_k t_k (ln t_k - ln q_k)` per row, the **sum** over
/// classes (MXNet 1.x; PyTorch `reduction="batchmean"` for `Mean`), with
/// `t ln t = 0` at `t = 0`. The prediction rows hold log-probabilities
/// `ln q` by default, or logits with [`Input::Logits`] (`log_softmax` is
/// applied inside). `Mean` divides by the number of rows.
///
/// ```
/// use loss_kernels::softmax::{Input, KlDivergence};
/// use loss_kernels::Reduction;
/// let target = [0.5, 0.5];
/// let mut grad = [0.0; 2];
/// let v = KlDivergence::new(2)?
///     .input(Input::Logits)
///     .value_and_grad(&[1.0, 1.0], &target, Reduction::Sum, &mut grad)?;
/// assert!(v.abs() < 1e-7 && grad[0].abs() < 1e-7);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct KlDivergence<'w> {
    classes: usize,
    input: Input,
    sample_weight: Option<&'w [f32]>,
}

impl KlDivergence<'static> {
    /// KL divergence over rows of `classes` (at least 1) log-probabilities.
    pub fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(KlDivergence {
            classes,
            input: Input::LogProbs,
            sample_weight: None,
        })
    }
}

impl<'w> KlDivergence<'w> {
    /// Whether the prediction rows are log-probabilities (default) or logits.
    #[must_use]
    pub fn input(self, input: Input) -> Self {
        KlDivergence { input, ..self }
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub fn sample_weight<'v>(self, weight: &'v [f32]) -> KlDivergence<'v>
    where
        'w: 'v,
    {
        KlDivergence {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::softmax::KlDivergence;
    /// use loss_kernels::Reduction;
    /// let pred = [0.5f32.ln(), 0.5f32.ln()];
    /// let v = KlDivergence::new(2)?.value(&pred, &[1.0, 0.0], Reduction::Sum)?;
    /// assert!((v - core::f32::consts::LN_2).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(&self, pred: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error> {
        self.plan(pred, target, reduction)?
            .run::<false>(pred, &mut [], &mut [])
    }

    /// The reduced loss and its gradient w.r.t. `pred` (same length).
    pub fn value_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, pred.len())?;
        self.plan(pred, target, reduction)?
            .run::<true>(pred, grad, &mut [])
    }

    /// The per-sample losses into `out`, one per row.
    pub fn per_sample(&self, pred: &[f32], target: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let plan = self.plan(pred, target, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        plan.run::<false>(pred, &mut [], out).map(|_| ())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`; returns the sum.
    pub fn per_sample_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, pred.len())?;
        let plan = self.plan(pred, target, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        plan.run::<true>(pred, grad, out)
    }

    fn plan<'a>(
        &'a self,
        pred: &[f32],
        target: &'a [f32],
        reduction: Reduction,
    ) -> Result<Plan<'a>, Error> {
        let n = rows("pred", "classes", pred.len(), self.classes)?;
        check_len("target", target, pred.len())?;
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        Ok(Plan {
            classes: self.classes,
            rows: n,
            input: self.input,
            sparse: None,
            target: Some(target),
            class_weight: None,
            sample_weight: self.sample_weight,
            ignore_index: None,
            hot: 0.0,
            spread: 1.0,
            class_weight_sum: 0.0,
            entropy: true,
            grad_scale: match reduction {
                Reduction::Sum => 1.0,
                Reduction::Mean => 1.0 / n as f32,
            },
        })
    }
}

/// `ln Σ_k e^(x_k)` of each row of `classes` values into `out` (one per
/// row), as `m + ln Σ e^(x_k - m)`.
///
/// ```
/// use loss_kernels::softmax::logsumexp;
/// let mut out = [0.0; 2];
/// logsumexp(&[0.0, 0.0, 1e4, 1e4], 2, &mut out)?;
/// assert!((out[1] - (1e4 + core::f32::consts::LN_2)).abs() < 1e-3);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn logsumexp(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    let n = rows("logits", "classes", logits.len(), classes)?;
    check_len("out", out, n)?;
    each_row::<false>(logits, classes, &mut [], |i, _, _, m, s| {
        if let Some(o) = out.get_mut(i) {
            *o = m + ln(s);
        }
    });
    Ok(())
}

/// `log_softmax` of each row of `classes` values into `out` (same length):
/// `(x_k - m) - ln Σ e^(x_j - m)`.
///
/// ```
/// use loss_kernels::softmax::log_softmax;
/// let mut out = [0.0; 2];
/// log_softmax(&[3.0, 3.0], 2, &mut out)?;
/// assert_eq!(out, [-core::f32::consts::LN_2; 2]);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn log_softmax(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    rows("logits", "classes", logits.len(), classes)?;
    check_len("out", out, logits.len())?;
    each_row::<false>(logits, classes, out, |_, x, o, m, s| {
        shift_pass::<Native>(x, m, ln(s), o);
    });
    Ok(())
}

/// `softmax` of each row of `classes` values into `out` (same length).
///
/// ```
/// use loss_kernels::softmax::softmax;
/// let mut out = [0.0; 4];
/// softmax(&[0.0, 0.0, -1e4, 1e4], 2, &mut out)?;
/// assert_eq!(out, [0.5, 0.5, 0.0, 1.0]);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn softmax(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    rows("logits", "classes", logits.len(), classes)?;
    check_len("out", out, logits.len())?;
    each_row::<true>(logits, classes, out, |_, _, o, _, s| {
        scale_pass::<Native, Plain>(o, &[], &[], 1.0 / s, 0.0);
    });
    Ok(())
}

/// Walks the rows of `logits` for the row functions: gives `visit` each
/// row's index, logits, row of `out` (empty if `out` is), max `m` and
/// `Σ e^(x - m)`; with `STORE`, `e^(x - m)` is written into the row of
/// `out` first. The next row's max is read inside this row's exp pass.
fn each_row<const STORE: bool>(
    logits: &[f32],
    classes: usize,
    out: &mut [f32],
    mut visit: impl FnMut(usize, &[f32], &mut [f32], f32, f32),
) {
    let mut m = row_max::<Native>(logits.get(..classes).unwrap_or(&[]));
    let mut out_rows = out.chunks_exact_mut(classes);
    for (i, x) in logits.chunks_exact(classes).enumerate() {
        let o = out_rows.next().unwrap_or(&mut []);
        let next = logits
            .get((i + 1) * classes..(i + 2) * classes)
            .unwrap_or(&[]);
        let (sums, next_max) = exp_pass::<Native, Plain, STORE>(x, m, &[], &[], o, next);
        visit(i, x, o, m, sums.s);
        m = next_max;
    }
}

// ---------------------------------------------------------------------------
// The engine shared by cross-entropy and KL divergence.

/// Everything a call needs after validation.
struct Plan<'a> {
    classes: usize,
    rows: usize,
    input: Input,
    sparse: Option<&'a [u32]>,
    target: Option<&'a [f32]>,
    class_weight: Option<&'a [f32]>,
    sample_weight: Option<&'a [f32]>,
    ignore_index: Option<u32>,
    /// `1 - α` (sparse) or 0 (dense): `hot = this · c_y`.
    hot: f32,
    /// `α / C` (sparse) or 1 (dense): the weight of `c_k t_k` in `w_k`.
    spread: f32,
    /// `Σ_k c_k` (sparse rows' `Σ c_k t_k` with `t = 1`).
    class_weight_sum: f32,
    /// Add `Σ t ln t` (KL divergence).
    entropy: bool,
    /// 1 for `Sum`, `1 / denominator` for `Mean`.
    grad_scale: f32,
}

/// How a pass reads the spread weights `c_k t_k`: which of the class
/// weights and the dense target take part, and whether the spread and the
/// entropy terms are computed at all. Zero-sized, so each combination is
/// its own monomorphised loop.
trait Spread {
    /// The spread term is present (smoothing or dense labels).
    const ON: bool;
    /// Class weights take part.
    const CLASS: bool;
    /// A dense target row takes part.
    const TARGET: bool;
    /// Accumulate `Σ t ln t`.
    const ENTROPY: bool;
}

/// Declares the [`Spread`] combinations the losses use.
macro_rules! spreads {
    ($($(#[$doc:meta])* $name:ident = ($on:expr, $class:expr, $target:expr, $entropy:expr);)*) => {$(
        $(#[$doc])*
        struct $name;
        impl Spread for $name {
            const ON: bool = $on;
            const CLASS: bool = $class;
            const TARGET: bool = $target;
            const ENTROPY: bool = $entropy;
        }
    )*};
}

spreads! {
    /// Sparse labels without smoothing, and the plain row functions.
    Plain = (false, false, false, false);
    /// Sparse labels, smoothing, no class weights.
    Smooth = (true, false, false, false);
    /// Sparse labels, smoothing, class weights.
    SmoothWeighted = (true, true, false, false);
    /// Dense labels without class weights.
    Dense = (true, false, true, false);
    /// Dense labels with class weights.
    DenseWeighted = (true, true, true, false);
    /// KL divergence: dense target plus its entropy.
    Kl = (true, false, true, true);
}

/// `s[i..]`, empty past the end.
#[inline(always)]
fn tail(s: &[f32], i: usize) -> &[f32] {
    s.get(i..).unwrap_or(&[])
}

/// `s[i..]`, empty past the end.
#[inline(always)]
fn tail_mut(s: &mut [f32], i: usize) -> &mut [f32] {
    s.get_mut(i..).unwrap_or(&mut [])
}

/// `c[k]`, or 1 without class weights.
#[inline(always)]
fn class_of(c: Option<&[f32]>, k: usize) -> f32 {
    c.and_then(|c| c.get(k).copied()).unwrap_or(1.0)
}

/// Sum of a slice, in lanes.
fn sum_of(s: &[f32]) -> f32 {
    let w = <Native as Lane>::LANES;
    let mut acc = Native::splat(0.0);
    let mut i = 0;
    while i < s.len() {
        acc += Native::load_or(tail(s, i), 0.0);
        i += w;
    }
    acc.sum()
}

/// The spread weights `c_k t_k` at `k..k + LANES` (0 past the row's end
/// when class weights or a target take part; 1 otherwise).
#[inline(always)]
fn spread_at<L: Lane, S: Spread>(c: &[f32], t: &[f32], k: usize) -> L {
    match (S::CLASS, S::TARGET) {
        (false, false) => L::splat(1.0),
        (true, false) => L::load_or(tail(c, k), 0.0),
        (false, true) => L::load_or(tail(t, k), 0.0),
        (true, true) => L::load_or(tail(c, k), 0.0) * L::load_or(tail(t, k), 0.0),
    }
}

/// `t ln t`, 0 at `t = 0`, NaN for NaN or negative `t`.
#[inline(always)]
fn x_ln_x<L: Lane>(t: L) -> L {
    t.eq(L::splat(0.0)).select(L::splat(0.0), t * ln(t))
}

/// The per-row sums of the exp pass.
#[derive(Clone, Copy, Debug)]
struct RowSums<L> {
    /// `Σ e^(x_k - m)`.
    s: L,
    /// `D = Σ v_k (m - x_k)` over the spread weights `v_k = c_k t_k` (or
    /// `-Σ v_k x_k` for log-probabilities).
    d: L,
    /// `Σ v_k`.
    total: L,
    /// `Σ t_k ln t_k`.
    entropy: L,
}

impl<L: Lane> RowSums<L> {
    fn zero() -> Self {
        let z = L::splat(0.0);
        RowSums {
            s: z,
            d: z,
            total: z,
            entropy: z,
        }
    }
    #[inline(always)]
    fn merge(self, o: Self) -> Self {
        RowSums {
            s: self.s + o.s,
            d: self.d + o.d,
            total: self.total + o.total,
            entropy: self.entropy + o.entropy,
        }
    }
    #[inline(always)]
    fn reduce(self) -> RowSums<f32> {
        RowSums {
            s: self.s.sum(),
            d: self.d.sum(),
            total: self.total.sum(),
            entropy: self.entropy.sum(),
        }
    }
}

/// The maximum of a row (`-inf` for an empty one).
#[inline(always)]
fn row_max<L: Lane>(x: &[f32]) -> f32 {
    let w = L::LANES;
    let lo = L::splat(f32::NEG_INFINITY);
    let (mut m0, mut m1, mut m2, mut m3) = (lo, lo, lo, lo);
    let mut i = 0;
    while i + 4 * w <= x.len() {
        m0 = m0.max(L::load_or(tail(x, i), f32::NEG_INFINITY));
        m1 = m1.max(L::load_or(tail(x, i + w), f32::NEG_INFINITY));
        m2 = m2.max(L::load_or(tail(x, i + 2 * w), f32::NEG_INFINITY));
        m3 = m3.max(L::load_or(tail(x, i + 3 * w), f32::NEG_INFINITY));
        i += 4 * w;
    }
    while i < x.len() {
        m0 = m0.max(L::load_or(tail(x, i), f32::NEG_INFINITY));
        i += w;
    }
    m0.max(m1).max(m2.max(m3)).max_lane()
}

/// One lane step of the exp pass at `i`: `e = e^(x - m)` (stored into
/// `grad` with `GRAD`) and the sums of [`RowSums`]. `keep` masks the lanes
/// past the row's end (the logits are padded with `m` there).
#[inline(always)]
fn exp_step<L: Lane, S: Spread, const GRAD: bool>(
    (x, c, t): (&[f32], &[f32], &[f32]),
    m: L,
    grad: &mut [f32],
    i: usize,
    keep: Option<L>,
    acc: &mut RowSums<L>,
) {
    let v = L::load_or(tail(x, i), 0.0);
    let v = match keep {
        Some(k) => k.select(v, m),
        None => v,
    };
    let e = exp_nonpositive(v - m);
    let e = match keep {
        Some(k) => k.select(e, L::splat(0.0)),
        None => e,
    };
    if GRAD {
        e.store(tail_mut(grad, i));
    }
    acc.s = acc.s + e;
    if S::ON {
        let w = spread_at::<L, S>(c, t, i);
        let w = match keep {
            Some(k) => k.select(w, L::splat(0.0)),
            None => w,
        };
        acc.d = w.mul_add(m - v, acc.d);
        acc.total = acc.total + w;
    }
    if S::ENTROPY {
        acc.entropy = acc.entropy + x_ln_x(L::load_or(tail(t, i), 0.0));
    }
}

/// The exp pass over one row: see [`exp_step`]. With a non-empty `next`
/// (the following row, same length) it also returns that row's maximum,
/// read in the same loop: the next row streams in from memory while this
/// one is exponentiated from L1 (measured: see `notes/rows.md`).
#[inline(always)]
fn exp_pass<L: Lane, S: Spread, const GRAD: bool>(
    x: &[f32],
    m: f32,
    c: &[f32],
    t: &[f32],
    grad: &mut [f32],
    next: &[f32],
) -> (RowSums<f32>, f32) {
    let w = L::LANES;
    let n = x.len();
    let m = L::splat(m);
    let lo = f32::NEG_INFINITY;
    let has_next = !next.is_empty();
    let (mut a0, mut a1) = (RowSums::<L>::zero(), RowSums::<L>::zero());
    let (mut n0, mut n1) = (L::splat(lo), L::splat(lo));
    let mut i = 0;
    while i + 2 * w <= n {
        exp_step::<L, S, GRAD>((x, c, t), m, grad, i, None, &mut a0);
        exp_step::<L, S, GRAD>((x, c, t), m, grad, i + w, None, &mut a1);
        if has_next {
            n0 = n0.max(L::load_or(tail(next, i), lo));
            n1 = n1.max(L::load_or(tail(next, i + w), lo));
        }
        i += 2 * w;
    }
    while i < n {
        let keep = (i + w > n).then(|| L::iota().lt(L::splat((n - i) as f32)));
        exp_step::<L, S, GRAD>((x, c, t), m, grad, i, keep, &mut a0);
        if has_next {
            n0 = n0.max(L::load_or(tail(next, i), lo));
        }
        i += w;
    }
    (a0.merge(a1).reduce(), n0.max(n1).max_lane())
}

/// `grad = grad · a - b · w` over one row (`w` the spread weights, taken as
/// 0 without a spread term).
#[inline(always)]
fn scale_pass<L: Lane, S: Spread>(grad: &mut [f32], c: &[f32], t: &[f32], a: f32, b: f32) {
    let w = L::LANES;
    let (a, b) = (L::splat(a), L::splat(b));
    let mut i = 0;
    while i < grad.len() {
        let g = L::load_or(tail(grad, i), 0.0) * a;
        let g = if S::ON {
            g - b * spread_at::<L, S>(c, t, i)
        } else {
            g
        };
        g.store(tail_mut(grad, i));
        i += w;
    }
}

/// `out = (x - m) - lse_shift` over one row.
#[inline(always)]
fn shift_pass<L: Lane>(x: &[f32], m: f32, ln_s: f32, out: &mut [f32]) {
    let w = L::LANES;
    let (m, l) = (L::splat(m), L::splat(ln_s));
    let mut i = 0;
    while i < x.len() {
        ((L::load_or(tail(x, i), 0.0) - m) - l).store(tail_mut(out, i));
        i += w;
    }
}

/// The log-probability pass: `d = -Σ v_k x_k`, `Σ v_k`, the entropy, and
/// with `GRAD` `grad = -b w` (zeros without a spread term).
#[inline(always)]
fn log_prob_pass<L: Lane, S: Spread, const GRAD: bool>(
    x: &[f32],
    c: &[f32],
    t: &[f32],
    grad: &mut [f32],
    b: f32,
) -> RowSums<f32> {
    let w = L::LANES;
    let nb = L::splat(-b);
    let mut acc = RowSums::<L>::zero();
    let mut i = 0;
    while i < x.len() {
        let keep = L::iota().lt(L::splat((x.len() - i) as f32));
        if S::ON {
            let wk = keep.select(spread_at::<L, S>(c, t, i), L::splat(0.0));
            let v = L::load_or(tail(x, i), 0.0);
            acc.d = acc.d - keep.select(wk * v, L::splat(0.0));
            acc.total = acc.total + wk;
            if GRAD {
                (nb * wk).store(tail_mut(grad, i));
            }
        } else if GRAD {
            L::splat(0.0).store(tail_mut(grad, i));
        }
        if S::ENTROPY {
            acc.entropy = acc.entropy + x_ln_x(L::load_or(tail(t, i), 0.0));
        }
        i += w;
    }
    acc.reduce()
}

/// A row's loss and the gradient factor `a = W / s` from its sums:
/// `hot (m - x_y) + spread D + W ln s + entropy`, `W = hot + spread Σv`.
/// Written once, generic, for the row path (`f32`) and the transposed
/// path (one row per lane).
#[inline(always)]
fn combine<L: Lane>(hot: L, m_minus_label: L, spread: L, sums: RowSums<L>) -> (L, L) {
    let total = spread.mul_add(sums.total, hot);
    let loss = hot.mul_add(m_minus_label, spread * sums.d) + total * ln(sums.s) + sums.entropy;
    (loss, total / sums.s)
}

/// The widest lane type's width: sizes the stack arrays of the transposed
/// path.
const MAX_LANES: usize = 16;

/// The most classes the transposed path handles (its stack holds one lane
/// value per class).
const MAX_TRANSPOSED: usize = 32;

/// Whether rows of `classes` go through the transposed path with `lanes`
/// lanes: up to 32 classes. Measured (value + gradient, rows/s): at 8 lanes
/// it is 3-4x faster than the row kernel for 20 and 31 classes and 6x for
/// 10; at 16 lanes the row kernel catches up at 48 classes and wins at 64
/// (whole lanes, no tail). See `notes/rows.md`.
const fn transposed(classes: usize, lanes: usize) -> bool {
    lanes > 1 && lanes <= MAX_LANES && classes <= MAX_TRANSPOSED
}

/// The stack buffer of one transposed block: `MAX_TRANSPOSED` columns of
/// `MAX_LANES` values.
const BLOCK: usize = MAX_LANES * MAX_TRANSPOSED;

/// Transposes `LANES` rows of `stride` values into `buf`, column `k` at
/// `buf[k · LANES..]`. The whole block is written before any column is
/// loaded as a lane value, so the loads do not wait on the scalar stores
/// (a store-forwarding stall that cost a quarter of the time when each
/// column was gathered just before its use).
#[inline(always)]
fn transpose_in<L: Lane>(block: &[f32], stride: usize, buf: &mut [f32; BLOCK]) {
    for (j, row) in block.chunks_exact(stride).take(L::LANES).enumerate() {
        for (v, b) in row
            .iter()
            .zip(tail_mut(buf, j).iter_mut().step_by(L::LANES))
        {
            *b = *v;
        }
    }
}

/// The inverse of [`transpose_in`]: column `k` of `buf` back to element `k`
/// of every row of `block`.
#[inline(always)]
fn transpose_out<L: Lane>(buf: &[f32; BLOCK], stride: usize, block: &mut [f32]) {
    for (j, row) in block.chunks_exact_mut(stride).take(L::LANES).enumerate() {
        for (o, b) in row.iter_mut().zip(tail(buf, j).iter().step_by(L::LANES)) {
            *o = *b;
        }
    }
}

/// Column `k` of a transposed block.
#[inline(always)]
fn column<L: Lane>(buf: &[f32; BLOCK], k: usize) -> L {
    L::load_or(tail(buf, k * L::LANES), 0.0)
}

/// The spread weights `c_k t_k` of column `k` in the transposed layout
/// (`t` the transposed target block).
#[inline(always)]
fn transposed_spread<L: Lane, S: Spread>(c: &[f32], t: &[f32; BLOCK], k: usize) -> L {
    let ck = || L::splat(c.get(k).copied().unwrap_or(0.0));
    match (S::CLASS, S::TARGET) {
        (false, false) => L::splat(1.0),
        (true, false) => ck(),
        (false, true) => column::<L>(t, k),
        (true, true) => ck() * column::<L>(t, k),
    }
}

/// The stack buffers of the transposed path: a block of logits (then its
/// `e` values, then its gradient) and a block of dense targets.
struct Scratch {
    buf: [f32; BLOCK],
    target: [f32; BLOCK],
}

/// The per-row constants of a transposed block, one row per lane.
#[derive(Clone, Copy, Debug)]
struct BlockRows<L> {
    /// The sparse label as a float (exact below 2^24), -1 for dense rows.
    label: L,
    /// `(1 - α) c_y`, or 0.
    hot: L,
    /// `α / C` or 1 (0 for ignored rows).
    spread: L,
    /// The sample weight.
    weight: L,
    /// `weight · grad_scale`.
    scale: L,
    /// Mask of the rows that are not ignored.
    live: L,
}

/// What one row contributes, after its label and weights are looked up.
#[derive(Clone, Copy, Debug)]
struct Row {
    /// The sparse label's column (`hot` is 0 when there is none).
    label: usize,
    /// `(1 - α) c_y`, or 0.
    hot: f32,
    /// `α / C` or 1, or 0 for an ignored row.
    spread: f32,
    /// `Σ c_k` for sparse rows (dense rows sum their own target).
    class_weight_sum: f32,
    /// The sample weight.
    weight: f32,
    /// The row is ignored.
    ignored: bool,
}

impl Plan<'_> {
    /// Row `i`'s constants.
    #[inline(always)]
    fn row(&self, i: usize) -> Row {
        let weight = self
            .sample_weight
            .and_then(|w| w.get(i).copied())
            .unwrap_or(1.0);
        match self.sparse.and_then(|y| y.get(i).copied()) {
            Some(y) => {
                let ignored = Some(y) == self.ignore_index;
                let label = y as usize;
                Row {
                    label,
                    hot: if ignored {
                        0.0
                    } else {
                        self.hot * class_of(self.class_weight, label)
                    },
                    spread: if ignored { 0.0 } else { self.spread },
                    class_weight_sum: self.class_weight_sum,
                    weight,
                    ignored,
                }
            }
            None => Row {
                label: 0,
                hot: 0.0,
                spread: self.spread,
                class_weight_sum: 0.0,
                weight,
                ignored: false,
            },
        }
    }

    /// Picks the monomorphised kernel for this call's options.
    fn run<const GRAD: bool>(
        &self,
        logits: &[f32],
        grad: &mut [f32],
        out: &mut [f32],
    ) -> Result<f32, Error> {
        let spread = self.spread != 0.0;
        let total = match (
            spread,
            self.target.is_some(),
            self.class_weight.is_some(),
            self.entropy,
        ) {
            (_, _, _, true) => self.rows_with::<Kl, GRAD>(logits, grad, out),
            (false, _, _, _) => self.rows_with::<Plain, GRAD>(logits, grad, out),
            (true, false, false, _) => self.rows_with::<Smooth, GRAD>(logits, grad, out),
            (true, false, true, _) => self.rows_with::<SmoothWeighted, GRAD>(logits, grad, out),
            (true, true, false, _) => self.rows_with::<Dense, GRAD>(logits, grad, out),
            (true, true, true, _) => self.rows_with::<DenseWeighted, GRAD>(logits, grad, out),
        };
        Ok(if self.grad_scale == 0.0 {
            0.0
        } else {
            total * self.grad_scale
        })
    }

    /// Runs every row; returns the sum of the per-sample losses.
    fn rows_with<S: Spread, const GRAD: bool>(
        &self,
        logits: &[f32],
        grad: &mut [f32],
        out: &mut [f32],
    ) -> f32 {
        let classes = self.classes;
        let lanes = <Native as Lane>::LANES;
        let c = self.class_weight.unwrap_or(&[]);
        let mut total = Sum::default();
        let mut i = 0;
        if transposed(classes, lanes) && self.input == Input::Logits {
            let block = lanes * classes;
            // Zeroed once per call, not per block.
            let mut scratch = Scratch {
                buf: [0.0; BLOCK],
                target: [0.0; BLOCK],
            };
            while i + lanes <= self.rows {
                let span = i * classes..i * classes + block;
                let x = logits.get(span.clone()).unwrap_or(&[]);
                let t = self.target.and_then(|t| t.get(span.clone())).unwrap_or(&[]);
                let g = if GRAD {
                    grad.get_mut(span).unwrap_or(&mut [])
                } else {
                    &mut []
                };
                let losses = self.block::<Native, S, GRAD>(i, x, c, t, g, &mut scratch);
                let slots = out.get_mut(i..i + lanes).unwrap_or(&mut []);
                for (o, v) in slots.iter_mut().zip(&losses) {
                    *o = *v;
                }
                for v in losses.iter().take(lanes) {
                    total.add(*v);
                }
                i += lanes;
            }
        }
        let first = i;
        let mut grad_rows = tail_mut(grad, first * classes).chunks_exact_mut(classes);
        let mut out_slots = out.iter_mut().skip(first);
        let mut m = match self.input {
            Input::Logits => {
                row_max::<Native>(tail(logits, first * classes).get(..classes).unwrap_or(&[]))
            }
            Input::LogProbs => 0.0,
        };
        for (i, x) in tail(logits, first * classes)
            .chunks_exact(classes)
            .enumerate()
            .map(|(k, x)| (k + first, x))
        {
            let g = if GRAD {
                grad_rows.next().unwrap_or(&mut [])
            } else {
                &mut []
            };
            let t = self
                .target
                .and_then(|t| t.get(i * classes..(i + 1) * classes))
                .unwrap_or(&[]);
            let next = logits
                .get((i + 1) * classes..(i + 2) * classes)
                .unwrap_or(&[]);
            let (v, next_max) = self.one_row::<Native, S, GRAD>((x, c, t), self.row(i), g, m, next);
            m = next_max;
            if let Some(o) = out_slots.next() {
                *o = v;
            }
            total.add(v);
        }
        total.total()
    }

    /// `LANES` rows at once, transposed: lane `j` is row `first + j` of the
    /// block `x` (`LANES · classes` logits; `t` and `grad` alike). Returns
    /// the rows' sample-weighted losses in the first `LANES` entries.
    #[inline(always)]
    fn block<L: Lane, S: Spread, const GRAD: bool>(
        &self,
        first: usize,
        x: &[f32],
        c: &[f32],
        t: &[f32],
        grad: &mut [f32],
        scratch: &mut Scratch,
    ) -> [f32; MAX_LANES] {
        let classes = self.classes;
        let zero = L::splat(0.0);
        let rows = self.block_rows::<L>(first);
        // Columns of logits, the max, then the exp pass (`e` replaces the
        // logits in the buffer); the label's logit is picked out by mask.
        let Scratch { buf, target: tbuf } = scratch;
        transpose_in::<L>(x, classes, buf);
        if S::TARGET {
            transpose_in::<L>(t, classes, tbuf);
        }
        let mut m = L::splat(f32::NEG_INFINITY);
        for k in 0..classes {
            m = m.max(column::<L>(buf, k));
        }
        let mut sums = RowSums::<L>::zero();
        let mut label_logit = zero;
        for k in 0..classes {
            let v = column::<L>(buf, k);
            let e = exp_nonpositive(v - m);
            sums.s = sums.s + e;
            if !S::TARGET {
                label_logit = rows.label.eq(L::splat(k as f32)).select(v, label_logit);
            }
            if S::ON {
                let w = transposed_spread::<L, S>(c, tbuf, k);
                sums.d = w.mul_add(m - v, sums.d);
                sums.total = sums.total + w;
            }
            if S::ENTROPY {
                sums.entropy = sums.entropy + x_ln_x(column::<L>(tbuf, k));
            }
            e.store(tail_mut(buf, k * L::LANES));
        }
        if !S::TARGET {
            sums.total = L::splat(self.class_weight_sum);
        }
        let no_hot = rows.hot.eq(zero);
        let m_minus_label = no_hot.select(zero, m - label_logit);
        let (loss, a) = combine(rows.hot, m_minus_label, rows.spread, sums);
        let loss = rows.live.select(loss * rows.weight, zero);
        if GRAD {
            let a = rows.live.select(a * rows.scale, zero);
            let b = rows.live.select(rows.spread * rows.scale, zero);
            let hot = rows.live.select(rows.hot * rows.scale, zero);
            for k in 0..classes {
                let g = column::<L>(buf, k) * a;
                let g = if S::ON {
                    g - b * transposed_spread::<L, S>(c, tbuf, k)
                } else {
                    g
                };
                let g = if S::TARGET {
                    g
                } else {
                    g - rows.label.eq(L::splat(k as f32)).select(hot, zero)
                };
                rows.live.select(g, zero).store(tail_mut(buf, k * L::LANES));
            }
            transpose_out::<L>(buf, classes, grad);
        }
        let mut losses = [0.0f32; MAX_LANES];
        loss.store(&mut losses);
        losses
    }

    /// The per-row constants of the block of `LANES` rows from `first`, one
    /// lane per row; without weights or an ignored label they are uniform
    /// and only the labels are read.
    #[inline(always)]
    fn block_rows<L: Lane>(&self, first: usize) -> BlockRows<L> {
        let mut label = [-1.0f32; MAX_LANES];
        if let Some(y) = self.sparse.and_then(|y| y.get(first..)) {
            for (l, &y) in label.iter_mut().zip(y.iter().take(L::LANES)) {
                *l = y as f32;
            }
        }
        let uniform = self.sample_weight.is_none()
            && self.class_weight.is_none()
            && self.ignore_index.is_none();
        if uniform {
            let hot = if self.sparse.is_some() { self.hot } else { 0.0 };
            return BlockRows {
                label: L::load_or(&label, -1.0),
                hot: L::splat(hot),
                spread: L::splat(self.spread),
                weight: L::splat(1.0),
                scale: L::splat(self.grad_scale),
                live: L::splat(0.0).eq(L::splat(0.0)),
            };
        }
        let mut hot = [0.0f32; MAX_LANES];
        let mut spread = [0.0f32; MAX_LANES];
        let mut weight = [0.0f32; MAX_LANES];
        let mut live = [0.0f32; MAX_LANES];
        for (j, (((h, sp), w), lv)) in hot
            .iter_mut()
            .zip(spread.iter_mut())
            .zip(weight.iter_mut())
            .zip(live.iter_mut())
            .take(L::LANES)
            .enumerate()
        {
            let row = self.row(first + j);
            *h = row.hot;
            *sp = row.spread;
            *w = row.weight;
            *lv = if row.ignored { 0.0 } else { 1.0 };
        }
        let weight = L::load_or(&weight, 0.0);
        BlockRows {
            label: L::load_or(&label, -1.0),
            hot: L::load_or(&hot, 0.0),
            spread: L::load_or(&spread, 0.0),
            weight,
            scale: weight * L::splat(self.grad_scale),
            live: L::load_or(&live, 0.0).gt(L::splat(0.0)),
        }
    }

    /// One row through the row kernel: returns its (sample-weighted) loss
    /// and writes the gradient of that loss times `grad_scale`. For logits,
    /// `m` is the row's max, computed by the previous row's call, and the
    /// max of `next` is returned for the following one.
    #[inline(always)]
    fn one_row<L: Lane, S: Spread, const GRAD: bool>(
        &self,
        (x, c, t): (&[f32], &[f32], &[f32]),
        row: Row,
        grad: &mut [f32],
        m: f32,
        next: &[f32],
    ) -> (f32, f32) {
        if row.ignored {
            if GRAD {
                grad.fill(0.0);
            }
            let next_max = match self.input {
                Input::Logits => row_max::<L>(next),
                Input::LogProbs => 0.0,
            };
            return (0.0, next_max);
        }
        let mut next_max = 0.0;
        let scale = row.weight * self.grad_scale;
        let (loss, label_logit) = match self.input {
            Input::Logits => {
                let (mut sums, following) = exp_pass::<L, S, GRAD>(x, m, c, t, grad, next);
                next_max = following;
                if !S::TARGET {
                    sums.total = row.class_weight_sum;
                }
                let m_minus_label = if row.hot != 0.0 {
                    m - x.get(row.label).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                let (loss, a) = combine(row.hot, m_minus_label, row.spread, sums);
                if GRAD {
                    scale_pass::<L, S>(grad, c, t, a * scale, row.spread * scale);
                }
                (loss, 0.0)
            }
            Input::LogProbs => {
                let sums = log_prob_pass::<L, S, GRAD>(x, c, t, grad, row.spread * scale);
                let x_label = if row.hot != 0.0 {
                    x.get(row.label).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                (row.spread.mul_add(sums.d, sums.entropy), x_label)
            }
        };
        let loss = loss - row.hot * label_logit;
        if GRAD
            && row.hot != 0.0
            && let Some(g) = grad.get_mut(row.label)
        {
            *g -= scale * row.hot;
        }
        (row.weight * loss, next_max)
    }
}
