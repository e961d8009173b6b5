//! One sequence of a validated batch: its forward sweep (the value, `α`)
//! and its backward sweep (`β`, writing the gradient), and the two programs
//! a call runs per sequence, value only or value + gradient.

use super::inputs::{Activations, Input};
use super::recursion::{BetaSums, Columns, Units, alpha_step, beta_step, finite_or_zero};
use super::workspace::{ForwardColumns, GradColumns, Step, ValueColumns, column_len};
use crate::driver::lanes::{load, store};
use crate::driver::row;
use crate::lane::Lane;
use crate::math::{ln, log_add_exp};

const NEG_INF: f32 = f32::NEG_INFINITY;

/// The bit pattern of a set mask lane (all ones), as `f32`.
const MASK_SET: f32 = f32::from_bits(u32::MAX);

/// One sequence of a validated batch.
pub(super) struct Sequence<'s, 'a> {
    pub(super) acts: &'s Activations<'a>,
    /// Which sequence of the batch.
    pub(super) i: usize,
    /// Its input length.
    pub(super) steps: usize,
    /// Its labels (`S` values, none the blank).
    pub(super) labels: &'a [u32],
    pub(super) blank: usize,
    pub(super) input: Input,
}

impl Sequence<'_, '_> {
    /// Whether some alignment fits: `S` + adjacent repeats `<=` steps.
    pub(super) fn feasible(&self) -> bool {
        let repeats = self
            .labels
            .iter()
            .zip(self.labels.iter().skip(1))
            .filter(|(a, b)| a == b)
            .count();
        self.labels.len() + repeats <= self.steps
    }

    /// The index range of the row at `step` in the activations (and grad).
    #[inline(always)]
    pub(super) fn row(&self, step: usize) -> core::ops::Range<usize> {
        self.acts.row(self.i, step)
    }

    /// The activation row at `step` (empty if out of range, which
    /// validation rules out).
    #[inline(always)]
    fn x(&self, step: usize) -> &[f32] {
        self.acts.data.get(self.row(step)).unwrap_or(&[])
    }

    /// Writes the skip mask: `skip[j]` is set where label `j - 1` may follow
    /// label `j - 2` directly (they differ).
    fn skip_mask(&self, skip: &mut [f32]) {
        skip.fill(0.0);
        for ((slot, a), b) in skip
            .iter_mut()
            .skip(2)
            .zip(self.labels)
            .zip(self.labels.iter().skip(1))
        {
            if a != b {
                *slot = MASK_SET;
            }
        }
    }

    /// Writes the emissions of one step: `e[0] = y(blank)`, `e[j] = y(l_j)`
    /// for `j = 1..=S`, with `y = x - shift`: a scalar gather, then one
    /// vector subtraction over the padded column (`-∞` padding stays `-∞`
    /// for finite `shift`).
    #[inline(always)]
    fn emissions<L: Lane>(&self, x: &[f32], shift: f32, e: &mut [f32]) {
        let mut slots = e.iter_mut();
        if let Some(slot) = slots.next() {
            *slot = x.get(self.blank).copied().unwrap_or(f32::NAN);
        }
        for (&label, slot) in self.labels.iter().zip(&mut slots) {
            *slot = x.get(label as usize).copied().unwrap_or(f32::NAN);
        }
        // The one padding value a step reads unmasked (label S+1 of the
        // last unit); the rest of the row is never read unmasked.
        if let Some(slot) = slots.next() {
            *slot = NEG_INF;
        }
        if shift != 0.0 {
            let mut k = 0;
            while k <= self.labels.len() {
                store(load::<L>(e, k, NEG_INF) - L::splat(shift), e, k);
                k += L::LANES;
            }
        }
    }

    /// The maximum of the activation row at `step` (0 for
    /// log-probabilities, which are not normalised).
    #[inline(always)]
    fn row_max<L: Lane>(&self, step: usize) -> f32 {
        match self.input {
            Input::Logits => row::max::<L>(self.x(step)),
            Input::LogProbs => 0.0,
        }
    }

    /// The normaliser of step `step`, whose activation row has maximum
    /// `max`: the shift that turns the row into log-probabilities, `lse(x)`
    /// for logits (0 for log-probabilities), `Σ e^(x - max)`, and the
    /// maximum of the next step's row, read in the same pass. With `park`,
    /// writes `e^(x - max)` into `grad`'s row.
    #[inline(always)]
    fn log_normalizer<L: Lane>(
        &self,
        step: usize,
        max: f32,
        park: bool,
        grad: &mut [f32],
    ) -> (f32, f32, f32) {
        if self.input != Input::Logits {
            return (0.0, 1.0, 0.0);
        }
        let x = self.x(step);
        let next = if step + 1 < self.steps {
            self.x(step + 1)
        } else {
            &[]
        };
        let (sum, next_max) = if park {
            let u = grad.get_mut(self.row(step)).unwrap_or(&mut []);
            row::exp_sum::<L, (), true>(x, max, u, next, &mut ())
        } else {
            row::exp_sum::<L, (), false>(x, max, &mut [], next, &mut ())
        };
        (max + ln(sum), sum, next_max)
    }
}

/// The forward sweep: returns `ln p(l|x)` (in `f64`), keeping in `columns`
/// what its layout keeps (see [`ForwardColumns`]); with
/// [`ForwardColumns::PARK`] and not `ACC` (an accumulating call, whose
/// `grad` holds the caller's sums), parks each step's `e^(x - max)` in the
/// sequence's rows of `grad`.
///
/// Each stored `α` column is kept relative to a running offset: a step
/// subtracts the previous column's maximum, so stored values stay near 0
/// and their rounding error does not grow with the step; the offsets are
/// summed in `f64`.
#[inline(always)]
pub(super) fn forward<L: Lane, C: ForwardColumns, const ACC: bool>(
    seq: &Sequence<'_, '_>,
    columns: &mut C,
    grad: &mut [f32],
) -> f64 {
    let s = seq.labels.len();
    let h = column_len(s);
    let (skip, first) = columns.start();
    seq.skip_mask(skip);
    // α before step 0: only the first blank state, at log 1. (Every later
    // column is written in full by its step.)
    first.fill(NEG_INF);
    if let Some(a) = first.first_mut() {
        *a = 0.0;
    }
    // The stored column of step t is α_t - offset_t; `max` is the maximum
    // of the last stored column, subtracted by the next step.
    let (mut offset, mut max) = (0.0f64, 0.0f32);
    // Each step's exp pass reads the next step's row maximum.
    let mut row_max = if seq.steps > 0 {
        seq.row_max::<L>(0)
    } else {
        0.0
    };
    for step in 0..seq.steps {
        let park = C::PARK && !ACC;
        let (shift, sum, next_max) = seq.log_normalizer::<L>(step, row_max, park, grad);
        row_max = next_max;
        offset += f64::from(max);
        columns.record(step, offset as f32, sum);
        let Step {
            skip,
            emissions,
            prev,
            cur,
        } = columns.step(step);
        seq.emissions::<L>(seq.x(step), shift, emissions);
        let units = Units::alpha(step, seq.steps, s);
        let step_columns = Columns {
            e: emissions,
            skip,
            h,
            units,
        };
        max = finite_or_zero(alpha_step::<L>(prev, cur, &step_columns, max));
    }
    let last = columns.last(seq.steps);
    let blank_end = last.get(s).copied().unwrap_or(NEG_INF);
    let label_end = last.get(h + s).copied().unwrap_or(NEG_INF);
    offset + f64::from(log_add_exp(blank_end, label_end))
}

/// The backward sweep after [`forward`] into `columns` returned `log_p`
/// (finite): writes `scale ×` the gradient into the sequence's rows of
/// `grad` for the steps below its input length (the caller zeroes the
/// rest), or with `ACC` adds it to them. The `β` column is kept relative to
/// its own running offset; each step's posteriors are normalised to sum
/// to 1.
#[inline(always)]
pub(super) fn backward<L: Lane, const ACC: bool>(
    seq: &Sequence<'_, '_>,
    columns: &mut GradColumns<'_>,
    grad: &mut [f32],
    scale: f32,
    log_p: f64,
) {
    let s = seq.labels.len();
    let GradColumns {
        skip,
        emissions,
        inv_sums,
        offsets,
        alpha,
        beta,
        gamma,
        h,
    } = columns;
    let h = *h;
    let logits = seq.input == Input::Logits;
    // β after the last step: the virtual state past the end, reached from
    // the last blank and the last label.
    beta.fill(NEG_INF);
    if let Some(b) = beta.get_mut(s) {
        *b = 0.0;
    }
    let (mut beta_offset, mut beta_max) = (0.0f64, 0.0f32);
    for step in (0..seq.steps).rev() {
        let e = emissions.get(step * h..(step + 1) * h).unwrap_or(&[]);
        let a = alpha.get((step + 1) * 2 * h..).unwrap_or(&[]);
        beta_offset += f64::from(beta_max);
        let alpha_offset = f64::from(offsets.get(step).copied().unwrap_or(f32::NAN));
        // One below the exact shift: the posteriors' exponents stay under 0
        // despite rounding (the factor e^-1 cancels in `norm`).
        let shift = (alpha_offset + beta_offset - log_p - 1.0) as f32;
        let units = Units::beta(step, seq.steps, s);
        let step_columns = Columns { e, skip, h, units };
        let sums = beta_step::<L>(beta, a, &step_columns, beta_max, shift, gamma);
        beta_max = finite_or_zero(sums.max);
        let g = grad.get_mut(seq.row(step)).unwrap_or(&mut []);
        if ACC {
            // The row holds the caller's sums: add scale · softmax(x)
            // (from e^(x - max), computed again: nothing was parked), then
            // subtract the posteriors, scale · γ.
            if logits {
                let x = seq.x(step);
                let max = row::max::<L>(x);
                let inv_sum = inv_sums.get(step).copied().unwrap_or(f32::NAN);
                row::add_exp::<L>(g, x, max, scale * inv_sum);
            }
            subtract_posteriors::<L>(seq, g, units, gamma, &sums, scale / sums.total);
            continue;
        }
        // Subtract the posteriors (in the row's current units) first, then
        // scale: the scalar read-modify-writes then never wait on the row's
        // vector stores.
        let (weight, row_scale) = if logits {
            // The row holds u = e^(x - max); the gradient is
            // scale (u / Σu - γ) = (scale / Σu) (u - γ Σu).
            let inv_sum = inv_sums.get(step).copied().unwrap_or(f32::NAN);
            (1.0 / (sums.total * inv_sum), Some(scale * inv_sum))
        } else {
            g.fill(0.0);
            (scale / sums.total, None)
        };
        subtract_posteriors::<L>(seq, g, units, gamma, &sums, weight);
        if let Some(r) = row_scale {
            row::scale::<L>(g, r);
        }
    }
}

/// Subtracts `weight ×` the step's posteriors from the gradient row `g`:
/// the blank's, then labels `1..=S` of the units computed (the others'
/// posteriors are 0 and their `gamma` slots stale).
#[inline(always)]
fn subtract_posteriors<L: Lane>(
    seq: &Sequence<'_, '_>,
    g: &mut [f32],
    units: Units,
    gamma: &[f32],
    sums: &BetaSums,
    weight: f32,
) {
    if let Some(v) = g.get_mut(seq.blank) {
        *v -= weight * sums.blank;
    }
    let first = units.start::<L>().max(1);
    let labels = seq.labels.iter().skip(first - 1);
    let posteriors = gamma.iter().take(units.to + 1).skip(first);
    for (&label, &p) in labels.zip(posteriors) {
        if let Some(v) = g.get_mut(label as usize) {
            *v -= weight * p;
        }
    }
}

/// What a call computes for each feasible sequence.
pub(super) trait Program {
    /// Whether the call writes a gradient.
    const GRAD: bool;
    /// `ln p(l|x)` of `seq` through `workspace`; with [`GRAD`](Self::GRAD),
    /// writes `scale ×` its gradient into the sequence's rows of `grad`
    /// for the steps below its input length (the caller zeroes the rest,
    /// and every row when the result is `-∞`), or with `ACC` adds it to
    /// them (nothing where the result is `-∞`).
    fn log_likelihood<L: Lane, const ACC: bool>(
        seq: &Sequence<'_, '_>,
        workspace: &mut [f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32;
}

/// The value only: the forward sweep in two rolling columns.
pub(super) struct Value;

impl Program for Value {
    const GRAD: bool = false;

    #[inline(always)]
    fn log_likelihood<L: Lane, const ACC: bool>(
        seq: &Sequence<'_, '_>,
        workspace: &mut [f32],
        _: &mut [f32],
        _: f32,
    ) -> f32 {
        let h = column_len(seq.labels.len());
        let mut columns = ValueColumns::carve(workspace, h);
        forward::<L, _, false>(seq, &mut columns, &mut []) as f32
    }
}

/// Value and gradient: the forward sweep keeping every column, then the
/// backward sweep.
pub(super) struct ValueAndGrad;

impl Program for ValueAndGrad {
    const GRAD: bool = true;

    #[inline(always)]
    fn log_likelihood<L: Lane, const ACC: bool>(
        seq: &Sequence<'_, '_>,
        workspace: &mut [f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32 {
        let h = column_len(seq.labels.len());
        let mut columns = GradColumns::carve(workspace, h, seq.steps);
        let log_p = forward::<L, _, ACC>(seq, &mut columns, grad);
        if log_p != f64::NEG_INFINITY {
            backward::<L, ACC>(seq, &mut columns, grad, scale, log_p);
        }
        log_p as f32
    }
}
