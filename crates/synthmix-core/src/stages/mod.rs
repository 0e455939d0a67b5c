//! The six stage programs' command lines: each submodule holds a stage's clap
//! flags and its body, and [`STAGES`] lists them for the binaries that run
//! them. A stage binary (`crates/<stage>`) is one call, [`main`]; the
//! multi-call `synthmix` runs the same code under `synthmix STAGE ARGS…` or
//! when invoked under a stage's name (a symlink or copy named `gan-train`, …),
//! so one file carries the whole pipeline to another machine.

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

pub mod clf_train;
pub mod config;
pub mod dpm_train;
pub mod evaluate;
pub mod gan_train;
pub mod mix_build;
pub mod synth_sample;

/// One stage program.
pub struct Stage {
    /// Its binary name, as pipeline specs and users' scripts call it.
    pub name: &'static str,
    /// The semantic version of what the stage computes: bumped whenever the
    /// same flags and inputs would give other output bytes. With the artifact
    /// format it keys the pipeline cache, so a rebuild or a new commit that
    /// leaves a stage's results alone keeps them cached. The golden tests
    /// (`tests/golden.rs`) pin each version's output hash.
    pub version: u32,
    /// Its clap command (flags, help), e.g. for listing it in the runner's help.
    pub command: fn() -> clap::Command,
    /// Runs it on a full argument list, program name first (as `std::env::args_os()`).
    pub main: fn(Vec<OsString>) -> ExitCode,
}

/// The flag, given alone, on which a stage program prints
/// [`Stage::semantic_version`] and exits (the pipeline runner asks it).
pub const STAGE_VERSION_FLAG: &str = "--stage-version";

impl Stage {
    /// `NAME/VERSION+formatF`: what the cache key holds for this stage.
    pub fn semantic_version(&self) -> String {
        format!("{}/{}+format{}", self.name, self.version, crate::artifact::FORMAT_VERSION)
    }

    /// The first clause of the stage's description (up to its first `. ` or `; `).
    pub fn summary(&self) -> String {
        let about = (self.command)().get_about().map(|s| s.to_string()).unwrap_or_default();
        let about = about.split_whitespace().collect::<Vec<_>>().join(" ");
        let end = [". ", "; "].iter().filter_map(|p| about.find(p)).min().unwrap_or(about.len());
        about[..end].trim_end_matches('.').to_string()
    }
}

/// The table entry of the stage module `$m`, called `$name`.
macro_rules! stage {
    ($name:literal, $m:ident, version $v:literal) => {
        Stage {
            name: $name,
            version: $v,
            command: || <$m::Args as clap::CommandFactory>::command().arg(config::arg()),
            main: |args| run_with(args, |a: &$m::Args| &a.common, $m::run),
        }
    };
}

/// Every stage, in pipeline order, with its semantic version: bump it (and
/// its golden hash in `tests/golden.rs`) when its output bytes change.
pub const STAGES: &[Stage] = &[
    stage!("gan-train", gan_train, version 1),
    stage!("dpm-train", dpm_train, version 3),
    stage!("synth-sample", synth_sample, version 3),
    stage!("mix-build", mix_build, version 2),
    stage!("clf-train", clf_train, version 1),
    stage!("evaluate", evaluate, version 3),
];

/// A stage program: parses `args` (program name first, a `--config FILE`
/// expanded first) as `A` (clap exits on `--help` or bad flags, as usual),
/// sets up logging from its common flags, runs `body`, and writes the
/// resolved settings beside `--out`; an error becomes one line and exit 1.
/// With [`crate::cli::PARSE_ONLY_ENV`] set it stops after parsing (exit 0).
fn run_with<A: clap::Parser>(
    args: Vec<OsString>,
    common: fn(&A) -> &crate::cli::CommonArgs,
    body: fn(A) -> anyhow::Result<()>,
) -> ExitCode {
    crate::cli::run_main(|| {
        let cmd = A::command().arg(config::arg()).args_override_self(true);
        let args = config::expand(&cmd, args)?;
        let m = cmd.clone().try_get_matches_from(args).unwrap_or_else(|e| e.exit());
        let a = A::from_arg_matches(&m).unwrap_or_else(|e| e.exit());
        if crate::cli::parse_only() {
            return Ok(());
        }
        let out = m.get_one::<std::path::PathBuf>("out").cloned();
        if let (Some(out), Some(given)) = (&out, m.get_one::<std::path::PathBuf>(config::FLAG)) {
            if crate::artifact::same_file(given, &config::path_for(out)) {
                anyhow::bail!("--config {}: this run would overwrite it; give another --out", given.display());
            }
        }
        common(&a).init_logging();
        body(a)?;
        if let Some(out) = out {
            config::write(&out, &config::resolved(&cmd, &m))?;
        }
        Ok(())
    })
}

/// Refuses, before any work, an `--out` inside an artifacts folder a runner
/// holds (outside the staging folder it gave this stage), or one (or a side
/// file: the provenance record beside it and `side`) that is a folder, sits
/// in an unwritable folder or a dataset folder, or would overwrite one of
/// `inputs` ((flag, value) pairs; DATASET:SPLIT values are not files and pass).
fn check_outputs(
    common: &crate::cli::CommonArgs,
    out: &std::path::Path,
    side: Vec<std::path::PathBuf>,
    inputs: &[(&str, &std::path::Path)],
) -> crate::Result<()> {
    let mut files = vec![crate::artifact::provenance::path_for(out), config::path_for(out)];
    files.extend(side);
    crate::pipeline::lock::refuse_if_held("--out", out)?;
    let o = crate::artifact::Outputs { flag: "--out", out, side: files };
    crate::artifact::check_outputs(&o, inputs, Some(&common.data_options().data_dir))
}

/// A stage binary's `main`: runs stage `name` on this process's arguments.
pub fn main(name: &str) -> ExitCode {
    let stage = find(name).unwrap_or_else(|| panic!("{name} is not a stage"));
    run(stage, std::env::args_os().collect())
}

/// Runs `stage` on `args` (program name first); `PROGRAM --stage-version`
/// prints its semantic version instead.
pub fn run(stage: &Stage, args: Vec<OsString>) -> ExitCode {
    if args.len() == 2 && args[1] == STAGE_VERSION_FLAG {
        println!("{}", stage.semantic_version());
        return ExitCode::SUCCESS;
    }
    (stage.main)(args)
}

/// The stage called `name`.
pub fn find(name: impl AsRef<OsStr>) -> Option<&'static Stage> {
    let name = name.as_ref();
    STAGES.iter().find(|s| OsStr::new(s.name) == name)
}

/// The stage a program path names: its file name (without `.exe`) is a
/// stage's, as for a symlink `gan-train -> synthmix`.
pub fn for_program(argv0: impl AsRef<OsStr>) -> Option<&'static Stage> {
    let file = std::path::Path::new(argv0.as_ref()).file_name()?.to_str()?;
    find(file.strip_suffix(".exe").unwrap_or(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_keeps_its_name_and_is_found_by_program_path() {
        for s in STAGES {
            let c = (s.command)();
            assert_eq!(c.get_name(), s.name, "clap name of {}", s.name);
            assert!(c.get_version().is_some(), "{} --version", s.name);
            c.debug_assert();
            assert!(!s.summary().is_empty() && s.summary().len() < 160, "{}: {}", s.name, s.summary());
            assert_eq!(for_program(format!("/opt/bin/{}", s.name)).map(|f| f.name), Some(s.name));
            assert_eq!(for_program(format!("{}.exe", s.name)).map(|f| f.name), Some(s.name));
        }
        assert!(for_program("/usr/bin/synthmix").is_none() && find("synthmix").is_none());
        assert_eq!(find("mix-build").map(|s| s.name), Some("mix-build"));
        assert_eq!(find("clf-train").unwrap().semantic_version(), "clf-train/1+format1");
    }
}
