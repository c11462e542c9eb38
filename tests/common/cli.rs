//! The command-line harness: the ddx binary run through assert_cmd, in
//! scratch directories made with tempfile, and what it printed as strings.

use std::borrow::BorrowMut;
use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Output;

pub use assert_cmd::Command;

/// The ddx binary cargo built for these tests (for the few runs that need
/// a `std::process::Command`: a terminal, a file as stderr, a closed pipe).
pub const BIN: &str = env!("CARGO_BIN_EXE_ddx");

/// The repository root.
pub fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of tests/data.
pub fn data(name: &str) -> PathBuf {
    manifest().join("tests/data").join(name)
}

/// A file of examples/, as a command-line argument.
pub fn example(name: &str) -> String {
    manifest()
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The text of a file, or a panic that names it.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `ddx ARGS`, run in the repository root; standard input is empty unless
/// the caller gives some with `write_stdin`.
pub fn ddx(args: &[&str]) -> Command {
    ddx_in(manifest(), args)
}

/// `ddx ARGS`, run in `dir`, so that messages show paths relative to it.
pub fn ddx_in(dir: impl AsRef<Path>, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    cmd
}

/// Runs the command to its end: exit status, stdout and stderr.
pub fn output(mut cmd: impl BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("runs ddx")
}

/// The stdout of a run, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 on stdout")
}

/// The stderr of a run, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 on stderr")
}

/// The stdout of a successful run, which must write nothing to stderr: in
/// particular no progress bar, since stderr is a pipe here.
pub fn ok(cmd: impl BorrowMut<Command>) -> String {
    let out = output(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ddx failed: {err}");
    assert_eq!(err, "", "a successful run writes nothing to stderr");
    stdout(&out)
}

/// The exit status and stderr of a failed run, which prints nothing on stdout.
pub fn failed(cmd: impl BorrowMut<Command>) -> (i32, String) {
    let out = output(cmd);
    assert!(!out.status.success(), "ddx succeeded unexpectedly");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    (out.status.code().expect("exit status"), stderr(&out))
}

/// What stderr must never show, whatever the input: a panic, a backtrace or
/// Rust debug output of an I/O error.
pub const NEVER_ON_STDERR: [&str; 5] = [
    "panicked",
    "RUST_BACKTRACE",
    "stack backtrace",
    "Os {",
    "kind: ",
];

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run of `ddx ARGS` that gave `out`, which must have exited (not
    /// been killed by a signal) and printed none of [`NEVER_ON_STDERR`].
    pub fn new(args: &[&str], out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or_else(|| {
            panic!(
                "ddx {args:?} was killed by a signal: {}\n{stderr}",
                out.status
            )
        });
        for bad in NEVER_ON_STDERR {
            assert!(
                !stderr.contains(bad),
                "ddx {args:?} printed `{bad}`:\n{stderr}"
            );
        }
        Run {
            code,
            stdout,
            stderr,
        }
    }

    /// The stdout of a successful run, which printed nothing on stderr.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stderr:\n{}", self.stderr);
        assert_eq!(self.stderr, "");
        &self.stdout
    }

    /// The stderr of a run that exited with `code`.
    pub fn failed(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stderr
    }
}

/// A fresh, empty scratch directory for one test, under the target
/// directory; removed when it is dropped.
pub struct Scratch(tempfile::TempDir);

/// A scratch directory whose name starts with `test`.
pub fn scratch(test: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{test}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a scratch directory");
    Scratch(dir)
}

/// A fresh, empty directory `name` under the target directory, for files
/// that all tests of one binary share (and so outlive any one test): it is
/// emptied when made, not removed.
pub fn shared_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

impl Scratch {
    /// Writes `text` to the file `name` in the directory; returns `name`.
    pub fn write<'n>(&self, name: &'n str, text: impl AsRef<[u8]>) -> &'n str {
        fs::write(self.join(name), text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        name
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

/// A model of `n` params `p0 = init` ... and the loss `mean((TERMS - y)^2)`,
/// TERMS the sum of `term(i)`, over `data` (a `data` line), trained by
/// `train` (a `train` line).
pub fn wide_model(
    n: usize,
    init: &str,
    term: impl Fn(usize) -> String,
    data: &str,
    train: &str,
) -> String {
    let params: Vec<String> = (0..n).map(|i| format!("p{i} = {init}")).collect();
    let terms: Vec<String> = (0..n).map(term).collect();
    format!(
        "{data}\nparam {}\nloss C = mean(({} - y)^2)\n{train}\n",
        params.join(", "),
        terms.join(" + ")
    )
}
