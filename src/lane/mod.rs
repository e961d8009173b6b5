//! The lane abstraction: one small trait every loss is written against, and
//! the choice of lane type for each call.
//!
//! A *lane* type holds `LANES` `f32` values and supports the handful of
//! operations the losses and [`crate::math`] need. It is implemented by plain
//! `f32` (one lane), by the `wide` vector types (the portable backend: SSE2,
//! NEON, wasm `simd128`) and, on x86-64, by the crate's own AVX2 and
//! AVX-512 types over `core::arch` (module `x86`, private).
//!
//! # Levels and dispatch
//!
//! Each loss call runs at one [`Level`]. On x86-64 the best level the CPU
//! supports is detected once, at run time, without `std` (see
//! [`supported`]); a `target-cpu` build that already has the features skips
//! the detection. [`set_max_level`] caps it, [`level`] reports it:
//!
//! | level     | lanes | lane type           | chosen                          |
//! |-----------|------:|---------------------|---------------------------------|
//! | `Scalar`  | 1     | `f32`               | `force-scalar`, no SIMD target  |
//! | `Sse2`    | 4     | `wide::f32x4`       | x86-64 without AVX2             |
//! | `Neon`    | 8     | `wide::f32x8`       | aarch64                         |
//! | `Simd128` | 4     | `wide::f32x4`       | wasm32 with `simd128`           |
//! | `Avx2`    | 8     | AVX2 + FMA          | x86-64, detected                |
//! | `Avx512`  | 16    | AVX-512F            | x86-64, detected                |
//!
//! [`Native`] is the widest `wide` type the build's *compile-time* features
//! allow, for code of your own over [`crate::math`]; the losses do not use
//! it.
//!
//! # The backend seam
//!
//! Every family validates its arguments into a plan that implements the
//! crate-internal `Kernel` trait: one method generic over `L: Lane` that
//! runs the whole call. The crate-internal `lane::run` is the only place
//! that picks `L` for a call, from the level; in a build with the hidden
//! `test-lanes` feature (the crate's own tests) a test can pick the level of
//! each call on its thread (`testing::install`), so one plain `cargo test`
//! runs every loss at every level the CPU has.
//!
//! Masks are lane values whose bits are all ones (true) or all zeros (false),
//! as the comparison methods return them.

#[allow(unsafe_code)]
mod dispatch;
#[cfg(feature = "test-lanes")]
pub mod testing;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "sse2",
    not(feature = "force-scalar")
))]
#[allow(unsafe_code)]
mod x86;

pub use dispatch::{Level, level, levels, set_max_level, supported};
pub(crate) use dispatch::{MAX_LANES, run};

use core::fmt::Debug;
use core::ops::{Add, Div, Mul, Neg, Sub};

/// A vector of `LANES` `f32` values; see the [module docs](self).
///
/// ```
/// use loss_kernels::lane::{Lane, Native};
/// // the first LANES values of the slice (padded with 0.0 past its end)
/// let x = Native::load_or(&[1.0, 1.0, 1.0], 0.0);
/// let n = Native::LANES.min(3) as f32;
/// assert_eq!((x * Native::splat(2.0)).sum(), 2.0 * n);
/// ```
pub trait Lane:
    Copy
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Number of `f32` values in one lane value.
    const LANES: usize;
    /// All lanes set to `v`.
    fn splat(v: f32) -> Self;
    /// Lanes `0, 1, 2, ...`.
    fn iota() -> Self;
    /// Loads the first `LANES` values of `s`; if `s` is shorter, the missing
    /// lanes are `pad`.
    fn load_or(s: &[f32], pad: f32) -> Self;
    /// Stores the first `min(LANES, out.len())` lanes into `out`.
    fn store(self, out: &mut [f32]);
    /// Horizontal sum of the lanes (pairwise).
    fn sum(self) -> f32;
    /// Horizontal maximum of the lanes.
    fn max_lane(self) -> f32;
    /// `self * a + b`, fused where the target has FMA.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Lane-wise maximum (which operand a NaN yields is unspecified).
    fn max(self, o: Self) -> Self;
    /// Lane-wise minimum (which operand a NaN yields is unspecified).
    fn min(self, o: Self) -> Self;
    /// Lane-wise absolute value.
    fn abs(self) -> Self;
    /// Lane-wise square root.
    fn sqrt(self) -> Self;
    /// Mask of `self < o`.
    fn lt(self, o: Self) -> Self;
    /// Mask of `self <= o`.
    fn le(self, o: Self) -> Self;
    /// Mask of `self > o`.
    fn gt(self, o: Self) -> Self;
    /// Mask of `self >= o`.
    fn ge(self, o: Self) -> Self;
    /// Mask of `self == o`.
    fn eq(self, o: Self) -> Self;
    /// Mask of the NaN lanes.
    fn is_nan(self) -> Self;
    /// Where the mask `self` is set `if_true`, else `if_false`.
    fn select(self, if_true: Self, if_false: Self) -> Self;
    /// Bitwise and (of masks, or of a mask and values).
    fn and(self, o: Self) -> Self;
    /// Bitwise and of each lane's bits with `mask`.
    fn bits_and(self, mask: u32) -> Self;
    /// Bitwise or of each lane's bits with `bits`.
    fn bits_or(self, bits: u32) -> Self;
    /// Each lane's bits shifted left by `n` (`n < 32`).
    fn bits_shl(self, n: u32) -> Self;
    /// Each lane's bits shifted right (logically) by `n` (`n < 32`).
    fn bits_shr(self, n: u32) -> Self;
    /// `1 / self`, for `|self|` between `2^-126` and `2^126` (outside that
    /// range the result is unspecified: NaN at 0 and the infinities on
    /// levels with an estimate; a NaN stays NaN everywhere).
    ///
    /// The default is the division (correctly rounded). AVX-512 replaces it
    /// with its 14-bit estimate and one Newton step, `r + r (1 - x r)`:
    /// relative error `<= 2^-28` before the final rounding, so within
    /// `0.6` ulp, at a fraction of the division's cost (a `vdivps` on 16
    /// lanes is the slowest instruction of the logistic losses).
    #[inline(always)]
    fn recip(self) -> Self {
        Self::splat(1.0) / self
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
pub(crate) fn sqrt1<L: Lane>(x: f32) -> f32 {
    let mut a = [0.0f32; MAX_LANES];
    L::splat(x).sqrt().store(&mut a);
    a.first().copied().unwrap_or(f32::NAN)
}

impl Lane for f32 {
    const LANES: usize = 1;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn iota() -> Self {
        0.0
    }
    #[inline(always)]
    fn load_or(s: &[f32], pad: f32) -> Self {
        s.first().copied().unwrap_or(pad)
    }
    #[inline(always)]
    fn store(self, out: &mut [f32]) {
        if let Some(o) = out.first_mut() {
            *o = self;
        }
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        self
    }
    #[inline(always)]
    fn max_lane(self) -> f32 {
        self
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        // A software `fmaf` is far slower than the rounding it saves.
        self * a + b
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        if self > o { self } else { o }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        if self < o { self } else { o }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        libm::fabsf(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        mask(self < o)
    }
    #[inline(always)]
    fn le(self, o: Self) -> Self {
        mask(self <= o)
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        mask(self > o)
    }
    #[inline(always)]
    fn ge(self, o: Self) -> Self {
        mask(self >= o)
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self {
        mask(self == o)
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        mask(self.is_nan())
    }
    #[inline(always)]
    fn select(self, if_true: Self, if_false: Self) -> Self {
        if self.to_bits() != 0 {
            if_true
        } else {
            if_false
        }
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        f32::from_bits(self.to_bits() & o.to_bits())
    }
    #[inline(always)]
    fn bits_and(self, m: u32) -> Self {
        f32::from_bits(self.to_bits() & m)
    }
    #[inline(always)]
    fn bits_or(self, b: u32) -> Self {
        f32::from_bits(self.to_bits() | b)
    }
    #[inline(always)]
    fn bits_shl(self, n: u32) -> Self {
        f32::from_bits(self.to_bits().wrapping_shl(n))
    }
    #[inline(always)]
    fn bits_shr(self, n: u32) -> Self {
        f32::from_bits(self.to_bits().wrapping_shr(n))
    }
}

#[inline(always)]
fn mask(b: bool) -> f32 {
    f32::from_bits(if b { u32::MAX } else { 0 })
}

/// Implements [`Lane`] for one `wide` float vector type.
macro_rules! impl_wide_lane {
    ($ty:ty, $uty:ty, $n:literal) => {
        impl Lane for $ty {
            const LANES: usize = $n;
            #[inline(always)]
            fn splat(v: f32) -> Self {
                <$ty>::splat(v)
            }
            #[inline(always)]
            fn iota() -> Self {
                let mut a = [0.0f32; $n];
                let mut k = 0.0;
                for v in a.iter_mut() {
                    *v = k;
                    k += 1.0;
                }
                <$ty>::new(a)
            }
            #[inline(always)]
            fn load_or(s: &[f32], pad: f32) -> Self {
                match s.first_chunk::<$n>() {
                    Some(a) => <$ty>::new(*a),
                    None => {
                        let mut a = [pad; $n];
                        for (d, v) in a.iter_mut().zip(s) {
                            *d = *v;
                        }
                        <$ty>::new(a)
                    }
                }
            }
            #[inline(always)]
            fn store(self, out: &mut [f32]) {
                match out.first_chunk_mut::<$n>() {
                    Some(o) => *o = self.to_array(),
                    None => {
                        for (o, v) in out.iter_mut().zip(self.to_array()) {
                            *o = v;
                        }
                    }
                }
            }
            #[inline(always)]
            fn sum(self) -> f32 {
                self.reduce_add()
            }
            #[inline(always)]
            fn max_lane(self) -> f32 {
                self.to_array()
                    .into_iter()
                    .fold(f32::NEG_INFINITY, |m, v| if v > m { v } else { m })
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$ty>::mul_add(self, a, b)
            }
            #[inline(always)]
            fn max(self, o: Self) -> Self {
                self.fast_max(o)
            }
            #[inline(always)]
            fn min(self, o: Self) -> Self {
                self.fast_min(o)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$ty>::abs(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$ty>::sqrt(self)
            }
            #[inline(always)]
            fn lt(self, o: Self) -> Self {
                self.simd_lt(o)
            }
            #[inline(always)]
            fn le(self, o: Self) -> Self {
                self.simd_le(o)
            }
            #[inline(always)]
            fn gt(self, o: Self) -> Self {
                self.simd_gt(o)
            }
            #[inline(always)]
            fn ge(self, o: Self) -> Self {
                self.simd_ge(o)
            }
            #[inline(always)]
            fn eq(self, o: Self) -> Self {
                self.simd_eq(o)
            }
            #[inline(always)]
            fn is_nan(self) -> Self {
                <$ty>::is_nan(self)
            }
            #[inline(always)]
            fn select(self, if_true: Self, if_false: Self) -> Self {
                <$ty>::select(self, if_true, if_false)
            }
            #[inline(always)]
            fn and(self, o: Self) -> Self {
                self & o
            }
            #[inline(always)]
            fn bits_and(self, m: u32) -> Self {
                <$ty>::from_bits(self.to_bits() & <$uty>::splat(m))
            }
            #[inline(always)]
            fn bits_or(self, b: u32) -> Self {
                <$ty>::from_bits(self.to_bits() | <$uty>::splat(b))
            }
            #[inline(always)]
            fn bits_shl(self, n: u32) -> Self {
                <$ty>::from_bits(self.to_bits() << n)
            }
            #[inline(always)]
            fn bits_shr(self, n: u32) -> Self {
                <$ty>::from_bits(self.to_bits() >> n)
            }
        }
    };
}

impl_wide_lane!(wide::f32x4, wide::u32x4, 4);
impl_wide_lane!(wide::f32x8, wide::u32x8, 8);
impl_wide_lane!(wide::f32x16, wide::u32x16, 16);

cfg_if::cfg_if! {
    if #[cfg(feature = "force-scalar")] {
        /// The lane type this build uses: see the [module docs](self).
        pub type Native = f32;
    } else if #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "avx512f"))] {
        /// The lane type this build uses: see the [module docs](self).
        pub type Native = wide::f32x16;
    } else if #[cfg(any(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "avx"),
                        all(target_arch = "aarch64", target_feature = "neon")))] {
        /// The lane type this build uses: see the [module docs](self).
        pub type Native = wide::f32x8;
    } else if #[cfg(any(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse2"),
                        all(target_arch = "wasm32", target_feature = "simd128")))] {
        /// The lane type this build uses: see the [module docs](self).
        pub type Native = wide::f32x4;
    } else {
        /// The lane type this build uses: see the [module docs](self).
        pub type Native = f32;
    }
}

/// Name of the [`Native`] lane type.
pub const NATIVE_NAME: &str = match <Native as Lane>::LANES {
    1 => "f32 (scalar)",
    4 => "f32x4",
    8 => "f32x8",
    _ => "f32x16",
};

/// A validated call, ready to run at any lane width: the one seam between
/// the families and the lane types. `run` is generic, so a family's whole
/// kernel is monomorphised per lane type from this one entry.
///
/// Implementations mark `run`, and every generic function it reaches down to
/// the lane methods, `#[inline(always)]`: the dispatched levels compile the
/// whole call inside one `#[target_feature]` function (see `x86`).
pub(crate) trait Kernel {
    /// What the call returns.
    type Output;
    /// Runs the call with lanes of type `L`.
    fn run<L: Lane>(self) -> Self::Output;
}
