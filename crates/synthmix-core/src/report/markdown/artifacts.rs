//! The paper report's sections that need the artifacts themselves: the
//! generators (checkpoints, logs, grids), Figures 1 and 2 (test sets, cells)
//! and accuracy per class. A report rebuilt from a folder alone quotes the
//! first, third and fourth of them instead (`super::quoted_or`).

use std::fmt::Write as _;

use super::*;
use crate::report::generators;
use crate::report::per_class::per_class_means;

pub(super) fn generators_section(study: &Study, w: &mut Writer) -> Result<String> {
    let mut s = String::from("## Generators\n\n");
    if study.generators.is_empty() {
        s.push_str("No generator is named by the evaluated sets.\n\n");
        return Ok(s);
    }
    let head = [
        "Dataset",
        "Generator",
        "Arch",
        "lr D / G",
        "Epochs",
        "Final FID",
        "Final recognition",
        "Features network (BLAKE3)",
    ];
    let mut t = md::Table::new(head, "llllrrrl");
    for g in study.generators.values() {
        let f = |x: Option<f64>, p: usize| x.map(|v| format!("{v:.p$}")).unwrap_or_else(|| "–".into());
        let feats = g
            .features
            .as_ref()
            .map(|(p, h)| format!("`{p}` ({})", &h[..h.len().min(12)]))
            .unwrap_or_else(|| "none".into());
        let lr = format!("{} / {}", g.lr_d, g.lr_g);
        let (id, epoch) = (g.id.label(), g.epoch.to_string());
        t.row([dataset_title(&g.dataset), id, g.arch.clone(), lr, epoch, f(g.fid, 1), f(g.recognition, 3), feats]);
    }
    s.push_str(&t.render());
    s.push_str(
        "\nFID is the Fréchet distance between features of generated and real training images, the features being \
         the penultimate layer of the features network named above (a classifier trained on the real training set), \
         not Inception: comparable only between generators that share a features network. Recognition is that \
         network's accuracy on generated images against the class they were asked for.\n\n",
    );
    s.push_str(&collapse_test(study));
    for g in study.generators.values() {
        let slug = format!("{}-{}", file_part(&g.dataset), g.id.slug());
        let _ = writeln!(s, "**{}, generator {}**\n", md::text(&dataset_title(&g.dataset)), md::text(&g.id.label()));
        if let Some(f) = crate::report::figures::paper::generator_curves_figure(g) {
            let name = format!("generator-{slug}-curves.png");
            w.write(&name, &f.png()?)?;
            w.write(&name.replace(".png", ".svg"), f.svg()?.as_bytes())?;
            let _ = writeln!(s, "![FID and recognition per epoch]({name})\n");
        }
        if let Some(name) = generators::copy_grid(g, w)? {
            let _ = writeln!(
                s,
                "Final sample grid (epoch {}; a row per class, fixed noise):\n\n![samples]({name})\n",
                g.epoch
            );
        }
    }
    Ok(s)
}

/// The paper's O → S collapse against generator quality: does a real-trained
/// classifier fail on synthetic images because the generator was poor?
fn collapse_test(study: &Study) -> String {
    let mut s = String::from(
        "**Does the O → S collapse follow generator quality?** The paper's real-trained classifiers scored 0.2365 \
         (MNIST) and 0.0979 (Fashion-MNIST) on its synthetic test sets. Per generator, its quality and the same \
         statistic here:\n\n",
    );
    let head = ["Dataset", "Generator", "Final FID", "Final recognition", "O → synthetic test (ours)", "Paper"];
    let mut t = md::Table::new(head, "llrrrr");
    let o = Mix::new(1, 0);
    let mut verdicts = Vec::new();
    for d in datasets_of(&study.cells) {
        let mut rows: Vec<(f64, f64)> = Vec::new();
        for g in study.generators.values().filter(|g| g.dataset == d) {
            let Some(cell) = study.cells.get(&(d.clone(), Some(g.id.clone()), o, TestKind::Synthetic)) else {
                continue;
            };
            let f = |x: Option<f64>, p: usize| x.map(|v| format!("{v:.p$}")).unwrap_or_else(|| "–".into());
            let paper =
                study.paper.get(&d, &o, &TestKind::Synthetic).map(|p| format!("{p:.4}")).unwrap_or_else(|| "–".into());
            t.row([dataset_title(&d), g.id.label(), f(g.fid, 1), f(g.recognition, 3), cell.text(), paper]);
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
    s.push_str(&t.render());
    s.push('\n');
    for v in &verdicts {
        let _ = writeln!(s, "- {v}.");
    }
    if verdicts.is_empty() {
        s.push_str("- Not testable here: no dataset has results from two generators.\n");
    }
    s.push('\n');
    s
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

pub(super) fn figures_section(study: &Study, opts: &DataOptions, w: &mut Writer) -> Result<String> {
    let paper = crate::report::model::paper_cells(&study.cells);
    let c: &Cells = &paper;
    let mut s = quoted_or(study, FIGURE1, w, |w| figure1(study, c, opts, w))?;
    figure2_and_ratio(c, w, &mut s)?;
    Ok(s)
}

/// Figure 1: per dataset and generator, real test images beside its synthetic ones.
fn figure1(study: &Study, c: &Cells, opts: &DataOptions, w: &mut Writer) -> Result<String> {
    let mut s = format!("## {FIGURE1}\n\n");
    for d in datasets_of(c) {
        for g in generators_of(c, &d) {
            let Some(synth) = study
                .obs
                .iter()
                .find(|o| o.dataset == d && o.generator == g && o.test == TestKind::Synthetic)
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
                    let _ = writeln!(s, "**{d}, generator {label}**\n\n![Figure 1]({name})\n");
                }
                Err(e) => {
                    let _ =
                        writeln!(s, "- {}: no Figure 1 ({})", md::text(&dataset_title(&d)), md::text(&e.to_string()));
                }
            }
        }
    }
    Ok(s)
}

/// Figure 2 and accuracy against the real share, appended to `s`.
fn figure2_and_ratio(c: &Cells, w: &mut Writer, s: &mut String) -> Result<()> {
    if let Some(f) = crate::report::figures::paper::bars_figure(c) {
        w.write("figure2.png", &f.png()?)?;
        w.write("figure2.svg", f.svg()?.as_bytes())?;
        s.push_str(
            "## Figure 2: test accuracy for every train–test combination\n\nBars: mean over study seeds; error bars: \
             ±1 sample std over seeds; the accuracy axis starts at 0. One panel per dataset and generator.\n\n\
             ![Figure 2](figure2.png)\n\n",
        );
    }
    if let Some(f) = crate::report::figures::paper::ratio_curves_figure(c) {
        w.write("accuracy-vs-ratio.png", &f.png()?)?;
        w.write("accuracy-vs-ratio.svg", f.svg()?.as_bytes())?;
        s.push_str(
            "## Accuracy against the real share of the training set\n\nEach point a training mix, placed by its real \
             share (O (real) at 1, O:S = 10:1 at 0.91, 5:1 at 0.83, 1:1 at 0.5, 1:2 at 0.33, S at 0); points: mean over \
             study seeds; error bars: ±1 sample std over seeds; every panel has the same accuracy axis, cut where its \
             label says.\n\n\
             ![accuracy vs ratio](accuracy-vs-ratio.png)\n\n",
        );
    }
    Ok(())
}

/// Accuracy per class on the original test set, per dataset, generator and
/// mix (mean over seeds), the columns named by class.
pub(super) fn per_class_section(study: &Study) -> String {
    let (names, means) = per_class_means(study);
    if means.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "## Accuracy per class (original test set)

Recall per class, mean over study seeds.

",
    );
    for (d, cls) in &names {
        let _ = writeln!(s, "### {}\n", md::text(&dataset_title(d)));
        let head = ["Generator", "Train"].into_iter().map(String::from).chain(cls.iter().cloned());
        let mut t = md::Table::new(head, &format!("ll{}", "r".repeat(cls.len())));
        for ((_, g, m), mean) in means.iter().filter(|((dd, _, _), _)| dd == d) {
            let gl = g.as_ref().map(GenId::label).unwrap_or_else(|| "–".into());
            t.row([gl, m.label()].into_iter().chain(mean.iter().map(|x| format!("{x:.3}"))));
        }
        s.push_str(&t.render());
        s.push('\n');
    }
    s
}
