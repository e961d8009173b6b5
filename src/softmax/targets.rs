//! What the targets of a row are, as the kernels see them: the [`TargetKind`]
//! trait, implemented once per kind of target (one-hot labels, smoothed
//! labels, dense targets, KL), so each kind is its own monomorphised
//! kernel and adding an option is one new implementation.
//!
//! In the notation of the [module docs](super), a row's effective target is
//! `w_k = hot [k = y] + spread v_k`. The per-row scalars (`hot`, `spread`,
//! `y`, ignored or not) come from [`TargetKind::row`]; the spread weights
//! `v_k` and the entropy term, which vary along the row, come lane by lane
//! from [`TargetKind::spread`] and [`TargetKind::entropy`], read through a
//! [`Columns`] view of the layout (the row layout or the transposed one).

use crate::lane::Lane;
use crate::math::{exp, ln};

/// How a layout reads the per-class inputs at column `k`: in the row
/// layout a lane holds classes `k..k + LANES` of one row; in the transposed
/// layout it holds class `k` of `LANES` rows.
pub(super) trait Columns<L: Lane> {
    /// The class weights `c` of the lane at column `k` (0 past the row).
    fn class_weight(&self, c: &[f32], k: usize) -> L;
    /// The dense target of the lane at column `k` (0 past the row).
    fn target(&self, k: usize) -> L;
}

/// The per-row scalars of a row's target.
#[derive(Clone, Copy, Debug)]
pub(super) struct RowTarget {
    /// The sparse label's column (`hot` is 0 when there is none).
    pub(super) label: usize,
    /// `(1 - α) c_y`, or 0 (dense targets, ignored rows).
    pub(super) hot: f32,
    /// `α / C` for sparse labels, 1 for dense targets, 0 for ignored rows.
    pub(super) spread: f32,
    /// The row is ignored: 0 loss, 0 gradient.
    pub(super) ignored: bool,
}

/// One kind of target; see the [module docs](self). Zero-cost: every
/// method is inlined into the kernels, and a method that returns `None`
/// removes its term from the loops.
pub(super) trait TargetKind: Copy {
    /// The rows read a dense target row (else a sparse label per row).
    const DENSE: bool;
    /// Row `i`'s scalars.
    fn row(&self, i: usize) -> RowTarget;
    /// Row `i`'s sparse label (`None` for dense targets).
    #[inline(always)]
    fn label(&self, _i: usize) -> Option<i64> {
        None
    }
    /// The scalars every row shares (only the label differs), when they do.
    fn uniform(&self) -> Option<RowTarget>;
    /// The spread weights `v_k` of the lane at column `k`, or `None` when
    /// the target has no spread term.
    fn spread<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L>;
    /// `Σ_k v_k` when it is the same for every row (sparse labels: `Σ c_k`);
    /// `None` if the kernels accumulate it per row.
    fn spread_total(&self) -> Option<f32>;
    /// The entropy term `t_k ln t_k` of the lane at column `k`, or `None`.
    #[inline(always)]
    fn entropy<L: Lane>(&self, _cols: &impl Columns<L>, _k: usize) -> Option<L> {
        None
    }
}

/// `t ln t`, 0 at `t = 0`, NaN for NaN or negative `t`.
#[inline(always)]
fn x_ln_x<L: Lane>(t: L) -> L {
    t.eq(L::splat(0.0)).select(L::splat(0.0), t * ln(t))
}

/// Class weights, or none (each a separate kernel, so the unweighted one
/// does no multiplication).
pub(super) trait ClassWeights: Copy {
    /// `c` of the lane at column `k`, or `None` without class weights.
    fn at<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L>;
}

/// No class weights.
#[derive(Clone, Copy, Debug)]
pub(super) struct Unweighted;

impl ClassWeights for Unweighted {
    #[inline(always)]
    fn at<L: Lane>(&self, _: &impl Columns<L>, _: usize) -> Option<L> {
        None
    }
}

/// Per-class weights (length `classes`, validated).
#[derive(Clone, Copy, Debug)]
pub(super) struct Weighted<'a>(pub(super) &'a [f32]);

impl ClassWeights for Weighted<'_> {
    #[inline(always)]
    fn at<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        Some(cols.class_weight(self.0, k))
    }
}

/// The sparse labels of a call, in the caller's integer type (read as
/// `i64`, no remapping pass).
#[derive(Clone, Copy, Debug)]
pub(super) enum ClassLabels<'a> {
    /// `u32` labels.
    U32(&'a [u32]),
    /// `i64` labels (PyTorch's).
    I64(&'a [i64]),
}

impl ClassLabels<'_> {
    /// The number of labels.
    pub(super) fn len(&self) -> usize {
        match self {
            ClassLabels::U32(y) => y.len(),
            ClassLabels::I64(y) => y.len(),
        }
    }

    /// Label `i` (`None` past the end).
    #[inline(always)]
    pub(super) fn get(&self, i: usize) -> Option<i64> {
        match self {
            ClassLabels::U32(y) => y.get(i).map(|&v| i64::from(v)),
            ClassLabels::I64(y) => y.get(i).copied(),
        }
    }
}

/// The per-call constants of sparse labels.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sparse<'a> {
    /// One label per row (validated: `< classes` or the ignored index).
    pub(super) labels: ClassLabels<'a>,
    /// Rows with this label are ignored.
    pub(super) ignore_index: Option<i64>,
    /// `1 - α`.
    pub(super) hot: f32,
    /// `α / C`.
    pub(super) spread: f32,
    /// The class weights, if any.
    pub(super) class_weight: Option<&'a [f32]>,
    /// `Σ_k c_k` (`C` without class weights): `Σ v_k` of a smoothed row.
    /// (Without smoothing it meets `spread = 0`; kept so a non-finite class
    /// weight gives NaN either way.)
    pub(super) class_weight_sum: f32,
}

impl Sparse<'_> {
    /// Row `i`'s scalars: `hot = (1 - α) c_y`; both 0 when ignored.
    #[inline(always)]
    fn row(&self, i: usize) -> RowTarget {
        let y = self.labels.get(i).unwrap_or(0);
        // Validated: `0 <= y < classes` unless ignored.
        let label = usize::try_from(y).unwrap_or(0);
        if Some(y) == self.ignore_index {
            return RowTarget {
                label,
                hot: 0.0,
                spread: 0.0,
                ignored: true,
            };
        }
        let c_y = self
            .class_weight
            .and_then(|c| c.get(label).copied())
            .unwrap_or(1.0);
        RowTarget {
            label,
            hot: self.hot * c_y,
            spread: self.spread,
            ignored: false,
        }
    }

    /// The shared scalars when no row can differ but by its label.
    #[inline(always)]
    fn uniform(&self) -> Option<RowTarget> {
        (self.ignore_index.is_none() && self.class_weight.is_none()).then_some(RowTarget {
            label: 0,
            hot: self.hot,
            spread: self.spread,
            ignored: false,
        })
    }
}

/// Sparse labels without smoothing: `w_k = c_y [k = y]`, no spread term.
#[derive(Clone, Copy, Debug)]
pub(super) struct OneHot<'a>(pub(super) Sparse<'a>);

impl TargetKind for OneHot<'_> {
    const DENSE: bool = false;
    #[inline(always)]
    fn label(&self, i: usize) -> Option<i64> {
        self.0.labels.get(i)
    }
    #[inline(always)]
    fn row(&self, i: usize) -> RowTarget {
        self.0.row(i)
    }
    #[inline(always)]
    fn uniform(&self) -> Option<RowTarget> {
        self.0.uniform()
    }
    #[inline(always)]
    fn spread<L: Lane>(&self, _: &impl Columns<L>, _: usize) -> Option<L> {
        None
    }
    #[inline(always)]
    fn spread_total(&self) -> Option<f32> {
        Some(self.0.class_weight_sum)
    }
}

/// Sparse labels with smoothing: spread weights `v_k = c_k` (1 without
/// class weights), `Σ v_k` precomputed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Smoothed<'a, C> {
    /// The labels and their constants.
    pub(super) sparse: Sparse<'a>,
    /// The class weights in the spread term.
    pub(super) class_weight: C,
}

impl<C: ClassWeights> TargetKind for Smoothed<'_, C> {
    const DENSE: bool = false;
    #[inline(always)]
    fn label(&self, i: usize) -> Option<i64> {
        self.sparse.labels.get(i)
    }
    #[inline(always)]
    fn row(&self, i: usize) -> RowTarget {
        self.sparse.row(i)
    }
    #[inline(always)]
    fn uniform(&self) -> Option<RowTarget> {
        self.sparse.uniform()
    }
    #[inline(always)]
    fn spread<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        Some(self.class_weight.at(cols, k).unwrap_or(L::splat(1.0)))
    }
    #[inline(always)]
    fn spread_total(&self) -> Option<f32> {
        Some(self.sparse.class_weight_sum)
    }
}

/// The scalars of a dense-target row: no label, `spread = 1`.
const DENSE_ROW: RowTarget = RowTarget {
    label: 0,
    hot: 0.0,
    spread: 1.0,
    ignored: false,
};

/// Dense targets with label smoothing `α` (PyTorch): the target row `t`
/// becomes `(1-α) t + α/C`; spread weights `v_k = c_k ((1-α) t_k + α/C)`.
/// (`α = 0` gives `t` exactly: `t · 1 + 0`.)
#[derive(Clone, Copy, Debug)]
pub(super) struct Dense<C> {
    /// The class weights.
    pub(super) class_weight: C,
    /// `1 - α`.
    pub(super) keep: f32,
    /// `α / C`.
    pub(super) add: f32,
}

impl<C: ClassWeights> TargetKind for Dense<C> {
    const DENSE: bool = true;
    #[inline(always)]
    fn row(&self, _: usize) -> RowTarget {
        DENSE_ROW
    }
    #[inline(always)]
    fn uniform(&self) -> Option<RowTarget> {
        Some(DENSE_ROW)
    }
    #[inline(always)]
    fn spread<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        let t = cols
            .target(k)
            .mul_add(L::splat(self.keep), L::splat(self.add));
        Some(match self.class_weight.at(cols, k) {
            Some(c) => c * t,
            None => t,
        })
    }
    #[inline(always)]
    fn spread_total(&self) -> Option<f32> {
        None
    }
}

/// KL divergence: dense targets without class weights, plus the target's
/// entropy `Σ t_k ln t_k`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Kl;

impl TargetKind for Kl {
    const DENSE: bool = true;
    #[inline(always)]
    fn row(&self, _: usize) -> RowTarget {
        DENSE_ROW
    }
    #[inline(always)]
    fn uniform(&self) -> Option<RowTarget> {
        Some(DENSE_ROW)
    }
    #[inline(always)]
    fn spread<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        Some(cols.target(k))
    }
    #[inline(always)]
    fn spread_total(&self) -> Option<f32> {
        None
    }
    #[inline(always)]
    fn entropy<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        Some(x_ln_x(cols.target(k)))
    }
}

/// KL divergence against log-probability targets `lt` (PyTorch's
/// `log_target=True`): `t = e^lt` in the dense terms, and the entropy term
/// `t ln t = e^lt lt` (0 where `e^lt = 0`, so `lt = -∞` adds nothing).
#[derive(Clone, Copy, Debug)]
pub(super) struct KlLog;

impl TargetKind for KlLog {
    const DENSE: bool = true;
    #[inline(always)]
    fn row(&self, _: usize) -> RowTarget {
        DENSE_ROW
    }
    #[inline(always)]
    fn uniform(&self) -> Option<RowTarget> {
        Some(DENSE_ROW)
    }
    #[inline(always)]
    fn spread<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        Some(exp(cols.target(k)))
    }
    #[inline(always)]
    fn spread_total(&self) -> Option<f32> {
        None
    }
    #[inline(always)]
    fn entropy<L: Lane>(&self, cols: &impl Columns<L>, k: usize) -> Option<L> {
        let lt = cols.target(k);
        let t = exp(lt);
        Some(t.eq(L::splat(0.0)).select(L::splat(0.0), t * lt))
    }
}
