//! The smoothed deep metric learning loss (Gluon's `SDMLLoss`); the math is
//! in [`Sdml`]'s docs.

use crate::Reduction;
use crate::driver::lanes::{for_lanes, load, store};
use crate::driver::row::{dots, exp_sum, max as row_max};
use crate::driver::{Samples, each_row, reduction_scale, rows_in};
use crate::error::{Domain, Error, check_len, check_param, rows};
use crate::lane::{self, Kernel, Lane};
use crate::math::{exp_nonpositive, ln};

/// The gradient slices of an SDML loss, each the length of its input.
#[derive(Debug)]
pub struct SdmlGrads<'g> {
    /// Gradient w.r.t. `x1`.
    pub x1: &'g mut [f32],
    /// Gradient w.r.t. `x2`.
    pub x2: &'g mut [f32],
}

/// Smoothed deep metric learning (Gluon's `SDMLLoss`) over `n >= 2` pairs
/// of rows of `dim` values: row `i` of `x1` should be nearer to row `i` of
/// `x2` than to every other row of `x2`.
///
/// With `D_ij = ‖x1_i - x2_j‖²`, `q_ij = log_softmax_j(-D_ij)` and the
/// smoothed labels `t_ii = 1 - s`, `t_ij = s/(n-1)` (`s` the smoothing):
///
/// ```text
/// l_i = Σ_j t_ij (ln t_ij - q_ij) = H + Σ_j t_ij D_ij + lse_j(-D_ij)
/// ```
///
/// (`H = Σ_j t_ij ln t_ij`, `0 ln 0 = 0`), with
/// `lse_j(-D_ij) = -m_i + ln Σ_j e^(m_i - D_ij)`, `m_i = min_j D_ij`: no
/// exponential overflows. Gradients, with `p_ij = e^(q_ij)` and
/// `G_ij = w_i (t_ij - p_ij)`: `∂/∂x1_i = 2 Σ_j G_ij (x1_i - x2_j)`,
/// `∂/∂x2_j = -2 Σ_i G_ij (x1_i - x2_j)`.
///
/// Cost `O(n² dim)`: the distances of row `i` are computed four rows of
/// `x2` at a time, lanes along `dim`, into blocks of 64 on the stack; `lse`
/// is accumulated online over the blocks (one pass over `j` for the value,
/// the block's exponentials in lanes), and the gradient recomputes each
/// `D_ij` in a second pass instead of keeping an `n × n` workspace.
/// `Mean` divides by `n`; sample weights scale row `i`'s loss and
/// gradient. Gluon (its `KLDivLoss`) takes `ln(t + 1e-12)`, which adds about
/// `1e-12` per nonzero `t_ij` to its values; this crate computes the
/// formula above.
///
/// ```
/// use loss_kernels::embedding::{Sdml, SdmlGrads};
/// use loss_kernels::Reduction;
/// // two pairs, each nearest its own partner
/// let (x1, x2) = ([0.0, 0.0, 3.0, 0.0], [0.0, 0.1, 3.0, -0.1]);
/// let (mut g1, mut g2) = ([0.0; 4], [0.0; 4]);
/// let grads = SdmlGrads { x1: &mut g1, x2: &mut g2 };
/// let v = Sdml::new(2)?.smoothing(0.0)?.value_and_grad(&x1, &x2, Reduction::Mean, grads)?;
/// assert!(v > 0.0 && v < 1e-3);
/// assert!(Sdml::new(2)?.smoothing(1.0).is_err());
/// # Ok::<(), loss_kernels::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Sdml<'w> {
    dim: usize,
    smoothing: f32,
    sample_weight: Option<&'w [f32]>,
}

impl Sdml<'static> {
    /// SDML over rows of `dim` (at least 1) values, smoothing 0.3 (Gluon's
    /// default).
    pub const fn new(dim: usize) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::ZeroSize { argument: "dim" });
        }
        Ok(Sdml {
            dim,
            smoothing: 0.3,
            sample_weight: None,
        })
    }
}

impl<'w> Sdml<'w> {
    /// The smoothing `s` in `[0, 1)`.
    pub const fn smoothing(self, smoothing: f32) -> Result<Self, Error> {
        if !(smoothing >= 0.0 && smoothing < 1.0) {
            return Err(Error::InvalidParameter {
                argument: "smoothing",
                expected: "in [0, 1)",
            });
        }
        Ok(Sdml { smoothing, ..self })
    }

    /// Per-sample weights (one per row of `x1`, checked at the call).
    #[must_use]
    pub const fn sample_weight<'v>(self, weight: &'v [f32]) -> Sdml<'v>
    where
        'w: 'v,
    {
        Sdml {
            sample_weight: Some(weight),
            ..self
        }
    }

    /// The reduced loss.
    pub fn value(&self, x1: &[f32], x2: &[f32], reduction: Reduction) -> Result<f32, Error> {
        let n = self.check(x1, x2)?;
        let total = self.run::<false, false>([x1, x2], [&mut [], &mut []], &mut [], 1.0);
        Ok(total * reduction_scale(reduction, n as f32))
    }

    /// The reduced loss and its gradients w.r.t. `x1` and `x2`.
    pub fn value_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        reduction: Reduction,
        grads: SdmlGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(x1, x2, reduction, 1.0, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `x1` and `x2`
    /// **added** to `grads` in the same pass (`grad += scale · ∂L`).
    /// `scale` (finite) weights the gradients only; the value returned is
    /// the loss itself, as [`value_and_grad`](Self::value_and_grad)
    /// returns it.
    ///
    /// ```
    /// use loss_kernels::embedding::{Sdml, SdmlGrads};
    /// use loss_kernels::Reduction;
    /// let (x1, x2) = ([0.0, 0.0, 3.0, 0.0], [0.0, 0.1, 3.0, -0.1]);
    /// let loss = Sdml::new(2)?;
    /// let (mut g1, mut g2) = ([0.0; 4], [0.0; 4]);
    /// let grads = SdmlGrads { x1: &mut g1, x2: &mut g2 };
    /// let v = loss.value_and_grad(&x1, &x2, Reduction::Mean, grads)?;
    /// // twice the gradient, added to zeros (a power of two: exact)
    /// let (mut a1, mut a2) = ([0.0; 4], [0.0; 4]);
    /// let grads = SdmlGrads { x1: &mut a1, x2: &mut a2 };
    /// assert_eq!(loss.value_and_accumulate_grad(&x1, &x2, Reduction::Mean, 2.0, grads)?, v);
    /// assert_eq!((a1, a2), (g1.map(|g| 2.0 * g), g2.map(|g| 2.0 * g)));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_accumulate_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: SdmlGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<true>(x1, x2, reduction, scale, grads)
    }

    /// The reduced loss, and `scale ·` its gradients w.r.t. `x1` and `x2`
    /// **written** into `grads` in the same pass (`grad = scale · ∂L`), the
    /// value returned unscaled.
    ///
    /// ```
    /// use loss_kernels::embedding::{Sdml, SdmlGrads};
    /// use loss_kernels::Reduction;
    /// let (x1, x2) = ([0.0, 0.0, 3.0, 0.0], [0.0, 0.1, 3.0, -0.1]);
    /// let loss = Sdml::new(2)?;
    /// let (mut g1, mut g2) = ([0.0; 4], [0.0; 4]);
    /// let v = loss.value_and_grad(&x1, &x2, Reduction::Mean, SdmlGrads { x1: &mut g1, x2: &mut g2 })?;
    /// // twice the gradient (a power of two: exact)
    /// let (mut a1, mut a2) = ([f32::NAN; 4], [f32::NAN; 4]);
    /// let grads = SdmlGrads { x1: &mut a1, x2: &mut a2 };
    /// assert_eq!(loss.value_and_scaled_grad(&x1, &x2, Reduction::Mean, 2.0, grads)?, v);
    /// assert_eq!((a1, a2), (g1.map(|g| 2.0 * g), g2.map(|g| 2.0 * g)));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn value_and_scaled_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: SdmlGrads<'_>,
    ) -> Result<f32, Error> {
        self.with_scale::<false>(x1, x2, reduction, scale, grads)
    }

    /// The three gradient entry points: [`value_and_grad`](Self::value_and_grad)
    /// (`scale = 1`), [`value_and_scaled_grad`](Self::value_and_scaled_grad)
    /// and, with `ACC`, [`value_and_accumulate_grad`](Self::value_and_accumulate_grad):
    /// the checks, then the kernel with `scale` in its gradient factor.
    fn with_scale<const ACC: bool>(
        &self,
        x1: &[f32],
        x2: &[f32],
        reduction: Reduction,
        scale: f32,
        grads: SdmlGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2)?;
        check_grads(&grads, x1.len())?;
        let factor = check_param("scale", scale, Domain::Finite)?;
        let scale = reduction_scale(reduction, n as f32);
        let grads = [grads.x1, grads.x2];
        let total = self.run::<true, ACC>([x1, x2], grads, &mut [], scale * factor);
        Ok(total * scale)
    }

    /// The `Mean` denominator of a batch: its number of pairs,
    /// `x1.len() / dim`.
    ///
    /// Unlike the per-sample losses, SDML couples its rows (each row of
    /// `x1` is scored against every row of `x2`), so a shard of a batch is
    /// a smaller SDML problem, not a part of the batch's loss. What the
    /// denominators do combine are whole batches: `Σ_k (d_k / d) Mean_k`
    /// over micro-batches `k` (and the same factors as the `scale` of
    /// [`value_and_accumulate_grad`](Self::value_and_accumulate_grad)) is
    /// the mean over all their pairs, each against its own micro-batch.
    ///
    /// ```
    /// use loss_kernels::embedding::Sdml;
    /// assert_eq!(Sdml::new(2)?.mean_denominator(&[0.0; 6])?, 3.0);
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn mean_denominator(&self, x1: &[f32]) -> Result<f32, Error> {
        Ok(rows("x1", "dim", x1.len(), self.dim)? as f32)
    }

    /// The per-sample losses into `out`, one per row.
    pub fn per_sample(&self, x1: &[f32], x2: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let n = self.check(x1, x2)?;
        check_len("out", out, n)?;
        self.run::<false, false>([x1, x2], [&mut [], &mut []], out, 1.0);
        Ok(())
    }

    /// The per-sample losses into `out` and the gradients of their sum;
    /// returns the sum.
    pub fn per_sample_and_grad(
        &self,
        x1: &[f32],
        x2: &[f32],
        out: &mut [f32],
        grads: SdmlGrads<'_>,
    ) -> Result<f32, Error> {
        let n = self.check(x1, x2)?;
        check_len("out", out, n)?;
        check_grads(&grads, x1.len())?;
        Ok(self.run::<true, false>([x1, x2], [grads.x1, grads.x2], out, 1.0))
    }

    fn check(&self, x1: &[f32], x2: &[f32]) -> Result<usize, Error> {
        let n = rows("x1", "dim", x1.len(), self.dim)?;
        check_len("x2", x2, x1.len())?;
        if n < 2 {
            return Err(Error::InvalidParameter {
                argument: "x1",
                expected: "at least 2 rows",
            });
        }
        if let Some(w) = self.sample_weight {
            check_len("sample_weight", w, n)?;
        }
        Ok(n)
    }

    fn run<const GRAD: bool, const ACC: bool>(
        &self,
        inputs: [&[f32]; 2],
        grads: [&mut [f32]; 2],
        out: &mut [f32],
        grad_scale: f32,
    ) -> f32 {
        lane::run(SdmlBatch::<GRAD, ACC> {
            loss: *self,
            inputs,
            grads,
            out,
            grad_scale,
        })
    }
}

fn check_grads(g: &SdmlGrads<'_>, len: usize) -> Result<(), Error> {
    check_len("grads.x1", g.x1, len)?;
    check_len("grads.x2", g.x2, len)
}

/// A validated SDML call (see [`Kernel`]).
struct SdmlBatch<'a, 'w, const GRAD: bool, const ACC: bool> {
    loss: Sdml<'w>,
    inputs: [&'a [f32]; 2],
    grads: [&'a mut [f32]; 2],
    out: &'a mut [f32],
    grad_scale: f32,
}

/// The smoothed labels of `n` rows: `(t_ii, t_ij, H = Σ_j t_ij ln t_ij)`.
#[inline(always)]
fn labels(n: usize, s: f32) -> (f32, f32, f32) {
    let (hot, off) = (1.0 - s, s / (n - 1).max(1) as f32);
    (hot, off, x_ln_x(hot) + (n - 1) as f32 * x_ln_x(off))
}

/// `t ln t`, 0 at `t = 0`.
#[inline(always)]
fn x_ln_x(t: f32) -> f32 {
    if t == 0.0 { 0.0 } else { t * ln::<f32>(t) }
}

impl<const GRAD: bool, const ACC: bool> Kernel for SdmlBatch<'_, '_, GRAD, ACC> {
    type Output = f32;

    #[inline(always)]
    fn run<L: Lane>(self) -> f32 {
        let SdmlBatch {
            loss,
            inputs: [x1, x2],
            grads: [g1, g2],
            out,
            grad_scale,
        } = self;
        let dim = loss.dim;
        let n = rows_in(x1.len(), dim);
        let (hot, off, entropy) = labels(n, loss.smoothing);
        // Both gradients are sums over pairs, added from 0 or (with `ACC`)
        // from what the caller's slices hold.
        if GRAD && !ACC {
            g2.fill(0.0);
        }
        let mut samples = Samples::new(out);
        each_row(
            dim,
            0..n,
            [x1],
            [g1],
            loss.sample_weight,
            &mut samples,
            #[inline(always)]
            |row| {
                let w = row.weight;
                let [a] = row.x;
                let [ga] = row.grad;
                let t = |j: usize| if j == row.index { hot } else { off };
                // Pass 1, a block of rows of `x2` at a time: the online
                // `lse` of `x_j = -D_ij` (`M` the maximum so far, `S` the
                // sum of `e^(x_j - M)`) and `Σ_j t_ij D_ij`.
                let (mut big, mut sum, mut td) = (f32::NEG_INFINITY, 0.0f32, 0.0f32);
                neg_distance_blocks::<L>(
                    a,
                    x2,
                    dim,
                    #[inline(always)]
                    |j0, x| {
                        td -= x
                            .iter()
                            .enumerate()
                            .fold(0.0, |acc, (o, &xj)| acc + t(j0 + o) * xj);
                        let m = big.max(row_max::<L>(x));
                        let (e, _) = exp_sum::<L, (), false>(x, m, &mut [], &[], &mut ());
                        sum = sum * exp_nonpositive::<f32>(big - m) + e;
                        big = m;
                    },
                );
                let loss_i = entropy + td + (ln::<f32>(sum) + big);
                if GRAD {
                    // Pass 2: `G_ij = w (t_ij - p_ij)`, `p_ij = e^(x_j - M) / S`.
                    if !ACC {
                        ga.fill(0.0);
                    }
                    let (scale, inv_s) = (w * grad_scale, 1.0 / sum);
                    neg_distance_blocks::<L>(
                        a,
                        x2,
                        dim,
                        #[inline(always)]
                        |j0, x| {
                            let mut e = [0.0f32; BLOCK];
                            exp_sum::<L, (), true>(x, big, &mut e, &[], &mut ());
                            for (o, &ej) in e.iter().take(x.len()).enumerate() {
                                let j = j0 + o;
                                let c = L::splat(2.0 * scale * (t(j) - ej * inv_s));
                                let b = x2.get(j * dim..(j + 1) * dim).unwrap_or(&[]);
                                let gb = g2.get_mut(j * dim..(j + 1) * dim).unwrap_or(&mut []);
                                for_lanes::<L, 1>(
                                    dim,
                                    #[inline(always)]
                                    |k, _, _| {
                                        let diff = c * (load::<L>(a, k, 0.0) - load(b, k, 0.0));
                                        store(load::<L>(ga, k, 0.0) + diff, ga, k);
                                        store(load::<L>(gb, k, 0.0) - diff, gb, k);
                                    },
                                );
                            }
                        },
                    );
                }
                w * loss_i
            },
        );
        samples.total()
    }
}

/// Rows of `x2` per block of distances: the exp passes run on lanes over
/// a block instead of one `exp` per pair.
const BLOCK: usize = 64;

/// `visit(j0, x)` for consecutive blocks of rows `j0 .. j0 + x.len()` of
/// `x2` (at most [`BLOCK`]), `x[o] = -D_i(j0+o)`, `D_ij = ‖a - x2_j‖²`:
/// four rows at a time (four independent accumulators along `dim`), then
/// the rest one by one.
#[inline(always)]
fn neg_distance_blocks<L: Lane>(
    a: &[f32],
    x2: &[f32],
    dim: usize,
    mut visit: impl FnMut(usize, &[f32]),
) {
    let n = rows_in(x2.len(), dim);
    let row = |j: usize| x2.get(j * dim..(j + 1) * dim).unwrap_or(&[]);
    let mut x = [0.0f32; BLOCK];
    let mut j0 = 0;
    while j0 < n {
        let len = (n - j0).min(BLOCK);
        let mut o = 0;
        while o + 4 <= len {
            let j = j0 + o;
            let [b0, b1, b2, b3] = [row(j), row(j + 1), row(j + 2), row(j + 3)];
            let d = dots::<L, 4>(
                dim,
                #[inline(always)]
                |k| {
                    // (Not `array::map`: its `try_map` is not inlined into
                    // the AVX entries.)
                    let y: L = load(a, k, 0.0);
                    let (u0, u1) = (y - load(b0, k, 0.0), y - load(b1, k, 0.0));
                    let (u2, u3) = (y - load(b2, k, 0.0), y - load(b3, k, 0.0));
                    [(u0, u0), (u1, u1), (u2, u2), (u3, u3)]
                },
            );
            for (slot, dij) in x.iter_mut().skip(o).zip(d) {
                *slot = -dij;
            }
            o += 4;
        }
        while o < len {
            let b = row(j0 + o);
            let [dij] = dots::<L, 1>(
                dim,
                #[inline(always)]
                |k| {
                    let u = load::<L>(a, k, 0.0) - load(b, k, 0.0);
                    [(u, u)]
                },
            );
            if let Some(slot) = x.get_mut(o) {
                *slot = -dij;
            }
            o += 1;
        }
        visit(j0, x.get(..len).unwrap_or(&[]));
        j0 += len;
    }
}
