//! The Cholesky factorization Σ = L·Lᵀ of a symmetric positive definite matrix.
//!
//! # Math
//! Column by column, j = 0, 1, …: the pivot dⱼ = Σⱼⱼ − Σₖ<ⱼ Lⱼₖ², Lⱼⱼ = √dⱼ, and below it
//! Lᵢⱼ = (Σᵢⱼ − Σₖ<ⱼ Lᵢₖ·Lⱼₖ) / Lⱼⱼ. Σ is positive definite exactly when every pivot is positive.
//! Only the lower triangle of Σ is read. The sums use [`dot`]'s fixed order, and the
//! square root is `libm`'s, so the factor has the same bits on every target. It is backward
//! stable: L·Lᵀ equals Σ up to O(D·u·‖Σ‖) (Higham, *Accuracy and Stability of Numerical
//! Algorithms*, §10.1), so L is accurate to O(κ(Σ)·u) relative.

use super::dot;
use crate::{Error, Real};
use nalgebra::SMatrix;

/// L with L·Lᵀ = Σ, from the lower triangle of `covariance` (which must be finite).
///
/// # Errors
/// [`Error::NotPositiveDefinite`] at the first pivot that is not positive and finite.
pub(crate) fn cholesky<T: Real, const D: usize>(
    covariance: &SMatrix<T, D, D>,
) -> Result<SMatrix<T, D, D>, Error> {
    // Row-major in the columns' storage: lower.data.0[i] holds row i of L, so the sums over k are
    // dot products of contiguous rows.
    let mut rows = [[T::ZERO; D]; D];
    for j in 0..D {
        let row_j = rows.get(j).copied().unwrap_or([T::ZERO; D]);
        let known = row_j.get(..j).unwrap_or(&[]);
        let pivot = entry(covariance, j, j) - dot(known, known);
        if !(pivot > T::ZERO && pivot.is_finite_value()) {
            return Err(Error::NotPositiveDefinite { index: j });
        }
        let diagonal = pivot.libm_sqrt();
        if let Some(entry) = rows.get_mut(j).and_then(|row| row.get_mut(j)) {
            *entry = diagonal;
        }
        for i in j + 1..D {
            let Some(row_i) = rows.get_mut(i) else { continue };
            let sum = dot(row_i.get(..j).unwrap_or(&[]), known);
            if let Some(entry) = row_i.get_mut(j) {
                *entry = (self::entry(covariance, i, j) - sum) / diagonal;
            }
        }
    }
    Ok(SMatrix::from_fn(|i, j| rows.get(i).and_then(|row| row.get(j)).copied().unwrap_or(T::ZERO)))
}

/// Σᵢⱼ (NaN outside the matrix, which the callers never ask for).
fn entry<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>, row: usize, col: usize) -> T {
    matrix.get((row, col)).copied().unwrap_or(T::NAN)
}

#[cfg(test)]
mod tests {
    use super::cholesky;
    use crate::Error;
    use nalgebra::Matrix3;

    #[test]
    fn factors_a_small_integer_covariance_exactly() {
        // L with small integer entries: L·Lᵀ and its factorization are exact.
        let lower = Matrix3::new(2.0, 0.0, 0.0, 1.0, 3.0, 0.0, -2.0, 1.0, 4.0);
        assert_eq!(cholesky(&(lower * lower.transpose())), Ok(lower));
    }

    #[test]
    fn refuses_an_indefinite_matrix_at_its_failing_pivot() {
        let indefinite = Matrix3::new(1.0, 2.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0);
        assert_eq!(cholesky(&indefinite), Err(Error::NotPositiveDefinite { index: 1 }));
        let singular = Matrix3::new(1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0);
        assert_eq!(cholesky(&singular), Err(Error::NotPositiveDefinite { index: 1 }));
    }
}
