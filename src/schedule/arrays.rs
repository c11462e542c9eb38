//! The schedule of an array graph: every node computed once per row (or
//! once before the rows, when it is row-invariant) in a loop nest over its
//! own free indices.
//!
//! A schedule is, as for scalars, `block 0, loop 1, block 1, ..., loop K,
//! block K`: a row loop computes the per-row nodes its accumulators need,
//! and the blocks compute row-invariant nodes. Each value is a [`Slot`]
//! with a *shape* (its free indices, in index-id order) and a storage:
//!
//! - [`Storage::Scalar`]: a value without indices, held in a register;
//! - [`Storage::View`]: an element of a param or data column read in place
//!   (`W1[k, j]`, `px[j]`): no instruction, the readers compute the address;
//! - [`Storage::Buffer`]: a dense array in the kernel's scratch memory,
//!   row-major over the shape;
//! - [`Storage::Inline`]: an elementwise operation read by exactly one
//!   instruction that iterates over the same indices: computed where it is
//!   read, never stored (`W1[k, j] * x[j]` inside `sum(j, ...)`).
//!
//! Value rules are the interpreter's ([`crate::interpret::eval_arrays`]):
//! elementwise operations by [`crate::graph::ops`], index reductions by
//! [`IndexOp::eval`] in index order, row reductions by
//! [`crate::interpret::OrderedSum`] element by element, and a data
//! subscript that is not a whole number within its dimension reads NaN. The
//! JIT follows them bit for bit; only the storage differs.

use std::collections::HashMap;
use std::fmt;

use super::{LayoutError, Slot};
use crate::graph::{
    BinOp, Graph, IdxId, IdxKind, IndexOp, Node, NodeId, Reduction, Sub, SymId, UnOp,
};

/// An input array of the kernel: a param (its elements in the flat params
/// vector from `offset`) or a data column (`width` values per row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The symbol's name.
    pub name: String,
    /// The dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// Position of the first element in the flat params (params only).
    pub offset: usize,
}

impl Input {
    /// Values per element of the input (per row for a data column).
    pub fn width(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A subscript of an input element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ASub {
    /// An index variable.
    Idx(IdxId),
    /// A constant position (within its dimension).
    Const(usize),
    /// The row's value of a data column (by column number): a gather.
    Data(usize),
}

/// What an instruction computes, element by element over its slot's shape.
#[derive(Clone, Debug, PartialEq)]
pub enum AOp {
    /// A constant.
    Const(f64),
    /// The row count as `f64`.
    Rows,
    /// An element of param `index` (a scalar param without subscripts).
    Param { index: usize, subs: Vec<ASub> },
    /// An element of data column `index` on the current row.
    Column { index: usize, subs: Vec<ASub> },
    /// 1 when the two subscripts are equal, else 0 (NaN for a bad data
    /// subscript).
    Delta(ASub, ASub),
    /// A unary operator or function.
    Unary(UnOp, Slot),
    /// A binary operator or function.
    Binary(BinOp, Slot, Slot),
    /// An index reduction of the body over one index.
    Reduce(IndexOp, IdxId, Slot),
}

/// How a slot's value is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A register value (the shape is empty).
    Scalar,
    /// Read in place from a param or a data column.
    View,
    /// A dense array in scratch memory from this offset (in values).
    Buffer(usize),
    /// Computed where it is read.
    Inline,
}

/// A value of the schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotInfo {
    /// The indices the value is an array over, in index-id order.
    pub shape: Vec<IdxId>,
    /// Where the value is held.
    pub storage: Storage,
    /// The instruction defining it (`None` for an accumulator's result).
    pub op: Option<AOp>,
    /// Computed in a row loop, for [`ROW_GROUP`] rows at a time: a buffer
    /// holds `ROW_GROUP` values per element (the rows innermost).
    pub per_row: bool,
}

/// Rows a row loop computes at a time (two `f64x2` halves).
pub(crate) const ROW_GROUP: usize = 4;

/// `dst = op` over the shape of `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AInst {
    /// The slot defined.
    pub dst: Slot,
}

/// `dst = ordered sum over the rows of src`, element by element: four
/// lanes per element at `lanes` in scratch (`lanes + 4*e + l` for element
/// `e` and lane `l`), the total in `dst`'s buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AAccumulator {
    /// The per-row value summed.
    pub src: Slot,
    /// The sum (a buffer over the shape of `src`).
    pub dst: Slot,
    /// Offset of the lanes in scratch.
    pub lanes: usize,
}

/// A loop over all rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ALoop {
    /// Per-row instructions, in order.
    pub body: Vec<AInst>,
    /// The sums this loop produces.
    pub accumulators: Vec<AAccumulator>,
}

/// One output: the value of `slot` written over `order` (the output's
/// indices, row-major; indices the slot lacks are broadcast), from
/// position `offset` of the output vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AOutput {
    /// The value.
    pub slot: Slot,
    /// The indices the output is laid out over.
    pub order: Vec<IdxId>,
    /// Its first position in the output vector.
    pub offset: usize,
}

/// A compiled plan for row-invariant outputs of an array graph.
#[derive(Clone, Debug, PartialEq)]
pub struct ArraySchedule {
    /// The params, in layout order, with their offsets in the flat vector.
    pub params: Vec<Input>,
    /// The data columns, in layout order.
    pub columns: Vec<Input>,
    /// The extent and printed name of every index variable used.
    pub indices: HashMap<IdxId, (usize, String)>,
    /// Every value.
    pub slots: Vec<SlotInfo>,
    /// Row-invariant instructions: `blocks[i]` runs before `loops[i]`.
    pub blocks: Vec<Vec<AInst>>,
    /// The row loops.
    pub loops: Vec<ALoop>,
    /// The outputs, in order.
    pub outputs: Vec<AOutput>,
    /// Printed names of the outputs.
    pub output_names: Vec<String>,
    /// Values of scratch memory a call needs.
    pub scratch_len: usize,
}

/// The most scratch values a kernel may use (2^28 values: 2 GiB).
pub(crate) const MAX_SCRATCH: usize = 1 << 28;

impl ArraySchedule {
    /// Schedules `outputs` (row-invariant nodes, each laid out over the
    /// given indices) for the params and columns of `layout`.
    pub fn build(
        g: &Graph,
        outputs: &[(NodeId, Vec<IdxId>)],
        layout: &super::Layout,
    ) -> Result<ArraySchedule, LayoutError> {
        let (param_of, column_of) = super::bind_layout(g, layout)?;
        for (index, (o, _)) in outputs.iter().enumerate() {
            if g.meta(*o).per_row {
                return Err(LayoutError::PerRowOutput { index });
            }
        }
        let mut offset = 0;
        let params = layout
            .params
            .iter()
            .map(|&s| {
                let sym = g.symbol(s);
                let input = Input {
                    name: sym.name.clone(),
                    shape: sym.shape.clone(),
                    offset,
                };
                offset += input.width();
                input
            })
            .collect();
        let columns = layout
            .columns
            .iter()
            .map(|&s| Input {
                name: g.symbol(s).name.clone(),
                shape: g.symbol(s).shape.clone(),
                offset: 0,
            })
            .collect();
        let roots: Vec<NodeId> = outputs.iter().map(|o| o.0).collect();
        let order = g.topo_order(&roots);
        for (index, (o, at)) in outputs.iter().enumerate() {
            let mut sorted = at.clone();
            sorted.sort();
            sorted.dedup();
            let covered = g.free(*o).iter().all(|i| sorted.binary_search(i).is_ok());
            if !covered || sorted.len() != at.len() {
                return Err(LayoutError::OutputIndices { index });
            }
        }
        for &id in &order {
            let bound = |s: SymId| param_of.contains_key(&s) || column_of.contains_key(&s);
            let data_sub = |x: &Sub| match *x {
                Sub::Data(d) if !column_of.contains_key(&d) => Some(d),
                _ => None,
            };
            let unbound = match g.node(id) {
                Node::Sym(s) => (!bound(s)).then_some(s),
                Node::Elem(s, subs) => {
                    if bound(s) {
                        g.subs(subs).iter().find_map(data_sub)
                    } else {
                        Some(s)
                    }
                }
                Node::Delta(a, b) => data_sub(&a).or_else(|| data_sub(&b)),
                _ => None,
            };
            if let Some(s) = unbound {
                return Err(LayoutError::Unbound {
                    name: g.symbol(s).name.clone(),
                });
            }
        }
        let mut b = Builder {
            g,
            param_of,
            column_of,
            sched: ArraySchedule {
                params,
                columns,
                indices: HashMap::new(),
                slots: Vec::new(),
                blocks: Vec::new(),
                loops: Vec::new(),
                outputs: Vec::new(),
                output_names: (0..outputs.len()).map(|i| format!("out[{i}]")).collect(),
                scratch_len: 0,
            },
            in_loop: false,
        };
        b.schedule(&order, outputs);
        b.inline_single_uses();
        b.place_buffers();
        Ok(b.sched)
    }

    /// Sets the names printed for the outputs.
    pub fn with_output_names(mut self, names: &[String]) -> Self {
        for (slot, name) in self.output_names.iter_mut().zip(names) {
            slot.clone_from(name);
        }
        self
    }

    /// The number of values in the flat params vector.
    pub fn param_len(&self) -> usize {
        self.params.iter().map(Input::width).sum()
    }

    /// The number of values in the output vector.
    pub fn output_len(&self) -> usize {
        self.outputs.iter().map(|o| self.elements(&o.order)).sum()
    }

    /// The number of elements of an array over `shape`.
    pub fn elements(&self, shape: &[IdxId]) -> usize {
        shape.iter().map(|i| self.extent(*i)).product()
    }

    /// The extent of an index.
    pub fn extent(&self, i: IdxId) -> usize {
        self.indices[&i].0
    }

    /// A slot's description.
    pub fn slot(&self, s: Slot) -> &SlotInfo {
        &self.slots[s.index()]
    }

    /// The instructions of the schedule: weighted as the scalar kernel's
    /// are (each computed slot one operation), for the size limit.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.op.is_some()).count()
            + self
                .loops
                .iter()
                .map(|l| l.accumulators.len())
                .sum::<usize>()
    }

    /// True when the schedule computes nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds an [`ArraySchedule`].
struct Builder<'g> {
    g: &'g Graph,
    param_of: super::SymbolIndex,
    column_of: super::SymbolIndex,
    sched: ArraySchedule,
    /// Slots made now are computed in a row loop.
    in_loop: bool,
}

impl Builder<'_> {
    fn slot(&mut self, shape: Vec<IdxId>, storage: Storage, op: Option<AOp>) -> Slot {
        let per_row = self.in_loop;
        for &i in &shape {
            self.note_index(i);
        }
        if let Some(AOp::Reduce(_, i, _)) = op {
            self.note_index(i);
        }
        self.sched.slots.push(SlotInfo {
            shape,
            storage,
            op,
            per_row,
        });
        Slot(u32::try_from(self.sched.slots.len() - 1).expect("fewer than 2^32 slots"))
    }

    fn note_index(&mut self, i: IdxId) {
        if !self.sched.indices.contains_key(&i) {
            let name = match &self.g.index_var(i).kind {
                IdxKind::Named(n) => n.clone(),
                IdxKind::Bound(level) => format!("b{level}"),
                IdxKind::Scratch(n) => format!("s{n}"),
            };
            self.sched.indices.insert(i, (self.g.extent(i), name));
        }
    }

    fn sub(&self, s: Sub) -> ASub {
        match s {
            Sub::Idx(i) => ASub::Idx(i),
            Sub::Const(c) => ASub::Const(c as usize),
            Sub::Data(d) => ASub::Data(self.column_of[&d]),
        }
    }

    /// The slot of a leaf or an operation whose operands have slots.
    fn node_slot(&mut self, id: NodeId, slot_of: &dyn Fn(NodeId) -> Slot) -> Slot {
        let g = self.g;
        let shape = g.free(id).to_vec();
        let (op, view) = match g.node(id) {
            Node::Const(bits) => (AOp::Const(f64::from_bits(bits)), false),
            Node::Sym(s) => match self.param_of.get(&s) {
                Some(&index) => (
                    AOp::Param {
                        index,
                        subs: vec![],
                    },
                    false,
                ),
                None => (
                    AOp::Column {
                        index: self.column_of[&s],
                        subs: vec![],
                    },
                    false,
                ),
            },
            Node::Elem(s, subs) => {
                let sym_shape = &g.symbol(s).shape;
                let subs: Vec<ASub> = g.subs(subs).iter().map(|&x| self.sub(x)).collect();
                let in_range = subs
                    .iter()
                    .zip(sym_shape)
                    .all(|(s, &dim)| !matches!(*s, ASub::Const(c) if c >= dim))
                    && subs.len() == sym_shape.len();
                if !in_range {
                    // the interpreter reads NaN out of a dimension
                    (AOp::Const(f64::NAN), false)
                } else {
                    // a param read in place; a data element is copied per
                    // row group, its rows side by side
                    let gather = subs.iter().any(|s| matches!(s, ASub::Data(_)));
                    match self.param_of.get(&s) {
                        Some(&index) => (AOp::Param { index, subs }, !gather),
                        None => (
                            AOp::Column {
                                index: self.column_of[&s],
                                subs,
                            },
                            false,
                        ),
                    }
                }
            }
            Node::Delta(a, b) => (AOp::Delta(self.sub(a), self.sub(b)), false),
            Node::Unary(op, a) => (AOp::Unary(op, slot_of(a)), false),
            Node::Binary(op, a, b) => (AOp::Binary(op, slot_of(a), slot_of(b)), false),
            Node::IndexReduce(op, i, body) => (AOp::Reduce(op, i, slot_of(body)), false),
            Node::Reduce(..) => unreachable!("row reductions are scheduled by `schedule`"),
        };
        if let AOp::Const(_) = op {
            // a constant has no indices, even in place of an element
            return self.slot(Vec::new(), Storage::Scalar, Some(op));
        }
        let storage = if shape.is_empty() {
            Storage::Scalar
        } else if view {
            Storage::View
        } else {
            Storage::Buffer(0)
        };
        self.slot(shape, storage, Some(op))
    }

    /// Stages and slots, as [`super::Schedule::build`] does for scalars.
    fn schedule(&mut self, order: &[NodeId], outputs: &[(NodeId, Vec<IdxId>)]) {
        let g = self.g;
        let mut stage: HashMap<NodeId, usize> = HashMap::with_capacity(order.len());
        let mut loops_needed = 0;
        for &id in order {
            let st = match g.node(id) {
                Node::Reduce(_, a) if g.meta(a).per_row => {
                    loops_needed = loops_needed.max(stage[&a]);
                    stage[&a]
                }
                node => {
                    // a per-row leaf (a data column, a gather) is first
                    // computed in loop 1
                    let row = g.meta(id).per_row;
                    let mut st = usize::from(row && node.children().next().is_none());
                    for k in node.children() {
                        let sk = stage[&k];
                        st = st.max(if row && !g.meta(k).per_row {
                            sk + 1
                        } else {
                            sk
                        });
                    }
                    st
                }
            };
            stage.insert(id, st);
        }
        self.sched.blocks = vec![Vec::new(); loops_needed + 1];
        self.sched.loops = vec![ALoop::default(); loops_needed];

        let mut invariant: HashMap<NodeId, Slot> = HashMap::new();
        let mut rows: Option<Slot> = None;
        for level in 0..=loops_needed {
            if level > 0 {
                let accs: Vec<(NodeId, NodeId)> = order
                    .iter()
                    .filter_map(|&id| match g.node(id) {
                        Node::Reduce(_, a) if g.meta(a).per_row && stage[&id] == level => {
                            Some((id, a))
                        }
                        _ => None,
                    })
                    .collect();
                let roots: Vec<NodeId> = accs.iter().map(|p| p.1).collect();
                let body = g.topo_order_until(&roots, |id| !g.meta(id).per_row);
                let mut local: HashMap<NodeId, Slot> = HashMap::new();
                self.in_loop = true;
                for id in body {
                    if !g.meta(id).per_row {
                        continue;
                    }
                    let slot = {
                        let slot_of = |k: NodeId| -> Slot {
                            local.get(&k).copied().unwrap_or_else(|| invariant[&k])
                        };
                        self.node_slot(id, &slot_of)
                    };
                    local.insert(id, slot);
                    self.sched.loops[level - 1].body.push(AInst { dst: slot });
                }
                for (r, a) in accs {
                    let src = local[&a];
                    let shape = self.sched.slots[src.index()].shape.clone();
                    self.in_loop = false;
                    let dst = self.slot(shape, Storage::Buffer(0), None);
                    self.sched.loops[level - 1].accumulators.push(AAccumulator {
                        src,
                        dst,
                        lanes: 0,
                    });
                    invariant.insert(r, dst);
                }
                self.in_loop = false;
            }
            for &id in order {
                if g.meta(id).per_row || stage[&id] != level {
                    continue;
                }
                let slot = match g.node(id) {
                    Node::Reduce(r, a) => {
                        let rows_slot = *rows.get_or_insert_with(|| {
                            let s = self.slot(Vec::new(), Storage::Scalar, Some(AOp::Rows));
                            self.sched.blocks[0].insert(0, AInst { dst: s });
                            s
                        });
                        // a per-row argument's sum is the accumulator's
                        let value = if g.meta(a).per_row {
                            invariant[&id]
                        } else {
                            invariant[&a]
                        };
                        let op = match (r, g.meta(a).per_row) {
                            (Reduction::Sum, true) => continue, // the accumulator
                            (Reduction::Mean, true) => AOp::Binary(BinOp::Div, value, rows_slot),
                            (Reduction::Sum, false) => AOp::Binary(BinOp::Mul, value, rows_slot),
                            (Reduction::Mean, false) => {
                                invariant.insert(id, value);
                                continue;
                            }
                        };
                        let shape = g.free(id).to_vec();
                        let storage = if shape.is_empty() {
                            Storage::Scalar
                        } else {
                            Storage::Buffer(0)
                        };
                        self.slot(shape, storage, Some(op))
                    }
                    _ => {
                        let slot_of = |k: NodeId| -> Slot { invariant[&k] };
                        self.node_slot(id, &slot_of)
                    }
                };
                invariant.insert(id, slot);
                self.sched.blocks[level].push(AInst { dst: slot });
            }
        }
        let mut offset = 0;
        for (node, order) in outputs {
            for &i in order {
                self.note_index(i);
            }
            let slot = invariant[node];
            self.sched.outputs.push(AOutput {
                slot,
                order: order.clone(),
                offset,
            });
            offset += self.sched.elements(order);
        }
    }

    /// Marks elementwise operations read by exactly one instruction of the
    /// same loop or block, over the same indices, as computed in place.
    fn inline_single_uses(&mut self) {
        let segments: Vec<Vec<AInst>> = self
            .sched
            .blocks
            .iter()
            .cloned()
            .chain(self.sched.loops.iter().map(|l| l.body.clone()))
            .collect();
        let mut uses = vec![0usize; self.sched.slots.len()];
        let mut kept = vec![false; self.sched.slots.len()];
        for o in &self.sched.outputs {
            kept[o.slot.index()] = true;
        }
        for inst in segments.iter().flatten() {
            for s in operands(self.sched.slots[inst.dst.index()].op.as_ref()) {
                uses[s.index()] += 1;
            }
        }
        // an accumulator reads its source over the source's own indices
        let mut accumulated = vec![false; self.sched.slots.len()];
        for l in &self.sched.loops {
            for a in &l.accumulators {
                uses[a.src.index()] += 1;
                accumulated[a.src.index()] = true;
            }
        }
        for (k, slot) in self.sched.slots.iter_mut().enumerate() {
            let elementwise = matches!(slot.op, Some(AOp::Unary(..) | AOp::Binary(..)));
            if accumulated[k] && uses[k] == 1 && elementwise && slot.storage != Storage::Scalar {
                slot.storage = Storage::Inline;
            }
        }
        for seg in &segments {
            let here: std::collections::HashSet<Slot> = seg.iter().map(|i| i.dst).collect();
            for inst in seg {
                let info = &self.sched.slots[inst.dst.index()];
                // the indices this instruction iterates over when reading
                // its operands
                let mut iter = info.shape.clone();
                if let Some(AOp::Reduce(_, i, _)) = info.op {
                    if let Err(p) = iter.binary_search(&i) {
                        iter.insert(p, i);
                    }
                }
                let ops: Vec<Slot> = operands(info.op.as_ref()).collect();
                for s in ops {
                    let child = &self.sched.slots[s.index()];
                    let elementwise = matches!(child.op, Some(AOp::Unary(..) | AOp::Binary(..)));
                    if elementwise
                        && here.contains(&s)
                        && uses[s.index()] == 1
                        && !kept[s.index()]
                        && child.storage != Storage::Scalar
                        && child.shape == iter
                    {
                        self.sched.slots[s.index()].storage = Storage::Inline;
                    }
                }
            }
        }
    }

    /// Gives every buffer and accumulator its place in scratch memory.
    fn place_buffers(&mut self) {
        let mut next = 0usize;
        let sizes: Vec<usize> = self
            .sched
            .slots
            .iter()
            .map(|s| self.sched.elements(&s.shape))
            .collect();
        let rows: Vec<usize> = self
            .sched
            .slots
            .iter()
            .map(|s| if s.per_row { ROW_GROUP } else { 1 })
            .collect();
        for ((s, size), rows) in self.sched.slots.iter_mut().zip(&sizes).zip(&rows) {
            if let Storage::Buffer(at) = &mut s.storage {
                *at = next;
                next = next.saturating_add(size.saturating_mul(*rows));
            }
        }
        for l in &mut self.sched.loops {
            for a in &mut l.accumulators {
                a.lanes = next;
                next = next.saturating_add(4 * sizes[a.src.index()]);
            }
        }
        self.sched.scratch_len = next;
    }
}

/// The slots an operation reads.
pub(crate) fn operands(op: Option<&AOp>) -> impl Iterator<Item = Slot> {
    let (a, b) = match op {
        Some(AOp::Unary(_, a)) | Some(AOp::Reduce(_, _, a)) => (Some(*a), None),
        Some(AOp::Binary(_, a, b)) => (Some(*a), Some(*b)),
        _ => (None, None),
    };
    a.into_iter().chain(b)
}

impl ArraySchedule {
    fn shape_text(&self, shape: &[IdxId]) -> String {
        if shape.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = shape.iter().map(|i| self.indices[i].1.clone()).collect();
        format!("[{}]", parts.join(","))
    }

    fn sub_text(&self, s: ASub) -> String {
        match s {
            ASub::Idx(i) => self.indices[&i].1.clone(),
            ASub::Const(c) => c.to_string(),
            ASub::Data(c) => format!("{}[row]", self.columns[c].name),
        }
    }

    fn subs_text(&self, subs: &[ASub]) -> String {
        if subs.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = subs.iter().map(|&s| self.sub_text(s)).collect();
        format!("[{}]", parts.join(","))
    }

    /// A slot as read: `%N[indices]`, or its whole operation when inline.
    fn read_text(&self, s: Slot) -> String {
        let info = self.slot(s);
        match info.storage {
            Storage::Inline => format!("({})", self.op_text(info)),
            Storage::View => self.op_text(info),
            _ => format!("{s}{}", self.shape_text(&info.shape)),
        }
    }

    fn op_text(&self, info: &SlotInfo) -> String {
        let Some(op) = &info.op else {
            return "sum of rows".into();
        };
        match op {
            AOp::Const(v) => format!("{v:?}"),
            AOp::Rows => "rows".into(),
            AOp::Param { index, subs } => {
                format!("{}{}", self.params[*index].name, self.subs_text(subs))
            }
            AOp::Column { index, subs } if subs.is_empty() => {
                format!("{}[row]", self.columns[*index].name)
            }
            AOp::Column { index, subs } => {
                let s: Vec<String> = subs.iter().map(|&x| self.sub_text(x)).collect();
                format!("{}[row,{}]", self.columns[*index].name, s.join(","))
            }
            AOp::Delta(a, b) => format!("delta({}, {})", self.sub_text(*a), self.sub_text(*b)),
            AOp::Unary(UnOp::Neg, a) => format!("-{}", self.read_text(*a)),
            AOp::Unary(op, a) => format!("{op}({})", self.read_text(*a)),
            AOp::Binary(op @ (BinOp::Min | BinOp::Max), a, b) => {
                format!("{op}({}, {})", self.read_text(*a), self.read_text(*b))
            }
            AOp::Binary(op, a, b) => {
                format!("{} {op} {}", self.read_text(*a), self.read_text(*b))
            }
            AOp::Reduce(op, i, body) => {
                let (n, name) = &self.indices[i];
                format!("{op}({name}:{n}, {})", self.read_text(*body))
            }
        }
    }

    fn fmt_inst(&self, f: &mut fmt::Formatter<'_>, s: Slot) -> fmt::Result {
        let info = self.slot(s);
        if matches!(info.storage, Storage::Inline | Storage::View) {
            return Ok(());
        }
        writeln!(
            f,
            "  {s}{} = {}",
            self.shape_text(&info.shape),
            self.op_text(info)
        )
    }

    fn dims_text(&self, shape: &[IdxId]) -> String {
        let parts: Vec<String> = shape
            .iter()
            .map(|i| format!("{}:{}", self.indices[i].1, self.indices[i].0))
            .collect();
        parts.join(", ")
    }
}

impl fmt::Display for ArraySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inputs = |list: &[Input]| -> String {
            let parts: Vec<String> = list
                .iter()
                .map(|p| {
                    if p.shape.is_empty() {
                        p.name.clone()
                    } else {
                        let dims: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
                        format!("{}[{}]", p.name, dims.join(", "))
                    }
                })
                .collect();
            parts.join(", ")
        };
        writeln!(
            f,
            "inputs: params ({}), columns ({}); scratch {} values",
            inputs(&self.params),
            inputs(&self.columns),
            self.scratch_len
        )?;
        let mut shapes: Vec<&IdxId> = self.indices.keys().collect();
        shapes.sort();
        writeln!(
            f,
            "indices: {}",
            self.dims_text(&shapes.into_iter().copied().collect::<Vec<_>>())
        )?;
        for (i, block) in self.blocks.iter().enumerate() {
            if i == 0 {
                writeln!(f, "before the loops:")?;
            } else {
                let lp = &self.loops[i - 1];
                writeln!(f, "loop {i} over the rows:")?;
                for inst in &lp.body {
                    self.fmt_inst(f, inst.dst)?;
                }
                for acc in &lp.accumulators {
                    let shape = self.shape_text(&self.slot(acc.dst).shape);
                    writeln!(
                        f,
                        "  {}{shape} = sum over rows of {}",
                        acc.dst,
                        self.read_text(acc.src)
                    )?;
                }
                writeln!(f, "after loop {i}:")?;
            }
            for inst in block {
                self.fmt_inst(f, inst.dst)?;
            }
        }
        writeln!(f, "outputs:")?;
        for (name, o) in self.output_names.iter().zip(&self.outputs) {
            writeln!(
                f,
                "  {name}{} = {}",
                self.shape_text(&o.order),
                self.read_text(o.slot)
            )?;
        }
        Ok(())
    }
}

/// Whether computing `outputs` needs an [`ArraySchedule`]: some node
/// under them has indices.
pub(crate) fn needs_arrays(g: &Graph, outputs: &[NodeId]) -> bool {
    g.topo_order(outputs).into_iter().any(|id| {
        matches!(
            g.node(id),
            Node::Elem(..) | Node::Delta(..) | Node::IndexReduce(..)
        )
    })
}
