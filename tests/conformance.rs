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
//! does not know fails the test.

mod common;

use common::dynamic::{AnyPointwise, boxed};
use common::json::{Tol, compare, f32s, num, nums, opt_f32s};
use loss_kernels::Reduction;
use loss_kernels::pointwise;
use serde_json::Value;
use std::path::PathBuf;

/// Files whose family the crate does not implement yet; skipped by name,
/// loudly. Each later issue removes its file from this list.
const NOT_YET: &[&str] = &["softmax.json", "embedding.json"];

#[test]
fn conformance() {
    let dir = std::env::var_os("LOSS_KERNELS_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance")
        });
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no conformance files in {}",
        dir.display()
    );
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
        let text = std::fs::read_to_string(path).expect("read");
        let doc: Value = serde_json::from_str(&text).expect("parse");
        read_files += 1;
        for case in doc["cases"].as_array().expect("cases") {
            let loss = case["loss"].as_str().expect("loss");
            let id = case["id"].as_str().expect("id");
            let before = errors.len();
            match loss {
                "l1" | "l2" | "huber" | "hinge" | "squared_hinge" | "logistic" | "sigmoid_bce"
                | "bce" | "poisson_nll" | "log_cosh" => check_pointwise(case, &mut errors),
                "ctc" => check_ctc(case, &mut errors),
                other => errors.push(format!("{id}: unknown loss `{other}` in {name}")),
            }
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
    let loss: Box<dyn AnyPointwise> = match case["loss"].as_str().expect("loss") {
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
        "poisson_nll" => boxed(
            pointwise::PoissonNll::new(flag("log_input", true), flag("full", false)),
            dim,
            w,
        ),
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

/// A CTC case through every entry point: per-sample losses, both reductions
/// and their gradients (`grad_mean` where the case has it).
fn check_ctc(case: &Value, errors: &mut Vec<String>) {
    use loss_kernels::ctc::{Activations, Ctc, Input, Labels, Layout, workspace_len};
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
        t,
        n,
        c,
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
