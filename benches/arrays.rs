//! Array models compiled: the digits softmax regression (64 -> 10) and the
//! digits MLP (64-32-10, tanh) on all 1797 rows of examples/data/digits.csv,
//! float64, through the path `ddx train` runs.
//!
//! Run: `cargo bench --bench arrays` (release). Groups:
//! - `arrays_compile`: check + differentiate + simplify + compile of each
//!   model, and of a 784-256-10 MLP (the code must not grow with the
//!   dimensions);
//! - `arrays_eval`: one loss + gradient evaluation over all rows
//!   (`Objective::eval` of the bound kernel).
//!
//! The peers (PyTorch, JAX, numpy) run the same models in
//! benches/peers/arrays.py; docs/PERFORMANCE.md has both.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ddx::{check, compile_array_model, ArrayObjective, Model, Objective, Source, Unit};

/// The checked model of an example file.
fn example(name: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("example readable");
    let source = Source::new(path.to_string_lossy(), text);
    match check(&source, Some(path.parent().expect("examples dir"))) {
        Ok(Unit::Model(m)) => m,
        _ => panic!("{name} is not a model"),
    }
}

/// An `inputs`-`hidden`-10 tanh MLP on 16 rows of inline data.
fn mlp_source(inputs: usize, hidden: usize) -> String {
    let row = |r: usize| -> String {
        let v: Vec<String> = (0..inputs)
            .map(|j| format!("{}", (r * 7 + j) % 17))
            .collect();
        format!("[{}]", v.join(", "))
    };
    let rows: Vec<String> = (0..16).map(row).collect();
    let labels: Vec<String> = (0..16).map(|r| format!("{}", r % 10)).collect();
    format!(
        "data px[{inputs}] = [{}]\ndata digit = [{}]\n\
         param W1[{hidden}, {inputs}] = normal(0, 0.1, seed = 1)\nparam c1[{hidden}] = 0\n\
         param W2[10, {hidden}] = normal(0, 0.1, seed = 2)\nparam c2[10] = 0\n\
         let h = tanh(W1 @ (px / 16) + c1)\nlet z = W2 @ h + c2\n\
         loss L = mean(logsumexp(k, z[k]) - z[digit])\ntrain adam(lr = 0.01, epochs = 100)\n",
        rows.join(", "),
        labels.join(", ")
    )
}

fn model_of(src: &str) -> Model {
    match check(&Source::new("<bench>", src), None) {
        Ok(Unit::Model(m)) => m,
        Ok(_) => panic!("not a model"),
        Err(d) => panic!("{}", d.render(&Source::new("<bench>", src))),
    }
}

fn compile_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("arrays_compile");
    group.measurement_time(Duration::from_secs(4));
    for name in ["digits_softmax.ddx", "digits_mlp.ddx"] {
        let model = example(name);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut m = model.clone();
                black_box(compile_array_model(&mut m, false, false).expect("compiles"));
            })
        });
    }
    let big = model_of(&mlp_source(784, 256));
    group.bench_function("mlp_784_256_10", |b| {
        b.iter(|| {
            let mut m = big.clone();
            black_box(compile_array_model(&mut m, false, false).expect("compiles"));
        })
    });
    group.finish();
}

fn eval_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("arrays_eval");
    group.measurement_time(Duration::from_secs(5));
    for name in ["digits_softmax.ddx", "digits_mlp.ddx"] {
        let mut model = example(name);
        let compiled = compile_array_model(&mut model, false, false).expect("compiles");
        let mut objective = ArrayObjective::new(&compiled, &model).expect("binds");
        let params: Vec<f64> = model.params.iter().flat_map(|p| p.init.to_vec()).collect();
        let mut grad = vec![0.0; params.len()];
        group.bench_function(name, |b| {
            b.iter(|| black_box(objective.eval(black_box(&params), &mut grad)))
        });
    }
    group.finish();
}

criterion_group!(benches, compile_group, eval_group);
criterion_main!(benches);
