//! Markdown as page blocks (pulldown-cmark): prose as HTML, every local
//! image embedded (an SVG twin preferred: it stays sharp). Printed tables —
//! only where Markdown is all there is: `synthmix page` on a folder with
//! nothing but a report.md, and text quoted from a published report —
//! become [`DataTable`]s whose sort keys and colours are read from their
//! digits and verdict words; a typed document's tables never come here
//! (`super::document`), only their cells' markup ([`inline_cell`]).

use std::path::Path;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::blocks::{leading_number, png_data_uri, sigma_colour, verdict_class, Block, DataTable, HtmlCell};
use crate::error::Result;
use crate::report::md;

/// The `# ` title and the `## ` sections (id, title, body) of a report; text
/// before the first `## ` is an "Overview" section.
pub fn split_sections(md: &str) -> (String, Vec<(String, String, String)>) {
    let mut title = String::from("synthmix report");
    let mut sections: Vec<(String, String, String)> = vec![(String::new(), "Overview".into(), String::new())];
    for line in md.lines() {
        if let Some(t) = line.strip_prefix("# ") {
            title = md::plain(t);
        } else if let Some(t) = line.strip_prefix("## ") {
            sections.push((String::new(), md::plain(t), String::new()));
        } else if let Some(last) = sections.last_mut() {
            last.2.push_str(line);
            last.2.push('\n');
        }
    }
    sections.retain(|s| !s.2.trim().is_empty() || s.1 != "Overview");
    let mut used = std::collections::BTreeSet::new();
    for s in &mut sections {
        s.0 = unique_slug(&s.1, &mut used);
    }
    (title, sections)
}

/// `Table 2: test accuracy` → `table-2-test-accuracy`, unique on the page.
pub fn unique_slug(title: &str, used: &mut std::collections::BTreeSet<String>) -> String {
    let mut s: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    s.truncate(60);
    if s.is_empty() {
        s = "section".into();
    }
    let mut id = s.clone();
    let mut k = 2;
    while !used.insert(id.clone()) {
        id = format!("{s}-{k}");
        k += 1;
    }
    id
}

const OPTIONS: Options = Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH);

/// Markdown → blocks; images named relative to `dir` are embedded.
pub fn blocks(md: &str, dir: &Path) -> Result<Vec<Block>> {
    let events: Vec<Event> =
        Parser::new_ext(md, OPTIONS).map(|e| embed_image(raw_html_as_text(e), dir)).collect::<Result<_>>()?;
    let mut out = Vec::new();
    let mut prose: Vec<Event> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Table(_)) = &events[i] {
            flush(&mut prose, &mut out);
            let end =
                (i..events.len()).find(|&j| matches!(events[j], Event::End(TagEnd::Table))).unwrap_or(events.len());
            out.push(Block::Table(table(&events[i + 1..end])));
            i = end + 1;
        } else {
            prose.push(events[i].clone());
            i += 1;
        }
    }
    flush(&mut prose, &mut out);
    Ok(out)
}

/// Prose Markdown as HTML (a typed document's paragraphs, lists and
/// figures), raw HTML shown as text, images named relative to `dir` embedded.
pub fn prose(md: &str, dir: &Path) -> Result<String> {
    let events: Vec<Event> =
        Parser::new_ext(md, OPTIONS).map(|e| embed_image(raw_html_as_text(e), dir)).collect::<Result<_>>()?;
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    Ok(html)
}

/// A typed table cell's text as its report.md table renders it: the inner
/// HTML of its markup (bold, code) and the text a reader sees; `None` for
/// an empty cell.
pub fn inline_cell(text: &str) -> Option<(String, String)> {
    let md = format!("| x |\n|---|\n| {} |\n", md::cell(text));
    let events: Vec<Event> = Parser::new_ext(&md, OPTIONS).map(raw_html_as_text).collect();
    let start = events.iter().rposition(|e| matches!(e, Event::Start(Tag::TableCell)))?;
    let end = events[start..].iter().position(|e| matches!(e, Event::End(TagEnd::TableCell)))? + start;
    markup(&events[start + 1..end])
}

fn flush(prose: &mut Vec<Event>, out: &mut Vec<Block>) {
    if prose.is_empty() {
        return;
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, prose.drain(..));
    out.push(Block::Html { html });
}

/// Raw HTML in a report's Markdown is shown as text, never passed through:
/// reports print names that come from users' folders and CSV cells.
fn raw_html_as_text(e: Event<'_>) -> Event<'_> {
    match e {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        other => other,
    }
}

/// A local image becomes a data URI (its `.svg` twin when the report wrote one).
fn embed_image<'a>(e: Event<'a>, dir: &Path) -> Result<Event<'a>> {
    let Event::Start(Tag::Image { link_type, dest_url, title, id }) = e else { return Ok(e) };
    let local = !dest_url.contains(':') && !dest_url.starts_with('/');
    let png = dir.join(dest_url.as_ref());
    let svg = png.with_extension("svg");
    let dest_url = if local && svg.is_file() {
        let bytes = std::fs::read(&svg).map_err(|e| crate::error::Error::io(&svg, e))?;
        format!(
            "data:image/svg+xml;base64,{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        )
        .into()
    } else if local && png.is_file() {
        png_data_uri(&png)?.into()
    } else {
        dest_url
    };
    Ok(Event::Start(Tag::Image { link_type, dest_url, title, id }))
}

/// The events between a table's start and end as a [`DataTable`].
fn table(events: &[Event]) -> DataTable {
    let mut t = DataTable::default();
    let mut row: Vec<HtmlCell> = Vec::new();
    let mut cell: Vec<Event> = Vec::new();
    let mut in_head = false;
    for e in events {
        match e {
            Event::Start(Tag::TableHead) => in_head = true,
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                t.head = row.drain(..).map(|c| c.text).collect();
            }
            Event::Start(Tag::TableCell) => cell.clear(),
            Event::End(TagEnd::TableCell) => row.push(cell_of(&cell)),
            Event::End(TagEnd::TableRow) if !in_head => t.rows.push(std::mem::take(&mut row)),
            Event::Start(Tag::TableRow) | Event::End(TagEnd::TableRow) => {}
            other => cell.push(other.clone()),
        }
    }
    colour_sigma_columns(&mut t);
    t
}

/// A cell's events as (inner HTML, the text a reader sees); `None` when
/// the cell is empty.
fn markup(events: &[Event]) -> Option<(String, String)> {
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Text(s) | Event::Code(s) => Some(s.as_ref()),
            _ => None,
        })
        .collect();
    if text.trim().is_empty() {
        return None;
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.iter().cloned());
    Some((html, text))
}

/// A table cell of printed Markdown, its colour and sort key read from its
/// words and digits; an empty one reads "–" (nothing to report there).
fn cell_of(events: &[Event]) -> HtmlCell {
    let Some((html, text)) = markup(events) else { return HtmlCell::text("–") };
    let class = verdict_class(&text).map(str::to_string).or_else(|| is_numeric(&text).then(|| "num".to_string()));
    HtmlCell { html: Some(html), sort: leading_number(&text), class, ..HtmlCell::text(text) }
}

/// A number, a mean ± std (n=k) or an interval: no words besides "n=".
fn is_numeric(text: &str) -> bool {
    leading_number(text).is_some() && !text.replace("(n=", "").chars().any(char::is_alphabetic)
}

/// Δ/σ columns (ours − paper in our std) coloured by their size.
fn colour_sigma_columns(t: &mut DataTable) {
    let cols: Vec<usize> = t.head.iter().enumerate().filter(|(_, h)| h.contains("Δ/σ")).map(|(i, _)| i).collect();
    for row in &mut t.rows {
        for &c in &cols {
            if let Some(cell) = row.get_mut(c) {
                if let Some(x) = cell.sort {
                    cell.bg = Some(sigma_colour(x));
                    cell.title = Some(format!("the paper's value lies {:.1} of our std from our mean", x.abs()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_tables_and_images() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.png"), crate::render::grid::png_bytes(&image::RgbImage::new(2, 2)).unwrap())
            .unwrap();
        let md = "# Title\n\nintro\n\n## Table 2: x\n\n| a | Δ/σ | Verdict |\n|---|---:|---|\n| MNIST | +4.2 | **holds** |\n\n![f](f.png)\n\n## Table 2: x\n\ntext\n";
        let (title, s) = split_sections(md);
        assert_eq!(title, "Title");
        let ids: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(ids, ["overview", "table-2-x", "table-2-x-2"]);
        let b = blocks(&s[1].2, dir.path()).unwrap();
        let Block::Table(t) = &b[0] else { panic!("{b:?}") };
        assert_eq!(t.head, ["a", "Δ/σ", "Verdict"]);
        assert_eq!(t.rows[0][1].bg.as_deref(), Some(sigma_colour(4.2).as_str()));
        assert_eq!(t.rows[0][2].class.as_deref(), Some("good"));
        assert_eq!(t.rows[0][1].class.as_deref(), Some("num"));
        assert!(
            !is_numeric("1 % real") && is_numeric("0.9520 ± 0.0032 (n=3)") && is_numeric("+0.01 [-0.02, +0.04] (n=3)")
        );
        let Block::Html { html } = &b[1] else { panic!("{b:?}") };
        assert!(html.contains("src=\"data:image/png;base64,"), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let md = "ds<img src=q onerror=alert(8)> in prose\n\n<script>alert(1)</script>\n\n| name | v |\n|---|---|\n| <b onmouseover=x>c</b> | 1 |\n";
        let b = blocks(md, Path::new(".")).unwrap();
        let Block::Html { html } = &b[0] else { panic!("{b:?}") };
        assert!(html.contains("ds&lt;img src=q onerror=alert(8)&gt;") && html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<img") && !html.contains("<script"), "{html}");
        let Block::Table(t) = &b[1] else { panic!("{b:?}") };
        let cell = t.rows[0][0].html.as_deref().unwrap();
        assert!(cell.contains("&lt;b onmouseover=x&gt;") && !cell.contains("<b "), "{cell}");
        assert_eq!(t.rows[0][0].text, "<b onmouseover=x>c</b>", "the sortable text is the name itself");
        // Headings as report.md escapes them: the page's title is the name
        // itself (the template escapes it once).
        let (title, s) = split_sections("# ds&lt;img src=x> a\\|b\n\n## Scarce: `r` **b**\n\nx\n");
        assert_eq!((title.as_str(), s[0].1.as_str()), ("ds<img src=x> a|b", "Scarce: r b"));
    }
}
