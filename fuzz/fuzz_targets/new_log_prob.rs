//! Constructor, `log_prob`, `entropy` and `reparameterize` on arbitrary bytes.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use omt_mvn_fuzz::{FuzzFloat, check_new_log_prob, draw_scale_tril, draw_vector, for_fuzzed_dim};

fn run<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> arbitrary::Result<()> {
    let loc = draw_vector::<T, D>(u)?;
    let scale_tril = draw_scale_tril::<T, D>(u)?;
    let x = draw_vector::<T, D>(u)?;
    let noise = draw_vector::<T, D>(u)?;
    check_new_log_prob(loc, scale_tril, x, noise);
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
