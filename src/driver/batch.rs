//! The walk over the rows of a batch, and where per-sample results go.

use super::Sum;
use core::ops::Range;

/// The per-sample results of a call: each goes into its slot of the
/// caller's per-sample output (when the entry point has one) and into the
/// total, which is summed with [`Sum`].
pub(crate) struct Samples<'a> {
    slots: core::slice::IterMut<'a, f32>,
    total: Sum,
}

impl<'a> Samples<'a> {
    /// Results go into `values` in order (nowhere if it is empty).
    pub(crate) fn new(values: &'a mut [f32]) -> Self {
        Samples {
            slots: values.iter_mut(),
            total: Sum::default(),
        }
    }

    /// The next sample's result.
    #[inline(always)]
    pub(crate) fn push(&mut self, v: f32) {
        if let Some(slot) = self.slots.next() {
            *slot = v;
        }
        self.total.add(v);
    }

    /// The sum of every result pushed.
    pub(crate) fn total(&self) -> f32 {
        self.total.total()
    }
}

/// The number of whole rows of `width` values in `len` values.
///
/// Validation has ruled out `width = 0`; this still gives 0 rows for it
/// rather than dividing by zero, so no panic path is linked (`len / width`
/// keeps `core::panicking` reachable when the optimiser cannot see the
/// check).
#[inline(always)]
pub(crate) fn rows_in(len: usize, width: usize) -> usize {
    len.checked_div(width).unwrap_or(0)
}

/// One row of a batch as a kernel sees it.
pub(crate) struct Row<'r, const K: usize, const G: usize> {
    /// The row's index in the batch.
    pub(crate) index: usize,
    /// The row of each input.
    pub(crate) x: [&'r [f32]; K],
    /// The next row of the first input (empty for the last row).
    pub(crate) next: &'r [f32],
    /// The row of each gradient (empty where the call writes none).
    pub(crate) grad: [&'r mut [f32]; G],
    /// The row's sample weight (1 without weights).
    pub(crate) weight: f32,
}

/// Runs `kernel` on the rows `rows` of `width` values of every input and
/// gradient, in order, and pushes each row's result into `samples`.
///
/// Callers have validated the lengths; a slice too short gives its rows as
/// empty slices (never an out-of-bounds access).
#[inline(always)]
pub(crate) fn each_row<const K: usize, const G: usize>(
    width: usize,
    rows: Range<usize>,
    inputs: [&[f32]; K],
    mut grads: [&mut [f32]; G],
    weight: Option<&[f32]>,
    samples: &mut Samples<'_>,
    mut kernel: impl FnMut(Row<'_, K, G>) -> f32,
) {
    for index in rows {
        let span = index * width..(index + 1) * width;
        let next = inputs
            .first()
            .and_then(|x| x.get(span.end..span.end + width))
            .unwrap_or(&[]);
        let row = Row {
            index,
            x: inputs.map(|s| s.get(span.clone()).unwrap_or(&[])),
            next,
            grad: grads
                .each_mut()
                .map(|g| g.get_mut(span.clone()).unwrap_or(&mut [])),
            weight: weight.and_then(|w| w.get(index).copied()).unwrap_or(1.0),
        };
        samples.push(kernel(row));
    }
}
