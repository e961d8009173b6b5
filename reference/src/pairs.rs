//! The losses on two or three inputs (`gaussian_nll`, `margin_ranking`):
//! per-sample losses (weighted means over `dim`), the gradients of their
//! sum w.r.t. the two differentiated inputs, and condition scales (the
//! magnitude of the terms whose `f32` rounding the result inherits), as in
//! [`pointwise`](crate::pointwise).

/// A pair loss on one batch.
#[derive(Clone, Debug)]
pub struct PairResult {
    /// The per-sample losses.
    pub per_sample: Vec<f64>,
    /// The condition scale of each per-sample loss.
    pub per_sample_scale: Vec<f64>,
    /// The gradients of the sum of the per-sample losses.
    pub grad: [Vec<f64>; 2],
    /// Their condition scales.
    pub grad_scale: [Vec<f64>; 2],
}

impl PairResult {
    fn zeros(n: usize, len: [usize; 2]) -> Self {
        PairResult {
            per_sample: vec![0.0; n],
            per_sample_scale: vec![0.0; n],
            grad: len.map(|l| vec![0.0; l]),
            grad_scale: len.map(|l| vec![0.0; l]),
        }
    }
}

/// PyTorch `gaussian_nll_loss` on samples of `dim`: `var` per element
/// (`pred.len()` values) or per sample (`pred.len() / dim`); with
/// `v = max(var, eps)`, `f = 0.5 (ln v + s²/v)` (`+ 0.5 ln 2π` with `full`);
/// `grad[0]` w.r.t. `pred`, `grad[1]` w.r.t. `var` (summed over a sample
/// for a per-sample `var`), `df/dvar = 0.5 (1/v - s²/v²)` at the clamped `v`.
pub fn gaussian_nll(
    pred: &[f64],
    target: &[f64],
    var: &[f64],
    dim: usize,
    full: bool,
    eps: f64,
    weight: Option<&[f64]>,
) -> PairResult {
    let n = pred.len() / dim;
    let per_element = var.len() == pred.len();
    let mut r = PairResult::zeros(n, [pred.len(), var.len()]);
    let constant = if full {
        0.5 * (2.0 * std::f64::consts::PI).ln()
    } else {
        0.0
    };
    for k in 0..pred.len() {
        let i = k / dim;
        let vk = if per_element { k } else { i };
        let w = weight.map_or(1.0, |w| w[i]) / dim as f64;
        let v = var[vk].max(eps);
        let s = pred[k] - target[k];
        let f = 0.5 * (v.ln() + s * s / v) + constant;
        r.per_sample[i] += w * f;
        // `s` is rounded relative to |pred| + |target|.
        let c = s.abs() * (pred[k].abs() + target[k].abs()) / v;
        r.per_sample_scale[i] += w.abs() * (0.5 * v.ln().abs() + 0.5 * s * s / v + c + constant);
        r.grad[0][k] = w * s / v;
        r.grad_scale[0][k] = w.abs() * (s.abs() + pred[k].abs() + target[k].abs()) / v;
        r.grad[1][vk] += w * 0.5 * (1.0 / v - s * s / (v * v));
        r.grad_scale[1][vk] += w.abs() * 0.5 * (1.0 / v + s * s / (v * v) + 2.0 * c / v);
    }
    r
}

/// PyTorch `margin_ranking_loss` on samples of `dim`:
/// `f = max(0, margin - t (x1 - x2))`; `grad[0]` w.r.t. `x1` (`-t` where
/// `f > 0`), `grad[1]` w.r.t. `x2` (`+t`).
pub fn margin_ranking(
    x1: &[f64],
    x2: &[f64],
    labels: &[f64],
    dim: usize,
    margin: f64,
    weight: Option<&[f64]>,
) -> PairResult {
    let n = x1.len() / dim;
    let mut r = PairResult::zeros(n, [x1.len(), x1.len()]);
    for k in 0..x1.len() {
        let i = k / dim;
        let w = weight.map_or(1.0, |w| w[i]) / dim as f64;
        let t = labels[k];
        let z = margin - t * (x1[k] - x2[k]);
        r.per_sample[i] += w * z.max(0.0);
        r.per_sample_scale[i] += w.abs() * (margin.abs() + t.abs() * (x1[k].abs() + x2[k].abs()));
        if z > 0.0 {
            r.grad[0][k] = -w * t;
            r.grad[1][k] = w * t;
        }
        for g in &mut r.grad_scale {
            g[k] = (w * t).abs();
        }
    }
    r
}

/// Distance from the kink of `margin_ranking`'s element `k` (where
/// `margin - t (x1 - x2) = 0`), relative to the terms' size.
pub fn margin_ranking_kink(x1: f64, x2: f64, t: f64, margin: f64) -> f64 {
    let z = margin - t * (x1 - x2);
    z.abs() / (margin.abs() + t.abs() * (x1.abs() + x2.abs())).max(1e-30)
}
