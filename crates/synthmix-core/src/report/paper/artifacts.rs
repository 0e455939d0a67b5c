//! The paper report's sections that need the artifacts themselves: the
//! generators (checkpoints, logs, grids), Figures 1 and 2 (test sets, cells)
//! and accuracy per class. A report rebuilt from a folder alone quotes the
//! first, third and fourth of them instead (`super::quoted_or`).

use std::fmt::Write as _;

use super::*;
use crate::report::document::Strip;
use crate::report::generators;
use crate::report::per_class::per_class_means;

pub(super) fn generators_section(study: &Study, w: &mut Writer) -> Result<Option<Section>> {
    let mut s = Section::new("Generators");
    // Not those known by an earlier report's rows alone: that report's section is quoted instead.
    let here: Vec<&generators::GeneratorInfo> = study.generators.values().filter(|g| !g.from_results_csv).collect();
    if here.is_empty() {
        if study.generators.is_empty() {
            s.prose("No generator is named by the evaluated sets.\n\n");
            return Ok(Some(s));
        }
        return Ok(None);
    }
    let head = [
        "Dataset",
        "Generator",
        "Arch",
        "lr D / G",
        "Epochs",
        "Training (log)",
        "Final FID",
        "Final recognition",
        "Features network (BLAKE3)",
    ];
    let mut t = Table::new(head, "llllrrrrl");
    for g in &here {
        let feats = g
            .features
            .as_ref()
            .map(|(p, h)| format!("`{p}` ({})", &h[..h.len().min(12)]))
            .unwrap_or_else(|| "none".into());
        let lr = format!("{} / {}", g.lr_d, g.lr_g);
        let (id, epoch) = (g.id.label(), Entry::number(g.epoch.to_string(), g.epoch as f64));
        let [fid, rec] = [(g.fid, 1), (g.recognition, 3)].map(|(x, p)| quality(x, p));
        let text = |x: String| Entry::text(x);
        t.row([
            text(dataset_title(&g.dataset)),
            text(id),
            text(g.arch.clone()),
            text(lr),
            epoch,
            g.train_s.map_or_else(|| text("–".into()), |s| Entry::number(crate::report::context::duration(s), s)),
            fid,
            rec,
            text(feats),
        ]);
    }
    s.table(t);
    s.prose(
        "FID is the Fréchet distance between features of generated and real training images, the features being \
         the penultimate layer of the features network named above (a classifier trained on the real training set), \
         not Inception: comparable only between generators that share a features network. Recognition is that \
         network's accuracy on generated images against the class they were asked for.\n\n",
    );
    collapse_test(study, &mut s);
    for g in &here {
        let slug = format!("{}-{}", file_part(&g.dataset), g.id.slug());
        s.prose(format!("**{}, generator {}**\n\n", md::text(&dataset_title(&g.dataset)), md::text(&g.id.label())));
        if let Some(f) = crate::report::figures::paper::generator_curves_figure(g) {
            let name = format!("generator-{slug}-curves.png");
            w.write(&name, &f.png()?)?;
            w.write(&name.replace(".png", ".svg"), f.svg()?.as_bytes())?;
            s.figure(Figure { alt: "FID and recognition per epoch".into(), file: name, caption: String::new() });
        }
        if let Some(name) = generators::copy_grid(g, w)? {
            s.prose(format!("Final sample grid (epoch {}; a row per class, fixed noise):\n\n", g.epoch));
            s.figure(Figure { alt: "samples".into(), file: name, caption: String::new() });
        }
    }
    s.blocks.extend(here.iter().copied().filter_map(strip).map(Block::Strip));
    Ok(Some(s))
}

/// A generator's FID or recognition to `p` decimals, `–` where unknown.
fn quality(x: Option<f64>, p: usize) -> Entry {
    x.map_or_else(|| Entry::text("–"), |v| Entry::number(format!("{v:.p$}"), v))
}

/// At most this many epochs on a generator's slider (evenly spaced, the last included).
const MAX_FRAMES: usize = 12;

/// A generator's sample grids by epoch, for the page's slider (none without grids).
fn strip(g: &generators::GeneratorInfo) -> Option<Strip> {
    let n = g.grids.len();
    if n == 0 {
        return None;
    }
    let picks: Vec<usize> = if n <= MAX_FRAMES {
        (0..n).collect()
    } else {
        let mut v: Vec<usize> = (0..MAX_FRAMES).map(|k| k * (n - 1) / (MAX_FRAMES - 1)).collect();
        v.dedup();
        v
    };
    Some(Strip {
        id: format!("samples-{}-{}", g.dataset, g.id.slug()),
        caption: format!(
            "{}, generator {}: samples by epoch (a row per class, fixed noise)",
            dataset_title(&g.dataset),
            g.id.label()
        ),
        frames: picks.into_iter().map(|i| (format!("epoch {}", g.grids[i].0), g.grids[i].1.clone())).collect(),
    })
}

/// The paper's O → S collapse against generator quality: does a real-trained
/// classifier fail on synthetic images because the generator was poor?
fn collapse_test(study: &Study, sec: &mut Section) {
    sec.prose(
        "**Does the O → S collapse follow generator quality?** The paper's real-trained classifiers scored 0.2365 \
         (MNIST) and 0.0979 (Fashion-MNIST) on its synthetic test sets. Per generator, its quality and the same \
         statistic here:\n\n",
    );
    let head = ["Dataset", "Generator", "Final FID", "Final recognition", "O → synthetic test (ours)", "Paper"];
    let mut t = Table::new(head, "llrrrr");
    let o = Mix::new(1, 0);
    let mut verdicts = Vec::new();
    for d in datasets_of(&study.cells) {
        let mut rows: Vec<(f64, f64)> = Vec::new();
        for g in study.generators.values().filter(|g| g.dataset == d && !g.from_results_csv) {
            let Some(cell) = study.cells.get(&(d.clone(), Some(g.id.clone()), o, TestKind::Synthetic)) else {
                continue;
            };
            let paper = study.paper.get(&d, &o, &TestKind::Synthetic);
            let paper = paper.map_or_else(|| Entry::text("–"), |p| Entry::number(format!("{p:.4}"), p));
            let gid = Some(g.id.clone());
            let ours = Entry::mean(Some(cell.clone())).with_seeds(cell).with_prov(cell_prov(
                study,
                &d,
                &gid,
                o,
                &TestKind::Synthetic,
            ));
            let (name, label) = (Entry::text(dataset_title(&d)), Entry::text(g.id.label()));
            t.row([name, label, quality(g.fid, 1), quality(g.recognition, 3), ours, paper]);
            if let Some(r) = g.recognition {
                rows.push((r, cell.mean));
            }
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        if rows.len() >= 2 && rows[rows.len() - 1].0 - rows[0].0 < 0.01 {
            let d = md::text(&dataset_title(&d));
            verdicts.push(format!("{d}: the generators' recognition is the same; not testable"));
        } else if rows.len() >= 2 {
            let follows = rows.windows(2).all(|w| w[1].1 >= w[0].1);
            let (worst, best) = (rows[0], rows[rows.len() - 1]);
            verdicts.push(format!(
                "{}: the generator with the lowest recognition ({:.3}) gives O → S {:.4}, the highest ({:.3}) gives {:.4}; \
                 O → S {} generator quality",
                md::text(&dataset_title(&d)),
                worst.0,
                worst.1,
                best.0,
                best.1,
                if follows { "rises with" } else { "does not follow" }
            ));
        }
    }
    sec.table(t);
    let mut s = String::new();
    for v in &verdicts {
        let _ = writeln!(s, "- {v}.");
    }
    if verdicts.is_empty() {
        s.push_str("- Not testable here: no dataset has results from two generators.\n");
    }
    s.push('\n');
    sec.prose(s);
}

/// The real test set Figure 1 shows for `d`: the named dataset's test split,
/// else (an imported dataset has no `DATASET:test`) the original test set the
/// study's classifiers were scored on.
fn real_test_set(study: &Study, d: &str) -> String {
    let named = format!("{d}:test");
    if crate::data::DatasetName::parse(&named).is_ok() {
        return named;
    }
    let scored = study.obs.iter().find(|o| o.dataset == d && o.test == TestKind::Original);
    scored.map(|o| o.test_set.clone()).unwrap_or(named)
}

const FIGURE1: &str = "Figure 1: real (left) beside synthetic (right) test images";

pub(super) fn figures_section(study: &Study, opts: &DataOptions, w: &mut Writer) -> Result<Vec<Section>> {
    let paper = crate::report::model::paper_cells(&study.cells);
    let c: &Cells = &paper;
    let mut out: Vec<Section> =
        quoted_or(study, FIGURE1, w, |w| figure1(study, c, opts, w).map(Some))?.into_iter().collect();
    out.extend(figure2_and_ratio(c, w)?);
    Ok(out)
}

/// Figure 1: per dataset and generator, real test images beside its synthetic ones.
fn figure1(study: &Study, c: &Cells, opts: &DataOptions, w: &mut Writer) -> Result<Section> {
    let mut s = Section::new(FIGURE1);
    for d in datasets_of(c) {
        for g in generators_of(c, &d) {
            let Some(synth) = study
                .obs
                .iter()
                // An imported row's test set is on the machine that made it.
                .find(|o| {
                    o.dataset == d && o.generator == g && o.test == TestKind::Synthetic && o.imported_from.is_none()
                })
                .map(|o| o.test_set.clone())
            else {
                continue;
            };
            let gl = g.as_ref().map(|g| g.slug()).unwrap_or_else(|| "none".into());
            let name = format!("figure1-{}-{gl}.png", file_part(&d));
            match crate::report::figures::paper::real_vs_synthetic(&real_test_set(study, &d), &d, &synth, opts) {
                Ok(png) => {
                    w.write(&name, &png)?;
                    let label = g.as_ref().map(GenId::label).unwrap_or_default();
                    let (d, label) = (md::text(&dataset_title(&d)), md::text(&label));
                    s.prose(format!("**{d}, generator {label}**\n\n"));
                    s.figure(Figure { alt: "Figure 1".into(), file: name, caption: String::new() });
                }
                Err(e) => {
                    let (d, e) = (md::text(&dataset_title(&d)), md::text(&e.to_string()));
                    s.prose(format!("- {d}: no Figure 1 ({e})\n"));
                }
            }
        }
    }
    Ok(s)
}

/// Figure 2 and accuracy against the real share, each a section where it has points.
fn figure2_and_ratio(c: &Cells, w: &mut Writer) -> Result<Vec<Section>> {
    let mut out = Vec::new();
    if let Some(f) = crate::report::figures::paper::bars_figure(c) {
        w.write("figure2.png", &f.png()?)?;
        w.write("figure2.svg", f.svg()?.as_bytes())?;
        let mut s = Section::new("Figure 2: test accuracy for every train–test combination");
        s.prose(
            "Bars: mean over study seeds; error bars: ±1 sample std over seeds; the accuracy axis starts at 0. One \
             panel per dataset and generator.\n\n",
        );
        s.figure(Figure { alt: "Figure 2".into(), file: "figure2.png".into(), caption: String::new() });
        out.push(s);
    }
    if let Some(f) = crate::report::figures::paper::ratio_curves_figure(c) {
        w.write("accuracy-vs-ratio.png", &f.png()?)?;
        w.write("accuracy-vs-ratio.svg", f.svg()?.as_bytes())?;
        let mut s = Section::new("Accuracy against the real share of the training set");
        s.prose(
            "Each point a training mix, placed by its real share (O (real) at 1, O:S = 10:1 at 0.91, 5:1 at 0.83, \
             1:1 at 0.5, 1:2 at 0.33, S at 0); points: mean over study seeds; error bars: ±1 sample std over seeds; \
             every panel has the same accuracy axis, cut where its label says.\n\n",
        );
        s.figure(Figure {
            alt: "accuracy vs ratio".into(),
            file: "accuracy-vs-ratio.png".into(),
            caption: String::new(),
        });
        out.push(s);
    }
    Ok(out)
}

/// Accuracy per class on the original test set, per dataset, generator and
/// mix (mean over seeds), the columns named by class; a heatmap on the
/// page, where a row's first cell opens its classifiers.
pub(super) fn per_class_section(study: &Study) -> Option<Section> {
    let (names, means) = per_class_means(study);
    if means.is_empty() {
        return None;
    }
    let mut s = Section::new("Accuracy per class (original test set)");
    s.prose("Recall per class, mean over study seeds.\n\n");
    for (d, cls) in &names {
        s.prose(format!("### {}\n\n", md::text(&dataset_title(d))));
        let head = ["Generator", "Train"].into_iter().map(String::from).chain(cls.iter().cloned());
        let mut t = Table::new(head, &format!("ll{}", "r".repeat(cls.len())));
        t.heatmap = true;
        for ((_, g, m), mean) in means.iter().filter(|((dd, _, _), _)| dd == d) {
            let gl = g.as_ref().map(GenId::label).unwrap_or_else(|| "–".into());
            let title = format!("{}, {gl}, {}: the classifiers", dataset_title(d), m.label());
            let row =
                |o: &Observation| &o.dataset == d && &o.generator == g && o.mix == *m && o.test == TestKind::Original;
            let first = Entry::text(gl).with_prov(prov(study, title, row));
            let values = mean.iter().map(|&x| Entry::number(format!("{x:.3}"), x));
            t.row([first, Entry::text(m.label())].into_iter().chain(values));
        }
        s.table(t);
    }
    Some(s)
}
