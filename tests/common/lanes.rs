//! Every loss test at every lane type: [`each_lane`] runs a test body at
//! each of `f32`, `f32x4`, `f32x8` and `f32x16` (the widths the CPU lacks
//! are emulated by `wide`), through the crate's `test-lanes` seam.
//!
//! [`each_lane`] also checks that every width made at least one loss call
//! (`lane::testing::for_each_lane`), so a test cannot silently bypass the
//! seam.

use loss_kernels::lane::testing::for_each_lane;

/// The loss family a test exercises, named when a test body panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Pointwise,
    Softmax,
    Embedding,
    Ctc,
}

/// Runs `f(width)` at each of `f32`, `f32x4`, `f32x8`, `f32x16` with every
/// loss call on this thread at that width; panics if some width made no
/// loss call. A panic inside `f` is reported with the width it happened at.
pub fn each_lane(family: Family, mut f: impl FnMut(usize)) {
    for_each_lane(|width| {
        let _context = PanicContext(family, width);
        f(width)
    });
}

/// Names the family and the lane width when a test body panics.
struct PanicContext(Family, usize);

impl Drop for PanicContext {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "(the panic above happened in a {:?} test at {} lanes)",
                self.0, self.1
            );
        }
    }
}

/// [`each_lane`] for a body that returns a result: the first failure, with
/// the width it failed at.
pub fn each_lane_ok<E: std::fmt::Display>(
    family: Family,
    mut f: impl FnMut(usize) -> Result<(), E>,
) -> Result<(), String> {
    let mut first = Ok(());
    each_lane(family, |width| {
        if let Err(e) = f(width)
            && first.is_ok()
        {
            first = Err(format!("at {width} lanes: {e}"));
        }
    });
    first
}

/// [`each_lane`] for a quickcheck property body, so each generated case
/// runs at every width: the first failing result, naming the width.
pub fn each_lane_test(
    family: Family,
    mut f: impl FnMut(usize) -> quickcheck::TestResult,
) -> quickcheck::TestResult {
    let mut outcome: Option<quickcheck::TestResult> = None;
    each_lane(family, |width| {
        // Every width runs (so each makes its call); the first failure is kept.
        let r = f(width);
        if outcome
            .as_ref()
            .is_some_and(quickcheck::TestResult::is_failure)
        {
            return;
        }
        outcome = Some(if r.is_failure() {
            quickcheck::TestResult::error(format!("at {width} lanes: {r:?}"))
        } else {
            r
        });
    });
    outcome.unwrap_or_else(quickcheck::TestResult::passed)
}
