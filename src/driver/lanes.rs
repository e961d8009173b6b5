//! The one tail rule: a run of `n` values in whole lanes, then one padded,
//! masked lane. Every row loop of the crate is a [`for_lanes`] body.

use crate::lane::{Lane, MAX_LANES};

/// `s[i..]`, empty past the end.
#[inline(always)]
pub(crate) fn from(s: &[f32], i: usize) -> &[f32] {
    s.get(i..).unwrap_or(&[])
}

/// `s[i..]`, empty past the end.
#[inline(always)]
pub(crate) fn from_mut(s: &mut [f32], i: usize) -> &mut [f32] {
    s.get_mut(i..).unwrap_or(&mut [])
}

/// The lane of `s` at `i`; lanes past the end of `s` are `pad`.
///
/// A short (tail) lane is built by a fixed-length gather, each value `s[j]`
/// or `pad`, which the compiler turns into one masked load where the target
/// has them (AVX-512), instead of `load_or`'s variable-length copy into a
/// stack array that the vector load then has to wait for. Measured on CTC's
/// 29-class rows at `f32x16` (a 13-wide tail per row), value only: 1.02 ms
/// with the copy, 0.72 ms with the gather (0.70 ms with the old
/// overlapping last lane).
#[inline(always)]
pub(crate) fn load<L: Lane>(s: &[f32], i: usize, pad: f32) -> L {
    // A whole lane is a slice of exactly `LANES` values: one bounds check,
    // no padding path in the loop body.
    if let Some(whole) = s.get(i..i.saturating_add(L::LANES)) {
        return L::load_or(whole, pad);
    }
    let s = from(s, i);
    let mut lane = [pad; MAX_LANES];
    for (j, v) in lane.iter_mut().enumerate().take(L::LANES) {
        *v = s.get(j).copied().unwrap_or(pad);
    }
    L::load_or(&lane, pad)
}

/// Stores `v` at `i` of `s`, dropping the lanes past its end.
#[inline(always)]
pub(crate) fn store<L: Lane>(v: L, s: &mut [f32], i: usize) {
    // As in `load`: a whole lane stores without the partial-store path.
    match s.get_mut(i..i.saturating_add(L::LANES)) {
        Some(whole) => v.store(whole),
        None => v.store(from_mut(s, i)),
    }
}

/// Stores `v` at `i` of `s` (`ADD = false`) or adds it to what `s` holds
/// there (`ADD = true`: an accumulating call, `grad += ∂L`), dropping the
/// lanes past its end either way.
#[inline(always)]
pub(crate) fn put<L: Lane, const ADD: bool>(v: L, s: &mut [f32], i: usize) {
    if ADD {
        store(load::<L>(s, i, 0.0) + v, s, i);
    } else {
        store(v, s, i);
    }
}

/// `v` where `keep` is set (every lane without a mask), else `other`.
#[inline(always)]
pub(crate) fn keep_or<L: Lane>(keep: Option<L>, v: L, other: L) -> L {
    match keep {
        Some(k) => k.select(v, other),
        None => v,
    }
}

/// Visits a run of `n` values in lanes of `L`: `body(i, slot, keep)` for
/// each lane starting at `i`.
///
/// Whole lanes come first, in groups of `U` with `slot = 0..U` (a body keeps
/// `U` independent accumulators, so consecutive lanes do not wait on each
/// other), then the whole lanes left over with `slot = 0`; `keep` is `None`
/// for all of them. If `n % LANES != 0` the last call starts at
/// `n - n % LANES` with `slot = 0` and `keep` the mask of its `n % LANES`
/// real values: its loads must be padded ([`load`]) and its stores go into
/// slices that end with the run ([`store`] writes only the real lanes).
#[inline(always)]
pub(crate) fn for_lanes<L: Lane, const U: usize>(
    n: usize,
    mut body: impl FnMut(usize, usize, Option<L>),
) {
    let w = L::LANES;
    let mut i = 0;
    if U == 1 {
        // The same calls in one loop with one copy of the body: a
        // single-accumulator pass (scale, shift, ...) measured 10-25%
        // faster than as a whole-lane loop plus a separate tail call.
        while i < n {
            let keep = (i + w > n).then(|| L::iota().lt(L::splat((n - i) as f32)));
            body(i, 0, keep);
            i += w;
        }
        return;
    }
    let whole = n - n % w;
    while i + U * w <= whole {
        // Spelled out for the usual `U`, so every slot is a constant and
        // the accumulators stay in registers (a `for slot in 0..U` loop
        // was left rolled, its accumulators in memory: 10% at 32000).
        match U {
            2 => {
                body(i, 0, None);
                body(i + w, 1, None);
            }
            4 => {
                body(i, 0, None);
                body(i + w, 1, None);
                body(i + 2 * w, 2, None);
                body(i + 3 * w, 3, None);
            }
            _ => {
                for slot in 0..U {
                    body(i + slot * w, slot, None);
                }
            }
        }
        i += U * w;
    }
    while i < whole {
        body(i, 0, None);
        i += w;
    }
    if whole < n {
        body(whole, 0, Some(L::iota().lt(L::splat((n - whole) as f32))));
    }
}
