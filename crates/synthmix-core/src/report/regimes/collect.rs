//! Reading the regimes study's artifacts: every real-test result labelled from
//! the classifier's checkpoint, its training set and their provenance.

use super::*;
use crate::report::generator_use::GeneratorReader;

/// The provenance input of `role` of an artifact: its BLAKE3.
pub(super) fn input_hash(artifact: &Path, role: &str) -> Option<String> {
    let p = provenance::read(&provenance::path_for(artifact)).ok()?;
    p.inputs.into_iter().find(|i| i.role == role).map(|i| i.blake3)
}

#[derive(Default)]
pub(super) struct Labeller {
    pub(super) meta: MetaCache,
    pub(super) sizes: BTreeMap<PathBuf, Vec<usize>>,
    pub(super) generators: GeneratorReader,
}

impl Labeller {
    pub(super) fn meta(&mut self, p: &Path) -> Result<SetMeta> {
        self.meta.set(p)
    }

    /// Labels one result; `None` for a test set that is not real.
    /// A real test set: imported or named (source real), or a mix-build
    /// subset of one with no synthetic image in it.
    pub(super) fn real_test(&mut self, r: &crate::metrics::evaluate::EvalResult) -> bool {
        match r.test_source.as_str() {
            "real" => true,
            "mix" => self.meta(Path::new(&r.test)).is_ok_and(|m| m.synthetic_count() == Some(0)),
            _ => false,
        }
    }

    pub(super) fn observe(&mut self, r: &crate::metrics::evaluate::EvalResult) -> Result<Option<RegimeObs>> {
        if !self.real_test(r) {
            return Ok(None);
        }
        let cpath = PathBuf::from(&r.classifier);
        let cm = self.meta.checkpoint(&cpath)?;
        let rec = cm.classifier().ok_or_else(|| Error::format(&cpath, "is not a classifier trained by clf-train"))?;
        let (dataset, seed, train) = (cm.dataset.clone(), rec.seed, rec.train.clone());
        let tpath = PathBuf::from(&train);
        let tm = self.meta(&tpath).map_err(|e| Error::Invalid(format!("training set of {}: {e}", r.classifier)))?;
        let rule = tm.subset.as_ref().map(|s| s.rule.clone()).ok_or_else(|| {
            Error::format(
                &tpath,
                "no subset rule in its metadata: not a regimes-study training set (mix-build --subset)",
            )
        })?;
        let synthetic = tm.synthetic_count().unwrap_or(0);
        let arm = if matches!(tm.mix, Some(MixRecord { kind: MixKind::Fill, .. })) {
            Arm::Fill
        } else {
            let ratio = tm.ratio().ok_or_else(|| Error::format(&tpath, "no O:S ratio in its metadata"))?;
            match (ratio.original, ratio.synthetic) {
                (0, _) => Arm::Cas,
                (_, 0) => match rec.rebalance.as_deref() {
                    Some("oversample") => Arm::Oversample,
                    Some("class-weight") => Arm::ClassWeight,
                    _ => Arm::Real,
                },
                (1, m) => Arm::Synthetic(m),
                _ => return Err(Error::format(&tpath, format!("ratio {ratio} is not 1:M, 0:1 or 1:0"))),
            }
        };
        let (fair, quality, generator) =
            if synthetic > 0 { self.generator_check(&tpath, &tm)? } else { (None, (None, None), None) };
        let class_sizes = self.class_sizes(&tpath, arm);
        Ok(Some(RegimeObs {
            dataset,
            rule,
            arm,
            seed,
            accuracy: r.accuracy,
            balanced_accuracy: r.balanced_accuracy,
            macro_f1: r.macro_f1,
            recall: r.per_class_accuracy.clone(),
            class_sizes,
            classifier: r.classifier.clone(),
            train,
            fair,
            generator_quality: quality,
            generator,
        }))
    }

    /// Whether the mix's generator was trained on the very real file the
    /// mix's real part came from, the generator's final FID/recognition, and
    /// which generator it is (family, stopping rule, seed, epochs).
    pub(super) fn generator_check(
        &mut self,
        mix: &Path,
        mm: &SetMeta,
    ) -> Result<(Option<bool>, Quality, Option<UsedGenerator>)> {
        let Some(g) = self.generators.of_set(&mut self.meta, mm) else { return Ok((None, (None, None), None)) };
        let fair = match (input_hash(mix, "real"), g.trained_on) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        Ok((fair, g.quality, g.used))
    }

    /// Real training images per class, for the arms trained on the real
    /// subset itself (the imbalance tables show them); each file read once.
    pub(super) fn class_sizes(&mut self, tpath: &Path, arm: Arm) -> Vec<usize> {
        if !matches!(arm, Arm::Real | Arm::Oversample | Arm::ClassWeight) {
            return vec![];
        }
        self.sizes
            .entry(tpath.to_path_buf())
            .or_insert_with(|| {
                crate::artifact::image_set::read(tpath).map(|set| set.class_histogram()).unwrap_or_default()
            })
            .clone()
    }
}

/// Every real-test result of every METRICS.json, labelled.
pub fn gather(metrics: &[PathBuf]) -> Result<Vec<RegimeObs>> {
    let mut lab = Labeller::default();
    let mut out = Vec::new();
    for mpath in metrics {
        let rep = crate::report::model::read_metrics(mpath)?;
        for r in &rep.results {
            if let Some(o) = lab.observe(r).map_err(|e| Error::Invalid(format!("{}: {e}", mpath.display())))? {
                out.push(o);
            }
        }
    }
    Ok(out)
}
