//! The `mix-build` stage: mix a real and a synthetic set at ratio O:S.
//! Flags → `data::mix::run`.

use std::path::PathBuf;

use crate::cli::CommonArgs;
use crate::data::mix::{self, Balance, MixParams, Ratio};
use anyhow::Context;
use clap::Parser;

/// Build a mix of real and synthetic images at ratio O:S with a constant total
/// size, class by class, drawn without replacement. The provenance record
/// beside OUT lists exactly which source images went in.
#[derive(Parser)]
#[command(name = "mix-build", version)]
pub struct Args {
    /// Real set: an image-set file or DATASET:SPLIT (e.g. mnist:train).
    #[arg(long)]
    real: String,
    /// Synthetic set (from synth-sample).
    #[arg(long)]
    synthetic: String,
    /// Original:Synthetic ratio, e.g. 1:1, 5:1, 1:2; 1:0 and 0:1 for pure sets.
    #[arg(long)]
    ratio: Ratio,
    /// Total images (default: the real set's size, as in the paper).
    #[arg(long, value_parser = crate::limits::images)]
    total: Option<usize>,
    /// Class distribution of the mix: the real set's proportions, or uniform.
    #[arg(long, value_enum, default_value_t = Balance::Stratified)]
    balance: Balance,
    /// Seed of the draw and of the mix order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output image set (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pub(super) common: CommonArgs,
}

/// `mix-build`'s body, run by [`super::run_with`] once the flags are parsed
/// and logging is set up.
pub fn run(a: Args) -> anyhow::Result<()> {
    let params = MixParams {
        real: a.real,
        synthetic: a.synthetic,
        ratio: a.ratio,
        total: a.total,
        balance: a.balance,
        seed: a.seed,
        out: a.out.clone(),
    };
    let inputs =
        [("--real", std::path::Path::new(&params.real)), ("--synthetic", std::path::Path::new(&params.synthetic))];
    super::check_outputs(&a.common, &a.out, vec![], &inputs)?;
    let (mixed, m) =
        mix::run(&params, &a.common.data_options()).with_context(|| format!("mix-build {}", a.out.display()))?;
    println!(
        "wrote {}: {} images ({} real, {} synthetic) at {}",
        a.out.display(),
        mixed.len(),
        m.real_per_class.iter().sum::<usize>(),
        m.synthetic_per_class.iter().sum::<usize>(),
        params.ratio
    );
    Ok(())
}
