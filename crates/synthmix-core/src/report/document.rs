//! A report as a typed document, built once by a study (paper, regimes,
//! strategies) and read by every renderer: report.md is written from it by
//! `markdown::document`, the page built from its blocks by `html::document`.
//! A table cell carries its text as report.md prints it and what it means —
//! the number it sorts by, the verdict it shows, the artifacts behind it —
//! so no renderer reads a number or a verdict back out of printed text.

use std::path::PathBuf;

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
    /// Pictures of one thing over time (a generator's sample grids by
    /// epoch): the page shows them on a slider; report.md, which links the
    /// final grid as a figure, prints nothing for it.
    Strip(Strip),
}

/// A table: a header, each column left- or right-aligned, rows of cells.
#[derive(Debug, Clone)]
pub struct Table {
    pub head: Vec<String>,
    /// One letter a column: `l` left, `r` right (as [`md::Table::new`]).
    pub align: String,
    pub rows: Vec<Vec<Cell>>,
    /// The page colours its number cells from the table's lowest to its
    /// highest value (accuracy per class).
    pub heatmap: bool,
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
    /// What a pointer resting on the cell shows (e.g. each seed's value).
    pub hover: Option<String>,
    /// The artifacts behind the number, for the page's click-through.
    pub prov: Option<Provenance>,
}

/// The artifacts behind one number: a title saying which number, and each
/// observation's files (classifier, training set, generator, test set) by seed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Provenance {
    pub title: String,
    pub artifacts: Vec<Artifact>,
}

/// One file behind a number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Artifact {
    pub role: Role,
    /// The study seed of the observation it belongs to (None: shared by every seed).
    pub seed: Option<u64>,
    /// As the observation names it (a path, or `DATASET:SPLIT` for a training set).
    pub path: String,
}

/// What a file is to the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Classifier,
    TrainingSet,
    Generator,
    TestSet,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Classifier => "classifier",
            Role::TrainingSet => "training set",
            Role::Generator => "generator",
            Role::TestSet => "test set",
        }
    }
}

impl Provenance {
    /// `title`, its artifacts sorted and each listed once (a classifier
    /// behind both sides of a difference, a test set shared by every seed).
    pub fn new(title: impl Into<String>, mut artifacts: Vec<Artifact>) -> Provenance {
        artifacts.retain(|a| !a.path.is_empty());
        artifacts.sort();
        artifacts.dedup();
        Provenance { title: title.into(), artifacts }
    }

    pub fn artifact(role: Role, seed: Option<u64>, path: impl Into<String>) -> Artifact {
        Artifact { role, seed, path: path.into() }
    }

    /// Each run's classifier, training set and generator where it has one,
    /// `(seed, classifier, training set, generator)`; None without runs.
    pub fn runs<'a>(
        title: impl Into<String>,
        runs: impl IntoIterator<Item = (u64, &'a str, &'a str, Option<&'a str>)>,
    ) -> Option<Provenance> {
        let files = runs.into_iter().flat_map(|(seed, classifier, train, generator)| {
            [
                Some(Self::artifact(Role::Classifier, Some(seed), classifier)),
                Some(Self::artifact(Role::TrainingSet, Some(seed), train)),
                generator.map(|g| Self::artifact(Role::Generator, Some(seed), g)),
            ]
            .into_iter()
            .flatten()
        });
        Some(Provenance::new(title, files.collect())).filter(|p| !p.artifacts.is_empty())
    }
}

/// A generator's sample grids by epoch, on the page's slider.
#[derive(Debug, Clone)]
pub struct Strip {
    /// Unique on the page.
    pub id: String,
    pub caption: String,
    /// (label, PNG file) per frame, the last shown first.
    pub frames: Vec<(String, PathBuf)>,
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
    /// A claim's verdict word (holds / does not hold / inconclusive).
    Claim(Tone),
    /// (ours − paper) / our std: the page colours it by its size.
    Sigma,
}

/// How a claim's verdict reads: the claim holds, fails, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Neutral,
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
        Cell { text: t.into(), key: None, kind: Kind::Text, hover: None, prov: None }
    }

    /// A number as printed, sorted by `key`.
    pub fn number(t: impl Into<String>, key: f64) -> Cell {
        Cell { key: Some(key), kind: Kind::Number, ..Cell::text(t) }
    }

    /// Words around a number, sorted by `key`.
    pub fn sorted(t: impl Into<String>, key: f64) -> Cell {
        Cell { key: Some(key), ..Cell::text(t) }
    }

    /// (ours − paper) / our std as `+1.2`, coloured by its size on the page.
    pub fn sigma(x: f64) -> Cell {
        Cell { key: Some(x), kind: Kind::Sigma, ..Cell::text(format!("{x:+.1}")) }
    }

    /// A verdict word.
    pub fn verdict(v: Verdict) -> Cell {
        Cell { kind: Kind::Verdict(v), ..Cell::text(v.word()) }
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

    /// The cell with the artifacts behind it (none: left as it is).
    pub fn with_prov(mut self, p: Option<Provenance>) -> Cell {
        if let Some(p) = p.filter(|p| !p.artifacts.is_empty()) {
            self.prov = Some(p);
        }
        self
    }

    /// Each seed's value on hover: `seed 0: 0.9812, seed 1: 0.9790`.
    pub fn with_seeds(self, c: &model::Cell) -> Cell {
        let seeds: Vec<String> = c.values.iter().map(|(s, a)| format!("seed {s}: {a:.4}")).collect();
        Cell { hover: Some(seeds.join(", ")), ..self }
    }
}

impl Table {
    /// `align` has one letter a column: `l` left, `r` right.
    pub fn new<S: Into<String>>(head: impl IntoIterator<Item = S>, align: &str) -> Table {
        Table {
            head: head.into_iter().map(Into::into).collect(),
            align: align.into(),
            rows: Vec::new(),
            heatmap: false,
        }
    }

    /// The table as report.md prints it, through [`md::Table`], which
    /// escapes every cell (also table2.md and table3.md beside it).
    pub fn markdown(&self) -> String {
        let mut m = md::Table::new(self.head.iter().cloned(), &self.align);
        for r in &self.rows {
            m.row(r.iter().map(|c| c.text.clone()));
        }
        m.render()
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
