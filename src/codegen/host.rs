//! Host functions called by compiled kernels for what Cranelift has no
//! instruction for. Each is `extern "C"`, calls the value rule of
//! [`crate::graph::ops`] (so the JIT and the interpreter agree bit for bit)
//! and cannot panic.

use crate::graph::{ops, BinOp, UnOp};

macro_rules! unary_hosts {
    ($($fname:ident => $op:ident),* $(,)?) => {
        $(
            extern "C" fn $fname(x: f64) -> f64 {
                UnOp::$op.eval(x)
            }
        )*
        /// The host function of a unary operator: its symbol name and address.
        pub(crate) fn unary(op: UnOp) -> (&'static str, *const u8) {
            match op {
                $(UnOp::$op => (stringify!($fname), $fname as *const u8),)*
            }
        }
    };
}

unary_hosts! {
    ddx_neg => Neg,
    ddx_sin => Sin,
    ddx_cos => Cos,
    ddx_tan => Tan,
    ddx_asin => Asin,
    ddx_acos => Acos,
    ddx_atan => Atan,
    ddx_sinh => Sinh,
    ddx_cosh => Cosh,
    ddx_tanh => Tanh,
    ddx_exp => Exp,
    ddx_ln => Ln,
    ddx_sqrt => Sqrt,
    ddx_abs => Abs,
    ddx_sigmoid => Sigmoid,
    ddx_relu => Relu,
    ddx_softplus => Softplus,
    ddx_sign => Sign,
    ddx_step => Step,
}

extern "C" fn ddx_pow(a: f64, b: f64) -> f64 {
    ops::pow(a, b)
}

extern "C" fn ddx_min(a: f64, b: f64) -> f64 {
    BinOp::Min.eval(a, b)
}

extern "C" fn ddx_max(a: f64, b: f64) -> f64 {
    BinOp::Max.eval(a, b)
}

/// The host function of a binary function, if it has one.
pub(crate) fn binary(op: BinOp) -> Option<(&'static str, *const u8)> {
    match op {
        BinOp::Pow => Some(("ddx_pow", ddx_pow as *const u8)),
        BinOp::Min => Some(("ddx_min", ddx_min as *const u8)),
        BinOp::Max => Some(("ddx_max", ddx_max as *const u8)),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => None,
    }
}

/// The address of a host function by symbol name (the JIT's symbol lookup).
pub(crate) fn lookup(name: &str) -> Option<*const u8> {
    UnOp::FUNCTIONS
        .iter()
        .chain(std::iter::once(&UnOp::Neg))
        .map(|&op| unary(op))
        .chain(
            [BinOp::Pow, BinOp::Min, BinOp::Max]
                .into_iter()
                .filter_map(binary),
        )
        .find(|(n, _)| *n == name)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_resolves() {
        for op in UnOp::FUNCTIONS.iter().chain([UnOp::Neg].iter()) {
            let (name, ptr) = unary(*op);
            assert_eq!(lookup(name), Some(ptr));
            assert!(name.ends_with(op.name()) || *op == UnOp::Neg);
        }
        assert!(lookup("ddx_pow").is_some());
        assert!(lookup("printf").is_none());
    }
}
