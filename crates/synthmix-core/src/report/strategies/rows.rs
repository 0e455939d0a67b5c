//! The strategies study's results.csv (one row per classifier) and
//! pools.csv (one row per synthetic pool's FID report): written here and
//! read back here, so a report can be rebuilt from its own published folder
//! (`synthmix report --study strategies --prior DIR`) with every number but
//! the recomputed verdicts unchanged.

use super::*;
use crate::report::results::{read_rows, write_rows};

/// One row of the strategies report's `pools.csv`: a pool's quality.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolRow {
    pub dataset: String,
    pub regime: String,
    /// The pool's sampling knobs, `strategy=value` pairs `;`-separated (empty: plain).
    pub pool: String,
    pub seed: u64,
    pub fid: f64,
    pub recognition: f64,
    pub acceptance: Option<f64>,
    /// Share of the pool's images completed below τ.
    pub filled_share: f64,
}

/// `filter=0.9;weight=0.25`: the knobs as results.csv writes them.
fn knobs_text(knobs: &[(Strategy, String)]) -> String {
    knobs.iter().map(|(s, v)| format!("{s:?}={v}").to_lowercase()).collect::<Vec<_>>().join(";")
}

/// The inverse of [`knobs_text`].
fn parse_knobs(s: &str) -> std::result::Result<Vec<(Strategy, String)>, String> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').ok_or_else(|| format!("'{p}' is not strategy=value"))?;
            let st = Strategy::ALL
                .into_iter()
                .find(|st| format!("{st:?}").to_lowercase() == name)
                .ok_or_else(|| format!("'{name}' is no strategy of the study"))?;
            Ok((st, value.to_string()))
        })
        .collect()
}

fn parse_base(s: &str) -> Option<Base> {
    [Base::Real, Base::Mix, Base::Cas].into_iter().find(|b| format!("{b:?}").to_lowercase() == s)
}

/// results.csv's text, one row per observation in their order.
pub(super) fn results_csv(obs: &[StrategyObs]) -> Result<String> {
    write_rows(
        "results.csv",
        obs.iter().map(|o| StrategyRow {
            dataset: o.dataset.clone(),
            regime: o.rule.to_string(),
            base: format!("{:?}", o.arm.base).to_lowercase(),
            strategies: knobs_text(&o.arm.knobs),
            seed: o.seed,
            test_accuracy: o.test,
            validation_accuracy: o.val,
            acceptance: o.acceptance,
            filled_below_tau: o.filled,
            classifier: o.classifier.clone(),
            train_set: o.train.clone(),
            generator_arch: o.generator.as_ref().map(|g| g.source.arch.clone()).unwrap_or_default(),
            generator_until: o.generator.as_ref().map(|g| g.source.until.clone()).unwrap_or_default(),
            generator_seed: o.generator.as_ref().map(|g| g.seed),
            generator_epochs: o.generator.as_ref().map(|g| g.epochs),
            generator_path: o.generator.as_ref().map(|g| g.path.clone()).unwrap_or_default(),
            generator_fid: o.generator_quality.0,
            generator_recognition: o.generator_quality.1,
        }),
    )
}

/// pools.csv's text, one row per pool in their order.
pub(super) fn pools_csv(pools: &[PoolQuality]) -> Result<String> {
    write_rows(
        "pools.csv",
        pools.iter().map(|p| PoolRow {
            dataset: p.dataset.clone(),
            regime: p.rule.to_string(),
            pool: knobs_text(&p.knobs),
            seed: p.seed,
            fid: p.fid,
            recognition: p.recognition,
            acceptance: p.acceptance,
            filled_share: p.filled,
        }),
    )
}

/// A results.csv's rows as observations.
pub fn read_results(path: &Path) -> Result<Vec<StrategyObs>> {
    let rows: Vec<StrategyRow> = read_rows(path)?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let at = |msg: String| Error::format(path, format!("row {}: {msg}", i + 2));
        let rule: Subset = r.regime.parse().map_err(|e| at(format!("regime: {e}")))?;
        let base = parse_base(&r.base).ok_or_else(|| at(format!("base '{}' is not real, mix or cas", r.base)))?;
        let knobs = parse_knobs(&r.strategies).map_err(|e| at(format!("strategies: {e}")))?;
        let generator = UsedGenerator::from_columns(
            r.generator_arch,
            r.generator_until,
            r.generator_seed,
            r.generator_epochs,
            r.generator_path,
        )
        .map_err(at)?;
        out.push(StrategyObs {
            dataset: r.dataset,
            rule,
            arm: Arm { base, knobs },
            seed: r.seed,
            test: r.test_accuracy,
            val: r.validation_accuracy,
            acceptance: r.acceptance,
            filled: r.filled_below_tau,
            classifier: r.classifier,
            train: r.train_set,
            generator,
            generator_quality: (r.generator_fid, r.generator_recognition),
        });
    }
    Ok(out)
}

/// A pools.csv's rows as pool qualities.
pub fn read_pools(path: &Path) -> Result<Vec<PoolQuality>> {
    let rows: Vec<PoolRow> = read_rows(path)?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let at = |msg: String| Error::format(path, format!("row {}: {msg}", i + 2));
        out.push(PoolQuality {
            dataset: r.dataset,
            rule: r.regime.parse().map_err(|e| at(format!("regime: {e}")))?,
            knobs: parse_knobs(&r.pool).map_err(|e| at(format!("pool: {e}")))?,
            seed: r.seed,
            fid: r.fid,
            recognition: r.recognition,
            acceptance: r.acceptance,
            filled: r.filled_share,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::generator_use::Source;

    fn obs(arm: Arm, seed: u64) -> StrategyObs {
        StrategyObs {
            dataset: "mnist".into(),
            rule: Subset::Rest(500),
            seed,
            test: 0.9741,
            val: (seed > 0).then_some(1.0 / 3.0),
            acceptance: Some(0.8991),
            filled: seed == 1,
            classifier: "a, b/c.safetensors".into(),
            train: "t".into(),
            generator: (arm.base != Base::Real).then(|| UsedGenerator {
                source: Source { arch: "unet".into(), until: "fid:20".into() },
                seed: 2,
                epochs: 40,
                path: "gan/g2.safetensors".into(),
            }),
            generator_quality: if arm.base == Base::Real { (None, None) } else { (Some(19.5), Some(0.93)) },
            arm,
        }
    }

    #[test]
    fn results_and_pools_read_back_into_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let arm =
            Arm { base: Base::Cas, knobs: vec![(Strategy::Filter, "0.9".into()), (Strategy::TwoStage, "1e-4".into())] };
        let obs = vec![obs(arm, 1), obs(Arm::plain(Base::Real), 0)];
        let text = results_csv(&obs).unwrap();
        let p = dir.path().join("results.csv");
        std::fs::write(&p, &text).unwrap();
        let back = read_results(&p).unwrap();
        assert_eq!(results_csv(&back).unwrap(), text, "the reader is the writer's inverse");
        assert_eq!((&back[0].arm, back[0].val, back[0].filled), (&obs[0].arm, Some(1.0 / 3.0), true));
        assert_eq!((&back[0].generator, back[0].generator_quality), (&obs[0].generator, (Some(19.5), Some(0.93))));
        assert_eq!((&back[1].generator, back[1].generator_quality), (&None, (None, None)));
        // A file written before the generator columns still reads.
        let old: String = text.lines().map(|l| l.rsplitn(8, ',').last().unwrap().to_string() + "\n").collect();
        std::fs::write(&p, old).unwrap();
        assert!(read_results(&p).unwrap().iter().all(|o| o.generator.is_none()));
        let pools = vec![PoolQuality {
            dataset: "mnist".into(),
            rule: Subset::Fraction(0.1),
            knobs: vec![(Strategy::Scale, "0.75".into())],
            seed: 2,
            fid: 103.618,
            recognition: 0.889,
            acceptance: None,
            filled: 0.004,
        }];
        let text = pools_csv(&pools).unwrap();
        let p = dir.path().join("pools.csv");
        std::fs::write(&p, &text).unwrap();
        assert_eq!(pools_csv(&read_pools(&p).unwrap()).unwrap(), text);
        std::fs::write(&p, text.replace("scale=0.75", "blur=1")).unwrap();
        let e = read_pools(&p).unwrap_err().to_string();
        assert!(e.contains("pools.csv") && e.contains("row 2") && e.contains("'blur'"), "{e}");
    }
}
