//! Every tuning constant of the SVD, in one place, each with the reason for its value.
//!
//! None of these changes what the decomposition converges to, only how it gets there: which
//! ordering a sweep uses, when the columns stop moving, when simultaneous steps take over and
//! how long a scale stays out of its column. The measurements behind each value are in the
//! repository's `docs/PERFORMANCE.md`, section "The SVD's tuning".

/// Below this D (and from D = 3 on) sweeps use the round-robin ordering, whose sweeps need one
/// round fewer; from it on, the odd–even ordering, whose fixed positions let the columns move.
/// At small D a round is bound by the latency of its chain (inner product → square root →
/// division → rotation), not by its work, so the extra round costs more than moving saves.
pub(super) const ROUND_ROBIN_BELOW: usize = 8;

/// A squared scale below this (2⁻⁸) is folded into its column at the end of a sweep (see
/// [`SweepState`](super::sweep::SweepState)). It costs the stored columns at most a factor 2⁴
/// of headroom against overflow and the products of two squared scales a factor 2⁻¹⁶ against
/// underflow, on top of a sweep's own worst case, and spares most sweeps the D square roots
/// and D² multiplications of folding every scale.
pub(super) const SMALLEST_KEPT_SCALE: f64 = 1.0 / 256.0;

/// Up to this D, a sweep whose rotations all had cosines below 0.1
/// ([`EARLY_STEP_COSINE_SQUARED`]) hands over to simultaneous steps; above it, only a sweep
/// below 10⁻³ ([`LATE_STEP_COSINE_SQUARED`]), so that the step is usually the last. A sweep at
/// small D is bound by the latency of its chain of square roots and divisions, which a step
/// does not have; at larger D a sweep is bound by its work, and a step has costs a sweep does
/// not (folding the scales in, a lane for every pair, exactly orthogonal rotations).
pub(super) const LARGEST_EARLY_STEPPING_DIMENSION: usize = 16;

/// The square of the largest cosine a sweep may have rotated for steps to take over after it,
/// up to [`LARGEST_EARLY_STEPPING_DIMENSION`]: steps then start far enough from convergence to
/// replace sweeps, not just the last one.
pub(super) const EARLY_STEP_COSINE_SQUARED: f64 = 1e-2;

/// The same above [`LARGEST_EARLY_STEPPING_DIMENSION`]: close enough to convergence that one
/// step usually ends it.
pub(super) const LATE_STEP_COSINE_SQUARED: f64 = 1e-6;

/// Rotations with cosines above this (2⁻²⁰), squared, mean the sweep is not in the quadratic
/// tail, where the tail certificate's first-order bound is meant to be used.
pub(super) const TAIL_COSINE_SQUARED: f64 = 1.0 / (1u64 << 40) as f64;

/// From this D on, the OMT finish's cold decompositions start with the pivoted LQ
/// preconditioner ([`precondition`](super::precondition)). It saves one sweep or step of five
/// to nine from D = 16 on, but below D = 32 it costs as much time as that sweep: the
/// reflections' loops are short there. Fuzzing builds (`cfg(fuzzing)`, set by cargo-fuzz)
/// precondition from D = 2 on, so that the fuzzers' small matrices exercise it too.
pub(crate) const PRECONDITION_FROM: usize = if cfg!(fuzzing) { 2 } else { 32 };
