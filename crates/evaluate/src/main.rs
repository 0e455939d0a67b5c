//! `evaluate`: score classifier checkpoints on test sets.
//! Thin: flags → `synthmix_core::metrics::evaluate::run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use synthmix_core::cli::CommonArgs;
use synthmix_core::metrics::evaluate::{self, EvalParams};

/// Score every classifier on every test set: accuracy, per-class accuracy and
/// confusion matrix, written to OUT (JSON) and OUT with .csv, printed as a table.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Classifier checkpoints (from clf-train).
    #[arg(long, num_args = 1.., required = true)]
    classifier: Vec<PathBuf>,
    /// Test sets: image-set files or DATASET:SPLIT (mnist:test, mnist-c/shot_noise:test, …).
    #[arg(long, num_args = 1.., required = true)]
    test: Vec<String>,
    /// Images per inference batch.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Output metrics file (.json); the CSV goes beside it.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> std::process::ExitCode {
    synthmix_core::cli::run_main(|| {
        let a = Args::parse();
        a.common.init_logging();
        let params =
            EvalParams { classifiers: a.classifier, tests: a.test, batch_size: a.batch_size, out: a.out.clone() };
        let device = a.common.device()?;
        let report = evaluate::run(&params, &a.common.data_options(), &device)
            .with_context(|| format!("evaluate {}", a.out.display()))?;
        print!("{}", report.table());
        Ok(())
    })
}
