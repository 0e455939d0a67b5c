//! `synthmix`: the pipeline runner, the data tool and the artifact inspector,
//! and a multi-call binary of every stage (`synthmix gan-train ARGS…`, or this
//! file invoked under a stage's name). Thin: every command is one call into
//! synthmix-core.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use synthmix_core::cli::{CorruptionArgs, LogArgs, DATA_DIR_HELP};
use synthmix_core::{artifact, data, pipeline, report, stages, terminal};

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
struct Cli {
    #[arg(long, global = true, value_name = "DIR", help = DATA_DIR_HELP)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Where `run` executes targets.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Executor {
    /// As processes on this machine.
    Local,
    /// As Slurm jobs (`sbatch`), the whole graph queued at once.
    Slurm,
}

/// How a spec is read: by `run`, `status`, `dag` and a Slurm job alike.
#[derive(clap::Args)]
struct LoadArgs {
    /// Artifacts folder (cache, store, logs); overrides the spec's.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Leave targets (names or globs, repeatable) out of the graph, e.g.
    /// --skip '*cifar-10*' where CIFAR-10 is not available.
    #[arg(long, value_name = "TARGET")]
    skip: Vec<String>,
    /// The most targets the spec's matrices may make, counted before any is
    /// made (a spec over it is refused).
    #[arg(long, value_name = "N", default_value_t = pipeline::spec::MAX_TARGETS)]
    max_targets: usize,
}

impl LoadArgs {
    /// The options of `pipeline::load`: file inputs checked, and every
    /// `synthmix` command target parsed by this command line.
    fn options(&self) -> pipeline::LoadOptions {
        pipeline::LoadOptions {
            artifacts: self.artifacts.clone(),
            check_files: true,
            skip: self.skip.clone(),
            max_targets: Some(self.max_targets),
            runner: Some(command),
        }
    }
}

/// `run`'s Slurm flags; each overrides the spec's `[executor.slurm]`.
#[derive(clap::Args)]
#[command(next_help_heading = "Slurm executor")]
struct SlurmArgs {
    /// Where targets run: local processes, or one Slurm job each (queued
    /// with afterok dependencies; the runner exits unless --wait).
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    executor: Executor,
    /// With --executor slurm: stay until every job has finished and say how
    /// each ended (Ctrl-C offers to cancel them).
    #[arg(long)]
    wait: bool,
    // The same struct as the spec's `[executor.slurm]`: one list of resources.
    #[command(flatten)]
    resources: pipeline::spec::Resources,
}

#[derive(Subcommand)]
enum Cmd {
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
        #[arg(long, value_enum, default_value_t = Study::Paper)]
        study: Study,
        /// METRICS.json files written by `evaluate`.
        #[arg(long, num_args = 1.., required = true)]
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
        /// report.md, e.g. results/paper): its results that these METRICS.json
        /// files do not recompute are imported, and the ones they do are
        /// checked for equality; the report says which is which.
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

/// The studies `synthmix report` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Study {
    Paper,
    Regimes,
    Strategies,
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
    /// Make sure DATASETs are in the data dir and verified: fetch only what
    /// is missing or fails its checksum (what `just reproduce` runs first).
    Ensure {
        /// Datasets (default: mnist fashion-mnist cifar-10).
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
        /// The dataset's name in the sets' metadata (default: the folder's or CSV's name).
        #[arg(long)]
        name: Option<String>,
        /// Let the CSV name images outside its own folder (absolute paths, or
        /// paths climbing out by ..). Without it such a row stops the import:
        /// a CSV from elsewhere could otherwise pull any readable image in.
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
fn command() -> clap::Command {
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

fn main() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Invoked under a stage's name (symlink or copy): be that stage.
    if let Some(stage) = args.first().and_then(stages::for_program) {
        return stages::run(stage, args);
    }
    // `synthmix STAGE ARGS…` and `synthmix help STAGE`: the stage sees its
    // arguments as its own binary would, under the program name "synthmix STAGE".
    let name = |s: &stages::Stage| OsString::from(format!("synthmix {}", s.name));
    if let Some(stage) = args.get(1).and_then(stages::find) {
        return stages::run(stage, std::iter::once(name(stage)).chain(args[2..].iter().cloned()).collect());
    }
    if args.get(1).is_some_and(|a| a == "help") && args.len() == 3 {
        if let Some(stage) = stages::find(&args[2]) {
            return (stage.main)(vec![name(stage), "--help".into()]);
        }
    }
    synthmix_core::cli::run_main(|| {
        let matches = command().get_matches_from(&args);
        if let Some(stage) = matches.subcommand_name().and_then(stages::find) {
            // Only reached when flags come before the stage name.
            anyhow::bail!(
                "put the stage first: `synthmix {0} [FLAGS…]` (it takes --data-dir, -v, … itself)",
                stage.name
            );
        }
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if synthmix_core::cli::parse_only() {
            return Ok(());
        }
        cli.log.init_logging();
        // Corruption settings matter only where a corrupted set is made (show --grid, data export).
        let opts = CorruptionArgs::default().data_options(cli.data_dir.as_deref());
        match cli.cmd {
            Cmd::Run { spec, targets, jobs, dry_run, keep_going, force, verify, load, slurm } => {
                if slurm.executor == Executor::Local && (slurm.wait || slurm.resources != Default::default()) {
                    anyhow::bail!("--wait and the Slurm resource flags need --executor slurm");
                }
                let p = pipeline::load(&spec, &load.options())?;
                let ro = pipeline::RunOptions {
                    targets,
                    jobs,
                    dry_run,
                    keep_going,
                    force,
                    verify,
                    data_dir: opts.data_dir.clone(),
                };
                if dry_run {
                    print!("{}", pipeline::plan::dry_run_text(&p, &pipeline::plan(&p, &ro)?));
                } else if slurm.executor == Executor::Slurm {
                    let so = pipeline::slurm::SlurmOptions {
                        resources: slurm.resources,
                        wait: slurm.wait,
                        load: load.options(),
                    };
                    pipeline::run::run_on_slurm(&p, &ro, &so)?;
                } else {
                    pipeline::run(&p, &ro)?;
                }
            }
            Cmd::RunTarget { spec, target, load, force } => {
                let p = pipeline::load(&spec, &load.options())?;
                let ro = pipeline::RunOptions { force, data_dir: opts.data_dir.clone(), ..Default::default() };
                pipeline::slurm::run_target(&p, &target, &ro)?;
            }
            Cmd::Dag { spec, dot, load } => {
                let p = pipeline::load(&spec, &load.options())?;
                print!("{}", if dot { pipeline::graph::dot(&p) } else { pipeline::graph::text(&p) });
            }
            Cmd::Status { spec, targets, load, verify } => {
                let p = pipeline::load(&spec, &load.options())?;
                let ro =
                    pipeline::RunOptions { targets, verify, data_dir: opts.data_dir.clone(), ..Default::default() };
                let notes = pipeline::slurm::status_notes(&p)?;
                print!("{}", pipeline::plan::status_text_with(&p, &pipeline::plan(&p, &ro)?, &notes));
            }
            Cmd::Report { study, metrics, paper, out, title, expect_datasets, note, prior } => {
                let params =
                    report::study::ReportParams { metrics, paper, out, title, expect_datasets, notes: note, prior };
                let written = match study {
                    Study::Paper => report::study::run(&params, &opts)?,
                    Study::Regimes | Study::Strategies if params.paper.is_some() || params.prior.is_some() => {
                        let name = clap::ValueEnum::to_possible_value(&study).map(|v| v.get_name().to_string());
                        anyhow::bail!(
                            "--paper and --prior belong to the paper study's report, not --study {}",
                            name.unwrap_or_default()
                        )
                    }
                    Study::Regimes => report::regimes::run(&params)?,
                    Study::Strategies => report::strategies::run(&params)?,
                };
                for f in written {
                    println!("wrote {}", f.display());
                }
            }
            Cmd::Page { dir } => println!("wrote {}", report::html::page_of_folder(&dir)?.display()),
            Cmd::Compare { a, b, study, format } => {
                print!("{}", report::compare::compare(&a, &b, study.as_deref())?.render(format)?);
            }
            Cmd::Runs { dir, format } => {
                print!("{}", report::runs::render(&report::runs::list(&dir)?, format)?);
            }
            Cmd::InitStudy { train, test, name, dir } => {
                let quick = dir.join(format!("{name}-quick.toml"));
                let written = pipeline::init::run(&pipeline::init::InitParams { train, test, name, dir })?;
                for f in &written {
                    println!("wrote {}", f.display());
                }
                println!("next: synthmix run {}", quick.display());
            }
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
                DataCmd::Ensure { datasets, timeout } => {
                    let ds = data::Dataset::parse_list(&datasets)?;
                    let fo = data::fetch::FetchOptions {
                        timeout: std::time::Duration::from_secs(timeout),
                        ..Default::default()
                    };
                    for d in &ds {
                        let outcomes = data::fetch::ensure(&opts.data_dir, std::slice::from_ref(d), &fo).with_context(|| {
                            format!(
                                "{} is not in {} and could not be downloaded (offline? put its official files in {} \
                                 as the README's Data section lists them, or point --data-dir / SYNTHMIX_DATA at a folder \
                                 that has them)",
                                d.name(),
                                opts.data_dir.display(),
                                d.dir(&opts.data_dir).display()
                            )
                        })?;
                        println!("{}: {} files verified in {}", d.name(), outcomes.len(), opts.data_dir.display());
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
                DataCmd::Import {
                    source,
                    out,
                    test_fraction,
                    test_out,
                    size,
                    channels,
                    fit,
                    seed,
                    skip_bad,
                    name,
                    allow_outside,
                } => {
                    anyhow::ensure!(channels != Some(2), "--channels must be 1 or 3");
                    let name = name.unwrap_or_else(|| {
                        source.file_stem().and_then(|n| n.to_str()).unwrap_or("imported").to_string()
                    });
                    let params = data::import::ImportParams {
                        source,
                        size,
                        channels: channels.map(usize::from),
                        fit,
                        test_fraction,
                        seed,
                        skip_bad,
                        name,
                        out: out.clone(),
                        test_out: test_out.clone(),
                        allow_outside,
                    };
                    let r = data::import::run(&params)?;
                    let describe = |s: &data::ImageSet| {
                        format!("{} images of {}, per class {:?}", s.len(), s.shape, s.class_histogram())
                    };
                    // Class names are folder names or CSV cells: printed escaped.
                    let shown = |p: &std::path::Path| terminal::escape(&p.display().to_string()).into_owned();
                    println!("wrote {}: {}", shown(&out), describe(&r.train));
                    if let (Some(t), Some(p)) = (&r.test, &test_out) {
                        println!("wrote {}: {}", shown(p), describe(t));
                    }
                    println!("classes: {}", terminal::escape(&r.class_names.join(", ")));
                    if !r.bad.is_empty() {
                        println!(
                            "left out {} bad files (--skip-bad; listed above, counted in the provenance)",
                            r.bad.len()
                        );
                    }
                }
                DataCmd::Export { set, out, corruption } => {
                    let opts = corruption.data_options(cli.data_dir.as_deref());
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
            Cmd::Show { file, grid, out, per_class, scale, corruption } => {
                let opts = corruption.data_options(cli.data_dir.as_deref());
                if grid {
                    let out = out.expect("clap requires --out with --grid");
                    let (set, title) = if file == "mnist-c:all" {
                        let title = format!(
                            "MNIST-C: the first {per_class} MNIST test images, corruption seed {}",
                            opts.corruption_seed
                        );
                        (mnist_c_rows(&opts, per_class)?, title)
                    } else {
                        let set = data::load_set(&file, &opts)?;
                        let title = format!("{} {} ({})", set.meta.dataset, set.meta.split, set.meta.source.as_str());
                        (set, title)
                    };
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

/// The first `k` test images of every MNIST-C corruption (identity first),
/// as one set whose classes are the corruptions, labelled with their
/// severity, for `show --grid mnist-c:all`.
fn mnist_c_rows(opts: &data::DataOptions, k: usize) -> anyhow::Result<data::ImageSet> {
    let mut rows: Option<data::ImageSet> = None;
    let mut names = Vec::new();
    for (row, c) in data::corrupt::ALL.iter().enumerate() {
        let set = data::load_set(&format!("mnist-c/{}:test", c.name()), opts)?;
        let part = set.select(&(0..k.min(set.len())).collect::<Vec<_>>());
        names.push(match set.meta.corruption.as_ref().and_then(|r| r.severity) {
            Some(s) => format!("{} ({s})", c.name()),
            None => c.name().to_string(),
        });
        let acc = rows.get_or_insert_with(|| data::ImageSet { images: Vec::new(), labels: Vec::new(), ..part.clone() });
        acc.images.extend_from_slice(&part.images);
        acc.labels.extend(std::iter::repeat_n(row as u8, part.len()));
    }
    let mut set = rows.expect("ALL is not empty");
    set.num_classes = names.len();
    set.meta =
        data::SetMeta { class_names: Some(names), ..data::SetMeta::new("mnist-c", "test", data::Source::Corrupted) };
    Ok(set)
}
