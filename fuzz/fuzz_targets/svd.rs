//! The Jacobi SVD on arbitrary matrices, f32 and f64, D from 1 to 16.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use omt_mvn_fuzz::{FuzzFloat, check_svd, draw_exponent, draw_matrix};

fn run<T: FuzzFloat, const D: usize>(u: &mut Unstructured) -> arbitrary::Result<()> {
    let matrix = draw_matrix::<T, D>(u)?;
    let exponent = draw_exponent::<T>(u)?;
    check_svd(&matrix);
    check_svd(&matrix.map(|x| x.scale_by_power_of_two(exponent)));
    Ok(())
}

fuzz_target!(|data: &[u8]| omt_mvn_fuzz::fuzz_every_dimension!(data, run));
