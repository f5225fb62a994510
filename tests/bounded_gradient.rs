//! The norm bound ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u) on seeded factors far past any condition number the
//! finish can resolve: graded diagonals from 1 down to 10⁻²⁴ and variables in units up to 10¹²
//! apart, at D = 2 … 64, in f32 and f64. Every result is a bounded gradient or
//! `Error::IllConditioned`, and the refusal comes exactly where the SVD's κ estimate passes
//! `KAPPA_U_LIMIT`. Also the issue's 2×2 f32 factor, and batches near both ends of the float
//! range (the check's scaled path).

mod common;

use common::assert_bounded_or_ill_conditioned;
use common::factors::{self, uniform};
use omt_mvn::linalg::Svd;
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::normal::standard_normal;
use omt_mvn::omt::KAPPA_U_LIMIT;
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, Real, Sample};
use rand_pcg::Pcg64Mcg;

/// Factors per dimension, family and precision.
const TRIALS: usize = 24;

/// The batch sizes cycled through: a lone sample (the rank-one finish) and two general ones.
const BATCH_SIZES: [usize; 3] = [1, 3, 64];

#[derive(Default, Debug)]
struct Tally {
    returned: usize,
    refused: usize,
}

fn batch<T: Real, const D: usize>(
    mvn: &OmtMvn<T, D>,
    n: usize,
    rng: &mut Pcg64Mcg,
) -> (Vec<Sample<T, D>>, Vec<SVector<T, D>>) {
    let mut draw = || SVector::<T, D>::from_fn(|_, _| T::from_f64_rounded(standard_normal(rng)));
    let samples = (0..n).map(|_| mvn.reparameterize(draw())).collect();
    let grad_values = (0..n).map(|_| draw()).collect();
    (samples, grad_values)
}

/// One factor through `vjp` and the accumulator: bounded or refused, refused exactly past the
/// limit as the public SVD estimates κ.
fn check<T: Real, const D: usize>(
    label: &str,
    factor: &SMatrix<f64, D, D>,
    n: usize,
    rng: &mut Pcg64Mcg,
    tally: &mut Tally,
) {
    let scale_tril = factor.map(T::from_f64_rounded);
    let Ok(mvn) = OmtMvn::new(SVector::zeros(), scale_tril) else {
        return; // a diagonal entry rounded to zero in f32: not an input `new` accepts
    };
    let (samples, grad_values) = batch(&mvn, n, rng);
    let result = mvn.vjp(&samples, &grad_values);
    let mut accumulator = mvn.vjp_accumulator();
    for (sample, grad_value) in samples.iter().zip(&grad_values) {
        accumulator.push(sample, grad_value);
    }
    assert_eq!(accumulator.finish(), result, "{label}: accumulator and vjp differ");
    let returned = assert_bounded_or_ill_conditioned(label, &result, &samples, &grad_values);
    let svd = Svd::new(&scale_tril).expect("the factor decomposes");
    let kappa = svd.singular_values[0] / svd.singular_values[D - 1];
    let kappa_u = kappa.to_f64() * T::UNIT_ROUNDOFF.to_f64();
    assert_eq!(returned, kappa_u < KAPPA_U_LIMIT, "{label}: estimated κ·u = {kappa_u:e}");
    if returned {
        tally.returned += 1;
    } else {
        tally.refused += 1;
    }
}

fn sweep<T: Real, const D: usize>() -> Tally {
    let mut tally = Tally::default();
    let mut rng = Pcg64Mcg::seed_from_u64(0x5eed_0000 + D as u64);
    for trial in 0..TRIALS {
        let n = BATCH_SIZES[trial % BATCH_SIZES.len()];
        // Spans spread over [0, 24] decades (graded) and [0, 12] (row units), ends included.
        let position = trial as f64 / (TRIALS - 1) as f64;
        let graded = factors::graded_diagonal::<D>(&mut rng, 24.0 * position);
        check::<T, D>(&format!("D={D} graded trial {trial}"), &graded, n, &mut rng, &mut tally);
        let decades = if trial == 0 { 12.0 } else { 12.0 * uniform(&mut rng) };
        let scaled = factors::row_scaled::<D>(&mut rng, decades);
        check::<T, D>(&format!("D={D} row-scaled trial {trial}"), &scaled, n, &mut rng, &mut tally);
    }
    tally
}

fn sweep_every_dimension<T: Real>(label: &str) {
    let tallies = [
        (2, sweep::<T, 2>()),
        (3, sweep::<T, 3>()),
        (5, sweep::<T, 5>()),
        (8, sweep::<T, 8>()),
        (16, sweep::<T, 16>()),
        (32, sweep::<T, 32>()),
        (64, sweep::<T, 64>()),
    ];
    for (d, tally) in &tallies {
        println!("{label} D = {d}: {tally:?}");
        // The sweep reaches both sides of the limit at every D, so neither branch goes untested.
        assert!(tally.returned > 0 && tally.refused > 0, "{label} D = {d}: {tally:?}");
    }
}

#[test]
fn graded_and_row_scaled_factors_give_bounded_gradients_or_ill_conditioned_in_f64() {
    std::thread::Builder::new()
        .stack_size(64 << 20) // D = 64 keeps several 32 KiB matrices on the stack
        .spawn(|| sweep_every_dimension::<f64>("f64"))
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn graded_and_row_scaled_factors_give_bounded_gradients_or_ill_conditioned_in_f32() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| sweep_every_dimension::<f32>("f32"))
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn the_issues_two_by_two_f32_factor_is_refused_rather_than_returned_784_times_too_large() {
    use omt_mvn::Error;
    use omt_mvn::nalgebra::{Matrix2, Vector2};
    // Before the κ·u limit this returned Ok with ‖G‖_F / ‖A‖_F = 784 (κ(L) ≈ 10⁹ in f32).
    let scale_tril = Matrix2::<f32>::new(1.0, 0.0, 1000.0, 1e-6);
    let mvn = OmtMvn::new(Vector2::zeros(), scale_tril).unwrap();
    let sample = mvn.reparameterize(Vector2::new(0.3, -1.1));
    let grad_value = Vector2::new(1.0, 0.5);
    assert_eq!(mvn.vjp(&[sample], &[grad_value]), Err(Error::IllConditioned));
    let mut accumulator = mvn.vjp_accumulator();
    accumulator.push(&sample, &grad_value);
    assert_eq!(accumulator.finish(), Err(Error::IllConditioned));
    // The same factor in f64 (κ·u ≈ 10⁻⁷) gets its gradient, within the bound.
    let mvn = OmtMvn::new(Vector2::zeros(), scale_tril.cast::<f64>()).unwrap();
    let sample = mvn.reparameterize(Vector2::new(0.3, -1.1));
    let grad_value = grad_value.cast::<f64>();
    let result = mvn.vjp(&[sample], &[grad_value]);
    assert!(assert_bounded_or_ill_conditioned("2×2 f64", &result, &[sample], &[grad_value]));
}

/// ‖G‖_F/‖A‖_F with both matrices scaled by 2⁻ᵏ first (2ᵏ the binade of A's largest entry), so
/// that the ratio is meaningful where the plain sums of squares would over- or underflow.
fn scaled_norm_ratio<const D: usize>(
    gradient: &SMatrix<f64, D, D>,
    outer_sum: &SMatrix<f64, D, D>,
) -> f64 {
    let exponent = outer_sum.amax().log2().floor() as i32;
    let scale = |m: &SMatrix<f64, D, D>| {
        m.map(|x| x * 2f64.powi(-exponent / 2) * 2f64.powi(exponent / 2 - exponent))
    };
    scale(gradient).norm_squared().sqrt() / scale(outer_sum).norm_squared().sqrt()
}

#[test]
fn the_norm_check_holds_for_batches_near_both_ends_of_the_float_range() {
    // A ≈ 10³⁰⁰, whose ‖A‖_F² overflows, and A ≈ 10⁻¹⁵⁰, whose ‖A‖_F² ≈ 10⁻³⁰⁰ is below the plain
    // sums' range: both take the check's scaled path and must get a bounded gradient.
    let mut rng = Pcg64Mcg::seed_from_u64(43);
    let scale_tril = factors::random::<3>(&mut rng);
    let mvn = OmtMvn::new(SVector::zeros(), scale_tril).unwrap();
    for (noise_scale, grad_scale) in [(1.0, 1e300), (1e-150, 1.0)] {
        let (samples, grad_values) = batch::<f64, 3>(&mvn, 5, &mut rng);
        let samples: Vec<_> =
            samples.iter().map(|s| mvn.reparameterize(s.noise * noise_scale)).collect();
        let grad_values: Vec<_> = grad_values.iter().map(|g| g * grad_scale).collect();
        let result = mvn.vjp(&samples, &grad_values).unwrap();
        let outer_sum: SMatrix<f64, 3, 3> =
            samples.iter().zip(&grad_values).map(|(s, g)| g * s.noise.transpose()).sum();
        assert!(result.scale_tril.iter().all(|x| x.is_finite()));
        let ratio = scaled_norm_ratio(&result.scale_tril, &outer_sum);
        assert!(ratio <= 1.0 + 24.0 * f64::UNIT_ROUNDOFF, "ratio {ratio}");
    }
}
