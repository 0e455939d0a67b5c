//! The paper study's page: its report.md as sections, with Tables 2 and 3
//! typed (each of our cells clicks through to its classifiers' provenance),
//! each generator's samples per epoch on a slider, and accuracy per class
//! as a heatmap per mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::blocks::{accuracy_colour, png_data_uri, Block, DataTable, Frame, HtmlCell, Page};
use super::provenance::{Group, Index};
use crate::data::DataOptions;
use crate::error::Result;
use crate::report::generators::GeneratorInfo;
use crate::report::model::{dataset_title, paper_cells, GenId, Mix, Observation, TestKind};
use crate::report::study::{ReportParams, Study};
use crate::report::tables;

/// At most this many epochs on a generator's slider (evenly spaced, the last included).
const MAX_FRAMES: usize = 12;

/// Builds the page from the report's Markdown and the study behind it.
pub fn page(study: &Study, params: &ReportParams, opts: &DataOptions, md: &str, dir: &Path) -> Result<Page> {
    let mut page = super::from_markdown(md, dir, super::subtitle(&study.context, study.quote.is_some()))?;
    let mut prov = Provenance::new(&study.obs);
    for s in &mut page.sections {
        if s.title.starts_with("Table 2") || s.title.starts_with("Table 3") {
            let t = if s.title.starts_with("Table 2") {
                let why = |d: &str| crate::report::markdown::why_not_run(d, opts);
                tables::table2(&study.cells, &study.paper, &params.expect_datasets, &why)
            } else {
                tables::table3(&paper_cells(&study.cells), &study.paper)
            };
            let typed = t.html(&mut |row, test| prov.cell(row, test));
            replace_first_table(&mut s.blocks, typed);
        } else if s.title == "Generators" {
            s.blocks.extend(strips(study)?);
        } else if s.title.starts_with("Accuracy per class") && study.quote.is_none() {
            s.blocks = per_class(study, &mut prov);
        }
    }
    page.provenance = prov.groups;
    Ok(page)
}

fn replace_first_table(blocks: &mut [Block], typed: DataTable) {
    if let Some(b) = blocks.iter_mut().find(|b| matches!(b, Block::Table(_))) {
        *b = Block::Table(typed);
    }
}

/// Provenance groups for cells, each built once.
struct Provenance<'a> {
    obs: &'a [Observation],
    index: Index,
    groups: Vec<Group>,
    by_key: BTreeMap<String, usize>,
}

impl<'a> Provenance<'a> {
    fn new(obs: &'a [Observation]) -> Self {
        Provenance { obs, index: Index::default(), groups: Vec::new(), by_key: BTreeMap::new() }
    }

    /// The classifiers (and a synthetic test set) behind one cell of Table 2 or 3.
    fn cell(&mut self, row: &tables::Row, test: &TestKind) -> Option<usize> {
        let (d, g, m) = row;
        let title = format!("{}, {}, {} on the {}", dataset_title(d), gen_label(g), m.label(), test.title());
        let obs: Vec<&Observation> = self
            .obs
            .iter()
            .filter(|o| &o.dataset == d && &o.generator == g && o.mix == *m && &o.test == test)
            .collect();
        let mut files: Vec<PathBuf> = obs.iter().map(|o| PathBuf::from(&o.classifier)).collect();
        if *test == TestKind::Synthetic {
            files.extend(obs.first().map(|o| PathBuf::from(&o.test_set)));
        }
        self.group(title, files)
    }

    /// The classifiers of one row (dataset, generator, mix).
    fn row(&mut self, d: &str, g: &Option<GenId>, m: &Mix) -> Option<usize> {
        let title = format!("{}, {}, {}: the classifiers", dataset_title(d), gen_label(g), m.label());
        let files = self
            .obs
            .iter()
            .filter(|o| o.dataset == d && &o.generator == g && o.mix == *m && o.test == TestKind::Original)
            .map(|o| PathBuf::from(&o.classifier))
            .collect();
        self.group(title, files)
    }

    fn group(&mut self, title: String, mut files: Vec<PathBuf>) -> Option<usize> {
        if let Some(&i) = self.by_key.get(&title) {
            return Some(i);
        }
        files.sort();
        files.dedup();
        let entries: Vec<_> = files.iter().filter_map(|f| self.index.entry(f)).collect();
        if entries.is_empty() {
            return None;
        }
        self.groups.push(Group { title: title.clone(), entries });
        self.by_key.insert(title, self.groups.len() - 1);
        Some(self.groups.len() - 1)
    }
}

fn gen_label(g: &Option<GenId>) -> String {
    g.as_ref().map(|g| format!("generator {}", g.label())).unwrap_or_else(|| "no generator".into())
}

/// Per generator: its sample grid at up to [`MAX_FRAMES`] epochs, on a slider.
fn strips(study: &Study) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    for g in study.generators.values() {
        let frames = frames_of(g)?;
        if frames.is_empty() {
            continue;
        }
        out.push(Block::Strip {
            id: format!("samples-{}-{}", g.dataset, g.id.slug()),
            caption: format!(
                "{}, generator {}: samples by epoch (a row per class, fixed noise)",
                dataset_title(&g.dataset),
                g.id.label()
            ),
            frames,
        });
    }
    Ok(out)
}

fn frames_of(g: &GeneratorInfo) -> Result<Vec<Frame>> {
    let n = g.grids.len();
    let picks: Vec<usize> = if n <= MAX_FRAMES {
        (0..n).collect()
    } else {
        let mut v: Vec<usize> = (0..MAX_FRAMES).map(|k| k * (n - 1) / (MAX_FRAMES - 1)).collect();
        v.dedup();
        v
    };
    picks
        .into_iter()
        .map(|i| {
            let (epoch, path) = &g.grids[i];
            Ok(Frame { label: format!("epoch {epoch}"), src: png_data_uri(path)? })
        })
        .collect()
}

/// Accuracy per class on the original test set, one heatmap table per
/// dataset: a row per generator and mix (mean over seeds), coloured from the
/// table's lowest to its highest value; a row's first cell opens its classifiers.
fn per_class(study: &Study, prov: &mut Provenance) -> Vec<Block> {
    let (names, means) = crate::report::per_class::per_class_means(study);
    let mut out = vec![Block::Html {
        html: "<p>Recall per class on the original test set, mean over study seeds; colour from the table's lowest \
               (white) to its highest value (blue). Click a row's generator for its classifiers.</p>"
            .into(),
    }];
    for (d, cls) in &names {
        let rows: Vec<(&Option<GenId>, &Mix, &Vec<f64>)> =
            means.iter().filter(|((dd, _, _), _)| dd == d).map(|((_, g, m), v)| (g, m, v)).collect();
        let all = rows.iter().flat_map(|r| r.2.iter().copied());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        let mut head = vec!["Generator".to_string(), "Train".to_string()];
        head.extend(cls.iter().cloned());
        let body = rows
            .iter()
            .map(|(g, m, mean)| {
                let gl = g.as_ref().map(GenId::label).unwrap_or_else(|| "–".into());
                let mut cells =
                    vec![HtmlCell { prov: prov.row(d, g, m), ..HtmlCell::text(gl) }, HtmlCell::text(m.label())];
                cells.extend(mean.iter().map(|&x| HtmlCell {
                    class: Some("num".into()),
                    bg: Some(accuracy_colour(x, lo, hi)),
                    ..HtmlCell::text(format!("{x:.3}"))
                }));
                cells
            })
            .collect();
        out.push(Block::Html { html: format!("<h3>{}</h3>", html_escape(&dataset_title(d))) });
        out.push(Block::Table(DataTable { caption: String::new(), head, rows: body }));
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
