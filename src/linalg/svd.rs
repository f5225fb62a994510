//! The singular value decomposition A = U·S·Vᵀ of a square matrix, by one-sided Jacobi.
//!
//! # Algorithm
//! Hestenes' one-sided Jacobi method (Demmel & Veselić, "Jacobi's method is more accurate than
//! QR", 1992): plane rotations applied to the columns of a working copy of A make every pair of
//! columns orthogonal. When no pair needs rotating, the working copy is A·V = U·S: its column
//! norms are the singular values and its normalized columns the left singular vectors. For a pair
//! of columns a_p, a_q with α = ‖a_p‖², β = ‖a_q‖², γ = a_pᵀa_q the rotation
//!
//! ```text
//! ζ = (β − α) / (2γ),   t = sign(ζ) / (|ζ| + √(1 + ζ²)),   c = 1/√(1 + t²),   s = c·t
//! a_p ← c·a_p − s·a_q,   a_q ← s·a_p + c·a_q
//! ```
//!
//! zeroes γ. A pair is rotated only while |γ| > tol·√α·√β with tol = √D·ε. A sweep visits every
//! pair once, in rounds of disjoint pairs whose rotations are independent: the odd–even
//! ordering (alternately the adjacent positions (0, 1), (2, 3), … and (1, 2), (3, 4), …, each
//! pair swapped after its turn; Luk & Park, "On parallel Jacobi orderings", 1989, show it
//! equivalent to the cyclic-by-rows ordering, so convergence is quadratic), whose positions
//! are fixed, so that while most pairs rotate the columns themselves move and every address is
//! known to the compiler; for 3 ≤ D < 8, where a round is bound by latency, the round-robin
//! ordering, which needs one round fewer (see `Schedule` in the source). The iteration stops
//! after a sweep that rotated nothing, or after a sweep of the
//! quadratic tail whose rotations provably leave every pair with |cos| ≤ 2·tol (see
//! `TailMonitor` in the source), which saves the sweep that would only confirm it: 4–6 sweeps
//! for D = 4…32 on well-conditioned input. Once a sweep's rotations all had cosines below 0.1
//! (10⁻³ for D > 16), simultaneous steps replace the sweeps: all inner products at once, every
//! pair's rotation by its first-order angle (one division, no square root, no dependence
//! between pairs), applied together; they converge quadratically while the angles are small,
//! run only while they do, and the last is taken only where a bound proves it leaves every
//! pair within 2·tol (see `simultaneous_step` in the source). On the bench matrix at D = 8 that
//! is two sweeps and three steps instead of four sweeps and a step, 14 % faster. At most
//! [`MAX_SWEEPS`] sweeps (or steps) run: past that the decomposition returns
//! [`Error::SvdNotConverged`], so it terminates for every input.
//!
//! Sweeps apply their rotations in the fast scaled form (two multiply-adds per entry, one
//! square root and one division per pair); see `SweepState` in the source.
//!
//! # Range
//! The input is first multiplied by the power of two that brings its largest entry into
//! [½, 1), which is exact, so no intermediate overflows and squared norms underflow only for
//! columns below about 10⁻¹⁴⁶·‖A‖ (`f64`; 10⁻¹⁵·‖A‖ for `f32`). Such negligible columns are
//! left unrotated; their left singular vectors are completed to an orthonormal basis, which
//! changes U·S·Vᵀ by less than their norm.
//!
//! # Accuracy
//! U (normalized columns, nothing accumulated) is orthogonal to O(D·ε). V is the product of every
//! rotation, so it and the reconstruction U·S·Vᵀ carry the rounding of every sweep: O(D·ε) per
//! sweep, times ‖A‖ for the reconstruction. That is O(D·ε) in practice; numerically
//! rank-deficient input can take 20 sweeps, as the rounding-level columns of its null space are
//! rotated among themselves. For well-scaled A (such as a triangular factor with a graded
//! diagonal) the singular values have high relative accuracy, independent of κ(A).

use super::CacheAligned;
use crate::{Error, Real};
use nalgebra::{SMatrix, SVector};

/// The most Jacobi sweeps a decomposition runs before giving up with
/// [`Error::SvdNotConverged`]. Quadratic convergence needs far fewer (4–9 in practice, up to
/// D = 32, and about 20 for a numerically rank-deficient 16×16 the fuzzer found); the bound
/// exists so that every input terminates.
pub const MAX_SWEEPS: usize = 40;

/// The singular value decomposition A = U·diag(s)·Vᵀ of a D×D matrix.
///
/// Singular values are non-negative and sorted in decreasing order; U and V are orthogonal.
///
/// # Example
/// ```
/// use omt_mvn::{linalg::Svd, nalgebra::Matrix3};
/// let a = Matrix3::new(4.0, 0.0, 0.0, 2.0, 3.0, 0.0, 1.0, -1.0, 0.5);
/// let svd = Svd::new(&a)?;
/// assert!((svd.recompose() - a).abs().max() < 1e-14);
/// assert!(svd.singular_values[0] >= svd.singular_values[1]);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Svd<T: Real, const D: usize> {
    /// Left singular vectors, one per column.
    pub u: SMatrix<T, D, D>,
    /// Singular values s₁ ≥ … ≥ s_D ≥ 0.
    pub singular_values: SVector<T, D>,
    /// Right singular vectors, one per column (V, not Vᵀ).
    pub v: SMatrix<T, D, D>,
    /// The number of Jacobi sweeps the decomposition took, a simultaneous last step counted as
    /// one (at most [`MAX_SWEEPS`]; see the module documentation).
    pub sweeps: usize,
}

/// The left half of a singular value decomposition: U and s with A·Aᵀ = U·diag(s²)·Uᵀ.
///
/// Cheaper than [`Svd`] (no rotation is accumulated), and all the OMT gradient needs.
///
/// # Example
/// ```
/// use omt_mvn::{linalg::LeftSvd, nalgebra::Matrix2};
/// let svd = LeftSvd::new(&Matrix2::new(3.0, 0.0, 0.0, 4.0))?;
/// assert_eq!(svd.singular_values.as_slice(), &[4.0, 3.0]);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeftSvd<T: Real, const D: usize> {
    /// Left singular vectors, one per column.
    pub u: SMatrix<T, D, D>,
    /// Singular values s₁ ≥ … ≥ s_D ≥ 0.
    pub singular_values: SVector<T, D>,
    /// The number of Jacobi sweeps the decomposition took, a simultaneous last step counted as
    /// one (at most [`MAX_SWEEPS`]; see the module documentation).
    pub sweeps: usize,
}

impl<T: Real, const D: usize> Svd<T, D> {
    /// Decomposes `matrix`.
    ///
    /// # Errors
    /// [`Error::NonFiniteMatrix`] for a NaN or infinite entry, [`Error::SvdNotConverged`] past
    /// [`MAX_SWEEPS`] sweeps, [`Error::Overflow`] when a singular value exceeds the float range
    /// (possible only for entries within a factor D of `T::MAX`).
    pub fn new(matrix: &SMatrix<T, D, D>) -> Result<Self, Error> {
        Self::with_max_sweeps(matrix, MAX_SWEEPS)
    }

    /// Decomposes `matrix` with at most `max_sweeps` sweeps (a hard bound on the running time,
    /// about 1.5·D³ multiply-adds per sweep, 2.5·D³ with V, for real-time loops).
    ///
    /// # Errors
    /// As [`Svd::new`], with [`Error::SvdNotConverged`] past `max_sweeps`.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::Svd, nalgebra::Matrix3, Error};
    /// let a = Matrix3::new(4.0, 1.0, 0.0, 2.0, 3.0, 1.0, 1.0, -1.0, 0.5);
    /// assert_eq!(Svd::with_max_sweeps(&a, 1), Err(Error::SvdNotConverged { sweeps: 1 }));
    /// assert!(Svd::with_max_sweeps(&a, 20).is_ok());
    /// ```
    pub fn with_max_sweeps(matrix: &SMatrix<T, D, D>, max_sweeps: usize) -> Result<Self, Error> {
        let mut v = CacheAligned(SMatrix::<T, D, D>::identity());
        let mut u = CacheAligned(*matrix);
        let (singular_values, sweeps) = decompose_in_place(&mut u, Some(&mut v.0), max_sweeps)?;
        Ok(Svd { u: u.0, singular_values, v: v.0, sweeps })
    }

    /// U·diag(s)·Vᵀ: the matrix this decomposition came from, up to rounding.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{linalg::Svd, nalgebra::Matrix2};
    /// let a = Matrix2::new(1.0, 2.0, 3.0, 4.0);
    /// assert!((Svd::new(&a)?.recompose() - a).abs().max() < 1e-15);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn recompose(&self) -> SMatrix<T, D, D> {
        let mut scaled_u = self.u;
        for (mut column, &s) in scaled_u.column_iter_mut().zip(self.singular_values.iter()) {
            column *= s;
        }
        scaled_u * self.v.transpose()
    }
}

impl<T: Real, const D: usize> LeftSvd<T, D> {
    /// Computes the left singular vectors and the singular values of `matrix`.
    ///
    /// # Errors
    /// As [`Svd::new`].
    pub fn new(matrix: &SMatrix<T, D, D>) -> Result<Self, Error> {
        Self::with_max_sweeps(matrix, MAX_SWEEPS)
    }

    /// As [`new`](Self::new) with at most `max_sweeps` sweeps (see [`Svd::with_max_sweeps`]).
    ///
    /// # Errors
    /// As [`Svd::with_max_sweeps`].
    pub fn with_max_sweeps(matrix: &SMatrix<T, D, D>, max_sweeps: usize) -> Result<Self, Error> {
        let mut u = CacheAligned(*matrix);
        let (singular_values, sweeps) = decompose_in_place(&mut u, None, max_sweeps)?;
        Ok(LeftSvd { u: u.0, singular_values, sweeps })
    }
}

/// Overwrites `work` (the matrix A) with U and returns the singular values and the number of
/// sweeps: checks, scales, then [`decompose_scaled_in_place`]. With `v` the rotations are also
/// applied to it (it must come in as the identity). Working in place keeps the stack small,
/// which matters on a 16 KiB Cortex-M0.
pub(crate) fn decompose_in_place<T: Real, const D: usize>(
    work: &mut CacheAligned<SMatrix<T, D, D>>,
    mut v: Option<&mut SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<(SVector<T, D>, usize), Error> {
    check_finite(&work.0)?;
    let exponent = largest_exponent(&work.0);
    super::scale_entries(&mut work.0, -exponent);
    let (mut singular_values, sweeps) =
        decompose_scaled_in_place(work, v.as_deref_mut(), max_sweeps)?;
    sort_decreasing(&mut work.0, &mut singular_values, v);
    super::scale_entries(&mut singular_values, exponent);
    if singular_values.iter().any(|s| !s.is_finite_value()) {
        return Err(Error::Overflow);
    }
    Ok((singular_values, sweeps))
}

/// [`decompose_in_place`] for a finite matrix already scaled by a power of two so that its
/// largest entry lies in [½, 1) (or zero): rotates to convergence, normalizes and completes;
/// returns the singular values of the scaled matrix, in no particular order (the OMT gradient
/// does not depend on it, so only the public decompositions pay for sorting).
pub(crate) fn decompose_scaled_in_place<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    v: Option<&mut SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<(SVector<T, D>, usize), Error> {
    let sweeps = rotate_to_convergence(aligned, v, max_sweeps)?;
    let work = &mut aligned.0;
    let mut norms = SVector::<T, D>::zeros();
    let mut negligible = [false; D];
    let tiny_square = negligible_square::<T>();
    for ((column, norm), is_negligible) in
        work.data.0.iter_mut().zip(norms.iter_mut()).zip(negligible.iter_mut())
    {
        let square = dot(column, column);
        *norm = square.libm_sqrt();
        *is_negligible = square < tiny_square;
        if *is_negligible {
            continue;
        }
        if D == 1 {
            // A true division: the one-entry column becomes exactly ±1, which makes D = 1
            // reduce bit-exactly to the reparam estimator.
            column.iter_mut().for_each(|entry| *entry /= *norm);
        } else {
            let reciprocal = T::one() / *norm;
            column.iter_mut().for_each(|entry| *entry *= reciprocal);
        }
    }
    complete_basis(work, &negligible);
    Ok((norms, sweeps))
}

/// Squared column norms below this have lost bits to underflow (2⁻¹⁰²²/ε in `f64`).
fn negligible_square<T: Real>() -> T {
    T::MIN_POSITIVE / T::EPSILON
}

fn check_finite<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>) -> Result<(), Error> {
    match super::first_non_finite(matrix) {
        Some((row, col)) => Err(Error::NonFiniteMatrix { row, col }),
        None => Ok(()),
    }
}

/// The binary exponent of the largest entry in magnitude (0 for the zero matrix). The entries
/// must be finite.
pub(crate) fn largest_exponent<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>) -> i32 {
    largest_magnitude(matrix.as_slice()).binary_exponent()
}

/// max |xᵢ| (0 for no entries) with four running maxima, so that the comparisons do not wait on
/// each other: one chain through `max` costs several cycles per entry. NaN entries are skipped.
fn largest_magnitude<T: Real>(entries: &[T]) -> T {
    let mut partial = [T::zero(); 4];
    let (blocks, rest) = entries.as_chunks::<4>();
    for block in blocks {
        for (largest, &x) in partial.iter_mut().zip(block) {
            let magnitude = x.abs();
            if magnitude > *largest {
                *largest = magnitude;
            }
        }
    }
    for (largest, &x) in partial.iter_mut().zip(rest) {
        let magnitude = x.abs();
        if magnitude > *largest {
            *largest = magnitude;
        }
    }
    partial.into_iter().fold(T::zero(), |m, x| if x > m { x } else { m })
}

/// Runs Jacobi sweeps until no pair of columns needs a rotation, or [`TailMonitor`] certifies
/// that none would; once a sweep leaves the columns settled, [`simultaneous_step`]s in place of
/// sweeps, for as long as they contract, until one ends it. Returns the number of sweeps (each
/// step counted as one).
fn rotate_to_convergence<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    mut v: Option<&mut SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<usize, Error> {
    let thresholds = Thresholds::new::<D>();
    let mut state = SweepState::<T, D>::new();
    let mut scratch = Scratch::new();
    let mut schedule = Schedule::<D>::new(&aligned.0);
    // Every step writes all the rows it reads: one buffer for all of them.
    let mut rotations = StepRotations::new();
    let mut settled = false;
    // μ of the last step, or None right after a sweep.
    let mut previous_mixing = None;
    for sweep in 1..=max_sweeps {
        if settled {
            if previous_mixing.is_none() {
                // Steps rotate the actual columns.
                state.fold_scales(&mut aligned.0, v.as_deref_mut(), T::MAX);
            }
            let previous = previous_mixing.unwrap_or(T::MAX);
            let work = &mut aligned.0;
            match simultaneous_step(work, v.as_deref_mut(), &mut rotations, (&thresholds, previous))
            {
                StepOutcome::Converged => return Ok(sweep),
                StepOutcome::Contracted(mixing) => {
                    previous_mixing = Some(mixing);
                    continue;
                }
                StepOutcome::Declined => {}
            }
        }
        state.start_sweep(&aligned.0);
        let mut monitor = TailMonitor::new(&thresholds);
        monitor.tail &= state.norms_within_one_over_epsilon(&thresholds);
        for round in 0..schedule.rounds() {
            let buffers = (&mut monitor, &mut scratch);
            let v = v.as_deref_mut();
            schedule.rotate_round(round, aligned, v, &mut state, &thresholds, buffers);
        }
        if !monitor.rotated || monitor.certifies_convergence::<D>() {
            state.fold_scales(&mut aligned.0, v.as_deref_mut(), T::ONE);
            return Ok(sweep);
        }
        let threshold = T::from_f64_rounded(SMALLEST_KEPT_SCALE);
        state.fold_scales(&mut aligned.0, v.as_deref_mut(), threshold);
        schedule.after_sweep::<T>(&monitor);
        settled = monitor.settled;
        previous_mixing = None;
    }
    Err(Error::SvdNotConverged { sweeps: max_sweeps })
}

/// The order in which a sweep visits the pairs of columns, and where the columns are.
///
/// Mostly the odd–even ordering: D rounds, alternately the adjacent positions (0, 1), (2, 3), …
/// and (1, 2), (3, 4), …, each pair swapped after its turn (Luk & Park, "On parallel Jacobi
/// orderings", 1989, show it equivalent to the cyclic-by-rows ordering, so convergence stays
/// quadratic). While most pairs rotate, the columns themselves move (see
/// [`rotate_round_moving`]); once few pairs are likely to rotate in the next sweep
/// ([`TailMonitor::mostly_small`]) they stay put and a table of positions moves instead.
///
/// For 3 ≤ D < [`ROUND_ROBIN_BELOW`], the round-robin (tournament) ordering by the circle method
/// instead, D − 1 rounds of ⌊D/2⌋ pairs for even D (D rounds, one position sitting out, for odd
/// D), with the columns in place. At small D a round is bound by the latency of its chain inner
/// product → square root → division → rotation → next round's inner product rather than by its
/// work, so the odd–even ordering's extra round costs more than moving the columns saves
/// (measured, `new` + `vjp` at n = 1: D = 4 620 ns odd–even against 465 ns round-robin; D = 8
/// 2.18 against 2.32 µs the other way; at D = 2 the extra round is empty).
enum Schedule<const D: usize> {
    /// The circle method: each round pairs `order[k]` with `order[D − 1 − k]`, laid out in
    /// `positions` as the adjacent positions (0, 1), (2, 3), ….
    RoundRobin { order: [usize; D], positions: [usize; D] },
    /// The odd–even ordering, moving the columns.
    Moving,
    /// The odd–even ordering with the columns in place: `positions` holds the column at each
    /// position.
    InPlace { positions: [usize; D] },
}

/// Below this D (and from D = 3 on), sweeps use the round-robin ordering (see [`Schedule`]).
const ROUND_ROBIN_BELOW: usize = 8;

impl<const D: usize> Schedule<D> {
    /// The schedule for decomposing `matrix`. A diagonal matrix (a common `scale_tril`) has
    /// orthogonal columns, so its one sweep rotates nothing and starts with the columns in
    /// place: moving them would only copy every pair (measured at D = 32: 7.0 against 4.4 µs).
    fn new<T: Real>(matrix: &SMatrix<T, D, D>) -> Self {
        if 3 <= D && D < ROUND_ROBIN_BELOW {
            let order = core::array::from_fn(|k| k);
            Schedule::RoundRobin { order, positions: order }
        } else if is_diagonal(matrix) {
            Schedule::InPlace { positions: core::array::from_fn(|k| k) }
        } else {
            Schedule::Moving
        }
    }

    /// Rounds per sweep.
    fn rounds(&self) -> usize {
        match self {
            Schedule::RoundRobin { .. } if D.is_multiple_of(2) => D.saturating_sub(1),
            _ => D,
        }
    }

    /// Orthogonalizes the pairs of round `round` of the sweep.
    fn rotate_round<T: Real>(
        &mut self,
        round: usize,
        aligned: &mut CacheAligned<SMatrix<T, D, D>>,
        v: Option<&mut SMatrix<T, D, D>>,
        state: &mut SweepState<T, D>,
        thresholds: &Thresholds<T>,
        buffers: (&mut TailMonitor<T>, &mut Scratch<T, D>),
    ) {
        // One call site for each round function, so that both are inlined here.
        let (positions, first) = match self {
            Schedule::Moving => {
                let parity = (round % 2, round == 0);
                rotate_round_moving(aligned, v, state, parity, thresholds, buffers);
                return;
            }
            Schedule::RoundRobin { order, positions } => {
                *positions = circle_positions(order);
                advance_circle(order);
                (positions, 0)
            }
            Schedule::InPlace { positions } => (positions, round % 2),
        };
        rotate_round_in_place(aligned, v, state, (positions, first), thresholds, buffers);
    }

    /// Stops moving the columns once few pairs are likely to rotate in the next sweep.
    fn after_sweep<T: Real>(&mut self, monitor: &TailMonitor<T>) {
        if matches!(self, Schedule::Moving) && monitor.mostly_small::<D>() {
            *self = Schedule::InPlace { positions: core::array::from_fn(|k| k) };
        }
    }
}

/// Whether every entry off the diagonal is zero (stopping at the first that is not).
fn is_diagonal<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>) -> bool {
    matrix.data.0.iter().enumerate().all(|(col, column)| {
        column.iter().enumerate().all(|(row, &entry)| row == col || entry == T::zero())
    })
}

/// The pairs (order[k], order[D − 1 − k]) of a circle-method round laid out as adjacent
/// positions (0, 1), (2, 3), …; for odd D the middle entry, which sits out, comes last.
fn circle_positions<const D: usize>(order: &[usize; D]) -> [usize; D] {
    let mut positions = *order;
    let (front, back) = order.split_at(D / 2);
    let (pairs, rest) = positions.as_chunks_mut::<2>();
    for ((pair, &first), &second) in pairs.iter_mut().zip(front).zip(back.iter().rev()) {
        *pair = [first, second];
    }
    if let (Some(last), Some(&middle)) = (rest.first_mut(), back.first()) {
        *last = middle;
    }
    positions
}

/// Moves the circle to the next round: with D even, position 0 stays and the others rotate by
/// one place; with D odd, all rotate. No division is involved, which matters at small D.
fn advance_circle<const D: usize>(order: &mut [usize; D]) {
    let moving = if D.is_multiple_of(2) { order.get_mut(1..) } else { Some(order.as_mut_slice()) };
    if let Some(moving) = moving {
        moving.rotate_right(1);
    }
}

/// Watches a sweep's rotations to decide whether the next sweep could rotate anything at all.
///
/// Rotating the pair (p, q) by an angle with sine s changes the cosine of another pair (p, m)
/// by at most s·(‖a_q‖/‖a_p‖)·|cos(q, m)| (and likewise for q), to first order. Call μ the
/// largest such mixing factor s·‖a_q‖/‖a_p‖ of a sweep's rotations and δ the largest cosine
/// any pair had (at most max(tol, the largest rotated cosine)). A pair is touched by at most
/// 2(D − 2) rotations after its own, so at the end of the sweep every pair's cosine is at most
/// (1 + 2Dμ)·tol + 2D·μ·δ. Once that is below 2·tol the columns are orthogonal to working
/// precision and the sweep that would only confirm it (several inner products per pair, no
/// rotation) is skipped. This is the quadratic tail of the iteration, where δ ≈ 10⁻¹¹ and μ is
/// of the same order; earlier sweeps never qualify. (LAPACK's `dgesvj` stops on a similar test.)
struct TailMonitor<T> {
    /// Whether any pair was rotated.
    rotated: bool,
    /// Whether every rotation so far had a cosine below 2⁻²⁰ (see `TAIL_COSINE_SQUARED`), in the
    /// normal range.
    tail: bool,
    /// δ² over the rotated pairs.
    largest_cosine_squared: T,
    /// μ² over the rotated pairs.
    largest_mixing_squared: T,
    /// The smallest α·β of the normal range (see [`Thresholds`]).
    tiny_product: T,
    /// tol of the rotation test (see [`Thresholds`]).
    tolerance: T,
    /// How many rotations had a cosine above √tol (see [`TailMonitor::mostly_small`]).
    large_rotations: usize,
    /// Whether every rotation had a cosine below the threshold of [`Thresholds`], so that the
    /// next sweep may be replaced by [`simultaneous_step`]s.
    settled: bool,
    /// That threshold, squared.
    settled_cosine_squared: T,
}

impl<T: Real> TailMonitor<T> {
    /// Rotations of cosines above this (2⁻²⁰) mean the sweep is not in the tail.
    const TAIL_COSINE_SQUARED: f64 = 1.0 / (1u64 << 40) as f64;

    fn new(thresholds: &Thresholds<T>) -> Self {
        TailMonitor {
            rotated: false,
            tail: true,
            largest_cosine_squared: T::zero(),
            largest_mixing_squared: T::zero(),
            tiny_product: thresholds.tiny_product,
            tolerance: thresholds.tolerance,
            large_rotations: 0,
            settled: true,
            settled_cosine_squared: thresholds.settled_cosine_squared,
        }
    }

    /// Notes a rotation of a pair with squared norms (α, β) before it.
    #[inline(always)]
    fn record(&mut self, (alpha, beta): (T, T), rotation: &Rotation<T>) {
        self.rotated = true;
        let product = alpha * beta;
        if rotation.gamma_squared > self.tolerance * product {
            self.large_rotations += 1;
        }
        if rotation.gamma_squared > self.settled_cosine_squared * product {
            self.settled = false;
        }
        if self.tail {
            self.observe((alpha, beta), rotation);
        }
    }

    /// Whether at most half of the sweep's pairs were rotated by a cosine above √tol (3.5·10⁻⁸
    /// for `f64` at D = 32). Convergence is quadratic, so a pair's cosine in the next sweep is
    /// about the square of this one's: only such pairs are likely to need a rotation (cosine
    /// above tol) again. Counted this way, the next sweep's rotations were predicted within a
    /// factor 2 in simulation (bench and random factors, D = 8…32), and in place beats moving
    /// when fewer than about 55 % (D = 8) to 78 % (D = 32) of the pairs rotate. (Counting
    /// cosines above 10⁻⁴ instead switched too early: on the D = 32 bench matrix the next sweep
    /// still rotated 464 of 496 pairs, in place.)
    fn mostly_small<const D: usize>(&self) -> bool {
        2 * self.large_rotations <= D * D.saturating_sub(1) / 2
    }

    /// Records a rotation, in the tail, of a pair with squared norms (α, β) before it. A rotation
    /// outside the normal range (α·β below `tiny_product`, where γ² and α·β may have lost bits to
    /// underflow) or with a non-finite measure ends the tail: the certificate only rests on
    /// quantities that are accurate.
    fn observe(&mut self, (alpha, beta): (T, T), rotation: &Rotation<T>) {
        let product = alpha * beta;
        let cosine_squared = rotation.gamma_squared / product;
        // s²·(‖a_q‖/‖a_p‖)² ≤ t²·β/α' and t²·α/β' with the norms after the rotation.
        let (new_alpha, new_beta) = (alpha - rotation.norm_change, beta + rotation.norm_change);
        let ratio =
            if beta / new_alpha > alpha / new_beta { beta / new_alpha } else { alpha / new_beta };
        // t² = (t·γ)²/γ².
        let tangent_squared = rotation.norm_change * rotation.norm_change / rotation.gamma_squared;
        let mixing_squared = tangent_squared * ratio;
        let trusted = product >= self.tiny_product
            && cosine_squared.is_finite_value()
            && mixing_squared.is_finite_value()
            && cosine_squared <= T::from_f64_rounded(Self::TAIL_COSINE_SQUARED);
        if !trusted {
            self.tail = false;
            return;
        }
        if cosine_squared > self.largest_cosine_squared {
            self.largest_cosine_squared = cosine_squared;
        }
        if mixing_squared > self.largest_mixing_squared {
            self.largest_mixing_squared = mixing_squared;
        }
    }

    /// (1 + 2Dμ)·tol + 2D·μ·max(δ, tol) ≤ 2·tol, for a sweep in the tail.
    fn certifies_convergence<const D: usize>(&self) -> bool {
        let tolerance = self.tolerance;
        if !self.tail {
            return false;
        }
        let two_d = T::from_count(2 * D);
        let mixing = self.largest_mixing_squared.libm_sqrt();
        let largest_cosine = self.largest_cosine_squared.libm_sqrt();
        let cosine = if largest_cosine > tolerance { largest_cosine } else { tolerance };
        two_d * mixing * (tolerance + cosine) <= tolerance
    }
}

/// What [`simultaneous_step`] did.
enum StepOutcome<T> {
    /// Every pair is orthogonal to working precision: no pair needed a rotation, or the step's
    /// rotations provably leave every pair within 2·tol.
    Converged,
    /// The step was taken and should contract the cosines; its mixing factor μ.
    Contracted(T),
    /// Nothing changed: the columns are too far from orthogonal for a step, or the last step
    /// did not contract.
    Declined,
}

/// One simultaneous step: every pair's rotation from the same columns, applied together.
///
/// The inner products are taken at once from the same columns (α = ‖a_p‖², β = ‖a_q‖²,
/// ξ = a_pᵀa_q per pair, all D(D − 1)/2 of them: half a matrix product), and every pair with
/// |ξ| > tol·√(α·β) gets the plane rotation by the angle θ with tan(θ/2) = ξ/(2Δ), Δ = β − α,
/// which to first order is the Jacobi angle (tan θ = t/(1 − t²/4) with t = ξ/Δ), as the
/// rational pair
///
/// ```text
/// c = (4Δ² − ξ²)/(4Δ² + ξ²),   s = 4Δξ/(4Δ² + ξ²)
/// a_p ← c·a_p − s·a_q,   a_q ← s·a_p + c·a_q
/// ```
///
/// No square root and one division per pair, all independent of each other; c² + s² = 1 to
/// a few ulps whatever the angle, so every rotation is orthogonal to working precision and
/// the step may be taken far from convergence (the columns are unscaled: the caller folds the
/// sweeps' scales in first).
///
/// Each pair's own cosine drops to O(t²) of what it was; the other pairs' rotations add, to
/// first order, at most μ·max(δ, tol) per third column m, and their products at most 2·μ²,
/// where δ is the largest cosine and μ the largest mixing factor |tan θ|·√(max(α/β, β/α)), so
/// every pair's cosine ends at most tol + 2D·μ·(max(δ, tol) + μ). That is why the step
/// converges quadratically while the angles are small (the bench matrix at D = 8, after two
/// sweeps: largest cosine 6.2·10⁻³ → 3·10⁻⁵ → 5·10⁻¹⁰ → orthogonal). Here μ is computed from
/// s (as s·√spread) and bounded above by μ·(1 + 2μ²) ≥ |tan θ|·√spread, which also bounds δ
/// (|ξ|/√(αβ) ≤ |t|·max(α, β)/√(αβ)).
///
/// Outcomes: if that bound is at most 2·tol the step is the last ([`StepOutcome::Converged`]);
/// else if 2D·μ ≤ ½ (the cross terms then at most half the largest cosine) and μ is less than
/// half the previous step's, the step is taken and the caller steps again
/// ([`StepOutcome::Contracted`]); otherwise nothing is changed and the caller sweeps. Pairs
/// of equal or nearly equal norms get a large angle (c ≤ ½ declines), and the inner products
/// are only trusted in the normal range of α·β: sweeps handle both.
///
/// Out of line except on bare-metal targets: inlined into the sweeps' function it made
/// `LeftSvd` at D = 8 about 4 % slower on x86_64, but out of line its frame adds to theirs
/// (`vjp::<f64, 8>` on the Cortex-M0: 7.4 KiB of stack inlined, more than the firmware
/// example's 16 KiB board leaves for it out of line).
#[cfg_attr(not(target_os = "none"), inline(never))]
fn simultaneous_step<T: Real, const D: usize>(
    work: &mut SMatrix<T, D, D>,
    v: Option<&mut SMatrix<T, D, D>>,
    rotations: &mut StepRotations<T, D>,
    (thresholds, previous_mixing): (&Thresholds<T>, T),
) -> StepOutcome<T> {
    let columns = &work.data.0;
    let mut norms = [T::ZERO; D];
    for (norm, column) in norms.iter_mut().zip(columns) {
        *norm = dot(column, column);
    }
    let inverse_norms = norms.map(|norm| T::one() / norm);
    // Each laid twice end to end, once for all rows: row d's second columns are a window.
    let (norms, inverse_norms) = ([norms; 2], [inverse_norms; 2]);
    let mut summary = StepSummary::new();
    for d in 1..=D / 2 {
        let (Some(seconds), Some(inverse_seconds)) = (window(&norms, d), window(&inverse_norms, d))
        else {
            return StepOutcome::Declined;
        };
        let lanes = StepLanes {
            inner_products: circulant_inner_products::<T, D>(columns, d),
            firsts: (&norms[0], &inverse_norms[0]),
            seconds: (seconds, inverse_seconds),
        };
        let Some(row) = rotations.row_mut(d) else {
            return StepOutcome::Declined;
        };
        lanes.rotations(thresholds.tolerance_squared, row, &mut summary);
    }
    // Checked only now, off the path to the rows (which are harmless to compute regardless):
    // the normal range, and norms within 1/ε of each other, where the sweeps' certificate,
    // which rests on the same first-order bound, was found to fail (see
    // `SweepState::norms_within_one_over_epsilon`).
    let smallest_norm = norms[0].iter().fold(T::MAX, |m, &x| if x < m { x } else { m });
    let largest_norm = norms[0].iter().fold(T::ZERO, |m, &x| if x > m { x } else { m });
    if smallest_norm * smallest_norm < thresholds.tiny_product
        || largest_norm * T::EPSILON > smallest_norm
    {
        return StepOutcome::Declined;
    }
    let Some((mixing, any)) = summary.mixing() else {
        return StepOutcome::Declined;
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
        return StepOutcome::Declined;
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
/// length, and a D × D square would waste half its lanes (inner products and rotations of a
/// step at D = 8: 129 ns in the square, about 100 ns in the circulant rows).
///
/// One D × D array holds both: the cosines of row d in row d, its sines in row D − d (row 0
/// for d = D/2). Two arrays took 512 bytes more of stack, which `vjp::<f64, 8>` on the
/// Cortex-M0 does not have, and scattering the rows into the two triangles of one array cost
/// 10–40 ns more.
struct StepRotations<T, const D: usize> {
    rows: [[T; D]; D],
}

impl<T: Real, const D: usize> StepRotations<T, D> {
    /// Every row is written by [`row_mut`](Self::row_mut)'s caller before it is read.
    fn new() -> Self {
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
    /// a store and a reload of column q (the rotations alone at D = 8: 86 → 75 ns). Rotations
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
                if sine == T::zero() {
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

/// x ← x − s·y, y ← s·x + y (with the old x): [`rotate_pair`] for c = 1, to the same bits.
fn shear_pair<T: Real, const D: usize>(x: &mut [T; D], y: &mut [T; D], s: T) {
    for (x, y) in x.iter_mut().zip(y.iter_mut()) {
        let (old_x, old_y) = (*x, *y);
        *x = old_x - s * old_y;
        *y = s * old_x + old_y;
    }
}

/// x ← c·x − s·y, y ← s·x + c·y (with the old x).
fn rotate_pair<T: Real, const D: usize>(x: &mut [T; D], y: &mut [T; D], (c, s): (T, T)) {
    for (x, y) in x.iter_mut().zip(y.iter_mut()) {
        let (old_x, old_y) = (*x, *y);
        *x = c * old_x - s * old_y;
        *y = s * old_x + c * old_y;
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
/// they were stored. A copy rotated for each row (stored, then read back at an offset that straddles two
/// of its stores, which the store queue cannot forward) held 7 % of the step's profile samples
/// on one load; this way `new` + `vjp` at D = 8 is 35–40 ns faster (n = 1 and 128, alternating
/// probe runs), for 320 bytes more stack in `vjp::<f64, 8>` on the Cortex-M4F. Gathering by
/// index instead cost `LeftSvd` at D = 8 about 5 %.
fn window<T, const D: usize>(doubled: &[[T; D]; 2], d: usize) -> Option<&[T; D]> {
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
        // An index loop over fixed-size arrays: the zipped iterators compiled to about a tenth
        // more time for the whole step.
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

/// What a sweep keeps beside the stored columns xⱼ: the actual column is aⱼ = dⱼ·xⱼ.
///
/// The scales make each rotation cost two multiply-adds per entry instead of four
/// multiplications and two additions ("fast scaled rotations", Rutishauser; Anda & Park 1994):
/// with tangent t and c = 1/√(1 + t²), the rotation
/// a_p ← c·(a_p − t·a_q), a_q ← c·(a_q + t·a_p) updates only x_p ← x_p − t·(d_q/d_p)·x_q,
/// x_q ← x_q + t·(d_p/d_q)·x_p and multiplies both scales by c. Keeping the squared scales
/// eⱼ = dⱼ² instead lets all a rotation needs come from one square root and one division (see
/// [`needed_rotation`]), which matters because those share one slow unit on most processors.
/// Since |t| ≤ 1, c² ≥ ½ and a sweep shrinks a squared scale by at most 2^(−(D−1)). A scale is
/// folded back into its column at the end of the sweep that takes it below
/// [`SMALLEST_KEPT_SCALE`], and every scale at the end of the decomposition: that bounds the
/// growth of the stored columns as before, but skips D square roots and D² multiplications per
/// sweep, because in practice a sweep shrinks the scales far less (the bench matrices: 2^−2.6 at
/// worst in the first sweep, 2^−0.1 from the third on).
#[derive(Clone)]
struct SweepState<T, const D: usize> {
    /// Per column: (‖aⱼ‖², eⱼ = dⱼ²), the norm following α ← α − tγ, β ← β + tγ within a sweep.
    columns: [(T, T); D],
}

impl<T: Real, const D: usize> SweepState<T, D> {
    fn new() -> Self {
        SweepState { columns: [(T::ZERO, T::ONE); D] }
    }

    /// Fresh squared norms ‖aⱼ‖² = eⱼ·‖xⱼ‖².
    fn start_sweep(&mut self, work: &SMatrix<T, D, D>) {
        for ((norm, squared_scale), column) in self.columns.iter_mut().zip(work.data.0.iter()) {
            *norm = *squared_scale * dot(column, column);
        }
    }

    /// Whether the squared norms of the columns that are not negligible lie within a factor
    /// 1/ε of each other. Where they do not, [`TailMonitor`]'s certificate is not trusted: the
    /// fuzzer found it accepting cosines of 60–250·ε between ordinary columns of matrices whose
    /// norms spanned 10¹¹⁶ or more (and three zero rows), where a confirming sweep found them
    /// and left U orthogonal to 5·10⁻¹⁶; why the bound fails there is not known yet. It costs
    /// such inputs one more sweep, and nothing where the norms are within 10¹⁶ of each other.
    fn norms_within_one_over_epsilon(&self, thresholds: &Thresholds<T>) -> bool {
        let norms = self.columns.iter().map(|&(norm, _)| norm);
        let largest = norms.clone().fold(T::ZERO, |m, x| if x > m { x } else { m });
        let kept = norms.filter(|&x| x >= thresholds.tiny_square);
        let smallest = kept.fold(largest, |m, x| if x < m { x } else { m });
        largest * T::EPSILON <= smallest
    }

    /// aⱼ = √eⱼ·xⱼ stored back into the columns (of V too) and eⱼ reset to one, for every
    /// squared scale below `threshold`.
    fn fold_scales(
        &mut self,
        work: &mut SMatrix<T, D, D>,
        mut v: Option<&mut SMatrix<T, D, D>>,
        threshold: T,
    ) {
        for (j, (_, squared_scale)) in self.columns.iter_mut().enumerate() {
            if *squared_scale < threshold {
                let scale = squared_scale.libm_sqrt();
                work.column_mut(j).scale_mut(scale);
                if let Some(v) = v.as_deref_mut() {
                    v.column_mut(j).scale_mut(scale);
                }
                *squared_scale = T::ONE;
            }
        }
    }
}

/// A squared scale below this (2⁻⁸) is folded into its column at the end of a sweep; see
/// [`SweepState`]. It costs the stored columns at most a factor 2⁴ of headroom against overflow
/// and the products of two squared scales a factor 2⁻¹⁶ against underflow, on top of a sweep's
/// own worst case.
const SMALLEST_KEPT_SCALE: f64 = 1.0 / 256.0;

/// The constants of the rotation test, computed once per decomposition.
struct Thresholds<T> {
    tolerance: T,
    tolerance_squared: T,
    tiny_square: T,
    tiny_product: T,
    settled_cosine_squared: T,
}

/// Up to this D, a sweep whose cosines were all below 0.1 hands over to
/// [`simultaneous_step`]s; above it, only one below 10⁻³ (so that the step is usually the
/// last). A sweep at small D is bound by the latency of its chain of square roots and
/// divisions, which a step does not have: `LeftSvd` of the bench matrices, against the sweeps
/// and one first-order last step this replaced, D = 4 320 → 300 ns, D = 8 1 420 → 1 270 ns
/// (two sweeps and three steps instead of four sweeps and one step). At D = 16 stepping early
/// is about 2 % slower than that (6.9 against 6.8 µs) and stepping only at the end 6 %: a step
/// has costs a sweep does not (folding the scales in, a lane for every pair, rotations that
/// are exactly orthogonal); at D = 32, where a sweep is bound by its work, stepping early was
/// 8 % slower and stepping at the end costs the same.
const LARGEST_EARLY_STEPPING_DIMENSION: usize = 16;

impl<T: Real> Thresholds<T> {
    /// tol = √D·ε, the limits of the normal range and when to step (see
    /// [`LARGEST_EARLY_STEPPING_DIMENSION`]).
    fn new<const D: usize>() -> Self {
        let tolerance = T::EPSILON * T::from_count(D).libm_sqrt();
        Thresholds {
            tolerance,
            tolerance_squared: tolerance * tolerance,
            tiny_square: negligible_square::<T>(),
            // Below this, α·β may have lost bits to underflow: the test then takes square roots.
            tiny_product: T::MIN_POSITIVE / (T::EPSILON * T::EPSILON),
            settled_cosine_squared: T::from_f64_rounded(if D <= LARGEST_EARLY_STEPPING_DIMENSION {
                1e-2
            } else {
                1e-6
            }),
        }
    }
}

/// One rotation of a pair (p, q), in the scaled form [`SweepState`] keeps.
#[derive(Clone, Copy)]
struct Rotation<T> {
    /// (k_p, k_q) = (t·d_q/d_p, t·d_p/d_q): x_p ← x_p − k_p·x_q, x_q ← x_q + k_q·x_p.
    shear: (T, T),
    /// c² = 1/(1 + t²), the factor of both squared scales.
    cosine_squared: T,
    /// t·γ, the amount α loses and β gains.
    norm_change: T,
    /// γ², for [`TailMonitor`].
    gamma_squared: T,
}

/// The buffers of the round functions, made once per decomposition rather than once per round:
/// the inner product of each pair of a round, then its rotation if it needs one (a round has at
/// most ⌊D/2⌋ pairs).
struct Scratch<T, const D: usize> {
    inner_products: [T; D],
    rotations: [Option<Rotation<T>>; D],
}

impl<T: Real, const D: usize> Scratch<T, D> {
    fn new() -> Self {
        Scratch { inner_products: [T::ZERO; D], rotations: [None; D] }
    }
}

/// Orthogonalizes the pairs of adjacent columns (first, first + 1), (first + 2, first + 3), … of
/// one round and swaps every pair, as the odd–even ordering moves them; a rotated pair is stored
/// swapped at no extra cost. With the positions fixed the compiler knows every address, which
/// saves about a tenth of the instructions of a rotation at D = 32; the price is copying the
/// pairs that need no rotation.
///
/// The round runs in phases (all rotations' parameters, then all rotations), which are
/// independent across pairs: the square roots and divisions of different pairs overlap instead
/// of waiting on each other. (Computing the next pairs' parameters between rotations instead,
/// to overlap the square roots with the rotations, measured 4–15 % slower.) The inner products
/// ξ of the round's pairs are in `scratch`: computed here for the first round of a sweep
/// (`first_of_sweep`), left there by the previous round otherwise: once rotated, each pair's
/// first slot meets the column before the pair in the next round, and that inner product is
/// summed while the rotated entries are still in registers (see [`rotate_and_swap`]). At
/// D = 32 a sweep takes 7.0 instead of 8.4 µs. Every rotation is reported to `monitor`.
fn rotate_round_moving<T: Real, const D: usize>(
    work: &mut CacheAligned<SMatrix<T, D, D>>,
    v: Option<&mut SMatrix<T, D, D>>,
    state: &mut SweepState<T, D>,
    (first, first_of_sweep): (usize, bool),
    thresholds: &Thresholds<T>,
    (monitor, scratch): (&mut TailMonitor<T>, &mut Scratch<T, D>),
) {
    let pairs = D.saturating_sub(first) / 2; // as many as `adjacent_pairs` makes
    if first_of_sweep {
        for (k, xi) in scratch.inner_products.iter_mut().take(pairs).enumerate() {
            let p = first + 2 * k;
            *xi = column_dot(work, (p, p + 1));
        }
    }
    let states = adjacent_pairs(&mut state.columns, first);
    let mut v_columns = v.map(|v| adjacent_pairs(&mut v.data.0, first));
    let parameters = scratch.inner_products.iter().zip(states.iter());
    for (rotation, (&xi, &[(alpha, e_p), (beta, e_q)])) in
        scratch.rotations.iter_mut().zip(parameters)
    {
        *rotation = needed_rotation((alpha, beta), (e_p, e_q), xi, thresholds);
    }
    // The column before each pair: after the round it is the pair's neighbour in the next one.
    let (before, from_first) = work.0.data.0.split_at_mut(first.min(D));
    let (columns, after) = from_first.as_chunks_mut::<2>();
    let mut previous: Option<&[T; D]> = before.last();
    // Filled in order: the next round's pairs are (previous, first slot of this pair).
    let mut next_inner_products = scratch.inner_products.iter_mut();
    let pairs = columns.iter_mut().zip(states.iter_mut()).zip(scratch.rotations.iter());
    for (k, ((pair, pair_state), rotation)) in pairs.enumerate() {
        let v_pair = v_columns.as_deref_mut().and_then(|v| v.get_mut(k));
        let next_inner_product = match rotation {
            None => {
                pair.swap(0, 1);
                pair_state.swap(0, 1);
                if let Some(v_pair) = v_pair {
                    v_pair.swap(0, 1);
                }
                previous.map(|column| dot(column, &pair[0]))
            }
            Some(rotation) => {
                let [(alpha, e_p), (beta, e_q)] = *pair_state;
                monitor.record((alpha, beta), rotation);
                let next = rotate_and_swap(pair, rotation.shear, previous);
                if let Some(v_pair) = v_pair {
                    rotate_and_swap(v_pair, rotation.shear, None);
                }
                let [column_q, column_p] = &*pair;
                *pair_state = [
                    rotated_norm((beta, e_q), rotation.norm_change, rotation, column_q),
                    rotated_norm((alpha, e_p), -rotation.norm_change, rotation, column_p),
                ];
                next
            }
        };
        if let Some(value) = next_inner_product
            && let Some(slot) = next_inner_products.next()
        {
            *slot = value;
        }
        let [_, second] = &*pair;
        previous = Some(second);
    }
    if let (Some(column), Some(next), Some(slot)) =
        (previous, after.first(), next_inner_products.next())
    {
        *slot = dot(column, next);
    }
}

/// [`rotate_round_moving`] with the columns left in place: `positions` holds the column at each
/// position of the ordering, and the swaps exchange its entries instead. Cheaper once most pairs
/// need no rotation.
fn rotate_round_in_place<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    mut v: Option<&mut SMatrix<T, D, D>>,
    state: &mut SweepState<T, D>,
    (positions, first): (&mut [usize; D], usize),
    thresholds: &Thresholds<T>,
    (monitor, scratch): (&mut TailMonitor<T>, &mut Scratch<T, D>),
) {
    let pairs = adjacent_pairs(positions, first);
    for (xi, &[p, q]) in scratch.inner_products.iter_mut().zip(pairs.iter()) {
        *xi = column_dot(aligned, (p, q));
    }
    let work = &mut aligned.0;
    let parameters = scratch.inner_products.iter().zip(pairs.iter());
    for (rotation, (&xi, &[p, q])) in scratch.rotations.iter_mut().zip(parameters) {
        *rotation = match (state.columns.get(p), state.columns.get(q)) {
            (Some(&(alpha, e_p)), Some(&(beta, e_q))) => {
                needed_rotation((alpha, beta), (e_p, e_q), xi, thresholds)
            }
            _ => None,
        };
    }
    for (pair, rotation) in pairs.iter_mut().zip(scratch.rotations.iter()) {
        let [p, q] = *pair;
        pair.swap(0, 1);
        // Most pairs of the sweeps that run in place need no rotation: test that first.
        let Some(rotation) = rotation else {
            continue;
        };
        let Ok([state_p, state_q]) = state.columns.get_disjoint_mut([p, q]) else {
            continue;
        };
        monitor.record((state_p.0, state_q.0), rotation);
        if let Some(v) = v.as_deref_mut() {
            shear_columns(v, (p, q), rotation.shear);
        }
        if let Some([column_p, column_q]) = shear_columns(work, (p, q), rotation.shear) {
            *state_p = rotated_norm(*state_p, -rotation.norm_change, rotation, column_p);
            *state_q = rotated_norm(*state_q, rotation.norm_change, rotation, column_q);
        }
    }
}

/// x_pᵀx_q for columns p and q of `matrix` (0 if one is past its end), kept out of line:
/// inlined into the loop over the pairs of a round, the compiler vectorizes across pairs
/// (gathering entries of two pairs into one register) or not at all, where on its own the
/// function runs on two-lane vectors. Taking the whole cache-aligned matrix tells the compiler
/// that the columns are 16-byte aligned (for even D), so every other load folds into a
/// multiplication.
#[inline(never)]
fn column_dot<T: Real, const D: usize>(
    matrix: &CacheAligned<SMatrix<T, D, D>>,
    (p, q): (usize, usize),
) -> T {
    match (matrix.0.data.0.get(p), matrix.0.data.0.get(q)) {
        (Some(x), Some(y)) => dot(x, y),
        _ => T::ZERO,
    }
}

/// The pairs of adjacent entries (first, first + 1), (first + 2, first + 3), … of `items`.
fn adjacent_pairs<X, const D: usize>(items: &mut [X; D], first: usize) -> &mut [[X; 2]] {
    items.get_mut(first..).map_or(&mut [], |rest| rest.as_chunks_mut::<2>().0)
}

/// (‖a‖², e) of a column after a rotation, from (‖a‖², e) before it: the squared scale times
/// c², the norm plus `change` (∓tγ), where a norm that lost more than three quarters (where
/// that update cancels) is recomputed from the rotated `column` instead.
fn rotated_norm<T: Real, const D: usize>(
    (norm, squared_scale): (T, T),
    change: T,
    rotation: &Rotation<T>,
    column: &[T; D],
) -> (T, T) {
    let scale = squared_scale * rotation.cosine_squared;
    let updated = norm + change;
    let norm = if updated < T::QUARTER * norm { scale * dot(column, column) } else { updated };
    (norm, scale)
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
/// other factor (±2ξ·e_q·R for k_p, for instance) formed while the division runs. Measured
/// against multiplying the reciprocal by R, then by ±2ξ, then by e_q: a sweep is 5 % (D = 8),
/// 4 % (D = 16) and 2.5 % (D = 32) faster.
fn needed_rotation<T: Real>(
    (alpha, beta): (T, T),
    (e_p, e_q): (T, T),
    xi: T,
    thresholds: &Thresholds<T>,
) -> Option<Rotation<T>> {
    let product = alpha * beta;
    if product < thresholds.tiny_product {
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
    let reciprocal = T::one() / (root * sum);
    let twice = if difference < T::zero() { -(xi + xi) } else { xi + xi };
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
    if alpha < thresholds.tiny_square || beta < thresholds.tiny_square {
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
        cosine_squared: T::one() / (T::one() + t * t),
        norm_change: t * gamma,
        gamma_squared: gamma * gamma,
    })
}

/// The tangent through ζ, safe when α·β is near the underflow threshold.
fn small_range_tangent<T: Real>(alpha: T, beta: T, gamma: T) -> T {
    let two = T::one() + T::one();
    let zeta = (beta - alpha) / (two * gamma);
    let magnitude = zeta.abs();
    // For |ζ| > 1/ε, 1 + ζ² rounds to ζ²; past √MAX it would overflow. Use t ≈ 1/(2ζ) there.
    let t_magnitude = if magnitude > T::one() / T::EPSILON {
        T::one() / (two * magnitude)
    } else {
        T::one() / (magnitude + (T::one() + zeta * zeta).libm_sqrt())
    };
    if zeta < T::zero() { -t_magnitude } else { t_magnitude }
}

/// xᵀy for two columns, by [`dot`](super::dot).
#[inline(always)]
fn dot<T: Real, const D: usize>(x: &[T; D], y: &[T; D]) -> T {
    super::dot(x, y)
}

/// x_p ← x_p − k_p·x_q, x_q ← x_q + k_q·x_p (with the old x_p), the unscaled part of a fast
/// scaled rotation, with the two results stored swapped: x_q's in the first slot. With
/// `previous`, also returns `previous`ᵀ·(new x_q), the inner product of the next round's pair,
/// summed as [`dot`](super::dot) sums (so to the same bits) while the entries are at hand: that
/// saves loading both columns again.
fn rotate_and_swap<T: Real, const D: usize>(
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
    let mut partial = [T::zero(); 4];
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
fn shear_columns<T: Real, const D: usize>(
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

/// Replaces the columns flagged negligible by unit vectors orthogonal to all other columns
/// (Gram–Schmidt, applied twice, on the standard basis vector that leaves the largest residual).
fn complete_basis<T: Real, const D: usize>(u: &mut SMatrix<T, D, D>, negligible: &[bool; D]) {
    let mut done = negligible.map(|n| !n);
    for target in 0..D {
        if done.get(target).copied().unwrap_or(true) {
            continue;
        }
        let mut best = SVector::<T, D>::zeros();
        let mut best_norm = T::zero();
        for k in 0..D {
            let mut candidate = super::unit_vector::<T, D>(k);
            for _ in 0..2 {
                for (column, &accepted) in u.column_iter().zip(done.iter()) {
                    if accepted {
                        candidate -= column * column.dot(&candidate);
                    }
                }
            }
            let norm = candidate.dot(&candidate).libm_sqrt();
            if norm > best_norm {
                best_norm = norm;
                best = candidate;
            }
        }
        if best_norm > T::zero() {
            u.set_column(target, &(best / best_norm));
        }
        if let Some(flag) = done.get_mut(target) {
            *flag = true;
        }
    }
}

/// Selection sort of the singular values, decreasing, permuting the columns of U (and V) alike.
fn sort_decreasing<T: Real, const D: usize>(
    u: &mut SMatrix<T, D, D>,
    values: &mut SVector<T, D>,
    mut v: Option<&mut SMatrix<T, D, D>>,
) {
    for i in 0..D {
        let mut largest = i;
        for j in i + 1..D {
            if values[j] > values[largest] {
                largest = j;
            }
        }
        if largest != i {
            values.swap_rows(i, largest);
            u.swap_columns(i, largest);
            if let Some(v) = v.as_deref_mut() {
                v.swap_columns(i, largest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        CacheAligned, MAX_SWEEPS, Rotation, SMALLEST_KEPT_SCALE, Schedule, Scratch, StepOutcome,
        StepRotations, SweepState, TailMonitor, Thresholds, adjacent_pairs, advance_circle,
        circle_positions, dot, rotate_round_in_place, rotate_round_moving, simultaneous_step,
    };
    use nalgebra::SMatrix;

    /// A rotation of a pair with unit norms and cosine `cosine`, by tangent `tangent`.
    fn rotation(cosine: f64, tangent: f64) -> Rotation<f64> {
        Rotation {
            shear: (tangent, tangent),
            cosine_squared: 1.0 / (1.0 + tangent * tangent),
            norm_change: tangent * cosine,
            gamma_squared: cosine * cosine,
        }
    }

    #[test]
    fn tail_certificate_needs_small_cosines_and_small_mixing() {
        // tol = √16·ε, the monitor's own.
        let tolerance = 4.0 * f64::EPSILON;
        assert_eq!(Thresholds::<f64>::new::<16>().tolerance, tolerance);
        let certify = |rotations: &[(f64, f64)]| {
            let mut monitor = TailMonitor::new(&Thresholds::<f64>::new::<16>());
            for &(cosine, tangent) in rotations {
                monitor.rotated = true;
                if monitor.tail {
                    monitor.observe((1.0, 1.0), &rotation(cosine, tangent));
                }
            }
            monitor.certifies_convergence::<16>()
        };
        // The quadratic tail: cosines and tangents around 1e-11.
        assert!(certify(&[(1e-11, 1e-11), (3e-12, 2e-11)]));
        // A cosine above 2⁻²⁰ is not the tail, whatever the rest.
        assert!(!certify(&[(1e-11, 1e-11), (1e-5, 1e-5)]));
        // Small cosines but a large rotation (close norms): other pairs may have moved.
        assert!(!certify(&[(1e-9, 0.5)]));
        // 2D·μ·(tol + δ) just above tol.
        let mixing = 1.0 / (32.0 * 2.0) * 1.01;
        assert!(!certify(&[(tolerance, mixing)]));
        assert!(certify(&[(tolerance, mixing / 1.1)]));
        // A rotation whose α·β lies below the normal range (γ² may have underflowed to 0, the
        // found fuzz case) ends the tail.
        let thresholds = Thresholds { tiny_product: 1e-300, ..Thresholds::<f64>::new::<16>() };
        let mut monitor = TailMonitor::new(&thresholds);
        monitor.observe((1e-160, 1e-160), &rotation(0.0, 1e-3));
        assert!(!monitor.certifies_convergence::<16>());
    }

    /// The odd–even ordering as the sweeps run it: the pairs of adjacent positions (0, 1),
    /// (2, 3), … in even rounds and (1, 2), (3, 4), … in odd ones, every pair swapped.
    fn odd_even_meets_every_pair_once_per_sweep<const D: usize>() {
        let mut positions: [usize; D] = core::array::from_fn(|k| k);
        let mut met = [[0usize; D]; D];
        for round in 0..D {
            for pair in adjacent_pairs(&mut positions, round % 2) {
                let (p, q) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
                met[p][q] += 1;
                pair.swap(0, 1);
            }
        }
        assert_each_pair_met_once(&met);
        // A sweep leaves the columns in reverse order.
        assert!(positions.iter().rev().copied().eq(0..D));
    }

    /// A sweep and three rounds of both round functions from the same matrix: the columns, of V
    /// too, and their norms and scales must agree bit for bit, up to where `positions` says each
    /// column went. The moving rounds carry each round's inner products into the next, the
    /// in-place ones compute them afresh.
    fn moving_and_in_place_rounds_agree<const D: usize>() {
        let a = SMatrix::<f64, D, D>::from_fn(|i, j| {
            ((i * 5 + j * 3) % 11) as f64 / 11.0 - 0.4 + if i == j { 1.0 } else { 0.0 }
        });
        let thresholds = Thresholds::<f64>::new::<D>();
        let (mut moving, mut in_place) = (CacheAligned(a), CacheAligned(a));
        let mut v_moving = SMatrix::<f64, D, D>::identity();
        let mut v_in_place = v_moving;
        let (mut state_moving, mut state_in_place) = (SweepState::new(), SweepState::new());
        let mut positions: [usize; D] = core::array::from_fn(|k| k);
        // Separate scratch: the moving rounds carry the next round's inner products in theirs.
        let (mut scratch_moving, mut scratch_in_place) = (Scratch::new(), Scratch::new());
        let mut monitor = TailMonitor::new(&thresholds);
        for rounds in [D, 3] {
            state_moving.start_sweep(&moving.0);
            state_in_place.start_sweep(&in_place.0);
            for round in 0..rounds {
                let (state, buffers) = (&mut state_moving, (&mut monitor, &mut scratch_moving));
                let v = Some(&mut v_moving);
                let parity = (round % 2, round == 0);
                rotate_round_moving(&mut moving, v, state, parity, &thresholds, buffers);
                let buffers = (&mut monitor, &mut scratch_in_place);
                let state = &mut state_in_place;
                let (v, round) = (Some(&mut v_in_place), (&mut positions, round % 2));
                rotate_round_in_place(&mut in_place, v, state, round, &thresholds, buffers);
            }
        }
        assert!(monitor.rotated);
        assert_ne!(positions, core::array::from_fn(|k| k));
        for (k, &column) in positions.iter().enumerate() {
            assert_eq!(moving.0.column(k), in_place.0.column(column));
            assert_eq!(v_moving.column(k), v_in_place.column(column));
            assert_eq!(state_moving.columns[k], state_in_place.columns[column]);
        }
    }

    /// Odd D (a position sits out every round) and even D (one in every other round).
    #[test]
    fn moving_and_in_place_rounds_compute_the_same_sweeps_bit_for_bit() {
        moving_and_in_place_rounds_agree::<2>();
        moving_and_in_place_rounds_agree::<7>();
        moving_and_in_place_rounds_agree::<8>();
        moving_and_in_place_rounds_agree::<13>();
    }

    /// The round-robin ordering as the sweeps run it: the circle's pairs laid out as adjacent
    /// positions.
    fn round_robin_meets_every_pair_once_per_sweep<const D: usize>() {
        let mut order: [usize; D] = core::array::from_fn(|k| k);
        let mut met = [[0usize; D]; D];
        let rounds = if D.is_multiple_of(2) { D.saturating_sub(1) } else { D };
        for _ in 0..rounds {
            let mut positions = circle_positions(&order);
            let mut sorted = positions;
            sorted.sort_unstable();
            assert!(sorted.iter().copied().eq(0..D), "D = {D}: not a permutation");
            for pair in adjacent_pairs(&mut positions, 0) {
                met[pair[0].min(pair[1])][pair[0].max(pair[1])] += 1;
            }
            advance_circle(&mut order);
        }
        assert_each_pair_met_once(&met);
    }

    fn assert_each_pair_met_once<const D: usize>(met: &[[usize; D]; D]) {
        for p in 0..D {
            for q in p + 1..D {
                assert_eq!(met[p][q], 1, "D = {D}: pair ({p}, {q})");
            }
        }
    }

    /// Both orderings, for even and odd D.
    fn orderings_meet_every_pair_once_per_sweep<const D: usize>() {
        round_robin_meets_every_pair_once_per_sweep::<D>();
        odd_even_meets_every_pair_once_per_sweep::<D>();
    }

    #[test]
    fn both_orderings_cover_every_pair_exactly_once() {
        orderings_meet_every_pair_once_per_sweep::<1>();
        orderings_meet_every_pair_once_per_sweep::<2>();
        orderings_meet_every_pair_once_per_sweep::<3>();
        orderings_meet_every_pair_once_per_sweep::<4>();
        orderings_meet_every_pair_once_per_sweep::<5>();
        orderings_meet_every_pair_once_per_sweep::<8>();
        orderings_meet_every_pair_once_per_sweep::<13>();
        orderings_meet_every_pair_once_per_sweep::<15>();
        orderings_meet_every_pair_once_per_sweep::<16>();
    }

    /// Runs sweeps as `rotate_to_convergence` does, without its two ways of stopping early, until
    /// a sweep rotates nothing (`until_settled` false) or leaves the columns settled (true).
    /// Returns `None` if that took every sweep.
    fn sweep<const D: usize>(
        work: &mut CacheAligned<SMatrix<f64, D, D>>,
        state: &mut SweepState<f64, D>,
        until_settled: bool,
    ) -> Option<()> {
        let thresholds = Thresholds::new::<D>();
        let mut scratch = Scratch::new();
        let mut schedule = Schedule::<D>::new(&work.0);
        for _ in 0..MAX_SWEEPS {
            state.start_sweep(&work.0);
            let mut monitor = TailMonitor::new(&thresholds);
            for round in 0..schedule.rounds() {
                let buffers = (&mut monitor, &mut scratch);
                schedule.rotate_round(round, work, None, state, &thresholds, buffers);
            }
            state.fold_scales(&mut work.0, None, SMALLEST_KEPT_SCALE);
            schedule.after_sweep::<f64>(&monitor);
            if (until_settled && monitor.settled) || !monitor.rotated {
                return Some(());
            }
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
    /// orthogonal. Returns how many steps ended it (0 where a step declined).
    fn steps_agree_with_sweeps<const D: usize>(a: SMatrix<f64, D, D>) -> usize {
        let thresholds = Thresholds::<f64>::new::<D>();
        let mut settled = CacheAligned(a);
        let mut state = SweepState::new();
        if sweep(&mut settled, &mut state, true).is_none() {
            return 0;
        }
        let (mut stepped, mut swept) = (CacheAligned(settled.0), settled);
        let mut swept_state = state.clone();
        // With every scale folded in, V = I is the rotation so far.
        state.fold_scales(&mut stepped.0, None, f64::MAX);
        let mut v = SMatrix::<f64, D, D>::identity();
        let mut previous = f64::MAX;
        let mut steps = 0;
        let mut rotations = StepRotations::new();
        loop {
            steps += 1;
            let settings = (&thresholds, previous);
            match simultaneous_step(&mut stepped.0, Some(&mut v), &mut rotations, settings) {
                StepOutcome::Converged => break,
                StepOutcome::Contracted(mixing) => previous = mixing,
                StepOutcome::Declined => return 0,
            }
            assert!(steps < 10, "D = {D}: steps that contract must end it");
        }
        assert!(sweep(&mut swept, &mut swept_state, false).is_some());
        let (norms, largest_cosine) = norms_and_largest_cosine(&stepped.0, &state);
        let (reference, _) = norms_and_largest_cosine(&swept.0, &swept_state);
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
            let settings = (&thresholds, previous);
            let outcome = match simultaneous_step(&mut work, None, &mut rotations, settings) {
                StepOutcome::Converged => "converged",
                StepOutcome::Contracted(_) => "contracted",
                StepOutcome::Declined => "declined",
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
        assert_eq!(step([[1.0, 0.0], [0.02, 2.0]], 1e-3), ("declined", [[1.0, 0.0], [0.02, 2.0]]));
        // Equal norms and cosine 10⁻¹⁰: the rotation is 45°, far from a step's, refused.
        assert_eq!(step([[1.0, 0.0], [1e-10, 1.0]], f64::MAX).0, "declined");
        // Cosine 0.5: refused, unchanged.
        assert_eq!(
            step([[1.0, 0.0], [1.0, 1.7]], f64::MAX),
            ("declined", [[1.0, 0.0], [1.0, 1.7]])
        );
        // Orthogonal columns: nothing to do, converged (and nothing changes).
        assert_eq!(
            step([[1.0, 0.0], [0.0, 3.0]], f64::MAX),
            ("converged", [[1.0, 0.0], [0.0, 3.0]])
        );
    }
}
