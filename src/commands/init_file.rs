//! `--init FIT.json`: start from the `"params"` of an earlier
//! `ddx train --json` output (or any JSON object with a `"params"` object
//! mapping each param's name to a number, or to nested lists for an array
//! param, row-major).

use serde_json::Value;

use crate::program::Model;

use super::Refusal;

/// Each param's values (row-major, in declaration order) read from the
/// JSON text `text` of the file `shown`. A missing, extra or wrongly
/// shaped param is an error naming it.
pub fn read_init(text: &str, shown: &str, model: &Model) -> Result<Vec<Vec<f64>>, Refusal> {
    let fail = |msg: String| Refusal::Usage(format!("--init {shown}: {msg}"));
    let json: Value =
        serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON ({e})")))?;
    let Some(params) = json.get("params").and_then(Value::as_object) else {
        return Err(fail(
            "expected a JSON object with a \"params\" object, as `ddx train --json` prints".into(),
        ));
    };
    if let Some(extra) = params
        .keys()
        .find(|k| !model.params.iter().any(|p| &p.name == *k))
    {
        return Err(fail(format!("`{extra}` is not a param of the model")));
    }
    let mut out = Vec::with_capacity(model.params.len());
    for p in &model.params {
        let Some(v) = params.get(&p.name) else {
            return Err(fail(format!("param `{}` is missing", p.name)));
        };
        let mut values = Vec::with_capacity(p.init.len());
        if !flatten(v, &p.shape, &mut values) {
            let shape = if p.shape.is_empty() {
                "a number".to_string()
            } else {
                let dims: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
                format!("nested lists of shape [{}]", dims.join(", "))
            };
            return Err(fail(format!(
                "param `{}` must be {shape} of finite numbers",
                p.name
            )));
        }
        out.push(values);
    }
    Ok(out)
}

/// Appends the numbers of `v`, which must have `shape`; false if it has not.
fn flatten(v: &Value, shape: &[usize], out: &mut Vec<f64>) -> bool {
    match shape {
        [] => match v.as_f64() {
            Some(x) if x.is_finite() => {
                out.push(x);
                true
            }
            _ => false,
        },
        [n, rest @ ..] => match v.as_array() {
            Some(items) if items.len() == *n => items.iter().all(|i| flatten(i, rest, out)),
            _ => false,
        },
    }
}
