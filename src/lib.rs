//! ddx: symbolic differentiation and Cranelift code generation.
//!
//! Text goes through one pipeline, one module per stage:
//!
//! ```text
//! syntax (lexer, parser) -> check (names, rules, lowering) -> one Graph
//!   -> differentiate (reverse mode) -> simplify -> schedule
//!   -> print | interpret (the reference interpreter) | codegen (Cranelift)
//!   -> pipeline (a model's compiled loss and gradient) -> train
//! ```
//!
//! `commands` holds what each subcommand of the `ddx` binary computes, as
//! data the command line renders. The modules are private; this page lists
//! what the library offers.
//!
//! # Example
//!
//! Parse a model, differentiate its loss, compile loss and gradient to
//! native code, and call the kernel on the model's data:
//!
//! ```
//! use ddx::{check, compile_model, initial_params, model_columns, Source, Unit};
//!
//! let text = "data x = [1, 2, 3]\n\
//!             data y = [2, 4, 6]\n\
//!             param w = 0.5\n\
//!             loss C = mean((w*x - y)^2)\n";
//! let Unit::Model(mut model) = check(&Source::new("fit.ddx", text), None).unwrap() else {
//!     unreachable!("a model file")
//! };
//! // differentiate, simplify and compile (no Hessian)
//! let compiled = compile_model(&mut model, false).unwrap();
//! assert_eq!(ddx::to_text(&model.graph, compiled.derived.gradient[0]), "2*mean(x*(w*x - y))");
//!
//! let columns = model_columns(&model);
//! let kernel = compiled.kernel.bind(&columns).unwrap();
//! let mut out = [0.0; 2]; // the loss, then dC/dw
//! kernel.call(&initial_params(&model), &mut out).unwrap();
//! // w = 0.5: the residuals are -1.5, -3, -4.5
//! assert_eq!(out[0], (1.5f64 * 1.5 + 3.0 * 3.0 + 4.5 * 4.5) / 3.0);
//! assert_eq!(out[1], 2.0 * (1.0 * -1.5 + 2.0 * -3.0 + 3.0 * -4.5) / 3.0);
//! ```

mod check;
mod codegen;
mod commands;
mod diagnostic;
mod differentiate;
mod fault;
mod graph;
mod input;
mod interpret;
mod pipeline;
mod print;
mod program;
mod schedule;
mod simplify;
mod syntax;
mod train;

// Input and the front end: text to a checked program.
pub use check::{check, check_file, MAX_EPOCHS};
pub use diagnostic::{io_reason, Diagnostic, Label, Severity, Source};
pub use input::{read_input, read_input_or_expr, Input, InputError};
pub use program::{
    Binding, DataColumn, Function, InitRule, InitialValues, Model, Optimizer, Param, TrainSpec,
    Unit,
};
pub use syntax::ast::{write_number, File as SyntaxTree};
pub use syntax::{decode, parse, MAX_SOURCE_BYTES};

// The expression graph and its passes.
pub use differentiate::{derivative, gradient, gradient_indexed, hessian_indexed, Partial};
pub use graph::{
    ops::Func, BinOp, Graph, IdxId, IdxKind, IdxSetId, IndexOp, IndexVar, Node, NodeId, Reduction,
    Sub, SubsId, SymId, SymbolKind, UnOp,
};
pub use interpret::{eval, eval_arrays, ArrayInputs, EvalError, BLOCK_ROWS};
pub use print::{dump, to_latex, to_text};
pub use simplify::simplify;

// Code generation: schedules, kernels, a model's compiled loss and gradient.
pub use codegen::{
    compile, compile_arrays, compile_with, hessian, initial_params, model_columns, model_layout,
    ArrayBound, ArrayKernel, Bound, CodegenError, CodegenOptions, Kernel, KernelError, Threads,
};
pub use pipeline::{
    compile_array_model, compile_model, derive, derive_arrays, ArrayDerived, ArrayObjective,
    Compiled, CompiledArrays, Derived, KernelObjective, LOOP_AFTER_EPOCHS,
};
pub use schedule::arrays::ArraySchedule;
pub use schedule::{Layout, LayoutError, Schedule};

// Training.
pub use train::format::{format_3g, format_g};
pub use train::plot::{PLOT_SIZE_LOSS_ONLY, PLOT_SIZE_WITH_FIT};
pub use train::{
    check_run, run, train, Divergence, Epoch, Fit, History, Objective, Observer, Setup, Sgd,
    TrainError, TrainOptions, TrainResult, NEWTON_MAX_PARAMS,
};

// The subcommands of the `ddx` binary, as data it renders.
pub use commands::array_check::{check_array_model, ArrayCheckReport, ArrayParamCheck};
pub use commands::diff::{derivatives, parse_at, Derivative, Derivatives, DiffOptions, UsageError};
pub use commands::emit::{emit, Stage as EmitStage};
pub use commands::gradient_check::{
    check_gradient, check_model_gradient, GradientCheckError, GradientCheckReport,
    ParamGradientCheck, TOLERANCE,
};
pub use commands::init_file::read_init;
pub use commands::{
    array_check_report, array_check_verdict, diff_text, gradient_check_report,
    gradient_check_verdict, model_for, read_model, require_variables, train_file, DiffFormat,
    DiffRequest, Refusal,
};
