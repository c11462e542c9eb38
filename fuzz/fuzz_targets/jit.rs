//! The whole pipeline: differentiate, simplify, compile with Cranelift, and
//! run; the JIT must equal the interpreter bit for bit (NaN == NaN) on the
//! function (or loss), every derivative and, for Newton models, the Hessian.
#![no_main]

use ddx::{
    compile, derivatives, derive, eval, initial_params, model_columns, model_layout, DiffOptions,
    Layout, NodeId, Unit,
};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

/// Values the variables of an expression take, in turn.
const POINTS: [f64; 9] = [0.75, -1.5, 0.0, 2.0, -0.0, 3.0, 1e-300, 1e300, -7.25];

fn compare(
    g: &ddx::Graph,
    outputs: &[NodeId],
    layout: &Layout,
    params: &[f64],
    columns: &[&[f64]],
    input: &str,
) {
    let kernel = match compile(g, outputs, layout) {
        Ok(k) => k,
        Err(e) => panic!("compile failed: {e}\n--- input\n{input}"),
    };
    let want = match eval(g, outputs, layout, params, columns) {
        Ok(v) => v,
        Err(e) => panic!("interpreter failed: {e}\n--- input\n{input}"),
    };
    let mut got = vec![0.0; kernel.outputs()];
    if let Err(e) = kernel.call(params, columns, &mut got) {
        panic!("kernel call failed: {e}\n--- input\n{input}");
    }
    let bound = kernel.bind(columns).expect("columns accepted by call");
    let mut got_bound = vec![0.0; kernel.outputs()];
    bound
        .call(params, &mut got_bound)
        .expect("same shapes as call");
    for (i, ((&w, &j), &b)) in want.iter().zip(&got).zip(&got_bound).enumerate() {
        assert!(
            common::same(w, j) && common::same(w, b),
            "output {i}: interpreter {w:e}, JIT {j:e}, bound JIT {b:e}, params {params:?}\n--- input\n{input}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((src, unit)) = common::checked(data) else {
        return;
    };
    match unit {
        Unit::Expr(f) => {
            let Ok(d) = derivatives(Unit::Expr(f), &DiffOptions::default()) else {
                return;
            };
            let outputs = d.kernel_outputs();
            let layout = d.scalar_layout();
            for k in 0..3 {
                let params: Vec<f64> = (0..layout.params.len())
                    .map(|i| POINTS[(i + 3 * k) % POINTS.len()])
                    .collect();
                compare(&d.graph, &outputs, &layout, &params, &[], &src.text);
            }
        }
        Unit::Model(mut m) => {
            // the Hessian too when it is small, as `ddx train` compiles it for Newton
            let hessian = m.trains_with_newton() || m.params.len() <= 3;
            let derived = derive(&mut m, hessian);
            let layout = model_layout(&m);
            let params = initial_params(&m);
            let shifted: Vec<f64> = params.iter().map(|p| p * 1.5 - 0.25).collect();
            let columns = model_columns(&m);
            for p in [&params, &shifted] {
                compare(
                    &m.graph,
                    &derived.outputs(),
                    &layout,
                    p,
                    &columns,
                    &src.text,
                );
            }
        }
    }
});
