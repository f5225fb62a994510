//! The firmware's computation, shared word for word by the firmware (`src/main.rs`, on Cortex-M)
//! and the host test (`tests/firmware_digest.rs`), so the two cannot drift: seeded `rsample`
//! batches, `log_prob`, `entropy`, `vjp` and the accumulator, `reparam_vjp`, `log_prob_grads`
//! and SVI steps through `svi`, in f32 and f64 at D = 3 and D = 8. Every result goes through a
//! [`Recorder`], which prints it (as the raw bits) and folds it into an FNV-1a digest.

use omt_mvn::heapless::Vec as HeaplessVec;
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::optim::{Adam, ClippedAdam};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::svi::{Estimator, Guide, Svi};
use omt_mvn::transform::{LowerCholesky, SoftplusLowerCholesky};
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
    // SVI in f32 at D = 8 and in f64 at D = 3: an f64 step at D = 8 needs about 15 KiB of
    // stack, more than the Cortex-M0 board leaves (docs/EMBEDDED.md).
    svi::<f32, 8, S>(recorder, "f32/8")?;
    svi_softplus::<f32, 8, S>(recorder, "f32/8")?;
    svi::<f64, 3, S>(recorder, "f64/3")?;
    svi_softplus::<f64, 3, S>(recorder, "f64/3")?;
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
    streamed(rec, prefix, mvn, batch, &grad_values)?;
    let reparam = mvn.reparam_vjp(batch, &grad_values)?;
    rec.record(prefix, "reparam_vjp.scale_tril", reparam.scale_tril.iter().copied());
    let log_prob_grads = mvn.log_prob_grads(&batch[0].value);
    rec.record(prefix, "log_prob_grads.scale_tril", log_prob_grads.scale_tril.iter().copied());
    Ok(())
}

/// The same batch through the accumulator (a frame of its own, for the Cortex-M0's 16 KiB).
#[inline(never)]
fn streamed<T: Real, const D: usize, S: Sink>(
    rec: &mut Recorder<S>,
    prefix: &str,
    mvn: &OmtMvn<T, D>,
    batch: &[Sample<T, D>; BATCH],
    grad_values: &[SVector<T, D>; BATCH],
) -> Result<(), Error> {
    let mut accumulator = mvn.vjp_accumulator();
    for (sample, grad_value) in batch.iter().zip(grad_values) {
        accumulator.push(sample, grad_value);
    }
    let streamed = accumulator.finish()?;
    rec.record(prefix, "accumulator.scale_tril", streamed.scale_tril.iter().copied());
    Ok(())
}

/// Twenty steps of stochastic variational inference towards N(m, Σ*) through the library's
/// `svi` API, four particles a step, OMT gradients with warm-started finishes, `LowerCholesky`
/// with Adam.
#[inline(never)]
fn svi<T: Real, const D: usize, S: Sink>(rec: &mut Recorder<S>, prefix: &str) -> Result<(), Error> {
    let target = OmtMvn::new(example_loc::<T, D>(), example_scale_tril::<T, D>())?;
    let precision = target.precision();
    let model = |x: &SVector<T, D>| (target.log_prob(x), -(precision * (x - target.loc())));
    let rate = T::from_f64_rounded(0.05);
    let mut rng = Pcg32::seed_from_u64(7);
    let guide = Guide::new(SVector::zeros(), SMatrix::identity(), LowerCholesky)?;
    let mut svi = Svi::new(guide, Adam::new(rate), Adam::new(rate)).with_num_particles(4);
    for _ in 0..20 {
        let report = svi.step(&mut rng, model)?;
        rec.record(prefix, "svi.elbo", [report.elbo]);
    }
    rec.record(prefix, "svi.loc", svi.guide().loc().iter().copied());
    rec.record(prefix, "svi.theta", svi.guide().theta().iter().copied());
    Ok(())
}

/// The same with `SoftplusLowerCholesky`, ClippedAdam (a decaying rate, clipping) and cold
/// finishes, in a frame of its own for the Cortex-M0.
#[inline(never)]
fn svi_softplus<T: Real, const D: usize, S: Sink>(
    rec: &mut Recorder<S>,
    prefix: &str,
) -> Result<(), Error> {
    let target = OmtMvn::new(example_loc::<T, D>(), example_scale_tril::<T, D>())?;
    let precision = target.precision();
    let model = |x: &SVector<T, D>| (target.log_prob(x), -(precision * (x - target.loc())));
    let (rate, decay) = (T::from_f64_rounded(0.05), T::from_f64_rounded(0.99));
    let mut rng = Pcg32::seed_from_u64(8);
    let guide = Guide::new(SVector::zeros(), SMatrix::identity(), SoftplusLowerCholesky)?;
    let loc_optimizer = ClippedAdam::new(rate).with_lrd(decay);
    let theta_optimizer = ClippedAdam::new(rate).with_lrd(decay).with_clip_norm(T::ONE);
    let mut svi = Svi::new(guide, loc_optimizer, theta_optimizer)
        .with_estimator(Estimator::Omt)
        .with_num_particles(4)
        .with_warm_start(false);
    for _ in 0..20 {
        svi.step(&mut rng, model)?;
    }
    rec.record(prefix, "svi.softplus.loc", svi.guide().loc().iter().copied());
    rec.record(prefix, "svi.softplus.theta", svi.guide().theta().iter().copied());
    Ok(())
}
