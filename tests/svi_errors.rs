//! Every way an SVI step can fail gets a typed error, and a failed step leaves the guide and the
//! optimizers as they were (the next successful step is the one an unfailed run would take).

use omt_mvn::Error;
use omt_mvn::nalgebra::{Matrix2, SMatrix, SVector, Vector2};
use omt_mvn::optim::{Adam, ClippedAdam};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::svi::{Estimator, Guide, Svi};
use omt_mvn::transform::{LowerCholesky, SoftplusLowerCholesky};

fn standard(x: &Vector2<f64>) -> (f64, Vector2<f64>) {
    (-0.5 * x.norm_squared(), -x)
}

#[test]
fn bad_models_and_settings_are_refused_without_a_trace() {
    let guide =
        Guide::new(Vector2::new(0.5, -0.5), Matrix2::new(1.0, 0.0, 0.3, 2.0), LowerCholesky)
            .unwrap();
    let mut svi = Svi::new(guide, Adam::new(0.1), Adam::new(0.1));
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    svi.step(&mut rng, standard).unwrap();
    let before = svi;
    let nan_density = |x: &Vector2<f64>| (f64::NAN, -x);
    let infinite_score = |_: &Vector2<f64>| (0.0, Vector2::new(f64::INFINITY, 0.0));
    assert_eq!(svi.step(&mut rng, nan_density), Err(Error::NonFiniteModel));
    assert_eq!(svi.step(&mut rng, infinite_score), Err(Error::NonFiniteModel));
    assert_eq!(svi, before);
    let mut empty = svi.with_num_particles(0);
    assert_eq!(empty.step(&mut rng, standard), Err(Error::NoParticles));
    // The next step from the failed ones is the step the unfailed run takes.
    let (mut failed, mut clean) = (svi, before);
    let (mut rng_a, mut rng_b) =
        (rand_pcg::Pcg64Mcg::seed_from_u64(2), rand_pcg::Pcg64Mcg::seed_from_u64(2));
    failed.step(&mut rng_a, standard).unwrap();
    clean.step(&mut rng_b, standard).unwrap();
    assert_eq!(failed.guide(), clean.guide());
}

#[test]
fn a_step_that_would_leave_the_float_range_is_refused() {
    // exp(θᵢᵢ) overflows after a step of lr 1000 from θᵢᵢ = 0 towards a model that wants a huge
    // scale: the guide it would produce is not a Cholesky factor.
    let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky).unwrap();
    let mut svi =
        Svi::new(guide, Adam::new(1000.0), Adam::new(1000.0)).with_estimator(Estimator::Reparam);
    let flat = |_: &Vector2<f64>| (0.0, Vector2::zeros()); // only the entropy pushes L up
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
    let before = svi;
    assert_eq!(svi.step(&mut rng, flat), Err(Error::NonFiniteScaleTril { row: 0, col: 0 }));
    assert_eq!(svi, before);
}

#[test]
fn an_ill_conditioned_guide_is_refused_by_the_omt_step_and_not_by_the_plain_one() {
    // κ(L) = 10⁷ in f32: past the OMT finish's limit, never a gradient with no correct digit.
    let scale_tril = SMatrix::<f32, 2, 2>::new(1.0, 0.0, 0.0, 1e-7);
    let guide = Guide::new(SVector::zeros(), scale_tril, SoftplusLowerCholesky).unwrap();
    let mut omt = Svi::new(guide, ClippedAdam::new(0.01), ClippedAdam::new(0.01));
    let model = |x: &SVector<f32, 2>| (-0.5 * x.norm_squared(), -x);
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(4);
    let before = omt;
    assert_eq!(omt.step(&mut rng, model), Err(Error::IllConditioned));
    assert_eq!(omt, before);
    let mut plain = omt.with_estimator(Estimator::Reparam);
    assert!(plain.step(&mut rng, model).is_ok());
}

#[test]
fn warm_and_cold_steps_follow_the_same_path_to_rounding() {
    let target = SMatrix::<f64, 6, 6>::from_fn(|i, j| {
        if i == j {
            1.0 + 0.2 * i as f64
        } else if i > j {
            0.3
        } else {
            0.0
        }
    });
    let precision = (target * target.transpose()).try_inverse().unwrap();
    let model = |x: &SVector<f64, 6>| (-0.5 * x.dot(&(precision * x)), -(precision * x));
    let guide = Guide::new(SVector::zeros(), SMatrix::identity(), LowerCholesky).unwrap();
    let mut warm = Svi::new(guide, Adam::new(0.02), Adam::new(0.02));
    let mut cold = warm.with_warm_start(false);
    let (mut rng_w, mut rng_c) =
        (rand_pcg::Pcg64Mcg::seed_from_u64(5), rand_pcg::Pcg64Mcg::seed_from_u64(5));
    let mut warm_steps = 0;
    for _ in 0..300 {
        warm_steps += usize::from(warm.step(&mut rng_w, model).unwrap().warm_started);
        assert!(!cold.step(&mut rng_c, model).unwrap().warm_started);
    }
    assert!(warm_steps >= 290, "{warm_steps} of 300 steps warm");
    let difference = (warm.guide().theta() - cold.guide().theta()).abs().max();
    assert!(difference < 1e-9, "paths drifted apart by {difference}");
}
