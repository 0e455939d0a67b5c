//! Models, written the way candle-nn's modules are: a struct built from a
//! `VarBuilder` (`vb.pp("name")`) with a `forward`. Configs are serialisable
//! and stored in checkpoints, so a model is rebuilt from its file alone.

pub mod classifier;
pub mod diffusion;
pub mod dpm_sample;
pub mod flops;
pub mod gan;
pub mod init;
pub mod layers;
pub mod unet;

pub use classifier::{Classifier, ClassifierArch, ClassifierConfig};

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use crate::artifact::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};

/// A freshly initialised classifier (weights from `seed`) and its variables.
pub fn new_classifier(config: &ClassifierConfig, seed: u64, device: &Device) -> Result<(Classifier, VarMap)> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Classifier::new(vb, config, seed)?;
    init::pytorch_default(&varmap, seed)?;
    Ok((model, varmap))
}

/// Rebuilds a classifier from a checkpoint file alone.
pub fn load_classifier(path: &Path, device: &Device) -> Result<(Classifier, Checkpoint)> {
    let ck = checkpoint::read(path, Some("classifier"))?;
    let config: ClassifierConfig = serde_json::from_str(&ck.meta.config)
        .map_err(|e| Error::format(path, format!("config is not a classifier config: {e}")))?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Classifier::new(vb, &config, 0)
        .map_err(|e| Error::format(path, format!("cannot build model: {}", crate::error::strip_backtrace(e))))?;
    ck.load_into(path, &varmap)?;
    Ok((model, ck))
}

/// Predicted class of every image of `set`, in batches of `batch` (inference
/// mode: no dropout). The set is adapted to the model's input shape first.
pub fn predict(model: &Classifier, set: &crate::data::ImageSet, batch: usize, device: &Device) -> Result<Vec<u8>> {
    let set = crate::data::fit_to_shape(set, model.config.input)?;
    let mut out = Vec::with_capacity(set.len());
    let idx: Vec<usize> = (0..set.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let x = crate::data::batch_tensor(&set, chunk, device)?;
        let pred = model.forward(&x, false)?.argmax(1)?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        out.extend(pred.into_iter().map(|p| p as u8));
    }
    Ok(out)
}

/// The softmax probability the model gives each image's own label (inference
/// mode), in batches of `batch`: how sure a judge is that an image is of its
/// intended class.
pub fn label_confidence(
    model: &Classifier,
    set: &crate::data::ImageSet,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let set = crate::data::fit_to_shape(set, model.config.input)?;
    let mut out = Vec::with_capacity(set.len());
    let idx: Vec<usize> = (0..set.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let x = crate::data::batch_tensor(&set, chunk, device)?;
        let p = candle_nn::ops::softmax_last_dim(&model.forward(&x, false)?)?;
        let y = candle_core::Tensor::from_vec(
            chunk.iter().map(|&i| set.labels[i] as u32).collect::<Vec<u32>>(),
            (chunk.len(), 1),
            device,
        )?;
        out.extend(p.gather(&y, 1)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}
