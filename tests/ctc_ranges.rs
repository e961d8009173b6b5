//! CTC's range views (`Activations::sequences`, `Labels::sequences`): the
//! shards of a batch in either layout, computed in place (no copy), give
//! the whole call's per-sample results and gradient bit for bit, and their
//! `Mean`s combine with `mean_denominator`; views of views, and ranges
//! outside the batch are errors. At every level.

use crate::common::ctc_batch::ctc_batch;
use crate::common::lanes::{Family, each_lane};
use crate::common::rng::Rng;
use crate::common::tolerance::close;
use loss_kernels::Reduction;
use loss_kernels::ctc::{self, Activations, Ctc, Dims, Layout};

#[test]
fn ctc_ranges_of_a_time_major_batch() {
    let mut rng = Rng::new(16);
    let b = ctc_batch(&mut rng, 12, 11, 6);
    let flat = b.flat();
    let (all, concatenated) = (b.padded(), b.concatenated(&flat));
    let mut ws = vec![0.0; ctc::workspace_len(12, b.max_len)];
    each_lane(Family::Ctc, |lanes| {
        for layout in [Layout::TimeMajor, Layout::BatchMajor] {
            let acts = Activations {
                data: &b.data,
                layout,
                dims: b.dims,
                input_lengths: &b.input_lengths,
            };
            for labels in [&all, &concatenated] {
                let loss = Ctc::new(0);
                let mut whole = vec![0.0; b.data.len()];
                let mut per = vec![0.0; 11];
                loss.per_sample_and_grad(&acts, labels, &mut ws, &mut per, &mut whole)
                    .unwrap();
                let mean = loss.value(&acts, labels, Reduction::Mean, &mut ws).unwrap();
                // Odd splits, the grad buffer NaN where no range writes.
                let mut split = vec![f32::NAN; b.data.len()];
                let mut mean_sum = 0.0f64;
                for r in [0..3, 3..4, 4..11] {
                    let view = acts.sequences(r.clone()).unwrap();
                    let l = labels.sequences(r.clone()).unwrap();
                    let mut out = vec![0.0; r.len()];
                    loss.per_sample_and_grad(&view, &l, &mut ws, &mut out, &mut split)
                        .unwrap();
                    // Per-sample results are the whole call's, exactly.
                    assert_eq!(out, per[r.clone()], "{layout:?} {r:?}, {lanes} lanes");
                    let d_k = loss.mean_denominator(&view).unwrap();
                    mean_sum += f64::from(d_k) / 11.0
                        * f64::from(loss.value(&view, &l, Reduction::Mean, &mut ws).unwrap());
                    // A view of a view: the same sequences.
                    let inner = view.sequences(1..r.len()).unwrap();
                    assert_eq!(inner.input_lengths, &b.input_lengths[r.start + 1..r.end]);
                }
                // Every entry written by exactly its range, bit for bit.
                for (i, (s, w)) in split.iter().zip(&whole).enumerate() {
                    assert_eq!(
                        s.to_bits(),
                        w.to_bits(),
                        "{layout:?} grad[{i}], {lanes} lanes"
                    );
                }
                assert!(close(mean_sum as f32, f64::from(mean), 1e-6, 1e-7));
            }
            assert!(acts.sequences(5..12).is_err());
            #[allow(clippy::reversed_empty_ranges)]
            let reversed = 3..2;
            assert!(all.sequences(reversed).is_err());
        }
    });
    // A hand-made range outside its batch is an argument error.
    let bad = Activations {
        data: &b.data,
        layout: Layout::TimeMajorRange { first: 9, of: 11 },
        dims: Dims { batch: 3, ..b.dims },
        input_lengths: &b.input_lengths[..3],
    };
    let l = all.sequences(0..3).unwrap();
    assert!(
        Ctc::new(0)
            .value(&bad, &l, Reduction::Sum, &mut ws)
            .is_err()
    );
}
