#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! loss-kernels-rayon's `par_*` calls against the sequential calls,
//! at every level (each level's calls run in a two-thread pool whose
//! workers ask for that level), for batches below and above the threshold
//! (`MIN_VALUES`) with odd sizes: the values within rounding, the
//! row functions' outputs, every cross-entropy gradient, pointwise
//! gradients of single values and `Sum` gradients bit-identical, the other
//! `Mean` gradients within rounding. (CTC's range views, which the parallel CTC
//! splits on, are tested by the loss crate's `tests/ctc_ranges.rs`.)

// The loss crate's test helpers (lanes, rng, tolerances), shared.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::ctc_batch::ctc_batch;
use common::lanes::{Family, each_lane, levels, with_level};
use common::rng::Rng;
use common::tolerance::close;
use loss_kernels::Reduction;
use loss_kernels::ctc::{self, Activations, Ctc, Layout};
use loss_kernels::lane::Level;
use loss_kernels::pointwise::{Huber, L2};
use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy, log_softmax, softmax};
use loss_kernels_rayon::{
    MIN_VALUES, ParCrossEntropy, ParCtc, ParPointwise, par_log_softmax, par_softmax,
};
use rayon::{ThreadPool, ThreadPoolBuilder};

/// A two-thread pool whose workers run every loss call at `level`.
fn pool(level: Level) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(2)
        .spawn_handler(move |thread| {
            std::thread::Builder::new().spawn(move || with_level(level, || thread.run()))?;
            Ok(())
        })
        .build()
        .unwrap()
}

/// Runs `f(lanes, pool)` at every level (through `each_lane`, so the
/// sequential calls in `f` run at that level too).
fn each_level(family: Family, mut f: impl FnMut(usize, &ThreadPool)) {
    let pools: Vec<(usize, ThreadPool)> =
        levels().into_iter().map(|l| (l.lanes(), pool(l))).collect();
    each_lane(family, |lanes| {
        let (_, p) = pools.iter().find(|(n, _)| *n == lanes).unwrap();
        f(lanes, p);
    });
}

/// Values within rounding of a sum of many terms.
fn value_close(what: &str, par: f32, seq: f32) {
    assert!(
        close(par, f64::from(seq), 2e-6, 1e-6) || (par.is_nan() && seq.is_nan()),
        "{what}: parallel {par}, sequential {seq}"
    );
}

/// Gradients: bit-identical (`exact`), else within a few roundings.
fn grads_match(what: &str, exact: bool, par: &[f32], seq: &[f32]) {
    assert_eq!(par.len(), seq.len());
    let scale = seq.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    for (i, (p, s)) in par.iter().zip(seq).enumerate() {
        let ok = if exact {
            p.to_bits() == s.to_bits()
        } else {
            (p - s).abs() <= 4.0 * f32::EPSILON * s.abs() + 1e-7 * scale
        };
        assert!(ok, "{what}: grad[{i}] parallel {p}, sequential {s}");
    }
}

#[test]
fn cross_entropy() {
    let mut rng = Rng::new(11);
    // (rows, classes): below the threshold, above it with narrow classes
    // (the transposed path), above it with odd rows and wide classes.
    for (rows, classes) in [(37, 50), (20_011, 5), (1_003, 97)] {
        let n = rows * classes;
        assert_eq!(n >= MIN_VALUES, rows != 37);
        let logits = rng.vec(n, -5.0, 5.0);
        let labels: Vec<u32> = (0..rows)
            .map(|_| {
                if rng.coin(0.1) {
                    999
                } else {
                    rng.below(classes) as u32
                }
            })
            .collect();
        let class_weight = rng.vec(classes, 0.5, 2.0);
        let sample_weight = rng.vec(rows, 0.0, 2.0);
        let mut dense = rng.vec(n, 0.0, 1.0);
        for r in dense.chunks_mut(classes) {
            let s: f32 = r.iter().sum();
            r.iter_mut().for_each(|v| *v /= s);
        }
        each_level(Family::Softmax, |lanes, pool| {
            for reduction in [Reduction::Sum, Reduction::Mean] {
                for (kind, labels) in [
                    ("sparse", Labels::Sparse(&labels)),
                    ("dense", Labels::Dense(&dense)),
                ] {
                    let plain = SoftmaxCrossEntropy::new(classes)
                        .unwrap()
                        .ignore_index(Some(999));
                    let weighted = plain
                        .label_smoothing(0.1)
                        .unwrap()
                        .class_weight(&class_weight)
                        .sample_weight(&sample_weight);
                    for (options, ce) in [("plain", plain), ("weighted", weighted)] {
                        let what = format!(
                            "CE {rows}x{classes} {kind} {options} {reduction:?}, {lanes} lanes"
                        );
                        let mut seq = vec![0.0; n];
                        let v = ce
                            .value_and_grad(&logits, labels, reduction, &mut seq)
                            .unwrap();
                        let mut par = vec![f32::NAN; n];
                        let p = pool
                            .install(|| ce.par_value_and_grad(&logits, labels, reduction, &mut par))
                            .unwrap();
                        value_close(&what, p, v);
                        grads_match(&what, true, &par, &seq);
                        let pv = pool
                            .install(|| ce.par_value(&logits, labels, reduction))
                            .unwrap();
                        value_close(&what, pv, ce.value(&logits, labels, reduction).unwrap());
                    }
                }
            }
        });
    }
}

#[test]
fn cross_entropy_spatial_and_errors() {
    let mut rng = Rng::new(12);
    let (samples, classes, positions) = (129, 7, 81);
    let n = samples * classes * positions;
    assert!(n >= MIN_VALUES);
    let logits = rng.vec(n, -3.0, 3.0);
    let labels: Vec<u32> = (0..samples * positions)
        .map(|_| rng.below(classes) as u32)
        .collect();
    let weight = rng.vec(samples * positions, 0.0, 1.0);
    each_level(Family::Softmax, |lanes, pool| {
        let ce = SoftmaxCrossEntropy::new(classes)
            .unwrap()
            .spatial(positions)
            .unwrap()
            .sample_weight(&weight);
        for reduction in [Reduction::Sum, Reduction::Mean] {
            let what = format!("spatial CE {reduction:?}, {lanes} lanes");
            let mut seq = vec![0.0; n];
            let v = ce
                .value_and_grad(&logits, Labels::Sparse(&labels), reduction, &mut seq)
                .unwrap();
            let mut par = vec![0.0; n];
            let p = pool
                .install(|| {
                    ce.par_value_and_grad(&logits, Labels::Sparse(&labels), reduction, &mut par)
                })
                .unwrap();
            value_close(&what, p, v);
            grads_match(&what, true, &par, &seq);
        }
        // The same error as the sequential call, before any work.
        let mut bad = labels.clone();
        bad[labels.len() - 3] = classes as u32;
        let mut g = vec![0.0; n];
        let seq = ce
            .value_and_grad(&logits, Labels::Sparse(&bad), Reduction::Sum, &mut g)
            .unwrap_err();
        let par = pool
            .install(|| {
                ce.par_value_and_grad(&logits, Labels::Sparse(&bad), Reduction::Sum, &mut g)
            })
            .unwrap_err();
        assert_eq!(par, seq);
        let short = ce
            .par_value(&logits[1..], Labels::Sparse(&labels), Reduction::Sum)
            .unwrap_err();
        assert_eq!(
            short,
            ce.value(&logits[1..], Labels::Sparse(&labels), Reduction::Sum)
                .unwrap_err()
        );
    });
}

#[test]
fn row_functions_are_bit_identical() {
    let mut rng = Rng::new(13);
    for (rows, classes) in [(33, 40), (9_001, 3), (777, 131)] {
        let x = rng.vec(rows * classes, -20.0, 20.0);
        each_level(Family::Softmax, |lanes, pool| {
            for (name, seq_fn, par_fn) in [
                (
                    "log_softmax",
                    log_softmax as fn(&[f32], usize, &mut [f32]) -> _,
                    par_log_softmax as fn(&[f32], usize, &mut [f32]) -> _,
                ),
                ("softmax", softmax, par_softmax),
            ] {
                let mut seq = vec![0.0; x.len()];
                seq_fn(&x, classes, &mut seq).unwrap();
                let mut par = vec![f32::NAN; x.len()];
                pool.install(|| par_fn(&x, classes, &mut par)).unwrap();
                let what = format!("{name} {rows}x{classes}, {lanes} lanes");
                grads_match(&what, true, &par, &seq);
                assert!(
                    pool.install(|| par_fn(&x, classes, &mut par[1..])).is_err(),
                    "{what}"
                );
            }
        });
    }
}

#[test]
fn pointwise() {
    let mut rng = Rng::new(14);
    // (values, dim): below the threshold, above it with single values (an
    // odd length: a short last block), above it in samples of 7.
    for (len, dim) in [(1_000, 1), ((1 << 17) + 3, 1), (7 * 20_001, 7)] {
        let pred = rng.vec(len, -3.0, 3.0);
        let target = rng.vec(len, -3.0, 3.0);
        let weight = rng.vec(len / dim, 0.0, 2.0);
        each_level(Family::Pointwise, |lanes, pool| {
            for reduction in [Reduction::Sum, Reduction::Mean] {
                let huber = Huber::new(0.7).unwrap().dim(dim).sample_weight(&weight);
                let l2 = L2::new().dim(dim);
                let what = format!("pointwise {len}/{dim} {reduction:?}, {lanes} lanes");
                let mut seq = vec![0.0; len];
                let v = huber
                    .value_and_grad(&pred, &target, reduction, &mut seq)
                    .unwrap();
                let mut par = vec![f32::NAN; len];
                let p = pool
                    .install(|| huber.par_value_and_grad(&pred, &target, reduction, &mut par))
                    .unwrap();
                value_close(&format!("huber {what}"), p, v);
                // dim 1: the single call's factor `1 / n`, bit for bit;
                // samples of 7: `(1 / n) / 7` against `(1 / 7) (1 / n)`.
                let exact = reduction == Reduction::Sum || dim == 1;
                grads_match(&format!("huber {what}"), exact, &par, &seq);
                let v = l2
                    .value_and_grad(&pred, &target, reduction, &mut seq)
                    .unwrap();
                let p = pool
                    .install(|| l2.par_value_and_grad(&pred, &target, reduction, &mut par))
                    .unwrap();
                value_close(&format!("L2 {what}"), p, v);
                grads_match(&format!("L2 {what}"), exact, &par, &seq);
                let pv = pool
                    .install(|| l2.par_value(&pred, &target, reduction))
                    .unwrap();
                value_close(
                    &format!("L2 value {what}"),
                    pv,
                    l2.value(&pred, &target, reduction).unwrap(),
                );
            }
            assert_eq!(
                L2::new()
                    .par_value(&pred, &target[1..], Reduction::Sum)
                    .unwrap_err(),
                L2::new()
                    .value(&pred, &target[1..], Reduction::Sum)
                    .unwrap_err()
            );
        });
    }
}

#[test]
fn ctc_parallel() {
    let mut rng = Rng::new(15);
    // Below the threshold; above it with an odd batch.
    for (steps, batch, classes) in [(20, 5, 9), (70, 37, 29)] {
        let b = ctc_batch(&mut rng, steps, batch, classes);
        assert_eq!(b.dims.len() >= MIN_VALUES, batch == 37);
        let flat = b.flat();
        let (labels, concatenated) = (b.padded(), b.concatenated(&flat));
        let mut ws = vec![0.0; ctc::workspace_len(steps, b.max_len)];
        each_level(Family::Ctc, |lanes, pool| {
            for layout in [Layout::TimeMajor, Layout::BatchMajor] {
                let acts = Activations {
                    data: &b.data,
                    layout,
                    dims: b.dims,
                    input_lengths: &b.input_lengths,
                };
                for (kind, labels) in [("padded", &labels), ("concatenated", &concatenated)] {
                    for reduction in [Reduction::Sum, Reduction::Mean] {
                        let what = format!(
                            "CTC {steps}x{batch}x{classes} {layout:?} {kind} {reduction:?}, {lanes} lanes"
                        );
                        let loss = Ctc::new(0);
                        let mut seq = vec![0.0; b.data.len()];
                        let v = loss
                            .value_and_grad(&acts, labels, reduction, &mut ws, &mut seq)
                            .unwrap();
                        let mut par = vec![f32::NAN; b.data.len()];
                        let p = pool
                            .install(|| loss.par_value_and_grad(&acts, labels, reduction, &mut par))
                            .unwrap();
                        value_close(&what, p, v);
                        grads_match(&what, reduction == Reduction::Sum, &par, &seq);
                        let pv = pool
                            .install(|| loss.par_value(&acts, labels, reduction))
                            .unwrap();
                        value_close(
                            &what,
                            pv,
                            loss.value(&acts, labels, reduction, &mut ws).unwrap(),
                        );
                    }
                }
                // The sequential call's error (a blank in the last label).
                let mut bad = b.labels.clone();
                let last = (batch - 1) * b.max_len;
                let mut bad_lengths = b.lengths.clone();
                bad_lengths[batch - 1] = 1;
                bad[last] = 0;
                let bad = ctc::Labels::Padded {
                    labels: &bad,
                    max_len: b.max_len,
                    lengths: &bad_lengths,
                };
                let mut g = vec![0.0; b.data.len()];
                let seq = Ctc::new(0)
                    .value_and_grad(&acts, &bad, Reduction::Sum, &mut ws, &mut g)
                    .unwrap_err();
                let par = pool
                    .install(|| Ctc::new(0).par_value_and_grad(&acts, &bad, Reduction::Sum, &mut g))
                    .unwrap_err();
                assert_eq!(par, seq);
            }
        });
    }
}
