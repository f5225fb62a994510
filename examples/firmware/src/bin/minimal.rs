//! The footprint a user pays: only `OmtMvn::<f32, 8>` `rsample` and `vjp`, nothing printed but
//! one number, so `size` on this ELF measures the library's share of the flash.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use omt_mvn::nalgebra::{SMatrix, SVector};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{OmtMvn, Sample};
use panic_semihosting as _;

#[entry]
fn main() -> ! {
    let scale_tril = SMatrix::<f32, 8, 8>::from_fn(|i, j| {
        if i == j {
            1.0
        } else if i > j {
            0.25
        } else {
            0.0
        }
    });
    let status = match OmtMvn::new(SVector::zeros(), scale_tril) {
        Ok(mvn) => {
            let mut rng = rand_pcg::Pcg32::seed_from_u64(1);
            let batch: [Sample<f32, 8>; 8] = mvn.rsample_array(&mut rng);
            let grads = batch.map(|s| s.value);
            match mvn.vjp(&batch, &grads) {
                Ok(g) => {
                    hprintln!("minimal: grad[0][0] = {:x}", g.scale_tril[(0, 0)].to_bits());
                    debug::EXIT_SUCCESS
                }
                Err(_) => debug::EXIT_FAILURE,
            }
        }
        Err(_) => debug::EXIT_FAILURE,
    };
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}
