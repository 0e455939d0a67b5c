//! `index.html` beside every report: one self-contained static page (inline
//! CSS and script, figures inline as SVG or embedded PNG, no network) with
//! the report's sections, sortable tables, coloured verdicts and Δ/σ cells,
//! per-generator sample strips by epoch, per-class heatmaps and, for the
//! numbers that come from classifiers, a click-through to their provenance.
//!
//! A page is built from typed blocks ([`blocks::Block`]) and rendered by one
//! template (`page.html`, minijinja, auto-escaped). Every study's page comes
//! from its typed document ([`document::page`]); only `synthmix page` (a
//! folder with nothing but a report.md) reads printed Markdown, through
//! [`from_markdown`].

pub mod blocks;
pub mod document;
pub mod markdown;
pub mod provenance;

use std::path::Path;

use blocks::{Page, Section};

use super::writer::Writer;
use crate::error::{Error, Result};

const TEMPLATE: &str = include_str!("page.html");

/// The page as HTML.
pub fn render(page: &Page) -> Result<String> {
    let mut env = minijinja::Environment::new();
    // Class and dataset names come from users' folders: a control character
    // (ESC, a newline) is shown escaped as the Markdown cells show it, then
    // HTML-escaped; trusted HTML (`| safe`, `tojson`) passes as it is.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if !value.is_safe() => {
            let shown = minijinja::Value::from(crate::terminal::escape(s).as_ref());
            minijinja::escape_formatter(out, state, &shown)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.add_template("page.html", TEMPLATE).map_err(|e| Error::Invalid(format!("the page template: {e}")))?;
    let t = env.get_template("page.html").map_err(|e| Error::Invalid(format!("the page template: {e}")))?;
    t.render(minijinja::context! { page => page }).map_err(|e| Error::Invalid(format!("rendering index.html: {e:#}")))
}

/// Renders `page` into `index.html` beside the report.
pub fn write(page: &Page, w: &mut Writer) -> Result<()> {
    w.write("index.html", render(page)?.as_bytes())
}

/// A page of printed Markdown sections, for a folder that has nothing but
/// a report.md (`synthmix page`): each `## ` heading starts a section,
/// tables become sortable by the numbers and verdict words read from their
/// printed cells, images inline. A report written by `synthmix report`
/// builds its page from its typed document instead ([`document::page`]).
pub fn from_markdown(md: &str, dir: &Path, subtitle: String) -> Result<Page> {
    let (title, sections) = markdown::split_sections(md);
    let sections = sections
        .into_iter()
        .map(|(id, t, body)| Ok(Section { id, title: t, blocks: markdown::blocks(&body, dir)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { title, subtitle, sections, provenance: Default::default() })
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
/// `rebuilt`: the report was rebuilt from a published folder (`--prior`
/// alone), with no artifacts of its own at hand.
pub fn subtitle(ctx: &super::context::Context, rebuilt: bool) -> String {
    let commits: Vec<String> = ctx.commits().iter().map(|c| c.chars().take(10).collect()).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let made = match (rebuilt, commits.is_empty()) {
        (true, _) => "Rebuilt from a published report folder's CSVs (its settings section names the original \
                      runs' commits and machine)"
            .to_string(),
        (false, true) => "Artifacts by commit unknown".to_string(),
        (false, false) => {
            format!("Artifacts by commit{} {}", if commits.len() == 1 { "" } else { "s" }, commits.join(", "))
        }
    };
    format!("{made}; report written on {} at {}.", super::context::machine(), super::context::utc(now))
}

#[cfg(test)]
mod tests {
    use super::blocks::*;
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
            provenance: Default::default(),
        };
        let html = render(&page).unwrap();
        assert!(html.contains("T &lt;1&gt;") && html.contains("<p>ok</p>") && html.contains("&lt;b&gt;"), "{html}");
        assert!(!html.contains("http://") && !html.contains("https://"), "no network: {html}");
    }
}
