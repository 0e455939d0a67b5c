//! The regimes study's report as a typed document, with its figures and
//! CSVs written beside it.

use super::analysis::*;
use super::cas::{cas_section, CAS};
use super::collect::gather;
use super::rows::results_csv;
use super::*;
use crate::data::DataOptions;
use crate::report::document::{Block, Cell as Entry, Document, Figure, Provenance, Section, Table};

/// The regimes study's report, with its results.csv and figures written
/// into the report folder; the writer and the runs' context. With
/// `--prior`, the prior folder's results.csv rows that these METRICS.json
/// files do not recompute (all of them, without `--metrics`) are read back
/// and judged with the rest.
pub fn render(params: &ReportParams, opts: &DataOptions) -> Result<(Writer, Context, Document)> {
    let mut obs = gather(&params.metrics)?;
    let prior = read_prior(params, opts, &mut obs)?;
    if obs.is_empty() {
        return Err(Error::Invalid(
            "the METRICS.json files hold no result on a real test set of a regimes-study classifier".into(),
        ));
    }
    let found = obs.iter().map(|o| o.dataset.clone());
    let text = prior.as_ref().map(|p| &p.text);
    let (mut w, ctx, datasets, mut doc) = crate::report::study::open_report(params, StudyKind::Regimes, found, text)?;
    super::families::check_one_per_seed(&obs)?;
    let fam = comparisons(&obs, &datasets);
    doc.intro.push(Block::Prose(format!(
        "{} results from {}, every classifier tested on its dataset's real test set. Each value is the mean ± \
         sample standard deviation over study seeds (n = seeds); each comparison is a paired difference (same \
         seed) with its 95 % Student-t interval.\n\n{}\n",
        obs.len(),
        sources(params, prior.as_ref()),
        fam.describe(&format!(
            "every arm comparison of this report (imbalance arms against real only and fill against oversampling \
             and class weighting, on balanced accuracy and macro-F1; each synthetic multiple against 0× and against \
             the same count of real images; real-trained against CAS), over every dataset of the report{}",
            if datasets.iter().any(|d| sources_of(&obs, d).len() > 1) {
                " and every generator source, and each quality-matched generator's arms against its family's at the \
                 epoch budget"
            } else {
                ""
            }
        ))
    )));
    doc.sections.push(answers_section(&obs, &datasets, &fam));
    doc.sections.extend(super::families::generators_section(&obs));
    doc.sections.push(fairness_section(&obs));
    for d in &datasets {
        doc.sections.extend(imbalance_section(&obs, d, &fam, &mut w)?);
    }
    for d in &datasets {
        doc.sections.extend(scarce_sections(&obs, d, &fam, &mut w)?);
    }
    let (missing, note) = match &prior {
        Some(p) if !p.has_quality => (
            "not in the published CSV",
            "Generator FID / recognition of the imported rows: as the published report's own table printed them \
             (its results.csv had no column for them; it has from this report on).\n\n",
        ),
        _ => ("–", ""),
    };
    doc.sections.push(cas_section(&obs, &datasets, &fam, missing, note));
    doc.sections.extend(super::families::families_section(&obs, &datasets, &fam));
    let mut settings = crate::report::study::close_report(&ctx, &mut w, &results_csv(&obs)?, text)?;
    w.write("comparisons.csv", comparisons_csv(&fam)?.as_bytes())?;
    settings.prose(
        "Every judged comparison, with its raw and Holm-adjusted p-values: [comparisons.csv](comparisons.csv).\n",
    );
    doc.sections.push(settings);
    Ok((w, ctx, doc))
}

/// A `--prior` folder read back: its prose and whether its CSV records the
/// generators' quality.
struct PriorRead {
    text: crate::report::prior::PriorText,
    has_quality: bool,
    imported: usize,
}

/// Adds the prior folder's rows that `obs` lacks (same dataset, regime, arm
/// and seed); `obs`'s own win.
fn read_prior(params: &ReportParams, opts: &DataOptions, obs: &mut Vec<RegimeObs>) -> Result<Option<PriorRead>> {
    let Some(dir) = &params.prior else { return Ok(None) };
    let text = crate::report::prior::PriorText::read(dir)?;
    let (rows, has_quality) = super::rows::read_csv(&dir.join("results.csv"), opts)?;
    let key = |o: &RegimeObs| (o.dataset.clone(), o.rule.to_string(), o.arm, o.source(), o.seed);
    let have: std::collections::BTreeSet<_> = obs.iter().map(key).collect();
    let before = obs.len();
    obs.extend(rows.into_iter().filter(|o| !have.contains(&key(o))));
    if !has_quality {
        let printed = text.section(CAS).map(|s| super::rows::quality_from_report(&s)).unwrap_or_default();
        for o in obs[before..].iter_mut().filter(|o| o.arm.is_synthetic()) {
            if let Some(&(f, r)) = printed.get(&(dataset_title(&o.dataset), o.rule.to_string())) {
                o.generator_quality = (Some(f), Some(r));
            }
        }
    }
    Ok(Some(PriorRead { text, has_quality, imported: obs.len() - before }))
}

/// Where the results came from, for the opening sentence.
fn sources(params: &ReportParams, prior: Option<&PriorRead>) -> String {
    let files = format!("{} METRICS.json files", params.metrics.len());
    crate::report::prior::sources(files, params.metrics.is_empty(), prior.map(|p| (p.text.dir.as_path(), p.imported)))
}

/// comparisons.csv: every judged comparison of the family, one per line.
pub(super) fn comparisons_csv(fam: &Comparisons) -> Result<String> {
    let rows = fam.members.iter().map(|(k, c)| {
        let side = |x: &Side| match x.2.as_str() {
            "" => format!("{} {}", x.0, x.1.label()),
            source => format!("{} {} ({source})", x.0, x.1.label()),
        };
        crate::report::results::ComparisonRow::of(&k.dataset, &side(&k.a), &side(&k.b), k.metric.name(), c)
    });
    crate::report::results::comparisons_csv(rows)
}

/// The fair-generator check over every result with synthetic images.
pub(super) fn fairness_section(obs: &[RegimeObs]) -> Section {
    let with: Vec<&RegimeObs> = obs.iter().filter(|o| o.arm.is_synthetic()).collect();
    let fair = with.iter().filter(|o| o.fair == Some(true)).count();
    let unfair: Vec<&&RegimeObs> = with.iter().filter(|o| o.fair == Some(false)).collect();
    let unknown = with.len() - fair - unfair.len();
    let mut s = String::new();
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
    Section { title: "The fair generator".into(), blocks: vec![Block::Prose(s)] }
}

/// The three questions, one sentence each, from the statistics below.
pub(super) fn answers_section(obs: &[RegimeObs], datasets: &[String], fam: &Comparisons) -> Section {
    let mut s = String::new();
    for d in datasets {
        let sources = sources_of(obs, d);
        for src in &sources {
            answers_of(&Index::judged(obs, d, src, fam), &titled(d, src, sources.len()), &mut s);
        }
    }
    s.push('\n');
    Section { title: "Answers".into(), blocks: vec![Block::Prose(s)] }
}

/// The dataset's title, with the generator source's where the dataset has several.
pub(super) fn titled(d: &str, src: &Source, sources: usize) -> String {
    match (sources, src.label()) {
        (0 | 1, _) => dataset_title(d),
        (_, l) if l.is_empty() => format!("{}, generator not recorded", dataset_title(d)),
        (_, l) => format!("{}, {l}", dataset_title(d)),
    }
}

/// One dataset and source's answers, a bullet each.
/// Bullets only where the source has the arm (a family may skip a regime).
fn answers_of(ix: &Index, name: &str, s: &mut String) {
    for rule in ix.rules().iter().filter(|r| r.is_imbalanced() && !ix.get(r, Arm::Fill).is_empty()) {
        let fo = ix.paired((rule, Arm::Fill), (rule, Arm::Oversample), Metric::Balanced);
        let fw = ix.paired((rule, Arm::Fill), (rule, Arm::ClassWeight), Metric::Balanced);
        let _ = writeln!(
            s,
            "- **{name}, imbalance `{rule}`:** synthetic fill against oversampling, balanced accuracy {}; \
                 against class weighting {}.",
            compared_cell(fo),
            compared_cell(fw)
        );
    }
    if let Some(line) = scarce_answer(ix) {
        let _ = writeln!(s, "- **{name}, scarce data:** {line}");
    }
    for rule in ix.rules() {
        if rule == Subset::Fraction(1.0) && !ix.get(&rule, Arm::Cas).is_empty() {
            let gap = ix.paired((&rule, Arm::Real), (&rule, Arm::Cas), Metric::Accuracy);
            let _ = writeln!(
                s,
                "- **{name}, synthetic-to-real gap (all real data):** accuracy(real-trained) − \
                     accuracy(synthetic-trained) = {}.",
                compared_cell(gap)
            );
        }
    }
}

/// Which real fractions synthetic data helps at, in one sentence.
pub(super) fn scarce_answer(ix: &Index) -> Option<String> {
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
                .is_some_and(|c| c.verdict() == Verdict::Better)
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
            "adding synthetic images raised accuracy significantly (better after Holm) at none of the real \
             fractions tested ({}).",
            list(&tested)
        ),
        Some(l) => {
            let beyond: Vec<f64> = tested.iter().copied().filter(|&f| f > l).collect();
            format!(
                "adding synthetic images raised accuracy significantly (some multiple better after Holm) at {} \
                 real data{}.",
                list(&helps),
                if beyond.is_empty() {
                    " — at every fraction tested".to_string()
                } else {
                    format!("; from {} on no multiple is better", list(&beyond))
                }
            )
        }
    })
}

pub(super) fn mults_of(ix: &Index, r: &Subset) -> Vec<u32> {
    let mut m: Vec<u32> = ix
        .by
        .keys()
        .filter(|(rr, _)| *rr == r.to_string())
        .filter_map(|(_, a)| if let Arm::Synthetic(m) = a { Some(*m) } else { None })
        .collect();
    m.sort_unstable();
    m
}

pub(super) fn imbalance_section(
    obs: &[RegimeObs],
    d: &str,
    fam: &Comparisons,
    w: &mut Writer,
) -> Result<Option<Section>> {
    let ixs: Vec<Index> = sources_of(obs, d).iter().map(|src| Index::judged(obs, d, src, fam)).collect();
    let ix = &ixs[0];
    let rules: Vec<Subset> = ix.rules().into_iter().filter(|r| r.is_imbalanced()).collect();
    if rules.is_empty() {
        return Ok(None);
    }
    let upper = ix.rules().into_iter().find(|r| matches!(r, Subset::Balanced(_)));
    let mut s = Section::new(format!("Class imbalance: {}", dataset_title(d)));
    s.prose(format!(
        "Arms on the real test set. Δ is the paired difference in balanced accuracy against the imbalanced real \
         set as it is.{}\n\n",
        match &upper {
            Some(u) => format!(" The upper bound is the balanced real set `{u}`."),
            None => String::new(),
        }
    ));
    for rule in &rules {
        imbalance_rule(&ixs, d, rule, upper.as_ref(), &mut s, w)?;
    }
    Ok(Some(s))
}

/// A row of an imbalance table: its label, the index (generator source) it
/// is looked up in, and its (rule, arm).
type ArmRow<'i, 'a> = (String, &'i Index<'a>, Subset, Arm);

/// The rows of one imbalanced rule: the real arms once, the synthetic fill
/// once per generator source (named where there are several), the upper bound.
fn imbalance_rows<'i, 'a>(ixs: &'i [Index<'a>], rule: &Subset, upper: Option<&Subset>) -> Vec<ArmRow<'i, 'a>> {
    let ix = &ixs[0];
    let mut rows: Vec<ArmRow> =
        [Arm::Real, Arm::Oversample, Arm::ClassWeight].iter().map(|a| (a.label(), ix, rule.clone(), *a)).collect();
    for i in ixs.iter().filter(|i| !i.get(rule, Arm::Fill).is_empty() || ixs.len() == 1) {
        let label = match ixs.len() {
            1 => Arm::Fill.label(),
            _ => format!("{} ({})", Arm::Fill.label(), i.source.label()),
        };
        rows.push((label, i, rule.clone(), Arm::Fill));
    }
    if let Some(u) = upper {
        rows.push(("balanced real (upper bound)".into(), ix, u.clone(), Arm::Real));
    }
    rows
}

/// One imbalanced rule: its arms, fill against the other rebalancers, recall
/// per class (table and figure).
fn imbalance_rule(
    ixs: &[Index],
    d: &str,
    rule: &Subset,
    upper: Option<&Subset>,
    s: &mut Section,
    w: &mut Writer,
) -> Result<()> {
    let sizes = ixs[0].get(rule, Arm::Real).first().map(|o| o.class_sizes.clone()).unwrap_or_default();
    let shown = if sizes.is_empty() { String::new() } else { format!(" (real images per class: {sizes:?})") };
    s.prose(format!("### `{rule}`{shown}\n\n"));
    let head = ["Arm", "Accuracy", "Balanced accuracy", "Macro-F1", "Δ balanced accuracy vs real only"];
    let mut t = Table::new(head, "lrrrr");
    let rows = imbalance_rows(ixs, rule, upper);
    for (label, ix, r, a) in &rows {
        let delta = if *a == Arm::Real && r == rule {
            Entry::text("–")
        } else {
            Entry::compared(ix.paired((r, *a), (rule, Arm::Real), Metric::Balanced))
                .with_prov(prov(ix, &[(r, *a), (rule, Arm::Real)]))
        };
        let [acc, bal, f1] = [Metric::Accuracy, Metric::Balanced, Metric::MacroF1]
            .map(|m| Entry::mean(ix.cell(r, *a, m)).with_prov(prov(ix, &[(r, *a)])));
        t.row([Entry::text(label.clone()), acc, bal, f1, delta]);
    }
    s.table(t);
    for ix in ixs.iter().filter(|i| !i.get(rule, Arm::Fill).is_empty() || ixs.len() == 1) {
        let fill = match ixs.len() {
            1 => "Synthetic fill".to_string(),
            _ => format!("Synthetic fill ({})", ix.source.label()),
        };
        for (other, name) in [(Arm::Oversample, "oversampling"), (Arm::ClassWeight, "class weighting")] {
            for (m, mname) in [(Metric::Balanced, "balanced accuracy"), (Metric::MacroF1, "macro-F1")] {
                let i = ix.paired((rule, Arm::Fill), (rule, other), m);
                s.prose(format!("{fill} − {name}, {mname}: {}.\n\n", compared_cell(i)));
            }
        }
    }
    let series = recall_series(&rows);
    s.prose("Per-class recall (mean over seeds):\n\n");
    let k = series.first().map(|x| x.1.len()).unwrap_or(0);
    let mut t = Table::new(
        std::iter::once("Arm".to_string()).chain((0..k).map(|c| c.to_string())),
        &format!("l{}", "r".repeat(k)),
    );
    for (label, v) in &series {
        t.row(
            std::iter::once(Entry::text(label.clone())).chain(v.iter().map(|x| Entry::number(format!("{x:.3}"), *x))),
        );
    }
    s.table(t);
    let slug = rule.to_string().replace([':', ','], "-");
    let name = format!(
        "imbalance-{}-{}-recall.png",
        crate::report::writer::file_part(d),
        crate::report::writer::file_part(&slug)
    );
    let title = format!("{} {rule}: per-class recall", dataset_title(d));
    if let Some((png, svg)) = crate::report::figures::lines::recall_lines(&title, &series, &sizes)? {
        w.write(&name, &png)?;
        w.write(&name.replace(".png", ".svg"), svg.as_bytes())?;
        s.figure(Figure { alt: title, file: name, caption: String::new() });
    }
    Ok(())
}

/// Recall per class of each row's arm, mean over seeds (rows without results left out).
fn recall_series(rows: &[ArmRow]) -> Vec<(String, Vec<f64>)> {
    let mut series: Vec<(String, Vec<f64>)> = Vec::new();
    for (label, ix, r, a) in rows {
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
    series
}

/// The scarce-data section of each generator source of `d`.
pub(super) fn scarce_sections(obs: &[RegimeObs], d: &str, fam: &Comparisons, w: &mut Writer) -> Result<Vec<Section>> {
    let sources = sources_of(obs, d);
    let mut out = Vec::new();
    for src in &sources {
        let ix = Index::judged(obs, d, src, fam);
        let slug = if sources.len() > 1 { format!("{}-", src_slug(src)) } else { String::new() };
        out.extend(scarce_section(&ix, d, &titled(d, src, sources.len()), &slug, w)?);
    }
    Ok(out)
}

/// A source for file names: `unet`, `mlp-recognition-0.9`.
pub(super) fn src_slug(src: &Source) -> String {
    let s = if src.until.is_empty() { src.arch.clone() } else { format!("{}-{}", src.arch, src.until) };
    crate::report::writer::file_part(&s.replace(':', "-"))
}

fn scarce_section(ix: &Index, d: &str, title: &str, slug: &str, w: &mut Writer) -> Result<Option<Section>> {
    let mut fr: Vec<(f64, Subset)> = ix.rules().into_iter().filter_map(|r| fraction_of(&r).map(|f| (f, r))).collect();
    fr.sort_by(|a, b| a.0.total_cmp(&b.0));
    let with_gen: Vec<&(f64, Subset)> = fr.iter().filter(|(_, r)| !mults_of(ix, r).is_empty()).collect();
    if with_gen.is_empty() {
        return Ok(None);
    }
    let mut mults: Vec<u32> = with_gen.iter().flat_map(|(_, r)| mults_of(ix, r)).collect();
    mults.sort_unstable();
    mults.dedup();
    let mut s = Section::new(format!("Scarce real data: {title}"));
    s.prose("Test accuracy by real fraction (rows) and synthetic images added per real image (columns).\n\n");
    let head = ["Real fraction".to_string(), "0× (real only)".into()]
        .into_iter()
        .chain(mults.iter().map(|m| format!("+{m}×")));
    let mut t = Table::new(head, &"r".repeat(mults.len() + 2));
    for (f, r) in &with_gen {
        let mean = |a: Arm| Entry::mean(ix.cell(r, a, Metric::Accuracy)).with_prov(prov(ix, &[(r, a)]));
        let mut row = vec![Entry::number(pct(*f), *f), mean(Arm::Real)];
        row.extend(mults.iter().map(|m| mean(Arm::Synthetic(*m))));
        t.row(row);
    }
    s.table(t);
    s.prose(
        "Gain from the synthetic images (paired against 0× at the same real fraction), and against the \
         reference \"the same number of extra images, but real\" (paired against real only at fraction f·(1+m), \
         where the full set allows it):\n\n",
    );
    s.table(gains_table(ix, &fr, &with_gen));
    if let Some(line) = scarce_answer(ix) {
        s.prose(format!("**Answer:** {line}\n\n"));
    }
    scarce_figure(ix, (d, title, slug), &fr, &with_gen, &mults, &mut s, w)?;
    Ok(Some(s))
}

/// Each multiple's gain against 0× and against the same count of real images.
fn gains_table(ix: &Index, fr: &[(f64, Subset)], with_gen: &[&(f64, Subset)]) -> Table {
    let head = ["Real fraction", "Added", "Gain vs 0×", "Verdict", "vs the same count of real images", "Verdict"];
    let mut t = Table::new(head, "rrrlrl");
    for (f, r) in with_gen {
        for m in mults_of(ix, r) {
            let gain = ix.paired((r, Arm::Synthetic(m)), (r, Arm::Real), Metric::Accuracy);
            let target = f * (1.0 + m as f64);
            let reference = fr.iter().find(|(g, _)| (g - target).abs() < 1e-9).map(|(_, rr)| rr);
            let vs_real = reference.and_then(|rr| ix.paired((r, Arm::Synthetic(m)), (rr, Arm::Real), Metric::Accuracy));
            let vs = match (reference, vs_real) {
                (Some(rr), Some(c)) => format!("{} (vs `{rr}`; {})", c.interval_text(), c.p_text()),
                _ => "no reference (beyond the full set)".into(),
            };
            let vs_dir = if reference.is_some() { Entry::verdict_of(vs_real) } else { Entry::text("–") };
            let gain_text =
                gain.map(|c| format!("{} ({})", c.interval_text(), c.p_text())).unwrap_or_else(|| "–".into());
            t.row([
                Entry::number(pct(*f), *f),
                Entry::number(format!("+{m}×"), m as f64),
                Entry::sorted_by(gain_text, gain).with_prov(prov(ix, &[(r, Arm::Synthetic(m)), (r, Arm::Real)])),
                Entry::verdict_of(gain),
                Entry::sorted_by(vs, reference.and(vs_real))
                    .with_prov(reference.and_then(|rr| prov(ix, &[(r, Arm::Synthetic(m)), (rr, Arm::Real)]))),
                vs_dir,
            ]);
        }
    }
    t
}

/// The figure: one curve per multiple (0× over every real fraction, the references included).
fn scarce_figure(
    ix: &Index,
    (d, title, slug): (&str, &str, &str),
    fr: &[(f64, Subset)],
    with_gen: &[&(f64, Subset)],
    mults: &[u32],
    s: &mut Section,
    w: &mut Writer,
) -> Result<()> {
    let mut curves: Vec<crate::report::figures::lines::Curve> = Vec::new();
    let real_pts: Vec<(f64, f64, f64)> =
        fr.iter().filter_map(|(f, r)| ix.cell(r, Arm::Real, Metric::Accuracy).map(|c| (*f, c.mean, c.std))).collect();
    curves.push(("0× (real only)".into(), real_pts));
    for m in mults {
        let pts = with_gen
            .iter()
            .filter_map(|(f, r)| ix.cell(r, Arm::Synthetic(*m), Metric::Accuracy).map(|c| (*f, c.mean, c.std)))
            .collect();
        curves.push((format!("+{m}× synthetic"), pts));
    }
    let name = format!("scarce-{}-{slug}accuracy.png", crate::report::writer::file_part(d));
    let title = format!("{title}: test accuracy against the real fraction");
    if let Some((png, svg)) = crate::report::figures::lines::fraction_curves(&title, &curves)? {
        w.write(&name, &png)?;
        w.write(&name.replace(".png", ".svg"), svg.as_bytes())?;
        let caption = "Lines: mean test accuracy over study seeds; shaded band: ±1 sample standard deviation over \
                       those seeds (the spread of single runs, not a confidence interval).";
        s.figure(Figure { alt: title, file: name, caption: caption.into() });
    }
    Ok(())
}

/// The classifiers and training sets behind a cell: each (regime, arm)'s
/// runs under the index's generator source.
pub(super) fn prov(ix: &Index, arms: &[(&Subset, Arm)]) -> Option<Provenance> {
    let runs: Vec<&RegimeObs> = arms.iter().flat_map(|(r, a)| ix.get(r, *a).iter().copied()).collect();
    let names: Vec<String> = arms.iter().map(|(r, a)| format!("{r} {}", a.label())).collect();
    let title =
        format!("{}, {}", runs.first().map(|o| dataset_title(&o.dataset)).unwrap_or_default(), names.join(" and "));
    Provenance::runs(
        title,
        runs.iter()
            .map(|o| (o.seed, o.classifier.as_str(), o.train.as_str(), o.generator.as_ref().map(|g| g.path.as_str()))),
    )
}
