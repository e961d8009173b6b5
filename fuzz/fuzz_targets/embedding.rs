//! Embedding family: `Triplet` (squared and Euclidean distance) and
//! `CosineEmbedding`, every entry point, both reductions, with and without
//! sample weights and margins, against the float64 reference (gradients
//! w.r.t. every input); malformed input must give `Err` naming a malformed
//! argument.
//!
//! Input layout (floats as in `fuzz_support::input`):
//! `mode, dim % 33, n % 33, corrupt, delta, margin(float), inputs..,
//! labels.., sample_weight..` where `mode & 1` picks cosine (else triplet),
//! bit 1 = Euclidean distance, bit 2 = sample weights, bit 3 = set the
//! margin. Triplet reads anchor, positive, negative; cosine reads x1, x2 and
//! one label byte per row (`b % 2` picks ±1 for `b < 254`, 254 = 0.0,
//! 255 = a float). `corrupt % 8` picks the argument whose length changes by
//! `delta`: 0..=2 the inputs (or labels for cosine), 3 sample_weight,
//! 4..=6 the gradients, 7 out.

#![no_main]

use fuzz_support::check::{
    Faults, assert_close, assert_same, checkable, close, in_domain, summation_slack,
};
use fuzz_support::input::{Input as Bytes, adjust};
use libfuzzer_sys::fuzz_target;
use loss_kernels::Reduction;
use loss_kernels::embedding::{CosineEmbedding, CosineGrads, Distance, Triplet, TripletGrads};
use loss_kernels_reference::rows::{Row, cosine_embedding, triplet};

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let mode = b.byte();
    let dim = b.upto(32);
    let n = b.upto(32);
    let corrupt = b.byte() % 8;
    let delta = b.delta();
    let margin = b.float();
    let d = |which: u8| if corrupt == which { delta } else { 0 };
    let cos = mode & 1 != 0;
    let first = b.floats(adjust(n * dim, d(0)));
    let second = b.floats(adjust(first.len(), d(1)));
    let third = if cos {
        (0..adjust(n, d(2)))
            .map(|_| match b.byte() {
                255 => b.float(),
                254 => 0.0,
                v if v % 2 == 0 => 1.0,
                _ => -1.0,
            })
            .collect()
    } else {
        b.floats(adjust(first.len(), d(2)))
    };
    let weight = (mode & 4 != 0).then(|| b.floats(adjust(n, d(3))));
    let c = Case {
        dim,
        first,
        second,
        third,
        weight,
        margin: (mode & 8 != 0).then_some(margin),
        euclidean: mode & 2 != 0,
        grad_lens: [0, 1, 2].map(|k| adjust(n * dim, d(4 + k))),
        out_len: adjust(n, d(7)),
    };
    if cos {
        cosine_case(&c)
    } else {
        triplet_case(&c)
    }
});

struct Case {
    dim: usize,
    first: Vec<f32>,
    second: Vec<f32>,
    third: Vec<f32>,
    weight: Option<Vec<f32>>,
    margin: Option<f32>,
    euclidean: bool,
    grad_lens: [usize; 3],
    out_len: usize,
}

impl Case {
    fn rows(&self) -> Option<usize> {
        (self.dim > 0 && !self.first.is_empty() && self.first.len() % self.dim == 0)
            .then(|| self.first.len() / self.dim)
    }
    fn w(&self, i: usize) -> f32 {
        self.weight.as_ref().map_or(1.0, |w| w[i])
    }
}

/// Gradient buffers, one per input.
struct Grads {
    g: [Vec<f32>; 3],
}

impl Grads {
    fn new(lens: [usize; 3]) -> Self {
        Grads {
            g: lens.map(|l| vec![0.0f32; l]),
        }
    }
}

fn triplet_case(c: &Case) {
    let Some(loss) = Faults::new()
        .flag("dim", c.dim == 0)
        .expect("Triplet::new", Triplet::new(c.dim))
    else {
        return;
    };
    let loss = match c.margin {
        Some(m) => match Faults::new()
            .flag("margin", !m.is_finite())
            .expect("margin", loss.margin(m))
        {
            Some(l) => l,
            None => return,
        },
        None => loss,
    };
    let margin = c.margin.unwrap_or(1.0) as f64;
    let loss = loss.distance(if c.euclidean {
        Distance::Euclidean
    } else {
        Distance::Squared
    });
    let loss = match &c.weight {
        Some(w) => loss.sample_weight(w),
        None => loss,
    };
    let (a, p, ng) = (&c.first[..], &c.second[..], &c.third[..]);
    let rows = c.rows();
    let n = rows.unwrap_or(0);
    let faults = |grad: bool, out: bool| {
        let mut f = Faults::new();
        f.flag("anchor", rows.is_none())
            .flag("positive", p.len() != a.len())
            .flag("negative", ng.len() != a.len())
            .flag(
                "sample_weight",
                rows.is_some() && c.weight.as_ref().is_some_and(|w| w.len() != n),
            )
            .flag("grads.anchor", grad && c.grad_lens[0] != a.len())
            .flag("grads.positive", grad && c.grad_lens[1] != a.len())
            .flag("grads.negative", grad && c.grad_lens[2] != a.len())
            .flag("out", out && rows.is_some() && c.out_len != n);
        f
    };
    let sum = faults(false, false).expect("value(Sum)", loss.value(a, p, ng, Reduction::Sum));
    let mean = faults(false, false).expect("value(Mean)", loss.value(a, p, ng, Reduction::Mean));
    let mut gs = Grads::new(c.grad_lens);
    let mut gm = Grads::new(c.grad_lens);
    let [g0, g1, g2] = &mut gs.g;
    let vg_sum = faults(true, false).expect(
        "value_and_grad(Sum)",
        loss.value_and_grad(
            a,
            p,
            ng,
            Reduction::Sum,
            TripletGrads {
                anchor: g0,
                positive: g1,
                negative: g2,
            },
        ),
    );
    let [m0, m1, m2] = &mut gm.g;
    let vg_mean = faults(true, false).expect(
        "value_and_grad(Mean)",
        loss.value_and_grad(
            a,
            p,
            ng,
            Reduction::Mean,
            TripletGrads {
                anchor: m0,
                positive: m1,
                negative: m2,
            },
        ),
    );
    let mut out = vec![0.0f32; c.out_len];
    let ps = faults(false, true).expect("per_sample", loss.per_sample(a, p, ng, &mut out));
    let mut out2 = vec![0.0f32; c.out_len];
    let mut g2s = Grads::new(c.grad_lens);
    let [h0, h1, h2] = &mut g2s.g;
    let psg = faults(true, true).expect(
        "per_sample_and_grad",
        loss.per_sample_and_grad(
            a,
            p,
            ng,
            &mut out2,
            TripletGrads {
                anchor: h0,
                positive: h1,
                negative: h2,
            },
        ),
    );
    let (Some(sum), Some(mean), Some(vs), Some(vm), Some(()), Some(_)) =
        (sum, mean, vg_sum, vg_mean, ps, psg)
    else {
        return;
    };
    agree(sum, mean, vs, vm, &out, &out2, &gs, &g2s);
    let dim = c.dim;
    let dom = a.iter().chain(p).chain(ng).all(|&v| in_domain(v))
        && in_domain(margin as f32)
        && (0..n).all(|i| in_domain(c.w(i)));
    if !dom {
        return;
    }
    let refs: Vec<Row> = (0..n)
        .map(|i| {
            let r = |s: &[f32]| -> Vec<f64> {
                s[i * dim..(i + 1) * dim]
                    .iter()
                    .map(|&v| v as f64)
                    .collect()
            };
            triplet(&r(a), &r(p), &r(ng), margin, c.euclidean)
        })
        .collect();
    check(&refs, c, sum, mean, &out, &gs, &gm, 3);
}

fn cosine_case(c: &Case) {
    let Some(loss) = Faults::new()
        .flag("dim", c.dim == 0)
        .expect("CosineEmbedding::new", CosineEmbedding::new(c.dim))
    else {
        return;
    };
    let loss = match c.margin {
        Some(m) => match Faults::new()
            .flag("margin", !m.is_finite())
            .expect("margin", loss.margin(m))
        {
            Some(l) => l,
            None => return,
        },
        None => loss,
    };
    let margin = c.margin.unwrap_or(0.0) as f64;
    let loss = match &c.weight {
        Some(w) => loss.sample_weight(w),
        None => loss,
    };
    let (x1, x2, y) = (&c.first[..], &c.second[..], &c.third[..]);
    let rows = c.rows();
    let n = rows.unwrap_or(0);
    let labels_bad = rows.is_some() && (y.len() != n || y.iter().any(|&v| v != 1.0 && v != -1.0));
    let faults = |grad: bool, out: bool| {
        let mut f = Faults::new();
        f.flag("x1", rows.is_none())
            .flag("x2", x2.len() != x1.len())
            .flag("labels", labels_bad)
            .flag(
                "sample_weight",
                rows.is_some() && c.weight.as_ref().is_some_and(|w| w.len() != n),
            )
            .flag("grads.x1", grad && c.grad_lens[0] != x1.len())
            .flag("grads.x2", grad && c.grad_lens[1] != x1.len())
            .flag("out", out && rows.is_some() && c.out_len != n);
        f
    };
    let sum = faults(false, false).expect("value(Sum)", loss.value(x1, x2, y, Reduction::Sum));
    let mean = faults(false, false).expect("value(Mean)", loss.value(x1, x2, y, Reduction::Mean));
    let lens = [c.grad_lens[0], c.grad_lens[1], 0];
    let mut gs = Grads::new(lens);
    let mut gm = Grads::new(lens);
    let [g0, g1, _] = &mut gs.g;
    let vg_sum = faults(true, false).expect(
        "value_and_grad(Sum)",
        loss.value_and_grad(x1, x2, y, Reduction::Sum, CosineGrads { x1: g0, x2: g1 }),
    );
    let [m0, m1, _] = &mut gm.g;
    let vg_mean = faults(true, false).expect(
        "value_and_grad(Mean)",
        loss.value_and_grad(x1, x2, y, Reduction::Mean, CosineGrads { x1: m0, x2: m1 }),
    );
    let mut out = vec![0.0f32; c.out_len];
    let ps = faults(false, true).expect("per_sample", loss.per_sample(x1, x2, y, &mut out));
    let mut out2 = vec![0.0f32; c.out_len];
    let mut g2s = Grads::new(lens);
    let [h0, h1, _] = &mut g2s.g;
    let psg = faults(true, true).expect(
        "per_sample_and_grad",
        loss.per_sample_and_grad(x1, x2, y, &mut out2, CosineGrads { x1: h0, x2: h1 }),
    );
    let (Some(sum), Some(mean), Some(vs), Some(vm), Some(()), Some(_)) =
        (sum, mean, vg_sum, vg_mean, ps, psg)
    else {
        return;
    };
    agree(sum, mean, vs, vm, &out, &out2, &gs, &g2s);
    let dim = c.dim;
    let dom = x1.iter().chain(x2).all(|&v| in_domain(v))
        && in_domain(margin as f32)
        && (0..n).all(|i| in_domain(c.w(i)));
    if !dom {
        return;
    }
    let refs: Vec<Row> = (0..n)
        .map(|i| {
            let r = |s: &[f32]| -> Vec<f64> {
                s[i * dim..(i + 1) * dim]
                    .iter()
                    .map(|&v| v as f64)
                    .collect()
            };
            cosine_embedding(&r(x1), &r(x2), y[i] as f64, margin)
        })
        .collect();
    check(&refs, c, sum, mean, &out, &gs, &gm, 2);
}

/// The same numbers through different entry points.
#[allow(clippy::too_many_arguments)]
fn agree(sum: f32, mean: f32, vs: f32, vm: f32, out: &[f32], out2: &[f32], gs: &Grads, g2: &Grads) {
    assert_same("value(Sum) vs value_and_grad(Sum)", sum, vs);
    assert_same("value(Mean) vs value_and_grad(Mean)", mean, vm);
    for (a, b) in out.iter().zip(out2) {
        assert_same("per_sample vs per_sample_and_grad", *a, *b);
    }
    for (x, y) in gs.g.iter().zip(&g2.g) {
        for (a, b) in x.iter().zip(y) {
            assert_same("grads: value_and_grad(Sum) vs per_sample_and_grad", *a, *b);
        }
    }
}

/// Compares per-row references (gradients of `inputs` inputs per row).
#[allow(clippy::too_many_arguments)]
fn check(
    refs: &[Row],
    c: &Case,
    sum: f32,
    mean: f32,
    out: &[f32],
    gs: &Grads,
    gm: &Grads,
    inputs: usize,
) {
    let n = refs.len();
    let dim = c.dim;
    let ok = refs.iter().enumerate().all(|(i, r)| {
        let w = (c.w(i) as f64).abs().max(1.0);
        [r.value, r.value_scale, r.grad_scale]
            .iter()
            .all(|&v| checkable(v) && checkable(v * w))
            && r.grad.iter().all(|&g| checkable(g * w))
    });
    if !ok {
        return;
    }
    let (mut total, mut scale) = (0.0, 0.0);
    for (i, r) in refs.iter().enumerate() {
        let w = c.w(i) as f64;
        let s = w.abs() * r.value_scale;
        assert_close(
            &format!("per_sample[{i}]"),
            out[i],
            w * r.value,
            s,
            summation_slack(dim, 0, s),
        );
        total += w * r.value;
        scale += s;
    }
    let slack = summation_slack(n * dim, n, scale);
    assert_close("value(Sum)", sum, total, scale, slack);
    let nf = n as f64;
    assert_close("value(Mean)", mean, total / nf, scale / nf, slack / nf);
    for (i, r) in refs.iter().enumerate() {
        if r.grad_ambiguous {
            continue;
        }
        let w = c.w(i) as f64;
        for input in 0..inputs {
            for j in 0..dim {
                let want = r.grad[input * dim + j] * w;
                let gscale = r.grad_scale * w.abs();
                let k = i * dim + j;
                for (name, got, by) in [
                    ("Sum", gs.g[input][k], 1.0),
                    ("Mean", gm.g[input][k], 1.0 / nf),
                ] {
                    assert!(
                        close(got, want * by, gscale * by, 0.0),
                        "grad {name} input {input} [{k}] (row {i}): got {got:e}, want {:e}, scale {:e}",
                        want * by,
                        gscale * by
                    );
                }
            }
        }
    }
}
