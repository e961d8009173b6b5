#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! No allocation, proven on the host: this test binary's global allocator
//! is `allocation_counter`'s counting allocator, which counts per thread, so
//! the test harness's own threads never pollute a measurement. Every public
//! entry point of the crate is called, on success and on every error path,
//! with inputs prepared beforehand; each call must allocate nothing.
//!
//! Whoever adds a public entry point adds its calls here (see
//! ARCHITECTURE.md).

use allocation_counter::measure;
use core::fmt::Write;
use loss_kernels::lane::{Lane, Native};
use loss_kernels::math::{self, LogisticParts};
use loss_kernels::pointwise::{self, ElementLoss, Labels, Pointwise};
use loss_kernels::{Error, Reduction};
use std::hint::black_box;

/// Runs `f` and fails if it allocated on this thread.
#[track_caller]
fn assert_no_alloc(what: &str, f: impl FnOnce()) {
    let info = measure(f);
    assert_eq!(
        info.count_total, 0,
        "{what}: {} allocations ({} bytes)",
        info.count_total, info.bytes_total
    );
}

/// A fixed-size `fmt::Write` sink, to format errors without a `String`.
struct Buf {
    bytes: [u8; 256],
    len: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = (self.len + s.len()).min(self.bytes.len());
        let n = end - self.len;
        self.bytes[self.len..end].copy_from_slice(&s.as_bytes()[..n]);
        self.len = end;
        Ok(())
    }
}

/// Formats an error (Display and Debug) into a stack buffer.
fn show(e: Error) -> usize {
    let mut b = Buf {
        bytes: [0; 256],
        len: 0,
    };
    write!(b, "{e} {e:?}").unwrap();
    b.len
}

/// The measurement is real: an allocation is seen.
#[test]
fn the_counter_counts() {
    let info = measure(|| {
        black_box(Box::new(black_box(7u32)));
    });
    assert_eq!(info.count_total, 1, "the counting allocator is not active");
}

/// Every entry point of one pointwise loss, on well-formed and malformed
/// arguments. Returns how many calls returned `Err` (they all must allocate
/// nothing either way).
fn pointwise_calls<F: ElementLoss>(loss: Pointwise<'static, F>) -> usize {
    let pred: [f32; 12] = [0.1, 0.9, 0.5, 2.0, -1.0, 0.3, 0.7, 0.2, 1.5, 0.0, 0.4, 0.6];
    let target: [f32; 12] = [1.0, 0.0, 1.0, 1.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
    let weight4 = [0.5f32, 1.0, 2.0, 0.0];
    let weight12 = [1.0f32; 12];
    let mut grad = [0.0f32; 12];
    let mut out = [0.0f32; 12];
    let mut errors = 0;
    let mut record = |r: Result<f32, Error>| match r {
        Ok(v) => {
            black_box(v);
        }
        Err(e) => {
            black_box(show(e));
            errors += 1;
        }
    };
    black_box(loss.element());
    for (dim, w) in [
        (1usize, None),
        (3, None),
        (1, Some(&weight12[..])),
        (3, Some(&weight4[..])),
    ] {
        let l: Pointwise<'_, F> = match w {
            Some(w) => loss.dim(dim).sample_weight(w),
            None => loss.dim(dim),
        };
        let n = 12 / dim;
        for r in [Reduction::Sum, Reduction::Mean] {
            record(l.value(&pred, &target, r));
            record(l.value_and_grad(&pred, &target, r, &mut grad));
            record(l.value_and_accumulate_grad(&pred, &target, r, 0.5, &mut grad));
            record(l.value_and_scaled_grad(&pred, &target, r, 0.5, &mut grad));
        }
        record(l.mean_denominator(&pred));
        record(l.per_sample(&pred, &target, &mut out[..n]).map(|_| 0.0));
        record(l.per_sample_and_grad(&pred, &target, &mut out[..n], &mut grad));
    }
    // Error paths: dim 0, empty batch, not divisible, target, weights,
    // grad and out of the wrong length.
    let l = loss.dim(0);
    record(l.value(&pred, &target, Reduction::Sum));
    record(loss.value(&[], &[], Reduction::Mean));
    record(loss.dim(5).value(&pred, &target, Reduction::Sum));
    record(loss.value(&pred, &target[..11], Reduction::Sum));
    record(
        loss.sample_weight(&weight4)
            .value(&pred, &target, Reduction::Sum),
    );
    record(loss.value_and_grad(&pred, &target, Reduction::Sum, &mut grad[..11]));
    record(loss.value_and_accumulate_grad(&pred, &target, Reduction::Sum, f32::NAN, &mut grad));
    record(loss.value_and_scaled_grad(&pred, &target, Reduction::Sum, f32::NAN, &mut grad));
    record(loss.mean_denominator(&[]));
    record(loss.per_sample(&pred, &target, &mut out[..11]).map(|_| 0.0));
    record(loss.per_sample_and_grad(&pred, &target, &mut out, &mut grad[..3]));
    record(
        loss.dim(4)
            .per_sample_and_grad(&pred, &target, &mut out, &mut grad),
    );
    errors
}

#[test]
fn pointwise_never_allocates() {
    let mut errors = 0;
    assert_no_alloc("pointwise", || {
        errors += pointwise_calls(pointwise::L1::new());
        errors += pointwise_calls(pointwise::L2::new());
        errors += pointwise_calls(pointwise::LogCosh::new());
        errors += pointwise_calls(pointwise::L1::default());
        errors += pointwise_calls(pointwise::L2::default());
        errors += pointwise_calls(pointwise::LogCosh::default());
        errors += pointwise_calls(pointwise::Huber::new(1.0).unwrap());
        errors += pointwise_calls(pointwise::Hinge::new(1.0).unwrap());
        errors += pointwise_calls(pointwise::SquaredHinge::new(0.5).unwrap());
        errors += pointwise_calls(pointwise::Logistic::new(Labels::Signed));
        errors += pointwise_calls(pointwise::Logistic::new(Labels::Binary));
        errors += pointwise_calls(pointwise::SigmoidBce::new(1.0).unwrap());
        errors += pointwise_calls(pointwise::SigmoidBce::new(2.5).unwrap());
        errors += pointwise_calls(pointwise::Bce::new(1.0).unwrap());
        for (log_input, full) in [(true, false), (true, true), (false, false), (false, true)] {
            errors += pointwise_calls(pointwise::PoissonNll::new(log_input, full));
        }
        errors += pointwise_calls(pointwise::PoissonNll::new(false, true).eps(0.5).unwrap());
        errors += pointwise_calls(pointwise::Mse::new());
        errors += pointwise_calls(pointwise::Mse::default());
        errors += pointwise_calls(pointwise::SoftMargin::new());
        errors += pointwise_calls(pointwise::SoftMargin::default());
        errors += pointwise_calls(pointwise::SmoothL1::new(0.0).unwrap());
        errors += pointwise_calls(pointwise::SmoothL1::new(0.5).unwrap());
        errors += pointwise_calls(pointwise::HuberTorch::new(2.0).unwrap());
        errors += pointwise_calls(pointwise::HingeEmbedding::new(1.0).unwrap());
        errors += pointwise_calls(pointwise::SigmoidFocal::new(0.25, 2.0).unwrap());
        errors += pointwise_calls(pointwise::SigmoidFocal::new(-1.0, 1.5).unwrap());
        for r in [
            pointwise::SmoothL1::new(-1.0).map(|_| ()),
            pointwise::HuberTorch::new(0.0).map(|_| ()),
            pointwise::HingeEmbedding::new(f32::NAN).map(|_| ()),
            pointwise::SigmoidFocal::new(f32::NAN, 2.0).map(|_| ()),
            pointwise::SigmoidFocal::new(0.25, -2.0).map(|_| ()),
            pointwise::PoissonNll::new(true, false).eps(0.5).map(|_| ()),
            pointwise::PoissonNll::new(false, false)
                .eps(0.0)
                .map(|_| ()),
        ] {
            if let Err(e) = r {
                black_box(show(e));
                errors += 1;
            }
        }
        // Invalid parameters.
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e-40] {
            if let Err(e) = pointwise::Huber::new(bad) {
                black_box(show(e));
                errors += 1;
            }
        }
        for bad in [f32::NAN, f32::NEG_INFINITY] {
            for r in [
                pointwise::Hinge::new(bad).map(|_| ()),
                pointwise::SquaredHinge::new(bad).map(|_| ()),
                pointwise::SigmoidBce::new(bad).map(|_| ()),
                pointwise::Bce::new(bad).map(|_| ()),
                pointwise::SigmoidBce::new(-1.0).map(|_| ()),
                pointwise::Bce::new(-1.0).map(|_| ()),
            ] {
                if let Err(e) = r {
                    black_box(show(e));
                    errors += 1;
                }
            }
        }
    });
    // 29 losses × 12 error calls, + 5 Huber + 12 + 7 other parameter errors.
    assert_eq!(errors, 29 * 12 + 5 + 12 + 7, "every error path ran");
}

/// Every entry point of the per-class `pos_weight` BCE, success and error
/// paths.
#[test]
fn per_class_bce_never_allocates() {
    let pred: [f32; 12] = core::array::from_fn(|i| i as f32 * 0.5 - 3.0);
    let target: [f32; 12] = core::array::from_fn(|i| (i % 2) as f32);
    let pos_weight = [0.5f32, 2.0, 1.0];
    let weight = [1.0f32, 0.5, 2.0, 0.0];
    let (mut grad, mut out) = ([0.0f32; 12], [0.0f32; 4]);
    let mut errors = 0;
    assert_no_alloc("SigmoidBcePerClass", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        let base = pointwise::SigmoidBcePerClass::new(&pos_weight).unwrap();
        black_box(base.classes());
        for l in [base, base.sample_weight(&weight)] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(l.value(&pred, &target, r));
                record(l.value_and_grad(&pred, &target, r, &mut grad));
            }
            record(l.per_sample(&pred, &target, &mut out).map(|_| 0.0));
            record(l.per_sample_and_grad(&pred, &target, &mut out, &mut grad));
            // Errors: target, grad, out, not divisible, weights.
            record(l.value(&pred, &target[..9], Reduction::Sum));
            record(l.value_and_grad(&pred, &target, Reduction::Sum, &mut grad[..3]));
            record(l.per_sample(&pred, &target, &mut out[..3]).map(|_| 0.0));
            record(l.value(&pred[..11], &target[..11], Reduction::Sum));
        }
        record(
            base.sample_weight(&weight[..1])
                .value(&pred, &target, Reduction::Sum),
        );
        record(pointwise::SigmoidBcePerClass::new(&[]).map(|_| 0.0));
        record(pointwise::SigmoidBcePerClass::new(&[-1.0]).map(|_| 0.0));
    });
    assert_eq!(errors, 2 * 4 + 3, "every error path ran");
}

/// Every entry point of the pair losses (Gaussian NLL with both `var`
/// layouts, margin ranking), success and error paths.
#[test]
fn pairs_never_allocate() {
    use loss_kernels::pair::{GaussianGrads, GaussianNll, MarginRanking, RankingGrads};
    let a: [f32; 12] = core::array::from_fn(|i| i as f32 * 0.25 - 1.0);
    let b: [f32; 12] = core::array::from_fn(|i| (i % 3) as f32 * 0.5);
    let var: [f32; 12] = core::array::from_fn(|i| 0.1 + i as f32 * 0.3);
    let labels: [f32; 12] = core::array::from_fn(|i| if i % 2 == 0 { 1.0 } else { -1.0 });
    let weight = [1.0f32, 0.5, 2.0, 0.0];
    let (mut g0, mut g1, mut out) = ([0.0f32; 12], [0.0f32; 12], [0.0f32; 12]);
    let mut errors = 0;
    assert_no_alloc("pairs", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        let gaussian = GaussianNll::new().full(true).eps(1e-3).unwrap();
        black_box(GaussianNll::default());
        // dim 1 (var per element), dim 3 (per element, then per sample).
        for (dim, var_len, w) in [(1, 12, None), (3, 12, Some(&weight)), (3, 4, Some(&weight))] {
            let l = match w {
                Some(w) => gaussian.dim(dim).sample_weight(w),
                None => gaussian.dim(dim),
            };
            let n = 12 / dim;
            let v = &var[..var_len];
            for r in [Reduction::Sum, Reduction::Mean] {
                record(l.value(&a, &b, v, r));
                let grads = GaussianGrads {
                    pred: &mut g0,
                    var: &mut g1[..var_len],
                };
                record(l.value_and_grad(&a, &b, v, r, grads));
                let grads = GaussianGrads {
                    pred: &mut g0,
                    var: &mut g1[..var_len],
                };
                record(l.value_and_accumulate_grad(&a, &b, v, r, 0.5, grads));
                let grads = GaussianGrads {
                    pred: &mut g0,
                    var: &mut g1[..var_len],
                };
                record(l.value_and_scaled_grad(&a, &b, v, r, 0.5, grads));
            }
            record(l.mean_denominator(&a));
            record(l.per_sample(&a, &b, v, &mut out[..n]).map(|_| 0.0));
            let grads = GaussianGrads {
                pred: &mut g0,
                var: &mut g1[..var_len],
            };
            record(l.per_sample_and_grad(&a, &b, v, &mut out[..n], grads));
        }
        // Errors: negative var, var length, grad lengths, target, dim.
        record(gaussian.value(&a, &b, &labels, Reduction::Sum));
        record(gaussian.value(&a, &b, &var[..5], Reduction::Sum));
        let grads = GaussianGrads {
            pred: &mut g0[..2],
            var: &mut g1,
        };
        record(gaussian.value_and_grad(&a, &b, &var, Reduction::Sum, grads));
        record(gaussian.value(&a, &b[..3], &var, Reduction::Sum));
        record(gaussian.dim(0).value(&a, &b, &var, Reduction::Sum));
        record(GaussianNll::new().eps(0.0).map(|_| 0.0));
        let ranking = MarginRanking::new(0.5).unwrap();
        for (dim, w) in [(1, None), (3, Some(&weight))] {
            let l = match w {
                Some(w) => ranking.dim(dim).sample_weight(w),
                None => ranking.dim(dim),
            };
            let n = 12 / dim;
            for r in [Reduction::Sum, Reduction::Mean] {
                record(l.value(&a, &b, &labels, r));
                let grads = RankingGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                };
                record(l.value_and_grad(&a, &b, &labels, r, grads));
                let grads = RankingGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                };
                record(l.value_and_accumulate_grad(&a, &b, &labels, r, 0.5, grads));
                let grads = RankingGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                };
                record(l.value_and_scaled_grad(&a, &b, &labels, r, 0.5, grads));
            }
            record(l.mean_denominator(&a));
            record(l.per_sample(&a, &b, &labels, &mut out[..n]).map(|_| 0.0));
            let grads = RankingGrads {
                x1: &mut g0,
                x2: &mut g1,
            };
            record(l.per_sample_and_grad(&a, &b, &labels, &mut out[..n], grads));
        }
        record(ranking.value(&a, &b, &labels[..3], Reduction::Sum));
        let grads = RankingGrads {
            x1: &mut g0,
            x2: &mut g1[..1],
        };
        record(ranking.value_and_grad(&a, &b, &labels, Reduction::Sum, grads));
        record(ranking.dim(5).value(&a, &b, &labels, Reduction::Sum));
        record(MarginRanking::new(f32::NAN).map(|_| 0.0));
        // A non-finite accumulating or scaling scale.
        let grads = RankingGrads {
            x1: &mut g0,
            x2: &mut g1,
        };
        record(ranking.value_and_accumulate_grad(&a, &b, &labels, Reduction::Sum, f32::NAN, grads));
        let grads = RankingGrads {
            x1: &mut g0,
            x2: &mut g1,
        };
        record(ranking.value_and_scaled_grad(&a, &b, &labels, Reduction::Sum, f32::NAN, grads));
        let grads = GaussianGrads {
            pred: &mut g0,
            var: &mut g1,
        };
        record(gaussian.value_and_accumulate_grad(&a, &b, &var, Reduction::Sum, f32::NAN, grads));
        let grads = GaussianGrads {
            pred: &mut g0,
            var: &mut g1,
        };
        record(gaussian.value_and_scaled_grad(&a, &b, &var, Reduction::Sum, f32::NAN, grads));
    });
    assert_eq!(errors, 6 + 4 + 2 + 2, "every error path ran");
}

/// A user-defined element loss through the public driver.
#[derive(Clone, Copy)]
struct Quartic;

impl ElementLoss for Quartic {
    const PAD: f32 = 0.0;
    fn eval<L: Lane>(&self, p: L, t: L) -> (L, L) {
        let s = p - t;
        let s2 = s * s;
        (s2 * s2, s2 * s * L::splat(4.0))
    }
}

#[test]
fn custom_element_and_math_never_allocate() {
    let xs: [f32; 19] = core::array::from_fn(|i| i as f32 * 0.5 - 4.0);
    assert_no_alloc("custom element loss", || {
        black_box(pointwise_calls(Pointwise::from_element(Quartic)));
    });
    assert_no_alloc("math and lanes", || {
        for chunk in xs.chunks(<Native as Lane>::LANES) {
            let x = Native::load_or(chunk, 0.0);
            let mut out = [0.0f32; 16];
            math::exp(x).store(&mut out);
            math::exp_nonpositive(-x.abs()).store(&mut out);
            math::ln(x.abs() + Native::splat(1.0)).store(&mut out);
            math::ln_1p(x.abs()).store(&mut out);
            math::softplus(x).store(&mut out);
            math::sigmoid(x).store(&mut out);
            math::tanh(x).store(&mut out);
            math::log_add_exp(x, -x).store(&mut out);
            let q = LogisticParts::new(x);
            let s = q.softplus() + q.softplus_neg() + q.sigmoid() + q.sigmoid_neg();
            black_box((s.sum(), s.max_lane(), out));
            let scalar = LogisticParts::new(chunk[0]);
            black_box(scalar.softplus() + math::exp(chunk[0]) + math::ln(2.0f32));
        }
        black_box(loss_kernels::lane::NATIVE_NAME);
    });
}

/// Every entry point of CTC, success and error paths.
#[test]
fn ctc_never_allocates() {
    use loss_kernels::ctc::{self, Activations, Ctc, Dims, Input, Labels};
    const T: usize = 6;
    const N: usize = 2;
    const C: usize = 4;
    let acts: [f32; T * N * C] = core::array::from_fn(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0);
    let input_lengths = [6u32, 4];
    let padded = [1u32, 2, 2, 3, u32::MAX, u32::MAX];
    let concatenated = [1u32, 2, 2, 3];
    let label_lengths = [3u32, 1];
    let too_long = [7u32, 4];
    let with_blank = [1u32, 0, 2, 3, 0, 0];
    let mut workspace = vec![0.0f32; ctc::workspace_len(T, 3)];
    let mut grad = [0.0f32; T * N * C];
    let mut out = [0.0f32; N];
    let mut errors = 0;
    assert_no_alloc("ctc", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        let labels = [
            Labels::Padded {
                labels: &padded,
                max_len: 3,
                lengths: &label_lengths,
            },
            Labels::Concatenated {
                labels: &concatenated,
                lengths: &label_lengths,
            },
        ];
        let layouts = [
            Activations::time_major(
                &acts,
                Dims {
                    steps: T,
                    batch: N,
                    classes: C,
                },
                &input_lengths,
            ),
            Activations::batch_major(
                &acts,
                Dims {
                    steps: T,
                    batch: N,
                    classes: C,
                },
                &input_lengths,
            ),
        ];
        for loss in [
            Ctc::new(0),
            Ctc::default().input(Input::LogProbs).zero_infinity(true),
            Ctc::blank_last(),
        ] {
            black_box(loss.blank());
            // blank_last: label 3 is the blank, an error path.
            for a in &layouts {
                for l in &labels {
                    for r in [Reduction::Sum, Reduction::Mean] {
                        record(loss.value(a, l, r, &mut workspace));
                        record(loss.value_and_grad(a, l, r, &mut workspace, &mut grad));
                        record(loss.value_and_accumulate_grad(
                            a,
                            l,
                            r,
                            &mut workspace,
                            0.5,
                            &mut grad,
                        ));
                        record(loss.value_and_scaled_grad(a, l, r, &mut workspace, 0.5, &mut grad));
                    }
                    record(loss.mean_denominator(a));
                    record(loss.per_sample(a, l, &mut workspace, &mut out).map(|_| 0.0));
                    record(loss.per_sample_and_grad(a, l, &mut workspace, &mut out, &mut grad));
                }
            }
        }
        let a = layouts[0];
        let l = labels[0];
        let ctc0 = Ctc::new(0);
        // Errors: workspace, grad, out, shapes, lengths, labels, blank.
        record(ctc0.value(&a, &l, Reduction::Sum, &mut workspace[..10]));
        record(ctc0.value_and_grad(&a, &l, Reduction::Sum, &mut workspace, &mut grad[..5]));
        record(
            ctc0.per_sample(&a, &l, &mut workspace, &mut out[..1])
                .map(|_| 0.0),
        );
        record(ctc0.value(
            &Activations::time_major(
                &acts[..40],
                Dims {
                    steps: T,
                    batch: N,
                    classes: C,
                },
                &input_lengths,
            ),
            &l,
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &Activations::time_major(
                &acts,
                Dims {
                    steps: T,
                    batch: N,
                    classes: C,
                },
                &too_long,
            ),
            &l,
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &Activations::time_major(
                &acts,
                Dims {
                    steps: T,
                    batch: N,
                    classes: C,
                },
                &input_lengths[..1],
            ),
            &l,
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &Activations::time_major(
                &[],
                Dims {
                    steps: 0,
                    batch: 0,
                    classes: C,
                },
                &[],
            ),
            &l,
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &Activations::time_major(
                &acts,
                Dims {
                    steps: T * N * C,
                    batch: 1,
                    classes: 0,
                },
                &[1],
            ),
            &l,
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &a,
            &Labels::Padded {
                labels: &with_blank,
                max_len: 3,
                lengths: &label_lengths,
            },
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &a,
            &Labels::Padded {
                labels: &padded,
                max_len: 3,
                lengths: &[4, 1],
            },
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &a,
            &Labels::Padded {
                labels: &padded[..5],
                max_len: 3,
                lengths: &label_lengths,
            },
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &a,
            &Labels::Concatenated {
                labels: &concatenated[..3],
                lengths: &label_lengths,
            },
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &a,
            &Labels::Concatenated {
                labels: &[9],
                lengths: &[1, 0],
            },
            Reduction::Sum,
            &mut workspace,
        ));
        record(ctc0.value(
            &a,
            &Labels::Concatenated {
                labels: &concatenated,
                lengths: &label_lengths[..1],
            },
            Reduction::Sum,
            &mut workspace,
        ));
        record(Ctc::new(7).value(&a, &l, Reduction::Sum, &mut workspace));
    });
    assert!(errors >= 15, "every error path ran ({errors})");
}

/// Every entry point of the softmax family, success and error paths.
#[test]
fn softmax_never_allocates() {
    use loss_kernels::softmax::{self, Input, KlDivergence, Labels, SoftmaxCrossEntropy};
    let logits: [f32; 12] = [
        0.5, -1.0, 2.0, 0.0, 1.0, 3.0, -2.0, 0.25, 0.0, 0.0, 1.5, -0.5,
    ];
    let probs: [f32; 12] = [0.2, 0.3, 0.5, 0.0, 1.0, 0.0, 0.25, 0.25, 0.5, 0.1, 0.1, 0.8];
    let sparse = [2u32, 1, 0, 9];
    let bad_label = [2u32, 3, 0, 1];
    let class_weight = [1.0f32, 2.0, 0.5];
    let sample_weight = [1.0f32, 0.5, 2.0, 1.0];
    let (mut grad, mut out) = ([0.0f32; 12], [0.0f32; 12]);
    let mut errors = 0;
    assert_no_alloc("softmax", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        let plain = SoftmaxCrossEntropy::new(3).unwrap();
        let full = SoftmaxCrossEntropy::new(3)
            .unwrap()
            .label_smoothing(0.1)
            .unwrap()
            .ignore_index(Some(9))
            .class_weight(&class_weight)
            .sample_weight(&sample_weight);
        for ce in [
            plain,
            full,
            plain.input(Input::LogProbs),
            full.input(Input::LogProbs),
        ] {
            for labels in [Labels::Sparse(&sparse), Labels::Dense(&probs)] {
                for r in [Reduction::Sum, Reduction::Mean] {
                    record(ce.value(&logits, labels, r));
                    record(ce.value_and_grad(&logits, labels, r, &mut grad));
                    record(ce.value_and_accumulate_grad(&logits, labels, r, 0.5, &mut grad));
                    record(ce.value_and_scaled_grad(&logits, labels, r, 0.5, &mut grad));
                }
                record(ce.mean_denominator(&logits, labels));
                record(ce.per_sample(&logits, labels, &mut out[..4]).map(|_| 0.0));
                record(ce.per_sample_and_grad(&logits, labels, &mut out[..4], &mut grad));
            }
            // Errors: a label out of range, wrong lengths everywhere.
            record(ce.value(&logits, Labels::Sparse(&bad_label), Reduction::Sum));
            record(ce.value(&logits[..11], Labels::Sparse(&sparse), Reduction::Sum));
            record(ce.value(&[], Labels::Sparse(&[]), Reduction::Sum));
            record(ce.value(&logits, Labels::Sparse(&sparse[..3]), Reduction::Sum));
            record(ce.value(&logits, Labels::Dense(&probs[..9]), Reduction::Sum));
            record(ce.value_and_grad(
                &logits,
                Labels::Dense(&probs),
                Reduction::Sum,
                &mut grad[..11],
            ));
            record(
                ce.per_sample(&logits, Labels::Dense(&probs), &mut out[..3])
                    .map(|_| 0.0),
            );
        }
        record(plain.class_weight(&class_weight[..2]).value(
            &logits,
            Labels::Dense(&probs),
            Reduction::Sum,
        ));
        record(plain.sample_weight(&sample_weight[..2]).value(
            &logits,
            Labels::Dense(&probs),
            Reduction::Sum,
        ));
        if let Err(e) = SoftmaxCrossEntropy::new(0) {
            black_box(show(e));
        }
        if let Err(e) = plain.label_smoothing(1.5) {
            black_box(show(e));
        }
        for kl in [
            KlDivergence::new(3).unwrap(),
            KlDivergence::new(3).unwrap().input(Input::Logits),
        ] {
            let klw = kl.sample_weight(&sample_weight);
            for r in [Reduction::Sum, Reduction::Mean] {
                record(kl.value(&logits, &probs, r));
                record(klw.value_and_grad(&logits, &probs, r, &mut grad));
                record(klw.value_and_accumulate_grad(&logits, &probs, r, 0.5, &mut grad));
                record(klw.value_and_scaled_grad(&logits, &probs, r, 0.5, &mut grad));
            }
            record(kl.mean_denominator(&logits));
            record(kl.per_sample(&logits, &probs, &mut out[..4]).map(|_| 0.0));
            record(klw.per_sample_and_grad(&logits, &probs, &mut out[..4], &mut grad));
            record(kl.value(&logits, &probs[..11], Reduction::Sum));
            record(kl.value_and_grad(&logits, &probs, Reduction::Sum, &mut grad[..3]));
            record(kl.per_sample(&logits, &probs, &mut out[..5]).map(|_| 0.0));
            record(
                kl.sample_weight(&sample_weight[..1])
                    .value(&logits, &probs, Reduction::Sum),
            );
        }
        if let Err(e) = KlDivergence::new(0) {
            black_box(show(e));
        }
        record(softmax::logsumexp(&logits, 3, &mut out[..4]).map(|_| 0.0));
        record(softmax::log_softmax(&logits, 3, &mut out).map(|_| 0.0));
        record(softmax::softmax(&logits, 3, &mut out).map(|_| 0.0));
        record(softmax::logsumexp(&logits, 5, &mut out[..4]).map(|_| 0.0));
        record(softmax::log_softmax(&logits, 0, &mut out).map(|_| 0.0));
        record(softmax::softmax(&logits, 3, &mut out[..4]).map(|_| 0.0));
    });
    assert!(
        errors >= 4 * 7 + 2 + 2 * 4 + 3,
        "every error path ran ({errors})"
    );
}

/// Every entry point of the embedding family, success and error paths.
#[test]
fn embedding_never_allocates() {
    use loss_kernels::embedding::{CosineEmbedding, CosineGrads, Distance, Triplet, TripletGrads};
    let a: [f32; 8] = [0.0, 0.5, 1.0, -0.5, 1.0, 1.0, 0.0, 0.0];
    let p: [f32; 8] = [0.1, 0.4, 1.2, -0.4, 0.8, 1.1, 0.2, -0.1];
    let n: [f32; 8] = [0.3, 0.2, 0.9, -0.6, 0.9, 0.8, 0.1, 0.2];
    let labels = [1.0f32, -1.0];
    let bad_labels = [1.0f32, 0.5];
    let w = [1.0f32, 2.0];
    let (mut g0, mut g1, mut g2, mut out) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8], [0.0f32; 4]);
    let mut errors = 0;
    assert_no_alloc("embedding", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        let sq = Triplet::new(4).unwrap();
        for t in [sq, sq.margin(0.5).unwrap().distance(Distance::Euclidean)] {
            for t in [t, t.sample_weight(&w)] {
                for r in [Reduction::Sum, Reduction::Mean] {
                    record(t.value(&a, &p, &n, r));
                    let grads = TripletGrads {
                        anchor: &mut g0,
                        positive: &mut g1,
                        negative: &mut g2,
                    };
                    record(t.value_and_grad(&a, &p, &n, r, grads));
                    let grads = TripletGrads {
                        anchor: &mut g0,
                        positive: &mut g1,
                        negative: &mut g2,
                    };
                    record(t.value_and_accumulate_grad(&a, &p, &n, r, 0.5, grads));
                    let grads = TripletGrads {
                        anchor: &mut g0,
                        positive: &mut g1,
                        negative: &mut g2,
                    };
                    record(t.value_and_scaled_grad(&a, &p, &n, r, 0.5, grads));
                }
                record(t.mean_denominator(&a));
                record(t.per_sample(&a, &p, &n, &mut out[..2]).map(|_| 0.0));
                let grads = TripletGrads {
                    anchor: &mut g0,
                    positive: &mut g1,
                    negative: &mut g2,
                };
                record(t.per_sample_and_grad(&a, &p, &n, &mut out[..2], grads));
            }
            record(t.value(&a[..7], &p[..7], &n[..7], Reduction::Sum));
            record(t.value(&a, &p[..4], &n, Reduction::Sum));
            record(t.value(&a, &p, &n[..4], Reduction::Sum));
            record(t.sample_weight(&w[..1]).value(&a, &p, &n, Reduction::Sum));
            let grads = TripletGrads {
                anchor: &mut g0[..4],
                positive: &mut g1,
                negative: &mut g2,
            };
            record(t.value_and_grad(&a, &p, &n, Reduction::Sum, grads));
            record(t.per_sample(&a, &p, &n, &mut out[..3]).map(|_| 0.0));
        }
        for bad in [Triplet::new(0).map(|_| ()), sq.margin(f32::NAN).map(|_| ())] {
            if let Err(e) = bad {
                black_box(show(e));
            }
        }
        let cos = CosineEmbedding::new(4).unwrap();
        for c in [cos, cos.margin(0.2).unwrap(), cos.sample_weight(&w)] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(c.value(&a, &p, &labels, r));
                record(c.value_and_grad(
                    &a,
                    &p,
                    &labels,
                    r,
                    CosineGrads {
                        x1: &mut g0,
                        x2: &mut g1,
                    },
                ));
                record(c.value_and_accumulate_grad(
                    &a,
                    &p,
                    &labels,
                    r,
                    0.5,
                    CosineGrads {
                        x1: &mut g0,
                        x2: &mut g1,
                    },
                ));
                record(c.value_and_scaled_grad(
                    &a,
                    &p,
                    &labels,
                    r,
                    0.5,
                    CosineGrads {
                        x1: &mut g0,
                        x2: &mut g1,
                    },
                ));
            }
            record(c.mean_denominator(&a));
            record(c.per_sample(&a, &p, &labels, &mut out[..2]).map(|_| 0.0));
            record(c.per_sample_and_grad(
                &a,
                &p,
                &labels,
                &mut out[..2],
                CosineGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                },
            ));
            record(c.value(&a, &p, &bad_labels, Reduction::Sum));
            record(c.value(&a, &p, &labels[..1], Reduction::Sum));
            record(c.value(&a, &p[..4], &labels, Reduction::Sum));
            record(c.value_and_grad(
                &a,
                &p,
                &labels,
                Reduction::Sum,
                CosineGrads {
                    x1: &mut g0,
                    x2: &mut g1[..2],
                },
            ));
        }
        for bad in [
            CosineEmbedding::new(0).map(|_| ()),
            cos.margin(f32::INFINITY).map(|_| ()),
        ] {
            if let Err(e) = bad {
                black_box(show(e));
            }
        }
    });
    assert!(errors >= 2 * 6 + 3 * 4, "every error path ran ({errors})");
}

/// Every new entry point and option of SPEC Part 2's row and embedding
/// losses (issue 12): the strided class axis, `i64` labels, dense
/// smoothing, KL `log_target`, the margin family, the p-norm triplet and
/// SDML, success and error paths.
#[test]
fn parity_rows_never_allocate() {
    use loss_kernels::embedding::{Distance, Sdml, SdmlGrads, Triplet, TripletGrads};
    use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
    use loss_kernels::softmax::{Input, KlDivergence, Labels, SoftmaxCrossEntropy};
    let x: [f32; 12] = [
        0.5, -1.0, 2.0, 0.0, 1.0, 3.0, -2.0, 0.25, 0.0, 0.0, 1.5, -0.5,
    ];
    let probs: [f32; 12] = [0.2, 0.3, 0.5, 0.0, 1.0, 0.0, 0.25, 0.25, 0.5, 0.1, 0.1, 0.8];
    let labels64 = [2i64, 1, -100, 0];
    let labels32 = [2u32, 1, 0, 0];
    let targets = [2i64, 0, -1, 1, -1, 0, 0, 0, 2, -1, 5, 5];
    let cw = [1.0f32, 2.0, 0.5];
    let sw = [1.0f32, 0.5, 2.0, 1.0];
    let (mut grad, mut out) = ([0.0f32; 12], [0.0f32; 12]);
    let (mut g0, mut g1, mut g2) = ([0.0f32; 12], [0.0f32; 12], [0.0f32; 12]);
    let mut errors = 0;
    assert_no_alloc("parity rows", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        // Cross-entropy: i64 labels, dense smoothing, the strided axis
        // (3 classes × 2 positions × 2 samples).
        let ce = SoftmaxCrossEntropy::new(3)
            .unwrap()
            .ignore_index(Some(-100))
            .label_smoothing(0.2)
            .unwrap();
        let strided = ce.spatial(2).unwrap().class_weight(&cw).sample_weight(&sw);
        for c in [
            ce,
            ce.input(Input::LogProbs),
            strided,
            strided.input(Input::LogProbs),
        ] {
            for labels in [Labels::SparseI64(&labels64), Labels::Dense(&probs)] {
                for r in [Reduction::Sum, Reduction::Mean] {
                    record(c.value(&x, labels, r));
                    record(c.value_and_grad(&x, labels, r, &mut grad));
                }
                record(c.per_sample(&x, labels, &mut out[..4]).map(|_| 0.0));
                record(c.per_sample_and_grad(&x, labels, &mut out[..4], &mut grad));
            }
            record(c.value(&x, Labels::SparseI64(&[0, 1, -1, 0]), Reduction::Sum));
        }
        record(strided.value(&x[..10], Labels::SparseI64(&labels64), Reduction::Sum));
        if let Err(e) = ce.spatial(0) {
            black_box(show(e));
        }
        // KL with log-probability targets.
        let kl = KlDivergence::new(3).unwrap().log_target(true);
        for k in [kl, kl.input(Input::Logits).sample_weight(&sw)] {
            record(k.value(&x, &probs, Reduction::Mean));
            record(k.value_and_grad(&x, &probs, Reduction::Sum, &mut grad));
            record(k.per_sample(&x, &probs, &mut out[..4]).map(|_| 0.0));
            record(k.per_sample_and_grad(&x, &probs, &mut out[..4], &mut grad));
        }
        // The margin family.
        let soft = MultilabelSoftMargin::new(3).unwrap();
        for s in [soft, soft.class_weight(&cw).sample_weight(&sw)] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(s.value(&x, &probs, r));
                record(s.value_and_grad(&x, &probs, r, &mut grad));
            }
            record(s.per_sample(&x, &probs, &mut out[..4]).map(|_| 0.0));
            record(s.per_sample_and_grad(&x, &probs, &mut out[..4], &mut grad));
            record(s.value(&x, &probs[..3], Reduction::Sum));
        }
        let mm = MultiMargin::new(3).unwrap();
        for m in [
            mm,
            mm.p(2)
                .unwrap()
                .margin(0.5)
                .unwrap()
                .class_weight(&cw)
                .sample_weight(&sw),
        ] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(m.value(&x, &labels32, r));
                record(m.value_and_grad(&x, &labels32, r, &mut grad));
            }
            record(m.per_sample(&x, &labels32, &mut out[..4]).map(|_| 0.0));
            record(m.per_sample_and_grad(&x, &labels32, &mut out[..4], &mut grad));
            record(m.value(&x, &labels64, Reduction::Sum));
        }
        if let Err(e) = mm.p(3) {
            black_box(show(e));
        }
        let ml = MultilabelMargin::new(3).unwrap();
        for m in [ml, ml.sample_weight(&sw)] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(
                    m.value(&x, &targets[..9], r)
                        .map(|_| 0.0)
                        .and(m.value(&x, &targets, r)),
                );
                record(m.value_and_grad(
                    &x,
                    &[0i64, -1, 0, 1, 2, -1, 2, -1, 0, 1, -1, 0],
                    r,
                    &mut grad,
                ));
            }
            let ok = [0i64, -1, 0, 1, 2, -1, 2, -1, 0, 1, -1, 0];
            record(m.per_sample(&x, &ok, &mut out[..4]).map(|_| 0.0));
            record(m.per_sample_and_grad(&x, &ok, &mut out[..4], &mut grad));
        }
        // Triplet with p-norms, eps and swap (rows of 4), SDML (rows of 3).
        for norm in [1, 2] {
            let t = Triplet::new(4)
                .unwrap()
                .distance(Distance::p_norm(norm).unwrap())
                .eps(1e-3)
                .unwrap();
            for t in [t, t.swap(true).sample_weight(&sw[..3])] {
                record(t.value(&x, &probs, &grad, Reduction::Mean));
                let grads = TripletGrads {
                    anchor: &mut g0,
                    positive: &mut g1,
                    negative: &mut g2,
                };
                record(t.per_sample_and_grad(&x, &probs, &x, &mut out[..3], grads));
            }
        }
        let sdml = Sdml::new(3).unwrap();
        for s in [sdml, sdml.smoothing(0.1).unwrap().sample_weight(&sw)] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(s.value(&x, &probs, r));
                let grads = SdmlGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                };
                record(s.value_and_grad(&x, &probs, r, grads));
            }
            record(s.per_sample(&x, &probs, &mut out[..4]).map(|_| 0.0));
            let grads = SdmlGrads {
                x1: &mut g0,
                x2: &mut g1,
            };
            record(s.per_sample_and_grad(&x, &probs, &mut out[..4], grads));
            record(s.value(&x[..3], &probs[..3], Reduction::Sum));
        }
    });
    assert!(
        errors >= 4 + 1 + 2 + 2 + 2 + 1 + 2,
        "every error path ran ({errors})"
    );
}

/// The accumulating and scaling entry points and `mean_denominator` of the per-class
/// BCE, the margin family and SDML.
#[test]
fn parity_accumulate_never_allocates() {
    use loss_kernels::embedding::{Sdml, SdmlGrads};
    use loss_kernels::margin::{MultiMargin, MultilabelMargin, MultilabelSoftMargin};
    use loss_kernels::pointwise::SigmoidBcePerClass;
    let x: [f32; 12] = core::array::from_fn(|i| i as f32 * 0.25 - 1.0);
    let t: [f32; 12] = core::array::from_fn(|i| (i % 2) as f32);
    let labels = [0u32, 2, 1, 0];
    let targets: [i64; 12] = core::array::from_fn(|i| if i % 3 == 0 { 1 } else { -1 });
    let (mut g0, mut g1) = ([0.0f32; 12], [0.0f32; 12]);
    let pos_weight = [1.0f32, 2.0, 0.5];
    let mut errors = 0;
    assert_no_alloc("parity accumulate", || {
        let mut record = |r: Result<f32, Error>| match r {
            Ok(v) => {
                black_box(v);
            }
            Err(e) => {
                black_box(show(e));
                errors += 1;
            }
        };
        let bce = SigmoidBcePerClass::new(&pos_weight).unwrap();
        let mm = MultiMargin::new(3).unwrap();
        let ml = MultilabelMargin::new(3).unwrap();
        let soft = MultilabelSoftMargin::new(3).unwrap();
        let sdml = Sdml::new(3).unwrap();
        for scale in [0.5, f32::NAN] {
            for r in [Reduction::Sum, Reduction::Mean] {
                record(bce.value_and_accumulate_grad(&x, &t, r, scale, &mut g0));
                record(bce.value_and_scaled_grad(&x, &t, r, scale, &mut g0));
                record(mm.value_and_accumulate_grad(&x, &labels, r, scale, &mut g0));
                record(mm.value_and_scaled_grad(&x, &labels, r, scale, &mut g0));
                record(ml.value_and_accumulate_grad(&x, &targets, r, scale, &mut g0));
                record(ml.value_and_scaled_grad(&x, &targets, r, scale, &mut g0));
                record(soft.value_and_accumulate_grad(&x, &t, r, scale, &mut g0));
                record(soft.value_and_scaled_grad(&x, &t, r, scale, &mut g0));
                let grads = SdmlGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                };
                record(sdml.value_and_accumulate_grad(&x, &t, r, scale, grads));
                let grads = SdmlGrads {
                    x1: &mut g0,
                    x2: &mut g1,
                };
                record(sdml.value_and_scaled_grad(&x, &t, r, scale, grads));
            }
        }
        record(bce.mean_denominator(&x));
        record(mm.mean_denominator(&x));
        record(ml.mean_denominator(&x));
        record(soft.mean_denominator(&x));
        record(sdml.mean_denominator(&x));
        record(sdml.mean_denominator(&x[..5]));
    });
    // 5 losses × 2 reductions × 2 entry points with a NaN scale, + 1.
    assert_eq!(errors, 20 + 1, "every error path ran");
}
