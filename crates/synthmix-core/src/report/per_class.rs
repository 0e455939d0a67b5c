//! Recall per class on the original test set, mean over seeds, with the
//! classes' names: what the report's per-class section and the page's
//! per-class heatmaps both show, computed once.

use std::collections::BTreeMap;

use super::model::{GenId, Mix, TestKind};
use super::study::Study;
use crate::data::DatasetName;

/// The names of a test set's classes: an imported set's own, a known
/// dataset's, else the indices.
fn class_names_of(test_set: &str, k: usize) -> Vec<String> {
    let from_file =
        crate::artifact::meta::read_set_header(std::path::Path::new(test_set)).ok().and_then(|m| m.class_names);
    let known =
        || DatasetName::parse(test_set).ok().map(|n| n.dataset.class_names().iter().map(|c| c.to_string()).collect());
    match from_file.or_else(known) {
        Some(v) if v.len() == k => v,
        _ => (0..k).map(|c| c.to_string()).collect(),
    }
}

/// Per dataset, its class names; per (dataset, generator, mix), recall per
/// class on the original test set, mean over seeds.
pub type PerClass = (BTreeMap<String, Vec<String>>, BTreeMap<(String, Option<GenId>, Mix), Vec<f64>>);

pub fn per_class_means(study: &Study) -> PerClass {
    let mut by: BTreeMap<(String, Option<GenId>, Mix), Vec<&Vec<f64>>> = BTreeMap::new();
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in study.obs.iter().filter(|o| o.test == TestKind::Original && !o.per_class.is_empty()) {
        names.entry(o.dataset.clone()).or_insert_with(|| class_names_of(&o.test_set, o.per_class.len()));
        by.entry((o.dataset.clone(), o.generator.clone(), o.mix)).or_default().push(&o.per_class);
    }
    let means = by
        .into_iter()
        .map(|(k, rows)| {
            let k_classes = names[&k.0].len();
            let mean = (0..k_classes)
                .map(|c| rows.iter().map(|r| r.get(c).copied().unwrap_or(0.0)).sum::<f64>() / rows.len() as f64)
                .collect();
            (k, mean)
        })
        .collect();
    (names, means)
}
