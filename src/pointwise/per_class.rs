//! Sigmoid BCE with one `pos_weight` per class: PyTorch's
//! `binary_cross_entropy_with_logits(pos_weight=tensor[C])`, which
//! broadcasts `pos_weight` over the last axis.
//!
//! A sample is a row of `C = pos_weight.len()` logits; element `j` of every
//! row has `f = (1-t) sp(p) + pw_j t sp(-p)` and `f' = (1-t) σ(p) - pw_j t
//! σ(-p)` (the stable form of [`SigmoidBce`](super::SigmoidBce)), the
//! sample's loss is their mean, weighted by its sample weight.

use super::losses::pos_weighted_bce;
use crate::Reduction;
use crate::driver::{ElementLoss3, Outputs, Samples, each_row, reduction_scale, rows_in, sweep3};
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{self, Kernel, Lane};
use crate::math::LogisticParts;

/// Sigmoid BCE on logits with a per-class positive weight (rows of
/// `pos_weight.len()` classes).
///
/// ```
/// use loss_kernels::{pointwise::SigmoidBcePerClass, Reduction};
/// // two rows of two classes; class 1's positives weigh 3
/// let loss = SigmoidBcePerClass::new(&[1.0, 3.0])?;
/// let (pred, target) = ([0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]);
/// let mut per = [0.0; 2];
/// loss.per_sample(&pred, &target, &mut per)?;
/// let ln2 = 2f32.ln();
/// assert!((per[0] - 2.0 * ln2).abs() < 1e-6 && (per[1] - ln2).abs() < 1e-6);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SigmoidBcePerClass<'w> {
    pos_weight: &'w [f32],
    sample_weight: Option<&'w [f32]>,
}

impl<'w> SigmoidBcePerClass<'w> {
    /// Per-class positive weights, one per class (the row length): at least
    /// one, each finite and `>= 0`.
    ///
    /// ```
    /// use loss_kernels::pointwise::SigmoidBcePerClass;
    /// assert!(SigmoidBcePerClass::new(&[]).is_err());
    /// assert!(SigmoidBcePerClass::new(&[1.0, -1.0]).is_err());
    /// ```
    pub const fn new(pos_weight: &'w [f32]) -> Result<Self, Error> {
        if pos_weight.is_empty() {
            return Err(Error::ZeroSize {
                argument: "pos_weight",
            });
        }
        // A `while` loop: iterators are not available in a `const fn`.
        let mut rest = pos_weight;
        while let [w, tail @ ..] = rest {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::InvalidParameter {
                    argument: "pos_weight",
                    expected: "finite and >= 0 in every entry",
                });
            }
            rest = tail;
        }
        Ok(SigmoidBcePerClass {
            pos_weight,
            sample_weight: None,
        })
    }

    /// Sets per-sample weights (one per row, checked at the call).
    ///
    /// ```
    /// use loss_kernels::{pointwise::SigmoidBcePerClass, Reduction};
    /// let w = [2.0];
    /// let loss = SigmoidBcePerClass::new(&[1.0])?.sample_weight(&w);
    /// let v = loss.value(&[0.0], &[1.0], Reduction::Sum)?;
    /// assert!((v - 2.0 * 2f32.ln()).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> SigmoidBcePerClass<'v>
    where
        'w: 'v,
    {
        SigmoidBcePerClass {
            pos_weight: self.pos_weight,
            sample_weight: Some(weight),
        }
    }

    /// The number of classes (the row length, `pos_weight.len()`).
    pub const fn classes(&self) -> usize {
        self.pos_weight.len()
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::{pointwise::SigmoidBcePerClass, Reduction};
    /// let loss = SigmoidBcePerClass::new(&[2.0])?;
    /// let v = loss.value(&[0.0, 0.0], &[1.0, 0.0], Reduction::Mean)?;
    /// assert!((v - 1.5 * 2f32.ln()).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(&self, pred: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error> {
        self.run::<false, false, false>(pred, target, reduction, Outputs::none())
    }

    /// The reduced loss and its gradient w.r.t. `pred`, in one pass.
    ///
    /// ```
    /// use loss_kernels::{pointwise::SigmoidBcePerClass, Reduction};
    /// let mut grad = [0.0; 2];
    /// let loss = SigmoidBcePerClass::new(&[2.0, 1.0])?;
    /// loss.value_and_grad(&[0.0, 0.0], &[1.0, 1.0], Reduction::Sum, &mut grad)?;
    /// assert_eq!(grad, [-0.5, -0.25]); // -pw σ(0) / 2
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
    /// to `grad` in the same pass (`grad += scale · ∂L/∂pred`). `scale`
    /// (finite) weights the gradient only; the value returned is the loss
    /// itself, as [`value_and_grad`](Self::value_and_grad) returns it.
    ///
    /// ```
    /// use loss_kernels::{pointwise::SigmoidBcePerClass, Reduction};
    /// let mut grad = [1.0; 2];
    /// let loss = SigmoidBcePerClass::new(&[2.0, 1.0])?;
    /// loss.value_and_accumulate_grad(&[0.0, 0.0], &[1.0, 1.0], Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!(grad, [1.0 - 2.0 * 0.5, 1.0 - 2.0 * 0.25]);
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
    /// **written** into `grad` in the same pass (`grad = scale ·
    /// ∂L/∂pred`), the value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::{pointwise::SigmoidBcePerClass, Reduction};
    /// let mut grad = [f32::NAN; 2];
    /// let loss = SigmoidBcePerClass::new(&[2.0, 1.0])?;
    /// loss.value_and_scaled_grad(&[0.0, 0.0], &[1.0, 1.0], Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!(grad, [-2.0 * 0.5, -2.0 * 0.25]);
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

    /// The `Mean` denominator of a batch: its number of rows,
    /// `pred.len() / classes`. Shards combine with it, within rounding: `Mean = Σ_k
    /// (d_k / d) Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::pointwise::SigmoidBcePerClass;
    /// assert_eq!(SigmoidBcePerClass::new(&[1.0, 2.0])?.mean_denominator(&[0.0; 6])?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, pred: &[f32]) -> Result<f32, Error> {
        Ok(rows("pred", "pos_weight", pred.len(), self.pos_weight.len())? as f32)
    }

    /// The per-sample (per-row) losses into `out`.
    ///
    /// ```
    /// use loss_kernels::pointwise::SigmoidBcePerClass;
    /// let mut out = [0.0; 1];
    /// SigmoidBcePerClass::new(&[0.0])?.per_sample(&[0.0], &[1.0], &mut out)?;
    /// assert_eq!(out, [0.0]); // a zero weight silences the positives
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample(&self, pred: &[f32], target: &[f32], out: &mut [f32]) -> Result<(), Error> {
        self.run::<false, true, false>(pred, target, Reduction::Sum, Outputs::values(out))
            .map(|_| ())
    }

    /// The per-sample losses and the gradient of their sum, in one pass;
    /// returns the sum.
    ///
    /// ```
    /// use loss_kernels::pointwise::SigmoidBcePerClass;
    /// let (mut out, mut grad) = ([0.0; 1], [0.0; 1]);
    /// let sum = SigmoidBcePerClass::new(&[1.0])?.per_sample_and_grad(&[0.0], &[0.0], &mut out, &mut grad)?;
    /// assert_eq!((sum, grad), (out[0], [0.5]));
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

    fn run<const GRAD: bool, const VALUES: bool, const ACC: bool>(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        out: Outputs<'_>,
    ) -> Result<f32, Error> {
        let dim = self.pos_weight.len();
        let n = rows("pred", "pos_weight", pred.len(), dim)?;
        check_len("target", target, pred.len())?;
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        if VALUES {
            check_len("out", out.values, n)?;
        }
        let scale = reduction_scale(reduction, n as f32) / dim as f32;
        Ok(lane::run(PerClassBatch::<GRAD, VALUES, ACC> {
            loss: self,
            pred,
            target,
            scale,
            out,
        }))
    }
}

/// One element: `[p, t, pos_weight]` → the value and `[df/dp, 0]`.
#[derive(Clone, Copy)]
struct PosWeighted;

impl ElementLoss3 for PosWeighted {
    const PAD: [f32; 3] = [0.0; 3];
    #[inline(always)]
    fn eval<L: Lane>(&self, [p, t, pw]: [L; 3]) -> (L, [L; 2]) {
        let (value, derivative) = pos_weighted_bce(&LogisticParts::new(p), t, pw);
        (value, [derivative, L::splat(0.0)])
    }
}

/// A validated per-class call: one sweep per row, `pos_weight` beside it.
struct PerClassBatch<'a, 'w, const GRAD: bool, const VALUES: bool, const ACC: bool> {
    loss: &'a SigmoidBcePerClass<'w>,
    pred: &'a [f32],
    target: &'a [f32],
    scale: f32,
    out: Outputs<'a>,
}

impl<const GRAD: bool, const VALUES: bool, const ACC: bool> Kernel
    for PerClassBatch<'_, '_, GRAD, VALUES, ACC>
{
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let PerClassBatch {
            loss,
            pred,
            target,
            scale,
            out,
        } = self;
        let dim = loss.pos_weight.len();
        let grad_scale = scale * out.grad_scale;
        let mut samples = Samples::new(out.values);
        each_row(
            dim,
            0..rows_in(pred.len(), dim),
            [pred, target],
            [out.grad],
            loss.sample_weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let [p, t] = row.x;
                let [g] = row.grad;
                sweep3::<L, PosWeighted, GRAD, false, ACC>(
                    &PosWeighted,
                    [p, t, loss.pos_weight],
                    None,
                    [scale * row.weight, grad_scale * row.weight],
                    [g, &mut []],
                    &mut [],
                )
            },
        );
        samples.total()
    }
}
