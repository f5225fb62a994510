//! The measured story behind the crate: per-sample gradient variance of OMT against the plain
//! reparameterization estimator, and accuracy against κ(L) compared with Pyro.
//!
//! Run with `cargo run --release --example variance`. It prints both tables and writes
//! `docs/variance.svg` and `docs/accuracy.svg` (plain SVG written here, no plotting crate).

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, OmtMvn, Real};
use std::fmt::Write as _;

const SAMPLES: usize = 20_000;

/// The analytic test functions of the math note, by their gradient ∇f(x).
#[derive(Clone, Copy)]
enum TestFunction {
    Cosine,
    Quadratic,
    Exponential,
    GaussianTarget,
}

impl TestFunction {
    const ALL: [TestFunction; 4] =
        [Self::Cosine, Self::Quadratic, Self::Exponential, Self::GaussianTarget];

    fn name(self) -> &'static str {
        match self {
            Self::Cosine => "cos(ωᵀx)",
            Self::Quadratic => "½xᵀQx",
            Self::Exponential => "exp(ωᵀx)",
            Self::GaussianTarget => "log N(x | m, P⁻¹)",
        }
    }

    fn gradient<const D: usize>(self, x: &SVector<f64, D>) -> SVector<f64, D> {
        let omega = SVector::<f64, D>::from_fn(|i, _| {
            0.6 * libm::cos(1.0 + 2.0 * i as f64) / libm::sqrt(D as f64)
        });
        let matrix =
            SMatrix::<f64, D, D>::from_fn(
                |i, j| if i == j { 1.5 } else { 0.4 / (1.0 + (i + j) as f64) },
            );
        match self {
            Self::Cosine => -omega * libm::sin(omega.dot(x)),
            Self::Quadratic => matrix * x,
            Self::Exponential => omega * libm::exp(omega.dot(x)),
            Self::GaussianTarget => -(matrix * (x - SVector::repeat(0.5))),
        }
    }
}

/// A lower-triangular factor with mixed-sign off-diagonal entries and κ of a few.
fn scale_tril<const D: usize>() -> SMatrix<f64, D, D> {
    SMatrix::from_fn(|i, j| {
        if i == j {
            0.6 + 0.4 * libm::cos(i as f64)
        } else if i > j {
            0.3 * libm::sin(1.0 + (5 * i + 3 * j) as f64)
        } else {
            0.0
        }
    })
}

/// Var(OMT)/Var(reparam) of the per-sample scale_tril gradient, summed over the entries of L.
fn variance_ratio<const D: usize>(function: TestFunction) -> f64 {
    let mvn = OmtMvn::new(SVector::<f64, D>::zeros(), scale_tril::<D>()).expect("valid L");
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(2018);
    let mut moments = [(SMatrix::<f64, D, D>::zeros(), SMatrix::<f64, D, D>::zeros()); 2];
    for _ in 0..SAMPLES {
        let sample = mvn.rsample(&mut rng);
        let grad_value = function.gradient(&sample.value);
        let omt = mvn.vjp(&[sample], &[grad_value]).expect("finite").scale_tril;
        let reparam = mvn.reparam_vjp(&[sample], &[grad_value]).expect("finite").scale_tril;
        for ((sum, squares), g) in moments.iter_mut().zip([omt, reparam]) {
            *sum += g;
            *squares += g.component_mul(&g);
        }
    }
    let total_variance = |(sum, squares): (SMatrix<f64, D, D>, SMatrix<f64, D, D>)| {
        let mean = sum / SAMPLES as f64;
        (squares / SAMPLES as f64 - mean.component_mul(&mean)).sum()
    };
    total_variance(moments[0]) / total_variance(moments[1])
}

fn variance_table() -> Vec<(String, Vec<f64>)> {
    println!(
        "Var(OMT)/Var(reparam), per-sample scale_tril gradient summed over L, {SAMPLES} samples"
    );
    println!("  {:20} {:>7} {:>7} {:>7} {:>7}", "f", "D = 2", "4", "8", "16");
    let mut rows = Vec::new();
    for function in TestFunction::ALL {
        let ratios = vec![
            variance_ratio::<2>(function),
            variance_ratio::<4>(function),
            variance_ratio::<8>(function),
            variance_ratio::<16>(function),
        ];
        println!(
            "  {:20} {:7.3} {:7.3} {:7.3} {:7.3}",
            function.name(),
            ratios[0],
            ratios[1],
            ratios[2],
            ratios[3]
        );
        rows.push((function.name().to_string(), ratios));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Accuracy against the golden file.

#[derive(serde::Deserialize)]
struct GoldenFile {
    cases: Vec<GoldenCase>,
}

#[derive(serde::Deserialize)]
struct GoldenCase {
    dim: usize,
    kappa: f64,
    scale_tril: Vec<Vec<f64>>,
    loc: Vec<f64>,
    eps: Vec<Vec<f64>>,
    grad_out: Vec<Vec<f64>>,
    exact: Reference,
    pyro_f64: PyroReference,
    pyro_f32: PyroReference,
}

#[derive(serde::Deserialize)]
struct Reference {
    scale_tril_grad: Vec<Vec<f64>>,
}

#[derive(serde::Deserialize, Default)]
struct PyroReference {
    #[serde(default)]
    scale_tril_grad: Vec<Vec<Option<f64>>>,
}

/// max|got − exact| / max|exact| (∞ where `got` is missing or not finite; NaN where omt-mvn
/// refused the case as `Error::IllConditioned`, which is counted apart rather than as a failure).
fn relative_error(got: &[Vec<Option<f64>>], exact: &[Vec<f64>]) -> f64 {
    if got.first().is_some_and(|row| row.is_empty()) {
        return f64::NAN;
    }
    let size = exact.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut worst = 0.0f64;
    for (row, exact_row) in got.iter().zip(exact) {
        for (g, e) in row.iter().zip(exact_row) {
            match g {
                Some(g) if g.is_finite() => worst = worst.max((g - e).abs()),
                _ => return f64::INFINITY,
            }
        }
    }
    if got.is_empty() { f64::INFINITY } else { worst / size }
}

fn ours<T: Real, const D: usize>(case: &GoldenCase) -> Vec<Vec<Option<f64>>> {
    let vector = |v: &[f64]| SVector::<T, D>::from_fn(|i, _| T::from_f64_rounded(v[i]));
    let scale_tril = SMatrix::<T, D, D>::from_fn(|i, j| T::from_f64_rounded(case.scale_tril[i][j]));
    let Ok(mvn) = OmtMvn::new(vector(&case.loc), scale_tril) else { return Vec::new() };
    let samples: Vec<_> = case.eps.iter().map(|e| mvn.reparameterize(vector(e))).collect();
    let grads: Vec<_> = case.grad_out.iter().map(|g| vector(g)).collect();
    match mvn.vjp(&samples, &grads) {
        Ok(g) => {
            (0..D).map(|i| (0..D).map(|j| Some(g.scale_tril[(i, j)].to_f64())).collect()).collect()
        }
        Err(Error::IllConditioned) => vec![Vec::new()],
        Err(_) => Vec::new(),
    }
}

fn ours_dispatch<T: Real>(case: &GoldenCase) -> Vec<Vec<Option<f64>>> {
    match case.dim {
        1 => ours::<T, 1>(case),
        2 => ours::<T, 2>(case),
        3 => ours::<T, 3>(case),
        4 => ours::<T, 4>(case),
        5 => ours::<T, 5>(case),
        6 => ours::<T, 6>(case),
        8 => ours::<T, 8>(case),
        12 => ours::<T, 12>(case),
        _ => ours::<T, 16>(case),
    }
}

/// (κ, error) per golden case for this crate and for Pyro, in f64 and f32.
/// One scatter series: name, colour, (κ, error) points.
type Series = (&'static str, &'static str, Vec<(f64, f64)>);

fn accuracy_points() -> Vec<Series> {
    let text = std::fs::read_to_string("tests/data/omt_vjp.json").expect("run from the crate root");
    let file: GoldenFile = serde_json::from_str(&text).expect("golden file parses");
    let mut series = vec![
        ("omt-mvn f64", "#1f77b4", Vec::new()),
        ("Pyro f64", "#d62728", Vec::new()),
        ("omt-mvn f32", "#2ca02c", Vec::new()),
        ("Pyro f32", "#ff7f0e", Vec::new()),
    ];
    for case in &file.cases {
        let errors = [
            relative_error(&ours_dispatch::<f64>(case), &case.exact.scale_tril_grad),
            relative_error(&case.pyro_f64.scale_tril_grad, &case.exact.scale_tril_grad),
            relative_error(&ours_dispatch::<f32>(case), &case.exact.scale_tril_grad),
            relative_error(&case.pyro_f32.scale_tril_grad, &case.exact.scale_tril_grad),
        ];
        for ((_, _, points), error) in series.iter_mut().zip(errors) {
            points.push((case.kappa, error));
        }
    }
    println!(
        "\nscale_tril gradient error against the exact references (median / max over the cases \
         given a gradient; [k] = k cases refused as IllConditioned)"
    );
    println!(
        "  {:14} {:>21} {:>21} {:>21} {:>21}",
        "κ(L)", "omt-mvn f64", "Pyro f64", "omt-mvn f32", "Pyro f32"
    );
    for (low, high) in
        [(1.0, 10.0), (10.0, 1e2), (1e2, 1e3), (1e3, 1e4), (1e4, 1e6), (1e6, f64::INFINITY)]
    {
        let mut line = format!("  {:14}", format!("{low:.0e} – {high:.0e}"));
        for (_, _, points) in &series {
            let in_bin = points.iter().filter(|(k, _)| *k >= low && *k < high);
            let (refused, mut errors): (Vec<f64>, Vec<f64>) =
                in_bin.map(|(_, e)| *e).partition(|e| e.is_nan());
            errors.sort_by(f64::total_cmp);
            let median = errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN);
            let max = errors.last().copied().unwrap_or(f64::NAN);
            let refused =
                if refused.is_empty() { String::new() } else { format!("[{}]", refused.len()) };
            let _ = write!(line, " {:>10.1e} / {:<8.1e}{refused:5}", median, max);
        }
        println!("{line}");
    }
    series
}

// ---------------------------------------------------------------------------------------------
// Minimal SVG charts.

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const MARGIN: (f64, f64, f64, f64) = (70.0, 20.0, 40.0, 60.0); // left, right, top, bottom

fn svg_header(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n",
        WIDTH / 2.0
    )
}

/// A legend box at `x` (left edge of its swatches), from the top of the plot down.
fn legend(svg: &mut String, x: f64, entries: &[(&str, &str)]) {
    for (k, (name, color)) in entries.iter().enumerate() {
        let y = MARGIN.2 + 14.0 + 18.0 * k as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/>",
            y - 10.0
        );
        let _ = writeln!(svg, "<text x=\"{}\" y=\"{y}\">{name}</text>", x + 18.0);
    }
}

fn write_variance_chart(rows: &[(String, Vec<f64>)]) -> std::io::Result<()> {
    let mut svg =
        svg_header("Var(OMT) / Var(reparam) of the scale_tril gradient (lower is better)");
    let (left, right, top, bottom) = MARGIN;
    let plot_width = WIDTH - left - right;
    let plot_height = HEIGHT - top - bottom;
    let y_of = |ratio: f64| top + plot_height * (1.0 - ratio / 1.4);
    for tick in [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4] {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>",
            WIDTH - right
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{tick:.1}</text>",
            left - 6.0,
            y + 4.0
        );
    }
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];
    let dims = ["D = 2", "D = 4", "D = 8", "D = 16"];
    let group_width = plot_width / dims.len() as f64;
    let bar_width = group_width * 0.8 / rows.len() as f64;
    for (g, dim) in dims.iter().enumerate() {
        let x0 = left + group_width * g as f64 + group_width * 0.1;
        for (r, (_, ratios)) in rows.iter().enumerate() {
            let x = x0 + bar_width * r as f64;
            let y = y_of(ratios[g]);
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                bar_width * 0.9,
                top + plot_height - y,
                colors[r % colors.len()]
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{dim}</text>",
            x0 + group_width * 0.4,
            HEIGHT - bottom + 20.0
        );
    }
    let one = y_of(1.0);
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{one}\" y2=\"{one}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>",
        WIDTH - right
    );
    let names: Vec<(&str, &str)> =
        rows.iter().zip(colors).map(|((name, _), c)| (name.as_str(), c)).collect();
    legend(&mut svg, WIDTH - MARGIN.1 - 150.0, &names);
    svg.push_str("</svg>\n");
    std::fs::create_dir_all("docs")?;
    std::fs::write("docs/variance.svg", svg)
}

fn write_accuracy_chart(series: &[Series]) -> std::io::Result<()> {
    let mut svg =
        svg_header("scale_tril gradient error vs κ(L), 228 golden cases (50-digit reference)");
    let (left, right, top, bottom) = MARGIN;
    let (x_min, x_max, y_min, y_max) = (0.0, 25.0, -17.0, 3.0); // log10 ranges
    let x_of =
        |kappa: f64| left + (WIDTH - left - right) * (kappa.log10() - x_min) / (x_max - x_min);
    let y_of = |error: f64| {
        let e = error.max(1e-17).log10().min(y_max);
        top + (HEIGHT - top - bottom) * (1.0 - (e - y_min) / (y_max - y_min))
    };
    for decade in (x_min as i32..=x_max as i32).step_by(5) {
        let x = x_of(10f64.powi(decade));
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"{top}\" y2=\"{}\" stroke=\"#ddd\"/>",
            HEIGHT - bottom
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">1e{decade}</text>",
            HEIGHT - bottom + 18.0
        );
    }
    for decade in (y_min as i32..=y_max as i32).step_by(4) {
        let y = y_of(10f64.powi(decade));
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>",
            WIDTH - right
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{decade}</text>",
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">κ(L)</text>",
        WIDTH / 2.0,
        HEIGHT - 12.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">relative error (capped at 1e3; ∞ = non-finite; omt-mvn refusals not drawn)</text>",
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    for (_, color, points) in series {
        // Refused cases (NaN) have no error to plot.
        for &(kappa, error) in points.iter().filter(|(_, error)| !error.is_nan()) {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\" fill-opacity=\"0.7\"/>",
                x_of(kappa),
                y_of(error)
            );
        }
    }
    let entries: Vec<(&str, &str)> =
        series.iter().map(|(name, color, _)| (*name, *color)).collect();
    legend(&mut svg, MARGIN.0 + 14.0, &entries);
    svg.push_str("</svg>\n");
    std::fs::write("docs/accuracy.svg", svg)
}

fn main() -> std::io::Result<()> {
    let rows = variance_table();
    write_variance_chart(&rows)?;
    let series = accuracy_points();
    write_accuracy_chart(&series)?;
    println!("\nwrote docs/variance.svg and docs/accuracy.svg");
    Ok(())
}
