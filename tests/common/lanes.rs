//! Every loss test at every lane type: [`each_lane`] runs a test body at
//! each of `f32`, `f32x4`, `f32x8` and `f32x16` (the widths the CPU lacks
//! are emulated by `wide`), through the crate's `test-lanes` seam.
//!
//! Whether a family's calls actually go through the seam is asserted per
//! family by [`Family::asserts_every_width`]: turning it on for a family is
//! the one-line change `ASSERT_<FAMILY> = true` below (after that family's
//! kernels route through `lane::run`).

use loss_kernels::lane::testing::{WIDTHS, for_each_lane, with_lanes};

/// The loss families, for the every-width assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Pointwise,
    Softmax,
    Embedding,
    Ctc,
}

// The one-line switches: `true` once a family's kernels route through the
// lane seam (then `each_lane` panics if some width made no call).
const ASSERT_POINTWISE: bool = true;
const ASSERT_SOFTMAX: bool = false;
const ASSERT_EMBEDDING: bool = false;
const ASSERT_CTC: bool = false;

impl Family {
    /// Whether [`each_lane`] checks that every width made a loss call.
    pub const fn asserts_every_width(self) -> bool {
        match self {
            Family::Pointwise => ASSERT_POINTWISE,
            Family::Softmax => ASSERT_SOFTMAX,
            Family::Embedding => ASSERT_EMBEDDING,
            Family::Ctc => ASSERT_CTC,
        }
    }
}

/// Runs `f(width)` at each of [`WIDTHS`] with every loss call on this thread
/// at that width; for a family whose switch is on, panics if some width
/// made no loss call (so a test cannot silently bypass the seam). A panic
/// inside `f` is reported with the width it happened at.
pub fn each_lane(family: Family, mut f: impl FnMut(usize)) {
    let mut at_width = |width: usize| {
        let _context = PanicContext(width);
        f(width)
    };
    if family.asserts_every_width() {
        for_each_lane(at_width);
    } else {
        for width in WIDTHS {
            with_lanes(width, || at_width(width));
        }
    }
}

/// Names the lane width when a test body panics.
struct PanicContext(usize);

impl Drop for PanicContext {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the panic above happened at {} lanes)", self.0);
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
        if first.is_ok()
            && let Err(e) = f(width)
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
    let mut outcome = None;
    each_lane(family, |width| {
        if outcome
            .as_ref()
            .is_some_and(quickcheck::TestResult::is_failure)
        {
            return;
        }
        let r = f(width);
        outcome = Some(if r.is_failure() {
            quickcheck::TestResult::error(format!("at {width} lanes: {r:?}"))
        } else {
            r
        });
    });
    outcome.unwrap_or_else(quickcheck::TestResult::passed)
}
