//! The seed model's kernel, stage by stage: schedule, CLIF, assembly, the
//! outputs at the initial params and the gradient check.
//!
//! `cargo run --example seed_kernel`

use ddx::{compile_with, model_columns, model_layout, CodegenOptions};

#[path = "../benches/support/outputs.rs"]
mod outputs;
#[path = "../benches/support/seed.rs"]
mod seed;
use outputs::model_outputs;
use seed::seed_model;

fn main() {
    let mut model = seed_model();
    let outputs = model_outputs(&mut model);
    let layout = model_layout(&model);
    let options = CodegenOptions {
        inspect: true,
        ..CodegenOptions::default()
    };
    let kernel = compile_with(&model.graph, &outputs, &layout, &options).expect("compile");
    let names = ["C", "dC/dm", "dC/db"].map(String::from);
    println!(
        "== schedule\n{}",
        kernel.schedule().clone().with_output_names(&names)
    );
    println!("== clif\n{}", kernel.clif().unwrap_or_default());
    println!("== asm\n{}", kernel.asm().unwrap_or_default());
    let mut out = [0.0; 3];
    kernel
        .call(&[0.9, 0.1], &model_columns(&model), &mut out)
        .expect("call");
    println!("== outputs at m = 0.9, b = 0.1\n{out:?}\n");
    let report = ddx::check_model_gradient(&mut model).expect("check");
    println!("== check\n{report}");
}
