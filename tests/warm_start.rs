//! Warm-started finishes (`VjpAccumulator::finish_warm`): as accurate as cold ones against the
//! 50-digit golden references, bounded everywhere, restarted cold when the start does not
//! certify, and leaving the warm start untouched on an error.

mod common;

use common::{Case, golden_cases};
use omt_mvn::nalgebra::SMatrix;
use omt_mvn::omt::KAPPA_U_LIMIT;
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::warm::WarmStart;
use omt_mvn::{Error, OmtMvn, Real};

/// The accuracy bound of every finish, in units of D·κ·u (as in tests/golden_vjp.rs).
const BOUND_IN_D_KAPPA_U: f64 = 8.0;

/// L with every entry below the diagonal and every diagonal entry's logarithm moved by up to
/// `relative` (seeded): an optimizer's step.
fn perturbed<T: Real, const D: usize>(
    scale_tril: &SMatrix<T, D, D>,
    relative: f64,
    seed: u64,
) -> SMatrix<T, D, D> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let mut moved = *scale_tril;
    for i in 0..D {
        for j in 0..=i {
            let factor = 1.0 + relative * omt_mvn::normal::standard_normal(&mut rng);
            moved[(i, j)] = T::from_f64_rounded(scale_tril[(i, j)].to_f64() * factor);
        }
    }
    moved
}

/// (error / (D·κ·u) of the warm finish of the case, whether it ran warm): W′ comes from the
/// finish of the case's L perturbed by `relative`.
fn warm_ratio<T: Real, const D: usize>(case: &Case, relative: f64) -> Result<(f64, bool), Error> {
    let mvn = case.mvn::<T, D>();
    let (samples, grad_values) = (case.samples::<T, D>(), case.grad_values::<T, D>());
    let mut warm = WarmStart::new();
    let earlier = OmtMvn::new(*mvn.loc(), perturbed(mvn.scale_tril(), relative, 5))?;
    let mut accumulator = earlier.vjp_accumulator();
    accumulator.push(&earlier.reparameterize(samples[0].noise), &grad_values[0]);
    accumulator.finish_warm(&mut warm)?;
    let mut accumulator = mvn.vjp_accumulator();
    for (sample, grad_value) in samples.iter().zip(&grad_values) {
        accumulator.push(sample, grad_value);
    }
    let grads = accumulator.finish_warm(&mut warm)?;
    assert!(warm.is_filled());
    let error = case.scale_tril_error(&grads.scale_tril, &case.exact.scale_tril_grad);
    Ok((error / (D as f64 * case.kappa * T::UNIT_ROUNDOFF.to_f64()), warm.last_finish_was_warm()))
}

fn accurate_when_warm<T: Real>(label: &str, relative: f64) {
    let (mut worst, mut warm_count, mut count) = (0.0_f64, 0, 0);
    for case in
        golden_cases().iter().filter(|c| c.kappa * T::UNIT_ROUNDOFF.to_f64() < KAPPA_U_LIMIT)
    {
        let (ratio, was_warm) = with_dim!(case.dim, warm_ratio::<T>(case, relative))
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        assert!(
            ratio <= BOUND_IN_D_KAPPA_U,
            "{} ({label}, warm {was_warm}): {ratio:.2}·D·κ·u",
            case.id
        );
        worst = worst.max(ratio);
        warm_count += usize::from(was_warm);
        count += 1;
    }
    println!(
        "{label}, L moved by {relative}: {warm_count} of {count} finishes warm, worst {worst:.3}·D·κ·u"
    );
    // Most cases are warm: the certificate refuses only where κ̂ fell by half.
    assert!(warm_count * 4 >= count * 3, "{label}: only {warm_count} of {count} warm");
}

#[test]
fn warm_finishes_meet_the_accuracy_bound_in_f64() {
    accurate_when_warm::<f64>("f64", 1e-3);
    accurate_when_warm::<f64>("f64", 3e-2);
}

#[test]
fn warm_finishes_meet_the_accuracy_bound_in_f32() {
    accurate_when_warm::<f32>("f32", 1e-3);
}

#[test]
fn a_warm_start_from_a_different_factor_restarts_cold_or_stays_accurate() {
    // W′ of a badly conditioned L′ cannot certify for a well-conditioned L (κ̂′ > 2·κ̂).
    let graded = SMatrix::<f64, 4, 4>::from_fn(|i, j| match i.cmp(&j) {
        core::cmp::Ordering::Equal => 10f64.powi(-2 * i as i32),
        core::cmp::Ordering::Greater => 0.3,
        core::cmp::Ordering::Less => 0.0,
    });
    let well = SMatrix::<f64, 4, 4>::from_fn(|i, j| {
        if i == j {
            1.0 + 0.1 * i as f64
        } else if i > j {
            0.2
        } else {
            0.0
        }
    });
    let noise = omt_mvn::nalgebra::SVector::<f64, 4>::new(0.3, -1.0, 0.5, 2.0);
    let mut warm = WarmStart::new();
    for scale_tril in [graded, well] {
        let mvn = OmtMvn::new(noise * 0.0, scale_tril).unwrap();
        let mut accumulator = mvn.vjp_accumulator();
        accumulator.push(&mvn.reparameterize(noise), &noise);
        let cold = accumulator.finish().unwrap();
        let warmed = accumulator.finish_warm(&mut warm).unwrap();
        assert!((warmed.scale_tril - cold.scale_tril).abs().max() <= 1e-13);
    }
    assert!(
        !warm.last_finish_was_warm(),
        "κ̂ fell ten-thousandfold and more: the start must not certify"
    );
}

#[test]
fn a_failed_warm_finish_leaves_the_warm_start_as_it_was() {
    let scale_tril = SMatrix::<f64, 3, 3>::new(2.0, 0.0, 0.0, 0.5, 1.0, 0.0, -0.3, 0.2, 0.7);
    let mvn = OmtMvn::new(omt_mvn::nalgebra::Vector3::zeros(), scale_tril).unwrap();
    let mut warm = WarmStart::new();
    let mut accumulator = mvn.vjp_accumulator();
    accumulator.push(
        &mvn.reparameterize(omt_mvn::nalgebra::Vector3::new(1.0, 0.0, -1.0)),
        &omt_mvn::nalgebra::Vector3::new(0.5, 0.5, 0.5),
    );
    accumulator.finish_warm(&mut warm).unwrap();
    let before = warm;
    let mut broken = mvn.vjp_accumulator();
    broken.push(
        &mvn.reparameterize(omt_mvn::nalgebra::Vector3::new(f64::NAN, 0.0, 0.0)),
        &omt_mvn::nalgebra::Vector3::repeat(1.0),
    );
    assert_eq!(broken.finish_warm(&mut warm), Err(Error::NonFiniteBatch));
    assert_eq!(warm, before);
    // Ill-conditioned in f32: refused warm and cold alike, the warm start untouched.
    let narrow = OmtMvn::new(
        omt_mvn::nalgebra::Vector2::<f32>::zeros(),
        SMatrix::<f32, 2, 2>::new(1.0, 0.0, 0.0, 1e-7),
    )
    .unwrap();
    let mut warm32 = WarmStart::new();
    let mut accumulator = narrow.vjp_accumulator();
    accumulator.push(
        &narrow.reparameterize(omt_mvn::nalgebra::Vector2::new(1.0, 1.0)),
        &omt_mvn::nalgebra::Vector2::new(1.0, 0.5),
    );
    assert_eq!(accumulator.finish_warm(&mut warm32), Err(Error::IllConditioned));
    assert_eq!(warm32, WarmStart::new());
}

#[cfg(feature = "serde")]
#[test]
fn a_deserialized_warm_start_is_empty() {
    let scale_tril = SMatrix::<f64, 2, 2>::new(1.0, 0.0, 0.5, 2.0);
    let mvn = OmtMvn::new(omt_mvn::nalgebra::Vector2::zeros(), scale_tril).unwrap();
    let mut accumulator = mvn.vjp_accumulator();
    accumulator.push(
        &mvn.reparameterize(omt_mvn::nalgebra::Vector2::new(1.0, 0.5)),
        &omt_mvn::nalgebra::Vector2::new(0.2, -0.1),
    );
    let mut warm = WarmStart::new();
    accumulator.finish_warm(&mut warm).unwrap();
    assert!(warm.is_filled());
    let text = serde_json::to_string(&warm).unwrap();
    let back: WarmStart<f64, 2> = serde_json::from_str(&text).unwrap();
    assert!(!back.is_filled());
}
