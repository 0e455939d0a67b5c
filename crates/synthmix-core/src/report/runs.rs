//! `synthmix runs DIR`: the studies an artifacts folder holds, one line
//! each — when, from which commits, how many results, the headline numbers.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compare::{studies_in, Format};
use super::context;
use super::kind::StudyKind;
use super::run_summary;
use super::run_table::{self, Headline};
use crate::error::{Error, Result};

/// One study of an artifacts folder.
#[derive(Debug, Clone, Serialize)]
pub struct RunEntry {
    /// `report/NAME/`'s name.
    pub name: String,
    pub report: PathBuf,
    pub study: StudyKind,
    pub title: Option<String>,
    /// When the report was written (run.json, else report.md's time).
    pub created: Option<String>,
    /// Empty where unknown (no run.json).
    pub commits: Vec<String>,
    pub results: usize,
    pub headlines: Vec<Headline>,
    pub has_run_json: bool,
}

/// Every `report/NAME/` of `artifacts`, by name.
pub fn list(artifacts: &Path) -> Result<Vec<RunEntry>> {
    if !artifacts.join("report").is_dir() {
        return Err(Error::NotFound(format!(
            "{}: no report/ folder (not an artifacts folder, or no study has written its report yet)",
            artifacts.display()
        )));
    }
    studies_in(artifacts).into_iter().map(|name| entry(artifacts, name)).collect()
}

fn entry(artifacts: &Path, name: String) -> Result<RunEntry> {
    let dir = artifacts.join("report").join(&name);
    let summary = run_summary::read(&dir)?;
    let (study, rows) = run_table::read(&dir, summary.as_ref().map(|s| s.study))?;
    Ok(match summary {
        Some(s) => RunEntry {
            name,
            report: dir,
            study,
            title: Some(s.title.clone()),
            created: Some(s.created()),
            commits: s.commits,
            results: s.results,
            headlines: s.headlines,
            has_run_json: true,
        },
        None => RunEntry {
            created: modified(&dir.join("report.md")),
            results: csv::Reader::from_path(dir.join("results.csv")).map_or(0, |mut r| r.records().count()),
            headlines: run_table::headlines(study, &rows),
            name,
            report: dir,
            study,
            title: None,
            commits: vec![],
            has_run_json: false,
        },
    })
}

/// A file's modification time as UTC text.
fn modified(p: &Path) -> Option<String> {
    let t = std::fs::metadata(p).ok()?.modified().ok()?;
    Some(context::utc(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()))
}

pub fn render(entries: &[RunEntry], format: Format) -> Result<String> {
    match format {
        Format::Md => Ok(markdown(entries)),
        Format::Csv => csv(entries),
        Format::Json => serde_json::to_string_pretty(entries).map_err(|e| Error::Invalid(format!("json: {e}"))),
    }
}

fn commits_text(e: &RunEntry) -> String {
    if e.has_run_json {
        e.commits.join(" ")
    } else {
        format!("unknown (no {})", run_summary::FILE)
    }
}

fn headlines_text(e: &RunEntry) -> String {
    e.headlines.iter().map(Headline::text).collect::<Vec<_>>().join("; ")
}

fn markdown(entries: &[RunEntry]) -> String {
    let mut t = super::md::Table::new(["Study", "Kind", "Written", "Commits", "Results", "Headline"], "llllrl");
    for e in entries {
        let written = e.created.as_deref().unwrap_or("–").to_string();
        let row = [e.name.clone(), e.study.name().to_string(), written, commits_text(e), e.results.to_string()];
        t.row(row.into_iter().chain([headlines_text(e)]));
    }
    let mut s = t.render();
    if entries.is_empty() {
        s.push_str("\nNo study has written a report here yet.\n");
    }
    s
}

fn csv(entries: &[RunEntry]) -> Result<String> {
    let err = |e: csv::Error| Error::Invalid(format!("csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["name", "study", "title", "created", "commits", "results", "headline"]).map_err(err)?;
    for e in entries {
        let results = e.results.to_string();
        let (commits, headline) = (commits_text(e), headlines_text(e));
        let title = e.title.as_deref().unwrap_or("");
        let created = e.created.as_deref().unwrap_or("");
        w.write_record([e.name.as_str(), e.study.name(), title, created, &commits, &results, &headline])
            .map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid(format!("csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("csv: {e}")))
}
