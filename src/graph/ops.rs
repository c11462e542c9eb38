//! The operators of the language: their names, arities and value rules.
//!
//! Each operator's value rule lives here, in one match arm; its derivative
//! rule lives in one match arm of `crate::diff`. The interpreter, the
//! constant folder and the JIT's host functions all call these functions, so
//! every stage computes bit-for-bit the same value.

use std::fmt;

/// A unary operator or function of one argument.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum UnOp {
    Neg,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Exp,
    Ln,
    Sqrt,
    Abs,
    Sigmoid,
    Relu,
    Softplus,
    Sign,
    Step,
}

/// A binary operator or function of two arguments.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
}

/// A reduction over the rows of the data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Reduction {
    Sum,
    Mean,
}

impl UnOp {
    /// All functions callable by name (everything but `Neg`).
    pub const FUNCTIONS: [UnOp; 18] = [
        UnOp::Sin,
        UnOp::Cos,
        UnOp::Tan,
        UnOp::Asin,
        UnOp::Acos,
        UnOp::Atan,
        UnOp::Sinh,
        UnOp::Cosh,
        UnOp::Tanh,
        UnOp::Exp,
        UnOp::Ln,
        UnOp::Sqrt,
        UnOp::Abs,
        UnOp::Sigmoid,
        UnOp::Relu,
        UnOp::Softplus,
        UnOp::Sign,
        UnOp::Step,
    ];

    /// The name the language uses for this function (`-` for negation).
    pub fn name(self) -> &'static str {
        match self {
            UnOp::Neg => "-",
            UnOp::Sin => "sin",
            UnOp::Cos => "cos",
            UnOp::Tan => "tan",
            UnOp::Asin => "asin",
            UnOp::Acos => "acos",
            UnOp::Atan => "atan",
            UnOp::Sinh => "sinh",
            UnOp::Cosh => "cosh",
            UnOp::Tanh => "tanh",
            UnOp::Exp => "exp",
            UnOp::Ln => "ln",
            UnOp::Sqrt => "sqrt",
            UnOp::Abs => "abs",
            UnOp::Sigmoid => "sigmoid",
            UnOp::Relu => "relu",
            UnOp::Softplus => "softplus",
            UnOp::Sign => "sign",
            UnOp::Step => "step",
        }
    }

    /// The value rule.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            UnOp::Neg => -x,
            UnOp::Sin => x.sin(),
            UnOp::Cos => x.cos(),
            UnOp::Tan => x.tan(),
            UnOp::Asin => x.asin(),
            UnOp::Acos => x.acos(),
            UnOp::Atan => x.atan(),
            UnOp::Sinh => x.sinh(),
            UnOp::Cosh => x.cosh(),
            UnOp::Tanh => x.tanh(),
            UnOp::Exp => x.exp(),
            UnOp::Ln => x.ln(),
            UnOp::Sqrt => x.sqrt(),
            UnOp::Abs => x.abs(),
            UnOp::Sigmoid => sigmoid(x),
            UnOp::Relu => relu(x),
            UnOp::Softplus => softplus(x),
            UnOp::Sign => sign(x),
            UnOp::Step => step(x),
        }
    }
}

impl BinOp {
    /// True for `+ * min max`.
    pub fn is_commutative(self) -> bool {
        matches!(self, BinOp::Add | BinOp::Mul | BinOp::Min | BinOp::Max)
    }

    /// The operator symbol or function name.
    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
            BinOp::Min => "min",
            BinOp::Max => "max",
        }
    }

    /// The value rule.
    pub fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => pow(a, b),
            BinOp::Min => min(a, b),
            BinOp::Max => max(a, b),
        }
    }
}

impl Reduction {
    /// The function name: `sum` or `mean`.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
        }
    }
}

/// `1/(1+exp(-x))`, computed without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `max(x, 0)`; NaN propagates.
pub fn relu(x: f64) -> f64 {
    max(x, 0.0)
}

/// `ln(1+exp(x))`, computed without overflow for large x.
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// -1, 0 or 1; NaN propagates.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// Heaviside step: 1 for x > 0, 1/2 at 0, 0 for x < 0; NaN propagates.
///
/// `step(0) = 1/2` is the subgradient rule for `relu`, `max` and `min`: at a
/// tie the derivative is the average of both sides, so `relu(x)`,
/// `max(x, 0)` and `max(0, x)` all have derivative 1/2 at 0, and
/// `min(y, max(x, y))` has derivative 1 in `y` on the whole half-plane where
/// `max(x, y) = y`.
pub fn step(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x == 0.0 {
        0.5
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// `min(a, b)`; NaN if either is NaN.
pub fn min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b < a {
        b
    } else {
        a
    }
}

/// `max(a, b)`; NaN if either is NaN.
pub fn max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

/// `a^b` with IEEE `pow` semantics; small integer exponents are exact
/// repeated products (so `x^2` is `x*x`, as the JIT computes it).
pub fn pow(a: f64, b: f64) -> f64 {
    if b == 2.0 {
        a * a
    } else if b == 1.0 {
        a
    } else if b == -1.0 {
        1.0 / a
    } else {
        a.powf(b)
    }
}

impl fmt::Display for UnOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for BinOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
