//! The compiled array kernels against the reference interpreter, bit for
//! bit, on the example models and the reference models of
//! tests/data/arrays (at their reference params), and on data sets whose
//! row counts cross the summation blocks (8192 rows) and end in a partial
//! group of rows. Generated models: tests/arrays_property.rs.

use std::path::Path;

use ddx::{
    check, compile_array_model, eval_arrays, ArrayInputs, IdxId, Model, NodeId, Source, Unit,
};

/// The checked model of a file of the repository.
fn model_file(path: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).expect("model readable");
    let source = Source::new(path.to_string_lossy(), text);
    match check(&source, Some(path.parent().expect("a folder"))) {
        Ok(Unit::Model(m)) => m,
        Ok(_) => panic!("not a model"),
        Err(d) => panic!("{}", d.render(&source)),
    }
}

fn model_text(src: &str) -> Model {
    let source = Source::new("<test>", src);
    match check(&source, None) {
        Ok(Unit::Model(m)) => m,
        Ok(_) => panic!("not a model"),
        Err(d) => panic!("{}", d.render(&source)),
    }
}

/// Params of a `*.params.json` reference file, by param, row-major.
fn params_file(model: &Model, path: &str) -> Vec<Vec<f64>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).expect("params readable");
    ddx::read_init(&text, "params", model).expect("params fit the model")
}

/// Compiles the loss and gradient, evaluates them with the kernel and the
/// interpreter at `params`, and asserts the same bits.
fn assert_same_bits(mut model: Model, params: &[Vec<f64>], what: &str) {
    let compiled = compile_array_model(&mut model, false, false).expect("compiles");
    let flat: Vec<f64> = params.iter().flatten().copied().collect();
    let columns: Vec<&[f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
    let mut got = vec![0.0; compiled.kernel.outputs()];
    compiled
        .kernel
        .call(&flat, &columns, &mut got)
        .expect("the call fits the kernel");
    let outputs = compiled.derived.outputs();
    let refs: Vec<(NodeId, &[IdxId])> = outputs.iter().map(|(n, i)| (*n, i.as_slice())).collect();
    let inputs = ArrayInputs {
        params: model
            .params
            .iter()
            .zip(params)
            .map(|(p, v)| (p.sym, v.as_slice()))
            .collect(),
        columns: model
            .data
            .iter()
            .map(|d| (d.sym, d.values.as_slice()))
            .collect(),
        rows: model.rows,
    };
    let want: Vec<f64> = eval_arrays(&model.graph, &refs, &inputs)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(want.len(), got.len(), "{what}");
    for (k, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(
            w.to_bits() == g.to_bits() || (w.is_nan() && g.is_nan()),
            "{what}: output {k}: interpreter {w:e}, JIT {g:e}"
        );
    }
}

#[test]
fn examples_at_their_initial_params() {
    for name in ["diabetes", "iris", "digits_softmax", "digits_mlp"] {
        let model = model_file(&format!("examples/{name}.ddx"));
        let params: Vec<Vec<f64>> = model.params.iter().map(|p| p.init.to_vec()).collect();
        assert_same_bits(model, &params, name);
    }
}

#[test]
fn reference_models_at_their_reference_params() {
    let models = [
        ("diabetes", "examples/diabetes.ddx"),
        ("iris", "examples/iris.ddx"),
        ("digits_softmax", "examples/digits_softmax.ddx"),
        ("digits_mlp", "examples/digits_mlp.ddx"),
        ("minmax_inline", "tests/data/arrays/minmax_inline.ddx"),
        ("softmax_let", "tests/data/arrays/softmax_let.ddx"),
        ("matmul", "tests/data/arrays/matmul.ddx"),
        ("iris_relu", "tests/data/arrays/iris_relu.ddx"),
        ("iris_hinge", "tests/data/arrays/iris_hinge.ddx"),
    ];
    for (name, file) in models {
        let model = model_file(file);
        let params = params_file(&model, &format!("tests/data/arrays/{name}.params.json"));
        assert_same_bits(model, &params, name);
    }
}

/// A softmax classifier with a gather, over `rows` rows of inline data.
fn many_rows(rows: usize) -> String {
    let x: Vec<String> = (0..rows)
        .map(|r| {
            let a = ((r * 37) % 101) as f64 / 50.0 - 1.0;
            let b = ((r * 53) % 97) as f64 / 40.0 - 1.2;
            format!("[{a}, {b}, {}]", (r % 7) as f64 * 0.25)
        })
        .collect();
    let labels: Vec<String> = (0..rows).map(|r| ((r * 13) % 4).to_string()).collect();
    format!(
        "data x[3] = [{}]\ndata lab = [{}]\n\
         param W[4, 3] = normal(0, 1, seed = 3)\nparam c[4] = uniform(-1, 1, seed = 4)\n\
         let z = W @ x + c\n\
         loss L = mean(logsumexp(k, z[k]) - z[lab]) + sum(k, max(j, W[k, j])^2)\n",
        x.join(", "),
        labels.join(", ")
    )
}

#[test]
fn row_counts_across_summation_blocks_and_partial_groups() {
    for rows in [1, 2, 3, 5, 8189, 8191, 8192, 8193, 16383, 16387] {
        let model = model_text(&many_rows(rows));
        let params: Vec<Vec<f64>> = model.params.iter().map(|p| p.init.to_vec()).collect();
        assert_same_bits(model, &params, &format!("{rows} rows"));
    }
}

#[test]
fn bad_labels_read_nan_in_both() {
    // a label column the checker would refuse, set after checking: the
    // kernel never reads outside the array and gives NaN, as the
    // interpreter does
    let mut model = model_text(&many_rows(9));
    let lab = model
        .data
        .iter_mut()
        .find(|d| d.name == "lab")
        .expect("lab column");
    lab.values[1] = 4.0;
    lab.values[2] = -1.0;
    lab.values[3] = 0.5;
    lab.values[4] = f64::NAN;
    lab.values[5] = f64::INFINITY;
    lab.values[6] = 1e300;
    let params: Vec<Vec<f64>> = model.params.iter().map(|p| p.init.to_vec()).collect();
    assert_same_bits(model, &params, "bad labels");
}

#[test]
fn threads_give_the_same_bits() {
    // three blocks of the summation order, the last partial; and two
    // blocks whose last group of four rows ends exactly on the block
    // boundary (a second flush once wrote past the partial sums)
    for rows in [20_003, 16_381, 16_383] {
        threads_agree(rows);
    }
}

fn threads_agree(rows: usize) {
    let mut model = model_text(&many_rows(rows));
    let params: Vec<f64> = model.params.iter().flat_map(|p| p.init.to_vec()).collect();
    let compiled = compile_array_model(&mut model, false, false).expect("compiles");
    let columns: Vec<&[f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
    let mut single = vec![0.0; compiled.kernel.outputs()];
    compiled
        .kernel
        .call(&params, &columns, &mut single)
        .expect("fits");
    for count in [2, 3, 4] {
        let threads = ddx::Threads::new(count).expect("threads start");
        let mut bound = compiled
            .kernel
            .bind_threads(&columns, threads)
            .expect("binds");
        assert_eq!(bound.threads(), count);
        let mut out = vec![0.0; single.len()];
        for _ in 0..2 {
            bound.call(&params, &mut out).expect("fits");
            let same = out
                .iter()
                .zip(&single)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{count} threads differ from one");
        }
    }
}

/// Models whose schedules have more than one row loop (a row mean used
/// per row), scalar and array params mixed, reductions of row-invariant
/// arrays, constant subscripts and gathers of matrices.
#[test]
fn staged_and_mixed_models() {
    let data = "data x[3] = [[1, 2, 0.5], [0, -1, 2], [3, 0.25, -2], [1.5, 1, 1], [-2, 0, 0.75]]\n\
                data lab = [0, 2, 1, 1, 0]\ndata y = [0.5, -1, 2, 0, 1]\n";
    let models = [
        // standardised features: mean and spread over the rows first
        "param w[3] = [0.1, -0.2, 0.3]\nparam b = 0.1\n\
         let mu[j] = mean(x[j])\nlet sd[j] = sqrt(mean((x[j] - mu[j])^2))\n\
         loss L = mean((sum(j, w[j]*(x[j] - mu[j])/sd[j]) + b - y)^2)\n",
        // a loss weighted by a row mean of the residual, three stages
        "param w[3] = [0.3, 0.1, -0.4]\n\
         let r = dot(w, x) - y\nlet m = mean(r)\nlet v = mean((r - m)^2)\n\
         loss L = mean((r - m)^2 / (v + 1)) + m^2\n",
        // scalar and array params together; a gather of a matrix row
        "param W[3, 3] = normal(0, 0.5, seed = 9)\nparam s = 0.7\nparam c[3] = [0.1, 0, -0.1]\n\
         let z[k] = s*sum(j, W[k, j]*x[j]) + c[k]\n\
         loss L = mean(logsumexp(k, z[k]) - z[lab]) + 0.01*sum(k, sum(j, W[k, j]^2)) \
         + mean(W[lab, 0]*x[1]) + s^2*c[2]\n",
        // row-invariant arrays: a penalty on W W' and a max over an index
        "param W[2, 3] = uniform(-1, 1, seed = 4)\n\
         let G[a, b] = sum(j, W[a, j]*W[b, j])\n\
         loss L = mean(max(k, sum(j, W[k, j]*x[j]))^2) + sum(a, sum(b, G[a, b]^2)) \
         + min(j, W[1, j])\n",
    ];
    for m in models {
        let model = model_text(&format!("{data}{m}"));
        let params: Vec<Vec<f64>> = model.params.iter().map(|p| p.init.to_vec()).collect();
        assert_same_bits(model, &params, m);
    }
}
