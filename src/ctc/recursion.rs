//! The recursion steps: one forward (`α`) and one backward (`β`) step over
//! a column of states, vectorised along the states, and the window of
//! states ([`Units`]) a step computes.
//!
//! A column is `2H` values: the `S + 1` blank states (padded with `-∞` to
//! `H`), then a `-∞` pad and the `S` label states (padded to `H`). `H` is a
//! multiple of the widest lane plus one lane, so every load and store here
//! is a whole lane and no tail rule is needed.

use crate::driver::lanes::{load, store};
use crate::lane::Lane;
use crate::math::{exp_nonpositive, log_add_exp};

const NEG_INF: f32 = f32::NEG_INFINITY;

/// Sets `column` to `-∞` outside `[start, end)`.
#[inline(always)]
fn fill_outside(column: &mut [f32], start: usize, end: usize) {
    if let Some(below) = column.get_mut(..start) {
        below.fill(NEG_INF);
    }
    if let Some(above) = column.get_mut(end..) {
        above.fill(NEG_INF);
    }
}

/// `m`, or 0 where `m` is `±∞` (an all `-∞` column keeps its values).
#[inline(always)]
pub(super) fn finite_or_zero(m: f32) -> f32 {
    if m.is_infinite() { 0.0 } else { m }
}

/// The per-step inputs of a recursion step: the emissions `e` (`e[0]` the
/// blank's, `e[j]` label `j - 1`'s, `-∞` past `S`), the skip mask (`skip[j]`:
/// label `j - 1` differs from label `j - 2`) and the padded column length
/// `H`.
pub(super) struct Columns<'c> {
    pub(super) e: &'c [f32],
    pub(super) skip: &'c [f32],
    pub(super) h: usize,
    /// The units (state pairs) the step computes: `from` (rounded down to a
    /// lane) through `to`; see [`Units`].
    pub(super) units: Units,
}

/// The state pairs ("units") a step must compute: those on some alignment
/// at that step, plus a margin of one. A forward unit `k` is blank `k` and
/// label `k` (the states `2k`, `2k + 1` of the extended label), a backward
/// unit `k` is blank `k` and label `k - 1` (`2k`, `2k - 1`). At step `t` of
/// `T`, a state `s` of `L = 2S + 1` is on an alignment only if `s <= 2t + 1`
/// (reachable from the start) and `s >= L - 2(T - t)` (can reach the end).
///
/// Skipping the rest is exact: lanes above `to` are stored as `-∞` (their
/// states are unreachable); a computed value reads only values computed at
/// the previous step, except the lowest forward lane, whose `label from`
/// input is read as `-∞` (that lane is below the window, so only values
/// that cannot reach the end depend on it); and states below the window
/// get exact `β = -∞`, so their posteriors are 0 whatever `α` holds there.
#[derive(Clone, Copy)]
pub(super) struct Units {
    from: usize,
    pub(super) to: usize,
}

impl Units {
    /// The forward units of step `t` of `steps`, for `S = s`.
    pub(super) fn alpha(t: usize, steps: usize, s: usize) -> Units {
        Units {
            from: (s + t).saturating_sub(steps + 1),
            to: s.min(t + 1),
        }
    }
    /// The backward units of step `t` of `steps`, for `S = s`.
    pub(super) fn beta(t: usize, steps: usize, s: usize) -> Units {
        Units {
            from: (s + t).saturating_sub(steps + 1),
            to: s.min(t + 2),
        }
    }
    /// The first lane-aligned unit.
    #[inline(always)]
    pub(super) fn start<L: Lane>(self) -> usize {
        self.from - self.from % L::LANES
    }
    /// For the lane starting at unit `k`: `None` if all its units are at
    /// most `to`, else the mask of those that are.
    #[inline(always)]
    pub(super) fn top<L: Lane>(self, k: usize) -> Option<L> {
        if k + L::LANES <= self.to + 1 {
            None
        } else {
            Some((L::iota() + L::splat(k as f32)).le(L::splat(self.to as f32)))
        }
    }
}

/// One step of the forward recursion: `prev` and `cur` are columns of
/// `2H` values, the `S + 1` blank states (padded to `H`) then a `-∞` pad and
/// the `S` label states (padded to `H`). Stores `α_t - offset` given
/// `prev = α_{t-1} - offset + m`; returns the maximum stored.
#[inline(always)]
pub(super) fn alpha_step<L: Lane>(
    prev: &[f32],
    cur: &mut [f32],
    columns: &Columns<'_>,
    m: f32,
) -> f32 {
    let Columns {
        e, skip, h, units, ..
    } = *columns;
    let (prev_blank, prev_label) = prev.split_at(h.min(prev.len()));
    let (cur_blank, cur_label) = cur.split_at_mut(h.min(cur.len()));
    let prev_label = prev_label.get(..h).unwrap_or(prev_label);
    let cur_label = cur_label.get_mut(..h).unwrap_or(&mut []);
    // The units this step skips are -inf: blanks below `start` and from the
    // end of the last lane on, labels up to `start` (the pad included) and
    // past the last lane.
    let start = units.start::<L>();
    let end = (units.to / L::LANES + 1) * L::LANES;
    fill_outside(cur_blank, start, end);
    fill_outside(cur_label, start + 1, end + 1);
    let e_blank = L::splat(e.first().copied().unwrap_or(f32::NAN));
    let m = L::splat(m);
    let mut max = L::splat(NEG_INF);
    let mut k = start;
    while k <= units.to {
        // Blank state k and label state k (label k-1 of the sequence is at
        // label index k; index 0 is the pad).
        let blank = load::<L>(prev_blank, k, NEG_INF);
        let mut before = load::<L>(prev_label, k, NEG_INF);
        if k == start && k > 0 {
            // Label `start` belongs to a unit the previous step may have
            // skipped: read it as -∞ always (only unit `start`, below the
            // window, depends on it), so every build and entry point
            // computes the same values.
            before = L::iota()
                .eq(L::splat(0.0))
                .select(L::splat(NEG_INF), before);
        }
        let label = load::<L>(prev_label, k + 1, NEG_INF);
        let p = log_add_exp(blank, before);
        let mut new_blank = e_blank + (p - m);
        let q = load::<L>(skip, k + 1, 0.0).select(p, blank);
        let e_label = load::<L>(e, k + 1, NEG_INF);
        let mut new_label = e_label + (log_add_exp(label, q) - m);
        if let Some(keep) = units.top::<L>(k) {
            new_blank = keep.select(new_blank, L::splat(NEG_INF));
            new_label = keep.select(new_label, L::splat(NEG_INF));
        }
        store(new_blank, cur_blank, k);
        store(new_label, cur_label, k + 1);
        max = max.max(new_blank).max(new_label);
        k += L::LANES;
    }
    max.max_lane()
}

/// What a backward step reports.
pub(super) struct BetaSums {
    /// The blank states' unnormalised posteriors, summed.
    pub(super) blank: f32,
    /// All states' unnormalised posteriors, summed: the normaliser.
    pub(super) total: f32,
    /// The maximum of the stored `β` column.
    pub(super) max: f32,
}

/// One step of the backward recursion, in place on the `β` column (same
/// layout as `α`, stored relative to an offset, `m` its maximum): computes
/// `β̂` of the step less `m`, the unnormalised posteriors
/// `exp(α + β̂ + shift)` (label ones into `gamma`, index `j` for label
/// `j - 1`), then `β = e + β̂`.
#[inline(always)]
pub(super) fn beta_step<L: Lane>(
    beta: &mut [f32],
    alpha: &[f32],
    columns: &Columns<'_>,
    m: f32,
    shift: f32,
    gamma: &mut [f32],
) -> BetaSums {
    let Columns {
        e, skip, h, units, ..
    } = *columns;
    let (beta_blank, beta_label) = beta.split_at_mut(h.min(beta.len()));
    let (alpha_blank, alpha_label) = alpha.split_at(h.min(alpha.len()));
    let alpha_label = alpha_label.get(..h).unwrap_or(alpha_label);
    let e_blank = L::splat(e.first().copied().unwrap_or(f32::NAN));
    let (m, shift) = (L::splat(m), L::splat(shift));
    let zero = L::splat(0.0);
    let (mut blank_acc, mut label_acc) = (zero, zero);
    let mut max = L::splat(NEG_INF);
    let mut k = units.start::<L>();
    while k <= units.to {
        let blank = load::<L>(beta_blank, k, NEG_INF);
        let label = load::<L>(beta_label, k, NEG_INF);
        let after = load::<L>(beta_label, k + 1, NEG_INF);
        let r = log_add_exp(blank, after);
        let q = load::<L>(skip, k + 1, 0.0).select(r, blank);
        let l = log_add_exp(label, q) - m;
        let r = r - m;
        let mut gb = exp_nonpositive(load::<L>(alpha_blank, k, NEG_INF) + r + shift);
        let mut gl = exp_nonpositive(load::<L>(alpha_label, k, NEG_INF) + l + shift);
        let mut new_blank = e_blank + r;
        let mut new_label = load::<L>(e, k, NEG_INF) + l;
        if let Some(keep) = units.top::<L>(k) {
            gb = keep.select(gb, zero);
            gl = keep.select(gl, zero);
            new_blank = keep.select(new_blank, L::splat(NEG_INF));
            new_label = keep.select(new_label, L::splat(NEG_INF));
        }
        blank_acc = blank_acc + gb;
        label_acc = label_acc + gl;
        store(gl, gamma, k);
        store(new_blank, beta_blank, k);
        store(new_label, beta_label, k);
        max = max.max(new_blank).max(new_label);
        k += L::LANES;
    }
    if let Some(pad) = beta_label.first_mut() {
        *pad = NEG_INF;
    }
    let blank = blank_acc.sum();
    BetaSums {
        blank,
        total: blank + label_acc.sum(),
        max: max.max_lane(),
    }
}
