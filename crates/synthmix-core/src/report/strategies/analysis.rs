//! The comparisons of the strategies study: observations indexed by arm,
//! paired differences against each strategy's reference arm, regimes in order.

use super::*;

/// The observations of one dataset and regime, by arm, sorted by seed.
pub(super) struct Index<'a> {
    pub(super) by: BTreeMap<Arm, Vec<&'a StrategyObs>>,
}

impl<'a> Index<'a> {
    pub(super) fn new(obs: &'a [StrategyObs], dataset: &str, rule: &Subset) -> Self {
        let mut by: BTreeMap<Arm, Vec<&StrategyObs>> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.dataset == dataset && &o.rule == rule) {
            by.entry(o.arm.clone()).or_default().push(o);
        }
        for v in by.values_mut() {
            v.sort_by_key(|o| o.seed);
        }
        Index { by }
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

    /// Test accuracy of `a` minus `b`, per seed both have, with its 95 % interval.
    pub(super) fn paired(&self, a: &Arm, b: &Arm) -> Option<Interval> {
        let bs: BTreeMap<u64, f64> = self.get(b).iter().map(|o| (o.seed, o.test)).collect();
        let d: Vec<f64> = self.get(a).iter().filter_map(|o| bs.get(&o.seed).map(|vb| o.test - vb)).collect();
        Interval::of(&d)
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
