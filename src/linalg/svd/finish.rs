//! The last phase: from orthogonal columns A·V = U·S to the factors.
//!
//! # Math
//! Once every pair of columns is orthogonal to working precision, the column norms are the
//! singular values and the normalized columns the left singular vectors:
//! sⱼ = ‖(A·V)ⱼ‖, uⱼ = (A·V)ⱼ/sⱼ. A column whose squared norm lies below
//! `negligible_square` has lost bits to underflow and is not normalized; its left singular
//! vector is completed to an orthonormal basis instead (`complete_basis`), which changes
//! U·S·Vᵀ by less than its norm. The public decompositions then sort the singular values
//! (`sort_decreasing`); the OMT gradient does not depend on their order and skips that.

use crate::Real;
use crate::linalg::{divide_column, dot, negligible_square, unit_vector};
use nalgebra::{SMatrix, SVector};

/// Replaces the columns of `work` (A·V, orthogonal) by U and returns their norms, the singular
/// values, in the columns' order.
#[inline(always)]
pub(super) fn normalize_columns<T: Real, const D: usize>(
    work: &mut SMatrix<T, D, D>,
) -> SVector<T, D> {
    let mut norms = SVector::<T, D>::zeros();
    let mut negligible = [false; D];
    let negligible_below = negligible_square::<T>();
    for ((column, norm), is_negligible) in
        work.data.0.iter_mut().zip(norms.iter_mut()).zip(negligible.iter_mut())
    {
        let square = dot(column, column);
        *norm = square.libm_sqrt();
        *is_negligible = square < negligible_below;
        if !*is_negligible {
            divide_column(column, *norm);
        }
    }
    // Negligible columns are rare: the completion stays out of line, off the common path.
    if negligible.contains(&true) {
        complete_basis(work, &negligible);
    }
    norms
}

/// Replaces the columns flagged negligible by unit vectors orthogonal to all other columns
/// (Gram–Schmidt, applied twice, on the standard basis vector that leaves the largest residual).
#[cold]
#[inline(never)]
pub(super) fn complete_basis<T: Real, const D: usize>(
    u: &mut SMatrix<T, D, D>,
    negligible: &[bool; D],
) {
    let mut done = negligible.map(|n| !n);
    for target in 0..D {
        if done.get(target).copied().unwrap_or(true) {
            continue;
        }
        let mut best = SVector::<T, D>::zeros();
        let mut best_norm = T::ZERO;
        for k in 0..D {
            let mut candidate = unit_vector::<T, D>(k);
            for _ in 0..2 {
                for (column, &accepted) in u.column_iter().zip(done.iter()) {
                    if accepted {
                        candidate -= column * column.dot(&candidate);
                    }
                }
            }
            let norm = candidate.dot(&candidate).libm_sqrt();
            if norm > best_norm {
                best_norm = norm;
                best = candidate;
            }
        }
        if best_norm > T::ZERO {
            u.set_column(target, &(best / best_norm));
        }
        if let Some(flag) = done.get_mut(target) {
            *flag = true;
        }
    }
}

/// Selection sort of the singular values, decreasing, permuting the columns of U (and V) alike.
pub(super) fn sort_decreasing<T: Real, const D: usize>(
    u: &mut SMatrix<T, D, D>,
    values: &mut SVector<T, D>,
    mut v: Option<&mut SMatrix<T, D, D>>,
) {
    for i in 0..D {
        let mut largest = i;
        for j in i + 1..D {
            if values[j] > values[largest] {
                largest = j;
            }
        }
        if largest != i {
            values.swap_rows(i, largest);
            u.swap_columns(i, largest);
            if let Some(v) = v.as_deref_mut() {
                v.swap_columns(i, largest);
            }
        }
    }
}
