#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Run-time dispatch: the levels the crate detects are the ones the CPU
//! reports (read independently, from `/proc/cpuinfo`), every one of them
//! runs in the test suite, and `set_max_level` caps what a call runs at.
//!
//! One test function: `set_max_level` is process-wide.

mod common;

use loss_kernels::Reduction;
use loss_kernels::lane::{self, Level};
use loss_kernels::pointwise::L2;

/// The levels this machine should run, from the kernel's CPU flags
/// (x86-64 Linux), capped as `LOSS_KERNELS_MAX_LEVEL` asks.
fn expected_levels() -> Option<Vec<Level>> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) || cfg!(feature = "force-scalar") {
        return None;
    }
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags: Vec<&str> = info
        .lines()
        .find(|l| l.starts_with("flags"))?
        .split_whitespace()
        .collect();
    let has = |f: &str| flags.contains(&f);
    let mut levels = vec![Level::Scalar, Level::Sse2];
    if has("avx2") && has("fma") {
        levels.push(Level::Avx2);
        if has("avx512f") {
            levels.push(Level::Avx512);
        }
    }
    if let Ok(cap) = std::env::var("LOSS_KERNELS_MAX_LEVEL") {
        levels.retain(|&l| l <= level_named(&cap));
    }
    Some(levels)
}

fn level_named(name: &str) -> Level {
    Level::ALL.into_iter().find(|l| l.name() == name).unwrap()
}

#[test]
fn levels_and_cap() {
    let levels = common::lanes::levels();
    println!("levels run by every loss test: {levels:?}");
    match expected_levels() {
        Some(want) => assert_eq!(levels, want, "detected levels differ from /proc/cpuinfo"),
        None => println!("(no /proc/cpuinfo check on this target)"),
    }
    assert_eq!(lane::level(), *levels.last().unwrap());
    assert!(lane::level() <= lane::supported());

    // The cap: each level in turn, then back up; a loss call runs at it.
    let (p, t) = ([0.5f32; 40], [0.25f32; 40]);
    let want = 0.5 * 0.25f32 * 0.25;
    for &cap in levels.iter().rev() {
        lane::set_max_level(cap);
        assert_eq!(lane::level(), cap);
        assert_eq!(lane::levels().last(), Some(cap));
        let got = L2::new().value(&p, &t, Reduction::Mean).unwrap();
        assert!((got - want).abs() <= 1e-7, "{cap}: {got} vs {want}");
    }
    // A cap the CPU or build lacks gives the best level below it.
    lane::set_max_level(Level::Neon);
    let below = levels.iter().copied().filter(|&l| l <= Level::Neon).max();
    assert_eq!(Some(lane::level()), below);
    lane::set_max_level(Level::Avx512);
    assert_eq!(lane::level(), lane::supported());
    assert_eq!(format!("{}", Level::Avx2), "avx2 (8 lanes)");
}
