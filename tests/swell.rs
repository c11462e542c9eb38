//! No expression swell: the gradient's operation count (CSE'd program, each
//! distinct node once) stays within 3x the function's on the families where
//! tree-based differentiation explodes.

use ddx::check;
use ddx::Source;
use ddx::{derivatives, DiffOptions};

fn ops(name: &str, text: &str) -> (usize, usize) {
    let unit = check(&Source::new(name, text), None).expect("checks");
    derivatives(unit, &DiffOptions::default())
        .expect("differentiates")
        .ops()
}

#[test]
fn gradients_stay_within_three_times_the_function() {
    let cases = [
        ("sin40", include_str!("data/swell/sin40.txt")),
        ("product20", include_str!("data/swell/product20.txt")),
        ("net341 written out", include_str!("data/swell/net341.txt")),
        ("net341 model", include_str!("data/swell/net341.ddx")),
    ];
    for (name, text) in cases {
        let (f, g) = ops(name, text);
        assert!(f > 0, "{name}: function has no ops");
        assert!(g <= 3 * f, "{name}: gradient {g} ops, function {f} ops");
    }
}

#[test]
fn long_sums_simplify_in_linear_time() {
    // a sum of 100,000 terms: gathered in one pass, not re-flattened per term
    let terms: Vec<String> = (0..100_000).map(|i| format!("{}*x", i % 7 + 1)).collect();
    let text = format!("f = {}", terms.join(" + "));
    let start = std::time::Instant::now();
    let unit = check(&Source::new("sum", &text), None).expect("checks");
    let d = derivatives(unit, &DiffOptions::default()).expect("differentiates");
    assert_eq!(ddx::to_text(&d.graph, d.items[0].expr), "399995");
    // generous bound for a debug build: the quadratic version takes minutes
    assert!(start.elapsed().as_secs() < 60);
}
