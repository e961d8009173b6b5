//! Pointwise losses of two or three inputs with a gradient for two of them:
//! PyTorch's `gaussian_nll_loss` ([`GaussianNll`]) and
//! `margin_ranking_loss` ([`MarginRanking`]).
//!
//! As in [`pointwise`](crate::pointwise), a sample is `dim` consecutive
//! elements and its loss the mean of their element losses, times its sample
//! weight; `Sum` adds the samples, `Mean` divides by their number.
//!
//! | loss | inputs | f | gradients |
//! |---|---|---|---|
//! | [`GaussianNll`] (`full`, `eps`) | `pred`, `target`, `var` (per element or per sample) | `0.5 (ln v + s²/v)` (`+ 0.5 ln 2π` with `full`), `v = max(var, eps)`, `s = pred - target` | `s / v` (pred), `0.5 (1/v - s²/v²)` (var) |
//! | [`MarginRanking`] (`margin`) | `x1`, `x2`, labels `t ∈ {-1, +1}` | `max(0, margin - t (x1 - x2))` | `∓t` (x1, x2) where positive, else 0 |
//!
//! ```
//! use loss_kernels::pair::{MarginRanking, RankingGrads};
//! use loss_kernels::Reduction;
//! let (x1, x2, t) = ([2.0, 0.0], [1.0, 1.0], [1.0, 1.0]);
//! let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
//! let grads = RankingGrads { x1: &mut g1, x2: &mut g2 };
//! let v = MarginRanking::new(0.5)?.value_and_grad(&x1, &x2, &t, Reduction::Sum, grads)?;
//! assert_eq!(v, 1.5); // only the second pair ranks wrong: 0.5 - (0 - 1)
//! assert_eq!((g1, g2), ([0.0, -1.0], [0.0, 1.0]));
//! # Ok::<(), loss_kernels::Error>(())
//! ```

mod gaussian;
mod ranking;

pub use gaussian::{GaussianGrads, GaussianNll};
pub use ranking::{MarginRanking, RankingGrads};

use crate::error::{Error, check_len, rows};

/// Validates a batch of samples of `dim` in `first` (named `name`), the
/// other inputs of its length, the sample weights and (when `values` is
/// given) the per-sample output; returns the number of samples.
fn layout(
    dim: usize,
    (name, first): (&'static str, &[f32]),
    others: &[(&'static str, &[f32])],
    sample_weight: Option<&[f32]>,
    values: Option<&[f32]>,
) -> Result<usize, Error> {
    let n = rows(name, "dim", first.len(), dim)?;
    for &(argument, x) in others {
        check_len(argument, x, first.len())?;
    }
    if let Some(w) = sample_weight {
        check_len("sample_weight", w, n)?;
    }
    if let Some(out) = values {
        check_len("out", out, n)?;
    }
    Ok(n)
}
