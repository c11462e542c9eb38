//! JIT benchmarks (run with `cargo bench --bench jit`, release):
//! - compile: the seed model's diff + schedule + codegen to a callable kernel;
//! - call/8 rows: one loss + gradient evaluation of the seed model;
//! - rows/10^7: the same over 10^7 rows (report ns/row = time / 10^7), next
//!   to a plain read-only pass over the same two columns (the memory floor);
//!   rows/10^5: both again with the data in cache (the compute cost).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ddx::Model;
use ddx::{compile, model_layout};

#[path = "support/outputs.rs"]
mod outputs;
#[path = "support/seed.rs"]
mod support;
use outputs::model_outputs;

/// The seed model (examples/regression.ddx) with the given data.
fn seed(xs: Vec<f64>, ys: Vec<f64>) -> Model {
    let mut model = support::seed_model();
    model.rows = xs.len();
    model.data[0].values = xs;
    model.data[1].values = ys;
    model
}

fn seed_data() -> (Vec<f64>, Vec<f64>) {
    (
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        vec![1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37],
    )
}

fn bench_compile(c: &mut Criterion) {
    let (xs, ys) = seed_data();
    let model = seed(xs, ys);
    c.bench_function("compile/seed (diff + schedule + codegen)", |b| {
        b.iter_batched(
            || model.clone(),
            |mut m| {
                let outputs = model_outputs(&mut m);
                let k = compile(&m.graph, &outputs, &model_layout(&m)).unwrap();
                black_box(k)
            },
            BatchSize::SmallInput,
        )
    });
}

fn bench_call(c: &mut Criterion) {
    let (xs, ys) = seed_data();
    let mut model = seed(xs.clone(), ys.clone());
    let outputs = model_outputs(&mut model);
    let kernel = compile(&model.graph, &outputs, &model_layout(&model)).unwrap();
    let columns = [xs.as_slice(), ys.as_slice()];
    let bound = kernel.bind(&columns).unwrap();
    let mut out = [0.0; 3];
    c.bench_function("call/seed 8 rows (bound)", |b| {
        b.iter(|| {
            bound.call(black_box(&[0.9, 0.1]), &mut out).unwrap();
            black_box(out[0])
        })
    });
    c.bench_function("call/seed 8 rows (Kernel::call)", |b| {
        b.iter(|| {
            kernel
                .call(black_box(&[0.9, 0.1]), &columns, &mut out)
                .unwrap();
            black_box(out[0])
        })
    });
}

fn bench_rows(c: &mut Criterion) {
    rows(c, 100_000, "rows/10^5 (in cache)");
    rows(c, 10_000_000, "rows/10^7");
}

fn rows(c: &mut Criterion, n: usize, name: &str) {
    let xs: Vec<f64> = (0..n).map(|i| (i % 1000) as f64 * 0.007).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| 1.8 - 0.47 * x + 0.01 * (x * 13.0).sin())
        .collect();
    let mut model = seed(vec![0.0], vec![0.0]);
    let outputs = model_outputs(&mut model);
    let kernel = compile(&model.graph, &outputs, &model_layout(&model)).unwrap();
    let columns = [xs.as_slice(), ys.as_slice()];
    let bound = kernel.bind(&columns).unwrap();
    let mut out = [0.0; 3];
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("seed loss + gradient (jit)", |b| {
        b.iter(|| {
            bound.call(black_box(&[0.9, 0.1]), &mut out).unwrap();
            black_box(out[0])
        })
    });
    group.bench_function("read-only pass over x, y (floor)", |b| {
        b.iter(|| {
            let mut acc = [0.0f64; 4];
            for (cx, cy) in xs.chunks_exact(4).zip(ys.chunks_exact(4)) {
                for k in 0..4 {
                    acc[k] += cx[k] + cy[k];
                }
            }
            black_box(acc)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_compile, bench_call, bench_rows);
criterion_main!(benches);
