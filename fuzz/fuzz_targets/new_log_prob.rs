//! Constructor, `log_prob`, `entropy` and `reparameterize` on arbitrary bytes.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use omt_mvn_fuzz::{FuzzFloat, check_new_log_prob, draw_scale_tril, draw_vector};

fn run<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> arbitrary::Result<()> {
    let loc = draw_vector::<T, D>(u)?;
    let scale_tril = draw_scale_tril::<T, D>(u)?;
    let x = draw_vector::<T, D>(u)?;
    let noise = draw_vector::<T, D>(u)?;
    check_new_log_prob(loc, scale_tril, x, noise);
    Ok(())
}

fuzz_target!(|data: &[u8]| omt_mvn_fuzz::fuzz_every_dimension!(data, run));
