#![no_std]
//! Neural-network losses and their gradients for any place a training step
//! runs: `no_std`, no allocator, SIMD chosen at run time, every loss's value
//! and gradient in one fused pass.
//!
//! A training step of a logistic-regression model `p = w·x` (the gradient of
//! the mean loss w.r.t. the logits, then the chain rule by hand):
//!
//! ```
//! use loss_kernels::{pointwise::SigmoidBce, Reduction};
//! let (x, y, mut w) = ([[1.0f32, 2.0], [-1.0, 0.5]], [1.0f32, 0.0], [0.1f32, -0.2]);
//! let logits = x.map(|xi| xi[0] * w[0] + xi[1] * w[1]);
//! let mut d_logits = [0.0f32; 2];
//! let loss = SigmoidBce::new(1.0)?.value_and_grad(&logits, &y, Reduction::Mean, &mut d_logits)?;
//! for (xi, g) in x.iter().zip(d_logits) { for (wj, xj) in w.iter_mut().zip(xi) { *wj -= 0.5 * g * xj; } }
//! # assert!(loss > 0.0 && w != [0.1, -0.2]);
//! # Ok::<(), loss_kernels::Error>(())
//! ```
//!
//! The families, each with `value`, `value_and_grad`, `per_sample` and
//! `per_sample_and_grad` and [`Reduction::Sum`] / [`Reduction::Mean`]:
//!
//! * [`pointwise`]: L1, L2, Huber, hinge, squared hinge, logistic, sigmoid
//!   BCE, BCE, Poisson NLL, log-cosh (`dim`, sample weights), and PyTorch's
//!   MSE, smooth L1, Huber, soft margin, hinge embedding, torchvision's
//!   sigmoid focal loss, sigmoid BCE with per-class `pos_weight`;
//! * [`pair`]: Gaussian NLL and margin ranking (two or three inputs, two
//!   gradients);
//! * [`softmax`]: softmax cross-entropy (sparse `u32`/`i64` or dense
//!   labels, label smoothing, `ignore_index`, class weights, a strided class
//!   axis), KL divergence (probability or log-probability targets), and
//!   `logsumexp` / `log_softmax` / `softmax` over rows;
//! * [`margin`]: multi-label soft margin, multi-class margin and
//!   multi-label margin losses (PyTorch's);
//! * [`embedding`]: triplet (squared, Euclidean or Manhattan distance, eps,
//!   swap) and cosine embedding losses;
//! * [`ctc`]: connectionist temporal classification, in log space, with a
//!   caller workspace;
//! * `capi` (feature `capi`): the C interface.
//!
//! Data is `f32` in flat row-major slices; outputs go into caller slices.
//! Every entry point validates its arguments and returns [`Error`] naming the
//! one at fault; nothing panics or allocates. On x86-64 the SIMD level
//! (SSE2, AVX2 + FMA, AVX-512) is detected at run time, once
//! ([`lane::level`]); [`math`] holds the vector functions with their
//! measured error bounds. Each module's documentation gives the formulas,
//! their stable forms, the `Mean` denominators and the measured accuracy;
//! [`ARCHITECTURE.md`] tells how a slice flows into lanes and back.
//!
//! [`ARCHITECTURE.md`]: https://github.com/loss-kernels/loss-kernels/blob/main/ARCHITECTURE.md

#[cfg(feature = "capi")]
#[allow(unsafe_code)]
pub mod capi;
pub mod ctc;
mod driver;
pub mod embedding;
pub mod error;
pub mod lane;
pub mod margin;
pub mod math;
pub mod pair;
pub mod pointwise;
pub mod softmax;

pub use error::{Bound, Error};

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

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
