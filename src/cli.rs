//! The runner's command line: `synthmix`'s commands and flags (clap), and
//! [`command`], which also lists every stage. Its definition checks the
//! `synthmix …` targets of a spec too (`LoadOptions::runner`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use synthmix_core::cli::{CorruptionArgs, LogArgs, DATA_DIR_HELP};
use synthmix_core::report::kind::StudyKind;
use synthmix_core::{data, pipeline, report, stages};

#[derive(Parser)]
#[command(
    name = "synthmix",
    version,
    about = "Train classifiers on mixes of real and GAN-generated images: data, artifacts, pipelines",
    after_help = "Every stage is built in: `synthmix STAGE ARGS…` runs it exactly as its own binary \
                  (`synthmix STAGE --help` for its flags), and so does this file invoked under a \
                  stage's name (a symlink or copy named gan-train, …). The runner uses the built-in \
                  stages where no stage binary is found."
)]
pub struct Cli {
    #[arg(long, global = true, value_name = "DIR", help = DATA_DIR_HELP)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Where `run` executes targets.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Executor {
    /// As processes on this machine.
    Local,
    /// As Slurm jobs (`sbatch`), the whole graph queued at once.
    Slurm,
}

/// How a spec is read: by `run`, `status`, `dag` and a Slurm job alike.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Artifacts folder (cache, store, logs); overrides the spec's.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Leave targets (names or globs, repeatable) out of the graph, e.g.
    /// --skip '*cifar-10*' where CIFAR-10 is not available.
    #[arg(long, value_name = "TARGET")]
    pub skip: Vec<String>,
    /// The most targets the spec's matrices may make, counted before any is
    /// made (a spec over it is refused).
    #[arg(long, value_name = "N", default_value_t = pipeline::spec::MAX_TARGETS)]
    pub max_targets: usize,
}

impl LoadArgs {
    /// The options of `pipeline::load`: file inputs checked, every
    /// `synthmix` command target parsed by this command line, and
    /// `first-present` axis names looked up in `data_dir`.
    pub fn options(&self, data_dir: &std::path::Path) -> pipeline::LoadOptions {
        pipeline::LoadOptions {
            artifacts: self.artifacts.clone(),
            check_files: true,
            skip: self.skip.clone(),
            max_targets: Some(self.max_targets),
            runner: Some(command),
            data_dir: Some(data_dir.to_path_buf()),
        }
    }
}

/// `run`'s Slurm flags; each overrides the spec's `[executor.slurm]`.
#[derive(clap::Args)]
#[command(next_help_heading = "Slurm executor")]
pub struct SlurmArgs {
    /// Where targets run: local processes, or Slurm jobs (a job array per
    /// matrix expansion, queued with afterok/aftercorr dependencies; the
    /// runner exits unless --wait).
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    pub executor: Executor,
    /// With --executor slurm: stay until every job has finished and say how
    /// each ended (Ctrl-C offers to cancel them).
    #[arg(long)]
    pub wait: bool,
    /// With --executor slurm: one job per target, instead of one job array
    /// (sbatch --array) per matrix expansion whose targets run the same
    /// stage with the same resources.
    #[arg(long)]
    pub no_arrays: bool,
    // The same struct as the spec's `[executor.slurm]`: one list of resources.
    #[command(flatten)]
    pub resources: pipeline::spec::Resources,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Bring a pipeline's targets up to date: run what changed, in parallel,
    /// reuse everything else from the content-addressed cache. Where stages
    /// compute (cpu, cuda) is the spec's `device` parameter.
    Run {
        /// Pipeline spec (TOML), e.g. pipelines/quick.toml.
        spec: PathBuf,
        /// Targets to make (names or globs like 'clf-mnist-*'), with their
        /// dependencies; default: all.
        targets: Vec<String>,
        /// Stages run at once (default: the number of cores); each gets
        /// cores/jobs threads.
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Print what would run and why, run nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// After a failure, still run every target that does not depend on it.
        #[arg(short, long)]
        keep_going: bool,
        /// Rerun the named targets (all, when none is named) even if cached.
        #[arg(long)]
        force: bool,
        /// Re-hash every stored and placed output the targets need instead of
        /// trusting size and time: a changed stored output is rebuilt, a
        /// changed placed one restored.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// Run one target of a spec whose inputs are cached, and commit its
    /// result: what a Slurm job of `run --executor slurm` runs.
    #[command(hide = true)]
    RunTarget {
        /// Pipeline spec (TOML).
        spec: PathBuf,
        /// The target's name.
        target: String,
        #[command(flatten)]
        load: LoadArgs,
        /// Run it even if cached.
        #[arg(long)]
        force: bool,
    },
    /// Print a pipeline's graph: one line per target, or Graphviz DOT.
    Dag {
        /// Pipeline spec (TOML), e.g. pipelines/quick.toml.
        spec: PathBuf,
        /// Graphviz DOT instead of text (`synthmix dag S --dot | dot -Tsvg > dag.svg`).
        #[arg(long)]
        dot: bool,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Predict a spec's wall time on 1, 8, 64 … workers: list-schedule its
    /// target graph with each target's duration from this machine's cache
    /// records (CPU time ÷ threads, or wall time), else a per-stage model fitted to them; with
    /// the critical path and each stage kind's share. A worker runs one
    /// target at a time at this machine's speed (a node of 64 cores is
    /// about 32 workers of this 2-core machine's).
    Estimate {
        /// Pipeline spec (TOML), e.g. pipelines/strategies.toml.
        spec: PathBuf,
        /// Worker counts, comma-separated.
        #[arg(long, value_name = "N,N,…", default_value = "1,8,64", allow_hyphen_values = true)]
        workers: String,
        /// GPU counts, comma-separated: the targets with a --device flag run
        /// on them, --gpu-speedup times faster than here.
        #[arg(long, value_name = "N,N,…", allow_hyphen_values = true)]
        gpus: Option<String>,
        /// How much faster a --device target runs on one GPU than on this
        /// machine (an assumption until a GPU is measured).
        #[arg(long, value_name = "X", default_value_t = 10.0, allow_hyphen_values = true)]
        gpu_speedup: f64,
        /// Another spec whose recorded targets also fit the per-stage models
        /// (repeatable), e.g. --calibrate pipelines/quick.toml.
        #[arg(long, value_name = "SPEC")]
        calibrate: Vec<PathBuf>,
        /// How a record times its target: cpu = its CPU time ÷ its threads
        /// (this machine idle, whatever load it ran under); wall = its wall
        /// time as it ran (to check an estimate against a run on the same
        /// busy machine). Records of older runs have wall time only.
        #[arg(long, value_enum, default_value_t)]
        timing: synthmix_core::pipeline::estimate::durations::Timing,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Say which targets are up to date and why the others are not.
    Status {
        /// Pipeline spec (TOML), e.g. pipelines/quick.toml.
        spec: PathBuf,
        /// Targets (names or globs); default: all.
        targets: Vec<String>,
        #[command(flatten)]
        load: LoadArgs,
        /// Re-hash stored and placed outputs instead of trusting size and
        /// time, and report any that changed.
        #[arg(long)]
        verify: bool,
    },
    /// Write the paper's tables (Markdown, CSV) and figures (PNG) from
    /// evaluate's METRICS.json files, with report.md linking them (or, with
    /// --study regimes or strategies, those studies' reports).
    Report {
        /// Which study's report: paper (Tables 2 and 3, the claims),
        /// regimes (pipelines/regimes.toml: class imbalance, scarce real
        /// data, the synthetic-to-real gap) or strategies
        /// (pipelines/strategies.toml: filtering, latent scaling,
        /// down-weighting, recycling, two-stage training; FID reports of
        /// `evaluate --fid` may be among the files).
        #[arg(long, value_enum, default_value_t = StudyKind::Paper)]
        study: StudyKind,
        /// METRICS.json files written by `evaluate` (optional with --prior:
        /// the report is then rebuilt from that folder's CSVs alone).
        #[arg(long, num_args = 1.., required_unless_present = "prior")]
        metrics: Vec<PathBuf>,
        /// The paper's reported values (TOML; see pipelines/paper-values.toml).
        #[arg(long)]
        paper: Option<PathBuf>,
        /// Output report.md; tables and figures are written beside it.
        #[arg(long)]
        out: PathBuf,
        /// Title of report.md.
        #[arg(long)]
        title: Option<String>,
        /// Datasets the study covers (comma-separated): one without results
        /// still gets its table rows, saying it was not run and how to run it.
        #[arg(long, value_delimiter = ',')]
        expect_datasets: Vec<String>,
        /// A paragraph for the top of the report (repeatable), e.g. that the
        /// study is reduced and not like for like with the paper.
        #[arg(long)]
        note: Vec<String>,
        /// An earlier report folder of the same study (its results.csv and
        /// report.md, e.g. results/regimes): its results that these
        /// METRICS.json files do not recompute are imported (the paper study
        /// also checks the ones they do for equality). Without --metrics the
        /// report is rebuilt from the folder alone: every number read from
        /// its CSVs, the verdicts recomputed, its title, notes and
        /// provenance carried over.
        #[arg(long, value_name = "DIR")]
        prior: Option<PathBuf>,
    },
    /// Write DIR/index.html, the report's page, from DIR/report.md and the
    /// figures beside it: for a published report folder (e.g. results/paper)
    /// whose artifacts are not on this machine. `synthmix report` writes the
    /// page itself, with each number's provenance and the generators' samples
    /// per epoch, which a report folder alone cannot give.
    Page {
        /// A report folder holding report.md.
        dir: PathBuf,
    },
    /// Compare two runs of a study: the parameters that differ (per stage,
    /// from each report's run.json), then every cell of results.csv side by
    /// side with B − A and its 95 % interval (paired by seed where both
    /// cells have the same seeds, else Welch's t) and whether the two cells'
    /// own 95 % intervals overlap; cells in one run only are listed as such.
    Compare {
        /// Run A: a report folder (report.md, results.csv, run.json; e.g.
        /// results/paper or artifacts/report/quick) or an artifacts folder
        /// holding report/NAME/ folders.
        a: PathBuf,
        /// Run B, the same kinds of folder; differences are B − A.
        b: PathBuf,
        /// For artifacts folders holding several studies: which report/NAME/
        /// to compare (default: the only one, or the only one both hold).
        #[arg(long, value_name = "NAME")]
        study: Option<String>,
        /// Output format: md (Markdown tables), csv (one table whose
        /// `section` column says parameter, cell, only_a or only_b), json.
        #[arg(long, value_enum, default_value_t = report::compare::Format::Md)]
        format: report::compare::Format,
    },
    /// List the studies of an artifacts folder (each report/NAME/): when its
    /// report was written, the commits behind it, how many results, and its
    /// headline numbers; one row each.
    Runs {
        /// The artifacts folder.
        #[arg(default_value = "artifacts")]
        dir: PathBuf,
        /// Output format: md (a Markdown table), csv or json.
        #[arg(long, value_enum, default_value_t = report::compare::Format::Md)]
        format: report::compare::Format,
    },
    /// Write a study spec for your own image sets (from `synthmix data
    /// import`): DIR/NAME.toml (the paper's mixes, three seeds) and
    /// DIR/NAME-quick.toml (minutes), generator and classifier chosen by the
    /// images' shape; then `synthmix run DIR/NAME-quick.toml`.
    InitStudy {
        /// The real training set (an image-set file).
        #[arg(long)]
        train: PathBuf,
        /// The real test set (an image-set file, same shape and classes).
        #[arg(long)]
        test: PathBuf,
        /// The study's name (letters, digits, - and _).
        #[arg(long)]
        name: String,
        /// Where the specs are written.
        #[arg(long, default_value = "pipelines")]
        dir: PathBuf,
    },
    /// Draw the per-epoch columns of training logs (the STEM.log.csv that
    /// clf-train, gan-train and dpm-train write) in one figure, one colour per
    /// log, training-set columns dashed: OUT (PNG) and OUT's SVG beside it.
    Curves {
        /// Training logs (STEM.log.csv).
        #[arg(required = true, value_hint = clap::ValueHint::FilePath)]
        logs: Vec<PathBuf>,
        /// Where the PNG goes (.png; the SVG is written beside it).
        #[arg(long, value_name = "PNG")]
        out: PathBuf,
        /// Legend names, one per log in order (default: each log's file name
        /// without .log.csv).
        #[arg(long = "label", value_name = "NAME")]
        labels: Vec<String>,
        /// Columns to draw, comma-separated (default: those of train_accuracy,
        /// val_accuracy, test_accuracy and recognition that hold values).
        #[arg(long, value_delimiter = ',', value_name = "COLUMN")]
        columns: Vec<String>,
        /// A horizontal reference line, VALUE=LABEL (e.g. "0.6771=paper O/O");
        /// repeat for more.
        #[arg(long = "reference", value_name = "VALUE=LABEL", value_parser = synthmix_core::report::curves::parse_reference)]
        references: Vec<(f64, String)>,
        /// The figure's title.
        #[arg(long, default_value = "Training curves")]
        title: String,
    },
    /// Real datasets: fetch, verify, export.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Print any artifact readably (image set, checkpoint, provenance record),
    /// or with --grid write a labelled sample grid PNG of an image set.
    Show {
        /// An artifact file, or for --grid also a dataset name DATASET:SPLIT,
        /// or mnist-c:all: a row per MNIST-C corruption (identity first), the
        /// same first --per-class MNIST test images in every row.
        #[arg(value_hint = clap::ValueHint::FilePath)]
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
        #[command(flatten)]
        corruption: CorruptionArgs,
    },
}

#[derive(Subcommand)]
pub enum DataCmd {
    /// Download the official files of DATASETs (mnist, fashion-mnist, cifar-10)
    /// into the data dir, verifying checksums; skips files already verified.
    /// cifar-10-jpeg (CIFAR-10's images as a JPEG q75 copy) has no download
    /// source: copy it into DATA/cifar-10-jpeg/ from the shared data folder.
    Fetch {
        /// Datasets to fetch (default: mnist fashion-mnist cifar-10).
        datasets: Vec<String>,
        /// Network timeout per request, seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Make sure DATASETs are in the data dir and verified: fetch only what
    /// is missing or fails its checksum (what `just reproduce` runs first).
    Ensure {
        /// Datasets (default: mnist fashion-mnist cifar-10; cifar-10-jpeg is checked, never downloaded).
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
    /// Import a labelled image folder as image sets: a class-per-folder tree
    /// (DIR/CLASS/*.png|jpg|bmp) or a CSV of path,label; at most 256 classes.
    /// Bad files (undecodable, damaged or truncated, too large to decode,
    /// wrong mode or size) are listed one per line and stop the import (or,
    /// with --skip-bad, are left out and counted in the provenance). The
    /// outputs are written all or none.
    Import {
        /// The folder (one subfolder per class) or the CSV file (path,label;
        /// paths relative to the CSV's folder, and inside it unless --allow-outside).
        source: PathBuf,
        /// Output image set (.safetensors): every image, or the training part with --test-fraction.
        #[arg(long)]
        out: PathBuf,
        /// The split --out is labelled with (train or test). Default: the
        /// folder's (or CSV's) own name where that is train or test, else
        /// train. With --test-fraction, --out is the training part.
        #[arg(long, value_enum)]
        split: Option<data::Split>,
        /// Hold out this stratified, seeded share of each class as the test set.
        #[arg(long, requires = "test_out", value_parser = synthmix_core::limits::fraction)]
        test_fraction: Option<f64>,
        /// Where the held-out test set goes.
        #[arg(long, requires = "test_fraction")]
        test_out: Option<PathBuf>,
        /// Image size HxW (e.g. 28x28); every image is fitted to it by --fit.
        /// Default: the first image's size, and any other size is a bad file.
        #[arg(long)]
        size: Option<data::import::Size>,
        /// 1 (greyscale) or 3 (RGB): every image is converted. Default: the
        /// first image's mode, and any other mode is a bad file.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        channels: Option<u8>,
        /// How --size is met: resize (Triangle filter, aspect not kept) or crop (centre crop, black padding).
        #[arg(long, value_enum, default_value_t = data::import::Fit::Resize)]
        fit: data::import::Fit,
        /// Seed of the train/test split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Leave bad files (undecodable, wrong mode or size, not an image, empty classes) out, counted.
        #[arg(long)]
        skip_bad: bool,
        /// The dataset's name in the sets' metadata (default: the folder's or
        /// CSV's name, or its parent folder's where that name is train or test).
        #[arg(long)]
        name: Option<String>,
        /// Let the CSV name images outside its own folder (absolute paths, or
        /// paths climbing out by ..), and links in the folder (or the CSV's
        /// folder) lead outside it. Without it such a row or link stops the
        /// import: a CSV or folder from elsewhere could otherwise pull any
        /// readable image in.
        #[arg(long)]
        allow_outside: bool,
    },
    /// Write a real split (DATASET:SPLIT) as an image-set artifact.
    Export {
        /// Dataset name, e.g. mnist:train or mnist-c/shot_noise:test.
        set: String,
        /// Output image-set file (.safetensors).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        corruption: CorruptionArgs,
    },
}

/// The runner's command line, with every stage listed as a command (its
/// arguments go to the stage untouched; see `main`).
pub fn command() -> clap::Command {
    let mut c = Cli::command();
    for s in stages::STAGES {
        let args = clap::Arg::new("args")
            .num_args(0..)
            .trailing_var_arg(true)
            .allow_hyphen_values(true)
            .value_parser(clap::value_parser!(OsString));
        let about = format!("Stage: {}", s.summary());
        c = c.subcommand(clap::Command::new(s.name).about(about).disable_help_flag(true).arg(args));
    }
    c
}
