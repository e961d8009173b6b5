//! A C interface to every loss family (cargo feature `capi`).
//!
//! Pointers plus lengths in, status codes out: every function returns an
//! [`LkStatus`] (0 is success) and writes results through caller pointers.
//! Nothing here panics or unwinds across the boundary; a null pointer with a
//! non-zero length is [`LkStatus::NullPointer`], an optional input (sample
//! weights, class weights) may be null to mean "absent", and an optional
//! output (`grad`, `out`) may be null to skip it.
//!
//! The header `include/loss_kernels.h` is generated from this file with
//! cbindgen (`cbindgen --config cbindgen.toml --output include/loss_kernels.h`);
//! CI regenerates it and fails if the committed one is stale. Link the static
//! library built by the `capi/` crate (`cargo build --release --manifest-path
//! capi/Cargo.toml`, giving `libloss_kernels_capi.a`).

use crate::Reduction;
use crate::error::Error;
use crate::pointwise::{self, ElementLoss, Labels, Pointwise};

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

/// Internal: a failed C call.
enum Fail {
    Status(LkStatus),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Status(e.into())
    }
}

/// Turns a body's result into a status.
fn status(r: Result<(), Fail>) -> LkStatus {
    match r {
        Ok(()) => LkStatus::Ok,
        Err(Fail::Status(s)) => s,
    }
}

/// `Sum` (0) or `Mean` (1).
fn reduction(code: u32) -> Result<Reduction, Fail> {
    match code {
        0 => Ok(Reduction::Sum),
        1 => Ok(Reduction::Mean),
        _ => Err(Fail::Status(LkStatus::InvalidEnum)),
    }
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
        return Err(Fail::Status(LkStatus::NullPointer));
    }
    // SAFETY: non-null, and the caller guarantees `len` readable values.
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
        // SAFETY: non-null, and the caller guarantees `len` readable values.
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
        // SAFETY: non-null, and the caller guarantees `len` writable,
        // unaliased values.
        Some(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }
}

/// Writes `v` through `ptr` when it is not null.
///
/// # Safety
/// `ptr` must be null or valid for a write.
unsafe fn put<T>(ptr: *mut T, v: T) {
    if !ptr.is_null() {
        // SAFETY: non-null, and the caller guarantees it is writable.
        unsafe { ptr.write(v) };
    }
}

/// The pointwise losses.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LkPointwiseKind {
    /// `abs(p - t)`.
    L1 = 0,
    /// `(p - t)² / 2`.
    L2 = 1,
    /// Huber with `param = rho`.
    Huber = 2,
    /// Hinge with `param = margin`.
    Hinge = 3,
    /// Squared hinge with `param = margin`.
    SquaredHinge = 4,
    /// Logistic with signed labels (`t` in {-1, +1}).
    LogisticSigned = 5,
    /// Logistic with binary labels (`t` in {0, 1}).
    LogisticBinary = 6,
    /// Sigmoid BCE on logits with `param = pos_weight`.
    SigmoidBce = 7,
    /// BCE on probabilities with `param = pos_weight`.
    Bce = 8,
    /// Poisson NLL; `flags` bit 0 = `log_input`, bit 1 = `full`.
    PoissonNll = 9,
    /// `ln cosh(p - t)`.
    LogCosh = 10,
}

/// A pointwise loss and its parameters, as C passes it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LkPointwise {
    /// Which loss (an [`LkPointwiseKind`] value).
    pub kind: u32,
    /// `rho`, `margin` or `pos_weight`, as the kind says (ignored otherwise).
    pub param: f32,
    /// Poisson NLL: bit 0 `log_input`, bit 1 `full`.
    pub flags: u32,
    /// Values per sample (`dim`, at least 1).
    pub dim: usize,
}

/// Runs one pointwise entry point: the value of `reduction` into
/// `*out_value`, its gradient into `grad` (if not null), and the per-sample
/// losses into `per_sample` (if not null; then `grad`, if given, is the
/// gradient of the sum, whatever `reduction` says... see the header docs).
fn run_pointwise<F: ElementLoss>(
    loss: Pointwise<'static, F>,
    spec: &LkPointwise,
    args: &PointwiseArgs<'_>,
    out: PointwiseOut<'_>,
) -> Result<(), Fail> {
    let loss = loss.dim(spec.dim);
    let run = |l: Pointwise<'_, F>| -> Result<(), Fail> {
        match out {
            PointwiseOut::Reduced {
                reduction,
                grad: Some(g),
                value,
            } => {
                *value = l.value_and_grad(args.pred, args.target, reduction, g)?;
            }
            PointwiseOut::Reduced {
                reduction,
                grad: None,
                value,
            } => {
                *value = l.value(args.pred, args.target, reduction)?;
            }
            PointwiseOut::PerSample {
                out,
                grad: Some(g),
                value,
            } => {
                *value = l.per_sample_and_grad(args.pred, args.target, out, g)?;
            }
            PointwiseOut::PerSample {
                out,
                grad: None,
                value,
            } => {
                l.per_sample(args.pred, args.target, out)?;
                *value = 0.0;
            }
        }
        Ok(())
    };
    match args.sample_weight {
        Some(w) => run(loss.sample_weight(w)),
        None => run(loss),
    }
}

struct PointwiseArgs<'a> {
    pred: &'a [f32],
    target: &'a [f32],
    sample_weight: Option<&'a [f32]>,
}

enum PointwiseOut<'a> {
    Reduced {
        reduction: Reduction,
        grad: Option<&'a mut [f32]>,
        value: &'a mut f32,
    },
    PerSample {
        out: &'a mut [f32],
        grad: Option<&'a mut [f32]>,
        value: &'a mut f32,
    },
}

fn dispatch_pointwise(
    spec: &LkPointwise,
    args: &PointwiseArgs<'_>,
    out: PointwiseOut<'_>,
) -> Result<(), Fail> {
    let p = spec.param;
    match spec.kind {
        0 => run_pointwise(pointwise::L1::new(), spec, args, out),
        1 => run_pointwise(pointwise::L2::new(), spec, args, out),
        2 => run_pointwise(pointwise::Huber::new(p)?, spec, args, out),
        3 => run_pointwise(pointwise::Hinge::new(p)?, spec, args, out),
        4 => run_pointwise(pointwise::SquaredHinge::new(p)?, spec, args, out),
        5 => run_pointwise(pointwise::Logistic::new(Labels::Signed), spec, args, out),
        6 => run_pointwise(pointwise::Logistic::new(Labels::Binary), spec, args, out),
        7 => run_pointwise(pointwise::SigmoidBce::new(p)?, spec, args, out),
        8 => run_pointwise(pointwise::Bce::new(p)?, spec, args, out),
        9 => run_pointwise(
            pointwise::PoissonNll::new(spec.flags & 1 != 0, spec.flags & 2 != 0),
            spec,
            args,
            out,
        ),
        10 => run_pointwise(pointwise::LogCosh::new(), spec, args, out),
        _ => Err(Fail::Status(LkStatus::InvalidEnum)),
    }
}

/// Reduced pointwise loss (`reduction`: 0 = sum, 1 = mean) into
/// `*out_value`, and its gradient w.r.t. `pred` into `grad` (`len` values)
/// unless `grad` is null. `sample_weight` (`len / dim` values) may be null.
///
/// # Safety
/// `loss` and `out_value` must be valid; `pred`, `target` (and `grad`,
/// `sample_weight` when not null) must be valid for `len` (resp. `len/dim`)
/// values; `grad` must not alias the inputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_pointwise_value_and_grad(
    loss: *const LkPointwise,
    pred: *const f32,
    target: *const f32,
    len: usize,
    sample_weight: *const f32,
    reduction_code: u32,
    grad: *mut f32,
    out_value: *mut f32,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let spec = loss.as_ref().ok_or(Fail::Status(LkStatus::NullPointer))?;
            let n = len.checked_div(spec.dim).unwrap_or(0);
            let args = PointwiseArgs {
                pred: input(pred, len)?,
                target: input(target, len)?,
                sample_weight: optional(sample_weight, n),
            };
            let mut value = 0.0f32;
            let out = PointwiseOut::Reduced {
                reduction: reduction(reduction_code)?,
                grad: output(grad, len),
                value: &mut value,
            };
            dispatch_pointwise(spec, &args, out)?;
            put(out_value, value);
            Ok(())
        })()
    })
}

/// Per-sample pointwise losses into `out` (`len / dim` values), and the
/// gradient of their sum into `grad` unless it is null; the sum into
/// `*out_sum` unless it is null (0 when `grad` is null).
///
/// # Safety
/// As [`lk_pointwise_value_and_grad`]; `out` must be valid for `len / dim`
/// values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_pointwise_per_sample(
    loss: *const LkPointwise,
    pred: *const f32,
    target: *const f32,
    len: usize,
    sample_weight: *const f32,
    out: *mut f32,
    grad: *mut f32,
    out_sum: *mut f32,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let spec = loss.as_ref().ok_or(Fail::Status(LkStatus::NullPointer))?;
            let n = len.checked_div(spec.dim).unwrap_or(0);
            let args = PointwiseArgs {
                pred: input(pred, len)?,
                target: input(target, len)?,
                sample_weight: optional(sample_weight, n),
            };
            let out = output(out, n).ok_or(Fail::Status(LkStatus::NullPointer))?;
            let mut sum = 0.0f32;
            dispatch_pointwise(
                spec,
                &args,
                PointwiseOut::PerSample {
                    out,
                    grad: output(grad, len),
                    value: &mut sum,
                },
            )?;
            put(out_sum, sum);
            Ok(())
        })()
    })
}

/// A CTC loss and the shape of its batch, as C passes it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LkCtc {
    /// The blank class; `UINT32_MAX` means the last class, `C - 1`.
    pub blank: u32,
    /// 0: the activations are logits (softmax inside); 1: log-probabilities.
    pub log_probs: u32,
    /// 0: time-major `T×N×C`; 1: batch-major `N×T×C`.
    pub batch_major: u32,
    /// Non-zero: infinite (infeasible) losses become 0 with 0 gradient.
    pub zero_infinity: u32,
    /// Steps `T`.
    pub t: usize,
    /// Sequences `N`.
    pub n: usize,
    /// Classes `C`, blank included.
    pub c: usize,
    /// Padded labels: the row length `S`; 0 means the labels are
    /// concatenated (`labels_len` = the sum of the label lengths).
    pub max_label_len: usize,
}

/// The `float` workspace a CTC call needs for the longest input length `t`
/// and label length `max_label_len` of the batch (`ctc::workspace_len`).
#[unsafe(no_mangle)]
pub extern "C" fn lk_ctc_workspace_len(t: usize, max_label_len: usize) -> usize {
    crate::ctc::workspace_len(t, max_label_len)
}

/// The borrowed inputs of a CTC call.
struct CtcArgs<'a> {
    ctc: crate::ctc::Ctc,
    acts: crate::ctc::Activations<'a>,
    labels: crate::ctc::Labels<'a>,
}

/// Builds the Rust view of a CTC call from C pointers.
///
/// # Safety
/// The pointers must be valid for the lengths the spec implies.
unsafe fn ctc_args<'a>(
    spec: *const LkCtc,
    acts: *const f32,
    input_lengths: *const u32,
    labels: *const u32,
    labels_len: usize,
    label_lengths: *const u32,
) -> Result<CtcArgs<'a>, Fail> {
    use crate::ctc::{Activations, Ctc, Input, Labels};
    // SAFETY: the caller guarantees the pointers and lengths.
    unsafe {
        let spec = spec.as_ref().ok_or(Fail::Status(LkStatus::NullPointer))?;
        let len = spec.t.saturating_mul(spec.n).saturating_mul(spec.c);
        let data = input(acts, len)?;
        let input_lengths = input(input_lengths, spec.n)?;
        let lengths = input(label_lengths, spec.n)?;
        let labels = input(labels, labels_len)?;
        let acts = match spec.batch_major {
            0 => Activations::time_major(data, spec.t, spec.n, spec.c, input_lengths),
            1 => Activations::batch_major(data, spec.n, spec.t, spec.c, input_lengths),
            _ => return Err(Fail::Status(LkStatus::InvalidEnum)),
        };
        let labels = match spec.max_label_len {
            0 => Labels::Concatenated { labels, lengths },
            max_len => Labels::Padded {
                labels,
                max_len,
                lengths,
            },
        };
        let ctc = match spec.blank {
            u32::MAX => Ctc::blank_last(),
            b => Ctc::new(b),
        };
        let ctc = ctc
            .input(match spec.log_probs {
                0 => Input::Logits,
                1 => Input::LogProbs,
                _ => return Err(Fail::Status(LkStatus::InvalidEnum)),
            })
            .zero_infinity(spec.zero_infinity != 0);
        Ok(CtcArgs { ctc, acts, labels })
    }
}

/// CTC loss of `reduction` (0 = sum, 1 = mean: PyTorch's mean of
/// `loss_i / max(label_len_i, 1)`) into `*out_value`, and its gradient
/// w.r.t. the activations (same layout, `t*n*c` values) into `grad` unless
/// it is null. `labels` holds `labels_len` values (padded `n × S` rows, or
/// concatenated when `max_label_len` is 0).
///
/// # Safety
/// `spec` and `out_value` must be valid; `acts` (and `grad` when not null)
/// for `t*n*c` values, `input_lengths` and `label_lengths` for `n`, `labels`
/// for `labels_len`, `workspace` for `workspace_len`; outputs must not alias
/// inputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_ctc_value_and_grad(
    spec: *const LkCtc,
    acts: *const f32,
    input_lengths: *const u32,
    labels: *const u32,
    labels_len: usize,
    label_lengths: *const u32,
    reduction_code: u32,
    workspace: *mut f32,
    workspace_len: usize,
    grad: *mut f32,
    out_value: *mut f32,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let a = ctc_args(spec, acts, input_lengths, labels, labels_len, label_lengths)?;
            let red = reduction(reduction_code)?;
            let ws = output(workspace, workspace_len).unwrap_or(&mut []);
            let value = match output(grad, a.acts.data.len()) {
                Some(g) => a.ctc.value_and_grad(&a.acts, &a.labels, red, ws, g)?,
                None => a.ctc.value(&a.acts, &a.labels, red, ws)?,
            };
            put(out_value, value);
            Ok(())
        })()
    })
}

/// Per-sequence CTC losses into `out` (`n` values), the gradient of their
/// sum into `grad` unless it is null, and the sum into `*out_sum` unless it
/// is null (0 when `grad` is null). Arguments as [`lk_ctc_value_and_grad`].
///
/// # Safety
/// As [`lk_ctc_value_and_grad`]; `out` must be valid for `n` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_ctc_per_sample(
    spec: *const LkCtc,
    acts: *const f32,
    input_lengths: *const u32,
    labels: *const u32,
    labels_len: usize,
    label_lengths: *const u32,
    workspace: *mut f32,
    workspace_len: usize,
    out: *mut f32,
    grad: *mut f32,
    out_sum: *mut f32,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let a = ctc_args(spec, acts, input_lengths, labels, labels_len, label_lengths)?;
            let ws = output(workspace, workspace_len).unwrap_or(&mut []);
            let out = output(out, a.acts.n).ok_or(Fail::Status(LkStatus::NullPointer))?;
            let sum = match output(grad, a.acts.data.len()) {
                Some(g) => a.ctc.per_sample_and_grad(&a.acts, &a.labels, ws, out, g)?,
                None => {
                    a.ctc.per_sample(&a.acts, &a.labels, ws, out)?;
                    0.0
                }
            };
            put(out_sum, sum);
            Ok(())
        })()
    })
}

/// Which entry point a row-family call maps to: a reduced value (with or
/// without gradient) or per-sample values (with or without the gradient of
/// their sum).
enum RowCall<'a> {
    Reduced(Reduction),
    PerSample(&'a mut [f32]),
}

/// Reads the `reduction_code` / `per_sample` pair of a row-family call.
///
/// # Safety
/// `per_sample` must be null or valid for `n` writes.
unsafe fn row_call<'a>(
    reduction_code: u32,
    per_sample: *mut f32,
    n: usize,
) -> Result<RowCall<'a>, Fail> {
    // SAFETY: forwarded contract.
    match unsafe { output(per_sample, n) } {
        Some(out) => Ok(RowCall::PerSample(out)),
        None => Ok(RowCall::Reduced(reduction(reduction_code)?)),
    }
}

/// Runs the entry point a row-family call asks for: `value_and_grad` or
/// `value` for a reduction, `per_sample_and_grad` or `per_sample` (whose
/// sum is returned) for per-sample outputs, depending on whether the
/// gradient outputs `grad` were given.
fn row_entry<G>(
    call: RowCall<'_>,
    grad: Option<G>,
    value_and_grad: impl FnOnce(Reduction, G) -> Result<f32, Error>,
    value: impl FnOnce(Reduction) -> Result<f32, Error>,
    per_sample_and_grad: impl FnOnce(&mut [f32], G) -> Result<f32, Error>,
    per_sample: impl FnOnce(&mut [f32]) -> Result<(), Error>,
) -> Result<f32, Fail> {
    Ok(match (call, grad) {
        (RowCall::Reduced(r), Some(g)) => value_and_grad(r, g)?,
        (RowCall::Reduced(r), None) => value(r)?,
        (RowCall::PerSample(o), Some(g)) => per_sample_and_grad(o, g)?,
        (RowCall::PerSample(o), None) => {
            per_sample(o)?;
            o.iter().sum()
        }
    })
}

/// Softmax cross-entropy options, as C passes them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LkSoftmaxCrossEntropy {
    /// Classes per row (at least 1).
    pub classes: usize,
    /// Label smoothing in `[0, 1]` (0 for none).
    pub label_smoothing: f32,
    /// Rows whose sparse label equals this are ignored; negative for none.
    pub ignore_index: i64,
    /// 0: rows are logits; 1: rows are log-probabilities.
    pub log_probs: u32,
}

/// Softmax cross-entropy over rows of `classes` values (`len` in all).
/// Labels: `sparse_labels` (`len / classes` class indices) or, if that is
/// null, `dense_labels` (`len` target weights). `class_weight` (`classes`)
/// and `sample_weight` (`len / classes`) may be null. If `per_sample` is not
/// null, the per-sample losses go there, `grad` (if not null) is the
/// gradient of their sum and `*out_value` their sum; otherwise `*out_value`
/// is the `reduction` (0 = sum, 1 = mean) and `grad` its gradient.
///
/// # Safety
/// Every non-null pointer must be valid for the length given above; outputs
/// must not alias inputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy(
    spec: *const LkSoftmaxCrossEntropy,
    logits: *const f32,
    len: usize,
    sparse_labels: *const u32,
    dense_labels: *const f32,
    class_weight: *const f32,
    sample_weight: *const f32,
    reduction_code: u32,
    per_sample: *mut f32,
    grad: *mut f32,
    out_value: *mut f32,
) -> LkStatus {
    use crate::softmax::{Input, Labels, SoftmaxCrossEntropy};
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let spec = spec.as_ref().ok_or(Fail::Status(LkStatus::NullPointer))?;
            let rows = len.checked_div(spec.classes).unwrap_or(0);
            let logits = input(logits, len)?;
            let labels = match optional(sparse_labels, rows) {
                Some(s) => Labels::Sparse(s),
                None => Labels::Dense(input(dense_labels, len)?),
            };
            let mut loss = SoftmaxCrossEntropy::new(spec.classes)?
                .label_smoothing(spec.label_smoothing)?
                .ignore_index(u32::try_from(spec.ignore_index).ok())
                .input(match spec.log_probs {
                    0 => Input::Logits,
                    1 => Input::LogProbs,
                    _ => return Err(Fail::Status(LkStatus::InvalidEnum)),
                });
            if let Some(c) = optional(class_weight, spec.classes) {
                loss = loss.class_weight(c);
            }
            if let Some(w) = optional(sample_weight, rows) {
                loss = loss.sample_weight(w);
            }
            let value = row_entry(
                row_call(reduction_code, per_sample, rows)?,
                output(grad, len),
                |r, g| loss.value_and_grad(logits, labels, r, g),
                |r| loss.value(logits, labels, r),
                |o, g| loss.per_sample_and_grad(logits, labels, o, g),
                |o| loss.per_sample(logits, labels, o),
            )?;
            put(out_value, value);
            Ok(())
        })()
    })
}

/// KL divergence over rows of `classes` values: `pred` (`len` values) holds
/// log-probabilities (`log_probs` = 1) or logits (0), `target` the
/// probabilities. Outputs as [`lk_softmax_cross_entropy`].
///
/// # Safety
/// As [`lk_softmax_cross_entropy`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_kl_divergence(
    classes: usize,
    log_probs: u32,
    pred: *const f32,
    target: *const f32,
    len: usize,
    sample_weight: *const f32,
    reduction_code: u32,
    per_sample: *mut f32,
    grad: *mut f32,
    out_value: *mut f32,
) -> LkStatus {
    use crate::softmax::{Input, KlDivergence};
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let rows = len.checked_div(classes).unwrap_or(0);
            let (pred, target) = (input(pred, len)?, input(target, len)?);
            let loss = KlDivergence::new(classes)?.input(match log_probs {
                0 => Input::Logits,
                1 => Input::LogProbs,
                _ => return Err(Fail::Status(LkStatus::InvalidEnum)),
            });
            let run = |loss: KlDivergence<'_>| -> Result<f32, Fail> {
                row_entry(
                    row_call(reduction_code, per_sample, rows)?,
                    output(grad, len),
                    |r, g| loss.value_and_grad(pred, target, r, g),
                    |r| loss.value(pred, target, r),
                    |o, g| loss.per_sample_and_grad(pred, target, o, g),
                    |o| loss.per_sample(pred, target, o),
                )
            };
            let value = match optional(sample_weight, rows) {
                Some(w) => run(loss.sample_weight(w))?,
                None => run(loss)?,
            };
            put(out_value, value);
            Ok(())
        })()
    })
}

/// Triplet loss over rows of `dim` values (`len` per input): `euclidean` = 0
/// for Gluon's squared distance, 1 for PyTorch's Euclidean distance. The
/// three gradient pointers are written when all are non-null. Outputs
/// otherwise as [`lk_softmax_cross_entropy`].
///
/// # Safety
/// As [`lk_softmax_cross_entropy`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_triplet(
    dim: usize,
    margin: f32,
    euclidean: u32,
    anchor: *const f32,
    positive: *const f32,
    negative: *const f32,
    len: usize,
    sample_weight: *const f32,
    reduction_code: u32,
    per_sample: *mut f32,
    grad_anchor: *mut f32,
    grad_positive: *mut f32,
    grad_negative: *mut f32,
    out_value: *mut f32,
) -> LkStatus {
    use crate::embedding::{Distance, Triplet, TripletGrads};
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let rows = len.checked_div(dim).unwrap_or(0);
            let (a, p, n) = (
                input(anchor, len)?,
                input(positive, len)?,
                input(negative, len)?,
            );
            let loss = Triplet::new(dim)?
                .margin(margin)?
                .distance(match euclidean {
                    0 => Distance::Squared,
                    1 => Distance::Euclidean,
                    _ => return Err(Fail::Status(LkStatus::InvalidEnum)),
                });
            let grads = match (
                output(grad_anchor, len),
                output(grad_positive, len),
                output(grad_negative, len),
            ) {
                (Some(anchor), Some(positive), Some(negative)) => Some(TripletGrads {
                    anchor,
                    positive,
                    negative,
                }),
                _ => None,
            };
            let run = |loss: Triplet<'_>| -> Result<f32, Fail> {
                row_entry(
                    row_call(reduction_code, per_sample, rows)?,
                    grads,
                    |r, g| loss.value_and_grad(a, p, n, r, g),
                    |r| loss.value(a, p, n, r),
                    |o, g| loss.per_sample_and_grad(a, p, n, o, g),
                    |o| loss.per_sample(a, p, n, o),
                )
            };
            let value = match optional(sample_weight, rows) {
                Some(w) => run(loss.sample_weight(w))?,
                None => run(loss)?,
            };
            put(out_value, value);
            Ok(())
        })()
    })
}

/// Cosine embedding loss over rows of `dim` values (`len` per input) with
/// `labels` (`len / dim` values, each +1 or -1). Both gradient pointers are
/// written when both are non-null. Outputs otherwise as
/// [`lk_softmax_cross_entropy`].
///
/// # Safety
/// As [`lk_softmax_cross_entropy`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_cosine_embedding(
    dim: usize,
    margin: f32,
    x1: *const f32,
    x2: *const f32,
    labels: *const f32,
    len: usize,
    sample_weight: *const f32,
    reduction_code: u32,
    per_sample: *mut f32,
    grad_x1: *mut f32,
    grad_x2: *mut f32,
    out_value: *mut f32,
) -> LkStatus {
    use crate::embedding::{CosineEmbedding, CosineGrads};
    // SAFETY: the caller upholds the pointer contracts documented above.
    status(unsafe {
        (|| {
            let rows = len.checked_div(dim).unwrap_or(0);
            let (x1, x2, labels) = (input(x1, len)?, input(x2, len)?, input(labels, rows)?);
            let loss = CosineEmbedding::new(dim)?.margin(margin)?;
            let grads = match (output(grad_x1, len), output(grad_x2, len)) {
                (Some(x1), Some(x2)) => Some(CosineGrads { x1, x2 }),
                _ => None,
            };
            let run = |loss: CosineEmbedding<'_>| -> Result<f32, Fail> {
                row_entry(
                    row_call(reduction_code, per_sample, rows)?,
                    grads,
                    |r, g| loss.value_and_grad(x1, x2, labels, r, g),
                    |r| loss.value(x1, x2, labels, r),
                    |o, g| loss.per_sample_and_grad(x1, x2, labels, o, g),
                    |o| loss.per_sample(x1, x2, labels, o),
                )
            };
            let value = match optional(sample_weight, rows) {
                Some(w) => run(loss.sample_weight(w))?,
                None => run(loss)?,
            };
            put(out_value, value);
            Ok(())
        })()
    })
}
