//! The pointwise losses: each sample is `dim` consecutive values of
//! `pred` and `target`, and its loss is the **mean** over those values of an
//! element loss `f(p, t)` (MXNet Gluon's mean over non-batch axes).
//!
//! With `s = p - t`, `sp(x) = ln(1 + e^x)` (stably `max(x,0) + ln1p(e^-|x|)`)
//! and `σ(x) = 1 / (1 + e^-x)`:
//!
//! | loss | f(p, t) | df/dp |
//! |---|---|---|
//! | [`L1`] | `abs(s)` | `sign(s)`, 0 at 0 |
//! | [`L2`] | `s² / 2` | `s` |
//! | [`Huber`] (`rho`) | `abs(s) > rho ? abs(s) - rho/2 : s²/(2 rho)` | `abs(s) > rho ? sign(s) : s/rho` |
//! | [`Hinge`] (`margin`) | `max(0, margin - p t)` | `-t` where positive |
//! | [`SquaredHinge`] (`margin`) | `max(0, margin - p t)²` | `-2 t max(0, margin - p t)` |
//! | [`Logistic`] (`labels`) | `sp(p) - p z`, `z = (t+1)/2` (signed) or `t` (binary) | `σ(p) - z` |
//! | [`SigmoidBce`] (`pos_weight`) | `(1-t) p + (1 + (pw-1) t) sp(-p)`, computed as `(1-t) sp(p) + pw t sp(-p)` | `(1-t) σ(p) - pw t σ(-p)` |
//! | [`Bce`] (`pos_weight`) | `-(pw t ln(p + 1e-12) + (1-t) ln(1 - p + 1e-12))` | `-(pw t/(p + 1e-12) - (1-t)/(1 - p + 1e-12))` |
//! | [`PoissonNll`] (`log_input`, `full`, [`eps`](Pointwise::eps)) | `e^p - t p` or `p - t ln(p + eps)` (`eps = 1e-8` unless set), `+ t ln t - t + ln(2πt)/2` for `t > 1` with `full` | `e^p - t` or `1 - t/(p + eps)` |
//! | [`LogCosh`] | `ln cosh s = abs(s) + ln1p(e^-2abs(s)) - ln 2` | `tanh(s)` |
//!
//! PyTorch's definitions (`torch.nn.functional`, torchvision):
//!
//! | loss | f(p, t) | df/dp |
//! |---|---|---|
//! | [`Mse`] | `s²` (twice [`L2`]) | `2 s` |
//! | [`SmoothL1`] (`beta >= 0`) | `beta = 0`: `abs(s)`; else as [`Huber`] with `rho = beta` | `abs(s) < beta ? s/beta : sign(s)` |
//! | [`HuberTorch`] (`delta > 0`) | `abs(s) <= delta ? s²/2 : delta (abs(s) - delta/2)` | `abs(s) <= delta ? s : delta sign(s)` |
//! | [`SoftMargin`] | `sp(-t p)` (PyTorch overflows to `inf` past `-t p > 88.7`; this stays finite) | `-t σ(-t p)` |
//! | [`HingeEmbedding`] (`margin`) | `(t != 1 ? max(0, margin - p) : 0) + (t != -1 ? p : 0)` | `(t != 1 and margin > p ? -1 : 0) + (t != -1 ? 1 : 0)` |
//! | [`SigmoidFocal`] (`alpha`, `gamma`) | `ce (1 - p_t)^γ`, `× (α t + (1-α)(1-t))` if `α >= 0`; `ce` the sigmoid BCE, `p_t = σ(p) t + σ(-p)(1-t)` | its exact derivative |
//! | [`SigmoidBcePerClass`] (`pos_weight[C]`) | [`SigmoidBce`] with `pos_weight[j]` for class `j` of each row of `C` | as [`SigmoidBce`] |
//!
//! At a kink of a `max(0, z)` term (`z = 0`) the derivative is 0, as in
//! PyTorch. Stable forms:
//!
//! * [`SoftMargin`]: `sp(-t p)` from one `exp(-|t p|)`.
//! * [`SigmoidFocal`]: `ce = (1-t) sp(p) + t sp(-p)` and
//!   `1 - p_t = (1-t) σ(p) + t σ(-p)` are sums of non-negative terms (no
//!   cancellation at large `|p|`); `(1 - p_t)^γ` is `m·m` for `γ = 2`, `m`
//!   for 1, 1 for 0, else `exp(γ ln m)`; its derivative is
//!   `γ m^(γ-1) dm` with `dm = σ(p)σ(-p)(1 - 2t)`: `2m·dm`, `dm` and 0 for
//!   `γ` of 2, 1 and 0 (no division), else `γ m^γ (dm / m)` (0 where
//!   `m = 0`).
//! * [`SmoothL1`] is [`Huber`] (`rho = beta`) for `beta > 0` and [`L1`] for
//!   `beta = 0`; [`HuberTorch`] is `delta ·` [`Huber`] with `rho = delta`.
//! * The losses on two or three inputs (`gaussian_nll`, `margin_ranking`)
//!   are in [`pair`](crate::pair).
//!
//! Every loss is a [`Pointwise`] over its [`ElementLoss`]: the element math
//! is written once, generic over [`Lane`], and the shared driver walks the
//! slices, the tail, the weights and the reduction.
//!
//! ```
//! use loss_kernels::{pointwise::Huber, Reduction};
//! let (pred, target) = ([0.5, 3.0], [0.0, 0.0]);
//! let mut grad = [0.0; 2];
//! let loss = Huber::new(1.0)?.value_and_grad(&pred, &target, Reduction::Mean, &mut grad)?;
//! assert_eq!(loss, (0.125 + 2.5) / 2.0);
//! assert_eq!(grad, [0.25, 0.5]);
//! # Ok::<(), loss_kernels::Error>(())
//! ```

use crate::Reduction;
use crate::driver::{Outputs, Samples, each_row, reduction_scale, rows_in, sweep};
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{self, Kernel, Lane};

pub use crate::driver::ElementLoss;
pub use losses::{
    Bce, Hinge, Huber, L1, L2, Labels, LogCosh, Logistic, PoissonNll, SigmoidBce, SquaredHinge,
    elements,
};
pub use per_class::SigmoidBcePerClass;
pub use torch::{HingeEmbedding, HuberTorch, Mse, SigmoidFocal, SmoothL1, SoftMargin};

pub(crate) use losses::positive_part;

mod losses;
mod per_class;
mod torch;

/// A pointwise loss: an [`ElementLoss`] with the sample layout (`dim`) and
/// optional per-sample weights. Build one with the loss's `new` (e.g.
/// [`Huber::new`]), then call [`value`](Self::value),
/// [`value_and_grad`](Self::value_and_grad), [`per_sample`](Self::per_sample)
/// or [`per_sample_and_grad`](Self::per_sample_and_grad).
///
/// A batch of `pred.len() / dim` samples; `Sum` adds the per-sample losses,
/// `Mean` divides that by the number of samples (weights scale the numerator
/// only, as in Gluon).
#[derive(Clone, Copy, Debug)]
pub struct Pointwise<'w, F> {
    element: F,
    dim: usize,
    sample_weight: Option<&'w [f32]>,
}

impl<F: ElementLoss> Pointwise<'static, F> {
    /// Wraps an element loss with `dim = 1` and no weights.
    pub const fn from_element(element: F) -> Self {
        Pointwise {
            element,
            dim: 1,
            sample_weight: None,
        }
    }
}

impl<'w, F: ElementLoss> Pointwise<'w, F> {
    /// The values per sample (set with [`dim`](Self::dim)).
    ///
    /// ```
    /// use loss_kernels::pointwise::L1;
    /// assert_eq!(L1::new().dim(3).values_per_sample(), 3);
    /// ```
    pub const fn values_per_sample(&self) -> usize {
        self.dim
    }

    /// The sample weights set with [`sample_weight`](Self::sample_weight),
    /// if any.
    ///
    /// ```
    /// use loss_kernels::pointwise::L1;
    /// assert!(L1::new().sample_weights().is_none());
    /// ```
    pub const fn sample_weights(&self) -> Option<&'w [f32]> {
        self.sample_weight
    }

    /// Sets the number of values per sample (checked at the call: 0 or a
    /// length it does not divide is an `Err`).
    ///
    /// ```
    /// use loss_kernels::{pointwise::L1, Reduction};
    /// // two samples of three values: per-sample losses 1 and 2
    /// let pred = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0];
    /// let v = L1::new().dim(3).value(&pred, &[0.0; 6], Reduction::Mean)?;
    /// assert_eq!(v, 1.5);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn dim(self, dim: usize) -> Self {
        Pointwise { dim, ..self }
    }

    /// Sets per-sample weights (one per sample, checked at the call).
    ///
    /// ```
    /// use loss_kernels::{pointwise::L2, Reduction};
    /// let mut per = [0.0; 2];
    /// L2::new().sample_weight(&[1.0, 2.0]).per_sample(&[1.0, 1.0], &[2.0, 2.0], &mut per)?;
    /// assert_eq!(per, [0.5, 1.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> Pointwise<'v, F> {
        Pointwise {
            element: self.element,
            dim: self.dim,
            sample_weight: Some(weight),
        }
    }

    /// The element loss this wraps.
    pub const fn element(&self) -> &F {
        &self.element
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::{pointwise::L2, Reduction};
    /// assert_eq!(L2::new().value(&[1.0, 1.0], &[2.0, 2.0], Reduction::Mean)?, 0.5);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(&self, pred: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error> {
        self.run::<false, false, false>(pred, target, reduction, Outputs::none())
    }

    /// The reduced loss and, in the same pass, its gradient w.r.t. `pred`
    /// written into `grad` (same length as `pred`).
    ///
    /// ```
    /// use loss_kernels::{pointwise::L2, Reduction};
    /// let mut grad = [0.0; 2];
    /// let v = L2::new().value_and_grad(&[1.0, 1.0], &[2.0, 2.0], Reduction::Sum, &mut grad)?;
    /// assert_eq!((v, grad), (1.0, [-1.0, -1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
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
    /// to `grad` (same length as `pred`) in the same pass: `grad += scale ·
    /// ∂L/∂pred`. `scale` (finite) weights the gradient only; the value
    /// returned is the loss itself, as [`value_and_grad`](Self::value_and_grad)
    /// returns it. Several losses on one output, loss weights and
    /// micro-batches add into one gradient this way, as PyTorch's `.grad`
    /// accumulates.
    ///
    /// ```
    /// use loss_kernels::{pointwise::{L1, L2}, Reduction};
    /// let (pred, target) = ([1.0, 1.0], [2.0, 0.0]);
    /// let mut grad = [0.0; 2];
    /// // L2 + 0.5 · L1 on the same predictions, one gradient
    /// let l2 = L2::new().value_and_accumulate_grad(&pred, &target, Reduction::Sum, 1.0, &mut grad)?;
    /// let l1 = L1::new().value_and_accumulate_grad(&pred, &target, Reduction::Sum, 0.5, &mut grad)?;
    /// assert_eq!((l2, l1), (1.0, 2.0));
    /// assert_eq!(grad, [-1.0 - 0.5, 1.0 + 0.5]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
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
    /// **written** into `grad` (same length as `pred`) in the same pass:
    /// `grad = scale · ∂L/∂pred`, the value returned unscaled. A weighted
    /// term without a second pass over `grad`; and a shard of a batch
    /// whose `Mean` is the whole batch's: with `Sum` and `scale = 1 / d`
    /// (`d` the whole batch's [`mean_denominator`](Self::mean_denominator))
    /// the shard's part of the whole batch's `Mean` gradient, the same
    /// bits as that call writes.
    ///
    /// ```
    /// use loss_kernels::{pointwise::L2, Reduction};
    /// let mut grad = [f32::NAN; 2];
    /// let v = L2::new().value_and_scaled_grad(&[1.0, 1.0], &[2.0, 0.0], Reduction::Sum, 0.5, &mut grad)?;
    /// assert_eq!((v, grad), (1.0, [-0.5, 0.5]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
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
        self.run::<true, false, ACC>(pred, target, reduction, Outputs::scaled(grad, scale))
    }

    /// The `Mean` denominator of a batch of `pred.len()` values: its number
    /// of samples, `pred.len() / dim`. Shards of a batch combine with it,
    /// within rounding: `Mean = Σ_k (d_k / d) Mean_k` over shards `k` with
    /// denominators `d_k` summing to `d`, and the same factors `d_k / d`
    /// as the `scale` of [`value_and_accumulate_grad`](Self::value_and_accumulate_grad)
    /// give the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::{pointwise::L1, Reduction};
    /// let l1 = L1::new().dim(2);
    /// let (pred, target) = ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0; 6]);
    /// let (a, b) = (&pred[..2], &pred[2..]);
    /// let (da, db) = (l1.mean_denominator(a)?, l1.mean_denominator(b)?);
    /// let mean = (da * l1.value(a, &target[..2], Reduction::Mean)?
    ///     + db * l1.value(b, &target[2..], Reduction::Mean)?) / (da + db);
    /// let whole = l1.value(&pred, &target, Reduction::Mean)?;
    /// assert!((mean - whole).abs() <= 1e-6 * whole);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, pred: &[f32]) -> Result<f32, Error> {
        Ok(rows("pred", "dim", pred.len(), self.dim)? as f32)
    }

    /// The per-sample losses (weighted), one per sample, into `out`.
    ///
    /// ```
    /// use loss_kernels::pointwise::L1;
    /// let mut out = [0.0; 2];
    /// L1::new().per_sample(&[1.0, -3.0], &[0.0, 0.0], &mut out)?;
    /// assert_eq!(out, [1.0, 3.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample(&self, pred: &[f32], target: &[f32], out: &mut [f32]) -> Result<(), Error> {
        self.run::<false, true, false>(pred, target, Reduction::Sum, Outputs::values(out))
            .map(|_| ())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`, in one pass; returns the sum.
    ///
    /// ```
    /// use loss_kernels::pointwise::L1;
    /// let (mut out, mut grad) = ([0.0; 2], [0.0; 2]);
    /// let sum = L1::new().per_sample_and_grad(&[1.0, -3.0], &[0.0, 0.0], &mut out, &mut grad)?;
    /// assert_eq!((sum, out, grad), (4.0, [1.0, 3.0], [1.0, -1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, pred.len())?;
        self.run::<true, true, false>(pred, target, Reduction::Sum, Outputs::both(grad, out))
    }

    /// Validates once, then runs the driver over the whole batch.
    fn run<const GRAD: bool, const VALUES: bool, const ACC: bool>(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        out: Outputs<'_>,
    ) -> Result<f32, Error> {
        let n = rows("pred", "dim", pred.len(), self.dim)?;
        check_len("target", target, pred.len())?;
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        if VALUES {
            check_len("out", out.values, n)?;
        }
        let scale = reduction_scale(reduction, n as f32) / self.dim as f32;
        Ok(lane::run(Batch::<F, GRAD, VALUES, ACC> {
            loss: self,
            pred,
            target,
            scale,
            out,
        }))
    }
}

/// A validated pointwise call (see [`Kernel`]).
struct Batch<'a, 'w, F, const GRAD: bool, const VALUES: bool, const ACC: bool> {
    loss: &'a Pointwise<'w, F>,
    pred: &'a [f32],
    target: &'a [f32],
    /// `1 / dim` for `Sum`, `1 / (dim n)` for `Mean`.
    scale: f32,
    out: Outputs<'a>,
}

impl<F: ElementLoss, const GRAD: bool, const VALUES: bool, const ACC: bool> Kernel
    for Batch<'_, '_, F, GRAD, VALUES, ACC>
{
    type Output = f32;

    /// One flat sweep when the layout allows, else one sweep per sample.
    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let Batch {
            loss,
            pred,
            target,
            scale,
            out,
        } = self;
        let element = &loss.element;
        let grad_scale = scale * out.grad_scale;
        if loss.dim == 1 || (loss.sample_weight.is_none() && !VALUES) {
            // Per-element weights are per-sample weights when dim = 1, and
            // without weights the per-sample means sum to Σ f / dim.
            let weight = if loss.dim == 1 {
                loss.sample_weight
            } else {
                None
            };
            return sweep::<L, F, GRAD, VALUES, ACC>(
                element,
                pred,
                target,
                weight,
                [scale, grad_scale],
                out.grad,
                out.values,
            );
        }
        let mut samples = Samples::new(out.values);
        let n = rows_in(pred.len(), loss.dim);
        each_row(
            loss.dim,
            0..n,
            [pred, target],
            [out.grad],
            loss.sample_weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let [p, t] = row.x;
                let [g] = row.grad;
                let w = row.weight;
                let scales = [scale * w, grad_scale * w];
                sweep::<L, F, GRAD, false, ACC>(element, p, t, None, scales, g, &mut [])
            },
        );
        samples.total()
    }
}
