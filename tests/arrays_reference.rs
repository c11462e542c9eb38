//! The array models against PyTorch: `ddx check --json --init P FILE`
//! evaluates the loss and the gradient of every param element at the params
//! of `tests/data/arrays/NAME.params.json`; both must match
//! `tests/data/arrays/NAME.expected.json`, which PyTorch computed in float64
//! with the same math (tests/reference/arrays.py, tests/data/arrays/README.md).
//!
//! Values agree within 1e-10 relative, with an absolute floor of 1e-12 for
//! elements near zero. The reference script checked that summing the rows in
//! another order moves no value by more than a ten-thousandth of that.
//!
//! The output of `ddx check --json` is read as `{"loss": L, "gradient":
//! {"w": [...], "b": g, ...}}` (nested row-major lists for arrays); a
//! `"params"` list of `{"name": ..., "gradient": ...}` records is accepted
//! in place of the `"gradient"` object.

mod common;

use common::cli::{ddx, manifest, output, read};
use serde_json::{Map, Value};
use std::fs;

/// Relative tolerance between ddx and PyTorch.
const RELATIVE: f64 = 1e-10;
/// Absolute tolerance, for elements near zero.
const ABSOLUTE: f64 = 1e-12;
/// Mismatches listed in one failure message, at most.
const SHOWN: usize = 12;

/// Every reference model: its name (the stem of its JSON files in
/// tests/data/arrays/) and its model file, relative to the repository root.
const MODELS: [(&str, &str); 9] = [
    ("diabetes", "examples/diabetes.ddx"),
    ("iris", "examples/iris.ddx"),
    ("digits_softmax", "examples/digits_softmax.ddx"),
    ("digits_mlp", "examples/digits_mlp.ddx"),
    ("minmax_inline", "tests/data/arrays/minmax_inline.ddx"),
    ("softmax_let", "tests/data/arrays/softmax_let.ddx"),
    ("matmul", "tests/data/arrays/matmul.ddx"),
    ("iris_relu", "tests/data/arrays/iris_relu.ddx"),
    ("iris_hinge", "tests/data/arrays/iris_hinge.ddx"),
];

/// `a` and `b` agree: within [`RELATIVE`] of the larger magnitude, or
/// within [`ABSOLUTE`]. NaN agrees with nothing.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= (RELATIVE * a.abs().max(b.abs())).max(ABSOLUTE)
}

/// A JSON file of tests/data/arrays/.
fn json_file(file: &str) -> Value {
    let path = manifest().join("tests/data/arrays").join(file);
    serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The expected loss and gradient of a model.
fn expected(name: &str) -> Value {
    json_file(&format!("{name}.expected.json"))
}

/// The loss and the gradient object (param name -> value) of a
/// `ddx check --json` output, or why they are not there.
fn loss_and_gradient(v: &Value) -> Result<(f64, Map<String, Value>), String> {
    let loss = v
        .get("loss")
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("no number \"loss\" at the top level of {}", keys(v)))?;
    if let Some(g) = v.get("gradient") {
        let g = g
            .as_object()
            .ok_or("\"gradient\" is not an object of param names")?;
        return Ok((loss, g.clone()));
    }
    if let Some(Value::Array(params)) = v.get("params") {
        let mut g = Map::new();
        for p in params {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a \"params\" record without a \"name\"")?;
            let grad = p
                .get("gradient")
                .ok_or_else(|| format!("the \"params\" record of {name} has no \"gradient\""))?;
            g.insert(name.to_string(), grad.clone());
        }
        return Ok((loss, g));
    }
    Err(format!(
        "neither a \"gradient\" object nor a \"params\" list at the top level of {}",
        keys(v)
    ))
}

/// The top-level keys of a JSON value, for messages.
fn keys(v: &Value) -> String {
    match v.as_object() {
        Some(o) => format!("{{{}}}", o.keys().cloned().collect::<Vec<_>>().join(", ")),
        None => "a JSON value that is not an object".to_string(),
    }
}

/// `[3, 5]` as `[3, 5]`, the empty path as nothing (a scalar param).
fn element(path: &[usize]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        let p: Vec<String> = path.iter().map(usize::to_string).collect();
        format!("[{}]", p.join(", "))
    }
}

/// Compares one param's gradient (a number or nested lists) element by
/// element, appending every disagreement to `bad`.
fn compare_value(
    param: &str,
    path: &mut Vec<usize>,
    actual: &Value,
    expected: &Value,
    bad: &mut Vec<String>,
) {
    let at = || format!("{param}{}", element(path));
    match (actual, expected) {
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                bad.push(format!(
                    "{}: {} elements, expected {}",
                    at(),
                    a.len(),
                    e.len()
                ));
                return;
            }
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                path.push(i);
                compare_value(param, path, a, e, bad);
                path.pop();
            }
        }
        (a, Value::Number(e)) => {
            let e = e.as_f64().expect("expected values are numbers");
            match a.as_f64() {
                Some(a) if close(a, e) => {}
                Some(a) => bad.push(format!(
                    "{}: {a:e}, expected {e:e} (relative error {:.2e})",
                    at(),
                    (a - e).abs() / a.abs().max(e.abs())
                )),
                None => bad.push(format!("{}: {a}, expected the number {e:e}", at())),
            }
        }
        (a, Value::Array(e)) => bad.push(format!(
            "{}: {a}, expected an array of {} elements",
            at(),
            e.len()
        )),
        (_, e) => panic!("{}: the expected value {e} is not a number or array", at()),
    }
}

/// Compares a `ddx check --json` output with an expected file: the loss,
/// the set of params and every gradient element. The error lists the
/// disagreements (at most [`SHOWN`]), each naming the model, the param and
/// the element.
fn compare(model: &str, actual: &Value, expected: &Value) -> Result<(), String> {
    let (loss, grad) = loss_and_gradient(actual).map_err(|e| format!("{model}: {e}"))?;
    let (want_loss, want_grad) =
        loss_and_gradient(expected).unwrap_or_else(|e| panic!("{model}: expected file: {e}"));
    let mut bad = Vec::new();
    if !close(loss, want_loss) {
        bad.push(format!(
            "loss: {loss:e}, expected {want_loss:e} (relative error {:.2e})",
            (loss - want_loss).abs() / loss.abs().max(want_loss.abs())
        ));
    }
    for (name, want) in &want_grad {
        match grad.get(name) {
            Some(got) => compare_value(name, &mut Vec::new(), got, want, &mut bad),
            None => bad.push(format!("{name}: no gradient")),
        }
    }
    for name in grad.keys().filter(|n| !want_grad.contains_key(*n)) {
        bad.push(format!(
            "{name}: a gradient for a param the model does not declare"
        ));
    }
    if bad.is_empty() {
        return Ok(());
    }
    let more = bad.len().saturating_sub(SHOWN);
    bad.truncate(SHOWN);
    let mut msg = format!(
        "{model}: ddx disagrees with PyTorch:\n  {}",
        bad.join("\n  ")
    );
    if more > 0 {
        msg.push_str(&format!("\n  ... and {more} more"));
    }
    Err(msg)
}

/// Runs `ddx check --json --init NAME.params.json FILE` and compares its
/// output with `NAME.expected.json`; then requires the check itself to pass.
fn check_model(name: &str) {
    let file = MODELS
        .iter()
        .find(|m| m.0 == name)
        .map(|m| m.1)
        .expect("a listed model");
    let params = format!("tests/data/arrays/{name}.params.json");
    let args = ["check", "--json", "--init", &params, file];
    let out = output(ddx(&args));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let actual: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: `ddx {}` did not print JSON ({e}); {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            args.join(" "),
            out.status
        )
    });
    if let Err(msg) = compare(name, &actual, &expected(name)) {
        panic!("{msg}");
    }
    assert!(
        out.status.success(),
        "{name}: the values match PyTorch, but `ddx {}` failed ({}):\n{stderr}",
        args.join(" "),
        out.status
    );
}

macro_rules! reference {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_model(stringify!($name));
            }
        )*

        #[test]
        fn every_model_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in MODELS {
                assert!(tested.contains(&name), "{name} has no test");
            }
        }
    };
}

reference!(
    diabetes,
    iris,
    digits_softmax,
    digits_mlp,
    minmax_inline,
    softmax_let,
    matmul,
    iris_relu,
    iris_hinge,
);

// ---- the reference files and the comparison itself ----------------------------------

#[test]
fn every_reference_file_belongs_to_a_listed_model_with_its_model_file() {
    for (name, file) in MODELS {
        assert!(manifest().join(file).is_file(), "{file} is missing");
        for suffix in ["params", "expected"] {
            let path = manifest().join(format!("tests/data/arrays/{name}.{suffix}.json"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
    for entry in fs::read_dir(manifest().join("tests/data/arrays")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = file
            .strip_suffix(".expected.json")
            .or_else(|| file.strip_suffix(".params.json"))
        {
            assert!(
                MODELS.iter().any(|m| m.0 == stem),
                "{file}: {stem} is not in MODELS"
            );
        }
    }
}

#[test]
fn params_and_gradients_name_the_same_params_with_the_same_shapes() {
    fn shape(v: &Value) -> Vec<usize> {
        match v {
            Value::Array(a) => {
                let mut s = vec![a.len()];
                s.extend(shape(&a[0]));
                s
            }
            _ => Vec::new(),
        }
    }
    for (name, _) in MODELS {
        let params = json_file(&format!("{name}.params.json"));
        let params = params["params"].as_object().expect("a params object");
        let (_, grad) = loss_and_gradient(&expected(name)).unwrap();
        assert_eq!(
            params.keys().collect::<Vec<_>>(),
            grad.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (p, v) in params {
            assert_eq!(shape(v), shape(&grad[p]), "{name}: {p}");
        }
    }
}

#[test]
fn an_expected_file_matches_itself() {
    for (name, _) in MODELS {
        let e = expected(name);
        assert_eq!(compare(name, &e, &e), Ok(()));
    }
}

/// The expected file of `name` with one gradient element (the path of
/// indices, empty for a scalar param) changed by `f`.
fn perturbed(name: &str, param: &str, path: &[usize], f: impl Fn(f64) -> f64) -> Value {
    let mut v = expected(name);
    let mut slot = &mut v["gradient"][param];
    for &i in path {
        slot = &mut slot[i];
    }
    let x = slot.as_f64().expect("a number");
    *slot = Value::from(f(x));
    v
}

#[test]
fn a_gradient_element_off_by_more_than_the_tolerance_fails_naming_model_param_element() {
    let cases: [(&str, &str, &[usize]); 4] = [
        ("digits_mlp", "W1", &[3, 17]),
        ("digits_mlp", "c2", &[9]),
        ("diabetes", "b", &[]),
        ("minmax_inline", "w", &[0]),
    ];
    for (name, param, path) in cases {
        let want = expected(name);
        let got = perturbed(name, param, path, |x| x * (1.0 + 1e-9) + 1e-11);
        let msg = compare(name, &got, &want).unwrap_err();
        let at = format!("{param}{}", element(path));
        assert!(msg.starts_with(&format!("{name}: ")), "{msg}");
        assert!(msg.contains(&format!("\n  {at}: ")), "{msg}");
        assert_eq!(msg.lines().count(), 2, "one disagreement only: {msg}");
    }
}

#[test]
fn differences_within_the_tolerance_pass() {
    // relative 1e-11 anywhere, absolute 1e-13 on a value near zero
    let want = expected("digits_softmax");
    let got = perturbed("digits_softmax", "W", &[4, 20], |x| x * (1.0 + 1e-11));
    assert_eq!(compare("digits_softmax", &got, &want), Ok(()));
    let mut got = want.clone();
    got["gradient"]["c"][0] = Value::from(1e-13);
    let mut near_zero = want.clone();
    near_zero["gradient"]["c"][0] = Value::from(-5e-13);
    assert_eq!(compare("digits_softmax", &got, &near_zero), Ok(()));
    // ... but not 1e-11 absolute near zero
    got["gradient"]["c"][0] = Value::from(1e-11);
    assert!(compare("digits_softmax", &got, &near_zero).is_err());
}

#[test]
fn a_wrong_loss_fails() {
    let want = expected("iris");
    let mut got = want.clone();
    got["loss"] = Value::from(want["loss"].as_f64().unwrap() * (1.0 + 1e-8));
    let msg = compare("iris", &got, &want).unwrap_err();
    assert!(msg.contains("\n  loss: "), "{msg}");
}

#[test]
fn a_missing_extra_misshapen_or_nan_gradient_fails() {
    let want = expected("iris_relu");
    let mut missing = want.clone();
    missing["gradient"].as_object_mut().unwrap().remove("t");
    assert!(compare("iris_relu", &missing, &want)
        .unwrap_err()
        .contains("t: no gradient"));
    let mut extra = want.clone();
    extra["gradient"]["u"] = Value::from(0.0);
    assert!(compare("iris_relu", &extra, &want)
        .unwrap_err()
        .contains("u: a gradient for a param the model does not declare"));
    let mut short = want.clone();
    short["gradient"]["W1"][2].as_array_mut().unwrap().pop();
    assert!(compare("iris_relu", &short, &want)
        .unwrap_err()
        .contains("W1[2]: 3 elements, expected 4"));
    let mut flat = want.clone();
    flat["gradient"]["c1"] = Value::from(0.5);
    assert!(compare("iris_relu", &flat, &want)
        .unwrap_err()
        .contains("c1: 0.5, expected an array of 8 elements"));
    let mut nan = want.clone();
    nan["gradient"]["c2"][1] = Value::from("NaN");
    assert!(compare("iris_relu", &nan, &want)
        .unwrap_err()
        .contains("c2[1]: \"NaN\", expected the number"));
}

#[test]
fn the_output_may_list_params_as_records() {
    let want = expected("matmul");
    let records: Vec<Value> = want["gradient"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, g)| serde_json::json!({"name": n, "value": 0.0, "gradient": g, "error": 0.0}))
        .collect();
    let got = serde_json::json!({"loss": want["loss"], "params": records});
    assert_eq!(compare("matmul", &got, &want), Ok(()));
    let no_loss = serde_json::json!({"gradient": want["gradient"]});
    assert!(compare("matmul", &no_loss, &want)
        .unwrap_err()
        .contains("no number \"loss\""));
}
