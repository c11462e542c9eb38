//! Kernels on threads: the same bits for 1, 2 and 4 threads, equal to the
//! interpreter's, on data of several blocks of rows (the unit threads share
//! out), with nested and data-only reductions.

mod common;

use common::{assert_same, nested_model, seed_graph, symbols, with_gradient};
use ddx::Layout;
use ddx::{compile, compile_with, CodegenOptions, Threads};
use ddx::{eval, BLOCK_ROWS};
use ddx::{BinOp, Graph, NodeId, Reduction, UnOp};

/// Deterministic data in [-3, 3) with some exact zeros and repeats.
fn column(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i % 97 == 0 {
                0.0
            } else {
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 6.0 - 3.0
            }
        })
        .collect()
}

/// Row counts of three or more blocks: whole blocks, a partial last block,
/// and a last block of one to three rows (the kernel's scalar tail).
const ROWS: [usize; 3] = [3 * BLOCK_ROWS, 3 * BLOCK_ROWS + 4099, 4 * BLOCK_ROWS + 3];

/// Checks a kernel of `outputs` on every row count of [`ROWS`]: bound on 1,
/// 2 and 4 threads, with and without precomputed data-only reductions, all
/// equal to the interpreter bit for bit.
fn check(g: &Graph, outputs: &[NodeId], layout: &Layout, params: &[f64], loops: usize) {
    let kernel = compile(g, outputs, layout).unwrap();
    let plain = compile_with(
        g,
        outputs,
        layout,
        &CodegenOptions {
            precompute_data: false,
            ..CodegenOptions::default()
        },
    )
    .unwrap();
    assert_eq!(plain.schedule().loops.len(), loops, "{}", plain.schedule());
    for &n in &ROWS {
        let data: Vec<Vec<f64>> = (0..layout.columns.len())
            .map(|c| column(n, c as u64 + 7))
            .collect();
        let cols: Vec<&[f64]> = data.iter().map(|c| c.as_slice()).collect();
        let want = eval(g, outputs, layout, params, &cols).unwrap();
        for k in [&kernel, &plain] {
            for threads in [1, 2, 4] {
                let bound = k
                    .bind_threads(&cols, Threads::new(threads).unwrap())
                    .unwrap();
                assert_eq!(bound.threads(), threads, "n={n}");
                let mut out = vec![0.0; k.outputs()];
                bound.call(params, &mut out).unwrap();
                assert_same(&out, &want, &format!("n={n}, {threads} threads"));
                // Repeated calls on the same pool give the same bits.
                let mut again = vec![0.0; k.outputs()];
                bound.call(params, &mut again).unwrap();
                assert_same(&again, &want, &format!("n={n}, {threads} threads, again"));
            }
        }
    }
}

#[test]
fn seed_model_same_bits_on_any_thread_count() {
    let mut g = Graph::new();
    let (_, loss, layout) = seed_graph(&mut g);
    let outputs = with_gradient(&mut g, loss, &layout);
    check(&g, &outputs, &layout, &[0.9, 0.1], 1);
}

#[test]
fn nested_reductions_same_bits_on_any_thread_count() {
    // sum((x - mean(x*m))^2) + mean(x) * m + sum(3): two loops (the inner
    // mean is needed by the outer sum's rows); the gradient adds more
    // accumulators to each loop.
    let mut g = Graph::new();
    let (outputs, layout) = nested_model(&mut g);
    check(&g, &outputs, &layout, &[0.7], 2);
}

#[test]
fn three_levels_and_every_function_same_bits_on_any_thread_count() {
    // mean(sin(p0*x) * exp(-abs(y)) + tanh(y - mean(p1*x^3 - mean(relu(x)*p0))))
    // + sum(max(x, p1) * min(y, p0) + sign(x) * step(y) + sqrt(abs(x)) ^ p1)
    // / sum(softplus(x) + sigmoid(y) + cos(p0) * ln(1 + x^2)):
    // three loop levels, host calls, inlined compare-and-select code,
    // divisions of sums.
    let mut g = Graph::new();
    let (ps, cs) = symbols(&mut g, 2, 2);
    let (x, y, p0, p1) = (g.sym(cs[0]), g.sym(cs[1]), g.sym(ps[0]), g.sym(ps[1]));
    let rx = g.unary(UnOp::Relu, x);
    let rxp = g.mul(rx, p0);
    let deepest = g.reduce(Reduction::Mean, rxp);
    let x3 = g.powf(x, 3.0);
    let p1x3 = g.mul(p1, x3);
    let mid_arg = g.sub(p1x3, deepest);
    let mid = g.reduce(Reduction::Mean, mid_arg);
    let ymid = g.sub(y, mid);
    let th = g.unary(UnOp::Tanh, ymid);
    let p0x = g.mul(p0, x);
    let s = g.unary(UnOp::Sin, p0x);
    let ay = g.unary(UnOp::Abs, y);
    let nay = g.neg(ay);
    let e = g.unary(UnOp::Exp, nay);
    let se = g.mul(s, e);
    let top_arg = g.add(se, th);
    let top = g.reduce(Reduction::Mean, top_arg);
    let mx = g.binary(BinOp::Max, x, p1);
    let mn = g.binary(BinOp::Min, y, p0);
    let mm = g.mul(mx, mn);
    let sg = g.unary(UnOp::Sign, x);
    let st = g.unary(UnOp::Step, y);
    let ss = g.mul(sg, st);
    let ax = g.unary(UnOp::Abs, x);
    let sq = g.unary(UnOp::Sqrt, ax);
    let pw = g.pow(sq, p1);
    let num_a = g.add(mm, ss);
    let num_arg = g.add(num_a, pw);
    let num = g.reduce(Reduction::Sum, num_arg);
    let sp = g.unary(UnOp::Softplus, x);
    let sy = g.unary(UnOp::Sigmoid, y);
    let c0 = g.unary(UnOp::Cos, p0);
    let x2 = g.powf(x, 2.0);
    let one = g.constant(1.0);
    let lx = g.add(one, x2);
    let l = g.unary(UnOp::Ln, lx);
    let cl = g.mul(c0, l);
    let den_a = g.add(sp, sy);
    let den_arg = g.add(den_a, cl);
    let den = g.reduce(Reduction::Sum, den_arg);
    let ratio = g.div(num, den);
    let loss = g.add(top, ratio);
    let layout = Layout {
        params: ps,
        columns: cs,
    };
    let outputs = with_gradient(&mut g, loss, &layout);
    check(&g, &outputs, &layout, &[0.8, -0.35], 3);
}

/// `sum(x*m)` and its gradient.
fn sum_of_x_times_m(g: &mut Graph) -> (Vec<NodeId>, Layout) {
    let (ps, cs) = symbols(g, 1, 1);
    let (x, m) = (g.sym(cs[0]), g.sym(ps[0]));
    let xm = g.mul(x, m);
    let loss = g.reduce(Reduction::Sum, xm);
    let layout = Layout {
        params: ps,
        columns: cs,
    };
    (with_gradient(g, loss, &layout), layout)
}

#[test]
fn small_data_stays_on_the_calling_thread() {
    let mut g = Graph::new();
    let (outputs, layout) = sum_of_x_times_m(&mut g);
    let kernel = compile(&g, &outputs, &layout).unwrap();
    for n in [0, 1, 8, BLOCK_ROWS, BLOCK_ROWS + 1, 2 * BLOCK_ROWS] {
        let xs = column(n, 3);
        let bound = kernel
            .bind_threads(&[&xs], Threads::new(4).unwrap())
            .unwrap();
        let expected = if n > BLOCK_ROWS { 4 } else { 1 };
        assert_eq!(bound.threads(), expected, "n={n}");
        let want = eval(&g, &outputs, &layout, &[1.5], &[&xs]).unwrap();
        let mut out = [0.0; 2];
        bound.call(&[1.5], &mut out).unwrap();
        assert_same(&out, &want, &format!("n={n}"));
    }
}

#[test]
fn threaded_calls_validate_lengths() {
    let mut g = Graph::new();
    let (outputs, layout) = sum_of_x_times_m(&mut g);
    let kernel = compile(&g, &outputs, &layout).unwrap();
    let xs = column(3 * BLOCK_ROWS, 1);
    let bound = kernel
        .bind_threads(&[&xs], Threads::new(2).unwrap())
        .unwrap();
    assert!(bound.call(&[1.0, 2.0], &mut [0.0; 2]).is_err());
    assert!(bound.call(&[1.0], &mut [0.0; 3]).is_err());
    let short = column(3 * BLOCK_ROWS - 1, 2);
    assert!(kernel
        .bind_threads(&[&xs, &short], Threads::new(2).unwrap())
        .is_err());
}
