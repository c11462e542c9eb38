//! The `ddx` command line: parses arguments, calls the library, renders
//! errors. Exit status: 0 on success, 1 when training diverges or a check
//! fails, 2 on bad input or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};

use ddx::{
    io_reason, read_input_or_expr, Diagnostic, DiffFormat, DiffRequest, EmitStage, Input, Refusal,
    TrainOptions,
};

#[derive(Parser)]
#[command(
    name = "ddx",
    version,
    about = "Symbolic derivatives, compiled: differentiate, inspect, train"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the derivatives of an expression, or the gradient of a model's loss
    Diff {
        /// An expression like 'y = x^2', a file, or - for standard input
        input: String,
        /// Differentiate by these variables only (repeat or separate with commas)
        #[arg(long, value_delimiter = ',')]
        wrt: Vec<String>,
        /// Order of the derivative
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        order: u32,
        /// Evaluate at these values, like x=5,y=2
        #[arg(long)]
        at: Option<String>,
        /// Print shared subexpressions as `let` lines first
        #[arg(long)]
        cse: bool,
        /// Output format
        #[arg(long, value_parser = named(DiffFormat::ALL), default_value = "text")]
        format: DiffFormat,
    },
    /// Train a model file with its `train` line, printing progress
    Train(TrainArgs),
    /// Compare the gradient at the initial params with central finite differences
    Check {
        /// A model file, or - for standard input
        file: String,
        /// Print `{"loss": L, "gradient": {...}}` (array params nested
        /// row-major) instead of the report
        #[arg(long)]
        json: bool,
        /// Check at the "params" of an earlier `ddx train --json` output
        #[arg(long, value_name = "FIT.json")]
        init: Option<PathBuf>,
        /// Print every element of an array param, not only the worst
        #[arg(long)]
        verbose: bool,
    },
    /// Print one stage of the compiler for a model or expression
    Emit {
        /// A model file, an expression, or - for standard input
        input: String,
        /// The stage to print
        #[arg(long, value_parser = named(EmitStage::ALL))]
        stage: EmitStage,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// A model file, or - for standard input
    file: String,
    /// Print the epoch line every N epochs (and at the last)
    #[arg(long, value_parser = at_least_one)]
    every: Option<u64>,
    /// Override the number of epochs
    #[arg(long, value_parser = whole_number)]
    epochs: Option<usize>,
    /// Override the learning rate
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Write every epoch to this CSV file (full precision)
    #[arg(long)]
    log: Option<PathBuf>,
    /// Print the result as one JSON object
    #[arg(long)]
    json: bool,
    /// Draw the data, the fitted curve and the loss curve (.svg or .png)
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Start from the "params" of an earlier `ddx train --json` output
    #[arg(long, value_name = "FIT.json")]
    init: Option<PathBuf>,
    /// Threads for the kernel, 1 to 1024 (default: all cores); used for
    /// data of more than 8192 rows, with the same results on any count
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Print only the final result
    #[arg(long)]
    quiet: bool,
}

/// `--every`: a whole number, at least 1.
fn at_least_one(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("it must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number, like 100".into()),
    }
}

/// `--epochs`: a whole number, at most [`ddx::MAX_EPOCHS`].
fn whole_number(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n as f64 <= ddx::MAX_EPOCHS => Ok(n as usize),
        Ok(_) => Err(format!("ddx trains at most {:e} epochs", ddx::MAX_EPOCHS)),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err(format!("ddx trains at most {:e} epochs", ddx::MAX_EPOCHS))
        }
        Err(_) => Err("expected a whole number, like 1000".into()),
    }
}

/// One of the library's named choices (`--stage`, `--format`).
fn named<T: Copy + Send + Sync + 'static, const N: usize>(
    all: [(&'static str, T); N],
) -> impl TypedValueParser<Value = T> {
    clap::builder::PossibleValuesParser::new(all.map(|(name, _)| name)).map(move |name: String| {
        let found = all.iter().find(|(n, _)| *n == name);
        found.expect("clap accepts only the listed names").1
    })
}

/// Writes `text` to standard output.
fn out(text: &str) -> Result<(), Refusal> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(Refusal::Output)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Diff {
            input,
            wrt,
            order,
            at,
            cse,
            format,
        } => run_diff(&input, wrt, order, at.as_deref(), cse, format),
        Command::Train(args) => run_train(args),
        Command::Check {
            file,
            json,
            init,
            verbose,
        } => run_check(&file, json, init.as_deref(), verbose),
        Command::Emit { input, stage } => run_emit(&input, stage),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(r) => {
            let code = r.exit_code();
            if code != 0 {
                render(r);
            }
            ExitCode::from(code)
        }
    }
}

/// Prints a refusal to standard error (its diagnostics carry their source).
fn render(r: Refusal) {
    match r {
        Refusal::Source(d) => d.eprint(None),
        Refusal::Usage(msg) => Diagnostic::unlocated(msg).eprint(None),
        Refusal::Failed(msg, note) => {
            Diagnostic::unlocated(msg).eprint(None);
            if let Some(d) = note {
                d.eprint(None);
            }
        }
        Refusal::Output(e) => {
            Diagnostic::unlocated(format!("cannot write the output: {}", io_reason(&e)))
                .eprint(None)
        }
    }
}

/// `ddx diff`; `at` is the text of `--at`.
fn run_diff(
    input: &str,
    wrt: Vec<String>,
    order: u32,
    at: Option<&str>,
    cse: bool,
    format: DiffFormat,
) -> Result<(), Refusal> {
    let Input { source, dir } = read_input_or_expr(input)?;
    let request = DiffRequest {
        wrt,
        order,
        at,
        format,
        cse,
    };
    let text =
        ddx::diff_text(&source, dir.as_deref(), request).map_err(|r| r.placed_in(&source))?;
    out(&text)
}

fn run_train(args: TrainArgs) -> Result<(), Refusal> {
    let options = TrainOptions {
        every: args.every.map(|e| e as usize),
        epochs: args.epochs,
        lr: args.lr,
        quiet: args.quiet,
        log: args.log,
        json: args.json,
        plot: args.plot,
        progress: true,
        compile_seconds: 0.0,
        init: args.init,
    };
    let threads = args.threads.map(|t| t as usize);
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let result = ddx::train_file(&args.file, options, threads, &mut w);
    use std::io::Write;
    let flushed = w.flush();
    result?;
    flushed.map_err(Refusal::Output)
}

fn run_check(
    file: &str,
    json: bool,
    init: Option<&std::path::Path>,
    verbose: bool,
) -> Result<(), Refusal> {
    let (mut model, src) = ddx::read_model(file, "check")?;
    if model.has_arrays() || json || init.is_some() || verbose {
        // every element, compiled
        let params = match init {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Refusal::Usage(format!("--init {shown}: {}", ddx::io_reason(&e)))
                })?;
                ddx::read_init(&text, &shown, &model)?
            }
            None => model.params.iter().map(|p| p.init.to_vec()).collect(),
        };
        let report = ddx::array_check_report(&mut model, &params, verbose, !json)
            .map_err(|r| r.placed_in(&src))?;
        if json {
            return out(&format!("{}\n", report.to_json()));
        }
        out(&report.to_string())?;
        let flat: Vec<f64> = params.iter().flatten().copied().collect();
        let at = if init.is_some() {
            "the --init params"
        } else {
            "the initial params"
        };
        return ddx::array_check_verdict(&report, &model, &flat, at).map_err(|r| r.placed_in(&src));
    }
    let report = ddx::gradient_check_report(&mut model).map_err(|r| r.placed_in(&src))?;
    let mut text = report.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    out(&text)?;
    ddx::gradient_check_verdict(&report, &model).map_err(|r| r.placed_in(&src))
}

fn run_emit(input: &str, stage: EmitStage) -> Result<(), Refusal> {
    let Input { source, dir } = read_input_or_expr(input)?;
    let text = ddx::emit(&source, dir.as_deref(), stage).map_err(|r| r.placed_in(&source))?;
    out(&text)
}
