//! [`Grads`], the gradients a backward pass returns, as values: they add, subtract and scale, so
//! that shards can be summed and steps averaged.
//!
//! # Math
//! A gradient is linear in the loss: for losses ℓ₁ and ℓ₂ and a scalar c,
//! ∇(ℓ₁ + ℓ₂) = ∇ℓ₁ + ∇ℓ₂ and ∇(c·ℓ) = c·∇ℓ, entry by entry for `loc` and `scale_tril` alike. The
//! operators apply exactly that, each entry rounded once, so a sum of gradients is as accurate as
//! its terms. (The OMT estimator is linear in the upstream gradients gⱼ, but `vjp` of a merged
//! batch rounds once in the finish, so it is not bit-identical to the sum of the shards' `vjp`s:
//! to split one batch, merge [`VjpAccumulator`](crate::VjpAccumulator)s instead.)

use crate::Real;
use core::ops::{Add, AddAssign, Mul, Sub};
use nalgebra::{SMatrix, SVector};

/// Gradients of a loss with respect to the parameters of an [`OmtMvn`](crate::OmtMvn).
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, OmtMvn};
/// let mvn = OmtMvn::new(Vector2::zeros(), Matrix2::new(1.0, 0.0, 0.5, 2.0))?;
/// let first = mvn.reparameterize(Vector2::new(0.3, -1.0));
/// let second = mvn.reparameterize(Vector2::new(-0.7, 0.2));
/// let (one, two) = (mvn.vjp(&[first], &[first.value])?, mvn.vjp(&[second], &[second.value])?);
/// let mean = (one + two) * 0.5; // the average of two single-sample steps
/// assert_eq!(mean.loc, (first.value + second.value) * 0.5);
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
pub struct Grads<T, const D: usize> {
    /// ∂ℓ/∂loc.
    pub loc: SVector<T, D>,
    /// ∂ℓ/∂scale_tril, lower-triangular (entries above the diagonal are zero).
    pub scale_tril: SMatrix<T, D, D>,
}

impl<T: Real, const D: usize> Grads<T, D> {
    /// The zero gradient, the identity of `+`.
    ///
    /// # Example
    /// ```
    /// use omt_mvn::Grads;
    /// let zero = Grads::<f64, 3>::zeros();
    /// assert_eq!(zero + zero, zero);
    /// ```
    #[must_use]
    pub fn zeros() -> Self {
        Grads { loc: SVector::zeros(), scale_tril: SMatrix::zeros() }
    }
}

/// Entry by entry: the gradient of the sum of the two losses.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Grads};
/// let g = Grads { loc: Vector2::new(1.0, 2.0), scale_tril: Matrix2::identity() };
/// assert_eq!((g + g).loc, Vector2::new(2.0, 4.0));
/// ```
impl<T: Real, const D: usize> Add for Grads<T, D> {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Grads { loc: self.loc + other.loc, scale_tril: self.scale_tril + other.scale_tril }
    }
}

/// Entry by entry, in place: accumulates the gradients of several losses.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Grads};
/// let g = Grads { loc: Vector2::new(1.0, 2.0), scale_tril: Matrix2::identity() };
/// let mut total = Grads::zeros();
/// for _ in 0..3 {
///     total += g;
/// }
/// assert_eq!(total, g * 3.0);
/// ```
impl<T: Real, const D: usize> AddAssign for Grads<T, D> {
    fn add_assign(&mut self, other: Self) {
        self.loc += other.loc;
        self.scale_tril += other.scale_tril;
    }
}

/// Entry by entry: the gradient of the difference of the two losses.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Grads};
/// let g = Grads { loc: Vector2::new(1.0, 2.0), scale_tril: Matrix2::identity() };
/// assert_eq!(g - g, Grads::zeros());
/// ```
impl<T: Real, const D: usize> Sub for Grads<T, D> {
    type Output = Self;

    fn sub(self, other: Self) -> Self {
        Grads { loc: self.loc - other.loc, scale_tril: self.scale_tril - other.scale_tril }
    }
}

/// Every entry times a scalar: the gradient of the loss times that scalar (a learning rate, or
/// 1/n to average).
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::{Matrix2, Vector2}, Grads};
/// let g = Grads { loc: Vector2::new(1.0, 2.0), scale_tril: Matrix2::identity() };
/// assert_eq!((g * 0.5).scale_tril, Matrix2::identity() * 0.5);
/// ```
impl<T: Real, const D: usize> Mul<T> for Grads<T, D> {
    type Output = Self;

    fn mul(self, factor: T) -> Self {
        Grads { loc: self.loc * factor, scale_tril: self.scale_tril * factor }
    }
}
