//! The row families: softmax cross-entropy, KL divergence, triplet and
//! cosine embedding. Each is one function whose `per_sample` pointer picks
//! per-sample values (not null) or the reduction `reduction_code` (null).

use super::{
    Call, Entries, LkStatus, argument, choice, dispatch, input, optional, output, put, rows_of,
    status,
};
use crate::Reduction;
use crate::embedding::{CosineEmbedding, CosineGrads, Distance, Triplet, TripletGrads};
use crate::error::Error;
use crate::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};

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
/// gradient of their sum and `*out_value` **their sum** (with or without
/// `grad`); otherwise `*out_value` is the `reduction` (0 = sum, 1 = mean)
/// and `grad` its gradient.
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    status(unsafe {
        (|| {
            let spec = argument(spec)?;
            let rows = rows_of(len, spec.classes);
            let logits = input(logits, len)?;
            let labels = match optional(sparse_labels, rows) {
                Some(s) => Labels::Sparse(s),
                None => Labels::Dense(input(dense_labels, len)?),
            };
            let mut loss = SoftmaxCrossEntropy::new(spec.classes)?
                .label_smoothing(spec.label_smoothing)?
                .ignore_index(u32::try_from(spec.ignore_index).ok())
                .input(choice(spec.log_probs, Input::Logits, Input::LogProbs)?);
            if let Some(c) = optional(class_weight, spec.classes) {
                loss = loss.class_weight(c);
            }
            if let Some(w) = optional(sample_weight, rows) {
                loss = loss.sample_weight(w);
            }
            let call = Call::from_code_or_out(reduction_code, per_sample, rows)?;
            let bound = SoftmaxCall {
                loss,
                logits,
                labels,
            };
            let value = dispatch(bound, call, output(grad, len))?;
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    status(unsafe {
        (|| {
            let rows = rows_of(len, classes);
            let (pred, target) = (input(pred, len)?, input(target, len)?);
            let loss = KlDivergence::new(classes)?.input(choice(
                log_probs,
                Input::Logits,
                Input::LogProbs,
            )?);
            let call = Call::from_code_or_out(reduction_code, per_sample, rows)?;
            let loss = match optional(sample_weight, rows) {
                Some(w) => loss.sample_weight(w),
                None => loss,
            };
            let bound = KlCall { loss, pred, target };
            let value = dispatch(bound, call, output(grad, len))?;
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    status(unsafe {
        (|| {
            let rows = rows_of(len, dim);
            let (a, p, n) = (
                input(anchor, len)?,
                input(positive, len)?,
                input(negative, len)?,
            );
            let loss = Triplet::new(dim)?.margin(margin)?.distance(choice(
                euclidean,
                Distance::Squared,
                Distance::Euclidean,
            )?);
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
            let call = Call::from_code_or_out(reduction_code, per_sample, rows)?;
            let loss = match optional(sample_weight, rows) {
                Some(w) => loss.sample_weight(w),
                None => loss,
            };
            let value = dispatch(TripletCall { loss, a, p, n }, call, grads)?;
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
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    status(unsafe {
        (|| {
            let rows = rows_of(len, dim);
            let (x1, x2, labels) = (input(x1, len)?, input(x2, len)?, input(labels, rows)?);
            let loss = CosineEmbedding::new(dim)?.margin(margin)?;
            let grads = match (output(grad_x1, len), output(grad_x2, len)) {
                (Some(x1), Some(x2)) => Some(CosineGrads { x1, x2 }),
                _ => None,
            };
            let call = Call::from_code_or_out(reduction_code, per_sample, rows)?;
            let loss = match optional(sample_weight, rows) {
                Some(w) => loss.sample_weight(w),
                None => loss,
            };
            let bound = CosineCall {
                loss,
                x1,
                x2,
                labels,
            };
            let value = dispatch(bound, call, grads)?;
            put(out_value, value);
            Ok(())
        })()
    })
}

/// Implements [`Entries`] for a row family bound to its inputs: the struct
/// holds `loss` and the named input fields, passed to each entry point in
/// that order.
macro_rules! row_entries {
    ($call:ident<$a:lifetime>, $loss:ty, [$($field:ident: $ty:ty),+], $grads:ty) => {
        /// A row-family loss bound to the inputs of a call.
        struct $call<$a> {
            loss: $loss,
            $($field: $ty,)+
        }

        impl<$a> Entries for $call<$a> {
            type Grads = $grads;
            fn value(self, r: Reduction) -> Result<f32, Error> {
                self.loss.value($(self.$field,)+ r)
            }
            fn value_and_grad(self, r: Reduction, g: Self::Grads) -> Result<f32, Error> {
                self.loss.value_and_grad($(self.$field,)+ r, g)
            }
            fn per_sample(self, out: &mut [f32]) -> Result<(), Error> {
                self.loss.per_sample($(self.$field,)+ out)
            }
            fn per_sample_and_grad(self, out: &mut [f32], g: Self::Grads) -> Result<f32, Error> {
                self.loss.per_sample_and_grad($(self.$field,)+ out, g)
            }
        }
    };
}

row_entries!(SoftmaxCall<'a>, SoftmaxCrossEntropy<'a>, [logits: &'a [f32], labels: Labels<'a>], &'a mut [f32]);
row_entries!(KlCall<'a>, KlDivergence<'a>, [pred: &'a [f32], target: &'a [f32]], &'a mut [f32]);
row_entries!(TripletCall<'a>, Triplet<'a>, [a: &'a [f32], p: &'a [f32], n: &'a [f32]], TripletGrads<'a>);
row_entries!(CosineCall<'a>, CosineEmbedding<'a>, [x1: &'a [f32], x2: &'a [f32], labels: &'a [f32]], CosineGrads<'a>);
