//! What every link-check binary shares: the panic handler that cannot link,
//! and opaque arguments.
//!
//! A binary of this crate links only if the optimiser removed every call of
//! the panic handler, that is, if no panic is reachable from the entry
//! points the binary calls: the handler calls
//! `loss_kernels_panic_is_reachable`, which no object defines. Every
//! argument goes through [`core::hint::black_box`], so the entry points are
//! checked for arbitrary inputs, not for constants the optimiser could fold.

#![no_std]

use core::hint::black_box;
use core::panic::PanicInfo;

unsafe extern "C" {
    /// Defined nowhere: a reachable panic is an undefined-symbol link error.
    fn loss_kernels_panic_is_reachable() -> !;
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    // SAFETY: never runs. The symbol is undefined, so a binary in which this
    // call is still reachable fails to link.
    unsafe { loss_kernels_panic_is_reachable() }
}

/// Opaque input data: the optimiser knows neither its length nor its
/// values.
pub fn data() -> &'static [f32] {
    static DATA: [f32; 64] = [0.25; 64];
    black_box(&DATA[..])
}

/// Opaque `u32` input (labels, lengths).
pub fn indices() -> &'static [u32] {
    static INDICES: [u32; 16] = [1; 16];
    black_box(&INDICES[..])
}

/// Opaque `i64` input (PyTorch's labels).
pub fn indices_i64() -> &'static [i64] {
    static INDICES: [i64; 16] = [1; 16];
    black_box(&INDICES[..])
}

/// An opaque size.
pub fn size(v: usize) -> usize {
    black_box(v)
}

/// An opaque parameter.
pub fn param(v: f32) -> f32 {
    black_box(v)
}

/// An opaque flag.
pub fn flag() -> bool {
    black_box(false)
}

/// Keeps a result alive (so the call is not removed).
pub fn keep<T>(v: T) {
    black_box(v);
}

/// Where every `_start` ends (the binaries are linked, never run).
pub fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
