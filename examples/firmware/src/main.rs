//! Firmware proof: loss-kernels on a Cortex-M4F with no allocator and no
//! standard library, under QEMU (`mps2-an386`), printing over semihosting.
//!
//! 1. **Logistic regression** (two features and a bias) on a fixed
//!    synthetic set of two point clouds, trained with [`SigmoidBce`]'s fused
//!    value + gradient.
//! 2. **A linear softmax classifier** (three classes) on three clouds,
//!    trained with `SoftmaxCrossEntropy`'s fused value + gradient.
//! 3. **CTC**: one sequence's value + gradient with the workspace in a
//!    `static` buffer, then a few gradient steps on the logits themselves.
//! 4. One triplet-loss value + gradient.
//!
//! Each prints its loss falling; the program exits through semihosting with
//! status 0, or 1 when a loss did not fall or a call failed.
//!
//! Every call into the crate goes through an `#[inline(never)]` function of
//! the [`kernels`] module, one per loss family, so that `.ci/firmware.sh`
//! can attribute the flash (`.text`) each family takes from the symbol
//! table.
//!
//! [`SigmoidBce`]: loss_kernels::pointwise::SigmoidBce

#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

/// Training samples per model.
const N: usize = 60;
/// Training steps per model.
const STEPS: usize = 60;
/// Learning rate.
const LR: f32 = 0.5;
/// Classes of the softmax classifier.
const K: usize = 3;

/// CTC shapes: steps, classes (blank 0), label length.
const T: usize = 12;
const C: usize = 5;
const S: usize = 4;
/// The CTC workspace, sized by the crate's `const fn`.
const WORKSPACE: usize = loss_kernels::ctc::workspace_len(T, S);

/// The crate's entry points used here, one `#[inline(never)]` wrapper per
/// loss family (their symbol sizes are the family's flash footprint).
mod kernels {
    /// Pointwise family.
    pub mod pointwise {
        use loss_kernels::pointwise::SigmoidBce;
        use loss_kernels::{Error, Reduction};

        /// Mean sigmoid binary cross-entropy of `logits` against 0/1
        /// `labels`, and its gradient w.r.t. the logits.
        #[inline(never)]
        pub fn sigmoid_bce_mean(
            logits: &[f32],
            labels: &[f32],
            grad: &mut [f32],
        ) -> Result<f32, Error> {
            SigmoidBce::new(1.0)?.value_and_grad(logits, labels, Reduction::Mean, grad)
        }
    }

    /// Softmax family.
    pub mod softmax {
        use loss_kernels::softmax::{Labels, SoftmaxCrossEntropy};
        use loss_kernels::{Error, Reduction};

        /// Mean softmax cross-entropy of rows of `classes` logits against
        /// sparse labels, and its gradient.
        #[inline(never)]
        pub fn cross_entropy_mean(
            logits: &[f32],
            classes: usize,
            labels: &[u32],
            grad: &mut [f32],
        ) -> Result<f32, Error> {
            SoftmaxCrossEntropy::new(classes)?.value_and_grad(
                logits,
                Labels::Sparse(labels),
                Reduction::Mean,
                grad,
            )
        }
    }

    /// Embedding family.
    pub mod embedding {
        use loss_kernels::embedding::{Triplet, TripletGrads};
        use loss_kernels::{Error, Reduction};

        /// Summed squared-distance triplet loss and its three gradients.
        #[inline(never)]
        pub fn triplet_sum(
            dim: usize,
            a: &[f32],
            p: &[f32],
            n: &[f32],
            grads: TripletGrads<'_>,
        ) -> Result<f32, Error> {
            Triplet::new(dim)?.value_and_grad(a, p, n, Reduction::Sum, grads)
        }
    }

    /// CTC family.
    pub mod ctc {
        use loss_kernels::ctc::{Activations, Ctc, Dims, Labels};
        use loss_kernels::{Error, Reduction};

        /// CTC of one time-major sequence of `t` steps of `c` logits (blank
        /// 0) and its gradient w.r.t. the logits.
        #[inline(never)]
        pub fn value_and_grad(
            logits: &[f32],
            t: usize,
            c: usize,
            label: &[u32],
            workspace: &mut [f32],
            grad: &mut [f32],
        ) -> Result<f32, Error> {
            let lengths = [t as u32];
            let acts = Activations::time_major(logits, Dims { steps: t, batch: 1, classes: c }, &lengths);
            let label_lengths = [label.len() as u32];
            let labels = Labels::Concatenated {
                labels: label,
                lengths: &label_lengths,
            };
            Ctc::new(0).value_and_grad(&acts, &labels, Reduction::Sum, workspace, grad)
        }
    }
}

/// A small deterministic generator (xorshift32).
struct Rng(u32);

impl Rng {
    /// Uniform in `[-1, 1)`.
    fn next(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// `N` points in `classes` overlapping clouds (centres on a circle of
/// radius 1.2, uniform noise of half-width 1.1), class `i % classes`.
fn clouds(classes: usize, seed: u32) -> ([[f32; 2]; N], [u32; N]) {
    const CENTRES: [[f32; 2]; 3] = [[1.2, 0.0], [-0.6, 1.04], [-0.6, -1.04]];
    let mut rng = Rng(seed);
    let mut x = [[0.0f32; 2]; N];
    let mut y = [0u32; N];
    for i in 0..N {
        let k = i % classes;
        let [cx, cy] = CENTRES[k];
        x[i] = [cx + 1.1 * rng.next(), cy + 1.1 * rng.next()];
        y[i] = k as u32;
    }
    (x, y)
}

fn fail(what: &str) -> ! {
    hprintln!("FAILED: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints and checks a model's first and last loss.
fn report(name: &str, first: f32, last: f32) {
    hprintln!("{} final loss {:.5} (from {:.5})", name, last, first);
    if last.is_nan() || last >= first {
        fail("a loss did not fall");
    }
}

fn logistic_regression() {
    let (x, y) = clouds(2, 0x2545_f491);
    let label: [f32; N] = core::array::from_fn(|i| y[i] as f32);
    let (mut w, mut b) = ([0.0f32; 2], 0.0f32);
    let (mut logits, mut grad) = ([0.0f32; N], [0.0f32; N]);
    let (mut first, mut last) = (f32::NAN, f32::NAN);
    hprintln!(
        "logistic regression: {} samples, {} steps, sigmoid BCE (mean)",
        N,
        STEPS
    );
    for step in 0..=STEPS {
        for i in 0..N {
            logits[i] = w[0] * x[i][0] + w[1] * x[i][1] + b;
        }
        let loss = match kernels::pointwise::sigmoid_bce_mean(&logits, &label, &mut grad) {
            Ok(v) => v,
            Err(_) => fail("sigmoid_bce_mean returned an error"),
        };
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 20 == 0 {
            hprintln!("logistic step {:3} loss {:.5}", step, loss);
        }
        if step == STEPS {
            break;
        }
        let (mut gw0, mut gw1, mut gb) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..N {
            gw0 += grad[i] * x[i][0];
            gw1 += grad[i] * x[i][1];
            gb += grad[i];
        }
        w[0] -= LR * gw0;
        w[1] -= LR * gw1;
        b -= LR * gb;
    }
    let correct = (0..N)
        .filter(|&i| (logits[i] > 0.0) == (label[i] > 0.5))
        .count();
    report("logistic", first, last);
    hprintln!(
        "logistic accuracy {}/{} = {:.3}",
        correct,
        N,
        correct as f32 / N as f32
    );
}

fn softmax_classifier() {
    let (x, y) = clouds(K, 0x1234_5679);
    let mut w = [[0.0f32; 3]; K]; // per class: two weights and a bias
    let (mut logits, mut grad) = ([0.0f32; N * K], [0.0f32; N * K]);
    let (mut first, mut last) = (f32::NAN, f32::NAN);
    hprintln!(
        "softmax classifier: {} classes, {} samples, {} steps, cross-entropy (mean)",
        K,
        N,
        STEPS
    );
    for step in 0..=STEPS {
        for i in 0..N {
            for k in 0..K {
                logits[i * K + k] = w[k][0] * x[i][0] + w[k][1] * x[i][1] + w[k][2];
            }
        }
        let loss = match kernels::softmax::cross_entropy_mean(&logits, K, &y, &mut grad) {
            Ok(v) => v,
            Err(_) => fail("cross_entropy_mean returned an error"),
        };
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 20 == 0 {
            hprintln!("softmax step {:3} loss {:.5}", step, loss);
        }
        if step == STEPS {
            break;
        }
        for k in 0..K {
            let mut g = [0.0f32; 3];
            for i in 0..N {
                let d = grad[i * K + k];
                g[0] += d * x[i][0];
                g[1] += d * x[i][1];
                g[2] += d;
            }
            for j in 0..3 {
                w[k][j] -= LR * g[j];
            }
        }
    }
    let correct = (0..N)
        .filter(|&i| {
            let row = &logits[i * K..(i + 1) * K];
            let best = (0..K).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            best as u32 == y[i]
        })
        .count();
    report("softmax", first, last);
    hprintln!(
        "softmax accuracy {}/{} = {:.3}",
        correct,
        N,
        correct as f32 / N as f32
    );
}

fn ctc_demo() {
    let workspace: &'static mut [f32; WORKSPACE] = match cortex_m::singleton!(: [f32; WORKSPACE] = [0.0; WORKSPACE])
    {
        Some(w) => w,
        None => fail("the CTC workspace was already taken"),
    };
    let label = [1u32, 2, 2, 3];
    let mut rng = Rng(0x0bad_cafe);
    let mut logits: [f32; T * C] = core::array::from_fn(|_| rng.next());
    let mut grad = [0.0f32; T * C];
    hprintln!(
        "ctc: T = {}, C = {}, label [1, 2, 2, 3], workspace {} f32 in a static",
        T,
        C,
        WORKSPACE
    );
    hprintln!(
        "ctc workspace: {} f32 (value and gradient), {} f32 (value only), padded for {} lanes",
        WORKSPACE,
        loss_kernels::ctc::value_workspace_len(S),
        loss_kernels::ctc::WORKSPACE_LANES
    );
    let (mut first, mut last) = (f32::NAN, f32::NAN);
    for step in 0..=20 {
        let loss = match kernels::ctc::value_and_grad(
            &logits,
            T,
            C,
            &label,
            &mut workspace[..],
            &mut grad,
        ) {
            Ok(v) => v,
            Err(_) => fail("ctc value_and_grad returned an error"),
        };
        if step == 0 {
            first = loss;
            // The gradient w.r.t. logits of each step sums to 0.
            let worst = grad
                .chunks(C)
                .map(|r| r.iter().sum::<f32>().abs())
                .fold(0.0f32, f32::max);
            hprintln!(
                "ctc step   0 loss {:.5}, max |row sum of grad| {:.1e}",
                loss,
                worst
            );
            if worst.is_nan() || worst >= 1e-5 {
                fail("ctc gradient rows do not sum to 0");
            }
        }
        last = loss;
        for (x, g) in logits.iter_mut().zip(&grad) {
            *x -= 1.0 * g;
        }
    }
    report("ctc", first, last);
    hprintln!("ctc ok");
}

fn triplet_demo() {
    const D: usize = 4;
    let a = [0.0f32, 0.5, 1.0, -0.5, 1.0, 1.0, 0.0, 0.0];
    let p = [0.1f32, 0.4, 1.2, -0.4, 0.8, 1.1, 0.2, -0.1];
    let n = [0.3f32, 0.2, 0.9, -0.6, 0.9, 0.8, 0.1, 0.2];
    let (mut ga, mut gp, mut gn) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    let grads = loss_kernels::embedding::TripletGrads {
        anchor: &mut ga,
        positive: &mut gp,
        negative: &mut gn,
    };
    match kernels::embedding::triplet_sum(D, &a, &p, &n, grads) {
        Ok(v) => hprintln!("triplet loss {:.5}", v),
        Err(_) => fail("triplet returned an error"),
    }
}

#[entry]
fn main() -> ! {
    hprintln!(
        "loss-kernels firmware: Cortex-M4F, lane type {}",
        loss_kernels::lane::NATIVE_NAME
    );
    logistic_regression();
    softmax_classifier();
    ctc_demo();
    triplet_demo();
    hprintln!("loss fell: yes");
    hprintln!("done");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
