//! Compiles and drops many kernels and prints resident memory, which must
//! stay flat: `cargo run --release --example kernel_churn [COUNT]`
//! (default 10,000).

use ddx::{compile, model_layout};

#[path = "../benches/support/outputs.rs"]
mod outputs;
#[path = "../benches/support/seed.rs"]
mod seed;
use outputs::model_outputs;

fn resident_kib() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut model = seed::seed_model();
    let outputs = model_outputs(&mut model);
    let layout = model_layout(&model);
    let g = model.graph;
    let xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let ys = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];
    let mut out = [0.0; 3];
    let start = std::time::Instant::now();
    let mut first = None;
    for i in 1..=count {
        let kernel = compile(&g, &outputs, &layout).expect("compile");
        kernel
            .call(&[0.9, 0.1], &[&xs, &ys], &mut out)
            .expect("call");
        if i == 100 {
            first = resident_kib();
        }
        if i % (count / 10).max(1) == 0 {
            println!(
                "{i:>6} kernels: resident {} KiB",
                resident_kib().unwrap_or(0)
            );
        }
    }
    let last = resident_kib();
    println!(
        "{count} kernels compiled, called and dropped in {:.2?}; resident after 100: {} KiB, at the end: {} KiB",
        start.elapsed(),
        first.unwrap_or(0),
        last.unwrap_or(0)
    );
}
