//! Parse, check, differentiate, simplify and print: never panics, and in
//! expression mode every printed derivative is itself valid input.
#![no_main]

use ddx::{derivatives, DiffOptions, Source, Unit};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

/// A printed expression must parse and check as expression mode.
fn valid_input(text: &str, what: &str, input: &str) {
    let src = Source::new("printed", text);
    if let Err(d) = ddx::check(&src, None) {
        panic!(
            "printed {what} is not valid input: {}\n{}--- input\n{input}",
            d.message,
            d.render(&src)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((src, unit)) = common::checked(data) else {
        return;
    };
    let expr_mode = matches!(unit, Unit::Expr(_));
    let vars: Vec<String> = match &unit {
        Unit::Expr(f) => f
            .vars
            .iter()
            .map(|&v| f.graph.symbol(v).name.clone())
            .collect(),
        Unit::Model(m) => m.params.iter().map(|p| p.name.clone()).collect(),
    };
    let Ok(d) = derivatives(unit.clone(), &DiffOptions::default()) else {
        return;
    };
    let _ = d.to_text(true);
    let _ = d.to_latex(false);
    let _ = d.to_latex(true);
    let _ = d.to_json(true);
    let text = d.to_json(false);
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_ok(),
        "invalid JSON: {text}"
    );
    if expr_mode {
        valid_input(&ddx::to_text(&d.graph, d.function), "function", &src.text);
        for item in &d.items {
            let e = ddx::to_text(&d.graph, item.expr);
            valid_input(&e, "derivative", &src.text);
        }
        // --cse: the `let` lines and the derivatives in terms of them
        let _ = d.to_text(true);
    }
    // the second derivative by the first variable, and values substituted
    if let Some(v) = vars.first() {
        let opts = DiffOptions {
            wrt: vec![v.clone()],
            order: 2,
            at: Vec::new(),
        };
        if let Ok(d2) = derivatives(unit.clone(), &opts) {
            let _ = d2.to_text(false);
        }
        if expr_mode {
            let at = vars.iter().map(|v| (v.clone(), 0.75)).collect();
            let opts = DiffOptions {
                wrt: Vec::new(),
                order: 1,
                at,
            };
            if let Ok(d3) = derivatives(unit, &opts) {
                let _ = d3.to_json(false);
            }
        }
    }
});
