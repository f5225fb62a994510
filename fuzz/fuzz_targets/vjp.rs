//! `OmtMvn::new` then `vjp`, the accumulator, `reparam_vjp` and power-of-two scale invariance.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use omt_mvn_fuzz::{FuzzFloat, check_vjp, draw_vjp_input};

fn run<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> arbitrary::Result<()> {
    check_vjp(&draw_vjp_input::<T, D>(u)?);
    Ok(())
}

fuzz_target!(|data: &[u8]| omt_mvn_fuzz::fuzz_every_dimension!(data, run));
