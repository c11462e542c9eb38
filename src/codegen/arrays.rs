//! Compiled array kernels: an [`ArraySchedule`] as one native function
//! `fn(params, columns, n, scratch, out)` over flat params (every param's
//! elements in layout order, row-major), vector data columns (`width`
//! values per row) and a scratch buffer the caller owns, so that the
//! function never allocates.

use std::sync::OnceLock;

use super::disasm::Listing;
use super::emit::ArrayMode;
use super::jit::{Code, JitModule};
use super::threads::{worth_threads, CHUNKS_PER_THREAD};
use super::{fast_regalloc, CodegenError, KernelError, KernelFn, Threads, MAX_KERNEL_OPS};
use crate::graph::{Graph, IdxId, NodeId};
use crate::interpret::BLOCK_ROWS;
use crate::schedule::arrays::{ArraySchedule, Storage, MAX_SCRATCH};
use crate::schedule::{Layout, Schedule};

/// A compiled array kernel. Dropping it frees its code memory.
pub struct ArrayKernel {
    main: KernelFn,
    schedule: ArraySchedule,
    listings: Vec<Listing>,
    /// The functions for threads, compiled on first use.
    parts: OnceLock<Result<PartCode, String>>,
    // Declared last: dropped after everything that refers to its code.
    _code: Code,
}

/// The two functions a threaded call runs ([`ArrayMode::Part`] on each
/// range of blocks, then [`ArrayMode::Finish`]), in code memory of their
/// own.
struct PartCode {
    part: KernelFn,
    finish: KernelFn,
    // Declared last: dropped after the function pointers.
    _code: Code,
}

/// Compiles the functions for threads of a schedule with one row loop.
fn compile_parts(schedule: &ArraySchedule) -> Result<PartCode, CodegenError> {
    let mut jit = JitModule::new(fast_regalloc(schedule.len(), None), false)?;
    let empty = Schedule::empty();
    let part = jit.define::<KernelFn>("ddx_arrays_part", &empty, |t| {
        t.translate_arrays(schedule, ArrayMode::Part)
    })?;
    let finish = jit.define::<KernelFn>("ddx_arrays_finish", &empty, |t| {
        t.translate_arrays(schedule, ArrayMode::Finish)
    })?;
    let (mut code, _) = jit.finish()?;
    Ok(PartCode {
        part: code.function(part),
        finish: code.function(finish),
        _code: code,
    })
}

impl std::fmt::Debug for ArrayKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrayKernel")
            .field("params", &self.params())
            .field("outputs", &self.outputs())
            .finish()
    }
}

/// Compiles row-invariant `outputs`, each laid out over its indices
/// (row-major; see [`ArraySchedule`]), for the params and columns of
/// `layout`. `inspect` keeps the CLIF and machine code.
pub fn compile_arrays(
    g: &Graph,
    outputs: &[(NodeId, Vec<IdxId>)],
    layout: &Layout,
    inspect: bool,
) -> Result<ArrayKernel, CodegenError> {
    let schedule = ArraySchedule::build(g, outputs, layout)?;
    let ops = schedule.len();
    if ops > MAX_KERNEL_OPS {
        return Err(CodegenError::TooLarge {
            ops,
            limit: MAX_KERNEL_OPS,
        });
    }
    if schedule.scratch_len > MAX_SCRATCH {
        return Err(CodegenError::Scratch {
            values: schedule.scratch_len,
            limit: MAX_SCRATCH,
        });
    }
    let mut jit = JitModule::new(fast_regalloc(ops, None), inspect)?;
    let empty = Schedule::empty();
    let id = jit.define::<KernelFn>("ddx_arrays", &empty, |t| {
        t.translate_arrays(&schedule, ArrayMode::Whole)
    })?;
    let (mut code, listings) = jit.finish()?;
    Ok(ArrayKernel {
        main: code.function(id),
        schedule,
        listings,
        parts: OnceLock::new(),
        _code: code,
    })
}

impl ArrayKernel {
    /// Number of values written by a call.
    pub fn outputs(&self) -> usize {
        self.schedule.output_len()
    }

    /// Number of param values expected (every element).
    pub fn params(&self) -> usize {
        self.schedule.param_len()
    }

    /// The schedule the code runs.
    pub fn schedule(&self) -> &ArraySchedule {
        &self.schedule
    }

    /// The optimised CLIF (compiled with `inspect`).
    pub fn clif(&self) -> Option<String> {
        self.listings
            .first()
            .map(|l| format!("; function {}\n{}", l.name, l.clif))
    }

    /// The machine code as assembly (compiled with `inspect`).
    pub fn asm(&self) -> Option<String> {
        self.listings
            .first()
            .map(|l| format!("; function {}\n{}", l.name, l.asm))
    }

    /// Checks a data set: one value per row (times the column's width)
    /// in every column; returns the row count.
    fn check_columns(&self, columns: &[&[f64]]) -> Result<usize, KernelError> {
        let inputs = &self.schedule.columns;
        if columns.len() != inputs.len() {
            return Err(KernelError::Columns {
                expected: inputs.len(),
                got: columns.len(),
            });
        }
        let n = match (columns.first(), inputs.first()) {
            (Some(c), Some(i)) => c.len() / i.width().max(1),
            _ => 0,
        };
        for (c, input) in columns.iter().zip(inputs) {
            let expected = n * input.width();
            if c.len() != expected {
                return Err(KernelError::ColumnLength {
                    name: input.name.clone(),
                    expected,
                    got: c.len(),
                });
            }
        }
        Ok(n)
    }

    /// Computes every output into `out` (flat: each output's elements
    /// row-major over its indices, in order). Allocates the scratch memory;
    /// [`ArrayKernel::bind`] allocates it once.
    pub fn call(
        &self,
        params: &[f64],
        columns: &[&[f64]],
        out: &mut [f64],
    ) -> Result<(), KernelError> {
        self.bind(columns)?.call(params, out)
    }

    /// Binds a data set, with scratch memory for many calls;
    /// single-threaded.
    pub fn bind<'k, 'd>(
        &'k self,
        columns: &[&'d [f64]],
    ) -> Result<ArrayBound<'k, 'd>, KernelError> {
        self.bind_threads(columns, Threads::single())
    }

    /// [`ArrayKernel::bind`] with threads: a schedule with one row loop
    /// over data of at least two blocks of rows has its blocks summed on
    /// `threads`, the block sums added in block order: the same bits for
    /// any thread count. (Schedules with more row loops, or small data,
    /// run on the calling thread.)
    pub fn bind_threads<'k, 'd>(
        &'k self,
        columns: &[&'d [f64]],
        threads: Threads,
    ) -> Result<ArrayBound<'k, 'd>, KernelError> {
        let n = self.check_columns(columns)?;
        let threadable = self.schedule.loops.len() == 1;
        let parallel = if threads.parallel() && worth_threads(n) && threadable {
            self.parts
                .get_or_init(|| compile_parts(&self.schedule).map_err(|e| e.to_string()))
                .as_ref()
                .ok()
                .map(|code| (code, threads))
        } else {
            None
        };
        Ok(ArrayBound {
            kernel: self,
            columns: columns.to_vec(),
            ptrs: columns.iter().map(|c| c.as_ptr()).collect(),
            n,
            scratch: vec![0.0; self.schedule.scratch_len],
            parallel,
        })
    }
}

/// An array kernel bound to one data set, with its scratch memory.
pub struct ArrayBound<'k, 'd> {
    kernel: &'k ArrayKernel,
    /// The columns the pointers point into, borrowed for as long.
    columns: Vec<&'d [f64]>,
    ptrs: Vec<*const f64>,
    n: usize,
    scratch: Vec<f64>,
    /// The functions for threads and the threads, for large data.
    parallel: Option<(&'k PartCode, Threads)>,
}

impl ArrayBound<'_, '_> {
    /// Number of rows of the bound data.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// The number of threads the calls run on (1 for small data).
    pub fn threads(&self) -> usize {
        self.parallel.as_ref().map_or(1, |(_, t)| t.count())
    }

    /// Computes every output into `out`; without allocating when
    /// single-threaded.
    pub fn call(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), KernelError> {
        let k = self.kernel;
        super::check_count(k.params(), params.len(), KernelError::params)?;
        super::check_count(k.outputs(), out.len(), KernelError::outputs)?;
        if let Some((code, threads)) = self.parallel.take() {
            self.call_threads(code, &threads, params, out);
            self.parallel = Some((code, threads));
            return Ok(());
        }
        // SAFETY: the function reads `params[0..P]` (P = `k.params()`,
        // checked above), `columns[c][0..n*width_c]` for each column
        // (checked by `bind`; the pointers come from slices borrowed for
        // the lifetime of `self`), reads and writes `scratch[0..S]` (S =
        // the schedule's `scratch_len`, the length allocated by `bind`) and
        // writes `out[0..O]` (O = `k.outputs()`, checked above). Subscripts
        // from data are bounds-checked in the code (a bad one reads element
        // 0 and yields NaN). It calls only `extern "C"` host functions that
        // never panic, and the code lives as long as `k`.
        unsafe {
            (k.main)(
                params.as_ptr(),
                self.ptrs.as_ptr(),
                self.n,
                self.scratch.as_mut_ptr(),
                out.as_mut_ptr(),
            );
        }
        Ok(())
    }
}

impl ArrayBound<'_, '_> {
    /// A call on threads: each chunk of blocks computes its block sums
    /// ([`ArrayMode::Part`], scratch memory of its own), the block sums are
    /// added in block order into the totals, then [`ArrayMode::Finish`]
    /// computes the outputs. `params` and `out` are checked by `call`.
    fn call_threads(
        &mut self,
        code: &PartCode,
        threads: &Threads,
        params: &[f64],
        out: &mut [f64],
    ) {
        let s = &self.kernel.schedule;
        let n = self.n;
        let lp = &s.loops[0];
        let lens: Vec<usize> = lp
            .accumulators
            .iter()
            .map(|a| s.elements(&s.slot(a.src).shape))
            .collect();
        let per_block: usize = lens.iter().sum();
        let blocks = n.div_ceil(BLOCK_ROWS);
        let chunk_blocks = blocks
            .div_ceil(threads.count().max(1) * CHUNKS_PER_THREAD)
            .max(1);
        let mut partials = vec![0.0; blocks * per_block];
        let columns = &self.columns;
        let scratch_len = s.scratch_len;
        threads.for_each_chunk(&mut partials, chunk_blocks * per_block, |i, chunk| {
            let lo = i * chunk_blocks * BLOCK_ROWS;
            let hi = (lo + chunk_blocks * BLOCK_ROWS).min(n);
            let range = [n, lo, hi];
            let ptrs: Vec<*const f64> = columns.iter().map(|c| c.as_ptr()).collect();
            let mut scratch = vec![0.0; scratch_len];
            // SAFETY: `part` reads `params[0..P]` (checked by `call`), the
            // columns' rows `lo..hi` (`hi <= n`, each column of `n` rows,
            // checked by `bind_threads`; pointers from slices borrowed by
            // `self`), `range[0..3]`, and reads and writes `scratch[0..S]`
            // (S the schedule's `scratch_len`, allocated above); it writes
            // the block sums of its `(hi - lo).div_ceil(BLOCK_ROWS)` blocks,
            // `per_block` values each, which is `chunk.len()`. It calls only
            // `extern "C"` host functions that never panic; the code lives
            // as long as the kernel.
            unsafe {
                (code.part)(
                    params.as_ptr(),
                    ptrs.as_ptr(),
                    range.as_ptr() as usize,
                    scratch.as_mut_ptr(),
                    chunk.as_mut_ptr(),
                );
            }
        });
        // the one summation order: block sums in block order, from +0.0
        let mut at = 0;
        for (acc, &len) in lp.accumulators.iter().zip(&lens) {
            let Storage::Buffer(total) = s.slot(acc.dst).storage else {
                unreachable!("accumulators are buffers")
            };
            for e in 0..len {
                let mut sum = 0.0;
                for b in 0..blocks {
                    sum += partials[b * per_block + at + e];
                }
                self.scratch[total + e] = sum;
            }
            at += len;
        }
        // SAFETY: as for the whole function in `call`: `finish` reads the
        // params, the columns (not their rows), scratch (whose totals are
        // set above) and writes `out[0..O]`, checked by `call`.
        unsafe {
            (code.finish)(
                params.as_ptr(),
                self.ptrs.as_ptr(),
                n,
                self.scratch.as_mut_ptr(),
                out.as_mut_ptr(),
            );
        }
    }
}
