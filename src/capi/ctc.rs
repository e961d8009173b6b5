//! CTC: the spec of a batch, the workspace size, and the reduced and
//! per-sequence calls.

use super::{
    Call, Entries, Fail, LkStatus, NULL, argument, choice, dispatch, input, output, put, reduction,
    status,
};
use crate::Reduction;
use crate::ctc::{Activations, Ctc, Dims, Input, Labels};
use crate::error::Error;

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
            let spec = argument(spec)?;
            let len = spec.t.saturating_mul(spec.n).saturating_mul(spec.c);
            let data = input(acts, len)?;
            let input_lengths = input(input_lengths, spec.n)?;
            let lengths = input(label_lengths, spec.n)?;
            let labels = input(labels, labels_len)?;
            let dims = Dims {
                steps: spec.t,
                batch: spec.n,
                classes: spec.c,
            };
            let acts = match spec.batch_major {
                0 => Activations::time_major(data, dims, input_lengths),
                1 => Activations::batch_major(data, dims, input_lengths),
                _ => return Err(super::BAD_ENUM),
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
                .input(choice(spec.log_probs, Input::Logits, Input::LogProbs)?)
                .zero_infinity(spec.zero_infinity != 0);
            let args = Args {
                ctc,
                acts,
                labels,
                workspace: output(workspace, workspace_len).unwrap_or(&mut []),
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of `Args::new` and `put`.
    status(unsafe {
        (|| {
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
        })()
    })
}

/// Per-sequence CTC losses into `out` (`n` values), the gradient of their
/// sum into `grad` unless it is null, and **the sum of the per-sequence
/// values** into `*out_sum` unless it is null, with or without `grad`.
/// Arguments as [`lk_ctc_value_and_grad`].
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of `Args::new`, `output` and `put`.
    status(unsafe {
        (|| {
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
            let out = output(out, args.acts.dims.batch).ok_or(NULL)?;
            let sum = dispatch(args, Call::PerSample(out), grad)?;
            put(out_sum, sum);
            Ok(())
        })()
    })
}
