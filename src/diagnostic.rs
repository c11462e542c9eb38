//! Errors that point at the source, as data, rendered in one place.
//!
//! Every stage reports its errors as a [`Diagnostic`]: a severity, a plain
//! message, a primary [`Label`] (the span the message is about), any number
//! of secondary labels (related places, such as an earlier declaration),
//! and notes and help. [`Diagnostic::render`] and [`Diagnostic::eprint`]
//! are the one renderer: `file:line:col: error: message`, the source line
//! with `^` under the primary span, each secondary span with `-` under it
//! (on the same excerpt when it is on the same line, else in an excerpt of
//! its own after a `::: file:line:col` line), then the notes. Colour comes
//! from [`anstyle`] styles written through [`anstream`], which drops them
//! when standard error is not a terminal or `NO_COLOR` is set.

use std::fmt::Write as _;
use std::ops::Range;

use anstyle::{AnsiColor, Effects, Style};

/// A source text and the name it is reported under (a path, `<stdin>` or
/// `<expr>`).
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// The name the source is reported under.
    pub name: String,
    /// The source text.
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

/// How serious a diagnostic is: the word after its location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The input is refused.
    Error,
    /// The input is accepted, but probably not what was meant.
    Warning,
    /// Context for an error reported before it.
    Note,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A span of the source and the short text shown under it.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Byte span in the diagnostic's source.
    pub span: Range<usize>,
    /// Shown after the carets; none shows the carets alone.
    pub text: Option<String>,
}

/// A located message: what went wrong, where, and what else is relevant.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// One plain sentence, no trailing period needed.
    pub message: String,
    /// The span the message is about; `None` for a message about no place
    /// in a source (a usage error), rendered as `error: message`.
    pub primary: Option<Label>,
    /// Related places in the same source ("first declared here").
    pub secondary: Vec<Label>,
    /// Further facts ("`x` is declared at line 3"), shown as `= note:`.
    pub notes: Vec<String>,
    /// What to do about it, shown as `= help:` after the notes.
    pub help: Vec<String>,
    /// When the error is in another file than the main source (a CSV file),
    /// its name and text; every label is in that file then.
    pub file: Option<Source>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            primary: Some(Label { span, text: None }),
            ..Diagnostic::unlocated(message)
        }
    }

    /// An error about no place in a source: rendered as `error: message`.
    pub fn unlocated(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
            file: None,
        }
    }

    /// The same diagnostic as a warning or a note.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Adds a label under the primary span's carets.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        if let Some(p) = &mut self.primary {
            p.text = Some(label.into());
        }
        self
    }

    /// Adds a secondary span, underlined with `-` and labelled `label`.
    pub fn with_secondary(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: Some(label.into()),
        });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Places the diagnostic in another file than the main source.
    pub fn in_file(mut self, file: Source) -> Self {
        self.file = Some(file);
        self
    }

    /// The diagnostic as plain text: `file:line:col: error: message`, then
    /// the source line with a caret under the span, the label, secondary
    /// spans and the notes:
    ///
    /// ```text
    /// model.ddx:3:5: error: `x` is already declared
    ///   |
    /// 3 | let x = m*2
    ///   |     ^ declared again
    ///  ::: model.ddx:1:6
    ///   |
    /// 1 | data x = [1, 2, 3]
    ///   |      - first declared here
    ///   = note: `x` is first declared as a data column at line 1, column 6
    /// ```
    pub fn render(&self, source: &Source) -> String {
        self.render_with(Some(source), &Theme::PLAIN)
    }

    /// [`Diagnostic::render`] with ANSI colour, for a terminal.
    pub fn render_ansi(&self, source: Option<&Source>) -> String {
        self.render_with(source, &Theme::ANSI)
    }

    /// Writes the diagnostic to standard error, in colour when it is a
    /// terminal and neither `NO_COLOR` nor `CLICOLOR=0` is set (or when
    /// `CLICOLOR_FORCE` is). A closed standard error is ignored: there is
    /// nowhere left to report it.
    pub fn eprint(&self, source: Option<&Source>) {
        use std::io::Write;
        let text = self.render_ansi(source);
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }

    /// The one renderer behind [`Diagnostic::render`] and
    /// [`Diagnostic::eprint`].
    fn render_with(&self, source: Option<&Source>, theme: &Theme) -> String {
        let severity = theme.severity(self.severity);
        let src = self.file.as_ref().or(source);
        let (Some(src), Some(primary)) = (src, &self.primary) else {
            let mut out = format!(
                "{severity}{}:{severity:#} {}\n",
                self.severity.word(),
                Styled(theme.message, &printable(&self.message))
            );
            self.render_notes(&mut out, "", theme);
            return out;
        };
        let main = Place::of(src, &primary.span);
        let mut out = format!(
            "{}:{}:{}: {severity}{}:{severity:#} {}\n",
            printable(&src.name),
            main.line,
            main.col,
            self.severity.word(),
            Styled(theme.message, &printable(&self.message))
        );
        // the primary excerpt, then one per other line a secondary span is on
        let mut excerpts = vec![Excerpt::new(src, &main)];
        excerpts[0].mark(&main, primary.text.as_deref(), true);
        for label in &self.secondary {
            let place = Place::of(src, &label.span);
            let text = label.text.as_deref();
            match excerpts.iter_mut().find(|e| e.shows(&place)) {
                Some(e) => e.mark(&place, text, false),
                None => {
                    let mut e = Excerpt::new(src, &place);
                    e.mark(&place, text, false);
                    excerpts.push(e);
                }
            }
        }
        let width = excerpts
            .iter()
            .map(|e| e.line.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(width);
        for (i, e) in excerpts.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(
                    out,
                    "{}{pad}:::{:#} {}:{}:{}",
                    theme.gutter,
                    theme.gutter,
                    printable(&src.name),
                    e.line,
                    e.col
                );
            }
            e.render(&mut out, width, theme, self.severity);
        }
        self.render_notes(&mut out, &pad, theme);
        out
    }

    fn render_notes(&self, out: &mut String, pad: &str, theme: &Theme) {
        let notes = self.notes.iter().map(|n| ("note", n));
        for (kind, text) in notes.chain(self.help.iter().map(|h| ("help", h))) {
            let _ = writeln!(
                out,
                "{pad} {}: {}",
                Styled(theme.note, &format!("= {kind}")),
                printable(text)
            );
        }
    }
}

/// The styles of a rendering: all plain, or ANSI colours.
struct Theme {
    error: Style,
    warning: Style,
    note: Style,
    message: Style,
    gutter: Style,
    secondary: Style,
}

impl Theme {
    const PLAIN: Theme = Theme {
        error: Style::new(),
        warning: Style::new(),
        note: Style::new(),
        message: Style::new(),
        gutter: Style::new(),
        secondary: Style::new(),
    };

    const ANSI: Theme = Theme {
        error: Style::new()
            .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
            .effects(Effects::BOLD),
        warning: Style::new()
            .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)))
            .effects(Effects::BOLD),
        note: Style::new().effects(Effects::BOLD),
        message: Style::new().effects(Effects::BOLD),
        gutter: Style::new()
            .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)))
            .effects(Effects::BOLD),
        secondary: Style::new()
            .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)))
            .effects(Effects::BOLD),
    };

    fn severity(&self, severity: Severity) -> Style {
        match severity {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Note => self.note,
        }
    }
}

/// Text in a style, reset after it.
struct Styled<'a>(Style, &'a str);

impl std::fmt::Display for Styled<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:#}", self.0, self.1, self.0)
    }
}

/// Where a span is: its line and column, and its line's bounds.
struct Place {
    /// Byte offsets of the span, on char boundaries.
    start: usize,
    end: usize,
    /// 1-based line and column (in characters).
    line: usize,
    col: usize,
    /// Byte offsets of the line, without its line break.
    line_start: usize,
    line_end: usize,
}

impl Place {
    fn of(src: &Source, span: &Range<usize>) -> Place {
        let text = src.text.as_str();
        let len = text.len();
        let mut start = floor_char_boundary(text, span.start.min(len));
        let mut end = floor_char_boundary(text, span.end.clamp(start, len));
        // a span at the `\n` of a CRLF line break is at its `\r`: the end of
        // the line as the user sees it
        if text[start..].starts_with('\n') && text[..start].ends_with('\r') {
            start -= 1;
            end = (end - 1).max(start);
        }
        let (line, col) = src.line_col(start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let mut line_end = text[start..].find('\n').map_or(len, |i| start + i);
        // the `\r` of a CRLF line break is not part of the line
        if line_end > start && text[..line_end].ends_with('\r') {
            line_end -= 1;
        }
        Place {
            start,
            end,
            line,
            col,
            line_start,
            line_end,
        }
    }
}

/// Characters shown either side of the span a long line is shown around.
const WINDOW: usize = 60;

/// One source line, cut to a window around the span it is shown for, and
/// the spans marked under it.
struct Excerpt {
    line: usize,
    col: usize,
    line_start: usize,
    /// The line's characters.
    chars: Vec<char>,
    /// The shown characters: `chars[skip..shown_end]`.
    skip: usize,
    shown_end: usize,
    /// Marker lines: first character, length (both in characters), primary
    /// or not, label.
    marks: Vec<(usize, usize, bool, Option<String>)>,
}

impl Excerpt {
    /// The line of `place`, windowed around it.
    fn new(src: &Source, place: &Place) -> Excerpt {
        let text = &src.text[place.line_start..place.line_end];
        let chars: Vec<char> = text.chars().collect();
        let at = src.text[place.line_start..place.start].chars().count();
        Excerpt {
            line: place.line,
            col: place.col,
            line_start: place.line_start,
            skip: at.saturating_sub(WINDOW),
            shown_end: (at + WINDOW).min(chars.len()),
            chars,
            marks: Vec::new(),
        }
    }

    /// Whether the start of `place` is on this line and inside the window.
    fn shows(&self, place: &Place) -> bool {
        if place.line_start != self.line_start {
            return false;
        }
        let at = self.char_index(place);
        // a span at the end of the line is shown when the line's end is
        let end = self.chars.len();
        at >= self.skip && (at < self.shown_end || (at == end && self.shown_end == end))
    }

    fn char_index(&self, place: &Place) -> usize {
        self.chars_between(self.line_start, place.start)
    }

    fn chars_between(&self, from: usize, to: usize) -> usize {
        // the line's characters, counted by their UTF-8 lengths
        let mut bytes = from;
        let mut n = 0;
        for &c in &self.chars {
            if bytes >= to {
                break;
            }
            bytes += c.len_utf8();
            n += 1;
        }
        n
    }

    /// Marks `place` (on this line) with carets and `label`.
    fn mark(&mut self, place: &Place, label: Option<&str>, primary: bool) {
        let at = self.char_index(place);
        let under = self.chars_between(
            self.line_start,
            place.end.min(place.line_end).max(place.start),
        ) - at;
        let room = self.shown_end.saturating_sub(at).max(1);
        let len = under.clamp(1, WINDOW).min(room);
        self.marks
            .push((at, len, primary, label.map(str::to_string)));
    }

    fn render(&self, out: &mut String, width: usize, theme: &Theme, severity: Severity) {
        let prefix = if self.skip > 0 { "..." } else { "" };
        let mut shown = String::from(prefix);
        shown.extend(
            self.chars[self.skip..self.shown_end]
                .iter()
                .map(|&c| display_char(c)),
        );
        if self.shown_end < self.chars.len() {
            shown.push_str("...");
        }
        let pad = " ".repeat(width);
        let bar = Styled(theme.gutter, "|");
        let _ = writeln!(out, "{pad} {bar}");
        let number = format!("{:<width$}", self.line);
        let _ = writeln!(
            out,
            "{} {bar} {}",
            Styled(theme.gutter, &number),
            shown.trim_end()
        );
        for (at, len, primary, label) in &self.marks {
            let (style, ch) = if *primary {
                (theme.severity(severity), "^")
            } else {
                (theme.secondary, "-")
            };
            let mut marker = ch.repeat(*len);
            if let Some(l) = label {
                marker.push(' ');
                marker.push_str(&printable(l));
            }
            let indent = " ".repeat(prefix.len() + at - self.skip);
            let _ = writeln!(out, "{pad} {bar} {indent}{}", Styled(style, &marker));
        }
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
pub(crate) fn is_invisible(c: char) -> bool {
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
/// as `display_char` does: a message may quote what the user wrote (a
/// file name, a CSV header), which must not send escape sequences to the
/// terminal.
pub(crate) fn printable(text: &str) -> String {
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
    fn secondary_span_on_the_same_line() {
        let src = Source::new("m.ddx", "param a = 1, b = 2, a = 3\n");
        let d = Diagnostic::new("`a` is already declared", 20..21)
            .with_label("declared again")
            .with_secondary(6..7, "first declared here")
            .with_note("a note");
        assert_eq!(
            d.render(&src),
            "m.ddx:1:21: error: `a` is already declared\n\
             \x20 |\n\
             1 | param a = 1, b = 2, a = 3\n\
             \x20 |                     ^ declared again\n\
             \x20 |       - first declared here\n\
             \x20 = note: a note\n"
        );
    }

    #[test]
    fn secondary_span_on_another_line() {
        let src = Source::new("m.ddx", "data x = [1]\nlet x = 2\n");
        let d = Diagnostic::new("`x` is already declared", 17..18)
            .with_label("declared again")
            .with_secondary(5..6, "first declared here")
            .with_help("rename one");
        assert_eq!(
            d.render(&src),
            "m.ddx:2:5: error: `x` is already declared\n\
             \x20 |\n\
             2 | let x = 2\n\
             \x20 |     ^ declared again\n\
             \x20::: m.ddx:1:6\n\
             \x20 |\n\
             1 | data x = [1]\n\
             \x20 |      - first declared here\n\
             \x20 = help: rename one\n"
        );
    }

    #[test]
    fn secondary_spans_share_the_gutter_and_their_line() {
        // line 2 and line 10: one gutter width; two labels on line 10
        let text = format!("a = 1\nb = (c\n{}let d = 1\n", "\n".repeat(7));
        let src = Source::new("m", text.as_str());
        let line10 = text.find("let").unwrap();
        let d = Diagnostic::new("oops", 6..7)
            .with_secondary(line10..line10 + 3, "one")
            .with_secondary(line10 + 4..line10 + 5, "two");
        let shown = d.render(&src);
        assert_eq!(
            shown,
            "m:2:1: error: oops\n\
             \x20  |\n\
             2  | b = (c\n\
             \x20  | ^\n\
             \x20 ::: m:10:1\n\
             \x20  |\n\
             10 | let d = 1\n\
             \x20  | --- one\n\
             \x20  |     - two\n"
        );
    }

    #[test]
    fn a_secondary_span_outside_the_window_gets_its_own_excerpt() {
        let text = format!("a{}b", " ".repeat(200));
        let src = Source::new("m", text.as_str());
        let d = Diagnostic::new("far apart", 201..202).with_secondary(0..1, "here");
        let shown = d.render(&src);
        assert!(
            shown.contains("1 | ...") && shown.contains(" ::: m:1:1\n"),
            "{shown}"
        );
        assert!(shown.contains("\n1 | a "), "{shown}");
        assert!(shown.ends_with("...\n  | - here\n"), "{shown}");
    }

    #[test]
    fn severity_and_unlocated_messages() {
        let src = Source::new("m", "x\n");
        let note = Diagnostic::new("context", 0..1).with_severity(Severity::Note);
        assert!(note.render(&src).starts_with("m:1:1: note: context\n"));
        let usage = Diagnostic::unlocated("bad usage");
        assert_eq!(usage.render(&src), "error: bad usage\n");
        let warning = Diagnostic::unlocated("odd").with_severity(Severity::Warning);
        assert_eq!(warning.render(&src), "warning: odd\n");
    }

    #[test]
    fn colour_is_styles_around_the_same_text() {
        let src = Source::new("m", "let x = 1\n");
        let d = Diagnostic::new("oops", 4..5)
            .with_label("here")
            .with_secondary(0..3, "there")
            .with_note("n");
        let plain = d.render(&src);
        assert!(!plain.contains('\x1b'), "{plain:?}");
        let ansi = d.render_ansi(Some(&src));
        assert!(ansi.contains("\x1b[1m\x1b[31merror:\x1b[0m"), "{ansi:?}");
        assert!(ansi.contains("\x1b[1m\x1b[31m^ here\x1b[0m"), "{ansi:?}");
        assert!(ansi.contains("\x1b[1m\x1b[34m--- there\x1b[0m"), "{ansi:?}");
        let stripped = anstream::adapter::strip_str(&ansi).to_string();
        assert_eq!(stripped, plain);
    }

    #[test]
    fn spans_past_the_end_do_not_panic() {
        let src = Source::new("x", "é");
        let d = Diagnostic::new("oops", 1..99);
        assert!(d.render(&src).starts_with("x:1:1"));
    }
}
