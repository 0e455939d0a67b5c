//! `clf-train`: trains a classifier on an image set (or a `DATASET:SPLIT`).
//!
//! Each epoch: a seeded shuffle, mini-batches of `batch_size`, cross-entropy,
//! Adam. After each epoch the checkpoint is rewritten atomically and a row is
//! appended to the CSV log, so a diverging run (NaN loss) stops with the last
//! good checkpoint in place.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::clf_resume::{self, ClfState};
use super::optim::{Adam, AdamConfig};
use crate::artifact::checkpoint::{self, CheckpointMeta, ClassifierRecord, Trained};
use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::data::{self, subset, DataOptions, ImageSet};
use crate::error::{Error, Result};
use crate::metrics::Confusion;
use crate::model::{self, Classifier, ClassifierArch, ClassifierConfig};
use crate::ops::ConvAlgorithm;
use crate::{progress, rng};

/// How training counters a class-imbalanced set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Rebalance {
    /// Train on the set as it is.
    #[default]
    None,
    /// Every epoch, repeat each class's images until it has as many as the
    /// largest class (whole copies, the rest a seeded draw without repeats).
    Oversample,
    /// Weight each sample's loss by N / (K · n_class) (scikit-learn's
    /// "balanced" weights).
    ClassWeight,
}

impl Rebalance {
    pub fn is_none(&self) -> bool {
        *self == Rebalance::None
    }

    pub fn name(&self) -> &'static str {
        match self {
            Rebalance::None => "none",
            Rebalance::Oversample => "oversample",
            Rebalance::ClassWeight => "class-weight",
        }
    }
}

/// Every parameter of a `clf-train` run; saved in its provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClfTrainParams {
    /// Training set: image-set path or `DATASET:SPLIT`.
    pub train: String,
    pub arch: ClassifierArch,
    pub epochs: usize,
    pub batch_size: usize,
    pub adam: AdamConfig,
    pub seed: u64,
    /// Fraction of the training set held out for validation (seeded, stratified).
    pub val_fraction: f64,
    /// Train on a seeded, stratified subset of this many images.
    pub limit: Option<usize>,
    /// Optional test set scored after every epoch (logged, not used for training).
    pub eval_test: Option<String>,
    pub out: PathBuf,
    #[serde(default, skip_serializing_if = "Rebalance::is_none")]
    pub rebalance: Rebalance,
    /// Train on exactly this many images (epochs follow from the set's size,
    /// the last one cut short) instead of `epochs` whole passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<usize>,
    /// Start from this classifier's weights (two-stage training: pre-train
    /// on synthetic, fine-tune on real) instead of a fresh initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Loss weight of the synthetic items of a marked mix (real items weigh 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic_weight: Option<f64>,
    /// Dataset recycling: fresh synthetic images from a pool every few epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recycle: Option<RecycleParams>,
    /// The conv layers' CPU kernels (recorded in the model's config).
    #[serde(default, skip_serializing_if = "ConvAlgorithm::is_default")]
    pub conv: ConvAlgorithm,
    /// Continue an unfinished run from its `STEM.resume.safetensors`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume: bool,
    /// Dropout after each conv block instead of the architecture's (deep CNN only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout_conv: Option<f32>,
    /// Dropout before the output layer instead of the architecture's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout_head: Option<f32>,
    /// 3×3 convs per block instead of the architecture's 2 (deep CNN only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convs_per_block: Option<usize>,
}

/// `--recycle POOL --recycle-every K`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecycleParams {
    /// A synthetic image set, several times the mix's synthetic part.
    pub pool: String,
    pub every: usize,
}

/// Dataset recycling: every `every` epochs the synthetic items of the
/// training set take fresh images of their class from a pool. Round r ≥ 1
/// gives the j-th synthetic item of class c the pool image
/// `perm_c[((r − 1)·n_c + j) mod |pool_c|]`, `perm_c` a seeded permutation of
/// the pool's class-c images, so a seed fixes every epoch's images and the
/// pool is walked through before any image comes back.
pub struct Recycler {
    pool: ImageSet,
    by_class: Vec<Vec<usize>>,
    every: usize,
}

impl Recycler {
    /// Checks that the pool has images of every class the synthetic items need.
    pub fn new(pool: ImageSet, every: usize, seed: u64, set: &ImageSet, flags: &[u8]) -> Result<Self> {
        if pool.shape != set.shape || pool.num_classes != set.num_classes {
            return Err(Error::Invalid(format!(
                "--recycle: the pool's images ({}, {} classes) do not match the training set's ({}, {} classes)",
                pool.shape, pool.num_classes, set.shape, set.num_classes
            )));
        }
        let mut by_class = pool.indices_by_class();
        for (c, idx) in by_class.iter_mut().enumerate() {
            idx.shuffle(&mut rng::stream(seed, &format!("recycle/class{c}")));
            let needed = (0..set.len()).any(|i| flags[i] == 1 && set.labels[i] as usize == c);
            if needed && idx.is_empty() {
                return Err(Error::Invalid(format!("--recycle: the pool has no image of class {c}")));
            }
        }
        Ok(Recycler { pool, by_class, every: every.max(1) })
    }

    /// The round of `epoch` (1-based): 0 keeps the set's own images.
    pub fn round(&self, epoch: usize) -> usize {
        (epoch - 1) / self.every
    }

    /// Writes round `round`'s pool images into the synthetic items of `set`.
    pub fn refresh(&self, set: &mut ImageSet, flags: &[u8], round: usize) {
        let p = set.shape.pixels();
        let n_c: Vec<usize> = (0..set.num_classes)
            .map(|c| (0..set.len()).filter(|&i| flags[i] == 1 && set.labels[i] as usize == c).count())
            .collect();
        let mut j = vec![0usize; set.num_classes];
        for i in 0..set.len() {
            if flags[i] != 1 {
                continue;
            }
            let c = set.labels[i] as usize;
            let src = &self.by_class[c];
            let k = src[((round - 1) * n_c[c] + j[c]) % src.len()];
            j[c] += 1;
            set.images[i * p..(i + 1) * p].copy_from_slice(self.pool.image(k));
        }
    }
}

/// The synthetic flags of the training items `pool` (indices into the file's
/// set), for `--synthetic-weight` and `--recycle`; the set must be a marked mix.
fn synthetic_flags_of(train: &str, pool: &[usize]) -> Result<Vec<u8>> {
    let path = Path::new(train);
    let flags = if path.is_file() { crate::artifact::image_set::read_synthetic_flags(path)? } else { None };
    let flags = flags.ok_or_else(|| {
        Error::Invalid(format!(
            "--synthetic-weight and --recycle: {train} does not record which items are synthetic (build it with mix-build --mark-synthetic)"
        ))
    })?;
    Ok(pool.iter().map(|&i| flags[i]).collect())
}

/// Reads the `--init` checkpoint; its architecture, input and classes must be `config`'s.
fn init_checkpoint(path: &Path, config: &ClassifierConfig) -> Result<checkpoint::Checkpoint> {
    let ck = checkpoint::read(path, Some("classifier"))?;
    let theirs: ClassifierConfig = serde_json::from_str(&ck.meta.config)
        .map_err(|e| Error::format(path, format!("config is not a classifier config: {e}")))?;
    if theirs != *config {
        return Err(Error::Invalid(format!(
            "--init {}: a {} for {} classes of {}, but this run trains a {} for {} classes of {}",
            path.display(),
            theirs.arch.name(),
            theirs.num_classes,
            theirs.input,
            config.arch.name(),
            config.num_classes,
            config.input
        )));
    }
    Ok(ck)
}

/// One epoch's visiting order: every index once (or, oversampled, each
/// class brought up to the largest class's count), shuffled by the seed.
fn epoch_order(set: &ImageSet, rebalance: Rebalance, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = match rebalance {
        Rebalance::Oversample => {
            let by_class = set.indices_by_class();
            let top = by_class.iter().map(Vec::len).max().unwrap_or(0);
            let mut r = rng::stream(seed, &format!("oversample/epoch{epoch}"));
            let mut v = Vec::with_capacity(top * by_class.len());
            for idx in by_class.into_iter().filter(|i| !i.is_empty()) {
                for _ in 0..top / idx.len() {
                    v.extend_from_slice(&idx);
                }
                v.extend(idx.choose_multiple(&mut r, top % idx.len()).copied());
            }
            v
        }
        _ => (0..set.len()).collect(),
    };
    order.shuffle(&mut rng::stream(seed, &format!("shuffle/epoch{epoch}")));
    order
}

/// Per-class loss weights N / (K · n_c) for `--rebalance class-weight` (0 for an absent class).
pub fn class_weights(set: &ImageSet) -> Vec<f32> {
    let hist = set.class_histogram();
    let k = hist.iter().filter(|&&n| n > 0).count().max(1);
    hist.iter().map(|&n| if n == 0 { 0.0 } else { set.len() as f32 / (k * n) as f32 }).collect()
}

/// What a run ends with.
#[derive(Debug, Clone, Serialize)]
pub struct ClfTrainReport {
    pub epochs: Vec<EpochLog>,
    pub train_images: usize,
    pub val_images: usize,
    pub wall_time_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub images_per_s: f64,
    pub wall_s: f64,
}

/// One optimisation step on a batch: forward (training mode), cross-entropy,
/// backward, Adam. Returns the loss and the logits. A non-finite loss is an
/// error before any weight changes.
pub fn train_step(model: &Classifier, opt: &mut Adam, x: &Tensor, y: &Tensor) -> Result<(f32, Tensor)> {
    train_step_weighted(model, opt, x, y, None)
}

/// [`train_step`] with a loss weight per sample (`w`, shape `[batch]`): the
/// weighted mean `Σ wᵢ·CEᵢ / Σ wᵢ`, as PyTorch's `CrossEntropyLoss(weight=…)`.
pub fn train_step_weighted(
    model: &Classifier,
    opt: &mut Adam,
    x: &Tensor,
    y: &Tensor,
    w: Option<&Tensor>,
) -> Result<(f32, Tensor)> {
    let logits = model.forward(x, true)?;
    let loss = match w {
        None => candle_nn::loss::cross_entropy(&logits, y)?,
        Some(w) => {
            let logp = candle_nn::ops::log_softmax(&logits, 1)?;
            let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
            // A batch of zero-weight items only (e.g. all synthetic at weight 0) contributes nothing.
            let total = w.sum_all()?.to_scalar::<f32>()?;
            (picked.mul(w)?.sum_all()?.neg()? / if total > 0.0 { total as f64 } else { 1.0 })?
        }
    };
    let loss_v = loss.to_scalar::<f32>()?;
    super::check_finite(loss_v, "classifier")?;
    opt.step(&loss.backward()?)?;
    Ok((loss_v, logits))
}

/// The data a `clf-train` run trains and scores on, fitted to its model.
struct TrainData {
    /// The training set's dataset name (for the checkpoint).
    dataset: String,
    config: ClassifierConfig,
    train_set: ImageSet,
    val_set: Option<ImageSet>,
    test_set: Option<ImageSet>,
    /// Per training item, 1 when synthetic (with --synthetic-weight or --recycle).
    synthetic_flags: Option<Vec<u8>>,
    recycler: Option<Recycler>,
}

fn check_params(params: &ClfTrainParams) -> Result<()> {
    if params.batch_size == 0 || params.epochs == 0 {
        return Err(Error::Invalid("--batch-size and --epochs must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&params.val_fraction) {
        return Err(Error::Invalid(format!("--val-fraction {} is outside [0, 1)", params.val_fraction)));
    }
    for (flag, p) in [("--dropout-conv", params.dropout_conv), ("--dropout-head", params.dropout_head)] {
        if let Some(p) = p.filter(|p| !(0.0..1.0).contains(p)) {
            return Err(Error::Invalid(format!("{flag} {p} is outside [0, 1)")));
        }
    }
    if params.dropout_conv.is_some() && params.arch != ClassifierArch::DeepCnn {
        return Err(Error::Invalid(format!("--dropout-conv: {} has no dropout after its convs", params.arch.name())));
    }
    if params.convs_per_block.is_some() && params.arch != ClassifierArch::DeepCnn {
        return Err(Error::Invalid(format!("--convs-per-block: {} has no conv blocks", params.arch.name())));
    }
    Ok(())
}

/// Loads the training set (and the recycling pool and --eval-test set),
/// builds the model's config for its shape, and holds out the validation split.
fn load_data(params: &ClfTrainParams, data_opts: &DataOptions, prov: &mut Provenance) -> Result<TrainData> {
    let full = data::load_set(&params.train, data_opts)?;
    prov.inputs.push(FileRecord { role: "train".into(), path: params.train.clone(), blake3: full.content_hash()? });
    let mut config = ClassifierConfig::paper(params.arch);
    config.num_classes = full.num_classes;
    config.conv = params.conv;
    config.dropout_conv = params.dropout_conv.unwrap_or(config.dropout_conv);
    config.dropout_head = params.dropout_head.unwrap_or(config.dropout_head);
    config.convs_per_block = params.convs_per_block.unwrap_or(config.convs_per_block);
    // A set that cannot be padded to the architecture's input (a user's
    // 3×64×64 images) gets the architecture built for its own shape.
    if data::check_fit(full.shape, config.input).is_err() {
        tracing::info!("{} images: building {} for that input", full.shape, params.arch.name());
        config.input = full.shape;
    }
    let fitted = data::fit_to_shape(&full, config.input)
        .map_err(|e| Error::Invalid(format!("--train {} does not fit --arch {:?}: {e}", params.train, params.arch)))?;
    let (pool, val_idx) = split_validation(&fitted, params);
    let train_set = fitted.select(&pool);
    if train_set.is_empty() {
        return Err(Error::Invalid(format!("{}: no training images left", params.train)));
    }
    let synthetic_flags = match params.synthetic_weight.is_some() || params.recycle.is_some() {
        true => Some(synthetic_flags_of(&params.train, &pool)?),
        false => None,
    };
    let recycler = match (&params.recycle, &synthetic_flags) {
        (Some(r), Some(flags)) => Some(load_recycler(r, &config, params.seed, &train_set, flags, data_opts, prov)?),
        _ => None,
    };
    let test_set = params.eval_test.as_ref().map(|spec| load_eval_test(spec, &config, data_opts, prov)).transpose()?;
    Ok(TrainData {
        dataset: full.meta.dataset.clone(),
        config,
        val_set: (!val_idx.is_empty()).then(|| fitted.select(&val_idx)),
        train_set,
        test_set,
        synthetic_flags,
        recycler,
    })
}

/// The training items (after --limit) and the stratified validation items.
fn split_validation(fitted: &ImageSet, params: &ClfTrainParams) -> (Vec<usize>, Vec<usize>) {
    let mut pool: Vec<usize> = match params.limit {
        Some(n) => subset::stratified(fitted, n, params.seed, "subset"),
        None => (0..fitted.len()).collect(),
    };
    let n_val = (pool.len() as f64 * params.val_fraction).round() as usize;
    if n_val == 0 {
        return (pool, vec![]);
    }
    let chosen = subset::stratified(&fitted.select(&pool), n_val, params.seed, "validation");
    let val: Vec<usize> = chosen.iter().map(|&i| pool[i]).collect();
    let taken: std::collections::HashSet<usize> = val.iter().copied().collect();
    pool.retain(|i| !taken.contains(i));
    (pool, val)
}

fn load_recycler(
    r: &RecycleParams,
    config: &ClassifierConfig,
    seed: u64,
    train_set: &ImageSet,
    flags: &[u8],
    data_opts: &DataOptions,
    prov: &mut Provenance,
) -> Result<Recycler> {
    let pool_set = data::load_set(&r.pool, data_opts)?;
    prov.inputs.push(FileRecord { role: "recycle".into(), path: r.pool.clone(), blake3: pool_set.content_hash()? });
    let fitted_pool = data::fit_to_shape(&pool_set, config.input)
        .map_err(|e| Error::Invalid(format!("--recycle {}: {e}", r.pool)))?
        .into_owned();
    Recycler::new(fitted_pool, r.every, seed, train_set, flags)
}

fn load_eval_test(
    spec: &str,
    config: &ClassifierConfig,
    data_opts: &DataOptions,
    prov: &mut Provenance,
) -> Result<ImageSet> {
    let t = data::load_set(spec, data_opts)?;
    data::check_fit(t.shape, config.input)
        .map_err(|e| Error::Invalid(format!("--eval-test {spec} does not fit the classifier: {e}")))?;
    prov.inputs.push(FileRecord { role: "eval-test".into(), path: spec.to_string(), blake3: t.content_hash()? });
    Ok(t)
}

/// Per training item: its class weight times, if synthetic, the synthetic
/// weight; `None` when every item weighs 1.
fn item_weights(params: &ClfTrainParams, train_set: &ImageSet, flags: Option<&[u8]>) -> Option<Vec<f32>> {
    let class_w = (params.rebalance == Rebalance::ClassWeight).then(|| class_weights(train_set));
    if let Some(w) = &class_w {
        tracing::info!("class weights {w:?}");
    }
    if class_w.is_none() && flags.is_none() {
        return None;
    }
    let weight = |i: usize| {
        let cw = class_w.as_ref().map_or(1.0, |w| w[train_set.labels[i] as usize]);
        match (flags, params.synthetic_weight) {
            (Some(f), Some(w)) if f[i] == 1 => cw * w as f32,
            _ => cw,
        }
    };
    Some((0..train_set.len()).map(weight).collect())
}

/// Loss sum, correct predictions and images of one pass over `order`.
struct EpochSums {
    loss_sum: f64,
    correct: u64,
    seen: usize,
}

/// One epoch of optimisation over `order`, with a progress bar.
#[allow(clippy::too_many_arguments)]
fn train_epoch(
    model: &Classifier,
    opt: &mut Adam,
    set: &ImageSet,
    order: &[usize],
    weights: Option<&[f32]>,
    params: &ClfTrainParams,
    (epoch, n_epochs): (usize, usize),
    device: &Device,
) -> Result<EpochSums> {
    let bar = progress::bar(order.len() as u64, "img");
    bar.set_prefix(format!("epoch {epoch}/{n_epochs}"));
    let mut sums = EpochSums { loss_sum: 0.0, correct: 0, seen: 0 };
    let prepare = |chunk: &[usize]| -> Result<(Vec<f32>, Vec<u32>)> {
        Ok((data::batch_pixels(set, chunk), chunk.iter().map(|&i| set.labels[i] as u32).collect()))
    };
    data::loader::for_each_batch(order, params.batch_size, prepare, |step, chunk, (px, y)| {
        let x = data::pixels_tensor(px, set.shape, device)?;
        let w = match weights {
            Some(iw) => Some(Tensor::from_vec(chunk.iter().map(|&i| iw[i]).collect(), chunk.len(), device)?),
            None => None,
        };
        let y = Tensor::from_vec(y, chunk.len(), device)?;
        let (loss_v, logits) = train_step_weighted(model, opt, &x, &y, w.as_ref())
            .map_err(|e| e.in_context(&format!("{}: epoch {epoch}, step {}", params.out.display(), step + 1)))?;
        let pred = logits.argmax(1)?.to_dtype(DType::U32)?;
        sums.correct += pred.eq(&y)?.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as u64;
        sums.loss_sum += loss_v as f64 * chunk.len() as f64;
        sums.seen += chunk.len();
        bar.inc(chunk.len() as u64);
        if step % 10 == 0 {
            let (l, a) = (sums.loss_sum / sums.seen as f64, sums.correct as f64 / sums.seen as f64);
            bar.set_message(format!("loss {l:.4} acc {a:.3}"));
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(sums)
}

/// The `STEM.log.csv` header of [`EpochLog::csv_row`].
const CSV_HEADER: &str = "epoch,train_loss,train_accuracy,val_accuracy,test_accuracy,images_per_s,wall_s\n";

impl EpochLog {
    fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|a| format!("{a:.6}")).unwrap_or_default();
        format!(
            "{},{:.6},{:.6},{},{},{:.1},{:.2}\n",
            self.epoch,
            self.train_loss,
            self.train_accuracy,
            opt(self.val_accuracy),
            opt(self.test_accuracy),
            self.images_per_s,
            self.wall_s
        )
    }

    fn log(&self) {
        tracing::info!(
            "epoch {}: loss {:.4}, train acc {:.4}{}{}, {:.0} img/s",
            self.epoch,
            self.train_loss,
            self.train_accuracy,
            self.val_accuracy.map(|a| format!(", val acc {a:.4}")).unwrap_or_default(),
            self.test_accuracy.map(|a| format!(", test acc {a:.4}")).unwrap_or_default(),
            self.images_per_s
        );
    }
}

/// The checkpoint's metadata after `e`.
fn checkpoint_meta(params: &ClfTrainParams, d: &TrainData, e: &EpochLog) -> CheckpointMeta {
    CheckpointMeta {
        kind: "classifier".into(),
        arch: params.arch.name().into(),
        config: serde_json::to_string(&d.config).expect("config serialises"),
        dataset: d.dataset.clone(),
        epoch: e.epoch,
        trained: Trained::Classifier(ClassifierRecord {
            train: params.train.clone(),
            train_loss: e.train_loss,
            seed: params.seed,
            val_accuracy: e.val_accuracy,
            rebalance: (!params.rebalance.is_none()).then(|| params.rebalance.name().into()),
            init: params.init.clone(),
            synthetic_weight: params.synthetic_weight,
            recycle: params.recycle.as_ref().map(|r| (r.pool.clone(), r.every)),
        }),
        other: Default::default(),
    }
}

/// Accuracy of `model` on `set`.
fn score(model: &Classifier, set: &ImageSet, device: &Device) -> Result<f64> {
    let pred = model::predict(model, set, 1000, device)?;
    Ok(Confusion::from_predictions(set.num_classes, &set.labels, &pred).accuracy())
}

/// Runs `clf-train`: returns the per-epoch log after writing the checkpoint,
/// `STEM.log.csv` and `STEM.prov.bin` beside `params.out`.
pub fn run(params: &ClfTrainParams, data_opts: &DataOptions, device: &Device) -> Result<ClfTrainReport> {
    let started = Instant::now();
    check_params(params)?;
    let mut prov = Provenance::start("clf-train", params, Some(params.seed))?;
    let mut d = load_data(params, data_opts, &mut prov)?;
    let init = params.init.as_deref().map(|p| init_checkpoint(p, &d.config)).transpose()?;
    let val_images = d.val_set.as_ref().map_or(0, ImageSet::len);
    tracing::info!(
        "clf-train {} on {} ({} train, {val_images} validation images, {}), {} epochs, lr {}, batch {}",
        params.arch.name(),
        params.train,
        d.train_set.len(),
        d.config.input,
        params.epochs,
        params.adam.lr,
        params.batch_size
    );
    let (model, varmap) = model::new_classifier(&d.config, params.seed, device)?;
    if let (Some(path), Some(ck)) = (&params.init, &init) {
        ck.load_into(path, &varmap)?;
        prov.input_file("init", path)?;
        tracing::info!("starting from the weights of {}", path.display());
    }
    let mut opt = Adam::from_varmap(&varmap, params.adam);
    let log_path = super::sibling(&params.out, "log.csv");
    let epoch_len = epoch_order(&d.train_set, params.rebalance, params.seed, 1).len();
    let n_epochs = params.budget.map_or(params.epochs, |b| b.div_ceil(epoch_len));
    let ident = clf_resume::identity(params, &train_hash(&prov));
    let state_path = clf_resume::state_path(&params.out);
    let (mut epochs, mut images_seen) =
        resume(params, &state_path, &ident, (&d, n_epochs), (&model, &varmap, &mut opt))?;
    let mut csv = String::from(CSV_HEADER) + &epochs.iter().map(EpochLog::csv_row).collect::<String>();
    let weights = item_weights(params, &d.train_set, d.synthetic_flags.as_deref());
    let mut round = 0;
    for epoch in epochs.len() + 1..=n_epochs {
        let t0 = Instant::now();
        if let (Some(r), Some(flags)) = (&d.recycler, &d.synthetic_flags) {
            if r.round(epoch) != round {
                round = r.round(epoch);
                r.refresh(&mut d.train_set, flags, round);
                tracing::info!("epoch {epoch}: fresh synthetic images (recycling round {round})");
            }
        }
        let mut order = epoch_order(&d.train_set, params.rebalance, params.seed, epoch);
        if let Some(b) = params.budget {
            // The last epoch stops when the budget is spent.
            order.truncate(b - (epoch - 1) * epoch_len);
        }
        let w = weights.as_deref();
        let sums = train_epoch(&model, &mut opt, &d.train_set, &order, w, params, (epoch, n_epochs), device)?;
        images_seen += sums.seen;
        let train_time = t0.elapsed().as_secs_f64();
        let e = EpochLog {
            epoch,
            train_loss: sums.loss_sum / sums.seen as f64,
            train_accuracy: sums.correct as f64 / sums.seen as f64,
            val_accuracy: d.val_set.as_ref().map(|s| score(&model, s, device)).transpose()?,
            test_accuracy: d.test_set.as_ref().map(|s| score(&model, s, device)).transpose()?,
            images_per_s: sums.seen as f64 / train_time,
            wall_s: t0.elapsed().as_secs_f64(),
        };
        csv.push_str(&e.csv_row());
        e.log();
        checkpoint::write(&params.out, &varmap, &checkpoint_meta(params, &d, &e))?;
        crate::artifact::write_atomic(&log_path, csv.as_bytes())?;
        epochs.push(e);
        ClfState::capture(&model, &varmap, &opt, &ident, &epochs, images_seen)?.write(&state_path)?;
    }
    finish_provenance(&mut prov, &params.out, &log_path, &epochs, images_seen)?;
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
    // Finished: nothing is left to resume.
    std::fs::remove_file(&state_path).map_err(|e| Error::io(&state_path, e))?;
    Ok(ClfTrainReport { epochs, train_images: d.train_set.len(), val_images, wall_time_s: prov.wall_time_s })
}

/// The training set's content hash, as its provenance recorded it.
fn train_hash(prov: &Provenance) -> String {
    prov.inputs.iter().find(|r| r.role == "train").map(|r| r.blake3.clone()).unwrap_or_default()
}

/// With --resume and an unfinished run's state: checks it is this run's and
/// loads its weights, optimiser and dropout streams; returns the epochs
/// logged so far and the images they saw (none for a fresh start).
fn resume(
    params: &ClfTrainParams,
    path: &Path,
    ident: &serde_json::Value,
    (d, n_epochs): (&TrainData, usize),
    (model, varmap, opt): (&Classifier, &candle_nn::VarMap, &mut Adam),
) -> Result<(Vec<EpochLog>, usize)> {
    if !params.resume {
        return Ok((Vec::new(), 0));
    }
    if !path.exists() {
        tracing::info!("--resume: no {} yet, starting from epoch 0", path.display());
        return Ok((Vec::new(), 0));
    }
    let s = ClfState::read(path)?;
    s.check(path, ident, n_epochs)?;
    let meta = checkpoint_meta(params, d, s.epochs.last().expect("a state holds an epoch"));
    checkpoint::Checkpoint { meta, weights: s.weights }.load_into(path, varmap)?;
    opt.load_state(&s.adam, s.adam_step).map_err(|e| Error::format(path, e.to_string()))?;
    model.set_dropout_positions(&s.dropout).map_err(|e| Error::format(path, e))?;
    tracing::info!("resuming from epoch {} ({})", s.epoch, path.display());
    Ok((s.epochs, s.images_seen))
}

/// The outputs and headline metrics of a finished run, into its provenance.
fn finish_provenance(
    prov: &mut Provenance,
    out: &Path,
    log_path: &Path,
    epochs: &[EpochLog],
    images_seen: usize,
) -> Result<()> {
    let last = epochs.last().expect("at least one epoch");
    prov.output_file("checkpoint", out)?;
    prov.output_file("log", log_path)?;
    prov.metrics.push(("train_loss".into(), last.train_loss));
    prov.metrics.push(("train_accuracy".into(), last.train_accuracy));
    if let Some(a) = last.val_accuracy {
        prov.metrics.push(("val_accuracy".into(), a));
    }
    if let Some(a) = last.test_accuracy {
        prov.metrics.push(("test_accuracy".into(), a));
    }
    prov.metrics.push(("images_per_s".into(), last.images_per_s));
    prov.metrics.push(("epochs".into(), epochs.len() as f64));
    prov.metrics.push(("images_seen".into(), images_seen as f64));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ImageShape, SetMeta, Source};

    fn set(hist: &[usize]) -> ImageSet {
        let labels: Vec<u8> = hist.iter().enumerate().flat_map(|(c, &n)| std::iter::repeat_n(c as u8, n)).collect();
        let meta = SetMeta::new("t", "train", Source::Real);
        let shape = ImageShape { c: 1, h: 1, w: 1 };
        ImageSet::new(std::path::Path::new("<t>"), vec![0; labels.len()], labels, shape, hist.len(), meta).unwrap()
    }

    #[test]
    fn oversampling_brings_every_class_to_the_largest() {
        let s = set(&[10, 3, 4, 0]);
        for epoch in 1..=3 {
            let order = epoch_order(&s, Rebalance::Oversample, 7, epoch);
            let mut per = [0usize; 4];
            for &i in &order {
                per[s.labels[i] as usize] += 1;
            }
            assert_eq!(per, [10, 10, 10, 0]);
            // Class 1 (3 images): three whole copies and one more, no image four times.
            let mut n1 = std::collections::HashMap::new();
            for &i in order.iter().filter(|&&i| s.labels[i] == 1) {
                *n1.entry(i).or_insert(0) += 1;
            }
            assert!(n1.values().all(|&n| n == 3 || n == 4), "{n1:?}");
        }
        assert_eq!(epoch_order(&s, Rebalance::Oversample, 7, 1), epoch_order(&s, Rebalance::Oversample, 7, 1));
        let mut plain = epoch_order(&s, Rebalance::None, 7, 1);
        plain.sort_unstable();
        assert_eq!(plain, (0..17).collect::<Vec<_>>(), "no rebalancing: every image once");
    }

    #[test]
    fn recycling_walks_the_pool_by_class_and_seed() {
        // Training set: 4 items, items 1 and 3 synthetic (class 0 and 1).
        let mut train = set(&[2, 2]);
        let flags = [0u8, 1, 0, 1];
        // Pool: 3 images of class 0 (pixels 10, 11, 12), 3 of class 1 (20, 21, 22).
        let mut pool = set(&[3, 3]);
        pool.images = vec![10, 11, 12, 20, 21, 22];
        let r = Recycler::new(pool.clone(), 2, 5, &train, &flags).unwrap();
        assert_eq!((r.round(1), r.round(2), r.round(3), r.round(5)), (0, 0, 1, 2));
        let mut seen = Vec::new();
        for round in 1..=3 {
            r.refresh(&mut train, &flags, round);
            assert_eq!((train.images[0], train.images[2]), (0, 0), "real items untouched");
            assert!((10..=12).contains(&train.images[1]) && (20..=22).contains(&train.images[3]), "{:?}", train.images);
            seen.push((train.images[1], train.images[3]));
        }
        let firsts: std::collections::BTreeSet<u8> = seen.iter().map(|s| s.0).collect();
        assert_eq!(firsts.len(), 3, "three rounds walk all three class-0 pool images: {seen:?}");
        let again = Recycler::new(pool, 2, 5, &train, &flags).unwrap();
        let mut t2 = set(&[2, 2]);
        again.refresh(&mut t2, &flags, 1);
        assert_eq!((t2.images[1], t2.images[3]), seen[0], "same seed, same images");
    }

    #[test]
    fn class_weights_are_sklearns_balanced_weights() {
        // N = 16, K = 3 present: 16 / (3 · n).
        let w = class_weights(&set(&[8, 4, 4, 0]));
        let want = [16.0 / 24.0, 16.0 / 12.0, 16.0 / 12.0, 0.0];
        assert!(w.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{w:?}");
    }
}
