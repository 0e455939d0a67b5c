//! `STEM.optim.safetensors` of `gan-train`: both nets' weights, both Adam
//! optimisers' moments and step counts, the epoch, the log so far, the best
//! FID and the saved epoch's quality, in one file written atomically (a kill
//! at any moment leaves a consistent snapshot).

use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::checkpoint;
use crate::artifact::st;
use crate::error::{Error, Result};
use crate::train::saved::{self, f32_bytes, Common};

/// What training restores from (or saves to) `STEM.optim.safetensors`.
pub(super) struct State {
    /// Epoch, identity, log, best FID, quality: what every generator state holds.
    pub common: Common,
    pub g_step: u64,
    pub d_step: u64,
    pub g_weights: checkpoint::Weights,
    pub d_weights: checkpoint::Weights,
    pub g_adam: BTreeMap<String, Vec<f32>>,
    pub d_adam: BTreeMap<String, Vec<f32>>,
}

pub(super) const STATE_KIND: &str = "gan-train-state";

pub(super) fn encode(s: &State) -> Result<Vec<u8>> {
    let mut tensors = Vec::new();
    for (prefix, w) in [("g", &s.g_weights), ("d", &s.d_weights)] {
        for (name, (shape, values)) in w {
            tensors.push(st::TensorBytes {
                name: format!("{prefix}/{name}"),
                dtype: safetensors::Dtype::F32,
                shape: shape.clone(),
                data: f32_bytes(values),
            });
        }
    }
    for (prefix, a) in [("g_adam", &s.g_adam), ("d_adam", &s.d_adam)] {
        for (name, values) in a {
            tensors.push(st::TensorBytes {
                name: format!("{prefix}/{name}"),
                dtype: safetensors::Dtype::F32,
                shape: vec![values.len()],
                data: f32_bytes(values),
            });
        }
    }
    let mut meta = s.common.meta(STATE_KIND);
    meta.insert("g_step".to_string(), s.g_step.to_string());
    meta.insert("d_step".to_string(), s.d_step.to_string());
    st::encode(&tensors, &meta)
}

pub(super) fn read(path: &Path) -> Result<State> {
    let bytes = crate::artifact::input::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = st::parse(path, &bytes)?;
    let meta = saved::metadata(path, &bytes, STATE_KIND)?;
    let mut s = State {
        common: Common::read(path, &meta)?,
        g_step: saved::num(path, &meta, "g_step")?,
        d_step: saved::num(path, &meta, "d_step")?,
        g_weights: Default::default(),
        d_weights: Default::default(),
        g_adam: Default::default(),
        d_adam: Default::default(),
    };
    for (name, view) in tensors.tensors() {
        let values = st::finite_f32(path, &name, &view)?;
        let (prefix, rest) =
            name.split_once('/').ok_or_else(|| Error::format(path, format!("unexpected tensor '{name}'")))?;
        match prefix {
            "g" => drop(s.g_weights.insert(rest.to_string(), (view.shape().to_vec(), values))),
            "d" => drop(s.d_weights.insert(rest.to_string(), (view.shape().to_vec(), values))),
            "g_adam" => drop(s.g_adam.insert(rest.to_string(), values)),
            "d_adam" => drop(s.d_adam.insert(rest.to_string(), values)),
            _ => return Err(Error::format(path, format!("unexpected tensor '{name}'"))),
        }
    }
    Ok(s)
}
