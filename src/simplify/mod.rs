//! Simplification to a readable canonical form.
//!
//! Sums are flattened into `coefficient * term` lists with like terms
//! collected; products into `base ^ exponent` lists with like bases
//! collected; both are rebuilt as binary nodes in a canonical order, with
//! subtraction for negative coefficients and division for negative
//! exponents, so the simplified graph prints naturally and runs as printed.
//!
//! Small sums also try rewrites and keep the form with the fewest operations:
//! expanding products of sums (`(x+1)^2 - x^2` -> `2*x + 1`), pulling out
//! common factors (`exp(x) + x*exp(x)` -> `(x + 1)*exp(x)`), and combining
//! fractions over a common denominator (`1/(x+1) - x/(x+1)^2` ->
//! `1/(x+1)^2`).
//!
//! Cost: one bottom-up pass over the graph. Chains of single-use sums and
//! products are gathered in one go (no quadratic re-flattening of long
//! sums); shared subexpressions are simplified once and stay shared, except
//! that small shared sums (at most [`SMALL`] terms) are merged into the sums
//! that use them, which keeps textbook results readable without letting a
//! large gradient swell. The rewrites that compare alternatives only run on
//! expressions of at most [`SMALL_TREE`] operations.
//!
//! Identities applied beyond the smart constructors' (exact for real
//! arguments where both sides are defined): `sqrt(u^2) = abs(u)`,
//! `exp(ln(u)) = u`, `ln(exp(u)) = u`, `sin(u)^2 + cos(u)^2 = 1`,
//! `cosh(u)^2 - sinh(u)^2 = 1`, odd and even functions of `-u`,
//! `(u^a)^n = u^(a*n)` for integer `n`, `u^a * u^b = u^(a+b)`, `u/u = 1`.
//! Constant factors and factors that do not change from row to row are moved
//! out of `sum` and `mean`.
//!
//! The driver (this file) walks the graph bottom up and hands each sum,
//! product, call and reduction to its builder: `sums.rs` (`mk_sum`),
//! `products.rs` (`mk_prod`, powers), `calls.rs` (`mk_call`, `mk_reduce`);
//! `decompose.rs` reads simplified nodes back as terms and factors.

mod calls;
mod decompose;
mod products;
mod sums;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::graph::{BinOp, Graph, IndexOp, Node, NodeId, Sub, UnOp};

/// Sums of at most this many terms are merged into the sums that use them
/// even when shared.
pub(crate) const SMALL: usize = 4;

/// Expressions of at most this many operations get the rewrites that
/// compare alternatives.
pub(crate) const SMALL_TREE: u32 = 60;

/// Most terms a sum may be flattened or expanded into.
const MAX_FLATTEN: usize = 32;

/// Nodes [`Simplifier::factors_of`] visits before it stops descending
/// into shared products.
const FACTOR_WALK: usize = 64;

/// Deepest nesting of alternative rewrites.
const MAX_DEPTH: u32 = 3;

/// Simplifies every root; returns the simplified roots in order.
pub fn simplify(g: &mut Graph, roots: &[NodeId]) -> Vec<NodeId> {
    let (s, order) = Simplifier::new(g, roots);
    s.run(roots, order)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Sum,
    Product,
    Other,
}

fn shape(node: Node) -> Shape {
    match node {
        Node::Binary(BinOp::Add | BinOp::Sub, ..) | Node::Unary(UnOp::Neg, _) => Shape::Sum,
        Node::Binary(BinOp::Mul | BinOp::Div, ..) => Shape::Product,
        _ => Shape::Other,
    }
}

/// A term of a sum: `coef * node` (`node` is the constant 1 for a constant
/// term).
type Term = (f64, NodeId);
/// A factor of a product: `base ^ exponent`.
type Factor = (NodeId, Exp);

/// An exponent: a number, or an expression.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Exp {
    Num(f64),
    Node(NodeId),
}

fn is_integer(e: f64) -> bool {
    e.fract() == 0.0 && e.abs() < 1e15
}

struct Simplifier<'g> {
    g: &'g mut Graph,
    memo: HashMap<NodeId, NodeId>,
    uses: Vec<u32>,
    absorbed: Vec<bool>,
    /// Simplified nodes that stand for a shared original.
    shared: HashSet<NodeId>,
    one: NodeId,
    depth: u32,
}

impl<'g> Simplifier<'g> {
    fn new(g: &'g mut Graph, roots: &[NodeId]) -> (Self, Vec<NodeId>) {
        let order = g.topo_order(roots);
        let mut uses = vec![0u32; g.len()];
        for &id in &order {
            for k in g.node(id).children() {
                uses[k.index()] += 1;
            }
        }
        for r in roots {
            uses[r.index()] += 1;
        }
        let mut absorbed = vec![false; g.len()];
        for &id in &order {
            let parent = shape(g.node(id));
            if parent == Shape::Other {
                continue;
            }
            for k in g.node(id).children() {
                if uses[k.index()] == 1 && shape(g.node(k)) == parent {
                    absorbed[k.index()] = true;
                }
            }
        }
        for r in roots {
            absorbed[r.index()] = false;
        }
        let one = g.constant(1.0);
        let s = Simplifier {
            g,
            memo: HashMap::with_capacity_and_hasher(order.len(), Default::default()),
            uses,
            absorbed,
            shared: HashSet::default(),
            one,
            depth: 0,
        };
        (s, order)
    }

    fn run(mut self, roots: &[NodeId], order: Vec<NodeId>) -> Vec<NodeId> {
        for id in order {
            if self.absorbed[id.index()] {
                continue;
            }
            let out = self.simplify_node(id);
            if self.uses[id.index()] > 1 {
                self.shared.insert(out);
            }
            self.memo.insert(id, out);
        }
        roots.iter().map(|r| self.memo[r]).collect()
    }

    fn simplify_node(&mut self, id: NodeId) -> NodeId {
        let node = self.g.node(id);
        if let Node::Binary(BinOp::Sub, a, b) = node {
            if let Some(kept) = self.extreme_difference(a, b) {
                return kept;
            }
        }
        match shape(node) {
            Shape::Sum => {
                let terms = self.gather(id, Shape::Sum);
                self.mk_sum(terms)
            }
            Shape::Product => {
                let factors = self
                    .gather(id, Shape::Product)
                    .into_iter()
                    .map(|(e, n)| (n, Exp::Num(e)))
                    .collect();
                self.mk_prod(1.0, factors)
            }
            Shape::Other => match node {
                Node::Const(_) | Node::Sym(_) | Node::Elem(..) | Node::Delta(..) => id,
                Node::IndexReduce(op, i, a) => {
                    let a = self.memo[&a];
                    self.g.index_reduce(op, i, a)
                }
                Node::Unary(op, a) => {
                    let a = self.memo[&a];
                    self.mk_call(op, a)
                }
                Node::Binary(BinOp::Pow, a, b) => {
                    let (a, b) = (self.memo[&a], self.memo[&b]);
                    let e = match self.g.as_const(b) {
                        Some(k) => Exp::Num(k),
                        None => Exp::Node(b),
                    };
                    self.mk_prod(1.0, vec![(a, e)])
                }
                Node::Binary(op, a, b) => {
                    let (a, b) = (self.memo[&a], self.memo[&b]);
                    self.g.binary(op, a, b)
                }
                Node::Reduce(r, a) => {
                    let a = self.memo[&a];
                    self.mk_reduce(r, a)
                }
            },
        }
    }

    /// `e - max(k, e)` or `min(k, e) - e`: the tie test the derivative of
    /// a max or min over an index weights its elements by
    /// (`crate::differentiate`). Kept as one subtraction of the two
    /// simplified operands, so that it is exactly 0 at the extreme: merged
    /// into a sum with the terms of `e` and reordered, it rounds (to
    /// -1.1e-16, say), every weight is 0 and the derivative 0/0.
    fn extreme_difference(&mut self, a: NodeId, b: NodeId) -> Option<NodeId> {
        if !(self.extreme_of(b, a, IndexOp::Max) || self.extreme_of(a, b, IndexOp::Min)) {
            return None;
        }
        // an operand only used in sums is absorbed (not simplified alone)
        let simplified = |s: &mut Self, n: NodeId| match s.memo.get(&n) {
            Some(&x) => x,
            None => s.simplify_node(n),
        };
        let x = simplified(self, a);
        let y = simplified(self, b);
        Some(self.g.raw(Node::Binary(BinOp::Sub, x, y)))
    }

    /// Whether `r` is `want(m, body)` and `e` is its body with `m` named
    /// by the one index `e` has and `r` lacks (or `m` itself): `e` is one
    /// of the elements `r` reduces.
    fn extreme_of(&mut self, r: NodeId, e: NodeId, want: IndexOp) -> bool {
        let Node::IndexReduce(op, m, body) = self.g.node(r) else {
            return false;
        };
        if op != want {
            return false;
        }
        if body == e {
            return true;
        }
        let outer = self.g.free(r).to_vec();
        let extra: Vec<_> = self
            .g
            .free(e)
            .iter()
            .copied()
            .filter(|i| outer.binary_search(i).is_err())
            .collect();
        match extra[..] {
            [x] if self.g.extent(x) == self.g.extent(m) => {
                self.g.subst_indices(body, &[(m, Sub::Idx(x))]) == e
            }
            _ => false,
        }
    }

    /// The operands of a sum (`shape` is [`Shape::Sum`]) or a product
    /// ([`Shape::Product`]) in the original graph, through absorbed nodes:
    /// `(sign, operand)` for a sum's terms, `(exponent, operand)` for a
    /// product's factors, the sign or exponent flipped under `-` or `/`.
    fn gather(&mut self, id: NodeId, shape: Shape) -> Vec<(f64, NodeId)> {
        let mut out = Vec::new();
        let mut stack = vec![(1.0, id, true)];
        while let Some((c, n, top)) = stack.pop() {
            if top || self.absorbed[n.index()] {
                match (shape, self.g.node(n)) {
                    (Shape::Sum, Node::Binary(BinOp::Add, a, b))
                    | (Shape::Product, Node::Binary(BinOp::Mul, a, b)) => {
                        stack.push((c, b, false));
                        stack.push((c, a, false));
                        continue;
                    }
                    (Shape::Sum, Node::Binary(BinOp::Sub, a, b))
                    | (Shape::Product, Node::Binary(BinOp::Div, a, b)) => {
                        stack.push((-c, b, false));
                        stack.push((c, a, false));
                        continue;
                    }
                    (Shape::Sum, Node::Unary(UnOp::Neg, a)) => {
                        stack.push((-c, a, false));
                        continue;
                    }
                    _ => {}
                }
            }
            out.push((c, self.memo[&n]));
        }
        out
    }
}

/// Lists shorter than this are searched linearly; longer ones get a hash
/// index.
const LINEAR: usize = 16;

/// The position of the item whose key is `key`: a linear scan of short
/// lists, a hash index (built on first need) for long ones.
fn find_index<T>(
    index: &mut HashMap<NodeId, usize>,
    items: &[T],
    key: NodeId,
    key_of: impl Fn(&T) -> NodeId,
) -> Option<usize> {
    if items.len() < LINEAR {
        return items.iter().position(|t| key_of(t) == key);
    }
    if index.is_empty() {
        for (i, t) in items.iter().enumerate() {
            index.entry(key_of(t)).or_insert(i);
        }
    }
    index.get(&key).copied()
}
