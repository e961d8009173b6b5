#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Every case of every conformance file (reference vectors computed in
//! float64 by MXNet 1.9.1 and PyTorch 2.15) against this crate, with each
//! file's tolerances.
//!
//! Loads every `*.json` in `tests/data/conformance/`, or in the folder named
//! by `LOSS_KERNELS_CONFORMANCE_DIR` when set. A case whose loss the crate
//! does not know fails the test. Every case runs at every lane width.

use crate::common;

use common::dynamic::{AnyPointwise, boxed};
use common::json::{Tol, compare, conformance_files, f32s, load, num, nums, opt_f32s};
use common::lanes::{Family, each_lane};
use loss_kernels::Reduction;
use loss_kernels::embedding as emb;
use loss_kernels::pointwise;
use loss_kernels::softmax::{self as sm, Input, Labels};
use serde_json::Value;

/// Files whose family the crate does not implement yet; skipped by name,
/// loudly. Each later issue removes its file from this list.
const NOT_YET: &[&str] = &[];

#[test]
fn conformance() {
    let files = conformance_files();
    let (mut checked, mut read_files) = (0usize, 0usize);
    let mut errors = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if NOT_YET.contains(&name) {
            eprintln!("conformance: SKIPPING {name}: its loss family is not implemented yet");
            continue;
        }
        let doc = load(path);
        read_files += 1;
        for case in doc["cases"].as_array().expect("cases") {
            let loss = case["loss"].as_str().expect("loss");
            let id = case["id"].as_str().expect("id");
            let before = errors.len();
            let schema = case.get("schema").and_then(Value::as_str);
            let (family, check): (Family, fn(&Value, &mut Vec<String>)) = match (schema, loss) {
                (Some("gaussian_nll"), "gaussian_nll") => (Family::Pointwise, check_gaussian_nll),
                (Some("margin_ranking"), "margin_ranking") => {
                    (Family::Pointwise, check_margin_ranking)
                }
                (Some("pointwise"), _) => (Family::Pointwise, check_pointwise),
                (Some("row"), _) => (Family::Softmax, check_parity_row),
                (Some("embedding"), _) => (Family::Embedding, check_parity_embedding),
                (Some(other), _) => {
                    errors.push(format!("{id}: unknown schema `{other}` in {name}"));
                    continue;
                }
                (None, loss) => match loss {
                    "l1" | "l2" | "huber" | "hinge" | "squared_hinge" | "logistic"
                    | "sigmoid_bce" | "bce" | "poisson_nll" | "log_cosh" => {
                        (Family::Pointwise, check_pointwise)
                    }
                    "softmax_cross_entropy" | "kl_div" | "log_softmax" => {
                        (Family::Softmax, check_softmax)
                    }
                    "triplet" | "cosine_embedding" => (Family::Embedding, check_embedding),
                    "ctc" => (Family::Ctc, check_ctc),
                    other => {
                        errors.push(format!("{id}: unknown loss `{other}` in {name}"));
                        continue;
                    }
                },
            };
            each_lane(family, |width| {
                let start = errors.len();
                check(case, &mut errors);
                for e in &mut errors[start..] {
                    *e = format!("[{width} lanes] {e}");
                }
            });
            if errors.len() == before {
                checked += 1;
            }
        }
    }
    println!("conformance: checked {checked} cases from {read_files} files");
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

fn param(case: &Value, key: &str, default: f64) -> f32 {
    case["params"].get(key).map(num).unwrap_or(default) as f32
}

fn check_pointwise(case: &Value, errors: &mut Vec<String>) {
    let id = case["id"].as_str().expect("id");
    let dim = case["dim"].as_u64().expect("dim") as usize;
    let pred = f32s(&case["pred"]);
    let target = f32s(&case["target"]);
    let weight = opt_f32s(&case["sample_weight"]);
    let w = weight.as_deref();
    let flag = |k: &str, d: bool| case["params"].get(k).and_then(Value::as_bool).unwrap_or(d);
    // A per-class pos_weight (parity.json): an array instead of a number.
    let pos_weights = case["params"]
        .get("pos_weight")
        .filter(|v| v.is_array())
        .map(f32s);
    let loss: Box<dyn AnyPointwise> = match case["loss"].as_str().expect("loss") {
        "sigmoid_bce" if pos_weights.is_some() => {
            let pw = pos_weights.as_deref().expect("pos_weight");
            assert_eq!(pw.len(), dim, "{id}: pos_weight per class");
            let l = pointwise::SigmoidBcePerClass::new(pw).expect("pos_weight");
            match w {
                Some(w) => Box::new(l.sample_weight(w)),
                None => Box::new(l),
            }
        }
        "mse" => boxed(pointwise::Mse::new(), dim, w),
        "smooth_l1" => boxed(
            pointwise::SmoothL1::new(param(case, "beta", 1.0)).expect("beta"),
            dim,
            w,
        ),
        "huber_torch" => boxed(
            pointwise::HuberTorch::new(param(case, "delta", 1.0)).expect("delta"),
            dim,
            w,
        ),
        "soft_margin" => boxed(pointwise::SoftMargin::new(), dim, w),
        "hinge_embedding" => boxed(
            pointwise::HingeEmbedding::new(param(case, "margin", 1.0)).expect("margin"),
            dim,
            w,
        ),
        "sigmoid_focal" => boxed(
            pointwise::SigmoidFocal::new(param(case, "alpha", 0.25), param(case, "gamma", 2.0))
                .expect("alpha, gamma"),
            dim,
            w,
        ),
        "l1" => boxed(pointwise::L1::new(), dim, w),
        "l2" => boxed(pointwise::L2::new(), dim, w),
        "huber" => boxed(
            pointwise::Huber::new(param(case, "rho", 1.0)).expect("rho"),
            dim,
            w,
        ),
        "hinge" => boxed(
            pointwise::Hinge::new(param(case, "margin", 1.0)).expect("margin"),
            dim,
            w,
        ),
        "squared_hinge" => boxed(
            pointwise::SquaredHinge::new(param(case, "margin", 1.0)).expect("margin"),
            dim,
            w,
        ),
        "logistic" => {
            let labels = match case["params"]
                .get("labels")
                .and_then(Value::as_str)
                .unwrap_or("signed")
            {
                "signed" => pointwise::Labels::Signed,
                "binary" => pointwise::Labels::Binary,
                other => panic!("{id}: labels {other}"),
            };
            boxed(pointwise::Logistic::new(labels), dim, w)
        }
        "sigmoid_bce" => boxed(
            pointwise::SigmoidBce::new(param(case, "pos_weight", 1.0)).expect("pw"),
            dim,
            w,
        ),
        "bce" => boxed(
            pointwise::Bce::new(param(case, "pos_weight", 1.0)).expect("pw"),
            dim,
            w,
        ),
        "poisson_nll" => {
            let l = pointwise::PoissonNll::new(flag("log_input", true), flag("full", false));
            let l = match case["params"].get("eps") {
                Some(eps) => l.eps(num(eps) as f32).expect("eps"),
                None => l,
            };
            boxed(l, dim, w)
        }
        "log_cosh" => boxed(pointwise::LogCosh::new(), dim, w),
        other => panic!("{id}: not pointwise: {other}"),
    };
    let tol = Tol::of(case);
    let expect = &case["expect"];
    let n = pred.len() / dim;
    let scalar = |v: f32| [v];

    let mut per = vec![0.0f32; n];
    let mut grad = vec![0.0f32; pred.len()];
    let sum = loss
        .per_sample_and_grad(&pred, &target, &mut per, &mut grad)
        .unwrap();
    compare(
        errors,
        id,
        "per_sample_and_grad.out",
        &per,
        &nums(&expect["per_sample"]),
        tol.loss_rtol,
        tol.loss_atol,
    );
    compare(
        errors,
        id,
        "per_sample_and_grad.sum",
        &scalar(sum),
        &[num(&expect["sum"])],
        tol.loss_rtol,
        tol.loss_atol,
    );
    compare(
        errors,
        id,
        "per_sample_and_grad.grad",
        &grad,
        &nums(&expect["grad_sum"]),
        tol.grad_rtol,
        tol.grad_atol,
    );

    let mut per2 = vec![0.0f32; n];
    loss.per_sample(&pred, &target, &mut per2).unwrap();
    compare(
        errors,
        id,
        "per_sample",
        &per2,
        &nums(&expect["per_sample"]),
        tol.loss_rtol,
        tol.loss_atol,
    );

    for (reduction, key, gkey) in [
        (Reduction::Sum, "sum", "grad_sum"),
        (Reduction::Mean, "mean", "grad_mean"),
    ] {
        let want = [num(&expect[key])];
        let v = loss.value(&pred, &target, reduction).unwrap();
        compare(
            errors,
            id,
            &format!("value({key})"),
            &scalar(v),
            &want,
            tol.loss_rtol,
            tol.loss_atol,
        );
        let mut g = vec![f32::NAN; pred.len()];
        let v = loss
            .value_and_grad(&pred, &target, reduction, &mut g)
            .unwrap();
        compare(
            errors,
            id,
            &format!("value_and_grad({key})"),
            &scalar(v),
            &want,
            tol.loss_rtol,
            tol.loss_atol,
        );
        compare(
            errors,
            id,
            &format!("value_and_grad({key}).grad"),
            &g,
            &nums(&expect[gkey]),
            tol.grad_rtol,
            tol.grad_atol,
        );
    }
}

/// Softmax cross-entropy, KL divergence and the row functions (`log_softmax`
/// cases also check `logsumexp` and `softmax`): every entry point against
/// every expectation field of the case.
fn check_softmax(case: &Value, errors: &mut Vec<String>) {
    let id = case["id"].as_str().expect("id");
    let classes = case["classes"].as_u64().expect("classes") as usize;
    let x = f32s(&case["logits"]);
    let tol = Tol::of(case);
    let expect = &case["expect"];
    let loss = case["loss"].as_str().expect("loss");
    if loss == "log_softmax" {
        let mut out = vec![0.0f32; x.len()];
        sm::log_softmax(&x, classes, &mut out).expect("log_softmax");
        let want = nums(&expect["out"]);
        compare(
            errors,
            id,
            "log_softmax",
            &out,
            &want,
            tol.loss_rtol,
            tol.loss_atol,
        );
        // `logsumexp` and `softmax` against the same expectation: the row's
        // `x - log_softmax(x)` and `exp(log_softmax(x))`, in float64.
        let xs = nums(&case["logits"]);
        let want_lse: Vec<f64> = xs
            .chunks_exact(classes)
            .zip(want.chunks_exact(classes))
            .map(|(x, l)| x[0] - l[0])
            .collect();
        let mut lse = vec![0.0f32; want_lse.len()];
        sm::logsumexp(&x, classes, &mut lse).expect("logsumexp");
        compare(
            errors,
            id,
            "logsumexp",
            &lse,
            &want_lse,
            tol.loss_rtol,
            tol.loss_atol,
        );
        let want_sm: Vec<f64> = want.iter().map(|l| l.exp()).collect();
        sm::softmax(&x, classes, &mut out).expect("softmax");
        compare(
            errors,
            id,
            "softmax",
            &out,
            &want_sm,
            tol.loss_rtol,
            tol.loss_atol,
        );
        return;
    }
    let p = &case["params"];
    let log_probs = p["from_log_probs"].as_bool().unwrap_or(false);
    let input = if log_probs {
        Input::LogProbs
    } else {
        Input::Logits
    };
    let target = opt_f32s(&case["target"]);
    let sample_weight = opt_f32s(&case["sample_weight"]);
    let class_weight = opt_f32s(&case["class_weight"]);
    let sparse: Option<Vec<u32>> = case["labels"].as_array().map(|a| {
        a.iter()
            .map(|v| v.as_u64().expect("label") as u32)
            .collect()
    });
    let n = x.len() / classes;
    let len = x.len();
    let call: RowCall = if loss == "kl_div" {
        let mut kl = sm::KlDivergence::new(classes).expect("kl").input(input);
        if let Some(w) = &sample_weight {
            kl = kl.sample_weight(w);
        }
        let t = target.clone().expect("target");
        Box::new(move |out, grad, r| match (out, grad) {
            (Some(o), Some(g)) => kl.per_sample_and_grad(&x, &t, o, g).expect("psg"),
            (Some(o), None) => kl.per_sample(&x, &t, o).map(|_| f32::NAN).expect("ps"),
            (None, Some(g)) => kl.value_and_grad(&x, &t, r, g).expect("vg"),
            (None, None) => kl.value(&x, &t, r).expect("v"),
        })
    } else {
        let mut ce = sm::SoftmaxCrossEntropy::new(classes)
            .expect("ce")
            .input(input)
            .label_smoothing(p["label_smoothing"].as_f64().unwrap_or(0.0) as f32)
            .expect("smoothing")
            .ignore_index(p["ignore_index"].as_i64());
        if let Some(c) = &class_weight {
            ce = ce.class_weight(c);
        }
        if let Some(w) = &sample_weight {
            ce = ce.sample_weight(w);
        }
        let (sparse, target) = (sparse.clone(), target.clone());
        Box::new(move |out, grad, r| {
            let labels = match (&sparse, &target) {
                (Some(y), _) => Labels::Sparse(y),
                (None, Some(t)) => Labels::Dense(t),
                _ => panic!("no labels"),
            };
            match (out, grad) {
                (Some(o), Some(g)) => ce.per_sample_and_grad(&x, labels, o, g).expect("psg"),
                (Some(o), None) => ce.per_sample(&x, labels, o).map(|_| f32::NAN).expect("ps"),
                (None, Some(g)) => ce.value_and_grad(&x, labels, r, g).expect("vg"),
                (None, None) => ce.value(&x, labels, r).expect("v"),
            }
        })
    };
    check_row_calls(case, errors, n, len, &call);
}

/// Triplet and cosine embedding: every entry point, the gradients by input
/// name.
fn check_embedding(case: &Value, errors: &mut Vec<String>) {
    let dim = case["dim"].as_u64().expect("dim") as usize;
    let margin = param(case, "margin", 0.0);
    let triplet = case["loss"] == "triplet";
    let names: &[&str] = if triplet {
        &["anchor", "positive", "negative"]
    } else {
        &["x1", "x2"]
    };
    let x: Vec<Vec<f32>> = names.iter().map(|k| f32s(&case[*k])).collect();
    let len = x[0].len();
    let euclid = case["params"]["distance"] == "euclidean";
    let distance = if euclid {
        emb::Distance::Euclidean
    } else {
        emb::Distance::Squared
    };
    let tri = emb::Triplet::new(dim)
        .expect("dim")
        .margin(margin)
        .expect("m")
        .distance(distance);
    let cos = emb::CosineEmbedding::new(dim)
        .expect("dim")
        .margin(margin)
        .expect("m");
    let labels = if triplet {
        vec![]
    } else {
        f32s(&case["labels"])
    };
    // (per-sample out, grads, reduction) -> value, through every entry point.
    let call = |out: Option<&mut [f32]>, g: Option<&mut [Vec<f32>]>, r: Reduction| -> f32 {
        match (triplet, out, g) {
            (true, out, Some(g)) => {
                let [ga, gp, gn] = g else { panic!() };
                let grads = emb::TripletGrads {
                    anchor: ga,
                    positive: gp,
                    negative: gn,
                };
                match out {
                    Some(o) => tri.per_sample_and_grad(&x[0], &x[1], &x[2], o, grads),
                    None => tri.value_and_grad(&x[0], &x[1], &x[2], r, grads),
                }
            }
            (true, Some(o), None) => tri.per_sample(&x[0], &x[1], &x[2], o).map(|_| f32::NAN),
            (true, None, None) => tri.value(&x[0], &x[1], &x[2], r),
            (false, out, Some(g)) => {
                let [g1, g2] = g else { panic!() };
                let grads = emb::CosineGrads { x1: g1, x2: g2 };
                match out {
                    Some(o) => cos.per_sample_and_grad(&x[0], &x[1], &labels, o, grads),
                    None => cos.value_and_grad(&x[0], &x[1], &labels, r, grads),
                }
            }
            (false, Some(o), None) => cos.per_sample(&x[0], &x[1], &labels, o).map(|_| f32::NAN),
            (false, None, None) => cos.value(&x[0], &x[1], &labels, r),
        }
        .expect("embedding call")
    };
    check_embedding_calls(case, errors, names, len, &call);
}

/// A CTC case through every entry point: per-sample losses, both reductions
/// and their gradients (`grad_mean` where the case has it).
fn check_ctc(case: &Value, errors: &mut Vec<String>) {
    use loss_kernels::ctc::{Activations, Ctc, Dims, Input, Labels, Layout, workspace_len};
    let id = case["id"].as_str().expect("id");
    let uint = |k: &str| case[k].as_u64().expect(k) as usize;
    let (t, n, c, s) = (uint("T"), uint("N"), uint("C"), uint("max_label_len"));
    let ints = |k: &str| -> Vec<u32> {
        let v = case[k].as_array().expect(k);
        v.iter().map(|x| x.as_i64().expect(k) as u32).collect()
    };
    let (acts, input_lengths, labels, lengths) = (
        f32s(&case["acts"]),
        ints("input_lengths"),
        ints("labels"),
        ints("label_lengths"),
    );
    let p = &case["params"];
    let layout = match case["layout"].as_str().expect("layout") {
        "time_major" => Layout::TimeMajor,
        _ => Layout::BatchMajor,
    };
    let acts = Activations {
        data: &acts,
        layout,
        dims: Dims {
            steps: t,
            batch: n,
            classes: c,
        },
        input_lengths: &input_lengths,
    };
    let labels = Labels::Padded {
        labels: &labels,
        max_len: s,
        lengths: &lengths,
    };
    let ctc = Ctc::new(p["blank"].as_u64().expect("blank") as u32)
        .input(match p["input"].as_str().expect("input") {
            "logits" => Input::Logits,
            _ => Input::LogProbs,
        })
        .zero_infinity(p["zero_infinity"].as_bool().expect("zero_infinity"));
    let (tol, expect) = (Tol::of(case), &case["expect"]);
    let mut ws = vec![f32::NAN; workspace_len(t, s)];
    let (mut per, mut grad) = (vec![f32::NAN; n], vec![f32::NAN; acts.data.len()]);
    let check = |errors: &mut Vec<String>, what: &str, got: &[f32], key: &str, grad: bool| {
        let (r, a) = match grad {
            true => (tol.grad_rtol, tol.grad_atol),
            false => (tol.loss_rtol, tol.loss_atol),
        };
        let want = match &expect[key] {
            Value::Array(_) => nums(&expect[key]),
            v => vec![num(v)],
        };
        compare(errors, id, what, got, &want, r, a);
    };
    let sum = ctc.per_sample_and_grad(&acts, &labels, &mut ws, &mut per, &mut grad);
    check(
        errors,
        "per_sample_and_grad",
        &[sum.expect("ctc")],
        "sum",
        false,
    );
    check(errors, "per_sample_and_grad.out", &per, "per_sample", false);
    check(errors, "per_sample_and_grad.grad", &grad, "grad_sum", true);
    ctc.per_sample(&acts, &labels, &mut ws, &mut per)
        .expect("ctc");
    check(errors, "per_sample", &per, "per_sample", false);
    for (reduction, key, gkey) in [
        (Reduction::Sum, "sum", "grad_sum"),
        (Reduction::Mean, "mean", "grad_mean"),
    ] {
        let v = ctc.value(&acts, &labels, reduction, &mut ws).expect("ctc");
        check(errors, &format!("value({key})"), &[v], key, false);
        grad.fill(f32::NAN);
        let v = ctc
            .value_and_grad(&acts, &labels, reduction, &mut ws, &mut grad)
            .expect("ctc");
        check(errors, &format!("value_and_grad({key})"), &[v], key, false);
        if !expect[gkey].is_null() {
            check(
                errors,
                &format!("value_and_grad({key}).grad"),
                &grad,
                gkey,
                true,
            );
        }
    }
}

// ---------------------------------------------------------------------------
// SPEC Part 2 (parity.json): the `row` and `embedding` schemas.

/// A row case's entry points: (per-sample out, grad, reduction) -> value.
type RowCall<'a> = Box<dyn Fn(Option<&mut [f32]>, Option<&mut [f32]>, Reduction) -> f32 + 'a>;

/// An embedding case's entry points: (per-sample out, gradients by input,
/// reduction) -> value.
type EmbeddingCall<'a> = dyn Fn(Option<&mut [f32]>, Option<&mut [Vec<f32>]>, Reduction) -> f32 + 'a;

/// Every entry point of a row case (`n` samples, gradients of `len`)
/// against every expectation field.
fn check_row_calls(case: &Value, errors: &mut Vec<String>, n: usize, len: usize, call: &RowCall) {
    let id = case["id"].as_str().expect("id");
    let tol = Tol::of(case);
    let expect = &case["expect"];
    let per_want = nums(&expect["per_sample"]);
    let (lr, la, gr, ga) = (tol.loss_rtol, tol.loss_atol, tol.grad_rtol, tol.grad_atol);
    let (mut per, mut grad) = (vec![f32::NAN; n], vec![f32::NAN; len]);
    let sum = call(Some(&mut per), Some(&mut grad), Reduction::Sum);
    compare(
        errors,
        id,
        "per_sample_and_grad.out",
        &per,
        &per_want,
        lr,
        la,
    );
    compare(
        errors,
        id,
        "per_sample_and_grad.sum",
        &[sum],
        &[num(&expect["sum"])],
        lr,
        la,
    );
    let grad_sum = nums(&expect["grad_sum"]);
    compare(
        errors,
        id,
        "per_sample_and_grad.grad",
        &grad,
        &grad_sum,
        gr,
        ga,
    );
    let mut per = vec![f32::NAN; n];
    call(Some(&mut per), None, Reduction::Sum);
    compare(errors, id, "per_sample", &per, &per_want, lr, la);
    for (r, key, gkey) in [
        (Reduction::Sum, "sum", "grad_sum"),
        (Reduction::Mean, "mean", "grad_mean"),
    ] {
        let want = [num(&expect[key])];
        compare(
            errors,
            id,
            &format!("value({key})"),
            &[call(None, None, r)],
            &want,
            lr,
            la,
        );
        let mut g = vec![f32::NAN; len];
        let v = call(None, Some(&mut g), r);
        compare(
            errors,
            id,
            &format!("value_and_grad({key})"),
            &[v],
            &want,
            lr,
            la,
        );
        let gw = nums(&expect[gkey]);
        compare(
            errors,
            id,
            &format!("value_and_grad({key}).grad"),
            &g,
            &gw,
            gr,
            ga,
        );
    }
}

/// Every entry point of an embedding case with inputs `names` (each of
/// `len` values) against every expectation field.
fn check_embedding_calls(
    case: &Value,
    errors: &mut Vec<String>,
    names: &[&str],
    len: usize,
    call: &EmbeddingCall,
) {
    let id = case["id"].as_str().expect("id");
    let dim = case["dim"].as_u64().expect("dim") as usize;
    let n = len / dim;
    let tol = Tol::of(case);
    let (lr, la, gr, ga) = (tol.loss_rtol, tol.loss_atol, tol.grad_rtol, tol.grad_atol);
    let expect = &case["expect"];
    let per_want = nums(&expect["per_sample"]);
    let fresh = || vec![vec![f32::NAN; len]; names.len()];
    let check_grads = |errors: &mut Vec<String>, what: &str, g: &[Vec<f32>], div: f64| {
        for (name, g) in names.iter().zip(g) {
            let want: Vec<f64> = nums(&expect["grad_sum"][*name])
                .iter()
                .map(|v| v / div)
                .collect();
            compare(errors, id, &format!("{what}.grad.{name}"), g, &want, gr, ga);
        }
    };
    let (mut per, mut g) = (vec![f32::NAN; n], fresh());
    let sum = call(Some(&mut per), Some(&mut g), Reduction::Sum);
    compare(
        errors,
        id,
        "per_sample_and_grad.out",
        &per,
        &per_want,
        lr,
        la,
    );
    compare(
        errors,
        id,
        "per_sample_and_grad.sum",
        &[sum],
        &[num(&expect["sum"])],
        lr,
        la,
    );
    check_grads(errors, "per_sample_and_grad", &g, 1.0);
    let mut per = vec![f32::NAN; n];
    call(Some(&mut per), None, Reduction::Sum);
    compare(errors, id, "per_sample", &per, &per_want, lr, la);
    for (r, key, div) in [
        (Reduction::Sum, "sum", 1.0),
        (Reduction::Mean, "mean", n as f64),
    ] {
        let want = [num(&expect[key])];
        compare(
            errors,
            id,
            &format!("value({key})"),
            &[call(None, None, r)],
            &want,
            lr,
            la,
        );
        let mut g = fresh();
        let v = call(None, Some(&mut g), r);
        compare(
            errors,
            id,
            &format!("value_and_grad({key})"),
            &[v],
            &want,
            lr,
            la,
        );
        check_grads(errors, &format!("value_and_grad({key})"), &g, div);
    }
}

/// A `"schema": "row"` case of parity.json: multi-label soft margin,
/// multi-class margin, multi-label margin, softmax cross-entropy (dense
/// labels with smoothing, the strided class axis; sparse labels as PyTorch's
/// `int64`) and KL divergence with log-probability targets.
fn check_parity_row(case: &Value, errors: &mut Vec<String>) {
    use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
    let id = case["id"].as_str().expect("id");
    let classes = case["classes"].as_u64().expect("classes") as usize;
    let spatial = case.get("spatial").and_then(Value::as_u64).unwrap_or(1) as usize;
    let x = f32s(&case["logits"]);
    let p = &case["params"];
    let flag = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
    let input = if flag("from_log_probs") {
        Input::LogProbs
    } else {
        Input::Logits
    };
    let target = opt_f32s(&case["target"]);
    let class_weight = opt_f32s(&case["class_weight"]);
    let sample_weight = opt_f32s(&case["sample_weight"]);
    let labels: Option<Vec<i64>> = case["labels"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_i64().expect("label")).collect());
    let n = x.len() / (classes * spatial) * spatial;
    let len = x.len();
    let (cw, sw) = (class_weight.as_deref(), sample_weight.as_deref());
    let call: RowCall = match case["loss"].as_str().expect("loss") {
        "softmax_cross_entropy" => {
            let mut ce = sm::SoftmaxCrossEntropy::new(classes)
                .expect("ce")
                .spatial(spatial)
                .expect("spatial")
                .input(input)
                .label_smoothing(param(case, "label_smoothing", 0.0))
                .expect("smoothing")
                .ignore_index(p["ignore_index"].as_i64());
            if let Some(c) = cw {
                ce = ce.class_weight(c);
            }
            if let Some(w) = sw {
                ce = ce.sample_weight(w);
            }
            Box::new(move |out, grad, r| {
                let labels = match (&labels, &target) {
                    (Some(y), _) => Labels::SparseI64(y),
                    (None, Some(t)) => Labels::Dense(t),
                    _ => panic!("no labels"),
                };
                match (out, grad) {
                    (Some(o), Some(g)) => ce.per_sample_and_grad(&x, labels, o, g),
                    (Some(o), None) => ce.per_sample(&x, labels, o).map(|_| f32::NAN),
                    (None, Some(g)) => ce.value_and_grad(&x, labels, r, g),
                    (None, None) => ce.value(&x, labels, r),
                }
                .expect("cross-entropy call")
            })
        }
        "kl_div" => {
            let mut kl = sm::KlDivergence::new(classes)
                .expect("kl")
                .input(input)
                .log_target(flag("log_target"));
            if let Some(w) = sw {
                kl = kl.sample_weight(w);
            }
            let t = target.expect("target");
            Box::new(move |out, grad, r| {
                match (out, grad) {
                    (Some(o), Some(g)) => kl.per_sample_and_grad(&x, &t, o, g),
                    (Some(o), None) => kl.per_sample(&x, &t, o).map(|_| f32::NAN),
                    (None, Some(g)) => kl.value_and_grad(&x, &t, r, g),
                    (None, None) => kl.value(&x, &t, r),
                }
                .expect("kl call")
            })
        }
        "multilabel_soft_margin" => {
            let mut l = MultilabelSoftMargin::new(classes).expect("classes");
            if let Some(c) = cw {
                l = l.class_weight(c);
            }
            if let Some(w) = sw {
                l = l.sample_weight(w);
            }
            let t = target.expect("target");
            Box::new(move |out, grad, r| {
                match (out, grad) {
                    (Some(o), Some(g)) => l.per_sample_and_grad(&x, &t, o, g),
                    (Some(o), None) => l.per_sample(&x, &t, o).map(|_| f32::NAN),
                    (None, Some(g)) => l.value_and_grad(&x, &t, r, g),
                    (None, None) => l.value(&x, &t, r),
                }
                .expect("multilabel_soft_margin call")
            })
        }
        "multi_margin" => {
            let mut l = MultiMargin::new(classes)
                .expect("classes")
                .p(p["p"].as_u64().expect("p") as u32)
                .expect("p")
                .margin(param(case, "margin", 1.0))
                .expect("margin");
            if let Some(c) = cw {
                l = l.class_weight(c);
            }
            if let Some(w) = sw {
                l = l.sample_weight(w);
            }
            let y = labels.expect("labels");
            Box::new(move |out, grad, r| {
                match (out, grad) {
                    (Some(o), Some(g)) => l.per_sample_and_grad(&x, &y, o, g),
                    (Some(o), None) => l.per_sample(&x, &y, o).map(|_| f32::NAN),
                    (None, Some(g)) => l.value_and_grad(&x, &y, r, g),
                    (None, None) => l.value(&x, &y, r),
                }
                .expect("multi_margin call")
            })
        }
        "multilabel_margin" => {
            let mut l = MultilabelMargin::new(classes).expect("classes");
            if let Some(w) = sw {
                l = l.sample_weight(w);
            }
            let y = labels.expect("labels");
            Box::new(move |out, grad, r| {
                match (out, grad) {
                    (Some(o), Some(g)) => l.per_sample_and_grad(&x, &y, o, g),
                    (Some(o), None) => l.per_sample(&x, &y, o).map(|_| f32::NAN),
                    (None, Some(g)) => l.value_and_grad(&x, &y, r, g),
                    (None, None) => l.value(&x, &y, r),
                }
                .expect("multilabel_margin call")
            })
        }
        other => {
            errors.push(format!("{id}: unknown row loss `{other}`"));
            return;
        }
    };
    check_row_calls(case, errors, n, len, &call);
}

/// A `"schema": "embedding"` case of parity.json: the p-norm triplet loss
/// (`p`, `eps`, `swap`) and SDML.
fn check_parity_embedding(case: &Value, errors: &mut Vec<String>) {
    let id = case["id"].as_str().expect("id");
    let dim = case["dim"].as_u64().expect("dim") as usize;
    let p = &case["params"];
    match case["loss"].as_str().expect("loss") {
        "triplet" => {
            let names: &[&str] = &["anchor", "positive", "negative"];
            let x: Vec<Vec<f32>> = names.iter().map(|k| f32s(&case[*k])).collect();
            let distance = emb::Distance::p_norm(p["p"].as_u64().expect("p") as u32).expect("p");
            let tri = emb::Triplet::new(dim)
                .expect("dim")
                .margin(param(case, "margin", 1.0))
                .expect("margin")
                .distance(distance)
                .eps(param(case, "eps", 1e-6))
                .expect("eps")
                .swap(p["swap"].as_bool().expect("swap"));
            let call = |out: Option<&mut [f32]>, g: Option<&mut [Vec<f32>]>, r: Reduction| {
                match (out, g) {
                    (out, Some(g)) => {
                        let [ga, gp, gn] = g else { panic!() };
                        let grads = emb::TripletGrads {
                            anchor: ga,
                            positive: gp,
                            negative: gn,
                        };
                        match out {
                            Some(o) => tri.per_sample_and_grad(&x[0], &x[1], &x[2], o, grads),
                            None => tri.value_and_grad(&x[0], &x[1], &x[2], r, grads),
                        }
                    }
                    (Some(o), None) => tri.per_sample(&x[0], &x[1], &x[2], o).map(|_| f32::NAN),
                    (None, None) => tri.value(&x[0], &x[1], &x[2], r),
                }
                .expect("triplet call")
            };
            check_embedding_calls(case, errors, names, x[0].len(), &call);
        }
        "sdml" => {
            let names: &[&str] = &["x1", "x2"];
            let x: Vec<Vec<f32>> = names.iter().map(|k| f32s(&case[*k])).collect();
            let sdml = emb::Sdml::new(dim)
                .expect("dim")
                .smoothing(param(case, "smoothing", 0.3))
                .expect("smoothing");
            let call = |out: Option<&mut [f32]>, g: Option<&mut [Vec<f32>]>, r: Reduction| {
                match (out, g) {
                    (out, Some(g)) => {
                        let [g1, g2] = g else { panic!() };
                        let grads = emb::SdmlGrads { x1: g1, x2: g2 };
                        match out {
                            Some(o) => sdml.per_sample_and_grad(&x[0], &x[1], o, grads),
                            None => sdml.value_and_grad(&x[0], &x[1], r, grads),
                        }
                    }
                    (Some(o), None) => sdml.per_sample(&x[0], &x[1], o).map(|_| f32::NAN),
                    (None, None) => sdml.value(&x[0], &x[1], r),
                }
                .expect("sdml call")
            };
            check_embedding_calls(case, errors, names, x[0].len(), &call);
        }
        other => errors.push(format!("{id}: unknown embedding loss `{other}`")),
    }
}

/// A pair loss's calls: `(per-sample out, both gradients, reduction) -> value`.
type PairCall<'a> = dyn Fn(Option<&mut [f32]>, Option<[&mut [f32]; 2]>, Reduction) -> f32 + 'a;

/// A case of the parity schemas `gaussian_nll` and `margin_ranking`: every
/// entry point, both reductions, both gradients (by input name), at the
/// case's tolerances.
fn check_pair(
    case: &Value,
    errors: &mut Vec<String>,
    names: [&str; 2],
    call: &PairCall<'_>,
    grad_lens: [usize; 2],
    n: usize,
) {
    let id = case["id"].as_str().expect("id");
    let tol = Tol::of(case);
    let (lr, la, gr, ga) = (tol.loss_rtol, tol.loss_atol, tol.grad_rtol, tol.grad_atol);
    let expect = &case["expect"];
    let per_want = nums(&expect["per_sample"]);
    // The expected gradients of a reduction: grad_mean where the case has
    // it, else grad_sum / n.
    let want_grad = |mean: bool, name: &str| -> Vec<f64> {
        match (mean, expect.get("grad_mean")) {
            (true, Some(g)) => nums(&g[name]),
            (true, None) => nums(&expect["grad_sum"][name])
                .iter()
                .map(|v| v / n as f64)
                .collect(),
            (false, _) => nums(&expect["grad_sum"][name]),
        }
    };
    let fresh = || grad_lens.map(|l| vec![f32::NAN; l]);
    let check_grads = |errors: &mut Vec<String>, what: &str, g: &[Vec<f32>; 2], mean: bool| {
        for (name, g) in names.iter().zip(g) {
            compare(
                errors,
                id,
                &format!("{what}.grad.{name}"),
                g,
                &want_grad(mean, name),
                gr,
                ga,
            );
        }
    };
    let (mut per, mut g) = (vec![f32::NAN; n], fresh());
    let [g0, g1] = &mut g;
    let sum = call(Some(&mut per), Some([g0, g1]), Reduction::Sum);
    compare(
        errors,
        id,
        "per_sample_and_grad.out",
        &per,
        &per_want,
        lr,
        la,
    );
    compare(
        errors,
        id,
        "per_sample_and_grad.sum",
        &[sum],
        &[num(&expect["sum"])],
        lr,
        la,
    );
    check_grads(errors, "per_sample_and_grad", &g, false);
    let mut per = vec![f32::NAN; n];
    call(Some(&mut per), None, Reduction::Sum);
    compare(errors, id, "per_sample", &per, &per_want, lr, la);
    for (r, key, mean) in [
        (Reduction::Sum, "sum", false),
        (Reduction::Mean, "mean", true),
    ] {
        let want = [num(&expect[key])];
        compare(
            errors,
            id,
            &format!("value({key})"),
            &[call(None, None, r)],
            &want,
            lr,
            la,
        );
        let mut g = fresh();
        let [g0, g1] = &mut g;
        let v = call(None, Some([g0, g1]), r);
        compare(
            errors,
            id,
            &format!("value_and_grad({key})"),
            &[v],
            &want,
            lr,
            la,
        );
        check_grads(errors, &format!("value_and_grad({key})"), &g, mean);
    }
}

/// `gaussian_nll` cases (per-element or per-sample `var`).
fn check_gaussian_nll(case: &Value, errors: &mut Vec<String>) {
    use loss_kernels::pair::{GaussianGrads, GaussianNll};
    let dim = case["dim"].as_u64().expect("dim") as usize;
    let [pred, target, var] = ["pred", "target", "var"].map(|k| f32s(&case[k]));
    let weight = opt_f32s(&case["sample_weight"]);
    let p = &case["params"];
    let mut loss = GaussianNll::new()
        .full(p["full"].as_bool().expect("full"))
        .eps(num(&p["eps"]) as f32)
        .expect("eps")
        .dim(dim);
    if let Some(w) = &weight {
        loss = loss.sample_weight(w);
    }
    let n = pred.len() / dim;
    let call = |out: Option<&mut [f32]>, g: Option<[&mut [f32]; 2]>, r: Reduction| -> f32 {
        let grads = g.map(|[gp, gv]| GaussianGrads { pred: gp, var: gv });
        match (out, grads) {
            (Some(o), Some(g)) => loss.per_sample_and_grad(&pred, &target, &var, o, g),
            (Some(o), None) => loss.per_sample(&pred, &target, &var, o).map(|_| f32::NAN),
            (None, Some(g)) => loss.value_and_grad(&pred, &target, &var, r, g),
            (None, None) => loss.value(&pred, &target, &var, r),
        }
        .expect("gaussian_nll call")
    };
    check_pair(
        case,
        errors,
        ["pred", "var"],
        &call,
        [pred.len(), var.len()],
        n,
    );
}

/// `margin_ranking` cases.
fn check_margin_ranking(case: &Value, errors: &mut Vec<String>) {
    use loss_kernels::pair::{MarginRanking, RankingGrads};
    let dim = case["dim"].as_u64().expect("dim") as usize;
    let [x1, x2, labels] = ["x1", "x2", "labels"].map(|k| f32s(&case[k]));
    let weight = opt_f32s(&case["sample_weight"]);
    let mut loss = MarginRanking::new(param(case, "margin", 0.0))
        .expect("margin")
        .dim(dim);
    if let Some(w) = &weight {
        loss = loss.sample_weight(w);
    }
    let n = x1.len() / dim;
    let call = |out: Option<&mut [f32]>, g: Option<[&mut [f32]; 2]>, r: Reduction| -> f32 {
        let grads = g.map(|[g1, g2]| RankingGrads { x1: g1, x2: g2 });
        match (out, grads) {
            (Some(o), Some(g)) => loss.per_sample_and_grad(&x1, &x2, &labels, o, g),
            (Some(o), None) => loss.per_sample(&x1, &x2, &labels, o).map(|_| f32::NAN),
            (None, Some(g)) => loss.value_and_grad(&x1, &x2, &labels, r, g),
            (None, None) => loss.value(&x1, &x2, &labels, r),
        }
        .expect("margin_ranking call")
    };
    check_pair(case, errors, ["x1", "x2"], &call, [x1.len(), x1.len()], n);
}
