//! The metadata contract of every artifact kind, typed. A safetensors
//! artifact's `__metadata__` is a flat string map; each key is spelled in
//! this file only, written by a `to_flat` and read back by a `from_flat` that
//! refuses a missing or malformed field with one line naming the file and the
//! key. Stages and reports use the typed structs, never the keys.
//!
//! A record (a section of keys) is present when its leading key is; within
//! a present record every required key must be there. Keys this build does
//! not know are kept in `other` and written back unchanged.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::data::mix::{Balance, Ratio};
use crate::data::subset::Subset;
use crate::data::Source;
use crate::error::{Error, Result};

/// A flat `__metadata__` map.
pub type Flat = BTreeMap<String, String>;

pub const KIND: &str = "synthmix.kind";
pub const FORMAT: &str = "synthmix.format";

/// Reads typed values from a flat map; errors name the file and the key.
struct Fields<'a> {
    path: &'a Path,
    map: &'a Flat,
    used: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(path: &'a Path, map: &'a Flat) -> Self {
        Fields { path, map, used: vec![KIND, FORMAT] }
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn text(&mut self, key: &'static str) -> Result<String> {
        self.used.push(key);
        self.map.get(key).cloned().ok_or_else(|| Error::format(self.path, format!("metadata key '{key}' is missing")))
    }

    fn opt_text(&mut self, key: &'static str) -> Option<String> {
        self.used.push(key);
        self.map.get(key).cloned()
    }

    fn parsed<T: FromStr>(&mut self, key: &'static str) -> Result<T> {
        let v = self.text(key)?;
        self.parse(key, &v)
    }

    fn opt<T: FromStr>(&mut self, key: &'static str) -> Result<Option<T>> {
        self.opt_text(key).map(|v| self.parse(key, &v)).transpose()
    }

    fn list<T: FromStr>(&mut self, key: &'static str) -> Result<Option<Vec<T>>> {
        self.opt_text(key).map(|v| v.split(',').map(|x| self.parse(key, x.trim())).collect()).transpose()
    }

    fn parse<T: FromStr>(&self, key: &str, v: &str) -> Result<T> {
        v.parse().map_err(|_| Error::format(self.path, format!("metadata key '{key}' has a malformed value '{v}'")))
    }

    /// Keys not read by any record: carried through unchanged.
    fn rest(&self) -> Flat {
        self.map.iter().filter(|(k, _)| !self.used.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Writes typed values into a flat map.
#[derive(Default)]
struct Put(Flat);

impl Put {
    fn put(&mut self, key: &str, v: impl Display) {
        self.0.insert(key.into(), v.to_string());
    }
    fn opt(&mut self, key: &str, v: Option<impl Display>) {
        if let Some(v) = v {
            self.put(key, v);
        }
    }
    fn list<T: Display>(&mut self, key: &str, v: &[T]) {
        self.put(key, v.iter().map(T::to_string).collect::<Vec<_>>().join(","));
    }
}

/// An image set's metadata, from the file's header only (no tensor data).
pub fn read_set_header(path: &Path) -> Result<SetMeta> {
    let flat = super::st::header_metadata(path)?;
    super::st::expect_kind(path, &flat, &["image-set"])?;
    Ok(SetMeta::from_flat(path, &flat)?.0)
}

/// A checkpoint's metadata, from the file's header only (no weights).
pub fn read_checkpoint_header(path: &Path) -> Result<CheckpointMeta> {
    let flat = super::st::header_metadata(path)?;
    super::st::expect_kind(path, &flat, &super::checkpoint::KINDS)?;
    CheckpointMeta::from_flat(path, &flat)
}

/// `flat` without the keys every artifact of the kind has (for `show`).
fn records_only(mut flat: Flat, core: &[&str]) -> Flat {
    flat.retain(|k, _| !core.contains(&k.as_str()) && k != KIND && k != FORMAT);
    flat
}

// ---------------------------------------------------------------- image sets

/// Where an imported set came from (`synthmix data import`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRecord {
    pub imported_from: String,
    /// `resize`, `crop` or `none`.
    pub fit: String,
}

/// A computed MNIST-C corruption.
#[derive(Debug, Clone, PartialEq)]
pub struct CorruptionRecord {
    pub corruption: String,
    /// `None` for a corruption without severity levels.
    pub severity: Option<u8>,
    pub seed: u64,
    pub origin: String,
}

/// The confidence filter a pool was drawn through (`synth-sample --judge`).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterRecord {
    pub judge: String,
    pub min_confidence: f64,
    /// Acceptance rate per class.
    pub acceptance: Vec<f64>,
    /// Per class, how many images were completed with rejects (`--shortfall
    /// fill`); `None` when no class needed any.
    pub filled: Option<Vec<usize>>,
}

/// How synthetic images were drawn: recorded by a pool and carried into
/// every mix made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledRecord {
    pub generator: PathBuf,
    pub generator_blake3: String,
    /// σ of the latent draw; `None` for the standard 1.
    pub latent_scale: Option<f64>,
    pub filter: Option<FilterRecord>,
}

/// What only a pool itself records about its draw.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawRecord {
    pub generator_arch: String,
    pub generator_epoch: usize,
    pub seed: u64,
}

/// How a mix-build output was made.
#[derive(Debug, Clone, PartialEq)]
pub enum MixKind {
    /// O:S at a constant total.
    Ratio(Ratio, Balance),
    /// Every real image, classes filled to balance with synthetic ones.
    Fill,
    /// A reduced real set (`--subset`); its rule is the set's [`SubsetRecord`].
    Subset,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MixRecord {
    pub kind: MixKind,
    pub real_count: usize,
    pub synthetic_count: usize,
    /// The draw's seed (a subset's is its [`SubsetRecord::seed`]).
    pub mix_seed: Option<u64>,
}

impl MixRecord {
    /// The O:S ratio: a subset is 1:0; a fill mix has none.
    pub fn ratio(&self) -> Option<Ratio> {
        match self.kind {
            MixKind::Ratio(r, _) => Some(r),
            MixKind::Subset => Some(Ratio { original: 1, synthetic: 0 }),
            MixKind::Fill => None,
        }
    }
}

/// The rule of a reduced real set; carried into every mix made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubsetRecord {
    pub rule: Subset,
    pub seed: u64,
    /// The classes a step rule reduced; `None` for other rules.
    pub minority_classes: Option<Vec<usize>>,
}

/// Descriptive metadata of an image set: the contract's required fields and
/// the records of what made it.
#[derive(Debug, Clone, PartialEq)]
pub struct SetMeta {
    pub dataset: String,
    pub split: String,
    pub source: Source,
    /// Class names of an imported set (the known datasets have their own).
    pub class_names: Option<Vec<String>>,
    pub import: Option<ImportRecord>,
    pub corruption: Option<CorruptionRecord>,
    /// The set a classifier's input shape was fitted from (`fitted_from`).
    pub fitted_from: Option<String>,
    pub sampled: Option<SampledRecord>,
    pub draw: Option<DrawRecord>,
    pub mix: Option<MixRecord>,
    pub subset: Option<SubsetRecord>,
    /// Keys this build does not know, kept as they were.
    pub other: Flat,
}

impl SetMeta {
    /// Metadata with the required fields and no records.
    pub fn new(dataset: impl Into<String>, split: impl Into<String>, source: Source) -> SetMeta {
        SetMeta {
            dataset: dataset.into(),
            split: split.into(),
            source,
            class_names: None,
            import: None,
            corruption: None,
            fitted_from: None,
            sampled: None,
            draw: None,
            mix: None,
            subset: None,
            other: Flat::new(),
        }
    }

    /// The flat map written into an image-set file.
    pub fn to_flat(&self, num_classes: usize) -> Flat {
        let mut p = Put(self.other.clone());
        p.put(KIND, "image-set");
        p.put(FORMAT, super::FORMAT_VERSION);
        p.put("dataset", &self.dataset);
        p.put("split", &self.split);
        p.put("source", self.source.as_str());
        p.put("num_classes", num_classes);
        if let Some(names) = &self.class_names {
            p.put("class_names", serde_json::to_string(names).expect("strings serialise"));
        }
        if let Some(i) = &self.import {
            p.put("imported_from", &i.imported_from);
            p.put("import_fit", &i.fit);
        }
        if let Some(c) = &self.corruption {
            p.put("corruption", &c.corruption);
            p.opt("severity", c.severity);
            p.put("corruption_seed", c.seed);
            p.put("corruption_origin", &c.origin);
        }
        p.opt("fitted_from", self.fitted_from.as_ref());
        if let Some(s) = &self.sampled {
            put_sampled(&mut p, s);
        }
        if let Some(d) = &self.draw {
            p.put("generator_arch", &d.generator_arch);
            p.put("generator_epoch", d.generator_epoch);
            p.put("seed", d.seed);
        }
        if let Some(m) = &self.mix {
            put_mix(&mut p, m);
        }
        if let Some(s) = &self.subset {
            p.put("subset", &s.rule);
            p.put("subset_seed", s.seed);
            if let Some(m) = &s.minority_classes {
                p.list("minority_classes", m);
            }
        }
        p.0
    }

    /// The records' keys and values (all but the required fields), for `show`.
    pub fn records_flat(&self) -> Flat {
        records_only(self.to_flat(0), &["dataset", "split", "source", "num_classes"])
    }

    /// Reads an image set's metadata and its class count; `path` names the file.
    pub fn from_flat(path: &Path, flat: &Flat) -> Result<(SetMeta, usize)> {
        let mut f = Fields::new(path, flat);
        let source_txt = f.text("source")?;
        let source = Source::parse(&source_txt).ok_or_else(|| {
            Error::format(path, format!("metadata source '{source_txt}' is not real|synthetic|mix|corrupted"))
        })?;
        let mut meta = SetMeta::new(f.text("dataset")?, f.text("split")?, source);
        let num_classes = f.parsed("num_classes")?;
        meta.class_names = f
            .opt_text("class_names")
            .map(|j| {
                serde_json::from_str(&j)
                    .map_err(|_| Error::format(path, "metadata key 'class_names' is not a JSON list of strings"))
            })
            .transpose()?;
        meta.import = read_import(&mut f)?;
        meta.corruption = read_corruption(&mut f)?;
        meta.fitted_from = f.opt_text("fitted_from");
        meta.sampled = read_sampled(&mut f)?;
        meta.draw = read_draw(&mut f)?;
        meta.subset = read_subset(&mut f)?;
        meta.mix = read_mix(&mut f, meta.subset.is_some())?;
        meta.other = f.rest();
        Ok((meta, num_classes))
    }

    /// The O:S ratio of the set's images: 1:0 for real and corrupted sets,
    /// 0:1 for a pool, the mix's own for a mix (`None` for a fill mix).
    pub fn ratio(&self) -> Option<Ratio> {
        match self.source {
            Source::Real | Source::Corrupted => Some(Ratio { original: 1, synthetic: 0 }),
            Source::Synthetic => Some(Ratio { original: 0, synthetic: 1 }),
            Source::Mix => self.mix.as_ref().and_then(MixRecord::ratio),
        }
    }

    /// Synthetic images in the set (0 for real sets; a pool's are all).
    pub fn synthetic_count(&self) -> Option<usize> {
        match self.source {
            Source::Real | Source::Corrupted => Some(0),
            Source::Synthetic => None,
            Source::Mix => self.mix.as_ref().map(|m| m.synthetic_count),
        }
    }
}

fn put_sampled(p: &mut Put, s: &SampledRecord) {
    p.put("generator", s.generator.display());
    p.put("generator_blake3", &s.generator_blake3);
    p.opt("latent_scale", s.latent_scale);
    if let Some(f) = &s.filter {
        p.put("judge", &f.judge);
        p.put("min_confidence", f.min_confidence);
        let rates: Vec<String> = f.acceptance.iter().map(|r| format!("{r:.4}")).collect();
        p.list("acceptance", &rates);
        if let Some(filled) = &f.filled {
            p.list("filled", filled);
        }
    }
}

fn put_mix(p: &mut Put, m: &MixRecord) {
    match &m.kind {
        MixKind::Ratio(r, b) => {
            p.put("ratio", r);
            p.put("balance", b.name());
        }
        MixKind::Fill => p.put("mode", "fill"),
        MixKind::Subset => p.put("ratio", "1:0"),
    }
    p.put("real_count", m.real_count);
    p.put("synthetic_count", m.synthetic_count);
    p.opt("mix_seed", m.mix_seed);
}

fn read_import(f: &mut Fields) -> Result<Option<ImportRecord>> {
    if !f.has("imported_from") {
        return Ok(None);
    }
    Ok(Some(ImportRecord { imported_from: f.text("imported_from")?, fit: f.text("import_fit")? }))
}

fn read_corruption(f: &mut Fields) -> Result<Option<CorruptionRecord>> {
    if !f.has("corruption") {
        return Ok(None);
    }
    Ok(Some(CorruptionRecord {
        corruption: f.text("corruption")?,
        severity: f.opt("severity")?,
        seed: f.parsed("corruption_seed")?,
        origin: f.text("corruption_origin")?,
    }))
}

fn read_sampled(f: &mut Fields) -> Result<Option<SampledRecord>> {
    if !f.has("generator") {
        return Ok(None);
    }
    let filter = if f.has("judge") {
        Some(FilterRecord {
            judge: f.text("judge")?,
            min_confidence: f.parsed("min_confidence")?,
            acceptance: f.list("acceptance")?.ok_or_else(|| missing(f.path, "acceptance"))?,
            filled: f.list("filled")?,
        })
    } else {
        None
    };
    Ok(Some(SampledRecord {
        generator: PathBuf::from(f.text("generator")?),
        generator_blake3: f.text("generator_blake3")?,
        latent_scale: f.opt("latent_scale")?,
        filter,
    }))
}

fn read_draw(f: &mut Fields) -> Result<Option<DrawRecord>> {
    if !f.has("generator_arch") {
        return Ok(None);
    }
    Ok(Some(DrawRecord {
        generator_arch: f.text("generator_arch")?,
        generator_epoch: f.parsed("generator_epoch")?,
        seed: f.parsed("seed")?,
    }))
}

fn read_subset(f: &mut Fields) -> Result<Option<SubsetRecord>> {
    if !f.has("subset") {
        return Ok(None);
    }
    Ok(Some(SubsetRecord {
        rule: f.parsed("subset")?,
        seed: f.parsed("subset_seed")?,
        minority_classes: f.list("minority_classes")?,
    }))
}

/// A mix's record: `mode = fill`, or a `ratio` with its `balance`, or a
/// subset's `ratio = 1:0` (no balance, the set carrying its subset rule).
fn read_mix(f: &mut Fields, has_subset: bool) -> Result<Option<MixRecord>> {
    if !f.has("ratio") && !f.has("mode") {
        return Ok(None);
    }
    let kind = match f.opt_text("mode").as_deref() {
        Some("fill") => MixKind::Fill,
        Some(other) => {
            return Err(Error::format(f.path, format!("metadata key 'mode' has a malformed value '{other}'")))
        }
        None => {
            let ratio: Ratio = f.parsed("ratio")?;
            match f.opt_text("balance") {
                Some(b) => MixKind::Ratio(ratio, f.parse("balance", &b)?),
                None if has_subset && ratio == (Ratio { original: 1, synthetic: 0 }) => MixKind::Subset,
                None => return Err(missing(f.path, "balance")),
            }
        }
    };
    Ok(Some(MixRecord {
        kind,
        real_count: f.parsed("real_count")?,
        synthetic_count: f.parsed("synthetic_count")?,
        mix_seed: f.opt("mix_seed")?,
    }))
}

fn missing(path: &Path, key: &str) -> Error {
    Error::format(path, format!("metadata key '{key}' is missing"))
}

// --------------------------------------------------------------- checkpoints

/// How a classifier was trained (`clf-train`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierRecord {
    /// Its training set: DATASET:SPLIT or an image-set path.
    pub train: String,
    pub train_loss: f64,
    pub seed: u64,
    pub val_accuracy: Option<f64>,
    /// `oversample` or `class-weight`; `None` for no rebalancing.
    pub rebalance: Option<String>,
    /// The checkpoint it was initialised from (two-stage training).
    pub init: Option<PathBuf>,
    pub synthetic_weight: Option<f64>,
    /// The pool recycled from, and every how many epochs.
    pub recycle: Option<(String, usize)>,
}

/// The FID and recognition of a generator checkpoint, and their features network.
#[derive(Debug, Clone, PartialEq)]
pub struct FidRecord {
    pub fid: f64,
    pub recognition: f64,
    pub fid_samples: usize,
    pub features: String,
    pub features_blake3: String,
}

/// How a GAN was trained (`gan-train`), on both its checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct GanRecord {
    pub train: String,
    pub seed: u64,
    pub preset: String,
    pub lr_d: f64,
    pub lr_g: f64,
    pub fid: Option<FidRecord>,
}

/// How a diffusion generator was trained (`dpm-train`); its leading key is
/// `ema_decay` (the checkpoint holds the EMA weights).
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionRecord {
    pub train: String,
    pub seed: u64,
    pub lr: f64,
    pub ema_decay: f64,
    /// Probability of training a step's label as the null class (CFG).
    pub label_dropout: f64,
    pub fid: Option<FidRecord>,
}

/// What trained a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Trained {
    Classifier(ClassifierRecord),
    Gan(GanRecord),
    Diffusion(DiffusionRecord),
    /// Imported from elsewhere (`imported_from`), e.g. a PyTorch generator.
    Imported(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointMeta {
    /// `generator`, `discriminator` or `classifier`.
    pub kind: String,
    pub arch: String,
    /// The architecture's config, serialised as JSON.
    pub config: String,
    pub dataset: String,
    pub epoch: usize,
    pub trained: Trained,
    /// Keys this build does not know, kept as they were.
    pub other: Flat,
}

impl CheckpointMeta {
    pub fn to_flat(&self) -> Flat {
        let mut p = Put(self.other.clone());
        p.put(KIND, &self.kind);
        p.put(FORMAT, super::FORMAT_VERSION);
        p.put("arch", &self.arch);
        p.put("config", &self.config);
        p.put("dataset", &self.dataset);
        p.put("epoch", self.epoch);
        match &self.trained {
            Trained::Classifier(c) => put_classifier(&mut p, c),
            Trained::Gan(g) => put_gan(&mut p, g),
            Trained::Diffusion(d) => put_diffusion(&mut p, d),
            Trained::Imported(from) => p.put("imported_from", from),
        }
        p.0
    }

    /// The training record's keys and values, for `show`.
    pub fn records_flat(&self) -> Flat {
        records_only(self.to_flat(), &["arch", "config", "dataset", "epoch"])
    }

    pub fn from_flat(path: &Path, flat: &Flat) -> Result<CheckpointMeta> {
        let mut f = Fields::new(path, flat);
        let kind = f.text(KIND)?;
        let (arch, config, dataset, epoch) =
            (f.text("arch")?, f.text("config")?, f.text("dataset")?, f.parsed("epoch")?);
        let trained = if let Some(from) = f.opt_text("imported_from") {
            Trained::Imported(from)
        } else if kind == "classifier" {
            Trained::Classifier(read_classifier(&mut f)?)
        } else if f.has("ema_decay") {
            Trained::Diffusion(read_diffusion(&mut f)?)
        } else {
            Trained::Gan(read_gan(&mut f)?)
        };
        Ok(CheckpointMeta { kind, arch, config, dataset, epoch, trained, other: f.rest() })
    }

    pub fn classifier(&self) -> Option<&ClassifierRecord> {
        match &self.trained {
            Trained::Classifier(c) => Some(c),
            _ => None,
        }
    }

    pub fn gan(&self) -> Option<&GanRecord> {
        match &self.trained {
            Trained::Gan(g) => Some(g),
            _ => None,
        }
    }

    pub fn diffusion(&self) -> Option<&DiffusionRecord> {
        match &self.trained {
            Trained::Diffusion(d) => Some(d),
            _ => None,
        }
    }

    /// The generator's FID record, of either family.
    pub fn fid(&self) -> Option<&FidRecord> {
        match &self.trained {
            Trained::Gan(g) => g.fid.as_ref(),
            Trained::Diffusion(d) => d.fid.as_ref(),
            _ => None,
        }
    }

    /// The training set named in the record (none for an imported checkpoint).
    pub fn train(&self) -> Option<&str> {
        match &self.trained {
            Trained::Classifier(c) => Some(&c.train),
            Trained::Gan(g) => Some(&g.train),
            Trained::Diffusion(d) => Some(&d.train),
            Trained::Imported(_) => None,
        }
    }
}

fn put_classifier(p: &mut Put, c: &ClassifierRecord) {
    p.put("train", &c.train);
    p.put("train_loss", format!("{:.6}", c.train_loss));
    p.put("seed", c.seed);
    p.opt("val_accuracy", c.val_accuracy.map(|a| format!("{a:.6}")));
    p.opt("rebalance", c.rebalance.as_ref());
    p.opt("init", c.init.as_ref().map(|i| i.display()));
    p.opt("synthetic_weight", c.synthetic_weight);
    if let Some((pool, every)) = &c.recycle {
        p.put("recycle", pool);
        p.put("recycle_every", every);
    }
}

fn read_classifier(f: &mut Fields) -> Result<ClassifierRecord> {
    let recycle = match f.opt_text("recycle") {
        Some(pool) => Some((pool, f.parsed("recycle_every")?)),
        None => None,
    };
    Ok(ClassifierRecord {
        train: f.text("train")?,
        train_loss: f.parsed("train_loss")?,
        seed: f.parsed("seed")?,
        val_accuracy: f.opt("val_accuracy")?,
        rebalance: f.opt_text("rebalance"),
        init: f.opt_text("init").map(PathBuf::from),
        synthetic_weight: f.opt("synthetic_weight")?,
        recycle,
    })
}

fn put_gan(p: &mut Put, g: &GanRecord) {
    p.put("train", &g.train);
    p.put("seed", g.seed);
    p.put("preset", &g.preset);
    p.put("lr_d", g.lr_d);
    p.put("lr_g", g.lr_g);
    put_fid(p, g.fid.as_ref());
}

fn put_fid(p: &mut Put, fid: Option<&FidRecord>) {
    if let Some(m) = fid {
        p.put("fid", format!("{:.4}", m.fid));
        p.put("recognition", format!("{:.4}", m.recognition));
        p.put("fid_samples", m.fid_samples);
        p.put("features", &m.features);
        p.put("features_blake3", &m.features_blake3);
    }
}

fn read_fid(f: &mut Fields) -> Result<Option<FidRecord>> {
    if !f.has("fid") {
        return Ok(None);
    }
    Ok(Some(FidRecord {
        fid: f.parsed("fid")?,
        recognition: f.parsed("recognition")?,
        fid_samples: f.parsed("fid_samples")?,
        features: f.text("features")?,
        features_blake3: f.text("features_blake3")?,
    }))
}

fn put_diffusion(p: &mut Put, d: &DiffusionRecord) {
    p.put("train", &d.train);
    p.put("seed", d.seed);
    p.put("lr", d.lr);
    p.put("ema_decay", d.ema_decay);
    p.put("label_dropout", d.label_dropout);
    put_fid(p, d.fid.as_ref());
}

fn read_diffusion(f: &mut Fields) -> Result<DiffusionRecord> {
    let fid = read_fid(f)?;
    Ok(DiffusionRecord {
        train: f.text("train")?,
        seed: f.parsed("seed")?,
        lr: f.parsed("lr")?,
        ema_decay: f.parsed("ema_decay")?,
        label_dropout: f.parsed("label_dropout")?,
        fid,
    })
}

fn read_gan(f: &mut Fields) -> Result<GanRecord> {
    let fid = read_fid(f)?;
    Ok(GanRecord {
        train: f.text("train")?,
        seed: f.parsed("seed")?,
        preset: f.text("preset")?,
        lr_d: f.parsed("lr_d")?,
        lr_g: f.parsed("lr_g")?,
        fid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_meta() -> SetMeta {
        let mut m = SetMeta::new("mnist", "train", Source::Synthetic);
        m.sampled = Some(SampledRecord {
            generator: "g.safetensors".into(),
            generator_blake3: "ab".into(),
            latent_scale: Some(0.75),
            filter: Some(FilterRecord {
                judge: "j.safetensors".into(),
                min_confidence: 0.9,
                acceptance: vec![0.5, 0.125],
                filled: Some(vec![0, 3]),
            }),
        });
        m.draw = Some(DrawRecord { generator_arch: "mlp".into(), generator_epoch: 3, seed: 7 });
        m
    }

    #[test]
    fn image_set_records_round_trip() {
        let mut mix = SetMeta::new("mnist", "train", Source::Mix);
        mix.mix = Some(MixRecord {
            kind: MixKind::Ratio(Ratio { original: 5, synthetic: 1 }, Balance::Stratified),
            real_count: 50,
            synthetic_count: 10,
            mix_seed: Some(2),
        });
        mix.subset =
            Some(SubsetRecord { rule: "step:0.1:0,1".parse().unwrap(), seed: 1, minority_classes: Some(vec![0, 1]) });
        mix.other.insert("note".into(), "kept".into());
        let mut sub = SetMeta::new("mnist", "train", Source::Mix);
        sub.subset = Some(SubsetRecord { rule: "fraction:0.1".parse().unwrap(), seed: 0, minority_classes: None });
        sub.mix = Some(MixRecord { kind: MixKind::Subset, real_count: 6, synthetic_count: 0, mix_seed: None });
        for m in [pool_meta(), mix, sub] {
            let flat = m.to_flat(10);
            assert_eq!(SetMeta::from_flat(Path::new("x"), &flat).unwrap(), (m, 10));
        }
    }

    #[test]
    fn a_missing_or_malformed_field_names_the_file_and_key() {
        let flat = pool_meta().to_flat(10);
        for key in ["generator_blake3", "min_confidence", "seed", "dataset", "num_classes"] {
            let mut f = flat.clone();
            f.remove(key);
            let e = SetMeta::from_flat(Path::new("pool.safetensors"), &f).unwrap_err().to_string();
            assert!(e.contains("pool.safetensors") && e.contains(&format!("'{key}'")) && !e.contains('\n'), "{e}");
        }
        let mut f = flat.clone();
        f.insert("acceptance".into(), "0.5,x".into());
        let e = SetMeta::from_flat(Path::new("pool.safetensors"), &f).unwrap_err().to_string();
        assert!(e.contains("'acceptance'") && e.contains("malformed"), "{e}");
    }

    #[test]
    fn checkpoint_records_round_trip() {
        let c = CheckpointMeta {
            kind: "classifier".into(),
            arch: "simple-cnn".into(),
            config: "{}".into(),
            dataset: "mnist".into(),
            epoch: 2,
            trained: Trained::Classifier(ClassifierRecord {
                train: "mnist:train".into(),
                train_loss: 0.25,
                seed: 3,
                val_accuracy: Some(0.5),
                rebalance: None,
                init: Some("a.safetensors".into()),
                synthetic_weight: Some(0.25),
                recycle: Some(("p.safetensors".into(), 2)),
            }),
            other: Flat::new(),
        };
        let flat = c.to_flat();
        assert_eq!(CheckpointMeta::from_flat(Path::new("c"), &flat).unwrap(), c);
        let fid = FidRecord {
            fid: 1.5,
            recognition: 0.75,
            fid_samples: 10,
            features: "f".into(),
            features_blake3: "b".into(),
        };
        let d = CheckpointMeta {
            kind: "generator".into(),
            arch: "unet".into(),
            trained: Trained::Diffusion(DiffusionRecord {
                train: "mnist:train".into(),
                seed: 1,
                lr: 2e-4,
                ema_decay: 0.999,
                label_dropout: 0.1,
                fid: Some(fid),
            }),
            ..c.clone()
        };
        assert_eq!(CheckpointMeta::from_flat(Path::new("d"), &d.to_flat()).unwrap(), d);
        assert_eq!(d.fid().map(|f| f.fid), Some(1.5));
        let mut f = flat;
        f.remove("seed");
        let e = CheckpointMeta::from_flat(Path::new("c.safetensors"), &f).unwrap_err().to_string();
        assert!(e.contains("c.safetensors") && e.contains("'seed'"), "{e}");
    }
}
