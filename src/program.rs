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
    pub graph: Graph,
    /// The function's name (`f` for a bare expression).
    pub name: String,
    pub root: NodeId,
    /// Free variables, alphabetically.
    pub vars: Vec<SymId>,
    /// Span of the whole expression.
    pub span: Range<usize>,
}

/// A data column.
#[derive(Clone, Debug)]
pub struct DataColumn {
    pub name: String,
    pub sym: SymId,
    pub values: Vec<f64>,
    pub span: Range<usize>,
}

/// A trainable scalar.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub sym: SymId,
    pub init: f64,
    pub span: Range<usize>,
}

/// A named intermediate (`let`) or the loss.
#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    pub node: NodeId,
    /// Span of the defining expression.
    pub span: Range<usize>,
}

/// The optimizer of the `train` line, with PyTorch's meanings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Sgd {
        lr: f64,
        momentum: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    Newton,
}

/// The `train` line.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    pub optimizer: Optimizer,
    pub epochs: usize,
    pub span: Range<usize>,
}

/// A checked model file.
#[derive(Clone, Debug)]
pub struct Model {
    pub graph: Graph,
    pub data: Vec<DataColumn>,
    pub params: Vec<Param>,
    pub lets: Vec<Binding>,
    pub loss: Binding,
    /// `None` when the file has no `train` line.
    pub train: Option<TrainSpec>,
    /// Number of data rows (0 without data).
    pub rows: usize,
}
