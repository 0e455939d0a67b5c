//! `STEM.config.json`: every stage writes the settings it ran with beside its
//! artifact (every flag, defaults included, as the stage's own parser
//! resolved them), and `--config FILE` reruns a stage with exactly those
//! settings. The stage's clap struct is the one definition of its settings;
//! the file is that struct's resolved command line, so it can never disagree
//! with what the parser accepts.
//!
//! Left out: where the output goes (`--out`, always given on the command
//! line) and how chatty the run is (`-v`, `-q`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The flag's id and long name.
pub const FLAG: &str = "config";

/// Flags that are not settings of the computation (where it goes, what it
/// logs; `--resume` continues the same computation, so a rerun from the
/// config starts afresh).
const NOT_SETTINGS: [&str; 7] = ["out", FLAG, "verbose", "quiet", "help", "version", "resume"];

/// A stage's resolved settings, as written beside its artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageConfig {
    pub stage: String,
    /// The stage's semantic version that wrote it (informational).
    pub stage_version: String,
    /// Long flag name → value: a string, a list of strings, or a bool for
    /// an on/off flag. Unset optional flags are absent.
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// The `--config` argument every stage accepts.
pub fn arg() -> Arg {
    Arg::new(FLAG).long(FLAG).value_name("FILE").value_parser(clap::value_parser!(PathBuf)).help(
        "Run with the settings in FILE, a STEM.config.json that an earlier run wrote beside its \
             artifact (reproduces it byte for byte); flags given here override single values and add to \
             lists. --out is always given here.",
    )
}

/// Where a stage writes the config of the artifact `out`.
pub fn path_for(out: &Path) -> PathBuf {
    crate::artifact::sibling(out, "config.json")
}

/// The settings `m` resolved for `cmd` (defaults included).
pub fn resolved(cmd: &Command, m: &ArgMatches) -> StageConfig {
    let mut settings = BTreeMap::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if NOT_SETTINGS.contains(&id) {
            continue;
        }
        let value = match arg.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse => serde_json::Value::Bool(m.get_flag(id)),
            ArgAction::Set | ArgAction::Append => {
                let Some(raw) = m.get_raw(id) else { continue };
                let v: Vec<serde_json::Value> = raw.map(|s| s.to_string_lossy().into_owned().into()).collect();
                if is_list(arg) {
                    serde_json::Value::Array(v)
                } else {
                    v.into_iter().next().unwrap_or_default()
                }
            }
            _ => continue,
        };
        settings.insert(long.to_string(), value);
    }
    let stage = cmd.get_name().to_string();
    let stage_version = super::find(&stage).map(|s| s.semantic_version()).unwrap_or_default();
    StageConfig { stage, stage_version, settings }
}

fn is_list(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append) || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// The `--config FILE` of a command line, if it has one.
fn config_path(args: &[OsString]) -> Result<Option<PathBuf>> {
    let flag = format!("--{FLAG}");
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
            return Ok(Some(PathBuf::from(v)));
        }
        if a == flag {
            let v = args.get(i + 1).ok_or_else(|| Error::Invalid(format!("{flag} needs a FILE")))?;
            return Ok(Some(PathBuf::from(v)));
        }
    }
    Ok(None)
}

/// `args` (program name first) with the settings of its `--config FILE`
/// put before the flags given, so that those override them.
pub fn expand(cmd: &Command, args: Vec<OsString>) -> Result<Vec<OsString>> {
    let Some(path) = config_path(&args)? else { return Ok(args) };
    let text = crate::artifact::input::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let c: StageConfig = serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a stage config (STEM.config.json): {e}")))?;
    if c.stage != cmd.get_name() {
        return Err(Error::format(&path, format!("is a config of {}, not of {}", c.stage, cmd.get_name())));
    }
    let mut out = vec![args[0].clone()];
    for (long, value) in &c.settings {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()))
            .ok_or_else(|| Error::format(&path, format!("setting '{long}' is not a flag of {}", c.stage)))?;
        let bad = || Error::format(&path, format!("setting '{long}' has a malformed value {value}"));
        if is_default(arg, value) {
            // clap supplies it; passing it would trip `requires` rules of flags that
            // only matter when set. A default changed since the file was written is passed.
            continue;
        }
        match value {
            serde_json::Value::Bool(true) => out.push(format!("--{long}").into()),
            serde_json::Value::Bool(false) => {}
            serde_json::Value::String(s) => out.push(format!("--{long}={s}").into()),
            serde_json::Value::Array(items) if is_list(arg) => {
                out.push(format!("--{long}").into());
                for v in items {
                    out.push(v.as_str().ok_or_else(bad)?.into());
                }
            }
            _ => return Err(bad()),
        }
    }
    out.extend(args.into_iter().skip(1));
    Ok(out)
}

/// Whether `value` is what `arg` defaults to in this build.
fn is_default(arg: &Arg, value: &serde_json::Value) -> bool {
    let d: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    match value {
        serde_json::Value::String(s) => d == [s.clone()],
        serde_json::Value::Array(items) => {
            !d.is_empty() && items.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect::<Vec<_>>() == d
        }
        _ => false,
    }
}

/// Writes the resolved settings beside `out` (atomically).
pub fn write(out: &Path, c: &StageConfig) -> Result<()> {
    let mut json = serde_json::to_string_pretty(c).expect("config serialises");
    json.push('\n');
    crate::artifact::write_atomic(&path_for(out), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line per stage with its required flags and some non-defaults.
    const LINES: [&[&str]; 6] = [
        &["gan-train", "--train", "mnist:train", "--epochs", "3", "--limit", "500", "--out", "g.safetensors"],
        &["dpm-train", "--train", "mnist:train", "--channel-mults", "1,2", "--no-attention", "--out", "d.safetensors"],
        &[
            "synth-sample",
            "--generator",
            "g.safetensors",
            "--per-class",
            "3",
            "--latent-scale",
            "0.75",
            "--out",
            "s.st",
        ],
        &[
            "mix-build",
            "--real",
            "mnist:train",
            "--synthetic",
            "s.st",
            "--ratio",
            "5:1",
            "--mark-synthetic",
            "--out",
            "m.st",
        ],
        &["clf-train", "--train", "m.st", "--synthetic-weight", "0.25", "--out", "c.safetensors"],
        &["evaluate", "--classifier", "a.st", "b.st", "--test", "mnist:test", "--out", "r.json"],
    ];

    fn parse(cmd: &Command, args: Vec<OsString>) -> ArgMatches {
        cmd.clone().args_override_self(true).try_get_matches_from(expand(cmd, args).unwrap()).unwrap()
    }

    #[test]
    fn every_stage_reruns_from_its_config_with_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        for line in LINES {
            let s = super::super::find(line[0]).unwrap();
            let cmd = (s.command)();
            let first = resolved(&cmd, &parse(&cmd, line.iter().map(OsString::from).collect()));
            assert!(first.settings.len() > 3 && !first.settings.contains_key("out"), "{first:?}");
            let f = dir.path().join(format!("{}.safetensors", s.name));
            write(&f, &first).unwrap();
            let again: Vec<OsString> = [s.name, "--config", path_for(&f).to_str().unwrap(), "--out", "other"]
                .iter()
                .map(OsString::from)
                .collect();
            assert_eq!(resolved(&cmd, &parse(&cmd, again)), first, "{}", s.name);
        }
    }

    #[test]
    fn flags_given_override_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = (super::super::find("mix-build").unwrap().command)();
        let first = resolved(&cmd, &parse(&cmd, LINES[3].iter().map(OsString::from).collect()));
        let f = dir.path().join("m.st");
        write(&f, &first).unwrap();
        let cfg = path_for(&f);
        let args = ["mix-build", "--config", cfg.to_str().unwrap(), "--seed", "4", "--out", "x"];
        let again = resolved(&cmd, &parse(&cmd, args.iter().map(OsString::from).collect()));
        assert_eq!(again.settings["seed"], "4");
        assert_eq!(again.settings["ratio"], "5:1");
    }

    #[test]
    fn a_config_of_another_stage_or_an_unknown_setting_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.config.json");
        let cmd = (super::super::find("mix-build").unwrap().command)();
        let args = vec![OsString::from("mix-build"), "--config".into(), f.clone().into_os_string()];
        for (json, why) in [
            (r#"{"stage":"clf-train","stage_version":"","settings":{}}"#, "not of mix-build"),
            (r#"{"stage":"mix-build","stage_version":"","settings":{"totl":"10"}}"#, "'totl'"),
            (r#"{"stage":"mix-build","stage_version":"","settings":{"out":"x"}}"#, "'out'"),
            ("{", "not a stage config"),
        ] {
            std::fs::write(&f, json).unwrap();
            let e = expand(&cmd, args.clone()).unwrap_err().to_string();
            assert!(e.contains("a.config.json") && e.contains(why) && !e.contains('\n'), "{e}");
        }
        std::fs::write(
            &f,
            r#"{"stage":"mix-build","stage_version":"","settings":{"ratio":"5:1","fill":false,"mark-synthetic":true}}"#,
        )
        .unwrap();
        let got: Vec<String> = expand(&cmd, args).unwrap().iter().map(|s| s.to_string_lossy().into_owned()).collect();
        assert_eq!(got[1..3], ["--mark-synthetic", "--ratio=5:1"]);
    }
}
