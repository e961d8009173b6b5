//! The transposed layout for narrow rows (up to 32 classes): `LANES` rows
//! at a time, transposed through a stack buffer so lane `j` holds row `j`
//! of the block. Every lane does useful work, the max and sums need no
//! horizontal reduction and the per-row `ln` is one vector `ln` per block.
//! The math is the row layout's ([`super::kernel`]), on lanes of rows.

use super::kernel::{GradFactors, Sums, combine};
use super::targets::{Columns, TargetKind};
use crate::driver::batch::Row;
use crate::driver::lanes::{from, from_mut};
use crate::lane::{Lane, MAX_LANES};
use crate::math::exp_nonpositive;

/// The most classes the transposed path handles (its stack holds one lane
/// value per class).
const MAX_TRANSPOSED: usize = 32;

/// Whether rows of `classes` go through the transposed path with `lanes`
/// lanes: up to 32 classes. Measured (value + gradient, rows/s): at 8 lanes
/// it is 3-4x faster than the row kernel for 20 and 31 classes and 6x for
/// 10; at 16 lanes the row kernel catches up at 48 classes and wins at 64
/// (whole lanes, no tail). See `docs/notes/rows.md`.
pub(super) const fn transposed(classes: usize, lanes: usize) -> bool {
    // (`MAX_LANES` is 1 in a scalar build: never transposed there.)
    let wide = lanes.saturating_sub(1) > 0;
    wide && lanes <= MAX_LANES && classes <= MAX_TRANSPOSED
}

/// The stack buffer of one transposed block: `MAX_TRANSPOSED` columns of
/// `MAX_LANES` values.
const BLOCK: usize = MAX_LANES * MAX_TRANSPOSED;

/// The stack buffers of the transposed path: a block of logits (then its
/// `e` values, then its gradient) and a block of dense targets.
pub(super) struct Scratch {
    buf: [f32; BLOCK],
    target: [f32; BLOCK],
}

impl Scratch {
    /// Zeroed buffers (once per call, not per block).
    pub(super) fn new() -> Self {
        Scratch {
            buf: [0.0; BLOCK],
            target: [0.0; BLOCK],
        }
    }
}

/// Transposes `LANES` rows of `stride` values into `buf`, column `k` at
/// `buf[k · LANES..]`. The whole block is written before any column is
/// loaded as a lane value, so the loads do not wait on the scalar stores
/// (a store-forwarding stall that cost a quarter of the time when each
/// column was gathered just before its use).
#[inline(always)]
fn transpose_in<L: Lane>(block: &[f32], stride: usize, buf: &mut [f32; BLOCK]) {
    // `max(1)`: never 0 after validation; it keeps `chunks_exact`'s
    // assertion (a panic path) out of the build.
    for (j, row) in block.chunks_exact(stride.max(1)).take(L::LANES).enumerate() {
        for (v, b) in row
            .iter()
            .zip(from_mut(buf, j).iter_mut().step_by(L::LANES))
        {
            *b = *v;
        }
    }
}

/// The inverse of [`transpose_in`]: column `k` of `buf` back to element `k`
/// of every row of `block` (added to it with `ACC`).
#[inline(always)]
fn transpose_out<L: Lane, const ACC: bool>(buf: &[f32; BLOCK], stride: usize, block: &mut [f32]) {
    for (j, row) in block
        .chunks_exact_mut(stride.max(1))
        .take(L::LANES)
        .enumerate()
    {
        for (o, b) in row.iter_mut().zip(from(buf, j).iter().step_by(L::LANES)) {
            *o = if ACC { *o + *b } else { *b };
        }
    }
}

/// Column `k` of a transposed block.
#[inline(always)]
fn column<L: Lane>(buf: &[f32; BLOCK], k: usize) -> L {
    L::load_or(from(buf, k * L::LANES), 0.0)
}

/// The transposed view of a block: class `k` of every row.
struct BlockColumns<'b> {
    target: &'b [f32; BLOCK],
}

impl<L: Lane> Columns<L> for BlockColumns<'_> {
    #[inline(always)]
    fn class_weight(&self, c: &[f32], k: usize) -> L {
        L::splat(c.get(k).copied().unwrap_or(0.0))
    }
    #[inline(always)]
    fn target(&self, k: usize) -> L {
        column(self.target, k)
    }
}

/// The per-row scalars of a block, one row per lane.
#[derive(Clone, Copy, Debug)]
struct BlockRows<L> {
    /// The sparse label as a float (exact below 2^24), -1 for dense rows.
    label: L,
    /// `(1 - α) c_y`, or 0.
    hot: L,
    /// `α / C` or 1 (0 for ignored rows).
    spread: L,
    /// The sample weight.
    weight: L,
    /// Mask of the rows that are not ignored.
    live: L,
}

/// The scalars of the `LANES` rows from `first`; when the kind says they
/// are uniform and there are no sample weights, only the labels are read.
#[inline(always)]
fn block_rows<L: Lane, T: TargetKind>(
    kind: &T,
    first: usize,
    sample_weight: Option<&[f32]>,
) -> BlockRows<L> {
    let mut label = [-1.0f32; MAX_LANES];
    let labels = kind.labels().get(first..).unwrap_or(&[]);
    for (l, &y) in label.iter_mut().zip(labels.iter().take(L::LANES)) {
        *l = y as f32;
    }
    let label = L::load_or(&label, -1.0);
    if sample_weight.is_none()
        && let Some(r) = kind.uniform()
    {
        return BlockRows {
            label,
            hot: L::splat(r.hot),
            spread: L::splat(r.spread),
            weight: L::splat(1.0),
            live: L::splat(0.0).eq(L::splat(0.0)),
        };
    }
    let mut hot = [0.0f32; MAX_LANES];
    let mut spread = [0.0f32; MAX_LANES];
    let mut weight = [0.0f32; MAX_LANES];
    let mut live = [0.0f32; MAX_LANES];
    for (j, (((h, sp), w), lv)) in hot
        .iter_mut()
        .zip(spread.iter_mut())
        .zip(weight.iter_mut())
        .zip(live.iter_mut())
        .take(L::LANES)
        .enumerate()
    {
        let i = first + j;
        let r = kind.row(i);
        *h = r.hot;
        *sp = r.spread;
        *w = sample_weight.and_then(|s| s.get(i).copied()).unwrap_or(1.0);
        *lv = if r.ignored { 0.0 } else { 1.0 };
    }
    BlockRows {
        label,
        hot: L::load_or(&hot, 0.0),
        spread: L::load_or(&spread, 0.0),
        weight: L::load_or(&weight, 0.0),
        live: L::load_or(&live, 0.0).gt(L::splat(0.0)),
    }
}

/// `LANES` rows at once, transposed: `block.index` counts blocks of
/// `LANES` rows, `block.x = [logits, target]` (`LANES · classes` values
/// each, the target empty for sparse labels), lane `j` is row
/// `LANES · index + j`. Returns the rows' sample-weighted losses in the
/// first `LANES` entries and writes their gradients times `grad_scale`
/// into `block.grad` (adds them with `ACC`).
#[inline(always)]
pub(super) fn block<L: Lane, T: TargetKind, const GRAD: bool, const ACC: bool>(
    kind: &T,
    classes: usize,
    block: Row<'_, 2, 1>,
    sample_weight: Option<&[f32]>,
    grad_scale: f32,
    scratch: &mut Scratch,
) -> [f32; MAX_LANES] {
    let Row {
        index,
        x: [x, t],
        grad: [grad],
        ..
    } = block;
    let first = index * L::LANES;
    let zero = L::splat(0.0);
    let rows = block_rows::<L, T>(kind, first, sample_weight);
    // Columns of logits, the max, then the exp pass (`e` replaces the
    // logits in the buffer); the label's logit is picked out by mask.
    let Scratch { buf, target } = scratch;
    transpose_in::<L>(x, classes, buf);
    if T::DENSE {
        transpose_in::<L>(t, classes, target);
    }
    let cols = BlockColumns { target };
    let mut m = L::splat(f32::NEG_INFINITY);
    for k in 0..classes {
        m = m.max(column::<L>(buf, k));
    }
    let mut sums = Sums::<L>::zero();
    let mut label_logit = zero;
    for k in 0..classes {
        let v = column::<L>(buf, k);
        let e = exp_nonpositive(v - m);
        sums.s = sums.s + e;
        if !T::DENSE {
            label_logit = rows.label.eq(L::splat(k as f32)).select(v, label_logit);
        }
        sums.add(v, m, kind.spread(&cols, k), kind.entropy(&cols, k));
        e.store(from_mut(buf, k * L::LANES));
    }
    let sums = sums.with_total(kind);
    let m_minus_label = rows.hot.eq(zero).select(zero, m - label_logit);
    let (loss, a) = combine(rows.hot, m_minus_label, rows.spread, sums);
    let loss = rows.live.select(loss * rows.weight, zero);
    if GRAD {
        let scale = rows.weight * L::splat(grad_scale);
        let f = GradFactors::new(rows.hot, rows.spread, a, scale);
        let f = GradFactors {
            a: rows.live.select(f.a, zero),
            b: rows.live.select(f.b, zero),
            hot: rows.live.select(f.hot, zero),
        };
        for k in 0..classes {
            let g = f.at(column::<L>(buf, k), kind.spread(&cols, k));
            let g = if T::DENSE {
                g
            } else {
                g - rows.label.eq(L::splat(k as f32)).select(f.hot, zero)
            };
            rows.live.select(g, zero).store(from_mut(buf, k * L::LANES));
        }
        transpose_out::<L, ACC>(buf, classes, grad);
    }
    let mut losses = [0.0f32; MAX_LANES];
    loss.store(&mut losses);
    losses
}
