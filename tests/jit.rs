//! The JIT on fixed models: reference results, reductions, inline operators,
//! argument validation, inspection and code memory.

mod common;

use common::outputs::model_outputs;
use common::{assert_same, eval_scalar, nested_model, rel, seed_model};
use common::{symbols, with_gradient};
use ddx::{
    compile, compile_with, hessian, model_columns, model_layout, CodegenError, CodegenOptions,
    Kernel, KernelError,
};
use ddx::{eval, BLOCK_ROWS};
use ddx::{BinOp, Graph, Reduction, SymbolKind, UnOp};
use ddx::{Layout, LayoutError};

/// A model's loss and unsimplified gradient, compiled: `out[0]` is the
/// loss, `out[1 + i]` the derivative with respect to param `i`.
fn compile_model(model: &mut ddx::Model) -> Result<Kernel, CodegenError> {
    let outputs = model_outputs(model);
    compile(&model.graph, &outputs, &model_layout(model))
}

/// A file of tests/data.
fn read_reference(name: &str) -> String {
    common::cli::read(common::cli::data(name))
}

#[test]
fn seed_loss_and_gradient_follow_the_pytorch_trajectory() {
    // Each epoch's cost and gradients are taken at the params after the
    // previous epoch: evaluate the kernel there and compare.
    let mut model = seed_model();
    let kernel = compile_model(&mut model).unwrap();
    let columns = model_columns(&model);
    let bound = kernel.bind(&columns).unwrap();
    let csv = read_reference("seed_regression_f64.csv");
    let mut params = vec![0.9, 0.1];
    let mut out = [0.0; 3];
    let mut epochs = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        bound.call(&params, &mut out).unwrap();
        for (k, (got, want)) in out.iter().zip(&f[1..4]).enumerate() {
            assert!(
                rel(*got, *want) <= 1e-12,
                "epoch {}: output {k} = {got}, reference {want}",
                f[0]
            );
        }
        params = vec![f[4], f[5]];
        epochs += 1;
    }
    assert_eq!(epochs, 1000);
}

#[test]
fn one_newton_step_reaches_the_least_squares_optimum() {
    let mut model = seed_model();
    let outputs = model_outputs(&mut model);
    let syms: Vec<_> = model.params.iter().map(|p| p.sym).collect();
    let h = hessian(&mut model.graph, &outputs[1..], &syms);
    let all: Vec<_> = outputs.iter().chain(&h).copied().collect();
    let kernel = compile(&model.graph, &all, &model_layout(&model)).unwrap();
    let mut out = [0.0; 7];
    kernel
        .call(&[0.9, 0.1], &model_columns(&model), &mut out)
        .unwrap();
    let (g0, g1) = (out[1], out[2]);
    let [a, b, c, d] = [out[3], out[4], out[5], out[6]];
    assert_eq!(b.to_bits(), c.to_bits(), "the Hessian is symmetric");
    let det = a * d - b * c;
    let m = 0.9 - (d * g0 - b * g1) / det;
    let bb = 0.1 - (a * g1 - c * g0) / det;
    let json: serde_json::Value = serde_json::from_str(&read_reference("seed_lstsq.json")).unwrap();
    let want_m = json["m_exact_float"].as_f64().unwrap();
    let want_b = json["b_exact_float"].as_f64().unwrap();
    assert!((m - want_m).abs() <= 1e-12, "m = {m}, optimum {want_m}");
    assert!((bb - want_b).abs() <= 1e-12, "b = {bb}, optimum {want_b}");
}

#[test]
fn seed_schedule_text() {
    let mut model = seed_model();
    let kernel = compile_model(&mut model).unwrap();
    let names = ["C", "dC/dm", "dC/db"].map(String::from);
    let text = kernel
        .schedule()
        .clone()
        .with_output_names(&names)
        .to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn nested_and_data_only_reductions() {
    let mut g = Graph::new();
    let (outputs, layout) = nested_model(&mut g);
    let kernel = compile(&g, &outputs, &layout).unwrap();
    assert_eq!(kernel.schedule().loops.len(), 2, "{}", kernel.schedule());
    assert_eq!(kernel.schedule().pre.len(), 1, "mean(x) is precomputed");
    let plain = compile_with(
        &g,
        &outputs,
        &layout,
        &CodegenOptions {
            precompute_data: false,
            ..CodegenOptions::default()
        },
    )
    .unwrap();
    assert!(plain.schedule().pre.is_empty());
    for n in [
        0usize,
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        13,
        BLOCK_ROWS - 1,
        BLOCK_ROWS,
        2 * BLOCK_ROWS + 3,
    ] {
        let xs: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 101) as f64 / 7.0 - 3.0)
            .collect();
        for m in [0.7, -1.3] {
            let want = eval(&g, &outputs, &layout, &[m], &[&xs]).unwrap();
            let mut a = [0.0; 2];
            kernel.call(&[m], &[&xs], &mut a).unwrap();
            assert_same(&a, &want, &format!("call n={n}"));
            let bound = kernel.bind(&[&xs]).unwrap();
            let mut b = [0.0; 2];
            bound.call(&[m], &mut b).unwrap();
            assert_same(&b, &want, &format!("bound n={n}"));
            let mut c = [0.0; 2];
            plain.call(&[m], &[&xs], &mut c).unwrap();
            assert_same(&c, &want, &format!("no precompute n={n}"));
        }
    }
}

#[test]
fn nested_schedule_text() {
    let mut g = Graph::new();
    let (outputs, layout) = nested_model(&mut g);
    let kernel = compile(&g, &outputs, &layout).unwrap();
    let text = format!(
        "{}== data-only reductions\n{}",
        kernel.schedule(),
        kernel.prep_schedule().expect("mean(x) is precomputed")
    );
    insta::assert_snapshot!(text);
}

#[test]
fn inline_operators_match_the_value_rules_on_special_values() {
    // Every operator the JIT inlines, on a column of special values, both in
    // the vector loop and in the tail, and on scalars.
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.5,
        -2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::MIN_POSITIVE,
        -5e-324,
        1e308,
    ];
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &a in &specials {
        for &b in &specials {
            xs.push(a);
            ys.push(b);
        }
    }
    let mut g = Graph::new();
    let (ps, cs) = symbols(&mut g, 2, 2);
    let layout = Layout {
        params: ps.clone(),
        columns: cs.clone(),
    };
    let (x, y) = (g.sym(cs[0]), g.sym(cs[1]));
    let (p, q) = (g.sym(ps[0]), g.sym(ps[1]));
    let mut per_row = Vec::new();
    let mut scalar = Vec::new();
    for op in [
        UnOp::Neg,
        UnOp::Abs,
        UnOp::Sqrt,
        UnOp::Relu,
        UnOp::Sign,
        UnOp::Step,
    ] {
        per_row.push(g.unary(op, x));
        scalar.push(g.unary(op, p));
    }
    for op in [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Min,
        BinOp::Max,
        BinOp::Pow,
    ] {
        per_row.push(g.binary(op, x, y));
        scalar.push(g.binary(op, p, q));
    }
    for e in [2.0, -1.0, 0.5, 3.0] {
        per_row.push(g.powf(x, e));
        scalar.push(g.powf(p, e));
    }
    // One output per row and per operator: sum(e * step-free selector) is
    // not needed; a sum over one row is the value itself.
    let kernel_outputs: Vec<_> = per_row
        .iter()
        .map(|&e| g.reduce(Reduction::Sum, e))
        .collect();
    let kernel = compile(&g, &kernel_outputs, &layout).unwrap();
    let mut out = vec![0.0; kernel_outputs.len()];
    for i in 0..xs.len() {
        // Row i alone, at every position of a group of four rows (the other
        // rows are zeros), so each lane and the tail see every value.
        for pos in 0..6 {
            let mut cx = [0.0; 6];
            let mut cy = [0.0; 6];
            cx[pos] = xs[i];
            cy[pos] = ys[i];
            let n = pos + 1;
            let cols: [&[f64]; 2] = [&cx[..n], &cy[..n]];
            kernel.call(&[0.0, 0.0], &cols, &mut out).unwrap();
            let want = eval(&g, &kernel_outputs, &layout, &[0.0, 0.0], &cols).unwrap();
            assert_same(
                &out,
                &want,
                &format!("x={:e} y={:e} pos={pos}", xs[i], ys[i]),
            );
        }
    }
    let scalar_kernel = compile(&g, &scalar, &layout).unwrap();
    let mut out = vec![0.0; scalar.len()];
    for i in 0..xs.len() {
        let params = [xs[i], ys[i]];
        scalar_kernel.call(&params, &[&[], &[]], &mut out).unwrap();
        let want = eval(&g, &scalar, &layout, &params, &[&[], &[]]).unwrap();
        assert_same(&out, &want, &format!("scalar p={:e} q={:e}", xs[i], ys[i]));
    }
}

#[test]
fn expression_mode_compiles_without_a_loop() {
    let mut g = Graph::new();
    let x = g.declare("x", SymbolKind::Free);
    let y = g.declare("y", SymbolKind::Free);
    let (xn, yn) = (g.sym(x), g.sym(y));
    let xy = g.mul(xn, yn);
    let s = g.call(UnOp::Sin, xn);
    let f = g.add(xy, s);
    let grad = ddx::gradient(&mut g, f, &[x, y]);
    let outputs = [f, grad[0], grad[1]];
    let layout = Layout::scalars(&[x, y]);
    let kernel = compile(&g, &outputs, &layout).unwrap();
    assert!(kernel.schedule().loops.is_empty());
    let mut out = [0.0; 3];
    kernel.call(&[0.5, 3.0], &[], &mut out).unwrap();
    let want = eval_scalar(&g, &outputs, &[(x, 0.5), (y, 3.0)]).unwrap();
    assert_same(&out, &want, "f = x*y + sin(x)");
    assert_eq!(out[2], 0.5);
}

#[test]
fn kernel_calls_validate_every_length() {
    let mut model = seed_model();
    let kernel = compile_model(&mut model).unwrap();
    let (xs, ys) = common::seed_data();
    let mut out = [0.0; 3];
    assert_eq!(
        kernel.call(&[0.9], &[&xs, &ys], &mut out),
        Err(KernelError::Params {
            expected: 2,
            got: 1
        })
    );
    assert_eq!(
        kernel.call(&[0.9, 0.1], &[&xs], &mut out),
        Err(KernelError::Columns {
            expected: 2,
            got: 1
        })
    );
    assert_eq!(
        kernel.call(&[0.9, 0.1], &[&xs, &ys[..5]], &mut out),
        Err(KernelError::ColumnLength {
            name: "y".into(),
            expected: 8,
            got: 5
        })
    );
    assert_eq!(
        kernel.call(&[0.9, 0.1], &[&xs, &ys], &mut out[..2]),
        Err(KernelError::Outputs {
            expected: 3,
            got: 2
        })
    );
    let bound = kernel.bind(&[&xs, &ys]).unwrap();
    assert_eq!(
        bound.call(&[0.9, 0.1, 3.0], &mut out),
        Err(KernelError::Params {
            expected: 2,
            got: 3
        })
    );
    assert!(kernel.bind(&[&xs[..3], &ys]).is_err());
    assert_eq!(out, [0.0; 3], "nothing written by refused calls");
    kernel.call(&[0.9, 0.1], &[&xs, &ys], &mut out).unwrap();
    assert!(out[0] > 0.0);
}

#[test]
fn compile_errors_name_the_problem() {
    let mut g = Graph::new();
    let (ps, cs) = symbols(&mut g, 1, 1);
    let (x, p) = (g.sym(cs[0]), g.sym(ps[0]));
    let e = g.mul(x, p);
    let full = Layout {
        params: ps.clone(),
        columns: cs.clone(),
    };
    match compile(&g, &[e], &full) {
        Err(CodegenError::Layout(LayoutError::PerRowOutput { index: 0 })) => {}
        other => panic!("{other:?}"),
    }
    let s = g.reduce(Reduction::Sum, e);
    let no_data = Layout::scalars(&ps);
    match compile(&g, &[s], &no_data) {
        Err(CodegenError::Layout(LayoutError::Unbound { name })) => assert_eq!(name, "c0"),
        other => panic!("{other:?}"),
    }
    let swapped = Layout {
        params: cs.clone(),
        columns: ps.clone(),
    };
    assert!(matches!(
        compile(&g, &[s], &swapped),
        Err(CodegenError::Layout(LayoutError::DataAsParam { .. }))
    ));
}

#[test]
fn inspection_shows_clif_and_assembly() {
    let mut g = Graph::new();
    let (ps, cs) = symbols(&mut g, 1, 1);
    let (x, p) = (g.sym(cs[0]), g.sym(ps[0]));
    let e = g.mul(x, p);
    let s = g.call(UnOp::Sin, e);
    let loss = g.reduce(Reduction::Mean, s);
    let layout = Layout {
        params: ps,
        columns: cs,
    };
    let outputs = with_gradient(&mut g, loss, &layout);
    let plain = compile(&g, &outputs, &layout).unwrap();
    assert!(plain.clif().is_none() && plain.asm().is_none());
    let k = compile_with(
        &g,
        &outputs,
        &layout,
        &CodegenOptions {
            inspect: true,
            ..CodegenOptions::default()
        },
    )
    .unwrap();
    let clif = k.clif().unwrap();
    assert!(clif.contains("function u0:"), "{clif}");
    assert!(clif.contains("f64x2"), "{clif}");
    let asm = k.asm().unwrap();
    assert!(asm.contains("ddx_sin"), "{asm}");
    assert!(asm.contains("ddx_cos"), "{asm}");
    if cfg!(target_arch = "x86_64") {
        assert!(asm.contains("ret"), "{asm}");
        assert!(asm.contains("mulpd"), "{asm}");
    }
}

#[test]
fn kernels_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Kernel>();
}
