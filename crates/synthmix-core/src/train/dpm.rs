//! `dpm-train`: trains a class-conditional diffusion model (DDPM, ε-prediction,
//! T = 1000) on a real image set, with classifier-free guidance training
//! (a step's labels replaced by the null class with probability p) and an
//! EMA copy of the weights, which is what `--out` holds and sampling uses.
//!
//! Each step: t ~ U{0..T}, ε ~ N(0, I), x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (x₀ in
//! [-1, 1]), loss = mean (ε̂(x_t, t, y) − ε)², one Adam step, then
//! EMA ← d·EMA + (1−d)·weights (with a warm-up: [`ema_decay`]).
//!
//! Files beside `--out` as gan-train writes them: at every checkpoint the
//! EMA generator (`--out`), `STEM.optim.safetensors` (resume state:
//! weights, EMA, Adam, log; see [`state`]) and `STEM.grid-epochNNN.png`
//! (DDIM samples of the EMA model, the same noise every time); every epoch
//! a row of `STEM.log.csv`. Every draw of an epoch (shuffle, t, noise,
//! label dropout) comes from streams keyed by the seed and the epoch, so
//! `--resume` continues bit for bit.

mod state;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::epochs::{self, Progress, SavedEnd, SavedLog, Start, TrainReport, Trainer};
use super::gan::sample_std;
use super::optim::{Adam, AdamConfig};
use super::probe::{self, Features, Probes, TrainData};
use super::saved::Common;
use super::stop::{self, Until};
use crate::artifact::checkpoint::{self, Checkpoint, CheckpointMeta, DiffusionRecord, FidRecord, Trained};
use crate::artifact::provenance::{self, Provenance};
use crate::data::{self, DataOptions, ImageSet};
use crate::error::{Error, Result};
use crate::model::diffusion::{Schedule, T};
use crate::model::dpm_sample::{self, SampleOptions};
use crate::model::gan::{label_tensor, normal_draws};
use crate::model::unet::{self, Unet, UnetConfig};
use crate::{progress, rng};

/// Every parameter of a `dpm-train` run; saved in its provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DpmTrainParams {
    pub train: String,
    /// The U-Net; its `image` and `num_classes` are set from the training
    /// set, its `base` from `channels` (or the default for the image size).
    pub unet: UnetConfig,
    pub channels: Option<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub adam: AdamConfig,
    pub seed: u64,
    pub limit: Option<usize>,
    /// Probability a step's label is the null class (classifier-free guidance).
    pub label_dropout: f64,
    pub ema_decay: f64,
    pub features: Option<PathBuf>,
    pub fid_samples: usize,
    pub fid_every: usize,
    pub checkpoint_every: usize,
    /// How grids and FID samples are drawn from the EMA model.
    pub sample: SampleOptions,
    pub resume: bool,
    pub out: PathBuf,
    /// Stop at the first measured epoch that meets this quality target
    /// (`epochs` is then the cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    /// The real images FID compares against (default: the training set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid_reference: Option<String>,
}

/// One epoch's row of `STEM.log.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DpmEpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub fid: Option<f64>,
    pub recognition: Option<f64>,
    /// Mean per-pixel std of the grid samples (checkpoint epochs).
    pub sample_std: Option<f64>,
    pub images_per_s: f64,
    pub wall_s: f64,
}

const CSV_HEADER: &str = "epoch,loss,fid,recognition,sample_std,images_per_s,wall_s\n";

impl epochs::EpochRow for DpmEpochLog {
    fn quality(&self) -> Option<(f64, f64)> {
        self.fid.zip(self.recognition)
    }
}

impl DpmEpochLog {
    fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|a| format!("{a:.6}")).unwrap_or_default();
        format!(
            "{},{:.6},{},{},{},{:.1},{:.2}\n",
            self.epoch,
            self.loss,
            opt(self.fid),
            opt(self.recognition),
            opt(self.sample_std),
            self.images_per_s,
            self.wall_s
        )
    }

    fn log(&self) {
        tracing::info!(
            "epoch {}: loss {:.4}{}{}, {:.1} img/s, {:.1} s",
            self.epoch,
            self.loss,
            self.fid.map(|f| format!(" FID {f:.2}")).unwrap_or_default(),
            self.recognition.map(|r| format!(" recognition {r:.3}")).unwrap_or_default(),
            self.images_per_s,
            self.wall_s
        );
    }
}

/// What a run ends with.
pub type DpmTrainReport = TrainReport<DpmEpochLog>;

/// The paths a run writes, derived from `--out`.
#[derive(Debug, Clone)]
pub struct DpmPaths {
    pub generator: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl DpmPaths {
    pub fn new(out: &Path) -> Self {
        DpmPaths {
            generator: out.to_path_buf(),
            state: super::sibling(out, "optim.safetensors"),
            log: super::sibling(out, "log.csv"),
        }
    }

    pub fn grid(&self, epoch: usize) -> PathBuf {
        super::sibling(&self.generator, &format!("grid-epoch{epoch:03}.png"))
    }
}

/// The live model, its EMA copy and the optimiser.
pub struct DpmNets {
    pub net: Unet,
    pub vars: VarMap,
    pub ema: Unet,
    pub ema_vars: VarMap,
    pub opt: Adam,
}

/// One training step on `x0` (`[N, C, H, W]` in [-1, 1]) of `labels`:
/// t, label dropout and ε drawn from `r` in that order. Returns the loss;
/// a non-finite loss is [`Error::Diverged`] before the step is taken.
pub fn train_step(
    nets: &mut DpmNets,
    x0: &Tensor,
    labels: &[u8],
    sched: &Schedule,
    p_drop: f64,
    r: &mut rng::Rng,
) -> Result<f32> {
    let (n, dev) = (labels.len(), x0.device());
    let null = nets.net.config.num_classes as u8;
    let ts: Vec<usize> = (0..n).map(|_| r.gen_range(0..T)).collect();
    let y: Vec<u8> = labels.iter().map(|&l| if r.gen::<f64>() < p_drop { null } else { l }).collect();
    let eps = Tensor::from_vec(normal_draws(r, x0.elem_count()), x0.shape(), dev)?;
    let coef = |f: fn(f64) -> f64| -> Result<Tensor> {
        let v: Vec<f32> = ts.iter().map(|&t| f(sched.alpha_bar[t]) as f32).collect();
        Ok(Tensor::from_vec(v, (n, 1, 1, 1), dev)?)
    };
    let xt = (x0.broadcast_mul(&coef(f64::sqrt)?)? + eps.broadcast_mul(&coef(|a| (1.0 - a).sqrt())?)?)?;
    let pred = nets.net.forward(&xt, &ts, &label_tensor(&y, dev)?)?;
    let loss = (pred - &eps)?.sqr()?.mean_all()?;
    let v = loss.to_scalar::<f32>()?;
    super::check_finite(v, "diffusion")?;
    nets.opt.step(&loss.backward()?)?;
    Ok(v)
}

/// The EMA decay after `step` optimiser steps: `min(d, (1 + step)/(10 + step))`,
/// so the average follows the weights early instead of holding the
/// initialisation for the first thousand steps (short runs sample from it).
pub fn ema_decay(d: f64, step: u64) -> f64 {
    d.min((1.0 + step as f64) / (10.0 + step as f64))
}

/// EMA ← d·EMA + (1 − d)·weights, variable by variable.
pub fn ema_update(ema: &VarMap, live: &VarMap, d: f64) -> Result<()> {
    let (e, l) = (ema.data().lock().expect("VarMap lock"), live.data().lock().expect("VarMap lock"));
    for (name, ev) in e.iter() {
        let lv = l.get(name).ok_or_else(|| Error::Invalid(format!("EMA variable '{name}' has no live twin")))?;
        ev.set(&((ev.as_tensor().detach() * d)? + (lv.as_tensor().detach() * (1.0 - d))?)?)?;
    }
    Ok(())
}

/// Refuses bad settings before any work.
pub fn check_params(p: &DpmTrainParams) -> Result<()> {
    if p.batch_size == 0 || p.epochs == 0 || p.checkpoint_every == 0 || p.fid_every == 0 {
        return Err(Error::Invalid(
            "--batch-size, --epochs, --checkpoint-every and --fid-every must be at least 1".into(),
        ));
    }
    if !(0.0..1.0).contains(&p.label_dropout) {
        return Err(Error::Invalid(format!("--label-dropout {} must be in [0, 1)", p.label_dropout)));
    }
    if !(0.0..1.0).contains(&p.ema_decay) {
        return Err(Error::Invalid(format!("--ema-decay {} must be in [0, 1)", p.ema_decay)));
    }
    stop::check_flags(p.features.is_some(), p.until, p.fid_reference.as_deref())?;
    if p.features.is_some() && p.fid_samples < 2 {
        return Err(Error::Invalid(format!(
            "--fid-samples {} is too few for a covariance (at least 2)",
            p.fid_samples
        )));
    }
    p.sample.check()?;
    // Widths and groups, before the image is known (its sides are checked once loaded).
    let probe = data::ImageShape { c: 1, h: 1 << 6, w: 1 << 6 };
    let base = p.channels.unwrap_or(p.unet.base);
    UnetConfig { image: probe, num_classes: 2, base, ..p.unet.clone() }.validate()
}

fn identity(p: &DpmTrainParams, train_hash: &str, cfg: &UnetConfig) -> serde_json::Value {
    let mut id = serde_json::json!({
        "train": train_hash, "config": cfg, "batch_size": p.batch_size, "adam": p.adam, "seed": p.seed,
        "limit": p.limit, "label_dropout": p.label_dropout, "ema_decay": p.ema_decay,
    });
    // Only where given, so states saved before the flag existed still resume.
    if let Some(r) = &p.fid_reference {
        id["fid_reference"] = r.as_str().into();
    }
    id
}

fn meta(p: &DpmTrainParams, cfg: &UnetConfig, dataset: &str, epoch: usize, fid: Option<FidRecord>) -> CheckpointMeta {
    CheckpointMeta {
        kind: "generator".into(),
        arch: unet::ARCH.into(),
        config: serde_json::to_string(cfg).expect("config serialises"),
        dataset: dataset.into(),
        epoch,
        trained: Trained::Diffusion(DiffusionRecord {
            train: p.train.clone(),
            seed: p.seed,
            lr: p.adam.lr,
            ema_decay: p.ema_decay,
            label_dropout: p.label_dropout,
            fid,
        }),
        other: Default::default(),
    }
}

/// With --resume and a saved state of this run: loads it into `nets`.
fn resume(
    p: &DpmTrainParams,
    paths: &DpmPaths,
    ident: &serde_json::Value,
    m: CheckpointMeta,
    nets: &mut DpmNets,
    prov: &mut Provenance,
) -> Result<Start> {
    if !p.resume {
        return Ok(Start::fresh(CSV_HEADER, None));
    }
    if !paths.state.exists() {
        return Ok(Start::fresh(CSV_HEADER, Some(&paths.state)));
    }
    let s = state::read(&paths.state)?;
    let saved = stop::Saved { identity: &s.common.identity, epoch: s.common.epoch, log_csv: &s.common.log_csv };
    let todo = stop::check_resume(&paths.state, &saved, ident, p.epochs, p.until)?;
    Checkpoint { meta: m.clone(), weights: s.weights }.load_into(&paths.state, &nets.vars)?;
    Checkpoint { meta: m, weights: s.ema }.load_into(&paths.state, &nets.ema_vars)?;
    nets.opt.load_state(&s.adam, s.step).map_err(|e| Error::format(&paths.state, e.to_string()))?;
    prov.input_file("resume-state", &paths.state)?;
    Ok(Start::saved(s.common, todo, &paths.state))
}

/// One epoch over a seeded shuffle of `set`, with a progress bar; the mean loss.
fn train_epoch(
    nets: &mut DpmNets,
    set: &ImageSet,
    order: &mut [usize],
    p: &DpmTrainParams,
    sched: &Schedule,
    epoch: usize,
    device: &Device,
) -> Result<f64> {
    order.sort_unstable();
    order.shuffle(&mut rng::stream(p.seed, &format!("shuffle/epoch{epoch}")));
    let mut r = rng::stream(p.seed, &format!("diffusion/epoch{epoch}"));
    let bar = progress::bar(set.len() as u64, "img");
    bar.set_prefix(format!("epoch {epoch}/{}", p.epochs));
    let (mut sum, mut seen) = (0.0f64, 0usize);
    let prepare = |chunk: &[usize]| -> Result<(Vec<f32>, Vec<u8>)> {
        Ok((data::batch_pixels(set, chunk), chunk.iter().map(|&i| set.labels[i]).collect()))
    };
    data::loader::for_each_batch(order, p.batch_size, prepare, |step, chunk, (px, y)| {
        let x0 = data::pixels_tensor(px, set.shape, device)?.affine(2.0, -1.0)?;
        let loss = train_step(nets, &x0, &y, sched, p.label_dropout, &mut r).map_err(|e| match e {
            Error::Diverged(m) => Error::Diverged(format!("epoch {epoch}, step {}: {m}", step + 1)),
            e => e,
        })?;
        ema_update(&nets.ema_vars, &nets.vars, ema_decay(p.ema_decay, nets.opt.t))?;
        sum += loss as f64 * chunk.len() as f64;
        seen += chunk.len();
        bar.inc(chunk.len() as u64);
        bar.set_message(format!("loss {:.4}", sum / seen as f64));
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(sum / seen.max(1) as f64)
}

/// A run once its inputs are read and checked: the nets (resumed, if
/// so), where it starts and what it measures.
struct Setup {
    paths: DpmPaths,
    cfg: UnetConfig,
    nets: DpmNets,
    ident: serde_json::Value,
    dataset: String,
    start: Start,
    features: Option<Features>,
    probes: Probes,
}

/// Builds the U-Net and its EMA copy for the training data, resumes them
/// from a saved state (with --resume), and loads the features network and
/// the FID's real side.
fn set_up(
    p: &DpmTrainParams,
    data: &TrainData,
    data_opts: &DataOptions,
    prov: &mut Provenance,
    device: &Device,
) -> Result<Setup> {
    let paths = DpmPaths::new(&p.out);
    let set = &data.images;
    let base = p.channels.unwrap_or(UnetConfig::new(set.shape, set.num_classes).base);
    let cfg = UnetConfig { image: set.shape, num_classes: set.num_classes, base, ..p.unet.clone() };
    cfg.validate().map_err(|e| Error::Invalid(format!("{}: {e}", p.train)))?;
    let (net, vars) = unet::new_unet(&cfg, p.seed, device)?;
    let (ema, ema_vars) = unet::new_unet(&cfg, p.seed, device)?;
    let opt = Adam::from_varmap(&vars, p.adam);
    let mut nets = DpmNets { net, vars, ema, ema_vars, opt };
    let ident = identity(p, &data.hash, &cfg);
    let dataset = data.full.meta.dataset.clone();
    let start = resume(p, &paths, &ident, meta(p, &cfg, &dataset, 0, None), &mut nets, prov)?;
    let reference = probe::reference_set(p.fid_reference.as_deref(), set, data_opts, prov)?;
    let features = probe::load_features(
        p.features.as_deref(),
        (p.fid_samples, p.seed),
        (&p.train, &reference, &dataset),
        prov,
        device,
    )?;
    if let Some(note) = &start.note {
        tracing::info!("{note}");
    }
    log_start(p, set, &cfg, start.epoch);
    let probes = Probes::new(data, (cfg.image, cfg.num_classes), p.fid_samples);
    Ok(Setup { paths, cfg, nets, ident, dataset, start, features, probes })
}

/// What every epoch reads.
struct Epochs<'a> {
    p: &'a DpmTrainParams,
    saver: Saver<'a>,
    ident: &'a serde_json::Value,
    sched: Schedule,
    set: &'a ImageSet,
    device: &'a Device,
}

impl Trainer for Epochs<'_> {
    type Nets = DpmNets;
    type Row = DpmEpochLog;

    /// Nothing to train (a saved state at the run's last epoch): that
    /// epoch's files again, from its saved state.
    fn finish_saved(&self, nets: &DpmNets, (quality, met): SavedEnd, run: &mut Progress<DpmEpochLog>) -> Result<()> {
        let e: DpmEpochLog = stop::last_logged(&self.saver.paths.state, &run.csv)?;
        let quality = quality.or(e.fid.zip(e.recognition));
        self.saver.checkpoint(nets, &e, quality, None, self.device)?;
        run.end_epoch(&self.saver.paths.log, e, met)
    }

    /// Trains `epoch`, measures the EMA model, writes its files; true when
    /// it met `--until` (the run stops there).
    fn train(
        &self,
        nets: &mut DpmNets,
        epoch: usize,
        order: &mut [usize],
        run: &mut Progress<DpmEpochLog>,
    ) -> Result<bool> {
        let (p, device, probes) = (self.p, self.device, self.saver.probes);
        let t0 = Instant::now();
        let loss = train_epoch(nets, self.set, order, p, &self.sched, epoch, device)?;
        let train_time = t0.elapsed().as_secs_f64();
        let fid_due = epoch % p.fid_every == 0 || epoch == p.epochs;
        let quality = match self.saver.features {
            Some(f) if fid_due => Some(measure(&nets.ema, f, probes, p, device)?),
            _ => None,
        };
        let reached = p.until.zip(quality).is_some_and(|(u, (f, r))| u.reached(f, r));
        let due = epoch % p.checkpoint_every == 0 || epoch == p.epochs || reached;
        let grid_px = if due { Some(draw(&nets.ema, &probes.grid, "grid-noise", p, device)?) } else { None };
        let e = DpmEpochLog {
            epoch,
            loss,
            fid: quality.map(|q| q.0),
            recognition: quality.map(|q| q.1),
            sample_std: grid_px.as_ref().map(|px| sample_std(px, probes.grid.len())),
            images_per_s: self.set.len() as f64 / train_time,
            wall_s: t0.elapsed().as_secs_f64(),
        };
        e.log();
        run.csv.push_str(&e.csv_row());
        probe::improve(&mut run.best, epoch, e.fid);
        if let Some(px) = grid_px {
            self.saver.checkpoint(nets, &e, quality, Some((self.ident, &run.csv, run.best, px)), device)?;
        }
        run.end_epoch(&self.saver.paths.log, e, reached.then_some(epoch))?;
        Ok(reached)
    }
}

/// Runs `dpm-train`.
pub fn run(p: &DpmTrainParams, data_opts: &DataOptions, device: &Device) -> Result<DpmTrainReport> {
    let started = Instant::now();
    check_params(p)?;
    let mut prov = Provenance::start("dpm-train", p, Some(p.seed))?;
    let data = probe::load_train(&p.train, (p.limit, p.seed), data_opts, &mut prov)?;
    let Setup { paths, cfg, mut nets, ident, dataset, start, features, probes } =
        set_up(p, &data, data_opts, &mut prov, device)?;
    let saver = Saver { p, paths: &paths, cfg: &cfg, dataset: &dataset, features: features.as_ref(), probes: &probes };
    let trainer = Epochs { p, saver, ident: &ident, sched: Schedule::new(cfg.schedule), set: &data.images, device };
    let mut report = epochs::run(&trainer, &mut nets, start, (p.epochs, p.until), data.images.len())?;
    finish_provenance(&mut prov, &paths, &report)?;
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&p.out), &prov)?;
    report.wall_time_s = prov.wall_time_s;
    Ok(report)
}

/// What a checkpoint epoch's files are written from.
struct Saver<'a> {
    p: &'a DpmTrainParams,
    paths: &'a DpmPaths,
    cfg: &'a UnetConfig,
    dataset: &'a str,
    features: Option<&'a Features>,
    probes: &'a Probes,
}

/// The run state a trained epoch saves: identity, log, best FID and grid pixels.
type ToSave<'a> = (&'a serde_json::Value, &'a str, Option<(usize, f64)>, Vec<u8>);

impl Saver<'_> {
    /// The EMA generator, the run state (`save`; a run finished from its
    /// saved state has it already, and draws the grid again) and the grid.
    fn checkpoint(
        &self,
        nets: &DpmNets,
        e: &DpmEpochLog,
        quality: Option<(f64, f64)>,
        save: Option<ToSave>,
        device: &Device,
    ) -> Result<()> {
        let (p, epoch) = (self.p, e.epoch);
        let fid = probe::fid_record(self.features, quality, p.fid_samples);
        checkpoint::write(&self.paths.generator, &nets.ema_vars, &meta(p, self.cfg, self.dataset, epoch, fid))?;
        let px = match save {
            Some((ident, csv, best, px)) => {
                save_state(nets, ident, epoch, (csv, best, quality), self.paths)?;
                px
            }
            None => draw(&nets.ema, &self.probes.grid, "grid-noise", p, device)?,
        };
        let title = format!("{} unet epoch {epoch}", self.dataset);
        self.probes.write_grid(px, (title, e.fid), &self.paths.grid(epoch))
    }
}

/// Samples of the EMA model for `labels`, the same noise (`purpose`) every epoch.
fn draw(ema: &Unet, labels: &[u8], purpose: &str, p: &DpmTrainParams, device: &Device) -> Result<Vec<u8>> {
    dpm_sample::generate(ema, labels, &mut rng::stream(p.seed, purpose), 250, &p.sample, device)
}

fn measure(ema: &Unet, f: &Features, probes: &Probes, p: &DpmTrainParams, device: &Device) -> Result<(f64, f64)> {
    probes.measure(f, draw(ema, &probes.fid, "fid-noise", p, device)?)
}

fn save_state(nets: &DpmNets, ident: &serde_json::Value, epoch: usize, log: SavedLog, paths: &DpmPaths) -> Result<()> {
    let s = state::State {
        common: Common { epoch, identity: ident.clone(), log_csv: log.0.to_string(), best: log.1, quality: log.2 },
        step: nets.opt.t,
        weights: checkpoint::weights_of(&nets.vars)?,
        ema: checkpoint::weights_of(&nets.ema_vars)?,
        adam: nets.opt.state().into_iter().collect(),
    };
    crate::artifact::write_atomic(&paths.state, &state::encode(&s)?)
}

fn finish_provenance(prov: &mut Provenance, paths: &DpmPaths, report: &DpmTrainReport) -> Result<()> {
    let last = report.last();
    prov.output_file("generator", &paths.generator)?;
    prov.output_file("state", &paths.state)?;
    prov.output_file("log", &paths.log)?;
    let metrics = [
        ("loss", Some(last.loss)),
        ("fid", last.fid),
        ("recognition", last.recognition),
        ("images_per_s", Some(last.images_per_s)),
        ("epochs_trained", Some(last.epoch as f64)),
        ("until_reached", report.until_reached),
    ];
    probe::record_metrics(prov, &metrics, report.best_fid);
    Ok(())
}

fn log_start(p: &DpmTrainParams, set: &ImageSet, cfg: &UnetConfig, start: usize) {
    tracing::info!(
        "dpm-train unet on {} ({} images, {}), epochs {}..={}, batch {}, lr {}, widths {:?}, {} res block(s), attention {}, {:?} schedule",
        p.train,
        set.len(),
        cfg.image,
        start + 1,
        p.epochs,
        p.batch_size,
        p.adam.lr,
        cfg.widths(),
        cfg.res_blocks,
        cfg.attention,
        cfg.schedule
    );
}
