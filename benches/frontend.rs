//! Front-end speed: parsing and checking models and large expressions, and
//! streaming a 10^7-row CSV file. Run with `cargo bench --bench frontend`.

use std::io::Write;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ddx::check;
use ddx::parse;
use ddx::Source;

#[path = "support/seed.rs"]
mod seed;
use seed::SEED;

/// A sum of `n` distinct terms like `3*sin(x12)*y + ...`.
fn big_expression(n: usize) -> String {
    let mut s = String::from("f = 0");
    for i in 0..n {
        s.push_str(&format!(" + {}*sin(x{})*y", i % 9 + 1, i % 1000));
    }
    s
}

fn small(c: &mut Criterion) {
    let source = Source::new("seed.ddx", SEED);
    c.bench_function("check seed model", |b| {
        b.iter(|| check(&source, None).unwrap())
    });
}

fn large(c: &mut Criterion) {
    let text = big_expression(50_000);
    let mut g = c.benchmark_group("1 MB expression");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse", |b| b.iter(|| parse(&text).unwrap()));
    let source = Source::new("big", text.clone());
    g.bench_function("parse + check", |b| {
        b.iter(|| check(&source, None).unwrap())
    });
    g.finish();
}

/// Writes a CSV of `rows` rows (columns x, noise, y) once.
fn csv_file(rows: usize) -> PathBuf {
    let dir = std::env::temp_dir().join("ddx-bench-frontend");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("rows{rows}.csv"));
    if !path.exists() {
        let tmp = dir.join("partial.csv");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
        writeln!(w, "x,noise,y").unwrap();
        for i in 0..rows {
            let x = i as f64 * 1e-3;
            writeln!(w, "{x},{},{}", i % 7, 2.5 * x - 1.25).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn csv(c: &mut Criterion) {
    let rows = 10_000_000;
    let path = csv_file(rows);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let src = format!(
        "data x, y from \"{}\"\nparam m = 0, b = 0\nloss C = mean((m*x + b - y)^2)",
        path.display()
    );
    let source = Source::new("csv.ddx", src);
    let mut g = c.benchmark_group("CSV 1e7 rows");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("check", |b| {
        b.iter(|| match check(&source, None).unwrap() {
            ddx::Unit::Model(m) => assert_eq!(m.rows, rows),
            _ => unreachable!(),
        })
    });
    g.finish();
}

/// A tanh MLP `inputs-hidden-10` with softmax cross-entropy over a
/// two-row CSV of `inputs` pixel columns (written once), as source text.
fn mlp_source(inputs: usize, hidden: usize) -> String {
    let dir = std::env::temp_dir().join("ddx-bench-frontend");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("pixels{inputs}.csv"));
    if !path.exists() {
        let header: Vec<String> = (0..inputs).map(|i| format!("p{i}")).collect();
        let row: Vec<String> = (0..inputs).map(|i| (i % 17).to_string()).collect();
        let text = format!(
            "{},digit\n{},3\n{},7\n",
            header.join(","),
            row.join(","),
            row.join(",")
        );
        std::fs::write(&path, text).unwrap();
    }
    format!(
        "data px[p0 .. p{last}], digit from \"{csv}\"\n\
         param W1[{hidden}, {inputs}] = normal(0, 0.1, seed = 1)\n\
         param c1[{hidden}] = 0\n\
         param W2[10, {hidden}] = normal(0, 0.1, seed = 2)\n\
         param c2[10] = 0\n\
         let h = tanh(W1 @ (px / 16) + c1)\n\
         let z = W2 @ h + c2\n\
         loss L = mean(logsumexp(k, z[k]) - z[digit])\n",
        last = inputs - 1,
        csv = path.display()
    )
}

/// Parse, check and the simplified gradient of MLPs of two sizes: the time
/// and the graph do not grow with the dimensions.
fn arrays(c: &mut Criterion) {
    let mut g = c.benchmark_group("MLP gradient (parse, check, simplified gradient)");
    for (inputs, hidden) in [(64, 32), (784, 256)] {
        let source = Source::new("mlp.ddx", mlp_source(inputs, hidden));
        g.bench_function(format!("{inputs}-{hidden}-10"), |b| {
            b.iter(|| {
                let unit = check(&source, None).unwrap();
                ddx::derivatives(unit, &ddx::DiffOptions::default()).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, small, large, csv, arrays);
criterion_main!(benches);
