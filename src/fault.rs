//! Numeric faults at the source: when training meets a NaN or an infinity,
//! find the first `let` or `loss` expression, and the first data row, that
//! produced one, with the values of its inputs.
//!
//! The search follows the model's own order: the `let`s the loss uses, in
//! declaration order, then the loss; each per-row expression row by row. A
//! row-invariant expression holding `sum`/`mean` is searched inside: the
//! innermost reduction that is not finite, and the first row where its
//! argument is not (or, when every row is finite, the sum itself
//! overflows). When every value is finite but the gradient is not (`sqrt`
//! at 0), the same search runs over the derivatives of each expression with
//! respect to each param: the first expression whose derivative is not
//! finite is where the chain rule broke.
//!
//! In a model with arrays the same search runs on whole arrays
//! ([`crate::interpret::eval_arrays`]): a `let` is not finite at some
//! element (named by its indices, `k = 3`) and data row; a gradient fault
//! names the param element (`W1[3,7]`) whose derivative of the loss is not
//! finite, and the first row of the innermost non-finite reduction in it.
//!
//! Values are computed with the interpreter's rules ([`crate::graph::ops`]
//! and [`crate::interpret`]'s summation order), which the compiled kernel follows
//! bit for bit, so the fault found is the kernel's.

use std::collections::HashMap;
use std::ops::Range;

use crate::codegen::model_layout;
use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::{Graph, IdxId, IdxKind, Node, NodeId, Sub, SymId, SymbolKind};
use crate::interpret::eval;
use crate::print::{format_number, Printer, Style};
use crate::program::Model;

/// Longest expression text quoted in a message, in characters.
const MAX_TEXT: usize = 120;

/// Where the first non-finite value came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fault {
    /// `let NAME` or `loss NAME`.
    pub what: String,
    /// For a gradient fault: the param (or param element, `W1[3,7]`) the
    /// derivative is taken by.
    pub wrt: Option<String>,
    /// In a model with arrays: the element of the non-finite expression,
    /// by its indices (`k = 3`), when it has any.
    pub element: Option<String>,
    /// For a gradient fault in a model with arrays: the value of the
    /// derivative at the param element (`value` is that of `expr`, which
    /// may be a reduction's argument inside it).
    pub derivative: Option<f64>,
    /// The non-finite expression, as ddx prints it (other `let`s by name,
    /// shortened when long): the whole `let`/`loss`, the reduction inside
    /// it, or their derivative.
    pub expr: String,
    /// When the non-finite value is inside a `sum`/`mean` of a
    /// row-invariant expression: that reduction, printed.
    pub inside: Option<String>,
    /// The data row (0-based), when the value is per row.
    pub row: Option<usize>,
    /// True when every row of the reduction is finite but their sum is not.
    pub sum_overflows: bool,
    /// The non-finite value.
    pub value: f64,
    /// Its inputs (data columns, params, other `let`s, reductions) and
    /// their values at the row.
    pub inputs: Vec<(String, f64)>,
    /// Byte span of the `let`/`loss` expression in the model file.
    pub span: Range<usize>,
}

/// A value as messages show it: `inf`, `-inf` and `NaN` in words.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format_number(v)
    }
}

impl Fault {
    /// ` at data row 4 (counting from 1)`, or nothing.
    fn at_row(&self) -> String {
        match self.row {
            Some(r) => format!(" at data row {} (counting from 1)", r + 1),
            None => String::new(),
        }
    }

    fn headline(&self) -> String {
        let what = &self.what;
        let mut row = self.at_row();
        if let Some(e) = &self.element {
            row = format!(" (element {e}){row}");
        }
        match (&self.wrt, self.sum_overflows) {
            (None, false) => format!("the first non-finite value comes from `{what}`{row}"),
            (None, true) => format!(
                "the first non-finite value comes from `{what}`: every row of `{}` is finite, \
                 but their sum overflows",
                self.inside.as_deref().unwrap_or("the reduction")
            ),
            (Some(p), false) => format!(
                "every value is finite, but the gradient is not: the derivative of `{what}` \
                 with respect to `{p}` is {}{row}",
                num(self.derivative.unwrap_or(self.value))
            ),
            (Some(p), true) => format!(
                "every value is finite, but the gradient is not: in the derivative of `{what}` \
                 with respect to `{p}`, every row of `{}` is finite, but their sum overflows",
                self.inside.as_deref().unwrap_or("a reduction")
            ),
        }
    }

    /// What is not finite: `ln(x - 3) = -inf`, with the reduction it is in.
    fn equation(&self) -> String {
        let eq = format!("{} = {}", self.expr, num(self.value));
        match (&self.wrt, &self.inside, self.sum_overflows) {
            (None, Some(r), false) => format!("in {r}: {eq}"),
            (None, _, _) => eq,
            (Some(_), Some(r), false) => format!("the derivative holds {r}, where {eq}"),
            (Some(_), _, _) => format!("the derivative is {eq}"),
        }
    }

    fn inputs_text(&self) -> Option<String> {
        if self.inputs.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .inputs
            .iter()
            .map(|(n, v)| format!("{n} = {}", num(*v)))
            .collect();
        let at = if self.row.is_some() {
            " at that row"
        } else {
            ""
        };
        Some(format!("its inputs{at}: {}", parts.join(", ")))
    }

    /// The fault as a note placed on the `let`/`loss` in the model file, to
    /// render with the model's [`crate::diagnostic::Source`].
    pub(crate) fn diagnostic(&self) -> Diagnostic {
        let mut label = match &self.wrt {
            None => num(self.value),
            Some(p) => format!("d/d{p} = {}", num(self.value)),
        };
        if let Some(r) = self.row {
            label.push_str(&format!(" at row {}", r + 1));
        }
        let mut d = Diagnostic::new(self.headline(), self.span.clone())
            .with_severity(Severity::Note)
            .with_label(label)
            .with_note(self.equation());
        if let Some(inputs) = self.inputs_text() {
            d = d.with_note(inputs);
        }
        d
    }
}

/// Looks for the first non-finite value at `params`, then, when every
/// value is finite, for the first non-finite derivative. `None` when both
/// the values and the gradient are finite.
pub(crate) fn locate(model: &Model, params: &[f64]) -> Option<Fault> {
    if model.has_arrays() {
        return locate_arrays(model, params);
    }
    locate_value(model, params).or_else(|| locate_gradient(model, params))
}

/// One `let` or the loss.
struct Step {
    what: String,
    node: NodeId,
    span: Range<usize>,
}

/// The `let`s the loss uses, in declaration order, then the loss.
fn steps(model: &Model) -> Vec<Step> {
    let used: std::collections::HashSet<NodeId> = model
        .graph
        .topo_order(&[model.loss.node])
        .into_iter()
        .collect();
    let mut steps: Vec<Step> = model
        .lets
        .iter()
        .filter(|l| used.contains(&l.node))
        .map(|l| Step {
            what: format!("let {}", l.name),
            node: l.node,
            span: l.span.clone(),
        })
        .collect();
    steps.push(Step {
        what: format!("loss {}", model.loss.name),
        node: model.loss.node,
        span: model.loss.span.clone(),
    });
    steps
}

/// The first non-finite value of the `let`s and the loss.
pub(crate) fn locate_value(model: &Model, params: &[f64]) -> Option<Fault> {
    let steps = steps(model);
    let roots: Vec<NodeId> = steps.iter().map(|s| s.node).collect();
    let ev = RowEval::new(model, &model.graph, &roots, params)?;
    let names = let_names(model);
    steps
        .into_iter()
        .find_map(|s| ev.search(s.node, &names, &s.what, None, &s.span))
}

/// The first non-finite derivative, by param, of the `let`s and the loss.
pub(crate) fn locate_gradient(model: &Model, params: &[f64]) -> Option<Fault> {
    let steps = steps(model);
    let syms: Vec<SymId> = model.params.iter().map(|p| p.sym).collect();
    let mut g = model.graph.clone();
    let mut derivs: Vec<Vec<NodeId>> = Vec::with_capacity(steps.len());
    for s in &steps {
        let raw = crate::differentiate::gradient(&mut g, s.node, &syms);
        derivs.push(crate::simplify::simplify(&mut g, &raw));
    }
    let roots: Vec<NodeId> = derivs.iter().flatten().copied().collect();
    let ev = RowEval::new(model, &g, &roots, params)?;
    let names = let_names(model);
    for (s, ds) in steps.iter().zip(&derivs) {
        for (p, &d) in model.params.iter().zip(ds) {
            if let Some(f) = ev.search(d, &names, &s.what, Some(&p.name), &s.span) {
                return Some(f);
            }
        }
    }
    None
}

fn let_names(model: &Model) -> HashMap<NodeId, String> {
    model
        .lets
        .iter()
        .map(|l| (l.node, l.name.clone()))
        .collect()
}

/// `node` printed with the `let`s it uses by name, shortened to
/// [`MAX_TEXT`] characters.
fn text(g: &Graph, node: NodeId, lets: &HashMap<NodeId, String>) -> String {
    let mut p = Printer::new(g, Style::Text);
    for (&id, name) in lets {
        p.name(id, name.clone());
    }
    let s = p.print(node);
    if s.chars().count() <= MAX_TEXT {
        s
    } else {
        let cut: String = s.chars().take(MAX_TEXT).collect();
        format!("{cut}...")
    }
}

/// The inputs of `node`: the symbols, other `let`s and reductions it
/// refers to directly, alphabetically.
fn inputs_of(g: &Graph, node: NodeId, lets: &HashMap<NodeId, String>) -> Vec<(String, NodeId)> {
    let mut out: Vec<(String, NodeId)> = Vec::new();
    let mut stack: Vec<NodeId> = match g.node(node) {
        Node::Reduce(_, a) => vec![a],
        n => n.children().collect(),
    };
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(name) = lets.get(&id) {
            out.push((name.clone(), id));
            continue;
        }
        match g.node(id) {
            Node::Sym(s) => out.push((g.symbol(s).name.clone(), id)),
            Node::Reduce(..) => out.push((text(g, id, lets), id)),
            n => stack.extend(n.children()),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Evaluates nodes of a model's graph (or of a graph extending it) row by
/// row, with the reductions under some roots computed once.
struct RowEval<'m> {
    g: &'m Graph,
    params: HashMap<SymId, f64>,
    columns: HashMap<SymId, &'m [f64]>,
    reductions: HashMap<NodeId, f64>,
    rows: usize,
}

/// A node's subgraph in evaluation order, with each node's place.
struct Program {
    order: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
}

impl<'m> RowEval<'m> {
    fn new(model: &'m Model, g: &'m Graph, roots: &[NodeId], params: &[f64]) -> Option<Self> {
        let reduce_nodes: Vec<NodeId> = g
            .topo_order(roots)
            .into_iter()
            .filter(|&id| matches!(g.node(id), Node::Reduce(..)))
            .collect();
        let columns: Vec<&[f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
        let values = eval(g, &reduce_nodes, &model_layout(model), params, &columns).ok()?;
        Some(RowEval {
            g,
            params: model
                .params
                .iter()
                .map(|p| p.sym)
                .zip(params.iter().copied())
                .collect(),
            columns: model
                .data
                .iter()
                .map(|d| (d.sym, d.values.as_slice()))
                .collect(),
            reductions: reduce_nodes.into_iter().zip(values).collect(),
            rows: model.rows,
        })
    }

    /// The subgraph of `node`, reductions as leaves.
    fn program(&self, node: NodeId) -> Program {
        let order = self
            .g
            .topo_order_until(&[node], |id| matches!(self.g.node(id), Node::Reduce(..)));
        let index = order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        Program { order, index }
    }

    /// Runs `prog` at `row` into `vals` (one value per node of the
    /// program); `None` is a row-invariant evaluation.
    fn run(&self, prog: &Program, row: Option<usize>, vals: &mut Vec<f64>) {
        vals.clear();
        let get = |vals: &Vec<f64>, id: NodeId| vals[prog.index[&id]];
        for &id in &prog.order {
            let v = match self.g.node(id) {
                Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..) => unreachable!(
                    "array models are not compiled, so they have no kernel faults to locate"
                ),
                Node::Const(bits) => f64::from_bits(bits),
                Node::Sym(s) => match self.g.symbol(s).kind {
                    SymbolKind::Data => match (self.columns.get(&s), row) {
                        (Some(c), Some(r)) => c.get(r).copied().unwrap_or(f64::NAN),
                        _ => f64::NAN,
                    },
                    _ => self.params.get(&s).copied().unwrap_or(f64::NAN),
                },
                Node::Reduce(..) => self.reductions.get(&id).copied().unwrap_or(f64::NAN),
                Node::Unary(op, a) => op.eval(get(vals, a)),
                Node::Binary(op, a, b) => op.eval(get(vals, a), get(vals, b)),
            };
            vals.push(v);
        }
    }

    /// The value of a row-invariant node.
    fn value(&self, node: NodeId) -> f64 {
        let prog = self.program(node);
        let mut vals = Vec::with_capacity(prog.order.len());
        self.run(&prog, None, &mut vals);
        vals[prog.index[&node]]
    }

    /// The first row (or `None` for a row-invariant node) where `node` is
    /// not finite, with the values of the program there.
    fn first_bad_row(&self, node: NodeId) -> Option<(Option<usize>, Program, Vec<f64>)> {
        let prog = self.program(node);
        let mut vals = Vec::with_capacity(prog.order.len());
        let per_row = self.g.meta(node).per_row;
        let rows: Box<dyn Iterator<Item = Option<usize>>> = if per_row {
            Box::new((0..self.rows).map(Some))
        } else {
            Box::new(std::iter::once(None))
        };
        for row in rows {
            self.run(&prog, row, &mut vals);
            if !vals[prog.index[&node]].is_finite() {
                return Some((row, prog, vals));
            }
        }
        None
    }

    /// The fault of `node` (a `let`, the loss or a derivative of one), if
    /// it is not finite somewhere.
    fn search(
        &self,
        node: NodeId,
        lets: &HashMap<NodeId, String>,
        what: &str,
        wrt: Option<&str>,
        span: &Range<usize>,
    ) -> Option<Fault> {
        let g = self.g;
        let (row, prog, vals) = self.first_bad_row(node)?;
        let fault = |at: NodeId, row: Option<usize>, prog: &Program, vals: &[f64]| {
            let inputs = inputs_of(g, at, lets)
                .into_iter()
                .filter_map(|(name, id)| {
                    let v = match prog.index.get(&id) {
                        Some(&i) => vals[i],
                        // outside the program: the row-invariant inputs of
                        // a reduction whose sum overflows
                        None if !g.meta(id).per_row => self.value(id),
                        None => return None,
                    };
                    Some((name, v))
                })
                .collect();
            Fault {
                what: what.to_string(),
                wrt: wrt.map(str::to_string),
                expr: text(g, at, lets),
                element: None,
                derivative: None,
                inside: None,
                row,
                sum_overflows: false,
                value: prog.index.get(&at).map_or(f64::NAN, |&i| vals[i]),
                inputs,
                span: span.clone(),
            }
        };
        // Inside a row-invariant expression, the innermost reduction that
        // is not finite is the cause, if there is one.
        if row.is_none() {
            let inner = g.topo_order(&[node]).into_iter().find(|id| {
                matches!(g.node(*id), Node::Reduce(..))
                    && !self.reductions.get(id).is_some_and(|v| v.is_finite())
            });
            if let Some(red) = inner {
                let Node::Reduce(_, arg) = g.node(red) else {
                    unreachable!("found as a reduction")
                };
                let inside = Some(text(g, red, lets));
                let value = self.reductions.get(&red).copied().unwrap_or(f64::NAN);
                return Some(match self.first_bad_row(arg) {
                    Some((r, p, v)) => Fault {
                        inside,
                        ..fault(arg, r, &p, &v)
                    },
                    None => {
                        let p = self.program(red);
                        let mut v = Vec::new();
                        self.run(&p, None, &mut v);
                        Fault {
                            inside,
                            sum_overflows: true,
                            value,
                            ..fault(red, None, &p, &v)
                        }
                    }
                });
            }
        }
        Some(fault(node, row, &prog, &vals))
    }
}

// ---- models with arrays ------------------------------------------------

/// [`locate`] for a model with array params or data: the first `let` (or
/// the loss) with a non-finite element, then the first param element whose
/// derivative of the loss is not finite.
fn locate_arrays(model: &Model, params: &[f64]) -> Option<Fault> {
    let mut split = Vec::with_capacity(model.params.len());
    let mut at = 0;
    for p in &model.params {
        let n = p.init.len();
        split.push(params.get(at..at + n)?.to_vec());
        at += n;
    }
    let mut search = ArraySearch {
        model,
        g: model.graph.clone(),
        lets: let_names(model),
        split,
    };
    for s in array_steps(&mut search.g, model) {
        let order = search.g.free(s.node).to_vec();
        if let Some(f) = search.search(s.node, &order, &s.what, None, &s.span) {
            return Some(f);
        }
    }
    // every value is finite: the first non-finite derivative of the loss
    let wrt: Vec<SymId> = model.params.iter().map(|p| p.sym).collect();
    let g = &mut search.g;
    let loss = crate::simplify::simplify(g, &[model.loss.node])[0];
    let partials = crate::differentiate::gradient_indexed(g, loss, &wrt);
    let raw: Vec<NodeId> = partials.iter().map(|p| p.node).collect();
    let simple = crate::simplify::simplify(g, &raw);
    let what = format!("loss {}", model.loss.name);
    for ((p, partial), node) in model.params.iter().zip(&partials).zip(simple) {
        let values = search.full(&[(node, &partial.indices)]).pop()?;
        let Some(i) = values.iter().position(|v| !v.is_finite()) else {
            continue;
        };
        let slot = crate::train::ParamLayout::new(
            std::slice::from_ref(&p.name),
            std::slice::from_ref(&p.shape),
        );
        let name = slot.element_name(i);
        let f = search.search(node, &partial.indices, &what, Some(&name), &model.loss.span);
        // the element found by the search may be another bad one: name
        // the first, with its value
        return f.map(|f| Fault {
            derivative: Some(values[i]),
            element: None,
            ..f
        });
    }
    None
}

/// The `let`s the loss uses, in declaration order, then the loss, in a
/// model with arrays: an array `let` is used under other index names
/// (`z[k]` as `z[j]` inside `logsumexp(j, ...)`), so a `let` counts as used
/// when some renaming of its indices (to indices, constants or index
/// columns in the loss) is a node of the loss. One used in no way found is
/// left out: the loss is then searched instead, which is never wrong.
fn array_steps(g: &mut Graph, model: &Model) -> Vec<Step> {
    let loss_nodes: std::collections::HashSet<NodeId> =
        g.topo_order(&[model.loss.node]).into_iter().collect();
    let mut subs: Vec<Sub> = Vec::new();
    for &id in &loss_nodes {
        for &i in g.free(id) {
            if !subs.contains(&Sub::Idx(i)) {
                subs.push(Sub::Idx(i));
            }
        }
    }
    subs.extend(
        model
            .data
            .iter()
            .filter(|d| d.shape.is_empty())
            .map(|d| Sub::Data(d.sym)),
    );
    let used = |g: &mut Graph, node: NodeId| -> bool {
        if loss_nodes.contains(&node) {
            return true;
        }
        let free = g.free(node).to_vec();
        // each free index to any candidate (two at most: vectors and
        // matrices; constants up to the extent)
        let options = |g: &Graph, i: IdxId| -> Vec<Sub> {
            let n = g.extent(i);
            let mut o: Vec<Sub> = subs
                .iter()
                .copied()
                .filter(|s| match s {
                    Sub::Idx(j) => g.extent(*j) == n,
                    _ => true,
                })
                .collect();
            o.extend((0..n.min(64)).map(|c| Sub::Const(c as u32)));
            o
        };
        match free.as_slice() {
            [i] => options(g, *i).into_iter().any(|a| {
                let r = g.subst_indices(node, &[(*i, a)]);
                loss_nodes.contains(&r)
            }),
            [i, j] => {
                let (oi, oj) = (options(g, *i), options(g, *j));
                oi.iter().any(|&a| {
                    oj.iter().any(|&b| {
                        let r = g.subst_indices(node, &[(*i, a), (*j, b)]);
                        loss_nodes.contains(&r)
                    })
                })
            }
            _ => false,
        }
    };
    let mut steps: Vec<Step> = Vec::new();
    for l in &model.lets {
        if used(g, l.node) {
            steps.push(Step {
                what: format!("let {}", l.name),
                node: l.node,
                span: l.span.clone(),
            });
        }
    }
    steps.push(Step {
        what: format!("loss {}", model.loss.name),
        node: model.loss.node,
        span: model.loss.span.clone(),
    });
    steps
}

/// The search of [`locate_arrays`]: the model's graph extended with the
/// derivatives and the stand-ins it evaluates.
struct ArraySearch<'m> {
    model: &'m Model,
    g: Graph,
    lets: HashMap<NodeId, String>,
    /// Each param's values, row-major.
    split: Vec<Vec<f64>>,
}

impl ArraySearch<'_> {
    /// Row-invariant `outputs` at the params over all rows.
    fn full(&self, outputs: &[(NodeId, &[IdxId])]) -> Vec<Vec<f64>> {
        let inputs = crate::interpret::ArrayInputs::of_model(self.model, &self.split);
        crate::interpret::eval_arrays(&self.g, outputs, &inputs)
    }

    /// The first row where an element of the per-row `node` is not finite:
    /// the row, the element (over `g.free(node)`) and its value. Each
    /// row-reduction the node reads (`x - mean(x)`) is computed once over
    /// all rows and read as a stand-in array, so that the rows can be
    /// evaluated one at a time.
    fn first_bad_row(&mut self, node: NodeId) -> Option<(usize, usize, f64)> {
        let g = &mut self.g;
        let order = g.topo_order_until(&[node], |id| matches!(g.node(id), Node::Reduce(..)));
        let reductions: Vec<NodeId> = order
            .iter()
            .copied()
            .filter(|&id| matches!(g.node(id), Node::Reduce(..)))
            .collect();
        let free: Vec<Vec<IdxId>> = reductions.iter().map(|&r| g.free(r).to_vec()).collect();
        let outputs: Vec<(NodeId, &[IdxId])> = reductions
            .iter()
            .zip(&free)
            .map(|(&r, f)| (r, f.as_slice()))
            .collect();
        let values = self.full(&outputs);
        let g = &mut self.g;
        let mut stand_ins: Vec<(SymId, Vec<f64>)> = Vec::new();
        let mut map: HashMap<NodeId, NodeId> = HashMap::new();
        for ((&r, f), v) in reductions.iter().zip(&free).zip(values) {
            let shape: Vec<usize> = f.iter().map(|&i| g.extent(i)).collect();
            let name = format!("\u{0}reduction{}", r.index());
            let sym = g.declare_array(&name, SymbolKind::Param, &shape);
            let subs: Vec<Sub> = f.iter().map(|&i| Sub::Idx(i)).collect();
            map.insert(r, g.elem(sym, &subs));
            stand_ins.push((sym, v));
        }
        for &id in &order {
            if map.contains_key(&id) {
                continue;
            }
            let n = g.node(id);
            let kids: Vec<NodeId> = n
                .children()
                .map(|k| map.get(&k).copied().unwrap_or(k))
                .collect();
            let new = if kids.iter().eq(n.children().collect::<Vec<_>>().iter()) {
                id
            } else {
                g.rebuild(n, &kids)
            };
            map.insert(id, new);
        }
        let body = map.get(&node).copied().unwrap_or(node);
        let free = g.free(body).to_vec();
        let probe = g.reduce(crate::graph::Reduction::Sum, body);
        let model = self.model;
        let mut inputs = crate::interpret::ArrayInputs::of_model(model, &self.split);
        for (sym, v) in &stand_ins {
            inputs.params.insert(*sym, v.as_slice());
        }
        inputs.rows = 1;
        for row in 0..model.rows {
            for d in &model.data {
                let w = d.values.len() / model.rows.max(1);
                let cells = d.values.get(row * w..(row + 1) * w).unwrap_or(&[]);
                inputs.columns.insert(d.sym, cells);
            }
            let v = crate::interpret::eval_arrays(&self.g, &[(probe, &free)], &inputs).pop()?;
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                // `free` is `g.free(body)`, which is `g.free(node)`
                return Some((row, i, v[i]));
            }
        }
        None
    }

    /// The fault of `node` (a `let`, the loss or a derivative of the loss,
    /// its elements over `order`), if it is not finite somewhere.
    fn search(
        &mut self,
        node: NodeId,
        order: &[IdxId],
        what: &str,
        wrt: Option<&str>,
        span: &Range<usize>,
    ) -> Option<Fault> {
        let fault = |g: &Graph, lets: &HashMap<NodeId, String>, at: NodeId| Fault {
            what: what.to_string(),
            wrt: wrt.map(str::to_string),
            element: None,
            derivative: None,
            expr: text(g, at, lets),
            inside: None,
            row: None,
            sum_overflows: false,
            value: f64::NAN,
            inputs: Vec::new(),
            span: span.clone(),
        };
        if self.g.meta(node).per_row {
            let (row, i, value) = self.first_bad_row(node)?;
            let free = self.g.free(node).to_vec();
            return Some(Fault {
                row: Some(row),
                value,
                element: element_text(&self.g, &free, i),
                ..fault(&self.g, &self.lets, node)
            });
        }
        let values = self.full(&[(node, order)]).pop()?;
        let i = values.iter().position(|v| !v.is_finite())?;
        // the innermost row reduction that is not finite is the cause
        let reductions: Vec<NodeId> = self
            .g
            .topo_order(&[node])
            .into_iter()
            .filter(|&id| matches!(self.g.node(id), Node::Reduce(..)))
            .collect();
        for red in reductions {
            let free = self.g.free(red).to_vec();
            let v = self.full(&[(red, &free)]).pop()?;
            if v.iter().all(|x| x.is_finite()) {
                continue;
            }
            let Node::Reduce(_, arg) = self.g.node(red) else {
                unreachable!("found as a reduction")
            };
            let inside = Some(text(&self.g, red, &self.lets));
            if self.g.meta(arg).per_row {
                if let Some((row, j, value)) = self.first_bad_row(arg) {
                    let arg_free = self.g.free(arg).to_vec();
                    return Some(Fault {
                        inside,
                        row: Some(row),
                        value,
                        element: element_text(&self.g, &arg_free, j),
                        ..fault(&self.g, &self.lets, arg)
                    });
                }
            }
            let j = v.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Some(Fault {
                inside,
                sum_overflows: self.g.meta(arg).per_row,
                value: v[j],
                element: element_text(&self.g, &free, j),
                ..fault(&self.g, &self.lets, red)
            });
        }
        Some(Fault {
            value: values[i],
            element: element_text(&self.g, order, i),
            ..fault(&self.g, &self.lets, node)
        })
    }
}

/// Element `flat` of an array over `indices` (row-major), by its indices:
/// `k = 3, j = 0` (an index without a name by its position alone); `None`
/// for a scalar.
fn element_text(g: &Graph, indices: &[IdxId], flat: usize) -> Option<String> {
    if indices.is_empty() {
        return None;
    }
    let mut at = vec![0; indices.len()];
    let mut rest = flat;
    for (slot, &i) in at.iter_mut().zip(indices).rev() {
        let d = g.extent(i).max(1);
        *slot = rest % d;
        rest /= d;
    }
    let parts: Vec<String> = indices
        .iter()
        .zip(&at)
        .map(|(&i, v)| match &g.index_var(i).kind {
            IdxKind::Named(n) => format!("{n} = {v}"),
            _ => format!("{v}"),
        })
        .collect();
    Some(parts.join(", "))
}
