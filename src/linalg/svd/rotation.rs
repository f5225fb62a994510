//! Plane rotations of two columns: the Jacobi rotation's formulas, in the fast scaled form the
//! sweeps keep, and the kernels that apply rotations to columns.
//!
//! # Math
//! For a pair of columns a_p, a_q with α = ‖a_p‖², β = ‖a_q‖², γ = a_pᵀa_q, the rotation
//!
//! ```text
//! ζ = (β − α) / (2γ),   t = sign(ζ) / (|ζ| + √(1 + ζ²)),   c = 1/√(1 + t²),   s = c·t
//! a_p ← c·a_p − s·a_q,   a_q ← s·a_p + c·a_q
//! ```
//!
//! zeroes γ (Hestenes' one-sided Jacobi). A pair is rotated only while |γ| > tol·√α·√β with
//! tol = √D·ε (`Thresholds`). The sweeps keep every column as a stored column times a scale,
//! aⱼ = dⱼ·xⱼ, so that a rotation is two shears of the stored columns (`Rotation`,
//! `needed_rotation`); the simultaneous steps rotate the columns themselves (`rotate_pair`,
//! or `shear_pair` once every cosine rounds to one).

use super::tuning::{
    EARLY_STEP_COSINE_SQUARED, LARGEST_EARLY_STEPPING_DIMENSION, LATE_STEP_COSINE_SQUARED,
};
use crate::Real;
use crate::linalg::{negligible_square, smallest_accurate_product};
use nalgebra::SMatrix;

/// The constants of the rotation test and of the decisions that rest on it, computed once per
/// decomposition.
pub(super) struct Thresholds<T> {
    /// tol = √D·ε: a pair with |cos| ≤ tol is orthogonal to working precision.
    pub(super) tolerance: T,
    /// tol².
    pub(super) tolerance_squared: T,
    /// Squared column norms below this are negligible (see [`negligible_square`]).
    pub(super) negligible_square: T,
    /// Products α·β of squared norms below this may have lost bits to underflow (see
    /// [`smallest_accurate_product`]): the rotation test then takes square roots.
    pub(super) smallest_accurate_product: T,
    /// The square of the largest cosine a sweep may rotate for steps to take over after it
    /// (see [`LARGEST_EARLY_STEPPING_DIMENSION`]).
    pub(super) step_cosine_squared: T,
}

impl<T: Real> Thresholds<T> {
    /// The thresholds for D×D matrices.
    pub(super) fn new<const D: usize>() -> Self {
        let tolerance = T::EPSILON * T::from_count(D).libm_sqrt();
        let step_cosine_squared = if D <= LARGEST_EARLY_STEPPING_DIMENSION {
            EARLY_STEP_COSINE_SQUARED
        } else {
            LATE_STEP_COSINE_SQUARED
        };
        Thresholds {
            tolerance,
            tolerance_squared: tolerance * tolerance,
            negligible_square: negligible_square::<T>(),
            smallest_accurate_product: smallest_accurate_product::<T>(),
            step_cosine_squared: T::from_f64_rounded(step_cosine_squared),
        }
    }
}

/// One rotation of a pair (p, q), in the scaled form
/// [`SweepState`](super::sweep::SweepState) keeps.
#[derive(Clone, Copy)]
pub(super) struct Rotation<T> {
    /// (k_p, k_q) = (t·d_q/d_p, t·d_p/d_q): x_p ← x_p − k_p·x_q, x_q ← x_q + k_q·x_p.
    pub(super) shear: (T, T),
    /// c² = 1/(1 + t²), the factor of both squared scales.
    pub(super) cosine_squared: T,
    /// t·γ, the amount α loses and β gains.
    pub(super) norm_change: T,
    /// γ², for the sweep's [`SweepVerdict`](super::certificate::SweepVerdict).
    pub(super) gamma_squared: T,
}

/// The rotation for a pair with squared norms (α, β), squared scales (e_p, e_q) and stored
/// inner product ξ = x_pᵀx_q (so γ = a_pᵀa_q = d_p·d_q·ξ), or `None` when the pair is orthogonal
/// to the tolerance or one column is negligible.
///
/// t = sign(ζ)/(|ζ| + √(1 + ζ²)) with ζ = (β − α)/(2γ), the smaller root, so |t| ≤ 1. In the
/// normal range, with Δ = β − α and R = √(Δ² + 4γ²), t = ±2γ/(|Δ| + R) and
/// 1 + t² = 2R/(|Δ| + R), so the one division 1/(R·(|Δ| + R)) gives everything:
///
/// ```text
/// k_p = ±2ξ·e_q/(|Δ| + R),  k_q = ±2ξ·e_p/(|Δ| + R),  c² = (|Δ| + R)/(2R),  t·γ = ±2γ²/(|Δ| + R)
/// ```
///
/// with the sign of Δ (+ for Δ = 0): no square root of a scale is needed.
///
/// The next round waits on these parameters, so the operations are ordered to keep the chain
/// from ξ short: R² = Δ² + (4·e_p·e_q)·ξ² is two multiplications from ξ (forming γ² and then
/// 2γ² + 2γ² took four steps), and each result is one multiplication after the division, its
/// other factor (±2ξ·e_q·R for k_p, for instance) formed while the division runs
/// (docs/PERFORMANCE.md, "Rotations and rounds").
#[cfg_attr(not(target_os = "none"), inline(always))]
pub(super) fn needed_rotation<T: Real>(
    (alpha, beta): (T, T),
    (e_p, e_q): (T, T),
    xi: T,
    thresholds: &Thresholds<T>,
) -> Option<Rotation<T>> {
    let product = alpha * beta;
    if product < thresholds.smallest_accurate_product {
        // Also where one column is negligible: α < MIN_POSITIVE/ε and β ≤ ‖A‖²_F ≤ D² give
        // α·β < MIN_POSITIVE/ε², as long as D² < 1/ε.
        return small_range_rotation((alpha, beta), (e_p, e_q), xi, thresholds);
    }
    let scale_product = e_p * e_q;
    let xi_squared = xi * xi;
    let gamma_squared = scale_product * xi_squared;
    if gamma_squared <= thresholds.tolerance_squared * product {
        return None;
    }
    // α, β ≤ ‖A‖²_F ≤ D² after scaling and γ² > tol²·α·β ≥ D·MIN_POSITIVE: nothing over- or
    // underflows.
    let difference = beta - alpha;
    // 4·e_p·e_q·ξ² is exactly 4γ² (a power of two scales the rounding too).
    let four_scale_product = (scale_product + scale_product) + (scale_product + scale_product);
    let root = (difference * difference + four_scale_product * xi_squared).libm_sqrt();
    let sum = difference.abs() + root;
    let reciprocal = T::ONE / (root * sum);
    let twice = if difference < T::ZERO { -(xi + xi) } else { xi + xi };
    let (along_q, along_p) = ((twice * e_q) * root, (twice * e_p) * root);
    let change = ((twice * xi) * scale_product) * root;
    Some(Rotation {
        shear: (along_q * reciprocal, along_p * reciprocal),
        cosine_squared: T::HALF * (sum * (sum * reciprocal)),
        norm_change: change * reciprocal,
        gamma_squared,
    })
}

/// [`needed_rotation`] when α·β is near the underflow threshold: the test takes square roots and
/// the tangent goes through ζ.
fn small_range_rotation<T: Real>(
    (alpha, beta): (T, T),
    (e_p, e_q): (T, T),
    xi: T,
    thresholds: &Thresholds<T>,
) -> Option<Rotation<T>> {
    if alpha < thresholds.negligible_square || beta < thresholds.negligible_square {
        return None;
    }
    let (d_p, d_q) = (e_p.libm_sqrt(), e_q.libm_sqrt());
    let gamma = (d_p * d_q) * xi;
    if gamma.abs() <= thresholds.tolerance * alpha.libm_sqrt() * beta.libm_sqrt() {
        return None;
    }
    let t = small_range_tangent(alpha, beta, gamma);
    Some(Rotation {
        shear: (t * (d_q / d_p), t * (d_p / d_q)),
        cosine_squared: T::ONE / (T::ONE + t * t),
        norm_change: t * gamma,
        gamma_squared: gamma * gamma,
    })
}

/// The tangent through ζ, safe when α·β is near the underflow threshold.
fn small_range_tangent<T: Real>(alpha: T, beta: T, gamma: T) -> T {
    let two = T::ONE + T::ONE;
    let zeta = (beta - alpha) / (two * gamma);
    let magnitude = zeta.abs();
    // For |ζ| > 1/ε, 1 + ζ² rounds to ζ²; past √MAX it would overflow. Use t ≈ 1/(2ζ) there.
    let t_magnitude = if magnitude > T::ONE / T::EPSILON {
        T::ONE / (two * magnitude)
    } else {
        T::ONE / (magnitude + (T::ONE + zeta * zeta).libm_sqrt())
    };
    if zeta < T::ZERO { -t_magnitude } else { t_magnitude }
}

/// x_p ← x_p − k_p·x_q, x_q ← x_q + k_q·x_p (with the old x_p), the unscaled part of a fast
/// scaled rotation, with the two results stored swapped: x_q's in the first slot. With
/// `previous`, also returns `previous`ᵀ·(new x_q), the inner product of the next round's pair,
/// summed as [`dot`](crate::linalg::dot) sums (so to the same bits) while the entries are at
/// hand: that
/// saves loading both columns again.
#[inline(always)]
pub(super) fn rotate_and_swap<T: Real, const D: usize>(
    pair: &mut [[T; D]; 2],
    (k_p, k_q): (T, T),
    previous: Option<&[T; D]>,
) -> Option<T> {
    let [column_p, column_q] = pair;
    let Some(previous) = previous else {
        for (x, y) in column_p.iter_mut().zip(column_q.iter_mut()) {
            (*x, *y) = rotated_and_swapped((*x, *y), (k_p, k_q));
        }
        return None;
    };
    let mut partial = [T::ZERO; 4];
    let (p_blocks, p_rest) = column_p.as_chunks_mut::<4>();
    let (q_blocks, q_rest) = column_q.as_chunks_mut::<4>();
    let (previous_blocks, previous_rest) = previous.as_chunks::<4>();
    let blocks = p_blocks.iter_mut().zip(q_blocks.iter_mut()).zip(previous_blocks);
    for ((p_block, q_block), previous_block) in blocks {
        // Every load of a block before its stores, so that the compiler need not prove that
        // `previous` is another column to keep the block in vector registers.
        let (xs, ys, ws) = (*p_block, *q_block, *previous_block);
        for (((x, y), (&xp, &yq)), (&w, sum)) in p_block
            .iter_mut()
            .zip(q_block.iter_mut())
            .zip(xs.iter().zip(&ys))
            .zip(ws.iter().zip(partial.iter_mut()))
        {
            (*x, *y) = rotated_and_summed((xp, yq), (k_p, k_q), (w, sum));
        }
    }
    let entries = p_rest.iter_mut().zip(q_rest.iter_mut()).zip(previous_rest);
    for (((x, y), &w), sum) in entries.zip(partial.iter_mut()) {
        (*x, *y) = rotated_and_summed((*x, *y), (k_p, k_q), (w, sum));
    }
    let [s0, s1, s2, s3] = partial;
    Some((s0 + s2) + (s1 + s3))
}

/// (x_q + k_q·x_p, x_p − k_p·x_q) for one entry of each column: the rotated pair, swapped.
#[inline(always)]
fn rotated_and_swapped<T: Real>((xp, yq): (T, T), (k_p, k_q): (T, T)) -> (T, T) {
    (yq + k_q * xp, xp - k_p * yq)
}

/// [`rotated_and_swapped`], adding w·(its first entry) to `sum`.
#[inline(always)]
fn rotated_and_summed<T: Real>(entries: (T, T), shear: (T, T), (w, sum): (T, &mut T)) -> (T, T) {
    let (first, second) = rotated_and_swapped(entries, shear);
    *sum += w * first;
    (first, second)
}

/// x_p ← x_p − k_p·x_q, x_q ← x_q + k_q·x_p (with the old x_p) for columns p ≠ q of `matrix`,
/// which are returned.
#[inline(always)]
pub(super) fn shear_columns<T: Real, const D: usize>(
    matrix: &mut SMatrix<T, D, D>,
    (p, q): (usize, usize),
    (k_p, k_q): (T, T),
) -> Option<[&mut [T; D]; 2]> {
    let [column_p, column_q] = matrix.data.0.get_disjoint_mut([p, q]).ok()?;
    for (x, y) in column_p.iter_mut().zip(column_q.iter_mut()) {
        let (xp, yq) = (*x, *y);
        *x = xp - k_p * yq;
        *y = yq + k_q * xp;
    }
    Some([column_p, column_q])
}

/// x ← x − s·y, y ← s·x + y (with the old x): [`rotate_pair`] for c = 1, to the same bits.
#[inline(always)]
pub(super) fn shear_pair<T: Real, const D: usize>(x: &mut [T; D], y: &mut [T; D], s: T) {
    for (x, y) in x.iter_mut().zip(y.iter_mut()) {
        let (old_x, old_y) = (*x, *y);
        *x = old_x - s * old_y;
        *y = s * old_x + old_y;
    }
}

/// x ← c·x − s·y, y ← s·x + c·y (with the old x).
#[inline(always)]
pub(super) fn rotate_pair<T: Real, const D: usize>(x: &mut [T; D], y: &mut [T; D], (c, s): (T, T)) {
    for (x, y) in x.iter_mut().zip(y.iter_mut()) {
        let (old_x, old_y) = (*x, *y);
        *x = c * old_x - s * old_y;
        *y = s * old_x + c * old_y;
    }
}
