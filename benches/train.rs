//! Training the seed model in-process. Run: cargo bench --bench train
//! - `seed 1000 epochs, compiled kernel, --quiet`: the path `ddx train`
//!   runs after compiling: `pipeline::KernelObjective` (the JIT kernel bound
//!   to the data) driven by `train::train` for 1000 SGD epochs with quiet
//!   output (the final result is formatted, into a sink), the final cost
//!   included; no parsing or compiling inside the timed loop;
//! - `seed 1000 epochs, compiled kernel, epochs only`: the same epochs
//!   without the driver (kernel call + SGD step in a plain loop): the floor
//!   of the driver's per-epoch overhead;
//! - the others: the driver itself (optimizer, formatting, output) with a
//!   closed-form objective standing in for the kernel.

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, Criterion};
use ddx::{compile_model, KernelObjective};
use ddx::{format_3g, train, Objective, Setup, Sgd, TrainOptions};
use ddx::{Optimizer, TrainSpec};

#[path = "support/seed.rs"]
mod seed;
use seed::seed_model;

const X: [f64; 8] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
const Y: [f64; 8] = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];

/// MSE of y = m*x + b and its gradient.
struct Seed;

impl Objective for Seed {
    fn eval(&mut self, p: &[f64], grad: &mut [f64]) -> f64 {
        let (mut c, mut gm, mut gb) = (0.0, 0.0, 0.0);
        for (x, y) in X.iter().zip(Y) {
            let d = p[0] * x + p[1] - y;
            c += d * d;
            gm += 0.25 * d * x;
            gb += 0.25 * d;
        }
        grad[0] = gm;
        grad[1] = gb;
        c / 8.0
    }
}

fn setup(optimizer: Optimizer) -> Setup {
    Setup {
        names: vec!["m".to_string(), "b".to_string()],
        shapes: vec![vec![], vec![]],
        init: vec![0.9, 0.1],
        spec: TrainSpec {
            optimizer,
            epochs: 1000,
            span: 0..0,
        },
        loss_name: "C".to_string(),
    }
}

fn bench_kernel(c: &mut Criterion) {
    let mut model = seed_model();
    let setup = Setup::from_model(&model).expect("a train line");
    let compiled = compile_model(&mut model, false).unwrap();
    let model = model;
    let mut objective = KernelObjective::new(&compiled, &model).unwrap();
    let quiet = TrainOptions {
        quiet: true,
        progress: false,
        ..TrainOptions::default()
    };
    // The run is the seed notebook's: same final cost as `ddx train`.
    let r = train(&mut objective, &setup, &quiet, None, &mut io::sink()).unwrap();
    assert!(r.cost < 0.0195 && r.epochs == 1000, "{}", r.cost);
    c.bench_function("seed 1000 epochs, compiled kernel, --quiet", |b| {
        b.iter(|| {
            train(
                &mut objective,
                black_box(&setup),
                &quiet,
                None,
                &mut io::sink(),
            )
            .unwrap()
            .cost
        })
    });
    // What the compiled SGD loop costs to build: compile and bind the seed
    // kernel, then take one epoch by a kernel call, or through the SGD loop
    // (compiled on that first use).
    c.bench_function("seed compile + bind + 1 epoch, kernel call", |b| {
        b.iter(|| {
            let mut m = seed_model();
            let compiled = compile_model(&mut m, false).unwrap();
            let mut objective = KernelObjective::new(&compiled, &m).unwrap();
            let mut g = [0.0; 2];
            black_box(objective.eval(&[0.9, 0.1], &mut g))
        })
    });
    c.bench_function("seed compile + bind + 1 epoch, SGD loop", |b| {
        b.iter(|| {
            let mut m = seed_model();
            let compiled = compile_model(&mut m, false).unwrap();
            let columns: Vec<&[f64]> = m.data.iter().map(|d| d.values.as_slice()).collect();
            let bound = compiled.kernel.bind(&columns).unwrap();
            let mut p = [0.9, 0.1];
            black_box(bound.sgd(&mut p, &mut [], 1, 0.01, 0.0))
        })
    });
    c.bench_function("seed 1000 epochs, compiled SGD loop only", |b| {
        let mut sgd = Sgd::new(0.01, 0.0);
        // past the tier threshold: the loop is compiled
        let mut p = [0.9, 0.1];
        objective.advance_sgd(&mut p, &mut sgd, ddx::LOOP_AFTER_EPOCHS);
        b.iter(|| {
            let mut p = [0.9, 0.1];
            let taken = objective.advance_sgd(&mut p, &mut sgd, black_box(1000));
            assert_eq!(taken, 1000);
            black_box(p)
        })
    });
    c.bench_function("seed 1000 epochs, compiled kernel, epochs only", |b| {
        b.iter(|| {
            let mut p = [0.9, 0.1];
            let mut g = [0.0; 2];
            for _ in 0..1000 {
                objective.eval(black_box(&p), &mut g);
                p[0] -= 0.01 * g[0];
                p[1] -= 0.01 * g[1];
            }
            black_box(p)
        })
    });
}

fn bench(c: &mut Criterion) {
    let sgd = setup(Optimizer::Sgd {
        lr: 0.01,
        momentum: 0.0,
    });
    let adam = setup(Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    });
    let run = |s: &Setup, o: &TrainOptions| train(&mut Seed, s, o, None, &mut io::sink()).unwrap();
    let default = TrainOptions {
        progress: false,
        ..TrainOptions::default()
    };
    let every1 = TrainOptions {
        every: Some(1),
        ..default.clone()
    };
    let quiet = TrainOptions {
        quiet: true,
        ..default.clone()
    };
    c.bench_function("seed sgd 1000 epochs, default output", |b| {
        b.iter(|| run(black_box(&sgd), &default))
    });
    c.bench_function("seed sgd 1000 epochs, --every 1", |b| {
        b.iter(|| run(black_box(&sgd), &every1))
    });
    c.bench_function("seed sgd 1000 epochs, --quiet", |b| {
        b.iter(|| run(black_box(&sgd), &quiet))
    });
    c.bench_function("seed adam 1000 epochs, --quiet", |b| {
        b.iter(|| run(black_box(&adam), &quiet))
    });
    c.bench_function("format_3g", |b| {
        b.iter(|| format_3g(black_box(0.000684123)))
    });
}

criterion_group!(benches, bench_kernel, bench);
criterion_main!(benches);
