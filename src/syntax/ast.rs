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
    /// Indexing `name[s, ...]`: the subscripts are
    /// `File::args[start..start+len]` (at least one); the name starts at the
    /// start of the expression's span.
    Index { name: NameId, start: u32, len: u32 },
    /// The postfix transpose `e'`.
    Transpose(ExprId),
    /// The matrix product `a @ b`.
    MatMul(ExprId, ExprId),
    /// A list literal `[e, ...]`: the elements are
    /// `File::args[start..start+len]`.
    List { start: u32, len: u32 },
    /// A named call argument `name = value` (only inside a call's
    /// arguments); the name starts at the start of the expression's span.
    Named { name: NameId, value: ExprId },
}

/// An expression node with its span (parentheses included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// One column of a `data ... from` statement: `NAME`, `COLUMN as NAME`, or
/// a vector column `NAME[part, ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DataCol {
    /// The CSV header to read (for a vector column, its name).
    pub column: Ident,
    /// The name the column gets in the model (`column` when there is no `as`).
    pub name: Ident,
    /// The CSV columns of a vector column, in order (empty for a scalar
    /// column).
    pub parts: Vec<ColumnPart>,
}

/// One entry of a vector column's `[...]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnPart {
    /// One CSV column.
    Column(Ident),
    /// Numbered CSV columns `first .. last` (`p0 .. p63`).
    Range {
        /// The first column's name.
        first: Ident,
        /// The last column's name.
        last: Ident,
        /// The span from `first` to `last`.
        span: Span,
    },
}

/// One dimension of a declared shape, a number literal as written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dim {
    /// The number as written (the checker requires a positive whole number).
    pub size: f64,
    /// The literal's span.
    pub span: Span,
}

/// A `name[i, ...] = value` definition (`let`, `loss`, expression mode) or a
/// train option `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Assign {
    /// The defined name.
    pub name: Ident,
    /// The index names of an array definition (empty for a scalar).
    pub indices: Vec<Ident>,
    /// The defining expression.
    pub value: ExprId,
}

/// One declaration of a `param` line: `name[dims] = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    /// The param's name.
    pub name: Ident,
    /// Its shape (empty for a scalar).
    pub dims: Vec<Dim>,
    /// Its initial value.
    pub value: ExprId,
}

/// An argument of `train OPT(...)`: named (`lr = 0.1`) or, wrongly,
/// positional.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainArg {
    Named(Assign),
    Positional(ExprId),
}

/// The operands of an expression, as [`File::children`] gives them.
#[derive(Clone, Copy, Debug)]
pub enum Children<'a> {
    /// Arguments, subscripts or elements stored in [`File::args`].
    Slice(&'a [ExprId]),
    /// The first `n` of two operands.
    Pair([ExprId; 2], usize),
}

impl Children<'_> {
    /// The operands as a slice.
    pub fn as_slice(&self) -> &[ExprId] {
        match self {
            Children::Slice(s) => s,
            Children::Pair(a, n) => &a[..*n],
        }
    }
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `data NAME = [v, ...]` or `data NAME[dims] = [row, ...]`
    DataInline {
        /// The column's name.
        name: Ident,
        /// The shape of a vector column (empty for a scalar column).
        dims: Vec<Dim>,
        /// One value per row (a row of a vector column is a list).
        values: Vec<ExprId>,
    },
    /// `data COL [as NAME], ... from "path"`
    DataCsv {
        cols: Vec<DataCol>,
        path: String,
        path_span: Span,
    },
    /// `param NAME[dims] = init, ...`
    Param(Vec<ParamDecl>),
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
    /// Call arguments, subscripts and list elements, referenced by
    /// `ExprKind::Call`, `ExprKind::Index` and `ExprKind::List`.
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

    /// The subscripts of an index expression (empty for anything else).
    pub fn index_args(&self, id: ExprId) -> &[ExprId] {
        match self.expr(id).kind {
            ExprKind::Index { start, len, .. } => {
                &self.args[start as usize..start as usize + len as usize]
            }
            _ => &[],
        }
    }

    /// The elements of a list expression (empty for anything else).
    pub fn list_items(&self, id: ExprId) -> &[ExprId] {
        match self.expr(id).kind {
            ExprKind::List { start, len } => {
                &self.args[start as usize..start as usize + len as usize]
            }
            _ => &[],
        }
    }

    /// The operands of an expression, in order: call arguments, subscripts,
    /// list elements or the one or two operands of an operator.
    pub fn children(&self, id: ExprId) -> Children<'_> {
        match self.expr(id).kind {
            ExprKind::Num(_) | ExprKind::Name(_) => Children::Slice(&[]),
            ExprKind::Neg(a) | ExprKind::Transpose(a) | ExprKind::Named { value: a, .. } => {
                Children::Pair([a, a], 1)
            }
            ExprKind::Binary(_, a, b) | ExprKind::MatMul(a, b) => Children::Pair([a, b], 2),
            ExprKind::Call { start, len, .. }
            | ExprKind::Index { start, len, .. }
            | ExprKind::List { start, len } => {
                Children::Slice(&self.args[start as usize..start as usize + len as usize])
            }
        }
    }

    /// The span of the name a call, an index expression or a named argument
    /// starts with (the whole span for anything else).
    pub fn callee_span(&self, id: ExprId) -> Span {
        let e = self.expr(id);
        match e.kind {
            ExprKind::Call { name, .. }
            | ExprKind::Index { name, .. }
            | ExprKind::Named { name, .. } => {
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

    /// Adds an index expression with its subscripts.
    pub fn push_index(&mut self, name: NameId, subscripts: Vec<ExprId>, span: Span) -> ExprId {
        let start = self.args.len() as u32;
        let len = subscripts.len() as u32;
        self.args.extend(subscripts);
        self.push(ExprKind::Index { name, start, len }, span)
    }

    /// Adds a list literal with its elements.
    pub fn push_list(&mut self, items: Vec<ExprId>, span: Span) -> ExprId {
        let start = self.args.len() as u32;
        let len = items.len() as u32;
        self.args.extend(items);
        self.push(ExprKind::List { start, len }, span)
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
            for &a in self.children(id).as_slice().iter().rev() {
                stack.push((a, false));
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
                    ExprKind::MatMul(a, b) => {
                        out.push('(');
                        stack.push(Work::Text(")"));
                        stack.push(Work::Expr(b));
                        stack.push(Work::Text(" @ "));
                        stack.push(Work::Expr(a));
                    }
                    ExprKind::Transpose(a) => {
                        out.push('(');
                        stack.push(Work::Text("')"));
                        stack.push(Work::Expr(a));
                    }
                    ExprKind::Named { name, value } => {
                        out.push_str(self.name(name));
                        out.push_str(" = ");
                        stack.push(Work::Expr(value));
                    }
                    kind @ (ExprKind::Call { .. }
                    | ExprKind::Index { .. }
                    | ExprKind::List { .. }) => {
                        let (name, open, close) = match kind {
                            ExprKind::Call { name, .. } => (Some(name), "(", ")"),
                            ExprKind::Index { name, .. } => (Some(name), "[", "]"),
                            _ => (None, "[", "]"),
                        };
                        if let Some(name) = name {
                            out.push_str(self.name(name));
                        }
                        out.push_str(open);
                        stack.push(Work::Text(close));
                        let children = self.children(id);
                        for (i, &a) in children.as_slice().iter().enumerate().rev() {
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
        let same_idents = |a: &[Ident], b: &[Ident]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_ident(x, y))
        };
        let same_dims = |a: &[Dim], b: &[Dim]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.size.to_bits() == y.size.to_bits())
        };
        let same_part = |a: &ColumnPart, b: &ColumnPart| match (a, b) {
            (ColumnPart::Column(x), ColumnPart::Column(y)) => same_ident(x, y),
            (
                ColumnPart::Range { first, last, .. },
                ColumnPart::Range {
                    first: f2,
                    last: l2,
                    ..
                },
            ) => same_ident(first, f2) && same_ident(last, l2),
            _ => false,
        };
        for (s, t) in self.stmts.iter().zip(&other.stmts) {
            let ok = match (&s.kind, &t.kind) {
                (
                    StmtKind::DataInline { name, dims, values },
                    StmtKind::DataInline {
                        name: n2,
                        dims: d2,
                        values: v2,
                    },
                ) => {
                    pairs.extend(values.iter().copied().zip(v2.iter().copied()));
                    same_ident(name, n2) && same_dims(dims, d2) && values.len() == v2.len()
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
                            same_ident(&a.column, &b.column)
                                && same_ident(&a.name, &b.name)
                                && a.parts.len() == b.parts.len()
                                && a.parts.iter().zip(&b.parts).all(|(x, y)| same_part(x, y))
                        })
                }
                (StmtKind::Param(a), StmtKind::Param(b)) => {
                    pairs.extend(a.iter().zip(b).map(|(x, y)| (x.value, y.value)));
                    a.len() == b.len()
                        && a.iter().zip(b).all(|(x, y)| {
                            same_ident(&x.name, &y.name) && same_dims(&x.dims, &y.dims)
                        })
                }
                (StmtKind::Let(a), StmtKind::Let(b))
                | (StmtKind::Loss(a), StmtKind::Loss(b))
                | (StmtKind::Define(a), StmtKind::Define(b)) => {
                    pairs.push((a.value, b.value));
                    same_ident(&a.name, &b.name) && same_idents(&a.indices, &b.indices)
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
                (ExprKind::Call { name: n1, .. }, ExprKind::Call { name: n2, .. })
                | (ExprKind::Index { name: n1, .. }, ExprKind::Index { name: n2, .. }) => {
                    let (a1, a2) = (self.children(a), other.children(b));
                    let (a1, a2) = (a1.as_slice(), a2.as_slice());
                    pairs.extend(a1.iter().copied().zip(a2.iter().copied()));
                    self.name(n1) == other.name(n2) && a1.len() == a2.len()
                }
                (ExprKind::List { .. }, ExprKind::List { .. }) => {
                    let (a1, a2) = (self.list_items(a), other.list_items(b));
                    pairs.extend(a1.iter().copied().zip(a2.iter().copied()));
                    a1.len() == a2.len()
                }
                (ExprKind::Transpose(x), ExprKind::Transpose(y)) => {
                    pairs.push((x, y));
                    true
                }
                (ExprKind::MatMul(x1, x2), ExprKind::MatMul(y1, y2)) => {
                    pairs.push((x1, y1));
                    pairs.push((x2, y2));
                    true
                }
                (
                    ExprKind::Named { name: n1, value: x },
                    ExprKind::Named { name: n2, value: y },
                ) => {
                    pairs.push((x, y));
                    self.name(n1) == other.name(n2)
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

/// Writes `[a, b, ...]` (nothing for an empty list).
fn write_bracketed<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        return;
    }
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(out, x);
    }
    out.push(']');
}

fn write_dims(out: &mut String, dims: &[Dim]) {
    write_bracketed(out, dims, |out, d| write_number(out, d.size));
}

impl fmt::Display for File {
    /// One statement per line, every expression fully parenthesised; the
    /// output parses back to the same AST (spans aside).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for s in &self.stmts {
            match &s.kind {
                StmtKind::DataInline { name, dims, values } => {
                    out.push_str("data ");
                    write_ident(&mut out, self, name);
                    write_dims(&mut out, dims);
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
                        write_bracketed(&mut out, &c.parts, |out, p| match p {
                            ColumnPart::Column(id) => write_ident(out, self, id),
                            ColumnPart::Range { first, last, .. } => {
                                write_ident(out, self, first);
                                out.push_str(" .. ");
                                write_ident(out, self, last);
                            }
                        });
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
                        write_dims(&mut out, &a.dims);
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
                    write_bracketed(&mut out, &a.indices, |out, i| write_ident(out, self, i));
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
