//! Data columns from CSV files, read by header name.
//!
//! The file is streamed record by record (one reused buffer), and only the
//! requested columns are kept, each data column as one `Vec<f64>` (a vector
//! column's values row-major, interleaved as they are read): memory is 8
//! bytes per requested cell, whatever the width of the file. Nothing is skipped
//! silently: a missing header, an empty file, a ragged row, an empty,
//! non-numeric or non-finite cell are all errors that name the file, the
//! line and the column. (Blank lines are not rows and are skipped.)
//!
//! An error inside the CSV file is a [`Diagnostic`] placed in that file
//! ([`Diagnostic::in_file`]); its source holds only the offending line, put
//! at its line number, so that rendering shows `file:line:col` and the line
//! without keeping the whole file in memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

use crate::check::suggest::nearest;
use crate::diagnostic::{Diagnostic, Source};

/// A column to read: its header name and where the model asks for it.
#[derive(Clone, Debug)]
pub(crate) struct Request<'a> {
    pub column: &'a str,
    /// The output column its values go to: consecutive requests of one
    /// group are one vector column, its values row-major (row by row, the
    /// requests' values in order), built as the file is read (no second
    /// copy of the data).
    pub group: usize,
    /// Span of the column name in the model source (for "no such column").
    pub span: Range<usize>,
}

/// Reads the requested columns of the CSV file at `path`, shown to the user
/// as `shown`. `path_span` is the span of the path string in the model
/// source, where a file that cannot be read is reported.
pub(crate) fn read_columns(
    path: &Path,
    shown: &str,
    path_span: Range<usize>,
    requests: &[Request],
) -> Result<Table, Diagnostic> {
    let file = File::open(path).map_err(|e| io_error(shown, &e, path_span.clone()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Diagnostic::new(
            format!("cannot read data file `{shown}`: it is a directory"),
            path_span,
        )
        .with_label("here"));
    }
    let row_start = Rc::new(Cell::new(0u64));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(BUFFER)
        .from_reader(RowLimit {
            inner: file,
            delivered: 0,
            row_start: Rc::clone(&row_start),
        });
    let mut record = csv::ByteRecord::new();
    let locate = Locator { path, shown };

    // The header.
    if !read(&mut reader, &mut record, shown, &path_span, &row_start)? {
        return Err(Diagnostic::new(
            format!("data file `{shown}` is empty: it needs a header row naming its columns"),
            0..0,
        )
        .with_label("empty file")
        .in_file(Source::new(shown, "")));
    }
    let header_pos = record
        .position()
        .cloned()
        .unwrap_or_else(csv::Position::new);
    let header: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h);
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            h.trim().to_string()
        })
        .collect();
    if header.iter().all(|h| parse_number(h.as_bytes()).is_some()) {
        return Err(locate
            .at(
                &header_pos,
                0,
                "the first row holds numbers, not column names",
            )
            .with_label("expected a header")
            .with_note(format!(
                "the first row of `{shown}` must name the columns, e.g. `x,y`"
            )));
    }
    let mut wanted: Vec<usize> = Vec::with_capacity(requests.len());
    // positions by name: a vector column asks for hundreds of columns
    let mut by_name: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        by_name.entry(h.as_str()).or_default().push(i);
    }
    for r in requests {
        let positions = by_name.get(r.column).map_or(&[][..], Vec::as_slice);
        let mut hits = positions.iter().map(|&i| (i, ()));
        let Some((i, _)) = hits.next() else {
            let mut d = Diagnostic::new(
                format!(
                    "data file `{shown}` has no column `{}` (header at {shown}:{})",
                    r.column,
                    header_pos.line()
                ),
                r.span.clone(),
            )
            .with_label("not in the header");
            if let Some(s) = nearest(r.column, header.iter().map(String::as_str)) {
                d = d.with_note(format!("did you mean `{s}`?"));
            }
            let mut list = header.join(", ");
            if list.len() > 200 {
                let mut cut = 200;
                while !list.is_char_boundary(cut) {
                    cut -= 1;
                }
                list.truncate(cut);
                list.push_str(", ...");
            }
            return Err(d.with_note(format!("the columns are: {list}")));
        };
        if let Some((j, _)) = hits.next() {
            return Err(locate
                .at_and(
                    &header_pos,
                    (j, i),
                    &format!("column `{}` appears twice in the header", r.column),
                    "first time",
                )
                .with_label("second time")
                .with_note(format!("the first is column {}", i + 1)));
        }
        wanted.push(i);
    }

    let groups = requests.iter().map(|r| r.group + 1).max().unwrap_or(0);
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); groups];
    let mut rows = 0usize;
    let mut positions = Vec::new();
    while read(&mut reader, &mut record, shown, &path_span, &row_start)? {
        rows += 1;
        let pos = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        positions.push(pos.clone());
        if record.len() != header.len() {
            let msg = format!(
                "row has {} cell{} but the header has {}",
                record.len(),
                if record.len() == 1 { "" } else { "s" },
                header.len()
            );
            let d = if record.len() > header.len() {
                locate.at(&pos, header.len(), &msg).with_label("extra cell")
            } else {
                locate
                    .after(&pos, record.len().saturating_sub(1), &msg)
                    .with_label("row ends here")
            };
            return Err(d.with_note("every row needs one cell per header column"));
        }
        for (&i, r) in wanted.iter().zip(requests) {
            let cell = &record[i];
            match parse_number(cell) {
                Some(v) if v.is_finite() => columns[r.group].push(v),
                Some(_) => {
                    let text = String::from_utf8_lossy(cell).to_ascii_lowercase();
                    let label = if text.contains("inf") || text.contains("nan") {
                        "not a finite number"
                    } else {
                        "overflows: the largest finite value is about 1.8e308"
                    };
                    return Err(locate
                        .at(
                            &pos,
                            i,
                            &format!("non-finite value in column `{}`", r.column),
                        )
                        .with_label(label));
                }
                None => {
                    let text = String::from_utf8_lossy(cell);
                    let msg = if text.trim().is_empty() {
                        format!("empty cell in column `{}`", r.column)
                    } else {
                        format!("cell in column `{}` is not a number", r.column)
                    };
                    return Err(locate.at(&pos, i, &msg).with_label("expected a number"));
                }
            }
        }
    }
    if rows == 0 {
        return Err(locate
            .at(&header_pos, 0, "the file has a header but no data rows")
            .with_label("header only"));
    }
    for c in &mut columns {
        c.shrink_to_fit();
    }
    Ok(Table {
        columns,
        cells: CellPlaces {
            path: path.to_path_buf(),
            shown: shown.to_string(),
            rows: std::rc::Rc::new(positions),
            header: wanted,
        },
    })
}

/// The columns read from a CSV file, and where their cells are.
pub(crate) struct Table {
    /// The values of each group of requests (see [`Request::group`]).
    pub columns: Vec<Vec<f64>>,
    /// Where each row and requested column is in the file.
    pub cells: CellPlaces,
}

/// Where the cells of a CSV file's rows are, to point at one later (a
/// class label out of range is found only when the model uses it).
#[derive(Clone, Debug)]
pub(crate) struct CellPlaces {
    path: std::path::PathBuf,
    shown: String,
    rows: Rc<Vec<csv::Position>>,
    /// The header position of each requested column.
    header: Vec<usize>,
}

impl CellPlaces {
    /// A diagnostic at the cell of requested column `column` on data row
    /// `row` (0-based, after the header), shown as `file:line:col`.
    pub(crate) fn at(&self, column: usize, row: usize, msg: &str) -> Diagnostic {
        let locate = Locator {
            path: &self.path,
            shown: &self.shown,
        };
        match (self.rows.get(row), self.header.get(column)) {
            (Some(pos), Some(&cell)) => locate.at(pos, cell, msg),
            _ => Diagnostic::unlocated(msg.to_string()),
        }
    }
}

/// Most bytes of one row (record) of a CSV file: a longer row is an error,
/// so that a file without line breaks (`/dev/zero`, a binary file) cannot
/// fill the memory.
pub(crate) const MAX_ROW_BYTES: usize = 16 << 20;

/// The reader's buffer.
const BUFFER: usize = 1 << 16;

/// Counts the bytes handed to the CSV reader and fails once the current
/// row cannot fit in [`MAX_ROW_BYTES`] (the count includes the reader's
/// read-ahead, at most [`BUFFER`] bytes).
struct RowLimit<R> {
    inner: R,
    /// Bytes handed out so far.
    delivered: u64,
    /// Byte offset where the current row starts (set by [`read`]).
    row_start: Rc<Cell<u64>>,
}

impl<R: Read> Read for RowLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let in_row = self.delivered.saturating_sub(self.row_start.get());
        if in_row > (MAX_ROW_BYTES + BUFFER) as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RowTooLong,
            ));
        }
        let n = self.inner.read(buf)?;
        self.delivered += n as u64;
        Ok(n)
    }
}

/// The error [`RowLimit`] reads with.
#[derive(Debug)]
struct RowTooLong;

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a row is longer than {} MiB", MAX_ROW_BYTES >> 20)
    }
}

impl std::error::Error for RowTooLong {}

/// Reads the next record; an I/O error is reported at the path.
/// `row_start` is [`RowLimit`]'s.
fn read<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
    shown: &str,
    path_span: &Range<usize>,
    row_start: &Cell<u64>,
) -> Result<bool, Diagnostic> {
    let start = reader.position().clone();
    row_start.set(start.byte());
    reader.read_byte_record(record).map_err(|e| {
        let too_long = match e.kind() {
            csv::ErrorKind::Io(io) => io.get_ref().is_some_and(|i| i.is::<RowTooLong>()),
            _ => false,
        };
        if too_long {
            Diagnostic::new(
                format!(
                    "data file `{shown}`: the row at line {} is longer than {} MiB, the most ddx reads in one row",
                    start.line(),
                    MAX_ROW_BYTES >> 20
                ),
                path_span.clone(),
            )
            .with_label("this file")
            .with_note("is it a CSV file, with one row per line?")
        } else {
            let why = match e.kind() {
                csv::ErrorKind::Io(io) => crate::diagnostic::io_reason(io),
                _ => e.to_string(),
            };
            Diagnostic::new(
                format!("cannot read data file `{shown}`: {why}"),
                path_span.clone(),
            )
            .with_label("here")
        }
    })
}

fn io_error(shown: &str, e: &std::io::Error, span: Range<usize>) -> Diagnostic {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        _ => crate::diagnostic::io_reason(e),
    };
    Diagnostic::new(format!("cannot read data file `{shown}`: {why}"), span).with_label("here")
}

/// Parses a cell as a number (surrounding blanks allowed).
fn parse_number(cell: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(cell).ok()?.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Builds diagnostics that point into the CSV file.
struct Locator<'a> {
    path: &'a Path,
    shown: &'a str,
}

impl<'a> Locator<'a> {
    /// A diagnostic at cell `cell` (0-based) of the record at `pos`.
    fn at(&self, pos: &csv::Position, cell: usize, msg: &str) -> Diagnostic {
        self.place(pos, cell, msg, false)
    }

    /// A diagnostic just after cell `cell` (0-based) of the record at `pos`.
    fn after(&self, pos: &csv::Position, cell: usize, msg: &str) -> Diagnostic {
        self.place(pos, cell, msg, true)
    }

    /// [`Locator::at`], with a secondary span on cell `other` of the same
    /// record, labelled `label`.
    fn at_and(
        &self,
        pos: &csv::Position,
        (cell, other): (usize, usize),
        msg: &str,
        label: &str,
    ) -> Diagnostic {
        let d = self.at(pos, cell, msg);
        // the diagnostic's file is line breaks, then the record's line
        let other = d.file.as_ref().and_then(|f| {
            let line_start = f.text.rfind('\n').map_or(0, |i| i + 1);
            let c = cell_spans(&f.text[line_start..]).get(other).cloned()?;
            Some(line_start + c.start..line_start + c.end)
        });
        match other {
            Some(span) => d.with_secondary(span, label),
            None => d,
        }
    }

    fn place(&self, pos: &csv::Position, cell: usize, msg: &str, after: bool) -> Diagnostic {
        let (text, breaks) = self.line_at(pos.byte());
        let line_no = pos.line().max(1) as usize + breaks;
        let cells = cell_spans(&text);
        let span = cells
            .get(cell)
            .cloned()
            .or_else(|| cells.last().map(|c| c.end..c.end))
            .unwrap_or(0..0);
        let mut src = "\n".repeat(line_no - 1);
        let line_start = src.len();
        src.push_str(&text);
        let span = if after { span.end..span.end } else { span };
        Diagnostic::new(msg, line_start + span.start..line_start + span.end)
            .in_file(Source::new(self.shown, src))
    }

    /// The physical line of the record starting at byte `offset` of the
    /// file (lossily decoded, without its line break; empty if it cannot be
    /// read), and the number of line breaks skipped before it: the csv
    /// crate starts a record after a `\r\n` at its `\n`, still on the line
    /// before.
    fn line_at(&self, offset: u64) -> (String, usize) {
        let mut bytes = Vec::new();
        let mut breaks = 0;
        if let Ok(mut f) = File::open(self.path) {
            if f.seek(SeekFrom::Start(offset)).is_ok() {
                // at most one row's worth: the line of a file without line
                // breaks must not fill the memory
                let mut r = BufReader::new(f.take(MAX_ROW_BYTES as u64));
                while let Ok(&[b, ..]) = r.fill_buf() {
                    match b {
                        b'\n' => breaks += 1,
                        b'\r' => {}
                        _ => break,
                    }
                    r.consume(1);
                }
                let _ = r.read_until(b'\n', &mut bytes);
            }
        }
        // a lone `\r` ends a line too (the csv crate reads it as a line break)
        if let Some(i) = bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
            bytes.truncate(i);
        }
        (String::from_utf8_lossy(&bytes).into_owned(), breaks)
    }
}

/// Byte spans of the cells of one CSV line (quotes respected, delimiter `,`).
fn cell_spans(line: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                spans.push(start..i);
                start = i + 1;
            }
            _ => {}
        }
    }
    spans.push(start..line.len());
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_split_outside_quotes() {
        assert_eq!(cell_spans("a,\"b,c\",d"), vec![0..1, 2..7, 8..9]);
        assert_eq!(cell_spans(""), vec![0..0]);
    }
}
