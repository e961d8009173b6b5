//! Every loss configuration can be a `const` or a `static`: the constructors
//! and builders are `const fn`s, the validating ones included. A `const`
//! built with a bad parameter is an `Err` at compile time; one built with
//! good parameters computes what the same configuration built at run time
//! computes.

use loss_kernels::Reduction;
use loss_kernels::embedding::{CosineEmbedding, Distance, Sdml, Triplet};
use loss_kernels::margin::MultiMargin;
use loss_kernels::pointwise::{Bce, Hinge, Huber, L2, Pointwise, SigmoidBce, SquaredHinge};
use loss_kernels::softmax::{KlDivergence, SoftmaxCrossEntropy};
use loss_kernels::{Error, ctc};

/// `Ok` of a constructor evaluated at compile time (a `const` item cannot
/// unwrap a `Result` without a panic, so the tests match on it).
macro_rules! ok_or_fail {
    ($result:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => panic!("a valid const configuration was rejected: {e}"),
        }
    };
}

const HUBER: Result<Huber<'static>, Error> = Huber::new(2.0);
const HUBER_BAD: Result<Huber<'static>, Error> = Huber::new(0.0);
const HINGE: Result<Hinge<'static>, Error> = Hinge::new(0.5);
const SQUARED_HINGE_BAD: Result<SquaredHinge<'static>, Error> = SquaredHinge::new(f32::NAN);
const SIGMOID_BCE: Result<SigmoidBce<'static>, Error> = SigmoidBce::new(3.0);
const BCE_BAD: Result<Bce<'static>, Error> = Bce::new(-1.0);
const L2_DIM: Pointwise<'static, loss_kernels::pointwise::elements::L2> = L2::new().dim(2);
static CE: Result<SoftmaxCrossEntropy<'static>, Error> = match SoftmaxCrossEntropy::new(3) {
    Ok(ce) => ce.ignore_index(Some(7)).label_smoothing(0.1),
    Err(e) => Err(e),
};
static CE_BAD_SMOOTHING: Result<SoftmaxCrossEntropy<'static>, Error> =
    match SoftmaxCrossEntropy::new(3) {
        Ok(ce) => ce.label_smoothing(1.5),
        Err(e) => Err(e),
    };
const KL: Result<KlDivergence<'static>, Error> = KlDivergence::new(3);
const TRIPLET: Result<Triplet<'static>, Error> = match Triplet::new(2) {
    Ok(t) => t.distance(Distance::Euclidean).margin(0.25),
    Err(e) => Err(e),
};
const TRIPLET_BAD_DIM: Result<Triplet<'static>, Error> = Triplet::new(0);
const COSINE: Result<CosineEmbedding<'static>, Error> = match CosineEmbedding::new(2) {
    Ok(c) => c.margin(0.1),
    Err(e) => Err(e),
};
const CTC: ctc::Ctc = ctc::Ctc::new(0).zero_infinity(true);
const SDML_BAD: Result<Sdml<'static>, Error> = match Sdml::new(2) {
    Ok(s) => s.smoothing(1.0),
    Err(e) => Err(e),
};
const MULTI_MARGIN_BAD: Result<MultiMargin<'static>, Error> = match MultiMargin::new(3) {
    Ok(m) => m.p(3),
    Err(e) => Err(e),
};
const TRIPLET_EPS_BAD: Result<Triplet<'static>, Error> = match Triplet::new(2) {
    Ok(t) => t.eps(f32::INFINITY),
    Err(e) => Err(e),
};

#[test]
fn invalid_const_configurations_are_errors() {
    assert!(matches!(
        HUBER_BAD,
        Err(Error::InvalidParameter {
            argument: "rho",
            ..
        })
    ));
    assert!(matches!(
        SQUARED_HINGE_BAD,
        Err(Error::InvalidParameter {
            argument: "margin",
            ..
        })
    ));
    assert!(matches!(
        BCE_BAD,
        Err(Error::InvalidParameter {
            argument: "pos_weight",
            ..
        })
    ));
    assert!(matches!(
        CE_BAD_SMOOTHING,
        Err(Error::InvalidParameter {
            argument: "label_smoothing",
            ..
        })
    ));
    assert!(matches!(
        SDML_BAD,
        Err(Error::InvalidParameter {
            argument: "smoothing",
            ..
        })
    ));
    assert!(matches!(
        MULTI_MARGIN_BAD,
        Err(Error::InvalidParameter { argument: "p", .. })
    ));
    assert!(matches!(
        TRIPLET_EPS_BAD,
        Err(Error::InvalidParameter {
            argument: "eps",
            ..
        })
    ));
    assert!(matches!(
        TRIPLET_BAD_DIM,
        Err(Error::ZeroSize { argument: "dim" })
    ));
}

#[test]
fn const_configurations_compute_as_run_time_ones() -> Result<(), Error> {
    let (p, t) = ([0.5f32, -3.0, 2.0, 0.25], [0.0f32, 1.0, -1.0, 1.0]);
    let pairs: [(f32, f32); 4] = [
        (
            ok_or_fail!(HUBER).value(&p, &t, Reduction::Sum)?,
            Huber::new(2.0)?.value(&p, &t, Reduction::Sum)?,
        ),
        (
            ok_or_fail!(HINGE).value(&p, &t, Reduction::Mean)?,
            Hinge::new(0.5)?.value(&p, &t, Reduction::Mean)?,
        ),
        (
            ok_or_fail!(SIGMOID_BCE).value(&p, &[0.0, 1.0, 1.0, 0.0], Reduction::Sum)?,
            SigmoidBce::new(3.0)?.value(&p, &[0.0, 1.0, 1.0, 0.0], Reduction::Sum)?,
        ),
        (
            L2_DIM.value(&p, &t, Reduction::Mean)?,
            L2::new().dim(2).value(&p, &t, Reduction::Mean)?,
        ),
    ];
    for (from_const, from_run_time) in pairs {
        assert_eq!(from_const.to_bits(), from_run_time.to_bits());
    }
    // The Huber value itself, by hand: rho = 2, |s| = 0.5, 4, 3, 0.75.
    let huber = ok_or_fail!(HUBER).value(&p, &t, Reduction::Sum)?;
    let expect = 0.25 / 4.0 + (4.0 - 1.0) + (3.0 - 1.0) + 0.5625 / 4.0;
    assert!((huber - expect).abs() < 1e-6, "{huber} vs {expect}");

    let logits = [1.0f32, 2.0, 0.5, -1.0, 0.0, 3.0];
    let labels = [1u32, 7];
    let ce = CE?;
    let run_time = SoftmaxCrossEntropy::new(3)?
        .ignore_index(Some(7))
        .label_smoothing(0.1)?;
    assert_eq!(
        ce.value(&logits, sparse(&labels), Reduction::Mean)?
            .to_bits(),
        run_time
            .value(&logits, sparse(&labels), Reduction::Mean)?
            .to_bits()
    );

    let q = [0.2f32, 0.3, 0.5, 0.1, 0.1, 0.8];
    assert_eq!(
        KL?.value(&logits, &q, Reduction::Sum)?.to_bits(),
        KlDivergence::new(3)?
            .value(&logits, &q, Reduction::Sum)?
            .to_bits()
    );

    let (a, pos, neg) = ([0.0f32, 1.0], [0.5f32, 1.0], [0.1f32, 0.9]);
    assert_eq!(
        TRIPLET?.value(&a, &pos, &neg, Reduction::Sum)?.to_bits(),
        Triplet::new(2)?
            .distance(Distance::Euclidean)
            .margin(0.25)?
            .value(&a, &pos, &neg, Reduction::Sum)?
            .to_bits()
    );
    assert_eq!(
        COSINE?.value(&a, &neg, &[-1.0], Reduction::Sum)?.to_bits(),
        CosineEmbedding::new(2)?
            .margin(0.1)?
            .value(&a, &neg, &[-1.0], Reduction::Sum)?
            .to_bits()
    );
    assert_eq!(CTC.blank(), ctc::Ctc::new(0).blank());
    Ok(())
}

fn sparse(labels: &[u32]) -> loss_kernels::softmax::Labels<'_> {
    loss_kernels::softmax::Labels::Sparse(labels)
}
