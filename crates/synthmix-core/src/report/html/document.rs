//! The page of a typed report document (every study's): its sections as
//! the page's, each table a sortable [`DataTable`] whose sort keys, colours
//! and click-through are the cells' typed meaning (the number, the verdict,
//! the artifacts behind it), prose and figures through the Markdown-to-HTML
//! step, sample strips on sliders. Only text quoted verbatim from a
//! published report, which exists as nothing but Markdown, has its tables
//! read by [`markdown::blocks`].

use std::collections::BTreeSet;
use std::path::Path;

use super::blocks::{
    accuracy_colour, png_data_uri, sigma_colour, verdict_css, Block, DataTable, Frame, HtmlCell, Page, Section,
};
use super::markdown;
use super::provenance::Collector;
use crate::error::Result;
use crate::report::document::{self as doc, Document, Kind, Tone};
use crate::report::markdown::document as md;

/// The page of `d`, its figures read from `dir`; text before the first
/// section is an "Overview" section.
pub fn page(d: &Document, dir: &Path, subtitle: String) -> Result<Page> {
    let mut used = BTreeSet::new();
    let mut prov = Collector::default();
    let mut sections = Vec::new();
    if !md::blocks(&d.intro).trim().is_empty() {
        sections.push(section("Overview", &d.intro, dir, &mut used, &mut prov)?);
    }
    for s in &d.sections {
        sections.push(section(&s.title, &s.blocks, dir, &mut used, &mut prov)?);
    }
    Ok(Page { title: d.title.clone(), subtitle, sections, provenance: prov.finish() })
}

fn section(
    title: &str,
    blocks: &[doc::Block],
    dir: &Path,
    used: &mut BTreeSet<String>,
    prov: &mut Collector,
) -> Result<Section> {
    Ok(Section {
        id: markdown::unique_slug(title, used),
        title: title.to_string(),
        blocks: blocks_of(blocks, dir, prov)?,
    })
}

/// Runs of prose, figures and quoted text as HTML (one run, one block, so a
/// list or paragraph written in pieces stays whole), tables as tables.
fn blocks_of(blocks: &[doc::Block], dir: &Path, prov: &mut Collector) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    let mut run = Run::default();
    for b in blocks {
        match b {
            doc::Block::Table(t) => {
                run.flush(dir, &mut out)?;
                out.push(Block::Table(table(t, prov)));
            }
            doc::Block::Strip(s) => {
                run.flush(dir, &mut out)?;
                out.extend(strip(s)?);
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

/// A strip with its pictures embedded; none without pictures.
fn strip(s: &doc::Strip) -> Result<Option<Block>> {
    let frames = s
        .frames
        .iter()
        .map(|(label, path)| Ok(Frame { label: label.clone(), src: png_data_uri(path)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok((!frames.is_empty()).then(|| Block::Strip { id: s.id.clone(), caption: s.caption.clone(), frames }))
}

/// A typed table as a sortable one; an empty cell or header reads "–". A
/// heatmap's number cells are coloured from its lowest to its highest value.
fn table(t: &doc::Table, prov: &mut Collector) -> DataTable {
    let head = t.head.iter().map(|h| markdown::inline_cell(h).map_or_else(|| "–".to_string(), |m| m.1)).collect();
    let mut rows: Vec<Vec<HtmlCell>> = t.rows.iter().map(|r| r.iter().map(|c| cell(c, prov)).collect()).collect();
    let mut caption = String::new();
    if t.heatmap {
        let keys = t.rows.iter().flatten().filter(|c| c.kind == Kind::Number).filter_map(|c| c.key);
        let (lo, hi) = keys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        for (r, row) in t.rows.iter().zip(&mut rows) {
            for (c, h) in r.iter().zip(row) {
                if let (Kind::Number, Some(k)) = (c.kind, c.key) {
                    h.bg = Some(accuracy_colour(k, lo, hi));
                }
            }
        }
        let click = rows.iter().any(|r| r.first().is_some_and(|c| c.prov.is_some()));
        caption = format!(
            "Colour from the table's lowest (white) to its highest value (blue).{}",
            if click { " Click a row's first cell for its classifiers." } else { "" }
        );
    }
    DataTable { caption, head, rows }
}

fn cell(c: &doc::Cell, prov: &mut Collector) -> HtmlCell {
    let Some((html, text)) = markdown::inline_cell(&c.text) else {
        return HtmlCell::text("–");
    };
    let sort = c.key.filter(|k| k.is_finite());
    let (class, bg, title) = match c.kind {
        Kind::Text => (None, None, None),
        Kind::Number => (Some("num"), None, None),
        Kind::Verdict(v) => (Some(verdict_css(v)), None, None),
        Kind::Claim(t) => (Some(tone_css(t)), None, None),
        Kind::Sigma => match sort {
            Some(x) => {
                let why = format!("the paper's value lies {:.1} of our std from our mean", x.abs());
                (Some("num"), Some(sigma_colour(x)), Some(why))
            }
            None => (Some("num"), None, None),
        },
    };
    HtmlCell {
        html: Some(html),
        text,
        sort,
        class: class.map(str::to_string),
        bg,
        title: c.hover.clone().or(title),
        prov: c.prov.as_ref().and_then(|p| prov.group(p)),
    }
}

/// A claim's verdict: holds green, does not hold red, inconclusive grey.
fn tone_css(t: Tone) -> &'static str {
    match t {
        Tone::Good => "good",
        Tone::Bad => "bad",
        Tone::Neutral => "neutral",
    }
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

    #[test]
    fn a_cells_provenance_reaches_the_page_escaped() {
        use crate::report::document::{Provenance, Role};
        let hostile = "runs/</script><b>\"x\"&c/clf-s0.safetensors";
        let files = |seed| {
            vec![
                Provenance::artifact(Role::Classifier, Some(seed), if seed == 0 { hostile } else { "runs/clf-s1.st" }),
                Provenance::artifact(Role::TrainingSet, Some(seed), format!("sets/train-s{seed}.st")),
                Provenance::artifact(Role::Generator, None, "gens/g0.safetensors"),
            ]
        };
        let both: Vec<_> = files(0).into_iter().chain(files(1)).collect();
        let mut t = Table::new(["arm", "accuracy", "Δ"], "lrr");
        let p = Provenance::new("MNIST, 1:1 <i>", both);
        assert_eq!(p.artifacts.len(), 5, "the generator both seeds share, once: {p:?}");
        t.row([
            Cell::text("plain"),
            Cell::number("0.9 ± 0.1 (n=2)", 0.9).with_prov(Some(p.clone())),
            Cell::number("+0.1", 0.1).with_prov(Some(p)),
        ]);
        t.row([Cell::text("none"), Cell::number("0.8", 0.8).with_prov(Some(Provenance::new("empty", vec![])))]);
        let mut s = doc::Section::new("S");
        s.table(t);
        let d = Document { title: "T".into(), title_md: None, intro: vec![], sections: vec![s] };
        let dir = tempfile::tempdir().unwrap();
        let page = page(&d, dir.path(), "sub".into()).unwrap();
        let Block::Table(t) = &page.sections[0].blocks[0] else { panic!("{:?}", page.sections[0]) };
        let (a, b) = (t.rows[0][1].prov.unwrap(), t.rows[0][2].prov.unwrap());
        assert_eq!(a, b, "one group for the same files");
        assert_eq!((t.rows[0][0].prov, t.rows[1][1].prov), (None, None), "no files, no click-through");
        let g = &page.provenance.groups[a];
        assert_eq!(g.title, "MNIST, 1:1 <i>");
        let shown: Vec<(String, String)> = g
            .entries
            .iter()
            .map(|&i| (page.provenance.entries[i].role.clone(), page.provenance.entries[i].artifact.clone()))
            .collect();
        assert!(shown.contains(&("classifier, seed 0".into(), hostile.into())), "{shown:?}");
        assert!(shown.contains(&("training set, seed 1".into(), "sets/train-s1.st".into())), "{shown:?}");
        assert!(shown.contains(&("generator".into(), "gens/g0.safetensors".into())), "{shown:?}");
        assert!(page.provenance.entries.iter().all(|e| e.record.is_none()), "no record beside these files");
        // On the rendered page: the cell points at the group, and the path
        // is in the page's data, escaped so it cannot close the script.
        let html = super::super::render(&page).unwrap();
        assert!(html.contains(&format!("data-prov=\"{a}\"")), "{html}");
        assert!(!html.contains(hostile) && html.matches("</script>").count() == 2, "the path escaped: {html}");
        let start = html.find("id=\"prov-data\">").unwrap() + "id=\"prov-data\">".len();
        let json = &html[start..start + html[start..].find("</script>").unwrap()];
        let data: serde_json::Value = serde_json::from_str(json).unwrap();
        let artifacts: Vec<&str> = data["groups"][a]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| data["entries"][i.as_u64().unwrap() as usize]["artifact"].as_str().unwrap())
            .collect();
        assert!(artifacts.contains(&hostile), "{artifacts:?}");
    }
}
