//! The shared slice driver: walks slices in lanes, handles the tail, scales
//! by weights and reduces with independent accumulators.
//!
//! Every pointwise loss runs through [`sweep`]; row losses use [`Sum`] to add
//! up their per-row results without a long serial `f32` chain.

use crate::lane::Lane;
use crate::pointwise::ElementLoss;

/// The slice of `s` from `i` on (empty past the end).
#[inline(always)]
fn from(s: &[f32], i: usize) -> &[f32] {
    s.get(i..).unwrap_or(&[])
}

/// The mutable slice of `s` from `i` on (empty past the end).
#[inline(always)]
fn from_mut(s: &mut [f32], i: usize) -> &mut [f32] {
    s.get_mut(i..).unwrap_or(&mut [])
}

/// Computes `Σ_i scale · w_i · f(pred_i, target_i)` over the whole slices
/// (`w_i = 1` without `weight`), and, with `GRAD`, writes
/// `scale · w_i · f'(pred_i, target_i)` into `grad`; with `VALUES`, writes
/// the scaled values into `values`.
///
/// Callers have checked that `target`, `weight`, `grad` (with `GRAD`) and
/// `values` (with `VALUES`) have `pred`'s length; a shorter slice would only
/// truncate what is written, never read or write out of bounds.
///
/// Four independent accumulators cover `4 · LANES` elements per iteration;
/// the last partial lane is padded with [`ElementLoss::PAD`] and masked.
#[inline(always)]
pub(crate) fn sweep<L: Lane, K: ElementLoss, const GRAD: bool, const VALUES: bool>(
    kernel: &K,
    pred: &[f32],
    target: &[f32],
    weight: Option<&[f32]>,
    scale: f32,
    grad: &mut [f32],
    values: &mut [f32],
) -> f32 {
    let n = pred.len();
    let w = L::LANES;
    let scale = L::splat(scale);
    let mut step = |i: usize| -> L {
        let p = L::load_or(from(pred, i), K::PAD);
        let t = L::load_or(from(target, i), K::PAD);
        let s = match weight {
            Some(ws) => scale * L::load_or(from(ws, i), 0.0),
            None => scale,
        };
        let (v, g) = kernel.eval(p, t);
        let v = v * s;
        if GRAD {
            (g * s).store(from_mut(grad, i));
        }
        if VALUES {
            v.store(from_mut(values, i));
        }
        v
    };
    let zero = L::splat(0.0);
    let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
    let mut i = 0;
    while i + 4 * w <= n {
        a0 = a0 + step(i);
        a1 = a1 + step(i + w);
        a2 = a2 + step(i + 2 * w);
        a3 = a3 + step(i + 3 * w);
        i += 4 * w;
    }
    while i + w <= n {
        a0 = a0 + step(i);
        i += w;
    }
    if i < n {
        let keep = L::iota().lt(L::splat((n - i) as f32));
        a1 = a1 + keep.select(step(i), zero);
    }
    ((a0 + a1) + (a2 + a3)).sum()
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
