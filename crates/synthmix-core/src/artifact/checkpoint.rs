//! Checkpoints: a model's F32 weights under the names candle's `VarMap` gives
//! them, with the metadata of [`CheckpointMeta`] (kind, arch, config,
//! dataset, epoch and the record of how it was trained).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use safetensors::Dtype;

use super::st::{self, TensorBytes};
use crate::error::{Error, IoContext, Result};

pub const KINDS: [&str; 3] = ["generator", "discriminator", "classifier"];
pub use super::meta::{CheckpointMeta, ClassifierRecord, DiffusionRecord, FidRecord, GanRecord, Trained};

/// Weights by name: shape and values.
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Copies every variable of `varmap` to host memory, sorted by name.
pub fn weights_of(varmap: &VarMap) -> Result<Weights> {
    let data = varmap.data().lock().expect("VarMap lock poisoned");
    let mut out = Weights::new();
    for (name, var) in data.iter() {
        let t = var.as_tensor().to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        out.insert(name.clone(), (t.dims().to_vec(), values));
    }
    Ok(out)
}

/// Encodes weights and metadata as safetensors bytes (deterministic).
pub fn encode(weights: &Weights, meta: &CheckpointMeta) -> Result<Vec<u8>> {
    if !KINDS.contains(&meta.kind.as_str()) {
        return Err(Error::Invalid(format!("checkpoint kind '{}' is not one of {}", meta.kind, KINDS.join(", "))));
    }
    if let Some((name, _)) = weights.iter().find(|(_, (_, v))| v.iter().any(|x| !x.is_finite())) {
        return Err(Error::Diverged(format!("refusing to write a checkpoint: weight '{name}' holds NaN or infinity")));
    }
    let m = meta.to_flat();
    let tensors: Vec<TensorBytes> = weights
        .iter()
        .map(|(name, (shape, values))| TensorBytes {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: shape.clone(),
            data: Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        })
        .collect();
    st::encode(&tensors, &m)
}

/// Writes `varmap`'s weights atomically.
pub fn write(path: &Path, varmap: &VarMap, meta: &CheckpointMeta) -> Result<()> {
    super::write_atomic(path, &encode(&weights_of(varmap)?, meta)?)
}

/// A checkpoint read back and validated.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    pub weights: Weights,
}

/// Reads a checkpoint, checking its kind (when `kind` is given), that every
/// tensor is F32 and that no weight is NaN or infinite.
pub fn read(path: &Path, kind: Option<&str>) -> Result<Checkpoint> {
    decode(path, &super::input::read(path).at(path)?, kind)
}

/// Decodes a checkpoint's bytes (`path` names it in errors), as [`read`].
pub fn decode(path: &Path, bytes: &[u8], kind: Option<&str>) -> Result<Checkpoint> {
    let tensors = st::parse(path, bytes)?;
    let meta = st::metadata_of(path, bytes)?;
    st::expect_kind(path, &meta, kind.map(|k| vec![k]).as_deref().unwrap_or(&KINDS))?;
    let meta = CheckpointMeta::from_flat(path, &meta)?;
    let mut weights = Weights::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::format(path, format!("tensor '{name}' is {:?}, expected F32", view.dtype())));
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::format(path, format!("tensor '{name}' holds NaN or infinite weights")));
        }
        weights.insert(name, (view.shape().to_vec(), values));
    }
    Ok(Checkpoint { meta, weights })
}

impl Checkpoint {
    /// Sets every variable of `varmap` from this checkpoint. Every variable
    /// must be present with the same shape, and no tensor may be left over.
    pub fn load_into(&self, path: &Path, varmap: &VarMap) -> Result<()> {
        let data = varmap.data().lock().expect("VarMap lock poisoned");
        for (name, var) in data.iter() {
            let (shape, values) = self.weights.get(name).ok_or_else(|| {
                Error::format(path, format!("tensor '{name}' is missing for arch {}", self.meta.arch))
            })?;
            if shape.as_slice() != var.dims() {
                return Err(Error::format(
                    path,
                    format!("tensor '{name}' has shape {shape:?}, arch {} needs {:?}", self.meta.arch, var.dims()),
                ));
            }
            let t = Tensor::from_slice(values, shape.as_slice(), var.device())?.to_dtype(var.dtype())?;
            var.set(&t)?;
        }
        if let Some(extra) = self.weights.keys().find(|k| !data.contains_key(*k)) {
            return Err(Error::format(path, format!("unexpected tensor '{extra}' for arch {}", self.meta.arch)));
        }
        Ok(())
    }
}
