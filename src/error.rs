//! The crate's error type: one variant per way an input or a computation can fail.

use core::fmt;

/// Why a constructor, a decomposition or a gradient computation refused its input.
///
/// Every fallible function in the crate returns this type; none of them panics. Variants that
/// concern one entry name it (zero-based `row`/`col`, or `index` for vectors).
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Error, OmtMvn};
/// let upper = Matrix2::new(1.0, 0.5, 0.0, 1.0); // a non-zero entry above the diagonal
/// let err = OmtMvn::new(Vector2::zeros(), upper).unwrap_err();
/// assert_eq!(err, Error::NotLowerTriangular { row: 0, col: 1 });
/// assert_eq!(err.to_string(), "scale_tril[0][1] is above the diagonal but not zero");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// `loc[index]` is NaN or infinite.
    NonFiniteLoc {
        /// The offending entry.
        index: usize,
    },
    /// `scale_tril[row][col]` is NaN or infinite.
    NonFiniteScaleTril {
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
    },
    /// `scale_tril[row][col]` lies strictly above the diagonal and is not zero.
    NotLowerTriangular {
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
    },
    /// `scale_tril[index][index]` is zero or negative (a Cholesky factor has a positive diagonal).
    NonPositiveDiagonal {
        /// Row and column of the offending diagonal entry.
        index: usize,
    },
    /// The samples and the upstream gradients of a backward pass differ in number.
    LengthMismatch {
        /// Number of samples.
        samples: usize,
        /// Number of upstream gradients.
        grad_values: usize,
    },
    /// A sample's noise or an upstream gradient is NaN or infinite, or their products overflowed.
    NonFiniteBatch,
    /// Two accumulators of different distributions were merged.
    AccumulatorMismatch,
    /// A matrix handed to a decomposition has a NaN or infinite entry.
    NonFiniteMatrix {
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },
    /// The Jacobi SVD had not converged after its bounded number of sweeps.
    SvdNotConverged {
        /// The number of sweeps performed (the bound).
        sweeps: usize,
    },
    /// `scale_tril` is too ill-conditioned for the OMT gradient in this precision: its condition
    /// number κ(L), estimated from its singular values, reaches
    /// [`KAPPA_U_LIMIT`](crate::omt::KAPPA_U_LIMIT)/u (about 9.0·10¹³ in `f64`, 1.7·10⁵ in
    /// `f32`), where at most a digit of the gradient could be trusted; or the computed gradient
    /// broke the bound ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u) that every exact one obeys (up to underflow).
    /// The plain estimator [`OmtMvn::reparam_vjp`](crate::OmtMvn::reparam_vjp) needs no
    /// decomposition and is exact for every L.
    IllConditioned,
    /// A result does not fit the floating-point range (it would be ±∞).
    Overflow,
    /// `covariance[row][col]` is NaN or infinite.
    NonFiniteCovariance {
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },
    /// `covariance[row][col]` differs from `covariance[col][row]`: a covariance is symmetric.
    NonSymmetricCovariance {
        /// Row of the first offending entry (below the diagonal).
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },
    /// The covariance is not positive definite: its Cholesky factorization met a pivot that is
    /// not positive (or not finite) at `index`.
    NotPositiveDefinite {
        /// The row and column of the failing pivot.
        index: usize,
    },
    /// An optimizer was handed a NaN or infinite gradient entry (the step was not taken).
    NonFiniteGradient {
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },
    /// The model closure of an SVI step returned a NaN or infinite log density or score.
    NonFiniteModel,
    /// An SVI step was asked to draw no samples.
    NoParticles,
    /// A fixed-capacity output (a `heapless::Vec`) has no room for the requested count.
    CapacityExceeded {
        /// The count asked for.
        requested: usize,
        /// The room that was left.
        available: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NonFiniteLoc { index } => write!(f, "loc[{index}] is not finite"),
            Error::NonFiniteScaleTril { row, col } => {
                write!(f, "scale_tril[{row}][{col}] is not finite")
            }
            Error::NotLowerTriangular { row, col } => {
                write!(f, "scale_tril[{row}][{col}] is above the diagonal but not zero")
            }
            Error::NonPositiveDiagonal { index } => {
                write!(f, "scale_tril[{index}][{index}] is not positive")
            }
            Error::LengthMismatch { samples, grad_values } => write!(
                f,
                "{samples} samples but {grad_values} upstream gradients"
            ),
            Error::NonFiniteBatch => f.write_str(
                "a sample's noise or an upstream gradient is not finite (or their products overflowed)",
            ),
            Error::AccumulatorMismatch => {
                f.write_str("merged accumulators belong to different distributions")
            }
            Error::NonFiniteMatrix { row, col } => {
                write!(f, "matrix entry [{row}][{col}] is not finite")
            }
            Error::SvdNotConverged { sweeps } => {
                write!(f, "Jacobi SVD did not converge within {sweeps} sweeps")
            }
            Error::IllConditioned => f.write_str(
                "scale_tril is too ill-conditioned for an accurate OMT gradient in this precision",
            ),
            Error::Overflow => f.write_str("the result overflows the floating-point range"),
            Error::NonFiniteCovariance { row, col } => {
                write!(f, "covariance[{row}][{col}] is not finite")
            }
            Error::NonSymmetricCovariance { row, col } => {
                write!(f, "covariance[{row}][{col}] differs from covariance[{col}][{row}]")
            }
            Error::NotPositiveDefinite { index } => write!(
                f,
                "the covariance is not positive definite (Cholesky pivot {index} is not positive)"
            ),
            Error::NonFiniteGradient { row, col } => {
                write!(f, "gradient[{row}][{col}] is not finite; the optimizer did not step")
            }
            Error::NonFiniteModel => {
                f.write_str("the model returned a non-finite log density or score")
            }
            Error::NoParticles => f.write_str("an SVI step needs at least one particle"),
            Error::CapacityExceeded { requested, available } => write!(
                f,
                "asked for {requested} items but the output has room for {available}"
            ),
        }
    }
}

impl core::error::Error for Error {}
