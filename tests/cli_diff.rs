//! `ddx diff` end to end: the outputs users rely on, exactly.

mod common;

use common::cli::{data, ddx, example, failed, ok, read, scratch};

#[test]
fn the_documented_outputs() {
    let cases: &[(&[&str], &str)] = &[
        (&["diff", "y = x^2"], "dy/dx = 2*x\n"),
        (&["diff", "y = x^2", "--at", "x=5"], "dy/dx = 10\n"),
        (&["diff", "f = sin(x)"], "df/dx = cos(x)\n"),
        (&["diff", "f = exp(x)"], "df/dx = exp(x)\n"),
        (&["diff", "f = ln(x)"], "df/dx = 1/x\n"),
        (&["diff", "f = 3*x + 2"], "df/dx = 3\n"),
        (&["diff", "f = x*y"], "df/dx = y\ndf/dy = x\n"),
        (&["diff", "f = x^3", "--order", "2"], "d2f/dx2 = 6*x\n"),
        (&["diff", "f = 5", "--wrt", "x"], "df/dx = 0\n"),
        (&["diff", "x^2 + 1"], "df/dx = 2*x\n"),
        (
            &["diff", "f = x*y + sin(x)"],
            "df/dx = y + cos(x)\ndf/dy = x\n",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(ok(ddx(args)), *want, "ddx {args:?}");
    }
}

#[test]
fn json_has_function_derivatives_and_op_counts() {
    let out = ok(ddx(&["diff", "f = x*y + sin(x)", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["function"], "x*y + sin(x)");
    assert_eq!(v["derivatives"][0]["wrt"], "x");
    assert_eq!(v["derivatives"][0]["order"], 1);
    assert_eq!(v["derivatives"][0]["expr"], "y + cos(x)");
    assert_eq!(v["derivatives"][1]["expr"], "x");
    // x*y, sin(x), + ; derivatives: cos(x), +
    assert_eq!(v["ops"]["function"], 3);
    assert_eq!(v["ops"]["gradient"], 2);
}

#[test]
fn latex_and_cse() {
    assert_eq!(
        ok(ddx(&["diff", "f = x^2/2", "--format", "latex"])),
        "\\frac{df}{dx} = x\n"
    );
    let out = ok(ddx(&["diff", "f = sin(x^2 + 1)^2", "--cse"]));
    assert_eq!(out, "df/dx = 2*x*sin(2*(x^2 + 1))\n");
    let out = ok(ddx(&["diff", "f = exp(sin(x)*y)", "--cse"]));
    assert_eq!(
        out,
        "let t1 = sin(x)\nlet t2 = exp(y*t1)\ndf/dx = y*cos(x)*t2\ndf/dy = t1*t2\n"
    );
}

#[test]
fn reads_files_and_stdin() {
    let dir = scratch("reads_files");
    let path = dir.join(dir.write("f.ddx", "# a comment\ny = x^3\n"));
    assert_eq!(
        ok(ddx(&["diff", path.to_str().unwrap()])),
        "dy/dx = 3*x^2\n"
    );
    assert_eq!(
        ok(ddx(&["diff", "-"]).write_stdin("g = exp(2*t)")),
        "dg/dt = 2*exp(2*t)\n"
    );
}

#[test]
fn errors_point_at_the_source_and_exit_2() {
    let (code, err) = failed(ddx(&["diff", "f = sine(x)"]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("<expr>:1:5: error: unknown function `sine`"),
        "{err}"
    );
    assert!(err.contains("f = sine(x)\n"), "{err}");
    assert!(err.contains("    ^^^^"), "{err}");
    assert!(err.contains("did you mean `sin`?"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let (code, err) = failed(ddx(&["diff", "no/such/model.ddx"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read no/such/model.ddx: no such file"),
        "{err}"
    );

    assert_eq!(failed(ddx(&["diff", "y = x^2", "--at", "x"])).0, 2);
    assert_eq!(failed(ddx(&["diff", "y = x^2", "--order", "0"])).0, 2);
}

#[test]
fn models_give_the_gradient_of_the_loss() {
    let model = &example("regression.ddx");
    assert_eq!(
        ok(ddx(&["diff", model])),
        "dC/dm = 2*mean(x*(b + m*x - y))\ndC/db = 2*mean(b + m*x - y)\n"
    );
    assert_eq!(
        ok(ddx(&["diff", model, "--cse"])),
        "let t1 = b + m*x - y\ndC/dm = 2*mean(x*t1)\ndC/db = 2*mean(t1)\n"
    );
    // at the initial params, over the data: PyTorch's first gradient
    let out = ok(ddx(&[
        "diff",
        model,
        "--at",
        "m=0.9,b=0.1",
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reference = read(data("seed_regression_f64.csv"));
    let first: Vec<f64> = reference
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|c| c.parse().unwrap())
        .collect();
    let dm = v["derivatives"][0]["value"].as_f64().unwrap();
    let db = v["derivatives"][1]["value"].as_f64().unwrap();
    assert!(
        (dm - first[2]).abs() <= 1e-12 * first[2].abs(),
        "{dm} vs {}",
        first[2]
    );
    assert!(
        (db - first[3]).abs() <= 1e-12 * first[3].abs(),
        "{db} vs {}",
        first[3]
    );
    let (code, err) = failed(ddx(&["diff", model, "--wrt", "q"]));
    assert_eq!(code, 2);
    assert!(err.contains("no such param"));
}
