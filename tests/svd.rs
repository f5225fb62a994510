//! The Jacobi SVD: decomposition properties on random, structured and extreme matrices.

use omt_mvn::linalg::{LeftSvd, Svd};
use omt_mvn::nalgebra::SMatrix;
use omt_mvn::rand_core::{Rng, SeedableRng};
use omt_mvn::{Error, Real};
use rand_pcg::Pcg64Mcg;

/// Orthogonality and reconstruction are held to this many D·ε (‖A‖-relative); one-sided Jacobi
/// attains O(D·ε) for both.
const BOUND_IN_D_EPSILON: f64 = 4.0;

fn max_abs<T: Real, const D: usize>(m: &SMatrix<T, D, D>) -> f64 {
    m.iter().fold(0.0, |acc, x| acc.max(x.to_f64().abs()))
}

fn check_decomposition<T: Real, const D: usize>(a: &SMatrix<T, D, D>) {
    let svd = Svd::new(a).unwrap_or_else(|e| panic!("{e} for {a}"));
    let eps = T::EPSILON.to_f64();
    let bound = BOUND_IN_D_EPSILON * D as f64 * eps;
    let identity = SMatrix::<T, D, D>::identity();
    assert!(max_abs(&(svd.u.transpose() * svd.u - identity)) <= bound, "UᵀU for {a}");
    assert!(max_abs(&(svd.v.transpose() * svd.v - identity)) <= bound, "VᵀV for {a}");
    let norm = svd.singular_values[0].to_f64();
    let residual = max_abs(&(svd.recompose() - a));
    assert!(residual <= bound * norm.max(f64::MIN_POSITIVE), "U·S·Vᵀ off by {residual:e} for {a}");
    for pair in svd.singular_values.as_slice().windows(2) {
        assert!(pair[0] >= pair[1] && pair[1] >= T::zero());
    }
    let left = LeftSvd::new(a).unwrap();
    assert_eq!(left.singular_values, svd.singular_values);
}

fn random_matrix<T: Real, const D: usize>(rng: &mut Pcg64Mcg) -> SMatrix<T, D, D> {
    SMatrix::from_fn(|_, _| {
        T::from_f64_rounded((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
    })
}

#[test]
fn random_matrices_decompose_in_f64_and_f32() {
    let mut rng = Pcg64Mcg::seed_from_u64(5);
    for _ in 0..200 {
        check_decomposition::<f64, 2>(&random_matrix(&mut rng));
        check_decomposition::<f64, 5>(&random_matrix(&mut rng));
        check_decomposition::<f64, 16>(&random_matrix(&mut rng));
        check_decomposition::<f32, 3>(&random_matrix(&mut rng));
        check_decomposition::<f32, 8>(&random_matrix(&mut rng));
        check_decomposition::<f32, 16>(&random_matrix(&mut rng));
    }
}

#[test]
fn structured_matrices_decompose() {
    check_decomposition::<f64, 4>(&SMatrix::zeros());
    check_decomposition::<f64, 4>(&SMatrix::identity());
    check_decomposition::<f64, 4>(&SMatrix::from_element(1.0)); // rank one
    check_decomposition::<f64, 1>(&SMatrix::from_element(-3.0));
    check_decomposition::<f64, 5>(&SMatrix::from_diagonal_element(2.0)); // all repeated
    check_decomposition::<f32, 6>(&SMatrix::from_fn(|i, j| if i >= j { 1.0 } else { 0.0 }));
    check_decomposition::<f64, 3>(&SMatrix::from_fn(|i, j| if i == j { 0.0 } else { 1.0 }));
    // Graded: singular values from 1 to 1e-280, still relatively accurate.
    let graded =
        SMatrix::<f64, 6, 6>::from_fn(|i, j| if i >= j { 1e-56f64.powi(i as i32) } else { 0.0 });
    check_decomposition::<f64, 6>(&graded);
    // Rank deficient with a negligible column.
    let mut deficient = SMatrix::<f64, 3, 3>::identity();
    deficient[(2, 2)] = 1e-200;
    check_decomposition(&deficient);
}

#[test]
fn singular_values_of_a_diagonal_matrix_are_its_sorted_absolute_entries() {
    let a = SMatrix::<f64, 4, 4>::from_diagonal(&[3.0, -7.0, 0.5, 2.0].into());
    let svd = Svd::new(&a).unwrap();
    assert_eq!(svd.singular_values.as_slice(), &[7.0, 3.0, 2.0, 0.5]);
}

#[test]
fn graded_triangular_factor_has_relatively_accurate_singular_values() {
    // L = diag(1, 1e-8, 1e-16) plus small sub-diagonal coupling; σ are within a few ε of the
    // diagonal (perturbation of a graded matrix), a relative accuracy QR-based SVDs lose.
    let a = SMatrix::<f64, 3, 3>::new(1.0, 0.0, 0.0, 1e-9, 1e-8, 0.0, 0.0, 1e-17, 1e-16);
    let svd = Svd::new(&a).unwrap();
    let expected = [1.0, 1e-8, 1e-16];
    for (s, e) in svd.singular_values.iter().zip(expected) {
        assert!((s - e).abs() / e < 0.02, "{s} vs {e}");
    }
    let product: f64 = svd.singular_values.iter().product();
    assert!((product - 1e-24).abs() / 1e-24 < 1e-13, "det |L| = {product}");
}

#[test]
fn extreme_scales_neither_overflow_nor_underflow() {
    let mut rng = Pcg64Mcg::seed_from_u64(6);
    for exponent in [-300, -150, 0, 150, 300] {
        let base = random_matrix::<f64, 5>(&mut rng);
        let scaled = base * 10f64.powi(exponent);
        let a = Svd::new(&base).unwrap();
        let b = Svd::new(&scaled).unwrap();
        for (x, y) in a.singular_values.iter().zip(b.singular_values.iter()) {
            assert!((x * 10f64.powi(exponent) - y).abs() <= 1e-14 * y, "10^{exponent}");
        }
    }
    for exponent in [-30, 0, 30] {
        let base = random_matrix::<f32, 5>(&mut rng);
        let scaled = base * 10f32.powi(exponent);
        check_decomposition(&scaled);
    }
    check_decomposition::<f64, 3>(&SMatrix::from_element(f64::MAX / 8.0));
    check_decomposition::<f64, 3>(&SMatrix::from_element(f64::MIN_POSITIVE * 0.5)); // subnormal
}

#[test]
fn power_of_two_scaling_is_bit_exact() {
    let mut rng = Pcg64Mcg::seed_from_u64(8);
    let base = random_matrix::<f64, 7>(&mut rng);
    let reference = Svd::new(&base).unwrap();
    for k in [-1000, -60, 1, 77, 1000] {
        let svd = Svd::new(&base.map(|x| libm::scalbn(x, k))).unwrap();
        assert_eq!(svd.u, reference.u);
        assert_eq!(svd.v, reference.v);
        assert_eq!(svd.singular_values, reference.singular_values.map(|s| libm::scalbn(s, k)));
    }
}

#[test]
fn overflowing_singular_values_are_an_error_not_infinity() {
    let a = SMatrix::<f64, 3, 3>::from_element(f64::MAX);
    assert_eq!(Svd::new(&a).unwrap_err(), Error::Overflow);
}

#[test]
fn non_finite_entries_are_named() {
    let mut a = SMatrix::<f64, 3, 3>::identity();
    a[(1, 2)] = f64::NAN;
    assert_eq!(Svd::new(&a).unwrap_err(), Error::NonFiniteMatrix { row: 1, col: 2 });
    let mut b = SMatrix::<f32, 2, 2>::identity();
    b[(0, 0)] = f32::NEG_INFINITY;
    assert_eq!(LeftSvd::new(&b).unwrap_err(), Error::NonFiniteMatrix { row: 0, col: 0 });
}

#[test]
fn sweep_bound_is_generous_for_hard_inputs() {
    // Nearly repeated singular values and a Kahan-like triangular matrix converge far inside
    // the bound; MAX_SWEEPS only guards termination.
    let kahan = SMatrix::<f64, 16, 16>::from_fn(|i, j| {
        let (s, c) = (0.3f64.sin(), 0.3f64.cos());
        if i == j {
            s.powi(i as i32)
        } else if j > i {
            0.0
        } else {
            -c * s.powi(j as i32)
        }
    });
    check_decomposition(&kahan);
    check_decomposition(&kahan.transpose());
}

#[test]
fn a_sweep_bound_too_small_to_converge_is_a_typed_error() {
    let mut rng = Pcg64Mcg::seed_from_u64(9);
    let a = random_matrix::<f64, 8>(&mut rng);
    assert_eq!(Svd::with_max_sweeps(&a, 2), Err(Error::SvdNotConverged { sweeps: 2 }));
    assert_eq!(LeftSvd::with_max_sweeps(&a, 0), Err(Error::SvdNotConverged { sweeps: 0 }));
    let converged = Svd::with_max_sweeps(&a, 40).unwrap();
    assert!(converged.sweeps <= 12, "{} sweeps", converged.sweeps);
    assert_eq!(Svd::new(&a).unwrap(), converged);
}
