//! The `clf-train` stage: train the paper's classifier on an image set or DATASET:SPLIT.
//! Flags → `train::classifier::run`.

use std::path::PathBuf;

use crate::cli::CommonArgs;
use crate::limits;
use crate::model::classifier::MAX_CONVS_PER_BLOCK;
use crate::model::ClassifierArch;
use crate::ops::ConvAlgorithm;
use crate::train::classifier::{self, ClfTrainParams, Rebalance};
use crate::train::optim::AdamConfig;
use anyhow::Context;
use clap::Parser;

/// Train a classifier (Adam, cross-entropy, pixels scaled to [0, 1]). Writes
/// the checkpoint (rewritten after every epoch), OUT-stem.log.csv (one row per
/// epoch) and OUT-stem.prov.bin.
#[derive(Parser)]
#[command(name = "clf-train", version)]
pub struct Args {
    /// Training set: an image-set file or DATASET:SPLIT (e.g. mnist:train).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    train: String,
    /// Architecture: simple-cnn (1x28x28, MNIST/Fashion-MNIST) or deep-cnn
    /// (3x32x32, CIFAR-10; smaller 1-channel sets are padded and repeated).
    #[arg(long, value_enum, default_value_t = ClassifierArch::SimpleCnn)]
    arch: ClassifierArch,
    /// Epochs (default: the paper's, 10 for simple-cnn, 50 for deep-cnn).
    #[arg(long, value_parser = limits::epochs, conflicts_with = "budget")]
    epochs: Option<usize>,
    /// Train on exactly this many images instead of whole epochs (the last
    /// epoch is cut short): the same compute for sets of any size, as the
    /// regimes study compares them.
    #[arg(long, value_parser = limits::images)]
    budget: Option<usize>,
    /// Counter class imbalance: none, oversample (repeat each class up to the
    /// largest every epoch) or class-weight (loss weight N/(K·n_class)).
    #[arg(long, value_enum, default_value_t = Rebalance::None)]
    rebalance: Rebalance,
    /// Adam learning rate (default: the paper's, 1e-4 for simple-cnn, 1e-3 for deep-cnn).
    #[arg(long, value_parser = limits::learning_rate)]
    lr: Option<f64>,
    /// Adam beta1.
    #[arg(long, default_value_t = 0.9, value_parser = limits::beta)]
    beta1: f64,
    /// Adam beta2.
    #[arg(long, default_value_t = 0.999, value_parser = limits::beta)]
    beta2: f64,
    /// Adam epsilon.
    #[arg(long, default_value_t = 1e-8, value_parser = limits::epsilon)]
    eps: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64, value_parser = limits::batch_size)]
    batch_size: usize,
    /// Seed of weights, dropout masks, shuffles and subsets.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the training set held out for validation (stratified, seeded).
    #[arg(long, default_value_t = 0.0, value_parser = limits::fraction)]
    val_fraction: f64,
    /// Train on a seeded, class-stratified subset of this many images.
    #[arg(long, value_parser = limits::images)]
    limit: Option<usize>,
    /// Loss weight of the synthetic items (real items weigh 1): below 1
    /// down-weights synthetic images in a mix built with mix-build
    /// --mark-synthetic; 0 makes them contribute nothing.
    #[arg(long, value_parser = limits::unit_interval)]
    synthetic_weight: Option<f64>,
    /// Dataset recycling: every --recycle-every epochs the synthetic items of
    /// the (marked) mix take fresh images of their class from this synthetic
    /// pool (several times their number), deterministic by --seed.
    #[arg(long, value_name = "POOL", value_hint = clap::ValueHint::FilePath)]
    recycle: Option<String>,
    /// Epochs between fresh synthetic images with --recycle.
    #[arg(long, default_value_t = 1, requires = "recycle", value_parser = limits::epochs)]
    recycle_every: usize,
    /// Start from this classifier checkpoint's weights instead of a fresh
    /// initialisation (two-stage training: pre-train on synthetic images,
    /// then fine-tune on the real set with its own --lr and --epochs).
    #[arg(long, value_name = "CHECKPOINT")]
    init: Option<PathBuf>,
    /// The conv layers' CPU kernels: im2col (default) or winograd (Winograd
    /// F(2x2, 3x3) on the 3x3 layers with at least 32 channels in and out:
    /// the simple CNN's second, the deep CNN's last five; 1.1-1.4x faster
    /// per layer; equal up to rounding, not bit for bit). Recorded in the
    /// checkpoint; evaluate follows it.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    conv_algorithm: Option<ConvAlgorithm>,
    /// Dropout rate after each conv block, in [0, 1) (deep-cnn only; default:
    /// the architecture's, 0.2). Recorded in the checkpoint's config.
    #[arg(long, value_name = "P", value_parser = limits::fraction)]
    dropout_conv: Option<f64>,
    /// Dropout rate before the output layer, in [0, 1) (default: the
    /// architecture's, 0.5). Recorded in the checkpoint's config.
    #[arg(long, value_name = "P", value_parser = limits::fraction)]
    dropout_head: Option<f64>,
    /// 3x3 convs in each of the deep CNN's three blocks, 1 to 4 (deep-cnn
    /// only; default 2; 1 is the other reading of the paper's "three conv
    /// blocks"). Recorded in the checkpoint's config.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=MAX_CONVS_PER_BLOCK as i64))]
    convs_per_block: Option<u8>,
    /// A test set scored after every epoch and logged (e.g. mnist:test).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    eval_test: Option<String>,
    /// Continue an unfinished run (stopped or killed) from the state it
    /// leaves beside OUT after every epoch (OUT-stem.resume.safetensors,
    /// removed when the run finishes), exactly as if it had never stopped;
    /// starts afresh where there is none. The settings must be the same
    /// (--epochs may be raised).
    #[arg(long)]
    resume: bool,
    /// Output checkpoint (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pub(super) common: CommonArgs,
}

/// `clf-train`'s body, run by [`super::run_with`] once the flags are parsed
/// and logging is set up.
pub fn run(a: Args) -> anyhow::Result<()> {
    let (lr, epochs) = a.arch.paper_lr_epochs();
    let params = ClfTrainParams {
        train: a.train.clone(),
        arch: a.arch,
        epochs: a.epochs.unwrap_or(epochs),
        batch_size: a.batch_size,
        adam: AdamConfig { lr: a.lr.unwrap_or(lr), beta1: a.beta1, beta2: a.beta2, eps: a.eps },
        seed: a.seed,
        val_fraction: a.val_fraction,
        limit: a.limit,
        eval_test: a.eval_test,
        out: a.out.clone(),
        rebalance: a.rebalance,
        budget: a.budget,
        init: a.init,
        synthetic_weight: a.synthetic_weight,
        recycle: a.recycle.map(|pool| classifier::RecycleParams { pool, every: a.recycle_every }),
        conv: a.conv_algorithm.unwrap_or_default(),
        resume: a.resume,
        dropout_conv: a.dropout_conv.map(|p| p as f32),
        dropout_head: a.dropout_head.map(|p| p as f32),
        convs_per_block: a.convs_per_block.map(usize::from),
    };
    let mut inputs = vec![("--train", std::path::Path::new(&a.train))];
    if let Some(t) = &params.eval_test {
        inputs.push(("--eval-test", std::path::Path::new(t)));
    }
    if let Some(i) = &params.init {
        inputs.push(("--init", i.as_path()));
    }
    if let Some(r) = &params.recycle {
        inputs.push(("--recycle", std::path::Path::new(&r.pool)));
    }
    let siblings = vec![crate::artifact::sibling(&a.out, "log.csv"), crate::train::clf_resume::state_path(&a.out)];
    super::check_outputs(&a.common, &a.out, siblings, &inputs)?;
    let device = a.common.device()?;
    let report = classifier::run(&params, &a.common.data_options(), &device)
        .with_context(|| format!("clf-train {}", a.out.display()))?;
    println!("{}", serde_json::to_string(report.epochs.last().expect("one epoch at least"))?);
    Ok(())
}
