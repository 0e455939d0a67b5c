//! MNIST-C's two noises. Shot noise, reproduced in distribution with a
//! seeded generator:
//!
//! ```python
//! c = [60, 25, 12, 5, 3][severity - 1]
//! x = np.clip(np.random.poisson(x / 255. * c) / float(c), 0, 1) * 255
//! ```
//! saved as `np.round(x).astype(np.uint8)`. The official noise used numpy's
//! unseeded global RNG, so only the distribution can be matched, not the bytes.

use rand::Rng as _;

use super::PIXELS;
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

/// Salt-and-pepper amount per severity 1..=5.
const IMPULSE_AMOUNT: [f64; 5] = [0.03, 0.06, 0.09, 0.17, 0.27];

/// `sk.util.random_noise(x, mode='s&p', amount=c)`: each pixel is flipped
/// with probability c (`rng.random() <= c`), to white or black with equal
/// odds (`rng.random() <= 0.5`); the rest keep their value exactly.
pub(super) fn impulse_noise(x: &[u8], s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    let amount = IMPULSE_AMOUNT[s - 1];
    let mut out = [0u8; PIXELS];
    for (o, &v) in out.iter_mut().zip(x) {
        let flipped = r.gen::<f64>() <= amount;
        let salted = r.gen::<f64>() <= 0.5;
        *o = match (flipped, salted) {
            (false, _) => v,
            (true, true) => 255,
            (true, false) => 0,
        };
    }
    out
}
