//! `report.md`. The paper study's: its answer in the order a reader asks
//! for it — settings and provenance, what the spread covers, the headline
//! numbers, Tables 2 and 3 beside the paper, the claims tested, the
//! generators, the figures (those needing the artifacts in `artifacts`) —
//! and the tables, CSVs and figures it links, written beside it. A typed
//! document's (regimes, strategies): [`document`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::claims;
use super::context;
use super::corruptions;
use super::md;
use super::model::{dataset_title, datasets_of, generators_of, Cells, GenId, Mix, TestKind};
use super::results::CsvText;
use super::study::{ReportParams, Study};
use super::tables::{self, delta_sigma};
use super::writer::{file_part, Writer};
use crate::data::{DataOptions, DatasetName};
use crate::error::Result;

mod artifacts;
pub mod document;

use artifacts::{figures_section, generators_section, per_class_section};

/// Writes every table and figure through `w`; returns report.md's text.
pub fn write_all(study: &Study, params: &ReportParams, opts: &DataOptions, w: &mut Writer) -> Result<String> {
    let mut md = String::new();
    let title = params.title_or(super::kind::StudyKind::Paper);
    match &study.quote {
        Some(q) if params.title.is_none() && params.notes.is_empty() => md.push_str(&q.opening),
        _ => md.push_str(&document::document(&super::document::Document::titled(&title, &params.notes))),
    }
    let imported = study.prior.as_ref().map_or(0, |p| p.imported);
    let sources = match (&study.prior, &study.quote) {
        (Some(p), Some(_)) => format!("{} results from the results.csv of {}", p.imported, p.dir.display()),
        (Some(p), None) => format!(
            "{} results from {} METRICS.json files and {} imported from an earlier run's report ({})",
            study.obs.len() - imported,
            params.metrics.len(),
            p.imported,
            p.dir.display()
        ),
        (None, _) => format!("{} results from {} METRICS.json files", study.obs.len(), params.metrics.len()),
    };
    let _ = writeln!(
        md,
        "Test accuracy of classifiers trained on mixes of original (O, real) and GAN-synthetic (S) images, \
         {sources}. Every accuracy is the mean ± sample standard deviation over study seeds, with n the number of \
         seeds.\n"
    );
    md.push_str(&provenance_section(study));
    md.push_str(&spread_section(study));
    md.push_str(&headline_section(study));
    md.push_str(&generator_seed_section(study));
    md.push_str(&tables_section(study, params, opts, w)?);
    md.push_str(&corruption_section(study, w)?);
    md.push_str(&claims_section(study, params));
    md.push_str(&quoted_or(study, "Generators", w, |w| generators_section(study, w))?);
    md.push_str(&figures_section(study, opts, w)?);
    md.push_str(&quoted_or(study, "Accuracy per class (original test set)", w, |_| Ok(per_class_section(study)))?);
    w.write("results.csv", super::results::to_csv(&study.obs)?.as_bytes())?;
    let _ = writeln!(md, "All results, one row per classifier and test set: [results.csv](results.csv).");
    Ok(md)
}

/// A section that needs the artifacts (checkpoints, test sets, per-class
/// scores): quoted from the prior folder with its figures when the report is
/// rebuilt from that folder alone, else written by `write`.
fn quoted_or(
    study: &Study,
    heading: &str,
    w: &mut Writer,
    write: impl FnOnce(&mut Writer) -> Result<String>,
) -> Result<String> {
    const WHY: &str = "it needs the artifacts (generator checkpoints and logs, synthetic test sets, per-class \
                       scores), which are not in the published folder's CSVs";
    match &study.quote {
        Some(q) => Ok(q.quote(heading, WHY, w)?.unwrap_or_default()),
        None => write(w),
    }
}

fn provenance_section(study: &Study) -> String {
    let mut s = String::from("## Settings, provenance and cost\n\n");
    if let Some(q) = &study.quote {
        s.push_str(&q.provenance_markdown());
        return s;
    }
    let paper = &study.paper.source;
    let paper_line = (!paper.is_empty()).then(|| format!("- Paper values: {paper}. {}\n", study.paper.note));
    s.push_str(&document::blocks(&context::context_blocks(&study.context, paper_line.as_deref().unwrap_or(""))));
    if let Some(p) = &study.prior {
        s.push_str(&prior_section(p));
    }
    s
}

/// The earlier run merged in: the determinism check on what both computed,
/// and that run's own provenance, quoted from its report.
fn prior_section(p: &super::prior::Merged) -> String {
    let mut s = String::from(
        "### Results imported from an earlier run

",
    );
    let _ = writeln!(
        s,
        "{} results come from the earlier report in `{}` (its results.csv; column `imported_from`), where this \
         run did not recompute them.",
        p.imported,
        p.dir.display()
    );
    if p.mismatches.is_empty() {
        let _ = writeln!(
            s,
            "This run recomputed {} of that report's results from scratch (same seeds, same inputs): all {} are \
             equal to the published values, as the stages' determinism promises.\n",
            p.recomputed, p.recomputed
        );
    } else {
        let _ = writeln!(
            s,
            "This run recomputed {} of that report's results; {} differ (this run's values are used):\n",
            p.recomputed,
            p.mismatches.len()
        );
        let mut t = md::Table::new(["Result", "Earlier", "This run"], "lrr");
        for (what, a, b) in &p.mismatches {
            t.row([what.clone(), format!("{a:.4}"), format!("{b:.4}")]);
        }
        s.push_str(&t.render());
        s.push('\n');
    }
    let _ = writeln!(s, "The earlier run's settings, provenance and cost, as its report states them:\n");
    for line in p.provenance.lines() {
        let _ = writeln!(s, "> {line}");
    }
    s.push('\n');
    s
}

/// What "±" covers, checked against the data: do training sets differ across seeds?
fn spread_section(study: &Study) -> String {
    // Per row: (seed, training set) of each classifier.
    let mut by_row: BTreeMap<(String, Option<GenId>, Mix), BTreeSet<(u64, &str)>> = BTreeMap::new();
    for o in &study.obs {
        by_row.entry((o.dataset.clone(), o.generator.clone(), o.mix)).or_default().insert((o.seed, &o.train));
    }
    let (mut varied, mut fixed): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut unknown = 0;
    for ((d, _, m), runs) in &by_row {
        if runs.len() < 2 {
            continue;
        }
        if runs.iter().any(|(_, t)| t.is_empty()) {
            // Imported from a results.csv that did not record training sets.
            unknown += 1;
            continue;
        }
        let sets: BTreeSet<&str> = runs.iter().map(|(_, t)| *t).collect();
        let label = md::text(&format!("{} {}", dataset_title(d), m.label()));
        if sets.len() == runs.len() {
            varied.push(label)
        } else {
            fixed.push(label)
        }
    }
    fixed.sort();
    fixed.dedup();
    let mut s = String::from(
        "## What the ± covers

",
    );
    let _ = writeln!(
        s,
        "A study seed sets the classifier's initialisation, shuffles and dropout masks. In {} of {} rows every seed \
         also trained on its own training set (its own synthetic sample and mix draw, or its own real subset){}. The \
         generator and the synthetic test set are fixed within a row (one row per generator), so ± does not include \
         the generator's own variance: \"Generator seeds\" below shows how much a second generator seed moves the \
         headline rows where the study has one.{}\n",
        varied.len(),
        varied.len() + fixed.len(),
        if fixed.is_empty() {
            String::new()
        } else {
            format!(
                "; in {} (the same training set for every seed) the spread is the classifier's alone",
                fixed.join(", ")
            )
        },
        if unknown == 0 {
            String::new()
        } else {
            format!(
                " {unknown} further rows hold results imported from an earlier report that did not record training \
                 sets; they are not counted here."
            )
        }
    );
    s
}

/// The rows a reader looks at first: O/O, S/O, O/S, 5:1/O (and MNIST-C) per dataset and generator.
fn headline_section(study: &Study) -> String {
    let c = &study.cells;
    let shot = TestKind::Corrupted("shot_noise".into());
    let picks = [
        (Mix::new(1, 0), TestKind::Original),
        (Mix::new(0, 1), TestKind::Original),
        (Mix::new(1, 0), TestKind::Synthetic),
        (Mix::new(5, 1), TestKind::Original),
        (Mix::new(1, 0), shot.clone()),
        (Mix::new(5, 1), shot.clone()),
    ];
    let mut s = String::from(
        "## Headline\n\nTrain → test: ours (mean ± std, n) beside the paper's single run; Δ/σ is (ours − paper) / our std.\n\n\
",
    );
    let mut table = md::Table::new(["Dataset", "Generator", "Train → test", "Ours", "Paper", "Δ/σ"], "lllrrr");
    for d in datasets_of(c) {
        for g in generators_of(c, &d) {
            for (m, t) in &picks {
                let Some(cell) = c.get(&(d.clone(), g.clone(), *m, t.clone())) else { continue };
                let p = study.paper.get(&d, m, t);
                let delta = p.and_then(|p| delta_sigma(cell, p)).map(|x| format!("{x:+.1}")).unwrap_or_default();
                table.row([
                    dataset_title(&d),
                    g.as_ref().map(GenId::label).unwrap_or_else(|| "none".into()),
                    format!("{} → {}", m.label(), t.title()),
                    cell.text(),
                    p.map(|p| format!("{p:.4}")).unwrap_or_else(|| "–".into()),
                    delta,
                ]);
            }
        }
    }
    s.push_str(&table.render());
    s.push('\n');
    s
}

/// Generators of one preset with several seeds: each one's headline cells and all pooled.
fn generator_seed_section(study: &Study) -> String {
    let paper = super::model::paper_cells(&study.cells);
    let c = &paper;
    let mut s = String::from("## Generator seeds\n\n");
    let mut any = false;
    for d in datasets_of(c) {
        let gens: Vec<GenId> = generators_of(c, &d).into_iter().flatten().collect();
        let mut presets: Vec<&str> = gens.iter().map(|g| g.preset.as_str()).collect();
        presets.dedup();
        for preset in presets {
            let same: Vec<&GenId> = gens.iter().filter(|g| g.preset == preset).collect();
            if same.len() < 2 {
                continue;
            }
            any = true;
            let _ = writeln!(
                s,
                "{}, preset {preset}: the same cell under each generator seed, and pooled over them (std over every \
                 generator and study seed: the spread a reader should expect from a rerun with a new generator; a \
                 classifier scored on the same test set under both, as O on real test sets, counts once).\n",
                md::text(&dataset_title(&d))
            );
            let head = std::iter::once("Train → test".to_string())
                .chain(same.iter().map(|g| g.label()))
                .chain(["pooled".to_string()]);
            let mut t = md::Table::new(head, &format!("l{}", "r".repeat(same.len() + 1)));
            let mut cells: Vec<(Mix, TestKind)> = c
                .keys()
                .filter(|k| {
                    k.0 == d && same.iter().all(|g| c.contains_key(&(d.clone(), Some((*g).clone()), k.2, k.3.clone())))
                })
                .map(|k| (k.2, k.3.clone()))
                .collect();
            cells.sort();
            cells.dedup();
            for (m, test) in cells {
                let mut row = vec![format!("{} → {}", m.label(), test.title())];
                row.extend(same.iter().map(|g| c[&(d.clone(), Some((*g).clone()), m, test.clone())].text()));
                // Each classifier–test pair once: O's classifiers and the real
                // test sets are shared by every generator seed's rows.
                let mut seen = std::collections::BTreeSet::new();
                let pooled: Vec<(u64, f64)> = study
                    .obs
                    .iter()
                    .filter(|o| o.dataset == d && o.mix == m && o.test == test)
                    .filter(|o| o.generator.as_ref().is_some_and(|g| same.contains(&g)))
                    .filter(|o| seen.insert((o.classifier.clone(), o.test_set.clone())))
                    .map(|o| (o.seed, o.accuracy))
                    .collect();
                row.push(super::model::Cell::new(pooled).text());
                t.row(row);
            }
            s.push_str(&t.render());
            s.push('\n');
        }
    }
    if !any {
        s.push_str("No dataset has results from two seeds of one generator setting here.\n\n");
    }
    s
}

/// Why an expected dataset has no rows: not run, or not in the data dir.
pub fn why_not_run(d: &str, opts: &DataOptions) -> String {
    let present =
        DatasetName::parse(&format!("{d}:test")).map(|n| n.dataset.dir(&opts.data_dir).is_dir()).unwrap_or(false);
    if present {
        format!("not run: no {} results among the inputs", dataset_title(d))
    } else {
        format!(
            "not run: {} is not in the data dir (with it there: `synthmix run pipelines/paper.toml`)",
            dataset_title(d)
        )
    }
}

fn tables_section(study: &Study, params: &ReportParams, opts: &DataOptions, w: &mut Writer) -> Result<String> {
    let why = |d: &str| why_not_run(d, opts);
    let t2 = tables::table2(&study.cells, &study.paper, &params.expect_datasets, &why);
    let t3 = tables::table3(&super::model::paper_cells(&study.cells), &study.paper);
    w.write("table2.md", t2.markdown().as_bytes())?;
    w.write("table2.csv", t2.csv()?.as_bytes())?;
    w.write("table3.md", t3.markdown().as_bytes())?;
    w.write("table3.csv", t3.csv()?.as_bytes())?;
    let cover = "Cells: ours as mean ± sample std over study seeds (n); the paper's single run; Δ/σ = (ours − paper) / \
                 our std (\"n/a (no spread)\" when n = 1 or every seed gave the same accuracy). One block of rows per generator; the O rows of every \
                 generator come from the same O classifiers, scored on that generator's synthetic test set.";
    let mut s = String::new();
    let _ = writeln!(s, "## Table 2: test accuracy per training mix (original and synthetic test sets)\n\n{cover}\n");
    let _ = writeln!(s, "{}\n[CSV](table2.csv)\n", t2.markdown());
    let _ = writeln!(s, "## Table 3: MNIST, accuracy against the O:S ratio, with MNIST-C shot noise\n");
    if t3.rows.is_empty() {
        // The paper's Table 3 is MNIST's alone: a study without MNIST gets a line, not a headless table.
        let _ = writeln!(s, "This study has no MNIST results, so no Table 3 (the paper's Table 3 is MNIST's).\n");
    } else {
        let _ = writeln!(s, "{cover}\n\n{}\n[CSV](table3.csv)\n", t3.markdown());
    }
    Ok(s)
}

/// Every corruption × every mix per generator, with the heatmap and the headline of 5:1–7:1.
fn corruption_section(study: &Study, w: &mut Writer) -> Result<String> {
    let all = corruptions::tables(&study.cells);
    let ts = &all.tables;
    if ts.is_empty() {
        return Ok(String::new());
    }
    let scale = all.heat_scale();
    let mut s = String::from(
        "## MNIST-C: every corruption × every training mix\n\nEvery classifier scored on each MNIST-C corruption. \
         Accuracy as mean ± sample std over study seeds (n); the mean row is, per seed, the mean over the corruptions \
         (seeds scored on all of them). Differences to O are paired by study seed within one generator's rows (the \
         O classifier of a seed is shared), with a 95 % Student-t interval. The heatmaps colour each mix's mean \
         difference to O on one scale for all of them (blue above, red below, in percentage points; scaled to the \
         mixes with real images, S clipped), O's column shows O's accuracy; `*` marks better or worse, `=` \
         equivalent; rows where only O was tested are left out.\n\n",
    );
    s.push_str(&all.describe());
    s.push('\n');
    let mut csv = CsvText::new(&corruptions::CSV_HEADER)?;
    for t in ts {
        let slug = t.generator.as_ref().map(|g| g.slug()).unwrap_or_else(|| "none".into());
        let (d, g) = (md::text(&dataset_title(&t.dataset)), md::text(&t.generator_label()));
        let _ = writeln!(s, "### {d}, generator {g}\n\n{}", t.markdown());
        for (m, by) in t.headline() {
            let tested: usize = by.iter().map(Vec::len).sum();
            let _ = writeln!(
                s,
                "- on the {tested} of {} corruptions with paired seeds, {}.",
                t.corruptions.len(),
                corruptions::headline_line(m, &by)
            );
        }
        if let Some(png) = super::figures::effects::corruption_heatmap(t, scale)? {
            let name = format!("corruptions-{}-{slug}.png", file_part(&t.dataset));
            w.write(&name, &png)?;
            let _ = writeln!(s, "\n![MNIST-C heatmap]({name})\n");
        }
        t.csv_rows(&mut csv)?;
    }
    w.write("corruptions.csv", csv.text()?.as_bytes())?;
    s.push_str("[CSV](corruptions.csv)\n\n");
    Ok(s)
}

fn claims_section(study: &Study, params: &ReportParams) -> String {
    let src = claims::Source { cells: &study.cells, paper: &study.paper };
    let cs = claims::test_all(&src, &params.expect_datasets);
    format!("## Claims\n\n{}", claims::markdown(&cs))
}
