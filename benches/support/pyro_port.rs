//! Baseline for the benchmarks only: a straightforward per-sample port of Pyro's
//! `_OMTMVNSample.backward` (pyro-ppl 1.9.2), O(D³) work per sample, as restated in the math note:
//!
//! 1. G₁ = ½ Σⱼ (gⱼ·εⱼᵀ + zⱼ·(L⁻¹gⱼ)ᵀ), zⱼ = L·εⱼ
//! 2. Σ⁻¹ + 10⁻⁸ = V·diag(λ)·Vᵀ; per sample Ỹ_ab = (Vᵀzⱼ)_a (Vᵀgⱼ)_b / (λ_a + λ_b),
//!    Y = V·Ỹ·Vᵀ, Y ← Y + Yᵀ
//! 3. G₂ = ½ (Σ⁻¹·Y·L⁻ᵀ − Y·Σ⁻¹·L⁻ᵀ)
//! 4. tril(G₁ + G₂)
//!
//! Like Pyro it forms L⁻¹ and Σ⁻¹ explicitly and decomposes Σ⁻¹ (with this crate's SVD: nalgebra's
//! needs type-level bounds for a generic D).

use omt_mvn::linalg::Svd;
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::{OmtMvn, Sample};

pub fn pyro_backward<const D: usize>(
    mvn: &OmtMvn<f64, D>,
    samples: &[Sample<f64, D>],
    grad_values: &[SVector<f64, D>],
) -> SMatrix<f64, D, D> {
    let scale_tril = mvn.scale_tril();
    let inverse = scale_tril.try_inverse().expect("L is invertible");
    let inverse_t = inverse.transpose();
    let precision = inverse_t * inverse;
    let jittered = precision.map(|x| x + 1e-8);
    let svd = Svd::new(&jittered).expect("SVD of the precision");
    let (v, lambda) = (svd.u, svd.singular_values);
    let mut g1 = SMatrix::<f64, D, D>::zeros();
    let mut g2 = SMatrix::<f64, D, D>::zeros();
    for (sample, g) in samples.iter().zip(grad_values) {
        let z = scale_tril * sample.noise;
        let whitened_grad = inverse * g;
        g1 += 0.5 * (g * sample.noise.transpose() + z * whitened_grad.transpose());
        let (vz, vg) = (v.transpose() * z, v.transpose() * g);
        let y_tilde = SMatrix::<f64, D, D>::from_fn(|a, b| vz[a] * vg[b] / (lambda[a] + lambda[b]));
        let y = v * y_tilde * v.transpose();
        let y = y + y.transpose();
        g2 += 0.5 * (precision * y * inverse_t - y * precision * inverse_t);
    }
    (g1 + g2).lower_triangle()
}
