//! Stochastic variational inference with an [`OmtMvn`] guide: Pyro's
//! `SVI(model, guide, Adam(...), Trace_ELBO())` for a multivariate normal guide whose
//! `scale_tril` is constrained to `lower_cholesky`, without autograd and without a heap.
//!
//! # Math
//! The guide q = N(μ, L·Lᵀ) has parameters μ and an unconstrained θ with L = forward(θ) (a
//! [`ScaleTrilTransform`]). Each [`Svi::step`] minimizes the negative ELBO
//!
//! ```text
//! loss(μ, L) = −E_q[log p(x)] − H(q),    H(q) = ½·D·(1 + ln 2π) + Σᵢ ln Lᵢᵢ
//! ```
//!
//! from n = `num_particles` samples xⱼ = μ + L·εⱼ: the model returns log p(xⱼ) and
//! ∇ₓ log p(xⱼ); the upstream gradients gⱼ = −∇ₓ log p(xⱼ)/n go through the OMT vector-Jacobian
//! product ([`OmtMvn::vjp`]; or the plain one, [`Estimator::Reparam`]); the entropy's
//! gradient −diag(1/Lᵢᵢ) is added in closed form (Pyro's `Trace_ELBO` estimates it from the
//! samples' log q instead, which adds variance and no information); the chain rule through the
//! transform gives ∂loss/∂θ, and the optimizers step. The ELBO estimate reported is
//! (1/n)·Σⱼ log p(xⱼ) + H(q).
//!
//! # Warm start
//! By default the OMT finish of a step starts from the right singular vectors of the previous
//! step's ([`crate::warm`]): L moves little between steps, so the decomposition takes fewer
//! Jacobi iterations (4 against 5–7 along an Adam path), with the same accuracy bound and a
//! cold restart wherever the start does not certify. [`Svi::with_warm_start`] turns it off.
//!
//! # Failure
//! A step is all or nothing: a non-finite model output ([`Error::NonFiniteModel`]), a finish that
//! cannot certify its gradient ([`Error::IllConditioned`]), an optimizer that refuses, or a θ
//! whose forward image is not a valid Cholesky factor leaves the guide and the optimizers as
//! they were, and returns the error. The OMT gradient obeys ‖G‖_F ≤ ‖A‖_F on every step
//! (see [`crate::omt`]), so no step is unbounded.
//!
//! # Example
//! Pyro's seed usage: fit a guide to a 3-D standard normal model.
//! ```
//! use omt_mvn::nalgebra::{SMatrix, SVector};
//! use omt_mvn::{optim::Adam, rand_core::SeedableRng, svi::{Guide, Svi}, transform::LowerCholesky};
//! let guide = Guide::new(SVector::<f64, 3>::zeros(), SMatrix::identity() * 2.0, LowerCholesky)?;
//! let mut svi = Svi::new(guide, Adam::new(0.05), Adam::new(0.05));
//! let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0);
//! // log p(x) = −½‖x‖² + const and its gradient −x.
//! let model = |x: &SVector<f64, 3>| (-0.5 * x.norm_squared(), -x);
//! for _ in 0..1000 {
//!     svi.step(&mut rng, model)?;
//! }
//! let scale_tril = svi.guide().scale_tril();
//! assert!((scale_tril - SMatrix::identity()).abs().max() < 0.2);
//! # Ok::<(), omt_mvn::Error>(())
//! ```

use crate::linalg::all_finite;
use crate::optim::Optimizer;
use crate::transform::ScaleTrilTransform;
use crate::warm::WarmStart;
use crate::{Error, Grads, OmtMvn, Real};
use nalgebra::{SMatrix, SVector};
use rand_core::Rng;

/// Which unbiased estimator of the ELBO gradient [`Svi::step`] uses for the expectation term.
///
/// # Example
/// ```
/// use omt_mvn::svi::Estimator;
/// assert_eq!(Estimator::default(), Estimator::Omt);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Estimator {
    /// The optimal-mass-transport gradient ([`OmtMvn::vjp`]): lower variance, one O(D³) finish
    /// per step.
    #[default]
    Omt,
    /// The plain reparameterization gradient ([`OmtMvn::reparam_vjp`]): no decomposition.
    Reparam,
}

/// The variational guide N(loc, L·Lᵀ) with L = `transform`.forward(θ): the parameters SVI
/// moves, held unconstrained.
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::{Matrix2, Vector2};
/// use omt_mvn::{svi::Guide, transform::SoftplusLowerCholesky};
/// let guide = Guide::new(Vector2::new(1.0, 0.0), Matrix2::new(1.0, 0.0, 0.5, 2.0), SoftplusLowerCholesky)?;
/// assert!((guide.scale_tril() - Matrix2::new(1.0, 0.0, 0.5, 2.0)).abs().max() < 1e-15);
/// assert_eq!(guide.distribution()?.loc(), &Vector2::new(1.0, 0.0));
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Guide<T: Real, const D: usize, Tr> {
    loc: SVector<T, D>,
    theta: SMatrix<T, D, D>,
    transform: Tr,
}

impl<T: Real, const D: usize, Tr: ScaleTrilTransform> Guide<T, D, Tr> {
    /// The guide N(`loc`, `scale_tril`·`scale_tril`ᵀ), stored as θ = `transform`.inverse(L).
    ///
    /// # Errors
    /// As [`OmtMvn::new`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{svi::Guide, transform::LowerCholesky, Error};
    /// let bad = Matrix2::new(1.0, 0.0, 0.5, 0.0);
    /// assert_eq!(Guide::new(Vector2::zeros(), bad, LowerCholesky), Err(Error::NonPositiveDiagonal { index: 1 }));
    /// ```
    pub fn new(
        loc: SVector<T, D>,
        scale_tril: SMatrix<T, D, D>,
        transform: Tr,
    ) -> Result<Self, Error> {
        OmtMvn::new(loc, scale_tril)?;
        let theta = transform.inverse(&scale_tril)?;
        Ok(Guide { loc, theta, transform })
    }

    /// The guide with unconstrained parameters (`loc`, θ); θ's upper triangle is ignored.
    ///
    /// # Errors
    /// As [`OmtMvn::new`] for (`loc`, `transform`.forward(θ)): a non-finite entry, or a
    /// diagonal that over- or underflows.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{svi::Guide, transform::LowerCholesky};
    /// let guide = Guide::from_unconstrained(Vector2::<f64>::zeros(), Matrix2::zeros(), LowerCholesky)?;
    /// assert_eq!(guide.scale_tril(), Matrix2::identity());
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    // Out of line: its temporaries stay off the frame of `Svi::step` (stack on a Cortex-M0).
    #[inline(never)]
    pub fn from_unconstrained(
        loc: SVector<T, D>,
        theta: SMatrix<T, D, D>,
        transform: Tr,
    ) -> Result<Self, Error> {
        let theta = theta.lower_triangle();
        OmtMvn::new(loc, transform.forward(&theta))?;
        Ok(Guide { loc, theta, transform })
    }

    /// The mean μ.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{svi::Guide, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::new(1.0, 2.0), Matrix2::identity(), LowerCholesky)?;
    /// assert_eq!(guide.loc(), &Vector2::new(1.0, 2.0));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn loc(&self) -> &SVector<T, D> {
        &self.loc
    }

    /// The unconstrained θ (zero above the diagonal).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{svi::Guide, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::<f64>::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// assert_eq!(guide.theta(), &Matrix2::zeros()); // ln 1 = 0
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn theta(&self) -> &SMatrix<T, D, D> {
        &self.theta
    }

    /// L = `transform`.forward(θ).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{svi::Guide, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 3.0, 1.0), LowerCholesky)?;
    /// assert_eq!(guide.scale_tril(), Matrix2::new(1.0, 0.0, 3.0, 1.0));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn scale_tril(&self) -> SMatrix<T, D, D> {
        self.transform.forward(&self.theta)
    }

    /// The guide as a distribution, to sample from or evaluate.
    ///
    /// # Errors
    /// As [`OmtMvn::new`]; never for a guide built by [`new`](Self::new),
    /// [`from_unconstrained`](Self::from_unconstrained) or moved by [`Svi::step`], which
    /// validated it.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{svi::Guide, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::<f64>::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// assert_eq!(guide.distribution()?.entropy(), (1.0 + (2.0 * core::f64::consts::PI).ln()));
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn distribution(&self) -> Result<OmtMvn<T, D>, Error> {
        OmtMvn::new(self.loc, self.scale_tril())
    }
}

/// What one [`Svi::step`] measured.
///
/// # Example
/// ```
/// use omt_mvn::svi::StepReport;
/// let report = StepReport { elbo: -1.5_f64, warm_started: false };
/// assert_eq!(report.loss(), 1.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StepReport<T> {
    /// The ELBO estimate at the parameters before the step: (1/n)·Σⱼ log p(xⱼ) + H(q).
    pub elbo: T,
    /// Whether the OMT finish started warm from the previous step's and certified.
    pub warm_started: bool,
}

impl<T: Real> StepReport<T> {
    /// −ELBO, what Pyro's `svi.step()` returns.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::svi::StepReport;
    /// assert_eq!(StepReport { elbo: 2.0_f32, warm_started: true }.loss(), -2.0);
    /// ```
    #[must_use]
    pub fn loss(&self) -> T {
        -self.elbo
    }
}

/// SVI on a [`Guide`], with one optimizer for `loc` and one for θ (Pyro keeps one optimizer
/// state per parameter too).
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::{SMatrix, SVector};
/// use omt_mvn::{optim::ClippedAdam, rand_core::SeedableRng, svi::*, transform::*};
/// let guide = Guide::new(SVector::<f64, 2>::zeros(), SMatrix::identity(), SoftplusLowerCholesky)?;
/// let mut svi = Svi::new(guide, ClippedAdam::new(0.02), ClippedAdam::new(0.02))
///     .with_estimator(Estimator::Reparam)
///     .with_num_particles(4);
/// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
/// let model = |x: &SVector<f64, 2>| (-0.5 * (x - SVector::repeat(1.0)).norm_squared(), SVector::repeat(1.0) - x);
/// for _ in 0..500 {
///     svi.step(&mut rng, model)?;
/// }
/// assert!((svi.guide().loc() - SVector::repeat(1.0)).abs().max() < 0.2);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Svi<T: Real, const D: usize, Tr, LocOptimizer, ThetaOptimizer> {
    guide: Guide<T, D, Tr>,
    loc_optimizer: LocOptimizer,
    theta_optimizer: ThetaOptimizer,
    estimator: Estimator,
    num_particles: usize,
    warm: Option<WarmStart<T, D>>,
}

impl<T, const D: usize, Tr, LocOptimizer, ThetaOptimizer>
    Svi<T, D, Tr, LocOptimizer, ThetaOptimizer>
where
    T: Real,
    Tr: ScaleTrilTransform + Copy,
    LocOptimizer: Optimizer<T, D, 1> + Clone,
    ThetaOptimizer: Optimizer<T, D, D> + Clone,
{
    /// SVI from `guide`, with the OMT estimator and one particle per step (Pyro's defaults).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix3, Vector3};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector3::zeros(), Matrix3::identity(), LowerCholesky)?;
    /// let svi = Svi::new(guide, Adam::new(0.01), Adam::new(0.01));
    /// assert_eq!(svi.estimator(), Estimator::Omt);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn new(
        guide: Guide<T, D, Tr>,
        loc_optimizer: LocOptimizer,
        theta_optimizer: ThetaOptimizer,
    ) -> Self {
        Svi {
            guide,
            loc_optimizer,
            theta_optimizer,
            estimator: Estimator::Omt,
            num_particles: 1,
            warm: Some(WarmStart::new()),
        }
    }

    /// The same SVI with another gradient estimator.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// let svi = Svi::new(guide, Adam::new(0.01), Adam::new(0.01)).with_estimator(Estimator::Reparam);
    /// assert_eq!(svi.estimator(), Estimator::Reparam);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn with_estimator(mut self, estimator: Estimator) -> Self {
        self.estimator = estimator;
        self
    }

    /// The same SVI drawing `num_particles` samples per step (0 makes every step fail with
    /// [`Error::NoParticles`]).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// let svi = Svi::new(guide, Adam::new(0.01), Adam::new(0.01)).with_num_particles(8);
    /// assert_eq!(svi.num_particles(), 8);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn with_num_particles(mut self, num_particles: usize) -> Self {
        self.num_particles = num_particles;
        self
    }

    /// The same SVI with OMT finishes warm-started from the previous step's (`true`, the
    /// default) or always decomposing L from scratch (`false`). The gradients agree to rounding
    /// and obey the same bound (see [`crate::warm`]); the warm start saves Jacobi iterations
    /// while L moves little between steps.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::<f64>::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// let cold = Svi::new(guide, Adam::new(0.01), Adam::new(0.01)).with_warm_start(false);
    /// # let _ = cold;
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn with_warm_start(mut self, warm_start: bool) -> Self {
        self.warm = warm_start.then(WarmStart::new);
        self
    }

    /// The guide as it stands.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// assert_eq!(Svi::new(guide, Adam::new(0.01), Adam::new(0.01)).guide(), &guide);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn guide(&self) -> &Guide<T, D, Tr> {
        &self.guide
    }

    /// The estimator in use.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// assert_eq!(Svi::new(guide, Adam::new(0.01), Adam::new(0.01)).estimator(), Estimator::Omt);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn estimator(&self) -> Estimator {
        self.estimator
    }

    /// Samples per step.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, svi::*, transform::LowerCholesky};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// assert_eq!(Svi::new(guide, Adam::new(0.01), Adam::new(0.01)).num_particles(), 1);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    #[must_use]
    pub fn num_particles(&self) -> usize {
        self.num_particles
    }

    /// One SVI step: draws `num_particles` samples from the guide with `rng`, evaluates
    /// `model`(x) = (log p(x), ∇ₓ log p(x)) at each, and moves the guide's parameters against
    /// the negative ELBO's gradient (see the [module documentation](self)).
    ///
    /// `model` may leave out constants of log p: they shift the reported ELBO, not the step.
    ///
    /// # Errors
    /// [`Error::NoParticles`], [`Error::NonFiniteModel`], the OMT finish's errors
    /// ([`OmtMvn::vjp`]), an optimizer's ([`Optimizer::step`]), and [`Guide::from_unconstrained`]'s
    /// for the moved parameters. On every error the guide and the optimizers are unchanged (the
    /// warm start may have learned the current L, which only helps a retry).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::{Matrix2, Vector2};
    /// use omt_mvn::{optim::Adam, rand_core::SeedableRng, svi::*, transform::LowerCholesky, Error};
    /// let guide = Guide::new(Vector2::zeros(), Matrix2::identity(), LowerCholesky)?;
    /// let mut svi = Svi::new(guide, Adam::new(0.01), Adam::new(0.01));
    /// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    /// let broken = |_: &Vector2<f64>| (f64::NAN, Vector2::zeros());
    /// assert_eq!(svi.step(&mut rng, broken), Err(Error::NonFiniteModel));
    /// assert_eq!(svi.guide(), &guide); // untouched
    /// # Ok::<(), Error>(())
    /// ```
    pub fn step<R, M>(&mut self, rng: &mut R, mut model: M) -> Result<StepReport<T>, Error>
    where
        R: Rng + ?Sized,
        M: FnMut(&SVector<T, D>) -> (T, SVector<T, D>),
    {
        let (elbo, grads) = self.negative_elbo_gradient(rng, &mut model)?;
        let theta_grad = self.guide.transform.vjp(&self.guide.theta, &grads.scale_tril);
        self.descend(&grads.loc, &theta_grad)?;
        let warm_started = self.warm.as_ref().is_some_and(WarmStart::last_finish_was_warm);
        Ok(StepReport { elbo, warm_started })
    }

    /// The ELBO estimate and the gradient of −ELBO with respect to (μ, L). The warm start learns
    /// the current L if the finish succeeds (which is right for a retried step too).
    // Never inlined, nor is `descend`: the finish's frame and the optimizers' copies are then
    // never on the stack together (stack on a Cortex-M0: docs/EMBEDDED.md).
    #[inline(never)]
    fn negative_elbo_gradient<R, M>(
        &mut self,
        rng: &mut R,
        model: &mut M,
    ) -> Result<(T, Grads<T, D>), Error>
    where
        R: Rng + ?Sized,
        M: FnMut(&SVector<T, D>) -> (T, SVector<T, D>),
    {
        if self.num_particles == 0 {
            return Err(Error::NoParticles);
        }
        let distribution = self.guide.distribution()?;
        let weight = T::ONE / T::from_count(self.num_particles);
        let mut accumulator = distribution.vjp_accumulator();
        let mut mean_log_density = T::ZERO;
        for _ in 0..self.num_particles {
            let sample = distribution.rsample(rng);
            let (log_density, score) = model(&sample.value);
            if !log_density.is_finite_value() || !all_finite(score.as_slice()) {
                return Err(Error::NonFiniteModel);
            }
            mean_log_density += log_density * weight;
            accumulator.push(&sample, &(score * -weight));
        }
        let mut grads = match (self.estimator, self.warm.as_mut()) {
            (Estimator::Omt, Some(warm)) => accumulator.finish_warm(warm)?,
            (Estimator::Omt, None) => accumulator.finish()?,
            (Estimator::Reparam, _) => accumulator.finish_reparam()?,
        };
        grads.scale_tril -= distribution.entropy_grad_scale_tril();
        Ok((mean_log_density + distribution.entropy(), grads))
    }

    /// Steps both optimizers on copies and keeps the result only if every part succeeded.
    #[inline(never)]
    fn descend(
        &mut self,
        loc_grad: &SVector<T, D>,
        theta_grad: &SMatrix<T, D, D>,
    ) -> Result<(), Error> {
        let (mut loc, mut theta) = (self.guide.loc, self.guide.theta);
        let mut loc_optimizer = self.loc_optimizer.clone();
        let mut theta_optimizer = self.theta_optimizer.clone();
        loc_optimizer.step(&mut loc, loc_grad)?;
        theta_optimizer.step(&mut theta, theta_grad)?;
        self.guide = Guide::from_unconstrained(loc, theta, self.guide.transform)?;
        self.loc_optimizer = loc_optimizer;
        self.theta_optimizer = theta_optimizer;
        Ok(())
    }
}
