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

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::graph::{BinOp, Graph, Node, NodeId, Reduction, UnOp};

/// Sums of at most this many terms are merged into the sums that use them
/// even when shared.
pub const SMALL: usize = 4;

/// Expressions of at most this many operations get the rewrites that
/// compare alternatives.
pub const SMALL_TREE: u32 = 60;

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

/// Simplifies one expression.
pub fn simplify_one(g: &mut Graph, root: NodeId) -> NodeId {
    simplify(g, &[root])[0]
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

/// What the rewrites of a small sum could act on (cheap prechecks).
#[derive(Clone, Copy, Default, Debug)]
struct Features {
    /// A squared sin, cos, sinh or cosh (Pythagorean identities).
    trig_square: bool,
    /// A sum raised to a small positive integer power (expansion).
    sum_power: bool,
    /// A factor common to every term, or one coefficient (factoring).
    common_factor: bool,
    /// A negative power (common denominator).
    denominator: bool,
}

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
        match shape(node) {
            Shape::Sum => {
                let terms = self.gather_terms(id);
                self.mk_sum(terms)
            }
            Shape::Product => {
                let factors = self.gather_factors(id);
                self.mk_prod(1.0, factors)
            }
            Shape::Other => match node {
                Node::Const(_) | Node::Sym(_) => id,
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

    /// The terms of a sum in the original graph, through absorbed nodes.
    fn gather_terms(&mut self, id: NodeId) -> Vec<Term> {
        let mut out = Vec::new();
        let mut stack = vec![(1.0, id, true)];
        while let Some((c, n, top)) = stack.pop() {
            if top || self.absorbed[n.index()] {
                match self.g.node(n) {
                    Node::Binary(BinOp::Add, a, b) => {
                        stack.push((c, b, false));
                        stack.push((c, a, false));
                        continue;
                    }
                    Node::Binary(BinOp::Sub, a, b) => {
                        stack.push((-c, b, false));
                        stack.push((c, a, false));
                        continue;
                    }
                    Node::Unary(UnOp::Neg, a) => {
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

    /// The factors of a product in the original graph, through absorbed
    /// nodes.
    fn gather_factors(&mut self, id: NodeId) -> Vec<Factor> {
        let mut out = Vec::new();
        let mut stack = vec![(1.0, id, true)];
        while let Some((e, n, top)) = stack.pop() {
            if top || self.absorbed[n.index()] {
                match self.g.node(n) {
                    Node::Binary(BinOp::Mul, a, b) => {
                        stack.push((e, b, false));
                        stack.push((e, a, false));
                        continue;
                    }
                    Node::Binary(BinOp::Div, a, b) => {
                        stack.push((-e, b, false));
                        stack.push((e, a, false));
                        continue;
                    }
                    _ => {}
                }
            }
            out.push((self.memo[&n], Exp::Num(e)));
        }
        out
    }

    // ---- decomposition of simplified nodes --------------------------------

    /// `node` as `coef * rest`, the numeric coefficient pulled out (`rest`
    /// is the constant 1 for a constant).
    fn split_coef(&mut self, node: NodeId) -> (f64, NodeId) {
        let mut coef = 1.0;
        let mut n = node;
        loop {
            match self.g.node(n) {
                Node::Unary(UnOp::Neg, a) => {
                    coef = -coef;
                    n = a;
                }
                Node::Binary(BinOp::Mul, a, b) if self.g.as_const(a).is_some() => {
                    coef *= self.g.as_const(a).unwrap_or(1.0);
                    n = b;
                }
                Node::Binary(BinOp::Div, a, b) if self.g.as_const(a).is_some() => {
                    // k / rest: keep the 1/rest, pull k
                    let k = self.g.as_const(a).unwrap_or(1.0);
                    if k == 1.0 {
                        break;
                    }
                    coef *= k;
                    n = self.g.raw(Node::Binary(BinOp::Div, self.one, b));
                    break;
                }
                Node::Binary(BinOp::Div, a, b) => {
                    // (c*x)/y: pull c out of the numerator
                    let (k, rest) = self.split_coef(a);
                    if k == 1.0 {
                        break;
                    }
                    coef *= k;
                    n = if rest == self.one {
                        self.g.raw(Node::Binary(BinOp::Div, self.one, b))
                    } else {
                        self.g.raw(Node::Binary(BinOp::Div, rest, b))
                    };
                    // a denominator k*y with a numeric k
                    break;
                }
                Node::Const(bits) => return (coef * f64::from_bits(bits), self.one),
                _ => break,
            }
        }
        // a numeric factor in the denominator: x/(2*y)
        if let Node::Binary(BinOp::Div, a, b) = self.g.node(n) {
            if let Node::Binary(BinOp::Mul, k, rest) = self.g.node(b) {
                if let Some(k) = self.g.as_const(k) {
                    if k != 0.0 {
                        coef /= k;
                        n = self.g.raw(Node::Binary(BinOp::Div, a, rest));
                    }
                }
            } else if let Some(k) = self.g.as_const(b) {
                if k != 0.0 {
                    coef /= k;
                    n = a;
                }
            }
        }
        (coef, n)
    }

    /// The terms of a simplified node seen as a sum, or `None` when it has
    /// more than `limit` terms.
    fn terms_of(&mut self, node: NodeId, limit: usize) -> Option<Vec<Term>> {
        let mut out = Vec::new();
        let mut stack = vec![(1.0, node)];
        while let Some((c, n)) = stack.pop() {
            match self.g.node(n) {
                Node::Binary(BinOp::Add, a, b) => {
                    stack.push((c, b));
                    stack.push((c, a));
                }
                Node::Binary(BinOp::Sub, a, b) => {
                    stack.push((-c, b));
                    stack.push((c, a));
                }
                Node::Unary(UnOp::Neg, a) => stack.push((-c, a)),
                _ => {
                    let (k, rest) = self.split_coef(n);
                    out.push((c * k, rest));
                    if out.len() > limit {
                        return None;
                    }
                }
            }
        }
        Some(out)
    }

    fn is_sum(&self, n: NodeId) -> bool {
        matches!(
            self.g.node(n),
            Node::Binary(BinOp::Add | BinOp::Sub, ..) | Node::Unary(UnOp::Neg, _)
        )
    }

    /// The factors of a simplified node seen as a product.
    ///
    /// Once the walk has visited [`FACTOR_WALK`] nodes, a shared product
    /// below `node` stays one factor (as [`Self::mk_prod`] keeps it),
    /// unless it is a coefficient times a single factor: so a chain of
    /// products that each use the previous one (the derivative of
    /// `x^x^x^...`) is not flattened again at every link, which made
    /// simplification quadratic in the chain's length.
    fn factors_of(&mut self, node: NodeId) -> (f64, Vec<Factor>) {
        self.factors_of_with(node, false)
    }

    /// [`Self::factors_of`] that keeps shared products (other than `node`
    /// itself) whole, so that they stay shared.
    fn factors_keeping_shared(&mut self, node: NodeId) -> (f64, Vec<Factor>) {
        self.factors_of_with(node, true)
    }

    fn factors_of_with(&mut self, node: NodeId, keep_shared: bool) -> (f64, Vec<Factor>) {
        let mut coef = 1.0;
        let mut out = Vec::with_capacity(4);
        let mut stack = Vec::with_capacity(8);
        stack.push((node, 1.0));
        let mut steps = 0usize;
        while let Some((n, e)) = stack.pop() {
            let int = is_integer(e);
            steps += 1;
            if keep_shared && n != node && self.shared.contains(&n) {
                out.push((n, Exp::Num(e)));
                continue;
            }
            if steps > FACTOR_WALK
                && n != node
                && int
                && self.shared.contains(&n)
                && self.is_product(n)
            {
                match self.single_factor(n) {
                    Some((k, b, eb)) => {
                        coef *= crate::graph::ops::pow(k, e);
                        stack.push((b, eb * e));
                    }
                    None => out.push((n, Exp::Num(e))),
                }
                continue;
            }
            match self.g.node(n) {
                Node::Const(bits) => coef *= crate::graph::ops::pow(f64::from_bits(bits), e),
                Node::Unary(UnOp::Neg, a) if int => {
                    if e % 2.0 != 0.0 {
                        coef = -coef;
                    }
                    stack.push((a, e));
                }
                Node::Binary(BinOp::Mul, a, b) if int => {
                    stack.push((b, e));
                    stack.push((a, e));
                }
                Node::Binary(BinOp::Div, a, b) if int => {
                    stack.push((b, -e));
                    stack.push((a, e));
                }
                Node::Binary(BinOp::Pow, b, k) if int => match self.g.as_const(k) {
                    Some(k) => stack.push((b, k * e)),
                    None if e == 1.0 => out.push((b, Exp::Node(k))),
                    None => out.push((n, Exp::Num(e))),
                },
                Node::Unary(UnOp::Sqrt, b) if int => stack.push((b, 0.5 * e)),
                _ => out.push((n, Exp::Num(e))),
            }
        }
        (coef, out)
    }

    fn is_product(&self, n: NodeId) -> bool {
        matches!(
            self.g.node(n),
            Node::Binary(BinOp::Mul | BinOp::Div, ..) | Node::Unary(UnOp::Neg, _)
        )
    }

    /// `n` as `k * b^e` when it is a numeric coefficient times one factor
    /// (`2*x`, `-x`, `x/3`), looking a few levels deep only.
    fn single_factor(&self, n: NodeId) -> Option<(f64, NodeId, f64)> {
        let mut k = 1.0;
        let mut cur = n;
        let mut e = 1.0;
        for _ in 0..4 {
            match self.g.node(cur) {
                Node::Unary(UnOp::Neg, a) => {
                    k = -k;
                    cur = a;
                }
                Node::Binary(BinOp::Mul, a, b) => match (self.g.as_const(a), self.g.as_const(b)) {
                    (Some(c), None) => {
                        k *= c;
                        cur = b;
                    }
                    (None, Some(c)) => {
                        k *= c;
                        cur = a;
                    }
                    _ => return None,
                },
                Node::Binary(BinOp::Div, a, b) => match (self.g.as_const(a), self.g.as_const(b)) {
                    (None, Some(c)) => {
                        k /= c;
                        cur = a;
                    }
                    (Some(c), None) => {
                        k *= c;
                        e = -e;
                        cur = b;
                    }
                    _ => return None,
                },
                _ => return Some((k, cur, e)),
            }
            if e < 0.0 && self.is_product(cur) {
                return None;
            }
        }
        None
    }

    // ---- sums ---------------------------------------------------------------

    /// Flattens, distributes numeric coefficients into small sums, and
    /// collects like terms, in first-seen order.
    fn collect_terms(&mut self, terms: Vec<Term>) -> Vec<Term> {
        let mut index: HashMap<NodeId, usize> = HashMap::default();
        let mut out: Vec<Term> = Vec::new();
        let mut work: Vec<Term> = terms.into_iter().rev().collect();
        while let Some((c, n)) = work.pop() {
            if c == 0.0 {
                continue;
            }
            let (k, rest) = self.split_coef(n);
            let c = c * k;
            if self.is_sum(rest) {
                let limit = if self.shared.contains(&rest) {
                    SMALL
                } else {
                    MAX_FLATTEN
                };
                if let Some(inner) = self.terms_of(rest, limit) {
                    for (ci, ni) in inner.into_iter().rev() {
                        work.push((c * ci, ni));
                    }
                    continue;
                }
            }
            match find_index(&mut index, &out, rest, |t| t.1) {
                Some(i) => out[i].0 += c,
                None => {
                    if !index.is_empty() || out.len() >= LINEAR {
                        index.insert(rest, out.len());
                    }
                    out.push((c, rest));
                }
            }
        }
        out.retain(|(c, _)| *c != 0.0);
        out
    }

    fn mk_sum(&mut self, terms: Vec<Term>) -> NodeId {
        let mut terms = self.collect_terms(terms);
        let mut features = if terms.len() <= 16 {
            self.features(&terms)
        } else {
            Features::default()
        };
        if features.trig_square {
            self.pythagoras(&mut terms);
            features = self.features(&terms);
        }
        let plain = self.build_sum(&terms);
        if terms.len() < 2 || self.depth >= MAX_DEPTH || self.g.meta(plain).size > SMALL_TREE {
            return plain;
        }
        self.depth += 1;
        let mut best = plain;
        let mut best_size = self.g.meta(plain).size;
        let mut consider = |s: &mut Self, cand: Option<NodeId>| {
            if let Some(c) = cand {
                let size = s.g.meta(c).size;
                if size < best_size {
                    best = c;
                    best_size = size;
                }
            }
        };
        if features.sum_power {
            let expanded = self.expand_terms(&terms);
            let expanded_sum = expanded.as_ref().map(|t| {
                let mut t = self.collect_terms(t.clone());
                if t.len() <= 16 && self.features(&t).trig_square {
                    self.pythagoras(&mut t);
                }
                self.build_sum(&t)
            });
            consider(self, expanded_sum);
        }
        if features.common_factor {
            let factored = self.factor_out(&terms);
            consider(self, factored);
        }
        if features.denominator {
            let together = self.together(&terms);
            consider(self, together);
        }
        self.depth -= 1;
        best
    }

    /// What the rewrites of a small sum could act on.
    fn features(&mut self, terms: &[Term]) -> Features {
        let mut f = Features::default();
        let mut common: Option<Vec<NodeId>> = None;
        let c0 = terms.first().map_or(1.0, |t| t.0.abs());
        let mut same_coef = c0 != 1.0;
        for &(c, t) in terms {
            same_coef &= c.abs() == c0;
            let bases: Vec<Factor> = if t == self.one {
                Vec::new()
            } else {
                self.factors_of(t).1
            };
            for &(b, e) in &bases {
                match e {
                    Exp::Num(n) if n < 0.0 => f.denominator = true,
                    Exp::Num(2.0) => {
                        if matches!(
                            self.g.node(b),
                            Node::Unary(UnOp::Sin | UnOp::Cos | UnOp::Sinh | UnOp::Cosh, _)
                        ) {
                            f.trig_square = true;
                        }
                    }
                    _ => {}
                }
                if matches!(e, Exp::Num(n) if is_integer(n) && (1.0..=4.0).contains(&n))
                    && self.is_sum(b)
                {
                    f.sum_power = true;
                }
            }
            common = Some(match common {
                None => bases.iter().map(|f| f.0).collect(),
                Some(prev) => prev
                    .into_iter()
                    .filter(|b| bases.iter().any(|f| f.0 == *b))
                    .collect(),
            });
        }
        f.common_factor = same_coef || common.is_some_and(|c| !c.is_empty());
        f
    }

    /// Builds a collected sum in canonical order: terms by the graph's order,
    /// the constant last, a positive term first, subtraction for negative
    /// coefficients.
    fn build_sum(&mut self, terms: &[Term]) -> NodeId {
        let mut terms: Vec<Term> = terms.to_vec();
        let one = self.one;
        let g = &*self.g;
        terms.sort_by(|a, b| match (a.1 == one, b.1 == one) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => g.order(a.1, b.1),
        });
        if let Some(p) = terms.iter().position(|t| t.0 > 0.0) {
            let first = terms.remove(p);
            terms.insert(0, first);
        }
        let mut acc: Option<NodeId> = None;
        for (c, t) in terms {
            let mag = if t == one {
                self.g.constant(c.abs())
            } else {
                self.scaled(c.abs(), t)
            };
            acc = Some(match acc {
                None if c < 0.0 => {
                    if t == one {
                        self.g.constant(c)
                    } else {
                        self.scaled(c, t)
                    }
                }
                None => mag,
                Some(a) if c < 0.0 => self.g.raw(Node::Binary(BinOp::Sub, a, mag)),
                Some(a) => self.g.raw(Node::Binary(BinOp::Add, a, mag)),
            });
        }
        acc.unwrap_or_else(|| self.g.constant(0.0))
    }

    /// `c * t` for a canonical term `t`.
    fn scaled(&mut self, c: f64, t: NodeId) -> NodeId {
        if c == 1.0 {
            return t;
        }
        // `t` is canonical already: only the coefficient changes (unless
        // its factors repeat a base, as in x*(1/x)^2, which need collecting)
        let (k, factors) = self.factors_of(t);
        let repeats = factors
            .iter()
            .enumerate()
            .any(|(i, a)| factors[..i].iter().any(|b| b.0 == a.0));
        if repeats {
            self.mk_prod(c * k, factors)
        } else {
            self.build_prod(c * k, factors)
        }
    }

    /// `sin(u)^2 + cos(u)^2 = 1`, `cosh(u)^2 - sinh(u)^2 = 1`, and
    /// `c - c*sin(u)^2 = c*cos(u)^2` (and the same with sin and cos swapped).
    fn pythagoras(&mut self, terms: &mut Vec<Term>) {
        let mut i = 0;
        while i < terms.len() {
            let (ci, ti) = terms[i];
            let (ki, fi) = self.factors_of(ti);
            let mut replaced = false;
            for (fpos, &(base, e)) in fi.iter().enumerate() {
                if e != Exp::Num(2.0) {
                    continue;
                }
                let (op, arg) = match self.g.node(base) {
                    Node::Unary(op @ (UnOp::Sin | UnOp::Cos | UnOp::Sinh | UnOp::Cosh), a) => {
                        (op, a)
                    }
                    _ => continue,
                };
                let (partner, sign) = match op {
                    UnOp::Sin => (UnOp::Cos, 1.0),
                    UnOp::Cos => (UnOp::Sin, 1.0),
                    UnOp::Cosh => (UnOp::Sinh, -1.0),
                    _ => (UnOp::Cosh, -1.0),
                };
                let pbase = self.g.raw(Node::Unary(partner, arg));
                let mut pf = fi.clone();
                pf[fpos] = (pbase, Exp::Num(2.0));
                let partner_term = self.mk_prod(ki, pf);
                let (pk, prest) = self.split_coef(partner_term);
                let mut rest_f = fi.clone();
                rest_f.remove(fpos);
                let rest = self.mk_prod(ki, rest_f);
                let (rk, rrest) = self.split_coef(rest);
                let want = ci * sign * pk;
                // c*cos(u)^2*R - c*sin(u)^2*R = c*cos(2u)*R
                if matches!(op, UnOp::Sin | UnOp::Cos) {
                    let anti = -ci * pk;
                    if let Some(j) = terms.iter().position(|&(cj, tj)| {
                        tj == prest && (cj - anti).abs() <= 1e-15 * anti.abs()
                    }) {
                        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                        terms.remove(hi);
                        terms.remove(lo);
                        let two_u = self.scaled(2.0, arg);
                        let c2 = self.mk_call(UnOp::Cos, two_u);
                        let mut f = fi.clone();
                        f[fpos] = (c2, Exp::Num(1.0));
                        let t = self.mk_prod(ki, f);
                        let (tk, trest) = self.split_coef(t);
                        let sign = if op == UnOp::Cos { 1.0 } else { -1.0 };
                        terms.push((sign * ci * tk, trest));
                        replaced = true;
                        break;
                    }
                }
                if let Some(j) = terms
                    .iter()
                    .position(|&(cj, tj)| tj == prest && (cj - want).abs() <= 1e-15 * want.abs())
                {
                    // c*sin^2*R + c*cos^2*R = c*R
                    let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                    terms.remove(hi);
                    terms.remove(lo);
                    let coef = if op == UnOp::Sinh { -ci } else { ci };
                    terms.push((coef * rk, rrest));
                    replaced = true;
                    break;
                }
                // c - c*sin(u)^2 = c*cos(u)^2 (trig only)
                if matches!(op, UnOp::Sin | UnOp::Cos) && rrest == self.one {
                    let cterm = ci * rk;
                    if let Some(j) = terms
                        .iter()
                        .position(|&(cj, tj)| tj == self.one && cj == -cterm)
                    {
                        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                        terms.remove(hi);
                        terms.remove(lo);
                        terms.push((-ci * pk, prest));
                        replaced = true;
                        break;
                    }
                }
            }
            if replaced {
                let merged = self.collect_terms(std::mem::take(terms));
                *terms = merged;
                i = 0;
            } else {
                i += 1;
            }
        }
    }

    /// Expands products of small sums in each term, if any.
    fn expand_terms(&mut self, terms: &[Term]) -> Option<Vec<Term>> {
        let mut changed = false;
        let mut out: Vec<Term> = Vec::new();
        for &(c, t) in terms {
            match self.expand_product(t) {
                Some(list) => {
                    changed = true;
                    out.extend(list.into_iter().map(|(k, n)| (c * k, n)));
                }
                None => out.push((c, t)),
            }
            if out.len() > MAX_FLATTEN {
                return None;
            }
        }
        changed.then_some(out)
    }

    /// `t` as a sum of products when it is a product with sum factors raised
    /// to small positive integer powers.
    fn expand_product(&mut self, t: NodeId) -> Option<Vec<Term>> {
        let (k, factors) = self.factors_of(t);
        let mut acc: Vec<(f64, Vec<Factor>)> = vec![(k, Vec::new())];
        let mut expanded_any = false;
        for (base, e) in factors {
            let n = match e {
                Exp::Num(n) if is_integer(n) && (1.0..=4.0).contains(&n) && self.is_sum(base) => {
                    n as usize
                }
                _ => {
                    for a in acc.iter_mut() {
                        a.1.push((base, e));
                    }
                    continue;
                }
            };
            let inner = self.terms_of(base, 8)?;
            expanded_any = true;
            for _ in 0..n {
                let mut next = Vec::new();
                for (ca, fa) in &acc {
                    for &(ci, ti) in &inner {
                        let mut f = fa.clone();
                        if ti != self.one {
                            f.push((ti, Exp::Num(1.0)));
                        }
                        next.push((ca * ci, f));
                    }
                }
                if next.len() > MAX_FLATTEN {
                    return None;
                }
                acc = next;
            }
        }
        if !expanded_any {
            return None;
        }
        Some(
            acc.into_iter()
                .map(|(c, f)| {
                    let p = self.mk_prod(c, f);
                    self.split_coef(p)
                })
                .collect(),
        )
    }

    /// Pulls the factors common to every term out of the sum.
    fn factor_out(&mut self, terms: &[Term]) -> Option<NodeId> {
        let decomposed: Vec<(f64, Vec<Factor>)> = terms
            .iter()
            .map(|&(c, t)| {
                let (k, f) = if t == self.one {
                    (1.0, Vec::new())
                } else {
                    self.factors_of(t)
                };
                (c * k, f)
            })
            .collect();
        // bases with numeric exponents of one sign in every term: the
        // smallest power in magnitude is common
        let mut common: Vec<Factor> = Vec::new();
        'bases: for &(base, e) in &decomposed[0].1 {
            match e {
                Exp::Num(e0) => {
                    let mut m = e0;
                    for (_, fs) in &decomposed[1..] {
                        let Some(&(_, Exp::Num(ej))) = fs
                            .iter()
                            .find(|(b, e)| *b == base && matches!(e, Exp::Num(_)))
                        else {
                            continue 'bases;
                        };
                        if ej.signum() != e0.signum() {
                            continue 'bases;
                        }
                        m = if e0 > 0.0 { m.min(ej) } else { m.max(ej) };
                    }
                    common.push((base, Exp::Num(m)));
                }
                Exp::Node(_) => {
                    if decomposed[1..]
                        .iter()
                        .all(|(_, fs)| fs.contains(&(base, e)))
                    {
                        common.push((base, e));
                    }
                }
            }
        }
        let c0 = decomposed[0].0.abs();
        let same_coef = c0 != 1.0 && decomposed.iter().all(|(c, _)| c.abs() == c0);
        if common.is_empty() && !same_coef {
            return None;
        }
        let pull = if same_coef { c0 } else { 1.0 };
        let mut rest_terms = Vec::new();
        for (c, fs) in decomposed {
            let mut fs = fs;
            for &(base, m) in &common {
                let same_kind = |e: &Exp| match m {
                    Exp::Num(_) => matches!(e, Exp::Num(_)),
                    Exp::Node(_) => *e == m,
                };
                let Some(pos) = fs.iter().position(|(b, e)| *b == base && same_kind(e)) else {
                    continue;
                };
                match (fs[pos].1, m) {
                    (Exp::Num(e), Exp::Num(m)) => fs[pos].1 = Exp::Num(e - m),
                    _ => {
                        fs.remove(pos);
                    }
                }
            }
            let t = self.mk_prod(1.0, fs);
            rest_terms.push((c / pull, t));
        }
        let rest = self.mk_sum(rest_terms);
        let mut factors = common;
        factors.push((rest, Exp::Num(1.0)));
        Some(self.mk_prod(pull, factors))
    }

    /// Combines the terms over a common denominator.
    fn together(&mut self, terms: &[Term]) -> Option<NodeId> {
        let mut denominator: Vec<(NodeId, f64)> = Vec::new();
        let mut decomposed = Vec::new();
        for &(c, t) in terms {
            let (k, f) = if t == self.one {
                (1.0, Vec::new())
            } else {
                self.factors_of(t)
            };
            for &(base, e) in &f {
                if let Exp::Num(e) = e {
                    if e < 0.0 {
                        match denominator.iter_mut().find(|(b, _)| *b == base) {
                            Some(d) => d.1 = d.1.max(-e),
                            None => denominator.push((base, -e)),
                        }
                    }
                }
            }
            decomposed.push((c * k, f));
        }
        if denominator.is_empty() {
            return None;
        }
        let mut numerator = Vec::new();
        for (c, mut f) in decomposed {
            for &(base, d) in &denominator {
                match f
                    .iter_mut()
                    .find(|(b, e)| *b == base && matches!(e, Exp::Num(_)))
                {
                    Some(x) => {
                        if let Exp::Num(e) = x.1 {
                            x.1 = Exp::Num(e + d);
                        }
                    }
                    // absent, or with a symbolic exponent: mk_prod merges
                    None => f.push((base, Exp::Num(d))),
                }
            }
            let t = self.mk_prod(1.0, f);
            numerator.push((c, t));
        }
        let plain = self.mk_sum(numerator.clone());
        let num = match self.expand_terms(&numerator) {
            Some(ex) => {
                let ex = self.collect_terms(ex);
                let ex = self.build_sum(&ex);
                if self.g.meta(ex).size < self.g.meta(plain).size {
                    ex
                } else {
                    plain
                }
            }
            None => plain,
        };
        let mut factors = vec![(num, Exp::Num(1.0))];
        factors.extend(denominator.into_iter().map(|(b, d)| (b, Exp::Num(-d))));
        Some(self.mk_prod(1.0, factors))
    }

    // ---- products -----------------------------------------------------------

    fn mk_prod(&mut self, coef: f64, factors: Vec<Factor>) -> NodeId {
        let mut coef = coef;
        let mut index: HashMap<NodeId, usize> = HashMap::default();
        let mut out: Vec<Factor> = Vec::new();
        let mut work: Vec<Factor> = factors.into_iter().rev().collect();
        while let Some((base, e)) = work.pop() {
            if e == Exp::Num(0.0) {
                continue;
            }
            if let Exp::Num(n) = e {
                if let Some(k) = self.g.as_const(base) {
                    coef *= crate::graph::ops::pow(k, n);
                    continue;
                }
                if is_integer(n) {
                    // a product or power raised to an integer power
                    let (k, inner) = self.factors_keeping_shared(base);
                    // shared products stay shared, unless they are just a
                    // coefficient times one factor
                    let atomic = (inner.len() == 1 && inner[0] == (base, Exp::Num(1.0)))
                        || (self.shared.contains(&base) && inner.len() > 1);
                    if !atomic {
                        coef *= crate::graph::ops::pow(k, n);
                        for (b, ei) in inner.into_iter().rev() {
                            let ne = match ei {
                                Exp::Num(x) => Exp::Num(x * n),
                                Exp::Node(x) if n == 1.0 => Exp::Node(x),
                                Exp::Node(x) => {
                                    let s = self.scaled(n, x);
                                    Exp::Node(s)
                                }
                            };
                            work.push((b, ne));
                        }
                        continue;
                    }
                }
            }
            match find_index(&mut index, &out, base, |f| f.0) {
                Some(i) => {
                    let merged = match (out[i].1, e) {
                        (Exp::Num(a), Exp::Num(b)) => Exp::Num(exact_add(a, b)),
                        (a, b) => {
                            let a = self.exp_node(a);
                            let b = self.exp_node(b);
                            let s = self.mk_sum(vec![(1.0, a), (1.0, b)]);
                            match self.g.as_const(s) {
                                Some(k) => Exp::Num(k),
                                None => Exp::Node(s),
                            }
                        }
                    };
                    out[i].1 = merged;
                }
                None => {
                    if !index.is_empty() || out.len() >= LINEAR {
                        index.insert(base, out.len());
                    }
                    out.push((base, e));
                }
            }
        }
        out.retain(|(_, e)| *e != Exp::Num(0.0));
        if coef == 0.0 {
            return self.g.constant(0.0);
        }
        if out.len() <= 8 && self.depth < MAX_DEPTH && self.rewrite_factors(&mut coef, &mut out) {
            self.depth += 1;
            let r = self.mk_prod(coef, out);
            self.depth -= 1;
            return r;
        }
        let plain = self.build_prod(coef, out.clone());
        if self.depth >= MAX_DEPTH || self.g.meta(plain).size > SMALL_TREE {
            return plain;
        }
        let mut best = plain;
        // a sum factor with fractions in it, combined over its denominator,
        // may cancel against the other factors
        for i in 0..out.len() {
            let (base, e) = out[i];
            if !matches!(e, Exp::Num(n) if is_integer(n)) || !self.is_sum(base) {
                continue;
            }
            let Some(terms) = self.terms_of(base, 16) else {
                continue;
            };
            let has_fraction = terms.iter().any(|&(_, t)| {
                matches!(
                    self.g.node(t),
                    Node::Binary(BinOp::Div | BinOp::Mul | BinOp::Pow, ..)
                ) && self
                    .factors_of(t)
                    .1
                    .iter()
                    .any(|f| matches!(f.1, Exp::Num(e) if e < 0.0))
            });
            if !has_fraction {
                continue;
            }
            self.depth += 1;
            let together = self.together(&terms);
            if let Some(t) = together {
                let mut alt = out.clone();
                alt[i] = (t, e);
                let cand = self.mk_prod(coef, alt);
                if self.g.meta(cand).size < self.g.meta(best).size {
                    best = cand;
                }
            }
            self.depth -= 1;
        }
        best
    }

    /// `exp(-u)^a / (exp(-u) + c)^b = exp(u)^(b-a) / (1 + c*exp(u))^b`: the
    /// form without the negated argument. `Some(true)` when applied.
    fn flip_exp(&mut self, i: usize, _coef: &mut f64, out: &mut [Factor]) -> Option<bool> {
        let (base, Exp::Num(a)) = out[i] else {
            return None;
        };
        let Node::Unary(UnOp::Exp, v) = self.g.node(base) else {
            return None;
        };
        // the argument with its sign flipped, when every term is negative
        let terms_v = self.terms_of(v, 8)?;
        if terms_v.iter().any(|(c, _)| *c >= 0.0) {
            return None;
        }
        for j in 0..out.len() {
            let (s, Exp::Num(nb)) = out[j] else { continue };
            if j == i || nb >= 0.0 || !is_integer(nb) || !self.is_sum(s) {
                continue;
            }
            let Some(terms) = self.terms_of(s, 2) else {
                continue;
            };
            let c = match terms.as_slice() {
                [(1.0, t), (c, one)] | [(c, one), (1.0, t)] if *t == base && *one == self.one => *c,
                _ => continue,
            };
            let b = -nb;
            let pos = self.mk_sum(terms_v.iter().map(|&(c, t)| (-c, t)).collect());
            let e_pos = self.mk_call(UnOp::Exp, pos);
            let flipped = self.mk_sum(vec![(1.0, self.one), (c, e_pos)]);
            out[i] = (e_pos, Exp::Num(b - a));
            out[j] = (flipped, Exp::Num(-b));
            return Some(true);
        }
        None
    }

    /// Exact rewrites between factors of one product; true when one applied.
    /// `sign(u)/abs(u) = 1/u`, `sign(u)*abs(u) = u`, `sin(u)/cos(u) =
    /// tan(u)`, `c*sin(u)*cos(u) = (c/2)*sin(2*u)`, `exp(a)^p*exp(b)^q =
    /// exp(p*a + q*b)`.
    fn rewrite_factors(&mut self, coef: &mut f64, out: &mut Vec<Factor>) -> bool {
        let find = |g: &Graph, out: &[Factor], op: UnOp, arg: NodeId| {
            out.iter()
                .position(|&(b, _)| g.node(b) == Node::Unary(op, arg))
        };
        for i in 0..out.len() {
            let (base, e) = out[i];
            let Exp::Num(n) = e else { continue };
            let Node::Unary(op, u) = self.g.node(base) else {
                continue;
            };
            match op {
                UnOp::Sign if n == 1.0 => {
                    if let Some(j) = find(self.g, out, UnOp::Abs, u) {
                        if let Exp::Num(m) = out[j].1 {
                            if m == 1.0 || m == -1.0 {
                                out[i] = (u, Exp::Num(m));
                                out.remove(j);
                                return true;
                            }
                        }
                    }
                }
                UnOp::Sin => {
                    if let Some(j) = find(self.g, out, UnOp::Cos, u) {
                        if out[j].1 == Exp::Num(-n) {
                            let t = self.g.raw(Node::Unary(UnOp::Tan, u));
                            out[i] = (t, Exp::Num(n));
                            out.remove(j);
                            return true;
                        }
                        if n == 1.0 && out[j].1 == Exp::Num(1.0) && coef.abs() != 1.0 {
                            let two_u = self.scaled(2.0, u);
                            let s = self.mk_call(UnOp::Sin, two_u);
                            out[i] = (s, Exp::Num(1.0));
                            out.remove(j);
                            *coef *= 0.5;
                            return true;
                        }
                    }
                }
                UnOp::Exp if n > 0.0 => {
                    if let Some(done) = self.flip_exp(i, coef, out.as_mut_slice()) {
                        return done;
                    }
                    let others: Vec<usize> = (0..out.len())
                        .filter(|&j| {
                            j != i
                                && matches!(self.g.node(out[j].0), Node::Unary(UnOp::Exp, _))
                                && matches!(out[j].1, Exp::Num(_))
                        })
                        .collect();
                    if others.is_empty() {
                        continue;
                    }
                    let mut terms = vec![(n, u)];
                    for &j in &others {
                        if let (Node::Unary(UnOp::Exp, a), Exp::Num(m)) =
                            (self.g.node(out[j].0), out[j].1)
                        {
                            terms.push((m, a));
                        }
                    }
                    let arg = self.mk_sum(terms);
                    let merged = self.mk_call(UnOp::Exp, arg);
                    out[i] = (merged, Exp::Num(1.0));
                    for j in others.into_iter().rev() {
                        out.remove(j);
                    }
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    fn exp_node(&mut self, e: Exp) -> NodeId {
        match e {
            Exp::Num(n) => self.g.constant(n),
            Exp::Node(n) => n,
        }
    }

    /// Builds a collected product: coefficient first, factors in the graph's
    /// order, negative powers as a denominator.
    fn build_prod(&mut self, coef: f64, mut factors: Vec<Factor>) -> NodeId {
        let g = &*self.g;
        factors.sort_by(|a, b| g.order(a.0, b.0));
        let mut num: Vec<NodeId> = Vec::new();
        let mut den: Vec<NodeId> = Vec::new();
        for (base, e) in factors {
            match e {
                Exp::Num(n) if n < 0.0 => {
                    let p = self.mk_pow(base, Exp::Num(-n));
                    den.push(p);
                }
                _ => {
                    let p = self.mk_pow(base, e);
                    num.push(p);
                }
            }
        }
        let magnitude = coef.abs();
        let mut negate = coef < 0.0;
        match small_reciprocal(magnitude) {
            // x/2 rather than 0.5*x; but 0.5/y rather than 1/(2*y)
            Some(k) if !num.is_empty() && den.is_empty() => {
                let k = self.g.constant(k);
                den.push(k);
            }
            _ if magnitude != 1.0 => {
                let c = if negate {
                    negate = false;
                    coef
                } else {
                    magnitude
                };
                let c = self.g.constant(c);
                num.insert(0, c);
            }
            _ => {}
        }
        let numerator = self.chain(&num);
        let result = if den.is_empty() {
            numerator.unwrap_or(self.one)
        } else {
            let n = numerator.unwrap_or(self.one);
            let d = self.chain(&den).unwrap_or(self.one);
            self.g.raw(Node::Binary(BinOp::Div, n, d))
        };
        if negate {
            match self.g.as_const(result) {
                Some(v) => self.g.constant(-v),
                None => self.g.raw(Node::Unary(UnOp::Neg, result)),
            }
        } else {
            result
        }
    }

    /// The product of `items`, left to right, with a leading constant kept
    /// outermost (`c*(a*b)`), where [`Self::split_coef`] finds it.
    fn chain(&mut self, items: &[NodeId]) -> Option<NodeId> {
        let (&first, rest) = items.split_first()?;
        if self.g.as_const(first).is_some() && !rest.is_empty() {
            let tail = self.chain(rest)?;
            return Some(self.g.raw(Node::Binary(BinOp::Mul, first, tail)));
        }
        let mut acc = first;
        for &x in rest {
            acc = self.g.raw(Node::Binary(BinOp::Mul, acc, x));
        }
        Some(acc)
    }

    /// `base ^ e` with `e` positive (or symbolic).
    fn mk_pow(&mut self, base: NodeId, e: Exp) -> NodeId {
        match e {
            Exp::Num(1.0) => base,
            Exp::Num(0.5) => self.mk_call(UnOp::Sqrt, base),
            Exp::Num(n) => {
                let k = self.g.constant(n);
                self.g.raw(Node::Binary(BinOp::Pow, base, k))
            }
            Exp::Node(k) => self.g.binary(BinOp::Pow, base, k),
        }
    }

    // ---- functions and reductions ------------------------------------------

    fn mk_call(&mut self, op: UnOp, a: NodeId) -> NodeId {
        if let Some(x) = self.g.as_const(a) {
            return self.g.constant(op.eval(x));
        }
        if op == UnOp::Neg {
            return self.mk_sum(vec![(-1.0, a)]);
        }
        let inner = self.g.node(a);
        match (op, inner) {
            (UnOp::Exp, Node::Unary(UnOp::Ln, u)) | (UnOp::Ln, Node::Unary(UnOp::Exp, u)) => {
                return u
            }
            (UnOp::Sqrt, Node::Binary(BinOp::Pow, u, k)) if self.g.is_const(k, 2.0) => {
                return self.mk_call(UnOp::Abs, u);
            }
            (UnOp::Abs, Node::Unary(UnOp::Abs | UnOp::Exp | UnOp::Sqrt, _)) => return a,
            (UnOp::Abs, Node::Binary(BinOp::Pow, _, k)) if self.g.is_const(k, 2.0) => return a,
            _ => {}
        }
        // odd and even functions of a negated argument
        let (c, rest) = self.split_coef(a);
        if c < 0.0 {
            let odd = matches!(
                op,
                UnOp::Sin | UnOp::Tan | UnOp::Asin | UnOp::Atan | UnOp::Sinh | UnOp::Tanh
            );
            let even = matches!(op, UnOp::Cos | UnOp::Cosh | UnOp::Abs);
            if odd || even {
                let pos = self.scaled(-c, rest);
                let f = self.g.raw(Node::Unary(op, pos));
                return if odd {
                    self.g.raw(Node::Unary(UnOp::Neg, f))
                } else {
                    f
                };
            }
        }
        self.g.raw(Node::Unary(op, a))
    }

    fn mk_reduce(&mut self, r: Reduction, a: NodeId) -> NodeId {
        if self.shared.contains(&a) && self.g.meta(a).per_row {
            // computed per row anyway: reduce it as it is, but for a
            // numeric coefficient (one multiplication instead of one a row)
            let (k, rest) = self.split_coef(a);
            let red = self.g.reduce(r, rest);
            return self.mk_prod(k, vec![(red, Exp::Num(1.0))]);
        }
        let (coef, factors) = self.factors_keeping_shared(a);
        let (inside, outside): (Vec<Factor>, Vec<Factor>) =
            factors.into_iter().partition(|&(b, e)| {
                self.g.meta(b).per_row || matches!(e, Exp::Node(n) if self.g.meta(n).per_row)
            });
        if inside.is_empty() {
            // nothing varies by row: mean(a) = a, sum(a) = a*sum(1)
            return match r {
                Reduction::Mean => a,
                Reduction::Sum => {
                    let n = self.g.reduce(Reduction::Sum, self.one);
                    self.mk_prod(1.0, vec![(a, Exp::Num(1.0)), (n, Exp::Num(1.0))])
                }
            };
        }
        let inner = self.mk_prod(1.0, inside);
        let red = self.g.reduce(r, inner);
        if coef == 1.0 && outside.is_empty() {
            return red;
        }
        let mut f = outside;
        f.push((red, Exp::Num(1.0)));
        self.mk_prod(coef, f)
    }
}

/// `a + b`, exact for fractions with small denominators: the double nearest
/// the rational sum, so exponents like `-1/3 - 1` stay `-4/3`.
fn exact_add(a: f64, b: f64) -> f64 {
    use crate::print::as_fraction;
    let frac = |v: f64| {
        if is_integer(v) && v.abs() < 1e9 {
            Some((v as i64, 1i64))
        } else {
            as_fraction(v)
        }
    };
    if let (Some((pa, qa)), Some((pb, qb))) = (frac(a), frac(b)) {
        if let (Some(x), Some(y)) = (pa.checked_mul(qb), pb.checked_mul(qa)) {
            if let Some(n) = x.checked_add(y) {
                return n as f64 / (qa * qb) as f64;
            }
        }
    }
    a + b
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

/// `k` when `c == 1/k` exactly for an integer `2 <= k <= 10^6`.
fn small_reciprocal(c: f64) -> Option<f64> {
    if c <= 0.0 || c >= 1.0 {
        return None;
    }
    let k = (1.0 / c).round();
    (k <= 1e6 && 1.0 / k == c).then_some(k)
}
