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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::context::Context;
use super::kind::StudyKind;
use super::md;
use super::model::{cell_text, dataset_title, Cell};
use super::results::StrategyRow;
use super::stats::{self, direction, interval_text, Interval};
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

/// A pool's confidence filter (carried into its mixes), if it had one.
fn filter_of(m: &SetMeta) -> Option<&FilterRecord> {
    m.sampled.as_ref().and_then(|s| s.filter.as_ref())
}

/// Images a pool completed below τ (`synth-sample --shortfall fill`).
fn filled_count(m: &SetMeta) -> usize {
    filter_of(m).and_then(|f| f.filled.as_ref()).map_or(0, |f| f.iter().sum())
}

/// The mean acceptance rate over classes of a pool's filter.
fn mean_acceptance(m: &SetMeta) -> Option<f64> {
    stats::mean(&filter_of(m)?.acceptance)
}

/// The subset rule of a set, or an error saying it is not a study's set.
fn rule_of(m: &SetMeta, p: &Path) -> Result<Subset> {
    m.subset
        .as_ref()
        .map(|s| s.rule.clone())
        .ok_or_else(|| Error::format(p, "no subset rule in its metadata: not a strategies-study set"))
}

/// The learning rate a classifier was trained at, from its provenance.
fn trained_lr(ckpt: &Path) -> Result<String> {
    let p = provenance::read(&provenance::path_for(ckpt))?;
    let v: serde_json::Value = serde_json::from_str(&p.params_json)
        .map_err(|e| Error::format(ckpt, format!("provenance parameters are not JSON: {e}")))?;
    v.pointer("/adam/lr")
        .and_then(|x| x.as_f64())
        .map(|x| x.to_string())
        .ok_or_else(|| Error::format(ckpt, "its provenance records no 'lr' (a two-stage classifier's knob)"))
}

/// Sampling knobs recorded in an image set's metadata (a pool, or a mix made from one).
fn sampling_knobs(m: &SetMeta) -> Vec<(Strategy, String)> {
    let mut k = Vec::new();
    if let Some(f) = filter_of(m) {
        k.push((Strategy::Filter, f.min_confidence.to_string()));
    }
    if let Some(s) = m.sampled.as_ref().and_then(|s| s.latent_scale) {
        k.push((Strategy::Scale, s.to_string()));
    }
    k
}

#[derive(Default)]
struct Labeller {
    meta: MetaCache,
}

/// A classifier's label, without its scores.
struct Trained {
    dataset: String,
    rule: Subset,
    arm: Arm,
    seed: u64,
    acceptance: Option<f64>,
    filled: bool,
    train: String,
}

impl Labeller {
    fn trained(&mut self, classifier: &str) -> Result<Trained> {
        let cpath = PathBuf::from(classifier);
        let cm = self.meta.checkpoint(&cpath)?;
        let rec = cm.classifier().ok_or_else(|| Error::format(&cpath, "is not a classifier trained by clf-train"))?;
        let (dataset, seed, train) = (cm.dataset.clone(), rec.seed, rec.train.clone());
        let tpath = PathBuf::from(&train);
        let tm = self.meta.set(&tpath).map_err(|e| Error::Invalid(format!("training set of {classifier}: {e}")))?;
        let rule = rule_of(&tm, &tpath)?;
        let ratio = tm.ratio().ok_or_else(|| Error::format(&tpath, "no O:S ratio in its metadata"))?;
        let base = match (ratio.original, ratio.synthetic) {
            (_, 0) => Base::Real,
            (0, _) => Base::Cas,
            (1, 1) => Base::Mix,
            _ => return Err(Error::format(&tpath, format!("ratio {ratio} is not 1:0, 1:1 or 0:1"))),
        };
        let mut knobs = sampling_knobs(&tm);
        if let Some(w) = rec.synthetic_weight {
            knobs.push((Strategy::Weight, w.to_string()));
        }
        if let Some((_, k)) = &rec.recycle {
            knobs.push((Strategy::Recycle, k.to_string()));
        }
        if rec.init.is_some() {
            knobs.push((Strategy::TwoStage, trained_lr(&cpath)?));
        }
        knobs.sort();
        let acceptance = mean_acceptance(&tm);
        let filled = filled_count(&tm) > 0;
        Ok(Trained { dataset, rule, arm: Arm { base, knobs }, seed, acceptance, filled, train })
    }

    /// Whether a result is on the real test set (true), the validation split
    /// (false) or neither (None).
    fn test_kind(&mut self, r: &EvalResult) -> Option<bool> {
        if r.test_source == "real" {
            return Some(true);
        }
        let m = self.meta.set(Path::new(&r.test)).ok()?;
        matches!(m.subset.map(|s| s.rule), Some(Subset::Holdout(_))).then_some(false)
    }

    fn pool(&mut self, f: &FidReport, source: &Path) -> Result<PoolQuality> {
        let gpath = PathBuf::from(&f.generated);
        let pm = self.meta.set(&gpath).map_err(|e| Error::Invalid(format!("{}: {e}", source.display())))?;
        let (Some(sampled), Some(draw)) = (&pm.sampled, &pm.draw) else {
            return Err(Error::format(&gpath, "not a pool drawn by synth-sample (no generator record)"));
        };
        let gm = self.meta.checkpoint(&sampled.generator)?;
        let train = PathBuf::from(
            gm.train().ok_or_else(|| Error::format(&sampled.generator, "a generator without gan-train's record"))?,
        );
        let rule = rule_of(&self.meta.set(&train)?, &train)?;
        Ok(PoolQuality {
            dataset: pm.dataset.clone(),
            rule,
            knobs: sampling_knobs(&pm),
            seed: draw.seed,
            fid: f.fid,
            recognition: f.recognition,
            acceptance: mean_acceptance(&pm),
            filled: filled_count(&pm) as f64 / f.generated_images.max(1) as f64,
        })
    }
}

/// Every classifier's test and validation accuracy, and every pool's quality.
pub fn gather(files: &[PathBuf]) -> Result<(Vec<StrategyObs>, Vec<PoolQuality>)> {
    let mut lab = Labeller::default();
    let mut obs: BTreeMap<String, StrategyObs> = BTreeMap::new();
    let mut pools = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).at(path)?;
        if let Ok(f) = serde_json::from_slice::<FidReport>(&bytes) {
            pools.push(lab.pool(&f, path)?);
            continue;
        }
        let rep: EvalReport = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(path, format!("neither evaluate's METRICS.json nor a FID report: {e}")))?;
        for r in &rep.results {
            let Some(is_test) = lab.test_kind(r) else { continue };
            let o = match obs.get_mut(&r.classifier) {
                Some(o) => o,
                None => {
                    let t =
                        lab.trained(&r.classifier).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                    obs.entry(r.classifier.clone()).or_insert(StrategyObs {
                        dataset: t.dataset,
                        rule: t.rule,
                        arm: t.arm,
                        seed: t.seed,
                        test: f64::NAN,
                        val: None,
                        acceptance: t.acceptance,
                        filled: t.filled,
                        classifier: r.classifier.clone(),
                        train: t.train,
                    })
                }
            };
            if is_test {
                o.test = r.accuracy;
            } else {
                o.val = Some(r.accuracy);
            }
        }
    }
    // A classifier scored only on the validation split has no test result to report.
    Ok((obs.into_values().filter(|o| o.test.is_finite()).collect(), pools))
}

/// The observations of one dataset and regime, by arm, sorted by seed.
struct Index<'a> {
    by: BTreeMap<Arm, Vec<&'a StrategyObs>>,
}

impl<'a> Index<'a> {
    fn new(obs: &'a [StrategyObs], dataset: &str, rule: &Subset) -> Self {
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
    fn label(&self, arm: &Arm) -> String {
        let filled = self.get(arm).iter().any(|o| o.filled);
        format!("{}{}", arm.label(), if filled { " †" } else { "" })
    }

    fn get(&self, arm: &Arm) -> &[&'a StrategyObs] {
        self.by.get(arm).map(Vec::as_slice).unwrap_or(&[])
    }

    fn test(&self, arm: &Arm) -> Option<Cell> {
        let v = self.get(arm);
        (!v.is_empty()).then(|| Cell::new(v.iter().map(|o| (o.seed, o.test)).collect()))
    }

    fn val_mean(&self, arm: &Arm) -> Option<f64> {
        let v: Vec<f64> = self.get(arm).iter().filter_map(|o| o.val).collect();
        (v.len() == self.get(arm).len()).then(|| stats::mean(&v)).flatten()
    }

    /// Test accuracy of `a` minus `b`, per seed both have, with its 95 % interval.
    fn paired(&self, a: &Arm, b: &Arm) -> Option<Interval> {
        let bs: BTreeMap<u64, f64> = self.get(b).iter().map(|o| (o.seed, o.test)).collect();
        let d: Vec<f64> = self.get(a).iter().filter_map(|o| bs.get(&o.seed).map(|vb| o.test - vb)).collect();
        Interval::of(&d)
    }

    /// The single-strategy arms of `s` on `base`, by knob value.
    fn sweep(&self, base: Base, s: Strategy) -> Vec<&Arm> {
        let mut v: Vec<&Arm> = self.by.keys().filter(|a| a.base == base && a.single() == Some(s)).collect();
        v.sort_by(|a, b| knob_value(a).total_cmp(&knob_value(b)));
        v
    }

    /// The arm of the sweep with the highest mean validation accuracy.
    fn chosen(&self, base: Base, s: Strategy) -> Option<&Arm> {
        self.sweep(base, s)
            .into_iter()
            .filter_map(|a| self.val_mean(a).map(|v| (a, v)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .map(|x| x.0)
    }

    /// Arms with more than one strategy (the combination phase).
    fn combinations(&self) -> Vec<&Arm> {
        self.by.keys().filter(|a| a.knobs.len() > 1).collect()
    }
}

fn knob_value(a: &Arm) -> f64 {
    a.knobs.first().and_then(|k| k.1.parse().ok()).unwrap_or(f64::NAN)
}

/// A regime's name for people: its real share.
fn regime_title(r: &Subset) -> String {
    match r {
        Subset::Fraction(f) => format!("{} % real", (f * 1000.0).round() / 10.0),
        Subset::Rest(n) => format!("all real but the validation split ({n}/class)"),
        other => other.to_string(),
    }
}

/// A regime's name in a figure's row label.
fn short_regime(r: &Subset) -> String {
    match r {
        Subset::Fraction(f) => format!("{} % real", (f * 1000.0).round() / 10.0),
        Subset::Rest(_) => "all real".into(),
        other => other.to_string(),
    }
}

/// Regimes in order of their real share.
fn rules_of(obs: &[StrategyObs], dataset: &str) -> Vec<Subset> {
    let mut v: Vec<Subset> = Vec::new();
    for o in obs.iter().filter(|o| o.dataset == dataset) {
        if !v.contains(&o.rule) {
            v.push(o.rule.clone());
        }
    }
    v.sort_by(|a, b| share(a).total_cmp(&share(b)));
    v
}

fn share(r: &Subset) -> f64 {
    match r {
        Subset::Fraction(f) => *f,
        _ => 1.0,
    }
}

/// The bases a strategy applies to.
fn bases_of(s: Strategy) -> &'static [Base] {
    match s {
        Strategy::Filter | Strategy::Scale | Strategy::Recycle => &[Base::Mix, Base::Cas],
        Strategy::Weight => &[Base::Mix],
        // Fine-tuning starts from a CAS classifier and trains on real images.
        Strategy::TwoStage => &[Base::Real],
    }
}

/// The arm a strategy is measured against: the plain mix, plain CAS.
fn reference_of(base: Base) -> Arm {
    match base {
        Base::Cas => Arm::plain(Base::Cas),
        _ => Arm::plain(Base::Mix),
    }
}

/// The strategies study's report.md text, with its results.csv and figures
/// written into the report folder; the writer and the runs' context.
pub fn render(params: &ReportParams) -> Result<(Writer, Context, String)> {
    let (obs, pools) = gather(&params.metrics)?;
    if obs.is_empty() {
        return Err(Error::Invalid(
            "the files hold no real-test result of a strategies-study classifier (evaluate's METRICS.json)".into(),
        ));
    }
    let mut w = Writer::create(&params.out)?;
    let (ctx, datasets) = super::study::context_and_datasets(params, obs.iter().map(|o| o.dataset.clone()));

    let mut md = String::new();
    let title = params.title_or(StudyKind::Strategies);
    md.push_str(&super::md::opening(&title, &params.notes));
    md.push_str(&intro(&obs, params.metrics.len()));
    md.push_str(&answers_section(&obs, &datasets));
    for d in &datasets {
        md.push_str(&dataset_section(&obs, d, &mut w)?);
    }
    md.push_str(&recipe_section(&obs, &datasets));
    md.push_str(&quality_section(&pools, &datasets));
    md.push_str(&cas_section(&obs, &datasets));
    md.push_str("## Settings, provenance and cost\n\n");
    md.push_str(&super::context::context_markdown(&ctx, ""));
    w.write("results.csv", results_csv(&obs)?.as_bytes())?;
    let _ = writeln!(md, "All results, one row per classifier: [results.csv](results.csv).");
    Ok((w, ctx, md))
}

fn intro(obs: &[StrategyObs], files: usize) -> String {
    let with_val = obs.iter().filter(|o| o.val.is_some()).count();
    let mut s = format!(
        "{} classifiers from {files} result files, each tested on its dataset's real test set ({with_val} also on \
         the validation split: real training images no training set of the study contains). Each value is the \
         mean ± sample standard deviation over study seeds (n = seeds); each comparison a paired difference (same \
         seed) with its 95 % Student-t interval, called better or worse only when the interval excludes 0 and \
         inconclusive otherwise (identical: every seed scored exactly as the reference, as recycling does when \
         training ends before epoch k and nothing is redrawn). Where a strategy has a knob, every value is shown and the one marked ✓ is the \
         one with the highest mean **validation** accuracy; the headline uses that one, so no knob is chosen on \
         the test set.\n\n",
        obs.len()
    );
    if obs.iter().any(|o| o.filled) {
        s.push_str(
            "† The filter's τ was out of reach for some class: after 200 candidates per image needed, the judge had \
             accepted too few, so the pool was completed with that class's most confident rejects (`synth-sample \
             --shortfall fill`; the pool-quality table gives the share). Such an arm is a top-ranked selection \
             rather than a strict threshold, and τ is unreachable for that generator and judge.\n\n",
        );
    }
    s
}

/// The headline: per dataset and regime, each strategy at its validated
/// knob against its reference.
fn answers_section(obs: &[StrategyObs], datasets: &[String]) -> String {
    let mut s = String::from("## The answer\n\n");
    s.push_str(
        "Each strategy at the knob chosen on the validation split, against the plain 1:1 mix (filtering, scaling \
         and recycling also against plain CAS, synthetic images only). Two-stage training is compared with the \
         plain mix and with real only; it spends a second training budget (the CAS classifier's) on top.\n\n",
    );
    let head = ["dataset", "real data", "strategy (validated knob)", "test accuracy", "Δ vs reference [95 % CI]", ""];
    let mut t = md::Table::new(head, "llllll");
    for d in datasets {
        for r in rules_of(obs, d) {
            let ix = Index::new(obs, d, &r);
            for base in [Base::Real, Base::Mix, Base::Cas] {
                let a = Arm::plain(base);
                t.row([dataset_title(d), regime_title(&r), format!("**{}**", base.title()), cell_text(ix.test(&a))]);
            }
            for st in Strategy::ALL {
                for &base in bases_of(st) {
                    let Some(arm) = ix.chosen(base, st) else { continue };
                    let reference = reference_of(base);
                    let i = ix.paired(arm, &reference);
                    let vs = format!("{} vs {}", interval_text(i), reference.label());
                    let row = [dataset_title(d), regime_title(&r), ix.label(arm), cell_text(ix.test(arm)), vs];
                    t.row(row.into_iter().chain([direction(i).to_string()]));
                }
            }
            for arm in ix.combinations() {
                let reference = reference_of(arm.base);
                let i = ix.paired(arm, &reference);
                let (label, vs) = (
                    format!("combination: {}", ix.label(arm)),
                    format!("{} vs {}", interval_text(i), reference.label()),
                );
                let row = [dataset_title(d), regime_title(&r), label, cell_text(ix.test(arm)), vs];
                t.row(row.into_iter().chain([direction(i).to_string()]));
            }
        }
    }
    s.push_str(&t.render());
    s.push('\n');
    s
}

/// One dataset: per regime, every arm of every sweep, and the effects figure.
fn dataset_section(obs: &[StrategyObs], d: &str, w: &mut Writer) -> Result<String> {
    let mut s = format!("## {}: every setting\n\n", md::text(&dataset_title(d)));
    s.push_str(
        "Test accuracy of every arm; validation accuracy (mean over seeds) beside it, ✓ the knob chosen on it; Δ \
         is the paired difference in test accuracy to the reference (the plain mix, or plain CAS for the CAS \
         arms) and to real only.\n\n",
    );
    let mut effects: Vec<super::figures::Effect> = Vec::new();
    for r in rules_of(obs, d) {
        let ix = Index::new(obs, d, &r);
        let before = effects.len();
        let _ = writeln!(s, "### {}\n", md::text(&format!("{}, {}", dataset_title(d), regime_title(&r))));
        let head = ["arm", "test accuracy", "validation", "Δ vs reference [95 % CI]", "Δ vs real only [95 % CI]"];
        let mut t = md::Table::new(head, "lllll");
        let real = Arm::plain(Base::Real);
        for (arm, _) in ix.by.iter() {
            let reference = reference_of(arm.base);
            let chosen = arm.single().is_some_and(|st| ix.chosen(arm.base, st) == Some(arm));
            let val = ix.val_mean(arm).map(|v| format!("{v:.4}{}", if chosen { " ✓" } else { "" }));
            let vs_ref = if arm.knobs.is_empty() { None } else { ix.paired(arm, &reference) };
            t.row([
                ix.label(arm),
                cell_text(ix.test(arm)),
                val.unwrap_or_else(|| "–".into()),
                vs_ref.map(|i| format!("{} ({})", i.text(true), direction(Some(i)))).unwrap_or_else(|| "–".into()),
                if *arm == real { "–".into() } else { interval_text(ix.paired(arm, &real)) },
            ]);
            let combined = arm.knobs.len() > 1;
            if (chosen || combined) && arm.base != Base::Cas {
                if let Some(i) = ix.paired(arm, &reference) {
                    let knobs: Vec<String> = arm.knobs.iter().map(|(st, v)| format!("{} {v}", st.knob())).collect();
                    effects.push(super::figures::Effect {
                        group: format!("{} ({})", short_regime(&r), knobs.join(", ")),
                        series: arm.single().map(|st| st.short().to_string()).unwrap_or_else(|| "combination".into()),
                        interval: i,
                    });
                }
            }
        }
        s.push_str(&t.render());
        s.push('\n');
        s.push_str(&combination_lines(&ix));
        // Rows of a regime in the strategies' fixed order, the combination
        // last, so each strategy keeps its row position and colour in every
        // regime and figure.
        let rank = |e: &super::figures::Effect| {
            Strategy::ALL.iter().position(|st| st.short() == e.series).unwrap_or(Strategy::ALL.len())
        };
        effects[before..].sort_by_key(rank);
    }
    let name = format!("effects-{}.png", super::writer::file_part(d));
    let title = format!("{}: each strategy (validated knob) minus the plain mix, test accuracy", dataset_title(d));
    if let Some(png) = super::figures::effects(&title, &effects)? {
        w.write(&name, &png)?;
        let _ = writeln!(
            s,
            "![{}]({name})\n\nEach point is the mean paired difference to the plain mix over seeds, the bar its \
             95 % interval; right of 0 is better.\n",
            md::text(&title)
        );
    }
    Ok(s)
}

/// The combined arms of a regime, if the study ran any.
fn combination_lines(ix: &Index) -> String {
    let combos = ix.combinations();
    if combos.is_empty() {
        return String::new();
    }
    let mut s = String::from("Combinations (strategies that helped, at their validated knobs):\n\n");
    for a in combos {
        let i = ix.paired(a, &reference_of(a.base));
        let _ = writeln!(
            s,
            "- {}: {}; Δ vs reference {} ({})",
            ix.label(a),
            cell_text(ix.test(a)),
            interval_text(i),
            direction(i)
        );
    }
    s.push('\n');
    s
}

/// FID, recognition and acceptance of every pool: what the sampling knobs do
/// to the images.
fn quality_section(pools: &[PoolQuality], datasets: &[String]) -> String {
    if pools.is_empty() {
        return String::new();
    }
    let mut s = String::from("## What filtering and latent scaling do to the images\n\n");
    s.push_str(
        "FID (lower: closer to the real test set) and recognition (share of images the features network assigns \
         to their intended class) of every pool against the real test set, by the same features network as the \
         generators' training curves; for filtering, the share of generated candidates the judge accepted (mean \
         over classes). Mean ± std over the seeds' pools.\n\n",
    );
    let mut t = md::Table::new(["dataset", "real data", "pool", "FID", "recognition", "acceptance"], "llllll");
    for d in datasets {
        let mut keys: Vec<(Subset, Vec<(Strategy, String)>)> = Vec::new();
        for p in pools.iter().filter(|p| &p.dataset == d) {
            let k = (p.rule.clone(), p.knobs.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        // By regime, then plain, single knobs, combinations; by strategy, then value.
        let values = |k: &[(Strategy, String)]| -> Vec<f64> { k.iter().map(|x| x.1.parse().unwrap_or(0.0)).collect() };
        keys.sort_by(|a, b| {
            share(&a.0)
                .total_cmp(&share(&b.0))
                .then(a.1.len().cmp(&b.1.len()))
                .then(a.1.iter().map(|k| k.0).cmp(b.1.iter().map(|k| k.0)))
                .then(values(&a.1).partial_cmp(&values(&b.1)).unwrap_or(std::cmp::Ordering::Equal))
        });
        for (rule, knobs) in keys {
            let these: Vec<&PoolQuality> =
                pools.iter().filter(|p| &p.dataset == d && p.rule == rule && p.knobs == knobs).collect();
            let cell = |f: &dyn Fn(&PoolQuality) -> f64| {
                let c = Cell::new(these.iter().map(|p| (p.seed, f(p))).collect());
                format!("{:.3} ± {:.3} (n={})", c.mean, c.std, c.values.len())
            };
            let acc: Vec<f64> = these.iter().filter_map(|p| p.acceptance).collect();
            let filled = these.iter().map(|p| p.filled).sum::<f64>() / these.len() as f64;
            let label = if knobs.is_empty() {
                "plain".to_string()
            } else {
                knobs
                    .iter()
                    .map(|(st, v)| format!("{} {} = {v}", st.title(), st.knob()))
                    .collect::<Vec<_>>()
                    .join(" + ")
            };
            let acceptance = match (stats::mean(&acc), filled > 0.0) {
                (None, _) => "–".into(),
                (Some(a), false) => format!("{a:.4}"),
                (Some(a), true) => format!("{a:.4} † ({:.1} % of images below τ)", 100.0 * filled),
            };
            let (fid, rec) = (cell(&|p| p.fid), cell(&|p| p.recognition));
            t.row([dataset_title(d), regime_title(&rule), label, fid, rec, acceptance]);
        }
    }
    s.push_str(&t.render());
    s.push('\n');
    s
}

/// The strategies a combination may stack: the pool's (filtering, scaling)
/// and the loss's (down-weighting). Recycling draws from a plain pool ten
/// times the mix's size, which a filtered pool is not; two-stage training
/// starts from a CAS classifier, a different base.
fn combinable(base: Base) -> &'static [Strategy] {
    match base {
        Base::Mix => &[Strategy::Filter, Strategy::Scale, Strategy::Weight],
        Base::Cas => &[Strategy::Filter, Strategy::Scale],
        Base::Real => &[],
    }
}

/// Mean validation accuracy of `arm` minus its reference's.
fn val_gain(ix: &Index, arm: &Arm) -> Option<f64> {
    Some(ix.val_mean(arm)? - ix.val_mean(&reference_of(arm.base))?)
}

/// What helped on validation, per regime: the recipe of the combination
/// phase (each combinable strategy at its validated knob, kept when its mean
/// validation accuracy beats the reference's), so the combination is chosen
/// without the test set, by a rule a reader can check.
fn recipe_section(obs: &[StrategyObs], datasets: &[String]) -> String {
    let mut s = String::from(
        "## What helped on validation: the combination's recipe

",
    );
    s.push_str(
        "Per regime, each strategy that can be stacked (the pool's filtering and latent scaling; the loss's \
         down-weighting) at its validated knob, and its mean validation accuracy minus the reference's. The \
         combination arms (pipelines/strategies.toml, `combo`) stack those with a gain above 0. Recycling is left \
         out because it redraws from a plain pool ten times the mix's size, and two-stage training because it \
         starts from a CAS classifier rather than a mix.\n\n",
    );
    let head = ["dataset", "real data", "base", "strategy", "validated knob", "Δ validation", "stacked"];
    let mut t = md::Table::new(head, "lllllll");
    for d in datasets {
        for r in rules_of(obs, d) {
            let ix = Index::new(obs, d, &r);
            for base in [Base::Mix, Base::Cas] {
                for &st in combinable(base) {
                    let Some(arm) = ix.chosen(base, st) else { continue };
                    let Some(gain) = val_gain(&ix, arm) else { continue };
                    let knob = format!("{} {}", st.knob(), arm.knobs[0].1);
                    let row = [dataset_title(d), regime_title(&r), base.title().into(), st.title().into(), knob];
                    t.row(
                        row.into_iter().chain([format!("{gain:+.4}"), (if gain > 0.0 { "yes" } else { "no" }).into()]),
                    );
                }
            }
        }
    }
    s.push_str(&t.render());
    s.push('\n');
    s
}

/// GaFi's reported gaps between CAS and real-data accuracy (Lampis et al.,
/// 2023), in accuracy points.
const GAFI_GAPS: [(&str, f64); 2] = [("fashion-mnist", 0.0203), ("cifar-10", 0.0178)];

/// The synthetic-to-real gap: real only minus CAS, plain and at each
/// strategy's validated knob and combined, beside GaFi's.
fn cas_section(obs: &[StrategyObs], datasets: &[String]) -> String {
    let mut s = String::from("## The synthetic-to-real gap (CAS), beside GaFi\n\n");
    s.push_str(
        "Gap = real-only accuracy − synthetic-only accuracy (same regime, same seed), with its 95 % interval. GaFi \
         (Lampis et al., 2023) reports gaps of 2.03 % on Fashion-MNIST and 1.78 % on CIFAR-10 with the whole real \
         training set. Their generator (a class-conditional BigGAN-style GAN), classifier (a ResNet-20), training \
         length and filtering pipeline all differ from ours (an MLP cGAN, the Simple CNN at 120 000 images), so the \
         comparison says how far this setup is from theirs, not which method is better.\n\n",
    );
    let mut t = md::Table::new(["dataset", "real data", "CAS arm", "gap [95 % CI]", "GaFi's gap"], "lllll");
    for d in datasets {
        let gafi = GAFI_GAPS
            .iter()
            .find(|g| g.0 == super::model::paper_dataset(d))
            .map(|g| format!("{:.4}", g.1))
            .unwrap_or_else(|| "–".into());
        for r in rules_of(obs, d) {
            let ix = Index::new(obs, d, &r);
            let real = Arm::plain(Base::Real);
            let mut arms = vec![Arm::plain(Base::Cas)];
            arms.extend(
                [Strategy::Filter, Strategy::Scale, Strategy::Recycle]
                    .into_iter()
                    .filter_map(|st| ix.chosen(Base::Cas, st).cloned()),
            );
            arms.extend(ix.combinations().into_iter().filter(|a| a.base == Base::Cas).cloned());
            for a in arms {
                if ix.get(&a).is_empty() {
                    continue;
                }
                let full = matches!(r, Subset::Rest(_));
                let gap = interval_text(ix.paired(&real, &a));
                t.row([
                    dataset_title(d),
                    regime_title(&r),
                    ix.label(&a),
                    gap,
                    (if full { gafi.as_str() } else { "–" }).into(),
                ]);
            }
        }
    }
    s.push_str(&t.render());
    s.push('\n');
    s
}

fn results_csv(obs: &[StrategyObs]) -> Result<String> {
    let mut wr = csv::Writer::from_writer(Vec::new());
    for o in obs {
        let strategies: Vec<String> = o.arm.knobs.iter().map(|(s, v)| format!("{s:?}={v}").to_lowercase()).collect();
        wr.serialize(StrategyRow {
            dataset: o.dataset.clone(),
            regime: o.rule.to_string(),
            base: format!("{:?}", o.arm.base).to_lowercase(),
            strategies: strategies.join(";"),
            seed: o.seed,
            test_accuracy: o.test,
            validation_accuracy: o.val,
            acceptance: o.acceptance,
            filled_below_tau: o.filled,
            classifier: o.classifier.clone(),
            train_set: o.train.clone(),
        })
        .map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    }
    let bytes = wr.into_inner().map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    Ok(String::from_utf8(bytes).expect("csv of UTF-8 strings"))
}

#[cfg(test)]
mod tests {
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
        let ix = Index::new(&v, "mnist", &Subset::Fraction(0.01));
        let chosen = ix.chosen(Base::Mix, Strategy::Filter).unwrap();
        assert_eq!(chosen, &filter("0.9"));
        let i = ix.paired(chosen, &Arm::plain(Base::Mix)).unwrap();
        assert!((i.mean - 0.021).abs() < 1e-9 && i.lo > 0.0, "{i:?}");
        assert_eq!(direction(Some(i)), "better");
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
        let recipe = recipe_section(&v, &ds);
        assert!(recipe.contains("| confidence filtering | τ 0.9 | -0.0100 | no |"), "{recipe}");
        assert!(recipe.contains("| down-weighting | w 0.25 | +0.0300 | yes |"), "{recipe}");
        let answer = answers_section(&v, &ds);
        let row = answer.lines().find(|l| l.contains("combination:")).expect(&answer);
        assert!(row.contains("confidence filtering τ = 0.9 + down-weighting w = 0.25 †"), "{row}");
        assert!(row.contains("+0.0410") && row.ends_with("| better |"), "{row}");
        let same = Index::new(&v, "mnist", &Subset::Fraction(0.01));
        assert_eq!(direction(same.paired(&Arm::plain(Base::Mix), &Arm::plain(Base::Mix))), "identical");
    }
}
