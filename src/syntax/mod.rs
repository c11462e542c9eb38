//! The front end's syntax: lexer, grammar and AST.
//!
//! [`parse`] turns source text into an [`ast::File`] or a located
//! [`Diagnostic`]. The generated LR parser keeps its stack on the heap and
//! the AST is a flat arena, so no input, however deeply nested, can make
//! parsing, dropping or printing recurse.

// Errors are rare and end the stage; the public API returns the shared
// `Diagnostic` by value, as the rest of the pipeline does.
#![allow(clippy::result_large_err)]

pub(crate) mod ast;
pub(crate) mod lexer;

use lalrpop_util::{lalrpop_mod, ParseError};

use crate::diagnostic::{Diagnostic, Source};
use lexer::{LexError, LexErrorKind, Lexer, Token};

lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused, unreachable_pub, missing_docs)]
    grammar,
    "/ddx.rs"
);

/// The largest source text accepted, in bytes (32 MiB). Compiling takes
/// about 50 bytes of memory per byte of source (a 10 MB expression
/// differentiates in about 0.5 GB), so larger inputs are an error rather
/// than a risk of running out of memory.
pub const MAX_SOURCE_BYTES: usize = 32 << 20;

/// Parses a whole file (or a one-line expression).
pub fn parse(src: &str) -> Result<ast::File, Diagnostic> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic::new(
            format!(
                "the input is too large: {} bytes (the limit is {} MiB)",
                src.len(),
                MAX_SOURCE_BYTES >> 20
            ),
            0..0,
        ));
    }
    let mut file = ast::File::default();
    let mut lexer = Lexer::new(src);
    let result = grammar::FileParser::new().parse(&mut file, &mut lexer);
    match result {
        Ok(()) => Ok(file),
        Err(e) => Err(parse_error(src, &lexer, e)),
    }
}

/// Decodes raw bytes as UTF-8 source text (a leading byte order mark is
/// dropped). Invalid UTF-8 is an error at the first bad byte; the returned
/// source then holds a lossy copy of the text to render the error against.
pub fn decode(name: &str, mut bytes: Vec<u8>) -> Result<Source, (Diagnostic, Source)> {
    // a UTF-8 byte order mark (as some Windows editors write) is not text
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let len = e.utf8_error().error_len().unwrap_or(1);
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = Diagnostic::new("the input is not valid UTF-8", at..at + len)
                .with_label("invalid byte")
                .with_note("ddx reads UTF-8 text");
            Err((d, Source::new(name, text)))
        }
    }
}

/// 1-based line and column (in characters) of a byte offset of `src`.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, src[start..off].chars().count() + 1)
}

fn at(src: &str, offset: usize) -> String {
    let (l, c) = line_col(src, offset);
    format!("line {l}, column {c}")
}

fn parse_error(src: &str, lexer: &Lexer, e: ParseError<usize, Token, LexError>) -> Diagnostic {
    let open_note = |d: Diagnostic| match lexer.open.last() {
        Some(b) => d
            .with_secondary(b.span.clone(), "opened here")
            .with_note(format!(
                "the `{}` at {} is still open",
                b.ch,
                at(src, b.span.start)
            )),
        None => d,
    };
    match e {
        ParseError::User { error } => lex_diagnostic(src, error),
        ParseError::InvalidToken { location } => {
            Diagnostic::new("unexpected character", location..location + 1)
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let d = Diagnostic::new(
                format!(
                    "expected {}, found the end of the input",
                    expected_words(&expected)
                ),
                location..location,
            );
            open_note(d)
        }
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let names: Vec<&str> = expected.iter().map(|s| unquote(s)).collect();
            if let Some(k) = tok.keyword() {
                if names.contains(&"name") {
                    return Diagnostic::new(
                        format!("`{k}` is a keyword and cannot be used as a name"),
                        l..r,
                    )
                    .with_label("keyword")
                    .with_note("the keywords are: data, param, let, loss, train, from, as");
                }
            }
            let found = if tok == Token::Sep {
                if src[l..r].starts_with(';') {
                    "`;`".to_string()
                } else {
                    "the end of the line".to_string()
                }
            } else {
                tok.to_string()
            };
            let mut d = Diagnostic::new(
                format!("expected {}, found {found}", expected_words(&expected)),
                l..r,
            )
            .with_label("unexpected");
            if matches!(
                tok,
                Token::Data | Token::Param | Token::Let | Token::Loss | Token::Train
            ) {
                d = open_note(d);
                if lexer.open.is_empty() {
                    d = d.with_note("statements are separated by a newline or `;`");
                }
            }
            d
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::new(format!("unexpected {tok}"), l..r).with_label("unexpected")
        }
    }
}

fn lex_diagnostic(src: &str, e: LexError) -> Diagnostic {
    let msg = e.to_string();
    let d = Diagnostic::new(msg, e.span.clone());
    match &e.kind {
        LexErrorKind::BadChar(_) => d.with_label("not part of the language"),
        LexErrorKind::NonFinite(_) => d
            .with_label("overflows")
            .with_note("the largest finite value is about 1.8e308"),
        LexErrorKind::BadNumber(_) => d
            .with_label("not a number")
            .with_note("write a product with `*`, e.g. `2*x`"),
        LexErrorKind::UnterminatedString => d.with_label("string starts here"),
        LexErrorKind::Unmatched(c) => d.with_label(format!("no `{}` before it", opener(*c))),
        LexErrorKind::Mismatched {
            open, open_span, ..
        } => d
            .with_label(format!("expected `{}`", closer(*open)))
            .with_secondary(open_span.clone(), "opened here")
            .with_note(format!(
                "the `{open}` at {} is still open",
                at(src, open_span.start)
            )),
    }
}

fn opener(c: char) -> char {
    if c == ')' {
        '('
    } else {
        '['
    }
}

fn closer(c: char) -> char {
    if c == '(' {
        ')'
    } else {
        ']'
    }
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// Says in words what the parser expected. lalrpop's lists can be
/// incomplete, so they are summarised into kinds of things, not dumped.
fn expected_words(expected: &[String]) -> String {
    let names: Vec<&str> = expected.iter().map(|s| unquote(s)).collect();
    let has = |n: &str| names.contains(&n);
    let mut parts: Vec<&str> = Vec::new();
    // Where an operand may start, a number is always among the expected
    // tokens; a lone `(` after a name is the start of a call.
    let operand = has("number");
    if operand {
        parts.push("an expression");
    } else if has("name") {
        parts.push("a name");
    }
    if !operand && ["+", "-", "*", "/", "^"].iter().any(|o| has(o)) {
        parts.push("an operator");
    }
    for (tok, words) in [
        ("=", "`=`"),
        ("as", "`as`"),
        (",", "`,`"),
        ("from", "`from`"),
        ("string", "a file name in quotes"),
        (")", "`)`"),
        ("]", "`]`"),
    ] {
        if has(tok) {
            parts.push(words);
        }
    }
    if !operand && has("(") && parts.is_empty() {
        parts.push("`(`");
    }
    if !operand && has("[") {
        // `data x = 5`: the values of a column are a list
        parts.push("`[` and a list of values");
    }
    if has("end of statement") {
        parts.push("the end of the statement");
    }
    if ["data", "param", "let", "loss", "train"]
        .iter()
        .any(|k| has(k))
        && !operand
    {
        parts.push("a statement");
    }
    match parts.len() {
        0 => "something else".to_string(),
        1 => parts[0].to_string(),
        n => format!("{} or {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}
