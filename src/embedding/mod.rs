//! Embedding losses over rows of `dim` values: [`Triplet`],
//! [`CosineEmbedding`] and [`Sdml`] (Gluon's smoothed deep metric
//! learning, over all `n × n` pairs), each with its gradients w.r.t. every
//! input.
//!
//! # Triplet
//!
//! With `d(x, y) = ‖x - y + ε‖` per row (PyTorch's `pairwise_distance`;
//! `ε` from [`Triplet::eps`], default `1e-6` for the p-norms and 0 for
//! [`Distance::Squared`]) and `d_neg = d(a, n)`, or with
//! [`Triplet::swap`] `min(d(a, n), d(p, n))`:
//! `l = max(0, d(a, p) - d_neg + margin)`.
//!
//! | distance | `d(x, y)` of `w = x - y + ε` | `∂d/∂x` |
//! |---|---|---|
//! | `Squared` (Gluon) | `Σ w²` | `2w` |
//! | `Euclidean` (PyTorch `p=2`) | `‖w‖₂` | `w / ‖w‖₂` (0 where `‖w‖₂ = 0`) |
//! | `Manhattan` (PyTorch `p=1`) | `Σ abs(w)` | `sign(w)` (0 where `w_j = 0`) |
//!
//! `∂d/∂y = -∂d/∂x`. The gradient is 0 where `l <= 0` (PyTorch's
//! `clamp_min`); at a tie of the swap (`d(a, n) = d(p, n)`) the gradient of
//! `d_neg` is split equally between the two distances (PyTorch's `minimum`
//! backward). A zero distance contributes a zero gradient (the subgradient
//! at the cone's tip) instead of `0/0`.
//!
//! # Cosine embedding
//!
//! `cos = Σ x1 x2 / max(‖x1‖ ‖x2‖, 1e-12)` (Gluon); label `+1`: `1 - cos`;
//! label `-1`: `max(0, cos - margin)`. With `Q = ‖x1‖ ‖x2‖ > 1e-12`,
//! `∂cos/∂x1 = x2/Q - cos x1/‖x1‖²` (symmetrically for `x2`). Where
//! `Q <= 1e-12` (a zero or tiny vector) the denominator is the constant
//! `1e-12` and `∂cos/∂x1 = x2 · 1e12`: the exact derivative of the formula,
//! finite for finite inputs.
//!
//! # Passes
//!
//! Each row is read from memory once: a pass accumulates the row's sums
//! (distances or dot products, the shared `driver::row::dots`), then,
//! with a gradient, a second pass over the same (cache-resident) rows
//! writes every input's gradient into its own caller slice (the triplet
//! loss at 16 lanes: one pass per gradient, see `triplet_row`). The batch
//! walk is the shared `driver::each_row`; the kernels run at the lane type
//! the backend seam ([`lane`](crate::lane)) picks. `Mean` divides by the
//! number of rows; sample weights scale the numerator only.
//!
//! # Accuracy (measured against float64, rows of 64 values in ±1)
//!
//! Triplet per sample: `<= 91 ε (l + 1)`: the loss is a difference of two
//! sums of 64 squares (≈ 43 each here), so the error follows the distances,
//! not the loss. Cosine embedding per sample: `<= 1.4e-7` absolute.
//!
//! ```
//! use loss_kernels::embedding::{Triplet, TripletGrads};
//! use loss_kernels::Reduction;
//! let (a, p, n) = ([0.0, 0.0], [1.0, 0.0], [0.0, 0.5]);
//! let (mut ga, mut gp, mut gn) = ([0.0; 2], [0.0; 2], [0.0; 2]);
//! let grads = TripletGrads { anchor: &mut ga, positive: &mut gp, negative: &mut gn };
//! let loss = Triplet::new(2)?.value_and_grad(&a, &p, &n, Reduction::Sum, grads)?;
//! assert_eq!(loss, 1.0 - 0.25 + 1.0);
//! assert_eq!((ga, gp, gn), ([-2.0, 1.0], [2.0, 0.0], [0.0, -1.0]));
//! # Ok::<(), loss_kernels::Error>(())
//! ```

mod cosine;
mod sdml;
mod triplet;

pub use cosine::{CosineEmbedding, CosineGrads};
pub use sdml::{Sdml, SdmlGrads};
pub use triplet::{Distance, Triplet, TripletGrads};

/// `max(0, l)` keeping NaN.
#[inline(always)]
pub(super) fn hinge(l: f32) -> f32 {
    if l <= 0.0 { 0.0 } else { l }
}

/// The derivative of [`hinge`]: 1 above 0, 0 below, NaN for NaN.
#[inline(always)]
pub(super) fn hinge_slope(l: f32) -> f32 {
    if l > 0.0 {
        1.0
    } else if l.is_nan() {
        f32::NAN
    } else {
        0.0
    }
}

/// `1 / d`, 0 at `d = 0`.
#[inline(always)]
pub(super) fn recip_or_zero(d: f32) -> f32 {
    if d == 0.0 { 0.0 } else { 1.0 / d }
}
