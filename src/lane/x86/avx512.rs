//! [`F32x16`]: sixteen `f32` in one AVX-512 register (`__m512`).
//!
//! Only AVX-512F instructions are used. Comparisons yield a `k` mask
//! register; a lane mask ([`Lane`]'s all-ones/all-zeros lanes) is made from
//! it with a zero-masked move, and `select` turns the lanes back into a `k`
//! mask (`vptestmd`) for a masked blend. Partial loads and stores are masked
//! (`vmovups` with `k`), which touch only the lanes inside the slice.

use super::super::Lane;
use core::arch::x86_64::*;
use core::ops::{Add, Div, Mul, Neg, Sub};

/// Sixteen `f32` lanes in an AVX-512 register; see the [module docs](self).
///
/// A value of this type only exists inside a kernel started by
/// `super::run_avx512` (the type is private to `lane`), which runs only
/// where AVX-512F (and AVX2, FMA) are usable: every method may use them.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub(in crate::lane) struct F32x16(__m512);

/// Runs one AVX-512F intrinsic expression.
macro_rules! avx512 {
    ($e:expr) => {{
        #[allow(unused_unsafe)]
        // SAFETY: an `F32x16` exists only in code called from
        // `super::run_avx512`, which the dispatcher enters only after CPUID
        // and XCR0 showed AVX-512F, AVX2 and FMA usable (or when the build
        // enables them statically), so these instructions are supported;
        // pointer arguments are in bounds where each call site says so.
        unsafe {
            $e
        }
    }};
}

/// The `k` mask of the first `n` lanes (`n <= 16`).
#[inline(always)]
fn first(n: usize) -> __mmask16 {
    (1u32 << n.min(16)).wrapping_sub(1) as __mmask16
}

/// All lanes set to the bit pattern `b`.
#[inline(always)]
fn bits(b: u32) -> __m512i {
    avx512!(_mm512_set1_epi32(b as i32))
}

impl F32x16 {
    /// Lanes where `k` is set become all ones, the others zero.
    #[inline(always)]
    fn from_mask(k: __mmask16) -> Self {
        Self(avx512!(_mm512_castsi512_ps(_mm512_maskz_mov_epi32(
            k,
            bits(u32::MAX)
        ))))
    }
    #[inline(always)]
    fn int(self) -> __m512i {
        avx512!(_mm512_castps_si512(self.0))
    }
    #[inline(always)]
    fn from_int(v: __m512i) -> Self {
        Self(avx512!(_mm512_castsi512_ps(v)))
    }
}

impl Lane for F32x16 {
    const LANES: usize = 16;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self(avx512!(_mm512_set1_ps(v)))
    }
    #[inline(always)]
    fn iota() -> Self {
        Self(avx512!(_mm512_setr_ps(
            0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0
        )))
    }
    #[inline(always)]
    fn load_or(s: &[f32], pad: f32) -> Self {
        match s.first_chunk::<16>() {
            // In bounds: the chunk holds 16 values.
            Some(a) => Self(avx512!(_mm512_loadu_ps(a.as_ptr()))),
            // In bounds: only the first `s.len()` lanes are read.
            None => Self(avx512!(_mm512_mask_loadu_ps(
                _mm512_set1_ps(pad),
                first(s.len()),
                s.as_ptr()
            ))),
        }
    }
    #[inline(always)]
    fn store(self, out: &mut [f32]) {
        match out.first_chunk_mut::<16>() {
            // In bounds: the chunk holds 16 values.
            Some(o) => avx512!(_mm512_storeu_ps(o.as_mut_ptr(), self.0)),
            // In bounds: only the first `out.len()` lanes are written.
            None => avx512!(_mm512_mask_storeu_ps(
                out.as_mut_ptr(),
                first(out.len()),
                self.0
            )),
        }
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        avx512!(_mm512_reduce_add_ps(self.0))
    }
    #[inline(always)]
    fn max_lane(self) -> f32 {
        let mut a = [0.0f32; 16];
        self.store(&mut a);
        // NaN lanes are skipped, as in every other lane type.
        a.into_iter()
            .fold(f32::NEG_INFINITY, |m, v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Self(avx512!(_mm512_fmadd_ps(self.0, a.0, b.0)))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        Self(avx512!(_mm512_max_ps(self.0, o.0)))
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        Self(avx512!(_mm512_min_ps(self.0, o.0)))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(avx512!(_mm512_abs_ps(self.0)))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Self(avx512!(_mm512_sqrt_ps(self.0)))
    }
    #[inline(always)]
    fn recip(self) -> Self {
        // `vrcp14ps` (relative error < 2^-14), then one Newton step with
        // the error term from a fused `1 - x r` (exact product).
        let r = avx512!(_mm512_rcp14_ps(self.0));
        let e = avx512!(_mm512_fnmadd_ps(self.0, r, _mm512_set1_ps(1.0)));
        Self(avx512!(_mm512_fmadd_ps(r, e, r)))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        Self::from_mask(avx512!(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn le(self, o: Self) -> Self {
        Self::from_mask(avx512!(_mm512_cmp_ps_mask::<_CMP_LE_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        Self::from_mask(avx512!(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn ge(self, o: Self) -> Self {
        Self::from_mask(avx512!(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self {
        Self::from_mask(avx512!(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, o.0)))
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        Self::from_mask(avx512!(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(self.0, self.0)))
    }
    #[inline(always)]
    fn select(self, if_true: Self, if_false: Self) -> Self {
        let k = avx512!(_mm512_test_epi32_mask(self.int(), self.int()));
        Self(avx512!(_mm512_mask_blend_ps(k, if_false.0, if_true.0)))
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        Self::from_int(avx512!(_mm512_and_epi32(self.int(), o.int())))
    }
    #[inline(always)]
    fn bits_and(self, m: u32) -> Self {
        Self::from_int(avx512!(_mm512_and_epi32(self.int(), bits(m))))
    }
    #[inline(always)]
    fn bits_or(self, b: u32) -> Self {
        Self::from_int(avx512!(_mm512_or_epi32(self.int(), bits(b))))
    }
    #[inline(always)]
    fn bits_shl(self, n: u32) -> Self {
        Self::from_int(avx512!(_mm512_sll_epi32(
            self.int(),
            _mm_cvtsi32_si128(n as i32)
        )))
    }
    #[inline(always)]
    fn bits_shr(self, n: u32) -> Self {
        Self::from_int(avx512!(_mm512_srl_epi32(
            self.int(),
            _mm_cvtsi32_si128(n as i32)
        )))
    }
}

/// Implements one arithmetic operator with one intrinsic.
macro_rules! op {
    ($tr:ident, $f:ident, $intr:ident) => {
        impl $tr for F32x16 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                Self(avx512!($intr(self.0, o.0)))
            }
        }
    };
}
op!(Add, add, _mm512_add_ps);
op!(Sub, sub, _mm512_sub_ps);
op!(Mul, mul, _mm512_mul_ps);
op!(Div, div, _mm512_div_ps);

impl Neg for F32x16 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self::from_int(avx512!(_mm512_xor_epi32(self.int(), bits(0x8000_0000))))
    }
}
