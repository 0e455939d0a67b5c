//! The DCGAN's 2× resamplings as single passes with single-pass backwards:
//! nearest-neighbour 2× upsampling (the generator) and 2×2 average pooling
//! (the discriminator).
//!
//! candle 0.11.1 computes the upsampling's backward as a grouped conv2d with a
//! kernel of ones, and the pooling's backward as an upsampling followed by a
//! scaling pass; with its generic indexing, these four ops and their
//! temporaries were about a fifth of a DCGAN step (perf, issue 21). The two
//! kernels here are each other's backward: [`sum2x2`] (pool forward,
//! upsample backward) and [`spread2x2`] (upsample forward, pool backward).
//! They add and scale in candle's order, so results are bit-identical to
//! candle's ops. Work is split into whole planes, each output element
//! written by one task: deterministic for any thread count.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{cpu_slice, dims4};

/// Nearest-neighbour 2× upsampling of `[N, C, H, W]` to `[N, C, 2H, 2W]`
/// (candle's `upsample_nearest2d(2H, 2W)`). Other devices use candle's op.
pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1(Upsample2x)
    } else {
        let (_, _, h, w) = x.dims4()?;
        x.upsample_nearest2d(2 * h, 2 * w)
    }
}

/// 2×2 average pooling, stride 2, of `[N, C, H, W]` to `[N, C, H/2, W/2]`
/// (floor: an odd last row or column is dropped, as candle and PyTorch do).
/// Other devices use candle's op.
pub fn avg_pool2x2(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1(AvgPool2x2)
    } else {
        x.avg_pool2d(2)
    }
}

/// Planes of `[N, C, h, w]` per task: about 64 Ki elements of output, so
/// that small maps are not split into tasks smaller than a wake-up.
fn planes_per_task(plane_len: usize) -> usize {
    ((1 << 16) / plane_len.max(1)).max(1)
}

/// Each `oh × ow` output plane: `scale · Σ` of the 2×2 window at (2y, 2x) of
/// the `h × w` input plane, summed from 0 in row-major order (as candle's
/// avg-pool and its ones-kernel conv do).
fn sum2x2(src: &[f32], planes: usize, (h, w): (usize, usize), scale: f32) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![0f32; planes * oh * ow];
    if out.is_empty() {
        return out;
    }
    let per = planes_per_task(oh * ow);
    out.par_chunks_mut(per * oh * ow).zip(src.par_chunks(per * h * w)).for_each(|(o, s)| {
        for (op, sp) in o.chunks_exact_mut(oh * ow).zip(s.chunks_exact(h * w)) {
            for (y, orow) in op.chunks_exact_mut(ow).enumerate() {
                let (r0, r1) = (&sp[2 * y * w..][..w], &sp[(2 * y + 1) * w..][..w]);
                for (x, v) in orow.iter_mut().enumerate() {
                    let mut sum = 0f32;
                    sum += r0[2 * x];
                    sum += r0[2 * x + 1];
                    sum += r1[2 * x];
                    sum += r1[2 * x + 1];
                    *v = sum * scale;
                }
            }
        }
    });
    out
}

/// Each `h × w` output plane: `f(v)` of the `oh × ow` input plane's value
/// `v` at (y/2, x/2); zero in an odd last row or column (h > 2·oh).
fn spread2x2(
    src: &[f32],
    planes: usize,
    (oh, ow): (usize, usize),
    (h, w): (usize, usize),
    f: impl Fn(f32) -> f32 + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; planes * h * w];
    if out.is_empty() {
        return out;
    }
    let per = planes_per_task(h * w);
    out.par_chunks_mut(per * h * w).zip(src.par_chunks(per * oh * ow)).for_each(|(o, s)| {
        for (op, sp) in o.chunks_exact_mut(h * w).zip(s.chunks_exact(oh * ow)) {
            for (y, srow) in sp.chunks_exact(ow).enumerate() {
                let (top, bottom) = op[2 * y * w..][..2 * w].split_at_mut(w);
                for (x, &v) in srow.iter().enumerate() {
                    let v = f(v);
                    top[2 * x] = v;
                    top[2 * x + 1] = v;
                    bottom[2 * x] = v;
                    bottom[2 * x + 1] = v;
                }
            }
        }
    });
    out
}

struct Upsample2x;

impl CustomOp1 for Upsample2x {
    fn name(&self) -> &'static str {
        "upsample-nearest-2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "upsample_nearest2x")?;
        let x = cpu_slice(s, l, "upsample_nearest2x: input")?;
        let out = spread2x2(x, n * c, (h, w), (2 * h, 2 * w), |v| v);
        Ok((CpuStorage::F32(out), Shape::from((n, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.apply_op1_no_bwd(&SumPool2x2)?))
    }
}

/// Gradient of [`Upsample2x`]: each input pixel's four copies summed.
struct SumPool2x2;

impl CustomOp1 for SumPool2x2 {
    fn name(&self) -> &'static str {
        "upsample-nearest-2x-backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "upsample_nearest2x backward")?;
        let g = cpu_slice(s, l, "upsample_nearest2x: gradient")?;
        Ok((CpuStorage::F32(sum2x2(g, n * c, (h, w), 1.0)), Shape::from((n, c, h / 2, w / 2))))
    }
}

struct AvgPool2x2;

impl CustomOp1 for AvgPool2x2 {
    fn name(&self) -> &'static str {
        "avg-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "avg_pool2x2")?;
        let x = cpu_slice(s, l, "avg_pool2x2: input")?;
        Ok((CpuStorage::F32(sum2x2(x, n * c, (h, w), 0.25)), Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = arg.dims4()?;
        Ok(Some(grad_res.contiguous()?.apply_op1_no_bwd(&AvgPool2x2Backward { h, w })?))
    }
}

/// Gradient of [`AvgPool2x2`]: a quarter of each upstream value to each of
/// its window's four pixels (`g · 0.25 + 0`, candle's affine).
struct AvgPool2x2Backward {
    h: usize,
    w: usize,
}

impl CustomOp1 for AvgPool2x2Backward {
    fn name(&self) -> &'static str {
        "avg-pool-2x2-backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, oh, ow) = dims4(l, "avg_pool2x2 backward")?;
        if (oh, ow) != (self.h / 2, self.w / 2) {
            candle_core::bail!("avg_pool2x2 backward: gradient {oh}x{ow} for an input of {}x{}", self.h, self.w);
        }
        let g = cpu_slice(s, l, "avg_pool2x2: gradient")?;
        let out = spread2x2(g, n * c, (oh, ow), (self.h, self.w), |v| v * 0.25 + 0.0);
        Ok((CpuStorage::F32(out), Shape::from((n, c, self.h, self.w))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn seeded(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
    }

    /// Forward and backward bit for bit against candle's own ops, on even and
    /// odd maps, a single pixel, many planes and a multi-task split.
    #[test]
    fn match_candle_bit_for_bit() {
        for &shape in &[(2, 3, 4, 6), (1, 1, 1, 1), (3, 5, 7, 9), (4, 64, 16, 16), (2, 2, 28, 28)] {
            let x = Var::from_tensor(&seeded(shape, 1)).unwrap();
            let (_, _, h, w) = shape;
            let up_ours = upsample_nearest2x(x.as_tensor()).unwrap();
            let up_candle = x.upsample_nearest2d(2 * h, 2 * w).unwrap();
            assert_eq!(bits(&up_ours), bits(&up_candle), "upsample {shape:?}");
            let g = seeded(up_ours.dims4().unwrap(), 2);
            let d_ours = (&up_ours * &g).unwrap().sum_all().unwrap().backward().unwrap();
            let d_candle = (&up_candle * &g).unwrap().sum_all().unwrap().backward().unwrap();
            assert_eq!(bits(d_ours.get(&x).unwrap()), bits(d_candle.get(&x).unwrap()), "upsample grad {shape:?}");
            if h < 2 || w < 2 {
                continue;
            }
            let p_ours = avg_pool2x2(x.as_tensor()).unwrap();
            let p_candle = x.avg_pool2d(2).unwrap();
            assert_eq!(bits(&p_ours), bits(&p_candle), "avg pool {shape:?}");
            let g = seeded(p_ours.dims4().unwrap(), 3);
            let d_ours = (&p_ours * &g).unwrap().sum_all().unwrap().backward().unwrap();
            let d_ours = d_ours.get(&x).unwrap();
            if h % 2 == 0 && w % 2 == 0 {
                let d_candle = (&p_candle * &g).unwrap().sum_all().unwrap().backward().unwrap();
                assert_eq!(bits(d_ours), bits(d_candle.get(&x).unwrap()), "avg pool grad {shape:?}");
            } else {
                // candle resizes the gradient to the odd map by nearest
                // neighbour; the true gradient of the dropped row/column is 0.
                let v = d_ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let gv = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let (oh, ow) = (h / 2, w / 2);
                for (i, &dv) in v.iter().enumerate() {
                    let (plane, y, x) = (i / (h * w), i / w % h, i % w);
                    let want =
                        if y < 2 * oh && x < 2 * ow { gv[plane * oh * ow + y / 2 * ow + x / 2] * 0.25 } else { 0.0 };
                    assert_eq!(dv, want, "avg pool grad {shape:?} at {i}");
                }
            }
        }
    }

    #[test]
    fn known_values() {
        let x = Tensor::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu).unwrap();
        let up = upsample_nearest2x(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(up, [1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]);
        let p = avg_pool2x2(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(p, [2.5]);
    }
}
