//! # omt-mvn
//!
//! A multivariate normal N(loc, L·Lᵀ) with `scale_tril` L lower-triangular, whose reparameterized
//! samples x = loc + L·ε come with **optimal-mass-transport (OMT) gradients**: the estimator of
//! Jankowiak & Obermeyer, "Pathwise Derivatives Beyond the Reparameterization Trick" (ICML 2018),
//! known from Pyro's `OMTMultivariateNormal`. OMT gradients are unbiased like the plain
//! reparameterization trick, with lower variance.
//!
//! This crate computes them through an explicit vector-Jacobian product: draw samples, evaluate
//! your loss gradient gⱼ = ∂ℓ/∂xⱼ at each, and [`OmtMvn::vjp`] returns ∂ℓ/∂loc and
//! ∂ℓ/∂scale_tril. Compared with Pyro's backward pass it is
//! - **streaming**: O(D²) memory and O(n·D² + D³) time instead of O(n·D³) ([`VjpAccumulator`]),
//! - **more accurate**: error growing like κ(L)·u instead of κ(L)²·u, with no jitter
//!   (see [`omt`] and [`linalg::svd`]),
//! - **scale-proof**: exactly invariant under L → c·L for any power of two c, from 10⁻³⁰⁰ to 10³⁰⁰,
//! - **embedded**: `#![no_std]`, no allocator, no `unsafe`, bit-identical results on x86_64 and
//!   Cortex-M because every transcendental function is [`libm`]'s.
//!
//! ```
//! use omt_mvn::{nalgebra::{Matrix3, Vector3}, rand_core::SeedableRng, OmtMvn};
//! let loc = Vector3::new(0.0, 1.0, -1.0);
//! let scale_tril = Matrix3::new(1.0, 0.0, 0.0, 0.5, 2.0, 0.0, -0.3, 0.1, 0.7);
//! let mvn = OmtMvn::new(loc, scale_tril)?;
//! let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(42);
//! let samples: [_; 64] = mvn.rsample_array(&mut rng);
//! // loss = Σⱼ ½‖xⱼ‖², so ∂loss/∂xⱼ = xⱼ
//! let grad_values = samples.map(|s| s.value);
//! let grads = mvn.vjp(&samples, &grad_values)?;
//! assert!(grads.scale_tril.iter().all(|g: &f64| g.is_finite()));
//! # Ok::<(), omt_mvn::Error>(())
//! ```
//!
//! # Features
//! None is on by default; the library is `no_std` and allocation-free with every one of them.
//! - `serde`: `Serialize`/`Deserialize` for [`Sample`], [`Grads`], [`LogProbGrads`],
//!   [`VjpAccumulator`], [`OmtMvn`] (validated like [`OmtMvn::new`]), the optimizers,
//!   [`svi::Guide`], [`svi::Svi`] and [`warm::WarmStart`] (its statistics only: a deserialized
//!   one is empty, and the next finish runs cold).
//! - `defmt`: `defmt::Format` for [`Error`], for logging on embedded targets.
//! - `rand`: `rand::distr::Distribution` (rand 0.10, no default features, so no `std` and no
//!   `getrandom`) for [`OmtMvn`], whose samples are [`OmtMvn::rsample`]'s, and for
//!   `normal::StandardNormal`, the crate's bit-exact N(0, 1); `rand` is re-exported.
//!
//! There is deliberately no `std` feature: it would let `num-traits`/`simba` switch to the
//! platform's math library and break bit-exactness.
//!
//! Modules: [`mvn`] (the distribution), [`vjp`] (the backward passes), [`grads`] (their results
//! as values), [`omt`] (the closed-form OMT math), [`warm`] (warm-started finishes),
//! [`linalg`] (the Jacobi SVD and triangular solves), [`normal`] (the noise sampler), [`real`]
//! (the float bound), [`error`]; for stochastic variational inference, [`transform`] (Pyro's
//! lower-Cholesky constraints), [`optim`] (Adam, ClippedAdam) and [`svi`] (the ELBO step).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable
)]

mod batch;
pub mod error;
pub mod grads;
pub mod linalg;
pub mod mvn;
pub mod normal;
pub mod omt;
pub mod optim;
pub mod real;
pub mod svi;
pub mod transform;
pub mod vjp;
pub mod warm;

pub use error::Error;
pub use grads::Grads;
pub use mvn::{LogProbGrads, OmtMvn, Sample};
pub use real::Real;
pub use vjp::VjpAccumulator;

pub use heapless;
pub use nalgebra;
#[cfg(feature = "rand")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand")))]
pub use rand;
pub use rand_core;
