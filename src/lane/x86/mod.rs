//! x86-64 lanes over `core::arch` and the CPU detection that licenses them.
//!
//! `wide` picks its instructions by compile-time `cfg`, so inside a
//! `#[target_feature(enable = "avx2")]` function its `f32x8` would still be
//! two SSE2 halves without FMA. The dispatched levels therefore have their
//! own lane types, written with intrinsics: [`avx2::F32x8`] (AVX2 + FMA) and
//! [`avx512::F32x16`] (AVX-512F). [`run_avx2`] and [`run_avx512`] enable the
//! target features for one whole call: a family's kernel is
//! `#[inline(always)]` down to the lane methods, so all of it is compiled
//! inside these two functions with the wider instruction set (CI checks the
//! built library for outlined intrinsics).
//!
//! Detection ([`detect`]) reads CPUID and, because a CPU can support AVX
//! while the OS does not save its registers, XCR0 through `xgetbv`:
//!
//! | level    | CPUID                              | XCR0 (OS saves)          |
//! |----------|------------------------------------|--------------------------|
//! | `Avx2`   | OSXSAVE, AVX, FMA (leaf 1); AVX2 (leaf 7) | SSE, AVX (bits 1, 2) |
//! | `Avx512` | the above and AVX512F (leaf 7)     | also opmask, ZMM (bits 5–7) |
//!
//! It needs no `std` (`core::arch` only), so an OS kernel or a custom
//! runtime gets it too.
//!
//! This is one of the two modules of the crate with `unsafe` code (the other
//! is the C interface); each block names what makes it sound.

mod avx2;
mod avx512;

use super::{Kernel, Level};
use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};

/// The best level this CPU and OS support (at least [`Level::Sse2`], the
/// x86-64 baseline).
pub(super) fn detect() -> Level {
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const FMA: u32 = 1 << 12;
    const AVX2: u32 = 1 << 5;
    const AVX512F: u32 = 1 << 16;
    const XCR0_AVX: u64 = 0b110;
    const XCR0_AVX512: u64 = 0b1110_0110;

    // (`__cpuid` is a safe function in recent Rust, `unsafe` in the MSRV.)
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86-64 CPU; leaf 0 always does.
    let max_leaf = unsafe { __cpuid(0) }.eax;
    if max_leaf < 7 {
        return Level::Sse2;
    }
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists; leaf 1 does (max_leaf >= 7).
    let ecx = unsafe { __cpuid(1) }.ecx;
    if ecx & (OSXSAVE | AVX | FMA) != OSXSAVE | AVX | FMA {
        return Level::Sse2;
    }
    // SAFETY: OSXSAVE is set, so the OS enabled XSAVE and XGETBV is
    // supported; XCR0 (register 0) always exists then.
    let xcr0 = unsafe { _xgetbv(0) };
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists; leaf 7 does (max_leaf >= 7).
    let ebx = unsafe { __cpuid_count(7, 0) }.ebx;
    if xcr0 & XCR0_AVX != XCR0_AVX || ebx & AVX2 == 0 {
        Level::Sse2
    } else if xcr0 & XCR0_AVX512 == XCR0_AVX512 && ebx & AVX512F != 0 {
        Level::Avx512
    } else {
        Level::Avx2
    }
}

/// Runs `kernel` with [`avx2::F32x8`] lanes, the whole call compiled for
/// AVX2 and FMA.
///
/// # Safety
/// The CPU and OS must support AVX2 and FMA ([`detect`] returned
/// [`Level::Avx2`] or better, or the build enables them).
#[target_feature(enable = "avx,avx2,fma")]
pub(super) unsafe fn run_avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<avx2::F32x8>()
}

/// Runs `kernel` with [`avx512::F32x16`] lanes, the whole call compiled for
/// AVX-512F, AVX2 and FMA.
///
/// # Safety
/// The CPU and OS must support AVX-512F ([`detect`] returned
/// [`Level::Avx512`], or the build enables it).
#[target_feature(enable = "avx,avx2,fma,avx512f")]
pub(super) unsafe fn run_avx512<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<avx512::F32x16>()
}
