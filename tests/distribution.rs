//! The distribution's constructor, accessors, moments, densities and sampling, in f32 and f64,
//! for D = 1, 3 and 12.

use omt_mvn::heapless::Vec as HeaplessVec;
use omt_mvn::nalgebra::{Matrix1, Matrix3, SMatrix, SVector, Vector1, Vector3};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, OmtMvn, Real, Sample};
use rand_pcg::Pcg64Mcg;

fn example_scale_tril() -> Matrix3<f64> {
    Matrix3::new(2.0, 0.0, 0.0, 0.5, 1.0, 0.0, -0.3, 0.2, 0.7)
}

/// A well-conditioned 12×12 lower-triangular factor with entries of mixed sign.
fn scale_tril_12<T: Real>() -> SMatrix<T, 12, 12> {
    SMatrix::from_fn(|i, j| {
        let value = if i == j {
            1.0 + 0.1 * i as f64
        } else if i > j {
            0.3 * (((3 * i + 5 * j) % 7) as f64 - 3.0) / 3.0
        } else {
            0.0
        };
        T::from_f64_rounded(value)
    })
}

#[test]
fn new_accepts_a_lower_cholesky_factor_and_keeps_it() {
    let loc = Vector3::new(1.0, 2.0, 3.0);
    let mvn = OmtMvn::new(loc, example_scale_tril()).unwrap();
    assert_eq!(mvn.loc(), &loc);
    assert_eq!(mvn.scale_tril(), &example_scale_tril());
    assert_eq!(mvn.mean(), loc);
}

#[test]
fn new_names_a_non_finite_loc_entry() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let loc = Vector3::new(0.0, bad, 0.0);
        assert_eq!(OmtMvn::new(loc, example_scale_tril()), Err(Error::NonFiniteLoc { index: 1 }));
    }
}

#[test]
fn new_names_a_non_finite_scale_tril_entry() {
    let mut scale_tril = example_scale_tril();
    scale_tril[(2, 1)] = f64::NAN;
    let err = OmtMvn::new(Vector3::zeros(), scale_tril).unwrap_err();
    assert_eq!(err, Error::NonFiniteScaleTril { row: 2, col: 1 });
    let mut above = example_scale_tril();
    above[(0, 2)] = f64::INFINITY;
    let err = OmtMvn::new(Vector3::zeros(), above).unwrap_err();
    assert_eq!(err, Error::NonFiniteScaleTril { row: 0, col: 2 });
}

#[test]
fn new_refuses_a_non_zero_entry_above_the_diagonal() {
    let mut scale_tril = example_scale_tril();
    scale_tril[(1, 2)] = 1e-300;
    let err = OmtMvn::new(Vector3::zeros(), scale_tril).unwrap_err();
    assert_eq!(err, Error::NotLowerTriangular { row: 1, col: 2 });
}

#[test]
fn new_refuses_a_zero_or_negative_diagonal() {
    for bad in [0.0, -0.0, -1.0] {
        let mut scale_tril = example_scale_tril();
        scale_tril[(2, 2)] = bad;
        let err = OmtMvn::new(Vector3::zeros(), scale_tril).unwrap_err();
        assert_eq!(err, Error::NonPositiveDiagonal { index: 2 });
    }
}

#[test]
fn new_accepts_extreme_but_finite_scales() {
    for scale in [1e-300, 1e300, f64::MIN_POSITIVE * 0.5] {
        let scale_tril = Matrix3::from_diagonal_element(scale);
        assert!(OmtMvn::new(Vector3::zeros(), scale_tril).is_ok());
    }
}

#[test]
fn every_error_displays_a_sentence_and_is_a_core_error() {
    let all = [
        Error::NonFiniteLoc { index: 1 },
        Error::NonFiniteScaleTril { row: 2, col: 0 },
        Error::NotLowerTriangular { row: 0, col: 1 },
        Error::NonPositiveDiagonal { index: 3 },
        Error::LengthMismatch { samples: 2, grad_values: 3 },
        Error::NonFiniteBatch,
        Error::AccumulatorMismatch,
        Error::NonFiniteMatrix { row: 1, col: 1 },
        Error::SvdNotConverged { sweeps: 40 },
        Error::IllConditioned,
        Error::Overflow,
        Error::NonFiniteCovariance { row: 1, col: 0 },
        Error::NonSymmetricCovariance { row: 2, col: 1 },
        Error::NotPositiveDefinite { index: 2 },
        Error::CapacityExceeded { requested: 9, available: 4 },
    ];
    for err in all {
        let text = err.to_string();
        assert!(text.len() > 10, "{err:?} displays as {text:?}");
        let as_core: &dyn core::error::Error = &err;
        assert!(as_core.source().is_none());
    }
    assert_eq!(
        Error::LengthMismatch { samples: 2, grad_values: 3 }.to_string(),
        "2 samples but 3 upstream gradients"
    );
}

/// `from_covariance` inverts `covariance`: the Cholesky factor of L·Lᵀ is L, to within the
/// perturbation bound of the factorization, 2·D·κ(Σ)·u relative (κ(Σ) = κ(L)², Sun 1991), with
/// κ(L) taken as s_max/s_min from the crate's SVD.
#[test]
fn from_covariance_recovers_the_cholesky_factor() {
    let scale_tril = scale_tril_12::<f64>();
    let loc = SVector::<f64, 12>::from_fn(|i, _| i as f64 - 5.5);
    let covariance = OmtMvn::new(loc, scale_tril).unwrap().covariance();
    let mvn = OmtMvn::from_covariance(loc, covariance).unwrap();
    let svd = omt_mvn::linalg::LeftSvd::new(&scale_tril).unwrap();
    let kappa = svd.singular_values[0] / svd.singular_values[11];
    let bound = 2.0 * 12.0 * kappa * kappa * f64::UNIT_ROUNDOFF;
    let error = (mvn.scale_tril() - scale_tril).norm_squared().sqrt();
    assert!(error <= bound * scale_tril.norm_squared().sqrt(), "{error:e} against {bound:e}");
    assert_eq!(mvn.loc(), &loc);
    assert_eq!(
        mvn.scale_tril().upper_triangle(),
        SMatrix::from_diagonal(&mvn.scale_tril().diagonal())
    );
}

#[test]
fn from_covariance_names_what_is_wrong() {
    let good = Matrix3::new(4.0, 2.0, 0.0, 2.0, 5.0, 1.0, 0.0, 1.0, 3.0);
    assert!(OmtMvn::from_covariance(Vector3::zeros(), good).is_ok());
    let mut asymmetric = good;
    asymmetric[(2, 1)] = 1.5;
    assert_eq!(
        OmtMvn::from_covariance(Vector3::zeros(), asymmetric),
        Err(Error::NonSymmetricCovariance { row: 2, col: 1 })
    );
    let mut non_finite = good;
    non_finite[(1, 0)] = f64::NAN;
    assert_eq!(
        OmtMvn::from_covariance(Vector3::zeros(), non_finite),
        Err(Error::NonFiniteCovariance { row: 1, col: 0 })
    );
    let mut indefinite = good;
    indefinite[(2, 2)] = -1.0;
    assert_eq!(
        OmtMvn::from_covariance(Vector3::zeros(), indefinite),
        Err(Error::NotPositiveDefinite { index: 2 })
    );
    assert_eq!(
        OmtMvn::from_covariance(Vector3::new(0.0, f64::INFINITY, 0.0), good),
        Err(Error::NonFiniteLoc { index: 1 })
    );
}

#[test]
fn covariance_and_precision_are_inverse_of_each_other() {
    let mvn = OmtMvn::new(Vector3::zeros(), example_scale_tril()).unwrap();
    let covariance = mvn.covariance();
    assert_eq!(covariance, example_scale_tril() * example_scale_tril().transpose());
    let product = covariance * mvn.precision();
    assert!((product - Matrix3::identity()).abs().max() < 1e-14);
    assert_eq!(mvn.precision(), mvn.precision().transpose());
}

#[test]
fn one_dimensional_density_is_the_textbook_normal() {
    let mvn = OmtMvn::new(Vector1::new(1.5), Matrix1::new(2.0)).unwrap();
    let x = Vector1::new(4.0);
    let expected =
        -0.5 * (2.5f64 / 2.0).powi(2) - 2.0f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    assert!((mvn.log_prob(&x) - expected).abs() < 1e-15);
    let entropy = 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E * 4.0).ln();
    assert!((mvn.entropy() - entropy).abs() < 1e-15);
    assert_eq!(mvn.entropy_grad_scale_tril(), Matrix1::new(0.5));
}

#[test]
fn log_prob_of_a_non_finite_point_is_not_finite() {
    let mvn = OmtMvn::new(Vector3::zeros(), example_scale_tril()).unwrap();
    assert!(!mvn.log_prob(&Vector3::new(0.0, f64::NAN, 0.0)).is_finite());
}

/// Central differences of `log_prob` agree with `log_prob_grads` (an independent check of the
/// analytic formula).
fn log_prob_grads_match_finite_differences<const D: usize>(scale_tril: SMatrix<f64, D, D>) {
    let loc = SVector::<f64, D>::from_fn(|i, _| 0.1 * i as f64 - 0.2);
    let x = SVector::<f64, D>::from_fn(|i, _| 0.3 - 0.07 * i as f64);
    let mvn = OmtMvn::new(loc, scale_tril).unwrap();
    let grads = mvn.log_prob_grads(&x);
    let step = 1e-6;
    for i in 0..D {
        let mut up = x;
        up[i] += step;
        let mut down = x;
        down[i] -= step;
        let numeric = (mvn.log_prob(&up) - mvn.log_prob(&down)) / (2.0 * step);
        assert!((numeric - grads.x[i]).abs() < 1e-6, "x[{i}]");
        assert_eq!(grads.loc[i], -grads.x[i]);
        for j in 0..=i {
            let mut plus = scale_tril;
            plus[(i, j)] += step;
            let mut minus = scale_tril;
            minus[(i, j)] -= step;
            let numeric = (OmtMvn::new(loc, plus).unwrap().log_prob(&x)
                - OmtMvn::new(loc, minus).unwrap().log_prob(&x))
                / (2.0 * step);
            assert!((numeric - grads.scale_tril[(i, j)]).abs() < 1e-6, "L[{i}][{j}]");
        }
        for j in i + 1..D {
            assert_eq!(grads.scale_tril[(i, j)], 0.0);
        }
    }
}

#[test]
fn log_prob_grads_are_the_derivatives_of_log_prob() {
    log_prob_grads_match_finite_differences(example_scale_tril());
    log_prob_grads_match_finite_differences(Matrix1::new(0.7));
    log_prob_grads_match_finite_differences(scale_tril_12::<f64>());
}

#[test]
fn entropy_grad_is_the_derivative_of_entropy() {
    let mvn = OmtMvn::new(Vector3::zeros(), example_scale_tril()).unwrap();
    let grad = mvn.entropy_grad_scale_tril();
    for i in 0..3 {
        let mut plus = example_scale_tril();
        plus[(i, i)] += 1e-6;
        let numeric =
            (OmtMvn::new(Vector3::zeros(), plus).unwrap().entropy() - mvn.entropy()) / 1e-6;
        assert!((numeric - grad[(i, i)]).abs() < 1e-5);
    }
    assert_eq!(grad - Matrix3::from_diagonal(&grad.diagonal()), Matrix3::zeros());
}

#[test]
fn reparameterize_is_loc_plus_scale_tril_times_noise() {
    let mvn = OmtMvn::new(Vector3::new(1.0, -1.0, 0.5), example_scale_tril()).unwrap();
    let noise = Vector3::new(0.3, -0.2, 1.1);
    let sample = mvn.reparameterize(noise);
    assert_eq!(sample.noise, noise);
    assert_eq!(sample.value, mvn.loc() + example_scale_tril() * noise);
}

fn sampling_is_reproducible_and_consistent<T: Real, const D: usize>(scale_tril: SMatrix<T, D, D>) {
    let mvn = OmtMvn::new(SVector::<T, D>::zeros(), scale_tril).unwrap();
    let one_by_one: Vec<Sample<T, D>> = {
        let mut rng = Pcg64Mcg::seed_from_u64(99);
        (0..16).map(|_| mvn.rsample(&mut rng)).collect()
    };
    let mut into = [mvn.reparameterize(SVector::zeros()); 16];
    mvn.rsample_into(&mut Pcg64Mcg::seed_from_u64(99), &mut into);
    let array: [Sample<T, D>; 16] = mvn.rsample_array(&mut Pcg64Mcg::seed_from_u64(99));
    let mut extended: HeaplessVec<Sample<T, D>, 16> = HeaplessVec::new();
    mvn.rsample_extend(&mut Pcg64Mcg::seed_from_u64(99), &mut extended, 16).unwrap();
    assert_eq!(one_by_one.as_slice(), &into);
    assert_eq!(one_by_one.as_slice(), &array);
    assert_eq!(one_by_one.as_slice(), extended.as_slice());
    for sample in &one_by_one {
        assert_eq!(sample.value, mvn.reparameterize(sample.noise).value);
    }
}

#[test]
fn all_sampling_entry_points_draw_the_same_stream() {
    sampling_is_reproducible_and_consistent::<f64, 3>(example_scale_tril());
    sampling_is_reproducible_and_consistent::<f32, 3>(example_scale_tril().cast());
    sampling_is_reproducible_and_consistent::<f64, 1>(Matrix1::new(3.0));
    sampling_is_reproducible_and_consistent::<f32, 1>(Matrix1::new(3.0));
    sampling_is_reproducible_and_consistent::<f64, 12>(scale_tril_12());
    sampling_is_reproducible_and_consistent::<f32, 12>(scale_tril_12());
}

#[test]
fn rsample_extend_refuses_more_than_the_capacity_left() {
    let mvn = OmtMvn::new(Vector3::<f32>::zeros(), Matrix3::identity()).unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let mut batch: HeaplessVec<Sample<f32, 3>, 8> = HeaplessVec::new();
    mvn.rsample_extend(&mut rng, &mut batch, 5).unwrap();
    let err = mvn.rsample_extend(&mut rng, &mut batch, 4).unwrap_err();
    assert_eq!(err, Error::CapacityExceeded { requested: 4, available: 3 });
    assert_eq!(batch.len(), 5);
}

/// Sample mean and covariance of rsample agree with loc and L·Lᵀ (z-scores below 6, entry by
/// entry: the sample covariance entry (a,b) has variance (Σ_aa·Σ_bb + Σ_ab²)/n).
fn moments_match<T: Real, const D: usize>(scale_tril: SMatrix<T, D, D>) {
    let loc = SVector::<T, D>::from_fn(|i, _| T::from_f64_rounded(0.5 - 0.1 * i as f64));
    let mvn = OmtMvn::new(loc, scale_tril).unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(2024);
    let n = 200_000;
    let mut sum = SVector::<f64, D>::zeros();
    let mut outer = SMatrix::<f64, D, D>::zeros();
    for _ in 0..n {
        let x = mvn.rsample(&mut rng).value.map(|v| v.to_f64()) - loc.map(|v| v.to_f64());
        sum += x;
        outer += x * x.transpose();
    }
    let nf = n as f64;
    let covariance = mvn.covariance().map(|v| v.to_f64());
    let mean = sum / nf;
    let sample_covariance = outer / nf - mean * mean.transpose();
    for a in 0..D {
        assert!(mean[a].abs() / (covariance[(a, a)] / nf).sqrt() < 6.0, "mean[{a}]");
        for b in 0..D {
            let sd = ((covariance[(a, a)] * covariance[(b, b)] + covariance[(a, b)].powi(2)) / nf)
                .sqrt();
            let z = (sample_covariance[(a, b)] - covariance[(a, b)]) / sd;
            assert!(z.abs() < 6.0, "cov[{a}][{b}] z = {z}");
        }
    }
}

#[test]
fn rsample_has_the_right_mean_and_covariance() {
    moments_match::<f64, 3>(example_scale_tril());
    moments_match::<f32, 3>(example_scale_tril().cast());
    moments_match::<f64, 1>(Matrix1::new(0.25));
    moments_match::<f32, 12>(scale_tril_12());
}
