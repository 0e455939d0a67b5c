//! The comparisons of the strategies study: observations indexed by arm,
//! paired differences against each strategy's reference arm, regimes in order.

use super::*;

/// One comparison of the report: test accuracy of arm `a` − arm `b` in one
/// dataset and regime.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    pub(super) dataset: String,
    pub(super) rule: String,
    pub(super) a: Arm,
    pub(super) b: Arm,
}

/// Every comparison of the report, judged as one family.
pub(super) type Comparisons = Family<Key>;

/// The observations of one dataset and regime, by arm, sorted by seed, and
/// the report's judged comparisons.
pub(super) struct Index<'a> {
    pub(super) by: BTreeMap<Arm, Vec<&'a StrategyObs>>,
    dataset: String,
    rule: String,
    family: Option<&'a Comparisons>,
}

impl<'a> Index<'a> {
    /// The index of one dataset and regime, its comparisons looked up in `family`.
    pub(super) fn judged(obs: &'a [StrategyObs], dataset: &str, rule: &Subset, family: &'a Comparisons) -> Self {
        Index { family: Some(family), ..Index::new(obs, dataset, rule) }
    }

    /// The index without judged comparisons (to collect them).
    pub(super) fn new(obs: &'a [StrategyObs], dataset: &str, rule: &Subset) -> Self {
        let mut by: BTreeMap<Arm, Vec<&StrategyObs>> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.dataset == dataset && &o.rule == rule) {
            by.entry(o.arm.clone()).or_default().push(o);
        }
        for v in by.values_mut() {
            v.sort_by_key(|o| o.seed);
        }
        Index { by, dataset: dataset.to_string(), rule: rule.to_string(), family: None }
    }

    /// The arm's label, marked † when a seed's pool missed τ and was filled.
    pub(super) fn label(&self, arm: &Arm) -> String {
        let filled = self.get(arm).iter().any(|o| o.filled);
        format!("{}{}", arm.label(), if filled { " †" } else { "" })
    }

    pub(super) fn get(&self, arm: &Arm) -> &[&'a StrategyObs] {
        self.by.get(arm).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(super) fn test(&self, arm: &Arm) -> Option<Cell> {
        let v = self.get(arm);
        (!v.is_empty()).then(|| Cell::new(v.iter().map(|o| (o.seed, o.test)).collect()))
    }

    pub(super) fn val_mean(&self, arm: &Arm) -> Option<f64> {
        let v: Vec<f64> = self.get(arm).iter().filter_map(|o| o.val).collect();
        (v.len() == self.get(arm).len()).then(|| stats::mean(&v)).flatten()
    }

    /// Test accuracy of `a` minus `b`, per seed both have.
    pub(super) fn estimate(&self, a: &Arm, b: &Arm) -> Option<Estimate> {
        let bs: BTreeMap<u64, f64> = self.get(b).iter().map(|o| (o.seed, o.test)).collect();
        let d: Vec<f64> = self.get(a).iter().filter_map(|o| bs.get(&o.seed).map(|vb| o.test - vb)).collect();
        Estimate::one_sample(&d)
    }

    fn key(&self, a: &Arm, b: &Arm) -> Key {
        Key { dataset: self.dataset.clone(), rule: self.rule.clone(), a: a.clone(), b: b.clone() }
    }

    /// The judged comparison `a − b` (found either way round; None where no seed pairs).
    pub(super) fn paired(&self, a: &Arm, b: &Arm) -> Option<Compared> {
        let f = self.family?;
        f.get(&self.key(a, b)).copied().or_else(|| f.get(&self.key(b, a)).map(Compared::negated))
    }

    /// The single-strategy arms of `s` on `base`, by knob value.
    pub(super) fn sweep(&self, base: Base, s: Strategy) -> Vec<&Arm> {
        let mut v: Vec<&Arm> = self.by.keys().filter(|a| a.base == base && a.single() == Some(s)).collect();
        v.sort_by(|a, b| knob_value(a).total_cmp(&knob_value(b)));
        v
    }

    /// The arm of the sweep with the highest mean validation accuracy.
    pub(super) fn chosen(&self, base: Base, s: Strategy) -> Option<&Arm> {
        self.sweep(base, s)
            .into_iter()
            .filter_map(|a| self.val_mean(a).map(|v| (a, v)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .map(|x| x.0)
    }

    /// Arms with more than one strategy (the combination phase).
    pub(super) fn combinations(&self) -> Vec<&Arm> {
        self.by.keys().filter(|a| a.knobs.len() > 1).collect()
    }
}

pub(super) fn knob_value(a: &Arm) -> f64 {
    a.knobs.first().and_then(|k| k.1.parse().ok()).unwrap_or(f64::NAN)
}

/// A regime's name for people: its real share.
pub(super) fn regime_title(r: &Subset) -> String {
    match r {
        Subset::Fraction(f) => format!("{} % real", (f * 1000.0).round() / 10.0),
        Subset::Rest(n) => format!("all real but the validation split ({n}/class)"),
        other => other.to_string(),
    }
}

/// A regime's name in a figure's row label.
pub(super) fn short_regime(r: &Subset) -> String {
    match r {
        Subset::Fraction(f) => format!("{} % real", (f * 1000.0).round() / 10.0),
        Subset::Rest(_) => "all real".into(),
        other => other.to_string(),
    }
}

/// Regimes in order of their real share.
pub(super) fn rules_of(obs: &[StrategyObs], dataset: &str) -> Vec<Subset> {
    let mut v: Vec<Subset> = Vec::new();
    for o in obs.iter().filter(|o| o.dataset == dataset) {
        if !v.contains(&o.rule) {
            v.push(o.rule.clone());
        }
    }
    v.sort_by(|a, b| share(a).total_cmp(&share(b)));
    v
}

pub(super) fn share(r: &Subset) -> f64 {
    match r {
        Subset::Fraction(f) => *f,
        _ => 1.0,
    }
}

/// The bases a strategy applies to.
pub(super) fn bases_of(s: Strategy) -> &'static [Base] {
    match s {
        Strategy::Filter | Strategy::Scale | Strategy::Recycle => &[Base::Mix, Base::Cas],
        Strategy::Weight => &[Base::Mix],
        // Fine-tuning starts from a CAS classifier and trains on real images.
        Strategy::TwoStage => &[Base::Real],
    }
}

/// The arm a strategy is measured against: the plain mix, plain CAS.
pub(super) fn reference_of(base: Base) -> Arm {
    match base {
        Base::Cas => Arm::plain(Base::Cas),
        _ => Arm::plain(Base::Mix),
    }
}

/// Every comparison of every dataset and regime, collected before any is
/// printed and judged as one family (Holm over all, margin [`MARGIN`]):
/// each arm with a strategy against its reference (the plain mix, plain
/// CAS), and every arm against real only (which the CAS gap reads the
/// other way round).
pub(super) fn comparisons(obs: &[StrategyObs], datasets: &[String]) -> Comparisons {
    let real = Arm::plain(Base::Real);
    let mut items = Vec::new();
    for d in datasets {
        for r in rules_of(obs, d) {
            let ix = Index::new(obs, d, &r);
            for arm in ix.by.keys() {
                let mut vs = Vec::new();
                if !arm.knobs.is_empty() {
                    vs.push(reference_of(arm.base));
                }
                if *arm != real && !vs.contains(&real) {
                    vs.push(real.clone());
                }
                for b in vs {
                    if let Some(e) = ix.estimate(arm, &b) {
                        items.push((ix.key(arm, &b), e));
                    }
                }
            }
        }
    }
    Family::judge(items, MARGIN)
}
