//! Standard normal noise from raw `rand_core` bits, bit-reproducible on every target.
//!
//! # Notes
//! The sampler is the 256-layer Ziggurat of Marsaglia & Tsang (2000) in Doornik's ZIGNOR form
//! ("An improved Ziggurat method to generate normal random samples", 2005), the algorithm behind
//! `rand_distr::StandardNormal`. One `next_u64` gives both the layer (its low 8 bits) and a
//! uniform in [−1, 1) (its high 53 bits); about 98.8 % of draws return after one multiply and one
//! compare. The rare wedge and tail paths call `libm::exp` and `libm::log` only, so the output is
//! a pure function of the generator's bits: the same seed gives the same `f64`s on x86_64,
//! Cortex-M4F and Cortex-M0. Samples are drawn in `f64` and rounded once to the target type.
//!
//! Why not `rand_distr` (whose 0.6 line is built on rand 0.10 and `rand_core` 0.10, as this crate
//! is): its `exp`/`ln` switch to the platform's math library as soon as `num-traits/std` is on
//! anywhere in a build, which breaks bit-exactness across targets; this sampler calls `libm`
//! whatever else the build enables.

mod tables;

use crate::Real;
use nalgebra::SVector;
use rand_core::Rng;
use tables::{ZIGGURAT_F, ZIGGURAT_R, ZIGGURAT_X};

/// 2⁻⁵², the spacing of the 53-bit uniforms built below.
const TWO_POW_MINUS_52: f64 = 1.0 / 4_503_599_627_370_496.0;

/// Draws one standard normal N(0, 1) variate.
///
/// # Example
/// ```
/// use omt_mvn::{normal::standard_normal, rand_core::SeedableRng};
/// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
/// let z = standard_normal(&mut rng);
/// assert!(z.is_finite());
/// ```
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    loop {
        let bits = rng.next_u64();
        let layer = (bits & 0xff) as usize;
        // (bits >> 11) has 53 bits, so this is exact and lies in [−1, 1).
        let uniform = (bits >> 11) as f64 * TWO_POW_MINUS_52 - 1.0;
        let (Some(&x_outer), Some(&x_inner)) = (ZIGGURAT_X.get(layer), ZIGGURAT_X.get(layer + 1))
        else {
            continue; // unreachable: layer < 256 and the tables hold 257 entries
        };
        let x = uniform * x_outer;
        if x.abs() < x_inner {
            return x;
        }
        if layer == 0 {
            return tail(rng, uniform < 0.0);
        }
        let (Some(&f_outer), Some(&f_inner)) = (ZIGGURAT_F.get(layer), ZIGGURAT_F.get(layer + 1))
        else {
            continue;
        };
        if f_inner + (f_outer - f_inner) * open_unit(rng) < libm::exp(-0.5 * x * x) {
            return x;
        }
    }
}

/// Fills a vector with independent standard normals, each rounded once to `T`.
///
/// # Example
/// ```
/// use omt_mvn::{nalgebra::SVector, normal::standard_normal_vector, rand_core::SeedableRng};
/// let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
/// let noise: SVector<f32, 4> = standard_normal_vector(&mut rng);
/// assert!(noise.iter().all(|z| z.is_finite()));
/// ```
pub fn standard_normal_vector<T: Real, const D: usize, R: Rng + ?Sized>(
    rng: &mut R,
) -> SVector<T, D> {
    SVector::from_fn(|_, _| T::from_f64_rounded(standard_normal(rng)))
}

/// The standard normal N(0, 1) as a [`rand::distr::Distribution`] (feature `rand`), drawing
/// exactly what [`standard_normal`] draws: `rng.sample(StandardNormal)` and
/// `StandardNormal.sample_iter(&mut rng)` work as with any rand distribution.
///
/// Its values differ from `rand_distr::StandardNormal`'s for the same generator: both are
/// 256-layer Ziggurats, but they split the generator's bits differently. This crate keeps its own
/// because `rand_distr`'s `exp` and `ln` switch to the platform's math library as soon as
/// `num-traits/std` is on anywhere in a build, while this one calls `libm` always, so a seed
/// gives the same values on every target. `f32` values are the `f64` ones rounded once, as in
/// [`standard_normal_vector`].
///
/// # Example
/// ```
/// use omt_mvn::{normal::{standard_normal, StandardNormal}, rand_core::SeedableRng};
/// use rand::{distr::Distribution, RngExt};
/// let (mut first, mut second) = (rand_pcg::Pcg64Mcg::seed_from_u64(3), rand_pcg::Pcg64Mcg::seed_from_u64(3));
/// let z: f64 = first.sample(StandardNormal);
/// assert_eq!(z.to_bits(), standard_normal(&mut second).to_bits());
/// let narrow: Vec<f32> = StandardNormal.sample_iter(&mut first).take(4).collect();
/// assert!(narrow.iter().all(|z| z.is_finite()));
/// ```
#[cfg(feature = "rand")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand")))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StandardNormal;

#[cfg(feature = "rand")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand")))]
impl rand::distr::Distribution<f64> for StandardNormal {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        standard_normal(rng)
    }
}

#[cfg(feature = "rand")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand")))]
impl rand::distr::Distribution<f32> for StandardNormal {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
        f32::from_f64_rounded(standard_normal(rng))
    }
}

/// A uniform in (0, 1]: never zero, so its logarithm is finite.
fn open_unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 1.0) * (TWO_POW_MINUS_52 * 0.5)
}

/// Marsaglia's (1964) exact sampler for the tail |x| > R.
fn tail<R: Rng + ?Sized>(rng: &mut R, negative: bool) -> f64 {
    loop {
        let x = libm::log(open_unit(rng)) / ZIGGURAT_R;
        let y = libm::log(open_unit(rng));
        if -2.0 * y >= x * x {
            return if negative { x - ZIGGURAT_R } else { ZIGGURAT_R - x };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tables::{ZIGGURAT_F, ZIGGURAT_X};

    #[test]
    fn ziggurat_tables_satisfy_their_recurrence() {
        let r = ZIGGURAT_X[1];
        let f = |x: f64| libm::exp(-0.5 * x * x);
        let v = ZIGGURAT_X[0] * f(r);
        for i in 1..255 {
            let next = libm::sqrt(-2.0 * libm::log(v / ZIGGURAT_X[i] + f(ZIGGURAT_X[i])));
            // The recurrence amplifies rounding towards the top layers; 1e-9 relative is still
            // far tighter than any table typo.
            assert!((next - ZIGGURAT_X[i + 1]).abs() <= 1e-9 * next, "layer {i}");
        }
        for i in 0..257 {
            assert!((ZIGGURAT_F[i] - f(ZIGGURAT_X[i])).abs() <= 1e-15, "F[{i}]");
        }
        // Every layer has area V: x_i (f(x_{i+1}) − f(x_i)) = V.
        for i in 1..256 {
            let area = ZIGGURAT_X[i] * (ZIGGURAT_F[i + 1] - ZIGGURAT_F[i]);
            assert!((area - v).abs() <= 1e-9 * v, "area of layer {i}");
        }
    }
}
