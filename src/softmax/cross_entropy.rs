//! [`SoftmaxCrossEntropy`]: the builder, its entry points and the
//! validation of a call into a [`Plan`].

use super::plan::{Plan, Targets, kind};
use super::targets::ClassLabels;
use super::{Input, Labels};
use crate::Reduction;
use crate::driver::{Outputs, Sum, reduction_scale};
use crate::error::{Bound, Domain, Error, check_len, check_param, const_try, rows};

/// Softmax cross-entropy over rows of `classes` logits; see the
/// [module docs](crate::softmax) for the math, the options and the `Mean` rule.
///
/// ```
/// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
/// use loss_kernels::Reduction;
/// let logits = [0.0, 0.0, 0.0, 5.0, 0.0, 0.0];
/// let class_weight = [1.0, 2.0, 1.0];
/// let mut grad = [0.0; 6];
/// let loss = SoftmaxCrossEntropy::new(3)?
///     .label_smoothing(0.1)?
///     .ignore_index(Some(7))
///     .class_weight(&class_weight)
///     .value_and_grad(&logits, Labels::Sparse(&[1, 7]), Reduction::Mean, &mut grad)?;
/// assert!(loss > 0.0 && grad[3..] == [0.0; 3]); // the second row is ignored
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxCrossEntropy<'w> {
    classes: usize,
    spatial: usize,
    smoothing: f32,
    ignore_index: Option<i64>,
    input: Input,
    class_weight: Option<&'w [f32]>,
    sample_weight: Option<&'w [f32]>,
}

impl SoftmaxCrossEntropy<'static> {
    /// Cross-entropy over rows of `classes` logits (at least 1), without
    /// smoothing, ignored label or weights.
    ///
    /// A `const fn`, as are the builders that take no parameter to check,
    /// so a configuration can be a `const` or a `static`:
    ///
    /// ```
    /// use loss_kernels::softmax::SoftmaxCrossEntropy;
    /// use loss_kernels::Error;
    /// const LOSS: Result<SoftmaxCrossEntropy<'static>, Error> = match SoftmaxCrossEntropy::new(10) {
    ///     Ok(loss) => Ok(loss.ignore_index(Some(255))),
    ///     Err(e) => Err(e),
    /// };
    /// assert!(LOSS.is_ok());
    /// assert!(SoftmaxCrossEntropy::new(0).is_err());
    /// ```
    pub const fn new(classes: usize) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::ZeroSize {
                argument: "classes",
            });
        }
        Ok(SoftmaxCrossEntropy {
            classes,
            spatial: 1,
            smoothing: 0.0,
            ignore_index: None,
            input: Input::Logits,
            class_weight: None,
            sample_weight: None,
        })
    }
}

impl<'w> SoftmaxCrossEntropy<'w> {
    /// The number of classes.
    ///
    /// ```
    /// use loss_kernels::softmax::SoftmaxCrossEntropy;
    /// assert_eq!(SoftmaxCrossEntropy::new(10)?.spatial(4)?.classes(), 10);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn classes(&self) -> usize {
        self.classes
    }

    /// The positions per sample of the strided class axis (1 in the row
    /// layout, see [`spatial`](Self::spatial)): a sample is
    /// `classes() · positions()` values and has `positions()` labels.
    ///
    /// ```
    /// use loss_kernels::softmax::SoftmaxCrossEntropy;
    /// assert_eq!(SoftmaxCrossEntropy::new(10)?.positions(), 1);
    /// assert_eq!(SoftmaxCrossEntropy::new(10)?.spatial(4)?.positions(), 4);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn positions(&self) -> usize {
        self.spatial
    }

    /// The sample weights set with [`sample_weight`](Self::sample_weight),
    /// if any.
    ///
    /// ```
    /// use loss_kernels::softmax::SoftmaxCrossEntropy;
    /// let w = [1.0, 2.0];
    /// assert_eq!(SoftmaxCrossEntropy::new(3)?.sample_weight(&w).sample_weights(), Some(&w[..]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn sample_weights(&self) -> Option<&'w [f32]> {
        self.sample_weight
    }

    /// Label smoothing `α` in `[0, 1]` (PyTorch semantics): a sparse target
    /// becomes `(1-α) onehot(y) + α/classes`, a dense target row `t`
    /// becomes `(1-α) t + α/classes` (then class weights apply, as in
    /// PyTorch).
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// assert!(SoftmaxCrossEntropy::new(3)?.label_smoothing(1.5).is_err());
    /// // Dense targets are smoothed too: one-hot [0, 1] at α = 0.5 is [0.25, 0.75].
    /// let ce = SoftmaxCrossEntropy::new(2)?.label_smoothing(0.5)?;
    /// let dense = ce.value(&[0.0, 0.0], Labels::Dense(&[0.0, 1.0]), Reduction::Sum)?;
    /// let sparse = ce.value(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum)?;
    /// assert_eq!(dense, sparse);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn label_smoothing(self, alpha: f32) -> Result<Self, Error> {
        let smoothing = const_try!(check_param("label_smoothing", alpha, Domain::UnitInterval));
        Ok(SoftmaxCrossEntropy { smoothing, ..self })
    }

    /// Rows whose sparse label equals `index` contribute 0 loss and 0
    /// gradient and do not count in `Mean`; `index` may be `>= classes` or
    /// negative (PyTorch's default is `Some(-100)`, with
    /// [`Labels::SparseI64`]; the crate's default is `None`).
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let ce = SoftmaxCrossEntropy::new(2)?.ignore_index(Some(-100));
    /// let labels: [i64; 2] = [1, -100]; // a PyTorch int64 target, as it is
    /// let v = ce.value(&[0.0, 0.0, 5.0, 1.0], Labels::SparseI64(&labels), Reduction::Mean)?;
    /// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[must_use]
    pub const fn ignore_index(self, index: Option<i64>) -> Self {
        SoftmaxCrossEntropy {
            ignore_index: index,
            ..self
        }
    }

    /// A strided class axis of `positions` per sample (PyTorch's
    /// K-dimensional `cross_entropy`, e.g. segmentation logits
    /// `N × C × H × W` with `positions = H W`): the logits are laid out
    /// `n × classes × positions`, class `k` of position `s` of sample `i` at
    /// `(i classes + k) positions + s`; sparse labels, sample weights and
    /// the per-sample output hold one value per position (`n × positions`),
    /// dense targets and the gradient the logits' layout. Every option
    /// applies as in the row form, a position taking the place of a row
    /// (`Mean` divides by `Σ c[y]` over the positions not ignored). The
    /// default, 1, is the row form.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// // one sample, 2 classes, 3 positions: class 0 of the positions, then class 1
    /// let logits = [0.0, 5.0, 0.0, 0.0, 0.0, 5.0];
    /// let mut per_position = [0.0; 3];
    /// SoftmaxCrossEntropy::new(2)?
    ///     .spatial(3)?
    ///     .per_sample(&logits, Labels::Sparse(&[1, 0, 1]), &mut per_position)?;
    /// assert!((per_position[0] - core::f32::consts::LN_2).abs() < 1e-7);
    /// assert!(per_position[1] < 0.01 && per_position[2] < 0.01);
    /// assert!(SoftmaxCrossEntropy::new(2)?.spatial(0).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub const fn spatial(self, positions: usize) -> Result<Self, Error> {
        if positions == 0 {
            return Err(Error::ZeroSize {
                argument: "positions",
            });
        }
        Ok(SoftmaxCrossEntropy {
            spatial: positions,
            ..self
        })
    }

    /// Whether the rows are logits (default) or log-probabilities.
    #[must_use]
    pub const fn input(self, input: Input) -> Self {
        SoftmaxCrossEntropy { input, ..self }
    }

    /// Per-class weights (length `classes`, checked at the call).
    #[must_use]
    pub const fn class_weight<'v>(self, weight: &'v [f32]) -> SoftmaxCrossEntropy<'v>
    where
        'w: 'v,
    {
        SoftmaxCrossEntropy {
            class_weight: Some(weight),
            ..self
        }
    }

    /// Per-sample weights (one per row, checked at the call); they scale
    /// each row's loss and gradient, not the `Mean` denominator.
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> SoftmaxCrossEntropy<'v>
    where
        'w: 'v,
    {
        SoftmaxCrossEntropy {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let v = SoftmaxCrossEntropy::new(2)?.value(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum)?;
    /// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
    ) -> Result<f32, Error> {
        let plan = self.plan(logits, labels, reduction)?;
        Ok(self.dispatch::<false, false>(plan, &labels, logits, Outputs::none()))
    }

    /// The reduced loss and, in the same pass, its gradient w.r.t. the
    /// logits written into `grad` (the logits' length).
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let mut grad = [0.0; 2];
    /// SoftmaxCrossEntropy::new(2)?
    ///     .value_and_grad(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum, &mut grad)?;
    /// assert_eq!(grad, [0.5, -0.5]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<false>(logits, labels, reduction, 1.0, grad)
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. the logits
    /// **added** to `grad` (the logits' length) in the same pass:
    /// `grad += scale · ∂L/∂logits`. `scale` (finite) weights the gradient
    /// only, never the value returned.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let ce = SoftmaxCrossEntropy::new(2)?;
    /// let mut grad = [1.0, 1.0];
    /// let v = ce.value_and_accumulate_grad(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum, 2.0, &mut grad)?;
    /// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
    /// assert_eq!(grad, [1.0 + 2.0 * 0.5, 1.0 - 2.0 * 0.5]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_accumulate_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<true>(logits, labels, reduction, scale, grad)
    }

    /// The reduced loss, and `scale ·` its gradient w.r.t. the logits
    /// **written** into `grad` (the logits' length) in the same pass:
    /// `grad = scale · ∂L/∂logits`, the value returned unscaled. A weighted
    /// term without a second pass over `grad`; and a shard of a batch whose
    /// `Mean` is the whole batch's: with `Sum` and `scale = 1 / d` (`d` the
    /// whole batch's [`mean_denominator`](Self::mean_denominator)) the
    /// shard's part of the whole batch's `Mean` gradient, the same bits as
    /// that call writes.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// use loss_kernels::Reduction;
    /// let mut grad = [f32::NAN; 2];
    /// let ce = SoftmaxCrossEntropy::new(2)?;
    /// let v = ce.value_and_scaled_grad(&[0.0, 0.0], Labels::Sparse(&[1]), Reduction::Sum, 2.0, &mut grad)?;
    /// assert!((v - core::f32::consts::LN_2).abs() < 1e-7);
    /// assert_eq!(grad, [2.0 * 0.5, -2.0 * 0.5]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn value_and_scaled_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.with_scale::<false>(logits, labels, reduction, scale, grad)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    #[inline(always)]
    fn with_scale<const ACC: bool>(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        scale: f32,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, logits.len())?;
        let scale = check_param("scale", scale, Domain::Finite)?;
        let plan = self.plan(logits, labels, reduction)?;
        let out = Outputs::scaled(grad, scale);
        Ok(self.dispatch::<true, ACC>(plan, &labels, logits, out))
    }

    /// The `Mean` denominator of a batch: `Σ c[y_i]` over the rows not
    /// ignored for sparse labels (their number without class weights), the
    /// number of rows for dense ones (the [module docs](crate::softmax)'
    /// rule). Shards of a batch combine with it, within rounding: `Mean = Σ_k (d_k /
    /// d) Mean_k` over shards with denominators `d_k` summing to `d`, and
    /// the factors `d_k / d` as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad) give
    /// the whole batch's gradient. (A shard whose rows are all ignored has
    /// `d_k = 0` and `Mean_k = 0`.)
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let ce = SoftmaxCrossEntropy::new(2)?.ignore_index(Some(9)).class_weight(&[1.0, 3.0]);
    /// let d = ce.mean_denominator(&[0.0; 6], Labels::Sparse(&[1, 9, 0]))?;
    /// assert_eq!(d, 3.0 + 1.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, logits: &[f32], labels: Labels<'_>) -> Result<f32, Error> {
        self.validate(logits, labels)
            .map(|(_, _, denominator)| denominator)
    }

    /// The per-sample losses (sample-weighted, not divided by any
    /// denominator) into `out`, one per row.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let mut out = [0.0; 2];
    /// SoftmaxCrossEntropy::new(1)?.per_sample(&[3.0, -2.0], Labels::Sparse(&[0, 0]), &mut out)?;
    /// assert_eq!(out, [0.0, 0.0]); // one class: probability 1
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn per_sample(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let plan = self.plan(logits, labels, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        self.dispatch::<false, false>(plan, &labels, logits, Outputs::values(out));
        Ok(())
    }

    /// The per-sample losses into `out` and the gradient of their sum into
    /// `grad`, in one pass; returns the sum.
    ///
    /// ```
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let (mut out, mut grad) = ([0.0; 1], [0.0; 2]);
    /// let sum = SoftmaxCrossEntropy::new(2)?
    ///     .per_sample_and_grad(&[0.0, 0.0], Labels::Dense(&[0.5, 0.5]), &mut out, &mut grad)?;
    /// assert!((sum - core::f32::consts::LN_2).abs() < 1e-7 && grad == [0.0, 0.0]);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    #[inline(always)]
    pub fn per_sample_and_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        out: &mut [f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("grad", grad, logits.len())?;
        let plan = self.plan(logits, labels, Reduction::Sum)?;
        check_len("out", out, plan.rows)?;
        let out = Outputs::both(grad, out);
        Ok(self.dispatch::<true, false>(plan, &labels, logits, out))
    }

    /// Runs a validated `plan` with the kernel of these options and the
    /// kind of `labels` ([`kind`]). Inlined with the entry points, so a
    /// caller whose options are known links that kernel only.
    #[inline(always)]
    fn dispatch<'a, const GRAD: bool, const ACC: bool>(
        &self,
        plan: Plan<'a>,
        labels: &Labels<'_>,
        logits: &'a [f32],
        out: Outputs<'a>,
    ) -> f32 {
        let weighted = self.class_weight.is_some();
        let kernel = match labels {
            // The one-hot kernel exactly where the smoothed one would
            // spread nothing (`α / C = 0`).
            Labels::Sparse(_) | Labels::SparseI64(_)
                if self.smoothing / self.classes as f32 == 0.0 =>
            {
                kind::ONE_HOT
            }
            Labels::Sparse(_) | Labels::SparseI64(_) if weighted => kind::SMOOTHED_WEIGHTED,
            Labels::Sparse(_) | Labels::SparseI64(_) => kind::SMOOTHED,
            Labels::Dense(_) if weighted => kind::DENSE_WEIGHTED,
            Labels::Dense(_) => kind::DENSE,
        };
        plan.dispatch::<GRAD, ACC>(kernel, self.input, logits, out)
    }

    /// Validates every argument once into a [`Plan`].
    fn plan<'a>(
        &'a self,
        logits: &[f32],
        labels: Labels<'a>,
        reduction: Reduction,
    ) -> Result<Plan<'a>, Error> {
        let (n, targets, denominator) = self.validate(logits, labels)?;
        Ok(Plan {
            classes: self.classes,
            rows: n,
            spatial: self.spatial,
            input: self.input,
            sample_weight: self.sample_weight,
            grad_scale: reduction_scale(reduction, denominator),
            targets,
        })
    }

    /// Validates every argument once: the number of rows, the targets and
    /// the `Mean` denominator (for sparse labels `Σ c[y_i]` over the rows
    /// not ignored, summed here).
    fn validate<'a>(
        &'a self,
        logits: &[f32],
        labels: Labels<'a>,
    ) -> Result<(usize, Targets<'a>, f32), Error> {
        let classes = self.classes;
        let spatial = self.spatial;
        // `classes × positions` values per sample (rows of `classes` in the
        // row form).
        let width = classes
            .checked_mul(spatial)
            .ok_or(Error::InvalidParameter {
                argument: "positions",
                expected: "such that classes × positions fits in usize",
            })?;
        let n = rows("logits", "classes", logits.len(), width)?
            .checked_mul(spatial)
            .unwrap_or(0);
        if let Some(c) = self.class_weight {
            check_len("class_weight", c, classes)?;
        }
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        let (targets, denominator) = match labels {
            Labels::Sparse(y) => self.sparse_targets(ClassLabels::U32(y), n)?,
            Labels::SparseI64(y) => self.sparse_targets(ClassLabels::I64(y), n)?,
            Labels::Dense(t) => {
                check_len("labels", t, logits.len())?;
                let targets = Targets::Dense {
                    target: t,
                    class_weight: self.class_weight,
                    smoothing: self.smoothing,
                };
                (targets, n as f32)
            }
        };
        Ok((n, targets, denominator))
    }

    /// The targets of `n` sparse labels `y`, after checking every label
    /// (`0 <= y < classes`, or the ignored index), and the `Mean`
    /// denominator `Σ c[y_i]` over the rows not ignored. A negative label
    /// that is not ignored is reported as [`Error::OutOfRange`] with
    /// `value: usize::MAX`.
    fn sparse_targets<'a>(
        &'a self,
        y: ClassLabels<'a>,
        n: usize,
    ) -> Result<(Targets<'a>, f32), Error> {
        if y.len() != n {
            return Err(Error::LengthMismatch {
                argument: "labels",
                expected: n,
                found: y.len(),
            });
        }
        let classes = self.classes;
        let mut den = Sum::default();
        for index in 0..y.len() {
            let Some(label) = y.get(index) else { break };
            if Some(label) == self.ignore_index {
                continue;
            }
            let k = usize::try_from(label).unwrap_or(usize::MAX);
            if k >= classes {
                return Err(Error::OutOfRange {
                    argument: "labels",
                    index: Some(index),
                    value: k,
                    bound: Bound::Classes(classes),
                });
            }
            den.add(
                self.class_weight
                    .and_then(|c| c.get(k).copied())
                    .unwrap_or(1.0),
            );
        }
        let targets = Targets::Sparse {
            labels: y,
            ignore_index: self.ignore_index,
            smoothing: self.smoothing,
            class_weight: self.class_weight,
        };
        Ok((targets, den.total()))
    }
}
