//! Translation of an [`ArraySchedule`] into one Cranelift function with the
//! C ABI `fn(params, columns, n, scratch, out)`: every buffer slot is a
//! loop nest over its indices (constant trip counts, the last index
//! innermost), index reductions are an innermost loop with the
//! accumulator in a register, and each row loop adds its per-row arrays to
//! four lanes in scratch memory, flushed into the totals every
//! [`BLOCK_ROWS`] rows: [`crate::interpret::OrderedSum`], element by
//! element. Code size depends on the number of slots, not on the extents.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use cranelift_module::ModuleError;

use super::{Translator, F64};
use crate::graph::{IdxId, IndexOp, UnOp};
use crate::interpret::BLOCK_ROWS;
use crate::schedule::arrays::{AAccumulator, ALoop, AOp, ASub, ArraySchedule, Storage};
use crate::schedule::Slot;

/// The values of an index assignment: each index variable's counter.
type Counters = Vec<(IdxId, Value)>;

/// The state of one array function being emitted.
struct ArrayState<'s> {
    s: &'s ArraySchedule,
    p_params: Value,
    p_scratch: Value,
    n: Value,
    /// Base pointer of every column.
    cols: Vec<Value>,
    /// Inside a row loop: each column's address of the current row, and
    /// the row's values of the columns used as subscripts.
    row: Option<RowValues>,
    /// Register values of the scalar slots.
    scalars: Vec<Option<Value>>,
}

/// The current row's addresses.
struct RowValues {
    /// Address of the row's first value, by column.
    base: Vec<Value>,
    /// `columns[c][row]` for the columns used as subscripts.
    label: Vec<Option<Value>>,
}

impl Translator<'_, '_> {
    /// Emits the whole array function and finalizes the builder.
    pub(crate) fn translate_arrays(mut self, s: &ArraySchedule) -> Result<(), Box<ModuleError>> {
        let args = self.entry();
        let [p_params, p_cols, n, p_scratch, p_out] = args[..] else {
            unreachable!("the kernel signature has five parameters")
        };
        let ptr = self.ptr;
        let cols = (0..s.columns.len())
            .map(|c| {
                self.b
                    .ins()
                    .load(ptr, MemFlagsData::trusted(), p_cols, (8 * c) as i32)
            })
            .collect();
        let mut st = ArrayState {
            s,
            p_params,
            p_scratch,
            n,
            cols,
            row: None,
            scalars: vec![None; s.slots.len()],
        };
        for (level, block) in s.blocks.iter().enumerate() {
            if level > 0 {
                self.array_loop(&mut st, &s.loops[level - 1]);
            }
            for inst in block {
                self.compute(&mut st, inst.dst);
            }
        }
        for o in &s.outputs {
            let dims = self.dims(&st, &o.order);
            let order = o.order.clone();
            self.nest(&dims, &mut Vec::new(), &mut |t, counters| {
                let v = t.read(&mut st, o.slot, counters);
                let pos = t.dense(&st, &order, counters, true);
                let at = t.address(p_out, o.offset, Some(pos));
                t.b.ins().store(MemFlagsData::trusted(), v, at, 0);
            });
        }
        self.b.ins().return_(&[]);
        self.finish()
    }

    /// `(index, extent)` of each index of `shape`.
    fn dims(&self, st: &ArrayState<'_>, shape: &[IdxId]) -> Vec<(IdxId, usize)> {
        shape.iter().map(|&i| (i, st.s.extent(i))).collect()
    }

    /// `base + 8 * (values + pos)`.
    fn address(&mut self, base: Value, values: usize, pos: Option<Value>) -> Value {
        let mut at = base;
        if let Some(p) = pos {
            let bytes = self.b.ins().ishl_imm_u(p, 3);
            at = self.b.ins().iadd(at, bytes);
        }
        if values > 0 {
            at = self.b.ins().iadd_imm_u(at, (8 * values) as i64);
        }
        at
    }

    /// The row-major position in an array over `shape` of the element the
    /// counters name (an index without a counter is at 0 when `broadcast`).
    fn dense(
        &mut self,
        st: &ArrayState<'_>,
        shape: &[IdxId],
        counters: &Counters,
        broadcast: bool,
    ) -> Value {
        let mut pos: Option<Value> = None;
        let mut stride = 1usize;
        for &i in shape.iter().rev() {
            let Some(k) = counter(counters, i) else {
                assert!(broadcast, "an index is read outside its loop");
                stride *= st.s.extent(i);
                continue;
            };
            let term = if stride == 1 {
                k
            } else {
                self.b.ins().imul_imm_u(k, stride as i64)
            };
            pos = Some(match pos {
                Some(p) => self.b.ins().iadd(p, term),
                None => term,
            });
            stride *= st.s.extent(i);
        }
        pos.unwrap_or_else(|| self.b.ins().iconst(self.ptr, 0))
    }

    /// Loops over every assignment of `dims` (the last innermost), calling
    /// `body` with the counters; nothing when an extent is 0.
    fn nest(
        &mut self,
        dims: &[(IdxId, usize)],
        counters: &mut Counters,
        body: &mut dyn FnMut(&mut Self, &Counters),
    ) {
        let Some(&(i, extent)) = dims.first() else {
            body(self, counters);
            return;
        };
        if dims.iter().any(|d| d.1 == 0) {
            return;
        }
        self.count_to(extent, &mut |t, k| {
            counters.push((i, k));
            t.nest(&dims[1..], counters, body);
            counters.pop();
        });
    }

    /// One loop of `extent > 0` iterations, calling `body` with the counter
    /// (`0..extent`, a do-while loop: the extent is a constant).
    fn count_to(&mut self, extent: usize, body: &mut dyn FnMut(&mut Self, Value)) {
        let ptr = self.ptr;
        let var = self.b.declare_var(ptr);
        let zero = self.b.ins().iconst(ptr, 0);
        self.b.def_var(var, zero);
        let head = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let k = self.b.use_var(var);
        body(self, k);
        let next = self.b.ins().iadd_imm_u(k, 1);
        self.b.def_var(var, next);
        let more = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, next, extent as i64);
        self.b.ins().brif(more, head, &[], exit, &[]);
        self.b.switch_to_block(exit);
    }

    /// Emits the instruction defining `slot` (nothing for views and inline
    /// slots, which are computed where they are read).
    fn compute(&mut self, st: &mut ArrayState<'_>, slot: Slot) {
        let info = st.s.slot(slot);
        match info.storage {
            Storage::View | Storage::Inline => {}
            Storage::Scalar => {
                let v = self.value(st, slot, &Vec::new());
                st.scalars[slot.index()] = Some(v);
            }
            Storage::Buffer(offset) => {
                let shape = info.shape.clone();
                let dims = self.dims(st, &shape);
                let base = st.p_scratch;
                self.nest(&dims, &mut Vec::new(), &mut |t, counters| {
                    let v = t.value(st, slot, counters);
                    let pos = t.dense(st, &shape, counters, false);
                    let at = t.address(base, offset, Some(pos));
                    t.b.ins().store(MemFlagsData::trusted(), v, at, 0);
                });
            }
        }
    }

    /// The value of `slot` at the element the counters name (they may
    /// hold more indices than the slot has).
    fn read(&mut self, st: &mut ArrayState<'_>, slot: Slot, counters: &Counters) -> Value {
        let info = st.s.slot(slot);
        match info.storage {
            Storage::Scalar => st.scalars[slot.index()].expect("scalars are computed before use"),
            Storage::Buffer(offset) => {
                let shape = info.shape.clone();
                let pos = self.dense(st, &shape, counters, true);
                let at = self.address(st.p_scratch, offset, Some(pos));
                self.b.ins().load(F64, MemFlagsData::trusted(), at, 0)
            }
            Storage::View | Storage::Inline => self.value(st, slot, counters),
        }
    }

    /// Computes the operation of `slot` at the element the counters name.
    fn value(&mut self, st: &mut ArrayState<'_>, slot: Slot, counters: &Counters) -> Value {
        let s = st.s;
        let Some(op) = &s.slot(slot).op else {
            unreachable!("accumulator results are buffers")
        };
        match op {
            AOp::Const(c) => self.b.ins().f64const(*c),
            AOp::Rows => self.b.ins().fcvt_from_uint(F64, st.n),
            AOp::Param { index, subs } => {
                let input = &s.params[*index];
                let base = self.address(st.p_params, input.offset, None);
                self.element(st, base, &input.shape.clone(), subs, counters)
            }
            AOp::Column { index, subs } => {
                let base = st.row.as_ref().expect("columns are read in row loops").base[*index];
                let shape = s.columns[*index].shape.clone();
                self.element(st, base, &shape, subs, counters)
            }
            AOp::Delta(a, b) => {
                let (x, ok_x) = self.subscript(st, *a, counters);
                let (y, ok_y) = self.subscript(st, *b, counters);
                let eq = self.b.ins().icmp(IntCC::Equal, x, y);
                let one = self.b.ins().f64const(1.0);
                let zero = self.b.ins().f64const(0.0);
                let v = self.b.ins().select(eq, one, zero);
                let ok = self.both(ok_x, ok_y);
                self.or_nan(ok, v)
            }
            AOp::Unary(op, a) => {
                let x = self.read(st, *a, counters);
                self.unary(*op, x, F64)
            }
            AOp::Binary(op, a, b) => {
                let x = self.read(st, *a, counters);
                let y = self.read(st, *b, counters);
                let y_const = match s.slot(*b).op {
                    Some(AOp::Const(c)) => Some(c),
                    _ => None,
                };
                self.binary(*op, x, y, y_const, F64)
            }
            AOp::Reduce(op, i, body) => self.index_reduce(st, *op, *i, *body, counters),
        }
    }

    /// `IndexOp::eval` over index `i` of `body`, in index order.
    fn index_reduce(
        &mut self,
        st: &mut ArrayState<'_>,
        op: IndexOp,
        i: IdxId,
        body: Slot,
        counters: &Counters,
    ) -> Value {
        let fold = |t: &mut Self,
                    st: &mut ArrayState<'_>,
                    init: f64,
                    step: &dyn Fn(&mut Self, Value, Value) -> Value| {
            t.fold_index(st, i, body, counters, init, step)
        };
        match op {
            IndexOp::Sum => fold(self, st, 0.0, &|t, a, x| t.b.ins().fadd(a, x)),
            IndexOp::Max => fold(self, st, f64::NEG_INFINITY, &|t, a, x| {
                t.min_max(true, a, x, F64)
            }),
            IndexOp::Min => fold(self, st, f64::INFINITY, &|t, a, x| {
                t.min_max(false, a, x, F64)
            }),
            IndexOp::LogSumExp => {
                let m = fold(self, st, f64::NEG_INFINITY, &|t, a, x| {
                    t.min_max(true, a, x, F64)
                });
                let s = fold(self, st, 0.0, &|t, a, x| {
                    let d = t.b.ins().fsub(x, m);
                    let e = t.unary(UnOp::Exp, d, F64);
                    t.b.ins().fadd(a, e)
                });
                let ln = self.unary(UnOp::Ln, s, F64);
                let total = self.b.ins().fadd(m, ln);
                // all -inf, +inf or NaN: the maximum itself
                let d = self.b.ins().fsub(m, m);
                let zero = self.b.ins().f64const(0.0);
                let finite = self.b.ins().fcmp(FloatCC::Equal, d, zero);
                self.b.ins().select(finite, total, m)
            }
        }
    }

    /// `init` folded with `step(acc, body)` over index `i`, in index order.
    fn fold_index(
        &mut self,
        st: &mut ArrayState<'_>,
        i: IdxId,
        body: Slot,
        counters: &Counters,
        init: f64,
        step: &dyn Fn(&mut Self, Value, Value) -> Value,
    ) -> Value {
        let extent = st.s.extent(i);
        let acc = self.b.declare_var(F64);
        let v0 = self.b.ins().f64const(init);
        self.b.def_var(acc, v0);
        let mut inner = counters.clone();
        self.nest(&[(i, extent)], &mut inner, &mut |t, c| {
            let x = t.read(st, body, c);
            let a = t.b.use_var(acc);
            let next = step(t, a, x);
            t.b.def_var(acc, next);
        });
        self.b.use_var(acc)
    }

    /// An element of an input array at `base`: NaN when a data subscript
    /// is not a whole number within its dimension.
    fn element(
        &mut self,
        st: &ArrayState<'_>,
        base: Value,
        shape: &[usize],
        subs: &[ASub],
        counters: &Counters,
    ) -> Value {
        let mut flat: Option<Value> = None;
        let mut ok: Option<Value> = None;
        let mut stride = 1usize;
        for (&sub, &dim) in subs.iter().zip(shape).rev() {
            let (k, valid) = self.subscript(st, sub, counters);
            let valid = valid.map(|v| {
                let within = self
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedLessThan, k, dim as i64);
                self.b.ins().band(v, within)
            });
            ok = self.both(ok, valid);
            let term = if stride == 1 {
                k
            } else {
                self.b.ins().imul_imm_u(k, stride as i64)
            };
            flat = Some(match flat {
                Some(f) => self.b.ins().iadd(f, term),
                None => term,
            });
            stride *= dim;
        }
        let Some(mut flat) = flat else {
            return self.b.ins().load(F64, MemFlagsData::trusted(), base, 0);
        };
        if let Some(ok) = ok {
            // never read outside the array: a bad subscript reads element 0
            let zero = self.b.ins().iconst(self.ptr, 0);
            flat = self.b.ins().select(ok, flat, zero);
        }
        let at = self.address(base, 0, Some(flat));
        let v = self.b.ins().load(F64, MemFlagsData::trusted(), at, 0);
        self.or_nan(ok, v)
    }

    /// A subscript's position, and for a data subscript whether the row's
    /// value is a whole number `>= 0` (as the interpreter tests it).
    fn subscript(
        &mut self,
        st: &ArrayState<'_>,
        sub: ASub,
        counters: &Counters,
    ) -> (Value, Option<Value>) {
        match sub {
            ASub::Idx(i) => (
                counter(counters, i).expect("an index is read inside its loop"),
                None,
            ),
            ASub::Const(c) => (self.b.ins().iconst(self.ptr, c as i64), None),
            ASub::Data(c) => {
                let v = st
                    .row
                    .as_ref()
                    .and_then(|r| r.label[c])
                    .expect("labels are loaded per row");
                let zero = self.b.ins().f64const(0.0);
                let non_negative = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, v, zero);
                let whole = self.b.ins().floor(v);
                let fract = self.b.ins().fsub(v, whole);
                let is_whole = self.b.ins().fcmp(FloatCC::Equal, fract, zero);
                let ok = self.b.ins().band(non_negative, is_whole);
                (self.b.ins().fcvt_to_uint_sat(self.ptr, v), Some(ok))
            }
        }
    }

    fn both(&mut self, a: Option<Value>, b: Option<Value>) -> Option<Value> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.b.ins().band(a, b)),
            (a, b) => a.or(b),
        }
    }

    /// `v` when `ok` (or no test), else NaN.
    fn or_nan(&mut self, ok: Option<Value>, v: Value) -> Value {
        match ok {
            Some(ok) => {
                let nan = self.b.ins().f64const(f64::NAN);
                self.b.ins().select(ok, v, nan)
            }
            None => v,
        }
    }

    /// One loop over all rows: the body, then each accumulator's lane
    /// updated; every `BLOCK_ROWS` rows (and after the last row) the lanes
    /// are added into the totals.
    fn array_loop(&mut self, st: &mut ArrayState<'_>, lp: &ALoop) {
        let s = st.s;
        let ptr = self.ptr;
        // totals and lanes start at +0.0
        for acc in &lp.accumulators {
            let len = s.elements(&s.slot(acc.src).shape);
            let Storage::Buffer(total) = s.slot(acc.dst).storage else {
                unreachable!("accumulators are buffers")
            };
            self.fill_zero(st.p_scratch, total, len);
            self.fill_zero(st.p_scratch, acc.lanes, 4 * len);
        }
        let labels: Vec<bool> = (0..s.columns.len()).map(|c| uses_label(s, lp, c)).collect();
        let row_var = self.b.declare_var(ptr);
        let zero = self.b.ins().iconst(ptr, 0);
        self.b.def_var(row_var, zero);
        let head = self.b.create_block();
        let after = self.b.create_block();
        let none = self.b.ins().icmp_imm_u(IntCC::Equal, st.n, 0);
        self.b.ins().brif(none, after, &[], head, &[]);

        self.b.switch_to_block(head);
        let row = self.b.use_var(row_var);
        let mut base = Vec::with_capacity(s.columns.len());
        let mut label = Vec::with_capacity(s.columns.len());
        for (c, input) in s.columns.iter().enumerate() {
            let offset = self.b.ins().imul_imm_u(row, (8 * input.width()) as i64);
            base.push(self.b.ins().iadd(st.cols[c], offset));
            label.push(labels[c].then(|| {
                let at = self.address(st.cols[c], 0, Some(row));
                self.b.ins().load(F64, MemFlagsData::trusted(), at, 0)
            }));
        }
        st.row = Some(RowValues { base, label });
        for inst in &lp.body {
            self.compute(st, inst.dst);
        }
        let lane = self.b.ins().band_imm_u(row, 3);
        for acc in &lp.accumulators {
            self.accumulate(st, acc, lane);
        }
        st.row = None;
        let next = self.b.ins().iadd_imm_u(row, 1);
        self.b.def_var(row_var, next);
        let in_block = self.b.ins().band_imm_u(next, (BLOCK_ROWS - 1) as i64);
        let flush = self.b.create_block();
        let cont = self.b.create_block();
        self.b.ins().brif(in_block, cont, &[], flush, &[]);
        self.b.switch_to_block(flush);
        self.flush(st, lp);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, st.n);
        let last = self.b.create_block();
        self.b.ins().brif(more, head, &[], last, &[]);

        // after the last row: the partial block, if any
        self.b.switch_to_block(last);
        let partial = self.b.ins().band_imm_u(st.n, (BLOCK_ROWS - 1) as i64);
        let tail = self.b.create_block();
        self.b.ins().brif(partial, tail, &[], after, &[]);
        self.b.switch_to_block(tail);
        self.flush(st, lp);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
    }

    /// `lanes[lane][e] += src[e]` for every element of the source.
    fn accumulate(&mut self, st: &mut ArrayState<'_>, acc: &AAccumulator, lane: Value) {
        let s = st.s;
        let shape = s.slot(acc.src).shape.clone();
        let len = s.elements(&shape);
        let dims = self.dims(st, &shape);
        let lane_offset = self.b.ins().imul_imm_u(lane, (8 * len) as i64);
        let lanes = self.b.ins().iadd(st.p_scratch, lane_offset);
        self.nest(&dims, &mut Vec::new(), &mut |t, counters| {
            let v = t.read(st, acc.src, counters);
            let pos = t.dense(st, &shape, counters, false);
            let at = t.address(lanes, acc.lanes, Some(pos));
            let old = t.b.ins().load(F64, MemFlagsData::trusted(), at, 0);
            let new = t.b.ins().fadd(old, v);
            t.b.ins().store(MemFlagsData::trusted(), new, at, 0);
        });
    }

    /// `total[e] += ((l0 + l1) + l2) + l3` and the lanes back to +0.0, for
    /// every accumulator of the loop.
    fn flush(&mut self, st: &ArrayState<'_>, lp: &ALoop) {
        let s = st.s;
        for acc in &lp.accumulators {
            let len = s.elements(&s.slot(acc.src).shape);
            let Storage::Buffer(total) = s.slot(acc.dst).storage else {
                unreachable!("accumulators are buffers")
            };
            if len == 0 {
                continue;
            }
            let base = st.p_scratch;
            self.count_to(len, &mut |t, e| {
                let zero = t.b.ins().f64const(0.0);
                let mut sum: Option<Value> = None;
                for lane in 0..4 {
                    let at = t.address(base, acc.lanes + lane * len, Some(e));
                    let v = t.b.ins().load(F64, MemFlagsData::trusted(), at, 0);
                    t.b.ins().store(MemFlagsData::trusted(), zero, at, 0);
                    sum = Some(match sum {
                        Some(s) => t.b.ins().fadd(s, v),
                        None => v,
                    });
                }
                let at = t.address(base, total, Some(e));
                let old = t.b.ins().load(F64, MemFlagsData::trusted(), at, 0);
                let new = t.b.ins().fadd(old, sum.expect("four lanes"));
                t.b.ins().store(MemFlagsData::trusted(), new, at, 0);
            });
        }
    }

    /// Stores +0.0 into `len` values of scratch from `offset`.
    fn fill_zero(&mut self, base: Value, offset: usize, len: usize) {
        if len == 0 {
            return;
        }
        self.count_to(len, &mut |t, e| {
            let zero = t.b.ins().f64const(0.0);
            let at = t.address(base, offset, Some(e));
            t.b.ins().store(MemFlagsData::trusted(), zero, at, 0);
        });
    }
}

/// The counter of index `i` (the innermost binding wins).
fn counter(counters: &Counters, i: IdxId) -> Option<Value> {
    counters.iter().rev().find(|c| c.0 == i).map(|c| c.1)
}

/// Whether a loop reads column `c` as a subscript.
fn uses_label(s: &ArraySchedule, lp: &ALoop, c: usize) -> bool {
    let data = |sub: &ASub| *sub == ASub::Data(c);
    lp.body.iter().any(|inst| match &s.slot(inst.dst).op {
        Some(AOp::Param { subs, .. } | AOp::Column { subs, .. }) => subs.iter().any(data),
        Some(AOp::Delta(a, b)) => data(a) || data(b),
        _ => false,
    })
}
