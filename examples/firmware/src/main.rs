//! Firmware proof: loss-kernels on a Cortex-M4F with no allocator and no
//! standard library, under QEMU (`mps2-an386`), printing over semihosting.
//!
//! It trains a logistic-regression classifier (two features and a bias) on a
//! fixed synthetic data set of two point clouds with the crate's fused
//! value + gradient ([`SigmoidBce`]), printing the loss as it falls and the
//! final accuracy, then exits through semihosting with status 0 (or 1 when
//! the loss did not fall or a call failed).
//!
//! Every call into the crate goes through an `#[inline(never)]` function of
//! the [`kernels`] module, one per loss family, so that `.ci/firmware.sh`
//! can attribute the flash (`.text`) each family takes from the symbol
//! table.

#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

/// Number of training samples.
const N: usize = 64;
/// Training steps.
const STEPS: usize = 60;
/// Learning rate.
const LR: f32 = 0.5;

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
}

/// A small deterministic generator (xorshift32) for the data set.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        // uniform in [-1, 1)
        (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// Two overlapping clouds: class 1 around (1, 0.5), class 0 around
/// (-0.5, -1), with uniform noise of half-width 1.2.
fn data_set() -> ([[f32; 2]; N], [f32; N]) {
    let mut rng = Rng(0x2545_f491);
    let mut x = [[0.0f32; 2]; N];
    let mut y = [0.0f32; N];
    for i in 0..N {
        let class = (i % 2) as f32;
        let (cx, cy) = if i % 2 == 1 { (1.0, 0.5) } else { (-0.5, -1.0) };
        x[i] = [cx + 1.2 * rng.next(), cy + 1.2 * rng.next()];
        y[i] = class;
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

#[entry]
fn main() -> ! {
    hprintln!(
        "loss-kernels firmware: Cortex-M4F, lane type {}",
        loss_kernels::lane::NATIVE_NAME
    );
    let (x, y) = data_set();
    let mut w = [0.0f32; 2];
    let mut b = 0.0f32;
    let mut logits = [0.0f32; N];
    let mut grad = [0.0f32; N];
    let mut first = f32::NAN;
    let mut last = f32::NAN;
    hprintln!(
        "logistic regression, {} samples, {} steps, sigmoid BCE (mean)",
        N,
        STEPS
    );
    for step in 0..=STEPS {
        for i in 0..N {
            logits[i] = w[0] * x[i][0] + w[1] * x[i][1] + b;
        }
        let loss = match kernels::pointwise::sigmoid_bce_mean(&logits, &y, &mut grad) {
            Ok(v) => v,
            Err(_) => fail("sigmoid_bce_mean returned an error"),
        };
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 10 == 0 {
            hprintln!("step {:3} loss {:.5}", step, loss);
        }
        if step == STEPS {
            break;
        }
        // d loss / d w = Σ_i d loss / d logit_i · x_i
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
        .filter(|&i| (logits[i] > 0.0) == (y[i] > 0.5))
        .count();
    hprintln!("logistic final loss {:.5} (from {:.5})", last, first);
    hprintln!(
        "accuracy {}/{} = {:.3}",
        correct,
        N,
        correct as f32 / N as f32
    );
    if last.is_nan() || last >= first {
        fail("the loss did not fall");
    }
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
