//! The `train` line: optimizer, options, PyTorch's names and defaults.

use std::collections::HashMap;

use crate::check::lower::const_eval;
use crate::check::suggest::nearest;
use crate::diagnostic::Diagnostic;
use crate::program::{Optimizer, TrainSpec};
use crate::syntax::ast::{File, Ident, Span, TrainArg};

/// What values an option accepts.
#[derive(Clone, Copy)]
enum Rule {
    /// A finite number > 0.
    Positive,
    /// A whole number >= 0.
    Count,
    /// A number in [0, 1).
    Fraction,
}

/// One option of an optimizer: name, default (None = required), rule.
type OptSpec = (&'static str, Option<f64>, Rule);

const SGD: &[OptSpec] = &[
    ("lr", None, Rule::Positive),
    ("epochs", None, Rule::Count),
    ("momentum", Some(0.0), Rule::Fraction),
];
const ADAM: &[OptSpec] = &[
    ("lr", Some(0.001), Rule::Positive),
    ("epochs", None, Rule::Count),
    ("beta1", Some(0.9), Rule::Fraction),
    ("beta2", Some(0.999), Rule::Fraction),
    ("eps", Some(1e-8), Rule::Positive),
];
const NEWTON: &[OptSpec] = &[("epochs", None, Rule::Count)];

const OPTIMIZERS: [(&str, &[OptSpec], &str); 3] = [
    ("sgd", SGD, "train sgd(lr = 0.01, epochs = 1000)"),
    ("adam", ADAM, "train adam(lr = 0.001, epochs = 1000)"),
    ("newton", NEWTON, "train newton(epochs = 10)"),
];

/// The largest accepted epoch count: 10^9. Training time grows with the
/// epochs (times the rows and the kernel's size) and ddx runs every epoch
/// it is asked for, so a count far beyond any full-batch training (a slip
/// like `1e12`, days of work) is an error rather than a run that seems to
/// hang. The seed model runs 10^9 epochs in about 20 s (release).
pub const MAX_EPOCHS: f64 = 1e9;

/// Checks a `train` statement and turns it into a [`TrainSpec`].
pub(super) fn train_spec(
    file: &File,
    src: &str,
    optimizer: &Ident,
    args: &[TrainArg],
    span: Span,
) -> Result<TrainSpec, Diagnostic> {
    let opt_name = file.name(optimizer.name);
    let Some(&(_, specs, example)) = OPTIMIZERS.iter().find(|(n, _, _)| *n == opt_name) else {
        let mut d = Diagnostic::new(
            format!("unknown optimizer `{opt_name}`"),
            optimizer.span.range(),
        )
        .with_label("not an optimizer");
        if let Some(s) = nearest(opt_name, OPTIMIZERS.iter().map(|o| o.0)) {
            d = d.with_note(format!("did you mean `{s}`?"));
        }
        return Err(d.with_note("the optimizers are: sgd, adam, newton"));
    };
    let option_list = specs.iter().map(|s| s.0).collect::<Vec<_>>().join(", ");
    let mut given: HashMap<&str, (f64, Span)> = HashMap::new();
    for arg in args {
        let a = match arg {
            TrainArg::Named(a) => a,
            TrainArg::Positional(e) => {
                return Err(Diagnostic::new(
                    "the options of `train` are named",
                    file.expr(*e).span.range(),
                )
                .with_label("no option name")
                .with_note(format!("write them as `name = value`, e.g. `{example}`")));
            }
        };
        let name = file.name(a.name.name);
        let Some(&(key, _, rule)) = specs.iter().find(|s| s.0 == name) else {
            let mut d = Diagnostic::new(
                format!("`{opt_name}` has no option `{name}`"),
                a.name.span.range(),
            )
            .with_label("unknown option");
            if let Some(s) = nearest(name, specs.iter().map(|s| s.0)) {
                d = d.with_note(format!("did you mean `{s}`?"));
            }
            return Err(d.with_note(format!("the options of `{opt_name}` are: {option_list}")));
        };
        if let Some((_, first)) = given.get(key) {
            let (l, c) = crate::syntax::line_col(src, first.start as usize);
            return Err(Diagnostic::new(
                format!("option `{key}` is given twice"),
                a.name.span.range(),
            )
            .with_label("second time")
            .with_secondary(first.range(), "first time")
            .with_note(format!("first given at line {l}, column {c}")));
        }
        let v = const_eval(file, a.value, &format!("option `{key}`"))?;
        let vspan = file.expr(a.value).span;
        let bad = |why: &str| {
            Err(Diagnostic::new(
                format!("option `{key}` must be {why}, but it is {}", show(v)),
                vspan.range(),
            )
            .with_label("out of range"))
        };
        match rule {
            Rule::Positive if v <= 0.0 => return bad("greater than 0"),
            Rule::Count if v < 0.0 || v.fract() != 0.0 || v > MAX_EPOCHS => {
                return bad("a whole number, at least 0 (and at most 1e9)")
            }
            Rule::Fraction if !(0.0..1.0).contains(&v) => return bad("at least 0 and below 1"),
            _ => {}
        }
        given.insert(key, (v, a.name.span));
    }
    let value = |key: &str| -> Result<f64, Diagnostic> {
        if let Some((v, _)) = given.get(key) {
            return Ok(*v);
        }
        let default = specs.iter().find(|s| s.0 == key).and_then(|s| s.1);
        default.ok_or_else(|| {
            Diagnostic::new(
                format!("`{opt_name}` needs the option `{key}`"),
                span.range(),
            )
            .with_label(format!("`{key}` missing"))
            .with_note(format!("for example: `{example}`"))
        })
    };
    // Required options first, in declaration order, so the first missing one
    // is reported.
    for s in specs {
        value(s.0)?;
    }
    let epochs = value("epochs")? as usize;
    let optimizer = match opt_name {
        "sgd" => Optimizer::Sgd {
            lr: value("lr")?,
            momentum: value("momentum")?,
        },
        "adam" => Optimizer::Adam {
            lr: value("lr")?,
            beta1: value("beta1")?,
            beta2: value("beta2")?,
            eps: value("eps")?,
        },
        _ => Optimizer::Newton,
    };
    Ok(TrainSpec {
        optimizer,
        epochs,
        span: span.range(),
    })
}

/// A number as the user would write it.
fn show(v: f64) -> String {
    let mut s = String::new();
    crate::syntax::ast::write_number(&mut s, v);
    s
}
