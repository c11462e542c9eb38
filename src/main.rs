//! The `ddx` command line: parses arguments, calls the library, renders
//! errors. Exit status: 0 on success, 1 when training diverges or a check
//! fails, 2 on bad input or usage.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use ddx::derivatives::{differentiate, parse_at, DiffOptions};
use ddx::diagnostic::{Diagnostic, Source};
use ddx::program::Unit;

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

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Latex,
    Json,
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
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Why a command failed.
enum Failure {
    /// Bad input, located in a source: exit 2.
    Source(Box<Diagnostic>, Source),
    /// Bad usage or an unreadable file: exit 2.
    Usage(String),
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
        } => run_diff(&input, wrt, order, at, cse, format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let color = std::io::stderr().is_terminal();
            match f {
                Failure::Source(d, src) => {
                    let text = d.render(&src);
                    eprint!("{}", if color { highlight(&text) } else { text });
                }
                Failure::Usage(msg) => eprintln!("error: {msg}"),
            }
            ExitCode::from(2)
        }
    }
}

/// Colours the `error:` word of a rendered diagnostic.
fn highlight(text: &str) -> String {
    text.replacen("error:", "\x1b[1;31merror:\x1b[0m", 1)
}

/// Reads a file argument (`-` is standard input).
fn read_file(arg: &str) -> Result<(Source, Option<PathBuf>), Failure> {
    let (name, bytes, dir) = if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::Usage(format!("cannot read standard input: {e}")))?;
        ("<stdin>".to_string(), buf, None)
    } else {
        let path = Path::new(arg);
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::Usage(format!("cannot read {arg}: {}", io_reason(&e))))?;
        let dir = path.parent().map(Path::to_path_buf);
        (arg.to_string(), bytes, dir)
    };
    match ddx::syntax::decode(&name, bytes) {
        Ok(src) => Ok((src, dir)),
        Err((d, src)) => Err(Failure::Source(Box::new(d), src)),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// An expression, a file or `-`: a file when the argument names one.
fn read_expr_or_file(arg: &str) -> Result<(Source, Option<PathBuf>), Failure> {
    if arg == "-" || Path::new(arg).is_file() {
        read_file(arg)
    } else {
        Ok((Source::new("<expr>", arg), None))
    }
}

fn check(src: &Source, dir: Option<&Path>) -> Result<Unit, Failure> {
    ddx::check::check(src, dir).map_err(|d| Failure::Source(Box::new(d), src.clone()))
}

fn run_diff(
    input: &str,
    wrt: Vec<String>,
    order: u32,
    at: Option<String>,
    cse: bool,
    format: Format,
) -> Result<(), Failure> {
    let (src, dir) = read_expr_or_file(input)?;
    let unit = check(&src, dir.as_deref())?;
    let at = match at {
        Some(a) => parse_at(&a).map_err(|e| Failure::Usage(e.0))?,
        None => Vec::new(),
    };
    let opts = DiffOptions { wrt, order, at };
    let d = differentiate(unit, &opts).map_err(|e| Failure::Usage(e.0))?;
    match format {
        Format::Text => print!("{}", d.to_text(cse)),
        Format::Latex => print!("{}", d.to_latex(cse)),
        Format::Json => println!("{}", d.to_json(cse)),
    }
    Ok(())
}
