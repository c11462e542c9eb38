//! The derivatives of tests/data/diff_corpus.tsv beside a reference system's
//! sizes (`cargo test corpus::dump -- --nocapture`).

use super::*;
use crate::diff::gradient;
use crate::graph::testparse::parse;
use crate::print::to_text;

#[test]
fn dump() {
    let corpus = include_str!("../../tests/data/diff_corpus.tsv");
    for line in corpus.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let mut g = Graph::new();
        let e = parse(&mut g, cols[0]);
        let e = simplify_one(&mut g, e);
        let v = g.symbol_id(cols[1]).unwrap();
        let de = gradient(&mut g, e, &[v])[0];
        let s = simplify_one(&mut g, de);
        let ours = g.meta(s).size;
        let theirs: u32 = cols[2].parse().unwrap();
        let mark = if ours > theirs { "WORSE" } else { "" };
        eprintln!(
            "{mark}\t{}\t{}\t{} ({})\t{} ({})",
            cols[0],
            cols[1],
            to_text(&g, s),
            ours,
            cols[3],
            theirs
        );
    }
}
