//! The regimes study's report (`synthmix report --study regimes`): class
//! imbalance, scarce real data and the synthetic-to-real gap (CAS).
//!
//! Every result is labelled from the artifacts themselves: the classifier's
//! checkpoint (dataset, seed, rebalancing), its training set's metadata (the
//! subset rule of its real part, fill or ratio, the generator) and the
//! provenance of the mix and of the generator (which real file each was made
//! from, by BLAKE3, so the report can check that every generator saw only its
//! regime's real subset). Statistics are the paper study's: mean ± std over
//! seeds, and paired differences (same seed) with 95 % Student-t intervals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::context::Context;
use super::kind::StudyKind;
use super::md;
use super::model::{cell_text, dataset_title, Cell};
use super::results::RegimeRow;
use super::stats::{direction, interval_text, Interval, Verdict};
use super::study::{MetaCache, ReportParams};
use super::writer::Writer;
use crate::artifact::meta::{MixKind, MixRecord, SetMeta};
use crate::artifact::provenance;
use crate::data::subset::Subset;
use crate::error::{Error, IoContext, Result};
use crate::metrics::evaluate::EvalReport;

/// How a classifier's training set was made from its regime's real subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arm {
    /// The real subset as it is.
    Real,
    Oversample,
    ClassWeight,
    /// Minority classes filled with synthetic images up to balance.
    Fill,
    /// Every real image plus this many synthetic images per real one.
    Synthetic(u32),
    /// Synthetic images only (Classification Accuracy Score).
    Cas,
}

impl Arm {
    pub fn label(&self) -> String {
        match self {
            Arm::Real => "real only".into(),
            Arm::Oversample => "oversampling".into(),
            Arm::ClassWeight => "class-weighted loss".into(),
            Arm::Fill => "synthetic fill".into(),
            Arm::Synthetic(m) => format!("+{m}× synthetic"),
            Arm::Cas => "synthetic only (CAS)".into(),
        }
    }
}

/// One classifier scored on its dataset's real test set.
#[derive(Debug, Clone)]
pub struct RegimeObs {
    pub dataset: String,
    pub rule: Subset,
    pub arm: Arm,
    pub seed: u64,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub recall: Vec<f64>,
    /// Real training images per class (arms on the real subset itself; empty for the others).
    pub class_sizes: Vec<usize>,
    pub classifier: String,
    pub train: String,
    /// For arms with synthetic images: whether the generator was trained on
    /// the same real file as the classifier's real part (None: no record).
    pub fair: Option<bool>,
    /// The generator's final FID and recognition, where recorded.
    pub generator_quality: Quality,
}

/// A generator's final (FID, recognition), where its checkpoint records them.
pub type Quality = (Option<f64>, Option<f64>);

/// The provenance input of `role` of an artifact: its BLAKE3.
fn input_hash(artifact: &Path, role: &str) -> Option<String> {
    let p = provenance::read(&provenance::path_for(artifact)).ok()?;
    p.inputs.into_iter().find(|i| i.role == role).map(|i| i.blake3)
}

#[derive(Default)]
struct Labeller {
    meta: MetaCache,
    sizes: BTreeMap<PathBuf, Vec<usize>>,
}

impl Labeller {
    fn meta(&mut self, p: &Path) -> Result<SetMeta> {
        self.meta.set(p)
    }

    /// Labels one result; `None` for a test set that is not real.
    /// A real test set: imported or named (source real), or a mix-build
    /// subset of one with no synthetic image in it.
    fn real_test(&mut self, r: &crate::metrics::evaluate::EvalResult) -> bool {
        match r.test_source.as_str() {
            "real" => true,
            "mix" => self.meta(Path::new(&r.test)).is_ok_and(|m| m.synthetic_count() == Some(0)),
            _ => false,
        }
    }

    fn observe(&mut self, r: &crate::metrics::evaluate::EvalResult) -> Result<Option<RegimeObs>> {
        if !self.real_test(r) {
            return Ok(None);
        }
        let cpath = PathBuf::from(&r.classifier);
        let cm = self.meta.checkpoint(&cpath)?;
        let rec = cm.classifier().ok_or_else(|| Error::format(&cpath, "is not a classifier trained by clf-train"))?;
        let (dataset, seed, train) = (cm.dataset.clone(), rec.seed, rec.train.clone());
        let tpath = PathBuf::from(&train);
        let tm = self.meta(&tpath).map_err(|e| Error::Invalid(format!("training set of {}: {e}", r.classifier)))?;
        let rule = tm.subset.as_ref().map(|s| s.rule.clone()).ok_or_else(|| {
            Error::format(
                &tpath,
                "no subset rule in its metadata: not a regimes-study training set (mix-build --subset)",
            )
        })?;
        let synthetic = tm.synthetic_count().unwrap_or(0);
        let arm = if matches!(tm.mix, Some(MixRecord { kind: MixKind::Fill, .. })) {
            Arm::Fill
        } else {
            let ratio = tm.ratio().ok_or_else(|| Error::format(&tpath, "no O:S ratio in its metadata"))?;
            match (ratio.original, ratio.synthetic) {
                (0, _) => Arm::Cas,
                (_, 0) => match rec.rebalance.as_deref() {
                    Some("oversample") => Arm::Oversample,
                    Some("class-weight") => Arm::ClassWeight,
                    _ => Arm::Real,
                },
                (1, m) => Arm::Synthetic(m),
                _ => return Err(Error::format(&tpath, format!("ratio {ratio} is not 1:M, 0:1 or 1:0"))),
            }
        };
        let (fair, quality) = if synthetic > 0 { self.generator_check(&tpath, &tm)? } else { (None, (None, None)) };
        let class_sizes = self.class_sizes(&tpath, arm);
        Ok(Some(RegimeObs {
            dataset,
            rule,
            arm,
            seed,
            accuracy: r.accuracy,
            balanced_accuracy: r.balanced_accuracy,
            macro_f1: r.macro_f1,
            recall: r.per_class_accuracy.clone(),
            class_sizes,
            classifier: r.classifier.clone(),
            train,
            fair,
            generator_quality: quality,
        }))
    }

    /// Whether the mix's generator was trained on the very real file the
    /// mix's real part came from, and the generator's final FID/recognition.
    fn generator_check(&mut self, mix: &Path, mm: &SetMeta) -> Result<(Option<bool>, Quality)> {
        let Some(s) = &mm.sampled else { return Ok((None, (None, None))) };
        let gpath = s.generator.clone();
        let fid = self.meta.checkpoint(&gpath).ok().and_then(|g| g.gan().and_then(|g| g.fid.clone()));
        let quality = (fid.as_ref().map(|f| f.fid), fid.as_ref().map(|f| f.recognition));
        let fair = match (input_hash(mix, "real"), input_hash(&gpath, "train")) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        Ok((fair, quality))
    }

    /// Real training images per class, for the arms trained on the real
    /// subset itself (the imbalance tables show them); each file read once.
    fn class_sizes(&mut self, tpath: &Path, arm: Arm) -> Vec<usize> {
        if !matches!(arm, Arm::Real | Arm::Oversample | Arm::ClassWeight) {
            return vec![];
        }
        self.sizes
            .entry(tpath.to_path_buf())
            .or_insert_with(|| {
                crate::artifact::image_set::read(tpath).map(|set| set.class_histogram()).unwrap_or_default()
            })
            .clone()
    }
}

/// Every real-test result of every METRICS.json, labelled.
pub fn gather(metrics: &[PathBuf]) -> Result<Vec<RegimeObs>> {
    let mut lab = Labeller::default();
    let mut out = Vec::new();
    for mpath in metrics {
        let bytes = std::fs::read(mpath).at(mpath)?;
        let rep: EvalReport = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(mpath, format!("not evaluate's METRICS.json: {e}")))?;
        for r in &rep.results {
            if let Some(o) = lab.observe(r).map_err(|e| Error::Invalid(format!("{}: {e}", mpath.display())))? {
                out.push(o);
            }
        }
    }
    Ok(out)
}

/// A metric of an observation.
#[derive(Clone, Copy)]
enum Metric {
    Accuracy,
    Balanced,
    MacroF1,
}

impl Metric {
    fn of(&self, o: &RegimeObs) -> f64 {
        match self {
            Metric::Accuracy => o.accuracy,
            Metric::Balanced => o.balanced_accuracy,
            Metric::MacroF1 => o.macro_f1,
        }
    }
}

/// The observations of one dataset, looked up by (rule, arm).
struct Index<'a> {
    by: BTreeMap<(String, Arm), Vec<&'a RegimeObs>>,
}

impl<'a> Index<'a> {
    fn new(obs: &'a [RegimeObs], dataset: &str) -> Self {
        let mut by: BTreeMap<(String, Arm), Vec<&RegimeObs>> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.dataset == dataset) {
            by.entry((o.rule.to_string(), o.arm)).or_default().push(o);
        }
        for v in by.values_mut() {
            v.sort_by_key(|o| o.seed);
        }
        Index { by }
    }

    fn get(&self, rule: &Subset, arm: Arm) -> &[&'a RegimeObs] {
        self.by.get(&(rule.to_string(), arm)).map(Vec::as_slice).unwrap_or(&[])
    }

    fn cell(&self, rule: &Subset, arm: Arm, m: Metric) -> Option<Cell> {
        let v = self.get(rule, arm);
        (!v.is_empty()).then(|| Cell::new(v.iter().map(|o| (o.seed, m.of(o))).collect()))
    }

    /// `metric(a) − metric(b)` per seed both have, with its 95 % interval.
    fn paired(&self, a: (&Subset, Arm), b: (&Subset, Arm), m: Metric) -> Option<Interval> {
        let bs: BTreeMap<u64, f64> = self.get(b.0, b.1).iter().map(|o| (o.seed, m.of(o))).collect();
        let d: Vec<f64> = self.get(a.0, a.1).iter().filter_map(|o| bs.get(&o.seed).map(|vb| m.of(o) - vb)).collect();
        Interval::of(&d)
    }

    fn rules(&self) -> Vec<Subset> {
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

fn fraction_of(r: &Subset) -> Option<f64> {
    match r {
        Subset::Fraction(f) => Some(*f),
        _ => None,
    }
}

fn pct(f: f64) -> String {
    format!("{} %", (f * 1000.0).round() / 10.0)
}

/// The regimes study's report.md text, with its results.csv and figures
/// written into the report folder; the writer and the runs' context.
pub fn render(params: &ReportParams) -> Result<(Writer, Context, String)> {
    let obs = gather(&params.metrics)?;
    if obs.is_empty() {
        return Err(Error::Invalid(
            "the METRICS.json files hold no result on a real test set of a regimes-study classifier".into(),
        ));
    }
    let mut w = Writer::create(&params.out)?;
    let (ctx, datasets) = super::study::context_and_datasets(params, obs.iter().map(|o| o.dataset.clone()));

    let mut md = String::new();
    let title = params.title_or(StudyKind::Regimes);
    md.push_str(&super::md::opening(&title, &params.notes));
    let _ = writeln!(
        md,
        "{} results from {} METRICS.json files, every classifier tested on its dataset's real test set. Each \
         value is the mean ± sample standard deviation over study seeds (n = seeds); each comparison is a paired \
         difference (same seed) with its 95 % Student-t interval, called better or worse only when the interval \
         excludes 0 and inconclusive otherwise.\n",
        obs.len(),
        params.metrics.len()
    );
    md.push_str(&answers_section(&obs, &datasets));
    md.push_str(&fairness_section(&obs));
    for d in &datasets {
        md.push_str(&imbalance_section(&obs, d, &mut w)?);
    }
    for d in &datasets {
        md.push_str(&scarce_section(&obs, d, &mut w)?);
    }
    md.push_str(&cas_section(&obs, &datasets));
    md.push_str("## Settings, provenance and cost\n\n");
    md.push_str(&super::context::context_markdown(&ctx, ""));
    w.write("results.csv", results_csv(&obs)?.as_bytes())?;
    let _ = writeln!(md, "All results, one row per classifier: [results.csv](results.csv).");
    Ok((w, ctx, md))
}

fn results_csv(obs: &[RegimeObs]) -> Result<String> {
    let mut wr = csv::Writer::from_writer(Vec::new());
    for o in obs {
        wr.serialize(RegimeRow {
            dataset: o.dataset.clone(),
            regime: o.rule.to_string(),
            arm: o.arm.label(),
            seed: o.seed,
            accuracy: o.accuracy,
            balanced_accuracy: o.balanced_accuracy,
            macro_f1: o.macro_f1,
            per_class_recall: o.recall.iter().map(|r| format!("{r:.6}")).collect::<Vec<_>>().join(";"),
            classifier: o.classifier.clone(),
            train_set: o.train.clone(),
            generator_on_same_subset: match o.fair {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => String::new(),
            },
        })
        .map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    }
    let bytes = wr.into_inner().map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("results.csv: {e}")))
}

/// The fair-generator check over every result with synthetic images.
fn fairness_section(obs: &[RegimeObs]) -> String {
    let with: Vec<&RegimeObs> =
        obs.iter().filter(|o| matches!(o.arm, Arm::Fill | Arm::Synthetic(_) | Arm::Cas)).collect();
    let fair = with.iter().filter(|o| o.fair == Some(true)).count();
    let unfair: Vec<&&RegimeObs> = with.iter().filter(|o| o.fair == Some(false)).collect();
    let unknown = with.len() - fair - unfair.len();
    let mut s = String::from("## The fair generator\n\n");
    let _ = writeln!(
        s,
        "Every regime's generator is trained on that regime's reduced real set only, never on the full set (which \
         would leak the removed real images into the synthetic ones). Checked from the provenance: for each of \
         the {} classifiers trained with synthetic images, the BLAKE3 of the real file its mix was built from \
         equals the BLAKE3 of its generator's training file in {} cases{}{}.\n",
        with.len(),
        fair,
        if unknown > 0 { format!(", {unknown} without a provenance record to check") } else { String::new() },
        if unfair.is_empty() { String::new() } else { format!("; **{} do not**", unfair.len()) }
    );
    for o in unfair.iter().take(10) {
        let _ = writeln!(s, "- generator not trained on the classifier's real subset: `{}`", o.classifier);
    }
    s
}

/// The three questions, one sentence each, from the statistics below.
fn answers_section(obs: &[RegimeObs], datasets: &[String]) -> String {
    let mut s = String::from("## Answers\n\n");
    for d in datasets {
        let ix = Index::new(obs, d);
        let name = dataset_title(d);
        for rule in ix.rules().iter().filter(|r| r.is_imbalanced()) {
            let fo = ix.paired((rule, Arm::Fill), (rule, Arm::Oversample), Metric::Balanced);
            let fw = ix.paired((rule, Arm::Fill), (rule, Arm::ClassWeight), Metric::Balanced);
            let _ = writeln!(
                s,
                "- **{name}, imbalance `{rule}`:** synthetic fill against oversampling, balanced accuracy {} \
                 ({}); against class weighting {} ({}).",
                interval_text(fo),
                direction(fo),
                interval_text(fw),
                direction(fw)
            );
        }
        if let Some(line) = scarce_answer(&ix) {
            let _ = writeln!(s, "- **{name}, scarce data:** {line}");
        }
        for rule in ix.rules() {
            if rule == Subset::Fraction(1.0) {
                let gap = ix.paired((&rule, Arm::Real), (&rule, Arm::Cas), Metric::Accuracy);
                let _ = writeln!(
                    s,
                    "- **{name}, synthetic-to-real gap (all real data):** accuracy(real-trained) − \
                     accuracy(synthetic-trained) = {}.",
                    interval_text(gap)
                );
            }
        }
    }
    s.push('\n');
    s
}

/// Which real fractions synthetic data helps at, in one sentence.
fn scarce_answer(ix: &Index) -> Option<String> {
    let mut fr: Vec<(f64, Subset)> = ix.rules().into_iter().filter_map(|r| fraction_of(&r).map(|f| (f, r))).collect();
    fr.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut helps = Vec::new();
    let mut tested = Vec::new();
    for (f, r) in &fr {
        let mults = mults_of(ix, r);
        if mults.is_empty() {
            continue;
        }
        tested.push(*f);
        let any = mults.iter().any(|&m| {
            ix.paired((r, Arm::Synthetic(m)), (r, Arm::Real), Metric::Accuracy)
                .is_some_and(|i| Verdict::of_sign(&i) == Verdict::Better)
        });
        if any {
            helps.push(*f);
        }
    }
    if tested.is_empty() {
        return None;
    }
    let list = |v: &[f64]| v.iter().map(|&f| pct(f)).collect::<Vec<_>>().join(", ");
    let last_help = helps.last().copied();
    Some(match last_help {
        None => format!(
            "adding synthetic images raised accuracy significantly at none of the real fractions tested ({}).",
            list(&tested)
        ),
        Some(l) => {
            let beyond: Vec<f64> = tested.iter().copied().filter(|&f| f > l).collect();
            format!(
                "adding synthetic images raised accuracy significantly (some multiple's interval above 0) at {} \
                 real data{}.",
                list(&helps),
                if beyond.is_empty() {
                    " — at every fraction tested".to_string()
                } else {
                    format!("; from {} on it stops helping (no multiple's interval above 0)", list(&beyond))
                }
            )
        }
    })
}

fn mults_of(ix: &Index, r: &Subset) -> Vec<u32> {
    let mut m: Vec<u32> = ix
        .by
        .keys()
        .filter(|(rr, _)| *rr == r.to_string())
        .filter_map(|(_, a)| if let Arm::Synthetic(m) = a { Some(*m) } else { None })
        .collect();
    m.sort_unstable();
    m
}

fn imbalance_section(obs: &[RegimeObs], d: &str, w: &mut Writer) -> Result<String> {
    let ix = Index::new(obs, d);
    let rules: Vec<Subset> = ix.rules().into_iter().filter(|r| r.is_imbalanced()).collect();
    if rules.is_empty() {
        return Ok(String::new());
    }
    let upper = ix.rules().into_iter().find(|r| matches!(r, Subset::Balanced(_)));
    let mut s = format!("## Class imbalance: {}\n\n", dataset_title(d));
    let _ = writeln!(
        s,
        "Arms on the real test set. Δ is the paired difference in balanced accuracy against the imbalanced real \
         set as it is.{}\n",
        match &upper {
            Some(u) => format!(" The upper bound is the balanced real set `{u}`."),
            None => String::new(),
        }
    );
    for rule in &rules {
        let arms = [Arm::Real, Arm::Oversample, Arm::ClassWeight, Arm::Fill];
        let sizes = ix.get(rule, Arm::Real).first().map(|o| o.class_sizes.clone()).unwrap_or_default();
        let _ = writeln!(
            s,
            "### `{rule}`{}\n",
            if sizes.is_empty() { String::new() } else { format!(" (real images per class: {sizes:?})") }
        );
        let head = ["Arm", "Accuracy", "Balanced accuracy", "Macro-F1", "Δ balanced accuracy vs real only"];
        let mut t = md::Table::new(head, "lrrrr");
        let mut rows: Vec<(String, &Subset, Arm)> = arms.iter().map(|a| (a.label(), rule, *a)).collect();
        if let Some(u) = &upper {
            rows.push(("balanced real (upper bound)".into(), u, Arm::Real));
        }
        for (label, r, a) in &rows {
            let delta = if *a == Arm::Real && *r == rule {
                "–".to_string()
            } else {
                interval_text(ix.paired((r, *a), (rule, Arm::Real), Metric::Balanced))
            };
            let [acc, bal, f1] =
                [Metric::Accuracy, Metric::Balanced, Metric::MacroF1].map(|m| cell_text(ix.cell(r, *a, m)));
            t.row([label.clone(), acc, bal, f1, delta]);
        }
        s.push_str(&t.render());
        for (other, name) in [(Arm::Oversample, "oversampling"), (Arm::ClassWeight, "class weighting")] {
            for (m, mname) in [(Metric::Balanced, "balanced accuracy"), (Metric::MacroF1, "macro-F1")] {
                let i = ix.paired((rule, Arm::Fill), (rule, other), m);
                let _ = writeln!(
                    s,
                    "\nSynthetic fill − {name}, {mname}: {} → fill is **{}**.",
                    interval_text(i),
                    direction(i)
                );
            }
        }
        let mut series: Vec<(String, Vec<f64>)> = Vec::new();
        for (label, r, a) in &rows {
            let v = ix.get(r, *a);
            if v.is_empty() {
                continue;
            }
            let k = v[0].recall.len();
            let mean: Vec<f64> = (0..k)
                .map(|c| v.iter().map(|o| o.recall.get(c).copied().unwrap_or(0.0)).sum::<f64>() / v.len() as f64)
                .collect();
            series.push((label.clone(), mean));
        }
        s.push_str("\nPer-class recall (mean over seeds):\n\n");
        let k = series.first().map(|x| x.1.len()).unwrap_or(0);
        let mut t = md::Table::new(
            std::iter::once("Arm".to_string()).chain((0..k).map(|c| c.to_string())),
            &format!("l{}", "r".repeat(k)),
        );
        for (label, v) in &series {
            t.row(std::iter::once(label.clone()).chain(v.iter().map(|x| format!("{x:.3}"))));
        }
        s.push_str(&t.render());
        let slug = rule.to_string().replace([':', ','], "-");
        let name = format!("imbalance-{}-{}-recall.png", super::writer::file_part(d), super::writer::file_part(&slug));
        let title = format!("{} {rule}: per-class recall", dataset_title(d));
        if let Some(png) = super::figures::recall_lines(&title, &series, &sizes)? {
            w.write(&name, &png)?;
            let _ = writeln!(s, "\n![{}]({name})\n", md::text(&title));
        }
    }
    Ok(s)
}

fn scarce_section(obs: &[RegimeObs], d: &str, w: &mut Writer) -> Result<String> {
    let ix = Index::new(obs, d);
    let mut fr: Vec<(f64, Subset)> = ix.rules().into_iter().filter_map(|r| fraction_of(&r).map(|f| (f, r))).collect();
    fr.sort_by(|a, b| a.0.total_cmp(&b.0));
    let with_gen: Vec<&(f64, Subset)> = fr.iter().filter(|(_, r)| !mults_of(&ix, r).is_empty()).collect();
    if with_gen.is_empty() {
        return Ok(String::new());
    }
    let mut mults: Vec<u32> = with_gen.iter().flat_map(|(_, r)| mults_of(&ix, r)).collect();
    mults.sort_unstable();
    mults.dedup();
    let mut s = format!("## Scarce real data: {}\n\n", md::text(&dataset_title(d)));
    s.push_str("Test accuracy by real fraction (rows) and synthetic images added per real image (columns).\n\n");
    let head = ["Real fraction".to_string(), "0× (real only)".into()]
        .into_iter()
        .chain(mults.iter().map(|m| format!("+{m}×")));
    let mut t = md::Table::new(head, &"r".repeat(mults.len() + 2));
    for (f, r) in &with_gen {
        let mut row = vec![pct(*f), cell_text(ix.cell(r, Arm::Real, Metric::Accuracy))];
        row.extend(mults.iter().map(|m| cell_text(ix.cell(r, Arm::Synthetic(*m), Metric::Accuracy))));
        t.row(row);
    }
    s.push_str(&t.render());
    s.push_str(
        "\nGain from the synthetic images (paired against 0× at the same real fraction), and against the \
         reference \"the same number of extra images, but real\" (paired against real only at fraction f·(1+m), \
         where the full set allows it):\n\n",
    );
    let head = ["Real fraction", "Added", "Gain vs 0×", "Verdict", "vs the same count of real images", "Verdict"];
    let mut t = md::Table::new(head, "rrrlrl");
    for (f, r) in &with_gen {
        for m in mults_of(&ix, r) {
            let gain = ix.paired((r, Arm::Synthetic(m)), (r, Arm::Real), Metric::Accuracy);
            let target = f * (1.0 + m as f64);
            let reference = fr.iter().find(|(g, _)| (g - target).abs() < 1e-9).map(|(_, rr)| rr);
            let vs_real = reference.and_then(|rr| ix.paired((r, Arm::Synthetic(m)), (rr, Arm::Real), Metric::Accuracy));
            let vs = match reference {
                Some(rr) if vs_real.is_some() => format!("{} (vs `{rr}`)", interval_text(vs_real)),
                _ => "no reference (beyond the full set)".into(),
            };
            let vs_dir = if reference.is_some() { direction(vs_real) } else { "–" };
            t.row([pct(*f), format!("+{m}×"), interval_text(gain), direction(gain).into(), vs, vs_dir.into()]);
        }
    }
    s.push_str(&t.render());
    if let Some(line) = scarce_answer(&ix) {
        let _ = writeln!(s, "\n**Answer:** {line}");
    }
    // The figure: one curve per multiple (0× over every real fraction, the references included).
    let mut curves: Vec<super::figures::Curve> = Vec::new();
    let real_pts: Vec<(f64, f64, f64)> =
        fr.iter().filter_map(|(f, r)| ix.cell(r, Arm::Real, Metric::Accuracy).map(|c| (*f, c.mean, c.std))).collect();
    curves.push(("0× (real only)".into(), real_pts));
    for m in &mults {
        let pts = with_gen
            .iter()
            .filter_map(|(f, r)| ix.cell(r, Arm::Synthetic(*m), Metric::Accuracy).map(|c| (*f, c.mean, c.std)))
            .collect();
        curves.push((format!("+{m}× synthetic"), pts));
    }
    let name = format!("scarce-{}-accuracy.png", super::writer::file_part(d));
    let title = format!("{}: test accuracy against the real fraction", dataset_title(d));
    if let Some(png) = super::figures::fraction_curves(&title, &curves)? {
        w.write(&name, &png)?;
        let _ = writeln!(s, "\n![{}]({name})\n", md::text(&title));
    }
    Ok(s)
}

fn cas_section(obs: &[RegimeObs], datasets: &[String]) -> String {
    let mut s = String::from("## Synthetic-to-real gap (CAS)\n\n");
    s.push_str(
        "A classifier trained on synthetic images only (the size and class proportions of the regime's real \
         set) and tested on real images: its accuracy is the Classification Accuracy Score. The gap is \
         accuracy(trained on the regime's real set) − CAS, paired by seed. Anchor: GaFi (Lampis et al., 2023) \
         reports gaps of 2.03 % on Fashion-MNIST and 1.78 % on CIFAR-10 with a GAN and its strategies (filtering, \
         recycling, latent expansion); the plain generators here use none of them.\n\n",
    );
    for d in datasets {
        let ix = Index::new(obs, d);
        let rules: Vec<Subset> = ix.rules().into_iter().filter(|r| !ix.get(r, Arm::Cas).is_empty()).collect();
        if rules.is_empty() {
            continue;
        }
        let _ = writeln!(s, "### {}\n", md::text(&dataset_title(d)));
        let mut t =
            md::Table::new(["Regime", "Generator FID / recognition", "Real-trained", "CAS", "Gap (95 % CI)"], "lrrrr");
        let mut per_class: Vec<(String, Vec<Option<Interval>>)> = Vec::new();
        for r in &rules {
            let gap = ix.paired((r, Arm::Real), (r, Arm::Cas), Metric::Accuracy);
            let q = ix.get(r, Arm::Cas).first().map(|o| o.generator_quality).unwrap_or((None, None));
            let quality = match q {
                (Some(f), Some(rec)) => format!("{f:.1} / {rec:.3}"),
                _ => "–".into(),
            };
            let [real, cas] = [Arm::Real, Arm::Cas].map(|a| cell_text(ix.cell(r, a, Metric::Accuracy)));
            t.row([format!("`{r}`"), quality, real, cas, interval_text(gap)]);
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
        s.push_str(&t.render());
        let k = per_class.first().map(|x| x.1.len()).unwrap_or(0);
        if k > 0 {
            s.push_str(
                "\nGap per class (recall, real-trained − synthetic-trained): mean over seeds ± the half-width of its \
                 95 % interval:\n\n",
            );
            let head = std::iter::once("Regime".to_string()).chain((0..k).map(|c| c.to_string()));
            let mut t = md::Table::new(head, &format!("l{}", "r".repeat(k)));
            for (r, v) in &per_class {
                let cells: Vec<String> = v
                    .iter()
                    .map(|i| match i {
                        Some(i) if i.hi.is_finite() => format!("{:+.3} ± {:.3}", i.mean, i.hi - i.mean),
                        Some(i) => format!("{:+.3}", i.mean),
                        None => "–".into(),
                    })
                    .collect();
                t.row(std::iter::once(format!("`{r}`")).chain(cells));
            }
            s.push_str(&t.render());
        }
        s.push('\n');
    }
    s
}
