//! The entry points of every pointwise loss behind one object-safe trait,
//! so tests can loop over losses chosen at run time.

use loss_kernels::pointwise::{ElementLoss, Pointwise, SigmoidBcePerClass};
use loss_kernels::{Error, Reduction};

/// The entry points of a pointwise loss, as one object-safe interface.
pub trait AnyPointwise {
    fn per_sample_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        out: &mut [f32],
        g: &mut [f32],
    ) -> Result<f32, Error>;
    fn per_sample(&self, p: &[f32], t: &[f32], out: &mut [f32]) -> Result<(), Error>;
    fn value(&self, p: &[f32], t: &[f32], r: Reduction) -> Result<f32, Error>;
    fn value_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        r: Reduction,
        g: &mut [f32],
    ) -> Result<f32, Error>;
}

impl<F: ElementLoss> AnyPointwise for Pointwise<'_, F> {
    fn per_sample_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        out: &mut [f32],
        g: &mut [f32],
    ) -> Result<f32, Error> {
        Pointwise::per_sample_and_grad(self, p, t, out, g)
    }
    fn per_sample(&self, p: &[f32], t: &[f32], out: &mut [f32]) -> Result<(), Error> {
        Pointwise::per_sample(self, p, t, out)
    }
    fn value(&self, p: &[f32], t: &[f32], r: Reduction) -> Result<f32, Error> {
        Pointwise::value(self, p, t, r)
    }
    fn value_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        r: Reduction,
        g: &mut [f32],
    ) -> Result<f32, Error> {
        Pointwise::value_and_grad(self, p, t, r, g)
    }
}

/// Applies `dim` and the optional weights to a pointwise loss and boxes it.
pub fn boxed<'w, F: ElementLoss + 'static>(
    loss: Pointwise<'static, F>,
    dim: usize,
    weight: Option<&'w [f32]>,
) -> Box<dyn AnyPointwise + 'w> {
    let loss = loss.dim(dim);
    match weight {
        Some(w) => Box::new(loss.sample_weight(w)),
        None => Box::new(loss),
    }
}

/// The per-class `pos_weight` BCE behind the same interface (its row
/// length is `pos_weight.len()`).
impl AnyPointwise for SigmoidBcePerClass<'_> {
    fn per_sample_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        o: &mut [f32],
        g: &mut [f32],
    ) -> Result<f32, Error> {
        self.per_sample_and_grad(p, t, o, g)
    }
    fn per_sample(&self, p: &[f32], t: &[f32], o: &mut [f32]) -> Result<(), Error> {
        self.per_sample(p, t, o)
    }
    fn value(&self, p: &[f32], t: &[f32], r: Reduction) -> Result<f32, Error> {
        self.value(p, t, r)
    }
    fn value_and_grad(
        &self,
        p: &[f32],
        t: &[f32],
        r: Reduction,
        g: &mut [f32],
    ) -> Result<f32, Error> {
        self.value_and_grad(p, t, r, g)
    }
}
