//! ddx's side of benches/epochs_vs_c.sh: the seed model (examples/regression.ddx)
//! trained for 1000 SGD epochs in-process, best of five batches of 1000
//! trainings, in us, two ways:
//! - `loop`: the compiled SGD loop alone (`Objective::advance_sgd` on a
//!   `KernelObjective` past its tier threshold), the counterpart of the C
//!   loop of benches/peers/seed_train.c;
//! - `train`: `train::train` with `--quiet` output into a sink (setup, the
//!   loop, the final cost, the result text).
//!
//! Run alone: `cargo bench --bench train_loop`.

use std::io;
use std::time::Instant;

use ddx::{compile_model, KernelObjective, LOOP_AFTER_EPOCHS};
use ddx::{train, Objective, Setup, Sgd, TrainOptions};

#[path = "../support/seed.rs"]
mod seed;
use seed::seed_model;

/// Best time of five batches of 1000 runs of `f`, in us per run.
fn best_us(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..1000 {
                f();
            }
            t.elapsed().as_secs_f64() / 1000.0 * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut model = seed_model();
    let setup = Setup::from_model(&model).expect("a train line");
    let compiled = compile_model(&mut model, false).unwrap();
    let model = model;
    let mut objective = KernelObjective::new(&compiled, &model).unwrap();
    // past the tier threshold: the loop is compiled
    let mut p = [0.9, 0.1];
    let mut sgd = Sgd::new(0.01, 0.0);
    objective.advance_sgd(&mut p, &mut sgd, LOOP_AFTER_EPOCHS);
    let looped = best_us(|| {
        let mut p = [0.9, 0.1];
        let taken = objective.advance_sgd(&mut p, &mut sgd, 1000);
        assert_eq!(taken, 1000);
        std::hint::black_box(p);
    });
    let quiet = TrainOptions {
        quiet: true,
        progress: false,
        ..TrainOptions::default()
    };
    let trained = best_us(|| {
        let r = train(&mut objective, &setup, &quiet, None, &mut io::sink()).unwrap();
        assert_eq!(r.loop_epochs, 1000);
        std::hint::black_box(r.cost);
    });
    println!("ddx_loop {looped:.2}\nddx_train {trained:.2}");
}
