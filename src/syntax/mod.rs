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
        LexErrorKind::NotAnIndex => d
            .with_label("not an index name")
            .with_note("an array is defined with index names, e.g. `let z[k] = 2*w[k]`"),
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
    let operand = has("number") && names.len() > 1;
    if operand {
        parts.push("an expression");
    } else if has("number") {
        // only a number: a dimension of a shape
        parts.push("a number");
    } else if has("name") {
        parts.push("a name");
    }
    let operator = ["+", "-", "*", "/", "^", "@"].iter().any(|o| has(o));
    if !operand && operator {
        parts.push("an operator");
    }
    for (tok, words) in [
        ("=", "`=`"),
        ("as", "`as`"),
        (",", "`,`"),
        ("..", "`..`"),
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
    if has("[") && !operand && !operator && !has("=") {
        // `data x = 5`: the values of a column are a list (elsewhere a `[`
        // starts an optional shape, index list or subscript: not mentioned)
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

#[cfg(test)]
mod tests {
    use super::ast::{ColumnPart, ExprKind, StmtKind};
    use super::*;

    fn err(src: &str) -> Diagnostic {
        parse(src).expect_err("expected a syntax error")
    }

    #[test]
    fn index_transpose_matmul_list_and_named_arguments() {
        let f = parse("W[i, j + 1]' @ [1, [2]] * g(x, seed = 7)").unwrap();
        let StmtKind::Expr(root) = f.stmts[0].kind else {
            panic!("an expression statement")
        };
        let ExprKind::Binary(_, left, call) = f.expr(root).kind else {
            panic!("`*` at the top")
        };
        let ExprKind::MatMul(tr, list) = f.expr(left).kind else {
            panic!("`@` binds like `*`, left to right")
        };
        let ExprKind::Transpose(index) = f.expr(tr).kind else {
            panic!("a transpose")
        };
        let ExprKind::Index { name, len: 2, .. } = f.expr(index).kind else {
            panic!("an index with two subscripts")
        };
        assert_eq!(f.name(name), "W");
        assert_eq!(f.expr(index).span.range(), 0..11);
        assert_eq!(f.callee_span(index).range(), 0..1);
        assert_eq!(f.index_args(index).len(), 2);
        assert_eq!(f.expr(tr).span.range(), 0..12);
        assert_eq!(f.list_items(list).len(), 2);
        assert!(matches!(
            f.expr(f.list_items(list)[1]).kind,
            ExprKind::List { len: 1, .. }
        ));
        let named = f.call_args(call)[1];
        let ExprKind::Named { name, value } = f.expr(named).kind else {
            panic!("a named argument")
        };
        assert_eq!(f.name(name), "seed");
        assert_eq!(f.expr(value).kind, ExprKind::Num(7.0));
        assert_eq!(f.expr(named).span.range(), 31..39);
        assert_eq!(f.callee_span(named).range(), 31..35);
        // every node once, children first
        let order = f.postorder(root);
        assert_eq!(order.len(), f.exprs.len());
        assert_eq!(order.last(), Some(&root));
    }

    #[test]
    fn array_declarations() {
        let f = parse(
            "param w[10] = 0, b = 0\n\
             data px[p0 .. p63], digit, q[a, p0..p3] from \"d.csv\"\n\
             data x[2] = [[0, 1], [1, 0.5]]\n\
             let z[k, j] = w[k]\n\
             loss L = 1",
        )
        .unwrap();
        let StmtKind::Param(ps) = &f.stmts[0].kind else {
            panic!("param")
        };
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].dims.len(), 1);
        assert_eq!(ps[0].dims[0].size, 10.0);
        assert_eq!(ps[0].dims[0].span.range(), 8..10);
        assert!(ps[1].dims.is_empty());
        let StmtKind::DataCsv { cols, .. } = &f.stmts[1].kind else {
            panic!("data from")
        };
        assert_eq!(cols.len(), 3);
        assert_eq!(f.name(cols[0].column.name), "px");
        assert_eq!(cols[0].name, cols[0].column);
        let ColumnPart::Range { first, last, span } = cols[0].parts[0] else {
            panic!("a range")
        };
        assert_eq!((f.name(first.name), f.name(last.name)), ("p0", "p63"));
        assert_eq!(span.range(), 31..40);
        assert!(cols[1].parts.is_empty());
        assert!(matches!(cols[2].parts[0], ColumnPart::Column(_)));
        assert!(matches!(cols[2].parts[1], ColumnPart::Range { .. }));
        let StmtKind::DataInline { dims, values, .. } = &f.stmts[2].kind else {
            panic!("inline data")
        };
        assert_eq!(dims.len(), 1);
        assert_eq!(values.len(), 2);
        assert!(matches!(
            f.expr(values[0]).kind,
            ExprKind::List { len: 2, .. }
        ));
        let StmtKind::Let(a) = &f.stmts[3].kind else {
            panic!("let")
        };
        assert_eq!(a.indices.len(), 2);
        let StmtKind::Loss(a) = &f.stmts[4].kind else {
            panic!("loss")
        };
        assert!(a.indices.is_empty());
        let f = parse("W[i, j] = 1").unwrap();
        let StmtKind::Define(a) = &f.stmts[0].kind else {
            panic!("define")
        };
        assert_eq!(a.indices.len(), 2);
        assert_eq!(a.indices[1].span.range(), 5..6);
    }

    #[test]
    fn malformed_array_forms() {
        let d = err("f = w[");
        assert_eq!(d.primary.as_ref().unwrap().span, 6..6);
        assert!(d.message.contains("end of the input"), "{}", d.message);
        let d = err("param w[] = 0");
        assert_eq!(d.primary.as_ref().unwrap().span, 8..9);
        assert_eq!(d.message, "expected a number, found `]`");
        let d = err("data px[p0 ..] from \"f\"");
        assert_eq!(d.primary.as_ref().unwrap().span, 13..14);
        assert_eq!(d.message, "expected a name, found `]`");
        let d = err("a @");
        assert_eq!(d.primary.as_ref().unwrap().span, 3..3);
        assert_eq!(
            d.message,
            "expected an expression, found the end of the input"
        );
        let d = err("f(seed = )");
        assert_eq!(d.primary.as_ref().unwrap().span, 9..10);
        assert_eq!(d.message, "expected an expression, found `)`");
        let d = err("let z[k + 1] = 2");
        assert_eq!(d.primary.as_ref().unwrap().span, 8..9);
        let d = err("f = w[]");
        assert_eq!(d.primary.as_ref().unwrap().span, 6..7);
        let d = err("data p[a .. 3] from \"f\"");
        assert_eq!(d.primary.as_ref().unwrap().span, 12..13);
        let d = err("param w[2.5.1] = 0");
        assert_eq!(d.primary.as_ref().unwrap().span, 8..13);
        let d = err("W[2] = 1");
        assert_eq!(d.primary.as_ref().unwrap().span, 2..3);
        assert!(d.message.contains("must be names"), "{}", d.message);
        let d = err("f = a ' b");
        assert_eq!(d.primary.as_ref().unwrap().span, 8..9);
    }
}
