//! The regimes study's generators: which ones made each arm's synthetic
//! images (family, stopping rule, seed, epochs, quality), what the ± of an
//! arm with synthetic images covers, and the generator sources side by side
//! where a dataset has several (each quality-matched generator judged
//! against the same family at its epoch budget).

use super::analysis::*;
use super::render::prov;
use super::*;
use crate::report::document::{Cell as Entry, Section, Table};
use crate::report::generator_use::GenUse;

/// The generators table and what the ± of a synthetic arm covers; None where
/// no result records its generator (a report rebuilt from an older CSV).
pub(super) fn generators_section(obs: &[RegimeObs]) -> Option<Section> {
    let uses: Vec<GenUse> = obs
        .iter()
        .filter_map(|o| GenUse::of(&o.dataset, &o.rule, o.seed, o.generator.as_ref(), o.generator_quality))
        .collect();
    crate::report::generator_use::generators_section(
        &uses,
        "A study seed sets the classifier's initialisation and shuffles, the synthetic sample and the mix draw. \
         The arms on real images alone share one real subset per regime (drawn once).",
    )
}

/// Where a dataset has several generator sources: each arm with synthetic
/// images under every source, and each quality-matched generator against
/// its family at the epoch budget. None where every dataset has one source.
pub(super) fn families_section(obs: &[RegimeObs], datasets: &[String], fam: &Comparisons) -> Option<Section> {
    let mut s = Section::new("Generator families side by side");
    let mut any = false;
    for d in datasets {
        let sources = sources_of(obs, d);
        if sources.len() < 2 {
            continue;
        }
        any = true;
        let ixs: Vec<Index> = sources.iter().map(|src| Index::judged(obs, d, src, fam)).collect();
        s.prose(format!(
            "### {}\n\nEach arm with synthetic images under each generator source (accuracy; balanced accuracy for \
             the imbalance arms), mean ± std over study seeds; the real-only arm for reference.\n\n",
            md::text(&dataset_title(d))
        ));
        s.table(side_by_side(&ixs));
        for (q, b) in quality_pairs(&sources) {
            let (iq, ib) = (&ixs[index_of(&sources, q)], &ixs[index_of(&sources, b)]);
            s.prose(format!(
                "{} − {} (the same arm, paired by study seed): does a generator of matched quality change the \
                 answer?\n\n",
                md::text(&q.label()),
                md::text(&b.label())
            ));
            s.table(quality_table(iq, ib));
        }
    }
    any.then_some(s)
}

fn index_of(sources: &[Source], s: &Source) -> usize {
    sources.iter().position(|x| x == s).expect("a pair's sources are the dataset's")
}

/// Rows (regime, arm), one column per source.
fn side_by_side(ixs: &[Index]) -> Table {
    let head = ["Regime", "Arm", "Real only"].map(String::from).into_iter().chain(ixs.iter().map(|i| i.source.label()));
    let mut t = Table::new(head, &format!("ll{}", "r".repeat(ixs.len() + 1)));
    let mut arms: Vec<(Subset, Arm)> = Vec::new();
    for a in ixs.iter().flat_map(Index::synthetic_arms) {
        if !arms.contains(&a) {
            arms.push(a);
        }
    }
    for (rule, arm) in arms {
        let m = metric_of(&rule, arm);
        let mut row = vec![
            Entry::text(format!("`{rule}`")),
            Entry::text(arm.label()),
            Entry::mean(ixs[0].cell(&rule, Arm::Real, m)),
        ];
        row.extend(ixs.iter().map(|i| Entry::mean(i.cell(&rule, arm, m)).with_prov(prov(i, &[(&rule, arm)]))));
        t.row(row);
    }
    t
}

/// Each shared arm: quality-matched − budget, with its verdict.
fn quality_table(q: &Index, b: &Index) -> Table {
    let mut t = Table::new(["Regime", "Arm", "Difference (95 % CI)", "Verdict"], "llrl");
    for (rule, arm) in shared_synthetic_arms(q, b) {
        let c = judged_across(q, b, &rule, arm, metric_of(&rule, arm));
        t.row([Entry::text(format!("`{rule}`")), Entry::text(arm.label()), Entry::compared(c), Entry::verdict_of(c)]);
    }
    t
}

/// Refuses results with two classifiers of one study seed in one cell
/// (dataset, regime, arm, generator source): comparisons pair by study seed,
/// so each generator seed needs study seeds of its own.
pub(super) fn check_one_per_seed(obs: &[RegimeObs]) -> Result<()> {
    let mut seen: BTreeMap<(String, String, Arm, Option<Source>, u64), &str> = BTreeMap::new();
    for o in obs {
        let key = (o.dataset.clone(), o.rule.to_string(), o.arm, o.source(), o.seed);
        if let Some(first) = seen.insert(key, &o.classifier) {
            return Err(Error::Invalid(format!(
                "two classifiers of study seed {} in one cell ({}, `{}`, {}{}): {first} and {}; the regimes report \
                 pairs arms by study seed, so give each generator seed study seeds of its own",
                o.seed,
                o.dataset,
                o.rule,
                o.arm.label(),
                o.source().map(|s| format!(", {}", s.label())).unwrap_or_default(),
                o.classifier
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One classifier of `arm` at 10 % real data, study seed `seed`; a
    /// synthetic arm's generator is `arch` (to `until`) of seed `seed % 3`.
    fn obs(arm: Arm, seed: u64, arch: &str, until: &str, accuracy: f64) -> RegimeObs {
        let synthetic = arm.is_synthetic();
        RegimeObs {
            dataset: "mnist".into(),
            rule: Subset::Fraction(0.1),
            arm,
            seed,
            accuracy,
            balanced_accuracy: accuracy,
            macro_f1: accuracy,
            recall: vec![],
            class_sizes: vec![],
            classifier: format!("clf-{}-{arch}{until}-s{seed}", arm.label()),
            train: "t".into(),
            fair: synthetic.then_some(true),
            generator_quality: if synthetic { (Some(10.0 + (seed % 3) as f64), Some(0.9)) } else { (None, None) },
            generator: synthetic.then(|| UsedGenerator {
                source: Source { arch: arch.into(), until: until.into() },
                seed: seed % 3,
                epochs: if until.is_empty() { 100 } else { 40 },
                path: format!("gan/{arch}{until}-g{}.safetensors", seed % 3),
            }),
        }
    }

    /// Five study seeds over three generator seeds: real only, and +1×
    /// synthetic from an MLP cGAN at its budget and one trained to a quality target.
    fn study() -> Vec<RegimeObs> {
        let mut v = Vec::new();
        for s in 0..5u64 {
            let x = s as f64 * 0.001;
            v.push(obs(Arm::Real, s, "", "", 0.90 + x));
            v.push(obs(Arm::Synthetic(1), s, "mlp", "", 0.91 + x + [0.0, 0.002, -0.001, 0.003, 0.0][s as usize]));
            v.push(obs(Arm::Synthetic(1), s, "mlp", "recognition:0.9", 0.93 + x));
        }
        v
    }

    #[test]
    fn quality_matched_generators_are_judged_against_their_family_at_the_budget() {
        let obs = study();
        let sources = sources_of(&obs, "mnist");
        assert_eq!(
            sources.iter().map(Source::label).collect::<Vec<_>>(),
            ["MLP cGAN", "MLP cGAN to recognition ≥ 0.9"]
        );
        let fam = comparisons(&obs, &["mnist".to_string()]);
        // +1× vs 0× under each source (no same-count reference at 20 %), and quality vs budget.
        assert_eq!(fam.len(), 3, "{:?}", fam.members.iter().map(|m| &m.0).collect::<Vec<_>>());
        let (q, b) = (Index::judged(&obs, "mnist", &sources[1], &fam), Index::judged(&obs, "mnist", &sources[0], &fam));
        let rule = Subset::Fraction(0.1);
        let c = judged_across(&q, &b, &rule, Arm::Synthetic(1), Metric::Accuracy).unwrap();
        // Independently: quality − budget per study seed is 0.02 minus the budget run's wobble.
        let d = [0.02, 0.018, 0.021, 0.017, 0.02];
        let mean = d.iter().sum::<f64>() / 5.0;
        assert!((c.estimate.mean - mean).abs() < 1e-12 && c.estimate.n == 5, "{:?}", c.estimate);
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!((c.estimate.se - sd / 5f64.sqrt()).abs() < 1e-12);
        assert_eq!(c.verdict(), Verdict::Better);
        // The real arm is shared: each source's gain is against the same real classifiers.
        let gain = q.paired((&rule, Arm::Synthetic(1)), (&rule, Arm::Real), Metric::Accuracy).unwrap();
        assert!((gain.estimate.mean - 0.03).abs() < 1e-12);
    }

    #[test]
    fn the_generators_table_says_which_study_seeds_used_which_generator() {
        let s = generators_section(&study()).unwrap();
        let md = crate::report::markdown::document::section(&s);
        assert!(md.contains("3 generator seeds per regime and source"), "{md}");
        assert!(md.contains("| MNIST | `fraction:0.1` | MLP cGAN | 0 | 0, 3 | 100 | 10.0 / 0.900 | |\n"), "{md}");
        assert!(
            md.contains("| MNIST | `fraction:0.1` | MLP cGAN to recognition ≥ 0.9 | 2 | 2 | 40 | 12.0 / 0.900 | yes |"),
            "{md}"
        );
        assert!(generators_section(&[obs(Arm::Real, 0, "", "", 0.9)]).is_none());
    }

    #[test]
    fn two_classifiers_of_one_seed_in_a_cell_are_refused_naming_both() {
        let mut v = study();
        assert!(check_one_per_seed(&v).is_ok());
        let mut twin = obs(Arm::Synthetic(1), 4, "mlp", "", 0.5);
        twin.classifier = "other.safetensors".into();
        v.push(twin);
        let e = check_one_per_seed(&v).unwrap_err().to_string();
        assert!(e.contains("study seed 4") && e.contains("other.safetensors") && e.contains("MLP cGAN"), "{e}");
    }
}
