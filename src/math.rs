//! Vector math over [`Lane`]: the elementary functions the losses need.
//!
//! Every function is written once, generic over [`Lane`], so the scalar build
//! and every SIMD width compute the same approximation. None of them branches
//! per element; special inputs are patched with masks. Coefficients are
//! Taylor/atanh series coefficients (`1/k!`, `1/(2k+1)`), so each constant's
//! provenance is the series itself; the truncation error of each is stated
//! below and is far under one `f32` ulp.
//!
//! The error bounds in each doc were **measured** (see `tests/math_accuracy.rs`,
//! which sweeps each function's range against float64 `libm` and enforces the
//! bound) and are given in units of `f32::EPSILON` relative error (`rel`) or
//! as an absolute error (`abs`), over the input range the losses feed the
//! function.

use crate::lane::Lane;

const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split so that `n * LN2_HI` is exact for `|n| < 2^11` (low 12
/// mantissa bits zero).
const LN2_HI: f32 = 0.693_145_75;
/// `ln 2 - LN2_HI`.
const LN2_LO: f32 = 1.428_606_8e-6;
/// `1.5 * 2^23`: adding it rounds a float of magnitude `< 2^22` to an integer
/// held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Below this, `e^x` is under the smallest normal `f32` and is flushed to 0.
const EXP_MIN_ARG: f32 = -87.336_55;
/// Above this, `e^x` overflows `f32`.
const EXP_MAX_ARG: f32 = 88.722_84;

/// `e^r` for `|r| <= ln(2)/2`: degree-7 Taylor polynomial (truncation error
/// `<= 0.3466^8 / 8! = 5.2e-9` relative), Horner form.
#[inline(always)]
fn exp_reduced<L: Lane>(r: L) -> L {
    let c = L::splat;
    let p = r.mul_add(c(1.0 / 5040.0), c(1.0 / 720.0));
    let p = p.mul_add(r, c(1.0 / 120.0));
    let p = p.mul_add(r, c(1.0 / 24.0));
    let p = p.mul_add(r, c(1.0 / 6.0));
    let p = p.mul_add(r, c(0.5));
    let p = p.mul_add(r, c(1.0));
    p.mul_add(r, c(1.0))
}

/// Range reduction `x = n ln2 + r`: returns `(e^r, n + ROUND_MAGIC)`.
#[inline(always)]
fn exp_split<L: Lane>(x: L) -> (L, L) {
    let t = x.mul_add(L::splat(LOG2E), L::splat(ROUND_MAGIC));
    let n = t - L::splat(ROUND_MAGIC);
    let r = n.mul_add(L::splat(-LN2_HI), x);
    let r = n.mul_add(L::splat(-LN2_LO), r);
    (exp_reduced(r), t)
}

/// `2^n` from `t = n + ROUND_MAGIC` with integral `n` in `[-126, 127]`: the
/// low mantissa bits of `t + 127` are the biased exponent.
#[inline(always)]
fn pow2_from_magic<L: Lane>(t: L) -> L {
    (t + L::splat(127.0)).bits_shl(23)
}

/// `e^x` for `x <= 0`: the softmax/log-sum-exp case `e^(x - max)`.
///
/// Results under the smallest normal `f32` (`x < -87.34`) are flushed to 0
/// (absolute error `< 1.2e-38`); `-inf` gives 0, NaN gives NaN. For `x > 0`
/// the result is unspecified: use [`exp`].
///
/// Measured error on `[-87.3, 0]`: `<= 2 rel` (2 × `f32::EPSILON`).
///
/// ```
/// use loss_kernels::math::exp_nonpositive;
/// assert!((exp_nonpositive(-1.0f32) - 0.36787944).abs() < 1e-7);
/// ```
#[inline(always)]
pub fn exp_nonpositive<L: Lane>(x: L) -> L {
    let (p, t) = exp_split(x);
    let y = p * pow2_from_magic(t);
    x.lt(L::splat(EXP_MIN_ARG)).select(L::splat(0.0), y)
}

/// `e^x` for any `x`: `+inf` above 88.72, 0 below -87.34 (results under the
/// smallest normal `f32` flushed to zero), NaN for NaN.
///
/// Measured error on `[-87.3, 88.7]`: `<= 2 rel`.
///
/// ```
/// use loss_kernels::math::exp;
/// assert!((exp(2.0f32) - 7.389056).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn exp<L: Lane>(x: L) -> L {
    let (p, t) = exp_split(x);
    // n = 128 happens just below the overflow bound: scale by 2^127 * 2.
    let top = t.gt(L::splat(ROUND_MAGIC + 127.0));
    let one = top.and(L::splat(1.0));
    let y = p * pow2_from_magic(t - one) * (one + L::splat(1.0));
    let y = x.lt(L::splat(EXP_MIN_ARG)).select(L::splat(0.0), y);
    x.gt(L::splat(EXP_MAX_ARG))
        .select(L::splat(f32::INFINITY), y)
}

/// `2 atanh(s) = ln((1+s)/(1-s))` for `|s| <= 1/3` by its odd series through
/// `s^13` (truncation error `<= 2 (1/3)^15 / 15 = 9.3e-9` relative).
#[inline(always)]
fn two_atanh<L: Lane>(s: L) -> L {
    let c = L::splat;
    let z = s * s;
    let p = z.mul_add(c(1.0 / 13.0), c(1.0 / 11.0));
    let p = p.mul_add(z, c(1.0 / 9.0));
    let p = p.mul_add(z, c(1.0 / 7.0));
    let p = p.mul_add(z, c(1.0 / 5.0));
    let p = p.mul_add(z, c(1.0 / 3.0));
    let p = p.mul_add(z, c(1.0));
    (s + s) * p
}

/// Natural logarithm.
///
/// `x = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))`, `ln m = 2 atanh((m-1)/(m+1))`.
/// Subnormals are handled; `ln 0 = -inf`, `ln(+inf) = +inf`, negative
/// inputs and NaN give NaN.
///
/// Measured error on `[1e-30, 1e30]`: `<= 2 rel`.
///
/// ```
/// use loss_kernels::math::ln;
/// assert!((ln(10.0f32) - 2.3025851).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn ln<L: Lane>(x: L) -> L {
    let c = L::splat;
    let sub = x.lt(c(f32::MIN_POSITIVE));
    let xs = sub.select(x * c(8_388_608.0), x);
    // Exponent field as a float: 2^23 + field, minus 2^23.
    let field = xs.bits_shr(23).bits_or(0x4B00_0000) - c(8_388_608.0);
    let m = xs.bits_and(0x007F_FFFF).bits_or(0x3F80_0000);
    let big = m.gt(c(core::f32::consts::SQRT_2));
    let m = big.select(m * c(0.5), m);
    let e = field - c(127.0) + big.and(c(1.0)) - sub.and(c(23.0));
    let s = (m - c(1.0)) / (m + c(1.0));
    let y = e.mul_add(c(LN2_HI), e.mul_add(c(LN2_LO), two_atanh(s)));
    let y = x.lt(c(0.0)).select(c(f32::NAN), y);
    let y = x.eq(c(0.0)).select(c(f32::NEG_INFINITY), y);
    let y = x.eq(c(f32::INFINITY)).select(x, y);
    x.is_nan().select(x, y)
}

/// `ln(1 + y)` for `y` in `[-1/2, 1]`, as `2 atanh(y / (2 + y))`: no
/// cancellation for tiny `y`. [`ln_1p`] uses it; the losses, whose argument
/// is `e^-|x|` in `[0, 1]`, use the division-free [`ln_1p_unit`].
#[inline(always)]
fn ln_1p_near_zero<L: Lane>(y: L) -> L {
    two_atanh(y / (L::splat(2.0) + y))
}

/// `ln(1 + y)`, accurate for tiny `y`.
///
/// For `y` in `[-1/2, 1]` it is `2 atanh(y/(2+y))` (relative accuracy kept
/// near 0); elsewhere `ln(1 + y)`.
///
/// Measured error on `[0, 1]` (the range the losses feed it, `e^-|x|`):
/// `<= 2 rel`; on `[1e-6, 1e6]`: `<= 3 rel`.
///
/// ```
/// use loss_kernels::math::ln_1p;
/// assert!((ln_1p(1e-10f32) - 1e-10).abs() < 1e-17);
/// ```
#[inline(always)]
pub fn ln_1p<L: Lane>(y: L) -> L {
    let near = y.ge(L::splat(-0.5)).and(y.le(L::splat(1.0)));
    near.select(ln_1p_near_zero(y), ln(L::splat(1.0) + y))
}

/// `ln(1 + y)` for `y` in `[0, 1]` without a division: `y Q(y)`, `Q` the
/// degree-9 Chebyshev fit of `ln(1 + y) / y` on `[0, 1]` (computed with
/// mpmath's `chebyfit` at 30 digits; truncation error `5.2e-9` relative), so
/// relative accuracy holds down to `y = 0`.
#[inline(always)]
fn ln_1p_unit<L: Lane>(y: L) -> L {
    let c = L::splat;
    let q = y.mul_add(c(-0.003_176_057), c(0.019_542_527));
    let q = q.mul_add(y, c(-0.056_373_613));
    let q = q.mul_add(y, c(0.105_436_24));
    let q = q.mul_add(y, c(-0.152_696_67));
    let q = q.mul_add(y, c(0.196_632_74));
    let q = q.mul_add(y, c(-0.249_516_16));
    let q = q.mul_add(y, c(0.333_297_1));
    let q = q.mul_add(y, c(-0.499_998_93));
    let q = q.mul_add(y, c(0.999_999_994_656));
    y * q
}

/// `ln(e^a + e^b)`, stably `max(a, b) + ln1p(e^-|a - b|)`: one `exp` and
/// one division-free `ln1p` on `[0, 1]`, no branch.
///
/// Exact at the infinities: `log_add_exp(-inf, -inf) = -inf` (never NaN),
/// `log_add_exp(-inf, b) = b`, `+inf` wins over anything but NaN; a NaN in
/// either argument gives NaN. This is the step of every log-space recursion
/// (CTC's forward-backward).
///
/// Measured error: `log_add_exp(0, x)` on `[-80, 0]` (the `ln1p` term
/// alone): `<= 2 rel` (`tests/math_accuracy.rs`); for `a`, `b` in
/// `[-200, 10]`: `<= 2 ulp` of `max(|result|, 1)` (`tests/ctc.rs`).
///
/// ```
/// use loss_kernels::math::log_add_exp;
/// assert!((log_add_exp(0.0f32, 0.0) - core::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(log_add_exp(f32::NEG_INFINITY, f32::NEG_INFINITY), f32::NEG_INFINITY);
/// assert_eq!(log_add_exp(f32::NEG_INFINITY, -3.0), -3.0);
/// ```
#[inline(always)]
pub fn log_add_exp<L: Lane>(a: L, b: L) -> L {
    // `a == b` (including both -inf) gives d = 0, so -inf - -inf never
    // reaches the exp; a NaN fails the comparison and propagates through d.
    let d = a.eq(b).select(L::splat(0.0), a - b);
    a.max(b) + ln_1p_unit(exp_nonpositive(-d.abs()))
}

/// `softplus(x) = ln(1 + e^x)`, stably `max(x, 0) + ln1p(e^-|x|)`.
///
/// Measured error on `[-80, 80]`: `<= 3 rel`, and never worse than
/// `1e-38` absolute where the result underflows.
///
/// ```
/// use loss_kernels::math::softplus;
/// assert!((softplus(0.0f32) - core::f32::consts::LN_2).abs() < 1e-7);
/// ```
#[inline(always)]
pub fn softplus<L: Lane>(x: L) -> L {
    LogisticParts::new(x).softplus()
}

/// The logistic sigmoid `1 / (1 + e^-x)`, computed from `e^-|x|` so both tails
/// keep relative accuracy.
///
/// Measured error on `[-80, 80]`: `<= 3 rel`.
///
/// ```
/// use loss_kernels::math::sigmoid;
/// assert_eq!(sigmoid(0.0f32), 0.5);
/// ```
#[inline(always)]
pub fn sigmoid<L: Lane>(x: L) -> L {
    LogisticParts::new(x).sigmoid()
}

/// Hyperbolic tangent, as `sign(x) (1 - e^-2|x|) / (1 + e^-2|x|)`.
///
/// Measured error on `[-20, 20]`: `<= 1.2e-7` absolute (relative accuracy
/// degrades only for `|x| < 0.1`, where the absolute error stays below
/// `1.2e-7`: fine for a gradient).
///
/// ```
/// use loss_kernels::math::tanh;
/// assert!((tanh(1.0f32) - 0.7615942).abs() < 2e-7);
/// ```
#[inline(always)]
pub fn tanh<L: Lane>(x: L) -> L {
    let e = exp_nonpositive(x.abs() * L::splat(-2.0));
    let t = (L::splat(1.0) - e) / (L::splat(1.0) + e);
    x.lt(L::splat(0.0)).select(-t, t)
}

/// The shared pieces of the logistic family at `x`, from a single `e^-|x|`:
/// softplus and sigmoid of `x` and of `-x` all follow with a few operations.
///
/// Losses that need several of them (BCE with `pos_weight`, log-cosh) build
/// this once; the compiler drops the unused fields.
#[derive(Clone, Copy, Debug)]
pub struct LogisticParts<L> {
    /// The input `x`.
    pub x: L,
    /// `e^-|x|`, in `(0, 1]`.
    pub e: L,
    /// `ln(1 + e^-|x|)`, in `(0, ln 2]`.
    pub ln1p_e: L,
    /// `1 / (1 + e^-|x|)`, in `[1/2, 1)`.
    pub recip: L,
}

impl<L: Lane> LogisticParts<L> {
    /// Computes the parts at `x`: one `exp`, one reciprocal
    /// ([`Lane::recip`]), one `ln1p`.
    ///
    /// ```
    /// use loss_kernels::math::LogisticParts;
    /// let q = LogisticParts::new(2.0f32);
    /// assert!((q.sigmoid() + q.sigmoid_neg() - 1.0).abs() < 1e-7);
    /// ```
    #[inline(always)]
    pub fn new(x: L) -> Self {
        let e = exp_nonpositive(-x.abs());
        let onep = L::splat(1.0) + e;
        LogisticParts {
            x,
            e,
            ln1p_e: ln_1p_unit(e),
            recip: onep.recip(),
        }
    }
    /// `softplus(x) = ln(1 + e^x)`.
    #[inline(always)]
    pub fn softplus(&self) -> L {
        self.x.max(L::splat(0.0)) + self.ln1p_e
    }
    /// `softplus(-x) = ln(1 + e^-x)`.
    #[inline(always)]
    pub fn softplus_neg(&self) -> L {
        (-self.x).max(L::splat(0.0)) + self.ln1p_e
    }
    /// `sigmoid(x)`.
    #[inline(always)]
    pub fn sigmoid(&self) -> L {
        self.x
            .ge(L::splat(0.0))
            .select(self.recip, self.e * self.recip)
    }
    /// `sigmoid(-x) = 1 - sigmoid(x)`, without cancellation.
    #[inline(always)]
    pub fn sigmoid_neg(&self) -> L {
        self.x
            .ge(L::splat(0.0))
            .select(self.e * self.recip, self.recip)
    }
}
