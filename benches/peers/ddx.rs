//! ddx's side of the peer comparison (benches/peers/peers.py runs it):
//! prints one JSON object of timings in seconds, each the median of
//! repeated batches, for the seed model (examples/regression.ddx):
//! - `grad_8`: one loss + gradient evaluation over the 8 seed rows;
//! - `grad_1e7_1t`, `grad_1e7_nt`: the same over 10^7 rows, on one thread
//!   and on all cores (`threads`);
//! - `train_1000`: 1000 SGD epochs in-process (`KernelObjective` +
//!   `train::train`, quiet output into a sink), in the steady state: the
//!   objective has trained past `pipeline::LOOP_AFTER_EPOCHS` before, so its
//!   SGD loop is compiled (as JAX's loop is jitted before it is timed);
//! - `train_1000_per_epoch`: the same with a fresh objective each time,
//!   one kernel call per epoch (what a one-off `ddx train` of 1000 epochs
//!   runs: compiling the loop would cost more than it saves);
//! - `compile_first_call`: from the model's text to the first loss +
//!   gradient (parse, check, diff, simplify, schedule, Cranelift, bind,
//!   call), in a process that has compiled before (warm).
//!
//! Run alone: `cargo bench --bench peers_ddx`.

use std::hint::black_box;
use std::io;
use std::time::Instant;

use ddx::check;
use ddx::Source;
use ddx::Threads;
use ddx::Unit;
use ddx::{compile_model, KernelObjective};
use ddx::{train, Objective, Setup, TrainOptions};

#[path = "../support/seed.rs"]
mod seed;
use seed::{seed_model, seed_rows, SEED};

/// Median over `batches` of the time per run of `f`, run `per` times a batch.
fn median(batches: usize, per: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per {
                f();
            }
            t.elapsed().as_secs_f64() / per as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    // criterion-style arguments (`--bench`) are ignored.
    let threads = Threads::available();
    let mut model = seed_model();
    let setup = Setup::from_model(&model).expect("a train line");
    let compiled = compile_model(&mut model, false).unwrap();
    let model = model;
    let mut obj = KernelObjective::new(&compiled, &model).unwrap();
    let p = [0.9, 0.1];
    let mut g = [0.0; 2];
    let grad_8 = median(31, 100_000, || {
        black_box(obj.eval(black_box(&p), &mut g));
    });
    let quiet = TrainOptions {
        quiet: true,
        progress: false,
        ..TrainOptions::default()
    };
    let train_1000_per_epoch = median(31, 200, || {
        let mut fresh = KernelObjective::new(&compiled, &model).unwrap();
        let r = train(&mut fresh, black_box(&setup), &quiet, None, &mut io::sink()).unwrap();
        black_box(r.cost);
    });
    // warm: past the tier threshold, the SGD loop is compiled
    for _ in 0..=ddx::LOOP_AFTER_EPOCHS / 1000 {
        train(&mut obj, &setup, &quiet, None, &mut io::sink()).unwrap();
    }
    let train_1000 = median(31, 200, || {
        let r = train(&mut obj, black_box(&setup), &quiet, None, &mut io::sink()).unwrap();
        black_box(r.cost);
    });
    let compile_first_call = median(31, 20, || {
        let src = Source::new("regression.ddx", black_box(SEED));
        let Ok(Unit::Model(mut m)) = check(&src, None) else {
            return;
        };
        let c = compile_model(&mut m, false).unwrap();
        let mut o = KernelObjective::new(&c, &m).unwrap();
        let mut g = [0.0; 2];
        black_box(o.eval(&[0.9, 0.1], &mut g));
    });

    let n = 10_000_000;
    let mut big = seed_rows(n);
    let big_compiled = compile_model(&mut big, false).unwrap();
    let big = big;
    let mut one = KernelObjective::new(&big_compiled, &big).unwrap();
    let grad_1e7_1t = median(15, 2, || {
        black_box(one.eval(black_box(&p), &mut g));
    });
    let mut many =
        KernelObjective::with_threads(&big_compiled, &big, Threads::for_rows(threads, n).unwrap())
            .unwrap();
    let grad_1e7_nt = median(15, 2, || {
        black_box(many.eval(black_box(&p), &mut g));
    });
    println!(
        "{{\"threads\": {threads}, \"grad_8\": {grad_8:e}, \"grad_1e7_1t\": {grad_1e7_1t:e}, \
         \"grad_1e7_nt\": {grad_1e7_nt:e}, \"train_1000\": {train_1000:e}, \
         \"train_1000_per_epoch\": {train_1000_per_epoch:e}, \
         \"compile_first_call\": {compile_first_call:e}}}"
    );
}
