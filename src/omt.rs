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
//! One [`LeftSvd`] of L plus four D×D products and one half product: about 4.5·D³
//! multiply-adds after the Jacobi sweeps.
//!
//! # Scale
//! The gradient is exactly invariant under L → c·L. L is first multiplied by the power of two that
//! brings its largest entry into [½, 1), which is exact, so results are bit-identical for every
//! power-of-two c and nothing over- or underflows for entries anywhere in the float range.

use crate::linalg::LeftSvd;
use crate::linalg::dot;
use crate::linalg::svd::largest_exponent;
use crate::{Error, Real};
use nalgebra::{SMatrix, SVector};

/// tril(2·X·L) for the batch statistic `outer_sum` = A = Σⱼ gⱼ·εⱼᵀ.
///
/// # Errors
/// [`Error::NonFiniteBatch`] if A has a non-finite entry, [`Error::IllConditioned`] if L's
/// smallest singular value is lost to underflow even after scaling, [`Error::Overflow`] if the
/// gradient itself exceeds the float range, and the SVD's own errors.
pub(crate) fn omt_scale_tril_grad<T: Real, const D: usize>(
    scale_tril: &SMatrix<T, D, D>,
    outer_sum: &SMatrix<T, D, D>,
) -> Result<SMatrix<T, D, D>, Error> {
    if outer_sum.iter().any(|x| !x.is_finite_value()) {
        return Err(Error::NonFiniteBatch);
    }
    let exponent = largest_exponent(scale_tril);
    let scaled = scale_tril.map(|x| x.scale_by_power_of_two(-exponent));
    let svd = LeftSvd::new(&scaled)?;
    let singular_values = svd.singular_values;
    // The scaled L has its largest entry in [½, 1); below this threshold s² has lost bits.
    let smallest_trusted = (T::MIN_POSITIVE / T::EPSILON).libm_sqrt();
    if singular_values.iter().any(|&s| s < smallest_trusted) {
        return Err(Error::IllConditioned);
    }
    let right = right_singular_vectors(&scaled, &svd.u, &singular_values);
    let b = (outer_sum * right).tr_mul(&svd.u);
    let y = weighted_symmetric_part(&b, &singular_values);
    let gradient = lower_product_transposed(&(svd.u * y), &right);
    if gradient.iter().any(|x| !x.is_finite_value()) {
        return Err(Error::Overflow);
    }
    Ok(gradient)
}

/// Yₐᵦ = (sₐ·sᵦ·Bₐᵦ + sᵦ²·Bᵦₐ) / (sₐ² + sᵦ²), evaluated with the ratio of the smaller to the
/// larger singular value so that no square under- or overflows.
fn weighted_symmetric_part<T: Real, const D: usize>(
    b: &SMatrix<T, D, D>,
    singular_values: &SVector<T, D>,
) -> SMatrix<T, D, D> {
    SMatrix::from_fn(|row, col| {
        let (s_row, s_col) = (singular_values[row], singular_values[col]);
        let (direct, swapped) = (b[(row, col)], b[(col, row)]);
        // Weights first, then one weighted sum: no intermediate exceeds max(|Bₐᵦ|, |Bᵦₐ|), and
        // on the diagonal the weights are exactly ½ and ½, so Yₐₐ = Bₐₐ bit for bit.
        let (direct_weight, swapped_weight) = if s_row >= s_col {
            let ratio = s_col / s_row;
            let inverse = T::one() / (T::one() + ratio * ratio);
            (ratio * inverse, ratio * ratio * inverse)
        } else {
            let ratio = s_row / s_col;
            let inverse = T::one() / (ratio * ratio + T::one());
            (ratio * inverse, inverse)
        };
        direct_weight * direct + swapped_weight * swapped
    })
}

/// W = Lᵀ·U·S⁻¹ (from L = U·S·Wᵀ), using that L is lower-triangular: column j of W holds
/// (L[i.., i] · u_j[i..]) / s_j, D³/2 multiply-adds in all.
fn right_singular_vectors<T: Real, const D: usize>(
    lower: &SMatrix<T, D, D>,
    u: &SMatrix<T, D, D>,
    singular_values: &SVector<T, D>,
) -> SMatrix<T, D, D> {
    let mut right = SMatrix::<T, D, D>::zeros();
    for ((right_column, u_column), &s) in
        right.data.0.iter_mut().zip(u.data.0.iter()).zip(singular_values.iter())
    {
        for (i, (entry, lower_column)) in
            right_column.iter_mut().zip(lower.data.0.iter()).enumerate()
        {
            let (Some(l_tail), Some(u_tail)) = (lower_column.get(i..), u_column.get(i..)) else {
                continue;
            };
            *entry = dot(l_tail, u_tail) / s;
        }
    }
    right
}

/// tril(P·Qᵀ), only the lower triangle computed: column j is Σ_k Q[j, k]·P[j.., k], an axpy
/// over contiguous column tails, D³/2 multiply-adds in all.
fn lower_product_transposed<T: Real, const D: usize>(
    left: &SMatrix<T, D, D>,
    right: &SMatrix<T, D, D>,
) -> SMatrix<T, D, D> {
    let mut product = SMatrix::<T, D, D>::zeros();
    for (j, product_column) in product.data.0.iter_mut().enumerate() {
        let Some(target) = product_column.get_mut(j..) else {
            continue;
        };
        for (left_column, right_column) in left.data.0.iter().zip(right.data.0.iter()) {
            let (Some(&weight), Some(source)) = (right_column.get(j), left_column.get(j..)) else {
                continue;
            };
            for (entry, &value) in target.iter_mut().zip(source) {
                *entry += weight * value;
            }
        }
    }
    product
}
