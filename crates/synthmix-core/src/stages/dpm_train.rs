//! The `dpm-train` stage: train a class-conditional diffusion model on a
//! real image set. Flags → `train::dpm::run`.

use std::path::PathBuf;

use crate::cli::{CommonArgs, StopArgs};
use crate::limits;
use crate::model::diffusion::{Sampler, ScheduleKind};
use crate::model::dpm_sample::SampleOptions;
use crate::model::unet::UnetConfig;
use crate::train::dpm::{self, DpmTrainParams};
use crate::train::optim::AdamConfig;
use anyhow::Context;
use clap::Parser;

/// Train a class-conditional diffusion model (DDPM, ε-prediction, T = 1000,
/// U-Net, classifier-free guidance training, EMA weights). At every
/// checkpoint writes the EMA generator (OUT), the resume state
/// OUT-stem.optim.safetensors and a DDIM sample grid
/// OUT-stem.grid-epochNNN.png; every epoch a row of OUT-stem.log.csv.
/// synth-sample draws from OUT.
#[derive(Parser)]
#[command(name = "dpm-train", version)]
pub struct Args {
    /// Training set: an image-set file or DATASET:SPLIT (e.g. mnist:train).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    train: String,
    /// Epochs to train to (with --resume: the total, not the extra epochs).
    #[arg(long, default_value_t = 20, value_parser = limits::epochs)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64, value_parser = limits::batch_size)]
    batch_size: usize,
    /// Adam learning rate (β = 0.9, 0.999).
    #[arg(long, default_value_t = 2e-4, value_parser = limits::learning_rate)]
    lr: f64,
    /// Seed of weights, shuffles, timesteps, noise and label dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on a seeded, class-stratified subset of this many images.
    #[arg(long, value_parser = limits::images)]
    limit: Option<usize>,
    /// Noise schedule: cosine (Nichol & Dhariwal) or linear (Ho et al., β 1e-4 to 0.02).
    #[arg(long, value_enum, default_value_t = ScheduleKind::Cosine)]
    schedule: ScheduleKind,
    /// Probability a training label is replaced by the null class, so one
    /// model learns the conditional and the unconditional ε (classifier-free guidance).
    #[arg(long, default_value_t = 0.1, value_parser = limits::fraction)]
    label_dropout: f64,
    /// Decay of the EMA of the weights that OUT holds and sampling uses.
    #[arg(long, default_value_t = 0.999, value_parser = limits::beta)]
    ema_decay: f64,
    /// U-Net channels of the first level [default: 32 for grey images, 64 for colour].
    #[arg(long)]
    channels: Option<usize>,
    /// Channel multiplier of each level, comma-separated: one level per entry,
    /// halving the resolution between levels (28 → 14 → 7 for 1,2,2).
    #[arg(long, default_value = "1,2,2", value_parser = mults)]
    channel_mults: Mults,
    /// Residual blocks per level on each side of the U-Net.
    #[arg(long, default_value_t = 1)]
    res_blocks: usize,
    /// GroupNorm groups; must divide every level's channels.
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// No self-attention block at the lowest resolution.
    #[arg(long)]
    no_attention: bool,
    /// Classifier checkpoint (clf-train on the real training set) whose
    /// penultimate-layer features give the FID; without it, no FID.
    #[arg(long)]
    features: Option<PathBuf>,
    /// Generated images per FID (and at most this many real ones).
    #[arg(long, default_value_t = 1000, value_parser = limits::images)]
    fid_samples: usize,
    /// Compute FID and recognition every N epochs (and after the last).
    #[arg(long, default_value_t = 5, value_parser = limits::epochs)]
    fid_every: usize,
    /// Write a checkpoint (and a grid) every N epochs (and after the last).
    #[arg(long, default_value_t = 1, value_parser = limits::epochs)]
    checkpoint_every: usize,
    /// DDIM steps of the grid and FID samples (1 to 1000).
    #[arg(long, default_value_t = 50)]
    sample_steps: usize,
    /// Classifier-free guidance weight of the grid and FID samples (0 = conditional model).
    #[arg(long, default_value_t = 1.0)]
    sample_guidance: f64,
    /// Continue from OUT-stem.optim.safetensors (exactly as if never stopped).
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    stop: StopArgs,
    /// Output generator checkpoint (.safetensors; the EMA weights).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pub(super) common: CommonArgs,
}

/// `--channel-mults`: comma-separated level multipliers.
#[derive(Clone, Debug)]
pub struct Mults(Vec<usize>);

fn mults(s: &str) -> Result<Mults, String> {
    let v: Result<Vec<usize>, _> = s.split(',').map(|x| x.trim().parse::<usize>()).collect();
    v.map(Mults).map_err(|_| format!("'{s}' is not a comma-separated list of whole numbers (e.g. 1,2,2)"))
}

/// `dpm-train`'s body, run by [`super::run_with`] once the flags are parsed
/// and logging is set up.
pub fn run(a: Args) -> anyhow::Result<()> {
    // Image and classes are placeholders until the training set is read.
    let mut unet = UnetConfig::new(crate::data::ImageShape { c: 1, h: 28, w: 28 }, 10);
    unet.mults = a.channel_mults.0.clone();
    unet.res_blocks = a.res_blocks;
    unet.groups = a.groups;
    unet.attention = !a.no_attention;
    unet.schedule = a.schedule;
    let params = DpmTrainParams {
        train: a.train.clone(),
        unet,
        channels: a.channels,
        epochs: a.epochs,
        batch_size: a.batch_size,
        adam: AdamConfig::new(a.lr),
        seed: a.seed,
        limit: a.limit,
        label_dropout: a.label_dropout,
        ema_decay: a.ema_decay,
        features: a.features.clone(),
        fid_samples: a.fid_samples,
        fid_every: a.fid_every,
        checkpoint_every: a.checkpoint_every,
        sample: SampleOptions {
            sampler: Sampler::Ddim,
            steps: a.sample_steps,
            guidance: a.sample_guidance,
            sigma: 1.0,
        },
        resume: a.resume,
        out: a.out.clone(),
        until: a.stop.until,
        fid_reference: a.stop.fid_reference.clone(),
    };
    dpm::check_params(&params)?;
    let mut inputs = vec![("--train", std::path::Path::new(&a.train))];
    if let Some(f) = &a.features {
        inputs.push(("--features", f.as_path()));
    }
    inputs.extend(a.stop.input());
    let side = ["log.csv", "optim.safetensors"].map(|s| crate::artifact::sibling(&a.out, s));
    super::check_outputs(&a.common, &a.out, side.to_vec(), &inputs)?;
    let device = a.common.device()?;
    let report = dpm::run(&params, &a.common.data_options(), &device)
        .with_context(|| format!("dpm-train {}", a.out.display()))?;
    println!("{}", serde_json::to_string(report.epochs.last().expect("one epoch at least"))?);
    Ok(())
}
