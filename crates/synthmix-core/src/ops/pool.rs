//! 2×2 max-pooling (stride 2) whose backward is right.
//!
//! candle 0.11.1's `max_pool2d` backward scales the gradient by 1/k² (it
//! multiplies by the mean of the max mask instead of routing the gradient to
//! the maximum), which Adam mostly hides but SGD, clipping and weight decay do
//! not. Here the forward records nothing; the backward recomputes each
//! window's first maximum and routes the whole upstream gradient to it, as
//! PyTorch does. Odd trailing rows/columns are dropped (floor), as in PyTorch.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{cpu_slice, dims4};

/// 2×2/2 max-pool of an `[N, C, H, W]` tensor. On non-CPU devices this falls
/// back to candle's own op.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        x.apply_op1(MaxPool2x2)
    } else {
        x.max_pool2d(2)
    }
}

struct MaxPool2x2;

/// Index (within the input plane) of the first maximum (row-major, ties to
/// the first) of window (oy, ox). Branch-free: which of four pixels is the
/// largest is data-dependent, and a branch on it mispredicts so often that
/// the branchy form took a third of a Simple CNN training step.
#[inline(always)]
fn argmax2x2(plane: &[f32], w: usize, oy: usize, ox: usize) -> usize {
    let i0 = 2 * oy * w + 2 * ox;
    let (a, b, c, d) = (plane[i0], plane[i0 + 1], plane[i0 + w], plane[i0 + w + 1]);
    // Strictly greater: ties go to the earlier position.
    let top = (b > a) as usize;
    let bottom = (d > c) as usize;
    let top_max = if top == 1 { b } else { a };
    let bottom_max = if bottom == 1 { d } else { c };
    let lower = (bottom_max > top_max) as usize;
    i0 + lower * w + (lower * bottom + (1 - lower) * top)
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "max-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l, "max_pool2x2")?;
        let x = cpu_slice(s, l, "max_pool2x2: input")?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow).zip(x.par_chunks(h * w)).for_each(|(o, plane)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    o[oy * ow + ox] = plane[argmax2x2(plane, w, oy, ox)];
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(&grad_res.contiguous()?, &MaxPool2x2Backward)?))
    }
}

/// Gradient of [`MaxPool2x2`] w.r.t. its input, from (input, upstream grad).
struct MaxPool2x2Backward;

impl CustomOp2 for MaxPool2x2Backward {
    fn name(&self) -> &'static str {
        "max-pool-2x2-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1, "max_pool2x2 backward")?;
        let x = cpu_slice(s1, l1, "max_pool2x2: input")?;
        let g = cpu_slice(s2, l2, "max_pool2x2: gradient")?;
        let (oh, ow) = (h / 2, w / 2);
        let mut dx = vec![0f32; n * c * h * w];
        dx.par_chunks_mut(h * w).zip(x.par_chunks(h * w)).zip(g.par_chunks(oh * ow)).for_each(|((d, plane), gp)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    d[argmax2x2(plane, w, oy, ox)] = gp[oy * ow + ox];
                }
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_and_gradient_route_to_the_maximum() {
        // One 3x5 plane: odd edges are dropped, ties go to the first position.
        let x = Var::from_vec(
            vec![1., 5., 2., 2., 9., 3., 4., 2., 2., 9., 7., 7., 7., 7., 7f32],
            (1, 1, 3, 5),
            &Device::Cpu,
        )
        .unwrap();
        let y = max_pool2x2(x.as_tensor()).unwrap();
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![5., 2.]);
        let g = Tensor::new(&[[[[10f32, 20.]]]], &Device::Cpu).unwrap();
        let grads = (y * g).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = grads.get(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(dx, vec![0., 10., 20., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        use rand::Rng;
        let mut r = crate::rng::stream(1, "test");
        let (n, c, h, w) = (2, 3, 6, 7);
        let vals: Vec<f32> = (0..n * c * h * w).map(|_| r.gen_range(-1.0..1.0)).collect();
        let up: Vec<f32> = (0..n * c * (h / 2) * (w / 2)).map(|_| r.gen_range(-1.0..1.0)).collect();
        let upt = Tensor::from_vec(up.clone(), (n, c, h / 2, w / 2), &Device::Cpu).unwrap();
        let f = |v: &[f32]| -> f64 {
            let t = Tensor::from_vec(v.to_vec(), (n, c, h, w), &Device::Cpu).unwrap();
            let y = max_pool2x2(&t).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            y.iter().zip(&up).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let x = Var::from_vec(vals.clone(), (n, c, h, w), &Device::Cpu).unwrap();
        let y = max_pool2x2(x.as_tensor()).unwrap();
        let grads = (y * upt).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = grads.get(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let eps = 1e-3f32;
        for i in 0..vals.len() {
            let mut p = vals.clone();
            p[i] += eps;
            let mut m = vals.clone();
            m[i] -= eps;
            let fd = (f(&p) - f(&m)) / (2.0 * eps as f64);
            assert!((fd - dx[i] as f64).abs() < 1e-3, "index {i}: finite difference {fd}, gradient {}", dx[i]);
        }
    }
}
