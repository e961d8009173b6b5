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
