//! The iteration, as a state machine: sweeping, then stepping, then done.
//!
//! ```text
//!            ┌──────── the sweep did not converge ───────┐
//!            ▼                                           │
//!        Sweeping ── its rotations all small ──▶ Stepping ──▶ Sweeping (a step was refused)
//!            │                                      │  ▲
//!            │ converged                  converged │  └─ contracted
//!            ▼                                      ▼
//!          done                                   done
//! ```
//!
//! Every sweep, and every step, counts as one of the at most `max_sweeps`; past them the
//! decomposition is `Error::SvdNotConverged`, so every input terminates.

use super::certificate::SweepVerdict;
use super::rotation::Thresholds;
use super::step::{StepOutcome, StepRotations, simultaneous_step};
use super::sweep::Sweeps;
use crate::linalg::CacheAligned;
use crate::{Error, Real};
use nalgebra::SMatrix;

/// Where the iteration is.
enum Phase<T> {
    /// The next sweep's [`SweepVerdict`] decides what follows.
    Sweeping,
    /// The last sweep's rotations were all small: steps replace sweeps while each at least
    /// halves the mixing factor μ of the one before (`previous_mixing`, `None` for the first).
    Stepping { previous_mixing: Option<T> },
    /// The columns are orthogonal to working precision.
    Done,
}

/// Rotates the columns of `aligned` (and `v`, which takes the same rotations) until every pair
/// is orthogonal to working precision. Returns the number of sweeps, each step counted as one.
///
/// # Errors
/// [`Error::SvdNotConverged`] after `max_sweeps` sweeps and steps.
// Inlined, like the sweep and its rounds, so that the whole iteration is one function, the shape
// it was tuned in: out of line the phases cost D = 2 a tenth of its time (docs/PERFORMANCE.md,
// "The layout split").
#[inline(always)]
pub(super) fn rotate_to_convergence<T: Real, const D: usize>(
    aligned: &mut CacheAligned<SMatrix<T, D, D>>,
    mut v: Option<&mut SMatrix<T, D, D>>,
    max_sweeps: usize,
) -> Result<usize, Error> {
    let thresholds = Thresholds::new::<D>();
    let mut sweeps = Sweeps::<T, D>::new(&aligned.0);
    // Every step writes all the rows it reads: one buffer for all of them.
    let mut rotations = StepRotations::new();
    let mut phase = Phase::Sweeping;
    for sweep in 1..=max_sweeps {
        if let Phase::Stepping { previous_mixing } = phase {
            let previous = previous_mixing.unwrap_or(T::MAX);
            let work = &mut aligned.0;
            phase = match simultaneous_step(
                work,
                v.as_deref_mut(),
                &mut rotations,
                &thresholds,
                previous,
            ) {
                StepOutcome::Converged => Phase::Done,
                StepOutcome::Contracted(mixing) => {
                    Phase::Stepping { previous_mixing: Some(mixing) }
                }
                StepOutcome::SweepInstead => Phase::Sweeping,
            };
        }
        if let Phase::Sweeping = phase {
            let verdict = sweeps.sweep(aligned, v.as_deref_mut(), &thresholds);
            phase = next_phase::<T, D>(&verdict);
            if let Phase::Done = phase {
                sweeps.state.fold_scales(&mut aligned.0, v.as_deref_mut(), T::ONE);
            } else {
                sweeps.after_sweep(&mut aligned.0, v.as_deref_mut(), &verdict);
            }
        }
        if let Phase::Done = phase {
            return Ok(sweep);
        }
    }
    Err(Error::SvdNotConverged { sweeps: max_sweeps })
}

/// The phase after a sweep with this verdict.
fn next_phase<T: Real, const D: usize>(verdict: &SweepVerdict<T>) -> Phase<T> {
    if verdict.converged::<D>() {
        Phase::Done
    } else if verdict.steps_may_take_over() {
        Phase::Stepping { previous_mixing: None }
    } else {
        Phase::Sweeping
    }
}
