//! Numeric faults at the source: when training meets a NaN or an infinity,
//! find the first `let` or `loss` expression, and the first data row, that
//! produced one, with the values of its inputs.

use std::collections::HashMap;
use std::fmt;

use crate::codegen::model_layout;
use crate::eval::eval;
use crate::graph::{Graph, Node, NodeId, SymbolKind};
use crate::print::{format_number, to_text};
use crate::program::Model;

/// Where the first non-finite value came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// `let NAME` or `loss NAME`.
    pub what: String,
    /// The expression, as ddx prints it.
    pub expr: String,
    /// The data row (0-based), when the value is per row.
    pub row: Option<usize>,
    /// The non-finite value.
    pub value: f64,
    /// Its inputs (data columns, params, earlier lets) and their values.
    pub inputs: Vec<(String, f64)>,
    /// Byte span of the expression in the model file.
    pub span: std::ops::Range<usize>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the first non-finite value comes from `{}`", self.what)?;
        if let Some(r) = self.row {
            write!(f, " at data row {} (counting from 1)", r + 1)?;
        }
        write!(f, ": {} = {}", self.expr, format_number(self.value))?;
        if !self.inputs.is_empty() {
            let inputs: Vec<String> = self
                .inputs
                .iter()
                .map(|(n, v)| format!("{n} = {}", format_number(*v)))
                .collect();
            write!(f, "\n  where {}", inputs.join(", "))?;
        }
        Ok(())
    }
}

/// Looks for the first non-finite value at `params`: the `let`s in
/// declaration order, then the loss, each row by row. `None` when every
/// value is finite (the fault is then in the gradient only).
pub fn locate(model: &Model, params: &[f64]) -> Option<Fault> {
    let ev = RowEval::new(model, params)?;
    let mut steps: Vec<(String, NodeId, std::ops::Range<usize>)> = model
        .lets
        .iter()
        .map(|l| (format!("let {}", l.name), l.node, l.span.clone()))
        .collect();
    steps.push((
        format!("loss {}", model.loss.name),
        model.loss.node,
        model.loss.span.clone(),
    ));
    let let_names: HashMap<NodeId, String> = model
        .lets
        .iter()
        .map(|l| (l.node, l.name.clone()))
        .collect();
    for (what, node, span) in steps {
        let g = &model.graph;
        let rows = if g.meta(node).per_row { ev.rows } else { 1 };
        for r in 0..rows {
            let row = g.meta(node).per_row.then_some(r);
            let v = ev.value(node, row);
            if !v.is_finite() {
                let inputs = inputs_of(g, node, &let_names)
                    .into_iter()
                    .map(|(name, id)| (name, ev.value(id, row)))
                    .collect();
                return Some(Fault {
                    what,
                    expr: to_text(g, node),
                    row,
                    value: v,
                    inputs,
                    span,
                });
            }
        }
    }
    None
}

/// The inputs of `node`: the symbols and other `let`s it refers to directly.
fn inputs_of(g: &Graph, node: NodeId, lets: &HashMap<NodeId, String>) -> Vec<(String, NodeId)> {
    let mut out: Vec<(String, NodeId)> = Vec::new();
    let mut stack: Vec<NodeId> = g.node(node).children().collect();
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
            n => stack.extend(n.children()),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Evaluates nodes of a model at one row (reductions over all rows, once).
struct RowEval<'m> {
    model: &'m Model,
    params: HashMap<crate::graph::SymId, f64>,
    reductions: HashMap<NodeId, f64>,
    rows: usize,
}

impl<'m> RowEval<'m> {
    fn new(model: &'m Model, params: &[f64]) -> Option<Self> {
        let g = &model.graph;
        let mut roots: Vec<NodeId> = model.lets.iter().map(|l| l.node).collect();
        roots.push(model.loss.node);
        let reduce_nodes: Vec<NodeId> = g
            .topo_order(&roots)
            .into_iter()
            .filter(|&id| matches!(g.node(id), Node::Reduce(..)))
            .collect();
        let columns: Vec<&[f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
        let values = eval(g, &reduce_nodes, &model_layout(model), params, &columns).ok()?;
        Some(RowEval {
            model,
            params: model
                .params
                .iter()
                .map(|p| p.sym)
                .zip(params.iter().copied())
                .collect(),
            reductions: reduce_nodes.into_iter().zip(values).collect(),
            rows: model.rows,
        })
    }

    /// The value of `node` at `row` (`None` for row-invariant nodes).
    fn value(&self, node: NodeId, row: Option<usize>) -> f64 {
        let g = &self.model.graph;
        let mut vals: HashMap<NodeId, f64> = HashMap::new();
        let order = g.topo_order(&[node]);
        for id in order {
            if vals.contains_key(&id) {
                continue;
            }
            let v = match g.node(id) {
                Node::Const(bits) => f64::from_bits(bits),
                Node::Sym(s) => match g.symbol(s).kind {
                    SymbolKind::Data => {
                        let col = self.model.data.iter().find(|d| d.sym == s);
                        match (col, row) {
                            (Some(c), Some(r)) => c.values.get(r).copied().unwrap_or(f64::NAN),
                            _ => f64::NAN,
                        }
                    }
                    _ => self.params.get(&s).copied().unwrap_or(f64::NAN),
                },
                Node::Reduce(..) => self.reductions.get(&id).copied().unwrap_or(f64::NAN),
                Node::Unary(op, a) => op.eval(vals.get(&a).copied().unwrap_or(f64::NAN)),
                Node::Binary(op, a, b) => op.eval(
                    vals.get(&a).copied().unwrap_or(f64::NAN),
                    vals.get(&b).copied().unwrap_or(f64::NAN),
                ),
            };
            vals.insert(id, v);
        }
        vals[&node]
    }
}
