//! The orders in which a sweep visits the pairs of columns: which positions pair up in each
//! round, and where the columns are. A schedule only says where; the rounds of
//! `sweep` rotate.
//!
//! # Orderings
//! A sweep visits every pair once, in rounds of disjoint pairs whose rotations are independent.
//! - The odd–even ordering: D rounds, alternately the adjacent positions (0, 1), (2, 3), … and
//!   (1, 2), (3, 4), …, each pair swapped after its turn. Luk & Park ("On parallel Jacobi
//!   orderings", 1989) show it equivalent to the cyclic-by-rows ordering, so convergence stays
//!   quadratic. Its positions are fixed, so the columns themselves can move: every address is
//!   then known to the compiler (`Round::Moving`). Once few pairs are likely to rotate, a
//!   table of positions moves instead (`Round::InPlace`).
//! - The round-robin (tournament) ordering by the circle method, for 3 ≤ D <
//!   `ROUND_ROBIN_BELOW`: D − 1 rounds of ⌊D/2⌋ pairs for even D (D rounds, one position
//!   sitting out, for odd D), with the columns in place. At small D a round is bound by the
//!   latency of its chain of square root and division, so one round fewer matters more than
//!   moving the columns.

use super::tuning::ROUND_ROBIN_BELOW;
use crate::Real;
use nalgebra::SMatrix;

/// The ordering of one decomposition's sweeps, and its state between rounds.
#[derive(Clone)]
pub(super) enum Schedule<const D: usize> {
    /// The circle method: each round pairs `order[k]` with `order[D − 1 − k]`, laid out in
    /// `positions` as the adjacent positions (0, 1), (2, 3), ….
    RoundRobin { order: [usize; D], positions: [usize; D] },
    /// The odd–even ordering, moving the columns.
    Moving,
    /// The odd–even ordering with the columns in place: `positions` holds the column at each
    /// position.
    InPlace { positions: [usize; D] },
}

/// One round of a sweep: the pairs of adjacent positions (first, first + 1),
/// (first + 2, first + 3), …, each swapped after its turn.
pub(super) enum Round<'a, const D: usize> {
    /// The columns themselves sit at the positions and move. `first_of_sweep`: no earlier round
    /// of this sweep has left the round's inner products behind.
    Moving { first: usize, first_of_sweep: bool },
    /// The columns stay where they are; `positions` holds the column at each position, and the
    /// round swaps its entries as the ordering moves the pairs.
    InPlace { positions: &'a mut [usize; D], first: usize },
}

impl<const D: usize> Schedule<D> {
    /// The schedule for decomposing `matrix`. A diagonal matrix (a common `scale_tril`) has
    /// orthogonal columns, so its one sweep rotates nothing and starts with the columns in
    /// place: moving them would only copy every pair.
    pub(super) fn new<T: Real>(matrix: &SMatrix<T, D, D>) -> Self {
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
    #[inline(always)]
    pub(super) fn rounds(&self) -> usize {
        match self {
            Schedule::RoundRobin { .. } if D.is_multiple_of(2) => D.saturating_sub(1),
            _ => D,
        }
    }

    /// Whether the sweep's rounds move the columns themselves ([`Round::Moving`]) rather than a
    /// table of positions.
    #[inline(always)]
    pub(super) fn moves_columns(&self) -> bool {
        matches!(self, Schedule::Moving)
    }

    /// Round `round` of the sweep (rounds are taken in order, each once per sweep).
    #[inline(always)]
    pub(super) fn round(&mut self, round: usize) -> Round<'_, D> {
        match self {
            Schedule::Moving => Round::Moving { first: round % 2, first_of_sweep: round == 0 },
            Schedule::RoundRobin { order, positions } => {
                *positions = circle_positions(order);
                advance_circle(order);
                Round::InPlace { positions, first: 0 }
            }
            Schedule::InPlace { positions } => Round::InPlace { positions, first: round % 2 },
        }
    }

    /// After a sweep: stops moving the columns once few pairs are likely to rotate in the next
    /// sweep (`next_sweep_mostly_idle`), where leaving them in place is cheaper.
    pub(super) fn after_sweep(&mut self, next_sweep_mostly_idle: bool) {
        if matches!(self, Schedule::Moving) && next_sweep_mostly_idle {
            *self = Schedule::InPlace { positions: core::array::from_fn(|k| k) };
        }
    }
}

/// The pairs of adjacent entries (first, first + 1), (first + 2, first + 3), … of `items`: the
/// pairs of a round, in any array indexed by position.
pub(super) fn adjacent_pairs<X, const D: usize>(items: &mut [X; D], first: usize) -> &mut [[X; 2]] {
    items.get_mut(first..).map_or(&mut [], |rest| rest.as_chunks_mut::<2>().0)
}

/// Whether every entry off the diagonal is zero (stopping at the first that is not).
fn is_diagonal<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>) -> bool {
    matrix.data.0.iter().enumerate().all(|(col, column)| {
        column.iter().enumerate().all(|(row, &entry)| row == col || entry == T::ZERO)
    })
}

/// The pairs (order\[k\], order\[D − 1 − k\]) of a circle-method round laid out as adjacent
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

#[cfg(test)]
mod tests {
    use super::{adjacent_pairs, advance_circle, circle_positions};

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
}
