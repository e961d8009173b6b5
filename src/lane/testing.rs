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

/// The crate's own unit tests: a per-thread level request (`std` is there
/// under `cfg(test)`).
#[cfg(test)]
pub(crate) mod local {
    extern crate std;
    use crate::lane::Level;
    use core::cell::Cell;

    std::thread_local! {
        static WANTED: Cell<Option<Level>> = const { Cell::new(None) };
        static RAN: Cell<[u64; 6]> = const { Cell::new([0; 6]) };
    }

    /// The hook: this thread's request (counted), or the default level.
    fn choose(level: Level) -> Level {
        let Some(wanted) = WANTED.with(Cell::get) else {
            return level;
        };
        RAN.with(|r| {
            let mut counts = r.get();
            if let Some(c) = counts.get_mut(wanted as usize) {
                *c += 1;
            }
            r.set(counts);
        });
        wanted
    }
    static HOOK: super::Hook = choose;

    /// Runs `f` with every loss call on this thread at `level`.
    pub(crate) fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
        super::install(&HOOK);
        let before = WANTED.with(|w| w.replace(Some(level)));
        let out = f();
        WANTED.with(|w| w.set(before));
        out
    }

    /// How many calls this thread has run at `level` through [`with_level`].
    pub(crate) fn runs(level: Level) -> u64 {
        RAN.with(Cell::get)
            .get(level as usize)
            .copied()
            .unwrap_or(0)
    }
}
