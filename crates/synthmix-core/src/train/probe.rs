//! What every generator-training stage (`gan-train`, `dpm-train`) reads and
//! measures during training, one code for both families: the training data
//! (`--train`, `--limit`), the fixed labels of the grid and the FID, the
//! features network and the real side of the FID (extracted once), the FID
//! and recognition of a batch of generated images, the sample grid and the
//! provenance's headline metrics.

use std::path::Path;

use candle_core::Device;

use crate::artifact::checkpoint::FidRecord;
use crate::artifact::provenance::{FileRecord, Provenance};
use crate::data::{self, DataOptions, ImageSet, ImageShape, SetMeta, Source};
use crate::error::{Error, Result};
use crate::metrics::fid::{self, Extracted, FeatureNet};
use crate::render::grid::{self, GridOptions};

/// Samples per class in the grid PNG (and gan-train's collapse check).
pub const GRID_PER_CLASS: usize = 10;

/// A generator's training data: the set `--train` names (its content hash
/// recorded in the provenance) and the images trained on: all of them, or a
/// seeded class-stratified subset of `--limit` images.
pub struct TrainData {
    pub full: ImageSet,
    pub images: ImageSet,
    pub hash: String,
}

/// Reads `--train` and draws the `--limit` subset; an empty result is refused.
pub fn load_train(
    train: &str,
    (limit, seed): (Option<usize>, u64),
    data_opts: &DataOptions,
    prov: &mut Provenance,
) -> Result<TrainData> {
    let full = data::load_set(train, data_opts)?;
    let hash = full.content_hash()?;
    prov.inputs.push(FileRecord { role: "train".into(), path: train.to_string(), blake3: hash.clone() });
    let images = match limit {
        Some(n) => full.select(&data::subset::stratified(&full, n, seed, "subset")),
        None => full.clone(),
    };
    if images.is_empty() {
        return Err(Error::Invalid(format!("{train}: no training images")));
    }
    Ok(TrainData { full, images, hash })
}

/// The fixed samples a generator draws after an epoch: the grid's labels
/// (GRID_PER_CLASS per class), the FID's (classes in turn) and the metadata
/// of the generated sets.
pub struct Probes {
    pub grid: Vec<u8>,
    pub fid: Vec<u8>,
    pub meta: SetMeta,
    image: ImageShape,
    num_classes: usize,
}

impl Probes {
    /// The probes of a generator of `image` and `num_classes` trained on `data`.
    pub fn new(data: &TrainData, (image, num_classes): (ImageShape, usize), fid_samples: usize) -> Probes {
        let k = num_classes;
        Probes {
            grid: (0..k).flat_map(|c| std::iter::repeat_n(c as u8, GRID_PER_CLASS)).collect(),
            fid: (0..fid_samples).map(|i| (i % k) as u8).collect(),
            meta: SetMeta::new(data.full.meta.dataset.clone(), data.full.meta.split.clone(), Source::Synthetic),
            image,
            num_classes,
        }
    }

    /// FID and recognition of the generated pixels of the FID's labels.
    pub fn measure(&self, f: &Features, px: Vec<u8>) -> Result<(f64, f64)> {
        measure(f, px, &self.fid, (self.image, self.num_classes), &self.meta)
    }

    /// Writes the grid of the generated pixels of the grid's labels, titled
    /// `title` and the FID when measured.
    pub fn write_grid(&self, px: Vec<u8>, (title, fid): (String, Option<f64>), path: &Path) -> Result<()> {
        let set = ImageSet::new(
            Path::new("<generated>"),
            px,
            self.grid.clone(),
            self.image,
            self.num_classes,
            self.meta.clone(),
        )?;
        let title = format!("{title}{}", fid.map(|f| format!(" FID {f:.1}")).unwrap_or_default());
        let opts = GridOptions { per_class: GRID_PER_CLASS, scale: 2, title: Some(title) };
        grid::write(&set, &opts, path)
    }
}

/// `best` = the lowest FID so far and its epoch: true when `fid` (of
/// `epoch`) beats it, and then `best` holds it.
pub fn improve(best: &mut Option<(usize, f64)>, epoch: usize, fid: Option<f64>) -> bool {
    match fid {
        Some(f) if best.is_none_or(|(_, b)| f < b) => {
            *best = Some((epoch, f));
            true
        }
        _ => false,
    }
}

/// A finished run's headline metrics (those measured) and its best FID,
/// into its provenance.
pub fn record_metrics(prov: &mut Provenance, metrics: &[(&str, Option<f64>)], best: Option<(usize, f64)>) {
    for &(k, v) in metrics {
        if let Some(v) = v {
            prov.metrics.push((k.into(), v));
        }
    }
    if let Some((e, f)) = best {
        prov.metrics.push(("best_fid".into(), f));
        prov.metrics.push(("best_fid_epoch".into(), e as f64));
    }
}

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
