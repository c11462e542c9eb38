//! The text the driver writes: per-epoch lines, the `--log` CSV, the final
//! result as text and as JSON.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::format::{format_3g, full};
use super::{ParamLayout, TrainError, TrainResult};

/// The seed notebook's line: `Epoch {e}, cost {c}, m grad {gm}, b grad {gb}`,
/// numbers as C's `%.3g`, one `NAME grad` per param in order. For an array
/// param the number is the 2-norm of its gradient (`W1 grad 0.0412`).
pub(crate) fn epoch_line(epoch: usize, cost: f64, layout: &ParamLayout, grad: &[f64]) -> String {
    let mut s = format!("Epoch {epoch}, cost {}", format_3g(cost));
    for p in layout.params() {
        let g = grad.get(p.range.clone()).unwrap_or(&[]);
        let g = if p.is_array() {
            norm(g)
        } else {
            g.first().copied().unwrap_or(f64::NAN)
        };
        s.push_str(", ");
        s.push_str(&p.name);
        s.push_str(" grad ");
        s.push_str(&format_3g(g));
    }
    s
}

/// The 2-norm of `v`, scaled so that it overflows only when the norm
/// itself does; NaN when an element is NaN, inf when one is infinite.
pub(crate) fn norm(v: &[f64]) -> f64 {
    let big = v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    if big == 0.0 || big.is_infinite() {
        return big;
    }
    let sum: f64 = v.iter().map(|x| (x / big) * (x / big)).sum();
    big * sum.sqrt()
}

/// The CSV header of the `--log` file:
/// `epoch,cost,m_grad,b_grad,m_after,b_after`; one column per element,
/// an array param's named by its indices (`"W1[0,3]_grad"`, quoted: the
/// name holds a comma).
pub(crate) fn log_header(layout: &ParamLayout) -> String {
    let names = layout.element_names();
    let mut s = String::from("epoch,cost");
    for suffix in ["grad", "after"] {
        for n in &names {
            s.push(',');
            s.push_str(&csv_field(&format!("{n}_{suffix}")));
        }
    }
    s
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
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
    pub(crate) fn create(path: &Path, layout: &ParamLayout) -> Result<LogFile, TrainError> {
        let mut log = LogFile {
            out: BufWriter::new(File::create(path).map_err(|e| file_error(path, e))?),
            path: path.to_path_buf(),
        };
        writeln!(log.out, "{}", log_header(layout)).map_err(|e| log.error(e))?;
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
/// declaration order) and the cost at the final params. An array param
/// gives every element, nested row-major as `--json` and `--init` write
/// them; a matrix one row per line.
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
    let layout = ParamLayout::new(&result.names, &result.shapes);
    for p in layout.params() {
        let name = &p.name;
        let values = result.params.get(p.range.clone()).unwrap_or(&[]);
        // padded by hand: `{:<width$}` panics past a width of 65535
        let pad = " ".repeat(width - name.len());
        if !p.is_array() {
            let v = values.first().copied().unwrap_or(f64::NAN);
            s.push_str(&format!("  {name}{pad} = {}\n", full(v)));
            continue;
        }
        let indent = " ".repeat(2 + width + 3);
        for (i, line) in nested_lines(values, &p.shape).iter().enumerate() {
            if i == 0 {
                s.push_str(&format!("  {name}{pad} = {line}\n"));
            } else {
                s.push_str(&format!("{indent}{line}\n"));
            }
        }
    }
    s.push_str(&format!(
        "Final cost {} = {}\n",
        result.loss_name,
        full(result.cost)
    ));
    s
}

/// `values` (row-major) nested as `shape` on one line, every number at full
/// precision: `[[1.0, 2.0], [3.0, 4.0]]` (a scalar as its number).
pub(crate) fn nested_text(values: &[f64], shape: &[usize]) -> String {
    match shape {
        [] => full(values.first().copied().unwrap_or(f64::NAN)),
        [_] => {
            let items: Vec<String> = values.iter().map(|v| full(*v)).collect();
            format!("[{}]", items.join(", "))
        }
        [n, rest @ ..] => {
            let items: Vec<String> = chunks(values, *n, rest)
                .map(|c| nested_text(c, rest))
                .collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// [`nested_text`] with the outermost items one per line (a vector on one
/// line).
fn nested_lines(values: &[f64], shape: &[usize]) -> Vec<String> {
    let [n, rest @ ..] = shape else {
        return vec![nested_text(values, shape)];
    };
    if rest.is_empty() || *n == 0 {
        return vec![nested_text(values, shape)];
    }
    let items: Vec<String> = chunks(values, *n, rest)
        .map(|c| nested_text(c, rest))
        .collect();
    let last = items.len() - 1;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let open = if i == 0 { "[" } else { " " };
            let close = if i == last { "]" } else { "," };
            format!("{open}{item}{close}")
        })
        .collect()
}

/// The `n` sub-arrays of shape `rest` of `values`.
fn chunks<'v>(values: &'v [f64], n: usize, rest: &[usize]) -> impl Iterator<Item = &'v [f64]> {
    let stride: usize = rest.iter().product();
    (0..n).map(move |i| values.get(i * stride..(i + 1) * stride).unwrap_or(&[]))
}

/// The final result as one JSON object (one line):
/// `{"params": {"m": ..., "b": ...}, "cost": ..., "epochs": ...,
/// "compile_seconds": ..., "train_seconds": ..., "loop_epochs": ...}`,
/// params in declaration order, an array param as nested lists, row-major
/// (`"W": [[...], ...]`, what `--init` reads back), (`loop_epochs`: the epochs run by the
/// compiled training loop). Non-finite numbers (not produced by a
/// successful run) become `null`.
pub(crate) fn json(result: &TrainResult) -> String {
    let json = JsonResult {
        params: JsonParams(
            ParamLayout::new(&result.names, &result.shapes),
            &result.params,
        ),
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
struct JsonParams<'a>(ParamLayout, &'a [f64]);

impl Serialize for JsonParams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let params = self.0.params();
        let mut map = s.serialize_map(Some(params.len()))?;
        for p in params {
            let values = self.1.get(p.range.clone()).unwrap_or(&[]);
            map.serialize_entry(&p.name, &Nested(values, &p.shape))?;
        }
        map.end()
    }
}

/// Values (row-major) as nested JSON lists of a shape; a scalar as its
/// number.
struct Nested<'a>(&'a [f64], &'a [usize]);

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.1 {
            [] => self.0.first().copied().unwrap_or(f64::NAN).serialize(s),
            [n, rest @ ..] => {
                let mut seq = s.serialize_seq(Some(*n))?;
                for c in chunks(self.0, *n, rest) {
                    seq.serialize_element(&Nested(c, rest))?;
                }
                seq.end()
            }
        }
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

    fn scalars() -> ParamLayout {
        ParamLayout::new(&names(), &[vec![], vec![]])
    }

    #[test]
    fn epoch_line_has_one_grad_per_param() {
        assert_eq!(
            epoch_line(
                3,
                2.253515030185607,
                &scalars(),
                &[9.487884045, 0.8309654849999999]
            ),
            "Epoch 3, cost 2.25, m grad 9.49, b grad 0.831"
        );
        let none = ParamLayout::new(&[], &[]);
        assert_eq!(epoch_line(0, 1.0, &none, &[]), "Epoch 0, cost 1");
    }

    #[test]
    fn an_array_param_shows_its_gradient_norm() {
        let layout = ParamLayout::new(&["W".to_string(), "b".to_string()], &[vec![2, 2], vec![]]);
        // |(3, 4, 0, 0)| = 5
        assert_eq!(
            epoch_line(1, 0.5, &layout, &[3.0, -4.0, 0.0, 0.0, 0.25]),
            "Epoch 1, cost 0.5, W grad 5, b grad 0.25"
        );
        assert_eq!(norm(&[1e200, 1e200]), 1e200 * 2f64.sqrt());
        assert!(norm(&[1.0, f64::NAN]).is_nan());
        assert_eq!(norm(&[f64::NEG_INFINITY, 1.0]), f64::INFINITY);
        assert_eq!(norm(&[]), 0.0);
    }

    #[test]
    fn arrays_print_nested() {
        assert_eq!(
            nested_text(&[1.0, 2.0, 3.0, 4.0], &[2, 2]),
            "[[1.0, 2.0], [3.0, 4.0]]"
        );
        assert_eq!(nested_text(&[0.5], &[]), "0.5");
        assert_eq!(
            nested_lines(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]),
            ["[[1.0, 2.0],", " [3.0, 4.0],", " [5.0, 6.0]]"]
        );
        let layout = ParamLayout::new(&["W".to_string()], &[vec![2, 3]]);
        assert_eq!(
            log_header(&layout),
            "epoch,cost,\"W[0,0]_grad\",\"W[0,1]_grad\",\"W[0,2]_grad\",\"W[1,0]_grad\",\
             \"W[1,1]_grad\",\"W[1,2]_grad\",\"W[0,0]_after\",\"W[0,1]_after\",\"W[0,2]_after\",\
             \"W[1,0]_after\",\"W[1,1]_after\",\"W[1,2]_after\""
        );
    }

    #[test]
    fn log_rows_round_trip() {
        assert_eq!(
            log_header(&scalars()),
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
            shapes: vec![vec![], vec![]],
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
