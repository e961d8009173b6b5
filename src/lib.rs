#![no_std]
//! Neural-network losses and their gradients for any place a training step
//! runs: `no_std`, no allocator, SIMD through [`wide`], every loss's value
//! and gradient in one fused pass.
//!
//! ```
//! use loss_kernels::{pointwise::L2, Reduction};
//! let (pred, target) = ([1.0, 1.0], [2.0, 2.0]);
//! let mut grad = [0.0f32; 2];
//! let loss = L2::new().value_and_grad(&pred, &target, Reduction::Mean, &mut grad)?;
//! assert_eq!((loss, grad), (0.5, [-0.5, -0.5]));
//! # Ok::<(), loss_kernels::Error>(())
//! ```
//!
//! Data is `f32` in flat row-major slices; outputs go into caller slices.
//! Every entry point validates its arguments and returns [`Error`] naming the
//! one at fault; nothing panics or allocates. See `ARCHITECTURE.md` for how a
//! slice flows into lanes and back, and `SPEC.md` for the formulas.

#[cfg(feature = "capi")]
#[allow(unsafe_code)]
pub mod capi;
pub mod ctc;
mod driver;
pub mod embedding;
pub mod error;
pub mod lane;
pub mod math;
pub mod pointwise;
pub mod softmax;

pub use error::Error;

/// How per-sample losses are combined into one value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The sum of the per-sample losses.
    Sum,
    /// The sum divided by the loss's denominator (the number of samples,
    /// unless the loss documents otherwise).
    #[default]
    Mean,
}
