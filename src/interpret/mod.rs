//! The reference interpreter: the oracle for everything the JIT does.
//!
//! It walks the graph directly (not the schedule) with the value rules of
//! [`crate::graph::ops`]. Reductions follow the rules documented in
//! [`crate::schedule`]: `sum(e)` is the [`OrderedSum`] of `e` over the rows,
//! `mean(e)` is that sum divided by the row count, and a reduction of a
//! row-invariant `c` is `c * n` (`sum`) or `c` (`mean`). Each reduction is
//! evaluated once, after the reductions it contains, so data-only
//! reductions such as `mean(x)` are computed once per evaluation.

use std::collections::HashMap;

mod arrays;
pub use arrays::{eval_arrays, ArrayInputs};

use thiserror::Error;

use crate::graph::{Graph, Node, NodeId, Reduction, SymId};
use crate::schedule::{bind_layout, check_columns, check_count, KernelError, Layout, LayoutError};

/// Lanes of the summation order: row `r` of a block is added to lane
/// `r % LANES`.
pub(crate) const LANES: usize = 4;

/// Rows per block of the summation order (a multiple of `LANES`).
pub const BLOCK_ROWS: usize = 8192;

/// The one summation order of every `sum` and `mean` in ddx.
///
/// The rows are cut into blocks of [`BLOCK_ROWS`] rows (the last may be
/// shorter). Within a block, four lanes start at `+0.0` and row `r` is added
/// to lane `r % 4`, rows in increasing order. A block's partial sum is
/// `((l0 + l1) + l2) + l3`, and the total starts at `+0.0` and adds the
/// blocks' partial sums in block order. (That combination is the one
/// PyTorch's CPU sum gives on the seed data: the trajectories then agree bit
/// for bit, even where the gradient cancels to 1e-16 near the optimum.)
///
/// Four lanes break the latency chain of one accumulator and map onto two
/// `f64x2` vectors (`[l0, l1]` and `[l2, l3]`); blocks of a fixed size let
/// threads compute block sums independently and still give the same bits for
/// any thread count.
#[derive(Clone, Debug)]
pub(crate) struct OrderedSum {
    lanes: [f64; LANES],
    total: f64,
    row: usize,
}

impl Default for OrderedSum {
    fn default() -> Self {
        Self::new()
    }
}

impl OrderedSum {
    /// An empty sum.
    pub(crate) fn new() -> Self {
        OrderedSum {
            lanes: [0.0; LANES],
            total: 0.0,
            row: 0,
        }
    }

    /// Adds the value of the next row.
    pub(crate) fn push(&mut self, v: f64) {
        let lane = self.row % LANES;
        self.lanes[lane] += v;
        self.row += 1;
        if self.row.is_multiple_of(BLOCK_ROWS) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let [l0, l1, l2, l3] = self.lanes;
        self.total += ((l0 + l1) + l2) + l3;
        self.lanes = [0.0; LANES];
    }

    /// The sum of all values pushed.
    pub(crate) fn finish(mut self) -> f64 {
        if !self.row.is_multiple_of(BLOCK_ROWS) {
            self.flush();
        }
        self.total
    }
}

/// Why an evaluation could not run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The graph does not fit the layout.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The params or columns do not fit the layout.
    #[error(transparent)]
    Arguments(#[from] KernelError),
}

/// Evaluates `outputs` (each row-invariant) with `params` and `columns` in
/// the order of `layout`. The row count is the columns' common length (0
/// without columns).
pub fn eval(
    g: &Graph,
    outputs: &[NodeId],
    layout: &Layout,
    params: &[f64],
    columns: &[&[f64]],
) -> Result<Vec<f64>, EvalError> {
    let (param_of, column_of) = bind_layout(g, layout)?;
    check_count(layout.params.len(), params.len(), KernelError::params)?;
    let names = layout.columns.iter().map(|&s| g.symbol(s).name.as_str());
    let n = check_columns(columns, names)?;
    for (index, &o) in outputs.iter().enumerate() {
        if g.meta(o).per_row {
            return Err(LayoutError::PerRowOutput { index }.into());
        }
    }
    let mut interp = Interp {
        g,
        param_of,
        column_of,
        params,
        columns,
        n,
        value: HashMap::new(),
    };
    for id in g.topo_order(outputs) {
        if !g.meta(id).per_row {
            let v = interp.scalar(id)?;
            interp.value.insert(id, v);
        }
    }
    Ok(outputs.iter().map(|o| interp.value[o]).collect())
}

struct Interp<'a> {
    g: &'a Graph,
    param_of: HashMap<SymId, usize>,
    column_of: HashMap<SymId, usize>,
    params: &'a [f64],
    columns: &'a [&'a [f64]],
    n: usize,
    /// Values of the row-invariant nodes computed so far.
    value: HashMap<NodeId, f64>,
}

/// An operand of a per-row instruction.
#[derive(Clone, Copy)]
enum Arg {
    Row(usize),
    Scalar(f64),
}

enum RowOp {
    Column(usize),
    Unary(crate::graph::UnOp, Arg),
    Binary(crate::graph::BinOp, Arg, Arg),
}

impl Interp<'_> {
    fn unbound(&self, s: SymId) -> EvalError {
        LayoutError::Unbound {
            name: self.g.symbol(s).name.clone(),
        }
        .into()
    }

    /// The value of a row-invariant node whose row-invariant children are
    /// known.
    fn scalar(&self, id: NodeId) -> Result<f64, EvalError> {
        let g = self.g;
        Ok(match g.node(id) {
            Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..) => {
                unreachable!("array models are evaluated by interpret::arrays")
            }
            Node::Const(bits) => f64::from_bits(bits),
            Node::Sym(s) => match self.param_of.get(&s) {
                Some(&i) => self.params[i],
                None => return Err(self.unbound(s)),
            },
            Node::Unary(op, a) => op.eval(self.value[&a]),
            Node::Binary(op, a, b) => op.eval(self.value[&a], self.value[&b]),
            Node::Reduce(r, a) => {
                let n = self.n as f64;
                match (r, g.meta(a).per_row) {
                    (Reduction::Sum, true) => self.sum_rows(a)?,
                    (Reduction::Mean, true) => self.sum_rows(a)? / n,
                    (Reduction::Sum, false) => self.value[&a] * n,
                    (Reduction::Mean, false) => self.value[&a],
                }
            }
        })
    }

    /// The ordered sum of the per-row node `root` over all rows.
    fn sum_rows(&self, root: NodeId) -> Result<f64, EvalError> {
        let g = self.g;
        let nodes = g.topo_order_until(&[root], |id| !g.meta(id).per_row);
        let mut pos: HashMap<NodeId, usize> = HashMap::new();
        let mut prog: Vec<RowOp> = Vec::new();
        for id in nodes {
            if !g.meta(id).per_row {
                continue;
            }
            let arg = |k: NodeId| match pos.get(&k) {
                Some(&p) => Arg::Row(p),
                None => Arg::Scalar(self.value[&k]),
            };
            let op = match g.node(id) {
                Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..) => {
                    unreachable!("array models are evaluated by interpret::arrays")
                }
                Node::Sym(s) => match self.column_of.get(&s) {
                    Some(&c) => RowOp::Column(c),
                    None => return Err(self.unbound(s)),
                },
                Node::Unary(op, a) => RowOp::Unary(op, arg(a)),
                Node::Binary(op, a, b) => RowOp::Binary(op, arg(a), arg(b)),
                Node::Const(_) | Node::Reduce(..) => unreachable!("row-invariant nodes"),
            };
            pos.insert(id, prog.len());
            prog.push(op);
        }
        let mut vals = vec![0.0; prog.len()];
        let mut sum = OrderedSum::new();
        for row in 0..self.n {
            for (i, op) in prog.iter().enumerate() {
                let get = |a: Arg| match a {
                    Arg::Row(p) => vals[p],
                    Arg::Scalar(v) => v,
                };
                vals[i] = match *op {
                    RowOp::Column(c) => self.columns[c][row],
                    RowOp::Unary(op, a) => op.eval(get(a)),
                    RowOp::Binary(op, a, b) => op.eval(get(a), get(b)),
                };
            }
            sum.push(vals[prog.len() - 1]);
        }
        Ok(sum.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{SymbolKind, UnOp};

    /// The [`OrderedSum`] of a slice.
    fn ordered_sum(values: &[f64]) -> f64 {
        let mut s = OrderedSum::new();
        for &v in values {
            s.push(v);
        }
        s.finish()
    }

    #[test]
    fn ordered_sum_follows_lanes_and_blocks() {
        let v: Vec<f64> = (0..7)
            .map(|i| 0.1 * i as f64 + 1e16 * (i % 2) as f64)
            .collect();
        let [a, b, c, d, e, f, h] = v[..] else {
            unreachable!()
        };
        let lanes = [(0.0 + a) + e, (0.0 + b) + f, (0.0 + c) + h, 0.0 + d];
        let want = 0.0 + (((lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
        assert_eq!(ordered_sum(&v).to_bits(), want.to_bits());

        // Two blocks: the second block's partial sum is added to the first.
        let n = BLOCK_ROWS + 3;
        let w: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let first = ordered_sum(&w[..BLOCK_ROWS]);
        let second = ordered_sum(&w[BLOCK_ROWS..]);
        assert_eq!(ordered_sum(&w).to_bits(), (first + second).to_bits());
        assert_eq!(ordered_sum(&[]).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn errors() {
        let mut g = Graph::new();
        let x = g.declare("x", SymbolKind::Data);
        let m = g.declare("m", SymbolKind::Param);
        let (xn, mn) = (g.sym(x), g.sym(m));
        let s = g.call(UnOp::Sin, xn);
        let e = g.mul(s, mn);
        let layout = Layout {
            params: vec![m],
            columns: vec![x],
        };
        let per_row = eval(&g, &[e], &layout, &[1.0], &[&[1.0]]).unwrap_err();
        assert_eq!(
            per_row,
            EvalError::Layout(LayoutError::PerRowOutput { index: 0 })
        );
        let r = g.reduce(Reduction::Sum, e);
        let unbound = eval(&g, &[r], &Layout::scalars(&[m]), &[1.0], &[]).unwrap_err();
        assert!(matches!(
            unbound,
            EvalError::Layout(LayoutError::Unbound { .. })
        ));
        let wrong = eval(&g, &[r], &layout, &[], &[&[1.0]]).unwrap_err();
        assert_eq!(
            wrong,
            EvalError::Arguments(KernelError::Params {
                expected: 1,
                got: 0
            })
        );
    }
}
