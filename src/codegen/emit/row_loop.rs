//! One loop over the rows of the data, in blocks of `BLOCK_ROWS`, four
//! lanes each ([`crate::interpret::OrderedSum`]), emitted phase by phase by a
//! [`RowLoop`]: the row-invariant operands, the vector body (four rows an
//! iteration, lanes `[l0, l1]` and `[l2, l3]`), the tail (the last one to
//! three rows of a block, each added to its lane) and the combination of
//! the lanes into the block's sum.
//!
//! The phases emit their instructions, blocks and variables in a fixed
//! order: it numbers the values and blocks of the generated CLIF.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    Block, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, Value,
};
use cranelift_frontend::Variable;

use super::{operands, Translator, F64, F64X2};
use crate::interpret::BLOCK_ROWS;
use crate::schedule::{Loop, Op, Slot};

/// The rows a loop runs over.
#[derive(Clone, Copy)]
pub(super) enum Range {
    /// All `n` rows; the totals become the accumulators' slots.
    All(Value),
    /// Rows `row_lo..row_hi`; block partial sums are stored to `partials`.
    Part {
        row_lo: Value,
        row_hi: Value,
        partials: Value,
    },
}

/// Where the rows of one body evaluation come from.
#[derive(Clone, Copy)]
enum Rows {
    /// Two consecutive rows (one `f64x2`) at this byte offset (plus a
    /// constant) into every column.
    Pair(Value, i32),
    /// One row (scalar `f64`) at this byte offset.
    One(Value),
}

impl Rows {
    fn ty(self) -> Type {
        match self {
            Rows::Pair(..) => F64X2,
            Rows::One(_) => F64,
        }
    }
}

/// The row-invariant operands of a loop, stored in its frame slot, and the
/// base pointers of the columns it reads.
struct Invariants {
    /// Address of the loop's frame slot; `offsets` are relative to it.
    base: Value,
    offsets: HashMap<Slot, i32>,
    /// Splatted values of the slots, when few enough to stay in registers
    /// (`None`: they are loaded from the frame at each use).
    splats: Option<HashMap<Slot, Value>>,
    /// The base pointer of each column read, loaded once.
    columns: HashMap<usize, Value>,
}

/// Loops with at most this many row-invariant operands keep them in
/// registers (splatted once per call); larger ones read them from the
/// loop's frame slot, leaving the registers to the accumulators.
const REGISTER_INVARIANTS: usize = 6;

/// Flags of the accesses to a loop's frame slot (on the stack, never
/// trapping; vector accesses may be unaligned).
fn frame_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// The frame offset of lane `lane` of accumulator `j` after a block: the
/// lanes (32 bytes an accumulator) come first in the loop's frame slot.
fn lane_at(j: usize, lane: usize) -> i32 {
    (32 * j + 8 * lane) as i32
}

/// The blocks of a row loop, created in this order.
struct Blocks {
    outer_head: Block,
    outer_body: Block,
    inner_head: Block,
    inner_body: Block,
    after_inner: Block,
    tail_entry: Block,
    tail: Block,
    tail_exit: Block,
    combine: Block,
    exit: Block,
}

/// One row loop being emitted: its operands, variables and blocks.
struct RowLoop<'l> {
    lp: &'l Loop,
    range: Range,
    /// One past the last row: `n`, or `row_hi`.
    end: Value,
    inv: Invariants,
    /// `[0.0, 0.0]`, each block's starting lanes.
    zero_v: Value,
    /// Lanes `[l0, l1]` and `[l2, l3]` of each accumulator in a block.
    acc_a: Vec<Variable>,
    acc_b: Vec<Variable>,
    /// The running total of each accumulator (one add per block).
    totals: Vec<Variable>,
    block_start: Variable,
    block_end: Variable,
    row: Variable,
    /// Where the next block's partial sums go (ranges only).
    part_at: Variable,
    /// The four lanes of each accumulator as scalars, after the vector body.
    lanes: Vec<[Variable; 4]>,
    blocks: Blocks,
}

impl<'l> RowLoop<'l> {
    /// Loads the column base pointers once and gives the loop its frame
    /// slot: the lanes of each accumulator after a block (32 bytes each),
    /// then the row-invariant operands (splatted, 16 bytes each). Loops
    /// with few operands keep them in registers; the others store them to
    /// the frame, leaving the registers to the accumulators of the inner
    /// loop.
    fn invariants(t: &mut Translator<'_, '_>, lp: &Loop, p_cols: Value) -> Invariants {
        let ptr = t.ptr;
        let defined: HashSet<Slot> = lp.body.iter().map(|i| i.dst).collect();
        let mut offsets: HashMap<Slot, i32> = HashMap::new();
        let mut order: Vec<Slot> = Vec::new();
        let mut columns: HashMap<usize, Value> = HashMap::new();
        for inst in &lp.body {
            for s in operands(&inst.op) {
                if !defined.contains(&s)
                    && t.consts[s.index()].is_none()
                    && !offsets.contains_key(&s)
                {
                    offsets.insert(s, (16 * offsets.len()) as i32);
                    order.push(s);
                }
            }
            if let Op::Column(c) = inst.op {
                if let std::collections::hash_map::Entry::Vacant(e) = columns.entry(c) {
                    let flags = MemFlagsData::trusted();
                    e.insert(t.b.ins().load(ptr, flags, p_cols, (8 * c) as i32));
                }
            }
        }
        let k = lp.accumulators.len();
        let inv_at = (32 * k) as i32;
        let frame = t.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (32 * k + 16 * order.len()) as u32,
            4,
        ));
        let base = t.b.ins().stack_addr(ptr, frame, 0);
        let offsets: HashMap<Slot, i32> =
            offsets.into_iter().map(|(s, o)| (s, o + inv_at)).collect();
        let in_registers = order.len() <= REGISTER_INVARIANTS;
        let mut splats = HashMap::new();
        for &s in &order {
            let v = t.scalar(s);
            let v = t.b.ins().splat(F64X2, v);
            if in_registers {
                splats.insert(s, v);
            } else {
                t.b.ins().store(frame_flags(), v, base, offsets[&s]);
            }
        }
        Invariants {
            base,
            offsets,
            splats: in_registers.then_some(splats),
            columns,
        }
    }

    /// Declares the loop's variables (totals at 0, the first block at the
    /// range's start), creates its blocks and enters the loop.
    fn start(t: &mut Translator<'_, '_>, lp: &'l Loop, range: Range, inv: Invariants) -> Self {
        let ptr = t.ptr;
        let k = lp.accumulators.len();
        let zero = t.b.ins().f64const(0.0);
        let zero_v = t.b.ins().splat(F64X2, zero);
        let acc_a: Vec<Variable> = (0..k).map(|_| t.b.declare_var(F64X2)).collect();
        let acc_b: Vec<Variable> = (0..k).map(|_| t.b.declare_var(F64X2)).collect();
        let totals: Vec<Variable> = (0..k).map(|_| t.b.declare_var(F64)).collect();
        for &v in &totals {
            t.b.def_var(v, zero);
        }
        let block_start = t.b.declare_var(ptr);
        let block_end = t.b.declare_var(ptr);
        let row = t.b.declare_var(ptr);
        let (start, end) = match range {
            Range::All(n) => (t.b.ins().iconst(ptr, 0), n),
            Range::Part { row_lo, row_hi, .. } => (row_lo, row_hi),
        };
        t.b.def_var(block_start, start);
        let part_at = t.b.declare_var(ptr);
        if let Range::Part { partials, .. } = range {
            t.b.def_var(part_at, partials);
        }
        let blocks = Blocks {
            outer_head: t.b.create_block(),
            outer_body: t.b.create_block(),
            inner_head: t.b.create_block(),
            inner_body: t.b.create_block(),
            after_inner: t.b.create_block(),
            tail_entry: t.b.create_block(),
            tail: t.b.create_block(),
            tail_exit: t.b.create_block(),
            combine: t.b.create_block(),
            exit: t.b.create_block(),
        };
        t.b.ins().jump(blocks.outer_head, &[]);
        RowLoop {
            lp,
            range,
            end,
            inv,
            zero_v,
            acc_a,
            acc_b,
            totals,
            block_start,
            block_end,
            row,
            part_at,
            lanes: Vec::new(),
            blocks,
        }
    }

    /// `while block_start < n`: `block_end = min(block_start + BLOCK_ROWS,
    /// n)`, lanes = 0.
    fn next_block(&self, t: &mut Translator<'_, '_>) {
        let bl = &self.blocks;
        t.b.switch_to_block(bl.outer_head);
        let bs = t.b.use_var(self.block_start);
        let more = t.b.ins().icmp(IntCC::UnsignedLessThan, bs, self.end);
        t.b.ins().brif(more, bl.outer_body, &[], bl.exit, &[]);

        t.b.switch_to_block(bl.outer_body);
        let bs = t.b.use_var(self.block_start);
        let be = t.b.ins().iadd_imm_s(bs, BLOCK_ROWS as i64);
        let be = t.b.ins().umin(be, self.end);
        t.b.def_var(self.block_end, be);
        t.b.def_var(self.row, bs);
        for (&a, &b) in self.acc_a.iter().zip(&self.acc_b) {
            t.b.def_var(a, self.zero_v);
            t.b.def_var(b, self.zero_v);
        }
        t.b.ins().jump(bl.inner_head, &[]);
    }

    /// `while row + 4 <= block_end`: rows r, r+1 to lanes 0, 1 and rows
    /// r+2, r+3 to lanes 2, 3, with the loop's test again at the bottom
    /// (one branch per iteration).
    fn vector_body(&self, t: &mut Translator<'_, '_>) {
        let bl = &self.blocks;
        t.b.switch_to_block(bl.inner_head);
        let r = t.b.use_var(self.row);
        let r4 = t.b.ins().iadd_imm_s(r, 4);
        let be = t.b.use_var(self.block_end);
        let fits = t.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, r4, be);
        t.b.ins()
            .brif(fits, bl.inner_body, &[], bl.after_inner, &[]);

        t.b.switch_to_block(bl.inner_body);
        let r = t.b.use_var(self.row);
        let offset = t.b.ins().ishl_imm_u(r, 3);
        let va = t.body(self.lp, Rows::Pair(offset, 0), &self.inv);
        let vb = t.body(self.lp, Rows::Pair(offset, 16), &self.inv);
        for (j, acc) in self.lp.accumulators.iter().enumerate() {
            let a = t.b.use_var(self.acc_a[j]);
            let a = t.b.ins().fadd(a, va[&acc.src]);
            t.b.def_var(self.acc_a[j], a);
            let c = t.b.use_var(self.acc_b[j]);
            let c = t.b.ins().fadd(c, vb[&acc.src]);
            t.b.def_var(self.acc_b[j], c);
        }
        let r4 = t.b.ins().iadd_imm_s(r, 4);
        t.b.def_var(self.row, r4);
        let r8 = t.b.ins().iadd_imm_s(r, 8);
        let be = t.b.use_var(self.block_end);
        let fits = t.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, r8, be);
        t.b.ins()
            .brif(fits, bl.inner_body, &[], bl.after_inner, &[]);
    }

    /// The lanes as scalars, then to the tail if rows of the block remain.
    fn lanes(&mut self, t: &mut Translator<'_, '_>) {
        let bl = &self.blocks;
        t.b.switch_to_block(bl.after_inner);
        self.lanes = (0..self.lp.accumulators.len())
            .map(|_| std::array::from_fn(|_| t.b.declare_var(F64)))
            .collect();
        for (j, vars) in self.lanes.iter().enumerate() {
            let a = t.b.use_var(self.acc_a[j]);
            let c = t.b.use_var(self.acc_b[j]);
            for (&var, (v, i)) in vars.iter().zip([(a, 0), (a, 1), (c, 0), (c, 1)]) {
                let x = t.b.ins().extractlane(v, i);
                t.b.def_var(var, x);
            }
        }
        let r = t.b.use_var(self.row);
        let be = t.b.use_var(self.block_end);
        let more = t.b.ins().icmp(IntCC::UnsignedLessThan, r, be);
        t.b.ins().brif(more, bl.tail_entry, &[], bl.combine, &[]);
    }

    /// The last 1 to 3 rows of a block, one at a time, row r to lane r % 4
    /// (blocks start at multiples of 4). Without a tail (the rows of the
    /// block are a multiple of 4) the lanes stay in registers; otherwise
    /// they go to the frame (lane i of accumulator j at 32j + 8i), where
    /// the rows are added, and come back.
    fn tail(&self, t: &mut Translator<'_, '_>) {
        let bl = &self.blocks;
        let base = self.inv.base;
        t.b.switch_to_block(bl.tail_entry);
        for (j, (&a, &c)) in self.acc_a.iter().zip(&self.acc_b).enumerate() {
            let a = t.b.use_var(a);
            let c = t.b.use_var(c);
            t.b.ins().store(frame_flags(), a, base, lane_at(j, 0));
            t.b.ins().store(frame_flags(), c, base, lane_at(j, 2));
        }
        t.b.ins().jump(bl.tail, &[]);

        t.b.switch_to_block(bl.tail);
        let r = t.b.use_var(self.row);
        let offset = t.b.ins().ishl_imm_u(r, 3);
        let v = t.body(self.lp, Rows::One(offset), &self.inv);
        let lane = t.b.ins().band_imm_u(r, 3);
        let lane_offset = t.b.ins().ishl_imm_u(lane, 3);
        let lane_base = t.b.ins().iadd(base, lane_offset);
        for (j, acc) in self.lp.accumulators.iter().enumerate() {
            let at = lane_at(j, 0);
            let old = t.b.ins().load(F64, frame_flags(), lane_base, at);
            let new = t.b.ins().fadd(old, v[&acc.src]);
            t.b.ins().store(frame_flags(), new, lane_base, at);
        }
        let r1 = t.b.ins().iadd_imm_s(r, 1);
        t.b.def_var(self.row, r1);
        let be = t.b.use_var(self.block_end);
        let more = t.b.ins().icmp(IntCC::UnsignedLessThan, r1, be);
        t.b.ins().brif(more, bl.tail, &[], bl.tail_exit, &[]);

        t.b.switch_to_block(bl.tail_exit);
        for (j, vars) in self.lanes.iter().enumerate() {
            for (lane, &var) in vars.iter().enumerate() {
                let x = t.b.ins().load(F64, frame_flags(), base, lane_at(j, lane));
                t.b.def_var(var, x);
            }
        }
        t.b.ins().jump(bl.combine, &[]);
    }

    /// `total += ((l0 + l1) + l2) + l3` (or the partial sum stored for the
    /// caller to add in block order); next block.
    fn combine(&self, t: &mut Translator<'_, '_>) {
        t.b.switch_to_block(self.blocks.combine);
        let out_at = match self.range {
            Range::All(_) => None,
            Range::Part { .. } => Some(t.b.use_var(self.part_at)),
        };
        for (j, vars) in self.lanes.iter().enumerate() {
            let [l0, l1, l2, l3] = vars.map(|var| t.b.use_var(var));
            let s01 = t.b.ins().fadd(l0, l1);
            let s012 = t.b.ins().fadd(s01, l2);
            let part = t.b.ins().fadd(s012, l3);
            match out_at {
                Some(p) => {
                    let flags = MemFlagsData::trusted();
                    t.b.ins().store(flags, part, p, (8 * j) as i32);
                }
                None => {
                    let total = t.b.use_var(self.totals[j]);
                    let total = t.b.ins().fadd(total, part);
                    t.b.def_var(self.totals[j], total);
                }
            }
        }
        if let Some(p) = out_at {
            let k = self.lp.accumulators.len();
            let next = t.b.ins().iadd_imm_s(p, (8 * k) as i64);
            t.b.def_var(self.part_at, next);
        }
        let be = t.b.use_var(self.block_end);
        t.b.def_var(self.block_start, be);
        t.b.ins().jump(self.blocks.outer_head, &[]);
    }

    /// After the loop: the totals are the accumulators' slots.
    fn exit(&self, t: &mut Translator<'_, '_>) {
        t.b.switch_to_block(self.blocks.exit);
        for (j, acc) in self.lp.accumulators.iter().enumerate() {
            let total = t.b.use_var(self.totals[j]);
            t.scalars[acc.dst.index()] = Some(total);
        }
    }
}

impl Translator<'_, '_> {
    /// One loop over the rows of `range`, in blocks of `BLOCK_ROWS`, four
    /// lanes each.
    pub(super) fn row_loop(&mut self, lp: &Loop, p_cols: Value, range: Range) {
        let inv = RowLoop::invariants(self, lp, p_cols);
        let mut l = RowLoop::start(self, lp, range, inv);
        l.next_block(self);
        l.vector_body(self);
        l.lanes(self);
        l.tail(self);
        l.combine(self);
        l.exit(self);
    }

    /// A row-invariant operand of a loop body (a vector, or a scalar in the
    /// tail): constants are built in place; the others are splats kept in
    /// registers, or loaded from the loop's frame slot, where they are
    /// stored splatted, so that no register is held across the loop for
    /// them.
    fn invariant(&mut self, s: Slot, inv: &Invariants, ty: Type) -> Value {
        if let Some(c) = self.consts[s.index()] {
            return self.constant(c, ty);
        }
        if let Some(splats) = &inv.splats {
            let v = splats[&s];
            return if ty == F64 {
                self.b.ins().extractlane(v, 0)
            } else {
                v
            };
        }
        // Stored splatted: one plain load (lane 0 for scalars).
        self.b
            .ins()
            .load(ty, frame_flags(), inv.base, inv.offsets[&s])
    }

    /// Evaluates the loop body for two rows (one `f64x2` per slot) or one.
    fn body(&mut self, lp: &Loop, rows: Rows, inv: &Invariants) -> HashMap<Slot, Value> {
        let mut local: HashMap<Slot, Value> = HashMap::with_capacity(lp.body.len());
        let column_flags = MemFlagsData::new().with_notrap().with_readonly();
        let ty = rows.ty();
        for inst in &lp.body {
            for s in operands(&inst.op) {
                if let std::collections::hash_map::Entry::Vacant(e) = local.entry(s) {
                    e.insert(self.invariant(s, inv, ty));
                }
            }
            let get = |s: Slot| -> Value { local[&s] };
            let v = match inst.op {
                Op::Column(c) => {
                    let base = inv.columns[&c];
                    match rows {
                        Rows::Pair(offset, extra) => {
                            let addr = self.b.ins().iadd(base, offset);
                            self.b.ins().load(F64X2, column_flags, addr, extra)
                        }
                        Rows::One(offset) => {
                            let addr = self.b.ins().iadd(base, offset);
                            self.b.ins().load(F64, column_flags, addr, 0)
                        }
                    }
                }
                Op::Unary(op, a) => {
                    let a = get(a);
                    self.unary(op, a, ty)
                }
                Op::Binary(op, a, c) => {
                    let (x, y) = (get(a), get(c));
                    let k = self.consts[c.index()];
                    self.binary(op, x, y, k, ty)
                }
                Op::Const(_) | Op::Param(_) | Op::Pre(_) | Op::Rows => {
                    unreachable!("row-invariant instructions are not in loops")
                }
            };
            local.insert(inst.dst, v);
        }
        local
    }
}
