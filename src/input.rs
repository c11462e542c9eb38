//! Reading a command's input: a model file, standard input (`-`), or an
//! expression given as the argument itself.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::{io_reason, Diagnostic, Source};
use crate::syntax::{decode, parse, MAX_SOURCE_BYTES};

/// A decoded input and the folder its CSV paths are relative to.
#[derive(Debug)]
pub struct Input {
    /// The text, named by its path (`<stdin>`, `<expr>` otherwise).
    pub source: Source,
    /// The file's folder; `None` for standard input and expressions (CSV
    /// paths are then relative to the current folder).
    pub dir: Option<PathBuf>,
}

/// Why an input could not be read.
#[derive(Debug)]
pub enum InputError {
    /// The file is missing, a directory, unreadable or too large.
    Unreadable(String),
    /// The bytes are not a text ddx reads (invalid UTF-8, NUL bytes), placed
    /// in the source as far as it could be decoded.
    Undecodable(Box<Diagnostic>, Source),
}

/// Reads at most [`MAX_SOURCE_BYTES`] from `r` (a larger input is an error:
/// `/dev/zero` must not fill the memory).
fn read_capped(r: impl Read, what: &str) -> Result<Vec<u8>, InputError> {
    let mut buf = Vec::new();
    r.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| InputError::Unreadable(format!("cannot read {what}: {}", io_reason(&e))))?;
    if buf.len() > MAX_SOURCE_BYTES {
        return Err(InputError::Unreadable(format!(
            "{what} is larger than {} MiB, the most ddx reads",
            MAX_SOURCE_BYTES >> 20
        )));
    }
    Ok(buf)
}

/// Reads a file argument (`-` is standard input).
pub fn read_input(arg: &str) -> Result<Input, InputError> {
    let (name, bytes, dir) = if arg == "-" {
        let buf = read_capped(std::io::stdin().lock(), "standard input")?;
        ("<stdin>".to_string(), buf, None)
    } else {
        let path = Path::new(arg);
        let cannot = |e: std::io::Error| {
            InputError::Unreadable(format!("cannot read {arg}: {}", io_reason(&e)))
        };
        let file = std::fs::File::open(path).map_err(cannot)?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(InputError::Unreadable(format!(
                "cannot read {arg}: it is a directory"
            )));
        }
        let bytes = read_capped(file, arg)?;
        let dir = path.parent().map(Path::to_path_buf);
        (arg.to_string(), bytes, dir)
    };
    match decode(&name, bytes) {
        Ok(source) => Ok(Input { source, dir }),
        Err((d, src)) => Err(InputError::Undecodable(Box::new(d), src)),
    }
}

/// An expression, a file or `-`: a file when the argument names one. An
/// argument that names no file, does not parse as an expression and looks
/// like a path (`model.ddx`, `dir/x`) is reported as a missing file.
pub fn read_input_or_expr(arg: &str) -> Result<Input, InputError> {
    let path = Path::new(arg);
    if arg == "-" || path.is_file() {
        return read_input(arg);
    }
    if path.is_dir() {
        return Err(InputError::Unreadable(format!(
            "cannot read {arg}: it is a directory"
        )));
    }
    let looks_like_path = !arg.chars().any(char::is_whitespace)
        && (arg.contains(['/', '\\'])
            || arg.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic()) && !ext.is_empty()
            }));
    if looks_like_path && parse(arg).is_err() {
        return Err(InputError::Unreadable(format!(
            "cannot read {arg}: no such file (and it is not an expression either)"
        )));
    }
    Ok(Input {
        source: Source::new("<expr>", arg),
        dir: None,
    })
}
