//! L2-regularised logistic regression, minimised with the L-BFGS solver of `argmin`.

use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

/// Most L-BFGS iterations.
const ITERATIONS_MAX: u64 = 500;
/// Gradient norm at which the solver stops.
const GRADIENT_TOLERANCE: f64 = 1e-7;
/// Change of the loss between iterations at which the solver stops. Not zero: at the optimum
/// the loss stops changing before the gradient vanishes, and the line search would then search
/// without end.
const COST_TOLERANCE: f64 = 1e-12;
/// L-BFGS memory (pairs of vectors kept).
const LBFGS_MEMORY: usize = 10;

/// Mean log-loss plus `l2 / 2 · Σ β²` (the intercept is not penalised). Parameters are
/// `[intercept, β₁, …, βₚ]`; `x` is row-major, `p` columns.
struct Problem<'a> {
    x: &'a [f64],
    y: &'a [bool],
    p: usize,
    l2: f64,
}

impl Problem<'_> {
    fn margin(&self, w: &[f64], i: usize) -> f64 {
        let row = &self.x[i * self.p..(i + 1) * self.p];
        w[0] + row.iter().zip(&w[1..]).map(|(a, b)| a * b).sum::<f64>()
    }
}

/// ln(1 + eᶻ) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, w: &Vec<f64>) -> Result<f64, Error> {
        let n = self.y.len() as f64;
        let loss: f64 = (0..self.y.len())
            .map(|i| {
                let z = self.margin(w, i);
                softplus(z) - if self.y[i] { z } else { 0.0 }
            })
            .sum();
        let reg: f64 = w[1..].iter().map(|b| b * b).sum();
        Ok(loss / n + 0.5 * self.l2 * reg)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, w: &Vec<f64>) -> Result<Vec<f64>, Error> {
        let n = self.y.len() as f64;
        let mut g = vec![0.0; w.len()];
        for i in 0..self.y.len() {
            let r = sigmoid(self.margin(w, i)) - if self.y[i] { 1.0 } else { 0.0 };
            g[0] += r;
            let row = &self.x[i * self.p..(i + 1) * self.p];
            for (gj, xj) in g[1..].iter_mut().zip(row) {
                *gj += r * xj;
            }
        }
        for (j, gj) in g.iter_mut().enumerate() {
            *gj /= n;
            if j > 0 {
                *gj += self.l2 * w[j];
            }
        }
        Ok(g)
    }
}

/// Fits `P(bad) = σ(β₀ + Σ βⱼ xⱼ)`; returns `[β₀, β₁, …]`. Deterministic for the same input.
pub fn fit(x: &[f64], y: &[bool], p: usize, l2: f64) -> Result<Vec<f64>, String> {
    let n = y.len();
    if n == 0 || x.len() != n * p {
        return Err("no rows to fit".into());
    }
    let bads = y.iter().filter(|&&b| b).count() as f64;
    let rate = (bads / n as f64).clamp(1e-6, 1.0 - 1e-6);
    let mut init = vec![0.0; p + 1];
    init[0] = (rate / (1.0 - rate)).ln();
    let problem = Problem { x, y, p, l2 };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(GRADIENT_TOLERANCE)
        .map_err(|e| e.to_string())?
        .with_tolerance_cost(COST_TOLERANCE)
        .map_err(|e| e.to_string())?;
    let res = Executor::new(problem, solver)
        .configure(|s| s.param(init).max_iters(ITERATIONS_MAX))
        .run()
        .map_err(|e| format!("the regression did not converge: {e}"))?;
    let w = res
        .state()
        .get_best_param()
        .cloned()
        .ok_or("the regression found no parameters")?;
    if w.iter().any(|v| !v.is_finite()) {
        return Err("the regression diverged (non-finite coefficients)".into());
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_sign_and_size_of_a_clear_effect() {
        // x = -1 → 20 % bad; x = +1 → 80 % bad: β = ln 4 ≈ 1.386, β₀ = 0.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..1000 {
            let xi = if i % 2 == 0 { -1.0 } else { 1.0 };
            let bad = if xi < 0.0 { i % 10 < 2 } else { i % 10 < 8 };
            x.push(xi);
            y.push(bad);
        }
        let w = fit(&x, &y, 1, 0.0).unwrap();
        assert!((w[1] - 4f64.ln()).abs() < 0.01, "{w:?}");
        assert!(w[0].abs() < 0.01, "{w:?}");
    }
}
