//! The singular value decomposition A = U·S·Vᵀ of a square matrix, by one-sided Jacobi.
//!
//! # Algorithm
//! Hestenes' one-sided Jacobi method (Demmel & Veselić, "Jacobi's method is more accurate than
//! QR", 1992): plane rotations applied to the columns of a working copy of A make every pair of
//! columns orthogonal. When no pair needs rotating, the working copy is A·V = U·S: its column
//! norms are the singular values and its normalized columns the left singular vectors. The
//! phases, each in a file of its own:
//!
//! 1. **Scaling.** A is multiplied by the power of two that brings its largest entry into
//!    [½, 1), which is exact, so nothing overflows and squared norms underflow only for
//!    negligible columns.
//! 2. **Rotations** ([`rotation`]): the Jacobi rotation of a pair, its test
//!    |γ| > tol·√α·√β with tol = √D·ε, and the kernels that apply it.
//! 3. **Sweeps** ([`sweep`]): every pair once, in rounds of disjoint pairs, with fast scaled
//!    rotations; the order of the pairs is the [`schedule`]'s.
//! 4. **The tail certificate** ([`certificate`]): what a sweep's rotations prove, which ends
//!    the iteration one confirming sweep early, and decides the next two choices.
//! 5. **Simultaneous steps** ([`step`]): once a sweep's rotations were all small, every pair
//!    rotated at once by its first-order angle, while that contracts.
//! 6. **Convergence** ([`converge`]): the state machine sweeping → stepping → done, bounded
//!    by [`MAX_SWEEPS`] sweeps and steps, past which the decomposition returns
//!    [`Error::SvdNotConverged`]; 4–6 sweeps for D = 4…32 on well-conditioned input.
//! 7. **Finish** ([`finish`]): normalization, completion of a basis for negligible columns,
//!    and the sort.
//!
//! Every tuning constant is in [`tuning`]. From D = 32 on, the OMT finish first replaces L by a
//! pivoted LQ factor with the same singular values and left singular vectors up to a row
//! permutation, whose sweeps start nearer to convergence ([`precondition`]); the public
//! decompositions do not (`Svd` would need the reflections back for V).
//!
//! # Range
//! After the scaling, squared norms underflow only for columns below about 10⁻¹⁴⁶·‖A‖ (`f64`;
//! 10⁻¹⁵·‖A‖ for `f32`). Such negligible columns are left unrotated; their left singular vectors
//! are completed to an orthonormal basis, which changes U·S·Vᵀ by less than their norm.
//!
//! # Accuracy
//! U (normalized columns, nothing accumulated) is orthogonal to O(D·ε). V is the product of every
//! rotation, so it and the reconstruction U·S·Vᵀ carry the rounding of every sweep: O(D·ε) per
//! sweep, times ‖A‖ for the reconstruction. That is O(D·ε) in practice; numerically
//! rank-deficient input can take 20 sweeps, as the rounding-level columns of its null space are
//! rotated among themselves. For well-scaled A (such as a triangular factor with a graded
//! diagonal) the singular values have high relative accuracy, independent of κ(A).

// The phases are public for their documentation only: every item in them is private to the
// decomposition, so none of them is part of the API.
pub mod certificate;
pub mod converge;
pub mod finish;
pub mod precondition;
pub mod rotation;
pub mod schedule;
pub mod step;
pub mod sweep;
pub mod tuning;

use crate::linalg::{CacheAligned, first_non_finite, scale_entries, scale_to_unit_binade};
use crate::{Error, Real};
use nalgebra::{SMatrix, SVector};

/// The most Jacobi sweeps a decomposition runs before giving up with
/// [`Error::SvdNotConverged`]. Quadratic convergence needs far fewer (4–9 in practice, up to
/// D = 32, and about 20 for a numerically rank-deficient 16×16 the fuzzer found); the bound
/// exists so that every input terminates.
pub const MAX_SWEEPS: usize = 40;

/// The singular value decomposition A = U·diag(s)·Vᵀ of a D×D matrix.
///
/// Singular values are non-negative and sorted in decreasing order; U and V are orthogonal.
///
/// # Example
/// ```
/// use omt_mvn::{linalg::Svd, nalgebra::Matrix3};
/// let a = Matrix3::new(4.0, 0.0, 0.0, 2.0, 3.0, 0.0, 1.0, -1.0, 0.5);
/// let svd = Svd::new(&a)?;
/// assert!((svd.recompose() - a).abs().max() < 1e-14);
/// assert!(svd.singular_values[0] >= svd.singular_values[1]);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Svd<T: Real, const D: usize> {
    /// Left singular vectors, one per column.
    pub u: SMatrix<T, D, D>,
    /// Singular values s₁ ≥ … ≥ s_D ≥ 0.
    pub singular_values: SVector<T, D>,
    /// Right singular vectors, one per column (V, not Vᵀ).
    pub v: SMatrix<T, D, D>,
    /// The number of Jacobi sweeps the decomposition took, a simultaneous last step counted as
    /// one (at most [`MAX_SWEEPS`]; see the module documentation).
    pub sweeps: usize,
}

/// The left half of a singular value decomposition: U and s with A·Aᵀ = U·diag(s²)·Uᵀ.
///
/// Cheaper than [`Svd`] (no rotation is accumulated), and all the OMT gradient needs.
///
/// # Example
/// ```
/// use omt_mvn::{linalg::LeftSvd, nalgebra::Matrix2};
/// let svd = LeftSvd::new(&Matrix2::new(3.0, 0.0, 0.0, 4.0))?;
/// assert_eq!(svd.singular_values.as_slice(), &[4.0, 3.0]);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeftSvd<T: Real, const D: usize> {
    /// Left singular vectors, one per column.
    pub u: SMatrix<T, D, D>,
    /// Singular values s₁ ≥ … ≥ s_D ≥ 0.
    pub singular_values: SVector<T, D>,
    /// The number of Jacobi sweeps the decomposition took, a simultaneous last step counted as
    /// one (at most [`MAX_SWEEPS`]; see the module documentation).
    pub sweeps: usize,
}

impl<T: Real, const D: usize> Svd<T, D> {
    /// Decomposes `matrix`.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::Svd, nalgebra::Matrix2};
    /// let svd = Svd::new(&Matrix2::new(0.0, 2.0, 1.0, 0.0))?;
    /// assert_eq!(svd.singular_values.as_slice(), &[2.0, 1.0]);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NonFiniteMatrix`] for a NaN or infinite entry, [`Error::SvdNotConverged`] past
    /// [`MAX_SWEEPS`] sweeps, [`Error::Overflow`] when a singular value exceeds the float range
    /// (possible only for entries within a factor D of `T::MAX`).
    pub fn new(matrix: &SMatrix<T, D, D>) -> Result<Self, Error> {
        Self::with_max_sweeps(matrix, MAX_SWEEPS)
    }

    /// Decomposes `matrix` with at most `max_sweeps` sweeps (a hard bound on the running time,
    /// about 1.5·D³ multiply-adds per sweep, 2.5·D³ with V, for real-time loops).
    ///
    /// # Errors
    /// As [`Svd::new`], with [`Error::SvdNotConverged`] past `max_sweeps`.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::Svd, nalgebra::Matrix3, Error};
    /// let a = Matrix3::new(4.0, 1.0, 0.0, 2.0, 3.0, 1.0, 1.0, -1.0, 0.5);
    /// assert_eq!(Svd::with_max_sweeps(&a, 1), Err(Error::SvdNotConverged { sweeps: 1 }));
    /// assert!(Svd::with_max_sweeps(&a, 20).is_ok());
    /// ```
    pub fn with_max_sweeps(matrix: &SMatrix<T, D, D>, max_sweeps: usize) -> Result<Self, Error> {
        let mut v = CacheAligned(SMatrix::<T, D, D>::identity());
        let mut u = CacheAligned(*matrix);
        let (singular_values, sweeps) = decompose_in_place(&mut u, Some(&mut v.0), max_sweeps)?;
        Ok(Svd { u: u.0, singular_values, v: v.0, sweeps })
    }

    /// U·diag(s)·Vᵀ: the matrix this decomposition came from, up to rounding.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::Svd, nalgebra::Matrix2};
    /// let a = Matrix2::new(1.0, 2.0, 3.0, 4.0);
    /// assert!((Svd::new(&a)?.recompose() - a).abs().max() < 1e-15);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn recompose(&self) -> SMatrix<T, D, D> {
        let mut scaled_u = self.u;
        for (mut column, &s) in scaled_u.column_iter_mut().zip(self.singular_values.iter()) {
            column *= s;
        }
        scaled_u * self.v.transpose()
    }
}

impl<T: Real, const D: usize> LeftSvd<T, D> {
    /// Computes the left singular vectors and the singular values of `matrix`.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::LeftSvd, nalgebra::Matrix2};
    /// let svd = LeftSvd::new(&Matrix2::new(1.0, 0.0, 0.0, 3.0))?;
    /// assert_eq!(svd.singular_values.as_slice(), &[3.0, 1.0]);
    /// assert_eq!(svd.u.column(0).abs(), Matrix2::<f64>::identity().column(1));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Svd::new`].
    pub fn new(matrix: &SMatrix<T, D, D>) -> Result<Self, Error> {
        Self::with_max_sweeps(matrix, MAX_SWEEPS)
    }

    /// As [`new`](Self::new) with at most `max_sweeps` sweeps (see [`Svd::with_max_sweeps`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::LeftSvd, nalgebra::Matrix3, Error};
    /// let a = Matrix3::new(4.0, 1.0, 0.0, 2.0, 3.0, 1.0, 1.0, -1.0, 0.5);
    /// assert_eq!(LeftSvd::with_max_sweeps(&a, 1), Err(Error::SvdNotConverged { sweeps: 1 }));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Svd::with_max_sweeps`].
    pub fn with_max_sweeps(matrix: &SMatrix<T, D, D>, max_sweeps: usize) -> Result<Self, Error> {
        let mut u = CacheAligned(*matrix);
        let (singular_values, sweeps) = decompose_in_place(&mut u, None, max_sweeps)?;
        Ok(LeftSvd { u: u.0, singular_values, sweeps })
    }
}

/// Overwrites `work` (the matrix A) with U and returns the singular values and the number of
/// sweeps: checks, scales, then [`decompose_scaled_in_place`], sorts and scales back. With `v`
/// the rotations are also applied to it (it must come in as the identity). Working in place
/// keeps the stack small, which matters on a 16 KiB Cortex-M0.
pub(crate) fn decompose_in_place<T: Real, const D: usize>(
    work: &mut CacheAligned<SMatrix<T, D, D>>,
    mut v: Option<&mut SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<(SVector<T, D>, usize), Error> {
    if let Some((row, col)) = first_non_finite(&work.0) {
        return Err(Error::NonFiniteMatrix { row, col });
    }
    let exponent = scale_to_unit_binade(&mut work.0);
    let (mut singular_values, sweeps) =
        decompose_scaled_in_place(work, v.as_deref_mut(), max_sweeps)?;
    finish::sort_decreasing(&mut work.0, &mut singular_values, v);
    scale_entries(&mut singular_values, exponent);
    if singular_values.iter().any(|s| !s.is_finite_value()) {
        return Err(Error::Overflow);
    }
    Ok((singular_values, sweeps))
}

/// [`decompose_in_place`] for a finite matrix already scaled by
/// [`scale_to_unit_binade`]: rotates to convergence, then normalizes and completes; returns the
/// singular values of the scaled matrix, in no particular order (the OMT gradient does not
/// depend on it, so only the public decompositions pay for sorting).
pub(crate) fn decompose_scaled_in_place<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    v: Option<&mut SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<(SVector<T, D>, usize), Error> {
    let sweeps = converge::rotate_to_convergence(aligned, v, max_sweeps)?;
    Ok((finish::normalize_columns(&mut aligned.0), sweeps))
}

/// [`decompose_scaled_in_place`] on the pivoted LQ factor X = Pᵀ·A·Q of A
/// ([`precondition`]), whose sweeps start nearer to convergence; the rows of U are put back in
/// A's order, so `aligned` ends as A's left singular vectors, as without the preconditioner.
/// Out of line: its own copy of the sweeps stays out of the cold finish's frame.
#[inline(never)]
pub(crate) fn decompose_preconditioned_in_place<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<(SVector<T, D>, usize), Error> {
    let order = precondition::pivoted_lq_in_place(&mut aligned.0);
    let decomposition = decompose_scaled_in_place(aligned, None, max_sweeps)?;
    precondition::unpermute_rows(&mut aligned.0, &order);
    Ok(decomposition)
}
