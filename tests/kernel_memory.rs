//! Compiling and dropping kernels (and their SGD loops) keeps memory flat. In a test binary of
//! its own, so that no other test allocates while it measures.

mod common;

use common::outputs::model_outputs;
use ddx::{compile, model_columns, model_layout};

/// Resident set size in bytes, from /proc/self/statm (Linux only).
fn resident() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn dropping_kernels_frees_their_code() {
    if resident().is_none() {
        return;
    }
    let mut model = common::seed_model();
    let outputs = model_outputs(&mut model);
    let layout = model_layout(&model);
    let columns = model_columns(&model);
    let mut out = [0.0; 3];
    let mut cycle = |count: usize| {
        for _ in 0..count {
            let k = compile(&model.graph, &outputs, &layout).unwrap();
            k.call(&[0.9, 0.1], &columns, &mut out).unwrap();
            // and the SGD loop, compiled into code memory of its own
            let bound = k.bind(&columns).unwrap();
            let mut p = [0.9, 0.1];
            assert_eq!(bound.sgd(&mut p, &mut [], 3, 0.01, 0.0), 3);
        }
    };
    cycle(50);
    let before = resident().unwrap();
    cycle(400);
    let after = resident().unwrap();
    // Each kernel maps at least one page of code; 400 leaked kernels would
    // hold at least 1.6 MB.
    let growth = after.saturating_sub(before);
    eprintln!("resident growth over 400 kernels: {growth} bytes");
    assert!(
        growth < 1 << 20,
        "resident memory grew by {growth} bytes over 400 kernels"
    );
}
