//! `ddx emit`: one stage of the compiler as text.

use std::path::Path;

use super::{compile_refusal, output_names, refuse_large_newton, Refusal};
use crate::codegen::{compile_with, model_layout, Kernel};
use crate::commands::diff::{derivatives, DiffOptions};
use crate::diagnostic::Source;
use crate::graph::{Graph, NodeId};
use crate::pipeline::{compile_array_model, derive, LOOP_AFTER_EPOCHS};
use crate::program::{Optimizer, Unit};

/// A stage of the compiler that `ddx emit` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The syntax tree, fully parenthesised.
    Ast,
    /// The expression graph of the lets and the loss (or the function).
    Graph,
    /// The simplified derivatives with shared subexpressions as `let`s.
    Grad,
    /// The straight-line program split around the row loops.
    Schedule,
    /// The optimised Cranelift IR.
    Clif,
    /// The machine code.
    Asm,
}

impl Stage {
    /// Every stage with its name on the command line, in pipeline order.
    pub const ALL: [(&'static str, Stage); 6] = [
        ("ast", Stage::Ast),
        ("graph", Stage::Graph),
        ("grad", Stage::Grad),
        ("schedule", Stage::Schedule),
        ("clif", Stage::Clif),
        ("asm", Stage::Asm),
    ];
}

/// The text `ddx emit --stage STAGE` prints for a source (`dir` is the
/// folder CSV paths are relative to).
pub fn emit(src: &Source, dir: Option<&Path>, stage: Stage) -> Result<String, Refusal> {
    if stage == Stage::Ast {
        let file = crate::syntax::parse(&src.text)?;
        if file.is_empty() {
            // the checker's "the input is empty", rather than no output
            crate::check::check(src, dir)?;
        }
        return Ok(file.to_string());
    }
    let unit = crate::check::check(src, dir)?;
    if let Unit::Model(m) = &unit {
        if m.has_arrays() && matches!(stage, Stage::Schedule | Stage::Clif | Stage::Asm) {
            let Unit::Model(m) = unit else {
                unreachable!("matched above")
            };
            return emit_arrays(m, stage);
        }
    }
    match stage {
        Stage::Ast => unreachable!("handled above"),
        Stage::Graph => {
            let (g, roots) = named_roots(&unit);
            Ok(crate::print::dump(g, &roots))
        }
        Stage::Grad => {
            super::require_variables(&unit, false)?;
            let d = derivatives(unit, &DiffOptions::default())?;
            Ok(d.to_text(true))
        }
        Stage::Schedule => {
            let inspected = inspect(unit)?;
            let mut text = String::new();
            if let Some(prep) = inspected.kernel.prep_schedule() {
                text += &format!(
                    "# data-only reductions, computed once per data set\n{prep}# loss and gradient\n"
                );
            }
            let schedule = inspected.kernel.schedule().clone();
            text += &schedule.with_output_names(&inspected.names).to_string();
            Ok(text)
        }
        Stage::Clif | Stage::Asm => {
            let clif = stage == Stage::Clif;
            let inspected = inspect(unit)?;
            let kernel = &inspected.kernel;
            let mut text = if clif { kernel.clif() } else { kernel.asm() }.unwrap_or_default();
            if let Some((rows, momentum)) = inspected.sgd_loop {
                let (c, a) = kernel
                    .sgd_listing(rows, momentum)
                    .map_err(|e| Refusal::Usage(e.to_string()))?;
                text += &format!(
                    "; function ddx_sgd: the training loop, compiled for these {rows} rows \
                     after {LOOP_AFTER_EPOCHS} epochs (docs/training.md)\n{}",
                    if clif { c } else { a }
                );
            }
            Ok(text)
        }
    }
}

/// `ddx emit --stage schedule|clif|asm` of an array model: its compiled
/// loss and gradient.
fn emit_arrays(mut m: crate::program::Model, stage: Stage) -> Result<String, Refusal> {
    let newton = m.trains_with_newton();
    if newton {
        refuse_large_newton(&m)?;
    }
    let compiled = compile_array_model(&mut m, newton, true).map_err(|e| {
        let what = format!("loss {}", m.loss.name);
        compile_refusal(e, m.loss.span.clone(), &what)
    })?;
    let kernel = compiled.kernel;
    Ok(match stage {
        Stage::Schedule => {
            let mut names = vec![m.loss.name.clone()];
            names.extend(
                m.params
                    .iter()
                    .map(|p| format!("d{}/d{}", m.loss.name, p.name)),
            );
            kernel
                .schedule()
                .clone()
                .with_output_names(&names)
                .to_string()
        }
        Stage::Clif => kernel.clif().unwrap_or_default(),
        _ => kernel.asm().unwrap_or_default(),
    })
}

/// The graph and named roots `ddx emit --stage graph` prints: an
/// expression's function, or a model's `let`s and loss.
fn named_roots(unit: &Unit) -> (&Graph, Vec<(String, NodeId)>) {
    match unit {
        Unit::Expr(f) => (&f.graph, vec![(f.name.clone(), f.root)]),
        Unit::Model(m) => {
            let mut roots: Vec<(String, NodeId)> =
                m.lets.iter().map(|l| (l.name.clone(), l.node)).collect();
            roots.push((m.loss.name.clone(), m.loss.node));
            (&m.graph, roots)
        }
    }
}

/// A kernel compiled for inspection (`ddx emit --stage schedule|clif|asm`).
struct Inspected {
    /// The kernel, compiled with its CLIF and assembly kept.
    kernel: Kernel,
    /// Its outputs' names: `loss`, `dloss/dp`, (Newton) `d2loss/dadb`; or
    /// the function and `df/dx` labels of an expression.
    names: Vec<String>,
    /// Rows and momentum (whether non-zero) of the SGD loop a model's
    /// training compiles; `None` unless it trains with sgd.
    sgd_loop: Option<(usize, bool)>,
}

/// Compiles a model's loss, gradient and (for Newton) Hessian, or an
/// expression's function and derivatives, keeping the listings.
fn inspect(unit: Unit) -> Result<Inspected, Refusal> {
    let options = crate::codegen::CodegenOptions {
        inspect: true,
        ..crate::codegen::CodegenOptions::default()
    };
    let (span, what) = match &unit {
        Unit::Model(m) => (m.loss.span.clone(), format!("loss {}", m.loss.name)),
        Unit::Expr(f) => (f.span.clone(), format!("`{}`", f.name)),
    };
    let mut sgd_loop = None;
    let (kernel, names) = match unit {
        Unit::Model(mut m) => {
            if let Some(Optimizer::Sgd { momentum, .. }) = m.train.as_ref().map(|t| t.optimizer) {
                sgd_loop = Some((m.rows, momentum != 0.0));
            }
            let newton = m.trains_with_newton();
            if newton {
                refuse_large_newton(&m)?;
            }
            let derived = derive(&mut m, newton);
            let names = output_names(&m, newton);
            let kernel = compile_with(&m.graph, &derived.outputs(), &model_layout(&m), &options);
            (kernel, names)
        }
        Unit::Expr(f) => {
            let d = derivatives(Unit::Expr(f), &DiffOptions::default())?;
            let kernel = compile_with(&d.graph, &d.kernel_outputs(), &d.scalar_layout(), &options);
            (kernel, d.output_names())
        }
    };
    let kernel = kernel.map_err(|e| compile_refusal(e, span, &what))?;
    Ok(Inspected {
        kernel,
        names,
        sgd_loop,
    })
}
