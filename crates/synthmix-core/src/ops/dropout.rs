//! Inverted dropout as one op.
//!
//! As candle ops, dropout is a mask tensor built from a `Vec`, a dtype
//! conversion and a broadcast-free multiply, and its backward another
//! multiply through candle's generic binary kernel; in the cGAN's
//! discriminator (three dropouts per forward, two forwards per step) these
//! passes showed up at several per cent of a step. Here the mask is drawn
//! straight into the op, the forward is one pass, and the backward reuses
//! the same mask.
//!
//! The mask is exactly the one [`dropout`] always drew: one uniform `f32`
//! per element from `rng`, in order, kept when below `1 - p` (then scaled by
//! `1 / (1 - p)`), so runs repeat bit for bit and match the elementary ops.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rand::Rng as _;

use super::cpu_slice;
use crate::rng::Rng;

/// `x · mask` with `mask` drawn from `rng` (rate `p`: each element is zeroed
/// with probability `p`, kept ones are scaled by `1 / (1 - p)`). `p = 0`
/// returns `x` and draws nothing.
pub fn dropout(x: &Tensor, p: f32, rng: &mut Rng) -> Result<Tensor> {
    if p == 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    let scale = 1.0 / keep;
    // The words `rng.gen::<f32>()` would take one by one, in one fill, then
    // rand's conversion (top 24 bits · 2⁻²⁴) in a loop that vectorises.
    let mut words = vec![0u32; x.elem_count()];
    rng.fill(&mut words[..]);
    let unit = 1.0 / (1u32 << 24) as f32;
    let mask: Vec<f32> = words.iter().map(|&w| if ((w >> 8) as f32 * unit) < keep { scale } else { 0.0 }).collect();
    if !(x.device().is_cpu() && x.dtype() == DType::F32) {
        return x * Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    }
    x.contiguous()?.apply_op1(Mask(Arc::new(mask)))
}

/// Multiplies by a fixed mask; its gradient is the same multiply.
struct Mask(Arc<Vec<f32>>);

impl CustomOp1 for Mask {
    fn name(&self) -> &'static str {
        "dropout-mask"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s, l, "dropout: input")?;
        if x.len() != self.0.len() {
            candle_core::bail!("dropout: input has {} elements, mask {}", x.len(), self.0.len());
        }
        let y: Vec<f32> = x.iter().zip(self.0.iter()).map(|(a, m)| a * m).collect();
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Mask(self.0.clone()))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::SeedableRng;

    /// The same output and gradient bits as the elementary ops with the
    /// same mask draws, and roughly the requested rate.
    #[test]
    fn matches_elementary_ops_bit_for_bit() {
        let dev = Device::Cpu;
        let mut data = Rng::seed_from_u64(9);
        for (n, p) in [(1usize, 0.5f32), (7, 0.3), (200 * 1024, 0.3), (333, 0.9)] {
            let x = Var::from_vec((0..n).map(|_| data.gen_range(-1.0f32..1.0)).collect(), n, &dev).unwrap();
            let up = Tensor::from_vec((0..n).map(|_| data.gen_range(-1.0f32..1.0)).collect(), n, &dev).unwrap();
            let ours = dropout(x.as_tensor(), p, &mut Rng::seed_from_u64(n as u64)).unwrap();
            let mut r = Rng::seed_from_u64(n as u64);
            let mask: Vec<f32> = (0..n).map(|_| if r.gen::<f32>() < 1.0 - p { 1.0 / (1.0 - p) } else { 0.0 }).collect();
            let theirs = (x.as_tensor() * Tensor::from_vec(mask.clone(), n, &dev).unwrap()).unwrap();
            let v = |t: &Tensor| t.to_vec1::<f32>().unwrap();
            assert_eq!(v(&ours), v(&theirs), "n {n} p {p} forward");
            let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
            assert_eq!(v(g1.get(&x).unwrap()), v(g2.get(&x).unwrap()), "n {n} p {p} gradient");
            if n > 10_000 {
                let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / n as f64;
                assert!((dropped - p as f64).abs() < 0.01, "rate {dropped} for p {p}");
            }
        }
    }
}
