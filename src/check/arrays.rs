//! Lowering expressions with arrays: index notation (`W[k, j]`,
//! `sum(j, e)`, `let z[k] = ...`) and the whole-array sugar (`W @ x + c`,
//! `dot(u, v)`, `A'`, elementwise functions with scalar broadcast) become
//! the same index nodes of the graph, so sugar and index notation are one
//! graph by construction.
//!
//! A lowered value is a node plus its *axes*: the free indices that stand
//! for the dimensions of a whole array (`W @ x` has one axis). Index names
//! the user writes are bound by `let NAME[i, ...]` and by the first
//! argument of `sum`, `max`, `min`, `logsumexp` and `softmax`; an index's
//! range is fixed by the first dimension it subscripts, and every other use
//! must agree. The walk is iterative (an explicit stack), so no input depth
//! can overflow the stack.

use crate::diagnostic::Diagnostic;
use crate::graph::{Graph, IdxId, IdxKind, IndexOp, NodeId, Sub, SymId, UnOp};
use crate::syntax::ast::{ExprId, ExprKind, File, NameId, Span};

use super::lower::{callee, Func};

/// What a name of the program refers to, for the lowering.
#[derive(Clone, Debug)]
pub(super) enum Resolved {
    /// A scalar: a scalar param or data column, a scalar `let`, `pi`.
    Scalar(NodeId),
    /// An array param or vector data column.
    Array(SymId),
    /// A `let` array: its node and the indices that name its element, in
    /// order.
    Let { node: NodeId, indices: Vec<IdxId> },
}

/// A lowered expression: its node and its axes (the indices of a whole
/// array, in order; none for a scalar or an element).
#[derive(Clone, Debug)]
pub(super) struct Val {
    pub node: NodeId,
    pub axes: Vec<IdxId>,
    pub span: Span,
}

/// An index name in scope.
struct Binder {
    name: NameId,
    span: Span,
    /// Set at the first use, with the extent of the dimension it indexes.
    idx: Option<IdxId>,
    /// The text that first fixed its range (for the error when another
    /// use disagrees).
    fixed_by: Option<(Span, String)>,
    /// The unique name of the index in the graph.
    key: String,
}

/// Most index names in scope at once (nested index reductions and a
/// `let`'s indices): the passes over index expressions recurse once per
/// nesting level.
pub(super) const MAX_INDEX_DEPTH: usize = 32;

/// The callbacks the lowering needs from its checker.
pub(super) trait Names {
    /// What `name` refers to; an error when it is not a value.
    fn resolve(&mut self, g: &mut Graph, name: NameId, span: Span) -> Result<Resolved, Diagnostic>;
    /// True when `name` is declared as a value (so `max(name, e)` is the
    /// scalar function).
    fn is_value(&self, name: NameId) -> bool;
    /// Checks that the data column `sym`, used as a subscript of a
    /// dimension `extent`, holds whole numbers in `0..extent`.
    fn check_label(&mut self, sym: SymId, extent: usize, span: Span) -> Result<(), Diagnostic>;
}

/// The array lowering of one expression.
pub(super) struct Lowering<'a> {
    file: &'a File,
    g: &'a mut Graph,
    reductions: bool,
    scope: Vec<Binder>,
    fresh: u32,
}

fn shape_text(g: &Graph, axes: &[IdxId]) -> String {
    let dims: Vec<String> = axes.iter().map(|&i| g.extent(i).to_string()).collect();
    if dims.is_empty() {
        "a scalar".to_string()
    } else {
        format!("shape [{}]", dims.join(", "))
    }
}

impl<'a> Lowering<'a> {
    /// A lowering into `g`; `reductions` says whether `sum`/`mean` over
    /// rows are allowed.
    pub(super) fn new(file: &'a File, g: &'a mut Graph, reductions: bool) -> Self {
        Lowering {
            file,
            g,
            reductions,
            scope: Vec::new(),
            fresh: 0,
        }
    }

    /// Lowers a `let NAME[i, ...] = e` (or a scalar `let`, a loss):
    /// returns the node and the indices naming its element (the header's,
    /// or the axes of a whole-array value).
    pub(super) fn lower_binding(
        mut self,
        root: ExprId,
        header: &[crate::syntax::ast::Ident],
        names: &mut dyn Names,
    ) -> Result<(NodeId, Vec<IdxId>), Diagnostic> {
        for (k, h) in header.iter().enumerate() {
            if let Some(prev) = header[..k].iter().find(|p| p.name == h.name) {
                return Err(Diagnostic::new(
                    format!("index `{}` is named twice", self.file.name(h.name)),
                    h.span.range(),
                )
                .with_label("named again")
                .with_secondary(prev.span.range(), "first named here"));
            }
            if names.is_value(h.name) {
                return Err(Diagnostic::new(
                    format!(
                        "`{}` is declared as a value and cannot name an index",
                        self.file.name(h.name)
                    ),
                    h.span.range(),
                )
                .with_label("not a new name"));
            }
            self.scope.push(Binder {
                name: h.name,
                span: h.span,
                idx: None,
                fixed_by: None,
                key: self.file.name(h.name).to_string(),
            });
        }
        let v = self.lower(root, names)?;
        // a whole array under indices first: its indices are unused too
        if !header.is_empty() && !v.axes.is_empty() {
            return Err(Diagnostic::new(
                format!(
                    "the value is a whole array ({}), but the `let` names its element",
                    shape_text(self.g, &v.axes)
                ),
                v.span.range(),
            )
            .with_label("a whole array")
            .with_note("index it (`let z[k] = v[k]`) or drop the indices (`let z = v`)"));
        }
        let mut indices = Vec::new();
        for b in &self.scope {
            match b.idx {
                Some(i) => indices.push(i),
                None => return Err(unused_index(self.file, b)),
            }
        }
        if header.is_empty() {
            indices = v.axes;
        }
        Ok((v.node, indices))
    }

    fn fresh_axis(&mut self, extent: usize) -> IdxId {
        self.fresh += 1;
        // `#` keeps sugar axes apart from every index a user can name
        let name = format!("#{}.{}", self.fresh, self.g.len());
        self.g.index(IdxKind::Named(name), extent)
    }

    fn binder(&self, name: NameId) -> Option<usize> {
        self.scope.iter().rposition(|b| b.name == name)
    }

    /// Lowers an expression to a value (its node and axes).
    pub(super) fn lower(&mut self, root: ExprId, names: &mut dyn Names) -> Result<Val, Diagnostic> {
        let file = self.file;
        let mut values: Vec<Val> = Vec::new();
        // (expr, exiting, binders pushed on entry)
        let mut stack: Vec<(ExprId, bool, usize)> = vec![(root, false, 0)];
        while let Some((id, exiting, pushed)) = stack.pop() {
            let e = file.expr(id);
            if !exiting {
                match e.kind {
                    ExprKind::Call { name, .. } if self.index_reduction(id, names).is_some() => {
                        let args = file.call_args(id);
                        let ExprKind::Name(bound) = file.expr(args[0]).kind else {
                            unreachable!("index_reduction checks the binder")
                        };
                        let keep = file.name(name) == "softmax" && self.binder(bound).is_some();
                        if self.scope.len() >= MAX_INDEX_DEPTH {
                            return Err(Diagnostic::new(
                                format!(
                                    "reductions over indices nest more than {MAX_INDEX_DEPTH} deep"
                                ),
                                e.span.range(),
                            )
                            .with_label("too deep")
                            .with_note("name a part with `let` and reduce that"));
                        }
                        let pushed = if keep {
                            0
                        } else {
                            self.fresh += 1;
                            self.scope.push(Binder {
                                name: bound,
                                span: file.expr(args[0]).span,
                                idx: None,
                                fixed_by: None,
                                key: format!("{}#{}", file.name(bound), self.fresh),
                            });
                            1
                        };
                        stack.push((id, true, pushed));
                        stack.push((args[1], false, 0));
                    }
                    ExprKind::Index { .. } | ExprKind::Num(_) | ExprKind::Name(_) => {
                        stack.push((id, true, 0));
                    }
                    ExprKind::Call { name, .. } if file.name(name) == "delta" => {
                        stack.push((id, true, 0));
                    }
                    ExprKind::List { .. } => {
                        return Err(Diagnostic::new(
                            "a list of values is only allowed as a param's initial value or as inline data",
                            e.span.range(),
                        )
                        .with_label("list here"));
                    }
                    ExprKind::Named { name, .. } => {
                        return Err(Diagnostic::new(
                            format!(
                                "a named argument (`{} = ...`) is only allowed in `normal(...)` and `uniform(...)` initial values",
                                file.name(name)
                            ),
                            e.span.range(),
                        )
                        .with_label("named argument"));
                    }
                    _ => {
                        stack.push((id, true, 0));
                        let kids: Vec<ExprId> = match e.kind {
                            ExprKind::Neg(a) | ExprKind::Transpose(a) => vec![a],
                            ExprKind::Binary(_, a, b) | ExprKind::MatMul(a, b) => vec![a, b],
                            ExprKind::Call { .. } => file.call_args(id).to_vec(),
                            _ => Vec::new(),
                        };
                        for k in kids.into_iter().rev() {
                            stack.push((k, false, 0));
                        }
                    }
                }
                continue;
            }
            let v = self.exit(id, pushed, &mut values, names)?;
            values.push(v);
        }
        Ok(values.pop().expect("the root's value"))
    }

    /// The index reduction a call is (`sum(j, e)`, `max(j, e)`, ...): a
    /// two-argument call whose first argument is a name that is not a
    /// value.
    fn index_reduction(&self, id: ExprId, names: &dyn Names) -> Option<Option<IndexOp>> {
        let file = self.file;
        let ExprKind::Call { name, len: 2, .. } = file.expr(id).kind else {
            return None;
        };
        let op = match file.name(name) {
            "sum" => Some(IndexOp::Sum),
            "max" => Some(IndexOp::Max),
            "min" => Some(IndexOp::Min),
            "logsumexp" => Some(IndexOp::LogSumExp),
            "softmax" => None,
            _ => return None,
        };
        let first = file.call_args(id)[0];
        match file.expr(first).kind {
            ExprKind::Name(n) if !names.is_value(n) && file.name(n) != "pi" => Some(op),
            _ => None,
        }
    }

    fn pop(values: &mut Vec<Val>) -> Val {
        values
            .pop()
            .expect("postorder gives every operator its operands")
    }

    fn exit(
        &mut self,
        id: ExprId,
        pushed: usize,
        values: &mut Vec<Val>,
        names: &mut dyn Names,
    ) -> Result<Val, Diagnostic> {
        let file = self.file;
        let e = *file.expr(id);
        let span = e.span;
        let scalar = |node| Val {
            node,
            axes: Vec::new(),
            span,
        };
        Ok(match e.kind {
            ExprKind::Num(v) => scalar(self.g.constant(v)),
            ExprKind::Name(n) => {
                if let Some(b) = self.binder(n) {
                    return Err(Diagnostic::new(
                        format!("index `{}` is used as a value", file.name(n)),
                        span.range(),
                    )
                    .with_label("an index")
                    .with_secondary(self.scope[b].span.range(), "bound here")
                    .with_note("an index only subscripts arrays, e.g. `w[j]`"));
                }
                match names.resolve(self.g, n, span)? {
                    Resolved::Scalar(node) => scalar(node),
                    Resolved::Array(sym) => {
                        let shape = self.g.symbol(sym).shape.clone();
                        let axes: Vec<IdxId> = shape.iter().map(|&d| self.fresh_axis(d)).collect();
                        let subs: Vec<Sub> = axes.iter().map(|&i| Sub::Idx(i)).collect();
                        Val {
                            node: self.g.elem(sym, &subs),
                            axes,
                            span,
                        }
                    }
                    Resolved::Let { node, indices } => {
                        let axes: Vec<IdxId> = indices
                            .iter()
                            .map(|&i| {
                                let n = self.g.extent(i);
                                self.fresh_axis(n)
                            })
                            .collect();
                        let map: Vec<(IdxId, Sub)> = indices
                            .iter()
                            .zip(&axes)
                            .map(|(&f, &t)| (f, Sub::Idx(t)))
                            .collect();
                        Val {
                            node: self.g.subst_indices(node, &map),
                            axes,
                            span,
                        }
                    }
                }
            }
            ExprKind::Index { name, .. } => {
                let args = file.index_args(id).to_vec();
                let what = names.resolve(self.g, name, file.callee_span(id))?;
                let (dims, node_indices) = match &what {
                    Resolved::Scalar(_) => {
                        return Err(Diagnostic::new(
                            format!("`{}` is a scalar and has no elements", file.name(name)),
                            span.range(),
                        )
                        .with_label("not an array"));
                    }
                    Resolved::Array(sym) => (self.g.symbol(*sym).shape.clone(), None),
                    Resolved::Let { node: _, indices } => (
                        indices.iter().map(|&i| self.g.extent(i)).collect(),
                        Some(indices.clone()),
                    ),
                };
                if args.len() != dims.len() {
                    return Err(Diagnostic::new(
                        format!(
                            "`{}` has {} dimension{} (shape [{}]), but {} subscript{} given",
                            file.name(name),
                            dims.len(),
                            if dims.len() == 1 { "" } else { "s" },
                            dims.iter()
                                .map(|d| d.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            args.len(),
                            if args.len() == 1 { " is" } else { "s are" },
                        ),
                        span.range(),
                    )
                    .with_label(format!("{} subscripts needed", dims.len())));
                }
                let mut subs = Vec::with_capacity(args.len());
                for (pos, (&a, &d)) in args.iter().zip(&dims).enumerate() {
                    let what = format!(
                        "dimension {} of `{}` (shape [{}])",
                        pos + 1,
                        file.name(name),
                        dims.iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    subs.push(self.subscript(a, d, &what, names)?);
                }
                match what {
                    Resolved::Array(sym) => scalar(self.g.elem(sym, &subs)),
                    Resolved::Let { node, .. } => {
                        let map: Vec<(IdxId, Sub)> = node_indices
                            .expect("a let's indices")
                            .into_iter()
                            .zip(subs)
                            .collect();
                        scalar(self.g.subst_indices(node, &map))
                    }
                    Resolved::Scalar(_) => unreachable!("refused above"),
                }
            }
            ExprKind::Neg(_) => {
                let a = Self::pop(values);
                Val {
                    node: self.g.neg(a.node),
                    axes: a.axes,
                    span,
                }
            }
            ExprKind::Binary(op, _, _) => {
                let b = Self::pop(values);
                let a = Self::pop(values);
                let (x, y, axes) = self.broadcast(&a, &b, span)?;
                Val {
                    node: self.g.binary(op, x, y),
                    axes,
                    span,
                }
            }
            ExprKind::MatMul(_, _) => {
                let b = Self::pop(values);
                let a = Self::pop(values);
                self.matmul(a, b, span)?
            }
            ExprKind::Transpose(_) => {
                let a = Self::pop(values);
                self.transpose(a, span)?
            }
            ExprKind::Call { name, .. } => {
                let text = file.name(name);
                if pushed > 0 || self.index_reduction(id, names).is_some() {
                    return self.finish_reduction(id, pushed, values);
                }
                match text {
                    "dot" if file.call_args(id).len() == 2 => {
                        let b = Self::pop(values);
                        let a = Self::pop(values);
                        for v in [&a, &b] {
                            if v.axes.len() != 1 {
                                return Err(Diagnostic::new(
                                    format!(
                                        "`dot` takes two vectors, but this is {}",
                                        shape_text(self.g, &v.axes)
                                    ),
                                    v.span.range(),
                                )
                                .with_label("not a vector"));
                            }
                        }
                        let mut m = self.matmul_pair(a, b, span)?;
                        m.span = span;
                        return Ok(m);
                    }
                    "transpose" if file.call_args(id).len() == 1 => {
                        let a = Self::pop(values);
                        return self.transpose(a, span);
                    }
                    "delta" => return self.delta(id, names),
                    _ => {}
                }
                let f = callee(file, id)?;
                match f {
                    Func::Unary(op) => {
                        let a = Self::pop(values);
                        Val {
                            node: self.g.call(op, a.node),
                            axes: a.axes,
                            span,
                        }
                    }
                    Func::Binary(op) => {
                        let b = Self::pop(values);
                        let a = Self::pop(values);
                        let (x, y, axes) = self.broadcast(&a, &b, span)?;
                        Val {
                            node: self.g.binary(op, x, y),
                            axes,
                            span,
                        }
                    }
                    Func::Reduce(r) => {
                        if !self.reductions {
                            return Err(Diagnostic::new(
                                format!(
                                    "`{text}` sums over data rows, which only model files have"
                                ),
                                file.callee_span(id).range(),
                            )
                            .with_label("needs data")
                            .with_note("in expression mode every name is a scalar variable"));
                        }
                        let a = Self::pop(values);
                        Val {
                            node: self.g.reduce(r, a.node),
                            axes: a.axes,
                            span,
                        }
                    }
                }
            }
            ExprKind::List { .. } | ExprKind::Named { .. } => {
                unreachable!("refused on entry")
            }
        })
    }

    fn finish_reduction(
        &mut self,
        id: ExprId,
        pushed: usize,
        values: &mut Vec<Val>,
    ) -> Result<Val, Diagnostic> {
        let file = self.file;
        let span = file.expr(id).span;
        let ExprKind::Call { name, .. } = file.expr(id).kind else {
            unreachable!("a reduction is a call")
        };
        let body = Self::pop(values);
        let ExprKind::Name(bound) = file.expr(file.call_args(id)[0]).kind else {
            unreachable!("checked on entry")
        };
        let b = if pushed > 0 {
            self.scope.pop().expect("pushed on entry")
        } else {
            let k = self.binder(bound).expect("softmax over an index in scope");
            let b = &self.scope[k];
            Binder {
                name: b.name,
                span: b.span,
                idx: b.idx,
                fixed_by: None,
                key: b.key.clone(),
            }
        };
        let Some(idx) = b.idx else {
            return Err(unused_index(file, &b));
        };
        let node = match file.name(name) {
            "softmax" => {
                let lse = self.g.index_reduce(IndexOp::LogSumExp, idx, body.node);
                let d = self.g.sub(body.node, lse);
                let node = self.g.call(UnOp::Exp, d);
                let mut axes = body.axes;
                if pushed > 0 {
                    // a new index: the result is a vector over it
                    axes.insert(0, idx);
                }
                return Ok(Val { node, axes, span });
            }
            "sum" => self.g.index_reduce(IndexOp::Sum, idx, body.node),
            "max" => self.g.index_reduce(IndexOp::Max, idx, body.node),
            "min" => self.g.index_reduce(IndexOp::Min, idx, body.node),
            "logsumexp" => self.g.index_reduce(IndexOp::LogSumExp, idx, body.node),
            _ => unreachable!("index_reduction names the reductions"),
        };
        Ok(Val {
            node,
            axes: body.axes,
            span,
        })
    }

    /// The subscript `a` of a dimension of `extent`.
    fn subscript(
        &mut self,
        a: ExprId,
        extent: usize,
        what: &str,
        names: &mut dyn Names,
    ) -> Result<Sub, Diagnostic> {
        let file = self.file;
        let e = *file.expr(a);
        match e.kind {
            ExprKind::Num(v) => {
                if v.fract() != 0.0 || v < 0.0 {
                    return Err(Diagnostic::new(
                        format!("a constant subscript is a whole number, not {v}"),
                        e.span.range(),
                    )
                    .with_label("not a whole number"));
                }
                if v >= extent as f64 {
                    return Err(Diagnostic::new(
                        format!(
                            "subscript {v} is out of range: {what} has positions 0 to {}",
                            extent.saturating_sub(1)
                        ),
                        e.span.range(),
                    )
                    .with_label(format!("0 to {} here", extent.saturating_sub(1)))
                    .with_note("indices count from 0"));
                }
                Ok(Sub::Const(v as u32))
            }
            ExprKind::Name(n) => {
                if let Some(k) = self.binder(n) {
                    let b = &mut self.scope[k];
                    match b.idx {
                        None => {
                            let idx = self.g.index(IdxKind::Named(b.key.clone()), extent);
                            b.idx = Some(idx);
                            b.fixed_by = Some((e.span, what.to_string()));
                            Ok(Sub::Idx(idx))
                        }
                        Some(idx) => {
                            let have = self.g.extent(idx);
                            if have != extent {
                                let (first, first_what) =
                                    b.fixed_by.clone().unwrap_or((b.span, String::new()));
                                return Err(Diagnostic::new(
                                    format!(
                                        "index `{}` ranges over {have} values, but here it subscripts {what}, which has {extent}",
                                        file.name(n)
                                    ),
                                    e.span.range(),
                                )
                                .with_label(format!("{extent} values here"))
                                .with_secondary(first.range(), format!("{have} values: {first_what}")));
                            }
                            Ok(Sub::Idx(idx))
                        }
                    }
                } else {
                    match names.resolve(self.g, n, e.span)? {
                        Resolved::Scalar(node) => {
                            let Some(sym) = self.g.as_sym(node).filter(|&s| {
                                self.g.symbol(s).kind == crate::graph::SymbolKind::Data
                            }) else {
                                return Err(Diagnostic::new(
                                    format!(
                                        "`{}` cannot be a subscript: a subscript is an index, a whole number, or a data column of labels",
                                        file.name(n)
                                    ),
                                    e.span.range(),
                                )
                                .with_label("not an index"));
                            };
                            names.check_label(sym, extent, e.span)?;
                            Ok(Sub::Data(sym))
                        }
                        _ => Err(Diagnostic::new(
                            format!("`{}` is an array and cannot be a subscript", file.name(n)),
                            e.span.range(),
                        )
                        .with_label("not an index")),
                    }
                }
            }
            _ => Err(Diagnostic::new(
                "a subscript is an index name, a whole number, or a data column of labels",
                e.span.range(),
            )
            .with_label("not a subscript")),
        }
    }

    /// `delta(a, b)`: 1 when two subscripts are equal (the printed form of
    /// a gather's derivative).
    fn delta(&mut self, id: ExprId, names: &mut dyn Names) -> Result<Val, Diagnostic> {
        let file = self.file;
        let span = file.expr(id).span;
        let args = file.call_args(id).to_vec();
        if args.len() != 2 {
            return Err(Diagnostic::new("`delta` takes 2 subscripts", span.range())
                .with_label("expected 2 arguments"));
        }
        // the extent comes from an index already in use
        let extent = args
            .iter()
            .find_map(|&a| match file.expr(a).kind {
                ExprKind::Name(n) => self.binder(n).and_then(|k| self.scope[k].idx),
                _ => None,
            })
            .map(|i| self.g.extent(i));
        let Some(extent) = extent else {
            return Err(Diagnostic::new(
                "`delta` needs an index whose range is already known",
                span.range(),
            )
            .with_label("range unknown")
            .with_note("use the index to subscript an array before `delta`"));
        };
        let a = self.subscript(args[0], extent, "`delta`", names)?;
        let b = self.subscript(args[1], extent, "`delta`", names)?;
        Ok(Val {
            node: self.g.delta(a, b),
            axes: Vec::new(),
            span,
        })
    }

    /// The operands of an elementwise operation with their common axes
    /// (a scalar broadcasts).
    fn broadcast(
        &mut self,
        a: &Val,
        b: &Val,
        span: Span,
    ) -> Result<(NodeId, NodeId, Vec<IdxId>), Diagnostic> {
        if b.axes.is_empty() {
            return Ok((a.node, b.node, a.axes.clone()));
        }
        if a.axes.is_empty() {
            return Ok((a.node, b.node, b.axes.clone()));
        }
        let same = a.axes.len() == b.axes.len()
            && a.axes
                .iter()
                .zip(&b.axes)
                .all(|(&x, &y)| self.g.extent(x) == self.g.extent(y));
        if !same {
            return Err(Diagnostic::new(
                format!(
                    "shape mismatch: {} and {}",
                    shape_text(self.g, &a.axes),
                    shape_text(self.g, &b.axes)
                ),
                span.range(),
            )
            .with_label("shapes differ")
            .with_secondary(a.span.range(), shape_text(self.g, &a.axes))
            .with_secondary(b.span.range(), shape_text(self.g, &b.axes)));
        }
        let map: Vec<(IdxId, Sub)> = b
            .axes
            .iter()
            .zip(&a.axes)
            .map(|(&f, &t)| (f, Sub::Idx(t)))
            .collect();
        let y = self.g.subst_indices(b.node, &map);
        Ok((a.node, y, a.axes.clone()))
    }

    /// `a @ b`: matrix-vector, matrix-matrix, vector-matrix, or (for two
    /// vectors) the dot product.
    fn matmul(&mut self, a: Val, b: Val, span: Span) -> Result<Val, Diagnostic> {
        if a.axes.is_empty() || b.axes.is_empty() || a.axes.len() > 2 || b.axes.len() > 2 {
            return Err(Diagnostic::new(
                format!(
                    "`@` multiplies matrices and vectors, but these are {} and {}",
                    shape_text(self.g, &a.axes),
                    shape_text(self.g, &b.axes)
                ),
                span.range(),
            )
            .with_label("not matrices or vectors")
            .with_secondary(a.span.range(), shape_text(self.g, &a.axes))
            .with_secondary(b.span.range(), shape_text(self.g, &b.axes)));
        }
        self.matmul_pair(a, b, span)
    }

    /// Contracts the last axis of `a` with the first axis of `b`.
    fn matmul_pair(&mut self, a: Val, b: Val, span: Span) -> Result<Val, Diagnostic> {
        let (&ka, &kb) = (
            a.axes.last().expect("an axis"),
            b.axes.first().expect("an axis"),
        );
        if self.g.extent(ka) != self.g.extent(kb) {
            return Err(Diagnostic::new(
                format!(
                    "shape mismatch: {} and {} (the inner dimensions {} and {} differ)",
                    shape_text(self.g, &a.axes),
                    shape_text(self.g, &b.axes),
                    self.g.extent(ka),
                    self.g.extent(kb)
                ),
                span.range(),
            )
            .with_label("inner dimensions differ")
            .with_secondary(a.span.range(), shape_text(self.g, &a.axes))
            .with_secondary(b.span.range(), shape_text(self.g, &b.axes)));
        }
        let y = self.g.subst_indices(b.node, &[(kb, Sub::Idx(ka))]);
        let prod = self.g.mul(a.node, y);
        let node = self.g.index_reduce(IndexOp::Sum, ka, prod);
        let mut axes: Vec<IdxId> = a.axes[..a.axes.len() - 1].to_vec();
        axes.extend_from_slice(&b.axes[1..]);
        Ok(Val { node, axes, span })
    }

    fn transpose(&mut self, mut a: Val, span: Span) -> Result<Val, Diagnostic> {
        match a.axes.len() {
            2 => {
                a.axes.reverse();
                a.span = span;
                Ok(a)
            }
            1 => Ok(Val { span, ..a }),
            _ => Err(Diagnostic::new(
                format!(
                    "transpose needs a matrix, but this is {}",
                    shape_text(self.g, &a.axes)
                ),
                span.range(),
            )
            .with_label("not a matrix")),
        }
    }
}

fn unused_index(file: &File, b: &Binder) -> Diagnostic {
    let name = file.name(b.name);
    Diagnostic::new(format!("index `{name}` is not used"), b.span.range())
        .with_label("unused index")
        .with_note(format!(
            "an index must subscript an array in its expression, e.g. `w[{name}]` (if `{name}` was meant as a value, it is not declared)"
        ))
}
