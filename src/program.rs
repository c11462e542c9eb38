//! What the front end produces: a checked unit, every expression a node of
//! one expression graph.

use std::ops::Range;

use crate::graph::{Graph, NodeId, SymId};

/// A checked input: expression mode or a model file.
#[derive(Clone, Debug)]
pub enum Unit {
    /// `NAME = expr` or a bare `expr`.
    Expr(Function),
    /// A model file with data, params, lets, a loss and a train line.
    Model(Model),
}

/// Expression mode: a named function of its free variables.
#[derive(Clone, Debug)]
pub struct Function {
    /// The graph holding the expression.
    pub graph: Graph,
    /// The function's name (`f` for a bare expression).
    pub name: String,
    /// The expression.
    pub root: NodeId,
    /// Free variables, alphabetically.
    pub vars: Vec<SymId>,
    /// Span of the whole expression.
    pub span: Range<usize>,
}

/// A data column.
#[derive(Clone, Debug)]
pub struct DataColumn {
    /// The column's name.
    pub name: String,
    /// The column's symbol in the graph.
    pub sym: SymId,
    /// The dimensions of a vector column (empty for a scalar column): a
    /// column of shape `[64]` holds 64 values on every row.
    pub shape: Vec<usize>,
    /// The column's values, row by row (`width()` values per row).
    pub values: Vec<f64>,
    /// Span of the declaration.
    pub span: Range<usize>,
}

impl DataColumn {
    /// Values per row.
    pub fn width(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A trainable scalar or array.
#[derive(Clone, Debug)]
pub struct Param {
    /// The param's name.
    pub name: String,
    /// The param's symbol in the graph.
    pub sym: SymId,
    /// The dimensions of an array param (empty for a scalar).
    pub shape: Vec<usize>,
    /// The initial values, row-major (one for a scalar): generated when
    /// first read, so that `ddx diff` never draws them.
    pub init: InitialValues,
    /// Span of the declaration.
    pub span: Range<usize>,
}

/// A named intermediate (`let`) or the loss.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The bound name.
    pub name: String,
    /// The bound expression.
    pub node: NodeId,
    /// Span of the defining expression.
    pub span: Range<usize>,
}

/// The optimizer of the `train` line, with PyTorch's meanings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent, with optional momentum.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0 for plain SGD).
        momentum: f64,
    },
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay rate of the first-moment estimate.
        beta1: f64,
        /// Decay rate of the second-moment estimate.
        beta2: f64,
        /// Term added to the denominator for numerical stability.
        eps: f64,
    },
    /// Newton's method, using the Hessian of the loss.
    Newton,
}

/// The `train` line.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The optimizer and its settings.
    pub optimizer: Optimizer,
    /// The number of epochs to train.
    pub epochs: usize,
    /// Span of the `train` line.
    pub span: Range<usize>,
}

/// A checked model file.
#[derive(Clone, Debug)]
pub struct Model {
    /// The graph holding every expression of the model.
    pub graph: Graph,
    /// The data columns, in declaration order.
    pub data: Vec<DataColumn>,
    /// The params, in declaration order.
    pub params: Vec<Param>,
    /// The `let` bindings, in declaration order.
    pub lets: Vec<Binding>,
    /// The loss.
    pub loss: Binding,
    /// `None` when the file has no `train` line.
    pub train: Option<TrainSpec>,
    /// Number of data rows (0 without data).
    pub rows: usize,
}

/// How a param's initial values are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InitRule {
    /// Given values.
    Values,
    /// `normal(mean, sd, seed = seed)` (see `check::init`).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
        /// Generator seed.
        seed: u64,
    },
    /// `uniform(lo, hi, seed = seed)`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
        /// Generator seed.
        seed: u64,
    },
}

/// A param's initial values, row-major: given, or drawn from a seeded
/// generator the first time they are read (dereferencing gives the slice).
#[derive(Clone, Debug)]
pub struct InitialValues {
    n: usize,
    rule: InitRule,
    values: std::sync::OnceLock<Vec<f64>>,
}

impl InitialValues {
    /// `n` values drawn by `rule` when first read.
    pub fn drawn(n: usize, rule: InitRule) -> Self {
        InitialValues {
            n,
            rule,
            values: std::sync::OnceLock::new(),
        }
    }

    /// The number of values (without drawing them).
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// How the values are made.
    pub fn rule(&self) -> InitRule {
        self.rule
    }
}

impl From<Vec<f64>> for InitialValues {
    fn from(v: Vec<f64>) -> Self {
        InitialValues {
            n: v.len(),
            rule: InitRule::Values,
            values: std::sync::OnceLock::from(v),
        }
    }
}

impl std::ops::Deref for InitialValues {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        self.values.get_or_init(|| match self.rule {
            InitRule::Values => vec![0.0; self.n],
            InitRule::Normal { mean, sd, seed } => {
                crate::check::init::normal(self.n, mean, sd, seed)
            }
            InitRule::Uniform { lo, hi, seed } => crate::check::init::uniform(self.n, lo, hi, seed),
        })
    }
}

impl Param {
    /// True for an array param.
    pub fn is_array(&self) -> bool {
        !self.shape.is_empty()
    }
}

impl Model {
    /// True when any param or data column is an array: such a model
    /// compiles through [`crate::schedule::arrays::ArraySchedule`].
    pub fn has_arrays(&self) -> bool {
        self.params.iter().any(Param::is_array) || self.data.iter().any(|d| !d.shape.is_empty())
    }

    /// The number of trainable values (every element of every param).
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.init.len()).sum()
    }

    /// Whether the model trains with Newton's method (and so needs its
    /// Hessian).
    pub fn trains_with_newton(&self) -> bool {
        matches!(
            self.train.as_ref().map(|t| t.optimizer),
            Some(Optimizer::Newton)
        )
    }
}
