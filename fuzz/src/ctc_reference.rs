//! Float64 reference of CTC (SPEC.md): the forward-backward recursion in
//! log space over the extended label, for one sequence.

/// `ln(e^a + e^b)`, with `-∞` as the neutral element.
pub fn lae(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a == f64::INFINITY || b == f64::INFINITY {
        return a + b; // +∞, or NaN with a NaN
    }
    let m = a.max(b);
    m + (-(a - b).abs()).exp().ln_1p()
}

/// One sequence's reference.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// `-ln p(l | x)` (`+∞` when no alignment has a non-zero probability).
    pub loss: f64,
    /// Gradient of `loss` w.r.t. the `steps × C` activations given (logits
    /// or log-probabilities), row-major; all 0 when `loss` is infinite.
    pub grad: Vec<f64>,
    /// Condition scale of `loss`: `Σ_t (max_k |x_t(k)| + ln C + 1)`.
    pub scale: f64,
}

/// CTC of one sequence: `acts` holds `steps` rows of `c` values (logits
/// when `logits`, else log-probabilities), `label` its labels, `blank` the
/// blank class.
pub fn ctc(
    acts: &[f64],
    c: usize,
    steps: usize,
    label: &[usize],
    blank: usize,
    logits: bool,
) -> Sequence {
    let scale: f64 = (0..steps)
        .map(|t| {
            acts[t * c..(t + 1) * c]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                + (c as f64).ln()
                + 1.0
        })
        .sum();
    // Log-probabilities y_t(k).
    let mut y = vec![0.0; steps * c];
    for t in 0..steps {
        let row = &acts[t * c..(t + 1) * c];
        let (m, ln_s) = if logits {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (m, row.iter().map(|v| (v - m).exp()).sum::<f64>().ln())
        } else {
            (0.0, 0.0)
        };
        for k in 0..c {
            y[t * c + k] = row[k] - m - ln_s;
        }
    }
    let s_len = label.len();
    if steps == 0 {
        return Sequence {
            loss: if s_len == 0 { 0.0 } else { f64::INFINITY },
            grad: Vec::new(),
            scale,
        };
    }
    let l = 2 * s_len + 1;
    let ext = |s: usize| if s % 2 == 0 { blank } else { label[s / 2] };
    let skip = |s: usize| s % 2 == 1 && s >= 3 && label[s / 2] != label[s / 2 - 1];
    let ninf = f64::NEG_INFINITY;
    let mut alpha = vec![ninf; steps * l];
    alpha[0] = y[ext(0)];
    if l > 1 {
        alpha[1] = y[ext(1)];
    }
    for t in 1..steps {
        for s in 0..l {
            let mut a = alpha[(t - 1) * l + s];
            if s >= 1 {
                a = lae(a, alpha[(t - 1) * l + s - 1]);
            }
            if skip(s) {
                a = lae(a, alpha[(t - 1) * l + s - 2]);
            }
            alpha[t * l + s] = if a == ninf {
                ninf
            } else {
                a + y[t * c + ext(s)]
            };
        }
    }
    let last = (steps - 1) * l;
    let lnp = if l > 1 {
        lae(alpha[last + l - 1], alpha[last + l - 2])
    } else {
        alpha[last]
    };
    let mut grad = vec![0.0; steps * c];
    if lnp == ninf || lnp.is_nan() {
        return Sequence {
            loss: if lnp.is_nan() {
                f64::NAN
            } else {
                f64::INFINITY
            },
            grad,
            scale,
        };
    }
    // β_t(s) including the emission at t.
    let mut beta = vec![ninf; steps * l];
    beta[last + l - 1] = y[(steps - 1) * c + ext(l - 1)];
    if l > 1 {
        beta[last + l - 2] = y[(steps - 1) * c + ext(l - 2)];
    }
    for t in (0..steps - 1).rev() {
        for s in 0..l {
            let mut b = beta[(t + 1) * l + s];
            if s + 1 < l {
                b = lae(b, beta[(t + 1) * l + s + 1]);
            }
            if s + 2 < l && skip(s + 2) {
                b = lae(b, beta[(t + 1) * l + s + 2]);
            }
            beta[t * l + s] = if b == ninf {
                ninf
            } else {
                b + y[t * c + ext(s)]
            };
        }
    }
    for t in 0..steps {
        let mut gamma = vec![0.0; c];
        for s in 0..l {
            let a = alpha[t * l + s] + beta[t * l + s] - y[t * c + ext(s)] - lnp;
            if a > ninf {
                gamma[ext(s)] += a.exp();
            }
        }
        for k in 0..c {
            grad[t * c + k] = if logits {
                y[t * c + k].exp() - gamma[k]
            } else {
                -gamma[k]
            };
        }
    }
    Sequence {
        loss: -lnp,
        grad,
        scale,
    }
}
