//! Pyro's optimizers for stochastic variational inference, on stack matrices: [`Adam`]
//! (`torch.optim.Adam`) and [`ClippedAdam`] (Pyro's default SVI optimizer).
//!
//! # Math
//! Both minimize. With gradient gₜ at step t = 1, 2, …, first and second moments
//!
//! ```text
//! mₜ = β₁·mₜ₋₁ + (1 − β₁)·gₜ,    vₜ = β₂·vₜ₋₁ + (1 − β₂)·gₜ²       (m₀ = v₀ = 0)
//! Adam:        θₜ = θₜ₋₁ − lr/(1 − β₁ᵗ) · mₜ / (√vₜ/√(1 − β₂ᵗ) + ε)
//! ClippedAdam: gₜ clamped to [−c, c] first; lrₜ = lrₜ₋₁·lrd (lr₀ = lr);
//!              θₜ = θₜ₋₁ − lrₜ·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · mₜ / (√vₜ + ε)
//! ```
//!
//! Each is evaluated in the order torch and Pyro evaluate it (torch's `lerp` for mₜ, β to the
//! power t through [`libm::pow`]), so a trace follows theirs to within a few ulps per step (tested
//! to 10⁻¹² relative over 40 steps against torch 2.15 and pyro-ppl 1.9.2).
//!
//! # Failure
//! A step is all or nothing: a non-finite gradient entry is [`Error::NonFiniteGradient`] and a
//! parameter that would leave the float range is [`Error::Overflow`]; either way the parameter
//! and the optimizer's state are left as they were.
//!
//! # Example
//! ```
//! use omt_mvn::nalgebra::Vector2;
//! use omt_mvn::optim::Adam;
//! // Minimize ½‖x − (1, −2)‖².
//! let target = Vector2::new(1.0, -2.0);
//! let (mut x, mut adam) = (Vector2::zeros(), Adam::new(0.1));
//! for _ in 0..500 {
//!     let grad = x - target;
//!     adam.step(&mut x, &grad)?;
//! }
//! assert!((x - target).abs().max() < 1e-3);
//! # Ok::<(), omt_mvn::Error>(())
//! ```

use crate::linalg::first_non_finite;
use crate::{Error, Real};
use nalgebra::SMatrix;

/// One step of a first-order optimizer on a parameter block of R×C entries: what
/// [`Svi`](crate::svi::Svi) needs of [`Adam`] and [`ClippedAdam`].
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::Vector1;
/// use omt_mvn::optim::{Adam, ClippedAdam, Optimizer};
/// fn descend<O: Optimizer<f64, 1, 1>>(mut optimizer: O) -> f64 {
///     let mut x = Vector1::new(3.0);
///     for _ in 0..10 {
///         let grad = x; // of ½x²
///         optimizer.step(&mut x, &grad).expect("finite");
///     }
///     x[0]
/// }
/// assert!(descend(Adam::new(0.1)) < 3.0);
/// assert!(descend(ClippedAdam::new(0.1)) < 3.0);
/// ```
pub trait Optimizer<T: Real, const R: usize, const C: usize> {
    /// Moves `param` against `grad` = ∂loss/∂param, all or nothing.
    ///
    /// # Errors
    /// [`Error::NonFiniteGradient`] for a NaN or infinite gradient entry, [`Error::Overflow`]
    /// if a parameter entry would become infinite; `param` and the state are then unchanged.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::nalgebra::Vector1;
    /// use omt_mvn::optim::{Adam, Optimizer};
    /// let mut x = Vector1::new(1.0_f64);
    /// Optimizer::step(&mut Adam::new(0.5), &mut x, &Vector1::new(2.0))?;
    /// assert!((x[0] - 0.5).abs() < 1e-8); // Adam's first step is lr·sign(g), up to ε
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    fn step(&mut self, param: &mut SMatrix<T, R, C>, grad: &SMatrix<T, R, C>) -> Result<(), Error>;
}

/// The moment estimates and step count both optimizers keep per parameter block.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Moments<T: Real, const R: usize, const C: usize> {
    first: SMatrix<T, R, C>,
    second: SMatrix<T, R, C>,
    steps: u32,
}

impl<T: Real, const R: usize, const C: usize> Moments<T, R, C> {
    fn new() -> Self {
        Moments { first: SMatrix::zeros(), second: SMatrix::zeros(), steps: 0 }
    }

    /// (1 − β₁ᵗ, 1 − β₂ᵗ) for the step about to be taken.
    fn bias_corrections(&self, (beta1, beta2): (T, T)) -> (T, T) {
        let t = T::from_count(self.steps as usize + 1);
        (T::ONE - beta1.libm_pow(t), T::ONE - beta2.libm_pow(t))
    }

    /// The parameter after one step and the moments it came from, as candidates: `update`
    /// maps (θ, m, v) to the new θ. Nothing is committed here. Out of line, so that its copies
    /// stay off its callers' frames (stack on a Cortex-M0).
    #[inline(never)]
    fn candidate(
        &self,
        param: &SMatrix<T, R, C>,
        grad: &SMatrix<T, R, C>,
        (beta1, beta2): (T, T),
        first_moment: impl Fn(T, T, T) -> T,
        update: impl Fn(T, T, T) -> T,
    ) -> Result<(SMatrix<T, R, C>, Self), Error> {
        if let Some((row, col)) = first_non_finite(grad) {
            return Err(Error::NonFiniteGradient { row, col });
        }
        let mut next = *self;
        next.steps = self.steps.saturating_add(1);
        let mut new_param = *param;
        let entries = new_param.iter_mut().zip(grad.iter());
        for ((p, &g), (m, v)) in entries.zip(next.first.iter_mut().zip(next.second.iter_mut())) {
            *m = first_moment(*m, g, beta1);
            *v = *v * beta2 + (T::ONE - beta2) * g * g;
            *p = update(*p, *m, *v);
        }
        if first_non_finite(&new_param).is_some() {
            return Err(Error::Overflow);
        }
        Ok((new_param, next))
    }
}

/// `torch.optim.Adam` (Kingma & Ba, 2015), minimizing, on one R×C parameter block: see the
/// [module documentation](self) for the update.
///
/// Defaults are torch's: β = (0.9, 0.999), ε = 10⁻⁸, no weight decay, no AMSGrad.
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::Matrix2;
/// use omt_mvn::optim::Adam;
/// let mut adam = Adam::new(0.01).with_betas(0.8, 0.99).with_eps(1e-6);
/// let mut param = Matrix2::new(1.0, 2.0, 3.0, 4.0);
/// adam.step(&mut param, &Matrix2::repeat(0.5))?;
/// assert!((param - Matrix2::new(0.99, 1.99, 2.99, 3.99)).abs().max() < 1e-7);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Adam<T: Real, const R: usize, const C: usize> {
    lr: T,
    betas: (T, T),
    eps: T,
    moments: Moments<T, R, C>,
}

impl<T: Real, const R: usize, const C: usize> Adam<T, R, C> {
    /// Adam with learning rate `lr` and torch's defaults β = (0.9, 0.999), ε = 10⁻⁸.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::Adam;
    /// let adam = Adam::<f64, 3, 1>::new(0.01);
    /// assert_eq!(adam.learning_rate(), 0.01);
    /// ```
    #[must_use]
    pub fn new(lr: T) -> Self {
        Adam {
            lr,
            betas: (T::from_f64_rounded(0.9), T::from_f64_rounded(0.999)),
            eps: T::from_f64_rounded(1e-8),
            moments: Moments::new(),
        }
    }

    /// The same optimizer with decay rates β₁, β₂ of the two moments.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::Adam;
    /// let adam = Adam::<f32, 2, 2>::new(0.01).with_betas(0.5, 0.9);
    /// # let _ = adam;
    /// ```
    #[must_use]
    pub fn with_betas(mut self, beta1: T, beta2: T) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// The same optimizer with ε added to the denominator.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::Adam;
    /// let adam = Adam::<f64, 2, 1>::new(0.01).with_eps(1e-6);
    /// # let _ = adam;
    /// ```
    #[must_use]
    pub fn with_eps(mut self, eps: T) -> Self {
        self.eps = eps;
        self
    }

    /// The learning rate.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::Adam;
    /// assert_eq!(Adam::<f64, 1, 1>::new(0.5).learning_rate(), 0.5);
    /// ```
    #[must_use]
    pub fn learning_rate(&self) -> T {
        self.lr
    }

    /// One step on `param` against `grad` (see [`Optimizer::step`]).
    ///
    /// # Errors
    /// As [`Optimizer::step`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::Vector2, optim::Adam, Error};
    /// let (mut x, mut adam) = (Vector2::new(1.0, 1.0), Adam::new(0.1));
    /// assert_eq!(
    ///     adam.step(&mut x, &Vector2::new(f64::NAN, 0.0)),
    ///     Err(Error::NonFiniteGradient { row: 0, col: 0 })
    /// );
    /// assert_eq!(x, Vector2::new(1.0, 1.0)); // untouched
    /// ```
    pub fn step(
        &mut self,
        param: &mut SMatrix<T, R, C>,
        grad: &SMatrix<T, R, C>,
    ) -> Result<(), Error> {
        let (correction1, correction2) = self.moments.bias_corrections(self.betas);
        let step_size = self.lr / correction1;
        let correction2_sqrt = correction2.libm_sqrt();
        let eps = self.eps;
        let (new_param, moments) = self.moments.candidate(
            param,
            grad,
            self.betas,
            // torch's `lerp(m, g, 1 − β₁)` for a weight below ½.
            |m, g, beta1| m + (T::ONE - beta1) * (g - m),
            |p, m, v| p + (-step_size) * m / (v.libm_sqrt() / correction2_sqrt + eps),
        )?;
        (*param, self.moments) = (new_param, moments);
        Ok(())
    }
}

impl<T: Real, const R: usize, const C: usize> Optimizer<T, R, C> for Adam<T, R, C> {
    fn step(&mut self, param: &mut SMatrix<T, R, C>, grad: &SMatrix<T, R, C>) -> Result<(), Error> {
        Adam::step(self, param, grad)
    }
}

/// Pyro's `ClippedAdam`: Adam with every gradient entry clamped to ±`clip_norm`, the learning
/// rate multiplied by `lrd` before every step, and ε added to √v before the bias correction (see
/// the [module documentation](self)). Pyro's defaults: β = (0.9, 0.999), ε = 10⁻⁸,
/// clip_norm = 10, lrd = 1.
///
/// # Example
/// ```
/// use omt_mvn::nalgebra::Vector1;
/// use omt_mvn::optim::ClippedAdam;
/// let mut adam = ClippedAdam::new(0.1).with_clip_norm(1.0).with_lrd(0.5);
/// let mut x = Vector1::new(0.0_f64);
/// adam.step(&mut x, &Vector1::new(1e9))?; // clamped to 1
/// assert!((x[0] + 0.05).abs() < 1e-6); // lr 0.1·0.5 at the first step, up to ε
/// assert_eq!(adam.learning_rate(), 0.05);
/// # Ok::<(), omt_mvn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClippedAdam<T: Real, const R: usize, const C: usize> {
    adam: Adam<T, R, C>,
    clip_norm: T,
    lrd: T,
}

impl<T: Real, const R: usize, const C: usize> ClippedAdam<T, R, C> {
    /// ClippedAdam with learning rate `lr` and Pyro's defaults.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::ClippedAdam;
    /// assert_eq!(ClippedAdam::<f64, 2, 2>::new(0.01).learning_rate(), 0.01);
    /// ```
    #[must_use]
    pub fn new(lr: T) -> Self {
        ClippedAdam { adam: Adam::new(lr), clip_norm: T::from_f64_rounded(10.0), lrd: T::ONE }
    }

    /// The same optimizer with decay rates β₁, β₂.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::ClippedAdam;
    /// let adam = ClippedAdam::<f64, 2, 2>::new(0.01).with_betas(0.9, 0.99);
    /// # let _ = adam;
    /// ```
    #[must_use]
    pub fn with_betas(mut self, beta1: T, beta2: T) -> Self {
        self.adam = self.adam.with_betas(beta1, beta2);
        self
    }

    /// The same optimizer with ε added to √v.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::ClippedAdam;
    /// let adam = ClippedAdam::<f64, 2, 2>::new(0.01).with_eps(1e-6);
    /// # let _ = adam;
    /// ```
    #[must_use]
    pub fn with_eps(mut self, eps: T) -> Self {
        self.adam = self.adam.with_eps(eps);
        self
    }

    /// The same optimizer with gradients clamped to [−`clip_norm`, `clip_norm`] entry by entry.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::ClippedAdam;
    /// let adam = ClippedAdam::<f64, 2, 2>::new(0.01).with_clip_norm(0.5);
    /// # let _ = adam;
    /// ```
    #[must_use]
    pub fn with_clip_norm(mut self, clip_norm: T) -> Self {
        self.clip_norm = clip_norm;
        self
    }

    /// The same optimizer with the learning rate multiplied by `lrd` before every step.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::ClippedAdam;
    /// let adam = ClippedAdam::<f64, 2, 2>::new(0.01).with_lrd(0.999);
    /// # let _ = adam;
    /// ```
    #[must_use]
    pub fn with_lrd(mut self, lrd: T) -> Self {
        self.lrd = lrd;
        self
    }

    /// The learning rate of the last step (the initial one before any).
    ///
    /// # Example
    /// ```
    /// use omt_mvn::optim::ClippedAdam;
    /// assert_eq!(ClippedAdam::<f64, 1, 1>::new(0.5).learning_rate(), 0.5);
    /// ```
    #[must_use]
    pub fn learning_rate(&self) -> T {
        self.adam.lr
    }

    /// One step on `param` against `grad` (see [`Optimizer::step`]).
    ///
    /// # Errors
    /// As [`Optimizer::step`].
    ///
    /// # Example
    /// ```
    /// use omt_mvn::{nalgebra::Vector1, optim::ClippedAdam};
    /// let (mut x, mut adam) = (Vector1::new(1.0), ClippedAdam::new(0.1));
    /// adam.step(&mut x, &Vector1::new(-3.0))?;
    /// assert!(x[0] > 1.0);
    /// # Ok::<(), omt_mvn::Error>(())
    /// ```
    pub fn step(
        &mut self,
        param: &mut SMatrix<T, R, C>,
        grad: &SMatrix<T, R, C>,
    ) -> Result<(), Error> {
        let lr = self.adam.lr * self.lrd;
        let (correction1, correction2) = self.adam.moments.bias_corrections(self.adam.betas);
        let step_size = lr * correction2.libm_sqrt() / correction1;
        let (eps, clip_norm) = (self.adam.eps, self.clip_norm);
        // Checked before the clamp, which would turn ±∞ into ±clip_norm.
        if let Some((row, col)) = first_non_finite(grad) {
            return Err(Error::NonFiniteGradient { row, col });
        }
        let clipped = grad.map(|g| {
            if g > clip_norm {
                clip_norm
            } else if g < -clip_norm {
                -clip_norm
            } else {
                g
            }
        });
        let (new_param, moments) = self.adam.moments.candidate(
            param,
            &clipped,
            self.adam.betas,
            |m, g, beta1| m * beta1 + (T::ONE - beta1) * g,
            |p, m, v| p + (-step_size) * m / (v.libm_sqrt() + eps),
        )?;
        (*param, self.adam.moments, self.adam.lr) = (new_param, moments, lr);
        Ok(())
    }
}

impl<T: Real, const R: usize, const C: usize> Optimizer<T, R, C> for ClippedAdam<T, R, C> {
    fn step(&mut self, param: &mut SMatrix<T, R, C>, grad: &SMatrix<T, R, C>) -> Result<(), Error> {
        ClippedAdam::step(self, param, grad)
    }
}
