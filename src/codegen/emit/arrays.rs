//! Translation of an [`ArraySchedule`] into one Cranelift function with the
//! C ABI `fn(params, columns, n, scratch, out)`.
//!
//! Every buffer slot is a loop nest over its indices (constant trip counts,
//! the last index innermost); an index reduction is an innermost loop with
//! its accumulator in registers. A row loop computes [`ROW_GROUP`] rows at
//! a time as two `f64x2` halves (rows `r, r+1` and `r+2, r+3`): each row's
//! values are computed exactly as alone (the same operations in the same
//! order), four independent rows hide the latency of an index sum, and a
//! param element is loaded once for the four. The last group of a data set
//! repeats its last row in the missing places and adds `+0.0` for them to
//! the lanes (which leaves every lane as it was: a lane is never `-0.0`).
//!
//! Each row loop adds row `r` to lane `r % 4` of its accumulators and every
//! [`BLOCK_ROWS`] rows (and after the last row) adds `((l0 + l1) + l2) + l3`
//! into the totals: [`crate::interpret::OrderedSum`], element by element.
//! Code size depends on the number of slots, not on the extents.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::Variable;
use cranelift_module::ModuleError;

use super::{Translator, F64, F64X2};
use crate::graph::{IdxId, IndexOp, UnOp};
use crate::interpret::BLOCK_ROWS;
use crate::schedule::arrays::{AAccumulator, ALoop, AOp, ASub, ArraySchedule, Storage, ROW_GROUP};
use crate::schedule::Slot;

/// Which function of an array schedule is emitted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ArrayMode {
    /// `fn(params, columns, n, scratch, out)`: the whole schedule.
    Whole,
    /// `fn(params, columns, range, scratch, partials)` for a schedule of
    /// one row loop: `range` points to `[n, row_lo, row_hi]` (`row_lo` a
    /// multiple of `BLOCK_ROWS`); block 0, then the loop over those rows,
    /// storing each block's sum `((l0 + l1) + l2) + l3` of every
    /// accumulator element to `partials` (block by block, the
    /// accumulators' elements in order) instead of adding it to a total.
    Part,
    /// `fn(params, columns, n, scratch, out)` for a schedule of one row
    /// loop whose totals the caller has put in scratch: block 0, block 1
    /// and the outputs.
    Finish,
}

/// Where a row loop's block sums go.
#[derive(Clone, Copy)]
enum Flush {
    /// Added to the totals.
    Totals,
    /// Stored to `partials`, one block after the other.
    Partials(Value),
}

/// Flags of `f64x2` loads and stores: never trapping, but not `aligned`
/// (scratch buffers are 8-byte aligned; an aligned SSE operand would
/// fault on a machine without AVX).
fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// The values of an index assignment: each index variable's counter.
type Counters = Vec<(IdxId, Value)>;

/// A value: one `f64` (the same for every row), or the four rows of a
/// group as two `f64x2`.
#[derive(Clone, Copy)]
enum V {
    One(Value),
    Rows([Value; 2]),
}

/// The state of one array function being emitted.
struct ArrayState<'s> {
    s: &'s ArraySchedule,
    p_params: Value,
    p_scratch: Value,
    n: Value,
    /// Base pointer of every column.
    cols: Vec<Value>,
    /// Inside a row loop: the group's rows.
    rows: Option<Group>,
    /// Register values of the scalar slots.
    scalars: Vec<Option<V>>,
}

/// The rows of the current group.
struct Group {
    /// For each of the four rows: each column's address of the row.
    base: [Vec<Value>; ROW_GROUP],
    /// For each of the four rows: `columns[c][row]` for the columns used
    /// as subscripts.
    label: [Vec<Option<Value>>; ROW_GROUP],
}

impl Translator<'_, '_> {
    /// Emits one function of the array schedule ([`ArrayMode`]) and
    /// finalizes the builder.
    pub(crate) fn translate_arrays(
        mut self,
        s: &ArraySchedule,
        mode: ArrayMode,
    ) -> Result<(), Box<ModuleError>> {
        let args = self.entry();
        let [p_params, p_cols, arg_n, p_scratch, p_out] = args[..] else {
            unreachable!("the kernel signature has five parameters")
        };
        let ptr = self.ptr;
        let flags = MemFlagsData::trusted();
        let (n, range) = match mode {
            ArrayMode::Part => {
                let n = self.b.ins().load(ptr, flags, arg_n, 0);
                let lo = self.b.ins().load(ptr, flags, arg_n, 8);
                let hi = self.b.ins().load(ptr, flags, arg_n, 16);
                (n, Some((lo, hi)))
            }
            ArrayMode::Whole | ArrayMode::Finish => (arg_n, None),
        };
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
            rows: None,
            scalars: vec![None; s.slots.len()],
        };
        for (level, block) in s.blocks.iter().enumerate() {
            if level > 0 {
                match (mode, range) {
                    (ArrayMode::Part, Some((lo, hi))) => {
                        self.array_loop(
                            &mut st,
                            &s.loops[level - 1],
                            lo,
                            hi,
                            Flush::Partials(p_out),
                        );
                        break;
                    }
                    // the caller has put the totals in scratch
                    (ArrayMode::Finish, _) => {}
                    _ => {
                        let zero = self.b.ins().iconst(ptr, 0);
                        self.array_loop(&mut st, &s.loops[level - 1], zero, n, Flush::Totals);
                    }
                }
            }
            for inst in block {
                self.compute(&mut st, inst.dst);
            }
        }
        let outputs: &[_] = if mode == ArrayMode::Part {
            &[]
        } else {
            &s.outputs
        };
        for o in outputs {
            let dims = self.dims(&st, &o.order);
            let order = o.order.clone();
            self.nest(&dims, &mut Vec::new(), &mut |t, counters| {
                let v = t.read(&mut st, o.slot, counters);
                let v = t.one(v);
                let pos = t.dense(&st, &order, counters, true);
                let at = t.address(p_out, o.offset, Some(pos), 8);
                t.b.ins().store(MemFlagsData::trusted(), v, at, 0);
            });
        }
        self.b.ins().return_(&[]);
        self.finish()
    }

    /// The row-invariant value (outside row loops every value is one).
    fn one(&mut self, v: V) -> Value {
        match v {
            V::One(x) => x,
            V::Rows(_) => unreachable!("a row-invariant slot has one value"),
        }
    }

    /// `v` as two `f64x2` halves.
    fn halves(&mut self, v: V) -> [Value; 2] {
        match v {
            V::Rows(h) => h,
            V::One(x) => {
                let s = self.b.ins().splat(F64X2, x);
                [s, s]
            }
        }
    }

    /// Four row values as two `f64x2` halves.
    fn pack(&mut self, lanes: [Value; ROW_GROUP]) -> V {
        let mut h = [lanes[0]; 2];
        for (k, half) in h.iter_mut().enumerate() {
            let v = self.b.ins().scalar_to_vector(F64X2, lanes[2 * k]);
            *half = self.b.ins().insertlane(v, lanes[2 * k + 1], 1);
        }
        V::Rows(h)
    }

    /// `(index, extent)` of each index of `shape`.
    fn dims(&self, st: &ArrayState<'_>, shape: &[IdxId]) -> Vec<(IdxId, usize)> {
        shape.iter().map(|&i| (i, st.s.extent(i))).collect()
    }

    /// `base + 8 * values + bytes * pos`.
    fn address(&mut self, base: Value, values: usize, pos: Option<Value>, bytes: u8) -> Value {
        let mut at = base;
        if let Some(p) = pos {
            let scaled = self
                .b
                .ins()
                .ishl_imm_u(p, i64::from(bytes.trailing_zeros()));
            at = self.b.ins().iadd(at, scaled);
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
                let per_row = info.per_row;
                let dims = self.dims(st, &shape);
                let base = st.p_scratch;
                self.nest(&dims, &mut Vec::new(), &mut |t, counters| {
                    let v = t.value(st, slot, counters);
                    let pos = t.dense(st, &shape, counters, false);
                    t.store(v, base, offset, pos, per_row);
                });
            }
        }
    }

    /// Stores `v` at element `pos` of the buffer at `offset` (four values
    /// per element for a per-row buffer).
    fn store(&mut self, v: V, base: Value, offset: usize, pos: Value, per_row: bool) {
        if per_row {
            let h = self.halves(v);
            let at = self.address(base, offset, Some(pos), 32);
            self.b.ins().store(vector_flags(), h[0], at, 0);
            self.b.ins().store(vector_flags(), h[1], at, 16);
        } else {
            let x = self.one(v);
            let at = self.address(base, offset, Some(pos), 8);
            self.b.ins().store(MemFlagsData::trusted(), x, at, 0);
        }
    }

    /// The value of `slot` at the element the counters name (they may
    /// hold more indices than the slot has).
    fn read(&mut self, st: &mut ArrayState<'_>, slot: Slot, counters: &Counters) -> V {
        let info = st.s.slot(slot);
        match info.storage {
            Storage::Scalar => st.scalars[slot.index()].expect("scalars are computed before use"),
            Storage::Buffer(offset) => {
                let shape = info.shape.clone();
                let per_row = info.per_row;
                let pos = self.dense(st, &shape, counters, true);
                let flags = MemFlagsData::trusted();
                if per_row {
                    let at = self.address(st.p_scratch, offset, Some(pos), 32);
                    let lo = self.b.ins().load(F64X2, vector_flags(), at, 0);
                    let hi = self.b.ins().load(F64X2, vector_flags(), at, 16);
                    V::Rows([lo, hi])
                } else {
                    let at = self.address(st.p_scratch, offset, Some(pos), 8);
                    V::One(self.b.ins().load(F64, flags, at, 0))
                }
            }
            Storage::View | Storage::Inline => self.value(st, slot, counters),
        }
    }

    /// Computes the operation of `slot` at the element the counters name.
    fn value(&mut self, st: &mut ArrayState<'_>, slot: Slot, counters: &Counters) -> V {
        let s = st.s;
        let Some(op) = &s.slot(slot).op else {
            unreachable!("accumulator results are buffers")
        };
        match op {
            AOp::Const(c) => V::One(self.b.ins().f64const(*c)),
            AOp::Rows => V::One(self.b.ins().fcvt_from_uint(F64, st.n)),
            AOp::Param { index, subs } => {
                let input = &s.params[*index];
                let base = self.address(st.p_params, input.offset, None, 8);
                let shape = input.shape.clone();
                self.per_lane(st, subs, |t, st, lane| {
                    t.element(st, base, &shape, subs, counters, lane)
                })
            }
            AOp::Column { index, subs } => {
                let shape = s.columns[*index].shape.clone();
                let mut lanes = [None; ROW_GROUP];
                for (lane, v) in lanes.iter_mut().enumerate() {
                    let base = st
                        .rows
                        .as_ref()
                        .expect("columns are read in row loops")
                        .base[lane][*index];
                    *v = Some(self.element(st, base, &shape, subs, counters, lane));
                }
                self.pack(lanes.map(|v| v.expect("every lane")))
            }
            AOp::Delta(a, b) => self.per_lane(st, &[*a, *b], |t, st, lane| {
                let (x, ok_x) = t.subscript(st, *a, counters, lane);
                let (y, ok_y) = t.subscript(st, *b, counters, lane);
                let eq = t.b.ins().icmp(IntCC::Equal, x, y);
                let one = t.b.ins().f64const(1.0);
                let zero = t.b.ins().f64const(0.0);
                let v = t.b.ins().select(eq, one, zero);
                let ok = t.both(ok_x, ok_y);
                t.or_nan(ok, v)
            }),
            AOp::Unary(op, a) => match self.read(st, *a, counters) {
                V::One(x) => V::One(self.unary(*op, x, F64)),
                V::Rows(h) => V::Rows(h.map(|x| self.unary(*op, x, F64X2))),
            },
            AOp::Binary(op, a, b) => {
                let x = self.read(st, *a, counters);
                let y = self.read(st, *b, counters);
                let y_const = match s.slot(*b).op {
                    Some(AOp::Const(c)) => Some(c),
                    _ => None,
                };
                match (x, y) {
                    (V::One(x), V::One(y)) => V::One(self.binary(*op, x, y, y_const, F64)),
                    (x, y) => {
                        let (x, y) = (self.halves(x), self.halves(y));
                        V::Rows([0, 1].map(|k| self.binary(*op, x[k], y[k], y_const, F64X2)))
                    }
                }
            }
            AOp::Reduce(op, i, body) => {
                let rows = s.slot(slot).per_row;
                self.index_reduce(st, *op, *i, *body, counters, rows)
            }
        }
    }

    /// One value when no subscript is data, else one per row of the group.
    fn per_lane(
        &mut self,
        st: &mut ArrayState<'_>,
        subs: &[ASub],
        mut f: impl FnMut(&mut Self, &mut ArrayState<'_>, usize) -> Value,
    ) -> V {
        if !subs.iter().any(|s| matches!(s, ASub::Data(_))) {
            return V::One(f(self, st, 0));
        }
        let mut lanes = [None; ROW_GROUP];
        for (lane, v) in lanes.iter_mut().enumerate() {
            *v = Some(f(self, st, lane));
        }
        self.pack(lanes.map(|v| v.expect("every lane")))
    }

    /// `IndexOp::eval` over index `i` of `body`, in index order (for the
    /// four rows of a group at once when `rows`).
    fn index_reduce(
        &mut self,
        st: &mut ArrayState<'_>,
        op: IndexOp,
        i: IdxId,
        body: Slot,
        counters: &Counters,
        rows: bool,
    ) -> V {
        let ty = if rows { F64X2 } else { F64 };
        let max = |t: &mut Self, _: usize, a: Value, x: Value| t.min_max(true, a, x, ty);
        match op {
            IndexOp::Sum => self.fold(st, i, body, counters, rows, 0.0, &|t, _, a, x| {
                t.b.ins().fadd(a, x)
            }),
            IndexOp::Max => self.fold(st, i, body, counters, rows, f64::NEG_INFINITY, &max),
            IndexOp::Min => self.fold(st, i, body, counters, rows, f64::INFINITY, &|t, _, a, x| {
                t.min_max(false, a, x, ty)
            }),
            IndexOp::LogSumExp => {
                let m = self.fold(st, i, body, counters, rows, f64::NEG_INFINITY, &max);
                let ms = parts(m);
                let s = self.fold(st, i, body, counters, rows, 0.0, &|t, k, a, x| {
                    let d = t.b.ins().fsub(x, ms[k]);
                    let e = t.unary(UnOp::Exp, d, ty);
                    t.b.ins().fadd(a, e)
                });
                let out: Vec<Value> = ms
                    .iter()
                    .zip(parts(s))
                    .map(|(&m, s)| {
                        let ln = self.unary(UnOp::Ln, s, ty);
                        let total = self.b.ins().fadd(m, ln);
                        // all -inf, +inf or NaN: the maximum itself
                        let d = self.b.ins().fsub(m, m);
                        let zero = self.constant(0.0, ty);
                        self.choose(FloatCC::Equal, d, zero, total, m, ty)
                    })
                    .collect();
                match out[..] {
                    [x] => V::One(x),
                    [lo, hi] => V::Rows([lo, hi]),
                    _ => unreachable!("one value or two halves"),
                }
            }
        }
    }

    /// `init` folded with `step(acc, body)` over index `i`, in index order.
    #[allow(clippy::too_many_arguments)]
    fn fold(
        &mut self,
        st: &mut ArrayState<'_>,
        i: IdxId,
        body: Slot,
        counters: &Counters,
        rows: bool,
        init: f64,
        step: &dyn Fn(&mut Self, usize, Value, Value) -> Value,
    ) -> V {
        let extent = st.s.extent(i);
        let ty = if rows { F64X2 } else { F64 };
        let halves = if rows { 2 } else { 1 };
        let acc: Vec<_> = (0..halves).map(|_| self.b.declare_var(ty)).collect();
        let v0 = self.constant(init, ty);
        for &a in &acc {
            self.b.def_var(a, v0);
        }
        let mut inner = counters.clone();
        self.nest(&[(i, extent)], &mut inner, &mut |t, c| {
            let x = t.read(st, body, c);
            let xs: Vec<Value> = if rows {
                t.halves(x).to_vec()
            } else {
                vec![t.one(x)]
            };
            for (k, &a) in acc.iter().enumerate() {
                let old = t.b.use_var(a);
                let next = step(t, k, old, xs[k]);
                t.b.def_var(a, next);
            }
        });
        if rows {
            V::Rows([self.b.use_var(acc[0]), self.b.use_var(acc[1])])
        } else {
            V::One(self.b.use_var(acc[0]))
        }
    }
}

/// The register values of `v`: one, or two halves.
fn parts(v: V) -> Vec<Value> {
    match v {
        V::One(x) => vec![x],
        V::Rows(h) => h.to_vec(),
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

impl Translator<'_, '_> {
    /// An element of an input array at `base` (for row `lane` of the
    /// group, whose labels a data subscript reads): NaN when a data
    /// subscript is not a whole number within its dimension.
    fn element(
        &mut self,
        st: &ArrayState<'_>,
        base: Value,
        shape: &[usize],
        subs: &[ASub],
        counters: &Counters,
        lane: usize,
    ) -> Value {
        let mut flat: Option<Value> = None;
        let mut ok: Option<Value> = None;
        let mut stride = 1usize;
        for (&sub, &dim) in subs.iter().zip(shape).rev() {
            let (k, valid) = self.subscript(st, sub, counters, lane);
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
        let at = self.address(base, 0, Some(flat), 8);
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
        lane: usize,
    ) -> (Value, Option<Value>) {
        match sub {
            ASub::Idx(i) => (
                counter(counters, i).expect("an index is read inside its loop"),
                None,
            ),
            ASub::Const(c) => (self.b.ins().iconst(self.ptr, c as i64), None),
            ASub::Data(c) => {
                let v = st
                    .rows
                    .as_ref()
                    .and_then(|r| r.label[lane][c])
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

    /// One loop over all rows, [`ROW_GROUP`] at a time: the body, then
    /// each accumulator's lanes updated; every `BLOCK_ROWS` rows (and after
    /// the last row) the lanes are added into the totals.
    fn array_loop(
        &mut self,
        st: &mut ArrayState<'_>,
        lp: &ALoop,
        lo: Value,
        hi: Value,
        flush_to: Flush,
    ) {
        let s = st.s;
        let ptr = self.ptr;
        // totals and lanes start at +0.0
        for acc in &lp.accumulators {
            let len = s.elements(&s.slot(acc.src).shape);
            let Storage::Buffer(total) = s.slot(acc.dst).storage else {
                unreachable!("accumulators are buffers")
            };
            if matches!(flush_to, Flush::Totals) {
                self.fill_zero(st.p_scratch, total, len);
            }
            self.fill_zero(st.p_scratch, acc.lanes, ROW_GROUP * len);
        }
        // the block being summed, counted from `lo` (for partials)
        let block_var = self.b.declare_var(ptr);
        let zero = self.b.ins().iconst(ptr, 0);
        self.b.def_var(block_var, zero);
        let labels: Vec<bool> = (0..s.columns.len()).map(|c| uses_label(s, lp, c)).collect();
        let row_var = self.b.declare_var(ptr);
        self.b.def_var(row_var, lo);
        let head = self.b.create_block();
        let after = self.b.create_block();
        let none = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, lo, hi);
        self.b.ins().brif(none, after, &[], head, &[]);

        self.b.switch_to_block(head);
        let first = self.b.use_var(row_var);
        let last_row = self.b.ins().iadd_imm_s(hi, -1);
        let mut base: [Vec<Value>; ROW_GROUP] = Default::default();
        let mut label: [Vec<Option<Value>>; ROW_GROUP] = Default::default();
        let mut valid = Vec::with_capacity(ROW_GROUP);
        for lane in 0..ROW_GROUP {
            // past the last row: the last row again (its lanes add +0.0)
            let r = self.b.ins().iadd_imm_u(first, lane as i64);
            let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, r, hi);
            let row = self.b.ins().select(inside, r, last_row);
            valid.push(inside);
            for (c, input) in s.columns.iter().enumerate() {
                let offset = self.b.ins().imul_imm_u(row, (8 * input.width()) as i64);
                base[lane].push(self.b.ins().iadd(st.cols[c], offset));
                label[lane].push(labels[c].then(|| {
                    let at = self.address(st.cols[c], 0, Some(row), 8);
                    self.b.ins().load(F64, MemFlagsData::trusted(), at, 0)
                }));
            }
        }
        st.rows = Some(Group { base, label });
        for inst in &lp.body {
            self.compute(st, inst.dst);
        }
        // the lanes of rows past the end keep their value
        let masks: Vec<Value> = (0..2)
            .map(|k| {
                let lo = self.b.ins().bmask(types::I64, valid[2 * k]);
                let hi = self.b.ins().bmask(types::I64, valid[2 * k + 1]);
                let v = self.b.ins().scalar_to_vector(types::I64X2, lo);
                let v = self.b.ins().insertlane(v, hi, 1);
                self.b.ins().bitcast(F64X2, MemFlagsData::new(), v)
            })
            .collect();
        for acc in &lp.accumulators {
            self.accumulate(st, acc, &masks);
        }
        st.rows = None;
        let next = self.b.ins().iadd_imm_u(first, ROW_GROUP as i64);
        self.b.def_var(row_var, next);
        let in_block = self.b.ins().band_imm_u(next, (BLOCK_ROWS - 1) as i64);
        let flush = self.b.create_block();
        let cont = self.b.create_block();
        self.b.ins().brif(in_block, cont, &[], flush, &[]);
        self.b.switch_to_block(flush);
        self.flush(st, lp, flush_to, block_var);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, hi);
        let last = self.b.create_block();
        self.b.ins().brif(more, head, &[], last, &[]);

        // after the last group: the partial block, if any. The last group
        // ends at `hi` rounded up to four rows: when that is a block
        // boundary, the block was flushed in the loop (a second flush
        // would add a block of zeros, and in `Part` mode store past the
        // range's partials).
        self.b.switch_to_block(last);
        let end = self.b.use_var(row_var);
        let partial = self.b.ins().band_imm_u(end, (BLOCK_ROWS - 1) as i64);
        let tail = self.b.create_block();
        self.b.ins().brif(partial, tail, &[], after, &[]);
        self.b.switch_to_block(tail);
        self.flush(st, lp, flush_to, block_var);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
    }

    /// `lanes[e][0..4] += src[e]` (rows of the group) for every element of
    /// the source; the rows past the end add `+0.0`.
    fn accumulate(&mut self, st: &mut ArrayState<'_>, acc: &AAccumulator, masks: &[Value]) {
        let s = st.s;
        let shape = s.slot(acc.src).shape.clone();
        let dims = self.dims(st, &shape);
        let base = st.p_scratch;
        self.nest(&dims, &mut Vec::new(), &mut |t, counters| {
            let v = t.read(st, acc.src, counters);
            let h = t.halves(v);
            let pos = t.dense(st, &shape, counters, false);
            let at = t.address(base, acc.lanes, Some(pos), 32);
            let zero = t.constant(0.0, F64X2);
            for (k, &half) in h.iter().enumerate() {
                let flags = vector_flags();
                let kept = t.b.ins().bitselect(masks[k], half, zero);
                let old = t.b.ins().load(F64X2, flags, at, (16 * k) as i32);
                let new = t.b.ins().fadd(old, kept);
                t.b.ins().store(flags, new, at, (16 * k) as i32);
            }
        });
    }

    /// `total[e] += ((l0 + l1) + l2) + l3` (or the block's partial sum
    /// stored) and the lanes back to +0.0, for every accumulator of the
    /// loop; then the next block.
    fn flush(&mut self, st: &ArrayState<'_>, lp: &ALoop, to: Flush, block_var: Variable) {
        let s = st.s;
        let per_block: usize = lp
            .accumulators
            .iter()
            .map(|a| s.elements(&s.slot(a.src).shape))
            .sum();
        let block = self.b.use_var(block_var);
        let mut at_acc = 0;
        for acc in &lp.accumulators {
            let len = s.elements(&s.slot(acc.src).shape);
            let Storage::Buffer(total) = s.slot(acc.dst).storage else {
                unreachable!("accumulators are buffers")
            };
            if len == 0 {
                continue;
            }
            let base = st.p_scratch;
            let dst = match to {
                Flush::Totals => None,
                Flush::Partials(p) => {
                    let skip = self.b.ins().imul_imm_u(block, (8 * per_block) as i64);
                    let start = self.b.ins().iadd(p, skip);
                    Some(self.address(start, at_acc, None, 8))
                }
            };
            self.count_to(len, &mut |t, e| {
                let flags = MemFlagsData::trusted();
                let zero = t.b.ins().f64const(0.0);
                let lanes = t.address(base, acc.lanes, Some(e), 32);
                let mut sum: Option<Value> = None;
                for lane in 0..ROW_GROUP {
                    let off = (8 * lane) as i32;
                    let v = t.b.ins().load(F64, flags, lanes, off);
                    t.b.ins().store(flags, zero, lanes, off);
                    sum = Some(match sum {
                        Some(s) => t.b.ins().fadd(s, v),
                        None => v,
                    });
                }
                let sum = sum.expect("four lanes");
                match dst {
                    None => {
                        let at = t.address(base, total, Some(e), 8);
                        let old = t.b.ins().load(F64, flags, at, 0);
                        let new = t.b.ins().fadd(old, sum);
                        t.b.ins().store(flags, new, at, 0);
                    }
                    Some(start) => {
                        let at = t.address(start, 0, Some(e), 8);
                        t.b.ins().store(flags, sum, at, 0);
                    }
                }
            });
            at_acc += len;
        }
        let next = self.b.ins().iadd_imm_u(block, 1);
        self.b.def_var(block_var, next);
    }

    /// Stores +0.0 into `len` values of scratch from `offset`.
    fn fill_zero(&mut self, base: Value, offset: usize, len: usize) {
        if len == 0 {
            return;
        }
        self.count_to(len, &mut |t, e| {
            let zero = t.b.ins().f64const(0.0);
            let at = t.address(base, offset, Some(e), 8);
            t.b.ins().store(MemFlagsData::trusted(), zero, at, 0);
        });
    }
}
