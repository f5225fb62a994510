//! The first code to read: one OMT gradient by hand, then a streamed batch.
//!
//! Run with `cargo run --release --example quickstart`.

use omt_mvn::nalgebra::{Matrix3, Vector3};
use omt_mvn::rand_core::SeedableRng;
use omt_mvn::{Error, OmtMvn};

fn main() -> Result<(), Error> {
    // A 3-D normal N(loc, L·Lᵀ); L must be lower-triangular with a positive diagonal.
    let loc = Vector3::new(0.5, -1.0, 2.0);
    let scale_tril = Matrix3::new(
        1.0, 0.0, 0.0, //
        0.6, 0.8, 0.0, //
        -0.3, 0.4, 0.5,
    );
    let mvn = OmtMvn::new(loc, scale_tril)?;
    println!("distribution: loc = {:?}, entropy = {:.6}", loc.as_slice(), mvn.entropy());

    // A seeded generator: the same seed gives the same bits on every target.
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(2026);

    // One reparameterized sample x = loc + L·ε; it keeps its noise ε for the backward pass.
    let sample = mvn.rsample(&mut rng);
    println!("sample x = {:?}", sample.value.as_slice());

    // loss = sum(x), so ∂loss/∂x = (1, 1, 1). The vjp turns that into parameter gradients.
    let grad_value = Vector3::repeat(1.0);
    let grads = mvn.vjp(&[sample], &[grad_value])?;
    println!("∂loss/∂loc        = {:?}", grads.loc.as_slice());
    print_matrix("∂loss/∂scale_tril", &grads.scale_tril);

    // A batch of 1 000 samples streamed through an accumulator: O(D²) memory, one O(D³) finish.
    // loss = mean over samples of ½‖x‖², so each upstream gradient is x / n.
    let n = 1000;
    let mut accumulator = mvn.vjp_accumulator();
    for _ in 0..n {
        let sample = mvn.rsample(&mut rng);
        accumulator.push(&sample, &(sample.value / n as f64));
    }
    let grads = accumulator.finish()?;
    // The exact gradient of E[½‖x‖²] = ½‖loc‖² + ½‖L‖²_F is (loc, L).
    println!(
        "batch of {n}: ∂loss/∂loc ≈ {:.3?} (exact {:?})",
        grads.loc.as_slice(),
        loc.as_slice()
    );
    print_matrix("batch ∂loss/∂scale_tril (exact: scale_tril itself)", &grads.scale_tril);
    Ok(())
}

fn print_matrix(label: &str, matrix: &Matrix3<f64>) {
    println!("{label}:");
    for row in matrix.row_iter() {
        println!("    [{:>9.4} {:>9.4} {:>9.4}]", row[0], row[1], row[2]);
    }
}
