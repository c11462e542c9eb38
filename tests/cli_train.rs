//! `ddx train` end to end, through the real binary: the seed notebook's
//! output and the PyTorch trajectories (tests/data/, copied unchanged from
//! the shared reference), Newton, the output options, bad CSV input, plots,
//! and every example in examples/.
//!
//! Every model file a test needs beyond examples/ is written into that
//! test's own scratch directory, and ddx runs with that directory as its
//! working directory, so error messages show short relative paths.

mod common;

use common::cli::{
    data, ddx, ddx_in, example, failed, manifest, ok, output, read, scratch, stderr, stdout, BIN,
};
use common::images::{png_size, svg_size, svg_texts};
use common::{rel, seed_data, table, Table};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// The seed example with its `train` line replaced, written as `dir/name`.
fn seed_variant(dir: &Path, name: &str, train_line: &str) -> String {
    let seed = read(example("regression.ddx"));
    let line = "train sgd(lr = 0.01, epochs = 1000)";
    assert!(
        seed.contains(line),
        "the seed example changed its train line"
    );
    fs::write(dir.join(name), seed.replace(line, train_line)).unwrap();
    name.to_string()
}

/// The seed model's cost mean((m*x + b - y)^2), summed in row order. This
/// and `seed_gradient` are the tests' own closed forms, independent of ddx.
fn seed_cost(m: f64, b: f64) -> f64 {
    let (x, y) = seed_data();
    let n = x.len() as f64;
    x.iter()
        .zip(&y)
        .map(|(x, y)| (m * x + b - y).powi(2))
        .sum::<f64>()
        / n
}

/// The seed model's gradient [dC/dm, dC/db], and beside it the sums of the
/// absolute values of the terms added up for each: the size of the rounding
/// any summation order can make, relative to which a gradient near zero
/// (all cancellation) is compared.
fn seed_gradient(m: f64, b: f64) -> ([f64; 2], [f64; 2]) {
    let (x, y) = seed_data();
    let n = x.len() as f64;
    let (mut g, mut scale) = ([0.0; 2], [0.0; 2]);
    for (x, y) in x.iter().zip(&y) {
        let r = m * x + b - y;
        g[0] += 2.0 * r * x / n;
        g[1] += 2.0 * r / n;
        scale[0] += (2.0 * r * x / n).abs();
        scale[1] += (2.0 * r / n).abs();
    }
    (g, scale)
}

/// The final params (in printed order) and the final cost of the default
/// text output, checking its shape: `Final params after N epochs:`, one
/// `  NAME = VALUE` line per param, `Final cost L = VALUE`, nothing after.
fn final_result(text: &str, epochs: usize, loss: &str) -> (Vec<(String, f64)>, f64) {
    let head = format!("Final params after {epochs} epochs:\n");
    let start = text.find(&head).expect("the final result");
    let mut lines = text[start + head.len()..].lines();
    let mut params = Vec::new();
    let mut cost = None;
    for line in lines.by_ref() {
        if let Some(p) = line.strip_prefix("  ") {
            let (name, value) = p.split_once(" = ").expect("NAME = VALUE");
            params.push((name.trim_end().to_string(), value.parse().unwrap()));
        } else {
            let value = line
                .strip_prefix(&format!("Final cost {loss} = "))
                .unwrap_or_else(|| panic!("not the final cost line: {line:?}"));
            cost = Some(value.parse().unwrap());
            break;
        }
    }
    assert_eq!(lines.next(), None, "nothing after the final cost");
    (params, cost.expect("the final cost line"))
}

/// The names declared by the `param` lines of a model file, in order.
fn declared_params(model: &str) -> Vec<String> {
    model
        .lines()
        .filter_map(|l| l.strip_prefix("param "))
        .flat_map(|l| l.split(','))
        .map(|decl| decl.split('=').next().unwrap().trim().to_string())
        .collect()
}

// ---- the seed notebook's output --------------------------------------------

#[test]
fn every_one_prints_the_notebook_lines_then_the_final_params() {
    let out = ok(ddx(&["train", &example("regression.ddx"), "--every", "1"]));
    let want = read(data("seed_regression_f64_printed.txt"));
    if !out.starts_with(&want) {
        let (i, (o, w)) = out
            .lines()
            .zip(want.lines())
            .enumerate()
            .find(|(_, (o, w))| o != w)
            .expect("fewer lines than the notebook's");
        panic!("line {}: ddx printed {o:?}, the notebook {w:?}", i + 1);
    }
    let (params, cost) = final_result(&out[want.len()..], 1000, "C");
    assert_eq!(out[want.len()..].lines().count(), 4);
    let reference = table(&read(data("seed_regression_f64.csv")));
    let last = &reference.rows[999];
    assert_eq!(params[0].0, "m");
    assert_eq!(params[1].0, "b");
    assert!(rel(params[0].1, last[4]) <= 1e-12, "m = {}", params[0].1);
    assert!(rel(params[1].1, last[5]) <= 1e-12, "b = {}", params[1].1);
    // The final cost is the cost at the final params (after the last step).
    let at_final = seed_cost(params[0].1, params[1].1);
    assert!(rel(cost, at_final) <= 1e-12, "cost {cost} vs {at_final}");
    assert!(cost < last[1]);
}

#[test]
fn the_readme_shows_what_ddx_train_prints() {
    let readme = read(manifest().join("README.md"));
    let command = "$ ddx train examples/regression.ddx --every 250\n";
    let start = readme.find(command).expect("the README's train example") + command.len();
    let shown = &readme[start..start + readme[start..].find("$ ").unwrap()];
    let out = ok(ddx(&[
        "train",
        &example("regression.ddx"),
        "--every",
        "250",
    ]));
    assert_eq!(shown, out);
}

#[test]
fn default_output_prints_every_hundredth_and_the_last_epoch() {
    // The command of the README and of the performance measurement.
    let out = ok(ddx(&["train", &example("regression.ddx")]));
    let printed = read(data("seed_regression_f64_printed.txt"));
    let lines: Vec<&str> = printed.lines().collect();
    let want: Vec<&str> = (0..1000)
        .filter(|e| e % 100 == 0 || *e == 999)
        .map(|e| lines[e])
        .collect();
    let got: Vec<&str> = out.lines().take(want.len()).collect();
    assert_eq!(got, want);
    final_result(&out, 1000, "C");
    assert_eq!(out.lines().count(), want.len() + 4);
}

// ---- trajectories ------------------------------------------------------------

/// Trains `model` (in `dir`) with `--log` and returns the log.
fn log_of(dir: &Path, model: &str) -> Table {
    ok(ddx_in(
        dir,
        &["train", model, "--quiet", "--log", "log.csv"],
    ));
    table(&read(dir.join("log.csv")))
}

#[test]
fn log_matches_the_pytorch_sgd_trajectory_at_every_epoch() {
    let dir = scratch("log_sgd");
    let ours = log_of(&dir, &example("regression.ddx"));
    let want = table(&read(data("seed_regression_f64.csv")));
    assert_eq!(
        ours.header,
        ["epoch", "cost", "m_grad", "b_grad", "m_after", "b_after"]
    );
    assert_eq!(ours.rows.len(), 1000);
    assert_eq!(want.rows.len(), 1000);
    for (o, w) in ours.rows.iter().zip(&want.rows) {
        assert_eq!(o[0], w[0]);
        for k in 1..6 {
            assert!(
                rel(o[k], w[k]) <= 1e-12,
                "epoch {} {}: ddx {:?}, PyTorch {:?}",
                w[0],
                ours.header[k],
                o[k],
                w[k]
            );
        }
    }
}

#[test]
fn log_matches_the_pytorch_momentum_trajectory_at_every_epoch() {
    let dir = scratch("log_momentum");
    let model = seed_variant(
        &dir,
        "momentum.ddx",
        "train sgd(lr = 0.01, momentum = 0.9, epochs = 1000)",
    );
    let ours = log_of(&dir, &model);
    let want = table(&read(data("seed_momentum_f64.csv")));
    assert_eq!(ours.rows.len(), 1000);
    assert_eq!(want.rows.len(), 1000);
    // Every column, every epoch, within 1e-12 relative: also the gradients
    // near the optimum, where they cancel to ~1e-16 and only the same
    // summation order as PyTorch's (docs/architecture.md) gets them right.
    for (o, w) in ours.rows.iter().zip(&want.rows) {
        assert_eq!(o[0], w[0]);
        for k in 1..=5 {
            assert!(
                rel(o[k], w[k]) <= 1e-12,
                "epoch {} {}: ddx {:?}, PyTorch {:?}",
                w[0],
                ours.header[k],
                o[k],
                w[k]
            );
        }
    }
    let summary: serde_json::Value =
        serde_json::from_str(&read(data("seed_momentum_f64.json"))).unwrap();
    let last = &ours.rows[999];
    assert!(rel(last[4], summary["final_params"]["m"].as_f64().unwrap()) <= 1e-12);
    assert!(rel(last[5], summary["final_params"]["b"].as_f64().unwrap()) <= 1e-12);
}

/// Adam as the reference README writes it (PyTorch's documented algorithm),
/// on the tests' own closed-form seed gradient: an implementation
/// independent of ddx's. One row per epoch, like the log: cost, gradient,
/// params after the step.
fn adam_by_the_formula(
    (lr, beta1, beta2, eps): (f64, f64, f64, f64),
    epochs: usize,
) -> Vec<[f64; 5]> {
    let mut p = [0.9, 0.1];
    let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
    let mut rows = Vec::new();
    for t in 1..=epochs {
        let cost = seed_cost(p[0], p[1]);
        let (g, _) = seed_gradient(p[0], p[1]);
        for i in 0..2 {
            m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
            let m_hat = m[i] / (1.0 - beta1.powi(t as i32));
            p[i] -= lr * m_hat / (v[i].sqrt() / (1.0 - beta2.powi(t as i32)).sqrt() + eps);
        }
        rows.push([cost, g[0], g[1], p[0], p[1]]);
    }
    rows
}

#[test]
fn adam_follows_the_documented_formula() {
    let dir = scratch("adam");
    let cases = [
        (
            "adam(lr = 0.05, epochs = 500)",
            (0.05, 0.9, 0.999, 1e-8),
            500,
        ),
        (
            "adam(lr = 0.1, beta1 = 0.8, beta2 = 0.99, eps = 1e-6, epochs = 300)",
            (0.1, 0.8, 0.99, 1e-6),
            300,
        ),
    ];
    for (i, (train, settings, epochs)) in cases.into_iter().enumerate() {
        let model = seed_variant(&dir, &format!("adam{i}.ddx"), &format!("train {train}"));
        let ours = log_of(&dir, &model);
        let want = adam_by_the_formula(settings, epochs);
        assert_eq!(ours.rows.len(), epochs);
        let mut worst = 0.0f64;
        let mut p = [0.9, 0.1];
        for (e, (o, w)) in ours.rows.iter().zip(&want).enumerate() {
            assert_eq!(o[0], e as f64);
            let (_, scale) = seed_gradient(p[0], p[1]);
            for k in 0..5 {
                // The two sum the rows in different orders, so they differ
                // by rounding: 1e-12 relative, with the gradients compared
                // relative to the terms they sum (as for momentum) and the
                // params on their O(1) scale as they pass through zero.
                let big = o[k + 1].abs().max(w[k].abs());
                let tol = 1e-12
                    * match k {
                        0 => big,
                        1 | 2 => big.max(scale[k - 1]),
                        _ => big.max(1.0),
                    };
                worst = worst.max((o[k + 1] - w[k]).abs() / tol * 1e-12);
                assert!(
                    (o[k + 1] - w[k]).abs() <= tol,
                    "{train} epoch {e} {}: ddx {:?}, formula {:?}",
                    ours.header[k + 1],
                    o[k + 1],
                    w[k]
                );
            }
            p = [w[3], w[4]];
        }
        eprintln!("{train}: worst difference {worst:e} (on the scales above)");
    }
}

#[test]
fn newton_reaches_the_least_squares_optimum_in_one_step() {
    let dir = scratch("newton");
    let model = seed_variant(&dir, "newton.ddx", "train newton(epochs = 1)");
    let out = ok(ddx_in(&dir, &["train", &model, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lstsq: serde_json::Value = serde_json::from_str(&read(data("seed_lstsq.json"))).unwrap();
    for (got, want) in [
        (&v["params"]["m"], "m_exact_float"),
        (&v["params"]["b"], "b_exact_float"),
        (&v["cost"], "cost_exact_float"),
    ] {
        let got = got.as_f64().unwrap();
        let want_v = lstsq[want].as_f64().unwrap();
        assert!(rel(got, want_v) <= 1e-12, "{got:?} vs {want} {want_v:?}");
    }
    assert_eq!(v["epochs"], 1);

    // Newton has no learning rate.
    let (code, err) = failed(ddx_in(&dir, &["train", &model, "--lr", "0.1"]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: --lr does not apply to newton, which has no learning rate\n"
    );
}

#[test]
fn divergence_stops_with_the_epoch_the_params_and_status_1() {
    let dir = scratch("diverge");
    let model = seed_variant(&dir, "big_lr.ddx", "train sgd(lr = 1, epochs = 1000)");
    let out = output(ddx_in(&dir, &["train", &model]));
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    let mut lines = stderr.lines();
    let first = lines.next().unwrap();
    let epoch = first
        .strip_prefix("error: training diverged at epoch ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("{stderr}"));
    // The diverging epoch's line is the last one printed.
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with(&format!("Epoch {epoch}, cost ")), "{last}");
    let params = lines.next().unwrap();
    let (m, b) = params
        .strip_prefix("last finite params: m = ")
        .and_then(|r| r.split_once(", b = "))
        .unwrap_or_else(|| panic!("{stderr}"));
    let (m, b): (f64, f64) = (m.parse().unwrap(), b.parse().unwrap());
    assert!(m.is_finite() && b.is_finite());
    assert!(
        !seed_cost(m, b).is_finite(),
        "the cost at those params is finite"
    );
    assert!(!stdout.contains("Final params"));
}

// ---- options -----------------------------------------------------------------

#[test]
fn json_is_one_object_with_params_in_declaration_order() {
    let path = example("tanh_net.ddx");
    let names = declared_params(&read(&path));
    assert_eq!(names.len(), 10);
    let out = ok(ddx(&["train", &path, "--json", "--every", "1"]));
    assert_eq!(out.lines().count(), 1, "--json prints only the object");
    assert!(out.ends_with("}\n"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = v.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "params",
            "cost",
            "epochs",
            "compile_seconds",
            "train_seconds",
            "loop_epochs"
        ]
    );
    let params = obj["params"].as_object().unwrap();
    let keys: Vec<&String> = params.keys().collect();
    assert_eq!(keys, names.iter().collect::<Vec<_>>());
    assert_eq!(obj["epochs"].as_u64(), Some(2000));
    assert_eq!(obj["loop_epochs"].as_u64(), Some(0), "adam has no loop");
    for t in ["compile_seconds", "train_seconds"] {
        let s = obj[t].as_f64().unwrap();
        assert!(s > 0.0 && s < 60.0, "{t} = {s}");
    }
    // The same numbers as the text output, to the bit.
    let text = ok(ddx(&["train", &path, "--quiet"]));
    let (text_params, text_cost) = final_result(&text, 2000, "C");
    for ((name, value), (key, json)) in text_params.iter().zip(params) {
        assert_eq!(name, key);
        assert_eq!(json.as_f64().unwrap().to_bits(), value.to_bits(), "{name}");
    }
    assert_eq!(obj["cost"].as_f64().unwrap().to_bits(), text_cost.to_bits());
}

#[test]
fn quiet_prints_only_the_final_result() {
    let out = ok(ddx(&["train", &example("regression.ddx"), "--quiet"]));
    assert!(
        out.starts_with("Final params after 1000 epochs:\n"),
        "{out}"
    );
    final_result(&out, 1000, "C");
    assert_eq!(out.lines().count(), 4);
}

#[test]
fn epochs_and_lr_override_the_train_line() {
    let dir = scratch("overrides");
    let model = seed_variant(&dir, "fast.ddx", "train sgd(lr = 0.02, epochs = 50)");
    let seed = example("regression.ddx");
    let overridden = ok(ddx_in(
        &dir,
        &["train", &seed, "--epochs", "50", "--lr", "0.02"],
    ));
    assert_eq!(overridden, ok(ddx_in(&dir, &["train", &model])));
    assert!(overridden.contains("Final params after 50 epochs:"));
    let epochs_only = ok(ddx_in(&dir, &["train", &seed, "--epochs", "50"]));
    assert_ne!(epochs_only, overridden, "--lr changed nothing");
    // With the epochs overridden, the default schedule follows: every 5th.
    let epochs: Vec<&str> = epochs_only
        .lines()
        .filter_map(|l| l.strip_prefix("Epoch "))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        epochs,
        ["0", "5", "10", "15", "20", "25", "30", "35", "40", "45", "49"]
    );

    for (args, what) in [
        (&["--lr=-1"][..], "invalid learning rate -1"),
        (&["--lr", "inf"][..], "invalid learning rate inf"),
        (&["--lr", "fast"][..], "--lr"),
        (&["--epochs=-3"][..], "--epochs"),
        (&["--epochs", "many"][..], "--epochs"),
    ] {
        let mut all = vec!["train", &seed];
        all.extend(args);
        let (code, err) = failed(ddx(&all));
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
}

/// The epochs of the `Epoch` lines of an output.
fn printed_epochs(out: &str) -> Vec<usize> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Epoch "))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn every_prints_each_nth_epoch_and_the_last() {
    let seed = example("regression.ddx");
    let out = ok(ddx(&["train", &seed, "--every", "3", "--epochs", "7"]));
    assert_eq!(printed_epochs(&out), [0, 3, 6]);
    let out = ok(ddx(&["train", &seed, "--every", "300"]));
    assert_eq!(printed_epochs(&out), [0, 300, 600, 900, 999]);
    // The lines are the notebook's lines of those epochs.
    let printed = read(data("seed_regression_f64_printed.txt"));
    let want: Vec<&str> = [0, 300, 600, 900, 999]
        .iter()
        .map(|&e| printed.lines().nth(e).unwrap())
        .collect();
    assert_eq!(out.lines().take(5).collect::<Vec<_>>(), want);
    for bad in ["0", "-1", "x"] {
        let (code, err) = failed(ddx(&["train", &seed, &format!("--every={bad}")]));
        assert_eq!(code, 2);
        assert!(err.contains("--every"), "{err}");
    }
}

#[test]
fn threads_is_validated_and_changes_nothing_on_small_data() {
    let seed = example("regression.ddx");
    let plain = ok(ddx(&["train", &seed, "--every", "1"]));
    for n in ["1", "2", "64"] {
        assert_eq!(
            ok(ddx(&["train", &seed, "--every", "1", "--threads", n])),
            plain
        );
    }
    for bad in ["0", "1025", "-2", "two", ""] {
        let (code, err) = failed(ddx(&["train", &seed, &format!("--threads={bad}")]));
        assert_eq!(code, 2, "--threads {bad:?}");
        assert!(err.contains("--threads"), "{err}");
    }
    let help = ok(ddx(&["train", "--help"]));
    assert!(help.contains("same results on any count"), "{help}");
}

#[test]
fn threads_give_the_same_run_bit_for_bit_on_large_data() {
    // 3 blocks of 8192 rows and a few more: the kernel's loops are shared
    // out to the threads; every epoch's cost, gradient and params (the log,
    // shortest round-trip text) must be the same for any thread count.
    let dir = scratch("threads_large");
    let n = 3 * 8192 + 17;
    let mut csv = String::from("x,y\n");
    for i in 0..n {
        let x = (i % 1000) as f64 * 0.007;
        let y = 1.8 - 0.47 * x + 0.01 * ((i * 7919) % 13) as f64;
        csv.push_str(&format!("{x},{y}\n"));
    }
    fs::write(dir.join("big.csv"), csv).unwrap();
    fs::write(
        dir.join("big.ddx"),
        "data x, y from \"big.csv\"\nparam m = 0.9\nparam b = 0.1\n\
         loss C = mean((m*x + b - y)^2)\ntrain sgd(lr = 0.01, epochs = 30)\n",
    )
    .unwrap();
    let run = |threads: Option<&str>| {
        let log = format!("log-{}.csv", threads.unwrap_or("default"));
        let mut args = vec!["train", "big.ddx", "--every", "1", "--log", &log];
        if let Some(t) = threads {
            args.extend(["--threads", t]);
        }
        let out = ok(ddx_in(&dir, &args));
        (out, read(dir.join(&log)))
    };
    let one = run(Some("1"));
    assert_eq!(one.1.lines().count(), 31, "{}", one.1);
    for t in [Some("2"), Some("4"), None] {
        assert_eq!(run(t), one, "--threads {t:?}");
    }
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    // stderr is a pipe: nothing on it (checked by `ok`), nor any escape
    // sequence or carriage return on stdout.
    let out = ok(ddx(&[
        "train",
        &example("regression.ddx"),
        "--epochs",
        "20000",
    ]));
    assert!(!out.contains('\r') && !out.contains('\x1b'), "{out:?}");
    // Redirected to a file, the same.
    let dir = scratch("progress_file");
    let err_file = fs::File::create(dir.join("stderr.txt")).unwrap();
    let status = Command::new(BIN)
        .args(["train", &example("regression.ddx"), "--epochs", "20000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read(dir.join("stderr.txt")), "");
}

/// Runs ddx under `script` (util-linux), which gives it a pseudo-terminal
/// for stdin, stdout and stderr; returns everything it wrote there.
fn ddx_on_a_terminal(args: &[&str]) -> String {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let mut command = quote(BIN);
    for a in args {
        command.push(' ');
        command.push_str(&quote(a));
    }
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) runs ddx on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn progress_bar_on_a_terminal_only_and_out_of_the_way() {
    let seed = example("regression.ddx");
    let args = ["train", &seed, "--epochs", "200000", "--every", "100000"];
    let tty = ddx_on_a_terminal(&args);
    // The bar is drawn...
    assert!(tty.contains("/200000 epochs, "), "no progress bar: {tty:?}");
    // ...and erased (carriage return, clear line) before each printed line
    // and before the result, which come out whole.
    for line in [
        "Epoch 0, cost 19.7, m grad 36.3, b grad 6.27\r\n",
        "Epoch 100000, cost ",
        "Epoch 199999, cost ",
        "Final params after 200000 epochs:\r\n",
    ] {
        let at = tty
            .find(line)
            .unwrap_or_else(|| panic!("no {line:?} in {tty:?}"));
        let before = &tty[..at];
        assert!(
            before.is_empty() || before.ends_with('\n') || before.ends_with("\r\x1b[2K"),
            "{line:?} is not at the start of a clean line"
        );
    }
    // The same run through pipes: exactly the lines, no bar.
    let piped = ok(ddx(&args));
    assert_eq!(tty.matches("\r\n").count(), piped.lines().count());
    // --quiet and --json draw no bar, even on a terminal.
    for flag in ["--quiet", "--json"] {
        let mut quiet = args.to_vec();
        quiet.push(flag);
        let tty = ddx_on_a_terminal(&quiet);
        assert!(
            !tty.contains("epochs, ") && !tty.contains('\x1b'),
            "{flag}: {tty:?}"
        );
    }
}

// ---- bad CSV input -------------------------------------------------------------

/// Writes `model` as model.ddx and `files` into a scratch directory and
/// trains model.ddx there; the run must fail with status 2, printing
/// nothing on stdout; returns stderr.
fn bad_input(test: &str, model: &str, files: &[(&str, &str)]) -> String {
    let dir = scratch(test);
    for (name, text) in files {
        dir.write(name, text);
    }
    let (code, err) = failed(ddx_in(&dir, &["train", dir.write("model.ddx", model)]));
    assert_eq!(code, 2, "{err}");
    err
}

const TRAIN: &str = "train sgd(lr = 0.01, epochs = 10)\n";

fn model_of(data: &str, loss: &str) -> String {
    format!("{data}\nparam m = 1\nloss C = mean({loss})\n{TRAIN}")
}

#[test]
fn csv_non_numeric_cell() {
    let model = model_of(
        "data dosage, forgetfulness from \"trial.csv\"",
        "(m*dosage - forgetfulness)^2",
    );
    let err = bad_input(
        "csv_non_numeric",
        &model,
        &[(
            "trial.csv",
            "dosage,forgetfulness\n0,1.86\n1,1.31\n2,abc\n3,0.33\n",
        )],
    );
    assert_eq!(
        err,
        "trial.csv:4:3: error: cell in column `forgetfulness` is not a number\n  \
         |\n4 | 2,abc\n  |   ^^^ expected a number\n"
    );
}

#[test]
fn csv_ragged_rows() {
    let model = model_of("data a, b from \"d.csv\"", "(m*a - b)^2");
    let err = bad_input(
        "csv_ragged_short",
        &model,
        &[("d.csv", "a,b\n1,2\n3\n5,6\n")],
    );
    assert_eq!(
        err,
        "d.csv:3:2: error: row has 1 cell but the header has 2\n  |\n3 | 3\n  |  \
         ^ row ends here\n  = note: every row needs one cell per header column\n"
    );
    let err = bad_input(
        "csv_ragged_long",
        &model,
        &[("d.csv", "a,b\n1,2\n3,4\n5,6,7\n")],
    );
    assert_eq!(
        err,
        "d.csv:4:5: error: row has 3 cells but the header has 2\n  |\n4 | 5,6,7\n  |     \
         ^ extra cell\n  = note: every row needs one cell per header column\n"
    );
}

#[test]
fn csv_missing_column() {
    let model = model_of(
        "data dose as x, forgetfulness from \"trial.csv\"",
        "(m*x - forgetfulness)^2",
    );
    let err = bad_input(
        "csv_missing_column",
        &model,
        &[("trial.csv", &read(data("trial.csv")))],
    );
    assert_eq!(
        err,
        "model.ddx:1:6: error: data file `trial.csv` has no column `dose` (header at trial.csv:1)\n  \
         |\n1 | data dose as x, forgetfulness from \"trial.csv\"\n  |      ^^^^ not in the header\n  \
         = note: did you mean `dosage`?\n  = note: the columns are: dosage, forgetfulness\n"
    );
}

#[test]
fn csv_empty_file() {
    let model = model_of("data x, y from \"empty.csv\"", "(m*x - y)^2");
    let err = bad_input("csv_empty", &model, &[("empty.csv", "")]);
    assert_eq!(
        err,
        "empty.csv:1:1: error: data file `empty.csv` is empty: it needs a header row naming its columns\n  \
         |\n1 | \n  | ^ empty file\n"
    );
}

#[test]
fn csv_header_without_rows() {
    let model = model_of("data x, y from \"d.csv\"", "(m*x - y)^2");
    let err = bad_input("csv_header_only", &model, &[("d.csv", "x,y\n")]);
    assert_eq!(
        err,
        "d.csv:1:1: error: the file has a header but no data rows\n  |\n1 | x,y\n  | ^ header only\n"
    );
}

#[test]
fn csv_columns_of_different_lengths() {
    // Two files.
    let model = model_of(
        "data x from \"three.csv\"\ndata y from \"two.csv\"",
        "(m*x - y)^2",
    );
    let err = bad_input(
        "csv_lengths_files",
        &model,
        &[("three.csv", "x\n1\n2\n3\n"), ("two.csv", "y\n1\n2\n")],
    );
    assert_eq!(
        err,
        "model.ddx:2:6: error: data column `y` has 2 rows, but `x` has 3\n  |\n2 | data y from \"two.csv\"\n  \
         |      ^ 2 rows\n ::: model.ddx:1:6\n  |\n1 | data x from \"three.csv\"\n  \
         |      - 3 rows\n  = note: all data columns have the same number of rows; `x` is declared at line 1, column 6\n"
    );
    // A file and an inline column.
    let model = model_of("data x from \"three.csv\"\ndata y = [1, 2]", "(m*x - y)^2");
    let err = bad_input(
        "csv_lengths_inline",
        &model,
        &[("three.csv", "x\n1\n2\n3\n")],
    );
    assert!(
        err.starts_with("model.ddx:2:6: error: data column `y` has 2 rows, but `x` has 3\n"),
        "{err}"
    );
}

#[test]
fn csv_missing_header() {
    let model = model_of("data x, y from \"d.csv\"", "(m*x - y)^2");
    let err = bad_input(
        "csv_missing_header",
        &model,
        &[("d.csv", "0,1.86\n1,1.31\n")],
    );
    assert_eq!(
        err,
        "d.csv:1:1: error: the first row holds numbers, not column names\n  |\n1 | 0,1.86\n  \
         | ^ expected a header\n  = note: the first row of `d.csv` must name the columns, e.g. `x,y`\n"
    );
}

#[test]
fn csv_missing_file() {
    let model = model_of("data x, y from \"nowhere.csv\"", "(m*x - y)^2");
    let err = bad_input("csv_missing_file", &model, &[]);
    assert_eq!(
        err,
        "model.ddx:1:16: error: cannot read data file `nowhere.csv`: file not found\n  \
         |\n1 | data x, y from \"nowhere.csv\"\n  |                ^^^^^^^^^^^^^ here\n"
    );
}

#[test]
fn csv_path_is_relative_to_the_model_file() {
    // Run from the parent directory: the CSV is found next to the model,
    // and errors name it by the path as given plus the model's directory.
    let dir = scratch("csv_relative");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/d.csv"), "x,y\n1,2\n2,oops\n").unwrap();
    fs::write(
        dir.join("sub/model.ddx"),
        model_of("data x, y from \"d.csv\"", "(m*x - y)^2"),
    )
    .unwrap();
    let (code, err) = failed(ddx_in(&dir, &["train", "sub/model.ddx"]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("sub/d.csv:3:3: error: cell in column `y` is not a number\n"),
        "{err}"
    );
}

#[test]
fn missing_model_file() {
    let (code, err) = failed(ddx(&["train", "no/such/model.ddx"]));
    assert_eq!(code, 2);
    assert_eq!(err, "error: cannot read no/such/model.ddx: no such file\n");
}

// ---- plots -----------------------------------------------------------------------

#[test]
fn plot_of_the_seed_model_has_the_data_the_fit_and_the_loss() {
    let dir = scratch("plot_seed");
    let seed = example("regression.ddx");
    let out = ok(ddx_in(
        &dir,
        &["train", &seed, "--quiet", "--plot", "fit.svg"],
    ));
    final_result(&out, 1000, "C");
    let svg = read(dir.join("fit.svg"));
    assert_eq!(svg_size(&svg), (1200, 500));
    // Eight data points, two curves (the fit and the loss), the column
    // names and the loss name on the axes.
    assert_eq!(svg.matches("<circle").count(), 8);
    assert!(svg.matches("<polyline").count() >= 2);
    let texts = svg_texts(&svg);
    for label in ["x", "y", "epoch", "C (log scale)"] {
        assert!(
            texts.iter().any(|t| t == label),
            "no label {label}: {texts:?}"
        );
    }
    ok(ddx_in(
        &dir,
        &["train", &seed, "--quiet", "--plot", "fit.png"],
    ));
    assert_eq!(
        png_size(&fs::read(dir.join("fit.png")).unwrap()),
        (1200, 500)
    );
}

#[test]
fn plot_of_a_model_with_two_inputs_has_the_loss_curve_only() {
    let dir = scratch("plot_two_inputs");
    fs::write(
        dir.join("plane.ddx"),
        "data x1 = [0, 1, 2, 3, 0, 1]\ndata x2 = [0, 0, 1, 1, 2, 2]\n\
         data y = [1, 2.1, 2.9, 4.2, 3, 3.9]\n\
         param a = 0, b = 0, c = 0\nlet yhat = a*x1 + b*x2 + c\n\
         loss C = mean((yhat - y)^2)\ntrain sgd(lr = 0.05, epochs = 200)\n",
    )
    .unwrap();
    ok(ddx_in(
        &dir,
        &["train", "plane.ddx", "--quiet", "--plot", "loss.svg"],
    ));
    let svg = read(dir.join("loss.svg"));
    assert_eq!(svg_size(&svg), (700, 500));
    assert_eq!(svg.matches("<circle").count(), 0);
    assert!(svg.contains("<polyline"));
    ok(ddx_in(
        &dir,
        &["train", "plane.ddx", "--quiet", "--plot", "loss.PNG"],
    ));
    assert_eq!(
        png_size(&fs::read(dir.join("loss.PNG")).unwrap()),
        (700, 500)
    );
}

#[test]
fn plot_to_an_unknown_format_or_place_is_an_error() {
    let dir = scratch("plot_bad");
    let seed = example("regression.ddx");
    let (code, err) = failed(ddx_in(&dir, &["train", &seed, "--plot", "fit.gif"]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: cannot plot to 'fit.gif': the file name must end in .svg or .png\n"
    );
    let out = output(ddx_in(
        &dir,
        &["train", &seed, "--quiet", "--plot", "no/dir/fit.png"],
    ));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no/dir/fit.png"), "{err}");
}

// ---- examples --------------------------------------------------------------------

/// The threshold stated in an example's comment line
/// `# Converges: the final cost is below X.`
fn stated_threshold(model: &str) -> Option<f64> {
    let line = model.lines().find(|l| l.starts_with("# Converges:"))?;
    let rest = line.split("below ").nth(1)?;
    rest.trim_end_matches('.').trim().parse().ok()
}

#[test]
fn every_example_trains_and_converges_below_its_stated_cost() {
    let mut names = Vec::new();
    for entry in fs::read_dir(manifest().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ddx") {
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for required in [
        "logistic.ddx",
        "quadratic.ddx",
        "regression.ddx",
        "regression_csv.ddx",
        "tanh_net.ddx",
    ] {
        assert!(names.iter().any(|n| n == required), "{required} is missing");
    }
    for name in &names {
        let path = example(name);
        let model = read(&path);
        let threshold = stated_threshold(&model).unwrap_or_else(|| {
            panic!("{name} does not state `# Converges: the final cost is below X.`")
        });
        let v: serde_json::Value =
            serde_json::from_str(&ok(ddx(&["train", &path, "--json"]))).unwrap();
        let cost = v["cost"].as_f64().unwrap();
        assert!(
            cost < threshold,
            "{name}: final cost {cost} is not below {threshold}"
        );
        // The initial cost is above the threshold: training got it below.
        let start = ok(ddx(&["train", &path, "--epochs", "0", "--json"]));
        let v0: serde_json::Value = serde_json::from_str(&start).unwrap();
        assert!(
            v0["cost"].as_f64().unwrap() > threshold,
            "{name}: already below its threshold before training"
        );
    }
    // The CSV example is the seed, read from a file: the same result exactly.
    assert_eq!(
        ok(ddx(&[
            "train",
            &example("regression_csv.ddx"),
            "--every",
            "1"
        ])),
        ok(ddx(&["train", &example("regression.ddx"), "--every", "1"]))
    );
}

/// Past `pipeline::LOOP_AFTER_EPOCHS` epochs, the epochs that print nothing
/// run in the compiled SGD loop; with `--log` every epoch goes through the
/// per-epoch path. Both give the same bits: the same final params and cost,
/// the same progress lines, the same divergence epoch and message.
#[test]
fn the_compiled_sgd_loop_trains_exactly_like_the_per_epoch_path() {
    let dir = scratch("compiled_loop");
    let cases = [
        ("plain.ddx", "train sgd(lr = 0.01, epochs = 30000)"),
        (
            "momentum.ddx",
            "train sgd(lr = 0.005, momentum = 0.9, epochs = 30000)",
        ),
        // unstable (lr above 2/36.42, the Hessian's largest eigenvalue):
        // overflows after about 25,000 epochs, past the compile point
        ("diverges.ddx", "train sgd(lr = 0.05529, epochs = 60000)"),
    ];
    for (name, line) in cases {
        let file = seed_variant(&dir, name, line);
        for extra in [&["--quiet", "--json"][..], &["--every", "7000"][..]] {
            let fast = output(ddx_in(&dir, &[&["train", &file][..], extra].concat()));
            let slow = output(ddx_in(
                &dir,
                &[&["train", &file, "--log", "log.csv"][..], extra].concat(),
            ));
            assert_eq!(fast.status.code(), slow.status.code(), "{name} {extra:?}");
            // the same text, but for the timings of --json and where the
            // epochs ran: in the compiled loop or one call each (--log)
            let untimed = |out: &[u8], looped: bool| -> String {
                let text = String::from_utf8_lossy(out).to_string();
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(mut o)) => {
                        o.remove("compile_seconds");
                        o.remove("train_seconds");
                        let in_loop = o.remove("loop_epochs").and_then(|v| v.as_u64());
                        let in_loop = in_loop.expect("loop_epochs") as usize;
                        if looped {
                            // a quiet run asks for all its epochs at once:
                            // more than the threshold, so the loop is
                            // compiled at once (momentum: after its first
                            // step, which starts the buffer)
                            assert!(in_loop >= 29999, "{name}: {in_loop}");
                        } else {
                            assert_eq!(in_loop, 0);
                        }
                        serde_json::Value::Object(o).to_string()
                    }
                    _ => text,
                }
            };
            assert_eq!(
                untimed(&fast.stdout, true),
                untimed(&slow.stdout, false),
                "{name} {extra:?}"
            );
            assert_eq!(
                String::from_utf8_lossy(&fast.stderr),
                String::from_utf8_lossy(&slow.stderr),
                "{name} {extra:?}"
            );
        }
    }
    // a short run never compiles the loop: it would cost more than it saves
    let seed = example("regression.ddx");
    let short: serde_json::Value =
        serde_json::from_str(&ok(ddx(&["train", &seed, "--json"]))).unwrap();
    assert_eq!(short["loop_epochs"].as_u64(), Some(0), "{short}");

    let (code, err) = failed(ddx_in(&dir, &["train", "diverges.ddx", "--quiet"]));
    assert_eq!(code, 1, "{err}");
    let epoch: usize = err
        .split("diverged at epoch ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("no divergence epoch in {err}"));
    assert!(
        epoch > ddx::LOOP_AFTER_EPOCHS,
        "the divergence must come after the loop is compiled: {err}"
    );
}

/// `ddx emit` prints every stage of the seed model: the parsed source, the
/// graph, the gradient, the schedule, the CLIF and the machine code of the
/// kernel and, for an SGD model, of the compiled training loop.
#[test]
fn emit_prints_every_stage_of_a_model() {
    let seed = example("regression.ddx");
    let stage = |s: &str| ok(ddx(&["emit", &seed, "--stage", s]));
    assert!(stage("ast").contains("loss C = mean(((yhat - y) ^ 2))"));
    let graph = stage("graph");
    assert!(
        graph.contains("= param m") && graph.contains("C = %"),
        "{graph}"
    );
    let grad = stage("grad");
    assert!(
        grad.contains("dC/dm = ") && grad.contains("dC/db = "),
        "{grad}"
    );
    let schedule = stage("schedule");
    assert!(schedule.contains("loop 1 over the rows"), "{schedule}");
    let clif = stage("clif");
    assert!(clif.contains("; function ddx_kernel"), "{clif}");
    // the training loop: params in block parameters, one fused multiply-add
    // per param per epoch, the 8 rows a constant
    let sgd = clif
        .split("; function ddx_sgd")
        .nth(1)
        .unwrap_or_else(|| panic!("no SGD loop in {clif}"));
    assert!(sgd.contains("for these 8 rows"), "{sgd}");
    assert_eq!(sgd.matches(" fma ").count(), 2, "{sgd}");
    let asm = stage("asm");
    assert!(
        asm.contains("; function ddx_sgd") && asm.contains("ret"),
        "{asm}"
    );

    // no SGD loop for Adam
    let dir = scratch("emit_stages");
    let adam = seed_variant(&dir, "adam.ddx", "train adam(lr = 0.01, epochs = 10)");
    let clif = ok(ddx_in(&dir, &["emit", &adam, "--stage", "clif"]));
    assert!(clif.contains("; function ddx_kernel") && !clif.contains("ddx_sgd"));
}
