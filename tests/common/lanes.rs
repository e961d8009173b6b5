//! Every loss test at every level: [`each_lane`] runs a test body once at
//! each level this build and CPU can run (`lane::levels()`: scalar, the
//! portable `wide` level, and on x86-64 AVX2 and AVX-512 where the CPU has
//! them), through the crate's `test-lanes` seam.
//!
//! The choice is per thread (tests run in parallel): this file keeps it in
//! a thread-local and installs the hook the crate asks for a call's level.
//! [`each_lane`] also checks that every level made at least one loss call,
//! so a test cannot silently bypass the seam.
//!
//! `LOSS_KERNELS_MAX_LEVEL=avx2` (or `sse2`, `scalar`) caps the levels, as
//! on a CPU without the wider ones: the whole suite then runs as it would
//! there.

use loss_kernels::lane::{self, Level, testing};
use std::cell::Cell;
use std::sync::Once;

/// The loss family a test exercises, named when a test body panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Pointwise,
    Softmax,
    Embedding,
    Ctc,
}

thread_local! {
    /// The level this thread's loss calls run at (`None`: the default).
    static WANTED: Cell<Option<Level>> = const { Cell::new(None) };
    /// Calls run per level on this thread, by `Level::ALL` index.
    static RAN: Cell<[u64; Level::ALL.len()]> = const { Cell::new([0; Level::ALL.len()]) };
}

/// The hook: this thread's request (counted), else the default level.
fn choose(default: Level) -> Level {
    let Some(wanted) = WANTED.with(Cell::get) else {
        return default;
    };
    RAN.with(|r| {
        let mut counts = r.get();
        if let Some(i) = Level::ALL.iter().position(|&l| l == wanted) {
            counts[i] += 1;
        }
        r.set(counts);
    });
    wanted
}
static HOOK: testing::Hook = choose;

/// Installs the hook, and the cap of `LOSS_KERNELS_MAX_LEVEL`, once.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(name) = std::env::var("LOSS_KERNELS_MAX_LEVEL") {
            let cap = Level::ALL
                .into_iter()
                .find(|l| l.name() == name)
                .unwrap_or_else(|| panic!("LOSS_KERNELS_MAX_LEVEL={name} names no level"));
            lane::set_max_level(cap);
        }
        testing::install(&HOOK);
    });
}

/// The levels every loss test runs at.
pub fn levels() -> Vec<Level> {
    init();
    testing::levels().collect()
}

/// How many loss calls this thread has run at `level` (through the hook).
pub fn runs(level: Level) -> u64 {
    let i = Level::ALL.iter().position(|&l| l == level).unwrap_or(0);
    RAN.with(Cell::get)[i]
}

/// Runs `f(lanes)` once per level of [`levels`] with every loss call on this
/// thread at that level; panics if some level made no loss call. A panic
/// inside `f` is reported with the level it happened at.
pub fn each_lane(family: Family, mut f: impl FnMut(usize)) {
    for level in levels() {
        let before = runs(level);
        {
            let _context = PanicContext(family, level);
            let outer = WANTED.with(|w| w.replace(Some(level)));
            f(level.lanes());
            WANTED.with(|w| w.set(outer));
        }
        assert!(
            runs(level) > before,
            "a {family:?} test made no loss call at {level}"
        );
    }
}

/// Runs `f` with every loss call on this thread at `level`.
pub fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
    init();
    let outer = WANTED.with(|w| w.replace(Some(level)));
    let out = f();
    WANTED.with(|w| w.set(outer));
    out
}

/// Names the family and the level when a test body panics.
struct PanicContext(Family, Level);

impl Drop for PanicContext {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "(the panic above happened in a {:?} test at {})",
                self.0, self.1
            );
        }
    }
}

/// [`each_lane`] for a body that returns a result: the first failure, with
/// the lane count of the level it failed at.
pub fn each_lane_ok<E: std::fmt::Display>(
    family: Family,
    mut f: impl FnMut(usize) -> Result<(), E>,
) -> Result<(), String> {
    let mut first = Ok(());
    each_lane(family, |lanes| {
        if let Err(e) = f(lanes)
            && first.is_ok()
        {
            first = Err(format!("at {lanes} lanes: {e}"));
        }
    });
    first
}

/// [`each_lane`] for a quickcheck property body, so each generated case
/// runs at every level: the first failing result, naming the lanes.
pub fn each_lane_test(
    family: Family,
    mut f: impl FnMut(usize) -> quickcheck::TestResult,
) -> quickcheck::TestResult {
    let mut outcome: Option<quickcheck::TestResult> = None;
    each_lane(family, |lanes| {
        // Every level runs (so each makes its call); the first failure is kept.
        let r = f(lanes);
        if outcome
            .as_ref()
            .is_some_and(quickcheck::TestResult::is_failure)
        {
            return;
        }
        outcome = Some(if r.is_failure() {
            quickcheck::TestResult::error(format!("at {lanes} lanes: {r:?}"))
        } else {
            r
        });
    });
    outcome.unwrap_or_else(quickcheck::TestResult::passed)
}
