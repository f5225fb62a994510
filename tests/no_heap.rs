//! The library never allocates: a counting global allocator watches every public entry point.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use omt_mvn::heapless::Vec as HeaplessVec;
use omt_mvn::linalg::{LeftSvd, Svd};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::optim::{Adam, ClippedAdam};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::svi::{Estimator, Guide, Svi};
use omt_mvn::transform::{LowerCholesky, ScaleTrilTransform, SoftplusLowerCholesky};
use omt_mvn::warm::WarmStart;
use omt_mvn::{OmtMvn, Sample};

struct CountingAllocator;

thread_local! {
    // Per thread, so the test harness's own threads do not count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; only counts calls on the current thread.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn whole_api<const D: usize>() {
    let scale_tril = SMatrix::<f64, D, D>::from_fn(|i, j| {
        if i == j {
            1.0 + i as f64
        } else if i > j {
            0.1
        } else {
            0.0
        }
    });
    let mvn = OmtMvn::new(SVector::repeat(0.5), scale_tril).unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    let samples: [Sample<f64, D>; 32] = mvn.rsample_array(&mut rng);
    let mut more = [mvn.reparameterize(SVector::zeros()); 8];
    mvn.rsample_into(&mut rng, &mut more);
    let mut extended: HeaplessVec<Sample<f64, D>, 8> = HeaplessVec::new();
    mvn.rsample_extend(&mut rng, &mut extended, 8).unwrap();
    let grads = samples.map(|s| s.value * 2.0);
    let omt = mvn.vjp(&samples, &grads).unwrap();
    let reparam = mvn.reparam_vjp(&samples, &grads).unwrap();
    let mut accumulator = mvn.vjp_accumulator();
    for (s, g) in samples.iter().zip(&grads) {
        accumulator.push(s, g);
    }
    accumulator.merge(&mvn.vjp_accumulator());
    let streamed = accumulator.finish().unwrap();
    let _ = mvn.vjp(&samples[..3], &grads[..2]).unwrap_err();
    let density = mvn.log_prob(&samples[0].value) + mvn.entropy();
    let log_prob_grads = mvn.log_prob_grads(&samples[1].value);
    let moments = mvn.covariance() + mvn.precision() + mvn.entropy_grad_scale_tril();
    let refactored = OmtMvn::from_covariance(*mvn.loc(), mvn.covariance()).unwrap();
    let averaged = (omt + reparam - streamed) * 0.5;
    std::hint::black_box((refactored, averaged));
    let svd = Svd::new(&scale_tril).unwrap().recompose();
    let left = LeftSvd::new(&scale_tril).unwrap();
    std::hint::black_box((omt, reparam, streamed, density, log_prob_grads, moments, svd, left));
    let narrow = OmtMvn::new(SVector::<f32, D>::zeros(), scale_tril.cast::<f32>()).unwrap();
    let sample = narrow.rsample(&mut rng);
    std::hint::black_box(narrow.vjp(&[sample], &[sample.value]).unwrap());
    svi_api::<D>(&mvn, &scale_tril);
}

/// The SVI building blocks and the warm-started finish.
fn svi_api<const D: usize>(target: &OmtMvn<f64, D>, scale_tril: &SMatrix<f64, D, D>) {
    let theta = LowerCholesky.inverse(scale_tril).unwrap();
    let back = LowerCholesky.forward(&theta) + SoftplusLowerCholesky.forward(&theta);
    let theta_grad = SoftplusLowerCholesky.vjp(&theta, &back);
    let mut param = theta;
    Adam::new(0.1).step(&mut param, &theta_grad).unwrap();
    ClippedAdam::new(0.1).with_lrd(0.9).step(&mut param, &theta_grad).unwrap();
    let precision = target.precision();
    let model = |x: &SVector<f64, D>| (target.log_prob(x), -(precision * (x - target.loc())));
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(4);
    for (estimator, warm) in
        [(Estimator::Omt, true), (Estimator::Omt, false), (Estimator::Reparam, true)]
    {
        let guide =
            Guide::new(SVector::zeros(), SMatrix::identity(), SoftplusLowerCholesky).unwrap();
        let mut svi = Svi::new(guide, Adam::new(0.01), ClippedAdam::new(0.01))
            .with_estimator(estimator)
            .with_num_particles(3)
            .with_warm_start(warm);
        for _ in 0..3 {
            std::hint::black_box(svi.step(&mut rng, model).unwrap());
        }
    }
    let mut warm = WarmStart::new();
    let mut accumulator = target.vjp_accumulator();
    let sample = target.rsample(&mut rng);
    accumulator.push(&sample, &sample.value);
    let noise = [sample.noise; 9];
    accumulator.push_batch(&noise, &[sample.value; 9]).unwrap();
    let grads = accumulator.finish_warm(&mut warm).unwrap() + accumulator.finish_reparam().unwrap();
    std::hint::black_box((grads, accumulator.finish_warm(&mut warm).unwrap(), param));
}

#[test]
fn no_public_entry_point_allocates() {
    whole_api::<3>(); // warm up anything lazily initialized in std itself
    let before = allocations();
    whole_api::<1>();
    whole_api::<3>();
    whole_api::<12>();
    assert_eq!(allocations() - before, 0, "the library allocated on the heap");
}
