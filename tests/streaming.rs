//! Every route into the batch statistics gives the same bits: single pushes (buffered from
//! D = 8 on), `push_batch` over noise vectors, `vjp` over samples, and merges of accumulators
//! whose buffers hold samples.

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, OmtMvn, Sample};

fn setup<const D: usize>(n: usize) -> (OmtMvn<f64, D>, Vec<Sample<f64, D>>, Vec<SVector<f64, D>>) {
    let scale_tril = SMatrix::<f64, D, D>::from_fn(|i, j| match i.cmp(&j) {
        core::cmp::Ordering::Equal => 1.0 + 0.1 * i as f64,
        core::cmp::Ordering::Greater => 0.3 * ((i * 7 + j * 3) % 5) as f64 - 0.6,
        core::cmp::Ordering::Less => 0.0,
    });
    let mvn = OmtMvn::new(SVector::repeat(0.25), scale_tril).unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(D as u64 + n as u64);
    let samples: Vec<_> = (0..n).map(|_| mvn.rsample(&mut rng)).collect();
    let grads = samples.iter().map(|s| s.value.map(|x| x * x - 0.5)).collect();
    (mvn, samples, grads)
}

fn same_bits_every_way<const D: usize>() {
    for n in [1, 2, 7, 8, 9, 17, 100] {
        let (mvn, samples, grads) = setup::<D>(n);
        let batch = mvn.vjp(&samples, &grads).unwrap();
        let mut pushed = mvn.vjp_accumulator();
        for (s, g) in samples.iter().zip(&grads) {
            pushed.push(s, g);
        }
        assert_eq!(pushed.finish().unwrap(), batch, "push, D = {D}, n = {n}");
        let noise: Vec<_> = samples.iter().map(|s| s.noise).collect();
        let mut from_noise = mvn.vjp_accumulator();
        let split = n / 3;
        from_noise.push(&samples[0], &grads[0]);
        from_noise.push_batch(&noise[1..=split], &grads[1..=split]).unwrap();
        for (s, g) in samples[split + 1..].iter().zip(&grads[split + 1..]) {
            from_noise.push(s, g);
        }
        assert_eq!(from_noise.finish().unwrap(), batch, "mixed, D = {D}, n = {n}");
        // Merging shards whose buffers are part full: the sums of the merge, as before.
        let (mut left, mut right) = (mvn.vjp_accumulator(), mvn.vjp_accumulator());
        let mut left_batch = mvn.vjp_accumulator();
        let mut right_batch = mvn.vjp_accumulator();
        for (k, (s, g)) in samples.iter().zip(&grads).enumerate() {
            if k % 3 == 0 {
                left.push(s, g);
                left_batch.push_batch(&[s.noise], &[*g]).unwrap();
            } else {
                right.push(s, g);
                right_batch.push_batch(&[s.noise], &[*g]).unwrap();
            }
        }
        left.merge(&right);
        left_batch.merge(&right_batch);
        assert_eq!(left.finish().unwrap(), left_batch.finish().unwrap(), "merge, D = {D}, n = {n}");
        assert_eq!(pushed.finish_reparam().unwrap(), mvn.reparam_vjp(&samples, &grads).unwrap());
    }
}

#[test]
fn pushes_batches_and_merges_give_the_same_bits() {
    same_bits_every_way::<3>();
    same_bits_every_way::<8>();
    same_bits_every_way::<12>();
    same_bits_every_way::<16>();
    same_bits_every_way::<32>();
}

#[test]
fn push_batch_refuses_mismatched_lengths_and_adds_nothing() {
    let (mvn, samples, grads) = setup::<8>(5);
    let noise: Vec<_> = samples.iter().map(|s| s.noise).collect();
    let mut accumulator = mvn.vjp_accumulator();
    accumulator.push(&samples[0], &grads[0]);
    let before = accumulator;
    assert_eq!(
        accumulator.push_batch(&noise[1..4], &grads[1..3]),
        Err(Error::LengthMismatch { samples: 3, grad_values: 2 })
    );
    assert_eq!(accumulator, before);
}

#[test]
fn a_non_finite_pushed_sample_is_reported_even_while_buffered() {
    let (mvn, samples, grads) = setup::<8>(3);
    let mut accumulator = mvn.vjp_accumulator();
    accumulator.push(&samples[0], &grads[0]);
    accumulator.push(&samples[1], &SVector::repeat(f64::NAN));
    assert_eq!(accumulator.finish(), Err(Error::NonFiniteBatch));
}
