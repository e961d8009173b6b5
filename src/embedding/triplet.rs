//! The triplet loss; the math is in the [module docs](super).

use super::{hinge, hinge_slope, recip_or_zero};
use crate::Reduction;
use crate::driver::lanes::{for_lanes, load, put};
use crate::driver::row::dots;
use crate::driver::{Samples, each_row, reduction_scale, rows_in};
use crate::error::{Domain, Error, check_len, check_param, const_try, rows};
use crate::lane::sqrt1;
use crate::lane::{self, Kernel, Lane};

/// The distance a [`Triplet`] loss compares, of `w = u - v + eps`
/// ([`Triplet::eps`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Distance {
    /// Squared Euclidean distance `Σ w²` (Gluon's `TripletLoss`; default
    /// eps 0).
    #[default]
    Squared,
    /// Euclidean distance `‖w‖₂` (PyTorch `triplet_margin_loss(p=2)`;
    /// default eps `1e-6`).
    Euclidean,
    /// Manhattan distance `‖w‖₁ = Σ |w|` (PyTorch
    /// `triplet_margin_loss(p=1)`; default eps `1e-6`).
    Manhattan,
}

impl Distance {
    /// PyTorch's `p` of the norm: 1 ([`Manhattan`](Self::Manhattan)) or 2
    /// ([`Euclidean`](Self::Euclidean)); any other is an error
    /// (`Squared` is not a p-norm: choose it by name).
    ///
    /// ```
    /// use loss_kernels::embedding::Distance;
    /// assert_eq!(Distance::p_norm(1)?, Distance::Manhattan);
    /// assert!(Distance::p_norm(3).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn p_norm(p: u32) -> Result<Distance, Error> {
        match p {
            1 => Ok(Distance::Manhattan),
            2 => Ok(Distance::Euclidean),
            _ => Err(Error::InvalidParameter {
                argument: "p",
                expected: "1 or 2",
            }),
        }
    }

    /// The eps PyTorch's `pairwise_distance` adds by default (`1e-6`),
    /// 0 for the squared distance (Gluon adds none).
    const fn default_eps(self) -> f32 {
        match self {
            Distance::Squared => 0.0,
            Distance::Euclidean | Distance::Manhattan => 1e-6,
        }
    }
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
    eps: Option<f32>,
    swap: bool,
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
            eps: None,
            swap: false,
            sample_weight: None,
        })
    }
}

impl<'w> Triplet<'w> {
    /// The margin (finite; Gluon's and PyTorch's default is 1).
    pub const fn margin(self, margin: f32) -> Result<Self, Error> {
        let margin = const_try!(check_param("margin", margin, Domain::Finite));
        Ok(Triplet { margin, ..self })
    }

    /// The distance compared.
    #[must_use]
    pub const fn distance(self, distance: Distance) -> Self {
        Triplet { distance, ..self }
    }

    /// The `eps` added to every difference, `d(u, v) = ‖u - v + eps‖`
    /// (finite; PyTorch's default `1e-6` for the p-norms, 0 for
    /// [`Distance::Squared`], which is what an unset eps gives).
    ///
    /// ```
    /// use loss_kernels::embedding::{Distance, Triplet};
    /// use loss_kernels::Reduction;
    /// let loss = Triplet::new(1)?.distance(Distance::Manhattan).eps(0.0)?.margin(0.0)?;
    /// assert_eq!(loss.value(&[0.0], &[1.0], &[-3.0], Reduction::Sum)?, 0.0);
    /// assert!(Triplet::new(1)?.eps(f32::NAN).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn eps(self, eps: f32) -> Result<Self, Error> {
        let eps = const_try!(check_param("eps", eps, Domain::Finite));
        Ok(Triplet {
            eps: Some(eps),
            ..self
        })
    }

    /// PyTorch's `swap`: the negative distance is
    /// `min(d(a, n), d(p, n))` (default `false`: `d(a, n)`). At a tie the
    /// gradient of the minimum is split equally between the two distances
    /// (PyTorch's `minimum` backward).
    ///
    /// ```
    /// use loss_kernels::embedding::{Distance, Triplet};
    /// use loss_kernels::Reduction;
    /// let loss = Triplet::new(1)?.distance(Distance::Manhattan).eps(0.0)?;
    /// let (a, p, n) = ([0.0], [2.0], [2.5]); // d(p, n) = 0.5 < d(a, n) = 2.5
    /// assert_eq!(loss.value(&a, &p, &n, Reduction::Sum)?, 0.5);
    /// assert_eq!(loss.swap(true).value(&a, &p, &n, Reduction::Sum)?, 2.5);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn swap(self, swap: bool) -> Self {
        Triplet { swap, ..self }
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
    #[inline(always)]
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
    #[inline(always)]
    pub fn value_and_grad(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        reduction: Reduction,
        grads: TripletGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(anchor, positive, negative, reduction, 1.0, grads)
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
    #[inline(always)]
    pub fn value_and_accumulate_grad(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: TripletGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<true>(anchor, positive, negative, reduction, scale, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. the three inputs
    /// **written** into `grads` in the same pass (`grad = scale · ∂L`), the
    /// value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::embedding::{Triplet, TripletGrads};
    /// use loss_kernels::Reduction;
    /// let (a, p, n) = ([0.0], [1.0], [0.5]);
    /// let (mut ga, mut gp, mut gn) = ([f32::NAN], [f32::NAN], [f32::NAN]);
    /// let grads = TripletGrads { anchor: &mut ga, positive: &mut gp, negative: &mut gn };
    /// let v = Triplet::new(1)?.value_and_scaled_grad(&a, &p, &n, Reduction::Sum, 0.5, grads)?;
    /// assert_eq!(v, 1.0 - 0.25 + 1.0);
    /// assert_eq!((ga, gp, gn), ([-0.5], [1.0], [-0.5]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_scaled_grad(
        &self,
        anchor: &[f32],
        positive: &[f32],
        negative: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: TripletGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(anchor, positive, negative, reduction, scale, grads)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    fn with_scale<const ACC: bool>(
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
        let total = self.run::<true, ACC>(inputs, gs, &mut [], scale * factor);
        Ok(total * scale)
    }

    /// The `Mean` denominator of a batch: its number of rows. Shards
    /// combine with it, within rounding: `Mean = Σ_k (d_k / d) Mean_k`, and the
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
    #[inline(always)]
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
    #[inline(always)]
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
    ///
    /// Inlined, so where the distance and the swap are known at compile
    /// time (a `const` configuration) only their kernel is linked: each
    /// `(distance, swap)` kernel is its own function.
    #[inline(always)]
    fn run<const GRAD: bool, const ACC: bool>(
        &self,
        inputs: [&[f32]; 3],
        grads: [&mut [f32]; 3],
        out: &mut [f32],
        grad_scale: f32,
    ) -> f32 {
        let call = TripletBatch::<GRAD, ACC> {
            loss: *self,
            inputs,
            grads,
            out,
            grad_scale,
        };
        match (self.distance, self.swap) {
            (Distance::Squared, false) => call.kernel::<{ dist::SQUARED }, false>(),
            (Distance::Squared, true) => call.kernel::<{ dist::SQUARED }, true>(),
            (Distance::Euclidean, false) => call.kernel::<{ dist::EUCLIDEAN }, false>(),
            (Distance::Euclidean, true) => call.kernel::<{ dist::EUCLIDEAN }, true>(),
            (Distance::Manhattan, false) => call.kernel::<{ dist::MANHATTAN }, false>(),
            (Distance::Manhattan, true) => call.kernel::<{ dist::MANHATTAN }, true>(),
        }
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

/// The kernels of the distances, one per `(distance, swap)`.
mod dist {
    /// [`super::Distance::Squared`].
    pub(super) const SQUARED: u8 = 0;
    /// [`super::Distance::Euclidean`].
    pub(super) const EUCLIDEAN: u8 = 1;
    /// [`super::Distance::Manhattan`].
    pub(super) const MANHATTAN: u8 = 2;
}

impl<const GRAD: bool, const ACC: bool> TripletBatch<'_, '_, GRAD, ACC> {
    /// The kernel of the distance `DIST` (a [`dist`] constant) and `SWAP`,
    /// through the backend seam.
    #[inline(never)]
    fn kernel<const DIST: u8, const SWAP: bool>(self) -> f32 {
        lane::run(Distances::<GRAD, ACC, DIST, SWAP>(self))
    }
}

/// A validated triplet call with its distance kernel chosen (see [`Kernel`]).
struct Distances<'a, 'w, const GRAD: bool, const ACC: bool, const DIST: u8, const SWAP: bool>(
    TripletBatch<'a, 'w, GRAD, ACC>,
);

impl<const GRAD: bool, const ACC: bool, const DIST: u8, const SWAP: bool> Kernel
    for Distances<'_, '_, GRAD, ACC, DIST, SWAP>
{
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        self.0.batch::<L, DIST, SWAP>()
    }
}

impl<const GRAD: bool, const ACC: bool> TripletBatch<'_, '_, GRAD, ACC> {
    /// Every row with the distance `DIST` (a [`dist`] constant), `SWAP`.
    #[inline(always)]
    fn batch<L: Lane, const DIST: u8, const SWAP: bool>(self) -> f32 {
        let TripletBatch {
            loss,
            inputs,
            grads,
            out,
            grad_scale,
        } = self;
        let eps = loss.eps.unwrap_or(loss.distance.default_eps());
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
                w * triplet_row::<L, DIST, SWAP, GRAD, ACC>(
                    row.x,
                    row.grad,
                    eps,
                    loss.margin,
                    scale,
                )
            },
        );
        samples.total()
    }
}

/// The triplet differences `u = a - p + ε`, `v = a - n + ε` and (for the
/// swap) `w = p - n + ε` at `i`.
#[inline(always)]
fn triplet_diffs<L: Lane>([a, p, n]: [&[f32]; 3], i: usize, eps: L) -> [L; 3] {
    let (a, p, n): (L, L, L) = (load(a, i, 0.0), load(p, i, 0.0), load(n, i, 0.0));
    [a - p + eps, a - n + eps, p - n + eps]
}

/// What a distance `DIST` sums per value: `w²`, or `|w|` (Manhattan).
#[inline(always)]
fn term<L: Lane, const DIST: u8>(w: L) -> (L, L) {
    if DIST == dist::MANHATTAN {
        (w.abs(), L::splat(1.0))
    } else {
        (w, w)
    }
}

/// The distance `DIST` from its sum, and the factor of its gradient
/// w.r.t. `w` (`∂d/∂w = factor · f(w)`, [`direction`]).
#[inline(always)]
fn distance<L: Lane, const DIST: u8>(sum: f32) -> (f32, f32) {
    match DIST {
        dist::SQUARED => (sum, 2.0),
        dist::EUCLIDEAN => {
            let d = sqrt1::<L>(sum);
            (d, recip_or_zero(d))
        }
        _ => (sum, 1.0),
    }
}

/// `f(w)` of [`distance`]: `w`, or `sign(w)` (0 at 0) for Manhattan.
#[inline(always)]
fn direction<L: Lane, const DIST: u8>(w: L) -> L {
    if DIST == dist::MANHATTAN {
        let zero = L::splat(0.0);
        w.gt(zero)
            .select(L::splat(1.0), w.lt(zero).select(L::splat(-1.0), zero))
    } else {
        w
    }
}

/// The negative distance and the share `λ` of its gradient that goes to
/// `d(a, n)` (the rest to `d(p, n)`): without the swap `d(a, n)` and 1;
/// with it the smaller of the two (NaN if either is), 1/2 at a tie.
#[inline(always)]
fn negative<const SWAP: bool>(d_an: f32, d_pn: f32) -> (f32, f32) {
    if !SWAP {
        return (d_an, 1.0);
    }
    if d_an.is_nan() || d_pn.is_nan() {
        (f32::NAN, 1.0)
    } else if d_pn < d_an {
        (d_pn, 0.0)
    } else if d_pn == d_an {
        (d_an, 0.5)
    } else {
        (d_an, 1.0)
    }
}

/// The three gradients at `i`: `∂a = k_u f(u) - k_v f(v)`,
/// `∂p = -k_u f(u) - k_w f(w)`, `∂n = k_v f(v) + k_w f(w)`.
#[inline(always)]
fn triplet_grads<L: Lane, const DIST: u8, const SWAP: bool>(
    x: [&[f32]; 3],
    i: usize,
    eps: L,
    [ku, kv, kw]: [L; 3],
) -> [L; 3] {
    let [u, v, w] = triplet_diffs::<L>(x, i, eps);
    let gu = ku * direction::<L, DIST>(u);
    let gv = kv * direction::<L, DIST>(v);
    if SWAP {
        let gw = kw * direction::<L, DIST>(w);
        [gu - gv, -gu - gw, gv + gw]
    } else {
        [gu - gv, -gu, gv]
    }
}

/// One triplet row: its loss, and with `GRAD` its gradients times `scale`
/// (added to the gradient rows with `ACC`).
#[inline(always)]
fn triplet_row<L: Lane, const DIST: u8, const SWAP: bool, const GRAD: bool, const ACC: bool>(
    x: [&[f32]; 3],
    [ga, gp, gn]: [&mut [f32]; 3],
    eps: f32,
    margin: f32,
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
    let [s_ap, s_an, s_pn] = if SWAP {
        dots::<L, 3>(
            dim,
            #[inline(always)]
            |i| {
                // (Not `array::map`: its `try_map` is not inlined into the
                // AVX entries.)
                let [u, v, w] = triplet_diffs::<L>(x, i, e);
                [term::<L, DIST>(u), term::<L, DIST>(v), term::<L, DIST>(w)]
            },
        )
    } else {
        let [s_ap, s_an] = dots::<L, 2>(
            dim,
            #[inline(always)]
            |i| {
                let [u, v, _] = triplet_diffs::<L>(x, i, e);
                [term::<L, DIST>(u), term::<L, DIST>(v)]
            },
        );
        [s_ap, s_an, 0.0]
    };
    let (d_ap, c_ap) = distance::<L, DIST>(s_ap);
    let (d_an, c_an) = distance::<L, DIST>(s_an);
    let (d_pn, c_pn) = if SWAP {
        distance::<L, DIST>(s_pn)
    } else {
        (0.0, 0.0)
    };
    let (d_neg, share) = negative::<SWAP>(d_an, d_pn);
    let l = d_ap - d_neg + margin;
    let k = scale * hinge_slope(l);
    // An accumulating call adds nothing where the hinge is flat.
    if GRAD && !(ACC && k == 0.0) {
        let ks = [
            L::splat(k * c_ap),
            L::splat(k * share * c_an),
            L::splat(k * (1.0 - share) * c_pn),
        ];
        // Up to 8 lanes one pass writes all three; at 16 lanes that body
        // is not inlined (a call per lane), so each gradient gets its own
        // pass over the cache-resident rows. Measured at 4096x128, value +
        // gradient: one pass 546 us vs three 424 us at 16 lanes (AVX-512),
        // but 477 us vs 802 us at 4 lanes (SSE2); forcing the one-pass body
        // inline did not help.
        if L::LANES < 16 {
            for_lanes::<L, 1>(
                dim,
                #[inline(always)]
                |i, _, _| {
                    let [da, dp, dn] = triplet_grads::<L, DIST, SWAP>(x, i, e, ks);
                    put::<L, ACC>(da, ga, i);
                    put::<L, ACC>(dp, gp, i);
                    put::<L, ACC>(dn, gn, i);
                },
            );
        } else {
            grad_pass::<L, DIST, SWAP, 0, ACC>(x, ga, e, ks);
            grad_pass::<L, DIST, SWAP, 1, ACC>(x, gp, e, ks);
            grad_pass::<L, DIST, SWAP, 2, ACC>(x, gn, e, ks);
        }
    }
    hinge(l)
}

/// One gradient (`SLOT`: anchor, positive, negative) of a triplet row.
#[inline(always)]
fn grad_pass<L: Lane, const DIST: u8, const SWAP: bool, const SLOT: usize, const ACC: bool>(
    x: [&[f32]; 3],
    g: &mut [f32],
    e: L,
    ks: [L; 3],
) {
    for_lanes::<L, 1>(
        g.len(),
        #[inline(always)]
        |i, _, _| {
            let d = triplet_grads::<L, DIST, SWAP>(x, i, e, ks);
            if let Some(&v) = d.get(SLOT) {
                put::<L, ACC>(v, g, i);
            }
        },
    );
}
