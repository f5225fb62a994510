//! Drmač–Veselić preconditioning: a Householder LQ factorization with row pivoting, before the
//! sweeps.
//!
//! # Math
//! One-sided Jacobi on the columns of Z diagonalizes their Gram matrix Zᵀ·Z, and its sweeps
//! depend on how far that is from diagonal. Factor Pᵀ·Z·Q = X, with P a row permutation that
//! brings the row of largest remaining norm to the top at every step, Q a product of Householder
//! reflectors and X lower-triangular: this is the QR factorization with column pivoting of Zᵀ
//! (Zᵀ·P = Q·R, X = Rᵀ), the first step of `xGEJSV` (Drmač & Veselić, "New fast and accurate
//! Jacobi SVD algorithm", I, 2008). With L = Z lower-triangular, Zᵀ is already triangular, so
//! unpivoted this step would return L itself: the pivoting is all it adds. Xᵀ·X = R·Rᵀ is one
//! step of the pivoted Cholesky (LR) iteration ahead of Zᵀ·Z, which pushes the off-diagonal mass
//! towards the diagonal by about the ratios of the singular values, so the sweeps on X start
//! nearer to convergence.
//!
//! Jacobi on X gives X·V = U_X·S, so Z = P·U_X·S·(Q·V)ᵀ: Z has the singular values of X and the
//! left singular vectors U = P·U_X, the rows of U_X put back in Z's order
//! (`unpermute_rows`). Neither Q nor V is formed.
//!
//! # Accuracy
//! Householder reflections are backward stable row by row: X is the exact factor of Z + δZ with
//! each row of δZ within O(D·u) of the same row of Z. For the OMT finish that is within its
//! 8·D·κ·u bound, and more: the sweeps on L alone are accurate for column-graded factors, the
//! preconditioned ones for row-graded factors L = D_r·B (Drmač & Veselić), which is what a
//! Cholesky factor of Σ = D_r·Σ̃·D_r, variables on different scales, is.
//! `tests/large_dimensions.rs` holds the finish to 8·D·κ·u against an independent reference at
//! D = 24 to 64.
//!
//! # Cost
//! 2/3·D³ multiply-adds (each reflection applied to the columns right of it), about half a
//! sweep's arithmetic, but at short, odd loop lengths; the column norms are downdated, and
//! recomputed only where cancellation makes the downdate inaccurate (as LAPACK's `xLAQP2`).
//! It saves about one sweep from D = 16 on and pays for itself from D = 32 on (docs/
//! PERFORMANCE.md, "Preconditioning the sweeps").

use crate::Real;
use crate::linalg::dot;
use nalgebra::SMatrix;

/// Overwrites `matrix` (Z) with the lower-triangular X = Pᵀ·Z·Q and returns P as the order of
/// the rows: row k of X comes from row `order[k]` of Z.
///
/// Computed as the QR factorization with column pivoting of Zᵀ, in place on the transpose, so
/// that the reflections work on contiguous columns (a row of Z is strided in column-major
/// storage), one inner product and one update each. Deterministic: ties between norms go to
/// the first. A column whose entries below the diagonal are all zero (or whose squares all
/// underflow: negligible after the scaling of the decomposition) takes no reflection.
#[inline(never)]
pub(crate) fn pivoted_lq_in_place<T: Real, const D: usize>(
    matrix: &mut SMatrix<T, D, D>,
) -> [usize; D] {
    matrix.transpose_mut();
    let columns = &mut matrix.data.0;
    let mut order: [usize; D] = core::array::from_fn(|k| k);
    let mut norms = ColumnNorms::new(columns);
    for k in 0..D {
        let pivot = norms.largest_from(k);
        if pivot != k {
            columns.swap(k, pivot);
            norms.swap(k, pivot);
            order.swap(k, pivot);
        }
        let Some((column_k, rest)) = columns.get_mut(k..).and_then(|tail| tail.split_first_mut())
        else {
            break;
        };
        if let Some(reflector) = Reflector::annihilate(column_k, k) {
            for column in rest.iter_mut() {
                reflector.apply(column, k);
            }
        }
        norms.downdate(columns, k);
    }
    matrix.transpose_mut();
    order
}

/// Puts the rows of `matrix` (U_X) back in the order of Z: row `order[k]` of the result is row k
/// of `matrix`, so that the result is P·U_X.
pub(crate) fn unpermute_rows<T: Real, const D: usize>(
    matrix: &mut SMatrix<T, D, D>,
    order: &[usize; D],
) {
    for column in matrix.data.0.iter_mut() {
        let permuted = *column;
        for (&row, &value) in order.iter().zip(&permuted) {
            if let Some(entry) = column.get_mut(row) {
                *entry = value;
            }
        }
    }
}

/// The squared norms of the columns' remaining parts (the rows from the current step on), each
/// with the value it was last computed at, to tell when downdating has cancelled too much.
struct ColumnNorms<T, const D: usize> {
    remaining: [T; D],
    computed: [T; D],
}

impl<T: Real, const D: usize> ColumnNorms<T, D> {
    fn new(columns: &[[T; D]; D]) -> Self {
        let mut remaining = [T::ZERO; D];
        for (square, column) in remaining.iter_mut().zip(columns) {
            *square = dot(column, column);
        }
        ColumnNorms { remaining, computed: remaining }
    }

    /// The column from `first` on with the largest remaining norm (the first on a tie).
    fn largest_from(&self, first: usize) -> usize {
        let mut best = first;
        let mut largest = T::NEG_INFINITY;
        for (column, &square) in self.remaining.iter().enumerate().skip(first) {
            if square > largest {
                (best, largest) = (column, square);
            }
        }
        best
    }

    fn swap(&mut self, first: usize, second: usize) {
        self.remaining.swap(first, second);
        self.computed.swap(first, second);
    }

    /// After step k: each column right of k loses its entry in row k. Where that leaves less
    /// than √ε of the last computed square, the downdate has lost its digits to cancellation,
    /// and the remaining part is summed afresh (as LAPACK's `xLAQP2`).
    fn downdate(&mut self, columns: &[[T; D]; D], k: usize) {
        let tolerance = T::EPSILON.libm_sqrt();
        let norms = self.remaining.iter_mut().zip(self.computed.iter_mut());
        for ((remaining, computed), column) in norms.zip(columns).skip(k + 1) {
            let Some((&entry, below)) = column.get(k..).and_then(<[T]>::split_first) else {
                continue;
            };
            let downdated = *remaining - entry * entry;
            if downdated > tolerance * *computed {
                *remaining = downdated;
            } else {
                *remaining = dot(below, below);
                *computed = *remaining;
            }
        }
    }
}

/// H = I − τ·v·vᵀ on the rows from k on, with v_k = 1: the reflection that maps the remaining
/// part of column k onto its first entry.
struct Reflector<T, const D: usize> {
    vector: [T; D],
    tau: T,
}

impl<T: Real, const D: usize> Reflector<T, D> {
    /// Reflects column k's entries below the diagonal into the diagonal entry β = ∓‖column‖
    /// (the sign opposite to the entry's, so that α − β does not cancel), and returns the
    /// reflection, or `None` if there is nothing to annihilate.
    fn annihilate(column: &mut [T; D], k: usize) -> Option<Self> {
        let (alpha, below) = column.get_mut(k..)?.split_first_mut()?;
        let below_squares = dot(below, below);
        if below_squares == T::ZERO {
            return None;
        }
        let norm = (*alpha * *alpha + below_squares).libm_sqrt();
        let beta = if *alpha >= T::ZERO { -norm } else { norm };
        let inverse = T::ONE / (*alpha - beta);
        let tau = (beta - *alpha) / beta;
        *alpha = beta;
        let mut vector = [T::ZERO; D];
        let (one, vector_below) = vector.get_mut(k..)?.split_first_mut()?;
        *one = T::ONE;
        for (v, entry) in vector_below.iter_mut().zip(below.iter_mut()) {
            (*v, *entry) = (*entry * inverse, T::ZERO);
        }
        Some(Reflector { vector, tau })
    }

    /// column ← H·column on the rows from k on (the rows above are not touched): one inner
    /// product with v and one update.
    fn apply(&self, column: &mut [T; D], k: usize) {
        let (Some(entries), Some(vector)) = (column.get_mut(k..), self.vector.get(k..)) else {
            return;
        };
        let factor = self.tau * dot(vector, entries);
        for (entry, &v) in entries.iter_mut().zip(vector) {
            *entry -= factor * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_SWEEPS, decompose_preconditioned_in_place, decompose_scaled_in_place};
    use super::{pivoted_lq_in_place, unpermute_rows};
    use crate::linalg::{CacheAligned, scale_to_unit_binade};
    use nalgebra::{SMatrix, SVector};

    #[test]
    fn factors_with_orthogonal_q_and_pivots_by_row_norm() {
        // X = Pᵀ·Z·Q with Q orthogonal: X·Xᵀ = Pᵀ·Z·Zᵀ·P, X lower-triangular, and the first
        // row of X is the longest row of Z.
        let z = SMatrix::<f64, 5, 5>::from_fn(|i, j| {
            if j > i {
                0.0
            } else if i == j {
                1.0 + i as f64
            } else {
                0.3 * (i + 2 * j) as f64 - 1.0
            }
        });
        let mut x = z;
        let order = pivoted_lq_in_place(&mut x);
        let longest =
            (0..5).max_by(|&a, &b| z.row(a).norm_squared().total_cmp(&z.row(b).norm_squared()));
        assert_eq!(Some(order[0]), longest);
        let permuted = SMatrix::<f64, 5, 5>::from_fn(|i, j| z[(order[i], j)]);
        let gram = x * x.transpose() - permuted * permuted.transpose();
        assert!(gram.abs().max() < 1e-13, "{gram}");
        for i in 0..5 {
            for j in i + 1..5 {
                assert_eq!(x[(i, j)], 0.0);
            }
        }
        // The diagonal decreases: each step's pivot has the largest remaining norm.
        for k in 1..5 {
            assert!(x[(k, k)].abs() <= x[(k - 1, k - 1)].abs() * (1.0 + 1e-14));
        }
        let mut back = x;
        unpermute_rows(&mut back, &order);
        assert!((back * back.transpose() - z * z.transpose()).abs().max() < 1e-13);
    }

    /// Lower-triangular factors with a graded diagonal and entries from a small multiplicative
    /// generator.
    fn factor<const D: usize>(seed: u64, grading: f64) -> SMatrix<f64, D, D> {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        SMatrix::from_fn(|i, j| match i.cmp(&j) {
            core::cmp::Ordering::Greater => 0.3 * next(),
            core::cmp::Ordering::Equal => grading.powi(i as i32) * (1.0 + 0.2 * next()),
            core::cmp::Ordering::Less => 0.0,
        })
    }

    /// The preconditioned decomposition of A is A's: U orthogonal, and U·S²·Uᵀ = A·Aᵀ within
    /// the rounding of forming A·Aᵀ and of the sweeps (a few D·ε of ‖A‖²), with the singular
    /// values of the decomposition without it.
    fn agrees_with_the_plain_decomposition<const D: usize>(a: SMatrix<f64, D, D>) {
        let mut scaled = a;
        scale_to_unit_binade(&mut scaled);
        let mut preconditioned = CacheAligned(scaled);
        let result = decompose_preconditioned_in_place(&mut preconditioned, MAX_SWEEPS);
        assert!(result.is_ok(), "D = {D}: {result:?}");
        let mut plain = CacheAligned(scaled);
        let plain_result = decompose_scaled_in_place(&mut plain, None, MAX_SWEEPS);
        assert!(plain_result.is_ok(), "D = {D}: {plain_result:?}");
        let nothing = (SVector::zeros(), 0);
        let ((values, _), (plain_values, _)) =
            (result.unwrap_or(nothing), plain_result.unwrap_or(nothing));
        let u = preconditioned.0;
        let epsilon = f64::EPSILON * D as f64;
        let identity = SMatrix::<f64, D, D>::identity();
        assert!((u.transpose() * u - identity).abs().max() <= 4.0 * epsilon);
        let squares = SMatrix::<f64, D, D>::from_diagonal(&values.map(|s| s * s));
        let gram = scaled * scaled.transpose();
        let error = (u * squares * u.transpose() - gram).abs().max() / gram.abs().max();
        assert!(error <= 4.0 * epsilon, "D = {D}: {error:e}");
        let (mut sorted, mut plain_sorted) = (values, plain_values);
        sorted.as_mut_slice().sort_by(f64::total_cmp);
        plain_sorted.as_mut_slice().sort_by(f64::total_cmp);
        // Weyl: rounding that perturbs the matrix by δ moves each singular value by at most
        // ‖δ‖, a few D·ε of the largest; the two routes round differently (the reflections
        // row by row, the sweeps column by column), so that is where they can differ.
        let largest = plain_sorted.max();
        for (s, p) in sorted.iter().zip(plain_sorted.iter()) {
            assert!((s - p).abs() <= 4.0 * epsilon * largest, "D = {D}: {s} against {p}");
        }
    }

    #[test]
    fn preconditioned_decompositions_agree_with_plain_ones() {
        agrees_with_the_plain_decomposition(factor::<32>(1, 1.0));
        agrees_with_the_plain_decomposition(factor::<32>(2, 1.1));
        agrees_with_the_plain_decomposition(factor::<32>(3, 0.9));
        agrees_with_the_plain_decomposition(factor::<17>(4, 1.05));
        agrees_with_the_plain_decomposition(factor::<64>(5, 1.02));
    }

    #[test]
    fn reflects_only_rows_with_something_to_annihilate() {
        let mut x = SMatrix::<f64, 3, 3>::from_diagonal(&nalgebra::Vector3::new(1.0, 3.0, 2.0));
        let order = pivoted_lq_in_place(&mut x);
        assert_eq!(order, [1, 2, 0]);
        // Reflections map each row's lone entry onto the diagonal, with the sign opposite to
        // the diagonal entry it finds there (+0 for a zero one).
        assert_eq!(x, SMatrix::from_diagonal(&nalgebra::Vector3::new(-3.0, -2.0, 1.0)));
    }
}
