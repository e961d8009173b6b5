//! Pointwise family: every loss (the ten of Gluon's set, PyTorch's MSE,
//! smooth L1, Huber, soft margin, hinge embedding, torchvision's focal loss,
//! Poisson NLL with `eps`, sigmoid BCE with per-class `pos_weight`), every
//! entry point (`value`, `value_and_grad`, `per_sample`,
//! `per_sample_and_grad`, both reductions, with and without `dim` and
//! `sample_weight`), against the float64 reference; malformed lengths,
//! `dim` and parameters must give `Err`.
//!
//! Input layout (see `fuzz_support::input` for the float encoding):
//! `loss % 18, flags, n % 65, dim % 33, corrupt, delta, param, [extra..], pred.., target.., weight..`
//! with flags bit 0 = sample weights, bit 1 = binary labels (logistic),
//! bit 2 = log_input, bit 3 = full (Poisson); `corrupt % 8` picks the
//! argument whose length is changed by `delta` (0 pred, 1 target,
//! 2 sample_weight, 3 grad, 4 out, else none). Losses 0-9 are Gluon's
//! (L1, L2, Huber, hinge, squared hinge, logistic, sigmoid BCE, BCE,
//! Poisson NLL, log-cosh), 10 MSE, 11 smooth L1 (`beta = param`), 12
//! PyTorch Huber (`delta = param`), 13 soft margin, 14 hinge embedding
//! (`margin = param`), 15 sigmoid focal (`alpha = param`, extra: `gamma`),
//! 16 Poisson NLL without log input with `eps = param`, 17 sigmoid BCE with
//! per-class `pos_weight` (extra: `dim` floats).

#![no_main]

use fuzz_support::check::{
    Faults, assert_close, assert_same, checkable, in_domain, summation_slack,
};
use fuzz_support::input::{Input, adjust};
use libfuzzer_sys::fuzz_target;
use loss_kernels::pointwise::{self, ElementLoss, Labels, Pointwise, SigmoidBcePerClass};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::pointwise::{Elem, Pointwise as Ref};

/// One decoded case.
struct Case {
    reference: Ref,
    dim: usize,
    pred: Vec<f32>,
    target: Vec<f32>,
    weight: Option<Vec<f32>>,
    grad_len: usize,
    out_len: usize,
    /// Per-class `pos_weight` (loss 17): element `k` uses `[k % dim]`.
    pos_weight: Option<Vec<f32>>,
}

impl Case {
    /// The reference of element `k`.
    fn reference_at(&self, k: usize) -> Ref {
        match &self.pos_weight {
            Some(pw) => Ref::SigmoidBce {
                pos_weight: pw[k % self.dim],
            },
            None => self.reference,
        }
    }
}

/// The four entry points of a pointwise-shaped loss.
trait Entries {
    fn value(&self, p: &[f32], t: &[f32], r: Reduction) -> Result<f32, Error>;
    fn value_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        r: Reduction,
        g: &mut [f32],
    ) -> Result<f32, Error>;
    fn per_sample(&self, p: &[f32], t: &[f32], out: &mut [f32]) -> Result<(), Error>;
    fn per_sample_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        out: &mut [f32],
        g: &mut [f32],
    ) -> Result<f32, Error>;
}

/// Implements [`Entries`] by forwarding to the type's own methods.
macro_rules! entries {
    ($ty:ty $(, $gen:ident: $bound:path)?) => {
        impl<$($gen: $bound)?> Entries for $ty {
            fn value(&self, p: &[f32], t: &[f32], r: Reduction) -> Result<f32, Error> {
                <$ty>::value(self, p, t, r)
            }
            fn value_and_grad(
                &self,
                p: &[f32],
                t: &[f32],
                r: Reduction,
                g: &mut [f32],
            ) -> Result<f32, Error> {
                <$ty>::value_and_grad(self, p, t, r, g)
            }
            fn per_sample(&self, p: &[f32], t: &[f32], out: &mut [f32]) -> Result<(), Error> {
                <$ty>::per_sample(self, p, t, out)
            }
            fn per_sample_and_grad(
                &self,
                p: &[f32],
                t: &[f32],
                out: &mut [f32],
                g: &mut [f32],
            ) -> Result<f32, Error> {
                <$ty>::per_sample_and_grad(self, p, t, out, g)
            }
        }
    };
}
entries!(Pointwise<'_, F>, F: ElementLoss);
entries!(SigmoidBcePerClass<'_>);

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let kind = input.byte() % 18;
    let flags = input.byte();
    let n = input.upto(64);
    let dim = input.upto(32);
    let corrupt = input.byte() % 8;
    let delta = input.delta();
    let param = input.float();
    let gamma = if kind == 15 { input.float() } else { 2.0 };
    let pos_weight = (kind == 17).then(|| input.floats(dim));
    let d = |which: u8| if corrupt == which { delta } else { 0 };
    let pred_len = adjust(n * dim, d(0));
    let target_len = adjust(pred_len, d(1));
    let weight_len = adjust(n, d(2));
    let case = Case {
        reference: match kind {
            0 => Ref::L1,
            1 => Ref::L2,
            2 => Ref::Huber { rho: param },
            3 => Ref::Hinge { margin: param },
            4 => Ref::SquaredHinge { margin: param },
            5 => Ref::Logistic {
                binary: flags & 2 != 0,
            },
            6 => Ref::SigmoidBce { pos_weight: param },
            7 => Ref::Bce { pos_weight: param },
            8 => Ref::PoissonNll {
                log_input: flags & 4 != 0,
                full: flags & 8 != 0,
                eps: 1e-8,
            },
            9 => Ref::LogCosh,
            10 => Ref::Mse,
            11 => Ref::SmoothL1 { beta: param },
            12 => Ref::HuberTorch { delta: param },
            13 => Ref::SoftMargin,
            14 => Ref::HingeEmbedding { margin: param },
            15 => Ref::SigmoidFocal {
                alpha: param,
                gamma,
            },
            16 => Ref::PoissonNll {
                log_input: false,
                full: flags & 8 != 0,
                eps: param,
            },
            _ => Ref::SigmoidBce { pos_weight: 1.0 },
        },
        dim,
        pred: input.floats(pred_len),
        target: input.floats(target_len),
        weight: (flags & 1 != 0).then(|| input.floats(weight_len)),
        grad_len: adjust(pred_len, d(3)),
        out_len: adjust(n, d(4)),
        pos_weight,
    };
    let finite = param.is_finite();
    if let Some(pw) = &case.pos_weight {
        run_per_class(pw, &case);
        return;
    }
    match case.reference {
        Ref::L1 => run(pointwise::L1::new(), &case),
        Ref::L2 => run(pointwise::L2::new(), &case),
        Ref::LogCosh => run(pointwise::LogCosh::new(), &case),
        Ref::Huber { rho } => {
            let r = Faults::new()
                .flag("rho", !(finite && rho >= f32::MIN_POSITIVE))
                .expect("Huber::new", pointwise::Huber::new(rho));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::Hinge { margin } => {
            let r = Faults::new()
                .flag("margin", !finite)
                .expect("Hinge::new", pointwise::Hinge::new(margin));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::SquaredHinge { margin } => {
            let r = Faults::new()
                .flag("margin", !finite)
                .expect("SquaredHinge::new", pointwise::SquaredHinge::new(margin));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::Logistic { binary } => run(
            pointwise::Logistic::new(if binary {
                Labels::Binary
            } else {
                Labels::Signed
            }),
            &case,
        ),
        Ref::SigmoidBce { pos_weight } => {
            let r = Faults::new()
                .flag("pos_weight", !(finite && pos_weight >= 0.0))
                .expect("SigmoidBce::new", pointwise::SigmoidBce::new(pos_weight));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::Bce { pos_weight } => {
            let r = Faults::new()
                .flag("pos_weight", !(finite && pos_weight >= 0.0))
                .expect("Bce::new", pointwise::Bce::new(pos_weight));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::PoissonNll {
            log_input,
            full,
            eps,
        } if kind == 16 => {
            let r = Faults::new().flag("eps", !(finite && eps > 0.0)).expect(
                "PoissonNll::eps",
                pointwise::PoissonNll::new(log_input, full).eps(eps),
            );
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::PoissonNll {
            log_input, full, ..
        } => run(pointwise::PoissonNll::new(log_input, full), &case),
        Ref::Mse => run(pointwise::Mse::new(), &case),
        Ref::SoftMargin => run(pointwise::SoftMargin::new(), &case),
        Ref::SmoothL1 { beta } => {
            let r = Faults::new()
                .flag(
                    "beta",
                    !(beta == 0.0 || (finite && beta >= f32::MIN_POSITIVE)),
                )
                .expect("SmoothL1::new", pointwise::SmoothL1::new(beta));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::HuberTorch { delta } => {
            let r = Faults::new()
                .flag("delta", !(finite && delta >= f32::MIN_POSITIVE))
                .expect("HuberTorch::new", pointwise::HuberTorch::new(delta));
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::HingeEmbedding { margin } => {
            let r = Faults::new().flag("margin", !finite).expect(
                "HingeEmbedding::new",
                pointwise::HingeEmbedding::new(margin),
            );
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
        Ref::SigmoidFocal { alpha, gamma } => {
            let r = Faults::new()
                .flag("alpha", !finite)
                .flag("gamma", !(gamma.is_finite() && gamma >= 0.0))
                .expect(
                    "SigmoidFocal::new",
                    pointwise::SigmoidFocal::new(alpha, gamma),
                );
            if let Some(loss) = r {
                run(loss, &case);
            }
        }
    }
});

/// Loss 17: sigmoid BCE with per-class `pos_weight` (its row length is the
/// case's `dim`).
fn run_per_class(pw: &[f32], c: &Case) {
    let r = Faults::new()
        .flag(
            "pos_weight",
            pw.is_empty() || !pw.iter().all(|w| w.is_finite() && *w >= 0.0),
        )
        .expect("SigmoidBcePerClass::new", SigmoidBcePerClass::new(pw));
    let Some(loss) = r else { return };
    match &c.weight {
        Some(w) => calls(&loss.sample_weight(w), c),
        None => calls(&loss, c),
    }
}

/// Whether the loss's parameter lies where the differential check applies.
fn param_in_range(r: Ref) -> bool {
    match r {
        Ref::Huber { rho } => (1e-3..=1e3).contains(&rho),
        Ref::Hinge { margin } | Ref::SquaredHinge { margin } => margin.abs() <= 1e3,
        Ref::SigmoidBce { pos_weight } | Ref::Bce { pos_weight } => {
            pos_weight == 0.0 || (1e-3..=1e3).contains(&pos_weight)
        }
        Ref::SmoothL1 { beta } => beta == 0.0 || (1e-3..=1e3).contains(&beta),
        Ref::HuberTorch { delta } => (1e-3..=1e3).contains(&delta),
        Ref::HingeEmbedding { margin } => margin.abs() <= 1e3,
        Ref::SigmoidFocal { alpha, gamma } => alpha.abs() <= 1e3 && gamma <= 16.0,
        Ref::PoissonNll { eps, .. } => (1e-6..=1e3).contains(&eps),
        _ => true,
    }
}

fn run<F: ElementLoss>(loss: Pointwise<'static, F>, c: &Case) {
    let loss = loss.dim(c.dim);
    match &c.weight {
        Some(w) => calls(&loss.sample_weight(w), c),
        None => calls(&loss, c),
    }
}

/// Calls every entry point, checks the error model, then (when the inputs
/// are checkable) the values against the reference.
fn calls(loss: &dyn Entries, c: &Case) {
    let (pred, target) = (&c.pred[..], &c.target[..]);
    let rows_ok = c.dim > 0 && !pred.is_empty() && pred.len() % c.dim == 0;
    let n = if rows_ok { pred.len() / c.dim } else { 0 };
    let mut base = Faults::new();
    base.flag("dim", c.dim == 0)
        .flag("pred", c.dim > 0 && !rows_ok)
        .flag("target", target.len() != pred.len())
        .flag(
            "sample_weight",
            rows_ok && c.weight.as_ref().is_some_and(|w| w.len() != n),
        );
    let grad_bad = c.grad_len != pred.len();
    let out_bad = rows_ok && c.out_len != n;
    let with = |grad: bool, out: bool| {
        let mut f = Faults::new();
        f.flag("dim", c.dim == 0)
            .flag("pred", c.dim > 0 && !rows_ok)
            .flag("target", target.len() != pred.len())
            .flag(
                "sample_weight",
                rows_ok && c.weight.as_ref().is_some_and(|w| w.len() != n),
            )
            .flag("grad", grad && grad_bad)
            .flag("out", out && out_bad);
        f
    };

    let v_sum = base.expect("value(Sum)", loss.value(pred, target, Reduction::Sum));
    let v_mean = base.expect("value(Mean)", loss.value(pred, target, Reduction::Mean));
    let mut g_sum = vec![0.0f32; c.grad_len];
    let mut g_mean = vec![0.0f32; c.grad_len];
    let vg_sum = with(true, false).expect(
        "value_and_grad(Sum)",
        loss.value_and_grad(pred, target, Reduction::Sum, &mut g_sum),
    );
    let vg_mean = with(true, false).expect(
        "value_and_grad(Mean)",
        loss.value_and_grad(pred, target, Reduction::Mean, &mut g_mean),
    );
    let mut out = vec![0.0f32; c.out_len];
    let ps = with(false, true).expect("per_sample", loss.per_sample(pred, target, &mut out));
    let mut out2 = vec![0.0f32; c.out_len];
    let mut g2 = vec![0.0f32; c.grad_len];
    let psg = with(true, true).expect(
        "per_sample_and_grad",
        loss.per_sample_and_grad(pred, target, &mut out2, &mut g2),
    );

    // Only fully well-formed calls go on.
    let (Some(v_sum), Some(v_mean), Some(vg_sum), Some(vg_mean), Some(()), Some(psg_sum)) =
        (v_sum, v_mean, vg_sum, vg_mean, ps, psg)
    else {
        return;
    };

    // The same numbers through different entry points.
    assert_same("value(Sum) vs value_and_grad(Sum)", v_sum, vg_sum);
    assert_same("value(Mean) vs value_and_grad(Mean)", v_mean, vg_mean);
    for k in 0..pred.len() {
        assert_same(
            "grad: value_and_grad vs per_sample_and_grad",
            g_sum[k],
            g2[k],
        );
    }
    for i in 0..n {
        assert_same("per_sample vs per_sample_and_grad", out[i], out2[i]);
    }

    let dim = c.dim;
    let weight = |i: usize| c.weight.as_ref().map_or(1.0, |w| w[i]);

    // NaN in, NaN out, wherever the inputs are.
    for k in 0..pred.len() {
        let i = k / dim;
        if pred[k].is_nan() || target[k].is_nan() || weight(i).is_nan() {
            assert!(
                g_sum[k].is_nan(),
                "NaN input at {k} gave finite grad {}",
                g_sum[k]
            );
            assert!(out[i].is_nan(), "NaN input in sample {i} gave {}", out[i]);
            assert!(v_sum.is_nan(), "NaN input gave sum {v_sum}");
        }
    }

    // Finite in, no NaN out: wherever the reference's value and derivative
    // (and the terms they are made of, unless the loss saturates them, as
    // `max(0, margin - p t)` does an overflowing `p t`) are well inside the
    // f32 range, whatever the magnitudes of the inputs.
    let finite_inputs =
        pred.iter().chain(target).all(|x| x.is_finite()) && (0..n).all(|i| weight(i).is_finite());
    if finite_inputs {
        let mut sample_ok = vec![true; n];
        for (k, (&p, &t)) in pred.iter().zip(target).enumerate() {
            let r = c.reference_at(k);
            let e = r.eval(p, t);
            let w = (weight(k / dim) as f64).abs().max(1.0);
            let mut terms = vec![e.f, e.g];
            if !r.saturates() {
                terms.extend([e.f_scale, e.g_scale]);
            }
            if r.in_domain(p, t) && terms.iter().all(|&x| x.is_finite() && x.abs() * w <= 1e36) {
                assert!(
                    !g_sum[k].is_nan(),
                    "finite input (p {p:e}, t {t:e}, w {}) gave a NaN gradient",
                    weight(k / dim),
                );
            } else {
                sample_ok[k / dim] = false;
            }
        }
        for i in 0..n {
            assert!(
                !sample_ok[i] || !out[i].is_nan(),
                "finite sample {i} (p {:?}, t {:?}, w {}) gave a NaN loss",
                &pred[i * dim..(i + 1) * dim],
                &target[i * dim..(i + 1) * dim],
                weight(i)
            );
        }
    }

    // Differential check where the inputs are finite and in the domain.
    if !(0..pred.len().min(dim)).all(|k| param_in_range(c.reference_at(k))) {
        return;
    }
    if !(pred.iter().all(|&x| in_domain(x))
        && target.iter().all(|&x| in_domain(x))
        && (0..n).all(|i| in_domain(weight(i)))
        && pred
            .iter()
            .zip(target)
            .enumerate()
            .all(|(k, (&p, &t))| c.reference_at(k).in_domain(p, t)))
    {
        return;
    }
    let elems: Vec<Elem> = pred
        .iter()
        .zip(target)
        .enumerate()
        .map(|(k, (&p, &t))| c.reference_at(k).eval(p, t))
        .collect();
    let all_checkable = elems.iter().enumerate().all(|(k, e)| {
        let w = (weight(k / dim) as f64).abs().max(1.0);
        [e.f, e.g, e.f_scale, e.g_scale]
            .iter()
            .all(|&x| checkable(x) && checkable(x * w))
    });
    if !all_checkable {
        return;
    }
    let inv_dim = 1.0 / dim as f64;
    let mut per = vec![0.0f64; n];
    let mut per_scale = vec![0.0f64; n];
    let mut per_mag = vec![0.0f64; n];
    for (k, e) in elems.iter().enumerate() {
        let i = k / dim;
        let w = weight(i) as f64;
        per[i] += w * e.f * inv_dim;
        per_scale[i] += w.abs() * e.f_scale * inv_dim;
        per_mag[i] += (w * e.f * inv_dim).abs();
    }
    for i in 0..n {
        let slack = summation_slack(dim, 0, per_mag[i]);
        assert_close(
            &format!("per_sample[{i}]"),
            out[i],
            per[i],
            per_scale[i],
            slack,
        );
    }
    let sum: f64 = per.iter().sum();
    let scale: f64 = per_scale.iter().sum();
    let slack = summation_slack(pred.len(), n, per_mag.iter().sum());
    assert_close("value(Sum)", v_sum, sum, scale, slack);
    assert_close("per_sample_and_grad sum", psg_sum, sum, scale, slack);
    let nf = n as f64;
    assert_close("value(Mean)", v_mean, sum / nf, scale / nf, slack / nf);
    for (k, e) in elems.iter().enumerate() {
        let w = weight(k / dim) as f64 * inv_dim;
        let g_scale = e.g_scale * w.abs();
        let ok = |got: f32, scale_by: f64, want: f64| {
            fuzz_support::check::close(got, want * w * scale_by, g_scale * scale_by, 0.0)
        };
        let alt = |got: f32, scale_by: f64| e.g_alt.is_some_and(|a| ok(got, scale_by, a));
        for (name, got, by) in [
            ("grad Sum", g_sum[k], 1.0),
            ("grad Mean", g_mean[k], 1.0 / nf),
        ] {
            assert!(
                ok(got, by, e.g) || alt(got, by),
                "{name}[{k}] (p {}, t {}, w {}): got {got:e}, want {:e} (alt {:?}), scale {:e}",
                pred[k],
                target[k],
                weight(k / dim),
                e.g * w * by,
                e.g_alt.map(|a| a * w * by),
                g_scale * by
            );
        }
    }
}
