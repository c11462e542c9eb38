//! Property tests of differentiation and simplification over generated
//! expressions, with independent oracles: central finite differences for
//! derivatives, the interpreter for simplification.

mod common;

use common::exprs::{lower, BINOPS, E};
use common::{close_mixed, eval_scalar};
use ddx::gradient;
use ddx::simplify;
use ddx::{BinOp, Graph, NodeId, SymId, SymbolKind, UnOp};
use proptest::prelude::*;

/// The variables `x` and `y`, the generated expressions' only symbols.
const X: E = E::Param(0);
const Y: E = E::Param(1);

fn unop() -> impl Strategy<Value = UnOp> {
    // every function of the language (sign and step have derivative 0 and
    // are covered through relu, max and min), and negation
    let mut ops: Vec<UnOp> = UnOp::FUNCTIONS
        .iter()
        .copied()
        .filter(|f| !matches!(f, UnOp::Sign | UnOp::Step))
        .collect();
    ops.push(UnOp::Neg);
    prop::sample::select(ops)
}

fn binop() -> impl Strategy<Value = BinOp> {
    prop::sample::select(BINOPS.to_vec())
}

fn expr() -> impl Strategy<Value = E> {
    let leaf = prop_oneof![
        3 => Just(X),
        2 => Just(Y),
        2 => prop::sample::select(vec![0.5, 1.0, 2.0, 3.0, -1.0, 0.25, 1.5]).prop_map(E::Const),
    ];
    leaf.prop_recursive(5, 40, 2, |inner| {
        prop_oneof![
            3 => (unop(), inner.clone()).prop_map(|(op, a)| E::Un(op, Box::new(a))),
            4 => (binop(), inner.clone(), inner.clone())
                .prop_map(|(op, a, b)| E::Bin(op, Box::new(a), Box::new(b))),
            1 => (inner, -3i32..5).prop_map(|(a, n)| E::PowInt(Box::new(a), n)),
        ]
    })
}

struct Case {
    g: Graph,
    f: NodeId,
    x: SymId,
    y: SymId,
}

fn case(e: &E) -> Case {
    let mut g = Graph::new();
    let x = g.declare("x", SymbolKind::Free);
    let y = g.declare("y", SymbolKind::Free);
    let f = lower(&mut g, e, &[x, y], &[]);
    Case { g, f, x, y }
}

fn at(c: &Case, node: NodeId, x: f64, y: f64) -> f64 {
    eval_scalar(&c.g, &[node], &[(c.x, x), (c.y, y)]).expect("evaluates")[0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, max_global_rejects: 1_000_000, ..ProptestConfig::default() })]

    /// Simplification preserves the value wherever the original is finite.
    #[test]
    fn simplification_preserves_value(e in expr(), x in -2.0f64..2.0, y in 0.1f64..2.0) {
        let mut c = case(&e);
        let before = at(&c, c.f, x, y);
        prop_assume!(before.is_finite() && before.abs() < 1e6);
        // ill-conditioned here (sin(sinh(y^-3)) near y = 0.37): inputs
        // moved by rounding-sized amounts already move the value past the
        // tolerance, so rearranged rounding says nothing about correctness
        let jitter = [(x * (1.0 + 1e-13), y), (x, y * (1.0 + 1e-13)), (x, y * (1.0 - 1e-13))];
        prop_assume!(jitter
            .iter()
            .all(|&(xx, yy)| (at(&c, c.f, xx, yy) - before).abs() <= 1e-9 * (1.0 + before.abs())));
        let s = simplify(&mut c.g, &[c.f])[0];
        let after = at(&c, s, x, y);
        // rounding differs after rearrangement: compare against the size of
        // the value and of its neighbours (cancellation)
        let scale = [x * 1.001, x * 0.999]
            .iter()
            .map(|&xx| at(&c, c.f, xx, y).abs())
            .fold(before.abs(), f64::max);
        prop_assert!(
            (before - after).abs() <= 1e-7 * (1.0 + scale),
            "{e:?}: {before} vs {after}"
        );
    }

    /// Derivatives agree with central finite differences where the function
    /// is smooth.
    #[test]
    fn derivative_matches_finite_differences(e in expr(), x in -2.0f64..2.0, y in 0.1f64..2.0) {
        let mut c = case(&e);
        let f0 = at(&c, c.f, x, y);
        prop_assume!(f0.is_finite() && f0.abs() < 1e4);
        let s = simplify(&mut c.g, &[c.f])[0];
        let grads = gradient(&mut c.g, s, &[c.x, c.y]);
        let grads = simplify(&mut c.g, &grads);
        for (i, &d) in grads.iter().enumerate() {
            let fd = |h: f64| {
                let (xp, yp, xm, ym) = if i == 0 { (x + h, y, x - h, y) } else { (x, y + h, x, y - h) };
                (at(&c, c.f, xp, yp) - at(&c, c.f, xm, ym)) / (2.0 * h)
            };
            let (d1, d2) = (fd(1e-5), fd(5e-6));
            // skip kinks, poles and ill-conditioned points: the two step
            // sizes must agree before the difference is an oracle
            if !(d1.is_finite() && d2.is_finite() && close_mixed(d1, d2, 1e-5)) || d1.abs() > 1e4 {
                continue;
            }
            let exact = at(&c, d, x, y);
            // where the chain rule meets 0 * inf (asin(max(x^2, 1)) at x = 0)
            // the derivative is NaN, as in PyTorch: not a disagreement
            if !exact.is_finite() {
                continue;
            }
            prop_assert!(close_mixed(exact, d1, 1e-4), "{e:?} d/d{} at x={x}, y={y}: exact {exact}, finite differences {d1}", ["x", "y"][i]);
        }
    }
}

/// Evaluates a printed expression after parsing it back with the real front
/// end.
fn reparse_value(text: &str, x: f64, y: f64) -> f64 {
    let src = ddx::Source::new("<printed>", format!("f = {text}"));
    let unit = ddx::check(&src, None)
        .unwrap_or_else(|d| panic!("printed text does not parse: {text}\n{}", d.render(&src)));
    let ddx::Unit::Expr(f) = unit else {
        panic!("printed text is not an expression: {text}")
    };
    let mut values = Vec::new();
    for (name, v) in [("x", x), ("y", y)] {
        if let Some(s) = f.graph.symbol_id(name) {
            values.push((s, v));
        }
    }
    eval_scalar(&f.graph, &[f.root], &values).expect("evaluates")[0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_global_rejects: 1_000_000, ..ProptestConfig::default() })]

    /// What the printer writes parses back to an equivalent expression, for
    /// the graph as built and as simplified (and so for every printed
    /// derivative).
    #[test]
    fn printed_text_parses_back(e in expr(), x in -2.0f64..2.0, y in 0.1f64..2.0) {
        let mut c = case(&e);
        let s = simplify(&mut c.g, &[c.f])[0];
        let d = gradient(&mut c.g, s, &[c.x])[0];
        let d = simplify(&mut c.g, &[d])[0];
        for node in [c.f, s, d] {
            let text = ddx::to_text(&c.g, node);
            let want = at(&c, node, x, y);
            let got = reparse_value(&text, x, y);
            // the text may group a product differently (`a*(b/c)` prints as
            // `a*b/c`): allow the rounding that an ill-conditioned function
            // amplifies, measured by nudging the inputs by a few ulps
            let nudge = [(1.0 + 1e-15, 1.0), (1.0, 1.0 + 1e-15), (1.0 - 1e-15, 1.0 - 1e-15)]
                .iter()
                .map(|&(a, b)| (at(&c, node, x * a, y * b) - want).abs())
                .fold(0.0, f64::max);
            prop_assert!(
                (want.is_nan() && got.is_nan())
                    || want == got
                    || (got - want).abs() <= 1e-12 * (1.0 + want.abs()) + 100.0 * nudge,
                "{text}: graph {want}, reparsed {got}"
            );
        }
    }
}
