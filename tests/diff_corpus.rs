//! The derivative corpus: textbook functions, chains, products, quotients,
//! powers and every function of the language (tests/data/diff_corpus.tsv,
//! generated with SymPy by tests/data/gen_diff_corpus.py).
//!
//! For every entry: the printed derivative equals central finite differences
//! of the function, parses back to the same values, and has no more
//! operations than SymPy's `simplify(diff(f))` (within the rounding of the
//! two tools' counting conventions).

mod common;

use common::{corpus, eval_scalar, function};
use ddx::Unit;
use ddx::{derivatives, DiffOptions};
use ddx::{Graph, NodeId};

/// Values at a point, by variable name.
fn value(g: &Graph, node: NodeId, point: &[(&str, f64)]) -> f64 {
    let values: Vec<_> = point
        .iter()
        .filter_map(|(n, v)| g.symbol_id(n).map(|s| (s, *v)))
        .collect();
    eval_scalar(g, &[node], &values).expect("evaluates")[0]
}

const POINTS: [[(&str, f64); 6]; 3] = [
    [
        ("x", 0.3),
        ("y", 0.7),
        ("z", 1.3),
        ("w", 0.4),
        ("b", 0.2),
        ("m", 0.9),
    ],
    [
        ("x", 0.55),
        ("y", 1.9),
        ("z", -0.6),
        ("w", -0.8),
        ("b", 0.5),
        ("m", -1.2),
    ],
    [
        ("x", 0.8),
        ("y", -0.35),
        ("z", 2.1),
        ("w", 1.1),
        ("b", -0.3),
        ("m", 0.4),
    ],
];

#[test]
fn derivatives_match_finite_differences_and_round_trip() {
    let mut failures = Vec::new();
    for e in corpus() {
        let f = function(&e.expr);
        let fg = f.graph.clone();
        let froot = f.root;
        let opts = DiffOptions {
            wrt: vec![e.var.clone()],
            ..DiffOptions::default()
        };
        let d = derivatives(Unit::Expr(f), &opts).expect("differentiates");
        let item = &d.items[0];
        let text = ddx::to_text(&d.graph, item.expr);
        let back = function(&format!("g = {text}"));
        for point in POINTS {
            let f0 = value(&fg, froot, &point);
            if !f0.is_finite() {
                continue;
            }
            let exact = value(&d.graph, item.expr, &point);
            let h = 1e-6;
            let shifted = |dx: f64| {
                let p: Vec<(&str, f64)> = point
                    .iter()
                    .map(|&(n, v)| (n, if n == e.var { v + dx } else { v }))
                    .collect();
                value(&fg, froot, &p)
            };
            let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
            if (exact - fd).abs() > 1e-5 * (1.0 + fd.abs()) {
                failures.push(format!(
                    "{} d/d{}: {text} = {exact}, finite differences {fd}",
                    e.expr, e.var
                ));
            }
            let reparsed = value(&back.graph, back.root, &point);
            if (reparsed - exact).abs() > 1e-12 * (1.0 + exact.abs()) {
                failures.push(format!(
                    "{} d/d{}: printed {text} gives {reparsed}, graph {exact}",
                    e.expr, e.var
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn derivatives_are_no_larger_than_sympys() {
    let mut report = Vec::new();
    let (mut ours_total, mut theirs_total) = (0u32, 0u32);
    for e in corpus() {
        let f = function(&e.expr);
        let opts = DiffOptions {
            wrt: vec![e.var.clone()],
            ..DiffOptions::default()
        };
        let d = derivatives(Unit::Expr(f), &opts).expect("differentiates");
        let ours = d.graph.meta(d.items[0].expr).size;
        ours_total += ours;
        theirs_total += e.sympy_ops;
        // SymPy counts `sqrt` as two operations and `-x` inside `exp` as
        // one more than ddx does: allow one operation for conventions
        // SymPy writes the logistic function's derivative with the identity
        // exp(u)/(exp(u) + 1)^2 = 1/(4*cosh(u/2)^2), which ddx does not apply
        // (it blocks cancellations elsewhere); ddx's `sigmoid` has its own rule
        let logistic = e.expr.starts_with("1/(1+exp(-(");
        if ours > e.sympy_ops + 1 && !(logistic && ours <= e.sympy_ops + 2) {
            let text = ddx::to_text(&d.graph, d.items[0].expr);
            report.push(format!(
                "{} d/d{}: {text} has {ours} ops, SymPy {}",
                e.expr, e.var, e.sympy_ops
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert!(
        ours_total <= theirs_total,
        "corpus total: ddx {ours_total} ops, SymPy {theirs_total}"
    );
}
