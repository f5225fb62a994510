//! The firmware's computation, shared word for word by the firmware (`src/main.rs`, on Cortex-M)
//! and the host test (`tests/firmware_digest.rs`), so the two cannot drift: seeded `rsample`
//! batches, `log_prob`, `entropy`, `vjp` and the accumulator, `reparam_vjp`, `log_prob_grads`
//! and a few SVI steps, in f32 and f64 at D = 3 and D = 8. Every result goes through a
//! [`Recorder`], which prints it (as the raw bits) and folds it into an FNV-1a digest.

use omt_mvn::heapless::Vec as HeaplessVec;
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, OmtMvn, Real, Sample};
use rand_pcg::Pcg32;

/// Where recorded lines go: semihosting on the firmware, nowhere (or a buffer) on the host.
pub trait Sink {
    /// One result: `prefix` names the case (`f64/8`), `name` the quantity, `bits` its values.
    fn line(&mut self, prefix: &str, name: &str, bits: &[u64]);
}

/// Forwards every result to a [`Sink`] and hashes its bits (FNV-1a, 64-bit, little-endian bytes).
pub struct Recorder<S: Sink> {
    pub sink: S,
    pub digest: u64,
}

impl<S: Sink> Recorder<S> {
    pub fn new(sink: S) -> Self {
        Recorder { sink, digest: 0xcbf2_9ce4_8422_2325 }
    }

    fn record<T: Real>(&mut self, prefix: &str, name: &str, values: impl IntoIterator<Item = T>) {
        let mut bits: HeaplessVec<u64, 64> = HeaplessVec::new();
        for value in values {
            let word = value.to_bits_u64();
            for byte in word.to_le_bytes() {
                self.digest ^= u64::from(byte);
                self.digest = self.digest.wrapping_mul(0x0100_0000_01b3);
            }
            if bits.push(word).is_err() {
                // More than 64 values in one line: print them in chunks.
                self.sink.line(prefix, name, &bits);
                bits.clear();
                let _ = bits.push(word);
            }
        }
        self.sink.line(prefix, name, &bits);
    }
}

/// Runs everything and returns the digest of all recorded bits.
#[inline(never)]
pub fn run<S: Sink>(recorder: &mut Recorder<S>) -> Result<u64, Error> {
    case::<f32, 3, S>(recorder, "f32/3")?;
    case::<f32, 8, S>(recorder, "f32/8")?;
    case::<f64, 3, S>(recorder, "f64/3")?;
    case::<f64, 8, S>(recorder, "f64/8")?;
    svi::<f32, 3, S>(recorder, "f32/3")?;
    svi::<f64, 8, S>(recorder, "f64/8")?;
    Ok(recorder.digest)
}

/// A lower-triangular factor with exact binary entries: diagonal 1 + i/8, off-diagonal
/// entries in {−½, −¼, 0, ¼, ½}.
pub fn example_scale_tril<T: Real, const D: usize>() -> SMatrix<T, D, D> {
    SMatrix::from_fn(|i, j| {
        let value = if i == j {
            1.0 + 0.125 * i as f64
        } else if i > j {
            0.25 * (((i + 2 * j) % 5) as f64 - 2.0)
        } else {
            0.0
        };
        T::from_f64_rounded(value)
    })
}

fn example_loc<T: Real, const D: usize>() -> SVector<T, D> {
    SVector::from_fn(|i, _| T::from_f64_rounded(0.25 * i as f64 - 0.5))
}

/// Samples per batch.
const BATCH: usize = 12;

/// The fixed upstream gradient gⱼ = xⱼ/2 − 1 (of ℓ = Σⱼ ¼‖xⱼ‖² − Σⱼ xⱼ).
fn upstream<T: Real, const D: usize>(value: &SVector<T, D>) -> SVector<T, D> {
    value.map(|x| x * T::from_f64_rounded(0.5) - T::one())
}

// Never inlined: each case's arrays live only while it runs, not in one merged frame (which
// would not fit the Cortex-M0's 16 KiB of RAM).
#[inline(never)]
fn case<T: Real, const D: usize, S: Sink>(
    rec: &mut Recorder<S>,
    prefix: &str,
) -> Result<(), Error> {
    let mvn = OmtMvn::new(example_loc::<T, D>(), example_scale_tril::<T, D>())?;
    let mut rng = Pcg32::seed_from_u64(2026);
    let batch: [Sample<T, D>; BATCH] = mvn.rsample_array(&mut rng);
    for sample in &batch {
        rec.record(prefix, "rsample.noise", sample.noise.iter().copied());
        rec.record(prefix, "rsample.value", sample.value.iter().copied());
    }
    rec.record(prefix, "log_prob", batch.iter().map(|s| mvn.log_prob(&s.value)));
    rec.record(prefix, "entropy", [mvn.entropy()]);
    backward(rec, prefix, &mvn, &batch)
}

/// The backward passes on a batch (a frame of its own, for the Cortex-M0's 16 KiB).
#[inline(never)]
fn backward<T: Real, const D: usize, S: Sink>(
    rec: &mut Recorder<S>,
    prefix: &str,
    mvn: &OmtMvn<T, D>,
    batch: &[Sample<T, D>; BATCH],
) -> Result<(), Error> {
    let grad_values = batch.map(|s| upstream(&s.value));
    let grads = mvn.vjp(batch, &grad_values)?;
    rec.record(prefix, "vjp.loc", grads.loc.iter().copied());
    rec.record(prefix, "vjp.scale_tril", grads.scale_tril.iter().copied());
    let mut accumulator = mvn.vjp_accumulator();
    for (sample, grad_value) in batch.iter().zip(&grad_values) {
        accumulator.push(sample, grad_value);
    }
    let streamed = accumulator.finish()?;
    rec.record(prefix, "accumulator.scale_tril", streamed.scale_tril.iter().copied());
    let reparam = mvn.reparam_vjp(batch, &grad_values)?;
    rec.record(prefix, "reparam_vjp.scale_tril", reparam.scale_tril.iter().copied());
    let log_prob_grads = mvn.log_prob_grads(&batch[0].value);
    rec.record(prefix, "log_prob_grads.scale_tril", log_prob_grads.scale_tril.iter().copied());
    Ok(())
}

/// A few steps of stochastic variational inference towards N(m, Σ*) with OMT gradients: the
/// ELBO gradient is the vjp of the score −Σ*⁻¹(x − m) plus the entropy gradient; loc and the
/// off-diagonal entries take plain gradient steps, the diagonal a multiplicative one (a step in
/// ln Lᵢᵢ), which keeps it positive.
#[inline(never)]
fn svi<T: Real, const D: usize, S: Sink>(rec: &mut Recorder<S>, prefix: &str) -> Result<(), Error> {
    let target = OmtMvn::new(example_loc::<T, D>(), example_scale_tril::<T, D>())?;
    let precision = target.precision();
    let mut loc = SVector::<T, D>::zeros();
    let mut scale_tril = SMatrix::<T, D, D>::identity();
    let mut rng = Pcg32::seed_from_u64(7);
    let rate = T::from_f64_rounded(0.05);
    for _ in 0..20 {
        let guide = OmtMvn::new(loc, scale_tril)?;
        let batch: [Sample<T, D>; 8] = guide.rsample_array(&mut rng);
        let scale = T::one() / T::from_count(batch.len());
        let scores = batch.map(|s| -(precision * (s.value - target.loc())) * scale);
        let mut grads = guide.vjp(&batch, &scores)?;
        grads.scale_tril += guide.entropy_grad_scale_tril();
        loc += grads.loc * rate;
        for i in 0..D {
            for j in 0..i {
                scale_tril[(i, j)] += rate * grads.scale_tril[(i, j)];
            }
            let diagonal = scale_tril[(i, i)];
            scale_tril[(i, i)] = diagonal * (rate * grads.scale_tril[(i, i)] * diagonal).libm_exp();
        }
    }
    rec.record(prefix, "svi.loc", loc.iter().copied());
    rec.record(prefix, "svi.scale_tril", scale_tril.iter().copied());
    Ok(())
}
