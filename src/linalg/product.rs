//! The crate's one register-blocked kernel, a sum of outer products, and the D×D matrix products
//! of the OMT finish built on it, with their known zeros skipped.
//!
//! # Math
//! Both the products and the batch statistic are sums of outer products: column j of P·Q is
//! Σₖ Q[k, j]·P[:, k], and A = Σⱼ gⱼ·εⱼᵀ. [`add_outer_product`] adds one such term x·wᵀ to a
//! block of `R` rows of `C` result columns, which its callers hold in registers across the whole
//! sum, each entry receiving its terms in a fixed order, so the bits are the same on every
//! target. The products run at up to twice the speed of `nalgebra`'s generic product on an SSE2
//! `x86_64` (docs/PERFORMANCE.md, "The accumulation and small kernels").

use crate::Real;
use nalgebra::SMatrix;

/// Entries of a product known to be zero in advance, which are then not computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Structure {
    /// No known zeros.
    Dense,
    /// The left factor is upper-triangular: row i of column k is zero for i > k.
    UpperLeft,
    /// Only the lower triangle of the result is wanted; its strict upper triangle is set to zero.
    LowerResult,
}

/// `out` = `left`·`right`, skipping the zeros `structure` names.
pub(crate) fn product_into<T: Real, const D: usize>(
    left: &SMatrix<T, D, D>,
    right: &SMatrix<T, D, D>,
    out: &mut SMatrix<T, D, D>,
    structure: Structure,
) {
    let (left, right, result) = (&left.data.0, &right.data.0, &mut out.data.0);
    // At D = 8 a block of 8 rows is the whole column, so the known zeros would save nothing:
    // blocks of 4 skip a quarter of the work there (docs/PERFORMANCE.md, "The accumulation and
    // small kernels").
    if D.is_multiple_of(8) && (structure == Structure::Dense || D > 8) {
        blocked::<T, D, 8>(left, right, result, structure);
    } else if D.is_multiple_of(4) {
        blocked::<T, D, 4>(left, right, result, structure);
    } else if D.is_multiple_of(2) {
        blocked::<T, D, 2>(left, right, result, structure);
    } else {
        blocked::<T, D, 1>(left, right, result, structure);
    }
    if structure == Structure::LowerResult {
        for (j, column) in result.iter_mut().enumerate() {
            for entry in column.iter_mut().take(j) {
                *entry = T::ZERO;
            }
        }
    }
}

/// The product in blocks of `R` rows (R divides D) and two columns.
fn blocked<T: Real, const D: usize, const R: usize>(
    left: &[[T; D]; D],
    right: &[[T; D]; D],
    result: &mut [[T; D]; D],
    structure: Structure,
) {
    let (result_pairs, result_rest) = result.as_chunks_mut::<2>();
    let (right_pairs, right_rest) = right.as_chunks::<2>();
    for (pair, (result_pair, right_pair)) in result_pairs.iter_mut().zip(right_pairs).enumerate() {
        columns::<T, D, R, 2>(left, right_pair, result_pair, 2 * pair, structure);
    }
    for (result_column, right_column) in result_rest.iter_mut().zip(right_rest) {
        columns::<T, D, R, 1>(
            left,
            core::array::from_ref(right_column),
            core::array::from_mut(result_column),
            D - 1,
            structure,
        );
    }
}

/// `C` result columns, starting at column `first`, block of `R` rows by block of `R` rows.
fn columns<T: Real, const D: usize, const R: usize, const C: usize>(
    left: &[[T; D]; D],
    right: &[[T; D]; C],
    result: &mut [[T; D]; C],
    first: usize,
    structure: Structure,
) {
    for start in (0..D / R).map(|block| block * R) {
        if structure == Structure::LowerResult && start + R <= first {
            continue; // strictly above the diagonal of every column here
        }
        let first_k = if structure == Structure::UpperLeft { start } else { 0 };
        let mut sums = [[T::ZERO; R]; C];
        // An index loop: `enumerate().skip(first_k)` over the columns compiled to half the speed
        // (docs/PERFORMANCE.md, "The accumulation and small kernels").
        for k in first_k..D {
            let Some(rows) = left.get(k).and_then(|column| column.get(start..)?.first_chunk::<R>())
            else {
                continue;
            };
            let weight = |c: usize| right.get(c).and_then(|column| column.get(k)).copied();
            add_outer_product(&mut sums, rows, weight);
        }
        store_block(result, start, &sums);
    }
}

/// Adds x·wᵀ to `sums`, a block of `R` rows of `C` result columns, with wᶜ = `weight`(c) (zero
/// where it is `None`): one term of a sum of outer products, the register-blocked kernel of every
/// product and of the batch accumulation. The callers keep `sums` in registers across their whole
/// loop over the terms, as long as R·C sums, R entries of x and C weights fit (R = 8 and C = 2 at
/// most on SSE2's 16). The weights come from a function because each caller has them in another
/// layout (a row of a column-major matrix, or a piece of a sample's noise) and reads them where
/// they are: gathering them into an array first cost the products a tenth more instructions
/// (docs/PERFORMANCE.md, "The layout split").
#[inline(always)]
pub(crate) fn add_outer_product<T: Real, const R: usize, const C: usize>(
    sums: &mut [[T; R]; C],
    x: &[T; R],
    weight: impl Fn(usize) -> Option<T>,
) {
    for (c, sum) in sums.iter_mut().enumerate() {
        let weight = weight(c).unwrap_or(T::ZERO);
        for (entry, &value) in sum.iter_mut().zip(x) {
            *entry += weight * value;
        }
    }
}

/// Rows `start` … `start` + R of `C` columns (zeros where the columns end early).
#[inline(always)]
pub(crate) fn load_block<T: Real, const D: usize, const R: usize, const C: usize>(
    columns: &[[T; D]; C],
    start: usize,
) -> [[T; R]; C] {
    let mut block = [[T::ZERO; R]; C];
    for (rows, column) in block.iter_mut().zip(columns) {
        if let Some(entries) = column.get(start..).and_then(|tail| tail.first_chunk::<R>()) {
            *rows = *entries;
        }
    }
    block
}

/// Stores `block` into rows `start` … `start` + R of `C` columns.
#[inline(always)]
pub(crate) fn store_block<T: Real, const D: usize, const R: usize, const C: usize>(
    columns: &mut [[T; D]; C],
    start: usize,
    block: &[[T; R]; C],
) {
    for (rows, column) in block.iter().zip(columns.iter_mut()) {
        if let Some(entries) = column.get_mut(start..).and_then(|tail| tail.first_chunk_mut::<R>())
        {
            *entries = *rows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Structure, product_into};
    use nalgebra::SMatrix;

    fn check<const D: usize>() {
        let left = SMatrix::<f64, D, D>::from_fn(|i, j| (i * 7 + j * 3) as f64 % 5.0 - 2.0);
        let right = SMatrix::<f64, D, D>::from_fn(|i, j| (i * 2 + j * 5) as f64 % 7.0 - 3.0);
        let mut out = SMatrix::<f64, D, D>::zeros();
        // Small integers: every product is exact, so the result must equal nalgebra's exactly.
        product_into(&left, &right, &mut out, Structure::Dense);
        assert_eq!(out, left * right, "dense, D = {D}");
        let upper = left.upper_triangle();
        product_into(&upper, &right, &mut out, Structure::UpperLeft);
        assert_eq!(out, upper * right, "upper left, D = {D}");
        out.fill(f64::NAN);
        product_into(&left, &right, &mut out, Structure::LowerResult);
        assert_eq!(out, (left * right).lower_triangle(), "lower result, D = {D}");
    }

    #[test]
    fn products_match_nalgebra_exactly_on_integers() {
        check::<1>();
        check::<2>();
        check::<3>();
        check::<4>();
        check::<5>();
        check::<6>();
        check::<8>();
        check::<12>();
        check::<16>();
        check::<24>();
        check::<32>();
    }
}
