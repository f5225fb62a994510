//! The library never allocates: a counting global allocator watches every public entry point.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use omt_mvn::heapless::Vec as HeaplessVec;
use omt_mvn::linalg::{LeftSvd, Svd};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
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
