//! Symbolic differentiation on the graph, in reverse mode.
//!
//! The gradient of a node with respect to many variables is one reverse
//! sweep: adjoints are accumulated in reverse topological order, so it costs
//! a small constant times the function, and the result is an ordinary
//! subgraph that can be simplified, printed, differentiated again and
//! compiled.
//!
//! Reductions: `d/dp sum(e) = sum(de/dp)`. Each reduction's own gradient is
//! computed first (innermost first, without recursion), and a reduction is a
//! leaf with a known gradient in the sweep of the expression around it.
//!
//! Non-smooth functions follow one subgradient rule: at a tie or a kink the
//! derivative is the average of the two sides (`step(0) = 1/2`,
//! `sign(0) = 0`), so `relu(x)`, `max(x, 0)` and `max(0, x)` all have
//! derivative 1/2 at 0, `abs(x)` (= `max(x, -x)`) has 0, and a tie between two
//! equal expressions (`min(y, max(x, y))`) gets their common derivative.

use rustc_hash::FxHashMap as HashMap;

use crate::graph::{BinOp, Graph, IdxId, IdxKind, IndexOp, Node, NodeId, Sub, SymId, UnOp};

/// How close (relative to the extreme) an element of a `max` or `min` over
/// an index must be to tie with it in the derivative's weights
/// `step(e - n + TIE_RELATIVE*|n|) / sum(k, step(...))`. The element `e`
/// and the extreme `n` are separately simplified expressions (the same
/// array under other index names, whose sums may be ordered differently),
/// so at the extreme itself they can round apart by a few ulps; a test of
/// exact equality then gave the maximum no weight (0/0, or a wrong share
/// of the derivative). 2^-30 is far above that rounding and far below any
/// difference that is not a tie.
const TIE_RELATIVE: f64 = 1.0 / 1_073_741_824.0;

/// The derivative of an expression with respect to an array param: one
/// expression whose free indices are the param's element indices, in
/// order (`dC/dW[i, j]` is `node` with `indices = [i, j]`). A scalar
/// param has no indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partial {
    /// The derivative.
    pub node: NodeId,
    /// The free indices of `node` that name the param's element.
    pub indices: Vec<IdxId>,
}

/// The partial derivatives of `root` with respect to each of `wrt`, in order.
/// For array params use [`gradient_indexed`], which also says which free
/// indices name the element.
pub fn gradient(g: &mut Graph, root: NodeId, wrt: &[SymId]) -> Vec<NodeId> {
    gradient_indexed(g, root, wrt)
        .into_iter()
        .map(|p| p.node)
        .collect()
}

/// The partial derivatives of `root` with respect to each of `wrt` (scalar
/// or array symbols), in order, each with the indices naming its element.
pub fn gradient_indexed(g: &mut Graph, root: NodeId, wrt: &[SymId]) -> Vec<Partial> {
    reverse(g, root, wrt, false)
}

/// The second derivatives of a loss from its gradient: `result[a][b]` is
/// `d gradient[a] / d wrt[b]`, which is the block
/// `d²L / d wrt[a][I] d wrt[b][J]` of the Hessian when `gradient` is
/// [`gradient_indexed`]`(g, L, wrt)` (simplified or not).
///
/// Each block is one node with `indices = I ++ J`: `I` is
/// `gradient[a].indices`, unchanged, and `J` names the element of `wrt[b]`,
/// one index variable per dimension of it, distinct from every index of
/// `I` (named `d{param}.{pos}`, primed as often as needed to differ from
/// `I`). Laid out row-major over `I ++ J` (as
/// [`crate::eval_arrays`] does when given these indices), a block is the
/// Hessian's rows of `wrt[a]`'s elements and its columns of `wrt[b]`'s,
/// each in row-major order. A scalar param adds no index: with scalar
/// params only, the blocks are the nodes [`gradient`] gives for each
/// gradient node. A block's free indices are among its `indices`; one that
/// does not depend on some of them has the same value for every value of
/// those.
///
/// The indices of `I` are held fixed in the sweep: each element of the
/// gradient is differentiated, they are never summed. Any other free index
/// of `gradient[a].node` (none, from [`gradient_indexed`]) is held too and
/// stays free in the blocks.
pub fn hessian_indexed(g: &mut Graph, gradient: &[Partial], wrt: &[SymId]) -> Vec<Vec<Partial>> {
    gradient
        .iter()
        .map(|row| hessian_row(g, row, wrt))
        .collect()
}

/// One block row of [`hessian_indexed`].
fn hessian_row(g: &mut Graph, row: &Partial, wrt: &[SymId]) -> Vec<Partial> {
    // Every held index becomes a stand-in that occurs nowhere else: an
    // element index may be a canonical bound index (`j` of `dC/dw[j]` from
    // `sum(j, w[j]*x[j])`) that a reduction inside the gradient binds
    // again, and the sweep, which carries the held indices into every
    // adjoint, would have that reduction capture it.
    let mut held = row.indices.clone();
    held.extend(g.free(row.node).iter().filter(|i| !row.indices.contains(i)));
    let mut stand_ins: Vec<IdxId> = Vec::with_capacity(held.len());
    for (pos, &i) in held.iter().enumerate() {
        let extent = g.extent(i);
        let mut n = 0;
        let s = loop {
            let s = g.index(IdxKind::Named(format!("#held.{pos}.{n}")), extent);
            if !held.contains(&s) && !g.has_free(row.node, s) {
                break s;
            }
            n += 1;
        };
        stand_ins.push(s);
    }
    let to_stand_ins: Vec<(IdxId, Sub)> = held
        .iter()
        .zip(&stand_ins)
        .map(|(&i, &s)| (i, Sub::Idx(s)))
        .collect();
    let root = g.subst_indices(row.node, &to_stand_ins);
    let partials = reverse(g, root, wrt, true);
    partials
        .into_iter()
        .zip(wrt)
        .map(|(p, &sym)| {
            // the held indices back, and `J` renamed apart from them
            let mut map: Vec<(IdxId, Sub)> = stand_ins
                .iter()
                .zip(&held)
                .map(|(&s, &i)| (s, Sub::Idx(i)))
                .collect();
            let mut indices = row.indices.clone();
            for (pos, &j) in p.indices.iter().enumerate() {
                let fresh = fresh_element_index(g, sym, pos, &held);
                map.push((j, Sub::Idx(fresh)));
                indices.push(fresh);
            }
            Partial {
                node: g.subst_indices(p.node, &map),
                indices,
            }
        })
        .collect()
}

/// The element index of position `pos` of `sym` (as [`element_index`]
/// names it), primed until it is none of `avoid`.
fn fresh_element_index(g: &mut Graph, sym: SymId, pos: usize, avoid: &[IdxId]) -> IdxId {
    let s = g.symbol(sym);
    let (mut name, extent) = (format!("d{}.{pos}", s.name), s.shape[pos]);
    loop {
        let i = g.index(IdxKind::Named(name.clone()), extent);
        if !avoid.contains(&i) {
            return i;
        }
        name.push('\'');
    }
}

/// Reverse mode from `root`: the gradients of its row reductions, then the
/// sweep around them. With `hold`, the root's free indices are held fixed
/// (one derivative per element of the root, see [`sweep`]).
fn reverse(g: &mut Graph, root: NodeId, wrt: &[SymId], hold: bool) -> Vec<Partial> {
    // Gradients of every reduction under `root`, innermost first.
    let mut known: HashMap<NodeId, Vec<Partial>> = HashMap::default();
    let reductions: Vec<NodeId> = g
        .topo_order(&[root])
        .into_iter()
        .filter(|&id| matches!(g.node(id), Node::Reduce(..)))
        .collect();
    for r in reductions {
        let Node::Reduce(kind, inner) = g.node(r) else {
            unreachable!()
        };
        let inner_grad = sweep(g, inner, wrt, &known, true);
        let reduced = inner_grad
            .into_iter()
            .map(|p| Partial {
                node: g.reduce(kind, p.node),
                indices: p.indices,
            })
            .collect();
        known.insert(r, reduced);
    }
    sweep(g, root, wrt, &known, hold)
}

/// The derivative of `root` with respect to one variable.
pub fn derivative(g: &mut Graph, root: NodeId, var: SymId) -> NodeId {
    gradient(g, root, &[var])[0]
}

/// Nodes reachable from `root` without entering reductions, children first.
fn sweep_order(g: &Graph, root: NodeId) -> Vec<NodeId> {
    // children pushed first to last (so visited last to first): the order
    // the adjoints are built in, and so the gradient's node order, is part
    // of what makes results reproducible bit for bit
    let mut seen: HashMap<NodeId, ()> = HashMap::default();
    let mut order = Vec::new();
    let mut stack = vec![(root, false)];
    while let Some((id, expanded)) = stack.pop() {
        if expanded {
            order.push(id);
            continue;
        }
        if seen.insert(id, ()).is_some() {
            continue;
        }
        stack.push((id, true));
        let node = g.node(id);
        if !matches!(node, Node::Reduce(..)) {
            for k in node.children() {
                if !seen.contains_key(&k) {
                    stack.push((k, false));
                }
            }
        }
    }
    order
}

/// `sum` of `e` over every free index of `e` that is not in `keep`
/// (the reverse of a broadcast).
fn sum_out(g: &mut Graph, mut e: NodeId, keep: &[IdxId]) -> NodeId {
    let extra: Vec<IdxId> = g
        .free(e)
        .iter()
        .copied()
        .filter(|i| !keep.contains(i))
        .collect();
    for i in extra {
        e = g.index_reduce(IndexOp::Sum, i, e);
    }
    e
}

/// The number of values of the indices in `over` (a node's free indices)
/// that `e` (a contribution to its adjoint) does not mention and that are
/// neither kept nor free in the root: `e` stands for that many equal terms
/// when they are summed out.
fn repeats(g: &Graph, over: &[IdxId], e: NodeId, keep: &[IdxId], root_free: &[IdxId]) -> usize {
    over.iter()
        .filter(|i| !keep.contains(i) && !root_free.contains(i) && !g.free(e).contains(i))
        .map(|&i| g.extent(i))
        .product()
}

/// The index naming position `pos` of the element of `sym` when the
/// subscript there cannot (a constant, a data column, a repeated index, or
/// an index free in the whole expression being differentiated).
fn element_index(g: &mut Graph, sym: SymId, pos: usize) -> IdxId {
    let s = g.symbol(sym);
    let (name, extent) = (format!("d{}.{pos}", s.name), s.shape[pos]);
    g.index(IdxKind::Named(name), extent)
}

/// One reverse sweep over `root`, treating reductions as leaves whose
/// gradients are in `known`.
///
/// With `hold`, the root's free indices are held fixed: every adjoint
/// carries them (the adjoint of a node is the derivative of each element
/// of the root by it), no broadcast sums them out, and the derivatives keep
/// them: one derivative per element of the root. That is the body of a row
/// reduction with free indices (`sum(k, mean(x[k]*w[k] + p))`, whose
/// derivatives the sweep around the reduction multiplies by the
/// reduction's adjoint and sums), and a gradient differentiated again
/// ([`hessian_indexed`]). The held indices must not be bound anywhere under
/// `root`, or a reduction there would capture them in the adjoints: a row
/// reduction's free indices are bound outside it, by reductions whose
/// canonical level is above every binder inside, so its body qualifies;
/// a gradient's element indices are renamed first. Without `hold` (a
/// scalar loss), nothing is held.
fn sweep(
    g: &mut Graph,
    root: NodeId,
    wrt: &[SymId],
    known: &HashMap<NodeId, Vec<Partial>>,
    hold: bool,
) -> Vec<Partial> {
    let order = sweep_order(g, root);
    let root_free = g.free(root).to_vec();
    let held: Vec<IdxId> = if hold { root_free.clone() } else { Vec::new() };
    let holding = |keep: &[IdxId]| -> Vec<IdxId> {
        let mut k = keep.to_vec();
        k.extend(held.iter().filter(|i| !keep.contains(i)));
        k
    };
    let mut contributions: HashMap<NodeId, Vec<NodeId>> = HashMap::default();
    let one = g.constant(1.0);
    contributions.insert(root, vec![one]);
    let mut result: Vec<Vec<Partial>> = vec![Vec::new(); wrt.len()];
    // where each variable goes in `result` (a lookup, not a scan of `wrt`
    // per symbol: an expression may have a million variables)
    let mut slots: HashMap<SymId, Vec<usize>> = HashMap::default();
    for (i, &v) in wrt.iter().enumerate() {
        slots.entry(v).or_default().push(i);
    }
    for &id in order.iter().rev() {
        let Some(parts) = contributions.remove(&id) else {
            continue;
        };
        let adj = sum_of(g, &parts);
        if g.is_const(adj, 0.0) {
            continue;
        }
        // The adjoint of `id` ranges over its free indices even where its
        // expression does not mention one (the body of `sum(k, p - x[k])`
        // has adjoint 1 for every k): a child without such an index gets
        // the contribution once per value of it.
        let parent_free = g.free(id).to_vec();
        let mut push = |g: &mut Graph, child: NodeId, e: NodeId| {
            let keep = holding(g.free(child));
            let repeats = repeats(g, &parent_free, e, &keep, &root_free);
            let mut e = sum_out(g, e, &keep);
            if repeats != 1 {
                e = g.scale(repeats as f64, e);
            }
            contributions.entry(child).or_default().push(e);
        };
        match g.node(id) {
            Node::Const(_) | Node::Delta(..) => {}
            Node::Sym(s) => {
                for &i in slots.get(&s).into_iter().flatten() {
                    let node = sum_out(g, adj, &held);
                    result[i].push(Partial {
                        node,
                        indices: Vec::new(),
                    });
                }
            }
            Node::Elem(s, subs) => {
                let Some(targets) = slots.get(&s) else {
                    continue;
                };
                let subs = g.subs(subs).to_vec();
                let mut indices = Vec::with_capacity(subs.len());
                let mut e = adj;
                for (pos, &sub) in subs.iter().enumerate() {
                    match sub {
                        Sub::Idx(v) if !indices.contains(&v) && !root_free.contains(&v) => {
                            indices.push(v)
                        }
                        _ => {
                            let o = element_index(g, s, pos);
                            let d = g.delta(Sub::Idx(o), sub);
                            e = g.mul(e, d);
                            indices.push(o);
                        }
                    }
                }
                let node = sum_out(g, e, &holding(&indices));
                for &i in targets {
                    result[i].push(Partial {
                        node,
                        indices: indices.clone(),
                    });
                }
            }
            Node::Reduce(..) => {
                if let Some(grads) = known.get(&id) {
                    for (i, d) in grads.iter().enumerate() {
                        let c = g.mul(adj, d.node);
                        // the reduction's own free indices the product
                        // does not mention (`p` in `sum(k, mean(x[k] + p))`)
                        let keep = holding(&d.indices);
                        let repeats = repeats(g, &parent_free, c, &keep, &root_free);
                        let mut node = sum_out(g, c, &keep);
                        if repeats != 1 {
                            node = g.scale(repeats as f64, node);
                        }
                        result[i].push(Partial {
                            node,
                            indices: d.indices.clone(),
                        });
                    }
                }
            }
            Node::IndexReduce(op, idx, body) => {
                let c = match op {
                    IndexOp::Sum => adj,
                    IndexOp::LogSumExp => {
                        // the softmax of the body
                        let d = g.sub(body, id);
                        let w = g.call(UnOp::Exp, d);
                        g.mul(adj, w)
                    }
                    IndexOp::Max | IndexOp::Min => {
                        // the tied extremes share the derivative equally
                        // (the kink rule of the scalar `max` and `min`); an
                        // element within TIE_RELATIVE of the extreme ties
                        // (see there)
                        let d = if op == IndexOp::Max {
                            g.sub(body, id)
                        } else {
                            g.sub(id, body)
                        };
                        let size = g.call(UnOp::Abs, id);
                        let tie = g.constant(TIE_RELATIVE);
                        let slack = g.mul(tie, size);
                        let d = g.add(d, slack);
                        let s = g.call(UnOp::Step, d);
                        let total = g.index_reduce(IndexOp::Sum, idx, s);
                        let w = g.div(s, total);
                        g.mul(adj, w)
                    }
                };
                push(g, body, c);
            }
            Node::Unary(op, x) => {
                let local = unary_derivative(g, op, x, id);
                let c = g.mul(adj, local);
                push(g, x, c);
            }
            Node::Binary(op, x, y) => {
                let (dx, dy) = binary_adjoints(g, op, x, y, id, adj);
                if let Some(dx) = dx {
                    push(g, x, dx);
                }
                if let Some(dy) = dy {
                    push(g, y, dy);
                }
            }
        }
    }
    result
        .into_iter()
        .zip(wrt)
        .map(|(parts, &sym)| combine(g, sym, parts))
        .collect()
}

/// The sum of the contributions to one param's derivative, renamed to the
/// first contribution's element indices.
fn combine(g: &mut Graph, sym: SymId, parts: Vec<Partial>) -> Partial {
    let Some(first) = parts.first() else {
        let rank = g.symbol(sym).shape.len();
        let indices = (0..rank).map(|pos| element_index(g, sym, pos)).collect();
        return Partial {
            node: g.constant(0.0),
            indices,
        };
    };
    let indices = first.indices.clone();
    let mut nodes = Vec::with_capacity(parts.len());
    for p in &parts {
        if p.indices == indices {
            nodes.push(p.node);
        } else {
            let map: Vec<(IdxId, Sub)> = p
                .indices
                .iter()
                .zip(&indices)
                .map(|(&from, &to)| (from, Sub::Idx(to)))
                .collect();
            nodes.push(g.subst_indices(p.node, &map));
        }
    }
    Partial {
        node: sum_of(g, &nodes),
        indices,
    }
}

/// `c - 1`, exact for fractions: when `c` is the double nearest `p/q`
/// (small `q`), the result is the double nearest `(p-q)/q`, so `x^(1/3)`
/// differentiates to `x^(-2/3)` rather than to a neighbour of it.
fn exponent_minus_one(c: f64) -> f64 {
    match crate::print::as_fraction(c) {
        Some((p, q)) => (p - q) as f64 / q as f64,
        None => c - 1.0,
    }
}

fn sum_of(g: &mut Graph, parts: &[NodeId]) -> NodeId {
    match parts {
        [] => g.constant(0.0),
        [p] => *p,
        _ => {
            let mut acc = parts[0];
            for &p in &parts[1..] {
                acc = g.add(acc, p);
            }
            acc
        }
    }
}

/// `f'(x)` for a unary operator, where `node` is `f(x)` itself (reused by
/// the rules that are best written in terms of the value: exp, tanh,
/// sqrt, sigmoid).
fn unary_derivative(g: &mut Graph, op: UnOp, x: NodeId, node: NodeId) -> NodeId {
    match op {
        UnOp::Neg => g.constant(-1.0),
        UnOp::Sin => g.call(UnOp::Cos, x),
        UnOp::Cos => {
            let s = g.call(UnOp::Sin, x);
            g.neg(s)
        }
        UnOp::Tan => {
            // 1/cos(x)^2
            let c = g.call(UnOp::Cos, x);
            let sq = g.powf(c, 2.0);
            let one = g.constant(1.0);
            g.div(one, sq)
        }
        UnOp::Asin | UnOp::Acos => {
            // ±1/sqrt(1 - x^2)
            let sq = g.powf(x, 2.0);
            let one = g.constant(1.0);
            let d = g.sub(one, sq);
            let r = g.call(UnOp::Sqrt, d);
            let num = g.constant(if op == UnOp::Asin { 1.0 } else { -1.0 });
            g.div(num, r)
        }
        UnOp::Atan => {
            // 1/(1 + x^2)
            let sq = g.powf(x, 2.0);
            let one = g.constant(1.0);
            let d = g.add(one, sq);
            g.div(one, d)
        }
        UnOp::Sinh => g.call(UnOp::Cosh, x),
        UnOp::Cosh => g.call(UnOp::Sinh, x),
        UnOp::Tanh => {
            // 1 - tanh(x)^2
            let sq = g.powf(node, 2.0);
            let one = g.constant(1.0);
            g.sub(one, sq)
        }
        UnOp::Exp => node,
        UnOp::Ln => {
            let one = g.constant(1.0);
            g.div(one, x)
        }
        UnOp::Sqrt => {
            // 1/(2*sqrt(x)) = 0.5/sqrt(x)
            let half = g.constant(0.5);
            g.div(half, node)
        }
        UnOp::Abs => g.call(UnOp::Sign, x),
        UnOp::Sigmoid => {
            // sigmoid(x)*(1 - sigmoid(x))
            let one = g.constant(1.0);
            let c = g.sub(one, node);
            g.mul(node, c)
        }
        UnOp::Relu => g.call(UnOp::Step, x),
        UnOp::Softplus => g.call(UnOp::Sigmoid, x),
        UnOp::Sign | UnOp::Step => g.constant(0.0),
    }
}

/// The contributions `adj * d(node)/dx` and `adj * d(node)/dy` of a binary
/// node to its operands' adjoints (`None` when an operand is a constant).
fn binary_adjoints(
    g: &mut Graph,
    op: BinOp,
    x: NodeId,
    y: NodeId,
    node: NodeId,
    adj: NodeId,
) -> (Option<NodeId>, Option<NodeId>) {
    let want_x = g.meta(x).varies || g.meta(x).has_reduce;
    let want_y = g.meta(y).varies || g.meta(y).has_reduce;
    let mut dx = None;
    let mut dy = None;
    match op {
        BinOp::Add => {
            dx = Some(adj);
            dy = Some(adj);
        }
        BinOp::Sub => {
            dx = Some(adj);
            if want_y {
                dy = Some(g.neg(adj));
            }
        }
        BinOp::Mul => {
            if want_x {
                dx = Some(g.mul(adj, y));
            }
            if want_y {
                dy = Some(g.mul(adj, x));
            }
        }
        BinOp::Div => {
            if want_x {
                dx = Some(g.div(adj, y));
            }
            if want_y {
                // -adj * x / y^2, written with the quotient itself
                let q = g.mul(adj, node);
                let q = g.div(q, y);
                dy = Some(g.neg(q));
            }
        }
        BinOp::Pow => {
            if want_x {
                let local = if let Some(c) = g.as_const(y) {
                    // c * x^(c-1)
                    let p = g.powf(x, exponent_minus_one(c));
                    g.scale(c, p)
                } else {
                    // y * x^(y-1)
                    let one = g.constant(1.0);
                    let e = g.sub(y, one);
                    let p = g.pow(x, e);
                    g.mul(y, p)
                };
                dx = Some(g.mul(adj, local));
            }
            if want_y {
                // x^y * ln(x)
                let l = g.call(UnOp::Ln, x);
                let local = g.mul(node, l);
                dy = Some(g.mul(adj, local));
            }
        }
        BinOp::Max | BinOp::Min => {
            // max: step(x - y) dx + step(y - x) dy (each 1/2 at a tie);
            // min: the other way round.
            let (first, second) = if op == BinOp::Max { (x, y) } else { (y, x) };
            if want_x {
                let d = g.sub(first, second);
                let s = g.call(UnOp::Step, d);
                dx = Some(g.mul(adj, s));
            }
            if want_y {
                let d = g.sub(second, first);
                let s = g.call(UnOp::Step, d);
                dy = Some(g.mul(adj, s));
            }
        }
    }
    (dx.filter(|_| want_x), dy.filter(|_| want_y))
}
