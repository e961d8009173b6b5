//! The losses on two or three inputs: Gaussian NLL (per-element or
//! per-sample `var`, `full`, `eps`) and margin ranking, every entry point,
//! both reductions, with and without `dim` and `sample_weight`, against the
//! float64 reference (`loss_kernels_reference::pairs`); malformed lengths,
//! `dim`, parameters and negative variances must give `Err`.
//!
//! Input layout (see `fuzz_support::input` for the float encoding):
//! `loss % 2, flags, n % 65, dim % 33, corrupt, delta, param, eps, a.., b.., c.., weight..`
//! with loss 0 = Gaussian NLL (`a, b, c` = pred, target, var; `eps`),
//! 1 = margin ranking (`x1, x2, labels`; `margin = param`); flags bit 0 =
//! sample weights, bit 1 = `full`, bit 2 = one `var` per sample, bit 3 =
//! labels from the signs of `c` (else `c` as given); `corrupt % 8` picks the
//! argument whose length is changed by `delta` (0 a, 1 b, 2 c,
//! 3 sample_weight, 4 first gradient, 5 second gradient, 6 out, else none).

#![no_main]

use fuzz_support::check::{
    Faults, assert_close, assert_same, checkable, in_domain, summation_slack,
};
use fuzz_support::input::{Input, adjust};
use libfuzzer_sys::fuzz_target;
use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
use loss_kernels::{Error, Reduction};
use loss_kernels_reference::pairs::{self as reference, PairResult};

/// One decoded case.
struct Case {
    gaussian: bool,
    dim: usize,
    x: [Vec<f32>; 3],
    weight: Option<Vec<f32>>,
    grad_len: [usize; 2],
    out_len: usize,
}

/// A loss's calls: `(per-sample out, gradients, reduction) -> value`.
type Call<'a> =
    dyn Fn(Option<&mut [f32]>, Option<[&mut [f32]; 2]>, Reduction) -> Result<f32, Error> + 'a;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let gaussian = input.byte() % 2 == 0;
    let flags = input.byte();
    let n = input.upto(64);
    let dim = input.upto(32);
    let corrupt = input.byte() % 8;
    let delta = input.delta();
    let param = input.float();
    let eps = input.float();
    let d = |which: u8| if corrupt == which { delta } else { 0 };
    let len = adjust(n * dim, d(0));
    let per_sample_var = gaussian && flags & 4 != 0;
    let c_len = if per_sample_var { n } else { len };
    let a = input.floats(len);
    let b = input.floats(adjust(len, d(1)));
    let mut c = input.floats(adjust(c_len, d(2)));
    if !gaussian && flags & 8 != 0 {
        for v in &mut c {
            *v = if v.is_sign_negative() { -1.0 } else { 1.0 };
        }
    }
    let case = Case {
        gaussian,
        dim,
        weight: (flags & 1 != 0).then(|| input.floats(adjust(n, d(3)))),
        grad_len: [
            adjust(len, d(4)),
            adjust(c.len().max(usize::from(!gaussian) * len), d(5)),
        ],
        out_len: adjust(n, d(6)),
        x: [a, b, c],
    };
    if gaussian {
        let r = Faults::new()
            .flag("eps", !(eps.is_finite() && eps > 0.0))
            .expect(
                "GaussianNll::eps",
                GaussianNll::new().full(flags & 2 != 0).eps(eps),
            );
        let Some(loss) = r else { return };
        let loss = loss.dim(dim);
        match &case.weight {
            Some(w) => gaussian_calls(loss.sample_weight(w), &case, flags & 2 != 0, eps),
            None => gaussian_calls(loss, &case, flags & 2 != 0, eps),
        }
    } else {
        let r = Faults::new()
            .flag("margin", !param.is_finite())
            .expect("MarginRanking::new", MarginRanking::new(param));
        let Some(loss) = r else { return };
        let loss = loss.dim(dim);
        match &case.weight {
            Some(w) => ranking_calls(loss.sample_weight(w), &case, param),
            None => ranking_calls(loss, &case, param),
        }
    }
});

fn gaussian_calls(loss: GaussianNll<'_>, c: &Case, full: bool, eps: f32) {
    let [p, t, v] = &c.x;
    let call = |out: Option<&mut [f32]>, g: Option<[&mut [f32]; 2]>, r: Reduction| {
        let grads = g.map(|[gp, gv]| GaussianGrads { pred: gp, var: gv });
        match (out, grads) {
            (Some(o), Some(g)) => loss.per_sample_and_grad(p, t, v, o, g),
            (Some(o), None) => loss.per_sample(p, t, v, o).map(|_| f32::NAN),
            (None, Some(g)) => loss.value_and_grad(p, t, v, r, g),
            (None, None) => loss.value(p, t, v, r),
        }
    };
    let rows_ok = c.dim > 0 && !p.is_empty() && p.len() % c.dim == 0;
    let n = if rows_ok { p.len() / c.dim } else { 0 };
    let var_len_bad = rows_ok && !(v.len() == p.len() || (v.len() == n && c.dim > 1));
    let own = [("var", var_len_bad || v.iter().any(|&x| x < 0.0))];
    calls(
        &call,
        c,
        &own,
        ["grad.pred", "grad.var"],
        [p.len(), v.len()],
        &|w| reference::gaussian_nll(&f64s(p), &f64s(t), &f64s(v), c.dim, full, eps as f64, w),
        None,
    );
}

fn ranking_calls(loss: MarginRanking<'_>, c: &Case, margin: f32) {
    let [x1, x2, t] = &c.x;
    let call = |out: Option<&mut [f32]>, g: Option<[&mut [f32]; 2]>, r: Reduction| {
        let grads = g.map(|[g1, g2]| RankingGrads { x1: g1, x2: g2 });
        match (out, grads) {
            (Some(o), Some(g)) => loss.per_sample_and_grad(x1, x2, t, o, g),
            (Some(o), None) => loss.per_sample(x1, x2, t, o).map(|_| f32::NAN),
            (None, Some(g)) => loss.value_and_grad(x1, x2, t, r, g),
            (None, None) => loss.value(x1, x2, t, r),
        }
    };
    let own = [("labels", t.len() != x1.len())];
    let kink = |k: usize| {
        reference::margin_ranking_kink(x1[k] as f64, x2[k] as f64, t[k] as f64, margin as f64)
            < 1e-5
    };
    calls(
        &call,
        c,
        &own,
        ["grad.x1", "grad.x2"],
        [x1.len(), x1.len()],
        &|w| reference::margin_ranking(&f64s(x1), &f64s(x2), &f64s(t), c.dim, margin as f64, w),
        Some(&kink),
    );
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Every entry point of one loss: the error model (`own` holds the
/// loss's own input faults), the entry points' agreement, NaN in NaN out,
/// finite in no NaN out, and the differential check. `kink(k)`: element `k`
/// is within rounding of a kink, where a zero gradient is also right.
#[allow(clippy::too_many_arguments)]
fn calls(
    call: &Call<'_>,
    c: &Case,
    own: &[(&'static str, bool)],
    grad_names: [&'static str; 2],
    grad_want: [usize; 2],
    reference: &dyn Fn(Option<&[f64]>) -> PairResult,
    kink: Option<&dyn Fn(usize) -> bool>,
) {
    let [first, second, third] = &c.x;
    let names = if c.gaussian {
        ["pred", "target"]
    } else {
        ["x1", "x2"]
    };
    let rows_ok = c.dim > 0 && !first.is_empty() && first.len() % c.dim == 0;
    let n = if rows_ok { first.len() / c.dim } else { 0 };
    let faults = |grad: bool, out: bool| {
        let mut f = Faults::new();
        for &(name, bad) in own {
            f.flag(name, bad);
        }
        f.flag("dim", c.dim == 0)
            .flag(names[0], c.dim > 0 && !rows_ok)
            .flag(names[1], second.len() != first.len())
            .flag(
                "sample_weight",
                rows_ok && c.weight.as_ref().is_some_and(|w| w.len() != n),
            )
            .flag(grad_names[0], grad && c.grad_len[0] != grad_want[0])
            .flag(grad_names[1], grad && c.grad_len[1] != grad_want[1])
            .flag("out", out && rows_ok && c.out_len != n);
        f
    };
    let fresh = || c.grad_len.map(|l| vec![0.0f32; l]);
    let v_sum = faults(false, false).expect("value(Sum)", call(None, None, Reduction::Sum));
    let v_mean = faults(false, false).expect("value(Mean)", call(None, None, Reduction::Mean));
    let (mut g_sum, mut g_mean) = (fresh(), fresh());
    let [a, b] = &mut g_sum;
    let vg_sum = faults(true, false).expect(
        "value_and_grad(Sum)",
        call(None, Some([a, b]), Reduction::Sum),
    );
    let [a, b] = &mut g_mean;
    let vg_mean = faults(true, false).expect(
        "value_and_grad(Mean)",
        call(None, Some([a, b]), Reduction::Mean),
    );
    let mut out = vec![0.0f32; c.out_len];
    let ps = faults(false, true).expect("per_sample", call(Some(&mut out), None, Reduction::Sum));
    let (mut out2, mut g2) = (vec![0.0f32; c.out_len], fresh());
    let [a, b] = &mut g2;
    let psg = faults(true, true).expect(
        "per_sample_and_grad",
        call(Some(&mut out2), Some([a, b]), Reduction::Sum),
    );
    let (Some(v_sum), Some(v_mean), Some(vg_sum), Some(vg_mean), Some(_), Some(psg_sum)) =
        (v_sum, v_mean, vg_sum, vg_mean, ps, psg)
    else {
        return;
    };
    assert_same("value(Sum) vs value_and_grad(Sum)", v_sum, vg_sum);
    assert_same("value(Mean) vs value_and_grad(Mean)", v_mean, vg_mean);
    for side in 0..2 {
        for (&x, &y) in g_sum[side].iter().zip(&g2[side]) {
            assert_same("grad: value_and_grad vs per_sample_and_grad", x, y);
        }
    }
    for (&x, &y) in out.iter().zip(&out2) {
        assert_same("per_sample vs per_sample_and_grad", x, y);
    }
    let dim = c.dim;
    let weight = |i: usize| c.weight.as_ref().map_or(1.0, |w| w[i]);
    let third_at = |k: usize| {
        if third.len() == first.len() {
            k
        } else {
            k / dim
        }
    };
    // NaN in, NaN out.
    for k in 0..first.len() {
        let i = k / dim;
        if first[k].is_nan()
            || second[k].is_nan()
            || third[third_at(k)].is_nan()
            || weight(i).is_nan()
        {
            assert!(out[i].is_nan(), "NaN input in sample {i} gave {}", out[i]);
            assert!(v_sum.is_nan(), "NaN input gave sum {v_sum}");
            assert!(
                g_sum[0][k].is_nan(),
                "NaN input at {k} gave finite grad {}",
                g_sum[0][k]
            );
        }
    }
    let all_finite = c.x.iter().all(|x| x.iter().all(|v| v.is_finite()))
        && (0..n).all(|i| weight(i).is_finite());
    if !all_finite {
        return;
    }
    let w64: Option<Vec<f64>> = c.weight.as_ref().map(|w| f64s(w));
    let want = reference(w64.as_deref());
    // Finite in, no NaN out, where the reference is well inside the range:
    // its weighted results, and its unweighted terms times max(|w|, 1) (a
    // zero weight times an overflowing f32 term is NaN, as in any f32 code).
    // Both losses start from `first - second` in f32: past f32::MAX it is
    // ±∞, and a zero label, weight or 1/var times it NaN, though the
    // reference's scale may be small.
    let unit = reference(None);
    let w_at = |i: usize| (weight(i) as f64).abs().max(1.0);
    let representable = |k: usize| (f64::from(first[k]) - f64::from(second[k])).abs() <= 1e36;
    for i in 0..n {
        if want.per_sample[i].is_finite()
            && unit.per_sample_scale[i] * w_at(i) <= 1e36
            && (i * dim..(i + 1) * dim).all(representable)
        {
            assert!(!out[i].is_nan(), "finite sample {i} gave a NaN loss");
        }
    }
    for side in 0..2 {
        let per_sample = g_sum[side].len() == n && dim > 1;
        for (k, &g) in g_sum[side].iter().enumerate() {
            let w = w_at(if per_sample { k } else { k / dim });
            let mut elements = if per_sample {
                k * dim..(k + 1) * dim
            } else {
                k..k + 1
            };
            if want.grad[side][k].is_finite()
                && unit.grad_scale[side][k] * w <= 1e36
                && elements.all(representable)
            {
                assert!(!g.is_nan(), "finite input gave a NaN gradient {side}[{k}]");
            }
        }
    }
    // Differential check in the domain.
    if !(c.x.iter().all(|x| x.iter().all(|&v| in_domain(v)))
        && (0..n).all(|i| in_domain(weight(i))))
    {
        return;
    }
    // (The unweighted scales too: a small weight does not make an
    // overflowing f32 term checkable.)
    let scales = want
        .per_sample
        .iter()
        .chain(&want.per_sample_scale)
        .chain(want.grad.iter().flatten())
        .chain(want.grad_scale.iter().flatten())
        .chain(&unit.per_sample_scale)
        .chain(unit.grad_scale.iter().flatten());
    if !scales.clone().all(|&x| checkable(x)) {
        return;
    }
    let magnitude: f64 = want.per_sample.iter().map(|v| v.abs()).sum();
    for i in 0..n {
        let slack = summation_slack(dim, 0, want.per_sample_scale[i]);
        assert_close(
            &format!("per_sample[{i}]"),
            out[i],
            want.per_sample[i],
            want.per_sample_scale[i],
            slack,
        );
    }
    let sum: f64 = want.per_sample.iter().sum();
    let scale: f64 = want.per_sample_scale.iter().sum();
    let slack = summation_slack(first.len(), n, magnitude + scale);
    assert_close("value(Sum)", v_sum, sum, scale, slack);
    assert_close("per_sample_and_grad sum", psg_sum, sum, scale, slack);
    let nf = n as f64;
    assert_close("value(Mean)", v_mean, sum / nf, scale / nf, slack / nf);
    for side in 0..2 {
        for (k, (&g, &gm)) in g_sum[side].iter().zip(&g_mean[side]).enumerate() {
            let (r, s) = (want.grad[side][k], want.grad_scale[side][k]);
            // A per-sample var's gradient sums dim terms.
            let slack = if side == 1 && third.len() != first.len() {
                summation_slack(dim, 0, s)
            } else {
                0.0
            };
            let at_kink = kink.is_some_and(|f| f(k));
            let ok = |got: f32, by: f64| {
                fuzz_support::check::close(got, r * by, s * by, slack * by)
                    || (at_kink
                        && (got == 0.0
                            || fuzz_support::check::close(got.abs(), s * by, s * by, slack * by)))
            };
            assert!(
                ok(g, 1.0),
                "grad Sum {side}[{k}]: got {g:e}, want {r:e} (scale {s:e})"
            );
            assert!(
                ok(gm, 1.0 / nf),
                "grad Mean {side}[{k}]: got {gm:e}, want {:e}",
                r / nf
            );
        }
    }
}
