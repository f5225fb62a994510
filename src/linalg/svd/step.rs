//! Simultaneous steps: every pair's rotation from the same columns, applied together, in place
//! of sweeps once the columns are nearly orthogonal.
//!
//! # Math
//! A step takes all the inner products at once (α = ‖a_p‖², β = ‖a_q‖², ξ = a_pᵀa_q per pair:
//! half a matrix product) and gives every pair with |ξ| > tol·√(α·β) the plane rotation by the
//! angle θ with tan(θ/2) = ξ/(2Δ), Δ = β − α, which to first order is the Jacobi angle
//! (tan θ = t/(1 − t²/4) with t = ξ/Δ), as the rational pair
//!
//! ```text
//! c = (4Δ² − ξ²)/(4Δ² + ξ²),   s = 4Δξ/(4Δ² + ξ²)
//! a_p ← c·a_p − s·a_q,   a_q ← s·a_p + c·a_q
//! ```
//!
//! No square root and one division per pair, all independent of each other; c² + s² = 1 to a
//! few ulps whatever the angle, so every rotation is orthogonal to working precision and a step
//! may be taken far from convergence.
//!
//! Each pair's own cosine drops to O(t²) of what it was; the other pairs' rotations add, to
//! first order, at most μ·max(δ, tol) per third column m, and their products at most 2·μ²,
//! where δ is the largest cosine and μ the largest mixing factor |tan θ|·√(max(α/β, β/α)), so
//! every pair's cosine ends at most tol + 2D·μ·(max(δ, tol) + μ). That is why steps converge
//! quadratically while the angles are small, and why the last one can be proven the last
//! (`simultaneous_step`).
//!
//! # Layout
//! The rotations sit in a circulant layout (`StepRotations`): row d, lane k is the pair
//! (k, k + d mod D), so that each row is a full vector of D lanes the compiler computes two at a
//! time.

use super::rotation::{Thresholds, rotate_pair, shear_pair};
use crate::Real;
use crate::linalg::dot;
use nalgebra::SMatrix;

/// What [`simultaneous_step`] did.
pub(super) enum StepOutcome<T> {
    /// Every pair is orthogonal to working precision: no pair needed a rotation, or the step's
    /// rotations provably leave every pair within 2·tol.
    Converged,
    /// The step was taken and should contract the cosines; its mixing factor μ.
    Contracted(T),
    /// Nothing changed and the caller sweeps instead: the columns are too far from orthogonal
    /// for a step, or the last step did not contract.
    SweepInstead,
}

/// One simultaneous step on the columns of `work` (unscaled: the caller folds the sweeps'
/// scales in first), with V taking the same rotations; `previous_mixing` is μ of the step
/// before (∞ for the first).
///
/// μ is computed from s (as s·√spread) and bounded above by μ·(1 + 2μ²) ≥ |tan θ|·√spread,
/// which also bounds δ (|ξ|/√(αβ) ≤ |t|·max(α, β)/√(αβ)). Then, with the bound of the module
/// documentation on every cosine after the step:
/// - if it is at most 2·tol, the step is taken and is the last ([`StepOutcome::Converged`]);
/// - else if 2D·μ ≤ ½ (the cross terms then at most half the largest cosine) and μ is less than
///   half the previous step's, the step is taken and the caller steps again
///   ([`StepOutcome::Contracted`]);
/// - otherwise nothing is changed ([`StepOutcome::SweepInstead`]). Pairs of equal or nearly
///   equal norms get a large angle (c ≤ ½ refuses), and the inner products are only trusted in
///   the normal range of α·β: sweeps handle both.
///
/// Out of line except on bare-metal targets: inlined into the sweeps' function it is slower on
/// `x86_64`, but out of line its frame adds to theirs, more than the Cortex-M0 firmware's stack
/// allows (docs/PERFORMANCE.md, "The SVD's tuning").
#[cfg_attr(not(target_os = "none"), inline(never))]
pub(super) fn simultaneous_step<T: Real, const D: usize>(
    work: &mut SMatrix<T, D, D>,
    v: Option<&mut SMatrix<T, D, D>>,
    rotations: &mut StepRotations<T, D>,
    thresholds: &Thresholds<T>,
    previous_mixing: T,
) -> StepOutcome<T> {
    let columns = &work.data.0;
    let mut norms = [T::ZERO; D];
    for (norm, column) in norms.iter_mut().zip(columns) {
        *norm = dot(column, column);
    }
    let inverse_norms = norms.map(|norm| T::ONE / norm);
    // Each laid twice end to end, once for all rows: row d's second columns are a cyclic shift
    // of them.
    let (norms, inverse_norms) = ([norms; 2], [inverse_norms; 2]);
    let mut summary = StepSummary::new();
    for d in 1..=D / 2 {
        let (Some(seconds), Some(inverse_seconds)) =
            (cyclic_shift(&norms, d), cyclic_shift(&inverse_norms, d))
        else {
            return StepOutcome::SweepInstead;
        };
        let lanes = StepLanes {
            inner_products: circulant_inner_products::<T, D>(columns, d),
            firsts: (&norms[0], &inverse_norms[0]),
            seconds: (seconds, inverse_seconds),
        };
        let Some(row) = rotations.row_mut(d) else {
            return StepOutcome::SweepInstead;
        };
        lanes.rotations(thresholds.tolerance_squared, row, &mut summary);
    }
    // Checked only now, off the path to the rows (which are harmless to compute regardless):
    // the normal range, and norms within 1/ε of each other, where the sweeps' certificate,
    // which rests on the same first-order bound, was found to fail (see
    // `SweepState::norms_within_one_over_epsilon`).
    let smallest_norm = norms[0].iter().fold(T::MAX, |m, &x| if x < m { x } else { m });
    let largest_norm = norms[0].iter().fold(T::ZERO, |m, &x| if x > m { x } else { m });
    if smallest_norm * smallest_norm < thresholds.smallest_accurate_product
        || largest_norm * T::EPSILON > smallest_norm
    {
        return StepOutcome::SweepInstead;
    }
    let Some((mixing, any)) = summary.mixing() else {
        return StepOutcome::SweepInstead;
    };
    if !any {
        return StepOutcome::Converged;
    }
    let tolerance = thresholds.tolerance;
    let cosine = if mixing > tolerance { mixing } else { tolerance };
    let two_d = T::from_count(2 * D);
    let outcome = if two_d * mixing * (cosine + mixing) <= tolerance {
        StepOutcome::Converged
    } else if two_d * mixing <= T::HALF && mixing + mixing < previous_mixing {
        StepOutcome::Contracted(mixing)
    } else {
        return StepOutcome::SweepInstead;
    };
    // Near the end every c rounds to 1: the rotations are then shears, to the same bits.
    let shears = summary.smallest_cosine() == T::ONE;
    rotations.apply(work, shears);
    if let Some(v) = v {
        rotations.apply(v, shears);
    }
    outcome
}

/// The rotations of a simultaneous step in the circulant layout: row d (1 ≤ d ≤ D/2), lane k
/// is the pair (k, k + d mod D). Every pair is in exactly one lane (for d = D/2 only the lanes
/// k < D/2 are used; the others get c = 1, s = 0), and each row is a full vector of D lanes,
/// so that the compiler computes the rotations of a row two lanes at a time: D(D − 1)/2 pairs
/// in D/2 rows of D lanes, where rows by the second column would be D − 1 rows of ragged
/// length, and a D × D square would waste half its lanes.
///
/// One D × D array holds both: the cosines of row d in row d, its sines in row D − d (row 0
/// for d = D/2): two arrays took more stack than `vjp::<f64, 8>` has on the Cortex-M0, and
/// scattering the rows into the two triangles of one array was slower (docs/PERFORMANCE.md,
/// "Simultaneous steps").
pub(super) struct StepRotations<T, const D: usize> {
    rows: [[T; D]; D],
}

impl<T: Real, const D: usize> StepRotations<T, D> {
    /// Every row is written by [`row_mut`](Self::row_mut)'s caller before it is read.
    pub(super) fn new() -> Self {
        StepRotations { rows: [[T::ZERO; D]; D] }
    }

    /// Where the sines of row d are.
    fn sine_row(d: usize) -> usize {
        if 2 * d == D { 0 } else { D - d }
    }

    /// Row d's cosines and sines, if 1 ≤ d ≤ D/2.
    fn row_mut(&mut self, d: usize) -> Option<(&mut [T; D], &mut [T; D])> {
        if d == 0 || 2 * d > D {
            return None;
        }
        let [cosines, sines] = self.rows.get_disjoint_mut([d, Self::sine_row(d)]).ok()?;
        Some((cosines, sines))
    }

    /// Applies every rotation in place, by second column: column q is kept in a local while
    /// each earlier column is rotated against it, so that consecutive rotations do not wait on
    /// a store and a reload of column q. Rotations
    /// are orthogonal, so their order only changes rounding. With `shears` (every c is 1) the
    /// multiplications by c are skipped.
    fn apply(&self, matrix: &mut SMatrix<T, D, D>, shears: bool) {
        let columns = &mut matrix.data.0;
        for q in 1..D {
            let Some(&column) = columns.get(q) else {
                continue;
            };
            let mut column_q = column;
            for (p, column_p) in columns.iter_mut().enumerate().take(q) {
                // The pair (p, q) is lane p of row q − p, or, for q − p > D/2, lane q of row
                // D − (q − p), where it is (q, p): the roles swap, which negates s.
                let d = q - p;
                let (row, lane, sign) =
                    if 2 * d <= D { (d, p, T::ONE) } else { (D - d, q, -T::ONE) };
                let cosine = self.rows.get(row).and_then(|cosines| cosines.get(lane));
                let sine = self.rows.get(Self::sine_row(row)).and_then(|sines| sines.get(lane));
                let (Some(&cosine), Some(&sine)) = (cosine, sine) else {
                    continue;
                };
                if sine == T::ZERO {
                    continue;
                }
                if shears {
                    shear_pair(column_p, &mut column_q, sign * sine);
                } else {
                    rotate_pair(column_p, &mut column_q, (cosine, sign * sine));
                }
            }
            if let Some(column) = columns.get_mut(q) {
                *column = column_q;
            }
        }
    }
}

/// Row d of the circulant layout's inner products: lane k holds a_kᵀ·a_(k+d mod D) (zero in
/// the unused lanes of row D/2).
fn circulant_inner_products<T: Real, const D: usize>(columns: &[[T; D]; D], d: usize) -> [T; D] {
    let lanes = if 2 * d == D { D / 2 } else { D };
    let mut inner_products = [T::ZERO; D];
    for (k, (xi, column_k)) in inner_products.iter_mut().zip(columns).enumerate().take(lanes) {
        let second = if k + d >= D { k + d - D } else { k + d };
        if let Some(column) = columns.get(second) {
            *xi = dot(column_k, column);
        }
    }
    inner_products
}

/// Entries d … d + D − 1 of an array laid twice end to end: entry k is the array's entry
/// k + d mod D. The doubled arrays are made once per step, so the rows read them long after
/// they were stored, where a copy rotated for each row is read back at an offset that
/// straddles two of its stores, which the store queue cannot forward (docs/PERFORMANCE.md,
/// "Simultaneous steps").
fn cyclic_shift<T, const D: usize>(doubled: &[[T; D]; 2], d: usize) -> Option<&[T; D]> {
    doubled.as_flattened().get(d..)?.first_chunk::<D>()
}

/// One row of a step's lanes: the inner products, and the squared norms of both columns of
/// each lane with their reciprocals.
struct StepLanes<'a, T, const D: usize> {
    inner_products: [T; D],
    firsts: (&'a [T; D], &'a [T; D]),
    seconds: (&'a [T; D], &'a [T; D]),
}

impl<T: Real, const D: usize> StepLanes<'_, T, D> {
    /// Each lane's rotation (c = 1, s = 0 where the pair needs none), with the row's
    /// contribution to `summary`. Written lane by lane over fixed-size arrays with no branch, so
    /// that the compiler pairs the lanes (and the divisions) into two-lane instructions.
    #[inline(always)]
    fn rotations(
        &self,
        tolerance_squared: T,
        (cosines, sines): (&mut [T; D], &mut [T; D]),
        summary: &mut StepSummary<T, D>,
    ) {
        let four = T::from_count(4);
        let (firsts, inverse_firsts) = self.firsts;
        let (seconds, inverse_seconds) = self.seconds;
        // An index loop over fixed-size arrays: the zipped iterators compiled to slower code
        // (docs/PERFORMANCE.md, "Simultaneous steps").
        for k in 0..D {
            let inputs = (
                self.inner_products.get(k),
                (firsts.get(k), inverse_firsts.get(k)),
                (seconds.get(k), inverse_seconds.get(k)),
            );
            let (
                Some(&xi),
                (Some(&alpha), Some(&inverse_alpha)),
                (Some(&beta), Some(&inverse_beta)),
            ) = inputs
            else {
                continue;
            };
            let xi_squared = xi * xi;
            let needs = xi_squared > tolerance_squared * (alpha * beta);
            let difference = beta - alpha;
            let four_difference = four * difference;
            let four_difference_squared = four_difference * difference;
            let reciprocal = T::ONE / (four_difference_squared + xi_squared);
            let c = (four_difference_squared - xi_squared) * reciprocal;
            let s = (four_difference * xi) * reciprocal;
            let c = if needs { c } else { T::ONE };
            let s = if needs { s } else { T::ZERO };
            if let (Some(cosine), Some(sine)) = (cosines.get_mut(k), sines.get_mut(k)) {
                (*cosine, *sine) = (c, s);
            }
            let (up, down) = (alpha * inverse_beta, beta * inverse_alpha);
            let spread = if up > down { up } else { down };
            summary.record(k, c, s * s * spread);
        }
    }
}

/// Per lane of a step's rows, running over the rows: the largest μ² = s²·spread and the
/// smallest c (lane-wise, so that the rows' loops carry no dependence across lanes).
struct StepSummary<T, const D: usize> {
    largest_mixings_squared: [T; D],
    smallest_cosines: [T; D],
}

impl<T: Real, const D: usize> StepSummary<T, D> {
    fn new() -> Self {
        StepSummary { largest_mixings_squared: [T::ZERO; D], smallest_cosines: [T::ONE; D] }
    }

    /// Lane k's cosine and μ².
    #[inline(always)]
    fn record(&mut self, k: usize, cosine: T, mixing_squared: T) {
        let lanes = (self.largest_mixings_squared.get_mut(k), self.smallest_cosines.get_mut(k));
        if let (Some(largest), Some(smallest)) = lanes {
            *largest = if mixing_squared > *largest { mixing_squared } else { *largest };
            *smallest = if cosine < *smallest { cosine } else { *smallest };
        }
    }

    /// The smallest c of the step.
    fn smallest_cosine(&self) -> T {
        self.smallest_cosines.iter().fold(T::ONE, |m, &c| if c < m { c } else { m })
    }

    /// The bound μ·(1 + 2μ²) on the step's mixing factor and whether any pair needs a rotation
    /// (a nonzero s, so μ > 0 as spread ≥ 1, or c < 1: Δ = 0 gives c = −1, s = 0; s² does not
    /// underflow, since |s| ≥ tol·√(min(α, β)/max(α, β)) and α·β is normal); `None` if some
    /// angle is too large for a step (c ≤ ½) or a measure is not finite.
    fn mixing(&self) -> Option<(T, bool)> {
        // Squares: no sign to strip, and no NaN (the norms are in the normal range).
        let largest =
            |values: &[T; D]| values.iter().fold(T::ZERO, |m, &x| if x > m { x } else { m });
        let largest_mixing_squared = largest(&self.largest_mixings_squared);
        let smallest_cosine = self.smallest_cosine();
        if !(smallest_cosine > T::HALF && largest_mixing_squared.is_finite_value()) {
            return None;
        }
        let mixing = largest_mixing_squared.libm_sqrt();
        let two = T::ONE + T::ONE;
        let bound = mixing * (T::ONE + two * largest_mixing_squared);
        Some((bound, largest_mixing_squared > T::ZERO || smallest_cosine < T::ONE))
    }
}

#[cfg(test)]
mod tests {
    use super::super::MAX_SWEEPS;
    use super::super::sweep::{SweepState, Sweeps};
    use super::{StepOutcome, StepRotations, Thresholds, simultaneous_step};
    use crate::linalg::{CacheAligned, dot};
    use nalgebra::SMatrix;

    /// Runs sweeps as `rotate_to_convergence` does, without its two ways of stopping early, until
    /// a sweep rotates nothing (`until_settled` false) or leaves the columns ready for steps
    /// (true). Returns `None` if that took every sweep.
    fn sweep<const D: usize>(
        work: &mut CacheAligned<SMatrix<f64, D, D>>,
        sweeps: &mut Sweeps<f64, D>,
        until_settled: bool,
    ) -> Option<()> {
        let thresholds = Thresholds::new::<D>();
        for _ in 0..MAX_SWEEPS {
            let verdict = sweeps.sweep(work, None, &thresholds);
            if (until_settled && verdict.steps_may_take_over()) || !verdict.rotated() {
                return Some(());
            }
            sweeps.after_sweep(&mut work.0, None, &verdict);
        }
        None
    }

    /// The column norms of the scaled columns, sorted, and the largest |cos| between two.
    fn norms_and_largest_cosine<const D: usize>(
        work: &SMatrix<f64, D, D>,
        state: &SweepState<f64, D>,
    ) -> ([f64; D], f64) {
        let columns = &work.data.0;
        let mut norms: [f64; D] =
            core::array::from_fn(|j| (state.columns[j].1 * dot(&columns[j], &columns[j])).sqrt());
        let mut largest: f64 = 0.0;
        for q in 0..D {
            for p in 0..q {
                let (x, y) = (&columns[p], &columns[q]);
                largest = largest.max(dot(x, y).abs() / (dot(x, x) * dot(y, y)).sqrt());
            }
        }
        norms.sort_by(f64::total_cmp);
        (norms, largest)
    }

    /// Settles `a` by sweeps, then ends once by [`simultaneous_step`]s (as `rotate_to_convergence`
    /// runs them, V accumulated) and once by sweeping until nothing rotates. Where the steps end
    /// it, they must leave every cosine within 2·tol (plus the rounding of the measurement,
    /// √D·ε), agree with the sweeps on every singular value within 4·D·ε relative and keep V
    /// orthogonal. Returns how many steps ended it (0 where a step refused and sweeps would
    /// resume).
    fn steps_agree_with_sweeps<const D: usize>(a: SMatrix<f64, D, D>) -> usize {
        let thresholds = Thresholds::<f64>::new::<D>();
        let mut settled = CacheAligned(a);
        let mut sweeps = Sweeps::new(&settled.0);
        if sweep(&mut settled, &mut sweeps, true).is_none() {
            return 0;
        }
        let (mut stepped, mut swept) = (CacheAligned(settled.0), settled);
        let mut swept_sweeps = sweeps.clone();
        let state = &mut sweeps.state;
        // With every scale folded in, V = I is the rotation so far.
        state.fold_scales(&mut stepped.0, None, f64::MAX);
        let mut v = SMatrix::<f64, D, D>::identity();
        let mut previous = f64::MAX;
        let mut steps = 0;
        let mut rotations = StepRotations::new();
        loop {
            steps += 1;
            let v = Some(&mut v);
            match simultaneous_step(&mut stepped.0, v, &mut rotations, &thresholds, previous) {
                StepOutcome::Converged => break,
                StepOutcome::Contracted(mixing) => previous = mixing,
                StepOutcome::SweepInstead => return 0,
            }
            assert!(steps < 10, "D = {D}: steps that contract must end it");
        }
        assert!(sweep(&mut swept, &mut swept_sweeps, false).is_some());
        let (norms, largest_cosine) = norms_and_largest_cosine(&stepped.0, state);
        let (reference, _) = norms_and_largest_cosine(&swept.0, &swept_sweeps.state);
        let epsilon = f64::EPSILON;
        let tolerance = thresholds.tolerance;
        assert!(largest_cosine <= 2.0 * tolerance + (D as f64).sqrt() * epsilon, "D = {D}");
        for (s, r) in norms.iter().zip(&reference) {
            assert!((s - r).abs() <= 4.0 * D as f64 * epsilon * r, "D = {D}: {s} against {r}");
        }
        // Every step's rotations are orthogonal: V stays orthogonal to working precision.
        let deviation = (v.transpose() * v - SMatrix::<f64, D, D>::identity()).abs().max();
        assert!(deviation <= 4.0 * D as f64 * epsilon, "D = {D}: VᵀV − I = {deviation:e}");
        steps
    }

    /// Lower-triangular matrices with entries in [−1, 1) from a small multiplicative generator,
    /// a positive diagonal; returns how many the steps ended, and the most steps one took.
    fn steps_on_random_factors<const D: usize>(seed: u64) -> (usize, usize) {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let (mut ended, mut most) = (0, 0);
        for _ in 0..20 {
            let a = SMatrix::<f64, D, D>::from_fn(|i, j| match i.cmp(&j) {
                core::cmp::Ordering::Greater => next(),
                core::cmp::Ordering::Equal => next().abs() + 0.1,
                core::cmp::Ordering::Less => 0.0,
            });
            let steps = steps_agree_with_sweeps(a);
            ended += usize::from(steps > 0);
            most = most.max(steps);
        }
        (ended, most)
    }

    #[test]
    fn simultaneous_steps_agree_with_sweeping_to_the_end() {
        // Most settled factors end by steps (the rest fall back to sweeps, also correct); at
        // D ≤ 16 the steps start from cosines up to 0.1 and usually take more than one.
        let (ended, most) = steps_on_random_factors::<4>(1);
        assert!(ended >= 5 && most >= 2, "{ended} {most}");
        let (ended, most) = steps_on_random_factors::<8>(2);
        assert!(ended >= 10 && most >= 2, "{ended} {most}");
        assert!(steps_on_random_factors::<16>(3).0 >= 10);
        assert!(steps_on_random_factors::<32>(4).0 >= 10);
        assert!(steps_on_random_factors::<7>(5).0 >= 5);
    }

    #[test]
    fn simultaneous_step_contracts_and_refuses_equal_norms_and_large_angles() {
        let thresholds = Thresholds::<f64>::new::<2>();
        // The outcome of one step after one with mixing factor `previous`, and the columns.
        let step = |a: [[f64; 2]; 2], previous: f64| {
            let mut work = SMatrix::<f64, 2, 2>::from_data(nalgebra::ArrayStorage(a));
            let mut rotations = StepRotations::new();
            let outcome =
                match simultaneous_step(&mut work, None, &mut rotations, &thresholds, previous) {
                    StepOutcome::Converged => "converged",
                    StepOutcome::Contracted(_) => "contracted",
                    StepOutcome::SweepInstead => "sweep instead",
                };
            (outcome, work.data.0)
        };
        // Norms 1 and 4, cosine 10⁻¹⁰: the pair ends orthogonal.
        let (outcome, [x, y]) = step([[1.0, 0.0], [2e-10, 2.0]], f64::MAX);
        assert_eq!(outcome, "converged");
        assert!(dot(&x, &y).abs() <= thresholds.tolerance * 2.0);
        // Cosine 10⁻²: each step takes the cosine to about t² of it (t ≈ 0.013), and the third
        // is certified to end it.
        let cosine = |[x, y]: [[f64; 2]; 2]| dot(&x, &y).abs() / (dot(&x, &x) * dot(&y, &y)).sqrt();
        let (outcome, columns) = step([[1.0, 0.0], [0.02, 2.0]], f64::MAX);
        assert_eq!(outcome, "contracted");
        assert!(cosine(columns) <= 1e-5, "{}", cosine(columns));
        let (outcome, columns) = step(columns, 1e-2);
        assert_eq!(outcome, "contracted");
        assert!(cosine(columns) <= 1e-13, "{}", cosine(columns));
        let (outcome, columns) = step(columns, 1e-5);
        assert_eq!(outcome, "converged");
        assert!(cosine(columns) <= thresholds.tolerance * 2.0);
        // A step that would not halve the previous mixing factor is refused.
        assert_eq!(
            step([[1.0, 0.0], [0.02, 2.0]], 1e-3),
            ("sweep instead", [[1.0, 0.0], [0.02, 2.0]])
        );
        // Equal norms and cosine 10⁻¹⁰: the rotation is 45°, far from a step's, refused.
        assert_eq!(step([[1.0, 0.0], [1e-10, 1.0]], f64::MAX).0, "sweep instead");
        // Cosine 0.5: refused, unchanged.
        assert_eq!(
            step([[1.0, 0.0], [1.0, 1.7]], f64::MAX),
            ("sweep instead", [[1.0, 0.0], [1.0, 1.7]])
        );
        // Orthogonal columns: nothing to do, converged (and nothing changes).
        assert_eq!(
            step([[1.0, 0.0], [0.0, 3.0]], f64::MAX),
            ("converged", [[1.0, 0.0], [0.0, 3.0]])
        );
    }
}
