//! The regimes study's observations looked up by (rule, arm) and metric.

use super::*;

/// A metric of an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Metric {
    Accuracy,
    Balanced,
    MacroF1,
}

impl Metric {
    pub(super) fn of(&self, o: &RegimeObs) -> f64 {
        match self {
            Metric::Accuracy => o.accuracy,
            Metric::Balanced => o.balanced_accuracy,
            Metric::MacroF1 => o.macro_f1,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Balanced => "balanced accuracy",
            Metric::MacroF1 => "macro-F1",
        }
    }
}

/// One side of a comparison: (regime, arm, the generator source's label;
/// empty for the arms on real images alone).
pub(super) type Side = (String, Arm, String);

/// One comparison of the report: `metric(a) − metric(b)` on `dataset`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    pub(super) dataset: String,
    pub(super) a: Side,
    pub(super) b: Side,
    pub(super) metric: Metric,
}

/// Every arm comparison of the report, judged as one family.
pub(super) type Comparisons = Family<Key>;

/// The generator sources of `dataset`'s synthetic arms, in order; one
/// unnamed source where it has none (its real arms still form a report).
pub(super) fn sources_of(obs: &[RegimeObs], dataset: &str) -> Vec<Source> {
    let mut v: Vec<Source> = obs.iter().filter(|o| o.dataset == dataset).filter_map(RegimeObs::source).collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        v.push(Source::default());
    }
    v
}

/// The observations of one dataset and generator source (with the arms on
/// real images alone, which every source shares), looked up by (rule, arm),
/// and the report's judged comparisons.
pub(super) struct Index<'a> {
    pub(super) by: BTreeMap<(String, Arm), Vec<&'a RegimeObs>>,
    dataset: String,
    pub(super) source: Source,
    family: Option<&'a Comparisons>,
}

impl<'a> Index<'a> {
    /// The index of `dataset` and `source`, its comparisons looked up in `family`.
    pub(super) fn judged(obs: &'a [RegimeObs], dataset: &str, source: &Source, family: &'a Comparisons) -> Self {
        Index { family: Some(family), ..Index::new(obs, dataset, source) }
    }

    /// The index of `dataset` and `source` without judged comparisons (to collect them).
    pub(super) fn new(obs: &'a [RegimeObs], dataset: &str, source: &Source) -> Self {
        let mut by: BTreeMap<(String, Arm), Vec<&RegimeObs>> = BTreeMap::new();
        let mine = |o: &&RegimeObs| o.source().is_none_or(|s| s == *source);
        for o in obs.iter().filter(|o| o.dataset == dataset).filter(mine) {
            by.entry((o.rule.to_string(), o.arm)).or_default().push(o);
        }
        for v in by.values_mut() {
            v.sort_by_key(|o| o.seed);
        }
        Index { by, dataset: dataset.to_string(), source: source.clone(), family: None }
    }

    /// The side of a comparison: the source's label for an arm with synthetic images.
    fn side(&self, rule: &Subset, arm: Arm) -> Side {
        (rule.to_string(), arm, if arm.is_synthetic() { self.source.label() } else { String::new() })
    }

    pub(super) fn get(&self, rule: &Subset, arm: Arm) -> &[&'a RegimeObs] {
        self.by.get(&(rule.to_string(), arm)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// (study seed, metric) of each run of (rule, arm), in seed order.
    fn values(&self, rule: &Subset, arm: Arm, m: Metric) -> Vec<(u64, f64)> {
        self.get(rule, arm).iter().map(|o| (o.seed, m.of(o))).collect()
    }

    pub(super) fn cell(&self, rule: &Subset, arm: Arm, m: Metric) -> Option<Cell> {
        let v = self.values(rule, arm, m);
        (!v.is_empty()).then(|| Cell::new(v))
    }

    /// `metric(a) − metric(b)` per seed both have.
    pub(super) fn estimate(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Option<Estimate> {
        Estimate::paired(&self.values(a.0, a.1, m), &self.values(b.0, b.1, m))
    }

    /// The (rule, arm) pairs with synthetic images this index holds, in key order.
    pub(super) fn synthetic_arms(&self) -> Vec<(Subset, Arm)> {
        let rule = |r: &String| r.parse().expect("rules were parsed from their own text");
        self.by.keys().filter(|(_, a)| a.is_synthetic()).map(|(r, a)| (rule(r), *a)).collect()
    }

    fn key(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Key {
        Key { dataset: self.dataset.clone(), a: self.side(a.0, a.1), b: self.side(b.0, b.1), metric: m }
    }

    /// The judged comparison `metric(a) − metric(b)` (None where no seed pairs).
    pub(super) fn paired(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Option<Compared> {
        self.family?.get(&self.key(a, b, m)).copied()
    }

    pub(super) fn rules(&self) -> Vec<Subset> {
        let mut v: Vec<Subset> = Vec::new();
        for (r, _) in self.by.keys() {
            let s: Subset = r.parse().expect("rules were parsed from their own text");
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v
    }
}

pub(super) fn fraction_of(r: &Subset) -> Option<f64> {
    match r {
        Subset::Fraction(f) => Some(*f),
        _ => None,
    }
}

pub(super) fn pct(f: f64) -> String {
    format!("{} %", (f * 1000.0).round() / 10.0)
}

/// The comparisons the report prints, in its order: imbalance arms against
/// real only and fill against the other rebalancers, synthetic multiples
/// against 0× and against the same count of real images, real-trained
/// against CAS.
fn wanted(ix: &Index) -> Vec<((Subset, Arm), (Subset, Arm), Metric)> {
    let mut v = Vec::new();
    let rules = ix.rules();
    let upper = rules.iter().find(|r| matches!(r, Subset::Balanced(_))).cloned();
    for r in rules.iter().filter(|r| r.is_imbalanced()) {
        for a in [Arm::Oversample, Arm::ClassWeight, Arm::Fill] {
            v.push(((r.clone(), a), (r.clone(), Arm::Real), Metric::Balanced));
        }
        if let Some(u) = &upper {
            v.push(((u.clone(), Arm::Real), (r.clone(), Arm::Real), Metric::Balanced));
        }
        for other in [Arm::Oversample, Arm::ClassWeight] {
            for m in [Metric::Balanced, Metric::MacroF1] {
                v.push(((r.clone(), Arm::Fill), (r.clone(), other), m));
            }
        }
    }
    let mut fr: Vec<(f64, Subset)> = rules.iter().filter_map(|r| fraction_of(r).map(|f| (f, r.clone()))).collect();
    fr.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (f, r) in &fr {
        for m in super::render::mults_of(ix, r) {
            v.push(((r.clone(), Arm::Synthetic(m)), (r.clone(), Arm::Real), Metric::Accuracy));
            let target = f * (1.0 + m as f64);
            if let Some((_, rr)) = fr.iter().find(|(g, _)| (g - target).abs() < 1e-9) {
                v.push(((r.clone(), Arm::Synthetic(m)), (rr.clone(), Arm::Real), Metric::Accuracy));
            }
        }
    }
    for r in rules.iter().filter(|r| !ix.get(r, Arm::Cas).is_empty()) {
        v.push(((r.clone(), Arm::Real), (r.clone(), Arm::Cas), Metric::Accuracy));
    }
    v
}

/// The arms with synthetic images two sources of one dataset both have.
pub(super) fn shared_synthetic_arms(a: &Index, b: &Index) -> Vec<(Subset, Arm)> {
    a.synthetic_arms().into_iter().filter(|(rule, arm)| !b.get(rule, *arm).is_empty()).collect()
}

/// The metric an arm is judged on: balanced accuracy for the imbalance
/// arms, accuracy for the others.
pub(super) fn metric_of(rule: &Subset, arm: Arm) -> Metric {
    if rule.is_imbalanced() || arm == Arm::Fill {
        Metric::Balanced
    } else {
        Metric::Accuracy
    }
}

/// A generator trained to a quality target against the same family at its
/// epoch budget: `(quality-matched, budget)` source pairs of a dataset.
pub(super) fn quality_pairs(sources: &[Source]) -> Vec<(&Source, &Source)> {
    let budget = |q: &Source| sources.iter().find(|b| b.arch == q.arch && b.until.is_empty());
    sources.iter().filter(|q| !q.until.is_empty()).filter_map(|q| budget(q).map(|b| (q, b))).collect()
}

/// The comparison of `arm` at `rule` under source `a` against under source `b`.
fn across_key(a: &Index, b: &Index, rule: &Subset, arm: Arm, m: Metric) -> Key {
    Key { dataset: a.dataset.clone(), a: a.side(rule, arm), b: b.side(rule, arm), metric: m }
}

/// `metric` of `arm` at `rule` under source `a` minus under source `b`,
/// paired by study seed.
pub(super) fn across(a: &Index, b: &Index, rule: &Subset, arm: Arm, m: Metric) -> Option<(Key, Estimate)> {
    let e = Estimate::paired(&a.values(rule, arm, m), &b.values(rule, arm, m))?;
    Some((across_key(a, b, rule, arm, m), e))
}

/// The judged comparison of [`across`], looked up in `a`'s family.
pub(super) fn judged_across(a: &Index, b: &Index, rule: &Subset, arm: Arm, m: Metric) -> Option<Compared> {
    a.family?.get(&across_key(a, b, rule, arm, m)).copied()
}

/// Every comparison of every dataset and generator source, collected before
/// any is printed and judged as one family (Holm over all of them, margin
/// [`MARGIN`]): each source's arm comparisons (those between real arms
/// once), and each quality-matched generator's arms against the same
/// family's at its budget.
pub(super) fn comparisons(obs: &[RegimeObs], datasets: &[String]) -> Comparisons {
    let mut items: Vec<(Key, Estimate)> = Vec::new();
    let mut add = |key: Key, e: Estimate| {
        if !items.iter().any(|(k, _)| *k == key) {
            items.push((key, e));
        }
    };
    for d in datasets {
        let sources = sources_of(obs, d);
        for src in &sources {
            let ix = Index::new(obs, d, src);
            for (a, b, m) in wanted(&ix) {
                if let Some(e) = ix.estimate((&a.0, a.1), (&b.0, b.1), m) {
                    add(ix.key((&a.0, a.1), (&b.0, b.1), m), e);
                }
            }
        }
        for (q, b) in quality_pairs(&sources) {
            let (iq, ib) = (Index::new(obs, d, q), Index::new(obs, d, b));
            for (rule, arm) in shared_synthetic_arms(&iq, &ib) {
                if let Some((key, e)) = across(&iq, &ib, &rule, arm, metric_of(&rule, arm)) {
                    add(key, e);
                }
            }
        }
    }
    Family::judge(items, MARGIN)
}
