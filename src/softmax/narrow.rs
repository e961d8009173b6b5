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
pub(super) struct BlockRows<L> {
    /// The sparse label as a float (exact below 2^24), -1 for dense rows.
    pub(super) label: L,
    /// `(1 - α) c_y`, or 0.
    pub(super) hot: L,
    /// `α / C` or 1 (0 for ignored rows).
    pub(super) spread: L,
    /// The sample weight.
    pub(super) weight: L,
    /// Mask of the rows that are not ignored (and, in the strided layout,
    /// that exist).
    pub(super) live: L,
}

/// The scalars of the `LANES` rows from `first`; when the kind says they
/// are uniform and there are no sample weights, only the labels are read.
#[inline(always)]
pub(super) fn block_rows<L: Lane, T: TargetKind>(
    kind: &T,
    first: usize,
    sample_weight: Option<&[f32]>,
) -> BlockRows<L> {
    let mut label = [-1.0f32; MAX_LANES];
    for (j, l) in label.iter_mut().enumerate().take(L::LANES) {
        if let Some(y) = kind.label(first + j) {
            *l = y as f32;
        }
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

/// How a block's layout holds its logits and gradient, one column (class
/// `k` of the block's `LANES` rows or positions) at a time: the transposed
/// stack buffer here, the caller's memory in the strided layout
/// ([`super::strided`]).
pub(super) trait BlockIo<L: Lane> {
    /// Column `k` of the logits (or log-probabilities).
    fn logits(&self, k: usize) -> L;
    /// Parks `e^(x - m)` of column `k` for the gradient pass.
    fn park(&mut self, k: usize, e: L);
    /// The value [`park`](Self::park)ed at column `k`, `e^(x_k - m)` (a
    /// layout that cannot park, an accumulating call's caller's gradient,
    /// computes it again from `m`).
    fn parked(&self, k: usize, m: L) -> L;
    /// Writes column `k` of the gradient.
    fn put_grad(&mut self, k: usize, g: L);
}

/// The transposed stack buffer as a block's logits and gradient.
struct Transposed<'b> {
    buf: &'b mut [f32; BLOCK],
}

impl<L: Lane> BlockIo<L> for Transposed<'_> {
    #[inline(always)]
    fn logits(&self, k: usize) -> L {
        column(self.buf, k)
    }
    #[inline(always)]
    fn park(&mut self, k: usize, e: L) {
        e.store(from_mut(self.buf, k * L::LANES));
    }
    #[inline(always)]
    fn parked(&self, k: usize, _m: L) -> L {
        column(self.buf, k)
    }
    #[inline(always)]
    fn put_grad(&mut self, k: usize, g: L) {
        g.store(from_mut(self.buf, k * L::LANES));
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
    let rows = block_rows::<L, T>(kind, index * L::LANES, sample_weight);
    let Scratch { buf, target } = scratch;
    transpose_in::<L>(x, classes, buf);
    if T::DENSE {
        transpose_in::<L>(t, classes, target);
    }
    let cols = BlockColumns { target };
    let mut io = Transposed { buf };
    let loss = columns::<L, T, true, GRAD>(kind, classes, &rows, &cols, &mut io, grad_scale);
    if GRAD {
        transpose_out::<L, ACC>(io.buf, classes, grad);
    }
    let mut losses = [0.0f32; MAX_LANES];
    loss.store(&mut losses);
    losses
}

/// The math of a block whose lane `j` is one row (or position), written
/// once for every layout: `rows` the per-row scalars, `cols` the per-class
/// inputs, `io` the logits and gradient. Returns the sample-weighted
/// losses (0 in rows that are not live) and, with `GRAD`, writes the
/// gradients times `grad_scale` through `io`. `LOGITS`: the columns are
/// logits (else log-probabilities: `l = -Σ w_k x_k`, gradient `-w_k`).
#[inline(always)]
pub(super) fn columns<L: Lane, T: TargetKind, const LOGITS: bool, const GRAD: bool>(
    kind: &T,
    classes: usize,
    rows: &BlockRows<L>,
    cols: &impl Columns<L>,
    io: &mut impl BlockIo<L>,
    grad_scale: f32,
) -> L {
    let zero = L::splat(0.0);
    // The max, then the exp pass (`e` parked for the gradient); the
    // label's logit is picked out by mask.
    let mut m = if LOGITS {
        L::splat(f32::NEG_INFINITY)
    } else {
        zero
    };
    if LOGITS {
        for k in 0..classes {
            m = m.max(io.logits(k));
        }
    }
    let mut sums = Sums::<L>::zero();
    let mut label_logit = zero;
    for k in 0..classes {
        let v = io.logits(k);
        if LOGITS {
            let e = exp_nonpositive(v - m);
            sums.s = sums.s + e;
            io.park(k, e);
        }
        if !T::DENSE {
            label_logit = rows.label.eq(L::splat(k as f32)).select(v, label_logit);
        }
        sums.add(v, m, kind.spread(cols, k), kind.entropy(cols, k));
    }
    let (loss, a) = if LOGITS {
        let sums = sums.with_total(kind);
        let m_minus_label = rows.hot.eq(zero).select(zero, m - label_logit);
        combine(rows.hot, m_minus_label, rows.spread, sums)
    } else {
        let label_term = rows.hot.eq(zero).select(zero, rows.hot * label_logit);
        (rows.spread.mul_add(sums.d, sums.entropy) - label_term, zero)
    };
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
            let e = if LOGITS { io.parked(k, m) } else { zero };
            let g = f.at(e, kind.spread(cols, k));
            let g = if T::DENSE {
                g
            } else {
                g - rows.label.eq(L::splat(k as f32)).select(f.hot, zero)
            };
            io.put_grad(k, rows.live.select(g, zero));
        }
    }
    loss
}
