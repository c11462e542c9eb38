//! Decomposition of simplified nodes: a node seen as a coefficient times a
//! rest, as the terms of a sum, or as the factors of a product.

use super::{is_integer, Exp, Factor, Simplifier, Term, FACTOR_WALK};
use crate::graph::{BinOp, Node, NodeId, UnOp};

impl Simplifier<'_> {
    /// `node` as `coef * rest`, the numeric coefficient pulled out (`rest`
    /// is the constant 1 for a constant).
    pub(super) fn split_coef(&mut self, node: NodeId) -> (f64, NodeId) {
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
    pub(super) fn terms_of(&mut self, node: NodeId, limit: usize) -> Option<Vec<Term>> {
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

    pub(super) fn is_sum(&self, n: NodeId) -> bool {
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
    pub(super) fn factors_of(&mut self, node: NodeId) -> (f64, Vec<Factor>) {
        self.factors_of_with(node, false)
    }

    /// [`Self::factors_of`] that keeps shared products (other than `node`
    /// itself) whole, so that they stay shared.
    pub(super) fn factors_keeping_shared(&mut self, node: NodeId) -> (f64, Vec<Factor>) {
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
}
