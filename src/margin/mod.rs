//! Margin and multi-label row losses over rows of `classes` scores, as
//! PyTorch defines them: [`MultilabelSoftMargin`]
//! (`multilabel_soft_margin_loss`), [`MultiMargin`] (`multi_margin_loss`)
//! and [`MultilabelMargin`] (`multilabel_margin_loss`).
//!
//! # Math
//!
//! For a row `x` of `C` scores (`c` the optional class weights, 1 without;
//! `h(z) = max(0, z)`, with gradient 0 at `z = 0` as in PyTorch):
//!
//! | loss | `l_i` | stable form / gradient |
//! |---|---|---|
//! | `MultilabelSoftMargin`, targets `y ∈ [0,1]` | `-(1/C) Σ_k c_k (y_k ln σ(x_k) + (1-y_k) ln σ(-x_k))` | `(1/C) Σ c_k (y_k softplus(-x_k) + (1-y_k) softplus(x_k))`; `∂/∂x_k = (c_k/C)(σ(x_k) - y_k)` |
//! | `MultiMargin`, label `y`, `p ∈ {1,2}` | `(1/C) Σ_{k≠y} c_y h(margin - x_y + x_k)^p` | `∂/∂x_k = (c_y/C) p h^(p-1) [z > 0]`, `∂/∂x_y = -Σ_{k≠y} ∂/∂x_k` |
//! | `MultilabelMargin`, target list `T` | `(1/C) Σ_{j∈T} Σ_{k∉T} h(1 - x_j + x_k)` | `∂/∂x_k = (1/C) #{j: z > 0}`, `∂/∂x_j = -(1/C) #{k: z > 0}` |
//!
//! `softplus` is evaluated as `max(x, 0) + ln(1 + e^-|x|)` (never
//! overflows). PyTorch's `multi_margin_loss` multiplies the *powered* term
//! by `c_y` (so does this crate). In `MultilabelMargin` an index listed
//! twice counts twice (PyTorch's rule) and `k` runs over the classes not
//! listed.
//!
//! # Labels
//!
//! Class indices are `u32` or PyTorch's `i64` ([`Label`]), read as given
//! (no remapping pass). A `MultilabelMargin` target row is PyTorch's
//! layout: `C` entries, the row's targets first, ended by the first
//! negative entry (`-1`); entries after it are not read. `u32` rows have no
//! terminator (all `C` entries listed).
//!
//! # Reductions and passes
//!
//! `Sum` adds the per-sample losses, `Mean` divides by the number of rows
//! (PyTorch's `mean`); sample weights scale each row's loss and gradient.
//! Each row is one fused pass over its lanes for the value and the gradient
//! (`MultilabelMargin`: one pass per four listed targets, each pass with
//! the membership test against the whole list, `O(|T|² C / (4 LANES))`);
//! the batch walk is the shared `driver::each_row`.
//!
//! ```
//! use loss_kernels::margin::MultiMargin;
//! use loss_kernels::Reduction;
//! let x = [0.1, 0.2, 0.4, 0.8]; // one row of 4 classes
//! let v = MultiMargin::new(4)?.value(&x, &[3u32], Reduction::Sum)?;
//! assert!((v - (0.3 + 0.4 + 0.6) / 4.0).abs() < 1e-6); // PyTorch's doc example
//! # Ok::<(), loss_kernels::Error>(())
//! ```

mod multi;
mod multilabel;
mod soft;

pub use multi::MultiMargin;
pub use multilabel::MultilabelMargin;
pub use soft::MultilabelSoftMargin;

use crate::Reduction;
use crate::driver::{Samples, each_row, reduction_scale};
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{self, Kernel, Lane};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for i64 {}
}

/// A class-index type: `u32`, or PyTorch's `i64` (whose negative values
/// end a [`MultilabelMargin`] target row).
pub trait Label: Copy + sealed::Sealed {
    /// The index as `i64`.
    fn index(self) -> i64;
}

impl Label for u32 {
    #[inline(always)]
    fn index(self) -> i64 {
        i64::from(self)
    }
}

impl Label for i64 {
    #[inline(always)]
    fn index(self) -> i64 {
        self
    }
}

/// `h(z) = max(0, z)` keeping NaN.
#[inline(always)]
fn hinge<L: Lane>(z: L) -> L {
    z.le(L::splat(0.0)).select(L::splat(0.0), z)
}

/// `[z > 0]`, NaN for NaN.
#[inline(always)]
fn step<L: Lane>(z: L) -> L {
    z.gt(L::splat(0.0))
        .select(L::splat(1.0), z.le(L::splat(0.0)).select(L::splat(0.0), z))
}

/// One row of a loss of this module, as the shared batch runs it.
trait RowLoss: Copy {
    /// Row `index`'s loss (before the sample weight) at scores `x` (with
    /// `target` the row's dense targets, or empty); with `GRAD` writes its
    /// gradient times `scale` into `grad` (the row's length), or adds it
    /// to what `grad` holds with `ACC`.
    fn row<L: Lane, const GRAD: bool, const ACC: bool>(
        &self,
        index: usize,
        x: &[f32],
        target: &[f32],
        grad: &mut [f32],
        scale: f32,
    ) -> f32;
}

/// A validated call: every row of `x` through `loss`.
struct Batch<'a, R> {
    loss: R,
    classes: usize,
    x: &'a [f32],
    target: &'a [f32],
    grad: &'a mut [f32],
    out: &'a mut [f32],
    weight: Option<&'a [f32]>,
    grad_scale: f32,
}

/// A [`Batch`] as a [`Kernel`]: with `GRAD` the gradient, written (or, with
/// `ACC`, added).
struct Rows<'a, R, const GRAD: bool, const ACC: bool>(Batch<'a, R>);

impl<R: RowLoss, const GRAD: bool, const ACC: bool> Kernel for Rows<'_, R, GRAD, ACC> {
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let Batch {
            loss,
            classes,
            x,
            target,
            grad,
            out,
            weight,
            grad_scale,
        } = self.0;
        let n = crate::driver::rows_in(x.len(), classes);
        let mut samples = Samples::new(out);
        each_row(
            classes,
            0..n,
            [x, target],
            [grad],
            weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let w = row.weight;
                let [x, t] = row.x;
                let [g] = row.grad;
                w * loss.row::<L, GRAD, ACC>(row.index, x, t, g, w * grad_scale)
            },
        );
        samples.total()
    }
}

/// The outputs an entry point asks for.
enum Want<'a> {
    /// The reduced value (and, with `Some`, its gradient).
    Reduced(Reduction, Option<&'a mut [f32]>),
    /// The per-sample values (and, with `Some`, the gradient of their sum).
    PerSample(&'a mut [f32], Option<&'a mut [f32]>),
    /// The reduced value, and `scale ·` its gradient added to the slice
    /// (`true`) or written into it (`false`).
    Scaled(Reduction, f32, &'a mut [f32], bool),
}

/// The `Mean` denominator of the rows of `x`: their number.
fn mean_denominator(x: &[f32], classes: usize) -> Result<f32, Error> {
    Ok(rows("x", "classes", x.len(), classes)? as f32)
}

/// The entry points' shared tail: checks `x` (rows of `classes`), the
/// sample weights, `target` (empty, or the scores' length) and the outputs,
/// then runs every row. `check_rows` validates the loss's own labels for
/// `n` rows first.
fn call<R: RowLoss>(
    loss: R,
    classes: usize,
    x: &[f32],
    target: &[f32],
    weight: Option<&[f32]>,
    want: Want<'_>,
    check_rows: impl FnOnce(usize) -> Result<(), Error>,
) -> Result<f32, Error> {
    let n = rows("x", "classes", x.len(), classes)?;
    if let Some(w) = weight {
        check_len("sample_weight", w, n)?;
    }
    check_rows(n)?;
    // The gradient, the reduction's factor, the caller's factor on the
    // gradient, and whether the gradient is added to.
    let (grad, out, scale, factor, acc) = match want {
        Want::Reduced(r, grad) => (grad, None, reduction_scale(r, n as f32), 1.0, false),
        Want::PerSample(out, grad) => {
            check_len("out", out, n)?;
            (grad, Some(out), 1.0, 1.0, false)
        }
        Want::Scaled(r, factor, grad, acc) => {
            let factor = check_param("scale", factor, Domain::Finite)?;
            (Some(grad), None, reduction_scale(r, n as f32), factor, acc)
        }
    };
    if let Some(g) = &grad {
        check_len("grad", g, x.len())?;
    }
    let out = out.unwrap_or(&mut []);
    let has_grad = grad.is_some();
    let batch = Batch {
        loss,
        classes,
        x,
        target,
        grad: grad.unwrap_or(&mut []),
        out,
        weight,
        grad_scale: scale * factor,
    };
    let total = match (has_grad, acc) {
        (true, true) => lane::run(Rows::<R, true, true>(batch)),
        (true, false) => lane::run(Rows::<R, true, false>(batch)),
        (false, _) => lane::run(Rows::<R, false, false>(batch)),
    };
    Ok(total * scale)
}
