//! [`MultilabelSoftMargin`]; the math is in the [module docs](super).

use super::{RowLoss, Want, call, mean_denominator};
use crate::Reduction;
use crate::driver::lanes::{for_lanes, keep_or, load, put};
use crate::error::{Error, check_len};
use crate::lane::Lane;
use crate::math::LogisticParts;

/// PyTorch's `multilabel_soft_margin_loss` over rows of `classes` logits
/// against dense targets `y ∈ [0, 1]` (the logits' layout):
/// `l_i = (1/C) Σ_k c_k (y_k softplus(-x_k) + (1-y_k) softplus(x_k))`; see
/// the [module docs](super).
///
/// ```
/// use loss_kernels::margin::MultilabelSoftMargin;
/// use loss_kernels::Reduction;
/// let mut grad = [0.0; 2];
/// let loss = MultilabelSoftMargin::new(2)?;
/// let v = loss.value_and_grad(&[0.0, 0.0], &[1.0, 0.0], Reduction::Mean, &mut grad)?;
/// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(grad, [-0.25, 0.25]); // (σ(0) - y) / C
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MultilabelSoftMargin<'w> {
    classes: usize,
    class_weight: Option<&'w [f32]>,
    sample_weight: Option<&'w [f32]>,
}

impl MultilabelSoftMargin<'static> {
    /// Over rows of `classes` (at least 1) logits, without weights.
    pub const fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(MultilabelSoftMargin {
            classes,
            class_weight: None,
            sample_weight: None,
        })
    }
}

/// One row's math: the per-class weights (if any).
#[derive(Clone, Copy, Debug)]
struct Row<'w> {
    class_weight: Option<&'w [f32]>,
    inv_classes: f32,
}

impl RowLoss for Row<'_> {
    #[inline(always)]
    fn row<L: Lane, const GRAD: bool, const ACC: bool>(
        &self,
        _index: usize,
        x: &[f32],
        y: &[f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32 {
        let zero = L::splat(0.0);
        let one = L::splat(1.0);
        let g_scale = L::splat(scale * self.inv_classes);
        let mut acc = zero;
        for_lanes::<L, 1>(
            x.len(),
            #[inline(always)]
            |i, _, keep| {
                let q = LogisticParts::new(load::<L>(x, i, 0.0));
                let t: L = load(y, i, 0.0);
                let mut l = t.mul_add(q.softplus_neg(), (one - t) * q.softplus());
                let c = self.class_weight.map(
                    #[inline(always)]
                    |c| load::<L>(c, i, 0.0),
                );
                if let Some(c) = c {
                    l = l * c;
                }
                acc = acc + keep_or(keep, l, zero);
                if GRAD {
                    let g = (q.sigmoid() - t) * g_scale;
                    put::<L, ACC>(c.map_or(g, |c| g * c), grad, i);
                }
            },
        );
        acc.sum() * self.inv_classes
    }
}

impl<'w> MultilabelSoftMargin<'w> {
    /// Per-class weights `c` (length `classes`, checked at the call).
    #[must_use]
    pub const fn class_weight<'v>(self, weight: &'v [f32]) -> MultilabelSoftMargin<'v>
    where
        'w: 'v,
    {
        MultilabelSoftMargin {
            class_weight: Some(weight),
            ..self
        }
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> MultilabelSoftMargin<'v>
    where
        'w: 'v,
    {
        MultilabelSoftMargin {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss (`Mean`: over rows).
    ///
    /// ```
    /// use loss_kernels::margin::MultilabelSoftMargin;
    /// use loss_kernels::Reduction;
    /// let v = MultilabelSoftMargin::new(1)?.value(&[0.0, 0.0], &[1.0, 1.0], Reduction::Sum)?;
    /// assert!((v - 2.0 * core::f32::consts::LN_2).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value(&self, x: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error> {
        self.call(x, target, Want::Reduced(reduction, None))
    }

    /// The reduced loss and its gradient w.r.t. `x` into `grad` (same
    /// length), in one pass.
    #[inline(always)]
    pub fn value_and_grad(
        &self,
        x: &[f32],
        target: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, target, Want::Reduced(reduction, Some(grad)))
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `x` **added** to
    /// `grad` (same length) in the same pass (`grad += scale · ∂L/∂x`).
    /// `scale` (finite) weights the gradient only; the value returned is the
    /// loss itself, as [`value_and_grad`](Self::value_and_grad) returns it.
    ///
    /// ```
    /// use loss_kernels::{margin::MultilabelSoftMargin, Reduction};
    /// let loss = MultilabelSoftMargin::new(1)?;
    /// let mut grad = [1.0; 2];
    /// // d/dx = σ(0) - 1 = -0.5 per element, times 2
    /// loss.value_and_accumulate_grad(&[0.0, 0.0], &[1.0, 1.0], Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!(grad, [0.0, 0.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_accumulate_grad(
        &self,
        x: &[f32],
        target: &[f32],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, target, Want::Scaled(reduction, scale, grad, true))
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `x` **written**
    /// into `grad` (same length) in the same pass (`grad = scale · ∂L/∂x`),
    /// the value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::{margin::MultilabelSoftMargin, Reduction};
    /// let mut grad = [f32::NAN; 2];
    /// // d/dx = σ(0) - 1 = -0.5 per element, times 2
    /// let loss = MultilabelSoftMargin::new(1)?;
    /// loss.value_and_scaled_grad(&[0.0, 0.0], &[1.0, 1.0], Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!(grad, [-1.0, -1.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_scaled_grad(
        &self,
        x: &[f32],
        target: &[f32],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, target, Want::Scaled(reduction, scale, grad, false))
    }

    /// The `Mean` denominator of a batch: its number of rows,
    /// `x.len() / classes`. Shards combine with it, within rounding: `Mean = Σ_k
    /// (d_k / d) Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::margin::MultilabelSoftMargin;
    /// assert_eq!(MultilabelSoftMargin::new(3)?.mean_denominator(&[0.0; 6])?, 2.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, x: &[f32]) -> Result<f32, Error> {
        mean_denominator(x, self.classes)
    }

    /// The per-sample losses (sample-weighted) into `out`, one per row.
    #[inline(always)]
    pub fn per_sample(&self, x: &[f32], target: &[f32], out: &mut [f32]) -> Result<(), Error> {
        self.call(x, target, Want::PerSample(out, None)).map(|_| ())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`; returns the sum.
    #[inline(always)]
    pub fn per_sample_and_grad(
        &self,
        x: &[f32],
        target: &[f32],
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, target, Want::PerSample(out, Some(grad)))
    }

    fn call(&self, x: &[f32], target: &[f32], want: Want<'_>) -> Result<f32, Error> {
        let row = Row {
            class_weight: self.class_weight,
            inv_classes: 1.0 / self.classes as f32,
        };
        call(
            row,
            self.classes,
            x,
            target,
            self.sample_weight,
            want,
            |_| {
                check_len("target", target, x.len())?;
                match self.class_weight {
                    Some(c) => check_len("class_weight", c, self.classes),
                    None => Ok(()),
                }
            },
        )
    }
}
