//! `ddx check` for models with array params or data: the symbolic
//! gradient, evaluated by the reference interpreter, next to central finite
//! differences of the interpreted loss, element by element. (Array models
//! are not compiled yet; the scalar check compares the JIT too.)
//!
//! The step and the error are those of the scalar check (see
//! [`super::gradient_check`]). Every element is checked unless that would
//! take more than [`MAX_WORK`] interpreted operations; then an evenly
//! spaced sample of each param's elements is checked (always the first and
//! the last), and the report says how many.

use std::fmt::{self, Write as _};

use rustc_hash::FxHashMap as HashMap;

use crate::differentiate::gradient_indexed;
use crate::graph::{IdxId, NodeId};
use crate::interpret::{eval_arrays, ArrayInputs};
use crate::program::Model;
use crate::simplify::simplify;

use super::gradient_check::TOLERANCE;

/// Most interpreted operations (elements times rows, over every loss
/// evaluation) the finite differences may take.
pub(crate) const MAX_WORK: f64 = 1e8;

/// The check of one array (or scalar) param.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayParamCheck {
    /// The param's name.
    pub name: String,
    /// Its shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The param's values the check was made at, row-major.
    pub values: Vec<f64>,
    /// The symbolic gradient, row-major.
    pub gradient: Vec<f64>,
    /// The central finite difference of each checked element.
    pub finite_difference: Vec<Option<f64>>,
    /// The error of each checked element.
    pub error: Vec<Option<f64>>,
}

impl ArrayParamCheck {
    /// The element with the largest error (NaN counts as the largest).
    pub fn worst(&self) -> Option<(usize, f64)> {
        self.error
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .max_by(|a, b| {
                let key = |e: f64| if e.is_nan() { f64::INFINITY } else { e };
                key(a.1).total_cmp(&key(b.1))
            })
    }

    /// The number of elements checked.
    pub fn checked(&self) -> usize {
        self.error.iter().filter(|e| e.is_some()).count()
    }

    /// True when every checked element agrees.
    pub fn ok(&self) -> bool {
        self.error.iter().flatten().all(|&e| e <= TOLERANCE)
    }

    /// The indices of element `flat`, `[3, 17]`.
    pub fn position(&self, flat: usize) -> Vec<usize> {
        let mut rest = flat;
        let mut out = vec![0; self.shape.len()];
        for (slot, &d) in out.iter_mut().zip(&self.shape).rev() {
            *slot = rest % d.max(1);
            rest /= d.max(1);
        }
        out
    }
}

/// The result of `ddx check` on an array model.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayCheckReport {
    /// The name of the loss.
    pub loss_name: String,
    /// The interpreted loss at the params.
    pub loss: f64,
    /// The number of data rows.
    pub rows: usize,
    /// Each param's check, in declaration order.
    pub params: Vec<ArrayParamCheck>,
    /// Print every element, not only the worst of each param.
    pub verbose: bool,
}

impl ArrayCheckReport {
    /// True when every checked element agrees with finite differences.
    pub fn passed(&self) -> bool {
        self.params.iter().all(ArrayParamCheck::ok)
    }

    /// `{"loss": L, "gradient": {"w": [...], "b": g, "W": [[...], ...]}}`,
    /// arrays nested row-major (NaN and infinities as `null`).
    pub fn to_json(&self) -> String {
        let mut gradient = serde_json::Map::new();
        for p in &self.params {
            gradient.insert(p.name.clone(), nested(&p.gradient, &p.shape));
        }
        let mut out = serde_json::Map::new();
        out.insert("loss".into(), number(self.loss));
        out.insert("gradient".into(), serde_json::Value::Object(gradient));
        serde_json::Value::Object(out).to_string()
    }
}

fn number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `values` (row-major) as nested JSON arrays of `shape`; a scalar as a
/// number.
pub(crate) fn nested(values: &[f64], shape: &[usize]) -> serde_json::Value {
    match shape {
        [] => number(values.first().copied().unwrap_or(f64::NAN)),
        [_] => serde_json::Value::Array(values.iter().map(|&v| number(v)).collect()),
        [n, rest @ ..] => {
            let stride: usize = rest.iter().product();
            serde_json::Value::Array(
                (0..*n)
                    .map(|i| nested(&values[i * stride..(i + 1) * stride], rest))
                    .collect(),
            )
        }
    }
}

/// The inputs of an interpreted evaluation of `model` at `params` (each
/// param's values, row-major, in declaration order).
pub(crate) fn inputs<'a>(model: &'a Model, params: &'a [Vec<f64>]) -> ArrayInputs<'a> {
    ArrayInputs {
        params: model
            .params
            .iter()
            .zip(params)
            .map(|(p, v)| (p.sym, v.as_slice()))
            .collect::<HashMap<_, _>>(),
        columns: model
            .data
            .iter()
            .map(|d| (d.sym, d.values.as_slice()))
            .collect(),
        rows: model.rows,
    }
}

/// The simplified loss and gradient of a model: the loss node, then per
/// param its derivative and the indices naming its element.
pub(crate) fn loss_and_gradient(model: &mut Model) -> (NodeId, Vec<(NodeId, Vec<IdxId>)>) {
    let g = &mut model.graph;
    let wrt: Vec<_> = model.params.iter().map(|p| p.sym).collect();
    let loss = simplify(g, &[model.loss.node])[0];
    let partials = gradient_indexed(g, loss, &wrt);
    let raw: Vec<NodeId> = partials.iter().map(|p| p.node).collect();
    let simple = simplify(g, &raw);
    let grads = simple
        .into_iter()
        .zip(partials)
        .map(|(n, p)| (n, p.indices))
        .collect();
    (loss, grads)
}

/// Checks an array model at `params` (each param's values, row-major).
pub fn check_array_model(
    model: &mut Model,
    params: &[Vec<f64>],
    verbose: bool,
    finite_differences: bool,
) -> ArrayCheckReport {
    let (loss, grads) = loss_and_gradient(model);
    let model = &*model;
    let g = &model.graph;
    let mut outputs: Vec<(NodeId, &[IdxId])> = vec![(loss, &[])];
    outputs.extend(grads.iter().map(|(n, i)| (*n, i.as_slice())));
    let values = eval_arrays(g, &outputs, &inputs(model, params));
    let loss_value = values[0][0];
    let elements: usize = params.iter().map(Vec::len).sum();
    let cost = (g.expanded_op_count(&[loss]).max(1) * model.rows.max(1)) as f64;
    let budget = (MAX_WORK / (2.0 * cost)).floor().max(1.0) as usize;
    let mut p = params.to_vec();
    let mut checks = Vec::with_capacity(params.len());
    for (k, param) in model.params.iter().enumerate() {
        let n = params[k].len();
        // evenly spaced elements when there is no time for all
        let share = if !finite_differences {
            0
        } else if elements <= budget {
            n
        } else {
            (budget * n / elements.max(1)).clamp(2.min(n), n)
        };
        let picks: Vec<usize> = if share == 0 {
            Vec::new()
        } else if share >= n {
            (0..n).collect()
        } else {
            let mut v: Vec<usize> = (0..share)
                .map(|t| t * (n - 1) / (share - 1).max(1))
                .collect();
            v.dedup();
            v
        };
        let gradient = values[k + 1].clone();
        let mut fds = vec![None; n];
        let mut errors = vec![None; n];
        for i in picks {
            let value = params[k][i];
            let h = f64::EPSILON.cbrt() * value.abs().max(1.0);
            let (up, down) = (value + h, value - h);
            p[k][i] = up;
            let l_up = eval_arrays(g, &[(loss, &[])], &inputs(model, &p))[0][0];
            p[k][i] = down;
            let l_down = eval_arrays(g, &[(loss, &[])], &inputs(model, &p))[0][0];
            p[k][i] = value;
            let fd = (l_up - l_down) / (up - down);
            let gi = gradient[i];
            let floor = 1e-3 * loss_value.abs().max(1.0);
            let error = (gi - fd).abs() / gi.abs().max(fd.abs()).max(floor);
            fds[i] = Some(fd);
            errors[i] = Some(if error.is_nan() { f64::INFINITY } else { error });
        }
        checks.push(ArrayParamCheck {
            name: param.name.clone(),
            shape: param.shape.clone(),
            values: params[k].clone(),
            gradient,
            finite_difference: fds,
            error: errors,
        });
    }
    ArrayCheckReport {
        loss_name: model.loss.name.clone(),
        loss: loss_value,
        rows: model.rows,
        params: checks,
        verbose,
    }
}

fn position_text(pos: &[usize]) -> String {
    let parts: Vec<String> = pos.iter().map(|p| p.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for ArrayCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loss {} = {} ({} rows; evaluated by the interpreter)",
            self.loss_name, self.loss, self.rows
        )?;
        let width = self
            .params
            .iter()
            .map(|p| p.name.len() + 2 + 6 * p.shape.len())
            .max()
            .unwrap_or(0)
            .max("param (worst element)".len());
        let pad = |name: &str| format!("{name}{}", " ".repeat(width.saturating_sub(name.len())));
        writeln!(
            f,
            "{}  {:>20}  {:>20}  {:>9}  checked",
            pad("param (worst element)"),
            "gradient",
            "finite difference",
            "error"
        )?;
        for p in &self.params {
            let lines: Vec<usize> = if self.verbose {
                (0..p.gradient.len())
                    .filter(|&i| p.error[i].is_some())
                    .collect()
            } else {
                p.worst().map(|w| w.0).into_iter().collect()
            };
            for i in lines {
                let label = if p.shape.is_empty() {
                    p.name.clone()
                } else {
                    format!("{}{}", p.name, position_text(&p.position(i)))
                };
                let e = p.error[i].unwrap_or(f64::NAN);
                let mut tail = String::new();
                if !self.verbose {
                    let _ = write!(tail, "  {} of {}", p.checked(), p.gradient.len());
                }
                writeln!(
                    f,
                    "{}  {:>20.12e}  {:>20.12e}  {:>9.1e}  {}{tail}",
                    pad(&label),
                    p.gradient[i],
                    p.finite_difference[i].unwrap_or(f64::NAN),
                    e,
                    if e <= TOLERANCE { "ok" } else { "DISAGREES" }
                )?;
            }
        }
        writeln!(
            f,
            "tolerance: error <= {TOLERANCE:e} (central differences, step cbrt(eps)*max(1,|p|); \
             error = |g - fd| / max(|g|, |fd|, 1e-3*max(1,|loss|)))"
        )?;
        let total: usize = self.params.iter().map(|p| p.gradient.len()).sum();
        let checked: usize = self.params.iter().map(ArrayParamCheck::checked).sum();
        let bad: usize = self
            .params
            .iter()
            .map(|p| p.error.iter().flatten().filter(|&&e| e > TOLERANCE).count())
            .sum();
        let sample = if checked < total {
            format!(" ({checked} of {total} elements checked: an evenly spaced sample)")
        } else {
            String::new()
        };
        if bad == 0 {
            writeln!(f, "ok: all {checked} gradient elements agree{sample}")
        } else {
            writeln!(
                f,
                "FAILED: {bad} of {checked} gradient elements disagree{sample}"
            )
        }
    }
}
