//! The `mix-build` stage: mix a real and a synthetic set at ratio O:S.
//! Flags → `data::mix::run`.

use std::path::PathBuf;

use crate::cli::CommonArgs;
use crate::data::mix::{self, Balance, MixMode, MixParams, Ratio};
use crate::data::subset::Subset;
use anyhow::Context;
use clap::Parser;

/// Build a mix of real and synthetic images at ratio O:S with a constant total
/// size, class by class, drawn without replacement; or fill a real set's
/// classes with synthetic images up to balance (--fill); or make a reduced
/// real set (--subset: imbalance, scarce data). The provenance record beside
/// OUT lists exactly which source images went in.
#[derive(Parser)]
#[command(name = "mix-build", version)]
pub struct Args {
    /// Real set: an image-set file or DATASET:SPLIT (e.g. mnist:train).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    real: String,
    /// Synthetic set (from synth-sample); not with --subset, and not needed
    /// for a ratio O:0 (an all-real draw, e.g. a stratified test subset).
    #[arg(long, conflicts_with = "subset", value_hint = clap::ValueHint::FilePath)]
    synthetic: Option<String>,
    /// Original:Synthetic ratio, e.g. 1:1, 5:1, 1:2; 1:0 and 0:1 for pure sets.
    #[arg(long, required_unless_present_any = ["fill", "subset"], conflicts_with_all = ["fill", "subset"])]
    ratio: Option<Ratio>,
    /// Keep every real image and add synthetic images to each class until it
    /// has as many as the largest real class (imbalance: synthetic fill).
    #[arg(long, conflicts_with_all = ["subset", "total", "all_real"])]
    fill: bool,
    /// Make a reduced real set from --real instead of a mix, by RULE:
    /// fraction:F (stratified share F of every class), longtail:IF (class c
    /// keeps n·IF^(-c/(K-1)), n the smallest class's size), step:R:0,3,5 or
    /// step:R:k=N (those or N seeded classes keep R·n, the others n),
    /// balanced or balanced:N (n or N per class). Per class the first images
    /// of a seeded permutation: the same seed gives nested subsets.
    #[arg(long, conflicts_with_all = ["total", "all_real", "balance"])]
    subset: Option<Subset>,
    /// Total images (default: the real set's size, as in the paper).
    #[arg(long, value_parser = crate::limits::images)]
    total: Option<usize>,
    /// Keep every real image; the total follows from the ratio (e.g. 1:5
    /// adds five synthetic images per real one).
    #[arg(long, conflicts_with = "total")]
    all_real: bool,
    /// Record in the set which items are synthetic (a `synthetic` 0/1
    /// tensor), for clf-train --synthetic-weight.
    #[arg(long)]
    mark_synthetic: bool,
    /// Class distribution of the mix: the real set's proportions, or uniform.
    #[arg(long, value_enum, default_value_t = Balance::Stratified)]
    balance: Balance,
    /// Seed of the draw and of the mix order (of the subset with --subset).
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
    let mode = match (a.subset, a.fill) {
        (Some(rule), _) => Some(MixMode::Subset(rule)),
        (None, true) => Some(MixMode::Fill),
        (None, false) => None,
    };
    let params = MixParams {
        real: a.real,
        synthetic: a.synthetic.unwrap_or_default(),
        ratio: a.ratio,
        mode,
        total: a.total,
        all_real: a.all_real,
        mark_synthetic: a.mark_synthetic,
        balance: a.balance,
        seed: a.seed,
        out: a.out.clone(),
    };
    let mut inputs = vec![("--real", std::path::Path::new(&params.real))];
    if !params.synthetic.is_empty() {
        inputs.push(("--synthetic", std::path::Path::new(&params.synthetic)));
    }
    super::check_outputs(&a.common, &a.out, vec![], &inputs)?;
    let (mixed, m) =
        mix::run(&params, &a.common.data_options()).with_context(|| format!("mix-build {}", a.out.display()))?;
    let how = match params.mode()? {
        MixMode::Ratio(r) => format!("at {r}"),
        MixMode::Fill => "filled to balance".to_string(),
        MixMode::Subset(rule) => format!("subset {rule}, per class {:?}", m.real_per_class),
    };
    println!(
        "wrote {}: {} images ({} real, {} synthetic) {how}",
        a.out.display(),
        mixed.len(),
        m.real_per_class.iter().sum::<usize>(),
        m.synthetic_per_class.iter().sum::<usize>(),
    );
    Ok(())
}
