//! Dense linear algebra on stack matrices with a generic `const D`, written for this crate.
//!
//! `nalgebra`'s own `svd` needs type-level dimension bounds for a generic `D` (and has open
//! reports of wrong singular values and non-termination on some inputs), so the decomposition the
//! OMT gradient rests on lives here: [`svd`], a one-sided Jacobi SVD with a bounded number of
//! sweeps, and [`triangular`], the substitutions behind `log_prob`.

pub mod svd;
pub mod triangular;

pub use svd::{LeftSvd, Svd};
