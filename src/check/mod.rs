//! Checking and lowering: from the AST to a [`Unit`] whose expressions are
//! all nodes of one [`Graph`].
//!
//! A file whose statements start with a keyword (`data param let loss
//! train`) is a model file; otherwise it is expression mode: one `NAME =
//! expr` or bare `expr` (named `f`), whose free variables, alphabetically,
//! are the variables to differentiate by. Names are checked here (undeclared,
//! duplicate, used before declared, functions and arity), `let`s are inlined
//! as graph nodes, CSV data is read, and the model rules are enforced (one
//! loss, data only under `sum`/`mean` in the loss, every param used,
//! columns of one length, a valid `train` line). Every error is a
//! [`Diagnostic`] at the offending span.

// Errors are rare and end the stage; the public API returns the shared
// `Diagnostic` by value, as the rest of the pipeline does.
#![allow(clippy::result_large_err)]

mod arrays;
pub(crate) mod csv;
pub(crate) mod init;
mod lower;
mod suggest;
mod train_line;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

pub(crate) use lower::{function, Func};
pub(crate) use suggest::nearest;
pub use train_line::MAX_EPOCHS;

use crate::diagnostic::{Diagnostic, Source};
use crate::graph::{Graph, Node, NodeId, SymbolKind};
use crate::program::{
    Binding, DataColumn, Function, InitRule, InitialValues, Model, Param, TrainSpec, Unit,
};
use crate::syntax::ast::{
    ColumnPart, DataCol, Dim, ExprId, ExprKind, File, Ident, NameId, ParamDecl, Span, StmtKind,
};
use crate::syntax::line_col;
use arrays::{Lowering, Names, Resolved};
use lower::{const_eval, function_as_value, lower};

/// Parses and checks a source text. `base_dir` is the folder CSV paths are
/// relative to (the model file's folder; `None` for the current folder).
pub fn check(source: &Source, base_dir: Option<&Path>) -> Result<Unit, Diagnostic> {
    let file = crate::syntax::parse(&source.text)?;
    check_file(&file, &source.text, base_dir)
}

/// Checks an already parsed file; `src` is the text it was parsed from.
pub fn check_file(file: &File, src: &str, base_dir: Option<&Path>) -> Result<Unit, Diagnostic> {
    if file.stmts.iter().any(|s| s.kind.keyword().is_some()) {
        ModelChecker::new(file, src, base_dir)
            .run()
            .map(Unit::Model)
    } else {
        expression(file, src).map(Unit::Expr)
    }
}

/// The error for an array form (index, transpose, `@`, list, named
/// argument, indices on a definition) where it has no meaning: in
/// expression mode, or as a constant.
pub(crate) fn arrays_not_yet(span: Span) -> Diagnostic {
    Diagnostic::new("an array form is not allowed here", span.range())
        .with_label("array form")
        .with_note(
            "arrays are declared with a shape in model files (`param w[3] = 0`, \
             `data x[2] = [[0, 1], [1, 0]]`); in expression mode every name is a scalar",
        )
}

/// The first array form among `order` (an expression's postorder), as
/// [`arrays_not_yet`].
pub(crate) fn reject_arrays(file: &File, order: &[ExprId]) -> Result<(), Diagnostic> {
    let array = order.iter().find(|&&id| {
        matches!(
            file.expr(id).kind,
            ExprKind::Index { .. }
                | ExprKind::Transpose(_)
                | ExprKind::MatMul(..)
                | ExprKind::List { .. }
                | ExprKind::Named { .. }
        )
    });
    match array {
        Some(&id) => Err(arrays_not_yet(file.expr(id).span)),
        None => Ok(()),
    }
}

/// The span of a declaration's name with its bracketed shape, indices or
/// columns: from `first` through the `]` after the last of `rest`.
fn span_through(src: &str, first: Span, rest: impl Iterator<Item = Span>) -> Span {
    let span = rest.fold(first, Span::to);
    let end = span.end as usize;
    match src.get(end..).and_then(|t| t.find(']')) {
        Some(i) => Span::new(span.start as usize, end + i + 1),
        None => span,
    }
}

fn at(src: &str, span: Span) -> String {
    let (l, c) = line_col(src, span.start as usize);
    format!("line {l}, column {c}")
}

/// Expression mode.
fn expression(file: &File, src: &str) -> Result<Function, Diagnostic> {
    let Some(first) = file.stmts.first() else {
        return Err(Diagnostic::new("the input is empty", src.len()..src.len())
            .with_label("expected an expression")
            .with_note("write an expression such as `x^2`, or name it: `f = x^2`"));
    };
    if let Some(second) = file.stmts.get(1) {
        return Err(Diagnostic::new(
            "expected one expression, found a second statement",
            second.span.range(),
        )
        .with_label("second statement")
        .with_note(
            "a file of several statements is a model file: each statement starts with \
             data, param, let, loss or train",
        ));
    }
    let (name, root, ident) = match &first.kind {
        StmtKind::Define(a) if !a.indices.is_empty() => {
            let span = span_through(src, a.name.span, a.indices.iter().map(|i| i.span));
            return Err(arrays_not_yet(span));
        }
        StmtKind::Define(a) => (file.name(a.name.name), a.value, Some(a.name)),
        StmtKind::Expr(e) => ("f", *e, None),
        _ => unreachable!("a statement with a keyword makes a model file"),
    };
    let mut vars: BTreeSet<&str> = BTreeSet::new();
    for id in file.postorder(root) {
        if let ExprKind::Name(n) = file.expr(id).kind {
            let t = file.name(n);
            if t != "pi" && function(t).is_none() {
                vars.insert(t);
            }
        }
    }
    if let Some(id) = ident {
        if vars.contains(name) {
            return Err(Diagnostic::new(
                format!("`{name}` names the function and is also one of its variables"),
                id.span.range(),
            )
            .with_label("function name")
            .with_note("choose another name for the function, e.g. `f`"));
        }
    }
    let mut graph = Graph::new();
    let syms: Vec<_> = vars
        .iter()
        .map(|v| graph.declare(v, SymbolKind::Free))
        .collect();
    let node = lower(file, root, &mut graph, false, &mut |g, n, span| {
        let t = file.name(n);
        if t == "pi" {
            Ok(g.constant(std::f64::consts::PI))
        } else if function(t).is_some() {
            Err(function_as_value(t, span))
        } else {
            let s = g.declare(t, SymbolKind::Free);
            Ok(g.sym(s))
        }
    })?;
    Ok(Function {
        graph,
        name: name.to_string(),
        root: node,
        vars: syms,
        span: file.expr(root).span.range(),
    })
}

/// What a declared name of a model is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DeclKind {
    Data,
    Param,
    Let,
    Loss,
}

impl DeclKind {
    fn words(self) -> &'static str {
        match self {
            DeclKind::Data => "a data column",
            DeclKind::Param => "a param",
            DeclKind::Let => "a let",
            DeclKind::Loss => "the loss",
        }
    }
}

#[derive(Clone, Debug)]
struct Decl {
    kind: DeclKind,
    span: Span,
    node: NodeId,
    /// What the name means to the lowering (an array, or a `let` with
    /// indices); `None` for a scalar, whose value is `node`.
    array: Option<Resolved>,
}

/// The declarations seen so far, in order.
#[derive(Default)]
struct Scope {
    decls: HashMap<String, Decl>,
    order: Vec<String>,
}

struct ModelChecker<'f> {
    file: &'f File,
    src: &'f str,
    base_dir: Option<&'f Path>,
    graph: Graph,
    scope: Scope,
    /// The first declaration of every name anywhere in the file.
    everywhere: HashMap<&'f str, Span>,
    data: Vec<DataColumn>,
    params: Vec<Param>,
    lets: Vec<Binding>,
    loss: Option<(Binding, Span, ExprId)>,
    train: Option<TrainSpec>,
    /// The first column: its row count, name and span.
    rows: Option<(usize, String, Span)>,
    /// Where the cells of each scalar data column are (to point at a bad
    /// class label).
    labels: HashMap<crate::graph::SymId, LabelPlaces>,
    /// The label checks already made: (column, extent).
    labels_checked: HashSet<(crate::graph::SymId, usize)>,
}

impl<'f> ModelChecker<'f> {
    fn new(file: &'f File, src: &'f str, base_dir: Option<&'f Path>) -> Self {
        let mut everywhere: HashMap<&str, Span> = HashMap::new();
        let mut note = |id: &Ident| {
            everywhere.entry(file.name(id.name)).or_insert(id.span);
        };
        for s in &file.stmts {
            match &s.kind {
                StmtKind::DataInline { name, .. } => note(name),
                StmtKind::DataCsv { cols, .. } => cols.iter().for_each(|c| note(&c.name)),
                StmtKind::Param(items) => items.iter().for_each(|a| note(&a.name)),
                StmtKind::Let(a) | StmtKind::Loss(a) => note(&a.name),
                _ => {}
            }
        }
        ModelChecker {
            file,
            src,
            base_dir,
            graph: Graph::new(),
            scope: Scope::default(),
            everywhere,
            data: Vec::new(),
            params: Vec::new(),
            lets: Vec::new(),
            loss: None,
            train: None,
            rows: None,
            labels: HashMap::new(),
            labels_checked: HashSet::new(),
        }
    }

    fn run(mut self) -> Result<Model, Diagnostic> {
        let file = self.file;
        for stmt in &file.stmts {
            match &stmt.kind {
                StmtKind::DataInline { name, dims, values } if !dims.is_empty() => {
                    self.data_inline_vector(name, dims, values, stmt.span)?
                }
                StmtKind::DataInline { name, values, .. } => {
                    self.data_inline(name, values, stmt.span)?
                }
                StmtKind::DataCsv {
                    cols,
                    path,
                    path_span,
                } => self.data_csv(cols, path, *path_span)?,
                StmtKind::Param(items) => {
                    for a in items {
                        if !a.dims.is_empty() || is_initialiser(file, a.value) {
                            self.array_param(a)?;
                            continue;
                        }
                        self.check_new_name(&a.name)?;
                        let init = const_eval(file, a.value, "a param's initial value")?;
                        let name = file.name(a.name.name);
                        let sym = self.graph.declare(name, SymbolKind::Param);
                        let node = self.graph.sym(sym);
                        self.declare(&a.name, DeclKind::Param, node);
                        self.params.push(Param {
                            name: name.to_string(),
                            sym,
                            shape: Vec::new(),
                            init: vec![init].into(),
                            span: a.name.span.range(),
                        });
                    }
                }
                StmtKind::Loss(a) if !a.indices.is_empty() => {
                    let span =
                        span_through(self.src, a.name.span, a.indices.iter().map(|i| i.span));
                    return Err(Diagnostic::new(
                        "the loss is one number and has no indices",
                        span.range(),
                    )
                    .with_label("indices on the loss")
                    .with_note("reduce the array to a number, e.g. `loss L = sum(k, e[k])`"));
                }
                StmtKind::Let(a) => {
                    self.check_new_name(&a.name)?;
                    let (node, indices) = self.lower(a.value, &a.indices)?;
                    let array = (!indices.is_empty()).then(|| Resolved::Let {
                        node,
                        indices: indices.clone(),
                    });
                    self.declare_as(&a.name, DeclKind::Let, node, array);
                    self.lets.push(Binding {
                        name: file.name(a.name.name).to_string(),
                        node,
                        span: file.expr(a.value).span.range(),
                    });
                }
                StmtKind::Loss(a) => {
                    if let Some((first, first_stmt, _)) = &self.loss {
                        let first_at = at(self.src, *first_stmt);
                        return Err(Diagnostic::new(
                            "a model has exactly one loss, and this is a second one",
                            stmt.span.range(),
                        )
                        .with_label("second loss")
                        .with_secondary(first_stmt.range(), "first loss")
                        .with_note(format!(
                            "the loss `{}` is defined at {first_at}",
                            first.name
                        )));
                    }
                    self.check_new_name(&a.name)?;
                    let (node, indices) = self.lower(a.value, &[])?;
                    if !indices.is_empty() {
                        let dims: Vec<String> = indices
                            .iter()
                            .map(|&i| self.graph.extent(i).to_string())
                            .collect();
                        return Err(Diagnostic::new(
                            format!(
                                "the loss must be one number, but this is an array of shape [{}]",
                                dims.join(", ")
                            ),
                            file.expr(a.value).span.range(),
                        )
                        .with_label("an array")
                        .with_note(
                            "reduce it to a number, e.g. with `sum(k, ...)` or `dot(...)`",
                        ));
                    }
                    self.declare(&a.name, DeclKind::Loss, node);
                    let binding = Binding {
                        name: file.name(a.name.name).to_string(),
                        node,
                        span: file.expr(a.value).span.range(),
                    };
                    self.loss = Some((binding, stmt.span, a.value));
                }
                StmtKind::Train { optimizer, args } => {
                    if let Some(first) = &self.train {
                        return Err(Diagnostic::new(
                            "a model has at most one `train` line, and this is a second one",
                            stmt.span.range(),
                        )
                        .with_label("second train line")
                        .with_secondary(first.span.clone(), "first `train` line")
                        .with_note(format!(
                            "the first is at {}",
                            at(self.src, Span::new(first.span.start, first.span.end))
                        )));
                    }
                    self.train = Some(train_line::train_spec(
                        file, self.src, optimizer, args, stmt.span,
                    )?);
                }
                StmtKind::Define(a) => {
                    let name = file.name(a.name.name);
                    return Err(Diagnostic::new(
                        "in a model file every statement starts with a keyword",
                        stmt.span.range(),
                    )
                    .with_label("no keyword")
                    .with_note(format!(
                        "did you mean `let {name} = ...` or `loss {name} = ...`?"
                    )));
                }
                StmtKind::Expr(_) => {
                    return Err(Diagnostic::new(
                        "an expression on its own is not a statement of a model file",
                        stmt.span.range(),
                    )
                    .with_label("no keyword")
                    .with_note(
                        "name it: `let NAME = ...`, or `loss NAME = ...` for the objective",
                    ));
                }
            }
        }
        let Some((loss, loss_stmt, loss_expr)) = self.loss.take() else {
            let end = self.src.len();
            return Err(Diagnostic::new("the model has no loss", end..end)
                .with_label("expected `loss NAME = ...`")
                .with_note(
                    "add the objective to minimise, e.g. `loss C = mean((m*x + b - y)^2)`",
                ));
        };
        if self.graph.meta(loss.node).per_row {
            return Err(self.data_outside_reduction(loss_expr, loss_stmt));
        }
        if self.data.is_empty() {
            if let Some(d) = self.reduction_without_data() {
                return Err(d);
            }
        }
        if self.params.is_empty() {
            return Err(
                Diagnostic::new("the model has no params", loss.span.clone())
                    .with_label("depends on no param")
                    .with_note(format!(
                        "training minimises the loss `{}` over its params: declare at least \
                         one, e.g. `param m = 0`, and use it in the loss",
                        loss.name
                    )),
            );
        }
        let used: HashSet<_> = self
            .graph
            .topo_order(&[loss.node])
            .into_iter()
            .filter_map(|id| match self.graph.node(id) {
                Node::Sym(s) | Node::Elem(s, _) => Some(s),
                _ => None,
            })
            .collect();
        if let Some(p) = self.params.iter().find(|p| !used.contains(&p.sym)) {
            return Err(Diagnostic::new(
                format!("param `{}` is not used by the loss", p.name),
                p.span.clone(),
            )
            .with_label("unused")
            .with_secondary(loss_stmt.range(), "the loss")
            .with_note(format!(
                "the loss `{}` ({}) must depend on every param: use `{}` in it or remove it",
                loss.name,
                at(self.src, loss_stmt),
                p.name
            )));
        }
        Ok(Model {
            graph: self.graph,
            data: self.data,
            params: self.params,
            lets: self.lets,
            loss,
            train: self.train,
            rows: self.rows.map_or(0, |r| r.0),
        })
    }

    /// Errors if `id` names something already declared, or `pi`.
    fn check_new_name(&self, id: &Ident) -> Result<(), Diagnostic> {
        let name = self.file.name(id.name);
        if name == "pi" {
            return Err(Diagnostic::new(
                "`pi` is the constant π and cannot be redeclared",
                id.span.range(),
            )
            .with_label("built-in constant"));
        }
        if let Some(d) = self.scope.decls.get(name) {
            return Err(
                Diagnostic::new(format!("`{name}` is already declared"), id.span.range())
                    .with_label("declared again")
                    .with_secondary(d.span.range(), "first declared here")
                    .with_note(format!(
                        "`{name}` is first declared as {} at {}",
                        d.kind.words(),
                        at(self.src, d.span)
                    )),
            );
        }
        Ok(())
    }

    fn declare(&mut self, id: &Ident, kind: DeclKind, node: NodeId) {
        self.declare_as(id, kind, node, None);
    }

    fn declare_as(&mut self, id: &Ident, kind: DeclKind, node: NodeId, array: Option<Resolved>) {
        let name = self.file.name(id.name).to_string();
        self.scope.order.push(name.clone());
        self.scope.decls.insert(
            name,
            Decl {
                kind,
                span: id.span,
                node,
                array,
            },
        );
    }

    /// Lowers the expression of a `let` or the loss, with the index names
    /// of its header: the node and the indices naming its element.
    fn lower(
        &mut self,
        root: ExprId,
        header: &[Ident],
    ) -> Result<(NodeId, Vec<crate::graph::IdxId>), Diagnostic> {
        let mut names = CheckerNames {
            file: self.file,
            src: self.src,
            scope: &self.scope,
            everywhere: &self.everywhere,
            data: &self.data,
            labels: &self.labels,
            checked: &mut self.labels_checked,
        };
        Lowering::new(self.file, &mut self.graph, true).lower_binding(root, header, &mut names)
    }

    /// Adds a data column, checking that it has rows and as many as the
    /// others.
    fn add_column(
        &mut self,
        id: &Ident,
        values: Vec<f64>,
        stmt_span: Span,
    ) -> Result<(), Diagnostic> {
        self.add_column_shaped(id, values, Vec::new(), stmt_span)
    }

    /// [`Self::add_column`] for a column of `shape` (`values` row-major,
    /// `shape`'s product per row).
    fn add_column_shaped(
        &mut self,
        id: &Ident,
        values: Vec<f64>,
        shape: Vec<usize>,
        stmt_span: Span,
    ) -> Result<(), Diagnostic> {
        let name = self.file.name(id.name).to_string();
        let width: usize = shape.iter().product::<usize>().max(1);
        let row_count = values.len() / width;
        if values.is_empty() {
            return Err(Diagnostic::new(
                format!("data column `{name}` is empty"),
                stmt_span.range(),
            )
            .with_label("no values")
            .with_note("a data column needs at least one row"));
        }
        match &self.rows {
            None => self.rows = Some((row_count, name.clone(), id.span)),
            Some((n, first, first_span)) if *n != row_count => {
                return Err(Diagnostic::new(
                    format!("data column `{name}` has {row_count} rows, but `{first}` has {n}"),
                    id.span.range(),
                )
                .with_label(format!("{row_count} rows"))
                .with_secondary(first_span.range(), format!("{n} rows"))
                .with_note(format!(
                    "all data columns have the same number of rows; `{first}` is declared at {}",
                    at(self.src, *first_span)
                )));
            }
            Some(_) => {}
        }
        let sym = self.graph.declare_array(&name, SymbolKind::Data, &shape);
        let node = self.graph.sym(sym);
        let array = (!shape.is_empty()).then_some(Resolved::Array(sym));
        self.declare_as(id, DeclKind::Data, node, array);
        self.data.push(DataColumn {
            name,
            sym,
            shape,
            values,
            span: id.span.range(),
        });
        Ok(())
    }

    fn data_inline(&mut self, id: &Ident, values: &[ExprId], span: Span) -> Result<(), Diagnostic> {
        self.check_new_name(id)?;
        let file = self.file;
        let mut out = Vec::with_capacity(values.len());
        for &v in values {
            // Plain and negated literals need no evaluation machinery.
            let x = match file.expr(v).kind {
                ExprKind::Num(x) => x,
                ExprKind::Neg(a) => match file.expr(a).kind {
                    ExprKind::Num(x) => -x,
                    _ => const_eval(file, v, "a data value")?,
                },
                _ => const_eval(file, v, "a data value")?,
            };
            out.push(x);
        }
        self.add_column(id, out, span)?;
        let sym = self.data.last().expect("just added").sym;
        let spans = values.iter().map(|&v| file.expr(v).span).collect();
        self.labels.insert(sym, LabelPlaces::Inline(spans));
        Ok(())
    }

    /// `data x[2] = [[0, 1], [1, 0.5], ...]`: one list per row.
    fn data_inline_vector(
        &mut self,
        id: &Ident,
        dims: &[Dim],
        rows: &[ExprId],
        span: Span,
    ) -> Result<(), Diagnostic> {
        self.check_new_name(id)?;
        let shape = shape_of(self.src, id, dims)?;
        let mut values = Vec::new();
        for &r in rows {
            flatten_list(self.file, r, &shape, "a row of inline data", &mut values)?;
        }
        self.add_column_shaped(id, values, shape, span)
    }

    /// A param with a shape, or with a `normal(...)`/`uniform(...)`
    /// initial value.
    fn array_param(&mut self, a: &ParamDecl) -> Result<(), Diagnostic> {
        let file = self.file;
        self.check_new_name(&a.name)?;
        let shape = shape_of(self.src, &a.name, &a.dims)?;
        let n: usize = shape.iter().product();
        let init = initial_values(file, a.value, &shape, n)?;
        let name = file.name(a.name.name);
        let sym = self.graph.declare_array(name, SymbolKind::Param, &shape);
        let node = self.graph.sym(sym);
        let array = (!shape.is_empty()).then_some(Resolved::Array(sym));
        self.declare_as(&a.name, DeclKind::Param, node, array);
        self.params.push(Param {
            name: name.to_string(),
            sym,
            shape,
            init,
            span: a.name.span.range(),
        });
        Ok(())
    }

    fn data_csv(
        &mut self,
        cols: &[DataCol],
        path: &str,
        path_span: Span,
    ) -> Result<(), Diagnostic> {
        let file = self.file;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for c in cols {
            self.check_new_name(&c.name)?;
            let name = file.name(c.name.name);
            if let Some(first) = seen.insert(name, c.name.span) {
                return Err(Diagnostic::new(
                    format!("`{name}` is already declared"),
                    c.name.span.range(),
                )
                .with_label("declared again")
                .with_secondary(first.range(), "first declared here")
                .with_note(format!(
                    "`{name}` is first declared as a data column at {}",
                    at(self.src, first)
                )));
            }
        }
        let full = match self.base_dir {
            Some(dir) => dir.join(path),
            None => Path::new(path).to_path_buf(),
        };
        let shown = full.display().to_string();
        // a vector column asks for each of its CSV columns
        let mut expanded: Vec<Vec<(String, Span)>> = Vec::with_capacity(cols.len());
        for c in cols {
            expanded.push(if c.parts.is_empty() {
                vec![(file.name(c.column.name).to_string(), c.column.span)]
            } else {
                column_parts(file, &c.parts)?
            });
        }
        let requests: Vec<csv::Request> = expanded
            .iter()
            .enumerate()
            .flat_map(|(group, parts)| {
                parts.iter().map(move |(column, span)| csv::Request {
                    column,
                    group,
                    span: span.range(),
                })
            })
            .collect();
        let table = csv::read_columns(&full, &shown, path_span.range(), &requests)?;
        let mut columns = table.columns.into_iter();
        let mut first = 0;
        for (c, parts) in cols.iter().zip(&expanded) {
            let width = parts.len();
            // row-major as read (see `csv::Request::group`)
            let values = columns.next().unwrap_or_default();
            let shape = if c.parts.is_empty() {
                Vec::new()
            } else {
                vec![width]
            };
            self.add_column_shaped(&c.name, values, shape, path_span)?;
            if c.parts.is_empty() {
                let sym = self.data.last().expect("just added").sym;
                self.labels
                    .insert(sym, LabelPlaces::Csv(table.cells.clone(), first));
            }
            first += width;
        }
        Ok(())
    }

    /// In a model without data, the first `sum`/`mean` of a `let` or the
    /// loss: there are no rows to reduce over (a sum would silently be 0).
    fn reduction_without_data(&self) -> Option<Diagnostic> {
        let file = self.file;
        let first = file
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Let(a) | StmtKind::Loss(a) => Some(a.value),
                _ => None,
            })
            .flat_map(|root| file.postorder(root))
            .filter(|&id| match file.expr(id).kind {
                // `sum(j, e)` sums over an index, not over rows
                ExprKind::Call { name, len: 1, .. } => {
                    matches!(function(file.name(name)), Some(Func::Reduce(_)))
                }
                _ => false,
            })
            .min_by_key(|&id| file.expr(id).span.start)?;
        let ExprKind::Call { name, .. } = file.expr(first).kind else {
            return None;
        };
        let name = file.name(name);
        Some(
            Diagnostic::new(
                format!("`{name}` reduces over the data rows, but the model has no data"),
                file.callee_span(first).range(),
            )
            .with_label("no rows to reduce over")
            .with_note(
                "declare the data it runs over (`data x = [...]` or `data x from \"file.csv\"`), \
                 or remove the reduction",
            ),
        )
    }

    /// The error for a loss that varies from row to row: points at the first
    /// data column (or data-dependent `let`) used outside `sum`/`mean`.
    fn data_outside_reduction(&self, root: ExprId, stmt: Span) -> Diagnostic {
        let file = self.file;
        let advice = "a loss is one number: put the per-row part inside `mean(...)` or `sum(...)`";
        let mut stack = vec![(root, false)];
        while let Some((id, inside)) = stack.pop() {
            let e = file.expr(id);
            match e.kind {
                ExprKind::Num(_) => {}
                ExprKind::Name(n) if !inside => {
                    let name = file.name(n);
                    if let Some(d) = self.scope.decls.get(name) {
                        if d.kind == DeclKind::Data {
                            return Diagnostic::new(
                                format!(
                                    "the loss uses data column `{name}` outside `sum` or `mean`"
                                ),
                                e.span.range(),
                            )
                            .with_label("differs from row to row")
                            .with_note(advice);
                        }
                        if self.graph.meta(d.node).per_row {
                            return Diagnostic::new(
                                format!(
                                    "the loss uses `{name}` outside `sum` or `mean`, \
                                     and `{name}` depends on data"
                                ),
                                e.span.range(),
                            )
                            .with_label("differs from row to row")
                            .with_secondary(d.span.range(), "declared here")
                            .with_note(format!("`{name}` is declared at {}", at(self.src, d.span)))
                            .with_note(advice);
                        }
                    }
                }
                ExprKind::Name(_) => {}
                ExprKind::Neg(a) => stack.push((a, inside)),
                ExprKind::Binary(_, a, b) => {
                    stack.push((b, inside));
                    stack.push((a, inside));
                }
                ExprKind::Call { name, .. } => {
                    let reduces = matches!(function(file.name(name)), Some(Func::Reduce(_)));
                    for &a in file.call_args(id).iter().rev() {
                        stack.push((a, inside || reduces));
                    }
                }
                // lowering rejects array forms before the loss gets here
                ExprKind::Index { .. }
                | ExprKind::Transpose(_)
                | ExprKind::MatMul(..)
                | ExprKind::List { .. }
                | ExprKind::Named { .. } => {
                    for &a in file.children(id).as_slice().iter().rev() {
                        stack.push((a, inside));
                    }
                }
            }
        }
        Diagnostic::new(
            "the loss depends on data outside `sum` or `mean`",
            stmt.range(),
        )
        .with_label("differs from row to row")
        .with_note(advice)
    }
}

/// Resolves a name reference in a model.
fn resolve(
    file: &File,
    src: &str,
    scope: &Scope,
    everywhere: &HashMap<&str, Span>,
    g: &mut Graph,
    n: NameId,
    span: Span,
) -> Result<Resolved, Diagnostic> {
    let name = file.name(n);
    if let Some(d) = scope.decls.get(name) {
        return Ok(d.array.clone().unwrap_or(Resolved::Scalar(d.node)));
    }
    if name == "pi" {
        return Ok(Resolved::Scalar(g.constant(std::f64::consts::PI)));
    }
    if function(name).is_some() {
        return Err(function_as_value(name, span));
    }
    if let Some(later) = everywhere.get(name) {
        return Err(Diagnostic::new(
            format!("`{name}` is used before it is declared"),
            span.range(),
        )
        .with_label("not declared yet")
        .with_secondary(later.range(), "declared here")
        .with_note(format!(
            "`{name}` is declared at {}; declare it above its first use",
            at(src, *later)
        )));
    }
    let mut d = Diagnostic::new(format!("undeclared name `{name}`"), span.range())
        .with_label("not declared");
    let candidates = scope.order.iter().map(String::as_str).chain(["pi"]);
    if let Some(s) = nearest(name, candidates) {
        d = d.with_note(format!("did you mean `{s}`?"));
    } else {
        d = d.with_note("declare it with `data`, `param` or `let` before using it");
    }
    Err(d)
}

/// Most elements an array param or a row of a vector data column may have.
pub(crate) const MAX_ELEMENTS: usize = 1 << 26;

/// The most CSV columns a range `p0 .. pN` names (expanding it costs a
/// name per column before the header is read).
const MAX_RANGE: usize = 1 << 20;

/// The shape of a declaration, each dimension a positive whole number.
fn shape_of(src: &str, id: &Ident, dims: &[Dim]) -> Result<Vec<usize>, Diagnostic> {
    let mut shape = Vec::with_capacity(dims.len());
    let mut total: usize = 1;
    for d in dims {
        if d.size.fract() != 0.0 || d.size < 1.0 || d.size > MAX_ELEMENTS as f64 {
            return Err(Diagnostic::new(
                format!(
                    "a dimension is a whole number from 1 to {MAX_ELEMENTS}, not {}",
                    crate::print::format_number(d.size)
                ),
                d.span.range(),
            )
            .with_label("not a dimension"));
        }
        total = total.saturating_mul(d.size as usize);
        shape.push(d.size as usize);
    }
    if total > MAX_ELEMENTS {
        let span = span_through(src, id.span, dims.iter().map(|d| d.span));
        return Err(Diagnostic::new(
            format!("this array has {total} elements; the most ddx holds is {MAX_ELEMENTS}"),
            span.range(),
        )
        .with_label("too large"));
    }
    Ok(shape)
}

/// True when `e` is `normal(...)` or `uniform(...)` (a random initial
/// value, also for a scalar param).
fn is_initialiser(file: &File, e: ExprId) -> bool {
    matches!(file.expr(e).kind, ExprKind::Call { name, .. }
        if matches!(file.name(name), "normal" | "uniform"))
}

/// The initial values of a param of `shape` (`n` elements): a constant for
/// every element, a list of values, or `normal(...)`/`uniform(...)`.
fn initial_values(
    file: &File,
    e: ExprId,
    shape: &[usize],
    n: usize,
) -> Result<InitialValues, Diagnostic> {
    let expr = file.expr(e);
    match expr.kind {
        ExprKind::List { .. } => {
            let mut out = Vec::with_capacity(n);
            flatten_list(file, e, shape, "a param's initial value", &mut out)?;
            Ok(out.into())
        }
        ExprKind::Call { name, .. } if is_initialiser(file, e) => {
            let which = file.name(name);
            let mut positional = Vec::new();
            let mut seed: u64 = 0;
            for &arg in file.call_args(e) {
                match file.expr(arg).kind {
                    ExprKind::Named { name: key, value } => {
                        if file.name(key) != "seed" {
                            return Err(Diagnostic::new(
                                format!("`{which}` has no option `{}`", file.name(key)),
                                file.expr(arg).span.range(),
                            )
                            .with_label("unknown option")
                            .with_note("the option is `seed = N`, a whole number"));
                        }
                        let v = const_eval(file, value, "a seed")?;
                        if v.fract() != 0.0 || !(0.0..=9.007_199_254_740_992e15).contains(&v) {
                            return Err(Diagnostic::new(
                                format!("a seed is a whole number from 0 to 2^53, not {v}"),
                                file.expr(value).span.range(),
                            )
                            .with_label("not a seed"));
                        }
                        seed = v as u64;
                    }
                    _ => positional.push(const_eval(file, arg, "an argument of an initialiser")?),
                }
            }
            let [a, b] = positional[..] else {
                let want = if which == "normal" {
                    "`normal(mean, sd)`"
                } else {
                    "`uniform(lo, hi)`"
                };
                return Err(Diagnostic::new(
                    format!("{want} takes 2 values and an optional `seed = N`"),
                    expr.span.range(),
                )
                .with_label(match positional.len() {
                    1 => "1 value given".to_string(),
                    n => format!("{n} values given"),
                }));
            };
            if which == "normal" {
                if b < 0.0 {
                    return Err(Diagnostic::new(
                        format!("the standard deviation of `normal` is at least 0, not {b}"),
                        expr.span.range(),
                    )
                    .with_label("negative sd"));
                }
                Ok(InitialValues::drawn(
                    n,
                    InitRule::Normal {
                        mean: a,
                        sd: b,
                        seed,
                    },
                ))
            } else {
                if b < a {
                    return Err(Diagnostic::new(
                        format!("`uniform(lo, hi)` needs lo <= hi, but {a} > {b}"),
                        expr.span.range(),
                    )
                    .with_label("empty range"));
                }
                Ok(InitialValues::drawn(
                    n,
                    InitRule::Uniform { lo: a, hi: b, seed },
                ))
            }
        }
        _ => {
            let v = const_eval(file, e, "a param's initial value")?;
            Ok(vec![v; n].into())
        }
    }
}

/// Appends the numbers of the (nested) list `e`, which must have `shape`.
fn flatten_list(
    file: &File,
    e: ExprId,
    shape: &[usize],
    what: &str,
    out: &mut Vec<f64>,
) -> Result<(), Diagnostic> {
    let expr = file.expr(e);
    match (shape, expr.kind) {
        ([], ExprKind::List { .. }) => Err(Diagnostic::new(
            format!("{what}: expected a number here, found a list"),
            expr.span.range(),
        )
        .with_label("a list")),
        ([], _) => {
            out.push(const_eval(file, e, what)?);
            Ok(())
        }
        ([n, rest @ ..], ExprKind::List { .. }) => {
            let items = file.list_items(e);
            if items.len() != *n {
                return Err(Diagnostic::new(
                    format!(
                        "{what}: expected a list of {n} items, found {}",
                        items.len()
                    ),
                    expr.span.range(),
                )
                .with_label(match items.len() {
                    1 => "1 item".to_string(),
                    n => format!("{n} items"),
                }));
            }
            for &i in items {
                flatten_list(file, i, rest, what, out)?;
            }
            Ok(())
        }
        ([n, ..], _) => Err(Diagnostic::new(
            format!("{what}: expected a list of {n} items here"),
            expr.span.range(),
        )
        .with_label("not a list")),
    }
}

/// The CSV columns of a vector column: names as written, and ranges
/// `p0 .. p63` (one prefix, numbers counting up).
fn column_parts(file: &File, parts: &[ColumnPart]) -> Result<Vec<(String, Span)>, Diagnostic> {
    let mut out = Vec::new();
    for p in parts {
        match *p {
            ColumnPart::Column(id) => out.push((file.name(id.name).to_string(), id.span)),
            ColumnPart::Range { first, last, span } => {
                let split = |name: &str| {
                    let digits =
                        name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                    let (prefix, number) = name.split_at(name.len() - digits);
                    // `p00 .. p63` names zero-padded columns: p00, p01, ...
                    let width = if number.len() > 1 && number.starts_with('0') {
                        number.len()
                    } else {
                        0
                    };
                    number
                        .parse::<usize>()
                        .ok()
                        .map(|n| (prefix.to_string(), n, width))
                };
                let (a, b) = (file.name(first.name), file.name(last.name));
                let (Some((pa, na, width)), Some((pb, nb, _))) = (split(a), split(b)) else {
                    return Err(Diagnostic::new(
                        format!("a column range names numbered columns, like `p0 .. p63`, not `{a} .. {b}`"),
                        span.range(),
                    )
                    .with_label("not numbered columns"));
                };
                if pa != pb || nb < na {
                    return Err(Diagnostic::new(
                        format!("`{a} .. {b}` is not a range: the names must share a prefix and count up"),
                        span.range(),
                    )
                    .with_label("not a range"));
                }
                if nb - na >= MAX_RANGE {
                    return Err(Diagnostic::new(
                        format!(
                            "`{a} .. {b}` names {} columns; a range names at most {MAX_RANGE}",
                            (nb - na).saturating_add(1)
                        ),
                        span.range(),
                    )
                    .with_label("too many columns"));
                }
                out.extend((na..=nb).map(|k| (format!("{pa}{k:0width$}"), span)));
            }
        }
    }
    Ok(out)
}

/// Where the values of a scalar data column came from.
#[derive(Clone, Debug)]
enum LabelPlaces {
    /// Column `usize` of the requests of a CSV file.
    Csv(csv::CellPlaces, usize),
    /// The spans of the inline values, one per row.
    Inline(Vec<Span>),
}

/// The names of a model, for the lowering.
struct CheckerNames<'a> {
    file: &'a File,
    src: &'a str,
    scope: &'a Scope,
    everywhere: &'a HashMap<&'a str, Span>,
    data: &'a [DataColumn],
    labels: &'a HashMap<crate::graph::SymId, LabelPlaces>,
    checked: &'a mut HashSet<(crate::graph::SymId, usize)>,
}

impl Names for CheckerNames<'_> {
    fn resolve(&mut self, g: &mut Graph, name: NameId, span: Span) -> Result<Resolved, Diagnostic> {
        resolve(
            self.file,
            self.src,
            self.scope,
            self.everywhere,
            g,
            name,
            span,
        )
    }

    fn is_value(&self, name: NameId) -> bool {
        let n = self.file.name(name);
        self.scope.decls.contains_key(n) || n == "pi"
    }

    fn check_label(
        &mut self,
        sym: crate::graph::SymId,
        extent: usize,
        span: Span,
    ) -> Result<(), Diagnostic> {
        if !self.checked.insert((sym, extent)) {
            return Ok(());
        }
        let Some(col) = self.data.iter().find(|d| d.sym == sym) else {
            return Ok(());
        };
        let bad = col
            .values
            .iter()
            .position(|&v| v.fract() != 0.0 || v < 0.0 || v >= extent as f64);
        let Some(row) = bad else {
            return Ok(());
        };
        let v = col.values[row];
        let msg = format!(
            "class label {} in column `{}` (row {}) is not a whole number from 0 to {}",
            crate::print::format_number(v),
            col.name,
            row + 1,
            extent.saturating_sub(1)
        );
        let use_note = format!(
            "`{}` subscripts a dimension of {extent} at {}",
            col.name,
            at(self.src, span)
        );
        Err(match self.labels.get(&sym) {
            Some(LabelPlaces::Csv(cells, column)) => cells
                .at(*column, row, &msg)
                .with_label("bad label")
                .with_note(use_note),
            Some(LabelPlaces::Inline(spans)) => {
                Diagnostic::new(msg, spans.get(row).copied().unwrap_or(span).range())
                    .with_label("bad label")
                    .with_secondary(
                        span.range(),
                        format!("used as a subscript of {extent} values"),
                    )
            }
            None => Diagnostic::new(msg, span.range()).with_label("bad label"),
        })
    }
}
