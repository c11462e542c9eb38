//! Array models through the command line: derivatives print one line per
//! param in index form, the gradient costs a constant times the loss, the
//! printed derivatives parse back, and every stage shows the indices.

mod common;

use common::cli::{ddx, example, manifest, ok};

const ARRAY_EXAMPLES: [&str; 4] = ["diabetes", "iris", "digits_softmax", "digits_mlp"];

#[test]
fn diabetes_prints_one_line_per_param() {
    let out = ok(ddx(&["diff", &example("diabetes.ddx")]));
    assert_eq!(
        out,
        "dC/dw[j] = 2*mean(x[j]*(b - y + dot(w, x)))\ndC/db = 2*mean(b - y + dot(w, x))\n"
    );
}

#[test]
fn no_array_model_prints_a_line_per_element() {
    for name in ARRAY_EXAMPLES {
        let path = example(&format!("{name}.ddx"));
        let model = std::fs::read_to_string(&path).unwrap();
        let params = model.lines().filter(|l| l.starts_with("param")).count();
        for cse in [false, true] {
            let mut args = vec!["diff", path.as_str()];
            if cse {
                args.push("--cse");
            }
            let out = ok(ddx(&args));
            let derivative_lines = out.lines().filter(|l| l.starts_with('d')).count();
            assert_eq!(derivative_lines, params, "{name} (cse {cse}):\n{out}");
        }
    }
}

#[test]
fn the_gradient_costs_at_most_three_times_the_loss() {
    for name in ARRAY_EXAMPLES {
        let out = ok(ddx(&[
            "diff",
            &example(&format!("{name}.ddx")),
            "--format",
            "json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let f = v["ops"]["function"].as_f64().unwrap();
        let g = v["ops"]["gradient"].as_f64().unwrap();
        assert!(g <= 3.0 * f, "{name}: gradient {g} ops, loss {f}");
        if name == "digits_mlp" {
            // every index expanded: the 64-32 layer alone is 4096 per row
            assert!(f > 4096.0, "{name}: {f}");
        }
    }
}

/// The printed derivatives are a model again: each `dL/dW[i, j] = e`
/// becomes `let g_W[i, j] = e` (with the `--cse` lets before them), and a
/// loss summing every element of every derivative evaluates to the sum of
/// the gradient `ddx check --json` computed.
#[test]
fn printed_derivatives_parse_back_to_the_same_values() {
    for name in ["diabetes", "iris"] {
        let path = example(&format!("{name}.ddx"));
        let model = std::fs::read_to_string(&path).unwrap();
        let grad: serde_json::Value =
            serde_json::from_str(&ok(ddx(&["check", "--json", &path]))).unwrap();
        let expected: f64 = grad["gradient"]
            .as_object()
            .unwrap()
            .values()
            .map(sum_of)
            .sum();
        for cse in [false, true] {
            let mut args = vec!["diff", path.as_str()];
            if cse {
                args.push("--cse");
            }
            let printed = ok(ddx(&args));
            // the model's data and params; its lets, loss and train line go
            let mut text: String = model
                .lines()
                .filter(|l| l.starts_with("data") || l.starts_with("param"))
                .map(|l| format!("{l}\n"))
                .collect();
            let mut terms = Vec::new();
            for line in printed.lines() {
                let (lhs, rhs) = line.split_once(" = ").unwrap();
                if lhs.starts_with("let ") {
                    text.push_str(&format!("{line}\n"));
                    continue;
                }
                // `dC/dw[j]` -> `let g_w[j] = ...`, summed over `j`
                let (_, wrt) = lhs.split_once("/d").unwrap();
                let (param, idx) = match wrt.split_once('[') {
                    Some((p, rest)) => (p, format!("[{rest}")),
                    None => (wrt, String::new()),
                };
                text.push_str(&format!("let g_{param}{idx} = {rhs}\n"));
                let mut term = format!("g_{param}{idx}");
                let names: Vec<&str> = idx
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .filter(|s| !s.is_empty())
                    .collect();
                for i in names.into_iter().rev() {
                    term = format!("sum({i}, {term})");
                }
                terms.push(term);
            }
            text.push_str(&format!("loss Check = {}\n", terms.join(" + ")));
            let data = format!("\"{}/examples/data/", manifest().display());
            let text = text.replace("\"data/", &data);
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(format!("{name}_back.ddx"));
            std::fs::write(&file, &text).unwrap();
            let back: serde_json::Value =
                serde_json::from_str(&ok(ddx(&["check", "--json", file.to_str().unwrap()])))
                    .unwrap();
            let got = back["loss"].as_f64().unwrap();
            assert!(
                (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{name} (cse {cse}): {got} vs {expected}\n{text}"
            );
        }
    }
}

/// The sum of every number in a (nested) JSON array.
fn sum_of(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Array(items) => items.iter().map(sum_of).sum(),
        v => v.as_f64().unwrap(),
    }
}

#[test]
fn every_stage_shows_the_indices() {
    let path = example("iris.ddx");
    let ast = ok(ddx(&["emit", "--stage", "ast", &path]));
    assert!(ast.contains("let z[k] = "), "{ast}");
    let graph = ok(ddx(&["emit", "--stage", "graph", &path]));
    assert!(graph.contains("elem W["), "{graph}");
    assert!(graph.contains("logsumexp"), "{graph}");
    assert!(graph.contains("; over "), "{graph}");
    let grad = ok(ddx(&["emit", "--stage", "grad", &path]));
    assert!(grad.contains("dL/dW[i, j] = "), "{grad}");
    assert!(grad.contains("delta("), "{grad}");
}
