//! The regimes study's synthetic-to-real gap: per dataset and generator
//! source, the Classification Accuracy Score against the same real set, the
//! gap per class, and the generators' quality beside it.

use super::analysis::*;
use super::render::{prov, titled};
use super::*;
use crate::report::document::{Cell as Entry, Section, Table};

pub(super) const CAS: &str = "Synthetic-to-real gap (CAS)";

/// The CAS tables; `missing` stands where a generator's quality is not
/// known, `note` (if any) says where the known ones come from.
pub(super) fn cas_section(
    obs: &[RegimeObs],
    datasets: &[String],
    fam: &Comparisons,
    missing: &str,
    note: &str,
) -> Section {
    let mut s = Section::new(CAS);
    s.prose(format!(
        "A classifier trained on synthetic images only (the size and class proportions of the regime's real \
         set) and tested on real images: its accuracy is the Classification Accuracy Score. The gap is \
         accuracy(trained on the regime's real set) − CAS, paired by seed. Anchor: GaFi (Lampis et al., 2023) \
         reports gaps of 2.03 % on Fashion-MNIST and 1.78 % on CIFAR-10 with a GAN and its strategies (filtering, \
         recycling, latent expansion); the plain generators here use none of them.\n\n{note}"
    ));
    for d in datasets {
        let sources = sources_of(obs, d);
        for src in &sources {
            cas_of(&Index::judged(obs, d, src, fam), &titled(d, src, sources.len()), missing, &mut s);
        }
    }
    s
}

/// One dataset and source's CAS table and per-class gaps.
fn cas_of(ix: &Index, title: &str, missing: &str, s: &mut Section) {
    let rules: Vec<Subset> = ix.rules().into_iter().filter(|r| !ix.get(r, Arm::Cas).is_empty()).collect();
    if rules.is_empty() {
        return;
    }
    s.prose(format!("### {}\n\n", md::text(title)));
    s.table(cas_table(ix, &rules, missing));
    let per_class = class_gaps(ix, &rules);
    let k = per_class.first().map(|x| x.1.len()).unwrap_or(0);
    if k > 0 {
        s.prose(
            "Gap per class (recall, real-trained − synthetic-trained): mean over seeds ± the half-width of its \
                 95 % interval:\n\n",
        );
        let head = std::iter::once("Regime".to_string()).chain((0..k).map(|c| c.to_string()));
        let mut t = Table::new(head, &format!("l{}", "r".repeat(k)));
        for (r, v) in &per_class {
            let cells = v.iter().map(|i| match i {
                Some(i) if i.hi.is_finite() => Entry::number(format!("{:+.3} ± {:.3}", i.mean, i.hi - i.mean), i.mean),
                Some(i) => Entry::number(format!("{:+.3}", i.mean), i.mean),
                None => Entry::text("–"),
            });
            t.row(std::iter::once(Entry::text(format!("`{r}`"))).chain(cells));
        }
        s.table(t);
    }
}

/// Per regime: the generator's quality, real-trained accuracy, CAS and the gap.
fn cas_table(ix: &Index, rules: &[Subset], missing: &str) -> Table {
    let mut t =
        Table::new(["Regime", "Generator FID / recognition", "Real-trained", "CAS", "Gap (95 % CI), verdict"], "lrrrr");
    for r in rules {
        let gap = ix.paired((r, Arm::Real), (r, Arm::Cas), Metric::Accuracy);
        let quality = quality_entry(ix.get(r, Arm::Cas), missing);
        let [real, cas] =
            [Arm::Real, Arm::Cas].map(|a| Entry::mean(ix.cell(r, a, Metric::Accuracy)).with_prov(prov(ix, &[(r, a)])));
        let gap = Entry::compared(gap).with_prov(prov(ix, &[(r, Arm::Real), (r, Arm::Cas)]));
        t.row([Entry::text(format!("`{r}`")), quality, real, cas, gap]);
    }
    t
}

/// The CAS arm's generator quality: one generator's FID / recognition, or
/// their means where the seeds used several (generator seeds).
fn quality_entry(cas: &[&RegimeObs], missing: &str) -> Entry {
    let mut per_gen: BTreeMap<Option<u64>, (f64, f64)> = BTreeMap::new();
    for o in cas {
        if let (Some(f), Some(r)) = o.generator_quality {
            per_gen.entry(o.generator.as_ref().map(|g| g.seed)).or_insert((f, r));
        }
    }
    let n = per_gen.len();
    let (f, r) = per_gen.values().fold((0.0, 0.0), |a, q| (a.0 + q.0 / n as f64, a.1 + q.1 / n as f64));
    match n {
        0 => Entry::text(missing),
        1 => Entry::number(format!("{f:.1} / {r:.3}"), f),
        _ => Entry::number(format!("{f:.1} / {r:.3} (mean of {n} generators)"), f),
    }
}

/// Per regime: recall per class, real-trained − synthetic-trained, paired by seed.
fn class_gaps(ix: &Index, rules: &[Subset]) -> Vec<(String, Vec<Option<Interval>>)> {
    let mut per_class = Vec::new();
    for r in rules {
        let real: BTreeMap<u64, &RegimeObs> = ix.get(r, Arm::Real).iter().map(|o| (o.seed, *o)).collect();
        let diffs: Vec<Vec<f64>> = ix
            .get(r, Arm::Cas)
            .iter()
            .filter_map(|c| real.get(&c.seed).map(|o| o.recall.iter().zip(&c.recall).map(|(a, b)| a - b).collect()))
            .collect();
        if let Some(k) = diffs.first().map(Vec::len) {
            let per: Vec<Option<Interval>> =
                (0..k).map(|c| Interval::of(&diffs.iter().map(|v| v[c]).collect::<Vec<_>>())).collect();
            per_class.push((r.to_string(), per));
        }
    }
    per_class
}
