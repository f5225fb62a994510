//! Seeded lower-triangular factors for the stress and large-D tests: graded diagonals,
//! row-scaled factors (variables in different units), clustered singular values and a Kahan-like
//! factor. Entries are drawn in f64 and rounded to the precision under test by the caller.

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::normal::standard_normal;
use rand_pcg::Pcg64Mcg;

/// A uniform draw in [0, 1), from the top 53 bits.
pub fn uniform(rng: &mut Pcg64Mcg) -> f64 {
    use omt_mvn::rand_core::Rng;
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A lower-triangular factor with a diagonal in [0.5, 1.5) and N(0, 0.25) entries below it.
pub fn random<const D: usize>(rng: &mut Pcg64Mcg) -> SMatrix<f64, D, D> {
    let mut factor = SMatrix::zeros();
    for i in 0..D {
        for j in 0..=i {
            factor[(i, j)] = if i == j { 0.5 + uniform(rng) } else { 0.5 * standard_normal(rng) };
        }
    }
    factor
}

/// `random` with its diagonal replaced by 1 … 10^(−decades), geometrically.
pub fn graded_diagonal<const D: usize>(rng: &mut Pcg64Mcg, decades: f64) -> SMatrix<f64, D, D> {
    let mut factor = random::<D>(rng);
    for i in 0..D {
        factor[(i, i)] = 10f64.powf(-decades * fraction::<D>(i));
    }
    factor
}

/// `random` with row i multiplied by 10^(−decades·i/(D − 1)): a factor graded from 1 down to
/// 10^(−decades) whose κ is about 10^decades times that of `random` (with only the diagonal
/// graded, the O(1) entries below it make L singular to working precision at large D).
pub fn graded_rows<const D: usize>(rng: &mut Pcg64Mcg, decades: f64) -> SMatrix<f64, D, D> {
    let mut factor = random::<D>(rng);
    for i in 0..D {
        let grade = 10f64.powf(-decades * fraction::<D>(i));
        factor.row_mut(i).scale_mut(grade);
    }
    factor
}

/// `random` with row i (variable i) multiplied by 10^(decades·rᵢ), rᵢ uniform in [0, 1): the
/// variables' units up to 10^decades apart.
pub fn row_scaled<const D: usize>(rng: &mut Pcg64Mcg, decades: f64) -> SMatrix<f64, D, D> {
    let mut factor = random::<D>(rng);
    for i in 0..D {
        let unit = 10f64.powf(decades * uniform(rng));
        for j in 0..=i {
            factor[(i, j)] *= unit;
        }
    }
    factor
}

/// A lower-triangular factor whose singular values are `singular_values` (in any order): the
/// L of the LQ decomposition of diag(s)·Qᵀ for a random orthogonal Q (rows of a Gaussian matrix
/// orthonormalized), with a positive diagonal.
pub fn with_singular_values<const D: usize>(
    rng: &mut Pcg64Mcg,
    singular_values: &SVector<f64, D>,
) -> SMatrix<f64, D, D> {
    let gaussian = SMatrix::<f64, D, D>::from_fn(|_, _| standard_normal(rng));
    let (_, orthonormal_rows) = lq(&gaussian);
    lq(&(SMatrix::from_diagonal(singular_values) * orthonormal_rows)).0
}

/// M = L·Q by Gram–Schmidt on M's rows, each projection done twice (enough for orthogonality to
/// rounding in f64, for the κ ≤ 10⁴ these tests build): L lower-triangular with a positive
/// diagonal, Q with orthonormal rows.
fn lq<const D: usize>(matrix: &SMatrix<f64, D, D>) -> (SMatrix<f64, D, D>, SMatrix<f64, D, D>) {
    let (mut lower, mut rows) = (SMatrix::<f64, D, D>::zeros(), SMatrix::<f64, D, D>::zeros());
    for i in 0..D {
        let mut row = matrix.row(i).into_owned();
        for _ in 0..2 {
            for j in 0..i {
                let coefficient = row.dot(&rows.row(j));
                lower[(i, j)] += coefficient;
                row -= rows.row(j) * coefficient;
            }
        }
        let length = row.dot(&row).sqrt();
        lower[(i, i)] = length;
        rows.set_row(i, &(row / length));
    }
    (lower, rows)
}

/// Singular values in three clusters around 1, 10⁻² and 10⁻⁴, each spread by 10⁻⁶ relative.
pub fn clustered<const D: usize>(rng: &mut Pcg64Mcg) -> SMatrix<f64, D, D> {
    let values = SVector::<f64, D>::from_fn(|i, _| {
        10f64.powi(-2 * (i % 3) as i32) * (1.0 + 1e-6 * uniform(rng))
    });
    with_singular_values(rng, &values)
}

/// The transposed Kahan matrix: Lᵢᵢ = σⁱ, Lᵢⱼ = −γ·σⁱ below the diagonal (γ² + σ² = 1), whose
/// smallest singular value is far below its smallest diagonal entry (a classic trap for
/// condition estimators and rank-revealing factorizations).
pub fn kahan<const D: usize>(gamma: f64) -> SMatrix<f64, D, D> {
    let sigma = (1.0 - gamma * gamma).sqrt();
    SMatrix::from_fn(|i, j| {
        let power = sigma.powi(i as i32);
        if i == j {
            power
        } else if i > j {
            -gamma * power
        } else {
            0.0
        }
    })
}

/// i/(D − 1), 0 for D = 1.
fn fraction<const D: usize>(i: usize) -> f64 {
    if D == 1 { 0.0 } else { i as f64 / (D - 1) as f64 }
}
