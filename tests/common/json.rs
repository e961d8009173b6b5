//! The one JSON loader of the tests: the conformance files and their
//! numbers (which may be the strings "inf", "-inf" and "nan").

use super::tolerance::close;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every `*.json` in `tests/data/conformance/` (or in the folder named by
/// `LOSS_KERNELS_CONFORMANCE_DIR` when set), sorted; panics if there is none.
pub fn conformance_files() -> Vec<PathBuf> {
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
    files
}

/// One JSON file, parsed.
pub fn load(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A number (or the string forms of the non-finite ones) as `f64`.
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            other => panic!("not a number: {other}"),
        },
        other => panic!("not a number: {other}"),
    }
}

/// An array of numbers as `f64`.
pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

/// An array of numbers as `f32` (inputs are f32-representable).
pub fn f32s(v: &Value) -> Vec<f32> {
    nums(v).into_iter().map(|x| x as f32).collect()
}

/// An optional array of numbers as `f32` (`null` gives `None`).
pub fn opt_f32s(v: &Value) -> Option<Vec<f32>> {
    if v.is_null() { None } else { Some(f32s(v)) }
}

/// A tolerance triple for one case.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub loss_rtol: f64,
    pub loss_atol: f64,
    pub grad_rtol: f64,
    pub grad_atol: f64,
}

impl Tol {
    /// The file's defaults, replaced by the case's `tol` where present.
    pub fn of(case: &Value) -> Tol {
        let mut t = Tol {
            loss_rtol: 1e-5,
            loss_atol: 1e-6,
            grad_rtol: 1e-5,
            grad_atol: 1e-5,
        };
        if let Some(o) = case.get("tol").filter(|v| v.is_object()) {
            if let Some(v) = o.get("loss_rtol") {
                t.loss_rtol = num(v);
                t.grad_rtol = num(v);
            }
            if let Some(v) = o.get("loss_atol") {
                t.loss_atol = num(v);
            }
            if let Some(v) = o.get("grad_atol") {
                t.grad_atol = num(v);
            }
        }
        t
    }
}

/// Collects mismatches of `got` against `want` into `errors`.
pub fn compare(
    errors: &mut Vec<String>,
    id: &str,
    what: &str,
    got: &[f32],
    want: &[f64],
    rtol: f64,
    atol: f64,
) {
    if got.len() != want.len() {
        errors.push(format!(
            "{id}: {what}: length {} vs {}",
            got.len(),
            want.len()
        ));
        return;
    }
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        if !close(g as f64, w, rtol, atol) {
            errors.push(format!("{id}: {what}[{k}] = {g:e}, want {w:e}"));
            if errors.len() > 200 {
                return;
            }
        }
    }
}
