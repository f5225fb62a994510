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

pub use crate::grads::Grads;
use crate::linalg::all_finite;
use crate::linalg::product::{add_outer_product, load_block, store_block};
use crate::omt::omt_scale_tril_grad;
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
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VjpAccumulator<T: Real, const D: usize> {
    scale_tril: SMatrix<T, D, D>,
    sums: BatchSums<T, D>,
    mismatched: bool,
}

/// What an OMT finish needs of the samples: Σⱼ gⱼ, A = Σⱼ gⱼ·εⱼᵀ, and how many were pushed.
/// [`OmtMvn::vjp`] fills one directly, which spares it an accumulator's copy of L: stack on a
/// Cortex-M, and a copy per call.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct BatchSums<T: Real, const D: usize> {
    loc_grad: SVector<T, D>,
    outer_sum: SMatrix<T, D, D>,
    pushed: Pushed<T, D>,
}

/// How many samples an accumulator holds, as far as the finish cares: for exactly one, A = g·εᵀ
/// has rank one and the finish saves two of its four D×D products (a single-sample SVI step,
/// Pyro's default, is the common case). The sample is kept beside A, which is accumulated as
/// always, so that [`VjpAccumulator::merge`] and a second push need no special case.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
enum Pushed<T: Real, const D: usize> {
    Nothing,
    One { noise: SVector<T, D>, grad_value: SVector<T, D> },
    Several,
}

impl<T: Real, const D: usize> Pushed<T, D> {
    /// The state after `count` more samples, the first of which is (`noise`, `grad_value`).
    fn after(self, count: usize, noise: &SVector<T, D>, grad_value: &SVector<T, D>) -> Self {
        match (self, count) {
            (state, 0) => state,
            (Pushed::Nothing, 1) => Pushed::One { noise: *noise, grad_value: *grad_value },
            _ => Pushed::Several,
        }
    }

    /// The state of two accumulators merged.
    fn merged(self, other: Self) -> Self {
        match (self, other) {
            (Pushed::Nothing, state) | (state, Pushed::Nothing) => state,
            _ => Pushed::Several,
        }
    }
}

impl<T: Real, const D: usize> VjpAccumulator<T, D> {
    /// Adds one sample and its upstream gradient gⱼ = ∂ℓ/∂xⱼ: D² + D multiply-adds, no checks
    /// (a non-finite input is reported by [`finish`](Self::finish)).
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
        self.sums.push(sample, grad_value);
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
        self.sums.merge(&other.sums);
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
    pub fn finish(self) -> Result<Grads<T, D>, Error> {
        if self.mismatched {
            return Err(Error::AccumulatorMismatch);
        }
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
        let was_filled = warm.is_filled();
        loop {
            match self.sums.gradients(&self.scale_tril, Some(warm)) {
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
    pub fn finish_reparam(self) -> Result<Grads<T, D>, Error> {
        if self.mismatched {
            return Err(Error::AccumulatorMismatch);
        }
        let BatchSums { loc_grad, outer_sum, .. } = self.sums;
        let scale_tril = outer_sum.lower_triangle();
        if !all_finite(loc_grad.as_slice()) || !all_finite(scale_tril.as_slice()) {
            return Err(Error::NonFiniteBatch);
        }
        Ok(Grads { loc: loc_grad, scale_tril })
    }
}

impl<T: Real, const D: usize> BatchSums<T, D> {
    fn new() -> Self {
        BatchSums {
            loc_grad: SVector::zeros(),
            outer_sum: SMatrix::zeros(),
            pushed: Pushed::Nothing,
        }
    }

    /// See [`VjpAccumulator::push`].
    fn push(&mut self, sample: &Sample<T, D>, grad_value: &SVector<T, D>) {
        self.pushed = self.pushed.after(1, &sample.noise, grad_value);
        add_sample(&mut self.loc_grad, &mut self.outer_sum, sample, grad_value);
    }

    /// Pushes a batch (of equal lengths): the same sums as one [`push`](Self::push) per sample, in
    /// the same order and so to the same bits. From D = 8 on, A is held in registers block by
    /// block; below that the whole of A fits in registers across single pushes, which is faster
    /// (docs/PERFORMANCE.md, "The accumulation and small kernels").
    fn push_batch(&mut self, samples: &[Sample<T, D>], grad_values: &[SVector<T, D>]) {
        if let (Some(sample), Some(grad_value)) = (samples.first(), grad_values.first()) {
            self.pushed = self.pushed.after(samples.len(), &sample.noise, grad_value);
        }
        if D < 8 {
            // Sums in locals, which the compiler keeps in registers across the loop.
            let (mut loc_grad, mut outer_sum) = (self.loc_grad, self.outer_sum);
            for (sample, grad_value) in samples.iter().zip(grad_values) {
                add_sample(&mut loc_grad, &mut outer_sum, sample, grad_value);
            }
            (self.loc_grad, self.outer_sum) = (loc_grad, outer_sum);
            return;
        }
        let [loc_grad] = &mut self.loc_grad.data.0;
        let outer_sum = &mut self.outer_sum;
        for (sample_chunk, grad_chunk) in
            samples.chunks(BATCH_CHUNK).zip(grad_values.chunks(BATCH_CHUNK))
        {
            let chunk = (sample_chunk, grad_chunk);
            if D.is_multiple_of(8) {
                accumulate_blocked::<T, D, 8, 2>(outer_sum, loc_grad, chunk);
            } else if D.is_multiple_of(4) {
                accumulate_blocked::<T, D, 4, 2>(outer_sum, loc_grad, chunk);
            } else if D.is_multiple_of(2) {
                accumulate_blocked::<T, D, 2, 2>(outer_sum, loc_grad, chunk);
            } else {
                accumulate_blocked::<T, D, 1, 1>(outer_sum, loc_grad, chunk);
            }
        }
    }

    /// Adds another batch's sums to these.
    fn merge(&mut self, other: &Self) {
        self.pushed = self.pushed.merged(other.pushed);
        self.loc_grad += other.loc_grad;
        self.outer_sum += other.outer_sum;
    }

    /// The gradients for the distribution with this `scale_tril` (see
    /// [`VjpAccumulator::finish`]).
    fn gradients(
        &self,
        scale_tril: &SMatrix<T, D, D>,
        warm: Option<&mut WarmStart<T, D>>,
    ) -> Result<Grads<T, D>, Error> {
        if !all_finite(self.loc_grad.as_slice()) {
            return Err(Error::NonFiniteBatch);
        }
        let lone_sample = match &self.pushed {
            Pushed::One { noise, grad_value } => Some((noise, grad_value)),
            Pushed::Nothing | Pushed::Several => None,
        };
        let scale_tril = omt_scale_tril_grad(scale_tril, &self.outer_sum, lone_sample, warm)?;
        Ok(Grads { loc: self.loc_grad, scale_tril })
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
        VjpAccumulator { scale_tril: *self.scale_tril(), sums: BatchSums::new(), mismatched: false }
    }
}

/// Σg += g and A += g·εᵀ for one sample.
#[inline(always)]
fn add_sample<T: Real, const D: usize>(
    loc_grad: &mut SVector<T, D>,
    outer_sum: &mut SMatrix<T, D, D>,
    sample: &Sample<T, D>,
    grad_value: &SVector<T, D>,
) {
    // Fixed-size arrays, not nalgebra's strided iterators: this loop is the whole per-sample
    // cost, and over arrays of known length it unrolls and vectorizes.
    let [grad] = &grad_value.data.0;
    let [noise] = &sample.noise.data.0;
    let [loc_grad] = &mut loc_grad.data.0;
    for (sum, &g) in loc_grad.iter_mut().zip(grad) {
        *sum += g;
    }
    for (column, &noise) in outer_sum.data.0.iter_mut().zip(noise) {
        for (entry, &g) in column.iter_mut().zip(grad) {
            *entry += g * noise;
        }
    }
}

/// Samples per pass of [`BatchSums::push_batch`] over A: 64 noise and gradient vectors of
/// 32 `f64` entries are 32 KiB, which stays in the first-level cache while every block of A
/// passes over them.
const BATCH_CHUNK: usize = 64;

/// A += Σⱼ gⱼ·εⱼᵀ and loc's gradient += Σⱼ gⱼ over a chunk: for each block of `R` rows (R
/// divides D) and two columns of A, held in registers, one pass over the chunk, one sample per
/// iteration. Each entry receives its terms in sample order, as one sample at a time would add
/// them.
///
/// Two columns per pass load each piece of g once for both (at D = 8: 8 registers of sums, 2 of
/// broadcast ε, the rest for g and loc's sums). One sample per iteration keeps that within the
/// 16 SSE registers: with two samples per iteration the compiler interleaved them and spilled,
/// and with one column per pass the loop was short enough to run about 1.5× slower from some
/// start addresses (docs/PERFORMANCE.md, "Code placement" and "The accumulation and small
/// kernels").
///
/// The sums Σⱼ gⱼ ride along, `P` rows (P divides R) in each of the first R/P passes over a
/// block, rather than in a loop of their own, which waited on the latency of one addition per
/// sample; the same bits.
///
/// Columns go in pairs (a last odd one alone), and the first R/P pairs also sum loc's gradient.
/// There are at least D/2 ≥ R/P pairs (4 from R = 8 on), so every row of it is summed.
fn accumulate_blocked<T: Real, const D: usize, const R: usize, const P: usize>(
    outer_sum: &mut SMatrix<T, D, D>,
    loc_grad: &mut [T; D],
    (samples, grad_values): (&[Sample<T, D>], &[SVector<T, D>]),
) {
    const C: usize = 2;
    debug_assert!(D / C >= R / P, "a row of loc's gradient would have no pass to ride along");
    let (groups, rest) = outer_sum.data.0.as_chunks_mut::<C>();
    let (riding, plain) = groups.split_at_mut((R / P).min(groups.len()));
    // Separate loops, so that the compiler unrolls each with its passes specialized.
    for (group, columns) in riding.iter_mut().enumerate() {
        let loc = Some((&mut *loc_grad, group));
        accumulate_columns::<T, D, R, C, P>((columns, C * group), loc, samples, grad_values);
    }
    let first = C * riding.len();
    for (index, columns) in plain.iter_mut().enumerate() {
        let first = first + C * index;
        accumulate_columns::<T, D, R, C, P>((columns, first), None, samples, grad_values);
    }
    let first = D - rest.len();
    for (index, column) in rest.iter_mut().enumerate() {
        let columns = core::array::from_mut(column);
        let place = (columns, first + index);
        accumulate_columns::<T, D, R, 1, P>(place, None, samples, grad_values);
    }
}

/// `C` columns of A, starting at column `first`, block of `R` rows by block of `R` rows, by
/// [`add_outer_product`] of each sample's term gⱼ·(εⱼ[first .. first + C])ᵀ. With `loc` =
/// (loc's gradient, k), the pass over each block also sums rows k·P … k·P + P of the block into
/// it, in the same loop.
fn accumulate_columns<T: Real, const D: usize, const R: usize, const C: usize, const P: usize>(
    (columns, first): (&mut [[T; D]; C], usize),
    mut loc: Option<(&mut [T; D], usize)>,
    samples: &[Sample<T, D>],
    grad_values: &[SVector<T, D>],
) {
    for start in (0..D / R).map(|block| block * R) {
        let mut sums = load_block::<T, D, R, C>(columns, start);
        let loc_piece = loc.as_mut().and_then(|(loc_grad, group)| {
            let piece_start = start + P * *group;
            let piece = loc_grad.get_mut(piece_start..)?.first_chunk_mut::<P>()?;
            Some((piece, piece_start))
        });
        if let Some((piece, piece_start)) = loc_piece {
            let mut loc_sums = *piece;
            for (sample, grad_value) in samples.iter().zip(grad_values) {
                add_sample_term(&mut sums, (start, first), sample, grad_value);
                let [grad] = &grad_value.data.0;
                if let Some(rows) = grad.get(piece_start..).and_then(|g| g.first_chunk::<P>()) {
                    for (sum, &value) in loc_sums.iter_mut().zip(rows) {
                        *sum += value;
                    }
                }
            }
            *piece = loc_sums;
        } else {
            for (sample, grad_value) in samples.iter().zip(grad_values) {
                add_sample_term(&mut sums, (start, first), sample, grad_value);
            }
        }
        store_block(columns, start, &sums);
    }
}

/// Adds gⱼ·εⱼᵀ over rows `start` … `start` + R and columns `first` … `first` + C to `sums`.
#[inline(always)]
fn add_sample_term<T: Real, const D: usize, const R: usize, const C: usize>(
    sums: &mut [[T; R]; C],
    (start, first): (usize, usize),
    sample: &Sample<T, D>,
    grad_value: &SVector<T, D>,
) {
    let [noise] = &sample.noise.data.0;
    let [grad] = &grad_value.data.0;
    let rows = grad.get(start..).and_then(|tail| tail.first_chunk::<R>());
    let weights = noise.get(first..).and_then(|tail| tail.first_chunk::<C>());
    if let (Some(rows), Some(weights)) = (rows, weights) {
        add_outer_product(sums, rows, |c| weights.get(c).copied());
    }
}

fn check_lengths<T, const D: usize>(
    samples: &[Sample<T, D>],
    grad_values: &[SVector<T, D>],
) -> Result<(), Error> {
    if samples.len() == grad_values.len() {
        Ok(())
    } else {
        Err(Error::LengthMismatch { samples: samples.len(), grad_values: grad_values.len() })
    }
}
