//! Criterion benchmarks: the OMT backward pass against its floor (a bare outer-product loop) and
//! against a per-sample port of Pyro's formula, side by side in one process; plus the plain
//! reparam estimator, the finish alone, and the normal sampler.
//!
//! `cargo bench` runs everything (a few minutes); `cargo bench -- 'vjp/8/'` one dimension.

#[path = "support/pyro_port.rs"]
mod pyro_port;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::normal::standard_normal;
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, Sample};
use std::hint::black_box;
use std::time::Duration;

fn scale_tril<const D: usize>() -> SMatrix<f64, D, D> {
    SMatrix::from_fn(|i, j| {
        if i == j {
            1.0 + 0.1 * i as f64
        } else if i > j {
            0.2 * (((3 * i + 5 * j) % 7) as f64 - 3.0) / 3.0
        } else {
            0.0
        }
    })
}

fn batch<const D: usize>(n: usize) -> (Vec<Sample<f64, D>>, Vec<SVector<f64, D>>) {
    let mvn = OmtMvn::new(SVector::zeros(), scale_tril::<D>()).unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    let samples: Vec<_> = (0..n).map(|_| mvn.rsample(&mut rng)).collect();
    let grads = samples.iter().map(|s| s.value.map(|x| x * x - 1.0)).collect();
    (samples, grads)
}

/// The floor: A += g·εᵀ over plain arrays (what any OMT implementation must at least do).
fn bare_outer_loop<const D: usize>(noise: &[[f64; D]], grads: &[[f64; D]]) -> [[f64; D]; D] {
    let mut a = [[0.0; D]; D];
    for (e, g) in noise.iter().zip(grads) {
        for (column, &eb) in a.iter_mut().zip(e) {
            for (entry, &ga) in column.iter_mut().zip(g) {
                *entry += ga * eb;
            }
        }
    }
    a
}

fn bench_dimension<const D: usize>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("vjp/{D}"));
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group.sample_size(20);
    let mut sizes = vec![1, 64, 16 * D, 4096];
    sizes.sort_unstable();
    sizes.dedup();
    for n in sizes {
        let (samples, grads) = batch::<D>(n);
        let loc = SVector::<f64, D>::zeros();
        let lower = scale_tril::<D>();
        let mvn = OmtMvn::new(loc, lower).unwrap();
        // The baseline must compute the same thing before it is timed.
        let reference = pyro_port::pyro_backward(&mvn, &samples, &grads);
        let ours = mvn.vjp(&samples, &grads).unwrap().scale_tril;
        let scale = reference.abs().max().max(1.0);
        let difference = (ours - reference).abs().max() / scale;
        assert!(difference < 1e-5, "Pyro port disagrees at D={D}: {difference:e}");

        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("omt_new_plus_vjp", n), &n, |b, _| {
            b.iter(|| {
                // L is the caller's parameter: built once, passed in by value each step.
                let mvn = OmtMvn::new(black_box(loc), black_box(lower)).unwrap();
                mvn.vjp(black_box(&samples), black_box(&grads)).unwrap()
            })
        });
        if n == 4096 {
            // The streaming form on the same batch: one `push` per sample, then `finish`.
            group.bench_with_input(BenchmarkId::new("omt_push_then_finish", n), &n, |b, _| {
                b.iter(|| {
                    let mvn = OmtMvn::new(black_box(loc), black_box(lower)).unwrap();
                    let mut accumulator = mvn.vjp_accumulator();
                    for (sample, grad) in black_box(&samples).iter().zip(black_box(&grads)) {
                        accumulator.push(sample, grad);
                    }
                    accumulator.finish().unwrap()
                })
            });
        }
        let noise: Vec<[f64; D]> = samples.iter().map(|s| s.noise.into()).collect();
        let plain: Vec<[f64; D]> = grads.iter().map(|&g| g.into()).collect();
        group.bench_with_input(BenchmarkId::new("bare_outer_loop", n), &n, |b, _| {
            b.iter(|| bare_outer_loop(black_box(&noise), black_box(&plain)))
        });
        group.bench_with_input(BenchmarkId::new("reparam_vjp", n), &n, |b, _| {
            b.iter(|| mvn.reparam_vjp(black_box(&samples), black_box(&grads)).unwrap())
        });
        // The per-sample port costs n·D³: past D = 32 it is timed at small n only (at D = 64,
        // n = 4096 one call takes over a second).
        if D < 64 || n <= 64 {
            group.bench_with_input(BenchmarkId::new("pyro_port", n), &n, |b, _| {
                b.iter(|| pyro_port::pyro_backward(&mvn, black_box(&samples), black_box(&grads)))
            });
        }
    }
    group.finish();
}

fn bench_finish<const D: usize>(c: &mut Criterion) {
    let mvn = OmtMvn::new(SVector::<f64, D>::zeros(), scale_tril::<D>()).unwrap();
    let (samples, grads) = batch::<D>(4);
    let mut accumulator = mvn.vjp_accumulator();
    for (s, g) in samples.iter().zip(&grads) {
        accumulator.push(s, g);
    }
    let mut group = c.benchmark_group("finish");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group
        .bench_function(BenchmarkId::new("f64", D), |b| b.iter(|| black_box(accumulator).finish()));
    let product = scale_tril::<D>();
    group.bench_function(BenchmarkId::new("matmul_f64", D), |b| {
        b.iter(|| black_box(product) * black_box(product))
    });
    group.finish();
}

/// One SVI step (`Svi::step`, OMT, one particle, Adam lr 0.01, `LowerCholesky`) towards a
/// correlated Gaussian N(0, Σ*), Σ* = L*·L*ᵀ with L* = `scale_tril`, cold against warm-started
/// finishes. Each starts from the guide 300 steps into the run from N(0, I), and every iteration
/// continues the same optimization path, so the warm start sees L move as SVI moves it. The
/// plain estimator's step is the same step without the finish.
fn bench_svi<const D: usize>(c: &mut Criterion) {
    use omt_mvn::optim::Adam;
    use omt_mvn::svi::{Estimator, Guide, Svi};
    use omt_mvn::transform::LowerCholesky;
    let target = OmtMvn::new(SVector::<f64, D>::zeros(), scale_tril::<D>()).unwrap();
    let precision = target.precision();
    let model = |x: &SVector<f64, D>| {
        let score = -(precision * x);
        (0.5 * x.dot(&score), score)
    };
    let guide = Guide::new(SVector::zeros(), SMatrix::identity(), LowerCholesky).unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
    let mut warm_up = Svi::new(guide, Adam::new(0.01), Adam::new(0.01));
    for _ in 0..300 {
        warm_up.step(&mut rng, model).unwrap();
    }
    let mut group = c.benchmark_group(format!("svi_step/{D}"));
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    let reparam = warm_up.with_estimator(Estimator::Reparam);
    for (name, start) in
        [("cold", warm_up.with_warm_start(false)), ("warm", warm_up), ("reparam", reparam)]
    {
        let mut svi = start;
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(10);
        group.bench_function(name, |b| b.iter(|| svi.step(&mut rng, model).unwrap()));
    }
    group.finish();
}

fn bench_sampler(c: &mut Criterion) {
    let mut group = c.benchmark_group("normal");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1000));
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
    group.bench_function("standard_normal_x1000", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for _ in 0..1000 {
                sum += standard_normal(&mut rng);
            }
            sum
        })
    });
    let mvn = OmtMvn::new(SVector::<f64, 8>::zeros(), scale_tril::<8>()).unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("rsample_f64_d8", |b| b.iter(|| mvn.rsample(&mut rng)));
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_sampler(c);
    bench_finish::<4>(c);
    bench_finish::<8>(c);
    bench_finish::<16>(c);
    bench_finish::<32>(c);
    bench_finish::<64>(c);
    bench_dimension::<2>(c);
    bench_dimension::<4>(c);
    bench_dimension::<8>(c);
    bench_dimension::<16>(c);
    bench_dimension::<32>(c);
    bench_dimension::<64>(c);
    bench_svi::<8>(c);
    bench_svi::<16>(c);
    bench_svi::<32>(c);
}

criterion_group!(omt, benches);
criterion_main!(omt);
