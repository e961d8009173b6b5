//! A random CTC batch (data `T × N × C`, input lengths, padded labels)
//! for the range and parallel tests.

use super::rng::Rng;
use loss_kernels::ctc::{self, Dims};

/// A random CTC batch: data `T × N × C`, input lengths, padded labels.
pub struct CtcBatch {
    pub dims: Dims,
    pub data: Vec<f32>,
    pub input_lengths: Vec<u32>,
    pub labels: Vec<u32>,
    pub lengths: Vec<u32>,
    pub max_len: usize,
}

impl CtcBatch {
    pub fn padded(&self) -> ctc::Labels<'_> {
        ctc::Labels::Padded {
            labels: &self.labels,
            max_len: self.max_len,
            lengths: &self.lengths,
        }
    }
    /// The labels back to back, for [`CtcBatch::concatenated`].
    pub fn flat(&self) -> Vec<u32> {
        let rows = self.labels.chunks(self.max_len).zip(&self.lengths);
        rows.flat_map(|(l, &n)| l[..n as usize].to_vec()).collect()
    }
    pub fn concatenated<'a>(&'a self, flat: &'a [u32]) -> ctc::Labels<'a> {
        ctc::Labels::Concatenated {
            labels: flat,
            lengths: &self.lengths,
        }
    }
}

pub fn ctc_batch(rng: &mut Rng, steps: usize, batch: usize, classes: usize) -> CtcBatch {
    let dims = Dims {
        steps,
        batch,
        classes,
    };
    let max_len = 8;
    let input_lengths: Vec<u32> = (0..batch)
        .map(|_| (steps / 2 + rng.below(steps / 2 + 1)) as u32)
        .collect();
    let lengths: Vec<u32> = (0..batch).map(|_| rng.below(max_len + 1) as u32).collect();
    let labels: Vec<u32> = (0..batch * max_len)
        .map(|_| 1 + rng.below(classes - 1) as u32)
        .collect();
    CtcBatch {
        dims,
        data: rng.vec(dims.len(), -3.0, 3.0),
        input_lengths,
        labels,
        lengths,
        max_len,
    }
}
