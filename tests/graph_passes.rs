//! The graph passes on expressions written as strings (checked by the
//! real front end in expression mode) or built with the Graph API:
//! simplification, derivatives, expression swell, evaluation and printing.

mod common;

use common::{function, simplify_one};
use ddx::eval;
use ddx::gradient;
use ddx::simplify;
use ddx::{to_latex, to_text};
use ddx::{Graph, NodeId};

/// The graph and root of an expression, checked by the real front end.
fn parse(src: &str) -> (Graph, NodeId) {
    let f = function(src);
    (f.graph, f.root)
}

// ---- simplify and differentiate ---------------------------------------------

fn simp(src: &str) -> String {
    let (mut g, e) = parse(src);
    let s = simplify_one(&mut g, e);
    to_text(&g, s)
}

fn d(src: &str, var: &str) -> String {
    let (mut g, e) = parse(src);
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
    let (mut g, e) = parse(src);
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

/// Every derivative of the corpus (tests/data/diff_corpus.tsv), simplified,
/// prints as text that parses and simplifies back to the same text.
#[test]
fn corpus_derivatives_print_and_parse_back() {
    let mut failures = Vec::new();
    for entry in common::corpus() {
        let (mut g, e) = parse(&entry.expr);
        let e = simplify_one(&mut g, e);
        let v = g.symbol_id(&entry.var).unwrap();
        let de = gradient(&mut g, e, &[v])[0];
        let s = simplify_one(&mut g, de);
        let text = to_text(&g, s);
        let (mut h, back) = parse(&text);
        let back = simplify_one(&mut h, back);
        let again = to_text(&h, back);
        if again != text {
            failures.push(format!(
                "d/d{} {}: {text} -> {again}",
                entry.var, entry.expr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- evaluate ---------------------------------------------------------------

#[test]
fn seed_model_loss() {
    let mut g = Graph::new();
    let (_, loss, layout) = common::seed_graph(&mut g);
    let xs = [0.0, 1.0, 2.0];
    let ys = [1.0, 1.0, 1.0];
    let got = eval(&g, &[loss], &layout, &[2.0, 1.0], &[&xs, &ys]).unwrap();
    // residuals 0, 2, 4 -> (0 + 4 + 16) / 3
    assert_eq!(got, vec![20.0 / 3.0]);
}

#[test]
fn nested_and_data_only_reductions() {
    let mut g = Graph::new();
    let ([outer, mean_x, sum_c, _], layout) = common::nested_parts(&mut g);
    let xs = [1.0, 2.0, 3.0, 6.0];
    let got = eval(&g, &[outer, mean_x, sum_c], &layout, &[1.0], &[&xs]).unwrap();
    // mean 3: (4 + 1 + 0 + 9)
    assert_eq!(got, vec![14.0, 3.0, 12.0]);
}

// ---- print ------------------------------------------------------------------

fn round(src: &str) -> String {
    let (g, e) = parse(src);
    to_text(&g, e)
}

#[test]
fn minimal_parentheses() {
    assert_eq!(round("(a + b) + c"), "a + b + c");
    assert_eq!(round("a - (b + c)"), "a - (b + c)");
    assert_eq!(round("a / (b * c)"), "a/(b*c)");
    assert_eq!(round("(a * b) / c"), "a*b/c");
    assert_eq!(round("-(x^2)"), "-x^2");
    assert_eq!(round("(-x)^2"), "(-x)^2");
    assert_eq!(round("2^(3^x)"), "2^3^x");
    assert_eq!(round("(2^x)^3"), "(2^x)^3");
    assert_eq!(round("sin(x + 1) * 3"), "sin(x + 1)*3");
}

#[test]
fn latex() {
    let (g, e) = parse("sqrt(x)/(2*y) + x^2");
    assert_eq!(to_latex(&g, e), "\\frac{\\sqrt{x}}{2 \\cdot y} + x^{2}");
}
