//! Functions and reductions: identities of one-argument functions, and
//! factors moved out of `sum` and `mean`.

use super::{Exp, Factor, Simplifier};
use crate::graph::{BinOp, Node, NodeId, Reduction, UnOp};

impl Simplifier<'_> {
    pub(super) fn mk_call(&mut self, op: UnOp, a: NodeId) -> NodeId {
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
            let parity = parity(op);
            let odd = parity == Parity::Odd;
            if parity != Parity::Neither {
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

    pub(super) fn mk_reduce(&mut self, r: Reduction, a: NodeId) -> NodeId {
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

/// Symmetry of a function under a negated argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parity {
    /// `f(-u) = -f(u)`
    Odd,
    /// `f(-u) = f(u)`
    Even,
    /// Neither, or not used by the simplifier.
    Neither,
}

/// The parity `mk_call` moves a negation out of a call by.
fn parity(op: UnOp) -> Parity {
    match op {
        UnOp::Sin | UnOp::Tan | UnOp::Asin | UnOp::Atan | UnOp::Sinh | UnOp::Tanh => Parity::Odd,
        UnOp::Cos | UnOp::Cosh | UnOp::Abs => Parity::Even,
        UnOp::Neg
        | UnOp::Acos
        | UnOp::Exp
        | UnOp::Ln
        | UnOp::Sqrt
        | UnOp::Sigmoid
        | UnOp::Relu
        | UnOp::Softplus
        | UnOp::Sign
        | UnOp::Step => Parity::Neither,
    }
}
