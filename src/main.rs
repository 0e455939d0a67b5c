//! `synthmix`: the pipeline runner, the data tool and the artifact inspector,
//! and a multi-call binary of every stage (`synthmix gan-train ARGS…`, or this
//! file invoked under a stage's name). Thin: every command is one call into
//! synthmix-core; the command line is in `cli.rs`.

use std::ffi::OsString;

use anyhow::Context;
use clap::FromArgMatches;
use synthmix_core::cli::CorruptionArgs;
use synthmix_core::{artifact, data, pipeline, report, stages, terminal};

mod cli;

use cli::{command, Cli, Cmd, DataCmd, Executor};

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
                if slurm.executor == Executor::Local
                    && (slurm.wait || slurm.no_arrays || slurm.resources != Default::default())
                {
                    anyhow::bail!("--wait, --no-arrays and the Slurm resource flags need --executor slurm");
                }
                slurm.resources.check_fields("the command line").map_err(anyhow::Error::msg)?;
                let p = pipeline::load(&spec, &load.options(&opts.data_dir))?;
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
                        no_arrays: slurm.no_arrays,
                        load: load.options(&opts.data_dir),
                    };
                    pipeline::run::run_on_slurm(&p, &ro, &so)?;
                } else {
                    pipeline::run(&p, &ro)?;
                }
            }
            Cmd::RunTarget { spec, target, load, force } => {
                let p = pipeline::load(&spec, &load.options(&opts.data_dir))?;
                let ro = pipeline::RunOptions { force, data_dir: opts.data_dir.clone(), ..Default::default() };
                pipeline::slurm::run_target(&p, &target, &ro)?;
            }
            Cmd::Dag { spec, dot, load } => {
                let p = pipeline::load(&spec, &load.options(&opts.data_dir))?;
                print!("{}", if dot { pipeline::graph::dot(&p) } else { pipeline::graph::text(&p) });
            }
            Cmd::Estimate { spec, workers, gpus, gpu_speedup, calibrate, timing, load } => {
                // Calibration specs whole: --skip names the estimated spec's targets.
                let cal_opts = pipeline::LoadOptions { skip: Vec::new(), ..load.options(&opts.data_dir) };
                let o = pipeline::estimate::EstimateOptions {
                    workers: pipeline::estimate::parse_counts("--workers", &workers)?,
                    gpus: gpus.map(|g| pipeline::estimate::parse_counts("--gpus", &g)).transpose()?.unwrap_or_default(),
                    gpu_speedup,
                    timing,
                };
                let p = pipeline::load(&spec, &load.options(&opts.data_dir))?;
                let cal = calibrate.iter().map(|c| pipeline::load(c, &cal_opts)).collect::<Result<Vec<_>, _>>()?;
                print!("{}", pipeline::estimate::estimate(&p, &cal, &o)?);
            }
            Cmd::Status { spec, targets, load, verify } => {
                let p = pipeline::load(&spec, &load.options(&opts.data_dir))?;
                let ro =
                    pipeline::RunOptions { targets, verify, data_dir: opts.data_dir.clone(), ..Default::default() };
                let notes = pipeline::slurm::status_notes(&p)?;
                print!("{}", pipeline::plan::status_text_with(&p, &pipeline::plan(&p, &ro)?, &notes));
            }
            Cmd::Report { study, metrics, paper, out, title, expect_datasets, note, prior } => {
                let params =
                    report::study::ReportParams { metrics, paper, out, title, expect_datasets, notes: note, prior };
                for f in report::write(study, &params, &opts)? {
                    println!("wrote {}", f.display());
                }
            }
            Cmd::Curves { logs, out, labels, columns, references, title } => {
                let logs = report::curves::named_logs(logs, labels)?;
                let req = report::curves::CurvesRequest { logs, columns, references, title, out };
                for p in report::curves::write(&req)? {
                    println!("wrote {}", p.display());
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
                    split,
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
                    let name = name.unwrap_or_else(|| data::import::default_name(&source));
                    let params = data::import::ImportParams {
                        source,
                        split,
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
                        data_dir: opts.data_dir.clone(),
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
