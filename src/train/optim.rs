//! Optimizers with PyTorch's float64 semantics (torch.optim.SGD, torch.optim.Adam
//! on CPU, single-tensor path) and a Newton step with an exact Hessian.
//!
//! Each update is written in the order PyTorch evaluates it, so trajectories
//! agree with PyTorch's to rounding: `param.add_(g, alpha=-lr)` is one fused
//! multiply-add, `exp_avg.lerp_(g, 1 - beta1)` is `m + w*(g - m)` fused, and so on
//! (ATen's CPU kernels are compiled with floating-point contraction).

use std::fmt;

use crate::program::Optimizer;

/// Why an optimizer's settings are rejected (PyTorch rejects the same values).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InvalidSetting(pub String);

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an optimizer's settings with PyTorch's rules: `lr >= 0`,
/// `momentum >= 0`, `eps >= 0`, `0 <= beta < 1`, all finite.
pub(crate) fn validate(opt: &Optimizer) -> Result<(), InvalidSetting> {
    let check = |name: &str, v: f64, ok: bool, rule: &str| {
        if v.is_finite() && ok {
            Ok(())
        } else {
            Err(InvalidSetting(format!(
                "invalid {name} {v}: it must be {rule}"
            )))
        }
    };
    match *opt {
        Optimizer::Sgd { lr, momentum } => {
            check("learning rate", lr, lr >= 0.0, "a finite number >= 0")?;
            check(
                "momentum",
                momentum,
                momentum >= 0.0,
                "a finite number >= 0",
            )
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => {
            check("learning rate", lr, lr >= 0.0, "a finite number >= 0")?;
            check("beta1", beta1, (0.0..1.0).contains(&beta1), "in [0, 1)")?;
            check("beta2", beta2, (0.0..1.0).contains(&beta2), "in [0, 1)")?;
            check("eps", eps, eps >= 0.0, "a finite number >= 0")
        }
        Optimizer::Newton => Ok(()),
    }
}

/// SGD with optional momentum (dampening 0, no Nesterov), as torch.optim.SGD.
#[derive(Clone, Debug)]
pub struct Sgd {
    lr: f64,
    momentum: f64,
    /// Momentum buffer; empty until the first step.
    buf: Vec<f64>,
}

impl Sgd {
    /// A fresh optimizer (no momentum buffer yet).
    pub fn new(lr: f64, momentum: f64) -> Self {
        Sgd {
            lr,
            momentum,
            buf: Vec::new(),
        }
    }

    /// The learning rate, the momentum and the momentum buffer, for a
    /// compiled loop taking the same steps; `None` with momentum before the
    /// first step (its buffer starts as that step's gradient).
    pub fn state(&mut self) -> Option<(f64, f64, &mut [f64])> {
        if self.momentum != 0.0 && self.buf.is_empty() {
            return None;
        }
        Some((self.lr, self.momentum, &mut self.buf))
    }

    /// One step: `p = p - lr*g` as one fused multiply-add; with momentum,
    /// `buf = g` on the first step, then `buf = momentum*buf + g`, and
    /// `p = p - lr*buf`.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        debug_assert_eq!(params.len(), grad.len());
        if self.momentum == 0.0 {
            for (p, &g) in params.iter_mut().zip(grad) {
                *p = (-self.lr).mul_add(g, *p);
            }
            return;
        }
        if self.buf.is_empty() {
            self.buf.extend_from_slice(grad);
        } else {
            for (b, &g) in self.buf.iter_mut().zip(grad) {
                // buf.mul_(momentum).add_(grad, alpha=1): two roundings.
                *b = *b * self.momentum + g;
            }
        }
        for (p, &b) in params.iter_mut().zip(&self.buf) {
            *p = (-self.lr).mul_add(b, *p);
        }
    }
}

/// Adam (no weight decay, no amsgrad), as torch.optim.Adam.
#[derive(Clone, Debug)]
pub(crate) struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Step count t (1 on the first step).
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    /// A fresh optimizer with zero moments for `n` params.
    pub(crate) fn new(n: usize, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step, t = 1, 2, ...:
    /// `m = b1*m + (1-b1)*g` (computed as `lerp(m, g, 1-b1)`),
    /// `v = b2*v + (1-b2)*g^2`,
    /// `p = p - (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`.
    pub(crate) fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        debug_assert_eq!(params.len(), grad.len());
        self.t += 1;
        // Python evaluates `beta ** step` with C's pow on floats.
        let t = self.t as f64;
        let bias_correction1 = 1.0 - self.beta1.powf(t);
        let bias_correction2 = 1.0 - self.beta2.powf(t);
        let step_size = self.lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.sqrt();
        let weight = 1.0 - self.beta1;
        let value = 1.0 - self.beta2;
        for i in 0..params.len() {
            let g = grad[i];
            self.m[i] = lerp(self.m[i], g, weight);
            // exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1-beta2)
            let v = self.v[i] * self.beta2;
            self.v[i] = (value * g).mul_add(g, v);
            let denom = self.v[i].sqrt() / bias_correction2_sqrt + self.eps;
            // param.addcdiv_(exp_avg, denom, value=-step_size) computes
            // p + value*m/denom, left to right.
            params[i] += -step_size * self.m[i] / denom;
        }
    }
}

/// torch.lerp(start, end, weight) on CPU: `start + weight*(end - start)` for
/// weights below 0.5, else `end - (end - start)*(1 - weight)`.
fn lerp(start: f64, end: f64, weight: f64) -> f64 {
    let diff = end - start;
    if weight.abs() < 0.5 {
        weight.mul_add(diff, start)
    } else {
        (-diff).mul_add(1.0 - weight, end)
    }
}

/// Why a Newton step could not be taken.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NewtonError {
    /// The Hessian has a NaN or infinite entry.
    NonFinite,
    /// The Hessian is singular to working precision (a pivot of zero or
    /// below `n * eps * max|H|`).
    Singular,
}

/// Newton's method: each step solves `H d = g` and sets `p = p - d`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Newton {
    lu: Vec<f64>,
    d: Vec<f64>,
}

impl Newton {
    /// A Newton stepper with no scratch space yet.
    pub(crate) fn new() -> Self {
        Newton::default()
    }

    /// One step with the row-major `n x n` Hessian `hess`. On error the
    /// params are left unchanged.
    pub(crate) fn step(
        &mut self,
        params: &mut [f64],
        grad: &[f64],
        hess: &[f64],
    ) -> Result<(), NewtonError> {
        let n = params.len();
        debug_assert_eq!(grad.len(), n);
        debug_assert_eq!(hess.len(), n * n);
        self.lu.clear();
        self.lu.extend_from_slice(hess);
        self.d.clear();
        self.d.extend_from_slice(grad);
        solve_in_place(n, &mut self.lu, &mut self.d)?;
        if self.d.iter().any(|d| !d.is_finite()) {
            return Err(NewtonError::NonFinite);
        }
        for (p, d) in params.iter_mut().zip(&self.d) {
            *p -= d;
        }
        Ok(())
    }
}

/// Solves `a x = b` for `x` (written into `b`) by LU decomposition with
/// partial pivoting; `a` (row-major `n x n`) is overwritten.
pub(crate) fn solve_in_place(n: usize, a: &mut [f64], b: &mut [f64]) -> Result<(), NewtonError> {
    if a.iter().chain(b.iter()).any(|v| !v.is_finite()) {
        return Err(NewtonError::NonFinite);
    }
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tiny = scale * (n as f64) * f64::EPSILON;
    for k in 0..n {
        // Partial pivoting: the largest entry of column k at or below row k.
        let mut piv = k;
        for r in k + 1..n {
            if a[r * n + k].abs() > a[piv * n + k].abs() {
                piv = r;
            }
        }
        let pivot = a[piv * n + k];
        if pivot == 0.0 || pivot.abs() <= tiny {
            return Err(NewtonError::Singular);
        }
        if piv != k {
            for c in 0..n {
                a.swap(k * n + c, piv * n + c);
            }
            b.swap(k, piv);
        }
        for r in k + 1..n {
            let f = a[r * n + k] / pivot;
            if f != 0.0 {
                for c in k + 1..n {
                    a[r * n + c] -= f * a[k * n + c];
                }
                b[r] -= f * b[k];
            }
            a[r * n + k] = 0.0;
        }
    }
    for k in (0..n).rev() {
        let mut s = b[k];
        for c in k + 1..n {
            s -= a[k * n + c] * b[c];
        }
        b[k] = s / a[k * n + k];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_is_one_fused_multiply_add() {
        // The seed's first step for b: p - lr*g rounded once differs from the
        // two-rounding form here.
        let (p0, lr, g) = (0.1f64, 0.01f64, 6.265000000000001f64);
        let mut p = [p0];
        Sgd::new(lr, 0.0).step(&mut p, &[g]);
        assert_eq!(p[0].to_bits(), (-lr).mul_add(g, p0).to_bits());
        assert_ne!(p[0].to_bits(), (p0 - lr * g).to_bits());
    }

    #[test]
    fn momentum_buffer_starts_at_the_gradient() {
        let mut opt = Sgd::new(0.5, 0.9);
        let mut p = [1.0];
        opt.step(&mut p, &[2.0]);
        assert_eq!(p[0], 0.0); // 1 - 0.5*2
        opt.step(&mut p, &[1.0]);
        // buf = 0.9*2 + 1 = 2.8, p = 0 - 0.5*2.8
        assert!((p[0] + 1.4).abs() < 1e-15);
    }

    #[test]
    fn lerp_matches_its_definition() {
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 0.75), 2.5);
        assert_eq!(lerp(2.0, 2.0, 0.1), 2.0);
    }

    #[test]
    fn lu_solves_with_pivoting() {
        // Needs a row swap: the (0,0) entry is zero.
        let mut a = vec![0.0, 2.0, 1.0, 3.0, 1.0, 0.0, 1.0, 1.0, 1.0];
        let x = [1.0, -2.0, 3.0];
        let mut b = vec![2.0 * x[1] + x[2], 3.0 * x[0] + x[1], x[0] + x[1] + x[2]];
        solve_in_place(3, &mut a, &mut b).unwrap();
        for i in 0..3 {
            assert!((b[i] - x[i]).abs() < 1e-14, "{b:?}");
        }
    }

    #[test]
    fn singular_and_non_finite_matrices_are_errors() {
        let mut a = vec![1.0, 2.0, 2.0, 4.0];
        let mut b = vec![1.0, 1.0];
        assert_eq!(
            solve_in_place(2, &mut a, &mut b),
            Err(NewtonError::Singular)
        );
        let mut a = vec![0.0; 4];
        assert_eq!(
            solve_in_place(2, &mut a, &mut [1.0, 1.0]),
            Err(NewtonError::Singular)
        );
        let mut a = vec![1.0, f64::NAN, 0.0, 1.0];
        assert_eq!(
            solve_in_place(2, &mut a, &mut [1.0, 1.0]),
            Err(NewtonError::NonFinite)
        );
        let mut p = [1.0, 2.0];
        let e = Newton::new().step(&mut p, &[1.0, 1.0], &[1.0, 1.0, 1.0, 1.0]);
        assert_eq!(e, Err(NewtonError::Singular));
        assert_eq!(p, [1.0, 2.0]);
    }

    #[test]
    fn validation_follows_pytorch() {
        assert!(validate(&Optimizer::Sgd {
            lr: 0.01,
            momentum: 0.0
        })
        .is_ok());
        assert!(validate(&Optimizer::Sgd {
            lr: -0.01,
            momentum: 0.0
        })
        .is_err());
        assert!(validate(&Optimizer::Sgd {
            lr: f64::NAN,
            momentum: 0.0
        })
        .is_err());
        let adam = |beta1, beta2, eps| Optimizer::Adam {
            lr: 0.001,
            beta1,
            beta2,
            eps,
        };
        assert!(validate(&adam(0.9, 0.999, 1e-8)).is_ok());
        assert!(validate(&adam(1.0, 0.999, 1e-8)).is_err());
        assert!(validate(&adam(0.9, -0.1, 1e-8)).is_err());
        let e = validate(&adam(0.9, 0.999, -1.0)).unwrap_err();
        assert_eq!(e.0, "invalid eps -1: it must be a finite number >= 0");
    }
}
