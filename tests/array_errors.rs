//! Every kind of error in array models, as a user reads it, through the
//! real binary: each case is a model file given to `ddx check` and to
//! `ddx diff`, which must both exit 2 with the same message, located at
//! `file:line:col` and naming what is wrong (both shapes for a mismatch);
//! one snapshot per kind holds the whole message. Then hostile array
//! inputs, each with a time bound: a clean error or a correct result,
//! never a panic.

mod common;

use common::cli::{ddx_in, output, shared_dir, Run, NEVER_ON_STDERR};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The scratch directory every case runs in, with the CSV files the cases
/// read.
fn dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = shared_dir("array-errors");
        let files: &[(&str, &str)] = &[
            ("frac.csv", "a,b,lab\n1,2,0\n3,4,1.5\n5,6,2\n"),
            ("big.csv", "a,b,lab\n1,2,0\n3,4,1\n5,6,3\n"),
            ("neg.csv", "a,b,lab\n1,2,-1\n3,4,1\n"),
            ("cols.csv", "p0,p1,p2,q3,y\n1,2,3,4,5\n"),
            ("padded.csv", "p00,p01,p02,y\n1,2,3,4\n2,1,0,1\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    })
}

/// Writes `text` as `NAME.ddx`, runs `ddx check` and `ddx diff` on it,
/// and checks that both exit 2 with one message that starts at
/// `location` (`line:col` of the model, or `file.csv:line:col`) and
/// contains every one of `words`. Returns the message.
fn refused(name: &str, text: &str, location: &str, words: &[&str]) -> String {
    let file = format!("{name}.ddx");
    std::fs::write(dir().join(&file), text).unwrap();
    let mut messages = Vec::new();
    for command in ["check", "diff"] {
        let args = [command, file.as_str()];
        let start = Instant::now();
        let out = output(ddx_in(dir(), &args).timeout(Duration::from_secs(30)));
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ddx {args:?} hung"
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().expect("exits, not killed by a signal");
        assert_eq!(code, 2, "ddx {args:?} exit {code}:\n{stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "ddx {args:?}");
        for bad in NEVER_ON_STDERR
            .into_iter()
            .chain(["backtrace", "Some(", "Err("])
        {
            assert!(!stderr.contains(bad), "{args:?} printed `{bad}`:\n{stderr}");
        }
        let at = if location.contains(".csv:") {
            location.to_string()
        } else {
            format!("{file}:{location}")
        };
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&at) && first.contains(": error: "),
            "ddx {args:?}: expected an error at {at}:\n{stderr}"
        );
        for w in words {
            assert!(
                stderr.contains(w),
                "ddx {args:?}: `{w}` not named:\n{stderr}"
            );
        }
        messages.push(stderr);
    }
    assert_eq!(
        messages[0], messages[1],
        "check and diff report the same error"
    );
    messages.pop().unwrap()
}

macro_rules! case {
    ($name:ident, $text:expr, $location:expr, [$($word:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            let message = refused(stringify!($name), $text, $location, &[$($word),*]);
            insta::assert_snapshot!(stringify!($name), message);
        }
    };
}

case!(
    elementwise_shape_mismatch,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam a[4] = 0\nparam w[3] = 0\nlet z = w + a\nloss L = mean(sum(j, z[j]) - y)\n",
    "5:9",
    ["shape [3]", "shape [4]"]
);

case!(
    matmul_inner_dimension,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam A[2, 4] = 0\nloss L = mean(sum(k, sum(j, A[k, j])) + dot(A @ x, A @ x) - y)\n",
    "4:",
    ["shape [2, 4]", "shape [3]", "inner dimensions 4 and 3"]
);

case!(
    matmul_of_a_scalar,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam b = 0\nparam w[3] = 0\nloss L = mean(dot(w, b @ x) - y)\n",
    "5:",
    ["`@`", "a scalar", "shape [3]"]
);

case!(
    dot_of_a_matrix,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam A[3, 3] = 0\nloss L = mean(dot(A, x) - y)\n",
    "4:19",
    ["`dot` takes two vectors", "shape [3, 3]"]
);

case!(
    dot_of_different_lengths,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[4] = 0\nloss L = mean(dot(w, x) - y)\n",
    "4:",
    ["shape [4]", "shape [3]"]
);

case!(
    transpose_of_a_scalar,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam b = 0\nloss L = mean(transpose(b) - y)\n",
    "4:15",
    ["transpose needs a matrix", "a scalar"]
);

case!(
    transpose_mismatch,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam A[2, 3] = 0\nlet z = A' @ x\nloss L = mean(sum(j, z[j]) - y)\n",
    "4:9",
    ["shape [3, 2]", "shape [3]"]
);

case!(
    wrong_number_of_subscripts,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam A[3, 3] = 0\nloss L = mean(sum(j, A[j]*x[j]) - y)\n",
    "4:22",
    ["`A` has 2 dimensions", "shape [3, 3]", "1 subscript"]
);

case!(
    index_with_two_extents,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam A[2, 3] = 0\nloss L = mean(sum(j, A[j, j]*x[j]) - y)\n",
    "4:27",
    ["index `j`", "2 values", "3"]
);

case!(
    let_index_with_two_extents,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam A[2, 3] = 0\nlet z[k] = A[k, 0] + x[k]\nloss L = mean(sum(k, z[k]) - y)\n",
    "4:",
    ["index `k`", "2 values", "3"]
);

case!(
    unbound_index,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(w[q]*x[0] - y)\n",
    "4:17",
    ["`q`"]
);

case!(
    unused_index_in_sum,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(sum(j, 5)*w[0] - y)\n",
    "4:19",
    ["index `j` is not used"]
);

case!(
    unused_index_in_let,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nlet z[k] = 3\nloss L = mean(z*w[0] - y)\n",
    "4:7",
    ["index `k` is not used"]
);

case!(
    index_used_as_a_value,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(sum(j, w[j]*j) - y)\n",
    "4:27",
    ["index `j` is used as a value"]
);

case!(
    constant_subscript_out_of_range,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(w[3] - y)\n",
    "4:17",
    ["subscript 3 is out of range", "shape [3]", "0 to 2"]
);

case!(
    constant_subscript_not_whole,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(w[1.5] - y)\n",
    "4:17",
    ["whole number", "1.5"]
);

case!(
    negative_subscript,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(w[-1] - y)\n",
    "4:17",
    ["subscript"]
);

case!(
    expression_subscript,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(sum(j, w[j + 1]) - y)\n",
    "4:",
    ["subscript"]
);

case!(
    array_as_a_subscript,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(w[x] - y)\n",
    "4:17",
    ["`x` is an array", "subscript"]
);

case!(
    param_as_a_subscript,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nparam b = 1\nloss L = mean(w[b] - y)\n",
    "5:17",
    ["`b` cannot be a subscript"]
);

case!(
    scalar_subscripted,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nparam b = 1\nloss L = mean(b[0]*w[0] - y)\n",
    "5:15",
    ["`b` is a scalar"]
);

case!(
    label_not_whole_in_csv,
    "data x[a, b], lab from \"frac.csv\"\nparam W[3, 2] = 0\nloss L = mean(logsumexp(k, sum(j, W[k, j]*x[j])) - sum(j, W[lab, j]*x[j]))\n",
    "frac.csv:3:5",
    ["class label 1.5", "`lab`", "0 to 2"]
);

case!(
    label_out_of_range_in_csv,
    "data x[a, b], lab from \"big.csv\"\nparam W[3, 2] = 0\nloss L = mean(logsumexp(k, sum(j, W[k, j]*x[j])) - sum(j, W[lab, j]*x[j]))\n",
    "big.csv:4:5",
    ["class label 3", "`lab`", "0 to 2"]
);

case!(
    label_negative_in_csv,
    "data x[a, b], lab from \"neg.csv\"\nparam W[3, 2] = 0\nloss L = mean(sum(j, W[lab, j]*x[j]))\n",
    "neg.csv:2:5",
    ["class label -1"]
);

case!(
    label_out_of_range_inline,
    "data x[2] = [[1, 2], [3, 4]]\ndata lab = [0, 5]\nparam W[3, 2] = 0\nloss L = mean(sum(j, W[lab, j]*x[j]))\n",
    "2:16",
    ["class label 5", "0 to 2"]
);

case!(
    label_not_whole_inline,
    "data x[2] = [[1, 2], [3, 4]]\ndata lab = [0.5, 1]\nparam W[3, 2] = 0\nloss L = mean(sum(j, W[lab, j]*x[j]))\n",
    "2:13",
    ["class label 0.5"]
);

case!(
    dimension_zero,
    "data y = [1]\nparam w[0] = 0\nloss L = mean(y)\n",
    "2:9",
    ["dimension", "not 0"]
);

case!(
    dimension_not_whole,
    "data y = [1]\nparam w[2.5] = 0\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:9",
    ["dimension", "2.5"]
);

case!(
    dimension_negative,
    "data y = [1]\nparam w[-2] = 0\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:9",
    ["expected a number"]
);

case!(
    dimension_a_name,
    "data y = [1]\nparam w[n] = 0\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:9",
    ["expected a number"]
);

case!(
    dimension_too_large,
    "data y = [1]\nparam w[1e9] = 0\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:9",
    ["dimension", "1000000000"]
);

case!(
    array_too_large,
    "data y = [1]\nparam w[100000, 100000] = 0\nloss L = mean(sum(j, sum(k, w[j, k])) - y)\n",
    "2:7",
    ["10000000000 elements"]
);

case!(
    data_dimension_zero,
    "data x[0] = [[]]\ndata y = [1]\nparam w = 0\nloss L = mean(w - y)\n",
    "1:8",
    ["dimension", "not 0"]
);

case!(
    list_too_short,
    "data y = [1]\nparam w[3] = [1, 2]\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:14",
    ["3 items", "found 2"]
);

case!(
    list_flat_for_a_matrix,
    "data y = [1]\nparam W[2, 2] = [1, 2, 3, 4]\nloss L = mean(sum(j, W[j, 0]) - y)\n",
    "2:17",
    ["2 items", "found 4"]
);

case!(
    list_ragged_rows,
    "data y = [1]\nparam W[2, 2] = [[1, 2], [3]]\nloss L = mean(sum(j, W[j, 0]) - y)\n",
    "2:26",
    ["2 items", "found 1"]
);

case!(
    list_empty,
    "data y = [1]\nparam w[2] = []\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:14",
    ["2 items", "found 0"]
);

case!(
    normal_negative_sd,
    "data y = [1]\nparam w[3] = normal(0, -1)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:14",
    ["standard deviation", "-1"]
);

case!(
    uniform_empty_range,
    "data y = [1]\nparam w[3] = uniform(1, 0)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:14",
    ["lo <= hi", "1 > 0"]
);

case!(
    initialiser_unknown_option,
    "data y = [1]\nparam w[3] = normal(0, 1, sed = 3)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:27",
    ["no option `sed`"]
);

case!(
    seed_not_whole,
    "data y = [1]\nparam w[3] = normal(0, 1, seed = 1.5)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:34",
    ["seed", "1.5"]
);

case!(
    seed_negative,
    "data y = [1]\nparam w[3] = uniform(0, 1, seed = -1)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:35",
    ["seed", "-1"]
);

case!(
    seed_too_large,
    "data y = [1]\nparam w[3] = normal(0, 1, seed = 1e30)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:34",
    ["seed"]
);

case!(
    normal_with_one_value,
    "data y = [1]\nparam w[3] = normal(0)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:14",
    ["takes 2 values", "1 value"]
);

case!(
    normal_with_three_values,
    "data y = [1]\nparam w[3] = normal(0, 1, 2)\nloss L = mean(sum(j, w[j]) - y)\n",
    "2:14",
    ["takes 2 values", "3 values"]
);

case!(
    column_range_prefixes_differ,
    "data x[p0 .. q3], y from \"cols.csv\"\nparam w[4] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:8",
    ["`p0 .. q3` is not a range"]
);

case!(
    column_range_counts_down,
    "data x[p2 .. p0], y from \"cols.csv\"\nparam w[3] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:8",
    ["`p2 .. p0` is not a range"]
);

case!(
    column_range_not_numbered,
    "data x[a .. b], y from \"cols.csv\"\nparam w[2] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:8",
    ["numbered columns", "`a .. b`"]
);

case!(
    column_range_too_long,
    "data x[p0 .. p67108863], y from \"cols.csv\"\nparam w[4] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:8",
    ["67108864 columns", "at most"]
);

case!(
    column_range_past_the_header,
    "data x[p0 .. p5], y from \"cols.csv\"\nparam w[6] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:8",
    ["no column `p3`"]
);

case!(
    vector_column_missing_in_csv,
    "data x[p0, p1, zz], y from \"cols.csv\"\nparam w[3] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:16",
    ["no column `zz`"]
);

case!(
    inline_row_too_short,
    "data x[2] = [[1, 2], [3]]\ndata y = [1, 2]\nparam w[2] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:22",
    ["2 items", "found 1"]
);

case!(
    inline_rows_not_lists,
    "data x[2] = [1, 2]\ndata y = [1, 2]\nparam w[2] = 0\nloss L = mean(dot(w, x) - y)\n",
    "1:14",
    ["2 items"]
);

case!(
    loss_is_an_array,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam W[2, 3] = 0\nloss L = W @ x\n",
    "4:10",
    ["loss must be one number", "shape [2]"]
);

case!(
    indices_on_the_loss,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L[k] = w[k]\n",
    "4:6",
    ["the loss is one number and has no indices"]
);

case!(
    whole_array_under_indices,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nlet z[k] = w\nloss L = mean(z[0] - y)\n",
    "4:12",
    ["whole array (shape [3])", "names its element"]
);

case!(
    index_named_like_a_param,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nparam k = 1\nlet z[k] = w[k]\nloss L = mean(z[0]*k - y)\n",
    "5:7",
    ["`k` is declared as a value"]
);

case!(
    index_named_twice,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam W[3, 3] = 0\nlet z[k, k] = W[k, k]\nloss L = mean(z[0, 0] - y)\n",
    "4:10",
    ["index `k` is named twice"]
);

case!(
    list_in_an_expression,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(dot(w, [1, 2, 3]) - y)\n",
    "4:",
    ["list"]
);

case!(
    named_argument_in_an_expression,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(dot(w, x) + exp(seed = 1) - y)\n",
    "4:",
    ["named argument"]
);

case!(
    delta_without_a_known_range,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(delta(0, 1)*w[0] - y)\n",
    "4:15",
    ["`delta`"]
);

case!(
    softmax_vector_into_a_scalar,
    "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\nparam w[3] = 0\nloss L = mean(softmax(k, w[k]) - y)\n",
    "4:",
    ["loss must be one number", "shape [3]"]
);

// ---- hostile inputs: a clean error or a correct result, in bounded time -------

/// Runs `ddx ARGS` in the cases' directory; fails if it takes more than
/// `limit` seconds or prints a panic.
fn run(args: &[&str], limit: u64) -> Run {
    let start = Instant::now();
    let out = output(ddx_in(dir(), args).timeout(Duration::from_secs(limit)));
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        out.status.code().is_some() || seconds < limit as f64,
        "ddx {args:?} did not finish within {limit} s"
    );
    Run::new(args, out)
}

/// Writes `text` as `NAME` in the cases' directory; returns `NAME`.
fn model(name: &'static str, text: &str) -> &'static str {
    std::fs::write(dir().join(name), text).unwrap();
    name
}

const ROWS: &str = "data x[3] = [[1, 2, 3], [4, 5, 6]]\ndata y = [1, 2]\n";

/// Regression: a gradient that does not depend on the element (`sum(j,
/// w[j])` gives 1 for every `j`) panicked in the interpreter ("output
/// indices are the node's free indices"); it is repeated over them.
#[test]
fn gradient_constant_over_the_elements() {
    let f = model(
        "constant_gradient.ddx",
        "data y = [1]\nparam w[3] = 0, V[2, 2] = 0\nloss L = mean(sum(j, w[j]) - y) + 2*sum(i, sum(j, V[i, j]))\n",
    );
    let r = run(&["check", f], 30);
    let text = r.ok();
    assert!(text.contains("ok: all 7 gradient elements agree"), "{text}");
    let r = run(&["check", f, "--json"], 30);
    assert!(r.ok().contains("[[2.0,2.0],[2.0,2.0]]"), "{}", r.stdout);
    assert_eq!(
        run(&["diff", f], 30).ok(),
        "dL/dw[j] = 1\ndL/dV[i, j] = 2\n"
    );
}

#[test]
fn array_models_compile_and_train() {
    let f = model(
        "to_compile.ddx",
        &format!("{ROWS}param w[3] = 0\nloss L = mean((dot(w, x) - y)^2)\ntrain adam(lr = 0.1, epochs = 5)\n"),
    );
    for stage in ["ast", "graph", "grad", "schedule", "clif", "asm"] {
        assert!(!run(&["emit", f, "--stage", stage], 30).ok().is_empty());
    }
    assert!(run(&["train", f], 30).ok().contains("Final cost L"));
}

/// Regression: `p00 .. p02` named the columns p0, p1, p2; zero-padded
/// names keep their width.
#[test]
fn zero_padded_column_range() {
    let f = model(
        "padded.ddx",
        "data x[p00 .. p02], y from \"padded.csv\"\nparam w[3] = 0\nloss L = mean((dot(w, x) - y)^2)\n",
    );
    assert!(run(&["check", f], 30).ok().contains("ok: all 3"));
}

/// Regression: a range of 2^26 columns was expanded name by name (40 s
/// in a debug build) before the CSV header showed the first was missing.
#[test]
fn huge_column_range_is_refused_at_once() {
    let f = model(
        "huge_range.ddx",
        "data x[p0 .. p67108863], y from \"cols.csv\"\nparam w = 0\nloss L = mean(w - y)\n",
    );
    let r = run(&["check", f], 10);
    assert!(
        r.failed(2).contains("a range names at most 1048576"),
        "{}",
        r.stderr
    );
}

/// Regression: counting the operations hashed each array as a tree, so a
/// nested softmax (which uses its body twice) took time exponential in
/// its depth: 24 deep took a minute.
#[test]
fn nested_softmax_is_not_exponential() {
    let depth = 40;
    let f = model(
        "nested_softmax.ddx",
        &format!(
            "{ROWS}param w[3] = 0\nloss L = mean(sum(k, {}w[k]*x[k]{}) - y)\n",
            "softmax(k, ".repeat(depth),
            ")".repeat(depth)
        ),
    );
    assert!(run(&["diff", f], 60).ok().contains("dL/dw[j] = "));
    let r = run(&["check", f, "--json"], 60);
    assert!(r.ok().contains("\"loss\""), "{}", r.stdout);
}

/// Regression: the printer tested every candidate index name against all
/// names handed out and all index names of the graph, so a chain of 100
/// matrix products took seconds to print.
#[test]
fn a_chain_of_matrix_products_prints_quickly() {
    let f = model(
        "matmul_chain.ddx",
        &format!(
            "{ROWS}param A[3, 3] = 0\nparam w[3] = 0\nloss L = mean(dot(w, {}x) - y)\n",
            "A @ ".repeat(100)
        ),
    );
    let r = run(&["diff", f], 60);
    assert!(r.ok().contains("\ndL/dA[i, j] = "), "{}", r.stdout);
}

/// 100,000 nested transposes (of a name with `'`, and as calls) check in
/// linear time; 100,000 nested subscripts, and 100,000 nested sums, are
/// refused at once.
#[test]
fn deep_nesting_100k() {
    let n = 100_000;
    let head = format!("{ROWS}param A[3, 3] = 0\nparam w[3] = 0\n");
    let primes = model(
        "deep_primes.ddx",
        &format!("{head}loss L = mean(dot(w, A{} @ x) - y)\n", "'".repeat(n)),
    );
    assert!(run(&["check", primes], 60).ok().contains("ok: all 12"));
    let calls = model(
        "deep_transpose.ddx",
        &format!(
            "{head}loss L = mean(dot(w, {}A{} @ x) - y)\n",
            "transpose(".repeat(n),
            ")".repeat(n)
        ),
    );
    assert!(run(&["check", calls], 60).ok().contains("ok: all 12"));
    let subscripts = model(
        "deep_subscripts.ddx",
        &format!(
            "{head}loss L = mean(A[0, 0] + {}0{} - y)\n",
            "w[".repeat(n),
            "]".repeat(n)
        ),
    );
    let r = run(&["check", subscripts], 60);
    assert!(
        r.failed(2).contains("a subscript is an index name"),
        "{}",
        r.stderr
    );
    let sums = model(
        "deep_sums.ddx",
        &format!(
            "{head}loss L = mean(A[0, 0] + {}w[j]{} - y)\n",
            "sum(j, ".repeat(n),
            ")".repeat(n)
        ),
    );
    let r = run(&["check", sums], 60);
    assert!(
        r.failed(2).contains("nest more than 32 deep"),
        "{}",
        r.stderr
    );
}

/// `max(j, e)` reduces over a new index `j`, but is the scalar function
/// when `j` is declared; `softmax(k, e)` over an index in scope gives an
/// element, over a new one a vector; `delta` compares subscripts.
#[test]
fn index_functions_and_their_scalar_namesakes() {
    let new = model(
        "max_new.ddx",
        &format!("{ROWS}param w[3] = 0\nloss L = mean(max(j, w[j]*x[j]) - y)\n"),
    );
    assert!(run(&["diff", new], 30).ok().contains("max(k, w[k]*x[k])"));
    let declared = model(
        "max_declared.ddx",
        &format!("{ROWS}param w[3] = 0\nparam j = 1\nloss L = mean(max(j, w[j]) - y)\n"),
    );
    let r = run(&["check", declared], 30);
    assert!(
        r.failed(2).contains("`j` cannot be a subscript"),
        "{}",
        r.stderr
    );
    let in_scope = model(
        "softmax_in_scope.ddx",
        &format!("{ROWS}param w[3] = 0\nlet p[k] = softmax(k, w[k]*x[k])\nloss L = mean(sum(k, p[k]*x[k]) - y)\n"),
    );
    let as_vector = model(
        "softmax_vector.ddx",
        &format!(
            "{ROWS}param w[3] = 0\nlet p = softmax(k, w[k]*x[k])\nloss L = mean(dot(p, x) - y)\n"
        ),
    );
    let a = run(&["check", in_scope, "--json"], 30);
    let b = run(&["check", as_vector, "--json"], 30);
    assert_eq!(a.ok(), b.ok(), "the same model written two ways");
    let delta = model(
        "delta.ddx",
        &format!("{ROWS}param w[3] = 0\nloss L = mean(sum(k, w[k]*delta(k, 1)) - y)\n"),
    );
    assert_eq!(run(&["diff", delta], 30).ok(), "dL/dw[j] = delta(j, 1)\n");
    let bad = model(
        "delta_out_of_range.ddx",
        &format!("{ROWS}param w[3] = 0\nloss L = mean(sum(k, w[k]*delta(k, 7)) - y)\n"),
    );
    let r = run(&["check", bad], 30);
    assert!(
        r.failed(2)
            .starts_with("delta_out_of_range.ddx:4:36: error: subscript 7 is out of range"),
        "{}",
        r.stderr
    );
}

/// A bad label in the last row of a large CSV file is found and located.
#[test]
fn bad_label_at_the_end_of_a_large_file() {
    let rows = 200_000;
    let mut csv = String::from("a,b,lab\n");
    for r in 0..rows {
        csv.push_str(&format!("{},{},{}\n", r % 7, r % 3, r % 3));
    }
    csv.push_str("1,2,3\n");
    std::fs::write(dir().join("large.csv"), csv).unwrap();
    let f = model(
        "large_labels.ddx",
        "data x[a, b], lab from \"large.csv\"\nparam W[3, 2] = 0\nloss L = mean(logsumexp(k, sum(j, W[k, j]*x[j])) - sum(j, W[lab, j]*x[j]))\n",
    );
    let r = run(&["check", f], 60);
    let line = rows + 2;
    assert!(
        r.failed(2)
            .starts_with(&format!("large.csv:{line}:5: error: class label 3")),
        "{}",
        r.stderr
    );
}

/// A model whose loss is not finite fails the check (exit 1), with the
/// values shown and where the first non-finite value comes from, as for
/// scalar models; not a panic.
#[test]
fn not_finite_loss_fails_the_check() {
    let f = model(
        "ln_zero.ddx",
        &format!("{ROWS}param w[3] = 0\nloss L = mean(sum(k, ln(w[k])*x[k]) - y)\n"),
    );
    let r = run(&["check", f], 30);
    let err = r.failed(1);
    assert!(
        err.starts_with(
            "error: the loss or its gradient is not finite at the initial params\n\
             ln_zero.ddx:4:10: note: the first non-finite value comes from `loss L` at data row 1"
        ),
        "{err}"
    );
    assert!(r.stdout.contains("loss L = -inf"), "{}", r.stdout);
}

/// Names outside ASCII are refused where they stand.
#[test]
fn unicode_names_are_refused() {
    let f = model(
        "unicode.ddx",
        "data y = [1]\nparam \u{3c9}[3] = 0\nloss L = mean(sum(k, \u{3c9}[k]) - y)\n",
    );
    let r = run(&["check", f], 30);
    assert!(
        r.failed(2)
            .starts_with("unicode.ddx:2:7: error: unexpected character"),
        "{}",
        r.stderr
    );
}
