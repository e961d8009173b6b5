//! A C interface to every loss family (cargo feature `capi`).
//!
//! Pointers plus lengths in, status codes out: every function returns an
//! [`LkStatus`] (`LK_STATUS_OK`, 0, is success) and writes results through
//! caller pointers. Nothing here panics or unwinds across the boundary
//! (`.ci/nopanic.sh` proves at link time that no panic is reachable). The
//! pointer rules:
//!
//! * a required input that is NULL with a non-zero length is
//!   `LK_STATUS_NULL_POINTER`; an optional input (sample weights, class
//!   weights) may be NULL to mean "absent";
//! * the value output (`out_value`) is required; an optional output
//!   (`grad`, `per_sample`, `out_sum`) may be NULL to skip it, and gradient
//!   pointers of one call (triplet's three, cosine's two) are all given or
//!   all NULL;
//! * enum and flags arguments outside their definition are
//!   `LK_STATUS_INVALID_ENUM`;
//! * every function's last argument, `detail`, may be NULL; otherwise it
//!   receives an [`LkErrorDetail`]: the argument at fault, the index,
//!   expected and found values, and the message (see `detail.rs`).
//!
//! A call that fails writes none of its outputs, except a gradient or
//! per-sample slice the failing Rust entry point may have started (it
//! validates before writing, so only the C-only checks matter, and they run
//! first).
//!
//! # Which entry point a call runs
//!
//! Every family has the four Rust entry points `value`, `value_and_grad`,
//! `per_sample` and `per_sample_and_grad`; a C call picks one by whether it
//! asks for per-sample values and whether its gradient pointers are null,
//! and `dispatch` is the one place that makes that choice:
//!
//! | per-sample output | gradient | `*out_value` (or `*out_sum`) | gradient written |
//! |---|---|---|---|
//! | no  | null     | the `reduction` of the losses | — |
//! | no  | not null | the `reduction` of the losses | of that reduction |
//! | yes | null     | **the sum of the per-sample values** | — |
//! | yes | not null | **the sum of the per-sample values** | of that sum |
//!
//! The rule for the sum output: a per-sample call writes the sum of the
//! per-sample values, with or without gradient (what the Rust
//! `per_sample_and_grad` returns); the reduction code is not read.
//!
//! # Layout
//!
//! This file holds the status codes, the pointer helpers and the
//! dispatcher; `detail.rs` the error detail, `lk_status_str` and the
//! version; `pointwise.rs`, `rows.rs` (softmax cross-entropy, KL
//! divergence, triplet, cosine embedding) and `ctc.rs` hold the `extern "C"`
//! functions of each family.
//!
//! The header `include/loss_kernels.h` is generated from these files with
//! cbindgen (`cbindgen --config cbindgen.toml --output include/loss_kernels.h`);
//! CI regenerates it and fails if the committed one is stale. Link the static
//! library built by the `capi/` crate (`cargo build --release --manifest-path
//! capi/Cargo.toml`, giving `libloss_kernels_capi.a`).

mod ctc;
mod detail;
mod pointwise;
mod rows;

pub use ctc::*;
pub use detail::*;
pub use pointwise::*;
pub use rows::*;

use crate::Reduction;
use crate::driver::Sum;
use crate::error::Error;

/// The result of every call: LK_STATUS_OK (0) on success, else the kind
/// of bad argument. A fixed-width integer (not a C enum), so every value a
/// caller passes back (to lk_status_str) is defined.
pub type LkStatus = i32;

/// Success.
pub const LK_STATUS_OK: LkStatus = 0;
/// A length differs from the one the other arguments imply.
pub const LK_STATUS_LENGTH_MISMATCH: LkStatus = 1;
/// A size argument (dim, classes, ...) is 0.
pub const LK_STATUS_ZERO_SIZE: LkStatus = 2;
/// A length is not a multiple of the row size.
pub const LK_STATUS_NOT_DIVISIBLE: LkStatus = 3;
/// The batch holds no sample.
pub const LK_STATUS_EMPTY_BATCH: LkStatus = 4;
/// A label, length or blank is out of its range.
pub const LK_STATUS_OUT_OF_RANGE: LkStatus = 5;
/// A scalar parameter is outside its domain (rho <= 0, NaN margin, ...).
pub const LK_STATUS_INVALID_PARAMETER: LkStatus = 6;
/// The CTC workspace is too small.
pub const LK_STATUS_WORKSPACE_TOO_SMALL: LkStatus = 7;
/// A CTC label sequence contains the blank class.
pub const LK_STATUS_BLANK_IN_LABEL: LkStatus = 8;
/// A required pointer is NULL (an input with a non-zero length, a value
/// output, or one of a group of gradient pointers that must be given
/// together).
pub const LK_STATUS_NULL_POINTER: LkStatus = 9;
/// An enum or flags argument has a value outside its definition (a
/// reduction code other than LK_REDUCTION_SUM and LK_REDUCTION_MEAN, an
/// unknown loss kind, an undefined flag bit).
pub const LK_STATUS_INVALID_ENUM: LkStatus = 10;

/// Reduction code: the sum of the per-sample losses.
pub const LK_REDUCTION_SUM: u32 = 0;
/// Reduction code: the mean (the loss's denominator; see each function).
pub const LK_REDUCTION_MEAN: u32 = 1;

/// The status of a Rust error.
const fn status_of(e: &Error) -> LkStatus {
    match e {
        Error::LengthMismatch { .. } => LK_STATUS_LENGTH_MISMATCH,
        Error::ZeroSize { .. } => LK_STATUS_ZERO_SIZE,
        Error::NotDivisible { .. } => LK_STATUS_NOT_DIVISIBLE,
        Error::EmptyBatch { .. } => LK_STATUS_EMPTY_BATCH,
        Error::OutOfRange { .. } => LK_STATUS_OUT_OF_RANGE,
        Error::InvalidParameter { .. } => LK_STATUS_INVALID_PARAMETER,
        Error::WorkspaceTooSmall { .. } => LK_STATUS_WORKSPACE_TOO_SMALL,
        Error::BlankInLabel { .. } => LK_STATUS_BLANK_IN_LABEL,
        // `Error` is non-exhaustive: a kind added later is still a bad
        // argument.
        #[allow(unreachable_patterns)]
        _ => LK_STATUS_INVALID_PARAMETER,
    }
}

/// A failed C call: a Rust error, or one of the C-only failures.
#[derive(Clone, Copy, Debug)]
enum Fail {
    /// The Rust entry point's error.
    Rust(Error),
    /// The pointer argument named is NULL.
    Null(&'static str),
    /// The enum or flags argument named has the value `value`.
    BadEnum(&'static str, usize),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Rust(e)
    }
}

impl Fail {
    /// The status code of the failure.
    const fn status(&self) -> LkStatus {
        match self {
            Fail::Rust(e) => status_of(e),
            Fail::Null(_) => LK_STATUS_NULL_POINTER,
            Fail::BadEnum(..) => LK_STATUS_INVALID_ENUM,
        }
    }
}

/// Turns a body's result into a status, and fills `*detail` (when not
/// null) with what is known about it.
///
/// # Safety
/// `detail` must be null or valid for a write.
unsafe fn finish(r: Result<(), Fail>, detail: *mut LkErrorDetail) -> LkStatus {
    let fail = r.err();
    // SAFETY: the caller's contract on `detail` is `put`'s.
    unsafe { put(detail, LkErrorDetail::of(fail.as_ref())) };
    fail.map_or(LK_STATUS_OK, |f| f.status())
}

/// The reduction of a reduction code.
fn reduction(code: u32) -> Result<Reduction, Fail> {
    match code {
        LK_REDUCTION_SUM => Ok(Reduction::Sum),
        LK_REDUCTION_MEAN => Ok(Reduction::Mean),
        _ => Err(Fail::BadEnum("reduction_code", code as usize)),
    }
}

/// A C flag `name` that must be 0 or 1: `if_zero` or `if_one`.
fn choice<T>(name: &'static str, code: u32, if_zero: T, if_one: T) -> Result<T, Fail> {
    match code {
        0 => Ok(if_zero),
        1 => Ok(if_one),
        _ => Err(Fail::BadEnum(name, code as usize)),
    }
}

/// The number of rows of `len` values in rows of `width` (0 for width 0:
/// the Rust call then reports the zero size).
fn rows_of(len: usize, width: usize) -> usize {
    len.checked_div(width).unwrap_or(0)
}

/// The required input slice `name` from a pointer and a length (NULL is
/// allowed for length 0).
///
/// # Safety
/// `ptr` must be null or valid for reads of `len` values for `'a`.
unsafe fn input<'a, T>(name: &'static str, ptr: *const T, len: usize) -> Result<&'a [T], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Fail::Null(name));
    }
    // SAFETY: `ptr` is non-null and the caller guarantees `len` readable
    // values that live for `'a`.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// An optional input slice: null means absent.
///
/// # Safety
/// As [`input`].
unsafe fn optional<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: `ptr` is non-null and the caller guarantees `len`
        // readable values that live for `'a`.
        Some(unsafe { core::slice::from_raw_parts(ptr, len) })
    }
}

/// An optional output slice: null means "do not write it".
///
/// # Safety
/// `ptr` must be null or valid for writes of `len` values for `'a`, and not
/// alias any other slice of the call.
unsafe fn output<'a, T>(ptr: *mut T, len: usize) -> Option<&'a mut [T]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: `ptr` is non-null and the caller guarantees `len`
        // writable values for `'a` that no other slice of the call aliases.
        Some(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }
}

/// The required output slice `name` (NULL is allowed for length 0).
///
/// # Safety
/// As [`output`].
unsafe fn required<'a, T>(
    name: &'static str,
    ptr: *mut T,
    len: usize,
) -> Result<&'a mut [T], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: the caller's contract is `output`'s.
    unsafe { output(ptr, len) }.ok_or(Fail::Null(name))
}

/// The required struct argument `name`.
///
/// # Safety
/// `ptr` must be null or point to a valid `T` for `'a`.
unsafe fn argument<'a, T>(name: &'static str, ptr: *const T) -> Result<&'a T, Fail> {
    // SAFETY: the caller guarantees a null or valid, aligned pointer.
    unsafe { ptr.as_ref() }.ok_or(Fail::Null(name))
}

/// The required value output `name`: checked before the call runs, so a
/// NULL one fails without computing anything.
fn value_out(name: &'static str, ptr: *mut f32) -> Result<*mut f32, Fail> {
    if ptr.is_null() {
        Err(Fail::Null(name))
    } else {
        Ok(ptr)
    }
}

/// Writes `v` through `ptr` when it is not null.
///
/// # Safety
/// `ptr` must be null or valid for a write.
unsafe fn put<T>(ptr: *mut T, v: T) {
    if !ptr.is_null() {
        // SAFETY: `ptr` is non-null and the caller guarantees it is valid
        // for a write.
        unsafe { ptr.write(v) };
    }
}

/// Gradient outputs that are given together or not at all: all present,
/// all absent, or the failure naming the first NULL one of a partial set.
fn all_or_none<'a, const K: usize>(
    grads: [(&'static str, Option<&'a mut [f32]>); K],
) -> Result<Option<[&'a mut [f32]; K]>, Fail> {
    if grads.iter().all(|(_, g)| g.is_none()) {
        return Ok(None);
    }
    if let Some((name, _)) = grads.iter().find(|(_, g)| g.is_none()) {
        return Err(Fail::Null(name));
    }
    Ok(Some(grads.map(|(_, g)| g.unwrap_or(&mut []))))
}

/// What a C call asks for: a reduced value, or per-sample values into a
/// slice (see the [module docs](self) for what each writes).
enum Call<'a> {
    /// The reduction of the losses.
    Reduced(Reduction),
    /// The per-sample losses, one per sample.
    PerSample(&'a mut [f32]),
}

impl<'a> Call<'a> {
    /// The call of a function with both a reduction code and an optional
    /// per-sample pointer: per-sample values into `per_sample` (`n`
    /// values) unless it is null, else the reduction `reduction_code`.
    ///
    /// # Safety
    /// `per_sample` must be null or valid for `n` writes for `'a`, not
    /// aliasing any other slice of the call.
    unsafe fn from_code_or_out(
        reduction_code: u32,
        per_sample: *mut f32,
        n: usize,
    ) -> Result<Self, Fail> {
        // SAFETY: the caller's contract on `per_sample` is `output`'s.
        match unsafe { output(per_sample, n) } {
            Some(out) => Ok(Call::PerSample(out)),
            None => Ok(Call::Reduced(reduction(reduction_code)?)),
        }
    }
}

/// One family's four Rust entry points, over a call's validated
/// arguments (`self`, consumed by the one entry point that runs).
trait Entries: Sized {
    /// The gradient outputs of the family.
    type Grads;
    /// `value(reduction)`.
    fn value(self, reduction: Reduction) -> Result<f32, Error>;
    /// `value_and_grad(reduction, grads)`.
    fn value_and_grad(self, reduction: Reduction, grads: Self::Grads) -> Result<f32, Error>;
    /// `per_sample(out)`.
    fn per_sample(self, out: &mut [f32]) -> Result<(), Error>;
    /// `per_sample_and_grad(out, grads)`, returning the sum.
    fn per_sample_and_grad(self, out: &mut [f32], grads: Self::Grads) -> Result<f32, Error>;
}

/// THE dispatcher: runs the entry point of `family` that `call` and
/// `grads` ask for and returns what goes into the call's value output, by
/// the one rule of the [module docs](self): a reduced call returns the
/// reduction, a per-sample call the sum of its per-sample values (with or
/// without gradient).
fn dispatch<E: Entries>(family: E, call: Call<'_>, grads: Option<E::Grads>) -> Result<f32, Fail> {
    Ok(match (call, grads) {
        (Call::Reduced(r), None) => family.value(r)?,
        (Call::Reduced(r), Some(g)) => family.value_and_grad(r, g)?,
        (Call::PerSample(out), None) => {
            family.per_sample(out)?;
            let mut sum = Sum::default();
            out.iter().for_each(|&v| sum.add(v));
            sum.total()
        }
        (Call::PerSample(out), Some(g)) => family.per_sample_and_grad(out, g)?,
    })
}
