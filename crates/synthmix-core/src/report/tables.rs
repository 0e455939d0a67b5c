//! The paper's Table 2 (accuracy per training mix on the original and the
//! synthetic test set, per dataset and generator) and Table 3 (MNIST:
//! accuracy against the O:S ratio, with MNIST-C shot noise), as typed
//! document tables and CSV: ours (mean ± std over seeds, n) beside the
//! paper's value and their difference in units of our std.

use super::document::{self as doc, Cell as Entry, Provenance};
use super::model::{dataset_title, generators_of, Cell, Cells, GenId, Mix, TestKind};
use super::results::CsvText;
use super::study::PaperValues;
use crate::error::Result;

/// One row: a dataset, the generator behind it, a training mix.
pub type Row = (String, Option<GenId>, Mix);

/// Rows × test sets, each cell ours beside the paper's.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub rows: Vec<Row>,
    pub tests: Vec<TestKind>,
    cells: Vec<Vec<Option<Cell>>>,
    paper: Vec<Vec<Option<f64>>>,
    /// Per row: why it has no results ("not run: …"), for expected datasets without any.
    not_run: Vec<Option<String>>,
}

fn generator_text(g: &Option<GenId>) -> String {
    g.as_ref().map(GenId::label).unwrap_or_else(|| "none".into())
}

/// (ours − paper) / our std: how far the paper's value lies from our mean, in our spread.
/// None without a spread (n = 1, or every seed gave the same accuracy up to rounding).
pub fn delta_sigma(c: &Cell, paper: f64) -> Option<f64> {
    (c.values.len() > 1 && c.std > 1e-9).then(|| (c.mean - paper) / c.std)
}

impl Table {
    fn build(name: &str, cells: &Cells, paper: &PaperValues, rows: Vec<Row>, tests: Vec<TestKind>) -> Table {
        let c = rows
            .iter()
            .map(|(d, g, m)| tests.iter().map(|t| cells.get(&(d.clone(), g.clone(), *m, t.clone())).cloned()).collect())
            .collect();
        let pv = rows.iter().map(|(d, _, m)| tests.iter().map(|t| paper.get(d, m, t)).collect()).collect();
        let not_run = vec![None; rows.len()];
        Table { name: name.into(), rows, tests, cells: c, paper: pv, not_run }
    }

    /// Adds the paper's rows of a dataset that has no results, each saying why.
    fn add_not_run(&mut self, d: &str, mixes: &[Mix], paper: &PaperValues, why: &str) {
        for m in mixes {
            self.rows.push((d.to_string(), None, *m));
            self.cells.push(vec![None; self.tests.len()]);
            self.paper.push(self.tests.iter().map(|t| paper.get(d, m, t)).collect());
            self.not_run.push(Some(why.to_string()));
        }
    }

    /// The table as table2.md and report.md print it.
    pub fn markdown(&self) -> String {
        self.typed(&|_, _| None).markdown()
    }

    /// The typed table: ours (mean ± std, n; each seed's value on hover,
    /// `prov`'s artifacts behind it), the paper's value, Δ/σ.
    pub fn typed(&self, prov: &dyn Fn(&Row, &TestKind) -> Option<Provenance>) -> doc::Table {
        let mut head: Vec<String> = vec!["Dataset".into(), "Generator".into(), "Training data".into()];
        for t in &self.tests {
            head.extend([format!("{}: ours", t.title()), "paper".into(), "Δ/σ".into()]);
        }
        let mut table = doc::Table::new(head, &format!("lll{}", "rrr".repeat(self.tests.len())));
        for (r, row) in self.rows.iter().enumerate() {
            let (d, g, m) = row;
            let gen = if self.not_run[r].is_some() { "–".into() } else { generator_text(g) };
            let mut cells = vec![Entry::text(dataset_title(d)), Entry::text(gen), Entry::text(m.label())];
            for (k, t) in self.tests.iter().enumerate() {
                let p = self.paper[r][k];
                let (ours, delta) = match (&self.cells[r][k], &self.not_run[r]) {
                    (Some(c), _) => {
                        let d = p.map_or_else(
                            || Entry::text(""),
                            |p| delta_sigma(c, p).map_or_else(|| Entry::text("n/a (no spread)"), Entry::sigma),
                        );
                        (Entry::mean(Some(c.clone())).with_seeds(c).with_prov(prov(row, t)), d)
                    }
                    (None, Some(why)) => (Entry::text(why.clone()), Entry::text("")),
                    (None, None) => (Entry::text("not run"), Entry::text("")),
                };
                let pt = p.map_or_else(|| Entry::text("–"), |a| Entry::number(format!("{a:.4}"), a));
                cells.extend([ours, pt, delta]);
            }
            table.row(cells);
        }
        table
    }

    /// One line per cell.
    pub fn csv(&self) -> Result<String> {
        let mut out = CsvText::new(&[
            "table",
            "dataset",
            "generator",
            "generator_blake3",
            "train",
            "test",
            "n",
            "mean",
            "std",
            "paper",
            "delta_sigma",
            "seeds",
        ])?;
        for (r, (d, g, m)) in self.rows.iter().enumerate() {
            for (k, t) in self.tests.iter().enumerate() {
                let p = self.paper[r][k];
                let (n, mean, std, delta, seeds) = match &self.cells[r][k] {
                    Some(c) => (
                        c.values.len().to_string(),
                        format!("{:.6}", c.mean),
                        format!("{:.6}", c.std),
                        p.and_then(|p| delta_sigma(c, p)).map(|x| format!("{x:.3}")).unwrap_or_default(),
                        c.values.iter().map(|v| format!("{}:{:.4}", v.0, v.1)).collect::<Vec<_>>().join(" "),
                    ),
                    None => ("0".into(), String::new(), String::new(), String::new(), String::new()),
                };
                let (gl, gh) = match g {
                    Some(g) => (g.label(), g.blake3.clone()),
                    None => (String::new(), String::new()),
                };
                let paper = p.map(|a| format!("{a}")).unwrap_or_default();
                out.row([&self.name, d, &gl, &gh, &m.label(), &t.key(), &n, &mean, &std, &paper, &delta, &seeds])?;
            }
        }
        out.text()
    }

    /// Every (row, test) that has no result.
    pub fn missing(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (r, (d, g, m)) in self.rows.iter().enumerate() {
            for (k, t) in self.tests.iter().enumerate() {
                if self.cells[r][k].is_none() {
                    v.push(format!("{d} {} {} on {}", generator_text(g), m.label(), t.key()));
                }
            }
        }
        v
    }
}

/// The mixes of dataset `d`: the paper's for these tests if it has any, else ours.
fn mixes_for(cells: &Cells, paper: &PaperValues, d: &str, tests: &[TestKind]) -> Vec<Mix> {
    let mut ms: Vec<Mix> = paper.mixes(d, tests);
    if ms.is_empty() {
        ms = cells.keys().filter(|k| k.0 == d).map(|k| k.2).collect();
    }
    ms.sort();
    ms.dedup();
    ms
}

/// Table 2: per dataset and generator, the paper's Table 2 mixes (O, S, 1:1,
/// 2:1, 1:2, 5:1) on the original and the synthetic test set. Expected
/// datasets without results get the paper's rows with `why_missing(d)`.
pub fn table2(cells: &Cells, paper: &PaperValues, expected: &[String], why_missing: &dyn Fn(&str) -> String) -> Table {
    let tests = vec![TestKind::Original, TestKind::Synthetic];
    let mut datasets = super::model::datasets_of(cells);
    let have = datasets.clone();
    for d in expected {
        if !datasets.contains(d) {
            datasets.push(d.clone());
        }
    }
    datasets.sort_by_key(|d| (super::model::dataset_rank(d), d.clone()));
    let mut rows = Vec::new();
    for d in datasets.iter().filter(|d| have.contains(d)) {
        let mixes = mixes_for(cells, paper, d, &tests);
        for g in generators_of(cells, d) {
            rows.extend(mixes.iter().map(|m| (d.clone(), g.clone(), *m)));
        }
    }
    let mut t = Table::build("table2", cells, paper, rows, tests.clone());
    for d in datasets.iter().filter(|d| !have.contains(d)) {
        t.add_not_run(d, &paper.mixes(d, &tests), paper, &why_missing(d));
    }
    t
}

/// Table 3: MNIST, every mix that was trained (in the paper's order), per
/// generator, on the original, synthetic and every corrupted test set.
pub fn table3(cells: &Cells, paper: &PaperValues) -> Table {
    let d = "mnist".to_string();
    let mut mixes: Vec<Mix> = cells.keys().filter(|k| k.0 == d).map(|k| k.2).collect();
    mixes.sort();
    mixes.dedup();
    let mut tests = vec![TestKind::Original, TestKind::Synthetic];
    for k in cells.keys().filter(|k| k.0 == d) {
        if matches!(k.3, TestKind::Corrupted(_)) && !tests.contains(&k.3) {
            tests.push(k.3.clone());
        }
    }
    if tests.len() == 2 {
        tests.push(TestKind::Corrupted("shot_noise".into()));
    }
    let mut rows = Vec::new();
    for g in generators_of(cells, &d) {
        // A generator with only some mixes (a seed variant for the headline rows) shows those.
        rows.extend(
            mixes
                .iter()
                .filter(|m| cells.keys().any(|k| k.0 == d && k.1 == g && k.2 == **m))
                .map(|m| (d.clone(), g.clone(), *m)),
        );
    }
    Table::build("table3", cells, paper, rows, tests)
}
