//! The paper study's generator families side by side: each headline cell
//! pooled over one family's generator seeds (one architecture at its default
//! settings), and every other family against the first, so each conclusion
//! can be read per family.

use std::collections::BTreeSet;

use super::{dataset_title, md, Entry, GenId, Mix, Section, Study, Table, TestKind};
use crate::report::generator_use::Source;
use crate::report::model::{datasets_of, generators_of, Cell};
use crate::report::stats::{Estimate, Family, MARGIN};

/// The cells compared across families (O → O is the same classifiers on
/// the same real test set under every family, so it is left out).
fn compared_cells() -> [(Mix, TestKind); 5] {
    [
        (Mix::new(0, 1), TestKind::Original),
        (Mix::new(5, 1), TestKind::Original),
        (Mix::new(1, 0), TestKind::Synthetic),
        (Mix::new(0, 1), TestKind::Synthetic),
        (Mix::new(5, 1), TestKind::Synthetic),
    ]
}

/// A dataset's generator families: per architecture, its generators at the
/// default settings (the paper's own preset is a setting, not a family).
fn families(study: &Study, d: &str) -> Vec<(String, Vec<GenId>)> {
    let mut out: Vec<(String, Vec<GenId>)> = Vec::new();
    for g in generators_of(&study.cells, d).into_iter().flatten() {
        if !(g.preset == "default" || g.preset.is_empty()) {
            continue;
        }
        match out.iter_mut().find(|f| f.0 == g.arch) {
            Some(f) => f.1.push(g),
            None => out.push((g.arch.clone(), vec![g])),
        }
    }
    // The paper's family (the MLP cGAN) first: the others are judged against it.
    out.sort_by_key(|f| (f.0 != "mlp", f.0.clone()));
    out
}

/// A cell pooled over several generators: every (study seed, accuracy) of
/// their rows, each classifier–test pair once (O's classifiers and the real
/// test sets are shared by every generator's rows).
pub(super) fn pooled(study: &Study, d: &str, m: Mix, test: &TestKind, gens: &[&GenId]) -> Cell {
    let mut seen = BTreeSet::new();
    let values = study
        .obs
        .iter()
        .filter(|o| o.dataset == d && o.mix == m && &o.test == test)
        .filter(|o| o.generator.as_ref().is_some_and(|g| gens.contains(&g)))
        .filter(|o| seen.insert((o.classifier.clone(), o.test_set.clone())))
        .map(|o| (o.seed, o.accuracy))
        .collect();
    Cell::new(values)
}

fn family_label(arch: &str) -> String {
    Source { arch: arch.into(), until: String::new() }.label()
}

/// The section, or None where no dataset has two families.
pub(super) fn families_section(study: &Study) -> Option<Section> {
    let mut tables = Vec::new();
    let mut items: Vec<((String, String, Mix, TestKind), Estimate)> = Vec::new();
    for d in datasets_of(&study.cells) {
        let fams = families(study, &d);
        if fams.len() < 2 {
            continue;
        }
        let mut rows = Vec::new();
        for (m, t) in compared_cells() {
            let cells: Vec<Cell> =
                fams.iter().map(|f| pooled(study, &d, m, &t, &f.1.iter().collect::<Vec<_>>())).collect();
            if cells.iter().any(|c| c.values.is_empty()) {
                continue;
            }
            for (f, c) in fams.iter().zip(&cells).skip(1) {
                let key = (d.clone(), f.0.clone(), m, t.clone());
                items.push((key, Estimate::welch(&cells[0].summary(), &c.summary())));
            }
            rows.push((m, t, cells));
        }
        tables.push((d, fams, rows));
    }
    if tables.iter().all(|t| t.2.is_empty()) {
        return None;
    }
    let fam = Family::judge(items, MARGIN);
    let mut s = Section::new("Generator families side by side");
    s.prose(format!(
        "Each family (one architecture at its default settings) pooled over its generator seeds: mean ± std over \
         every generator and study seed, n their number (a classifier scored on the same test set under several \
         generators counts once). The synthetic test set of a row is each family's own. A family against the \
         first is Welch's difference (different classifiers, so unpaired) with its 95 % interval. {}\n",
        fam.describe("every other family against the MLP cGAN, in every row and dataset of this table")
    ));
    for (d, fams, rows) in tables {
        let mut head = vec!["Train → test".to_string()];
        head.extend(fams.iter().map(|f| format!("{} ({} G)", family_label(&f.0), f.1.len())));
        head.extend(fams.iter().skip(1).map(|f| format!("{} − {}", family_label(&f.0), family_label(&fams[0].0))));
        let align = format!("l{}", "r".repeat(head.len() - 1));
        let mut t = Table::new(head, &align);
        for (m, test, cells) in rows {
            let mut row = vec![Entry::text(format!("{} → {}", m.label(), test.title()))];
            row.extend(cells.iter().map(|c| Entry::mean(Some(c.clone())).with_seeds(c)));
            row.extend(
                fams.iter()
                    .skip(1)
                    .map(|f| Entry::compared(fam.get(&(d.clone(), f.0.clone(), m, test.clone())).copied())),
            );
            t.row(row);
        }
        s.prose(format!("### {}\n\n", md::text(&dataset_title(&d))));
        s.table(t);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{aggregate, Observation};

    fn gen(arch: &str, preset: &str, seed: u64) -> GenId {
        GenId {
            family: "gan".into(),
            arch: arch.into(),
            preset: preset.into(),
            seed,
            blake3: format!("{arch}{preset}{seed}"),
        }
    }

    fn obs(g: &GenId, m: Mix, study_seed: u64, accuracy: f64) -> Observation {
        Observation {
            dataset: "mnist".into(),
            generator: Some(g.clone()),
            mix: m,
            test: TestKind::Original,
            test_set: "mnist:test".into(),
            seed: study_seed,
            accuracy,
            classifier: format!("{}-{}-s{study_seed}", g.blake3, m.label()),
            train: "t".into(),
            imported_from: None,
            per_class: vec![],
        }
    }

    /// Two MLP generator seeds and two DCGAN ones, S → O on three study
    /// seeds each (and the paper's preset, which is no family).
    fn study() -> Study {
        let s = Mix::new(0, 1);
        let mut v = Vec::new();
        for (g, base) in [
            (gen("mlp", "default", 0), 0.80),
            (gen("mlp", "default", 1), 0.82),
            (gen("dcgan", "default", 0), 0.90),
            (gen("dcgan", "default", 1), 0.91),
            (gen("mlp", "paper", 0), 0.10),
        ] {
            for seed in 0..3u64 {
                v.push(obs(&g, s, seed, base + seed as f64 * 0.001));
            }
        }
        Study { cells: aggregate(&v), obs: v, ..Default::default() }
    }

    #[test]
    fn families_pool_their_generator_seeds_and_are_compared_by_welch() {
        let st = study();
        let fams = families(&st, "mnist");
        assert_eq!(fams.iter().map(|f| (f.0.as_str(), f.1.len())).collect::<Vec<_>>(), [("mlp", 2), ("dcgan", 2)]);
        let sec = families_section(&st).unwrap();
        let md = crate::report::markdown::document::section(&sec);
        // Pooled over 2 generators × 3 study seeds; the paper preset is left out.
        let mlp = [0.80, 0.801, 0.802, 0.82, 0.821, 0.822];
        let dc = [0.90, 0.901, 0.902, 0.91, 0.911, 0.912];
        let (a, b) =
            (Cell::new(mlp.iter().map(|x| (0, *x)).collect()), Cell::new(dc.iter().map(|x| (0, *x)).collect()));
        assert!(md.contains(&format!("| S → original test | {} |", a.text())), "{md}");
        assert!(md.contains(&format!("| {} |", b.text())), "{md}");
        let e = Estimate::welch(&a.summary(), &b.summary());
        assert!((e.mean - 0.095).abs() < 1e-12, "{e:?}");
        assert!(md.contains(&format!("{:+.4}", e.mean)) && md.contains("**better**"), "{md}");
        assert!(md.contains("| Train → test | MLP cGAN (2 G) | DCGAN (2 G) | DCGAN − MLP cGAN |"), "{md}");
    }

    #[test]
    fn one_family_gives_no_section() {
        let mut st = study();
        st.obs.retain(|o| o.generator.as_ref().is_some_and(|g| g.arch == "mlp"));
        st.cells = aggregate(&st.obs);
        assert!(families_section(&st).is_none());
    }
}
