//! The whole pipeline for a model: differentiate, simplify, compile, and an
//! [`Objective`] over the compiled kernels for the training driver.

use std::time::Instant;

use crate::codegen::{compile, model_layout, Bound, CodegenError, Kernel, KernelError, Threads};
use crate::diagnostic::Diagnostic;
use crate::differentiate::gradient;
use crate::graph::{NodeId, Reduction, SymId};
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
            params: model.params.len(),
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

/// The node `mean(e)` of a per-row expression, used to evaluate a model's
/// prediction at one input value (a one-row data set).
pub(crate) fn mean_of(model: &mut Model, e: NodeId) -> NodeId {
    model.graph.reduce(Reduction::Mean, e)
}
