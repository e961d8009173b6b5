//! The pointwise driver for element losses of three inputs with two
//! gradients (`gaussian_nll`'s `pred, target, var`, `margin_ranking`'s
//! `x1, x2, t`, `sigmoid_bce`'s per-class `pos_weight`): the same walk as
//! [`sweep`](super::sweep), on the one tail rule of
//! [`for_lanes`](super::lanes::for_lanes), in blocks of
//! [`BLOCK_LANES`] lanes whose sums are added with their rounding errors
//! carried ([`Compensated`]).

use super::Compensated;
use super::batch::{Samples, each_row, rows_in};
use super::lanes::{for_lanes, keep_or, load, put, store};
use super::sweep::BLOCK_LANES;
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
/// (`w_i = 1` without `weight`, `[scale, grad_scale] = scales`); with
/// `GRAD`, writes the two derivatives times `grad_scale · w_i` into `grads`
/// (adds them with `ACC`; an empty second gradient is not written); with
/// `VALUES`, the scaled values into `values`.
///
/// Callers have checked the lengths; a slice shorter than `inputs[0]` gives
/// NaN and nothing is read or written out of bounds. Four accumulators
/// rotate through the whole lanes of a block of [`BLOCK_LANES`] lanes; the
/// blocks' sums go into one [`Compensated`] total (accurate at any length).
#[inline(always)]
pub(crate) fn sweep3<
    L: Lane,
    K: ElementLoss3,
    const GRAD: bool,
    const VALUES: bool,
    const ACC: bool,
>(
    kernel: &K,
    inputs: [&[f32]; 3],
    weight: Option<&[f32]>,
    scales: [f32; 2],
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
    let block = BLOCK_LANES * L::LANES;
    let mut total = Compensated::<L>::default();
    let mut start = 0;
    while start < n {
        let r = start..n.min(start + block);
        let w = weight.map(
            #[inline(always)]
            |w| part(w, &r),
        );
        let ga = if GRAD {
            ga.get_mut(r.clone()).unwrap_or(&mut [])
        } else {
            &mut []
        };
        let gb = if second {
            gb.get_mut(r.clone()).unwrap_or(&mut [])
        } else {
            &mut []
        };
        let v = if VALUES {
            values.get_mut(r.clone()).unwrap_or(&mut [])
        } else {
            &mut []
        };
        total.push(sweep3_block::<L, K, GRAD, VALUES, ACC>(
            kernel,
            [part(a, &r), part(b, &r), part(c, &r)],
            w,
            scales,
            [ga, gb],
            v,
        ));
        start = r.end;
    }
    total.total()
}

/// The part `r` of `s` (empty past its end).
#[inline(always)]
fn part<'s>(s: &'s [f32], r: &core::ops::Range<usize>) -> &'s [f32] {
    s.get(r.clone()).unwrap_or(&[])
}

/// One block of [`sweep3`] (lengths checked): its lane-wise sum.
#[inline(always)]
fn sweep3_block<L: Lane, K: ElementLoss3, const GRAD: bool, const VALUES: bool, const ACC: bool>(
    kernel: &K,
    [a, b, c]: [&[f32]; 3],
    weight: Option<&[f32]>,
    [scale, grad_scale]: [f32; 2],
    [ga, gb]: [&mut [f32]; 2],
    values: &mut [f32],
) -> L {
    let second = GRAD && !gb.is_empty();
    let [pa, pb, pc] = K::PAD;
    let (scale, grad_scale) = (L::splat(scale), L::splat(grad_scale));
    let zero = L::splat(0.0);
    let mut acc = [zero; 4];
    for_lanes::<L, 4>(
        a.len(),
        #[inline(always)]
        |i, slot, keep| {
            let (s, sg) = match weight {
                Some(w) => {
                    let w = load::<L>(w, i, 0.0);
                    (scale * w, grad_scale * w)
                }
                None => (scale, grad_scale),
            };
            let (value, [da, db]) =
                kernel.eval::<L>([load(a, i, pa), load(b, i, pb), load(c, i, pc)]);
            let value = value * s;
            if GRAD {
                put::<L, ACC>(da * sg, ga, i);
                if second {
                    put::<L, ACC>(db * sg, gb, i);
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
    (a0 + a1) + (a2 + a3)
}

/// A batch of samples of `dim` elements through [`sweep3`]: one flat sweep
/// when `dim = 1` (the sample weights are then per element) or when neither
/// weights nor per-sample values are asked for, else one sweep per sample
/// with its weight, each sample's result into `values` (as
/// `Pointwise` does). `scales` and `ACC` are [`sweep3`]'s.
#[inline(always)]
pub(crate) fn batch3<
    L: Lane,
    K: ElementLoss3,
    const GRAD: bool,
    const VALUES: bool,
    const ACC: bool,
>(
    kernel: &K,
    dim: usize,
    inputs: [&[f32]; 3],
    weight: Option<&[f32]>,
    scales: [f32; 2],
    grads: [&mut [f32]; 2],
    values: &mut [f32],
) -> f32 {
    if dim == 1 || (weight.is_none() && !VALUES) {
        let weight = if dim == 1 { weight } else { None };
        return sweep3::<L, K, GRAD, VALUES, ACC>(kernel, inputs, weight, scales, grads, values);
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
            let [scale, grad_scale] = scales;
            let scales = [scale * row.weight, grad_scale * row.weight];
            sweep3::<L, K, GRAD, false, ACC>(kernel, row.x, None, scales, row.grad, &mut [])
        },
    );
    samples.total()
}
