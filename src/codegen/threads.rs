//! Kernels on several threads.
//!
//! The rows are cut into the blocks of the one summation order
//! ([`crate::interpret::OrderedSum`]): each loop of a schedule is compiled a
//! second time as a function over a range of blocks that stores each
//! block's partial sum (`((l0 + l1) + l2) + l3`) instead of adding it to a
//! total. The blocks are shared out to the threads in contiguous chunks;
//! then the partial sums are added in block order, starting from `+0.0`,
//! exactly as the single-threaded kernel and the interpreter add them. The
//! scalar blocks between the loops run here, with the value rules of
//! [`crate::graph::ops`] (which the JIT reproduces bit for bit). So a call
//! gives the same bits on any number of threads.
//!
//! The threads are a persistent pool (rayon), created once per bound data
//! set, not per call; data sets of fewer than [`MIN_BLOCKS`] blocks run on
//! the calling thread only.

use rayon::prelude::*;

use super::{LoopFn, Scratch};
use crate::interpret::BLOCK_ROWS;
use crate::schedule::{Op, Schedule};

/// Data sets with fewer blocks than this run single-threaded.
pub(super) const MIN_BLOCKS: usize = 2;

/// Chunks of blocks per thread: several, so that a thread slowed down by
/// other work on the machine does not hold up the call.
pub(super) const CHUNKS_PER_THREAD: usize = 4;

/// Whether `n` rows are worth sharing out to threads.
pub(crate) fn worth_threads(n: usize) -> bool {
    n.div_ceil(BLOCK_ROWS) >= MIN_BLOCKS
}

/// The threads a bound kernel runs on: a persistent pool, or none (the
/// calling thread only).
pub struct Threads {
    pool: Option<rayon::ThreadPool>,
    count: usize,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads")
            .field("count", &self.count)
            .finish()
    }
}

impl Threads {
    /// The calling thread only.
    pub fn single() -> Threads {
        Threads {
            pool: None,
            count: 1,
        }
    }

    /// `count` threads (the calling thread waits while they work); 0 or 1
    /// is the calling thread only. Fails if the threads cannot be started.
    pub fn new(count: usize) -> Result<Threads, String> {
        if count <= 1 {
            return Ok(Threads::single());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(count)
            .thread_name(|i| format!("ddx-kernel-{i}"))
            .build()
            .map_err(|e| format!("cannot start {count} threads: {e}"))?;
        Ok(Threads {
            pool: Some(pool),
            count,
        })
    }

    /// `count` threads for a data set of `n` rows: the calling thread only
    /// if `n` rows are too few to share out (no threads are started then).
    pub fn for_rows(count: usize, n: usize) -> Result<Threads, String> {
        if worth_threads(n) {
            Threads::new(count)
        } else {
            Ok(Threads::single())
        }
    }

    /// The number of threads the machine runs at once (1 if unknown).
    pub fn available() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The number of threads.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether there is more than one thread.
    pub fn parallel(&self) -> bool {
        self.pool.is_some()
    }

    /// Calls `work(i, chunk)` for the `i`th chunk of `chunk` values of
    /// `data`, on the pool's threads (or the calling thread).
    pub(super) fn for_each_chunk<T: Send>(
        &self,
        data: &mut [T],
        chunk: usize,
        work: impl Fn(usize, &mut [T]) + Sync + Send,
    ) {
        let chunk = chunk.max(1);
        match &self.pool {
            Some(pool) => pool.install(|| {
                data.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, c)| work(i, c))
            }),
            None => data
                .chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, c)| work(i, c)),
        }
    }
}

/// Runs one loop function over rows `lo..hi` (whole blocks from `lo`, a
/// multiple of `BLOCK_ROWS`), storing the partial sums of its blocks to
/// `partials` (`k` per block).
fn run_loop(
    f: LoopFn,
    env: &[f64],
    columns: &[&[f64]],
    lo: usize,
    hi: usize,
    k: usize,
    partials: &mut [f64],
) {
    let blocks = (hi.saturating_sub(lo)).div_ceil(BLOCK_ROWS);
    let fits = lo.is_multiple_of(BLOCK_ROWS)
        && lo <= hi
        && blocks * k == partials.len()
        && columns.iter().all(|c| c.len() >= hi);
    if !fits {
        // Not reachable from `run`; never read out of bounds.
        partials.fill(f64::NAN);
        return;
    }
    let mut ptrs = Scratch::columns(columns);
    let ptrs = ptrs.as_mut_slice();
    // SAFETY: `f` was compiled from one loop of the schedule whose
    // `slot_count` is `env.len()` (checked by `run`): it reads `env[s]` only
    // for slots s of that schedule, `columns[c][r]` only for c below the
    // schedule's column count (the kernel checked `columns` against it) and
    // lo <= r < hi (every column has at least `hi` values, checked above),
    // and writes `partials[b * k + j]` for the `blocks` blocks of the range
    // and j < k, its accumulator count: `blocks * k == partials.len()`,
    // checked above. All pointers come from live slices borrowed for the
    // call; the code stays allocated while the `Kernel` owning its
    // `LoopCode` lives, which the borrow of `f`'s owner ensures. Host
    // functions called by the code are `extern "C"` and never panic.
    unsafe { f(env.as_ptr(), ptrs.as_ptr(), lo, hi, partials.as_mut_ptr()) }
}

/// Evaluates `sched` with its loops on `threads`: the same contract and
/// the same bits as the whole-kernel function. The caller has checked
/// `params`, `columns` (all of `n` rows), `pre` and `out` against the
/// schedule; `loops` are the schedule's loop functions; `rows` are the
/// columns and their row count.
pub(crate) fn run(
    sched: &Schedule,
    loops: &[LoopFn],
    threads: &Threads,
    params: &[f64],
    rows: (&[&[f64]], usize),
    pre: &[f64],
    out: &mut [f64],
) {
    let (columns, n) = rows;
    let mut env = vec![0.0f64; sched.slot_count];
    let blocks = n.div_ceil(BLOCK_ROWS);
    let chunk_blocks = blocks
        .div_ceil(threads.count.max(1) * CHUNKS_PER_THREAD)
        .max(1);
    let mut partials = Vec::new();
    for (level, block) in sched.blocks.iter().enumerate() {
        if level > 0 {
            let lp = &sched.loops[level - 1];
            let k = lp.accumulators.len();
            if k > 0 {
                let Some(&f) = loops.get(level - 1) else {
                    out.fill(f64::NAN);
                    return;
                };
                partials.clear();
                partials.resize(blocks * k, 0.0);
                let env_now = &env;
                let work = |(i, chunk): (usize, &mut [f64])| {
                    let lo = i * chunk_blocks * BLOCK_ROWS;
                    let hi = (lo + chunk_blocks * BLOCK_ROWS).min(n);
                    run_loop(f, env_now, columns, lo, hi, k, chunk);
                };
                match &threads.pool {
                    Some(pool) => pool.install(|| {
                        partials
                            .par_chunks_mut(chunk_blocks * k)
                            .enumerate()
                            .for_each(work)
                    }),
                    None => partials
                        .chunks_mut(chunk_blocks * k)
                        .enumerate()
                        .for_each(work),
                }
                // The one summation order: block partials in block order.
                for (j, acc) in lp.accumulators.iter().enumerate() {
                    let mut total = 0.0;
                    for b in 0..blocks {
                        total += partials[b * k + j];
                    }
                    env[acc.dst.index()] = total;
                }
            }
        }
        for inst in block {
            let get = |s: crate::schedule::Slot| env[s.index()];
            let v = match inst.op {
                Op::Const(c) => c,
                Op::Param(i) => params.get(i).copied().unwrap_or(f64::NAN),
                Op::Pre(i) => pre.get(i).copied().unwrap_or(f64::NAN),
                Op::Rows => n as f64,
                Op::Column(_) => f64::NAN,
                Op::Unary(op, a) => op.eval(get(a)),
                Op::Binary(op, a, b) => op.eval(get(a), get(b)),
            };
            env[inst.dst.index()] = v;
        }
    }
    for (o, s) in out.iter_mut().zip(&sched.outputs) {
        *o = env[s.index()];
    }
}
