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
//! Vectorised ([`vmath`]): sums run in f64 in eight lanes fixed in the
//! source, the sigmoid uses a polynomial `exp` (no libm call), and each
//! block kernel is compiled for the x86-64 baseline and for AVX2 with the
//! same bits. `dγ`, `dβ` add the images' partial sums in image order: the
//! bytes do not depend on the thread count or the CPU's vector width.

use std::mem::MaybeUninit;

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::{cpu_slice, vmath};

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

/// Mean and 1/√(σ² + ε) of one block: two passes, each an f64 sum in the
/// fixed lane order of [`vmath::lane_sum`]. f64 because a group holds up to
/// a few thousand values and the variance of values far from zero cancels;
/// lanes so the sums vectorise (f32 → f64 conversions, 4 or 8 at a time),
/// with one answer on every vector width and thread count.
#[inline(always)]
fn moments(x: &[f32]) -> (f64, f64) {
    let m = x.len() as f64;
    let mean = vmath::lane_sum(x, |v| v as f64) / m;
    let var = vmath::lane_sum(x, |v| (v as f64 - mean) * (v as f64 - mean)) / m;
    (mean, 1.0 / (var + GROUP_NORM_EPS).sqrt())
}

/// `z = x·scale + shift` for a channel with γ = `w`, β = `b` of a block with
/// these moments (in f64, rounded once to f32).
#[inline(always)]
fn affine((mean, rstd): (f64, f64), w: f32, b: f32) -> (f32, f32) {
    let scale = rstd * w as f64;
    (scale as f32, (b as f64 - mean * scale) as f32)
}

/// One (image, group) block's forward: `y = z` or `z·σ(z)`, channel by
/// channel (`w`, `b`: the group's γ, β), every element of `y` written.
#[inline(always)]
fn forward_block(x: &[f32], w: &[f32], b: &[f32], silu: bool, y: &mut [MaybeUninit<f32>]) {
    let p = x.len() / w.len();
    let mom = moments(x);
    for (j, (yr, xr)) in y.chunks_exact_mut(p).zip(x.chunks_exact(p)).enumerate() {
        let (scale, shift) = affine(mom, w[j], b[j]);
        if silu {
            for (o, &v) in yr.iter_mut().zip(xr) {
                let z = v * scale + shift;
                o.write(z / (1.0 + vmath::exp(-z)));
            }
        } else {
            for (o, &v) in yr.iter_mut().zip(xr) {
                o.write(v * scale + shift);
            }
        }
    }
}

vmath::dispatch_avx2!(
    fn forward_block_any / forward_block_avx2(x: &[f32], w: &[f32], b: &[f32], silu: bool, y: &mut [MaybeUninit<f32>]) = forward_block
);

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
        let fill = |y: &mut [MaybeUninit<f32>]| {
            y.par_chunks_mut(cg * p).zip(x.par_chunks(cg * p)).enumerate().for_each(|(block, (yb, xb))| {
                let ch = (block % self.groups) * cg..(block % self.groups + 1) * cg;
                forward_block_any(xb, &w[ch.clone()], &b[ch], self.silu, yb);
            })
        };
        // SAFETY: the blocks tile y and forward_block writes all of each.
        let y = unsafe { vmath::written_by(x.len(), fill) };
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

/// `dz` of one channel into `d` (`zs`: the forward's z = x·scale + shift):
/// `dy`, or `dy·σ(z)·(1 + z·(1 − σ(z)))` after a SiLU. A plain loop over
/// the channel, so it vectorises at full width.
#[inline(always)]
fn channel_dz<const SILU: bool>(x: &[f32], g: &[f32], zs: (f32, f32), d: &mut [MaybeUninit<f32>]) {
    for (o, (&v, &gv)) in d.iter_mut().zip(x.iter().zip(g)) {
        if SILU {
            let z = v * zs.0 + zs.1;
            let s = vmath::sigmoid(z);
            o.write(gv * s * (1.0 + z * (1.0 - s)));
        } else {
            o.write(gv);
        }
    }
}

/// One (image, group) block's backward: writes all of `dx` and adds its
/// channels' `dγ`, `dβ` into `dw`, `db` (this image's partial sums).
///
/// Per channel `j`: `dz` into `dx` (scratch), then `dγⱼ = Σ dz·x̂`,
/// `dβⱼ = Σ dz` (f64, fixed lanes). Then `dx = (γ·dz − mean(γ·dz) −
/// x̂·mean(γ·dz·x̂))·rstd`, the two group means from the channels' sums
/// (Σ γ·dz = Σⱼ γⱼ·dβⱼ, Σ γ·dz·x̂ = Σⱼ γⱼ·dγⱼ). x̂ = x·a + b in f32.
#[inline(always)]
fn backward_block<const SILU: bool>(
    (x, g, w, b): (&[f32], &[f32], &[f32], &[f32]),
    dx: &mut [MaybeUninit<f32>],
    dw: &mut [f64],
    db: &mut [f64],
) {
    let p = x.len() / w.len();
    let mom = moments(x);
    let ab = affine(mom, 1.0, 0.0);
    for (j, d) in dx.chunks_exact_mut(p).enumerate() {
        let r = j * p..(j + 1) * p;
        channel_dz::<SILU>(&x[r.clone()], &g[r], affine(mom, w[j], b[j]), d);
    }
    // SAFETY: channel_dz wrote every element of every channel.
    let dx = unsafe { vmath::assume_written(dx) };
    let (mut sum_d, mut sum_dxhat) = (0f64, 0f64);
    for (j, (d, xr)) in dx.chunks_exact(p).zip(x.chunks_exact(p)).enumerate() {
        let (swj, sbj) = vmath::lane_sum2(xr, d, |v, dz| ((dz * (v * ab.0 + ab.1)) as f64, dz as f64));
        dw[j] += swj;
        db[j] += sbj;
        sum_d += w[j] as f64 * sbj;
        sum_dxhat += w[j] as f64 * swj;
    }
    let (m, rstd) = (x.len() as f64, mom.1);
    let (k_xhat, k0) = ((-sum_dxhat / m * rstd) as f32, (-sum_d / m * rstd) as f32);
    for (j, (d, xr)) in dx.chunks_exact_mut(p).zip(x.chunks_exact(p)).enumerate() {
        let k_dz = (w[j] as f64 * rstd) as f32;
        for (o, &v) in d.iter_mut().zip(xr) {
            *o = *o * k_dz + (v * ab.0 + ab.1) * k_xhat + k0;
        }
    }
}

/// [`backward_block`] with `silu` as a compile-time choice per inner loop.
#[inline(always)]
fn backward_block_silu(
    xgwb: (&[f32], &[f32], &[f32], &[f32]),
    silu: bool,
    dx: &mut [MaybeUninit<f32>],
    dw: &mut [f64],
    db: &mut [f64],
) {
    if silu {
        backward_block::<true>(xgwb, dx, dw, db)
    } else {
        backward_block::<false>(xgwb, dx, dw, db)
    }
}

vmath::dispatch_avx2!(
    fn backward_block_any / backward_block_avx2(
        xgwb: (&[f32], &[f32], &[f32], &[f32]),
        silu: bool,
        dx: &mut [MaybeUninit<f32>],
        dw: &mut [f64],
        db: &mut [f64],
    ) = backward_block_silu
);

impl GroupNormBackward {
    /// One image's blocks: all of its `dx`, and its partial (dγ, dβ).
    fn image(&self, (x, g): (&[f32], &[f32]), (w, b): (&[f32], &[f32]), dx: &mut [MaybeUninit<f32>]) -> Vec<f64> {
        let c = w.len();
        let (cg, block) = (c / self.groups, x.len() / self.groups);
        let mut dwb = vec![0f64; 2 * c];
        let (dw, db) = dwb.split_at_mut(c);
        for (k, d) in dx.chunks_exact_mut(block).enumerate() {
            let (r, ch) = (k * block..(k + 1) * block, k * cg..(k + 1) * cg);
            let xgwb = (&x[r.clone()], &g[r], &w[ch.clone()], &b[ch.clone()]);
            backward_block_any(xgwb, self.silu, d, &mut dw[ch.clone()], &mut db[ch]);
        }
        dwb
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
        let per_image = c * p;
        let fill = |out: &mut [MaybeUninit<f32>]| {
            let (dx, dwb) = out.split_at_mut(x.len());
            // Per image: dx, and that image's partial dγ, dβ (added in image order below).
            let partials: Vec<Vec<f64>> = dx
                .par_chunks_mut(per_image)
                .zip(x.par_chunks(per_image).zip(g.par_chunks(per_image)))
                .map(|(dxi, xgi)| self.image(xgi, wb.split_at(c), dxi))
                .collect();
            debug_assert_eq!(partials.len(), n);
            let mut sum = vec![0f64; 2 * c];
            for part in &partials {
                sum.iter_mut().zip(part).for_each(|(a, v)| *a += v);
            }
            dwb.iter_mut().zip(&sum).for_each(|(o, &v)| {
                o.write(v as f32);
            });
        };
        let len = x.len() + 2 * c;
        // SAFETY: the images tile dx (each writes all of its own), and the
        // last 2·c elements are written from `sum`.
        let out = unsafe { vmath::written_by(len, fill) };
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

#[cfg(test)]
mod tests;
