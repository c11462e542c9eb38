//! The training driver: runs an optimizer on an [`Objective`] (the compiled
//! loss and gradient) and returns the result with its [`History`] of costs.
//!
//! The driver, [`run`], prints and writes nothing: it reports each epoch to
//! [`Observer`]s ([`observe`]), such as the seed notebook's epoch lines with
//! their progress bar ([`EpochLines`]) and the `--log` CSV
//! ([`report::LogFile`]). [`train`] is `ddx train`'s composition of them:
//! the options' observers, then the final result (text or JSON,
//! [`report`]) and the `--plot` image drawn from the history.
//!
//! The driver does not know how the objective is computed: the JIT kernel,
//! the interpreter or a hand-written closed form all plug in the same way.
//! Here a closed form, `C = (w - 3)^2`, with an observer of one's own:
//!
//! ```
//! use ddx::{run, Epoch, Objective, Observer, Optimizer, Setup, TrainError, TrainSpec};
//!
//! struct Bowl;
//! impl Objective for Bowl {
//!     fn eval(&mut self, p: &[f64], grad: &mut [f64]) -> f64 {
//!         grad[0] = 2.0 * (p[0] - 3.0);
//!         (p[0] - 3.0).powi(2)
//!     }
//! }
//!
//! /// Counts the epochs whose cost rose.
//! #[derive(Default)]
//! struct Rises { last: f64, rises: usize }
//! impl Observer for Rises {
//!     fn evaluated(&mut self, e: &Epoch<'_>) -> Result<(), TrainError> {
//!         if e.epoch > 0 && e.cost > self.last {
//!             self.rises += 1;
//!         }
//!         self.last = e.cost;
//!         Ok(())
//!     }
//! }
//!
//! let optimizer = Optimizer::Sgd { lr: 0.1, momentum: 0.0 };
//! let setup = Setup {
//!     names: vec!["w".into()],
//!     shapes: vec![vec![]],
//!     init: vec![0.0],
//!     spec: TrainSpec { optimizer, epochs: 100, span: 0..0 },
//!     loss_name: "C".into(),
//! };
//! let mut rises = Rises::default();
//! let result = run(&mut Bowl, &setup, optimizer, 100, &mut [&mut rises]).unwrap();
//! assert!((result.params[0] - 3.0).abs() < 1e-6);
//! assert_eq!(rises.rises, 0);
//! // the cost of each epoch before its step: 9 at w = 0
//! assert_eq!(result.history.points()[0], (0.0, 9.0));
//! assert_eq!(result.history.points().len(), 100);
//! ```
//!
//! With a model, [`Setup::from_model`] gives the setup and
//! [`crate::KernelObjective`] the objective; [`train`] adds `ddx train`'s
//! output (`train(&mut objective, &setup, &options, fit, &mut stdout)`).

pub(crate) mod format;
pub(crate) mod observe;
pub(crate) mod optim;
pub(crate) mod plot;
pub(crate) mod report;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use thiserror::Error;

use crate::check::MAX_EPOCHS;
use crate::diagnostic::Diagnostic;
use crate::graph::{Node, NodeId, SymId, SymbolKind};
use crate::program::{Model, Optimizer, TrainSpec};

pub(crate) use format::full;
pub use observe::{Epoch, History, Observer};
use observe::{EpochLines, EveryEpoch};
pub use optim::Sgd;
use optim::{Adam, Newton, NewtonError};

/// A scalar loss of the params with its gradient (and, for Newton, its
/// Hessian): what the driver minimises.
pub trait Objective {
    /// Returns the loss at `params` and writes its gradient into `grad`
    /// (same length as `params`).
    fn eval(&mut self, params: &[f64], grad: &mut [f64]) -> f64;

    /// Like [`Objective::eval`], and also writes the Hessian into `hess`
    /// (row-major `n x n`). `None` when the objective has no Hessian: Newton's
    /// method then refuses to run. The default has none.
    fn eval_hessian(
        &mut self,
        _params: &[f64],
        _grad: &mut [f64],
        _hess: &mut [f64],
    ) -> Option<f64> {
        None
    }

    /// Called once when training meets a non-finite value at `params`: may
    /// explain where it came from (which expression, which data row), as a
    /// note placed in the objective's source, kept in
    /// [`Divergence::detail`]. The default says nothing.
    fn diagnose(&mut self, _params: &[f64]) -> Option<Diagnostic> {
        None
    }

    /// Takes up to `epochs` plain SGD steps (see [`Sgd::step`]) in one go,
    /// without reporting each: the driver calls it between the epochs it
    /// prints. Must stop before an epoch whose loss, gradient or new params
    /// would not all be finite, and leave `params` and the optimizer exactly
    /// as that many [`Objective::eval`] + [`Sgd::step`] pairs would.
    /// Returns the number of epochs taken; the default takes none.
    fn advance_sgd(&mut self, _params: &mut [f64], _sgd: &mut Sgd, _epochs: usize) -> usize {
        0
    }
}

/// What the driver trains: the params and the `train` line.
///
/// The driver sees one flat vector of values: the params in declaration
/// order, each param's elements row-major (a scalar param is one element).
/// `init`, the gradient, the Hessian (over all elements) and the final
/// params are laid out that way.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// Param names, in declaration order.
    pub names: Vec<String>,
    /// Each param's shape, in declaration order: empty for a scalar, `[10]`
    /// for a vector, `[32, 64]` for a matrix. Params past its end are
    /// scalars (`vec![]` for a model of scalars).
    pub shapes: Vec<Vec<usize>>,
    /// Initial values of every element, flat (see above).
    pub init: Vec<f64>,
    /// Optimizer and epochs.
    pub spec: TrainSpec,
    /// The loss name (labels the final cost and the plot).
    pub loss_name: String,
}

impl Setup {
    /// The params, initial values, `train` line and loss name of a model;
    /// `None` when the model has no `train` line.
    pub fn from_model(model: &Model) -> Option<Setup> {
        Some(Setup {
            names: model.params.iter().map(|p| p.name.clone()).collect(),
            shapes: model.params.iter().map(|p| p.shape.clone()).collect(),
            init: model
                .params
                .iter()
                .flat_map(|p| p.init.iter().copied())
                .collect(),
            spec: model.train.clone()?,
            loss_name: model.loss.name.clone(),
        })
    }

    /// The params' names with their shapes.
    pub(crate) fn layout(&self) -> ParamLayout {
        ParamLayout::new(&self.names, &self.shapes)
    }
}

/// How the flat vector of param values splits into named params: each
/// param's name, shape and range of elements. A scalar param is one
/// element named by the param's name; an array param's element is named
/// by its indices, `W1[0,3]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParamLayout {
    params: Vec<ParamSlot>,
    elements: usize,
}

/// One param of a [`ParamLayout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParamSlot {
    /// The param's name.
    pub(crate) name: String,
    /// Its shape (empty for a scalar).
    pub(crate) shape: Vec<usize>,
    /// Its elements in the flat vector.
    pub(crate) range: std::ops::Range<usize>,
}

impl ParamSlot {
    /// The name of the param's element `i` (counted from its first):
    /// `W1[0,3]`, or the param's name for a scalar.
    pub(crate) fn element_name(&self, i: usize) -> String {
        if self.shape.is_empty() {
            return self.name.clone();
        }
        let mut at = vec![0; self.shape.len()];
        let mut rest = i;
        for (slot, &d) in at.iter_mut().zip(&self.shape).rev() {
            *slot = rest % d.max(1);
            rest /= d.max(1);
        }
        let at: Vec<String> = at.iter().map(usize::to_string).collect();
        format!("{}[{}]", self.name, at.join(","))
    }

    /// True for an array param (a vector, a matrix, ...).
    pub(crate) fn is_array(&self) -> bool {
        !self.shape.is_empty()
    }
}

impl ParamLayout {
    /// The layout of params `names` with `shapes` (a missing shape is a
    /// scalar's).
    pub(crate) fn new(names: &[String], shapes: &[Vec<usize>]) -> ParamLayout {
        let mut start = 0;
        let params = names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let shape = shapes.get(k).cloned().unwrap_or_default();
                let n: usize = shape.iter().product();
                let slot = ParamSlot {
                    name: name.clone(),
                    shape,
                    range: start..start + n,
                };
                start += n;
                slot
            })
            .collect();
        ParamLayout {
            params,
            elements: start,
        }
    }

    /// The params, in declaration order.
    pub(crate) fn params(&self) -> &[ParamSlot] {
        &self.params
    }

    /// The number of elements of all params: the length of the flat vector.
    pub(crate) fn elements(&self) -> usize {
        self.elements
    }

    /// True when some param is an array.
    pub(crate) fn has_arrays(&self) -> bool {
        self.params.iter().any(ParamSlot::is_array)
    }

    /// The name of element `i` of the flat vector ([`ParamSlot::element_name`]).
    pub(crate) fn element_name(&self, i: usize) -> String {
        match self.params.iter().find(|p| p.range.contains(&i)) {
            Some(p) => p.element_name(i - p.range.start),
            None => format!("param {i}"),
        }
    }

    /// The name of every element, in order.
    pub(crate) fn element_names(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|p| (0..p.range.len()).map(move |i| p.element_name(i)))
            .collect()
    }
}

/// Command-line options of `ddx train`.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Print the epoch line every this many epochs (and at the last epoch).
    /// `None`: every `max(1, epochs/10)` epochs.
    pub every: Option<usize>,
    /// Overrides the `train` line's epochs.
    pub epochs: Option<usize>,
    /// Overrides the `train` line's learning rate (not for newton).
    pub lr: Option<f64>,
    /// Print only the final result.
    pub quiet: bool,
    /// Write every epoch to this CSV file.
    pub log: Option<PathBuf>,
    /// Print the final result as one JSON object, and nothing else.
    pub json: bool,
    /// Draw the data, the fit and the loss curve into this .svg or .png file.
    pub plot: Option<PathBuf>,
    /// Allow a progress bar (shown only when stderr is a terminal and the
    /// output is not quiet or JSON). Off by default; the command line
    /// turns it on.
    pub progress: bool,
    /// Seconds spent compiling, reported by `--json`.
    pub compile_seconds: f64,
    /// Start from the `"params"` of this JSON file (an earlier `--json`
    /// output) instead of the model's initial values. Read by the command
    /// ([`crate::train_file`]); the driver starts from [`Setup::init`].
    pub init: Option<PathBuf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            every: None,
            epochs: None,
            lr: None,
            quiet: false,
            log: None,
            json: false,
            plot: None,
            progress: false,
            compile_seconds: 0.0,
            init: None,
        }
    }
}

/// The model's prediction at input `x` for the given params.
pub(crate) type Predict<'a> = Box<dyn FnMut(&[f64], f64) -> f64 + 'a>;

/// The data of a model with one input column, for the plot's data panel.
pub struct Fit<'a> {
    /// Input column name (the x axis).
    pub x_label: String,
    /// Target column name (the y axis).
    pub y_label: String,
    /// Input values.
    pub x: &'a [f64],
    /// Target values.
    pub y: &'a [f64],
    /// The model's prediction at input `x` for the given params.
    pub predict: Predict<'a>,
}

/// The outcome of a successful run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainResult {
    /// Param names, in declaration order.
    pub names: Vec<String>,
    /// Each param's shape (empty for a scalar), as in [`Setup::shapes`].
    pub shapes: Vec<Vec<usize>>,
    /// Final values of every element, flat (see [`Setup`]).
    pub params: Vec<f64>,
    /// The loss name.
    pub loss_name: String,
    /// The cost at the final params (after the last step).
    pub cost: f64,
    /// Epochs run.
    pub epochs: usize,
    /// The optimizer after `--lr` overrides.
    pub optimizer: Optimizer,
    /// Seconds spent compiling (from the options).
    pub compile_seconds: f64,
    /// Seconds spent in the training loop, final cost included.
    pub train_seconds: f64,
    /// Epochs run by the objective's compiled loop
    /// ([`Objective::advance_sgd`]) rather than one evaluation at a time.
    pub loop_epochs: usize,
    /// The cost of each epoch before its step, thinned (see [`History`]).
    pub history: History,
}

/// Training met a NaN or an infinity.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The epoch whose cost, gradient, Hessian or step was not finite (the
    /// number of epochs when it is the cost at the final params).
    pub epoch: usize,
    /// What was not finite, e.g. `the cost is inf` or `the gradient is
    /// not finite (W1[3,7] grad NaN)`.
    pub what: String,
    /// Param names.
    pub names: Vec<String>,
    /// Each param's shape (empty for a scalar).
    pub shapes: Vec<Vec<usize>>,
    /// The last finite params (every element, flat): those at which the
    /// value was computed.
    pub params: Vec<f64>,
    /// The objective's explanation ([`Objective::diagnose`]): a note to
    /// render with the objective's source. Not part of the message.
    pub detail: Option<Box<Diagnostic>>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "training diverged at epoch {}: {}",
            self.epoch, self.what
        )?;
        write!(
            f,
            "\nlast finite params: {}",
            params_text(&self.names, &self.shapes, &self.params)
        )
    }
}

/// Array params of at most this many elements are shown whole in a
/// message; larger ones by their largest element.
const SHOWN_ELEMENTS: usize = 10;

/// `m = 0.5, b = 1.0`; an array param whole when small
/// (`w = [0.5, 1.0]`, nested for a matrix), else by its shape and largest
/// element (`W1 = 32x64 values, largest |W1[3,7]| = 1e+300`).
fn params_text(names: &[String], shapes: &[Vec<usize>], params: &[f64]) -> String {
    let layout = ParamLayout::new(names, shapes);
    layout
        .params()
        .iter()
        .map(|p| {
            let values = params.get(p.range.clone()).unwrap_or(&[]);
            let name = &p.name;
            if !p.is_array() {
                let v = values.first().copied().unwrap_or(f64::NAN);
                format!("{name} = {}", full(v))
            } else if values.len() <= SHOWN_ELEMENTS {
                format!("{name} = {}", report::nested_text(values, &p.shape))
            } else {
                let dims: Vec<String> = p.shape.iter().map(usize::to_string).collect();
                let key = |v: f64| if v.is_nan() { f64::INFINITY } else { v.abs() };
                let largest = (0..values.len())
                    .max_by(|&a, &b| key(values[a]).total_cmp(&key(values[b])))
                    .unwrap_or(0);
                format!(
                    "{name} = {} values, largest |{}| = {}",
                    dims.join("x"),
                    p.element_name(largest),
                    full(values[largest].abs())
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why training failed.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A bad option or setting (exit status 2).
    #[error("{0}")]
    Options(String),
    /// Newton's method on more params than [`NEWTON_MAX_PARAMS`], each
    /// element of an array param counted (exit status 2).
    #[error("newton supports at most {NEWTON_MAX_PARAMS} params, and this model has {params}{}",
        if *.arrays { " (counting each element of an array param)" } else { "" })]
    TooManyParams {
        /// The number of params (elements).
        params: usize,
        /// True when some param is an array.
        arrays: bool,
    },
    /// Newton's method on an objective without a Hessian (exit status 2).
    #[error("newton needs the Hessian of the loss, which this objective does not provide")]
    NoHessian,
    /// A non-finite cost, gradient, Hessian or step (exit status 1).
    #[error("{0}")]
    Diverged(Divergence),
    /// Newton's method met a singular Hessian (exit status 1).
    #[error("the Hessian is singular at epoch {epoch}, so newton cannot take a step\nat params: {}", params_text(.names, .shapes, .params))]
    SingularHessian {
        /// The epoch at which the Hessian was singular.
        epoch: usize,
        /// Param names.
        names: Vec<String>,
        /// Each param's shape (empty for a scalar).
        shapes: Vec<Vec<usize>>,
        /// The params (every element, flat) at which the Hessian was
        /// singular.
        params: Vec<f64>,
    },
    /// A file could not be written (exit status 2).
    #[error("cannot write {what} '{}': {}", .path.display(), write_reason(.source))]
    File {
        /// What was being written, e.g. `the plot`.
        what: &'static str,
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing the output failed (exit status 2).
    #[error("cannot write the output: {0}")]
    Output(io::Error),
    /// The plot could not be drawn (exit status 2).
    #[error("{0}")]
    Plot(String),
}

impl TrainError {
    /// The process exit status for this error: 1 when training failed
    /// numerically, 2 for bad input, options or files.
    pub fn exit_code(&self) -> i32 {
        match self {
            TrainError::Diverged(_) | TrainError::SingularHessian { .. } => 1,
            _ => 2,
        }
    }
}

/// The most params Newton's method accepts: its Hessian has `n^2` entries
/// and each step costs `n^3/3` multiply-adds (8 MB and 3e8 for 1000).
pub const NEWTON_MAX_PARAMS: usize = 1000;

/// The checks [`run`] makes before its first epoch: at most one shape per param,
/// one initial value per element, at most [`MAX_EPOCHS`] epochs, and for
/// Newton's method at most [`NEWTON_MAX_PARAMS`] params, each element of an
/// array param counted. A caller may check first, before it builds an
/// objective that would be refused (the command line does, before it
/// differentiates a Hessian).
pub fn check_run(setup: &Setup, optimizer: &Optimizer, epochs: usize) -> Result<(), TrainError> {
    if setup.shapes.len() > setup.names.len() {
        return Err(TrainError::Options(format!(
            "{} shapes for {} params",
            setup.shapes.len(),
            setup.names.len()
        )));
    }
    let layout = setup.layout();
    let n = layout.elements();
    if setup.init.len() != n {
        let what = if layout.has_arrays() {
            "param elements"
        } else {
            "params"
        };
        return Err(TrainError::Options(format!(
            "{} initial values for {n} {what}",
            setup.init.len()
        )));
    }
    if epochs as f64 > MAX_EPOCHS {
        return Err(TrainError::Options(format!(
            "ddx trains at most {MAX_EPOCHS:e} epochs"
        )));
    }
    if *optimizer == Optimizer::Newton && n > NEWTON_MAX_PARAMS {
        return Err(TrainError::TooManyParams {
            params: n,
            arrays: layout.has_arrays(),
        });
    }
    Ok(())
}

/// The optimizer with its state.
enum Stepper {
    Sgd(Sgd),
    Adam(Adam),
    Newton(Newton),
}

/// The optimizer after applying a `--lr` override, checked.
pub(crate) fn effective_optimizer(
    spec: &TrainSpec,
    lr: Option<f64>,
) -> Result<Optimizer, TrainError> {
    let mut opt = spec.optimizer;
    if let Some(new_lr) = lr {
        match &mut opt {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => *lr = new_lr,
            Optimizer::Newton => {
                return Err(TrainError::Options(
                    "--lr does not apply to newton, which has no learning rate".to_string(),
                ))
            }
        }
    }
    optim::validate(&opt).map_err(|e| TrainError::Options(e.0))?;
    Ok(opt)
}

/// The checks and defaults of a run, from the setup and the options.
struct Plan {
    optimizer: Optimizer,
    epochs: usize,
    every: usize,
}

impl Plan {
    fn new(setup: &Setup, options: &TrainOptions) -> Result<Plan, TrainError> {
        let optimizer = effective_optimizer(&setup.spec, options.lr)?;
        let epochs = options.epochs.unwrap_or(setup.spec.epochs);
        check_run(setup, &optimizer, epochs)?;
        let every = match options.every {
            Some(0) => {
                return Err(TrainError::Options(
                    "--every must be at least 1".to_string(),
                ))
            }
            Some(e) => e,
            None => (epochs / 10).max(1),
        };
        Ok(Plan {
            optimizer,
            epochs,
            every,
        })
    }
}

/// Trains as `ddx train` does: runs the optimizer of `setup.spec` (after
/// the `options` overrides) for its epochs with `run`, writing the epoch
/// lines and the final result (text or JSON) to `out`, and the log and
/// plot as the options ask. `fit` supplies the data panel of the plot.
///
/// Each epoch evaluates the cost and gradient at the current params, prints
/// `Epoch {e}, cost {c}, NAME grad {g}...` when `e % every == 0` or `e` is the
/// last epoch (cost and gradient from before the step; for an array param
/// `g` is the 2-norm of its gradient), then steps. A
/// non-finite cost, gradient or new param stops the run with
/// [`TrainError::Diverged`].
pub fn train(
    objective: &mut dyn Objective,
    setup: &Setup,
    options: &TrainOptions,
    fit: Option<Fit<'_>>,
    out: &mut dyn Write,
) -> Result<TrainResult, TrainError> {
    let plan = Plan::new(setup, options)?;
    let layout = setup.layout();
    if let Some(path) = &options.plot {
        plot::Format::from_path(path).map_err(TrainError::Plot)?;
        // a plot that cannot be written is reported before training, not after
        std::fs::File::create(path).map_err(|source| TrainError::File {
            what: "the plot",
            path: path.clone(),
            source,
        })?;
    }
    let mut log = match &options.log {
        Some(path) => Some(report::LogFile::create(path, &layout)?),
        None => None,
    };
    let print_epochs = !options.quiet && !options.json;
    let bar = (options.progress && print_epochs && plan.epochs > 0 && io::stderr().is_terminal())
        .then_some(plan.epochs);

    let mut buffered = BufWriter::new(out);
    // the plot's loss curve needs the cost of every epoch
    let mut every_epoch = options.plot.as_ref().map(|_| EveryEpoch);
    let run_result = {
        let mut lines =
            print_epochs.then(|| EpochLines::new(&mut buffered, &layout, plan.every, bar));
        let mut observers: Vec<&mut dyn Observer> = Vec::new();
        if let Some(l) = lines.as_mut() {
            observers.push(l);
        }
        if let Some(l) = log.as_mut() {
            observers.push(l);
        }
        if let Some(e) = every_epoch.as_mut() {
            observers.push(e);
        }
        let r = run_checked(
            objective,
            setup,
            plan.optimizer,
            plan.epochs,
            &mut observers,
        );
        if let Some(l) = lines {
            l.finish();
        }
        r
    };
    let log_done = log.map(|l| l.finish());
    let mut result = match run_result {
        Ok(v) => v,
        Err(e) => {
            // Keep what was printed before the failure; the failure wins.
            let _ = buffered.flush();
            return Err(e);
        }
    };
    if let Some(done) = log_done {
        done?;
    }
    result.compile_seconds = options.compile_seconds;
    let text = if options.json {
        format!("{}\n", report::json(&result))
    } else {
        report::final_text(&result)
    };
    buffered
        .write_all(text.as_bytes())
        .and_then(|_| buffered.flush())
        .map_err(TrainError::Output)?;
    if let Some(path) = &options.plot {
        let data = plot_data(&result, fit);
        plot::render(path, &data).map_err(TrainError::Plot)?;
    }
    Ok(result)
}

/// Why a file could not be created or written, in plain words.
fn write_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "its folder does not exist".into(),
        _ => crate::diagnostic::io_reason(e),
    }
}

/// The training loop proper: runs `optimizer` on `objective` for `epochs`
/// epochs from the params of `setup`, reporting each epoch to the
/// `observers` (in order), and returns the result (its `compile_seconds`
/// 0) with the history of costs. Epochs no observer needs to see run in the
/// objective's compiled loop when it has one ([`Objective::advance_sgd`]).
/// Refuses what [`check_run`] refuses, before the first epoch.
pub fn run(
    objective: &mut dyn Objective,
    setup: &Setup,
    optimizer: Optimizer,
    epochs: usize,
    observers: &mut [&mut dyn Observer],
) -> Result<TrainResult, TrainError> {
    check_run(setup, &optimizer, epochs)?;
    run_checked(objective, setup, optimizer, epochs, observers)
}

/// [`run`] on a setup [`check_run`] accepted.
fn run_checked(
    objective: &mut dyn Objective,
    setup: &Setup,
    optimizer: Optimizer,
    epochs: usize,
    observers: &mut [&mut dyn Observer],
) -> Result<TrainResult, TrainError> {
    let start = Instant::now();
    let layout = setup.layout();
    let n = layout.elements();
    let names = &setup.names;
    let mut params = setup.init.clone();
    let mut before = params.clone();
    let mut grad = vec![0.0; n];
    let mut hess = match optimizer {
        Optimizer::Newton => vec![0.0; n * n],
        _ => Vec::new(),
    };
    let mut stepper = match optimizer {
        Optimizer::Sgd { lr, momentum } => Stepper::Sgd(Sgd::new(lr, momentum)),
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => Stepper::Adam(Adam::new(n, lr, beta1, beta2, eps)),
        Optimizer::Newton => Stepper::Newton(Newton::new()),
    };
    let diverged = |objective: &mut dyn Objective, epoch: usize, what: String, at: &[f64]| {
        TrainError::Diverged(Divergence {
            epoch,
            what,
            names: names.clone(),
            shapes: setup.shapes.clone(),
            params: at.to_vec(),
            detail: objective.diagnose(at).map(Box::new),
        })
    };
    let mut epoch = 0;
    let mut loop_epochs = 0;
    let mut history = History::for_epochs(epochs);
    while epoch < epochs {
        // Epochs that no observer needs to see may run in the objective's
        // own loop: up to (not including) the next one that is needed.
        let needed: Option<usize> = observers
            .iter()
            .map(|o| o.next_needed(epoch, epochs))
            .try_fold(epochs, |m, e| e.map(|e| m.min(e)));
        if let (Some(until), Stepper::Sgd(sgd)) = (needed, &mut stepper) {
            let taken = objective.advance_sgd(&mut params, sgd, until - epoch);
            loop_epochs += taken;
            for o in observers.iter_mut() {
                o.skipped(taken);
            }
            epoch += taken;
            if epoch == epochs {
                break;
            }
        }
        let cost = match &mut stepper {
            Stepper::Newton(_) => objective
                .eval_hessian(&params, &mut grad, &mut hess)
                .ok_or(TrainError::NoHessian)?,
            _ => objective.eval(&params, &mut grad),
        };
        let seen = Epoch {
            epoch,
            epochs,
            cost,
            grad: &grad,
            finite: cost.is_finite() && grad.iter().all(|g| g.is_finite()),
        };
        for o in observers.iter_mut() {
            o.evaluated(&seen)?;
        }
        if !seen.finite {
            return Err(diverged(
                objective,
                epoch,
                non_finite_what(cost, &layout, &grad),
                &params,
            ));
        }
        before.copy_from_slice(&params);
        match &mut stepper {
            Stepper::Sgd(s) => s.step(&mut params, &grad),
            Stepper::Adam(a) => a.step(&mut params, &grad),
            Stepper::Newton(nt) => match nt.step(&mut params, &grad, &hess) {
                Ok(()) => {}
                Err(NewtonError::Singular) => {
                    return Err(TrainError::SingularHessian {
                        epoch,
                        names: names.clone(),
                        shapes: setup.shapes.clone(),
                        params,
                    })
                }
                Err(NewtonError::NonFinite) => {
                    let what = if hess.iter().all(|h| h.is_finite()) {
                        "the Newton step is not finite".to_string()
                    } else {
                        "the Hessian has a non-finite entry".to_string()
                    };
                    return Err(diverged(objective, epoch, what, &params));
                }
            },
        }
        if let Some(i) = params.iter().position(|p| !p.is_finite()) {
            let what = format!(
                "the step made {} {}",
                layout.element_name(i),
                full(params[i])
            );
            return Err(diverged(objective, epoch, what, &before));
        }
        history.push(epoch, cost);
        for o in observers.iter_mut() {
            o.stepped(&seen, &params)?;
        }
        epoch += 1;
    }
    let cost = objective.eval(&params, &mut grad);
    if !cost.is_finite() {
        let what = format!("the cost at the final params is {}", full(cost));
        return Err(diverged(objective, epochs, what, &params));
    }
    Ok(TrainResult {
        names: setup.names.clone(),
        shapes: setup.shapes.clone(),
        params,
        loss_name: setup.loss_name.clone(),
        cost,
        epochs,
        optimizer,
        compile_seconds: 0.0,
        train_seconds: start.elapsed().as_secs_f64(),
        loop_epochs,
        history,
    })
}

/// Non-finite gradient elements named in a message; more are counted.
const NAMED_ELEMENTS: usize = 5;

/// `the cost is inf`, `the gradient is not finite (m grad NaN)`, or both;
/// an array param's element by its indices (`W1[3,7] grad NaN`), the first
/// [`NAMED_ELEMENTS`] of them and how many more.
fn non_finite_what(cost: f64, layout: &ParamLayout, grad: &[f64]) -> String {
    let mut parts = Vec::new();
    if !cost.is_finite() {
        parts.push(format!("the cost is {}", full(cost)));
    }
    let bad: Vec<usize> = (0..grad.len()).filter(|&i| !grad[i].is_finite()).collect();
    if !bad.is_empty() {
        // a scalar model names them all, as it always has
        let cap = if layout.has_arrays() {
            NAMED_ELEMENTS
        } else {
            usize::MAX
        };
        let mut named: Vec<String> = bad
            .iter()
            .take(cap)
            .map(|&i| format!("{} grad {}", layout.element_name(i), full(grad[i])))
            .collect();
        if bad.len() > cap {
            named.push(format!("and {} more elements", bad.len() - cap));
        }
        parts.push(format!("the gradient is not finite ({})", named.join(", ")));
    }
    parts.join(" and ")
}

/// Number of points of the fitted curve.
const CURVE_POINTS: usize = 200;

/// Most data points drawn on the plot (evenly spaced rows beyond).
const PLOT_POINTS: usize = 10_000;

fn plot_data(result: &TrainResult, fit: Option<Fit<'_>>) -> plot::PlotData {
    let mut loss = result.history.points().to_vec();
    // The cost at the final params closes the curve.
    loss.push((result.epochs as f64, result.cost));
    let fit = fit.map(|mut f| {
        // every row up to PLOT_POINTS, then every k-th: a plot of 10^7 rows
        // must not be a gigabyte of SVG
        let stride = f.x.len().div_ceil(PLOT_POINTS).max(1);
        let points: Vec<(f64, f64)> =
            f.x.iter()
                .copied()
                .zip(f.y.iter().copied())
                .step_by(stride)
                .collect();
        let (x0, x1) = plot::padded_range(f.x.iter().copied());
        let curve = (0..CURVE_POINTS)
            .map(|i| {
                let x = x0 + (x1 - x0) * i as f64 / (CURVE_POINTS - 1) as f64;
                (x, (f.predict)(&result.params, x))
            })
            .collect();
        plot::FitPanel {
            x_label: f.x_label,
            y_label: f.y_label,
            points,
            curve,
        }
    });
    plot::PlotData {
        loss_name: result.loss_name.clone(),
        loss,
        fit,
    }
}

/// Which parts of a model the plot's data panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FitColumns {
    /// Index in `model.data` of the input column (the x axis).
    pub input: usize,
    /// Index in `model.data` of the target column (the y axis).
    pub target: usize,
    /// The prediction: the last `let` that depends on params and on the
    /// input column only.
    pub prediction: NodeId,
}

/// Finds the input column, target column and prediction of a model with
/// exactly two data columns, e.g. `let yhat = m*x + b` with data `x, y`.
/// `None` when the model does not have that shape (the plot then shows the
/// loss curve only).
pub(crate) fn fit_columns(model: &Model) -> Option<FitColumns> {
    // a vector column has no one x axis
    if model.data.len() != 2 || model.has_arrays() {
        return None;
    }
    let g = &model.graph;
    for binding in model.lets.iter().rev() {
        let syms = symbols_under(g, binding.node);
        let uses_param = syms.iter().any(|&s| g.symbol(s).kind == SymbolKind::Param);
        let data: Vec<usize> = (0..2)
            .filter(|&i| syms.contains(&model.data[i].sym))
            .collect();
        if uses_param && data.len() == 1 && g.meta(binding.node).per_row {
            let input = data[0];
            return Some(FitColumns {
                input,
                target: 1 - input,
                prediction: binding.node,
            });
        }
    }
    None
}

/// The symbols an expression depends on.
fn symbols_under(g: &crate::graph::Graph, root: NodeId) -> Vec<SymId> {
    g.topo_order(&[root])
        .into_iter()
        .filter_map(|id| match g.node(id) {
            Node::Sym(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, Reduction, UnOp};
    use crate::program::{Binding, DataColumn, Param};

    /// A model over data `x`, `y` (in that order unless `swap`), params `m`,
    /// `b`, with the given lets built by `lets`.
    fn model(
        swap: bool,
        lets: impl Fn(&mut Graph, [NodeId; 4]) -> Vec<(&'static str, NodeId)>,
    ) -> Model {
        let mut g = Graph::new();
        let names = if swap { ["y", "x"] } else { ["x", "y"] };
        let cols: Vec<SymId> = names
            .iter()
            .map(|n| g.declare(n, SymbolKind::Data))
            .collect();
        let (x, y) = if swap {
            (cols[1], cols[0])
        } else {
            (cols[0], cols[1])
        };
        let m = g.declare("m", SymbolKind::Param);
        let b = g.declare("b", SymbolKind::Param);
        let ids = [g.sym(x), g.sym(y), g.sym(m), g.sym(b)];
        let lets: Vec<Binding> = lets(&mut g, ids)
            .into_iter()
            .map(|(name, node)| Binding {
                name: name.to_string(),
                node,
                span: 0..0,
            })
            .collect();
        let last = lets.last().map(|l| l.node).unwrap_or(ids[2]);
        let r = g.sub(last, ids[1]);
        let sq = g.powf(r, 2.0);
        let loss = g.reduce(Reduction::Mean, sq);
        Model {
            graph: g,
            data: cols
                .iter()
                .zip(names)
                .map(|(&sym, name)| DataColumn {
                    name: name.to_string(),
                    sym,
                    shape: Vec::new(),
                    values: vec![0.0, 1.0],
                    span: 0..0,
                })
                .collect(),
            params: [("m", m, 0.9), ("b", b, 0.1)]
                .into_iter()
                .map(|(name, sym, init)| Param {
                    name: name.to_string(),
                    sym,
                    shape: Vec::new(),
                    init: vec![init].into(),
                    span: 0..0,
                })
                .collect(),
            lets,
            loss: Binding {
                name: "C".to_string(),
                node: loss,
                span: 0..0,
            },
            train: Some(TrainSpec {
                optimizer: Optimizer::Newton,
                epochs: 3,
                span: 0..0,
            }),
            rows: 2,
        }
    }

    fn line(g: &mut Graph, [x, _, m, b]: [NodeId; 4]) -> NodeId {
        let mx = g.mul(m, x);
        g.add(mx, b)
    }

    #[test]
    fn setup_comes_from_the_model() {
        let mut mdl = model(false, |g, ids| vec![("yhat", line(g, ids))]);
        let setup = Setup::from_model(&mdl).unwrap();
        assert_eq!(setup.names, ["m", "b"]);
        assert_eq!(setup.init, [0.9, 0.1]);
        assert_eq!(setup.loss_name, "C");
        assert_eq!(setup.spec.epochs, 3);
        mdl.train = None;
        assert_eq!(Setup::from_model(&mdl), None);
    }

    #[test]
    fn the_prediction_is_the_last_let_of_params_and_one_column() {
        // let yhat = m*x + b; let r = yhat - y (uses both columns: skipped)
        let mdl = model(false, |g, ids| {
            let yhat = line(g, ids);
            let r = g.sub(yhat, ids[1]);
            vec![("yhat", yhat), ("r", r)]
        });
        let yhat = mdl.lets[0].node;
        assert_eq!(
            fit_columns(&mdl),
            Some(FitColumns {
                input: 0,
                target: 1,
                prediction: yhat
            })
        );
        // Column order does not matter; a later let wins.
        let mdl = model(true, |g, ids| {
            let z = line(g, ids);
            let p = g.call(UnOp::Sigmoid, z);
            vec![("z", z), ("p", p)]
        });
        let p = mdl.lets[1].node;
        assert_eq!(
            fit_columns(&mdl),
            Some(FitColumns {
                input: 1,
                target: 0,
                prediction: p
            })
        );
    }

    #[test]
    fn no_prediction_without_a_suitable_let() {
        // No lets at all.
        assert_eq!(fit_columns(&model(false, |_, _| vec![])), None);
        // A let of params only (not per row).
        let mdl = model(false, |g, [_, _, m, b]| vec![("s", g.add(m, b))]);
        assert_eq!(fit_columns(&mdl), None);
        // Three data columns.
        let mut mdl = model(false, |g, ids| vec![("yhat", line(g, ids))]);
        let mut extra = mdl.data[0].clone();
        extra.name = "z".to_string();
        mdl.data.push(extra);
        assert_eq!(fit_columns(&mdl), None);
    }
}
