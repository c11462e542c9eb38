//! `ddx diff`: the derivatives of a checked unit, simplified, and their
//! renderings (text, `let` bindings, LaTeX, JSON).

use rustc_hash::FxHashMap as HashMap;

use serde::{Serialize, Serializer};

use crate::differentiate::{gradient, gradient_indexed};
use crate::graph::{Graph, IdxId, NodeId, SymId, SymbolKind};
use crate::print::{self, format_number, Style};
use crate::program::Unit;
use crate::simplify::simplify;

/// Highest `--order` accepted.
pub(crate) const MAX_ORDER: u32 = 100;

/// Higher derivatives may grow exponentially with the order (those of
/// `x^x` grow about 2.5 times per order): differentiating stops with an
/// error once it has added more than `MAX_NODES` nodes plus
/// [`GROWTH_PER_NODE`] per node of the input. First derivatives are one
/// reverse sweep, a constant times the function's size, and are not
/// limited.
pub(crate) const MAX_NODES: usize = 250_000;

/// Nodes a higher derivative may add per node of the input, beyond
/// [`MAX_NODES`].
pub(crate) const GROWTH_PER_NODE: usize = 4;

/// Most nodes the sweeps of higher derivatives may visit in all (an upper
/// estimate: each sweep counts the smaller of its expression's tree size
/// and the whole graph). Many variables times a large shared expression,
/// like `--order 2` of `(x1 + ... + x100000)^3`, is an error rather than
/// hours of work.
pub(crate) const MAX_WORK: usize = 2_000_000;

/// What to differentiate and how.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Variables to differentiate by (all when empty).
    pub wrt: Vec<String>,
    /// Order of the derivative (1 when 0).
    pub order: u32,
    /// Values to substitute, `name = value`.
    pub at: Vec<(String, f64)>,
}

/// One derivative: `d^order f / d wrt^order = expr`.
#[derive(Clone, Debug)]
pub struct Derivative {
    /// The variable differentiated with respect to.
    pub wrt: String,
    /// The order of the derivative (at least 1).
    pub order: u32,
    /// The simplified derivative.
    pub expr: NodeId,
    /// For an array param, the free indices of `expr` that name the
    /// element it is the derivative by (`dC/dW[i, j]`); empty for a scalar.
    pub indices: Vec<IdxId>,
}

/// The simplified function and its derivatives, all nodes of one graph.
#[derive(Clone, Debug)]
pub struct Derivatives {
    /// The graph holding the function and every derivative.
    pub graph: Graph,
    /// `f`, `y`, or the loss name.
    pub name: String,
    /// The simplified function.
    pub function: NodeId,
    /// One derivative per variable differentiated with respect to, in order.
    pub items: Vec<Derivative>,
    /// Names of user `let`s, used by the `let` rendering.
    pub let_names: HashMap<NodeId, String>,
    /// Number of variables the function has (decides `d` vs `∂` in LaTeX).
    pub arity: usize,
    /// A model's data columns, to evaluate reductions under `--at`.
    pub data: Vec<(SymId, Vec<f64>)>,
}

/// A usage error (bad `--wrt`, `--at` or `--order`): a plain message.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Differentiates a checked unit: expression mode by each free variable,
/// models (the loss) by each param.
pub fn derivatives(unit: Unit, opts: &DiffOptions) -> Result<Derivatives, UsageError> {
    let order = opts.order.max(1);
    if order > MAX_ORDER {
        return Err(UsageError(format!(
            "--order {order} is too high (the limit is {MAX_ORDER})"
        )));
    }
    let (mut graph, name, root, vars, let_names, data) = match unit {
        Unit::Expr(f) => (
            f.graph,
            f.name,
            f.root,
            f.vars,
            HashMap::default(),
            Vec::new(),
        ),
        Unit::Model(m) => {
            let vars: Vec<SymId> = m.params.iter().map(|p| p.sym).collect();
            let lets = m.lets.iter().map(|l| (l.node, l.name.clone())).collect();
            let data = m.data.into_iter().map(|d| (d.sym, d.values)).collect();
            (m.graph, m.loss.name, m.loss.node, vars, lets, data)
        }
    };
    let arity = vars.len();
    let expression = graph.symbols().iter().all(|s| s.kind == SymbolKind::Free);
    let wrt: Vec<SymId> = if opts.wrt.is_empty() {
        vars.clone()
    } else {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for w in &opts.wrt {
            if !is_name(w) {
                let shown = if w.is_empty() { "''" } else { w.as_str() };
                return Err(UsageError(format!(
                    "--wrt {shown}: expected a variable name, like x"
                )));
            }
            if !seen.insert(w.as_str()) {
                // `--wrt x,x`: one derivative by x
                continue;
            }
            let not_variable = if graph.symbol_id(w).is_some() {
                None
            } else if w == "pi" {
                Some("the constant π")
            } else if crate::check::function(w).is_some() {
                Some("a function")
            } else if crate::syntax::lexer::KEYWORDS.contains(&w.as_str()) {
                Some("a keyword")
            } else if expression && *w == name {
                Some("the function's own name")
            } else {
                None
            };
            if let Some(what) = not_variable {
                return Err(UsageError(format!(
                    "--wrt {w}: `{w}` is {what}, not a variable"
                )));
            }
            match graph.symbol_id(w) {
                Some(s) if graph.symbol(s).kind != SymbolKind::Data => out.push(s),
                Some(_) => {
                    return Err(UsageError(format!(
                        "--wrt {w}: `{w}` is a data column; differentiate by a param"
                    )))
                }
                None if vars.is_empty()
                    || graph.symbols().iter().all(|s| s.kind == SymbolKind::Free) =>
                {
                    // a variable the expression does not use: the derivative is 0
                    out.push(graph.declare(w, SymbolKind::Free));
                }
                None => {
                    let names: Vec<&str> = vars
                        .iter()
                        .map(|&v| graph.symbol(v).name.as_str())
                        .collect();
                    let hint = match crate::check::nearest(w, names.iter().copied()) {
                        Some(n) => format!(" (did you mean `{n}`?)"),
                        None => format!(" (the params are: {})", list(&names)),
                    };
                    return Err(UsageError(format!("--wrt {w}: no such param{hint}")));
                }
            }
        }
        out
    };
    let function = simplify(&mut graph, &[root])[0];
    // The input's own size does not count against the limit: only what
    // differentiating adds to it.
    let base = graph.len();
    let limit = MAX_NODES.saturating_add(GROWTH_PER_NODE.saturating_mul(base));
    let too_big = |graph: &Graph| graph.len() - base > limit;
    // One reverse sweep and one simplification give every first
    // derivative: a constant times the function's cost, however many
    // variables it has.
    let partials = gradient_indexed(&mut graph, function, &wrt);
    let raw: Vec<NodeId> = partials.iter().map(|p| p.node).collect();
    let first = simplify(&mut graph, &raw);
    if order > 1 {
        if let Some(p) = wrt.iter().find(|&&s| !graph.symbol(s).shape.is_empty()) {
            return Err(UsageError(format!(
                "--order {order}: `{}` is an array param; higher derivatives are by scalar params only",
                graph.symbol(*p).name
            )));
        }
    }
    let mut items = Vec::new();
    // Higher orders are one sweep per variable and order, each over the
    // previous derivative: their cost is bounded by the node limit and by
    // an estimate of the nodes the sweeps visit.
    let mut work = 0usize;
    for (i, (&v, mut d)) in wrt.iter().zip(first).enumerate() {
        for k in 2..=order {
            let visits = (graph.meta(d).size as usize).min(graph.len());
            work = work.saturating_add(visits);
            if work > MAX_WORK {
                return Err(UsageError(format!(
                    "--order {order}: differentiating {} variables to order {order} is too much work; \
                     choose some with --wrt",
                    wrt.len()
                )));
            }
            d = gradient(&mut graph, d, &[v])[0];
            if !too_big(&graph) {
                d = simplify(&mut graph, &[d])[0];
            }
            if too_big(&graph) {
                let name = &graph.symbol(v).name;
                let hint = if i == 0 {
                    format!("try --order {} or lower", k - 1)
                } else {
                    "try a lower --order, or one variable with --wrt".to_string()
                };
                return Err(UsageError(format!(
                    "--order {order}: the derivative by `{name}` grows too large at order {k} \
                     (past {limit} new nodes); {hint}"
                )));
            }
        }
        items.push(Derivative {
            wrt: graph.symbol(v).name.clone(),
            order,
            expr: d,
            indices: partials[i].indices.clone(),
        });
    }
    let mut result = Derivatives {
        graph,
        name,
        function,
        items,
        let_names,
        arity,
        data,
    };
    if !opts.at.is_empty() {
        result.substitute(&opts.at)?;
    }
    Ok(result)
}

impl Derivatives {
    /// Replaces variables by values and simplifies (folding constants).
    fn substitute(&mut self, at: &[(String, f64)]) -> Result<(), UsageError> {
        let mut map = HashMap::default();
        for (name, value) in at {
            let Some(s) = self.graph.symbol_id(name) else {
                let names: Vec<&str> = self
                    .graph
                    .symbols()
                    .iter()
                    .filter(|s| s.kind != SymbolKind::Data)
                    .map(|s| s.name.as_str())
                    .collect();
                let hint = match crate::check::nearest(name, names.iter().copied()) {
                    Some(n) => format!(" (did you mean `{n}`?)"),
                    None if names.is_empty() => " (the function has no variables)".to_string(),
                    None => format!(" (the variables are: {})", list(&names)),
                };
                return Err(UsageError(format!(
                    "--at {name}={}: no variable `{name}`{hint}",
                    format_number(*value)
                )));
            };
            if self.graph.symbol(s).kind == SymbolKind::Data {
                return Err(UsageError(format!(
                    "--at {name}: `{name}` is a data column; --at gives values to params"
                )));
            }
            let c = self.graph.constant(*value);
            map.insert(s, c);
        }
        let mut roots = vec![self.function];
        roots.extend(self.items.iter().map(|d| d.expr));
        let replaced = self.graph.substitute(&roots, &map);
        let mut simplified = simplify(&mut self.graph, &replaced);
        // reductions over the data, with no variable left: their values
        for node in simplified.iter_mut() {
            if let Some(v) = self.evaluate_over_data(*node) {
                *node = self.graph.constant(v);
            }
        }
        self.function = simplified[0];
        for (d, &n) in self.items.iter_mut().zip(&simplified[1..]) {
            d.expr = n;
        }
        self.let_names.clear();
        Ok(())
    }

    /// The value of a node that depends on the data only, over the data.
    fn evaluate_over_data(&self, node: NodeId) -> Option<f64> {
        let g = &self.graph;
        if !g.meta(node).has_reduce || g.meta(node).per_row {
            return None;
        }
        let free = g.topo_order(&[node]).into_iter().any(|id| {
            g.as_sym(id)
                .is_some_and(|s| g.symbol(s).kind != SymbolKind::Data)
        });
        if free {
            return None;
        }
        let layout = crate::schedule::Layout {
            params: Vec::new(),
            columns: self.data.iter().map(|d| d.0).collect(),
        };
        let columns: Vec<&[f64]> = self.data.iter().map(|d| d.1.as_slice()).collect();
        crate::interpret::eval(g, &[node], &layout, &[], &columns)
            .ok()
            .map(|v| v[0])
    }

    /// The left-hand side, `df/dx` or `d2f/dx2`.
    pub fn label(&self, d: &Derivative) -> String {
        if d.order == 1 {
            format!("d{}/d{}", self.name, d.wrt)
        } else {
            format!("d{o}{}/d{}{o}", self.name, d.wrt, o = d.order)
        }
    }

    fn latex_label(&self, d: &Derivative) -> String {
        let (dd, f) = if self.arity > 1 {
            ("\\partial", " ")
        } else {
            ("d", "")
        };
        // the names as the expressions print them: `a_b_c` or `_` raw would
        // not be valid LaTeX
        let name = print::latex_name(&self.name);
        let wrt = print::latex_name(&d.wrt);
        if d.order == 1 {
            format!("\\frac{{{dd}{f}{name}}}{{{dd}{f}{wrt}}}")
        } else {
            let o = d.order;
            format!("\\frac{{{dd}^{{{o}}}{f}{name}}}{{{dd}{f}{wrt}^{{{o}}}}}")
        }
    }

    fn indices(&self) -> Vec<Vec<IdxId>> {
        self.items.iter().map(|d| d.indices.clone()).collect()
    }

    fn roots(&self) -> Vec<NodeId> {
        self.items.iter().map(|d| d.expr).collect()
    }

    /// True when the derivatives are too large to print inline: one of
    /// them is, or all together they are ten times that (many variables
    /// sharing a large subexpression would print it once per variable).
    fn too_large(&self) -> bool {
        let mut total: u64 = 0;
        for d in &self.items {
            let size = self.graph.meta(d.expr).size;
            if size > print::INLINE_LIMIT {
                return true;
            }
            total += u64::from(size);
        }
        total > 10 * u64::from(print::INLINE_LIMIT)
    }

    /// One `label = expr` line per derivative; with `cse` (or when the
    /// expressions are too large to print inline) the shared subexpressions
    /// come first as `let` lines.
    pub fn to_text(&self, cse: bool) -> String {
        self.render(Style::Text, cse)
    }

    /// LaTeX, one equation per line.
    pub fn to_latex(&self, cse: bool) -> String {
        self.render(Style::Latex, cse)
    }

    /// The lines of [`Derivatives::to_text`] or [`Derivatives::to_latex`].
    fn render(&self, style: Style, cse: bool) -> String {
        let (let_word, label): (&str, fn(&Self, &Derivative) -> String) = match style {
            Style::Text => ("let ", Self::label),
            Style::Latex => ("", Self::latex_label),
        };
        let mut out = String::new();
        if cse || self.too_large() {
            let p = print::with_lets(
                &self.graph,
                &self.roots(),
                &self.let_names,
                style,
                &self.indices(),
            );
            for (name, e) in &p.lets {
                out.push_str(&format!("{let_word}{name} = {e}\n"));
            }
            for ((d, e), head) in self.items.iter().zip(&p.roots).zip(&p.elements) {
                out.push_str(&format!("{}{head} = {e}\n", label(self, d)));
            }
        } else {
            for d in &self.items {
                let printer = print::Printer::new(&self.graph, style);
                let head = self.element(&printer, d);
                let e = printer.print(d.expr);
                out.push_str(&format!("{}{head} = {e}\n", label(self, d)));
            }
        }
        out
    }

    /// The element a derivative is by, in `printer`'s index names: `[j]`
    /// for `dC/dw[j]`, `_{j}` in LaTeX, nothing for a scalar.
    fn element(&self, printer: &print::Printer<'_>, d: &Derivative) -> String {
        printer.element(&d.indices)
    }

    /// Operations of the CSE'd program: the function alone, and all the
    /// derivatives together (each distinct node once).
    pub fn ops(&self) -> (usize, usize) {
        (
            self.graph.expanded_op_count(&[self.function]),
            self.graph.expanded_op_count(&self.roots()),
        )
    }

    /// The function, then every derivative: the outputs of a kernel that
    /// computes them all (`ddx emit` and the fuzz targets compile these).
    pub fn kernel_outputs(&self) -> Vec<NodeId> {
        let mut outputs = vec![self.function];
        outputs.extend(self.items.iter().map(|i| i.expr));
        outputs
    }

    /// Labels of [`Derivatives::kernel_outputs`]: the function's name, then
    /// `df/dx`-style labels.
    pub fn output_names(&self) -> Vec<String> {
        let mut names = vec![self.name.clone()];
        names.extend(self.items.iter().map(|i| self.label(i)));
        names
    }

    /// The kernel layout of an expression's variables: every symbol of the
    /// graph a scalar param, in declaration order.
    pub fn scalar_layout(&self) -> crate::schedule::Layout {
        let vars: Vec<_> = self
            .graph
            .symbols()
            .iter()
            .filter_map(|s| self.graph.symbol_id(&s.name))
            .collect();
        crate::schedule::Layout::scalars(&vars)
    }

    /// `{"function", "derivatives": [{"wrt", "order", "expr"}], "ops"}`;
    /// with `cse` (or when the derivatives are too large to print inline),
    /// also `"lets"` and the expressions in terms of them. A
    /// derivative that is a number also has `"value"`.
    pub fn to_json(&self, cse: bool) -> String {
        let (fops, gops) = self.ops();
        // as in the text form, derivatives too large to print inline come
        // with `let` bindings
        // a function too large to print inline (deeply shared lets) is
        // printed with the `let`s too, as their first root
        let function_large = self.graph.meta(self.function).size > print::INLINE_LIMIT;
        let cse = cse || self.too_large() || function_large;
        let mut function = None;
        let (lets, exprs) = if cse {
            let mut roots = self.roots();
            let mut indices = self.indices();
            if function_large {
                roots.insert(0, self.function);
                indices.insert(0, Vec::new());
            }
            let p = print::with_lets(&self.graph, &roots, &self.let_names, Style::Text, &indices);
            let lets = p
                .lets
                .into_iter()
                .map(|(name, expr)| JsonLet { name, expr })
                .collect();
            let mut exprs: Vec<(String, String)> = p.roots.into_iter().zip(p.elements).collect();
            if function_large {
                function = Some(exprs.remove(0).0);
            }
            (Some(lets), exprs)
        } else {
            let exprs: Vec<(String, String)> = self
                .items
                .iter()
                .map(|d| {
                    let printer = print::Printer::new(&self.graph, Style::Text);
                    let head = self.element(&printer, d);
                    (printer.print(d.expr), head)
                })
                .collect();
            (None, exprs)
        };
        let derivatives = self
            .items
            .iter()
            .zip(exprs)
            .map(|(d, (expr, element))| JsonDerivative {
                wrt: &d.wrt,
                element,
                order: d.order,
                expr,
                value: self.graph.as_const(d.expr).map(JsonNumber),
            })
            .collect();
        let json = JsonDiff {
            function: function.unwrap_or_else(|| print::to_text(&self.graph, self.function)),
            derivatives,
            ops: JsonOps {
                function: fops,
                gradient: gops,
            },
            lets,
        };
        // only strings, integers and numbers: serialising cannot fail
        serde_json::to_string(&json).unwrap_or_default()
    }
}

/// `ddx diff --format json`, in field order.
#[derive(Serialize)]
struct JsonDiff<'a> {
    function: String,
    derivatives: Vec<JsonDerivative<'a>>,
    ops: JsonOps,
    #[serde(skip_serializing_if = "Option::is_none")]
    lets: Option<Vec<JsonLet>>,
}

/// One derivative; `value` when it is a number.
#[derive(Serialize)]
struct JsonDerivative<'a> {
    wrt: &'a str,
    /// `[j]` for the derivative by `w[j]`; absent for a scalar param.
    #[serde(skip_serializing_if = "String::is_empty")]
    element: String,
    order: u32,
    expr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<JsonNumber>,
}

/// Operation counts of the function and of all its derivatives.
#[derive(Serialize)]
struct JsonOps {
    function: usize,
    gradient: usize,
}

/// A shared subexpression: `let name = expr`.
#[derive(Serialize)]
struct JsonLet {
    name: String,
    expr: String,
}

/// A JSON number, or a string for NaN and infinities (JSON has none).
struct JsonNumber(f64);

impl Serialize for JsonNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_str(&format_number(self.0))
        }
    }
}

/// `a, b, c`, cut after ten names.
fn list(names: &[&str]) -> String {
    // a name of a thousand characters is shown by its start
    let short = |n: &str| -> String {
        if n.len() > 40 {
            format!("{}...", &n[..40])
        } else {
            n.to_string()
        }
    };
    let mut s = names
        .iter()
        .take(10)
        .map(|n| short(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(", ... ({} in all)", names.len()));
    }
    s
}

/// True for an identifier: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `--at x=5,y=2` into pairs.
pub fn parse_at(text: &str) -> Result<Vec<(String, f64)>, UsageError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=').filter(|(n, _)| is_name(n.trim())) else {
            return Err(UsageError(format!(
                "--at {part}: expected NAME=VALUE, like x=5"
            )));
        };
        let value = value.trim();
        let v: f64 = value
            .parse()
            .map_err(|_| UsageError(format!("--at {part}: `{value}` is not a number")))?;
        if !v.is_finite() {
            return Err(UsageError(format!("--at {part}: the value must be finite")));
        }
        let name = name.trim();
        if !seen.insert(name) {
            return Err(UsageError(format!(
                "--at {part}: `{name}` is given a value twice"
            )));
        }
        out.push((name.to_string(), v));
    }
    if out.is_empty() {
        return Err(UsageError("--at: expected NAME=VALUE, like x=5".into()));
    }
    Ok(out)
}
