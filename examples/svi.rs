//! Stochastic variational inference without autograd, as a firmware author would write it.
//!
//! The model is a correlated D-dimensional Gaussian p(x) = N(m, Σ*) (default D = 8), whose score
//! ∇log p(x) = −Σ*⁻¹(x − m) is analytic, so the exact posterior is known and the KL divergence
//! from the guide to it can be printed as the optimization runs. The guide is an `OmtMvn` whose
//! `scale_tril` stays a lower Cholesky factor through an unconstrained parameterization:
//! off-diagonal entries are free, diagonal entries are softplus(θᵢᵢ).
//!
//! ELBO(μ, L) = E_q[log p(x)] + H(q); its gradient is the OMT vjp of the score at the samples plus
//! the entropy gradient diag(1/Lᵢᵢ), then the chain rule through softplus. A small Adam ascends it.
//! At the end the same runs are repeated with the plain reparameterization estimator on the same
//! seeds, and the two are compared.
//!
//! Run with `cargo run --release --example svi` (or `-- 16` for D = 16... any of 2, 4, 8, 16).

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, Grads, OmtMvn};
use std::time::Instant;

/// Which backward pass estimates the ELBO gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Estimator {
    Omt,
    Reparam,
}

/// What one run is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub steps: usize,
    pub samples_per_step: usize,
    pub learning_rate: f64,
    pub kl_threshold: f64,
    pub seed: u64,
    pub report_every: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            steps: 10_000,
            samples_per_step: 16,
            learning_rate: 0.05,
            kl_threshold: 0.01,
            seed: 1,
            report_every: None,
        }
    }
}

/// How one run went.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// First step after which KL(q ‖ p) < threshold, if any.
    pub steps_to_threshold: Option<usize>,
    /// KL(q ‖ p) averaged over the last tenth of the run (the iterates jitter with the noise).
    pub final_kl: f64,
}

/// The target N(m, Σ*), kept as a distribution of its own (its precision and log-determinant are
/// what the score and the KL need).
pub struct Target<const D: usize> {
    pub posterior: OmtMvn<f64, D>,
    pub precision: SMatrix<f64, D, D>,
}

impl<const D: usize> Target<D> {
    /// A correlated Gaussian: Σ* = L*·L*ᵀ with L* lower-triangular, diagonal 0.5…1.5 and
    /// off-diagonal entries of both signs.
    pub fn correlated() -> Self {
        let loc = SVector::<f64, D>::from_fn(|i, _| 1.0 - 0.3 * i as f64);
        let scale_tril = SMatrix::<f64, D, D>::from_fn(|i, j| {
            if i == j {
                0.5 + i as f64 / D as f64
            } else if i > j {
                0.4 * libm::sin(1.0 + (3 * i + 7 * j) as f64)
            } else {
                0.0
            }
        });
        let posterior = OmtMvn::new(loc, scale_tril).expect("a valid Cholesky factor");
        Target { precision: posterior.precision(), posterior }
    }

    /// ∇log p(x) = −Σ*⁻¹(x − m).
    pub fn score(&self, x: &SVector<f64, D>) -> SVector<f64, D> {
        -(self.precision * (x - self.posterior.loc()))
    }

    /// KL(q ‖ p) = ½[tr(Σ*⁻¹Σ_q) + (m − μ)ᵀΣ*⁻¹(m − μ) − D + ln det Σ* − ln det Σ_q]; the
    /// log-determinants come from the entropies (H = ½D(1 + ln 2π) + ½ ln det Σ).
    pub fn kl_from(&self, guide: &OmtMvn<f64, D>) -> f64 {
        let trace = (self.precision * guide.covariance()).trace();
        let offset = self.posterior.loc() - guide.loc();
        let mahalanobis = offset.dot(&(self.precision * offset));
        let log_det_ratio = 2.0 * (self.posterior.entropy() - guide.entropy());
        0.5 * (trace + mahalanobis - D as f64 + log_det_ratio)
    }
}

/// softplus(θ) = ln(1 + eᶿ), computed without overflow.
fn softplus(theta: f64) -> f64 {
    if theta > 0.0 { theta + libm::log1p(libm::exp(-theta)) } else { libm::log1p(libm::exp(theta)) }
}

/// softplus′(θ) = 1/(1 + e⁻ᶿ).
fn sigmoid(theta: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-theta))
}

/// Inverse of softplus, for the initial value: θ = ln(eˣ − 1).
fn softplus_inverse(x: f64) -> f64 {
    x + libm::log(-libm::expm1(-x))
}

/// Adam (Kingma & Ba, 2015) on one parameter block, ascending.
struct Adam<const R: usize, const C: usize> {
    first: SMatrix<f64, R, C>,
    second: SMatrix<f64, R, C>,
}

impl<const R: usize, const C: usize> Adam<R, C> {
    fn new() -> Self {
        Adam { first: SMatrix::zeros(), second: SMatrix::zeros() }
    }

    fn ascend(
        &mut self,
        parameter: &mut SMatrix<f64, R, C>,
        gradient: &SMatrix<f64, R, C>,
        step: usize,
        rate: f64,
    ) {
        let (beta1, beta2, epsilon) = (0.9, 0.999, 1e-8);
        self.first = self.first * beta1 + gradient * (1.0 - beta1);
        self.second = self.second * beta2 + gradient.component_mul(gradient) * (1.0 - beta2);
        let correction1 = 1.0 - libm::pow(beta1, step as f64);
        let correction2 = 1.0 - libm::pow(beta2, step as f64);
        for ((p, m), v) in parameter.iter_mut().zip(self.first.iter()).zip(self.second.iter()) {
            *p += rate * (m / correction1) / (libm::sqrt(v / correction2) + epsilon);
        }
    }
}

/// The guide's unconstrained parameters: μ and θ (lower triangle; diagonal through softplus).
pub struct Guide<const D: usize> {
    loc: SVector<f64, D>,
    theta: SMatrix<f64, D, D>,
}

impl<const D: usize> Guide<D> {
    /// N(0, I) to start.
    pub fn standard() -> Self {
        Guide {
            loc: SVector::zeros(),
            theta: SMatrix::from_diagonal_element(softplus_inverse(1.0)),
        }
    }

    pub fn distribution(&self) -> Result<OmtMvn<f64, D>, Error> {
        let scale_tril = SMatrix::from_fn(|i, j| {
            let theta = self.theta[(i, j)];
            if i == j {
                softplus(theta)
            } else if i > j {
                theta
            } else {
                0.0
            }
        });
        OmtMvn::new(self.loc, scale_tril)
    }
}

/// One SVI step: draws `n` samples, returns the ELBO estimate and the gradient with respect to
/// (μ, L) of the ELBO (score vjp + entropy gradient).
pub fn elbo_gradient<const D: usize, R: omt_mvn::rand_core::Rng>(
    guide: &OmtMvn<f64, D>,
    target: &Target<D>,
    estimator: Estimator,
    n: usize,
    rng: &mut R,
) -> Result<(f64, Grads<f64, D>), Error> {
    let mut accumulator = guide.vjp_accumulator();
    let mut reparam_samples = Vec::new();
    let mut reparam_grads = Vec::new();
    let mut log_density = 0.0;
    for _ in 0..n {
        let sample = guide.rsample(rng);
        let grad_value = target.score(&sample.value) / n as f64;
        log_density += target.posterior.log_prob(&sample.value) / n as f64;
        match estimator {
            Estimator::Omt => accumulator.push(&sample, &grad_value),
            Estimator::Reparam => {
                reparam_samples.push(sample);
                reparam_grads.push(grad_value);
            }
        }
    }
    let mut grads = match estimator {
        Estimator::Omt => accumulator.finish()?,
        Estimator::Reparam => guide.reparam_vjp(&reparam_samples, &reparam_grads)?,
    };
    grads.scale_tril += guide.entropy_grad_scale_tril();
    Ok((log_density + guide.entropy(), grads))
}

/// Runs SVI from N(0, I) and reports how fast KL(q ‖ p) fell.
pub fn run<const D: usize>(
    target: &Target<D>,
    estimator: Estimator,
    config: &Config,
) -> Result<Report, Error> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(config.seed);
    let mut guide = Guide::<D>::standard();
    let (mut adam_loc, mut adam_theta) = (Adam::<D, 1>::new(), Adam::<D, D>::new());
    let mut steps_to_threshold = None;
    let tail_start = config.steps - config.steps / 10;
    let mut tail_kl = 0.0;
    for step in 1..=config.steps {
        let distribution = guide.distribution()?;
        let (elbo, grads) =
            elbo_gradient(&distribution, target, estimator, config.samples_per_step, &mut rng)?;
        // Chain rule into θ: off-diagonal entries are L itself, the diagonal goes through softplus.
        let theta_grad = SMatrix::<f64, D, D>::from_fn(|i, j| {
            if i == j {
                grads.scale_tril[(i, i)] * sigmoid(guide.theta[(i, i)])
            } else {
                grads.scale_tril[(i, j)]
            }
        });
        // A decaying step size (∝ 1/t after a warm period) lets the iterates settle below the
        // noise floor a constant one leaves.
        let rate = config.learning_rate / (1.0 + step as f64 / 500.0);
        adam_loc.ascend(&mut guide.loc, &grads.loc, step, rate);
        adam_theta.ascend(&mut guide.theta, &theta_grad, step, rate);
        let kl = target.kl_from(&guide.distribution()?);
        if steps_to_threshold.is_none() && kl < config.kl_threshold {
            steps_to_threshold = Some(step);
        }
        if step > tail_start {
            tail_kl += kl / (config.steps - tail_start) as f64;
        }
        if let Some(every) = config.report_every
            && (step % every == 0 || step == 1)
        {
            println!("  step {step:5}   ELBO ≈ {elbo:9.4}   KL(q ‖ p) = {kl:.5}");
        }
    }
    Ok(Report { steps_to_threshold, final_kl: tail_kl })
}

fn compare<const D: usize>() -> Result<(), Error> {
    let target = Target::<D>::correlated();
    let config = Config::default();
    println!(
        "SVI on a correlated {D}-D Gaussian: {} steps of {} samples, Adam lr {}, from N(0, I); KL(q ‖ p) = {:.3} at the start",
        config.steps,
        config.samples_per_step,
        config.learning_rate,
        target.kl_from(&Guide::<D>::standard().distribution()?),
    );
    println!("OMT gradients, seed 1:");
    let start = Instant::now();
    let first = run(&target, Estimator::Omt, &Config { report_every: Some(1000), ..config })?;
    let reached = match first.steps_to_threshold {
        Some(steps) => format!("KL below {} after {steps} steps", config.kl_threshold),
        None => format!("KL not below {} in {} steps", config.kl_threshold, config.steps),
    };
    println!("  ({:.2} s; {reached})", start.elapsed().as_secs_f64());

    let seeds = 1..=5u64;
    println!("\nOMT against plain reparameterization, same seeds {seeds:?}:");
    println!(
        "  estimator   mean steps to KL < {}   mean final KL   runs reaching it",
        config.kl_threshold
    );
    for estimator in [Estimator::Omt, Estimator::Reparam] {
        let reports: Vec<Report> = seeds
            .clone()
            .map(|seed| run(&target, estimator, &Config { seed, ..config }))
            .collect::<Result<_, _>>()?;
        let reached: Vec<usize> = reports.iter().filter_map(|r| r.steps_to_threshold).collect();
        let mean_steps = reached.iter().sum::<usize>() as f64 / reached.len().max(1) as f64;
        let mean_kl = reports.iter().map(|r| r.final_kl).sum::<f64>() / reports.len() as f64;
        println!(
            "  {:9}   {:27.0}   {:13.5}   {}/{}",
            format!("{estimator:?}"),
            mean_steps,
            mean_kl,
            reached.len(),
            reports.len()
        );
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let dimension: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    match dimension {
        2 => compare::<2>(),
        4 => compare::<4>(),
        16 => compare::<16>(),
        _ => compare::<8>(),
    }
}
