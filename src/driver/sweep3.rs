//! The pointwise driver for element losses of three inputs with two
//! gradients (`gaussian_nll`'s `pred, target, var`, `margin_ranking`'s
//! `x1, x2, t`, `sigmoid_bce`'s per-class `pos_weight`): the same walk as
//! [`sweep`](super::sweep), on the one tail rule of
//! [`for_lanes`](super::lanes::for_lanes).

use super::batch::{Samples, each_row, rows_in};
use super::lanes::{for_lanes, keep_or, load, store};
use crate::lane::Lane;

/// An element loss of three inputs and its derivatives w.r.t. two of them.
pub(crate) trait ElementLoss3: Copy {
    /// Values of the three inputs at which [`eval`](Self::eval) is finite;
    /// the tail lane is padded with them and masked.
    const PAD: [f32; 3];
    /// `(f(x), [df/dx_a, df/dx_b])`, lane-wise (which inputs the two
    /// derivatives are taken w.r.t. is the loss's own).
    fn eval<L: Lane>(&self, x: [L; 3]) -> (L, [L; 2]);
}

/// Computes `Σ_i scale · w_i · f(x_i)` over the three slices of `inputs`
/// (`w_i = 1` without `weight`); with `GRAD`, writes the two scaled
/// derivatives into `grads` (an empty second gradient is not written); with
/// `VALUES`, the scaled values into `values`.
///
/// Callers have checked the lengths; a slice shorter than `inputs[0]` gives
/// NaN and nothing is read or written out of bounds. Four accumulators
/// rotate through the whole lanes.
#[inline(always)]
pub(crate) fn sweep3<L: Lane, K: ElementLoss3, const GRAD: bool, const VALUES: bool>(
    kernel: &K,
    inputs: [&[f32]; 3],
    weight: Option<&[f32]>,
    scale: f32,
    grads: [&mut [f32]; 2],
    values: &mut [f32],
) -> f32 {
    let [a, b, c] = inputs;
    let [ga, gb] = grads;
    let n = a.len();
    let second = GRAD && !gb.is_empty();
    let short = b.len() < n
        || c.len() < n
        || weight.is_some_and(|w| w.len() < n)
        || (GRAD && ga.len() < n)
        || (second && gb.len() < n)
        || (VALUES && values.len() < n);
    if short {
        return f32::NAN;
    }
    let [pa, pb, pc] = K::PAD;
    let scale = L::splat(scale);
    let zero = L::splat(0.0);
    let mut acc = [zero; 4];
    for_lanes::<L, 4>(
        n,
        #[inline(always)]
        |i, slot, keep| {
            let s = match weight {
                Some(w) => scale * load::<L>(w, i, 0.0),
                None => scale,
            };
            let (value, [da, db]) =
                kernel.eval::<L>([load(a, i, pa), load(b, i, pb), load(c, i, pc)]);
            let value = value * s;
            if GRAD {
                store(da * s, ga, i);
                if second {
                    store(db * s, gb, i);
                }
            }
            if VALUES {
                store(value, values, i);
            }
            if let Some(t) = acc.get_mut(slot) {
                *t = *t + keep_or(keep, value, zero);
            }
        },
    );
    let [a0, a1, a2, a3] = acc;
    ((a0 + a1) + (a2 + a3)).sum()
}

/// A batch of samples of `dim` elements through [`sweep3`]: one flat sweep
/// when `dim = 1` (the sample weights are then per element) or when neither
/// weights nor per-sample values are asked for, else one sweep per sample
/// with its weight, each sample's result into `values` (as
/// `Pointwise` does).
#[inline(always)]
pub(crate) fn batch3<L: Lane, K: ElementLoss3, const GRAD: bool, const VALUES: bool>(
    kernel: &K,
    dim: usize,
    inputs: [&[f32]; 3],
    weight: Option<&[f32]>,
    scale: f32,
    grads: [&mut [f32]; 2],
    values: &mut [f32],
) -> f32 {
    if dim == 1 || (weight.is_none() && !VALUES) {
        let weight = if dim == 1 { weight } else { None };
        return sweep3::<L, K, GRAD, VALUES>(kernel, inputs, weight, scale, grads, values);
    }
    let [first, ..] = inputs;
    let n = rows_in(first.len(), dim);
    let mut samples = Samples::new(values);
    each_row(
        dim,
        0..n,
        inputs,
        grads,
        weight,
        &mut samples,
        #[inline(always)]
        |row| {
            sweep3::<L, K, GRAD, false>(kernel, row.x, None, scale * row.weight, row.grad, &mut [])
        },
    );
    samples.total()
}
