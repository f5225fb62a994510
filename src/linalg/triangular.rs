//! Forward and backward substitution with a lower-triangular matrix.
//!
//! Both assume a non-zero diagonal (which `OmtMvn::new` guarantees for `scale_tril`); entries above
//! the diagonal are never read. Each costs D²/2 multiply-adds and is backward stable: the computed
//! y solves (L + δL) y = b with |δL| ≤ D·u·|L| entrywise (Higham, *Accuracy and Stability of
//! Numerical Algorithms*, Thm. 8.5).

use crate::Real;
use nalgebra::{SMatrix, SVector};

/// Solves L y = b for y (forward substitution), L lower-triangular.
///
/// # Example
/// ```
/// use omt_mvn::{linalg::triangular::solve_lower, nalgebra::{Matrix2, Vector2}};
/// let lower = Matrix2::new(2.0, 0.0, 1.0, 4.0);
/// let y = solve_lower(&lower, &Vector2::new(2.0, 9.0));
/// assert_eq!(y, Vector2::new(1.0, 2.0));
/// ```
pub fn solve_lower<T: Real, const D: usize>(
    lower: &SMatrix<T, D, D>,
    rhs: &SVector<T, D>,
) -> SVector<T, D> {
    // Column-oriented; for each yᵢ the subtractions run in the order j = 0, 1, …, i − 1, exactly
    // as in the row-oriented textbook loop.
    let mut y: [T; D] = (*rhs).into();
    for (j, column) in lower.data.0.iter().enumerate() {
        let (head, tail) = y.split_at_mut(j + 1);
        let (Some(y_j), Some(&diagonal)) = (head.last_mut(), column.get(j)) else {
            continue;
        };
        *y_j /= diagonal;
        let y_j = *y_j;
        for (y_i, &entry) in tail.iter_mut().zip(column.iter().skip(j + 1)) {
            *y_i -= entry * y_j;
        }
    }
    y.into()
}

/// Solves Lᵀ w = b for w (backward substitution), L lower-triangular.
///
/// # Example
/// ```
/// use omt_mvn::{linalg::triangular::solve_lower_transpose, nalgebra::{Matrix2, Vector2}};
/// let lower = Matrix2::new(2.0, 0.0, 1.0, 4.0); // Lᵀ = [[2, 1], [0, 4]]
/// let w = solve_lower_transpose(&lower, &Vector2::new(4.0, 8.0));
/// assert_eq!(w, Vector2::new(1.0, 2.0));
/// ```
pub fn solve_lower_transpose<T: Real, const D: usize>(
    lower: &SMatrix<T, D, D>,
    rhs: &SVector<T, D>,
) -> SVector<T, D> {
    // Row i of Lᵀ is column i of L.
    let mut w: [T; D] = (*rhs).into();
    for (i, column) in lower.data.0.iter().enumerate().rev() {
        let (head, tail) = w.split_at_mut(i + 1);
        let (Some(w_i), Some(&diagonal)) = (head.last_mut(), column.get(i)) else {
            continue;
        };
        let mut acc = *w_i;
        for (&entry, &w_j) in column.iter().skip(i + 1).zip(tail.iter()) {
            acc -= entry * w_j;
        }
        *w_i = acc / diagonal;
    }
    w.into()
}
