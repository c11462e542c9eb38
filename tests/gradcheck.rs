//! `ddx check`: gradient against central finite differences.

mod common;

use common::outputs::model_outputs;
use ddx::{check_gradient, check_model_gradient, TOLERANCE};
use ddx::{model_columns, model_layout};

#[test]
fn seed_model_gradient_agrees() {
    let mut model = common::seed_model();
    let report = check_model_gradient(&mut model).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.params.len(), 2);
    assert_eq!(report.rows, 8);
    for p in &report.params {
        assert!(p.error <= TOLERANCE, "{report}");
    }
    let text = report.to_string();
    assert!(text.starts_with("loss C = 19.675475"), "{text}");
    assert!(text.contains("tolerance: error <= 1e-6"), "{text}");
    assert!(
        text.ends_with("ok: all 2 gradient components agree\n"),
        "{text}"
    );
}

#[test]
fn a_wrong_gradient_is_reported() {
    let mut model = common::seed_model();
    let outputs = model_outputs(&mut model);
    // The derivatives of m and b swapped: both must disagree.
    let swapped = [outputs[0], outputs[2], outputs[1]];
    let names = ["m".to_string(), "b".to_string()];
    let report = check_gradient(
        &model.graph,
        "C",
        &swapped,
        &model_layout(&model),
        &names,
        &[0.9, 0.1],
        &model_columns(&model),
    )
    .unwrap();
    assert!(!report.passed());
    assert!(report.params.iter().all(|p| !p.ok), "{report}");
    let text = report.to_string();
    assert!(text.contains("DISAGREES"), "{text}");
    assert!(
        text.ends_with("FAILED: 2 of 2 gradient components disagree\n"),
        "{text}"
    );
}
