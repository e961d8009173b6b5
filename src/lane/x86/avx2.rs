//! [`F32x8`]: eight `f32` in one AVX register (`__m256`), with FMA.
//!
//! Every method is one or two AVX/AVX2/FMA instructions. Masks are
//! all-ones/all-zeros lanes, as the comparisons (`vcmpps`) return them, and
//! `select` is `vblendvps`. Partial loads and stores use `vmaskmovps`, which
//! touches only the lanes inside the slice.

use super::super::Lane;
use core::arch::x86_64::*;
use core::ops::{Add, Div, Mul, Neg, Sub};

/// Eight `f32` lanes in an AVX register; see the [module docs](self).
///
/// A value of this type only exists inside a kernel started by
/// `super::run_avx2` (the type is private to `lane`), which runs only where
/// AVX, AVX2 and FMA are usable: every method may use them.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub(in crate::lane) struct F32x8(__m256);

/// Runs one AVX/AVX2/FMA intrinsic expression.
macro_rules! avx {
    ($e:expr) => {{
        #[allow(unused_unsafe)]
        // SAFETY: an `F32x8` exists only in code called from
        // `super::run_avx2`, which the dispatcher enters only after CPUID
        // and XCR0 showed AVX, AVX2 and FMA usable (or when the build enables
        // them statically), so these instructions are supported; pointer
        // arguments are in bounds where each call site says so.
        unsafe {
            $e
        }
    }};
}

/// The mask of the first `n` lanes (`n <= 8`), as `vmaskmovps` wants it.
#[inline(always)]
fn first(n: usize) -> __m256i {
    let iota = avx!(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    let n = avx!(_mm256_set1_epi32(n as i32));
    avx!(_mm256_cmpgt_epi32(n, iota))
}

#[inline(always)]
fn bits(b: u32) -> __m256 {
    avx!(_mm256_castsi256_ps(_mm256_set1_epi32(b as i32)))
}

impl Lane for F32x8 {
    const LANES: usize = 8;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self(avx!(_mm256_set1_ps(v)))
    }
    #[inline(always)]
    fn iota() -> Self {
        Self(avx!(_mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)))
    }
    #[inline(always)]
    fn load_or(s: &[f32], pad: f32) -> Self {
        match s.first_chunk::<8>() {
            // In bounds: the chunk holds 8 values.
            Some(a) => Self(avx!(_mm256_loadu_ps(a.as_ptr()))),
            None => {
                let m = first(s.len());
                // In bounds: only the first `s.len()` lanes are read.
                let v = avx!(_mm256_maskload_ps(s.as_ptr(), m));
                Self(avx!(_mm256_blendv_ps(
                    _mm256_set1_ps(pad),
                    v,
                    _mm256_castsi256_ps(m)
                )))
            }
        }
    }
    #[inline(always)]
    fn store(self, out: &mut [f32]) {
        match out.first_chunk_mut::<8>() {
            // In bounds: the chunk holds 8 values.
            Some(o) => avx!(_mm256_storeu_ps(o.as_mut_ptr(), self.0)),
            // In bounds: only the first `out.len()` lanes are written.
            None => avx!(_mm256_maskstore_ps(
                out.as_mut_ptr(),
                first(out.len()),
                self.0
            )),
        }
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        let lo = avx!(_mm256_castps256_ps128(self.0));
        let hi = avx!(_mm256_extractf128_ps::<1>(self.0));
        let s = avx!(_mm_add_ps(lo, hi));
        let s = avx!(_mm_add_ps(s, _mm_movehl_ps(s, s)));
        avx!(_mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s))))
    }
    #[inline(always)]
    fn max_lane(self) -> f32 {
        let mut a = [0.0f32; 8];
        self.store(&mut a);
        // NaN lanes are skipped, as in every other lane type.
        a.into_iter()
            .fold(f32::NEG_INFINITY, |m, v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Self(avx!(_mm256_fmadd_ps(self.0, a.0, b.0)))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        Self(avx!(_mm256_max_ps(self.0, o.0)))
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        Self(avx!(_mm256_min_ps(self.0, o.0)))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(avx!(_mm256_and_ps(self.0, bits(0x7fff_ffff))))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Self(avx!(_mm256_sqrt_ps(self.0)))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        Self(avx!(_mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn le(self, o: Self) -> Self {
        Self(avx!(_mm256_cmp_ps::<_CMP_LE_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        Self(avx!(_mm256_cmp_ps::<_CMP_GT_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn ge(self, o: Self) -> Self {
        Self(avx!(_mm256_cmp_ps::<_CMP_GE_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self {
        Self(avx!(_mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        Self(avx!(_mm256_cmp_ps::<_CMP_UNORD_Q>(self.0, self.0)))
    }
    #[inline(always)]
    fn select(self, if_true: Self, if_false: Self) -> Self {
        Self(avx!(_mm256_blendv_ps(if_false.0, if_true.0, self.0)))
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        Self(avx!(_mm256_and_ps(self.0, o.0)))
    }
    #[inline(always)]
    fn bits_and(self, m: u32) -> Self {
        Self(avx!(_mm256_and_ps(self.0, bits(m))))
    }
    #[inline(always)]
    fn bits_or(self, b: u32) -> Self {
        Self(avx!(_mm256_or_ps(self.0, bits(b))))
    }
    #[inline(always)]
    fn bits_shl(self, n: u32) -> Self {
        let v = avx!(_mm256_castps_si256(self.0));
        let v = avx!(_mm256_sll_epi32(v, _mm_cvtsi32_si128(n as i32)));
        Self(avx!(_mm256_castsi256_ps(v)))
    }
    #[inline(always)]
    fn bits_shr(self, n: u32) -> Self {
        let v = avx!(_mm256_castps_si256(self.0));
        let v = avx!(_mm256_srl_epi32(v, _mm_cvtsi32_si128(n as i32)));
        Self(avx!(_mm256_castsi256_ps(v)))
    }
}

/// Implements one arithmetic operator with one intrinsic.
macro_rules! op {
    ($tr:ident, $f:ident, $intr:ident) => {
        impl $tr for F32x8 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                Self(avx!($intr(self.0, o.0)))
            }
        }
    };
}
op!(Add, add, _mm256_add_ps);
op!(Sub, sub, _mm256_sub_ps);
op!(Mul, mul, _mm256_mul_ps);
op!(Div, div, _mm256_div_ps);

impl Neg for F32x8 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self(avx!(_mm256_xor_ps(self.0, bits(0x8000_0000))))
    }
}
