//! The regimes study end to end: the shipped `pipelines/regimes-quick.toml`
//! shrunk to seconds (its sizes only), run with the real binaries on real
//! MNIST. Its report has every cell filled, the subsets have the exact
//! per-class counts of their rules, every generator was trained on exactly
//! its regime's subset (and the report says when one is not).

use crate::common;

use std::path::{Path, PathBuf};

use common::{bin, is_cell, is_interval, markdown_rows, run_ok, set_field};
use synthmix_core::artifact::{image_set, provenance};
use synthmix_core::data::subset::Subset;

/// regimes-quick.toml at tiny sizes: every target and command as shipped.
fn tiny_regimes(root: &Path) -> String {
    let mut s = std::fs::read_to_string(root.join("pipelines/regimes-quick.toml")).unwrap();
    for (k, v) in [("gan_epochs", "2"), ("gan_cap", "3"), ("every", "1"), ("clf_budget", "300"), ("dpm_epochs", "1")] {
        s = set_field(&s, k, v, "regimes-quick.toml");
    }
    for (from, to) in [
        ("balanced:1000", "balanced:60"),
        ("--budget 20000", "--budget 1000"),
        ("--fid-samples 1000", "--fid-samples 100"),
        ("gseed = [0, 1, 2]", "gseed = [0, 1]"),
        (
            r#"seed = [{ name = "0", gen = 0 }, { name = "1", gen = 1 }, { name = "2", gen = 2 }]"#,
            r#"seed = [{ name = "0", gen = 0 }, { name = "1", gen = 1 }]"#,
        ),
        ("dpm_limit = 2000", "dpm_limit = 200"),
        // The 1 % and 10 % pools need 5 × 6 images per class here; the
        // diffusion model's pools were most of the test's time.
        ("pool = 500 }", "pool = 60 }"),
        ("--steps=5", "--steps=2"),
        ("--fid-samples 500", "--fid-samples 100"),
        // Met at the first measured epoch (chance is 0.1): the quality-matched
        // generators stop before their cap, as a study's reaching its target does.
        (r#"quality = "recognition:0.85""#, r#"quality = "recognition:0.05""#),
    ] {
        assert!(s.contains(from), "regimes-quick.toml lost '{from}'");
        s = s.replace(from, to);
    }
    s
}

#[test]
fn the_quick_regimes_study_fills_every_cell_and_checks_its_generators() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("regimes.toml"), tiny_regimes(root)).unwrap();
    run_ok(bin("synthmix").current_dir(d).env("NO_COLOR", "1").args(["run", "regimes.toml", "-q"]));
    let art = d.join("artifacts/regimes-quick");
    let md = std::fs::read_to_string(d.join("artifacts/report/regimes-quick/report.md")).unwrap();

    subsets_have_their_rules_counts_and_indices(&art);
    generators_saw_only_their_subset(&art);

    // Imbalance: every arm of both long tails, numbers in every cell.
    for rule in ["longtail:10", "longtail:100"] {
        let rows = markdown_rows(&md, &format!("### `{rule}`"));
        let arms: Vec<&str> = rows.iter().map(|r| r[0]).collect();
        assert_eq!(
            arms,
            [
                "real only",
                "oversampling",
                "class-weighted loss",
                "synthetic fill (MLP cGAN)",
                "balanced real (upper bound)"
            ],
            "{rule}"
        );
        for r in &rows {
            assert!(r[1..4].iter().all(|c| is_cell(c)), "{rule}: {r:?}");
            assert!(r[0] == "real only" || is_interval(r[4]), "{rule}: {r:?}");
        }
    }
    // Scarce data, for each generator source: every fraction × multiple, every gain with an interval.
    for source in ["MLP cGAN", "MLP cGAN to recognition ≥ 0.05", "DDPM (U-Net)"] {
        let section = format!("## Scarce real data: MNIST, {source}\n");
        let rows = markdown_rows(&md, &section);
        // The diffusion model is not trained on all the real data (its pool would be 50 000 images).
        let fractions: &[&str] = if source.starts_with("DDPM") { &["1 %", "10 %"] } else { &["1 %", "10 %", "100 %"] };
        assert_eq!(rows.iter().map(|r| r[0]).collect::<Vec<_>>(), fractions, "{source}");
        assert!(rows.iter().all(|r| r.len() == 4 && r[1..].iter().all(|c| is_cell(c))), "{rows:?}");
        let from = md.find(&section).unwrap();
        let gains = markdown_rows(&md[from..], "Gain from the synthetic images");
        assert_eq!(gains.len(), 2 * fractions.len(), "{source}");
        for g in &gains {
            assert!(is_interval(g[2]), "{g:?}");
            // 1 % and 10 % have their real reference (2 %, 6 %, 20 %, 60 %); 100 % none.
            assert_eq!(g[4].starts_with("no reference"), g[0] == "100 %", "{g:?}");
        }
        // CAS: every regime of the source, with the gap's interval.
        let cas = markdown_rows(&md, &format!("### MNIST, {source}\n"));
        assert_eq!(cas.len(), if source == "MLP cGAN" { 5 } else { fractions.len() }, "{source}: {cas:?}");
        assert!(cas.iter().all(|r| is_cell(r[2]) && is_cell(r[3]) && is_interval(r[4])), "{cas:?}");
    }
    generators_are_listed_with_their_seeds_and_epochs(&md);
    // Quality-matched against the budget: both multiples and CAS at every fraction, judged.
    let q = markdown_rows(&md, "MLP cGAN to recognition ≥ 0.05 − MLP cGAN (the same arm");
    assert_eq!(q.len(), 9, "{q:?}");
    assert!(q.iter().all(|r| is_interval(r[2]) && !r[3].is_empty()), "{q:?}");
    assert!(md.contains("2.03 %"), "GaFi's anchor is printed");
    // The fair-generator check found every one of the 2 seeds × 28 synthetic arms fair
    // (MLP cGAN 2 fills, 6 multiples, 5 CAS; to quality 6 and 3; DDPM 4 and 2).
    assert!(md.contains("for each of the 56 classifiers trained with synthetic images"), "{md}");
    assert!(md.contains("in 56 cases.") && !md.contains("do not**"), "{md}");
    for f in [
        "results.csv",
        "scarce-mnist-mlp-accuracy.png",
        "scarce-mnist-mlp-recognition-0.05-accuracy.png",
        "scarce-mnist-unet-accuracy.png",
        "imbalance-mnist-longtail-100-recall.png",
    ] {
        assert!(d.join("artifacts/report/regimes-quick").join(f).is_file(), "{f}");
    }
    // The page's click-through names each synthetic arm's generator.
    let page = std::fs::read_to_string(d.join("artifacts/report/regimes-quick/index.html")).unwrap();
    for g in
        ["gan/mnist-f10-mlp-g1.safetensors", "gan/mnist-f1-mlp-q-g0.safetensors", "dpm/mnist-f1-dpm-g1.safetensors"]
    {
        assert!(page.contains(g), "{g}");
    }
    let csv = std::fs::read_to_string(d.join("artifacts/report/regimes-quick/results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 42, "one row per classifier");
    common::rebuilt_report_matches(d, "regimes", &d.join("artifacts/report/regimes-quick"), &[], &[]);

    an_unfair_generator_is_named(d, &art);
}

/// Exact per-class counts of each rule, and the provenance lists exactly the
/// retained source indices (the images in the file are those indices').
fn subsets_have_their_rules_counts_and_indices(art: &Path) {
    let base = image_set::read(&art.join("real/mnist-base.safetensors")).unwrap();
    assert_eq!(base.class_histogram(), vec![60; 10]);
    let cases: [(&str, &[usize]); 3] = [
        ("if10", &[60, 46, 35, 27, 21, 16, 12, 10, 7, 6]),
        ("if100", &[60, 35, 21, 12, 7, 4, 2, 1, 1, 1]),
        ("f10", &[6; 10]),
    ];
    for (name, want) in cases {
        let p = art.join(format!("real/mnist-{name}.safetensors"));
        let set = image_set::read(&p).unwrap();
        assert_eq!(set.class_histogram(), want, "{name}");
        let rule: Subset = set.meta.records_flat()["subset"].parse().unwrap();
        assert_eq!(rule.counts(&base.class_histogram(), 0).unwrap(), want, "{name}");
        let prov = provenance::read(&provenance::path_for(&p)).unwrap();
        let kept = &prov.indices.iter().find(|(k, _)| k == "real").unwrap().1;
        assert_eq!(kept.len(), set.len());
        for (j, &i) in kept.iter().enumerate() {
            assert_eq!(set.image(j), base.image(i as usize), "{name}: item {j} is source image {i}");
        }
    }
    // Nested: the 1 % set's images are all in the 2 % set.
    let idx = |n: &str| -> Vec<u32> {
        let p = provenance::read(&provenance::path_for(&art.join(format!("real/mnist-{n}.safetensors")))).unwrap();
        p.indices.into_iter().find(|(k, _)| k == "real").unwrap().1
    };
    let (f1, f2) = (idx("f1"), idx("f2"));
    assert!(f1.iter().all(|i| f2.contains(i)), "{f1:?} ⊄ {f2:?}");
}

/// The generators table: every (regime, source, generator seed), the study
/// seed that used it, its epochs (the quality-matched ones stopped at their
/// first measured epoch, the others ran their budget of 2).
fn generators_are_listed_with_their_seeds_and_epochs(md: &str) {
    assert!(md.contains("2 generator seeds per regime and source, each study seed using one of them"), "{md}");
    let rows = markdown_rows(md, "## Generators and what the ± covers");
    assert_eq!(rows.len(), 2 * (5 + 3 + 2), "{rows:?}");
    for r in &rows {
        assert_eq!(r[4], r[3], "study seed s uses generator seed s: {r:?}");
        let want = if r[2].contains("recognition") || r[2].starts_with("DDPM") { "1" } else { "2" };
        assert_eq!(r[5], want, "{r:?}");
        assert!(r[6].contains(" / "), "FID / recognition: {r:?}");
        // Recognition is at least chance (0.1) everywhere, so every target of 0.05 was met.
        assert_eq!(r[7], if r[2].contains("recognition") { "yes" } else { "" }, "{r:?}");
    }
}

/// Each regime's generators were trained on its subset file (by BLAKE3), so
/// no removed real image reached them.
fn generators_saw_only_their_subset(art: &Path) {
    let gens = ["if10", "if100", "f1", "f10", "f100"]
        .map(|r| (r, format!("gan/mnist-{r}-mlp-g1.safetensors")))
        .into_iter()
        .chain(["f1", "f100"].map(|r| (r, format!("gan/mnist-{r}-mlp-q-g0.safetensors"))))
        .chain(["f1", "f10"].map(|r| (r, format!("dpm/mnist-{r}-dpm-g1.safetensors"))));
    for (name, generator) in gens {
        let subset = art.join(format!("real/mnist-{name}.safetensors"));
        let gan = art.join(generator);
        let gp = provenance::read(&provenance::path_for(&gan)).unwrap();
        let train = gp.inputs.iter().find(|i| i.role == "train").unwrap();
        let want = blake3::hash(&image_set::encode(&image_set::read(&subset).unwrap()).unwrap()).to_hex().to_string();
        assert_eq!(train.blake3, want, "{name}: the generator was trained on another set");
    }
}

/// A mix whose generator was trained on another regime's subset is listed.
fn an_unfair_generator_is_named(d: &Path, art: &Path) {
    let p = |s: &str| -> PathBuf { art.join(s) };
    let mix = d.join("unfair-mix.safetensors");
    run_ok(
        bin("mix-build")
            .args(["--real"])
            .arg(p("real/mnist-if10.safetensors"))
            .arg("--synthetic")
            .arg(p("synth/mnist-f100-mlp-s0.safetensors"))
            .args(["--fill", "--seed", "0", "-q", "--out"])
            .arg(&mix),
    );
    let clf = d.join("unfair-clf.safetensors");
    run_ok(
        bin("clf-train").arg("--train").arg(&mix).args(["--budget", "200", "--lr", "0.001", "-q", "--out"]).arg(&clf),
    );
    let metrics = d.join("unfair.json");
    run_ok(bin("evaluate").arg("--classifier").arg(&clf).args(["--test", "mnist:test", "-q", "--out"]).arg(&metrics));
    let out = d.join("unfair-report/report.md");
    // From the study's folder, as the runner does: the artifacts name each other by relative paths.
    run_ok(
        bin("synthmix")
            .current_dir(d)
            .args(["report", "--study", "regimes", "--metrics"])
            .arg(&metrics)
            .arg("--out")
            .arg(&out),
    );
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("in 0 cases; **1 do not**"), "{md}");
    assert!(md.contains("unfair-clf.safetensors"), "{md}");
}
