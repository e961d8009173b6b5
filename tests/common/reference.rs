//! A plain float64 scalar reference for the pointwise losses, written from
//! SPEC.md independently of the crate's lane code.

/// The pointwise losses and their parameters, as the reference sees them.
#[derive(Clone, Copy, Debug)]
pub enum Loss {
    L1,
    L2,
    Huber(f64),
    Hinge(f64),
    SquaredHinge(f64),
    /// `true` for signed labels.
    Logistic(bool),
    SigmoidBce(f64),
    Bce(f64),
    /// (log_input, full)
    PoissonNll(bool, bool),
    LogCosh,
}

fn sp(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigma(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn sign(s: f64) -> f64 {
    if s > 0.0 {
        1.0
    } else if s < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Loss {
    /// Element loss `f(p, t)`.
    pub fn f(self, p: f64, t: f64) -> f64 {
        let s = p - t;
        match self {
            Loss::L1 => s.abs(),
            Loss::L2 => 0.5 * s * s,
            Loss::Huber(rho) => {
                if s.abs() > rho {
                    s.abs() - rho / 2.0
                } else {
                    s * s / (2.0 * rho)
                }
            }
            Loss::Hinge(m) => (m - p * t).max(0.0),
            Loss::SquaredHinge(m) => (m - p * t).max(0.0).powi(2),
            Loss::Logistic(signed) => {
                let z = if signed { (t + 1.0) / 2.0 } else { t };
                p.max(0.0) - p * z + (-p.abs()).exp().ln_1p()
            }
            Loss::SigmoidBce(pw) => (1.0 - t) * p + (1.0 + (pw - 1.0) * t) * sp(-p),
            Loss::Bce(pw) => -(pw * t * (p + 1e-12).ln() + (1.0 - t) * (1.0 - p + 1e-12).ln()),
            Loss::PoissonNll(log_input, full) => {
                let base = if log_input {
                    p.exp() - t * p
                } else {
                    p - t * (p + 1e-8).ln()
                };
                let stirling = if full && t > 1.0 {
                    t * t.ln() - t + 0.5 * (2.0 * std::f64::consts::PI * t).ln()
                } else {
                    0.0
                };
                base + stirling
            }
            Loss::LogCosh => s.cosh().ln(),
        }
    }

    /// Derivative `df/dp`.
    pub fn df(self, p: f64, t: f64) -> f64 {
        let s = p - t;
        match self {
            Loss::L1 => sign(s),
            Loss::L2 => s,
            Loss::Huber(rho) => {
                if s.abs() > rho {
                    sign(s)
                } else {
                    s / rho
                }
            }
            Loss::Hinge(m) => {
                if m - p * t > 0.0 {
                    -t
                } else {
                    0.0
                }
            }
            Loss::SquaredHinge(m) => -2.0 * t * (m - p * t).max(0.0),
            Loss::Logistic(signed) => {
                let z = if signed { (t + 1.0) / 2.0 } else { t };
                sigma(p) - z
            }
            Loss::SigmoidBce(pw) => (1.0 - t) - (1.0 + (pw - 1.0) * t) * sigma(-p),
            Loss::Bce(pw) => -(pw * t / (p + 1e-12) - (1.0 - t) / (1.0 - p + 1e-12)),
            Loss::PoissonNll(log_input, _) => {
                if log_input {
                    p.exp() - t
                } else {
                    1.0 - t / (p + 1e-8)
                }
            }
            Loss::LogCosh => s.tanh(),
        }
    }

    /// Distance from `p` to the nearest point where `f` is not smooth in `p`
    /// (infinite for smooth losses).
    pub fn kink_distance(self, p: f64, t: f64) -> f64 {
        match self {
            Loss::L1 => (p - t).abs(),
            Loss::Huber(rho) => ((p - t).abs() - rho).abs(),
            Loss::Hinge(m) | Loss::SquaredHinge(m) if t != 0.0 => (p - m / t).abs(),
            _ => f64::INFINITY,
        }
    }
}

/// Per-sample losses: the mean over each sample's `dim` values, weighted.
pub fn per_sample(
    loss: Loss,
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
    loss: Loss,
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
    loss: Loss,
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
