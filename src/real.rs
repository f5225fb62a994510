//! The crate's one float bound, [`Real`], implemented for `f32` and `f64`.
//!
//! Every transcendental function the crate evaluates goes through this trait, and every one of
//! them calls the [`libm`] crate. That is what makes results bit-identical across platforms: the
//! `sqrt`/`ln`/`exp` methods that `nalgebra` (through `simba` and `num-traits`) provides switch to
//! the platform's math library as soon as any crate in a build enables their `std` feature, and the
//! platform's `ln` and `exp` differ in the last bit between x86_64 glibc and a Cortex-M. The method
//! names here are deliberately distinct from `RealField`'s so that call sites are never ambiguous.

use nalgebra::RealField;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar the crate computes in: `f32` or `f64` (sealed).
///
/// It is `nalgebra::RealField + Copy` plus a handful of operations, each implemented with
/// [`libm`] (or exact bit manipulation) so that the same inputs give the same bits on every
/// target. Users never implement it; it exists so that `OmtMvn<T, D>` has one readable bound.
///
/// # Example
/// ```
/// use omt_mvn::Real;
/// fn half_log_two_pi<T: Real>() -> T {
///     T::from_f64_rounded(0.5) * (T::from_f64_rounded(2.0) * T::pi()).libm_ln()
/// }
/// assert!((half_log_two_pi::<f64>() - 0.918_938_533_204_672_7).abs() < 1e-15);
/// ```
pub trait Real: RealField + Copy + Default + sealed::Sealed {
    /// 0, as a constant (usable where `zero()` is not, such as in other constants).
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// ½.
    const HALF: Self;
    /// ¼.
    const QUARTER: Self;
    /// The machine epsilon ε: the gap between 1 and the next larger float (2⁻²³ or 2⁻⁵²).
    const EPSILON: Self;
    /// The unit roundoff u = ε/2: the largest relative error of one correctly rounded operation.
    const UNIT_ROUNDOFF: Self;
    /// The smallest positive normal number.
    const MIN_POSITIVE: Self;
    /// The largest finite number.
    const MAX: Self;
    /// −∞.
    const NEG_INFINITY: Self;
    /// A quiet NaN.
    const NAN: Self;

    /// Converts from `f64`, rounding to nearest (exact for `f64`).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(f32::from_f64_rounded(0.1), 0.1_f32);
    /// assert_eq!(f64::from_f64_rounded(0.1), 0.1);
    /// ```
    fn from_f64_rounded(value: f64) -> Self;
    /// Converts to `f64` (exact for both types).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(0.1_f32.to_f64(), f64::from(0.1_f32));
    /// ```
    fn to_f64(self) -> f64;
    /// Converts a count, rounding to nearest.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(f64::from_count(12), 12.0);
    /// assert_eq!(f32::from_count(16_777_217), 16_777_216.0); // 2²⁴ + 1 rounds to even
    /// ```
    fn from_count(value: usize) -> Self;
    /// `true` when the value is neither NaN nor ±∞.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert!(1e308_f64.is_finite_value());
    /// assert!(!(f64::NAN).is_finite_value() && !(f32::INFINITY).is_finite_value());
    /// ```
    fn is_finite_value(self) -> bool;
    /// The raw IEEE-754 bits, widened to `u64` (for digests and golden tests).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(1.0_f32.to_bits_u64(), 0x3f80_0000);
    /// assert_eq!(1.0_f64.to_bits_u64(), 0x3ff0_0000_0000_0000);
    /// ```
    fn to_bits_u64(self) -> u64;

    /// √x, correctly rounded (`libm::sqrt`/`libm::sqrtf`).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(2.0_f64.libm_sqrt(), core::f64::consts::SQRT_2);
    /// ```
    fn libm_sqrt(self) -> Self;
    /// The natural logarithm ln x (`libm::log`/`libm::logf`).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(1.0_f64.libm_ln(), 0.0);
    /// assert!((core::f64::consts::E.libm_ln() - 1.0).abs() <= f64::EPSILON);
    /// ```
    fn libm_ln(self) -> Self;
    /// The exponential eˣ (`libm::exp`/`libm::expf`).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(0.0_f32.libm_exp(), 1.0);
    /// assert!((1.0_f64.libm_exp() - core::f64::consts::E).abs() <= 2.0 * f64::EPSILON);
    /// ```
    fn libm_exp(self) -> Self;

    /// ln(1 + x), accurate for small x ([`libm::log1p`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(1e-20_f64.libm_ln_1p(), 1e-20);
    /// ```
    fn libm_ln_1p(self) -> Self;

    /// eˣ − 1, accurate for small x ([`libm::expm1`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(1e-20_f64.libm_exp_m1(), 1e-20);
    /// ```
    fn libm_exp_m1(self) -> Self;

    /// selfᵉˣᵖᵒⁿᵉⁿᵗ ([`libm::pow`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(0.5_f64.libm_pow(3.0), 0.125);
    /// ```
    fn libm_pow(self, exponent: Self) -> Self;

    /// The binary exponent e with |x| = m·2ᵉ, m ∈ [0.5, 1) (`libm::frexp`); 0 for zero and
    /// non-finite values.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(0.75_f64.binary_exponent(), 0);
    /// assert_eq!((-8.0_f32).binary_exponent(), 4);
    /// assert_eq!(f64::NAN.binary_exponent(), 0);
    /// ```
    fn binary_exponent(self) -> i32;
    /// x·2ᵏ computed exactly unless the result over- or underflows (`libm::scalbn`).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Real;
    /// assert_eq!(3.0_f64.scale_by_power_of_two(-2), 0.75);
    /// assert_eq!(1.0_f32.scale_by_power_of_two(200), f32::INFINITY);
    /// ```
    fn scale_by_power_of_two(self, k: i32) -> Self;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
    const QUARTER: Self = 0.25;
    const EPSILON: Self = f64::EPSILON;
    const UNIT_ROUNDOFF: Self = f64::EPSILON / 2.0;
    const MIN_POSITIVE: Self = f64::MIN_POSITIVE;
    const MAX: Self = f64::MAX;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const NAN: Self = f64::NAN;

    fn from_f64_rounded(value: f64) -> Self {
        value
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_count(value: usize) -> Self {
        value as f64
    }
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
    fn to_bits_u64(self) -> u64 {
        self.to_bits()
    }
    fn libm_sqrt(self) -> Self {
        libm::sqrt(self)
    }
    fn libm_ln(self) -> Self {
        libm::log(self)
    }
    fn libm_exp(self) -> Self {
        libm::exp(self)
    }
    fn libm_ln_1p(self) -> Self {
        libm::log1p(self)
    }
    fn libm_exp_m1(self) -> Self {
        libm::expm1(self)
    }
    fn libm_pow(self, exponent: Self) -> Self {
        libm::pow(self, exponent)
    }
    fn binary_exponent(self) -> i32 {
        if self.is_finite() { libm::frexp(self).1 } else { 0 }
    }
    fn scale_by_power_of_two(self, k: i32) -> Self {
        libm::scalbn(self, k)
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
    const QUARTER: Self = 0.25;
    const EPSILON: Self = f32::EPSILON;
    const UNIT_ROUNDOFF: Self = f32::EPSILON / 2.0;
    const MIN_POSITIVE: Self = f32::MIN_POSITIVE;
    const MAX: Self = f32::MAX;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const NAN: Self = f32::NAN;

    fn from_f64_rounded(value: f64) -> Self {
        value as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_count(value: usize) -> Self {
        value as f32
    }
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
    fn to_bits_u64(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn libm_sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    fn libm_ln(self) -> Self {
        libm::logf(self)
    }
    fn libm_exp(self) -> Self {
        libm::expf(self)
    }
    fn libm_ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    fn libm_exp_m1(self) -> Self {
        libm::expm1f(self)
    }
    fn libm_pow(self, exponent: Self) -> Self {
        libm::powf(self, exponent)
    }
    fn binary_exponent(self) -> i32 {
        if self.is_finite() { libm::frexpf(self).1 } else { 0 }
    }
    fn scale_by_power_of_two(self, k: i32) -> Self {
        libm::scalbnf(self, k)
    }
}
