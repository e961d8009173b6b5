#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The embedding losses agree at every level.

use crate::common;
use common::lanes::{levels, runs, with_level};
use loss_kernels::Error;
use loss_kernels::embedding::*;
use loss_kernels::lane::Level;

/// Every output of one call of each loss: the per-sample losses, their
/// sum and every gradient, for rows of `dim` values.
fn outputs(dim: usize) -> Result<Vec<f32>, Error> {
    let rows = 5;
    let mut seed = 0x9e37_79b9_u32 ^ dim as u32;
    let mut value = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    };
    let len = rows * dim;
    let [a, p, n] = [(); 3].map(|()| (0..len).map(|_| value()).collect::<Vec<f32>>());
    let labels: Vec<f32> = (0..rows)
        .map(|r| if r % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let weight: Vec<f32> = (0..rows).map(|r| 0.5 + r as f32).collect();
    let mut all = Vec::new();
    for distance in [Distance::Squared, Distance::Euclidean] {
        let loss = Triplet::new(dim)?
            .margin(0.5)?
            .distance(distance)
            .sample_weight(&weight);
        let (mut out, mut g) = (vec![0.0; rows], [(); 3].map(|()| vec![0.0; len]));
        let [ga, gp, gn] = &mut g;
        let grads = TripletGrads {
            anchor: ga,
            positive: gp,
            negative: gn,
        };
        all.push(loss.per_sample_and_grad(&a, &p, &n, &mut out, grads)?);
        all.extend(out.iter().chain(g.iter().flatten()));
    }
    let loss = CosineEmbedding::new(dim)?
        .margin(-0.2)?
        .sample_weight(&weight);
    let (mut out, mut g1, mut g2) = (vec![0.0; rows], vec![0.0; len], vec![0.0; len]);
    let grads = CosineGrads {
        x1: &mut g1,
        x2: &mut g2,
    };
    all.push(loss.per_sample_and_grad(&a, &p, &labels, &mut out, grads)?);
    all.extend(out.iter().chain(&g1).chain(&g2));
    Ok(all)
}

/// Both losses agree across the lane widths (summation order aside),
/// for dims below, at and around the widths.
#[test]
fn lane_widths_agree() -> Result<(), Error> {
    for dim in [1, 3, 16, 17, 64] {
        let scalar = with_level(Level::Scalar, || outputs(dim))?;
        for level in levels() {
            let before = runs(level);
            let wide = with_level(level, || outputs(dim))?;
            assert_ne!(before, runs(level), "dim {dim}: no kernel ran at {level}");
            assert_eq!(wide.len(), scalar.len());
            for (k, (w, s)) in wide.iter().zip(&scalar).enumerate() {
                let tol = 1e-5 * (1.0 + s.abs()) * dim as f32;
                assert!(
                    (w - s).abs() <= tol,
                    "dim {dim}, {level}, output {k}: {w} vs {s}"
                );
            }
        }
    }
    Ok(())
}
