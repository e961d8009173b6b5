//! Test support (hidden feature `test-lanes`, enabled for the crate's own
//! tests, benches and examples through its dev-dependency on itself): run a
//! call at a chosen lane width instead of [`Native`](super::Native).
//!
//! The request is per thread, so tests running in parallel do not see each
//! other's choice. This module needs `std` (a thread-local); it is never
//! part of a normal build.

extern crate std;

use super::Kernel;
use core::cell::Cell;

/// The lane widths every loss test runs at: `f32`, `f32x4`, `f32x8`,
/// `f32x16`.
pub const WIDTHS: [usize; 4] = [1, 4, 8, 16];

std::thread_local! {
    static REQUESTED: Cell<Option<usize>> = const { Cell::new(None) };
    static RAN: Cell<[u64; 4]> = const { Cell::new([0; 4]) };
}

/// The width the current thread asked for, if any.
pub(crate) fn requested() -> Option<usize> {
    REQUESTED.with(Cell::get)
}

/// Runs `kernel` at `width` lanes (one of [`WIDTHS`]; anything else runs
/// scalar) and counts the run.
pub(crate) fn run_at<K: Kernel>(width: usize, kernel: K) -> K::Output {
    let slot = WIDTHS.iter().position(|&w| w == width).unwrap_or(0);
    RAN.with(|r| {
        let mut counts = r.get();
        if let Some(c) = counts.get_mut(slot) {
            *c += 1;
        }
        r.set(counts);
    });
    match width {
        4 => kernel.run::<wide::f32x4>(),
        8 => kernel.run::<wide::f32x8>(),
        16 => kernel.run::<wide::f32x16>(),
        _ => kernel.run::<f32>(),
    }
}

/// Runs `f` with every loss call on this thread at `width` lanes, then
/// restores the previous choice.
pub fn with_lanes<R>(width: usize, f: impl FnOnce() -> R) -> R {
    let before = REQUESTED.with(|r| r.replace(Some(width)));
    let out = f();
    REQUESTED.with(|r| r.set(before));
    out
}

/// How many kernel runs this thread has made at each of [`WIDTHS`].
pub fn runs() -> [u64; 4] {
    RAN.with(Cell::get)
}

/// Runs `f(width)` once at each of [`WIDTHS`] and checks that every width
/// ran at least one kernel (so a test cannot silently bypass the seam).
///
/// # Panics
/// If `f` made no loss call at some width.
pub fn for_each_lane(mut f: impl FnMut(usize)) {
    for (slot, &width) in WIDTHS.iter().enumerate() {
        let before = runs();
        with_lanes(width, || f(width));
        let after = runs();
        let ran = after.get(slot).copied().unwrap_or(0) > before.get(slot).copied().unwrap_or(0);
        #[allow(clippy::panic)]
        if !ran {
            panic!("no loss call ran at {width} lanes");
        }
    }
}
