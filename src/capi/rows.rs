//! The row families: softmax cross-entropy, KL divergence, triplet and
//! cosine embedding. Each is one function whose `per_sample` pointer picks
//! per-sample values (not null) or the reduction `reduction_code` (null).

use super::{
    Call, Entries, LkErrorDetail, LkStatus, all_or_none, argument, choice, dispatch, finish, input,
    optional, output, put, rows_of, value_out,
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
    /// Label smoothing in [0, 1] (0 for none).
    pub label_smoothing: f32,
    /// Rows whose sparse label equals this are ignored; negative for none.
    pub ignore_index: i64,
    /// 0: rows are logits; 1: rows are log-probabilities.
    pub log_probs: u32,
}

/// Softmax cross-entropy over rows of spec->classes values (len in all).
/// Labels: sparse_labels (len / classes class indices) or, if that is
/// NULL, dense_labels (len target weights). class_weight (classes values)
/// and sample_weight (len / classes) may be NULL. If per_sample is not
/// NULL, the per-sample losses go there, grad (if not NULL) is the
/// gradient of their sum and *out_value their sum (with or without grad);
/// otherwise *out_value is the reduction (LK_REDUCTION_SUM, or
/// LK_REDUCTION_MEAN: divided by the sum of the class weights of the rows
/// not ignored) and grad its gradient. out_value is required.
///
/// # Safety
/// Every non-NULL pointer must be valid for the length given above;
/// outputs must not alias inputs; detail must be NULL or valid.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    unsafe {
        let r = (|| {
            let spec = argument("spec", spec)?;
            let out_value = value_out("out_value", out_value)?;
            let rows = rows_of(len, spec.classes);
            let logits = input("logits", logits, len)?;
            let labels = match optional(sparse_labels, rows) {
                Some(s) => Labels::Sparse(s),
                None => Labels::Dense(input("dense_labels", dense_labels, len)?),
            };
            let input_kind = choice(
                "spec.log_probs",
                spec.log_probs,
                Input::Logits,
                Input::LogProbs,
            )?;
            let mut loss = SoftmaxCrossEntropy::new(spec.classes)?
                .label_smoothing(spec.label_smoothing)?
                .ignore_index((spec.ignore_index >= 0).then_some(spec.ignore_index))
                .input(input_kind);
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
        })();
        finish(r, detail)
    }
}

/// KL divergence over rows of classes values: pred (len values) holds
/// log-probabilities (log_probs = 1) or logits (0), target the
/// probabilities. Outputs as lk_softmax_cross_entropy (LK_REDUCTION_MEAN
/// divides by the number of rows).
///
/// # Safety
/// As lk_softmax_cross_entropy.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    unsafe {
        let r = (|| {
            let out_value = value_out("out_value", out_value)?;
            let rows = rows_of(len, classes);
            let (pred, target) = (input("pred", pred, len)?, input("target", target, len)?);
            let input_kind = choice("log_probs", log_probs, Input::Logits, Input::LogProbs)?;
            let loss = KlDivergence::new(classes)?.input(input_kind);
            let call = Call::from_code_or_out(reduction_code, per_sample, rows)?;
            let loss = match optional(sample_weight, rows) {
                Some(w) => loss.sample_weight(w),
                None => loss,
            };
            let bound = KlCall { loss, pred, target };
            let value = dispatch(bound, call, output(grad, len))?;
            put(out_value, value);
            Ok(())
        })();
        finish(r, detail)
    }
}

/// Triplet loss over rows of dim values (len per input): euclidean = 0
/// for Gluon's squared distance, 1 for PyTorch's Euclidean distance. The
/// three gradient pointers are all given (the gradients are written) or
/// all NULL; a partial set is LK_STATUS_NULL_POINTER. Outputs otherwise as
/// lk_softmax_cross_entropy (LK_REDUCTION_MEAN divides by the number of
/// rows).
///
/// # Safety
/// As lk_softmax_cross_entropy.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    unsafe {
        let r = (|| {
            let out_value = value_out("out_value", out_value)?;
            let rows = rows_of(len, dim);
            let (a, p, n) = (
                input("anchor", anchor, len)?,
                input("positive", positive, len)?,
                input("negative", negative, len)?,
            );
            let distance = choice(
                "euclidean",
                euclidean,
                Distance::Squared,
                Distance::Euclidean,
            )?;
            let loss = Triplet::new(dim)?.margin(margin)?.distance(distance);
            let grads = all_or_none([
                ("grad_anchor", output(grad_anchor, len)),
                ("grad_positive", output(grad_positive, len)),
                ("grad_negative", output(grad_negative, len)),
            ])?
            .map(|[anchor, positive, negative]| TripletGrads {
                anchor,
                positive,
                negative,
            });
            let call = Call::from_code_or_out(reduction_code, per_sample, rows)?;
            let loss = match optional(sample_weight, rows) {
                Some(w) => loss.sample_weight(w),
                None => loss,
            };
            let value = dispatch(TripletCall { loss, a, p, n }, call, grads)?;
            put(out_value, value);
            Ok(())
        })();
        finish(r, detail)
    }
}

/// Cosine embedding loss over rows of dim values (len per input) with
/// labels (len / dim values, each +1 or -1). Both gradient pointers are
/// given (the gradients are written) or both NULL; only one is
/// LK_STATUS_NULL_POINTER. Outputs otherwise as lk_softmax_cross_entropy
/// (LK_REDUCTION_MEAN divides by the number of rows).
///
/// # Safety
/// As lk_softmax_cross_entropy.
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
    detail: *mut LkErrorDetail,
) -> LkStatus {
    // SAFETY: the caller upholds the pointer contracts documented above,
    // which are those of the helpers called here.
    unsafe {
        let r = (|| {
            let out_value = value_out("out_value", out_value)?;
            let rows = rows_of(len, dim);
            let (x1, x2, labels) = (
                input("x1", x1, len)?,
                input("x2", x2, len)?,
                input("labels", labels, rows)?,
            );
            let loss = CosineEmbedding::new(dim)?.margin(margin)?;
            let grads = all_or_none([
                ("grad_x1", output(grad_x1, len)),
                ("grad_x2", output(grad_x2, len)),
            ])?
            .map(|[x1, x2]| CosineGrads { x1, x2 });
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
        })();
        finish(r, detail)
    }
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
