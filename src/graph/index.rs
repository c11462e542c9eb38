//! Index variables, subscripts and index reductions: how the graph stores
//! an array expression once, with its indices, instead of once per element.
//!
//! A node's *free indices* (in its [`super::Meta`]) are the index variables
//! it depends on: `W1[k, j] * x[j]` has `{k, j}`, `sum(j, W1[k, j] * x[j])`
//! has `{k}`. An index reduction binds one index; the index it binds is
//! renamed canonically when the node is built (see
//! [`super::Graph::index_reduce`]), so `sum(j, w[j]*x[j])` and
//! `sum(k, w[k]*x[k])` are one node and hash-consing and CSE work on arrays
//! as on scalars.

use std::fmt;

use super::SymId;

/// How deep the simplifying rules of a sum may nest (each rule that
/// recurses goes one deeper).
const RULE_DEPTH: u32 = 64;

/// The id of an index variable in a [`super::Graph`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IdxId(pub(super) u32);

impl IdxId {
    /// The position of the index in its graph's index table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What an index variable is.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum IdxKind {
    /// An index the user named (`let z[k] = ...`) or one the whole-array
    /// sugar made (an axis of `W @ x`); printed by its name.
    Named(String),
    /// The canonical index bound by an index reduction: it is the
    /// `level`-th binder counted from the innermost (one more than every
    /// index level inside the reduction's body).
    Bound(u32),
    /// A placeholder used while a reduction is renamed (never in a built
    /// node).
    Scratch(u32),
}

/// An index variable: a kind and the extent it ranges over (`0..extent`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct IndexVar {
    /// What the index is.
    pub kind: IdxKind,
    /// The number of values it takes.
    pub extent: usize,
}

impl IndexVar {
    /// The binding level of a canonical bound index (0 for the others).
    pub fn level(&self) -> u32 {
        match self.kind {
            IdxKind::Bound(l) => l,
            IdxKind::Named(_) | IdxKind::Scratch(_) => 0,
        }
    }
}

/// One subscript of an array element: an index variable, a constant
/// position, or a data column whose value on the row is the position (a
/// gather: `z[digit]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Sub {
    /// An index variable.
    Idx(IdxId),
    /// A constant position.
    Const(u32),
    /// A data column holding whole-number positions.
    Data(SymId),
}

impl Sub {
    /// The index variable, if the subscript is one.
    pub fn as_idx(self) -> Option<IdxId> {
        match self {
            Sub::Idx(i) => Some(i),
            Sub::Const(_) | Sub::Data(_) => None,
        }
    }
}

/// The id of an interned list of subscripts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SubsId(pub(super) u32);

/// The id of an interned, sorted set of index variables.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct IdxSetId(pub(super) u32);

impl IdxSetId {
    /// The empty set.
    pub const EMPTY: IdxSetId = IdxSetId(0);
}

/// What an index reduction computes over its index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum IndexOp {
    /// `sum(j, e)`: added in index order.
    Sum,
    /// `max(j, e)`.
    Max,
    /// `min(j, e)`.
    Min,
    /// `logsumexp(j, e) = m + ln(sum(j, exp(e - m)))` with `m = max(j, e)`.
    LogSumExp,
}

impl IndexOp {
    /// Every index reduction.
    pub const ALL: &'static [IndexOp] =
        &[IndexOp::Sum, IndexOp::Max, IndexOp::Min, IndexOp::LogSumExp];

    /// The function name.
    pub fn name(self) -> &'static str {
        match self {
            IndexOp::Sum => "sum",
            IndexOp::Max => "max",
            IndexOp::Min => "min",
            IndexOp::LogSumExp => "logsumexp",
        }
    }

    /// The reduction of `values` (in index order), with the value rules of
    /// `graph::ops`: every stage computes it with this function.
    pub fn eval(self, values: impl IntoIterator<Item = f64>) -> f64 {
        match self {
            IndexOp::Sum => values.into_iter().fold(0.0, |a, v| a + v),
            IndexOp::Max => values.into_iter().fold(f64::NEG_INFINITY, super::ops::max),
            IndexOp::Min => values.into_iter().fold(f64::INFINITY, super::ops::min),
            IndexOp::LogSumExp => {
                let values: Vec<f64> = values.into_iter().collect();
                let m = values
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, super::ops::max);
                if !m.is_finite() {
                    // all -inf (the sum is 0), +inf, or NaN
                    return m;
                }
                let s = values.iter().fold(0.0, |a, &v| a + (v - m).exp());
                m + s.ln()
            }
        }
    }
}

impl fmt::Display for IndexOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

use super::{Graph, Node, NodeId};
use crate::graph::{BinOp, UnOp};
use rustc_hash::FxHashMap as HashMap;

impl Graph {
    // ---- tables --------------------------------------------------------

    /// The index variable of this kind and extent (interned: the same kind
    /// and extent give the same id).
    pub fn index(&mut self, kind: IdxKind, extent: usize) -> IdxId {
        let var = IndexVar { kind, extent };
        if let Some(&id) = self.index_ids.get(&var) {
            return id;
        }
        let id = IdxId(u32::try_from(self.indices.len()).expect("index table exceeds 2^32"));
        self.indices.push(var.clone());
        self.index_ids.insert(var, id);
        id
    }

    /// A named index variable (`k` of `let z[k]`, or an axis of the
    /// whole-array sugar).
    pub fn named_index(&mut self, name: &str, extent: usize) -> IdxId {
        self.index(IdxKind::Named(name.to_string()), extent)
    }

    /// The index variable behind an id.
    pub fn index_var(&self, id: IdxId) -> &IndexVar {
        &self.indices[id.index()]
    }

    /// The operations evaluated per data row to compute all of `roots`
    /// with every index expanded: each distinct array once, weighted by the
    /// number of elements it has (an index reduction also by the length of
    /// its index). Nodes equal up to the names of their free indices (`h[k]`
    /// and `h[m]`) are one array, counted once. Constants, variables and
    /// elements are free. For a scalar graph this is [`Graph::op_count`].
    pub fn expanded_op_count(&self, roots: &[NodeId]) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut keys: HashMap<NodeId, (u64, Vec<IdxId>)> = HashMap::default();
        let mut total = 0usize;
        for id in self.topo_order(roots) {
            let key = self.array_key(id, &keys);
            let free = self.free(id);
            let elements: usize = free.iter().map(|&i| self.extent(i)).product();
            let cost = match self.node(id) {
                Node::Const(_) | Node::Sym(_) | Node::Elem(..) => 0,
                Node::IndexReduce(_, i, _) => elements.saturating_mul(self.extent(i)),
                _ => elements,
            };
            if free.is_empty() || seen.insert(key.0) {
                total = total.saturating_add(cost);
            }
            keys.insert(id, key);
        }
        total
    }

    /// A hash of a node's structure in which its free indices are numbered
    /// by first occurrence: equal for the same array under other index
    /// names. Built from its children's (in `keys`) with the order in
    /// which its free indices first occur, so that a graph is hashed in
    /// time linear in its size however much it shares.
    fn array_key(
        &self,
        id: NodeId,
        keys: &HashMap<NodeId, (u64, Vec<IdxId>)>,
    ) -> (u64, Vec<IdxId>) {
        use std::hash::{Hash, Hasher};
        let free = self.free(id);
        let mut order: Vec<IdxId> = Vec::new();
        let mut h = rustc_hash::FxHasher::default();
        // a free index by its place in `order`; another by its variable
        let index = |i: IdxId, h: &mut rustc_hash::FxHasher, order: &mut Vec<IdxId>| {
            if free.binary_search(&i).is_ok() {
                let n = order.iter().position(|&o| o == i).unwrap_or_else(|| {
                    order.push(i);
                    order.len() - 1
                });
                0u8.hash(h);
                n.hash(h);
                self.extent(i).hash(h);
            } else {
                1u8.hash(h);
                self.indices[i.index()].hash(h);
            }
        };
        let sub = |s: Sub, h: &mut rustc_hash::FxHasher, order: &mut Vec<IdxId>| match s {
            Sub::Idx(i) => index(i, h, order),
            Sub::Const(c) => {
                2u8.hash(h);
                c.hash(h);
            }
            Sub::Data(d) => {
                3u8.hash(h);
                d.hash(h);
            }
        };
        let node = self.node(id);
        std::mem::discriminant(&node).hash(&mut h);
        match node {
            Node::Const(bits) => bits.hash(&mut h),
            Node::Sym(s) => s.hash(&mut h),
            Node::Unary(op, _) => op.hash(&mut h),
            Node::Binary(op, _, _) => op.hash(&mut h),
            Node::Reduce(r, _) => r.hash(&mut h),
            Node::Elem(s, subs) => {
                s.hash(&mut h);
                for &x in self.subs(subs) {
                    sub(x, &mut h, &mut order);
                }
            }
            Node::Delta(a, b) => {
                sub(a, &mut h, &mut order);
                sub(b, &mut h, &mut order);
            }
            Node::IndexReduce(op, i, _) => {
                op.hash(&mut h);
                sub(Sub::Idx(i), &mut h, &mut order);
            }
        }
        let mut kids: Vec<NodeId> = node.children().rev_order().collect();
        kids.reverse();
        for k in kids {
            let (key, child_order) = &keys[&k];
            key.hash(&mut h);
            for &i in child_order {
                sub(Sub::Idx(i), &mut h, &mut order);
            }
        }
        (h.finish(), order)
    }

    /// The names of the user's index variables (those named with an
    /// identifier).
    pub(crate) fn index_names_in_use(&self) -> impl Iterator<Item = &str> {
        self.indices.iter().filter_map(|v| match &v.kind {
            IdxKind::Named(n) if !n.contains(['#', '.']) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The extent of an index variable.
    pub fn extent(&self, id: IdxId) -> usize {
        self.indices[id.index()].extent
    }

    /// The subscripts behind an id.
    pub fn subs(&self, id: SubsId) -> &[Sub] {
        &self.subs[id.0 as usize]
    }

    fn intern_subs(&mut self, subs: &[Sub]) -> SubsId {
        if let Some(&id) = self.subs_ids.get(subs) {
            return id;
        }
        let id = SubsId(u32::try_from(self.subs.len()).expect("subscript table exceeds 2^32"));
        self.subs.push(Box::from(subs));
        self.subs_ids.insert(Box::from(subs), id);
        id
    }

    /// The members of an index set, in id order.
    pub fn set(&self, id: IdxSetId) -> &[IdxId] {
        &self.sets[id.0 as usize]
    }

    /// The free indices of a node, in id order.
    pub fn free(&self, id: NodeId) -> &[IdxId] {
        self.set(self.meta(id).free)
    }

    /// True when `idx` is free in the node.
    pub fn has_free(&self, id: NodeId, idx: IdxId) -> bool {
        self.free(id).binary_search(&idx).is_ok()
    }

    pub(super) fn set_of(&mut self, mut items: Vec<IdxId>) -> IdxSetId {
        items.sort_unstable();
        items.dedup();
        if let Some(&id) = self.set_ids.get(items.as_slice()) {
            return id;
        }
        let id = IdxSetId(u32::try_from(self.sets.len()).expect("index sets exceed 2^32"));
        self.sets.push(Box::from(items.as_slice()));
        self.set_ids.insert(items.into_boxed_slice(), id);
        id
    }

    pub(super) fn union_sets(&mut self, a: IdxSetId, b: IdxSetId) -> IdxSetId {
        if a == b || b == IdxSetId::EMPTY {
            return a;
        }
        if a == IdxSetId::EMPTY {
            return b;
        }
        let mut items = self.set(a).to_vec();
        items.extend_from_slice(self.set(b));
        self.set_of(items)
    }

    // ---- constructors --------------------------------------------------

    /// The element `sym[subs]` of an array symbol (the symbol itself when
    /// `subs` is empty). A constant subscript out of the symbol's range is
    /// the caller's error (the checker reports it).
    pub fn elem(&mut self, sym: super::SymId, subs: &[Sub]) -> NodeId {
        if subs.is_empty() {
            return self.sym(sym);
        }
        let subs = self.intern_subs(subs);
        self.intern(Node::Elem(sym, subs))
    }

    /// `delta(a, b)`: 1 when the subscripts are equal, else 0.
    pub fn delta(&mut self, a: Sub, b: Sub) -> NodeId {
        if a == b {
            return self.constant(1.0);
        }
        match (a, b) {
            (Sub::Const(_), Sub::Const(_)) => return self.constant(0.0),
            (Sub::Idx(i), Sub::Const(c)) | (Sub::Const(c), Sub::Idx(i))
                if c as usize >= self.extent(i) =>
            {
                return self.constant(0.0)
            }
            _ => {}
        }
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        self.intern(Node::Delta(a, b))
    }

    /// A scratch index of this extent, unique to this graph: the
    /// placeholder a reduction's index is renamed to before it is renamed
    /// canonically.
    fn scratch_index(&mut self, extent: usize) -> IdxId {
        self.scratch += 1;
        self.index(IdxKind::Scratch(self.scratch), extent)
    }

    /// The reduction `op` of `body` over `idx`, in canonical form:
    ///
    /// - a body free of `idx` folds (`sum(j, c) = n*c`, `max(j, c) = c`,
    ///   `logsumexp(j, c) = c + ln(n)`);
    /// - `sum(j, delta(j, s) * f) = f[j := s]`, and factors free of `j` move
    ///   out of a sum (`sum(j, a*f(j)) = a*sum(j, f(j))`);
    /// - the bound index is renamed to the canonical [`IdxKind::Bound`]
    ///   index one level above every index in the body, so
    ///   alpha-equivalent reductions are one node.
    pub fn index_reduce(&mut self, op: IndexOp, idx: IdxId, body: NodeId) -> NodeId {
        self.index_reduce_at(op, idx, body, 0)
    }

    /// [`Graph::index_reduce`], `depth` rules deep: past [`RULE_DEPTH`]
    /// the rules that recurse stop (so no input can overflow the stack).
    fn index_reduce_at(&mut self, op: IndexOp, idx: IdxId, body: NodeId, depth: u32) -> NodeId {
        let n = self.extent(idx);
        if !self.has_free(body, idx) {
            return match op {
                IndexOp::Sum => self.scale(n as f64, body),
                IndexOp::Max | IndexOp::Min => body,
                IndexOp::LogSumExp => {
                    let ln_n = self.constant((n as f64).ln());
                    self.add(body, ln_n)
                }
            };
        }
        if op == IndexOp::Sum && depth < RULE_DEPTH {
            if let Some(folded) = self.sum_rules(idx, body, depth + 1) {
                return folded;
            }
        }
        if matches!(op, IndexOp::Max | IndexOp::Min) && depth < RULE_DEPTH {
            if let Some(folded) = self.extreme_rules(op, idx, body, depth + 1) {
                return folded;
            }
        }
        // one above the binders inside, skipping a level whose index of
        // this extent is free in the body (so nothing is captured): the
        // same array then binds the same index whatever surrounds it
        let mut level = self.meta(body).binders + 1;
        while self.free(body).iter().any(|&j| {
            j != idx
                && self.index_var(j)
                    == &IndexVar {
                        kind: IdxKind::Bound(level),
                        extent: n,
                    }
        }) {
            level += 1;
        }
        let canonical = self.index(IdxKind::Bound(level), n);
        let body = if canonical == idx {
            body
        } else {
            self.subst_indices(body, &[(idx, Sub::Idx(canonical))])
        };
        self.intern(Node::IndexReduce(op, canonical, body))
    }

    /// The rules of a sum that remove or shrink it, if one applies.
    fn sum_rules(&mut self, idx: IdxId, body: NodeId, depth: u32) -> Option<NodeId> {
        match self.node(body) {
            Node::Unary(UnOp::Neg, a) => {
                let s = self.index_reduce_at(IndexOp::Sum, idx, a, depth);
                return Some(self.neg(s));
            }
            Node::Binary(BinOp::Div, a, b) if !self.has_free(b, idx) => {
                let s = self.index_reduce_at(IndexOp::Sum, idx, a, depth);
                return Some(self.div(s, b));
            }
            Node::Binary(BinOp::Add, a, b) if !self.has_free(a, idx) => {
                // sum(j, a + f(j)) = n*a + sum(j, f(j))
                let n = self.extent(idx) as f64;
                let na = self.scale(n, a);
                let s = self.index_reduce_at(IndexOp::Sum, idx, b, depth);
                return Some(self.add(na, s));
            }
            Node::Binary(BinOp::Add, a, b) if !self.has_free(b, idx) => {
                let n = self.extent(idx) as f64;
                let nb = self.scale(n, b);
                let s = self.index_reduce_at(IndexOp::Sum, idx, a, depth);
                return Some(self.add(s, nb));
            }
            _ => {}
        }
        let mut factors = Vec::new();
        self.product_factors(body, &mut factors);
        if factors.len() < 2 && !matches!(self.node(body), Node::Delta(..)) {
            return None;
        }
        // sum(j, delta(j, s) * f) = f[j := s]
        let delta = factors.iter().position(|&f| match self.node(f) {
            Node::Delta(a, b) => {
                (a == Sub::Idx(idx) && b != Sub::Idx(idx))
                    || (b == Sub::Idx(idx) && a != Sub::Idx(idx))
            }
            _ => false,
        });
        if let Some(pos) = delta {
            let Node::Delta(a, b) = self.node(factors[pos]) else {
                unreachable!("found above")
            };
            let target = if a == Sub::Idx(idx) { b } else { a };
            factors.remove(pos);
            let rest = self.product(&factors);
            return Some(self.subst_indices(rest, &[(idx, target)]));
        }
        // sum(j, a * f(j)) = a * sum(j, f(j))
        let (outside, inside): (Vec<NodeId>, Vec<NodeId>) =
            factors.iter().partition(|&&f| !self.has_free(f, idx));
        if outside.is_empty() {
            return None;
        }
        let inner = self.product(&inside);
        let s = self.index_reduce_at(IndexOp::Sum, idx, inner, depth);
        let out = self.product(&outside);
        Some(self.mul(out, s))
    }

    /// `max(j, a + f(j)) = a + max(j, f(j))`, `max(j, a - f(j)) =
    /// a - min(j, f(j))`, `max(j, -f(j)) = -min(j, f(j))` (and the same for
    /// `min`): exact in floating point, since rounding is monotone, and it
    /// keeps `a` out of the comparison the derivative makes at the maximum
    /// (`e[j] - max(k, e[k])` is then exactly 0 there).
    fn extreme_rules(
        &mut self,
        op: IndexOp,
        idx: IdxId,
        body: NodeId,
        depth: u32,
    ) -> Option<NodeId> {
        let other = if op == IndexOp::Max {
            IndexOp::Min
        } else {
            IndexOp::Max
        };
        match self.node(body) {
            Node::Unary(UnOp::Neg, f) => {
                let m = self.index_reduce_at(other, idx, f, depth);
                Some(self.neg(m))
            }
            Node::Binary(BinOp::Add, a, f) if !self.has_free(a, idx) => {
                let m = self.index_reduce_at(op, idx, f, depth);
                Some(self.add(a, m))
            }
            Node::Binary(BinOp::Add, f, a) if !self.has_free(a, idx) => {
                let m = self.index_reduce_at(op, idx, f, depth);
                Some(self.add(m, a))
            }
            Node::Binary(BinOp::Sub, a, f) if !self.has_free(a, idx) => {
                let m = self.index_reduce_at(other, idx, f, depth);
                Some(self.sub(a, m))
            }
            Node::Binary(BinOp::Sub, f, a) if !self.has_free(a, idx) => {
                let m = self.index_reduce_at(op, idx, f, depth);
                Some(self.sub(m, a))
            }
            _ => None,
        }
    }

    /// The factors of a product (a tree of `*`), left to right.
    fn product_factors(&self, id: NodeId, out: &mut Vec<NodeId>) {
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            match self.node(n) {
                Node::Binary(BinOp::Mul, a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                _ => out.push(n),
            }
        }
    }

    fn product(&mut self, factors: &[NodeId]) -> NodeId {
        let mut acc = self.constant(1.0);
        for &f in factors {
            acc = self.mul(acc, f);
        }
        acc
    }

    /// Renames index variables under `root`: each `(from, to)` of `map`
    /// replaces the free index `from` by the subscript `to` (an index, a
    /// constant or a data column). Reductions are renamed apart first, so
    /// no free index is captured.
    pub fn subst_indices(&mut self, root: NodeId, map: &[(IdxId, Sub)]) -> NodeId {
        let map: Vec<(IdxId, Sub)> = map
            .iter()
            .copied()
            .filter(|&(from, to)| to != Sub::Idx(from))
            .collect();
        if map.is_empty() {
            return root;
        }
        let mut memo: HashMap<NodeId, NodeId> = HashMap::default();
        self.subst_rec(root, &map, &mut memo)
    }

    fn subst_rec(
        &mut self,
        root: NodeId,
        map: &[(IdxId, Sub)],
        memo: &mut HashMap<NodeId, NodeId>,
    ) -> NodeId {
        let touched = |g: &Graph, id: NodeId| map.iter().any(|&(from, _)| g.has_free(id, from));
        if !touched(self, root) {
            return root;
        }
        let order = self.topo_order_until(&[root], |id| !touched(self, id));
        for id in order {
            if memo.contains_key(&id) {
                continue;
            }
            if !touched(self, id) {
                memo.insert(id, id);
                continue;
            }
            let lookup = |s: Sub| match s {
                Sub::Idx(i) => map
                    .iter()
                    .find(|&&(from, _)| from == i)
                    .map_or(s, |&(_, to)| to),
                _ => s,
            };
            let out = match self.node(id) {
                Node::Elem(sym, subs) => {
                    let subs: Vec<Sub> = self.subs(subs).iter().map(|&s| lookup(s)).collect();
                    self.elem(sym, &subs)
                }
                Node::Delta(a, b) => self.delta(lookup(a), lookup(b)),
                Node::IndexReduce(op, bound, body) => {
                    // The bound index is renamed apart (to a scratch index,
                    // then canonically) when a target would be captured by
                    // it or when the map renames an index of the same id
                    // free outside: inside, `bound` is the reduction's own.
                    let own = map
                        .iter()
                        .any(|&(from, to)| from == bound || to == Sub::Idx(bound));
                    if own {
                        let s = self.scratch_index(self.extent(bound));
                        let mut inner = vec![(bound, Sub::Idx(s))];
                        inner.extend(map.iter().copied().filter(|&(from, _)| from != bound));
                        let mut fresh = HashMap::default();
                        let b = self.subst_rec(body, &inner, &mut fresh);
                        self.index_reduce(op, s, b)
                    } else {
                        let b = memo[&body];
                        self.index_reduce(op, bound, b)
                    }
                }
                node => {
                    let kids: Vec<NodeId> = node.children().map(|k| memo[&k]).collect();
                    self.rebuild(node, &kids)
                }
            };
            memo.insert(id, out);
        }
        memo[&root]
    }
}
