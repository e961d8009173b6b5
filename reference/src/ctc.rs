//! CTC (SPEC.md): a plain float64 CTC in log space, written from the
//! textbook recursion (Graves et al. 2006) with the `2S + 1` extended label,
//! full `α` and `β` matrices and `std`'s `exp`/`ln`: the oracle of
//! `tests/ctc.rs` and the fuzz target, and the scalar baseline of
//! `benches/ctc.rs`. A brute-force path enumeration checks it on tiny cases.

/// One batch, described independently of the crate's types.
#[derive(Clone, Debug)]
pub struct Batch {
    pub t: usize,
    pub n: usize,
    pub c: usize,
    pub batch_major: bool,
    pub data: Vec<f32>,
    pub input_lengths: Vec<u32>,
    pub labels: Vec<Vec<u32>>,
    pub blank: usize,
    pub logits: bool,
    pub zero_infinity: bool,
}

/// Per-sequence losses, both reductions and their gradients (same layout as
/// the data).
#[derive(Clone, Debug)]
pub struct Expect {
    pub per_sample: Vec<f64>,
    pub sum: f64,
    pub mean: f64,
    pub grad_sum: Vec<f64>,
    pub grad_mean: Vec<f64>,
}

impl Batch {
    /// Index of `(sequence i, step t, class k)` in `data`.
    pub fn index(&self, i: usize, t: usize, k: usize) -> usize {
        if self.batch_major {
            (i * self.t + t) * self.c + k
        } else {
            (t * self.n + i) * self.c + k
        }
    }

    /// The log-probability rows (`T_i × C`) of sequence `i`.
    pub fn log_probs(&self, i: usize, data: &[f64]) -> Vec<Vec<f64>> {
        (0..self.input_lengths[i] as usize)
            .map(|t| {
                let x: Vec<f64> = (0..self.c).map(|k| data[self.index(i, t, k)]).collect();
                if self.logits {
                    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    x.iter().map(|v| v - lse).collect()
                } else {
                    x
                }
            })
            .collect()
    }

    /// Everything the crate computes, in float64, from `data` (the batch's
    /// own data, or a perturbed copy for finite differences).
    pub fn expect_with(&self, data: &[f64]) -> Expect {
        let mut per_sample = vec![0.0; self.n];
        let mut grad_sum = vec![0.0; data.len()];
        let mut grad_mean = vec![0.0; data.len()];
        let (mut sum, mut mean) = (0.0, 0.0);
        for i in 0..self.n {
            let y = self.log_probs(i, data);
            let (mut loss, gamma) = sequence(&y, &self.labels[i], self.blank);
            let infinite = loss == f64::INFINITY;
            if infinite && self.zero_infinity {
                loss = 0.0;
            }
            let denominator = self.labels[i].len().max(1) as f64;
            per_sample[i] = loss;
            sum += loss;
            mean += loss / denominator / self.n as f64;
            if infinite {
                continue;
            }
            for (t, (yt, gt)) in y.iter().zip(&gamma).enumerate() {
                for k in 0..self.c {
                    let g = if self.logits {
                        yt[k].exp() - gt[k]
                    } else {
                        -gt[k]
                    };
                    let at = self.index(i, t, k);
                    grad_sum[at] = g;
                    grad_mean[at] = g / denominator / self.n as f64;
                }
            }
        }
        Expect {
            per_sample,
            sum,
            mean,
            grad_sum,
            grad_mean,
        }
    }

    /// [`expect_with`](Self::expect_with) on the batch's data.
    pub fn expect(&self) -> Expect {
        let data: Vec<f64> = self.data.iter().map(|&v| v as f64).collect();
        self.expect_with(&data)
    }
}

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

/// `(-ln p(l|x), γ)` of one sequence from its log-probability rows `y`
/// (`T × C`): `γ[t][k]` is the posterior occupation of class `k` at step
/// `t`. An infeasible or zero-probability label gives `(inf, zeros)`, a NaN
/// input that reaches the total `(NaN, zeros)`.
pub fn sequence(y: &[Vec<f64>], label: &[u32], blank: usize) -> (f64, Vec<Vec<f64>>) {
    let t_len = y.len();
    let c = y.first().map_or(0, |r| r.len());
    let mut gamma = vec![vec![0.0; c]; t_len];
    let mut ext = vec![blank];
    for &l in label {
        ext.push(l as usize);
        ext.push(blank);
    }
    let states = ext.len();
    if t_len == 0 {
        let loss = if label.is_empty() { 0.0 } else { f64::INFINITY };
        return (loss, gamma);
    }
    let skip = |s: usize| s >= 2 && ext[s] != blank && ext[s] != ext[s - 2];
    let ninf = f64::NEG_INFINITY;
    let mut alpha = vec![vec![ninf; states]; t_len];
    alpha[0][0] = y[0][ext[0]];
    if states > 1 {
        alpha[0][1] = y[0][ext[1]];
    }
    for t in 1..t_len {
        for s in 0..states {
            let mut acc = alpha[t - 1][s];
            if s >= 1 {
                acc = lae(acc, alpha[t - 1][s - 1]);
            }
            if skip(s) {
                acc = lae(acc, alpha[t - 1][s - 2]);
            }
            alpha[t][s] = if acc == ninf {
                ninf
            } else {
                acc + y[t][ext[s]]
            };
        }
    }
    let mut beta = vec![vec![ninf; states]; t_len];
    beta[t_len - 1][states - 1] = y[t_len - 1][ext[states - 1]];
    if states > 1 {
        beta[t_len - 1][states - 2] = y[t_len - 1][ext[states - 2]];
    }
    for t in (0..t_len - 1).rev() {
        for s in 0..states {
            let mut acc = beta[t + 1][s];
            if s + 1 < states {
                acc = lae(acc, beta[t + 1][s + 1]);
            }
            if s + 2 < states && skip(s + 2) {
                acc = lae(acc, beta[t + 1][s + 2]);
            }
            beta[t][s] = if acc == ninf {
                ninf
            } else {
                acc + y[t][ext[s]]
            };
        }
    }
    let mut log_p = alpha[t_len - 1][states - 1];
    if states > 1 {
        log_p = lae(log_p, alpha[t_len - 1][states - 2]);
    }
    if log_p == ninf {
        return (f64::INFINITY, gamma);
    }
    if log_p.is_nan() {
        return (f64::NAN, gamma);
    }
    for t in 0..t_len {
        for s in 0..states {
            let (a, b) = (alpha[t][s], beta[t][s]);
            if a > ninf && b > ninf {
                gamma[t][ext[s]] += (a + b - y[t][ext[s]] - log_p).exp();
            }
        }
    }
    (-log_p, gamma)
}

/// The same `(-ln p, γ)` by enumerating all `C^T` paths (tiny cases only).
pub fn brute_force(y: &[Vec<f64>], label: &[u32], blank: usize) -> (f64, Vec<Vec<f64>>) {
    let t_len = y.len();
    let c = y.first().map_or(0, |r| r.len());
    let mut gamma = vec![vec![0.0; c]; t_len];
    let mut total = 0.0;
    let mut path = vec![0usize; t_len];
    let count = c.pow(t_len as u32);
    for code in 0..count {
        let mut rest = code;
        for p in path.iter_mut() {
            *p = rest % c;
            rest /= c;
        }
        let mut collapsed = Vec::new();
        let mut last = None;
        for &k in &path {
            if Some(k) != last && k != blank {
                collapsed.push(k as u32);
            }
            last = Some(k);
        }
        if collapsed != label {
            continue;
        }
        let p: f64 = path
            .iter()
            .enumerate()
            .map(|(t, &k)| y[t][k])
            .sum::<f64>()
            .exp();
        total += p;
        for (t, &k) in path.iter().enumerate() {
            gamma[t][k] += p;
        }
    }
    if total == 0.0 {
        return (f64::INFINITY, vec![vec![0.0; c]; t_len]);
    }
    for row in gamma.iter_mut() {
        for v in row.iter_mut() {
            *v /= total;
        }
    }
    (-total.ln(), gamma)
}

/// One sequence's reference, as the fuzz target checks it.
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
    let rows: Vec<&[f64]> = (0..steps).map(|t| &acts[t * c..(t + 1) * c]).collect();
    let scale: f64 = rows
        .iter()
        .map(|row| row.iter().fold(0.0f64, |m, v| m.max(v.abs())) + (c as f64).ln() + 1.0)
        .sum();
    // Log-probabilities y_t(k).
    let y: Vec<Vec<f64>> = rows
        .iter()
        .map(|row| {
            if logits {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let ln_s = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                row.iter().map(|v| v - m - ln_s).collect()
            } else {
                row.to_vec()
            }
        })
        .collect();
    let label: Vec<u32> = label.iter().map(|&l| l as u32).collect();
    let (loss, gamma) = sequence(&y, &label, blank);
    let mut grad = vec![0.0; steps * c];
    if loss.is_finite() {
        for (t, (yt, gt)) in y.iter().zip(&gamma).enumerate() {
            for k in 0..c {
                grad[t * c + k] = if logits { yt[k].exp() - gt[k] } else { -gt[k] };
            }
        }
    }
    Sequence { loss, grad, scale }
}
