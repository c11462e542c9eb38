//! Shared by the fuzz targets: decoding and checking an input without
//! touching files outside an empty folder.

use std::path::PathBuf;

use ddx::{Source, Unit};

/// An empty folder that CSV paths are resolved against: every relative
/// path is "file not found".
fn empty_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ddx-fuzz-empty-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Decodes and checks `data`. `None` when it is not valid input (the error
/// has been rendered, which must not panic), or when it names a CSV file
/// outside the empty folder (an absolute path or `..`), which the fuzzer
/// must not read.
pub fn checked(data: &[u8]) -> Option<(Source, Unit)> {
    let src = match ddx::decode("fuzz", data.to_vec()) {
        Ok(s) => s,
        Err((d, s)) => {
            let _ = d.render(&s);
            return None;
        }
    };
    let file = match ddx::parse(&src.text) {
        Ok(f) => f,
        Err(d) => {
            let _ = d.render(&src);
            return None;
        }
    };
    let outside = file.csv_paths().any(|path| {
        path.starts_with('/') || path.starts_with('\\') || path.contains("..") || path.contains(':')
    });
    if outside {
        return None;
    }
    match ddx::check_file(&file, &src.text, Some(&empty_dir())) {
        Ok(unit) => Some((src, unit)),
        Err(d) => {
            let _ = d.render(&src);
            None
        }
    }
}

/// True when two values are the same bits, or both NaN.
#[allow(dead_code)] // used by the jit target only
pub fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
