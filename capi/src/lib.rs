//! The static library of loss-kernels' C interface: links every
//! `extern "C"` function of `loss_kernels::capi` into
//! `libloss_kernels_capi.a`. The header is `include/loss_kernels.h`.

pub use loss_kernels::capi::*;
