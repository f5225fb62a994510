//! The SVI building blocks against torch / Pyro float64 references (`tests/data/svi_refs.json`):
//! the lower-Cholesky transforms within 10⁻¹⁴ relative, every step of the Adam and ClippedAdam
//! traces within 10⁻¹² relative; then what needs no reference: the round trip, central finite
//! differences, typed errors.

use omt_mvn::Error;
use omt_mvn::nalgebra::SMatrix;
use omt_mvn::optim::{Adam, ClippedAdam};
use omt_mvn::transform::*;
use serde::Deserialize;

type Rows = Vec<Vec<f64>>;

#[derive(Deserialize)]
struct TransformCase {
    theta: Rows,
    forward: Rows,
    upstream: Rows,
    vjp: Rows,
    inverse_of_forward: Rows,
}

#[derive(Deserialize)]
struct OptimizerTrace {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    clip_norm: Option<f64>,
    lrd: Option<f64>,
    param0: Rows,
    grads: Vec<Rows>,
    params: Vec<Rows>,
}

#[derive(Deserialize)]
struct References {
    adam: Vec<OptimizerTrace>,
    clipped_adam: Vec<OptimizerTrace>,
    lower_cholesky: Vec<TransformCase>,
    softplus_lower_cholesky: Vec<TransformCase>,
}

fn references() -> References {
    let text = include_str!("data/svi_refs.json");
    serde_json::from_str(text).expect("svi_refs.json parses")
}

fn matrix<const R: usize, const C: usize>(rows: &Rows) -> SMatrix<f64, R, C> {
    assert_eq!((rows.len(), rows[0].len()), (R, C));
    SMatrix::from_fn(|i, j| rows[i][j])
}

/// Largest |got − want| relative to max(|want|, the reference's largest entry · 10⁻³) entrywise:
/// relative where an entry is not tiny next to its matrix.
fn relative_error<const R: usize, const C: usize>(
    got: &SMatrix<f64, R, C>,
    want: &SMatrix<f64, R, C>,
) -> f64 {
    let floor = want.abs().max() * 1e-3;
    got.iter().zip(want.iter()).map(|(g, w)| (g - w).abs() / w.abs().max(floor)).fold(0.0, f64::max)
}

fn check_transform<Tr: ScaleTrilTransform, const D: usize>(transform: &Tr, case: &TransformCase) {
    let theta = matrix::<D, D>(&case.theta);
    let forward = transform.forward(&theta);
    assert!(relative_error(&forward, &matrix(&case.forward)) <= 1e-14, "forward D = {D}");
    let vjp = transform.vjp(&theta, &matrix(&case.upstream));
    assert!(
        relative_error(&vjp, &matrix(&case.vjp)) <= 1e-14,
        "vjp D = {D}: {vjp} vs {:?}",
        case.vjp
    );
    let inverse = transform.inverse(&forward).unwrap();
    assert!(
        relative_error(&inverse, &matrix(&case.inverse_of_forward)) <= 1e-14,
        "inverse D = {D}"
    );
    // θ back on the lower triangle (the diagonal through f⁻¹∘f, within a few ulps).
    let lower = theta.lower_triangle();
    assert!(relative_error(&inverse, &lower) <= 1e-14, "round trip D = {D}");
}

fn check_transform_cases<Tr: ScaleTrilTransform>(transform: Tr, cases: &[TransformCase]) {
    assert_eq!(cases.len(), 3);
    for case in cases {
        match case.theta.len() {
            1 => check_transform::<Tr, 1>(&transform, case),
            3 => check_transform::<Tr, 3>(&transform, case),
            5 => check_transform::<Tr, 5>(&transform, case),
            other => panic!("no case of dimension {other} expected"),
        }
    }
}

#[test]
fn lower_cholesky_matches_torch() {
    check_transform_cases(LowerCholesky, &references().lower_cholesky);
}

#[test]
fn softplus_lower_cholesky_matches_pyro() {
    check_transform_cases(SoftplusLowerCholesky, &references().softplus_lower_cholesky);
}

fn check_trace(
    trace: &OptimizerTrace,
    mut step: impl FnMut(&mut SMatrix<f64, 3, 2>, &SMatrix<f64, 3, 2>),
) {
    assert_eq!(trace.grads.len(), 40);
    let mut param = matrix::<3, 2>(&trace.param0);
    for (t, (grad, want)) in trace.grads.iter().zip(&trace.params).enumerate() {
        step(&mut param, &matrix(grad));
        let error = relative_error(&param, &matrix(want));
        assert!(error <= 1e-12, "step {}: relative error {error:e}", t + 1);
    }
}

#[test]
fn adam_follows_torch_step_by_step() {
    for trace in &references().adam {
        let mut adam =
            Adam::new(trace.lr).with_betas(trace.betas.0, trace.betas.1).with_eps(trace.eps);
        check_trace(trace, |param, grad| adam.step(param, grad).unwrap());
    }
}

#[test]
fn clipped_adam_follows_pyro_step_by_step() {
    for trace in &references().clipped_adam {
        let mut adam = ClippedAdam::new(trace.lr)
            .with_betas(trace.betas.0, trace.betas.1)
            .with_eps(trace.eps)
            .with_clip_norm(trace.clip_norm.unwrap())
            .with_lrd(trace.lrd.unwrap());
        check_trace(trace, |param, grad| adam.step(param, grad).unwrap());
    }
}

/// ∂⟨upstream, forward(θ)⟩/∂θ by central differences with step h = 10⁻⁶·max(1, |θᵢⱼ|): truncation
/// O(h²·f‴) leaves about 10⁻⁹ relative, and the loss's own rounding, 16·u·Σ|terms|, up to that
/// over h.
fn check_finite_differences<Tr: ScaleTrilTransform>(transform: Tr) {
    use omt_mvn::rand_core::SeedableRng;
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
    for _ in 0..20 {
        let theta =
            SMatrix::<f64, 4, 4>::from_fn(|_, _| 3.0 * omt_mvn::normal::standard_normal(&mut rng));
        let upstream =
            SMatrix::<f64, 4, 4>::from_fn(|_, _| omt_mvn::normal::standard_normal(&mut rng));
        let loss =
            |theta: &SMatrix<f64, 4, 4>| transform.forward(theta).component_mul(&upstream).sum();
        let vjp = transform.vjp(&theta, &upstream);
        for i in 0..4 {
            for j in 0..4 {
                let h = 1e-6 * theta[(i, j)].abs().max(1.0);
                let (mut plus, mut minus) = (theta, theta);
                plus[(i, j)] += h;
                minus[(i, j)] -= h;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
                let terms = transform.forward(&theta).component_mul(&upstream).abs().sum();
                let rounding = 16.0 * f64::EPSILON * terms / h;
                let tolerance = 1e-7 * vjp[(i, j)].abs().max(1e-3) + rounding;
                let error = (numeric - vjp[(i, j)]).abs();
                assert!(error <= tolerance, "({i}, {j}): {numeric} vs {}", vjp[(i, j)]);
            }
        }
    }
}

#[test]
fn lower_cholesky_vjp_matches_finite_differences() {
    check_finite_differences(LowerCholesky);
}

#[test]
fn softplus_lower_cholesky_vjp_matches_finite_differences() {
    check_finite_differences(SoftplusLowerCholesky);
}

#[test]
fn inverse_refuses_what_is_not_a_cholesky_factor() {
    let good = SMatrix::<f64, 3, 3>::new(1.0, 0.0, 0.0, 0.5, 2.0, 0.0, -1.0, 0.3, 0.7);
    let cases = [
        ((0, 2), f64::NAN, Error::NonFiniteScaleTril { row: 0, col: 2 }),
        ((2, 1), f64::INFINITY, Error::NonFiniteScaleTril { row: 2, col: 1 }),
        ((0, 1), 0.1, Error::NotLowerTriangular { row: 0, col: 1 }),
        ((1, 1), 0.0, Error::NonPositiveDiagonal { index: 1 }),
        ((2, 2), -0.5, Error::NonPositiveDiagonal { index: 2 }),
    ];
    for ((row, col), value, error) in cases {
        let mut bad = good;
        bad[(row, col)] = value;
        assert_eq!(LowerCholesky.inverse(&bad), Err(error));
        assert_eq!(SoftplusLowerCholesky.inverse(&bad), Err(error));
    }
    assert!(LowerCholesky.inverse(&good).is_ok());
}

#[test]
fn optimizers_refuse_non_finite_gradients_and_stay_put() {
    let start = SMatrix::<f64, 2, 2>::new(1.0, 2.0, 3.0, 4.0);
    let bad = SMatrix::<f64, 2, 2>::new(0.1, f64::INFINITY, 0.0, 0.0);
    let mut adam = Adam::new(0.1);
    let mut clipped = ClippedAdam::new(0.1).with_lrd(0.5);
    let (adam_before, clipped_before) = (adam, clipped);
    let mut param = start;
    assert_eq!(adam.step(&mut param, &bad), Err(Error::NonFiniteGradient { row: 0, col: 1 }));
    assert_eq!(clipped.step(&mut param, &bad), Err(Error::NonFiniteGradient { row: 0, col: 1 }));
    assert_eq!((param, adam, clipped), (start, adam_before, clipped_before));
    // An update that would overflow the parameter is refused too.
    let mut huge = SMatrix::<f64, 2, 2>::repeat(f64::MAX);
    assert_eq!(Adam::new(f64::MAX).step(&mut huge, &SMatrix::repeat(-1.0)), Err(Error::Overflow));
    assert_eq!(huge, SMatrix::<f64, 2, 2>::repeat(f64::MAX));
}

#[test]
fn the_transforms_work_in_f32_too() {
    let theta = SMatrix::<f32, 3, 3>::from_fn(|i, j| (i as f32 - j as f32) * 0.5);
    for scale_tril in [LowerCholesky.forward(&theta), SoftplusLowerCholesky.forward(&theta)] {
        assert!(scale_tril.iter().all(|x| x.is_finite()));
        assert!(scale_tril.diagonal().iter().all(|&d| d > 0.0));
    }
}
