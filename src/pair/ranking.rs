//! Margin ranking loss (PyTorch `margin_ranking_loss`).
//!
//! Element loss `f = max(0, margin - t (x1 - x2))` with labels
//! `t ∈ {-1, +1}` (one per element, as PyTorch's target has the inputs'
//! shape): `t = 1` asks for `x1 > x2 + margin`. Gradients `-t` (x1) and
//! `+t` (x2) where `margin - t (x1 - x2) > 0`, 0 elsewhere (also at 0, as
//! PyTorch). An `x1 - x2` that overflows saturates the loss as the math
//! does (0 or `inf`), with a zero or infinite gradient, never NaN.

use super::layout;
use crate::Reduction;
use crate::driver::{ElementLoss3, batch3, reduction_scale};
use crate::error::{Domain, Error, check_len, check_param, const_try, rows};
use crate::lane::{self, Kernel, Lane};
use crate::pointwise::positive_part;

/// The margin ranking loss; see the [module docs](super).
///
/// ```
/// use loss_kernels::{pair::MarginRanking, Reduction};
/// let loss = MarginRanking::new(0.0)?;
/// assert_eq!(loss.value(&[1.0], &[3.0], &[1.0], Reduction::Mean)?, 2.0);
/// assert_eq!(loss.value(&[1.0], &[3.0], &[-1.0], Reduction::Mean)?, 0.0);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MarginRanking<'w> {
    margin: f32,
    dim: usize,
    sample_weight: Option<&'w [f32]>,
}

/// The gradients of [`MarginRanking`], each of the inputs' length.
#[derive(Debug)]
pub struct RankingGrads<'g> {
    /// `d loss / d x1`.
    pub x1: &'g mut [f32],
    /// `d loss / d x2`.
    pub x2: &'g mut [f32],
}

impl MarginRanking<'static> {
    /// The loss with a finite `margin` (PyTorch's default is 0), `dim = 1`
    /// and no weights.
    ///
    /// ```
    /// use loss_kernels::pair::MarginRanking;
    /// assert!(MarginRanking::new(f32::NAN).is_err());
    /// ```
    pub const fn new(margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(MarginRanking {
            margin,
            dim: 1,
            sample_weight: None,
        })
    }
}

impl<'w> MarginRanking<'w> {
    /// Sets the number of elements per sample (checked at the call).
    ///
    /// ```
    /// use loss_kernels::{pair::MarginRanking, Reduction};
    /// let loss = MarginRanking::new(1.0)?.dim(2);
    /// let mut per = [0.0];
    /// loss.per_sample(&[0.0, 0.0], &[0.0, 0.0], &[1.0, -1.0], &mut per)?;
    /// assert_eq!(per, [1.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn dim(self, dim: usize) -> Self {
        MarginRanking { dim, ..self }
    }

    /// Sets per-sample weights (one per sample, checked at the call).
    ///
    /// ```
    /// use loss_kernels::{pair::MarginRanking, Reduction};
    /// let loss = MarginRanking::new(1.0)?.sample_weight(&[3.0]);
    /// assert_eq!(loss.value(&[0.0], &[0.0], &[1.0], Reduction::Sum)?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> MarginRanking<'v> {
        MarginRanking {
            margin: self.margin,
            dim: self.dim,
            sample_weight: Some(weight),
        }
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::{pair::MarginRanking, Reduction};
    /// let v = MarginRanking::new(0.0)?.value(&[0.0, 2.0], &[1.0, 1.0], &[1.0, 1.0], Reduction::Sum)?;
    /// assert_eq!(v, 1.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        self.run::<false, false, false>(
            [x1, x2, labels],
            reduction,
            ([&mut [], &mut []], 1.0),
            &mut [],
        )
    }

    /// The reduced loss and its gradients w.r.t. `x1` and `x2`, in one pass.
    ///
    /// ```
    /// use loss_kernels::pair::{MarginRanking, RankingGrads};
    /// use loss_kernels::Reduction;
    /// let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
    /// let grads = RankingGrads { x1: &mut g1, x2: &mut g2 };
    /// MarginRanking::new(0.0)?.value_and_grad(&[0.0, 0.0], &[1.0, 1.0], &[1.0, -1.0], Reduction::Mean, grads)?;
    /// assert_eq!((g1, g2), ([-0.5, 0.0], [0.5, 0.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        grads: RankingGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(x1, x2, labels, reduction, 1.0, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `x1` and `x2`
    /// **added** to `grads` in the same pass (`grad += scale · ∂L`).
    /// `scale` (finite) weights the gradients only; the value returned is
    /// the loss itself, as [`value_and_grad`](Self::value_and_grad)
    /// returns it.
    ///
    /// ```
    /// use loss_kernels::pair::{MarginRanking, RankingGrads};
    /// use loss_kernels::Reduction;
    /// let (mut g1, mut g2) = ([1.0; 2], [1.0; 2]);
    /// let grads = RankingGrads { x1: &mut g1, x2: &mut g2 };
    /// let loss = MarginRanking::new(0.0)?;
    /// let v = loss.value_and_accumulate_grad(&[0.0, 2.0], &[1.0, 1.0], &[1.0, 1.0], Reduction::Sum, 2.0, grads)?;
    /// assert_eq!((v, g1, g2), (1.0, [1.0 - 2.0, 1.0], [1.0 + 2.0, 1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_accumulate_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: RankingGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<true>(x1, x2, labels, reduction, scale, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `x1` and `x2`
    /// **written** into `grads` in the same pass (`grad = scale · ∂L`), the
    /// value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::pair::{MarginRanking, RankingGrads};
    /// use loss_kernels::Reduction;
    /// let (mut g1, mut g2) = ([f32::NAN; 2], [f32::NAN; 2]);
    /// let grads = RankingGrads { x1: &mut g1, x2: &mut g2 };
    /// let loss = MarginRanking::new(0.0)?;
    /// let v = loss.value_and_scaled_grad(&[0.0, 2.0], &[1.0, 1.0], &[1.0, 1.0], Reduction::Sum, 2.0, grads)?;
    /// assert_eq!((v, g1, g2), (1.0, [-2.0, 0.0], [2.0, 0.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_scaled_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: RankingGrads<'_>,
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
        grads: RankingGrads<'_>,
    ) -> Result<f32, Error> {
        check_len("grad.x1", grads.x1, x1.len())?;
        check_len("grad.x2", grads.x2, x1.len())?;
        let scale = check_param("scale", scale, Domain::Finite)?;
        let grads = ([grads.x1, grads.x2], scale);
        self.run::<true, false, ACC>([x1, x2, labels], reduction, grads, &mut [])
    }

    /// The `Mean` denominator of a batch: its number of samples,
    /// `x1.len() / dim`. Shards combine with it, within rounding: `Mean = Σ_k
    /// (d_k / d) Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradients.
    ///
    /// ```
    /// use loss_kernels::pair::MarginRanking;
    /// assert_eq!(MarginRanking::new(0.0)?.dim(3).mean_denominator(&[0.0; 6])?, 2.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, x1: &[f32]) -> Result<f32, Error> {
        Ok(rows("x1", "dim", x1.len(), self.dim)? as f32)
    }

    /// The per-sample losses into `out`.
    ///
    /// ```
    /// use loss_kernels::pair::MarginRanking;
    /// let mut out = [0.0; 2];
    /// MarginRanking::new(0.0)?.per_sample(&[0.0, 5.0], &[1.0, 1.0], &[1.0, -1.0], &mut out)?;
    /// assert_eq!(out, [1.0, 4.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.run::<false, true, false>(
            [x1, x2, labels],
            Reduction::Sum,
            ([&mut [], &mut []], 1.0),
            out,
        )
        .map(|_| ())
    }

    /// The per-sample losses and the gradients of their sum, in one pass;
    /// returns the sum.
    ///
    /// ```
    /// use loss_kernels::pair::{MarginRanking, RankingGrads};
    /// let (mut out, mut g1, mut g2) = ([0.0; 1], [0.0; 1], [0.0; 1]);
    /// let grads = RankingGrads { x1: &mut g1, x2: &mut g2 };
    /// let sum = MarginRanking::new(0.0)?.per_sample_and_grad(&[0.0], &[1.0], &[1.0], &mut out, grads)?;
    /// assert_eq!((sum, out, g1, g2), (1.0, [1.0], [-1.0], [1.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        out: &mut [f32],
        grads: RankingGrads<'_>,
    ) -> Result<f32, Error> {
        check_len("grad.x1", grads.x1, x1.len())?;
        check_len("grad.x2", grads.x2, x1.len())?;
        let grads = ([grads.x1, grads.x2], 1.0);
        self.run::<true, true, false>([x1, x2, labels], Reduction::Sum, grads, out)
    }

    /// Validates once, then runs the kernel; `grads` carries the factor on
    /// the gradients (1, or an accumulating call's `scale`, added with
    /// `ACC`).
    fn run<const GRAD: bool, const VALUES: bool, const ACC: bool>(
        &self,
        inputs: [&[f32]; 3],
        reduction: Reduction,
        (grads, grad_scale): ([&mut [f32]; 2], f32),
        values: &mut [f32],
    ) -> Result<f32, Error> {
        let [x1, x2, labels] = inputs;
        let n = layout(
            self.dim,
            ("x1", x1),
            &[("x2", x2), ("labels", labels)],
            self.sample_weight,
            VALUES.then_some(&*values),
        )?;
        let scale = reduction_scale(reduction, n as f32) / self.dim as f32;
        Ok(lane::run(RankingBatch::<GRAD, VALUES, ACC> {
            element: Ranking {
                margin: self.margin,
            },
            dim: self.dim,
            inputs,
            weight: self.sample_weight,
            scales: [scale, scale * grad_scale],
            grads,
            values,
        }))
    }
}

/// One element: `[x1, x2, t]` → the value and `[d/dx1, d/dx2]`.
#[derive(Clone, Copy)]
struct Ranking {
    margin: f32,
}

impl ElementLoss3 for Ranking {
    const PAD: [f32; 3] = [0.0; 3];
    #[inline(always)]
    fn eval<L: Lane>(&self, [a, b, t]: [L; 3]) -> (L, [L; 2]) {
        let z = L::splat(self.margin) - t * (a - b);
        let active = z.gt(L::splat(0.0));
        // 0, or NaN for a NaN (or infinite) input; not `z · 0`, which is NaN
        // where a finite `x1 - x2` overflows (and the loss saturates at 0).
        let zero_or_nan = (a * L::splat(0.0) + b * L::splat(0.0)) + t * L::splat(0.0);
        (
            positive_part(z),
            [
                active.select(-t, zero_or_nan),
                active.select(t, zero_or_nan),
            ],
        )
    }
}

/// A validated margin-ranking call.
struct RankingBatch<'a, const GRAD: bool, const VALUES: bool, const ACC: bool> {
    element: Ranking,
    dim: usize,
    inputs: [&'a [f32]; 3],
    weight: Option<&'a [f32]>,
    /// `[value, gradient]` factors (the gradient's times an accumulating
    /// call's `scale`).
    scales: [f32; 2],
    grads: [&'a mut [f32]; 2],
    values: &'a mut [f32],
}

impl<const GRAD: bool, const VALUES: bool, const ACC: bool> Kernel
    for RankingBatch<'_, GRAD, VALUES, ACC>
{
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        batch3::<L, Ranking, GRAD, VALUES, ACC>(
            &self.element,
            self.dim,
            self.inputs,
            self.weight,
            self.scales,
            self.grads,
            self.values,
        )
    }
}
