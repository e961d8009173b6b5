#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! A walk through the losses, following MXNet Gluon's tutorial on loss
//! functions, done with loss-kernels.
//!
//! `cargo run --release --example tour`

mod plot;

use loss_kernels::lane;
use loss_kernels::pointwise::{self, Labels};
use loss_kernels::{Error, Reduction};
use std::path::{Path, PathBuf};

fn main() -> Result<(), Error> {
    println!("loss-kernels tour (SIMD level: {})\n", lane::level());
    basic_usage()?;
    linear_layer_step()?;
    loss_table()?;
    row_examples()?;
    pytorch_examples()?;
    composed_step()?;
    ctc_example()?;
    plots()?;
    Ok(())
}

/// "Basic usages": the L2 loss of ones against twos, then with weights.
fn basic_usage() -> Result<(), Error> {
    println!("== Basic usage ==");
    let x = [1.0f32; 2];
    let y = [2.0f32; 2];
    let l2 = pointwise::L2::new();
    let mut per_sample = [0.0f32; 2];
    l2.per_sample(&x, &y, &mut per_sample)?;
    println!("L2Loss()(ones(2), 2*ones(2))            = {per_sample:?}   (0.5 * (x - y)^2)");
    l2.sample_weight(&[1.0, 2.0])
        .per_sample(&x, &y, &mut per_sample)?;
    println!("... with sample weights [1, 2]          = {per_sample:?}");
    let mean = l2.value(&x, &y, Reduction::Mean)?;
    println!("reduced with Reduction::Mean             = {mean}\n");
    Ok(())
}

/// Coming from PyTorch: the same inputs through PyTorch's definitions
/// (`F.mse_loss` is twice Gluon's L2, `F.huber_loss(delta)` is `delta` times
/// `smooth_l1_loss(beta = delta)`), torchvision's focal loss, Gaussian NLL
/// and margin ranking.
fn pytorch_examples() -> Result<(), Error> {
    use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
    println!("\n== Coming from PyTorch ==");
    let (x, y) = ([1.0f32; 2], [2.0f32; 2]);
    let mse = pointwise::Mse::new().value(&x, &y, Reduction::Mean)?;
    let l2 = pointwise::L2::new().value(&x, &y, Reduction::Mean)?;
    println!("F.mse_loss(ones(2), 2*ones(2))           = {mse}   (L2Loss gives {l2})");
    let (p, t) = ([5.0f32], [0.0f32]);
    let huber = pointwise::HuberTorch::new(2.0)?.value(&p, &t, Reduction::Sum)?;
    let smooth = pointwise::SmoothL1::new(2.0)?.value(&p, &t, Reduction::Sum)?;
    let l1 = pointwise::SmoothL1::new(0.0)?.value(&p, &t, Reduction::Sum)?;
    println!(
        "F.huber_loss(5, 0, delta=2)              = {huber}   (smooth_l1, beta=2: {smooth}; beta=0: {l1})"
    );
    let logits = [3.0f32, -1.0, 0.5, -4.0];
    let labels = [1.0f32, 0.0, 1.0, 0.0];
    let mut grad = [0.0f32; 4];
    let focal = pointwise::SigmoidFocal::new(0.25, 2.0)?.value_and_grad(
        &logits,
        &labels,
        Reduction::Sum,
        &mut grad,
    )?;
    println!("sigmoid_focal_loss({logits:?}, {labels:?}).sum() = {focal:.6}");
    println!("  d/d logits = {grad:?}");
    let soft = pointwise::SoftMargin::new().value(&[-100.0], &[1.0], Reduction::Sum)?;
    println!(
        "F.soft_margin_loss(-100, 1)              = {soft}   (PyTorch's log1p(exp(100)) is inf)"
    );
    let (mean, target, var) = ([0.5f32, 2.0], [0.0f32, 1.0], [1.0f32, 0.25]);
    let (mut gp, mut gv) = ([0.0f32; 2], [0.0f32; 2]);
    let nll = GaussianNll::new().value_and_grad(
        &mean,
        &target,
        &var,
        Reduction::Mean,
        GaussianGrads {
            pred: &mut gp,
            var: &mut gv,
        },
    )?;
    println!("F.gaussian_nll_loss({mean:?}, {target:?}, {var:?}) = {nll:.6}");
    println!("  d/d input = {gp:?}, d/d var = {gv:?}");
    let (x1, x2, t) = ([0.8f32, 0.2], [0.5f32, 0.6], [1.0f32, 1.0]);
    let (mut g1, mut g2) = ([0.0f32; 2], [0.0f32; 2]);
    let rank = MarginRanking::new(0.1)?.value_and_grad(
        &x1,
        &x2,
        &t,
        Reduction::Mean,
        RankingGrads {
            x1: &mut g1,
            x2: &mut g2,
        },
    )?;
    println!("F.margin_ranking_loss({x1:?}, {x2:?}, {t:?}, margin=0.1) = {rank:.6}");
    println!("  d/d x1 = {g1:?}, d/d x2 = {g2:?}");
    Ok(())
}

/// "Compute gradients": a 4-input linear layer on a 2-sample batch, the fused
/// L2 value + gradient, and the gradient back-propagated to the weights.
fn linear_layer_step() -> Result<(), Error> {
    println!("== Gradient through a linear layer (Dense(1) on a 2x4 batch) ==");
    // Fixed "random uniform" inputs and initial weights, so the run is repeatable.
    let x = [[0.55f32, 0.72, 0.60, 0.54], [0.42, 0.65, 0.44, 0.89]];
    let y = [2.0f32; 2];
    let mut w = [0.0123f32, -0.0456, 0.0789, -0.0111];
    let mut b = 0.0f32;
    let l2 = pointwise::L2::new();
    let lr = 0.2;
    for step in 0..5 {
        // forward: y_hat = X w + b
        let y_hat: Vec<f32> = x
            .iter()
            .map(|row| row.iter().zip(&w).map(|(a, c)| a * c).sum::<f32>() + b)
            .collect();
        // fused loss + gradient w.r.t. y_hat (Sum, like `l.backward()` on the per-sample losses)
        let mut d_yhat = [0.0f32; 2];
        let mut per_sample = [0.0f32; 2];
        let total = l2.per_sample_and_grad(&y_hat, &y, &mut per_sample, &mut d_yhat)?;
        // back-propagate: dL/dw = sum_i dL/dy_hat_i * x_i, dL/db = sum_i dL/dy_hat_i
        let mut d_w = [0.0f32; 4];
        for (row, g) in x.iter().zip(d_yhat) {
            for (dw, xv) in d_w.iter_mut().zip(row) {
                *dw += g * xv;
            }
        }
        let d_b: f32 = d_yhat.iter().sum();
        if step == 0 {
            println!("per-sample loss l          = {per_sample:?}");
            println!("dl/dy_hat                  = {d_yhat:?}");
            println!("net.weight.grad()          = {d_w:?}");
            println!("net.bias.grad()            = {d_b}");
        }
        println!("step {step}: loss sum = {total:.6}");
        for (wv, g) in w.iter_mut().zip(d_w) {
            *wv -= lr * g;
        }
        b -= lr * d_b;
    }
    println!();
    Ok(())
}

/// A per-sample loss: `(pred, target, out)`.
type PerSample<'a> = &'a dyn Fn(&[f32], &[f32], &mut [f32]) -> Result<(), Error>;

/// The tutorial plots each loss against a prediction sweep; here a table of
/// values (label 0 for regression losses, label 1 for classification).
fn loss_table() -> Result<(), Error> {
    println!("== Every loss at a few points ==");
    let xs = [-2.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0];
    let probs = [0.05f32, 0.2, 0.4, 0.5, 0.6, 0.8, 0.95];
    print!("{:<34}", "loss (label)");
    for x in xs {
        print!("{x:>9}");
    }
    println!();
    let row = |name: &str, values: &[f32]| {
        print!("{name:<34}");
        for v in values {
            print!("{v:>9.4}");
        }
        println!();
    };
    let eval = |f: PerSample, pred: &[f32], label: f32| {
        let target = vec![label; pred.len()];
        let mut out = vec![0.0f32; pred.len()];
        f(pred, &target, &mut out).map(|()| out)
    };
    row(
        "L1 (0)",
        &eval(
            &|p, t, o| pointwise::L1::new().per_sample(p, t, o),
            &xs,
            0.0,
        )?,
    );
    row(
        "L2 (0)",
        &eval(
            &|p, t, o| pointwise::L2::new().per_sample(p, t, o),
            &xs,
            0.0,
        )?,
    );
    row(
        "Huber rho=1 (0)",
        &eval(
            &|p, t, o| pointwise::Huber::new(1.0)?.per_sample(p, t, o),
            &xs,
            0.0,
        )?,
    );
    row(
        "LogCosh (0)",
        &eval(
            &|p, t, o| pointwise::LogCosh::new().per_sample(p, t, o),
            &xs,
            0.0,
        )?,
    );
    row(
        "Hinge margin=1 (1)",
        &eval(
            &|p, t, o| pointwise::Hinge::new(1.0)?.per_sample(p, t, o),
            &xs,
            1.0,
        )?,
    );
    row(
        "SquaredHinge margin=1 (1)",
        &eval(
            &|p, t, o| pointwise::SquaredHinge::new(1.0)?.per_sample(p, t, o),
            &xs,
            1.0,
        )?,
    );
    row(
        "Logistic signed (1)",
        &eval(
            &|p, t, o| pointwise::Logistic::new(Labels::Signed).per_sample(p, t, o),
            &xs,
            1.0,
        )?,
    );
    row(
        "SigmoidBCE (1)",
        &eval(
            &|p, t, o| pointwise::SigmoidBce::new(1.0)?.per_sample(p, t, o),
            &xs,
            1.0,
        )?,
    );
    row(
        "SigmoidBCE pos_weight=3 (1)",
        &eval(
            &|p, t, o| pointwise::SigmoidBce::new(3.0)?.per_sample(p, t, o),
            &xs,
            1.0,
        )?,
    );
    row(
        "PoissonNLL log_input (1)",
        &eval(
            &|p, t, o| pointwise::PoissonNll::new(true, false).per_sample(p, t, o),
            &xs,
            1.0,
        )?,
    );
    print!("{:<34}", "BCE on probabilities p =");
    for p in probs {
        print!("{p:>9}");
    }
    println!();
    row(
        "BCE (1)",
        &eval(
            &|p, t, o| pointwise::Bce::new(1.0)?.per_sample(p, t, o),
            &probs,
            1.0,
        )?,
    );
    Ok(())
}

/// A per-element loss and gradient: `(pred, target, out, grad)`.
type Curve<'a> = &'a dyn Fn(&[f32], &[f32], &mut [f32], &mut [f32]) -> Result<f32, Error>;

/// "Loss functions": the tutorial's plots of each regression loss against
/// label 0 and each classification loss against label 1, prediction
/// -5..5 (Poisson NLL: -3..2, where e^p does not flatten its shape), with
/// the derivative on its own axis. Written as SVG under docs/plots.
fn plots() -> Result<(), Error> {
    println!("\n== Plots (prediction -5..5; Poisson NLL -3..2) ==");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/plots");
    std::fs::create_dir_all(&dir).expect("create docs/plots");
    let sweep = |from: f32, to: f32| -> Vec<f32> {
        (0..=100)
            .map(|i| from + (to - from) * i as f32 / 100.0)
            .collect()
    };
    let curves: [(&str, &str, f32, Curve); 9] = [
        ("l1", "L1Loss (label 0)", 0.0, &|p, t, o, g| {
            pointwise::L1::new().per_sample_and_grad(p, t, o, g)
        }),
        ("l2", "L2Loss (label 0)", 0.0, &|p, t, o, g| {
            pointwise::L2::new().per_sample_and_grad(p, t, o, g)
        }),
        ("huber", "HuberLoss rho=1 (label 0)", 0.0, &|p, t, o, g| {
            pointwise::Huber::new(1.0)?.per_sample_and_grad(p, t, o, g)
        }),
        ("log_cosh", "LogCosh (label 0)", 0.0, &|p, t, o, g| {
            pointwise::LogCosh::new().per_sample_and_grad(p, t, o, g)
        }),
        (
            "sigmoid_bce",
            "SigmoidBinaryCrossEntropyLoss (label 1)",
            1.0,
            &|p, t, o, g| pointwise::SigmoidBce::new(1.0)?.per_sample_and_grad(p, t, o, g),
        ),
        (
            "hinge",
            "HingeLoss margin=1 (label 1)",
            1.0,
            &|p, t, o, g| pointwise::Hinge::new(1.0)?.per_sample_and_grad(p, t, o, g),
        ),
        (
            "squared_hinge",
            "SquaredHingeLoss margin=1 (label 1)",
            1.0,
            &|p, t, o, g| pointwise::SquaredHinge::new(1.0)?.per_sample_and_grad(p, t, o, g),
        ),
        ("logistic", "LogisticLoss (label 1)", 1.0, &|p, t, o, g| {
            pointwise::Logistic::new(Labels::Signed).per_sample_and_grad(p, t, o, g)
        }),
        (
            "poisson_nll",
            "PoissonNLLLoss log_input (label 1)",
            1.0,
            &|p, t, o, g| pointwise::PoissonNll::new(true, false).per_sample_and_grad(p, t, o, g),
        ),
    ];
    for (file, title, label, curve) in curves {
        // e^p dominates log-input Poisson NLL past p = 2: e^5 = 148 would
        // flatten the minimum at p = ln t = 0 into the axis.
        let x = if file == "poisson_nll" {
            sweep(-3.0, 2.0)
        } else {
            sweep(-5.0, 5.0)
        };
        let target = vec![label; x.len()];
        let (mut loss, mut grad) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
        curve(&x, &target, &mut loss, &mut grad)?;
        let path = dir.join(format!("{file}.svg"));
        plot::loss_and_gradient(&path, title, &x, &loss, &grad).expect("plot");
        println!("wrote {}", shown(&path));
    }
    Ok(())
}

/// `path` relative to the crate root, for printing.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// "CTC Loss": a 4-step sequence over {blank, a, b} scored against "ab",
/// then a batch with an infeasible label, with and without `zero_infinity`.
fn ctc_example() -> Result<(), Error> {
    use loss_kernels::ctc::{self, Activations, Ctc, Dims, Labels};
    println!("\n== CTC ==");
    // T = 4 steps, N = 1 sequence, C = 3 classes (0 = blank, 1 = 'a', 2 = 'b').
    let logits = [
        2.0, 1.0, 0.1, //
        0.5, 2.0, 0.3, //
        1.0, 0.2, 1.5, //
        2.0, 0.1, 1.0,
    ];
    let acts = Activations::time_major(
        &logits,
        Dims {
            steps: 4,
            batch: 1,
            classes: 3,
        },
        &[4],
    );
    let labels = Labels::Padded {
        labels: &[1, 2],
        max_len: 2,
        lengths: &[2],
    };
    let mut workspace = vec![0.0f32; ctc::workspace_len(4, 2)];
    let mut grad = [0.0f32; 12];
    let loss =
        Ctc::new(0).value_and_grad(&acts, &labels, Reduction::Sum, &mut workspace, &mut grad)?;
    println!(
        "label \"ab\" over 4 steps: loss = -ln p(ab|x) = {loss:.6}, p = {:.6}",
        (-loss).exp()
    );
    println!(
        "workspace: {} floats (ctc::workspace_len(4, 2))",
        workspace.len()
    );
    for (t, row) in grad.chunks(3).enumerate() {
        println!(
            "  step {t}: d loss / d logits = [{:+.4}, {:+.4}, {:+.4}]",
            row[0], row[1], row[2]
        );
    }
    // Two sequences, of 3 and 2 steps: "ab" fits, "aa" needs a blank between
    // the repeats (3 steps) and is infeasible in 2.
    let logits = [0.0f32; 3 * 2 * 3];
    let acts = Activations::time_major(
        &logits,
        Dims {
            steps: 3,
            batch: 2,
            classes: 3,
        },
        &[3, 2],
    );
    let labels = Labels::Padded {
        labels: &[1, 2, 1, 1],
        max_len: 2,
        lengths: &[2, 2],
    };
    let mut out = [0.0f32; 2];
    Ctc::new(0).per_sample(&acts, &labels, &mut workspace, &mut out)?;
    println!("per-sequence losses for [\"ab\" in 3 steps, \"aa\" in 2], uniform: {out:?}");
    Ctc::new(0)
        .zero_infinity(true)
        .per_sample(&acts, &labels, &mut workspace, &mut out)?;
    println!("... with zero_infinity:                                 {out:?}");
    Ok(())
}

/// One composed training step: two losses on the same logits, the second
/// scaled, accumulated into one gradient in one pass each (no extra buffer,
/// no second pass over the gradient): cross-entropy against the labels plus
/// 0.5 × the KL divergence to a teacher's distribution (distillation).
fn composed_step() -> Result<(), Error> {
    use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};
    println!("\n== A composed step: cross-entropy + 0.5 * KL(teacher), one gradient ==");
    let logits = [1.0f32, 2.0, 0.5, -1.0, 0.0, 3.0];
    let labels = [1u32, 2];
    let teacher = [0.2f32, 0.7, 0.1, 0.05, 0.15, 0.8];
    let ce = SoftmaxCrossEntropy::new(3)?;
    let kl = KlDivergence::new(3)?.input(Input::Logits);
    let mut grad = [0.0f32; 6];
    let l_ce = ce.value_and_accumulate_grad(
        &logits,
        Labels::Sparse(&labels),
        Reduction::Mean,
        1.0,
        &mut grad,
    )?;
    let l_kl = kl.value_and_accumulate_grad(&logits, &teacher, Reduction::Mean, 0.5, &mut grad)?;
    println!(
        "loss = ce + 0.5 kl = {l_ce:.6} + 0.5 * {l_kl:.6} = {:.6}",
        l_ce + 0.5 * l_kl
    );
    println!("d loss / d logits (accumulated) = {grad:?}");
    // The same gradient the long way: two buffers and a pass to add them.
    let (mut g_ce, mut g_kl) = ([0.0f32; 6], [0.0f32; 6]);
    ce.value_and_grad(&logits, Labels::Sparse(&labels), Reduction::Mean, &mut g_ce)?;
    kl.value_and_grad(&logits, &teacher, Reduction::Mean, &mut g_kl)?;
    let worst = grad
        .iter()
        .zip(g_ce.iter().zip(&g_kl))
        .map(|(g, (a, b))| (g - (a + 0.5 * b)).abs())
        .fold(0.0f32, f32::max);
    println!("largest difference from g_ce + 0.5 g_kl computed separately: {worst:e}");
    assert!(worst < 1e-6);
    Ok(())
}

/// "Cross Entropy Loss with Softmax", "Kullback-Leibler Divergence Loss" and
/// "Triplet Loss" with their numbers.
fn row_examples() -> Result<(), Error> {
    use loss_kernels::embedding::{Distance, Triplet, TripletGrads};
    use loss_kernels::softmax::{self, Input, KlDivergence, Labels, SoftmaxCrossEntropy};
    println!("\n== Softmax cross-entropy (the tutorial's example) ==");
    let x = [1.0f32, 10.0, 8.0, 2.0];
    let y = [0u32, 1];
    let mut per_sample = [0.0f32; 2];
    let ce = SoftmaxCrossEntropy::new(2)?;
    ce.per_sample(&x, Labels::Sparse(&y), &mut per_sample)?;
    println!("SoftmaxCrossEntropyLoss()([[1, 10], [8, 2]], [0, 1]) = {per_sample:?}");
    let mut grad = [0.0f32; 4];
    let mean = ce.value_and_grad(&x, Labels::Sparse(&y), Reduction::Mean, &mut grad)?;
    println!("mean = {mean:.6}, d mean / d logits = {grad:?}");
    let smoothed = SoftmaxCrossEntropy::new(2)?.label_smoothing(0.1)?.value(
        &x,
        Labels::Sparse(&y),
        Reduction::Mean,
    )?;
    println!("with label_smoothing 0.1: mean = {smoothed:.6}");
    let mut lsm = [0.0f32; 4];
    softmax::log_softmax(&x, 2, &mut lsm)?;
    println!("log_softmax rows = {lsm:?}");

    println!("\n== KL divergence ==");
    // target distribution t and a prediction given as logits
    let t = [0.7f32, 0.2, 0.1];
    let logits = [2.0f32, 0.5, 0.1];
    let mut grad = [0.0f32; 3];
    let kl = KlDivergence::new(3)?.input(Input::Logits).value_and_grad(
        &logits,
        &t,
        Reduction::Sum,
        &mut grad,
    )?;
    println!("KL(t || softmax(x)) for t = {t:?}, x = {logits:?}: {kl:.6}");
    println!("d KL / d x = {grad:?}   (softmax(x) - t)");

    println!("\n== Triplet ==");
    let anchor = [0.0f32, 0.0, 1.0, 1.0];
    let positive = [0.1f32, 0.0, 1.0, 0.8];
    let negative = [0.5f32, 0.0, 1.0, 1.2];
    let (mut ga, mut gp, mut gn) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 4]);
    let grads = TripletGrads {
        anchor: &mut ga,
        positive: &mut gp,
        negative: &mut gn,
    };
    let v = Triplet::new(2)?.margin(1.0)?.value_and_grad(
        &anchor,
        &positive,
        &negative,
        Reduction::Sum,
        grads,
    )?;
    println!("TripletLoss(margin 1), 2 samples of dim 2: sum = {v:.6}");
    println!("  d/d anchor = {ga:?}\n  d/d positive = {gp:?}\n  d/d negative = {gn:?}");
    let e = Triplet::new(2)?
        .margin(1.0)?
        .distance(Distance::Euclidean)
        .value(&anchor, &positive, &negative, Reduction::Sum)?;
    println!("with PyTorch's Euclidean distance: sum = {e:.6}");
    Ok(())
}
