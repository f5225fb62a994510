//! With the `serde` feature, an accumulator travels between processes or machines as data and
//! merges on arrival exactly as if it had never left. Run with `cargo test --features serde`.
#![cfg(feature = "serde")]

use omt_mvn::nalgebra::{Matrix3, Vector3};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Grads, LogProbGrads, OmtMvn, Sample, VjpAccumulator};

#[test]
fn an_accumulator_survives_a_json_round_trip_and_merges_bit_exactly() {
    let mvn = OmtMvn::new(
        Vector3::new(0.1, 0.2, 0.3),
        Matrix3::new(1.0, 0.0, 0.0, 0.3, 1.2, 0.0, -0.2, 0.1, 0.8),
    )
    .unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(4);
    let (mut here, mut there) = (mvn.vjp_accumulator(), mvn.vjp_accumulator());
    for k in 0..100 {
        let sample = mvn.rsample(&mut rng);
        let target = if k % 2 == 0 { &mut here } else { &mut there };
        target.push(&sample, &sample.value);
    }
    let wire = serde_json::to_string(&there).unwrap();
    let arrived: VjpAccumulator<f64, 3> = serde_json::from_str(&wire).unwrap();
    assert_eq!(arrived, there);
    let mut direct = here;
    direct.merge(&there);
    here.merge(&arrived);
    assert_eq!(here.finish(), direct.finish());
}

/// From D = 8 on, pushed samples wait in a block whose length depends on the target; the serde
/// form adds them to the sums first, so it is the same everywhere, and what arrives finishes and
/// merges to the same bits and compares equal.
#[test]
fn an_accumulator_with_pending_samples_travels_with_them_added() {
    use omt_mvn::nalgebra::{SMatrix, SVector};
    let scale_tril = SMatrix::<f64, 8, 8>::from_fn(|i, j| match i.cmp(&j) {
        std::cmp::Ordering::Greater => 0.1 * (i + 2 * j) as f64 - 0.7,
        std::cmp::Ordering::Equal => 1.0 + 0.1 * i as f64,
        std::cmp::Ordering::Less => 0.0,
    });
    let mvn = OmtMvn::new(SVector::zeros(), scale_tril).unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
    let mut there = mvn.vjp_accumulator();
    let mut samples = Vec::new();
    // 7 and 23 leave samples pending for every block length up to 16.
    for count in [7, 23] {
        for _ in 0..count {
            let sample = mvn.rsample(&mut rng);
            there.push(&sample, &sample.value);
            samples.push(sample);
        }
        let wire = serde_json::to_string(&there).unwrap();
        assert!(!wire.contains("pending"), "{wire}");
        let arrived: VjpAccumulator<f64, 8> = serde_json::from_str(&wire).unwrap();
        assert_eq!(arrived, there);
        let values: Vec<_> = samples.iter().map(|s| s.value).collect();
        assert_eq!(arrived.finish(), mvn.vjp(&samples, &values));
        let mut merged = mvn.vjp_accumulator();
        merged.merge(&arrived);
        assert_eq!(merged.finish(), there.finish());
    }
}

#[test]
fn samples_and_gradients_round_trip() {
    let mvn = OmtMvn::new(Vector3::<f32>::zeros(), Matrix3::identity()).unwrap();
    let sample: Sample<f32, 3> = mvn.rsample(&mut rand_pcg::Pcg32::seed_from_u64(1));
    let back: Sample<f32, 3> =
        serde_json::from_str(&serde_json::to_string(&sample).unwrap()).unwrap();
    assert_eq!(back, sample);
    let grads = mvn.vjp(&[sample], &[sample.value]).unwrap();
    let back: Grads<f32, 3> =
        serde_json::from_str(&serde_json::to_string(&grads).unwrap()).unwrap();
    assert_eq!(back, grads);
    let log_prob_grads = mvn.log_prob_grads(&sample.value);
    let back: LogProbGrads<f32, 3> =
        serde_json::from_str(&serde_json::to_string(&log_prob_grads).unwrap()).unwrap();
    assert_eq!(back, log_prob_grads);
    assert!(serde_json::to_string(&mvn).unwrap().contains("scale_tril"));
}

/// A deserialized distribution is validated like `new`: never invalid.
#[test]
fn a_distribution_round_trips_and_bad_parameters_do_not_deserialize() {
    let mvn = OmtMvn::new(
        Vector3::new(0.1, 0.2, 0.3),
        Matrix3::new(1.0, 0.0, 0.0, 0.3, 1.2, 0.0, -0.2, 0.1, 0.8),
    )
    .unwrap();
    let wire = serde_json::to_string(&mvn).unwrap();
    assert_eq!(serde_json::from_str::<OmtMvn<f64, 3>>(&wire).unwrap(), mvn);
    let negative_diagonal = wire.replacen("0.8", "-0.8", 1);
    let err = serde_json::from_str::<OmtMvn<f64, 3>>(&negative_diagonal).unwrap_err();
    assert!(err.to_string().contains("scale_tril[2][2] is not positive"), "{err}");
}
