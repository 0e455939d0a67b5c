//! `clf-train --resume`: the state an unfinished run leaves beside its
//! checkpoint (`STEM.resume.safetensors`, rewritten after every epoch and
//! removed when the run finishes), and the check that a resumed run is the
//! same run, so that it continues bit for bit as an uninterrupted one would.
//!
//! The state holds what the next epoch depends on and the checkpoint does
//! not: Adam's moments and step count, the position of every dropout
//! stream, and the log so far. Shuffles, oversampling and recycling rounds
//! come from per-epoch streams, so the epoch number restores them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::classifier::EpochLog;
use super::optim::Adam;
use crate::artifact::checkpoint::{self, Weights};
use crate::artifact::st;
use crate::error::{Error, Result};
use crate::model::Classifier;

const STATE_KIND: &str = "clf-train-state";

/// Where an unfinished run's state lives: beside `out`.
pub fn state_path(out: &Path) -> PathBuf {
    super::sibling(out, "resume.safetensors")
}

/// What a finished epoch leaves for `--resume`.
#[derive(Debug)]
pub struct ClfState {
    pub epoch: usize,
    pub images_seen: usize,
    /// The settings that decide the weights; a resume must match them.
    pub identity: serde_json::Value,
    pub epochs: Vec<EpochLog>,
    pub weights: Weights,
    pub adam: BTreeMap<String, Vec<f32>>,
    pub adam_step: u64,
    pub dropout: Vec<u128>,
}

impl ClfState {
    /// The state after `epochs.last()`.
    pub fn capture(
        model: &Classifier,
        varmap: &candle_nn::VarMap,
        opt: &Adam,
        identity: &serde_json::Value,
        epochs: &[EpochLog],
        images_seen: usize,
    ) -> Result<ClfState> {
        Ok(ClfState {
            epoch: epochs.last().map_or(0, |e| e.epoch),
            images_seen,
            identity: identity.clone(),
            epochs: epochs.to_vec(),
            weights: checkpoint::weights_of(varmap)?,
            adam: opt.state().into_iter().collect(),
            adam_step: opt.t,
            dropout: model.dropout_positions(),
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        crate::artifact::write_atomic(path, &self.encode()?)
    }

    fn encode(&self) -> Result<Vec<u8>> {
        let f32_bytes = |v: &[f32]| Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        let mut tensors = Vec::new();
        for (name, (shape, values)) in &self.weights {
            let data = f32_bytes(values);
            tensors.push(st::TensorBytes {
                name: format!("w/{name}"),
                dtype: safetensors::Dtype::F32,
                shape: shape.clone(),
                data,
            });
        }
        for (name, values) in &self.adam {
            let data = f32_bytes(values);
            tensors.push(st::TensorBytes {
                name: format!("adam/{name}"),
                dtype: safetensors::Dtype::F32,
                shape: vec![values.len()],
                data,
            });
        }
        let mut meta = BTreeMap::new();
        meta.insert(crate::artifact::meta::KIND.to_string(), STATE_KIND.to_string());
        meta.insert(crate::artifact::meta::FORMAT.to_string(), crate::artifact::FORMAT_VERSION.to_string());
        meta.insert("epoch".into(), self.epoch.to_string());
        meta.insert("images_seen".into(), self.images_seen.to_string());
        meta.insert("adam_step".into(), self.adam_step.to_string());
        meta.insert("identity".into(), self.identity.to_string());
        meta.insert("epochs".into(), serde_json::to_string(&self.epochs).expect("logs serialise"));
        let dropout: Vec<String> = self.dropout.iter().map(u128::to_string).collect();
        meta.insert("dropout".into(), dropout.join(","));
        st::encode(&tensors, &meta)
    }

    pub fn read(path: &Path) -> Result<ClfState> {
        let bytes = crate::artifact::input::read(path).map_err(|e| Error::io(path, e))?;
        let tensors = st::parse(path, &bytes)?;
        let meta = st::metadata_of(path, &bytes)?;
        st::expect_kind(path, &meta, &[STATE_KIND])?;
        let get = |k: &str| st::meta_get(path, &meta, k);
        let bad = |k: &str| Error::format(path, format!("metadata {k} is malformed"));
        let num = |k: &str| -> Result<u64> { get(k)?.parse().map_err(|_| bad(k)) };
        let dropout = match get("dropout")? {
            "" => Vec::new(),
            s => s.split(',').map(|x| x.parse::<u128>().map_err(|_| bad("dropout"))).collect::<Result<_>>()?,
        };
        let mut s = ClfState {
            epoch: usize::try_from(num("epoch")?).map_err(|_| bad("epoch"))?,
            images_seen: usize::try_from(num("images_seen")?).map_err(|_| bad("images_seen"))?,
            adam_step: num("adam_step")?,
            identity: serde_json::from_str(get("identity")?).map_err(|_| bad("identity"))?,
            epochs: serde_json::from_str(get("epochs")?).map_err(|_| bad("epochs"))?,
            dropout,
            weights: Weights::new(),
            adam: BTreeMap::new(),
        };
        if s.epoch == 0 || s.epochs.len() != s.epoch || s.epochs.last().map_or(0, |e| e.epoch) != s.epoch {
            return Err(bad("epochs"));
        }
        for (name, view) in tensors.tensors() {
            let values = st::finite_f32(path, &name, &view)?;
            match name.split_once('/') {
                Some(("w", rest)) => drop(s.weights.insert(rest.to_string(), (view.shape().to_vec(), values))),
                Some(("adam", rest)) => drop(s.adam.insert(rest.to_string(), values)),
                _ => return Err(Error::format(path, format!("unexpected tensor '{name}'"))),
            }
        }
        Ok(s)
    }

    /// Refuses a state that is not this run's (naming the settings that
    /// differ) or that is past `n_epochs`. A state at `n_epochs` (killed
    /// after its last epoch, before it finished) leaves only the finishing
    /// to do.
    pub fn check(&self, path: &Path, identity: &serde_json::Value, n_epochs: usize) -> Result<()> {
        if &self.identity != identity {
            let differing: Vec<&str> = identity
                .as_object()
                .expect("an object")
                .iter()
                .filter(|(k, v)| self.identity.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.as_str())
                .collect();
            return Err(Error::Invalid(format!(
                "{}: cannot --resume: the saved run differs in {} (start afresh without --resume, or use the same settings)",
                path.display(),
                differing.join(", ")
            )));
        }
        if self.epoch > n_epochs {
            return Err(Error::Invalid(format!(
                "{}: already trained for {} epochs; raise --epochs to continue",
                path.display(),
                self.epoch
            )));
        }
        Ok(())
    }
}

/// The settings a resume must share with the run it continues: every
/// parameter but the output and the number of epochs, and the training
/// set's content (not its name).
pub fn identity(params: &super::classifier::ClfTrainParams, train_blake3: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(params).expect("params serialise");
    let o = v.as_object_mut().expect("params are an object");
    o.remove("out");
    o.remove("epochs");
    o.remove("resume");
    o.insert("train_blake3".into(), serde_json::Value::String(train_blake3.to_string()));
    v
}
