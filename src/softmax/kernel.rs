//! The cross-entropy math of a row, written once over `L: Lane` and used by
//! both layouts: the per-lane accumulation ([`Sums::add`]), the loss and
//! gradient factor of a row ([`combine`]) and the gradient formula
//! ([`GradFactors::at`]). In the row layout (this file's [`row`]) a lane
//! holds `LANES` classes of one row and the sums are reduced at the end of
//! the row; in the transposed layout ([`super::narrow`]) a lane holds one
//! class of `LANES` rows and the same functions run on whole lanes of rows.

use super::Input;
use super::targets::{Columns, TargetKind};
use crate::driver::batch::Row;
use crate::driver::lanes::{for_lanes, keep_or, load, put};
use crate::driver::row::{ExpVisit, exp_sum, max};
use crate::lane::Lane;
use crate::math::{exp_nonpositive, ln};

/// The sums of a row (or, in the transposed layout, of one row per lane).
#[derive(Clone, Copy, Debug)]
pub(super) struct Sums<L> {
    /// `s = Σ e^(x_k - m)`.
    pub(super) s: L,
    /// `D = Σ v_k (m - x_k)` over the spread weights `v_k` (with `m = 0`
    /// for log-probabilities: `-Σ v_k x_k`).
    pub(super) d: L,
    /// `Σ v_k`.
    pub(super) total: L,
    /// `Σ t_k ln t_k`.
    pub(super) entropy: L,
}

impl<L: Lane> Sums<L> {
    /// All zero.
    #[inline(always)]
    pub(super) fn zero() -> Self {
        let z = L::splat(0.0);
        Sums {
            s: z,
            d: z,
            total: z,
            entropy: z,
        }
    }

    /// Adds one lane's spread and entropy terms: `v` the values (logits or
    /// log-probabilities), `m` the row maximum (0 for log-probabilities),
    /// `spread` the spread weights (0 in masked lanes), `entropy` the
    /// `t ln t` terms. The exp sum `s` is added by the exp pass itself.
    #[inline(always)]
    pub(super) fn add(&mut self, v: L, m: L, spread: Option<L>, entropy: Option<L>) {
        if let Some(w) = spread {
            self.d = w.mul_add(m - v, self.d);
            self.total = self.total + w;
        }
        if let Some(h) = entropy {
            self.entropy = self.entropy + h;
        }
    }

    /// Lane-wise sum of two partial sums.
    #[inline(always)]
    fn merge(self, o: Self) -> Self {
        Sums {
            s: self.s + o.s,
            d: self.d + o.d,
            total: self.total + o.total,
            entropy: self.entropy + o.entropy,
        }
    }

    /// Horizontal sums (the row layout's partial sums of one row).
    #[inline(always)]
    fn reduce(self) -> Sums<f32> {
        Sums {
            s: self.s.sum(),
            d: self.d.sum(),
            total: self.total.sum(),
            entropy: self.entropy.sum(),
        }
    }

    /// `Σ v_k` from the kind where it is known per call, else as summed.
    #[inline(always)]
    pub(super) fn with_total(self, kind: &impl TargetKind) -> Self {
        match kind.spread_total() {
            Some(total) => Sums {
                total: L::splat(total),
                ..self
            },
            None => self,
        }
    }
}

/// A row's loss and the gradient factor `a = W / s` from its sums:
/// `hot (m - x_y) + spread D + W ln s + entropy`, `W = hot + spread Σv`.
#[inline(always)]
pub(super) fn combine<L: Lane>(hot: L, m_minus_label: L, spread: L, sums: Sums<L>) -> (L, L) {
    let total = spread.mul_add(sums.total, hot);
    let loss = hot.mul_add(m_minus_label, spread * sums.d) + total * ln(sums.s) + sums.entropy;
    (loss, total / sums.s)
}

/// The factors of a row's gradient `scale (softmax_k W - w_k)`, that is
/// `g_k = e_k a - b v_k - hot [k = y]` with `e_k = e^(x_k - m)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct GradFactors<L> {
    /// `scale W / s` (0 for log-probabilities).
    pub(super) a: L,
    /// `scale · spread`.
    pub(super) b: L,
    /// `scale · hot`: subtracted at the label's column.
    pub(super) hot: L,
}

impl<L: Lane> GradFactors<L> {
    /// From the row's `hot`, `spread`, `a = W / s` and `scale` (the sample
    /// weight times the reduction's factor).
    #[inline(always)]
    pub(super) fn new(hot: L, spread: L, a: L, scale: L) -> Self {
        GradFactors {
            a: a * scale,
            b: spread * scale,
            hot: hot * scale,
        }
    }

    /// `e a - b v` for one lane (`v` the spread weights, if any); the
    /// layout subtracts [`hot`](Self::hot) at the label's column.
    #[inline(always)]
    pub(super) fn at(&self, e: L, v: Option<L>) -> L {
        let g = e * self.a;
        match v {
            Some(v) => g - self.b * v,
            None => g,
        }
    }
}

/// The row layout's view of one row: classes `k..k + LANES` of its target.
#[derive(Clone, Copy)]
struct RowColumns<'r> {
    target: &'r [f32],
}

impl<L: Lane> Columns<L> for RowColumns<'_> {
    #[inline(always)]
    fn class_weight(&self, c: &[f32], k: usize) -> L {
        load(c, k, 0.0)
    }
    #[inline(always)]
    fn target(&self, k: usize) -> L {
        load(self.target, k, 0.0)
    }
}

/// The cross-entropy sums, fed lane by lane by the driver's exp pass (two
/// accumulator slots, as the pass has).
struct RowSums<'k, 'r, L, T> {
    kind: &'k T,
    cols: RowColumns<'r>,
    m: L,
    sums: [Sums<L>; 2],
}

impl<L: Lane, T: TargetKind> ExpVisit<L> for RowSums<'_, '_, L, T> {
    #[inline(always)]
    fn visit(&mut self, i: usize, slot: usize, x: L, keep: Option<L>) {
        let zero = L::splat(0.0);
        let spread = self.kind.spread(&self.cols, i).map(
            #[inline(always)]
            |w| keep_or(keep, w, zero),
        );
        let entropy = self.kind.entropy(&self.cols, i);
        if let Some(s) = self.sums.get_mut(slot) {
            s.add(x, self.m, spread, entropy);
        }
    }
}

/// One row in the row layout (`row.x = [logits, target]`, the target empty
/// for sparse labels): returns its sample-weighted loss and writes into
/// `row.grad` the gradient of that loss times `grad_scale` (adds it with
/// `ACC`: then the exp pass cannot park `e^(x - m)` in the caller's
/// gradient, and the gradient pass computes it again). For logits,
/// `m` is the row's maximum (read by the previous row's exp pass) and the
/// maximum of `row.next` is returned for the following row.
#[inline(always)]
pub(super) fn row<L: Lane, T: TargetKind, const GRAD: bool, const ACC: bool>(
    kind: &T,
    input: Input,
    grad_scale: f32,
    row: Row<'_, 2, 1>,
    m: f32,
) -> (f32, f32) {
    let Row {
        index,
        x: [x, target],
        next,
        grad: [g],
        weight,
    } = row;
    let r = kind.row(index);
    if r.ignored {
        if GRAD && !ACC {
            g.fill(0.0);
        }
        let next_max = match input {
            Input::Logits => max::<L>(next),
            Input::LogProbs => 0.0,
        };
        return (0.0, next_max);
    }
    let cols = RowColumns { target };
    let label_value = || {
        if r.hot != 0.0 {
            x.get(r.label).copied().unwrap_or(0.0)
        } else {
            0.0
        }
    };
    let scale = weight * grad_scale;
    let (loss, next_max, a) = match input {
        Input::Logits => {
            let mut sums = RowSums {
                kind,
                cols,
                m: L::splat(m),
                sums: [Sums::zero(); 2],
            };
            let (s, next_max) = if ACC {
                exp_sum::<L, _, false>(x, m, &mut [], next, &mut sums)
            } else {
                exp_sum::<L, _, GRAD>(x, m, g, next, &mut sums)
            };
            let [s0, s1] = sums.sums;
            let sums = Sums {
                s,
                ..s0.merge(s1).reduce()
            }
            .with_total(kind);
            let m_minus_label = if r.hot != 0.0 { m - label_value() } else { 0.0 };
            let (loss, a) = combine(r.hot, m_minus_label, r.spread, sums);
            (loss, next_max, a)
        }
        Input::LogProbs => {
            let zero = L::splat(0.0);
            let mut sums = Sums::<L>::zero();
            for_lanes::<L, 1>(
                x.len(),
                #[inline(always)]
                |i, _, keep| {
                    let spread = kind.spread(&cols, i).map(
                        #[inline(always)]
                        |w| keep_or(keep, w, zero),
                    );
                    sums.add(load(x, i, 0.0), zero, spread, kind.entropy(&cols, i));
                },
            );
            let sums = sums.reduce();
            let loss = r.spread.mul_add(sums.d, sums.entropy) - r.hot * label_value();
            (loss, 0.0, 0.0)
        }
    };
    if GRAD {
        let f = GradFactors::new(r.hot, r.spread, a, scale);
        match input {
            Input::Logits => gradient::<L, T, true, ACC>(kind, cols, f, (x, m), g),
            Input::LogProbs => gradient::<L, T, false, ACC>(kind, cols, f, (x, m), g),
        }
        if r.hot != 0.0
            && let Some(gy) = g.get_mut(r.label)
        {
            *gy -= f.hot;
        }
    }
    (weight * loss, next_max)
}

/// The gradient pass of the row layout, [`GradFactors::at`] on every lane
/// of `g`, which holds `e_k` from the exp pass (`EXP`), or is overwritten
/// (log-probabilities: `e_k` does not enter). With `ACC` the values are
/// added to `g`, and `e_k = e^(x_k - m)` is computed again from the row
/// `x` and its maximum `m`.
#[inline(always)]
fn gradient<L: Lane, T: TargetKind, const EXP: bool, const ACC: bool>(
    kind: &T,
    cols: RowColumns<'_>,
    f: GradFactors<f32>,
    (x, m): (&[f32], f32),
    g: &mut [f32],
) {
    let ml = L::splat(m);
    let f = GradFactors {
        a: L::splat(f.a),
        b: L::splat(f.b),
        hot: L::splat(f.hot),
    };
    for_lanes::<L, 1>(
        g.len(),
        #[inline(always)]
        |i, _, _| {
            let e = if !EXP {
                L::splat(0.0)
            } else if ACC {
                exp_nonpositive(load::<L>(x, i, m) - ml)
            } else {
                load(g, i, 0.0)
            };
            put::<L, ACC>(f.at(e, kind.spread(&cols, i)), g, i);
        },
    );
}
