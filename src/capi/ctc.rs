//! CTC: the spec of a batch, the workspace size, and the reduced and
//! per-sequence calls.

use super::{
    Call, Entries, Fail, LkErrorDetail, LkStatus, argument, choice, dispatch, finish, input,
    output, put, reduction, required, value_out,
};
use crate::Reduction;
use crate::ctc::{Activations, Ctc, Dims, Input, Labels};
use crate::error::Error;

/// A CTC loss and the shape of its batch, as C passes it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LkCtc {
    /// The blank class; LK_CTC_BLANK_LAST means the last class, C - 1.
    pub blank: u32,
    /// 0: the activations are logits (softmax inside); 1: log-probabilities.
    pub log_probs: u32,
    /// 0: time-major T x N x C; 1: batch-major N x T x C.
    pub batch_major: u32,
    /// 1: infinite (infeasible) losses become 0 with 0 gradient; 0: they
    /// stay +inf.
    pub zero_infinity: u32,
    /// Steps T.
    pub t: usize,
    /// Sequences N.
    pub n: usize,
    /// Classes C, blank included.
    pub c: usize,
    /// Padded labels: the row length S; 0 means the labels are
    /// concatenated (labels_len = the sum of the label lengths).
    pub max_label_len: usize,
}

/// LkCtc.blank: the last class, C - 1 (Gluon's blank_label='last').
pub const LK_CTC_BLANK_LAST: u32 = u32::MAX;

/// The float workspace a CTC call with a gradient needs for the longest
/// input length t and label length max_label_len of the batch.
#[unsafe(no_mangle)]
pub extern "C" fn lk_ctc_workspace_len(t: usize, max_label_len: usize) -> usize {
    crate::ctc::workspace_len(t, max_label_len)
}

/// The float workspace a CTC call without gradient (grad NULL) needs for
/// the longest label length max_label_len of the batch: much smaller than
/// lk_ctc_workspace_len, and independent of the input length.
#[unsafe(no_mangle)]
pub extern "C" fn lk_ctc_value_workspace_len(max_label_len: usize) -> usize {
    crate::ctc::value_workspace_len(max_label_len)
}

/// The borrowed arguments of a CTC call.
struct Args<'a> {
    ctc: Ctc,
    acts: Activations<'a>,
    labels: Labels<'a>,
    workspace: &'a mut [f32],
}

impl<'a> Args<'a> {
    /// The Rust view of a CTC call from C pointers, and its gradient
    /// output.
    ///
    /// # Safety
    /// Every pointer must be null or valid for the length the spec implies
    /// (`t*n*c` activations and gradient values, `n` input and label
    /// lengths, `labels_len` labels, `workspace_len` workspace values) for
    /// `'a`; the outputs must not alias the inputs or each other.
    #[allow(clippy::too_many_arguments)]
    unsafe fn new(
        spec: *const LkCtc,
        acts: *const f32,
        input_lengths: *const u32,
        labels: *const u32,
        labels_len: usize,
        label_lengths: *const u32,
        workspace: *mut f32,
        workspace_len: usize,
        grad: *mut f32,
    ) -> Result<(Self, Option<&'a mut [f32]>), Fail> {
        // SAFETY: the caller's contract covers each pointer and length.
        unsafe {
            let spec = argument("spec", spec)?;
            let len = spec.t.saturating_mul(spec.n).saturating_mul(spec.c);
            let data = input("acts", acts, len)?;
            let input_lengths = input("input_lengths", input_lengths, spec.n)?;
            let lengths = input("label_lengths", label_lengths, spec.n)?;
            let labels = input("labels", labels, labels_len)?;
            let dims = Dims {
                steps: spec.t,
                batch: spec.n,
                classes: spec.c,
            };
            let acts = match spec.batch_major {
                0 => Activations::time_major(data, dims, input_lengths),
                1 => Activations::batch_major(data, dims, input_lengths),
                other => return Err(Fail::BadEnum("spec.batch_major", other as usize)),
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
                LK_CTC_BLANK_LAST => Ctc::blank_last(),
                b => Ctc::new(b),
            };
            let input_kind = choice(
                "spec.log_probs",
                spec.log_probs,
                Input::Logits,
                Input::LogProbs,
            )?;
            let zero_infinity = choice("spec.zero_infinity", spec.zero_infinity, false, true)?;
            let ctc = ctc.input(input_kind).zero_infinity(zero_infinity);
            let args = Args {
                ctc,
                acts,
                labels,
                workspace: required("workspace", workspace, workspace_len)?,
            };
            Ok((args, output(grad, len)))
        }
    }
}

impl<'a> Entries for Args<'a> {
    type Grads = &'a mut [f32];
    fn value(self, r: Reduction) -> Result<f32, Error> {
        self.ctc.value(&self.acts, &self.labels, r, self.workspace)
    }
    fn value_and_grad(self, r: Reduction, g: Self::Grads) -> Result<f32, Error> {
        let ws = self.workspace;
        self.ctc.value_and_grad(&self.acts, &self.labels, r, ws, g)
    }
    fn per_sample(self, out: &mut [f32]) -> Result<(), Error> {
        let ws = self.workspace;
        self.ctc.per_sample(&self.acts, &self.labels, ws, out)
    }
    fn per_sample_and_grad(self, out: &mut [f32], g: Self::Grads) -> Result<f32, Error> {
        let ws = self.workspace;
        self.ctc
            .per_sample_and_grad(&self.acts, &self.labels, ws, out, g)
    }
}

/// CTC loss of the reduction (LK_REDUCTION_SUM, or LK_REDUCTION_MEAN:
/// PyTorch's mean of loss_i / max(label_len_i, 1)) into *out_value
/// (required), and its gradient with respect to the activations (same
/// layout, t*n*c values) into grad unless it is NULL. labels holds
/// labels_len values (padded n x S rows, or concatenated when
/// max_label_len is 0). The workspace holds at least
/// lk_ctc_workspace_len(longest input length, longest label length)
/// floats with a gradient, lk_ctc_value_workspace_len(longest label
/// length) without.
///
/// # Safety
/// spec and out_value must be valid; acts (and grad when not NULL) for
/// t*n*c values, input_lengths and label_lengths for n, labels for
/// labels_len, workspace for workspace_len; outputs must not alias inputs;
/// detail must be NULL or valid.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of `Args::new` and `put`.
    unsafe {
        let r = (|| {
            let out_value = value_out("out_value", out_value)?;
            let (args, grad) = Args::new(
                spec,
                acts,
                input_lengths,
                labels,
                labels_len,
                label_lengths,
                workspace,
                workspace_len,
                grad,
            )?;
            let value = dispatch(args, Call::Reduced(reduction(reduction_code)?), grad)?;
            put(out_value, value);
            Ok(())
        })();
        finish(r, detail)
    }
}

/// Per-sequence CTC losses into out (n values, required), the gradient of
/// their sum into grad unless it is NULL, and the sum of the per-sequence
/// values into *out_sum unless it is NULL, with or without grad.
/// Arguments as lk_ctc_value_and_grad.
///
/// # Safety
/// As lk_ctc_value_and_grad; out must be valid for n values.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of `Args::new`, `required` and `put`.
    unsafe {
        let r = (|| {
            let (args, grad) = Args::new(
                spec,
                acts,
                input_lengths,
                labels,
                labels_len,
                label_lengths,
                workspace,
                workspace_len,
                grad,
            )?;
            let out = required("out", out, args.acts.dims.batch)?;
            let sum = dispatch(args, Call::PerSample(out), grad)?;
            put(out_sum, sum);
            Ok(())
        })();
        finish(r, detail)
    }
}
