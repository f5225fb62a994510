//! omt-mvn as firmware: runs the shared workload, prints every result's bits and a digest over
//! semihosting, measures peak stack use of the main entry points, and exits QEMU.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprint, hprintln};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, Sample};
use panic_semihosting as _;

mod stack;
// The workload lives beside the host test that runs it too, so that the package ships it.
#[path = "../../../tests/firmware/workload.rs"]
mod workload;

struct Semihosting;

impl workload::Sink for Semihosting {
    fn line(&mut self, prefix: &str, name: &str, bits: &[u64]) {
        hprint!("{} {}", prefix, name);
        for word in bits {
            hprint!(" {:x}", word);
        }
        hprintln!();
    }
}

#[entry]
fn main() -> ! {
    // Stack figures first, so that the last line printed is the digest.
    report_stack();
    let mut recorder = workload::Recorder::new(Semihosting);
    match workload::run(&mut recorder) {
        Ok(digest) => hprintln!("DIGEST {:016x}", digest),
        Err(e) => {
            hprintln!("ERROR {}", e);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Peak stack of the entry points a firmware author budgets for, measured by painting. Never
/// inlined: its arrays must not sit in `main`'s frame while the workload runs.
#[inline(never)]
fn report_stack() {
    let scale_tril = workload::example_scale_tril::<f32, 8>();
    let mvn_f32 =
        OmtMvn::new(SVector::<f32, 8>::zeros(), scale_tril).unwrap_or_else(|_| unreachable_error());
    let mut rng = rand_pcg::Pcg32::seed_from_u64(1);
    let batch: [Sample<f32, 8>; 16] = mvn_f32.rsample_array(&mut rng);
    let grads = batch.map(|s| s.value);

    let new = stack::peak(|| OmtMvn::new(SVector::<f32, 8>::zeros(), scale_tril).is_ok());
    hprintln!("STACK new::<f32, 8> {} bytes", new);
    let rsample = stack::peak(|| mvn_f32.rsample(&mut rng).value[0]);
    hprintln!("STACK rsample::<f32, 8> {} bytes", rsample);
    let vjp_f32 = stack::peak(|| mvn_f32.vjp(&batch, &grads).is_ok());
    hprintln!("STACK vjp::<f32, 8> {} bytes", vjp_f32);
    let vjp_f64_8 = stack::peak(vjp_f64::<8>);
    hprintln!("STACK vjp::<f64, 8> {} bytes", vjp_f64_8);
    let svi_f32_8 = stack::peak(svi_step::<f32, 8>);
    hprintln!("STACK Svi::step::<f32, 8> {} bytes", svi_f32_8);
    if stack::available() > 24 * 1024 {
        let vjp_f64_16 = stack::peak(vjp_f64::<16>);
        hprintln!("STACK vjp::<f64, 16> {} bytes", vjp_f64_16);
    } else {
        hprintln!(
            "STACK vjp::<f64, 16> skipped: {} bytes of RAM for the stack",
            stack::available()
        );
    }
}

/// One sample through `vjp` at D (f64): the finish dominates the stack.
#[inline(never)]
fn vjp_f64<const D: usize>() -> bool {
    let scale_tril = workload::example_scale_tril::<f64, D>();
    let Ok(mvn) = OmtMvn::new(SVector::<f64, D>::zeros(), scale_tril) else { return false };
    let sample = mvn.reparameterize(SVector::repeat(0.5));
    let grads: SMatrix<f64, D, 1> = sample.value;
    mvn.vjp(&[sample], &[grads]).is_ok()
}

/// One OMT SVI step (Adam, one particle) from a fresh guide, the `Svi` included in the count.
#[inline(never)]
fn svi_step<T: omt_mvn::Real, const D: usize>() -> bool {
    use omt_mvn::{
        optim::Adam,
        svi::{Guide, Svi},
        transform::LowerCholesky,
    };
    let Ok(guide) = Guide::new(SVector::<T, D>::zeros(), SMatrix::identity(), LowerCholesky) else {
        return false;
    };
    let rate = T::from_f64_rounded(0.01);
    let mut svi = Svi::new(guide, Adam::new(rate), Adam::new(rate));
    let mut rng = rand_pcg::Pcg32::seed_from_u64(3);
    svi.step(&mut rng, |x| (-x.dot(x), -*x)).is_ok()
}

fn unreachable_error() -> ! {
    hprintln!("ERROR the example factor was refused");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
