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

/// One comparison of the report: `metric(a) − metric(b)` on `dataset`, each
/// side a (regime, arm).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    pub(super) dataset: String,
    pub(super) a: (String, Arm),
    pub(super) b: (String, Arm),
    pub(super) metric: Metric,
}

/// Every arm comparison of the report, judged as one family.
pub(super) type Comparisons = Family<Key>;

/// The observations of one dataset, looked up by (rule, arm), and the
/// report's judged comparisons.
pub(super) struct Index<'a> {
    pub(super) by: BTreeMap<(String, Arm), Vec<&'a RegimeObs>>,
    dataset: String,
    family: Option<&'a Comparisons>,
}

impl<'a> Index<'a> {
    /// The index of `dataset`, its comparisons looked up in `family`.
    pub(super) fn judged(obs: &'a [RegimeObs], dataset: &str, family: &'a Comparisons) -> Self {
        Index { family: Some(family), ..Index::new(obs, dataset) }
    }

    /// The index of `dataset` without judged comparisons (to collect them).
    pub(super) fn new(obs: &'a [RegimeObs], dataset: &str) -> Self {
        let mut by: BTreeMap<(String, Arm), Vec<&RegimeObs>> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.dataset == dataset) {
            by.entry((o.rule.to_string(), o.arm)).or_default().push(o);
        }
        for v in by.values_mut() {
            v.sort_by_key(|o| o.seed);
        }
        Index { by, dataset: dataset.to_string(), family: None }
    }

    pub(super) fn get(&self, rule: &Subset, arm: Arm) -> &[&'a RegimeObs] {
        self.by.get(&(rule.to_string(), arm)).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(super) fn cell(&self, rule: &Subset, arm: Arm, m: Metric) -> Option<Cell> {
        let v = self.get(rule, arm);
        (!v.is_empty()).then(|| Cell::new(v.iter().map(|o| (o.seed, m.of(o))).collect()))
    }

    /// `metric(a) − metric(b)` per seed both have.
    pub(super) fn estimate(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Option<Estimate> {
        let bs: BTreeMap<u64, f64> = self.get(b.0, b.1).iter().map(|o| (o.seed, m.of(o))).collect();
        let d: Vec<f64> = self.get(a.0, a.1).iter().filter_map(|o| bs.get(&o.seed).map(|vb| m.of(o) - vb)).collect();
        Estimate::one_sample(&d)
    }

    fn key(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Key {
        Key { dataset: self.dataset.clone(), a: (a.0.to_string(), a.1), b: (b.0.to_string(), b.1), metric: m }
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

/// Every comparison of every dataset, collected before any is printed and
/// judged as one family (Holm over all of them, margin [`MARGIN`]).
pub(super) fn comparisons(obs: &[RegimeObs], datasets: &[String]) -> Comparisons {
    let mut items = Vec::new();
    for d in datasets {
        let ix = Index::new(obs, d);
        for (a, b, m) in wanted(&ix) {
            if let Some(e) = ix.estimate((&a.0, a.1), (&b.0, b.1), m) {
                let key = ix.key((&a.0, a.1), (&b.0, b.1), m);
                if !items.iter().any(|(k, _): &(Key, Estimate)| *k == key) {
                    items.push((key, e));
                }
            }
        }
    }
    Family::judge(items, MARGIN)
}
