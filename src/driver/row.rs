//! The row primitives, each written once on the tail rule of
//! [`for_lanes`]: the maximum, the exp-sum, scaling, shifting and dot
//! products. A row is a slice; outputs are slices of the row's length.

use super::lanes::{for_lanes, keep_or, load, store};
use crate::lane::Lane;
use crate::math::exp_nonpositive;

/// The maximum of a row (`-∞` for an empty one); four accumulators.
#[inline(always)]
pub(crate) fn max<L: Lane>(x: &[f32]) -> f32 {
    let mut m = [L::splat(f32::NEG_INFINITY); 4];
    for_lanes::<L, 4>(
        x.len(),
        #[inline(always)]
        |i, slot, _| {
            if let Some(a) = m.get_mut(slot) {
                *a = a.max(load(x, i, f32::NEG_INFINITY));
            }
        },
    );
    let [a, b, c, d] = m;
    a.max(b).max(c.max(d)).max_lane()
}

/// What a family adds to the exp pass: called with each lane of the row
/// (`x`, padded with the row maximum past its end), its accumulator slot
/// (0 or 1) and the tail mask.
pub(crate) trait ExpVisit<L: Lane> {
    /// Accumulates the family's own sums for the lane at `i`.
    fn visit(&mut self, i: usize, slot: usize, x: L, keep: Option<L>);
}

/// The plain exp pass: nothing besides `Σ e^(x - m)`.
impl<L: Lane> ExpVisit<L> for () {
    #[inline(always)]
    fn visit(&mut self, _: usize, _: usize, _: L, _: Option<L>) {}
}

/// The exp pass over one row with maximum `m`: returns `Σ_k e^(x_k - m)`
/// (with [`exp_nonpositive`], one `exp` per value, two accumulators) and
/// the maximum of `next`; with `STORE` writes `e^(x_k - m)` into `out`;
/// hands every lane to `extra`.
///
/// `next` is the following row (same length) or empty: its maximum is read
/// in the same loop, so it streams in from memory while this row is
/// exponentiated from L1 (12% faster at 4096×1000 than separate passes).
#[inline(always)]
pub(crate) fn exp_sum<L: Lane, V: ExpVisit<L>, const STORE: bool>(
    x: &[f32],
    m: f32,
    out: &mut [f32],
    next: &[f32],
    extra: &mut V,
) -> (f32, f32) {
    let lo = f32::NEG_INFINITY;
    let has_next = !next.is_empty();
    let ml = L::splat(m);
    let zero = L::splat(0.0);
    let mut sums = [zero; 2];
    let mut next_max = [L::splat(lo); 2];
    for_lanes::<L, 2>(
        x.len(),
        #[inline(always)]
        |i, slot, keep| {
            let v: L = load(x, i, m);
            let e = keep_or(keep, exp_nonpositive(v - ml), zero);
            if STORE {
                store(e, out, i);
            }
            if let Some(s) = sums.get_mut(slot) {
                *s = *s + e;
            }
            extra.visit(i, slot, v, keep);
            if has_next && let Some(n) = next_max.get_mut(slot) {
                *n = n.max(load(next, i, lo));
            }
        },
    );
    let [s0, s1] = sums;
    let [n0, n1] = next_max;
    ((s0 + s1).sum(), n0.max(n1).max_lane())
}

/// `g = g · a - b · w_k` over one row, `w(i)` the lane of weights at `i`
/// (with `SUBTRACT = false`, just `g = g · a`).
#[inline(always)]
pub(crate) fn scale_sub<L: Lane, const SUBTRACT: bool>(
    g: &mut [f32],
    a: f32,
    b: f32,
    w: impl Fn(usize) -> L,
) {
    let (a, b) = (L::splat(a), L::splat(b));
    for_lanes::<L, 1>(
        g.len(),
        #[inline(always)]
        |i, _, _| {
            let v = load::<L>(g, i, 0.0) * a;
            let v = if SUBTRACT { v - b * w(i) } else { v };
            store(v, g, i);
        },
    );
}

/// `g = g · a` over one row.
#[inline(always)]
pub(crate) fn scale<L: Lane>(g: &mut [f32], a: f32) {
    scale_sub::<L, false>(
        g,
        a,
        0.0,
        #[inline(always)]
        |_| L::splat(0.0),
    );
}

/// `g += a · e^(x - m)` over one row (`m` at least the row's maximum):
/// an accumulating call's softmax term, computed again where it could not
/// be parked in the caller's gradient.
#[inline(always)]
pub(crate) fn add_exp<L: Lane>(g: &mut [f32], x: &[f32], m: f32, a: f32) {
    let (ml, a) = (L::splat(m), L::splat(a));
    for_lanes::<L, 1>(
        g.len(),
        #[inline(always)]
        |i, _, _| {
            let e = exp_nonpositive(load::<L>(x, i, m) - ml);
            store(e.mul_add(a, load(g, i, 0.0)), g, i);
        },
    );
}

/// `out = (x - m) - l` over one row (`log_softmax` with `l = ln Σ e^(x-m)`).
#[inline(always)]
pub(crate) fn shift<L: Lane>(x: &[f32], m: f32, l: f32, out: &mut [f32]) {
    let (m, l) = (L::splat(m), L::splat(l));
    for_lanes::<L, 1>(
        x.len(),
        #[inline(always)]
        |i, _, _| {
            store((load::<L>(x, i, 0.0) - m) - l, out, i);
        },
    );
}

/// `K` dot products over a run of `n` values: `terms(i)` gives the `K`
/// factor pairs `(a, b)` of the lane at `i` (loaded padded with 0); returns
/// `Σ a b` for each, with the tail lane's `a` masked to 0 (so a pad that
/// is not 0 after arithmetic, such as `0 - 0 + ε`, adds nothing).
#[inline(always)]
pub(crate) fn dots<L: Lane, const K: usize>(
    n: usize,
    terms: impl Fn(usize) -> [(L, L); K],
) -> [f32; K] {
    let zero = L::splat(0.0);
    let mut acc = [zero; K];
    for_lanes::<L, 1>(
        n,
        #[inline(always)]
        |i, _, keep| {
            for (s, (a, b)) in acc.iter_mut().zip(terms(i)) {
                *s = keep_or(keep, a, zero).mul_add(b, *s);
            }
        },
    );
    acc.map(Lane::sum)
}
