//! Seeded weight initialisation. candle's initialisers draw from an unseeded
//! thread RNG, so after a model is built from a `VarBuilder` every variable is
//! overwritten from our own streams, PyTorch-style:
//! `*.weight` / `*.bias` ~ U(-1/√fan_in, 1/√fan_in) (the default of
//! `nn.Linear` / `nn.Conv2d`), `*.embeddings` ~ N(0, 1) (`nn.Embedding`),
//! and a normalisation layer's (a `*norm*` layer's 1-D) weight 1 and bias 0
//! (`nn.GroupNorm`).
//! Each variable has its own stream keyed by its name, so the result does not
//! depend on the order variables are visited.

use candle_core::Tensor;
use candle_nn::VarMap;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::rng;

/// γ = 1 and β = 0 of a normalisation layer: a 1-D `weight` or `bias` of
/// a layer whose name contains `norm`.
fn norm_value(name: &str, dims: &[usize]) -> Option<f32> {
    let (layer, last) = name.rsplit_once('.')?;
    let layer = layer.rsplit('.').next().unwrap_or(layer);
    if dims.len() != 1 || !layer.contains("norm") {
        return None;
    }
    match last {
        "weight" => Some(1.0),
        "bias" => Some(0.0),
        _ => None,
    }
}

/// Re-initialises every variable of `varmap` from `seed`.
pub fn pytorch_default(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap.data().lock().expect("VarMap lock poisoned");
    for (name, var) in data.iter() {
        let dims = var.dims().to_vec();
        let count: usize = dims.iter().product();
        let mut r = rng::stream(seed, &format!("init/{name}"));
        let values: Vec<f32> = if let Some(v) = norm_value(name, &dims) {
            vec![v; count]
        } else if name.ends_with("embeddings") {
            (0..count).map(|_| StandardNormal.sample(&mut r)).collect()
        } else {
            let fan_in = if let Some(prefix) = name.strip_suffix(".bias") {
                let w = data.get(&format!("{prefix}.weight")).ok_or_else(|| {
                    Error::Invalid(format!("bias '{name}' has no matching '{prefix}.weight' to take fan-in from"))
                })?;
                w.dims()[1..].iter().product::<usize>()
            } else if dims.len() >= 2 {
                dims[1..].iter().product()
            } else {
                return Err(Error::Invalid(format!("no initialisation rule for variable '{name}' of shape {dims:?}")));
            };
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..count).map(|_| r.gen_range(-bound..bound)).collect()
        };
        var.set(&Tensor::from_vec(values, dims.as_slice(), var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
