//! Shared support for the loss-kernels fuzz targets:
//!
//! * [`input`]: turns the fuzzer's bytes into sizes, flags and `f32` data
//!   (NaN, ±∞, ±0, subnormals, huge and tiny values, small exact values and
//!   raw bit patterns), in a layout the seed script `make_seeds.py` writes.
//! * the float64 references are the `loss-kernels-reference` crate
//!   (`reference/`, shared with the crate's tests and benches): each returns
//!   the value, the derivative and the *condition scale* of both (the size
//!   of the terms that cancel), which the tolerance is relative to.
//! * [`check`]: the differential comparisons and the error-model helpers.
//!
//! The harnesses are differential: for finite inputs inside a loss's domain
//! (see [`check::in_domain`]) the crate's result must match the float64
//! reference within `RTOL` of the condition scale, plus the rounding a
//! summation over the batch can add; any input must give `Err` exactly when
//! the harness's own model of the argument rules says it is malformed.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

pub mod check;
pub mod input;
