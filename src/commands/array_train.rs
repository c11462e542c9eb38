//! `ddx train` on array models, until they compile: the loss and its
//! gradient evaluated by the reference interpreter
//! ([`crate::interpret::eval_arrays`]), the symbolic gradient the same as
//! `ddx check` uses ([`super::array_check::loss_and_gradient`]).
//!
//! The objective sees one flat vector of param values: the params in
//! declaration order, each param's elements row-major, as
//! [`crate::train::Setup`] lays them out. It has no Hessian, so Newton's
//! method refuses to run on it ([`crate::train::TrainError::NoHessian`]).

use crate::diagnostic::Diagnostic;
use crate::graph::{IdxId, NodeId};
use crate::interpret::eval_arrays;
use crate::program::Model;
use crate::train::Objective;

use super::array_check::{inputs, loss_and_gradient};

/// The loss and gradient of an array model, interpreted: slow (every node
/// an array, every row one at a time) but exact, and the same values,
/// element for element, as `ddx check` reports.
pub(crate) struct InterpretedObjective<'m> {
    model: &'m Model,
    loss: NodeId,
    /// Per param, its derivative and the indices naming its element.
    grads: Vec<(NodeId, Vec<IdxId>)>,
    /// Each param's values, split from the flat vector at every call.
    split: Vec<Vec<f64>>,
}

/// The simplified loss and gradient nodes of a model, added to its graph:
/// what an [`InterpretedObjective`] evaluates.
pub(crate) struct Interpreted {
    loss: NodeId,
    grads: Vec<(NodeId, Vec<IdxId>)>,
}

/// Differentiates and simplifies `model`'s loss (the graph gains the
/// derivative nodes), for [`InterpretedObjective::new`].
pub(crate) fn derive_interpreted(model: &mut Model) -> Interpreted {
    let (loss, grads) = loss_and_gradient(model);
    Interpreted { loss, grads }
}

impl<'m> InterpretedObjective<'m> {
    /// The objective of `model`, whose graph holds `derived`
    /// ([`derive_interpreted`]).
    pub(crate) fn new(model: &'m Model, derived: Interpreted) -> Self {
        InterpretedObjective {
            model,
            loss: derived.loss,
            grads: derived.grads,
            split: model
                .params
                .iter()
                .map(|p| vec![0.0; p.init.len()])
                .collect(),
        }
    }
}

impl Objective for InterpretedObjective<'_> {
    fn eval(&mut self, params: &[f64], grad: &mut [f64]) -> f64 {
        let mut at = 0;
        for values in &mut self.split {
            let n = values.len();
            match params.get(at..at + n) {
                Some(p) => values.copy_from_slice(p),
                None => values.fill(f64::NAN),
            }
            at += n;
        }
        let mut outputs: Vec<(NodeId, &[IdxId])> = vec![(self.loss, &[])];
        outputs.extend(self.grads.iter().map(|(n, i)| (*n, i.as_slice())));
        let values = eval_arrays(
            &self.model.graph,
            &outputs,
            &inputs(self.model, &self.split),
        );
        let mut at = 0;
        for v in &values[1..] {
            for (slot, x) in grad.iter_mut().skip(at).zip(v) {
                *slot = *x;
            }
            at += v.len();
        }
        values[0].first().copied().unwrap_or(f64::NAN)
    }

    /// Where the first non-finite value comes from: the `let` or `loss`,
    /// its element and the data row ([`crate::fault::locate`]).
    fn diagnose(&mut self, params: &[f64]) -> Option<Diagnostic> {
        crate::fault::locate(self.model, params).map(|f| f.diagnostic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Source;

    fn model(text: &str) -> Model {
        let src = Source::new("m.ddx", text);
        match crate::check::check(&src, None) {
            Ok(crate::program::Unit::Model(m)) => m,
            _ => panic!("not a model"),
        }
    }

    #[test]
    fn the_gradient_is_flat_in_declaration_order() {
        // C = mean((w0*x0 + w1*x1 + b - y)^2) over one row x = (1, 2), y = 0
        let mut m = model(
            "data x[2] = [[1, 2]]\ndata y = [0]\nparam w[2] = [1, 1]\nparam b = 0.5\n\
             loss C = mean((dot(w, x) + b - y)^2)\ntrain sgd(lr = 0.1, epochs = 1)\n",
        );
        let d = derive_interpreted(&mut m);
        let mut obj = InterpretedObjective::new(&m, d);
        let mut grad = [0.0; 3];
        // r = 1*1 + 1*2 + 0.5 = 3.5; C = r^2; dC/dw = 2r*x, dC/db = 2r
        let c = obj.eval(&[1.0, 1.0, 0.5], &mut grad);
        assert_eq!(c, 12.25);
        assert_eq!(grad, [7.0, 14.0, 7.0]);
        // at other params: not cached
        let c = obj.eval(&[0.0, 0.0, 0.0], &mut grad);
        assert_eq!(c, 0.0);
        assert_eq!(grad, [0.0, 0.0, 0.0]);
    }
}
