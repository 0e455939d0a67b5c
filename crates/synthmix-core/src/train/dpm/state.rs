//! `STEM.optim.safetensors` of `dpm-train`: the live weights, the EMA
//! weights, Adam's moments and step, the epoch, the log so far and the
//! best FID, in one file written atomically (a kill at any moment leaves a
//! consistent snapshot). RNG positions need no saving: every draw of an
//! epoch comes from a stream keyed by the seed and the epoch.

use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::checkpoint::Weights;
use crate::artifact::st;
use crate::error::{Error, Result};
use crate::train::saved::{self, f32_bytes, Common};

pub(super) const STATE_KIND: &str = "dpm-train-state";

/// What training saves and restores.
pub(super) struct State {
    /// Epoch, identity, log, best FID, quality: what every generator state holds.
    pub common: Common,
    pub step: u64,
    pub weights: Weights,
    pub ema: Weights,
    pub adam: BTreeMap<String, Vec<f32>>,
}

pub(super) fn encode(s: &State) -> Result<Vec<u8>> {
    let mut tensors = Vec::new();
    for (prefix, w) in [("w", &s.weights), ("ema", &s.ema)] {
        for (name, (shape, values)) in w {
            let (name, dtype, shape) = (format!("{prefix}/{name}"), safetensors::Dtype::F32, shape.clone());
            tensors.push(st::TensorBytes { name, dtype, shape, data: f32_bytes(values) });
        }
    }
    for (name, values) in &s.adam {
        let (name, dtype, shape) = (format!("adam/{name}"), safetensors::Dtype::F32, vec![values.len()]);
        tensors.push(st::TensorBytes { name, dtype, shape, data: f32_bytes(values) });
    }
    let mut meta = s.common.meta(STATE_KIND);
    meta.insert("step".to_string(), s.step.to_string());
    st::encode(&tensors, &meta)
}

pub(super) fn read(path: &Path) -> Result<State> {
    let bytes = crate::artifact::input::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = st::parse(path, &bytes)?;
    let meta = saved::metadata(path, &bytes, STATE_KIND)?;
    let mut s = State {
        common: Common::read(path, &meta)?,
        step: saved::num(path, &meta, "step")?,
        weights: Weights::new(),
        ema: Weights::new(),
        adam: BTreeMap::new(),
    };
    for (name, view) in tensors.tensors() {
        let values = st::finite_f32(path, &name, &view)?;
        let (prefix, rest) =
            name.split_once('/').ok_or_else(|| Error::format(path, format!("unexpected tensor '{name}'")))?;
        let shape = view.shape().to_vec();
        match prefix {
            "w" => drop(s.weights.insert(rest.to_string(), (shape, values))),
            "ema" => drop(s.ema.insert(rest.to_string(), (shape, values))),
            "adam" => drop(s.adam.insert(rest.to_string(), values)),
            _ => return Err(Error::format(path, format!("unexpected tensor '{name}'"))),
        }
    }
    Ok(s)
}
