//! Differential comparisons and the error model shared by the harnesses.

use loss_kernels::Error;
use loss_kernels::lane::{Lane, Native};

/// Relative tolerance of a result against its condition scale: the
/// conformance default `rtol = 1e-5` (SPEC tolerances), applied to the
/// magnitude of the terms that cancel rather than to the result alone.
pub const RTOL: f64 = 1e-5;

/// Absolute floor for results that underflow in `f32` (a subnormal or
/// flushed intermediate, e.g. `s²` for `s = 1e-25`).
pub const FLOOR: f64 = 1e-30;

/// Largest magnitude of data, weights and parameters for which the
/// differential check applies; past it `f32` intermediates (products of up
/// to four of them) may overflow where `f64` does not (a limit of `f32`,
/// not a bug; the finite-in, no-NaN-out checks cover every magnitude).
pub const BIG: f64 = 1e8;

/// Smallest non-zero magnitude of data, weights and parameters for which
/// the differential check applies (below it, products of up to four of
/// them underflow into subnormals and lose relative precision).
pub const SMALL: f64 = 1e-8;

/// Largest magnitude of a reference value, derivative or scale (after
/// weights and the reduction's scale) for which the check applies.
pub const HUGE_RESULT: f64 = 1e30;

/// `f32::EPSILON` as `f64`.
pub const EPS: f64 = f32::EPSILON as f64;

/// Whether a data value is finite and in `{0} ∪ [SMALL, BIG]` in magnitude.
pub fn in_domain(x: f32) -> bool {
    let a = (x as f64).abs();
    x.is_finite() && (a == 0.0 || (SMALL..=BIG).contains(&a))
}

/// Whether a reference quantity is small enough to check.
pub fn checkable(x: f64) -> bool {
    x.is_finite() && x.abs() <= HUGE_RESULT
}

/// Extra absolute error a reduction of `terms` values (the sum of whose
/// magnitudes is `magnitude`) can add in `f32`: the longest serial chain of
/// the driver's accumulators (`4 × LANES` partial sums, then 8-way per-row
/// sums), times `2 ε`, times the magnitude.
pub fn summation_slack(terms: usize, rows: usize, magnitude: f64) -> f64 {
    let chain = terms / (4 * <Native as Lane>::LANES) + rows / 8 + 16;
    2.0 * EPS * chain as f64 * magnitude
}

/// `|got - want| <= RTOL · scale + slack + FLOOR`; a NaN `want` needs a NaN.
pub fn close(got: f32, want: f64, scale: f64, slack: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    let got = got as f64;
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= RTOL * scale + slack + FLOOR
}

/// Panics with a readable message unless `close`.
#[track_caller]
pub fn assert_close(what: &str, got: f32, want: f64, scale: f64, slack: f64) {
    if !close(got, want, scale, slack) {
        panic!(
            "{what}: got {got:e}, want {want:e} (diff {:e}, allowed {:e} = RTOL·{scale:e} + {slack:e})",
            (got as f64 - want).abs(),
            RTOL * scale + slack + FLOOR
        );
    }
}

/// Two results of the same computation through two entry points: equal
/// bits, or both NaN.
#[track_caller]
pub fn assert_same(what: &str, a: f32, b: f32) {
    if !(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())) {
        panic!("{what}: {a:e} vs {b:e} from two entry points");
    }
}

/// The argument an error names.
pub fn argument(e: &Error) -> &'static str {
    match *e {
        Error::LengthMismatch { argument, .. }
        | Error::ZeroSize { argument }
        | Error::NotDivisible { argument, .. }
        | Error::EmptyBatch { argument }
        | Error::OutOfRange { argument, .. }
        | Error::InvalidParameter { argument, .. }
        | Error::WorkspaceTooSmall { argument, .. }
        | Error::BlankInLabel { argument, .. } => argument,
        _ => "<unknown variant>",
    }
}

/// The harness's model of which arguments of a call are malformed.
#[derive(Debug, Default)]
pub struct Faults {
    names: Vec<&'static str>,
}

impl Faults {
    /// No fault yet.
    pub fn new() -> Self {
        Faults::default()
    }
    /// Records `argument` as malformed when `bad`.
    pub fn flag(&mut self, argument: &'static str, bad: bool) -> &mut Self {
        if bad {
            self.names.push(argument);
        }
        self
    }
    /// Whether any argument is malformed.
    pub fn any(&self) -> bool {
        !self.names.is_empty()
    }
    /// Checks a call's result against the model: `Err` naming one of the
    /// malformed arguments exactly when there is one. Returns the `Ok`
    /// value when the call was (rightly) accepted.
    #[track_caller]
    pub fn expect<T: core::fmt::Debug>(&self, what: &str, r: Result<T, Error>) -> Option<T> {
        match (r, self.any()) {
            (Ok(v), false) => Some(v),
            (Ok(v), true) => panic!("{what}: Ok({v:?}) for malformed {:?}", self.names),
            (Err(e), true) => {
                let name = argument(&e);
                assert!(
                    self.names.contains(&name),
                    "{what}: error {e:?} names `{name}`, malformed are {:?}",
                    self.names
                );
                None
            }
            (Err(e), false) => panic!("{what}: Err({e:?}) for well-formed input"),
        }
    }
}
