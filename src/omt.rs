//! The OMT gradient of `scale_tril` from the batch statistic A = Σⱼ gⱼ·εⱼᵀ, in closed form.
//!
//! # Math
//! Pyro's `_OMTMVNSample.backward` (Jankowiak & Obermeyer, ICML 2018) depends on the samples only
//! through A. With C = ½(L·Aᵀ + A·Lᵀ) and X the solution of the Lyapunov equation
//! X·Σ + Σ·X = C (Σ = L·Lᵀ), the OMT gradient is tril(2·X·L). Take the SVD L = U·S·Wᵀ; in its
//! basis, with B = Wᵀ·Aᵀ·U,
//!
//! ```text
//! Uᵀ·C·U = ½(S·B + Bᵀ·S),    X̃ = Uᵀ·X·U,    X̃ₐᵦ = (Uᵀ·C·U)ₐᵦ / (sₐ² + sᵦ²)
//! 2·X·L = U·Y·Wᵀ,   Yₐᵦ = 2·X̃ₐᵦ·sᵦ = (sₐ·sᵦ·Bₐᵦ + sᵦ²·Bᵦₐ) / (sₐ² + sᵦ²)
//! ```
//!
//! Every weight in Y lies in [0, 1], so Y is computed without overflow or division by a
//! difference, whatever the spread of the singular values; Σ⁻¹ is never formed and no jitter is
//! added. Pyro's route (an SVD of an explicitly formed Σ⁻¹ plus 10⁻⁸) loses accuracy like κ(L)²;
//! this one like κ(L). For D = 1 it reduces to A exactly.
//!
//! # Cost
//! One Jacobi SVD of L (as [`LeftSvd`](crate::linalg::LeftSvd), in place; from D = 32 on, of
//! its pivoted LQ factor, which has the same U up to a row permutation and needs fewer sweeps:
//! [`precondition`](crate::linalg::svd::precondition)), then W = Lᵀ·U·S⁻¹
//! over the triangle (D³/2 multiply-adds), A·W and (A·W)ᵀ·U (D³ each), U·Y (D³) and the lower
//! triangle of (U·Y)·Wᵀ (D³/2): 4·D³ multiply-adds after the sweeps, in five D×D buffers. For a
//! batch of one sample, A = g·εᵀ and B = (Wᵀ·ε)·(Uᵀ·g)ᵀ takes two matrix-vector products instead
//! of A·W and (A·W)ᵀ·U: 2·D³ after the sweeps.
//!
//! # Trust
//! Every exact OMT gradient obeys ‖G‖_F ≤ ‖A‖_F, whatever κ(L): with Y_ab² + Y_ba² ≤
//! B_ab² + B_ba² (Cauchy–Schwarz on the weights above), ‖G‖_F ≤ ‖Y‖_F ≤ ‖B‖_F = ‖A‖_F. The
//! computed W = Lᵀ·U·S⁻¹ is orthogonal only to O(κ(L)·u), so past κ(L)·u ≈ 1 its columns for the
//! small singular values blow up and the bound breaks. The finish therefore refuses L with
//! κ(L)·u ≥ [`KAPPA_U_LIMIT`] ([`Error::IllConditioned`]), and enforces the bound, with room
//! 8·D·u for rounding (and D² smallest subnormals where A's products underflow), on every
//! gradient it returns (D² work): a result past it by rounding is projected onto it, one past it
//! by more is refused.
//!
//! # Scale
//! The gradient is exactly invariant under L → c·L. L is first multiplied by the power of two that
//! brings its largest entry into [½, 1), which is exact, so results are bit-identical for every
//! power-of-two c and nothing over- or underflows for entries anywhere in the float range.

use crate::linalg::product::{Structure, product_into};
use crate::linalg::svd::tuning::PRECONDITION_FROM;
use crate::linalg::svd::{
    MAX_SWEEPS, decompose_preconditioned_in_place, decompose_scaled_in_place,
};
use crate::linalg::{
    CacheAligned, all_finite, divide_column, dot, first_non_finite, largest_exponent,
    scale_to_unit_binade, smallest_accurate_product,
};
use crate::warm::WarmStart;
use crate::{Error, Real};
use nalgebra::{SMatrix, SVector};

/// tril(2·X·L) for the batch statistic `outer_sum` = A = Σⱼ gⱼ·εⱼᵀ. When the batch was one
/// sample, `lone_sample` = (ε, g) lets B be formed from its rank-one factors. A filled `warm`
/// preconditions the decomposition (which must then certify), and a successful finish stores
/// its W in `warm` (see [`crate::warm`]).
///
/// # Errors
/// [`Error::NonFiniteBatch`] if A has a non-finite entry, [`Error::IllConditioned`] if
/// κ(L)·u reaches [`KAPPA_U_LIMIT`] or the result breaks ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u) by more
/// than rounding (see [`settle_norm_bound`]),
/// [`Error::Overflow`] if the gradient itself exceeds the float range, and the SVD's own errors.
pub(crate) fn omt_scale_tril_grad<T: Real, const D: usize>(
    scale_tril: &SMatrix<T, D, D>,
    outer_sum: &SMatrix<T, D, D>,
    lone_sample: Option<(&SVector<T, D>, &SVector<T, D>)>,
    warm: Option<&mut WarmStart<T, D>>,
) -> Result<SMatrix<T, D, D>, Error> {
    if !all_finite(outer_sum.as_slice()) {
        return Err(Error::NonFiniteBatch);
    }
    // `OmtMvn::new` validated L, but an accumulator can also come from deserialization.
    if let Some((row, col)) = first_non_finite(scale_tril) {
        return Err(Error::NonFiniteScaleTril { row, col });
    }
    // Five D×D buffers in all, reused as they fall out of use: this is what keeps vjp::<f32, 8>
    // within 4 KiB of stack on a Cortex-M. The sweeps' working copy is on a cache line on
    // 64-bit targets (see `CacheAligned`). The gradient's buffer first holds the scaled Lᵀ
    // (upper-triangular).
    let mut aligned = CacheAligned(*scale_tril);
    scale_to_unit_binade(&mut aligned.0);
    let mut gradient = aligned.0.transpose();
    let scaled_transpose = &gradient;
    let preconditioner = warm.as_deref().and_then(WarmStart::preconditioner);
    if let Some((right, _)) = preconditioner {
        precondition(&mut aligned.0, right);
    }
    // A constant condition for each D: below PRECONDITION_FROM the branch folds away and the
    // finish compiles as before (stack on a Cortex-M).
    let (singular_values, sweeps) = if D >= PRECONDITION_FROM && preconditioner.is_none() {
        decompose_preconditioned_in_place(&mut aligned, MAX_SWEEPS)?
    } else {
        decompose_scaled_in_place(&mut aligned, None, MAX_SWEEPS)?
    };
    let u = &aligned.0;
    let preconditioner_used = preconditioner.is_some();
    let (largest, smallest) = extreme_values(&singular_values);
    if !within_kappa_u_limit(largest, smallest) {
        return Err(Error::IllConditioned);
    }
    // The warm start's certificate: W of the earlier L, orthogonal to about κ̂ₚ·u, perturbs this
    // gradient by about as much as the finish's own rounding (κ̂·u) as long as κ̂ₚ ≤ 2·κ̂.
    if let Some((_, previous_kappa)) = preconditioner
        && previous_kappa * smallest > T::from_count(2) * largest
    {
        return Err(Error::IllConditioned);
    }
    // The products' buffers on cache lines where that pays (see `CacheAligned`).
    let right = &mut CacheAligned(SMatrix::<T, D, D>::zeros()).0;
    right_singular_vectors(scaled_transpose, u, &singular_values, right);
    let product = &mut CacheAligned(SMatrix::<T, D, D>::zeros()).0;
    let y = &mut CacheAligned(SMatrix::<T, D, D>::zeros()).0;
    // B = Wᵀ·Aᵀ·U, weighted into Y in place.
    match lone_sample {
        Some((noise, grad)) => rank_one_into(right, noise, u, grad, y),
        None => {
            product_into(outer_sum, right, product, Structure::Dense); // A·W
            product.transpose_mut(); // Wᵀ·Aᵀ
            product_into(product, u, y, Structure::Dense);
        }
    }
    weight_in_place(y, &singular_values);
    product_into(u, y, product, Structure::Dense); // U·Y
    right.transpose_mut(); // Wᵀ
    product_into(product, right, &mut gradient, Structure::LowerResult);
    if !all_finite(gradient.as_slice()) {
        return Err(Error::Overflow);
    }
    enforce_norm_bound(&mut gradient, outer_sum)?;
    if let Some(warm) = warm {
        warm.learn(right, largest / smallest, (preconditioner_used, sweeps));
    }
    Ok(gradient)
}

/// The largest κ(L)·u for which the OMT finish returns a gradient, with u the unit roundoff
/// ([`Real::UNIT_ROUNDOFF`]): κ(L) < 10⁻²/u, that is about 9.0·10¹³ in `f64` and 1.7·10⁵ in `f32`.
///
/// # Why this threshold
/// The finish is accurate to 8·D·κ(L)·u (relative to the gradient's scale, checked against
/// 50-digit references): below the limit that keeps at least one digit for D ≤ 12, and the
/// error is usually far smaller. Past it the right singular vectors W = Lᵀ·U·S⁻¹ lose their
/// orthogonality, and with it the bound ‖G‖_F ≤ ‖A‖_F; seeded stress tests saw the first such
/// violation at κ·u ≈ 0.8, so the limit leaves a margin of almost two decades. κ(L) is
/// estimated as s_max/s_min from the Jacobi SVD the finish computes anyway, which has high
/// relative accuracy for the graded and row-scaled factors where large κ usually comes from.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, omt::KAPPA_U_LIMIT, Error, OmtMvn, Real};
/// // κ(L) = 10⁶: fine in f64, past 10⁻²/u in f32.
/// let scale_tril = Matrix2::new(1.0, 0.0, 0.0, 1e-6);
/// assert!(1e6 * f64::UNIT_ROUNDOFF < KAPPA_U_LIMIT);
/// assert!(1e6 * f32::UNIT_ROUNDOFF as f64 > KAPPA_U_LIMIT);
/// let (noise, grad_value) = (Vector2::new(0.3, -1.1), Vector2::new(1.0, 0.5));
/// let mvn = OmtMvn::new(Vector2::zeros(), scale_tril)?;
/// assert!(mvn.vjp(&[mvn.reparameterize(noise)], &[grad_value]).is_ok());
/// let mvn = OmtMvn::new(Vector2::zeros(), scale_tril.cast::<f32>())?;
/// let sample = mvn.reparameterize(noise.cast());
/// assert_eq!(mvn.vjp(&[sample], &[grad_value.cast()]), Err(Error::IllConditioned));
/// // The plain estimator needs no decomposition and stays exact.
/// assert!(mvn.reparam_vjp(&[sample], &[grad_value.cast()]).is_ok());
/// # Ok::<(), Error>(())
/// ```
pub const KAPPA_U_LIMIT: f64 = 1e-2;

/// `scale_tril` ← `scale_tril`·W for the W of a recent L, in place, row by row (row i of L·W
/// needs only row i of L, whose first i + 1 entries are its non-zeros): D³/2 multiply-adds. L·W
/// has nearly orthogonal columns, and the same left singular vectors and singular values as L
/// up to W's departure from orthogonality: the sweeps' rotations are small from the first, and
/// the steps take over after it (see [`crate::warm`]). In place and out of line, so that the
/// cold finish's frame does not grow by it (stack on a Cortex-M0).
#[inline(never)]
fn precondition<T: Real, const D: usize>(
    scale_tril: &mut SMatrix<T, D, D>,
    right: &SMatrix<T, D, D>,
) {
    let right = &right.data.0;
    let columns = &mut scale_tril.data.0;
    for i in 0..D {
        let mut row = [T::ZERO; D];
        for k in 0..=i {
            let Some(&entry) = columns.get(k).and_then(|column| column.get(i)) else { continue };
            for (sum, right_column) in row.iter_mut().zip(right) {
                if let Some(&weight) = right_column.get(k) {
                    *sum += entry * weight;
                }
            }
        }
        for (column, &value) in columns.iter_mut().zip(&row) {
            if let Some(slot) = column.get_mut(i) {
                *slot = value;
            }
        }
    }
}

/// The largest and the smallest singular value.
fn extreme_values<T: Real, const D: usize>(singular_values: &SVector<T, D>) -> (T, T) {
    let (mut largest, mut smallest) = (T::ZERO, T::MAX);
    for &s in singular_values.iter() {
        if s > largest {
            largest = s;
        }
        if s < smallest {
            smallest = s;
        }
    }
    (largest, smallest)
}

/// Whether κ̂·u < [`KAPPA_U_LIMIT`], κ̂ = s_max/s_min, written without a division
/// (s_max·u < limit·s_min) so that s_min = 0 fails too. The scaled L has s_max ≥ ½, so the
/// test also keeps every s² far above the underflow threshold √(MIN_POSITIVE/ε)².
fn within_kappa_u_limit<T: Real>(largest: T, smallest: T) -> bool {
    largest * T::UNIT_ROUNDOFF < T::from_f64_rounded(KAPPA_U_LIMIT) * smallest
}

/// Makes sure ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u): the bound every exact OMT gradient obeys (with
/// L = U·S·Wᵀ, G = tril(U·Y·Wᵀ) and ‖Y‖_F ≤ ‖Wᵀ·Aᵀ·U‖_F = ‖A‖_F), with room for the rounding
/// of the finish's four products.
///
/// The plain sums of squares (2·D² multiply-adds in T) accept G wherever it is inside the bound
/// even after their own worst-case rounding, (D²/4 + 4)·u relative, and ‖A‖_F² is in the range
/// where neither A's products nor the squares have lost bits to underflow or overflowed: that is
/// every G not within a few hundred u of the edge, for every ordinary batch. Everything else,
/// rare, goes to [`settle_norm_bound`]. All in T, so that an `f32` build on a Cortex-M needs no
/// software `f64`.
fn enforce_norm_bound<T: Real, const D: usize>(
    gradient: &mut SMatrix<T, D, D>,
    outer_sum: &SMatrix<T, D, D>,
) -> Result<(), Error> {
    let slack = T::ONE + T::from_count(8 * D) * T::UNIT_ROUNDOFF;
    let outer_squares = dot(outer_sum.as_slice(), outer_sum.as_slice());
    let gradient_squares = dot(gradient.as_slice(), gradient.as_slice());
    let safe_below = smallest_accurate_product::<T>();
    let worst = T::from_count(D * D / 4 + 4) * T::UNIT_ROUNDOFF;
    let in_range = outer_squares.is_finite_value() && outer_squares >= safe_below;
    let inside =
        gradient_squares * (T::ONE + worst) <= outer_squares * (T::ONE - worst) * (slack * slack);
    if in_range && inside {
        return Ok(());
    }
    settle_norm_bound(gradient, outer_sum, slack)
}

/// [`enforce_norm_bound`] for a G near the edge of the bound, or an A near either end of the
/// float range: both norms from compensated sums (Kahan; within 2·u, whatever D) of the entries
/// times 2⁻ᵏ, 2ᵏ the binade of A's largest entry (of the smallest subnormal η for a zero A), so
/// that nothing over- or underflows.
///
/// # Decision
/// With a margin of 3·u for those norms: G within R = ‖A‖_F·(1 + 8·D·u) + D²·η is returned as
/// it is; G past R by no more than rounding (a factor 1 + 8·D·u) is scaled onto R; G past that
/// is [`Error::IllConditioned`]. The scaling is a projection onto a ball that contains the
/// exact gradient (R ≥ ‖A‖_F with the margins, for D ≥ 2; at D = 1, G = A and is returned as it
/// is), so it never moves G away from it: no accuracy is lost. The fuzzer found G at 8·D·u past
/// ‖A‖_F and a hair more, where A is dominated by one entry the lower triangle keeps.
///
/// # Underflow
/// D²·η covers what no relative bound can: where A's products g·ε have been rounded to the
/// subnormal grid, so have G's entries, each by up to η (a lone sample whose products all
/// underflow has A = 0, while the rank-one finish, working from g and ε, returns ±η).
///
/// Cold and out of line: its frame stays off the common path's stack.
#[cold]
#[inline(never)]
fn settle_norm_bound<T: Real, const D: usize>(
    gradient: &mut SMatrix<T, D, D>,
    outer_sum: &SMatrix<T, D, D>,
    slack: T,
) -> Result<(), Error> {
    let unit = T::UNIT_ROUNDOFF;
    let smallest_subnormal = T::MIN_POSITIVE * T::EPSILON;
    let exponent = if outer_sum.iter().all(|&entry| entry == T::ZERO) {
        smallest_subnormal.binary_exponent()
    } else {
        largest_exponent(outer_sum)
    };
    let gradient_norm = compensated_scaled_squares(gradient.as_slice(), exponent).libm_sqrt();
    let outer_norm = compensated_scaled_squares(outer_sum.as_slice(), exponent).libm_sqrt();
    let underflow = compensated_scaled_squares(&[smallest_subnormal], exponent).libm_sqrt();
    let margin = T::from_count(3) * unit;
    let radius = outer_norm * (T::ONE - margin) * slack + T::from_count(D * D) * underflow;
    if gradient_norm * (T::ONE + margin) <= radius {
        return Ok(());
    }
    // A NaN norm refuses too: Kahan's compensation turns an overflowed square (a huge G against
    // a tiny A) into NaN, which no comparison would catch.
    if !gradient_norm.is_finite_value() || gradient_norm > radius * slack {
        return Err(Error::IllConditioned);
    }
    *gradient *= radius / gradient_norm * (T::ONE - T::from_count(4) * unit);
    Ok(())
}

/// Σ (xᵢ·2⁻ᵏ)² by Kahan's compensated summation: within 2·u of the exact sum of the rounded
/// squares (all terms are positive), so within 3·u of Σ (xᵢ·2⁻ᵏ)², whatever the number of
/// entries. 2⁻ᵏ is applied as two factors 2⁻⌊ᵏ/²⌋ and 2^(⌊k/2⌋ − k), both normal numbers for
/// every binade a finite entry can have, so each scaling is exact (or negligible: an entry pushed
/// below the normal range is 2⁻¹⁰²² of the largest).
fn compensated_scaled_squares<T: Real>(entries: &[T], exponent: i32) -> T {
    let first = T::ONE.scale_by_power_of_two(-(exponent / 2));
    let second = T::ONE.scale_by_power_of_two(exponent / 2 - exponent);
    let (mut sum, mut compensation) = (T::ZERO, T::ZERO);
    for &x in entries {
        let scaled = x * first * second;
        let term = scaled * scaled - compensation;
        let next = sum + term;
        compensation = (next - sum) - term;
        sum = next;
    }
    sum
}

/// B = Wᵀ·Aᵀ·U = (Wᵀ·ε)·(Uᵀ·g)ᵀ for A = g·εᵀ: two matrix-vector products and an outer product
/// (3·D² multiply-adds) in place of A·W and (A·W)ᵀ·U (2·D³).
fn rank_one_into<T: Real, const D: usize>(
    right: &SMatrix<T, D, D>,
    noise: &SVector<T, D>,
    u: &SMatrix<T, D, D>,
    grad: &SVector<T, D>,
    b: &mut SMatrix<T, D, D>,
) {
    let [noise] = &noise.data.0;
    let [grad] = &grad.data.0;
    let mut projected_noise = [T::ZERO; D]; // Wᵀ·ε
    for (entry, column) in projected_noise.iter_mut().zip(&right.data.0) {
        *entry = dot(column, noise);
    }
    for (b_column, u_column) in b.data.0.iter_mut().zip(&u.data.0) {
        let projected_grad = dot(u_column, grad); // (Uᵀ·g)ⱼ
        for (entry, &value) in b_column.iter_mut().zip(&projected_noise) {
            *entry = value * projected_grad;
        }
    }
}

/// B → Y in place, Yₐᵦ = (sₐ·sᵦ·Bₐᵦ + sᵦ²·Bᵦₐ) / (sₐ² + sᵦ²), each pair (a, b), (b, a)
/// from the same two entries of B and one division. The weights sₐ·sᵦ/(sₐ² + sᵦ²) and
/// sᵦ²/(sₐ² + sᵦ²) lie in [0, 1], and a weighted pair sums to at most 1.21 times its larger
/// input. The caller guarantees s ≥ √(MIN_POSITIVE/ε) and s ≤ D (the singular values of the
/// scaled L), so no square under- or overflows.
fn weight_in_place<T: Real, const D: usize>(
    b: &mut SMatrix<T, D, D>,
    singular_values: &SVector<T, D>,
) {
    let [values] = &singular_values.data.0;
    let squares = values.map(|s| s * s);
    let mut inverses = [T::ZERO; D];
    // The diagonal is left as it is: Yₐₐ = (sₐ²·Bₐₐ + sₐ²·Bₐₐ)/(2sₐ²) = Bₐₐ exactly, and
    // computing it as ½·B + ½·B would round a subnormal B.
    for (col, (&s_col, &square_col)) in values.iter().zip(&squares).enumerate() {
        // The divisions of a column first, in a loop of their own: they are independent, and
        // the compiler pairs them into two-lane divisions.
        for (inverse, &square_row) in inverses.iter_mut().zip(&squares).take(col) {
            *inverse = T::ONE / (square_row + square_col);
        }
        for (row, ((&s_row, &square_row), &inverse)) in
            values.iter().zip(&squares).zip(&inverses).take(col).enumerate()
        {
            let (upper, lower) = (b[(row, col)], b[(col, row)]);
            let cross = (s_row * s_col) * inverse;
            b[(row, col)] = cross * upper + (square_col * inverse) * lower;
            b[(col, row)] = cross * lower + (square_row * inverse) * upper;
        }
    }
}

/// W = Lᵀ·U·S⁻¹ (from L = U·S·Wᵀ), from `upper` = Lᵀ: the product skips Lᵀ's zeros (D³/2
/// multiply-adds), then column j is divided by sⱼ ([`divide_column`]: exact at D = 1, so that
/// W = ±1 and the estimator reduces to the reparam one bit for bit).
fn right_singular_vectors<T: Real, const D: usize>(
    upper: &SMatrix<T, D, D>,
    u: &SMatrix<T, D, D>,
    singular_values: &SVector<T, D>,
    right: &mut SMatrix<T, D, D>,
) {
    product_into(upper, u, right, Structure::UpperLeft);
    for (column, &s) in right.data.0.iter_mut().zip(singular_values.iter()) {
        divide_column(column, s);
    }
}
