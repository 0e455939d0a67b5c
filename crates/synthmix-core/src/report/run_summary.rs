//! `run.json`: what a report folder was made from, for programs — the study,
//! its title, when and by which commits and machine, every parameter value
//! per stage (from the provenance records) and the headline numbers.
//! Written beside report.md by every study and read back only here, so
//! `synthmix compare` and `synthmix runs` can tell runs apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::context::{self, Context};
use super::kind::StudyKind;
use super::run_table::{self, Headline};
use super::writer::Writer;
use crate::data::DatasetName;
use crate::error::{Error, IoContext, Result};

pub const FILE: &str = "run.json";
/// Bumped when a field changes meaning; readers refuse other formats.
pub const FORMAT: u32 = 1;

/// Per stage, per parameter, the distinct values its runs used.
pub type Params = BTreeMap<String, BTreeMap<String, Vec<String>>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub format: u32,
    pub study: StudyKind,
    /// report.md's title, as given (`--title`) or the study's default.
    pub title: String,
    /// When the report was written, Unix seconds.
    pub created_unix: u64,
    /// synthmix version and commit that wrote the report.
    pub version: String,
    pub report_commit: String,
    /// The commits whose builds made the artifacts.
    pub commits: Vec<String>,
    pub machine: String,
    /// First start and last finish of the artifacts' runs, Unix seconds.
    pub span_unix: Option<(u64, u64)>,
    /// Rows of results.csv.
    pub results: usize,
    /// File paths are kept as file names (the same run in another folder
    /// has the same parameters); outputs (`out`) are left out.
    pub params: Params,
    pub headlines: Vec<Headline>,
}

impl RunSummary {
    /// The summary of the report in `dir` (whose results.csv is written), from `ctx`.
    pub fn new(kind: StudyKind, title: &str, ctx: &Context, dir: &Path) -> Result<RunSummary> {
        let (_, rows) = run_table::read(dir, Some(kind))?;
        let results = csv::Reader::from_path(dir.join("results.csv")).map(|mut r| r.records().count()).unwrap_or(0);
        Ok(RunSummary {
            format: FORMAT,
            study: kind,
            title: title.to_string(),
            created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            version: crate::VERSION.to_string(),
            report_commit: crate::GIT_COMMIT.to_string(),
            commits: ctx.commits(),
            machine: context::machine(),
            span_unix: ctx.span(),
            results,
            params: params_of(ctx),
            headlines: run_table::headlines(kind, &rows),
        })
    }

    /// `2026-12-03 13:16 UTC`
    pub fn created(&self) -> String {
        context::utc(self.created_unix)
    }
}

/// Writes run.json through the report's writer. Call after results.csv is written.
pub fn write(w: &mut Writer, kind: StudyKind, title: &str, ctx: &Context) -> Result<()> {
    let s = RunSummary::new(kind, title, ctx, &w.dir)?;
    let json = serde_json::to_string_pretty(&s).map_err(|e| Error::Invalid(format!("{FILE}: {e}")))?;
    w.write(FILE, json.as_bytes())
}

/// The run.json of a report folder: `None` when it has none (reports
/// written before run.json existed), an error naming the file when mangled.
pub fn read(dir: &Path) -> Result<Option<RunSummary>> {
    let path = dir.join(FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).at(&path)?;
    let s: RunSummary =
        serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, format!("not a run summary: {e}")))?;
    if s.format != FORMAT {
        return Err(Error::format(&path, format!("run summary format {} (this build reads {FORMAT})", s.format)));
    }
    Ok(Some(s))
}

/// Every parameter of every run, flattened (`adam.lr`), by stage.
fn params_of(ctx: &Context) -> Params {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (stage, p) in ctx.runs() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&p.params_json) else { continue };
        let mut flat = BTreeMap::new();
        flatten("", &v, &mut flat);
        let per_key = out.entry(stage.to_string()).or_default();
        for (k, v) in flat.into_iter().filter(|(k, _)| k != "out") {
            per_key.entry(k).or_default().insert(v);
        }
    }
    out.into_iter().map(|(s, m)| (s, m.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect())).collect()
}

/// Objects become dotted keys; arrays and scalars one value each.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), value_text(v));
        }
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => file_name(s),
        serde_json::Value::Null => "none".into(),
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(value_text).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A file path's name alone (the folder is where the run happened to be
/// made, not how); a DATASET:SPLIT or any other word as it is.
fn file_name(s: &str) -> String {
    if !s.contains('/') || DatasetName::parse(s).is_ok() {
        return s.to_string();
    }
    Path::new(s).file_name().map_or_else(|| s.to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RunSummary {
        RunSummary {
            format: FORMAT,
            study: StudyKind::Paper,
            title: "tiny".into(),
            created_unix: 1_796_203_796,
            version: "0.1.0".into(),
            report_commit: "abc".into(),
            commits: vec!["abc".into()],
            machine: "a CPU".into(),
            span_unix: Some((1, 2)),
            results: 4,
            params: Params::from([(
                "clf-train".to_string(),
                BTreeMap::from([("adam.lr".to_string(), vec!["0.001".to_string()])]),
            )]),
            headlines: vec![Headline {
                dataset: "mnist".into(),
                what: "O → original".into(),
                mean: 0.9,
                std: 0.01,
                n: 2,
            }],
        }
    }

    #[test]
    fn run_json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary();
        std::fs::write(dir.path().join(FILE), serde_json::to_string_pretty(&s).unwrap()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(s));
        assert_eq!(summary().created(), "2026-12-02 09:29 UTC");
    }

    #[test]
    fn a_missing_run_json_is_none_and_a_mangled_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(FILE), "{\"format\": 1, \"study\": \"paper\"").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("run.json") && e.contains("not a run summary"), "{e}");
        let mut v = serde_json::to_value(summary()).unwrap();
        v["format"] = 9.into();
        std::fs::write(dir.path().join(FILE), v.to_string()).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("format 9"), "{e}");
    }

    #[test]
    fn parameters_flatten_and_paths_lose_their_folder() {
        let v = serde_json::json!({
            "train": "/tmp/a/artifacts/mix/O.safetensors", "test": ["mnist-c/shot_noise:test", "x/s.safetensors"],
            "adam": { "lr": 0.001, "beta1": 0.9 }, "limit": null, "arch": "simple-cnn"
        });
        let mut flat = BTreeMap::new();
        flatten("", &v, &mut flat);
        assert_eq!(flat["train"], "O.safetensors");
        assert_eq!(flat["test"], "[mnist-c/shot_noise:test, s.safetensors]");
        assert_eq!((flat["adam.lr"].as_str(), flat["limit"].as_str()), ("0.001", "none"));
        assert_eq!(flat["arch"], "simple-cnn");
    }
}
