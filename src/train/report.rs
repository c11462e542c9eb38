//! The text the driver writes: per-epoch lines, the `--log` CSV, the final
//! result as text and as JSON.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::format::{format_3g, full};
use super::{TrainError, TrainResult};

/// The seed notebook's line: `Epoch {e}, cost {c}, m grad {gm}, b grad {gb}`,
/// numbers as C's `%.3g`, one `NAME grad` per param in order.
pub(crate) fn epoch_line(epoch: usize, cost: f64, names: &[String], grad: &[f64]) -> String {
    let mut s = format!("Epoch {epoch}, cost {}", format_3g(cost));
    for (name, g) in names.iter().zip(grad) {
        s.push_str(", ");
        s.push_str(name);
        s.push_str(" grad ");
        s.push_str(&format_3g(*g));
    }
    s
}

/// The CSV header of the `--log` file:
/// `epoch,cost,m_grad,b_grad,m_after,b_after`.
pub(crate) fn log_header(names: &[String]) -> String {
    let mut s = String::from("epoch,cost");
    for n in names {
        s.push_str(&format!(",{n}_grad"));
    }
    for n in names {
        s.push_str(&format!(",{n}_after"));
    }
    s
}

/// One `--log` row at full precision (shortest round-trip text). `after` is
/// `None` for an epoch whose step was not taken (divergence): its fields are
/// left empty.
pub(crate) fn log_row(epoch: usize, cost: f64, grad: &[f64], after: Option<&[f64]>) -> String {
    let mut s = format!("{epoch},{}", full(cost));
    for g in grad {
        s.push(',');
        s.push_str(&full(*g));
    }
    match after {
        Some(params) => {
            for p in params {
                s.push(',');
                s.push_str(&full(*p));
            }
        }
        None => {
            for _ in grad {
                s.push(',');
            }
        }
    }
    s
}

/// The `--log` file, written as training runs: an [`super::Observer`]
/// that writes a row per epoch.
pub(crate) struct LogFile {
    out: BufWriter<File>,
    path: PathBuf,
}

impl LogFile {
    /// Creates (truncates) the file and writes the header.
    pub(crate) fn create(path: &Path, names: &[String]) -> Result<LogFile, TrainError> {
        let mut log = LogFile {
            out: BufWriter::new(File::create(path).map_err(|e| file_error(path, e))?),
            path: path.to_path_buf(),
        };
        writeln!(log.out, "{}", log_header(names)).map_err(|e| log.error(e))?;
        Ok(log)
    }

    /// Writes one row ([`log_row`]).
    pub(crate) fn row(
        &mut self,
        epoch: usize,
        cost: f64,
        grad: &[f64],
        after: Option<&[f64]>,
    ) -> Result<(), TrainError> {
        writeln!(self.out, "{}", log_row(epoch, cost, grad, after)).map_err(|e| self.error(e))
    }

    /// Flushes the file: a write error surfaces here at the latest.
    pub(crate) fn finish(mut self) -> Result<(), TrainError> {
        self.out.flush().map_err(|e| self.error(e))
    }

    fn error(&self, source: io::Error) -> TrainError {
        file_error(&self.path, source)
    }
}

impl super::Observer for LogFile {
    /// Every epoch is a row.
    fn next_needed(&self, _epoch: usize, _epochs: usize) -> Option<usize> {
        None
    }

    fn evaluated(&mut self, e: &super::Epoch<'_>) -> Result<(), TrainError> {
        if !e.finite {
            // the divergence is the error to report, not a failed last row
            let _ = self.row(e.epoch, e.cost, e.grad, None);
        }
        Ok(())
    }

    fn stepped(&mut self, e: &super::Epoch<'_>, after: &[f64]) -> Result<(), TrainError> {
        self.row(e.epoch, e.cost, e.grad, Some(after))
    }
}

fn file_error(path: &Path, source: io::Error) -> TrainError {
    TrainError::File {
        what: "the log",
        path: path.to_path_buf(),
        source,
    }
}

/// The final result as text: the params (full precision, one per line, in
/// declaration order) and the cost at the final params.
///
/// ```text
/// Final params after 1000 epochs:
///   m = -0.46811911547573193
///   b = 1.754263092306282
/// Final cost C = 0.019475950399270372
/// ```
pub(crate) fn final_text(result: &TrainResult) -> String {
    let width = result.names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut s = format!(
        "Final params after {} epoch{}:\n",
        result.epochs,
        if result.epochs == 1 { "" } else { "s" }
    );
    for (name, p) in result.names.iter().zip(&result.params) {
        // padded by hand: `{:<width$}` panics past a width of 65535
        let pad = " ".repeat(width - name.len());
        s.push_str(&format!("  {name}{pad} = {}\n", full(*p)));
    }
    s.push_str(&format!(
        "Final cost {} = {}\n",
        result.loss_name,
        full(result.cost)
    ));
    s
}

/// The final result as one JSON object (one line):
/// `{"params": {"m": ..., "b": ...}, "cost": ..., "epochs": ...,
/// "compile_seconds": ..., "train_seconds": ..., "loop_epochs": ...}`,
/// params in declaration order (`loop_epochs`: the epochs run by the
/// compiled training loop). Non-finite numbers (not produced by a
/// successful run) become `null`.
pub(crate) fn json(result: &TrainResult) -> String {
    let json = JsonResult {
        params: JsonParams(&result.names, &result.params),
        cost: result.cost,
        epochs: result.epochs,
        compile_seconds: result.compile_seconds,
        train_seconds: result.train_seconds,
        loop_epochs: result.loop_epochs,
    };
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, Spaced);
    // strings and numbers into memory: serialising cannot fail
    let _ = json.serialize(&mut ser);
    String::from_utf8(buf).unwrap_or_default()
}

/// `ddx train --json`, in field order.
#[derive(Serialize)]
struct JsonResult<'a> {
    params: JsonParams<'a>,
    cost: f64,
    epochs: usize,
    compile_seconds: f64,
    train_seconds: f64,
    loop_epochs: usize,
}

/// Param names and values, as one object in declaration order.
struct JsonParams<'a>(&'a [String], &'a [f64]);

impl Serialize for JsonParams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0.iter().zip(self.1) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// One line, with a space after each `:` and `,`: `{"a": 1, "b": [2, 3]}`.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["m".to_string(), "b".to_string()]
    }

    #[test]
    fn epoch_line_has_one_grad_per_param() {
        assert_eq!(
            epoch_line(
                3,
                2.253515030185607,
                &names(),
                &[9.487884045, 0.8309654849999999]
            ),
            "Epoch 3, cost 2.25, m grad 9.49, b grad 0.831"
        );
        assert_eq!(epoch_line(0, 1.0, &[], &[]), "Epoch 0, cost 1");
    }

    #[test]
    fn log_rows_round_trip() {
        assert_eq!(
            log_header(&names()),
            "epoch,cost,m_grad,b_grad,m_after,b_after"
        );
        let row = log_row(1, 0.1, &[1e-20, -2.5], Some(&[0.5369499999999999, 3.0]));
        assert_eq!(row, "1,0.1,1e-20,-2.5,0.5369499999999999,3.0");
        assert_eq!(
            log_row(7, f64::INFINITY, &[f64::NAN, 1.0], None),
            "7,inf,NaN,1.0,,"
        );
    }

    #[test]
    fn json_is_one_spaced_line() {
        let result = TrainResult {
            names: vec!["m".to_string(), "b\"".to_string()],
            params: vec![0.5, -1e-300],
            loss_name: "C".to_string(),
            cost: f64::NAN,
            epochs: 3,
            optimizer: crate::program::Optimizer::Newton,
            compile_seconds: 0.25,
            train_seconds: 1.0,
            loop_epochs: 0,
            history: super::super::History::default(),
        };
        assert_eq!(
            json(&result),
            "{\"params\": {\"m\": 0.5, \"b\\\"\": -1e-300}, \"cost\": null, \"epochs\": 3, \
             \"compile_seconds\": 0.25, \"train_seconds\": 1.0, \"loop_epochs\": 0}"
        );
    }
}
