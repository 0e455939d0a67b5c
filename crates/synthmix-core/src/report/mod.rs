//! The studies' reports. Imports point down, never in a circle:
//! `stats`, `md`, `writer` (leaves) ← `model` (typed axes, observations,
//! cells) ← `document` (a report as typed sections, tables with their
//! cells' provenance, figures) ← `kind`, `results` (CSV rows), `context` ←
//! `generators`, `prior`, `study` ← the studies (`tables`, `claims`,
//! `corruptions`, `paper`, `regimes`, `strategies`: each builds a
//! document) ← the renderers (`markdown`, `figures`, `html`) ← `output`,
//! `run_summary`, `run_table` ← this module's [`write`] and `compare`/`runs`.

pub mod claims;
pub mod compare;
pub mod context;
pub mod corruptions;
pub mod curves;
pub mod document;
pub mod figures;
pub mod generator_use;
pub mod generators;
pub mod html;
pub mod kind;
pub mod markdown;
pub mod md;
pub mod model;
pub mod output;
pub mod paper;
pub mod per_class;
pub mod prior;
pub mod regimes;
pub mod results;
pub mod run_summary;
pub mod run_table;
pub mod runs;
pub mod stats;
pub mod strategies;
pub mod study;
pub mod tables;
pub mod writer;

pub use crate::render::{grid, text};

use std::path::PathBuf;

use crate::data::DataOptions;
use crate::error::{Error, Result};
use context::Context;
use kind::StudyKind;
use study::ReportParams;
use writer::Writer;

/// Writes the report of study `kind` (`synthmix report --study`); the files written.
pub fn write(kind: StudyKind, params: &ReportParams, opts: &DataOptions) -> Result<Vec<PathBuf>> {
    if !kind.takes_paper() && params.paper.is_some() {
        return Err(Error::Invalid(format!(
            "--paper belongs to the paper study's report, not --study {}",
            kind.name()
        )));
    }
    if params.metrics.is_empty() && params.prior.is_none() {
        return Err(Error::Invalid("give --metrics, or --prior DIR to rebuild a report from its folder".into()));
    }
    match kind {
        StudyKind::Paper => paper(params, opts),
        StudyKind::Regimes => typed(StudyKind::Regimes, params, regimes::render::render(params, opts)?),
        StudyKind::Strategies => typed(StudyKind::Strategies, params, strategies::render::render(params)?),
    }
}

/// The paper study: its document, with the tables (Markdown + CSV) and the
/// figures written beside it.
fn paper(params: &ReportParams, opts: &DataOptions) -> Result<Vec<PathBuf>> {
    let study = study::Study::read(params)?;
    let mut w = writer::Writer::create(&params.out)?;
    let doc = paper::document(&study, params, opts, &mut w)?;
    finish(StudyKind::Paper, params, (w, &study.context, doc))
}

/// Every study ends here: report.md and the page both rendered from its
/// typed document, and run.json, beside what the study wrote (CSVs, figures).
fn typed(kind: StudyKind, params: &ReportParams, built: (Writer, Context, document::Document)) -> Result<Vec<PathBuf>> {
    let (w, ctx, doc) = built;
    finish(kind, params, (w, &ctx, doc))
}

fn finish(
    kind: StudyKind,
    params: &ReportParams,
    built: (Writer, &Context, document::Document),
) -> Result<Vec<PathBuf>> {
    let (w, ctx, doc) = built;
    let page = html::document::page(&doc, &w.dir.clone(), html::subtitle(ctx, params.metrics.is_empty()))?;
    output::finish(w, params, kind, ctx, &markdown::document::document(&doc), &page)
}
