//! The seed model's loss + gradient over many rows, through the path
//! `ddx train` runs (parse, check, diff, simplify, compile, bind: the
//! `pipeline::KernelObjective`), next to read-only passes over the same two
//! columns measured in the same run: the memory-bandwidth floor.
//!
//! Run: `cargo bench --bench kernel` (release). Rows: 10^3, 10^6, 10^7
//! (`DDX_BENCH_ROWS=10000000` for one size only). For each size:
//! - `floor 1t`: a plain Rust loop summing both columns (four independent
//!   lanes, vectorised by LLVM), one thread;
//! - `floor Nt`: the same loop on a persistent pool of N threads (rayon),
//!   the rows in 4N contiguous chunks as ddx shares them out (the threaded
//!   floor);
//! - `ddx 1t`, `ddx Nt`: one evaluation of the seed model's loss and
//!   gradient (`Objective::eval`) bound to the data on 1 or N threads.
//!
//! N = `std::thread::available_parallelism`. The ratio the issue asks for
//! is `ddx Nt / floor Nt` (and `ddx 1t / floor 1t` on one thread).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ddx::Objective;
use ddx::Threads;
use ddx::{compile_model, KernelObjective};

#[path = "support/seed.rs"]
mod seed;
use seed::seed_rows;

/// Sum of both columns, four lanes (the floor's loop body).
fn pass(xs: &[f64], ys: &[f64]) -> [f64; 4] {
    let mut acc = [0.0f64; 4];
    for (cx, cy) in xs.chunks_exact(4).zip(ys.chunks_exact(4)) {
        for k in 0..4 {
            acc[k] += cx[k] + cy[k];
        }
    }
    acc
}

/// [`pass`] on a persistent pool of `threads` threads, in contiguous
/// chunks, four per thread: the same sharing out as ddx's kernels.
fn pass_threads(pool: &rayon::ThreadPool, xs: &[f64], ys: &[f64], threads: usize) -> f64 {
    use rayon::prelude::*;
    let chunk = xs.len().div_ceil(4 * threads).next_multiple_of(4).max(4);
    pool.install(|| {
        xs.par_chunks(chunk)
            .zip(ys.par_chunks(chunk))
            .map(|(cx, cy)| pass(cx, cy).iter().sum::<f64>())
            .sum()
    })
}

fn sizes() -> Vec<usize> {
    match std::env::var("DDX_BENCH_ROWS") {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => vec![1_000, 1_000_000, 10_000_000],
    }
}

fn bench(c: &mut Criterion) {
    let all = Threads::available();
    for n in sizes() {
        let mut model = seed_rows(n);
        let compiled = compile_model(&mut model, false).unwrap();
        let model = model;
        let (xs, ys) = (&model.data[0].values, &model.data[1].values);
        let mut group = c.benchmark_group(format!("kernel/{n} rows"));
        group.throughput(Throughput::Elements(n as u64));
        if n >= 1_000_000 {
            group.sample_size(30);
            group.measurement_time(Duration::from_secs(5));
        }
        let mut grad = [0.0; 2];
        let p = [0.9, 0.1];
        // Interleaved: each floor next to its kernel, so that load from
        // other work on the machine hits both alike.
        group.bench_function("floor 1t", |b| {
            b.iter(|| black_box(pass(black_box(xs), black_box(ys))))
        });
        let mut one = KernelObjective::with_threads(&compiled, &model, Threads::single()).unwrap();
        group.bench_function("ddx 1t", |b| {
            b.iter(|| black_box(one.eval(black_box(&p), &mut grad)))
        });
        if all > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(all)
                .build()
                .unwrap();
            group.bench_function(format!("floor {all}t"), |b| {
                b.iter(|| black_box(pass_threads(&pool, black_box(xs), black_box(ys), all)))
            });
            let threads = Threads::for_rows(all, n).unwrap();
            let mut many = KernelObjective::with_threads(&compiled, &model, threads).unwrap();
            group.bench_function(format!("ddx {all}t"), |b| {
                b.iter(|| black_box(many.eval(black_box(&p), &mut grad)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
