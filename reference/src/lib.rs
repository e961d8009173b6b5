//! Float64 references of every loss in `loss-kernels`, written from SPEC.md
//! with `std`'s `f64` math and independent of the crate's code (this crate
//! does not depend on it). One copy, used by the crate's tests, its fuzz
//! targets and its benches' scalar baselines.
//!
//! * [`pointwise`]: the element losses, each with its value, derivative and
//!   the *condition scale* of both (the size of the terms that cancel, which
//!   a fair tolerance is relative to), plus batch helpers (per-sample,
//!   reduced, gradient).
//! * [`pairs`]: Gaussian NLL and margin ranking (three inputs, two
//!   gradients).
//! * [`rows`]: softmax cross-entropy, KL divergence, the row functions
//!   (`logsumexp`, `log_softmax`, `softmax`), triplet and cosine embedding.
//! * [`ctc`]: the CTC forward-backward recursion in log space, a brute-force
//!   path enumeration for tiny cases and a batch description.
//!
//! Adding a loss to the crate means adding its reference here (the coverage
//! test `tests/coverage.rs` checks it).

#![allow(clippy::needless_range_loop)]

pub mod ctc;
pub mod pairs;
pub mod pointwise;
pub mod rows;
