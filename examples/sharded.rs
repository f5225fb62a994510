//! "My batch no longer fits one core": one `VjpAccumulator` per shard, joined with `merge`, one
//! `finish`. The same merge works across processes or machines, since an accumulator is a few
//! D×D partial sums (it derives `serde::Serialize`/`Deserialize` with the `serde` feature).
//!
//! Run with `cargo run --release --example sharded`: 10⁶ samples at D = 16, first on one thread,
//! then with rayon on all cores; it prints both times and how far the sharded result is from the
//! single-accumulator one.

use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, VjpAccumulator};
use rayon::prelude::*;
use std::time::Instant;

const D: usize = 16;
const SAMPLES: usize = 1_000_000;
const CHUNK: usize = 10_000;

/// The score of a Gaussian target N(0.5, P⁻¹): the upstream gradient of an SVI step.
fn score(precision: &SMatrix<f64, D, D>, x: &SVector<f64, D>) -> SVector<f64, D> {
    -(precision * (x - SVector::repeat(0.5)))
}

/// Draws chunk `index` (its own seeded generator, so any thread can draw it) and pushes it.
fn accumulate_chunk(
    mvn: &OmtMvn<f64, D>,
    precision: &SMatrix<f64, D, D>,
    index: usize,
) -> VjpAccumulator<f64, D> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(index as u64);
    let mut accumulator = mvn.vjp_accumulator();
    for _ in 0..CHUNK {
        let sample = mvn.rsample(&mut rng);
        accumulator.push(&sample, &(score(precision, &sample.value) / SAMPLES as f64));
    }
    accumulator
}

fn main() -> Result<(), omt_mvn::Error> {
    let scale_tril = SMatrix::<f64, D, D>::from_fn(|i, j| {
        if i == j {
            1.0 + 0.05 * i as f64
        } else if i > j {
            0.2 * libm::sin((i * D + j) as f64)
        } else {
            0.0
        }
    });
    let mvn = OmtMvn::new(SVector::zeros(), scale_tril)?;
    let root = SMatrix::<f64, D, D>::from_fn(|i, j| {
        if i == j {
            1.2
        } else if i > j {
            0.1
        } else {
            0.0
        }
    });
    let precision = root * root.transpose();
    let chunks = SAMPLES / CHUNK;
    println!("{SAMPLES} samples at D = {D}, in {chunks} chunks of {CHUNK}");

    // One thread, one accumulator: every chunk pushed into the same sums.
    let start = Instant::now();
    let mut single = mvn.vjp_accumulator();
    for index in 0..chunks {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(index as u64);
        for _ in 0..CHUNK {
            let sample = mvn.rsample(&mut rng);
            single.push(&sample, &(score(&precision, &sample.value) / SAMPLES as f64));
        }
    }
    let reference = single.finish()?;
    let one_thread = start.elapsed();
    println!("one thread, one accumulator:        {:8.1} ms", one_thread.as_secs_f64() * 1e3);

    // All cores: one accumulator per chunk, merged pairwise by rayon's reduce, one finish.
    let start = Instant::now();
    let merged =
        (0..chunks).into_par_iter().map(|index| accumulate_chunk(&mvn, &precision, index)).reduce(
            || mvn.vjp_accumulator(),
            |mut left, right| {
                left.merge(&right);
                left
            },
        );
    let sharded = merged.finish()?;
    let all_threads = start.elapsed();
    println!(
        "{} threads, accumulator per chunk:  {:8.1} ms  ({:.2}× faster)",
        rayon::current_num_threads(),
        all_threads.as_secs_f64() * 1e3,
        one_thread.as_secs_f64() / all_threads.as_secs_f64()
    );

    // Merging changes only the order in which the terms gⱼ·εⱼᵀ are added into A; sequential
    // summation of n terms is itself off by up to n·u·Σ|terms|, and the finish amplifies a change
    // of A by about κ(L). Measure the difference on that scale.
    let size = reference.scale_tril.abs().max();
    let difference = (sharded.scale_tril - reference.scale_tril).abs().max();
    let svd = omt_mvn::linalg::LeftSvd::new(&scale_tril)?;
    let kappa = svd.singular_values[0] / svd.singular_values[D - 1];
    println!(
        "largest difference from the single accumulator: {difference:.2e} = {:.0} ulp of the largest entry = {:.3}·κ·u·max|G| (κ = {kappa:.1})",
        difference / (size * f64::EPSILON),
        difference / (kappa * f64::EPSILON / 2.0 * size),
    );
    println!(
        "(a sequential sum of {SAMPLES} terms carries ~√n·u ≈ {:.0} ulp of rounding by itself; the chunked sum carries less)",
        (SAMPLES as f64).sqrt()
    );
    println!("∂/∂loc[0..4] = {:?}", &reference.loc.as_slice()[..4]);
    Ok(())
}
