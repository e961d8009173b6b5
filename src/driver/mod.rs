//! The shared drivers: everything that walks slices, rows and batches, so a
//! loss file holds only its math.
//!
//! * [`lanes`]: **the one tail rule**. A run of `n` values is visited in
//!   whole lanes of `L::LANES`, then, if `n` is not a multiple of the width,
//!   one last lane whose loads are padded and whose `keep` mask marks the
//!   `n % LANES` real values (reductions select through it; stores are
//!   partial, so nothing past the run is written).
//! * [`row`]: the row primitives the families share, each written once on
//!   that rule: the maximum, the exp-sum `Σ e^(x - m)` (optionally storing
//!   `e^(x - m)`, reading the next row's maximum in the same loop, and
//!   feeding each lane to a family's own accumulations), scaling, shifting,
//!   and dot products / sums of squares.
//! * [`sweep`]: the pointwise driver, `Σ w f(p, t)` over whole slices (the
//!   same rule, expressed with `chunks_exact` over up to five slices in step).
//! * [`sweep3`]: the same for element losses of three inputs with two
//!   gradients (written on [`lanes::for_lanes`]), and `batch3`, a batch of
//!   samples through it.
//! * [`batch`]: the walk over the rows of a batch (per-row slices, the next
//!   row, the sample weight) and [`Samples`], which puts each per-sample
//!   result into the caller's per-sample slot and into the total.
//!
//! Reductions never chain one serial `f32` sum over a long run: the sweep's
//! lanes add into independent accumulators over blocks of 512 lanes, and
//! per-sample results into [`Sum`] (eight chains over blocks of 1024); the
//! block sums are added with their rounding errors carried
//! ([`Compensated`]), so `Sum` and `Mean` stay within about one rounding of
//! the exact result at any `n`, in `f32` only.

pub(crate) mod batch;
pub(crate) mod lanes;
pub(crate) mod row;
pub(crate) mod sweep;
pub(crate) mod sweep3;

pub(crate) use batch::{Samples, each_row, rows_in};
pub use sweep::ElementLoss;
pub(crate) use sweep::sweep;
pub(crate) use sweep3::{ElementLoss3, batch3, sweep3};

use crate::Reduction;
use crate::lane::{Lane, MAX_LANES};

/// The slices a call writes besides its return value: the gradient and the
/// per-sample values (each empty when the entry point does not write it),
/// and the caller's factor on the gradient.
///
/// **Accumulating calls** (`value_and_accumulate_grad` in every family)
/// write `grad += grad_scale · ∂L` instead of `grad = ∂L`: the kernels fold
/// `grad_scale` into their gradient factor (never into the value) and,
/// compiled with `ACC = true`, add into the caller's gradient where they
/// would store ([`lanes::put`]), in the same pass. The choice is a const
/// generic picked by the entry point, so the overwriting kernels are the
/// same code as without the option and a build that never accumulates
/// links no accumulating kernel. **Scaling calls**
/// (`value_and_scaled_grad`) pass their `scale` the same way with `ACC =
/// false`: `grad = grad_scale · ∂L`, the overwriting kernel itself.
pub(crate) struct Outputs<'a> {
    /// The gradient, or empty.
    pub(crate) grad: &'a mut [f32],
    /// The per-sample values, or empty.
    pub(crate) values: &'a mut [f32],
    /// The factor on the gradient: 1, or an accumulating or scaling call's
    /// `scale`.
    pub(crate) grad_scale: f32,
}

impl<'a> Outputs<'a> {
    /// Nothing but the return value.
    pub(crate) fn none() -> Self {
        Outputs::both(&mut [], &mut [])
    }
    /// The per-sample values only.
    pub(crate) fn values(values: &'a mut [f32]) -> Self {
        Outputs::both(&mut [], values)
    }
    /// The gradient and the per-sample values.
    pub(crate) fn both(grad: &'a mut [f32], values: &'a mut [f32]) -> Self {
        Outputs {
            grad,
            values,
            grad_scale: 1.0,
        }
    }
    /// The gradient, with the caller's factor `scale` on the call's: added
    /// to it (an accumulating call, `ACC`) or written (a scaling call).
    pub(crate) fn scaled(grad: &'a mut [f32], scale: f32) -> Self {
        Outputs {
            grad,
            values: &mut [],
            grad_scale: scale,
        }
    }
}

/// The factor a reduction applies to the sum of per-sample losses (and to
/// the gradient): 1 for `Sum`, `1 / denominator` for `Mean`, and 0 for a
/// `Mean` over a zero denominator (every row ignored: PyTorch's 0, not NaN).
#[inline]
pub(crate) fn reduction_scale(reduction: Reduction, denominator: f32) -> f32 {
    match reduction {
        Reduction::Sum => 1.0,
        Reduction::Mean if denominator == 0.0 => 0.0,
        Reduction::Mean => 1.0 / denominator,
    }
}

/// Block sums added with their rounding errors carried (Knuth's two-sum):
/// `sum + err` is the block sums' total to within a rounding of the
/// result plus `O(n ε²)`, whatever the number of blocks `n`, in a few
/// additions per block. `L` is `f32` for scalar sums, or a lane type whose
/// lanes are independent sums (the pointwise sweep's accumulators), reduced
/// across lanes the same way at the end ([`total`](Self::total)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compensated<L> {
    sum: L,
    err: L,
}

impl<L: Lane> Default for Compensated<L> {
    #[inline(always)]
    fn default() -> Self {
        Compensated {
            sum: L::splat(0.0),
            err: L::splat(0.0),
        }
    }
}

impl<L: Lane> Compensated<L> {
    /// Adds the sum of one block.
    #[inline(always)]
    pub(crate) fn push(&mut self, block: L) {
        let s = self.sum + block;
        let b = s - self.sum;
        let e = (self.sum - (s - b)) + (block - b);
        self.sum = s;
        self.err = self.err + e;
    }

    /// The total of every block pushed, across the lanes: each lane's sum
    /// and carried error, added with two-sum again, rounded once. A
    /// non-finite sum (an infinite or NaN term) is returned as the plain
    /// sum, so `+∞` stays `+∞` (the carried error of an infinity is NaN).
    #[inline(always)]
    pub(crate) fn total(&self) -> f32 {
        let (mut sums, mut errs) = ([0.0f32; MAX_LANES], [0.0f32; MAX_LANES]);
        self.sum.store(&mut sums);
        self.err.store(&mut errs);
        let mut across = Compensated::<f32>::default();
        let mut plain = 0.0f32;
        for (&s, &e) in sums.iter().zip(&errs).take(L::LANES) {
            across.push(s);
            across.err += e;
            plain += s;
        }
        if plain.is_finite() {
            across.sum + across.err
        } else {
            plain
        }
    }
}

/// The terms a [`Sum`] adds in its eight chains before the block joins the
/// [`Compensated`] total: 128 serial additions per chain at most.
const SUM_BLOCK: usize = 1024;

/// A sum of many `f32` terms (per-sample losses, weights): eight
/// interleaved partial sums over blocks of [`SUM_BLOCK`] terms, the block
/// sums added with their rounding errors carried ([`Compensated`]), so the
/// error does not grow with the number of terms (`1e-7` relative at `2^24`
/// terms, see `tests/reductions.rs`). All `f32`: no `f64` (soft-float on a
/// Cortex-M4F).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sum {
    parts: [f32; 8],
    next: usize,
    blocks: Compensated<f32>,
}

impl Sum {
    /// Adds one term.
    #[inline(always)]
    pub(crate) fn add(&mut self, v: f32) {
        if let Some(p) = self.parts.get_mut(self.next & 7) {
            *p += v;
        }
        self.next = self.next.wrapping_add(1);
        if self.next & (SUM_BLOCK - 1) == 0 {
            self.blocks.push(pairwise(self.parts));
            self.parts = [0.0; 8];
        }
    }

    /// The total.
    #[inline(always)]
    pub(crate) fn total(&self) -> f32 {
        let mut blocks = self.blocks;
        blocks.push(pairwise(self.parts));
        blocks.total()
    }
}

/// The eight partial sums of a block, summed pairwise.
#[inline(always)]
fn pairwise([a, b, c, d, e, f, g, h]: [f32; 8]) -> f32 {
    ((a + b) + (c + d)) + ((e + f) + (g + h))
}
