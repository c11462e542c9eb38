//! Second derivatives by array params (`ddx::hessian_indexed`), checked with
//! the reference interpreter: every Hessian element against central finite
//! differences of the interpreted gradient, the Hessian's symmetry, and, for
//! the linear least squares of examples/diabetes.ddx, the closed form
//! `2/n [X 1]'[X 1]`.
//!
//! The gradient is simplified before it is differentiated again, as
//! `pipeline::derive` does; the Hessian blocks are checked both raw and
//! simplified.
//!
//! Finite differences: `(g(p + h e) - g(p - h e)) / 2h` with
//! `h = eps^(1/3) * max(|p|, 1)`; an element agrees within [`FD_RELATIVE`]
//! of the larger magnitude, with an absolute floor of [`FD_ABSOLUTE`] times
//! the largest Hessian element of the model (at least 1).

use std::path::Path;

use ddx::{
    check, eval_arrays, gradient_indexed, hessian, hessian_indexed, simplify, ArrayInputs, Graph,
    IdxId, Model, NodeId, Partial, Source, SymId, Unit,
};
use proptest::prelude::*;

/// Relative tolerance of a Hessian element against finite differences.
const FD_RELATIVE: f64 = 1e-5;
/// Absolute tolerance near zero, times the largest Hessian element.
const FD_ABSOLUTE: f64 = 1e-7;
/// Relative tolerance of `H[a][b][i, j]` against `H[b][a][j, i]`.
const SYMMETRY_RELATIVE: f64 = 1e-9;

/// A model checked by the real front end; `base` is where its data files
/// are.
fn model(name: &str, text: &str, base: Option<&Path>) -> Model {
    let source = Source::new(name, text);
    match check(&source, base) {
        Ok(Unit::Model(m)) => m,
        Ok(Unit::Expr(_)) => panic!("{name}: expected a model"),
        Err(d) => panic!("{}", d.render(&source)),
    }
}

/// A model file of the repository.
fn model_file(rel: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).expect("model file");
    model(rel, &text, path.parent())
}

/// Deterministic pseudo-random values in `[-scale, scale]` (a 64-bit LCG),
/// so that no `max`/`min` over an index ties.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            scale * (2.0 * u - 1.0)
        })
        .collect()
}

/// Random params for a model: one vector per param, row-major.
fn random_params(m: &Model, seed: u64, scale: f64) -> Vec<Vec<f64>> {
    m.params
        .iter()
        .enumerate()
        .map(|(k, p)| values(p.init.len(), seed + k as u64, scale))
        .collect()
}

/// The interpreter's inputs for `m` at `params`.
fn inputs<'a>(m: &'a Model, params: &'a [Vec<f64>]) -> ArrayInputs<'a> {
    ArrayInputs {
        params: m
            .params
            .iter()
            .zip(params)
            .map(|(p, v)| (p.sym, v.as_slice()))
            .collect(),
        columns: m
            .data
            .iter()
            .map(|d| (d.sym, d.values.as_slice()))
            .collect(),
        rows: m.rows,
    }
}

/// A model's simplified gradient and its Hessian blocks, raw and simplified.
struct Derived {
    gradient: Vec<Partial>,
    raw: Vec<Vec<Partial>>,
    simple: Vec<Vec<Partial>>,
}

fn derive(m: &mut Model) -> Derived {
    let wrt: Vec<SymId> = m.params.iter().map(|p| p.sym).collect();
    let g = &mut m.graph;
    let loss = simplify(g, &[m.loss.node])[0];
    let raw_grad = gradient_indexed(g, loss, &wrt);
    let nodes: Vec<NodeId> = raw_grad.iter().map(|p| p.node).collect();
    let gradient: Vec<Partial> = simplify(g, &nodes)
        .into_iter()
        .zip(&raw_grad)
        .map(|(node, p)| Partial {
            node,
            indices: p.indices.clone(),
        })
        .collect();
    let raw = hessian_indexed(g, &gradient, &wrt);
    let simple = raw
        .iter()
        .map(|row| {
            let nodes: Vec<NodeId> = row.iter().map(|p| p.node).collect();
            simplify(g, &nodes)
                .into_iter()
                .zip(row)
                .map(|(node, p)| Partial {
                    node,
                    indices: p.indices.clone(),
                })
                .collect()
        })
        .collect();
    Derived {
        gradient,
        raw,
        simple,
    }
}

/// Checks the shape of the blocks' indices: `I ++ J`, `I` the gradient's,
/// `J` fresh, one per dimension of the param, none repeated, and every
/// free index of a block among them.
fn check_indices(m: &Model, d: &Derived, blocks: &[Vec<Partial>]) {
    let g = &m.graph;
    for (a, row) in blocks.iter().enumerate() {
        for (b, block) in row.iter().enumerate() {
            let i = &d.gradient[a].indices;
            let rank_a = m.params[a].shape.len();
            let rank_b = m.params[b].shape.len();
            assert_eq!(i.len(), rank_a);
            assert_eq!(block.indices.len(), rank_a + rank_b, "block {a},{b}");
            assert_eq!(&block.indices[..rank_a], i.as_slice(), "block {a},{b}");
            for (pos, &j) in block.indices[rank_a..].iter().enumerate() {
                assert_eq!(g.extent(j), m.params[b].shape[pos], "block {a},{b}");
            }
            let mut sorted = block.indices.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), block.indices.len(), "block {a},{b}: repeated");
            for f in g.free(block.node) {
                assert!(block.indices.contains(f), "block {a},{b}: stray free index");
            }
        }
    }
}

/// Every gradient element at `params`, per param, row-major.
fn eval_gradient(m: &Model, gradient: &[Partial], params: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let outputs: Vec<(NodeId, &[IdxId])> = gradient
        .iter()
        .map(|p| (p.node, p.indices.as_slice()))
        .collect();
    eval_arrays(&m.graph, &outputs, &inputs(m, params))
}

/// The Hessian blocks at `params`: `[a][b]` is row-major over the elements
/// of param `a` then those of param `b`.
fn eval_hessian(m: &Model, blocks: &[Vec<Partial>], params: &[Vec<f64>]) -> Vec<Vec<Vec<f64>>> {
    let outputs: Vec<(NodeId, &[IdxId])> = blocks
        .iter()
        .flatten()
        .map(|p| (p.node, p.indices.as_slice()))
        .collect();
    let mut flat = eval_arrays(&m.graph, &outputs, &inputs(m, params)).into_iter();
    blocks
        .iter()
        .map(|row| row.iter().map(|_| flat.next().unwrap()).collect())
        .collect()
}

/// Central finite differences of the interpreted gradient: `[a][b]` laid
/// out as [`eval_hessian`]'s.
fn fd_hessian(m: &Model, gradient: &[Partial], params: &[Vec<f64>]) -> Vec<Vec<Vec<f64>>> {
    let n: Vec<usize> = params.iter().map(Vec::len).collect();
    let mut out: Vec<Vec<Vec<f64>>> = n
        .iter()
        .map(|&na| n.iter().map(|&nb| vec![0.0; na * nb]).collect())
        .collect();
    let mut p = params.to_vec();
    for b in 0..params.len() {
        for j in 0..n[b] {
            let v = params[b][j];
            let h = f64::EPSILON.cbrt() * v.abs().max(1.0);
            p[b][j] = v + h;
            let up = eval_gradient(m, gradient, &p);
            p[b][j] = v - h;
            let down = eval_gradient(m, gradient, &p);
            p[b][j] = v;
            for a in 0..params.len() {
                for i in 0..n[a] {
                    out[a][b][i * n[b] + j] = (up[a][i] - down[a][i]) / (2.0 * h);
                }
            }
        }
    }
    out
}

/// Checks `blocks` against finite differences and for symmetry; returns
/// the evaluated Hessian.
fn check_hessian(
    name: &str,
    m: &Model,
    d: &Derived,
    blocks: &[Vec<Partial>],
    params: &[Vec<f64>],
) -> Result<Vec<Vec<Vec<f64>>>, String> {
    check_indices(m, d, blocks);
    let h = eval_hessian(m, blocks, params);
    let fd = fd_hessian(m, &d.gradient, params);
    let n: Vec<usize> = params.iter().map(Vec::len).collect();
    let largest = h
        .iter()
        .flatten()
        .flatten()
        .fold(1.0f64, |a, v| a.max(v.abs()));
    let mut bad = Vec::new();
    for a in 0..n.len() {
        for b in 0..n.len() {
            for i in 0..n[a] {
                for j in 0..n[b] {
                    let (x, y) = (h[a][b][i * n[b] + j], fd[a][b][i * n[b] + j]);
                    let tol = (FD_RELATIVE * x.abs().max(y.abs())).max(FD_ABSOLUTE * largest);
                    if (x - y).abs() > tol || x.is_nan() {
                        bad.push(format!(
                            "d2/d{}[{i}] d{}[{j}] = {x}, finite differences {y}",
                            m.params[a].name, m.params[b].name
                        ));
                    }
                    let t = h[b][a][j * n[a] + i];
                    if (x - t).abs() > SYMMETRY_RELATIVE * x.abs().max(t.abs()).max(largest) {
                        bad.push(format!(
                            "not symmetric: d2/d{}[{i}] d{}[{j}] = {x}, transposed {t}",
                            m.params[a].name, m.params[b].name
                        ));
                    }
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(h)
    } else {
        bad.truncate(12);
        Err(format!("{name}:\n{}", bad.join("\n")))
    }
}

/// Derives `m` and checks both the raw and the simplified Hessian at
/// `params`; returns the simplified one's values.
fn check_model(name: &str, m: &mut Model, params: &[Vec<f64>]) -> Vec<Vec<Vec<f64>>> {
    let d = derive(m);
    if let Err(e) = check_hessian(&format!("{name} (raw)"), m, &d, &d.raw, params) {
        panic!("{e}");
    }
    match check_hessian(name, m, &d, &d.simple, params) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// The Hessian blocks of [`eval_hessian`] as one dense matrix over every
/// param element, in declaration order.
fn dense(h: &[Vec<Vec<f64>>], sizes: &[usize]) -> Vec<Vec<f64>> {
    let mut rows = Vec::new();
    for (a, &na) in sizes.iter().enumerate() {
        for i in 0..na {
            let row: Vec<f64> = sizes
                .iter()
                .enumerate()
                .flat_map(|(b, &nb)| h[a][b][i * nb..(i + 1) * nb].iter().copied())
                .collect();
            rows.push(row);
        }
    }
    rows
}

/// The solution of `a x = y` (Gaussian elimination, partial pivoting).
fn solve(mut a: Vec<Vec<f64>>, y: &[f64]) -> Vec<f64> {
    let n = y.len();
    for (row, &v) in a.iter_mut().zip(y) {
        row.push(v);
    }
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
            .expect("a row");
        a.swap(c, p);
        let (top, rest) = a.split_at_mut(c + 1);
        let pivot = &top[c];
        for row in rest {
            let f = row[c] / pivot[c];
            for (x, &y) in row[c..].iter_mut().zip(&pivot[c..]) {
                *x -= f * y;
            }
        }
    }
    let mut x = vec![0.0; n];
    for c in (0..n).rev() {
        let s: f64 = (c + 1..n).map(|k| a[c][k] * x[k]).sum();
        x[c] = (a[c][n] - s) / a[c][c];
    }
    x
}

#[test]
fn diabetes_hessian_is_the_least_squares_normal_matrix() {
    let mut m = model_file("examples/diabetes.ddx");
    // w[10] then b
    assert_eq!(m.params.len(), 2);
    let params = random_params(&m, 11, 50.0);
    let h = dense(&check_model("diabetes", &mut m, &params), &[10, 1]);
    // 2/n [X 1]'[X 1], from the data directly
    let x = m.data.iter().find(|c| c.name == "x").expect("column x");
    let (n, d) = (m.rows, 10);
    let mut normal = vec![vec![0.0f64; d + 1]; d + 1];
    for r in 0..n {
        let row: Vec<f64> = x.values[r * d..(r + 1) * d]
            .iter()
            .copied()
            .chain([1.0])
            .collect();
        for (out, &ri) in normal.iter_mut().zip(&row) {
            for (cell, &rj) in out.iter_mut().zip(&row) {
                *cell += 2.0 * ri * rj / n as f64;
            }
        }
    }
    for (i, (got_row, want_row)) in h.iter().zip(&normal).enumerate() {
        for (j, (&got, &want)) in got_row.iter().zip(want_row).enumerate() {
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1e-3),
                "H[{i}][{j}] = {got}, 2/n [X 1]'[X 1] = {want}"
            );
        }
    }
}

#[test]
fn diabetes_newton_step_reaches_least_squares() {
    // one Newton step from anywhere solves a least squares: the gradient
    // at p - H^-1 g(p) vanishes
    let mut m = model_file("examples/diabetes.ddx");
    let d = derive(&mut m);
    let params = random_params(&m, 3, 100.0);
    let h = dense(&eval_hessian(&m, &d.simple, &params), &[10, 1]);
    let g: Vec<f64> = eval_gradient(&m, &d.gradient, &params)
        .into_iter()
        .flatten()
        .collect();
    let step = solve(h, &g);
    let next: Vec<Vec<f64>> = vec![
        (0..10).map(|i| params[0][i] - step[i]).collect(),
        vec![params[1][0] - step[10]],
    ];
    let g1 = eval_gradient(&m, &d.gradient, &next);
    let before = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let after = g1.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(
        after <= 1e-9 * before,
        "gradient {before} before the step, {after} after"
    );
}

/// A tanh network with a softmax cross-entropy (`logsumexp` and a gather
/// by the label), a `softmax` in a penalty, matrix products and a
/// transpose.
const MLP: &str = "\
data x[3] = [[1, 0.5, -0.25], [0.2, -1, 0.7], [-0.6, 0.3, 1.1], [0.9, 0.8, -1.3], [-0.4, -0.7, 0.05]]
data label = [0, 2, 1, 1, 0]
param W1[4, 3] = 0
param c1[4] = 0
param W2[3, 4] = 0
param c2[3] = 0
let h = tanh(W1 @ x + c1)
let z[k] = sum(j, W2[k, j]*h[j]) + c2[k]
let p = softmax(k, z[k])
let G = W1' @ W2'
loss L = mean(logsumexp(k, z[k]) - z[label] + 0.1*sum(k, p[k]^2)) + 0.01*sum(i, sum(j, G[i, j]^2))
";

#[test]
fn tanh_mlp_with_softmax_and_gather() {
    let mut m = model("mlp.ddx", MLP, None);
    let params = random_params(&m, 5, 0.8);
    check_model("mlp", &mut m, &params);
}

#[test]
fn max_min_constant_index_and_scalar_params() {
    let mut m = model_file("tests/data/arrays/minmax_inline.ddx");
    let params = random_params(&m, 7, 1.0);
    check_model("minmax_inline", &mut m, &params);
}

/// Scalar and array params mixed in products, a `max` and `min` over an
/// index of a matrix row and column, and a scalar param in an exponent.
const MIXED: &str = "\
data x[3] = [[1, 0.5, -0.25], [0.2, -1, 0.7], [-0.6, 0.3, 1.1], [0.9, 0.8, -1.3]]
data y = [0.3, -1.2, 0.8, 1.5]
param A[2, 3] = 0
param v[2] = 0
param s = 0
param t = 0
let u[i] = sum(j, A[i, j]*x[j])*s + v[i]*t
let m1 = max(i, u[i] + v[i]^2)
let m2 = min(j, sum(i, A[i, j]*v[i]))
loss L = mean((m1 - y)^2 + s*t*dot(v, v) + exp(0.5*t)*m2^2 + sigmoid(s*m2))
";

#[test]
fn scalar_and_array_params_mixed_with_extremes() {
    let mut m = model("mixed.ddx", MIXED, None);
    let params = random_params(&m, 13, 1.0);
    check_model("mixed", &mut m, &params);
}

#[test]
fn matmul_and_transposes() {
    let mut m = model_file("tests/data/arrays/matmul.ddx");
    let params = random_params(&m, 17, 1.0);
    check_model("matmul", &mut m, &params);
}

#[test]
fn iris_softmax_regression() {
    let mut m = model_file("examples/iris.ddx");
    let params = random_params(&m, 19, 0.5);
    check_model("iris", &mut m, &params);
}

/// For scalar params the blocks are the nodes of the scalar Hessian
/// (`ddx::hessian`, the path `ddx train` with newton takes today).
#[test]
fn scalar_models_give_the_scalar_hessian_nodes() {
    for rel in [
        "examples/regression.ddx",
        "examples/tanh_net.ddx",
        "examples/logistic.ddx",
    ] {
        let mut m = model_file(rel);
        let wrt: Vec<SymId> = m.params.iter().map(|p| p.sym).collect();
        let d = derive(&mut m);
        let nodes: Vec<NodeId> = d.gradient.iter().map(|p| p.node).collect();
        let scalar = hessian(&mut m.graph, &nodes, &wrt);
        let blocks: Vec<NodeId> = d.raw.iter().flatten().map(|p| p.node).collect();
        assert_eq!(blocks, scalar, "{rel}");
        assert!(d.raw.iter().flatten().all(|p| p.indices.is_empty()));
    }
}

/// The element indices of the second param are distinct from the first's
/// even where both derivatives would be named alike (a param used only at
/// constant positions has the element index `dw.0` in both).
#[test]
fn diagonal_block_indices_are_distinct() {
    let text = "\
data y = [1, 2, 3]
param w[3] = 0
loss L = mean((w[0]*w[1] - y)^2) + w[2]^4
";
    let mut m = model("const.ddx", text, None);
    let params = random_params(&m, 23, 1.0);
    let d = derive(&mut m);
    let i = &d.raw[0][0].indices;
    assert_ne!(i[0], i[1]);
    check_model("const", &mut m, &params);
}

/// Builds the source of a small generated model from a list of choices.
fn generated(c: &[u8]) -> String {
    let pick = |k: usize, n: u8| c.get(k).copied().unwrap_or(0) % n;
    let (d, h, k) = (1 + pick(0, 3), 1 + pick(1, 3), 2 + pick(2, 2));
    let act = ["tanh", "sigmoid", "sin", "exp"][pick(3, 4) as usize];
    let data_rows: Vec<String> = (0..4)
        .map(|r| {
            let v: Vec<String> = (0..d)
                .map(|j| format!("{}", ((r * 7 + j as usize * 3) % 11) as f64 / 5.0 - 1.0))
                .collect();
            format!("[{}]", v.join(", "))
        })
        .collect();
    let mut s = format!(
        "data x[{d}] = [{}]\ndata y = [0.5, -1, 2, 0.25]\ndata lab = [0, 1, {}, 0]\n",
        data_rows.join(", "),
        k - 1
    );
    s += &format!("param W[{h}, {d}] = 0\nparam c[{h}] = 0\nparam V[{k}, {h}] = 0\nparam a = 0\n");
    s += &match pick(4, 3) {
        0 => format!("let hh = {act}(W @ x + c) + a\n"),
        1 => format!("let hh = {act}(W @ x)*a + c\n"),
        _ => format!("let hh[i] = {act}(sum(j, W[i, j]*x[j]) + a*c[i])\n"),
    };
    s += "let z = V @ hh\nlet sm[k] = softmax(k, z[k])\n";
    let loss = match pick(5, 4) {
        0 => "logsumexp(k, z[k]) - z[lab]".to_string(),
        1 => "(max(k, z[k]) - y)^2".to_string(),
        2 => "(min(k, z[k]) + a*y)^2 + sum(k, sm[k]*z[k])".to_string(),
        _ => "(dot(hh, hh) - y)^2 + a^2*z[0]".to_string(),
    };
    let penalty = match pick(6, 3) {
        0 => "",
        1 => " + 0.1*sum(i, sum(j, W[i, j]^2))",
        _ => " + 0.1*a*dot(c, c)",
    };
    s += &format!("loss L = mean({loss}){penalty}\n");
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn generated_models_have_finite_difference_hessians(
        c in proptest::collection::vec(any::<u8>(), 7),
        seed in 0u64..1000,
    ) {
        let src = generated(&c);
        let mut m = model("generated.ddx", &src, None);
        let params = random_params(&m, seed, 0.7);
        let d = derive(&mut m);
        for blocks in [&d.raw, &d.simple] {
            if let Err(e) = check_hessian("generated", &m, &d, blocks, &params) {
                return Err(TestCaseError::fail(format!("{src}\n{e}")));
            }
        }
    }
}

/// A param the loss is linear in has a constant gradient (free of its
/// element index) and zero blocks, which still carry their indices.
#[test]
fn linear_param_gives_zero_blocks() {
    let text = "\
data x[2] = [[1, 2], [3, 4]]
data y = [1, 2]
param w[2] = 0
param u[3] = 0
loss L = mean((dot(w, x) - y)^2) + sum(j, u[j])
";
    let mut m = model("unused.ddx", text, None);
    let d = derive(&mut m);
    let g: &Graph = &m.graph;
    for (a, b) in [(0, 1), (1, 0), (1, 1)] {
        let block = &d.simple[a][b];
        assert_eq!(g.as_const(block.node), Some(0.0), "block {a},{b}");
        assert_eq!(block.indices.len(), 2);
    }
}
