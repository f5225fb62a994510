//! The OMT backward pass against an independent oracle, analytic expectations and invariances,
//! plus its contract on bad input.

use omt_mvn::nalgebra::{Matrix1, Matrix3, SMatrix, SVector, Vector1, Vector3};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, Grads, OmtMvn, Real, Sample};
use rand_pcg::Pcg64Mcg;

/// A lower-triangular factor with κ of order 10–100 and entries of mixed sign.
fn test_scale_tril<T: Real, const D: usize>() -> SMatrix<T, D, D> {
    SMatrix::from_fn(|i, j| {
        let value = if i == j {
            0.4 + 0.25 * ((i * 7) % 5) as f64
        } else if i > j {
            0.35 * (((2 * i + 3 * j) % 5) as f64 - 2.0)
        } else {
            0.0
        };
        T::from_f64_rounded(value)
    })
}

fn batch<T: Real, const D: usize>(
    mvn: &OmtMvn<T, D>,
    n: usize,
    seed: u64,
    grad: impl Fn(&SVector<T, D>) -> SVector<T, D>,
) -> (Vec<Sample<T, D>>, Vec<SVector<T, D>>) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let samples: Vec<_> = (0..n).map(|_| mvn.rsample(&mut rng)).collect();
    let grads = samples.iter().map(|s| grad(&s.value)).collect();
    (samples, grads)
}

fn relative_difference<T: Real, const D: usize>(a: &SMatrix<T, D, D>, b: &SMatrix<T, D, D>) -> f64 {
    let diff = (a - b).iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
    let size = b.iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
    diff / size
}

// ---------------------------------------------------------------------------------------------
// The oracle: Pyro's own formula, with its Lyapunov equation solved as a D²×D² linear system by
// Gaussian elimination (code independent of the crate's SVD path).

fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for k in 0..n {
        let pivot = (k..n).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs())).unwrap();
        a.swap(k, pivot);
        b.swap(k, pivot);
        for i in k + 1..n {
            let factor = a[i][k] / a[k][k];
            for j in k..n {
                a[i][j] -= factor * a[k][j];
            }
            b[i] -= factor * b[k];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let tail: f64 = (i + 1..n).map(|j| a[i][j] * x[j]).sum();
        x[i] = (b[i] - tail) / a[i][i];
    }
    x
}

/// Pyro's backward pass: G₁ = ½(A + L·Aᵀ·L⁻ᵀ); Ỹ solves Σ⁻¹Ỹ + ỸΣ⁻¹ = L·Aᵀ; Y = Ỹ + Ỹᵀ;
/// G₂ = ½(Σ⁻¹·Y·L⁻ᵀ − Y·Σ⁻¹·L⁻ᵀ); result tril(G₁ + G₂).
fn kronecker_oracle<const D: usize>(
    scale_tril: &SMatrix<f64, D, D>,
    a: &SMatrix<f64, D, D>,
) -> SMatrix<f64, D, D> {
    let inverse = scale_tril.try_inverse().unwrap();
    let precision = inverse.transpose() * inverse;
    let rhs = scale_tril * a.transpose();
    // vec(Σ⁻¹Y + YΣ⁻¹) = (I⊗Σ⁻¹ + Σ⁻¹ᵀ⊗I) vec(Y), column-major vec: index (i, j) ↦ i + D·j.
    let n = D * D;
    let mut system = vec![vec![0.0; n]; n];
    for i in 0..D {
        for j in 0..D {
            let row = i + D * j;
            for k in 0..D {
                system[row][k + D * j] += precision[(i, k)];
                system[row][i + D * k] += precision[(k, j)];
            }
        }
    }
    let solution = solve_dense(system, (0..n).map(|r| rhs[(r % D, r / D)]).collect());
    let y_tilde = SMatrix::<f64, D, D>::from_fn(|i, j| solution[i + D * j]);
    let y = y_tilde + y_tilde.transpose();
    let g1 = 0.5 * (a + scale_tril * a.transpose() * inverse.transpose());
    let g2 = 0.5 * (precision * y * inverse.transpose() - y * precision * inverse.transpose());
    (g1 + g2).lower_triangle()
}

fn outer_sum<const D: usize>(
    samples: &[Sample<f64, D>],
    grads: &[SVector<f64, D>],
) -> SMatrix<f64, D, D> {
    samples.iter().zip(grads).fold(SMatrix::zeros(), |acc, (s, g)| acc + g * s.noise.transpose())
}

fn matches_oracle<const D: usize>(seed: u64) {
    let mvn = OmtMvn::new(SVector::<f64, D>::repeat(0.3), test_scale_tril::<f64, D>()).unwrap();
    let target = SMatrix::<f64, D, D>::from_fn(|i, j| if i == j { 1.0 } else { 0.2 });
    let (samples, grads) = batch(&mvn, 7, seed, |x| target * x + SVector::repeat(0.5));
    let got = mvn.vjp(&samples, &grads).unwrap();
    let oracle = kronecker_oracle(mvn.scale_tril(), &outer_sum(&samples, &grads));
    // κ(L) ≤ 100 here and the oracle is O(κ²·u) accurate, so 1e-10 separates right from wrong.
    let difference = relative_difference(&got.scale_tril, &oracle);
    assert!(difference < 1e-10, "D = {D}: {difference:e} from the Kronecker oracle");
}

#[test]
fn vjp_matches_the_kronecker_lyapunov_oracle_up_to_d_6() {
    for seed in 0..5 {
        matches_oracle::<1>(seed);
        matches_oracle::<2>(seed);
        matches_oracle::<3>(seed);
        matches_oracle::<4>(seed);
        matches_oracle::<5>(seed);
        matches_oracle::<6>(seed);
    }
}

// ---------------------------------------------------------------------------------------------
// Invariances and reductions.

fn scaled_grads<T: Real, const D: usize>(scale: T, noise_seed: u64) -> Result<Grads<T, D>, Error> {
    let scale_tril = test_scale_tril::<T, D>() * scale;
    let mvn = OmtMvn::new(SVector::zeros(), scale_tril)?;
    // The same noise and upstream gradients for every scale: G depends on L only through its shape.
    let reference = OmtMvn::new(SVector::zeros(), test_scale_tril::<T, D>())?;
    let (samples, grads) = batch(&reference, 9, noise_seed, |x| x.map(|v| v * v - T::one()));
    let samples: Vec<_> = samples.iter().map(|s| mvn.reparameterize(s.noise)).collect();
    mvn.vjp(&samples, &grads)
}

#[test]
fn vjp_is_invariant_under_scaling_scale_tril_in_f64() {
    let reference = scaled_grads::<f64, 6>(1.0, 3).unwrap();
    for exponent in -300..=300 {
        if exponent % 25 != 0 {
            continue;
        }
        for mantissa in [1.0, 3.7] {
            let got = scaled_grads::<f64, 6>(mantissa * 10f64.powi(exponent), 3).unwrap();
            let difference = relative_difference(&got.scale_tril, &reference.scale_tril);
            assert!(difference < 1e-12, "c = {mantissa}e{exponent}: {difference:e}");
        }
    }
}

#[test]
fn vjp_is_invariant_under_scaling_scale_tril_in_f32() {
    let reference = scaled_grads::<f32, 5>(1.0, 4).unwrap();
    for exponent in -30..=30 {
        for mantissa in [1.0f32, 3.7] {
            let got = scaled_grads::<f32, 5>(mantissa * 10f32.powi(exponent), 4).unwrap();
            let difference = relative_difference(&got.scale_tril, &reference.scale_tril);
            assert!(difference < 1e-4, "c = {mantissa}e{exponent}: {difference:e}");
        }
    }
}

#[test]
fn power_of_two_scaling_leaves_every_bit_of_the_gradient_unchanged() {
    let reference = scaled_grads::<f64, 8>(1.0, 5).unwrap();
    for k in [-990, -64, -1, 1, 64, 990] {
        let got = scaled_grads::<f64, 8>(libm::scalbn(1.0, k), 5).unwrap();
        assert_eq!(got.scale_tril, reference.scale_tril, "c = 2^{k}");
    }
}

#[test]
fn one_dimensional_omt_is_exactly_the_reparam_estimator() {
    for scale in [1e-300_f64, 0.37, 1.0, 3.0, 1e300] {
        let mvn = OmtMvn::new(Vector1::new(0.5), Matrix1::new(scale)).unwrap();
        let (samples, grads) = batch(&mvn, 33, 9, |x| x.map(|v| (v / scale).sin()));
        assert_eq!(mvn.vjp(&samples, &grads), mvn.reparam_vjp(&samples, &grads));
    }
}

#[test]
fn reparam_vjp_is_the_lower_triangle_of_the_outer_product_sum() {
    let mvn = OmtMvn::new(Vector3::new(1.0, 2.0, 3.0), test_scale_tril::<f64, 3>()).unwrap();
    let (samples, grads) = batch(&mvn, 50, 10, |x| x.map(|v| v.cos()));
    let got = mvn.reparam_vjp(&samples, &grads).unwrap();
    let expected = outer_sum(&samples, &grads).lower_triangle();
    assert!(relative_difference(&got.scale_tril, &expected) < 1e-15);
    assert_eq!(got.loc, grads.iter().sum::<Vector3<f64>>());
}

#[test]
fn accumulator_is_bit_identical_to_vjp_and_merging_stays_within_the_accuracy_bound() {
    let mvn = OmtMvn::new(SVector::<f64, 8>::zeros(), test_scale_tril::<f64, 8>()).unwrap();
    let (samples, grads) = batch(&mvn, 1000, 11, |x| x.map(|v| v * v * v));
    let whole = mvn.vjp(&samples, &grads).unwrap();
    let mut accumulator = mvn.vjp_accumulator();
    for (s, g) in samples.iter().zip(&grads) {
        accumulator.push(s, g);
    }
    assert_eq!(accumulator.finish().unwrap(), whole);

    let mut shards: Vec<_> = (0..4).map(|_| mvn.vjp_accumulator()).collect();
    for (k, (s, g)) in samples.iter().zip(&grads).enumerate() {
        shards[k % 4].push(s, g);
    }
    let mut merged = shards[0];
    for shard in &shards[1..] {
        merged.merge(shard);
    }
    let merged = merged.finish().unwrap();
    // Merging reorders the sum into A (a few ulp of the terms); the finish amplifies that by κ.
    let svd = omt_mvn::linalg::LeftSvd::new(mvn.scale_tril()).unwrap();
    let kappa = svd.singular_values[0] / svd.singular_values[7];
    let bound = 8.0 * 8.0 * kappa * f64::UNIT_ROUNDOFF;
    let terms = samples
        .iter()
        .zip(&grads)
        .fold(0.0f64, |m, (s, g)| m + (g * s.noise.transpose()).abs().max());
    let size = whole.scale_tril.abs().max().max(terms);
    let difference = (merged.scale_tril - whole.scale_tril).abs().max() / size;
    assert!(difference <= bound, "{difference:e} > {bound:e}");
    assert!((merged.loc - whole.loc).abs().max() <= 1e-12 * whole.loc.abs().max());
}

/// One sample takes the rank-one finish (B from two matrix-vector products); the same A reached
/// through a second, zero-gradient push takes the general one (two D×D products). They must agree
/// within the accuracy bound, and an empty accumulator merged with a one-sample one is still one
/// sample.
fn single_sample_finish_agrees_with_the_general_finish<T: Real, const D: usize>(
    scale_tril: SMatrix<T, D, D>,
) {
    let mvn = OmtMvn::new(SVector::<T, D>::zeros(), scale_tril).unwrap();
    let (samples, grads) = batch(&mvn, 1, 21, |x| x.map(|v| v * v * v - v));
    let single = mvn.vjp(&samples, &grads).unwrap();
    let mut general = mvn.vjp_accumulator();
    general.push(&samples[0], &grads[0]);
    general.push(&samples[0], &SVector::zeros());
    let general = general.finish().unwrap();
    assert_eq!(general.loc, single.loc);

    let svd = omt_mvn::linalg::LeftSvd::new(&scale_tril).unwrap();
    let kappa = (svd.singular_values[0] / svd.singular_values[D - 1]).to_f64();
    let bound = 8.0 * D as f64 * kappa * T::UNIT_ROUNDOFF.to_f64();
    let terms = (grads[0] * samples[0].noise.transpose()).abs().max().to_f64();
    let size = single.scale_tril.abs().max().to_f64().max(terms);
    let difference = (general.scale_tril - single.scale_tril).abs().max().to_f64() / size;
    assert!(difference <= bound, "D = {D}: {difference:e} > {bound:e}");

    let (mut empty, mut one) = (mvn.vjp_accumulator(), mvn.vjp_accumulator());
    one.push(&samples[0], &grads[0]);
    empty.merge(&one);
    assert_eq!(empty.finish().unwrap(), single);
}

#[test]
fn single_sample_finish_agrees_with_the_general_finish_within_the_accuracy_bound() {
    single_sample_finish_agrees_with_the_general_finish::<f64, 8>(test_scale_tril());
    single_sample_finish_agrees_with_the_general_finish::<f32, 8>(test_scale_tril());
    single_sample_finish_agrees_with_the_general_finish::<f64, 16>(test_scale_tril());
    // Graded: the diagonal spans ten orders of magnitude, κ ≈ 10¹⁰.
    let graded = SMatrix::<f64, 6, 6>::from_fn(|i, j| {
        if i < j {
            0.0
        } else {
            10f64.powi(-2 * i as i32) * if i == j { 1.0 } else { 0.3 * (i + j) as f64 }
        }
    });
    single_sample_finish_agrees_with_the_general_finish::<f64, 6>(graded);
}

fn vjp_equals_pushing_one_sample_at_a_time<T: Real, const D: usize>(n: usize) {
    let mvn = OmtMvn::new(SVector::<T, D>::zeros(), test_scale_tril::<T, D>()).unwrap();
    let (samples, grads) = batch(&mvn, n, 12, |x| x.map(|v| v * v - T::one()));
    let mut accumulator = mvn.vjp_accumulator();
    for (s, g) in samples.iter().zip(&grads) {
        accumulator.push(s, g);
    }
    assert_eq!(
        accumulator.finish().unwrap(),
        mvn.vjp(&samples, &grads).unwrap(),
        "D = {D}, n = {n}"
    );
}

#[test]
fn vjp_is_bit_identical_to_single_pushes_for_every_blocking_of_a() {
    // vjp accumulates A in register blocks of 8, 4, 2 or 1 rows and one or two columns (and a
    // last lone column for odd D), over chunks of 64 samples taken two at a time, and sums loc's
    // gradient alongside in pieces of two rows (one for odd D): each shape, with a chunk
    // boundary, a partial last chunk, and chunks of odd length that end in a lone sample.
    for n in [0, 1, 63, 64, 65, 130] {
        vjp_equals_pushing_one_sample_at_a_time::<f64, 1>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 3>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 5>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 6>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 12>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f32, 8>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 8>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 9>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 10>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 16>(n);
        vjp_equals_pushing_one_sample_at_a_time::<f64, 24>(n);
    }
}

// ---------------------------------------------------------------------------------------------
// Unbiasedness: averages of the estimator against analytic gradients of E f(x).

/// Per-sample OMT and reparam gradients; returns (mean, standard error) of each entry of L's
/// gradient for both estimators, plus the summed per-sample variances.
struct Estimate<const D: usize> {
    mean: SMatrix<f64, D, D>,
    standard_error: SMatrix<f64, D, D>,
    total_variance: f64,
}

fn estimate<const D: usize>(
    mvn: &OmtMvn<f64, D>,
    n: usize,
    seed: u64,
    grad: impl Fn(&SVector<f64, D>) -> SVector<f64, D>,
    omt: bool,
) -> Estimate<D> {
    let (samples, grads) = batch(mvn, n, seed, grad);
    let mut sum = SMatrix::<f64, D, D>::zeros();
    let mut sum_squares = SMatrix::<f64, D, D>::zeros();
    for (s, g) in samples.iter().zip(&grads) {
        let one = if omt { mvn.vjp(&[*s], &[*g]) } else { mvn.reparam_vjp(&[*s], &[*g]) };
        let one = one.unwrap().scale_tril;
        sum += one;
        sum_squares += one.component_mul(&one);
    }
    let nf = n as f64;
    let mean = sum / nf;
    let variance = sum_squares / nf - mean.component_mul(&mean);
    if omt {
        // Linearity: the batched call is the sum of the per-sample ones.
        let batched = mvn.vjp(&samples, &grads).unwrap().scale_tril / nf;
        assert!((batched - mean).abs().max() < 1e-10 * (1.0 + mean.abs().max()));
    }
    Estimate {
        mean,
        standard_error: variance.map(|v| (v.max(0.0) / nf).sqrt()),
        total_variance: variance.sum(),
    }
}

fn assert_unbiased<const D: usize>(label: &str, got: &Estimate<D>, expected: &SMatrix<f64, D, D>) {
    for i in 0..D {
        for j in 0..=i {
            let z = (got.mean[(i, j)] - expected[(i, j)]) / got.standard_error[(i, j)].max(1e-300);
            // Deterministic (seeded); |z| < 6 would fail by chance with probability ~2e-9.
            assert!(z.abs() < 6.0, "{label}: entry ({i},{j}) z = {z:.2}");
        }
    }
}

#[test]
fn pyro_cosine_test_recovers_the_analytic_gradient() {
    let omega = Vector3::new(0.5, 0.75, 0.0);
    for l21 in [0.4, 1.1] {
        let scale_tril = Matrix3::new(0.6, 0.0, 0.0, l21, 0.8, 0.0, 0.0, 0.0, 0.9);
        let mvn = OmtMvn::new(Vector3::zeros(), scale_tril).unwrap();
        let got = estimate(&mvn, 200_000, 20, |x| -omega * omega.dot(x).sin(), true);
        let expected_f = (-0.5 * (scale_tril.transpose() * omega).norm_squared()).exp();
        let expected = -expected_f * (omega * omega.transpose() * scale_tril).lower_triangle();
        // Pyro's own test: entry (2, 1) within 0.005 of the closed form.
        let closed_form = -omega[1]
            * (0.6 * omega[0] + l21 * omega[1])
            * (-0.5 * (0.8 * omega[1]).powi(2)).exp()
            * (-0.5 * (0.6 * omega[0] + l21 * omega[1]).powi(2)).exp();
        assert!((expected[(1, 0)] - closed_form).abs() < 1e-15);
        assert!(
            (got.mean[(1, 0)] - closed_form).abs() < 0.005,
            "L21 = {l21}: {}",
            got.mean[(1, 0)]
        );
        assert_unbiased("cos", &got, &expected);
    }
}

fn quadratic_case<const D: usize>() {
    let q = SMatrix::<f64, D, D>::from_fn(
        |i, j| if i == j { 2.0 } else { 0.3 / (1.0 + (i + j) as f64) },
    );
    let mvn = OmtMvn::new(SVector::<f64, D>::repeat(0.2), test_scale_tril::<f64, D>()).unwrap();
    let got = estimate(&mvn, 20_000, 21, |x| q * x, true);
    assert_unbiased("quadratic", &got, &(q * mvn.scale_tril()).lower_triangle());
}

fn exponential_case<const D: usize>() {
    let omega = SVector::<f64, D>::from_fn(|i, _| 0.3 - 0.1 * i as f64 / D as f64);
    let loc = SVector::<f64, D>::repeat(0.1);
    let scale_tril = test_scale_tril::<f64, D>() * 0.5;
    let mvn = OmtMvn::new(loc, scale_tril).unwrap();
    let got = estimate(&mvn, 20_000, 22, |x| omega * omega.dot(x).exp(), true);
    let expected_f =
        (omega.dot(&loc) + 0.5 * (scale_tril.transpose() * omega).norm_squared()).exp();
    assert_unbiased(
        "exp",
        &got,
        &(expected_f * omega * omega.transpose() * scale_tril).lower_triangle(),
    );
}

fn gaussian_target<const D: usize>() -> (SVector<f64, D>, SMatrix<f64, D, D>) {
    let m = SVector::<f64, D>::from_fn(|i, _| 0.5 - 0.05 * i as f64);
    let root = SMatrix::<f64, D, D>::from_fn(|i, j| {
        if i == j {
            1.2
        } else if i > j {
            0.3
        } else {
            0.0
        }
    });
    (m, root * root.transpose())
}

fn gaussian_target_case<const D: usize>() -> (f64, f64) {
    let (m, precision) = gaussian_target::<D>();
    let mvn = OmtMvn::new(SVector::<f64, D>::zeros(), test_scale_tril::<f64, D>()).unwrap();
    let gradient = |x: &SVector<f64, D>| -(precision * (x - m));
    let omt = estimate(&mvn, 20_000, 23, gradient, true);
    let reparam = estimate(&mvn, 20_000, 23, gradient, false);
    let expected = -(precision * mvn.scale_tril()).lower_triangle();
    assert_unbiased("gaussian target (omt)", &omt, &expected);
    assert_unbiased("gaussian target (reparam)", &reparam, &expected);
    (omt.total_variance, reparam.total_variance)
}

#[test]
fn omt_is_unbiased_for_the_analytic_cases_of_the_math_note() {
    quadratic_case::<2>();
    quadratic_case::<4>();
    quadratic_case::<8>();
    exponential_case::<2>();
    exponential_case::<4>();
    exponential_case::<8>();
}

#[test]
fn omt_has_lower_per_sample_variance_than_reparam_on_a_gaussian_target() {
    // Measured here: ratios printed below; the bound leaves room for the ~2 % standard error of
    // a variance ratio from 20 000 samples.
    let ratios = [
        {
            let (o, r) = gaussian_target_case::<2>();
            o / r
        },
        {
            let (o, r) = gaussian_target_case::<4>();
            o / r
        },
        {
            let (o, r) = gaussian_target_case::<8>();
            o / r
        },
        {
            let (o, r) = gaussian_target_case::<16>();
            o / r
        },
    ];
    println!("Var(OMT)/Var(reparam), Gaussian target, D = 2, 4, 8, 16: {ratios:.3?}");
    for ratio in ratios {
        assert!(ratio < 0.95, "{ratios:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn non_finite_noise_or_gradients_are_an_error() {
    let mvn = OmtMvn::new(Vector3::zeros(), test_scale_tril::<f64, 3>()).unwrap();
    let (samples, grads) = batch(&mvn, 5, 30, |x| *x);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut bad_samples = samples.clone();
        bad_samples[2].noise[1] = bad;
        assert_eq!(mvn.vjp(&bad_samples, &grads), Err(Error::NonFiniteBatch));
        assert_eq!(mvn.reparam_vjp(&bad_samples, &grads), Err(Error::NonFiniteBatch));
        let mut bad_grads = grads.clone();
        bad_grads[4][0] = bad;
        assert_eq!(mvn.vjp(&samples, &bad_grads), Err(Error::NonFiniteBatch));
        assert_eq!(mvn.reparam_vjp(&samples, &bad_grads), Err(Error::NonFiniteBatch));
    }
    // Finite inputs whose products overflow.
    let mut huge = grads.clone();
    huge[0] = Vector3::repeat(1e300);
    let mut wide = samples.clone();
    wide[0].noise = Vector3::repeat(1e300);
    assert_eq!(mvn.vjp(&wide, &huge), Err(Error::NonFiniteBatch));
}

#[test]
fn mismatched_lengths_are_an_error() {
    let mvn = OmtMvn::new(Vector3::zeros(), test_scale_tril::<f64, 3>()).unwrap();
    let (samples, grads) = batch(&mvn, 5, 31, |x| *x);
    let expected = Err(Error::LengthMismatch { samples: 5, grad_values: 4 });
    assert_eq!(mvn.vjp(&samples, &grads[..4]), expected);
    assert_eq!(mvn.reparam_vjp(&samples, &grads[..4]), expected);
}

#[test]
fn an_empty_batch_gives_zero_gradients() {
    let mvn = OmtMvn::new(Vector3::<f32>::zeros(), test_scale_tril::<f32, 3>()).unwrap();
    let zero = Grads { loc: Vector3::zeros(), scale_tril: Matrix3::zeros() };
    assert_eq!(mvn.vjp(&[], &[]), Ok(zero));
    assert_eq!(mvn.reparam_vjp(&[], &[]), Ok(zero));
    assert_eq!(mvn.vjp_accumulator().finish(), Ok(zero));
}

#[test]
fn merging_accumulators_of_different_distributions_is_an_error() {
    let a = OmtMvn::new(Vector3::zeros(), test_scale_tril::<f64, 3>()).unwrap();
    let b = OmtMvn::new(Vector3::zeros(), test_scale_tril::<f64, 3>() * 2.0).unwrap();
    let mut accumulator = a.vjp_accumulator();
    accumulator.merge(&b.vjp_accumulator());
    assert_eq!(accumulator.finish(), Err(Error::AccumulatorMismatch));
    // The same scale_tril with another loc is the same backward pass.
    let c = OmtMvn::new(Vector3::repeat(5.0), test_scale_tril::<f64, 3>()).unwrap();
    let mut accumulator = a.vjp_accumulator();
    accumulator.merge(&c.vjp_accumulator());
    assert!(accumulator.finish().is_ok());
}

fn finite_or_typed_error<T: Real, const D: usize>(scale_tril: SMatrix<T, D, D>) {
    let mvn = OmtMvn::new(SVector::zeros(), scale_tril).unwrap();
    let (samples, grads) = batch(&mvn, 20, 40, |_| SVector::repeat(T::one()));
    match mvn.vjp(&samples, &grads) {
        Ok(g) => assert!(g.scale_tril.iter().chain(g.loc.iter()).all(|x| x.is_finite_value())),
        Err(e) => assert!(matches!(e, Error::IllConditioned | Error::Overflow), "{e}"),
    }
}

#[test]
fn absurdly_conditioned_scale_tril_gives_finite_gradients_or_a_typed_error() {
    // The example: squared singular values underflow even after scaling.
    let absurd =
        OmtMvn::new(Vector3::zeros(), Matrix3::from_diagonal(&Vector3::new(1e-308, 1e-200, 1e-10)))
            .unwrap();
    let (samples, grads) = batch(&absurd, 4, 42, |_| Vector3::repeat(1.0));
    assert_eq!(absurd.vjp(&samples, &grads), Err(Error::IllConditioned));
    finite_or_typed_error::<f64, 3>(Matrix3::from_diagonal(&Vector3::new(1e-308, 1e-200, 1e-10)));
    finite_or_typed_error::<f64, 3>(Matrix3::from_diagonal(&Vector3::new(5e-324, 1.0, 1e300)));
    finite_or_typed_error::<f64, 3>(Matrix3::new(
        1e-300, 0.0, 0.0, 1e300, 1e-300, 0.0, 1.0, 1e300, 1e-300,
    ));
    finite_or_typed_error::<f32, 3>(Matrix3::from_diagonal(&Vector3::new(1e-45, 1e-20, 1e30)));
    finite_or_typed_error::<f32, 3>(Matrix3::new(
        1e-30, 0.0, 0.0, 1e30, 1e-30, 0.0, 1.0, 1e30, 1e-30,
    ));
    // κ = 1e100 in f64 is representable, but past the κ·u limit: refused, not guessed at.
    let mvn = OmtMvn::new(
        Vector3::<f64>::zeros(),
        Matrix3::from_diagonal(&Vector3::new(1e50, 1.0, 1e-50)),
    )
    .unwrap();
    let (samples, grads) = batch(&mvn, 20, 41, |_| Vector3::repeat(1.0));
    assert_eq!(mvn.vjp(&samples, &grads), Err(Error::IllConditioned));
}
