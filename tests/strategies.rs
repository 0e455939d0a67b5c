//! The strategies study end to end: the shipped
//! `pipelines/strategies-quick.toml` shrunk to a few minutes (its sizes and
//! thresholds only), run with the real binaries on real MNIST. Every
//! strategy's sweep reaches the report, the knob is chosen on the validation
//! split, which no training set contains, and every judge saw only its
//! regime's real images.

use crate::common;

use std::path::Path;

use common::{bin, is_cell, is_interval, markdown_rows, run_ok, set_field};
use synthmix_core::artifact::{checkpoint, image_set, provenance};

/// strategies-quick.toml at tiny sizes: every target and command as shipped.
fn tiny_strategies(root: &Path) -> String {
    let mut s = std::fs::read_to_string(root.join("pipelines/strategies-quick.toml")).unwrap();
    for (k, v) in [("gan_epochs", "2"), ("every", "1"), ("clf_budget", "300")] {
        s = set_field(&s, k, v, "strategies-quick.toml");
    }
    for (from, to) in [
        ("--budget 20000", "--budget 1000"),
        ("gseed = [0, 1, 2]", "gseed = [0, 1]"),
        (
            r#"seed = [{ name = "0", gen = 0 }, { name = "1", gen = 1 }, { name = "2", gen = 2 }]"#,
            r#"seed = [{ name = "0", gen = 0 }, { name = "1", gen = 1 }]"#,
        ),
        // A barely trained judge is unsure of everything: thresholds it can
        // meet. At 0.1 / 0.12 most pools missed them and drew the most
        // candidates synth-sample allows (200 per image) before filling:
        // 60-290 s a pool, most of this test's 9 minutes.
        ("name = \"t50\", value = 0.5", "name = \"t50\", value = 0.03"),
        ("name = \"t90\", value = 0.9", "name = \"t90\", value = 0.04"),
    ] {
        assert!(s.contains(from), "strategies-quick.toml lost '{from}'");
        s = s.replace(from, to);
    }
    s
}

#[test]
fn the_quick_strategies_study_sweeps_every_strategy_and_validates_its_knobs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("strategies.toml"), tiny_strategies(root)).unwrap();
    run_ok(bin("synthmix").current_dir(d).env("NO_COLOR", "1").args(["run", "strategies.toml", "-q"]));
    let art = d.join("artifacts/strategies-quick");
    let rep = d.join("artifacts/report/strategies-quick");
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();

    validation_is_disjoint_from_every_regime(&art);
    judges_saw_only_their_regime(&art);

    // The answer: per regime the three bases, then each strategy at its
    // validated knob (filter, scale, recycle on the mix and on CAS; weight
    // on the mix; two-stage on real) against its reference, with an interval.
    let rows = markdown_rows(&md, "## The answer");
    assert_eq!(rows.len(), 2 * (3 + 8), "{rows:?}");
    for r in &rows {
        assert!(is_cell(r[3]), "{r:?}");
        if !r[2].starts_with("**") {
            assert!(is_interval(r[4]), "{r:?}");
            assert!(["better", "worse", "equivalent", "inconclusive", "identical"].contains(&r[5]), "{r:?}");
        }
    }
    // Every setting: one ✓ per sweep and regime (4 on the mix, 3 on CAS, 1 two-stage).
    for regime in ["1 % real", "10 % real"] {
        let rows = markdown_rows(&md, &format!("### MNIST, {regime}"));
        assert_eq!(rows.len(), 15, "{regime}: {rows:?}");
        assert_eq!(rows.iter().filter(|r| r[2].ends_with('✓')).count(), 8, "{regime}: {rows:?}");
        assert!(rows.iter().all(|r| is_cell(r[1]) && (r[2].parse::<f64>().is_ok() || r[2].ends_with('✓'))), "{rows:?}");
    }
    // Each study seed's synthetic images came from the generator of its own seed.
    let gens = markdown_rows(&md, "## Generators and what the ± covers");
    assert_eq!(gens.len(), 2 * 2, "two regimes × two generator seeds: {gens:?}");
    for g in &gens {
        assert_eq!((g[2], g[4]), ("MLP cGAN", g[3]), "study seed s uses generator seed s: {g:?}");
    }
    assert!(md.contains("2 generator seeds per regime and source"), "{md}");
    let page = std::fs::read_to_string(rep.join("index.html")).unwrap();
    assert!(page.contains("gan/mnist-f1-g1.safetensors"), "the click-through names the generator");
    // Pool quality: plain, two τ and two σ per regime.
    let q = markdown_rows(&md, "## What filtering and latent scaling do to the images");
    assert_eq!(q.len(), 10, "{q:?}");
    let acceptance = |r: &Vec<&str>| r[5].split_whitespace().next().unwrap_or("").parse::<f64>().is_ok();
    assert!(q.iter().filter(|r| r[2].starts_with("confidence")).all(acceptance), "{q:?}");
    // A pool that missed τ (a 2-epoch generator often does) is marked †, in the
    // tables and the note, and only then.
    let filled: Vec<bool> = ["f1", "f10"]
        .iter()
        .flat_map(|r| ["t50", "t90"].map(|t| (r.to_string(), t)))
        .flat_map(|(r, t)| (0..2).map(move |s| format!("synth/mnist-{r}-{t}-s{s}.safetensors")))
        .map(|f| image_set::read(&art.join(f)).unwrap().meta.records_flat().contains_key("filled"))
        .collect();
    let marked = q.iter().filter(|r| r[5].contains('†')).count();
    assert_eq!(md.contains("† The filter's τ was out of reach"), filled.contains(&true), "{filled:?}");
    assert_eq!(marked > 0, filled.contains(&true), "{q:?}");
    let cas = markdown_rows(&md, "## The synthetic-to-real gap");
    assert_eq!(cas.len(), 2 * 4, "{cas:?}");
    assert!(cas.iter().all(|r| is_interval(r[3])), "{cas:?}");
    assert!(md.contains("2.03 %"), "GaFi's gaps are printed");
    assert!(rep.join("effects-mnist.png").is_file());
    let csv = std::fs::read_to_string(rep.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 15, "one row per classifier");
    assert!(csv.contains(",mix,filter=0.04,") && csv.contains(",real,twostage=0.001,"), "{csv}");
    assert!(rep.join("pools.csv").is_file(), "every pool's quality, for a report rebuilt from this folder");
    common::rebuilt_report_matches(d, "strategies", &rep, &[], &[]);
}

/// The retained indices (provenance) of the validation split and of every
/// regime's real set never meet.
fn validation_is_disjoint_from_every_regime(art: &Path) {
    let idx = |rel: &str| -> Vec<u32> {
        let p = provenance::read(&provenance::path_for(&art.join(rel))).unwrap();
        p.indices.into_iter().find(|(k, _)| k == "real").unwrap().1
    };
    let val = idx("val/mnist.safetensors");
    assert_eq!(val.len(), 5000);
    for r in ["f1", "f10"] {
        let train = idx(&format!("real/mnist-{r}.safetensors"));
        assert!(train.iter().all(|i| val.binary_search(i).is_err()), "{r} overlaps the validation split");
    }
}

/// Each filtered pool's judge is its regime's real-only classifier of the
/// same seed, trained on that regime's real set.
fn judges_saw_only_their_regime(art: &Path) {
    for r in ["f1", "f10"] {
        for s in 0..2 {
            let pool = image_set::read(&art.join(format!("synth/mnist-{r}-t90-s{s}.safetensors"))).unwrap();
            let judge = Path::new(&pool.meta.records_flat()["judge"]).file_name().unwrap().to_owned();
            assert_eq!(judge.to_str().unwrap(), format!("mnist-{r}-s{s}.safetensors"));
            let clf = checkpoint::read(&art.join("clf").join(&judge), Some("classifier")).unwrap();
            assert!(
                clf.meta.records_flat()["train"].ends_with(&format!("real/mnist-{r}.safetensors")),
                "{:?}",
                clf.meta.records_flat()
            );
        }
    }
}
