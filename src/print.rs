//! Printing the graph as math: plain text (which parses back), LaTeX, and
//! `let` bindings for shared subexpressions.
//!
//! The printer never recurses on the expression's depth: it walks an
//! explicit stack and writes into one buffer, so any graph the program can
//! build can be printed in time linear in the output.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use std::cell::RefCell;

use crate::graph::{BinOp, Graph, IdxId, IdxKind, IndexOp, Node, NodeId, Sub, UnOp};

/// The names index variables get when the user did not name them, in the
/// order they are handed out.
const INDEX_NAMES: [&str; 12] = ["j", "k", "i", "m", "n", "p", "q", "r", "s", "t", "u", "v"];

/// True when `name` is an identifier the language accepts.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Expressions larger than this (as a tree, in operations) are printed with
/// `let` bindings even when they were not asked for.
pub(crate) const INLINE_LIMIT: u32 = 2000;

/// A root that is the same node as another root, and larger than this (in
/// operations), is printed once as a `let`.
pub(crate) const REPEATED_ROOT: u32 = 40;

/// Precedence tiers, loosest first.
const P_SUM: u8 = 1;
const P_PROD: u8 = 2;
const P_NEG: u8 = 3;
const P_POW: u8 = 4;
const P_ATOM: u8 = 5;

/// Output syntax.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Style {
    /// ddx's own syntax: parses back to an equivalent expression.
    Text,
    /// LaTeX math.
    Latex,
}

/// Formats a number as the language writes it: integers without a decimal
/// point, exact small fractions as `p/q`, very large or small magnitudes in
/// exponent form, NaN as `0/0` and infinities as `1/0`.
pub(crate) fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "0/0".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "1/0".into() } else { "-1/0".into() };
    }
    if let Some(text) = pi_multiple(v) {
        return text;
    }
    let a = v.abs();
    if a != 0.0 && !(1e-5..1e16).contains(&a) {
        return format!("{v:e}");
    }
    let plain = format!("{v}");
    let digits = plain
        .trim_start_matches('-')
        .trim_start_matches("0.")
        .trim_start_matches('0');
    if digits.len() > 8 {
        if let Some((p, q)) = as_fraction(v) {
            return format!("{p}/{q}");
        }
    }
    plain
}

/// `pi`, `2*pi`, `pi/2`, `3*pi/4`...: when the text folds back (as the
/// parser computes it, left to right) to exactly `v`.
fn pi_multiple(v: f64) -> Option<String> {
    use std::f64::consts::PI;
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    for q in 1..=12i64 {
        let p = (a / PI * q as f64).round();
        if !(1.0..=1000.0).contains(&p) {
            continue;
        }
        let pi_p = if p == 1.0 { PI } else { p * PI };
        let folded = if q == 1 { pi_p } else { pi_p / q as f64 };
        if folded == a {
            let num = if p == 1.0 {
                "pi".to_string()
            } else {
                format!("{p}*pi")
            };
            return Some(if q == 1 {
                format!("{sign}{num}")
            } else {
                format!("{sign}{num}/{q}")
            });
        }
    }
    None
}

/// `(p, q)` with `p as f64 / q as f64 == v` exactly, for `1 < q <= 1000`.
pub(crate) fn as_fraction(v: f64) -> Option<(i64, i64)> {
    // continued fractions
    let (mut h0, mut h1, mut k0, mut k1) = (0i64, 1i64, 1i64, 0i64);
    let mut x = v;
    for _ in 0..20 {
        let a = x.floor();
        if a.abs() > 1e12 {
            return None;
        }
        let ai = a as i64;
        let h2 = ai.checked_mul(h1)?.checked_add(h0)?;
        let k2 = ai.checked_mul(k1)?.checked_add(k0)?;
        if k2 > 1000 {
            return None;
        }
        if k2 > 1 && (h2 as f64) / (k2 as f64) == v {
            return Some((h2, k2));
        }
        (h0, h1, k0, k1) = (h1, h2, k1, k2);
        let f = x - a;
        if f == 0.0 {
            return None;
        }
        x = 1.0 / f;
    }
    None
}

/// The precedence with which a number prints.
fn number_prec(v: f64) -> u8 {
    let s = format_number(v);
    if s.starts_with('-') {
        P_NEG
    } else if s.contains('/') || s.contains('*') {
        P_PROD
    } else {
        P_ATOM
    }
}

/// A printer over one graph. `names` gives nodes printed as a name (user
/// `let`s, CSE temporaries).
pub(crate) struct Printer<'g> {
    g: &'g Graph,
    style: Style,
    names: HashMap<NodeId, String>,
    /// The names index variables print as, handed out on first use.
    index_names: RefCell<HashMap<IdxId, String>>,
    /// The values of `index_names`, to test a name in constant time.
    handed_out: RefCell<HashSet<String>>,
    /// The names of the graph's user-named indices.
    user_names: HashSet<String>,
    /// Indices printed under another name inside a reduction that binds
    /// them while they are also free outside it (innermost last).
    renamed: RefCell<HashMap<IdxId, Vec<String>>>,
    /// The indices free in the line being printed (its element's and its
    /// root's).
    outer: RefCell<Vec<IdxId>>,
}

enum Item {
    Node(NodeId),
    Text(&'static str),
    Owned(String),
    /// Enter the body of a reduction whose index also occurs free outside
    /// it: print the index under another name inside.
    Rename(IdxId, String),
    /// Leave that body.
    EndRename(IdxId),
}

impl<'g> Printer<'g> {
    /// A printer in the given style.
    pub(crate) fn new(g: &'g Graph, style: Style) -> Self {
        Printer {
            g,
            style,
            names: HashMap::default(),
            index_names: RefCell::new(HashMap::default()),
            handed_out: RefCell::new(HashSet::default()),
            user_names: g.index_names_in_use().map(str::to_string).collect(),
            renamed: RefCell::new(HashMap::default()),
            outer: RefCell::new(Vec::new()),
        }
    }

    /// The name index `i` prints as: its own name when the user gave it
    /// one (and no symbol has it), else the first of `j, k, i, m, ...` not
    /// taken. One printer gives one index one name.
    pub(crate) fn index_name(&self, i: IdxId) -> String {
        if let Some(n) = self.renamed.borrow().get(&i).and_then(|v| v.last()) {
            return n.clone();
        }
        if let Some(n) = self.index_names.borrow().get(&i) {
            return n.clone();
        }
        let taken = |n: &str| {
            self.g.symbol_id(n).is_some()
                || self.handed_out.borrow().contains(n)
                || self.renamed.borrow().values().flatten().any(|v| v == n)
        };
        let name = match &self.g.index_var(i).kind {
            IdxKind::Named(n) if is_identifier(n) && !taken(n) => n.clone(),
            _ => INDEX_NAMES
                .iter()
                .map(|s| s.to_string())
                .chain((1..).map(|k| format!("j{k}")))
                .find(|n| !taken(n) && !self.user_index(n))
                .expect("an endless supply of names"),
        };
        self.index_names.borrow_mut().insert(i, name.clone());
        self.handed_out.borrow_mut().insert(name.clone());
        name
    }

    /// True when a user-named index of the graph is called `n` (handed out
    /// names avoid them, so a user's `k` keeps its name).
    fn user_index(&self, n: &str) -> bool {
        self.user_names.contains(n)
    }

    fn sub_text(&self, s: Sub) -> String {
        match s {
            Sub::Idx(i) => self.index_name(i),
            Sub::Const(c) => c.to_string(),
            Sub::Data(d) => self.g.symbol(d).name.clone(),
        }
    }

    fn subs_text(&self, subs: &[Sub]) -> String {
        let parts: Vec<String> = subs.iter().map(|&s| self.sub_text(s)).collect();
        if self.style == Style::Latex {
            format!("_{{{}}}", parts.join(","))
        } else {
            format!("[{}]", parts.join(", "))
        }
    }

    /// `[j, k]` (`_{j,k}` in LaTeX) for the indices, in this printer's
    /// names; empty for none. Naming them first gives them the first names.
    pub(crate) fn element(&self, indices: &[IdxId]) -> String {
        if indices.is_empty() {
            return String::new();
        }
        let preferred: &[&str] = match indices.len() {
            1 => &["j"],
            2 => &["i", "j"],
            _ => &["i", "j", "k", "l"],
        };
        for (&i, &name) in indices.iter().zip(preferred) {
            let free = !self.index_names.borrow().contains_key(&i)
                && self.g.symbol_id(name).is_none()
                && !self.handed_out.borrow().contains(name)
                && !self.user_index(name);
            if free {
                self.index_names.borrow_mut().insert(i, name.to_string());
                self.handed_out.borrow_mut().insert(name.to_string());
            }
        }
        self.outer.borrow_mut().extend_from_slice(indices);
        let subs: Vec<Sub> = indices.iter().map(|&i| Sub::Idx(i)).collect();
        self.subs_text(&subs)
    }

    /// A name no index of this printer has, for a renamed bound index.
    fn fresh_name(&self) -> String {
        let taken = |n: &str| {
            self.g.symbol_id(n).is_some()
                || self.user_index(n)
                || self.handed_out.borrow().contains(n)
                || self.renamed.borrow().values().flatten().any(|v| v == n)
        };
        INDEX_NAMES
            .iter()
            .map(|s| s.to_string())
            .chain((1..).map(|k| format!("j{k}")))
            .find(|n| !taken(n))
            .expect("an endless supply of names")
    }

    /// A name for a node with free indices: `t1[k, j]`.
    fn indexed_name(&self, id: NodeId, name: &str) -> String {
        let free = self.g.free(id);
        if free.is_empty() {
            return name.to_string();
        }
        let subs: Vec<Sub> = free.iter().map(|&i| Sub::Idx(i)).collect();
        format!("{name}{}", self.subs_text(&subs))
    }

    /// Prints `node` as `name` wherever it occurs (except as the root).
    pub(crate) fn name(&mut self, node: NodeId, name: impl Into<String>) {
        self.names.insert(node, name.into());
    }

    fn prec(&self, id: NodeId, root: NodeId) -> u8 {
        if id != root && self.names.contains_key(&id) {
            return P_ATOM;
        }
        match self.g.node(id) {
            Node::Const(bits) => number_prec(f64::from_bits(bits)),
            Node::Sym(_) | Node::Reduce(..) | Node::Elem(..) | Node::Delta(..) => P_ATOM,
            Node::IndexReduce(..) if self.style == Style::Latex => P_PROD,
            Node::IndexReduce(..) => P_ATOM,
            Node::Unary(UnOp::Neg, _) => P_NEG,
            Node::Unary(..) => P_ATOM,
            Node::Binary(op, ..) => match op {
                BinOp::Add | BinOp::Sub => P_SUM,
                BinOp::Mul => P_PROD,
                BinOp::Div if self.style == Style::Latex => P_ATOM,
                BinOp::Div => P_PROD,
                BinOp::Pow => P_POW,
                BinOp::Min | BinOp::Max => P_ATOM,
            },
        }
    }

    /// True when the node prints with a leading minus sign.
    fn leading_minus(&self, id: NodeId, root: NodeId) -> bool {
        let mut n = id;
        for _ in 0..64 {
            if n != root && self.names.contains_key(&n) {
                return false;
            }
            match self.g.node(n) {
                Node::Const(bits) => return format_number(f64::from_bits(bits)).starts_with('-'),
                Node::Unary(UnOp::Neg, _) => return true,
                Node::Binary(BinOp::Add | BinOp::Sub | BinOp::Mul, a, _) => n = a,
                Node::Binary(BinOp::Div, a, _) if self.style == Style::Text => n = a,
                _ => return false,
            }
        }
        false
    }

    /// The expression as text.
    pub(crate) fn print(&self, root: NodeId) -> String {
        self.outer.borrow_mut().extend_from_slice(self.g.free(root));
        let mut out = String::new();
        let mut stack = vec![Item::Node(root)];
        while let Some(item) = stack.pop() {
            match item {
                Item::Text(t) => out.push_str(t),
                Item::Owned(t) => out.push_str(&t),
                Item::Node(id) => self.expand(id, root, &mut out, &mut stack),
                Item::Rename(i, name) => {
                    self.renamed.borrow_mut().entry(i).or_default().push(name);
                }
                Item::EndRename(i) => {
                    if let Some(v) = self.renamed.borrow_mut().get_mut(&i) {
                        v.pop();
                    }
                }
            }
        }
        out
    }

    /// Pushes the pieces of `id` (in reverse) onto the stack.
    fn expand(&self, id: NodeId, root: NodeId, out: &mut String, stack: &mut Vec<Item>) {
        if id != root {
            if let Some(name) = self.names.get(&id) {
                out.push_str(&self.indexed_name(id, name));
                return;
            }
        }
        let latex = self.style == Style::Latex;
        // pieces in print order; reversed onto the stack at the end
        let mut pieces: Vec<Item> = Vec::new();
        let operand = |pieces: &mut Vec<Item>, child: NodeId, min: u8, no_minus: bool| {
            let paren =
                self.prec(child, root) < min || (no_minus && self.leading_minus(child, root));
            if paren {
                pieces.push(Item::Text(if latex { "\\left(" } else { "(" }));
                pieces.push(Item::Node(child));
                pieces.push(Item::Text(if latex { "\\right)" } else { ")" }));
            } else {
                pieces.push(Item::Node(child));
            }
        };
        match self.g.node(id) {
            Node::Const(bits) => {
                let v = f64::from_bits(bits);
                let s = format_number(v);
                if latex {
                    pieces.push(Item::Owned(latex_number(&s)));
                } else {
                    pieces.push(Item::Owned(s));
                }
            }
            Node::Sym(s) => {
                let name = &self.g.symbol(s).name;
                pieces.push(Item::Owned(if latex {
                    latex_name(name)
                } else {
                    name.clone()
                }));
            }
            Node::Elem(s, subs) => {
                let name = &self.g.symbol(s).name;
                let name = if latex {
                    latex_name(name)
                } else {
                    name.clone()
                };
                pieces.push(Item::Owned(format!(
                    "{name}{}",
                    self.subs_text(self.g.subs(subs))
                )));
            }
            Node::Delta(a, b) => {
                let (a, b) = (self.sub_text(a), self.sub_text(b));
                pieces.push(Item::Owned(if latex {
                    format!("\\delta_{{{a},{b}}}")
                } else {
                    format!("delta({a}, {b})")
                }));
            }
            Node::IndexReduce(op, i, body) => {
                if let Some((u, v)) = self.dot_operands(op, i, body) {
                    pieces.push(Item::Owned(if latex {
                        format!("{} \\cdot {}", latex_name(u), latex_name(v))
                    } else {
                        format!("dot({u}, {v})")
                    }));
                } else {
                    // an index bound here and free outside gets another name
                    let clash = self.outer.borrow().contains(&i);
                    let name = if clash {
                        let alt = self.fresh_name();
                        pieces.push(Item::Rename(i, alt.clone()));
                        alt
                    } else {
                        self.index_name(i)
                    };
                    if latex {
                        let head = match op {
                            IndexOp::Sum => format!("\\sum_{{{name}}} "),
                            IndexOp::Max | IndexOp::Min => {
                                format!("\\{}_{{{name}}} ", op.name())
                            }
                            IndexOp::LogSumExp => {
                                format!("\\operatorname{{logsumexp}}_{{{name}}} ")
                            }
                        };
                        pieces.push(Item::Owned(head));
                        operand(&mut pieces, body, P_ATOM, true);
                    } else {
                        pieces.push(Item::Owned(format!("{}({name}, ", op.name())));
                        pieces.push(Item::Node(body));
                        pieces.push(Item::Text(")"));
                    }
                    if clash {
                        pieces.push(Item::EndRename(i));
                    }
                }
            }
            Node::Unary(UnOp::Neg, a) => {
                pieces.push(Item::Text("-"));
                operand(&mut pieces, a, P_PROD, true);
            }
            Node::Unary(op, a) => {
                if latex {
                    let (open, close) = latex_call(op);
                    pieces.push(Item::Owned(open));
                    pieces.push(Item::Node(a));
                    pieces.push(Item::Text(close));
                } else {
                    pieces.push(Item::Owned(format!("{}(", op.name())));
                    pieces.push(Item::Node(a));
                    pieces.push(Item::Text(")"));
                }
            }
            Node::Reduce(r, a) => {
                if latex {
                    pieces.push(Item::Owned(format!(
                        "\\operatorname{{{}}}\\left(",
                        r.name()
                    )));
                    pieces.push(Item::Node(a));
                    pieces.push(Item::Text("\\right)"));
                } else {
                    pieces.push(Item::Owned(format!("{}(", r.name())));
                    pieces.push(Item::Node(a));
                    pieces.push(Item::Text(")"));
                }
            }
            Node::Binary(op, a, b) => match op {
                BinOp::Add | BinOp::Sub => {
                    operand(&mut pieces, a, P_SUM, false);
                    pieces.push(Item::Text(if op == BinOp::Add { " + " } else { " - " }));
                    let min = if op == BinOp::Add { P_SUM } else { P_PROD };
                    operand(&mut pieces, b, min, true);
                }
                BinOp::Mul => {
                    operand(&mut pieces, a, P_PROD, false);
                    pieces.push(Item::Text(if latex { " \\cdot " } else { "*" }));
                    operand(&mut pieces, b, P_PROD, true);
                }
                BinOp::Div if latex => {
                    pieces.push(Item::Text("\\frac{"));
                    pieces.push(Item::Node(a));
                    pieces.push(Item::Text("}{"));
                    pieces.push(Item::Node(b));
                    pieces.push(Item::Text("}"));
                }
                BinOp::Div => {
                    operand(&mut pieces, a, P_PROD, false);
                    pieces.push(Item::Text("/"));
                    operand(&mut pieces, b, P_POW, true);
                }
                BinOp::Pow => {
                    operand(&mut pieces, a, P_ATOM, true);
                    if latex {
                        pieces.push(Item::Text("^{"));
                        pieces.push(Item::Node(b));
                        pieces.push(Item::Text("}"));
                    } else {
                        pieces.push(Item::Text("^"));
                        operand(&mut pieces, b, P_POW, true);
                    }
                }
                BinOp::Min | BinOp::Max => {
                    let name = if latex {
                        format!("\\{}\\left(", op.name())
                    } else {
                        format!("{}(", op.name())
                    };
                    pieces.push(Item::Owned(name));
                    pieces.push(Item::Node(a));
                    pieces.push(Item::Text(", "));
                    pieces.push(Item::Node(b));
                    pieces.push(Item::Text(if latex { "\\right)" } else { ")" }));
                }
            },
        }
        stack.extend(pieces.into_iter().rev());
    }
}

impl Printer<'_> {
    /// `sum(j, u[j]*v[j])` over whole vectors `u` and `v` prints as
    /// `dot(u, v)`: the names of `u` and `v`.
    fn dot_operands(&self, op: IndexOp, i: IdxId, body: NodeId) -> Option<(&str, &str)> {
        if op != IndexOp::Sum || self.names.contains_key(&body) {
            return None;
        }
        let Node::Binary(BinOp::Mul, a, b) = self.g.node(body) else {
            return None;
        };
        let vector = |n: NodeId| match self.g.node(n) {
            Node::Elem(s, subs)
                if self.g.subs(subs) == [Sub::Idx(i)] && !self.names.contains_key(&n) =>
            {
                Some(self.g.symbol(s).name.as_str())
            }
            _ => None,
        };
        Some((vector(a)?, vector(b)?))
    }
}

fn latex_number(s: &str) -> String {
    let pi = |t: &str| {
        t.replace("*pi", " \\pi")
            .replace("pi", "\\pi")
            .replace("\\\\pi", "\\pi")
    };
    if let Some((p, q)) = s.split_once('/') {
        let (sign, p) = p.strip_prefix('-').map_or(("", p), |p| ("-", p));
        return format!("{sign}\\frac{{{}}}{{{q}}}", pi(p));
    }
    if let Some((m, e)) = s.split_once('e') {
        return format!("{m} \\cdot 10^{{{e}}}");
    }
    pi(s)
}

/// A name in LaTeX: Greek letters as symbols, `x_1` as a subscript, other
/// multi-letter names in `\mathit`, underscores escaped.
pub(crate) fn latex_name(name: &str) -> String {
    const GREEK: [&str; 17] = [
        "alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "nu", "xi", "rho",
        "sigma", "tau", "phi", "chi", "psi", "omega",
    ];
    if GREEK.contains(&name) {
        return format!("\\{name}");
    }
    match name.split_once('_') {
        Some((head, tail)) if !head.is_empty() && !tail.is_empty() => {
            format!("{}_{{{}}}", latex_name(head), tail.replace('_', "\\_"))
        }
        _ if name.chars().count() > 1 => format!("\\mathit{{{}}}", name.replace('_', "\\_")),
        _ => name.replace('_', "\\_"),
    }
}

/// The LaTeX before and after the argument of a one-argument function.
fn latex_call(op: UnOp) -> (String, &'static str) {
    let name = op.name();
    match op {
        UnOp::Neg => unreachable!("negation prints as a leading minus"),
        UnOp::Sqrt => ("\\sqrt{".to_string(), "}"),
        UnOp::Abs => ("\\left|".to_string(), "\\right|"),
        UnOp::Sin
        | UnOp::Cos
        | UnOp::Tan
        | UnOp::Sinh
        | UnOp::Cosh
        | UnOp::Tanh
        | UnOp::Exp
        | UnOp::Ln => (format!("\\{name}\\left("), "\\right)"),
        UnOp::Asin | UnOp::Acos | UnOp::Atan => (format!("\\arc{}\\left(", &name[1..]), "\\right)"),
        UnOp::Sigmoid | UnOp::Relu | UnOp::Softplus | UnOp::Sign | UnOp::Step => {
            (format!("\\operatorname{{{name}}}\\left("), "\\right)")
        }
    }
}

/// Shared subexpressions of `roots`: the non-trivial nodes used more than
/// once, children before parents.
///
/// A root is not bound, unless it is the same large expression as another
/// root (every variable of
/// `(x1 + ... + x1000)^3` has the derivative `3*(x1 + ... + x1000)^2`,
/// which is then printed once, not a thousand times).
pub(crate) fn shared_nodes(g: &Graph, roots: &[NodeId]) -> Vec<NodeId> {
    let uses = g.use_counts(roots);
    let mut root_count: HashMap<NodeId, usize> = HashMap::default();
    for &r in roots {
        *root_count.entry(r).or_default() += 1;
    }
    let bound_root = |id: NodeId| match root_count.get(&id) {
        None => true,
        Some(&n) => n > 1 && g.meta(id).size > REPEATED_ROOT,
    };
    g.topo_order(roots)
        .into_iter()
        .filter(|&id| {
            uses[id.index()] > 1
                && bound_root(id)
                && match g.node(id) {
                    Node::Const(_) | Node::Sym(_) | Node::Elem(..) | Node::Delta(..) => false,
                    Node::Unary(UnOp::Neg, a) => {
                        !matches!(g.node(a), Node::Const(_) | Node::Sym(_) | Node::Elem(..))
                    }
                    _ => true,
                }
        })
        .collect()
}

/// A program printed with `let` bindings: the bindings, then each root.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LetProgram {
    /// `(name, expression)` in definition order.
    pub lets: Vec<(String, String)>,
    /// Each root's expression, in terms of the bindings.
    pub roots: Vec<String>,
    /// Each root's element (`[j]`, see [`Printer::element`]) in the
    /// printer's index names.
    pub elements: Vec<String>,
}

/// Prints `roots` with a `let` for every shared subexpression. Nodes in
/// `given` (user `let`s) keep their names; the others are `t1`, `t2`, ...
/// (renamed if a symbol already has that name).
pub(crate) fn with_lets(
    g: &Graph,
    roots: &[NodeId],
    given: &HashMap<NodeId, String>,
    style: Style,
    elements: &[Vec<IdxId>],
) -> LetProgram {
    let shared = shared_nodes(g, roots);
    let mut taken: HashSet<&str> = g.symbols().iter().map(|s| s.name.as_str()).collect();
    // user `let` names too (a set: a model may have 100,000 of them)
    taken.extend(given.values().map(String::as_str));
    let mut printer = Printer::new(g, style);
    let elements: Vec<String> = elements.iter().map(|e| printer.element(e)).collect();
    let mut lets = Vec::new();
    let mut counter = 0;
    for id in shared {
        let name = match given.get(&id) {
            Some(n) => n.clone(),
            None => loop {
                counter += 1;
                let n = format!("t{counter}");
                if !taken.contains(n.as_str()) {
                    break n;
                }
            },
        };
        let text = printer.print(id);
        let head = printer.indexed_name(id, &name);
        printer.name(id, name);
        lets.push((head, text));
    }
    let roots = roots
        .iter()
        .map(|&r| match printer.names.get(&r) {
            Some(name) => printer.indexed_name(r, name),
            None => printer.print(r),
        })
        .collect();
    LetProgram {
        lets,
        roots,
        elements,
    }
}

/// The graph under `roots` as numbered nodes, children first, one per line
/// (`%3 = mul %1, %2`), then `label = %n` for each root.
pub fn dump(g: &Graph, roots: &[(String, NodeId)]) -> String {
    let ids: Vec<NodeId> = roots.iter().map(|r| r.1).collect();
    let mut number: HashMap<NodeId, usize> = HashMap::default();
    let mut out = String::new();
    for id in g.topo_order(&ids) {
        let n = number.len();
        number.insert(id, n);
        let line = match g.node(id) {
            Node::Const(bits) => format!("const {}", format_number(f64::from_bits(bits))),
            Node::Sym(s) => {
                let sym = g.symbol(s);
                let kind = match sym.kind {
                    crate::graph::SymbolKind::Free => "var",
                    crate::graph::SymbolKind::Param => "param",
                    crate::graph::SymbolKind::Data => "data",
                };
                format!("{kind} {}", sym.name)
            }
            Node::Unary(op, a) => {
                format!("{} %{}", op.mnemonic(), number[&a])
            }
            Node::Binary(op, a, b) => {
                format!("{} %{}, %{}", op.mnemonic(), number[&a], number[&b])
            }
            Node::Reduce(r, a) => format!("{} %{}", r.name(), number[&a]),
            Node::Elem(s, subs) => {
                let subs: Vec<String> = g.subs(subs).iter().map(|&s| dump_sub(g, s)).collect();
                format!("elem {}[{}]", g.symbol(s).name, subs.join(", "))
            }
            Node::Delta(a, b) => format!("delta {}, {}", dump_sub(g, a), dump_sub(g, b)),
            Node::IndexReduce(op, i, a) => {
                format!("{} {}, %{}", op.name(), dump_index(g, i), number[&a])
            }
        };
        let free = g.free(id);
        let free = if free.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = free.iter().map(|&i| dump_index(g, i)).collect();
            format!("    ; over {}", names.join(", "))
        };
        let per_row = if g.meta(id).per_row {
            "    ; per row"
        } else {
            ""
        };
        out.push_str(&format!("%{n} = {line}{per_row}{free}\n"));
    }
    for (label, id) in roots {
        out.push_str(&format!("{label} = %{}\n", number[id]));
    }
    out
}

/// An index in the graph dump: its name (a user's, `#n` for an axis of
/// the whole-array sugar, `bL` for the index a reduction binds at level
/// `L`) and its extent: `k:10`.
fn dump_index(g: &Graph, i: IdxId) -> String {
    let v = g.index_var(i);
    let name = match &v.kind {
        IdxKind::Named(n) => n.clone(),
        IdxKind::Bound(l) => format!("b{l}"),
        IdxKind::Scratch(s) => format!("s{s}"),
    };
    format!("{name}:{}", v.extent)
}

fn dump_sub(g: &Graph, s: Sub) -> String {
    match s {
        Sub::Idx(i) => dump_index(g, i),
        Sub::Const(c) => c.to_string(),
        Sub::Data(d) => g.symbol(d).name.clone(),
    }
}

/// Prints one expression as text.
pub fn to_text(g: &Graph, root: NodeId) -> String {
    Printer::new(g, Style::Text).print(root)
}

/// Prints one expression as LaTeX.
pub fn to_latex(g: &Graph, root: NodeId) -> String {
    Printer::new(g, Style::Latex).print(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(-0.5), "-0.5");
        assert_eq!(format_number(1.0 / 3.0), "1/3");
        assert_eq!(format_number(1e300), "1e300");
        assert_eq!(format_number(2.5e-7), "2.5e-7");
        assert_eq!(format_number(f64::INFINITY), "1/0");
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(std::f64::consts::PI), "pi");
    }
}
