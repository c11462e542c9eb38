//! What each subcommand does, as data for the command line to render:
//! `ddx diff` ([`diff`]), `ddx check` ([`gradient_check`] and
//! [`gradient_check_report`]), `ddx emit` ([`emit`]) and `ddx train`
//! ([`train_file`]). Every refusal is a [`Refusal`], with its exit status;
//! the command line renders it (in the input's source, once
//! [`Refusal::placed_in`] it).

pub(crate) mod array_check;
pub(crate) mod diff;
pub(crate) mod emit;
pub(crate) mod gradient_check;
pub(crate) mod init_file;

use std::io::{self, Write};
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use crate::codegen::{CodegenError, Threads};
use crate::commands::diff::{derivatives, parse_at, DiffOptions, UsageError};
use crate::commands::gradient_check::{GradientCheckError, GradientCheckReport};
use crate::diagnostic::{Diagnostic, Severity, Source};
use crate::graph::NodeId;
use crate::input::{read_input, InputError};
use crate::pipeline::{
    compile_array_model, compile_model, mean_of, ArrayObjective, KernelObjective,
};
use crate::program::{Model, Unit};
use crate::schedule::Layout;
use crate::train::{
    check_run, fit_columns, train, Fit, FitColumns, Setup, TrainError, TrainOptions, TrainResult,
};

/// Why a command on a model or expression failed, for the command line to
/// render with the input's [`Source`].
#[derive(Debug)]
pub enum Refusal {
    /// Bad input, placed in the source (exit status 2).
    Source(Box<Diagnostic>),
    /// Bad usage, an unreadable file or an unusable setting (exit status 2).
    Usage(String),
    /// Training diverged or a check disagreed (exit status 1): the message
    /// and a note, such as the place (the `let` or `loss`) where the first
    /// non-finite value came from.
    Failed(String, Option<Box<Diagnostic>>),
    /// The output could not be written (exit status 2, or 0 when the
    /// reader has gone).
    Output(io::Error),
}

impl Refusal {
    /// The process exit status: 2 for bad input, usage or an unwritable
    /// output, 1 when training diverged or a check disagreed, and 0 when the
    /// output's reader has gone (as with `ddx diff ... | head`), which is
    /// no failure to report.
    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::Failed(..) => 1,
            Refusal::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            _ => 2,
        }
    }

    /// The refusal with its diagnostics placed in `src`, the input they are
    /// about (those placed in another file, a CSV file, keep theirs).
    pub fn placed_in(self, src: &Source) -> Refusal {
        let place = |mut d: Box<Diagnostic>| {
            if d.file.is_none() {
                d.file = Some(src.clone());
            }
            d
        };
        match self {
            Refusal::Source(d) => Refusal::Source(place(d)),
            Refusal::Failed(msg, note) => Refusal::Failed(msg, note.map(place)),
            r => r,
        }
    }
}

impl From<Diagnostic> for Refusal {
    fn from(d: Diagnostic) -> Self {
        Refusal::Source(Box::new(d))
    }
}

impl From<UsageError> for Refusal {
    fn from(e: UsageError) -> Self {
        Refusal::Usage(e.0)
    }
}

impl From<InputError> for Refusal {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Unreadable(msg) => Refusal::Usage(msg),
            InputError::Undecodable(d, src) => Refusal::Source(d).placed_in(&src),
        }
    }
}

/// Reads a model file (`-` is standard input) and checks it for `ddx
/// {command}` ([`model_for`]): the model and its source, or the refusal
/// placed in the source.
pub fn read_model(arg: &str, command: &str) -> Result<(Model, Source), Refusal> {
    let input = read_input(arg)?;
    match model_for(&input.source, input.dir.as_deref(), command, arg) {
        Ok(m) => Ok((m, input.source)),
        Err(r) => Err(r.placed_in(&input.source)),
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
    // parsed once: a syntax error is the checker's first error anyway
    let file = crate::syntax::parse(&src.text)?;
    if file.is_empty() {
        let end = src.text.len();
        let d = Diagnostic::new("the model file is empty", end..end)
            .with_label("no statements")
            .with_note(format!(
                "ddx {command} needs a model: data, param, let, loss and train lines, \
                 as in examples/regression.ddx"
            ));
        return Err(d.into());
    }
    match crate::check::check_file(&file, &src.text, dir)? {
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
/// symbolically: a model the driver would refuse ([`check_run`]: more params
/// than [`NEWTON_MAX_PARAMS`](crate::train::NEWTON_MAX_PARAMS)) is refused,
/// placed on its `train` line, before that work starts.
pub(crate) fn refuse_large_newton(model: &Model) -> Result<(), Refusal> {
    let Some(setup) = Setup::from_model(model) else {
        return Ok(());
    };
    check_run(&setup, &setup.spec.optimizer, setup.spec.epochs).map_err(|e| train_refusal(e, model))
}

/// A compile error; one about the kernel's size is placed on the loss (or
/// expression, `what`) at `span` it comes from.
fn compile_refusal(e: CodegenError, span: Range<usize>, what: &str) -> Refusal {
    match e {
        e @ CodegenError::TooLarge { .. } => Diagnostic::new(e.to_string(), span)
            .with_label(format!("{what}, with its derivatives"))
            .into(),
        e @ CodegenError::Arrays => Diagnostic::new(e.to_string(), span)
            .with_label(format!("{what} has arrays"))
            .into(),
        e => Refusal::Usage(e.to_string()),
    }
}

/// How `ddx train` runs a model, besides the model itself.
struct TrainRequest<'a> {
    /// The driver's options (`compile_seconds` is measured here).
    options: TrainOptions,
    /// Threads for the kernel (`None`: all cores).
    threads: Option<usize>,
    /// When reading the model began: `compile_seconds` runs from here to a
    /// kernel bound to the data.
    started: Instant,
    /// The model's source, where a missing `train` line is reported.
    source: &'a Source,
    /// The model file (`None` for standard input), which `--log` must not
    /// overwrite.
    model_path: Option<&'a Path>,
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
}

/// What `ddx diff` was asked: its options as the command line gives them.
#[derive(Clone, Debug)]
pub struct DiffRequest<'a> {
    /// Variables to differentiate by (all when empty).
    pub wrt: Vec<String>,
    /// Order of the derivative.
    pub order: u32,
    /// The text of `--at` (`x=5,y=2`), parsed after the input is checked.
    pub at: Option<&'a str>,
    /// How to print.
    pub format: DiffFormat,
    /// Print shared subexpressions as `let` lines first.
    pub cse: bool,
}

/// `ddx diff`: the derivatives of an expression or of a model's loss, as
/// the request's format prints them. Errors come in the order a user fixes
/// them: the input, then `--at`, then the differentiation.
pub fn diff_text(
    input: &Source,
    dir: Option<&Path>,
    request: DiffRequest<'_>,
) -> Result<String, Refusal> {
    let unit = crate::check::check(input, dir)?;
    if request.wrt.is_empty() {
        require_variables(&unit, true)?;
    }
    let at = match request.at {
        Some(text) => parse_at(text)?,
        None => Vec::new(),
    };
    let options = DiffOptions {
        wrt: request.wrt,
        order: request.order,
        at,
    };
    let d = derivatives(unit, &options)?;
    let cse = request.cse;
    Ok(match request.format {
        DiffFormat::Text => d.to_text(cse),
        DiffFormat::Latex => d.to_latex(cse),
        DiffFormat::Json => format!("{}\n", d.to_json(cse)),
    })
}

/// `ddx train FILE`: reads the model file (`-` is standard input), checks
/// it, compiles it, binds it to the data on `threads` (`None`: all cores)
/// and trains it with [`train`], writing to `out`. `compile_seconds` is
/// measured here, from reading the file to a kernel bound to the data. A
/// refusal comes back placed in the model's source; a divergence with the
/// place in the model where the first non-finite value came from.
pub fn train_file(
    arg: &str,
    options: TrainOptions,
    threads: Option<usize>,
    out: &mut dyn Write,
) -> Result<TrainResult, Refusal> {
    let started = Instant::now();
    let (model, source) = read_model(arg, "train")?;
    let request = TrainRequest {
        options,
        threads,
        started,
        source: &source,
        model_path: (arg != "-").then(|| Path::new(arg)),
    };
    train_model(model, request, out).map_err(|r| r.placed_in(&source))
}

/// `ddx train` on a checked model: refuses a model without a `train` line
/// or too large for Newton, starts from `--init` when given, compiles it,
/// binds it to the data and trains it with [`train`], writing to `out`.
fn train_model(
    model: Model,
    request: TrainRequest<'_>,
    out: &mut dyn Write,
) -> Result<TrainResult, Refusal> {
    if let (Some(log), Some(path)) = (&request.options.log, request.model_path) {
        let same = matches!((log.canonicalize(), path.canonicalize()), (Ok(a), Ok(b)) if a == b);
        if same {
            return Err(Refusal::Usage(format!(
                "--log {}: that is the model file, which the log would overwrite",
                log.display()
            )));
        }
    }
    let Some(mut setup) = Setup::from_model(&model) else {
        let end = request.source.text.len();
        let d = Diagnostic::new("the model has no `train` line", end..end)
            .with_note("add one, like: train sgd(lr = 0.01, epochs = 1000)");
        return Err(d.into());
    };
    if let Some(path) = &request.options.init {
        setup.init = init_values(path, &model)?;
    }
    // before compiling: Newton's Hessian of too many params is never built
    check_run(&setup, &setup.spec.optimizer, setup.spec.epochs)
        .map_err(|e| train_refusal(e, &model))?;
    if model.has_arrays() {
        return train_arrays(model, &setup, request, out);
    }
    train_compiled(model, &setup, request, out)
}

/// The values of `--init FILE` for `model`'s params, flat (declaration
/// order, each param's elements row-major): a missing, extra or wrongly
/// shaped param is an error naming it.
fn init_values(path: &Path, model: &Model) -> Result<Vec<f64>, Refusal> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Refusal::Usage(format!(
            "--init {shown}: {}",
            crate::diagnostic::io_reason(&e)
        ))
    })?;
    let values = init_file::read_init(&text, &shown, model)?;
    Ok(values.into_iter().flatten().collect())
}

/// `ddx train` on an array model: compiles its loss and gradient
/// ([`compile_array_model`]) and trains it with [`train`] over the flat
/// vector of every element.
fn train_arrays(
    mut model: Model,
    setup: &Setup,
    request: TrainRequest<'_>,
    out: &mut dyn Write,
) -> Result<TrainResult, Refusal> {
    let newton = model.trains_with_newton();
    let compiled = compile_array_model(&mut model, newton, false).map_err(|e| {
        let what = format!("loss {}", model.loss.name);
        compile_refusal(e, model.loss.span.clone(), &what)
    })?;
    let model = model;
    let threads = request.threads.unwrap_or_else(Threads::available);
    let threads = Threads::for_rows(threads, model.rows).map_err(Refusal::Usage)?;
    let mut objective = ArrayObjective::with_threads(&compiled, &model, threads)
        .map_err(|e| Refusal::Usage(e.to_string()))?;
    let options = TrainOptions {
        compile_seconds: request.started.elapsed().as_secs_f64(),
        ..request.options
    };
    let result = train(&mut objective, setup, &options, None, out);
    drop(objective);
    result.map_err(|e| train_refusal(e, &model))
}

/// `ddx train` on a scalar model: compiles it, binds it to the data on the
/// request's threads and trains it with [`train`].
fn train_compiled(
    mut model: Model,
    setup: &Setup,
    request: TrainRequest<'_>,
    out: &mut dyn Write,
) -> Result<TrainResult, Refusal> {
    let newton = model.trains_with_newton();
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
    let mut objective = KernelObjective::with_threads(&compiled, &model, threads)
        .map_err(|e| Refusal::Usage(e.to_string()))?;
    let options = TrainOptions {
        compile_seconds: request.started.elapsed().as_secs_f64(),
        ..request.options
    };
    let fit = fit_cols
        .zip(prediction)
        .map(|(f, pred)| plot_fit(&model, f, pred));
    let result = train(&mut objective, setup, &options, fit, out);
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

/// A training error as the command line reports it: a divergence with
/// the place the objective found for it ([`KernelObjective`]'s diagnosis),
/// too many params for Newton on the `train` line.
fn train_refusal(e: TrainError, model: &Model) -> Refusal {
    match e {
        TrainError::Diverged(div) => {
            let message = div.to_string();
            Refusal::Failed(message, div.detail)
        }
        TrainError::Output(e) => Refusal::Output(e),
        e @ TrainError::SingularHessian { .. } => {
            let why = "newton needs a Hessian that can be inverted, which a loss that does \
                       not pin down every param lacks; sgd or adam can train this model";
            let note = Diagnostic::unlocated(why).with_severity(Severity::Note);
            Refusal::Failed(e.to_string(), Some(Box::new(note)))
        }
        e @ TrainError::TooManyParams { params: n, .. } => match &model.train {
            Some(t) => Diagnostic::new(e.to_string(), t.span.clone())
                .with_label("newton")
                .with_note(format!(
                    "its Hessian would have {n}x{n} entries; train with sgd or adam"
                ))
                .into(),
            None => Refusal::Usage(e.to_string()),
        },
        e @ TrainError::NoHessian => match &model.train {
            Some(t) => Diagnostic::new(e.to_string(), t.span.clone())
                .with_label("newton")
                .into(),
            None => Refusal::Usage(e.to_string()),
        },
        e => Refusal::Usage(e.to_string()),
    }
}

/// `ddx check` of an array model at `params`: [`array_check::check_array_model`],
/// a kernel that does not compile refused at the loss.
pub fn array_check_report(
    model: &mut Model,
    params: &[Vec<f64>],
    verbose: bool,
    finite_differences: bool,
) -> Result<array_check::ArrayCheckReport, Refusal> {
    array_check::check_array_model(model, params, verbose, finite_differences).map_err(|e| {
        let what = format!("loss {}", model.loss.name);
        compile_refusal(e, model.loss.span.clone(), &what)
    })
}

/// `ddx check` on a checked model: the gradient check at the initial
/// params, or why it could not run.
pub fn gradient_check_report(model: &mut Model) -> Result<GradientCheckReport, Refusal> {
    crate::commands::gradient_check::check_model_gradient(model).map_err(|e| {
        let (span, what) = (model.loss.span.clone(), format!("loss {}", model.loss.name));
        match e {
            GradientCheckError::Codegen(e) => compile_refusal(e, span, &what),
            e @ GradientCheckError::TooMuchWork { .. } => Diagnostic::new(e.to_string(), span)
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
pub fn gradient_check_verdict(report: &GradientCheckReport, model: &Model) -> Result<(), Refusal> {
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

/// Exit status 0 when an array check passed; otherwise the error: a loss
/// or gradient that is not finite (with where the first non-finite value
/// comes from, at `params`, flat), or a disagreement.
pub fn array_check_verdict(
    report: &array_check::ArrayCheckReport,
    model: &Model,
    params: &[f64],
    at: &str,
) -> Result<(), Refusal> {
    if report.passed() {
        return Ok(());
    }
    let finite = report.loss.is_finite()
        && report
            .params
            .iter()
            .flat_map(|p| &p.gradient)
            .all(|g| g.is_finite());
    if !finite {
        let note = crate::fault::locate(model, params).map(|f| Box::new(f.diagnostic()));
        return Err(Refusal::Failed(
            format!("the loss or its gradient is not finite at {at}"),
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
