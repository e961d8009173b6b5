//! The one deterministic generator of the tests (xorshift64*), so failures
//! reproduce from a seed.

/// xorshift64*: a small deterministic generator for the cases (clone it to
/// replay the same draws, e.g. at each lane width).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed` (any value, 0 included: the seed
    /// is spread and made odd, since the state must not be 0).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`, drawn in `f64` and rounded to `f32`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f32 {
        (lo + (hi - lo) * self.unit()) as f32
    }

    /// Uniform in `[lo, hi)` with 24 random bits, in `f32`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }

    /// Uniform in `[lo, hi)` on a grid of 1/1024 (exactly representable,
    /// so shifted copies stay exact).
    pub fn grid(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next() % 1_000_000) as f32 / 1_000_000.0;
        ((lo + u * (hi - lo)) * 1024.0).round() / 1024.0
    }

    /// `len` values of [`grid`](Self::grid).
    pub fn vec(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| self.grid(lo, hi)).collect()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `true` with probability `p`.
    pub fn coin(&mut self, p: f32) -> bool {
        self.uniform(0.0, 1.0) < p
    }
}
