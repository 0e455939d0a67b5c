//! `STEM.optim.safetensors` of `dpm-train`: the live weights, the EMA
//! weights, Adam's moments and step, the epoch, the log so far and the
//! best FID, in one file written atomically (a kill at any moment leaves a
//! consistent snapshot). RNG positions need no saving: every draw of an
//! epoch comes from a stream keyed by the seed and the epoch.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::checkpoint::Weights;
use crate::artifact::st;
use crate::error::{Error, Result};

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

fn f32_bytes(v: &[f32]) -> Cow<'static, [u8]> {
    Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
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
    let mut meta = BTreeMap::new();
    meta.insert(crate::artifact::meta::KIND.to_string(), STATE_KIND.to_string());
    meta.insert(crate::artifact::meta::FORMAT.to_string(), crate::artifact::FORMAT_VERSION.to_string());
    meta.insert("epoch".to_string(), s.epoch.to_string());
    meta.insert("step".to_string(), s.step.to_string());
    meta.insert("identity".to_string(), s.identity.to_string());
    meta.insert("log_csv".to_string(), s.log_csv.clone());
    if let Some((e, f)) = s.best {
        meta.insert("best_epoch".to_string(), e.to_string());
        // Exact bits, so a resumed run compares FIDs as an uninterrupted one.
        meta.insert("best_fid_bits".to_string(), f.to_bits().to_string());
    }
    crate::train::stop::put_quality(&mut meta, s.quality);
    st::encode(&tensors, &meta)
}

pub(super) fn read(path: &Path) -> Result<State> {
    let bytes = crate::artifact::input::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = st::parse(path, &bytes)?;
    let meta = st::metadata_of(path, &bytes)?;
    st::expect_kind(path, &meta, &[STATE_KIND])?;
    let num = |k: &str| -> Result<u64> {
        st::meta_get(path, &meta, k)?.parse().map_err(|_| Error::format(path, format!("metadata {k} is not a number")))
    };
    let identity = serde_json::from_str(st::meta_get(path, &meta, "identity")?)
        .map_err(|e| Error::format(path, format!("metadata identity is not JSON: {e}")))?;
    let best = match meta.get("best_epoch") {
        Some(_) => Some((num("best_epoch")? as usize, f64::from_bits(num("best_fid_bits")?))),
        None => None,
    };
    let mut s = State {
        epoch: num("epoch")? as usize,
        step: num("step")?,
        identity,
        log_csv: st::meta_get(path, &meta, "log_csv")?.to_string(),
        best,
        quality: crate::train::stop::get_quality(path, &meta)?,
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
