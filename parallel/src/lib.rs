//! Threads for [`loss_kernels`] (a companion crate: it needs `std` and
//! allocates, the loss crate itself is `no_std` and never allocates):
//! `par_*` calls that split a batch into whole rows, samples or sequences,
//! run the sequential kernels on the shards with [`rayon`], and combine the
//! values. The calls are methods of extension traits ([`ParCrossEntropy`],
//! [`ParPointwise`], [`ParCtc`]) and two functions ([`par_log_softmax`],
//! [`par_softmax`]).
//!
//! A parallel call is the composition of the loss crate's shards: each
//! shard runs a sequential call on its own slices (the gradient is split
//! with `split_at_mut`, so each thread owns its part), and its gradient is
//! written already scaled for the whole batch, in the same pass
//! (`value_and_scaled_grad`). A cross-entropy or pointwise shard runs with
//! `Sum` and the factor the single call puts on its gradient (`1 / d` for
//! `Mean`, `d` the whole batch's `mean_denominator`), and `Mean = (Σ_k
//! Sum_k) / d`; a CTC shard (whose `Mean` also divides each sequence by its
//! label length) runs with `Mean` and the factor `d_k / d`, and `Mean = Σ_k
//! (d_k / d) Mean_k`. The values are added in `f64` and rounded once.
//!
//! **What matches the sequential call.** Per-row math does not depend on
//! the shard a row lands in (rows of at most 32 classes split on
//! multiples of 16 rows, the widest lane, so their transposed blocks are
//! the same), so:
//! * row functions ([`par_log_softmax`], [`par_softmax`]): **bit-identical**;
//! * cross-entropy gradients (`Sum` and `Mean`), pointwise gradients for
//!   samples of one value, and every `Sum` gradient: **bit-identical**
//!   (each value gets the single call's factor);
//! * values, a pointwise `Mean` gradient over samples of several values
//!   (`(1 / dim) (1 / n)` for `(1 / n) / dim`) and a CTC `Mean` gradient
//!   (`(1 / (d_k len)) (d_k / d)` for `1 / (d len)`): within rounding (the
//!   shards' totals are added in another order, and those factors round
//!   differently).
//!
//! **Threshold.** Below [`MIN_VALUES`] values (logits, predictions,
//! activations) a `par_*` call is the sequential call, on the calling
//! thread, and so bit-identical to it.
//!
//! **Allocation.** The loss crate never allocates; this crate does: the CTC calls allocate one workspace per shard
//! ([`workspace_len`](loss_kernels::ctc::workspace_len) of the shard's longest
//! input and label), and a time-major CTC gradient one gradient buffer per
//! thread (time-major sequences interleave in memory, so a thread cannot own
//! a contiguous part of the caller's gradient: each writes its own buffer
//! in place, through the [range view](loss_kernels::ctc::Activations::sequences),
//! and the rows are gathered into the caller's gradient by step).
//!
//! ```
//! use loss_kernels::Reduction;
//! use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
//! use loss_kernels_rayon::ParCrossEntropy;
//! let (rows, classes) = (512, 300);
//! let logits: Vec<f32> = (0..rows * classes).map(|i| (i % 7) as f32).collect();
//! let labels: Vec<u32> = (0..rows as u32).map(|i| i % 300).collect();
//! let ce = SoftmaxCrossEntropy::new(classes)?;
//! let (mut g1, mut g2) = (vec![0.0; logits.len()], vec![0.0; logits.len()]);
//! let one = ce.value_and_grad(&logits, Labels::Sparse(&labels), Reduction::Sum, &mut g1)?;
//! let par = ce.par_value_and_grad(&logits, Labels::Sparse(&labels), Reduction::Sum, &mut g2)?;
//! assert!((one - par).abs() <= 1e-6 * one.abs());
//! assert_eq!(g1, g2); // Sum gradients are bit-identical
//! # Ok::<(), loss_kernels::Error>(())
//! ```
//!
//! The README's example:
//!
//! ```
//! use loss_kernels::Reduction;
//! use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
//! use loss_kernels_rayon::ParCrossEntropy;
//! let (rows, classes) = (1024, 1000);
//! let logits = vec![0.0; rows * classes];
//! let labels = vec![7u32; rows];
//! let mut grad = vec![0.0; logits.len()];
//! let ce = SoftmaxCrossEntropy::new(classes)?;
//! let v = ce.par_value_and_grad(&logits, Labels::Sparse(&labels), Reduction::Mean, &mut grad)?;
//! assert!((v - (classes as f32).ln()).abs() < 1e-4);
//! # Ok::<(), loss_kernels::Error>(())
//! ```

use loss_kernels::ctc::{self, Activations, Ctc, Layout};
use loss_kernels::pointwise::{ElementLoss, Pointwise};
use loss_kernels::softmax::{self, Labels, SoftmaxCrossEntropy};
use loss_kernels::{Error, Reduction};
use rayon::prelude::*;

/// Checks that `slice` has length `expected` (the loss crate's rule).
fn check_len<T>(argument: &'static str, slice: &[T], expected: usize) -> Result<(), Error> {
    if slice.len() == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            argument,
            expected,
            found: slice.len(),
        })
    }
}

/// Below this many values in a batch, a `par_*` call runs the sequential
/// call on the calling thread.
pub const MIN_VALUES: usize = 1 << 16;

/// The values a leaf shard holds (about 256 KiB of logits or
/// predictions): enough leaves for the threads to balance, few enough that
/// a leaf's fixed cost (dispatch, checks) does not count.
const LEAF_VALUES: usize = 1 << 16;

/// Shard boundaries fall on multiples of this many rows (the widest lane)
/// where rows of few classes run in transposed blocks of lanes.
const ALIGN: usize = 16;

/// A part of a batch that splits on whole units (rows, samples, sequences).
trait Shard: Sized + Send {
    /// Splits fall on multiples of this many units.
    fn align(&self) -> usize {
        ALIGN
    }
    /// The number of units.
    fn units(&self) -> usize;
    /// The first `at` units, and the rest (`at < units()`; the slices of
    /// an inconsistent batch are cut where they can be, and the shards'
    /// calls report it).
    fn split(self, at: usize) -> Result<(Self, Self), Error>;
}

/// Runs `leaf` on shards of at most `leaf_units` units (unless a split
/// falls short), in parallel, and adds their results.
fn run<S: Shard, F: Fn(S) -> Result<f64, Error> + Sync>(
    shard: S,
    leaf_units: usize,
    leaf: &F,
) -> Result<f64, Error> {
    let n = shard.units();
    let align = shard.align().max(1);
    let half = (n / 2).div_ceil(align) * align;
    if n <= leaf_units.max(1) || half == 0 || half >= n {
        return leaf(shard);
    }
    let (a, b) = shard.split(half)?;
    let (x, y) = rayon::join(|| run(a, leaf_units, leaf), || run(b, leaf_units, leaf));
    Ok(x? + y?)
}

/// Units per leaf for units of `per_unit` values.
fn leaf_units(per_unit: usize) -> usize {
    (LEAF_VALUES / per_unit.max(1)).max(1)
}

/// The factor on CTC shard `k`'s value and gradient: `d_k / d` for `Mean`
/// (0 if `d` is 0), 1 for `Sum`. (A CTC `Mean` divides each sequence by its
/// label length too, so a shard runs with `Mean` and this factor.)
fn factor(reduction: Reduction, d_k: f32, d: f32) -> f32 {
    match reduction {
        Reduction::Sum => 1.0,
        Reduction::Mean if d == 0.0 => 0.0,
        Reduction::Mean => d_k / d,
    }
}

/// The factors a cross-entropy or pointwise shard runs with: every shard
/// is called with `Sum`, its gradient scaled by `grad` (a scaling call:
/// `value_and_scaled_grad`, one pass), and the shards' sums times `value`
/// are the whole batch's value. `grad` is the factor the single call puts
/// on its gradient (1 for `Sum`, `1 / d` for `Mean` over the whole batch's
/// denominator `d`, 0 if `d` is 0: every row ignored), so the shards write
/// the single call's gradient.
fn whole_batch(reduction: Reduction, d: f32) -> (f32, f64) {
    match reduction {
        Reduction::Sum => (1.0, 1.0),
        Reduction::Mean if d == 0.0 => (0.0, 0.0),
        Reduction::Mean => (1.0 / d, 1.0 / f64::from(d)),
    }
}

/// Splits `slice` after `at` units of `per` values (at its end if it is
/// shorter: an empty slice stays empty on both sides).
fn cut<T>(slice: &[T], at: usize, per: usize) -> (&[T], &[T]) {
    slice.split_at(at.saturating_mul(per).min(slice.len()))
}

/// [`cut`] for a mutable slice.
fn cut_mut<T>(slice: &mut [T], at: usize, per: usize) -> (&mut [T], &mut [T]) {
    let at = at.saturating_mul(per).min(slice.len());
    slice.split_at_mut(at)
}

/// [`cut`] for optional sample weights.
fn split_weight(w: Option<&[f32]>, at: usize, per: usize) -> (Option<&[f32]>, Option<&[f32]>) {
    match w {
        Some(w) => {
            let (a, b) = cut(w, at, per);
            (Some(a), Some(b))
        }
        None => (None, None),
    }
}

/// Rows of a row function: the input and the output.
struct Rows<'a> {
    x: &'a [f32],
    out: &'a mut [f32],
    classes: usize,
}

impl Shard for Rows<'_> {
    fn align(&self) -> usize {
        if self.classes <= 32 { ALIGN } else { 1 }
    }
    fn units(&self) -> usize {
        self.x.len() / self.classes.max(1)
    }
    fn split(self, at: usize) -> Result<(Self, Self), Error> {
        let c = self.classes;
        let (x0, x1) = cut(self.x, at, c);
        let (o0, o1) = cut_mut(self.out, at, c);
        Ok((
            Rows {
                x: x0,
                out: o0,
                classes: c,
            },
            Rows {
                x: x1,
                out: o1,
                classes: c,
            },
        ))
    }
}

/// A sequential row function (`log_softmax`, `softmax`).
type RowFn = fn(&[f32], usize, &mut [f32]) -> Result<(), Error>;

/// A time-major CTC shard's result: its share of the value and its
/// gradient buffer.
type TimeMajorPart = (f64, Vec<f32>);

/// A row function over threads: validated by the sequential call on the
/// whole batch when it is small, else by the length checks here and each
/// shard's call.
fn rows_fn(logits: &[f32], classes: usize, out: &mut [f32], f: RowFn) -> Result<(), Error> {
    if logits.len() < MIN_VALUES || classes == 0 || !logits.len().is_multiple_of(classes) {
        return f(logits, classes, out);
    }
    check_len("out", out, logits.len())?;
    let shard = Rows {
        x: logits,
        out,
        classes,
    };
    run(shard, leaf_units(classes), &|s: Rows<'_>| {
        f(s.x, s.classes, s.out).map(|()| 0.0)
    })
    .map(|_| ())
}

/// [`softmax::log_softmax`] over threads, bit-identical to it.
///
/// ```
/// use loss_kernels_rayon::par_log_softmax;
/// let x = vec![1.0; 4 * 65536];
/// let mut out = vec![0.0; x.len()];
/// par_log_softmax(&x, 4, &mut out)?;
/// assert!(out.iter().all(|&v| (v + 4f32.ln()).abs() < 1e-6));
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn par_log_softmax(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    rows_fn(logits, classes, out, softmax::log_softmax)
}

/// [`softmax::softmax`] over threads, bit-identical to it.
///
/// ```
/// use loss_kernels_rayon::par_softmax;
/// let x = vec![0.0; 2 * 65536];
/// let mut out = vec![0.0; x.len()];
/// par_softmax(&x, 2, &mut out)?;
/// assert!(out.iter().all(|&p| p == 0.5));
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn par_softmax(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    rows_fn(logits, classes, out, softmax::softmax)
}

/// Samples of a cross-entropy batch: logits, labels, sample weights, and
/// the gradient (empty for a value-only call).
struct CeShard<'a> {
    logits: &'a [f32],
    labels: Labels<'a>,
    weight: Option<&'a [f32]>,
    grad: &'a mut [f32],
    /// Values per sample (`classes × positions`) and positions per sample.
    per: (usize, usize),
}

impl Shard for CeShard<'_> {
    // Only rows of at most 32 classes run in transposed blocks of lanes.
    fn align(&self) -> usize {
        if self.per.1 == 1 && self.per.0 <= 32 {
            ALIGN
        } else {
            1
        }
    }
    fn units(&self) -> usize {
        self.logits.len() / self.per.0.max(1)
    }
    fn split(self, at: usize) -> Result<(Self, Self), Error> {
        let (values, positions) = self.per;
        let (x0, x1) = cut(self.logits, at, values);
        let (l0, l1) = match self.labels {
            Labels::Sparse(l) => {
                let (a, b) = cut(l, at, positions);
                (Labels::Sparse(a), Labels::Sparse(b))
            }
            Labels::SparseI64(l) => {
                let (a, b) = cut(l, at, positions);
                (Labels::SparseI64(a), Labels::SparseI64(b))
            }
            Labels::Dense(l) => {
                let (a, b) = cut(l, at, values);
                (Labels::Dense(a), Labels::Dense(b))
            }
        };
        let (w0, w1) = split_weight(self.weight, at, positions);
        let (g0, g1) = cut_mut(self.grad, at, values);
        let part = |logits, labels, weight, grad| CeShard {
            logits,
            labels,
            weight,
            grad,
            per: self.per,
        };
        Ok((part(x0, l0, w0, g0), part(x1, l1, w1, g1)))
    }
}

/// Softmax cross-entropy over threads: [`SoftmaxCrossEntropy`]'s `value` and `value_and_grad`, split on whole samples.
pub trait ParCrossEntropy {
    /// [`value`](SoftmaxCrossEntropy::value) over threads: the same value within rounding.
    ///
    /// ```
    /// use loss_kernels_rayon::ParCrossEntropy;
    /// use loss_kernels::Reduction;
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let logits = vec![0.0; 1000 * 100];
    /// let labels = vec![3u32; 1000];
    /// let v = SoftmaxCrossEntropy::new(100)?.par_value(&logits, Labels::Sparse(&labels), Reduction::Mean)?;
    /// assert!((v - 100f32.ln()).abs() < 1e-5);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    fn par_value(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
    ) -> Result<f32, Error>;

    /// [`value_and_grad`](SoftmaxCrossEntropy::value_and_grad) over threads: the value within
    /// rounding, a `Sum` gradient bit-identical, a `Mean` gradient within
    /// rounding.
    ///
    /// ```
    /// use loss_kernels_rayon::ParCrossEntropy;
    /// use loss_kernels::Reduction;
    /// use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
    /// let logits = vec![0.0; 1000 * 100];
    /// let mut grad = vec![0.0; logits.len()];
    /// let ce = SoftmaxCrossEntropy::new(100)?;
    /// ce.par_value_and_grad(&logits, Labels::Sparse(&[0; 1000]), Reduction::Sum, &mut grad)?;
    /// assert!((grad[0] + 0.99).abs() < 1e-6 && (grad[1] - 0.01).abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    fn par_value_and_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error>;
}

impl ParCrossEntropy for SoftmaxCrossEntropy<'_> {
    fn par_value(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
    ) -> Result<f32, Error> {
        ce_run(self, logits, labels, reduction, &mut [], false)
    }

    fn par_value_and_grad(
        &self,
        logits: &[f32],
        labels: Labels<'_>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        ce_run(self, logits, labels, reduction, grad, true)
    }
}

/// Splits on whole samples and combines (the module docs).
fn ce_run(
    loss: &SoftmaxCrossEntropy<'_>,
    logits: &[f32],
    labels: Labels<'_>,
    reduction: Reduction,
    grad: &mut [f32],
    with_grad: bool,
) -> Result<f32, Error> {
    if logits.len() < MIN_VALUES {
        return if with_grad {
            loss.value_and_grad(logits, labels, reduction, grad)
        } else {
            loss.value(logits, labels, reduction)
        };
    }
    if with_grad {
        check_len("grad", grad, logits.len())?;
    }
    // Validates the whole batch (lengths, labels, weights).
    let d = loss.mean_denominator(logits, labels)?;
    let values = loss.classes().saturating_mul(loss.positions());
    let shard = CeShard {
        logits,
        labels,
        weight: loss.sample_weights(),
        grad,
        per: (values, loss.positions()),
    };
    let (grad_scale, value_scale) = whole_batch(reduction, d);
    let total = run(shard, leaf_units(values), &|s: CeShard<'_>| {
        // `s.weight` is `None` only if the loss has no sample weights.
        let loss = match s.weight {
            Some(w) => loss.sample_weight(w),
            None => *loss,
        };
        let sum = if with_grad {
            loss.value_and_scaled_grad(s.logits, s.labels, Reduction::Sum, grad_scale, s.grad)
        } else {
            loss.value(s.logits, s.labels, Reduction::Sum)
        };
        sum.map(f64::from)
    })?;
    Ok((total * value_scale) as f32)
}

/// Samples of a pointwise batch.
struct PointShard<'a> {
    pred: &'a [f32],
    target: &'a [f32],
    weight: Option<&'a [f32]>,
    grad: &'a mut [f32],
    dim: usize,
}

impl Shard for PointShard<'_> {
    fn units(&self) -> usize {
        self.pred.len() / self.dim.max(1)
    }
    fn split(self, at: usize) -> Result<(Self, Self), Error> {
        let dim = self.dim;
        // Whole blocks of the sweep (512 lanes of 16) when samples are
        // single values.
        let at = if dim == 1 { at * 512 } else { at };
        let (p0, p1) = cut(self.pred, at, dim);
        let (t0, t1) = cut(self.target, at, dim);
        let (w0, w1) = split_weight(self.weight, at, 1);
        let (g0, g1) = cut_mut(self.grad, at, dim);
        let part = |pred, target, weight, grad| PointShard {
            pred,
            target,
            weight,
            grad,
            dim,
        };
        Ok((part(p0, t0, w0, g0), part(p1, t1, w1, g1)))
    }
}

/// A pointwise loss over threads: [`Pointwise`]'s `value` and `value_and_grad`, split on whole samples (whole sweep blocks for `dim = 1`).
pub trait ParPointwise {
    /// [`value`](Pointwise::value) over threads: the same value within rounding.
    ///
    /// ```
    /// use loss_kernels_rayon::ParPointwise;
    /// use loss_kernels::{pointwise::L2, Reduction};
    /// let pred = vec![1.0; 1 << 20];
    /// let v = L2::new().par_value(&pred, &vec![0.0; 1 << 20], Reduction::Mean)?;
    /// assert_eq!(v, 0.5);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    fn par_value(&self, pred: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error>;

    /// [`value_and_grad`](Pointwise::value_and_grad) over threads: the value within
    /// rounding, a `Sum` gradient bit-identical, a `Mean` one within
    /// rounding.
    ///
    /// ```
    /// use loss_kernels_rayon::ParPointwise;
    /// use loss_kernels::{pointwise::L2, Reduction};
    /// let pred = vec![1.0; 1 << 20];
    /// let mut grad = vec![0.0; pred.len()];
    /// L2::new().par_value_and_grad(&pred, &vec![0.0; 1 << 20], Reduction::Sum, &mut grad)?;
    /// assert!(grad.iter().all(|&g| g == 1.0));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    fn par_value_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error>;
}

impl<F: ElementLoss + Sync> ParPointwise for Pointwise<'_, F> {
    fn par_value(&self, pred: &[f32], target: &[f32], reduction: Reduction) -> Result<f32, Error> {
        pointwise_run(self, pred, target, reduction, &mut [], false)
    }

    fn par_value_and_grad(
        &self,
        pred: &[f32],
        target: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        pointwise_run(self, pred, target, reduction, grad, true)
    }
}

/// Splits on whole samples (whole sweep blocks for `dim = 1`).
fn pointwise_run<F: ElementLoss + Sync>(
    loss: &Pointwise<'_, F>,
    pred: &[f32],
    target: &[f32],
    reduction: Reduction,
    grad: &mut [f32],
    with_grad: bool,
) -> Result<f32, Error> {
    if pred.len() < MIN_VALUES {
        return if with_grad {
            loss.value_and_grad(pred, target, reduction, grad)
        } else {
            loss.value(pred, target, reduction)
        };
    }
    check_len("target", target, pred.len())?;
    if with_grad {
        check_len("grad", grad, pred.len())?;
    }
    let d = loss.mean_denominator(pred)?;
    if let Some(w) = loss.sample_weights() {
        check_len(
            "sample_weight",
            w,
            pred.len() / loss.values_per_sample().max(1),
        )?;
    }
    let shard = PointShard {
        pred,
        target,
        weight: loss.sample_weights(),
        grad,
        dim: loss.values_per_sample(),
    };
    // A unit is 512 values when dim = 1 (see `split`).
    let per = match loss.values_per_sample() {
        1 => 512,
        dim => dim,
    };
    let (grad_scale, value_scale) = whole_batch(reduction, d);
    let total = run(PointUnits(shard), leaf_units(per), &|PointUnits(s)| {
        let loss = match s.weight {
            Some(w) => loss.sample_weight(w),
            None => *loss,
        };
        let sum = if with_grad {
            loss.value_and_scaled_grad(s.pred, s.target, Reduction::Sum, grad_scale, s.grad)
        } else {
            loss.value(s.pred, s.target, Reduction::Sum)
        };
        sum.map(f64::from)
    })?;
    Ok((total * value_scale) as f32)
}

/// A pointwise shard counted in the units `split` takes: samples, or blocks
/// of 512 values for `dim = 1` (the last one possibly short).
struct PointUnits<'a>(PointShard<'a>);

impl Shard for PointUnits<'_> {
    fn units(&self) -> usize {
        if self.0.dim == 1 {
            self.0.pred.len().div_ceil(512)
        } else {
            self.0.units()
        }
    }
    fn split(self, at: usize) -> Result<(Self, Self), Error> {
        self.0
            .split(at)
            .map(|(a, b)| (PointUnits(a), PointUnits(b)))
    }
}

/// Sequences of a CTC batch: a range view of the activations, the
/// range's labels, and its gradient (empty for a value-only call; the
/// range's contiguous part for batch-major activations).
struct CtcShard<'a> {
    acts: Activations<'a>,
    labels: ctc::Labels<'a>,
    grad: &'a mut [f32],
}

impl Shard for CtcShard<'_> {
    // Sequences run one by one: any split is the same computation.
    fn align(&self) -> usize {
        1
    }
    fn units(&self) -> usize {
        self.acts.dims.batch
    }
    fn split(self, at: usize) -> Result<(Self, Self), Error> {
        let n = self.acts.dims.batch;
        let (a0, a1) = (self.acts.sequences(0..at)?, self.acts.sequences(at..n)?);
        let (l0, l1) = (self.labels.sequences(0..at)?, self.labels.sequences(at..n)?);
        let (g0, g1) = cut_mut(self.grad, at, self.acts.dims.steps * self.acts.dims.classes);
        let (a0, a1) = if matches!(self.acts.layout, Layout::BatchMajor) && !g0.is_empty() {
            // Batch-major shards with a gradient own their contiguous part.
            let per = self.acts.dims.steps * self.acts.dims.classes;
            let (d0, d1) = cut(self.acts.data, at, per);
            (
                Activations::batch_major(d0, a0.dims, a0.input_lengths),
                Activations::batch_major(d1, a1.dims, a1.input_lengths),
            )
        } else {
            (a0, a1)
        };
        Ok((
            CtcShard {
                acts: a0,
                labels: l0,
                grad: g0,
            },
            CtcShard {
                acts: a1,
                labels: l1,
                grad: g1,
            },
        ))
    }
}

/// The longest input and label lengths of a shard: its workspace size.
fn ctc_workspace(acts: &Activations<'_>, labels: &ctc::Labels<'_>, with_grad: bool) -> Vec<f32> {
    let longest = |l: &[u32]| l.iter().copied().max().unwrap_or(0) as usize;
    let lengths = match *labels {
        ctc::Labels::Padded { lengths, .. } | ctc::Labels::Concatenated { lengths, .. } => lengths,
    };
    let len = if with_grad {
        ctc::workspace_len(longest(acts.input_lengths), longest(lengths))
    } else {
        ctc::value_workspace_len(longest(lengths))
    };
    vec![0.0; len]
}

/// CTC over threads: [`Ctc`]'s `value` and `value_and_grad`, split on whole sequences; each shard allocates its own workspace, so none is passed.
pub trait ParCtc {
    /// [`value`](Ctc::value) over threads: the same value within rounding.
    /// Each shard of sequences allocates its own workspace, so none is
    /// passed.
    ///
    /// ```
    /// use loss_kernels_rayon::ParCtc;
    /// use loss_kernels::ctc::{Activations, Ctc, Dims, Labels};
    /// use loss_kernels::Reduction;
    /// let dims = Dims { steps: 50, batch: 64, classes: 30 };
    /// let data = vec![0.0; dims.len()];
    /// let acts = Activations::time_major(&data, dims, &[50; 64]);
    /// let labels = Labels::Padded { labels: &[1; 64 * 2], max_len: 2, lengths: &[2; 64] };
    /// let v = Ctc::new(0).par_value(&acts, &labels, Reduction::Sum)?;
    /// let mut ws = vec![0.0; loss_kernels::ctc::value_workspace_len(2)];
    /// let one = Ctc::new(0).value(&acts, &labels, Reduction::Sum, &mut ws)?;
    /// assert!((v - one).abs() <= 1e-5 * one);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    fn par_value(
        &self,
        activations: &Activations<'_>,
        labels: &ctc::Labels<'_>,
        reduction: Reduction,
    ) -> Result<f32, Error>;

    /// [`value_and_grad`](Ctc::value_and_grad) over threads: the value within
    /// rounding, a `Sum` gradient bit-identical, a `Mean` one within
    /// rounding. Allocates each shard's workspace and, for time-major
    /// activations, one gradient buffer per thread (the [crate docs](crate)).
    ///
    /// ```
    /// use loss_kernels_rayon::ParCtc;
    /// use loss_kernels::ctc::{Activations, Ctc, Dims, Labels};
    /// use loss_kernels::Reduction;
    /// let dims = Dims { steps: 50, batch: 64, classes: 30 };
    /// let data = vec![0.0; dims.len()];
    /// let acts = Activations::time_major(&data, dims, &[50; 64]);
    /// let labels = Labels::Padded { labels: &[1; 64 * 2], max_len: 2, lengths: &[2; 64] };
    /// let mut grad = vec![0.0; data.len()];
    /// Ctc::new(0).par_value_and_grad(&acts, &labels, Reduction::Mean, &mut grad)?;
    /// // softmax - γ: each step's gradient sums to 0
    /// assert!(grad[..30].iter().sum::<f32>().abs() < 1e-6);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    fn par_value_and_grad(
        &self,
        activations: &Activations<'_>,
        labels: &ctc::Labels<'_>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error>;
}

impl ParCtc for Ctc {
    fn par_value(
        &self,
        activations: &Activations<'_>,
        labels: &ctc::Labels<'_>,
        reduction: Reduction,
    ) -> Result<f32, Error> {
        ctc_run(self, activations, labels, reduction, &mut [], false)
    }

    fn par_value_and_grad(
        &self,
        activations: &Activations<'_>,
        labels: &ctc::Labels<'_>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        ctc_run(self, activations, labels, reduction, grad, true)
    }
}

/// Splits on whole sequences and combines (the module docs).
fn ctc_run(
    loss: &Ctc,
    acts: &Activations<'_>,
    labels: &ctc::Labels<'_>,
    reduction: Reduction,
    grad: &mut [f32],
    with_grad: bool,
) -> Result<f32, Error> {
    let sequential = |grad: &mut [f32]| {
        let mut ws = ctc_workspace(acts, labels, with_grad);
        if with_grad {
            loss.value_and_grad(acts, labels, reduction, &mut ws, grad)
        } else {
            loss.value(acts, labels, reduction, &mut ws)
        }
    };
    let ranged = !matches!(acts.layout, Layout::TimeMajor | Layout::BatchMajor);
    if acts.data.len() < MIN_VALUES || acts.dims.batch < 2 || ranged {
        return sequential(grad);
    }
    // The whole batch's checks, as the sequential call makes them.
    loss.validate(acts, labels)?;
    let d = loss.mean_denominator(acts)?;
    if with_grad {
        check_len("grad", grad, acts.data.len())?;
    }
    let leaf = |s: CtcShard<'_>, out: &mut [f32]| -> Result<f64, Error> {
        let d_k = loss.mean_denominator(&s.acts)?;
        let f = factor(reduction, d_k, d);
        let mut ws = ctc_workspace(&s.acts, &s.labels, with_grad);
        let v = if with_grad {
            loss.value_and_scaled_grad(&s.acts, &s.labels, reduction, &mut ws, f, out)?
        } else {
            loss.value(&s.acts, &s.labels, reduction, &mut ws)?
        };
        Ok(f64::from(f) * f64::from(v))
    };
    let n = acts.dims.batch;
    let time_major_grad = with_grad && matches!(acts.layout, Layout::TimeMajor);
    if !time_major_grad {
        let shard = CtcShard {
            acts: *acts,
            labels: *labels,
            grad,
        };
        let total = run(shard, 1, &|mut s: CtcShard<'_>| {
            let out = core::mem::take(&mut s.grad);
            leaf(s, out)
        })?;
        return Ok(total as f32);
    }
    // Time-major with a gradient: one shard (and gradient buffer) per
    // thread, each written in place (scaled by the shard's factor) through
    // the range view, then the rows gathered by step.
    let parts = rayon::current_num_threads().clamp(1, n);
    let bounds: Vec<usize> = (0..=parts).map(|k| k * n / parts).collect();
    let shards: Vec<(usize, usize)> = bounds
        .windows(2)
        .filter_map(|w| Some((*w.first()?, *w.get(1)?)))
        .collect();
    let results: Vec<Result<TimeMajorPart, Error>> = shards
        .par_iter()
        .map(|&(b0, b1)| {
            let s = CtcShard {
                acts: acts.sequences(b0..b1)?,
                labels: labels.sequences(b0..b1)?,
                grad: &mut [],
            };
            let mut buffer = vec![0.0; acts.data.len()];
            let v = leaf(s, &mut buffer)?;
            Ok((v, buffer))
        })
        .collect();
    let mut total = 0.0;
    let mut buffers = Vec::with_capacity(results.len());
    for r in results {
        let (v, buffer) = r?;
        total += v;
        buffers.push(buffer);
    }
    let c = acts.dims.classes;
    let step_len = n * c;
    grad.par_chunks_mut(step_len.max(1))
        .enumerate()
        .for_each(|(t, step)| {
            for (&(b0, b1), buffer) in shards.iter().zip(&buffers) {
                let (lo, hi) = (b0 * c, b1 * c);
                let src = buffer.get(t * step_len + lo..t * step_len + hi);
                if let (Some(dst), Some(src)) = (step.get_mut(lo..hi), src) {
                    dst.copy_from_slice(src);
                }
            }
        });
    Ok(total as f32)
}
