//! Any study's `results.csv` as one shape: each row a key (its study's
//! columns), a seed and a value, read through that study's own typed row.
//! What `synthmix compare` and `synthmix runs` and run.json's headline
//! numbers work on, whatever the study.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::kind::StudyKind;
use super::model::{Cell, Mix};
use super::results::{self, RegimeRow, ResultRow, StrategyRow};
use crate::error::{Error, IoContext, Result};

/// One value of one classifier: its cell's key, its seed, the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: Vec<String>,
    pub seed: u64,
    pub value: f64,
    /// A paper row's key with its generator as results.csv files written
    /// before the `arch` column named it (`default, G seed 0`); `legacy`: this
    /// row is from such a file.
    pub legacy_key: Option<Vec<String>>,
    pub legacy: bool,
}

/// Reads `dir/results.csv` with the typed row of `kind` (or of the study its header names).
pub fn read(dir: &Path, kind: Option<StudyKind>) -> Result<(StudyKind, Vec<Row>)> {
    let path = dir.join("results.csv");
    let text = std::fs::read_to_string(&path).at(&path)?;
    let kind = kind.unwrap_or_else(|| StudyKind::of_header(text.lines().next().unwrap_or("")));
    let rows = match kind {
        StudyKind::Paper => results::read(&path)?.iter().map(paper_row).collect(),
        StudyKind::Regimes => typed::<RegimeRow>(&path, &text)?.iter().flat_map(regime_rows).collect(),
        StudyKind::Strategies => typed::<StrategyRow>(&path, &text)?.iter().flat_map(strategy_rows).collect(),
    };
    Ok((kind, rows))
}

/// Rows of a CSV as `T`; a malformed row is refused with its line number.
fn typed<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let rows: std::result::Result<Vec<T>, _> = r.deserialize().collect();
    rows.map_err(|e| {
        Error::format(path, format!("{}: {e}", e.position().map_or(String::new(), |p| format!("row {}", p.line()))))
    })
}

fn paper_row(r: &ResultRow) -> Row {
    let key = |g: &str| vec![r.dataset.clone(), g.to_string(), r.train.clone(), r.test.clone()];
    let old = r.generator.strip_prefix(&format!("{} ", r.arch)).filter(|_| !r.arch.is_empty());
    Row {
        key: key(&r.generator),
        seed: r.seed,
        value: r.accuracy,
        legacy_key: old.map(key),
        legacy: !r.generator.is_empty() && r.arch.is_empty(),
    }
}

/// Two paper tables, one written before generators carried their
/// architecture: both keyed by the old label (preset and seed), so an old
/// and a new report of the same study still pair cell by cell.
pub fn align_generations(a: &mut [Row], b: &mut [Row]) {
    if !a.iter().chain(b.iter()).any(|r| r.legacy) {
        return;
    }
    for r in a.iter_mut().chain(b.iter_mut()) {
        if let Some(k) = r.legacy_key.take() {
            r.key = k;
        }
    }
}

fn regime_rows(r: &RegimeRow) -> Vec<Row> {
    let key = |m: &str| vec![r.dataset.clone(), r.regime.clone(), r.arm.clone(), m.to_string()];
    [("accuracy", r.accuracy), ("balanced_accuracy", r.balanced_accuracy), ("macro_f1", r.macro_f1)]
        .into_iter()
        .map(|(m, value)| Row { key: key(m), seed: r.seed, value, legacy_key: None, legacy: false })
        .collect()
}

fn strategy_rows(r: &StrategyRow) -> Vec<Row> {
    let key = |m: &str| vec![r.dataset.clone(), r.regime.clone(), r.base.clone(), r.strategies.clone(), m.to_string()];
    let row = |m: &str, value: f64| Row { key: key(m), seed: r.seed, value, legacy_key: None, legacy: false };
    let mut v = vec![row("test_accuracy", r.test_accuracy)];
    v.extend(r.validation_accuracy.map(|value| row("validation_accuracy", value)));
    v
}

/// Mean ± std over seeds per key, in key order.
pub fn cells(rows: &[Row]) -> BTreeMap<Vec<String>, Cell> {
    let mut m: BTreeMap<Vec<String>, Vec<(u64, f64)>> = BTreeMap::new();
    for r in rows {
        m.entry(r.key.clone()).or_default().push((r.seed, r.value));
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            (k, Cell::new(v))
        })
        .collect()
}

/// A study's first numbers, per dataset: what a list of runs shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub dataset: String,
    /// The cell, e.g. `O → original` or `fraction:1 real only`.
    pub what: String,
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Headline {
    pub fn text(&self) -> String {
        format!("{} {}: {:.4} ± {:.4} (n={})", self.dataset, self.what, self.mean, self.std, self.n)
    }
}

/// The main rows' real-test accuracy per dataset: paper O, S and 5:1 (the
/// first generator); regimes real only and CAS with all real data;
/// strategies real only, the plain mix and CAS with the most real data.
pub fn headlines(kind: StudyKind, rows: &[Row]) -> Vec<Headline> {
    let cells = cells(rows);
    let picked: Vec<(&Vec<String>, &Cell)> = match kind {
        StudyKind::Paper => {
            let first_gen = |d: &str| cells.keys().find(|k| k[0] == d && !k[1].is_empty()).map(|k| k[1].clone());
            let mut v: Vec<_> = cells
                .iter()
                .filter(|(k, _)| k[3] == "original" && ["O", "S", "5:1"].contains(&k[2].as_str()))
                .filter(|(k, _)| k[1] == first_gen(&k[0]).unwrap_or_default())
                .collect();
            v.sort_by_key(|(k, _)| (k[0].clone(), Mix::parse_label(&k[2])));
            v
        }
        StudyKind::Regimes => cells
            .iter()
            .filter(|(k, _)| k[1] == "fraction:1" && k[3] == "accuracy")
            .filter(|(k, _)| ["real only", "synthetic only (CAS)"].contains(&k[2].as_str()))
            .collect(),
        StudyKind::Strategies => cells
            .iter()
            .filter(|(k, _)| (k[1].starts_with("rest:") || k[1] == "fraction:1") && k[3].is_empty())
            .filter(|(k, _)| k[4] == "test_accuracy")
            .collect(),
    };
    picked.into_iter().map(|(k, c)| headline(kind, k, c)).collect()
}

fn headline(kind: StudyKind, k: &[String], c: &Cell) -> Headline {
    let what = match kind {
        StudyKind::Paper => format!("{} → {}", k[2], k[3]),
        _ => format!("{} {}", k[1], k[2]),
    };
    Headline { dataset: k[0].clone(), what, mean: c.mean, std: c.std, n: c.values.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_study_has_its_rows_and_headlines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("results.csv"),
            "dataset,regime,arm,seed,accuracy,balanced_accuracy,macro_f1,per_class_recall,classifier,train_set,\
             generator_on_same_subset\n\
             mnist,fraction:1,real only,0,0.9,0.8,0.7,0.9;0.9,c,t,\n\
             mnist,fraction:1,real only,1,0.8,0.8,0.7,0.9;0.9,c,t,\n\
             mnist,fraction:0.1,real only,0,0.5,0.5,0.5,0.5;0.5,c,t,\n",
        )
        .unwrap();
        let (kind, rows) = read(dir.path(), None).unwrap();
        assert_eq!((kind, rows.len()), (StudyKind::Regimes, 9), "three metrics per classifier");
        let h = headlines(kind, &rows);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!((h[0].what.as_str(), h[0].n), ("fraction:1 real only", 2));
        assert!((h[0].mean - 0.85).abs() < 1e-12);
    }

    #[test]
    fn a_bad_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("results.csv"),
            "dataset,regime,base,strategies,seed,test_accuracy\nm,r,mix,,x,1\n",
        )
        .unwrap();
        let e = read(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("results.csv") && e.contains("row 2"), "{e}");
        let e = read(&dir.path().join("nope"), None).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
