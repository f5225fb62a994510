//! Decoding of fuzzer bytes into floats, matrices and batches, and the properties each target
//! checks. Every float is drawn from raw bits, from a table of special values, or from a tame
//! range, so NaN, ±∞, subnormals, ±0 and extreme magnitudes all occur alongside ordinary values.

use arbitrary::{Result, Unstructured};
use omt_mvn::linalg::{LeftSvd, Svd};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::{Error, OmtMvn, Real, Sample};

/// The two float types, with what the decoder needs beyond [`Real`].
pub trait FuzzFloat: Real {
    /// Exponent range for whole-matrix power-of-two scaling.
    const EXPONENT_RANGE: i32;
    fn from_raw(u: &mut Unstructured) -> Result<Self>;
    fn specials() -> [Self; 16];
}

impl FuzzFloat for f64 {
    const EXPONENT_RANGE: i32 = 1100;
    fn from_raw(u: &mut Unstructured) -> Result<Self> {
        Ok(f64::from_bits(u.arbitrary()?))
    }
    fn specials() -> [Self; 16] {
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            2.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            -f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e-300,
            1e300,
        ]
    }
}

impl FuzzFloat for f32 {
    const EXPONENT_RANGE: i32 = 160;
    fn from_raw(u: &mut Unstructured) -> Result<Self> {
        Ok(f32::from_bits(u.arbitrary()?))
    }
    fn specials() -> [Self; 16] {
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            2.0,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-30,
            1e30,
        ]
    }
}

/// One float: raw bits (1 in 8), a special value (1 in 8), else a tame value in ±[2⁻⁸, 2⁸].
pub fn draw<T: FuzzFloat>(u: &mut Unstructured) -> Result<T> {
    let choice: u8 = u.arbitrary()?;
    match choice % 8 {
        0 => T::from_raw(u),
        1 => Ok(T::specials()[usize::from(choice / 8) % 16]),
        _ => {
            let mantissa: u16 = u.arbitrary()?;
            let exponent = i32::from(choice % 17) - 8;
            let value = (f64::from(mantissa) / 32768.0 - 1.0) * libm::scalbn(1.0, exponent);
            Ok(T::from_f64_rounded(value))
        }
    }
}

pub fn draw_exponent<T: FuzzFloat>(u: &mut Unstructured) -> Result<i32> {
    u.int_in_range(-T::EXPONENT_RANGE..=T::EXPONENT_RANGE)
}

pub fn draw_matrix<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> Result<SMatrix<T, D, D>> {
    let mut m = SMatrix::<T, D, D>::zeros();
    for x in m.iter_mut() {
        *x = draw(u)?;
    }
    Ok(m)
}

pub fn draw_vector<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> Result<SVector<T, D>> {
    let mut v = SVector::<T, D>::zeros();
    for x in v.iter_mut() {
        *x = draw(u)?;
    }
    Ok(v)
}

/// A lower-triangular matrix with a positive diagonal most of the time (so `new` mostly
/// accepts), sometimes anything at all.
pub fn draw_scale_tril<T: FuzzFloat, const D: usize>(
    u: &mut Unstructured,
) -> Result<SMatrix<T, D, D>> {
    let mut m = draw_matrix::<T, D>(u)?;
    if u.ratio(7, 8)? {
        for i in 0..D {
            for j in i + 1..D {
                m[(i, j)] = T::zero();
            }
            m[(i, i)] = m[(i, i)].abs();
        }
    }
    Ok(m)
}

fn max_abs<T: Real, const D: usize>(m: &SMatrix<T, D, D>) -> T {
    m.iter().fold(T::zero(), |acc, x| acc.max(x.abs()))
}

/// SVD properties: non-finite input is named; finite input terminates with a decomposition whose
/// factors are orthogonal (V, a product of rotations, to D·ε per sweep) and reconstruct the input
/// to as many D·ε·‖A‖, singular values sorted and non-negative, and `LeftSvd` agrees with `Svd`.
pub fn check_svd<T: FuzzFloat, const D: usize>(a: &SMatrix<T, D, D>) {
    let first_bad = (0..D)
        .flat_map(|c| (0..D).map(move |r| (r, c)))
        .find(|&(r, c)| !a[(r, c)].is_finite_value());
    let result = Svd::new(a);
    if let Some((row, col)) = first_bad {
        assert_eq!(result, Err(Error::NonFiniteMatrix { row, col }));
        return;
    }
    let svd = match result {
        Ok(svd) => svd,
        Err(Error::SvdNotConverged { .. }) => return,
        Err(Error::Overflow) => {
            assert!(max_abs(a) > T::MAX / T::from_count(2 * D), "overflow for moderate input");
            return;
        }
        Err(e) => panic!("unexpected error {e}"),
    };
    // Compare in the scaled domain (exact power-of-two scaling), so nothing overflows here.
    let exponent = max_abs(a).binary_exponent();
    let scaled = a.map(|x| x.scale_by_power_of_two(-exponent));
    let values = svd.singular_values.map(|s| s.scale_by_power_of_two(-exponent));
    let eps = T::EPSILON;
    let bound = T::from_count(8 * D) * eps;
    // V is the product of every rotation and carries the rounding of every sweep: D·ε per sweep
    // (numerically rank-deficient input can take 20 sweeps). U is normalized, not accumulated.
    let accumulated = T::from_count(D * svd.sweeps.max(8)) * eps;
    let identity = SMatrix::<T, D, D>::identity();
    assert!(
        max_abs(&(svd.u.transpose() * svd.u - identity)) <= bound,
        "U not orthogonal: A = {a:?}"
    );
    assert!(
        max_abs(&(svd.v.transpose() * svd.v - identity)) <= accumulated,
        "V not orthogonal after {} sweeps: A = {a:?}",
        svd.sweeps
    );
    let mut us = svd.u;
    for (mut column, &s) in us.column_iter_mut().zip(values.iter()) {
        column *= s;
    }
    let residual = max_abs(&(us * svd.v.transpose() - scaled));
    let norm = values.iter().fold(T::zero(), |m, &s| m.max(s));
    // Singular values are returned unscaled: a subnormal one carries an absolute rounding error
    // of up to half the smallest subnormal, which the scaled domain magnifies by 2^(−exponent).
    let subnormal_rounding = (T::MIN_POSITIVE * T::EPSILON).scale_by_power_of_two(-exponent);
    assert!(
        residual <= accumulated * norm + T::from_count(D) * (T::MIN_POSITIVE + subnormal_rounding),
        "U·S·Vᵀ ≠ A: residual {residual:?}, bound {:?}, A = {a:?}, S = {:?}, U = {:?}, V = {:?}",
        accumulated * norm,
        svd.singular_values,
        svd.u,
        svd.v
    );
    for pair in svd.singular_values.as_slice().windows(2) {
        assert!(pair[0] >= pair[1], "singular values not sorted");
    }
    assert!(svd.singular_values.iter().all(|&s| s >= T::zero()), "negative singular value");
    let left = LeftSvd::new(a).expect("LeftSvd fails where Svd succeeds");
    assert_eq!(left.singular_values, svd.singular_values);
    assert_eq!(left.u, svd.u);
}

/// Everything a `vjp` fuzz input decodes to.
pub struct VjpInput<T: Real, const D: usize> {
    pub loc: SVector<T, D>,
    pub scale_tril: SMatrix<T, D, D>,
    pub samples: Vec<(SVector<T, D>, SVector<T, D>)>,
    pub exponent: i32,
}

pub fn draw_vjp_input<T: FuzzFloat, const D: usize>(
    u: &mut Unstructured,
) -> Result<VjpInput<T, D>> {
    let loc = draw_vector(u)?;
    let scale_tril = draw_scale_tril(u)?;
    let exponent = draw_exponent::<T>(u)?;
    let n = u.int_in_range(0..=12)?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        samples.push((draw_vector(u)?, draw_vector(u)?));
    }
    Ok(VjpInput { loc, scale_tril, samples, exponent })
}

/// vjp properties: finite gradients with a zero upper triangle and ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u), or
/// a typed error; the accumulator
/// gives the same answer (also a lone sample merged into an empty one); power-of-two scaling of
/// L leaves every bit unchanged; D = 1 is the reparam estimator; reparam_vjp is finite or a typed
/// error.
pub fn check_vjp<T: FuzzFloat, const D: usize>(input: &VjpInput<T, D>) {
    let Ok(mvn) = OmtMvn::new(input.loc, input.scale_tril) else {
        return;
    };
    let samples: Vec<Sample<T, D>> =
        input.samples.iter().map(|(noise, _)| mvn.reparameterize(*noise)).collect();
    let grads: Vec<SVector<T, D>> = input.samples.iter().map(|(_, g)| *g).collect();
    let result = mvn.vjp(&samples, &grads);
    match &result {
        Ok(g) => {
            assert!(
                g.loc.iter().chain(g.scale_tril.iter()).all(|x| x.is_finite_value()),
                "non-finite gradient"
            );
            for i in 0..D {
                for j in i + 1..D {
                    assert!(g.scale_tril[(i, j)] == T::zero(), "upper triangle not zero");
                }
            }
            assert_norm_bound(&g.scale_tril, &samples, &grads);
        }
        Err(
            Error::NonFiniteBatch
            | Error::IllConditioned
            | Error::Overflow
            | Error::SvdNotConverged { .. },
        ) => {}
        Err(e) => panic!("unexpected error {e}"),
    }
    let mut accumulator = mvn.vjp_accumulator();
    for (s, g) in samples.iter().zip(&grads) {
        accumulator.push(s, g);
    }
    assert_eq!(accumulator.finish(), result, "accumulator disagrees with vjp");
    if let ([sample], [grad]) = (samples.as_slice(), grads.as_slice()) {
        // One sample takes the rank-one finish; merged into an empty accumulator it still must.
        let (mut empty, mut one) = (mvn.vjp_accumulator(), mvn.vjp_accumulator());
        one.push(sample, grad);
        empty.merge(&one);
        assert_eq!(empty.finish(), result, "a merged lone sample disagrees with vjp");
        // The general finish of the same A (a zero-gradient second push adds nothing to it) is
        // finite or a typed error too.
        one.push(sample, &SVector::zeros());
        if let Ok(g) = one.finish() {
            assert!(g.scale_tril.iter().all(|x| x.is_finite_value()), "non-finite gradient");
        }
    }
    let scaled = input.scale_tril.map(|x| x.scale_by_power_of_two(input.exponent));
    let exact = scaled
        .iter()
        .zip(input.scale_tril.iter())
        .all(|(s, x)| s.is_finite_value() && s.scale_by_power_of_two(-input.exponent) == *x);
    if exact {
        let scaled_mvn = OmtMvn::new(input.loc, scaled).expect("exactly scaled L is still valid");
        let scaled_samples: Vec<_> =
            samples.iter().map(|s| Sample { value: s.value, noise: s.noise }).collect();
        assert_eq!(
            scaled_mvn.vjp(&scaled_samples, &grads),
            result,
            "not invariant under L → 2^k·L"
        );
    }
    let reparam = mvn.reparam_vjp(&samples, &grads);
    match &reparam {
        Ok(g) => assert!(g.scale_tril.iter().all(|x| x.is_finite_value())),
        Err(e) => assert_eq!(*e, Error::NonFiniteBatch),
    }
    if D == 1 {
        assert_eq!(result, reparam, "D = 1 must be the reparam estimator");
    }
}

/// ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u), A = Σⱼ gⱼ·εⱼᵀ: the bound every exact OMT gradient obeys, whatever
/// κ(L) (tests/data/GOLDEN.md). A is the statistic the finish received: accumulated in T, in
/// sample order, as the crate does (to the same bits), because under cancellation any other
/// evaluation of it can differ by far more than 8·D·u. The norms are then taken in f64 of both
/// matrices times 2⁻ᵏ (2ᵏ the binade of A's largest entry; two factors, each a normal number).
fn assert_norm_bound<T: Real, const D: usize>(
    gradient: &SMatrix<T, D, D>,
    samples: &[Sample<T, D>],
    grads: &[SVector<T, D>],
) {
    let mut outer_sum = SMatrix::<T, D, D>::zeros();
    for (sample, grad) in samples.iter().zip(grads) {
        for col in 0..D {
            for row in 0..D {
                outer_sum[(row, col)] += grad[row] * sample.noise[col];
            }
        }
    }
    // At least T's smallest subnormal, the scale of G's rounding where A is zero.
    let smallest_subnormal = (T::MIN_POSITIVE * T::EPSILON).to_f64();
    let largest = outer_sum.iter().fold(smallest_subnormal, |m, x| m.max(x.to_f64().abs()));
    let exponent = largest.log2().floor() as i32;
    let scaled = |x: &T| scaled_f64(x.to_f64(), exponent);
    let norm = |m: &SMatrix<T, D, D>| compensated_sum(m.iter().map(|x| scaled(x).powi(2))).sqrt();
    let (gradient_norm, outer_norm) = (norm(gradient), norm(&outer_sum));
    let slack = 1.0 + 8.0 * D as f64 * T::UNIT_ROUNDOFF.to_f64();
    // Up to underflow, as the crate states and checks it: where A's products are subnormal every
    // entry of G carries an absolute rounding of up to the smallest subnormal, which no relative
    // bound covers (found here: a lone f32 sample at D = 3 gave 1 + 1.5e-6, a lone f64 one at
    // D = 5 had A = 0 and G = ±5e-324). The allowance is D² of them, scaled like A.
    let underflow = (D * D) as f64 * scaled_f64(smallest_subnormal, exponent);
    assert!(
        gradient_norm <= outer_norm * slack + underflow,
        "‖G‖_F / ‖A‖_F = {:e} breaks the norm bound",
        gradient_norm / outer_norm
    );
}

/// Σ of positive terms by Kahan's compensated summation (within 2·u): a plain f64 sum could
/// misjudge an f64 gradient that the crate has put within a few u of the bound.
fn compensated_sum(terms: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for x in terms {
        let term = x - compensation;
        let next = sum + term;
        compensation = (next - sum) - term;
        sum = next;
    }
    sum
}

/// x·2⁻ᵏ as two factors, each a normal number for every binade a float can have.
fn scaled_f64(x: f64, exponent: i32) -> f64 {
    x * 2f64.powi(-(exponent / 2)) * 2f64.powi(exponent / 2 - exponent)
}

/// Constructor, densities and reparameterization: a refusal names a real offending entry; an
/// accepted distribution has a finite entropy, a log density that is never NaN at finite points,
/// and samples that are never NaN where nothing can overflow.
pub fn check_new_log_prob<T: FuzzFloat, const D: usize>(
    loc: SVector<T, D>,
    scale_tril: SMatrix<T, D, D>,
    x: SVector<T, D>,
    noise: SVector<T, D>,
) {
    let mvn = match OmtMvn::new(loc, scale_tril) {
        Ok(mvn) => mvn,
        Err(Error::NonFiniteLoc { index }) => return assert!(!loc[index].is_finite_value()),
        Err(Error::NonFiniteScaleTril { row, col }) => {
            return assert!(!scale_tril[(row, col)].is_finite_value());
        }
        Err(Error::NotLowerTriangular { row, col }) => {
            return assert!(col > row && scale_tril[(row, col)] != T::zero());
        }
        Err(Error::NonPositiveDiagonal { index }) => {
            return assert!(scale_tril[(index, index)] <= T::zero());
        }
        Err(e) => panic!("unexpected error {e}"),
    };
    let entropy = mvn.entropy();
    assert!(entropy.is_finite_value(), "entropy not finite");
    if x.iter().all(|v| v.is_finite_value()) {
        let log_prob = mvn.log_prob(&x);
        assert!(log_prob == log_prob, "log_prob is NaN at a finite point");
        assert!(log_prob <= T::zero() || log_prob.is_finite_value());
    }
    let bound = T::MAX / T::from_count(4 * D + 4);
    let magnitude = max_abs(&scale_tril) * noise.iter().fold(T::zero(), |m, v| m.max(v.abs()));
    let loc_max = loc.iter().fold(T::zero(), |m, v| m.max(v.abs()));
    if noise.iter().all(|v| v.is_finite_value())
        && max_abs(&scale_tril) < bound
        && magnitude < bound
        && loc_max < bound
    {
        let sample = mvn.reparameterize(noise);
        assert!(
            sample.value.iter().all(|v| v.is_finite_value()),
            "reparameterize overflowed below the bound"
        );
    }
}

/// The body of every fuzz target: the first byte picks the dimension (low three bits) and the
/// float type (high bit); `$run::<T, D>(&mut Unstructured)` decodes the rest and checks.
#[macro_export]
macro_rules! fuzz_every_dimension {
    ($data:expr, $run:ident) => {{
        let mut u = arbitrary::Unstructured::new($data);
        let Ok(selector) = u.arbitrary::<u8>() else { return };
        macro_rules! dim {
            ($d:literal) => {
                if selector & 0x80 == 0 { $run::<f64, $d>(&mut u) } else { $run::<f32, $d>(&mut u) }
            };
        }
        let _ = match selector % 8 {
            0 => dim!(1),
            1 => dim!(2),
            2 => dim!(3),
            3 => dim!(4),
            4 => dim!(5),
            5 => dim!(8),
            6 => dim!(12),
            _ => dim!(16),
        };
    }};
}
