//! The caller's workspace, carved into named regions for one sequence.
//!
//! A column holds the `H` blank states then the `H` label states of one
//! step (`S + 1` real ones each, then `-∞` padding), so every load and store
//! of the recursion is a whole lane of any width. Two layouts share the
//! first regions:
//!
//! ```text
//! value only        skip H | emissions H     | α: 2 columns (rolling)
//! value + gradient  skip H | emissions T × H | softmax 1/Σ T | α offsets T
//!                   | α: T + 1 columns | β: 1 column | posteriors H
//! ```
//!
//! Nothing depends on the workspace's previous contents: every region is
//! written before it is read.

use crate::error::Error;
use crate::lane::MAX_LANES;

/// The lane width the workspace's columns are padded to: the widest lane
/// this build can pick (16 where the build can use AVX-512 lanes, 1 on
/// targets without SIMD and with the `force-scalar` feature; see the
/// README's lane table).
///
/// ```
/// use loss_kernels::ctc::WORKSPACE_LANES;
/// assert!(WORKSPACE_LANES.is_power_of_two() && WORKSPACE_LANES <= 16);
/// ```
pub const WORKSPACE_LANES: usize = MAX_LANES;

/// The `f32` workspace a value-and-gradient CTC call needs
/// ([`Ctc::value_and_grad`](super::Ctc::value_and_grad),
/// [`Ctc::per_sample_and_grad`](super::Ctc::per_sample_and_grad)), for
/// the longest input length `T` and the longest label length `S` of the
/// batch (so `workspace_len(t, max_len)` of the padded shapes always
/// suffices):
///
/// ```text
/// workspace_len(T, S) = 3 H (T + 2) + 2 T,   H = W ⌈(S + 1) / W⌉ + W
/// ```
///
/// with `W` = [`WORKSPACE_LANES`]. `H` is the padded length of a column of
/// blank (or label) states: the `S + 1` states rounded up to a whole lane
/// plus one lane, so every vector load and store of the recursion is a
/// full lane. The workspace holds, for the sequence being processed, the
/// full `α` matrix (`(T + 1) 2H`), the gathered emissions (`T H`), the
/// per-step softmax normalisers and `α` offsets (`2 T`), the rolling `β`
/// column (`2H`), the skip mask and a posterior column (`2H`). A value-only
/// call needs less: [`value_workspace_len`]. The arithmetic saturates: a
/// saturated length is one no slice can hold, and the call returns
/// [`Error::WorkspaceTooSmall`].
///
/// ```
/// use loss_kernels::ctc::{WORKSPACE_LANES as W, workspace_len};
/// // S = 40: H = W ⌈41 / W⌉ + W
/// let h = 41usize.div_ceil(W) * W + W;
/// assert_eq!(workspace_len(150, 40), 3 * h * 152 + 2 * 150);
/// ```
pub const fn workspace_len(t: usize, max_label_len: usize) -> usize {
    let h = column_len(max_label_len);
    h.saturating_mul(3)
        .saturating_mul(t.saturating_add(2))
        .saturating_add(t.saturating_mul(2))
}

/// The `f32` workspace a value-only CTC call needs ([`Ctc::value`],
/// [`Ctc::per_sample`]) for the longest label length `S` of the batch,
/// whatever the input lengths: `6 H` (`H` as in [`workspace_len`]), the
/// skip mask, one emission column and two rolling `α` columns of `2H`.
/// Never more than [`workspace_len`] of the same `S` and any `T`.
///
/// [`Ctc::value`]: super::Ctc::value
/// [`Ctc::per_sample`]: super::Ctc::per_sample
///
/// ```
/// use loss_kernels::ctc::{value_workspace_len, workspace_len};
/// assert!(value_workspace_len(4) <= workspace_len(0, 4));
/// assert!(value_workspace_len(4) < workspace_len(12, 4) / 4);
/// ```
pub const fn value_workspace_len(max_label_len: usize) -> usize {
    column_len(max_label_len).saturating_mul(6)
}

/// `H`: the padded length of a column of `S + 1` states (see
/// [`workspace_len`]), saturating.
pub(super) const fn column_len(s: usize) -> usize {
    column_len_at(s, MAX_LANES)
}

/// `H` for columns padded to `lanes`: `S + 1` rounded up to a multiple of
/// `lanes`, plus one lane. A multiple of every lane width that divides
/// `lanes`.
const fn column_len_at(s: usize, lanes: usize) -> usize {
    s.saturating_add(lanes)
        .saturating_div(lanes)
        .saturating_mul(lanes)
        .saturating_add(lanes)
}

/// Checks that `workspace` holds `need` values, as `sized_by` computes them.
pub(super) fn check(workspace: &[f32], need: usize, sized_by: &'static str) -> Result<(), Error> {
    if workspace.len() < need {
        return Err(Error::WorkspaceTooSmall {
            argument: "workspace",
            sized_by,
            expected: need,
            found: workspace.len(),
        });
    }
    Ok(())
}

/// Splits the first `len` values off `rest` (fewer if it is shorter).
#[inline(always)]
fn carve<'w>(rest: &mut &'w mut [f32], len: usize) -> &'w mut [f32] {
    let all = core::mem::take(rest);
    let (head, tail) = all.split_at_mut(len.min(all.len()));
    *rest = tail;
    head
}

/// What one forward step works on.
pub(super) struct Step<'c> {
    /// The skip mask (`skip[j]`: label `j - 1` may follow label `j - 2`).
    pub(super) skip: &'c [f32],
    /// The step's emission column, to be written.
    pub(super) emissions: &'c mut [f32],
    /// The previous `α` column.
    pub(super) prev: &'c [f32],
    /// The step's `α` column, to be written.
    pub(super) cur: &'c mut [f32],
}

/// Where the forward sweep keeps its columns: the two layouts.
pub(super) trait ForwardColumns {
    /// Whether the sweep parks each step's `e^(x - max)` row of the logits
    /// in the gradient (for the backward sweep to rescale).
    const PARK: bool;
    /// The skip mask and the `α` column before step 0, to be written.
    fn start(&mut self) -> (&mut [f32], &mut [f32]);
    /// The regions of step `step`.
    fn step(&mut self, step: usize) -> Step<'_>;
    /// Keeps step `step`'s `α` offset and softmax normaliser `Σ e^(x-max)`.
    fn record(&mut self, step: usize, offset: f32, sum: f32);
    /// The `α` column after the last of `steps` steps.
    fn last(&self, steps: usize) -> &[f32];
}

/// The value-only layout: `α` in two rolling columns, one emission column.
pub(super) struct ValueColumns<'w> {
    skip: &'w mut [f32],
    emissions: &'w mut [f32],
    /// The columns of the even steps (and of the start).
    even: &'w mut [f32],
    /// The columns of the odd steps.
    odd: &'w mut [f32],
}

impl<'w> ValueColumns<'w> {
    /// Carves the layout for columns of `2h` out of `workspace`.
    pub(super) fn carve(workspace: &'w mut [f32], h: usize) -> Self {
        let mut rest = workspace;
        ValueColumns {
            skip: carve(&mut rest, h),
            emissions: carve(&mut rest, h),
            even: carve(&mut rest, 2 * h),
            odd: carve(&mut rest, 2 * h),
        }
    }
}

impl ForwardColumns for ValueColumns<'_> {
    const PARK: bool = false;

    fn start(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut *self.skip, &mut *self.even)
    }

    #[inline(always)]
    fn step(&mut self, step: usize) -> Step<'_> {
        let (prev, cur) = if step.is_multiple_of(2) {
            (&*self.even, &mut *self.odd)
        } else {
            (&*self.odd, &mut *self.even)
        };
        Step {
            skip: self.skip,
            emissions: self.emissions,
            prev,
            cur,
        }
    }

    #[inline(always)]
    fn record(&mut self, _: usize, _: f32, _: f32) {}

    fn last(&self, steps: usize) -> &[f32] {
        if steps.is_multiple_of(2) {
            self.even
        } else {
            self.odd
        }
    }
}

/// The value + gradient layout: every `α` column and emission column of
/// the sequence, the per-step offsets and normalisers, the `β` column and
/// one column of label posteriors.
pub(super) struct GradColumns<'w> {
    /// The skip mask.
    pub(super) skip: &'w mut [f32],
    /// `T` emission columns of `H`.
    pub(super) emissions: &'w mut [f32],
    /// `1 / Σ e^(x - max)` of each step's logits.
    pub(super) inv_sums: &'w mut [f32],
    /// The running `α` offset of each step.
    pub(super) offsets: &'w mut [f32],
    /// `T + 1` `α` columns of `2H` (the start, then one per step).
    pub(super) alpha: &'w mut [f32],
    /// The rolling `β` column (`2H`).
    pub(super) beta: &'w mut [f32],
    /// The label posteriors of one step (`H`).
    pub(super) gamma: &'w mut [f32],
    /// `H`.
    pub(super) h: usize,
}

impl<'w> GradColumns<'w> {
    /// Carves the layout for `steps` steps and columns of `2h` out of
    /// `workspace`.
    pub(super) fn carve(workspace: &'w mut [f32], h: usize, steps: usize) -> Self {
        let mut rest = workspace;
        GradColumns {
            skip: carve(&mut rest, h),
            emissions: carve(&mut rest, steps * h),
            inv_sums: carve(&mut rest, steps),
            offsets: carve(&mut rest, steps),
            alpha: carve(&mut rest, (steps + 1) * 2 * h),
            beta: carve(&mut rest, 2 * h),
            gamma: carve(&mut rest, h),
            h,
        }
    }
}

impl ForwardColumns for GradColumns<'_> {
    const PARK: bool = true;

    fn start(&mut self) -> (&mut [f32], &mut [f32]) {
        let first = self.alpha.get_mut(..2 * self.h).unwrap_or(&mut []);
        (&mut *self.skip, first)
    }

    #[inline(always)]
    fn step(&mut self, step: usize) -> Step<'_> {
        let (h, width) = (self.h, 2 * self.h);
        let (head, tail) = self
            .alpha
            .split_at_mut(((step + 1) * width).min(self.alpha.len()));
        Step {
            skip: self.skip,
            emissions: self
                .emissions
                .get_mut(step * h..(step + 1) * h)
                .unwrap_or(&mut []),
            prev: head.get(step * width..).unwrap_or(&[]),
            cur: tail,
        }
    }

    #[inline(always)]
    fn record(&mut self, step: usize, offset: f32, sum: f32) {
        if let Some(v) = self.inv_sums.get_mut(step) {
            *v = 1.0 / sum;
        }
        if let Some(v) = self.offsets.get_mut(step) {
            *v = offset;
        }
    }

    fn last(&self, steps: usize) -> &[f32] {
        self.alpha.get(steps * 2 * self.h..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::{column_len_at, value_workspace_len, workspace_len};

    /// [`workspace_len`] at a lane width (as the public function computes
    /// it for the build's width).
    fn workspace_len_at(t: usize, s: usize, lanes: usize) -> usize {
        3 * column_len_at(s, lanes) * (t + 2) + 2 * t
    }

    #[test]
    fn columns_hold_every_state_in_whole_lanes() {
        for lanes in [1, 4, 8, 16] {
            for s in 0..100 {
                let h = column_len_at(s, lanes);
                // S + 1 blank states, and the label column's pad, S labels
                // and the one padding value a step reads unmasked.
                assert!(h >= s + 2, "lanes {lanes}, s {s}: h {h}");
                assert!(h.is_multiple_of(lanes) && h <= s + 1 + 2 * lanes);
            }
        }
    }

    #[test]
    fn scalar_builds_need_a_quarter_of_the_widest() {
        // The firmware's shape, T = 12, S = 4: 1368 floats at 16 lanes.
        assert_eq!(workspace_len_at(12, 4, 16), 1368);
        assert_eq!(workspace_len_at(12, 4, 1), 276);
        assert!(workspace_len_at(12, 4, 1) * 4 <= workspace_len_at(12, 4, 16));
        assert_eq!(
            workspace_len(12, 4),
            workspace_len_at(12, 4, super::MAX_LANES)
        );
        assert_eq!(
            value_workspace_len(4),
            6 * column_len_at(4, super::MAX_LANES)
        );
        assert!(value_workspace_len(usize::MAX) == usize::MAX);
    }
}
