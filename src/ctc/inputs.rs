//! What a CTC call is given — the activations, the labels, the blank and
//! what the activations hold — and the checks that make them consistent.
//!
//! [`validate`] runs the checks in a fixed order (activations shape, blank,
//! input lengths, label layout, label values) and stops at the first fault,
//! so a call with several faults always reports the same one.

use crate::error::{Bound, Error, check_len};
use core::ops::Range;

/// How the activations are laid out in their slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `T × N × C`: step-major, as PyTorch and warp-ctc.
    #[default]
    TimeMajor,
    /// `N × T × C`: sequence-major, as Gluon's `NTC` and optax.
    BatchMajor,
    /// Sequences `first .. first + dims.batch` of a time-major batch of
    /// `of` sequences, in place ([`Activations::sequences`]): `data` is the
    /// whole batch's `T × of × C` values, step `t` of the range's sequence
    /// `i` at `(t·of + first + i)·C`, and a gradient is the whole batch's
    /// buffer too, of which a call writes only its sequences' rows.
    TimeMajorRange {
        /// The range's first sequence in the whole batch.
        first: usize,
        /// The number of sequences of the whole batch.
        of: usize,
    },
    /// Sequences `first .. first + dims.batch` of a batch-major batch of
    /// `of` sequences, in place, as [`Layout::TimeMajorRange`]: sequence
    /// `i` of the range at `((first + i)·T + t)·C`.
    BatchMajorRange {
        /// The range's first sequence in the whole batch.
        first: usize,
        /// The number of sequences of the whole batch.
        of: usize,
    },
}

impl Layout {
    /// The range's first sequence and the whole batch's number of
    /// sequences (`(0, batch)` for a whole batch), and whether the layout
    /// is time-major.
    const fn window(self, batch: usize) -> (usize, usize, bool) {
        match self {
            Layout::TimeMajor => (0, batch, true),
            Layout::BatchMajor => (0, batch, false),
            Layout::TimeMajorRange { first, of } => (first, of, true),
            Layout::BatchMajorRange { first, of } => (first, of, false),
        }
    }
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

    /// The sequences `range` of this batch, in place: no value is copied.
    /// The view reads the same `data` (and a call on it writes the same
    /// gradient buffer, of `data`'s length and layout, only the rows of
    /// its sequences); its `dims.batch` is `range.len()` and its input
    /// lengths are `input_lengths[range]`. Its labels are the range's
    /// ([`Labels::sequences`]). Shards of a batch combine as in the
    /// [module docs](super)' composition: `Sum` adds, `Mean` with the
    /// factors `d_k / d` of [`Ctc::mean_denominator`](super::Ctc::mean_denominator).
    ///
    /// `Err` if the range is not within `0..dims.batch` or the input
    /// lengths do not hold `dims.batch` values.
    ///
    /// ```
    /// use loss_kernels::ctc::{Activations, Dims, Layout};
    /// // T = 2 steps, N = 3 sequences, C = 2 classes, time-major
    /// let data = [0.0; 2 * 3 * 2];
    /// let all = Activations::time_major(&data, Dims { steps: 2, batch: 3, classes: 2 }, &[2, 1, 2]);
    /// let two = all.sequences(1..3)?;
    /// assert_eq!(two.layout, Layout::TimeMajorRange { first: 1, of: 3 });
    /// assert_eq!((two.dims.batch, two.input_lengths), (2, &[1, 2][..]));
    /// assert!(all.sequences(2..4).is_err());
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn sequences(&self, range: Range<usize>) -> Result<Activations<'a>, Error> {
        check_range(&range, self.dims.batch)?;
        let input_lengths = match self.input_lengths.get(range.clone()) {
            Some(lengths) if self.input_lengths.len() == self.dims.batch => lengths,
            _ => {
                return Err(mismatch(
                    "input_lengths",
                    self.input_lengths,
                    self.dims.batch,
                ));
            }
        };
        let (first, of, time_major) = self.layout.window(self.dims.batch);
        let first = first + range.start;
        Ok(Activations {
            data: self.data,
            layout: if time_major {
                Layout::TimeMajorRange { first, of }
            } else {
                Layout::BatchMajorRange { first, of }
            },
            dims: Dims {
                batch: range.len(),
                ..self.dims
            },
            input_lengths,
        })
    }

    /// The number of values `data` must hold: `T × N × C` for the whole
    /// batch a range view lies in. `None` if the window does not fit.
    fn data_len(&self) -> Option<usize> {
        let (first, of, _) = self.layout.window(self.dims.batch);
        (first.checked_add(self.dims.batch)? <= of).then_some(
            Dims {
                batch: of,
                ..self.dims
            }
            .len(),
        )
    }

    /// The index range of the row of sequence `i` at step `step` in `data`
    /// (and in a gradient of the same layout).
    #[inline(always)]
    pub(super) fn row(&self, i: usize, step: usize) -> core::ops::Range<usize> {
        let Dims { steps, classes, .. } = self.dims;
        let (first, of, time_major) = self.layout.window(self.dims.batch);
        let start = if time_major {
            (step * of + first + i) * classes
        } else {
            ((first + i) * steps + step) * classes
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

    /// The labels of the sequences `range` (of the batch's
    /// `lengths.len()`), in place: for padded labels rows `range`, for
    /// concatenated ones the values from `Σ lengths[..range.start]` on (a
    /// sum over the lengths before the range, no copy).
    ///
    /// `Err` if the range is not within the batch, or the labels do not
    /// hold the values the lengths imply.
    ///
    /// ```
    /// use loss_kernels::ctc::Labels;
    /// let all = Labels::Concatenated { labels: &[1, 2, 3, 1], lengths: &[2, 1, 1] };
    /// let Labels::Concatenated { labels, lengths } = all.sequences(1..3)? else { unreachable!() };
    /// assert_eq!((labels, lengths), (&[3, 1][..], &[1, 1][..]));
    /// # Ok::<(), loss_kernels::Error>(())
    /// ```
    pub fn sequences(&self, range: Range<usize>) -> Result<Labels<'a>, Error> {
        let all = self.lengths();
        check_range(&range, all.len())?;
        let lengths = all.get(range.clone()).unwrap_or(&[]);
        match *self {
            Labels::Padded {
                labels, max_len, ..
            } => {
                let rows = |n: usize| n.checked_mul(max_len);
                let values = match (rows(range.start), rows(range.end), rows(all.len())) {
                    (Some(a), Some(b), Some(n)) if labels.len() == n => labels.get(a..b),
                    _ => None,
                };
                let Some(labels) = values else {
                    let n = rows(all.len()).unwrap_or(usize::MAX);
                    return Err(mismatch("labels", labels, n));
                };
                Ok(Labels::Padded {
                    labels,
                    max_len,
                    lengths,
                })
            }
            Labels::Concatenated { labels, .. } => {
                let sum = |l: &[u32]| l.iter().try_fold(0usize, |a, &n| a.checked_add(n as usize));
                let (before, within, total) = (
                    sum(all.get(..range.start).unwrap_or(&[])),
                    sum(lengths),
                    sum(all),
                );
                let values = match (before, within, total) {
                    (Some(a), Some(w), Some(n)) if labels.len() == n => labels.get(a..a + w),
                    _ => None,
                };
                let Some(labels) = values else {
                    return Err(mismatch("labels", labels, total.unwrap_or(usize::MAX)));
                };
                Ok(Labels::Concatenated { labels, lengths })
            }
        }
    }

    /// The longest label length of the batch.
    pub(super) fn max_len(&self) -> usize {
        self.lengths().iter().copied().max().unwrap_or(0) as usize
    }

    /// The label sequences in order, each with the index of its first value
    /// in `labels` (validated lengths assumed; a short slice yields short
    /// sequences, never a panic).
    pub(super) fn each(&self) -> impl Iterator<Item = (usize, &'a [u32])> {
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
    match acts.data_len() {
        Some(len) => check_len("activations", acts.data, len),
        None => Err(Error::InvalidParameter {
            argument: "activations.layout",
            expected: "a range of sequences within the batch (first + dims.batch <= of)",
        }),
    }
}

/// `range` lies within `0..n`.
fn check_range(range: &Range<usize>, n: usize) -> Result<(), Error> {
    if range.start <= range.end && range.end <= n {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            argument: "sequences",
            expected: "a range within the batch's sequences",
        })
    }
}

/// The length mismatch of `slice`, which should hold `expected` values.
fn mismatch<T>(argument: &'static str, slice: &[T], expected: usize) -> Error {
    Error::LengthMismatch {
        argument,
        expected,
        found: slice.len(),
    }
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
    for (start, seq) in labels.each() {
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
