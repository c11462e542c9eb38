//! ddx: symbolic differentiation and Cranelift code generation.
//!
//! The pipeline: [`syntax`] (lexer, parser) -> [`check`] (names, lowering to
//! one [`graph::Graph`]) -> [`diff`] -> [`simplify`] -> [`schedule`] ->
//! [`print`] / [`eval`] / [`codegen`] -> [`train`].

pub mod check;
pub mod codegen;
pub mod commands;
pub mod diagnostic;
pub mod differentiate;
pub mod interpret;
pub mod fault;
pub mod graph;
pub mod pipeline;
pub mod print;
pub mod program;
pub mod schedule;
pub mod simplify;
pub mod syntax;
pub mod train;
