//! Helpers for reading the conformance JSON: numbers may be the strings
//! "inf", "-inf" and "nan".

use serde_json::Value;

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

/// `|got - want| <= atol + rtol |want|`, with non-finite values matching
/// exactly (inf is inf, NaN is NaN).
pub fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    if !want.is_finite() {
        return (want.is_nan() && got.is_nan()) || got == want;
    }
    got.is_finite() && (got - want).abs() <= atol + rtol * want.abs()
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
