//! The static library of loss-kernels' C interface: links every
//! `extern "C"` function of `loss_kernels::capi` into
//! `libloss_kernels_capi.a`. The header is `include/loss_kernels.h`.
//!
//! `no_std` with `panic = "abort"` (Cargo.toml): the library brings no Rust
//! standard library, so a C program links only the loss code it calls and
//! `core` (a host program needs `-lm` at most; a Cortex-M firmware links it
//! as it is). The panic handler is never reached: `.ci/nopanic.sh` proves
//! at link time that no panic path is reachable from the C interface.

#![no_std]

pub use loss_kernels::capi::*;

unsafe extern "C" {
    /// The C library's `abort`.
    fn abort() -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: `abort` takes no argument and never returns; it is only
    // reachable if a panic path survived, which CI rules out.
    unsafe { abort() }
}

/// The unwinding personality the precompiled `core` refers to (its unwind
/// tables name it even with `panic = "abort"`); never called, as nothing
/// unwinds. Defined so a C program links without `--gc-sections`.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
