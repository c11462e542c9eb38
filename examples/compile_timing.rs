//! Where compile time goes for the seed model (release):
//! `cargo run --release --example compile_timing`.

use std::time::Instant;

use ddx::check;
use ddx::Schedule;
use ddx::Source;
use ddx::Unit;
use ddx::{compile, model_layout};

fn main() {
    // the seed model, from examples/regression.ddx
    let src = Source::new("regression.ddx", include_str!("regression.ddx"));
    let Ok(Unit::Model(model)) = check(&src, None) else {
        panic!("the seed model checks")
    };
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
