//! The training driver against the PyTorch reference trajectories, with a
//! hand-written objective for the seed model (closed-form MSE gradient), so
//! these tests do not depend on the front end or the JIT.

mod common;

use common::images::{png_size, svg_size};
use common::{close_relative, seed_data};
use std::fs;
use std::path::{Path, PathBuf};

use ddx::{format_g, train, Fit, Objective, Setup, TrainError, TrainOptions, TrainResult};
use ddx::{Optimizer, TrainSpec};

fn read(name: &str) -> String {
    common::cli::read(common::cli::data(name))
}

/// A scratch file path unique to one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("train-tests");
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A CSV of numbers: header and rows.
fn csv(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let t = common::table(text);
    (t.header, t.rows)
}

/// Sums the way PyTorch's vectorised CPU sum adds up eight float64 values:
/// four lanes `a[j] + a[j+4]`, then the lanes in order. Near the optimum the
/// gradient is a sum of cancelling terms, and a sequential sum differs from
/// PyTorch's by up to 1.5e-12 relative; this order reproduces it exactly.
fn torch_sum(a: &[f64]) -> f64 {
    assert_eq!(a.len(), 8, "the lane order is only known for eight rows");
    let lane = |j: usize| a[j] + a[j + 4];
    ((lane(0) + lane(1)) + lane(2)) + lane(3)
}

/// The seed model: yhat = m*x + b, C = mean((yhat - y)^2), params [m, b],
/// computed as PyTorch's autograd does: d = (m*x + b) - y, C = sum(d*d)/8,
/// dC/dm = sum(0.25*d*x), dC/db = sum(0.25*d).
struct Seed {
    x: Vec<f64>,
    y: Vec<f64>,
    evals: usize,
}

impl Seed {
    fn new() -> Self {
        let (x, y) = seed_data();
        Seed { x, y, evals: 0 }
    }
}

impl Objective for Seed {
    fn eval(&mut self, p: &[f64], grad: &mut [f64]) -> f64 {
        self.evals += 1;
        let n = self.x.len() as f64;
        let d: Vec<f64> = self
            .x
            .iter()
            .zip(&self.y)
            .map(|(&x, &y)| (p[0] * x + p[1]) - y)
            .collect();
        let upstream = 2.0 / n; // d/dd of sum(d^2)/n, exact for n = 8
        let sq: Vec<f64> = d.iter().map(|d| d * d).collect();
        let gm: Vec<f64> = d
            .iter()
            .zip(&self.x)
            .map(|(d, x)| upstream * d * x)
            .collect();
        let gb: Vec<f64> = d.iter().map(|d| upstream * d).collect();
        grad[0] = torch_sum(&gm);
        grad[1] = torch_sum(&gb);
        torch_sum(&sq) / n
    }

    fn eval_hessian(&mut self, p: &[f64], grad: &mut [f64], hess: &mut [f64]) -> Option<f64> {
        let n = self.x.len() as f64;
        let sxx: f64 = self.x.iter().map(|x| x * x).sum();
        let sx: f64 = self.x.iter().sum();
        hess.copy_from_slice(&[2.0 * sxx / n, 2.0 * sx / n, 2.0 * sx / n, 2.0]);
        Some(self.eval(p, grad))
    }
}

fn setup(optimizer: Optimizer, epochs: usize) -> Setup {
    Setup {
        names: vec!["m".to_string(), "b".to_string()],
        shapes: vec![vec![], vec![]],
        init: vec![0.9, 0.1],
        spec: TrainSpec {
            optimizer,
            epochs,
            span: 0..0,
        },
        loss_name: "C".to_string(),
    }
}

const SGD: Optimizer = Optimizer::Sgd {
    lr: 0.01,
    momentum: 0.0,
};

fn run(
    obj: &mut dyn Objective,
    setup: &Setup,
    options: &TrainOptions,
) -> (Result<TrainResult, TrainError>, String) {
    let mut out = Vec::new();
    let r = train(obj, setup, options, None, &mut out);
    (r, String::from_utf8(out).unwrap())
}

fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

/// Trains with a log and compares every row with a reference trajectory.
fn check_against_reference(optimizer: Optimizer, reference: &str, log_name: &str) -> TrainResult {
    let log = scratch(log_name);
    let options = TrainOptions {
        log: Some(log.clone()),
        ..quiet()
    };
    let (r, _) = run(&mut Seed::new(), &setup(optimizer, 1000), &options);
    let result = r.unwrap();
    let (header, ours) = csv(&fs::read_to_string(&log).unwrap());
    assert_eq!(
        header,
        ["epoch", "cost", "m_grad", "b_grad", "m_after", "b_after"]
    );
    let (_, want) = csv(&read(reference));
    assert_eq!(ours.len(), 1000);
    assert_eq!(want.len(), 1000);
    for (o, w) in ours.iter().zip(&want) {
        assert_eq!(o[0], w[0]);
        for k in 1..6 {
            assert!(
                close_relative(o[k], w[k], 1e-12),
                "epoch {} column {}: ours {:?}, PyTorch {:?}",
                w[0],
                header[k],
                o[k],
                w[k]
            );
        }
    }
    // With the objective computing exactly what PyTorch computes, the
    // optimizer's rounding (one fused multiply-add per SGD step, two
    // roundings for the momentum buffer) is visible: the logs agree bit for bit.
    assert_eq!(
        ours, want,
        "the trajectory is not bit-identical to PyTorch's"
    );
    result
}

#[test]
fn sgd_matches_the_pytorch_trajectory_at_every_epoch() {
    let result = check_against_reference(SGD, "seed_regression_f64.csv", "sgd.csv");
    let (_, want) = csv(&read("seed_regression_f64.csv"));
    assert_eq!(result.params, [want[999][4], want[999][5]]);
    assert_eq!(result.epochs, 1000);
}

#[test]
fn momentum_matches_the_pytorch_trajectory_at_every_epoch() {
    let opt = Optimizer::Sgd {
        lr: 0.01,
        momentum: 0.9,
    };
    let result = check_against_reference(opt, "seed_momentum_f64.csv", "momentum.csv");
    let summary: serde_json::Value = serde_json::from_str(&read("seed_momentum_f64.json")).unwrap();
    let fp = &summary["final_params"];
    assert!(close_relative(
        result.params[0],
        fp["m"].as_f64().unwrap(),
        1e-12
    ));
    assert!(close_relative(
        result.params[1],
        fp["b"].as_f64().unwrap(),
        1e-12
    ));
    let final_loss = summary["final_loss_at_final_params"].as_f64().unwrap();
    assert!(
        close_relative(result.cost, final_loss, 1e-12),
        "{} vs {final_loss}",
        result.cost
    );
}

#[test]
fn every_one_prints_exactly_the_notebook_lines_then_the_result() {
    let options = TrainOptions {
        every: Some(1),
        ..TrainOptions::default()
    };
    let (r, out) = run(&mut Seed::new(), &setup(SGD, 1000), &options);
    let result = r.unwrap();
    let want = read("seed_regression_f64_printed.txt");
    assert!(
        out.starts_with(&want),
        "the epoch lines differ from the notebook's"
    );
    let rest = &out[want.len()..];
    let (_, traj) = csv(&read("seed_regression_f64.csv"));
    assert_eq!(
        rest,
        format!(
            "Final params after 1000 epochs:\n  m = {:?}\n  b = {:?}\nFinal cost C = {:?}\n",
            traj[999][4], traj[999][5], result.cost
        )
    );
}

#[test]
fn default_output_prints_every_tenth_and_the_last_epoch() {
    let (r, out) = run(
        &mut Seed::new(),
        &setup(SGD, 1000),
        &TrainOptions::default(),
    );
    r.unwrap();
    let printed = read("seed_regression_f64_printed.txt");
    let lines: Vec<&str> = printed.lines().collect();
    let want: Vec<&str> = (0..1000)
        .filter(|e| e % 100 == 0 || *e == 999)
        .map(|e| lines[e])
        .collect();
    let got: Vec<&str> = out
        .lines()
        .take_while(|l| l.starts_with("Epoch "))
        .collect();
    assert_eq!(got, want);
    assert_eq!(out.lines().count(), want.len() + 4);
}

#[test]
fn every_n_and_epochs_override() {
    let options = TrainOptions {
        every: Some(3),
        epochs: Some(7),
        ..TrainOptions::default()
    };
    let mut seed = Seed::new();
    let (r, out) = run(&mut seed, &setup(SGD, 1000), &options);
    assert_eq!(r.unwrap().epochs, 7);
    let epochs: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Epoch "))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["0", "3", "6"]);
    // One evaluation per epoch plus the final cost.
    assert_eq!(seed.evals, 8);
}

#[test]
fn lr_override_replaces_the_train_line() {
    // lr 0.02 from the command line gives the trajectory of lr 0.02 in the file.
    let options = TrainOptions {
        lr: Some(0.02),
        ..quiet()
    };
    let (a, _) = run(&mut Seed::new(), &setup(SGD, 50), &options);
    let faster = Optimizer::Sgd {
        lr: 0.02,
        momentum: 0.0,
    };
    let (b, _) = run(&mut Seed::new(), &setup(faster, 50), &quiet());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.params, b.params);
    assert_eq!(a.optimizer, faster);
    let (c, _) = run(&mut Seed::new(), &setup(SGD, 50), &quiet());
    assert_ne!(c.unwrap().params, a.params);
}

#[test]
fn newton_reaches_the_least_squares_optimum_in_one_step() {
    let (r, _) = run(&mut Seed::new(), &setup(Optimizer::Newton, 1), &quiet());
    let result = r.unwrap();
    let lstsq: serde_json::Value = serde_json::from_str(&read("seed_lstsq.json")).unwrap();
    let m = lstsq["m_exact_float"].as_f64().unwrap();
    let b = lstsq["b_exact_float"].as_f64().unwrap();
    let cost = lstsq["cost_exact_float"].as_f64().unwrap();
    assert!(
        close_relative(result.params[0], m, 1e-12),
        "m = {:?}, want {m:?}",
        result.params[0]
    );
    assert!(
        close_relative(result.params[1], b, 1e-12),
        "b = {:?}, want {b:?}",
        result.params[1]
    );
    assert!(
        close_relative(result.cost, cost, 1e-12),
        "cost = {:?}, want {cost:?}",
        result.cost
    );
}

#[test]
fn newton_without_a_hessian_is_refused() {
    struct NoHessian(Seed);
    impl Objective for NoHessian {
        fn eval(&mut self, p: &[f64], g: &mut [f64]) -> f64 {
            self.0.eval(p, g)
        }
    }
    let (r, _) = run(
        &mut NoHessian(Seed::new()),
        &setup(Optimizer::Newton, 3),
        &quiet(),
    );
    let e = r.unwrap_err();
    assert!(matches!(e, TrainError::NoHessian));
    assert_eq!(e.exit_code(), 2);
}

/// C = (m + b - 1)^2: its Hessian [[2, 2], [2, 2]] is singular.
struct Ridge;

impl Objective for Ridge {
    fn eval(&mut self, p: &[f64], g: &mut [f64]) -> f64 {
        let d = p[0] + p[1] - 1.0;
        g[0] = 2.0 * d;
        g[1] = 2.0 * d;
        d * d
    }
    fn eval_hessian(&mut self, p: &[f64], g: &mut [f64], h: &mut [f64]) -> Option<f64> {
        h.copy_from_slice(&[2.0, 2.0, 2.0, 2.0]);
        Some(self.eval(p, g))
    }
}

#[test]
fn a_singular_hessian_is_a_clear_error() {
    let (r, out) = run(
        &mut Ridge,
        &setup(Optimizer::Newton, 5),
        &TrainOptions::default(),
    );
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "the Hessian is singular at epoch 0, so newton cannot take a step\nat params: m = 0.9, b = 0.1"
    );
    assert_eq!(out, "Epoch 0, cost 0, m grad 0, b grad 0\n");
}

/// Adam exactly as written in the reference README (PyTorch's documented
/// algorithm), independently of ddx's implementation.
fn adam_by_definition(
    obj: &mut dyn Objective,
    init: &[f64],
    (lr, b1, b2, eps): (f64, f64, f64, f64),
    epochs: usize,
) -> Vec<Vec<f64>> {
    let n = init.len();
    let (mut p, mut m, mut v) = (init.to_vec(), vec![0.0; n], vec![0.0; n]);
    let mut g = vec![0.0; n];
    let mut traj = Vec::new();
    for t in 1..=epochs {
        obj.eval(&p, &mut g);
        for i in 0..n {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let mhat = m[i] / (1.0 - b1.powi(t as i32));
            let denom = v[i].sqrt() / (1.0 - b2.powi(t as i32)).sqrt() + eps;
            p[i] -= lr * mhat / denom;
        }
        traj.push(p.clone());
    }
    traj
}

#[test]
fn adam_follows_its_definition() {
    for (lr, b1, b2, eps) in [
        (0.1, 0.9, 0.999, 1e-8),
        (0.05, 0.8, 0.99, 1e-6),
        (0.01, 0.0, 0.5, 0.0),
    ] {
        let opt = Optimizer::Adam {
            lr,
            beta1: b1,
            beta2: b2,
            eps,
        };
        let log = scratch(&format!("adam-{lr}-{b1}.csv"));
        let options = TrainOptions {
            log: Some(log.clone()),
            ..quiet()
        };
        let (r, _) = run(&mut Seed::new(), &setup(opt, 300), &options);
        r.unwrap();
        let (_, ours) = csv(&fs::read_to_string(&log).unwrap());
        let want = adam_by_definition(&mut Seed::new(), &[0.9, 0.1], (lr, b1, b2, eps), 300);
        for (epoch, (o, w)) in ours.iter().zip(&want).enumerate() {
            for k in 0..2 {
                // Params pass through zero: compare relative to their O(1) scale.
                assert!(
                    (o[4 + k] - w[k]).abs() <= 1e-12 * o[4 + k].abs().max(w[k].abs()).max(1.0),
                    "adam{:?} epoch {epoch} param {k}: {:?} vs {:?}",
                    (lr, b1, b2, eps),
                    o[4 + k],
                    w[k]
                );
            }
        }
    }
}

#[test]
fn adam_converges_on_the_seed_model() {
    let opt = Optimizer::Adam {
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let (r, _) = run(&mut Seed::new(), &setup(opt, 3000), &quiet());
    let result = r.unwrap();
    let lstsq: serde_json::Value = serde_json::from_str(&read("seed_lstsq.json")).unwrap();
    let m = lstsq["m_exact_float"].as_f64().unwrap();
    assert!((result.params[0] - m).abs() < 1e-6, "{:?}", result.params);
}

#[test]
fn quiet_prints_only_the_result() {
    let (r, out) = run(&mut Seed::new(), &setup(SGD, 10), &quiet());
    let result = r.unwrap();
    assert_eq!(
        out,
        format!(
            "Final params after 10 epochs:\n  m = {:?}\n  b = {:?}\nFinal cost C = {:?}\n",
            result.params[0], result.params[1], result.cost
        )
    );
}

#[test]
fn json_prints_one_object_and_nothing_else() {
    let options = TrainOptions {
        json: true,
        compile_seconds: 0.25,
        ..TrainOptions::default()
    };
    let (r, out) = run(&mut Seed::new(), &setup(SGD, 1000), &options);
    let result = r.unwrap();
    assert_eq!(out.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "compile_seconds",
            "cost",
            "epochs",
            "loop_epochs",
            "params",
            "train_seconds"
        ]
    );
    let (_, traj) = csv(&read("seed_regression_f64.csv"));
    assert_eq!(v["params"]["m"].as_f64().unwrap(), traj[999][4]);
    assert_eq!(v["params"]["b"].as_f64().unwrap(), traj[999][5]);
    assert_eq!(v["params"].as_object().unwrap().len(), 2);
    assert_eq!(v["cost"].as_f64().unwrap(), result.cost);
    assert_eq!(v["epochs"].as_u64().unwrap(), 1000);
    assert_eq!(v["compile_seconds"].as_f64().unwrap(), 0.25);
    let t = v["train_seconds"].as_f64().unwrap();
    assert!(t >= 0.0 && t == result.train_seconds);
    // Params appear in declaration order.
    assert!(out.find("\"m\"").unwrap() < out.find("\"b\"").unwrap());
}

#[test]
fn log_marks_a_diverging_epoch_with_empty_params() {
    let log = scratch("diverge.csv");
    let options = TrainOptions {
        log: Some(log.clone()),
        ..quiet()
    };
    let big = Optimizer::Sgd {
        lr: 1.0,
        momentum: 0.0,
    };
    let (r, _) = run(&mut Seed::new(), &setup(big, 10_000), &options);
    let Err(TrainError::Diverged(d)) = r else {
        panic!("expected divergence")
    };
    let text = fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with(&format!("{},", d.epoch)), "{last}");
    assert!(last.ends_with(",,"), "{last}");
    assert_eq!(text.lines().count(), d.epoch + 2);
}

/// Explains non-finite values, as the lead's kernel objective will.
struct Explained(Seed);

impl Objective for Explained {
    fn eval(&mut self, p: &[f64], g: &mut [f64]) -> f64 {
        self.0.eval(p, g)
    }
    fn diagnose(&mut self, p: &[f64]) -> Option<ddx::Diagnostic> {
        Some(ddx::Diagnostic::unlocated(format!(
            "yhat = m*x + b overflows at row 7 (m = {:?})",
            p[0]
        )))
    }
}

#[test]
fn divergence_names_the_epoch_and_the_last_finite_params() {
    let big = Optimizer::Sgd {
        lr: 1.0,
        momentum: 0.0,
    };
    let (r, out) = run(
        &mut Explained(Seed::new()),
        &setup(big, 10_000),
        &TrainOptions::default(),
    );
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let TrainError::Diverged(d) = &e else {
        panic!("expected divergence, got {e}")
    };
    assert!(d.params.iter().all(|p| p.is_finite()));
    let mut at = [0.0; 2];
    let cost = Seed::new().eval(&d.params, &mut at);
    assert!(!cost.is_finite() || at.iter().any(|g| !g.is_finite()));
    let msg = e.to_string();
    let first = msg.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("training diverged at epoch {}: the ", d.epoch)),
        "{msg}"
    );
    assert!(
        first.contains(" is inf") || first.contains("not finite"),
        "{msg}"
    );
    assert_eq!(
        msg.lines().nth(1).unwrap(),
        format!(
            "last finite params: m = {:?}, b = {:?}",
            d.params[0], d.params[1]
        )
    );
    // the explanation is kept beside the message, not in it
    assert_eq!(msg.lines().count(), 2, "{msg}");
    assert_eq!(
        d.detail.as_ref().unwrap().message,
        format!("yhat = m*x + b overflows at row 7 (m = {:?})", d.params[0])
    );
    // The diverging epoch's line is printed last.
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("Epoch {}, cost ", d.epoch)),
        "{last}"
    );
}

#[test]
fn a_step_to_infinity_is_divergence_at_that_epoch() {
    // A finite cost and gradient but a step that overflows.
    let huge = Optimizer::Sgd {
        lr: 1e308,
        momentum: 0.0,
    };
    let (r, _) = run(&mut Seed::new(), &setup(huge, 5), &quiet());
    let Err(TrainError::Diverged(d)) = r else {
        panic!("expected divergence")
    };
    assert_eq!(d.epoch, 0);
    assert_eq!(d.params, [0.9, 0.1]);
    assert_eq!(d.what, "the step made m -inf");
}

#[test]
fn bad_options_are_errors_with_status_2() {
    let cases: Vec<(Optimizer, TrainOptions, &str)> = vec![
        (
            SGD,
            TrainOptions {
                every: Some(0),
                ..quiet()
            },
            "--every must be at least 1",
        ),
        (
            Optimizer::Newton,
            TrainOptions {
                lr: Some(0.1),
                ..quiet()
            },
            "--lr does not apply to newton, which has no learning rate",
        ),
        (
            SGD,
            TrainOptions {
                lr: Some(-1.0),
                ..quiet()
            },
            "invalid learning rate -1: it must be a finite number >= 0",
        ),
        (
            SGD,
            TrainOptions {
                plot: Some(PathBuf::from("out.gif")),
                ..quiet()
            },
            "cannot plot to 'out.gif': the file name must end in .svg or .png",
        ),
    ];
    for (opt, options, want) in cases {
        let mut seed = Seed::new();
        let (r, out) = run(&mut seed, &setup(opt, 10), &options);
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), want);
        assert_eq!(e.exit_code(), 2);
        assert_eq!(out, "");
        assert_eq!(seed.evals, 0, "no training before the options are checked");
    }
    let missing = scratch("no/such/dir/log.csv");
    let options = TrainOptions {
        log: Some(missing.clone()),
        ..quiet()
    };
    let e = run(&mut Seed::new(), &setup(SGD, 10), &options)
        .0
        .unwrap_err();
    assert!(e
        .to_string()
        .starts_with(&format!("cannot write the log '{}': ", missing.display())));
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn newton_refuses_too_many_params_before_training() {
    let n = ddx::NEWTON_MAX_PARAMS + 1;
    let mut big = setup(Optimizer::Newton, 3);
    big.names = (0..n).map(|i| format!("w{i}")).collect();
    big.init = vec![0.0; n];
    let mut seed = Seed::new();
    let e = run(&mut seed, &big, &quiet()).0.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "newton supports at most {} params, and this model has {n}",
            n - 1
        )
    );
    assert_eq!(e.exit_code(), 2);
    assert_eq!(seed.evals, 0);
}

#[test]
fn zero_epochs_reports_the_initial_cost() {
    let (r, out) = run(&mut Seed::new(), &setup(SGD, 0), &TrainOptions::default());
    let result = r.unwrap();
    assert_eq!(result.params, [0.9, 0.1]);
    let (_, traj) = csv(&read("seed_regression_f64.csv"));
    assert_eq!(result.cost, traj[0][1]);
    assert!(out.starts_with("Final params after 0 epochs:\n"));
}

fn train_with_plot(path: &Path, with_fit: bool) -> TrainResult {
    let (x, y) = seed_data();
    let fit = with_fit.then(|| Fit {
        x_label: "dosage".to_string(),
        y_label: "forgetfulness".to_string(),
        x: &x,
        y: &y,
        predict: Box::new(|p: &[f64], x: f64| p[0] * x + p[1]),
    });
    let options = TrainOptions {
        plot: Some(path.to_path_buf()),
        ..quiet()
    };
    let mut out = Vec::new();
    train(&mut Seed::new(), &setup(SGD, 1000), &options, fit, &mut out).unwrap()
}

#[test]
fn svg_plot_is_a_valid_svg_of_the_expected_size() {
    let path = scratch("fit.svg");
    let _ = fs::remove_file(&path);
    train_with_plot(&path, true);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(svg_size(&text), ddx::PLOT_SIZE_WITH_FIT);
    // Both panels, with the column names on the axes and data points drawn.
    for needle in [
        "dosage",
        "forgetfulness",
        "epoch",
        "Loss",
        "<circle",
        "<polyline",
    ] {
        assert!(text.contains(needle), "no {needle} in the SVG");
    }
    assert_eq!(text.matches("<circle").count(), 8);
}

#[test]
fn png_plot_is_a_valid_png_of_the_expected_size() {
    let path = scratch("fit.png");
    let _ = fs::remove_file(&path);
    train_with_plot(&path, true);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(png_size(&bytes), ddx::PLOT_SIZE_WITH_FIT);

    let path = scratch("loss.png");
    let _ = fs::remove_file(&path);
    train_with_plot(&path, false);
    assert_eq!(
        png_size(&fs::read(&path).unwrap()),
        ddx::PLOT_SIZE_LOSS_ONLY
    );

    let path = scratch("loss.svg");
    let _ = fs::remove_file(&path);
    train_with_plot(&path, false);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(svg_size(&text), ddx::PLOT_SIZE_LOSS_ONLY);
    assert!(!text.contains("<circle"));
}

#[test]
fn format_g_agrees_with_an_independent_printf() {
    let text = read("printf_g_cases.txt");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.split(' ');
        let bits = u64::from_str_radix(f.next().unwrap(), 16).unwrap();
        let p: usize = f.next().unwrap().parse().unwrap();
        let want = f.next().unwrap();
        let x = f64::from_bits(bits);
        assert_eq!(format_g(x, p), want, "%.{p}g of {x:?}");
        n += 1;
    }
    assert!(n > 4000);
}

#[test]
fn epochs_beyond_the_cap_are_refused_by_the_library_too() {
    let too_many = ddx::MAX_EPOCHS as usize + 1;
    let options = TrainOptions {
        epochs: Some(too_many),
        ..quiet()
    };
    let mut seed = Seed::new();
    let e = run(&mut seed, &setup(SGD, 10), &options).0.unwrap_err();
    assert_eq!(e.to_string(), "ddx trains at most 1e9 epochs");
    assert_eq!(e.exit_code(), 2);
    let e = ddx::run(&mut seed, &setup(SGD, 10), SGD, too_many, &mut []).unwrap_err();
    assert_eq!(e.to_string(), "ddx trains at most 1e9 epochs");
    assert_eq!(seed.evals, 0);
}

/// Records the cost of every epoch it sees evaluated.
#[derive(Default)]
struct Costs(Vec<f64>);

impl ddx::Observer for Costs {
    fn evaluated(&mut self, e: &ddx::Epoch<'_>) -> Result<(), TrainError> {
        self.0.push(e.cost);
        Ok(())
    }
}

#[test]
fn the_driver_returns_the_history_of_costs() {
    let mut costs = Costs::default();
    let s = setup(SGD, 1000);
    let result = ddx::run(&mut Seed::new(), &s, SGD, 1000, &mut [&mut costs]).unwrap();
    let points = result.history.points();
    assert_eq!(points.len(), 1000);
    for (i, &(epoch, cost)) in points.iter().enumerate() {
        assert_eq!(epoch, i as f64);
        assert_eq!(cost.to_bits(), costs.0[i].to_bits());
    }
    // train returns the same history
    let (r, _) = run(&mut Seed::new(), &s, &quiet());
    assert_eq!(r.unwrap().history, result.history);
}
