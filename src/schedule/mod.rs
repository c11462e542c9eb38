//! The schedule: a set of output nodes as a straight-line program.
//!
//! Nodes that are the same on every row (constants, params, reduction
//! results and what is built from them) are computed in scalar *blocks*;
//! nodes that differ from row to row are computed in *loops* over the rows,
//! where reductions become accumulators. A reduction whose argument needs
//! the result of another reduction runs in a later loop, so a schedule is
//!
//! ```text
//! block 0, loop 1, block 1, loop 2, block 2, ..., loop K, block K
//! ```
//!
//! with every value in its own slot (`%N`, assigned once). A per-row node
//! used by two loops is computed in each of them, in a slot of its own.
//!
//! Reduction semantics (the interpreter in [`crate::interpret`] implements the
//! same rules, and the JIT follows them bit for bit):
//! - an accumulator holds the ordered sum of its per-row value (the one
//!   summation order is [`crate::interpret::OrderedSum`]);
//! - `mean(e)` is that sum divided by the row count `n` (as `f64`);
//! - `sum(c)` of a row-invariant `c` is `c * n`; `mean(c)` is `c`.
//!
//! Printing (`ddx emit --stage schedule`) and code generation both read this
//! structure, so what is printed is what runs.

pub(crate) mod arrays;

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::graph::{BinOp, Graph, Node, NodeId, Reduction, SymId, SymbolKind, UnOp};

/// Which symbols a kernel takes as inputs, and in which order: `params`
/// become the `params` array (params of a model, free variables of an
/// expression), `columns` the `columns` array (data columns).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The symbols of the `params` array, in order.
    pub params: Vec<SymId>,
    /// The symbols of the `columns` array, in order.
    pub columns: Vec<SymId>,
}

impl Layout {
    /// A layout of scalar inputs only (expression mode).
    pub fn scalars(params: &[SymId]) -> Self {
        Layout {
            params: params.to_vec(),
            columns: Vec::new(),
        }
    }
}

/// A mismatch between a graph and the [`Layout`] it is evaluated with.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LayoutError {
    /// A symbol under the outputs has no place in the layout.
    #[error("`{name}` is used but is neither a param nor a data column of the kernel")]
    Unbound {
        /// The symbol's name.
        name: String,
    },
    /// A data column was listed among the params.
    #[error("data column `{name}` cannot be a param")]
    DataAsParam {
        /// The column's name.
        name: String,
    },
    /// A non-data symbol was listed among the columns.
    #[error("`{name}` is not a data column")]
    NotData {
        /// The symbol's name.
        name: String,
    },
    /// An array output's indices do not list each of its free indices
    /// exactly once.
    #[error("output {index} is not laid out over its free indices (each once)")]
    OutputIndices {
        /// The output's position among the outputs.
        index: usize,
    },
    /// An output differs from row to row.
    #[error("output {index} differs from row to row: it must sit under sum(...) or mean(...)")]
    PerRowOutput {
        /// The output's position among the outputs.
        index: usize,
    },
}

/// A value slot: assigned exactly once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Slot(pub u32);

impl Slot {
    /// The slot's number.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// What an instruction computes.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Op {
    /// A constant.
    Const(f64),
    /// `params[i]`.
    Param(usize),
    /// `pre[i]`: a precomputed data-only reduction.
    Pre(usize),
    /// `columns[i][row]` (in loops only).
    Column(usize),
    /// The row count `n` as `f64`.
    Rows,
    /// A unary operator or function ([`UnOp::eval`]).
    Unary(UnOp, Slot),
    /// A binary operator or function ([`BinOp::eval`]).
    Binary(BinOp, Slot, Slot),
}

/// `dst = op`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Inst {
    pub dst: Slot,
    pub op: Op,
}

/// `dst = ordered sum over the rows of src` (src is a slot of the loop body).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Accumulator {
    pub src: Slot,
    pub dst: Slot,
}

/// A loop over all rows.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Loop {
    /// Per-row instructions, in order.
    pub body: Vec<Inst>,
    /// The sums this loop produces.
    pub accumulators: Vec<Accumulator>,
}

/// A straight-line program computing a list of outputs.
#[derive(Clone, PartialEq, Debug)]
pub struct Schedule {
    /// Names of the params, in layout order.
    pub param_names: Vec<String>,
    /// Names of the data columns, in layout order.
    pub column_names: Vec<String>,
    /// The data-only reductions given as precomputed inputs (`Op::Pre`).
    pub pre: Vec<NodeId>,
    /// Scalar blocks: `blocks[i]` runs before `loops[i]`; the last one after
    /// the last loop. Always `loops.len() + 1` of them.
    pub blocks: Vec<Vec<Inst>>,
    /// The row loops, in order.
    pub loops: Vec<Loop>,
    /// The slot of each output.
    pub outputs: Vec<Slot>,
    /// Names printed for the outputs (`out[i]` unless set).
    pub output_names: Vec<String>,
    /// Number of slots used.
    pub slot_count: usize,
}

/// The data-only reductions under `outputs`: reductions of a per-row value
/// that depend on no param, not looking inside such a reduction. They can be
/// computed once per data set and passed to a kernel as `pre` inputs.
pub(crate) fn data_reductions(g: &Graph, outputs: &[NodeId]) -> Vec<NodeId> {
    let mut found = Vec::new();
    let mut seen = vec![false; g.len()];
    let mut stack: Vec<NodeId> = outputs.iter().rev().copied().collect();
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut seen[id.index()], true) {
            continue;
        }
        let node = g.node(id);
        if let Node::Reduce(_, a) = node {
            if g.meta(a).per_row && !g.meta(id).varies {
                found.push(id);
                continue;
            }
        }
        for k in node.children() {
            if !seen[k.index()] {
                stack.push(k);
            }
        }
    }
    found.sort();
    found
}

/// Why a call was refused: a length does not match the kernel (or the
/// layout the interpreter evaluates).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum KernelError {
    /// The number of param values differs from the kernel's params.
    #[error("expected {expected} param values, got {got}")]
    Params {
        /// The number of params the kernel takes.
        expected: usize,
        /// The number of param values given.
        got: usize,
    },
    /// The number of data columns differs from the kernel's columns.
    #[error("expected {expected} data columns, got {got}")]
    Columns {
        /// The number of data columns the kernel takes.
        expected: usize,
        /// The number of data columns given.
        got: usize,
    },
    /// A data column's length differs from the row count.
    #[error("data column `{name}` has {got} rows, expected {expected}")]
    ColumnLength {
        /// The column's name.
        name: String,
        /// The row count (the first column's length).
        expected: usize,
        /// The column's length.
        got: usize,
    },
    /// The output buffer's length differs from the kernel's outputs.
    #[error("expected room for {expected} outputs, got {got}")]
    Outputs {
        /// The number of outputs the kernel writes.
        expected: usize,
        /// The length of the output buffer given.
        got: usize,
    },
}

impl KernelError {
    /// [`KernelError::Params`] of the two counts.
    pub(crate) fn params(expected: usize, got: usize) -> Self {
        KernelError::Params { expected, got }
    }

    /// [`KernelError::Outputs`] of the two counts.
    pub(crate) fn outputs(expected: usize, got: usize) -> Self {
        KernelError::Outputs { expected, got }
    }
}

/// `Ok` when `got` is `expected`; otherwise the error `mismatch` makes of
/// the two counts.
pub(crate) fn check_count(
    expected: usize,
    got: usize,
    mismatch: fn(usize, usize) -> KernelError,
) -> Result<(), KernelError> {
    if got == expected {
        Ok(())
    } else {
        Err(mismatch(expected, got))
    }
}

/// Checks a data set against the expected columns (by name, in order):
/// their number and one common length, which is returned (0 without
/// columns).
pub(crate) fn check_columns<'a>(
    columns: &[&[f64]],
    names: impl ExactSizeIterator<Item = &'a str>,
) -> Result<usize, KernelError> {
    if columns.len() != names.len() {
        return Err(KernelError::Columns {
            expected: names.len(),
            got: columns.len(),
        });
    }
    let n = columns.first().map_or(0, |c| c.len());
    for (c, name) in columns.iter().zip(names) {
        if c.len() != n {
            return Err(KernelError::ColumnLength {
                name: name.to_string(),
                expected: n,
                got: c.len(),
            });
        }
    }
    Ok(n)
}

/// The position of each symbol in a layout list.
pub(crate) type SymbolIndex = HashMap<SymId, usize>;

/// Checks a layout against the graph; returns the param and column index of
/// each symbol.
pub(crate) fn bind_layout(
    g: &Graph,
    layout: &Layout,
) -> Result<(SymbolIndex, SymbolIndex), LayoutError> {
    let mut params = HashMap::new();
    for (i, &s) in layout.params.iter().enumerate() {
        if g.symbol(s).kind == SymbolKind::Data {
            return Err(LayoutError::DataAsParam {
                name: g.symbol(s).name.clone(),
            });
        }
        params.entry(s).or_insert(i);
    }
    let mut columns = HashMap::new();
    for (i, &s) in layout.columns.iter().enumerate() {
        if g.symbol(s).kind != SymbolKind::Data {
            return Err(LayoutError::NotData {
                name: g.symbol(s).name.clone(),
            });
        }
        columns.entry(s).or_insert(i);
    }
    Ok((params, columns))
}

impl Schedule {
    /// A schedule computing nothing (for functions emitted from another
    /// plan, such as an [`arrays::ArraySchedule`]).
    pub(crate) fn empty() -> Schedule {
        Schedule {
            param_names: Vec::new(),
            column_names: Vec::new(),
            pre: Vec::new(),
            blocks: vec![Vec::new()],
            loops: Vec::new(),
            outputs: Vec::new(),
            output_names: Vec::new(),
            slot_count: 0,
        }
    }

    /// Schedules `outputs` for `layout`. The nodes of `pre` are inputs
    /// (`Op::Pre`, in that order) and are not looked inside.
    pub fn build(
        g: &Graph,
        outputs: &[NodeId],
        layout: &Layout,
        pre: &[NodeId],
    ) -> Result<Schedule, LayoutError> {
        let (param_of, column_of) = bind_layout(g, layout)?;
        for (index, &o) in outputs.iter().enumerate() {
            if g.meta(o).per_row {
                return Err(LayoutError::PerRowOutput { index });
            }
        }
        let pre_of: HashMap<NodeId, usize> =
            pre.iter().enumerate().rev().map(|(i, &n)| (n, i)).collect();
        let order = g.topo_order_until(outputs, |id| pre_of.contains_key(&id));

        // Stage of every node: for a row-invariant node, the number of loops
        // that must finish before it can be computed; for a per-row node, the
        // first loop in which it can be computed.
        let mut stage: HashMap<NodeId, usize> = HashMap::with_capacity(order.len());
        let mut per_row: HashMap<NodeId, bool> = HashMap::with_capacity(order.len());
        let mut loops_needed = 0usize;
        let mut need_rows = false;
        for &id in &order {
            let (row, st) = if pre_of.contains_key(&id) {
                (false, 0)
            } else {
                match g.node(id) {
                    Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..) => unreachable!(
                        "array models are not scheduled (pipeline::compile_model refuses them)"
                    ),
                    Node::Const(_) => (false, 0),
                    Node::Sym(s) => {
                        if column_of.contains_key(&s) {
                            (true, 1)
                        } else if param_of.contains_key(&s) {
                            (false, 0)
                        } else {
                            return Err(LayoutError::Unbound {
                                name: g.symbol(s).name.clone(),
                            });
                        }
                    }
                    Node::Unary(_, _) | Node::Binary(_, _, _) => {
                        let mut row = false;
                        let mut st = 0;
                        for k in g.node(id).children() {
                            row |= per_row[&k];
                        }
                        for k in g.node(id).children() {
                            let sk = stage[&k];
                            st = st.max(if row && !per_row[&k] { sk + 1 } else { sk });
                        }
                        (row, st)
                    }
                    Node::Reduce(r, a) => {
                        if per_row[&a] {
                            need_rows |= r == Reduction::Mean;
                            loops_needed = loops_needed.max(stage[&a]);
                            (false, stage[&a])
                        } else {
                            need_rows |= r == Reduction::Sum;
                            (false, stage[&a])
                        }
                    }
                }
            };
            per_row.insert(id, row);
            stage.insert(id, st);
        }

        let mut sched = Schedule {
            param_names: layout
                .params
                .iter()
                .map(|&s| g.symbol(s).name.clone())
                .collect(),
            column_names: layout
                .columns
                .iter()
                .map(|&s| g.symbol(s).name.clone())
                .collect(),
            pre: pre.to_vec(),
            blocks: vec![Vec::new(); loops_needed + 1],
            loops: vec![Loop::default(); loops_needed],
            outputs: Vec::new(),
            output_names: (0..outputs.len()).map(|i| format!("out[{i}]")).collect(),
            slot_count: 0,
        };
        let mut next = 0u32;
        let mut fresh = || {
            next += 1;
            Slot(next - 1)
        };
        // Slots of row-invariant nodes.
        let mut scalar: HashMap<NodeId, Slot> = HashMap::new();
        let rows = if need_rows {
            let s = fresh();
            sched.blocks[0].push(Inst {
                dst: s,
                op: Op::Rows,
            });
            Some(s)
        } else {
            None
        };

        for level in 0..=loops_needed {
            if level > 0 {
                // Loop `level`: the per-row closure of its accumulators.
                let accs: Vec<NodeId> = order
                    .iter()
                    .copied()
                    .filter(|&id| {
                        !pre_of.contains_key(&id)
                            && matches!(g.node(id), Node::Reduce(_, a) if per_row[&a])
                            && stage[&id] == level
                    })
                    .collect();
                let roots: Vec<NodeId> = accs
                    .iter()
                    .map(|&r| match g.node(r) {
                        Node::Reduce(_, a) => a,
                        _ => unreachable!("filtered to reductions"),
                    })
                    .collect();
                let body_nodes = g.topo_order_until(&roots, |id| !per_row[&id]);
                let mut local: HashMap<NodeId, Slot> = HashMap::new();
                let lp = &mut sched.loops[level - 1];
                for id in body_nodes {
                    if !per_row[&id] {
                        continue;
                    }
                    let slot_of = |k: NodeId| -> Slot {
                        if per_row[&k] {
                            local[&k]
                        } else {
                            scalar[&k]
                        }
                    };
                    let op = match g.node(id) {
                        Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..) => unreachable!(
                            "array models are not scheduled (pipeline::compile_model refuses them)"
                        ),
                        Node::Sym(s) => Op::Column(column_of[&s]),
                        Node::Unary(op, a) => Op::Unary(op, slot_of(a)),
                        Node::Binary(op, a, b) => Op::Binary(op, slot_of(a), slot_of(b)),
                        Node::Const(_) | Node::Reduce(..) => {
                            unreachable!("constants and reductions are row-invariant")
                        }
                    };
                    let dst = fresh();
                    lp.body.push(Inst { dst, op });
                    local.insert(id, dst);
                }
                for (&r, &a) in accs.iter().zip(&roots) {
                    let dst = fresh();
                    lp.accumulators.push(Accumulator {
                        src: local[&a],
                        dst,
                    });
                    scalar.insert(r, dst);
                }
            }
            // Block `level`: row-invariant nodes of this stage.
            for &id in &order {
                if per_row[&id] || stage[&id] != level {
                    continue;
                }
                let op = if let Some(&i) = pre_of.get(&id) {
                    Op::Pre(i)
                } else {
                    match g.node(id) {
                        Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..) => unreachable!(
                            "array models are not scheduled (pipeline::compile_model refuses them)"
                        ),
                        Node::Const(bits) => Op::Const(f64::from_bits(bits)),
                        Node::Sym(s) => Op::Param(param_of[&s]),
                        Node::Unary(op, a) => Op::Unary(op, scalar[&a]),
                        Node::Binary(op, a, b) => Op::Binary(op, scalar[&a], scalar[&b]),
                        Node::Reduce(r, a) => {
                            let n = || rows.expect("row count scheduled when needed");
                            match (r, per_row[&a]) {
                                (Reduction::Sum, true) => continue, // the accumulator
                                (Reduction::Mean, true) => Op::Binary(BinOp::Div, scalar[&id], n()),
                                (Reduction::Sum, false) => Op::Binary(BinOp::Mul, scalar[&a], n()),
                                (Reduction::Mean, false) => {
                                    let s = scalar[&a];
                                    scalar.insert(id, s);
                                    continue;
                                }
                            }
                        }
                    }
                };
                let dst = fresh();
                sched.blocks[level].push(Inst { dst, op });
                scalar.insert(id, dst);
            }
        }
        sched.outputs = outputs.iter().map(|o| scalar[o]).collect();
        sched.slot_count = next as usize;
        Ok(sched)
    }

    /// Sets the names printed for the outputs.
    pub fn with_output_names(mut self, names: &[String]) -> Self {
        for (slot, name) in self.output_names.iter_mut().zip(names) {
            slot.clone_from(name);
        }
        self
    }

    /// Number of instructions (per-row ones counted once), accumulators included.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum::<usize>()
            + self
                .loops
                .iter()
                .map(|l| l.body.len() + l.accumulators.len())
                .sum::<usize>()
    }

    /// True when the schedule has no instruction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fmt_inst(&self, f: &mut fmt::Formatter<'_>, inst: &Inst) -> fmt::Result {
        write!(f, "  {} = ", inst.dst)?;
        match inst.op {
            Op::Const(v) => write!(f, "{v:?}")?,
            Op::Param(i) => write!(f, "param {}", self.param_names[i])?,
            Op::Pre(i) => write!(f, "pre[{i}]")?,
            Op::Column(i) => write!(f, "{}[row]", self.column_names[i])?,
            Op::Rows => write!(f, "rows")?,
            Op::Unary(UnOp::Neg, a) => write!(f, "-{a}")?,
            Op::Unary(op, a) => write!(f, "{op}({a})")?,
            Op::Binary(op @ (BinOp::Min | BinOp::Max), a, b) => write!(f, "{op}({a}, {b})")?,
            Op::Binary(op, a, b) => write!(f, "{a} {op} {b}")?,
        }
        writeln!(f)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "inputs: params ({}), columns ({}){}",
            self.param_names.join(", "),
            self.column_names.join(", "),
            if self.pre.is_empty() {
                String::new()
            } else {
                let n = self.pre.len();
                format!(
                    ", {n} precomputed data reduction{}",
                    if n == 1 { "" } else { "s" }
                )
            }
        )?;
        for (i, block) in self.blocks.iter().enumerate() {
            if i == 0 {
                writeln!(f, "before the loops:")?;
            } else {
                let lp = &self.loops[i - 1];
                writeln!(f, "loop {i} over the rows:")?;
                for inst in &lp.body {
                    self.fmt_inst(f, inst)?;
                }
                for acc in &lp.accumulators {
                    writeln!(f, "  {} = sum of {}", acc.dst, acc.src)?;
                }
                writeln!(f, "after loop {i}:")?;
            }
            for inst in block {
                self.fmt_inst(f, inst)?;
            }
        }
        writeln!(f, "outputs:")?;
        for (name, slot) in self.output_names.iter().zip(&self.outputs) {
            writeln!(f, "  {name} = {slot}")?;
        }
        Ok(())
    }
}
