//! The row functions [`logsumexp`], [`log_softmax`] and [`softmax`]: the
//! driver's max and exp-sum passes, then one shift or scale pass.

use crate::driver::row::{exp_sum, max, scale, shift};
use crate::driver::{Samples, each_row, rows_in};
use crate::error::{Error, check_len, rows};
use crate::lane::{self, Kernel, Lane};
use crate::math::ln;

/// `ln Σ_k e^(x_k)` of each row of `classes` values into `out` (one per
/// row), as `m + ln Σ e^(x_k - m)`.
///
/// ```
/// use loss_kernels::softmax::logsumexp;
/// let mut out = [0.0; 2];
/// logsumexp(&[0.0, 0.0, 1e4, 1e4], 2, &mut out)?;
/// assert!((out[1] - (1e4 + core::f32::consts::LN_2)).abs() < 1e-3);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn logsumexp(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    run_rows(RowFunction::LogSumExp, logits, classes, out)
}

/// `log_softmax` of each row of `classes` values into `out` (same length):
/// `(x_k - m) - ln Σ e^(x_j - m)`.
///
/// ```
/// use loss_kernels::softmax::log_softmax;
/// let mut out = [0.0; 2];
/// log_softmax(&[3.0, 3.0], 2, &mut out)?;
/// assert_eq!(out, [-core::f32::consts::LN_2; 2]);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn log_softmax(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    run_rows(RowFunction::LogSoftmax, logits, classes, out)
}

/// `softmax` of each row of `classes` values into `out` (same length).
///
/// ```
/// use loss_kernels::softmax::softmax;
/// let mut out = [0.0; 4];
/// softmax(&[0.0, 0.0, -1e4, 1e4], 2, &mut out)?;
/// assert_eq!(out, [0.5, 0.5, 0.0, 1.0]);
/// # Ok::<(), loss_kernels::Error>(())
/// ```
pub fn softmax(logits: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    run_rows(RowFunction::Softmax, logits, classes, out)
}

/// Validates a row function's arguments (`out` holds one value per row for
/// `logsumexp`, else the logits' length) and runs it.
fn run_rows(
    function: RowFunction,
    logits: &[f32],
    classes: usize,
    out: &mut [f32],
) -> Result<(), Error> {
    let n = rows("logits", "classes", logits.len(), classes)?;
    let expected = match function {
        RowFunction::LogSumExp => n,
        RowFunction::LogSoftmax | RowFunction::Softmax => logits.len(),
    };
    check_len("out", out, expected)?;
    lane::run(RowCall {
        function,
        logits,
        classes,
        out,
    });
    Ok(())
}

/// Which row function a [`RowCall`] computes.
#[derive(Clone, Copy, Debug)]
enum RowFunction {
    /// One value per row.
    LogSumExp,
    /// A row per row.
    LogSoftmax,
    /// A row per row.
    Softmax,
}

/// A validated row-function call, ready for [`lane::run`].
struct RowCall<'a> {
    function: RowFunction,
    logits: &'a [f32],
    classes: usize,
    out: &'a mut [f32],
}

impl Kernel for RowCall<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Lane>(self) {
        let RowCall {
            function,
            logits,
            classes,
            out,
        } = self;
        match function {
            RowFunction::LogSumExp => {
                each_row_sum::<L, false>(
                    logits,
                    classes,
                    out,
                    &mut [],
                    #[inline(always)]
                    |_, _, m, s| m + ln(s),
                );
            }
            RowFunction::LogSoftmax => {
                each_row_sum::<L, false>(
                    logits,
                    classes,
                    &mut [],
                    out,
                    #[inline(always)]
                    |x, o, m, s| {
                        shift::<L>(x, m, ln(s), o);
                        0.0
                    },
                );
            }
            RowFunction::Softmax => {
                each_row_sum::<L, true>(
                    logits,
                    classes,
                    &mut [],
                    out,
                    #[inline(always)]
                    |_, o, _, s| {
                        scale::<L>(o, 1.0 / s);
                        0.0
                    },
                );
            }
        }
    }
}

/// Walks the rows of `logits`: gives `finish` each row's logits, row of
/// `rows_out` (empty if it is), max `m` and `Σ e^(x - m)`, and puts what it
/// returns into `values` (one per row, or nowhere if empty); with `STORE`,
/// `e^(x - m)` is written into the row of `rows_out` first. The next row's
/// max is read inside this row's exp pass.
#[inline(always)]
fn each_row_sum<L: Lane, const STORE: bool>(
    logits: &[f32],
    classes: usize,
    values: &mut [f32],
    rows_out: &mut [f32],
    mut finish: impl FnMut(&[f32], &mut [f32], f32, f32) -> f32,
) {
    let mut samples = Samples::new(values);
    let mut m = max::<L>(logits.get(..classes).unwrap_or(&[]));
    let rows = rows_in(logits.len(), classes);
    each_row(
        classes,
        0..rows,
        [logits],
        [rows_out],
        None,
        &mut samples,
        #[inline(always)]
        |row| {
            let ([x], [o]) = (row.x, row.grad);
            let (s, next_max) = exp_sum::<L, (), STORE>(x, m, o, row.next, &mut ());
            let v = finish(x, o, m, s);
            m = next_max;
            v
        },
    );
}
