//! Hostile inputs through the real binary: each test states the exit
//! status, the message and a time bound (generous, for debug builds on a
//! shared two-core machine; docs/robustness.md has release figures).
//!
//! Every run goes through [`run`], which also asserts what no run may ever
//! print: a panic, a backtrace or Rust debug output.
//!
//! Large inputs are written into the test's scratch directory (under
//! `CARGO_TARGET_TMPDIR`), removed when the test ends.

mod common;

use common::cli::{ddx_in, output, scratch, wide_model, Run, BIN};
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs ddx in `dir` with `args` and `stdin`, and fails the test if it
/// takes more than `limit` seconds (the process is then killed).
fn run(dir: &Path, args: &[&str], stdin: &[u8], limit: u64) -> Run {
    let start = Instant::now();
    let out = output(
        ddx_in(dir, args)
            .write_stdin(stdin)
            .timeout(Duration::from_secs(limit)),
    );
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        out.status.code().is_some() || seconds < limit as f64,
        "ddx {args:?} did not finish within {limit} s"
    );
    // shown with --nocapture: the figures of docs/robustness.md
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(40).collect()).collect();
    eprintln!("{seconds:8.2} s  ddx {}", shown.join(" "));
    Run::new(args, out)
}

/// Runs `ddx diff -` on `text`.
fn diff_stdin(dir: &Path, text: &str, extra: &[&str], limit: u64) -> Run {
    let mut args = vec!["diff", "-"];
    args.extend(extra);
    run(dir, &args, text.as_bytes(), limit)
}

// ---- nesting 100,000 deep ---------------------------------------------------

const DEEP: usize = 100_000;

#[test]
fn parentheses_100k_deep() {
    let dir = scratch("parens");
    let text = format!("{}x{}", "(".repeat(DEEP), ")".repeat(DEEP));
    let r = diff_stdin(&dir, &text, &[], 20);
    assert_eq!(r.ok(), "df/dx = 1\n");
    // every stage that prints the input walks it without recursion
    let r = run(&dir, &["emit", "-", "--stage", "ast"], text.as_bytes(), 20);
    assert_eq!(r.ok(), "x\n");
}

#[test]
fn unary_minus_100k_deep() {
    let dir = scratch("minus");
    let text = format!("{}x", "-".repeat(DEEP + 1));
    let r = diff_stdin(&dir, &text, &[], 20);
    assert_eq!(r.ok(), "df/dx = -1\n");
}

#[test]
fn power_chain_100k_long() {
    // x^x^...^x is right-associative: a tower 100,000 high, whose
    // derivative shares every level (printed with `let`s)
    let dir = scratch("power");
    let text = vec!["x"; DEEP].join("^");
    let r = diff_stdin(&dir, &text, &[], 60);
    let out = r.ok();
    assert!(
        out.starts_with("let t1 = x^x\nlet t2 = x^t1\n"),
        "{}",
        &out[..200]
    );
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("df/dx = "), "{last}");
    // at x = 1 every level is 1 and so is the derivative
    let r = diff_stdin(&dir, &text, &["--at", "x=1"], 60);
    assert_eq!(r.ok(), "df/dx = 1\n");
}

#[test]
fn nested_calls_100k_deep() {
    let dir = scratch("calls");
    let text = format!("{}x{}", "sin(".repeat(DEEP), ")".repeat(DEEP));
    let r = diff_stdin(&dir, &text, &["--at", "x=0"], 30);
    // sin(0) = 0 at every level, and every factor cos(0) = 1
    assert_eq!(r.ok(), "df/dx = 1\n");
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
    let err = r.failed(2);
    assert!(
        err.starts_with("deep.ddx:3:10: error: the compiled loss and derivatives would have ")
            && err.contains("operations, more than ddx compiles (the limit is 200000)")
            && err.contains("^^^ loss C, with its derivatives\n"),
        "{err}"
    );
    // ddx diff does not compile: it differentiates the same model
    let r = run(&dir, &["diff", "deep.ddx", "--format", "json"], b"", 60);
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
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
    assert_eq!(r.ok(), format!("df/dx = {sum}*y\ndf/dy = {sum}*x\n"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sum_of_a_million_terms() {
    let dir = scratch("million");
    let text = vec!["x"; 1_000_000].join(" + ");
    let r = diff_stdin(&dir, &text, &[], 30);
    assert_eq!(r.ok(), "df/dx = 1000000\n");
}

#[test]
fn a_source_over_the_size_limit_is_refused_unread() {
    let dir = scratch("too_large");
    let text = vec![b'x'; ddx::MAX_SOURCE_BYTES + 1];
    let r = run(&dir, &["diff", "-"], &text, 20);
    assert_eq!(
        r.failed(2),
        "error: standard input is larger than 32 MiB, the most ddx reads\n"
    );
}

#[cfg(unix)]
#[test]
fn endless_files_are_refused() {
    let dir = scratch("dev_zero");
    let r = run(&dir, &["train", "/dev/zero"], b"", 20);
    assert_eq!(
        r.failed(2),
        "error: /dev/zero is larger than 32 MiB, the most ddx reads\n"
    );
    fs::write(
        dir.join("zero.ddx"),
        "data x, y from \"/dev/zero\"\nparam w = 1\nloss C = mean((w*x - y)^2)\ntrain sgd(lr = 0.1, epochs = 2)\n",
    )
    .unwrap();
    let r = run(&dir, &["train", "zero.ddx"], b"", 20);
    assert_eq!(
        r.failed(2),
        "zero.ddx:1:16: error: data file `/dev/zero`: the row at line 1 is longer than 16 MiB, \
         the most ddx reads in one row\n  |\n1 | data x, y from \"/dev/zero\"\n  |                \
         ^^^^^^^^^^^ this file\n  = note: is it a CSV file, with one row per line?\n"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn files_that_fail_to_read_are_reported_plainly() {
    // /proc/self/mem opens, then every read fails
    let dir = scratch("proc_mem");
    let r = run(&dir, &["train", "/proc/self/mem"], b"", 20);
    assert_eq!(
        r.failed(2),
        "error: cannot read /proc/self/mem: Input/output error\n"
    );
    let model = "data x, y from \"/proc/self/mem\"\nparam m = 1\nloss C = mean((m*x - y)^2)\n";
    let r = run(&dir, &["diff", "-"], model.as_bytes(), 20);
    assert_eq!(
        r.failed(2),
        "<stdin>:1:16: error: cannot read data file `/proc/self/mem`: Input/output error\n  |\n\
         1 | data x, y from \"/proc/self/mem\"\n  |                ^^^^^^^^^^^^^^^^ here\n"
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
    assert_eq!(r.ok(), "d50f/dx50 = 33554432*exp(x)*cos(x)\n");
    let r = run(
        &dir,
        &["diff", "f = x*y + sin(x*y)", "--order", "50"],
        b"",
        20,
    );
    assert_eq!(
        r.ok(),
        "d50f/dx50 = -y^50*sin(x*y)\nd50f/dy50 = -x^50*sin(x*y)\n"
    );
    // the derivatives of x^x grow about 2.5 times per order: an error,
    // within seconds, that says which order is possible
    let r = run(&dir, &["diff", "f = x^x", "--order", "50"], b"", 30);
    assert_eq!(
        r.failed(2),
        "error: --order 50: the derivative by `x` grows too large at order 12 \
         (past 250012 new nodes); try --order 11 or lower\n"
    );
    let r = run(
        &dir,
        &["diff", "f = x^x", "--order", "11", "--format", "json"],
        b"",
        30,
    );
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
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
        r.failed(2),
        "error: --order 2: differentiating 10000 variables to order 2 is too much work; \
         choose some with --wrt\n"
    );
    // the first derivatives are one sweep, and the shared square is
    // printed once, not once per variable
    let r = diff_stdin(&dir, &text, &[], 30);
    let out = r.ok();
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
    assert_eq!(r.ok(), "df/dx = 1e308\n");
    let r = run(&dir, &["diff", "x*1e-320"], b"", 20);
    assert_eq!(r.ok(), "df/dx = 1e-320\n");
    let r = run(&dir, &["diff", "x*4.9e-324"], b"", 20);
    assert_eq!(r.ok(), "df/dx = 5e-324\n");
    let r = run(&dir, &["diff", "1e999*x"], b"", 20);
    assert_eq!(
        r.failed(2),
        "<expr>:1:1: error: number `1e999` is too large for a 64-bit float\n  |\n1 | 1e999*x\n  \
         | ^^^^^ overflows\n  = note: the largest finite value is about 1.8e308\n"
    );
    let r = run(&dir, &["diff", "x^2", "--at", "x=1e999"], b"", 20);
    assert_eq!(
        r.failed(2),
        "error: --at x=1e999: the value must be finite\n"
    );
}

#[test]
fn invalid_utf8_nul_bytes_and_empty_input() {
    let dir = scratch("bytes");
    fs::write(dir.join("latin1.txt"), b"x*\xe9t\xe9").unwrap();
    let r = run(&dir, &["diff", "latin1.txt"], b"", 20);
    assert_eq!(
        r.failed(2),
        "latin1.txt:1:3: error: the input is not valid UTF-8\n  |\n1 | x*\u{fffd}t\u{fffd}\n  \
         |   ^ invalid byte\n  = note: ddx reads UTF-8 text\n"
    );
    let r = run(&dir, &["diff", "-"], b"x\0y", 20);
    let err = r.failed(2);
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
        let err = r.failed(2);
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_output_pipe_is_not_an_error() {
    // like `ddx diff ... | head -1`: the reader goes away mid-output
    let dir = scratch("pipe");
    let vars: Vec<String> = (0..20_000).map(|i| format!("x{i}*x{}", i + 1)).collect();
    let mut child = Command::new(BIN)
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
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
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
    let err = r.failed(2);
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
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert!(
        (v["params"]["m"].as_f64().unwrap() - 2.0).abs() < 1e-9,
        "{v}"
    );
    // a row longer than 16 MiB is refused without reading further
    let row = "7".repeat(17 << 20);
    fs::write(dir.join("cells.csv"), format!("x,y\n1,2\n{row},3\n")).unwrap();
    let r = run(&dir, &["train", "cells.ddx"], b"", 20);
    assert_eq!(
        r.failed(2),
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
    r.failed(1).to_string()
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
    let err = r.failed(1);
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
    fs::write(
        dir.join("wide.ddx"),
        wide_model(
            100,
            "0.5",
            |i| format!("p{i}*sin(x + {i})"),
            "data x, y from \"rows.csv\"",
            "train sgd(lr = 0.01, epochs = 1)",
        ),
    )
    .unwrap();
    let r = run(&dir, &["check", "wide.ddx"], b"", 30);
    let err = r.failed(2);
    assert!(
        err.starts_with(
            "wide.ddx:3:10: error: ddx check evaluates the loss twice per param: 100 params times "
        ) && err.contains(" operations over 100000 rows is more than 4e9 operations in all\n"),
        "{err}"
    );
    // training it is one evaluation per epoch
    let r = run(&dir, &["train", "wide.ddx", "--quiet"], b"", 30);
    assert!(r.ok().starts_with("Final params after 1 epoch:\n"));
}

// ---- inputs of our own: every command, every kind of bad model ------------------

/// Asserts a located error: `FILE:LINE:COL: error: ...` first (equal to
/// `first`), then the source line and a caret under it.
fn located<'r>(r: &'r Run, first: &str) -> &'r str {
    let err = r.failed(2);
    assert_eq!(err.lines().next(), Some(first), "{err}");
    let caret = err.lines().nth(3).unwrap_or("");
    assert!(
        caret.trim_start().starts_with('|') && caret.contains('^'),
        "no caret line:\n{err}"
    );
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "raw control characters:\n{err:?}"
    );
    assert_eq!(r.stdout, "", "nothing on stdout for a bad input");
    err
}

/// The same line of a bad model file, reported the same way by `ddx train`,
/// `check`, `diff` and `emit`.
#[test]
fn bad_models_are_located_errors_in_every_command() {
    let dir = scratch("bad_models");
    fs::write(dir.join("ok.csv"), "x,y\n1,2\n2,4\n").unwrap();
    fs::write(dir.join("crlf.csv"), "x,y\r\n1,2\r\n3,4\r\n5,abc\r\n").unwrap();
    fs::write(dir.join("ragged.csv"), "x,y\n1,2\n3\n").unwrap();
    fs::write(dir.join("quoted.csv"), "x,y\n\"1,5\",2\n").unwrap();
    fs::write(dir.join("nan.csv"), "x,y\n1,NaN\n").unwrap();
    fs::write(dir.join("header.csv"), "x,y\n").unwrap();
    fs::write(dir.join("empty.csv"), "").unwrap();
    fs::create_dir_all(dir.join("folder.csv")).unwrap();
    const TAIL: &str = "loss C = mean((m*x - y)^2)\ntrain sgd(lr = 0.1, epochs = 2)\n";
    let data = "data x = [1, 2]\ndata y = [2, 4]\nparam m = 1\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{data}train sgd(lr = 0.1, epochs = 2)\n"),
            "m.ddx:5:1: error: the model has no loss",
        ),
        (
            format!("data x = [1, 2]\ndata y = [2, 4]\nparam m = 1, m = 2\n{TAIL}"),
            "m.ddx:3:14: error: `m` is already declared",
        ),
        (
            format!("data x = [1, 2]\ndata y = [2, 4]\nparam x = 1\n{TAIL}"),
            "m.ddx:3:7: error: `x` is already declared",
        ),
        (
            format!("{data}let a = a + 1\n{TAIL}"),
            "m.ddx:4:9: error: `a` is used before it is declared",
        ),
        (
            format!("{data}let a = b\nlet b = a\n{TAIL}"),
            "m.ddx:4:9: error: `b` is used before it is declared",
        ),
        (
            format!("{data}loss C = mean((m*x - C)^2)\n"),
            "m.ddx:4:22: error: `C` is used before it is declared",
        ),
        (
            format!("{data}loss C = mean(m*x)\nloss D = mean(m*y)\n"),
            "m.ddx:5:1: error: a model has exactly one loss, and this is a second one",
        ),
        (
            format!("{data}{TAIL}train adam(epochs = 3)\n"),
            "m.ddx:6:1: error: a model has at most one `train` line, and this is a second one",
        ),
        (
            format!("{data}loss C = mean((m*x - y)^2)\ntrain lbfgs(epochs = 3)\n"),
            "m.ddx:5:7: error: unknown optimizer `lbfgs`",
        ),
        (
            format!("{data}loss C = mean((m*x - y)^2)\ntrain sgd(lr = 0.1, epochs = 2, lr = 1)\n"),
            "m.ddx:5:33: error: option `lr` is given twice",
        ),
        (
            format!("{data}loss C = mean((m*x - y)^2)\ntrain sgd(0.1, 2)\n"),
            "m.ddx:5:11: error: the options of `train` are named",
        ),
        (
            format!("{data}loss C = mean((m*x - y)^2)\ntrain sgd(lr = 0.1, epochs = 1e12)\n"),
            "m.ddx:5:30: error: option `epochs` must be a whole number, at least 0 (and at most \
             1e9), but it is 1000000000000",
        ),
        (
            format!("{data}loss C = mean((m*x - y)^2)\ntrain sgd(lr = 1/0, epochs = 2)\n"),
            "m.ddx:5:16: error: option `lr` must be finite, but this evaluates to inf",
        ),
        (
            format!("{data}loss C = mean((m*x - y)^2)\ntrain sgd(lr = x, epochs = 2)\n"),
            "m.ddx:5:16: error: option `lr` must be a constant, but `x` is a name",
        ),
        (
            format!("data x = [1, 2]\ndata y = [2, 4]\nparam m = ln(0)\n{TAIL}"),
            "m.ddx:3:11: error: a param's initial value must be finite, but this evaluates to -inf",
        ),
        (
            format!("data x = [1, 0/0]\ndata y = [2, 4]\nparam m = 1\n{TAIL}"),
            "m.ddx:1:14: error: a data value must be finite, but this evaluates to NaN",
        ),
        (
            format!("data x = []\ndata y = [2, 4]\nparam m = 1\n{TAIL}"),
            "m.ddx:1:1: error: data column `x` is empty",
        ),
        (
            format!("data x = [1, 2, 3]\ndata y = [2, 4]\nparam m = 1\n{TAIL}"),
            "m.ddx:2:6: error: data column `y` has 2 rows, but `x` has 3",
        ),
        (
            format!("data x = [1, 2]\ndata y = [2, 4]\nparam \u{e9} = 1\n{TAIL}"),
            "m.ddx:3:7: error: unexpected character `\u{e9}`",
        ),
        (
            format!("data x = [1, 2]\ndata y = [2, 4]\nparam train = 1\n{TAIL}"),
            "m.ddx:3:7: error: `train` is a keyword and cannot be used as a name",
        ),
        (
            format!("data x = [1, 2]\ndata y = [2, 4]\nparam pi = 1\n{TAIL}"),
            "m.ddx:3:7: error: `pi` is the constant \u{3c0} and cannot be redeclared",
        ),
        (
            "data x = [1, 2]\ndata y = [2, 4]\nloss C = mean((x - y)^2)\n".to_string(),
            "m.ddx:3:10: error: the model has no params",
        ),
        (
            "param m = 1\nloss C = (m - 2)^2 + sum(m)\n".to_string(),
            "m.ddx:2:22: error: `sum` reduces over the data rows, but the model has no data",
        ),
        (
            format!("{data}loss C = mean(m*x) + y\n"),
            "m.ddx:4:22: error: the loss uses data column `y` outside `sum` or `mean`",
        ),
        (
            format!("{data}loss C = mean(m*x, y)\n"),
            "m.ddx:4:10: error: `mean` takes 1 argument, but 2 were given",
        ),
        (
            format!("{data}loss C = mean(sinh2(m*x))\n"),
            "m.ddx:4:15: error: unknown function `sinh2`",
        ),
        (
            format!("{data}loss C = mean(m*x\n"),
            "m.ddx:4:18: error: expected an operator, `,` or `)`, found the end of the input",
        ),
        (
            format!("data x, y from \"nowhere.csv\"\nparam m = 1\n{TAIL}"),
            "m.ddx:1:16: error: cannot read data file `nowhere.csv`: file not found",
        ),
        (
            format!("data x, y from \"folder.csv\"\nparam m = 1\n{TAIL}"),
            "m.ddx:1:16: error: cannot read data file `folder.csv`: it is a directory",
        ),
        (
            format!("data x, z from \"ok.csv\"\nparam m = 1\n{TAIL}"),
            "m.ddx:1:9: error: data file `ok.csv` has no column `z` (header at ok.csv:1)",
        ),
        (
            format!("data x, y from \"crlf.csv\"\nparam m = 1\n{TAIL}"),
            "crlf.csv:4:3: error: cell in column `y` is not a number",
        ),
        (
            format!("data x, y from \"ragged.csv\"\nparam m = 1\n{TAIL}"),
            "ragged.csv:3:2: error: row has 1 cell but the header has 2",
        ),
        (
            format!("data x, y from \"quoted.csv\"\nparam m = 1\n{TAIL}"),
            "quoted.csv:2:1: error: cell in column `x` is not a number",
        ),
        (
            format!("data x, y from \"nan.csv\"\nparam m = 1\n{TAIL}"),
            "nan.csv:2:3: error: non-finite value in column `y`",
        ),
        (
            format!("data x, y from \"header.csv\"\nparam m = 1\n{TAIL}"),
            "header.csv:1:1: error: the file has a header but no data rows",
        ),
        (
            format!("data x, y from \"empty.csv\"\nparam m = 1\n{TAIL}"),
            "empty.csv:1:1: error: data file `empty.csv` is empty: it needs a header row naming \
             its columns",
        ),
    ];
    let mut wrong = Vec::new();
    for (model, first) in &cases {
        fs::write(dir.join("m.ddx"), model).unwrap();
        for args in [
            &["train", "m.ddx"][..],
            &["check", "m.ddx"],
            &["diff", "m.ddx"],
            &["emit", "m.ddx", "--stage", "schedule"],
        ] {
            let r = run(&dir, args, b"", 20);
            if r.stderr.lines().next() != Some(first) {
                wrong.push(format!(
                    "{args:?} on\n{model}want {first}\ngot  {}",
                    r.stderr
                ));
            } else {
                located(&r, first);
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_expressions_are_located_errors() {
    let dir = scratch("bad_expressions");
    for (expr, first) in [
        (
            "3",
            "<expr>:1:1: error: `f` has no variables to differentiate by",
        ),
        (
            "y = 0/0",
            "<expr>:1:5: error: `y` has no variables to differentiate by",
        ),
        (
            "x = x^2",
            "<expr>:1:1: error: `x` names the function and is also one of its variables",
        ),
        (
            "sum(x)",
            "<expr>:1:1: error: `sum` sums over data rows, which only model files have",
        ),
        (
            "x\u{200b} + 1",
            "<expr>:1:2: error: unexpected character U+200B",
        ),
        (
            "x + \u{202e}1",
            "<expr>:1:5: error: unexpected character U+202E",
        ),
        (
            "x + \u{1b}[31m1",
            "<expr>:1:5: error: unexpected character U+001B",
        ),
        (
            "y = x +\r\n",
            "<expr>:1:8: error: expected an expression, found the end of the line",
        ),
        (
            "x ** 2",
            "<expr>:1:4: error: expected an expression, found `*`",
        ),
        ("f(x)", "<expr>:1:1: error: unknown function `f`"),
        (
            "x;y",
            "<expr>:1:3: error: expected one expression, found a second statement",
        ),
    ] {
        for args in [&["diff", "-"][..], &["emit", "-", "--stage", "grad"]] {
            let r = run(&dir, args, expr.as_bytes(), 20);
            located(&r, &first.replace("<expr>", "<stdin>"));
        }
    }
    // a file: a byte order mark is not text, CRLF line breaks are line breaks
    fs::write(dir.join("f.txt"), "\u{feff}# from Notepad\r\ny = x^2\r\n").unwrap();
    let r = run(&dir, &["diff", "f.txt"], b"", 20);
    assert_eq!(r.ok(), "dy/dx = 2*x\n");
}

/// Options and files that are wrong: a plain `error:` line, nothing run.
#[test]
fn bad_options_are_usage_errors() {
    let dir = scratch("bad_options");
    let model = "data x = [1, 2]\ndata y = [2, 4]\nparam m = 1\nloss C = mean((m*x - y)^2)\n\
                 train sgd(lr = 0.1, epochs = 2)\n";
    fs::write(dir.join("m.ddx"), model).unwrap();
    fs::create_dir_all(dir.join("folder.ddx")).unwrap();
    for (args, want) in [
        (
            &["diff", "x*y", "--at", "x=1,x=2"][..],
            "error: --at x=2: `x` is given a value twice",
        ),
        (
            &["diff", "x*y", "--at", "x=nan"],
            "error: --at x=nan: the value must be finite",
        ),
        (
            &["diff", "x*y", "--at", "x=1;y=2"],
            "error: --at x=1;y=2: `1;y=2` is not a number",
        ),
        (
            &["diff", "x*y", "--wrt", "pi"],
            "error: --wrt pi: `pi` is the constant \u{3c0}, not a variable",
        ),
        (
            &["diff", "x*y", "--wrt", "exp"],
            "error: --wrt exp: `exp` is a function, not a variable",
        ),
        (
            &["diff", "x*y", "--wrt", "loss"],
            "error: --wrt loss: `loss` is a keyword, not a variable",
        ),
        (
            &["diff", "f = x*y", "--wrt", "f"],
            "error: --wrt f: `f` is the function's own name, not a variable",
        ),
        (
            &["diff", "m.ddx", "--wrt", "q"],
            "error: --wrt q: no such param (the params are: m)",
        ),
        (
            &["diff", "x*y", "--order", "abc"],
            "error: invalid value 'abc' for '--order <ORDER>': invalid digit found in string",
        ),
        (
            &["diff", "x*y", "--order", "101"],
            "error: invalid value '101' for '--order <ORDER>': 101 is not in 1..=100",
        ),
        (
            &["train", "m.ddx", "--epochs", "1000000000000"],
            "error: invalid value '1000000000000' for '--epochs <EPOCHS>': ddx trains at most \
             1e9 epochs",
        ),
        (
            &["train", "m.ddx", "--epochs", "99999999999999999999999"],
            "error: invalid value '99999999999999999999999' for '--epochs <EPOCHS>': ddx trains \
             at most 1e9 epochs",
        ),
        (
            &["train", "m.ddx", "--lr", "inf"],
            "error: invalid learning rate inf: it must be a finite number >= 0",
        ),
        (
            &["train", "m.ddx", "--log", "m.ddx"],
            "error: --log m.ddx: that is the model file, which the log would overwrite",
        ),
        (
            &["train", "m.ddx", "--log", "folder.ddx"],
            "error: cannot write the log 'folder.ddx': it is a directory",
        ),
        (
            &["train", "m.ddx", "--plot", "no/such/folder.svg"],
            "error: cannot write the plot 'no/such/folder.svg': its folder does not exist",
        ),
        (
            &["train", "folder.ddx"],
            "error: cannot read folder.ddx: it is a directory",
        ),
        (
            &["check", "\u{1b}[2Jgone.ddx"],
            "error: cannot read \u{fffd}[2Jgone.ddx: no such file",
        ),
        (&["frob", "m.ddx"], "error: unrecognized subcommand 'frob'"),
        (
            &["train", "m.ddx", "--frob"],
            "error: unexpected argument '--frob' found",
        ),
    ] {
        let r = run(&dir, args, b"", 20);
        let err = r.failed(2);
        assert_eq!(err.lines().next(), Some(want), "{args:?}:\n{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
        assert_eq!(r.stdout, "", "{args:?}: nothing is trained");
    }
    // the model file was not overwritten
    assert_eq!(fs::read_to_string(dir.join("m.ddx")).unwrap(), model);
}

#[test]
fn empty_standard_input_for_every_command() {
    let dir = scratch("empty_stdin");
    for args in [
        &["train", "-"][..],
        &["check", "-"],
        &["emit", "-", "--stage", "ast"],
        &["emit", "-", "--stage", "clif"],
        &["diff", "-"],
    ] {
        let r = run(&dir, args, b"", 20);
        let want = if matches!(args[0], "train" | "check") {
            "<stdin>:1:1: error: the model file is empty"
        } else {
            "<stdin>:1:1: error: the input is empty"
        };
        located(&r, want);
    }
}

#[test]
fn long_names_long_chains_and_wide_models() {
    let dir = scratch("long");
    // a name of 100,000 characters: the final params were padded with a
    // format width, which panics past 65,535
    let name = "v".repeat(100_000);
    fs::write(
        dir.join("name.ddx"),
        format!(
            "data x = [1, 2]\nparam {name} = 0.5\nloss C = mean(({name}*x - 1)^2)\n\
             train sgd(lr = 0.1, epochs = 2)\n"
        ),
    )
    .unwrap();
    let r = run(&dir, &["train", "name.ddx"], b"", 20);
    assert!(r.ok().contains(&format!("\n  {name} = ")));
    let r = run(&dir, &["check", "name.ddx"], b"", 20);
    assert!(r.ok().contains(&format!("\n{name}  ")));
    let r = run(&dir, &["diff", "name.ddx", "--at", "w=1"], b"", 20);
    assert_eq!(
        r.failed(2),
        format!(
            "error: --at w=1: no variable `w` (the variables are: {}...)\n",
            "v".repeat(40)
        )
    );
    // 2,000 lets, each the square of the one before: the polynomial degree
    // doubled past i32 (a panic); now exp overflows at the 11th, located
    let mut lets = String::from("let a0 = m*x\n");
    for i in 1..2000 {
        lets.push_str(&format!("let a{i} = a{}*a{}\n", i - 1, i - 1));
    }
    fs::write(
        dir.join("square.ddx"),
        format!(
            "data x = [1, 2, 3]\nparam m = 0.5\n{lets}loss C = mean(a1999)\n\
             train sgd(lr = 0.1, epochs = 2)\n"
        ),
    )
    .unwrap();
    let r = run(&dir, &["train", "square.ddx", "--quiet"], b"", 30);
    let err = r.failed(1);
    assert!(
        err.contains(
            "square.ddx:14:11: note: the first non-finite value comes from `let a11` at data \
             row 3 (counting from 1)\n"
        ),
        "{err}"
    );
    // newton over 5,000 params: refused before the 25,000,000-entry
    // Hessian is differentiated
    fs::write(
        dir.join("wide.ddx"),
        wide_model(
            5000,
            "0",
            |i| format!("p{i}"),
            "data y = [1, 2]",
            "train newton(epochs = 2)",
        ),
    )
    .unwrap();
    for args in [
        &["train", "wide.ddx"][..],
        &["emit", "wide.ddx", "--stage", "schedule"],
    ] {
        let r = run(&dir, args, b"", 20);
        located(
            &r,
            "wide.ddx:4:1: error: newton supports at most 1000 params, and this model has 5000",
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn latex_labels_are_valid_latex() {
    // names with underscores were printed raw in the labels: `a_b_c` is
    // a double subscript, `d_` a subscript without its argument
    let dir = scratch("latex");
    let r = run(
        &dir,
        &["diff", "x_1^2 + a_b_c", "--format", "latex"],
        b"",
        20,
    );
    assert_eq!(
        r.ok(),
        "\\frac{\\partial f}{\\partial a_{b\\_c}} = 1\n\
         \\frac{\\partial f}{\\partial x_{1}} = 2 \\cdot x_{1}\n"
    );
    let r = run(&dir, &["diff", "f_ = _^2", "--format", "latex"], b"", 20);
    assert_eq!(r.ok(), "\\frac{d\\mathit{f\\_}}{d\\_} = 2 \\cdot \\_\n");
}

/// Regression: `ddx diff --format json` printed the function inline: 60
/// lets each using the previous one twice is 2^60 terms written out (it
/// hung). It now comes with the `let`s, as the text form does.
#[test]
fn json_diff_of_deeply_shared_lets_prints_lets() {
    let dir = scratch("deep_json");
    let mut model = String::from("param x = 1.5\nlet a0 = x*x + x\n");
    for i in 1..60 {
        model.push_str(&format!("let a{i} = a{p}*a{p} + a{p}\n", p = i - 1));
    }
    model.push_str("loss L = a59\n");
    fs::write(dir.join("deep.ddx"), model).unwrap();
    let r = run(&dir, &["diff", "deep.ddx", "--format", "json"], b"", 20);
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert!(
        v["function"].as_str().unwrap().len() < 100,
        "{}",
        v["function"]
    );
    assert!(v["lets"].as_array().unwrap().len() >= 59);
}
