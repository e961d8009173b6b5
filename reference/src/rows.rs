//! The row losses (SPEC.md): softmax cross-entropy, KL divergence, the row
//! functions, triplet and cosine embedding. Each row gives its value,
//! gradient(s) and condition scales (see [`crate::pointwise`]).

/// One row's reference.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// The row's loss (before the sample weight).
    pub value: f64,
    /// Condition scale of the value.
    pub value_scale: f64,
    /// Gradient(s) of the value w.r.t. each input row, concatenated per input.
    pub grad: Vec<f64>,
    /// Absolute scale of every gradient entry of the row.
    pub grad_scale: f64,
    /// The gradient may legitimately be either `grad` or 0 (a kink within
    /// rounding: `max(0, ·)` at 0), or is ill-conditioned (a norm at 0).
    pub grad_ambiguous: bool,
    /// The argument of the loss's `max(0, ·)` hinge (`d + margin` for a
    /// triplet, `cos - margin` for a dissimilar cosine pair), where the
    /// gradient jumps; 1 for a row without a hinge.
    pub hinge_argument: f64,
}

/// `(max, ln Σ e^(x - max))` of a row.
pub fn max_and_ln_sum(x: &[f64]) -> (f64, f64) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|&v| (v - m).exp()).sum();
    (m, s.ln())
}

/// `ln Σ e^x` of a row.
pub fn logsumexp(x: &[f64]) -> f64 {
    let (m, ln_s) = max_and_ln_sum(x);
    m + ln_s
}

/// `x - logsumexp(x)` of a row.
pub fn log_softmax(x: &[f64]) -> Vec<f64> {
    let l = logsumexp(x);
    x.iter().map(|v| v - l).collect()
}

/// `e^(x - logsumexp(x))` of a row.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    log_softmax(x).into_iter().map(f64::exp).collect()
}

/// Cross-entropy of one row against its effective weighted target `w`
/// (`from_log_probs`: the row is log-probabilities).
pub fn softmax_cross_entropy(x: &[f64], w: &[f64], from_log_probs: bool) -> Row {
    let big_w: f64 = w.iter().sum();
    let w_abs: f64 = w.iter().map(|v| v.abs()).sum();
    let w_max = w.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if from_log_probs {
        let value = -x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
        let scale = x.iter().zip(w).map(|(a, b)| (a * b).abs()).sum::<f64>();
        return Row {
            value,
            value_scale: scale,
            grad: w.iter().map(|v| -v).collect(),
            grad_scale: w_max,
            grad_ambiguous: false,
            hinge_argument: 1.0,
        };
    }
    let (m, ln_s) = max_and_ln_sum(x);
    let value = x
        .iter()
        .zip(w)
        .map(|(&xk, &wk)| wk * ((m - xk) + ln_s))
        .sum();
    let value_scale = x
        .iter()
        .zip(w)
        .map(|(&xk, &wk)| wk.abs() * ((m - xk).abs() + ln_s.abs() + 1.0))
        .sum();
    let grad = x
        .iter()
        .zip(w)
        .map(|(&xk, &wk)| (xk - m - ln_s).exp() * big_w - wk)
        .collect();
    Row {
        value,
        value_scale,
        grad,
        grad_scale: w_abs + w_max,
        grad_ambiguous: false,
        hinge_argument: 1.0,
    }
}

/// KL divergence `Σ t (ln t - lp)` of one row, `lp = x` (log-probabilities)
/// or `log_softmax(x)` (logits).
pub fn kl_divergence(x: &[f64], t: &[f64], from_logits: bool) -> Row {
    let (m, ln_s) = if from_logits {
        max_and_ln_sum(x)
    } else {
        (0.0, 0.0)
    };
    let lp = |xk: f64| if from_logits { xk - m - ln_s } else { xk };
    let xlnx = |v: f64| if v == 0.0 { 0.0 } else { v * v.ln() };
    let value = x
        .iter()
        .zip(t)
        .map(|(&xk, &tk)| xlnx(tk) - tk * lp(xk))
        .sum();
    let value_scale = x
        .iter()
        .zip(t)
        .map(|(&xk, &tk)| {
            let lps = if from_logits {
                (m - xk).abs() + ln_s.abs() + 1.0
            } else {
                xk.abs()
            };
            xlnx(tk).abs() + tk.abs() * (lps + 1.0)
        })
        .sum();
    let t_sum: f64 = t.iter().sum();
    let t_abs: f64 = t.iter().map(|v| v.abs()).sum();
    let grad = x
        .iter()
        .zip(t)
        .map(|(&xk, &tk)| {
            if from_logits {
                lp(xk).exp() * t_sum - tk
            } else {
                -tk
            }
        })
        .collect();
    Row {
        value,
        value_scale,
        grad,
        grad_scale: 2.0 * t_abs + 1e-30,
        grad_ambiguous: false,
        hinge_argument: 1.0,
    }
}

/// Triplet loss of one row: `grad` holds the anchor, positive and negative
/// gradients, `dim` each.
pub fn triplet(a: &[f64], p: &[f64], n: &[f64], margin: f64, euclidean: bool) -> Row {
    let dim = a.len();
    let eps = if euclidean { 1e-6f32 as f64 } else { 0.0 };
    let u: Vec<f64> = a.iter().zip(p).map(|(x, y)| x - y + eps).collect();
    let v: Vec<f64> = a.iter().zip(n).map(|(x, y)| x - y + eps).collect();
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let vv: f64 = v.iter().map(|x| x * x).sum();
    // Magnitudes the f32 differences round against.
    let mag = |x: &[f64], y: &[f64]| -> f64 {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a.abs() + b.abs()).powi(2))
            .sum::<f64>()
    };
    let (d, value_scale, du, dv) = if euclidean {
        let (nu, nv) = (uu.sqrt(), vv.sqrt());
        (
            nu - nv,
            nu + nv + mag(a, p).sqrt() + mag(a, n).sqrt(),
            if nu > 0.0 { 1.0 / nu } else { 0.0 },
            if nv > 0.0 { 1.0 / nv } else { 0.0 },
        )
    } else {
        (uu - vv, uu + vv + mag(a, p) + mag(a, n), 2.0, 2.0)
    };
    let value = (d + margin).max(0.0);
    let mut grad = vec![0.0; 3 * dim];
    if value > 0.0 {
        for j in 0..dim {
            grad[j] = du * u[j] - dv * v[j];
            grad[dim + j] = -du * u[j];
            grad[2 * dim + j] = dv * v[j];
        }
    }
    let scale_all = value_scale + margin.abs();
    let grad_scale = if euclidean {
        2.0
    } else {
        2.0 * grad.iter().fold(0.0f64, |m, g| m.max(g.abs()))
            + 4.0 * mag(a, p).sqrt()
            + 4.0 * mag(a, n).sqrt()
    };
    // A kink at d + margin = 0, or a Euclidean norm near 0 (its direction is
    // set by the rounding of a - p + 1e-6).
    let near_kink = (d + margin).abs() <= 1e-5 * scale_all;
    let tiny_norm = euclidean
        && (uu.sqrt() <= 1e-3 * mag(a, p).sqrt() + 1e-5
            || vv.sqrt() <= 1e-3 * mag(a, n).sqrt() + 1e-5);
    Row {
        value,
        value_scale: scale_all,
        grad,
        grad_scale,
        grad_ambiguous: near_kink || tiny_norm,
        hinge_argument: d + margin,
    }
}

/// Cosine embedding loss of one row: `grad` holds the `x1` and `x2`
/// gradients.
pub fn cosine_embedding(x1: &[f64], x2: &[f64], label: f64, margin: f64) -> Row {
    let dim = x1.len();
    let dot: f64 = x1.iter().zip(x2).map(|(a, b)| a * b).sum();
    let n1: f64 = x1.iter().map(|a| a * a).sum::<f64>().sqrt();
    let n2: f64 = x2.iter().map(|a| a * a).sum::<f64>().sqrt();
    let q = n1 * n2;
    let floor = 1e-12f32 as f64;
    let den = q.max(floor);
    let cos = dot / den;
    let mut dcos = vec![0.0; 2 * dim];
    for j in 0..dim {
        if q > floor {
            dcos[j] = x2[j] / q - cos * x1[j] / (n1 * n1);
            dcos[dim + j] = x1[j] / q - cos * x2[j] / (n2 * n2);
        } else {
            dcos[j] = x2[j] / floor;
            dcos[dim + j] = x1[j] / floor;
        }
    }
    let (value, sign, kink, hinge_argument) = if label > 0.0 {
        (1.0 - cos, -1.0, false, 1.0)
    } else {
        let h = cos - margin;
        (
            h.max(0.0),
            if h > 0.0 { 1.0 } else { 0.0 },
            h.abs() <= 1e-5 * (1.0 + margin.abs()),
            h,
        )
    };
    let grad: Vec<f64> = dcos.iter().map(|g| g * sign).collect();
    let max1 = x1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let max2 = x2.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let grad_scale = if q > floor {
        // Each entry is x2/Q - cos x1/‖x1‖²: a cancellation of terms of
        // size ‖x2‖/Q ~ 1/‖x1‖ (and symmetrically), the dot product itself
        // rounded against Σ|x1 x2|.
        let abs_dot: f64 = x1.iter().zip(x2).map(|(a, b)| (a * b).abs()).sum();
        (max2 / q + max1 / q).max(1.0 / n1 + 1.0 / n2) * (1.0 + abs_dot / den)
    } else {
        (max1 + max2) / floor
    };
    let abs_dot: f64 = x1.iter().zip(x2).map(|(a, b)| (a * b).abs()).sum();
    Row {
        value,
        value_scale: 1.0 + abs_dot / den + margin.abs(),
        grad,
        grad_scale,
        // Near Q = 1e-12 the formula switches denominators.
        grad_ambiguous: kink || (q - floor).abs() <= 1e-3 * floor,
        hinge_argument,
    }
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e^-x)`.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// PyTorch's `multilabel_soft_margin_loss` of one row: targets `y` in
/// `[0, 1]`, class weights `c` (1 without):
/// `(1/C) Σ c_k (y_k softplus(-x_k) + (1 - y_k) softplus(x_k))`, gradient
/// `(c_k/C)(σ(x_k) - y_k)`.
pub fn multilabel_soft_margin(x: &[f64], y: &[f64], c: Option<&[f64]>) -> Row {
    let n = x.len() as f64;
    let w = |k: usize| c.map_or(1.0, |c| c[k]);
    let term = |k: usize| y[k] * softplus(-x[k]) + (1.0 - y[k]) * softplus(x[k]);
    let value = (0..x.len()).map(|k| w(k) * term(k)).sum::<f64>() / n;
    let value_scale = (0..x.len())
        .map(|k| w(k).abs() * (term(k).abs() + x[k].abs() + 1.0))
        .sum::<f64>()
        / n;
    let grad = (0..x.len())
        .map(|k| w(k) / n * (sigmoid(x[k]) - y[k]))
        .collect();
    let w_max = (0..x.len()).fold(0.0f64, |m, k| m.max(w(k).abs()));
    Row {
        value,
        value_scale,
        grad,
        grad_scale: w_max / n + 1e-30,
        grad_ambiguous: false,
        hinge_argument: 1.0,
    }
}

/// PyTorch's `multi_margin_loss` of one row with label `y`, power `p` (1 or
/// 2), `margin` and class weights `c`:
/// `(1/C) Σ_{k≠y} c_y max(0, margin - x_y + x_k)^p`.
pub fn multi_margin(x: &[f64], y: usize, p: u32, margin: f64, c: Option<&[f64]>) -> Row {
    let n = x.len() as f64;
    let w = c.map_or(1.0, |c| c[y]);
    let mut value = 0.0;
    let mut value_scale = 0.0;
    let mut grad = vec![0.0; x.len()];
    let mut ambiguous = false;
    for k in 0..x.len() {
        if k == y {
            continue;
        }
        let z = margin - x[y] + x[k];
        let mag = margin.abs() + x[y].abs() + x[k].abs();
        ambiguous |= z.abs() <= 1e-5 * (mag + 1.0);
        if z > 0.0 {
            let (v, d) = if p == 2 { (z * z, 2.0 * z) } else { (z, 1.0) };
            value += w * v / n;
            grad[k] += w * d / n;
            grad[y] -= w * d / n;
        }
        value_scale += w.abs()
            * (if p == 2 {
                (mag + 1.0).powi(2)
            } else {
                mag + 1.0
            })
            / n;
    }
    let grad_scale = grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) + w.abs() / n;
    Row {
        value,
        value_scale,
        grad,
        grad_scale,
        grad_ambiguous: ambiguous,
        hinge_argument: 1.0,
    }
}

/// PyTorch's `multilabel_margin_loss` of one row: `targets` the row's `C`
/// entries, its targets first up to the first negative one:
/// `(1/C) Σ_{j∈T} Σ_{k∉T} max(0, 1 - x_j + x_k)`.
pub fn multilabel_margin(x: &[f64], targets: &[i64]) -> Row {
    let n = x.len() as f64;
    let listed: Vec<usize> = targets
        .iter()
        .take_while(|&&t| t >= 0)
        .map(|&t| t as usize)
        .collect();
    let member = |k: usize| listed.contains(&k);
    let mut value = 0.0;
    let mut value_scale = 0.0;
    let mut grad = vec![0.0; x.len()];
    let mut ambiguous = false;
    for &j in &listed {
        for k in (0..x.len()).filter(|&k| !member(k)) {
            let z = 1.0 - x[j] + x[k];
            let mag = 1.0 + x[j].abs() + x[k].abs();
            ambiguous |= z.abs() <= 1e-5 * mag;
            value_scale += mag / n;
            if z > 0.0 {
                value += z / n;
                grad[k] += 1.0 / n;
                grad[j] -= 1.0 / n;
            }
        }
    }
    Row {
        value,
        value_scale,
        grad,
        grad_scale: 1.0,
        grad_ambiguous: ambiguous,
        hinge_argument: 1.0,
    }
}

/// PyTorch's `triplet_margin_loss` of one row with the p-norm distance
/// `d(x, y) = ‖x - y + eps‖_p` (`p` 1 or 2) and `swap`; `grad` holds the
/// anchor, positive and negative gradients. At a tie of the swap the
/// gradient of the minimum is split equally; a zero norm and `|w_j| = 0`
/// (p = 1) have a zero gradient.
pub fn triplet_pnorm(
    a: &[f64],
    p: &[f64],
    n: &[f64],
    margin: f64,
    norm: u32,
    eps: f64,
    swap: bool,
) -> Row {
    let dim = a.len();
    let diff =
        |x: &[f64], y: &[f64]| -> Vec<f64> { x.iter().zip(y).map(|(a, b)| a - b + eps).collect() };
    let dist = |w: &[f64]| -> f64 {
        if norm == 1 {
            w.iter().map(|v| v.abs()).sum()
        } else {
            w.iter().map(|v| v * v).sum::<f64>().sqrt()
        }
    };
    // ∂d/∂w.
    let ddist = |w: &[f64], d: f64| -> Vec<f64> {
        w.iter()
            .map(|&v| {
                if norm == 1 {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                } else if d > 0.0 {
                    v / d
                } else {
                    0.0
                }
            })
            .collect()
    };
    let (u, v, w) = (diff(a, p), diff(a, n), diff(p, n));
    let (dap, dan, dpn) = (dist(&u), dist(&v), dist(&w));
    let (dneg, share) = if !swap {
        (dan, 1.0)
    } else if dpn < dan {
        (dpn, 0.0)
    } else if dpn == dan {
        (dan, 0.5)
    } else {
        (dan, 1.0)
    };
    let h = dap - dneg + margin;
    let value = h.max(0.0);
    let mut grad = vec![0.0; 3 * dim];
    if h > 0.0 {
        let (fu, fv, fw) = (ddist(&u, dap), ddist(&v, dan), ddist(&w, dpn));
        for j in 0..dim {
            let (gu, gv, gw) = (fu[j], share * fv[j], (1.0 - share) * fw[j]);
            grad[j] = gu - gv;
            grad[dim + j] = -gu - gw;
            grad[2 * dim + j] = gv + gw;
        }
    }
    let mag: f64 = a
        .iter()
        .zip(p)
        .zip(n)
        .map(|((a, p), n)| a.abs() + p.abs() + n.abs() + eps.abs())
        .sum();
    let value_scale = mag + margin.abs();
    // A kink, a swap tie within rounding, a norm near 0 or (p = 1) a
    // component near 0: the gradient there is set by rounding.
    let near = |x: f64| x.abs() <= 1e-5 * (value_scale + 1.0);
    let comp_near = |w: &[f64], x: &[f64], y: &[f64]| {
        w.iter()
            .zip(x.iter().zip(y))
            .any(|(w, (x, y))| w.abs() <= 1e-5 * (x.abs() + y.abs() + 1e-3))
    };
    let ambiguous = near(h)
        || (swap && near(dan - dpn))
        || (norm == 2 && (dap.min(dan).min(if swap { dpn } else { f64::INFINITY })) <= 1e-3)
        || (norm == 1
            && (comp_near(&u, a, p) || comp_near(&v, a, n) || (swap && comp_near(&w, p, n))));
    Row {
        value,
        value_scale,
        grad,
        grad_scale: 2.0,
        grad_ambiguous: ambiguous,
        hinge_argument: h,
    }
}

/// Gluon's `SDMLLoss` (SPEC's formula, without Gluon's `1e-12`) over `n`
/// pairs of rows of `dim`: the per-sample losses and the gradients of
/// their sum w.r.t. `x1` and `x2`.
pub fn sdml(x1: &[f64], x2: &[f64], dim: usize, smoothing: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = x1.len() / dim;
    let t = |i: usize, j: usize| {
        if i == j {
            1.0 - smoothing
        } else {
            smoothing / (n - 1) as f64
        }
    };
    let xlnx = |v: f64| if v == 0.0 { 0.0 } else { v * v.ln() };
    let mut per = vec![0.0; n];
    let (mut g1, mut g2) = (vec![0.0; n * dim], vec![0.0; n * dim]);
    for i in 0..n {
        let d: Vec<f64> = (0..n)
            .map(|j| {
                (0..dim)
                    .map(|k| (x1[i * dim + k] - x2[j * dim + k]).powi(2))
                    .sum()
            })
            .collect();
        let neg: Vec<f64> = d.iter().map(|v| -v).collect();
        let lse = logsumexp(&neg);
        per[i] = (0..n)
            .map(|j| xlnx(t(i, j)) - t(i, j) * (neg[j] - lse))
            .sum();
        for j in 0..n {
            let g = t(i, j) - (neg[j] - lse).exp();
            for k in 0..dim {
                let diff = x1[i * dim + k] - x2[j * dim + k];
                g1[i * dim + k] += 2.0 * g * diff;
                g2[j * dim + k] -= 2.0 * g * diff;
            }
        }
    }
    (per, g1, g2)
}
