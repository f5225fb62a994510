//! With the `rand` feature, the distribution and the standard normal are rand distributions
//! that draw exactly what the crate's own samplers draw. Run with `cargo test --features rand`.
#![cfg(feature = "rand")]

use omt_mvn::nalgebra::{Matrix3, Vector3};
use omt_mvn::normal::{StandardNormal, standard_normal};
use omt_mvn::rand::{RngExt, distr::Distribution};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, Sample};
use rand_pcg::Pcg64Mcg;

#[test]
fn sample_iter_draws_the_bits_rsample_draws() {
    let mvn = OmtMvn::new(
        Vector3::new(0.5, -1.0, 2.0),
        Matrix3::new(1.0, 0.0, 0.0, 0.6, 0.8, 0.0, -0.3, 0.4, 0.5),
    )
    .unwrap();
    let (mut rng, mut reference) = (Pcg64Mcg::seed_from_u64(11), Pcg64Mcg::seed_from_u64(11));
    let drawn: Vec<Sample<f64, 3>> = (&mvn).sample_iter(&mut rng).take(100).collect();
    for sample in &drawn {
        assert_eq!(*sample, mvn.rsample(&mut reference));
    }
    let one: Sample<f64, 3> = rng.sample(mvn);
    assert_eq!(one, mvn.rsample(&mut reference));
    // f32 too: the noise is rounded once from the same f64 draws.
    let narrow = OmtMvn::new(Vector3::<f32>::zeros(), Matrix3::identity()).unwrap();
    let sample: Sample<f32, 3> = narrow.sample(&mut rng);
    assert_eq!(sample, narrow.rsample(&mut reference));
}

#[test]
fn standard_normal_is_the_crates_sampler() {
    let (mut rng, mut reference) = (Pcg64Mcg::seed_from_u64(12), Pcg64Mcg::seed_from_u64(12));
    for _ in 0..1000 {
        let z: f64 = rng.sample(StandardNormal);
        assert_eq!(z.to_bits(), standard_normal(&mut reference).to_bits());
        let narrow: f32 = StandardNormal.sample(&mut rng);
        assert_eq!(narrow.to_bits(), (standard_normal(&mut reference) as f32).to_bits());
    }
}
