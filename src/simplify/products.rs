//! Products and powers: collecting like bases, the exact rewrites between
//! factors, and the canonical order of a product.

use rustc_hash::FxHashMap as HashMap;

use super::{find_index, is_integer, Exp, Factor, Simplifier, LINEAR, MAX_DEPTH, SMALL_TREE};
use crate::graph::{BinOp, Graph, Node, NodeId, UnOp};

impl Simplifier<'_> {
    pub(super) fn mk_prod(&mut self, coef: f64, factors: Vec<Factor>) -> NodeId {
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
                // No product rule for the others (nor for `sign` or `exp`
                // at other powers).
                UnOp::Sign
                | UnOp::Exp
                | UnOp::Neg
                | UnOp::Cos
                | UnOp::Tan
                | UnOp::Asin
                | UnOp::Acos
                | UnOp::Atan
                | UnOp::Sinh
                | UnOp::Cosh
                | UnOp::Tanh
                | UnOp::Ln
                | UnOp::Sqrt
                | UnOp::Abs
                | UnOp::Sigmoid
                | UnOp::Relu
                | UnOp::Softplus
                | UnOp::Step => {}
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
    pub(super) fn build_prod(&mut self, coef: f64, mut factors: Vec<Factor>) -> NodeId {
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

/// `k` when `c == 1/k` exactly for an integer `2 <= k <= 10^6`.
fn small_reciprocal(c: f64) -> Option<f64> {
    if c <= 0.0 || c >= 1.0 {
        return None;
    }
    let k = (1.0 / c).round();
    (k <= 1e6 && 1.0 / k == c).then_some(k)
}
