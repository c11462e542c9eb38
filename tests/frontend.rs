//! Front-end tests: precedence, every statement form, every error as a
//! rendered snapshot, CSV data, hostile inputs and property tests.

mod common;

use std::path::Path;

use common::{function, seed_data};

use ddx::check;
use ddx::parse;
use ddx::Source;
use ddx::{Node, SymbolKind};
use ddx::{Optimizer, Unit};
use proptest::prelude::*;

/// The fully parenthesised AST dump of a source, one statement per line.
fn dump(src: &str) -> String {
    match parse(src) {
        Ok(f) => f.to_string(),
        Err(d) => panic!("{}", d.render(&Source::new("<test>", src))),
    }
}

/// The rendered diagnostic of a source that must fail to check. CSV paths
/// are relative to tests/data.
fn err_named(name: &str, src: &str) -> String {
    let source = Source::new(name, src);
    match check(&source, Some(Path::new("tests/data"))) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(d) => d.render(&source),
    }
}

fn err(src: &str) -> String {
    err_named("model.ddx", src)
}

fn model(src: &str) -> ddx::Model {
    let source = Source::new("model.ddx", src);
    match check(&source, Some(Path::new("tests/data"))) {
        Ok(Unit::Model(m)) => m,
        Ok(Unit::Expr(_)) => panic!("expected a model"),
        Err(d) => panic!("{}", d.render(&source)),
    }
}

// ---- precedence and associativity ----------------------------------------

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("1 * 2 + 3", "((1 * 2) + 3)"),
        ("a - b - c", "((a - b) - c)"),
        ("a - b + c", "((a - b) + c)"),
        ("a / b / c", "((a / b) / c)"),
        ("a / b * c", "((a / b) * c)"),
        ("-x^2", "(-(x ^ 2))"),
        ("2^3^2", "(2 ^ (3 ^ 2))"),
        ("2^-x", "(2 ^ (-x))"),
        ("a^-b^c", "(a ^ (-(b ^ c)))"),
        ("-2*x", "((-2) * x)"),
        ("--x", "(-(-x))"),
        ("a*-b", "(a * (-b))"),
        ("a - -b", "(a - (-b))"),
        ("-a - b", "((-a) - b)"),
        ("(a+b)^2", "((a + b) ^ 2)"),
        ("(-x)^2", "((-x) ^ 2)"),
        ("x^2^-3*4", "((x ^ (2 ^ (-3))) * 4)"),
        ("sin(x)^2", "(sin(x) ^ 2)"),
        ("-sin(x)", "(-sin(x))"),
        ("max(a, b + 1) / 2", "(max(a, (b + 1)) / 2)"),
        ("pow(x, 2)", "pow(x, 2)"),
        (
            ".5e1 + 1E-3 + 2.5E+4 + 0.62 + 7.",
            "((((5 + 0.001) + 25000) + 0.62) + 7)",
        ),
        ("1e300 * 1e-300", "(1e300 * 1e-300)"),
        ("pi*r^2", "(pi * (r ^ 2))"),
        ("((((x))))", "x"),
        ("f = a +\n  b", "f = (a + b)"),
        ("a @ b * c @ d", "(((a @ b) * c) @ d)"),
        ("a + b @ c", "(a + (b @ c))"),
        ("-A @ x", "((-A) @ x)"),
        ("A'", "(A')"),
        ("-A'^2", "(-((A') ^ 2))"),
        ("A'' @ (a + b)'", "(((A')') @ ((a + b)'))"),
        ("W[i, j]^2", "(W[i, j] ^ 2)"),
        ("w[j + 1]'", "(w[(j + 1)]')"),
        ("normal(0, 0.1, seed = 7)", "normal(0, 0.1, seed = 7)"),
        ("f(a = b, c, d = -e)", "f(a = b, c, d = (-e))"),
        ("[[0, 1], [1, -0.5]]", "[[0, 1], [1, (-0.5)]]"),
        ("[]", "[]"),
    ];
    for (src, want) in cases {
        if src.contains('\n') {
            // A newline ends the statement: `a +` then an error.
            assert!(parse(src).is_err(), "{src:?}");
            continue;
        }
        assert_eq!(dump(src).trim_end(), want, "{src}");
    }
}

#[test]
fn newlines_inside_brackets_are_whitespace() {
    assert_eq!(dump("f = (a +\n  b)\n"), "f = (a + b)\n");
    assert_eq!(
        dump("data x = [\n  1,\n  2,  # two\n  -3,\n]\n"),
        "data x = [1, 2, (-3)]\n"
    );
    assert_eq!(dump("y = max(\n a,\n b\n)"), "y = max(a, b)\n");
}

#[test]
fn statement_separators() {
    assert_eq!(
        dump("\n\n# header\nparam a = 1; param b = 2;;\n\nloss C = a*b # end\n"),
        "param a = 1\nparam b = 2\nloss C = (a * b)\n"
    );
}

// ---- array syntax -------------------------------------------------------------

#[test]
fn array_statements_dump_and_reparse() {
    let src = "\
param w[10] = 0, b = 0
param W1[32, 64] = normal(0, 0.1)
param c1[32] = uniform(-0.1, 0.1, seed = 7)
param v[3] = [0.5, -1, 2]
data x[age, sex, bmi], y from \"diabetes.csv\"
data px[p0 .. p63], digit from \"digits.csv\"
data q[a, p0..p3, b] as r from \"f.csv\"
data x2[2] = [[0, 1], [1, 0.5], [2, 0.25]]
let z[k] = sum(j, W[k, j]*px[j]) + c[k]
let h = tanh(W1 @ x + c1)
loss L = mean(logsumexp(k, z[k]) - z[digit]) + 1e-4*sum(j, w[j]^2)
";
    // `x[...] as y` need not parse: the line above is an error
    assert!(parse(src).is_err());
    let src = src.replace(" as r", "");
    let want = "\
param w[10] = 0, b = 0
param W1[32, 64] = normal(0, 0.1)
param c1[32] = uniform((-0.1), 0.1, seed = 7)
param v[3] = [0.5, (-1), 2]
data x[age, sex, bmi], y from \"diabetes.csv\"
data px[p0 .. p63], digit from \"digits.csv\"
data q[a, p0 .. p3, b] from \"f.csv\"
data x2[2] = [[0, 1], [1, 0.5], [2, 0.25]]
let z[k] = (sum(j, (W[k, j] * px[j])) + c[k])
let h = tanh(((W1 @ x) + c1))
loss L = (mean((logsumexp(k, z[k]) - z[digit])) + (0.0001 * sum(j, (w[j] ^ 2))))
";
    assert_eq!(dump(&src), want);
    let first = parse(&src).unwrap();
    let again = parse(want).unwrap();
    assert!(first.same_structure(&again));
    assert_eq!(again.to_string(), want);
    // shapes, indices and ranges are compared, not just names
    for (a, b) in [
        ("param w[10] = 0", "param w[11] = 0"),
        ("param w[10] = 0", "param w = 0"),
        ("let z[k] = 1", "let z[j] = 1"),
        ("loss z[k] = 1", "loss z = 1"),
        ("data p[a .. b] from \"f\"", "data p[a, b] from \"f\""),
        ("data p[a .. b] from \"f\"", "data p[a .. c] from \"f\""),
        ("data x[2] = [1]", "data x[3] = [1]"),
        ("f = A'", "f = A"),
        ("f = a @ b", "f = a * b"),
        ("f = g(s = 1)", "f = g(t = 1)"),
        ("f = g(s = 1)", "f = g(1)"),
        ("f = [1, 2]", "f = [1]"),
        ("f = w[1]", "f = w(1)"),
        ("W[i, j] = 1", "W[i] = 1"),
    ] {
        assert!(
            !parse(a).unwrap().same_structure(&parse(b).unwrap()),
            "{a} vs {b}"
        );
    }
}

#[test]
fn array_definitions_in_expression_mode() {
    assert_eq!(dump("W[i, j] = A[j, i]"), "W[i, j] = A[j, i]\n");
    assert_eq!(dump("W[i, j]"), "W[i, j]\n");
    let d = parse("W[i, j + 1] = 2").unwrap_err();
    assert_eq!(d.primary.as_ref().unwrap().span, 5..10);
    assert!(parse("W[i, j] + 1 = 2").is_err());
}

#[test]
fn array_forms_where_they_mean_nothing_are_refused() {
    for (src, at) in [
        ("f = A @ x", "A @ x"),
        ("f = w[1] + x", "w[1]"),
        ("f = sin(x)'", "sin(x)'"),
        ("f = max(x, seed = 1)", "seed = 1"),
        ("W[i] = x", "W[i]"),
        ("data x = [[1, 2]]\nparam w = 1\nloss L = w", "[1, 2]"),
        ("param w = max(1, seed = 2)\nloss L = w", "seed = 2"),
    ] {
        let d = check(&Source::new("a", src), Some(Path::new("tests/data")))
            .err()
            .unwrap_or_else(|| panic!("{src} checked"));
        assert_eq!(d.message, "an array form is not allowed here", "{src}");
        assert_eq!(&src[d.primary.as_ref().unwrap().span.clone()], at, "{src}");
    }
}

#[test]
fn deep_array_forms() {
    for src in [
        format!("y = {}1{}", "[".repeat(DEEP), "]".repeat(DEEP)),
        format!("y = x{}", "'".repeat(DEEP)),
        format!("y = {}x{}", "w[".repeat(DEEP), "]".repeat(DEEP)),
        format!("y = {}x{}", "f(s = ".repeat(DEEP), ")".repeat(DEEP)),
        format!("y = x{}", " @ x".repeat(DEEP)),
    ] {
        small_stack(move || {
            let file = parse(&src).expect("parses");
            let again = parse(&file.to_string()).expect("the dump re-parses");
            assert!(file.same_structure(&again));
            let d = check(&Source::new("deep", src), None).expect_err("not yet");
            assert_eq!(d.message, "an array form is not allowed here");
        });
    }
}

// ---- every statement form ------------------------------------------------

const SEED: &str = "\
# The seed notebook: forgetfulness vs drug dosage
data x = [0, 1, 2, 3, 4, 5, 6, 7]
data y = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]

param m = 0.9
param b = 0.1

let yhat = m*x + b
loss C = mean((yhat - y)^2)

train sgd(lr = 0.01, epochs = 1000)
";

#[test]
fn seed_model_parses_and_checks() {
    assert_eq!(
        dump(SEED),
        "data x = [0, 1, 2, 3, 4, 5, 6, 7]\n\
         data y = [1.86, 1.31, 0.62, 0.33, 0.09, (-0.67), (-1.23), (-1.37)]\n\
         param m = 0.9\n\
         param b = 0.1\n\
         let yhat = ((m * x) + b)\n\
         loss C = mean(((yhat - y) ^ 2))\n\
         train sgd(lr = 0.01, epochs = 1000)\n"
    );
    let m = model(SEED);
    assert_eq!(m.rows, 8);
    let names: Vec<_> = m.data.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(m.data[1].values[5], -0.67);
    assert_eq!(m.data[0].values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    let params: Vec<_> = m
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.init[0]))
        .collect();
    assert_eq!(params, [("m", 0.9), ("b", 0.1)]);
    assert_eq!(m.graph.symbol(m.params[0].sym).kind, SymbolKind::Param);
    assert_eq!(m.graph.symbol(m.data[0].sym).kind, SymbolKind::Data);
    assert_eq!(m.lets.len(), 1);
    assert_eq!(m.lets[0].name, "yhat");
    assert_eq!(m.loss.name, "C");
    assert!(matches!(m.graph.node(m.loss.node), Node::Reduce(..)));
    assert!(!m.graph.meta(m.loss.node).per_row);
    assert!(m.graph.meta(m.lets[0].node).per_row);
    // The let is inlined: the loss graph contains the let's node.
    assert!(m.graph.topo_order(&[m.loss.node]).contains(&m.lets[0].node));
    let train = m.train.expect("train line");
    assert_eq!(
        train.optimizer,
        Optimizer::Sgd {
            lr: 0.01,
            momentum: 0.0
        }
    );
    assert_eq!(train.epochs, 1000);
    assert_eq!(
        &SEED[train.span.clone()],
        "train sgd(lr = 0.01, epochs = 1000)"
    );
    assert_eq!(&SEED[m.loss.span.clone()], "mean((yhat - y)^2)");
    assert_eq!(&SEED[m.params[1].span.clone()], "b");
}

#[test]
fn several_params_per_line_and_constant_inits() {
    let m =
        model("param w1 = 0, w2 = -0.5, b = 1/3, c = 2*pi, d = sqrt(4)\nloss L = w1*w2 + b*c*d");
    let inits: Vec<f64> = m.params.iter().map(|p| p.init[0]).collect();
    assert_eq!(
        inits,
        [0.0, -0.5, 1.0 / 3.0, 2.0 * std::f64::consts::PI, 2.0]
    );
    assert!(m.train.is_none());
    assert_eq!(m.rows, 0);
}

#[test]
fn optimizers_and_pytorch_defaults() {
    let base = "param a = 1\nloss L = (a - 3)^2\n";
    let spec = |t: &str| model(&format!("{base}{t}")).train.unwrap();
    let t = spec("train sgd(lr = 0.1, epochs = 5, momentum = 0.9)");
    assert_eq!(
        t.optimizer,
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9
        }
    );
    assert_eq!(t.epochs, 5);
    let t = spec("train adam(epochs = 0)");
    assert_eq!(
        t.optimizer,
        Optimizer::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    assert_eq!(t.epochs, 0);
    let t = spec("train adam(lr = 1e-2, epochs = 10, beta1 = 0.8, beta2 = 0.99, eps = 1e-6)");
    assert_eq!(
        t.optimizer,
        Optimizer::Adam {
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6
        }
    );
    let t = spec("train newton(epochs = 3)");
    assert_eq!(t.optimizer, Optimizer::Newton);
    assert_eq!(t.epochs, 3);
    // Options in any order, trailing comma allowed.
    let t = spec("train sgd(epochs = 7, lr = 1/8,)");
    assert_eq!(
        t.optimizer,
        Optimizer::Sgd {
            lr: 0.125,
            momentum: 0.0
        }
    );
}

#[test]
fn functions_lower_to_their_operators() {
    let f = function(
        "f = sin(x) + cos(x) + tan(x) + asin(x) + acos(x) + atan(x) + sinh(x) \
        + cosh(x) + tanh(x) + exp(x) + ln(x) + log(x) + sqrt(x) + abs(x) + sigmoid(x) \
        + relu(x) + softplus(x) + sign(x) + step(x) + min(x, 1) + max(x, 2) + pow(x, 3) + x^4",
    );
    let g = &f.graph;
    let mut seen = std::collections::BTreeSet::new();
    for id in g.topo_order(&[f.root]) {
        match g.node(id) {
            Node::Unary(op, _) => {
                seen.insert(op.name().to_string());
            }
            Node::Binary(op, _, _) => {
                seen.insert(op.name().to_string());
            }
            _ => {}
        }
    }
    // `log` is `ln` (one node), `pow` is `^`.
    let want = [
        "+", "^", "abs", "acos", "asin", "atan", "cos", "cosh", "exp", "ln", "max", "min", "relu",
        "sigmoid", "sign", "sin", "sinh", "softplus", "sqrt", "step", "tan", "tanh",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), want);
    let ln = f.graph.clone().call(ddx::UnOp::Ln, f.graph.sym(f.vars[0]));
    assert!(g.topo_order(&[f.root]).contains(&ln));
}

#[test]
fn expression_mode() {
    let f = function("y = x^2");
    assert_eq!(f.name, "y");
    assert_eq!(f.vars.len(), 1);
    let f = function("# comment\n\nx*zeta + b*alpha + sin(x) # trailing\n");
    assert_eq!(f.name, "f");
    let names: Vec<_> = f
        .vars
        .iter()
        .map(|&v| f.graph.symbol(v).name.as_str())
        .collect();
    assert_eq!(names, ["alpha", "b", "x", "zeta"]);
    let f = function("f = 5");
    assert!(f.vars.is_empty());
    assert_eq!(f.graph.as_const(f.root), Some(5.0));
    let f = function("area = pi*r^2");
    assert_eq!(f.vars.len(), 1);
    let src = "g = 3*u + 1";
    let f = function(src);
    assert_eq!(&src[f.span.clone()], "3*u + 1");
}

#[test]
fn data_only_reductions_are_allowed_anywhere() {
    let m = model(
        "data x = [1, 2, 3]\nparam a = 0\nlet xbar = mean(x)\nloss L = (a - xbar)^2 + sum((x - a)^2)/3",
    );
    assert!(!m.graph.meta(m.loss.node).per_row);
    assert!(!m.graph.meta(m.lets[0].node).per_row);
}

// ---- CSV data --------------------------------------------------------------

#[test]
fn csv_columns_by_header_name() {
    let (dosage, forget) = seed_data();
    let m = model(
        "data dosage, forgetfulness from \"trial.csv\"\nparam m = 1\n\
         loss C = mean((m*dosage - forgetfulness)^2)",
    );
    assert_eq!(m.rows, dosage.len());
    assert_eq!(m.data[0].name, "dosage");
    assert_eq!(m.data[0].values, dosage);
    assert_eq!(m.data[1].values, forget);
}

#[test]
fn csv_columns_renamed_with_as() {
    let (dosage, forget) = seed_data();
    let m = model(
        "data forgetfulness as y, dosage as x from \"trial.csv\"\nparam m = 1, b = 0\n\
         loss C = mean((m*x + b - y)^2)",
    );
    assert_eq!(m.data[0].name, "y");
    assert_eq!(m.data[0].values, forget);
    assert_eq!(m.data[1].name, "x");
    assert_eq!(m.data[1].values, dosage);
    let m = model("data dosage as x, forgetfulness from \"trial.csv\"\nparam m = 1\nloss C = mean(m*x*forgetfulness)");
    assert_eq!(m.data[1].name, "forgetfulness");
}

#[test]
fn csv_with_bom_crlf_quotes_blank_lines_and_padding() {
    let m = model("data x, y from \"crlf_bom.csv\"\nparam a = 1\nloss C = sum(a*x*y)");
    assert_eq!(m.data[0].values, [1.0, 3.0]);
    assert_eq!(m.data[1].values, [2.0, 4.0]);
}

#[test]
fn csv_and_inline_columns_mix() {
    let m = model("data a, b from \"two_rows.csv\"\ndata c = [5, 6]\nparam p = 1\nloss C = sum(p*(a + b + c))");
    assert_eq!(m.rows, 2);
    assert_eq!(m.data[2].values, [5.0, 6.0]);
}

#[test]
fn csv_path_is_relative_to_base_dir() {
    let src = "data dosage from \"data/trial.csv\"\nparam m = 1\nloss C = mean(m*dosage)";
    let source = Source::new("model.ddx", src);
    assert!(check(&source, Some(Path::new("tests"))).is_ok());
    assert!(check(&source, Some(Path::new("src"))).is_err());
}

#[test]
fn csv_with_many_rows_streams_every_row() {
    // 10^6 rows, three columns of which two are read.
    let dir = std::env::temp_dir().join(format!("ddx-front-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.csv");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(w, "i,skip,half").unwrap();
        for i in 0..1_000_000u32 {
            writeln!(w, "{i},x,{}", f64::from(i) / 2.0).unwrap();
        }
    }
    let src = "data i, half from \"big.csv\"\nparam a = 1\nloss C = mean((a*i - half)^2)";
    let source = Source::new("big.ddx", src);
    let result = check(&source, Some(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    let Ok(Unit::Model(m)) = result else {
        panic!("big CSV did not load")
    };
    assert_eq!(m.rows, 1_000_000);
    assert!(m.data[0]
        .values
        .iter()
        .enumerate()
        .all(|(k, &v)| v == k as f64));
    assert!(m.data[1]
        .values
        .iter()
        .enumerate()
        .all(|(k, &v)| v == k as f64 / 2.0));
}

/// Writes `text` to a fresh temporary folder as `name`, runs `src` against
/// it and removes the folder.
fn with_temp_csv(name: &str, text: &[u8], src: &str) -> Result<Unit, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ddx-front-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    let source = Source::new("m.ddx", src);
    let result = check(&source, Some(&dir)).map_err(|d| d.render(&source));
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

#[test]
fn csv_with_huge_cells() {
    let model = "data a from \"h.csv\"\nparam m = 1\nloss C = mean(m*a)";
    // A megabyte of digits overflows f64: a located error, not a hang.
    let mut text = b"a\n1\n".to_vec();
    text.extend(std::iter::repeat_n(b'7', 1 << 20));
    text.push(b'\n');
    let e = with_temp_csv("h.csv", &text, model).unwrap_err();
    assert!(
        e.contains("h.csv:3:1: error: non-finite value in column `a`"),
        "{e}"
    );
    assert!(e.len() < 1000, "the rendered line is cut to a window");
    // A megabyte of text in a cell.
    let mut text = b"a\n1\n".to_vec();
    text.extend(std::iter::repeat_n(b'z', 1 << 20));
    let e = with_temp_csv("h.csv", &text, model).unwrap_err();
    assert!(
        e.contains("h.csv:3:1: error: cell in column `a` is not a number"),
        "{e}"
    );
    // A huge header cell next to the one requested.
    let mut text = vec![b'q'; 1 << 20];
    text.extend(b",a\n1,2\n");
    let Ok(Unit::Model(m)) = with_temp_csv("h.csv", &text, model) else {
        panic!("huge header cell")
    };
    assert_eq!(m.data[0].values, [2.0]);
}

#[test]
fn csv_error_lines_count_from_the_file_start() {
    let mut text = String::from("x,y\n");
    for i in 0..5000 {
        text.push_str(&format!("{i},{i}\n"));
    }
    text.push_str("1,oops\n");
    let e = with_temp_csv(
        "t.csv",
        text.as_bytes(),
        "data x, y from \"t.csv\"\nparam m = 1\nloss C = mean(m*x*y)",
    )
    .unwrap_err();
    assert!(
        e.contains("t.csv:5002:3: error: cell in column `y` is not a number"),
        "{e}"
    );
    assert!(e.contains("5002 | 1,oops"), "{e}");
}

#[test]
fn csv_invalid_utf8_cell() {
    let e = with_temp_csv(
        "u.csv",
        b"a\n\xff\xfe\n",
        "data a from \"u.csv\"\nparam m = 1\nloss C = mean(m*a)",
    )
    .unwrap_err();
    assert!(
        e.contains("u.csv:2:1: error: cell in column `a` is not a number"),
        "{e}"
    );
}

// ---- every error, rendered ---------------------------------------------------

macro_rules! snap {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), err($src));
        }
    };
    ($name:ident, expr $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), err_named("<expr>", $src));
        }
    };
    // a model: `BASE` (data x, param m), then the source
    ($name:ident, base $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), err(&with_base($src)));
        }
    };
}

mod errors {
    use super::*;

    const BASE: &str = "data x = [1, 2, 3]\nparam m = 1\n";

    fn with_base(rest: &str) -> String {
        format!("{BASE}{rest}")
    }

    // Syntax.
    snap!(syntax_expected_expression, expr "y = (2 * )");
    snap!(syntax_expected_operator, expr "y = x z");
    snap!(syntax_end_of_input, expr "y = x +");
    snap!(syntax_end_of_line, "param m = 1 +\nloss C = m");
    snap!(syntax_unclosed_paren, expr "y = sin(x");
    snap!(
        syntax_unclosed_paren_before_statement,
        "param m = 1\nlet a = (m + 1\nloss C = a"
    );
    snap!(syntax_unmatched_close, expr "y = x)");
    snap!(syntax_mismatched_bracket, expr "y = (x]");
    snap!(
        syntax_keyword_as_name,
        "param m = 1\nlet loss = m\nloss C = m"
    );
    snap!(syntax_keyword_as_value, expr "y = from + 1");
    snap!(syntax_bad_character, expr "y = x $ 2");
    snap!(syntax_unicode_character, expr "y = x × 2");
    snap!(syntax_nul_byte, expr "y = x\0");
    snap!(syntax_non_finite_literal, expr "y = 1e999 * x");
    snap!(syntax_malformed_number, expr "y = 2x + 1");
    snap!(syntax_malformed_number_dots, expr "y = 1.2.3");
    snap!(
        syntax_unterminated_string,
        "data x from \"trial.csv\nparam m = 1"
    );
    snap!(syntax_missing_from_path, "data x from trial.csv");
    snap!(
        syntax_train_without_parens,
        "param m = 1\nloss C = m^2\ntrain sgd"
    );
    snap!(syntax_unary_plus, expr "y = +x");
    snap!(syntax_invisible_character, expr "y = x\u{200B} + 1");
    snap!(syntax_data_without_list, "data x = 5");
    snap!(syntax_bidi_override, expr "y = x + \u{202E}1");
    snap!(syntax_crlf_line_breaks, "param m = 1\r\nloss C = m*q\r\n");

    // Models without params, or with reductions but no data.
    snap!(
        model_without_params,
        "data x = [1, 2, 3]\nloss C = mean(x^2)\ntrain sgd(lr = 0.1, epochs = 1)"
    );
    snap!(
        reduction_without_data,
        "param m = 1\nlet s = sum(m^2)\nloss C = (m - 2)^2 + s"
    );

    // Names.
    snap!(undeclared_name_suggests_nearest, base "let yhat = m*x\nloss C = mean((yaht - x)^2)");
    snap!(
        undeclared_name_without_suggestion,
        "param m = 1\nloss C = m*q"
    );
    snap!(used_before_declared, base "let a = m*b\nlet b = 2\nloss C = mean(a)");
    snap!(duplicate_name, base "let x = m*2\nloss C = x");
    snap!(
        duplicate_name_in_one_param_line,
        "param a = 1, b = 2, a = 3\nloss C = a*b"
    );
    snap!(
        duplicate_name_in_csv_list,
        "data dosage, dosage from \"trial.csv\""
    );
    snap!(redeclared_pi, "param pi = 3\nloss C = pi");
    snap!(unknown_function_suggests_nearest, expr "f = sine(x)");
    snap!(unknown_function_lists_functions, expr "f = frobnicate(x)");
    snap!(wrong_arity, expr "f = max(x)");
    snap!(wrong_arity_unary, expr "f = sin(x, 2)");
    snap!(function_used_as_value, expr "f = 2*exp");
    snap!(reduction_in_expression_mode, expr "f = mean(x^2)");
    snap!(expression_mode_two_statements, expr "f = x^2\ng = x^3");
    snap!(expression_mode_empty, expr "# nothing here\n");
    snap!(function_name_is_a_variable, expr "x = x^2 + 1");

    // Model rules.
    snap!(missing_loss, base "let a = m*2\n");
    snap!(two_losses, base "loss C = mean(m*x)\nloss D = m^2");
    snap!(two_train_lines, base "loss C = mean(m*x)\ntrain sgd(lr = 0.1, epochs = 1)\ntrain adam(epochs = 1)");
    snap!(
        param_unused_by_loss,
        "param m = 1, b = 2\nlet unused = b*2\nloss C = m^2"
    );
    snap!(data_outside_reduction, base "loss C = mean(m*x) + x");
    snap!(data_let_outside_reduction, base "let r = m*x - 1\nloss C = r^2");
    snap!(
        columns_of_different_lengths,
        "data x = [1, 2, 3]\ndata y = [1, 2]\nparam m = 1\nloss C = mean(m*x*y)"
    );
    snap!(
        csv_column_of_different_length,
        "data x = [1, 2, 3]\ndata a from \"two_rows.csv\"\nparam m = 1\nloss C = mean(m*x*a)"
    );
    snap!(empty_inline_data, "data x = []\nparam m = 1\nloss C = m");
    snap!(
        param_init_not_constant,
        "param a = 1\nparam b = a*2\nloss C = a*b"
    );
    snap!(param_init_not_finite, "param a = 1/0\nloss C = a");
    snap!(
        param_init_reduction,
        "data x = [1, 2]\nparam a = mean(x)\nloss C = a^2"
    );
    snap!(data_value_not_constant, "data x = [1, y]");
    snap!(
        statement_without_keyword,
        "param m = 1\nyhat = m*2\nloss C = yhat"
    );
    snap!(bare_expression_in_model, "param m = 1\nm^2\nloss C = m");

    // The train line.
    snap!(unknown_optimizer, base "loss C = mean(m*x)\ntrain sdg(lr = 0.1, epochs = 10)");
    snap!(unknown_option, base "loss C = mean(m*x)\ntrain sgd(lr = 0.1, epochs = 10, momentun = 0.9)");
    snap!(duplicate_option, base "loss C = mean(m*x)\ntrain sgd(lr = 0.1, epochs = 10, lr = 0.2)");
    snap!(missing_option, base "loss C = mean(m*x)\ntrain sgd(epochs = 10)");
    snap!(lr_not_positive, base "loss C = mean(m*x)\ntrain sgd(lr = 0, epochs = 10)");
    snap!(epochs_not_whole, base "loss C = mean(m*x)\ntrain newton(epochs = 2.5)");
    snap!(epochs_negative, base "loss C = mean(m*x)\ntrain newton(epochs = -1)");
    snap!(epochs_over_the_limit, base "loss C = mean(m*x)\ntrain sgd(lr = 0.1, epochs = 1e12)");
    snap!(momentum_out_of_range, base "loss C = mean(m*x)\ntrain sgd(lr = 0.1, epochs = 1, momentum = 1)");
    snap!(beta_out_of_range, base "loss C = mean(m*x)\ntrain adam(epochs = 1, beta2 = -0.1)");
    snap!(eps_not_positive, base "loss C = mean(m*x)\ntrain adam(epochs = 1, eps = 0)");
    snap!(option_not_constant, base "loss C = mean(m*x)\ntrain adam(epochs = 1, lr = m)");
    snap!(positional_option, base "loss C = mean(m*x)\ntrain sgd(0.1, 10)");
    snap!(newton_has_no_lr, base "loss C = mean(m*x)\ntrain newton(lr = 1, epochs = 1)");

    // CSV.
    snap!(
        csv_missing_file,
        "data x from \"no_such_file.csv\"\nparam m = 1\nloss C = mean(m*x)"
    );
    snap!(
        csv_empty_file,
        "data x from \"empty.csv\"\nparam m = 1\nloss C = mean(m*x)"
    );
    snap!(
        csv_missing_header,
        "data x from \"no_header.csv\"\nparam m = 1\nloss C = mean(m*x)"
    );
    snap!(
        csv_header_only,
        "data a from \"header_only.csv\"\nparam m = 1\nloss C = mean(m*a)"
    );
    snap!(
        csv_non_numeric_cell,
        "data dosage, forgetfulness from \"nonnumeric.csv\"\nparam m = 1\nloss C = mean(m*dosage)"
    );
    snap!(
        csv_non_finite_cell,
        "data a, b from \"nonfinite.csv\"\nparam m = 1\nloss C = mean(m*a)"
    );
    snap!(
        csv_empty_cell,
        "data a, b from \"empty_cell.csv\"\nparam m = 1\nloss C = mean(m*a)"
    );
    snap!(
        csv_ragged_short_row,
        "data a from \"ragged.csv\"\nparam m = 1\nloss C = mean(m*a)"
    );
    snap!(
        csv_ragged_long_row,
        "data a from \"ragged_long.csv\"\nparam m = 1\nloss C = mean(m*a)"
    );
    snap!(
        csv_missing_column,
        "data dose as x from \"trial.csv\"\nparam m = 1\nloss C = mean(m*x)"
    );
    snap!(
        csv_duplicate_header,
        "data a from \"dup_header.csv\"\nparam m = 1\nloss C = mean(m*a)"
    );
    snap!(
        csv_path_is_a_directory,
        "data a from \".\"\nparam m = 1\nloss C = mean(m*a)"
    );

    #[test]
    fn invalid_utf8() {
        let (d, source) =
            ddx::decode("bad.ddx", b"y = x\n+ \xff\xfe 2".to_vec()).expect_err("invalid UTF-8");
        insta::assert_snapshot!(d.render(&source));
    }

    #[test]
    fn valid_utf8_decodes() {
        let s = ddx::decode("ok.ddx", "# café\ny = x".as_bytes().to_vec()).unwrap();
        assert_eq!(s.text, "# café\ny = x");
    }
}

// ---- hostile inputs ------------------------------------------------------------

/// Runs `f` on a thread with a 2 MB stack, as a debug build: anything that
/// recursed on the input's depth would overflow it.
fn small_stack<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the thread panicked (or overflowed its stack)");
}

const DEEP: usize = 100_000;

/// Parses, dumps, re-parses, checks and drops.
fn survive(src: String, want_ok: bool) {
    small_stack(move || {
        let file = parse(&src);
        if let Ok(file) = &file {
            let text = file.to_string();
            let again = parse(&text).expect("the dump re-parses");
            assert!(file.same_structure(&again));
        }
        let result = check(&Source::new("deep", src), None);
        assert_eq!(
            result.is_ok(),
            want_ok,
            "{:?}",
            result.err().map(|d| d.message)
        );
        drop(result);
        drop(file);
    });
}

#[test]
fn deep_parentheses() {
    survive(format!("{}x{}", "(".repeat(DEEP), ")".repeat(DEEP)), true);
}

#[test]
fn deep_unclosed_parentheses() {
    small_stack(|| {
        let src = format!("y = {}x", "(".repeat(DEEP));
        let d = parse(&src).expect_err("unclosed");
        assert!(d.message.contains("end of the input"), "{}", d.message);
        let text = d.render(&Source::new("deep", src));
        assert!(text.contains("is still open"), "{text}");
    });
}

#[test]
fn deep_unary_minus() {
    survive(format!("y = {}x", "-".repeat(DEEP)), true);
}

#[test]
fn deep_power_chain() {
    survive(format!("y = x{}", "^x".repeat(DEEP)), true);
}

#[test]
fn deep_nested_calls() {
    survive(
        format!("y = {}x{}", "sin(".repeat(DEEP), ")".repeat(DEEP)),
        true,
    );
}

#[test]
fn deep_nesting_in_a_model() {
    let depth = DEEP;
    survive(
        format!(
            "data x = [1, 2]\nparam m = {}1{}\nloss C = {}mean(m*x){} + x",
            "(".repeat(depth),
            ")".repeat(depth),
            "-".repeat(depth),
            "^2".repeat(0),
        ),
        false,
    );
}

#[test]
fn ten_megabyte_expression() {
    let term = "sin(x)*y + ";
    let n = 10_000_000 / term.len() + 1;
    let mut src = String::with_capacity(n * term.len() + 1);
    src.push_str("f = ");
    for _ in 0..n {
        src.push_str(term);
    }
    src.push('1');
    assert!(src.len() > 10_000_000);
    small_stack(move || {
        let file = parse(&src).expect("parses");
        assert!(file.to_string().len() > src.len());
        let Ok(Unit::Expr(f)) = ddx::check_file(&file, &src, None) else {
            panic!("did not check")
        };
        assert_eq!(f.vars.len(), 2);
    });
}

#[test]
fn sum_of_a_million_terms() {
    let mut src = String::from("f = x0");
    for i in 1..1_000_000 {
        src.push_str(&format!(" + {}*x{}", i % 7 + 1, i % 1000));
    }
    small_stack(move || {
        let file = parse(&src).unwrap();
        assert_eq!(file.exprs.len(), 1 + 4 * 999_999);
        let Ok(Unit::Expr(f)) = check(&Source::new("sum", src), None) else {
            panic!("did not check")
        };
        assert_eq!(f.vars.len(), 1000);
    });
}

#[test]
fn huge_inline_data() {
    let values: Vec<String> = (0..200_000)
        .map(|i| format!("{}", f64::from(i) * 0.5))
        .collect();
    let src = format!(
        "data x = [{}]\nparam a = 1\nloss C = mean((a - x)^2)",
        values.join(",\n")
    );
    small_stack(move || {
        let m = model(&src);
        assert_eq!(m.rows, 200_000);
        assert_eq!(m.data[0].values[199_999], 99_999.5);
    });
}

#[test]
fn tiny_and_huge_literals() {
    let f = function("f = 1e-320*x + 1.7976931348623157e308");
    assert!(f.graph.topo_order(&[f.root]).len() > 1);
    assert!(parse("f = 1.8e308").is_err());
    assert!(parse("f = 1e-400").is_ok()); // underflows to 0, which is finite
}

// ---- property tests -------------------------------------------------------------

/// Tokens random sequences are built from.
const VOCAB: &[&str] = &[
    "x",
    "y",
    "m",
    "b",
    "C",
    "1",
    "2.5",
    ".5",
    "1e-3",
    "0",
    "+",
    "-",
    "*",
    "/",
    "^",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    ";",
    "\n",
    "data",
    "param",
    "let",
    "loss",
    "train",
    "from",
    "as",
    "\"trial.csv\"",
    "@",
    "'",
    "..",
    "[2]",
    "seed",
    "w[j]",
    "p0 .. p3",
    "\"nope.csv\"",
    "sin",
    "sum",
    "mean",
    "max",
    "log",
    "sgd",
    "adam",
    "newton",
    "lr",
    "epochs",
    "momentum",
    "pi",
    "dosage",
    "forgetfulness",
    "#c\n",
    "1e999",
    "\0",
    "é",
];

fn never_panics(src: &str) {
    let _ = parse(src).map(|f| f.to_string());
    let _ = check(&Source::new("p", src), Some(Path::new("tests/data")))
        .map_err(|d| d.render(&Source::new("p", src)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        match ddx::decode("p", bytes) {
            Ok(s) => never_panics(&s.text),
            Err((d, s)) => { let _ = d.render(&s); }
        }
    }

    #[test]
    fn random_text_never_panics(src in "[ -~\n]{0,120}") {
        never_panics(&src);
    }

    #[test]
    fn random_token_sequences_never_panic(
        toks in proptest::collection::vec(proptest::sample::select(VOCAB), 0..40),
        glue in any::<bool>(),
    ) {
        let src = toks.join(if glue { "" } else { " " });
        never_panics(&src);
    }
}

/// An expression tree built independently of the library, to test the
/// parser against.
#[derive(Clone, Debug)]
enum T {
    Num(f64),
    Var(&'static str),
    Neg(Box<T>),
    Bin(char, Box<T>, Box<T>),
    Call(&'static str, Vec<T>),
    /// `name[subscripts]`
    Index(&'static str, Vec<T>),
    /// `a'`
    Transpose(Box<T>),
    /// `[items]`
    List(Vec<T>),
    /// `name = value`, a call argument
    Named(&'static str, Box<T>),
}

fn tree() -> impl Strategy<Value = T> {
    let leaf = prop_oneof![
        prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(2.5),
            Just(0.1),
            Just(1e-7),
            Just(3e300),
            0.0..1e6f64
        ]
        .prop_map(T::Num),
        proptest::sample::select(&["x", "y", "z_1", "pi", "alpha"][..]).prop_map(T::Var),
    ];
    leaf.prop_recursive(6, 64, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| T::Neg(Box::new(a))),
            (
                proptest::sample::select(&['+', '-', '*', '/', '^'][..]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(o, a, b)| T::Bin(o, Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| T::Call("sin", vec![a])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| T::Call("max", vec![a, b])),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| T::Call("normal", vec![a, T::Named("seed", Box::new(b))])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| T::Bin('@', Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| T::Transpose(Box::new(a))),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| T::Index("W", v)),
            proptest::collection::vec(inner, 0..3).prop_map(T::List),
        ]
    })
}

fn num_text(v: f64) -> String {
    let mut s = String::new();
    ddx::write_number(&mut s, v);
    s
}

/// Fully parenthesised, in the dump's format.
fn full(t: &T) -> String {
    match t {
        T::Num(v) => num_text(*v),
        T::Var(v) => v.to_string(),
        T::Neg(a) => format!("(-{})", full(a)),
        T::Bin(o, a, b) => format!("({} {o} {})", full(a), full(b)),
        T::Call(f, args) => format!(
            "{f}({})",
            args.iter().map(full).collect::<Vec<_>>().join(", ")
        ),
        T::Index(w, subs) => format!(
            "{w}[{}]",
            subs.iter().map(full).collect::<Vec<_>>().join(", ")
        ),
        T::Transpose(a) => format!("({}')", full(a)),
        T::List(items) => format!(
            "[{}]",
            items.iter().map(full).collect::<Vec<_>>().join(", ")
        ),
        T::Named(n, a) => format!("{n} = {}", full(a)),
    }
}

/// Binding strength: + - 1, * / @ 2, unary minus 3, ^ 4, transposes and
/// atoms 5.
fn prec(t: &T) -> u8 {
    match t {
        T::Bin('+' | '-', ..) => 1,
        T::Bin('*' | '/' | '@', ..) => 2,
        T::Neg(_) => 3,
        T::Bin(..) => 4,
        _ => 5,
    }
}

/// With as few parentheses as the documented precedence allows.
fn minimal(t: &T) -> String {
    let wrap = |s: String, yes: bool| if yes { format!("({s})") } else { s };
    match t {
        T::Num(v) => num_text(*v),
        T::Var(v) => v.to_string(),
        T::Neg(a) => format!("-{}", wrap(minimal(a), prec(a) < 3)),
        T::Bin('^', a, b) => format!(
            "{}^{}",
            wrap(minimal(a), prec(a) < 5),
            wrap(minimal(b), prec(b) < 3)
        ),
        T::Bin(o, a, b) => {
            let p = prec(t);
            format!(
                "{} {o} {}",
                wrap(minimal(a), prec(a) < p),
                wrap(minimal(b), prec(b) <= p)
            )
        }
        T::Call(f, args) => format!(
            "{f}({})",
            args.iter().map(minimal).collect::<Vec<_>>().join(", ")
        ),
        T::Index(w, subs) => format!(
            "{w}[{}]",
            subs.iter().map(minimal).collect::<Vec<_>>().join(", ")
        ),
        T::Transpose(a) => format!("{}'", wrap(minimal(a), prec(a) < 5)),
        T::List(items) => format!(
            "[{}]",
            items.iter().map(minimal).collect::<Vec<_>>().join(", ")
        ),
        T::Named(n, a) => format!("{n} = {}", minimal(a)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn minimal_parentheses_parse_to_the_intended_tree(t in tree()) {
        let src = format!("f = {}", minimal(&t));
        prop_assert_eq!(dump(&src), format!("f = {}\n", full(&t)));
    }

    #[test]
    fn dump_reparses_to_the_same_ast(t in tree(), u in tree()) {
        let src = format!(
            "data d = [{}, 1]\nparam a = {}\nlet l = {}\nloss C = {}\ntrain sgd(lr = {}, epochs = 1)\n\
             data m[2] = [[{}, 1], {}]\nparam w[3, 0.5] = {}, b = 1\nlet z[k, j] = {}\nloss L[k] = {}\n\
             data px[p0 .. p3], y, q[a, b..c, d] from \"f.csv\"\n",
            minimal(&t), minimal(&u), minimal(&t), minimal(&u), minimal(&t),
            minimal(&t), minimal(&u), minimal(&t), minimal(&u), minimal(&t)
        );
        let first = parse(&src).unwrap();
        let text = first.to_string();
        let second = parse(&text).unwrap();
        prop_assert!(first.same_structure(&second));
        prop_assert_eq!(second.to_string(), text);
    }
}
