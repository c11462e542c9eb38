//! Lowering expressions of the AST into the expression graph, and
//! evaluating constant expressions. Both walk the expression in postorder
//! with an explicit value stack: no recursion, whatever the depth.

use crate::check::suggest::nearest;
use crate::diagnostic::Diagnostic;
use crate::graph::{Graph, NodeId};
use crate::syntax::ast::{ExprId, ExprKind, File, NameId, Span};

pub(crate) use crate::graph::ops::Func;

/// The function called `name`, if there is one (`log` is `ln`, `pow` is `^`).
pub(crate) fn function(name: &str) -> Option<Func> {
    Func::from_name(name)
}

/// Every function name, in the order the language documents them.
pub(super) fn function_names() -> Vec<&'static str> {
    Func::ALL.iter().map(|&(name, _)| name).collect()
}

/// Resolves the function of a call, checking its name and arity.
pub(super) fn callee(file: &File, id: ExprId) -> Result<Func, Diagnostic> {
    let ExprKind::Call { name, len, .. } = file.expr(id).kind else {
        unreachable!("callee of a non-call")
    };
    let text = file.name(name);
    let span = file.callee_span(id).range();
    let Some(f) = function(text) else {
        let mut d = Diagnostic::new(format!("unknown function `{text}`"), span)
            .with_label("not a function");
        let names = function_names();
        d = match nearest(text, names.iter().copied()) {
            Some(s) => d.with_note(format!("did you mean `{s}`?")),
            None => d.with_note(format!("the functions are: {}", names.join(", "))),
        };
        return Err(d);
    };
    if len as usize != f.arity() {
        let want = if f.arity() == 1 {
            "1 argument".to_string()
        } else {
            format!("{} arguments", f.arity())
        };
        return Err(Diagnostic::new(
            format!(
                "`{text}` takes {want}, but {} {} given",
                len,
                if len == 1 { "was" } else { "were" }
            ),
            file.expr(id).span.range(),
        )
        .with_label(format!("expected {want}")));
    }
    Ok(f)
}

/// The diagnostic for using a function's name as a value.
pub(super) fn function_as_value(name: &str, span: Span) -> Diagnostic {
    Diagnostic::new(format!("`{name}` is a function, not a value"), span.range())
        .with_label("function name")
        .with_note(format!("call it with an argument, e.g. `{name}(x)`"))
}

/// Lowers the expression `root` into `g`. `resolve` gives the node of a name
/// reference; `reductions` says whether `sum`/`mean` are allowed (model
/// files) or an error (expression mode).
pub(super) fn lower(
    file: &File,
    root: ExprId,
    g: &mut Graph,
    reductions: bool,
    resolve: &mut dyn FnMut(&mut Graph, NameId, Span) -> Result<NodeId, Diagnostic>,
) -> Result<NodeId, Diagnostic> {
    let order = file.postorder(root);
    super::reject_arrays(file, &order)?;
    let mut values: Vec<NodeId> = Vec::new();
    for id in order {
        let e = file.expr(id);
        let node = match e.kind {
            ExprKind::Num(v) => g.constant(v),
            ExprKind::Name(n) => resolve(g, n, e.span)?,
            ExprKind::Neg(_) => {
                let a = pop(&mut values);
                g.neg(a)
            }
            ExprKind::Binary(op, _, _) => {
                let b = pop(&mut values);
                let a = pop(&mut values);
                g.binary(op, a, b)
            }
            ExprKind::Call { name, .. } => {
                let f = callee(file, id)?;
                match f {
                    Func::Unary(op) => {
                        let a = pop(&mut values);
                        g.call(op, a)
                    }
                    Func::Binary(op) => {
                        let b = pop(&mut values);
                        let a = pop(&mut values);
                        g.binary(op, a, b)
                    }
                    Func::Reduce(r) => {
                        if !reductions {
                            return Err(Diagnostic::new(
                                format!(
                                    "`{}` sums over data rows, which only model files have",
                                    file.name(name)
                                ),
                                file.callee_span(id).range(),
                            )
                            .with_label("needs data")
                            .with_note("in expression mode every name is a scalar variable"));
                        }
                        let a = pop(&mut values);
                        g.reduce(r, a)
                    }
                }
            }
            ExprKind::Index { .. }
            | ExprKind::Transpose(_)
            | ExprKind::MatMul(..)
            | ExprKind::List { .. }
            | ExprKind::Named { .. } => return Err(super::arrays_not_yet(e.span)),
        };
        values.push(node);
    }
    Ok(pop(&mut values))
}

fn pop<T>(v: &mut Vec<T>) -> T {
    v.pop()
        .expect("postorder gives every operator its operands")
}

/// Evaluates a constant expression (numbers, `pi`, operators and
/// functions) with the value rules of [`crate::graph::ops`], so the result
/// is bit for bit what constant folding in the graph gives. `what` names the
/// place for the error message ("a param's initial value").
pub(super) fn const_eval(file: &File, root: ExprId, what: &str) -> Result<f64, Diagnostic> {
    let order = file.postorder(root);
    super::reject_arrays(file, &order)?;
    // A reduction is reported as such, before the data it reduces.
    for &id in &order {
        if let ExprKind::Call { name, .. } = file.expr(id).kind {
            if let Some(Func::Reduce(_)) = function(file.name(name)) {
                return Err(Diagnostic::new(
                    format!(
                        "{what} must be a constant, but `{}` needs data",
                        file.name(name)
                    ),
                    file.callee_span(id).range(),
                )
                .with_label("not a constant")
                .with_note("reductions are computed from data rows; use a number here"));
            }
        }
    }
    let mut values: Vec<f64> = Vec::new();
    for id in order {
        let e = file.expr(id);
        let v = match e.kind {
            ExprKind::Num(v) => v,
            ExprKind::Name(n) if file.name(n) == "pi" => std::f64::consts::PI,
            ExprKind::Name(n) => {
                return Err(Diagnostic::new(
                    format!(
                        "{what} must be a constant, but `{}` is a name",
                        file.name(n)
                    ),
                    e.span.range(),
                )
                .with_label("not a constant")
                .with_note("only numbers, `pi`, operators and functions are allowed here"));
            }
            ExprKind::Neg(_) => -pop(&mut values),
            ExprKind::Binary(op, _, _) => {
                let b = pop(&mut values);
                let a = pop(&mut values);
                op.eval(a, b)
            }
            ExprKind::Call { .. } => match callee(file, id)? {
                Func::Unary(op) => {
                    let a = pop(&mut values);
                    op.eval(a)
                }
                Func::Binary(op) => {
                    let b = pop(&mut values);
                    let a = pop(&mut values);
                    op.eval(a, b)
                }
                Func::Reduce(_) => unreachable!("reductions are rejected above"),
            },
            ExprKind::Index { .. }
            | ExprKind::Transpose(_)
            | ExprKind::MatMul(..)
            | ExprKind::List { .. }
            | ExprKind::Named { .. } => return Err(super::arrays_not_yet(e.span)),
        };
        values.push(v);
    }
    let v = pop(&mut values);
    if !v.is_finite() {
        return Err(Diagnostic::new(
            format!("{what} must be finite, but this evaluates to {v}"),
            file.expr(root).span.range(),
        )
        .with_label("not finite"));
    }
    Ok(v)
}
