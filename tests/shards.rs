#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! Sharding (SPEC Part 2, "Reductions and composition"): a batch split into
//! 2, 3 and 7 shards of unequal sizes gives the single call's `Sum`, `Mean`
//! and gradient within rounding, for every family: the shard `Sum`s add up,
//! the shard `Mean`s combine with each family's `mean_denominator` (`Mean =
//! Σ_k (d_k / d) Mean_k`), and the shard gradients, accumulated with
//! `scale = d_k / d`, are the whole batch's `Mean` gradient. At every level.

use crate::common;

use common::lanes::{Family, each_lane};
use common::rng::Rng;
use common::tolerance::close;
use loss_kernels::Reduction;
use loss_kernels::ctc::{self, Activations, Ctc, Dims};
use loss_kernels::embedding::{
    CosineEmbedding, CosineGrads, Sdml, SdmlGrads, Triplet, TripletGrads,
};
use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
use loss_kernels::pointwise::Huber;
use loss_kernels::pointwise::SigmoidBcePerClass;
use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};
use std::ops::Range;

/// `n` items in `k` unequal, non-empty, consecutive shards.
fn shards(n: usize, k: usize, rng: &mut Rng) -> Vec<Range<usize>> {
    assert!(n >= 2 * k);
    let mut cuts: Vec<usize> = vec![0, n];
    while cuts.len() < k + 1 {
        let c = 1 + rng.below(n - 1);
        if !cuts.contains(&c) {
            cuts.push(c);
        }
    }
    cuts.sort_unstable();
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

fn scaled(r: &Range<usize>, width: usize) -> Range<usize> {
    r.start * width..r.end * width
}

/// What the shards of one split gave, to compare with the single call.
struct Combined {
    sum: f64,
    mean: f64,
    denominator: f64,
}

fn check(
    what: &str,
    got: &Combined,
    sum: f32,
    mean: f32,
    denominator: f32,
    grad: (&[f32], &[f32]),
) {
    assert!(
        close(got.sum as f32, f64::from(sum), 1e-6, 1e-6),
        "{what}: Σ shard Sums {} vs Sum {sum}",
        got.sum
    );
    assert!(
        close(got.mean as f32, f64::from(mean), 1e-6, 1e-7),
        "{what}: combined Mean {} vs Mean {mean}",
        got.mean
    );
    assert!(
        close(got.denominator as f32, f64::from(denominator), 1e-6, 0.0),
        "{what}: the shards' denominators add up to {}, not {denominator}",
        got.denominator
    );
    // Within rounding of the gradient's scale: an entry that is a small
    // difference of larger terms (softmax - target) carries their rounding.
    let (sharded, single) = grad;
    let size = single.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    for (k, (&a, &b)) in sharded.iter().zip(single).enumerate() {
        let tol = 1e-6 * f64::from(size);
        assert!(
            close(a, f64::from(b), 1e-6, tol),
            "{what}: gradient[{k}] {a:e} vs {b:e}"
        );
    }
}

#[test]
fn pointwise_shards() {
    let mut rng = Rng::new(1);
    let (n, dim) = (50, 3);
    let pred = rng.vec(n * dim, -2.0, 2.0);
    let target = rng.vec(n * dim, -2.0, 2.0);
    let weight = rng.vec(n, 0.0, 2.0);
    for k in [2, 3, 7] {
        let parts = shards(n, k, &mut rng);
        each_lane(Family::Pointwise, |lanes| {
            let loss = Huber::new(0.7).unwrap().dim(dim).sample_weight(&weight);
            let mut single = vec![0.0; pred.len()];
            let mean = loss
                .value_and_grad(&pred, &target, Reduction::Mean, &mut single)
                .unwrap();
            let sum = loss.value(&pred, &target, Reduction::Sum).unwrap();
            let d = loss.mean_denominator(&pred).unwrap();
            let mut sharded = vec![0.0; pred.len()];
            let mut got = Combined {
                sum: 0.0,
                mean: 0.0,
                denominator: 0.0,
            };
            for r in &parts {
                let e = scaled(r, dim);
                let shard = Huber::new(0.7)
                    .unwrap()
                    .dim(dim)
                    .sample_weight(&weight[r.clone()]);
                let (p, t) = (&pred[e.clone()], &target[e.clone()]);
                let d_k = shard.mean_denominator(p).unwrap();
                let m = shard
                    .value_and_accumulate_grad(p, t, Reduction::Mean, d_k / d, &mut sharded[e])
                    .unwrap();
                got.sum += f64::from(shard.value(p, t, Reduction::Sum).unwrap());
                got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                got.denominator += f64::from(d_k);
            }
            check(
                &format!("Huber, {k} shards, {lanes} lanes"),
                &got,
                sum,
                mean,
                d,
                (&sharded, &single),
            );
        });
    }
}

#[test]
fn cross_entropy_and_kl_shards() {
    let mut rng = Rng::new(2);
    for classes in [4, 40] {
        let rows = 60;
        let logits = rng.vec(rows * classes, -4.0, 4.0);
        // Ignored rows and class weights: the sparse denominator is Σ c[y].
        let labels: Vec<u32> = (0..rows)
            .map(|_| {
                if rng.coin(0.25) {
                    77
                } else {
                    rng.below(classes) as u32
                }
            })
            .collect();
        let class_weight = rng.vec(classes, 0.5, 2.0);
        let sample_weight = rng.vec(rows, 0.0, 2.0);
        let mut probs = rng.vec(rows * classes, 0.0, 1.0);
        for row in probs.chunks_mut(classes) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        for k in [2, 3, 7] {
            let parts = shards(rows, k, &mut rng);
            for dense in [false, true] {
                each_lane(Family::Softmax, |lanes| {
                    let base = SoftmaxCrossEntropy::new(classes)
                        .unwrap()
                        .ignore_index(Some(77))
                        .label_smoothing(0.1)
                        .unwrap()
                        .class_weight(&class_weight);
                    let labels_of = |r: &Range<usize>| {
                        if dense {
                            Labels::Dense(&probs[scaled(r, classes)])
                        } else {
                            Labels::Sparse(&labels[r.clone()])
                        }
                    };
                    let all = 0..rows;
                    let full = base.sample_weight(&sample_weight);
                    let mut single = vec![0.0; logits.len()];
                    let mean = full
                        .value_and_grad(&logits, labels_of(&all), Reduction::Mean, &mut single)
                        .unwrap();
                    let sum = full
                        .value(&logits, labels_of(&all), Reduction::Sum)
                        .unwrap();
                    let d = full.mean_denominator(&logits, labels_of(&all)).unwrap();
                    let mut sharded = vec![0.0; logits.len()];
                    let mut got = Combined {
                        sum: 0.0,
                        mean: 0.0,
                        denominator: 0.0,
                    };
                    for r in &parts {
                        let e = scaled(r, classes);
                        let shard = base.sample_weight(&sample_weight[r.clone()]);
                        let x = &logits[e.clone()];
                        let d_k = shard.mean_denominator(x, labels_of(r)).unwrap();
                        let m = shard
                            .value_and_accumulate_grad(
                                x,
                                labels_of(r),
                                Reduction::Mean,
                                d_k / d,
                                &mut sharded[e],
                            )
                            .unwrap();
                        got.sum += f64::from(shard.value(x, labels_of(r), Reduction::Sum).unwrap());
                        got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                        got.denominator += f64::from(d_k);
                    }
                    let what = format!(
                        "cross-entropy dense {dense}, {classes} classes, {k} shards, {lanes} lanes"
                    );
                    check(&what, &got, sum, mean, d, (&sharded, &single));
                });
            }
            each_lane(Family::Softmax, |lanes| {
                let full = KlDivergence::new(classes)
                    .unwrap()
                    .input(Input::Logits)
                    .sample_weight(&sample_weight);
                let mut single = vec![0.0; logits.len()];
                let mean = full
                    .value_and_grad(&logits, &probs, Reduction::Mean, &mut single)
                    .unwrap();
                let sum = full.value(&logits, &probs, Reduction::Sum).unwrap();
                let d = full.mean_denominator(&logits).unwrap();
                let mut sharded = vec![0.0; logits.len()];
                let mut got = Combined {
                    sum: 0.0,
                    mean: 0.0,
                    denominator: 0.0,
                };
                for r in &parts {
                    let e = scaled(r, classes);
                    let shard = KlDivergence::new(classes)
                        .unwrap()
                        .input(Input::Logits)
                        .sample_weight(&sample_weight[r.clone()]);
                    let (x, t) = (&logits[e.clone()], &probs[e.clone()]);
                    let d_k = shard.mean_denominator(x).unwrap();
                    let m = shard
                        .value_and_accumulate_grad(x, t, Reduction::Mean, d_k / d, &mut sharded[e])
                        .unwrap();
                    got.sum += f64::from(shard.value(x, t, Reduction::Sum).unwrap());
                    got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                    got.denominator += f64::from(d_k);
                }
                check(
                    &format!("KL, {classes} classes, {k} shards, {lanes} lanes"),
                    &got,
                    sum,
                    mean,
                    d,
                    (&sharded, &single),
                );
            });
        }
    }
}

#[test]
fn cross_entropy_denominators_add_up() {
    let mut rng = Rng::new(5);
    let classes = 6;
    let rows = 40;
    let labels: Vec<u32> = (0..rows)
        .map(|_| {
            if rng.coin(0.3) {
                9
            } else {
                rng.below(classes) as u32
            }
        })
        .collect();
    let class_weight = [0.5, 1.0, 1.5, 2.0, 0.25, 4.0];
    let ce = SoftmaxCrossEntropy::new(classes)
        .unwrap()
        .ignore_index(Some(9))
        .class_weight(&class_weight);
    let logits = vec![0.0; rows * classes];
    let want: f32 = labels
        .iter()
        .filter(|&&y| y != 9)
        .map(|&y| class_weight[y as usize])
        .sum();
    let got = ce
        .mean_denominator(&logits, Labels::Sparse(&labels))
        .unwrap();
    // Quarters and halves: every partial sum is exact.
    assert_eq!(got, want);
    let unweighted = SoftmaxCrossEntropy::new(classes)
        .unwrap()
        .ignore_index(Some(9));
    let live = labels.iter().filter(|&&y| y != 9).count() as f32;
    assert_eq!(
        unweighted
            .mean_denominator(&logits, Labels::Sparse(&labels))
            .unwrap(),
        live
    );
    assert!(
        ce.mean_denominator(&logits[1..], Labels::Sparse(&labels))
            .is_err()
    );
}

#[test]
fn embedding_shards() {
    let mut rng = Rng::new(3);
    let (rows, dim) = (40, 9);
    let len = rows * dim;
    let (a, p, n) = (
        rng.vec(len, -1.0, 1.0),
        rng.vec(len, -1.0, 1.0),
        rng.vec(len, -1.0, 1.0),
    );
    let signs: Vec<f32> = (0..rows)
        .map(|_| if rng.coin(0.5) { 1.0 } else { -1.0 })
        .collect();
    let weight = rng.vec(rows, 0.0, 2.0);
    for k in [2, 3, 7] {
        let parts = shards(rows, k, &mut rng);
        each_lane(Family::Embedding, |lanes| {
            let full = Triplet::new(dim)
                .unwrap()
                .margin(0.8)
                .unwrap()
                .sample_weight(&weight);
            let mut g = vec![vec![0.0; len]; 3];
            let [ga, gp, gn] = &mut g[..] else {
                unreachable!()
            };
            let mean = full
                .value_and_grad(
                    &a,
                    &p,
                    &n,
                    Reduction::Mean,
                    TripletGrads {
                        anchor: ga,
                        positive: gp,
                        negative: gn,
                    },
                )
                .unwrap();
            let sum = full.value(&a, &p, &n, Reduction::Sum).unwrap();
            let d = full.mean_denominator(&a).unwrap();
            let mut h = vec![vec![0.0; len]; 3];
            let mut got = Combined {
                sum: 0.0,
                mean: 0.0,
                denominator: 0.0,
            };
            for r in &parts {
                let e = scaled(r, dim);
                let shard = Triplet::new(dim)
                    .unwrap()
                    .margin(0.8)
                    .unwrap()
                    .sample_weight(&weight[r.clone()]);
                let (sa, sp, sn) = (&a[e.clone()], &p[e.clone()], &n[e.clone()]);
                let d_k = shard.mean_denominator(sa).unwrap();
                let [ha, hp, hn] = &mut h[..] else {
                    unreachable!()
                };
                let grads = TripletGrads {
                    anchor: &mut ha[e.clone()],
                    positive: &mut hp[e.clone()],
                    negative: &mut hn[e.clone()],
                };
                let m = shard
                    .value_and_accumulate_grad(sa, sp, sn, Reduction::Mean, d_k / d, grads)
                    .unwrap();
                got.sum += f64::from(shard.value(sa, sp, sn, Reduction::Sum).unwrap());
                got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                got.denominator += f64::from(d_k);
            }
            let what = format!("triplet, {k} shards, {lanes} lanes");
            check(&what, &got, sum, mean, d, (&h.concat(), &g.concat()));

            let full = CosineEmbedding::new(dim).unwrap().sample_weight(&weight);
            let (mut g1, mut g2) = (vec![0.0; len], vec![0.0; len]);
            let mean = full
                .value_and_grad(
                    &a,
                    &p,
                    &signs,
                    Reduction::Mean,
                    CosineGrads {
                        x1: &mut g1,
                        x2: &mut g2,
                    },
                )
                .unwrap();
            let sum = full.value(&a, &p, &signs, Reduction::Sum).unwrap();
            let d = full.mean_denominator(&a).unwrap();
            let (mut h1, mut h2) = (vec![0.0; len], vec![0.0; len]);
            let mut got = Combined {
                sum: 0.0,
                mean: 0.0,
                denominator: 0.0,
            };
            for r in &parts {
                let e = scaled(r, dim);
                let shard = CosineEmbedding::new(dim)
                    .unwrap()
                    .sample_weight(&weight[r.clone()]);
                let (x1, x2, y) = (&a[e.clone()], &p[e.clone()], &signs[r.clone()]);
                let d_k = shard.mean_denominator(x1).unwrap();
                let grads = CosineGrads {
                    x1: &mut h1[e.clone()],
                    x2: &mut h2[e.clone()],
                };
                let m = shard
                    .value_and_accumulate_grad(x1, x2, y, Reduction::Mean, d_k / d, grads)
                    .unwrap();
                got.sum += f64::from(shard.value(x1, x2, y, Reduction::Sum).unwrap());
                got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                got.denominator += f64::from(d_k);
            }
            let what = format!("cosine, {k} shards, {lanes} lanes");
            check(
                &what,
                &got,
                sum,
                mean,
                d,
                (&[h1, h2].concat(), &[g1, g2].concat()),
            );
        });
    }
}

#[test]
fn ctc_batch_major_shards() {
    let mut rng = Rng::new(4);
    let (t, n, c) = (10, 21, 6);
    let data = rng.vec(t * n * c, -3.0, 3.0);
    let input_lengths: Vec<u32> = (0..n).map(|_| 5 + rng.below(t - 4) as u32).collect();
    let labels: Vec<Vec<u32>> = (0..n)
        .map(|_| {
            (0..rng.below(4))
                .map(|_| 1 + rng.below(c - 1) as u32)
                .collect()
        })
        .collect();
    let lengths: Vec<u32> = labels.iter().map(|l| l.len() as u32).collect();
    let offsets: Vec<usize> = std::iter::once(0)
        .chain(lengths.iter().scan(0, |acc, &l| {
            *acc += l as usize;
            Some(*acc)
        }))
        .collect();
    let flat = labels.concat();
    let mut workspace = vec![0.0; ctc::workspace_len(t, 3)];
    for k in [2, 3, 7] {
        let parts = shards(n, k, &mut rng);
        each_lane(Family::Ctc, |lanes| {
            let loss = Ctc::new(0);
            let dims = Dims {
                steps: t,
                batch: n,
                classes: c,
            };
            let acts = Activations::batch_major(&data, dims, &input_lengths);
            let all = ctc::Labels::Concatenated {
                labels: &flat,
                lengths: &lengths,
            };
            let mut single = vec![0.0; data.len()];
            let mean = loss
                .value_and_grad(&acts, &all, Reduction::Mean, &mut workspace, &mut single)
                .unwrap();
            let sum = loss
                .value(&acts, &all, Reduction::Sum, &mut workspace)
                .unwrap();
            let d = loss.mean_denominator(&acts).unwrap();
            let mut sharded = vec![0.0; data.len()];
            let mut got = Combined {
                sum: 0.0,
                mean: 0.0,
                denominator: 0.0,
            };
            for r in &parts {
                let e = scaled(r, t * c);
                let dims = Dims {
                    steps: t,
                    batch: r.len(),
                    classes: c,
                };
                let acts =
                    Activations::batch_major(&data[e.clone()], dims, &input_lengths[r.clone()]);
                let l = ctc::Labels::Concatenated {
                    labels: &flat[offsets[r.start]..offsets[r.end]],
                    lengths: &lengths[r.clone()],
                };
                let d_k = loss.mean_denominator(&acts).unwrap();
                let m = loss
                    .value_and_accumulate_grad(
                        &acts,
                        &l,
                        Reduction::Mean,
                        &mut workspace,
                        d_k / d,
                        &mut sharded[e],
                    )
                    .unwrap();
                got.sum += f64::from(
                    loss.value(&acts, &l, Reduction::Sum, &mut workspace)
                        .unwrap(),
                );
                got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                got.denominator += f64::from(d_k);
            }
            check(
                &format!("CTC, {k} shards, {lanes} lanes"),
                &got,
                sum,
                mean,
                d,
                (&sharded, &single),
            );
        });
    }
}

/// Splits a batch of `n` samples into 2, 3 and 7 shards and checks, at
/// every level, that the shards give the single call's `Sum`, `Mean` and
/// `Mean` gradient. `run(r, reduction, scale, grads)` is the loss's
/// `value_and_accumulate_grad` on the samples `r` (the single call's
/// gradient is accumulated into zeros with scale 1: `value_and_grad`'s, as
/// tests/accumulate.rs checks), `denominator(r)` its `mean_denominator`;
/// gradient `k` has `widths[k]` values per sample.
fn shards_agree<const G: usize>(
    what: &str,
    family: Family,
    (n, seed): (usize, u64),
    widths: [usize; G],
    run: impl Fn(&Range<usize>, Reduction, f32, [&mut [f32]; G]) -> f32,
    denominator: impl Fn(&Range<usize>) -> f32,
) {
    let mut rng = Rng::new(seed);
    let zeros = |r: &Range<usize>| widths.map(|w| vec![0.0f32; (r.end - r.start) * w]);
    let all = 0..n;
    for k in [2, 3, 7] {
        let parts = shards(n, k, &mut rng);
        each_lane(family, |lanes| {
            let mut single = zeros(&all);
            let mean = run(
                &all,
                Reduction::Mean,
                1.0,
                single.each_mut().map(|g| &mut g[..]),
            );
            let mut scratch = zeros(&all);
            let sum = run(
                &all,
                Reduction::Sum,
                1.0,
                scratch.each_mut().map(|g| &mut g[..]),
            );
            let d = denominator(&all);
            let mut sharded = zeros(&all);
            let mut got = Combined {
                sum: 0.0,
                mean: 0.0,
                denominator: 0.0,
            };
            for r in &parts {
                let d_k = denominator(r);
                let mut at = widths.map(|w| scaled(r, w)).into_iter();
                let grads = sharded.each_mut().map(|g| &mut g[at.next().unwrap()]);
                let m = run(r, Reduction::Mean, d_k / d, grads);
                let mut scratch = zeros(r);
                let s_k = run(
                    r,
                    Reduction::Sum,
                    1.0,
                    scratch.each_mut().map(|g| &mut g[..]),
                );
                got.sum += f64::from(s_k);
                got.mean += f64::from(d_k) * f64::from(m) / f64::from(d);
                got.denominator += f64::from(d_k);
            }
            for (g, (a, b)) in sharded.iter().zip(&single).enumerate() {
                check(
                    &format!("{what}, gradient {g}, {k} shards, {lanes} lanes"),
                    &got,
                    sum,
                    mean,
                    d,
                    (a, b),
                );
            }
        });
    }
}

#[test]
fn pair_shards() {
    let mut rng = Rng::new(11);
    let n = 50;
    for (dim, shared) in [(1, false), (3, false), (3, true)] {
        let len = n * dim;
        let (p, t) = (rng.vec(len, -2.0, 2.0), rng.vec(len, -2.0, 2.0));
        let var_width = if shared { 1 } else { dim };
        let var = rng.vec(n * var_width, 0.1, 2.0);
        let labels: Vec<f32> = (0..len)
            .map(|_| if rng.coin(0.5) { 1.0 } else { -1.0 })
            .collect();
        let weight = rng.vec(n, 0.0, 2.0);
        let what = format!("GaussianNll dim {dim} shared var {shared}");
        shards_agree(
            &what,
            Family::Pointwise,
            (n, 12),
            [dim, var_width],
            |r, reduction, scale, [pred, var_g]| {
                let e = scaled(r, dim);
                GaussianNll::new()
                    .full(true)
                    .dim(dim)
                    .sample_weight(&weight[r.clone()])
                    .value_and_accumulate_grad(
                        &p[e.clone()],
                        &t[e],
                        &var[scaled(r, var_width)],
                        reduction,
                        scale,
                        GaussianGrads { pred, var: var_g },
                    )
                    .unwrap()
            },
            |r| {
                GaussianNll::new()
                    .dim(dim)
                    .mean_denominator(&p[scaled(r, dim)])
                    .unwrap()
            },
        );
        let ranking = MarginRanking::new(0.4).unwrap().dim(dim);
        shards_agree(
            &format!("MarginRanking dim {dim}"),
            Family::Pointwise,
            (n, 13),
            [dim, dim],
            |r, reduction, scale, [x1, x2]| {
                let e = scaled(r, dim);
                ranking
                    .sample_weight(&weight[r.clone()])
                    .value_and_accumulate_grad(
                        &p[e.clone()],
                        &t[e.clone()],
                        &labels[e],
                        reduction,
                        scale,
                        RankingGrads { x1, x2 },
                    )
                    .unwrap()
            },
            |r| ranking.mean_denominator(&p[scaled(r, dim)]).unwrap(),
        );
    }
}

#[test]
fn per_class_bce_and_margin_shards() {
    let mut rng = Rng::new(14);
    let rows = 40;
    for classes in [3, 20] {
        let len = rows * classes;
        let x = rng.vec(len, -3.0, 3.0);
        let dense = rng.vec(len, 0.0, 1.0);
        let pos_weight = rng.vec(classes, 0.0, 3.0);
        let class_weight = rng.vec(classes, 0.5, 2.0);
        let weight = rng.vec(rows, 0.0, 2.0);
        let labels: Vec<u32> = (0..rows).map(|_| rng.below(classes) as u32).collect();
        let targets: Vec<i64> = (0..rows)
            .flat_map(|_| {
                let k = rng.below(classes);
                let mut row: Vec<i64> = (0..k).map(|_| rng.below(classes) as i64).collect();
                row.resize(classes, -1);
                row
            })
            .collect();
        let bce = SigmoidBcePerClass::new(&pos_weight).unwrap();
        shards_agree(
            &format!("SigmoidBcePerClass, {classes} classes"),
            Family::Pointwise,
            (rows, 15),
            [classes],
            |r, reduction, scale, [g]| {
                let e = scaled(r, classes);
                bce.sample_weight(&weight[r.clone()])
                    .value_and_accumulate_grad(&x[e.clone()], &dense[e], reduction, scale, g)
                    .unwrap()
            },
            |r| bce.mean_denominator(&x[scaled(r, classes)]).unwrap(),
        );
        let multi = MultiMargin::new(classes)
            .unwrap()
            .p(2)
            .unwrap()
            .class_weight(&class_weight);
        shards_agree(
            &format!("MultiMargin, {classes} classes"),
            Family::Softmax,
            (rows, 16),
            [classes],
            |r, reduction, scale, [g]| {
                multi
                    .sample_weight(&weight[r.clone()])
                    .value_and_accumulate_grad(
                        &x[scaled(r, classes)],
                        &labels[r.clone()],
                        reduction,
                        scale,
                        g,
                    )
                    .unwrap()
            },
            |r| multi.mean_denominator(&x[scaled(r, classes)]).unwrap(),
        );
        let multilabel = MultilabelMargin::new(classes).unwrap();
        shards_agree(
            &format!("MultilabelMargin, {classes} classes"),
            Family::Softmax,
            (rows, 17),
            [classes],
            |r, reduction, scale, [g]| {
                let e = scaled(r, classes);
                multilabel
                    .sample_weight(&weight[r.clone()])
                    .value_and_accumulate_grad(&x[e.clone()], &targets[e], reduction, scale, g)
                    .unwrap()
            },
            |r| multilabel.mean_denominator(&x[scaled(r, classes)]).unwrap(),
        );
        let soft = MultilabelSoftMargin::new(classes)
            .unwrap()
            .class_weight(&class_weight);
        shards_agree(
            &format!("MultilabelSoftMargin, {classes} classes"),
            Family::Softmax,
            (rows, 18),
            [classes],
            |r, reduction, scale, [g]| {
                let e = scaled(r, classes);
                soft.sample_weight(&weight[r.clone()])
                    .value_and_accumulate_grad(&x[e.clone()], &dense[e], reduction, scale, g)
                    .unwrap()
            },
            |r| soft.mean_denominator(&x[scaled(r, classes)]).unwrap(),
        );
    }
}

/// SDML couples the rows of a batch (each row of `x1` against every row of
/// `x2`), so a shard is a smaller SDML problem, not a part of the batch's
/// loss: no shard identity holds. What its denominators give is the mean
/// over micro-batches: `Σ_k (d_k / d) Mean_k = Σ_k Sum_k / d`, here against
/// the per-sample losses of each micro-batch, with the accumulated gradient
/// the `d_k / d`-weighted sum of the micro-batches' `Mean` gradients.
#[test]
fn sdml_micro_batches() {
    let mut rng = Rng::new(19);
    let (rows, dim) = (30, 4);
    let x1 = rng.vec(rows * dim, -1.0, 1.0);
    let x2 = rng.vec(rows * dim, -1.0, 1.0);
    let loss = Sdml::new(dim).unwrap();
    for k in [2, 3, 7] {
        // SDML needs at least 2 rows per call: re-draw until every
        // micro-batch has them.
        let parts = loop {
            let p = shards(rows, k, &mut rng);
            if p.iter().all(|r| r.len() >= 2) {
                break p;
            }
        };
        each_lane(Family::Embedding, |lanes| {
            let what = format!("SDML, {k} micro-batches, {lanes} lanes");
            let d = loss.mean_denominator(&x1).unwrap();
            let (mut g1, mut g2) = (vec![0.0; x1.len()], vec![0.0; x1.len()]);
            let (mut w1, mut w2) = (vec![0.0f32; x1.len()], vec![0.0f32; x1.len()]);
            let (mut combined, mut per_sample_sum, mut denominators) = (0.0f64, 0.0f64, 0.0);
            for r in &parts {
                let e = scaled(r, dim);
                let (a, b) = (&x1[e.clone()], &x2[e.clone()]);
                let d_k = loss.mean_denominator(a).unwrap();
                let grads = SdmlGrads {
                    x1: &mut g1[e.clone()],
                    x2: &mut g2[e.clone()],
                };
                let m = loss
                    .value_and_accumulate_grad(a, b, Reduction::Mean, d_k / d, grads)
                    .unwrap();
                combined += f64::from(d_k) * f64::from(m) / f64::from(d);
                let mut out = vec![0.0; r.len()];
                loss.per_sample(a, b, &mut out).unwrap();
                per_sample_sum += out.iter().map(|&v| f64::from(v)).sum::<f64>();
                denominators += d_k;
                let (mut h1, mut h2) = (vec![0.0; e.len()], vec![0.0; e.len()]);
                let grads = SdmlGrads {
                    x1: &mut h1,
                    x2: &mut h2,
                };
                loss.value_and_grad(a, b, Reduction::Mean, grads).unwrap();
                for (j, i) in e.enumerate() {
                    w1[i] = d_k / d * h1[j];
                    w2[i] = d_k / d * h2[j];
                }
            }
            assert_eq!(denominators, d, "{what}: denominators");
            let want = per_sample_sum / f64::from(d);
            assert!(
                close(combined as f32, want, 1e-6, 1e-7),
                "{what}: {combined} vs {want}"
            );
            for (got, want) in [(&g1, &w1), (&g2, &w2)] {
                for (j, (&a, &b)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        close(a, f64::from(b), 1e-5, 1e-8),
                        "{what}: gradient[{j}] {a:e} vs {b:e}"
                    );
                }
            }
        });
    }
}
