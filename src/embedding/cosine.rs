//! The cosine embedding loss; the math is in the [module docs](super).

use super::{hinge, hinge_slope};
use crate::Reduction;
use crate::driver::lanes::{for_lanes, load, put};
use crate::driver::row::dots;
use crate::driver::{Samples, each_row, reduction_scale, rows_in};
use crate::error::{Domain, Error, check_len, check_param, const_try, rows};
use crate::lane::sqrt1;
use crate::lane::{self, Kernel, Lane};

/// The gradient slices of a cosine embedding loss.
#[derive(Debug)]
pub struct CosineGrads<'g> {
    /// Gradient w.r.t. `x1`.
    pub x1: &'g mut [f32],
    /// Gradient w.r.t. `x2`.
    pub x2: &'g mut [f32],
}

/// Cosine embedding loss over rows of `dim` values with labels `±1`; see
/// the [module docs](super).
///
/// ```
/// use loss_kernels::embedding::{CosineEmbedding, CosineGrads};
/// use loss_kernels::Reduction;
/// let (x1, x2) = ([1.0, 0.0], [0.0, 0.0]); // a zero vector: finite
/// let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
/// let grads = CosineGrads { x1: &mut g1, x2: &mut g2 };
/// let v = CosineEmbedding::new(2)?.value_and_grad(&x1, &x2, &[1.0], Reduction::Sum, grads)?;
/// assert_eq!(v, 1.0);
/// assert!(g1.iter().chain(&g2).all(|g| g.is_finite()));
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CosineEmbedding<'w> {
    dim: usize,
    margin: f32,
    sample_weight: Option<&'w [f32]>,
}

impl CosineEmbedding<'static> {
    /// Cosine embedding loss over rows of `dim` (at least 1) values,
    /// margin 0.
    pub const fn new(dim: usize) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::ZeroSize { argument: "dim" });
        }
        Ok(CosineEmbedding {
            dim,
            margin: 0.0,
            sample_weight: None,
        })
    }
}

impl<'w> CosineEmbedding<'w> {
    /// The margin of the `-1` labels (finite; default 0).
    pub const fn margin(self, margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(CosineEmbedding { margin, ..self })
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> CosineEmbedding<'v>
    where
        'w: 'v,
    {
        CosineEmbedding {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss; `labels` holds one `+1.0` or `-1.0` per row.
    pub fn value(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2, labels)?;
        let total = self.run::<false, false>([x1, x2], labels, [&mut [], &mut []], &mut [], 1.0);
        Ok(total * reduction_scale(reduction, n as f32))
    }

    /// The reduced loss and its gradients w.r.t. `x1` and `x2`.
    pub fn value_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(x1, x2, labels, reduction, 1.0, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `x1` and `x2`
    /// **added** to `grads` in the same pass (`grad += scale · ∂L`).
    /// `scale` (finite) weights the gradients only, never the value.
    ///
    /// ```
    /// use loss_kernels::embedding::{CosineEmbedding, CosineGrads};
    /// use loss_kernels::Reduction;
    /// let (x1, x2) = ([1.0, 0.0], [0.0, 1.0]); // cos = 0
    /// let (mut g1, mut g2) = ([1.0; 2], [1.0; 2]);
    /// let grads = CosineGrads { x1: &mut g1, x2: &mut g2 };
    /// let v = CosineEmbedding::new(2)?.value_and_accumulate_grad(&x1, &x2, &[1.0], Reduction::Sum, 2.0, grads)?;
    /// assert_eq!(v, 1.0);
    /// // ∂(1 - cos)/∂x1 = -x2 here: g1 = 1 + 2 · (-x2)
    /// assert_eq!((g1, g2), ([1.0, -1.0], [-1.0, 1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_accumulate_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<true>(x1, x2, labels, reduction, scale, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `x1` and `x2`
    /// **written** into `grads` in the same pass (`grad = scale · ∂L`), the
    /// value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::embedding::{CosineEmbedding, CosineGrads};
    /// use loss_kernels::Reduction;
    /// let (x1, x2) = ([1.0, 0.0], [0.0, 1.0]); // cos = 0
    /// let (mut g1, mut g2) = ([f32::NAN; 2], [f32::NAN; 2]);
    /// let grads = CosineGrads { x1: &mut g1, x2: &mut g2 };
    /// let v = CosineEmbedding::new(2)?.value_and_scaled_grad(&x1, &x2, &[1.0], Reduction::Sum, 2.0, grads)?;
    /// assert_eq!(v, 1.0);
    /// // ∂(1 - cos)/∂x1 = -x2 here: g1 = 2 · (-x2)
    /// assert_eq!((g1, g2), ([0.0, -2.0], [-2.0, 0.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_scaled_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(x1, x2, labels, reduction, scale, grads)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    fn with_scale<const ACC: bool>(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2, labels)?;
        check_len("grads.x1", grads.x1, x1.len())?;
        check_len("grads.x2", grads.x2, x1.len())?;
        let factor = check_param("scale", scale, Domain::Finite)?;
        let scale = reduction_scale(reduction, n as f32);
        let gs = [grads.x1, grads.x2];
        let total = self.run::<true, ACC>([x1, x2], labels, gs, &mut [], scale * factor);
        Ok(total * scale)
    }

    /// The `Mean` denominator of a batch: its number of rows. Shards
    /// combine with it, within rounding: `Mean = Σ_k (d_k / d) Mean_k`, and the
    /// factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::embedding::CosineEmbedding;
    /// assert_eq!(CosineEmbedding::new(2)?.mean_denominator(&[0.0; 6])?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, x1: &[f32]) -> Result<f32, Error> {
        Ok(rows("x1", "dim", x1.len(), self.dim)? as f32)
    }

    /// The per-sample losses into `out`, one per row.
    pub fn per_sample(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.check(x1, x2, labels)?;
        check_len("out", out, n)?;
        self.run::<false, false>([x1, x2], labels, [&mut [], &mut []], out, 1.0);
        Ok(())
    }

    /// The per-sample losses into `out` and the gradients of their sum;
    /// returns the sum.
    pub fn per_sample_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        out: &mut [f32],
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2, labels)?;
        check_len("out", out, n)?;
        check_len("grads.x1", grads.x1, x1.len())?;
        check_len("grads.x2", grads.x2, x1.len())?;
        Ok(self.run::<true, false>([x1, x2], labels, [grads.x1, grads.x2], out, 1.0))
    }

    fn check(&self, x1: &[f32], x2: &[f32], labels: &[f32]) -> Result<usize, Error> {
        let n = rows("x1", "dim", x1.len(), self.dim)?;
        check_len("x2", x2, x1.len())?;
        check_len("labels", labels, n)?;
        if labels.iter().any(|&y| y != 1.0 && y != -1.0) {
            return Err(Error::InvalidParameter {
                argument: "labels",
                expected: "+1 or -1 in every entry",
            });
        }
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        Ok(n)
    }

    /// Runs the validated call: the losses (sample-weighted) into `out`
    /// unless it is empty, with `GRAD` the gradients times `grad_scale`
    /// (added to `grads` with `ACC`); returns the sum of the losses.
    fn run<const GRAD: bool, const ACC: bool>(
        &self,
        inputs: [&[f32]; 2],
        labels: &[f32],
        grads: [&mut [f32]; 2],
        out: &mut [f32],
        grad_scale: f32,
    ) -> f32 {
        lane::run(CosineBatch::<GRAD, ACC> {
            loss: *self,
            inputs,
            labels,
            grads,
            out,
            grad_scale,
        })
    }
}

/// A validated cosine-embedding call (see [`Kernel`]).
struct CosineBatch<'a, 'w, const GRAD: bool, const ACC: bool> {
    loss: CosineEmbedding<'w>,
    inputs: [&'a [f32]; 2],
    labels: &'a [f32],
    grads: [&'a mut [f32]; 2],
    out: &'a mut [f32],
    grad_scale: f32,
}

impl<const GRAD: bool, const ACC: bool> Kernel for CosineBatch<'_, '_, GRAD, ACC> {
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let CosineBatch {
            loss,
            inputs,
            labels,
            grads,
            out,
            grad_scale,
        } = self;
        let n = rows_in(inputs[0].len(), loss.dim);
        let mut samples = Samples::new(out);
        each_row(
            loss.dim,
            0..n,
            inputs,
            grads,
            loss.sample_weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let positive = labels.get(row.index).is_some_and(|&y| y == 1.0);
                let w = row.weight;
                let scale = w * grad_scale;
                w * cosine_row::<L, GRAD, ACC>(row.x, row.grad, positive, loss.margin, scale)
            },
        );
        samples.total()
    }
}

/// One cosine-embedding row: its loss, and with `GRAD` its gradients times
/// `scale` (added to the gradient rows with `ACC`).
#[inline(always)]
fn cosine_row<L: Lane, const GRAD: bool, const ACC: bool>(
    [x1, x2]: [&[f32]; 2],
    [g1, g2]: [&mut [f32]; 2],
    positive: bool,
    margin: f32,
    scale: f32,
) -> f32 {
    let dim = x1.len();
    // Never true after the entry points' checks; saying it lets the
    // compiler drop the per-lane bounds checks of the other rows.
    if x2.len() != dim || (GRAD && (g1.len() != dim || g2.len() != dim)) {
        return f32::NAN;
    }
    let [dot, s1, s2] = dots::<L, 3>(
        dim,
        #[inline(always)]
        |i| {
            let (a, b): (L, L) = (load(x1, i, 0.0), load(x2, i, 0.0));
            [(a, b), (a, a), (b, b)]
        },
    );
    let q = sqrt1::<L>(s1) * sqrt1::<L>(s2);
    let big = q > 1e-12;
    let den = if big { q } else { 1e-12 };
    let cos = dot / den;
    let (loss, slope) = if positive {
        (1.0 - cos, -1.0)
    } else {
        let h = cos - margin;
        (hinge(h), hinge_slope(h))
    };
    let k = scale * slope;
    // An accumulating call adds nothing where the hinge is flat.
    if GRAD && !(ACC && k == 0.0) {
        let inv = L::splat(k / den);
        let zero = L::splat(0.0);
        let (c1, c2) = if big {
            (L::splat(k * cos / s1), L::splat(k * cos / s2))
        } else {
            (zero, zero)
        };
        for_lanes::<L, 1>(
            dim,
            #[inline(always)]
            |i, _, _| {
                let (a, b): (L, L) = (load(x1, i, 0.0), load(x2, i, 0.0));
                put::<L, ACC>(b * inv - c1 * a, g1, i);
                put::<L, ACC>(a * inv - c2 * b, g2, i);
            },
        );
    }
    loss
}
