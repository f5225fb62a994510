//! `OmtMvn::new` then `vjp`, the accumulator, `reparam_vjp` and power-of-two scale invariance.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use omt_mvn_fuzz::{FuzzFloat, check_vjp, draw_vjp_input, for_fuzzed_dim};

fn run<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> arbitrary::Result<()> {
    check_vjp(&draw_vjp_input::<T, D>(u)?);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(selector) = u.arbitrary::<u8>() else { return };
    macro_rules! dim {
        ($d:literal) => {
            if selector & 0x80 == 0 { run::<f64, $d>(&mut u) } else { run::<f32, $d>(&mut u) }
        };
    }
    let _ = for_fuzzed_dim!(selector, dim);
});
