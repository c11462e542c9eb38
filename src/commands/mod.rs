//! What each subcommand does, as data for the command line to render:
//! `ddx diff` ([`diff`]), `ddx check` ([`gradient_check`] and
//! [`check_report`]), `ddx emit` ([`emit`]) and `ddx train`
//! ([`train_model`]). Every refusal is a
//! [`Refusal`] the command line renders with the input's source.

pub(crate) mod diff;
pub(crate) mod emit;
pub(crate) mod gradient_check;

use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::codegen::{CodegenError, Threads};
use crate::commands::diff::{derivatives, parse_at, DiffOptions};
use crate::commands::gradient_check::{CheckError, CheckReport};
use crate::diagnostic::{Diagnostic, Source};
use crate::graph::NodeId;
use crate::pipeline::{compile_model, mean_of, KernelObjective};
use crate::program::{Model, Optimizer, Unit};
use crate::schedule::Layout;
use crate::train::{
    fit_columns, train, Fit, FitColumns, Setup, TrainError, TrainOptions, TrainResult,
};

/// Why a command on a model or expression failed, for the command line to
/// render with the input's [`Source`].
#[derive(Debug)]
pub enum Refusal {
    /// Bad input, placed in the source (exit status 2).
    Source(Box<Diagnostic>),
    /// Bad usage or an unusable setting (exit status 2).
    Usage(String),
    /// Training diverged or a check disagreed (exit status 1): the message
    /// and, when found, a note placed on the `let` or `loss` where the
    /// first non-finite value came from.
    Failed(String, Option<Box<Diagnostic>>),
    /// The output could not be written.
    Output(io::Error),
}

impl From<Diagnostic> for Refusal {
    fn from(d: Diagnostic) -> Self {
        Refusal::Source(Box::new(d))
    }
}

/// Checks a source for `ddx {command}` (`arg` names it in messages): an
/// empty file, an expression or a check error is refused.
pub fn model_for(
    src: &Source,
    dir: Option<&Path>,
    command: &str,
    arg: &str,
) -> Result<Model, Refusal> {
    if let Ok(file) = crate::syntax::parse(&src.text) {
        if file.stmts.is_empty() {
            let end = src.text.len();
            let d = Diagnostic::new("the model file is empty", end..end)
                .with_label("no statements")
                .with_note(format!(
                    "ddx {command} needs a model: data, param, let, loss and train lines, \
                 as in examples/regression.ddx"
                ));
            return Err(d.into());
        }
    }
    match crate::check::check(src, dir)? {
        Unit::Model(m) => Ok(m),
        Unit::Expr(_) => Err(Refusal::Usage(format!(
            "ddx {command} needs a model file (with data, param, loss and train lines); {arg} is an expression (try ddx diff)"
        ))),
    }
}

/// An expression without variables (`3`, `pi/2`) has no derivatives to
/// print: an error, rather than no output at all. `wrt_hint`: suggest
/// `--wrt`.
pub fn require_variables(unit: &Unit, wrt_hint: bool) -> Result<(), Refusal> {
    match unit {
        Unit::Expr(f) if f.vars.is_empty() => {
            let d = Diagnostic::new(
                format!("`{}` has no variables to differentiate by", f.name),
                f.span.clone(),
            )
            .with_label("a constant")
            .with_note(if wrt_hint {
                "its derivative by any variable is 0; name one with --wrt, e.g. --wrt x"
            } else {
                "its derivative by any variable is 0"
            });
            Err(d.into())
        }
        _ => Ok(()),
    }
}

/// Newton's Hessian has params^2 entries, each differentiated
/// symbolically: a model with more params than
/// [`NEWTON_MAX_PARAMS`](crate::train::NEWTON_MAX_PARAMS) is refused
/// (placed on its `train` line) before that work starts.
fn refuse_large_newton(model: &Model) -> Result<(), Refusal> {
    let (Some(t), Err(e)) = (&model.train, crate::train::newton_fits(model.params.len())) else {
        return Ok(());
    };
    let n = e.params;
    let d = Diagnostic::new(
        format!(
            "newton supports at most {} params, and this model has {n}",
            crate::train::NEWTON_MAX_PARAMS
        ),
        t.span.clone(),
    )
    .with_label("newton")
    .with_note(format!(
        "its Hessian would have {n}x{n} entries; train with sgd or adam"
    ));
    Err(d.into())
}

/// A compile error; one about the kernel's size is placed on the loss (or
/// expression, `what`) at `span` it comes from.
fn compile_refusal(e: CodegenError, span: Range<usize>, what: &str) -> Refusal {
    match e {
        e @ CodegenError::TooLarge { .. } => Diagnostic::new(e.to_string(), span)
            .with_label(format!("{what}, with its derivatives"))
            .into(),
        e => Refusal::Usage(e.to_string()),
    }
}

/// How `ddx train` runs a model, besides the model itself.
pub struct TrainRequest {
    /// The driver's options (`compile_seconds` is measured here).
    pub options: TrainOptions,
    /// Threads for the kernel (`None`: all cores).
    pub threads: Option<usize>,
    /// When reading the model began: `compile_seconds` runs from here to a
    /// kernel bound to the data.
    pub started: Instant,
    /// The length of the model's source, where a missing `train` line is
    /// reported.
    pub source_len: usize,
    /// The model file (`None` for standard input), which `--log` must not
    /// overwrite.
    pub model_path: Option<PathBuf>,
}

/// How `ddx diff` prints its derivatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    /// Math text, `dy/dx = 2*x`.
    Text,
    /// LaTeX, one equation per line.
    Latex,
    /// One JSON object.
    Json,
}

impl DiffFormat {
    /// Every format with its name on the command line.
    pub const ALL: [(&'static str, DiffFormat); 3] = [
        ("text", DiffFormat::Text),
        ("latex", DiffFormat::Latex),
        ("json", DiffFormat::Json),
    ];

    /// The format of a command-line name.
    pub fn from_name(name: &str) -> Option<DiffFormat> {
        DiffFormat::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }
}

/// `ddx diff`: the derivatives of an expression or of a model's loss, as
/// `format` prints them (shared subexpressions as `let` lines with `cse`).
/// `at` is the text of `--at` (`x=5,y=2`).
pub fn diff_text(
    input: &Source,
    dir: Option<&Path>,
    options: DiffOptions,
    at: Option<&str>,
    format: DiffFormat,
    cse: bool,
) -> Result<String, Refusal> {
    let unit = crate::check::check(input, dir)?;
    if options.wrt.is_empty() {
        require_variables(&unit, true)?;
    }
    let at = match at {
        Some(a) => parse_at(a).map_err(|e| Refusal::Usage(e.0))?,
        None => Vec::new(),
    };
    let options = DiffOptions { at, ..options };
    let d = derivatives(unit, &options).map_err(|e| Refusal::Usage(e.0))?;
    Ok(match format {
        DiffFormat::Text => d.to_text(cse),
        DiffFormat::Latex => d.to_latex(cse),
        DiffFormat::Json => format!("{}\n", d.to_json(cse)),
    })
}

/// `ddx train` on a checked model: refuses a model without a `train` line
/// or too large for Newton, compiles it, binds it to the data and trains
/// it with [`train`], writing to `out`. A divergence comes back with the
/// place in the model where the first non-finite value came from.
pub fn train_model(
    mut model: Model,
    request: TrainRequest,
    out: &mut dyn Write,
) -> Result<TrainResult, Refusal> {
    if let (Some(log), Some(path)) = (&request.options.log, &request.model_path) {
        let same = matches!((log.canonicalize(), path.canonicalize()), (Ok(a), Ok(b)) if a == b);
        if same {
            return Err(Refusal::Usage(format!(
                "--log {}: that is the model file, which the log would overwrite",
                log.display()
            )));
        }
    }
    let Some(setup) = Setup::from_model(&model) else {
        let end = request.source_len;
        let d = Diagnostic::new("the model has no `train` line", end..end)
            .with_note("add one, like: train sgd(lr = 0.01, epochs = 1000)");
        return Err(d.into());
    };
    let newton = matches!(setup.spec.optimizer, Optimizer::Newton);
    if newton {
        refuse_large_newton(&model)?;
    }
    let compiled = compile_model(&mut model, newton).map_err(|e| {
        let what = format!("loss {}", model.loss.name);
        compile_refusal(e, model.loss.span.clone(), &what)
    })?;
    // the prediction for the plot: mean over a one-row data set
    let fit_cols = request
        .options
        .plot
        .as_ref()
        .and_then(|_| fit_columns(&model));
    let prediction = fit_cols.map(|f| mean_of(&mut model, f.prediction));
    let model = model;
    let threads = request.threads.unwrap_or_else(Threads::available);
    let threads = Threads::for_rows(threads, model.rows).map_err(Refusal::Usage)?;
    // the fault is placed in the model's source below, not explained in text
    let mut objective = KernelObjective::with_threads(&compiled, &model, threads)
        .map_err(|e| Refusal::Usage(e.to_string()))?
        .undiagnosed();
    let options = TrainOptions {
        compile_seconds: request.started.elapsed().as_secs_f64(),
        ..request.options
    };
    let fit = fit_cols
        .zip(prediction)
        .map(|(f, pred)| plot_fit(&model, f, pred));
    let result = train(&mut objective, &setup, &options, fit, out);
    drop(objective);
    result.map_err(|e| train_refusal(e, &model))
}

/// The plot's data panel: the data and the model's prediction `pred` (a
/// mean over one row, see [`mean_of`]), evaluated by the interpreter.
fn plot_fit(model: &Model, f: FitColumns, pred: NodeId) -> Fit<'_> {
    let layout = Layout {
        params: model.params.iter().map(|p| p.sym).collect(),
        columns: vec![model.data[f.input].sym],
    };
    let g = &model.graph;
    Fit {
        x_label: model.data[f.input].name.clone(),
        y_label: model.data[f.target].name.clone(),
        x: &model.data[f.input].values,
        y: &model.data[f.target].values,
        predict: Box::new(move |params: &[f64], x: f64| {
            crate::interpret::eval(g, &[pred], &layout, params, &[&[x]])
                .map(|v| v[0])
                .unwrap_or(f64::NAN)
        }),
    }
}

/// A training error as the command line reports it.
fn train_refusal(e: TrainError, model: &Model) -> Refusal {
    match e {
        TrainError::Diverged(div) => {
            let note = crate::fault::locate(model, &div.params).map(|f| Box::new(f.diagnostic()));
            Refusal::Failed(div.to_string(), note)
        }
        TrainError::Output(e) => Refusal::Output(e),
        e @ TrainError::SingularHessian { .. } => Refusal::Failed(
            format!(
                "{e}\nnote: newton needs a Hessian that can be inverted, which a loss that does \
                 not pin down every param lacks; sgd or adam can train this model"
            ),
            None,
        ),
        e if e.exit_code() == 1 => Refusal::Failed(e.to_string(), None),
        e => Refusal::Usage(e.to_string()),
    }
}

/// `ddx check` on a checked model: the gradient check at the initial
/// params, or why it could not run.
pub fn check_report(model: &mut Model) -> Result<CheckReport, Refusal> {
    crate::commands::gradient_check::check_model_gradient(model).map_err(|e| {
        let (span, what) = (model.loss.span.clone(), format!("loss {}", model.loss.name));
        match e {
            CheckError::Codegen(e) => compile_refusal(e, span, &what),
            e @ CheckError::TooMuchWork { .. } => Diagnostic::new(e.to_string(), span)
                .with_label(what)
                .with_note(
                    "ddx train can still train this model: it evaluates the loss once per epoch",
                )
                .into(),
            e => Refusal::Usage(e.to_string()),
        }
    })
}

/// The verdict of a gradient check: a failed check is
/// [`Refusal::Failed`], with the place of a non-finite value when there is
/// one.
pub fn check_verdict(report: &CheckReport, model: &Model) -> Result<(), Refusal> {
    if report.passed() {
        return Ok(());
    }
    let finite = report.loss.is_finite() && report.params.iter().all(|p| p.gradient.is_finite());
    if !finite {
        let params = crate::codegen::initial_params(model);
        let note = crate::fault::locate(model, &params).map(|f| Box::new(f.diagnostic()));
        return Err(Refusal::Failed(
            "the loss or its gradient is not finite at the initial params".into(),
            note,
        ));
    }
    Err(Refusal::Failed(
        "the gradient disagrees with finite differences".into(),
        None,
    ))
}

/// The names of a model kernel's outputs: `C`, `dC/dm`..., and with the
/// Hessian `d2C/dmdb`... (row-major).
pub(crate) fn output_names(model: &Model, hessian: bool) -> Vec<String> {
    let loss = &model.loss.name;
    let mut names = vec![loss.clone()];
    names.extend(model.params.iter().map(|p| format!("d{loss}/d{}", p.name)));
    if hessian {
        for a in &model.params {
            for b in &model.params {
                names.push(format!("d2{loss}/d{}d{}", a.name, b.name));
            }
        }
    }
    names
}
