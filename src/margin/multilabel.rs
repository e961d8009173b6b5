//! [`MultilabelMargin`]; the math is in the [module docs](super).

use super::{Label, RowLoss, Want, call, hinge, mean_denominator, step};
use crate::Reduction;
use crate::driver::lanes::{for_lanes, keep_or, load, store};
use crate::error::{Bound, Error, check_len};
use crate::lane::Lane;

/// PyTorch's `multilabel_margin_loss` over rows of `classes` scores: each
/// row's targets `T` are the leading entries of its row of `targets` (the
/// scores' layout) up to the first negative one;
/// `l_i = (1/C) Σ_{j∈T} Σ_{k∉T} max(0, 1 - x_j + x_k)`; see the
/// [module docs](super).
///
/// ```
/// use loss_kernels::margin::MultilabelMargin;
/// use loss_kernels::Reduction;
/// // PyTorch's doc example: targets 3 and 0, then the terminator
/// let x = [0.1, 0.2, 0.4, 0.8];
/// let v = MultilabelMargin::new(4)?.value(&x, &[3i64, 0, -1, 1], Reduction::Sum)?;
/// assert!((v - 0.85).abs() < 1e-6);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MultilabelMargin<'w> {
    classes: usize,
    sample_weight: Option<&'w [f32]>,
}

impl MultilabelMargin<'static> {
    /// Over rows of `classes` (at least 1) scores, without weights.
    pub const fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(MultilabelMargin {
            classes,
            sample_weight: None,
        })
    }
}

/// The listed targets of a row: its leading entries up to the first
/// negative one.
#[inline(always)]
fn listed<Y: Label>(row: &[Y]) -> &[Y] {
    let end = row.iter().position(|y| y.index() < 0).unwrap_or(row.len());
    row.get(..end).unwrap_or(&[])
}

/// Listed targets per pass over a row: a pass reads the row's scores (and
/// gradient) once for up to `GROUP` targets, each with its own hinge sum
/// and step count in registers.
const GROUP: usize = 4;

/// One row's math with the call's targets.
#[derive(Clone, Copy, Debug)]
struct Row<'a, Y> {
    targets: &'a [Y],
    classes: usize,
    inv_classes: f32,
}

impl<Y: Label> RowLoss for Row<'_, Y> {
    #[inline(always)]
    fn row<L: Lane, const GRAD: bool, const ACC: bool>(
        &self,
        index: usize,
        x: &[f32],
        _target: &[f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32 {
        let c = self.classes;
        let row = self.targets.get(index * c..(index + 1) * c).unwrap_or(&[]);
        let list = listed(row);
        if list.is_empty() {
            if GRAD && !ACC {
                grad.fill(0.0);
            }
            return 0.0;
        }
        let zero = L::splat(0.0);
        let all = zero.eq(zero);
        let g_scale = scale * self.inv_classes;
        let mut total = 0.0;
        for (pass, group) in list.chunks(GROUP).enumerate() {
            // A writing call's first pass stores its part of the gradient
            // over what `grad` held; every other pass adds to it.
            let fresh = GRAD && !ACC && pass == 0;
            let mut index = [0usize; GROUP];
            let mut shift = [zero; GROUP];
            for ((y, j), s) in group.iter().zip(&mut index).zip(&mut shift) {
                // Validated: `0 <= y < classes`.
                *j = usize::try_from(y.index()).unwrap_or(0);
                *s = L::splat(1.0 - x.get(*j).copied().unwrap_or(0.0));
            }
            let (mut acc, mut count) = ([zero; GROUP], [zero; GROUP]);
            for_lanes::<L, 1>(
                x.len(),
                #[inline(always)]
                |i, _, keep| {
                    let k = L::iota() + L::splat(i as f32);
                    let mut member = zero.lt(zero);
                    for t in list {
                        member = k.eq(L::splat(t.index() as f32)).select(all, member);
                    }
                    // Listed classes and the padding of a last partial
                    // lane add nothing: their `z` becomes 0.
                    let skip = keep_or(keep, member, all);
                    let v = load(x, i, 0.0);
                    let mut steps = zero;
                    let slots = acc.iter_mut().zip(&mut count).zip(&shift);
                    for ((a, n), s) in slots.take(group.len()) {
                        let z = skip.select(zero, *s + v);
                        *a = *a + hinge(z);
                        if GRAD {
                            let d = step(z);
                            *n = *n + d;
                            steps = steps + d;
                        }
                    }
                    if GRAD {
                        let g = if fresh { zero } else { load(grad, i, 0.0) };
                        store(steps.mul_add(L::splat(g_scale), g), grad, i);
                    }
                },
            );
            for ((a, n), j) in acc.iter().zip(&count).zip(&index).take(group.len()) {
                total += a.sum();
                if GRAD && let Some(g) = grad.get_mut(*j) {
                    *g -= n.sum() * g_scale;
                }
            }
        }
        total * self.inv_classes
    }
}

impl<'w> MultilabelMargin<'w> {
    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> MultilabelMargin<'v>
    where
        'w: 'v,
    {
        MultilabelMargin {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss (`Mean`: over rows); `targets` in the scores'
    /// layout, each row's listed entries `< classes`.
    ///
    /// ```
    /// use loss_kernels::margin::MultilabelMargin;
    /// use loss_kernels::Reduction;
    /// // every class listed: nothing to rank against
    /// let v = MultilabelMargin::new(2)?.value(&[0.0, 9.0], &[0u32, 1], Reduction::Mean)?;
    /// assert_eq!(v, 0.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value<Y: Label>(
        &self,
        x: &[f32],
        targets: &[Y],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        self.call(x, targets, Want::Reduced(reduction, None))
    }

    /// The reduced loss and its gradient w.r.t. `x` (same length).
    #[inline(always)]
    pub fn value_and_grad<Y: Label>(
        &self,
        x: &[f32],
        targets: &[Y],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, targets, Want::Reduced(reduction, Some(grad)))
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `x` **added** to
    /// `grad` (same length) in the same pass (`grad += scale · ∂L/∂x`).
    /// `scale` (finite) weights the gradient only; the value returned is the
    /// loss itself, as [`value_and_grad`](Self::value_and_grad) returns it.
    ///
    /// ```
    /// use loss_kernels::{margin::MultilabelMargin, Reduction};
    /// // one row of 2 classes, target class 0 (then the -1 terminator)
    /// let (x, targets) = ([0.0, 0.5], [0i64, -1]);
    /// let loss = MultilabelMargin::new(2)?;
    /// let mut grad = [1.0; 2];
    /// // (1/2) max(0, 1 - 0 + 0.5) = 0.75; d/dx = ∓1/2, times 2
    /// let v = loss.value_and_accumulate_grad(&x, &targets, Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!((v, grad), (0.75, [1.0 - 1.0, 1.0 + 1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_accumulate_grad<Y: Label>(
        &self,
        x: &[f32],
        targets: &[Y],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, targets, Want::Scaled(reduction, scale, grad, true))
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. `x` **written**
    /// into `grad` (same length) in the same pass (`grad = scale · ∂L/∂x`),
    /// the value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::{margin::MultilabelMargin, Reduction};
    /// let (x, targets) = ([0.0, 0.5], [0i64, -1]);
    /// let mut grad = [f32::NAN; 2];
    /// // (1/2) max(0, 1 - 0 + 0.5) = 0.75; d/dx = ∓1/2, times 2
    /// let v = MultilabelMargin::new(2)?.value_and_scaled_grad(&x, &targets, Reduction::Sum, 2.0, &mut grad)?;
    /// assert_eq!((v, grad), (0.75, [-1.0, 1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_scaled_grad<Y: Label>(
        &self,
        x: &[f32],
        targets: &[Y],
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, targets, Want::Scaled(reduction, scale, grad, false))
    }

    /// The `Mean` denominator of a batch: its number of rows,
    /// `x.len() / classes`. Shards combine with it, within rounding: `Mean = Σ_k
    /// (d_k / d) Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::margin::MultilabelMargin;
    /// assert_eq!(MultilabelMargin::new(3)?.mean_denominator(&[0.0; 6])?, 2.0);
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
        targets: &[Y],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.call(x, targets, Want::PerSample(out, None))
            .map(|_| ())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`; returns the sum.
    #[inline(always)]
    pub fn per_sample_and_grad<Y: Label>(
        &self,
        x: &[f32],
        targets: &[Y],
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.call(x, targets, Want::PerSample(out, Some(grad)))
    }

    #[inline(always)]
    fn call<Y: Label>(&self, x: &[f32], targets: &[Y], want: Want<'_>) -> Result<f32, Error> {
        let classes = self.classes;
        let row = Row {
            targets,
            classes,
            inv_classes: 1.0 / classes as f32,
        };
        call(row, classes, x, &[], self.sample_weight, want, |_| {
            check_len("targets", targets, x.len())?;
            check_targets(targets, classes)
        })
    }
}

/// Every listed entry of every row in `0..classes`.
fn check_targets<Y: Label>(targets: &[Y], classes: usize) -> Result<(), Error> {
    // `max(1)`: `classes` is never 0 here; it keeps `chunks`' assertion out.
    for (r, row) in targets.chunks(classes.max(1)).enumerate() {
        for (k, y) in listed(row).iter().enumerate() {
            let v = usize::try_from(y.index()).unwrap_or(usize::MAX);
            if v >= classes {
                return Err(Error::OutOfRange {
                    argument: "targets",
                    index: Some(r * classes + k),
                    value: v,
                    bound: Bound::Classes(classes),
                });
            }
        }
    }
    Ok(())
}
