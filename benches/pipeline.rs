//! The front half of the pipeline, from text (run with
//! `cargo bench --bench pipeline`, release):
//! - diff/*: parse + check + reverse-mode gradient + simplify, to the
//!   simplified derivatives (what `ddx diff` computes before printing), for
//!   the families of the no-swell test;
//! - compile/*: parse + check + diff + simplify + schedule + Cranelift codegen
//!   to a callable kernel (what `ddx train` does before its first epoch).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ddx::check;
use ddx::compile_model;
use ddx::Source;
use ddx::Unit;
use ddx::{derivatives, DiffOptions};

const FAMILIES: [(&str, &str); 4] = [
    ("sin40", include_str!("../tests/data/swell/sin40.txt")),
    (
        "product20",
        include_str!("../tests/data/swell/product20.txt"),
    ),
    (
        "net341_written_out",
        include_str!("../tests/data/swell/net341.txt"),
    ),
    (
        "net341_model",
        include_str!("../tests/data/swell/net341.ddx"),
    ),
];

const MODELS: [(&str, &str); 3] = [
    ("seed", include_str!("../examples/regression.ddx")),
    ("tanh_net", include_str!("../examples/tanh_net.ddx")),
    (
        "net341_model",
        include_str!("../tests/data/swell/net341.ddx"),
    ),
];

fn diff(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff");
    for (name, text) in FAMILIES {
        let src = Source::new(name, text);
        group.bench_function(name, |b| {
            b.iter(|| {
                let unit = check(black_box(&src), None).expect("checks");
                let d = derivatives(unit, &DiffOptions::default()).expect("differentiates");
                black_box(d.items.len())
            })
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for (name, text) in MODELS {
        let src = Source::new(name, text);
        group.bench_function(name, |b| {
            b.iter(|| {
                let Unit::Model(mut m) = check(black_box(&src), None).expect("checks") else {
                    unreachable!("a model file")
                };
                let compiled = compile_model(&mut m, false).expect("compiles");
                black_box(compiled.kernel.outputs())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, diff, compile);
criterion_main!(benches);
