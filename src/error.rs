//! The one error type of the crate.
//!
//! Every public entry point validates its arguments before touching data and
//! returns `Err(Error)` naming the argument at fault; none panics. Non-finite
//! *data* (NaN, ±∞ in predictions or targets) is not an error: it propagates
//! into the result, as in PyTorch and MXNet.

use core::fmt;

/// What was wrong with the arguments of a call; each variant names the
/// argument (`pred`, `target`, `grad`, `sample_weight`, `dim`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A slice's length differs from the one the other arguments imply.
    LengthMismatch {
        /// The argument at fault.
        argument: &'static str,
        /// The length the other arguments imply.
        expected: usize,
        /// The length passed.
        found: usize,
    },
    /// A size parameter (`dim`, `classes`, ...) was 0.
    ZeroSize {
        /// The argument at fault.
        argument: &'static str,
    },
    /// A slice's length is not a multiple of the row size.
    NotDivisible {
        /// The argument at fault.
        argument: &'static str,
        /// The slice length passed.
        length: usize,
        /// The row size it must be a multiple of.
        divisor: usize,
    },
    /// The batch holds no sample.
    EmptyBatch {
        /// The argument at fault.
        argument: &'static str,
    },
    /// An index-like value (a label, a length, a blank) is out of its range.
    OutOfRange {
        /// The argument at fault.
        argument: &'static str,
        /// Position of the offending value in its slice; `None` for a scalar
        /// (the CTC blank).
        index: Option<usize>,
        /// The value found.
        value: usize,
        /// The bound the value broke, with its size.
        bound: Bound,
    },
    /// A scalar parameter is outside its domain (`rho <= 0`, NaN margin, ...).
    InvalidParameter {
        /// The argument at fault.
        argument: &'static str,
        /// What the parameter must be.
        expected: &'static str,
    },
    /// A caller-provided workspace is too small (CTC's; size it with
    /// [`ctc::workspace_len`](crate::ctc::workspace_len), or
    /// [`ctc::value_workspace_len`](crate::ctc::value_workspace_len) for a
    /// value-only call).
    WorkspaceTooSmall {
        /// The argument at fault.
        argument: &'static str,
        /// The `const fn` that sizes it for this call.
        sized_by: &'static str,
        /// The number of `f32` the call needs.
        expected: usize,
        /// The number passed.
        found: usize,
    },
    /// A label sequence contains the blank class (CTC).
    BlankInLabel {
        /// The argument at fault.
        argument: &'static str,
        /// Position of the blank in the slice.
        index: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::LengthMismatch {
                argument,
                expected,
                found,
            } => write!(f, "`{argument}` has length {found}, expected {expected}"),
            Error::ZeroSize { argument } => write!(f, "`{argument}` must be at least 1"),
            Error::NotDivisible {
                argument,
                length,
                divisor,
            } => write!(
                f,
                "`{argument}` has length {length}, not a multiple of {divisor}"
            ),
            Error::EmptyBatch { argument } => write!(f, "`{argument}` holds no sample"),
            Error::OutOfRange {
                argument,
                index: Some(index),
                value,
                bound,
            } => write!(f, "`{argument}[{index}]` is {value}, must be {bound}"),
            Error::OutOfRange {
                argument,
                index: None,
                value,
                bound,
            } => write!(f, "`{argument}` is {value}, must be {bound}"),
            Error::InvalidParameter { argument, expected } => {
                write!(f, "`{argument}` must be {expected}")
            }
            Error::WorkspaceTooSmall {
                argument,
                sized_by,
                expected,
                found,
            } => write!(
                f,
                "`{argument}` holds {found} values, the call needs {expected} \
                 (`{sized_by}`)"
            ),
            Error::BlankInLabel { argument, index } => {
                write!(f, "`{argument}[{index}]` is the blank class")
            }
        }
    }
}

impl core::error::Error for Error {}

/// The range an index-like value must lie in ([`Error::OutOfRange`]), with
/// the size that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bound {
    /// A class index (a label, the CTC blank): below the number of classes.
    Classes(usize),
    /// A CTC input length: at most the number of steps
    /// ([`Dims::steps`](crate::ctc::Dims::steps)).
    Steps(usize),
    /// A padded CTC label length: at most the row length
    /// ([`Labels::Padded`](crate::ctc::Labels::Padded)'s `max_len`).
    MaxLen(usize),
}

impl Bound {
    /// Whether `value` lies in the range.
    ///
    /// ```
    /// use loss_kernels::Bound;
    /// assert!(Bound::Classes(10).allows(9) && !Bound::Classes(10).allows(10));
    /// assert!(Bound::Steps(4).allows(4) && !Bound::Steps(4).allows(5));
    /// ```
    pub const fn allows(self, value: usize) -> bool {
        match self {
            Bound::Classes(classes) => value < classes,
            Bound::Steps(max) | Bound::MaxLen(max) => value <= max,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Bound::Classes(classes) => write!(f, "below {classes}, the number of classes"),
            Bound::Steps(steps) => write!(f, "at most {steps}, the number of steps"),
            Bound::MaxLen(max_len) => write!(f, "at most {max_len}, the padded length `max_len`"),
        }
    }
}

/// Checks that `slice` has length `expected`.
pub(crate) fn check_len<T>(
    argument: &'static str,
    slice: &[T],
    expected: usize,
) -> Result<(), Error> {
    if slice.len() == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            argument,
            expected,
            found: slice.len(),
        })
    }
}

/// Checks that `len` splits into rows of `row` values and returns the number
/// of rows (at least one).
pub(crate) fn rows(
    argument: &'static str,
    row_argument: &'static str,
    len: usize,
    row: usize,
) -> Result<usize, Error> {
    if row == 0 {
        return Err(Error::ZeroSize {
            argument: row_argument,
        });
    }
    if len == 0 {
        return Err(Error::EmptyBatch { argument });
    }
    if !len.is_multiple_of(row) {
        return Err(Error::NotDivisible {
            argument,
            length: len,
            divisor: row,
        });
    }
    Ok(len / row)
}

/// Checks that a scalar parameter lies in `domain`. A `const fn`, so the
/// constructors that validate a parameter are `const fn`s too (through
/// [`const_try`]): a loss configuration can be a `const` or a `static`.
pub(crate) const fn check_param(
    argument: &'static str,
    value: f32,
    domain: Domain,
) -> Result<f32, Error> {
    let ok = match domain {
        Domain::Finite => value.is_finite(),
        Domain::Positive => value.is_finite() && value > 0.0,
        Domain::NonNegative => value.is_finite() && value >= 0.0,
        Domain::UnitInterval => value >= 0.0 && value <= 1.0,
    };
    if ok {
        Ok(value)
    } else {
        Err(Error::InvalidParameter {
            argument,
            expected: domain.describe(),
        })
    }
}

/// The domain a scalar parameter must lie in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Domain {
    /// Any finite value.
    Finite,
    /// Finite and `> 0`.
    Positive,
    /// Finite and `>= 0`.
    NonNegative,
    /// In `[0, 1]` (label smoothing).
    UnitInterval,
}

impl Domain {
    const fn describe(self) -> &'static str {
        match self {
            Domain::Finite => "finite",
            Domain::Positive => "finite and > 0",
            Domain::NonNegative => "finite and >= 0",
            Domain::UnitInterval => "in [0, 1]",
        }
    }
}

/// `?` for `const fn`s (the `?` operator is not allowed in them): evaluates
/// to the `Ok` value or returns the `Err`.
macro_rules! const_try {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(error) => return Err(error),
        }
    };
}
pub(crate) use const_try;
