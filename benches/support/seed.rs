//! The seed model (examples/regression.ddx) for the benches, which include
//! this file with `#[path]`: checked as `ddx` checks it, and on many rows.
#![allow(dead_code)]

use ddx::check;
use ddx::Source;
use ddx::{Model, Unit};

/// The text of examples/regression.ddx.
pub(crate) const SEED: &str = include_str!("../../examples/regression.ddx");

/// The seed model, checked.
pub(crate) fn seed_model() -> Model {
    let src = Source::new("regression.ddx", SEED);
    match check(&src, None) {
        Ok(Unit::Model(m)) => m,
        _ => panic!("the seed model checks"),
    }
}

/// The seed model with `n` rows of data on the same line plus a wiggle.
pub(crate) fn seed_rows(n: usize) -> Model {
    let mut model = seed_model();
    let xs: Vec<f64> = (0..n).map(|i| (i % 1000) as f64 * 0.007).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| 1.8 - 0.47 * x + 0.01 * (x * 13.0).sin())
        .collect();
    model.data[0].values = xs;
    model.data[1].values = ys;
    model.rows = n;
    model
}
