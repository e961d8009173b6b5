//! Softmax family: `SoftmaxCrossEntropy` (sparse and dense labels, label
//! smoothing, `ignore_index`, class and sample weights, logits or
//! log-probabilities), `KlDivergence` (log-probabilities or logits) and the
//! row functions `logsumexp`, `log_softmax`, `softmax`; every entry point,
//! both reductions, against the float64 reference; malformed input must
//! give `Err` naming a malformed argument.
//!
//! Input layout (floats as in `fuzz_support::input`):
//! `mode, classes % 41, n % 33, corrupt, delta, ignore, smoothing(float),
//! logits.., labels.., class_weight.., sample_weight..` where `mode & 3`
//! picks cross-entropy with sparse labels (0), with dense labels (1), KL (2)
//! or the row functions (3); bit 2 = the other input kind (log-probabilities
//! for cross-entropy, logits for KL); bit 3 = class weights; bit 4 = sample
//! weights; bit 5 = an `ignore_index` (`ignore % (classes + 3)`); bit 6 =
//! label smoothing. Sparse labels are one byte each, `% (classes + 2)`.
//! `corrupt % 8` picks the argument whose length changes by `delta`:
//! 0 logits, 1 labels, 2 class_weight, 3 sample_weight, 4 grad, 5 out.

#![no_main]

use fuzz_support::check::{
    Faults, assert_close, assert_same, checkable, close, in_domain, summation_slack,
};
use fuzz_support::input::{Input as Bytes, adjust};
use libfuzzer_sys::fuzz_target;
use loss_kernels::softmax::{self, Input, KlDivergence, Labels, SoftmaxCrossEntropy};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::rows::{Row, kl_divergence, max_and_ln_sum, softmax_cross_entropy};

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let mode = b.byte();
    let classes = b.upto(40);
    let n = b.upto(32);
    let corrupt = b.byte() % 8;
    let delta = b.delta();
    let ignore = b.byte() as u32 % (classes as u32 + 3);
    let smoothing = b.float();
    let d = |which: u8| if corrupt == which { delta } else { 0 };
    let logits = b.floats(adjust(n * classes, d(0)));
    let kind = mode & 3;
    let sparse: Vec<u32> = if kind == 0 {
        (0..adjust(n, d(1)))
            .map(|_| b.byte() as u32 % (classes as u32 + 2))
            .collect()
    } else {
        Vec::new()
    };
    let dense = if kind == 1 || kind == 2 {
        b.floats(adjust(n * classes, d(1)))
    } else {
        Vec::new()
    };
    let class_weight = (mode & 8 != 0).then(|| b.floats(adjust(classes, d(2))));
    let sample_weight = (mode & 16 != 0).then(|| b.floats(adjust(n, d(3))));
    let case = Case {
        classes,
        logits,
        sparse,
        dense,
        class_weight,
        sample_weight,
        ignore: (mode & 32 != 0).then_some(ignore),
        smoothing: (mode & 64 != 0).then_some(smoothing),
        other_input: mode & 4 != 0,
        grad_len: adjust(n * classes, d(4)),
        out_len: adjust(n, d(5)),
    };
    match kind {
        0 | 1 => cross_entropy_case(&case, kind == 0),
        2 => kl_case(&case),
        _ => row_functions(&case),
    }
});

struct Case {
    classes: usize,
    logits: Vec<f32>,
    sparse: Vec<u32>,
    dense: Vec<f32>,
    class_weight: Option<Vec<f32>>,
    sample_weight: Option<Vec<f32>>,
    ignore: Option<u32>,
    smoothing: Option<f32>,
    other_input: bool,
    grad_len: usize,
    out_len: usize,
}

impl Case {
    /// Rows of the logits if well formed.
    fn rows(&self) -> Option<usize> {
        (self.classes > 0 && !self.logits.is_empty() && self.logits.len() % self.classes == 0)
            .then(|| self.logits.len() / self.classes)
    }
    fn weight(&self, i: usize) -> f32 {
        self.sample_weight.as_ref().map_or(1.0, |w| w[i])
    }
}

/// The results of the four entry points (both reductions).
struct Results {
    sum: f32,
    mean: f32,
    grad_sum: Vec<f32>,
    grad_mean: Vec<f32>,
    per_sample: Vec<f32>,
}

/// Calls every entry point through `call`, checks the error model and the
/// agreement between entry points; returns the results of a well-formed call.
fn run_all(
    faults: impl Fn(bool, bool) -> Faults,
    grad_len: usize,
    out_len: usize,
    value: &dyn Fn(Reduction) -> Result<f32, Error>,
    value_and_grad: &dyn Fn(Reduction, &mut [f32]) -> Result<f32, Error>,
    per_sample: &dyn Fn(&mut [f32]) -> Result<(), Error>,
    per_sample_and_grad: &dyn Fn(&mut [f32], &mut [f32]) -> Result<f32, Error>,
) -> Option<Results> {
    let sum = faults(false, false).expect("value(Sum)", value(Reduction::Sum));
    let mean = faults(false, false).expect("value(Mean)", value(Reduction::Mean));
    let mut grad_sum = vec![0.0f32; grad_len];
    let mut grad_mean = vec![0.0f32; grad_len];
    let vg_sum = faults(true, false).expect(
        "value_and_grad(Sum)",
        value_and_grad(Reduction::Sum, &mut grad_sum),
    );
    let vg_mean = faults(true, false).expect(
        "value_and_grad(Mean)",
        value_and_grad(Reduction::Mean, &mut grad_mean),
    );
    let mut out = vec![0.0f32; out_len];
    let ps = faults(false, true).expect("per_sample", per_sample(&mut out));
    let mut out2 = vec![0.0f32; out_len];
    let mut grad2 = vec![0.0f32; grad_len];
    let psg = faults(true, true).expect(
        "per_sample_and_grad",
        per_sample_and_grad(&mut out2, &mut grad2),
    );
    let (Some(sum), Some(mean), Some(vg_sum), Some(vg_mean), Some(()), Some(_)) =
        (sum, mean, vg_sum, vg_mean, ps, psg)
    else {
        return None;
    };
    assert_same("value(Sum) vs value_and_grad(Sum)", sum, vg_sum);
    assert_same("value(Mean) vs value_and_grad(Mean)", mean, vg_mean);
    for k in 0..grad_len {
        assert_same(
            "grad: value_and_grad(Sum) vs per_sample_and_grad",
            grad_sum[k],
            grad2[k],
        );
    }
    for i in 0..out_len {
        assert_same("per_sample vs per_sample_and_grad", out[i], out2[i]);
    }
    Some(Results {
        sum,
        mean,
        grad_sum,
        grad_mean,
        per_sample: out,
    })
}

fn cross_entropy_case(c: &Case, sparse: bool) {
    let classes = c.classes;
    let Some(loss) = Faults::new().flag("classes", classes == 0).expect(
        "SoftmaxCrossEntropy::new",
        SoftmaxCrossEntropy::new(classes),
    ) else {
        return;
    };
    let loss = match c.smoothing {
        Some(a) => {
            let ok = a.is_finite() && (0.0..=1.0).contains(&a);
            match Faults::new()
                .flag("label_smoothing", !ok)
                .expect("label_smoothing", loss.label_smoothing(a))
            {
                Some(l) => l,
                None => return,
            }
        }
        None => loss,
    };
    let loss = loss
        .ignore_index(c.ignore.map(i64::from))
        .input(if c.other_input {
            Input::LogProbs
        } else {
            Input::Logits
        });
    let loss = match &c.class_weight {
        Some(w) => loss.class_weight(w),
        None => loss,
    };
    let loss = match &c.sample_weight {
        Some(w) => loss.sample_weight(w),
        None => loss,
    };
    let rows = c.rows();
    let n = rows.unwrap_or(0);
    let labels = if sparse {
        Labels::Sparse(&c.sparse)
    } else {
        Labels::Dense(&c.dense)
    };
    let labels_bad = match rows {
        None => false,
        Some(n) if sparse => {
            c.sparse.len() != n
                || c.sparse
                    .iter()
                    .any(|&y| Some(y) != c.ignore && y as usize >= classes)
        }
        Some(_) => c.dense.len() != c.logits.len(),
    };
    let faults = |grad: bool, out: bool| {
        let mut f = Faults::new();
        f.flag("logits", rows.is_none())
            .flag(
                "class_weight",
                c.class_weight.as_ref().is_some_and(|w| w.len() != classes),
            )
            .flag(
                "sample_weight",
                rows.is_some() && c.sample_weight.as_ref().is_some_and(|w| w.len() != n),
            )
            .flag("labels", labels_bad)
            .flag("grad", grad && c.grad_len != c.logits.len())
            .flag("out", out && rows.is_some() && c.out_len != n);
        f
    };
    let x = &c.logits[..];
    let Some(r) = run_all(
        faults,
        c.grad_len,
        c.out_len,
        &|red| loss.value(x, labels, red),
        &|red, g| loss.value_and_grad(x, labels, red, g),
        &|o| loss.per_sample(x, labels, o),
        &|o, g| loss.per_sample_and_grad(x, labels, o, g),
    ) else {
        return;
    };

    // Ignored rows: exactly 0 loss and 0 gradient, whatever they hold.
    if sparse {
        for i in 0..n {
            if Some(c.sparse[i]) == c.ignore {
                assert_eq!(r.per_sample[i], 0.0, "ignored row {i} has a loss");
                assert!(
                    r.grad_sum[i * classes..(i + 1) * classes]
                        .iter()
                        .all(|&g| g == 0.0),
                    "ignored row {i} has a gradient"
                );
            }
        }
    }

    // Differential check in the domain.
    let cw = |k: usize| c.class_weight.as_ref().map_or(1.0, |w| w[k] as f64);
    let in_dom = x.iter().all(|&v| in_domain(v))
        && c.smoothing.is_none_or(in_domain)
        && c.dense.iter().all(|&v| in_domain(v) && v >= 0.0)
        && c.class_weight
            .as_ref()
            .is_none_or(|w| w.iter().all(|&v| in_domain(v) && v >= 0.0))
        && (0..n).all(|i| in_domain(c.weight(i)));
    if !in_dom {
        return;
    }
    let alpha = c.smoothing.unwrap_or(0.0) as f64;
    let mut refs: Vec<Row> = Vec::with_capacity(n);
    let mut den = 0.0f64;
    for i in 0..n {
        let row: Vec<f64> = x[i * classes..(i + 1) * classes]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let w: Vec<f64> = if sparse {
            let y = c.sparse[i];
            if Some(y) == c.ignore {
                refs.push(Row {
                    grad: vec![0.0; classes],
                    ..Row::default()
                });
                continue;
            }
            let y = y as usize;
            den += cw(y);
            (0..classes)
                .map(|k| {
                    (if k == y { (1.0 - alpha) * cw(y) } else { 0.0 })
                        + alpha / classes as f64 * cw(k)
                })
                .collect()
        } else {
            // Dense targets are smoothed too: `(1-α) t + α/C` (PyTorch).
            (0..classes)
                .map(|k| {
                    cw(k)
                        * ((1.0 - alpha) * c.dense[i * classes + k] as f64 + alpha / classes as f64)
                })
                .collect()
        };
        refs.push(softmax_cross_entropy(&row, &w, c.other_input));
    }
    if !sparse {
        den = n as f64;
    }
    check_rows(&refs, &r, c, classes, den);
}

/// Compares a batch's per-row references with the crate's results.
fn check_rows(refs: &[Row], r: &Results, c: &Case, width: usize, den: f64) {
    let n = refs.len();
    let sw = |i: usize| c.weight(i) as f64;
    let checkable_all = refs.iter().enumerate().all(|(i, row)| {
        let w = sw(i).abs().max(1.0);
        [row.value, row.value_scale, row.grad_scale]
            .iter()
            .all(|&v| checkable(v) && checkable(v * w))
            && row.grad.iter().all(|&g| checkable(g * w))
    });
    if !checkable_all {
        return;
    }
    let mut sum = 0.0;
    let mut scale = 0.0;
    let mut mag = 0.0;
    for (i, row) in refs.iter().enumerate() {
        let want = sw(i) * row.value;
        let s = sw(i).abs() * row.value_scale;
        assert_close(
            &format!("per_sample[{i}]"),
            r.per_sample[i],
            want,
            s,
            summation_slack(width, 0, s),
        );
        sum += want;
        scale += s;
        mag += want.abs();
    }
    let slack = summation_slack(n * width, n, scale.max(mag));
    assert_close("value(Sum)", r.sum, sum, scale, slack);
    let (mean, mean_scale) = if den == 0.0 {
        (0.0, 0.0)
    } else {
        (sum / den, 1.0 / den.abs())
    };
    if den != 0.0 && den.abs() < 1e-30 {
        return;
    }
    assert_close(
        "value(Mean)",
        r.mean,
        mean,
        scale * mean_scale,
        slack * mean_scale,
    );
    for (i, row) in refs.iter().enumerate() {
        if row.grad_ambiguous {
            continue;
        }
        let w = sw(i);
        for (j, &g) in row.grad.iter().enumerate() {
            let k = i * width + j;
            let gs = row.grad_scale * w.abs();
            assert!(
                close(r.grad_sum[k], g * w, gs, 0.0),
                "grad Sum[{k}] (row {i}): got {:e}, want {:e}, scale {gs:e}",
                r.grad_sum[k],
                g * w
            );
            assert!(
                close(r.grad_mean[k], g * w * mean_scale, gs * mean_scale, 0.0),
                "grad Mean[{k}] (row {i}): got {:e}, want {:e}",
                r.grad_mean[k],
                g * w * mean_scale
            );
        }
    }
}

fn kl_case(c: &Case) {
    let classes = c.classes;
    let Some(loss) = Faults::new()
        .flag("classes", classes == 0)
        .expect("KlDivergence::new", KlDivergence::new(classes))
    else {
        return;
    };
    let from_logits = c.other_input;
    let loss = loss.input(if from_logits {
        Input::Logits
    } else {
        Input::LogProbs
    });
    let loss = match &c.sample_weight {
        Some(w) => loss.sample_weight(w),
        None => loss,
    };
    let x = &c.logits[..];
    let t = &c.dense[..];
    let rows = c.rows();
    let n = rows.unwrap_or(0);
    let faults = |grad: bool, out: bool| {
        let mut f = Faults::new();
        f.flag("pred", rows.is_none())
            .flag("target", t.len() != x.len())
            .flag(
                "sample_weight",
                rows.is_some() && c.sample_weight.as_ref().is_some_and(|w| w.len() != n),
            )
            .flag("grad", grad && c.grad_len != x.len())
            .flag("out", out && rows.is_some() && c.out_len != n);
        f
    };
    let Some(r) = run_all(
        faults,
        c.grad_len,
        c.out_len,
        &|red| loss.value(x, t, red),
        &|red, g| loss.value_and_grad(x, t, red, g),
        &|o| loss.per_sample(x, t, o),
        &|o, g| loss.per_sample_and_grad(x, t, o, g),
    ) else {
        return;
    };
    let in_dom = x.iter().all(|&v| in_domain(v))
        && t.iter().all(|&v| in_domain(v) && v >= 0.0)
        && (0..n).all(|i| in_domain(c.weight(i)));
    if !in_dom {
        return;
    }
    let refs: Vec<Row> = (0..n)
        .map(|i| {
            let row: Vec<f64> = x[i * classes..(i + 1) * classes]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let tr: Vec<f64> = t[i * classes..(i + 1) * classes]
                .iter()
                .map(|&v| v as f64)
                .collect();
            kl_divergence(&row, &tr, from_logits)
        })
        .collect();
    check_rows(&refs, &r, c, classes, n as f64);
}

fn row_functions(c: &Case) {
    let classes = c.classes;
    let x = &c.logits[..];
    let rows = (classes > 0 && !x.is_empty() && x.len() % classes == 0).then(|| x.len() / classes);
    let faults = |out_ok: bool| {
        let mut f = Faults::new();
        f.flag("classes", classes == 0)
            .flag("logits", classes > 0 && rows.is_none())
            .flag("out", rows.is_some() && !out_ok);
        f
    };
    let n = rows.unwrap_or(0);
    let mut lse = vec![0.0f32; c.out_len];
    let r1 = faults(c.out_len == n).expect("logsumexp", softmax::logsumexp(x, classes, &mut lse));
    let mut lsm = vec![0.0f32; c.grad_len];
    let r2 = faults(c.grad_len == x.len())
        .expect("log_softmax", softmax::log_softmax(x, classes, &mut lsm));
    let mut sm = vec![0.0f32; c.grad_len];
    let r3 = faults(c.grad_len == x.len()).expect("softmax", softmax::softmax(x, classes, &mut sm));
    if !x.iter().all(|&v| in_domain(v)) {
        return;
    }
    for i in 0..n {
        let row: Vec<f64> = x[i * classes..(i + 1) * classes]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let (m, ln_s) = max_and_ln_sum(&row);
        let scale = m.abs() + ln_s.abs() + 1.0;
        if r1.is_some() {
            assert_close(&format!("logsumexp[{i}]"), lse[i], m + ln_s, scale, 0.0);
        }
        for (j, &xk) in row.iter().enumerate() {
            let k = i * classes + j;
            let lp = xk - m - ln_s;
            if r2.is_some() {
                let s = (xk - m).abs() + ln_s.abs() + 1.0;
                assert_close(&format!("log_softmax[{k}]"), lsm[k], lp, s, 0.0);
            }
            if r3.is_some() {
                assert_close(&format!("softmax[{k}]"), sm[k], lp.exp(), 1.0, 0.0);
            }
        }
    }
}
