//! The ten element losses: each one's parameters, constructor and lane
//! math (the table is in the [module docs](super)).

use super::{ElementLoss, Pointwise};
use crate::error::{Domain, Error, check_param, const_try};
use crate::lane::Lane;
use crate::math::{LogisticParts, exp, ln};

/// `max(0, m)` that keeps NaN.
#[inline(always)]
pub(crate) fn positive_part<L: Lane>(m: L) -> L {
    m.le(L::splat(0.0)).select(L::splat(0.0), m)
}

/// `sign(s)` (`±1`), with 0 at `s = 0` and NaN for NaN.
#[inline(always)]
fn sign<L: Lane>(s: L) -> L {
    let zero_or_nan = s * L::splat(0.0);
    s.gt(L::splat(0.0)).select(
        L::splat(1.0),
        s.lt(L::splat(0.0)).select(L::splat(-1.0), zero_or_nan),
    )
}

/// Declares a parameter-free element type.
macro_rules! element_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name;
    )*};
}

/// The element losses behind the [`Pointwise`] aliases of this module.
pub mod elements {
    pub use super::super::torch::elements::*;

    element_types! {
        /// `abs(p - t)`.
        L1,
        /// `(p - t)² / 2`.
        L2,
        /// `ln cosh(p - t)`.
        LogCosh,
    }

    /// Huber with threshold `rho` (PyTorch `smooth_l1_loss(beta = rho)`).
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Huber {
        pub(crate) rho: f32,
    }

    /// Hinge with a margin; `t` in `{-1, +1}`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Hinge {
        pub(crate) margin: f32,
    }

    /// Squared hinge with a margin; `t` in `{-1, +1}`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct SquaredHinge {
        pub(crate) margin: f32,
    }

    /// Logistic loss over a logit `p`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Logistic {
        pub(crate) labels: super::Labels,
    }

    /// Binary cross-entropy on a logit `p` (sigmoid applied inside).
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct SigmoidBce {
        pub(crate) pos_weight: f32,
    }

    /// Binary cross-entropy on a probability `p`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Bce {
        pub(crate) pos_weight: f32,
    }

    /// Poisson negative log-likelihood.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct PoissonNll {
        pub(crate) log_input: bool,
        pub(crate) full: bool,
        pub(crate) eps: f32,
    }
}

/// Label convention of [`Logistic`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Labels {
    /// `t` in `{-1, +1}` (Gluon's default).
    #[default]
    Signed,
    /// `t` in `{0, 1}`.
    Binary,
}

/// Mean absolute error: `f = abs(p - t)`, `f' = sign(p - t)` (0 at 0).
pub type L1<'w> = Pointwise<'w, elements::L1>;
/// Squared error: `f = (p - t)² / 2`, `f' = p - t`.
pub type L2<'w> = Pointwise<'w, elements::L2>;
/// Huber / smooth L1 with threshold `rho`.
pub type Huber<'w> = Pointwise<'w, elements::Huber>;
/// Hinge: `max(0, margin - p t)`.
pub type Hinge<'w> = Pointwise<'w, elements::Hinge>;
/// Squared hinge: `max(0, margin - p t)²`.
pub type SquaredHinge<'w> = Pointwise<'w, elements::SquaredHinge>;
/// Logistic loss with signed or binary labels.
pub type Logistic<'w> = Pointwise<'w, elements::Logistic>;
/// Sigmoid binary cross-entropy on logits, with `pos_weight`.
pub type SigmoidBce<'w> = Pointwise<'w, elements::SigmoidBce>;
/// Binary cross-entropy on probabilities, with `pos_weight`.
pub type Bce<'w> = Pointwise<'w, elements::Bce>;
/// Poisson negative log-likelihood.
pub type PoissonNll<'w> = Pointwise<'w, elements::PoissonNll>;
/// Log-cosh: `ln cosh(p - t)`.
pub type LogCosh<'w> = Pointwise<'w, elements::LogCosh>;

impl Default for Pointwise<'static, elements::L1> {
    fn default() -> Self {
        Self::new()
    }
}

impl Pointwise<'static, elements::L1> {
    /// L1 loss.
    pub const fn new() -> Self {
        Self::from_element(elements::L1)
    }
}

impl Default for Pointwise<'static, elements::L2> {
    fn default() -> Self {
        Self::new()
    }
}

impl Pointwise<'static, elements::L2> {
    /// L2 loss.
    pub const fn new() -> Self {
        Self::from_element(elements::L2)
    }
}

impl Default for Pointwise<'static, elements::LogCosh> {
    fn default() -> Self {
        Self::new()
    }
}

impl Pointwise<'static, elements::LogCosh> {
    /// Log-cosh loss.
    pub const fn new() -> Self {
        Self::from_element(elements::LogCosh)
    }
}

impl Pointwise<'static, elements::Huber> {
    /// Huber loss; `rho` must be finite and `> 0` (Gluon's default is 1),
    /// and a normal number (`>= f32::MIN_POSITIVE`, about `1.2e-38`), so
    /// that `1 / rho` is finite: a subnormal `rho` is an `Err`.
    ///
    /// ```
    /// use loss_kernels::pointwise::Huber;
    /// assert!(Huber::new(0.0).is_err());
    /// assert!(Huber::new(1e-40).is_err());
    /// ```
    pub const fn new(rho: f32) -> Result<Self, Error> {
        let rho = const_try!(check_param("rho", rho, Domain::Positive));
        if rho < f32::MIN_POSITIVE {
            return Err(Error::InvalidParameter {
                argument: "rho",
                expected: "finite and >= f32::MIN_POSITIVE (a normal number)",
            });
        }
        Ok(Self::from_element(elements::Huber { rho }))
    }
}

impl Pointwise<'static, elements::Hinge> {
    /// Hinge loss; `margin` must be finite (Gluon's default is 1).
    pub const fn new(margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(Self::from_element(elements::Hinge { margin }))
    }
}

impl Pointwise<'static, elements::SquaredHinge> {
    /// Squared hinge loss; `margin` must be finite (Gluon's default is 1).
    pub const fn new(margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(Self::from_element(elements::SquaredHinge { margin }))
    }
}

impl Pointwise<'static, elements::Logistic> {
    /// Logistic loss with the given label convention.
    pub const fn new(labels: Labels) -> Self {
        Self::from_element(elements::Logistic { labels })
    }
}

impl Pointwise<'static, elements::SigmoidBce> {
    /// Sigmoid BCE on logits; `pos_weight` must be finite and `>= 0` (1 is
    /// plain BCE).
    pub const fn new(pos_weight: f32) -> Result<Self, Error> {
        let pos_weight = const_try!(check_param("pos_weight", pos_weight, Domain::NonNegative));
        Ok(Self::from_element(elements::SigmoidBce { pos_weight }))
    }
}

impl Pointwise<'static, elements::Bce> {
    /// BCE on probabilities; `pos_weight` must be finite and `>= 0`.
    pub const fn new(pos_weight: f32) -> Result<Self, Error> {
        let pos_weight = const_try!(check_param("pos_weight", pos_weight, Domain::NonNegative));
        Ok(Self::from_element(elements::Bce { pos_weight }))
    }
}

impl Pointwise<'static, elements::PoissonNll> {
    /// Poisson NLL: `log_input` says `p` is `ln λ` (PyTorch's default,
    /// `true`); `full` adds the Stirling term for `t > 1`.
    pub const fn new(log_input: bool, full: bool) -> Self {
        Self::from_element(elements::PoissonNll {
            log_input,
            full,
            eps: 1e-8,
        })
    }
}

impl<'w> Pointwise<'w, elements::PoissonNll> {
    /// Sets the `eps` of the `log_input = false` form `p - t ln(p + eps)`
    /// (PyTorch's `eps`, default `1e-8`): finite and `> 0`. With
    /// `log_input = true` there is no `eps` to set: an `Err`.
    ///
    /// ```
    /// use loss_kernels::{pointwise::PoissonNll, Reduction};
    /// let loss = PoissonNll::new(false, false).eps(0.5)?;
    /// // 1 - 2 ln(1.5)
    /// let v = loss.value(&[1.0], &[2.0], Reduction::Sum)?;
    /// assert!((v - (1.0 - 2.0 * 1.5f32.ln())).abs() < 1e-6);
    /// assert!(PoissonNll::new(true, false).eps(0.5).is_err());
    /// assert!(PoissonNll::new(false, false).eps(0.0).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn eps(self, eps: f32) -> Result<Self, Error> {
        let eps = const_try!(check_param("eps", eps, Domain::Positive));
        if self.element.log_input {
            return Err(Error::InvalidParameter {
                argument: "eps",
                expected: "set only with log_input = false (the log-input form has no eps)",
            });
        }
        Ok(Pointwise {
            element: elements::PoissonNll {
                eps,
                ..self.element
            },
            ..self
        })
    }
}

impl ElementLoss for elements::L1 {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let s = p - t;
        (s.abs(), sign(s))
    }
}

impl ElementLoss for elements::L2 {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let s = p - t;
        (s * s * L::splat(0.5), s)
    }
}

impl ElementLoss for elements::Huber {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let s = p - t;
        let a = s.abs();
        let outside = a.gt(L::splat(self.rho));
        // Inside, |s / rho| <= 1: (s / rho) · s / 2 cannot overflow where
        // s · s would (a huge rho).
        let inner = s * L::splat(1.0 / self.rho);
        let value = outside.select(a - L::splat(0.5 * self.rho), inner * s * L::splat(0.5));
        // Outside the quadratic zone s != 0, so sign(s) is ±1 from the sign bit.
        let unit = s.bits_and(0x8000_0000).bits_or(0x3F80_0000);
        (value, outside.select(unit, inner))
    }
}

impl ElementLoss for elements::Hinge {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let m = L::splat(self.margin) - p * t;
        let active = m.gt(L::splat(0.0));
        // 0, or NaN for a non-finite input: not `m * 0`, which is NaN when a
        // finite `p t` overflows to `+∞` (where the loss is 0, and so is its
        // derivative).
        let zero_or_nan = p * L::splat(0.0) + t * L::splat(0.0);
        (positive_part(m), active.select(-t, zero_or_nan))
    }
}

impl ElementLoss for elements::SquaredHinge {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let h = positive_part(L::splat(self.margin) - p * t);
        (h * h, t * h * L::splat(-2.0))
    }
}

impl ElementLoss for elements::Logistic {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let z = match self.labels {
            Labels::Signed => (t + L::splat(1.0)) * L::splat(0.5),
            Labels::Binary => t,
        };
        let q = LogisticParts::new(p);
        (q.softplus() - p * z, q.sigmoid() - z)
    }
}

impl ElementLoss for elements::SigmoidBce {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let q = LogisticParts::new(p);
        if self.pos_weight == 1.0 {
            return (q.softplus() - p * t, q.sigmoid() - t);
        }
        pos_weighted_bce(&q, t, L::splat(self.pos_weight))
    }
}

/// Sigmoid BCE with positive weight `pw` (a lane: one weight per element
/// for the per-class form) from the logistic parts of the logit `p`.
#[inline(always)]
pub(crate) fn pos_weighted_bce<L: Lane>(q: &LogisticParts<L>, t: L, pw: L) -> (L, L) {
    // (1-t) p + (1 + (pw-1) t) sp(-p) = (1-t) sp(p) + pw t sp(-p): two
    // non-negative terms, where the first form cancels for p << 0 (the
    // loss ~ e^p is the difference of p and sp(-p) ~ -p).
    let neg = L::splat(1.0) - t;
    let pos = pw * t;
    (
        neg.mul_add(q.softplus(), pos * q.softplus_neg()),
        neg.mul_add(q.sigmoid(), -(pos * q.sigmoid_neg())),
    )
}

impl ElementLoss for elements::Bce {
    const PAD: f32 = 0.5;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let eps = L::splat(1e-12);
        let one = L::splat(1.0);
        let pt = L::splat(self.pos_weight) * t;
        let nt = one - t;
        let on = p + eps;
        let off = (one - p) + eps;
        let value = -(pt * ln(on) + nt * ln(off));
        (value, nt / off - pt / on)
    }
}

impl ElementLoss for elements::PoissonNll {
    const PAD: f32 = 0.5;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let (value, grad) = if self.log_input {
            let e = exp(p);
            (e - t * p, e - t)
        } else {
            let q = p + L::splat(self.eps);
            (p - t * ln(q), L::splat(1.0) - t / q)
        };
        if !self.full {
            return (value, grad);
        }
        // Stirling term t ln t - t + ln(2πt)/2, only where t > 1.
        let lt = ln(t);
        let stirling =
            t * lt - t + L::splat(0.5) * (lt + L::splat(libm::logf(2.0 * core::f32::consts::PI)));
        (
            value + t.gt(L::splat(1.0)).select(stirling, L::splat(0.0)),
            grad,
        )
    }
}

impl ElementLoss for elements::LogCosh {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        // ln cosh s = softplus(2s) - s - ln 2, tanh s = σ(2s) - σ(-2s); one exp.
        let s = p - t;
        let q = LogisticParts::new(s + s);
        let value = s.abs() + q.ln1p_e - L::splat(core::f32::consts::LN_2);
        (value, q.sigmoid() - q.sigmoid_neg())
    }
}
