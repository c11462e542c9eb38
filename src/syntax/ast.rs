//! The abstract syntax tree, stored flat.
//!
//! Expressions live in one arena ([`File::exprs`]) and refer to each other
//! by [`ExprId`]; children are always pushed before their parent, so an id
//! is greater than the ids of its children. Names are interned. Nothing here
//! is recursive in memory, so dropping, comparing and printing an AST of any
//! depth never recurses.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// A byte span in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The span `start..end` (offsets above `u32::MAX` saturate; the parser
    /// refuses sources that large).
    pub fn new(start: usize, end: usize) -> Self {
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: c(start),
            end: c(end),
        }
    }

    /// As a byte range.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// The id of an expression in [`File::exprs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

impl ExprId {
    /// Position in the arena.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The id of an interned name in [`File::names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameId(pub u32);

/// A name as written, with its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: NameId,
    pub span: Span,
}

/// A binary operator: the parser builds `+ - * / ^` (the operator table of
/// [`crate::graph::ops`] declares them).
pub(crate) use crate::graph::BinOp;

/// What an expression is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal (always finite and non-negative).
    Num(f64),
    /// A reference to a name.
    Name(NameId),
    /// Unary minus.
    Neg(ExprId),
    /// A binary operation.
    Binary(BinOp, ExprId, ExprId),
    /// A call `name(args)`: the arguments are `File::args[start..start+len]`;
    /// the callee's name starts at the start of the expression's span.
    Call { name: NameId, start: u32, len: u32 },
}

/// An expression node with its span (parentheses included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// One column of a `data ... from` statement: `NAME` or `COLUMN as NAME`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataCol {
    /// The CSV header to read.
    pub column: Ident,
    /// The name the column gets in the model (`column` when there is no `as`).
    pub name: Ident,
}

/// A `name = value` pair (a param, a train option).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Assign {
    pub name: Ident,
    pub value: ExprId,
}

/// An argument of `train OPT(...)`: named (`lr = 0.1`) or, wrongly,
/// positional.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrainArg {
    Named(Assign),
    Positional(ExprId),
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `data NAME = [v, ...]`
    DataInline { name: Ident, values: Vec<ExprId> },
    /// `data COL [as NAME], ... from "path"`
    DataCsv {
        cols: Vec<DataCol>,
        path: String,
        path_span: Span,
    },
    /// `param NAME = init, ...`
    Param(Vec<Assign>),
    /// `let NAME = expr`
    Let(Assign),
    /// `loss NAME = expr`
    Loss(Assign),
    /// `train OPT(k = v, ...)`
    Train {
        optimizer: Ident,
        args: Vec<TrainArg>,
    },
    /// Expression mode: `NAME = expr`
    Define(Assign),
    /// Expression mode: a bare expression.
    Expr(ExprId),
}

impl StmtKind {
    /// The keyword the statement starts with, if any.
    pub fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            StmtKind::DataInline { .. } | StmtKind::DataCsv { .. } => "data",
            StmtKind::Param(_) => "param",
            StmtKind::Let(_) => "let",
            StmtKind::Loss(_) => "loss",
            StmtKind::Train { .. } => "train",
            StmtKind::Define(_) | StmtKind::Expr(_) => return None,
        })
    }
}

/// A statement with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What the statement is.
    pub kind: StmtKind,
    /// The statement's span.
    pub span: Span,
}

/// A parsed file: statements, and the arenas they point into.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// The statements, in source order.
    pub stmts: Vec<Stmt>,
    /// Expression nodes, referenced by `ExprId`.
    pub exprs: Vec<Expr>,
    /// Call arguments, referenced by `ExprKind::Call`.
    pub args: Vec<ExprId>,
    /// Interned names, referenced by `NameId`.
    pub names: Vec<String>,
    name_ids: HashMap<String, NameId>,
}

impl File {
    /// True when the file has no statements at all.
    pub fn is_empty(&self) -> bool {
        self.stmts.is_empty()
    }

    /// The paths of the CSV files the file's `data ... from "path"` lines
    /// read, in order.
    pub fn csv_paths(&self) -> impl Iterator<Item = &str> {
        self.stmts.iter().filter_map(|s| match &s.kind {
            StmtKind::DataCsv { path, .. } => Some(path.as_str()),
            _ => None,
        })
    }

    /// The expression behind an id.
    pub fn expr(&self, id: ExprId) -> &Expr {
        &self.exprs[id.index()]
    }

    /// The text of a name.
    pub fn name(&self, id: NameId) -> &str {
        &self.names[id.0 as usize]
    }

    /// The arguments of a call expression (empty for anything else).
    pub fn call_args(&self, id: ExprId) -> &[ExprId] {
        match self.expr(id).kind {
            ExprKind::Call { start, len, .. } => {
                &self.args[start as usize..start as usize + len as usize]
            }
            _ => &[],
        }
    }

    /// The span of the callee's name in a call expression.
    pub fn callee_span(&self, id: ExprId) -> Span {
        let e = self.expr(id);
        match e.kind {
            ExprKind::Call { name, .. } => {
                let len = self.name(name).len() as u32;
                Span {
                    start: e.span.start,
                    end: e.span.start.saturating_add(len),
                }
            }
            _ => e.span,
        }
    }

    /// Interns a name.
    pub fn intern(&mut self, name: &str) -> NameId {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = NameId(self.names.len() as u32);
        self.names.push(name.to_string());
        self.name_ids.insert(name.to_string(), id);
        id
    }

    /// Adds an expression to the arena.
    pub fn push(&mut self, kind: ExprKind, span: Span) -> ExprId {
        let id = ExprId(self.exprs.len() as u32);
        self.exprs.push(Expr { kind, span });
        id
    }

    /// Adds a call with its arguments.
    pub fn push_call(&mut self, name: NameId, args: Vec<ExprId>, span: Span) -> ExprId {
        let start = self.args.len() as u32;
        let len = args.len() as u32;
        self.args.extend(args);
        self.push(ExprKind::Call { name, start, len }, span)
    }

    /// Widens the span of an expression (to cover its parentheses).
    pub fn set_span(&mut self, id: ExprId, span: Span) {
        self.exprs[id.index()].span = span;
    }

    /// The expressions under `root` (itself included), children before
    /// parents, without recursion.
    pub fn postorder(&self, root: ExprId) -> Vec<ExprId> {
        let mut out = Vec::new();
        let mut stack = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                out.push(id);
                continue;
            }
            stack.push((id, true));
            match self.expr(id).kind {
                ExprKind::Num(_) | ExprKind::Name(_) => {}
                ExprKind::Neg(a) => stack.push((a, false)),
                ExprKind::Binary(_, a, b) => {
                    stack.push((b, false));
                    stack.push((a, false));
                }
                ExprKind::Call { .. } => {
                    for &a in self.call_args(id).iter().rev() {
                        stack.push((a, false));
                    }
                }
            }
        }
        out
    }

    /// Writes an expression fully parenthesised: every operation in
    /// parentheses, numbers in a form that reads back to the same f64.
    pub fn write_expr(&self, out: &mut String, root: ExprId) {
        enum Work {
            Expr(ExprId),
            Text(&'static str),
        }
        let mut stack = vec![Work::Expr(root)];
        while let Some(w) = stack.pop() {
            match w {
                Work::Text(t) => out.push_str(t),
                Work::Expr(id) => match self.expr(id).kind {
                    ExprKind::Num(v) => write_number(out, v),
                    ExprKind::Name(n) => out.push_str(self.name(n)),
                    ExprKind::Neg(a) => {
                        out.push_str("(-");
                        stack.push(Work::Text(")"));
                        stack.push(Work::Expr(a));
                    }
                    ExprKind::Binary(op, a, b) => {
                        out.push('(');
                        stack.push(Work::Text(")"));
                        stack.push(Work::Expr(b));
                        stack.push(Work::Text(" "));
                        stack.push(Work::Text(op.name()));
                        stack.push(Work::Text(" "));
                        stack.push(Work::Expr(a));
                    }
                    ExprKind::Call { name, .. } => {
                        out.push_str(self.name(name));
                        out.push('(');
                        stack.push(Work::Text(")"));
                        let args = self.call_args(id);
                        for (i, &a) in args.iter().enumerate().rev() {
                            stack.push(Work::Expr(a));
                            if i > 0 {
                                stack.push(Work::Text(", "));
                            }
                        }
                    }
                },
            }
        }
    }

    /// True when both files have the same statements and expressions, spans
    /// aside (the oracle of the print -> parse round trip).
    pub fn same_structure(&self, other: &File) -> bool {
        if self.stmts.len() != other.stmts.len() {
            return false;
        }
        let mut pairs: Vec<(ExprId, ExprId)> = Vec::new();
        let same_ident = |a: &Ident, b: &Ident| self.name(a.name) == other.name(b.name);
        for (s, t) in self.stmts.iter().zip(&other.stmts) {
            let ok = match (&s.kind, &t.kind) {
                (
                    StmtKind::DataInline { name, values },
                    StmtKind::DataInline {
                        name: n2,
                        values: v2,
                    },
                ) => {
                    pairs.extend(values.iter().copied().zip(v2.iter().copied()));
                    same_ident(name, n2) && values.len() == v2.len()
                }
                (
                    StmtKind::DataCsv { cols, path, .. },
                    StmtKind::DataCsv {
                        cols: c2, path: p2, ..
                    },
                ) => {
                    path == p2
                        && cols.len() == c2.len()
                        && cols.iter().zip(c2).all(|(a, b)| {
                            same_ident(&a.column, &b.column) && same_ident(&a.name, &b.name)
                        })
                }
                (StmtKind::Param(a), StmtKind::Param(b)) => {
                    pairs.extend(a.iter().zip(b).map(|(x, y)| (x.value, y.value)));
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_ident(&x.name, &y.name))
                }
                (StmtKind::Let(a), StmtKind::Let(b))
                | (StmtKind::Loss(a), StmtKind::Loss(b))
                | (StmtKind::Define(a), StmtKind::Define(b)) => {
                    pairs.push((a.value, b.value));
                    same_ident(&a.name, &b.name)
                }
                (
                    StmtKind::Train { optimizer, args },
                    StmtKind::Train {
                        optimizer: o2,
                        args: a2,
                    },
                ) => {
                    let mut ok = same_ident(optimizer, o2) && args.len() == a2.len();
                    for (x, y) in args.iter().zip(a2) {
                        match (x, y) {
                            (TrainArg::Named(x), TrainArg::Named(y)) => {
                                ok &= same_ident(&x.name, &y.name);
                                pairs.push((x.value, y.value));
                            }
                            (TrainArg::Positional(x), TrainArg::Positional(y)) => {
                                pairs.push((*x, *y))
                            }
                            _ => ok = false,
                        }
                    }
                    ok
                }
                (StmtKind::Expr(a), StmtKind::Expr(b)) => {
                    pairs.push((*a, *b));
                    true
                }
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        while let Some((a, b)) = pairs.pop() {
            let (ea, eb) = (self.expr(a).kind, other.expr(b).kind);
            let ok = match (ea, eb) {
                (ExprKind::Num(x), ExprKind::Num(y)) => x.to_bits() == y.to_bits(),
                (ExprKind::Name(x), ExprKind::Name(y)) => self.name(x) == other.name(y),
                (ExprKind::Neg(x), ExprKind::Neg(y)) => {
                    pairs.push((x, y));
                    true
                }
                (ExprKind::Binary(o, x1, x2), ExprKind::Binary(p, y1, y2)) => {
                    pairs.push((x1, y1));
                    pairs.push((x2, y2));
                    o == p
                }
                (ExprKind::Call { name: n1, .. }, ExprKind::Call { name: n2, .. }) => {
                    let (a1, a2) = (self.call_args(a), other.call_args(b));
                    pairs.extend(a1.iter().copied().zip(a2.iter().copied()));
                    self.name(n1) == other.name(n2) && a1.len() == a2.len()
                }
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// Writes a finite number so that it reads back to the same value: small
/// integers without a decimal point, everything else in Rust's shortest
/// round-trip form.
pub fn write_number(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v:?}");
    }
}

fn write_ident(out: &mut String, f: &File, id: &Ident) {
    out.push_str(f.name(id.name));
}

impl fmt::Display for File {
    /// One statement per line, every expression fully parenthesised; the
    /// output parses back to the same AST (spans aside).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for s in &self.stmts {
            match &s.kind {
                StmtKind::DataInline { name, values } => {
                    out.push_str("data ");
                    write_ident(&mut out, self, name);
                    out.push_str(" = [");
                    for (i, &v) in values.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        self.write_expr(&mut out, v);
                    }
                    out.push(']');
                }
                StmtKind::DataCsv { cols, path, .. } => {
                    out.push_str("data ");
                    for (i, c) in cols.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        write_ident(&mut out, self, &c.column);
                        if c.column.name != c.name.name {
                            out.push_str(" as ");
                            write_ident(&mut out, self, &c.name);
                        }
                    }
                    out.push_str(" from \"");
                    out.push_str(path);
                    out.push('"');
                }
                StmtKind::Param(items) => {
                    out.push_str("param ");
                    for (i, a) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        write_ident(&mut out, self, &a.name);
                        out.push_str(" = ");
                        self.write_expr(&mut out, a.value);
                    }
                }
                StmtKind::Let(a) | StmtKind::Loss(a) | StmtKind::Define(a) => {
                    if let Some(k) = s.kind.keyword() {
                        out.push_str(k);
                        out.push(' ');
                    }
                    write_ident(&mut out, self, &a.name);
                    out.push_str(" = ");
                    self.write_expr(&mut out, a.value);
                }
                StmtKind::Train { optimizer, args } => {
                    out.push_str("train ");
                    write_ident(&mut out, self, optimizer);
                    out.push('(');
                    for (i, a) in args.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        match a {
                            TrainArg::Named(a) => {
                                write_ident(&mut out, self, &a.name);
                                out.push_str(" = ");
                                self.write_expr(&mut out, a.value);
                            }
                            TrainArg::Positional(e) => self.write_expr(&mut out, *e),
                        }
                    }
                    out.push(')');
                }
                StmtKind::Expr(e) => self.write_expr(&mut out, *e),
            }
            out.push('\n');
            f.write_str(&out)?;
            out.clear();
        }
        Ok(())
    }
}
