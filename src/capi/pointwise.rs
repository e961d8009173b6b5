//! The pointwise losses: one spec struct names the loss, two functions
//! (reduced and per-sample) run it.

use super::{
    Call, Entries, Fail, LkErrorDetail, LkStatus, argument, dispatch, finish, input, optional,
    output, put, reduction, required, rows_of, value_out,
};
use crate::Reduction;
use crate::error::Error;
use crate::pointwise::{self, ElementLoss, Labels, Pointwise};

/// The pointwise losses: the values of LkPointwise.kind.
pub type LkPointwiseKind = u32;

/// abs(p - t).
pub const LK_POINTWISE_KIND_L1: LkPointwiseKind = 0;
/// (p - t)^2 / 2.
pub const LK_POINTWISE_KIND_L2: LkPointwiseKind = 1;
/// Huber with param = rho (> 0, a normal number).
pub const LK_POINTWISE_KIND_HUBER: LkPointwiseKind = 2;
/// Hinge with param = margin (finite).
pub const LK_POINTWISE_KIND_HINGE: LkPointwiseKind = 3;
/// Squared hinge with param = margin (finite).
pub const LK_POINTWISE_KIND_SQUARED_HINGE: LkPointwiseKind = 4;
/// Logistic with signed labels (t in {-1, +1}).
pub const LK_POINTWISE_KIND_LOGISTIC_SIGNED: LkPointwiseKind = 5;
/// Logistic with binary labels (t in {0, 1}).
pub const LK_POINTWISE_KIND_LOGISTIC_BINARY: LkPointwiseKind = 6;
/// Sigmoid BCE on logits with param = pos_weight (>= 0).
pub const LK_POINTWISE_KIND_SIGMOID_BCE: LkPointwiseKind = 7;
/// BCE on probabilities with param = pos_weight (>= 0).
pub const LK_POINTWISE_KIND_BCE: LkPointwiseKind = 8;
/// Poisson NLL; flags: LK_POISSON_LOG_INPUT, LK_POISSON_FULL.
pub const LK_POINTWISE_KIND_POISSON_NLL: LkPointwiseKind = 9;
/// ln cosh(p - t).
pub const LK_POINTWISE_KIND_LOG_COSH: LkPointwiseKind = 10;

/// Poisson NLL flag: the predictions are ln(lambda) (PyTorch's default).
pub const LK_POISSON_LOG_INPUT: u32 = 1;
/// Poisson NLL flag: add the Stirling term where t > 1.
pub const LK_POISSON_FULL: u32 = 2;

/// A pointwise loss and its parameters, as C passes it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LkPointwise {
    /// Which loss: an LK_POINTWISE_KIND_ value.
    pub kind: LkPointwiseKind,
    /// rho, margin or pos_weight, as the kind says (ignored by the others).
    pub param: f32,
    /// Poisson NLL: LK_POISSON_LOG_INPUT and LK_POISSON_FULL or-ed
    /// together; 0 for every other kind (another bit is
    /// LK_STATUS_INVALID_ENUM).
    pub flags: u32,
    /// Values per sample (dim, at least 1).
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
                pred: input("pred", pred, len)?,
                target: input("target", target, len)?,
                sample_weight: optional(sample_weight, rows_of(len, spec.dim)),
                grad: output(grad, len),
            })
        }
    }
}

/// Runs the loss `spec` names on `args` as `call` asks.
fn run_kind(spec: &LkPointwise, args: Args<'_>, call: Call<'_>) -> Result<f32, Fail> {
    let p = spec.param;
    let defined_flags = match spec.kind {
        LK_POINTWISE_KIND_POISSON_NLL => LK_POISSON_LOG_INPUT | LK_POISSON_FULL,
        _ => 0,
    };
    if spec.flags & !defined_flags != 0 {
        return Err(Fail::BadEnum("loss.flags", spec.flags as usize));
    }
    match spec.kind {
        LK_POINTWISE_KIND_L1 => run(pointwise::L1::new(), spec, args, call),
        LK_POINTWISE_KIND_L2 => run(pointwise::L2::new(), spec, args, call),
        LK_POINTWISE_KIND_HUBER => run(pointwise::Huber::new(p)?, spec, args, call),
        LK_POINTWISE_KIND_HINGE => run(pointwise::Hinge::new(p)?, spec, args, call),
        LK_POINTWISE_KIND_SQUARED_HINGE => run(pointwise::SquaredHinge::new(p)?, spec, args, call),
        LK_POINTWISE_KIND_LOGISTIC_SIGNED => {
            run(pointwise::Logistic::new(Labels::Signed), spec, args, call)
        }
        LK_POINTWISE_KIND_LOGISTIC_BINARY => {
            run(pointwise::Logistic::new(Labels::Binary), spec, args, call)
        }
        LK_POINTWISE_KIND_SIGMOID_BCE => run(pointwise::SigmoidBce::new(p)?, spec, args, call),
        LK_POINTWISE_KIND_BCE => run(pointwise::Bce::new(p)?, spec, args, call),
        LK_POINTWISE_KIND_POISSON_NLL => {
            let log_input = spec.flags & LK_POISSON_LOG_INPUT != 0;
            let full = spec.flags & LK_POISSON_FULL != 0;
            run(
                pointwise::PoissonNll::new(log_input, full),
                spec,
                args,
                call,
            )
        }
        LK_POINTWISE_KIND_LOG_COSH => run(pointwise::LogCosh::new(), spec, args, call),
        kind => Err(Fail::BadEnum("loss.kind", kind as usize)),
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

/// Reduced pointwise loss (reduction_code: LK_REDUCTION_SUM or
/// LK_REDUCTION_MEAN) into *out_value (required), and its gradient with
/// respect to pred into grad (len values) unless grad is NULL.
/// sample_weight (len / dim values) may be NULL.
///
/// # Safety
/// loss and out_value must be valid; pred, target (and grad, sample_weight
/// when not NULL) must be valid for len (resp. len / dim) values; grad must
/// not alias the inputs; detail must be NULL or valid.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    unsafe {
        let r = (|| {
            let spec = argument("loss", loss)?;
            let out_value = value_out("out_value", out_value)?;
            let args = Args::new(spec, pred, target, len, sample_weight, grad)?;
            let value = run_kind(spec, args, Call::Reduced(reduction(reduction_code)?))?;
            put(out_value, value);
            Ok(())
        })();
        finish(r, detail)
    }
}

/// Per-sample pointwise losses into out (len / dim values, required), the
/// gradient of their sum into grad unless it is NULL, and the sum of the
/// per-sample values into *out_sum unless it is NULL, with or without
/// grad.
///
/// # Safety
/// As lk_pointwise_value_and_grad; out must be valid for len / dim values.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    unsafe {
        let r = (|| {
            let spec = argument("loss", loss)?;
            let args = Args::new(spec, pred, target, len, sample_weight, grad)?;
            let out = required("out", out, rows_of(len, spec.dim))?;
            let sum = run_kind(spec, args, Call::PerSample(out))?;
            put(out_sum, sum);
            Ok(())
        })();
        finish(r, detail)
    }
}
