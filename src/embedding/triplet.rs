//! The triplet loss; the math is in the [module docs](super).

use super::{hinge, hinge_slope, recip_or_zero, sqrt1};
use crate::Reduction;
use crate::driver::lanes::{for_lanes, load, put};
use crate::driver::row::dots;
use crate::driver::{Samples, each_row, reduction_scale, rows_in};
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{self, Kernel, Lane};

/// The distance a [`Triplet`] loss compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Distance {
    /// Squared Euclidean distance (Gluon's `TripletLoss`).
    #[default]
    Squared,
    /// Euclidean distance with eps `1e-6` (PyTorch `TripletMarginLoss(p=2)`).
    Euclidean,
}

/// The gradient slices of a triplet loss, each the length of its input.
#[derive(Debug)]
pub struct TripletGrads<'g> {
    /// Gradient w.r.t. the anchors.
    pub anchor: &'g mut [f32],
    /// Gradient w.r.t. the positives.
    pub positive: &'g mut [f32],
    /// Gradient w.r.t. the negatives.
    pub negative: &'g mut [f32],
}

/// Triplet loss over rows of `dim` values; see the [module docs](super).
///
/// ```
/// use loss_kernels::embedding::{Distance, Triplet};
/// use loss_kernels::Reduction;
/// let loss = Triplet::new(1)?.margin(0.5)?.distance(Distance::Euclidean);
/// let v = loss.value(&[0.0], &[1.0], &[3.0], Reduction::Mean)?;
/// assert_eq!(v, 0.0);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Triplet<'w> {
    dim: usize,
    margin: f32,
    distance: Distance,
    sample_weight: Option<&'w [f32]>,
}

impl Triplet<'static> {
    /// Triplet loss over rows of `dim` (at least 1) values, margin 1,
    /// squared distance.
    pub const fn new(dim: usize) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::ZeroSize { argument: "dim" });
        }
        Ok(Triplet {
            dim,
            margin: 1.0,
            distance: Distance::Squared,
            sample_weight: None,
        })
    }
}

impl<'w> Triplet<'w> {
    /// The margin (finite; Gluon's and PyTorch's default is 1).
    pub fn margin(self, margin: f32) -> Result<Self, Error> {
        let margin = check_param("margin", margin, Domain::Finite)?;
        Ok(Triplet { margin, ..self })
    }

    /// The distance compared.
    #[must_use]
    pub const fn distance(self, distance: Distance) -> Self {
        Triplet { distance, ..self }
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> Triplet<'v>
    where
        'w: 'v,
    {
        Triplet {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss.
    pub fn value(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        let n = self.check(anchor, positive, negative)?;
        let scale = reduction_scale(reduction, n as f32);
        let total = self.run::<false, false>(
            [anchor, positive, negative],
            [&mut [], &mut [], &mut []],
            &mut [],
            1.0,
        );
        Ok(total * scale)
    }

    /// The reduced loss and its gradients w.r.t. the three inputs.
    pub fn value_and_grad(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        reduction: Reduction,
        grads: TripletGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(anchor, positive, negative)?;
        check_grads(&grads, anchor.len())?;
        let scale = reduction_scale(reduction, n as f32);
        let gs = [grads.anchor, grads.positive, grads.negative];
        let total = self.run::<true, false>([anchor, positive, negative], gs, &mut [], scale);
        Ok(total * scale)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. the three
    /// inputs **added** to `grads` in the same pass (`grad += scale · ∂L`).
    /// `scale` (finite) weights the gradients only, never the value.
    ///
    /// ```
    /// use loss_kernels::embedding::{Triplet, TripletGrads};
    /// use loss_kernels::Reduction;
    /// let (a, p, n) = ([0.0], [1.0], [0.5]);
    /// let (mut ga, mut gp, mut gn) = ([1.0], [1.0], [1.0]);
    /// let grads = TripletGrads { anchor: &mut ga, positive: &mut gp, negative: &mut gn };
    /// let v = Triplet::new(1)?.value_and_accumulate_grad(&a, &p, &n, Reduction::Sum, 0.5, grads)?;
    /// assert_eq!(v, 1.0 - 0.25 + 1.0);
    /// assert_eq!((ga, gp, gn), ([1.0 - 0.5], [1.0 + 1.0], [1.0 - 0.5]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_accumulate_grad(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: TripletGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(anchor, positive, negative)?;
        check_grads(&grads, anchor.len())?;
        let factor = check_param("scale", scale, Domain::Finite)?;
        let scale = reduction_scale(reduction, n as f32);
        let gs = [grads.anchor, grads.positive, grads.negative];
        let inputs = [anchor, positive, negative];
        let total = self.run::<true, true>(inputs, gs, &mut [], scale * factor);
        Ok(total * scale)
    }

    /// The `Mean` denominator of a batch: its number of rows. Shards
    /// combine exactly with it: `Mean = Σ_k (d_k / d) Mean_k`, and the
    /// factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient.
    ///
    /// ```
    /// use loss_kernels::embedding::Triplet;
    /// assert_eq!(Triplet::new(2)?.mean_denominator(&[0.0; 6])?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, anchor: &[f32]) -> Result<f32, Error> {
        Ok(rows("anchor", "dim", anchor.len(), self.dim)? as f32)
    }

    /// The per-sample losses into `out`, one per row.
    pub fn per_sample(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.check(anchor, positive, negative)?;
        check_len("out", out, n)?;
        self.run::<false, false>(
            [anchor, positive, negative],
            [&mut [], &mut [], &mut []],
            out,
            1.0,
        );
        Ok(())
    }

    /// The per-sample losses into `out` and the gradients of their sum;
    /// returns the sum.
    pub fn per_sample_and_grad(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        out: &mut [f32],
        grads: TripletGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(anchor, positive, negative)?;
        check_len("out", out, n)?;
        check_grads(&grads, anchor.len())?;
        let gs = [grads.anchor, grads.positive, grads.negative];
        Ok(self.run::<true, false>([anchor, positive, negative], gs, out, 1.0))
    }

    fn check(&self, anchor: &[f32], positive: &[f32], negative: &[f32]) -> Result<usize, Error> {
        let n = rows("anchor", "dim", anchor.len(), self.dim)?;
        check_len("positive", positive, anchor.len())?;
        check_len("negative", negative, anchor.len())?;
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        Ok(n)
    }

    /// Runs the validated call: the losses (sample-weighted) into `out`
    /// unless it is empty, with `GRAD` the gradients times `grad_scale`
    /// (added to `grads` with `ACC`); returns the sum of the losses.
    fn run<const GRAD: bool, const ACC: bool>(
        &self,
        inputs: [&[f32]; 3],
        grads: [&mut [f32]; 3],
        out: &mut [f32],
        grad_scale: f32,
    ) -> f32 {
        lane::run(TripletBatch::<GRAD, ACC> {
            loss: *self,
            inputs,
            grads,
            out,
            grad_scale,
        })
    }
}

fn check_grads(g: &TripletGrads<'_>, len: usize) -> Result<(), Error> {
    check_len("grads.anchor", g.anchor, len)?;
    check_len("grads.positive", g.positive, len)?;
    check_len("grads.negative", g.negative, len)
}

/// A validated triplet call (see [`Kernel`]).
struct TripletBatch<'a, 'w, const GRAD: bool, const ACC: bool> {
    loss: Triplet<'w>,
    inputs: [&'a [f32]; 3],
    grads: [&'a mut [f32]; 3],
    out: &'a mut [f32],
    grad_scale: f32,
}

impl<const GRAD: bool, const ACC: bool> Kernel for TripletBatch<'_, '_, GRAD, ACC> {
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let TripletBatch {
            loss,
            inputs,
            grads,
            out,
            grad_scale,
        } = self;
        let eps = match loss.distance {
            Distance::Squared => 0.0,
            Distance::Euclidean => 1e-6,
        };
        let n = rows_in(inputs[0].len(), loss.dim);
        let mut samples = Samples::new(out);
        each_row(
            loss.dim,
            0..n,
            inputs,
            grads,
            loss.sample_weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let w = row.weight;
                let scale = w * grad_scale;
                let distance = loss.distance;
                w * triplet_row::<L, GRAD, ACC>(row.x, row.grad, eps, loss.margin, distance, scale)
            },
        );
        samples.total()
    }
}

/// The triplet differences `u = a - p + ε`, `v = a - n + ε` at `i`.
#[inline(always)]
fn triplet_diffs<L: Lane>([a, p, n]: [&[f32]; 3], i: usize, eps: L) -> (L, L) {
    let a: L = load(a, i, 0.0);
    let u = a - load(p, i, 0.0) + eps;
    let v = a - load(n, i, 0.0) + eps;
    (u, v)
}

/// One triplet row: its loss, and with `GRAD` its gradients times `scale`
/// (added to the gradient rows with `ACC`).
#[inline(always)]
fn triplet_row<L: Lane, const GRAD: bool, const ACC: bool>(
    x: [&[f32]; 3],
    [ga, gp, gn]: [&mut [f32]; 3],
    eps: f32,
    margin: f32,
    distance: Distance,
    scale: f32,
) -> f32 {
    let [a, p, n] = x;
    let dim = a.len();
    // Never true after the entry points' checks; saying it lets the
    // compiler drop the per-lane bounds checks of the other rows.
    let short = |s: &[f32]| s.len() != dim;
    if short(p) || short(n) || (GRAD && (short(ga) || short(gp) || short(gn))) {
        return f32::NAN;
    }
    let e = L::splat(eps);
    let [dp, dn] = dots::<L, 2>(
        dim,
        #[inline(always)]
        |i| {
            let (u, v) = triplet_diffs::<L>(x, i, e);
            [(u, u), (v, v)]
        },
    );
    let (gap, coef_p, coef_n) = match distance {
        Distance::Squared => (dp - dn, 2.0, 2.0),
        Distance::Euclidean => {
            let (dp, dn) = (sqrt1::<L>(dp), sqrt1::<L>(dn));
            (dp - dn, recip_or_zero(dp), recip_or_zero(dn))
        }
    };
    let l = gap + margin;
    let k = scale * hinge_slope(l);
    // An accumulating call adds nothing where the hinge is flat.
    if GRAD && !(ACC && k == 0.0) {
        let (alpha, beta) = (L::splat(k * coef_p), L::splat(k * coef_n));
        // `∂a = α u - β v`, `∂p = -α u`, `∂n = β v`. Up to 8 lanes one
        // pass writes all three; at 16 lanes that body is not inlined (a
        // call per lane), so each gradient gets its own pass over the
        // cache-resident rows. Measured at 4096x128, value + gradient: one
        // pass 546 us vs three 424 us at 16 lanes (AVX-512), but 477 us vs
        // 802 us at 4 lanes (SSE2); forcing the one-pass body inline did
        // not help, nor did one shared closure for the three passes.
        if L::LANES < 16 {
            for_lanes::<L, 1>(
                dim,
                #[inline(always)]
                |i, _, _| {
                    let (u, v) = triplet_diffs::<L>(x, i, e);
                    let (gu, gv) = (alpha * u, beta * v);
                    put::<L, ACC>(gu - gv, ga, i);
                    put::<L, ACC>(-gu, gp, i);
                    put::<L, ACC>(gv, gn, i);
                },
            );
        } else {
            for_lanes::<L, 1>(
                dim,
                #[inline(always)]
                |i, _, _| {
                    let (u, v) = triplet_diffs::<L>(x, i, e);
                    put::<L, ACC>(alpha * u - beta * v, ga, i);
                },
            );
            for_lanes::<L, 1>(
                dim,
                #[inline(always)]
                |i, _, _| {
                    let u = load::<L>(a, i, 0.0) - load(p, i, 0.0) + e;
                    put::<L, ACC>(-(alpha * u), gp, i);
                },
            );
            for_lanes::<L, 1>(
                dim,
                #[inline(always)]
                |i, _, _| {
                    let v = load::<L>(a, i, 0.0) - load(n, i, 0.0) + e;
                    put::<L, ACC>(beta * v, gn, i);
                },
            );
        }
    }
    hinge(l)
}
