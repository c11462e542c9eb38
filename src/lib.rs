//! ddx: symbolic differentiation and Cranelift code generation.
//!
//! The pipeline: [`syntax`] (lexer, parser) -> [`check`] (names, lowering to
//! one [`graph::Graph`]) -> [`diff`] -> [`simplify`] -> [`schedule`] ->
//! [`print`] / [`eval`] / [`codegen`] -> [`train`].

pub mod diagnostic;
pub mod diff;
pub mod graph;
pub mod print;
pub mod program;
pub mod simplify;
pub mod train;
