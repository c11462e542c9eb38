//! Native code generation with Cranelift: a set of outputs becomes a
//! [`Kernel`], one native function with a C ABI:
//!
//! ```text
//! fn(params: *const f64, columns: *const *const f64, n: usize, pre: *const f64, out: *mut f64)
//! ```
//!
//! It reads `params[0..P]`, `columns[0..C][0..n]` and `pre[0..R]`, and writes
//! `out[0..O]`, computing every output in one pass over the rows per loop
//! of its [`Schedule`], without allocating. Data-only reductions (`mean(x)`)
//! are compiled into a second function of the same shape that computes the
//! `pre` values; [`Kernel::bind`] runs it once per data set.
//!
//! All lengths are checked in safe Rust before the one `unsafe` call.

mod arrays;
mod disasm;
mod emit;
mod host;
mod jit;
mod threads;

pub use arrays::{compile_arrays, ArrayBound, ArrayKernel};
pub use threads::Threads;

use std::sync::OnceLock;

use thiserror::Error;

use self::disasm::Listing;
use self::jit::{Code, JitModule};
use crate::differentiate;
use crate::graph::{Graph, NodeId, SymId};
use crate::program::Model;
pub use crate::schedule::KernelError;
pub(crate) use crate::schedule::Layout;
use crate::schedule::{check_columns, check_count, data_reductions, LayoutError, Op, Schedule};

/// Why a kernel could not be compiled.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// The graph does not fit the kernel's layout.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The host machine is not supported by Cranelift.
    #[error("cannot generate code for this machine: {0}")]
    Isa(String),
    /// Cranelift rejected the generated function (a bug in ddx).
    #[error("code generation failed: {0}")]
    Cranelift(String),
    /// The graph has arrays: index expressions are not compiled yet (the
    /// interpreter evaluates them).
    #[error(
        "array models are not compiled yet: `ddx diff` and `ddx check` work on them \
         (through the interpreter); compiled loops and training come next"
    )]
    Arrays,
    /// An array kernel would need more scratch memory than ddx allows.
    #[error(
        "the compiled loss and derivatives would need {values} values of scratch memory, \
         more than ddx allows (the limit is {limit}); use smaller arrays"
    )]
    Scratch {
        /// The values of scratch memory needed.
        values: usize,
        /// The most allowed (`MAX_SCRATCH`).
        limit: usize,
    },
    /// The kernel has more operations than ddx compiles.
    #[error(
        "the compiled loss and derivatives would have {ops} operations, more than ddx \
         compiles (the limit is {limit}); simplify the model or use fewer params"
    )]
    TooLarge {
        /// The kernel's weighted operation count.
        ops: usize,
        /// The most operations allowed (`MAX_KERNEL_OPS`).
        limit: usize,
    },
}

/// Most operations (schedule instructions, loop bodies counted twice for
/// their two vector halves, function calls in loops four times for their
/// four rows) a kernel may have. Cranelift's time and memory grow with the
/// function: at this size a kernel compiles in seconds.
pub(crate) const MAX_KERNEL_OPS: usize = 200_000;

/// Kernels with more operations than this are compiled with Cranelift's
/// single-pass register allocator: its time is linear in the function,
/// where the default allocator's grows quadratically with the values live
/// across the calls of long kernels (a sum of 3,000 `sin` terms took 30 s).
/// Below, the default allocator gives faster code.
pub(crate) const FAST_REGALLOC_OPS: usize = 8_000;

/// The weighted operation count of a schedule (see [`MAX_KERNEL_OPS`]).
pub(crate) fn kernel_ops(s: &Schedule) -> usize {
    let mut ops: usize = s.blocks.iter().map(Vec::len).sum();
    for l in &s.loops {
        for inst in &l.body {
            let call = match inst.op {
                Op::Unary(op, _) => emit::inline_unary(op).is_none(),
                Op::Binary(op, ..) => !emit::inline_binary(op),
                Op::Const(_) | Op::Param(_) | Op::Pre(_) | Op::Column(_) | Op::Rows => false,
            };
            ops += if call { 4 } else { 2 };
        }
        ops += 2 * l.accumulators.len();
    }
    ops
}

/// The weighted operation count of a kernel's main and prep schedules.
fn total_ops(main: &Schedule, prep: Option<&Schedule>) -> usize {
    kernel_ops(main) + prep.map_or(0, kernel_ops)
}

/// Whether a kernel of `ops` operations ([`total_ops`]) is compiled with
/// the single-pass register allocator: as `forced`
/// ([`CodegenOptions::fast_regalloc`]), or when it has more than
/// [`FAST_REGALLOC_OPS`].
fn fast_regalloc(ops: usize, forced: Option<bool>) -> bool {
    forced.unwrap_or(ops > FAST_REGALLOC_OPS)
}

/// Options of [`compile_with`].
#[derive(Clone, Copy, Debug)]
pub struct CodegenOptions {
    /// Compute data-only reductions once per data set ([`Kernel::bind`])
    /// instead of on every call.
    pub precompute_data: bool,
    /// Keep the optimised CLIF and the machine code for [`Kernel::clif`]
    /// and [`Kernel::asm`].
    pub inspect: bool,
    /// Force (`Some(true)`) or forbid the single-pass register allocator;
    /// `None` picks it for kernels of more than `FAST_REGALLOC_OPS`
    /// operations.
    pub fast_regalloc: Option<bool>,
}

impl Default for CodegenOptions {
    fn default() -> Self {
        CodegenOptions {
            precompute_data: true,
            inspect: false,
            fast_regalloc: None,
        }
    }
}

/// The native signature of a kernel function.
type KernelFn = unsafe extern "C" fn(*const f64, *const *const f64, usize, *const f64, *mut f64);

/// The native signature of one loop of a schedule over a range of rows:
/// `fn(env, columns, row_lo, row_hi, partials)` (see `emit::Translator::translate_loop`).
type LoopFn = unsafe extern "C" fn(*const f64, *const *const f64, usize, usize, *mut f64);

/// The native signature of the compiled SGD loop (see
/// `emit::Translator::translate_sgd`):
/// `fn(params, columns, n, pre, buf, epochs, lr, momentum) -> epochs taken`.
type SgdFn = unsafe extern "C" fn(
    *mut f64,
    *const *const f64,
    usize,
    *const f64,
    *mut f64,
    usize,
    f64,
    f64,
) -> usize;

/// A compiled SGD loop, in code memory of its own.
struct SgdCode {
    run: SgdFn,
    // Declared last: dropped after the function pointer.
    _code: Code,
}

/// The loops of a kernel's schedules as functions over block ranges, for
/// threads: compiled on first use, into code memory of their own.
struct LoopCode {
    main: Vec<LoopFn>,
    prep: Vec<LoopFn>,
    // Declared last: dropped after the function pointers.
    _code: Code,
}

/// A compiled kernel: native code computing a fixed list of outputs.
/// Dropping it frees its code memory.
pub struct Kernel {
    main: KernelFn,
    prep: Option<KernelFn>,
    schedule: Schedule,
    prep_schedule: Option<Schedule>,
    column_names: Vec<String>,
    n_params: usize,
    listings: Vec<Listing>,
    /// The loop functions for threads, compiled on first use.
    loops: OnceLock<Result<LoopCode, String>>,
    // Declared last: dropped after everything that refers to its code.
    _code: Code,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("params", &self.n_params)
            .field("columns", &self.column_names)
            .field("outputs", &self.schedule.outputs.len())
            .finish()
    }
}

/// Compiles `outputs` (each row-invariant: a scalar, or built from
/// reductions) into a kernel taking the inputs of `layout`.
pub fn compile(g: &Graph, outputs: &[NodeId], layout: &Layout) -> Result<Kernel, CodegenError> {
    compile_with(g, outputs, layout, &CodegenOptions::default())
}

/// [`compile`] with options.
pub fn compile_with(
    g: &Graph,
    outputs: &[NodeId],
    layout: &Layout,
    options: &CodegenOptions,
) -> Result<Kernel, CodegenError> {
    let arrays = crate::schedule::arrays::needs_arrays(g, outputs);
    if arrays {
        return Err(CodegenError::Arrays);
    }
    let pre = if options.precompute_data {
        data_reductions(g, outputs)
    } else {
        Vec::new()
    };
    let prep_schedule = if pre.is_empty() {
        None
    } else {
        Some(Schedule::build(g, &pre, layout, &[])?)
    };
    let schedule = Schedule::build(g, outputs, layout, &pre)?;
    let ops = total_ops(&schedule, prep_schedule.as_ref());
    if ops > MAX_KERNEL_OPS {
        return Err(CodegenError::TooLarge {
            ops,
            limit: MAX_KERNEL_OPS,
        });
    }

    let mut jit = JitModule::new(fast_regalloc(ops, options.fast_regalloc), options.inspect)?;
    let prep_id = match &prep_schedule {
        Some(s) => Some(jit.define::<KernelFn>("ddx_prep", s, |t| t.translate())?),
        None => None,
    };
    let main_id = jit.define::<KernelFn>("ddx_kernel", &schedule, |t| t.translate())?;
    let (mut code, listings) = jit.finish()?;
    let main = code.function(main_id);
    let prep = prep_id.map(|id| code.function(id));
    Ok(Kernel {
        main,
        prep,
        column_names: schedule.column_names.clone(),
        n_params: layout.params.len(),
        schedule,
        prep_schedule,
        listings,
        loops: OnceLock::new(),
        _code: code,
    })
}

/// Compiles every loop of `main` and `prep` as a function over a range of
/// blocks (`emit::Translator::translate_loop`).
fn compile_loops(main: &Schedule, prep: Option<&Schedule>) -> Result<LoopCode, CodegenError> {
    let mut jit = JitModule::new(fast_regalloc(total_ops(main, prep), None), false)?;
    let mut define = |which: usize, sched: &Schedule| -> Result<Vec<_>, CodegenError> {
        (0..sched.loops.len())
            .map(|index| {
                let name = format!("ddx_loop_{which}_{index}");
                jit.define::<LoopFn>(&name, sched, |t| t.translate_loop(index))
            })
            .collect()
    };
    let main_ids = define(0, main)?;
    let prep_ids = match prep {
        Some(prep) => define(1, prep)?,
        None => Vec::new(),
    };
    let (mut code, _) = jit.finish()?;
    Ok(LoopCode {
        main: main_ids.into_iter().map(|id| code.function(id)).collect(),
        prep: prep_ids.into_iter().map(|id| code.function(id)).collect(),
        _code: code,
    })
}

/// Compiles the SGD loop over `main` for `rows` rows (see
/// `emit::Translator::translate_sgd`).
fn compile_sgd(
    main: &Schedule,
    n_params: usize,
    momentum: bool,
    rows: usize,
    inspect: bool,
) -> Result<(SgdCode, Option<Listing>), CodegenError> {
    let mut jit = JitModule::new(fast_regalloc(total_ops(main, None), None), inspect)?;
    let id = jit.define::<SgdFn>("ddx_sgd", main, |t| {
        t.translate_sgd(n_params, momentum, rows)
    })?;
    let (mut code, listings) = jit.finish()?;
    let code = SgdCode {
        run: code.function(id),
        _code: code,
    };
    Ok((code, listings.into_iter().next()))
}

/// Column pointers and precomputed values of one data set, on the stack
/// for small kernels.
const STACK: usize = 16;

/// `len` values for one kernel call: on the stack when there are at most
/// [`STACK`] of them, so that calls of small kernels do not allocate.
struct Scratch<T> {
    stack: [T; STACK],
    heap: Vec<T>,
    len: usize,
}

impl<T: Copy> Scratch<T> {
    /// `len` copies of `fill`.
    fn new(len: usize, fill: T) -> Scratch<T> {
        let heap = if len <= STACK {
            Vec::new()
        } else {
            vec![fill; len]
        };
        Scratch {
            stack: [fill; STACK],
            heap,
            len,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        if self.len <= STACK {
            &mut self.stack[..self.len]
        } else {
            &mut self.heap
        }
    }
}

impl Scratch<*const f64> {
    /// The base pointer of each column.
    fn columns(columns: &[&[f64]]) -> Scratch<*const f64> {
        let mut ptrs = Scratch::new(columns.len(), std::ptr::null());
        for (p, c) in ptrs.as_mut_slice().iter_mut().zip(columns) {
            *p = c.as_ptr();
        }
        ptrs
    }
}

impl Kernel {
    /// Number of outputs written by [`Kernel::call`].
    pub fn outputs(&self) -> usize {
        self.schedule.outputs.len()
    }

    /// Number of param values expected.
    pub fn params(&self) -> usize {
        self.n_params
    }

    /// Number of data columns expected.
    pub fn columns(&self) -> usize {
        self.column_names.len()
    }

    /// The schedule of the main function.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The schedule of the data-only reductions, if there are any.
    pub fn prep_schedule(&self) -> Option<&Schedule> {
        self.prep_schedule.as_ref()
    }

    /// The optimised CLIF of every function (compiled with `inspect`).
    pub fn clif(&self) -> Option<String> {
        self.listing(|l| &l.clif)
    }

    /// The machine code as assembly (compiled with `inspect`).
    pub fn asm(&self) -> Option<String> {
        self.listing(|l| &l.asm)
    }

    /// The optimised CLIF and the assembly of the SGD loop that
    /// [`Bound::sgd`] compiles for data of `rows` rows (with momentum or
    /// not), for `ddx emit`.
    pub fn sgd_listing(
        &self,
        rows: usize,
        momentum: bool,
    ) -> Result<(String, String), CodegenError> {
        let (_, listing) = compile_sgd(&self.schedule, self.n_params, momentum, rows, true)?;
        let l = listing.expect("compiled with inspect");
        Ok((l.clif, l.asm))
    }

    fn listing(&self, part: impl Fn(&Listing) -> &String) -> Option<String> {
        if self.listings.is_empty() {
            return None;
        }
        let mut text = String::new();
        for l in &self.listings {
            text.push_str(&format!("; function {}\n", l.name));
            text.push_str(part(l));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        Some(text)
    }

    /// Checks the lengths of a data set; returns the row count.
    fn check_columns(&self, columns: &[&[f64]]) -> Result<usize, KernelError> {
        check_columns(columns, self.column_names.iter().map(String::as_str))
    }

    fn check_call(&self, params: &[f64], out: &[f64]) -> Result<(), KernelError> {
        check_count(self.n_params, params.len(), KernelError::params)?;
        check_count(self.outputs(), out.len(), KernelError::outputs)
    }

    /// Computes every output into `out` (`out.len()` must be
    /// [`Kernel::outputs`]). Data-only reductions are computed on each call;
    /// use [`Kernel::bind`] to compute them once per data set. Does not
    /// allocate unless the kernel has more than 16 columns or data-only
    /// reductions.
    pub fn call(
        &self,
        params: &[f64],
        columns: &[&[f64]],
        out: &mut [f64],
    ) -> Result<(), KernelError> {
        let n = self.check_columns(columns)?;
        self.check_call(params, out)?;
        let mut ptrs = Scratch::columns(columns);
        let ptrs = ptrs.as_mut_slice();
        let mut pre = Scratch::new(self.schedule.pre.len(), 0.0);
        let pre = pre.as_mut_slice();
        if let Some(prep) = self.prep {
            run(prep, &[], ptrs, n, &[], pre);
        }
        run(self.main, params, ptrs, n, pre, out);
        Ok(())
    }

    /// Binds a data set: checks it and computes its data-only reductions
    /// once, for many cheap calls. Single-threaded.
    pub fn bind<'k, 'd>(&'k self, columns: &[&'d [f64]]) -> Result<Bound<'k, 'd>, KernelError> {
        self.bind_threads(columns, Threads::single())
    }

    /// [`Kernel::bind`] with threads: data sets of at least
    /// `threads::MIN_BLOCKS` blocks of rows have every loop's blocks
    /// computed on `threads`, and the block partial sums combined in block
    /// order, so the results are the same bits for any thread count.
    pub fn bind_threads<'k, 'd>(
        &'k self,
        columns: &[&'d [f64]],
        threads: Threads,
    ) -> Result<Bound<'k, 'd>, KernelError> {
        let n = self.check_columns(columns)?;
        let ptrs: Vec<*const f64> = columns.iter().map(|c| c.as_ptr()).collect();
        // Threads only pay for many rows; the loop functions are compiled
        // then (if they cannot be, the whole-kernel function runs).
        let loops = if threads.parallel() && threads::worth_threads(n) {
            self.loops
                .get_or_init(|| {
                    compile_loops(&self.schedule, self.prep_schedule.as_ref())
                        .map_err(|e| e.to_string())
                })
                .as_ref()
                .ok()
        } else {
            None
        };
        let threads = loops.map(|_| threads);
        let mut pre = vec![0.0; self.schedule.pre.len()];
        if let (Some(prep_schedule), Some(loops), Some(threads)) =
            (&self.prep_schedule, loops, &threads)
        {
            threads::run(
                prep_schedule,
                &loops.prep,
                threads,
                &[],
                (columns, n),
                &[],
                &mut pre,
            );
        } else if let Some(prep) = self.prep {
            run(prep, &[], &ptrs, n, &[], &mut pre);
        }
        Ok(Bound {
            kernel: self,
            columns: columns.to_vec(),
            ptrs,
            pre,
            n,
            parallel: loops.zip(threads),
            sgd: [OnceLock::new(), OnceLock::new()],
        })
    }
}

/// A kernel bound to one data set (see [`Kernel::bind`]).
pub struct Bound<'k, 'd> {
    kernel: &'k Kernel,
    columns: Vec<&'d [f64]>,
    ptrs: Vec<*const f64>,
    pre: Vec<f64>,
    n: usize,
    /// The loop functions and the threads, when the data is large enough.
    parallel: Option<(&'k LoopCode, Threads)>,
    /// The SGD loops (plain, with momentum) for this data, compiled on
    /// first use.
    sgd: [OnceLock<Result<SgdCode, String>>; 2],
}

impl Bound<'_, '_> {
    /// Number of rows of the bound data.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// The precomputed data-only reductions.
    pub fn precomputed(&self) -> &[f64] {
        &self.pre
    }

    /// The number of threads the calls run on (1 for small data).
    pub fn threads(&self) -> usize {
        self.parallel.as_ref().map_or(1, |(_, t)| t.count())
    }

    /// Computes every output into `out`; without allocating when
    /// single-threaded.
    pub fn call(&self, params: &[f64], out: &mut [f64]) -> Result<(), KernelError> {
        self.kernel.check_call(params, out)?;
        match &self.parallel {
            Some((loops, threads)) => threads::run(
                &self.kernel.schedule,
                &loops.main,
                threads,
                params,
                (&self.columns, self.n),
                &self.pre,
                out,
            ),
            None => run(self.kernel.main, params, &self.ptrs, self.n, &self.pre, out),
        }
        Ok(())
    }
}

impl Bound<'_, '_> {
    /// Runs up to `epochs` epochs of SGD (`momentum` 0: `p = p - lr*g`;
    /// otherwise PyTorch's momentum with `buf` already holding the buffer
    /// after at least one step) in compiled code, with the kernel's first
    /// outputs taken as the loss and its gradient. Stops before the first
    /// epoch whose loss, gradient or new params (or buffer) would not all be
    /// finite. Returns the number of epochs taken; `params` (and `buf`) hold
    /// the state reached, the same bits as the same steps taken one
    /// [`Bound::call`] at a time.
    ///
    /// The loop is compiled on first use (for this data's row count, a
    /// constant in the code), once per `Bound` and momentum kind.
    /// Returns 0 without running when the loop cannot be used: threads
    /// (large data; the per-epoch call dominates there), a kernel whose
    /// outputs are not a loss and a gradient, or a loop that did not compile.
    pub fn sgd(
        &self,
        params: &mut [f64],
        buf: &mut [f64],
        epochs: usize,
        lr: f64,
        momentum: f64,
    ) -> usize {
        let k = self.kernel;
        let with_momentum = momentum != 0.0;
        if self.parallel.is_some()
            || params.len() != k.n_params
            || k.schedule.outputs.len() <= k.n_params
            || (with_momentum && buf.len() != k.n_params)
            || epochs == 0
        {
            return 0;
        }
        let code = self.sgd[usize::from(with_momentum)].get_or_init(|| {
            compile_sgd(&k.schedule, k.n_params, with_momentum, self.n, false)
                .map(|(code, _)| code)
                .map_err(|e| e.to_string())
        });
        let Ok(code) = code else { return 0 };
        let taken;
        // SAFETY: the loop reads and writes `params[0..P]` and (with
        // momentum) `buf[0..P]`, P the kernel's param count, checked equal
        // to both lengths above; it reads the columns (each pointer from a
        // live slice of exactly `n` values, checked by `bind_threads`) and
        // `pre` (computed for this kernel by `bind_threads`) exactly as the
        // kernel function does. It allocates nothing and calls only
        // `extern "C"` host functions that never panic. The code stays
        // allocated while `self.kernel` is alive, which the borrow ensures.
        unsafe {
            taken = (code.run)(
                params.as_mut_ptr(),
                self.ptrs.as_ptr(),
                self.n,
                self.pre.as_ptr(),
                buf.as_mut_ptr(),
                epochs,
                lr,
                momentum,
            );
        }
        taken
    }
}

impl Bound<'_, '_> {
    /// Whether [`Bound::sgd`] has compiled its loop for this momentum kind.
    pub fn sgd_compiled(&self, momentum: f64) -> bool {
        self.sgd[usize::from(momentum != 0.0)]
            .get()
            .is_some_and(|c| c.is_ok())
    }
}

/// Calls a kernel function. Every caller has checked that `params`,
/// `columns` (each pointing to `n` values), `pre` and `out` have the lengths
/// the function was compiled for.
fn run(
    f: KernelFn,
    params: &[f64],
    columns: &[*const f64],
    n: usize,
    pre: &[f64],
    out: &mut [f64],
) {
    // SAFETY: `f` was compiled from a schedule that reads `params[i]` only
    // for i < its param count, `columns[c][r]` only for c < its column
    // count and r < n, `pre[i]` for i < its precomputed count, and writes
    // `out[i]` for i < its output count. The callers checked these counts
    // against the slices (`check_call`, `check_columns`; the prep function
    // reads no params or pre values and writes exactly `pre.len()` values),
    // and every column pointer comes from a live slice of exactly n values
    // borrowed for the duration of the call. The code stays allocated while
    // the owning `Kernel` is alive, which the borrow of `f`'s owner ensures.
    // Host functions called by the code are `extern "C"` and never panic.
    unsafe {
        f(
            params.as_ptr(),
            columns.as_ptr(),
            n,
            pre.as_ptr(),
            out.as_mut_ptr(),
        )
    }
}

/// The layout of a model: its params and data columns in declaration order.
pub fn model_layout(model: &Model) -> Layout {
    Layout {
        params: model.params.iter().map(|p| p.sym).collect(),
        columns: model.data.iter().map(|d| d.sym).collect(),
    }
}

/// The Hessian of a model's loss: `H[i][j] = d(grad[i])/d(param j)`,
/// row-major, from the gradient nodes.
pub fn hessian(g: &mut Graph, gradient: &[NodeId], params: &[SymId]) -> Vec<NodeId> {
    gradient
        .iter()
        .flat_map(|&d| differentiate::gradient(g, d, params))
        .collect()
}

/// The initial param values of a model, in declaration order.
pub fn initial_params(model: &Model) -> Vec<f64> {
    model
        .params
        .iter()
        .flat_map(|p| p.init.iter().copied())
        .collect()
}

/// The data columns of a model, in declaration order.
pub fn model_columns(model: &Model) -> Vec<&[f64]> {
    model.data.iter().map(|d| d.values.as_slice()).collect()
}
