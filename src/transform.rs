//! Unconstrained parameterizations of a Cholesky factor, as Pyro's `constraints.lower_cholesky`
//! uses them: θ ∈ ℝ^{D×D} ↦ L lower-triangular with a positive diagonal.
//!
//! # Math
//! Both transforms keep θ's strictly lower triangle as it is, map its diagonal through a
//! positive function f, and ignore its upper triangle:
//!
//! ```text
//! Lᵢⱼ = θᵢⱼ (i > j),   Lᵢᵢ = f(θᵢᵢ),   Lᵢⱼ = 0 (i < j)
//! ∂ℓ/∂θᵢⱼ = ∂ℓ/∂Lᵢⱼ (i > j),   ∂ℓ/∂θᵢᵢ = f′(θᵢᵢ)·∂ℓ/∂Lᵢᵢ,   0 above the diagonal
//! ```
//!
//! - [`LowerCholesky`]: f = exp, f⁻¹ = ln (torch's `LowerCholeskyTransform`, what Pyro's
//!   `constraints.lower_cholesky` is transformed by).
//! - [`SoftplusLowerCholesky`]: f = softplus(θ) = ln(1 + eᶿ), f⁻¹(y) = y + ln(1 − e⁻ʸ),
//!   f′ = the logistic sigmoid (Pyro's `SoftplusLowerCholeskyTransform`). Its diagonal grows only
//!   linearly in θ, which keeps an optimizer's steps from multiplying L.
//!
//! Every function is evaluated in the form that neither overflows nor cancels for large |θ|,
//! through [`libm`], so results have the same bits on every target. torch's `softplus` returns θ
//! itself past θ = 20; this one returns the correctly rounded θ + ln(1 + e⁻ᶿ), which differs from
//! it there by less than e⁻²⁰ relative.
//!
//! # Example
//! ```
//! use omt_mvn::nalgebra::Matrix2;
//! use omt_mvn::{transform::*, Real};
//! let theta = Matrix2::new(0.0, 7.0, 0.5, 1.0); // the 7 above the diagonal is ignored
//! let scale_tril = LowerCholesky.forward(&theta);
//! assert_eq!(scale_tril, Matrix2::new(1.0, 0.0, 0.5, 1.0_f64.libm_exp()));
//! assert_eq!(LowerCholesky.inverse(&scale_tril)?, Matrix2::new(0.0, 0.0, 0.5, 1.0));
//! # Ok::<(), omt_mvn::Error>(())
//! ```

use crate::mvn::check_scale_tril;
use crate::{Error, Real};
use nalgebra::SMatrix;

/// A map from an unconstrained θ to a Cholesky factor L, which changes only the diagonal
/// (see the [module documentation](self)): implement the three scalar functions and get
/// `forward`, `inverse` and `vjp` on matrices.
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::Matrix2;
/// use omt_mvn::transform::*;
/// fn diagonal_after<Tr: ScaleTrilTransform>(transform: Tr) -> f64 {
///     transform.forward(&Matrix2::<f64>::zeros())[(0, 0)]
/// }
/// assert_eq!(diagonal_after(LowerCholesky), 1.0); // e⁰
/// assert_eq!(diagonal_after(SoftplusLowerCholesky), 2.0_f64.ln()); // ln(1 + e⁰)
/// ```
pub trait ScaleTrilTransform {
    /// f(θᵢᵢ): the diagonal entry of L, positive for every finite θᵢᵢ that does not underflow
    /// or overflow it.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::transform::*;
    /// assert_eq!(LowerCholesky.diagonal(0.0_f64), 1.0);
    /// ```
    fn diagonal<T: Real>(&self, theta: T) -> T;

    /// f⁻¹(Lᵢᵢ) for a positive finite Lᵢᵢ.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::transform::*;
    /// assert_eq!(LowerCholesky.diagonal_inverse(1.0_f64), 0.0);
    /// ```
    fn diagonal_inverse<T: Real>(&self, scale_diagonal: T) -> T;

    /// f′(θᵢᵢ).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::transform::*;
    /// assert_eq!(SoftplusLowerCholesky.diagonal_derivative(0.0_f64), 0.5);
    /// ```
    fn diagonal_derivative<T: Real>(&self, theta: T) -> T;

    /// L = forward(θ): θ's strictly lower triangle, f on the diagonal, zeros above it (θ's upper
    /// triangle is ignored).
    ///
    /// A θ whose diagonal overflows or underflows f gives an L that
    /// [`OmtMvn::new`](crate::OmtMvn::new) rejects with a typed error.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::Matrix2;
    /// use omt_mvn::transform::*;
    /// let scale_tril = SoftplusLowerCholesky.forward(&Matrix2::new(0.0, 1.0, -3.0, 40.0));
    /// assert_eq!(scale_tril[(0, 1)], 0.0);
    /// assert_eq!(scale_tril[(1, 0)], -3.0);
    /// assert_eq!(scale_tril[(1, 1)], 40.0); // softplus(40) = 40 + 4·10⁻¹⁸
    /// ```
    fn forward<T: Real, const D: usize>(&self, theta: &SMatrix<T, D, D>) -> SMatrix<T, D, D> {
        SMatrix::from_fn(|row, col| match row.cmp(&col) {
            core::cmp::Ordering::Greater => theta[(row, col)],
            core::cmp::Ordering::Equal => self.diagonal(theta[(row, col)]),
            core::cmp::Ordering::Less => T::ZERO,
        })
    }

    /// θ = inverse(L), zero above the diagonal: `forward(inverse(L)) = L` up to the rounding of f
    /// and f⁻¹ on the diagonal.
    ///
    /// # Errors
    /// As [`OmtMvn::new`](crate::OmtMvn::new) for `scale_tril`:
    /// [`Error::NonFiniteScaleTril`], [`Error::NotLowerTriangular`],
    /// [`Error::NonPositiveDiagonal`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::Matrix2;
    /// use omt_mvn::{transform::*, Error};
    /// let theta = LowerCholesky.inverse(&Matrix2::new(1.0, 0.0, 0.25, 1.0))?;
    /// assert_eq!(theta, Matrix2::new(0.0, 0.0, 0.25, 0.0));
    /// let bad = Matrix2::new(1.0, 0.0, 0.25, -1.0);
    /// assert_eq!(LowerCholesky.inverse(&bad), Err(Error::NonPositiveDiagonal { index: 1 }));
    /// # Ok::<(), Error>(())
    /// ```
    fn inverse<T: Real, const D: usize>(
        &self,
        scale_tril: &SMatrix<T, D, D>,
    ) -> Result<SMatrix<T, D, D>, Error> {
        check_scale_tril(scale_tril)?;
        Ok(SMatrix::from_fn(|row, col| {
            let entry = scale_tril[(row, col)];
            if row == col { self.diagonal_inverse(entry) } else { entry }
        }))
    }

    /// ∂ℓ/∂θ from ∂ℓ/∂L = `grad_scale_tril`: the lower triangle passed through, the diagonal
    /// multiplied by f′(θᵢᵢ), zeros above the diagonal (whatever `grad_scale_tril` holds there).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::Matrix2;
    /// use omt_mvn::transform::*;
    /// let theta = Matrix2::new(0.0, 0.0, 0.3, 0.0);
    /// let grad_theta = LowerCholesky.vjp(&theta, &Matrix2::new(2.0, 5.0, 1.0, 3.0));
    /// assert_eq!(grad_theta, Matrix2::new(2.0, 0.0, 1.0, 3.0)); // e⁰ = 1 on the diagonal
    /// ```
    fn vjp<T: Real, const D: usize>(
        &self,
        theta: &SMatrix<T, D, D>,
        grad_scale_tril: &SMatrix<T, D, D>,
    ) -> SMatrix<T, D, D> {
        SMatrix::from_fn(|row, col| match row.cmp(&col) {
            core::cmp::Ordering::Greater => grad_scale_tril[(row, col)],
            core::cmp::Ordering::Equal => {
                grad_scale_tril[(row, col)] * self.diagonal_derivative(theta[(row, col)])
            }
            core::cmp::Ordering::Less => T::ZERO,
        })
    }
}

/// θ ↦ L with diagonal exp(θᵢᵢ): torch's `LowerCholeskyTransform`, the transform behind Pyro's
/// `constraints.lower_cholesky`.
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::Matrix3;
/// use omt_mvn::transform::*;
/// let scale_tril = LowerCholesky.forward(&Matrix3::<f64>::zeros());
/// assert_eq!(scale_tril, Matrix3::identity()); // θ = 0 is the standard normal's factor
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LowerCholesky;

impl ScaleTrilTransform for LowerCholesky {
    fn diagonal<T: Real>(&self, theta: T) -> T {
        theta.libm_exp()
    }

    fn diagonal_inverse<T: Real>(&self, scale_diagonal: T) -> T {
        scale_diagonal.libm_ln()
    }

    fn diagonal_derivative<T: Real>(&self, theta: T) -> T {
        theta.libm_exp()
    }
}

/// θ ↦ L with diagonal softplus(θᵢᵢ) = ln(1 + e^θᵢᵢ): Pyro's `SoftplusLowerCholeskyTransform`.
///
/// # Notes
/// softplus(θ) is computed as θ + ln(1 + e⁻ᶿ) for θ > 0 and ln(1 + eᶿ) otherwise, its inverse
/// as y + ln(−(e⁻ʸ − 1)), and its derivative, the logistic sigmoid, as 1/(1 + e⁻ᶿ) for θ ≥ 0
/// and eᶿ/(1 + eᶿ) otherwise: no exponential of a large positive number is ever taken.
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::Matrix2;
/// use omt_mvn::transform::*;
/// let theta = SoftplusLowerCholesky.inverse(&Matrix2::new(1.0, 0.0, 0.5, 2.0))?;
/// let back = SoftplusLowerCholesky.forward(&theta);
/// assert!((back - Matrix2::new(1.0, 0.0, 0.5, 2.0)).abs().max() <= 4.0 * f64::EPSILON);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SoftplusLowerCholesky;

impl ScaleTrilTransform for SoftplusLowerCholesky {
    fn diagonal<T: Real>(&self, theta: T) -> T {
        if theta > T::ZERO {
            theta + (-theta).libm_exp().libm_ln_1p()
        } else {
            theta.libm_exp().libm_ln_1p()
        }
    }

    fn diagonal_inverse<T: Real>(&self, scale_diagonal: T) -> T {
        scale_diagonal + (-(-scale_diagonal).libm_exp_m1()).libm_ln()
    }

    fn diagonal_derivative<T: Real>(&self, theta: T) -> T {
        if theta >= T::ZERO {
            T::ONE / (T::ONE + (-theta).libm_exp())
        } else {
            let exponential = theta.libm_exp();
            exponential / (T::ONE + exponential)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Matrix3;

    #[test]
    fn softplus_is_safe_at_both_ends() {
        let transform = SoftplusLowerCholesky;
        assert_eq!(transform.diagonal(1000.0_f64), 1000.0);
        assert_eq!(transform.diagonal(-800.0_f64), 0.0); // underflows, as it must
        assert!(transform.diagonal(-700.0_f64) > 0.0);
        assert_eq!(transform.diagonal_derivative(-1000.0_f64), 0.0);
        assert_eq!(transform.diagonal_derivative(1000.0_f64), 1.0);
        assert!(transform.diagonal_derivative(-700.0_f64) > 0.0);
        assert_eq!(transform.diagonal_inverse(1000.0_f64), 1000.0);
        assert!((transform.diagonal_inverse(1e-300_f64) - 1e-300_f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_upper_triangle_never_leaks() {
        let theta = Matrix3::from_fn(|i, j| (i * 3 + j) as f32 - 4.0);
        for scale_tril in [LowerCholesky.forward(&theta), SoftplusLowerCholesky.forward(&theta)] {
            assert_eq!(scale_tril.upper_triangle(), Matrix3::from_diagonal(&scale_tril.diagonal()));
        }
        let grad = LowerCholesky.vjp(&theta, &Matrix3::repeat(1.0));
        assert_eq!(grad.upper_triangle(), Matrix3::from_diagonal(&grad.diagonal()));
    }
}
