//! Hostile inputs through the real binary: each test states the exit
//! status, the message and a time bound (generous, for debug builds on a
//! shared two-core machine; docs/robustness.md has release figures).
//!
//! Every run goes through [`run`], which also asserts what no run may ever
//! print: a panic, a backtrace or Rust debug output.
//!
//! Large inputs are written into the test's scratch directory (under
//! `CARGO_TARGET_TMPDIR`) and removed when the test passes.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A fresh, empty scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("robust")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs ddx in `dir` with `args` and `stdin`, and fails the test if it
/// takes more than `limit` seconds (the process is then killed).
fn run(dir: &Path, args: &[&str], stdin: &[u8], limit: u64) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddx"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs ddx");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // ddx may stop reading early (an error): a broken pipe is fine
        let _ = input.write_all(&stdin);
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(limit) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ddx {args:?} did not finish within {limit} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seconds = start.elapsed().as_secs_f64();
    // shown with --nocapture: the figures of docs/robustness.md
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(40).collect()).collect();
    eprintln!("{seconds:8.2} s  ddx {}", shown.join(" "));
    feeder.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("ddx {args:?} was killed by a signal: {status}\n{stderr}"));
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "Os {",
        "kind: ",
    ] {
        assert!(
            !stderr.contains(bad),
            "ddx {args:?} printed `{bad}`:\n{stderr}"
        );
    }
    Run {
        code,
        stdout,
        stderr,
    }
}

/// Runs `ddx diff -` on `text`.
fn diff_stdin(dir: &Path, text: &str, extra: &[&str], limit: u64) -> Run {
    let mut args = vec!["diff", "-"];
    args.extend(extra);
    run(dir, &args, text.as_bytes(), limit)
}

fn ok(r: &Run) -> &str {
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    assert_eq!(r.stderr, "");
    &r.stdout
}

fn failed(r: &Run, code: i32) -> &str {
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    &r.stderr
}

// ---- nesting 100,000 deep ---------------------------------------------------

const DEEP: usize = 100_000;

#[test]
fn parentheses_100k_deep() {
    let dir = scratch("parens");
    let text = format!("{}x{}", "(".repeat(DEEP), ")".repeat(DEEP));
    let r = diff_stdin(&dir, &text, &[], 20);
    assert_eq!(ok(&r), "df/dx = 1\n");
    // every stage that prints the input walks it without recursion
    let r = run(&dir, &["emit", "-", "--stage", "ast"], text.as_bytes(), 20);
    assert_eq!(ok(&r), "x\n");
}

#[test]
fn unary_minus_100k_deep() {
    let dir = scratch("minus");
    let text = format!("{}x", "-".repeat(DEEP + 1));
    let r = diff_stdin(&dir, &text, &[], 20);
    assert_eq!(ok(&r), "df/dx = -1\n");
}

#[test]
fn power_chain_100k_long() {
    // x^x^...^x is right-associative: a tower 100,000 high, whose
    // derivative shares every level (printed with `let`s)
    let dir = scratch("power");
    let text = vec!["x"; DEEP].join("^");
    let r = diff_stdin(&dir, &text, &[], 60);
    let out = ok(&r);
    assert!(
        out.starts_with("let t1 = x^x\nlet t2 = x^t1\n"),
        "{}",
        &out[..200]
    );
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("df/dx = "), "{last}");
    // at x = 1 every level is 1 and so is the derivative
    let r = diff_stdin(&dir, &text, &["--at", "x=1"], 60);
    assert_eq!(ok(&r), "df/dx = 1\n");
}

#[test]
fn nested_calls_100k_deep() {
    let dir = scratch("calls");
    let text = format!("{}x{}", "sin(".repeat(DEEP), ")".repeat(DEEP));
    let r = diff_stdin(&dir, &text, &["--at", "x=0"], 30);
    // sin(0) = 0 at every level, and every factor cos(0) = 1
    assert_eq!(ok(&r), "df/dx = 1\n");
}

#[test]
fn a_model_too_deep_to_compile_is_refused() {
    // ddx train compiles the loss and gradient: 100,000 nested calls are
    // over the kernel limit, a clear error rather than minutes of Cranelift
    let dir = scratch("deep_model");
    let loss = format!("{}w*x{}", "sin(".repeat(DEEP), ")".repeat(DEEP));
    let model = format!(
        "data x = [1, 2, 3]\nparam w = 0.5\nloss C = mean({loss})\ntrain sgd(lr = 0.1, epochs = 3)\n"
    );
    fs::write(dir.join("deep.ddx"), &model).unwrap();
    let r = run(&dir, &["train", "deep.ddx"], b"", 60);
    let err = failed(&r, 2);
    assert!(
        err.starts_with("error: the compiled loss and derivatives would have ")
            && err.contains("operations, more than ddx compiles (the limit is 200000)"),
        "{err}"
    );
    // ddx diff does not compile: it differentiates the same model
    let r = run(&dir, &["diff", "deep.ddx", "--format", "json"], b"", 60);
    let v: serde_json::Value = serde_json::from_str(ok(&r)).unwrap();
    assert_eq!(v["derivatives"][0]["wrt"], "w");
    fs::remove_dir_all(&dir).unwrap();
}

// ---- size ---------------------------------------------------------------------

#[test]
fn a_10_megabyte_expression() {
    // 10 MB of terms k*x*y: the derivative by x is (sum of k)*y
    let dir = scratch("ten_mb");
    let mut text = String::new();
    let mut k: u64 = 0;
    while text.len() < 10_000_000 {
        k += 1;
        if k > 1 {
            text.push_str(" + ");
        }
        text.push_str(&format!("{k}*x*y"));
    }
    let sum = k * (k + 1) / 2;
    fs::write(dir.join("big.txt"), &text).unwrap();
    let r = run(&dir, &["diff", "big.txt"], b"", 90);
    assert_eq!(ok(&r), format!("df/dx = {sum}*y\ndf/dy = {sum}*x\n"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sum_of_a_million_terms() {
    let dir = scratch("million");
    let text = vec!["x"; 1_000_000].join(" + ");
    let r = diff_stdin(&dir, &text, &[], 30);
    assert_eq!(ok(&r), "df/dx = 1000000\n");
}

#[test]
fn a_source_over_the_size_limit_is_refused_unread() {
    let dir = scratch("too_large");
    let text = vec![b'x'; ddx::syntax::MAX_SOURCE_BYTES + 1];
    let r = run(&dir, &["diff", "-"], &text, 20);
    assert_eq!(
        failed(&r, 2),
        "error: standard input is larger than 32 MiB, the most ddx reads\n"
    );
}

#[cfg(unix)]
#[test]
fn endless_files_are_refused() {
    let dir = scratch("dev_zero");
    let r = run(&dir, &["train", "/dev/zero"], b"", 20);
    assert_eq!(
        failed(&r, 2),
        "error: /dev/zero is larger than 32 MiB, the most ddx reads\n"
    );
    fs::write(
        dir.join("zero.ddx"),
        "data x, y from \"/dev/zero\"\nparam w = 1\nloss C = mean((w*x - y)^2)\ntrain sgd(lr = 0.1, epochs = 2)\n",
    )
    .unwrap();
    let r = run(&dir, &["train", "zero.ddx"], b"", 20);
    assert_eq!(
        failed(&r, 2),
        "zero.ddx:1:16: error: data file `/dev/zero`: the row at line 1 is longer than 16 MiB, \
         the most ddx reads in one row\n  |\n1 | data x, y from \"/dev/zero\"\n  |                \
         ^^^^^^^^^^^ this file\n  = note: is it a CSV file, with one row per line?\n"
    );
}

// ---- --order 50 ---------------------------------------------------------------

#[test]
fn order_50() {
    let dir = scratch("order");
    let r = run(
        &dir,
        &["diff", "f = sin(x)*exp(x)", "--order", "50"],
        b"",
        20,
    );
    assert_eq!(ok(&r), "d50f/dx50 = 33554432*exp(x)*cos(x)\n");
    let r = run(
        &dir,
        &["diff", "f = x*y + sin(x*y)", "--order", "50"],
        b"",
        20,
    );
    assert_eq!(
        ok(&r),
        "d50f/dx50 = -y^50*sin(x*y)\nd50f/dy50 = -x^50*sin(x*y)\n"
    );
    // the derivatives of x^x grow about 2.5 times per order: an error,
    // within seconds, that says which order is possible
    let r = run(&dir, &["diff", "f = x^x", "--order", "50"], b"", 30);
    assert_eq!(
        failed(&r, 2),
        "error: --order 50: the derivative by `x` grows too large at order 12 \
         (past 250012 new nodes); try --order 11 or lower\n"
    );
    let r = run(
        &dir,
        &["diff", "f = x^x", "--order", "11", "--format", "json"],
        b"",
        30,
    );
    let v: serde_json::Value = serde_json::from_str(ok(&r)).unwrap();
    assert_eq!(v["derivatives"][0]["order"], 11);
    assert!(v["lets"].as_array().is_some_and(|l| !l.is_empty()));
}

#[test]
fn many_variables_at_a_high_order_are_refused() {
    // (x0 + ... + x9999)^3 to order 2: one sweep per variable over the
    // shared sum would be 10^8 steps
    let dir = scratch("many_vars");
    let vars: Vec<String> = (0..10_000).map(|i| format!("x{i}")).collect();
    let text = format!("({})^3", vars.join(" + "));
    let r = diff_stdin(&dir, &text, &["--order", "2"], 30);
    assert_eq!(
        failed(&r, 2),
        "error: --order 2: differentiating 10000 variables to order 2 is too much work; \
         choose some with --wrt\n"
    );
    // the first derivatives are one sweep, and the shared square is
    // printed once, not once per variable
    let r = diff_stdin(&dir, &text, &[], 30);
    let out = ok(&r);
    assert!(out.len() < 300_000, "{} bytes", out.len());
    assert!(
        out.contains("\ndf/dx9999 = t"),
        "{}",
        &out[out.len() - 200..]
    );
}

// ---- literals, encodings, empty input ----------------------------------------

#[test]
fn huge_and_tiny_literals() {
    let dir = scratch("literals");
    let r = run(&dir, &["diff", "x*1e308"], b"", 20);
    assert_eq!(ok(&r), "df/dx = 1e308\n");
    let r = run(&dir, &["diff", "x*1e-320"], b"", 20);
    assert_eq!(ok(&r), "df/dx = 1e-320\n");
    let r = run(&dir, &["diff", "x*4.9e-324"], b"", 20);
    assert_eq!(ok(&r), "df/dx = 5e-324\n");
    let r = run(&dir, &["diff", "1e999*x"], b"", 20);
    assert_eq!(
        failed(&r, 2),
        "<expr>:1:1: error: number `1e999` is too large for a 64-bit float\n  |\n1 | 1e999*x\n  \
         | ^^^^^ overflows\n  = note: the largest finite value is about 1.8e308\n"
    );
    let r = run(&dir, &["diff", "x^2", "--at", "x=1e999"], b"", 20);
    assert_eq!(
        failed(&r, 2),
        "error: --at x=1e999: the value must be finite\n"
    );
}

#[test]
fn invalid_utf8_nul_bytes_and_empty_input() {
    let dir = scratch("bytes");
    fs::write(dir.join("latin1.txt"), b"x*\xe9t\xe9").unwrap();
    let r = run(&dir, &["diff", "latin1.txt"], b"", 20);
    assert_eq!(
        failed(&r, 2),
        "latin1.txt:1:3: error: the input is not valid UTF-8\n  |\n1 | x*\u{fffd}t\u{fffd}\n  \
         |   ^ invalid byte\n  = note: ddx reads UTF-8 text\n"
    );
    let r = run(&dir, &["diff", "-"], b"x\0y", 20);
    let err = failed(&r, 2);
    assert!(
        err.starts_with("<stdin>:1:2: error: unexpected character U+0000\n"),
        "{err}"
    );
    for (args, input, want) in [
        (
            vec!["diff", ""],
            "",
            "<expr>:1:1: error: the input is empty\n",
        ),
        (
            vec!["diff", "-"],
            "",
            "<stdin>:1:1: error: the input is empty\n",
        ),
        (
            vec!["diff", "-"],
            "  # only a comment\n\n",
            "<stdin>:3:1: error: the input is empty\n",
        ),
        (
            vec!["train", "-"],
            "",
            "<stdin>:1:1: error: the model file is empty\n",
        ),
    ] {
        let r = run(&dir, &args, input.as_bytes(), 20);
        let err = failed(&r, 2);
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_output_pipe_is_not_an_error() {
    // like `ddx diff ... | head -1`: the reader goes away mid-output
    let dir = scratch("pipe");
    let vars: Vec<String> = (0..20_000).map(|i| format!("x{i}*x{}", i + 1)).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddx"))
        .args(["diff", "-"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(vars.join(" + ").as_bytes())
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // stdout is now closed
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

// ---- CSV ------------------------------------------------------------------------

const REGRESSION: &str =
    "param m = 0, b = 0\nloss C = mean((m*x + b - y)^2)\ntrain newton(epochs = 1)\n";

#[test]
fn a_csv_of_ten_million_rows() {
    // y = 2x + 1 exactly: one Newton step finds m = 2, b = 1
    let dir = scratch("rows");
    let mut text = String::with_capacity(45_000_010);
    text.push_str("x,y\n");
    for i in 0..10_000_000u32 {
        let x = i % 10;
        text.push_str(&format!("{x},{}\n", 2 * x + 1));
    }
    fs::write(dir.join("rows.csv"), &text).unwrap();
    drop(text);
    fs::write(
        dir.join("rows.ddx"),
        format!("data x, y from \"rows.csv\"\n{REGRESSION}"),
    )
    .unwrap();
    let r = run(&dir, &["train", "rows.ddx", "--json"], b"", 60);
    let v: serde_json::Value = serde_json::from_str(ok(&r)).unwrap();
    let m = v["params"]["m"].as_f64().unwrap();
    let b = v["params"]["b"].as_f64().unwrap();
    assert!((m - 2.0).abs() < 1e-9 && (b - 1.0).abs() < 1e-9, "{v}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_cells_that_are_huge() {
    let dir = scratch("huge_cells");
    let model = format!("data x, y from \"cells.csv\"\n{REGRESSION}");
    fs::write(dir.join("cells.ddx"), &model).unwrap();
    // five million digits: more than any double holds
    let digits = "1".repeat(5_000_000);
    fs::write(dir.join("cells.csv"), format!("x,y\n1,3\n{digits},5\n")).unwrap();
    let r = run(&dir, &["train", "cells.ddx"], b"", 20);
    let err = failed(&r, 2);
    assert!(
        err.starts_with("cells.csv:3:1: error: non-finite value in column `x`\n"),
        "{err}"
    );
    assert!(
        err.contains("^^^ overflows: the largest finite value is about 1.8e308\n"),
        "{err}"
    );
    assert!(err.len() < 1000, "the message shows a window of the line");
    // five million digits of a small number: read exactly (as 0.1)
    let long = format!("0.1{}", "0".repeat(5_000_000));
    fs::write(
        dir.join("cells.csv"),
        format!("x,y\n0,1\n{long},1.2\n2,5\n"),
    )
    .unwrap();
    let r = run(&dir, &["train", "cells.ddx", "--json"], b"", 20);
    let v: serde_json::Value = serde_json::from_str(ok(&r)).unwrap();
    assert!(
        (v["params"]["m"].as_f64().unwrap() - 2.0).abs() < 1e-9,
        "{v}"
    );
    // a row longer than 16 MiB is refused without reading further
    let row = "7".repeat(17 << 20);
    fs::write(dir.join("cells.csv"), format!("x,y\n1,2\n{row},3\n")).unwrap();
    let r = run(&dir, &["train", "cells.ddx"], b"", 20);
    assert_eq!(
        failed(&r, 2),
        "cells.ddx:1:16: error: data file `cells.csv`: the row at line 3 is longer than 16 MiB, \
         the most ddx reads in one row\n  |\n1 | data x, y from \"cells.csv\"\n  |                \
         ^^^^^^^^^^^ this file\n  = note: is it a CSV file, with one row per line?\n"
    );
    fs::remove_dir_all(&dir).unwrap();
}

// ---- numeric faults at the source ----------------------------------------------

/// Writes `model` as `name` and trains it: exit status 1, the message.
fn diverges(dir: &Path, name: &str, model: &str) -> String {
    fs::write(dir.join(name), model).unwrap();
    let r = run(dir, &["train", name, "--quiet"], b"", 20);
    failed(&r, 1).to_string()
}

#[test]
fn a_let_that_meets_ln_of_zero_is_named_with_its_row_and_inputs() {
    let dir = scratch("fault_ln");
    let err = diverges(
        &dir,
        "ln.ddx",
        "# x reaches 3 at the fourth row\n\
         data x = [0.5, 1, 2, 3, 4]\n\
         data y = [1, 2, 3, 4, 5]\n\
         param a = 1, b = 0\n\
         let z = ln(abs(x - 3))\n\
         let yhat = a*z + b\n\
         loss C = mean((yhat - y)^2)\n\
         train sgd(lr = 0.01, epochs = 10)\n",
    );
    assert_eq!(
        err,
        "error: training diverged at epoch 0: the cost is inf and the gradient is not finite \
         (a grad inf, b grad -inf)\n\
         last finite params: a = 1.0, b = 0.0\n\
         ln.ddx:5:9: note: the first non-finite value comes from `let z` at data row 4 (counting from 1)\n  \
         |\n\
         5 | let z = ln(abs(x - 3))\n  \
         |         ^^^^^^^^^^^^^^ -inf at row 4\n  \
         = note: ln(abs(x - 3)) = -inf\n  \
         = note: its inputs at that row: x = 3\n"
    );
}

#[test]
fn a_loss_that_overflows_is_named_with_its_row() {
    let dir = scratch("fault_exp");
    let err = diverges(
        &dir,
        "exp.ddx",
        "data x = [1, 2, 3]\ndata y = [2, 4, 6]\nparam w = 300\n\
         loss C = mean(exp(w*x) - y)\ntrain sgd(lr = 0.1, epochs = 5)\n",
    );
    assert!(
        err.ends_with(
            "exp.ddx:4:10: note: the first non-finite value comes from `loss C` at data row 3 (counting from 1)\n  \
             |\n\
             4 | loss C = mean(exp(w*x) - y)\n  \
             |          ^^^^^^^^^^^^^^^^^^ inf at row 3\n  \
             = note: in mean(exp(w*x) - y): exp(w*x) - y = inf\n  \
             = note: its inputs at that row: w = 300, x = 3, y = 6\n"
        ),
        "{err}"
    );
    // a sum that overflows although every row is finite
    let err = diverges(
        &dir,
        "sum.ddx",
        "data x = [1e308, 1e308]\nparam w = 1\nloss C = sum(w*x)\ntrain sgd(lr = 0.1, epochs = 5)\n",
    );
    assert!(
        err.contains(
            "sum.ddx:3:10: note: the first non-finite value comes from `loss C`: every row of \
             `sum(w*x)` is finite, but their sum overflows\n"
        ),
        "{err}"
    );
}

#[test]
fn a_fault_in_the_gradient_only_is_named() {
    // sqrt(r) is 0 at w = 0, its derivative is not finite
    let dir = scratch("fault_sqrt");
    let err = diverges(
        &dir,
        "sqrt.ddx",
        "data x = [0, 1, 2]\nparam w = 0\nlet r = sqrt(w*x)\nloss C = mean(r)\ntrain sgd(lr = 0.1, epochs = 5)\n",
    );
    assert_eq!(
        err,
        "error: training diverged at epoch 0: the gradient is not finite (w grad NaN)\n\
         last finite params: w = 0.0\n\
         sqrt.ddx:3:9: note: every value is finite, but the gradient is not: the derivative of \
         `let r` with respect to `w` is NaN at data row 1 (counting from 1)\n  \
         |\n\
         3 | let r = sqrt(w*x)\n  \
         |         ^^^^^^^^^ d/dw = NaN at row 1\n  \
         = note: the derivative is 0.5*x/r = NaN\n  \
         = note: its inputs at that row: r = 0, x = 0\n"
    );
    // ddx check says the same at the initial params
    let r = run(&dir, &["check", "sqrt.ddx"], b"", 20);
    let err = failed(&r, 1);
    assert!(
        err.starts_with(
            "error: the loss or its gradient is not finite at the initial params\n\
             sqrt.ddx:3:9: note: every value is finite, but the gradient is not"
        ),
        "{err}"
    );
}

#[test]
fn ddx_check_refuses_hours_of_finite_differences() {
    // two evaluations per param, each computing every derivative: 100
    // params over 100,000 rows is past the limit
    let dir = scratch("check_work");
    let mut csv = String::from("x,y\n");
    for i in 0..100_000 {
        csv.push_str(&format!("{},{}\n", i % 7, i % 3));
    }
    fs::write(dir.join("rows.csv"), csv).unwrap();
    let params: Vec<String> = (0..100).map(|i| format!("p{i} = 0.5")).collect();
    let terms: Vec<String> = (0..100).map(|i| format!("p{i}*sin(x + {i})")).collect();
    fs::write(
        dir.join("wide.ddx"),
        format!(
            "data x, y from \"rows.csv\"\nparam {}\nloss C = mean(({} - y)^2)\ntrain sgd(lr = 0.01, epochs = 1)\n",
            params.join(", "),
            terms.join(" + ")
        ),
    )
    .unwrap();
    let r = run(&dir, &["check", "wide.ddx"], b"", 30);
    let err = failed(&r, 2);
    assert!(
        err.starts_with("error: ddx check evaluates the loss twice per param: 100 params times ")
            && err.ends_with(" operations over 100000 rows is more than 4e9 operations in all\n"),
        "{err}"
    );
    // training it is one evaluation per epoch
    let r = run(&dir, &["train", "wide.ddx", "--quiet"], b"", 30);
    assert!(ok(&r).starts_with("Final params after 1 epoch:\n"));
}
