//! Translation of a [`Schedule`] into one Cranelift function.
//!
//! The function has the C ABI
//! `fn(params: *const f64, columns: *const *const f64, n: usize, pre: *const f64, out: *mut f64)`.
//! Scalar blocks become straight-line code; each row loop runs the blocks
//! and lanes of [`crate::interpret::OrderedSum`]: two `f64x2` accumulators per
//! reduction hold lanes `[l0, l1]` and `[l2, l3]`, one iteration handles four
//! rows, and the last one to three rows of the data are added one at a
//! time, each to its lane.
//!
//! Only operations whose result is bit-identical to the value rules of
//! [`crate::graph::ops`] are inlined: `fadd fsub fmul fdiv fneg fabs sqrt`,
//! `x^2` as `x*x`, `x^-1` as `1/x`, and `min max relu sign step` as
//! compare-and-select sequences that reproduce the rules exactly (NaN
//! included). Everything else calls a host function of [`super::host`].

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind,
    Type, Value,
};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};

use self::row_loop::Range;
use super::host;
use crate::graph::{BinOp, UnOp};
use crate::schedule::{Inst, Op, Schedule, Slot};

mod arrays;
pub(crate) use arrays::ArrayMode;
mod row_loop;

const F64: Type = types::F64;
const F64X2: Type = types::F64X2;

/// Host functions declared in a module, by symbol name.
#[derive(Default)]
pub(crate) struct Hosts {
    ids: HashMap<&'static str, FuncId>,
}

impl Hosts {
    fn declare(
        &mut self,
        module: &mut JITModule,
        name: &'static str,
        arity: usize,
    ) -> Result<FuncId, Box<cranelift_module::ModuleError>> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let mut sig = module.make_signature();
        for _ in 0..arity {
            sig.params.push(AbiParam::new(F64));
        }
        sig.returns.push(AbiParam::new(F64));
        let id = module
            .declare_function(name, Linkage::Import, &sig)
            .map_err(Box::new)?;
        self.ids.insert(name, id);
        Ok(id)
    }
}

/// The slots an instruction reads.
fn operands(op: &Op) -> impl Iterator<Item = Slot> {
    let (a, b) = match *op {
        Op::Unary(_, a) => (Some(a), None),
        Op::Binary(_, a, b) => (Some(a), Some(b)),
        Op::Const(_) | Op::Param(_) | Op::Pre(_) | Op::Column(_) | Op::Rows => (None, None),
    };
    a.into_iter().chain(b)
}

/// `1/y` when `y` is a power of two whose reciprocal is exact, so that
/// `x * (1/y)` is `x / y` to the bit for every `x`.
fn exact_reciprocal(y: f64) -> Option<f64> {
    const MANTISSA: u64 = (1 << 52) - 1;
    let normal_power_of_two = y.is_normal() && y.to_bits() & MANTISSA == 0;
    let r = 1.0 / y;
    (normal_power_of_two && r != 0.0 && r.is_finite() && 1.0 / r == y).then_some(r)
}

/// Instructions computing a unary operator of `x` (of type `F64` or
/// `F64X2`) inline.
type InlineUnary = fn(&mut Translator<'_, '_>, Value, Type) -> Value;

/// How compiled code computes `op`: the instructions computing it inline,
/// or `None` for a call of its host function. The one place this choice is
/// made: [`Translator::unary`] emits by it and `super::kernel_ops` weighs
/// the operation by it. Inline only what is bit-identical to the value
/// rule.
pub(super) fn inline_unary(op: UnOp) -> Option<InlineUnary> {
    match op {
        UnOp::Neg => Some(|t, x, _| t.b.ins().fneg(x)),
        UnOp::Abs => Some(|t, x, _| t.b.ins().fabs(x)),
        UnOp::Sqrt => Some(|t, x, _| t.b.ins().sqrt(x)),
        UnOp::Relu => Some(|t, x, ty| t.relu(x, ty)),
        UnOp::Sign => Some(|t, x, ty| t.sign(x, ty)),
        UnOp::Step => Some(|t, x, ty| t.step(x, ty)),
        UnOp::Sin
        | UnOp::Cos
        | UnOp::Tan
        | UnOp::Asin
        | UnOp::Acos
        | UnOp::Atan
        | UnOp::Sinh
        | UnOp::Cosh
        | UnOp::Tanh
        | UnOp::Exp
        | UnOp::Ln
        | UnOp::Sigmoid
        | UnOp::Softplus => None,
    }
}

/// Whether compiled code computes `op` inline, for `super::kernel_ops`
/// (`pow` only for the exponents 1, 2 and -1: counted as a call).
/// [`Translator::binary`] emits every operator.
pub(super) fn inline_binary(op: BinOp) -> bool {
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Min | BinOp::Max => true,
        BinOp::Pow => false,
    }
}

/// Builds the body of one kernel function.
pub(crate) struct Translator<'a, 'b> {
    pub b: FunctionBuilder<'b>,
    module: &'a mut JITModule,
    hosts: &'a mut Hosts,
    refs: HashMap<&'static str, FuncRef>,
    ptr: Type,
    sched: &'a Schedule,
    /// Constant value of a slot, if it is a constant.
    consts: Vec<Option<f64>>,
    /// Value of each row-invariant slot.
    scalars: Vec<Option<Value>>,
    error: Option<Box<cranelift_module::ModuleError>>,
    /// The params as values (the SGD loop keeps them in registers) instead
    /// of loads from the params pointer.
    params_in: Option<Vec<Value>>,
    /// The number of rows, when the code is compiled for one data set.
    rows: Option<usize>,
}

impl<'a, 'b> Translator<'a, 'b> {
    pub(crate) fn new(
        b: FunctionBuilder<'b>,
        module: &'a mut JITModule,
        hosts: &'a mut Hosts,
        sched: &'a Schedule,
    ) -> Self {
        let ptr = module.target_config().pointer_type();
        Translator {
            b,
            module,
            hosts,
            refs: HashMap::new(),
            ptr,
            sched,
            consts: vec![None; sched.slot_count],
            scalars: vec![None; sched.slot_count],
            error: None,
            params_in: None,
            rows: None,
        }
    }

    /// Emits the function of one loop of the schedule for a range of its
    /// blocks, with the C ABI
    /// `fn(env: *const f64, columns: *const *const f64, row_lo: usize, row_hi: usize, partials: *mut f64)`:
    /// the row-invariant operands are read from `env` (indexed by slot),
    /// rows `row_lo..row_hi` are read (`row_lo` a multiple of `BLOCK_ROWS`),
    /// and the partial sum of each block `b` of the range and accumulator
    /// `j` is written to `partials[b * K + j]` (`K` accumulators, `b`
    /// counted from the range's first block).
    pub(crate) fn translate_loop(
        mut self,
        index: usize,
    ) -> Result<(), Box<cranelift_module::ModuleError>> {
        let args = self.entry();
        let [p_env, p_cols, row_lo, row_hi, p_partials] = args[..] else {
            unreachable!("the loop signature has five parameters")
        };
        let sched = self.sched;
        // Constants are known at compile time (as in the whole function:
        // `x^2` stays `x*x`); every other row-invariant operand comes from
        // `env`.
        for inst in sched.blocks.iter().flatten() {
            if let Op::Const(c) = inst.op {
                self.consts[inst.dst.index()] = Some(c);
            }
        }
        let lp = &sched.loops[index];
        let defined: std::collections::HashSet<Slot> = lp.body.iter().map(|i| i.dst).collect();
        for inst in &lp.body {
            for s in operands(&inst.op) {
                if !defined.contains(&s)
                    && self.consts[s.index()].is_none()
                    && self.scalars[s.index()].is_none()
                {
                    let v = self.b.ins().load(
                        F64,
                        MemFlagsData::trusted(),
                        p_env,
                        (8 * s.index()) as i32,
                    );
                    self.scalars[s.index()] = Some(v);
                }
            }
        }
        self.row_loop(
            lp,
            p_cols,
            Range::Part {
                row_lo,
                row_hi,
                partials: p_partials,
            },
        );
        self.b.ins().return_(&[]);
        self.finish()
    }

    /// Emits the whole function and finalizes the builder.
    pub(crate) fn translate(mut self) -> Result<(), Box<cranelift_module::ModuleError>> {
        let args = self.entry();
        let [p_params, p_cols, n, p_pre, p_out] = args[..] else {
            unreachable!("the kernel signature has five parameters")
        };
        let sched = self.sched;
        self.schedule_body(p_params, p_cols, n, p_pre);
        for (i, slot) in sched.outputs.iter().enumerate() {
            let v = self.scalar(*slot);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), v, p_out, (8 * i) as i32);
        }
        self.b.ins().return_(&[]);
        self.finish()
    }

    /// Starts the function at its entry block; returns its arguments.
    fn entry(&mut self) -> Vec<Value> {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        self.b.block_params(entry).to_vec()
    }

    /// Seals the blocks and finalizes the function, or returns the first
    /// error met while emitting it.
    fn finish(mut self) -> Result<(), Box<cranelift_module::ModuleError>> {
        self.b.seal_all_blocks();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let config = self.module.target_config();
        self.b.finalize(config);
        Ok(())
    }

    /// Emits every block and row loop of the schedule, leaving each
    /// row-invariant slot's value in `scalars`.
    fn schedule_body(&mut self, p_params: Value, p_cols: Value, n: Value, p_pre: Value) {
        let sched = self.sched;
        for (level, block) in sched.blocks.iter().enumerate() {
            if level > 0 {
                self.row_loop(&sched.loops[level - 1], p_cols, Range::All(n));
            }
            for inst in block {
                self.scalar_inst(inst, p_params, p_pre, n);
            }
        }
    }

    /// Emits the compiled SGD loop for a data set of `rows` rows and
    /// finalizes the builder, with the C ABI
    /// `fn(params: *mut f64, columns: *const *const f64, n: usize, pre: *const f64, buf: *mut f64, epochs: usize, lr: f64, momentum: f64) -> usize`.
    ///
    /// The schedule's outputs must start with the loss and its gradient
    /// (`n_params` values). Each epoch evaluates the whole schedule with the
    /// params held in registers, then steps exactly as
    /// [`crate::train::Sgd::step`] does: `p = fma(-lr, g, p)`, or with
    /// `momentum` (`buf` already holding the first step's gradient)
    /// `buf = buf*momentum + g` (two roundings) and `p = fma(-lr, buf, p)`.
    /// An epoch whose loss, gradient, new buffer or new params are not all
    /// finite is not taken: the loop stops before it. The params (and
    /// buffer) reached are stored back and the number of epochs taken is
    /// returned, so the caller can redo the stopping epoch and report it.
    pub(crate) fn translate_sgd(
        mut self,
        n_params: usize,
        momentum: bool,
        rows: usize,
    ) -> Result<(), Box<cranelift_module::ModuleError>> {
        let ptr = self.ptr;
        let args = self.entry();
        let [p_params, p_cols, _, p_pre, p_buf, epochs, lr, mu] = args[..] else {
            unreachable!("the SGD loop signature has eight parameters")
        };
        // Compiled for one data set: the row count is a constant.
        self.rows = Some(rows);
        let n = self.b.ins().iconst(ptr, rows as i64);
        let flags = MemFlagsData::trusted();
        let neg_lr = self.b.ins().fneg(lr);
        let k = if momentum { 2 * n_params } else { n_params };
        // State: the params, then (with momentum) the buffer.
        let mut state = Vec::with_capacity(k);
        for i in 0..n_params {
            state.push(self.b.ins().load(F64, flags, p_params, (8 * i) as i32));
        }
        if momentum {
            for i in 0..n_params {
                state.push(self.b.ins().load(F64, flags, p_buf, (8 * i) as i32));
            }
        }
        let head = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        for block in [head, exit] {
            self.b.append_block_param(block, ptr);
            for _ in 0..k {
                self.b.append_block_param(block, F64);
            }
        }
        let zero = self.b.ins().iconst(ptr, 0);
        let start: Vec<BlockArg> = std::iter::once(zero)
            .chain(state)
            .map(BlockArg::Value)
            .collect();
        self.b.ins().jump(head, &start);

        // while epoch < epochs
        self.b.switch_to_block(head);
        let current: Vec<Value> = self.b.block_params(head).to_vec();
        let here: Vec<BlockArg> = current.iter().copied().map(BlockArg::Value).collect();
        let more = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThan, current[0], epochs);
        self.b.ins().brif(more, body, &[], exit, &here);

        self.b.switch_to_block(body);
        let sched = self.sched;
        // The state goes to the stack for the epoch's end, so that no
        // register holds it across the row loop (where the accumulators
        // need them all); the new params then stay in registers from one
        // epoch's step to the next epoch's first use.
        let saved = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (8 * k) as u32,
            3,
        ));
        for (i, &v) in current[1..].iter().enumerate() {
            self.b.ins().stack_store(ptr, v, saved, (8 * i) as i32);
        }
        self.params_in = Some(current[1..=n_params].to_vec());
        self.scalars.iter_mut().for_each(|s| *s = None);
        self.schedule_body(p_params, p_cols, n, p_pre);
        self.params_in = None;
        let loss = self.scalar(sched.outputs[0]);
        let old: Vec<Value> = (0..k)
            .map(|i| self.b.ins().stack_load(ptr, F64, saved, (8 * i) as i32))
            .collect();
        let here: Vec<BlockArg> = std::iter::once(current[0])
            .chain(old.iter().copied())
            .map(BlockArg::Value)
            .collect();
        // A value is finite exactly when `v - v` is 0; their sum is 0 when
        // every value is finite (NaN otherwise).
        let mut check = self.b.ins().fsub(loss, loss);
        let mut next = vec![self.b.ins().iadd_imm_s(current[0], 1)];
        let mut bufs = Vec::new();
        for i in 0..n_params {
            let g = self.scalar(sched.outputs[1 + i]);
            let p = old[i];
            let step = if momentum {
                let b = self.b.ins().fmul(old[n_params + i], mu);
                let b = self.b.ins().fadd(b, g);
                bufs.push(b);
                b
            } else {
                g
            };
            let p = self.b.ins().fma(neg_lr, step, p);
            for v in [g, step, p] {
                let d = self.b.ins().fsub(v, v);
                check = self.b.ins().fadd(check, d);
            }
            next.push(p);
        }
        next.extend(bufs);
        let zero_f = self.b.ins().f64const(0.0);
        let finite = self.b.ins().fcmp(FloatCC::Equal, check, zero_f);
        let next: Vec<BlockArg> = next.into_iter().map(BlockArg::Value).collect();
        self.b.ins().brif(finite, head, &next, exit, &here);

        // Store the state reached and return the epochs taken.
        self.b.switch_to_block(exit);
        let done: Vec<Value> = self.b.block_params(exit).to_vec();
        for i in 0..n_params {
            self.b
                .ins()
                .store(flags, done[1 + i], p_params, (8 * i) as i32);
            if momentum {
                self.b
                    .ins()
                    .store(flags, done[1 + n_params + i], p_buf, (8 * i) as i32);
            }
        }
        self.b.ins().return_(&[done[0]]);
        self.finish()
    }

    fn scalar(&self, s: Slot) -> Value {
        self.scalars[s.index()].expect("scalar slots are defined before use")
    }

    fn scalar_inst(&mut self, inst: &Inst, p_params: Value, p_pre: Value, n: Value) {
        let v = match inst.op {
            Op::Const(c) => {
                self.consts[inst.dst.index()] = Some(c);
                self.b.ins().f64const(c)
            }
            Op::Param(i) => match &self.params_in {
                Some(values) => values[i],
                None => self
                    .b
                    .ins()
                    .load(F64, MemFlagsData::trusted(), p_params, (8 * i) as i32),
            },
            Op::Pre(i) => self
                .b
                .ins()
                .load(F64, MemFlagsData::trusted(), p_pre, (8 * i) as i32),
            Op::Rows => match self.rows {
                Some(rows) => {
                    self.consts[inst.dst.index()] = Some(rows as f64);
                    self.b.ins().f64const(rows as f64)
                }
                None => self.b.ins().fcvt_from_uint(F64, n),
            },
            Op::Column(_) => unreachable!("columns are read in loops only"),
            Op::Unary(op, a) => {
                let a = self.scalar(a);
                self.unary(op, a, F64)
            }
            Op::Binary(op, a, c) => {
                let (x, y) = (self.scalar(a), self.scalar(c));
                let k = self.consts[c.index()];
                self.binary(op, x, y, k, F64)
            }
        };
        self.scalars[inst.dst.index()] = Some(v);
    }

    /// A constant of type `ty` (splat for vectors).
    fn constant(&mut self, c: f64, ty: Type) -> Value {
        let s = self.b.ins().f64const(c);
        if ty == F64 {
            s
        } else {
            self.b.ins().splat(ty, s)
        }
    }

    /// `if a cc b { t } else { f }`, lane by lane for vectors.
    fn choose(&mut self, cc: FloatCC, a: Value, b: Value, t: Value, f: Value, ty: Type) -> Value {
        let c = self.b.ins().fcmp(cc, a, b);
        if ty == F64 {
            self.b.ins().select(c, t, f)
        } else {
            let mask = self.b.ins().bitcast(ty, MemFlagsData::new(), c);
            self.b.ins().bitselect(mask, t, f)
        }
    }

    /// `ops::max(a, b)` (or `ops::min`): NaN if either is NaN, else `b` when
    /// `b > a` (`b < a`), else `a`.
    fn min_max(&mut self, max: bool, a: Value, b: Value, ty: Type) -> Value {
        let cc = if max {
            FloatCC::GreaterThan
        } else {
            FloatCC::LessThan
        };
        let pick = self.choose(cc, b, a, b, a, ty);
        let nan = self.constant(f64::NAN, ty);
        self.choose(FloatCC::Unordered, a, b, nan, pick, ty)
    }

    fn host_ref(&mut self, name: &'static str, arity: usize) -> Option<FuncRef> {
        if let Some(&r) = self.refs.get(name) {
            return Some(r);
        }
        match self.hosts.declare(self.module, name, arity) {
            Ok(id) => {
                let r = self.module.declare_func_in_func(id, self.b.func);
                self.refs.insert(name, r);
                Some(r)
            }
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// A call of a host function, lane by lane for vectors.
    fn host(&mut self, name: &'static str, args: &[Value], ty: Type) -> Value {
        let Some(f) = self.host_ref(name, args.len()) else {
            // The error is reported by `translate`; keep the IR well formed.
            return args[0];
        };
        if ty == F64 {
            let call = self.b.ins().call(f, args);
            return self.b.inst_results(call)[0];
        }
        let mut lanes = [None; 2];
        for (lane, out) in lanes.iter_mut().enumerate() {
            let scalar_args: Vec<Value> = args
                .iter()
                .map(|&a| self.b.ins().extractlane(a, lane as u8))
                .collect();
            let call = self.b.ins().call(f, &scalar_args);
            *out = Some(self.b.inst_results(call)[0]);
        }
        let v = self.b.ins().scalar_to_vector(ty, lanes[0].expect("lane 0"));
        self.b.ins().insertlane(v, lanes[1].expect("lane 1"), 1)
    }

    /// `op(x)`: its inline instructions ([`inline_unary`]) or a call of
    /// its host function.
    fn unary(&mut self, op: UnOp, x: Value, ty: Type) -> Value {
        match inline_unary(op) {
            Some(inline) => inline(self, x, ty),
            None => {
                let (name, _) = host::unary(op);
                self.host(name, &[x], ty)
            }
        }
    }

    /// `relu(x)` as `ops::max(x, 0)`.
    fn relu(&mut self, x: Value, ty: Type) -> Value {
        let zero = self.constant(0.0, ty);
        self.min_max(true, x, zero, ty)
    }

    /// `sign(x)`: `x > 0 ? 1 : x < 0 ? -1 : x * 0`.
    fn sign(&mut self, x: Value, ty: Type) -> Value {
        let zero = self.constant(0.0, ty);
        let one = self.constant(1.0, ty);
        let minus = self.constant(-1.0, ty);
        let same = self.b.ins().fmul(x, zero);
        let neg = self.choose(FloatCC::LessThan, x, zero, minus, same, ty);
        self.choose(FloatCC::GreaterThan, x, zero, one, neg, ty)
    }

    /// `step(x)`: `x > 0 ? 1 : x == 0 ? 0.5 : x is NaN ? x : 0`.
    fn step(&mut self, x: Value, ty: Type) -> Value {
        let zero = self.constant(0.0, ty);
        let half = self.constant(0.5, ty);
        let one = self.constant(1.0, ty);
        let rest = self.choose(FloatCC::Unordered, x, x, x, zero, ty);
        let at_zero = self.choose(FloatCC::Equal, x, zero, half, rest, ty);
        self.choose(FloatCC::GreaterThan, x, zero, one, at_zero, ty)
    }

    fn binary(&mut self, op: BinOp, x: Value, y: Value, y_const: Option<f64>, ty: Type) -> Value {
        match op {
            BinOp::Add => self.b.ins().fadd(x, y),
            BinOp::Sub => self.b.ins().fsub(x, y),
            BinOp::Mul => self.b.ins().fmul(x, y),
            BinOp::Div => match y_const.and_then(exact_reciprocal) {
                // x / 2^k and x * 2^-k round the same real number
                Some(r) => {
                    let r = self.constant(r, ty);
                    self.b.ins().fmul(x, r)
                }
                None => self.b.ins().fdiv(x, y),
            },
            BinOp::Min => self.min_max(false, x, y, ty),
            BinOp::Max => self.min_max(true, x, y, ty),
            BinOp::Pow => match y_const {
                // The exact special cases of `ops::pow`.
                Some(2.0) => self.b.ins().fmul(x, x),
                Some(1.0) => x,
                Some(-1.0) => {
                    let one = self.constant(1.0, ty);
                    self.b.ins().fdiv(one, x)
                }
                _ => {
                    let (name, _) = host::binary(op);
                    self.host(name, &[x, y], ty)
                }
            },
        }
    }
}
