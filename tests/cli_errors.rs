//! Every kind of error the command line reports, as a user reads it: one
//! snapshot per kind, with the command, its exit status and its standard
//! error. (The front end's located errors, one per kind, are snapshots in
//! tests/frontend.rs.) No message may show a panic, a backtrace or Rust
//! debug output, and every failure exits 1 (training diverged, a check
//! failed) or 2 (bad input or usage, clap's errors included).

mod common;

use common::cli::{ddx_in, output, shared_dir, wide_model, NEVER_ON_STDERR};
use std::fs;
use std::path::PathBuf;

/// The scratch directory every case runs in, with its model files.
fn dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = shared_dir("cli-errors");
        let files: &[(&str, &str)] = &[
            (
                "model.ddx",
                "data x = [0, 1, 2, 3]\ndata y = [1, 3, 5, 7]\nparam m = 0.5, b = 0\n\
                 loss C = mean((m*x + b - y)^2)\ntrain sgd(lr = 0.05, epochs = 10)\n",
            ),
            (
                "no_train.ddx",
                "data x = [0, 1, 2]\nparam w = 1\nloss C = mean((w*x - 1)^2)\n",
            ),
            ("expr.ddx", "y = x^2\n"),
            ("empty.ddx", "# nothing yet\n"),
            (
                "ln.ddx",
                "data x = [0.5, 1, 2, 3, 4]\ndata y = [1, 2, 3, 4, 5]\nparam a = 1, b = 0\n\
                 let z = ln(abs(x - 3))\nlet yhat = a*z + b\nloss C = mean((yhat - y)^2)\n\
                 train sgd(lr = 0.01, epochs = 10)\n",
            ),
            (
                "blowup.ddx",
                "data x = [1, 2, 3]\ndata y = [2, 4, 6]\nparam w = 1\n\
                 loss C = mean((w*x - y)^2)\ntrain sgd(lr = 10, epochs = 1000)\n",
            ),
            (
                "sqrt.ddx",
                "data x = [0, 1, 2]\nparam w = 0\nlet r = sqrt(w*x)\nloss C = mean(r)\n\
                 train sgd(lr = 0.1, epochs = 5)\n",
            ),
            (
                "singular.ddx",
                "data y = [1, 2, 3]\nparam a = 0, b = 0\nloss C = mean((a + b - y)^2)\n\
                 train newton(epochs = 5)\n",
            ),
            (
                "missing_csv.ddx",
                "data x, y from \"nowhere.csv\"\nparam w = 1\nloss C = mean((w*x - y)^2)\n\
                 train sgd(lr = 0.1, epochs = 5)\n",
            ),
            (
                "bad_cell.ddx",
                "data x, y from \"bad_cell.csv\"\nparam w = 1\nloss C = mean((w*x - y)^2)\n\
                 train sgd(lr = 0.1, epochs = 5)\n",
            ),
            ("bad_cell.csv", "x,y\n1,2\n2,four\n3,6\n"),
            (
                "ragged.ddx",
                "data x, y from \"ragged.csv\"\nparam w = 1\nloss C = mean((w*x - y)^2)\n\
                 train sgd(lr = 0.1, epochs = 5)\n",
            ),
            ("ragged.csv", "x,y\n1,2\n2\n3,6\n"),
            (
                "logged.ddx",
                "data x = [0, 1, 2, 3]\ndata y = [1, 3, 5, 7]\nparam m = 0.5, b = 0\n\
                 loss C = mean((m*x + b - y)^2)\ntrain sgd(lr = 0.05, epochs = 10)\n",
            ),
            // as a Windows editor saves it: a byte order mark, CRLF line breaks
            (
                "windows.ddx",
                "\u{feff}data x = [1, 2]\r\nparam m = 1\r\nloss C = mean((m*x - 1)^2 + q)\r\n\
                 train sgd(lr = 0.1, epochs = 2)\r\n",
            ),
            (
                "crlf_csv.ddx",
                "data x, y from \"crlf.csv\"\nparam w = 1\nloss C = mean((w*x - y)^2)\n\
                 train sgd(lr = 0.1, epochs = 5)\n",
            ),
            ("crlf.csv", "x,y\r\n1,2\r\n3,4\r\n5,abc\r\n7,8\r\n"),
            (
                "binary_csv.ddx",
                "data x, y from \"binary.csv\"\nparam w = 1\nloss C = mean((w*x - y)^2)\n\
                 train sgd(lr = 0.1, epochs = 5)\n",
            ),
            // control characters and an escape sequence in the header
            ("binary.csv", "\u{1b}[31mx\0\u{7},\u{1}\n1,2\n"),
        ];
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
        // a loss whose kernel is over the size limit
        let deep = 25_000;
        let loss = format!("{}w*x{}", "sin(".repeat(deep), ")".repeat(deep));
        fs::write(
            dir.join("huge.ddx"),
            format!(
                "data x = [1, 2]\nparam w = 0.5\nloss C = mean({loss})\ntrain sgd(lr = 0.1, epochs = 2)\n"
            ),
        )
        .unwrap();
        // newton over more params than it supports
        fs::write(
            dir.join("newton_wide.ddx"),
            wide_model(
                1001,
                "0",
                |i| format!("p{i}"),
                "data y = [1, 2]",
                "train newton(epochs = 2)",
            ),
        )
        .unwrap();
        dir
    })
    .clone()
}

/// `$ ddx ARGS`, the exit status and standard error, for a snapshot.
fn transcript(args: &[&str]) -> String {
    let out = output(ddx_in(dir(), args));
    let code = out.status.code().expect("exits, not killed by a signal");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        code == 1 || code == 2,
        "exit {code} for {args:?}:\n{stderr}"
    );
    for bad in NEVER_ON_STDERR
        .into_iter()
        .chain(["backtrace", "Some(", "Err("])
    {
        assert!(!stderr.contains(bad), "{args:?} printed `{bad}`:\n{stderr}");
    }
    assert!(
        stderr.starts_with("error: ") || stderr.contains(": error: "),
        "{stderr}"
    );
    format!("$ ddx {}\nexit {code}\n{stderr}", args.join(" "))
}

macro_rules! case {
    ($name:ident, [$($arg:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), transcript(&[$($arg),*]));
        }
    };
}

// ---- usage (clap) -----------------------------------------------------------------

case!(usage_unknown_command, ["frob"]);
case!(usage_missing_input, ["diff"]);
case!(usage_unknown_option, ["diff", "x^2", "--frob"]);
case!(usage_order_out_of_range, ["diff", "x^2", "--order", "0"]);
case!(usage_unknown_format, ["diff", "x^2", "--format", "xml"]);
case!(usage_every_zero, ["train", "model.ddx", "--every", "0"]);
case!(usage_threads_zero, ["train", "model.ddx", "--threads", "0"]);
case!(
    usage_epochs_not_a_number,
    ["train", "model.ddx", "--epochs", "ten"]
);
case!(
    usage_unknown_stage,
    ["emit", "model.ddx", "--stage", "llvm"]
);

// ---- files ------------------------------------------------------------------------

case!(file_missing, ["train", "nowhere.ddx"]);
case!(file_missing_for_diff, ["diff", "nowhere.ddx"]);
case!(file_is_a_directory, ["train", "."]);
case!(model_file_empty, ["train", "empty.ddx"]);
case!(train_without_train_line, ["train", "no_train.ddx"]);
case!(train_given_an_expression, ["train", "expr.ddx"]);
case!(check_given_an_expression, ["check", "expr.ddx"]);

// ---- options that the command checks ------------------------------------------------

case!(at_without_value, ["diff", "y = x^2", "--at", "x"]);
case!(at_not_a_number, ["diff", "y = x^2", "--at", "x=abc"]);
case!(at_not_finite, ["diff", "y = x^2", "--at", "x=1e999"]);
case!(at_unknown_variable, ["diff", "y = x^2", "--at", "z=1"]);
case!(at_data_column, ["diff", "model.ddx", "--at", "x=1"]);
case!(wrt_unknown_param, ["diff", "model.ddx", "--wrt", "n"]);
case!(wrt_data_column, ["diff", "model.ddx", "--wrt", "x"]);
case!(wrt_not_a_name, ["diff", "y = x^2", "--wrt", "2x"]);
case!(lr_negative, ["train", "model.ddx", "--lr", "-1"]);
case!(lr_for_newton, ["train", "singular.ddx", "--lr", "0.1"]);
case!(order_grows_too_large, ["diff", "f = x^x", "--order", "50"]);

case!(at_given_twice, ["diff", "y = x^2", "--at", "x=1,x=2"]);
case!(wrt_a_constant, ["diff", "y = x^2", "--wrt", "pi"]);
case!(wrt_a_function, ["diff", "y = x^2", "--wrt", "sin"]);
case!(wrt_the_function_itself, ["diff", "y = x^2", "--wrt", "y"]);
case!(diff_of_a_constant, ["diff", "y = pi/2"]);
case!(
    epochs_over_the_limit,
    ["train", "model.ddx", "--epochs", "1000000000000"]
);
case!(
    log_is_the_model_file,
    ["train", "logged.ddx", "--log", "logged.ddx"]
);
case!(
    plot_folder_missing,
    ["train", "model.ddx", "--plot", "nowhere/fit.svg"]
);
case!(newton_too_many_params, ["train", "newton_wide.ddx"]);

// ---- standard input -------------------------------------------------------------------

case!(train_empty_stdin, ["train", "-"]);
case!(check_empty_stdin, ["check", "-"]);
case!(emit_empty_stdin, ["emit", "-", "--stage", "ast"]);
case!(diff_empty_stdin, ["diff", "-"]);

// ---- data -----------------------------------------------------------------------------

case!(csv_missing_file, ["train", "missing_csv.ddx"]);
case!(csv_cell_not_a_number, ["train", "bad_cell.ddx"]);
case!(csv_ragged_row, ["train", "ragged.ddx"]);
case!(csv_crlf_row_located, ["train", "crlf_csv.ddx"]);
case!(
    csv_control_characters_in_header,
    ["train", "binary_csv.ddx"]
);
case!(windows_line_breaks, ["train", "windows.ddx"]);

// ---- numbers ----------------------------------------------------------------------------

case!(diverged_at_a_let, ["train", "ln.ddx", "--quiet"]);
case!(diverged_overflow, ["train", "blowup.ddx", "--quiet"]);
case!(diverged_in_the_gradient, ["train", "sqrt.ddx", "--quiet"]);
case!(singular_hessian, ["train", "singular.ddx", "--quiet"]);
case!(check_not_finite, ["check", "sqrt.ddx"]);
case!(kernel_too_large, ["train", "huge.ddx"]);

// ---- colour -------------------------------------------------------------------------

/// Standard error of `ddx ARGS` on `stdin`, with the colour variables
/// `env` set (and no others inherited).
fn stderr_with(env: &[(&str, &str)], args: &[&str], stdin: &str) -> String {
    let mut cmd = ddx_in(dir(), args);
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).write_stdin(stdin);
    let out = output(cmd);
    String::from_utf8(out.stderr).expect("utf-8")
}

/// `text` without its ANSI escape sequences (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('m').expect("an SGR sequence ends with m");
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn colour_only_on_request_and_never_with_no_color() {
    // a located error with a secondary span, and an unlocated error
    // followed by a located note
    let duplicate = (["check", "-"], "param a = 1, a = 2\nloss C = a^2\n");
    let diverged = (["train", "ln.ddx"], "");
    for (args, stdin) in [
        (&duplicate.0[..], duplicate.1),
        (&diverged.0[..], diverged.1),
    ] {
        let piped = stderr_with(&[], args, stdin);
        assert!(piped.contains("error:"), "{piped}");
        assert!(!piped.contains('\x1b'), "escape codes on a pipe: {piped:?}");

        let forced = stderr_with(&[("CLICOLOR_FORCE", "1")], args, stdin);
        assert!(
            forced.contains("\x1b[1m\x1b[31merror:"),
            "CLICOLOR_FORCE=1 colours `error:`: {forced:?}"
        );
        assert_eq!(strip_ansi(&forced), piped, "colour changes no text");

        for no_color in [
            &[("NO_COLOR", "1")][..],
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
        ] {
            let plain = stderr_with(no_color, args, stdin);
            assert_eq!(plain, piped, "{no_color:?} leaves no colour");
        }
    }
    let forced = stderr_with(&[("CLICOLOR_FORCE", "1")], &duplicate.0, duplicate.1);
    assert!(forced.contains("- first declared here"), "{forced:?}");
    assert!(
        forced.contains("\x1b[1m\x1b[34m- first declared here"),
        "the secondary label has its own colour: {forced:?}"
    );
}
