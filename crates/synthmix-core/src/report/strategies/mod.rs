//! The strategies study's report (`synthmix report --study strategies`):
//! confidence filtering, latent scaling, down-weighting, dataset recycling
//! and two-stage training against the plain mix (and, for synthetic-only
//! training, against plain CAS), with every knob's sweep and the knob chosen
//! on the validation split.
//!
//! Every classifier is labelled from its artifacts: the checkpoint (dataset,
//! seed, `synthetic_weight`, `recycle_every`, `init`; the fine-tuning lr from
//! its provenance), its training set (the regime's subset rule, the ratio,
//! and how the synthetic pool was sampled: `min_confidence`, `latent_scale`,
//! `acceptance`). A test result is the real test set's; a result on an image
//! set whose subset rule is `holdout:N` is the validation split's. FID
//! reports (`evaluate --fid`) give each pool's image quality.

pub mod analysis;
pub mod collect;
pub mod render;
pub mod rows;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::context::Context;
use super::generator_use::{Quality, UsedGenerator};
use super::kind::StudyKind;
use super::md;
use super::model::{cell_text, dataset_title, Cell};
use super::results::StrategyRow;
use super::stats::{self, compared_cell, Compared, Estimate, Family, MARGIN};
use super::study::{MetaCache, ReportParams};
use super::writer::Writer;
use crate::artifact::meta::{FilterRecord, SetMeta};
use crate::artifact::provenance;
use crate::data::subset::Subset;
use crate::error::{Error, IoContext, Result};
use crate::metrics::evaluate::{EvalReport, EvalResult};
use crate::metrics::fid::FidReport;

/// What the classifier was trained on, before any strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Base {
    /// The regime's real set only.
    Real,
    /// Every real image plus as many synthetic ones (1:1).
    Mix,
    /// Synthetic images only (Classification Accuracy Score).
    Cas,
}

impl Base {
    fn title(&self) -> &'static str {
        match self {
            Base::Real => "real only",
            Base::Mix => "plain mix (1:1)",
            Base::Cas => "CAS (synthetic only)",
        }
    }
}

/// A strategy switched on by a stage option; its knob is recorded beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Strategy {
    /// synth-sample --judge --min-confidence τ
    Filter,
    /// synth-sample --latent-scale σ
    Scale,
    /// clf-train --synthetic-weight w
    Weight,
    /// clf-train --recycle POOL --recycle-every k
    Recycle,
    /// clf-train --init CAS-CLASSIFIER, fine-tuned at lr
    TwoStage,
}

impl Strategy {
    pub const ALL: [Strategy; 5] =
        [Strategy::Filter, Strategy::Scale, Strategy::Weight, Strategy::Recycle, Strategy::TwoStage];

    pub fn title(&self) -> &'static str {
        match self {
            Strategy::Filter => "confidence filtering",
            Strategy::Scale => "latent scaling",
            Strategy::Weight => "down-weighting",
            Strategy::Recycle => "dataset recycling",
            Strategy::TwoStage => "two-stage (CAS pre-training, real fine-tuning)",
        }
    }

    /// A name short enough for a figure's row label.
    fn short(&self) -> &'static str {
        match self {
            Strategy::Filter => "filtering",
            Strategy::Scale => "latent scaling",
            Strategy::Weight => "down-weighting",
            Strategy::Recycle => "recycling",
            Strategy::TwoStage => "two-stage",
        }
    }

    fn knob(&self) -> &'static str {
        match self {
            Strategy::Filter => "τ",
            Strategy::Scale => "σ",
            Strategy::Weight => "w",
            Strategy::Recycle => "k",
            Strategy::TwoStage => "lr",
        }
    }
}

/// A training arm: a base and the strategies on it with their knob values
/// (as recorded, e.g. "0.9"), sorted by strategy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arm {
    pub base: Base,
    pub knobs: Vec<(Strategy, String)>,
}

impl Arm {
    pub fn plain(base: Base) -> Arm {
        Arm { base, knobs: vec![] }
    }

    pub fn label(&self) -> String {
        if self.knobs.is_empty() {
            return self.base.title().into();
        }
        let ks: Vec<String> = self.knobs.iter().map(|(s, v)| format!("{} {} = {v}", s.title(), s.knob())).collect();
        let base = match self.base {
            Base::Cas => "CAS + ",
            _ => "",
        };
        format!("{base}{}", ks.join(" + "))
    }

    /// The one strategy of a single-strategy arm.
    fn single(&self) -> Option<Strategy> {
        match self.knobs.as_slice() {
            [(s, _)] => Some(*s),
            _ => None,
        }
    }
}

/// One classifier's scores.
#[derive(Debug, Clone)]
pub struct StrategyObs {
    pub dataset: String,
    pub rule: Subset,
    pub arm: Arm,
    pub seed: u64,
    pub test: f64,
    /// Accuracy on the validation split, where it was scored.
    pub val: Option<f64>,
    /// Mean acceptance over classes of the synthetic pool's filter.
    pub acceptance: Option<f64>,
    /// The pool missed τ for some class and was completed with its most
    /// confident rejects (`synth-sample --shortfall fill`).
    pub filled: bool,
    pub classifier: String,
    pub train: String,
    /// The generator of the synthetic images it trained on (None: real
    /// images only, or a results.csv written before these columns).
    pub generator: Option<UsedGenerator>,
    /// That generator's final FID and recognition, where recorded.
    pub generator_quality: Quality,
}

/// A synthetic pool's quality: FID and recognition against the real test set.
#[derive(Debug, Clone)]
pub struct PoolQuality {
    pub dataset: String,
    pub rule: Subset,
    /// The sampling strategies of the pool with their knobs (empty: plain).
    pub knobs: Vec<(Strategy, String)>,
    pub seed: u64,
    pub fid: f64,
    pub recognition: f64,
    pub acceptance: Option<f64>,
    /// Share of the pool's images completed below τ (0 when τ was met).
    pub filled: f64,
}

#[cfg(test)]
mod tests {
    use super::analysis::*;
    use super::collect::*;
    use super::render::*;
    use super::*;

    fn obs(arm: Arm, seed: u64, test: f64, val: f64) -> StrategyObs {
        StrategyObs {
            dataset: "mnist".into(),
            rule: Subset::Fraction(0.01),
            arm,
            seed,
            test,
            val: Some(val),
            acceptance: None,
            filled: false,
            classifier: format!("c{seed}"),
            train: "t".into(),
            generator: None,
            generator_quality: (None, None),
        }
    }

    fn filter(t: &str) -> Arm {
        Arm { base: Base::Mix, knobs: vec![(Strategy::Filter, t.into())] }
    }

    #[test]
    fn the_knob_is_chosen_on_validation_not_on_test() {
        let mut v = Vec::new();
        for s in 0..3 {
            v.push(obs(Arm::plain(Base::Mix), s, 0.90, 0.90));
            // τ 0.5: best on test, worse on validation.
            v.push(obs(filter("0.5"), s, 0.99, 0.91));
            v.push(obs(filter("0.9"), s, 0.92 + 0.001 * s as f64, 0.95));
        }
        let fam = comparisons(&v, &["mnist".to_string()]);
        assert_eq!(fam.len(), 2, "each filter against the plain mix; no real-only arm to compare with");
        let ix = Index::judged(&v, "mnist", &Subset::Fraction(0.01), &fam);
        let chosen = ix.chosen(Base::Mix, Strategy::Filter).unwrap();
        assert_eq!(chosen, &filter("0.9"));
        let c = ix.paired(chosen, &Arm::plain(Base::Mix)).unwrap();
        assert!((c.interval.mean - 0.021).abs() < 1e-9 && c.interval.lo > 0.0, "{c:?}");
        assert_eq!(c.verdict().word(), "better");
        // Either way round: the same tests, the direction flipped.
        let back = ix.paired(&Arm::plain(Base::Mix), chosen).unwrap();
        assert_eq!(
            (back.interval.hi, back.judged.p_holm, back.verdict().word()),
            (-c.interval.lo, c.judged.p_holm, "worse")
        );
        assert_eq!(ix.sweep(Base::Mix, Strategy::Filter).len(), 2);
        assert!(ix.chosen(Base::Cas, Strategy::Filter).is_none());
    }

    #[test]
    fn arms_order_and_label() {
        let a = Arm { base: Base::Cas, knobs: vec![(Strategy::Scale, "0.75".into())] };
        assert_eq!(a.label(), "CAS + latent scaling σ = 0.75");
        assert_eq!(Arm::plain(Base::Mix).label(), "plain mix (1:1)");
        assert!(Arm::plain(Base::Real) < Arm::plain(Base::Mix));
        let mut pool = SetMeta::new("mnist", "train", crate::data::Source::Synthetic);
        pool.sampled = Some(crate::artifact::meta::SampledRecord {
            generator: "g".into(),
            generator_blake3: "h".into(),
            latent_scale: None,
            filter: Some(FilterRecord {
                judge: "j".into(),
                min_confidence: 0.9,
                acceptance: vec![0.5, 1.0, 0.75],
                filled: Some(vec![1, 2]),
            }),
        });
        assert_eq!((mean_acceptance(&pool), filled_count(&pool)), (Some(0.75), 3));
    }

    #[test]
    fn the_recipe_stacks_what_helped_on_validation_and_the_answer_reports_the_combination() {
        let weight = Arm { base: Base::Mix, knobs: vec![(Strategy::Weight, "0.25".into())] };
        let combo =
            Arm { base: Base::Mix, knobs: vec![(Strategy::Filter, "0.9".into()), (Strategy::Weight, "0.25".into())] };
        let mut v = Vec::new();
        for s in 0..3 {
            v.push(obs(Arm::plain(Base::Mix), s, 0.90, 0.90));
            v.push(obs(filter("0.9"), s, 0.91, 0.89)); // hurts on validation: not stacked
            v.push(obs(weight.clone(), s, 0.92, 0.93));
            let mut c = obs(combo.clone(), s, 0.94 + 0.001 * s as f64, 0.94);
            c.filled = s == 1;
            v.push(c);
        }
        let ds = vec!["mnist".to_string()];
        let recipe = crate::report::markdown::document::section(&recipe_section(&v, &ds));
        assert!(recipe.contains("| confidence filtering | τ 0.9 | -0.0100 | no |"), "{recipe}");
        assert!(recipe.contains("| down-weighting | w 0.25 | +0.0300 | yes |"), "{recipe}");
        let fam = comparisons(&v, &ds);
        let answer = crate::report::markdown::document::section(&answers_section(&v, &ds, &fam));
        let row = answer.lines().find(|l| l.contains("combination:")).expect(&answer);
        assert!(row.contains("confidence filtering τ = 0.9 + down-weighting w = 0.25 †"), "{row}");
        assert!(row.contains("+0.0410") && row.ends_with("| better |"), "{row}");
        let zero = stats::Estimate::one_sample(&[0.0, 0.0, 0.0]).unwrap();
        let same = Family::judge(vec![((), zero)], MARGIN);
        assert_eq!(same.get(&()).map(|c| c.verdict().word()), Some("identical"));
    }
}
