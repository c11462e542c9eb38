//! Where compile time goes for the seed model (release):
//! `cargo run --release --example compile_timing`.

use std::time::Instant;

use ddx::codegen::{compile, Layout};
use ddx::graph::{Graph, Reduction, SymbolKind};
use ddx::schedule::Schedule;

fn main() {
    let mut g = Graph::new();
    let x = g.declare("x", SymbolKind::Data);
    let y = g.declare("y", SymbolKind::Data);
    let m = g.declare("m", SymbolKind::Param);
    let b = g.declare("b", SymbolKind::Param);
    let (xn, yn, mn, bn) = (g.sym(x), g.sym(y), g.sym(m), g.sym(b));
    let mx = g.mul(mn, xn);
    let yhat = g.add(mx, bn);
    let r = g.sub(yhat, yn);
    let sq = g.powf(r, 2.0);
    let loss = g.reduce(Reduction::Mean, sq);
    let layout = Layout {
        params: vec![m, b],
        columns: vec![x, y],
    };
    let runs = 2000;
    let t = Instant::now();
    let mut outputs = Vec::new();
    for _ in 0..runs {
        let mut g2 = g.clone();
        let grad = ddx::diff::gradient(&mut g2, loss, &[m, b]);
        outputs = vec![loss, grad[0], grad[1]];
        std::hint::black_box(&g2);
    }
    let clone_diff = t.elapsed() / runs;
    let grad = ddx::diff::gradient(&mut g, loss, &[m, b]);
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
