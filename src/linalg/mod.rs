//! Dense linear algebra on stack matrices with a generic `const D`, written for this crate.
//!
//! `nalgebra`'s own `svd` needs type-level dimension bounds for a generic `D` (and has open
//! reports of wrong singular values and non-termination on some inputs), so the decomposition the
//! OMT gradient rests on lives here: [`svd`], a one-sided Jacobi SVD with a bounded number of
//! sweeps, and [`triangular`], the substitutions behind `log_prob`.

pub(crate) mod cholesky;
pub(crate) mod product;
pub mod svd;
pub mod triangular;

pub use svd::{LeftSvd, Svd};

use crate::Real;
use nalgebra::SMatrix;

/// A buffer placed on a cache line (64 bytes) on 64-bit targets. There, loads and stores move
/// 16 bytes at a time, and in an 8-byte-aligned buffer one in four straddles two cache lines,
/// which costs an extra access each time: the Jacobi sweeps' working copy, the finish's product
/// buffers and `push`'s blocks use it (docs/PERFORMANCE.md, "Rotations and rounds", "Where the
/// time goes" and "Streaming at batch speed"). On 32-bit targets, where the firmware runs, the
/// padding would only cost stack: a Cortex-M0 or M4 has no data cache, and the M0 firmware ran
/// out of stack with aligned push blocks.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(target_pointer_width = "64", repr(C, align(64)))]
pub(crate) struct CacheAligned<M>(pub(crate) M);

/// xᵀy with four interleaved partial sums sₖ (entries k, k + 4, …), added as (s₀ + s₂) + (s₁ + s₃)
/// at the end: a fixed order (so the same bits on every target) that maps onto two-lane vectors
/// without shuffles, and no less accurate than one running sum. Extra entries of the longer slice
/// are ignored.
#[inline(always)]
pub(crate) fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    let mut partial = [T::ZERO; 4];
    let ((x_blocks, x_rest), (y_blocks, y_rest)) = (x.as_chunks::<4>(), y.as_chunks::<4>());
    for (xb, yb) in x_blocks.iter().zip(y_blocks) {
        for ((sum, &a), &b) in partial.iter_mut().zip(xb).zip(yb) {
            *sum += a * b;
        }
    }
    for ((sum, &a), &b) in partial.iter_mut().zip(x_rest).zip(y_rest) {
        *sum += a * b;
    }
    let [s0, s1, s2, s3] = partial;
    (s0 + s2) + (s1 + s3)
}

/// Whether every entry is finite: one pass with no early exit, which the compiler unrolls, where
/// a short-circuiting `any` branches on every entry, and every finish checks 3·D² entries
/// (docs/PERFORMANCE.md, "The accumulation and small kernels").
pub(crate) fn all_finite<T: Real>(entries: &[T]) -> bool {
    entries.iter().fold(true, |finite, x| finite & x.is_finite_value())
}

/// (row, column) of the first non-finite entry in storage (column-major) order, if any.
pub(crate) fn first_non_finite<T: Real, const R: usize, const C: usize>(
    matrix: &nalgebra::SMatrix<T, R, C>,
) -> Option<(usize, usize)> {
    if all_finite(matrix.as_slice()) {
        return None;
    }
    let index = matrix.as_slice().iter().position(|x| !x.is_finite_value())?;
    Some((index % R, index / R))
}

/// Squared norms below MIN_POSITIVE/ε (2⁻⁹⁷⁰ in `f64`, 2⁻¹⁰³ in `f32`) have lost bits to
/// underflow: a column whose squared norm lies below it is negligible (its entries are below
/// about √(MIN_POSITIVE/ε), so their squares are subnormal or nearly so).
pub(crate) fn negligible_square<T: Real>() -> T {
    T::MIN_POSITIVE / T::EPSILON
}

/// Products of two squared norms below MIN_POSITIVE/ε² may have lost bits to underflow: where a
/// quantity such as α·β or ‖A‖²_F lies below it, tests on it are not trusted as they stand.
pub(crate) fn smallest_accurate_product<T: Real>() -> T {
    T::MIN_POSITIVE / (T::EPSILON * T::EPSILON)
}

/// The scaling prologue of every decomposition: multiplies `matrix` (finite) by the power of two
/// 2⁻ᵏ that brings its largest entry into [½, 1) and returns k (0 for the zero matrix). The
/// scaling is exact, so results scaled back by 2ᵏ are bit-identical for every power-of-two
/// multiple of `matrix`, and nothing over- or underflows in between.
pub(crate) fn scale_to_unit_binade<T: Real, const D: usize>(matrix: &mut SMatrix<T, D, D>) -> i32 {
    let exponent = largest_exponent(matrix);
    scale_entries(matrix, -exponent);
    exponent
}

/// The binary exponent of the largest entry in magnitude (0 for the zero matrix). The entries
/// must be finite.
pub(crate) fn largest_exponent<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>) -> i32 {
    largest_magnitude(matrix.as_slice()).binary_exponent()
}

/// max |xᵢ| (0 for no entries) with four running maxima, so that the comparisons do not wait on
/// each other: one chain through `max` costs several cycles per entry. NaN entries are skipped.
fn largest_magnitude<T: Real>(entries: &[T]) -> T {
    let mut partial = [T::ZERO; 4];
    let (blocks, rest) = entries.as_chunks::<4>();
    for block in blocks {
        for (largest, &x) in partial.iter_mut().zip(block) {
            let magnitude = x.abs();
            if magnitude > *largest {
                *largest = magnitude;
            }
        }
    }
    for (largest, &x) in partial.iter_mut().zip(rest) {
        let magnitude = x.abs();
        if magnitude > *largest {
            *largest = magnitude;
        }
    }
    partial.into_iter().fold(T::ZERO, |m, x| if x > m { x } else { m })
}

/// Divides every entry of `column` by `divisor`: by one multiplication with 1/`divisor` each,
/// except where the column has one entry (D = 1), which gets a true division. That makes a
/// one-entry column divided by its own magnitude exactly ±1, which is what lets the OMT
/// estimator reduce bit for bit to the reparameterization one at D = 1.
pub(crate) fn divide_column<T: Real, const D: usize>(column: &mut [T; D], divisor: T) {
    if D == 1 {
        column.iter_mut().for_each(|entry| *entry /= divisor);
    } else {
        let reciprocal = T::ONE / divisor;
        column.iter_mut().for_each(|entry| *entry *= reciprocal);
    }
}

/// The k-th standard basis vector.
pub(crate) fn unit_vector<T: Real, const D: usize>(k: usize) -> nalgebra::SVector<T, D> {
    nalgebra::SVector::from_fn(|i, _| if i == k { T::ONE } else { T::ZERO })
}

/// Every entry times 2ᵏ, as `Real::scale_by_power_of_two` would give it: one multiplication by
/// the exactly representable 2ᵏ (correctly rounded, like `scalbn`, also where the product is
/// subnormal), or `scalbn` per entry where 2ᵏ itself is not a normal number.
pub(crate) fn scale_entries<T: Real, const R: usize, const C: usize>(
    matrix: &mut nalgebra::SMatrix<T, R, C>,
    k: i32,
) {
    if k == 0 {
        return;
    }
    let factor = T::ONE.scale_by_power_of_two(k);
    if factor >= T::MIN_POSITIVE && factor.is_finite_value() {
        *matrix *= factor;
    } else {
        matrix.apply(|x| *x = x.scale_by_power_of_two(k));
    }
}
