//! Where compile time goes for the seed model (release):
//! `cargo run --release --example compile_timing`.

use std::time::Instant;

use ddx::Schedule;
use ddx::{compile, model_layout};

#[path = "../benches/support/seed.rs"]
mod seed;

fn main() {
    let model = seed::seed_model();
    let layout = model_layout(&model);
    let [m, b] = [layout.params[0], layout.params[1]];
    let mut g = model.graph;
    let loss = model.loss.node;
    let runs = 2000;
    let t = Instant::now();
    let mut outputs = Vec::new();
    for _ in 0..runs {
        let mut g2 = g.clone();
        let grad = ddx::gradient(&mut g2, loss, &[m, b]);
        outputs = vec![loss, grad[0], grad[1]];
        std::hint::black_box(&g2);
    }
    let clone_diff = t.elapsed() / runs;
    let grad = ddx::gradient(&mut g, loss, &[m, b]);
    assert_eq!(outputs, vec![loss, grad[0], grad[1]]);
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(Schedule::build(&g, &outputs, &layout, &[]).unwrap());
    }
    let schedule = t.elapsed() / runs;
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(compile(&g, &outputs, &layout).unwrap());
    }
    let codegen = t.elapsed() / runs;
    println!(
        "clone + diff {clone_diff:?}, schedule {schedule:?}, schedule + codegen + drop {codegen:?}"
    );
}
