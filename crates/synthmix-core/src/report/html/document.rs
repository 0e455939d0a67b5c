//! The page of a typed report document (the regimes and strategies
//! studies): its sections as the page's, each table a sortable
//! [`DataTable`] whose sort keys and verdict colours are the cells' typed
//! meaning, prose and figures through the Markdown-to-HTML step. Only text
//! quoted verbatim from a published report, which exists as nothing but
//! Markdown, has its tables read by [`markdown::blocks`].

use std::collections::BTreeSet;
use std::path::Path;

use super::blocks::{verdict_css, Block, DataTable, HtmlCell, Page, Section};
use super::markdown;
use crate::error::Result;
use crate::report::document::{self as doc, Document, Kind};
use crate::report::markdown::document as md;

/// The page of `d`, its figures read from `dir`; text before the first
/// section is an "Overview" section.
pub fn page(d: &Document, dir: &Path, subtitle: String) -> Result<Page> {
    let mut used = BTreeSet::new();
    let mut sections = Vec::new();
    if !md::blocks(&d.intro).trim().is_empty() {
        sections.push(section("Overview", &d.intro, dir, &mut used)?);
    }
    for s in &d.sections {
        sections.push(section(&s.title, &s.blocks, dir, &mut used)?);
    }
    Ok(Page { title: d.title.clone(), subtitle, sections, provenance: Vec::new() })
}

fn section(title: &str, blocks: &[doc::Block], dir: &Path, used: &mut BTreeSet<String>) -> Result<Section> {
    Ok(Section { id: markdown::unique_slug(title, used), title: title.to_string(), blocks: blocks_of(blocks, dir)? })
}

/// Runs of prose, figures and quoted text as HTML (one run, one block, so a
/// list or paragraph written in pieces stays whole), tables as tables.
fn blocks_of(blocks: &[doc::Block], dir: &Path) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    let mut run = Run::default();
    for b in blocks {
        match b {
            doc::Block::Table(t) => {
                run.flush(dir, &mut out)?;
                out.push(Block::Table(table(t)));
            }
            doc::Block::Quoted(q) => {
                run.md.push_str(q);
                run.quoted = true;
            }
            other => run.md.push_str(&md::block(other)),
        }
    }
    run.flush(dir, &mut out)?;
    Ok(out)
}

/// Markdown waiting to become HTML; `quoted`: some of it is a published
/// report's text, whose tables are read as printed.
#[derive(Default)]
struct Run {
    md: String,
    quoted: bool,
}

impl Run {
    fn flush(&mut self, dir: &Path, out: &mut Vec<Block>) -> Result<()> {
        let md = std::mem::take(&mut self.md);
        if std::mem::take(&mut self.quoted) {
            out.extend(markdown::blocks(&md, dir)?);
            return Ok(());
        }
        let html = markdown::prose(&md, dir)?;
        if !html.is_empty() {
            out.push(Block::Html { html });
        }
        Ok(())
    }
}

/// A typed table as a sortable one; an empty cell or header reads "–".
fn table(t: &doc::Table) -> DataTable {
    let head = t.head.iter().map(|h| markdown::inline_cell(h).map_or_else(|| "–".to_string(), |m| m.1)).collect();
    let rows = t.rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    DataTable { caption: String::new(), head, rows }
}

fn cell(c: &doc::Cell) -> HtmlCell {
    let Some((html, text)) = markdown::inline_cell(&c.text) else {
        return HtmlCell { text: "–".into(), ..Default::default() };
    };
    let class = match c.kind {
        Kind::Text => None,
        Kind::Number => Some("num".to_string()),
        Kind::Verdict(v) => Some(verdict_css(v).to_string()),
    };
    HtmlCell { html: Some(html), text, sort: c.key.filter(|k| k.is_finite()), class, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::{Cell, Figure, Table};
    use crate::report::stats::Verdict;

    #[test]
    fn typed_cells_keep_their_meaning_on_the_page() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.png"), crate::render::grid::png_bytes(&image::RgbImage::new(2, 2)).unwrap())
            .unwrap();
        let mut t = Table::new(["arm", "accuracy", "", "verdict"], "lrrl");
        // The printed digits say 0.9865; the key is the exact mean.
        let mean = 0.986_533_333_3;
        t.row([Cell::text("**real** <b>"), Cell::number("0.9865 ± 0.0004 (n=3)", mean), Cell::verdict(Verdict::Worse)]);
        let mut s = doc::Section::new("Scarce: <b>");
        s.prose("- one\n");
        s.prose("- two\n\n");
        s.table(t);
        s.figure(Figure { alt: "x".into(), file: "f.png".into(), caption: "Lines.".into() });
        let d = Document {
            title: "A <i>".into(),
            title_md: None,
            intro: vec![doc::Block::Prose("\n".into())],
            sections: vec![s.clone(), s],
        };
        let p = page(&d, dir.path(), "sub".into()).unwrap();
        assert_eq!(p.title, "A <i>");
        let ids: Vec<&str> = p.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["scarce-b", "scarce-b-2"], "no overview of blank lines");
        let b = &p.sections[0].blocks;
        let Block::Html { html } = &b[0] else { panic!("{b:?}") };
        assert_eq!(html.matches("<ul>").count(), 1, "a list written in pieces stays one list: {html}");
        let Block::Table(t) = &b[1] else { panic!("{b:?}") };
        assert_eq!(t.head, ["arm", "accuracy", "–", "verdict"]);
        let r = &t.rows[0];
        assert_eq!(r[0].html.as_deref(), Some("<strong>real</strong> &lt;b&gt;"));
        assert_eq!((r[0].text.as_str(), r[0].sort, r[0].class.as_deref()), ("real <b>", None, None));
        assert_eq!((r[1].sort, r[1].class.as_deref()), (Some(mean), Some("num")));
        assert_eq!(r[2].class.as_deref(), Some("bad"));
        assert_eq!((r[3].text.as_str(), r[3].html.as_deref()), ("–", None), "padded to the header");
        let Block::Html { html } = &b[2] else { panic!("{b:?}") };
        assert!(html.contains("src=\"data:image/png;base64,") && html.contains("<p>Lines.</p>"), "{html}");
    }
}
