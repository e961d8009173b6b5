//! [`KlDivergence`]: the builder, its entry points and the validation of
//! a call into a [`Plan`] (the same kernels as cross-entropy, with the
//! [`Targets::Kl`] kind).

use super::Input;
use super::plan::{Plan, Targets, kind};
use crate::Reduction;
use crate::driver::{Outputs, reduction_scale};
use crate::error::{Domain, Error, check_len, check_param, rows};

/// KL divergence `Σ_k t_k (ln t_k - ln q_k)` per row, the **sum** over
/// classes (MXNet 1.x; PyTorch `reduction="batchmean"` for `Mean`), with
/// `t ln t = 0` at `t = 0`. The prediction rows hold log-probabilities
/// `ln q` by default, or logits with [`Input::Logits`] (`log_softmax` is
/// applied inside). `Mean` divides by the number of rows. With
/// [`log_target`](Self::log_target) the targets are log-probabilities.
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
    log_target: bool,
    sample_weight: Option<&'w [f32]>,
}

impl KlDivergence<'static> {
    /// KL divergence over rows of `classes` (at least 1) log-probabilities.
    pub const fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(KlDivergence {
            classes,
            input: Input::LogProbs,
            log_target: false,
            sample_weight: None,
        })
    }
}

impl<'w> KlDivergence<'w> {
    /// Whether the prediction rows are log-probabilities (default) or logits.
    #[must_use]
    pub const fn input(self, input: Input) -> Self {
        KlDivergence { input, ..self }
    }

    /// Whether the target rows hold log-probabilities `lt` (PyTorch's
    /// `log_target=True`) instead of probabilities (default `false`):
    /// `l_i = s_i Σ_k e^(lt_ik) (lt_ik - ln q_ik)`, with `e^lt lt = 0` where
    /// `e^lt = 0` (so `lt = -∞` adds 0, where PyTorch's `exp(lt) (lt - x)`
    /// gives NaN). The gradient is the dense one with `t = e^lt`.
    ///
    /// ```
    /// use loss_kernels::softmax::KlDivergence;
    /// use loss_kernels::Reduction;
    /// let pred = [0.25f32.ln(), 0.75f32.ln()];
    /// let kl = KlDivergence::new(2)?;
    /// let probs = kl.value(&pred, &[0.5, 0.5], Reduction::Sum)?;
    /// let logs = kl.log_target(true).value(&pred, &[0.5f32.ln(), 0.5f32.ln()], Reduction::Sum)?;
    /// assert!((probs - logs).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn log_target(self, log_target: bool) -> Self {
        KlDivergence { log_target, ..self }
    }

    /// The kernel of these options.
    #[inline(always)]
    fn kind(&self) -> u8 {
        if self.log_target {
            kind::KL_LOG
        } else {
            kind::KL
        }
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> KlDivergence<'v>
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
    #[inline(always)]
    pub fn value(&self, pred: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error> {
        let plan = self.plan(pred, target, reduction)?;
        Ok(plan.dispatch::<false, false>(self.kind(), self.input, pred, Outputs::none()))
    }

    /// The reduced loss and its gradient w.r.t. `pred` (same length).
    #[inline(always)]
    pub fn value_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<false>(pred, target, reduction, 1.0, grad)
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `pred` **added**
    /// to `grad` (same length) in the same pass: `grad += scale · ∂L/∂pred`.
    /// `scale` (finite) weights the gradient only, never the value.
    ///
    /// ```
    /// use loss_kernels::softmax::KlDivergence;
    /// use loss_kernels::Reduction;
    /// let pred = [0.5f32.ln(), 0.5f32.ln()];
    /// let mut grad = [1.0, 1.0];
    /// KlDivergence::new(2)?.value_and_accumulate_grad(&pred, &[1.0, 0.0], Reduction::Sum, 0.5, &mut grad)?;
    /// assert_eq!(grad, [1.0 - 0.5, 1.0]); // ∂/∂pred = -target
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_accumulate_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<true>(pred, target, reduction, scale, grad)
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `pred`
    /// **written** into `grad` (same length) in the same pass: `grad =
    /// scale · ∂L/∂pred`, the value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::softmax::KlDivergence;
    /// use loss_kernels::Reduction;
    /// let pred = [0.5f32.ln(), 0.5f32.ln()];
    /// let mut grad = [f32::NAN; 2];
    /// KlDivergence::new(2)?.value_and_scaled_grad(&pred, &[1.0, 0.0], Reduction::Sum, 0.5, &mut grad)?;
    /// assert_eq!(grad, [-0.5, 0.0]); // ∂/∂pred = -target
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_scaled_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<false>(pred, target, reduction, scale, grad)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    #[inline(always)]
    fn with_scale<const ACC: bool>(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, pred.len())?;
        let scale = check_param("scale", scale, Domain::Finite)?;
        let plan = self.plan(pred, target, reduction)?;
        let out = Outputs::scaled(grad, scale);
        Ok(plan.dispatch::<true, ACC>(self.kind(), self.input, pred, out))
    }

    /// The `Mean` denominator of a batch: its number of rows (PyTorch's
    /// `batchmean`). Shards combine with it, within rounding: `Mean = Σ_k (d_k / d)
    /// Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::softmax::KlDivergence;
    /// assert_eq!(KlDivergence::new(2)?.mean_denominator(&[0.0; 6])?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, pred: &[f32]) -> Result<f32, Error> {
        Ok(rows("pred", "classes", pred.len(), self.classes)? as f32)
    }

    /// The per-sample losses into `out`, one per row.
    #[inline(always)]
    pub fn per_sample(&self, pred: &[f32], target: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let plan = self.plan(pred, target, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        plan.dispatch::<false, false>(self.kind(), self.input, pred, Outputs::values(out));
        Ok(())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`; returns the sum.
    #[inline(always)]
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
        let out = Outputs::both(grad, out);
        Ok(plan.dispatch::<true, false>(self.kind(), self.input, pred, out))
    }

    /// Validates every argument once into a [`Plan`].
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
            spatial: 1,
            input: self.input,
            sample_weight: self.sample_weight,
            grad_scale: reduction_scale(reduction, n as f32),
            targets: Targets::Kl { target },
        })
    }
}
