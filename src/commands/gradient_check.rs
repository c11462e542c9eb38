//! `ddx check`: the compiled gradient next to central finite differences
//! of the compiled loss, at the initial params.
//!
//! For each param `p` the step is `h = cbrt(eps) * max(1, |p|)` (about
//! 6e-6: it balances the truncation error of central differences, O(h^2),
//! against rounding, O(eps/h)), and the finite difference is
//! `(L(p + h) - L(p - h)) / ((p + h) - (p - h))`. The error is
//! `|g - fd| / max(|g|, |fd|, 1e-3 * max(1, |loss|))`: relative, except for
//! gradients that are tiny compared with the loss, where rounding noise of
//! the loss would dominate. The check passes when every error is at most
//! [`TOLERANCE`] and the JIT agrees with the interpreter bit for bit.

use std::fmt;

use thiserror::Error;

use crate::codegen::{self, CodegenError, KernelError, Layout};
use crate::graph::{Graph, NodeId};
use crate::interpret::{self, EvalError};
use crate::program::Model;

/// Largest error accepted between the gradient and finite differences.
pub const TOLERANCE: f64 = 1e-6;

/// Why a check could not run.
#[derive(Debug, Error)]
pub enum GradientCheckError {
    /// The loss and gradient could not be compiled.
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    /// The compiled kernel refused the data or params.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The interpreter could not evaluate the loss and gradient.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Two evaluations per param would take too long.
    #[error(
        "ddx check evaluates the loss twice per param: {params} params times {ops} operations \
         over {rows} rows is more than {MAX_WORK:e} operations in all"
    )]
    TooMuchWork {
        /// The number of params.
        params: usize,
        /// The kernel's weighted operation count.
        ops: usize,
        /// The number of data rows.
        rows: usize,
    },
}

/// Most kernel operations (operations times rows, over every evaluation)
/// a check may take: a few seconds. The work grows with the square of the
/// number of params, since the kernel computes every derivative.
pub(crate) const MAX_WORK: f64 = 4e9;

/// The check of one param.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGradientCheck {
    /// The param's name.
    pub name: String,
    /// The param's value the check was made at.
    pub value: f64,
    /// The compiled symbolic derivative.
    pub gradient: f64,
    /// The central finite difference of the compiled loss.
    pub finite_difference: f64,
    /// The step used.
    pub step: f64,
    /// The error as defined in the module docs.
    pub error: f64,
    /// `error <= TOLERANCE` (false when either value is not finite).
    pub ok: bool,
}

/// The result of `ddx check`; its `Display` is the report, one line per
/// param, every line ending in a newline.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheckReport {
    /// The name of the loss.
    pub loss_name: String,
    /// The compiled loss at the params.
    pub loss: f64,
    /// The number of data rows.
    pub rows: usize,
    /// The check of each param, in declaration order.
    pub params: Vec<ParamGradientCheck>,
    /// The largest error accepted ([`TOLERANCE`]).
    pub tolerance: f64,
    /// True when the interpreter gives the same bits for the loss and every
    /// gradient component (NaN equal to NaN).
    pub interpreter_agrees: bool,
}

impl GradientCheckReport {
    /// True when every gradient agrees and the JIT equals the interpreter.
    pub fn passed(&self) -> bool {
        self.interpreter_agrees && self.params.iter().all(|p| p.ok)
    }
}

/// Checks a model at its initial params.
pub fn check_model_gradient(model: &mut Model) -> Result<GradientCheckReport, GradientCheckError> {
    let outputs = crate::pipeline::derive(model, false).outputs();
    let layout = codegen::model_layout(model);
    let params = codegen::initial_params(model);
    let names: Vec<String> = model.params.iter().map(|p| p.name.clone()).collect();
    let columns = codegen::model_columns(model);
    check_gradient(
        &model.graph,
        &model.loss.name,
        &outputs,
        &layout,
        &names,
        &params,
        &columns,
    )
}

/// Checks `outputs = [loss, d loss/d param 0, ...]` (one derivative per
/// param of `layout`) at `params`.
pub fn check_gradient(
    g: &Graph,
    loss_name: &str,
    outputs: &[NodeId],
    layout: &Layout,
    names: &[String],
    params: &[f64],
    columns: &[&[f64]],
) -> Result<GradientCheckReport, GradientCheckError> {
    let kernel = codegen::compile(g, outputs, layout)?;
    let ops = codegen::kernel_ops(kernel.schedule());
    let rows = columns.first().map_or(1, |c| c.len().max(1));
    if 2.0 * params.len() as f64 * ops as f64 * rows as f64 > MAX_WORK {
        return Err(GradientCheckError::TooMuchWork {
            params: params.len(),
            ops,
            rows,
        });
    }
    let bound = kernel.bind(columns)?;
    let mut out = vec![0.0; outputs.len()];
    bound.call(params, &mut out)?;
    let reference = interpret::eval(g, outputs, layout, params, columns)?;
    let interpreter_agrees = out
        .iter()
        .zip(&reference)
        .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    let loss = out[0];
    let mut p = params.to_vec();
    let mut probe = vec![0.0; outputs.len()];
    let mut checks = Vec::with_capacity(params.len());
    for (i, name) in names.iter().enumerate().take(params.len()) {
        let value = params[i];
        let h = f64::EPSILON.cbrt() * value.abs().max(1.0);
        let (up, down) = (value + h, value - h);
        p[i] = up;
        bound.call(&p, &mut probe)?;
        let l_up = probe[0];
        p[i] = down;
        bound.call(&p, &mut probe)?;
        let l_down = probe[0];
        p[i] = value;
        let fd = (l_up - l_down) / (up - down);
        let gradient = out.get(i + 1).copied().unwrap_or(f64::NAN);
        let floor = 1e-3 * loss.abs().max(1.0);
        let error = (gradient - fd).abs() / gradient.abs().max(fd.abs()).max(floor);
        checks.push(ParamGradientCheck {
            name: name.clone(),
            value,
            gradient,
            finite_difference: fd,
            step: h,
            error,
            ok: error <= TOLERANCE,
        });
    }
    Ok(GradientCheckReport {
        loss_name: loss_name.to_string(),
        loss,
        rows: bound.rows(),
        params: checks,
        tolerance: TOLERANCE,
        interpreter_agrees,
    })
}

impl fmt::Display for GradientCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loss {} = {} at the initial params ({} rows)",
            self.loss_name, self.loss, self.rows
        )?;
        let width = self
            .params
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        // names padded by hand: `{:<width$}` panics past a width of 65535
        let pad = |name: &str| format!("{name}{}", " ".repeat(width - name.len()));
        writeln!(
            f,
            "{}  {:>20}  {:>20}  {:>20}  {:>9}",
            pad("param"),
            "value",
            "gradient",
            "finite difference",
            "error"
        )?;
        for p in &self.params {
            writeln!(
                f,
                "{}  {:>20.12e}  {:>20.12e}  {:>20.12e}  {:>9.1e}  {}",
                pad(&p.name),
                p.value,
                p.gradient,
                p.finite_difference,
                p.error,
                if p.ok { "ok" } else { "DISAGREES" }
            )?;
        }
        writeln!(
            f,
            "tolerance: error <= {:e} (central differences, step cbrt(eps)*max(1,|p|); \
             error = |g - fd| / max(|g|, |fd|, 1e-3*max(1,|loss|)))",
            self.tolerance
        )?;
        writeln!(
            f,
            "interpreter: {}",
            if self.interpreter_agrees {
                "the compiled kernel gives the same bits"
            } else {
                "DIFFERS from the compiled kernel"
            }
        )?;
        let bad = self.params.iter().filter(|p| !p.ok).count();
        if self.passed() {
            writeln!(f, "ok: all {} gradient components agree", self.params.len())
        } else if bad > 0 {
            writeln!(
                f,
                "FAILED: {bad} of {} gradient components disagree",
                self.params.len()
            )
        } else {
            writeln!(f, "FAILED: the kernel and the interpreter disagree")
        }
    }
}
