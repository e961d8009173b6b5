//! What a C caller learns about a failure beyond its status code
//! ([`LkErrorDetail`], filled through every function's `detail` argument),
//! the name of a status ([`lk_status_str`]) and the library's version.
//!
//! An out-parameter rather than a "last error" query: the library has no
//! global state, so calls from several threads never see each other's
//! errors, and nothing needs a thread-local in a `no_std` build.

use super::{
    Fail, LK_STATUS_BLANK_IN_LABEL, LK_STATUS_EMPTY_BATCH, LK_STATUS_INVALID_ENUM,
    LK_STATUS_INVALID_PARAMETER, LK_STATUS_LENGTH_MISMATCH, LK_STATUS_NOT_DIVISIBLE,
    LK_STATUS_NULL_POINTER, LK_STATUS_OK, LK_STATUS_OUT_OF_RANGE, LK_STATUS_WORKSPACE_TOO_SMALL,
    LK_STATUS_ZERO_SIZE, LkStatus,
};
use crate::error::{Bound, Error};
use core::ffi::c_char;
use core::fmt::{self, Write};

/// Bytes of LkErrorDetail.argument, the terminating NUL included.
pub const LK_ERROR_ARGUMENT_LEN: usize = 32;
/// Bytes of LkErrorDetail.message, the terminating NUL included.
pub const LK_ERROR_MESSAGE_LEN: usize = 160;

/// What a failed call knows about its failure, written through the
/// detail argument of every function when it is not NULL (on success:
/// status LK_STATUS_OK, empty strings, zeros). argument names the argument
/// at fault and message is the whole sentence (for an invalid parameter it
/// says what the parameter must be); the numbers, by status:
///
/// * LENGTH_MISMATCH, WORKSPACE_TOO_SMALL: expected = the length needed,
///   found = the length passed;
/// * NOT_DIVISIBLE: expected = the row size, found = the length passed;
/// * OUT_OF_RANGE: index = the position of the value (0 for a scalar such
///   as the CTC blank), expected = the bound (a class index must be below
///   it, a CTC input or label length at most it), found = the value;
/// * BLANK_IN_LABEL: index = the position of the blank;
/// * INVALID_ENUM: found = the value passed;
/// * the others: 0.
///
/// Both strings are NUL-terminated (truncated to fit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LkErrorDetail {
    /// The status the call returned.
    pub status: LkStatus,
    /// The name of the argument at fault (a parameter of the C function, or
    /// a field of its struct argument, as "spec.c"), or "" on success.
    pub argument: [c_char; LK_ERROR_ARGUMENT_LEN],
    /// The position of the offending value in its array (see above).
    pub index: usize,
    /// The expected length, row size or bound (see above).
    pub expected: usize,
    /// The length or value found (see above).
    pub found: usize,
    /// The error message, or "" on success.
    pub message: [c_char; LK_ERROR_MESSAGE_LEN],
}

/// Writes into a fixed C string buffer, dropping what does not fit and
/// keeping room for the terminating NUL (the buffer starts zeroed).
struct CString<'b> {
    buf: &'b mut [c_char],
    len: usize,
}

impl Write for CString<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(1);
        for (slot, &b) in self
            .buf
            .iter_mut()
            .take(room)
            .skip(self.len)
            .zip(s.as_bytes())
        {
            // A byte, as C's `char` holds it (signed or not).
            *slot = b as c_char;
            self.len += 1;
        }
        Ok(())
    }
}

/// Formats `args` into `buf` as a NUL-terminated string.
fn format_into(buf: &mut [c_char], args: fmt::Arguments<'_>) {
    let mut w = CString { buf, len: 0 };
    // A `CString` never fails: what does not fit is dropped.
    let _ = w.write_fmt(args);
}

impl LkErrorDetail {
    /// The detail of a call's failure (`None`: success).
    pub(super) fn of(fail: Option<&Fail>) -> Self {
        let mut d = LkErrorDetail {
            status: fail.map_or(LK_STATUS_OK, Fail::status),
            argument: [0; LK_ERROR_ARGUMENT_LEN],
            index: 0,
            expected: 0,
            found: 0,
            message: [0; LK_ERROR_MESSAGE_LEN],
        };
        let Some(fail) = fail else {
            return d;
        };
        let argument = match *fail {
            Fail::Rust(e) => {
                format_into(&mut d.message, format_args!("{e}"));
                let (argument, index, expected, found) = fields(e);
                (d.index, d.expected, d.found) = (index, expected, found);
                argument
            }
            Fail::Null(name) => {
                format_into(&mut d.message, format_args!("`{name}` is a null pointer"));
                name
            }
            Fail::BadEnum(name, value) => {
                format_into(
                    &mut d.message,
                    format_args!("`{name}` is {value}, not one of its defined values"),
                );
                d.found = value;
                name
            }
        };
        format_into(&mut d.argument, format_args!("{argument}"));
        d
    }
}

/// The argument, index, expected and found values of a Rust error (see
/// the table of [`LkErrorDetail`]).
fn fields(e: Error) -> (&'static str, usize, usize, usize) {
    match e {
        Error::LengthMismatch {
            argument,
            expected,
            found,
        }
        | Error::WorkspaceTooSmall {
            argument,
            expected,
            found,
            ..
        } => (argument, 0, expected, found),
        Error::NotDivisible {
            argument,
            length,
            divisor,
        } => (argument, 0, divisor, length),
        Error::OutOfRange {
            argument,
            index,
            value,
            bound,
        } => {
            let (Bound::Classes(limit) | Bound::Steps(limit) | Bound::MaxLen(limit)) = bound;
            (argument, index.unwrap_or(0), limit, value)
        }
        Error::BlankInLabel { argument, index } => (argument, index, 0, 0),
        Error::ZeroSize { argument }
        | Error::EmptyBatch { argument }
        | Error::InvalidParameter { argument, .. } => (argument, 0, 0, 0),
        // `Error` is non-exhaustive; the message still says it all.
        #[allow(unreachable_patterns)]
        _ => ("", 0, 0, 0),
    }
}

/// The name of a status code, as a static NUL-terminated string ("ok",
/// "length mismatch", ...; "unknown status" for a value that is none of
/// the LK_STATUS_ codes). Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn lk_status_str(status: LkStatus) -> *const c_char {
    let s = match status {
        LK_STATUS_OK => c"ok",
        LK_STATUS_LENGTH_MISMATCH => c"length mismatch",
        LK_STATUS_ZERO_SIZE => c"zero size",
        LK_STATUS_NOT_DIVISIBLE => c"length not divisible by the row size",
        LK_STATUS_EMPTY_BATCH => c"empty batch",
        LK_STATUS_OUT_OF_RANGE => c"value out of range",
        LK_STATUS_INVALID_PARAMETER => c"invalid parameter",
        LK_STATUS_WORKSPACE_TOO_SMALL => c"workspace too small",
        LK_STATUS_BLANK_IN_LABEL => c"blank in label",
        LK_STATUS_NULL_POINTER => c"null pointer",
        LK_STATUS_INVALID_ENUM => c"invalid enum or flags value",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The major version of the library this header belongs to.
pub const LK_VERSION_MAJOR: u32 = 0;
/// The minor version.
pub const LK_VERSION_MINOR: u32 = 1;
/// The patch version.
pub const LK_VERSION_PATCH: u32 = 0;
/// The version as one number, MAJOR * 10000 + MINOR * 100 + PATCH, for
/// preprocessor tests.
pub const LK_VERSION: u32 = LK_VERSION_MAJOR * 10000 + LK_VERSION_MINOR * 100 + LK_VERSION_PATCH;

/// The version of the linked library as LK_VERSION computes it (compare
/// with the header's LK_VERSION to detect a mismatch).
#[unsafe(no_mangle)]
pub extern "C" fn lk_version() -> u32 {
    LK_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_follow_the_package() {
        let v = |s: &str| s.parse::<u32>().unwrap_or(u32::MAX);
        assert_eq!(LK_VERSION_MAJOR, v(env!("CARGO_PKG_VERSION_MAJOR")));
        assert_eq!(LK_VERSION_MINOR, v(env!("CARGO_PKG_VERSION_MINOR")));
        assert_eq!(LK_VERSION_PATCH, v(env!("CARGO_PKG_VERSION_PATCH")));
    }

    fn text(buf: &[c_char]) -> &str {
        // SAFETY: `LkErrorDetail` strings are NUL-terminated within the
        // buffer.
        let c = unsafe { core::ffi::CStr::from_ptr(buf.as_ptr()) };
        c.to_str().unwrap_or("<not utf-8>")
    }

    #[test]
    fn detail_carries_the_error() {
        let e = Error::OutOfRange {
            argument: "labels",
            index: Some(3),
            value: 12,
            bound: crate::error::Bound::Classes(10),
        };
        let d = LkErrorDetail::of(Some(&Fail::Rust(e)));
        assert_eq!(d.status, LK_STATUS_OUT_OF_RANGE);
        assert_eq!((d.index, d.expected, d.found), (3, 10, 12));
        assert_eq!(text(&d.argument), "labels");
        assert_eq!(
            text(&d.message),
            "`labels[3]` is 12, must be below 10, the number of classes"
        );
        let d = LkErrorDetail::of(Some(&Fail::BadEnum("reduction_code", 7)));
        assert_eq!((d.status, d.found), (LK_STATUS_INVALID_ENUM, 7));
        let d = LkErrorDetail::of(None);
        assert_eq!((d.status, text(&d.message)), (LK_STATUS_OK, ""));
    }

    #[test]
    fn long_texts_are_truncated_and_terminated() {
        let long = core::str::from_utf8(&[b'x'; 1000]).unwrap_or("");
        let mut buf = [0 as c_char; 8];
        format_into(&mut buf, format_args!("{long}"));
        assert_eq!(text(&buf), "xxxxxxx");
    }
}
