//! CTC: every entry point (`value`, `value_and_grad` with both reductions,
//! `per_sample`, `per_sample_and_grad`), both layouts, logits and
//! log-probabilities, padded and concatenated labels, any blank (or the last
//! class), `zero_infinity`, and workspaces of every size, against the
//! float64 forward-backward reference; malformed shapes, lengths, labels,
//! blanks and workspaces must give `Err` naming a malformed argument.
//!
//! Input layout (floats as in `fuzz_support::input`):
//! `mode, T % 33, N % 9, C % 17, blank, S % 13, corrupt, delta,
//! input_lengths.., label_lengths.., labels.., acts..` where mode bit 0 =
//! batch-major, bit 1 = log-probabilities, bit 2 = zero_infinity, bit 3 =
//! concatenated labels, bit 4 = `Ctc::blank_last()` (else blank = `blank %
//! (C + 2)`), bit 5 = normalise each log-probability row (a proper
//! distribution). Input lengths are bytes `% (T + 2)`, label lengths `% (S
//! + 2)`; a label byte below 240 is a valid non-blank class, 240..=247 the
//! blank, 248..=255 a class `>= C`. `corrupt % 8` picks the argument whose
//! length changes by `delta`: 0 activations, 1 input_lengths,
//! 2 label_lengths, 3 labels, 4 grad, 5 out, 6 workspace (shorter than
//! needed by `1 + |delta|`).

#![no_main]

use fuzz_support::check::{EPS, Faults, RTOL, assert_close, assert_same, close, in_domain};
use fuzz_support::input::{Input as Bytes, adjust};
use libfuzzer_sys::fuzz_target;
use loss_kernels::Reduction;
use loss_kernels::ctc::{self, Activations, Ctc, Dims, Input, Labels};
use loss_kernels_reference::ctc::{Sequence, ctc};

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let mode = b.byte();
    let t = b.upto(32);
    let n = b.upto(8);
    let c = b.upto(16);
    let blank_byte = b.byte();
    let s = b.upto(12);
    let corrupt = b.byte() % 8;
    let delta = b.delta();
    let d = |which: u8| if corrupt == which { delta } else { 0 };
    let batch_major = mode & 1 != 0;
    let log_probs = mode & 2 != 0;
    let zero_inf = mode & 4 != 0;
    let concatenated = mode & 8 != 0;
    let blank_last = mode & 16 != 0;
    let blank = if blank_last {
        c.wrapping_sub(1)
    } else {
        blank_byte as usize % (c + 2)
    };
    let input_lengths: Vec<u32> = (0..adjust(n, d(1)))
        .map(|_| (b.byte() as usize % (t + 2)) as u32)
        .collect();
    let label_lengths: Vec<u32> = (0..adjust(n, d(2)))
        .map(|_| (b.byte() as usize % (s + 2)) as u32)
        .collect();
    let n_labels = if concatenated {
        label_lengths.iter().map(|&l| l as usize).sum()
    } else {
        n * s
    };
    let label_byte = |b: &mut Bytes| -> u32 {
        let v = b.byte();
        if v < 240 {
            if c >= 2 && blank < c {
                let k = v as usize % (c - 1);
                (if k >= blank { k + 1 } else { k }) as u32
            } else {
                v as u32 % (c as u32 + 1)
            }
        } else if v < 248 {
            blank as u32
        } else {
            (c + (v as usize - 248)) as u32
        }
    };
    let labels: Vec<u32> = (0..adjust(n_labels, d(3)))
        .map(|_| label_byte(&mut b))
        .collect();
    let mut acts = b.floats(adjust(t * n * c, d(0)));
    if log_probs && mode & 32 != 0 && c > 0 {
        for row in acts.chunks_mut(c) {
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let ls = row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
            for v in row.iter_mut() {
                *v = (*v as f64 - m - ls) as f32;
            }
        }
    }

    let loss = if blank_last {
        Ctc::blank_last()
    } else {
        Ctc::new(blank as u32)
    };
    let loss = loss
        .input(if log_probs {
            Input::LogProbs
        } else {
            Input::Logits
        })
        .zero_infinity(zero_inf);
    let activations = if batch_major {
        Activations::batch_major(
            &acts,
            Dims {
                steps: t,
                batch: n,
                classes: c,
            },
            &input_lengths,
        )
    } else {
        Activations::time_major(
            &acts,
            Dims {
                steps: t,
                batch: n,
                classes: c,
            },
            &input_lengths,
        )
    };
    let label_arg = if concatenated {
        Labels::Concatenated {
            labels: &labels,
            lengths: &label_lengths,
        }
    } else {
        Labels::Padded {
            labels: &labels,
            max_len: s,
            lengths: &label_lengths,
        }
    };
    let max_t = input_lengths.iter().copied().max().unwrap_or(0) as usize;
    let max_s = label_lengths.iter().copied().max().unwrap_or(0) as usize;
    let need = ctc::workspace_len(max_t, max_s);
    // A value-only call needs less (`ctc::value_workspace_len`).
    let value_need = ctc::value_workspace_len(max_s);
    let ws_len = if corrupt == 6 {
        need.saturating_sub(1 + delta.unsigned_abs())
    } else {
        need + delta.unsigned_abs()
    };
    let grad_len = adjust(acts.len(), d(4));
    let out_len = adjust(n, d(5));

    // The harness's model of the argument rules.
    let shape_ok = c > 0 && n > 0 && acts.len() == t * n * c;
    let blank_ok = c > 0 && blank < c;
    let lens_ok = input_lengths.len() == n && input_lengths.iter().all(|&l| l as usize <= t);
    let label_lens_ok = label_lengths.len() == n;
    let labels_shape_ok = label_lens_ok
        && if concatenated {
            labels.len() == label_lengths.iter().map(|&l| l as usize).sum::<usize>()
        } else {
            labels.len() == n * s && label_lengths.iter().all(|&l| l as usize <= s)
        };
    let sequences: Vec<(usize, usize)> = {
        let mut off = 0;
        label_lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let start = if concatenated { off } else { i * s };
                off += l as usize;
                (start, l as usize)
            })
            .collect()
    };
    let labels_values_ok = labels_shape_ok
        && sequences.iter().all(|&(st, l)| {
            labels[st..st + l]
                .iter()
                .all(|&v| (v as usize) < c && v as usize != blank)
        });
    let faults = |grad: bool, out: bool| {
        let mut f = Faults::new();
        f.flag("dims.classes", c == 0)
            .flag("activations", c > 0 && !shape_ok)
            .flag("blank", !blank_ok)
            .flag("input_lengths", !lens_ok)
            .flag(
                "labels.lengths",
                !label_lens_ok || (!concatenated && label_lengths.iter().any(|&l| l as usize > s)),
            )
            .flag("labels", label_lens_ok && !labels_values_ok)
            .flag("grad", grad && grad_len != acts.len())
            .flag("out", out && out_len != n)
            .flag("workspace", ws_len < if grad { need } else { value_need });
        f
    };

    let mut ws = vec![0.0f32; ws_len];
    let sum = faults(false, false).expect(
        "value(Sum)",
        loss.value(&activations, &label_arg, Reduction::Sum, &mut ws),
    );
    let mean = faults(false, false).expect(
        "value(Mean)",
        loss.value(&activations, &label_arg, Reduction::Mean, &mut ws),
    );
    let mut g_sum = vec![0.0f32; grad_len];
    let vg_sum = faults(true, false).expect(
        "value_and_grad(Sum)",
        loss.value_and_grad(
            &activations,
            &label_arg,
            Reduction::Sum,
            &mut ws,
            &mut g_sum,
        ),
    );
    let mut g_mean = vec![0.0f32; grad_len];
    let vg_mean = faults(true, false).expect(
        "value_and_grad(Mean)",
        loss.value_and_grad(
            &activations,
            &label_arg,
            Reduction::Mean,
            &mut ws,
            &mut g_mean,
        ),
    );
    let mut out = vec![0.0f32; out_len];
    let ps = faults(false, true).expect(
        "per_sample",
        loss.per_sample(&activations, &label_arg, &mut ws, &mut out),
    );
    let mut out2 = vec![0.0f32; out_len];
    let mut g2 = vec![0.0f32; grad_len];
    let psg = faults(true, true).expect(
        "per_sample_and_grad",
        loss.per_sample_and_grad(&activations, &label_arg, &mut ws, &mut out2, &mut g2),
    );
    let (Some(sum), Some(mean), Some(vs), Some(vm), Some(()), Some(_)) =
        (sum, mean, vg_sum, vg_mean, ps, psg)
    else {
        return;
    };
    assert_same("value(Sum) vs value_and_grad(Sum)", sum, vs);
    assert_same("value(Mean) vs value_and_grad(Mean)", mean, vm);
    for (a, b) in out.iter().zip(&out2) {
        assert_same("per_sample vs per_sample_and_grad", *a, *b);
    }
    for (a, b) in g_sum.iter().zip(&g2) {
        assert_same("grad: value_and_grad(Sum) vs per_sample_and_grad", *a, *b);
    }

    // Reference, sequence by sequence.
    let row = |i: usize, step: usize| {
        if batch_major {
            (i * t + step) * c
        } else {
            (step * n + i) * c
        }
    };
    let any_nan = acts.iter().any(|v| v.is_nan());
    let finite = acts.iter().all(|v| v.is_finite());
    let checked = acts.iter().all(|&v| in_domain(v));
    let mut want_sum = 0.0;
    let mut want_mean = 0.0;
    let mut scale_sum = 0.0;
    let mut scale_mean = 0.0;
    let mut refs: Vec<Sequence> = Vec::with_capacity(n);
    for i in 0..n {
        let steps = input_lengths[i] as usize;
        let (st, l) = sequences[i];
        let label: Vec<usize> = labels[st..st + l].iter().map(|&v| v as usize).collect();
        let x: Vec<f64> = (0..steps)
            .flat_map(|step| {
                acts[row(i, step)..row(i, step) + c]
                    .iter()
                    .map(|&v| v as f64)
            })
            .collect();
        let r = ctc(&x, c, steps, &label, blank, !log_probs);
        let mut loss_i = r.loss;
        if zero_inf && loss_i == f64::INFINITY {
            loss_i = 0.0;
        }
        // Time steps at or past the input length: 0 gradient, always.
        for step in steps..t {
            for k in 0..c {
                assert_eq!(
                    g_sum[row(i, step) + k],
                    0.0,
                    "gradient past the input length (seq {i}, step {step})"
                );
            }
        }
        if !finite {
            refs.push(r);
            continue;
        }
        // Finite activations: an infinite loss has a zero gradient, and
        // the loss is +inf (or 0 with zero_infinity) exactly when the
        // reference's is.
        if r.loss == f64::INFINITY {
            assert!(
                out[i] == if zero_inf { 0.0 } else { f32::INFINITY },
                "seq {i}: reference loss +inf, got {}",
                out[i]
            );
            for step in 0..steps {
                for k in 0..c {
                    assert_eq!(
                        g_sum[row(i, step) + k],
                        0.0,
                        "infinite loss with a gradient (seq {i})"
                    );
                }
            }
        } else if checked {
            assert_close(&format!("per_sample[{i}]"), out[i], loss_i, r.scale, 0.0);
            let gtol = 1.0 + 16.0 * EPS * r.scale / RTOL;
            let mscale = 1.0 / (n as f64 * l.max(1) as f64);
            for step in 0..steps {
                for k in 0..c {
                    let want = r.grad[step * c + k];
                    let at = row(i, step) + k;
                    assert!(
                        close(g_sum[at], want, gtol, 0.0),
                        "grad Sum (seq {i}, step {step}, class {k}): got {:e}, want {want:e}, tol {:e}",
                        g_sum[at],
                        RTOL * gtol
                    );
                    assert!(
                        close(g_mean[at], want * mscale, gtol * mscale, 0.0),
                        "grad Mean (seq {i}, step {step}, class {k}): got {:e}, want {:e}",
                        g_mean[at],
                        want * mscale
                    );
                }
            }
        }
        want_sum += loss_i;
        want_mean += loss_i / (n as f64 * l.max(1) as f64);
        scale_sum += r.scale;
        scale_mean += r.scale / (n as f64 * l.max(1) as f64);
        refs.push(r);
    }
    if any_nan {
        assert!(
            sum.is_nan() || refs.iter().all(|r| !r.loss.is_nan()),
            "NaN activations gave sum {sum}"
        );
        return;
    }
    if finite && checked && want_sum.is_finite() {
        assert_close("value(Sum)", sum, want_sum, scale_sum, 0.0);
        assert_close("value(Mean)", mean, want_mean, scale_mean, 0.0);
    }
});
