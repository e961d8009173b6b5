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
//! Reductions never chain one serial `f32` sum over a long run: lanes add
//! into independent accumulators, and per-sample results into [`Sum`].

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

/// The slices a call writes besides its return value: the gradient and the
/// per-sample values (each empty when the entry point does not write it).
pub(crate) struct Outputs<'a> {
    /// The gradient, or empty.
    pub(crate) grad: &'a mut [f32],
    /// The per-sample values, or empty.
    pub(crate) values: &'a mut [f32],
}

impl<'a> Outputs<'a> {
    /// Nothing but the return value.
    pub(crate) fn none() -> Self {
        Outputs {
            grad: &mut [],
            values: &mut [],
        }
    }
    /// The gradient only.
    pub(crate) fn grad(grad: &'a mut [f32]) -> Self {
        Outputs {
            grad,
            values: &mut [],
        }
    }
    /// The per-sample values only.
    pub(crate) fn values(values: &'a mut [f32]) -> Self {
        Outputs {
            grad: &mut [],
            values,
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

/// A sum of many `f32` terms with eight interleaved partial sums, so a long
/// batch is not one serial rounding chain.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sum {
    parts: [f32; 8],
    next: usize,
}

impl Sum {
    /// Adds one term.
    #[inline(always)]
    pub(crate) fn add(&mut self, v: f32) {
        if let Some(p) = self.parts.get_mut(self.next & 7) {
            *p += v;
        }
        self.next = self.next.wrapping_add(1);
    }
    /// The total, summed pairwise.
    #[inline(always)]
    pub(crate) fn total(&self) -> f32 {
        let [a, b, c, d, e, f, g, h] = self.parts;
        ((a + b) + (c + d)) + ((e + f) + (g + h))
    }
}
