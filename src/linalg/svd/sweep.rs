//! A sweep: every pair of columns once, in the rounds of a `Schedule`, each pair rotated by the
//! Jacobi rotation where it needs one.
//!
//! # Fast scaled rotations
//! A sweep keeps each column as a stored column xⱼ and a squared scale eⱼ = dⱼ², the actual
//! column being aⱼ = dⱼ·xⱼ (`SweepState`), so that a rotation costs two multiply-adds per
//! entry instead of four multiplications and two additions (Rutishauser; Anda & Park 1994).
//! The scales are folded back into the columns when they get small, and at the end.
//!
//! # Rounds
//! The pairs of a round are disjoint, so their rotations are independent. A round runs in
//! phases (every pair's inner product, then every rotation's parameters, then every rotation),
//! so that the square roots and divisions of different pairs overlap instead of waiting on each
//! other. Where the columns move (`Round::Moving`), each rotation also sums the inner product
//! its first column will have in the next round while the rotated entries are in registers.
//!
//! # Cost
//! A sweep is D(D − 1)/2 inner products and, for each pair that needs it, one square root, one
//! division and a rotation of two columns: about 1.5·D³ multiply-adds when every pair rotates
//! (2.5·D³ with V accumulated). Measured times are in docs/PERFORMANCE.md, "Where the time
//! goes".

use super::certificate::SweepVerdict;
use super::rotation::{Rotation, Thresholds, needed_rotation, rotate_and_swap, shear_columns};
use super::schedule::{Round, Schedule, adjacent_pairs};
use super::tuning::SMALLEST_KEPT_SCALE;
use crate::Real;
use crate::linalg::{CacheAligned, dot};
use nalgebra::SMatrix;

/// The sweeps of one decomposition: the columns' scales and norms, the ordering, and the
/// buffers of the rounds.
#[derive(Clone)]
pub(super) struct Sweeps<T, const D: usize> {
    /// The scale and squared norm of every column.
    pub(super) state: SweepState<T, D>,
    schedule: Schedule<D>,
    scratch: Scratch<T, D>,
}

impl<T: Real, const D: usize> Sweeps<T, D> {
    /// Sweeps for decomposing `matrix`, every scale one.
    #[inline(always)]
    pub(super) fn new(matrix: &SMatrix<T, D, D>) -> Self {
        Sweeps {
            state: SweepState::new(),
            schedule: Schedule::new(matrix),
            scratch: Scratch::new(),
        }
    }

    /// Runs one sweep over `aligned` (and `v`, which takes the same rotations) and returns its
    /// verdict. The certificate is withheld where the columns' norms are too far apart for it
    /// (see [`SweepState::norms_within_one_over_epsilon`]).
    #[inline(always)]
    pub(super) fn sweep(
        &mut self,
        aligned: &mut CacheAligned<SMatrix<T, D, D>>,
        mut v: Option<&mut SMatrix<T, D, D>>,
        thresholds: &Thresholds<T>,
    ) -> SweepVerdict<T> {
        let Sweeps { state, schedule, scratch } = self;
        state.start_sweep(&aligned.0);
        let mut verdict = SweepVerdict::new(thresholds);
        verdict.certificate.holds &= state.norms_within_one_over_epsilon(thresholds);
        let mut context = RoundContext { state, thresholds, verdict: &mut verdict, scratch };
        // A sweep either moves the columns in every round or in none: one loop for each, so that
        // no round tests which, and one call site for each round function, inlined here.
        if schedule.moves_columns() {
            for round in 0..schedule.rounds() {
                if let Round::Moving { first, first_of_sweep } = schedule.round(round) {
                    let v = v.as_deref_mut();
                    rotate_round_moving(aligned, v, first, first_of_sweep, &mut context);
                }
            }
        } else {
            for round in 0..schedule.rounds() {
                if let Round::InPlace { positions, first } = schedule.round(round) {
                    let v = v.as_deref_mut();
                    rotate_round_in_place(aligned, v, positions, first, &mut context);
                }
            }
        }
        verdict
    }

    /// After a sweep that did not converge: folds the scales that got small into their columns,
    /// every scale if steps take over next (they rotate the actual columns), and lets the
    /// schedule decide whether the columns keep moving.
    #[inline(always)]
    pub(super) fn after_sweep(
        &mut self,
        work: &mut SMatrix<T, D, D>,
        v: Option<&mut SMatrix<T, D, D>>,
        verdict: &SweepVerdict<T>,
    ) {
        let threshold = if verdict.steps_may_take_over() {
            T::MAX
        } else {
            T::from_f64_rounded(SMALLEST_KEPT_SCALE)
        };
        self.state.fold_scales(work, v, threshold);
        self.schedule.after_sweep(verdict.next_sweep_mostly_idle::<D>());
    }
}

/// What a round works with besides the columns and its positions.
struct RoundContext<'a, T, const D: usize> {
    /// The columns' scales and squared norms.
    state: &'a mut SweepState<T, D>,
    /// The rotation test.
    thresholds: &'a Thresholds<T>,
    /// The sweep's record of its rotations.
    verdict: &'a mut SweepVerdict<T>,
    /// The round's buffers.
    scratch: &'a mut Scratch<T, D>,
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
/// sweep, because in practice a sweep shrinks the scales far less (docs/PERFORMANCE.md,
/// "Rotations and rounds").
#[derive(Clone)]
pub(super) struct SweepState<T, const D: usize> {
    /// Per column: (‖aⱼ‖², eⱼ = dⱼ²), the norm following α ← α − tγ, β ← β + tγ within a sweep.
    pub(super) columns: [(T, T); D],
}

impl<T: Real, const D: usize> SweepState<T, D> {
    pub(super) fn new() -> Self {
        SweepState { columns: [(T::ZERO, T::ONE); D] }
    }

    /// Fresh squared norms ‖aⱼ‖² = eⱼ·‖xⱼ‖².
    #[inline(always)]
    pub(super) fn start_sweep(&mut self, work: &SMatrix<T, D, D>) {
        for ((norm, squared_scale), column) in self.columns.iter_mut().zip(work.data.0.iter()) {
            *norm = *squared_scale * dot(column, column);
        }
    }

    /// Whether the squared norms of the columns that are not negligible lie within a factor
    /// 1/ε of each other. Where they do not, the tail certificate is not trusted: the fuzzer
    /// found it accepting cosines far above tol between ordinary columns of matrices whose norms
    /// spanned more than that (docs/FUZZING.md); why the bound fails there is not known yet. It
    /// costs such inputs one more sweep, and nothing where the norms are within 1/ε of each
    /// other.
    pub(super) fn norms_within_one_over_epsilon(&self, thresholds: &Thresholds<T>) -> bool {
        let norms = self.columns.iter().map(|&(norm, _)| norm);
        let largest = norms.clone().fold(T::ZERO, |m, x| if x > m { x } else { m });
        let kept = norms.filter(|&x| x >= thresholds.negligible_square);
        let smallest = kept.fold(largest, |m, x| if x < m { x } else { m });
        largest * T::EPSILON <= smallest
    }

    /// aⱼ = √eⱼ·xⱼ stored back into the columns (of V too) and eⱼ reset to one, for every
    /// squared scale below `threshold`.
    pub(super) fn fold_scales(
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

/// The buffers of the round functions, made once per decomposition rather than once per round:
/// the inner product of each pair of a round, then its rotation if it needs one (a round has at
/// most ⌊D/2⌋ pairs).
#[derive(Clone)]
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
/// swapped at no extra cost. With the positions fixed the compiler knows every address; the
/// price is copying the pairs that need no rotation.
///
/// The round runs in phases (all rotations' parameters, then all rotations), which are
/// independent across pairs: the square roots and divisions of different pairs overlap instead
/// of waiting on each other. The inner products
/// ξ of the round's pairs are in `scratch`: computed here for the first round of a sweep
/// (`first_of_sweep`), left there by the previous round otherwise: once rotated, each pair's
/// first slot meets the column before the pair in the next round, and that inner product is
/// summed while the rotated entries are still in registers (see [`rotate_and_swap`]), which saves
/// loading both columns again. Every rotation is recorded in the sweep's verdict. Measurements:
/// docs/PERFORMANCE.md, "Rotations and rounds".
#[inline(always)]
fn rotate_round_moving<T: Real, const D: usize>(
    work: &mut CacheAligned<SMatrix<T, D, D>>,
    v: Option<&mut SMatrix<T, D, D>>,
    first: usize,
    first_of_sweep: bool,
    context: &mut RoundContext<'_, T, D>,
) {
    let RoundContext { state, thresholds, verdict, scratch } = context;
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
                verdict.record((alpha, beta), rotation);
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
#[inline(always)]
fn rotate_round_in_place<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    mut v: Option<&mut SMatrix<T, D, D>>,
    positions: &mut [usize; D],
    first: usize,
    context: &mut RoundContext<'_, T, D>,
) {
    let RoundContext { state, thresholds, verdict, scratch } = context;
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
        verdict.record((state_p.0, state_q.0), rotation);
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

/// (‖a‖², e) of a column after a rotation, from (‖a‖², e) before it: the squared scale times
/// c², the norm plus `change` (∓tγ), where a norm that lost more than three quarters (where
/// that update cancels) is recomputed from the rotated `column` instead.
#[cfg_attr(not(target_os = "none"), inline(always))]
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

#[cfg(test)]
mod tests {
    use super::{
        CacheAligned, RoundContext, Scratch, SweepState, SweepVerdict, Thresholds,
        rotate_round_in_place, rotate_round_moving,
    };
    use nalgebra::SMatrix;

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
        let mut verdict = SweepVerdict::new(&thresholds);
        for rounds in [D, 3] {
            state_moving.start_sweep(&moving.0);
            state_in_place.start_sweep(&in_place.0);
            for round in 0..rounds {
                let mut context = RoundContext {
                    state: &mut state_moving,
                    thresholds: &thresholds,
                    verdict: &mut verdict,
                    scratch: &mut scratch_moving,
                };
                let v = Some(&mut v_moving);
                rotate_round_moving(&mut moving, v, round % 2, round == 0, &mut context);
                let mut context = RoundContext {
                    state: &mut state_in_place,
                    thresholds: &thresholds,
                    verdict: &mut verdict,
                    scratch: &mut scratch_in_place,
                };
                let v = Some(&mut v_in_place);
                rotate_round_in_place(&mut in_place, v, &mut positions, round % 2, &mut context);
            }
        }
        assert!(!verdict.converged::<D>());
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
}
