//! Results of an earlier publication of the same study, merged into a new
//! report (`synthmix report --prior DIR`): the new run's METRICS.json files
//! win; every prior result that the new run recomputed is compared with it
//! (a determinism check across machines and sessions), and the rest are
//! imported with their generator matched by its checkpoint's BLAKE3. The
//! prior report's provenance section is quoted, so the merged report still
//! says which commit, machine and wall time made each number.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::generators::GeneratorInfo;
use super::model::{GenId, Mix, Observation, TestKind};
use super::results::{self, ResultRow};
use crate::error::{Error, IoContext, Result};

/// An earlier report folder: its results and its provenance section.
#[derive(Debug, Clone)]
pub struct Prior {
    pub dir: PathBuf,
    pub rows: Vec<ResultRow>,
    /// The body of its report.md's "Settings, provenance and cost" section.
    pub provenance: String,
}

/// What merging a prior report did.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    pub dir: PathBuf,
    pub imported: usize,
    pub recomputed: usize,
    /// Recomputed results that differ: (what, prior, new).
    pub mismatches: Vec<(String, f64, f64)>,
    pub provenance: String,
}

/// Results are equal when they agree to results.csv's older 6-decimal form.
const SAME: f64 = 5e-7;

impl Prior {
    pub fn read(dir: &Path) -> Result<Prior> {
        let csv = dir.join("results.csv");
        let rows = results::read(&csv)?;
        if rows.is_empty() {
            return Err(Error::format(&csv, "holds no results"));
        }
        let md = dir.join("report.md");
        let text = std::fs::read_to_string(&md).at(&md)?;
        Ok(Prior { dir: dir.to_path_buf(), rows, provenance: provenance_section(&text) })
    }

    /// Adds the prior's results that `obs` lacks; compares the ones it has.
    pub fn merge_into(&self, obs: &mut Vec<Observation>, gens: &BTreeMap<GenId, GeneratorInfo>) -> Result<Merged> {
        let key = |d: &str, g: &str, m: Mix, t: &str, s: u64| (d.to_string(), g.to_string(), m, t.to_string(), s);
        let have: HashMap<_, f64> = obs
            .iter()
            .map(|o| {
                let g = o.generator.as_ref().map(|g| g.blake3.as_str()).unwrap_or("");
                (key(&o.dataset, g, o.mix, &o.test.key(), o.seed), o.accuracy)
            })
            .collect();
        let csv = self.dir.join("results.csv");
        let mut m = Merged { dir: self.dir.clone(), provenance: self.provenance.clone(), ..Default::default() };
        for (i, r) in self.rows.iter().enumerate() {
            let at = |msg: String| Error::format(&csv, format!("row {}: {msg}", i + 2));
            let mix =
                Mix::parse_label(&r.train).ok_or_else(|| at(format!("train '{}' is not O, S or O:S", r.train)))?;
            if let Some(&new) = have.get(&key(&r.dataset, &r.generator_blake3, mix, &r.test, r.seed)) {
                m.recomputed += 1;
                if (new - r.accuracy).abs() > SAME {
                    let what = format!("{} {} {} → {} seed {}", r.dataset, r.generator, r.train, r.test, r.seed);
                    m.mismatches.push((what, r.accuracy, new));
                }
                continue;
            }
            let generator = match r.generator_blake3.as_str() {
                "" => None,
                h => Some(gens.keys().find(|g| g.blake3 == h).cloned().ok_or_else(|| {
                    at(format!(
                        "generator '{}' ({}…) is behind none of this report's METRICS.json files, so its quality \
                         cannot be shown; add one of its evaluations (e.g. its O rows)",
                        r.generator,
                        &h[..h.len().min(12)]
                    ))
                })?),
            };
            obs.push(Observation {
                dataset: r.dataset.clone(),
                generator,
                mix,
                test: TestKind::from_key(&r.test),
                test_set: r.test_set.clone(),
                seed: r.seed,
                accuracy: r.accuracy,
                classifier: r.classifier.clone(),
                train: r.train_set.clone(),
                imported_from: Some(if r.imported_from.is_empty() {
                    self.dir.display().to_string()
                } else {
                    r.imported_from.clone()
                }),
                per_class: vec![],
            });
            m.imported += 1;
        }
        Ok(m)
    }
}

/// The lines under `## Settings, provenance and cost`, up to the next `## `.
fn provenance_section(md: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in md.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Settings, provenance and cost";
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen() -> GenId {
        GenId { family: "gan".into(), arch: "mlp".into(), preset: "default".into(), seed: 0, blake3: "ab".into() }
    }

    fn obs(mix: Mix, seed: u64, acc: f64) -> Observation {
        Observation {
            dataset: "mnist".into(),
            generator: Some(gen()),
            mix,
            test: TestKind::Original,
            test_set: "mnist:test".into(),
            seed,
            accuracy: acc,
            classifier: format!("c{seed}"),
            train: "mnist:train".into(),
            imported_from: None,
            per_class: vec![],
        }
    }

    fn prior_dir(rows: &[Observation]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("results.csv"), results::to_csv(rows).unwrap()).unwrap();
        std::fs::write(
            dir.path().join("report.md"),
            "# t\n\n## Settings, provenance and cost\n\n- commit abc\n\n## Headline\n\nx\n",
        )
        .unwrap();
        dir
    }

    fn info(id: GenId) -> GeneratorInfo {
        GeneratorInfo {
            id,
            dataset: "mnist".into(),
            path: "g.safetensors".into(),
            arch: "mlp".into(),
            epoch: 1,
            lr_d: "1".into(),
            lr_g: "1".into(),
            fid: None,
            recognition: None,
            features: None,
            curve: vec![],
            grids: vec![],
        }
    }

    #[test]
    fn imports_what_is_missing_and_checks_what_was_recomputed() {
        let o = Mix::new(1, 0);
        let dir = prior_dir(&[obs(o, 0, 0.98), obs(o, 1, 0.97), obs(Mix::new(5, 1), 0, 0.96)]);
        let prior = Prior::read(dir.path()).unwrap();
        assert_eq!(prior.provenance, "- commit abc");
        let gens = BTreeMap::from([(gen(), info(gen()))]);
        let mut now = vec![obs(o, 0, 0.98), obs(o, 1, 0.9701)];
        let m = prior.merge_into(&mut now, &gens).unwrap();
        assert_eq!((m.imported, m.recomputed), (1, 2));
        assert_eq!(m.mismatches.len(), 1, "0.97 against 0.9701");
        assert_eq!((m.mismatches[0].1, m.mismatches[0].2), (0.97, 0.9701));
        let imported = now.last().unwrap();
        assert_eq!((imported.mix, imported.accuracy), (Mix::new(5, 1), 0.96));
        assert_eq!(imported.imported_from.as_deref(), Some(dir.path().display().to_string().as_str()));
    }

    #[test]
    fn a_prior_generator_unknown_to_this_run_is_refused() {
        let dir = prior_dir(&[obs(Mix::new(0, 1), 0, 0.8)]);
        let prior = Prior::read(dir.path()).unwrap();
        let e = prior.merge_into(&mut Vec::new(), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("results.csv") && e.contains("row 2") && e.contains("default, G seed 0"), "{e}");
    }
}
