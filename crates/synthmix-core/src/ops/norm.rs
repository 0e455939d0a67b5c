//! ProGAN's pixel norm as one op: every position's channel vector of an NCHW
//! tensor scaled to unit RMS, `y = x / sqrt(mean_c(x²) + ε)`.
//!
//! As candle ops it is five (square, mean, add, sqrt, divide), and every one
//! of them also costs autograd a zeros + add pass of its input's size in the
//! backward; the DCGAN's generator applies it three times to its largest
//! activations. Here the forward is one pass and the backward another,
//! `dx = (g - y · mean_c(g · y)) / rms`, with `rms` recomputed from `x`.
//! Per-position sums run over channels in order: deterministic.

use candle_core::{bail, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_slice;

/// The ε under the square root.
pub const PIXEL_NORM_EPS: f32 = 1e-8;

/// Pixel norm over dimension 1 of `x` `[N, C, H, W]` (or `[N, C]`).
pub fn pixel_norm(x: &Tensor) -> Result<Tensor> {
    if x.rank() < 2 {
        bail!("pixel_norm: need at least [N, C], got {:?}", x.dims());
    }
    if !(x.device().is_cpu() && x.dtype() == DType::F32) || x.elem_count() == 0 {
        let rms = (x.sqr()?.mean_keepdim(1)? + PIXEL_NORM_EPS as f64)?.sqrt()?;
        return x.broadcast_div(&rms);
    }
    x.contiguous()?.apply_op1(PixelNorm)
}

/// `[N, C, positions]` of a contiguous layout.
fn dims(l: &Layout) -> (usize, usize, usize) {
    let d = l.shape().dims();
    (d[0], d[1], d[2..].iter().product())
}

/// `rms[n, p] = sqrt(mean_c x[n, c, p]² + ε)` for one image `[C, P]`.
fn rms(x: &[f32], c: usize, p: usize) -> Vec<f32> {
    let mut acc = vec![0f32; p];
    for row in x.chunks_exact(p) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v * v;
        }
    }
    let inv_c = 1.0 / c as f32;
    acc.iter_mut().for_each(|a| *a = (*a * inv_c + PIXEL_NORM_EPS).sqrt());
    acc
}

struct PixelNorm;

impl CustomOp1 for PixelNorm {
    fn name(&self) -> &'static str {
        "pixel-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s, l, "pixel_norm: input")?;
        let (_, c, p) = dims(l);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(c * p).zip(x.par_chunks(c * p)).for_each(|(yi, xi)| {
            let r = rms(xi, c, p);
            for (yr, xr) in yi.chunks_exact_mut(p).zip(xi.chunks_exact(p)) {
                for ((y, &x), &r) in yr.iter_mut().zip(xr).zip(&r) {
                    *y = x / r;
                }
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op3_no_bwd(res, &grad.contiguous()?, &PixelNormBackward)?))
    }
}

/// (x, y, g) → dx.
struct PixelNormBackward;

impl candle_core::CustomOp3 for PixelNormBackward {
    fn name(&self) -> &'static str {
        "pixel-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s1, l1, "pixel_norm: input")?;
        let y = cpu_slice(s2, l2, "pixel_norm: output")?;
        let g = cpu_slice(s3, l3, "pixel_norm: gradient")?;
        let (_, c, p) = dims(l1);
        if y.len() != x.len() || g.len() != x.len() {
            bail!("pixel_norm backward: {} outputs and {} gradients for {} inputs", y.len(), g.len(), x.len());
        }
        let mut dx = vec![0f32; x.len()];
        let inv_c = 1.0 / c as f32;
        dx.par_chunks_mut(c * p).zip(x.par_chunks(c * p)).zip(y.par_chunks(c * p).zip(g.par_chunks(c * p))).for_each(
            |((dxi, xi), (yi, gi))| {
                let r = rms(xi, c, p);
                // m[p] = mean_c g·y
                let mut m = vec![0f32; p];
                for (yr, gr) in yi.chunks_exact(p).zip(gi.chunks_exact(p)) {
                    for ((m, &y), &g) in m.iter_mut().zip(yr).zip(gr) {
                        *m += g * y;
                    }
                }
                m.iter_mut().for_each(|v| *v *= inv_c);
                for ((dr, yr), gr) in dxi.chunks_exact_mut(p).zip(yi.chunks_exact(p)).zip(gi.chunks_exact(p)) {
                    for ((((d, &y), &g), &m), &r) in dr.iter_mut().zip(yr).zip(gr).zip(&m).zip(&r) {
                        *d = (g - y * m) / r;
                    }
                }
            },
        );
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::Rng;

    /// Forward and gradient against the five candle ops, on 2-D and 4-D
    /// shapes, including a channel count of 1 and inputs near zero.
    #[test]
    fn matches_candle_ops() {
        let dev = Device::Cpu;
        let mut r = crate::rng::stream(3, "pixel-norm-test");
        for dims in [vec![3usize, 5], vec![2, 1, 4, 4], vec![4, 32, 8, 8], vec![2, 128, 3, 5]] {
            let n: usize = dims.iter().product();
            let scale = if dims.len() == 2 { 1e-3 } else { 1.0 };
            let x =
                Var::from_vec((0..n).map(|_| r.gen_range(-2.0f32..2.0) * scale).collect(), &dims[..], &dev).unwrap();
            let up = Tensor::from_vec((0..n).map(|_| r.gen_range(-1.0f32..1.0)).collect(), &dims[..], &dev).unwrap();
            let ours = pixel_norm(x.as_tensor()).unwrap();
            let t = x.as_tensor();
            let rms = (t.sqr().unwrap().mean_keepdim(1).unwrap() + PIXEL_NORM_EPS as f64).unwrap().sqrt().unwrap();
            let theirs = t.broadcast_div(&rms).unwrap();
            let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            // Relative to the size of the terms summed: the gradient is a
            // difference of terms of size |g| / rms that can cancel (C = 1).
            let close = |a: &[f32], b: &[f32], terms: f32, what: &str| {
                let s = b.iter().fold(terms, |m, v| m.max(v.abs()));
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!((p - q).abs() <= 1e-5 * s, "{dims:?} {what}[{i}]: {p} vs {q}");
                }
            };
            close(&v(&ours), &v(&theirs), 0.0, "forward");
            let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let terms = v(&up.abs().unwrap().broadcast_div(&rms).unwrap()).into_iter().fold(0f32, f32::max);
            close(&v(g1.get(&x).unwrap()), &v(g2.get(&x).unwrap()), terms, "gradient");
        }
    }
}
