//! The regimes study's observations looked up by (rule, arm) and metric.

use super::*;

/// A metric of an observation.
#[derive(Clone, Copy)]
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
}

/// The observations of one dataset, looked up by (rule, arm).
pub(super) struct Index<'a> {
    pub(super) by: BTreeMap<(String, Arm), Vec<&'a RegimeObs>>,
}

impl<'a> Index<'a> {
    pub(super) fn new(obs: &'a [RegimeObs], dataset: &str) -> Self {
        let mut by: BTreeMap<(String, Arm), Vec<&RegimeObs>> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.dataset == dataset) {
            by.entry((o.rule.to_string(), o.arm)).or_default().push(o);
        }
        for v in by.values_mut() {
            v.sort_by_key(|o| o.seed);
        }
        Index { by }
    }

    pub(super) fn get(&self, rule: &Subset, arm: Arm) -> &[&'a RegimeObs] {
        self.by.get(&(rule.to_string(), arm)).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(super) fn cell(&self, rule: &Subset, arm: Arm, m: Metric) -> Option<Cell> {
        let v = self.get(rule, arm);
        (!v.is_empty()).then(|| Cell::new(v.iter().map(|o| (o.seed, m.of(o))).collect()))
    }

    /// `metric(a) − metric(b)` per seed both have, with its 95 % interval.
    pub(super) fn paired(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Option<Interval> {
        let bs: BTreeMap<u64, f64> = self.get(b.0, b.1).iter().map(|o| (o.seed, m.of(o))).collect();
        let d: Vec<f64> = self.get(a.0, a.1).iter().filter_map(|o| bs.get(&o.seed).map(|vb| m.of(o) - vb)).collect();
        Interval::of(&d)
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
