//! Tables of simplified expressions and derivatives, and the swell bound.

use super::*;
use crate::diff::gradient;
use crate::graph::testparse::parse;
use crate::print::to_text;

fn simp(src: &str) -> String {
    let mut g = Graph::new();
    let e = parse(&mut g, src);
    let s = simplify_one(&mut g, e);
    to_text(&g, s)
}

fn d(src: &str, var: &str) -> String {
    let mut g = Graph::new();
    let e = parse(&mut g, src);
    let e = simplify_one(&mut g, e);
    let v = g.symbol_id(var).unwrap();
    let de = gradient(&mut g, e, &[v])[0];
    let s = simplify_one(&mut g, de);
    to_text(&g, s)
}

#[test]
fn derivatives_table() {
    let cases = [
        ("x^2", "x", "2*x"),
        ("sin(x)", "x", "cos(x)"),
        ("exp(x)", "x", "exp(x)"),
        ("ln(x)", "x", "1/x"),
        ("3*x + 2", "x", "3"),
        ("x*y", "x", "y"),
        ("x*y + sin(x)", "x", "y + cos(x)"),
        ("x^3", "x", "3*x^2"),
        ("x*exp(x)", "x", "(x + 1)*exp(x)"),
        ("x/(x+1)", "x", "1/(x + 1)^2"),
        ("sqrt(x)", "x", "0.5/sqrt(x)"),
        ("x/2", "x", "0.5"),
        ("x^2/2 + 3", "x", "x"),
        ("1/x", "x", "-1/x^2"),
        ("tan(x)", "x", "1/cos(x)^2"),
        ("(x+1)^2 - x^2", "x", "2"),
        ("sin(x)^2 + cos(x)^2", "x", "0"),
        ("x^x", "x", "x^x*(ln(x) + 1)"),
    ];
    let mut failures = Vec::new();
    for (f, v, want) in cases {
        let got = d(f, v);
        if got != want {
            failures.push(format!("d/d{v} {f}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn ops_ratio(src: &str) -> (usize, usize) {
    let mut g = Graph::new();
    let e = parse(&mut g, src);
    let e = simplify_one(&mut g, e);
    let vars: Vec<_> = (0..g.symbols().len())
        .map(|i| g.symbol_id(&g.symbols()[i].name.clone()).unwrap())
        .collect();
    let grads = gradient(&mut g, e, &vars);
    let grads = simplify(&mut g, &grads);
    (g.op_count(&[e]), g.op_count(&grads))
}

fn nested_sin(depth: usize) -> String {
    let mut s = "x".to_string();
    for _ in 0..depth {
        s = format!("sin({s})");
    }
    s
}

fn product(n: usize) -> String {
    (1..=n)
        .map(|i| format!("(x+{i})"))
        .collect::<Vec<_>>()
        .join("*")
}

/// The loss of a 3-4-1 tanh network over 8 points, written out.
fn network() -> String {
    let mut terms = Vec::new();
    for i in 0..8 {
        let x: Vec<f64> = (0..3).map(|k| ((i * 3 + k) as f64 * 0.37).sin()).collect();
        let y = (i as f64 * 0.5).cos();
        let hidden: Vec<String> = (1..=4)
            .map(|j| {
                format!(
                    "v{j}*tanh(w{j}1*{} + w{j}2*{} + w{j}3*{} + b{j})",
                    x[0], x[1], x[2]
                )
            })
            .collect();
        terms.push(format!("({} + c - {y})^2", hidden.join(" + ")));
    }
    format!("({})/8", terms.join(" + "))
}

#[test]
fn no_expression_swell() {
    for (name, src) in [
        ("sin^40", nested_sin(40)),
        ("product of 20", product(20)),
        ("tanh network", network()),
    ] {
        let (f, gr) = ops_ratio(&src);
        eprintln!("{name}: function {f} ops, gradient {gr} ops");
        assert!(gr <= 3 * f, "{name}: gradient {gr} ops vs function {f} ops");
    }
}

#[test]
fn simplify_table() {
    let cases = [
        ("x + x", "2*x"),
        ("x*x", "x^2"),
        ("x - x", "0"),
        ("2*(x + 1) + 1", "2*x + 3"),
        ("x/x", "1"),
        ("sqrt(x)*sqrt(x)", "x"),
        ("sqrt(x^2)", "abs(x)"),
        ("-(-x)", "x"),
        ("b + m*x - y", "b + m*x - y"),
        ("y - x", "y - x"),
        ("-x + y", "y - x"),
    ];
    let mut failures = Vec::new();
    for (f, want) in cases {
        let got = simp(f);
        if got != want {
            failures.push(format!("{f}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
