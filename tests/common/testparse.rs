//! A minimal expression parser for the tests of the graph passes, so that
//! they can be written as strings, independently of the real front end.

use ddx::Func;
use ddx::{BinOp, Graph, NodeId, SymbolKind};

/// Parses `src` into `g`; identifiers become free symbols unless declared.
pub fn parse(g: &mut Graph, src: &str) -> NodeId {
    let toks = lex(src);
    let mut p = P { g, toks, pos: 0 };
    let e = p.expr();
    assert_eq!(p.pos, p.toks.len(), "trailing input in {src}");
    e
}

#[derive(Clone, Debug, PartialEq)]
enum T {
    Num(f64),
    Id(String),
    Op(char),
}

fn lex(s: &str) -> Vec<T> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_ascii_digit() || c[i] == '.' {
            let st = i;
            while i < c.len()
                && (c[i].is_ascii_digit()
                    || c[i] == '.'
                    || c[i] == 'e'
                    || ((c[i] == '-' || c[i] == '+') && c[i - 1] == 'e'))
            {
                i += 1;
            }
            out.push(T::Num(c[st..i].iter().collect::<String>().parse().unwrap()));
        } else if c[i].is_alphabetic() || c[i] == '_' {
            let st = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(T::Id(c[st..i].iter().collect()));
        } else {
            out.push(T::Op(c[i]));
            i += 1;
        }
    }
    out
}

struct P<'a> {
    g: &'a mut Graph,
    toks: Vec<T>,
    pos: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&T> {
        self.toks.get(self.pos)
    }
    fn eat(&mut self, ch: char) -> bool {
        if self.peek() == Some(&T::Op(ch)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expr(&mut self) -> NodeId {
        let mut a = self.term();
        loop {
            if self.eat('+') {
                let b = self.term();
                a = self.g.binary(BinOp::Add, a, b);
            } else if self.eat('-') {
                let b = self.term();
                a = self.g.binary(BinOp::Sub, a, b);
            } else {
                return a;
            }
        }
    }
    fn term(&mut self) -> NodeId {
        let mut a = self.unary();
        loop {
            if self.eat('*') {
                let b = self.unary();
                a = self.g.binary(BinOp::Mul, a, b);
            } else if self.eat('/') {
                let b = self.unary();
                a = self.g.binary(BinOp::Div, a, b);
            } else {
                return a;
            }
        }
    }
    fn unary(&mut self) -> NodeId {
        if self.eat('-') {
            let a = self.unary();
            return self.g.neg(a);
        }
        let a = self.atom();
        if self.eat('^') {
            let b = self.unary();
            return self.g.binary(BinOp::Pow, a, b);
        }
        a
    }
    fn atom(&mut self) -> NodeId {
        let t = self.peek().cloned();
        self.pos += 1;
        match t {
            Some(T::Num(v)) => self.g.constant(v),
            Some(T::Op('(')) => {
                let e = self.expr();
                assert!(self.eat(')'));
                e
            }
            Some(T::Id(name)) => {
                if self.eat('(') {
                    let mut args = vec![self.expr()];
                    while self.eat(',') {
                        args.push(self.expr());
                    }
                    assert!(self.eat(')'));
                    return match Func::from_name(&name) {
                        Some(Func::Unary(op)) => self.g.call(op, args[0]),
                        Some(Func::Binary(op)) => self.g.binary(op, args[0], args[1]),
                        Some(Func::Reduce(r)) => self.g.reduce(r, args[0]),
                        None => panic!("unknown function {name}"),
                    };
                }
                if name == "pi" {
                    return self.g.constant(std::f64::consts::PI);
                }
                let s = match self.g.symbol_id(&name) {
                    Some(s) => s,
                    None => self.g.declare(&name, SymbolKind::Free),
                };
                self.g.sym(s)
            }
            t => panic!("unexpected {t:?}"),
        }
    }
}
