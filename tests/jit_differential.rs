//! Differential tests: on generated models and expressions using every
//! operator, function and reduction, the JIT equals the interpreter bit for
//! bit (NaN where it gives NaN), for the loss and the whole gradient.

mod common;

use common::exprs::{lower, BINOPS, E};
use common::{assert_same, eval_scalar, symbols, with_gradient};
use ddx::Layout;
use ddx::Sgd;
use ddx::{compile, compile_with, CodegenOptions};
use ddx::{eval, BLOCK_ROWS};
use ddx::{Graph, NodeId, Reduction, SymId, SymbolKind, UnOp};
use proptest::prelude::*;
use proptest::sample::select;

fn unops() -> Vec<UnOp> {
    let mut v = UnOp::FUNCTIONS.to_vec();
    v.push(UnOp::Neg);
    v
}

fn constant() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -3.0..3.0f64,
        1 => select(vec![0.0, 0.5, 1.0, 2.0, -1.0, 3.0, -0.5, 10.0]),
    ]
}

/// A value of a param or data cell: mostly moderate, sometimes special.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -1.0..1.0f64,
        6 => -4.0..4.0f64,
        1 => select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e300,
            -1e-300,
        ]),
    ]
}

fn expr(params: usize, columns: usize, reductions: bool) -> impl Strategy<Value = E> {
    let leaf = prop_oneof![
        constant().prop_map(E::Const),
        (0..params).prop_map(E::Param),
        (0..columns.max(1)).prop_map(move |c| if columns == 0 {
            E::Param(c % params)
        } else {
            E::Col(c)
        }),
    ];
    leaf.prop_recursive(8, 64, 2, move |inner| {
        let un = (select(unops()), inner.clone()).prop_map(|(op, a)| E::Un(op, Box::new(a)));
        let bin = (select(BINOPS.to_vec()), inner.clone(), inner.clone())
            .prop_map(|(op, a, b)| E::Bin(op, Box::new(a), Box::new(b)));
        let red = (select(vec![Reduction::Sum, Reduction::Mean]), inner)
            .prop_map(|(r, a)| E::Red(r, Box::new(a)));
        if reductions {
            prop_oneof![3 => un, 4 => bin, 2 => red].boxed()
        } else {
            prop_oneof![3 => un, 4 => bin].boxed()
        }
    })
}

/// A model: a loss (made row-invariant by an outer reduction when needed)
/// plus a second reduction term, with its gradient.
fn model_graph(
    terms: &[E],
    outer: Reduction,
    params: usize,
    columns: usize,
) -> (Graph, Vec<NodeId>, Layout) {
    let mut g = Graph::new();
    let (ps, cs) = symbols(&mut g, params, columns);
    let mut loss = g.constant(0.0);
    for t in terms {
        let mut e = lower(&mut g, t, &ps, &cs);
        if g.meta(e).per_row {
            e = g.reduce(outer, e);
        }
        loss = g.add(loss, e);
    }
    let layout = Layout {
        params: ps,
        columns: cs,
    };
    let outputs = with_gradient(&mut g, loss, &layout);
    (g, outputs, layout)
}

fn check_model(
    g: &Graph,
    outputs: &[NodeId],
    layout: &Layout,
    params: &[f64],
    columns: &[Vec<f64>],
) -> Result<(), TestCaseError> {
    let cols: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let want = eval(g, outputs, layout, params, &cols).expect("interpreter");
    // both register allocators (the single-pass one compiles large kernels)
    for (precompute_data, fast) in [(true, false), (false, false), (true, true)] {
        let kernel = compile_with(
            g,
            outputs,
            layout,
            &CodegenOptions {
                precompute_data,
                inspect: false,
                fast_regalloc: Some(fast),
            },
        )
        .expect("compile");
        let mut out = vec![0.0; outputs.len()];
        kernel.call(params, &cols, &mut out).expect("call");
        assert_same(
            &out,
            &want,
            &format!("precompute_data={precompute_data} fast_regalloc={fast}"),
        );
        let bound = kernel.bind(&cols).expect("bind");
        let mut again = vec![0.0; outputs.len()];
        bound.call(params, &mut again).expect("bound call");
        assert_same(&again, &want, "bound");
    }
    Ok(())
}

/// Terms, outer reduction, param count, column count, param values, columns.
type ModelCase = (Vec<E>, Reduction, usize, usize, Vec<f64>, Vec<Vec<f64>>);

fn model_case(max_rows: usize) -> impl Strategy<Value = ModelCase> {
    (1usize..=8, 1usize..=3, 0usize..=max_rows).prop_flat_map(move |(np, nc, n)| {
        (
            prop::collection::vec(expr(np, nc, true), 1..=4),
            select(vec![Reduction::Sum, Reduction::Mean]),
            Just(np),
            Just(nc),
            prop::collection::vec(value(), np),
            prop::collection::vec(prop::collection::vec(value(), n), nc),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("DDX_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(160), ..ProptestConfig::default() })]

    #[test]
    fn models_jit_equals_interpreter(
        (terms, outer, np, nc, params, columns) in model_case(23)
    ) {
        let (g, outputs, layout) = model_graph(&terms, outer, np, nc);
        check_model(&g, &outputs, &layout, &params, &columns)?;
    }

    #[test]
    fn expressions_jit_equals_interpreter(
        (e, np, values) in (1usize..=6).prop_flat_map(|np| (
            expr(np, 0, false),
            Just(np),
            prop::collection::vec(value(), np),
        ))
    ) {
        let mut g = Graph::new();
        let vars: Vec<SymId> = (0..np)
            .map(|i| g.declare(&format!("v{i}"), SymbolKind::Free))
            .collect();
        let f = lower(&mut g, &e, &vars, &[]);
        // f, its gradient and the second derivatives by the first variable.
        let grad = ddx::gradient(&mut g, f, &vars);
        let second = ddx::gradient(&mut g, grad[0], &vars);
        let outputs: Vec<NodeId> = std::iter::once(f).chain(grad).chain(second).collect();
        let pairs: Vec<(SymId, f64)> = vars.iter().copied().zip(values.iter().copied()).collect();
        let want = eval_scalar(&g, &outputs, &pairs).expect("interpreter");
        let kernel = compile(&g, &outputs, &Layout::scalars(&vars)).expect("compile");
        prop_assert!(kernel.schedule().loops.is_empty());
        let mut out = vec![0.0; outputs.len()];
        kernel.call(&values, &[], &mut out).expect("call");
        assert_same(&out, &want, "expression");
    }
}

proptest! {
    // Several blocks of rows: fewer, larger cases.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn models_over_several_blocks(
        (terms, outer, np, nc, params, _) in model_case(0),
        extra in 0usize..8,
        seed in any::<u64>(),
    ) {
        let n = 2 * BLOCK_ROWS + extra;
        // Deterministic data from the seed (a generated vector this long
        // would make shrinking slow).
        let mut state = seed | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0
        };
        let columns: Vec<Vec<f64>> = (0..nc).map(|_| (0..n).map(|_| next()).collect()).collect();
        let (g, outputs, layout) = model_graph(&terms, outer, np, nc);
        check_model(&g, &outputs, &layout, &params, &columns)?;
    }
}

/// Steps `sgd` one bound call at a time, as the training driver does,
/// stopping before an epoch whose loss, gradient or new params are not all
/// finite; returns the epochs taken.
fn step_one_call_at_a_time(
    bound: &ddx::Bound<'_, '_>,
    params: &mut [f64],
    sgd: &mut Sgd,
    epochs: usize,
    outputs: usize,
) -> usize {
    let np = params.len();
    let mut out = vec![0.0; outputs];
    for epoch in 0..epochs {
        bound.call(params, &mut out).expect("bound call");
        if out[..=np].iter().any(|v| !v.is_finite()) {
            return epoch;
        }
        let mut next_sgd = sgd.clone();
        let mut next = params.to_vec();
        next_sgd.step(&mut next, &out[1..=np]);
        let buf_finite = next_sgd
            .state()
            .is_none_or(|(_, _, b)| b.iter().all(|v| v.is_finite()));
        if !buf_finite || next.iter().any(|v| !v.is_finite()) {
            return epoch;
        }
        params.copy_from_slice(&next);
        *sgd = next_sgd;
    }
    epochs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("DDX_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    /// The compiled SGD loop (`Bound::sgd`, what `ddx train` runs between
    /// the epochs it prints) takes the same steps, to the bit, as the kernel
    /// called once per epoch with `Sgd::step`, and stops at the same epoch
    /// when a value stops being finite.
    #[test]
    fn compiled_sgd_loop_equals_one_call_per_epoch(
        (terms, outer, np, nc, params, columns) in model_case(23),
        lr in select(vec![0.0, 1e-3, 0.01, 0.1, 0.5]),
        momentum in select(vec![0.0, 0.5, 0.9]),
        epochs in 0usize..40,
    ) {
        let (g, outputs, layout) = model_graph(&terms, outer, np, nc);
        let cols: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let kernel = compile(&g, &outputs, &layout).expect("compile");
        let bound = kernel.bind(&cols).expect("bind");
        let mut want = params.clone();
        let mut want_sgd = Sgd::new(lr, momentum);
        // momentum: the first step (which starts the buffer) one call at a time
        let first = usize::from(momentum != 0.0).min(epochs);
        let started = step_one_call_at_a_time(&bound, &mut want, &mut want_sgd, first, outputs.len());
        if started < first {
            // the very first step is not finite: nothing for the loop to take
            return Ok(());
        }
        let (mut got, mut got_sgd) = (want.clone(), want_sgd.clone());
        let rest = epochs - first;
        let taken_want = step_one_call_at_a_time(&bound, &mut want, &mut want_sgd, rest, outputs.len());
        let taken = match got_sgd.state() {
            Some((lr, momentum, buf)) => bound.sgd(&mut got, buf, rest, lr, momentum),
            None => 0,
        };
        prop_assert_eq!(taken, taken_want);
        assert_same(&got, &want, "params");
        let (Some((_, _, b1)), Some((_, _, b2))) = (got_sgd.state(), want_sgd.state()) else {
            return Ok(());
        };
        assert_same(b1, b2, "momentum buffer");
    }
}
