//! `results.csv`: the rows of every study's results table (the paper
//! study's [`ResultRow`], [`RegimeRow`], [`StrategyRow`]), written and read
//! only here, so a later report can import an earlier one's results
//! (`synthmix report --prior DIR`), `runs`/`compare` can read any study's
//! table, and a user's script can rely on its columns.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::{GenId, Observation};
use crate::error::{Error, IoContext, Result};

/// One row of `results.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub dataset: String,
    /// The generator's label (`mlp default, G seed 0`; `default, G seed 0`
    /// in files written before the `arch` column); empty for none.
    pub generator: String,
    /// BLAKE3 of the generator's checkpoint: what tells generators apart.
    pub generator_blake3: String,
    /// The training mix: `O`, `S` or `O:S`.
    pub train: String,
    /// `original`, `synthetic` or the MNIST-C corruption.
    pub test: String,
    /// The test set as `evaluate` named it.
    pub test_set: String,
    pub seed: u64,
    pub accuracy: f64,
    pub classifier: String,
    /// The classifier's training set (a DATASET:SPLIT or an image-set path);
    /// empty where unknown (files written before this column existed).
    #[serde(default)]
    pub train_set: String,
    /// The report folder this row was first imported from; empty for a
    /// result computed from this report's own METRICS.json files.
    #[serde(default)]
    pub imported_from: String,
    /// The generator's family (`gan`, `diffusion`), architecture (`mlp`,
    /// `dcgan`, `unet`) and preset; empty for none and in files written
    /// before these columns existed.
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub preset: String,
}

impl ResultRow {
    pub fn of(o: &Observation) -> ResultRow {
        let g = o.generator.as_ref();
        let field = |f: fn(&GenId) -> String| g.map(f).unwrap_or_default();
        ResultRow {
            dataset: o.dataset.clone(),
            generator: field(GenId::label),
            generator_blake3: field(|g| g.blake3.clone()),
            train: o.mix.label(),
            test: o.test.key(),
            test_set: o.test_set.clone(),
            seed: o.seed,
            accuracy: o.accuracy,
            classifier: o.classifier.clone(),
            train_set: o.train.clone(),
            imported_from: o.imported_from.clone().unwrap_or_default(),
            family: field(|g| g.family.clone()),
            arch: field(|g| g.arch.clone()),
            preset: field(|g| g.preset.clone()),
        }
    }
}

/// One row of a report's `comparisons.csv`: a difference `a − b`, its
/// interval, the equivalence margin, the raw and Holm-adjusted p-values of
/// the difference test and of TOST within the report's family, and the
/// verdict. The regimes and strategies reports write one (the paper
/// report's MNIST-C differences are in corruptions.csv).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub dataset: String,
    pub a: String,
    pub b: String,
    pub metric: String,
    pub n: usize,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub margin: f64,
    pub p: f64,
    pub p_holm: f64,
    pub tost_p: f64,
    pub tost_p_holm: f64,
    pub verdict: String,
}

impl ComparisonRow {
    pub fn of(dataset: &str, a: &str, b: &str, metric: &str, c: &super::stats::Compared) -> ComparisonRow {
        let j = &c.judged;
        ComparisonRow {
            dataset: dataset.into(),
            a: a.into(),
            b: b.into(),
            metric: metric.into(),
            n: c.interval.n,
            mean: c.interval.mean,
            lo: c.interval.lo,
            hi: c.interval.hi,
            margin: c.margin,
            p: j.p,
            p_holm: j.p_holm,
            tost_p: j.tost_p,
            tost_p_holm: j.tost_p_holm,
            verdict: c.verdict().word().into(),
        }
    }
}

/// `comparisons.csv`'s text.
pub fn comparisons_csv(rows: impl Iterator<Item = ComparisonRow>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| Error::Invalid(format!("comparisons.csv: {e}")))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid(format!("comparisons.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("comparisons.csv: {e}")))
}

/// `results.csv`'s text, rows sorted by dataset, generator, mix, test, seed.
pub fn to_csv(obs: &[Observation]) -> Result<String> {
    let mut sorted: Vec<&Observation> = obs.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.dataset, &a.generator, a.mix, &a.test, a.seed).cmp(&(&b.dataset, &b.generator, b.mix, &b.test, b.seed))
    });
    let mut w = csv::Writer::from_writer(Vec::new());
    for o in sorted {
        w.serialize(ResultRow::of(o)).map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("results.csv: {e}")))
}

/// Reads a `results.csv`; a malformed row is refused with its line number.
pub fn read(path: &Path) -> Result<Vec<ResultRow>> {
    read_rows(path)
}

/// Reads a CSV of `T` rows (by header name; columns a row type marks
/// `serde(default)` may be absent); a malformed row is refused with its line
/// number.
pub fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let bytes = std::fs::read(path).at(path)?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    for (i, row) in r.deserialize::<T>().enumerate() {
        rows.push(row.map_err(|e| Error::format(path, format!("row {}: {e}", i + 2)))?);
    }
    Ok(rows)
}

/// A CSV's text from `rows`, in their order (`what` names it in errors).
pub fn write_rows<T: Serialize>(what: &str, rows: impl IntoIterator<Item = T>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("{what}: {e}")))
}

/// One row of the regimes report's `results.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegimeRow {
    pub dataset: String,
    pub regime: String,
    pub arm: String,
    pub seed: u64,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    /// Recall per class, `;`-separated.
    pub per_class_recall: String,
    pub classifier: String,
    pub train_set: String,
    /// `yes`, `NO` or empty (no synthetic images).
    pub generator_on_same_subset: String,
    /// The generator's final FID and recognition, where its checkpoint
    /// records them; absent in files written before these columns.
    #[serde(default)]
    pub generator_fid: Option<f64>,
    #[serde(default)]
    pub generator_recognition: Option<f64>,
    /// Real training images per class, `;`-separated, for the arms trained
    /// on the regime's real subset itself (empty for the others); absent in
    /// files written before this column.
    #[serde(default)]
    pub class_sizes: String,
    /// The generator of the arms with synthetic images: its architecture
    /// (`mlp`, `dcgan`, `unet`), the quality target it trained to (empty:
    /// its epoch budget), its seed and epochs; all empty for the arms on
    /// real images alone and in files written before these columns.
    #[serde(default)]
    pub generator_arch: String,
    #[serde(default)]
    pub generator_until: String,
    #[serde(default)]
    pub generator_seed: Option<u64>,
    #[serde(default)]
    pub generator_epochs: Option<usize>,
    /// The generator's checkpoint (empty in files written before this column).
    #[serde(default)]
    pub generator_path: String,
}

/// One row of the strategies report's `results.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StrategyRow {
    pub dataset: String,
    pub regime: String,
    pub base: String,
    /// `strategy=value` pairs, `;`-separated (empty: no strategy).
    pub strategies: String,
    pub seed: u64,
    pub test_accuracy: f64,
    pub validation_accuracy: Option<f64>,
    pub acceptance: Option<f64>,
    /// The pool missed τ for some class and was completed below it.
    pub filled_below_tau: bool,
    pub classifier: String,
    pub train_set: String,
    /// The generator of the arms with synthetic images, as in the regimes
    /// report's results.csv; all empty for real only and in files written
    /// before these columns.
    #[serde(default)]
    pub generator_arch: String,
    #[serde(default)]
    pub generator_until: String,
    #[serde(default)]
    pub generator_seed: Option<u64>,
    #[serde(default)]
    pub generator_epochs: Option<usize>,
    /// The generator's checkpoint (empty in files written before this column).
    #[serde(default)]
    pub generator_path: String,
    #[serde(default)]
    pub generator_fid: Option<f64>,
    #[serde(default)]
    pub generator_recognition: Option<f64>,
}

/// A CSV file's text, every row through the `csv` crate: a field holding a
/// `,`, `"` or newline (a user's dataset name) is quoted, so it never splits
/// its row; every row must have the header's number of fields.
pub struct CsvText(csv::Writer<Vec<u8>>);

impl CsvText {
    pub fn new(header: &[&str]) -> Result<CsvText> {
        let mut c = CsvText(csv::Writer::from_writer(Vec::new()));
        c.row(header)?;
        Ok(c)
    }

    pub fn row<S: AsRef<[u8]>>(&mut self, fields: impl IntoIterator<Item = S>) -> Result<()> {
        self.0.write_record(fields).map_err(|e| Error::Invalid(format!("writing a CSV row: {e}")))
    }

    pub fn text(self) -> Result<String> {
        let bytes = self.0.into_inner().map_err(|e| Error::Invalid(format!("writing a CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("a CSV of UTF-8 fields: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Mix, TestKind};

    fn obs(seed: u64, acc: f64) -> Observation {
        Observation {
            dataset: "mnist".into(),
            generator: Some(GenId {
                family: "gan".into(),
                arch: "mlp".into(),
                preset: "default".into(),
                seed: 0,
                blake3: "ab".into(),
            }),
            mix: Mix::new(5, 1),
            test: TestKind::Corrupted("shot_noise".into()),
            test_set: "mnist-c/shot_noise:test".into(),
            seed,
            accuracy: acc,
            classifier: "a, b/clf.safetensors".into(),
            train: "mix.safetensors".into(),
            imported_from: None,
            per_class: vec![],
        }
    }

    #[test]
    fn rows_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        std::fs::write(&p, to_csv(&[obs(1, 0.9741), obs(0, 0.5)]).unwrap()).unwrap();
        let rows = read(&p).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ResultRow::of(&obs(0, 0.5)), "sorted by seed, every field kept");
        assert_eq!(rows[1].generator, "mlp default, G seed 0");
        assert_eq!((rows[1].family.as_str(), rows[1].arch.as_str()), ("gan", "mlp"));
        assert_eq!(rows[1].classifier, "a, b/clf.safetensors", "commas quoted");
        assert_eq!(rows[1].accuracy, 0.9741);
    }

    #[test]
    fn files_without_the_newer_columns_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        std::fs::write(
            &p,
            "dataset,generator,generator_blake3,train,test,test_set,seed,accuracy,classifier\n\
             mnist,\"default, G seed 0\",ab,O,original,mnist:test,2,0.986400,c.safetensors\n",
        )
        .unwrap();
        let rows = read(&p).unwrap();
        assert_eq!((rows[0].seed, rows[0].accuracy, rows[0].train_set.as_str()), (2, 0.9864, ""));
        assert_eq!((rows[0].family.as_str(), rows[0].arch.as_str()), ("", ""), "written before the arch column");
        std::fs::write(&p, "dataset,seed\nmnist,x\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("results.csv") && e.contains("row 2"), "{e}");
    }
}
