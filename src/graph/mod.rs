//! The expression graph: an arena of immutable, hash-consed nodes.
//!
//! Building a node that already exists returns its id, so identical
//! subexpressions are stored once. The smart constructors fold constants and
//! apply the cheap identities (`x+0`, `x*1`, `x^1`, `--x`) as nodes are built;
//! deeper canonicalisation lives in [`crate::simplify`].
//!
//! Rewrites that are not exact under IEEE arithmetic and that the
//! constructors apply on purpose: `x*0 -> 0`, `0/x -> 0`, `x - x -> 0` and
//! `x^0 -> 1` (wrong only when `x` is infinite or NaN).

mod index;
pub(crate) mod ops;

use rustc_hash::FxHashMap as HashMap;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

pub use index::{IdxId, IdxKind, IdxSetId, IndexOp, IndexVar, Sub, SubsId};
pub use ops::{BinOp, Reduction, UnOp};

/// The id of a node in a [`Graph`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NodeId(u32);

impl NodeId {
    /// The position of the node in its graph's arena.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The id of a symbol (a named variable) in a [`Graph`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SymId(u32);

impl SymId {
    /// The position of the symbol in its graph's symbol table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a symbol stands for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SymbolKind {
    /// A free variable of expression mode.
    Free,
    /// A trainable scalar parameter of a model.
    Param,
    /// A data column: a different value on every row.
    Data,
}

/// A named variable.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// The dimensions of an array symbol (empty for a scalar). A data
    /// column of shape `[64]` holds 64 values on every row.
    pub shape: Vec<usize>,
}

/// One node of the graph. Children are ids of earlier nodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Node {
    /// A constant, stored by its bits (every NaN is stored as one NaN).
    Const(u64),
    /// A variable.
    Sym(SymId),
    /// A unary operator or one-argument function.
    Unary(UnOp, NodeId),
    /// A binary operator or two-argument function.
    Binary(BinOp, NodeId, NodeId),
    /// A reduction over the data rows.
    Reduce(Reduction, NodeId),
    /// An element of an array symbol, `W[k, j]`.
    Elem(SymId, SubsId),
    /// 1 when the two subscripts are equal, else 0 (what a gather or a
    /// constant subscript differentiates to).
    Delta(Sub, Sub),
    /// A reduction over an index variable, `sum(j, e)`.
    IndexReduce(IndexOp, IdxId, NodeId),
}

impl Node {
    /// The constant value, if this is a constant.
    pub fn as_const(&self) -> Option<f64> {
        match *self {
            Node::Const(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    /// The children of the node, in order.
    pub fn children(&self) -> Children {
        match *self {
            Node::Const(_) | Node::Sym(_) | Node::Elem(..) | Node::Delta(..) => Children::new(&[]),
            Node::Unary(_, a) | Node::Reduce(_, a) | Node::IndexReduce(_, _, a) => {
                Children::new(&[a])
            }
            Node::Binary(_, a, b) => Children::new(&[a, b]),
        }
    }
}

/// The (at most two) children of a node.
#[derive(Clone, Copy, Debug)]
pub struct Children {
    ids: [NodeId; 2],
    len: u8,
    pos: u8,
}

impl Children {
    fn new(ids: &[NodeId]) -> Self {
        let mut arr = [NodeId(0); 2];
        arr[..ids.len()].copy_from_slice(ids);
        Children {
            ids: arr,
            len: ids.len() as u8,
            pos: 0,
        }
    }
}

impl Children {
    /// The children, last first (for pushing onto a stack).
    pub(super) fn rev_order(self) -> impl Iterator<Item = NodeId> {
        let ids = self.ids;
        (usize::from(self.pos)..usize::from(self.len))
            .rev()
            .map(move |i| ids[i])
    }
}

impl Iterator for Children {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.pos < self.len {
            self.pos += 1;
            Some(self.ids[self.pos as usize - 1])
        } else {
            None
        }
    }
}

/// Facts about a node computed once, when it is built.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Structural hash, independent of the order nodes were built in.
    pub hash: u64,
    /// Ordering class: 0 constants, 1 monomials in variables, 2 the rest.
    pub class: u8,
    /// The alphabetically first variable in the node, if any.
    pub lead: Option<SymId>,
    /// Polynomial degree (approximate, for ordering only).
    pub degree: i32,
    /// True when the value differs from row to row (depends on data outside
    /// any reduction).
    pub per_row: bool,
    /// True when the node depends on a parameter or free variable.
    pub varies: bool,
    /// True when the node contains a reduction.
    pub has_reduce: bool,
    /// Depth of the node (longest path to a leaf), saturating.
    pub depth: u32,
    /// Operations of the node written out as a tree, saturating.
    pub size: u32,
    /// The index variables the node depends on (its value is an array
    /// over them).
    pub free: IdxSetId,
    /// The highest level of any index reduction inside the node (0 when
    /// there is none).
    pub binders: u32,
}

/// An arena of hash-consed expression nodes plus the symbol table.
#[derive(Clone, Debug)]
pub struct Graph {
    nodes: Vec<Node>,
    meta: Vec<Meta>,
    dedup: HashMap<Node, NodeId>,
    symbols: Vec<Symbol>,
    symbol_ids: HashMap<String, SymId>,
    symbol_nodes: Vec<NodeId>,
    indices: Vec<IndexVar>,
    index_ids: HashMap<IndexVar, IdxId>,
    subs: Vec<Box<[Sub]>>,
    subs_ids: HashMap<Box<[Sub]>, SubsId>,
    sets: Vec<Box<[IdxId]>>,
    set_ids: HashMap<Box<[IdxId]>, IdxSetId>,
    scratch: u32,
}

const NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        let mut set_ids = HashMap::default();
        set_ids.insert(Box::from([]), IdxSetId::EMPTY);
        Graph {
            nodes: Vec::new(),
            meta: Vec::new(),
            dedup: HashMap::default(),
            symbols: Vec::new(),
            symbol_ids: HashMap::default(),
            symbol_nodes: Vec::new(),
            indices: Vec::new(),
            index_ids: HashMap::default(),
            subs: Vec::new(),
            subs_ids: HashMap::default(),
            sets: vec![Box::from([])],
            set_ids,
            scratch: 0,
        }
    }

    /// Number of nodes in the arena.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the arena holds no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> Node {
        self.nodes[id.index()]
    }

    /// The facts computed for a node.
    pub fn meta(&self, id: NodeId) -> &Meta {
        &self.meta[id.index()]
    }

    /// The constant value of a node, if it is a constant.
    pub fn as_const(&self, id: NodeId) -> Option<f64> {
        self.node(id).as_const()
    }

    /// True when the node is the constant `v`.
    pub fn is_const(&self, id: NodeId, v: f64) -> bool {
        self.as_const(id) == Some(v)
    }

    /// All symbols, in the order they were declared.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbol behind an id.
    pub fn symbol(&self, id: SymId) -> &Symbol {
        &self.symbols[id.index()]
    }

    /// The id of the symbol with this name, if declared.
    pub fn symbol_id(&self, name: &str) -> Option<SymId> {
        self.symbol_ids.get(name).copied()
    }

    /// Declares a symbol (or returns the existing one with that name; its
    /// kind is then left as it was).
    pub fn declare(&mut self, name: &str, kind: SymbolKind) -> SymId {
        self.declare_array(name, kind, &[])
    }

    /// Declares an array symbol of the given shape (a scalar when `shape`
    /// is empty), or returns the existing one with that name.
    pub fn declare_array(&mut self, name: &str, kind: SymbolKind, shape: &[usize]) -> SymId {
        if let Some(&id) = self.symbol_ids.get(name) {
            return id;
        }
        let id = SymId(self.symbols.len() as u32);
        self.symbols.push(Symbol {
            name: name.to_string(),
            kind,
            shape: shape.to_vec(),
        });
        self.symbol_ids.insert(name.to_string(), id);
        let node = self.intern(Node::Sym(id));
        self.symbol_nodes.push(node);
        id
    }

    /// The node of a symbol.
    pub fn sym(&self, id: SymId) -> NodeId {
        self.symbol_nodes[id.index()]
    }

    /// The symbol of a node, if it is a variable.
    pub fn as_sym(&self, id: NodeId) -> Option<SymId> {
        match self.node(id) {
            Node::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// Interns a node exactly as given: no folding, no reordering. For
    /// passes (like simplify) that produce canonical forms themselves.
    pub fn raw(&mut self, node: Node) -> NodeId {
        match node {
            Node::Const(bits) => self.constant(f64::from_bits(bits)),
            _ => self.intern(node),
        }
    }

    fn intern(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.dedup.get(&node) {
            return id;
        }
        let meta = self.compute_meta(&node);
        let id =
            NodeId(u32::try_from(self.nodes.len()).expect("expression graph exceeds 2^32 nodes"));
        self.nodes.push(node);
        self.meta.push(meta);
        self.dedup.insert(node, id);
        id
    }

    fn compute_meta(&mut self, node: &Node) -> Meta {
        let mut h = rustc_hash::FxHasher::default();
        let leaf = Meta {
            hash: 0,
            class: 0,
            lead: None,
            degree: 0,
            per_row: false,
            varies: false,
            has_reduce: false,
            depth: 0,
            size: 0,
            free: IdxSetId::EMPTY,
            binders: 0,
        };
        match *node {
            Node::Const(bits) => {
                0u8.hash(&mut h);
                bits.hash(&mut h);
                Meta {
                    hash: h.finish(),
                    ..leaf
                }
            }
            Node::Sym(s) => {
                1u8.hash(&mut h);
                let sym = &self.symbols[s.index()];
                sym.name.hash(&mut h);
                Meta {
                    hash: h.finish(),
                    class: 1,
                    lead: Some(s),
                    degree: 1,
                    per_row: sym.kind == SymbolKind::Data,
                    varies: sym.kind != SymbolKind::Data,
                    ..leaf
                }
            }
            Node::Unary(op, a) => {
                let ma = self.meta[a.index()];
                2u8.hash(&mut h);
                op.hash(&mut h);
                ma.hash.hash(&mut h);
                let (class, degree) = if op == UnOp::Neg {
                    (ma.class, ma.degree)
                } else {
                    (2, 0)
                };
                Meta {
                    hash: h.finish(),
                    class,
                    lead: ma.lead,
                    degree,
                    per_row: ma.per_row,
                    varies: ma.varies,
                    has_reduce: ma.has_reduce,
                    depth: ma.depth.saturating_add(1),
                    size: ma.size.saturating_add(1),
                    free: ma.free,
                    binders: ma.binders,
                }
            }
            Node::Binary(op, a, b) => {
                let ma = self.meta[a.index()];
                let mb = self.meta[b.index()];
                3u8.hash(&mut h);
                op.hash(&mut h);
                ma.hash.hash(&mut h);
                mb.hash.hash(&mut h);
                let lead = self.first_symbol(ma.lead, mb.lead);
                let (class, degree) = match op {
                    BinOp::Mul if ma.class <= 1 && mb.class <= 1 => {
                        // clamped like powers: `a*a` chains double the degree
                        (
                            1,
                            ma.degree
                                .saturating_add(mb.degree)
                                .clamp(-1_000_000, 1_000_000),
                        )
                    }
                    BinOp::Div if ma.class <= 1 && mb.class == 0 => (1, ma.degree),
                    BinOp::Pow if ma.class <= 1 && mb.class == 0 => {
                        let e = f64::from_bits(match self.nodes[b.index()] {
                            Node::Const(bits) => bits,
                            _ => 0,
                        });
                        (1, (ma.degree as f64 * e).clamp(-1e6, 1e6) as i32)
                    }
                    // not a monomial: sums, min, max, and the products,
                    // quotients and powers the arms above do not take
                    BinOp::Add
                    | BinOp::Sub
                    | BinOp::Mul
                    | BinOp::Div
                    | BinOp::Pow
                    | BinOp::Min
                    | BinOp::Max => (2, ma.degree.max(mb.degree)),
                };
                Meta {
                    hash: h.finish(),
                    class,
                    lead,
                    degree,
                    per_row: ma.per_row || mb.per_row,
                    varies: ma.varies || mb.varies,
                    has_reduce: ma.has_reduce || mb.has_reduce,
                    depth: ma.depth.max(mb.depth).saturating_add(1),
                    size: ma.size.saturating_add(mb.size).saturating_add(1),
                    free: self.union_sets(ma.free, mb.free),
                    binders: ma.binders.max(mb.binders),
                }
            }
            Node::Reduce(r, a) => {
                let ma = self.meta[a.index()];
                4u8.hash(&mut h);
                r.hash(&mut h);
                ma.hash.hash(&mut h);
                Meta {
                    hash: h.finish(),
                    class: 2,
                    lead: ma.lead,
                    degree: 0,
                    per_row: false,
                    varies: ma.varies,
                    has_reduce: true,
                    depth: ma.depth.saturating_add(1),
                    size: ma.size.saturating_add(1),
                    free: ma.free,
                    binders: ma.binders,
                }
            }
            Node::Elem(s, subs) => {
                let idx: Vec<IdxId> = self.subs[subs.0 as usize]
                    .iter()
                    .filter_map(|s| s.as_idx())
                    .collect();
                let free = self.set_of(idx);
                5u8.hash(&mut h);
                let sym = &self.symbols[s.index()];
                sym.name.hash(&mut h);
                let subs = &self.subs[subs.0 as usize];
                let mut per_row = sym.kind == SymbolKind::Data;
                for &sub in subs.iter() {
                    self.hash_sub(sub, &mut h);
                    per_row |= matches!(sub, Sub::Data(_));
                }
                Meta {
                    hash: h.finish(),
                    class: 1,
                    lead: Some(s),
                    degree: 1,
                    per_row,
                    varies: sym.kind != SymbolKind::Data,
                    free,
                    ..leaf
                }
            }
            Node::Delta(a, b) => {
                let free = self.set_of([a, b].iter().filter_map(|s| s.as_idx()).collect());
                6u8.hash(&mut h);
                self.hash_sub(a, &mut h);
                self.hash_sub(b, &mut h);
                Meta {
                    hash: h.finish(),
                    class: 2,
                    per_row: matches!(a, Sub::Data(_)) || matches!(b, Sub::Data(_)),
                    free,
                    depth: 1,
                    size: 1,
                    ..leaf
                }
            }
            Node::IndexReduce(op, i, a) => {
                let ma = self.meta[a.index()];
                7u8.hash(&mut h);
                op.hash(&mut h);
                self.indices[i.index()].hash(&mut h);
                ma.hash.hash(&mut h);
                let free: Vec<IdxId> = self.sets[ma.free.0 as usize]
                    .iter()
                    .copied()
                    .filter(|&j| j != i)
                    .collect();
                let free = self.set_of(free);
                Meta {
                    hash: h.finish(),
                    class: 2,
                    lead: ma.lead,
                    degree: 0,
                    per_row: ma.per_row,
                    varies: ma.varies,
                    has_reduce: ma.has_reduce,
                    depth: ma.depth.saturating_add(1),
                    size: ma.size.saturating_add(1),
                    free,
                    binders: ma.binders.max(self.indices[i.index()].level()),
                }
            }
        }
    }

    fn hash_sub(&self, sub: Sub, h: &mut impl Hasher) {
        match sub {
            Sub::Idx(i) => {
                0u8.hash(h);
                self.indices[i.index()].hash(h);
            }
            Sub::Const(c) => {
                1u8.hash(h);
                c.hash(h);
            }
            Sub::Data(s) => {
                2u8.hash(h);
                self.symbols[s.index()].name.hash(h);
            }
        }
    }

    fn first_symbol(&self, a: Option<SymId>, b: Option<SymId>) -> Option<SymId> {
        match (a, b) {
            (Some(x), Some(y)) => {
                if self.symbols[y.index()].name < self.symbols[x.index()].name {
                    Some(y)
                } else {
                    Some(x)
                }
            }
            (x, None) => x,
            (None, y) => y,
        }
    }

    /// The canonical order of operands: constants first, then monomials by
    /// their first variable and falling degree, then everything else; ties
    /// are broken structurally, so the order never depends on build order.
    pub fn order(&self, a: NodeId, b: NodeId) -> Ordering {
        if a == b {
            return Ordering::Equal;
        }
        let (ma, mb) = (self.meta(a), self.meta(b));
        ma.class
            .cmp(&mb.class)
            .then_with(|| match (ma.lead, mb.lead) {
                (Some(x), Some(y)) => self.symbols[x.index()]
                    .name
                    .cmp(&self.symbols[y.index()].name),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| mb.degree.cmp(&ma.degree))
            .then_with(|| ma.depth.cmp(&mb.depth))
            .then_with(|| match (self.as_const(a), self.as_const(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => Ordering::Equal,
            })
            .then_with(|| ma.hash.cmp(&mb.hash))
            .then_with(|| a.cmp(&b))
    }

    // ---- smart constructors ------------------------------------------------

    /// The constant `v` (every NaN is the same NaN).
    pub fn constant(&mut self, v: f64) -> NodeId {
        let bits = if v.is_nan() { NAN_BITS } else { v.to_bits() };
        self.intern(Node::Const(bits))
    }

    /// `-a`.
    pub fn neg(&mut self, a: NodeId) -> NodeId {
        self.unary(UnOp::Neg, a)
    }

    /// `a + b`.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(BinOp::Add, a, b)
    }

    /// `a - b`.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(BinOp::Sub, a, b)
    }

    /// `a * b`.
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(BinOp::Mul, a, b)
    }

    /// `a / b`.
    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(BinOp::Div, a, b)
    }

    /// `a ^ b`.
    pub fn pow(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(BinOp::Pow, a, b)
    }

    /// `a ^ n` for a constant exponent.
    pub fn powf(&mut self, a: NodeId, n: f64) -> NodeId {
        let n = self.constant(n);
        self.pow(a, n)
    }

    /// `c * a` for a constant factor.
    pub fn scale(&mut self, c: f64, a: NodeId) -> NodeId {
        let c = self.constant(c);
        self.mul(c, a)
    }

    /// A function call `f(a)`.
    pub fn call(&mut self, f: UnOp, a: NodeId) -> NodeId {
        self.unary(f, a)
    }

    /// `sum(a)` or `mean(a)`. A reduction of a row-invariant value folds:
    /// `sum(c)` is not folded (it needs the row count), `mean(c)` is `c`.
    pub fn reduce(&mut self, r: Reduction, a: NodeId) -> NodeId {
        if r == Reduction::Mean && !self.meta(a).per_row {
            return a;
        }
        if r == Reduction::Sum && self.is_const(a, 0.0) {
            return a;
        }
        self.intern(Node::Reduce(r, a))
    }

    /// A unary node, with constant folding and `--x -> x`.
    pub fn unary(&mut self, op: UnOp, a: NodeId) -> NodeId {
        if let Some(x) = self.as_const(a) {
            return self.constant(op.eval(x));
        }
        if op == UnOp::Neg {
            match self.node(a) {
                Node::Unary(UnOp::Neg, inner) => return inner,
                Node::Binary(BinOp::Sub, x, y) => return self.sub(y, x),
                _ => {}
            }
        }
        self.intern(Node::Unary(op, a))
    }

    /// A binary node, with constant folding and the cheap identities.
    /// Operands keep their order (simplify decides the canonical order).
    pub fn binary(&mut self, op: BinOp, a: NodeId, b: NodeId) -> NodeId {
        let (ca, cb) = (self.as_const(a), self.as_const(b));
        if let (Some(x), Some(y)) = (ca, cb) {
            return self.constant(op.eval(x, y));
        }
        match op {
            BinOp::Add => {
                if ca == Some(0.0) {
                    return b;
                }
                if cb == Some(0.0) {
                    return a;
                }
                if let Node::Unary(UnOp::Neg, nb) = self.node(b) {
                    return self.sub(a, nb);
                }
                if let Node::Unary(UnOp::Neg, na) = self.node(a) {
                    return self.sub(b, na);
                }
                if let Some(c) = cb.filter(|c| *c < 0.0) {
                    let k = self.constant(-c);
                    return self.sub(a, k);
                }
            }
            BinOp::Sub => {
                if cb == Some(0.0) {
                    return a;
                }
                if ca == Some(0.0) {
                    return self.neg(b);
                }
                if a == b {
                    return self.constant(0.0);
                }
                if let Node::Unary(UnOp::Neg, nb) = self.node(b) {
                    return self.add(a, nb);
                }
                if let Some(c) = cb.filter(|c| *c < 0.0) {
                    let k = self.constant(-c);
                    return self.add(a, k);
                }
            }
            BinOp::Mul => {
                if ca == Some(0.0) || cb == Some(0.0) {
                    return self.constant(0.0);
                }
                if ca == Some(1.0) {
                    return b;
                }
                if cb == Some(1.0) {
                    return a;
                }
                if ca == Some(-1.0) {
                    return self.neg(b);
                }
                if cb == Some(-1.0) {
                    return self.neg(a);
                }
                if let (Node::Unary(UnOp::Neg, na), Node::Unary(UnOp::Neg, nb)) =
                    (self.node(a), self.node(b))
                {
                    return self.mul(na, nb);
                }
            }
            BinOp::Div => {
                if ca == Some(0.0) {
                    return self.constant(0.0);
                }
                if cb == Some(1.0) {
                    return a;
                }
                if cb == Some(-1.0) {
                    return self.neg(a);
                }
                if a == b {
                    return self.constant(1.0);
                }
            }
            BinOp::Pow => {
                if cb == Some(1.0) {
                    return a;
                }
                if cb == Some(0.0) {
                    return self.constant(1.0);
                }
                if ca == Some(1.0) {
                    return a;
                }
            }
            BinOp::Min | BinOp::Max => {
                if a == b {
                    return a;
                }
            }
        }
        self.intern(Node::Binary(op, a, b))
    }

    /// Rebuilds a node with new children through the smart constructors.
    pub fn rebuild(&mut self, node: Node, kids: &[NodeId]) -> NodeId {
        match node {
            Node::Const(_) | Node::Sym(_) | Node::Elem(..) | Node::Delta(..) => self.intern(node),
            Node::Unary(op, _) => self.unary(op, kids[0]),
            Node::Binary(op, _, _) => self.binary(op, kids[0], kids[1]),
            Node::Reduce(r, _) => self.reduce(r, kids[0]),
            Node::IndexReduce(op, i, _) => self.index_reduce(op, i, kids[0]),
        }
    }

    /// All nodes reachable from `roots`, children before parents
    /// (iterative: no recursion, whatever the depth).
    pub fn topo_order(&self, roots: &[NodeId]) -> Vec<NodeId> {
        self.topo_order_until(roots, |_| false)
    }

    /// [`Graph::topo_order`], not looking inside the nodes where `stop` is
    /// true (they are listed, their children are not visited through them).
    pub(crate) fn topo_order_until(
        &self,
        roots: &[NodeId],
        stop: impl Fn(NodeId) -> bool,
    ) -> Vec<NodeId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut order = Vec::new();
        let mut stack: Vec<(NodeId, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                order.push(id);
                continue;
            }
            if std::mem::replace(&mut seen[id.index()], true) {
                continue;
            }
            stack.push((id, true));
            if stop(id) {
                continue;
            }
            for k in self.node(id).children().rev_order() {
                if !seen[k.index()] {
                    stack.push((k, false));
                }
            }
        }
        order
    }

    /// How many times each node is used as a child by the nodes reachable
    /// from `roots` (roots themselves count one use each).
    pub fn use_counts(&self, roots: &[NodeId]) -> Vec<u32> {
        let mut uses = vec![0u32; self.nodes.len()];
        for id in self.topo_order(roots) {
            for k in self.node(id).children() {
                uses[k.index()] += 1;
            }
        }
        for r in roots {
            uses[r.index()] += 1;
        }
        uses
    }

    /// Number of operations (each distinct node once; constants and
    /// variables free) needed to compute all of `roots`.
    pub fn op_count(&self, roots: &[NodeId]) -> usize {
        self.topo_order(roots)
            .into_iter()
            .filter(|&id| {
                !matches!(
                    self.node(id),
                    Node::Const(_) | Node::Sym(_) | Node::Elem(..)
                )
            })
            .count()
    }

    /// Replaces symbols by nodes everywhere under `roots` (iteratively).
    pub fn substitute(&mut self, roots: &[NodeId], map: &HashMap<SymId, NodeId>) -> Vec<NodeId> {
        let order = self.topo_order(roots);
        let mut new: HashMap<NodeId, NodeId> =
            HashMap::with_capacity_and_hasher(order.len(), Default::default());
        for id in order {
            let node = self.node(id);
            let out = match node {
                Node::Sym(s) => map.get(&s).copied().unwrap_or(id),
                Node::Const(_) | Node::Elem(..) | Node::Delta(..) => id,
                _ => {
                    let kids: Vec<NodeId> = node.children().map(|k| new[&k]).collect();
                    if kids.iter().zip(node.children()).all(|(a, b)| *a == b) {
                        id
                    } else {
                        self.rebuild(node, &kids)
                    }
                }
            };
            new.insert(id, out);
        }
        roots.iter().map(|r| new[r]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_consing_shares_identical_nodes() {
        let mut g = Graph::new();
        let x = g.declare("x", SymbolKind::Free);
        let x = g.sym(x);
        let one = g.constant(1.0);
        let a = g.add(x, one);
        let b = g.add(x, one);
        assert_eq!(a, b);
        let s1 = g.call(UnOp::Sin, a);
        let s2 = g.call(UnOp::Sin, b);
        assert_eq!(s1, s2);
    }

    #[test]
    fn constructors_fold_constants_and_identities() {
        let mut g = Graph::new();
        let x = g.declare("x", SymbolKind::Free);
        let x = g.sym(x);
        let two = g.constant(2.0);
        let three = g.constant(3.0);
        let five = g.add(two, three);
        assert_eq!(g.as_const(five), Some(5.0));
        let zero = g.constant(0.0);
        let one = g.constant(1.0);
        assert_eq!(g.add(x, zero), x);
        assert_eq!(g.mul(one, x), x);
        assert_eq!(g.pow(x, one), x);
        let nx = g.neg(x);
        assert_eq!(g.neg(nx), x);
        assert_eq!(g.mul(x, zero), zero);
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        let mut g = Graph::new();
        let x = g.declare("x", SymbolKind::Free);
        let mut e = g.sym(x);
        for _ in 0..200_000 {
            e = g.call(UnOp::Sin, e);
        }
        assert_eq!(g.op_count(&[e]), 200_000);
        assert_eq!(g.topo_order(&[e]).len(), 200_001);
    }
}
