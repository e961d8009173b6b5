//! The strided class axis (PyTorch's K-dimensional `cross_entropy`, e.g.
//! segmentation logits `N × C × H × W`): sample `i` holds `C × S` values,
//! class `k` of position `s` at `k S + s`, so the `S` positions of one class
//! are contiguous. A lane holds `LANES` consecutive positions of one sample
//! and walks the classes: the math is the transposed layout's
//! ([`super::narrow::columns`]) with the caller's memory as its columns: no
//! transpose, any number of classes, the max and sums without horizontal
//! reductions. `e^(x - m)` is parked in the gradient (the caller's slice)
//! between the exp and the gradient pass (an accumulating call, whose
//! gradient already holds the caller's values, computes it again); a last, partial lane of positions
//! is padded on load, masked out of the sums and stored partially.

use super::narrow::{BlockIo, block_rows, columns};
use super::plan::Plan;
use super::targets::{Columns, TargetKind};
use crate::driver::lanes::{load, put, store};
use crate::driver::{Outputs, Samples};
use crate::lane::{Lane, MAX_LANES};
use crate::math::exp_nonpositive;
use core::ops::Range;

/// The positions `s0..s0 + count` of class `k` in a sample of `spatial`
/// positions.
#[inline(always)]
fn span(k: usize, spatial: usize, s0: usize, count: usize) -> Range<usize> {
    let start = k * spatial + s0;
    start..start + count
}

/// A lane of positions of one sample: its logits, and with `GRAD` its
/// gradient (where `e^(x - m)` is parked, unless `ACC`: then the gradient is
/// added to the caller's).
struct StridedIo<'a, const GRAD: bool, const ACC: bool> {
    x: &'a [f32],
    grad: &'a mut [f32],
    spatial: usize,
    s0: usize,
    count: usize,
}

impl<L: Lane, const GRAD: bool, const ACC: bool> BlockIo<L> for StridedIo<'_, GRAD, ACC> {
    #[inline(always)]
    fn logits(&self, k: usize) -> L {
        let r = span(k, self.spatial, self.s0, self.count);
        load(self.x.get(r).unwrap_or(&[]), 0, 0.0)
    }
    #[inline(always)]
    fn park(&mut self, k: usize, e: L) {
        if GRAD && !ACC {
            let r = span(k, self.spatial, self.s0, self.count);
            store(e, self.grad.get_mut(r).unwrap_or(&mut []), 0);
        }
    }
    #[inline(always)]
    fn parked(&self, k: usize, m: L) -> L {
        if ACC {
            exp_nonpositive(BlockIo::<L>::logits(self, k) - m)
        } else {
            let r = span(k, self.spatial, self.s0, self.count);
            load(self.grad.get(r).unwrap_or(&[]), 0, 0.0)
        }
    }
    #[inline(always)]
    fn put_grad(&mut self, k: usize, g: L) {
        if GRAD {
            let r = span(k, self.spatial, self.s0, self.count);
            put::<L, ACC>(g, self.grad.get_mut(r).unwrap_or(&mut []), 0);
        }
    }
}

/// The per-class inputs of a lane of positions: the class weight of class
/// `k` (one per lane) and the dense target's positions.
struct StridedColumns<'a> {
    target: &'a [f32],
    spatial: usize,
    s0: usize,
    count: usize,
}

impl<L: Lane> Columns<L> for StridedColumns<'_> {
    #[inline(always)]
    fn class_weight(&self, c: &[f32], k: usize) -> L {
        L::splat(c.get(k).copied().unwrap_or(0.0))
    }
    #[inline(always)]
    fn target(&self, k: usize) -> L {
        let r = span(k, self.spatial, self.s0, self.count);
        load(self.target.get(r).unwrap_or(&[]), 0, 0.0)
    }
}

/// Every position of a batch laid out `n × C × S` with targets of kind `T`
/// (`target` the dense targets in the same layout, or empty), in lanes of
/// positions; each position's sample-weighted loss goes into the
/// per-sample output in order (`i S + s`). Returns their sum.
#[inline(always)]
pub(super) fn batch<
    L: Lane,
    T: TargetKind,
    const LOGITS: bool,
    const GRAD: bool,
    const ACC: bool,
>(
    plan: &Plan<'_>,
    kind: T,
    logits: &[f32],
    target: &[f32],
    out: Outputs<'_>,
) -> f32 {
    let Plan {
        classes,
        spatial,
        sample_weight,
        grad_scale,
        ..
    } = *plan;
    let Outputs {
        grad,
        values,
        grad_scale: factor,
    } = out;
    // The gradient's factor: the reduction's, times an accumulating call's.
    let grad_scale = grad_scale * factor;
    let mut samples = Samples::new(values);
    // `max(1)`: never 0 after validation; it keeps `chunks_exact`'s
    // assertion (a panic path) out of the build.
    let width = (classes * spatial).max(1);
    let mut grads = grad.chunks_exact_mut(width);
    for (i, x) in logits.chunks_exact(width).enumerate() {
        let t = target.get(i * width..(i + 1) * width).unwrap_or(&[]);
        let g = if GRAD {
            grads.next().unwrap_or(&mut [])
        } else {
            &mut []
        };
        let mut io = StridedIo::<GRAD, ACC> {
            x,
            grad: g,
            spatial,
            s0: 0,
            count: 0,
        };
        let mut s0 = 0;
        while s0 < spatial {
            let count = (spatial - s0).min(L::LANES);
            let mut rows = block_rows::<L, T>(&kind, i * spatial + s0, sample_weight);
            rows.live = rows.live.and(L::iota().lt(L::splat(count as f32)));
            let cols = StridedColumns {
                target: t,
                spatial,
                s0,
                count,
            };
            io.s0 = s0;
            io.count = count;
            let loss =
                columns::<L, T, LOGITS, GRAD>(&kind, classes, &rows, &cols, &mut io, grad_scale);
            let mut losses = [0.0f32; MAX_LANES];
            loss.store(&mut losses);
            for v in losses.iter().take(count) {
                samples.push(*v);
            }
            s0 += L::LANES;
        }
    }
    samples.total()
}
