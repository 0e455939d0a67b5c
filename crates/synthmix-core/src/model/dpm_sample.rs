//! Sampling a diffusion generator: DDIM or DDPM over a U-Net, with
//! classifier-free guidance, in batches.
//!
//! Every image has its own noise stream, seeded from the caller's stream in
//! label order (one draw per image), so an image's initial noise and its
//! DDPM noise do not depend on the batch size; the per-image updates run on
//! the host in f64 (model/diffusion.rs).

use candle_core::{Device, Tensor};
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::diffusion::{self, Sampler, Schedule};
use super::gan::{label_tensor, normal_draws, to_pixels};
use super::unet::Unet;
use crate::error::Result;
use crate::rng::Rng;

/// How to sample (`synth-sample --sampler/--steps/--guidance`, and
/// `dpm-train`'s grids and FID).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleOptions {
    pub sampler: Sampler,
    /// Reverse steps, 1 to T.
    pub steps: usize,
    /// Classifier-free guidance weight w: ε = (1 + w)·ε(y) − w·ε(∅); 0 = the conditional model.
    pub guidance: f64,
    /// Scale of the initial noise x_T ~ N(0, σ²I) (`--latent-scale`).
    pub sigma: f64,
}

impl SampleOptions {
    /// Refuses steps outside 1..=T, a negative or non-finite guidance, a non-positive σ.
    pub fn check(&self) -> Result<()> {
        diffusion::check_steps(self.steps)?;
        diffusion::check_guidance(self.guidance)?;
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return Err(crate::Error::Invalid(format!("--latent-scale {} must be a positive number", self.sigma)));
        }
        Ok(())
    }
}

/// ε̂ for `x` at timesteps `ts` and `labels`, guided with weight `w` (the
/// conditional and the null-class predictions in one doubled batch; with
/// w = 0 only the conditional one is computed). Flat `[N·C·H·W]`.
pub fn guided_eps(net: &Unet, x: &Tensor, ts: &[usize], labels: &[u8], w: f64) -> Result<Vec<f32>> {
    let dev = x.device();
    if w == 0.0 {
        return Ok(net.forward(x, ts, &label_tensor(labels, dev)?)?.flatten_all()?.to_vec1::<f32>()?);
    }
    let null = net.config.num_classes as u8;
    let x2 = Tensor::cat(&[x, x], 0)?;
    let ts2: Vec<usize> = ts.iter().chain(ts).copied().collect();
    let y2: Vec<u8> = labels.iter().copied().chain(std::iter::repeat_n(null, labels.len())).collect();
    let e = net.forward(&x2, &ts2, &label_tensor(&y2, dev)?)?.flatten_all()?.to_vec1::<f32>()?;
    let half = e.len() / 2;
    Ok(diffusion::guide(&e[..half], &e[half..], w))
}

/// Images for `labels` (0–255 pixels, `[N, C, H, W]`), `batch` at a time.
pub fn generate(
    net: &Unet,
    labels: &[u8],
    rng: &mut Rng,
    batch: usize,
    opts: &SampleOptions,
    device: &Device,
) -> Result<Vec<u8>> {
    opts.check()?;
    let sched = Schedule::new(net.config.schedule);
    let ts = Schedule::timesteps(opts.steps)?;
    let shape = net.config.image;
    let p = shape.pixels();
    let mut out = Vec::with_capacity(labels.len().saturating_mul(p));
    for chunk in labels.chunks(batch.max(1)) {
        let n = chunk.len();
        let mut rngs: Vec<Rng> = chunk.iter().map(|_| Rng::seed_from_u64(rng.next_u64())).collect();
        let mut x: Vec<f32> = Vec::with_capacity(n * p);
        for r in &mut rngs {
            x.extend(normal_draws(r, p).into_iter().map(|v| (v as f64 * opts.sigma) as f32));
        }
        for (i, &t) in ts.iter().enumerate() {
            let prev = ts.get(i + 1).copied();
            let xt = Tensor::from_slice(&x, (n, shape.c, shape.h, shape.w), device)?;
            let eps = guided_eps(net, &xt, &vec![t; n], chunk, opts.guidance)?;
            let (ab, ab_prev) = (sched.ab(Some(t)), sched.ab(prev));
            for (j, (xi, ei)) in x.chunks_mut(p).zip(eps.chunks(p)).enumerate() {
                match opts.sampler {
                    Sampler::Ddim => diffusion::ddim_step(xi, ei, ab, ab_prev),
                    Sampler::Ddpm => {
                        let z = prev.map(|_| normal_draws(&mut rngs[j], p));
                        diffusion::ddpm_step(xi, ei, ab, ab_prev, z.as_deref());
                    }
                }
            }
        }
        out.extend(to_pixels(&Tensor::from_vec(x, n * p, &Device::Cpu)?)?);
    }
    Ok(out)
}
