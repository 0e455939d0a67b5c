//! The `evaluate` stage: score classifier checkpoints on test sets, or (`--fid`) compare
//! a generated set with a real one.
//! Flags → `metrics::evaluate::run` / `metrics::fid::run`.

use std::path::PathBuf;

use crate::cli::CommonArgs;
use crate::metrics::evaluate::{self, EvalParams};
use crate::metrics::fid::{self, FidParams};
use anyhow::Context;
use clap::Parser;

/// Score every classifier on every test set: accuracy, per-class accuracy and
/// confusion matrix, written to OUT (JSON) and OUT with .csv, printed as a table.
/// With --fid REAL GEN --features CLF: FID, per-class FID and recognition
/// (how often a generated image is classified as its label), printed and
/// written to OUT (JSON) when given.
#[derive(Parser)]
#[command(name = "evaluate", version)]
pub struct Args {
    /// Classifier checkpoints (from clf-train).
    #[arg(long, num_args = 1.., required_unless_present = "fid", conflicts_with = "fid")]
    classifier: Vec<PathBuf>,
    /// Test sets: image-set files or DATASET:SPLIT (mnist:test, mnist-c/shot_noise:test, …).
    #[arg(long, num_args = 1.., required_unless_present = "fid", conflicts_with = "fid", value_hint = clap::ValueHint::FilePath)]
    test: Vec<String>,
    /// Compare a generated set with a real one: REAL_SET GEN_SET (files or DATASET:SPLIT).
    #[arg(long, num_args = 2, value_names = ["REAL_SET", "GEN_SET"], requires = "features", value_hint = clap::ValueHint::FilePath)]
    fid: Option<Vec<String>>,
    /// Classifier checkpoint whose penultimate-layer features give the FID.
    #[arg(long, requires = "fid")]
    features: Option<PathBuf>,
    /// With --fid: write the feature matrices (safetensors: `real`, `generated`
    /// F32 [N, D], and their labels) to this file.
    #[arg(long, requires = "fid")]
    dump_features: Option<PathBuf>,
    /// Images per inference batch.
    #[arg(long, default_value_t = 1000, value_parser = crate::limits::batch_size)]
    batch_size: usize,
    /// Output metrics file (.json); the CSV goes beside it. Optional with --fid.
    #[arg(long, required_unless_present = "fid")]
    out: Option<PathBuf>,
    #[command(flatten)]
    pub(super) common: CommonArgs,
}

/// `evaluate`'s body, run by [`super::run_with`] once the flags are parsed
/// and logging is set up.
pub fn run(a: Args) -> anyhow::Result<()> {
    let device = a.common.device()?;
    if let (Some(sets), Some(features)) = (a.fid, a.features) {
        let params = FidParams {
            real: sets[0].clone(),
            generated: sets[1].clone(),
            features,
            dump_features: a.dump_features,
            batch_size: a.batch_size,
            out: a.out,
        };
        let report = fid::run(&params, &a.common.data_options(), &device)
            .with_context(|| format!("evaluate --fid {} {}", params.real, params.generated))?;
        print!("{}", report.table());
        return Ok(());
    }
    let out = a.out.expect("clap requires --out without --fid");
    let mut inputs: Vec<(&str, &std::path::Path)> =
        a.classifier.iter().map(|c| ("--classifier", c.as_path())).collect();
    inputs.extend(a.test.iter().map(|t| ("--test", std::path::Path::new(t))));
    // The CSV goes beside OUT as OUT with extension .csv.
    super::check_outputs(&a.common, &out, vec![out.with_extension("csv")], &inputs)?;
    let params = EvalParams { classifiers: a.classifier, tests: a.test, batch_size: a.batch_size, out: out.clone() };
    let report = evaluate::run(&params, &a.common.data_options(), &device)
        .with_context(|| format!("evaluate {}", out.display()))?;
    print!("{}", report.table());
    Ok(())
}
