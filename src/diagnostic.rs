//! Errors that point at the source, rendered once at the edge.
//!
//! Every stage reports its errors as a [`Diagnostic`]: a plain message, the
//! byte span it is about, and optional notes. The CLI renders it as
//! `file:line:col`, the source line and a caret.

use std::ops::Range;

/// A source text and the name it is reported under (a path, `<stdin>` or
/// `<expr>`).
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    /// A named source text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A located error message.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// One plain sentence, no trailing period needed.
    pub message: String,
    /// Byte span in the source the message is about.
    pub span: Range<usize>,
    /// Short label under the caret.
    pub label: Option<String>,
    /// Further hints ("did you mean `sin`?").
    pub notes: Vec<String>,
    /// When the error is in another file than the main source (a CSV file),
    /// its name and text.
    pub file: Option<Source>,
}

impl Diagnostic {
    /// A diagnostic at `span`.
    pub fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            label: None,
            notes: Vec::new(),
            file: None,
        }
    }

    /// Adds a label under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Places the diagnostic in another file than the main source.
    pub fn in_file(mut self, file: Source) -> Self {
        self.file = Some(file);
        self
    }

    /// Renders `file:line:col: error: message`, then the source line with a
    /// caret under the span, the label and the notes:
    ///
    /// ```text
    /// model.ddx:2:15: error: undeclared name `q`
    ///   |
    /// 2 | loss C = mean(q)
    ///   |               ^ not declared
    ///   = note: did you mean `m`?
    /// ```
    pub fn render(&self, source: &Source) -> String {
        self.render_as("error", source)
    }

    /// [`Diagnostic::render`] as `file:line:col: note: message`: context
    /// for an error reported before it.
    pub fn render_note(&self, source: &Source) -> String {
        self.render_as("note", source)
    }

    fn render_as(&self, level: &str, source: &Source) -> String {
        let src = self.file.as_ref().unwrap_or(source);
        let text = src.text.as_str();
        let len = text.len();
        let mut start = floor_char_boundary(text, self.span.start.min(len));
        let mut end = floor_char_boundary(text, self.span.end.clamp(start, len));
        // a span at the `\n` of a CRLF line break is at its `\r`: the end of
        // the line as the user sees it
        if text[start..].starts_with('\n') && text[..start].ends_with('\r') {
            start -= 1;
            end = (end - 1).max(start);
        }
        let (line, col) = src.line_col(start);
        let mut out = format!(
            "{}:{}:{}: {level}: {}\n",
            printable(&src.name),
            line,
            col,
            printable(&self.message)
        );
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let mut line_end = text[start..].find('\n').map_or(len, |i| start + i);
        // the `\r` of a CRLF line break is not part of the line
        if line_end > start && text[..line_end].ends_with('\r') {
            line_end -= 1;
        }
        let before: Vec<char> = text[line_start..start].chars().collect();
        let under: Vec<char> = text[start..end.min(line_end).max(start)].chars().collect();
        let after: Vec<char> = text[end.min(line_end).max(start)..line_end]
            .chars()
            .collect();
        // Show at most WINDOW characters either side of the caret.
        const WINDOW: usize = 60;
        let (skip, mut shown) = if before.len() > WINDOW {
            (before.len() - WINDOW, String::from("..."))
        } else {
            (0, String::new())
        };
        let mut caret_col = shown.chars().count();
        for &c in &before[skip..] {
            shown.push(display_char(c));
            caret_col += 1;
        }
        let under_len = under.len().clamp(1, WINDOW);
        for &c in under.iter().take(WINDOW) {
            shown.push(display_char(c));
        }
        let tail_room = WINDOW.saturating_sub(under.len().min(WINDOW));
        for &c in after.iter().take(tail_room) {
            shown.push(display_char(c));
        }
        if after.len() > tail_room || under.len() > WINDOW {
            shown.push_str("...");
        }
        let gutter = line.to_string();
        let pad = " ".repeat(gutter.len());
        out.push_str(&format!("{pad} |\n{gutter} | {}\n", shown.trim_end()));
        let mut marker = format!("{pad} | {}{}", " ".repeat(caret_col), "^".repeat(under_len));
        if let Some(l) = &self.label {
            marker.push(' ');
            marker.push_str(&printable(l));
        }
        out.push_str(&marker);
        out.push('\n');
        for n in &self.notes {
            out.push_str(&format!("{pad} = note: {}\n", printable(n)));
        }
        out
    }
}

/// A printable stand-in for characters that would garble a terminal or
/// hide what the text says: control characters (escape sequences, NUL),
/// and the invisible format characters of [`is_invisible`].
fn display_char(c: char) -> char {
    match c {
        '\t' => ' ',
        c if c.is_control() || (is_invisible(c) && !c.is_whitespace()) => '\u{FFFD}',
        c => c,
    }
}

/// Characters that show nothing, or change how the text around them is
/// shown: controls, whitespace other than a space, zero-width and
/// bidirectional formatting characters, the byte order mark, combining
/// marks. Messages name them by code point (`U+200B`), not by the
/// character itself.
pub fn is_invisible(c: char) -> bool {
    ((c.is_control() || c.is_whitespace()) && c != ' ')
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0300}'..='\u{036F}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// `text` with its control characters (other than line breaks) replaced,
/// as [`display_char`] does: a message may quote what the user wrote (a
/// file name, a CSV header), which must not send escape sequences to the
/// terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(|c| c != '\n' && display_char(c) != c) {
        return text.to_string();
    }
    text.chars()
        .map(|c| if c == '\n' { c } else { display_char(c) })
        .collect()
}

/// The reason an I/O operation failed, in plain words (no "os error N").
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "it is a directory".into(),
        ErrorKind::NotADirectory => "a part of the path is not a directory".into(),
        ErrorKind::InvalidData => "it is not text".into(),
        ErrorKind::StorageFull => "no space left on the device".into(),
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_and_caret() {
        let src = Source::new("model.ddx", "param m = 1\nloss C = mean(q)\n");
        let d = Diagnostic::new("undeclared name `q`", 26..27);
        let text = d.render(&src);
        assert!(
            text.starts_with("model.ddx:2:15: error: undeclared name `q`"),
            "{text}"
        );
        assert!(text.contains("loss C = mean(q)"), "{text}");
        assert!(text.contains("\n  |               ^\n"), "{text}");
    }

    #[test]
    fn spans_past_the_end_do_not_panic() {
        let src = Source::new("x", "é");
        let d = Diagnostic::new("oops", 1..99);
        assert!(d.render(&src).starts_with("x:1:1"));
    }
}
