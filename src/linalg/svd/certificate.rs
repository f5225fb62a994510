//! What a sweep's rotations decide: whether the iteration may stop, whether the columns may stay
//! in place, and whether simultaneous steps may take over. The first rests on the tail
//! certificate.
//!
//! # The tail certificate
//! Rotating the pair (p, q) by an angle with sine s changes the cosine of another pair (p, m)
//! by at most s·(‖a_q‖/‖a_p‖)·|cos(q, m)| (and likewise for q), to first order. Call μ the
//! largest such mixing factor s·‖a_q‖/‖a_p‖ of a sweep's rotations and δ the largest cosine any
//! pair had (at most max(tol, the largest rotated cosine)). A pair is touched by at most
//! 2(D − 2) rotations after its own, so at the end of the sweep every pair's cosine is at most
//!
//! ```text
//! (1 + 2D·μ)·tol + 2D·μ·δ.
//! ```
//!
//! Once that is below 2·tol the columns are orthogonal to working precision and the sweep that
//! would only confirm it (several inner products per pair, no rotation) is skipped. This is the
//! quadratic tail of the iteration, where δ ≈ 10⁻¹¹ and μ is of the same order; earlier sweeps
//! never qualify. (LAPACK's `dgesvj` stops on a similar test.)

use super::rotation::{Rotation, Thresholds};
use super::tuning::TAIL_COSINE_SQUARED;
use crate::Real;

/// A sweep's record of its rotations, and the three decisions it drives:
/// [`converged`](Self::converged), [`next_sweep_mostly_idle`](Self::next_sweep_mostly_idle) and
/// [`steps_may_take_over`](Self::steps_may_take_over).
pub(super) struct SweepVerdict<T> {
    /// Whether any pair was rotated.
    rotated: bool,
    /// How many rotations had a cosine above √tol.
    large_rotations: usize,
    /// Whether every rotation had a cosine below the step threshold of [`Thresholds`].
    small_rotations_only: bool,
    /// tol of the rotation test.
    tolerance: T,
    /// The step threshold's cosine, squared.
    step_cosine_squared: T,
    /// The proof that the columns are orthogonal without another sweep, while it holds.
    pub(super) certificate: TailCertificate<T>,
}

impl<T: Real> SweepVerdict<T> {
    /// The verdict of a sweep that has not rotated yet.
    pub(super) fn new(thresholds: &Thresholds<T>) -> Self {
        SweepVerdict {
            rotated: false,
            large_rotations: 0,
            small_rotations_only: true,
            tolerance: thresholds.tolerance,
            step_cosine_squared: thresholds.step_cosine_squared,
            certificate: TailCertificate::new(thresholds),
        }
    }

    /// Notes a rotation of a pair with squared norms (α, β) before it.
    #[inline(always)]
    pub(super) fn record(&mut self, (alpha, beta): (T, T), rotation: &Rotation<T>) {
        self.rotated = true;
        let product = alpha * beta;
        if rotation.gamma_squared > self.tolerance * product {
            self.large_rotations += 1;
        }
        if rotation.gamma_squared > self.step_cosine_squared * product {
            self.small_rotations_only = false;
        }
        if self.certificate.holds {
            self.certificate.observe((alpha, beta), rotation);
        }
    }

    /// Whether the columns are orthogonal to working precision: the sweep rotated nothing, or
    /// the tail certificate proves that the next sweep would not.
    pub(super) fn converged<const D: usize>(&self) -> bool {
        !self.rotated || self.certificate.proves_convergence::<D>()
    }

    /// Whether at most half of the sweep's pairs were rotated by a cosine above √tol
    /// (3.5·10⁻⁸ for `f64` at D = 32). Convergence is quadratic, so a pair's cosine in the next
    /// sweep is about the square of this one's: only such pairs are likely to need a rotation
    /// (cosine above tol) again, and leaving the columns in place beats moving them once few
    /// pairs rotate (docs/PERFORMANCE.md, "Orderings and moving columns").
    pub(super) fn next_sweep_mostly_idle<const D: usize>(&self) -> bool {
        2 * self.large_rotations <= D * D.saturating_sub(1) / 2
    }

    /// Whether the sweep rotated any pair.
    #[cfg(test)]
    pub(super) fn rotated(&self) -> bool {
        self.rotated
    }

    /// Whether every rotation's cosine was below the step threshold, so that simultaneous steps
    /// may replace the next sweep.
    pub(super) fn steps_may_take_over(&self) -> bool {
        self.small_rotations_only
    }
}

/// The tail certificate (see the module documentation): δ and μ over a sweep's rotations, for
/// as long as every rotation is in the quadratic tail and in the normal range.
pub(super) struct TailCertificate<T> {
    /// Whether every rotation so far had a cosine below 2⁻²⁰ ([`TAIL_COSINE_SQUARED`]), in the
    /// normal range. The caller clears it where the columns' norms are too far apart to trust
    /// the bound.
    pub(super) holds: bool,
    /// δ² over the rotated pairs.
    largest_cosine_squared: T,
    /// μ² over the rotated pairs.
    largest_mixing_squared: T,
    /// The smallest α·β of the normal range (see [`Thresholds`]).
    smallest_accurate_product: T,
    /// tol of the rotation test.
    tolerance: T,
}

impl<T: Real> TailCertificate<T> {
    /// A certificate over no rotations yet.
    pub(super) fn new(thresholds: &Thresholds<T>) -> Self {
        TailCertificate {
            holds: true,
            largest_cosine_squared: T::ZERO,
            largest_mixing_squared: T::ZERO,
            smallest_accurate_product: thresholds.smallest_accurate_product,
            tolerance: thresholds.tolerance,
        }
    }

    /// Records a rotation, in the tail, of a pair with squared norms (α, β) before it. A rotation
    /// outside the normal range (α·β below the smallest accurate product, where γ² and α·β may
    /// have lost bits to underflow) or with a non-finite measure ends the tail: the certificate
    /// only rests on quantities that are accurate.
    pub(super) fn observe(&mut self, (alpha, beta): (T, T), rotation: &Rotation<T>) {
        let product = alpha * beta;
        let cosine_squared = rotation.gamma_squared / product;
        // s²·(‖a_q‖/‖a_p‖)² ≤ t²·β/α' and t²·α/β' with the norms after the rotation.
        let (new_alpha, new_beta) = (alpha - rotation.norm_change, beta + rotation.norm_change);
        let ratio =
            if beta / new_alpha > alpha / new_beta { beta / new_alpha } else { alpha / new_beta };
        // t² = (t·γ)²/γ².
        let tangent_squared = rotation.norm_change * rotation.norm_change / rotation.gamma_squared;
        let mixing_squared = tangent_squared * ratio;
        let trusted = product >= self.smallest_accurate_product
            && cosine_squared.is_finite_value()
            && mixing_squared.is_finite_value()
            && cosine_squared <= T::from_f64_rounded(TAIL_COSINE_SQUARED);
        if !trusted {
            self.holds = false;
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
    pub(super) fn proves_convergence<const D: usize>(&self) -> bool {
        let tolerance = self.tolerance;
        if !self.holds {
            return false;
        }
        let two_d = T::from_count(2 * D);
        let mixing = self.largest_mixing_squared.libm_sqrt();
        let largest_cosine = self.largest_cosine_squared.libm_sqrt();
        let cosine = if largest_cosine > tolerance { largest_cosine } else { tolerance };
        two_d * mixing * (tolerance + cosine) <= tolerance
    }
}

#[cfg(test)]
mod tests {
    use super::{Rotation, TailCertificate, Thresholds};

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
        // tol = √16·ε, the certificate's own.
        let tolerance = 4.0 * f64::EPSILON;
        assert_eq!(Thresholds::<f64>::new::<16>().tolerance, tolerance);
        let certify = |rotations: &[(f64, f64)]| {
            let mut certificate = TailCertificate::new(&Thresholds::<f64>::new::<16>());
            for &(cosine, tangent) in rotations {
                if certificate.holds {
                    certificate.observe((1.0, 1.0), &rotation(cosine, tangent));
                }
            }
            certificate.proves_convergence::<16>()
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
        let thresholds =
            Thresholds { smallest_accurate_product: 1e-300, ..Thresholds::<f64>::new::<16>() };
        let mut certificate = TailCertificate::new(&thresholds);
        certificate.observe((1e-160, 1e-160), &rotation(0.0, 1e-3));
        assert!(!certificate.proves_convergence::<16>());
    }
}
