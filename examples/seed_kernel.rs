//! The seed model's kernel, stage by stage: schedule, CLIF, assembly, the
//! outputs at the initial params and the gradient check.
//!
//! `cargo run --example seed_kernel`

use ddx::codegen::{compile_with, model_columns, model_layout, model_outputs, Options};
use ddx::graph::{Graph, Reduction, SymbolKind};
use ddx::program::{Binding, DataColumn, Model, Param};

fn seed() -> Model {
    let xs = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let ys = vec![1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];
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
    Model {
        graph: g,
        data: vec![
            DataColumn {
                name: "x".into(),
                sym: x,
                values: xs,
                span: 0..0,
            },
            DataColumn {
                name: "y".into(),
                sym: y,
                values: ys,
                span: 0..0,
            },
        ],
        params: vec![
            Param {
                name: "m".into(),
                sym: m,
                init: 0.9,
                span: 0..0,
            },
            Param {
                name: "b".into(),
                sym: b,
                init: 0.1,
                span: 0..0,
            },
        ],
        lets: vec![Binding {
            name: "yhat".into(),
            node: yhat,
            span: 0..0,
        }],
        loss: Binding {
            name: "C".into(),
            node: loss,
            span: 0..0,
        },
        train: None,
        rows: 8,
    }
}

fn main() {
    let mut model = seed();
    let outputs = model_outputs(&mut model);
    let layout = model_layout(&model);
    let options = Options {
        inspect: true,
        ..Options::default()
    };
    let kernel = compile_with(&model.graph, &outputs, &layout, &options).expect("compile");
    let names = ["C", "dC/dm", "dC/db"].map(String::from);
    println!(
        "== schedule\n{}",
        kernel.schedule().clone().with_output_names(&names)
    );
    println!("== clif\n{}", kernel.clif().unwrap_or_default());
    println!("== asm\n{}", kernel.asm().unwrap_or_default());
    let mut out = [0.0; 3];
    kernel
        .call(&[0.9, 0.1], &model_columns(&model), &mut out)
        .expect("call");
    println!("== outputs at m = 0.9, b = 0.1\n{out:?}\n");
    let report = ddx::gradcheck::check_model(&mut model).expect("check");
    println!("== check\n{report}");
}
