//! The end every study's report shares: report.md, its page and run.json.

use std::path::PathBuf;

use super::context::Context;
use super::html::{self, blocks::Page};
use super::kind::StudyKind;
use super::run_summary;
use super::study::ReportParams;
use super::writer::Writer;
use crate::error::Result;

/// Writes report.md (named by `--out`), its page and run.json, in that order
/// (run.json reads results.csv, written before); every file the report wrote.
pub fn finish(
    mut w: Writer,
    params: &ReportParams,
    kind: StudyKind,
    ctx: &Context,
    md: &str,
    page: &Page,
) -> Result<Vec<PathBuf>> {
    w.write(params.out.file_name().and_then(|n| n.to_str()).unwrap_or("report.md"), md.as_bytes())?;
    html::write(page, &mut w)?;
    run_summary::write(&mut w, kind, &params.title_for(kind)?, ctx)?;
    Ok(w.written)
}
