//! Gaussian negative log-likelihood (PyTorch `gaussian_nll_loss`).
//!
//! Inputs `pred` (the means), `target` and `var`: one variance per element
//! (`n·dim` values) or one per sample (`n`, shared by its `dim` elements;
//! for `dim = 1` the two agree). With `v = max(var, eps)` and
//! `s = pred - target`:
//!
//! `f = 0.5 (ln v + s²/v)`, plus `0.5 ln 2π` with `full`;
//! `df/dpred = s / v`, `df/dvar = 0.5 (1/v - s²/v²)`.
//!
//! The `var` gradient is that derivative at the clamped `v` **also where
//! `var < eps`**: PyTorch clamps under `no_grad`, so the clamp passes the
//! gradient through (SPEC's one stated exception to "the gradient is the
//! derivative of the value"). A per-sample `var` gets the sum of its
//! elements' `df/dvar`, scaled as the value is. A negative `var` is an
//! `Err` (PyTorch raises); NaN propagates.
//!
//! Stable form: `s²/v` is `s · (s/v)`, or `s · s / v` where `s/v`
//! overflows (then `|s| > f32::MAX · v ≥ 5e-7`, so `s · s` is a normal
//! number): the loss overflows only where it is past `f32::MAX` itself, also
//! for a subnormal `v`. `df/dvar` is `0.5 (1/v - q²)` for `v ≥ 1` and
//! `0.5 (1 - s²/v) / v` below, where `1/v` and `q²` may both overflow though
//! their difference does not. The per-sample form reads `ln v` once per sample and
//! sums `Q = Σ 0.5 (s/d)²` over the sample with `d = √v` for `v < 1` and
//! `d = v` otherwise: the value's `Σ 0.5 s²/v` is `max(v, 1) Q` and the
//! `var` gradient's `Σ 0.5 (s/v)²` is `Q / min(v, 1)`. `Q` is never larger
//! than the smaller of the two, so neither overflows where the other would
//! not.

use super::layout;
use crate::Reduction;
use crate::driver::{
    ElementLoss, ElementLoss3, Samples, batch3, each_row, reduction_scale, rows_in, sweep,
};
use crate::error::{Domain, Error, check_len, check_param, const_try, rows};
use crate::lane::{self, Kernel, Lane};
use crate::math::ln;

/// `0.5 ln 2π`, the constant `full` adds.
const HALF_LN_TWO_PI: f32 = 0.918_938_5;

/// The Gaussian NLL loss (PyTorch `gaussian_nll_loss`): with
/// `v = max(var, eps)` and `s = pred - target`, `f = 0.5 (ln v + s²/v)`
/// (`+ 0.5 ln 2π` with `full`), `df/dpred = s / v`,
/// `df/dvar = 0.5 (1/v - s²/v²)`; `var` has one value per element or one
/// per sample (table in the [module docs](super)).
///
/// The `var` gradient is that derivative at the clamped `v` also where
/// `var < eps` (PyTorch clamps under `no_grad`, so the clamp passes the
/// gradient through). A per-sample `var` gets the sum of its elements'
/// `df/dvar`, scaled as the value is. A negative `var` is an `Err`
/// (PyTorch raises); NaN propagates.
///
/// ```
/// use loss_kernels::{pair::GaussianNll, Reduction};
/// // s = 2, var = 4: 0.5 (ln 4 + 4/4)
/// let v = GaussianNll::new().value(&[2.0], &[0.0], &[4.0], Reduction::Sum)?;
/// assert!((v - 0.5 * (4f32.ln() + 1.0)).abs() < 1e-6);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GaussianNll<'w> {
    full: bool,
    eps: f32,
    dim: usize,
    sample_weight: Option<&'w [f32]>,
}

/// The gradients of [`GaussianNll`]: `pred` of the inputs' length, `var` of
/// `var`'s (per element or per sample).
#[derive(Debug)]
pub struct GaussianGrads<'g> {
    /// `d loss / d pred`.
    pub pred: &'g mut [f32],
    /// `d loss / d var`.
    pub var: &'g mut [f32],
}

impl Default for GaussianNll<'static> {
    fn default() -> Self {
        Self::new()
    }
}

impl GaussianNll<'static> {
    /// PyTorch's defaults: `full = false`, `eps = 1e-6`, `dim = 1`, no
    /// weights.
    pub const fn new() -> Self {
        GaussianNll {
            full: false,
            eps: 1e-6,
            dim: 1,
            sample_weight: None,
        }
    }
}

impl<'w> GaussianNll<'w> {
    /// Adds the constant `0.5 ln 2π` to every element loss.
    ///
    /// ```
    /// use loss_kernels::{pair::GaussianNll, Reduction};
    /// let v = GaussianNll::new().full(true).value(&[0.0], &[0.0], &[1.0], Reduction::Sum)?;
    /// assert!((v - 0.918_938_5).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn full(self, full: bool) -> Self {
        GaussianNll { full, ..self }
    }

    /// Sets the variance floor `eps` (finite and `> 0`, PyTorch's default
    /// `1e-6`).
    ///
    /// ```
    /// use loss_kernels::{pair::GaussianNll, Reduction};
    /// let loss = GaussianNll::new().eps(0.5)?;
    /// // var 0 is clamped to 0.5
    /// let v = loss.value(&[0.0], &[0.0], &[0.0], Reduction::Sum)?;
    /// assert!((v - 0.5 * 0.5f32.ln()).abs() < 1e-6);
    /// assert!(GaussianNll::new().eps(0.0).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn eps(self, eps: f32) -> Result<Self, Error> {
        let eps = const_try!(check_param("eps", eps, Domain::Positive));
        Ok(GaussianNll { eps, ..self })
    }

    /// Sets the number of elements per sample (checked at the call).
    ///
    /// ```
    /// use loss_kernels::{pair::GaussianNll, Reduction};
    /// // one sample of two elements, one shared variance
    /// let v = GaussianNll::new().dim(2).value(&[1.0, 1.0], &[0.0, 0.0], &[1.0], Reduction::Sum)?;
    /// assert!((v - 0.5).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn dim(self, dim: usize) -> Self {
        GaussianNll { dim, ..self }
    }

    /// Sets per-sample weights (one per sample, checked at the call).
    ///
    /// ```
    /// use loss_kernels::{pair::GaussianNll, Reduction};
    /// let loss = GaussianNll::new().sample_weight(&[2.0]);
    /// let v = loss.value(&[1.0], &[0.0], &[1.0], Reduction::Sum)?;
    /// assert!((v - 1.0).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> GaussianNll<'v> {
        GaussianNll {
            full: self.full,
            eps: self.eps,
            dim: self.dim,
            sample_weight: Some(weight),
        }
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::{pair::GaussianNll, Reduction};
    /// let v = GaussianNll::new().value(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 1.0], Reduction::Mean)?;
    /// assert_eq!(v, 0.0);
    /// assert!(GaussianNll::new().value(&[0.0], &[0.0], &[-1.0], Reduction::Mean).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        let grads = GaussianGrads {
            pred: &mut [],
            var: &mut [],
        };
        self.run::<false, false, false>(pred, target, var, reduction, (grads, 1.0), &mut [])
    }

    /// The reduced loss and its gradients w.r.t. `pred` and `var`, in one
    /// pass.
    ///
    /// ```
    /// use loss_kernels::pair::{GaussianGrads, GaussianNll};
    /// use loss_kernels::Reduction;
    /// let (mut gp, mut gv) = ([0.0; 1], [0.0; 1]);
    /// let grads = GaussianGrads { pred: &mut gp, var: &mut gv };
    /// GaussianNll::new().value_and_grad(&[2.0], &[0.0], &[4.0], Reduction::Sum, grads)?;
    /// // s / v = 0.5; 0.5 (1/v - s²/v²) = 0.5 (0.25 - 0.25) = 0
    /// assert_eq!((gp, gv), ([0.5], [0.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        reduction: Reduction,
        grads: GaussianGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(pred, target, var, reduction, 1.0, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `pred` and
    /// `var` **added** to `grads` in the same pass (`grad += scale · ∂L`).
    /// `scale` (finite) weights the gradients only; the value returned is
    /// the loss itself, as [`value_and_grad`](Self::value_and_grad)
    /// returns it.
    ///
    /// ```
    /// use loss_kernels::pair::{GaussianGrads, GaussianNll};
    /// use loss_kernels::Reduction;
    /// let (mut gp, mut gv) = ([1.0; 1], [1.0; 1]);
    /// let grads = GaussianGrads { pred: &mut gp, var: &mut gv };
    /// let loss = GaussianNll::new();
    /// let v = loss.value_and_accumulate_grad(&[2.0], &[0.0], &[1.0], Reduction::Sum, 0.5, grads)?;
    /// // f = 0.5 (0 + 4) = 2; s / v = 2; 0.5 (1/v - s²/v²) = -1.5
    /// assert_eq!((v, gp, gv), (2.0, [1.0 + 0.5 * 2.0], [1.0 - 0.5 * 1.5]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_accumulate_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: GaussianGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<true>(pred, target, var, reduction, scale, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `pred` and `var`
    /// **written** into `grads` in the same pass (`grad = scale · ∂L`), the
    /// value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::pair::{GaussianGrads, GaussianNll};
    /// use loss_kernels::Reduction;
    /// let (mut gp, mut gv) = ([f32::NAN; 1], [f32::NAN; 1]);
    /// let grads = GaussianGrads { pred: &mut gp, var: &mut gv };
    /// let v = GaussianNll::new().value_and_scaled_grad(&[2.0], &[0.0], &[1.0], Reduction::Sum, 0.5, grads)?;
    /// // f = 0.5 (0 + 4) = 2; s / v = 2; 0.5 (1/v - s²/v²) = -1.5
    /// assert_eq!((v, gp, gv), (2.0, [0.5 * 2.0], [-0.5 * 1.5]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_scaled_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: GaussianGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(pred, target, var, reduction, scale, grads)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    fn with_scale<const ACC: bool>(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: GaussianGrads<'_>,
    ) -> Result<f32, Error> {
        check_len("grad.pred", grads.pred, pred.len())?;
        check_len("grad.var", grads.var, var.len())?;
        let scale = check_param("scale", scale, Domain::Finite)?;
        self.run::<true, false, ACC>(pred, target, var, reduction, (grads, scale), &mut [])
    }

    /// The `Mean` denominator of a batch: its number of samples,
    /// `pred.len() / dim`. Shards combine with it, within rounding: `Mean = Σ_k
    /// (d_k / d) Mean_k`, and the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradients.
    ///
    /// ```
    /// use loss_kernels::pair::GaussianNll;
    /// assert_eq!(GaussianNll::new().dim(2).mean_denominator(&[0.0; 6])?, 3.0);
    /// assert!(GaussianNll::new().dim(4).mean_denominator(&[0.0; 6]).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, pred: &[f32]) -> Result<f32, Error> {
        Ok(rows("pred", "dim", pred.len(), self.dim)? as f32)
    }

    /// The per-sample losses into `out`.
    ///
    /// ```
    /// use loss_kernels::pair::GaussianNll;
    /// let mut out = [0.0; 2];
    /// GaussianNll::new().per_sample(&[1.0, 0.0], &[0.0, 0.0], &[1.0, 1.0], &mut out)?;
    /// assert_eq!(out, [0.5, 0.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let grads = GaussianGrads {
            pred: &mut [],
            var: &mut [],
        };
        self.run::<false, true, false>(pred, target, var, Reduction::Sum, (grads, 1.0), out)
            .map(|_| ())
    }

    /// The per-sample losses and the gradients of their sum, in one pass;
    /// returns the sum.
    ///
    /// ```
    /// use loss_kernels::pair::{GaussianGrads, GaussianNll};
    /// let (mut out, mut gp, mut gv) = ([0.0; 1], [0.0; 2], [0.0; 1]);
    /// let grads = GaussianGrads { pred: &mut gp, var: &mut gv };
    /// // one sample of two elements sharing var = 1
    /// let loss = GaussianNll::new().dim(2);
    /// let sum = loss.per_sample_and_grad(&[1.0, 1.0], &[0.0, 0.0], &[1.0], &mut out, grads)?;
    /// assert_eq!((sum, gp, gv), (0.5, [0.5, 0.5], [0.0]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn per_sample_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        out: &mut [f32],
        grads: GaussianGrads<'_>,
    ) -> Result<f32, Error> {
        check_len("grad.pred", grads.pred, pred.len())?;
        check_len("grad.var", grads.var, var.len())?;
        self.run::<true, true, false>(pred, target, var, Reduction::Sum, (grads, 1.0), out)
    }

    /// Validates once, then runs the kernel; `grads` carries the factor on
    /// the gradients (1, or an accumulating call's `scale`, added with
    /// `ACC`).
    fn run<const GRAD: bool, const VALUES: bool, const ACC: bool>(
        &self,
        pred: &[f32],
        target: &[f32],
        var: &[f32],
        reduction: Reduction,
        (grads, grad_scale): (GaussianGrads<'_>, f32),
        values: &mut [f32],
    ) -> Result<f32, Error> {
        let n = layout(
            self.dim,
            ("pred", pred),
            &[("target", target)],
            self.sample_weight,
            VALUES.then_some(&*values),
        )?;
        let per_sample_var = var.len() == n && self.dim > 1;
        if !per_sample_var {
            check_len("var", var, pred.len())?;
        }
        // `|`, not `||`: one branch-free pass.
        if var.iter().fold(false, |negative, &v| negative | (v < 0.0)) {
            return Err(Error::InvalidParameter {
                argument: "var",
                expected: ">= 0 in every entry (PyTorch raises for a negative variance)",
            });
        }
        let element = Gaussian {
            eps: self.eps,
            constant: if self.full { HALF_LN_TWO_PI } else { 0.0 },
        };
        let scale = reduction_scale(reduction, n as f32) / self.dim as f32;
        let call = GaussianBatch::<GRAD, VALUES, ACC> {
            element,
            dim: self.dim,
            inputs: [pred, target, var],
            weight: self.sample_weight,
            scales: [scale, scale * grad_scale],
            grads,
            values,
        };
        Ok(if per_sample_var {
            lane::run(SharedVar(call))
        } else {
            lane::run(call)
        })
    }
}

/// The element math: `[pred, target, var]` → the value and
/// `[df/dpred, df/dvar]`.
#[derive(Clone, Copy)]
struct Gaussian {
    eps: f32,
    /// `0.5 ln 2π` with `full`, else 0.
    constant: f32,
}

impl Gaussian {
    /// `max(var, eps)`, NaN kept.
    #[inline(always)]
    fn clamp<L: Lane>(&self, var: L) -> L {
        let eps = L::splat(self.eps);
        var.lt(eps).select(eps, var)
    }
}

impl ElementLoss3 for Gaussian {
    const PAD: [f32; 3] = [0.0, 0.0, 1.0];
    #[inline(always)]
    fn eval<L: Lane>(&self, [p, t, var]: [L; 3]) -> (L, [L; 2]) {
        let half = L::splat(0.5);
        let v = self.clamp(var);
        let s = p - t;
        // `s / v`, not `s · (1 / v)`: `1 / v` overflows for a `v` below
        // `1 / f32::MAX` (a subnormal `eps` or `var`).
        let q = s / v;
        // `s²/v` as `s · q`, or as `s · s / v` where `q` overflows: there
        // `|s| > f32::MAX · v`, so `s · s` is a normal number (module docs).
        let fits = q.abs().le(L::splat(f32::MAX));
        let quadratic = fits.select(s * q, s * s / v);
        let value = half.mul_add(ln(v) + quadratic, L::splat(self.constant));
        // `1/v - q²`, or `(1 - s²/v) / v` for `v < 1`, where `1/v` and `q²`
        // can both overflow (`∞ - ∞`) though their difference does not.
        let one = L::splat(1.0);
        let large = v.ge(one);
        let var_grad = large.select(q.mul_add(-q, one / v), (one - quadratic) / v);
        (value, [q, half * var_grad])
    }
}

/// The `pred` part of one sample with a shared variance: `0.5 r²` with
/// `r = s / d`, and the gradient `q = r / e = s/v`, where `d = e = √v` for
/// `v < 1` and `d = v, e = 1` otherwise (module docs). The sample's
/// `Σ 0.5 s²/v` is `max(v, 1) Q` and its `Σ 0.5 q²` is `Q / min(v, 1)`, `Q`
/// the sum; it adds its `0.5 ln v`.
#[derive(Clone, Copy)]
struct OverVar {
    d: f32,
    e: f32,
    /// `max(var, 1)`.
    m: f32,
    /// `min(var, 1)`.
    lo: f32,
}

impl OverVar {
    #[inline(always)]
    fn new<L: Lane>(var: f32) -> Self {
        // NaN `var`: its NaN reaches every result through `d`, `e` and `lo`.
        if var >= 1.0 {
            OverVar {
                d: var,
                e: 1.0,
                m: var,
                lo: 1.0,
            }
        } else {
            let root = lane::sqrt1::<L>(var);
            OverVar {
                d: root,
                e: root,
                m: 1.0,
                lo: var,
            }
        }
    }
}

impl ElementLoss for OverVar {
    const PAD: f32 = 0.0;
    #[inline(always)]
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        // Divisions, not products with reciprocals: `1 / v` is subnormal
        // (and inexact) for a `v` near f32::MAX.
        let r = (p - t) / L::splat(self.d);
        (L::splat(0.5) * r * r, r / L::splat(self.e))
    }
}

/// A validated Gaussian NLL call (per-element variances).
struct GaussianBatch<'a, 'g, const GRAD: bool, const VALUES: bool, const ACC: bool> {
    element: Gaussian,
    dim: usize,
    inputs: [&'a [f32]; 3],
    weight: Option<&'a [f32]>,
    /// `[value, gradient]` factors: the reduction's (and `1 / dim`), the
    /// gradient's times an accumulating call's `scale`.
    scales: [f32; 2],
    grads: GaussianGrads<'g>,
    values: &'a mut [f32],
}

impl<const GRAD: bool, const VALUES: bool, const ACC: bool> Kernel
    for GaussianBatch<'_, '_, GRAD, VALUES, ACC>
{
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        batch3::<L, Gaussian, GRAD, VALUES, ACC>(
            &self.element,
            self.dim,
            self.inputs,
            self.weight,
            self.scales,
            [self.grads.pred, self.grads.var],
            self.values,
        )
    }
}

/// The same call with one variance per sample: one sweep per sample.
struct SharedVar<'a, 'g, const GRAD: bool, const VALUES: bool, const ACC: bool>(
    GaussianBatch<'a, 'g, GRAD, VALUES, ACC>,
);

impl<const GRAD: bool, const VALUES: bool, const ACC: bool> Kernel
    for SharedVar<'_, '_, GRAD, VALUES, ACC>
{
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let GaussianBatch {
            element,
            dim,
            inputs: [pred, target, var],
            weight,
            scales: [scale, grad_scale],
            grads,
            values,
        } = self.0;
        let grad_var = grads.var;
        let mut samples = Samples::new(values);
        let elements = dim as f32;
        each_row(
            dim,
            0..rows_in(pred.len(), dim),
            [pred, target],
            [grads.pred],
            weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let [p, t] = row.x;
                let [g] = row.grad;
                let v = element.clamp(var.get(row.index).copied().unwrap_or(f32::NAN));
                let (sw, sg) = (scale * row.weight, grad_scale * row.weight);
                // Q = sw Σ 0.5 (s/m) q (and q · sg into the gradient): no
                // larger than the value's sw Σ 0.5 s²/v = m Q or the
                // gradient's sw Σ 0.5 q² = Q / min(v, 1) (module docs), so neither
                // overflows, nor makes a zero weight's result 0 · ∞ = NaN,
                // where it is representable.
                let over = OverVar::new::<L>(v);
                let q_sum =
                    sweep::<L, OverVar, GRAD, false, ACC>(&over, p, t, None, [sw, sg], g, &mut []);
                if GRAD && let Some(gv) = grad_var.get_mut(row.index) {
                    // sw Σ 0.5 (1/v - q²) = sw · 0.5 dim / v - Q / min(v, 1),
                    // times the accumulating call's factor sg / sw.
                    let d = (sw * 0.5 * elements / v - q_sum / over.lo) * (grad_scale / scale);
                    *gv = if ACC { *gv + d } else { d };
                }
                let shared = 0.5 * ln(v) + element.constant;
                sw * elements * shared + over.m * q_sum
            },
        );
        samples.total()
    }
}
