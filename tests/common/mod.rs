//! Shared test helpers; each test binary uses a subset of them. The float64
//! references live in the `loss-kernels-reference` crate (reference/).
#![allow(dead_code)]

pub mod ctc_batch;
pub mod dynamic;
pub mod json;
pub mod lanes;
pub mod rng;
pub mod tolerance;
