//! A report as a typed document, built once by a study (regimes,
//! strategies) and read by every renderer: report.md is written from it by
//! `markdown::document`, the page built from its blocks by `html::document`.
//! A table cell carries its text as report.md prints it and what it means — the number it sorts by, the verdict it shows — so no
//! renderer reads a number or a verdict back out of printed text.

use super::md;
use super::model;
use super::stats::{compared_cell, Compared, Verdict};

/// A whole report: title, what stands before the first section, sections.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The title as a reader sees it (the page's heading).
    pub title: String,
    /// A rebuilt report's `# ` line, verbatim (else the title, escaped).
    pub title_md: Option<String>,
    /// Notes and the opening sentence (the page's "Overview").
    pub intro: Vec<Block>,
    pub sections: Vec<Section>,
}

/// A `## ` section.
#[derive(Debug, Clone)]
pub struct Section {
    /// As a reader sees it; report.md escapes it.
    pub title: String,
    pub blocks: Vec<Block>,
}

/// What a section is made of.
#[derive(Debug, Clone)]
pub enum Block {
    /// Markdown the study writes (paragraphs, lists, `###` headings; names
    /// escaped by `md::text`), as report.md prints it, blank lines included.
    Prose(String),
    /// Markdown quoted verbatim from a published report (its numbers are in
    /// no CSV, so they exist only as text).
    Quoted(String),
    Table(Table),
    Figure(Figure),
}

/// A table: a header, each column left- or right-aligned, rows of cells.
#[derive(Debug, Clone)]
pub struct Table {
    pub head: Vec<String>,
    /// One letter a column: `l` left, `r` right (as [`md::Table::new`]).
    pub align: String,
    pub rows: Vec<Vec<Cell>>,
}

/// A table cell: its text as report.md prints it (inline Markdown such as
/// `**`/backticks allowed; [`md::Table`] escapes the rest) and its meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    /// What a click on the column header sorts by (the exact value, not
    /// the printed digits).
    pub key: Option<f64>,
    pub kind: Kind,
}

/// What a cell shows, for its colour and alignment on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Words, or a number with words around it.
    Text,
    /// A number, a mean ± std (n) or an interval, nothing else.
    Number,
    /// A verdict word and nothing else.
    Verdict(Verdict),
}

/// A figure the report wrote into its folder.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Its title (alt text), as a reader sees it.
    pub alt: String,
    /// The PNG's file name in the report folder.
    pub file: String,
    /// Markdown under the figure (empty: none).
    pub caption: String,
}

impl Cell {
    /// Words, not sorted by number.
    pub fn text(t: impl Into<String>) -> Cell {
        Cell { text: t.into(), key: None, kind: Kind::Text }
    }

    /// A number as printed, sorted by `key`.
    pub fn number(t: impl Into<String>, key: f64) -> Cell {
        Cell { text: t.into(), key: Some(key), kind: Kind::Number }
    }

    /// Words around a number, sorted by `key`.
    pub fn sorted(t: impl Into<String>, key: f64) -> Cell {
        Cell { text: t.into(), key: Some(key), kind: Kind::Text }
    }

    /// A verdict word.
    pub fn verdict(v: Verdict) -> Cell {
        Cell { text: v.word().into(), key: None, kind: Kind::Verdict(v) }
    }

    /// A comparison's verdict word, `not measured` where there is none.
    pub fn verdict_of(c: Option<Compared>) -> Cell {
        c.map_or_else(|| Cell::text("not measured"), |c| Cell::verdict(c.verdict()))
    }

    /// Mean ± std (n), `–` where not measured.
    pub fn mean(c: Option<model::Cell>) -> Cell {
        c.map_or_else(|| Cell::text("–"), |c| Cell::number(c.text(), c.mean))
    }

    /// A judged comparison (interval, verdict, p-values), sorted by its mean
    /// difference; `–` where not measured.
    pub fn compared(c: Option<Compared>) -> Cell {
        match c {
            Some(c) => Cell::sorted(compared_cell(Some(c)), c.interval.mean),
            None => Cell::text("–"),
        }
    }

    /// `t`, sorted by the comparison's mean difference where there is one.
    pub fn sorted_by(t: impl Into<String>, c: Option<Compared>) -> Cell {
        Cell { key: c.map(|c| c.interval.mean), ..Cell::text(t) }
    }
}

impl Table {
    /// `align` has one letter a column: `l` left, `r` right.
    pub fn new<S: Into<String>>(head: impl IntoIterator<Item = S>, align: &str) -> Table {
        Table { head: head.into_iter().map(Into::into).collect(), align: align.into(), rows: Vec::new() }
    }

    /// Adds a row; a row shorter than the header is padded with empty cells.
    pub fn row(&mut self, cells: impl IntoIterator<Item = Cell>) {
        let mut r: Vec<Cell> = cells.into_iter().collect();
        debug_assert!(r.len() <= self.head.len(), "{} cells for {} columns", r.len(), self.head.len());
        r.resize(self.head.len(), Cell::text(""));
        self.rows.push(r);
    }
}

impl Section {
    pub fn new(title: impl Into<String>) -> Section {
        Section { title: title.into(), blocks: Vec::new() }
    }

    pub fn prose(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Prose(s.into()));
    }

    pub fn table(&mut self, t: Table) {
        self.blocks.push(Block::Table(t));
    }

    pub fn figure(&mut self, f: Figure) {
        self.blocks.push(Block::Figure(f));
    }
}

impl Document {
    /// A report titled `title` (escaped in report.md), each note a quoted
    /// paragraph under it (both may name a user's dataset).
    pub fn titled(title: &str, notes: &[String]) -> Document {
        let notes: String = notes.iter().map(|n| format!("> {}\n\n", md::text(n))).collect();
        let intro = if notes.is_empty() { Vec::new() } else { vec![Block::Prose(notes)] };
        Document { title: title.into(), title_md: None, intro, sections: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_carry_exact_keys_and_verdicts() {
        let c = model::Cell::new(vec![(0, 0.98651), (1, 0.98652)]);
        let m = Cell::mean(Some(c));
        assert_eq!((m.text.as_str(), m.kind), ("0.9865 ± 0.0000 (n=2)", Kind::Number));
        assert!((m.key.unwrap() - 0.986515).abs() < 1e-12, "the exact mean, not the printed one: {m:?}");
        assert_eq!(Cell::mean(None), Cell::text("–"));
        assert_eq!(Cell::verdict_of(None).kind, Kind::Text);
        assert_eq!(Cell::verdict(Verdict::Worse).text, "worse");
    }
}
