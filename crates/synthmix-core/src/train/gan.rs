//! `gan-train`: trains a class-conditional GAN on a real image set.
//!
//! Each step (as the PyTorch reference): G makes a batch for random labels;
//! D takes one Adam step on BCE(real → 1) + BCE(fake → 0) (fakes detached);
//! then G takes one step on the non-saturating loss BCE(D(G(z, y)) → 1)
//! against the updated D. Real pixels are scaled to [-1, 1].
//!
//! Files, beside `--out` (`STEM` = its stem), at every checkpoint (every
//! `checkpoint_every` epochs and the last):
//! - `--out`: the generator (the latest, or with `--keep best-fid` the one
//!   with the lowest FID so far);
//! - `STEM.disc.safetensors`: the discriminator;
//! - `STEM.optim.safetensors`: the resume state: both nets' weights and both
//!   Adam optimisers' moments and step counts, the epoch, the log so far and
//!   the best FID, in one file written atomically, so a kill at any moment
//!   leaves a consistent snapshot;
//! - `STEM.grid-epochNNN.png`: a labelled sample grid, the same noise every time.
//!
//! and every epoch `STEM.log.csv`. Every random draw of an epoch (shuffle,
//! noise and fake labels, dropout masks) comes from a stream keyed by the
//! seed and the epoch number, so the epoch alone fixes every RNG position:
//! `--resume` continues bit for bit as an uninterrupted run would.
//!
//! Divergence (a NaN or infinite loss, or a collapsed generator whose fixed
//! samples have almost no variance) stops the run with one message; the
//! files of the last good checkpoint stay in place.

mod state;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::epochs::{self, Progress, SavedEnd, SavedLog, Start, TrainReport, Trainer};
use super::optim::{Adam, AdamConfig};
use super::probe::{self, Features, Probes, TrainData};
use super::saved::Common;
use super::stop::{self, Until};
use crate::artifact::checkpoint::{self, Checkpoint, CheckpointMeta, FidRecord, GanRecord, Trained};
use crate::artifact::provenance::{self, Provenance};
use crate::data::{self, DataOptions, ImageSet};
use crate::error::{Error, Result};
use crate::model::gan::{self, Discriminator, GanArch, GanConfig, Generator};
use crate::ops::ConvAlgorithm;
use crate::{progress, rng};

/// Mean per-pixel standard deviation (in [-1, 1] units) of the fixed grid
/// samples below which the generator counts as collapsed. Real MNIST is ≈ 0.6,
/// a freshly initialised generator ≈ 0.03, one emitting the same image for
/// every noise and label ≈ 0 (exactly 0 once quantised to pixels).
pub const COLLAPSE_STD: f64 = 0.005;
pub use super::probe::GRID_PER_CLASS;

/// Optimiser settings by name (`--preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GanPreset {
    /// lr 2e-4 for D and G, β = (0.5, 0.999): trains (recognition ≈ 0.9+).
    Default,
    /// The paper's lr 1e-4 for D and 2e-5 for G, β = (0.5, 0.999): D wins
    /// from the first epoch and G ignores its labels (see the README).
    Paper,
}

impl GanPreset {
    /// Adam settings of D and G.
    pub fn adam(&self) -> (AdamConfig, AdamConfig) {
        let cfg = |lr| AdamConfig { lr, beta1: 0.5, beta2: 0.999, eps: 1e-8 };
        match self {
            GanPreset::Default => (cfg(2e-4), cfg(2e-4)),
            GanPreset::Paper => (cfg(1e-4), cfg(2e-5)),
        }
    }
}

/// Which generator `--out` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// The latest checkpoint.
    Last,
    /// The checkpoint with the lowest FID (needs `--features`).
    BestFid,
}

/// What a collapsed generator (fixed samples' std below [`COLLAPSE_STD`]) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnCollapse {
    /// Stop with an error; the last good checkpoint stays.
    #[default]
    Stop,
    /// Log a warning and train on: for studies that report a collapsing
    /// setting (the paper's learning rates) as a finding.
    Warn,
}

/// Every parameter of a `gan-train` run; saved in its provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GanTrainParams {
    /// Training set: image-set path or `DATASET:SPLIT`.
    pub train: String,
    pub arch: GanArch,
    pub preset: GanPreset,
    pub epochs: usize,
    pub batch_size: usize,
    pub adam_d: AdamConfig,
    pub adam_g: AdamConfig,
    pub seed: u64,
    /// Train on a seeded, class-stratified subset of this many images.
    pub limit: Option<usize>,
    /// Classifier checkpoint whose penultimate features give the FID.
    pub features: Option<PathBuf>,
    /// Generated (and at most this many real) images per FID.
    pub fid_samples: usize,
    pub checkpoint_every: usize,
    pub keep: Keep,
    /// A collapse stops the run, or is logged and training goes on.
    #[serde(default)]
    pub on_collapse: OnCollapse,
    pub resume: bool,
    pub out: PathBuf,
    /// FID and recognition every this many epochs (and at the last); 1 = every epoch.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub fid_every: usize,
    /// The conv layers' CPU kernels (dcgan; recorded in the config).
    #[serde(default, skip_serializing_if = "ConvAlgorithm::is_default")]
    pub conv: ConvAlgorithm,
    /// Stop at the first measured epoch that meets this quality target
    /// (`epochs` is then the cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    /// The real images FID compares against (default: the training set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid_reference: Option<String>,
}

fn one() -> usize {
    1
}
fn is_one(n: &usize) -> bool {
    *n == 1
}

/// One epoch's row of `STEM.log.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GanEpochLog {
    pub epoch: usize,
    pub d_loss: f64,
    pub g_loss: f64,
    /// Mean D(x) on real images and D(G(z)) on fakes (before D's step).
    pub d_real: f64,
    pub d_fake: f64,
    pub fid: Option<f64>,
    pub recognition: Option<f64>,
    /// Mean per-pixel std of the fixed grid samples, in [-1, 1] units.
    pub sample_std: f64,
    pub images_per_s: f64,
    pub wall_s: f64,
}

const CSV_HEADER: &str = "epoch,d_loss,g_loss,d_real,d_fake,fid,recognition,sample_std,images_per_s,wall_s\n";

impl epochs::EpochRow for GanEpochLog {
    fn quality(&self) -> Option<(f64, f64)> {
        self.fid.zip(self.recognition)
    }
}

impl GanEpochLog {
    fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|a| format!("{a:.6}")).unwrap_or_default();
        format!(
            "{},{:.6},{:.6},{:.6},{:.6},{},{},{:.6},{:.1},{:.2}\n",
            self.epoch,
            self.d_loss,
            self.g_loss,
            self.d_real,
            self.d_fake,
            opt(self.fid),
            opt(self.recognition),
            self.sample_std,
            self.images_per_s,
            self.wall_s
        )
    }
}

/// What a run ends with.
pub type GanTrainReport = TrainReport<GanEpochLog>;

/// The paths a run writes, derived from `--out`.
#[derive(Debug, Clone)]
pub struct GanPaths {
    pub generator: PathBuf,
    pub discriminator: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl GanPaths {
    pub fn new(out: &Path) -> Self {
        GanPaths {
            generator: out.to_path_buf(),
            discriminator: super::sibling(out, "disc.safetensors"),
            state: super::sibling(out, "optim.safetensors"),
            log: super::sibling(out, "log.csv"),
        }
    }

    pub fn grid(&self, epoch: usize) -> PathBuf {
        super::sibling(&self.generator, &format!("grid-epoch{epoch:03}.png"))
    }
}

/// Numerically stable `log(1 + eˣ)`.
fn softplus(x: &Tensor) -> candle_core::Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

fn mean_sigmoid(logits: &[f32]) -> f64 {
    logits.iter().map(|&l| 1.0 / (1.0 + (-l as f64).exp())).sum::<f64>() / logits.len().max(1) as f64
}

/// Mean over pixels of the standard deviation across images (0–255 pixels,
/// reported in [-1, 1] units).
pub fn sample_std(pixels: &[u8], n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let p = pixels.len() / n;
    let mut total = 0.0;
    for j in 0..p {
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for i in 0..n {
            let v = pixels[i * p + j] as f64 / 127.5;
            s += v;
            s2 += v * v;
        }
        let mean = s / n as f64;
        total += (s2 / n as f64 - mean * mean).max(0.0).sqrt();
    }
    total / p as f64
}

/// The parameters that decide the weights: a `--resume` must match them.
fn identity(params: &GanTrainParams, train_hash: &str, config: &GanConfig) -> serde_json::Value {
    let mut id = serde_json::json!({
        "train": train_hash,
        "arch": params.arch.name(),
        "config": config,
        "batch_size": params.batch_size,
        "adam_d": params.adam_d,
        "adam_g": params.adam_g,
        "seed": params.seed,
        "limit": params.limit,
    });
    // Only where given, so states saved before the flag existed still resume.
    if let Some(r) = &params.fid_reference {
        id["fid_reference"] = r.as_str().into();
    }
    id
}

/// What both checkpoints record about the run (and the epoch's FID, if measured).
fn gan_record(params: &GanTrainParams, fid: Option<FidRecord>) -> GanRecord {
    GanRecord {
        train: params.train.clone(),
        seed: params.seed,
        preset: serde_json::to_value(params.preset).expect("serialises").as_str().unwrap_or_default().to_string(),
        lr_d: params.adam_d.lr,
        lr_g: params.adam_g.lr,
        fid,
    }
}

fn gen_meta(config: &GanConfig, kind: &str, dataset: &str, epoch: usize, record: &GanRecord) -> CheckpointMeta {
    CheckpointMeta {
        kind: kind.into(),
        arch: config.arch.name().into(),
        config: serde_json::to_string(config).expect("config serialises"),
        dataset: dataset.into(),
        epoch,
        trained: Trained::Gan(record.clone()),
        other: Default::default(),
    }
}

/// The networks and optimisers one [`train_step`] updates.
pub struct GanNets<'a> {
    pub g: &'a Generator,
    pub d: &'a Discriminator,
    /// D's variables (G's step reads them through a frozen copy of D).
    pub d_vars: &'a VarMap,
    pub opt_g: &'a mut Adam,
    pub opt_d: &'a mut Adam,
}

/// What one step measured.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean D(x) on the real batch and D(G(z)) on the fakes (before D's step).
    pub d_real: f64,
    pub d_fake: f64,
}

/// One GAN step, as the PyTorch reference: G makes `real.dim(0)` images for
/// random labels; D takes one Adam step on BCE(real → 1) + BCE(fake → 0)
/// (fakes detached); then G one on the non-saturating BCE(D(G(z, y)) → 1)
/// against the updated D. `real` is in [-1, 1]. Noise and fake labels come
/// from `noise_rng`, dropout masks from `drop_rng`. A non-finite loss is
/// [`Error::Diverged`] before its optimiser step is taken. (Shared by
/// `gan-train` and `just bench`, so the bench times exactly this loop.)
pub fn train_step(
    nets: &mut GanNets,
    real: &Tensor,
    y_real: &[u8],
    noise_rng: &mut rng::Rng,
    drop_rng: &mut rng::Rng,
) -> Result<StepStats> {
    let GanNets { g, d, d_vars, .. } = *nets;
    let config = &g.config;
    let device = real.device();
    let b = real.dim(0)?;
    let y_fake: Vec<u8> = (0..b).map(|_| noise_rng.gen_range(0..config.num_classes) as u8).collect();
    let z = gan::noise(noise_rng, b, config.latent, device)?;
    let y_fake_t = gan::label_tensor(&y_fake, device)?;
    let fake = g.forward(&z, &y_fake_t)?;

    // D: real and (detached) fake in one batch.
    let x = Tensor::cat(&[real, &fake.detach()], 0)?;
    let y = Tensor::cat(&[&gan::label_tensor(y_real, device)?, &y_fake_t], 0)?;
    let logits = d.forward(&x, &y, Some(drop_rng))?;
    let (l_real, l_fake) = (logits.narrow(0, 0, b)?, logits.narrow(0, b, b)?);
    let d_loss = (softplus(&l_real.neg()?)?.mean_all()? + softplus(&l_fake)?.mean_all()?)?;
    let d_loss_v = d_loss.to_scalar::<f32>()?;
    super::check_finite(d_loss_v, "D")?;
    nets.opt_d.step(&d_loss.backward()?)?;
    let lv = logits.to_vec1::<f32>()?;

    // G: non-saturating loss against the updated D (frozen: no gradients
    // for D's weights, which this step does not use).
    let g_logits = Discriminator::frozen(d_vars, config)?.forward(&fake, &y_fake_t, Some(drop_rng))?;
    let g_loss = softplus(&g_logits.neg()?)?.mean_all()?;
    let g_loss_v = g_loss.to_scalar::<f32>()?;
    super::check_finite(g_loss_v, "G")?;
    nets.opt_g.step(&g_loss.backward()?)?;
    Ok(StepStats { d_loss: d_loss_v, g_loss: g_loss_v, d_real: mean_sigmoid(&lv[..b]), d_fake: mean_sigmoid(&lv[b..]) })
}

fn check_params(params: &GanTrainParams) -> Result<()> {
    if params.batch_size == 0 || params.epochs == 0 || params.checkpoint_every == 0 {
        return Err(Error::Invalid("--batch-size, --epochs and --checkpoint-every must be at least 1".into()));
    }
    if params.features.is_some() && params.fid_samples < 2 {
        return Err(Error::Invalid(format!(
            "--fid-samples {} is too few for a covariance (at least 2)",
            params.fid_samples
        )));
    }
    stop::check_flags(params.features.is_some(), params.until, params.fid_reference.as_deref())?;
    if params.keep == Keep::BestFid && params.features.is_none() {
        return Err(Error::Invalid(
            "--keep best-fid needs --features (a classifier checkpoint to compute FID with)".into(),
        ));
    }
    if params.arch == GanArch::Mlp && !params.conv.is_default() {
        return Err(Error::Invalid("--conv-algorithm applies to --arch dcgan (the mlp has no conv layers)".into()));
    }
    Ok(())
}

/// The generator, the discriminator and their optimisers.
struct Nets {
    g: Generator,
    g_vars: VarMap,
    d: Discriminator,
    d_vars: VarMap,
    opt_g: Adam,
    opt_d: Adam,
}

/// With --resume and a saved state: checks it is this run's, loads its
/// weights and optimiser state into `nets`, and returns where it stopped.
fn resume(
    params: &GanTrainParams,
    paths: &GanPaths,
    ident: &serde_json::Value,
    meta: CheckpointMeta,
    nets: &mut Nets,
    prov: &mut Provenance,
) -> Result<Start> {
    if !params.resume {
        return Ok(Start::fresh(CSV_HEADER, None));
    }
    if !paths.state.exists() {
        return Ok(Start::fresh(CSV_HEADER, Some(&paths.state)));
    }
    let s = state::read(&paths.state)?;
    let saved = stop::Saved { identity: &s.common.identity, epoch: s.common.epoch, log_csv: &s.common.log_csv };
    let todo = stop::check_resume(&paths.state, &saved, ident, params.epochs, params.until)?;
    Checkpoint { meta: meta.clone(), weights: s.g_weights }.load_into(&paths.state, &nets.g_vars)?;
    Checkpoint { meta, weights: s.d_weights }.load_into(&paths.state, &nets.d_vars)?;
    nets.opt_g.load_state(&s.g_adam, s.g_step).map_err(|e| Error::format(&paths.state, e.to_string()))?;
    nets.opt_d.load_state(&s.d_adam, s.d_step).map_err(|e| Error::format(&paths.state, e.to_string()))?;
    prov.input_file("resume-state", &paths.state)?;
    Ok(Start::saved(s.common, todo, &paths.state))
}

/// Sums of one epoch's step statistics over its images.
#[derive(Default)]
struct GanSums {
    d: f64,
    g: f64,
    d_real: f64,
    d_fake: f64,
    seen: usize,
}

impl GanSums {
    /// The epoch's log row: mean step figures, the fixed samples' quality
    /// and spread, images/s of its training and its wall time.
    fn log(&self, epoch: usize, quality: Option<(f64, f64)>, std: f64, (train_s, wall_s): (f64, f64)) -> GanEpochLog {
        let n = self.seen as f64;
        GanEpochLog {
            epoch,
            d_loss: self.d / n,
            g_loss: self.g / n,
            d_real: self.d_real / n,
            d_fake: self.d_fake / n,
            fid: quality.map(|q| q.0),
            recognition: quality.map(|q| q.1),
            sample_std: std,
            images_per_s: n / train_s,
            wall_s,
        }
    }
}

/// One epoch of GAN steps over a seeded shuffle of `set`, with a progress bar.
fn train_epoch(
    nets: &mut Nets,
    set: &ImageSet,
    order: &mut [usize],
    params: &GanTrainParams,
    (epoch, kept): (usize, &str),
    device: &Device,
) -> Result<GanSums> {
    order.sort_unstable();
    order.shuffle(&mut rng::stream(params.seed, &format!("shuffle/epoch{epoch}")));
    let mut noise_rng = rng::stream(params.seed, &format!("noise/epoch{epoch}"));
    let mut drop_rng = rng::stream(params.seed, &format!("dropout/epoch{epoch}"));
    let bar = progress::bar(set.len() as u64, "img");
    bar.set_prefix(format!("epoch {epoch}/{}", params.epochs));
    let mut sums = GanSums::default();
    let prepare = |chunk: &[usize]| -> Result<(Vec<f32>, Vec<u8>)> {
        Ok((data::batch_pixels(set, chunk), chunk.iter().map(|&i| set.labels[i]).collect()))
    };
    data::loader::for_each_batch(order, params.batch_size, prepare, |step, chunk, (px, y_real)| {
        let b = chunk.len() as f64;
        let real = data::pixels_tensor(px, set.shape, device)?.affine(2.0, -1.0)?;
        let Nets { g, d, d_vars, opt_g, opt_d, .. } = &mut *nets;
        let mut step_nets = GanNets { g, d, d_vars, opt_g, opt_d };
        // The binary's context names the output file.
        let s = train_step(&mut step_nets, &real, &y_real, &mut noise_rng, &mut drop_rng).map_err(|e| match e {
            Error::Diverged(m) => Error::Diverged(format!("epoch {epoch}, step {}: {m}; {kept}", step + 1)),
            e => e,
        })?;
        sums.d += s.d_loss as f64 * b;
        sums.g += s.g_loss as f64 * b;
        sums.d_real += s.d_real * b;
        sums.d_fake += s.d_fake * b;
        sums.seen += chunk.len();
        bar.inc(chunk.len() as u64);
        if step % 10 == 0 {
            bar.set_message(format!("D {:.3} G {:.3}", sums.d / sums.seen as f64, sums.g / sums.seen as f64));
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(sums)
}

/// The FID and recognition of the generator's fixed FID samples.
fn measure(g: &Generator, f: &Features, probes: &Probes, seed: u64, device: &Device) -> Result<(f64, f64)> {
    let px = gan::generate(g, &probes.fid, &mut rng::stream(seed, "fid-noise"), 500, device)?;
    probes.measure(f, px)
}

/// The fixed grid samples, the same noise every epoch.
fn grid_pixels(g: &Generator, probes: &Probes, seed: u64, device: &Device) -> Result<Vec<u8>> {
    gan::generate(g, &probes.grid, &mut rng::stream(seed, "grid-noise"), 500, device)
}

impl GanEpochLog {
    fn log(&self) {
        tracing::info!(
            "epoch {}: D {:.4} G {:.4} D(x) {:.3} D(G(z)) {:.3}{}{} sample std {:.3}, {:.0} img/s, {:.1} s",
            self.epoch,
            self.d_loss,
            self.g_loss,
            self.d_real,
            self.d_fake,
            self.fid.map(|f| format!(" FID {f:.2}")).unwrap_or_default(),
            self.recognition.map(|r| format!(" recognition {r:.3}")).unwrap_or_default(),
            self.sample_std,
            self.images_per_s,
            self.wall_s
        );
    }
}

/// Everything one epoch's checkpoints are written from.
struct Checkpointing<'a> {
    params: &'a GanTrainParams,
    paths: &'a GanPaths,
    config: &'a GanConfig,
    dataset: &'a str,
    ident: &'a serde_json::Value,
}

impl Checkpointing<'_> {
    /// Whether `epoch` writes the full run state (and the grid): every
    /// `--checkpoint-every` epochs and at the `last` (the cap, or `--until` met).
    fn due(&self, epoch: usize, last: bool) -> bool {
        epoch % self.params.checkpoint_every == 0 || last
    }

    /// Writes the generator, as --keep says: every checkpoint epoch, or each
    /// time the FID improves.
    fn generator(&self, nets: &Nets, (epoch, last): (usize, bool), record: &GanRecord, improved: bool) -> Result<()> {
        let keep = match self.params.keep {
            Keep::BestFid => improved,
            Keep::Last => self.due(epoch, last),
        };
        if keep {
            let meta = gen_meta(self.config, "generator", self.dataset, epoch, record);
            checkpoint::write(&self.paths.generator, &nets.g_vars, &meta)?;
        }
        Ok(())
    }

    /// On a checkpoint epoch: the discriminator, the run state (with the
    /// log so far and the best FID) and the sample grid.
    fn state(
        &self,
        nets: &Nets,
        e: &GanEpochLog,
        record: &GanRecord,
        log: SavedLog,
        (probes, grid_px): (&Probes, Vec<u8>),
    ) -> Result<()> {
        let epoch = e.epoch;
        let d_meta = gen_meta(self.config, "discriminator", self.dataset, epoch, record);
        checkpoint::write(&self.paths.discriminator, &nets.d_vars, &d_meta)?;
        let state = state::State {
            common: Common {
                epoch,
                identity: self.ident.clone(),
                log_csv: log.0.to_string(),
                best: log.1,
                quality: log.2,
            },
            g_step: nets.opt_g.t,
            d_step: nets.opt_d.t,
            g_weights: checkpoint::weights_of(&nets.g_vars)?,
            d_weights: checkpoint::weights_of(&nets.d_vars)?,
            g_adam: nets.opt_g.state().into_iter().collect(),
            d_adam: nets.opt_d.state().into_iter().collect(),
        };
        crate::artifact::write_atomic(&self.paths.state, &state::encode(&state)?)?;
        // The grid only after the checkpoints it describes are safely written.
        let title = format!("{} {} epoch {epoch}", self.dataset, self.params.arch.name());
        probes.write_grid(grid_px, (title, e.fid), &self.paths.grid(epoch))
    }
}

/// Stops (or warns, with --on-collapse warn) when the fixed samples' pixel
/// spread shows a collapsed generator.
fn check_collapse(params: &GanTrainParams, epoch: usize, std: f64, kept: &str) -> Result<()> {
    if std >= COLLAPSE_STD {
        return Ok(());
    }
    let what = format!("epoch {epoch}: generator collapsed (fixed samples' mean pixel std {std:.4} < {COLLAPSE_STD})");
    match params.on_collapse {
        OnCollapse::Stop => Err(Error::Diverged(format!("{what}; {kept}"))),
        OnCollapse::Warn => {
            tracing::warn!("{what}; training on (--on-collapse warn)");
            Ok(())
        }
    }
}

/// The outputs and headline metrics of a finished run, into its provenance.
fn finish_provenance(prov: &mut Provenance, paths: &GanPaths, report: &GanTrainReport) -> Result<()> {
    let last = report.last();
    prov.output_file("generator", &paths.generator)?;
    prov.output_file("discriminator", &paths.discriminator)?;
    prov.output_file("state", &paths.state)?;
    prov.output_file("log", &paths.log)?;
    let metrics = [
        ("d_loss", Some(last.d_loss)),
        ("g_loss", Some(last.g_loss)),
        ("fid", last.fid),
        ("recognition", last.recognition),
        ("images_per_s", Some(last.images_per_s)),
        ("epochs_trained", Some(last.epoch as f64)),
        ("until_reached", report.until_reached),
    ];
    probe::record_metrics(prov, &metrics, report.best_fid);
    Ok(())
}

/// A run once its inputs are read and checked: the nets (resumed, if
/// so), where it starts and what it measures.
struct Setup {
    paths: GanPaths,
    config: GanConfig,
    nets: Nets,
    ident: serde_json::Value,
    dataset: String,
    start: Start,
    features: Option<Features>,
    probes: Probes,
}

/// Builds the nets for the training data, resumes them from a saved state
/// (with --resume), and loads the features network and the FID's real side.
fn set_up(
    params: &GanTrainParams,
    data: &TrainData,
    data_opts: &DataOptions,
    prov: &mut Provenance,
    device: &Device,
) -> Result<Setup> {
    let paths = GanPaths::new(&params.out);
    let set = &data.images;
    let config = GanConfig { conv: params.conv, ..GanConfig::new(params.arch, set.shape, set.num_classes) };
    config.validate()?;
    let (g, g_vars, d, d_vars) = gan::new_gan(&config, params.seed, device)?;
    let (opt_g, opt_d) = (Adam::from_varmap(&g_vars, params.adam_g), Adam::from_varmap(&d_vars, params.adam_d));
    let mut nets = Nets { g, g_vars, d, d_vars, opt_g, opt_d };
    let ident = identity(params, &data.hash, &config);
    let dataset = data.full.meta.dataset.clone();
    let resume_meta = gen_meta(&config, "generator", &dataset, 0, &gan_record(params, None));
    let start = resume(params, &paths, &ident, resume_meta, &mut nets, prov)?;
    let reference = probe::reference_set(params.fid_reference.as_deref(), set, data_opts, prov)?;
    let features = probe::load_features(
        params.features.as_deref(),
        (params.fid_samples, params.seed),
        (&params.train, &reference, &dataset),
        prov,
        device,
    )?;
    if let Some(note) = &start.note {
        tracing::info!("{note}");
    }
    log_start(params, set, &config, start.epoch);
    let probes = Probes::new(data, (config.image, config.num_classes), params.fid_samples);
    Ok(Setup { paths, config, nets, ident, dataset, start, features, probes })
}

/// What every epoch reads.
struct Epochs<'a> {
    params: &'a GanTrainParams,
    saver: Checkpointing<'a>,
    probes: &'a Probes,
    features: Option<&'a Features>,
    train_set: &'a ImageSet,
    device: &'a Device,
}

impl Trainer for Epochs<'_> {
    type Nets = Nets;
    type Row = GanEpochLog;

    /// Nothing to train (a saved state at the run's last epoch): that
    /// epoch's files again, from its saved state.
    fn finish_saved(&self, nets: &Nets, (quality, met): SavedEnd, run: &mut Progress<GanEpochLog>) -> Result<()> {
        let params = self.params;
        let e: GanEpochLog = stop::last_logged(&self.saver.paths.state, &run.csv)?;
        let quality = quality.or(e.fid.zip(e.recognition));
        let record = gan_record(params, probe::fid_record(self.features, quality, params.fid_samples));
        let improved = run.best.is_some_and(|(b, _)| b == e.epoch);
        self.saver.generator(nets, (e.epoch, true), &record, improved)?;
        let grid_px = grid_pixels(&nets.g, self.probes, params.seed, self.device)?;
        self.saver.state(nets, &e, &record, (&run.csv, run.best, quality), (self.probes, grid_px))?;
        run.end_epoch(&self.saver.paths.log, e, met)
    }

    /// Trains `epoch`, measures its fixed samples, writes its files; true
    /// when it met `--until` (the run stops there).
    fn train(
        &self,
        nets: &mut Nets,
        epoch: usize,
        order: &mut [usize],
        run: &mut Progress<GanEpochLog>,
    ) -> Result<bool> {
        let (params, device) = (self.params, self.device);
        let t0 = Instant::now();
        let kept = match run.last_checkpoint {
            0 => "no checkpoint written yet".to_string(),
            e => format!("the checkpoint of epoch {e} is kept"),
        };
        let sums = train_epoch(nets, self.train_set, order, params, (epoch, &kept), device)?;
        let train_time = t0.elapsed().as_secs_f64();
        // Fixed samples: the grid, the collapse check, the FID.
        let grid_px = grid_pixels(&nets.g, self.probes, params.seed, device)?;
        let std = sample_std(&grid_px, self.probes.grid.len());
        let fid_due = epoch % params.fid_every.max(1) == 0 || epoch == params.epochs;
        let quality = match self.features {
            Some(f) if fid_due => Some(measure(&nets.g, f, self.probes, params.seed, device)?),
            _ => None,
        };
        let e = sums.log(epoch, quality, std, (train_time, t0.elapsed().as_secs_f64()));
        e.log();
        check_collapse(params, epoch, std, &kept)?;
        let reached = params.until.zip(quality).is_some_and(|(u, (f, r))| u.reached(f, r));
        let last = reached || epoch == params.epochs;
        run.csv.push_str(&e.csv_row());
        let record = gan_record(params, probe::fid_record(self.features, quality, params.fid_samples));
        let improved = probe::improve(&mut run.best, epoch, e.fid);
        self.saver.generator(nets, (epoch, last), &record, improved)?;
        if self.saver.due(epoch, last) {
            self.saver.state(nets, &e, &record, (&run.csv, run.best, quality), (self.probes, grid_px))?;
            run.last_checkpoint = epoch;
        }
        run.end_epoch(&self.saver.paths.log, e, reached.then_some(epoch))?;
        Ok(reached)
    }
}

/// Runs `gan-train`.
pub fn run(params: &GanTrainParams, data_opts: &DataOptions, device: &Device) -> Result<GanTrainReport> {
    let started = Instant::now();
    check_params(params)?;
    let mut prov = Provenance::start("gan-train", params, Some(params.seed))?;
    let data = probe::load_train(&params.train, (params.limit, params.seed), data_opts, &mut prov)?;
    let Setup { paths, config, mut nets, ident, dataset, start, features, probes } =
        set_up(params, &data, data_opts, &mut prov, device)?;
    let saver = Checkpointing { params, paths: &paths, config: &config, dataset: &dataset, ident: &ident };
    let trainer =
        Epochs { params, saver, probes: &probes, features: features.as_ref(), train_set: &data.images, device };
    let mut report = epochs::run(&trainer, &mut nets, start, (params.epochs, params.until), data.images.len())?;
    finish_provenance(&mut prov, &paths, &report)?;
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
    report.wall_time_s = prov.wall_time_s;
    Ok(report)
}

fn log_start(params: &GanTrainParams, train_set: &ImageSet, config: &GanConfig, start_epoch: usize) {
    let (gf, df) = config.forward_flops();
    tracing::info!(
        "gan-train {} on {} ({} images, {}), epochs {}..={}, batch {}, D lr {} G lr {} β1 {}, {:.1} MFLOP/img G, {:.1} D",
        params.arch.name(),
        params.train,
        train_set.len(),
        config.image,
        start_epoch + 1,
        params.epochs,
        params.batch_size,
        params.adam_d.lr,
        params.adam_g.lr,
        params.adam_g.beta1,
        gf as f64 / 1e6,
        df as f64 / 1e6
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_is_stable_and_right() {
        let x = Tensor::new(&[-100f32, -1.0, 0.0, 1.0, 100.0], &Device::Cpu).unwrap();
        let y = softplus(&x).unwrap().to_vec1::<f32>().unwrap();
        let want = [0.0f32, 0.313_261_7, std::f32::consts::LN_2, 1.313_261_7, 100.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn collapse_measure() {
        // Two images: all 0 and all 255 → std 1 in [-1, 1] units.
        let mut px = vec![0u8; 4];
        px.extend([255u8; 4]);
        assert!((sample_std(&px, 2) - 1.0).abs() < 1e-12);
        assert_eq!(sample_std(&[7u8; 40], 10), 0.0);
        assert!(sample_std(&[7u8; 40], 10) < COLLAPSE_STD);
    }
}
