//! Every target's command checked when the spec is read, before anything
//! runs. A built-in stage's arguments, and a `synthmix` command's (with the
//! runner's command line in [`LoadOptions::runner`]), are parsed by their
//! own clap definition without running it, so a misspelt flag fails now
//! rather than hours in. Every path the command names must be a declared
//! input or lie in the target's staging folder: a file read but not
//! declared is never hashed into the cache key, and an output written
//! elsewhere is never collected (and lands outside the artifacts folder).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, ValueHint};

use super::model::{normalize, InputKind, LoadOptions, Pipeline, Target};
use crate::data::DatasetName;
use crate::error::{Error, Result};
use crate::stages::Stage;
use crate::terminal::clip;

/// Checks every target's command; the error names the spec line, the
/// target and the flag.
pub fn check_commands(p: &Pipeline, opts: &LoadOptions) -> Result<()> {
    for t in &p.targets {
        check_command(p, t, opts.runner).map_err(|why| {
            Error::Invalid(format!("{}:{}: target '{}': {why}", p.spec_path.display(), t.command_line, t.name))
        })?;
    }
    Ok(())
}

/// A path a command names: its flag (`argument` for a bare word), the
/// value, and whether the flag writes it.
struct PathArg {
    flag: String,
    value: String,
    output: bool,
}

fn check_command(p: &Pipeline, t: &Target, runner: Option<fn() -> Command>) -> std::result::Result<(), String> {
    let declared = Declared::new(p, t);
    let Some((cmd, argv)) = definition(t, runner) else {
        if t.stage == "synthmix" {
            return Ok(()); // its definition is the binary's, not given here
        }
        return loose_paths(&t.args).iter().try_for_each(|a| declared.check(a));
    };
    let cmd = cmd.args_override_self(true);
    let m = parse(&cmd, &argv).map_err(|why| format!("{} {why}", t.stage))?;
    let args = path_args(&cmd, &m);
    for (arg, am) in &args {
        for a in values(arg, am) {
            declared.check(&a)?;
        }
    }
    args.iter().try_for_each(|(arg, _)| given_once(arg, &argv))
}

/// The clap definition of target `t`'s command and its command line
/// (program name first): a built-in stage's; for `synthmix`, the stage's
/// when a stage comes first, else the runner's (when given).
fn definition(t: &Target, runner: Option<fn() -> Command>) -> Option<(Command, Vec<String>)> {
    let stage = |s: &Stage, args: &[String]| {
        ((s.command)(), std::iter::once(s.name.to_string()).chain(args.iter().cloned()).collect())
    };
    if let Some(s) = crate::stages::find(&t.stage) {
        return Some(stage(s, &t.args));
    }
    if t.stage != "synthmix" {
        return None;
    }
    if let Some(s) = t.args.first().and_then(crate::stages::find) {
        return Some(stage(s, &t.args[1..]));
    }
    runner.map(|r| (r(), std::iter::once(t.stage.clone()).chain(t.args.iter().cloned()).collect()))
}

/// Parses `argv` (a stage's `--config FILE` expanded first) as `cmd` would;
/// clap's message on one line, echoed values clipped.
fn parse(cmd: &Command, argv: &[String]) -> std::result::Result<ArgMatches, String> {
    let raw: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
    let has_config = cmd.get_arguments().any(|a| a.get_id() == crate::stages::config::FLAG);
    let raw = if has_config { crate::stages::config::expand(cmd, raw).map_err(|e| e.to_string())? } else { raw };
    cmd.clone().try_get_matches_from(raw).map_err(|e| clap_line(&e, argv))
}

/// clap's message on one line: its first line and the indented ones after
/// it (e.g. the missing required flags), without the usage and tips.
fn clap_line(e: &clap::Error, argv: &[String]) -> String {
    if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
        return "asks for --help or --version instead of running".into();
    }
    let text = e.to_string();
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").trim_start_matches("error: ").to_string();
    for l in lines.take_while(|l| l.starts_with("  ")) {
        first.push(' ');
        first.push_str(l.trim());
    }
    for v in argv.iter().filter(|v| v.chars().count() > crate::terminal::ECHO_CHARS) {
        first = first.replace(v.as_str(), &clip(v));
    }
    first
}

/// The path-valued arguments of `cmd` and of the subcommands `m` chose,
/// each with the matches it belongs to.
fn path_args<'a>(cmd: &'a Command, m: &'a ArgMatches) -> Vec<(&'a Arg, &'a ArgMatches)> {
    let is_path = |a: &Arg| {
        a.get_action().takes_values()
            && matches!(
                a.get_value_hint(),
                ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath | ValueHint::ExecutablePath
            )
    };
    let mut out: Vec<(&Arg, &ArgMatches)> = cmd.get_arguments().filter(|a| is_path(a)).map(|a| (a, m)).collect();
    if let Some((name, sub_m)) = m.subcommand() {
        if let Some(sub) = cmd.find_subcommand(name) {
            out.extend(path_args(sub, sub_m));
        }
    }
    out
}

/// The values `arg` took (given or defaulted; not from the environment).
fn values(arg: &Arg, m: &ArgMatches) -> Vec<PathArg> {
    let id = arg.get_id().as_str();
    if matches!(m.value_source(id), None | Some(ValueSource::EnvVariable)) {
        return vec![];
    }
    let flag = match arg.get_long() {
        Some(l) => format!("--{l}"),
        None => "argument".into(),
    };
    // Flags that write: --out and --*-out (e.g. data import's --test-out).
    let output = id == "out" || id.ends_with("_out");
    let raw = m.try_get_raw(id).ok().flatten().into_iter().flatten();
    raw.map(|v| PathArg { flag: flag.clone(), value: v.to_string_lossy().into_owned(), output }).collect()
}

/// A path flag that takes one value may be given once: clap would keep
/// the last (a stage's flags override its --config file's), so
/// `--out {out} --out /elsewhere` would write elsewhere.
fn given_once(arg: &Arg, argv: &[String]) -> std::result::Result<(), String> {
    let (Some(long), ArgAction::Set) = (arg.get_long(), arg.get_action()) else { return Ok(()) };
    let (flag, with_value) = (format!("--{long}"), format!("--{long}="));
    let short = arg.get_short().map(|c| format!("-{c}"));
    let n = argv[1..]
        .iter()
        .filter(|w| **w == flag || w.starts_with(&with_value) || short.as_ref().is_some_and(|s| *w == s))
        .count();
    if n > 1 {
        return Err(format!("{flag} is given {n} times; it takes one path"));
    }
    Ok(())
}

/// For a stage without a clap definition: every word (or `--flag=` value)
/// holding a path separator that is not a DATASET:SPLIT.
fn loose_paths(args: &[String]) -> Vec<PathArg> {
    args.iter()
        .filter_map(|w| {
            let (flag, v) = match w.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (f.to_string(), v),
                _ => ("argument".to_string(), w.as_str()),
            };
            let path = v.contains(['/', '\\']) && DatasetName::parse(v).is_err();
            path.then(|| PathArg { flag, value: v.to_string(), output: false })
        })
        .collect()
}

/// The paths a target may name: its declared file inputs and the outputs
/// of the targets it reads (read), anything in its staging folder (written).
struct Declared {
    inputs: HashSet<PathBuf>,
    staging: PathBuf,
}

impl Declared {
    fn new(p: &Pipeline, t: &Target) -> Self {
        let mut inputs = HashSet::new();
        for inp in &t.inputs {
            match &inp.kind {
                InputKind::Target { index, role } => {
                    let outs = p.targets[*index].outputs.iter();
                    inputs.extend(
                        outs.filter(|o| role.as_ref().is_none_or(|r| &o.role == r)).map(|o| absolute(&p.final_path(o))),
                    );
                }
                InputKind::File(f) => {
                    inputs.insert(absolute(f));
                }
                InputKind::Dataset(_) => {}
            }
        }
        Declared { inputs, staging: absolute(&p.staging_dir(t)) }
    }

    fn check(&self, a: &PathArg) -> std::result::Result<(), String> {
        if !a.output && DatasetName::parse(&a.value).is_ok() {
            return Ok(());
        }
        let v = absolute(Path::new(&a.value));
        if (v.starts_with(&self.staging) && v != self.staging) || (!a.output && self.inputs.contains(&v)) {
            return Ok(());
        }
        let (flag, value) = (&a.flag, clip(&a.value));
        Err(if a.output {
            format!(
                "{flag} {value} is not one of its outputs: a command writes only its declared outputs \
                 ({{out}}, {{out.ROLE}}), in its staging folder in the artifacts folder"
            )
        } else {
            format!(
                "{flag} {value} is a path it does not declare: name it in the target's inputs, so that \
                 its content enters the cache key"
            )
        })
    }
}

/// `p` absolute and normalised, for comparing.
fn absolute(p: &Path) -> PathBuf {
    normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}
