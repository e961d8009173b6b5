#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The integration tests, compiled as one test binary.
//!
//! Each `tests/<name>.rs` is a module of this crate (`cargo test --test
//! suite <name>::` runs one file's tests), and `tests/common/` is compiled
//! once for all of them. One binary instead of one per file: the crate's
//! entry points are generic and `#[inline(always)]`, so every test binary
//! monomorphised and optimised every kernel at every SIMD level again, and
//! compiling dominated the test run.
//!
//! Two files stay binaries of their own (Cargo.toml):
//! * `tests/dispatch.rs` changes the process-wide level cap
//!   (`lane::set_max_level`), which would race every other test here and
//!   lift the cap `LOSS_KERNELS_MAX_LEVEL` sets for them;
//! * `tests/no_alloc.rs` runs here, and is also the `no_alloc` test target
//!   (`test = false`: not run by `cargo test`) that `.ci/dispatch.sh`
//!   builds in release to disassemble one binary calling every loss.
//!
//! `allocation-counter` (used by `no_alloc`) installs its counting global
//! allocator for the whole binary; it counts per thread, so the other tests
//! running in parallel do not pollute its measurements.

mod common;

mod accumulate;
mod conformance;
mod const_config;
mod coverage;
mod ctc;
mod ctc_levels;
mod ctc_ranges;
mod embedding_levels;
mod fuzz_regressions;
mod math_accuracy;
mod no_alloc;
mod pairs;
mod parity_rows;
mod pointwise;
mod reductions;
mod rows;
mod shards;
mod softmax_levels;
