//! What every generator-training stage (`gan-train`, `dpm-train`) measures
//! during training, one code for both families: the features network and
//! the real side of the FID (extracted once), and the FID and recognition
//! of a batch of generated images.

use std::path::Path;

use candle_core::Device;

use crate::artifact::checkpoint::FidRecord;
use crate::artifact::provenance::Provenance;
use crate::data::{self, DataOptions, ImageSet, ImageShape, SetMeta};
use crate::error::{Error, Result};
use crate::metrics::fid::{self, Extracted, FeatureNet};

/// The features network, the real side of every FID (extracted once) and its labels.
pub type Features = (FeatureNet, Extracted, Vec<u8>);

/// Loads `--features` (if given) and extracts the features of at most
/// `fid_samples` real images of `train_set` (a seeded stratified subset).
pub fn load_features(
    features: Option<&Path>,
    (fid_samples, seed): (usize, u64),
    (train, train_set, dataset): (&str, &ImageSet, &str),
    prov: &mut Provenance,
    device: &Device,
) -> Result<Option<Features>> {
    let Some(path) = features else {
        tracing::info!("no --features: FID and recognition are not computed (the CSV leaves them empty)");
        return Ok(None);
    };
    let net = FeatureNet::load(path, device)?;
    prov.input_file("features", path)?;
    if net.num_classes() != train_set.num_classes {
        return Err(Error::Invalid(format!(
            "{}: classifier has {} classes, {train} has {}",
            path.display(),
            net.num_classes(),
            train_set.num_classes
        )));
    }
    if net.dataset != dataset {
        tracing::warn!(
            "features classifier {} was trained on {}, the generator on {dataset}",
            path.display(),
            net.dataset
        );
    }
    let real_idx = if train_set.len() > fid_samples {
        data::subset::stratified(train_set, fid_samples, seed, "fid-real")
    } else {
        (0..train_set.len()).collect()
    };
    let real = train_set.select(&real_idx);
    let extracted = net.extract(&real, 500)?;
    Ok(Some((net, extracted, real.labels)))
}

/// The real images an FID compares against: `--fid-reference` (an image-set
/// file or DATASET:SPLIT; the same one for every generator of a study makes
/// their FIDs comparable) or, without it, the training set. Never a test
/// split: a quality target met on the test set would tune on it.
pub fn reference_set(
    reference: Option<&str>,
    train_set: &ImageSet,
    data_opts: &DataOptions,
    prov: &mut Provenance,
) -> Result<ImageSet> {
    let Some(name) = reference else {
        return Ok(train_set.clone());
    };
    let set = data::load_set(name, data_opts)?;
    let problem = if set.meta.split == "test" {
        Some("is a test split; give a held-out part of the training data (never the test set)".to_string())
    } else if set.meta.dataset != train_set.meta.dataset {
        Some(format!("is {}, the training set {}", set.meta.dataset, train_set.meta.dataset))
    } else if set.shape != train_set.shape || set.num_classes != train_set.num_classes {
        Some(format!(
            "holds {} images of {} classes, the training set {} of {}",
            set.shape, set.num_classes, train_set.shape, train_set.num_classes
        ))
    } else if set.is_empty() {
        Some("holds no images".to_string())
    } else {
        None
    };
    if let Some(p) = problem {
        return Err(Error::Invalid(format!("--fid-reference {name}: {p}")));
    }
    prov.inputs.push(crate::artifact::provenance::FileRecord {
        role: "fid-reference".into(),
        path: name.to_string(),
        blake3: set.content_hash()?,
    });
    Ok(set)
}

/// FID and recognition of generated pixels `px` of `labels`.
pub fn measure(
    f: &Features,
    px: Vec<u8>,
    labels: &[u8],
    (image, num_classes): (ImageShape, usize),
    meta: &SetMeta,
) -> Result<(f64, f64)> {
    let (net, real_feats, real_labels) = f;
    let set = ImageSet::new(Path::new("<generated>"), px, labels.to_vec(), image, num_classes, meta.clone())?;
    let gen_feats: Extracted = net.extract(&set, 500)?;
    let (fid, _, rec, _) = fid::compare(real_feats, real_labels, &gen_feats, labels, num_classes)?;
    Ok((fid, rec.accuracy()))
}

/// The checkpoint record of a measured FID.
pub fn fid_record(f: Option<&Features>, quality: Option<(f64, f64)>, fid_samples: usize) -> Option<FidRecord> {
    match (f, quality) {
        (Some((net, _, _)), Some((fid, recognition))) => Some(FidRecord {
            fid,
            recognition,
            fid_samples,
            features: net.path.display().to_string(),
            features_blake3: net.blake3.clone(),
        }),
        _ => None,
    }
}
