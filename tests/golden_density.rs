//! `log_prob` and `entropy` against the golden file (torch's float64 values and 50-digit ones).

mod common;

use common::{Case, golden_cases, vector};
use omt_mvn::Real;

/// `log_prob` may be off from the exact value by this many κ·u times the sum of the magnitudes
/// of its terms: the density of an ill-conditioned normal is itself ill-conditioned in x.
const LOG_PROB_BOUND_IN_KAPPA_U: f64 = 32.0;
/// Agreement with torch's float64 `log_prob` where κ < 100 (both are then accurate to ~1e-15).
const LOG_PROB_TORCH_RELATIVE: f64 = 1e-12;
/// `entropy` is a sum of D logarithms: relative error of a few u.
const ENTROPY_RELATIVE: f64 = 1e-14;

/// ½‖y‖² + Σ|ln Lᵢᵢ| + ½·D·ln 2π at the stored x0, with ½‖y‖² taken from the exact log density.
fn term_magnitude(case: &Case) -> f64 {
    let log_det: f64 = (0..case.dim).map(|i| case.scale_tril[i][i].ln()).sum();
    let constant = 0.5 * case.dim as f64 * (2.0 * std::f64::consts::PI).ln();
    let half_norm_squared = -(case.log_prob_x0_exact + log_det + constant);
    let log_det_magnitude: f64 = (0..case.dim).map(|i| case.scale_tril[i][i].ln().abs()).sum();
    half_norm_squared.abs() + log_det_magnitude + constant
}

fn check_density<T: Real, const D: usize>(case: &Case) {
    let mvn = case.mvn::<T, D>();
    let log_prob = mvn.log_prob(&vector(&case.x0)).to_f64();
    let terms = term_magnitude(case);
    let bound = LOG_PROB_BOUND_IN_KAPPA_U * case.kappa * T::UNIT_ROUNDOFF.to_f64() * terms;
    let error = (log_prob - case.log_prob_x0_exact).abs();
    assert!(error <= bound, "{}: log_prob off by {error:e} > {bound:e}", case.id);
    if case.kappa < 100.0 {
        let relative = (log_prob - case.log_prob_x0).abs() / case.log_prob_x0.abs();
        assert!(relative <= LOG_PROB_TORCH_RELATIVE, "{}: {relative:e} from torch", case.id);
    }
    let relative = (mvn.entropy().to_f64() - case.entropy).abs() / case.entropy.abs();
    assert!(relative <= ENTROPY_RELATIVE, "{}: entropy off by {relative:e}", case.id);
}

#[test]
fn log_prob_and_entropy_match_golden_values_in_f64() {
    for case in golden_cases() {
        with_dim!(case.dim, check_density::<f64>(&case));
    }
}

fn check_density_narrow<T: Real, const D: usize>(case: &Case) {
    // Rounding the inputs to f32 moves the density by far more than f32 arithmetic does (by
    // u·|x0 − loc|/s_min through the subtraction), so f32 is checked against the f64 code path,
    // itself checked above, on the same rounded inputs.
    let narrow = case.mvn::<T, D>();
    let wide = omt_mvn::OmtMvn::<f64, D>::new(
        narrow.loc().map(T::to_f64),
        narrow.scale_tril().map(T::to_f64),
    )
    .unwrap();
    let x0 = vector::<T, D>(&case.x0);
    let reference = wide.log_prob(&x0.map(T::to_f64));
    let log_det: f64 = wide.scale_tril().diagonal().iter().map(|d| d.ln().abs()).sum();
    let terms = (reference + log_det).abs() + 2.0 * log_det + D as f64;
    let unit = T::UNIT_ROUNDOFF.to_f64();
    if case.kappa * unit < 1e-2 {
        let bound = LOG_PROB_BOUND_IN_KAPPA_U * case.kappa * unit * terms;
        let error = (narrow.log_prob(&x0).to_f64() - reference).abs();
        assert!(error <= bound, "{}: f32 log_prob off by {error:e} > {bound:e}", case.id);
    }
    let entropy_error = (narrow.entropy().to_f64() - wide.entropy()).abs();
    assert!(
        entropy_error <= 4.0 * D as f64 * unit * (log_det + D as f64),
        "{}: f32 entropy",
        case.id
    );
}

#[test]
fn log_prob_and_entropy_match_golden_values_in_f32() {
    for case in golden_cases() {
        with_dim!(case.dim, check_density_narrow::<f32>(&case));
    }
}
