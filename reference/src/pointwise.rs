//! The pointwise losses. Each element reference returns the exact value and
//! derivative in `f64` and the *condition scale* of each: the magnitude of
//! the terms whose rounding in `f32` the result inherits (e.g.
//! `|margin| + |p t|` for a hinge), so that a tolerance relative to it is
//! fair where terms cancel. The parameters are `f32`, as the crate takes
//! them.

/// One element's reference: value, derivative and their scales.
#[derive(Clone, Copy, Debug)]
pub struct Elem {
    /// `f(p, t)`.
    pub f: f64,
    /// `df/dp`.
    pub g: f64,
    /// Condition scale of `f`.
    pub f_scale: f64,
    /// Condition scale of `g`.
    pub g_scale: f64,
    /// Where `f` has a kink at which `df/dp` jumps (hinge at `m = 0`) and the
    /// inputs are within rounding of it: the other one-sided derivative,
    /// which `f32` rounding may legitimately pick.
    pub g_alt: Option<f64>,
}

impl Elem {
    fn new(f: f64, g: f64, f_scale: f64, g_scale: f64) -> Self {
        Elem {
            f,
            g,
            f_scale,
            g_scale,
            g_alt: None,
        }
    }
}

/// The pointwise losses of SPEC.md with their parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pointwise {
    /// `abs(s)`.
    L1,
    /// `s²/2`.
    L2,
    /// Huber / smooth L1.
    Huber {
        /// Threshold.
        rho: f32,
    },
    /// `max(0, margin - p t)`.
    Hinge {
        /// Margin.
        margin: f32,
    },
    /// `max(0, margin - p t)²`.
    SquaredHinge {
        /// Margin.
        margin: f32,
    },
    /// Logistic loss.
    Logistic {
        /// `t ∈ {0, 1}` instead of `{-1, +1}`.
        binary: bool,
    },
    /// BCE on logits.
    SigmoidBce {
        /// Positive-class weight.
        pos_weight: f32,
    },
    /// BCE on probabilities.
    Bce {
        /// Positive-class weight.
        pos_weight: f32,
    },
    /// Poisson NLL.
    PoissonNll {
        /// `p` is `ln λ`.
        log_input: bool,
        /// Stirling term for `t > 1`.
        full: bool,
        /// `p - t ln(p + eps)` without `log_input` (the crate's default
        /// `1e-8`).
        eps: f32,
    },
    /// `ln cosh s`.
    LogCosh,
    /// `s²` (PyTorch `mse_loss`).
    Mse,
    /// PyTorch `smooth_l1_loss`: L1 for `beta = 0`, else Huber with
    /// `rho = beta`.
    SmoothL1 {
        /// Threshold, `>= 0`.
        beta: f32,
    },
    /// PyTorch `huber_loss`: `abs(s) <= delta ? s²/2 : delta (abs(s) - delta/2)`.
    HuberTorch {
        /// Threshold, `> 0`.
        delta: f32,
    },
    /// `ln(1 + e^(-t p))` (PyTorch `soft_margin_loss`, computed stably).
    SoftMargin,
    /// `(t != 1 ? max(0, margin - p) : 0) + (t != -1 ? p : 0)`.
    HingeEmbedding {
        /// Margin.
        margin: f32,
    },
    /// torchvision `sigmoid_focal_loss`.
    SigmoidFocal {
        /// Weight of the positives (`< 0`: no weighting).
        alpha: f32,
        /// Focusing exponent, `>= 0`.
        gamma: f32,
    },
}

/// `ln(1 + e^x)`, stably.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e^-x)`, stably.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Pointwise {
    /// Whether `(p, t)` lies in the loss's mathematical domain (where the
    /// differential and the finite-in, no-NaN-out checks apply): targets
    /// in [0, 1] for the two BCEs (and probabilities for [`Pointwise::Bce`]),
    /// `p >= 0` for Poisson with `log_input = false`.
    pub fn in_domain(self, p: f32, t: f32) -> bool {
        match self {
            Pointwise::Bce { .. } => (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&t),
            Pointwise::SigmoidBce { .. } | Pointwise::SigmoidFocal { .. } => {
                (0.0..=1.0).contains(&t)
            }
            Pointwise::PoissonNll {
                log_input: false, ..
            } => p >= 0.0,
            _ => true,
        }
    }

    /// Whether an overflow of an intermediate (`p t`) is clamped away by the
    /// loss itself (`max(0, margin - p t)`), so that finite inputs must give
    /// a finite result whatever their size.
    pub fn saturates(self) -> bool {
        matches!(
            self,
            Pointwise::Hinge { .. } | Pointwise::SquaredHinge { .. }
        )
    }

    /// The element reference at the `f32` inputs `(p, t)`.
    pub fn eval(self, p: f32, t: f32) -> Elem {
        self.eval64(p as f64, t as f64)
    }

    /// Element loss `f(p, t)`.
    pub fn f(self, p: f64, t: f64) -> f64 {
        self.eval64(p, t).f
    }

    /// Derivative `df/dp`.
    pub fn df(self, p: f64, t: f64) -> f64 {
        self.eval64(p, t).g
    }

    /// Distance from `p` to the nearest point where `f` is not smooth in `p`
    /// (infinite for smooth losses).
    pub fn kink_distance(self, p: f64, t: f64) -> f64 {
        match self {
            Pointwise::L1 => (p - t).abs(),
            Pointwise::SmoothL1 { beta: 0.0 } => (p - t).abs(),
            Pointwise::Huber { rho: r }
            | Pointwise::SmoothL1 { beta: r }
            | Pointwise::HuberTorch { delta: r } => ((p - t).abs() - r as f64).abs(),
            Pointwise::HingeEmbedding { margin } if t != 1.0 => (p - margin as f64).abs(),
            Pointwise::Hinge { margin } | Pointwise::SquaredHinge { margin } if t != 0.0 => {
                (p - margin as f64 / t).abs()
            }
            _ => f64::INFINITY,
        }
    }

    /// The element reference at `(p, t)` (float64 inputs, e.g. perturbed
    /// for finite differences).
    pub fn eval64(self, p: f64, t: f64) -> Elem {
        let s = p - t;
        match self {
            Pointwise::L1 => {
                let g = if s > 0.0 {
                    1.0
                } else if s < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                Elem::new(s.abs(), g, s.abs(), 1.0)
            }
            Pointwise::L2 => Elem::new(0.5 * s * s, s, 0.5 * s * s, s.abs()),
            Pointwise::Huber { rho } => {
                let rho = rho as f64;
                let a = s.abs();
                let (f, g) = if a > rho {
                    (a - 0.5 * rho, s.signum())
                } else {
                    (s * s / (2.0 * rho), s / rho)
                };
                Elem::new(f, g, f, 1.0)
            }
            Pointwise::Hinge { margin } => {
                let margin = margin as f64;
                let m = margin - p * t;
                let c = margin.abs() + (p * t).abs();
                let (f, g, other) = if m > 0.0 {
                    (m, -t, 0.0)
                } else {
                    (0.0, 0.0, -t)
                };
                let mut e = Elem::new(f, g, c, t.abs());
                if m.abs() <= 1e-6 * c {
                    e.g_alt = Some(other);
                }
                e
            }
            Pointwise::SquaredHinge { margin } => {
                let margin = margin as f64;
                let c = margin.abs() + (p * t).abs();
                let h = (margin - p * t).max(0.0);
                Elem::new(
                    h * h,
                    -2.0 * t * h,
                    h * h + 2.0 * h * c + 1e-8 * c * c,
                    2.0 * t.abs() * (h + c),
                )
            }
            Pointwise::Logistic { binary } => {
                let z = if binary { t } else { (t + 1.0) * 0.5 };
                let sp = softplus(p);
                let sg = sigmoid(p);
                Elem::new(
                    sp - p * z,
                    sg - z,
                    sp + p.abs() * (t.abs() + 1.0),
                    sg + t.abs() + 1.0,
                )
            }
            Pointwise::SigmoidBce { pos_weight } => {
                let pw = pos_weight as f64;
                let neg = 1.0 - t;
                let pos = 1.0 + (pw - 1.0) * t;
                let spn = softplus(-p);
                let sgn = sigmoid(-p);
                let k = 1.0 + t.abs() * (pw.abs() + 1.0);
                Elem::new(
                    neg * p + pos * spn,
                    neg - pos * sgn,
                    (1.0 + t.abs()) * p.abs() + k * spn,
                    1.0 + t.abs() + k * sgn,
                )
            }
            Pointwise::Bce { pos_weight } => {
                let eps = 1e-12f32 as f64;
                let pt = pos_weight as f64 * t;
                let nt = 1.0 - t;
                let on = p + eps;
                let off = (1.0 - p) + eps;
                Elem::new(
                    -(pt * on.ln() + nt * off.ln()),
                    nt / off - pt / on,
                    // ln of a sum rounded in f32 carries an absolute error of about ε.
                    pt.abs() * (on.ln().abs() + 1.0) + (1.0 + t.abs()) * (off.ln().abs() + 1.0),
                    (pt / on).abs() + (1.0 + t.abs()) / off,
                )
            }
            Pointwise::PoissonNll {
                log_input,
                full,
                eps,
            } => {
                let mut e = if log_input {
                    let ep = p.exp();
                    Elem::new(ep - t * p, ep - t, ep + (t * p).abs(), ep + t.abs())
                } else {
                    let q = p + eps as f64;
                    Elem::new(
                        p - t * q.ln(),
                        1.0 - t / q,
                        p.abs() + t.abs() * (q.ln().abs() + 1.0),
                        1.0 + (t / q).abs(),
                    )
                };
                if full && t > 1.0 {
                    let lt = t.ln();
                    let st = t * lt - t + 0.5 * (2.0 * core::f64::consts::PI * t).ln();
                    e.f += st;
                    e.f_scale += (t * lt).abs() + t + 0.5 * lt.abs() + 1.0;
                }
                e
            }
            Pointwise::LogCosh => {
                let a = s.abs();
                let f = a + (-2.0 * a).exp().ln_1p() - core::f64::consts::LN_2;
                Elem::new(f, s.tanh(), a + 1.0, 1.0)
            }
            Pointwise::Mse => Elem::new(s * s, 2.0 * s, s * s, 2.0 * s.abs()),
            Pointwise::SmoothL1 { beta: 0.0 } => Pointwise::L1.eval64(p, t),
            Pointwise::SmoothL1 { beta } => Pointwise::Huber { rho: beta }.eval64(p, t),
            Pointwise::HuberTorch { delta } => {
                let d = delta as f64;
                let a = s.abs();
                let (f, g) = if a <= d {
                    (0.5 * s * s, s)
                } else {
                    (d * (a - 0.5 * d), d * s.signum())
                };
                Elem::new(f, g, f, d)
            }
            Pointwise::SoftMargin => {
                let z = -t * p;
                let f = softplus(z);
                Elem::new(f, -t * sigmoid(z), f + z.abs(), t.abs())
            }
            Pointwise::HingeEmbedding { margin } => {
                let m = margin as f64 - p;
                let (neg, pos) = (t != 1.0, t != -1.0);
                let f = if neg { m.max(0.0) } else { 0.0 } + if pos { p } else { 0.0 };
                let slope = if pos { 1.0 } else { 0.0 };
                let g = if neg && m > 0.0 { slope - 1.0 } else { slope };
                let c = margin.abs() as f64 + p.abs();
                let mut e = Elem::new(f, g, c, 1.0);
                if neg && m.abs() <= 1e-6 * c {
                    e.g_alt = Some(if m > 0.0 { slope } else { slope - 1.0 });
                }
                e
            }
            Pointwise::SigmoidFocal { alpha, gamma } => {
                let (alpha, gamma) = (alpha as f64, gamma as f64);
                let (q, qn) = (sigmoid(p), sigmoid(-p));
                let ce = (1.0 - t) * softplus(p) + t * softplus(-p);
                let m = (1.0 - t) * q + t * qn;
                let mg = if gamma == 0.0 { 1.0 } else { m.powf(gamma) };
                // d m^γ / dp = γ m^(γ-1) · q qn (1 - 2t); 0 where m = 0 (γ > 0).
                let dmg = if gamma == 0.0 || m == 0.0 {
                    0.0
                } else {
                    gamma * m.powf(gamma - 1.0) * q * qn * (1.0 - 2.0 * t)
                };
                let a = if alpha < 0.0 {
                    1.0
                } else {
                    alpha * t + (1.0 - alpha) * (1.0 - t)
                };
                let f = a * ce * mg;
                let g = a * ((q - t) * mg + ce * dmg);
                // The f32 side rounds p (through ce and σ), and m^γ (through
                // exp(γ ln m)) with a relative error of about γ |ln m| ulp.
                let pow_cond = if m > 0.0 {
                    1.0 + gamma * m.ln().abs()
                } else {
                    1.0
                };
                let ce_scale = ce + (1.0 + t.abs()) * (p.abs() + 1.0);
                Elem::new(
                    f,
                    g,
                    a.abs() * mg * ce_scale * pow_cond,
                    a.abs()
                        * (mg + gamma * mg.max(dmg.abs()) * ce_scale)
                        * (1.0 + t.abs())
                        * pow_cond,
                )
            }
        }
    }
}

/// Sigmoid BCE with one `pos_weight` per class: rows of `pos_weight.len()`
/// elements, element `j` with `pos_weight[j]`; the per-sample losses
/// (weighted row means) and the gradient of their sum.
pub fn sigmoid_bce_per_class(
    pred: &[f64],
    target: &[f64],
    pos_weight: &[f32],
    weight: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>) {
    let dim = pos_weight.len();
    let mut per = vec![0.0; pred.len() / dim];
    let mut grad = vec![0.0; pred.len()];
    for (k, (&p, &t)) in pred.iter().zip(target).enumerate() {
        let (i, j) = (k / dim, k % dim);
        let w = weight.map_or(1.0, |w| w[i]) / dim as f64;
        let e = Pointwise::SigmoidBce {
            pos_weight: pos_weight[j],
        }
        .eval64(p, t);
        per[i] += w * e.f;
        grad[k] = w * e.g;
    }
    (per, grad)
}

/// Per-sample losses: the mean over each sample's `dim` values, weighted.
pub fn per_sample(
    loss: Pointwise,
    pred: &[f64],
    target: &[f64],
    dim: usize,
    weight: Option<&[f64]>,
) -> Vec<f64> {
    pred.chunks(dim)
        .zip(target.chunks(dim))
        .enumerate()
        .map(|(i, (p, t))| {
            let w = weight.map_or(1.0, |w| w[i]);
            w * p.iter().zip(t).map(|(&p, &t)| loss.f(p, t)).sum::<f64>() / dim as f64
        })
        .collect()
}

/// The reduced loss (`mean` divides by the number of samples).
pub fn reduced(
    loss: Pointwise,
    pred: &[f64],
    target: &[f64],
    dim: usize,
    weight: Option<&[f64]>,
    mean: bool,
) -> f64 {
    let per = per_sample(loss, pred, target, dim, weight);
    let n = per.len() as f64;
    per.iter().sum::<f64>() / if mean { n } else { 1.0 }
}

/// The analytic gradient of the reduced loss.
pub fn gradient(
    loss: Pointwise,
    pred: &[f64],
    target: &[f64],
    dim: usize,
    weight: Option<&[f64]>,
    mean: bool,
) -> Vec<f64> {
    let n = (pred.len() / dim) as f64;
    pred.iter()
        .zip(target)
        .enumerate()
        .map(|(k, (&p, &t))| {
            let w = weight.map_or(1.0, |w| w[k / dim]);
            w * loss.df(p, t) / dim as f64 / if mean { n } else { 1.0 }
        })
        .collect()
}
