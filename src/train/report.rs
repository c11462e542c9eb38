//! The text the driver writes: per-epoch lines, the `--log` CSV, the final
//! result as text and as JSON.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{format_3g, full};
use super::{TrainError, TrainResult};

/// The seed notebook's line: `Epoch {e}, cost {c}, m grad {gm}, b grad {gb}`,
/// numbers as C's `%.3g`, one `NAME grad` per param in order.
pub fn epoch_line(epoch: usize, cost: f64, names: &[String], grad: &[f64]) -> String {
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
pub fn log_header(names: &[String]) -> String {
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
pub fn log_row(epoch: usize, cost: f64, grad: &[f64], after: Option<&[f64]>) -> String {
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

/// The `--log` file, written as training runs.
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

    pub(crate) fn row(
        &mut self,
        epoch: usize,
        cost: f64,
        grad: &[f64],
        after: Option<&[f64]>,
    ) -> Result<(), TrainError> {
        writeln!(self.out, "{}", log_row(epoch, cost, grad, after)).map_err(|e| self.error(e))
    }

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
pub fn final_text(result: &TrainResult) -> String {
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
pub fn json(result: &TrainResult) -> String {
    let num = |x: f64| serde_json::Value::from(x).to_string();
    let params: Vec<String> = result
        .names
        .iter()
        .zip(&result.params)
        .map(|(n, p)| format!("{}: {}", serde_json::Value::from(n.as_str()), num(*p)))
        .collect();
    format!(
        "{{\"params\": {{{}}}, \"cost\": {}, \"epochs\": {}, \"compile_seconds\": {}, \"train_seconds\": {}, \"loop_epochs\": {}}}",
        params.join(", "),
        num(result.cost),
        result.epochs,
        num(result.compile_seconds),
        num(result.train_seconds),
        result.loop_epochs,
    )
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
}
