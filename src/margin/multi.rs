//! [`MultiMargin`]; the math is in the [module docs](super).

use super::{Label, RowLoss, Want, call, hinge, mean_denominator, step};
use crate::Reduction;
use crate::driver::lanes::{for_lanes, keep_or, load, put};
use crate::error::{Bound, Domain, Error, check_len, check_param, const_try};
use crate::lane::Lane;

/// PyTorch's `multi_margin_loss` over rows of `classes` scores with one
/// class index `y` per row:
/// `l_i = (1/C) Σ_{k ≠ y} c_y max(0, margin - x_y + x_k)^p`, `p ∈ {1, 2}`
/// (default 1), `margin` (default 1), optional class weights `c`; see the
/// [module docs](super).
///
/// ```
/// use loss_kernels::margin::MultiMargin;
/// use loss_kernels::Reduction;
/// let mut grad = [0.0; 3];
/// let loss = MultiMargin::new(3)?.p(2)?.margin(0.5)?;
/// let v = loss.value_and_grad(&[1.0, 0.75, 0.0], &[0i64], Reduction::Sum, &mut grad)?;
/// assert!((v - 0.25 * 0.25 / 3.0).abs() < 1e-8); // only class 1 is within the margin
/// assert!((grad[0] + 0.5 / 3.0).abs() < 1e-7 && (grad[1] - 0.5 / 3.0).abs() < 1e-7);
/// assert_eq!(grad[2], 0.0);
/// assert!(MultiMargin::new(3)?.p(3).is_err());
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MultiMargin<'w> {
    classes: usize,
    squared: bool,
    margin: f32,
    class_weight: Option<&'w [f32]>,
    sample_weight: Option<&'w [f32]>,
}

impl MultiMargin<'static> {
    /// Over rows of `classes` (at least 1) scores: `p = 1`, margin 1, no
    /// weights.
    pub const fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(MultiMargin {
            classes,
            squared: false,
            margin: 1.0,
            class_weight: None,
            sample_weight: None,
        })
    }
}

/// One row's math with the call's labels.
#[derive(Clone, Copy, Debug)]
struct Row<'a, Y, const SQUARED: bool> {
    labels: &'a [Y],
    margin: f32,
    class_weight: Option<&'a [f32]>,
    inv_classes: f32,
}

impl<Y: Label, const SQUARED: bool> RowLoss for Row<'_, Y, SQUARED> {
    #[inline(always)]
    fn row<L: Lane, const GRAD: bool, const ACC: bool>(
        &self,
        index: usize,
        x: &[f32],
        _target: &[f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32 {
        // Validated: `0 <= y < classes`.
        let y = self
            .labels
            .get(index)
            .and_then(|v| usize::try_from(v.index()).ok())
            .unwrap_or(0);
        let c_y = self
            .class_weight
            .and_then(|c| c.get(y).copied())
            .unwrap_or(1.0);
        let x_y = x.get(y).copied().unwrap_or(0.0);
        let zero = L::splat(0.0);
        let shift = L::splat(self.margin - x_y);
        let label = L::splat(y as f32);
        let g_scale = L::splat(scale * c_y * self.inv_classes);
        let (mut acc, mut slopes) = (zero, zero);
        for_lanes::<L, 1>(
            x.len(),
            #[inline(always)]
            |i, _, keep| {
                let z = shift + load(x, i, 0.0);
                let is_label = (L::iota() + L::splat(i as f32)).eq(label);
                let h = is_label.select(zero, keep_or(keep, hinge(z), zero));
                // d/dz of h^p: 1 (p = 1) or 2h (p = 2), 0 at z <= 0.
                let d = if SQUARED {
                    h + h
                } else {
                    is_label.select(zero, keep_or(keep, step(z), zero))
                };
                acc = if SQUARED { h.mul_add(h, acc) } else { acc + h };
                if GRAD {
                    slopes = slopes + d;
                    put::<L, ACC>(d * g_scale, grad, i);
                }
            },
        );
        if GRAD && let Some(g) = grad.get_mut(y) {
            // The label's own lane added 0 above.
            let d = -(slopes.sum() * scale * c_y * self.inv_classes);
            *g = if ACC { *g + d } else { d };
        }
        acc.sum() * c_y * self.inv_classes
    }
}

impl<'w> MultiMargin<'w> {
    /// The power `p` of the hinge: 1 or 2 (PyTorch's only values).
    pub const fn p(self, p: u32) -> Result<Self, Error> {
        match p {
            1 | 2 => Ok(MultiMargin {
                squared: p == 2,
                ..self
            }),
            _ => Err(Error::InvalidParameter {
                argument: "p",
                expected: "1 or 2",
            }),
        }
    }

    /// The margin (finite; default 1).
    pub const fn margin(self, margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(MultiMargin { margin, ..self })
    }

    /// Per-class weights `c` (length `classes`, checked at the call); row
    /// `i`'s terms are weighted by `c[y_i]`.
    #[must_use]
    pub const fn class_weight<'v>(self, weight: &'v [f32]) -> MultiMargin<'v>
    where
        'w: 'v,
    {
        MultiMargin {
            class_weight: Some(weight),
            ..self
        }
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> MultiMargin<'v>
    where
        'w: 'v,
    {
        MultiMargin {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss (`Mean`: over rows); `labels` one class index per
    /// row (`u32` or `i64`).
    ///
    /// ```
    /// use loss_kernels::margin::MultiMargin;
    /// use loss_kernels::Reduction;
    /// let v = MultiMargin::new(2)?.value(&[0.0, 0.0], &[1u32], Reduction::Mean)?;
    /// assert_eq!(v, 0.5);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value<Y: Label>(
        &self,
        x: &[f32],
        labels: &[Y],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        self.call(x, labels, Want::Reduced(reduction, None))
    }

    /// The reduced loss and its gradient w.r.t. `x` (same length), in one
    /// pass.
    #[inline(always)]
    pub fn value_and_grad<Y: Label>(
        &self,
        x: &[f32],
        labels: &[Y],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, labels, Want::Reduced(reduction, Some(grad)))
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `x` **added** to
    /// `grad` (same length) in the same pass (`grad += scale · ∂L/∂x`).
    /// `scale` (finite) weights the gradient only; the value returned is the
    /// loss itself, as [`value_and_grad`](Self::value_and_grad) returns it.
    ///
    /// ```
    /// use loss_kernels::{margin::MultiMargin, Reduction};
    /// let (x, labels) = ([0.0, 0.5], [0u32]);
    /// let loss = MultiMargin::new(2)?;
    /// let mut grad = [1.0; 2];
    /// // (1/2) max(0, 1 - 0 + 0.5) = 0.75; d/dx = ∓1/2, times 2
    /// let v = loss.value_and_accumulate_grad(&x, &labels, Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!((v, grad), (0.75, [1.0 - 1.0, 1.0 + 1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_accumulate_grad<Y: Label>(
        &self,
        x: &[f32],
        labels: &[Y],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, labels, Want::Scaled(reduction, scale, grad, true))
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `x` **written**
    /// into `grad` (same length) in the same pass (`grad = scale · ∂L/∂x`),
    /// the value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::{margin::MultiMargin, Reduction};
    /// let (x, labels) = ([0.0, 0.5], [0u32]);
    /// let mut grad = [f32::NAN; 2];
    /// // (1/2) max(0, 1 - 0 + 0.5) = 0.75; d/dx = ∓1/2, times 2
    /// let v = MultiMargin::new(2)?.value_and_scaled_grad(&x, &labels, Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!((v, grad), (0.75, [-1.0, 1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_scaled_grad<Y: Label>(
        &self,
        x: &[f32],
        labels: &[Y],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, labels, Want::Scaled(reduction, scale, grad, false))
    }

    /// The `Mean` denominator of a batch: its number of rows,
    /// `x.len() / classes`. Shards combine with it, within rounding: `Mean = Σ_k
    /// (d_k / d) Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::margin::MultiMargin;
    /// assert_eq!(MultiMargin::new(3)?.mean_denominator(&[0.0; 6])?, 2.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, x: &[f32]) -> Result<f32, Error> {
        mean_denominator(x, self.classes)
    }

    /// The per-sample losses (sample-weighted) into `out`, one per row.
    #[inline(always)]
    pub fn per_sample<Y: Label>(
        &self,
        x: &[f32],
        labels: &[Y],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.call(x, labels, Want::PerSample(out, None)).map(|_| ())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`; returns the sum.
    #[inline(always)]
    pub fn per_sample_and_grad<Y: Label>(
        &self,
        x: &[f32],
        labels: &[Y],
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, labels, Want::PerSample(out, Some(grad)))
    }

    #[inline(always)]
    fn call<Y: Label>(&self, x: &[f32], labels: &[Y], want: Want<'_>) -> Result<f32, Error> {
        let classes = self.classes;
        let check = |n: usize| {
            check_len("labels", labels, n)?;
            if let Some(c) = self.class_weight {
                check_len("class_weight", c, classes)?;
            }
            check_labels(labels, classes)
        };
        let inv_classes = 1.0 / classes as f32;
        let (margin, class_weight) = (self.margin, self.class_weight);
        if self.squared {
            let row = Row::<Y, true> {
                labels,
                margin,
                class_weight,
                inv_classes,
            };
            call(row, classes, x, &[], self.sample_weight, want, check)
        } else {
            let row = Row::<Y, false> {
                labels,
                margin,
                class_weight,
                inv_classes,
            };
            call(row, classes, x, &[], self.sample_weight, want, check)
        }
    }
}

/// Every label in `0..classes` (a negative one is reported with
/// `value: usize::MAX`).
fn check_labels<Y: Label>(labels: &[Y], classes: usize) -> Result<(), Error> {
    for (index, y) in labels.iter().enumerate() {
        let k = usize::try_from(y.index()).unwrap_or(usize::MAX);
        if k >= classes {
            return Err(Error::OutOfRange {
                argument: "labels",
                index: Some(index),
                value: k,
                bound: Bound::Classes(classes),
            });
        }
    }
    Ok(())
}
