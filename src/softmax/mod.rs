//! Softmax cross-entropy, KL divergence and the row functions under them
//! ([`logsumexp`], [`log_softmax`], [`softmax`]), over rows of `classes`
//! values in a flat row-major slice.
//!
//! # Math
//!
//! For a row `x` with maximum `m`, `s = Σ_k e^(x_k - m)` and
//! `lse(x) = m + ln s` (never overflows). Every option reduces to an
//! *effective weighted target* `w_k` for the row:
//!
//! | labels | `w_k` |
//! |---|---|
//! | [`Labels::Sparse`] / [`Labels::SparseI64`] `y`, smoothing `α` | `(1-α) c_y [k = y] + (α/C) c_k` |
//! | [`Labels::Dense`] `t`, smoothing `α` | `c_k ((1-α) t_k + α/C)` |
//!
//! (`c` the class weights, 1 without them). Write `w_k = hot [k = y] +
//! spread v_k` with `hot = (1-α) c_y`, `spread = α/C`, `v_k = c_k` for
//! sparse labels and `hot = 0`, `spread = 1`, `v_k = c_k t_k` for dense
//! ones (`v_k = c_k ((1-α) t_k + α/C)` with smoothing, PyTorch's rule for
//! probability targets). With `D = Σ_k v_k (m - x_k)` and `W = hot + spread Σ_k v_k`, a
//! row's loss is
//!
//! ```text
//! l = s_i Σ_k w_k (lse - x_k) = s_i (hot (m - x_y) + spread D + W ln s)
//! ```
//!
//! with every term a sum of non-negative parts: the row max never cancels
//! against the label's logit (the loss is `(m - x_y) + ln s`, not
//! `lse - x_y`, which loses digits at large logits). Its gradient is
//! `s_i (softmax(x)_k W - w_k)`.
//!
//! With [`Input::LogProbs`] (Gluon's `from_logits=True`) the rows are taken
//! as log-probabilities: `l = -s_i Σ_k w_k x_k`, gradient `-s_i w_k`.
//!
//! [`KlDivergence`] is the dense case without class weights plus the target
//! entropy: `l = s_i Σ_k t_k (ln t_k - log_softmax(x)_k)`, with `t ln t = 0`
//! at `t = 0`; for log-probability input `log_softmax(x)` is `x` itself.
//! With `log_target` the targets are log-probabilities `lt`:
//! `l = s_i Σ_k e^(lt_k) (lt_k - log_softmax(x)_k)`, the same kernel with
//! `t = e^lt` and the entropy term `e^lt lt`.
//!
//! # Strided class axis
//!
//! [`SoftmaxCrossEntropy::spatial`] takes logits laid out `n × C × S`
//! (PyTorch's `N × C × d1 × …`): one sample per position, every option as
//! in the row form. A lane holds consecutive positions and walks the
//! classes (the positions of one class are contiguous), so no transpose is
//! needed and the sums need no horizontal reduction.
//!
//! # Reductions
//!
//! `Sum` adds the per-sample losses. `Mean` divides by
//! * for sparse labels, `Σ c[y_i]` over the rows that are not ignored (the
//!   number of such rows without class weights; PyTorch's rule). Sample
//!   weights scale the numerator only. If the denominator is 0 (every row
//!   ignored, or zero class weights) the mean is 0 and the gradient is 0.
//! * for dense labels and KL, the number of rows `n` (KL's `Mean` is
//!   PyTorch's `batchmean`: the true KL divergence averaged over samples).
//!
//! Ignored rows contribute exactly 0 loss and 0 gradient whatever their
//! logits hold.
//!
//! # Numerics and speed
//!
//! Each row is read from memory once: a pass for the max, a pass that
//! computes `e^(x - m)` with [`exp_nonpositive`](crate::math::exp_nonpositive) (one `exp` per logit) and
//! writes it into the gradient while summing, then a pass that scales the
//! gradient in place (the row is in L1 by then). No temporary buffer. The
//! max pass of row `i + 1` runs inside the exp pass of row `i`, so the next
//! row streams in from memory while this one is exponentiated (12% faster
//! at 4096×1000 than separate passes).
//! An online max (one pass that rescales the running sum whenever the max
//! grows) is not used: for the gradient it needs a second `exp` per logit,
//! and for the value alone it measured slower than two passes over an
//! L1-resident row (see [`docs/notes/rows.md`](https://github.com/loss-kernels/loss-kernels/blob/main/docs/notes/rows.md)).
//!
//! # Accuracy (measured against float64, every lane width)
//!
//! | quantity | error |
//! |---|---|
//! | cross-entropy per sample, logits in ±10 and ±1e4, 10–1000 classes | `<= 1.4 ε (abs(l) + 1)` |
//! | its gradient | `<= 2.4e-7` absolute |
//! | KL divergence (logits) per sample | `<= 2.7 ε (abs(l) + 1)`, gradient `<= 8.1e-7` absolute |
//!
//! (`ε = f32::EPSILON`; the properties in `tests/rows.rs` enforce looser
//! bounds on random cases of every option.)
//!
//! When rows are narrow (up to 32 classes, e.g. 10 classes in 16 lanes) the
//! kernel works on `LANES` rows at a time, transposed through a stack
//! buffer: lane `j` holds row `j` of the block, so every lane does useful
//! work, the max and sums need no horizontal reduction and the per-row `ln`
//! is one vector `ln` per block. Leftover rows (fewer than `LANES`) take the
//! row kernel.
//!
//! # Where things are
//!
//! `cross_entropy.rs` and `kl.rs` hold the two losses' builders and entry
//! points and validate a call into a plan whose targets are an enum of what
//! they are (sparse labels, dense targets, KL) (`plan.rs`, which also holds
//! the kernel entry generic over the lane type and the batch walk). Each
//! kind of target implements one trait, `targets::TargetKind` (its spread
//! weights lane by lane, its entropy term, its per-row scalars), so every
//! kind is its own monomorphised kernel and a new option is one new
//! implementation. `kernel.rs` holds the row math written once over lanes
//! (the sums, `combine`, the gradient formula) and the row layout;
//! `narrow.rs` the transposed layout, running the same math on lanes of
//! rows; `rows.rs` the row functions.
//!
//! ```
//! use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
//! use loss_kernels::Reduction;
//! let logits = [1.0, 10.0, 8.0, 2.0]; // two rows of two classes
//! let mut grad = [0.0; 4];
//! let loss = SoftmaxCrossEntropy::new(2)?
//!     .value_and_grad(&logits, Labels::Sparse(&[0, 1]), Reduction::Mean, &mut grad)?;
//! assert!((loss - 7.5013).abs() < 1e-4);
//! assert!((grad[0] + grad[1]).abs() < 1e-6);
//! # Ok::<(), loss_kernels::Error>(())
//! ```

mod cross_entropy;
mod kernel;
mod kl;
mod narrow;
mod plan;
mod rows;
mod strided;
mod targets;

pub use cross_entropy::SoftmaxCrossEntropy;
pub use kl::KlDivergence;
pub use rows::{log_softmax, logsumexp, softmax};

/// The labels of a cross-entropy batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Labels<'a> {
    /// One class index per row, each `< classes` (or equal to the
    /// `ignore_index`).
    Sparse(&'a [u32]),
    /// One class index per row as PyTorch's `int64` labels, each in
    /// `0..classes` or equal to the `ignore_index` (PyTorch's default
    /// `-100` works as it is: `.ignore_index(Some(-100))`, no remapping
    /// pass). The same kernels as [`Labels::Sparse`].
    SparseI64(&'a [i64]),
    /// A row of `classes` non-negative target weights per row (usually a
    /// probability distribution), same layout as the logits.
    Dense(&'a [f32]),
}

/// What the prediction rows hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Unnormalised logits: `log_softmax` is applied inside.
    Logits,
    /// Log-probabilities (Gluon's `from_logits=True`): used as given.
    LogProbs,
}
