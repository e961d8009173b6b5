//! What a CTC call is given — the activations, the labels, the blank and
//! what the activations hold — and the checks that make them consistent.
//!
//! [`validate`] runs the checks in a fixed order (activations shape, blank,
//! input lengths, label layout, label values) and stops at the first fault,
//! so a call with several faults always reports the same one.

use crate::error::{Bound, Error, check_len};

/// How the activations are laid out in their slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `T × N × C`: step-major, as PyTorch and warp-ctc.
    #[default]
    TimeMajor,
    /// `N × T × C`: sequence-major, as Gluon's `NTC` and optax.
    BatchMajor,
}

/// What the activations hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Input {
    /// Unnormalised scores; a `log_softmax` over each step's `C` values is
    /// applied inside (Gluon, warp-ctc, optax). Gradient: `softmax - γ`.
    #[default]
    Logits,
    /// Log-probabilities, used as given, not renormalised (PyTorch).
    /// Gradient: `-γ` (see the [module docs](super) for PyTorch's variant).
    LogProbs,
}

/// Which class is the blank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blank {
    /// This class index (must be `< C`).
    Index(u32),
    /// The last class, `C - 1` (Gluon's `blank_label='last'`).
    Last,
}

/// The three sizes of a batch of activations, by name, so that neither
/// layout can take them in the wrong order.
///
/// ```
/// use loss_kernels::ctc::Dims;
/// // T = 150 steps, N = 32 sequences, C = 29 classes
/// let dims = Dims { steps: 150, batch: 32, classes: 29 };
/// assert_eq!(dims.len(), 150 * 32 * 29);
/// ```
///
/// Sizes in a bare order, whichever, do not compile:
///
/// ```compile_fail
/// use loss_kernels::ctc::Activations;
/// let data = [0.0; 4 * 2 * 3];
/// let acts = Activations::batch_major(&data, 4, 2, 3, &[4, 2]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// The number of steps `T` (the padded time axis).
    pub steps: usize,
    /// The number of sequences `N`.
    pub batch: usize,
    /// The number of classes `C`, blank included.
    pub classes: usize,
}

impl Dims {
    /// `T × N × C`, the number of activations (saturating: a saturated
    /// size is one no slice holds).
    pub const fn len(&self) -> usize {
        self.steps
            .saturating_mul(self.batch)
            .saturating_mul(self.classes)
    }

    /// Whether a batch of these sizes holds no activation.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The activations of a batch: `data` in `layout`, with the sizes `dims`,
/// and each sequence's input length.
///
/// ```
/// use loss_kernels::ctc::{Activations, Dims, Layout};
/// let data = [0.0; 2 * 3 * 4];
/// let dims = Dims { steps: 3, batch: 2, classes: 4 };
/// let a = Activations::batch_major(&data, dims, &[3, 2]);
/// assert_eq!((a.layout, a.dims.steps, a.dims.batch), (Layout::BatchMajor, 3, 2));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Activations<'a> {
    /// `steps × batch × classes` values in `layout`.
    pub data: &'a [f32],
    /// The order of the three axes in `data`.
    pub layout: Layout,
    /// The number of steps, sequences and classes.
    pub dims: Dims,
    /// `dims.batch` input lengths, each `<= dims.steps`: steps from a
    /// sequence's length on are ignored.
    pub input_lengths: &'a [u32],
}

impl<'a> Activations<'a> {
    /// Time-major activations (`T × N × C`: PyTorch, warp-ctc).
    pub const fn time_major(data: &'a [f32], dims: Dims, input_lengths: &'a [u32]) -> Self {
        Activations {
            data,
            layout: Layout::TimeMajor,
            dims,
            input_lengths,
        }
    }

    /// Batch-major activations (`N × T × C`: Gluon's `NTC`, optax).
    pub const fn batch_major(data: &'a [f32], dims: Dims, input_lengths: &'a [u32]) -> Self {
        Activations {
            data,
            layout: Layout::BatchMajor,
            dims,
            input_lengths,
        }
    }

    /// The index range of the row of sequence `i` at step `step` in `data`
    /// (and in a gradient of the same layout).
    #[inline(always)]
    pub(super) fn row(&self, i: usize, step: usize) -> core::ops::Range<usize> {
        let Dims {
            steps,
            batch,
            classes,
        } = self.dims;
        let start = match self.layout {
            Layout::TimeMajor => (step * batch + i) * classes,
            Layout::BatchMajor => (i * steps + step) * classes,
        };
        start..start + classes
    }

    /// The longest input length of the batch.
    pub(super) fn max_input_len(&self) -> usize {
        self.input_lengths.iter().copied().max().unwrap_or(0) as usize
    }
}

/// The label sequences of a batch, with their lengths. Values must be
/// `< C` and never the blank; entries of a padded row past its length are
/// ignored (any value, e.g. `u32::MAX`).
///
/// ```
/// use loss_kernels::ctc::Labels;
/// // the same two labels, [1, 2] and [3], both ways
/// let padded = Labels::Padded { labels: &[1, 2, 3, u32::MAX], max_len: 2, lengths: &[2, 1] };
/// let concatenated = Labels::Concatenated { labels: &[1, 2, 3], lengths: &[2, 1] };
/// # let _ = (padded, concatenated);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    /// `n` rows of `max_len` labels (`labels.len() = n * max_len`).
    Padded {
        /// The rows, one per sequence.
        labels: &'a [u32],
        /// The row length `S`.
        max_len: usize,
        /// `n` label lengths, each `<= max_len`.
        lengths: &'a [u32],
    },
    /// All labels back to back (`labels.len() = Σ lengths`).
    Concatenated {
        /// The labels of sequence 0, then of sequence 1, ...
        labels: &'a [u32],
        /// `n` label lengths.
        lengths: &'a [u32],
    },
}

impl<'a> Labels<'a> {
    /// The `n` label lengths.
    pub(super) fn lengths(&self) -> &'a [u32] {
        match *self {
            Labels::Padded { lengths, .. } | Labels::Concatenated { lengths, .. } => lengths,
        }
    }

    /// The longest label length of the batch.
    pub(super) fn max_len(&self) -> usize {
        self.lengths().iter().copied().max().unwrap_or(0) as usize
    }

    /// The label sequences in order, each with the index of its first value
    /// in `labels` (validated lengths assumed; a short slice yields short
    /// sequences, never a panic).
    pub(super) fn sequences(&self) -> impl Iterator<Item = (usize, &'a [u32])> {
        let (labels, row) = match *self {
            Labels::Padded {
                labels, max_len, ..
            } => (labels, Some(max_len)),
            Labels::Concatenated { labels, .. } => (labels, None),
        };
        let mut offset = 0usize;
        self.lengths().iter().enumerate().map(move |(i, &len)| {
            let start = match row {
                Some(r) => i.saturating_mul(r),
                None => offset,
            };
            let end = start.saturating_add(len as usize);
            offset = end;
            (start, labels.get(start..end).unwrap_or(&[]))
        })
    }
}

/// Checks the activations and labels against each other; returns the blank
/// index.
pub(super) fn validate(
    blank: Blank,
    acts: &Activations<'_>,
    labels: &Labels<'_>,
) -> Result<usize, Error> {
    check_activations(acts)?;
    let classes = acts.dims.classes;
    let blank = blank_index(blank, classes)?;
    check_input_lengths(acts)?;
    check_label_layout(labels, acts.dims.batch)?;
    check_label_values(labels, classes, blank)?;
    Ok(blank)
}

/// `classes >= 1`, `batch >= 1` and `data` holds `steps × batch × classes`
/// values.
fn check_activations(acts: &Activations<'_>) -> Result<(), Error> {
    if acts.dims.classes == 0 {
        return Err(Error::ZeroSize {
            argument: "dims.classes",
        });
    }
    if acts.dims.batch == 0 {
        return Err(Error::EmptyBatch {
            argument: "activations",
        });
    }
    check_len("activations", acts.data, acts.dims.len())
}

/// The blank's class index, which must be `< classes`.
fn blank_index(blank: Blank, classes: usize) -> Result<usize, Error> {
    match blank {
        Blank::Index(b) if (b as usize) < classes => Ok(b as usize),
        Blank::Index(b) => Err(Error::OutOfRange {
            argument: "blank",
            index: None,
            value: b as usize,
            bound: Bound::Classes(classes),
        }),
        Blank::Last => Ok(classes - 1),
    }
}

/// One input length per sequence, each `<= steps`.
fn check_input_lengths(acts: &Activations<'_>) -> Result<(), Error> {
    check_len("input_lengths", acts.input_lengths, acts.dims.batch)?;
    within(
        "input_lengths",
        acts.input_lengths,
        Bound::Steps(acts.dims.steps),
    )
}

/// One label length per sequence, and `labels` holds exactly the values
/// the lengths (padded: the row length) imply.
fn check_label_layout(labels: &Labels<'_>, n: usize) -> Result<(), Error> {
    let lengths = labels.lengths();
    check_len("labels.lengths", lengths, n)?;
    match *labels {
        Labels::Padded {
            labels: values,
            max_len,
            ..
        } => {
            let size = n.checked_mul(max_len);
            check_len("labels", values, size.unwrap_or(usize::MAX))?;
            within("labels.lengths", lengths, Bound::MaxLen(max_len))
        }
        Labels::Concatenated { labels: values, .. } => {
            let total = lengths
                .iter()
                .try_fold(0usize, |acc, &len| acc.checked_add(len as usize));
            check_len("labels", values, total.unwrap_or(usize::MAX))
        }
    }
}

/// Every label (within its sequence's length) is a class `< classes` and
/// not the blank.
fn check_label_values(labels: &Labels<'_>, classes: usize, blank: usize) -> Result<(), Error> {
    let bound = Bound::Classes(classes);
    for (start, seq) in labels.sequences() {
        for (k, &label) in seq.iter().enumerate() {
            let index = start + k;
            if !bound.allows(label as usize) {
                return Err(Error::OutOfRange {
                    argument: "labels",
                    index: Some(index),
                    value: label as usize,
                    bound,
                });
            }
            if label as usize == blank {
                return Err(Error::BlankInLabel {
                    argument: "labels",
                    index,
                });
            }
        }
    }
    Ok(())
}

/// Every length in `lengths` lies within `bound`.
fn within(argument: &'static str, lengths: &[u32], bound: Bound) -> Result<(), Error> {
    match lengths
        .iter()
        .enumerate()
        .find(|&(_, &len)| !bound.allows(len as usize))
    {
        Some((index, &len)) => Err(Error::OutOfRange {
            argument,
            index: Some(index),
            value: len as usize,
            bound,
        }),
        None => Ok(()),
    }
}
