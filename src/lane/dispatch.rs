//! Which lane type a call runs with: the SIMD [`Level`], detected once.
//!
//! | level     | lane type                  | where                          |
//! |-----------|----------------------------|--------------------------------|
//! | `Scalar`  | `f32`                      | every target; `force-scalar`   |
//! | `Sse2`    | `wide::f32x4`              | x86-64 (and x86 with SSE2)     |
//! | `Neon`    | `wide::f32x8` (2 × NEON)   | aarch64                        |
//! | `Simd128` | `wide::f32x4`              | wasm32 with `simd128`          |
//! | `Avx2`    | `x86::F32x8` (AVX2 + FMA)  | x86-64, detected or `target-cpu` |
//! | `Avx512`  | `x86::F32x16` (AVX-512F)   | x86-64, detected or `target-cpu` |
//!
//! On x86-64 with SSE registers (every hard-float target) the build
//! compiles every level up to `Avx512`. The first loss call reads CPUID and
//! XCR0 ([`x86::detect`](super::x86)) and caches the best level in an
//! atomic; every later call costs one relaxed load and a branch. Levels the
//! build enables statically (`-C target-cpu=native`, `x86-64-v3`/`v4`) are
//! not detected: when the build already has AVX-512F there is no detection
//! at all. Other targets have one portable level and scalar, both static.
//! `force-scalar` compiles the scalar level only, and a target without SIMD
//! registers (`x86_64-unknown-none`, Cortex-M) never touches them.
//!
//! [`set_max_level`] caps the level for the whole process (to reproduce a
//! smaller CPU's results, or to benchmark); [`level`] says what a call runs
//! at now.

use super::{Kernel, Lane};
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

cfg_if::cfg_if! {
    if #[cfg(all(target_arch = "x86_64", target_feature = "sse2", not(feature = "force-scalar")))] {
        use super::x86;
        /// The widest level this build may pick.
        const WIDEST: Level = Level::Avx512;
    } else {
        /// The widest level this build may pick.
        const WIDEST: Level = PORTABLE;
    }
}

cfg_if::cfg_if! {
    if #[cfg(feature = "force-scalar")] {
        const PORTABLE: Level = Level::Scalar;
        type Portable = f32;
    } else if #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse2"))] {
        const PORTABLE: Level = Level::Sse2;
        type Portable = wide::f32x4;
    } else if #[cfg(all(target_arch = "aarch64", target_feature = "neon"))] {
        const PORTABLE: Level = Level::Neon;
        type Portable = wide::f32x8;
    } else if #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))] {
        const PORTABLE: Level = Level::Simd128;
        type Portable = wide::f32x4;
    } else {
        const PORTABLE: Level = Level::Scalar;
        type Portable = f32;
    }
}

cfg_if::cfg_if! {
    if #[cfg(all(target_arch = "x86_64", target_feature = "avx512f", not(feature = "force-scalar")))] {
        /// The best level the build guarantees without detection.
        const STATIC: Level = Level::Avx512;
    } else if #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma",
                        not(feature = "force-scalar")))] {
        /// The best level the build guarantees without detection.
        const STATIC: Level = Level::Avx2;
    } else {
        /// The best level the build guarantees without detection.
        const STATIC: Level = PORTABLE;
    }
}

/// The most lanes of any level this build may pick: stack arrays that hold
/// one value per lane are this long.
pub(crate) const MAX_LANES: usize = WIDEST.lanes();

/// A SIMD instruction level a loss call can run at; see the
/// [`lane` module docs](super). Ordered from narrowest to widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Level {
    /// One `f32` at a time, no SIMD registers.
    Scalar,
    /// x86 SSE2, 4 lanes (`wide`).
    Sse2,
    /// aarch64 NEON, 8 lanes as two registers (`wide`).
    Neon,
    /// wasm `simd128`, 4 lanes (`wide`).
    Simd128,
    /// x86-64 AVX2 with FMA, 8 lanes.
    Avx2,
    /// x86-64 AVX-512F, 16 lanes.
    Avx512,
}

impl Level {
    /// Every level, narrowest first.
    pub const ALL: [Level; 6] = [
        Level::Scalar,
        Level::Sse2,
        Level::Neon,
        Level::Simd128,
        Level::Avx2,
        Level::Avx512,
    ];

    /// `f32` values per lane at this level.
    pub const fn lanes(self) -> usize {
        match self {
            Level::Scalar => 1,
            Level::Sse2 | Level::Simd128 => 4,
            Level::Neon | Level::Avx2 => 8,
            Level::Avx512 => 16,
        }
    }

    /// A short lower-case name: `"scalar"`, `"sse2"`, `"neon"`, `"simd128"`,
    /// `"avx2"`, `"avx512"`.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Sse2 => "sse2",
            Level::Neon => "neon",
            Level::Simd128 => "simd128",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Whether this build has code for the level (whatever the CPU).
    const fn compiled(self) -> bool {
        match self {
            Level::Scalar => true,
            Level::Avx2 | Level::Avx512 => WIDEST as u8 >= self as u8,
            _ => PORTABLE as u8 == self as u8,
        }
    }

    /// The level stored as `index + 1` (0 means "not known yet").
    const fn from_code(code: u8) -> Option<Level> {
        Some(match code {
            1 => Level::Scalar,
            2 => Level::Sse2,
            3 => Level::Neon,
            4 => Level::Simd128,
            5 => Level::Avx2,
            6 => Level::Avx512,
            _ => return None,
        })
    }

    const fn code(self) -> u8 {
        self as u8 + 1
    }
}

impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({} lanes)", self.name(), self.lanes())
    }
}

/// The best level of this CPU, once detected (0: not yet).
static DETECTED: AtomicU8 = AtomicU8::new(0);
/// The cap set by [`set_max_level`] (as a level code; `u8::MAX`: none).
static CAP: AtomicU8 = AtomicU8::new(u8::MAX);
/// `min(supported, cap)`, what calls run at (0: not computed yet).
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The best level this build and this CPU support, ignoring
/// [`set_max_level`]: detected on the first call (x86-64), else known at
/// compile time.
pub fn supported() -> Level {
    if STATIC as u8 == WIDEST as u8 {
        return STATIC;
    }
    if let Some(level) = Level::from_code(DETECTED.load(Relaxed)) {
        return level;
    }
    let level = detect().max(STATIC);
    DETECTED.store(level.code(), Relaxed);
    level
}

/// Detects the CPU's best level (only called when it can exceed `STATIC`).
fn detect() -> Level {
    cfg_if::cfg_if! {
        if #[cfg(all(target_arch = "x86_64", target_feature = "sse2", not(feature = "force-scalar")))] {
            x86::detect()
        } else {
            STATIC
        }
    }
}

/// The level loss calls run at now: [`supported`], capped by
/// [`set_max_level`].
///
/// ```
/// use loss_kernels::lane::{self, Level};
/// let level = lane::level();
/// assert!(level <= lane::supported() && level >= Level::Scalar);
/// println!("losses run at {level}");
/// ```
#[inline]
pub fn level() -> Level {
    match Level::from_code(ACTIVE.load(Relaxed)) {
        Some(level) => level,
        None => refresh(),
    }
}

/// Caps the level of every later loss call in the process at `max` (the
/// best supported level at or below it). `set_max_level(Level::Avx512)`
/// removes the cap. Calls already running are not affected.
///
/// Results can differ between levels in the last bits (FMA, the order of
/// lane sums), so a cap reproduces what a smaller CPU computes:
///
/// ```
/// use loss_kernels::lane::{self, Level};
/// lane::set_max_level(Level::Scalar);
/// assert_eq!(lane::level(), Level::Scalar);
/// lane::set_max_level(Level::Avx512);
/// assert_eq!(lane::level(), lane::supported());
/// ```
pub fn set_max_level(max: Level) {
    CAP.store(max.code(), Relaxed);
    refresh();
}

/// Recomputes [`ACTIVE`] from the detected level and the cap.
fn refresh() -> Level {
    let best = supported();
    let level = match Level::from_code(CAP.load(Relaxed)) {
        Some(cap) => best_at_most(cap, best),
        None => best,
    };
    ACTIVE.store(level.code(), Relaxed);
    level
}

/// The widest level this build and CPU can run that is at most `cap`.
fn best_at_most(cap: Level, best: Level) -> Level {
    let mut pick = Level::Scalar;
    for level in Level::ALL {
        if level <= cap && runnable(level, best) {
            pick = level;
        }
    }
    pick
}

/// Whether `level` is compiled and at most `best` (what the CPU supports).
fn runnable(level: Level, best: Level) -> bool {
    level.compiled() && level <= best
}

/// The levels a loss call can run at now, narrowest first: scalar, the
/// build's portable level, and the wider ones the CPU supports, up to
/// [`level`].
pub fn levels() -> impl Iterator<Item = Level> {
    let top = level();
    Level::ALL.into_iter().filter(move |&l| runnable(l, top))
}

/// Runs `kernel` at the current [`level`]; the only function that names a
/// lane type for a call.
#[inline(always)]
pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
    #[allow(unused_mut)]
    let mut level = level();
    #[cfg(feature = "test-lanes")]
    {
        let wanted = test_hook::requested(level);
        if runnable(wanted, level) {
            level = wanted;
        }
    }
    run_at(level, kernel)
}

/// Runs `kernel` with the lane type of `level`, which must be one of
/// [`levels`].
#[inline(always)]
fn run_at<K: Kernel>(level: Level, kernel: K) -> K::Output {
    match level {
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "sse2",
            not(feature = "force-scalar")
        ))]
        // SAFETY: `level` is at most `level()`, which is at most what
        // `x86::detect` found (CPUID and XCR0 show AVX-512F, AVX2 and FMA
        // usable) or what the build enables statically.
        Level::Avx512 => unsafe { x86::run_avx512(kernel) },
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "sse2",
            not(feature = "force-scalar")
        ))]
        // SAFETY: as above, with AVX2 and FMA.
        Level::Avx2 => unsafe { x86::run_avx2(kernel) },
        Level::Scalar => kernel.run::<f32>(),
        _ => kernel.run::<Portable>(),
    }
}

/// The test seam (hidden feature `test-lanes`): a function the crate's
/// tests install to pick the level of each call on their thread.
#[cfg(feature = "test-lanes")]
pub(super) mod test_hook {
    use super::Level;
    use core::ptr;
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// Given the level a call would run at, the level to run it at.
    pub type Hook = fn(Level) -> Level;

    /// Null, or a pointer made from a `&'static Hook` by [`install`].
    static HOOK: AtomicPtr<Hook> = AtomicPtr::new(ptr::null_mut());

    /// Makes `hook` choose the level of every later call.
    pub fn install(hook: &'static Hook) {
        HOOK.store(ptr::from_ref(hook).cast_mut(), Ordering::Release);
    }

    /// What the installed hook chooses for a call at `level` (`level`
    /// without a hook). The caller still checks that it can run.
    pub(in crate::lane) fn requested(level: Level) -> Level {
        let hook = HOOK.load(Ordering::Acquire);
        // SAFETY: `HOOK` holds null or a pointer made from a `&'static Hook`
        // (`install`), so it is valid for reads for the whole program.
        let hook = unsafe { hook.as_ref() };
        match hook {
            Some(choose) => choose(level),
            None => level,
        }
    }
}

const _: () = assert!(MAX_LANES.is_multiple_of(<Portable as Lane>::LANES));
