//! The fuzzer's bytes as a stream of sizes, flags and floats.
//!
//! Reading past the end yields zeros, so every byte string is a valid input.
//!
//! A float is a tag byte, then (for some tags) payload bytes:
//!
//! | tag | value |
//! |---|---|
//! | 0 | the next 4 bytes as a little-endian `f32` bit pattern (any value) |
//! | 1 | NaN |
//! | 2 | +∞ |
//! | 3 | -∞ |
//! | 4 | +0 |
//! | 5 | -0 |
//! | 6 | a subnormal: 3 payload bytes give the mantissa, the sign from its top bit |
//! | 7 | huge: `±f32::MAX · (1 + b) / 256` for one payload byte `b` |
//! | 8 | tiny normal: `±f32::MIN_POSITIVE · (1 + b)` |
//! | 9 | a power of ten: `±10^(b % 77 - 38)` |
//! | 10 | uniform in `[0, 1]` from 2 payload bytes (a probability) |
//! | 11..=15 | `±1` (the sign from the tag's parity), the common label values |
//! | 16..=255 | `(tag - 136) / 16`, small exact values in `[-7.5, 7.4375]` |
//!
//! `make_seeds.py` writes conformance data with tag 0 (exact bits).
//!
//! Every target reads its arm (the loss, or a mode byte of flags) first.
//! `FUZZ_PIN=value[/mask]` in the environment replaces the `mask` bits of
//! that first byte with `value`'s (the mask defaults to `0xff`), so a run
//! explores one arm or option alone and counts its executions:
//! `FUZZ_PIN=15 cargo +nightly fuzz run pointwise` runs only the focal
//! loss, `FUZZ_PIN=65/67 cargo +nightly fuzz run softmax` only dense-label
//! cross-entropy with label smoothing (the other mode bits still vary).
//! Numbers are decimal or `0x` hexadecimal.

use std::sync::OnceLock;

/// A cursor over the fuzzer's bytes.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
    /// `(value, mask)` for the first byte read, from `FUZZ_PIN`.
    pin: Option<(u8, u8)>,
}

/// `FUZZ_PIN`, parsed once: `value[/mask]`. A malformed value panics, so a
/// typo cannot run the whole target while the user believes one arm runs.
fn pin() -> Option<(u8, u8)> {
    static PIN: OnceLock<Option<(u8, u8)>> = OnceLock::new();
    *PIN.get_or_init(|| {
        let text = std::env::var("FUZZ_PIN").ok()?;
        let number = |s: &str| {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u8::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("FUZZ_PIN={text}: not value[/mask] in 0..=255"))
        };
        let (value, mask) = match text.split_once('/') {
            Some((v, m)) => (number(v), number(m)),
            None => (number(&text), 0xff),
        };
        Some((value & mask, mask))
    })
}

impl<'a> Input<'a> {
    /// Wraps the fuzzer's bytes (with the first byte pinned by `FUZZ_PIN`,
    /// if it is set).
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pin: pin() }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0 past the end.
    pub fn byte(&mut self) -> u8 {
        let b = match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        };
        match self.pin.take() {
            Some((value, mask)) => (b & !mask) | value,
            None => b,
        }
    }

    /// The next two bytes as a little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The next four bytes as a little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A value in `0..=max` from one byte.
    pub fn upto(&mut self, max: usize) -> usize {
        self.byte() as usize % (max + 1)
    }

    /// A small signed length change in `-4..=4` from one byte.
    pub fn delta(&mut self) -> isize {
        (self.byte() % 9) as isize - 4
    }

    /// One float, see the module docs for the encoding.
    pub fn float(&mut self) -> f32 {
        match self.byte() {
            0 => f32::from_bits(self.u32()),
            1 => f32::NAN,
            2 => f32::INFINITY,
            3 => f32::NEG_INFINITY,
            4 => 0.0,
            5 => -0.0,
            6 => {
                let m = u32::from_le_bytes([self.byte(), self.byte(), self.byte(), 0]);
                let bits = (m & 0x007f_ffff).max(1) | ((m & 0x0080_0000) << 8);
                f32::from_bits(bits)
            }
            7 => {
                let b = self.byte();
                let v = f32::MAX * ((1 + (b & 0x7f) as u32) as f32 / 128.0);
                if b & 0x80 != 0 { -v } else { v }
            }
            8 => {
                let b = self.byte();
                let v = f32::MIN_POSITIVE * (1 + (b & 0x7f)) as f32;
                if b & 0x80 != 0 { -v } else { v }
            }
            9 => {
                let b = self.byte();
                let e = (b & 0x7f) as i32 % 77 - 38;
                let v = libm_pow10(e);
                if b & 0x80 != 0 { -v } else { v }
            }
            10 => self.u16() as f32 / 65535.0,
            t @ 11..=15 => {
                if t % 2 == 0 {
                    -1.0
                } else {
                    1.0
                }
            }
            t => (t as i32 - 136) as f32 / 16.0,
        }
    }

    /// `len` floats into `out` (cleared first).
    pub fn floats_into(&mut self, len: usize, out: &mut Vec<f32>) {
        out.clear();
        out.extend((0..len).map(|_| self.float()));
    }

    /// `len` floats.
    pub fn floats(&mut self, len: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(len);
        self.floats_into(len, &mut v);
        v
    }
}

/// `10^e` as the nearest `f32` (through `f64`).
fn libm_pow10(e: i32) -> f32 {
    10f64.powi(e) as f32
}

/// `base + delta`, never below 0.
pub fn adjust(base: usize, delta: isize) -> usize {
    base.saturating_add_signed(delta)
}
