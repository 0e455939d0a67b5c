//! GroupNorm, optionally followed by SiLU, as one op: the U-Net's
//! `SiLU(GN(x))` before every convolution of its residual blocks.
//!
//! candle-nn's GroupNorm is a chain of about ten tensor ops (reshape, sum,
//! divide, subtract, square, sum, divide, add, sqrt, divide, multiply, add),
//! each a full pass over the activations with its own allocation, and each
//! costing autograd another zeros + add pass in the backward; SiLU adds three
//! more. A U-Net training step spent more time in them than in its
//! convolutions. Here the forward is one pass per (image, group) and the
//! backward another, recomputing the group's statistics from `x`:
//!
//! - forward: `x̂ = (x − μ) / √(σ² + ε)`, `z = γ·x̂ + β`, `y = z` or `z·σ(z)`;
//! - backward: `dz = dy` or `dy·σ(z)·(1 + z·(1 − σ(z)))`, `dγ = Σ dz·x̂`,
//!   `dβ = Σ dz`, `dx = (γ·dz − mean(γ·dz) − x̂·mean(γ·dz·x̂)) / √(σ² + ε)`,
//!   the means over the group.
//!
//! Sums run in f64 in a fixed order, and `dγ`, `dβ` add the images' partial
//! sums in image order: the bytes do not depend on the thread count.

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::cpu_slice;

/// The ε under the square root (PyTorch's and candle's default).
pub const GROUP_NORM_EPS: f64 = 1e-5;

/// `GN(x)` (with `silu`: `SiLU(GN(x))`) over `groups` groups of dimension 1 of
/// `x` `[N, C, …]`, with per-channel scale `weight` and shift `bias` `[C]`.
pub fn group_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, groups: usize, silu: bool) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 3 {
        bail!("group_norm: need at least [N, C, positions], got {dims:?}");
    }
    let c = dims[1];
    if groups == 0 || c % groups != 0 {
        bail!("group_norm: {groups} groups do not divide {c} channels");
    }
    if weight.dims() != [c] || bias.dims() != [c] {
        bail!("group_norm: weight {:?} and bias {:?} must both be [{c}]", weight.dims(), bias.dims());
    }
    let fused = x.device().is_cpu() && [x, weight, bias].iter().all(|t| t.dtype() == DType::F32);
    if !fused || x.elem_count() == 0 {
        return composite(x, weight, bias, groups, silu);
    }
    let op = GroupNorm { groups, silu };
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}

/// The same function as candle ops (other devices and dtypes; the tests'
/// reference).
fn composite(x: &Tensor, weight: &Tensor, bias: &Tensor, groups: usize, silu: bool) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let g = x.reshape((dims[0], groups, ()))?;
    let mean = g.mean_keepdim(D::Minus1)?;
    let centred = g.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + GROUP_NORM_EPS)?.sqrt()?)?.reshape(&dims[..])?;
    let mut per_channel = vec![1usize; dims.len()];
    per_channel[1] = dims[1];
    let z =
        normed.broadcast_mul(&weight.reshape(&per_channel[..])?)?.broadcast_add(&bias.reshape(&per_channel[..])?)?;
    if silu {
        z.silu()
    } else {
        Ok(z)
    }
}

struct GroupNorm {
    groups: usize,
    silu: bool,
}

/// Sizes of one (image, group) block of a contiguous `[N, C, …]` layout:
/// (images, channels per group, positions per channel).
fn block_dims(l: &Layout, groups: usize) -> (usize, usize, usize) {
    let d = l.shape().dims();
    (d[0], d[1] / groups, d[2..].iter().product())
}

/// Mean and 1/√(σ² + ε) of one block.
fn moments(x: &[f32]) -> (f64, f64) {
    let m = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / m;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / m;
    (mean, 1.0 / (var + GROUP_NORM_EPS).sqrt())
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl CustomOp3 for GroupNorm {
    fn name(&self) -> &'static str {
        "group-norm"
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
        let x = cpu_slice(s1, l1, "group_norm: input")?;
        let (w, b) = (cpu_slice(s2, l2, "group_norm: weight")?, cpu_slice(s3, l3, "group_norm: bias")?);
        let (_, cg, p) = block_dims(l1, self.groups);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(cg * p).zip(x.par_chunks(cg * p)).enumerate().for_each(|(block, (yb, xb))| {
            let (mean, rstd) = moments(xb);
            let c0 = (block % self.groups) * cg;
            for (j, (yr, xr)) in yb.chunks_exact_mut(p).zip(xb.chunks_exact(p)).enumerate() {
                let scale = (rstd * w[c0 + j] as f64) as f32;
                let shift = b[c0 + j] - (mean * rstd * w[c0 + j] as f64) as f32;
                for (y, &x) in yr.iter_mut().zip(xr) {
                    let z = x * scale + shift;
                    *y = if self.silu { z * sigmoid(z) } else { z };
                }
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = weight.elem_count();
        let wb = Tensor::cat(&[weight, bias], 0)?;
        let back = GroupNormBackward { groups: self.groups, silu: self.silu };
        let packed = x.apply_op3_no_bwd(&grad.contiguous()?, &wb, &back)?;
        let n = x.elem_count();
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        Ok((Some(dx), Some(packed.narrow(0, n, c)?), Some(packed.narrow(0, n + c, c)?)))
    }
}

/// (x, dy, [γ; β]) → [dx; dγ; dβ], one flat tensor (a custom op has one output).
struct GroupNormBackward {
    groups: usize,
    silu: bool,
}

/// One (image, group) block's inputs: `x`, `dy`, and its channels' γ, β.
struct Block<'a> {
    x: &'a [f32],
    g: &'a [f32],
    w: &'a [f32],
    b: &'a [f32],
}

/// One block's backward: writes `dx` and adds its channels' `dγ`, `dβ` into
/// `dw`, `db` (this image's partial sums); `p` positions per channel.
fn block_backward(blk: Block, silu: bool, p: usize, dx: &mut [f32], dw: &mut [f64], db: &mut [f64]) {
    let Block { x, g, w, b } = blk;
    let (mean, rstd) = moments(x);
    // dz · γ into dx first (scratch), with the group's two sums.
    let (mut sum_d, mut sum_dxhat) = (0f64, 0f64);
    for (j, ((dr, xr), gr)) in dx.chunks_exact_mut(p).zip(x.chunks_exact(p)).zip(g.chunks_exact(p)).enumerate() {
        let (mut dwj, mut dbj) = (0f64, 0f64);
        for ((d, &xv), &gv) in dr.iter_mut().zip(xr).zip(gr) {
            let xhat = ((xv as f64 - mean) * rstd) as f32;
            let dz = if silu {
                let z = w[j] * xhat + b[j];
                let s = sigmoid(z);
                gv * s * (1.0 + z * (1.0 - s))
            } else {
                gv
            };
            dwj += (dz * xhat) as f64;
            dbj += dz as f64;
            *d = dz * w[j];
            sum_d += *d as f64;
            sum_dxhat += (*d * xhat) as f64;
        }
        dw[j] += dwj;
        db[j] += dbj;
    }
    let m = x.len() as f64;
    let (mean_d, mean_dxhat) = (sum_d / m, sum_dxhat / m);
    for (d, &xv) in dx.iter_mut().zip(x) {
        let xhat = (xv as f64 - mean) * rstd;
        *d = ((*d as f64 - mean_d - xhat * mean_dxhat) * rstd) as f32;
    }
}

impl CustomOp3 for GroupNormBackward {
    fn name(&self) -> &'static str {
        "group-norm-backward"
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
        let x = cpu_slice(s1, l1, "group_norm backward: input")?;
        let g = cpu_slice(s2, l2, "group_norm backward: gradient")?;
        let wb = cpu_slice(s3, l3, "group_norm backward: weight and bias")?;
        let (n, cg, p) = block_dims(l1, self.groups);
        let c = cg * self.groups;
        if g.len() != x.len() || wb.len() != 2 * c {
            bail!(
                "group_norm backward: {} gradients, {} parameters for {} inputs of {c} channels",
                g.len(),
                wb.len(),
                x.len()
            );
        }
        let (w, b) = wb.split_at(c);
        let per_image = c * p;
        let mut dx = vec![0f32; x.len()];
        // Per image: dx, and that image's partial dγ, dβ (added in image order below).
        let partials: Vec<(Vec<f64>, Vec<f64>)> = dx
            .par_chunks_mut(per_image)
            .zip(x.par_chunks(per_image).zip(g.par_chunks(per_image)))
            .map(|(dxi, (xi, gi))| {
                let (mut dw, mut db) = (vec![0f64; c], vec![0f64; c]);
                for k in 0..self.groups {
                    let (r, ch) = (k * cg * p..(k + 1) * cg * p, k * cg..(k + 1) * cg);
                    let blk = Block { x: &xi[r.clone()], g: &gi[r.clone()], w: &w[ch.clone()], b: &b[ch.clone()] };
                    block_backward(blk, self.silu, p, &mut dxi[r], &mut dw[ch.clone()], &mut db[ch]);
                }
                (dw, db)
            })
            .collect();
        debug_assert_eq!(partials.len(), n);
        let (mut dw, mut db) = (vec![0f64; c], vec![0f64; c]);
        for (pw, pb) in &partials {
            dw.iter_mut().zip(pw).for_each(|(a, v)| *a += v);
            db.iter_mut().zip(pb).for_each(|(a, v)| *a += v);
        }
        let mut out = dx;
        out.extend(dw.iter().chain(&db).map(|&v| v as f32));
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::Rng;

    /// Forward and the gradients of x, γ and β against the composite candle
    /// ops, with and without SiLU, on shapes with one channel per group,
    /// one group, odd positions, and a large offset (the variance of values
    /// far from zero, where a one-pass formula would cancel).
    #[test]
    fn matches_candle_ops() {
        let dev = Device::Cpu;
        let mut r = crate::rng::stream(4, "group-norm-test");
        let cases = [
            (vec![2usize, 4, 3, 3], 2, 0.0),
            (vec![3, 8, 5, 7], 8, 0.0),
            (vec![2, 6, 4, 4], 1, 0.0),
            (vec![2, 32, 7, 7], 8, 50.0),
            (vec![1, 4, 10], 2, 0.0),
        ];
        for (dims, groups, offset) in cases {
            for silu in [false, true] {
                let n: usize = dims.iter().product();
                let c = dims[1];
                let mut vals = |k: usize, lo: f32, hi: f32| (0..k).map(|_| r.gen_range(lo..hi)).collect::<Vec<f32>>();
                let x =
                    Var::from_vec(vals(n, -2.0, 2.0).iter().map(|v| v + offset).collect(), &dims[..], &dev).unwrap();
                let w = Var::from_vec(vals(c, 0.5, 1.5), c, &dev).unwrap();
                let b = Var::from_vec(vals(c, -0.5, 0.5), c, &dev).unwrap();
                let up = Tensor::from_vec(vals(n, -1.0, 1.0), &dims[..], &dev).unwrap();
                let ours = group_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), groups, silu).unwrap();
                let theirs = composite(x.as_tensor(), w.as_tensor(), b.as_tensor(), groups, silu).unwrap();
                let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let close = |a: &[f32], b: &[f32], tol: f32, what: &str| {
                    let s = b.iter().fold(1f32, |m, v| m.max(v.abs()));
                    for (i, (p, q)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (p - q).abs() <= tol * s,
                            "{dims:?} groups {groups} silu {silu} {what}[{i}]: {p} vs {q}"
                        );
                    }
                };
                close(&v(&ours), &v(&theirs), 1e-5, "forward");
                let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
                let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
                for (var, what) in [(&x, "dx"), (&w, "dweight"), (&b, "dbias")] {
                    close(&v(g1.get(var).unwrap()), &v(g2.get(var).unwrap()), 2e-4, what);
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 6, 3, 3), DType::F32, &dev).unwrap();
        let w = Tensor::ones(6, DType::F32, &dev).unwrap();
        for (groups, want) in [(4, "do not divide"), (0, "do not divide")] {
            let e = group_norm(&x, &w, &w, groups, true).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let e = group_norm(&x, &w.narrow(0, 0, 3).unwrap(), &w, 3, true).unwrap_err().to_string();
        assert!(e.contains("must both be [6]"), "{e}");
        let flat = Tensor::zeros((2, 6), DType::F32, &dev).unwrap();
        assert!(group_norm(&flat, &w, &w, 3, true).is_err());
    }

    /// The bytes of the forward and every gradient are the same on 1 and 2 threads.
    #[test]
    fn the_same_bytes_on_any_thread_count() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let dev = Device::Cpu;
                let mut r = crate::rng::stream(9, "group-norm-threads");
                let n = 4 * 16 * 6 * 6;
                let x =
                    Var::from_vec((0..n).map(|_| r.gen_range(-2.0f32..2.0)).collect(), (4, 16, 6, 6), &dev).unwrap();
                let w = Var::from_vec((0..16).map(|_| r.gen_range(0.5f32..1.5)).collect(), 16, &dev).unwrap();
                let b = Var::from_vec((0..16).map(|_| r.gen_range(-0.5f32..0.5)).collect(), 16, &dev).unwrap();
                let y = group_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 4, true).unwrap();
                let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                [v(&y), v(g.get(&x).unwrap()), v(g.get(&w).unwrap()), v(g.get(&b).unwrap())]
            })
        };
        assert_eq!(run(1), run(2));
    }
}
