//! Training array models against PyTorch (float64, torch.optim.Adam,
//! full batch): the loss before every step and the final params, from
//! tests/data/arrays/train/ (made by tests/reference/arrays_train.py; see
//! its README for how stable the references are: reordering the rows or
//! writing Adam out by hand moves them by less than 1e-12).
//!
//! - `digits_softmax.ddx` from zeros, its train line (Adam, lr 0.01, 200
//!   epochs): every epoch's loss within 1e-10 relative, the final params
//!   within 1e-10 relative (absolute floor 1e-12);
//! - `digits_mlp.ddx` from `digits_mlp.init.json` (`--init`), 100 epochs:
//!   within 1e-9.

mod common;

use common::cli::{ddx, example, manifest, ok, read, scratch};
use serde_json::Value;

fn reference(name: &str) -> Value {
    let path = manifest().join("tests/data/arrays/train").join(name);
    serde_json::from_str(&read(path)).expect("reference JSON")
}

/// Every number of a (nested) JSON value, in order.
fn numbers(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.push(n.as_f64().expect("a float")),
        Value::Array(items) => items.iter().for_each(|x| numbers(x, out)),
        other => panic!("not a number or list: {other}"),
    }
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= (relative * a.abs().max(b.abs())).max(1e-12)
}

/// Trains `file` with `extra` arguments, logging every epoch; checks the
/// logged loss of every epoch and the final params against `reference`.
fn assert_trajectory(file: &str, extra: &[&str], reference: &Value, relative: f64) {
    let dir = scratch("trajectory");
    let log = dir.join("log.csv");
    let log = log.to_str().expect("utf-8 path");
    let mut args = vec!["train", file, "--json", "--log", log];
    args.extend(extra);
    let fit: Value = serde_json::from_str(&ok(ddx(&args))).expect("--json output");
    let text = read(log);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let cost = header
        .iter()
        .position(|h| *h == "cost")
        .expect("a cost column");
    let losses: Vec<f64> = lines
        .map(|l| {
            l.split(',')
                .nth(cost)
                .expect("a cost")
                .parse()
                .expect("a number")
        })
        .collect();
    let want: Vec<f64> = reference["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|v| v.as_f64().expect("a loss"))
        .collect();
    assert_eq!(losses.len(), want.len(), "{file}: epochs");
    for (epoch, (got, want)) in losses.iter().zip(&want).enumerate() {
        assert!(
            close(*got, *want, relative),
            "{file}: epoch {epoch}: ddx {got:e}, PyTorch {want:e}"
        );
    }
    let finals = reference["final_params"].as_object().expect("final params");
    for (name, want) in finals {
        let (mut got_v, mut want_v) = (Vec::new(), Vec::new());
        numbers(&fit["params"][name], &mut got_v);
        numbers(want, &mut want_v);
        assert_eq!(got_v.len(), want_v.len(), "{file}: {name}");
        for (k, (g, w)) in got_v.iter().zip(&want_v).enumerate() {
            assert!(
                close(*g, *w, relative),
                "{file}: final {name} element {k}: ddx {g:e}, PyTorch {w:e}"
            );
        }
    }
}

#[test]
fn digits_softmax_adam_from_zeros_matches_pytorch() {
    let r = reference("digits_softmax.adam.json");
    assert_trajectory(&example("digits_softmax.ddx"), &[], &r, 1e-10);
}

#[test]
fn digits_mlp_adam_from_an_init_file_matches_pytorch() {
    let r = reference("digits_mlp.adam.json");
    let init = manifest().join("tests/data/arrays/train/digits_mlp.init.json");
    let init = init.to_str().expect("utf-8 path");
    assert_trajectory(&example("digits_mlp.ddx"), &["--init", init], &r, 1e-9);
}

/// `ddx train` with `newton` on the diabetes regression reaches the least
/// squares solution (numpy `lstsq`, tests/data/arrays/train/
/// diabetes.lstsq.json) within 1e-10 relative in one step.
#[test]
fn diabetes_newton_reaches_least_squares_in_one_step() {
    let dir = scratch("newton");
    let csv = manifest().join("examples/data/diabetes.csv");
    let model = read(example("diabetes.ddx"))
        .replace(
            "\"data/diabetes.csv\"",
            &format!("{:?}", csv.to_str().unwrap()),
        )
        .replace(
            "train adam(lr = 1, epochs = 2000)",
            "train newton(epochs = 1)",
        );
    assert!(model.contains("newton"), "the train line changed: {model}");
    let file = dir.join("diabetes_newton.ddx");
    std::fs::write(&file, model).unwrap();
    let fit: Value =
        serde_json::from_str(&ok(ddx(&["train", file.to_str().unwrap(), "--json"]))).unwrap();
    let want = reference("diabetes.lstsq.json");
    for name in ["w", "b"] {
        let (mut got, mut exp) = (Vec::new(), Vec::new());
        numbers(&fit["params"][name], &mut got);
        numbers(&want["params"][name], &mut exp);
        assert_eq!(got.len(), exp.len());
        for (g, w) in got.iter().zip(&exp) {
            assert!(close(*g, *w, 1e-10), "{name}: ddx {g:e}, lstsq {w:e}");
        }
    }
    let cost = fit["cost"].as_f64().unwrap();
    let loss = want["loss"].as_f64().unwrap();
    assert!(close(cost, loss, 1e-12), "cost {cost:e}, lstsq {loss:e}");
}
