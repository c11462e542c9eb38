//! Compiled array kernels: an [`ArraySchedule`] as one native function
//! `fn(params, columns, n, scratch, out)` over flat params (every param's
//! elements in layout order, row-major), vector data columns (`width`
//! values per row) and a scratch buffer the caller owns, so that the
//! function never allocates.

use super::disasm::Listing;
use super::jit::{Code, JitModule};
use super::{fast_regalloc, CodegenError, KernelError, KernelFn, MAX_KERNEL_OPS};
use crate::graph::{Graph, IdxId, NodeId};
use crate::schedule::arrays::{ArraySchedule, MAX_SCRATCH};
use crate::schedule::{Layout, Schedule};

/// A compiled array kernel. Dropping it frees its code memory.
pub struct ArrayKernel {
    main: KernelFn,
    schedule: ArraySchedule,
    listings: Vec<Listing>,
    // Declared last: dropped after everything that refers to its code.
    _code: Code,
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
    let id = jit.define::<KernelFn>("ddx_arrays", &empty, |t| t.translate_arrays(&schedule))?;
    let (mut code, listings) = jit.finish()?;
    Ok(ArrayKernel {
        main: code.function(id),
        schedule,
        listings,
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

    /// Binds a data set, with scratch memory for many calls.
    pub fn bind<'k, 'd>(
        &'k self,
        columns: &[&'d [f64]],
    ) -> Result<ArrayBound<'k, 'd>, KernelError> {
        let n = self.check_columns(columns)?;
        Ok(ArrayBound {
            kernel: self,
            _columns: columns.to_vec(),
            ptrs: columns.iter().map(|c| c.as_ptr()).collect(),
            n,
            scratch: vec![0.0; self.schedule.scratch_len],
        })
    }
}

/// An array kernel bound to one data set, with its scratch memory.
pub struct ArrayBound<'k, 'd> {
    kernel: &'k ArrayKernel,
    /// The columns the pointers point into, borrowed for as long.
    _columns: Vec<&'d [f64]>,
    ptrs: Vec<*const f64>,
    n: usize,
    scratch: Vec<f64>,
}

impl ArrayBound<'_, '_> {
    /// Number of rows of the bound data.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Computes every output into `out`, without allocating.
    pub fn call(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), KernelError> {
        let k = self.kernel;
        super::check_count(k.params(), params.len(), KernelError::params)?;
        super::check_count(k.outputs(), out.len(), KernelError::outputs)?;
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
