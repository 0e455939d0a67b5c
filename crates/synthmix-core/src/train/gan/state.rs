//! `STEM.optim.safetensors` of `gan-train`: both nets' weights, both Adam
//! optimisers' moments and step counts, the epoch, the log so far, the best
//! FID and the saved epoch's quality, in one file written atomically (a kill
//! at any moment leaves a consistent snapshot).

use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::checkpoint;
use crate::artifact::st;
use crate::error::{Error, Result};

/// What training restores from (or saves to) `STEM.optim.safetensors`.
pub(super) struct State {
    pub epoch: usize,
    pub g_step: u64,
    pub d_step: u64,
    pub identity: serde_json::Value,
    pub log_csv: String,
    pub best: Option<(usize, f64)>,
    /// The saved epoch's FID and recognition, if it measured them.
    pub quality: Option<(f64, f64)>,
    pub g_weights: checkpoint::Weights,
    pub d_weights: checkpoint::Weights,
    pub g_adam: BTreeMap<String, Vec<f32>>,
    pub d_adam: BTreeMap<String, Vec<f32>>,
}

pub(super) const STATE_KIND: &str = "gan-train-state";

pub(super) fn encode(s: &State) -> Result<Vec<u8>> {
    use std::borrow::Cow;
    let mut tensors = Vec::new();
    let f32_bytes = |v: &[f32]| Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
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
    let mut meta = BTreeMap::new();
    meta.insert(crate::artifact::meta::KIND.to_string(), STATE_KIND.to_string());
    meta.insert(crate::artifact::meta::FORMAT.to_string(), crate::artifact::FORMAT_VERSION.to_string());
    meta.insert("epoch".to_string(), s.epoch.to_string());
    meta.insert("g_step".to_string(), s.g_step.to_string());
    meta.insert("d_step".to_string(), s.d_step.to_string());
    meta.insert("identity".to_string(), s.identity.to_string());
    meta.insert("log_csv".to_string(), s.log_csv.clone());
    if let Some((e, f)) = s.best {
        meta.insert("best_epoch".to_string(), e.to_string());
        // Exact f64 bits, so a resumed run compares FIDs as an uninterrupted one.
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
        g_step: num("g_step")?,
        d_step: num("d_step")?,
        identity,
        log_csv: st::meta_get(path, &meta, "log_csv")?.to_string(),
        best,
        quality: crate::train::stop::get_quality(path, &meta)?,
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
