//! The batch statistics of a backward pass, Σⱼ gⱼ and A = Σⱼ gⱼ·εⱼᵀ: the register-blocked
//! accumulation every entry point shares, and the small buffer that lets single pushes use it.
//!
//! # Order
//! Every entry of A receives its terms gⱼ·εⱼ one sample after another, in the order the samples
//! came, whether they arrive one by one ([`Pending`] holds up to [`PENDING`] of them and flushes
//! them through the blocked kernel), as a slice of samples, or as a slice of noise vectors. So
//! every route gives the same bits, on every target.

use crate::linalg::product::{add_outer_product, load_block, store_block};
use crate::linalg::{CacheAligned, all_finite};
use crate::omt::omt_scale_tril_grad;
use crate::warm::WarmStart;
use crate::{Error, Grads, Real, Sample};
use nalgebra::{SMatrix, SVector};

/// Where a batch item keeps its noise ε: a [`Sample`], or the noise vector itself.
pub(crate) trait Noise<T: Real, const D: usize> {
    /// ε.
    fn noise(&self) -> &SVector<T, D>;
}

impl<T: Real, const D: usize> Noise<T, D> for Sample<T, D> {
    #[inline(always)]
    fn noise(&self) -> &SVector<T, D> {
        &self.noise
    }
}

impl<T: Real, const D: usize> Noise<T, D> for SVector<T, D> {
    #[inline(always)]
    fn noise(&self) -> &SVector<T, D> {
        self
    }
}

/// What an OMT finish needs of the samples: Σⱼ gⱼ, A = Σⱼ gⱼ·εⱼᵀ, and how many were pushed.
/// [`OmtMvn::vjp`](crate::OmtMvn::vjp) fills one directly, which spares it an accumulator's copy
/// of L: stack on a Cortex-M, and a copy per call.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct BatchSums<T: Real, const D: usize> {
    pub(crate) loc_grad: SVector<T, D>,
    pub(crate) outer_sum: SMatrix<T, D, D>,
    pushed: Pushed<T, D>,
}

/// How many samples an accumulator holds, as far as the finish cares: for exactly one, A = g·εᵀ
/// has rank one and the finish saves two of its four D×D products (a single-sample SVI step,
/// Pyro's default, is the common case). The sample is kept beside A, which is accumulated as
/// always, so that [`VjpAccumulator::merge`](crate::VjpAccumulator::merge) and a second push need
/// no special case.
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

impl<T: Real, const D: usize> BatchSums<T, D> {
    pub(crate) fn new() -> Self {
        BatchSums {
            loc_grad: SVector::zeros(),
            outer_sum: SMatrix::zeros(),
            pushed: Pushed::Nothing,
        }
    }

    /// One sample's terms, added at once (see [`VjpAccumulator::push`]).
    ///
    /// [`VjpAccumulator::push`]: crate::VjpAccumulator::push
    pub(crate) fn push(&mut self, noise: &SVector<T, D>, grad_value: &SVector<T, D>) {
        self.note_pushed(1, noise, grad_value);
        add_sample(&mut self.loc_grad, &mut self.outer_sum, noise, grad_value);
    }

    /// Records that `count` samples, the first (`noise`, `grad_value`), were pushed; the caller
    /// ([`push`](Self::push), [`push_batch`](Self::push_batch)) adds their terms.
    fn note_pushed(&mut self, count: usize, noise: &SVector<T, D>, grad_value: &SVector<T, D>) {
        // Past the second sample the state stays `Several`: the common case reads a tag instead
        // of rewriting the enum, which is two vectors wide.
        if !matches!(self.pushed, Pushed::Several) {
            self.pushed = self.pushed.after(count, noise, grad_value);
        }
    }

    /// Pushes a batch (of equal lengths): the same sums as one [`push`](Self::push) per sample, in
    /// the same order and so to the same bits. From D = 8 on, A is held in registers block by
    /// block; below that the whole of A fits in registers across single pushes, which is faster
    /// (docs/PERFORMANCE.md, "The accumulation and small kernels").
    pub(crate) fn push_batch<N: Noise<T, D>>(
        &mut self,
        samples: &[N],
        grad_values: &[SVector<T, D>],
    ) {
        if let (Some(sample), Some(grad_value)) = (samples.first(), grad_values.first()) {
            self.note_pushed(samples.len(), sample.noise(), grad_value);
        }
        self.accumulate(samples, grad_values);
    }

    /// The terms of a batch, without recording it as pushed (see [`push_batch`](Self::push_batch)).
    // Inlined into its callers, as it was when it was `push_batch`'s own body (speed of the
    // D < 8 loop: docs/PERFORMANCE.md, "Streaming at batch speed").
    #[inline(always)]
    fn accumulate<N: Noise<T, D>>(&mut self, samples: &[N], grad_values: &[SVector<T, D>]) {
        if D < 8 {
            // Sums in locals, which the compiler keeps in registers across the loop.
            let (mut loc_grad, mut outer_sum) = (self.loc_grad, self.outer_sum);
            for (sample, grad_value) in samples.iter().zip(grad_values) {
                add_sample(&mut loc_grad, &mut outer_sum, sample.noise(), grad_value);
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
                accumulate_blocked::<T, N, D, 8, 2>(outer_sum, loc_grad, chunk);
            } else if D.is_multiple_of(4) {
                accumulate_blocked::<T, N, D, 4, 2>(outer_sum, loc_grad, chunk);
            } else if D.is_multiple_of(2) {
                accumulate_blocked::<T, N, D, 2, 2>(outer_sum, loc_grad, chunk);
            } else {
                accumulate_blocked::<T, N, D, 1, 1>(outer_sum, loc_grad, chunk);
            }
        }
    }

    /// Adds another batch's sums to these.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.pushed = self.pushed.merged(other.pushed);
        self.loc_grad += other.loc_grad;
        self.outer_sum += other.outer_sum;
    }

    /// The gradients for the distribution with this `scale_tril` (see
    /// [`VjpAccumulator::finish`](crate::VjpAccumulator::finish)).
    pub(crate) fn gradients(
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

/// Samples a [`Pending`] buffer holds before it flushes them through the blocked kernel: 16 on
/// 64-bit targets, 4 on the others. Each flush loads and stores A once, so longer blocks stream
/// faster; on a Cortex-M the buffer is stack, and at 8 an accumulator's f64 finish at D = 8
/// overflowed the M0's (measurements: docs/PERFORMANCE.md, "Streaming at batch speed"). The
/// length changes no bits: every entry of A receives its terms in sample order whatever the
/// blocks.
pub(crate) const PENDING: usize = if cfg!(target_pointer_width = "64") { 16 } else { 4 };

/// One vector per held sample, on a cache line on 64-bit targets: `push` stores each in 16-byte
/// pieces, one in four of which straddled two lines in an 8-byte-aligned block.
type Block<T, const D: usize> = CacheAligned<[SVector<T, D>; PENDING]>;

/// Pushed samples whose terms are not yet in A: their noise and upstream gradients, in order.
/// Only the first `len` entries mean anything.
///
/// `len` comes first, in C layout. Every slot of a block then lies above it, so the compiler can
/// tell that a store into a block at a variable slot never reaches `len`, and `push` does not
/// reload `len` after copying a sample. It is a `usize`, not a byte: the compiler loads it
/// whole, padding included, and a load wider than the store before it cannot be forwarded
/// from that store, which made pushes at D = 8 much slower (docs/PERFORMANCE.md, "Streaming
/// at batch speed").
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Pending<T: Real, const D: usize> {
    len: usize,
    noise: Block<T, D>,
    grad_values: Block<T, D>,
}

impl<T: Real, const D: usize> Pending<T, D> {
    pub(crate) fn new() -> Self {
        Pending {
            noise: CacheAligned([SVector::zeros(); PENDING]),
            grad_values: CacheAligned([SVector::zeros(); PENDING]),
            len: 0,
        }
    }

    fn noise(&self) -> &[SVector<T, D>] {
        self.noise.0.get(..self.len).unwrap_or(&self.noise.0)
    }

    fn grad_values(&self) -> &[SVector<T, D>] {
        self.grad_values.0.get(..self.len).unwrap_or(&self.grad_values.0)
    }

    /// Holds one more sample, flushing into `sums` once the buffer is full.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        sums: &mut BatchSums<T, D>,
        noise: &SVector<T, D>,
        grad_value: &SVector<T, D>,
    ) {
        // `len` < PENDING here (a full block is flushed at once), so the remainder changes
        // nothing; it only tells the compiler the slot is in bounds, which drops a check per push.
        let slot = self.len % PENDING;
        if let (Some(n), Some(g)) = (self.noise.0.get_mut(slot), self.grad_values.0.get_mut(slot)) {
            (*n, *g) = (*noise, *grad_value);
            self.len += 1;
        }
        if self.len >= PENDING {
            self.flush_into(sums);
        }
    }

    /// Adds the held samples to `sums` and empties the buffer. `sums` records them as pushed only
    /// now ([`BatchSums::push_batch`]): until its first flush a block holds the first samples
    /// itself, so `push` need not update that record per sample.
    pub(crate) fn flush_into(&mut self, sums: &mut BatchSums<T, D>) {
        if self.len > 0 {
            sums.push_batch(self.noise(), self.grad_values());
            self.len = 0;
        }
    }

    /// `sums` with the held samples added, leaving both as they are.
    pub(crate) fn flushed(&self, sums: &BatchSums<T, D>) -> BatchSums<T, D> {
        let mut all = *sums;
        if self.len > 0 {
            all.push_batch(self.noise(), self.grad_values());
        }
        all
    }
}

/// Σg += g and A += g·εᵀ for one sample.
#[inline(always)]
fn add_sample<T: Real, const D: usize>(
    loc_grad: &mut SVector<T, D>,
    outer_sum: &mut SMatrix<T, D, D>,
    noise: &SVector<T, D>,
    grad_value: &SVector<T, D>,
) {
    // Fixed-size arrays, not nalgebra's strided iterators: this loop is the whole per-sample
    // cost, and over arrays of known length it unrolls and vectorizes.
    let [grad] = &grad_value.data.0;
    let [noise] = &noise.data.0;
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
fn accumulate_blocked<T: Real, N: Noise<T, D>, const D: usize, const R: usize, const P: usize>(
    outer_sum: &mut SMatrix<T, D, D>,
    loc_grad: &mut [T; D],
    (samples, grad_values): (&[N], &[SVector<T, D>]),
) {
    const C: usize = 2;
    debug_assert!(D / C >= R / P, "a row of loc's gradient would have no pass to ride along");
    let (groups, rest) = outer_sum.data.0.as_chunks_mut::<C>();
    let (riding, plain) = groups.split_at_mut((R / P).min(groups.len()));
    // Separate loops, so that the compiler unrolls each with its passes specialized.
    for (group, columns) in riding.iter_mut().enumerate() {
        let loc = Some((&mut *loc_grad, group));
        accumulate_columns::<T, N, D, R, C, P>((columns, C * group), loc, samples, grad_values);
    }
    let first = C * riding.len();
    for (index, columns) in plain.iter_mut().enumerate() {
        let first = first + C * index;
        accumulate_columns::<T, N, D, R, C, P>((columns, first), None, samples, grad_values);
    }
    let first = D - rest.len();
    for (index, column) in rest.iter_mut().enumerate() {
        let columns = core::array::from_mut(column);
        let place = (columns, first + index);
        accumulate_columns::<T, N, D, R, 1, P>(place, None, samples, grad_values);
    }
}

/// `C` columns of A, starting at column `first`, block of `R` rows by block of `R` rows, by
/// [`add_outer_product`] of each sample's term gⱼ·(εⱼ[first .. first + C])ᵀ. With `loc` =
/// (loc's gradient, k), the pass over each block also sums rows k·P … k·P + P of the block into
/// it, in the same loop.
fn accumulate_columns<
    T: Real,
    N: Noise<T, D>,
    const D: usize,
    const R: usize,
    const C: usize,
    const P: usize,
>(
    (columns, first): (&mut [[T; D]; C], usize),
    mut loc: Option<(&mut [T; D], usize)>,
    samples: &[N],
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
                add_sample_term(&mut sums, (start, first), sample.noise(), grad_value);
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
                add_sample_term(&mut sums, (start, first), sample.noise(), grad_value);
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
    noise: &SVector<T, D>,
    grad_value: &SVector<T, D>,
) {
    let [noise] = &noise.data.0;
    let [grad] = &grad_value.data.0;
    let rows = grad.get(start..).and_then(|tail| tail.first_chunk::<R>());
    let weights = noise.get(first..).and_then(|tail| tail.first_chunk::<C>());
    if let (Some(rows), Some(weights)) = (rows, weights) {
        add_outer_product(sums, rows, |c| weights.get(c).copied());
    }
}
