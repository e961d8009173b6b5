//! The one tolerance rule of the tests.

/// `|got - want| <= atol + rtol |want|`; a non-finite `want` matches only
/// itself (∞ is ∞, NaN is NaN), and a finite `want` needs a finite `got`.
pub fn close(got: impl Into<f64>, want: f64, rtol: f64, atol: f64) -> bool {
    let got = got.into();
    if !want.is_finite() {
        return (want.is_nan() && got.is_nan()) || got == want;
    }
    got.is_finite() && (got - want).abs() <= atol + rtol * want.abs()
}

/// Every value of `got` [`close`] to `want`, else which one is not.
pub fn all_close(
    what: &str,
    got: &[f32],
    want: &[f64],
    rtol: f64,
    atol: f64,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: length {} vs {}", got.len(), want.len()));
    }
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        if !close(g, w, rtol, atol) {
            return Err(format!("{what}[{k}] = {g:e}, want {w:e}"));
        }
    }
    Ok(())
}

/// A check's result as a quickcheck verdict.
pub fn verdict(r: Result<(), String>) -> quickcheck::TestResult {
    match r {
        Ok(()) => quickcheck::TestResult::passed(),
        Err(e) => quickcheck::TestResult::error(e),
    }
}

/// Central finite difference of `f` at `x[k]` in float64.
pub fn fd(x: &mut [f64], k: usize, f: &dyn Fn(&[f64]) -> f64) -> f64 {
    let h = 1e-6 * x[k].abs().max(1.0);
    let x0 = x[k];
    x[k] = x0 + h;
    let up = f(x);
    x[k] = x0 - h;
    let down = f(x);
    x[k] = x0;
    (up - down) / (2.0 * h)
}

/// Widens to float64.
pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}
