//! Reading the strategies study's artifacts: every classifier labelled from its
//! checkpoint, provenance and training set; every pool's FID report.

use super::*;
use crate::report::generator_use::GeneratorReader;

/// A pool's confidence filter (carried into its mixes), if it had one.
pub(super) fn filter_of(m: &SetMeta) -> Option<&FilterRecord> {
    m.sampled.as_ref().and_then(|s| s.filter.as_ref())
}

/// Images a pool completed below τ (`synth-sample --shortfall fill`).
pub(super) fn filled_count(m: &SetMeta) -> usize {
    filter_of(m).and_then(|f| f.filled.as_ref()).map_or(0, |f| f.iter().sum())
}

/// The mean acceptance rate over classes of a pool's filter.
pub(super) fn mean_acceptance(m: &SetMeta) -> Option<f64> {
    stats::mean(&filter_of(m)?.acceptance)
}

/// The subset rule of a set, or an error saying it is not a study's set.
pub(super) fn rule_of(m: &SetMeta, p: &Path) -> Result<Subset> {
    m.subset
        .as_ref()
        .map(|s| s.rule.clone())
        .ok_or_else(|| Error::format(p, "no subset rule in its metadata: not a strategies-study set"))
}

/// The learning rate a classifier was trained at, from its provenance.
pub(super) fn trained_lr(ckpt: &Path) -> Result<String> {
    let p = provenance::read(&provenance::path_for(ckpt))?;
    let v: serde_json::Value = serde_json::from_str(&p.params_json)
        .map_err(|e| Error::format(ckpt, format!("provenance parameters are not JSON: {e}")))?;
    v.pointer("/adam/lr")
        .and_then(|x| x.as_f64())
        .map(|x| x.to_string())
        .ok_or_else(|| Error::format(ckpt, "its provenance records no 'lr' (a two-stage classifier's knob)"))
}

/// Sampling knobs recorded in an image set's metadata (a pool, or a mix made from one).
pub(super) fn sampling_knobs(m: &SetMeta) -> Vec<(Strategy, String)> {
    let mut k = Vec::new();
    if let Some(f) = filter_of(m) {
        k.push((Strategy::Filter, f.min_confidence.to_string()));
    }
    if let Some(s) = m.sampled.as_ref().and_then(|s| s.latent_scale) {
        k.push((Strategy::Scale, s.to_string()));
    }
    k
}

#[derive(Default)]
pub(super) struct Labeller {
    pub(super) meta: MetaCache,
    pub(super) generators: GeneratorReader,
}

/// A classifier's label, without its scores.
pub(super) struct Trained {
    pub(super) dataset: String,
    pub(super) rule: Subset,
    pub(super) arm: Arm,
    pub(super) seed: u64,
    pub(super) acceptance: Option<f64>,
    pub(super) filled: bool,
    pub(super) train: String,
    pub(super) generator: Option<UsedGenerator>,
    pub(super) generator_quality: Quality,
}

impl Labeller {
    pub(super) fn trained(&mut self, classifier: &str) -> Result<Trained> {
        let cpath = PathBuf::from(classifier);
        let cm = self.meta.checkpoint(&cpath)?;
        let rec = cm.classifier().ok_or_else(|| Error::format(&cpath, "is not a classifier trained by clf-train"))?;
        let (dataset, seed, train) = (cm.dataset.clone(), rec.seed, rec.train.clone());
        let tpath = PathBuf::from(&train);
        let tm = self.meta.set(&tpath).map_err(|e| Error::Invalid(format!("training set of {classifier}: {e}")))?;
        let rule = rule_of(&tm, &tpath)?;
        let ratio = tm.ratio().ok_or_else(|| Error::format(&tpath, "no O:S ratio in its metadata"))?;
        let base = match (ratio.original, ratio.synthetic) {
            (_, 0) => Base::Real,
            (0, _) => Base::Cas,
            (1, 1) => Base::Mix,
            _ => return Err(Error::format(&tpath, format!("ratio {ratio} is not 1:0, 1:1 or 0:1"))),
        };
        let mut knobs = sampling_knobs(&tm);
        if let Some(w) = rec.synthetic_weight {
            knobs.push((Strategy::Weight, w.to_string()));
        }
        if let Some((_, k)) = &rec.recycle {
            knobs.push((Strategy::Recycle, k.to_string()));
        }
        if rec.init.is_some() {
            knobs.push((Strategy::TwoStage, trained_lr(&cpath)?));
        }
        knobs.sort();
        let acceptance = mean_acceptance(&tm);
        let filled = filled_count(&tm) > 0;
        let g = self.generators.of_set(&mut self.meta, &tm);
        let generator_quality = g.as_ref().map_or((None, None), |g| g.quality);
        let generator = g.and_then(|g| g.used);
        Ok(Trained {
            dataset,
            rule,
            arm: Arm { base, knobs },
            seed,
            acceptance,
            filled,
            train,
            generator,
            generator_quality,
        })
    }

    /// Whether a result is on the real test set (true), the validation split
    /// (false) or neither (None).
    pub(super) fn test_kind(&mut self, r: &EvalResult) -> Option<bool> {
        if r.test_source == "real" {
            return Some(true);
        }
        let m = self.meta.set(Path::new(&r.test)).ok()?;
        matches!(m.subset.map(|s| s.rule), Some(Subset::Holdout(_))).then_some(false)
    }

    pub(super) fn pool(&mut self, f: &FidReport, source: &Path) -> Result<PoolQuality> {
        let gpath = PathBuf::from(&f.generated);
        let pm = self.meta.set(&gpath).map_err(|e| Error::Invalid(format!("{}: {e}", source.display())))?;
        let (Some(sampled), Some(draw)) = (&pm.sampled, &pm.draw) else {
            return Err(Error::format(&gpath, "not a pool drawn by synth-sample (no generator record)"));
        };
        let gm = self.meta.checkpoint(&sampled.generator)?;
        let train = PathBuf::from(
            gm.train().ok_or_else(|| Error::format(&sampled.generator, "a generator without gan-train's record"))?,
        );
        let rule = rule_of(&self.meta.set(&train)?, &train)?;
        Ok(PoolQuality {
            dataset: pm.dataset.clone(),
            rule,
            knobs: sampling_knobs(&pm),
            seed: draw.seed,
            fid: f.fid,
            recognition: f.recognition,
            acceptance: mean_acceptance(&pm),
            filled: filled_count(&pm) as f64 / f.generated_images.max(1) as f64,
        })
    }
}

/// Every classifier's test and validation accuracy, and every pool's quality.
pub fn gather(files: &[PathBuf]) -> Result<(Vec<StrategyObs>, Vec<PoolQuality>)> {
    let mut lab = Labeller::default();
    let mut obs: BTreeMap<String, StrategyObs> = BTreeMap::new();
    let mut pools = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).at(path)?;
        if let Ok(f) = serde_json::from_slice::<FidReport>(&bytes) {
            pools.push(lab.pool(&f, path)?);
            continue;
        }
        let rep: EvalReport = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(path, format!("neither evaluate's METRICS.json nor a FID report: {e}")))?;
        for r in &rep.results {
            let Some(is_test) = lab.test_kind(r) else { continue };
            let o = match obs.get_mut(&r.classifier) {
                Some(o) => o,
                None => {
                    let t =
                        lab.trained(&r.classifier).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                    obs.entry(r.classifier.clone()).or_insert(StrategyObs {
                        dataset: t.dataset,
                        rule: t.rule,
                        arm: t.arm,
                        seed: t.seed,
                        test: f64::NAN,
                        val: None,
                        acceptance: t.acceptance,
                        filled: t.filled,
                        classifier: r.classifier.clone(),
                        train: t.train,
                        generator: t.generator,
                        generator_quality: t.generator_quality,
                    })
                }
            };
            if is_test {
                o.test = r.accuracy;
            } else {
                o.val = Some(r.accuracy);
            }
        }
    }
    // A classifier scored only on the validation split has no test result to report.
    Ok((obs.into_values().filter(|o| o.test.is_finite()).collect(), pools))
}
