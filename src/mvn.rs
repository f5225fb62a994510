//! The distribution: a multivariate normal N(loc, L·Lᵀ) given by its Cholesky factor L.

use crate::linalg::cholesky::cholesky;
use crate::linalg::triangular::{solve_lower, solve_lower_transpose};
use crate::linalg::{all_finite, first_non_finite, unit_vector};
use crate::normal::standard_normal_vector;
use crate::{Error, Real};
use nalgebra::{SMatrix, SVector};
use rand_core::Rng;

/// A multivariate normal distribution N(μ, Σ) with Σ = L·Lᵀ, L lower-triangular with a
/// positive diagonal (`scale_tril`, as in torch and Pyro), whose reparameterized samples carry
/// optimal-mass-transport (OMT) gradients.
///
/// The density is
///
/// ```text
/// log p(x) = −½‖L⁻¹(x − μ)‖² − Σᵢ ln Lᵢᵢ − ½·D·ln 2π
/// ```
///
/// and a sample is x = μ + L·ε with ε ~ N(0, I). The backward passes ([`OmtMvn::vjp`],
/// [`OmtMvn::reparam_vjp`], [`OmtMvn::vjp_accumulator`]) turn upstream gradients ∂ℓ/∂x into
/// gradients with respect to `loc` and `scale_tril`.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
/// let mvn = OmtMvn::new(Vector2::new(1.0, -1.0), Matrix2::new(2.0, 0.0, 0.5, 1.0))?;
/// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
/// let sample = mvn.rsample(&mut rng);
/// assert_eq!(sample.value, mvn.loc() + mvn.scale_tril() * sample.noise);
/// assert!(mvn.log_prob(&sample.value) < 0.0);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(bound(serialize = "T: serde::Serialize")))]
pub struct OmtMvn<T: Real, const D: usize> {
    loc: SVector<T, D>,
    scale_tril: SMatrix<T, D, D>,
}

/// Deserializes `loc` and `scale_tril` and validates them exactly as [`OmtMvn::new`] does, so a
/// deserialized distribution is never invalid: bad parameters are a deserialization error
/// carrying [`Error`]'s message.
///
/// # Example
/// ```
/// # #[cfg(feature = "serde")] {
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
/// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0)).unwrap();
/// let wire = serde_json::to_string(&mvn).unwrap();
/// assert_eq!(serde_json::from_str::<OmtMvn<f64, 2>>(&wire).unwrap(), mvn);
/// let upper = r#"{"loc":[0.0,0.0],"scale_tril":[1.0,0.0,0.5,1.0]}"#; // column-major: L₀₁ = 0.5
/// let err = serde_json::from_str::<OmtMvn<f64, 2>>(upper).unwrap_err();
/// assert!(err.to_string().contains("above the diagonal"));
/// # }
/// ```
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de, T, const D: usize> serde::Deserialize<'de> for OmtMvn<T, D>
where
    T: Real + serde::Deserialize<'de>,
{
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        /// The parameters as they travel, before validation.
        #[derive(serde::Deserialize)]
        #[serde(bound(deserialize = "T: nalgebra::Scalar + serde::Deserialize<'de>"))]
        struct Parameters<T, const D: usize> {
            loc: SVector<T, D>,
            scale_tril: SMatrix<T, D, D>,
        }
        let Parameters { loc, scale_tril } = Parameters::<T, D>::deserialize(deserializer)?;
        OmtMvn::new(loc, scale_tril).map_err(serde::de::Error::custom)
    }
}

/// Draws [`OmtMvn::rsample`]'s samples as a [`rand::distr::Distribution`] (feature `rand`), so
/// that `rng.sample(&mvn)` and `(&mvn).sample_iter(&mut rng)` work as with any rand distribution,
/// with the same bits as `rsample` from the same generator.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
/// use rand::distr::Distribution;
/// let mvn = OmtMvn::new(Vector2::new(1.0, -1.0), Matrix2::new(2.0, 0.0, 0.5, 1.0))?;
/// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
/// let mut again = rng.clone();
/// let samples: Vec<_> = (&mvn).sample_iter(&mut rng).take(3).collect();
/// assert!(samples.iter().all(|sample| *sample == mvn.rsample(&mut again)));
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[cfg(feature = "rand")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand")))]
impl<T: Real, const D: usize> rand::distr::Distribution<Sample<T, D>> for OmtMvn<T, D> {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Sample<T, D> {
        self.rsample(rng)
    }
}

/// One reparameterized draw: the value x = μ + L·ε and the noise ε it came from.
///
/// The backward passes need the noise, so a sample keeps it.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
/// let mvn = OmtMvn::new(Vector2::new(1.0, 0.0), Matrix2::new(2.0, 0.0, 0.5, 1.0))?;
/// let sample = mvn.reparameterize(Vector2::new(1.0, -1.0));
/// assert_eq!(sample.value, Vector2::new(3.0, -0.5));
/// assert_eq!(sample.noise, Vector2::new(1.0, -1.0));
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(bound(
        serialize = "T: nalgebra::Scalar + serde::Serialize",
        deserialize = "T: nalgebra::Scalar + serde::Deserialize<'de>"
    ))
)]
pub struct Sample<T, const D: usize> {
    /// The sample x = loc + scale_tril · noise.
    pub value: SVector<T, D>,
    /// The standard normal noise ε.
    pub noise: SVector<T, D>,
}

/// The gradients of `log_prob(x)` with respect to x, `loc` and `scale_tril`.
///
/// With y = L⁻¹(x − μ) and w = L⁻ᵀ y: ∂/∂x = −w, ∂/∂μ = w, ∂/∂L = tril(w·yᵀ) − diag(1/Lᵢᵢ).
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
/// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::identity())?;
/// let grads = mvn.log_prob_grads(&Vector2::new(1.0, -2.0));
/// assert_eq!(grads.x, Vector2::new(-1.0, 2.0)); // −(x − μ) for Σ = I
/// assert_eq!(grads.loc, -grads.x);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(bound(
        serialize = "T: nalgebra::Scalar + serde::Serialize",
        deserialize = "T: nalgebra::Scalar + serde::Deserialize<'de>"
    ))
)]
pub struct LogProbGrads<T, const D: usize> {
    /// ∂ log p(x) / ∂x.
    pub x: SVector<T, D>,
    /// ∂ log p(x) / ∂loc.
    pub loc: SVector<T, D>,
    /// ∂ log p(x) / ∂scale_tril (lower-triangular).
    pub scale_tril: SMatrix<T, D, D>,
}

impl<T: Real, const D: usize> OmtMvn<T, D> {
    /// Builds the distribution after validating every entry.
    ///
    /// # Errors
    /// - [`Error::NonFiniteLoc`] for a NaN or infinite `loc` entry,
    /// - [`Error::NonFiniteScaleTril`] for a NaN or infinite `scale_tril` entry,
    /// - [`Error::NotLowerTriangular`] for a non-zero entry above the diagonal,
    /// - [`Error::NonPositiveDiagonal`] for a diagonal entry ≤ 0.
    ///
    /// Entries are checked row by row; the first failure is reported.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Error, OmtMvn};
    /// let bad = Matrix2::new(1.0, 0.0, 0.3, -2.0);
    /// assert_eq!(OmtMvn::new(Vector2::zeros(), bad), Err(Error::NonPositiveDiagonal { index: 1 }));
    /// ```
    pub fn new(loc: SVector<T, D>, scale_tril: SMatrix<T, D, D>) -> Result<Self, Error> {
        check_finite_loc(&loc)?;
        check_scale_tril(&scale_tril)?;
        Ok(OmtMvn { loc, scale_tril })
    }

    /// The distribution N(loc, covariance), through the Cholesky factorization
    /// covariance = L·Lᵀ (L lower-triangular with a positive diagonal, as torch's
    /// `MultivariateNormal(loc, covariance_matrix)` computes it).
    ///
    /// The covariance must be exactly symmetric, as L·Lᵀ and sample covariances computed entry by
    /// entry are; symmetrize one that is not with ½(Σ + Σᵀ). The factor is accurate to
    /// O(κ(Σ)·u) relative and has the same bits on every target.
    ///
    /// # Errors
    /// - [`Error::NonFiniteLoc`] for a NaN or infinite `loc` entry,
    /// - [`Error::NonFiniteCovariance`] for a NaN or infinite `covariance` entry,
    /// - [`Error::NonSymmetricCovariance`] where `covariance[row][col] ≠ covariance[col][row]`,
    /// - [`Error::NotPositiveDefinite`] where a Cholesky pivot is not positive.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Error, OmtMvn};
    /// let covariance = Matrix2::new(4.0, 2.0, 2.0, 5.0);
    /// let mvn = OmtMvn::from_covariance(Vector2::zeros(), covariance)?;
    /// assert_eq!(mvn.scale_tril(), &Matrix2::new(2.0, 0.0, 1.0, 2.0));
    /// assert_eq!(mvn.covariance(), covariance);
    /// let indefinite = Matrix2::new(1.0, 2.0, 2.0, 1.0);
    /// assert_eq!(
    ///     OmtMvn::from_covariance(Vector2::zeros(), indefinite),
    ///     Err(Error::NotPositiveDefinite { index: 1 })
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_covariance(
        loc: SVector<T, D>,
        covariance: SMatrix<T, D, D>,
    ) -> Result<Self, Error> {
        check_finite_loc(&loc)?;
        if let Some((row, col)) = first_non_finite(&covariance) {
            return Err(Error::NonFiniteCovariance { row, col });
        }
        for (col, column) in covariance.column_iter().enumerate() {
            for (row, &entry) in column.iter().enumerate().skip(col + 1) {
                if covariance.get((col, row)) != Some(&entry) {
                    return Err(Error::NonSymmetricCovariance { row, col });
                }
            }
        }
        Self::new(loc, cholesky(&covariance)?)
    }

    /// The location μ.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// assert_eq!(mvn.loc(), &Vector2::new(1.0, 2.0));
    /// assert_eq!(mvn.mean(), *mvn.loc());
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn loc(&self) -> &SVector<T, D> {
        &self.loc
    }

    /// The lower Cholesky factor L of the covariance.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// assert_eq!(mvn.scale_tril()[(1, 0)], 1.0);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn scale_tril(&self) -> &SMatrix<T, D, D> {
        &self.scale_tril
    }

    /// The mean, E\[x\] = μ.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::identity())?;
    /// assert_eq!(mvn.mean(), Vector2::new(1.0, 2.0));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn mean(&self) -> SVector<T, D> {
        self.loc
    }

    /// The covariance Σ = L·Lᵀ.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// assert_eq!(mvn.covariance(), Matrix2::new(4.0, 2.0, 2.0, 2.0));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn covariance(&self) -> SMatrix<T, D, D> {
        self.scale_tril * self.scale_tril.transpose()
    }

    /// The precision Σ⁻¹ = L⁻ᵀ·L⁻¹, from D forward substitutions for the columns of L⁻¹ (no
    /// general inverse is formed); exactly symmetric.
    ///
    /// Its accuracy degrades like κ(L)²·u, as the precision matrix itself does.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// let identity = mvn.covariance() * mvn.precision();
    /// assert!((identity - Matrix2::identity()).abs().max() < 1e-15);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn precision(&self) -> SMatrix<T, D, D> {
        let mut inverse = SMatrix::<T, D, D>::zeros();
        for (k, mut column) in inverse.column_iter_mut().enumerate() {
            column.copy_from(&solve_lower(&self.scale_tril, &unit_vector(k)));
        }
        inverse.tr_mul(&inverse)
    }

    /// The log density at `x`: −½‖L⁻¹(x − μ)‖² − Σᵢ ln Lᵢᵢ − ½·D·ln 2π.
    ///
    /// L⁻¹(x − μ) is a forward substitution (never an inverse). For finite `x` the result is
    /// never NaN: where ‖L⁻¹(x − μ)‖² exceeds the float range the density underflows and the
    /// result is −∞. A NaN or infinite `x` gives NaN.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::<f64>::zeros(), Matrix2::identity())?;
    /// let at_mode = mvn.log_prob(&Vector2::zeros());
    /// assert!((at_mode + (2.0 * std::f64::consts::PI).ln()).abs() < 1e-15);
    /// assert_eq!(mvn.log_prob(&Vector2::new(1e300, 0.0)), f64::NEG_INFINITY);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn log_prob(&self, x: &SVector<T, D>) -> T {
        if x.iter().any(|v| !v.is_finite_value()) {
            return T::NAN;
        }
        let whitened = solve_lower(&self.scale_tril, &(x - self.loc));
        let half_squared_norm = T::from_f64_rounded(0.5) * whitened.dot(&whitened);
        if !half_squared_norm.is_finite_value() {
            return T::NEG_INFINITY; // the distance overflowed: the density underflows
        }
        -half_squared_norm - self.log_det_scale_tril() - self.half_d_log_two_pi()
    }

    /// The differential entropy H = ½·D·(1 + ln 2π) + Σᵢ ln Lᵢᵢ.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// let expected = 1.0 + (2.0 * std::f64::consts::PI).ln() + 2.0f64.ln();
    /// assert!((mvn.entropy() - expected).abs() < 1e-15);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn entropy(&self) -> T {
        T::from_f64_rounded(0.5) * T::from_count(D)
            + self.half_d_log_two_pi()
            + self.log_det_scale_tril()
    }

    /// ∂H/∂scale_tril = diag(1/Lᵢᵢ) (the entropy does not depend on `loc`).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// assert_eq!(mvn.entropy_grad_scale_tril(), Matrix2::new(0.5, 0.0, 0.0, 1.0));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn entropy_grad_scale_tril(&self) -> SMatrix<T, D, D> {
        SMatrix::from_diagonal(&self.scale_tril.diagonal().map(|d| T::ONE / d))
    }

    /// The gradients of [`log_prob`](Self::log_prob) at `x` with respect to x, `loc` and
    /// `scale_tril` (see [`LogProbGrads`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// let at_mean = mvn.log_prob_grads(mvn.loc());
    /// assert_eq!(at_mean.x, Vector2::zeros()); // the mode
    /// assert_eq!(at_mean.scale_tril, -mvn.entropy_grad_scale_tril());
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn log_prob_grads(&self, x: &SVector<T, D>) -> LogProbGrads<T, D> {
        let whitened = solve_lower(&self.scale_tril, &(x - self.loc));
        let pulled_back = solve_lower_transpose(&self.scale_tril, &whitened);
        let mut scale_tril = (pulled_back * whitened.transpose()).lower_triangle();
        scale_tril -= self.entropy_grad_scale_tril();
        LogProbGrads { x: -pulled_back, loc: pulled_back, scale_tril }
    }

    /// The sample x = μ + L·ε for given standard normal noise ε.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::new(1.0, 2.0), Matrix2::new(2.0, 0.0, 1.0, 1.0))?;
    /// let sample = mvn.reparameterize(Vector2::new(1.0, -1.0));
    /// assert_eq!(sample.value, Vector2::new(3.0, 2.0));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn reparameterize(&self, noise: SVector<T, D>) -> Sample<T, D> {
        Sample { value: self.loc + self.scale_tril * noise, noise }
    }

    /// Draws one reparameterized sample; the noise comes from [`crate::normal`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::<f32>::zeros(), Matrix2::identity())?;
    /// let mut rng = rand_pcg::Pcg32::seed_from_u64(11);
    /// let first = mvn.rsample(&mut rng);
    /// let again = mvn.rsample(&mut rand_pcg::Pcg32::seed_from_u64(11));
    /// assert_eq!(first, again); // same seed, same bits
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn rsample<R: Rng + ?Sized>(&self, rng: &mut R) -> Sample<T, D> {
        self.reparameterize(standard_normal_vector(rng))
    }

    /// Fills `out` with independent samples, in order.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::<f64>::zeros(), Matrix2::identity())?;
    /// let mut out = [mvn.reparameterize(Vector2::zeros()); 32];
    /// mvn.rsample_into(&mut rand_pcg::Pcg64Mcg::seed_from_u64(1), &mut out);
    /// assert!(out.iter().all(|s| s.value == s.noise));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn rsample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [Sample<T, D>]) {
        for sample in out {
            *sample = self.rsample(rng);
        }
    }

    /// Returns `N` independent samples in a stack array (the batch size is fixed at compile time).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::<f32>::zeros(), Matrix2::identity())?;
    /// let mut rng = rand_pcg::Pcg32::seed_from_u64(3);
    /// let batch: [_; 16] = mvn.rsample_array(&mut rng);
    /// assert_eq!(batch.len(), 16);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn rsample_array<R: Rng + ?Sized, const N: usize>(&self, rng: &mut R) -> [Sample<T, D>; N] {
        core::array::from_fn(|_| self.rsample(rng))
    }

    /// Appends `count` samples to a fixed-capacity `heapless::Vec` (a batch size chosen at run
    /// time, bounded at compile time).
    ///
    /// # Errors
    /// [`Error::CapacityExceeded`] when `count` exceeds the room left; nothing is appended then.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{heapless::Vec, nalgebra::{Matrix2, Vector2}, rand_core::SeedableRng, OmtMvn};
    /// let mvn = OmtMvn::new(Vector2::<f32>::zeros(), Matrix2::identity())?;
    /// let mut rng = rand_pcg::Pcg32::seed_from_u64(3);
    /// let mut batch: Vec<_, 64> = Vec::new();
    /// mvn.rsample_extend(&mut rng, &mut batch, 40)?;
    /// assert_eq!(batch.len(), 40);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn rsample_extend<R: Rng + ?Sized, const N: usize>(
        &self,
        rng: &mut R,
        out: &mut heapless::Vec<Sample<T, D>, N>,
        count: usize,
    ) -> Result<(), Error> {
        let available = N.saturating_sub(out.len());
        if count > available {
            return Err(Error::CapacityExceeded { requested: count, available });
        }
        for _ in 0..count {
            if out.push(self.rsample(rng)).is_err() {
                return Err(Error::CapacityExceeded { requested: count, available });
            }
        }
        Ok(())
    }

    fn log_det_scale_tril(&self) -> T {
        self.scale_tril.diagonal().iter().fold(T::ZERO, |sum, &d| sum + d.libm_ln())
    }

    fn half_d_log_two_pi(&self) -> T {
        // ½ ln 2π, rounded once from its exact value, so no libm call is involved.
        T::from_f64_rounded(0.918_938_533_204_672_7) * T::from_count(D)
    }
}

/// Checks that `scale_tril` is a Cholesky factor: finite, zero above the diagonal, a positive
/// diagonal (the errors of [`OmtMvn::new`], first failure in row order).
pub(crate) fn check_scale_tril<T: Real, const D: usize>(
    scale_tril: &SMatrix<T, D, D>,
) -> Result<(), Error> {
    // One pass in storage order, column by column: zeros above the diagonal, a positive
    // finite diagonal, finite entries below. Folds rather than short-circuiting `all`, so
    // that the loops vectorize (docs/PERFORMANCE.md#the-accumulation-and-small-kernels).
    // Only an invalid L pays for the row-major scan that names its first offending entry.
    let valid = scale_tril.data.0.iter().enumerate().all(|(col, column)| {
        let Some((above, rest)) = column.split_at_checked(col) else { return false };
        let Some((&diagonal, below)) = rest.split_first() else { return false };
        above.iter().fold(true, |zero, &entry| zero & (entry == T::ZERO))
            && diagonal > T::ZERO
            && diagonal.is_finite_value()
            && all_finite(below)
    });
    if valid {
        return Ok(());
    }
    for (row, entries) in scale_tril.row_iter().enumerate() {
        for (col, &entry) in entries.iter().enumerate() {
            if !entry.is_finite_value() {
                return Err(Error::NonFiniteScaleTril { row, col });
            }
            if col > row && entry != T::ZERO {
                return Err(Error::NotLowerTriangular { row, col });
            }
            if col == row && entry <= T::ZERO {
                return Err(Error::NonPositiveDiagonal { index: row });
            }
        }
    }
    Ok(())
}

/// [`Error::NonFiniteLoc`] for the first NaN or infinite entry of `loc`: the first check of both
/// constructors.
fn check_finite_loc<T: Real, const D: usize>(loc: &SVector<T, D>) -> Result<(), Error> {
    match loc.iter().position(|x| !x.is_finite_value()) {
        Some(index) => Err(Error::NonFiniteLoc { index }),
        None => Ok(()),
    }
}
