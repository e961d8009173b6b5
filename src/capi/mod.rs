//! A C interface to every loss family (cargo feature `capi`).
//!
//! Pointers plus lengths in, status codes out: every function returns an
//! [`LkStatus`] (0 is success) and writes results through caller pointers.
//! Nothing here panics or unwinds across the boundary; a null pointer with a
//! non-zero length is [`LkStatus::NullPointer`], an optional input (sample
//! weights, class weights) may be null to mean "absent", and an optional
//! output (`grad`, `out`) may be null to skip it.
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
//! dispatcher; `pointwise.rs`, `rows.rs` (softmax cross-entropy, KL
//! divergence, triplet, cosine embedding) and `ctc.rs` hold the `extern "C"`
//! functions of each family.
//!
//! The header `include/loss_kernels.h` is generated from these files with
//! cbindgen (`cbindgen --config cbindgen.toml --output include/loss_kernels.h`);
//! CI regenerates it and fails if the committed one is stale. Link the static
//! library built by the `capi/` crate (`cargo build --release --manifest-path
//! capi/Cargo.toml`, giving `libloss_kernels_capi.a`).

mod ctc;
mod pointwise;
mod rows;

pub use ctc::*;
pub use pointwise::*;
pub use rows::*;

use crate::Reduction;
use crate::driver::Sum;
use crate::error::Error;

/// Result of a C call: 0 on success, else the kind of bad input (the Rust
/// [`Error`] variants, plus the C-only null-pointer and bad-enum cases).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LkStatus {
    /// Success.
    Ok = 0,
    /// [`Error::LengthMismatch`].
    LengthMismatch = 1,
    /// [`Error::ZeroSize`].
    ZeroSize = 2,
    /// [`Error::NotDivisible`].
    NotDivisible = 3,
    /// [`Error::EmptyBatch`].
    EmptyBatch = 4,
    /// [`Error::OutOfRange`].
    OutOfRange = 5,
    /// [`Error::InvalidParameter`].
    InvalidParameter = 6,
    /// [`Error::WorkspaceTooSmall`].
    WorkspaceTooSmall = 7,
    /// [`Error::BlankInLabel`].
    BlankInLabel = 8,
    /// A required pointer was null (with a non-zero length).
    NullPointer = 9,
    /// An enum argument had a value outside its C enum.
    InvalidEnum = 10,
}

impl From<Error> for LkStatus {
    fn from(e: Error) -> Self {
        match e {
            Error::LengthMismatch { .. } => LkStatus::LengthMismatch,
            Error::ZeroSize { .. } => LkStatus::ZeroSize,
            Error::NotDivisible { .. } => LkStatus::NotDivisible,
            Error::EmptyBatch { .. } => LkStatus::EmptyBatch,
            Error::OutOfRange { .. } => LkStatus::OutOfRange,
            Error::InvalidParameter { .. } => LkStatus::InvalidParameter,
            Error::WorkspaceTooSmall { .. } => LkStatus::WorkspaceTooSmall,
            Error::BlankInLabel { .. } => LkStatus::BlankInLabel,
        }
    }
}

/// A failed C call: the status it returns.
struct Fail(LkStatus);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail(e.into())
    }
}

/// The failure of a null required pointer.
const NULL: Fail = Fail(LkStatus::NullPointer);
/// The failure of an enum code outside its C enum.
const BAD_ENUM: Fail = Fail(LkStatus::InvalidEnum);

/// Turns a body's result into a status.
fn status(r: Result<(), Fail>) -> LkStatus {
    match r {
        Ok(()) => LkStatus::Ok,
        Err(Fail(s)) => s,
    }
}

/// `Sum` (0) or `Mean` (1).
fn reduction(code: u32) -> Result<Reduction, Fail> {
    match code {
        0 => Ok(Reduction::Sum),
        1 => Ok(Reduction::Mean),
        _ => Err(BAD_ENUM),
    }
}

/// A C flag that must be 0 or 1: `if_zero` or `if_one`.
fn choice<T>(code: u32, if_zero: T, if_one: T) -> Result<T, Fail> {
    match code {
        0 => Ok(if_zero),
        1 => Ok(if_one),
        _ => Err(BAD_ENUM),
    }
}

/// The number of rows of `len` values in rows of `width` (0 for width 0:
/// the Rust call then reports the zero size).
fn rows_of(len: usize, width: usize) -> usize {
    len.checked_div(width).unwrap_or(0)
}

/// A required input slice from a pointer and a length.
///
/// # Safety
/// `ptr` must be null or valid for reads of `len` values for `'a`.
unsafe fn input<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(NULL);
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

/// A required struct argument.
///
/// # Safety
/// `ptr` must be null or point to a valid `T` for `'a`.
unsafe fn argument<'a, T>(ptr: *const T) -> Result<&'a T, Fail> {
    // SAFETY: the caller guarantees a null or valid, aligned pointer.
    unsafe { ptr.as_ref() }.ok_or(NULL)
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
