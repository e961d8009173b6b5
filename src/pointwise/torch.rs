//! PyTorch's element losses (`torch.nn.functional`, and torchvision's
//! focal loss): parameters, constructors and lane math (the table and the
//! stable forms are in the [module docs](super)).

use super::losses::elements::{Huber, L1};
use super::losses::positive_part;
use super::{ElementLoss, Pointwise};
use crate::error::{Domain, Error, check_param, const_try};
use crate::lane::Lane;
use crate::math::{LogisticParts, exp, ln};

/// The element losses behind the PyTorch aliases (re-exported in
/// [`elements`](super::elements)).
pub mod elements {
    /// `(p - t)²` (PyTorch `mse_loss`).
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    pub struct Mse;

    /// `ln(1 + e^(-t p))` (PyTorch `soft_margin_loss`).
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    pub struct SoftMargin;

    /// PyTorch `smooth_l1_loss(beta)`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct SmoothL1 {
        pub(crate) beta: f32,
    }

    /// PyTorch `huber_loss(delta)`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct HuberTorch {
        pub(crate) delta: f32,
    }

    /// PyTorch `hinge_embedding_loss(margin)`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct HingeEmbedding {
        pub(crate) margin: f32,
    }

    /// torchvision `sigmoid_focal_loss(alpha, gamma)`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct SigmoidFocal {
        pub(crate) alpha: f32,
        pub(crate) gamma: f32,
    }
}

/// Mean squared error (PyTorch `mse_loss`): `f = (p - t)²`, `f' = 2 (p - t)`
/// (twice [`L2`](super::L2), Gluon's `L2Loss`).
pub type Mse<'w> = Pointwise<'w, elements::Mse>;
/// PyTorch `smooth_l1_loss(beta)`, `beta = 0` included (then L1).
pub type SmoothL1<'w> = Pointwise<'w, elements::SmoothL1>;
/// PyTorch `huber_loss(delta)`: `delta ·` [`SmoothL1`] with `beta = delta`.
pub type HuberTorch<'w> = Pointwise<'w, elements::HuberTorch>;
/// PyTorch `soft_margin_loss`: `ln(1 + e^(-t p))`, stably.
pub type SoftMargin<'w> = Pointwise<'w, elements::SoftMargin>;
/// PyTorch `hinge_embedding_loss(margin)`, any `t`.
pub type HingeEmbedding<'w> = Pointwise<'w, elements::HingeEmbedding>;
/// torchvision `sigmoid_focal_loss(alpha, gamma)` on logits `p`, `t ∈ [0, 1]`.
pub type SigmoidFocal<'w> = Pointwise<'w, elements::SigmoidFocal>;

/// A threshold that divides (`1 / x` must be finite): finite, `> 0` (or 0
/// where `zero` allows it) and a normal number.
const fn threshold(argument: &'static str, x: f32, zero: bool) -> Result<f32, Error> {
    let domain = if zero {
        Domain::NonNegative
    } else {
        Domain::Positive
    };
    let x = const_try!(check_param(argument, x, domain));
    if x != 0.0 && x < f32::MIN_POSITIVE {
        return Err(Error::InvalidParameter {
            argument,
            expected: "finite and >= f32::MIN_POSITIVE (a normal number)",
        });
    }
    Ok(x)
}

impl Default for Pointwise<'static, elements::Mse> {
    fn default() -> Self {
        Self::new()
    }
}

impl Pointwise<'static, elements::Mse> {
    /// Mean squared error.
    ///
    /// ```
    /// use loss_kernels::{pointwise::Mse, Reduction};
    /// let mut grad = [0.0; 2];
    /// let v = Mse::new().value_and_grad(&[1.0, 3.0], &[0.0, 0.0], Reduction::Mean, &mut grad)?;
    /// assert_eq!((v, grad), (5.0, [1.0, 3.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn new() -> Self {
        Self::from_element(elements::Mse)
    }
}

impl Default for Pointwise<'static, elements::SoftMargin> {
    fn default() -> Self {
        Self::new()
    }
}

impl Pointwise<'static, elements::SoftMargin> {
    /// Soft-margin loss, `t` in `{-1, +1}`.
    ///
    /// ```
    /// use loss_kernels::{pointwise::SoftMargin, Reduction};
    /// // finite where PyTorch's log1p(exp(100)) is inf
    /// assert_eq!(SoftMargin::new().value(&[-100.0], &[1.0], Reduction::Sum)?, 100.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn new() -> Self {
        Self::from_element(elements::SoftMargin)
    }
}

impl Pointwise<'static, elements::SmoothL1> {
    /// Smooth L1 with threshold `beta`: finite, `>= 0` (PyTorch's default is
    /// 1; 0 is L1) and, unless 0, a normal number (`>= f32::MIN_POSITIVE`).
    ///
    /// ```
    /// use loss_kernels::{pointwise::SmoothL1, Reduction};
    /// let v = SmoothL1::new(0.0)?.value(&[5.0], &[0.0], Reduction::Sum)?;
    /// assert_eq!(v, 5.0);
    /// assert!(SmoothL1::new(-1.0).is_err() && SmoothL1::new(1e-40).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn new(beta: f32) -> Result<Self, Error> {
        let beta = const_try!(threshold("beta", beta, true));
        Ok(Self::from_element(elements::SmoothL1 { beta }))
    }
}

impl Pointwise<'static, elements::HuberTorch> {
    /// PyTorch's Huber loss with threshold `delta`: finite, `> 0` (PyTorch's
    /// default is 1) and a normal number.
    ///
    /// ```
    /// use loss_kernels::{pointwise::HuberTorch, Reduction};
    /// // PyTorch's huber_loss(5, 0, delta=2) = 2 (5 - 1) = 8
    /// assert_eq!(HuberTorch::new(2.0)?.value(&[5.0], &[0.0], Reduction::Sum)?, 8.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn new(delta: f32) -> Result<Self, Error> {
        let delta = const_try!(threshold("delta", delta, false));
        Ok(Self::from_element(elements::HuberTorch { delta }))
    }
}

impl Pointwise<'static, elements::HingeEmbedding> {
    /// Hinge embedding loss; `margin` must be finite (PyTorch's default
    /// is 1).
    ///
    /// ```
    /// use loss_kernels::{pointwise::HingeEmbedding, Reduction};
    /// let per = HingeEmbedding::new(1.0)?;
    /// // t = 1: the distance itself; t = -1: max(0, margin - p)
    /// assert_eq!(per.value(&[0.25, 0.25], &[1.0, -1.0], Reduction::Sum)?, 1.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn new(margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(Self::from_element(elements::HingeEmbedding { margin }))
    }
}

impl Pointwise<'static, elements::SigmoidFocal> {
    /// torchvision's sigmoid focal loss: `alpha` finite (torchvision's
    /// default 0.25; negative means no α weighting), `gamma` finite and
    /// `>= 0` (default 2).
    ///
    /// ```
    /// use loss_kernels::{pointwise::SigmoidFocal, Reduction};
    /// let focal = SigmoidFocal::new(0.25, 2.0)?;
    /// // a confident right answer costs almost nothing: (1 - σ(4))² · 0.25 · ce
    /// let v = focal.value(&[4.0], &[1.0], Reduction::Sum)?;
    /// assert!(v > 0.0 && v < 2e-6);
    /// assert!(SigmoidFocal::new(0.25, -1.0).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn new(alpha: f32, gamma: f32) -> Result<Self, Error> {
        let alpha = const_try!(check_param("alpha", alpha, Domain::Finite));
        let gamma = const_try!(check_param("gamma", gamma, Domain::NonNegative));
        Ok(Self::from_element(elements::SigmoidFocal { alpha, gamma }))
    }
}

impl ElementLoss for elements::Mse {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let s = p - t;
        (s * s, s + s)
    }
}

impl ElementLoss for elements::SmoothL1 {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        if self.beta == 0.0 {
            L1.eval(p, t)
        } else {
            Huber { rho: self.beta }.eval(p, t)
        }
    }
}

impl ElementLoss for elements::HuberTorch {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let (value, derivative) = Huber { rho: self.delta }.eval(p, t);
        let delta = L::splat(self.delta);
        (value * delta, derivative * delta)
    }
}

impl ElementLoss for elements::SoftMargin {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let q = LogisticParts::new(-(t * p));
        (q.softplus(), -(t * q.sigmoid()))
    }
}

impl ElementLoss for elements::HingeEmbedding {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let (zero, one) = (L::splat(0.0), L::splat(1.0));
        let positive = t.eq(one);
        let negative = t.eq(-one);
        let m = L::splat(self.margin) - p;
        let value = positive.select(zero, positive_part(m)) + negative.select(zero, p);
        let hinge_slope = m.gt(zero).select(-one, zero);
        let slope = positive.select(zero, hinge_slope) + negative.select(zero, one);
        // A NaN `t` is neither label (both terms apply and stay finite), a
        // NaN `p` may sit in a zero slope: propagate both.
        let slope = p.is_nan().select(p, slope);
        let nan_t = t.is_nan();
        (nan_t.select(t, value), nan_t.select(t, slope))
    }
}

/// `(m^γ, γ m^(γ-1) dm)` for `m` in `[0, 1]` and its derivative `dm`
/// (`0^0 = 1`, as in PyTorch; the derivative is 0 at `m = 0`, where
/// `m^(γ-1)` diverges for `γ < 1` but `dm` is 0). `γ` of 0, 1 and 2
/// (torchvision's default) need no `exp`, `ln` or division; others take
/// `γ m^γ (dm / m)`.
#[inline(always)]
fn unit_pow<L: Lane>(m: L, dm: L, gamma: f32) -> (L, L) {
    let (zero, one) = (L::splat(0.0), L::splat(1.0));
    if gamma == 2.0 {
        (m * m, (m + m) * dm)
    } else if gamma == 1.0 {
        (m, dm)
    } else if gamma == 0.0 {
        // NaN still propagates through the loss's other factors.
        (one, zero)
    } else {
        let mg = exp(L::splat(gamma) * ln(m));
        (mg, m.eq(zero).select(zero, L::splat(gamma) * mg * (dm / m)))
    }
}

impl ElementLoss for elements::SigmoidFocal {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let one = L::splat(1.0);
        let q = LogisticParts::new(p);
        let (sg, sgn) = (q.sigmoid(), q.sigmoid_neg());
        let nt = one - t;
        // (1-t) softplus(p) + t softplus(-p) = (max(p, 0) - t p) + ln(1 + e^-|p|):
        // both terms are >= 0 for t in [0, 1], so nothing cancels. Not
        // `q.softplus() - t p`: for a confident, correct logit (p = 20,
        // t = 1) softplus rounds to p and the difference loses the tail.
        let ce = (-t).mul_add(p, p.max(L::splat(0.0))) + q.ln1p_e;
        let dce = nt.mul_add(sg, -(t * sgn));
        // m = 1 - p_t, dm/dp = σ(p)σ(-p)(1 - 2t).
        let m = nt.mul_add(sg, t * sgn);
        // At most 1 (rounding may pass it, where a large γ would overflow).
        let m = m.gt(one).select(one, m);
        let (mg, dmg) = unit_pow(m, sg * sgn * (nt - t), self.gamma);
        let value = ce * mg;
        let derivative = dce.mul_add(mg, ce * dmg);
        if self.alpha < 0.0 {
            return (value, derivative);
        }
        // α t + (1-α)(1-t), as two products: `t (2α - 1) + (1 - α)` would
        // overflow `2α` for a huge finite α (fuzzing found it).
        let a = nt.mul_add(L::splat(1.0 - self.alpha), t * L::splat(self.alpha));
        (a * value, a * derivative)
    }
}
