//! Stochastic variational inference with an OMT guide, on the library's `svi` API.
//!
//! The model is a correlated D-dimensional Gaussian p(x) = N(m, Σ*), whose log density and score
//! ∇log p(x) = −Σ*⁻¹(x − m) are analytic: the user's whole part is [`Target::model`]. Because
//! the posterior is known, the KL divergence KL(q ‖ p) from the guide can be printed as the
//! optimization runs. The guide starts at N(0, I), with `scale_tril` through
//! `SoftplusLowerCholesky`, and ClippedAdam (Pyro's SVI default) moves it.
//!
//! Every run is repeated on the same seeds with cold OMT finishes (each step decomposing L from
//! scratch, where by default it starts from the previous step's), and with the plain
//! reparameterization estimator.
//!
//! Run with `cargo run --release --example svi` (D = 8), `-- 16` for D = 16 (any of 2, 4, 8, 16),
//! and `-- 8 --plot docs/svi.svg` to draw KL(q ‖ p) against steps and against time.

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::optim::ClippedAdam;
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::svi::{Estimator, Guide, Svi};
use omt_mvn::transform::SoftplusLowerCholesky;
use omt_mvn::{Error, OmtMvn};
use std::time::Instant;

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

    /// The standard normal N(0, I).
    pub fn standard() -> Self {
        let posterior = OmtMvn::new(SVector::zeros(), SMatrix::identity()).expect("valid");
        Target { precision: SMatrix::identity(), posterior }
    }

    /// What SVI asks of the user: (log p(x), ∇ₓ log p(x)), the score being −Σ*⁻¹(x − m).
    pub fn model(&self, x: &SVector<f64, D>) -> (f64, SVector<f64, D>) {
        let score = -(self.precision * (x - self.posterior.loc()));
        (self.posterior.log_prob(x), score)
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

/// What one run is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub steps: usize,
    pub num_particles: usize,
    pub learning_rate: f64,
    /// ClippedAdam's learning-rate decay per step: a decaying rate lets the iterates settle below
    /// the noise floor a constant one leaves.
    pub decay: f64,
    pub kl_threshold: f64,
    pub seed: u64,
    /// Whether OMT finishes start warm from the previous step's (the library's default).
    pub warm_start: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            steps: 6000,
            num_particles: 4,
            learning_rate: 0.05,
            decay: 0.999,
            kl_threshold: 0.01,
            seed: 1,
            warm_start: true,
        }
    }
}

/// How one run went: KL(q ‖ p) and the seconds spent in SVI steps so far, after every step.
#[derive(Clone, Debug)]
pub struct Trace {
    pub kl: Vec<f64>,
    pub seconds: Vec<f64>,
}

impl Trace {
    /// First step (counted from 1) after which KL(q ‖ p) < threshold, if any.
    pub fn steps_to(&self, threshold: f64) -> Option<usize> {
        self.kl.iter().position(|&kl| kl < threshold).map(|step| step + 1)
    }

    /// KL(q ‖ p) averaged over the last tenth of the run (the iterates jitter with the noise).
    pub fn final_kl(&self) -> f64 {
        let tail = &self.kl[self.kl.len() - self.kl.len().div_ceil(10)..];
        tail.iter().sum::<f64>() / tail.len() as f64
    }
}

/// SVI from N(0, I); the guide's `scale_tril` through softplus, ClippedAdam on both parameters.
pub fn run<const D: usize>(
    target: &Target<D>,
    estimator: Estimator,
    config: &Config,
) -> Result<Trace, Error> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(config.seed);
    let guide = Guide::new(SVector::zeros(), SMatrix::identity(), SoftplusLowerCholesky)?;
    let (lr, lrd) = (config.learning_rate, config.decay);
    let loc_optimizer = ClippedAdam::new(lr).with_lrd(lrd);
    let theta_optimizer = ClippedAdam::new(lr).with_lrd(lrd);
    let mut svi = Svi::new(guide, loc_optimizer, theta_optimizer)
        .with_estimator(estimator)
        .with_num_particles(config.num_particles)
        .with_warm_start(config.warm_start);
    let mut trace = Trace { kl: Vec::new(), seconds: Vec::new() };
    let mut elapsed = 0.0;
    for _ in 0..config.steps {
        let start = Instant::now();
        svi.step(&mut rng, |x| target.model(x))?;
        elapsed += start.elapsed().as_secs_f64();
        trace.kl.push(target.kl_from(&svi.guide().distribution()?));
        trace.seconds.push(elapsed);
    }
    Ok(trace)
}

fn compare<const D: usize>(plot: Option<&str>) -> Result<(), Error> {
    let target = Target::<D>::correlated();
    let config = Config::default();
    println!(
        "SVI on a correlated {D}-D Gaussian: {} steps of {} particles, ClippedAdam lr {} (decay {}/step), from N(0, I)",
        config.steps, config.num_particles, config.learning_rate, config.decay
    );
    let seeds = 1..=5u64;
    println!("seeds {seeds:?}; KL(q ‖ p) threshold {}", config.kl_threshold);
    println!(
        "  estimator         runs reaching it   mean steps to it   mean final KL   seconds per run"
    );
    let mut traces = Vec::new();
    let variants = [
        ("OMT", Estimator::Omt, true),
        ("OMT, cold finish", Estimator::Omt, false),
        ("plain", Estimator::Reparam, true),
    ];
    for (label, estimator, warm_start) in variants {
        let runs: Vec<Trace> = seeds
            .clone()
            .map(|seed| run(&target, estimator, &Config { seed, warm_start, ..config }))
            .collect::<Result<_, _>>()?;
        let reached: Vec<usize> =
            runs.iter().filter_map(|trace| trace.steps_to(config.kl_threshold)).collect();
        let mean_steps = match reached.len() {
            0 => "never".to_string(),
            n => format!("{:.0}", reached.iter().sum::<usize>() as f64 / n as f64),
        };
        let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len() as f64;
        let final_kl = mean(runs.iter().map(Trace::final_kl).collect());
        let seconds = mean(runs.iter().map(|t| t.seconds.last().copied().unwrap_or(0.0)).collect());
        println!(
            "  {label:16}  {:>16}   {:>16}   {:13.5}   {:15.3}",
            format!("{}/{}", reached.len(), runs.len()),
            mean_steps,
            final_kl,
            seconds
        );
        if warm_start {
            traces.push((estimator, runs));
        }
    }
    if let Some(path) = plot {
        std::fs::write(path, plot::svg(D, &traces)).expect("the plot's path is writable");
        println!("wrote {path}");
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plot = args.iter().position(|a| a == "--plot").and_then(|i| args.get(i + 1));
    let dimension = match args.first().filter(|a| !a.starts_with("--")) {
        None => 8,
        Some(text) => match text.parse::<usize>() {
            Ok(d) => d,
            Err(_) => {
                eprintln!("usage: svi [D] [--plot FILE.svg], D one of 2, 4, 8, 16 (not {text:?})");
                std::process::exit(2);
            }
        },
    };
    match dimension {
        2 => compare::<2>(plot.map(String::as_str)),
        4 => compare::<4>(plot.map(String::as_str)),
        8 => compare::<8>(plot.map(String::as_str)),
        16 => compare::<16>(plot.map(String::as_str)),
        other => {
            eprintln!("svi: built for D = 2, 4, 8 or 16, not {other}");
            std::process::exit(2);
        }
    }
}

/// A two-panel SVG by hand (no plotting dependency): KL(q ‖ p) on a log scale against steps and
/// against seconds, one line per seed, OMT in blue and the plain estimator in orange.
mod plot {
    use super::Trace;
    use omt_mvn::svi::Estimator;
    use std::fmt::Write;

    const WIDTH: f64 = 900.0;
    const HEIGHT: f64 = 360.0;
    const PANEL: f64 = 380.0;
    const TOP: f64 = 40.0;
    const PLOT_HEIGHT: f64 = 260.0;
    const LEFT: [f64; 2] = [60.0, 510.0];
    const KL_RANGE: (f64, f64) = (-3.0, 1.0); // log₁₀ KL

    fn color(estimator: Estimator) -> &'static str {
        match estimator {
            Estimator::Omt => "#1f77b4",
            Estimator::Reparam => "#ff7f0e",
        }
    }

    fn y(kl: f64) -> f64 {
        let log = kl.max(1e-12).log10().clamp(KL_RANGE.0, KL_RANGE.1);
        TOP + PLOT_HEIGHT * (KL_RANGE.1 - log) / (KL_RANGE.1 - KL_RANGE.0)
    }

    fn axes(out: &mut String, left: f64, label: &str, x_max: f64) {
        let bottom = TOP + PLOT_HEIGHT;
        let _ = write!(
            out,
            r#"<rect x="{left}" y="{TOP}" width="{PANEL}" height="{PLOT_HEIGHT}" fill="none" stroke="black"/>"#
        );
        for decade in KL_RANGE.0 as i32..=KL_RANGE.1 as i32 {
            let y = y(10f64.powi(decade));
            let _ = write!(
                out,
                r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" text-anchor="end">1e{decade}</text>"##,
                left + PANEL,
                left - 4.0,
                y + 4.0
            );
        }
        for tick in 0..=4 {
            let x = left + PANEL * tick as f64 / 4.0;
            let value = x_max * tick as f64 / 4.0;
            let text = if x_max >= 100.0 { format!("{value:.0}") } else { format!("{value:.3}") };
            let _ = write!(
                out,
                r#"<text x="{x}" y="{}" font-size="11" text-anchor="middle">{text}</text>"#,
                bottom + 14.0
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{label}</text>"#,
            left + PANEL / 2.0,
            bottom + 32.0
        );
    }

    fn line(out: &mut String, points: impl Iterator<Item = (f64, f64)>, stroke: &str) {
        let mut path = String::new();
        for (x, y) in points {
            let _ = write!(path, "{x:.1},{y:.1} ");
        }
        let _ = write!(
            out,
            r#"<polyline points="{path}" fill="none" stroke="{stroke}" stroke-width="1" opacity="0.8"/>"#
        );
    }

    /// One point in every `stride` steps keeps the file small.
    pub fn svg(dimension: usize, traces: &[(Estimator, Vec<Trace>)]) -> String {
        let steps = traces.iter().flat_map(|(_, runs)| runs.iter().map(|t| t.kl.len())).max();
        let steps = steps.unwrap_or(1).max(1) as f64;
        let seconds = traces
            .iter()
            .flat_map(|(_, runs)| runs.iter().filter_map(|t| t.seconds.last().copied()))
            .fold(1e-9, f64::max);
        let mut out = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif">"#
        );
        let _ = write!(
            out,
            r#"<text x="{}" y="20" font-size="14" text-anchor="middle">KL(q ‖ p) during SVI on a correlated {dimension}-D Gaussian: OMT (blue) and plain reparameterization (orange), 5 seeds</text>"#,
            WIDTH / 2.0
        );
        axes(&mut out, LEFT[0], "SVI steps", steps);
        axes(&mut out, LEFT[1], "seconds (SVI steps only, release build)", seconds);
        for (estimator, runs) in traces {
            for trace in runs {
                let stride = (trace.kl.len() / 250).max(1);
                let picked = || trace.kl.iter().zip(&trace.seconds).enumerate().step_by(stride);
                let by_step = picked()
                    .map(|(step, (&kl, _))| (LEFT[0] + PANEL * (step + 1) as f64 / steps, y(kl)));
                line(&mut out, by_step, color(*estimator));
                let by_time =
                    picked().map(|(_, (&kl, &time))| (LEFT[1] + PANEL * time / seconds, y(kl)));
                line(&mut out, by_time, color(*estimator));
            }
        }
        out.push_str("</svg>\n");
        out
    }
}
