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
    pub epoch: usize,
    pub step: u64,
    pub identity: serde_json::Value,
    pub log_csv: String,
    pub best: Option<(usize, f64)>,
    /// The saved epoch's FID and recognition, if it measured them.
    pub quality: Option<(f64, f64)>,
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
    let common = Common {
        epoch: s.epoch,
        identity: s.identity.clone(),
        log_csv: s.log_csv.clone(),
        best: s.best,
        quality: s.quality,
    };
    let mut meta = common.meta(STATE_KIND);
    meta.insert("step".to_string(), s.step.to_string());
    st::encode(&tensors, &meta)
}

pub(super) fn read(path: &Path) -> Result<State> {
    let bytes = crate::artifact::input::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = st::parse(path, &bytes)?;
    let meta = saved::metadata(path, &bytes, STATE_KIND)?;
    let c = Common::read(path, &meta)?;
    let mut s = State {
        epoch: c.epoch,
        step: saved::num(path, &meta, "step")?,
        identity: c.identity,
        log_csv: c.log_csv,
        best: c.best,
        quality: c.quality,
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
