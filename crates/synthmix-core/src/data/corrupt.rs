//! MNIST-C shot noise (Mu & Gilmer 2019, `google-research/mnist-c`,
//! `corruptions.py`), reproduced in distribution with a seeded generator:
//!
//! ```python
//! c = [60, 25, 12, 5, 3][severity - 1]
//! x = np.clip(np.random.poisson(x / 255. * c) / float(c), 0, 1) * 255
//! ```
//! saved as `np.round(x).astype(np.uint8)`. The official noise used numpy's
//! unseeded global RNG, so only the distribution can be matched, not the bytes.

use rand::Rng as _;

use super::{ImageSet, Source};
use crate::artifact::meta::CorruptionRecord;
use crate::error::{Error, Result};
use crate::rng;

/// Poisson scale per severity 1..=5.
pub const SHOT_NOISE_C: [u32; 5] = [60, 25, 12, 5, 3];

/// Output pixel for a Poisson draw `k` at scale `c` (clip, scale, round half to even).
pub fn shot_noise_value(k: u32, c: u32) -> u8 {
    let v = (k.min(c) as f64 / c as f64) * 255.0;
    v.round_ties_even() as u8
}

/// Exact probabilities P(min(k, c) = j), j = 0..=c, for k ~ Poisson(c·x/255).
pub fn shot_noise_pmf(x: u8, c: u32) -> Vec<f64> {
    let lambda = c as f64 * x as f64 / 255.0;
    let mut p = Vec::with_capacity(c as usize + 1);
    let mut term = (-lambda).exp();
    let mut below = 0.0;
    for j in 0..c {
        p.push(term);
        below += term;
        term *= lambda / (j + 1) as f64;
    }
    p.push((1.0 - below).max(0.0));
    p
}

/// Applies shot noise of `severity` (1–5) to every pixel, from seed `seed`.
pub fn shot_noise(pixels: &[u8], severity: u8, seed: u64) -> Result<Vec<u8>> {
    if !(1..=5).contains(&severity) {
        return Err(Error::Invalid(format!("shot-noise severity {severity} is outside 1..=5")));
    }
    let c = SHOT_NOISE_C[severity as usize - 1];
    // Inverse-CDF tables per input value: exact, and one uniform draw per pixel.
    let cdfs: Vec<Vec<f64>> = (0..=255u8)
        .map(|x| {
            let mut acc = 0.0;
            shot_noise_pmf(x, c)
                .into_iter()
                .map(|p| {
                    acc += p;
                    acc
                })
                .collect()
        })
        .collect();
    let values: Vec<u8> = (0..=c).map(|k| shot_noise_value(k, c)).collect();
    let mut r = rng::stream(seed, "mnist-c/shot_noise");
    Ok(pixels
        .iter()
        .map(|&x| {
            if x == 0 {
                return 0; // Poisson(0) is always 0: background untouched, no draw needed.
            }
            let u: f64 = r.gen();
            let cdf = &cdfs[x as usize];
            let k = cdf.iter().position(|&f| u < f).unwrap_or(c as usize);
            values[k]
        })
        .collect())
}

/// The MNIST-C shot-noise version of a (MNIST) set.
pub fn shot_noise_set(base: &ImageSet, severity: u8, seed: u64) -> Result<ImageSet> {
    let mut set = base.clone();
    set.images = shot_noise(&base.images, severity, seed)?;
    set.meta.source = Source::Corrupted;
    set.meta.corruption = Some(CorruptionRecord {
        corruption: "shot_noise".into(),
        severity: Some(severity),
        seed,
        origin: "computed (MNIST-C algorithm, seeded)".into(),
    });
    Ok(set)
}
