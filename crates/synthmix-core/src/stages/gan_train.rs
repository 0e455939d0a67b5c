//! The `gan-train` stage: train a class-conditional GAN on a real image set.
//! Flags → `train::gan::run`.

use std::path::PathBuf;

use crate::cli::{CommonArgs, StopArgs};
use crate::limits;
use crate::model::gan::GanArch;
use crate::ops::ConvAlgorithm;
use crate::train::gan::{self, GanPreset, GanTrainParams, Keep, OnCollapse};
use crate::train::optim::AdamConfig;
use anyhow::Context;
use clap::Parser;

/// Train a conditional GAN (BCE, non-saturating G loss, Adam). At every
/// checkpoint writes the generator (OUT), OUT-stem.disc.safetensors, the
/// resume state OUT-stem.optim.safetensors and a sample grid
/// OUT-stem.grid-epochNNN.png; every epoch a row of OUT-stem.log.csv.
#[derive(Parser)]
#[command(name = "gan-train", version)]
pub struct Args {
    /// Training set: an image-set file or DATASET:SPLIT (e.g. mnist:train).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    train: String,
    /// Architecture: mlp (the paper's cGAN) or dcgan (convolutional G,
    /// projection D; image sides divisible by 4, e.g. CIFAR-10).
    #[arg(long, value_enum, default_value_t = GanArch::Mlp)]
    arch: GanArch,
    /// Epochs to train to (with --resume: the total, not the extra epochs).
    #[arg(long, default_value_t = 15, value_parser = limits::epochs)]
    epochs: usize,
    /// Optimiser settings: default (lr 2e-4 for both, β1 0.5; trains) or
    /// paper (D lr 1e-4, G lr 2e-5, β1 0.5; measured to collapse, see docs/stages.md).
    #[arg(long, value_enum, default_value_t = GanPreset::Default)]
    preset: GanPreset,
    /// D's Adam learning rate (overrides the preset).
    #[arg(long, value_parser = limits::learning_rate)]
    lr_d: Option<f64>,
    /// G's Adam learning rate (overrides the preset).
    #[arg(long, value_parser = limits::learning_rate)]
    lr_g: Option<f64>,
    /// Adam β1 of both (overrides the preset's 0.5).
    #[arg(long, value_parser = limits::beta)]
    beta1: Option<f64>,
    /// Adam β2 of both (overrides the preset's 0.999).
    #[arg(long, value_parser = limits::beta)]
    beta2: Option<f64>,
    /// Real images per step (the paper's 100).
    #[arg(long, default_value_t = 100, value_parser = limits::batch_size)]
    batch_size: usize,
    /// Seed of weights, shuffles, noise, fake labels and dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on a seeded, class-stratified subset of this many images.
    #[arg(long, value_parser = limits::images)]
    limit: Option<usize>,
    /// Classifier checkpoint (clf-train on the real training set) whose
    /// penultimate-layer features give the FID; without it, no FID.
    #[arg(long)]
    features: Option<PathBuf>,
    /// Generated images per FID (and at most this many real ones).
    #[arg(long, default_value_t = 10000, value_parser = limits::images)]
    fid_samples: usize,
    /// Compute FID and recognition every N epochs (and after the last): on a
    /// small training set an epoch is a few steps, and the FID would cost
    /// more than the training.
    #[arg(long, default_value_t = 1, value_parser = limits::epochs)]
    fid_every: usize,
    /// Write a checkpoint every N epochs (and after the last).
    #[arg(long, default_value_t = 1, value_parser = limits::epochs)]
    checkpoint_every: usize,
    /// Which generator OUT holds: the last, or the one with the lowest FID.
    #[arg(long, value_enum, default_value_t = Keep::Last)]
    keep: Keep,
    /// A collapsed generator (the fixed samples' pixel std below 0.005):
    /// stop with an error, or warn and train to the last epoch (to report a
    /// collapsing setting, such as the paper preset, as it is).
    #[arg(long, value_enum, default_value_t = OnCollapse::Stop)]
    on_collapse: OnCollapse,
    /// The dcgan's conv kernels: im2col (default) or winograd (Winograd
    /// F(2x2, 3x3) on its 3x3 layers with at least 32 channels in and out;
    /// equal up to rounding, not bit for bit). Recorded in the checkpoints;
    /// synth-sample follows it.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    conv_algorithm: Option<ConvAlgorithm>,
    /// Continue from OUT-stem.optim.safetensors (exactly as if never stopped).
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    stop: StopArgs,
    /// Output generator checkpoint (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pub(super) common: CommonArgs,
}

/// `gan-train`'s body, run by [`super::run_with`] once the flags are parsed
/// and logging is set up.
pub fn run(a: Args) -> anyhow::Result<()> {
    let (d, g) = a.preset.adam();
    let with = |c: AdamConfig, lr: Option<f64>| AdamConfig {
        lr: lr.unwrap_or(c.lr),
        beta1: a.beta1.unwrap_or(c.beta1),
        beta2: a.beta2.unwrap_or(c.beta2),
        eps: c.eps,
    };
    let params = GanTrainParams {
        train: a.train.clone(),
        arch: a.arch,
        preset: a.preset,
        epochs: a.epochs,
        batch_size: a.batch_size,
        adam_d: with(d, a.lr_d),
        adam_g: with(g, a.lr_g),
        seed: a.seed,
        limit: a.limit,
        features: a.features.clone(),
        fid_samples: a.fid_samples,
        checkpoint_every: a.checkpoint_every,
        fid_every: a.fid_every,
        keep: a.keep,
        on_collapse: a.on_collapse,
        resume: a.resume,
        out: a.out.clone(),
        until: a.stop.until,
        fid_reference: a.stop.fid_reference.clone(),
        conv: a.conv_algorithm.unwrap_or_default(),
    };
    let mut inputs = vec![("--train", std::path::Path::new(&a.train))];
    if let Some(f) = &a.features {
        inputs.push(("--features", f.as_path()));
    }
    inputs.extend(a.stop.input());
    let side = ["log.csv", "optim.safetensors", "disc.safetensors"].map(|s| crate::artifact::sibling(&a.out, s));
    super::check_outputs(&a.common, &a.out, side.to_vec(), &inputs)?;
    let device = a.common.device()?;
    let report = gan::run(&params, &a.common.data_options(), &device)
        .with_context(|| format!("gan-train {}", a.out.display()))?;
    println!("{}", serde_json::to_string(report.epochs.last().expect("one epoch at least"))?);
    Ok(())
}
