//! The shipped quick pipeline (`pipelines/quick.toml`), shrunk to seconds by
//! its `[params]` alone, run end to end: its report has the study's
//! structure — both generator families (the MLP cGAN and the small diffusion
//! model), the paper column, every cell of Tables 2 and 3 numeric, every
//! claim with a verdict and an interval.

use crate::{browser, common};

use std::path::Path;

use common::{bin, markdown_rows, run_ok};

/// quick.toml with tiny sizes; every target and command as shipped.
fn tiny_quick(root: &Path) -> String {
    let spec = std::fs::read_to_string(root.join("pipelines/quick.toml")).unwrap();
    let tiny = [
        // Checkpoints (and sample grids) every 5 epochs and at the last: two on the page's slider.
        ("gan_epochs", "6"),
        ("gan_every", "5"),
        ("gan_limit", "600"),
        ("synth_train_per_class", "40"),
        ("synth_test_per_class", "10"),
        ("mix_total", "200"),
        ("clf_epochs", "1"),
        ("test_total", "200"),
        ("corruption_total", "100"),
        // The diffusion model: 2 epochs of 4 steps, 2 DDIM steps per image;
        // the synthetic-only mix draws up to 23 images of a class (11.2 % of 200).
        ("dpm_epochs", "2"),
        ("dpm_limit", "128"),
        ("dpm_steps", "2"),
        ("dpm_synth_per_class", "25"),
    ];
    let mut out = String::new();
    for line in spec.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match tiny.iter().find(|(k, _)| *k == key) {
            Some((k, v)) => out.push_str(&format!("{k} = {v}\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    for (k, _) in tiny {
        assert!(spec.lines().any(|l| l.trim_start().starts_with(&format!("{k} ="))), "quick.toml lost its {k}");
    }
    assert!(out.contains("--fid-samples 500 "), "quick.toml's dpm-mnist lost its --fid-samples 500");
    out.replace("--fid-samples 500 ", "--fid-samples 100 ")
        .replace("{spec_dir}/paper-values.toml", &root.join("pipelines/paper-values.toml").display().to_string())
}

fn is_cell(s: &str) -> bool {
    // `0.9123 ± 0.0040 (n=3)`
    let mut it = s.split_whitespace();
    let mean = it.next().and_then(|x| x.parse::<f64>().ok());
    mean.is_some_and(|m| (0.0..=1.0).contains(&m))
        && it.next() == Some("±")
        && it.next().and_then(|x| x.parse::<f64>().ok()).is_some()
        && it.next().is_some_and(|n| n.starts_with("(n=") && n.ends_with(')'))
}

#[test]
fn the_quick_study_reports_both_families_the_paper_and_tested_claims() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("quick.toml"), tiny_quick(root)).unwrap();
    run_ok(bin("synthmix").current_dir(d).env("NO_COLOR", "1").args(["run", "quick.toml", "-q"]));
    let md = std::fs::read_to_string(d.join("artifacts/report/quick/report.md")).unwrap();

    let t2 = markdown_rows(&md, "## Table 2");
    let t3 = markdown_rows(&md, "## Table 3");
    for (name, t) in [("Table 2", &t2), ("Table 3", &t3)] {
        let gens: std::collections::BTreeSet<&str> = t.iter().map(|r| r[1]).collect();
        assert_eq!(gens.len(), 2, "{name}: both families: {gens:?}");
        assert!(
            gens.iter().any(|g| g.starts_with("mlp default")) && gens.iter().any(|g| g.starts_with("unet")),
            "{gens:?}"
        );
        for r in t.iter() {
            // Per test set: ours | paper | Δ/σ.
            for ours in r[3..].iter().step_by(3) {
                assert!(is_cell(ours), "{name} row {r:?}: '{ours}' is not mean ± std (n)");
            }
        }
    }
    assert_eq!(t2.len(), 2 * 6, "Table 2: O, S, 1:1, 2:1, 1:2, 5:1 per generator");
    assert_eq!(t3.len(), 2 * 11, "Table 3: every ratio per generator");
    assert_eq!(
        t3[0].len(),
        3 + 3 * 3,
        "Table 3: original, synthetic, shot noise (the other corruptions have their own table)"
    );
    let o = t2.iter().find(|r| r[2] == "O").unwrap();
    assert_eq!(o[4], "0.9484", "the paper's MNIST O/O beside ours: {o:?}");
    assert!(md.contains("> This is the quick study"), "the quick study says it is reduced");
    // The settings table shows both families' generator and sampling settings.
    let setting = |stage: &str| md.lines().find(|l| l.starts_with(&format!("| {stage} |"))).unwrap_or("").to_string();
    assert!(setting("dpm-train").contains("channels: 16") && setting("dpm-train").contains("epochs: 2"), "{md}");
    assert!(setting("synth-sample").contains("steps: ") && setting("synth-sample").contains("guidance: "), "{md}");

    // Claims 1–3 tested on both generators with an interval and a verdict; 4 and 5 say why not.
    let claims = &md[md.find("## Claims").unwrap()..md.find("## Generators").unwrap()];
    for n in 1..=6 {
        assert!(claims.contains(&format!("### Claim {n}:")), "claim {n}");
    }
    // Claim 6: does the shot-noise effect carry over? A verdict per generator and each mix's corruptions.
    let c6 = &claims[claims.find("### Claim 6:").unwrap()..];
    let verdicts = c6.lines().filter(|l| l.starts_with("- MNIST (") && l.contains("**")).count();
    assert_eq!(verdicts, 2, "claim 6 verdict per generator: {c6}");
    let notes = "per corruption (verdicts of the MNIST-C family, Holm-adjusted): ";
    assert_eq!(c6.matches(notes).count(), 2 * 3, "5:1, 6:1, 7:1: {c6}");
    assert_eq!(c6.matches(" vs O: better on ").count(), 2 * 3, "5:1, 6:1, 7:1: {c6}");
    let stats: Vec<Vec<&str>> = claims
        .lines()
        .filter(|l| l.starts_with("| MNIST |"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(stats.len() >= 2 * (2 + 2 + 4 + 3), "{claims}");
    for s in &stats {
        assert!(s[3].contains('[') && s[3].contains("(n=3)"), "interval: {s:?}");
        assert!(["holds", "does not hold", "inconclusive at this n"].contains(&s[6]), "verdict: {s:?}");
    }
    assert!(claims.contains("not tested here"), "claim 4");
    assert!(claims.contains("CIFAR-10"), "claim 5");

    every_corruption_by_every_mix(&md, &d.join("artifacts/report/quick"));

    for f in ["table2.csv", "table3.csv", "figure2.png", "accuracy-vs-ratio.png", "results.csv", "corruptions.csv"] {
        assert!(d.join("artifacts/report/quick").join(f).is_file(), "{f}");
    }
    let curves =
        common::ls(&d.join("artifacts/report/quick")).into_iter().filter(|f| f.ends_with("-curves.png")).count();
    assert_eq!(curves, 2, "an FID/recognition figure per generator");

    the_page_reads_in_a_browser(&d.join("artifacts/report/quick"));
    merging_an_earlier_report_gives_the_same_tables(d, root);
    let paper = root.join("pipelines/paper-values.toml");
    common::rebuilt_report_matches(
        d,
        "paper",
        &d.join("artifacts/report/quick"),
        &["--paper", paper.to_str().unwrap(), "--expect-datasets", "mnist"],
        &[
            "Generators",
            "Figure 1: real (left) beside synthetic (right) test images",
            "Accuracy per class (original test set)",
        ],
    );
}

/// index.html in headless Chromium: every image decoded, no empty or NaN
/// cell, no console error, the tables sort, a Table 2 cell opens its
/// classifiers' provenance, the epoch slider switches pictures. Screenshots
/// land in target/tmp/report-page/ for a person to look at.
fn the_page_reads_in_a_browser(report: &Path) {
    let page = report.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "the page needs no network");
    let Some(b) = browser::open() else { return };
    b.goto(&page);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-page");
    b.screenshot(1366, 900, &shots.join("quick-laptop.png"));
    let v = b.eval(
        "const imgs = [...document.images];
         const cells = [...document.querySelectorAll('td, th')];
         return {
           images: imgs.length,
           broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
           bad_cells: cells.filter(c => c.textContent.trim() === '' || /\\bNaN\\b/.test(c.textContent))
                           .map(c => c.closest('section').id + ': ' + c.outerHTML.slice(0, 80)),
           tables: document.querySelectorAll('table.sortable').length,
           sections: [...document.querySelectorAll('main > section')].map(s => s.id),
           strips: document.querySelectorAll('.strip').length,
           height: document.documentElement.scrollHeight,
         };",
    );
    assert!(v["images"].as_u64().unwrap() >= 8, "figures, heatmaps and sample strips: {v}");
    assert_eq!(v["broken"], serde_json::json!([]), "images that did not load: {v}");
    assert_eq!(v["bad_cells"], serde_json::json!([]), "empty or NaN cells: {v}");
    assert!(v["tables"].as_u64().unwrap() >= 10, "{v}");
    assert_eq!(v["strips"], 2, "a sample strip per generator: {v}");
    let sections: Vec<&str> = v["sections"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for want in ["table-2", "table-3", "claims", "generators", "figure-1", "figure-2", "accuracy-per-class"] {
        assert!(sections.iter().any(|s| s.starts_with(want)), "section {want}: {sections:?}");
    }
    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // Sorting Table 2 by its first "ours" column puts the rows in order.
    let sorted = b.eval(
        "const t = document.querySelector('section[id^=table-2] table');
         const col = [...t.tHead.rows[0].cells].findIndex(h => h.textContent.includes('ours'));
         t.tHead.rows[0].cells[col].click();
         const v = [...t.tBodies[0].rows].map(r => parseFloat(r.cells[col].dataset.sort)).filter(x => !isNaN(x));
         return v.every((x, i) => i === 0 || v[i - 1] <= x) && v.length > 3;",
    );
    assert_eq!(sorted, true, "Table 2 sorts by its ours column");
    // A Table 2 cell opens its provenance: the classifiers, their command and commit.
    let prov = b.eval(
        "document.querySelector('section[id^=table-2] td[data-prov]').click();
         const p = document.getElementById('prov');
         return p.classList.contains('open') ? p.textContent : '';",
    );
    let prov = prov.as_str().unwrap();
    assert!(prov.contains("clf-train") && prov.contains("quick:clf-") && prov.contains("BLAKE3"), "{prov}");
    // Each slider shows another epoch's samples (the last is shown first).
    let slid = b.eval(
        "return [...document.querySelectorAll('.strip')].map(s => {
           const i = s.querySelector('input'); i.value = 0; i.dispatchEvent(new Event('input'));
           return s.querySelector('img.shown').dataset.label + ' / ' + s.querySelector('output').textContent;
         }).sort();",
    );
    assert_eq!(
        slid,
        serde_json::json!(["epoch 1 / epoch 1", "epoch 5 / epoch 5"]),
        "the first of the grids: the diffusion model's at epochs 1 and 2, the GAN's at 5 and 6: {slid}"
    );
    b.eval("document.querySelector('#prov button').click(); return null;");
    let h = v["height"].as_u64().unwrap().min(16000) as u32;
    b.screenshot(1366, h, &shots.join("quick-full.png"));
    println!("screenshots: {}", shots.display());
}

/// `report --prior`: a report from only the O evaluations plus the full
/// report's folder has the same tables; every recomputed result is checked,
/// and a changed one is listed.
fn merging_an_earlier_report_gives_the_same_tables(d: &Path, root: &Path) {
    let full = d.join("artifacts/report/quick");
    let metrics: Vec<_> = common::ls(&d.join("artifacts/quick/metrics"))
        .into_iter()
        .filter(|f| f.contains("-O-") && f.ends_with(".json") && !f.ends_with(".config.json"))
        .map(|f| d.join("artifacts/quick/metrics").join(f))
        .collect();
    assert_eq!(metrics.len(), 6, "O per generator and seed: {metrics:?}");
    let report = |prior: &Path, out: &Path, metrics: &[std::path::PathBuf]| {
        run_ok(
            bin("synthmix")
                .current_dir(d)
                .args(["report", "--metrics"])
                .args(metrics)
                .arg("--paper")
                .arg(root.join("pipelines/paper-values.toml"))
                .arg("--prior")
                .arg(prior)
                .arg("--out")
                .arg(out),
        )
    };
    let merged = d.join("merged");
    report(&full, &merged.join("report.md"), &metrics);
    for f in ["table2.csv", "table3.csv"] {
        assert_eq!(
            std::fs::read_to_string(merged.join(f)).unwrap(),
            std::fs::read_to_string(full.join(f)).unwrap(),
            "{f}: the merged report has the full report's numbers"
        );
    }
    let md = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(md.contains("### Results imported from an earlier run"), "{md}");
    // 6 O evaluations × (original, synthetic, 15 corruptions).
    assert!(
        md.contains("recomputed 102 of that report's results from scratch") && md.contains("all 102 are equal"),
        "{md}"
    );
    let rows = std::fs::read_to_string(merged.join("results.csv")).unwrap();
    // By the imported_from column (results.csv's later columns follow it).
    let mut csv = csv::Reader::from_reader(rows.as_bytes());
    let col = csv.headers().unwrap().iter().position(|h| h == "imported_from").unwrap();
    let from = full.display().to_string();
    let imported = csv.records().filter(|r| r.as_ref().unwrap().get(col) == Some(from.as_str())).count();
    assert_eq!(imported + 102 + 1, rows.lines().count(), "every other row names the report it came from");

    // An earlier report whose O result differs from this run's is listed.
    let tampered = d.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    std::fs::copy(full.join("report.md"), tampered.join("report.md")).unwrap();
    let csv = std::fs::read_to_string(full.join("results.csv")).unwrap();
    let line = csv.lines().find(|l| l.contains(",O,original,")).unwrap();
    let acc = line.split(',').nth(8).unwrap();
    std::fs::write(tampered.join("results.csv"), csv.replacen(line, &line.replacen(acc, "0.123", 1), 1)).unwrap();
    report(&tampered, &d.join("merged2/report.md"), &metrics);
    let md = std::fs::read_to_string(d.join("merged2/report.md")).unwrap();
    assert!(md.contains("1 differ (this run's values are used)") && md.contains("| 0.1230 |"), "{md}");

    // A new run that has only the diffusion model's evaluations (a phase
    // published beside an earlier one): the GAN is known by its rows alone,
    // its numbers still reach the tables, and the sections that need its
    // artifacts are quoted from the earlier report, its figures copied.
    let dpm: Vec<_> = metrics.iter().filter(|m| m.to_string_lossy().contains("-dpm-")).cloned().collect();
    assert_eq!(dpm.len(), 3, "{metrics:?}");
    let merged3 = d.join("merged3");
    report(&full, &merged3.join("report.md"), &dpm);
    assert_eq!(
        std::fs::read_to_string(merged3.join("table2.csv")).unwrap(),
        std::fs::read_to_string(full.join("table2.csv")).unwrap(),
        "both generators' numbers"
    );
    let md = std::fs::read_to_string(merged3.join("report.md")).unwrap();
    let gens = &md[md.find("\n## Generators\n").unwrap()..];
    let gens = &gens[..gens[1..].find("\n## ").unwrap()];
    assert!(gens.contains("the results imported from it name generators whose artifacts"), "{gens}");
    let grids: Vec<String> = common::ls(&full).into_iter().filter(|f| f.ends_with("-grid.png")).collect();
    assert!(!grids.is_empty(), "{full:?}");
    for g in &grids {
        assert!(gens.contains(&format!("]({g})")) && merged3.join(g).is_file(), "{g} quoted and copied: {gens}");
    }
}

/// The MNIST-C section: per generator, 15 corruptions and their mean × every
/// mix, accuracy cells and differences to O with intervals, verdicts and
/// raw and Holm-adjusted p-values, judged as one family;
/// a heatmap per generator of a readable size.
fn every_corruption_by_every_mix(md: &str, dir: &Path) {
    let start = md.find("## MNIST-C: every corruption").expect("the corruption section");
    let sec = &md[start..md.find("## Claims").unwrap()];
    let rows: Vec<Vec<&str>> = sec
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Corruption |"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let acc: Vec<_> = rows.iter().filter(|r| r.len() == 1 + 11).collect();
    let diff: Vec<_> = rows.iter().filter(|r| r.len() == 1 + 10).collect();
    assert_eq!((acc.len(), diff.len()), (2 * 16, 2 * 16), "15 corruptions and the mean, per generator: {sec}");
    assert_eq!(acc.iter().filter(|r| r[0] == "mean of 15").count(), 2);
    for r in &acc {
        assert!(r[1..].iter().all(|c| common::is_cell(c)), "accuracy row {r:?}");
    }
    for r in &diff {
        for c in &r[1..] {
            let words = ["better", "worse", "equivalent", "inconclusive", "identical"];
            let verdict = words.iter().any(|w| c.contains(&format!("**{w}** (p ")));
            let holm = c.contains(", Holm ") && c.contains("; TOST ");
            assert!(common::is_interval(c) && c.contains("(n=3)") && verdict && holm, "difference row {r:?}: '{c}'");
        }
    }
    // One family over both generators' tables: 2 × 16 rows × 10 mixes, margin printed.
    assert!(sec.contains("**320 comparisons**") && sec.contains("±0.005"), "{sec}");
    let pngs: Vec<String> =
        common::ls(dir).into_iter().filter(|f| f.starts_with("corruptions-mnist-") && f.ends_with(".png")).collect();
    assert_eq!(pngs.len(), 2, "a heatmap per generator: {pngs:?}");
    for p in &pngs {
        assert!(sec.contains(&format!("]({p})")), "{p} linked");
        let (w, h) = image::image_dimensions(dir.join(p)).unwrap();
        assert!((800..=1600).contains(&w) && (500..=900).contains(&h), "{p}: {w}x{h}");
    }
    let csv = std::fs::read_to_string(dir.join("corruptions.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 16 * 11, "a CSV line per generator, row and mix");
}
