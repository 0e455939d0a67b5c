//! Adam (Kingma & Ba), as PyTorch's `torch.optim.Adam` without weight decay.
//!
//! Our own rather than candle-nn's `AdamW` because (1) its state (moments,
//! step) must be saved and restored for an exact `--resume`, and (2) on the
//! CPU one fused pass per parameter replaces ~10 tensor ops.

use candle_core::backprop::GradStore;
use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl AdamConfig {
    pub fn new(lr: f64) -> Self {
        AdamConfig { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

pub struct Adam {
    pub config: AdamConfig,
    vars: Vec<(String, Var)>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// Steps taken so far.
    pub t: u64,
}

impl Adam {
    /// An optimiser over `vars` (name, variable), in the order given.
    pub fn new(mut vars: Vec<(String, Var)>, config: AdamConfig) -> Self {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, v)| vec![0f32; v.elem_count()]).collect();
        let v = vars.iter().map(|(_, v)| vec![0f32; v.elem_count()]).collect();
        Adam { config, vars, m, v, t: 0 }
    }

    /// Every variable of a `VarMap`.
    pub fn from_varmap(varmap: &candle_nn::VarMap, config: AdamConfig) -> Self {
        let vars = varmap.data().lock().expect("VarMap lock").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Adam::new(vars, config)
    }

    /// One update from `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let c = self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let k = AdamUpdate {
            step_size: (c.lr / bc1) as f32,
            b1: c.beta1 as f32,
            b2: c.beta2 as f32,
            eps: c.eps as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
        };
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            if var.device().is_cpu() {
                // In place on the variable's storage: one pass, no copies.
                var.as_tensor().inplace_op2(&g.contiguous()?, &AdamInPlace { k, moments: RefCell::new((m, v)) })?;
            } else {
                let g = g.flatten_all()?.to_vec1::<f32>()?;
                let mut theta = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                k.apply(&mut theta, &g, m, v);
                var.set(&Tensor::from_vec(theta, var.shape(), var.device())?)?;
            }
        }
        Ok(())
    }

    /// State as named F32 vectors (for checkpoints): `NAME.m`, `NAME.v`, and `step`.
    pub fn state(&self) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for (k, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("{name}.m"), self.m[k].clone()));
            out.push((format!("{name}.v"), self.v[k].clone()));
        }
        out
    }

    /// Restores moments saved by [`Adam::state`] and the step count.
    pub fn load_state(&mut self, state: &std::collections::BTreeMap<String, Vec<f32>>, t: u64) -> Result<()> {
        for (k, (name, var)) in self.vars.iter().enumerate() {
            for (suffix, dst) in [("m", &mut self.m[k]), ("v", &mut self.v[k])] {
                let key = format!("{name}.{suffix}");
                let src = state.get(&key).ok_or_else(|| Error::Invalid(format!("optimizer state lacks '{key}'")))?;
                if src.len() != var.elem_count() {
                    return Err(Error::Invalid(format!(
                        "optimizer state '{key}' has {} values, expected {}",
                        src.len(),
                        var.elem_count()
                    )));
                }
                dst.copy_from_slice(src);
            }
        }
        self.t = t;
        Ok(())
    }
}

/// One step's constants.
#[derive(Debug, Clone, Copy)]
struct AdamUpdate {
    step_size: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    inv_sqrt_bc2: f32,
}

/// Elements per rayon task of the update (elementwise, so any split gives
/// the same bits).
const ADAM_CHUNK: usize = 1 << 15;

impl AdamUpdate {
    fn apply(&self, theta: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        use rayon::prelude::*;
        let Self { step_size, b1, b2, eps, inv_sqrt_bc2 } = *self;
        theta
            .par_chunks_mut(ADAM_CHUNK)
            .zip(g.par_chunks(ADAM_CHUNK))
            .zip(m.par_chunks_mut(ADAM_CHUNK))
            .zip(v.par_chunks_mut(ADAM_CHUNK))
            .for_each(|(((theta, g), m), v)| {
                // Zipped iterators, not indices: without bounds checks the
                // loop vectorises (sqrt and div included; same bits).
                for (((t, &g), m), v) in theta.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    // PyTorch's form: θ -= lr/bc1 · m / (√v/√bc2 + ε).
                    *t -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
                }
            });
    }
}

/// The update as an in-place op on a variable's CPU storage.
struct AdamInPlace<'a> {
    k: AdamUpdate,
    moments: RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl InplaceOp2 for AdamInPlace<'_> {
    fn name(&self) -> &'static str {
        "adam-update"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let (Some((a1, b1)), Some((a2, b2))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("adam-update: variable and gradient must be contiguous");
        };
        let CpuStorage::F32(theta) = s1 else { candle_core::bail!("adam-update: variable is not F32") };
        let theta = &mut theta[a1..b1];
        let g = &s2.as_slice::<f32>()?[a2..b2];
        let mut mv = self.moments.borrow_mut();
        let (m, v) = &mut *mv;
        if theta.len() != g.len() || theta.len() != m.len() {
            candle_core::bail!("adam-update: {} weights, {} gradients, {} moments", theta.len(), g.len(), m.len());
        }
        self.k.apply(theta, g, m, v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Optimizer;
    use rand::Rng;

    /// Against candle-nn's AdamW without weight decay (the same algorithm,
    /// written independently as tensor ops), over several steps of a loss
    /// whose gradients change sign, on sizes across the task chunk.
    #[test]
    fn matches_candle_nn_adamw() {
        let dev = Device::Cpu;
        let mut r = crate::rng::stream(5, "adam-test");
        for n in [1usize, 37, ADAM_CHUNK + 5] {
            let init: Vec<f32> = (0..n).map(|_| r.gen_range(-1.0..1.0)).collect();
            let target = Tensor::from_vec((0..n).map(|_| r.gen_range(-1.0f32..1.0)).collect(), n, &dev).unwrap();
            let (ours_v, theirs_v) =
                (Var::from_vec(init.clone(), n, &dev).unwrap(), Var::from_vec(init, n, &dev).unwrap());
            let config = AdamConfig { lr: 0.05, beta1: 0.5, beta2: 0.999, eps: 1e-8 };
            let mut ours = Adam::new(vec![("w".into(), ours_v.clone())], config);
            let params = candle_nn::ParamsAdamW { lr: 0.05, beta1: 0.5, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
            let mut theirs = candle_nn::AdamW::new(vec![theirs_v.clone()], params).unwrap();
            let loss = |v: &Var| (v.as_tensor() - &target).unwrap().sqr().unwrap().sum_all().unwrap();
            for step in 0..6 {
                ours.step(&loss(&ours_v).backward().unwrap()).unwrap();
                theirs.backward_step(&loss(&theirs_v)).unwrap();
                let (a, b) = (ours_v.to_vec1::<f32>().unwrap(), theirs_v.to_vec1::<f32>().unwrap());
                for (k, (p, q)) in a.iter().zip(&b).enumerate() {
                    assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "n {n} step {step} [{k}]: {p} vs {q}");
                }
            }
        }
    }
}
