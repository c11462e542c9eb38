//! The lexer: logos for the raw tokens, plus an adapter that gives the
//! parser what the grammar needs.
//!
//! The adapter (a) parses number literals and rejects non-finite or
//! malformed ones, (b) treats newlines inside `()` and `[]` as whitespace,
//! reports unbalanced brackets at the bracket, and (c) collapses runs of
//! statement separators (newlines and `;`) into one, dropping leading ones.
//! Every error carries the byte span it is about.

use std::fmt;
use std::ops::Range;

use logos::Logos;

/// The raw tokens recognised by logos.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\x0C]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
enum Raw {
    #[token("\n")]
    Newline,
    #[token(";")]
    Semi,
    #[regex(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")]
    #[regex(r"\.[0-9]+([eE][+-]?[0-9]+)?")]
    Number,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r#""[^"\n]*""#)]
    Str,
    #[regex(r#""[^"\n]*"#, allow_greedy = true)]
    UnterminatedStr,
    #[token("data")]
    Data,
    #[token("param")]
    Param,
    #[token("let")]
    Let,
    #[token("loss")]
    Loss,
    #[token("train")]
    Train,
    #[token("from")]
    From,
    #[token("as")]
    As,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("^")]
    Caret,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token("=")]
    Eq,
    #[token("@")]
    At,
    #[token("'")]
    Quote,
    #[token("..")]
    DotDot,
}

/// The keywords of the language.
pub(crate) const KEYWORDS: [&str; 7] = ["data", "param", "let", "loss", "train", "from", "as"];

/// A token as the parser sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Token<'s> {
    /// A finite number literal.
    Num(f64),
    /// An identifier that is not a keyword.
    Ident(&'s str),
    /// A string literal, without its quotes.
    Str(&'s str),
    Data,
    Param,
    Let,
    Loss,
    Train,
    From,
    As,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    /// `@`, the matrix product.
    At,
    /// `'`, the postfix transpose.
    Quote,
    /// `..`, a range of numbered columns.
    DotDot,
    /// The end of a statement: a newline or `;` (runs collapse into one).
    Sep,
}

impl Token<'_> {
    /// The keyword this token is, if it is one.
    pub(crate) fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            Token::Data => "data",
            Token::Param => "param",
            Token::Let => "let",
            Token::Loss => "loss",
            Token::Train => "train",
            Token::From => "from",
            Token::As => "as",
            _ => return None,
        })
    }
}

impl fmt::Display for Token<'_> {
    /// Describes the token in words, as error messages use it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = self.keyword() {
            return write!(f, "keyword `{k}`");
        }
        match self {
            Token::Num(v) => write!(f, "number `{v}`"),
            Token::Ident(s) => write!(f, "name `{s}`"),
            Token::Str(s) => write!(f, "string \"{s}\""),
            Token::Sep => f.write_str("end of statement"),
            other => write!(f, "`{}`", punct_text(other)),
        }
    }
}

fn punct_text(t: &Token) -> &'static str {
    match t {
        Token::Plus => "+",
        Token::Minus => "-",
        Token::Star => "*",
        Token::Slash => "/",
        Token::Caret => "^",
        Token::LParen => "(",
        Token::RParen => ")",
        Token::LBracket => "[",
        Token::RBracket => "]",
        Token::Comma => ",",
        Token::Eq => "=",
        Token::At => "@",
        Token::Quote => "'",
        Token::DotDot => "..",
        _ => "?",
    }
}

/// What went wrong while lexing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LexErrorKind {
    /// A character that starts no token.
    BadChar(char),
    /// A number literal that overflows f64.
    NonFinite(String),
    /// A number run into a name or another number (`2x`, `1.2.3`).
    BadNumber(String),
    /// A string without its closing quote.
    UnterminatedString,
    /// A closing bracket without an opening one.
    Unmatched(char),
    /// A closing bracket that does not match the open one.
    Mismatched {
        found: char,
        open: char,
        open_span: Range<usize>,
    },
    /// A subscript of `NAME[...] =` that is not an index name (the parser
    /// reports it through the lexer's error type).
    NotAnIndex,
}

/// A lexer error at a byte span.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LexError {
    pub kind: LexErrorKind,
    pub span: Range<usize>,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LexErrorKind::BadChar(c) if crate::diagnostic::is_invisible(*c) => {
                write!(f, "unexpected character U+{:04X}", *c as u32)
            }
            LexErrorKind::BadChar(c) => write!(f, "unexpected character `{c}`"),
            LexErrorKind::NonFinite(s) => {
                write!(f, "number `{s}` is too large for a 64-bit float")
            }
            LexErrorKind::BadNumber(s) => write!(f, "malformed number `{s}`"),
            LexErrorKind::UnterminatedString => f.write_str("string is missing its closing `\"`"),
            LexErrorKind::Unmatched(c) => write!(f, "unmatched `{c}`"),
            LexErrorKind::Mismatched { found, open, .. } => {
                write!(f, "`{found}` does not close the `{open}` opened earlier")
            }
            LexErrorKind::NotAnIndex => {
                f.write_str("the indices of a definition `NAME[i, ...] = ...` must be names")
            }
        }
    }
}

/// An open bracket, as tracked by the adapter.
#[derive(Clone, Debug)]
pub(crate) struct OpenBracket {
    pub ch: char,
    pub span: Range<usize>,
}

/// The token stream the parser reads: `(start, token, end)` triples.
pub(crate) struct Lexer<'s> {
    src: &'s str,
    raw: logos::SpannedIter<'s, Raw>,
    /// A raw token read ahead (to see what follows a number).
    peeked: Option<(Result<Raw, ()>, Range<usize>)>,
    /// Brackets currently open, innermost last.
    pub open: Vec<OpenBracket>,
    /// True when the last token given to the parser was a separator (or
    /// nothing was given yet): further separators are dropped.
    after_sep: bool,
    /// Set once an error was returned: the stream then ends.
    failed: bool,
}

impl<'s> Lexer<'s> {
    /// A lexer over `src`.
    pub(crate) fn new(src: &'s str) -> Self {
        Lexer {
            src,
            raw: Raw::lexer(src).spanned(),
            peeked: None,
            open: Vec::new(),
            after_sep: true,
            failed: false,
        }
    }

    fn next_raw(&mut self) -> Option<(Result<Raw, ()>, Range<usize>)> {
        self.peeked.take().or_else(|| self.raw.next())
    }

    fn peek_raw(&mut self) -> Option<&(Result<Raw, ()>, Range<usize>)> {
        if self.peeked.is_none() {
            self.peeked = self.raw.next();
        }
        self.peeked.as_ref()
    }

    fn fail(&mut self, kind: LexErrorKind, span: Range<usize>) -> Option<Spanned<'s>> {
        self.failed = true;
        Some(Err(LexError { kind, span }))
    }

    fn number(&mut self, span: Range<usize>) -> Result<Token<'s>, LexError> {
        // A number glued to a name or another number is one bad literal.
        let mut end = span.end;
        while let Some((tok, next)) = self.peek_raw() {
            let glued = next.start == end
                && matches!(
                    tok,
                    Ok(Raw::Ident | Raw::Number)
                        | Ok(Raw::Data | Raw::Param | Raw::Let | Raw::Loss)
                        | Ok(Raw::Train | Raw::From | Raw::As)
                );
            if !glued {
                break;
            }
            end = next.end;
            self.peeked = None;
        }
        let text = &self.src[span.start..end];
        if end != span.end {
            return Err(LexError {
                kind: LexErrorKind::BadNumber(text.to_string()),
                span: span.start..end,
            });
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Token::Num(v)),
            _ => Err(LexError {
                kind: LexErrorKind::NonFinite(text.to_string()),
                span,
            }),
        }
    }

    fn close(&mut self, ch: char, span: Range<usize>) -> Result<(), LexError> {
        let want = if ch == ')' { '(' } else { '[' };
        match self.open.last() {
            Some(top) if top.ch == want => {
                self.open.pop();
                Ok(())
            }
            Some(top) => Err(LexError {
                kind: LexErrorKind::Mismatched {
                    found: ch,
                    open: top.ch,
                    open_span: top.span.clone(),
                },
                span,
            }),
            None => Err(LexError {
                kind: LexErrorKind::Unmatched(ch),
                span,
            }),
        }
    }
}

/// One item of the token stream.
pub(crate) type Spanned<'s> = Result<(usize, Token<'s>, usize), LexError>;

impl<'s> Iterator for Lexer<'s> {
    type Item = Spanned<'s>;

    fn next(&mut self) -> Option<Spanned<'s>> {
        if self.failed {
            return None;
        }
        loop {
            let (raw, span) = self.next_raw()?;
            let tok = match raw {
                Err(()) => {
                    let text = &self.src[span.start..];
                    if text.starts_with('"') {
                        return self.fail(LexErrorKind::UnterminatedString, span);
                    }
                    let c = text.chars().next().unwrap_or('\u{FFFD}');
                    let end = span.start + c.len_utf8();
                    return self.fail(LexErrorKind::BadChar(c), span.start..end);
                }
                Ok(Raw::UnterminatedStr) => {
                    return self.fail(LexErrorKind::UnterminatedString, span);
                }
                Ok(Raw::Newline) if !self.open.is_empty() => continue,
                Ok(Raw::Newline | Raw::Semi) => {
                    if self.after_sep {
                        continue;
                    }
                    self.after_sep = true;
                    return Some(Ok((span.start, Token::Sep, span.end)));
                }
                Ok(Raw::Number) => match self.number(span.clone()) {
                    Ok(t) => t,
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                },
                Ok(Raw::Ident) => Token::Ident(&self.src[span.clone()]),
                Ok(Raw::Str) => Token::Str(&self.src[span.start + 1..span.end - 1]),
                Ok(Raw::Data) => Token::Data,
                Ok(Raw::Param) => Token::Param,
                Ok(Raw::Let) => Token::Let,
                Ok(Raw::Loss) => Token::Loss,
                Ok(Raw::Train) => Token::Train,
                Ok(Raw::From) => Token::From,
                Ok(Raw::As) => Token::As,
                Ok(Raw::Plus) => Token::Plus,
                Ok(Raw::Minus) => Token::Minus,
                Ok(Raw::Star) => Token::Star,
                Ok(Raw::Slash) => Token::Slash,
                Ok(Raw::Caret) => Token::Caret,
                Ok(Raw::Comma) => Token::Comma,
                Ok(Raw::Eq) => Token::Eq,
                Ok(Raw::At) => Token::At,
                Ok(Raw::Quote) => Token::Quote,
                Ok(Raw::DotDot) => Token::DotDot,
                Ok(Raw::LParen) => {
                    self.open.push(OpenBracket {
                        ch: '(',
                        span: span.clone(),
                    });
                    Token::LParen
                }
                Ok(Raw::LBracket) => {
                    self.open.push(OpenBracket {
                        ch: '[',
                        span: span.clone(),
                    });
                    Token::LBracket
                }
                Ok(Raw::RParen | Raw::RBracket) => {
                    let (ch, tok) = if raw == Ok(Raw::RParen) {
                        (')', Token::RParen)
                    } else {
                        (']', Token::RBracket)
                    };
                    if let Err(e) = self.close(ch, span.clone()) {
                        self.failed = true;
                        return Some(Err(e));
                    }
                    tok
                }
            };
            self.after_sep = false;
            return Some(Ok((span.start, tok, span.end)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Token<'_>> {
        Lexer::new(src).map(|t| t.unwrap().1).collect()
    }

    fn err(src: &str) -> LexError {
        Lexer::new(src)
            .find_map(|t| t.err())
            .expect("expected a lex error")
    }

    #[test]
    fn numbers_in_every_form() {
        assert_eq!(
            toks("3 0.62 .62 1e-3 2.5E+4 7."),
            vec![
                Token::Num(3.0),
                Token::Num(0.62),
                Token::Num(0.62),
                Token::Num(1e-3),
                Token::Num(2.5e4),
                Token::Num(7.0),
            ]
        );
    }

    #[test]
    fn array_punctuation() {
        let range = vec![Token::Ident("p0"), Token::DotDot, Token::Ident("p63")];
        assert_eq!(toks("p0 .. p63"), range);
        assert_eq!(toks("p0..p63"), range);
        assert_eq!(
            toks("A' @ w[1.]"),
            vec![
                Token::Ident("A"),
                Token::Quote,
                Token::At,
                Token::Ident("w"),
                Token::LBracket,
                Token::Num(1.0),
                Token::RBracket,
            ]
        );
        assert_eq!(
            toks(".5..x"),
            vec![Token::Num(0.5), Token::DotDot, Token::Ident("x")]
        );
        assert_eq!(err("1..3").kind, LexErrorKind::BadNumber("1..3".into()));
    }

    #[test]
    fn keywords_names_and_comments() {
        assert_eq!(
            toks("data datax # a comment\nlet _y2"),
            vec![
                Token::Data,
                Token::Ident("datax"),
                Token::Sep,
                Token::Let,
                Token::Ident("_y2"),
            ]
        );
    }

    #[test]
    fn separators_collapse_and_brackets_swallow_newlines() {
        assert_eq!(
            toks("\n\n;a;;\n\n(b\n,\n)\n"),
            vec![
                Token::Ident("a"),
                Token::Sep,
                Token::LParen,
                Token::Ident("b"),
                Token::Comma,
                Token::RParen,
                Token::Sep,
            ]
        );
    }

    #[test]
    fn strings() {
        assert_eq!(toks(r#""trial.csv""#), vec![Token::Str("trial.csv")]);
        let e = err("data x from \"trial.csv\nloss");
        assert_eq!(e.kind, LexErrorKind::UnterminatedString);
        assert_eq!(e.span, 12..22);
    }

    #[test]
    fn errors_carry_their_span() {
        let e = err("x + 1e999");
        assert_eq!(e.kind, LexErrorKind::NonFinite("1e999".into()));
        assert_eq!(e.span, 4..9);
        let e = err("a = 2x");
        assert_eq!(e.kind, LexErrorKind::BadNumber("2x".into()));
        assert_eq!(e.span, 4..6);
        let e = err("1.2.3");
        assert_eq!(e.span, 0..5);
        let e = err("a é");
        assert_eq!(e.kind, LexErrorKind::BadChar('é'));
        assert_eq!(e.span, 2..4);
        let e = err("a\0");
        assert_eq!(e.span, 1..2);
        assert_eq!(e.to_string(), "unexpected character U+0000");
    }

    #[test]
    fn bracket_errors() {
        let e = err("(a]");
        assert!(matches!(
            e.kind,
            LexErrorKind::Mismatched {
                found: ']',
                open: '(',
                ..
            }
        ));
        assert_eq!(e.span, 2..3);
        let e = err("a)");
        assert_eq!(e.kind, LexErrorKind::Unmatched(')'));
    }
}
