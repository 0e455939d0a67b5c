//! The regimes study's results.csv, one row per classifier: written here and
//! read back here, so a report can be rebuilt from its own published folder
//! (`synthmix report --study regimes --prior DIR`) with every number but the
//! recomputed verdicts unchanged.

use super::*;
use crate::data::{DataOptions, DatasetName};
use crate::report::results::{read_rows, write_rows};

impl Arm {
    /// The inverse of [`Arm::label`].
    pub fn parse_label(s: &str) -> Option<Arm> {
        let fixed = [Arm::Real, Arm::Oversample, Arm::ClassWeight, Arm::Fill, Arm::Cas];
        if let Some(a) = fixed.into_iter().find(|a| a.label() == s) {
            return Some(a);
        }
        let m = s.strip_prefix('+')?.strip_suffix("× synthetic")?;
        m.parse().ok().map(Arm::Synthetic)
    }
}

fn row_of(o: &RegimeObs) -> RegimeRow {
    RegimeRow {
        dataset: o.dataset.clone(),
        regime: o.rule.to_string(),
        arm: o.arm.label(),
        seed: o.seed,
        accuracy: o.accuracy,
        balanced_accuracy: o.balanced_accuracy,
        macro_f1: o.macro_f1,
        // Exact (shortest round-trip), so a report rebuilt from this file prints the same per-class intervals.
        per_class_recall: o.recall.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(";"),
        classifier: o.classifier.clone(),
        train_set: o.train.clone(),
        generator_on_same_subset: match o.fair {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => String::new(),
        },
        generator_fid: o.generator_quality.0,
        generator_recognition: o.generator_quality.1,
        class_sizes: o.class_sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(";"),
        generator_arch: o.generator.as_ref().map(|g| g.source.arch.clone()).unwrap_or_default(),
        generator_until: o.generator.as_ref().map(|g| g.source.until.clone()).unwrap_or_default(),
        generator_seed: o.generator.as_ref().map(|g| g.seed),
        generator_epochs: o.generator.as_ref().map(|g| g.epochs),
        generator_path: o.generator.as_ref().map(|g| g.path.clone()).unwrap_or_default(),
    }
}

/// results.csv's text, one row per observation in their order.
pub(super) fn results_csv(obs: &[RegimeObs]) -> Result<String> {
    write_rows("results.csv", obs.iter().map(row_of))
}

/// A published folder's results.csv as observations, and whether it records
/// the generators' quality (files written before those columns do not).
/// A file written before the class-sizes column gets them recomputed from
/// the subset rule and the dataset's training split: right for a study that
/// draws every subset from the full split, as pipelines/regimes.toml does
/// (the published one), not for one drawing from a reduced base.
pub fn read_csv(path: &Path, opts: &DataOptions) -> Result<(Vec<RegimeObs>, bool)> {
    let rows: Vec<RegimeRow> = read_rows(path)?;
    let header = std::fs::read_to_string(path).ok().and_then(|t| t.lines().next().map(str::to_string));
    let has = |col: &str| header.as_deref().is_some_and(|h| h.split(',').any(|c| c == col));
    let (has_quality, has_sizes) = (has("generator_fid"), has("class_sizes"));
    let mut sizes = ClassSizes::default();
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let at = |msg: String| Error::format(path, format!("row {}: {msg}", i + 2));
        let rule: Subset = r.regime.parse().map_err(|e| at(format!("regime: {e}")))?;
        let arm = Arm::parse_label(&r.arm).ok_or_else(|| at(format!("arm '{}' is no arm of the study", r.arm)))?;
        let recall = match r.per_class_recall.as_str() {
            "" => vec![],
            s => s
                .split(';')
                .map(|x| x.parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| at(format!("per_class_recall: {e}")))?,
        };
        let fair = match r.generator_on_same_subset.as_str() {
            "yes" => Some(true),
            "NO" => Some(false),
            "" => None,
            other => return Err(at(format!("generator_on_same_subset '{other}' is not yes, NO or empty"))),
        };
        let class_sizes = match (arm, has_sizes, r.class_sizes.as_str()) {
            (_, true, "") => vec![],
            (_, true, s) => s
                .split(';')
                .map(|x| x.parse::<usize>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| at(format!("class_sizes: {e}")))?,
            (Arm::Real | Arm::Oversample | Arm::ClassWeight, false, _) => sizes.of(&r.dataset, &rule, opts),
            _ => vec![],
        };
        let generator = UsedGenerator::from_columns(
            r.generator_arch,
            r.generator_until,
            r.generator_seed,
            r.generator_epochs,
            r.generator_path,
        )
        .map_err(at)?;
        out.push(RegimeObs {
            dataset: r.dataset,
            rule,
            arm,
            seed: r.seed,
            accuracy: r.accuracy,
            balanced_accuracy: r.balanced_accuracy,
            macro_f1: r.macro_f1,
            recall,
            class_sizes,
            classifier: r.classifier,
            train: r.train_set,
            fair,
            generator_quality: (r.generator_fid, r.generator_recognition),
            generator,
        });
    }
    Ok((out, has_quality))
}

/// The generators' (FID, recognition) by (dataset title, regime), as the CAS
/// section of a report written before results.csv had those columns printed
/// them (`| `rule` | 64.6 / 0.945 | …` under `### Dataset`): the one number
/// of this study that no published CSV holds, so it is read from the text
/// here and nowhere else.
pub fn quality_from_report(cas_section: &str) -> BTreeMap<(String, String), (f64, f64)> {
    let mut out = BTreeMap::new();
    let mut title = String::new();
    for line in cas_section.lines() {
        if let Some(t) = line.strip_prefix("### ") {
            title = t.trim().to_string();
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let (Some(rule), Some(q)) = (cells.first().and_then(|c| c.strip_prefix("| `")), cells.get(1)) else {
            continue;
        };
        let parsed = q.split_once(" / ").and_then(|(f, r)| Some((f.trim().parse().ok()?, r.trim().parse().ok()?)));
        if let Some(fr) = parsed {
            out.insert((title.clone(), rule.trim_end_matches('`').to_string()), fr);
        }
    }
    out
}

/// Each dataset's training-split class histogram, read once.
#[derive(Default)]
struct ClassSizes(BTreeMap<String, Option<Vec<usize>>>);

impl ClassSizes {
    /// The rule's per-class counts on the full training split (the study's
    /// mix-build draws at seed 0); empty where the dataset is not on this
    /// machine or the counts depend on a seed (`step:R:k=N`).
    fn of(&mut self, dataset: &str, rule: &Subset, opts: &DataOptions) -> Vec<usize> {
        if matches!(rule, Subset::Step { classes: crate::data::subset::StepClasses::Chosen(_), .. }) {
            return vec![];
        }
        let hist = self.0.entry(dataset.to_string()).or_insert_with(|| {
            let set = DatasetName::parse(&format!("{dataset}:train")).and_then(|n| n.load(opts));
            match set {
                Ok(s) => Some(s.class_histogram()),
                Err(e) => {
                    tracing::warn!("class sizes of {dataset} left out: {e}");
                    None
                }
            }
        });
        hist.as_ref().and_then(|h| rule.counts(h, 0).ok()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(arm: Arm, seed: u64) -> RegimeObs {
        RegimeObs {
            dataset: "mnist".into(),
            rule: Subset::LongTail(10.0),
            arm,
            seed,
            accuracy: 0.9741,
            balanced_accuracy: 0.8744999999999999,
            macro_f1: 1.0 / 3.0,
            recall: vec![0.5, 0.25],
            class_sizes: if arm == Arm::Cas { vec![] } else { vec![60, 46] },
            classifier: "a, b/c.safetensors".into(),
            train: "t".into(),
            fair: (arm == Arm::Cas).then_some(true),
            generator_quality: if arm == Arm::Cas { (Some(64.6), Some(0.945)) } else { (None, None) },
            generator: (arm == Arm::Cas).then(|| UsedGenerator {
                source: Source { arch: "unet".into(), until: "recognition:0.9".into() },
                seed: 2,
                epochs: 17,
                path: "dpm/f1-g2.safetensors".into(),
            }),
        }
    }

    #[test]
    fn generator_quality_is_read_from_an_older_reports_cas_tables() {
        let md = "## Synthetic-to-real gap (CAS)\n\nA classifier …\n\n### MNIST\n\n\
                  | Regime | Generator FID / recognition | Real-trained | CAS | Gap (95 % CI) |\n|---|---:|---:|---:|---:|\n\
                  | `fraction:0.01` | 64.6 / 0.945 | 0.9520 ± 0.0032 (n=3) | 0.7682 | +0.1838 |\n\
                  | `longtail:10` | – | 0.9777 | 0.7812 | +0.1965 |\n\n### Fashion-MNIST\n\n\
                  | `fraction:0.01` | 44.9 / 0.860 | 0.8035 | 0.6657 | +0.1378 |\n";
        let q = quality_from_report(md);
        assert_eq!(q.len(), 2, "{q:?}");
        assert_eq!(q[&("MNIST".to_string(), "fraction:0.01".to_string())], (64.6, 0.945));
        assert_eq!(q[&("Fashion-MNIST".to_string(), "fraction:0.01".to_string())], (44.9, 0.86));
    }

    #[test]
    fn arm_labels_read_back() {
        for a in [Arm::Real, Arm::Oversample, Arm::ClassWeight, Arm::Fill, Arm::Synthetic(10), Arm::Cas] {
            assert_eq!(Arm::parse_label(&a.label()), Some(a));
        }
        assert_eq!(Arm::parse_label("+x× synthetic"), None);
    }

    #[test]
    fn rows_read_back_into_the_same_observations_and_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.csv");
        let obs = vec![obs(Arm::Cas, 1), obs(Arm::Synthetic(5), 0)];
        let text = results_csv(&obs).unwrap();
        std::fs::write(&p, &text).unwrap();
        let opts = DataOptions { data_dir: dir.path().join("no-data"), severity: None, corruption_seed: 0 };
        let (back, has_quality) = read_csv(&p, &opts).unwrap();
        assert!(has_quality);
        assert_eq!(results_csv(&back).unwrap(), text, "the reader is the writer's inverse");
        assert_eq!(
            (back[0].arm, back[0].fair, back[0].generator_quality),
            (Arm::Cas, Some(true), (Some(64.6), Some(0.945)))
        );
        assert_eq!((back[1].macro_f1, back[1].recall.clone()), (1.0 / 3.0, vec![0.5, 0.25]));
        assert_eq!((back[0].class_sizes.clone(), back[1].class_sizes.clone()), (vec![], vec![60, 46]));
        assert_eq!((back[0].generator.clone(), back[1].generator.clone()), (obs[0].generator.clone(), None));
        // A file written before the generator, quality and size columns still reads, and says so.
        let old: Vec<&str> = text.lines().map(|l| l.rsplitn(9, ',').nth(8).unwrap()).collect();
        std::fs::write(&p, old.join("\n")).unwrap();
        let (back, has_quality) = read_csv(&p, &opts).unwrap();
        assert!(!has_quality && back[0].generator_quality == (None, None) && back[0].generator.is_none());
        // A generator half recorded is refused, naming the row.
        std::fs::write(&p, text.replace(",unet,recognition:0.9,2,17", ",unet,recognition:0.9,,17")).unwrap();
        let e = read_csv(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("generator_seed"), "{e}");
        // One written before the path column reads, with no path.
        let no_path: Vec<&str> = text.lines().map(|l| l.rsplit_once(',').unwrap().0).collect();
        std::fs::write(&p, no_path.join("\n")).unwrap();
        let (back, _) = read_csv(&p, &opts).unwrap();
        assert_eq!(back[0].generator.as_ref().map(|g| (g.seed, g.path.as_str())), Some((2, "")));
        std::fs::write(&p, text.replace("synthetic only (CAS)", "cas?")).unwrap();
        let e = read_csv(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("results.csv") && e.contains("row 2") && e.contains("cas?"), "{e}");
    }
}
