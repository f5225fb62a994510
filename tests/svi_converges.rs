//! The `svi` example, shortened: SVI with OMT gradients drives KL(q ‖ p) down to a small value.

#[allow(dead_code)]
#[path = "../examples/svi.rs"]
mod svi;

use svi::{Config, Estimator, Target, run};

#[test]
fn svi_with_omt_gradients_reaches_the_posterior() {
    let target = Target::<4>::correlated();
    let config = Config { steps: 3000, kl_threshold: 0.02, ..Config::default() };
    for seed in 1..=3 {
        let report = run(&target, Estimator::Omt, &Config { seed, ..config }).unwrap();
        // Starting KL is about 5; 0.02 nats is a converged fit for a 4-D Gaussian.
        assert!(report.steps_to_threshold.is_some(), "seed {seed}: {report:?}");
        assert!(report.final_kl < 0.02, "seed {seed}: {report:?}");
    }
}

#[test]
fn svi_with_reparam_gradients_also_converges_on_the_same_problem() {
    let target = Target::<4>::correlated();
    let config = Config { steps: 3000, kl_threshold: 0.02, seed: 1, ..Config::default() };
    let report = run(&target, Estimator::Reparam, &config).unwrap();
    assert!(report.final_kl < 0.02, "{report:?}");
}
