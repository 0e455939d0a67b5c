//! What a page is made of: sections of typed blocks (prose, sortable
//! tables with coloured cells, sample strips) and the cell colours. A leaf
//! of the page (it reads only the verdicts of `stats`): the typed
//! document's page and the Markdown-to-blocks step build these.

use std::path::Path;

use base64::Engine as _;
use serde::Serialize;

use super::provenance;
use crate::error::{Error, Result};
use crate::report::stats::Verdict;

/// The whole page.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub title: String,
    /// One line under the title: commits, machine, when written.
    pub subtitle: String,
    pub sections: Vec<Section>,
    /// The files the cells point at (`data-prov` = a group's index).
    pub provenance: provenance::Data,
}

/// A section with its own entry in the page's contents.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

/// What a section is made of.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    /// Trusted HTML rendered from the report's own Markdown.
    Html {
        html: String,
    },
    Table(DataTable),
    /// Pictures of one thing over time (a generator's samples per epoch), with a slider.
    Strip {
        id: String,
        caption: String,
        frames: Vec<Frame>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub label: String,
    pub src: String,
}

/// A sortable table; each cell may carry a colour and a provenance link.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataTable {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<HtmlCell>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlCell {
    /// Inner HTML (trusted: rendered from our Markdown) or plain text (escaped).
    pub html: Option<String>,
    pub text: String,
    /// The key a click on the column header sorts by.
    pub sort: Option<f64>,
    /// A CSS class: `good`, `bad`, `neutral` (verdicts) or `num`.
    pub class: Option<String>,
    /// Background colour (heatmaps, Δ/σ).
    pub bg: Option<String>,
    /// Hover text.
    pub title: Option<String>,
    /// A group's index in [`Page::provenance`].
    pub prov: Option<usize>,
}

impl HtmlCell {
    /// Plain text, escaped by the template; not sorted by number.
    pub fn text(t: impl Into<String>) -> HtmlCell {
        HtmlCell { text: t.into(), ..Default::default() }
    }
}

/// The number a cell starts with (`0.9865 ± 0.0004 (n=3)` → 0.9865,
/// `+0.0030 [-0.0043, …]` → 0.003), for sorting a printed table: only
/// Markdown that exists as nothing but text (`synthmix page`, a published
/// report's quoted sections) is read this way.
pub fn leading_number(s: &str) -> Option<f64> {
    let t = s.trim().trim_start_matches(['*', '`']);
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+' || c == '−') && i == 0)))
        .map_or(t.len(), |(i, _)| i);
    t[..end].replace('−', "-").parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The CSS class of a verdict word printed in a table, if the text is one
/// (the paper's claims add holds / does not hold); as [`leading_number`],
/// for printed Markdown only.
pub fn verdict_class(text: &str) -> Option<&'static str> {
    let t = text.trim().trim_matches('*').to_ascii_lowercase();
    if let Some(v) = Verdict::ALL.into_iter().find(|v| v.word() == t) {
        return Some(verdict_css(v));
    }
    match t.as_str() {
        "holds" | "helps" => Some("good"),
        "does not hold" | "hurts" => Some("bad"),
        _ if t.starts_with("inconclusive") => Some("neutral"),
        _ => None,
    }
}

/// The CSS class of a verdict: better green, worse red, the rest grey.
pub fn verdict_css(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "good",
        Verdict::Worse => "bad",
        Verdict::Equivalent | Verdict::Identical | Verdict::Inconclusive => "neutral",
    }
}

/// Background for a difference in units of our std: pale when the paper's
/// value lies within our spread, deeper orange-red the further outside.
pub fn sigma_colour(x: f64) -> String {
    let a = (x.abs() / 6.0).clamp(0.0, 1.0);
    let (r, g, b) =
        if x.abs() <= 1.0 { (220, 240, 220) } else { (255, (235.0 - 150.0 * a) as u8, (200.0 - 160.0 * a) as u8) };
    format!("rgb({r},{g},{b})")
}

/// Background for an accuracy in [0, 1] (heatmaps): white at the low end to blue.
pub fn accuracy_colour(x: f64, lo: f64, hi: f64) -> String {
    let t = if hi > lo { ((x - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 1.0 };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!("rgb({},{},{})", lerp(255.0, 66.0), lerp(247.0, 146.0), lerp(236.0, 198.0))
}

/// A PNG file as a data URI.
pub fn png_data_uri(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(png_bytes_uri(&bytes))
}

pub fn png_bytes_uri(bytes: &[u8]) -> String {
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}
