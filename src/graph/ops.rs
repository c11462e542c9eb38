//! The operators of the language, declared once in the table of
//! `operators!`: each operator's enum variant, its name in the language
//! (and the name it is called by, if any), its mnemonic and its value rule.
//!
//! The table generates the enums [`UnOp`], [`BinOp`] and [`Reduction`],
//! their `name`, `mnemonic` and `eval` methods, the host functions the JIT
//! calls (`host`), [`UnOp::FUNCTIONS`], and the functions callable by name
//! ([`Func::ALL`], [`Func::from_name`]). Every other fact about an operator
//! (its derivative in `crate::differentiate`, its printing in `crate::print`, the
//! simplifier's parity table, the JIT's inline choices) is an exhaustive
//! `match`, so a new operator makes the compiler point at each of them
//! (see docs/architecture.md, "Adding a function").
//!
//! The interpreter, the constant folder and the JIT's host functions all
//! call the value rules here, so every stage computes bit for bit the same
//! value.

use std::fmt;

/// The operator table's grammar; one entry per operator, in enum order
/// (the order is part of the structural hash of a node: append new
/// operators at the end of their section).
///
/// An entry is `Variant: fn "name" => value` for a function called by its
/// name, or `Variant: "symbol" as "mnemonic" => value` for an operator
/// written as a symbol; `| "alias"` adds another name the function is
/// called by. The mnemonic (a function's name) names the operator in the
/// graph dump and its host function (`ddx_` + mnemonic).
macro_rules! operators {
    (
        @operator $(#[$doc:meta])* $T:ident($($arg:ident),*) {
            $($v:ident: $(fn $fname:literal)? $($sym:literal as $mn:literal)? => $val:expr,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum $T {
            $(#[doc = concat!("`", $($fname)? $($sym)?, "`")] $v,)*
        }

        impl $T {
            /// Every operator of this arity, in enum order.
            pub const ALL: &'static [$T] = &[$($T::$v),*];

            /// The operator symbol or function name (`-` for negation).
            pub fn name(self) -> &'static str {
                match self {
                    $($T::$v => $($fname)? $($sym)?,)*
                }
            }

            /// The operator's identifier: its name in the graph dump and,
            /// after `ddx_`, its host function's.
            pub fn mnemonic(self) -> &'static str {
                match self {
                    $($T::$v => $($fname)? $($mn)?,)*
                }
            }

            /// The value rule.
            pub fn eval(self, $($arg: f64),*) -> f64 {
                match self {
                    $($T::$v => $val,)*
                }
            }

            /// The host function the JIT calls for this operator: its symbol
            /// name and the address of an `extern "C" fn(f64, ...) -> f64`.
            /// It calls [`Self::eval`], so the JIT and the interpreter agree
            /// bit for bit, and it cannot panic.
            pub(crate) fn host(self) -> (&'static str, *const u8) {
                // One instance per operator: `op` is a constant, as in a
                // function written for it.
                extern "C" fn host<const OP: usize>($($arg: f64),*) -> f64 {
                    let op = const { $T::ALL[OP] };
                    op.eval($($arg),*)
                }
                match self {
                    $($T::$v => (
                        concat!("ddx_", $($fname)? $($mn)?),
                        host::<{ $T::$v as usize }> as *const u8,
                    ),)*
                }
            }
        }
    };
    (
        $(#[$udoc:meta])*
        unary $x:ident {
            $($uv:ident: $(fn $ufn:literal)? $($usym:literal as $umn:literal)?
                $(| $ualias:literal)? => $uval:expr,)*
        }
        $(#[$bdoc:meta])*
        binary $a:ident, $b:ident {
            $($bv:ident: $(fn $bfn:literal)? $($bsym:literal as $bmn:literal)?
                $(| $balias:literal)? => $bval:expr,)*
        }
        $(#[$rdoc:meta])*
        reduction {
            $($rv:ident: fn $rfn:literal,)*
        }
    ) => {
        operators! {
            @operator $(#[$udoc])* UnOp($x) {
                $($uv: $(fn $ufn)? $($usym as $umn)? => $uval,)*
            }
        }

        operators! {
            @operator $(#[$bdoc])* BinOp($a, $b) {
                $($bv: $(fn $bfn)? $($bsym as $bmn)? => $bval,)*
            }
        }

        $(#[$rdoc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum Reduction {
            $(#[doc = concat!("`", $rfn, "`")] $rv,)*
        }

        impl Reduction {
            /// The function name: `sum` or `mean`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Reduction::$rv => $rfn,)*
                }
            }
        }

        impl UnOp {
            /// All functions callable by name (everything but `Neg`).
            pub const FUNCTIONS: &'static [UnOp] = &[$($(named!($ufn, UnOp::$uv),)?)*];
        }

        impl Func {
            /// Every function name with its function, in the order the
            /// language documents them: the one-argument functions, their
            /// other names, the two-argument functions, their other names,
            /// the reductions.
            pub const ALL: &'static [(&'static str, Func)] = &[
                $($(($ufn, Func::Unary(UnOp::$uv)),)?)*
                $($(($ualias, Func::Unary(UnOp::$uv)),)?)*
                $($(($bfn, Func::Binary(BinOp::$bv)),)?)*
                $($(($balias, Func::Binary(BinOp::$bv)),)?)*
                $(($rfn, Func::Reduce(Reduction::$rv)),)*
            ];
        }
    };
}

/// `$value`, for a table entry that has `$name`: keeps the functions called
/// by name out of the operators.
macro_rules! named {
    ($name:literal, $value:expr) => {
        $value
    };
}

operators! {
    /// A unary operator or function of one argument.
    unary x {
        Neg: "-" as "neg" => -x,
        Sin: fn "sin" => x.sin(),
        Cos: fn "cos" => x.cos(),
        Tan: fn "tan" => x.tan(),
        Asin: fn "asin" => x.asin(),
        Acos: fn "acos" => x.acos(),
        Atan: fn "atan" => x.atan(),
        Sinh: fn "sinh" => x.sinh(),
        Cosh: fn "cosh" => x.cosh(),
        Tanh: fn "tanh" => x.tanh(),
        Exp: fn "exp" => x.exp(),
        Ln: fn "ln" | "log" => x.ln(),
        Sqrt: fn "sqrt" => x.sqrt(),
        Abs: fn "abs" => x.abs(),
        Sigmoid: fn "sigmoid" => sigmoid(x),
        Relu: fn "relu" => relu(x),
        Softplus: fn "softplus" => softplus(x),
        Sign: fn "sign" => sign(x),
        Step: fn "step" => step(x),
    }
    /// A binary operator or function of two arguments.
    binary a, b {
        Add: "+" as "add" => a + b,
        Sub: "-" as "sub" => a - b,
        Mul: "*" as "mul" => a * b,
        Div: "/" as "div" => a / b,
        Pow: "^" as "pow" | "pow" => pow(a, b),
        Min: fn "min" => min(a, b),
        Max: fn "max" => max(a, b),
    }
    /// A reduction over the rows of the data.
    reduction {
        Sum: fn "sum",
        Mean: fn "mean",
    }
}

/// A function callable by name: what `name(args)` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// A one-argument function.
    Unary(UnOp),
    /// A two-argument function (`min`, `max`, `pow`).
    Binary(BinOp),
    /// A row reduction (`sum`, `mean`).
    Reduce(Reduction),
}

impl Func {
    /// The function called `name`, if there is one (`log` is `ln`, `pow`
    /// is `^`).
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }

    /// How many arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            Func::Unary(_) | Func::Reduce(_) => 1,
            Func::Binary(_) => 2,
        }
    }
}

/// `1/(1+exp(-x))`, computed without overflow for large |x|.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `max(x, 0)`; NaN propagates.
pub(crate) fn relu(x: f64) -> f64 {
    max(x, 0.0)
}

/// `ln(1+exp(x))`, computed without overflow for large x.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// -1, 0 or 1; NaN propagates.
pub(crate) fn sign(x: f64) -> f64 {
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
pub(crate) fn step(x: f64) -> f64 {
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
pub(crate) fn min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b < a {
        b
    } else {
        a
    }
}

/// `max(a, b)`; NaN if either is NaN.
pub(crate) fn max(a: f64, b: f64) -> f64 {
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
pub(crate) fn pow(a: f64, b: f64) -> f64 {
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
