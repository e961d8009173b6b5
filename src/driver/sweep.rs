//! The pointwise driver: walks whole slices in lanes, handles the tail,
//! scales by weights and reduces with independent accumulators. Every
//! pointwise loss runs through [`sweep`].

use super::Compensated;
use crate::lane::Lane;

/// The element loss `f(p, t)` of a pointwise loss and its derivative.
///
/// Implement it to run your own element loss through the crate's driver:
///
/// ```
/// use loss_kernels::{lane::Lane, pointwise::{ElementLoss, Pointwise}, Reduction};
/// #[derive(Clone, Copy)]
/// struct Quartic;
/// impl ElementLoss for Quartic {
///     const PAD: f32 = 0.0;
///     fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
///         let s = p - t;
///         let s2 = s * s;
///         (s2 * s2, s2 * s * L::splat(4.0))
///     }
/// }
/// let v = Pointwise::from_element(Quartic).value(&[2.0], &[0.0], Reduction::Sum)?;
/// assert_eq!(v, 16.0);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub trait ElementLoss: Copy {
    /// A value for both `p` and `t` at which [`eval`](Self::eval) is finite;
    /// the driver pads the last partial lane with it and masks the result.
    const PAD: f32;
    /// `(f(p, t), df/dp)`, lane-wise.
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L);
}

/// The lanes a sweep reduces in its four accumulators before the block's
/// sum joins the [`Compensated`] total: each accumulator lane adds at most
/// 128 terms in a row, and a block costs a few lane additions besides its
/// `512 LANES` values' work. A block is whole lanes, so only the last one
/// has a partial lane.
pub(crate) const BLOCK_LANES: usize = 512;

/// Computes `Σ_i scale · w_i · f(pred_i, target_i)` over the whole slices
/// (`w_i = 1` without `weight`, `[scale, grad_scale] = scales`), and, with
/// `GRAD`, writes `grad_scale · w_i · f'(pred_i, target_i)` into `grad`
/// (added to it with `ACC`, [`put`](super::lanes::put)'s rule; `grad_scale`
/// is `scale`, or an accumulating call's factor times it); with `VALUES`,
/// writes the scaled values into `values`.
///
/// Callers have checked that `target`, `weight`, `grad` (with `GRAD`) and
/// `values` (with `VALUES`) have `pred`'s length; if one is shorter the
/// result is NaN and nothing is read or written out of bounds.
///
/// The body walks blocks of [`BLOCK_LANES`] lanes, and in each
/// `chunks_exact(LANES)` of every slice in step, so the optimiser sees whole
/// lanes with no bounds checks; four accumulators rotate so consecutive
/// lanes add into independent chains, and the blocks' sums are added with
/// their rounding errors carried ([`Compensated`]: accurate at any length). The last partial lane is padded
/// with [`ElementLoss::PAD`] and masked.
#[inline(always)]
pub(crate) fn sweep<
    L: Lane,
    K: ElementLoss,
    const GRAD: bool,
    const VALUES: bool,
    const ACC: bool,
>(
    kernel: &K,
    pred: &[f32],
    target: &[f32],
    weight: Option<&[f32]>,
    scales: [f32; 2],
    grad: &mut [f32],
    values: &mut [f32],
) -> f32 {
    match weight {
        Some(w) => sweep_blocks::<L, K, GRAD, VALUES, true, ACC>(
            kernel, pred, target, w, scales, grad, values,
        ),
        None => sweep_blocks::<L, K, GRAD, VALUES, false, ACC>(
            kernel,
            pred,
            target,
            &[],
            scales,
            grad,
            values,
        ),
    }
}

/// The two lane factors of a sweep: the value's and the gradient's.
#[derive(Clone, Copy)]
struct Scales<L> {
    value: L,
    grad: L,
}

/// One lane of [`sweep_block`]: the scaled value of the elements of
/// `[pred, target, weight]`, their scaled gradient into `g` (added with
/// `ACC`) and values into `v` (as the flags ask).
#[inline(always)]
fn sweep_step<
    L: Lane,
    K: ElementLoss,
    const GRAD: bool,
    const VALUES: bool,
    const WEIGHTED: bool,
    const ACC: bool,
>(
    kernel: &K,
    scales: Scales<L>,
    [p, t, wt]: [&[f32]; 3],
    g: &mut [f32],
    v: &mut [f32],
) -> L {
    let w = if WEIGHTED {
        Some(L::load_or(wt, 0.0))
    } else {
        None
    };
    let s = match w {
        Some(w) => scales.value * w,
        None => scales.value,
    };
    let (value, derivative) = kernel.eval(L::load_or(p, K::PAD), L::load_or(t, K::PAD));
    let value = value * s;
    if GRAD {
        let sg = match w {
            Some(w) => scales.grad * w,
            None => scales.grad,
        };
        if ACC {
            derivative.mul_add(sg, L::load_or(g, 0.0)).store(g);
        } else {
            (derivative * sg).store(g);
        }
    }
    if VALUES {
        value.store(v);
    }
    value
}

/// [`sweep`] with the weighting fixed at compile time: the blocks, each
/// [`sweep_block`], into one [`Compensated`] total.
#[inline(always)]
fn sweep_blocks<
    L: Lane,
    K: ElementLoss,
    const GRAD: bool,
    const VALUES: bool,
    const WEIGHTED: bool,
    const ACC: bool,
>(
    kernel: &K,
    pred: &[f32],
    target: &[f32],
    weight: &[f32],
    [scale, grad_scale]: [f32; 2],
    grad: &mut [f32],
    values: &mut [f32],
) -> f32 {
    let n = pred.len();
    let short = target.len() < n
        || (WEIGHTED && weight.len() < n)
        || (GRAD && grad.len() < n)
        || (VALUES && values.len() < n);
    if short {
        return f32::NAN;
    }
    let scales = Scales {
        value: L::splat(scale),
        grad: L::splat(grad_scale),
    };
    let block = BLOCK_LANES * L::LANES;
    let mut targets = target.chunks(block);
    let mut weights = weight.chunks(block);
    let mut grads = grad.chunks_mut(block);
    let mut value_blocks = values.chunks_mut(block);
    let mut blocks = Compensated::<L>::default();
    for p in pred.chunks(block) {
        let t = targets.next().unwrap_or(&[]);
        let wt = if WEIGHTED {
            weights.next().unwrap_or(&[])
        } else {
            &[]
        };
        let g = if GRAD {
            grads.next().unwrap_or(&mut [])
        } else {
            &mut []
        };
        let v = if VALUES {
            value_blocks.next().unwrap_or(&mut [])
        } else {
            &mut []
        };
        blocks.push(sweep_block::<L, K, GRAD, VALUES, WEIGHTED, ACC>(
            kernel,
            scales,
            [p, t, wt],
            g,
            v,
        ));
    }
    blocks.total()
}

/// One block of at most [`BLOCK_LANES`] lanes: its lane-wise sum (four rotating
/// accumulators, then the masked partial lane).
#[inline(always)]
fn sweep_block<
    L: Lane,
    K: ElementLoss,
    const GRAD: bool,
    const VALUES: bool,
    const WEIGHTED: bool,
    const ACC: bool,
>(
    kernel: &K,
    scales: Scales<L>,
    [pred, target, weight]: [&[f32]; 3],
    grad: &mut [f32],
    values: &mut [f32],
) -> L {
    let w = L::LANES;
    let mut pred_lanes = pred.chunks_exact(w);
    let mut target_lanes = target.chunks_exact(w);
    let mut weight_lanes = weight.chunks_exact(w);
    let mut grad_lanes = grad.chunks_exact_mut(w);
    let mut value_lanes = values.chunks_exact_mut(w);
    let zero = L::splat(0.0);
    let mut acc = [zero; 4];
    for (p, t) in pred_lanes.by_ref().zip(target_lanes.by_ref()) {
        let wt = if WEIGHTED {
            weight_lanes.next().unwrap_or(&[])
        } else {
            &[]
        };
        let g = if GRAD {
            grad_lanes.next().unwrap_or(&mut [])
        } else {
            &mut []
        };
        let v = if VALUES {
            value_lanes.next().unwrap_or(&mut [])
        } else {
            &mut []
        };
        let [a0, a1, a2, a3] = acc;
        acc = [
            a1,
            a2,
            a3,
            a0 + sweep_step::<L, K, GRAD, VALUES, WEIGHTED, ACC>(kernel, scales, [p, t, wt], g, v),
        ];
    }
    let [a0, a1, a2, a3] = acc;
    let mut total = (a0 + a1) + (a2 + a3);
    let rest = pred_lanes.remainder();
    if !rest.is_empty() {
        let keep = L::iota().lt(L::splat(rest.len() as f32));
        let v = sweep_step::<L, K, GRAD, VALUES, WEIGHTED, ACC>(
            kernel,
            scales,
            [rest, target_lanes.remainder(), weight_lanes.remainder()],
            grad_lanes.into_remainder(),
            value_lanes.into_remainder(),
        );
        total = total + keep.select(v, zero);
    }
    total
}
