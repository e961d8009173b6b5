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
const NOT_YET: &[&str] = &["softmax.json", "embedding.json", "ctc.json"];

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
