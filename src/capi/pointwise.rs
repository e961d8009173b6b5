//! The pointwise losses: one spec struct names the loss, two functions
//! (reduced and per-sample) run it.

use super::{
    BAD_ENUM, Call, Entries, Fail, LkStatus, argument, dispatch, input, optional, output, put,
    reduction, rows_of, status,
};
use crate::Reduction;
use crate::error::Error;
use crate::pointwise::{self, ElementLoss, Labels, Pointwise};

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

/// The borrowed arguments of a pointwise call.
struct Args<'a> {
    pred: &'a [f32],
    target: &'a [f32],
    sample_weight: Option<&'a [f32]>,
    grad: Option<&'a mut [f32]>,
}

impl<'a> Args<'a> {
    /// The Rust view of a call from C pointers (`len` values each; the
    /// sample weights `len / dim`).
    ///
    /// # Safety
    /// Every pointer must be null or valid for its length for `'a`; `grad`
    /// must not alias the inputs.
    unsafe fn new(
        spec: &LkPointwise,
        pred: *const f32,
        target: *const f32,
        len: usize,
        sample_weight: *const f32,
        grad: *mut f32,
    ) -> Result<Self, Fail> {
        // SAFETY: the caller's contract covers each pointer and length.
        unsafe {
            Ok(Args {
                pred: input(pred, len)?,
                target: input(target, len)?,
                sample_weight: optional(sample_weight, rows_of(len, spec.dim)),
                grad: output(grad, len),
            })
        }
    }
}

/// Runs the loss `spec` names on `args` as `call` asks.
fn run_kind(spec: &LkPointwise, args: Args<'_>, call: Call<'_>) -> Result<f32, Fail> {
    let p = spec.param;
    match spec.kind {
        0 => run(pointwise::L1::new(), spec, args, call),
        1 => run(pointwise::L2::new(), spec, args, call),
        2 => run(pointwise::Huber::new(p)?, spec, args, call),
        3 => run(pointwise::Hinge::new(p)?, spec, args, call),
        4 => run(pointwise::SquaredHinge::new(p)?, spec, args, call),
        5 => run(pointwise::Logistic::new(Labels::Signed), spec, args, call),
        6 => run(pointwise::Logistic::new(Labels::Binary), spec, args, call),
        7 => run(pointwise::SigmoidBce::new(p)?, spec, args, call),
        8 => run(pointwise::Bce::new(p)?, spec, args, call),
        9 => {
            let loss = pointwise::PoissonNll::new(spec.flags & 1 != 0, spec.flags & 2 != 0);
            run(loss, spec, args, call)
        }
        10 => run(pointwise::LogCosh::new(), spec, args, call),
        _ => Err(BAD_ENUM),
    }
}

/// Runs one pointwise loss through the [`dispatch`]er.
fn run<F: ElementLoss>(
    loss: Pointwise<'static, F>,
    spec: &LkPointwise,
    args: Args<'_>,
    call: Call<'_>,
) -> Result<f32, Fail> {
    let loss = loss.dim(spec.dim);
    let loss = match args.sample_weight {
        Some(w) => loss.sample_weight(w),
        None => loss,
    };
    let (pred, target) = (args.pred, args.target);
    dispatch(Bound { loss, pred, target }, call, args.grad)
}

/// A pointwise loss bound to the inputs of a call.
struct Bound<'a, F> {
    loss: Pointwise<'a, F>,
    pred: &'a [f32],
    target: &'a [f32],
}

impl<'a, F: ElementLoss> Entries for Bound<'a, F> {
    type Grads = &'a mut [f32];
    fn value(self, r: Reduction) -> Result<f32, Error> {
        self.loss.value(self.pred, self.target, r)
    }
    fn value_and_grad(self, r: Reduction, g: Self::Grads) -> Result<f32, Error> {
        self.loss.value_and_grad(self.pred, self.target, r, g)
    }
    fn per_sample(self, out: &mut [f32]) -> Result<(), Error> {
        self.loss.per_sample(self.pred, self.target, out)
    }
    fn per_sample_and_grad(self, out: &mut [f32], g: Self::Grads) -> Result<f32, Error> {
        self.loss
            .per_sample_and_grad(self.pred, self.target, out, g)
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of `argument`, `Args::new` and `put`.
    status(unsafe {
        (|| {
            let spec = argument(loss)?;
            let args = Args::new(spec, pred, target, len, sample_weight, grad)?;
            let value = run_kind(spec, args, Call::Reduced(reduction(reduction_code)?))?;
            put(out_value, value);
            Ok(())
        })()
    })
}

/// Per-sample pointwise losses into `out` (`len / dim` values), the
/// gradient of their sum into `grad` unless it is null, and **the sum of
/// the per-sample values** into `*out_sum` unless it is null, with or
/// without `grad`.
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of `argument`, `Args::new`, `output` and `put`.
    status(unsafe {
        (|| {
            let spec = argument(loss)?;
            let args = Args::new(spec, pred, target, len, sample_weight, grad)?;
            let out = output(out, rows_of(len, spec.dim)).ok_or(super::NULL)?;
            let sum = run_kind(spec, args, Call::PerSample(out))?;
            put(out_sum, sum);
            Ok(())
        })()
    })
}
