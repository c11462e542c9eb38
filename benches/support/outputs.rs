//! A model's loss and raw gradient, for the benches, examples and tests
//! that compile unsimplified graphs (`ddx::compile_model` is what `ddx`
//! runs). They include this file with `#[path]`.

use ddx::{gradient, Model, NodeId, SymId};

/// The loss of a model followed by its gradient with respect to every
/// param (in declaration order), by reverse mode, not simplified.
pub(crate) fn model_outputs(model: &mut Model) -> Vec<NodeId> {
    let params: Vec<SymId> = model.params.iter().map(|p| p.sym).collect();
    let grad = gradient(&mut model.graph, model.loss.node, &params);
    std::iter::once(model.loss.node).chain(grad).collect()
}
