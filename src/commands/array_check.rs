//! `ddx check` for models with array params or data: the compiled
//! gradient next to central finite differences of the compiled loss, for
//! every element. (The compiled code equals the reference interpreter bit
//! for bit: tests/arrays_property.rs.)
//!
//! The step and the error are those of the scalar check (see
//! [`super::gradient_check`]).

use std::fmt::{self, Write as _};

use crate::codegen::{compile_arrays, model_layout, ArrayKernel, CodegenError, KernelError};
use crate::pipeline::compile_array_model;
use crate::program::Model;

use super::gradient_check::TOLERANCE;

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

/// Checks an array model at `params` (each param's values, row-major):
/// the compiled loss and gradient, and (with `finite_differences`) a
/// central difference of the compiled loss for every element, on as many
/// threads as the machine has.
pub fn check_array_model(
    model: &mut Model,
    params: &[Vec<f64>],
    verbose: bool,
    finite_differences: bool,
) -> Result<ArrayCheckReport, CodegenError> {
    let compiled = compile_array_model(model, false, false)?;
    let model = &*model;
    let loss_only = compile_arrays(
        &model.graph,
        &[(compiled.derived.loss, Vec::new())],
        &model_layout(model),
        false,
    )?;
    let columns: Vec<&[f64]> = model.data.iter().map(|d| d.values.as_slice()).collect();
    let flat: Vec<f64> = params.iter().flatten().copied().collect();
    let mut out = vec![0.0; compiled.kernel.outputs()];
    compiled
        .kernel
        .call(&flat, &columns, &mut out)
        .map_err(|e| CodegenError::Cranelift(e.to_string()))?;
    let loss_value = out[0];
    let fds: Vec<Option<f64>> = if finite_differences {
        central_differences(&loss_only, &columns, &flat)
            .map_err(|e| CodegenError::Cranelift(e.to_string()))?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; flat.len()]
    };
    let mut checks = Vec::with_capacity(params.len());
    let mut at = 0;
    for (k, param) in model.params.iter().enumerate() {
        let n = params[k].len();
        let gradient = out[1 + at..1 + at + n].to_vec();
        let fd = fds[at..at + n].to_vec();
        let error = gradient
            .iter()
            .zip(&fd)
            .map(|(&gi, fd)| {
                fd.map(|fd| {
                    let floor = 1e-3 * loss_value.abs().max(1.0);
                    let e = (gi - fd).abs() / gi.abs().max(fd.abs()).max(floor);
                    if e.is_nan() {
                        f64::INFINITY
                    } else {
                        e
                    }
                })
            })
            .collect();
        checks.push(ArrayParamCheck {
            name: param.name.clone(),
            shape: param.shape.clone(),
            values: params[k].clone(),
            gradient,
            finite_difference: fd,
            error,
        });
        at += n;
    }
    Ok(ArrayCheckReport {
        loss_name: model.loss.name.clone(),
        loss: loss_value,
        rows: model.rows,
        params: checks,
        verbose,
    })
}

/// `(L(p + h e_i) - L(p - h e_i)) / 2h` for every element `i` (the step
/// of the scalar check, relative to the value), the elements shared out
/// over the machine's threads, each with its own bound kernel.
fn central_differences(
    loss: &ArrayKernel,
    columns: &[&[f64]],
    params: &[f64],
) -> Result<Vec<f64>, KernelError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, params.len().max(1));
    let chunk = params.len().div_ceil(threads).max(1);
    let mut fds = vec![0.0; params.len()];
    std::thread::scope(|scope| {
        let jobs: Vec<_> = fds
            .chunks_mut(chunk)
            .enumerate()
            .map(|(t, part)| {
                scope.spawn(move || -> Result<(), KernelError> {
                    let mut bound = loss.bind(columns)?;
                    let mut p = params.to_vec();
                    let mut l = [0.0];
                    for (j, fd) in part.iter_mut().enumerate() {
                        let i = t * chunk + j;
                        let value = params[i];
                        let h = f64::EPSILON.cbrt() * value.abs().max(1.0);
                        let (up, down) = (value + h, value - h);
                        p[i] = up;
                        bound.call(&p, &mut l)?;
                        let l_up = l[0];
                        p[i] = down;
                        bound.call(&p, &mut l)?;
                        p[i] = value;
                        *fd = (l_up - l[0]) / (up - down);
                    }
                    Ok(())
                })
            })
            .collect();
        jobs.into_iter()
            .try_for_each(|j| j.join().unwrap_or(Ok(())))
    })?;
    Ok(fds)
}

fn position_text(pos: &[usize]) -> String {
    let parts: Vec<String> = pos.iter().map(|p| p.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for ArrayCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loss {} = {} ({} rows; compiled loss and gradient)",
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
