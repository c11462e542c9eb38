//! A generated expression tree, as the property tests draw it, and its
//! lowering into a graph (each test file has its own generator).

use ddx::{BinOp, Graph, NodeId, Reduction, SymId, UnOp};

/// Every binary operator of the language, from the operator table: the
/// property tests draw a new one without an edit here.
pub const BINOPS: &[BinOp] = BinOp::ALL;

/// A generated expression.
#[derive(Clone, Debug)]
pub enum E {
    Const(f64),
    Param(usize),
    Col(usize),
    Un(UnOp, Box<E>),
    Bin(BinOp, Box<E>, Box<E>),
    /// An integer power, built with `powf`.
    PowInt(Box<E>, i32),
    Red(Reduction, Box<E>),
}

/// Builds the expression in the graph, `Param(i)` as `params[i]` and
/// `Col(i)` as `columns[i]` (the depth is bounded by the generators, so
/// recursion is fine here).
pub fn lower(g: &mut Graph, e: &E, params: &[SymId], columns: &[SymId]) -> NodeId {
    match e {
        E::Const(c) => g.constant(*c),
        E::Param(i) => g.sym(params[*i]),
        E::Col(i) => g.sym(columns[*i]),
        E::Un(op, a) => {
            let a = lower(g, a, params, columns);
            g.unary(*op, a)
        }
        E::Bin(op, a, b) => {
            let a = lower(g, a, params, columns);
            let b = lower(g, b, params, columns);
            g.binary(*op, a, b)
        }
        E::PowInt(a, n) => {
            let a = lower(g, a, params, columns);
            g.powf(a, f64::from(*n))
        }
        E::Red(r, a) => {
            let a = lower(g, a, params, columns);
            g.reduce(*r, a)
        }
    }
}
