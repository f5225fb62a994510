//! The backward passes: OMT and plain-reparameterization gradients, batched and streaming.
//!
//! Both estimators return ∂ℓ/∂loc = Σⱼ gⱼ. For `scale_tril`, the plain reparameterization
//! estimator returns tril(A) with A = Σⱼ gⱼ·εⱼᵀ; the OMT estimator returns tril(2·X·L) where X
//! solves X·Σ + Σ·X = ½(L·Aᵀ + A·Lᵀ) (see [`crate::omt`] for the math and its evaluation). Both
//! are unbiased for ∇E\[f(x)\] when gⱼ = ∇f(xⱼ); OMT has lower variance.
//!
//! Because everything depends on the samples only through A and Σⱼ gⱼ, the
//! [`VjpAccumulator`] keeps O(D²) state whatever the number of samples: each
//! [`push`](VjpAccumulator::push) costs D² + D multiply-adds, one [`finish`](VjpAccumulator::finish)
//! costs O(D³). Inputs are validated lazily: a non-finite noise or gradient makes A non-finite,
//! which `finish` reports as [`Error::NonFiniteBatch`].

use crate::batch::{BatchSums, Pending};
pub use crate::grads::Grads;
use crate::linalg::all_finite;
use crate::warm::WarmStart;
use crate::{Error, OmtMvn, Real, Sample};
use nalgebra::{SMatrix, SVector};

/// Streaming state of an OMT backward pass: Σⱼ gⱼ and A = Σⱼ gⱼ·εⱼᵀ, plus the `scale_tril`
/// they belong to.
///
/// Accumulators of the same distribution can be [`merge`](Self::merge)d, so a batch can be split
/// across threads, processes or machines, one accumulator per shard, and finished once.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
/// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 2.0))?;
/// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
/// let (mut left, mut right) = (mvn.vjp_accumulator(), mvn.vjp_accumulator());
/// for k in 0..1000 {
///     let sample = mvn.rsample(&mut rng);
///     let grad_value = sample.value; // loss = ½‖x‖²
///     if k % 2 == 0 { left.push(&sample, &grad_value) } else { right.push(&sample, &grad_value) }
/// }
/// left.merge(&right);
/// let grads = left.finish()?;
/// assert_eq!(grads.scale_tril[(0, 1)], 0.0);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(into = "AccumulatorForm<T, D>", from = "AccumulatorForm<T, D>")
)]
pub struct VjpAccumulator<T: Real, const D: usize> {
    scale_tril: SMatrix<T, D, D>,
    sums: BatchSums<T, D>,
    /// From D = 8 on, pushed samples wait here in small blocks for the blocked kernel.
    pending: Pending<T, D>,
    mismatched: bool,
}

/// Two accumulators are equal when they would finish alike: the same distribution, the same
/// sums with every pending sample added, the same record of a length mismatch. Where a sample
/// waits (in a block, or already in the sums) is not part of an accumulator's value.
impl<T: Real, const D: usize> PartialEq for VjpAccumulator<T, D> {
    fn eq(&self, other: &Self) -> bool {
        self.scale_tril == other.scale_tril
            && self.mismatched == other.mismatched
            && self.pending.flushed(&self.sums) == other.pending.flushed(&other.sums)
    }
}

/// An accumulator's serde form: its pending samples added to the sums, so that the form is the
/// same on every target, whatever the length of its blocks ([`PENDING`](crate::batch)).
#[cfg(feature = "serde")]
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct AccumulatorForm<T: Real, const D: usize> {
    scale_tril: SMatrix<T, D, D>,
    sums: BatchSums<T, D>,
    mismatched: bool,
}

#[cfg(feature = "serde")]
impl<T: Real, const D: usize> From<VjpAccumulator<T, D>> for AccumulatorForm<T, D> {
    fn from(accumulator: VjpAccumulator<T, D>) -> Self {
        let VjpAccumulator { scale_tril, sums, pending, mismatched } = accumulator;
        AccumulatorForm { scale_tril, sums: pending.flushed(&sums), mismatched }
    }
}

#[cfg(feature = "serde")]
impl<T: Real, const D: usize> From<AccumulatorForm<T, D>> for VjpAccumulator<T, D> {
    fn from(form: AccumulatorForm<T, D>) -> Self {
        let AccumulatorForm { scale_tril, sums, mismatched } = form;
        VjpAccumulator { scale_tril, sums, pending: Pending::new(), mismatched }
    }
}

impl<T: Real, const D: usize> VjpAccumulator<T, D> {
    /// Adds one sample and its upstream gradient gⱼ = ∂ℓ/∂xⱼ: D² + D multiply-adds, no checks
    /// (a non-finite input is reported by [`finish`](Self::finish)). From D = 8 on the sample
    /// waits in a block of a few, added to A together by the blocked kernel [`OmtMvn::vjp`]
    /// uses; the sums, and so the bits, are those of one sample at a time.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// let sample = mvn.reparameterize(Vector2::new(0.3, -1.0));
    /// let mut accumulator = mvn.vjp_accumulator();
    /// accumulator.push(&sample, &Vector2::new(1.0, 0.0));
    /// assert_eq!(accumulator.finish()?.loc, Vector2::new(1.0, 0.0)); // ∂ℓ/∂loc = Σ g
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn push(&mut self, sample: &Sample<T, D>, grad_value: &SVector<T, D>) {
        if D < 8 {
            // The whole of A is a few registers' worth: one sample at a time is as fast.
            self.sums.push(&sample.noise, grad_value);
        } else {
            self.pending.push(&mut self.sums, &sample.noise, grad_value);
        }
    }

    /// Adds a batch held as noise vectors εⱼ and upstream gradients gⱼ (no [`Sample`]s needed):
    /// the same sums, in the same order and to the same bits, as one [`push`](Self::push) per
    /// pair, through the blocked kernel [`OmtMvn::vjp`] uses.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the slices differ in length (nothing is added).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// let noise = [Vector2::new(0.3, -1.0), Vector2::new(1.2, 0.4)];
    /// let grad_values = [Vector2::new(1.0, 0.0), Vector2::new(-0.5, 2.0)];
    /// let mut accumulator = mvn.vjp_accumulator();
    /// accumulator.push_batch(&noise, &grad_values)?;
    /// let samples = noise.map(|e| mvn.reparameterize(e));
    /// assert_eq!(accumulator.finish()?, mvn.vjp(&samples, &grad_values)?);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn push_batch(
        &mut self,
        noise: &[SVector<T, D>],
        grad_values: &[SVector<T, D>],
    ) -> Result<(), Error> {
        check_lengths(noise, grad_values)?;
        self.pending.flush_into(&mut self.sums);
        self.sums.push_batch(noise, grad_values);
        Ok(())
    }

    /// Folds in another accumulator of the same distribution (its sums are added to these).
    ///
    /// If `other` belongs to a different `scale_tril`, the mismatch is remembered and
    /// [`finish`](Self::finish) returns [`Error::AccumulatorMismatch`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Error, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// let other = OmtMvn::new(Vector2::zeros(), Matrix2::identity())?;
    /// let mut shard = mvn.vjp_accumulator();
    /// shard.merge(&mvn.vjp_accumulator()); // same distribution: fine
    /// shard.merge(&other.vjp_accumulator()); // another one: remembered
    /// assert_eq!(shard.finish(), Err(Error::AccumulatorMismatch));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn merge(&mut self, other: &Self) {
        self.mismatched |= other.mismatched || other.scale_tril != self.scale_tril;
        self.pending.flush_into(&mut self.sums);
        self.sums.merge(&other.pending.flushed(&other.sums));
    }

    /// The OMT gradients of everything pushed so far (zero for an empty batch).
    ///
    /// # Errors
    /// [`Error::AccumulatorMismatch`] after merging a foreign accumulator,
    /// [`Error::NonFiniteBatch`] if a pushed noise or gradient was not finite (or their products
    /// overflowed), [`Error::IllConditioned`] where κ(L)·u reaches
    /// [`KAPPA_U_LIMIT`](crate::omt::KAPPA_U_LIMIT) (see [`OmtMvn::vjp`]), [`Error::Overflow`]
    /// or an SVD error from the finish (see [`crate::omt`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Error, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// assert_eq!(mvn.vjp_accumulator().finish()?.scale_tril, Matrix2::zeros()); // empty batch
    /// let mut accumulator = mvn.vjp_accumulator();
    /// let sample = mvn.reparameterize(Vector2::new(0.3, f64::NAN));
    /// accumulator.push(&sample, &Vector2::new(1.0, 1.0));
    /// assert_eq!(accumulator.finish(), Err(Error::NonFiniteBatch));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn finish(mut self) -> Result<Grads<T, D>, Error> {
        if self.mismatched {
            return Err(Error::AccumulatorMismatch);
        }
        self.pending.flush_into(&mut self.sums);
        self.sums.gradients(&self.scale_tril, None)
    }

    /// [`finish`](Self::finish), started from what an earlier finish through `warm` learned:
    /// the same gradient up to rounding, within the same bound, in fewer Jacobi iterations when
    /// L has moved little since (see [`crate::warm`]). A warm start that does not certify is
    /// redone cold. On success `warm` learns this finish's L; on an error it is left as it was.
    ///
    /// # Errors
    /// As [`finish`](Self::finish).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, warm::WarmStart, OmtMvn};
    /// let mut warm = WarmStart::new();
    /// for scale in [1.0, 1.01] {
    ///     let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(scale, 0.0, 0.5, 2.0))?;
    ///     let mut accumulator = mvn.vjp_accumulator();
    ///     accumulator.push(&mvn.reparameterize(Vector2::new(1.0, 0.5)), &Vector2::new(0.2, -0.1));
    ///     let grads = accumulator.finish_warm(&mut warm)?;
    ///     assert!((grads.scale_tril - accumulator.finish()?.scale_tril).abs().max() < 1e-15);
    /// }
    /// assert!(warm.last_finish_was_warm());
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn finish_warm(&self, warm: &mut WarmStart<T, D>) -> Result<Grads<T, D>, Error> {
        if self.mismatched {
            return Err(Error::AccumulatorMismatch);
        }
        // The finish writes `warm` only once it has succeeded, so a failed attempt leaves it
        // as it was; the cold retry is the same call with the preconditioner switched off (one
        // call site, so that the finish is not inlined twice into this frame: stack on a
        // Cortex-M0).
        let sums = self.pending.flushed(&self.sums);
        let was_filled = warm.is_filled();
        loop {
            match sums.gradients(&self.scale_tril, Some(warm)) {
                Ok(grads) => return Ok(grads),
                Err(_) if warm.is_filled() => warm.suspend_preconditioner(),
                Err(error) => {
                    if was_filled {
                        warm.resume_preconditioner();
                    }
                    return Err(error);
                }
            }
        }
    }

    /// The plain reparameterization gradients of everything pushed so far: `loc`: Σⱼ gⱼ,
    /// `scale_tril`: tril(A), the same bits as [`OmtMvn::reparam_vjp`] over the same samples.
    /// No decomposition, so no error from L's conditioning.
    ///
    /// # Errors
    /// [`Error::AccumulatorMismatch`] after merging a foreign accumulator,
    /// [`Error::NonFiniteBatch`] if a pushed noise or gradient was not finite.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// let sample = mvn.reparameterize(Vector2::new(2.0, 3.0));
    /// let mut accumulator = mvn.vjp_accumulator();
    /// accumulator.push(&sample, &Vector2::new(1.0, 1.0));
    /// assert_eq!(accumulator.finish_reparam()?, mvn.reparam_vjp(&[sample], &[Vector2::new(1.0, 1.0)])?);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn finish_reparam(mut self) -> Result<Grads<T, D>, Error> {
        if self.mismatched {
            return Err(Error::AccumulatorMismatch);
        }
        self.pending.flush_into(&mut self.sums);
        let BatchSums { loc_grad, outer_sum, .. } = self.sums;
        let scale_tril = outer_sum.lower_triangle();
        if !all_finite(loc_grad.as_slice()) || !all_finite(scale_tril.as_slice()) {
            return Err(Error::NonFiniteBatch);
        }
        Ok(Grads { loc: loc_grad, scale_tril })
    }
}

impl<T: Real, const D: usize> OmtMvn<T, D> {
    /// The OMT estimator: gradients of a loss ℓ with respect to `loc` and `scale_tril`, given
    /// the samples and `grad_values[j]` = ∂ℓ/∂`samples[j].value`.
    ///
    /// Equal to pushing every pair into [`vjp_accumulator`](Self::vjp_accumulator) and finishing.
    /// Cost: n·(D² + D) multiply-adds plus one O(D³) finish.
    ///
    /// # Accuracy and the ill-conditioned case
    /// A returned `scale_tril` gradient G is finite, lower-triangular and obeys
    /// ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u), A = Σⱼ gⱼ·εⱼᵀ, u the unit roundoff: a bound every exact OMT
    /// gradient obeys, checked on every result; where A's products underflow, up to D² smallest
    /// subnormals of absolute rounding, as every floating-point result there. Its error is
    /// within 8·D·κ(L)·u of the exact gradient's scale (tested against 50-digit references). Where κ(L)·u reaches
    /// [`KAPPA_U_LIMIT`](crate::omt::KAPPA_U_LIMIT) = 10⁻² (κ(L) ≥ 9.0·10¹³ in `f64`,
    /// ≥ 1.7·10⁵ in `f32`; κ estimated from the SVD of L), at most one digit would be left, and
    /// `vjp` returns [`Error::IllConditioned`] instead of a gradient: it never returns one with
    /// no correct digit. [`reparam_vjp`](Self::reparam_vjp) is exact for every L and is the
    /// fallback (unbiased, with more variance); or compute in `f64`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the slices differ in length; otherwise as
    /// [`VjpAccumulator::finish`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix3, Vector3}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector3::zeros(), Matrix3::identity() * 2.0)?;
    /// let sample = mvn.reparameterize(Vector3::new(0.5, -1.0, 0.25));
    /// let grads = mvn.vjp(&[sample], &[Vector3::repeat(1.0)])?; // loss = sum(x)
    /// assert_eq!(grads.loc, Vector3::repeat(1.0));
    /// assert_eq!(grads.scale_tril.upper_triangle(), Matrix3::from_diagonal(&grads.scale_tril.diagonal()));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn vjp(
        &self,
        samples: &[Sample<T, D>],
        grad_values: &[SVector<T, D>],
    ) -> Result<Grads<T, D>, Error> {
        check_lengths(samples, grad_values)?;
        let mut sums = BatchSums::new();
        sums.push_batch(samples, grad_values);
        sums.gradients(self.scale_tril(), None)
    }

    /// The plain reparameterization estimator, with the same contract as [`vjp`](Self::vjp):
    /// `loc`: Σⱼ gⱼ, `scale_tril`: tril(Σⱼ gⱼ·εⱼᵀ). Only the lower triangle is accumulated.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the slices differ in length, [`Error::NonFiniteBatch`] if a
    /// noise or gradient entry is not finite.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// let sample = mvn.reparameterize(Vector2::new(2.0, 3.0));
    /// let grads = mvn.reparam_vjp(&[sample], &[Vector2::new(1.0, 1.0)])?;
    /// assert_eq!(grads.scale_tril, Matrix2::new(2.0, 0.0, 2.0, 3.0)); // tril(g·εᵀ)
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn reparam_vjp(
        &self,
        samples: &[Sample<T, D>],
        grad_values: &[SVector<T, D>],
    ) -> Result<Grads<T, D>, Error> {
        check_lengths(samples, grad_values)?;
        let mut loc = SVector::<T, D>::zeros();
        let mut scale_tril = SMatrix::<T, D, D>::zeros();
        for (sample, grad_value) in samples.iter().zip(grad_values) {
            let grad = grad_value.as_slice();
            for (sum, &g) in loc.as_mut_slice().iter_mut().zip(grad) {
                *sum += g;
            }
            for (col, (column, &noise)) in
                scale_tril.data.0.iter_mut().zip(sample.noise.as_slice()).enumerate()
            {
                let (Some(lower), Some(grad_lower)) = (column.get_mut(col..), grad.get(col..))
                else {
                    continue;
                };
                for (entry, &g) in lower.iter_mut().zip(grad_lower) {
                    *entry += g * noise;
                }
            }
        }
        // Every gradient entry reaches `loc` and every noise entry reaches row D − 1 of tril(A)
        // (as ∞ or as NaN = ∞·0), so checking the sums checks the inputs.
        if !all_finite(loc.as_slice()) || !all_finite(scale_tril.as_slice()) {
            return Err(Error::NonFiniteBatch);
        }
        Ok(Grads { loc, scale_tril })
    }

    /// A streaming OMT backward pass for this distribution: O(D²) memory for any batch size.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 1.0))?;
    /// let samples = [Vector2::new(0.3, -1.0), Vector2::new(1.2, 0.4)].map(|e| mvn.reparameterize(e));
    /// let grad_values = samples.map(|s| s.value);
    /// let mut accumulator = mvn.vjp_accumulator();
    /// for (sample, grad_value) in samples.iter().zip(&grad_values) {
    ///     accumulator.push(sample, grad_value);
    /// }
    /// assert_eq!(accumulator.finish()?, mvn.vjp(&samples, &grad_values)?);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn vjp_accumulator(&self) -> VjpAccumulator<T, D> {
        VjpAccumulator {
            scale_tril: *self.scale_tril(),
            sums: BatchSums::new(),
            pending: Pending::new(),
            mismatched: false,
        }
    }
}

/// [`Error::LengthMismatch`] unless there is one upstream gradient per sample (or noise vector).
fn check_lengths<S, G>(samples: &[S], grad_values: &[G]) -> Result<(), Error> {
    if samples.len() == grad_values.len() {
        Ok(())
    } else {
        Err(Error::LengthMismatch { samples: samples.len(), grad_values: grad_values.len() })
    }
}
