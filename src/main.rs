//! `synthmix`: the data tool and artifact inspector (and, with the pipeline
//! issue, the runner). Thin: every command is one call into synthmix-core.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use synthmix_core::{artifact, cli::CommonArgs, data, report};

#[derive(Parser)]
#[command(
    name = "synthmix",
    version,
    about = "Train classifiers on mixes of real and GAN-generated images: data, artifacts, pipelines"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Real datasets: fetch, verify, export.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Print any artifact readably (image set, checkpoint, provenance record),
    /// or with --grid write a labelled sample grid PNG of an image set.
    Show {
        /// An artifact file, or for --grid also a dataset name DATASET:SPLIT.
        file: String,
        /// Write a sample grid (one row per class) instead of printing.
        #[arg(long, requires = "out")]
        grid: bool,
        /// Where to write the grid PNG.
        #[arg(long, value_name = "PNG")]
        out: Option<PathBuf>,
        /// Images per class in the grid.
        #[arg(long, default_value_t = 10)]
        per_class: usize,
        /// Integer upscaling of each image in the grid.
        #[arg(long, default_value_t = 2)]
        scale: u32,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Download the official files of DATASETs (mnist, fashion-mnist, cifar-10)
    /// into the data dir, verifying checksums; skips files already verified.
    Fetch {
        /// Datasets to fetch (default: mnist fashion-mnist cifar-10).
        datasets: Vec<String>,
        /// Network timeout per request, seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Check the data dir's files against the checksum table.
    Verify {
        /// Datasets to verify (default: those present).
        datasets: Vec<String>,
    },
    /// Write a real split (DATASET:SPLIT) as an image-set artifact.
    Export {
        /// Dataset name, e.g. mnist:train or mnist-c/shot_noise:test.
        set: String,
        /// Output image-set file (.safetensors).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    synthmix_core::cli::run_main(|| {
        let cli = Cli::parse();
        cli.common.init_logging();
        let opts = cli.common.data_options();
        match cli.cmd {
            Cmd::Data { cmd } => match cmd {
                DataCmd::Fetch { datasets, timeout } => {
                    let ds = data::Dataset::parse_list(&datasets)?;
                    let fo = data::fetch::FetchOptions {
                        timeout: std::time::Duration::from_secs(timeout),
                        ..Default::default()
                    };
                    for outcome in data::fetch::fetch(&opts.data_dir, &ds, &fo)? {
                        println!("{outcome}");
                    }
                }
                DataCmd::Verify { datasets } => {
                    let ds = if datasets.is_empty() {
                        data::Dataset::present(&opts.data_dir)
                    } else {
                        data::Dataset::parse_list(&datasets)?
                    };
                    anyhow::ensure!(!ds.is_empty(), "{}: no dataset folders to verify", opts.data_dir.display());
                    let outcomes = data::fetch::verify(&opts.data_dir, &ds)?;
                    for o in &outcomes {
                        println!("{o}");
                    }
                    anyhow::ensure!(
                        outcomes.iter().all(|o| o.is_ok()),
                        "some files are missing or fail their checksum"
                    );
                }
                DataCmd::Export { set, out } => {
                    let s = data::export(&set, &opts, &out).with_context(|| format!("exporting {set}"))?;
                    println!(
                        "wrote {} ({} images of {}, classes {:?})",
                        out.display(),
                        s.len(),
                        s.shape,
                        s.class_histogram()
                    );
                }
            },
            Cmd::Show { file, grid, out, per_class, scale } => {
                if grid {
                    let out = out.expect("clap requires --out with --grid");
                    let set = data::load_set(&file, &opts)?;
                    let title = format!("{} {} ({})", set.meta.dataset, set.meta.split, set.meta.source.as_str());
                    let go = report::grid::GridOptions { per_class, scale, title: Some(title) };
                    report::grid::write(&set, &go, &out)?;
                    println!("wrote {}", out.display());
                } else {
                    print!("{}", artifact::show::describe(std::path::Path::new(&file))?);
                }
            }
        }
        Ok(())
    })
}
