//! `index.html` beside every report: one self-contained static page (inline
//! CSS and script, figures inline as SVG or embedded PNG, no network) with
//! the report's sections, sortable tables, coloured verdicts and Δ/σ cells,
//! per-generator sample strips by epoch, per-class heatmaps and, for the
//! numbers that come from classifiers, a click-through to their provenance.
//!
//! A page is built from typed blocks ([`Block`]) and rendered by one
//! template (`page.html`, minijinja, auto-escaped); Markdown the studies
//! already write becomes blocks through [`markdown::blocks`], so every
//! study's tables get the same treatment.

pub mod markdown;
pub mod paper;
pub mod provenance;

use std::path::Path;

use base64::Engine as _;
use serde::Serialize;

use super::writer::Writer;
use crate::error::{Error, Result};

/// The whole page.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub title: String,
    /// One line under the title: commits, machine, when written.
    pub subtitle: String,
    pub sections: Vec<Section>,
    /// Provenance entries the cells point at (`data-prov` = index).
    pub provenance: Vec<provenance::Group>,
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
    /// Index into [`Page::provenance`].
    pub prov: Option<usize>,
}

impl HtmlCell {
    pub fn text(t: impl Into<String>) -> HtmlCell {
        let text = t.into();
        HtmlCell { sort: leading_number(&text), text, ..Default::default() }
    }
}

/// The number a cell starts with (`0.9865 ± 0.0004 (n=3)` → 0.9865,
/// `+0.0030 [-0.0043, …]` → 0.003), for sorting.
pub fn leading_number(s: &str) -> Option<f64> {
    let t = s.trim().trim_start_matches(['*', '`']);
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+' || c == '−') && i == 0)))
        .map_or(t.len(), |(i, _)| i);
    t[..end].replace('−', "-").parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The CSS class of a verdict word, if the text is one.
pub fn verdict_class(text: &str) -> Option<&'static str> {
    let t = text.trim().trim_matches('*').to_ascii_lowercase();
    match t.as_str() {
        "holds" | "better" | "helps" => Some("good"),
        "does not hold" | "worse" | "hurts" => Some("bad"),
        "identical" => Some("neutral"),
        _ if t.starts_with("inconclusive") => Some("neutral"),
        _ => None,
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

const TEMPLATE: &str = include_str!("page.html");

/// The page as HTML.
pub fn render(page: &Page) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("page.html", TEMPLATE).map_err(|e| Error::Invalid(format!("the page template: {e}")))?;
    let t = env.get_template("page.html").map_err(|e| Error::Invalid(format!("the page template: {e}")))?;
    t.render(minijinja::context! { page => page }).map_err(|e| Error::Invalid(format!("rendering index.html: {e:#}")))
}

/// Renders `page` into `index.html` beside the report.
pub fn write(page: &Page, w: &mut Writer) -> Result<()> {
    w.write("index.html", render(page)?.as_bytes())
}

/// A page of Markdown sections (the regimes and strategies reports): each
/// `## ` heading starts a section, tables become sortable, images inline.
pub fn from_markdown(md: &str, dir: &Path, subtitle: String) -> Result<Page> {
    let (title, sections) = markdown::split_sections(md);
    let sections = sections
        .into_iter()
        .map(|(id, t, body)| Ok(Section { id, title: t, blocks: markdown::blocks(&body, dir)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { title, subtitle, sections, provenance: Vec::new() })
}

/// Writes `dir/index.html` from `dir/report.md` and the figures beside it.
pub fn page_of_folder(dir: &Path) -> Result<std::path::PathBuf> {
    let md_path = dir.join("report.md");
    let md = std::fs::read_to_string(&md_path).map_err(|e| Error::io(&md_path, e))?;
    let subtitle = "Rendered from report.md alone (its settings section names the commits and the machine); \
                    a report written by `synthmix report` from the artifacts also links each number to its provenance."
        .to_string();
    let page = from_markdown(&md, dir, subtitle)?;
    let mut w = Writer { dir: dir.to_path_buf(), written: Vec::new() };
    write(&page, &mut w)?;
    Ok(dir.join("index.html"))
}

/// `commits a1b2c3d4, e5f6…; machine …; written 2026-12-03 14:00 UTC`.
pub fn subtitle(ctx: &super::context::Context) -> String {
    let commits: Vec<String> = ctx.commits().iter().map(|c| c.chars().take(10).collect()).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!(
        "Artifacts by commit{} {}; report written on {} at {}.",
        if commits.len() == 1 { "" } else { "s" },
        if commits.is_empty() { "unknown".to_string() } else { commits.join(", ") },
        super::context::machine(),
        super::context::utc(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_sort_by_their_leading_number() {
        assert_eq!(leading_number("0.9865 ± 0.0004 (n=3)"), Some(0.9865));
        assert_eq!(leading_number("+0.0030 [-0.0043, +0.0103] (n=3)"), Some(0.003));
        assert_eq!(leading_number("−1.5"), Some(-1.5));
        assert_eq!(leading_number("**0.25**"), Some(0.25));
        assert_eq!(leading_number("n/a (no spread)"), None);
        assert_eq!(leading_number("MNIST"), None);
        assert_eq!(leading_number("10:1"), Some(10.0));
    }

    #[test]
    fn verdicts_and_colours() {
        assert_eq!(verdict_class("**holds**"), Some("good"));
        assert_eq!(verdict_class("does not hold"), Some("bad"));
        assert_eq!(verdict_class("inconclusive at this n"), Some("neutral"));
        assert_eq!(verdict_class("0.5"), None);
        assert_eq!(sigma_colour(0.5), "rgb(220,240,220)");
        assert_ne!(sigma_colour(2.0), sigma_colour(8.0), "further is deeper");
        assert_eq!(accuracy_colour(1.0, 0.0, 1.0), "rgb(66,146,198)");
    }

    #[test]
    fn a_page_renders_escaped_text_and_trusted_html() {
        let page = Page {
            title: "T <1>".into(),
            subtitle: "s".into(),
            sections: vec![Section {
                id: "a".into(),
                title: "A".into(),
                blocks: vec![
                    Block::Html { html: "<p>ok</p>".into() },
                    Block::Table(DataTable {
                        caption: String::new(),
                        head: vec!["x".into()],
                        rows: vec![vec![HtmlCell::text("<b>")]],
                    }),
                ],
            }],
            provenance: Vec::new(),
        };
        let html = render(&page).unwrap();
        assert!(html.contains("T &lt;1&gt;") && html.contains("<p>ok</p>") && html.contains("&lt;b&gt;"), "{html}");
        assert!(!html.contains("http://") && !html.contains("https://"), "no network: {html}");
    }
}
