//! Inputs the fuzzers found, kept as named regression tests (see fuzz/README in the main README).

use omt_mvn::OmtMvn;
use omt_mvn::linalg::Svd;
use omt_mvn::nalgebra::{Matrix1, Matrix3, Vector1};

/// svd: a matrix whose only singular value, √2·2⁻¹⁴⁹, is itself subnormal. The decomposition is
/// right in the scaled domain; the returned value is that number rounded to the subnormal grid.
/// (The fuzz property was wrong, not the SVD: it now allows that rounding.)
#[test]
fn svd_of_a_matrix_with_a_subnormal_singular_value() {
    let tiny = f32::from_bits(1); // 2⁻¹⁴⁹
    let a = Matrix3::new(-tiny, 0.0, 0.0, -tiny, 0.0, 0.0, 0.0, 0.0, 0.0);
    let svd = Svd::new(&a).unwrap();
    assert_eq!(svd.singular_values[0], tiny); // √2·2⁻¹⁴⁹ rounds to 2⁻¹⁴⁹
    assert_eq!(svd.singular_values[1], 0.0);
    for row in 0..2 {
        assert!((svd.u[(row, 0)].abs() - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }
    assert!((svd.u.transpose() * svd.u - Matrix3::identity()).abs().max() < 1e-6);
}

/// vjp: with D = 1 and A = Σ g·ε near f64::MAX, Y = (B + B)/2 overflowed to ∞ and the OMT path
/// returned `Error::Overflow` where the reparam estimator (which it must equal) was finite. Y is
/// now a weighted sum whose diagonal weights are exactly ½ and ½.
#[test]
fn one_dimensional_vjp_near_the_top_of_the_float_range_equals_reparam() {
    let mvn = OmtMvn::new(Vector1::new(0.0), Matrix1::new(1.0)).unwrap();
    let sample = mvn.reparameterize(Vector1::new(-1.7976e308));
    let grad_value = Vector1::new(-0.9986572265625);
    let omt = mvn.vjp(&[sample], &[grad_value]);
    let reparam = mvn.reparam_vjp(&[sample], &[grad_value]);
    assert!(omt.is_ok(), "{omt:?}");
    assert_eq!(omt, reparam);
}

/// vjp: with D = 1 and a subnormal A, Y = ½·B + ½·B rounded away a bit, so OMT differed from the
/// reparam estimator in the last place. The diagonal of Y is now B itself.
#[test]
fn one_dimensional_vjp_with_a_subnormal_outer_product_equals_reparam() {
    let mvn = OmtMvn::new(Vector1::new(0.0), Matrix1::new(1.0)).unwrap();
    let sample = mvn.reparameterize(Vector1::new(-8.289_181e-317));
    let grad_value = Vector1::new(1.0);
    let omt = mvn.vjp(&[sample], &[grad_value]).unwrap();
    assert_eq!(Ok(omt), mvn.reparam_vjp(&[sample], &[grad_value]));
    assert_eq!(omt.scale_tril[(0, 0)], -8.289_181e-317);
}

/// svd: two columns ~10⁻¹¹¹ of the third, so after scaling their squared norms' product
/// underflows and their rotations take the small-range path, where γ² and α·β underflow to zero.
/// The convergence certificate (which skips the confirming sweep) read 0/0 as "no mixing" and
/// stopped with U off orthogonal; rotations outside the normal range now end the tail.
#[test]
fn svd_does_not_certify_convergence_from_underflowed_rotations() {
    // The fuzzer's input, column by column.
    let a = Matrix3::new(
        2.0,
        2.0,
        3.97509765625,
        -5e-324,
        2.0,
        0.0010262727737426758,
        2.2250738585072014e-308,
        -1.1648771210558213e111,
        0.5,
    );
    let svd = Svd::new(&a).unwrap();
    let bound = 8.0 * 3.0 * f64::EPSILON;
    assert!((svd.u.transpose() * svd.u - Matrix3::identity()).abs().max() <= bound);
    assert!((svd.v.transpose() * svd.v - Matrix3::identity()).abs().max() <= bound);
}
