//! The standard normal sampler: pinned output bits and statistical checks.
//!
//! Every statistical test here is seeded, so it is deterministic; its threshold is nevertheless set
//! at a false-alarm probability of about 1e-9 so that a change of seed or generator cannot make it
//! flaky.

use omt_mvn::nalgebra::SVector;
use omt_mvn::normal::{standard_normal, standard_normal_vector};
use omt_mvn::rand_core::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// |z| of a normal test statistic with two-sided tail probability ~2e-9.
const Z_LIMIT: f64 = 6.0;
/// √n·D_n beyond which Kolmogorov–Smirnov rejects at α ≈ 1e-9 (P(K > x) ≈ 2·exp(−2x²)).
const KS_LIMIT: f64 = 3.27;

/// FNV-1a over the bits: a compact pin of a long output stream.
fn digest(values: impl Iterator<Item = u64>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for value in values {
        for byte in value.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[test]
fn first_samples_of_seed_42_are_pinned_bit_for_bit() {
    let mut rng = Pcg64Mcg::seed_from_u64(42);
    let expected: [u64; 8] = [
        0x3fc9836306bf5e7c, // 0.19932210759610658
        0xbff3648dcda9c58a, // -1.212049296733627
        0xbfe54e7fa3ee4335, // -0.6658323480388392
        0xbfe46a9e1c1ddf4f, // -0.6380148457674099
        0xbff46551127de091, // -1.2747355196316088
        0xbfc1310537794082, // -0.13430848320649963
        0xbfe62fd16a9c1e6c, // -0.6933371622298643
        0x3ffa5b409f75b3c4, // 1.6472784260652
    ];
    for bits in expected {
        assert_eq!(standard_normal(&mut rng).to_bits(), bits);
    }
}

#[test]
fn a_million_samples_of_seed_7_are_pinned_by_digest() {
    // Covers the wedge and tail paths (about 1.2 % and 0.03 % of draws), which the first samples
    // above do not reach.
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let hash = digest((0..1_000_000).map(|_| standard_normal(&mut rng).to_bits()));
    assert_eq!(hash, PINNED_DIGEST, "sampler output changed: {hash:#018x}");
}
/// Recorded on x86_64: a change of this value is a change of every seeded result downstream.
const PINNED_DIGEST: u64 = 0xda4d_9620_d60b_7a37;

#[test]
fn f32_noise_is_the_f64_noise_rounded_once() {
    let mut wide = Pcg64Mcg::seed_from_u64(3);
    let mut narrow = Pcg64Mcg::seed_from_u64(3);
    for _ in 0..1000 {
        let v: SVector<f32, 5> = standard_normal_vector(&mut narrow);
        for z in v.iter() {
            assert_eq!(*z, standard_normal(&mut wide) as f32);
        }
    }
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[test]
fn samples_pass_kolmogorov_smirnov_against_the_normal_cdf() {
    let mut rng = Pcg64Mcg::seed_from_u64(11);
    let n = 200_000;
    let mut samples: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
    samples.sort_by(f64::total_cmp);
    let mut statistic: f64 = 0.0;
    for (i, &x) in samples.iter().enumerate() {
        let cdf = normal_cdf(x);
        statistic = statistic.max((cdf - i as f64 / n as f64).abs());
        statistic = statistic.max(((i + 1) as f64 / n as f64 - cdf).abs());
    }
    let scaled = statistic * (n as f64).sqrt();
    assert!(scaled < KS_LIMIT, "√n·D = {scaled}");
}

#[test]
fn moments_and_tail_mass_match_the_standard_normal() {
    let mut rng = Pcg64Mcg::seed_from_u64(12);
    let n = 1_000_000;
    let samples: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
    let nf = n as f64;
    let mean = samples.iter().sum::<f64>() / nf;
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / nf;
    let fourth = samples.iter().map(|x| x.powi(4)).sum::<f64>() / nf;
    assert!(mean.abs() * nf.sqrt() < Z_LIMIT, "mean {mean}");
    // Var of the sample variance is (μ₄ − 1)/n = 2/n; of the fourth moment (105 − 9)/n = 96/n.
    assert!((variance - 1.0).abs() / (2.0 / nf).sqrt() < Z_LIMIT, "variance {variance}");
    assert!((fourth - 3.0).abs() / (96.0 / nf).sqrt() < Z_LIMIT, "fourth moment {fourth}");
    // The tail sampler: P(|x| > 3.654) = 2.58e-4, binomial standard deviation √(n·p).
    let tail_start = 3.654_152_885_361_009;
    let expected = nf * 2.0 * (1.0 - normal_cdf(tail_start));
    let tail = samples.iter().filter(|x| x.abs() > tail_start).count() as f64;
    assert!((tail - expected).abs() / expected.sqrt() < Z_LIMIT, "tail count {tail}");
    let positive = samples.iter().filter(|&&x| x > 0.0).count() as f64;
    assert!((positive - nf / 2.0).abs() / (nf / 4.0).sqrt() < Z_LIMIT, "sign balance");
}
