//! Correctness past D = 16, where the golden file ends and the SVD changes its thresholds and
//! stepping rules: D = 24, 32, 48 and 64, on random, graded, clustered and Kahan-like factors.
//!
//! The reference is independent of the crate's SVD: the same closed form (tests/data/GOLDEN.md)
//! evaluated in f64 on a textbook one-sided Jacobi SVD with both singular bases (see
//! [`textbook_jacobi_svd`]), which is accurate to O(κ·u) for these well-conditioned L.
//! f64 results are held to 8·D·κ·u against it, f32 results to 8·D·κ·u against the f64 result
//! (whose own error is 10⁹ times smaller), and every result to the norm bound.

mod common;

use common::factors::{self, uniform};
use common::{assert_bounded_or_ill_conditioned, outer_sum_as_accumulated};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::normal::standard_normal;
use omt_mvn::omt::KAPPA_U_LIMIT;
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, Real, Sample};
use rand_pcg::Pcg64Mcg;

/// The accuracy bound in units of D·κ·u, as for the golden cases.
const BOUND_IN_D_KAPPA_U: f64 = 8.0;

/// U, s and V of L = U·diag(s)·Vᵀ.
type ReferenceSvd<const D: usize> = (SMatrix<f64, D, D>, SVector<f64, D>, SMatrix<f64, D, D>);

/// The textbook one-sided Jacobi SVD (Hestenes; Demmel & Veselić 1992), in f64: cyclic-by-rows
/// sweeps of plain rotations with V accumulated, until a whole sweep finds every pair orthogonal
/// to D·u. None of the crate's machinery (fast scaled rotations, parallel orderings, simultaneous
/// steps, the tail certificate) is in it, so it checks them. nalgebra's SVD was tried first and
/// fails a backward-error check on these inputs (U·S·Vᵀ up to 2.4·10⁻¹⁰ from a D = 32 Kahan
/// factor whose entries are at most 1; the crate's SVD: 3·10⁻¹⁵).
fn textbook_jacobi_svd<const D: usize>(factor: &SMatrix<f64, D, D>) -> ReferenceSvd<D> {
    let (mut work, mut v) = (*factor, SMatrix::<f64, D, D>::identity());
    let tolerance = D as f64 * f64::UNIT_ROUNDOFF;
    for _ in 0..60 {
        let mut rotated = false;
        for p in 0..D {
            for q in p + 1..D {
                let alpha = work.column(p).norm_squared();
                let beta = work.column(q).norm_squared();
                let gamma = work.column(p).dot(&work.column(q));
                if gamma.abs() <= tolerance * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for m in [&mut work, &mut v] {
                    for i in 0..D {
                        let (x, y) = (m[(i, p)], m[(i, q)]);
                        m[(i, p)] = c * x - s * y;
                        m[(i, q)] = s * x + c * y;
                    }
                }
            }
        }
        if !rotated {
            let s = SVector::<f64, D>::from_fn(|j, _| work.column(j).norm_squared().sqrt());
            let u = SMatrix::<f64, D, D>::from_fn(|i, j| work[(i, j)] / s[j]);
            return (u, s, v);
        }
    }
    panic!("the textbook Jacobi SVD did not converge in 60 sweeps");
}

/// The OMT gradient from the reference SVD L = U·S·Vᵀ: B = Vᵀ·Aᵀ·U,
/// Yₐᵦ = (sₐ·sᵦ·Bₐᵦ + sᵦ²·Bᵦₐ)/(sₐ² + sᵦ²), G = tril(U·Y·Vᵀ); and κ(L).
fn reference<const D: usize>(
    (u, s, v): ReferenceSvd<D>,
    outer_sum: &SMatrix<f64, D, D>,
) -> (SMatrix<f64, D, D>, f64) {
    let b = v.transpose() * outer_sum.transpose() * u;
    let y = SMatrix::<f64, D, D>::from_fn(|a, c| {
        (s[a] * s[c] * b[(a, c)] + s[c] * s[c] * b[(c, a)]) / (s[a] * s[a] + s[c] * s[c])
    });
    let kappa = s.max() / s.min();
    ((u * y * v.transpose()).lower_triangle(), kappa)
}

/// max-abs difference over the larger of max|reference| and the largest sum of |terms| that
/// entered A (the golden error measure).
fn relative_error<T: Real, const D: usize>(
    got: &SMatrix<T, D, D>,
    reference: &SMatrix<f64, D, D>,
    term_magnitude: f64,
) -> f64 {
    let difference = got.map(|x| x.to_f64()) - reference;
    difference.amax() / reference.amax().max(term_magnitude)
}

fn batch<T: Real, const D: usize>(
    mvn: &OmtMvn<T, D>,
    noise: &[SVector<f64, D>],
    grad_values: &[SVector<f64, D>],
) -> (Vec<Sample<T, D>>, Vec<SVector<T, D>>) {
    let samples = noise.iter().map(|e| mvn.reparameterize(e.map(T::from_f64_rounded))).collect();
    (samples, grad_values.iter().map(|g| g.map(T::from_f64_rounded)).collect())
}

/// Checks one factor in both precisions; returns κ(L).
fn check<const D: usize>(label: &str, factor: &SMatrix<f64, D, D>, rng: &mut Pcg64Mcg) -> f64 {
    let n = 1 + (uniform(rng) * 2.0 * D as f64) as usize;
    let mut draw = || SVector::<f64, D>::from_fn(|_, _| standard_normal(rng));
    let noise: Vec<_> = (0..n).map(|_| draw()).collect();
    let grad_values: Vec<_> = (0..n).map(|_| draw()).collect();
    let terms: SMatrix<f64, D, D> =
        noise.iter().zip(&grad_values).map(|(e, g)| g.abs() * e.abs().transpose()).sum();

    let mvn = OmtMvn::new(SVector::zeros(), *factor).unwrap();
    let (samples, grads_in) = batch::<f64, D>(&mvn, &noise, &grad_values);
    let (expected, kappa) =
        reference(textbook_jacobi_svd(factor), &outer_sum_as_accumulated(&samples, &grads_in));
    let result = mvn.vjp(&samples, &grads_in);
    let returned = assert_bounded_or_ill_conditioned(label, &result, &samples, &grads_in);
    assert!(returned, "{label} f64 refused, κ = {kappa:e}");
    let f64_grad = result.unwrap().scale_tril;
    let error = relative_error(&f64_grad, &expected, terms.max());
    let unit = D as f64 * kappa * f64::UNIT_ROUNDOFF;
    assert!(error <= BOUND_IN_D_KAPPA_U * unit, "{label} f64: {:.2}·D·κ·u", error / unit);
    println!("{label}: f64 error {:.3}·D·κ·u", error / unit);

    let mvn = OmtMvn::new(SVector::zeros(), factor.map(|x| x as f32)).unwrap();
    let (samples, grads_in) = batch::<f32, D>(&mvn, &noise, &grad_values);
    let result = mvn.vjp(&samples, &grads_in);
    let returned = assert_bounded_or_ill_conditioned(label, &result, &samples, &grads_in);
    let kappa_u = kappa * f32::UNIT_ROUNDOFF as f64;
    assert_eq!(returned, kappa_u < KAPPA_U_LIMIT, "{label} f32: κ·u = {kappa_u:e}");
    if let Ok(grads) = result {
        let error = relative_error(&grads.scale_tril, &f64_grad, terms.max());
        let unit = D as f64 * kappa_u;
        assert!(error <= BOUND_IN_D_KAPPA_U * unit, "{label} f32: {:.2}·D·κ·u", error / unit);
        println!("{label}: f32 error {:.3}·D·κ·u", error / unit);
    }
    kappa
}

fn every_family<const D: usize>() {
    let mut rng = Pcg64Mcg::seed_from_u64(0x1a56e + D as u64);
    for trial in 0..3 {
        let random = factors::random::<D>(&mut rng);
        let kappa = check(&format!("D={D} random {trial}"), &random, &mut rng);
        println!("D = {D}, random: κ = {kappa:.3e}");
        let graded = factors::graded_rows::<D>(&mut rng, 1.0 + trial as f64);
        let kappa = check(&format!("D={D} graded {trial}"), &graded, &mut rng);
        println!("D = {D}, graded over {} decades: κ = {kappa:.3e}", 1 + trial);
        let clustered = factors::clustered::<D>(&mut rng);
        check(&format!("D={D} clustered {trial}"), &clustered, &mut rng);
    }
    for gamma in [0.05, 0.1, 0.2] {
        let kahan = factors::kahan::<D>(gamma);
        let kappa = check(&format!("D={D} Kahan γ={gamma}"), &kahan, &mut rng);
        println!("D = {D}, Kahan γ = {gamma}: κ = {kappa:.3e}");
    }
}

fn on_a_large_stack(run: fn()) {
    std::thread::Builder::new().stack_size(64 << 20).spawn(run).unwrap().join().unwrap();
}

#[test]
fn omt_vjp_matches_an_independent_svd_reference_at_d_24() {
    on_a_large_stack(every_family::<24>);
}

#[test]
fn omt_vjp_matches_an_independent_svd_reference_at_d_32() {
    on_a_large_stack(every_family::<32>);
}

#[test]
fn omt_vjp_matches_an_independent_svd_reference_at_d_48() {
    on_a_large_stack(every_family::<48>);
}

#[test]
fn omt_vjp_matches_an_independent_svd_reference_at_d_64() {
    on_a_large_stack(every_family::<64>);
}
