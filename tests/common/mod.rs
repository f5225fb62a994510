//! Shared test helpers: the golden-vector loader and a dispatcher from a runtime dimension to the
//! const generic one.
#![allow(dead_code)]

pub mod factors;

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::{OmtMvn, Real, Sample};
use serde::Deserialize;

/// Reference gradients as stored in the golden file.
#[derive(Deserialize, Clone, Debug)]
pub struct GradsRef {
    pub loc_grad: Vec<f64>,
    pub scale_tril_grad: Vec<Vec<f64>>,
}

/// What Pyro returned: null entries where its result was not finite, `error` where it raised.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct PyroRef {
    #[serde(default)]
    pub loc_grad: Vec<Option<f64>>,
    #[serde(default)]
    pub scale_tril_grad: Vec<Vec<Option<f64>>>,
    #[serde(default)]
    pub error: Option<String>,
}

impl PyroRef {
    /// The scale_tril gradient, if Pyro returned a finite one.
    pub fn finite_scale_tril_grad(&self) -> Option<Vec<Vec<f64>>> {
        if self.error.is_some() || self.scale_tril_grad.is_empty() {
            return None;
        }
        self.scale_tril_grad.iter().map(|row| row.iter().copied().collect()).collect()
    }
}

/// One golden case (see tests/data/GOLDEN.md).
#[derive(Deserialize, Clone, Debug)]
pub struct Case {
    pub id: String,
    pub dim: usize,
    pub family: String,
    pub n: usize,
    pub kappa: f64,
    pub loc: Vec<f64>,
    pub scale_tril: Vec<Vec<f64>>,
    pub eps: Vec<Vec<f64>>,
    pub grad_out: Vec<Vec<f64>>,
    pub exact: GradsRef,
    pub pyro_f64: PyroRef,
    pub pyro_f32: PyroRef,
    pub x0: Vec<f64>,
    pub log_prob_x0: f64,
    pub entropy: f64,
    pub log_prob_x0_exact: f64,
}

#[derive(Deserialize)]
struct GoldenFile {
    cases: Vec<Case>,
}

/// All 228 golden cases, parsed with full precision (serde_json's `float_roundtrip`).
pub fn golden_cases() -> Vec<Case> {
    let text = include_str!("../data/omt_vjp.json");
    let file: GoldenFile = serde_json::from_str(text).expect("golden file parses");
    assert_eq!(file.cases.len(), 228);
    file.cases
}

pub fn vector<T: Real, const D: usize>(values: &[f64]) -> SVector<T, D> {
    assert_eq!(values.len(), D);
    SVector::from_fn(|i, _| T::from_f64_rounded(values[i]))
}

pub fn matrix<T: Real, const D: usize>(rows: &[Vec<f64>]) -> SMatrix<T, D, D> {
    assert_eq!(rows.len(), D);
    SMatrix::from_fn(|i, j| T::from_f64_rounded(rows[i][j]))
}

impl Case {
    pub fn mvn<T: Real, const D: usize>(&self) -> OmtMvn<T, D> {
        OmtMvn::new(vector(&self.loc), matrix(&self.scale_tril)).expect("golden L is valid")
    }

    pub fn samples<T: Real, const D: usize>(&self) -> Vec<Sample<T, D>> {
        let mvn = self.mvn::<T, D>();
        self.eps.iter().map(|e| mvn.reparameterize(vector(e))).collect()
    }

    pub fn grad_values<T: Real, const D: usize>(&self) -> Vec<SVector<T, D>> {
        self.grad_out.iter().map(|g| vector(g)).collect()
    }

    /// max_ab Σ_j |g_ja ε_jb|: the size of the terms summed into A, so that a cancelling sum is
    /// not held against the implementation.
    pub fn term_magnitude(&self) -> f64 {
        let mut worst: f64 = 0.0;
        for a in 0..self.dim {
            for b in 0..self.dim {
                let sum: f64 =
                    self.eps.iter().zip(&self.grad_out).map(|(e, g)| (g[a] * e[b]).abs()).sum();
                worst = worst.max(sum);
            }
        }
        worst
    }

    /// The golden error measure: max-abs difference from `reference`, divided by the larger of
    /// max|reference| and the term magnitude.
    pub fn scale_tril_error<T: Real, const D: usize>(
        &self,
        got: &SMatrix<T, D, D>,
        reference: &[Vec<f64>],
    ) -> f64 {
        let mut diff: f64 = 0.0;
        let mut size: f64 = 0.0;
        for i in 0..D {
            for j in 0..D {
                diff = diff.max((got[(i, j)].to_f64() - reference[i][j]).abs());
                size = size.max(reference[i][j].abs());
            }
        }
        diff / size.max(self.term_magnitude())
    }
}

/// Calls `$f::<$t, D>($args)` with D equal to the runtime dimension `$dim` (the golden dims).
#[macro_export]
macro_rules! with_dim {
    ($dim:expr, $f:ident::<$t:ty>($($arg:expr),*)) => {
        match $dim {
            1 => $f::<$t, 1>($($arg),*),
            2 => $f::<$t, 2>($($arg),*),
            3 => $f::<$t, 3>($($arg),*),
            4 => $f::<$t, 4>($($arg),*),
            5 => $f::<$t, 5>($($arg),*),
            6 => $f::<$t, 6>($($arg),*),
            8 => $f::<$t, 8>($($arg),*),
            12 => $f::<$t, 12>($($arg),*),
            16 => $f::<$t, 16>($($arg),*),
            other => panic!("no golden dimension {other}"),
        }
    };
}

/// ‖M‖_F in f64, the squares summed by Kahan's compensated summation (within 2·u), so that an
/// f64 result the crate has put within a few u of the norm bound is judged right.
pub fn frobenius<T: Real, const D: usize>(matrix: &SMatrix<T, D, D>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for x in matrix.iter() {
        let term = x.to_f64().powi(2) - compensation;
        let next = sum + term;
        compensation = (next - sum) - term;
        sum = next;
    }
    sum.sqrt()
}

/// A = Σⱼ gⱼ·εⱼᵀ as the crate accumulates it: in T, in sample order (to the same bits). The norm
/// bound is a property of the finish, so it is checked against the statistic the finish got:
/// under cancellation any other evaluation of A can differ from it by far more than 8·D·u.
pub fn outer_sum_as_accumulated<T: Real, const D: usize>(
    samples: &[Sample<T, D>],
    grad_values: &[SVector<T, D>],
) -> SMatrix<T, D, D> {
    let mut sum = SMatrix::<T, D, D>::zeros();
    for (sample, grad) in samples.iter().zip(grad_values) {
        sum += grad * sample.noise.transpose();
    }
    sum
}

/// The contract of every OMT result, checked without a reference: `Ok` is a finite,
/// lower-triangular gradient with ‖G‖_F ≤ ‖A‖_F·(1 + 8·D·u) (the bound of tests/data/GOLDEN.md);
/// the only error a valid L and a finite batch may give is `IllConditioned`. Returns whether the
/// result was `Ok`.
pub fn assert_bounded_or_ill_conditioned<T: Real, const D: usize>(
    label: &str,
    result: &Result<omt_mvn::Grads<T, D>, omt_mvn::Error>,
    samples: &[Sample<T, D>],
    grad_values: &[SVector<T, D>],
) -> bool {
    let grads = match result {
        Ok(grads) => grads,
        Err(omt_mvn::Error::IllConditioned) => return false,
        Err(e) => panic!("{label}: unexpected error {e}"),
    };
    let g = &grads.scale_tril;
    assert!(g.iter().chain(grads.loc.iter()).all(|x| x.is_finite_value()), "{label}: not finite");
    for i in 0..D {
        for j in i + 1..D {
            assert_eq!(g[(i, j)], T::zero(), "{label}: upper triangle");
        }
    }
    let a = frobenius(&outer_sum_as_accumulated(samples, grad_values));
    let slack = 1.0 + 8.0 * D as f64 * T::UNIT_ROUNDOFF.to_f64();
    assert!(frobenius(g) <= a * slack, "{label}: ‖G‖_F / ‖A‖_F = {:e}", frobenius(g) / a);
    true
}
