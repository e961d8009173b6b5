#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Every option at every level agrees with the scalar lane (the row
//! layout, the transposed layout and their leftover rows all run).

use crate::common;
use common::lanes::{levels, with_level};
use loss_kernels::Reduction;
use loss_kernels::lane::Level;
use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};

/// Rows per batch: two or more transposed blocks and leftover rows at
/// every width.
const ROWS: usize = 37;

/// A small deterministic generator in `[-4, 4)`.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 8.0 - 4.0
        })
        .collect()
}

/// `(loss, per-sample losses, gradient)` of one configuration.
type Run = (f32, Vec<f32>, Vec<f32>);

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())))
}

#[test]
fn every_width_agrees_with_scalar() {
    let rows = ROWS;
    for classes in [1usize, 3, 10, 17, 31, 32, 33, 100] {
        let n = rows * classes;
        let logits = values(n, classes as u64);
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7) % classes) as u32).collect();
        let ignored: Vec<u32> = (0..rows)
            .map(|i| {
                if i % 5 == 2 {
                    999
                } else {
                    ((i * 3) % classes) as u32
                }
            })
            .collect();
        let class_weight: Vec<f32> = (0..classes).map(|k| 0.5 + (k % 4) as f32 * 0.25).collect();
        let sample_weight: Vec<f32> = (0..rows).map(|i| 0.25 + (i % 3) as f32).collect();
        let mut target: Vec<f32> = values(n, 7 + classes as u64)
            .iter()
            .map(|v| v.exp())
            .collect();
        for row in target.chunks_mut(classes) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|t| *t /= s);
            if let Some(t) = row.first_mut() {
                *t = 0.0; // t ln t = 0 at t = 0
            }
        }
        let log_probs: Vec<f32> = logits.iter().map(|v| v - 5.0).collect();
        let base = SoftmaxCrossEntropy::new(classes).unwrap();
        let configs: [&dyn Fn() -> Run; 12] = [
            &|| ce(base, &logits, Labels::Sparse(&labels), Reduction::Mean),
            &|| {
                ce(
                    base.ignore_index(Some(999)),
                    &logits,
                    Labels::Sparse(&ignored),
                    Reduction::Mean,
                )
            },
            &|| {
                ce(
                    base.label_smoothing(0.1).unwrap(),
                    &logits,
                    Labels::Sparse(&labels),
                    Reduction::Sum,
                )
            },
            &|| {
                ce(
                    base.class_weight(&class_weight),
                    &logits,
                    Labels::Sparse(&labels),
                    Reduction::Mean,
                )
            },
            &|| {
                let l = base
                    .label_smoothing(0.2)
                    .unwrap()
                    .class_weight(&class_weight);
                ce(
                    l.ignore_index(Some(999)),
                    &logits,
                    Labels::Sparse(&ignored),
                    Reduction::Mean,
                )
            },
            &|| {
                ce(
                    base.sample_weight(&sample_weight),
                    &logits,
                    Labels::Sparse(&labels),
                    Reduction::Sum,
                )
            },
            &|| ce(base, &logits, Labels::Dense(&target), Reduction::Mean),
            &|| {
                ce(
                    base.class_weight(&class_weight),
                    &logits,
                    Labels::Dense(&target),
                    Reduction::Sum,
                )
            },
            &|| {
                let l = base.input(Input::LogProbs).label_smoothing(0.1).unwrap();
                ce(l, &log_probs, Labels::Sparse(&labels), Reduction::Mean)
            },
            &|| {
                kl(
                    KlDivergence::new(classes).unwrap().input(Input::Logits),
                    &logits,
                    &target,
                )
            },
            &|| kl(KlDivergence::new(classes).unwrap(), &log_probs, &target),
            &|| {
                let k = KlDivergence::new(classes).unwrap().input(Input::Logits);
                kl(k.sample_weight(&sample_weight), &logits, &target)
            },
        ];
        for (c, config) in configs.iter().enumerate() {
            let scalar = with_level(Level::Scalar, config);
            for level in levels().into_iter().skip(1) {
                let (v, per, g) = with_level(level, config);
                assert!(
                    close(&[v], &[scalar.0], 1e-5)
                        && close(&per, &scalar.1, 1e-5)
                        && close(&g, &scalar.2, 1e-5),
                    "classes {classes}, config {c}, level {level}: {v} vs {}",
                    scalar.0
                );
            }
        }
    }
}

fn ce(loss: SoftmaxCrossEntropy<'_>, x: &[f32], labels: Labels<'_>, reduction: Reduction) -> Run {
    let rows = match labels {
        Labels::Sparse(y) => y.len(),
        Labels::SparseI64(y) => y.len(),
        Labels::Dense(t) => t.len() / (x.len() / ROWS),
    };
    let mut grad = vec![0.0; x.len()];
    let v = loss
        .value_and_grad(x, labels, reduction, &mut grad)
        .unwrap();
    assert_eq!(v, loss.value(x, labels, reduction).unwrap());
    let mut per = vec![0.0; rows];
    let mut per_grad = vec![0.0; x.len()];
    loss.per_sample_and_grad(x, labels, &mut per, &mut per_grad)
        .unwrap();
    grad.extend(per_grad);
    (v, per, grad)
}

fn kl(loss: KlDivergence<'_>, x: &[f32], target: &[f32]) -> Run {
    let mut grad = vec![0.0; x.len()];
    let v = loss
        .value_and_grad(x, target, Reduction::Mean, &mut grad)
        .unwrap();
    assert_eq!(v, loss.value(x, target, Reduction::Mean).unwrap());
    let mut per = vec![0.0; ROWS];
    let mut per_grad = vec![0.0; x.len()];
    loss.per_sample_and_grad(x, target, &mut per, &mut per_grad)
        .unwrap();
    grad.extend(per_grad);
    (v, per, grad)
}
