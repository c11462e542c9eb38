//! The reference interpreter for array models: every node is evaluated as
//! a dense array over its free indices (in index-id order), row by row.
//!
//! The value rules are those of [`crate::graph::ops`] and
//! [`IndexOp::eval`]; row reductions add rows in the one order of
//! [`OrderedSum`] (element by element); index reductions add in index
//! order. A data subscript out of its dimension (which the checker
//! refuses) gives NaN, never a panic.

use rustc_hash::FxHashMap as HashMap;

use crate::graph::{Graph, IdxId, Node, NodeId, Reduction, Sub, SymId, SymbolKind};
use crate::interpret::OrderedSum;

/// The values an array evaluation reads: every param's elements and every
/// data column's values (row-major, `width` values per row), by symbol.
#[derive(Clone, Debug, Default)]
pub struct ArrayInputs<'a> {
    /// Each param's elements, row-major.
    pub params: HashMap<SymId, &'a [f64]>,
    /// Each data column's values, row by row.
    pub columns: HashMap<SymId, &'a [f64]>,
    /// The number of data rows.
    pub rows: usize,
}

impl<'a> ArrayInputs<'a> {
    /// The inputs of `model` at `params` (each param's values, row-major,
    /// in declaration order).
    pub fn of_model(model: &'a crate::program::Model, params: &'a [Vec<f64>]) -> Self {
        ArrayInputs {
            params: model
                .params
                .iter()
                .zip(params)
                .map(|(p, v)| (p.sym, v.as_slice()))
                .collect(),
            columns: model
                .data
                .iter()
                .map(|d| (d.sym, d.values.as_slice()))
                .collect(),
            rows: model.rows,
        }
    }
}

/// A dense array over the free indices of a node, in index-id order.
type Tensor = Vec<f64>;

/// Evaluates row-invariant `outputs`; each is returned as a dense array
/// over the indices given with it (row-major in that order; a scalar output
/// has none). The indices must be the output's free indices.
pub fn eval_arrays(
    g: &Graph,
    outputs: &[(NodeId, &[IdxId])],
    inputs: &ArrayInputs<'_>,
) -> Vec<Vec<f64>> {
    let roots: Vec<NodeId> = outputs.iter().map(|o| o.0).collect();
    let mut ev = Evaluator {
        g,
        inputs,
        invariant: HashMap::default(),
    };
    // row-invariant nodes in order; row reductions evaluate their own rows
    for id in g.topo_order(&roots) {
        if !g.meta(id).per_row {
            let t = ev.invariant_node(id);
            ev.invariant.insert(id, t);
        }
    }
    outputs
        .iter()
        .map(|&(id, order)| ev.reorder(id, order))
        .collect()
}

struct Evaluator<'a> {
    g: &'a Graph,
    inputs: &'a ArrayInputs<'a>,
    /// Values of the row-invariant nodes computed so far.
    invariant: HashMap<NodeId, Tensor>,
}

/// The strides with which a node over `outer` (sorted) reads a child over
/// `inner` (a subset, sorted): 0 for the indices the child lacks.
fn strides(g: &Graph, outer: &[IdxId], inner: &[IdxId]) -> Vec<usize> {
    let mut out = vec![0; outer.len()];
    let mut stride = 1;
    for &i in inner.iter().rev() {
        if let Ok(p) = outer.binary_search(&i) {
            out[p] = stride;
        }
        stride *= g.extent(i);
    }
    out
}

/// Calls `f(position, assignment)` for every assignment of `vars`
/// (row-major, the last index fastest).
fn for_each(g: &Graph, vars: &[IdxId], mut f: impl FnMut(usize, &[usize])) {
    let extents: Vec<usize> = vars.iter().map(|&i| g.extent(i)).collect();
    if extents.contains(&0) {
        return;
    }
    let mut at = vec![0usize; vars.len()];
    let mut pos = 0;
    loop {
        f(pos, &at);
        pos += 1;
        let mut d = vars.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            at[d] += 1;
            if at[d] < extents[d] {
                break;
            }
            at[d] = 0;
        }
    }
}

fn offset(at: &[usize], strides: &[usize]) -> usize {
    at.iter().zip(strides).map(|(a, s)| a * s).sum()
}

impl Evaluator<'_> {
    /// A row-invariant node whose row-invariant children are known.
    fn invariant_node(&self, id: NodeId) -> Tensor {
        if let Node::Reduce(r, a) = self.g.node(id) {
            return self.reduce_rows(r, a);
        }
        self.node(id, None, &|k| &self.invariant[&k])
    }

    /// A row reduction of `a`, element by element over `a`'s free indices.
    fn reduce_rows(&self, r: Reduction, a: NodeId) -> Tensor {
        let g = self.g;
        let n = self.inputs.rows;
        if !g.meta(a).per_row {
            let v = &self.invariant[&a];
            return match r {
                Reduction::Sum => v.iter().map(|x| x * n as f64).collect(),
                Reduction::Mean => v.clone(),
            };
        }
        let order = g.topo_order_until(&[a], |id| !g.meta(id).per_row);
        let len = self.len(a);
        let mut sums = vec![OrderedSum::new(); len];
        let mut row_vals: HashMap<NodeId, Tensor> = HashMap::default();
        for row in 0..n {
            row_vals.clear();
            for &id in &order {
                if !g.meta(id).per_row {
                    continue;
                }
                let t = self.node(id, Some(row), &|k| {
                    row_vals.get(&k).unwrap_or_else(|| &self.invariant[&k])
                });
                row_vals.insert(id, t);
            }
            for (s, &v) in sums.iter_mut().zip(&row_vals[&a]) {
                s.push(v);
            }
        }
        sums.into_iter()
            .map(|s| match r {
                Reduction::Sum => s.finish(),
                Reduction::Mean => s.finish() / n as f64,
            })
            .collect()
    }

    fn len(&self, id: NodeId) -> usize {
        self.g.free(id).iter().map(|&i| self.g.extent(i)).product()
    }

    /// The value of a subscript under an assignment of `vars`.
    fn sub_value(&self, s: Sub, vars: &[IdxId], at: &[usize], row: Option<usize>) -> Option<usize> {
        match s {
            Sub::Idx(i) => vars.binary_search(&i).ok().map(|p| at[p]),
            Sub::Const(c) => Some(c as usize),
            Sub::Data(d) => {
                let v = *self.inputs.columns.get(&d)?.get(row?)?;
                (v >= 0.0 && v.fract() == 0.0).then_some(v as usize)
            }
        }
    }

    /// The value of one node (on `row`, or row-invariant), its children's
    /// values given by `child`.
    fn node<'c>(
        &'c self,
        id: NodeId,
        row: Option<usize>,
        child: &dyn Fn(NodeId) -> &'c Tensor,
    ) -> Tensor {
        let g = self.g;
        let vars = g.free(id);
        let len = self.len(id);
        let mut out = vec![0.0; len];
        match g.node(id) {
            Node::Const(bits) => out.fill(f64::from_bits(bits)),
            Node::Sym(s) => {
                let v = match g.symbol(s).kind {
                    SymbolKind::Data => {
                        row.and_then(|r| self.inputs.columns.get(&s)?.get(r).copied())
                    }
                    _ => self.inputs.params.get(&s).and_then(|p| p.first().copied()),
                };
                out.fill(v.unwrap_or(f64::NAN));
            }
            Node::Elem(s, subs) => {
                let sym = g.symbol(s);
                let subs = g.subs(subs);
                let width: usize = sym.shape.iter().product();
                let values: &[f64] = match sym.kind {
                    SymbolKind::Data => match (row, self.inputs.columns.get(&s)) {
                        (Some(r), Some(c)) => c.get(r * width..(r + 1) * width).unwrap_or(&[]),
                        _ => &[],
                    },
                    _ => self.inputs.params.get(&s).copied().unwrap_or(&[]),
                };
                for_each(g, vars, |pos, at| {
                    let mut flat = 0;
                    let mut ok = true;
                    for (&sub, &dim) in subs.iter().zip(&sym.shape) {
                        match self.sub_value(sub, vars, at, row) {
                            Some(v) if v < dim => flat = flat * dim + v,
                            _ => ok = false,
                        }
                    }
                    out[pos] = if ok {
                        values.get(flat).copied().unwrap_or(f64::NAN)
                    } else {
                        f64::NAN
                    };
                });
            }
            Node::Delta(a, b) => for_each(g, vars, |pos, at| {
                let (x, y) = (
                    self.sub_value(a, vars, at, row),
                    self.sub_value(b, vars, at, row),
                );
                out[pos] = match (x, y) {
                    (Some(x), Some(y)) => f64::from(u8::from(x == y)),
                    _ => f64::NAN,
                };
            }),
            Node::Unary(op, a) => {
                let (va, sa) = (child(a), strides(g, vars, g.free(a)));
                for_each(g, vars, |pos, at| out[pos] = op.eval(va[offset(at, &sa)]));
            }
            Node::Binary(op, a, b) => {
                let (va, sa) = (child(a), strides(g, vars, g.free(a)));
                let (vb, sb) = (child(b), strides(g, vars, g.free(b)));
                for_each(g, vars, |pos, at| {
                    out[pos] = op.eval(va[offset(at, &sa)], vb[offset(at, &sb)]);
                });
            }
            Node::IndexReduce(op, i, body) => {
                let inner = g.free(body);
                let vb = child(body);
                let sb = strides(g, inner, inner);
                let ip = inner
                    .binary_search(&i)
                    .expect("a reduction's body has its index free");
                let n = g.extent(i);
                let mut at_inner = vec![0; inner.len()];
                for_each(g, vars, |pos, at| {
                    // the body's assignment: `at` with the reduced index inserted
                    let mut k = 0;
                    for (p, slot) in at_inner.iter_mut().enumerate() {
                        if p != ip {
                            *slot = at[k];
                            k += 1;
                        }
                    }
                    at_inner[ip] = 0;
                    let base = offset(&at_inner, &sb);
                    let step = sb[ip];
                    out[pos] = op.eval((0..n).map(|m| vb[base + m * step]));
                });
            }
            Node::Reduce(..) => {
                // a row reduction is row-invariant: evaluated once
                return child(id).clone();
            }
        }
        out
    }

    /// The row-invariant value of `id` laid out over `order`: its free
    /// indices in any order, plus any index it does not depend on (a
    /// derivative the same for every value of that index), broadcast.
    fn reorder(&self, id: NodeId, order: &[IdxId]) -> Vec<f64> {
        let g = self.g;
        let t = &self.invariant[&id];
        let free = g.free(id);
        if order == free {
            return t.clone();
        }
        // strides of the stored layout, indexed by the position in `order`
        let stored = strides(g, free, free);
        let s: Vec<usize> = order
            .iter()
            .map(|i| free.binary_search(i).map_or(0, |p| stored[p]))
            .collect();
        let len: usize = order.iter().map(|&i| g.extent(i)).product();
        let mut out = vec![0.0; len];
        for_each(g, order, |pos, at| out[pos] = t[offset(at, &s)]);
        out
    }
}
