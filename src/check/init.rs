//! Seeded random initial values of array params: `normal(mean, sd)` and
//! `uniform(lo, hi)`, each with an optional `seed = N` (default 0).
//!
//! The generator is PCG64 (`Lcg128Xsl64` of the `rand_pcg` crate, PCG XSL
//! RR 128/64) seeded with `SeedableRng::seed_from_u64(seed)` of
//! `rand_core` 0.10. A draw `u` in `[0, 1)` is `(next_u64() >> 11) * 2^-53`.
//! `uniform(lo, hi)` is `lo + (hi - lo) * u`, one draw per element.
//! `normal(mean, sd)` is Box-Muller on two draws `u1, u2`:
//! `r = sqrt(-2 ln(1 - u1))`, giving `mean + sd * r * cos(2 pi u2)` and then
//! `mean + sd * r * sin(2 pi u2)` for the next element. Elements are filled
//! row-major, so the same file always starts from the same values.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// A draw in `[0, 1)` with 53 random bits.
fn unit(rng: &mut Pcg64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `n` values of `uniform(lo, hi)` from generator seed `seed`.
pub(crate) fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    (0..n).map(|_| lo + (hi - lo) * unit(&mut rng)).collect()
}

/// `n` values of `normal(mean, sd)` from generator seed `seed`.
pub(crate) fn normal(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (u1, u2) = (unit(&mut rng), unit(&mut rng));
        let r = (-2.0 * (1.0 - u1).ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        out.push(mean + sd * r * t.cos());
        if out.len() < n {
            out.push(mean + sd * r * t.sin());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_values_and_another_seed_others() {
        assert_eq!(normal(5, 0.0, 1.0, 7), normal(5, 0.0, 1.0, 7));
        assert_ne!(normal(5, 0.0, 1.0, 7), normal(5, 0.0, 1.0, 8));
        let u = uniform(1000, -0.1, 0.1, 0);
        assert!(u.iter().all(|v| (-0.1..0.1).contains(v)));
    }

    #[test]
    fn normal_values_have_the_asked_moments() {
        let v = normal(20_000, 2.0, 0.5, 3);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((mean - 2.0).abs() < 0.02, "{mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "{var}");
    }
}
