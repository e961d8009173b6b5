//! Test support (hidden feature `test-lanes`, enabled for the crate's own
//! tests through its dev-dependency on itself): run a call at a chosen
//! [`Level`] instead of the detected one, and evaluate the [`math`]
//! functions at any level.
//!
//! No `std` here: the tests keep their per-thread choice themselves and
//! [`install`] a function that returns it; the dispatcher runs a call at the
//! returned level only if the CPU supports it (one of [`levels`]).
//!
//! [`math`]: crate::math

pub use super::dispatch::levels;
pub use super::dispatch::test_hook::{Hook, install};
use super::{Kernel, Lane};
use crate::math;

/// A [`math`](crate::math) function, to evaluate at a level with [`map`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathFn {
    /// [`math::exp_nonpositive`].
    ExpNonpositive,
    /// [`math::exp`].
    Exp,
    /// [`math::ln`].
    Ln,
    /// [`math::ln_1p`].
    Ln1p,
    /// [`math::softplus`].
    Softplus,
    /// [`math::sigmoid`].
    Sigmoid,
    /// [`math::tanh`].
    Tanh,
    /// `x ↦ math::log_add_exp(0, x)`.
    LogAddExp0,
    /// [`Lane::recip`].
    Recip,
}

impl MathFn {
    /// The function at lane type `L`.
    #[inline(always)]
    pub fn eval<L: Lane>(self, v: L) -> L {
        match self {
            MathFn::ExpNonpositive => math::exp_nonpositive(v),
            MathFn::Exp => math::exp(v),
            MathFn::Ln => math::ln(v),
            MathFn::Ln1p => math::ln_1p(v),
            MathFn::Softplus => math::softplus(v),
            MathFn::Sigmoid => math::sigmoid(v),
            MathFn::Tanh => math::tanh(v),
            MathFn::LogAddExp0 => math::log_add_exp(L::splat(0.0), v),
            MathFn::Recip => v.recip(),
        }
    }
}

/// Writes `f(x)` for every `x` of `xs` into `out` (the shorter length), at
/// the level the installed hook picks (so the test chooses it as for a
/// loss call), lane by lane, padding the last lane with its first value.
pub fn map(f: MathFn, xs: &[f32], out: &mut [f32]) {
    super::dispatch::run(Map { f, xs, out });
}

/// A [`map`] call.
struct Map<'a> {
    f: MathFn,
    xs: &'a [f32],
    out: &'a mut [f32],
}

impl Kernel for Map<'_> {
    type Output = ();
    #[inline(always)]
    fn run<L: Lane>(self) {
        for (x, o) in self.xs.chunks(L::LANES).zip(self.out.chunks_mut(L::LANES)) {
            let v = L::load_or(x, x.first().copied().unwrap_or(0.0));
            let y = self.f.eval(v);
            y.store(o);
        }
    }
}
