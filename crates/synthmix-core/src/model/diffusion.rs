//! Diffusion maths for the class-conditional DPM (`dpm-train`): the noise
//! schedule, the forward process used in training, and the DDIM (η = 0) and
//! DDPM reverse updates used in sampling, with ε-prediction throughout.
//!
//! Timesteps are indices `0..T` (improved-diffusion's convention): `ᾱ[t]` is
//! the signal fraction after step `t`, so `x_t = √ᾱ[t] x₀ + √(1−ᾱ[t]) ε`.
//! Schedules are computed in f64 and the updates run on host `f32` slices
//! per image, so every image's trajectory depends only on its own values
//! and its own noise stream: sampling is deterministic for any batch size
//! or thread count.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Diffusion steps of training (Ho et al.; Nichol & Dhariwal).
pub const T: usize = 1000;

/// The β schedule (`--schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Nichol & Dhariwal 2021: ᾱ(t) = cos²(((t/T + s)/(1 + s))·π/2), s = 0.008,
    /// β clipped at 0.999.
    #[default]
    Cosine,
    /// Ho et al. 2020: β linear from 1e-4 to 0.02.
    Linear,
}

/// The reverse process (`--sampler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// Deterministic DDIM (η = 0): the only noise is the initial x_T.
    #[default]
    Ddim,
    /// Ancestral DDPM with the posterior variance β̃ (fresh noise every step).
    Ddpm,
}

impl Sampler {
    /// Steps when `--steps` is not given.
    pub fn default_steps(&self) -> usize {
        match self {
            Sampler::Ddim => 50,
            Sampler::Ddpm => T,
        }
    }
}

/// `ᾱ[t]` for `t` in `0..T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub alpha_bar: Vec<f64>,
}

impl Schedule {
    pub fn new(kind: ScheduleKind) -> Schedule {
        let betas: Vec<f64> = match kind {
            ScheduleKind::Linear => (0..T).map(|i| 1e-4 + (0.02 - 1e-4) * i as f64 / (T - 1) as f64).collect(),
            ScheduleKind::Cosine => {
                let f = |t: f64| (((t / T as f64) + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
                (0..T).map(|i| (1.0 - f((i + 1) as f64) / f(i as f64)).min(0.999)).collect()
            }
        };
        let mut acc = 1.0;
        let alpha_bar = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Schedule { alpha_bar }
    }

    /// The `steps` timesteps a sampler visits, from high noise to low:
    /// `⌊i·T/steps⌋` for `i = steps−1 … 0` (evenly spaced, ending at 0).
    pub fn timesteps(steps: usize) -> Result<Vec<usize>> {
        check_steps(steps)?;
        Ok((0..steps).rev().map(|i| i * T / steps).collect())
    }

    /// `ᾱ` of timestep `t`, or 1 (no noise) for `None` (after the last step).
    pub fn ab(&self, t: Option<usize>) -> f64 {
        t.map_or(1.0, |t| self.alpha_bar[t])
    }
}

/// A step count is 1 to [`T`].
pub fn check_steps(steps: usize) -> Result<()> {
    if steps == 0 || steps > T {
        return Err(Error::Invalid(format!("--steps {steps} is out of range: must be 1 to {T} (the training steps)")));
    }
    Ok(())
}

/// A guidance weight is finite and at least 0.
pub fn check_guidance(w: f64) -> Result<()> {
    if !(w.is_finite() && w >= 0.0) {
        return Err(Error::Invalid(format!("--guidance {w} must be a finite number at least 0")));
    }
    Ok(())
}

/// x₀ predicted from `x_t` and ε̂, clipped to the data range [-1, 1].
fn predict_x0(x: f32, eps: f32, ab: f64) -> f64 {
    ((x as f64 - (1.0 - ab).sqrt() * eps as f64) / ab.sqrt()).clamp(-1.0, 1.0)
}

/// One DDIM (η = 0) update of an image, in place: from `x_t` (ᾱ = `ab`) and
/// ε̂ (`eps`) to `x_prev` (ᾱ = `ab_prev`). x₀ is predicted and clipped to
/// [-1, 1], ε re-derived from it, and `x_prev = √ᾱ' x̂₀ + √(1−ᾱ') ε̂'`.
pub fn ddim_step(x: &mut [f32], eps: &[f32], ab: f64, ab_prev: f64) {
    for (x, &e) in x.iter_mut().zip(eps) {
        let x0 = predict_x0(*x, e, ab);
        let e2 = (*x as f64 - ab.sqrt() * x0) / (1.0 - ab).sqrt();
        *x = (ab_prev.sqrt() * x0 + (1.0 - ab_prev).sqrt() * e2) as f32;
    }
}

/// One ancestral DDPM update, in place, between timesteps with ᾱ `ab` and
/// `ab_prev` (consecutive or respaced: β = 1 − ᾱ/ᾱ'): the posterior mean
/// `c₀ x̂₀ + c_t x_t` plus √β̃ times `noise` (absent at the last step).
pub fn ddpm_step(x: &mut [f32], eps: &[f32], ab: f64, ab_prev: f64, noise: Option<&[f32]>) {
    let beta = 1.0 - ab / ab_prev;
    let c0 = beta * ab_prev.sqrt() / (1.0 - ab);
    let ct = (1.0 - ab_prev) * (1.0 - beta).sqrt() / (1.0 - ab);
    let sd = (beta * (1.0 - ab_prev) / (1.0 - ab)).sqrt();
    for (i, (x, &e)) in x.iter_mut().zip(eps).enumerate() {
        let x0 = predict_x0(*x, e, ab);
        let z = noise.map_or(0.0, |n| n[i] as f64);
        *x = (c0 * x0 + ct * *x as f64 + sd * z) as f32;
    }
}

/// Classifier-free guidance: `(1 + w)·ε_cond − w·ε_uncond`, element by element.
pub fn guide(cond: &[f32], uncond: &[f32], w: f64) -> Vec<f32> {
    cond.iter().zip(uncond).map(|(&c, &u)| ((1.0 + w) * c as f64 - w * u as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_closed_forms() {
        let cos = Schedule::new(ScheduleKind::Cosine);
        let f = |t: f64| (((t / 1000.0) + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        // Before the 0.999 clip bites, ᾱ[t] = f(t + 1) / f(0) exactly.
        for t in [0usize, 1, 10, 500, 900] {
            assert!((cos.alpha_bar[t] - f(t as f64 + 1.0) / f(0.0)).abs() < 1e-12, "cosine t={t}");
        }
        assert!(cos.alpha_bar[T - 1] < 1e-4 && cos.alpha_bar.windows(2).all(|w| w[1] < w[0]));
        let lin = Schedule::new(ScheduleKind::Linear);
        assert!((lin.alpha_bar[0] - (1.0 - 1e-4)).abs() < 1e-15);
        assert!((lin.alpha_bar[1] - (1.0 - 1e-4) * (1.0 - (1e-4 + 0.0199 / 999.0))).abs() < 1e-15);
        // Ho et al.: ᾱ_T ≈ 4.04e-5 for the linear schedule.
        assert!((lin.alpha_bar[T - 1] - 4.04e-5).abs() < 1e-6, "{}", lin.alpha_bar[T - 1]);
    }

    #[test]
    fn timesteps_are_evenly_spaced_and_checked() {
        assert_eq!(Schedule::timesteps(4).unwrap(), vec![750, 500, 250, 0]);
        assert_eq!(Schedule::timesteps(T).unwrap().len(), T);
        for bad in [0, T + 1] {
            let e = Schedule::timesteps(bad).unwrap_err().to_string();
            assert!(e.contains("--steps") && !e.contains('\n'), "{e}");
        }
        assert!(check_guidance(f64::NAN).is_err() && check_guidance(-1.0).is_err() && check_guidance(0.0).is_ok());
    }

    #[test]
    fn ddim_step_matches_the_closed_form() {
        let (ab, ab_prev) = (0.3f64, 0.7f64);
        let (x, e) = (0.2f32, 0.1f32);
        let x0 = (0.2 - (0.7f64).sqrt() * 0.1) / 0.3f64.sqrt();
        assert!(x0.abs() < 1.0, "no clipping in this case");
        let want = ab_prev.sqrt() * x0 + (1.0 - ab_prev).sqrt() * 0.1;
        let mut v = [x];
        ddim_step(&mut v, &[e], ab, ab_prev);
        assert!((v[0] as f64 - want).abs() < 1e-6, "{} vs {want}", v[0]);
        // The last step (ᾱ' = 1) lands on x̂₀; a noise-free x_t is a fixed point.
        let mut v = [x];
        ddim_step(&mut v, &[e], ab, 1.0);
        assert!((v[0] as f64 - x0).abs() < 1e-6);
        let (x0, eps) = (0.5f64, 0.3f64);
        let mut v = [(ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps) as f32];
        ddim_step(&mut v, &[eps as f32], ab, ab_prev);
        assert!((v[0] as f64 - (ab_prev.sqrt() * x0 + (1.0 - ab_prev).sqrt() * eps)).abs() < 1e-6);
    }

    #[test]
    fn ddpm_step_matches_the_posterior() {
        let s = Schedule::new(ScheduleKind::Linear);
        let t = 500;
        let (ab, ab_prev) = (s.alpha_bar[t], s.alpha_bar[t - 1]);
        let beta = 1e-4 + 0.0199 * t as f64 / 999.0;
        let (x, e, z) = (0.1f32, 0.05f32, 0.7f32);
        let x0 = (0.1 - (1.0 - ab).sqrt() * 0.05) / ab.sqrt();
        let mean = beta * ab_prev.sqrt() / (1.0 - ab) * x0 + (1.0 - ab_prev) * (1.0 - beta).sqrt() / (1.0 - ab) * 0.1;
        let var = beta * (1.0 - ab_prev) / (1.0 - ab);
        let mut v = [x];
        ddpm_step(&mut v, &[e], ab, ab_prev, Some(&[z]));
        assert!((v[0] as f64 - (mean + var.sqrt() * 0.7)).abs() < 1e-6, "{} vs {}", v[0], mean + var.sqrt() * 0.7);
    }

    #[test]
    fn guidance_zero_is_the_conditional_prediction() {
        let (c, u) = ([0.25f32, -1.5, 3.0], [1.0f32, 2.0, -0.5]);
        assert_eq!(guide(&c, &u, 0.0), c.to_vec());
        assert_eq!(guide(&c, &u, 1.0), vec![-0.5, -5.0, 6.5]);
    }
}
