//! `evaluate`: scores classifier checkpoints on test sets. Writes JSON (full
//! detail), a CSV (one row per classifier × test set) and returns a table.

use std::fmt::Write as _;
use std::path::PathBuf;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::Confusion;
use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::data::{self, DataOptions};
use crate::error::{Error, Result};
use crate::model;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalParams {
    pub classifiers: Vec<PathBuf>,
    pub tests: Vec<String>,
    pub batch_size: usize,
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalResult {
    pub classifier: String,
    pub arch: String,
    pub test: String,
    pub test_source: String,
    pub images: usize,
    pub accuracy: f64,
    /// Mean recall over the classes in the test set.
    #[serde(default)]
    pub balanced_accuracy: f64,
    /// Mean F1 over the classes (scikit-learn's macro average).
    #[serde(default)]
    pub macro_f1: f64,
    /// Recall per class.
    pub per_class_accuracy: Vec<f64>,
    #[serde(default)]
    pub per_class_f1: Vec<f64>,
    pub confusion: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub results: Vec<EvalResult>,
}

impl EvalReport {
    pub fn csv(&self) -> String {
        let k = self.results.first().map(|r| r.per_class_accuracy.len()).unwrap_or(0);
        let mut s = String::from("classifier,arch,test,test_source,images,accuracy,balanced_accuracy,macro_f1");
        for c in 0..k {
            let _ = write!(s, ",acc_class_{c}");
        }
        for c in 0..k {
            let _ = write!(s, ",f1_class_{c}");
        }
        s.push('\n');
        for r in &self.results {
            let _ = write!(
                s,
                "{},{},{},{},{},{:.6},{:.6},{:.6}",
                r.classifier, r.arch, r.test, r.test_source, r.images, r.accuracy, r.balanced_accuracy, r.macro_f1
            );
            for a in r.per_class_accuracy.iter().chain(&r.per_class_f1) {
                let _ = write!(s, ",{a:.6}");
            }
            s.push('\n');
        }
        s
    }

    /// A readable table: accuracy and per-class accuracy per pair.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<40} {:<28} {:>8} {:>9} {:>9} {:>9}  per-class accuracy (recall)",
            "classifier", "test set", "images", "accuracy", "bal. acc", "macro-F1"
        );
        for r in &self.results {
            let per: Vec<String> = r.per_class_accuracy.iter().map(|a| format!("{:.3}", a)).collect();
            let _ = writeln!(
                s,
                "{:<40} {:<28} {:>8} {:>9.4} {:>9.4} {:>9.4}  {}",
                r.classifier,
                r.test,
                r.images,
                r.accuracy,
                r.balanced_accuracy,
                r.macro_f1,
                per.join(" ")
            );
        }
        s
    }
}

/// Runs `evaluate`: every classifier on every test set.
pub fn run(params: &EvalParams, opts: &DataOptions, device: &Device) -> Result<EvalReport> {
    let started = std::time::Instant::now();
    let mut prov = Provenance::start("evaluate", params, None)?;
    // Load everything first: a bad input fails before any work or output.
    let mut models = Vec::new();
    for path in &params.classifiers {
        models.push((path, model::load_classifier(path, device)?));
        prov.input_file("classifier", path)?;
    }
    let mut tests = Vec::new();
    for spec in &params.tests {
        let set = data::load_set(spec, opts)?;
        prov.inputs.push(FileRecord { role: "test".into(), path: spec.clone(), blake3: set.content_hash()? });
        tests.push((spec, set));
    }
    for (path, (clf, _)) in &models {
        for (spec, set) in &tests {
            data::check_fit(set.shape, clf.config.input).map_err(|e| {
                Error::Invalid(format!("--test {spec} does not fit the classifier {}: {e}", path.display()))
            })?;
        }
    }
    let mut results = Vec::new();
    for (path, (clf, ck)) in &models {
        for (spec, set) in &tests {
            let t0 = std::time::Instant::now();
            let pred = model::predict(clf, set, params.batch_size, device)?;
            let secs = t0.elapsed().as_secs_f64();
            let conf = Confusion::from_predictions(set.num_classes, &set.labels, &pred);
            tracing::info!(
                "{} on {spec}: accuracy {:.4} ({:.0} img/s)",
                path.display(),
                conf.accuracy(),
                set.len() as f64 / secs
            );
            results.push(EvalResult {
                classifier: path.display().to_string(),
                arch: ck.meta.arch.clone(),
                test: spec.to_string(),
                test_source: set.meta.source.as_str().into(),
                images: set.len(),
                accuracy: conf.accuracy(),
                balanced_accuracy: conf.balanced_accuracy(),
                macro_f1: conf.macro_f1(),
                per_class_accuracy: conf.per_class_accuracy(),
                per_class_f1: conf.per_class_f1(),
                confusion: conf.rows(),
            });
            prov.metrics.push((format!("accuracy[{}|{}]", path.display(), spec), conf.accuracy()));
            // Timings go to the provenance: METRICS.json holds only what the same inputs always give.
            prov.metrics.push((format!("images_per_s[{}|{}]", path.display(), spec), set.len() as f64 / secs));
        }
    }
    let report = EvalReport { results };
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    crate::artifact::write_atomic(&params.out, json.as_bytes())?;
    let csv_path = params.out.with_extension("csv");
    crate::artifact::write_atomic(&csv_path, report.csv().as_bytes())?;
    prov.output_file("metrics", &params.out)?;
    prov.output_file("csv", &csv_path)?;
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
    Ok(report)
}
