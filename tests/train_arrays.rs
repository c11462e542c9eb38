//! `ddx train` on array models, end to end through the binary: the epoch
//! line with per-param gradient norms, the nested final params, `--log`
//! with one column per element, `--json` fed back through `--init`, and
//! the refusals and divergence reports that name a param element.
//!
//! Trajectories against PyTorch: tests/arrays_trajectories.rs.

mod common;

use common::cli::{ddx, ddx_in, example, failed, ok, output, scratch, stderr};
use serde_json::Value;

/// The value of `--json` output.
fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Every number of a (nested) JSON value, in order.
fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        v => vec![v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))],
    }
}

/// The 2-norm of a vector.
fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[test]
fn diabetes_epoch_lines_show_gradient_norms() {
    let path = example("diabetes.ddx");
    let out = ok(ddx(&["train", &path, "--epochs", "3", "--every", "1"]));
    let lines: Vec<&str> = out.lines().collect();
    // the gradient at the initial params, as `ddx check` computes it
    let check = json(&ok(ddx(&["check", "--json", &path])));
    let w = flat(&check["gradient"]["w"]);
    let b = check["gradient"]["b"].as_f64().unwrap();
    assert_eq!(w.len(), 10);
    let first = format!(
        "Epoch 0, cost {}, w grad {}, b grad {}",
        ddx::format_3g(check["loss"].as_f64().unwrap()),
        ddx::format_3g(norm(&w)),
        ddx::format_3g(b)
    );
    assert_eq!(lines[0], first);
    // PyTorch's Adam from zeros starts at 29074.5
    assert!(
        lines[0].starts_with("Epoch 0, cost 2.91e+04, w grad "),
        "{out}"
    );
    assert!(lines[2].starts_with("Epoch 2, cost "), "{out}");
    // every element of w in the final params, on one line, then b
    assert_eq!(lines[3], "Final params after 3 epochs:");
    let w_line = lines[4].strip_prefix("  w = [").expect(lines[4]);
    assert_eq!(w_line.trim_end_matches(']').split(", ").count(), 10);
    assert!(lines[5].starts_with("  b = "), "{out}");
    assert!(lines[6].starts_with("Final cost C = "), "{out}");
}

#[test]
fn iris_converges_and_prints_its_matrix_row_by_row() {
    let path = example("iris.ddx");
    let out = ok(ddx(&["train", &path, "--every", "100"]));
    // the model's stated threshold (PyTorch's Adam reaches 0.0618)
    let cost: f64 = out
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("Final cost L = "))
        .expect(&out)
        .parse()
        .unwrap();
    assert!(cost < 0.08, "{out}");
    assert!(out.starts_with("Epoch 0, cost 1.1, W grad "), "{out}");
    // W[3, 4]: one row per line, aligned under the first
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("  W = [["))
        .expect(&out);
    assert!(lines[at + 1].starts_with("       ["), "{out}");
    assert!(lines[at + 2].starts_with("       [") && lines[at + 2].ends_with("]]"));
    assert!(lines[at + 3].starts_with("  c = ["), "{out}");
    // the text gives every element, the same as --json
    let v = json(&ok(ddx(&["train", &path, "--json"])));
    let text_w: Vec<f64> = lines[at..at + 3]
        .iter()
        .flat_map(|l| {
            l.trim_start_matches("  W = ")
                .split(", ")
                .map(|n| {
                    n.trim_matches(|c| "[], ".contains(c))
                        .parse::<f64>()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(text_w, flat(&v["params"]["W"]));
    assert_eq!(v["params"]["W"].as_array().unwrap().len(), 3);
    assert_eq!(v["params"]["W"][0].as_array().unwrap().len(), 4);
}

#[test]
fn the_log_has_a_column_per_element() {
    let dir = scratch("log_columns");
    let path = example("iris.ddx");
    let log = dir.join("iris.csv");
    ok(ddx(&[
        "train",
        &path,
        "--epochs",
        "3",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
    ]));
    let mut reader = csv::Reader::from_path(&log).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut want = vec!["epoch".to_string(), "cost".to_string()];
    for suffix in ["grad", "after"] {
        for k in 0..3 {
            for j in 0..4 {
                want.push(format!("W[{k},{j}]_{suffix}"));
            }
        }
        for k in 0..3 {
            want.push(format!("c[{k}]_{suffix}"));
        }
    }
    assert_eq!(header, want);
    let rows: Vec<Vec<f64>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(|f| f.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    // epoch 0's gradient is the one `ddx check` reports, element by element
    let check = json(&ok(ddx(&["check", "--json", &path])));
    let mut grad = flat(&check["gradient"]["W"]);
    grad.extend(flat(&check["gradient"]["c"]));
    assert_eq!(rows[0][2..17], grad[..]);
    // each row's params after the step are the next run's start: the last
    // row's are the final params
    let v = json(&ok(ddx(&["train", &path, "--epochs", "3", "--json"])));
    let mut fin = flat(&v["params"]["W"]);
    fin.extend(flat(&v["params"]["c"]));
    assert_eq!(rows[2][17..], fin[..]);
}

/// A small array model trained by plain SGD (which keeps no state between
/// epochs), written into `dir`.
const SGD_MODEL: &str = "\
data x[2] = [[1, 2], [3, 4], [0.5, 1], [2, -1]]
data y = [1, 2, 3, -1]
param W[2, 2] = [[0.1, -0.2], [0.3, 0.4]]
param v[2] = [0.5, -0.5]
param b = 0.1
let h = tanh(W @ x)
loss C = mean((dot(v, h) + b - y)^2)
train sgd(lr = 0.1, epochs = 5)
";

#[test]
fn json_feeds_init_back() {
    let dir = scratch("json_init");
    let model = dir.write("net.ddx", SGD_MODEL);
    let five = ok(ddx_in(&dir, &["train", model, "--json"]));
    // zero more epochs from the fit reproduce its params and cost
    dir.write("fit.json", &five);
    let again = ok(ddx_in(
        &dir,
        &[
            "train", model, "--init", "fit.json", "--epochs", "0", "--json",
        ],
    ));
    let (a, b) = (json(&five), json(&again));
    assert_eq!(a["params"], b["params"]);
    assert_eq!(a["cost"], b["cost"]);
    assert_eq!(b["epochs"], 0);
    // 3 epochs, then 2 from there, are the 5 epochs exactly
    let three = ok(ddx_in(&dir, &["train", model, "--epochs", "3", "--json"]));
    dir.write("three.json", &three);
    let two_more = ok(ddx_in(
        &dir,
        &[
            "train",
            model,
            "--init",
            "three.json",
            "--epochs",
            "2",
            "--json",
        ],
    ));
    assert_eq!(json(&two_more)["params"], a["params"]);
    // and the start differs from the model's own
    let zero = ok(ddx_in(&dir, &["train", model, "--epochs", "0", "--json"]));
    assert_ne!(json(&zero)["params"], a["params"]);
    assert_eq!(
        json(&zero)["params"]["W"],
        json("[[0.1, -0.2], [0.3, 0.4]]")
    );
}

#[test]
fn init_of_the_wrong_shape_is_refused() {
    let dir = scratch("init_shape");
    let model = dir.write("net.ddx", SGD_MODEL);
    let cases = [
        (
            r#"{"params": {"W": [0, 0, 0, 0], "v": [0, 0], "b": 0}}"#,
            "--init bad.json: param `W` must be nested lists of shape [2, 2] of finite numbers",
        ),
        (
            r#"{"params": {"W": [[0, 0], [0, 0]], "v": [0, 0, 0], "b": 0}}"#,
            "--init bad.json: param `v` must be nested lists of shape [2] of finite numbers",
        ),
        (
            r#"{"params": {"W": [[0, 0], [0, 0]], "v": [0, 0], "b": [0]}}"#,
            "--init bad.json: param `b` must be a number",
        ),
        (
            r#"{"params": {"W": [[0, 0], [0, 0]], "b": 0}}"#,
            "--init bad.json: param `v` is missing",
        ),
        (
            r#"{"params": {"W": [[0, 0], [0, 0]], "v": [0, 0], "b": 0, "u": 1}}"#,
            "--init bad.json: `u` is not a param of the model",
        ),
    ];
    for (text, want) in cases {
        dir.write("bad.json", text);
        let (code, err) = failed(ddx_in(&dir, &["train", model, "--init", "bad.json"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(want), "{text}: {err}");
    }
    let (code, err) = failed(ddx_in(&dir, &["train", model, "--init", "none.json"]));
    assert_eq!(code, 2);
    assert!(err.contains("--init none.json"), "{err}");
}

#[test]
fn a_scalar_model_starts_from_init_too() {
    let dir = scratch("scalar_init");
    let path = example("regression.ddx");
    let fit = ok(ddx(&["train", &path, "--epochs", "10", "--json"]));
    dir.write("fit.json", &fit);
    let again = ok(ddx(&[
        "train",
        &path,
        "--init",
        dir.join("fit.json").to_str().unwrap(),
        "--epochs",
        "0",
        "--json",
    ]));
    assert_eq!(json(&fit)["params"], json(&again)["params"]);
    assert_eq!(json(&fit)["cost"], json(&again)["cost"]);
}

#[test]
fn a_diverging_let_is_named_with_its_element_and_row() {
    let dir = scratch("diverge_let");
    // row 3: x = (0.5, 1); xc[0] = 0.5 - mean(x[0]) = -1, so ln(1 + xc[0]) = -inf
    let model = dir.write(
        "div.ddx",
        "data x[2] = [[1, 2], [3, 4], [0.5, 1]]\ndata y = [1, 2, 3]\nparam w[2] = [1, 1]\n\
         let xc[k] = x[k] - mean(x[k])\nlet z[k] = ln(w[k]*xc[k] + 1)\n\
         loss C = mean(sum(k, z[k]) - y)\ntrain sgd(lr = 0.1, epochs = 10)\n",
    );
    let out = output(ddx_in(&dir, &["train", model]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: training diverged at epoch 0: the cost is NaN"),
        "{err}"
    );
    assert!(err.contains("(w[0] grad -inf)"), "{err}");
    assert!(
        err.contains(
            "div.ddx:5:12: note: the first non-finite value comes from `let z` \
             (element k = 0) at data row 3 (counting from 1)"
        ),
        "{err}"
    );
}

#[test]
fn a_non_finite_gradient_names_the_param_element() {
    let dir = scratch("diverge_grad");
    // sqrt at 0: the value is finite, its derivative by w[0] is not
    let model = dir.write(
        "grad.ddx",
        "data x[2] = [[1, 2], [3, 4], [0.5, 1]]\ndata y = [1, 2, 3]\nparam w[2] = [0, 1]\n\
         let yhat = sqrt(w[0]^2*x[0]) + w[1]*x[1]\nloss C = mean((yhat - y)^2)\n\
         train sgd(lr = 0.1, epochs = 10)\n",
    );
    let out = output(ddx_in(&dir, &["train", model]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the gradient is not finite (w[0] grad NaN"),
        "{err}"
    );
    assert!(err.contains("last finite params: w = [0.0, 1.0]"), "{err}");
    assert!(
        err.contains(
            "grad.ddx:5:10: note: every value is finite, but the gradient is not: the \
             derivative of `loss C` with respect to `w[0]` is NaN at data row 1"
        ),
        "{err}"
    );
}

#[test]
fn a_diverging_step_names_large_params_by_their_largest_element() {
    let dir = scratch("diverge_step");
    // far too large a learning rate: the cost overflows within 1000 epochs
    let model = dir.write(
        "wide.ddx",
        "data x[4] = [[1, 2, 3, 4], [0.5, -1, 2, 1]]\ndata y = [1, 2]\nparam W[3, 4] = 0\n\
         param c[3] = 0\nloss C = mean((sum(k, sum(j, W[k, j]*x[j]) + c[k]) - y)^2)\n\
         train sgd(lr = 10, epochs = 1000)\n",
    );
    let out = output(ddx_in(&dir, &["train", model, "--quiet"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: training diverged at epoch "), "{err}");
    // W has 12 elements: named by its largest, c (3) given whole
    assert!(err.contains("W = 3x4 values, largest |W["), "{err}");
    assert!(err.contains(", c = ["), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn newton_trains_array_models_within_its_element_limit() {
    let dir = scratch("newton_arrays");
    let model = dir.write(
        "net.ddx",
        SGD_MODEL.replace("sgd(lr = 0.1, epochs = 5)", "newton(epochs = 1)"),
    );
    assert!(ok(ddx_in(&dir, &["train", model])).contains("Final cost"));
    // the element limit counts elements: 1001 of them are too many
    let wide = "data x[2] = [[1, 2], [3, 4]]\ndata y = [1, 2]\nparam w[1001] = 0\n\
                loss C = mean((sum(j, w[j]) + x[0] - y)^2)\ntrain newton(epochs = 1)\n";
    let model = dir.write("wide.ddx", wide);
    let (code, err) = failed(ddx_in(&dir, &["train", model]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with(
            "wide.ddx:5:1: error: newton supports at most 1000 params, and this model has \
             1001 (counting each element of an array param)"
        ),
        "{err}"
    );
}
