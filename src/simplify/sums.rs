//! Sums: collecting like terms, the canonical order of terms, and the
//! rewrites that compare alternatives (Pythagorean identities, expansion,
//! common factors, common denominators).

use rustc_hash::FxHashMap as HashMap;

use super::{
    find_index, is_integer, Exp, Factor, Simplifier, Term, LINEAR, MAX_DEPTH, MAX_FLATTEN, SMALL,
    SMALL_TREE,
};
use crate::graph::{BinOp, Node, NodeId, UnOp};

/// The partner of `op` in a Pythagorean identity and the sign of the
/// partner's square in it (`sin² + cos² = 1`, `cosh² - sinh² = 1`), for
/// `op` squared; `None` for a function in no such identity.
fn pythagorean(op: UnOp) -> Option<(UnOp, f64)> {
    match op {
        UnOp::Sin => Some((UnOp::Cos, 1.0)),
        UnOp::Cos => Some((UnOp::Sin, 1.0)),
        UnOp::Cosh => Some((UnOp::Sinh, -1.0)),
        UnOp::Sinh => Some((UnOp::Cosh, -1.0)),
        UnOp::Neg
        | UnOp::Tan
        | UnOp::Asin
        | UnOp::Acos
        | UnOp::Atan
        | UnOp::Tanh
        | UnOp::Exp
        | UnOp::Ln
        | UnOp::Sqrt
        | UnOp::Abs
        | UnOp::Sigmoid
        | UnOp::Relu
        | UnOp::Softplus
        | UnOp::Sign
        | UnOp::Step => None,
    }
}

/// What the rewrites of a small sum could act on (cheap prechecks).
#[derive(Clone, Copy, Default, Debug)]
struct Features {
    /// A squared sin, cos, sinh or cosh (Pythagorean identities).
    trig_square: bool,
    /// A sum raised to a small positive integer power (expansion).
    sum_power: bool,
    /// A factor common to every term, or one coefficient (factoring).
    common_factor: bool,
    /// A negative power (common denominator).
    denominator: bool,
}

impl Simplifier<'_> {
    /// Flattens, distributes numeric coefficients into small sums, and
    /// collects like terms, in first-seen order.
    fn collect_terms(&mut self, terms: Vec<Term>) -> Vec<Term> {
        let mut index: HashMap<NodeId, usize> = HashMap::default();
        let mut out: Vec<Term> = Vec::new();
        let mut work: Vec<Term> = terms.into_iter().rev().collect();
        while let Some((c, n)) = work.pop() {
            if c == 0.0 {
                continue;
            }
            let (k, rest) = self.split_coef(n);
            let c = c * k;
            if self.is_sum(rest) {
                let limit = if self.shared.contains(&rest) {
                    SMALL
                } else {
                    MAX_FLATTEN
                };
                if let Some(inner) = self.terms_of(rest, limit) {
                    for (ci, ni) in inner.into_iter().rev() {
                        work.push((c * ci, ni));
                    }
                    continue;
                }
            }
            match find_index(&mut index, &out, rest, |t| t.1) {
                Some(i) => out[i].0 += c,
                None => {
                    if !index.is_empty() || out.len() >= LINEAR {
                        index.insert(rest, out.len());
                    }
                    out.push((c, rest));
                }
            }
        }
        out.retain(|(c, _)| *c != 0.0);
        out
    }

    pub(super) fn mk_sum(&mut self, terms: Vec<Term>) -> NodeId {
        let mut terms = self.collect_terms(terms);
        let mut features = if terms.len() <= 16 {
            self.features(&terms)
        } else {
            Features::default()
        };
        if features.trig_square {
            self.pythagoras(&mut terms);
            features = self.features(&terms);
        }
        let plain = self.build_sum(&terms);
        if terms.len() < 2 || self.depth >= MAX_DEPTH || self.g.meta(plain).size > SMALL_TREE {
            return plain;
        }
        self.depth += 1;
        let mut best = plain;
        let mut best_size = self.g.meta(plain).size;
        let mut consider = |s: &mut Self, cand: Option<NodeId>| {
            if let Some(c) = cand {
                let size = s.g.meta(c).size;
                if size < best_size {
                    best = c;
                    best_size = size;
                }
            }
        };
        if features.sum_power {
            let expanded = self.expand_terms(&terms);
            let expanded_sum = expanded.as_ref().map(|t| {
                let mut t = self.collect_terms(t.clone());
                if t.len() <= 16 && self.features(&t).trig_square {
                    self.pythagoras(&mut t);
                }
                self.build_sum(&t)
            });
            consider(self, expanded_sum);
        }
        if features.common_factor {
            let factored = self.factor_out(&terms);
            consider(self, factored);
        }
        if features.denominator {
            let together = self.together(&terms);
            consider(self, together);
        }
        self.depth -= 1;
        best
    }

    /// What the rewrites of a small sum could act on.
    fn features(&mut self, terms: &[Term]) -> Features {
        let mut f = Features::default();
        let mut common: Option<Vec<NodeId>> = None;
        let c0 = terms.first().map_or(1.0, |t| t.0.abs());
        let mut same_coef = c0 != 1.0;
        for &(c, t) in terms {
            same_coef &= c.abs() == c0;
            let bases: Vec<Factor> = if t == self.one {
                Vec::new()
            } else {
                self.factors_of(t).1
            };
            for &(b, e) in &bases {
                match e {
                    Exp::Num(n) if n < 0.0 => f.denominator = true,
                    Exp::Num(2.0) => {
                        if matches!(self.g.node(b), Node::Unary(op, _) if pythagorean(op).is_some())
                        {
                            f.trig_square = true;
                        }
                    }
                    _ => {}
                }
                if matches!(e, Exp::Num(n) if is_integer(n) && (1.0..=4.0).contains(&n))
                    && self.is_sum(b)
                {
                    f.sum_power = true;
                }
            }
            common = Some(match common {
                None => bases.iter().map(|f| f.0).collect(),
                Some(prev) => prev
                    .into_iter()
                    .filter(|b| bases.iter().any(|f| f.0 == *b))
                    .collect(),
            });
        }
        f.common_factor = same_coef || common.is_some_and(|c| !c.is_empty());
        f
    }

    /// Builds a collected sum in canonical order: terms by the graph's order,
    /// the constant last, a positive term first, subtraction for negative
    /// coefficients.
    fn build_sum(&mut self, terms: &[Term]) -> NodeId {
        let mut terms: Vec<Term> = terms.to_vec();
        let one = self.one;
        let g = &*self.g;
        terms.sort_by(|a, b| match (a.1 == one, b.1 == one) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => g.order(a.1, b.1),
        });
        if let Some(p) = terms.iter().position(|t| t.0 > 0.0) {
            let first = terms.remove(p);
            terms.insert(0, first);
        }
        let mut acc: Option<NodeId> = None;
        for (c, t) in terms {
            let mag = if t == one {
                self.g.constant(c.abs())
            } else {
                self.scaled(c.abs(), t)
            };
            acc = Some(match acc {
                None if c < 0.0 => {
                    if t == one {
                        self.g.constant(c)
                    } else {
                        self.scaled(c, t)
                    }
                }
                None => mag,
                Some(a) if c < 0.0 => self.g.raw(Node::Binary(BinOp::Sub, a, mag)),
                Some(a) => self.g.raw(Node::Binary(BinOp::Add, a, mag)),
            });
        }
        acc.unwrap_or_else(|| self.g.constant(0.0))
    }

    /// `c * t` for a canonical term `t`.
    pub(super) fn scaled(&mut self, c: f64, t: NodeId) -> NodeId {
        if c == 1.0 {
            return t;
        }
        // `t` is canonical already: only the coefficient changes (unless
        // its factors repeat a base, as in x*(1/x)^2, which need collecting)
        let (k, factors) = self.factors_of(t);
        let repeats = factors
            .iter()
            .enumerate()
            .any(|(i, a)| factors[..i].iter().any(|b| b.0 == a.0));
        if repeats {
            self.mk_prod(c * k, factors)
        } else {
            self.build_prod(c * k, factors)
        }
    }

    /// `sin(u)^2 + cos(u)^2 = 1`, `cosh(u)^2 - sinh(u)^2 = 1`, and
    /// `c - c*sin(u)^2 = c*cos(u)^2` (and the same with sin and cos swapped).
    fn pythagoras(&mut self, terms: &mut Vec<Term>) {
        let mut i = 0;
        while i < terms.len() {
            let (ci, ti) = terms[i];
            let (ki, fi) = self.factors_of(ti);
            let mut replaced = false;
            for (fpos, &(base, e)) in fi.iter().enumerate() {
                if e != Exp::Num(2.0) {
                    continue;
                }
                let Node::Unary(op, arg) = self.g.node(base) else {
                    continue;
                };
                let Some((partner, sign)) = pythagorean(op) else {
                    continue;
                };
                let pbase = self.g.raw(Node::Unary(partner, arg));
                let mut pf = fi.clone();
                pf[fpos] = (pbase, Exp::Num(2.0));
                let partner_term = self.mk_prod(ki, pf);
                let (pk, prest) = self.split_coef(partner_term);
                let mut rest_f = fi.clone();
                rest_f.remove(fpos);
                let rest = self.mk_prod(ki, rest_f);
                let (rk, rrest) = self.split_coef(rest);
                let want = ci * sign * pk;
                // c*cos(u)^2*R - c*sin(u)^2*R = c*cos(2u)*R
                if matches!(op, UnOp::Sin | UnOp::Cos) {
                    let anti = -ci * pk;
                    if let Some(j) = terms.iter().position(|&(cj, tj)| {
                        tj == prest && (cj - anti).abs() <= 1e-15 * anti.abs()
                    }) {
                        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                        terms.remove(hi);
                        terms.remove(lo);
                        let two_u = self.scaled(2.0, arg);
                        let c2 = self.mk_call(UnOp::Cos, two_u);
                        let mut f = fi.clone();
                        f[fpos] = (c2, Exp::Num(1.0));
                        let t = self.mk_prod(ki, f);
                        let (tk, trest) = self.split_coef(t);
                        let sign = if op == UnOp::Cos { 1.0 } else { -1.0 };
                        terms.push((sign * ci * tk, trest));
                        replaced = true;
                        break;
                    }
                }
                if let Some(j) = terms
                    .iter()
                    .position(|&(cj, tj)| tj == prest && (cj - want).abs() <= 1e-15 * want.abs())
                {
                    // c*sin^2*R + c*cos^2*R = c*R
                    let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                    terms.remove(hi);
                    terms.remove(lo);
                    let coef = if op == UnOp::Sinh { -ci } else { ci };
                    terms.push((coef * rk, rrest));
                    replaced = true;
                    break;
                }
                // c - c*sin(u)^2 = c*cos(u)^2 (trig only)
                if matches!(op, UnOp::Sin | UnOp::Cos) && rrest == self.one {
                    let cterm = ci * rk;
                    if let Some(j) = terms
                        .iter()
                        .position(|&(cj, tj)| tj == self.one && cj == -cterm)
                    {
                        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
                        terms.remove(hi);
                        terms.remove(lo);
                        terms.push((-ci * pk, prest));
                        replaced = true;
                        break;
                    }
                }
            }
            if replaced {
                let merged = self.collect_terms(std::mem::take(terms));
                *terms = merged;
                i = 0;
            } else {
                i += 1;
            }
        }
    }

    /// Expands products of small sums in each term, if any.
    fn expand_terms(&mut self, terms: &[Term]) -> Option<Vec<Term>> {
        let mut changed = false;
        let mut out: Vec<Term> = Vec::new();
        for &(c, t) in terms {
            match self.expand_product(t) {
                Some(list) => {
                    changed = true;
                    out.extend(list.into_iter().map(|(k, n)| (c * k, n)));
                }
                None => out.push((c, t)),
            }
            if out.len() > MAX_FLATTEN {
                return None;
            }
        }
        changed.then_some(out)
    }

    /// `t` as a sum of products when it is a product with sum factors raised
    /// to small positive integer powers.
    fn expand_product(&mut self, t: NodeId) -> Option<Vec<Term>> {
        let (k, factors) = self.factors_of(t);
        let mut acc: Vec<(f64, Vec<Factor>)> = vec![(k, Vec::new())];
        let mut expanded_any = false;
        for (base, e) in factors {
            let n = match e {
                Exp::Num(n) if is_integer(n) && (1.0..=4.0).contains(&n) && self.is_sum(base) => {
                    n as usize
                }
                _ => {
                    for a in acc.iter_mut() {
                        a.1.push((base, e));
                    }
                    continue;
                }
            };
            let inner = self.terms_of(base, 8)?;
            expanded_any = true;
            for _ in 0..n {
                let mut next = Vec::new();
                for (ca, fa) in &acc {
                    for &(ci, ti) in &inner {
                        let mut f = fa.clone();
                        if ti != self.one {
                            f.push((ti, Exp::Num(1.0)));
                        }
                        next.push((ca * ci, f));
                    }
                }
                if next.len() > MAX_FLATTEN {
                    return None;
                }
                acc = next;
            }
        }
        if !expanded_any {
            return None;
        }
        Some(
            acc.into_iter()
                .map(|(c, f)| {
                    let p = self.mk_prod(c, f);
                    self.split_coef(p)
                })
                .collect(),
        )
    }

    /// Pulls the factors common to every term out of the sum.
    fn factor_out(&mut self, terms: &[Term]) -> Option<NodeId> {
        let decomposed: Vec<(f64, Vec<Factor>)> = terms
            .iter()
            .map(|&(c, t)| {
                let (k, f) = if t == self.one {
                    (1.0, Vec::new())
                } else {
                    self.factors_of(t)
                };
                (c * k, f)
            })
            .collect();
        // bases with numeric exponents of one sign in every term: the
        // smallest power in magnitude is common
        let mut common: Vec<Factor> = Vec::new();
        'bases: for &(base, e) in &decomposed[0].1 {
            match e {
                Exp::Num(e0) => {
                    let mut m = e0;
                    for (_, fs) in &decomposed[1..] {
                        let Some(&(_, Exp::Num(ej))) = fs
                            .iter()
                            .find(|(b, e)| *b == base && matches!(e, Exp::Num(_)))
                        else {
                            continue 'bases;
                        };
                        if ej.signum() != e0.signum() {
                            continue 'bases;
                        }
                        m = if e0 > 0.0 { m.min(ej) } else { m.max(ej) };
                    }
                    common.push((base, Exp::Num(m)));
                }
                Exp::Node(_) => {
                    if decomposed[1..]
                        .iter()
                        .all(|(_, fs)| fs.contains(&(base, e)))
                    {
                        common.push((base, e));
                    }
                }
            }
        }
        let c0 = decomposed[0].0.abs();
        let same_coef = c0 != 1.0 && decomposed.iter().all(|(c, _)| c.abs() == c0);
        if common.is_empty() && !same_coef {
            return None;
        }
        let pull = if same_coef { c0 } else { 1.0 };
        let mut rest_terms = Vec::new();
        for (c, fs) in decomposed {
            let mut fs = fs;
            for &(base, m) in &common {
                let same_kind = |e: &Exp| match m {
                    Exp::Num(_) => matches!(e, Exp::Num(_)),
                    Exp::Node(_) => *e == m,
                };
                let Some(pos) = fs.iter().position(|(b, e)| *b == base && same_kind(e)) else {
                    continue;
                };
                match (fs[pos].1, m) {
                    (Exp::Num(e), Exp::Num(m)) => fs[pos].1 = Exp::Num(e - m),
                    _ => {
                        fs.remove(pos);
                    }
                }
            }
            let t = self.mk_prod(1.0, fs);
            rest_terms.push((c / pull, t));
        }
        let rest = self.mk_sum(rest_terms);
        let mut factors = common;
        factors.push((rest, Exp::Num(1.0)));
        Some(self.mk_prod(pull, factors))
    }

    /// Combines the terms over a common denominator.
    pub(super) fn together(&mut self, terms: &[Term]) -> Option<NodeId> {
        let mut denominator: Vec<(NodeId, f64)> = Vec::new();
        let mut decomposed = Vec::new();
        for &(c, t) in terms {
            let (k, f) = if t == self.one {
                (1.0, Vec::new())
            } else {
                self.factors_of(t)
            };
            for &(base, e) in &f {
                if let Exp::Num(e) = e {
                    if e < 0.0 {
                        match denominator.iter_mut().find(|(b, _)| *b == base) {
                            Some(d) => d.1 = d.1.max(-e),
                            None => denominator.push((base, -e)),
                        }
                    }
                }
            }
            decomposed.push((c * k, f));
        }
        if denominator.is_empty() {
            return None;
        }
        let mut numerator = Vec::new();
        for (c, mut f) in decomposed {
            for &(base, d) in &denominator {
                match f
                    .iter_mut()
                    .find(|(b, e)| *b == base && matches!(e, Exp::Num(_)))
                {
                    Some(x) => {
                        if let Exp::Num(e) = x.1 {
                            x.1 = Exp::Num(e + d);
                        }
                    }
                    // absent, or with a symbolic exponent: mk_prod merges
                    None => f.push((base, Exp::Num(d))),
                }
            }
            let t = self.mk_prod(1.0, f);
            numerator.push((c, t));
        }
        let plain = self.mk_sum(numerator.clone());
        let num = match self.expand_terms(&numerator) {
            Some(ex) => {
                let ex = self.collect_terms(ex);
                let ex = self.build_sum(&ex);
                if self.g.meta(ex).size < self.g.meta(plain).size {
                    ex
                } else {
                    plain
                }
            }
            None => plain,
        };
        let mut factors = vec![(num, Exp::Num(1.0))];
        factors.extend(denominator.into_iter().map(|(b, d)| (b, Exp::Num(-d))));
        Some(self.mk_prod(1.0, factors))
    }
}
