//! SPEC Part 2's row and embedding losses and options: the strided class
//! axis of `SoftmaxCrossEntropy` (`i64` labels, `ignore_index = -100`),
//! `KlDivergence::log_target`, `MultilabelSoftMargin`, `MultiMargin`,
//! `MultilabelMargin`, the p-norm `Triplet` (eps, swap) and `Sdml`: every
//! entry point, both reductions, against the float64 reference; malformed
//! input must give `Err` naming a malformed argument; the entry points must
//! agree with each other bit for bit.
//!
//! Input layout (floats as in `fuzz_support::input`):
//! `arm, opts, a % 17, b % 17, corrupt, delta, param(float), data..` where
//! `arm % 7` picks the loss, `opts` its options (bit 0 sample weights,
//! bit 1 class weights, bit 2 logits/p = 2/swap, bit 3 an invalid
//! parameter), `a` and `b` the shape (samples and classes, positions, or
//! `dim`), `corrupt % 4` the argument whose length changes by `delta`
//! (0 the data, 1 the labels or second input, 2 the gradient, 3 out).

#![no_main]

use fuzz_support::check::{Faults, assert_close, assert_same, checkable, in_domain};
use fuzz_support::input::{Input as Bytes, adjust};
use libfuzzer_sys::fuzz_target;
use loss_kernels::embedding::{Distance, Sdml, SdmlGrads, Triplet, TripletGrads};
use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::rows::{
    kl_divergence, multi_margin, multilabel_margin, multilabel_soft_margin, sdml,
    softmax_cross_entropy, triplet_pnorm,
};

/// The bytes of one case.
struct Case {
    arm: u8,
    opts: u8,
    a: usize,
    b: usize,
    corrupt: u8,
    delta: isize,
    param: f32,
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let c = Case {
        arm: bytes.byte() % 7,
        opts: bytes.byte(),
        a: bytes.upto(16),
        b: bytes.upto(16),
        corrupt: bytes.byte() % 4,
        delta: bytes.delta(),
        param: bytes.float(),
    };
    match c.arm {
        0 => strided(&c, &mut bytes),
        1 => kl_log(&c, &mut bytes),
        2 => soft(&c, &mut bytes),
        3 => multi(&c, &mut bytes),
        4 => multilabel(&c, &mut bytes),
        5 => triplet(&c, &mut bytes),
        _ => sdml_arm(&c, &mut bytes),
    }
});

impl Case {
    fn d(&self, which: u8) -> isize {
        if self.corrupt == which { self.delta } else { 0 }
    }
    fn bit(&self, k: u8) -> bool {
        self.opts & (1 << k) != 0
    }
}

/// What a row-shaped call's outputs must be: per-sample values with their
/// condition scales and the gradient of the sum with its scales (`None`
/// where a kink leaves it ambiguous), and the `Mean` denominator.
struct Want {
    per: Vec<f64>,
    per_scale: Vec<f64>,
    grad: Vec<Option<f64>>,
    grad_scale: Vec<f64>,
    den: f64,
}

/// `(per-sample out, grad, reduction) -> value` of one loss.
type Call<'a> =
    dyn Fn(Option<&mut [f32]>, Option<&mut [f32]>, Reduction) -> Result<f32, Error> + 'a;

/// Runs every entry point: malformed arguments must be `Err` naming one of
/// them, the entry points agree, and (`want`) the values match the
/// reference.
fn run_all(
    call: &Call<'_>,
    faults: &Faults,
    out_faults: &Faults,
    grad_faults: &Faults,
    n: usize,
    out_len: usize,
    grad_len: usize,
    want: Option<Want>,
) {
    let mut out = vec![f32::NAN; out_len];
    let mut grad = vec![f32::NAN; grad_len];
    let v_sum = faults.expect("value(sum)", call(None, None, Reduction::Sum));
    let v_mean = faults.expect("value(mean)", call(None, None, Reduction::Mean));
    let vg = grad_faults.expect(
        "value_and_grad",
        call(None, Some(&mut grad), Reduction::Sum),
    );
    let ps = out_faults.expect("per_sample", call(Some(&mut out), None, Reduction::Sum));
    let mut out2 = vec![f32::NAN; out_len];
    let mut grad2 = vec![f32::NAN; grad_len];
    // Malformed are the inputs' and both outputs' faults.
    let both = if out_faults.any() {
        out_faults
    } else {
        grad_faults
    };
    let psg = both.expect(
        "per_sample_and_grad",
        call(Some(&mut out2), Some(&mut grad2), Reduction::Sum),
    );
    let (Some(v_sum), Some(v_mean), Some(vg), Some(_), Some(psg)) = (v_sum, v_mean, vg, ps, psg)
    else {
        return;
    };
    assert_same("value vs value_and_grad", v_sum, vg);
    for i in 0..n {
        assert_same("per_sample vs per_sample_and_grad", out[i], out2[i]);
    }
    for (k, (&g, &g2)) in grad.iter().zip(&grad2).enumerate() {
        assert!(
            g.to_bits() == g2.to_bits() || (g.is_nan() && g2.is_nan()),
            "grad[{k}]: {g:e} vs {g2:e} from two entry points"
        );
    }
    let _ = psg;
    let Some(w) = want else { return };
    let scale_sum: f64 = w.per_scale.iter().sum();
    if !w.per.iter().chain(&w.per_scale).all(|&v| checkable(v)) {
        return;
    }
    let sum: f64 = w.per.iter().sum();
    for i in 0..n {
        assert_close(
            &format!("per_sample[{i}]"),
            out[i],
            w.per[i],
            w.per_scale[i],
            1e-30,
        );
    }
    assert_close("sum", v_sum, sum, 2.0 * scale_sum, 0.0);
    if w.den > 0.0 {
        assert_close("mean", v_mean, sum / w.den, 2.0 * scale_sum / w.den, 0.0);
    }
    for (k, (&g, (want, &s))) in grad
        .iter()
        .zip(w.grad.iter().zip(&w.grad_scale))
        .enumerate()
    {
        if let Some(want) = want
            && checkable(*want)
            && checkable(s)
        {
            assert_close(&format!("grad[{k}]"), g, *want, 4.0 * s, 1e-30);
        }
    }
}

/// Floats of `len`, and whether all are in the checked domain.
fn floats(b: &mut Bytes<'_>, len: usize) -> (Vec<f32>, bool) {
    let v = b.floats(len);
    let ok = v.iter().all(|&x| in_domain(x) && x.abs() <= 1e3);
    (v, ok)
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The fault models of the outputs.
fn outputs(n: Option<usize>, out_len: usize, len: usize, grad_len: usize) -> (Faults, Faults) {
    let mut o = Faults::new();
    o.flag("out", n.is_some_and(|n| out_len != n));
    let mut g = Faults::new();
    g.flag("grad", grad_len != len);
    (o, g)
}

/// Merges a base model with an output's: when either has a fault, an
/// error naming any argument of the arms is accepted (the harness checks
/// that malformed input is refused and well-formed accepted; the per-loss
/// harnesses check the names).
fn with(base: &Faults, extra: &Faults, names: &[&'static str]) -> Faults {
    let mut f = Faults::new();
    for &n in names {
        f.flag(n, base.any() || extra.any());
    }
    f
}

/// Every argument name an error of the arms may carry.
const NAMES: &[&str] = &[
    "logits",
    "x",
    "pred",
    "labels",
    "targets",
    "target",
    "class_weight",
    "sample_weight",
    "grad",
    "out",
    "x1",
    "x2",
    "anchor",
    "positive",
    "negative",
    "grads.anchor",
    "grads.positive",
    "grads.negative",
    "grads.x1",
    "grads.x2",
    "classes",
    "dim",
];

fn strided(c: &Case, b: &mut Bytes<'_>) {
    let (n, classes, spatial) = (1 + c.a % 3, 1 + c.b, 2 + b.upto(12));
    let len = n * classes * spatial;
    let (x, ok) = floats(b, adjust(len, c.d(0)));
    let positions = n * spatial;
    let ignore = if c.bit(3) { 0 } else { -100 };
    let labels: Vec<i64> = (0..adjust(positions, c.d(1)))
        .map(|_| match b.byte() {
            250..=255 => -100,
            v => (v as usize % (classes + 1)) as i64,
        })
        .collect();
    let cw = c.bit(1).then(|| b.floats(classes));
    let sw = c.bit(0).then(|| b.floats(positions));
    let smoothing = if c.bit(2) { 0.1 } else { 0.0 };
    let Ok(ce) = SoftmaxCrossEntropy::new(classes).and_then(|l| l.spatial(spatial)) else {
        panic!("valid sizes rejected");
    };
    let mut ce = ce
        .ignore_index(Some(ignore))
        .label_smoothing(smoothing)
        .expect("smoothing")
        .input(if c.opts & 16 != 0 {
            Input::LogProbs
        } else {
            Input::Logits
        });
    if let Some(w) = &cw {
        ce = ce.class_weight(w);
    }
    if let Some(w) = &sw {
        ce = ce.sample_weight(w);
    }
    let rows = (!x.is_empty() && x.len() % (classes * spatial) == 0).then_some(positions);
    let labels_bad = rows.is_some()
        && (labels.len() != positions
            || labels
                .iter()
                .any(|&y| y != ignore && !(0..classes as i64).contains(&y)));
    let mut f = Faults::new();
    f.flag("logits", x.len() != len || rows.is_none())
        .flag("labels", labels_bad);
    let grad_len = adjust(len, c.d(2));
    let out_len = adjust(positions, c.d(3));
    let (of, gf) = outputs(rows, out_len, x.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| {
        let l = Labels::SparseI64(&labels);
        match (o, g) {
            (Some(o), Some(g)) => ce.per_sample_and_grad(&x, l, o, g),
            (Some(o), None) => ce.per_sample(&x, l, o).map(|_| 0.0),
            (None, Some(g)) => ce.value_and_grad(&x, l, r, g),
            (None, None) => ce.value(&x, l, r),
        }
    };
    let want = (!f.any()
        && ok
        && cw
            .as_ref()
            .is_none_or(|w| w.iter().all(|&v| in_domain(v) && v >= 0.0))
        && sw.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v))))
    .then(|| {
        let cwk = |k: usize| cw.as_ref().map_or(1.0, |w| w[k] as f64);
        let swi = |p: usize| sw.as_ref().map_or(1.0, |w| w[p] as f64);
        let a = smoothing as f64;
        let mut want = Want {
            per: vec![0.0; positions],
            per_scale: vec![0.0; positions],
            grad: vec![Some(0.0); len],
            grad_scale: vec![0.0; len],
            den: 0.0,
        };
        for i in 0..n {
            for s in 0..spatial {
                let p = i * spatial + s;
                if labels[p] == ignore {
                    continue;
                }
                let y = labels[p] as usize;
                want.den += cwk(y);
                let t: Vec<f64> = (0..classes)
                    .map(|k| cwk(k) * (if k == y { 1.0 - a } else { 0.0 } + a / classes as f64))
                    .collect();
                let row: Vec<f64> = (0..classes)
                    .map(|k| x[(i * classes + k) * spatial + s] as f64)
                    .collect();
                let r = softmax_cross_entropy(&row, &t, c.opts & 16 != 0);
                want.per[p] = swi(p) * r.value;
                want.per_scale[p] = swi(p).abs() * r.value_scale;
                for k in 0..classes {
                    let at = (i * classes + k) * spatial + s;
                    want.grad[at] = Some(swi(p) * r.grad[k]);
                    want.grad_scale[at] = swi(p).abs() * r.grad_scale;
                }
            }
        }
        want
    });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        positions,
        out_len,
        grad_len,
        want,
    );
}

fn kl_log(c: &Case, b: &mut Bytes<'_>) {
    let (n, classes) = (1 + c.a, 1 + c.b);
    let len = n * classes;
    let (x, ok) = floats(b, adjust(len, c.d(0)));
    let (lt, ok_t) = floats(b, adjust(x.len(), c.d(1)));
    let sw = c.bit(0).then(|| b.floats(n));
    let logits = c.bit(2);
    let mut kl = KlDivergence::new(classes)
        .expect("classes")
        .log_target(true)
        .input(if logits {
            Input::Logits
        } else {
            Input::LogProbs
        });
    if let Some(w) = &sw {
        kl = kl.sample_weight(w);
    }
    let rows = (!x.is_empty() && x.len() % classes == 0).then(|| x.len() / classes);
    let mut f = Faults::new();
    f.flag("pred", rows.is_none())
        .flag("target", lt.len() != x.len())
        .flag(
            "sample_weight",
            sw.is_some() && rows.is_some_and(|r| r != n),
        );
    let grad_len = adjust(x.len(), c.d(2));
    let out_len = adjust(rows.unwrap_or(0), c.d(3));
    let (of, gf) = outputs(rows, out_len, x.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| match (o, g) {
        (Some(o), Some(g)) => kl.per_sample_and_grad(&x, &lt, o, g),
        (Some(o), None) => kl.per_sample(&x, &lt, o).map(|_| 0.0),
        (None, Some(g)) => kl.value_and_grad(&x, &lt, r, g),
        (None, None) => kl.value(&x, &lt, r),
    };
    let want = (!f.any()
        && ok
        && ok_t
        && lt.iter().all(|&v| v <= 10.0)
        && sw.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v))))
    .then(|| {
        let swi = |i: usize| sw.as_ref().map_or(1.0, |w| w[i] as f64);
        let t: Vec<f64> = lt.iter().map(|&v| (v as f64).exp()).collect();
        rows_want(rows.unwrap_or(0), classes, swi, |i| {
            kl_divergence(
                &to64(&x[i * classes..(i + 1) * classes]),
                &t[i * classes..(i + 1) * classes],
                logits,
            )
        })
    });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        rows.unwrap_or(0),
        out_len,
        grad_len,
        want,
    );
}

/// The `Want` of `n` rows of `classes` from per-row references (`Mean`
/// over rows).
fn rows_want(
    n: usize,
    classes: usize,
    sw: impl Fn(usize) -> f64,
    row: impl Fn(usize) -> loss_kernels_reference::rows::Row,
) -> Want {
    let mut want = Want {
        per: vec![],
        per_scale: vec![],
        grad: vec![],
        grad_scale: vec![],
        den: n as f64,
    };
    for i in 0..n {
        let r = row(i);
        let w = sw(i);
        want.per.push(w * r.value);
        want.per_scale.push(w.abs() * r.value_scale + 1e-6);
        for k in 0..classes {
            want.grad.push((!r.grad_ambiguous).then(|| w * r.grad[k]));
            want.grad_scale.push(w.abs() * r.grad_scale + 1e-6);
        }
    }
    want
}

fn soft(c: &Case, b: &mut Bytes<'_>) {
    let (n, classes) = (1 + c.a, 1 + c.b);
    let (x, ok) = floats(b, adjust(n * classes, c.d(0)));
    let (y, ok_y) = floats(b, adjust(x.len(), c.d(1)));
    let cw = c.bit(1).then(|| b.floats(classes));
    let sw = c.bit(0).then(|| b.floats(n));
    let mut l = MultilabelSoftMargin::new(classes).expect("classes");
    if let Some(w) = &cw {
        l = l.class_weight(w);
    }
    if let Some(w) = &sw {
        l = l.sample_weight(w);
    }
    let rows = (!x.is_empty() && x.len() % classes == 0).then(|| x.len() / classes);
    let mut f = Faults::new();
    f.flag("x", rows.is_none())
        .flag("target", y.len() != x.len())
        .flag(
            "sample_weight",
            sw.is_some() && rows.is_some_and(|r| r != n),
        );
    let grad_len = adjust(x.len(), c.d(2));
    let out_len = adjust(rows.unwrap_or(0), c.d(3));
    let (of, gf) = outputs(rows, out_len, x.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| match (o, g) {
        (Some(o), Some(g)) => l.per_sample_and_grad(&x, &y, o, g),
        (Some(o), None) => l.per_sample(&x, &y, o).map(|_| 0.0),
        (None, Some(g)) => l.value_and_grad(&x, &y, r, g),
        (None, None) => l.value(&x, &y, r),
    };
    let weights_ok =
        |w: &Option<Vec<f32>>| w.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v)));
    let want = (!f.any() && ok && ok_y && weights_ok(&cw) && weights_ok(&sw)).then(|| {
        let cw64 = cw.as_ref().map(|w| to64(w));
        let y64 = to64(&y);
        rows_want(
            rows.unwrap_or(0),
            classes,
            |i| sw.as_ref().map_or(1.0, |w| w[i] as f64),
            |i| {
                multilabel_soft_margin(
                    &to64(&x[i * classes..(i + 1) * classes]),
                    &y64[i * classes..(i + 1) * classes],
                    cw64.as_deref(),
                )
            },
        )
    });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        rows.unwrap_or(0),
        out_len,
        grad_len,
        want,
    );
}

fn multi(c: &Case, b: &mut Bytes<'_>) {
    let (n, classes) = (1 + c.a, 1 + c.b);
    let (x, ok) = floats(b, adjust(n * classes, c.d(0)));
    let labels: Vec<i64> = (0..adjust(n, c.d(1)))
        .map(|_| b.byte() as i64 % (classes as i64 + 2) - 1)
        .collect();
    let cw = c.bit(1).then(|| b.floats(classes));
    let sw = c.bit(0).then(|| b.floats(n));
    let p = if c.bit(2) { 2 } else { 1 };
    let margin = c.param;
    let mut f = Faults::new();
    f.flag("margin", !margin.is_finite());
    let Some(l) = f.expect(
        "MultiMargin",
        MultiMargin::new(classes)
            .and_then(|l| l.p(p))
            .and_then(|l| l.margin(margin)),
    ) else {
        return;
    };
    let mut l = l;
    if let Some(w) = &cw {
        l = l.class_weight(w);
    }
    if let Some(w) = &sw {
        l = l.sample_weight(w);
    }
    let rows = (!x.is_empty() && x.len() % classes == 0).then(|| x.len() / classes);
    let mut f = Faults::new();
    f.flag("x", rows.is_none())
        .flag(
            "labels",
            rows.is_some_and(|r| {
                labels.len() != r || labels.iter().any(|&y| !(0..classes as i64).contains(&y))
            }),
        )
        .flag(
            "sample_weight",
            sw.is_some() && rows.is_some_and(|r| r != n),
        );
    let grad_len = adjust(x.len(), c.d(2));
    let out_len = adjust(rows.unwrap_or(0), c.d(3));
    let (of, gf) = outputs(rows, out_len, x.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| match (o, g) {
        (Some(o), Some(g)) => l.per_sample_and_grad(&x, &labels, o, g),
        (Some(o), None) => l.per_sample(&x, &labels, o).map(|_| 0.0),
        (None, Some(g)) => l.value_and_grad(&x, &labels, r, g),
        (None, None) => l.value(&x, &labels, r),
    };
    let weights_ok =
        |w: &Option<Vec<f32>>| w.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v)));
    let want =
        (!f.any() && ok && in_domain(margin) && weights_ok(&cw) && weights_ok(&sw)).then(|| {
            let cw64 = cw.as_ref().map(|w| to64(w));
            rows_want(
                rows.unwrap_or(0),
                classes,
                |i| sw.as_ref().map_or(1.0, |w| w[i] as f64),
                |i| {
                    multi_margin(
                        &to64(&x[i * classes..(i + 1) * classes]),
                        labels[i] as usize,
                        p,
                        margin as f64,
                        cw64.as_deref(),
                    )
                },
            )
        });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        rows.unwrap_or(0),
        out_len,
        grad_len,
        want,
    );
}

fn multilabel(c: &Case, b: &mut Bytes<'_>) {
    let (n, classes) = (1 + c.a, 1 + c.b);
    let (x, ok) = floats(b, adjust(n * classes, c.d(0)));
    let targets: Vec<i64> = (0..adjust(x.len(), c.d(1)))
        .map(|_| b.byte() as i64 % (classes as i64 + 3) - 2)
        .collect();
    let sw = c.bit(0).then(|| b.floats(n));
    let mut l = MultilabelMargin::new(classes).expect("classes");
    if let Some(w) = &sw {
        l = l.sample_weight(w);
    }
    let rows = (!x.is_empty() && x.len() % classes == 0).then(|| x.len() / classes);
    let listed_bad = targets.len() == x.len()
        && targets.chunks(classes).any(|row| {
            row.iter()
                .take_while(|&&t| t >= 0)
                .any(|&t| t >= classes as i64)
        });
    let mut f = Faults::new();
    f.flag("x", rows.is_none())
        .flag(
            "targets",
            rows.is_some() && (targets.len() != x.len() || listed_bad),
        )
        .flag(
            "sample_weight",
            sw.is_some() && rows.is_some_and(|r| r != n),
        );
    let grad_len = adjust(x.len(), c.d(2));
    let out_len = adjust(rows.unwrap_or(0), c.d(3));
    let (of, gf) = outputs(rows, out_len, x.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| match (o, g) {
        (Some(o), Some(g)) => l.per_sample_and_grad(&x, &targets, o, g),
        (Some(o), None) => l.per_sample(&x, &targets, o).map(|_| 0.0),
        (None, Some(g)) => l.value_and_grad(&x, &targets, r, g),
        (None, None) => l.value(&x, &targets, r),
    };
    let weights_ok = sw.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v)));
    let want = (!f.any() && ok && weights_ok).then(|| {
        rows_want(
            rows.unwrap_or(0),
            classes,
            |i| sw.as_ref().map_or(1.0, |w| w[i] as f64),
            |i| {
                multilabel_margin(
                    &to64(&x[i * classes..(i + 1) * classes]),
                    &targets[i * classes..(i + 1) * classes],
                )
            },
        )
    });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        rows.unwrap_or(0),
        out_len,
        grad_len,
        want,
    );
}

/// The triplet and SDML arms call with several inputs and gradients;
/// these flatten their gradients into one slice for `run_all`.
fn triplet(c: &Case, b: &mut Bytes<'_>) {
    let (n, dim) = (1 + c.a, 1 + c.b);
    let len = n * dim;
    let (a, ok_a) = floats(b, adjust(len, c.d(0)));
    let (p, ok_p) = floats(b, adjust(a.len(), c.d(1)));
    let (ng, ok_n) = floats(b, a.len());
    let sw = c.bit(0).then(|| b.floats(n));
    let norm = if c.bit(2) { 2 } else { 1 };
    let swap = c.bit(1);
    let eps = if c.bit(3) { c.param } else { 1e-6 };
    let mut f = Faults::new();
    f.flag("eps", !eps.is_finite());
    let Some(t) = f.expect(
        "Triplet",
        Triplet::new(dim).and_then(|t| t.eps(eps)).map(|t| {
            t.distance(Distance::p_norm(norm).unwrap_or(Distance::Euclidean))
                .swap(swap)
        }),
    ) else {
        return;
    };
    let t = match &sw {
        Some(w) => t.sample_weight(w),
        None => t,
    };
    let rows = (!a.is_empty() && a.len() % dim == 0).then(|| a.len() / dim);
    let mut f = Faults::new();
    f.flag("anchor", rows.is_none())
        .flag("positive", p.len() != a.len())
        .flag(
            "sample_weight",
            sw.is_some() && rows.is_some_and(|r| r != n),
        );
    let grad_len = 3 * adjust(a.len(), c.d(2));
    let out_len = adjust(rows.unwrap_or(0), c.d(3));
    let (of, gf) = outputs(rows, out_len, 3 * a.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| match g {
        Some(g) => {
            let third = g.len() / 3;
            let (ga, rest) = g.split_at_mut(third);
            let (gp, gn) = rest.split_at_mut(third);
            let grads = TripletGrads {
                anchor: ga,
                positive: gp,
                negative: &mut gn[..third],
            };
            match o {
                Some(o) => t.per_sample_and_grad(&a, &p, &ng, o, grads),
                None => t.value_and_grad(&a, &p, &ng, r, grads),
            }
        }
        None => match o {
            Some(o) => t.per_sample(&a, &p, &ng, o).map(|_| 0.0),
            None => t.value(&a, &p, &ng, r),
        },
    };
    let weights_ok = sw.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v)));
    let want = (!f.any() && ok_a && ok_p && ok_n && weights_ok && in_domain(eps)).then(|| {
        let (a64, p64, n64) = (to64(&a), to64(&p), to64(&ng));
        let (n, len) = (rows.unwrap_or(0), a.len());
        let mut want = Want {
            per: vec![],
            per_scale: vec![],
            grad: vec![None; 3 * len],
            grad_scale: vec![0.0; 3 * len],
            den: n as f64,
        };
        for i in 0..n {
            let s = i * dim..(i + 1) * dim;
            let r = triplet_pnorm(
                &a64[s.clone()],
                &p64[s.clone()],
                &n64[s.clone()],
                1.0,
                norm,
                eps as f64,
                swap,
            );
            let w = sw.as_ref().map_or(1.0, |w| w[i] as f64);
            want.per.push(w * r.value);
            want.per_scale
                .push(w.abs() * r.value_scale * dim as f64 + 1e-6);
            for which in 0..3 {
                for k in 0..dim {
                    let at = which * len + i * dim + k;
                    want.grad[at] = (!r.grad_ambiguous).then(|| w * r.grad[which * dim + k]);
                    want.grad_scale[at] = w.abs() * r.grad_scale;
                }
            }
        }
        want
    });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        rows.unwrap_or(0),
        out_len,
        grad_len,
        want,
    );
}

fn sdml_arm(c: &Case, b: &mut Bytes<'_>) {
    // Option bit 4: rows of at most 4 values across the kernel's blocks of
    // 64 distances: 60 to 75 rows (past one block edge) or 130 (past two).
    // Not more: the step is n^2, and bigger batches cut the executions a
    // run gets without reaching a code path these do not.
    let (n, dim) = if c.bit(4) {
        (if c.a < 16 { 60 + c.a } else { 130 }, 1 + c.b % 4)
    } else {
        (c.a.max(1), 1 + c.b)
    };
    let len = n * dim;
    let (x1, ok1) = floats(b, adjust(len, c.d(0)));
    let (x2, ok2) = floats(b, adjust(x1.len(), c.d(1)));
    let sw = c.bit(0).then(|| b.floats(n));
    let s = if c.bit(3) { c.param } else { 0.3 };
    let mut f = Faults::new();
    f.flag("smoothing", !(0.0..1.0).contains(&s));
    let Some(l) = f.expect("Sdml", Sdml::new(dim).and_then(|l| l.smoothing(s))) else {
        return;
    };
    let l = match &sw {
        Some(w) => l.sample_weight(w),
        None => l,
    };
    let rows = (!x1.is_empty() && x1.len() % dim == 0).then(|| x1.len() / dim);
    let mut f = Faults::new();
    f.flag("x1", rows.is_none_or(|r| r < 2))
        .flag("x2", x2.len() != x1.len())
        .flag(
            "sample_weight",
            sw.is_some() && rows.is_some_and(|r| r != n),
        );
    let grad_len = 2 * adjust(x1.len(), c.d(2));
    let out_len = adjust(rows.unwrap_or(0), c.d(3));
    let (of, gf) = outputs(rows, out_len, 2 * x1.len(), grad_len);
    let call = |o: Option<&mut [f32]>, g: Option<&mut [f32]>, r| match g {
        Some(g) => {
            let half = g.len() / 2;
            let (g1, g2) = g.split_at_mut(half);
            let grads = SdmlGrads {
                x1: g1,
                x2: &mut g2[..half],
            };
            match o {
                Some(o) => l.per_sample_and_grad(&x1, &x2, o, grads),
                None => l.value_and_grad(&x1, &x2, r, grads),
            }
        }
        None => match o {
            Some(o) => l.per_sample(&x1, &x2, o).map(|_| 0.0),
            None => l.value(&x1, &x2, r),
        },
    };
    let weights_ok = sw.as_ref().is_none_or(|w| w.iter().all(|&v| in_domain(v)));
    let small = x1.iter().chain(&x2).all(|v| v.abs() <= 10.0);
    let want = (!f.any() && ok1 && ok2 && weights_ok && small).then(|| {
        let (per, g1, g2) = sdml(&to64(&x1), &to64(&x2), dim, s as f64);
        let (n, len) = (rows.unwrap_or(0), x1.len());
        let w = |i: usize| sw.as_ref().map_or(1.0, |w| w[i] as f64);
        // The distances are sums of `dim` squares of values up to 10.
        let mag = 400.0 * dim as f64 * n as f64;
        let any_weight = (0..n).fold(0.0f64, |m, i| m.max(w(i).abs()));
        // Gradients of the sum with weights: only unweighted cases compare
        // them (the reference sums the unweighted rows).
        let grad = g1
            .iter()
            .chain(&g2)
            .map(|&g| sw.is_none().then_some(g))
            .collect();
        Want {
            per: (0..n).map(|i| w(i) * per[i]).collect(),
            per_scale: (0..n).map(|i| w(i).abs() * mag + 1e-6).collect(),
            grad,
            grad_scale: vec![any_weight.max(1.0) * mag; 2 * len],
            den: n as f64,
        }
    });
    run_all(
        &call,
        &with(&f, &Faults::new(), NAMES),
        &with(&f, &of, NAMES),
        &with(&f, &gf, NAMES),
        rows.unwrap_or(0),
        out_len,
        grad_len,
        want,
    );
}
