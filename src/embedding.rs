//! Embedding losses over rows of `dim` values: [`Triplet`] and
//! [`CosineEmbedding`], each with its gradients w.r.t. every input.
//!
//! # Triplet
//!
//! With `u = a - p + ε` and `v = a - n + ε` per row (`ε = 0` for
//! [`Distance::Squared`], `1e-6` for [`Distance::Euclidean`], PyTorch's
//! `pairwise_distance` eps):
//!
//! | distance | `l` | `∂l/∂a`, `∂l/∂p`, `∂l/∂n` where `l > 0` |
//! |---|---|---|
//! | `Squared` (Gluon) | `max(0, Σu² - Σv² + margin)` | `2u - 2v`, `-2u`, `2v` |
//! | `Euclidean` (PyTorch) | `max(0, ‖u‖ - ‖v‖ + margin)` | `u/‖u‖ - v/‖v‖`, `-u/‖u‖`, `v/‖v‖` |
//!
//! The gradient is 0 where `l = 0`; a zero distance (`‖u‖ = 0`) contributes
//! a zero gradient (the subgradient at the cone's tip) instead of `0/0`.
//!
//! # Cosine embedding
//!
//! `cos = Σ x1 x2 / max(‖x1‖ ‖x2‖, 1e-12)` (Gluon); label `+1`: `1 - cos`;
//! label `-1`: `max(0, cos - margin)`. With `Q = ‖x1‖ ‖x2‖ > 1e-12`,
//! `∂cos/∂x1 = x2/Q - cos x1/‖x1‖²` (symmetrically for `x2`). Where
//! `Q <= 1e-12` (a zero or tiny vector) the denominator is the constant
//! `1e-12` and `∂cos/∂x1 = x2 · 1e12`: the exact derivative of the formula,
//! finite for finite inputs.
//!
//! # Passes
//!
//! Each row is read from memory once: a pass accumulates the row's sums
//! (distances or dot products, the shared `driver::row::dots`), then,
//! with a gradient, a second pass over the same (cache-resident) rows
//! writes every input's gradient into its own caller slice (the triplet
//! loss at 16 lanes: one pass per gradient, see `triplet_row`). The batch
//! walk is the shared `driver::each_row`; the kernels run at the lane type
//! the backend seam ([`lane`](crate::lane)) picks. `Mean` divides by the
//! number of rows; sample weights scale the numerator only.
//!
//! # Accuracy (measured against float64, rows of 64 values in ±1)
//!
//! Triplet per sample: `<= 91 ε (l + 1)`: the loss is a difference of two
//! sums of 64 squares (≈ 43 each here), so the error follows the distances,
//! not the loss. Cosine embedding per sample: `<= 1.4e-7` absolute.
//!
//! ```
//! use loss_kernels::embedding::{Triplet, TripletGrads};
//! use loss_kernels::Reduction;
//! let (a, p, n) = ([0.0, 0.0], [1.0, 0.0], [0.0, 0.5]);
//! let (mut ga, mut gp, mut gn) = ([0.0; 2], [0.0; 2], [0.0; 2]);
//! let grads = TripletGrads { anchor: &mut ga, positive: &mut gp, negative: &mut gn };
//! let loss = Triplet::new(2)?.value_and_grad(&a, &p, &n, Reduction::Sum, grads)?;
//! assert_eq!(loss, 1.0 - 0.25 + 1.0);
//! assert_eq!((ga, gp, gn), ([-2.0, 1.0], [2.0, 0.0], [0.0, -1.0]));
//! # Ok::<(), loss_kernels::Error>(())
//! ```

use crate::Reduction;
use crate::driver::lanes::{for_lanes, load, store};
use crate::driver::row::dots;
use crate::driver::{Samples, each_row, reduction_scale};
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{self, Kernel, Lane, MAX_LANES};

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

/// The gradient slices of a cosine embedding loss.
#[derive(Debug)]
pub struct CosineGrads<'g> {
    /// Gradient w.r.t. `x1`.
    pub x1: &'g mut [f32],
    /// Gradient w.r.t. `x2`.
    pub x2: &'g mut [f32],
}

/// Triplet loss over rows of `dim` values; see the [module docs](self).
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
    pub fn new(dim: usize) -> Result<Self, Error> {
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
    pub fn distance(self, distance: Distance) -> Self {
        Triplet { distance, ..self }
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub fn sample_weight<'v>(self, weight: &'v [f32]) -> Triplet<'v>
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
        let total = self.run::<false>(
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
        let total = self.run::<true>([anchor, positive, negative], gs, &mut [], scale);
        Ok(total * scale)
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
        self.run::<false>(
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
        Ok(self.run::<true>([anchor, positive, negative], gs, out, 1.0))
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
    /// unless it is empty, with `GRAD` the gradients times `grad_scale`;
    /// returns the sum of the losses.
    fn run<const GRAD: bool>(
        &self,
        inputs: [&[f32]; 3],
        grads: [&mut [f32]; 3],
        out: &mut [f32],
        grad_scale: f32,
    ) -> f32 {
        lane::run(TripletBatch::<GRAD> {
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
struct TripletBatch<'a, 'w, const GRAD: bool> {
    loss: Triplet<'w>,
    inputs: [&'a [f32]; 3],
    grads: [&'a mut [f32]; 3],
    out: &'a mut [f32],
    grad_scale: f32,
}

impl<const GRAD: bool> Kernel for TripletBatch<'_, '_, GRAD> {
    type Output = f32;

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
        let n = inputs[0].len() / loss.dim;
        let mut samples = Samples::new(out);
        each_row(
            loss.dim,
            0..n,
            inputs,
            grads,
            loss.sample_weight,
            &mut samples,
            |row| {
                let w = row.weight;
                let scale = w * grad_scale;
                w * triplet_row::<L, GRAD>(row.x, row.grad, eps, loss.margin, loss.distance, scale)
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

/// One triplet row: its loss, and with `GRAD` its gradients times `scale`.
#[inline(always)]
fn triplet_row<L: Lane, const GRAD: bool>(
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
    let [dp, dn] = dots::<L, 2>(dim, |i| {
        let (u, v) = triplet_diffs::<L>(x, i, e);
        [(u, u), (v, v)]
    });
    let (gap, coef_p, coef_n) = match distance {
        Distance::Squared => (dp - dn, 2.0, 2.0),
        Distance::Euclidean => {
            let (dp, dn) = (sqrt1::<L>(dp), sqrt1::<L>(dn));
            (dp - dn, recip_or_zero(dp), recip_or_zero(dn))
        }
    };
    let l = gap + margin;
    if GRAD {
        let k = scale * hinge_slope(l);
        let (alpha, beta) = (L::splat(k * coef_p), L::splat(k * coef_n));
        // `∂a = α u - β v`, `∂p = -α u`, `∂n = β v`. Up to 8 lanes one
        // pass writes all three; at 16 lanes that body is not inlined (a
        // call per lane), so each gradient gets its own pass over the
        // cache-resident rows. Measured at 4096x128, value + gradient: one
        // pass 546 us vs three 424 us at 16 lanes (AVX-512), but 477 us vs
        // 802 us at 4 lanes (SSE2); forcing the one-pass body inline did
        // not help, nor did one shared closure for the three passes.
        if L::LANES < 16 {
            for_lanes::<L, 1>(dim, |i, _, _| {
                let (u, v) = triplet_diffs::<L>(x, i, e);
                let (gu, gv) = (alpha * u, beta * v);
                store(gu - gv, ga, i);
                store(-gu, gp, i);
                store(gv, gn, i);
            });
        } else {
            for_lanes::<L, 1>(dim, |i, _, _| {
                let (u, v) = triplet_diffs::<L>(x, i, e);
                store(alpha * u - beta * v, ga, i);
            });
            for_lanes::<L, 1>(dim, |i, _, _| {
                let u = load::<L>(a, i, 0.0) - load(p, i, 0.0) + e;
                store(-(alpha * u), gp, i);
            });
            for_lanes::<L, 1>(dim, |i, _, _| {
                let v = load::<L>(a, i, 0.0) - load(n, i, 0.0) + e;
                store(beta * v, gn, i);
            });
        }
    }
    hinge(l)
}

/// Cosine embedding loss over rows of `dim` values with labels `±1`; see
/// the [module docs](self).
///
/// ```
/// use loss_kernels::embedding::{CosineEmbedding, CosineGrads};
/// use loss_kernels::Reduction;
/// let (x1, x2) = ([1.0, 0.0], [0.0, 0.0]); // a zero vector: finite
/// let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
/// let grads = CosineGrads { x1: &mut g1, x2: &mut g2 };
/// let v = CosineEmbedding::new(2)?.value_and_grad(&x1, &x2, &[1.0], Reduction::Sum, grads)?;
/// assert_eq!(v, 1.0);
/// assert!(g1.iter().chain(&g2).all(|g| g.is_finite()));
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CosineEmbedding<'w> {
    dim: usize,
    margin: f32,
    sample_weight: Option<&'w [f32]>,
}

impl CosineEmbedding<'static> {
    /// Cosine embedding loss over rows of `dim` (at least 1) values,
    /// margin 0.
    pub fn new(dim: usize) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::ZeroSize { argument: "dim" });
        }
        Ok(CosineEmbedding {
            dim,
            margin: 0.0,
            sample_weight: None,
        })
    }
}

impl<'w> CosineEmbedding<'w> {
    /// The margin of the `-1` labels (finite; default 0).
    pub fn margin(self, margin: f32) -> Result<Self, Error> {
        let margin = check_param("margin", margin, Domain::Finite)?;
        Ok(CosineEmbedding { margin, ..self })
    }

    /// Per-sample weights (one per row, checked at the call).
    #[must_use]
    pub fn sample_weight<'v>(self, weight: &'v [f32]) -> CosineEmbedding<'v>
    where
        'w: 'v,
    {
        CosineEmbedding {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss; `labels` holds one `+1.0` or `-1.0` per row.
    pub fn value(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2, labels)?;
        let total = self.run::<false>([x1, x2], labels, [&mut [], &mut []], &mut [], 1.0);
        Ok(total * reduction_scale(reduction, n as f32))
    }

    /// The reduced loss and its gradients w.r.t. `x1` and `x2`.
    pub fn value_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        reduction: Reduction,
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2, labels)?;
        check_len("grads.x1", grads.x1, x1.len())?;
        check_len("grads.x2", grads.x2, x1.len())?;
        let scale = reduction_scale(reduction, n as f32);
        let total = self.run::<true>([x1, x2], labels, [grads.x1, grads.x2], &mut [], scale);
        Ok(total * scale)
    }

    /// The per-sample losses into `out`, one per row.
    pub fn per_sample(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.check(x1, x2, labels)?;
        check_len("out", out, n)?;
        self.run::<false>([x1, x2], labels, [&mut [], &mut []], out, 1.0);
        Ok(())
    }

    /// The per-sample losses into `out` and the gradients of their sum;
    /// returns the sum.
    pub fn per_sample_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        labels: &[f32],
        out: &mut [f32],
        grads: CosineGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2, labels)?;
        check_len("out", out, n)?;
        check_len("grads.x1", grads.x1, x1.len())?;
        check_len("grads.x2", grads.x2, x1.len())?;
        Ok(self.run::<true>([x1, x2], labels, [grads.x1, grads.x2], out, 1.0))
    }

    fn check(&self, x1: &[f32], x2: &[f32], labels: &[f32]) -> Result<usize, Error> {
        let n = rows("x1", "dim", x1.len(), self.dim)?;
        check_len("x2", x2, x1.len())?;
        check_len("labels", labels, n)?;
        if labels.iter().any(|&y| y != 1.0 && y != -1.0) {
            return Err(Error::InvalidParameter {
                argument: "labels",
                expected: "+1 or -1 in every entry",
            });
        }
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        Ok(n)
    }

    /// Runs the validated call: the losses (sample-weighted) into `out`
    /// unless it is empty, with `GRAD` the gradients times `grad_scale`;
    /// returns the sum of the losses.
    fn run<const GRAD: bool>(
        &self,
        inputs: [&[f32]; 2],
        labels: &[f32],
        grads: [&mut [f32]; 2],
        out: &mut [f32],
        grad_scale: f32,
    ) -> f32 {
        lane::run(CosineBatch::<GRAD> {
            loss: *self,
            inputs,
            labels,
            grads,
            out,
            grad_scale,
        })
    }
}

/// A validated cosine-embedding call (see [`Kernel`]).
struct CosineBatch<'a, 'w, const GRAD: bool> {
    loss: CosineEmbedding<'w>,
    inputs: [&'a [f32]; 2],
    labels: &'a [f32],
    grads: [&'a mut [f32]; 2],
    out: &'a mut [f32],
    grad_scale: f32,
}

impl<const GRAD: bool> Kernel for CosineBatch<'_, '_, GRAD> {
    type Output = f32;

    fn run<L: Lane>(self) -> f32 {
        let CosineBatch {
            loss,
            inputs,
            labels,
            grads,
            out,
            grad_scale,
        } = self;
        let n = inputs[0].len() / loss.dim;
        let mut samples = Samples::new(out);
        each_row(
            loss.dim,
            0..n,
            inputs,
            grads,
            loss.sample_weight,
            &mut samples,
            |row| {
                let positive = labels.get(row.index).is_some_and(|&y| y == 1.0);
                let w = row.weight;
                let scale = w * grad_scale;
                w * cosine_row::<L, GRAD>(row.x, row.grad, positive, loss.margin, scale)
            },
        );
        samples.total()
    }
}

/// One cosine-embedding row: its loss, and with `GRAD` its gradients times
/// `scale`.
#[inline(always)]
fn cosine_row<L: Lane, const GRAD: bool>(
    [x1, x2]: [&[f32]; 2],
    [g1, g2]: [&mut [f32]; 2],
    positive: bool,
    margin: f32,
    scale: f32,
) -> f32 {
    let dim = x1.len();
    // Never true after the entry points' checks; saying it lets the
    // compiler drop the per-lane bounds checks of the other rows.
    if x2.len() != dim || (GRAD && (g1.len() != dim || g2.len() != dim)) {
        return f32::NAN;
    }
    let [dot, s1, s2] = dots::<L, 3>(dim, |i| {
        let (a, b): (L, L) = (load(x1, i, 0.0), load(x2, i, 0.0));
        [(a, b), (a, a), (b, b)]
    });
    let q = sqrt1::<L>(s1) * sqrt1::<L>(s2);
    let big = q > 1e-12;
    let den = if big { q } else { 1e-12 };
    let cos = dot / den;
    let (loss, slope) = if positive {
        (1.0 - cos, -1.0)
    } else {
        let h = cos - margin;
        (hinge(h), hinge_slope(h))
    };
    if GRAD {
        let k = scale * slope;
        let inv = L::splat(k / den);
        let zero = L::splat(0.0);
        let (c1, c2) = if big {
            (L::splat(k * cos / s1), L::splat(k * cos / s2))
        } else {
            (zero, zero)
        };
        for_lanes::<L, 1>(dim, |i, _, _| {
            let (a, b): (L, L) = (load(x1, i, 0.0), load(x2, i, 0.0));
            store(b * inv - c1 * a, g1, i);
            store(a * inv - c2 * b, g2, i);
        });
    }
    loss
}

/// `max(0, l)` keeping NaN.
#[inline(always)]
fn hinge(l: f32) -> f32 {
    if l <= 0.0 { 0.0 } else { l }
}

/// The derivative of [`hinge`]: 1 above 0, 0 below, NaN for NaN.
#[inline(always)]
fn hinge_slope(l: f32) -> f32 {
    if l > 0.0 {
        1.0
    } else if l.is_nan() {
        f32::NAN
    } else {
        0.0
    }
}

/// `sqrt(x)` of one value through the square root of the kernel's lane
/// type `L`.
///
/// `libm::sqrtf` (what `<f32 as Lane>::sqrt` calls) is a legacy-SSE
/// `sqrtss` in inline assembly; between AVX instructions it pays an
/// SSE/AVX transition stall on every call. Measured with AVX-512: the
/// cosine loss at 4096x128 ran 2.5x slower than the triplet loss, with
/// three quarters of its time on the instructions after the two `sqrtss`.
/// The vector `sqrt` is correctly rounded, so the result is the same.
#[inline(always)]
fn sqrt1<L: Lane>(x: f32) -> f32 {
    let mut a = [0.0f32; MAX_LANES];
    L::splat(x).sqrt().store(&mut a);
    a.first().copied().unwrap_or(f32::NAN)
}

/// `1 / d`, 0 at `d = 0`.
#[inline(always)]
fn recip_or_zero(d: f32) -> f32 {
    if d == 0.0 { 0.0 } else { 1.0 / d }
}

#[cfg(all(test, feature = "test-lanes"))]
mod tests {
    extern crate std;
    use super::*;
    use crate::lane::testing::{WIDTHS, runs, with_lanes};
    use std::{vec, vec::Vec};

    /// Every output of one call of each loss: the per-sample losses, their
    /// sum and every gradient, for rows of `dim` values.
    fn outputs(dim: usize) -> Result<Vec<f32>, Error> {
        let rows = 5;
        let mut seed = 0x9e37_79b9_u32 ^ dim as u32;
        let mut value = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        };
        let len = rows * dim;
        let [a, p, n] = [(); 3].map(|()| (0..len).map(|_| value()).collect::<Vec<f32>>());
        let labels: Vec<f32> = (0..rows)
            .map(|r| if r % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let weight: Vec<f32> = (0..rows).map(|r| 0.5 + r as f32).collect();
        let mut all = Vec::new();
        for distance in [Distance::Squared, Distance::Euclidean] {
            let loss = Triplet::new(dim)?
                .margin(0.5)?
                .distance(distance)
                .sample_weight(&weight);
            let (mut out, mut g) = (vec![0.0; rows], [(); 3].map(|()| vec![0.0; len]));
            let [ga, gp, gn] = &mut g;
            let grads = TripletGrads {
                anchor: ga,
                positive: gp,
                negative: gn,
            };
            all.push(loss.per_sample_and_grad(&a, &p, &n, &mut out, grads)?);
            all.extend(out.iter().chain(g.iter().flatten()));
        }
        let loss = CosineEmbedding::new(dim)?
            .margin(-0.2)?
            .sample_weight(&weight);
        let (mut out, mut g1, mut g2) = (vec![0.0; rows], vec![0.0; len], vec![0.0; len]);
        let grads = CosineGrads {
            x1: &mut g1,
            x2: &mut g2,
        };
        all.push(loss.per_sample_and_grad(&a, &p, &labels, &mut out, grads)?);
        all.extend(out.iter().chain(&g1).chain(&g2));
        Ok(all)
    }

    /// Both losses agree across the lane widths (summation order aside),
    /// for dims below, at and around the widths.
    #[test]
    fn lane_widths_agree() -> Result<(), Error> {
        for dim in [1, 3, 16, 17, 64] {
            let scalar = with_lanes(1, || outputs(dim))?;
            for width in WIDTHS {
                let before = runs();
                let wide = with_lanes(width, || outputs(dim))?;
                assert_ne!(before, runs(), "dim {dim}: no kernel ran at {width} lanes");
                assert_eq!(wide.len(), scalar.len());
                for (k, (w, s)) in wide.iter().zip(&scalar).enumerate() {
                    let tol = 1e-5 * (1.0 + s.abs()) * dim as f32;
                    assert!(
                        (w - s).abs() <= tol,
                        "dim {dim}, {width} lanes, output {k}: {w} vs {s}"
                    );
                }
            }
        }
        Ok(())
    }
}
