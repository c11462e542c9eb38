//! The whole pipeline for a model: differentiate, simplify, compile, and an
//! [`Objective`] over the compiled kernels for the training driver.

use std::time::Instant;

use crate::codegen::{
    compile, compile_arrays, model_layout, ArrayBound, ArrayKernel, Bound, CodegenError, Kernel,
    KernelError, Threads,
};
use crate::diagnostic::Diagnostic;
use crate::differentiate::{gradient, gradient_indexed, hessian_indexed, Partial};
use crate::graph::{IdxId, NodeId, Reduction, SymId};
use crate::program::Model;
use crate::simplify::simplify;
use crate::train::{Objective, Sgd};

/// The simplified loss, gradient and (for Newton) Hessian of a model.
#[derive(Clone, Debug)]
pub struct Derived {
    /// The loss.
    pub loss: NodeId,
    /// d loss / d param, in declaration order.
    pub gradient: Vec<NodeId>,
    /// Row-major Hessian, when asked for.
    pub hessian: Option<Vec<NodeId>>,
}

impl Derived {
    /// Loss, then gradient, then Hessian: the kernel's outputs in order.
    pub fn outputs(&self) -> Vec<NodeId> {
        let mut out = vec![self.loss];
        out.extend(&self.gradient);
        if let Some(h) = &self.hessian {
            out.extend(h);
        }
        out
    }
}

/// Differentiates a model's loss with respect to every param (and again for
/// the Hessian when `hessian` is set) and simplifies everything together.
pub fn derive(model: &mut Model, hessian: bool) -> Derived {
    let params: Vec<SymId> = model.params.iter().map(|p| p.sym).collect();
    let g = &mut model.graph;
    let raw_grad = gradient(g, model.loss.node, &params);
    let mut roots = vec![model.loss.node];
    roots.extend(&raw_grad);
    let simplified = simplify(g, &roots);
    let loss = simplified[0];
    let grad = simplified[1..].to_vec();
    let hessian = hessian.then(|| {
        let rows: Vec<NodeId> = grad.iter().flat_map(|&d| gradient(g, d, &params)).collect();
        simplify(g, &rows)
    });
    Derived {
        loss,
        gradient: grad,
        hessian,
    }
}

/// A model's compiled kernel: outputs are the loss, the gradient and, when
/// compiled for Newton, the Hessian.
pub struct Compiled {
    /// The compiled kernel.
    pub kernel: Kernel,
    /// The nodes of the loss, gradient and Hessian the kernel computes.
    pub derived: Derived,
    /// Wall time from the checked model to a callable kernel, in seconds.
    pub seconds: f64,
}

/// Differentiates, simplifies and compiles a model.
pub fn compile_model(model: &mut Model, hessian: bool) -> Result<Compiled, CodegenError> {
    let start = Instant::now();
    let derived = derive(model, hessian);
    let kernel = compile(&model.graph, &derived.outputs(), &model_layout(model))?;
    Ok(Compiled {
        kernel,
        derived,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Epochs a [`KernelObjective`] runs one kernel call at a time before it
/// compiles its SGD loop: compiling costs about as much as 20,000 to 40,000
/// epochs of the per-epoch path's overhead (docs/PERFORMANCE.md), so short
/// runs never pay for it.
pub const LOOP_AFTER_EPOCHS: usize = 20_000;

/// The training objective over a compiled kernel bound to the model's data.
pub struct KernelObjective<'k> {
    bound: Bound<'k, 'k>,
    params: usize,
    has_hessian: bool,
    out: Vec<f64>,
    model: &'k Model,
    /// Evaluations so far (one per epoch of the per-epoch path).
    evals: usize,
}

impl<'k> KernelObjective<'k> {
    /// Binds `compiled` to the data of `model` (computing data-only
    /// reductions once), single-threaded.
    pub fn new(compiled: &'k Compiled, model: &'k Model) -> Result<Self, KernelError> {
        Self::with_threads(compiled, model, Threads::single())
    }

    /// [`KernelObjective::new`] on `threads` (see [`Kernel::bind_threads`]):
    /// the data is not copied; every epoch reads the model's columns.
    pub fn with_threads(
        compiled: &'k Compiled,
        model: &'k Model,
        threads: Threads,
    ) -> Result<Self, KernelError> {
        let columns: Vec<&'k [f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
        let bound = compiled.kernel.bind_threads(&columns, threads)?;
        Ok(KernelObjective {
            bound,
            params: model.params.iter().map(|p| p.init.len()).sum(),
            has_hessian: compiled.derived.hessian.is_some(),
            out: vec![0.0; compiled.kernel.outputs()],
            model,
            evals: 0,
        })
    }
}

impl Objective for KernelObjective<'_> {
    fn eval(&mut self, params: &[f64], grad: &mut [f64]) -> f64 {
        self.evals = self.evals.saturating_add(1);
        if self.bound.call(params, &mut self.out).is_err() {
            return f64::NAN;
        }
        grad.copy_from_slice(&self.out[1..=self.params]);
        self.out[0]
    }

    fn eval_hessian(&mut self, params: &[f64], grad: &mut [f64], hess: &mut [f64]) -> Option<f64> {
        if !self.has_hessian {
            return None;
        }
        let loss = self.eval(params, grad);
        hess.copy_from_slice(&self.out[1 + self.params..]);
        Some(loss)
    }

    /// Where in the model the first non-finite value comes from: a note
    /// placed on its `let` or `loss`, with the values that made it.
    fn diagnose(&mut self, params: &[f64]) -> Option<Diagnostic> {
        crate::fault::locate(self.model, params).map(|f| f.diagnostic())
    }

    /// Tiered: the SGD loop is compiled ([`Bound::sgd`]) for a stretch of
    /// at least [`LOOP_AFTER_EPOCHS`] epochs, or once this objective has
    /// evaluated that many epochs one call at a time; until then every
    /// epoch is one kernel call.
    fn advance_sgd(&mut self, params: &mut [f64], sgd: &mut Sgd, epochs: usize) -> usize {
        let Some((lr, momentum, buf)) = sgd.state() else {
            return 0;
        };
        let worth = epochs >= LOOP_AFTER_EPOCHS || self.evals >= LOOP_AFTER_EPOCHS;
        if !worth && !self.bound.sgd_compiled(momentum) {
            return 0;
        }
        self.bound.sgd(params, buf, epochs, lr, momentum)
    }
}

impl KernelObjective<'_> {
    /// The number of threads each evaluation runs on.
    pub fn threads(&self) -> usize {
        self.bound.threads()
    }
}

/// The simplified loss and gradient of an array model.
#[derive(Clone, Debug)]
pub struct ArrayDerived {
    /// The loss.
    pub loss: NodeId,
    /// d loss / d param, in declaration order, each with the indices
    /// naming the param's element.
    pub gradient: Vec<Partial>,
    /// For Newton: `hessian[a][b]` is d²loss / d param a d param b, over
    /// the element indices of `a` then those of `b`.
    pub hessian: Option<Vec<Vec<Partial>>>,
}

impl ArrayDerived {
    /// The loss, then every gradient laid out over its element indices:
    /// an array kernel's outputs in order (flat, the gradient of every
    /// element in the order of the flat params).
    pub fn outputs(&self) -> Vec<(NodeId, Vec<IdxId>)> {
        let mut out = vec![(self.loss, Vec::new())];
        out.extend(self.gradient.iter().map(|p| (p.node, p.indices.clone())));
        for row in self.hessian.iter().flatten() {
            out.extend(row.iter().map(|p| (p.node, p.indices.clone())));
        }
        out
    }
}

/// Simplifies an array model's loss, differentiates it with respect to
/// every param (index form) and simplifies the derivatives; with `hessian`,
/// differentiates the gradient again ([`hessian_indexed`]).
pub fn derive_arrays(model: &mut Model, hessian: bool) -> ArrayDerived {
    let g = &mut model.graph;
    let wrt: Vec<SymId> = model.params.iter().map(|p| p.sym).collect();
    let loss = simplify(g, &[model.loss.node])[0];
    let partials = gradient_indexed(g, loss, &wrt);
    let raw: Vec<NodeId> = partials.iter().map(|p| p.node).collect();
    let simple = simplify(g, &raw);
    let gradient = simple
        .into_iter()
        .zip(partials)
        .map(|(node, p)| Partial {
            node,
            indices: p.indices,
        })
        .collect::<Vec<Partial>>();
    let hessian = hessian.then(|| {
        let blocks = hessian_indexed(g, &gradient, &wrt);
        let raw: Vec<NodeId> = blocks.iter().flatten().map(|p| p.node).collect();
        let mut simple = simplify(g, &raw).into_iter();
        blocks
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|p| Partial {
                        node: simple.next().expect("one simplified node per block"),
                        indices: p.indices,
                    })
                    .collect()
            })
            .collect()
    });
    ArrayDerived {
        loss,
        gradient,
        hessian,
    }
}

/// An array model's compiled kernel: outputs are the loss and the
/// gradient of every param element (flat, in the order of the params).
pub struct CompiledArrays {
    /// The compiled kernel.
    pub kernel: ArrayKernel,
    /// The nodes the kernel computes.
    pub derived: ArrayDerived,
    /// Wall time from the checked model to a callable kernel, in seconds.
    pub seconds: f64,
}

/// Differentiates, simplifies and compiles an array model, with its
/// Hessian when `hessian` (`inspect` keeps the CLIF and machine code).
pub fn compile_array_model(
    model: &mut Model,
    hessian: bool,
    inspect: bool,
) -> Result<CompiledArrays, CodegenError> {
    let start = Instant::now();
    let derived = derive_arrays(model, hessian);
    let kernel = compile_arrays(
        &model.graph,
        &derived.outputs(),
        &model_layout(model),
        inspect,
    )?;
    Ok(CompiledArrays {
        kernel,
        derived,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The training objective over a compiled array kernel bound to the
/// model's data: the params are every element, flat.
pub struct ArrayObjective<'k> {
    bound: ArrayBound<'k, 'k>,
    params: usize,
    out: Vec<f64>,
    model: &'k Model,
    /// Each param's first position in the flat vector, and its element
    /// count.
    slices: Vec<(usize, usize)>,
    has_hessian: bool,
}

impl<'k> ArrayObjective<'k> {
    /// Binds `compiled` to the data of `model`, single-threaded.
    pub fn new(compiled: &'k CompiledArrays, model: &'k Model) -> Result<Self, KernelError> {
        Self::with_threads(compiled, model, Threads::single())
    }

    /// [`ArrayObjective::new`] on `threads` (see
    /// [`ArrayKernel::bind_threads`]): the same bits on any thread count.
    pub fn with_threads(
        compiled: &'k CompiledArrays,
        model: &'k Model,
        threads: Threads,
    ) -> Result<Self, KernelError> {
        let columns: Vec<&'k [f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
        let mut at = 0;
        let slices = model
            .params
            .iter()
            .map(|p| {
                let n = p.init.len();
                at += n;
                (at - n, n)
            })
            .collect();
        Ok(ArrayObjective {
            bound: compiled.kernel.bind_threads(&columns, threads)?,
            params: compiled.kernel.params(),
            out: vec![0.0; compiled.kernel.outputs()],
            model,
            slices,
            has_hessian: compiled.derived.hessian.is_some(),
        })
    }
}

impl Objective for ArrayObjective<'_> {
    fn eval(&mut self, params: &[f64], grad: &mut [f64]) -> f64 {
        if self.bound.call(params, &mut self.out).is_err() {
            grad.fill(f64::NAN);
            self.out.fill(f64::NAN);
            return f64::NAN;
        }
        grad.copy_from_slice(&self.out[1..=self.params]);
        self.out[0]
    }

    /// The Hessian blocks (param a by param b, row-major over their
    /// elements) placed into the `N x N` matrix of every element.
    fn eval_hessian(&mut self, params: &[f64], grad: &mut [f64], hess: &mut [f64]) -> Option<f64> {
        if !self.has_hessian {
            return None;
        }
        let loss = self.eval(params, grad);
        let n = self.params;
        let mut at = 1 + n;
        for &(row, rows) in &self.slices {
            for &(col, cols) in &self.slices {
                let block = &self.out[at..at + rows * cols];
                for i in 0..rows {
                    let dst = (row + i) * n + col;
                    hess[dst..dst + cols].copy_from_slice(&block[i * cols..(i + 1) * cols]);
                }
                at += rows * cols;
            }
        }
        Some(loss)
    }

    fn diagnose(&mut self, params: &[f64]) -> Option<Diagnostic> {
        crate::fault::locate(self.model, params).map(|f| f.diagnostic())
    }
}

impl ArrayObjective<'_> {
    /// The number of threads each evaluation runs on.
    pub fn threads(&self) -> usize {
        self.bound.threads()
    }
}

/// The node `mean(e)` of a per-row expression, used to evaluate a model's
/// prediction at one input value (a one-row data set).
pub(crate) fn mean_of(model: &mut Model, e: NodeId) -> NodeId {
    model.graph.reduce(Reduction::Mean, e)
}
