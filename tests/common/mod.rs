//! Helpers shared by the integration tests: the command-line harness
//! ([`cli`]), plot checks ([`images`]), generated expressions ([`exprs`]),
//! and (here) expressions checked by the real front end, CSV tables, the
//! seed data, models and graphs built directly with the Graph API, the
//! interpreter and simplifier on one expression, and numeric comparisons.
//! Each test binary uses a part of them.
#![allow(dead_code, unreachable_pub)]

pub mod cli;
pub mod exprs;
pub mod images;
// model_outputs, shared with the benches and examples
#[path = "../../benches/support/outputs.rs"]
pub mod outputs;

use ddx::{check, Source, Unit};
use ddx::{eval, EvalError, Layout};
use ddx::{Binding, DataColumn, Function, Model, Param};
use ddx::{Graph, NodeId, Reduction, SymId, SymbolKind};

/// An expression checked by the real front end in expression mode (`NAME =
/// expr` or a bare `expr`); panics with the rendered diagnostic otherwise.
pub fn function(src: &str) -> Function {
    let source = Source::new("<expr>", src);
    match check(&source, None) {
        Ok(Unit::Expr(f)) => f,
        Ok(Unit::Model(_)) => panic!("expected expression mode"),
        Err(d) => panic!("{}", d.render(&source)),
    }
}

/// An entry of the derivative corpus (tests/data/diff_corpus.tsv).
pub struct CorpusEntry {
    /// The function, in expression mode.
    pub expr: String,
    /// The variable to differentiate by.
    pub var: String,
    /// The operations of SymPy's `simplify(diff(f))`.
    pub sympy_ops: u32,
}

/// The derivative corpus, comments and empty lines skipped.
pub fn corpus() -> Vec<CorpusEntry> {
    include_str!("../data/diff_corpus.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            CorpusEntry {
                expr: c[0].to_string(),
                var: c[1].to_string(),
                sympy_ops: c[2].parse().expect("ops column"),
            }
        })
        .collect()
}

/// Simplifies one expression.
pub fn simplify_one(g: &mut Graph, root: NodeId) -> NodeId {
    ddx::simplify(g, &[root])[0]
}

/// Evaluates `outputs` of an expression without data, the variables given
/// by `values` (every symbol used must be there).
pub fn eval_scalar(
    g: &Graph,
    outputs: &[NodeId],
    values: &[(SymId, f64)],
) -> Result<Vec<f64>, EvalError> {
    let layout = Layout::scalars(&values.iter().map(|v| v.0).collect::<Vec<_>>());
    let params: Vec<f64> = values.iter().map(|v| v.1).collect();
    eval(g, outputs, &layout, &params, &[])
}

/// |a - b| relative to the larger magnitude (0 when a == b, including
/// equal infinities).
pub fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

/// |a - b| <= tol * (1 + max(|a|, |b|)): an absolute tolerance near zero,
/// a relative one for large values.
pub fn close_mixed(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// |a - b| <= tol * max(|a|, |b|, 1e-3): a relative tolerance, with
/// magnitudes below 1e-3 counted as 1e-3.
pub fn close_relative(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-3)
}

/// A CSV of numbers (the logs and the references).
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

/// Reads a CSV of numbers: a header, then rows (empty lines skipped).
pub fn table(text: &str) -> Table {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}")))
                .collect()
        })
        .collect();
    Table { header, rows }
}

/// The seed notebook's data, read from tests/data/trial.csv.
pub fn seed_data() -> (Vec<f64>, Vec<f64>) {
    let t = table(&cli::read(cli::data("trial.csv")));
    assert_eq!(t.header, ["dosage", "forgetfulness"]);
    (
        t.rows.iter().map(|r| r[0]).collect(),
        t.rows.iter().map(|r| r[1]).collect(),
    )
}

/// The seed model's graph: data x, y; params m, b (declared in that order);
/// `yhat = m*x + b` and the loss `mean((yhat - y)^2)`. Returns yhat, the
/// loss and the layout (params m, b; columns x, y).
pub fn seed_graph(g: &mut Graph) -> (NodeId, NodeId, Layout) {
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
    (yhat, loss, layout)
}

/// The seed model: data x, y; params m = 0.9, b = 0.1; loss mean((m*x+b-y)^2).
pub fn seed_model() -> Model {
    let (xs, ys) = seed_data();
    let mut g = Graph::new();
    let (yhat, loss, layout) = seed_graph(&mut g);
    let [x, y] = [layout.columns[0], layout.columns[1]];
    let [m, b] = [layout.params[0], layout.params[1]];
    let rows = xs.len();
    Model {
        graph: g,
        data: vec![
            DataColumn {
                name: "x".into(),
                sym: x,
                shape: Vec::new(),
                values: xs,
                span: 0..0,
            },
            DataColumn {
                name: "y".into(),
                sym: y,
                shape: Vec::new(),
                values: ys,
                span: 0..0,
            },
        ],
        params: vec![
            Param {
                name: "m".into(),
                sym: m,
                shape: Vec::new(),
                init: vec![0.9].into(),
                span: 0..0,
            },
            Param {
                name: "b".into(),
                sym: b,
                shape: Vec::new(),
                init: vec![0.1].into(),
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
        rows,
    }
}

/// Same bits, or both NaN.
pub fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Asserts that two output vectors are equal bit for bit (NaN == NaN).
pub fn assert_same(jit: &[f64], interp: &[f64], what: &str) {
    assert_eq!(jit.len(), interp.len());
    for (i, (a, b)) in jit.iter().zip(interp).enumerate() {
        assert!(
            same(*a, *b),
            "{what}: output {i}: jit {a:e} ({:#x}) != interpreter {b:e} ({:#x})",
            a.to_bits(),
            b.to_bits()
        );
    }
}

/// A model graph with `params` params and `columns` data columns.
pub fn symbols(g: &mut Graph, params: usize, columns: usize) -> (Vec<SymId>, Vec<SymId>) {
    let ps = (0..params)
        .map(|i| g.declare(&format!("p{i}"), SymbolKind::Param))
        .collect();
    let cs = (0..columns)
        .map(|i| g.declare(&format!("c{i}"), SymbolKind::Data))
        .collect();
    (ps, cs)
}

/// Loss and gradient of `loss` over the layout.
pub fn with_gradient(g: &mut Graph, loss: NodeId, layout: &Layout) -> Vec<NodeId> {
    let grad = ddx::gradient(g, loss, &layout.params);
    std::iter::once(loss).chain(grad).collect()
}

/// The parts of `sum((x - mean(x*m))^2) + mean(x) * m + sum(3)`: the outer
/// sum (a reduction inside a reduction: two loops), `mean(x)` (data only),
/// `sum(3)` (row-invariant) and `m`; with the layout (param m, column x).
pub fn nested_parts(g: &mut Graph) -> ([NodeId; 4], Layout) {
    let (ps, cs) = symbols(g, 1, 1);
    let (x, m) = (g.sym(cs[0]), g.sym(ps[0]));
    let xm = g.mul(x, m);
    let inner = g.reduce(Reduction::Mean, xm);
    let d = g.sub(x, inner);
    let sq = g.powf(d, 2.0);
    let outer = g.reduce(Reduction::Sum, sq);
    let mean_x = g.reduce(Reduction::Mean, x);
    let three = g.constant(3.0);
    let s3 = g.reduce(Reduction::Sum, three);
    let layout = Layout {
        params: ps,
        columns: cs,
    };
    ([outer, mean_x, s3, m], layout)
}

/// `sum((x - mean(x*m))^2) + mean(x) * m + sum(3)` (see [`nested_parts`])
/// and its gradient.
pub fn nested_model(g: &mut Graph) -> (Vec<NodeId>, Layout) {
    let ([outer, mean_x, s3, m], layout) = nested_parts(g);
    let t = g.mul(mean_x, m);
    let a = g.add(outer, t);
    let loss = g.add(a, s3);
    (with_gradient(g, loss, &layout), layout)
}
