//! Warm-started finishes: what one OMT finish learned about L, kept to start the next one when
//! L has moved only a little, as it does between steps of an optimizer.
//!
//! # Math
//! A finish decomposes L = U·S·Wᵀ by one-sided Jacobi rotations of L's columns, from scratch:
//! 2 sweeps and 3 simultaneous steps at D = 8, 5 sweeps at D = 32 (see [`crate::linalg::svd`]).
//! With W′ the right singular vectors of an earlier L′ near L, the columns of L·W′ are already
//! nearly orthogonal, and L·W′ has the same left singular vectors U and singular values S as L
//! (W′ is orthogonal), so its decomposition starts with simultaneous steps, which converge
//! quadratically: one Gram matrix and one round of rotations each. The finish then computes
//! W = Lᵀ·U·S⁻¹ from the current L, as a cold one does, so the gradient is the gradient of the
//! current L; W′ only decides where the iteration starts.
//!
//! # Trust
//! W′ is orthogonal to about κ̂′·u (κ̂′ = s_max/s_min of L′), so L·W′ is L·Q·(I + E) with ‖E‖
//! of that order and Q orthogonal, which perturbs the gradient by about as much as the cold
//! finish's own rounding, O(κ̂·u), as long as κ̂′ is not much larger than κ̂. A warm finish
//! therefore certifies κ̂′ ≤ 2·κ̂, and passes every check a cold one does (the Jacobi
//! convergence certificate, κ̂·u < [`KAPPA_U_LIMIT`](crate::omt::KAPPA_U_LIMIT) and
//! ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u)); where any of them fails, the finish is redone cold, and only the
//! cold finish's error is returned. Every result is within the accuracy bound of
//! [`OmtMvn::vjp`](crate::OmtMvn::vjp), warm or cold (tested against the 50-digit references,
//! with W′ from a perturbed L).
//!
//! # Example
//! ```
//! use omt_mvn::{nalgebra::{Matrix3, Vector3}, warm::WarmStart, OmtMvn};
//! let mut warm = WarmStart::new();
//! let mut scale_tril = Matrix3::new(2.0, 0.0, 0.0, 0.5, 1.0, 0.0, -0.3, 0.2, 0.7);
//! for step in 0..3 {
//!     let mvn = OmtMvn::new(Vector3::zeros(), scale_tril)?;
//!     let sample = mvn.reparameterize(Vector3::new(0.3, -1.0, 0.5));
//!     let mut accumulator = mvn.vjp_accumulator();
//!     accumulator.push(&sample, &sample.value);
//!     let cold = accumulator.finish()?;
//!     let grads = accumulator.finish_warm(&mut warm)?;
//!     assert_eq!(warm.last_finish_was_warm(), step > 0); // the first has nothing to start from
//!     assert!((grads.scale_tril - cold.scale_tril).abs().max() < 1e-14);
//!     scale_tril -= grads.scale_tril.lower_triangle() * 0.01; // a small optimizer step
//! }
//! # Ok::<(), omt_mvn::Error>(())
//! ```

use crate::Real;
use nalgebra::SMatrix;

/// What the last finish learned about its L: its right singular vectors W and κ̂, for
/// [`VjpAccumulator::finish_warm`](crate::VjpAccumulator::finish_warm). Empty at first; every
/// successful finish through it fills it, and a failed one leaves it as it was.
///
/// It is an optimization only: a warm finish returns the same gradient as a cold one up to
/// rounding, within the same bound. With `serde` it serializes only its statistics; a
/// deserialized one is empty and its next finish runs cold.
///
/// # Example
/// ```
/// use omt_mvn::warm::WarmStart;
/// let warm = WarmStart::<f64, 4>::new();
/// assert!(!warm.is_filled());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WarmStart<T: Real, const D: usize> {
    // Not serialized: a deserialized warm start is empty, so that no W that did not come from
    // this crate's own finish (orthogonal to κ̂·u) ever preconditions one.
    #[cfg_attr(feature = "serde", serde(skip, default = "SMatrix::zeros"))]
    right_singular_vectors: SMatrix<T, D, D>,
    /// κ̂ of the L that W belongs to; zero while empty, negated while suspended.
    #[cfg_attr(feature = "serde", serde(skip))]
    kappa: T,
    last_was_warm: bool,
    last_sweeps: u8,
}

impl<T: Real, const D: usize> Default for WarmStart<T, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real, const D: usize> WarmStart<T, D> {
    /// An empty warm start: the next finish through it runs cold and fills it.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::warm::WarmStart;
    /// assert!(!WarmStart::<f32, 2>::new().last_finish_was_warm());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        WarmStart {
            right_singular_vectors: SMatrix::zeros(),
            kappa: T::ZERO,
            last_was_warm: false,
            last_sweeps: 0,
        }
    }

    /// Whether a finish has filled it.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, warm::WarmStart, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 2.0))?;
    /// let mut accumulator = mvn.vjp_accumulator();
    /// accumulator.push(&mvn.reparameterize(Vector2::new(1.0, 0.5)), &Vector2::new(0.2, -0.1));
    /// let mut warm = WarmStart::new();
    /// accumulator.finish_warm(&mut warm)?;
    /// assert!(warm.is_filled());
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn is_filled(&self) -> bool {
        self.kappa > T::ZERO
    }

    /// Whether the last finish through it started warm and certified (false after a cold
    /// restart).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::warm::WarmStart;
    /// assert!(!WarmStart::<f64, 3>::new().last_finish_was_warm());
    /// ```
    #[must_use]
    pub fn last_finish_was_warm(&self) -> bool {
        self.last_was_warm
    }

    /// The Jacobi sweeps the last finish through it took, each simultaneous step counted as one
    /// (as [`LeftSvd::sweeps`](crate::linalg::LeftSvd::sweeps) counts them).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::warm::WarmStart;
    /// assert_eq!(WarmStart::<f64, 3>::new().last_sweeps(), 0);
    /// ```
    #[must_use]
    pub fn last_sweeps(&self) -> usize {
        usize::from(self.last_sweeps)
    }

    /// Empties it, so that the next finish runs cold (after a jump in L, say).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::warm::WarmStart;
    /// let mut warm = WarmStart::<f64, 3>::new();
    /// warm.clear();
    /// assert!(!warm.is_filled());
    /// ```
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// (W, κ̂) to precondition the next finish, if filled.
    pub(crate) fn preconditioner(&self) -> Option<(&SMatrix<T, D, D>, T)> {
        self.is_filled().then_some((&self.right_singular_vectors, self.kappa))
    }

    /// Keeps W (given as Wᵀ, the form the finish ends with), κ̂, and whether the finish started
    /// warm and how many sweeps it took, once it has succeeded.
    pub(crate) fn learn(
        &mut self,
        right_transposed: &SMatrix<T, D, D>,
        kappa: T,
        (warm, sweeps): (bool, usize),
    ) {
        self.right_singular_vectors = right_transposed.transpose();
        self.kappa = kappa;
        self.last_was_warm = warm;
        self.last_sweeps = u8::try_from(sweeps).unwrap_or(u8::MAX);
    }

    /// Switches W off for one finish (the cold restart after a warm finish that did not
    /// certify), keeping it: a successful finish replaces it, [`resume_preconditioner`] restores
    /// it after a failed one.
    ///
    /// [`resume_preconditioner`]: Self::resume_preconditioner
    pub(crate) fn suspend_preconditioner(&mut self) {
        self.kappa = -self.kappa;
    }

    /// Undoes [`suspend_preconditioner`](Self::suspend_preconditioner).
    pub(crate) fn resume_preconditioner(&mut self) {
        self.kappa = -self.kappa;
    }
}
