//! The paper study's report of a dataset imported from folders whose names
//! are hostile to every output language (issue 39, the report side): the
//! per-class page table shows control characters escaped, every CSV keeps its
//! columns whatever the dataset's name, Table 3 (MNIST's) is a sentence and not
//! a headless table for another dataset, Figure 1 is drawn from the imported
//! test set, and `--title` reaches the page escaped exactly once.

use crate::common;

use std::path::Path;

use common::{bin, run_ok, set_field};
use synthmix_core::artifact::image_set;

const DATASET: &str = "a, \"b\"";
const CLASSES: [&str; 3] = ["\u{1b}[31mred", "tab\there", "plain"];

/// Class folders of real MNIST digits (a classifier has to learn something),
/// imported as one dataset named [`DATASET`].
fn import(d: &Path) {
    run_ok(bin("synthmix").args(["data", "export", "mnist:test", "-q", "--out"]).arg(d.join("m.safetensors")));
    let mnist = image_set::read(&d.join("m.safetensors")).unwrap();
    for (c, name) in CLASSES.iter().enumerate() {
        let dir = d.join(DATASET).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let idx = (0..mnist.len()).filter(|&i| usize::from(mnist.labels[i]) == c).take(40);
        for (j, i) in idx.enumerate() {
            let img = image::GrayImage::from_raw(28, 28, mnist.image(i).to_vec()).unwrap();
            img.save(dir.join(format!("{j:03}.png"))).unwrap();
        }
    }
    run_ok(bin("synthmix").current_dir(d).args(["data", "import", DATASET, "--test-fraction", "0.25", "-q"]).args([
        "--out",
        "sets/train.safetensors",
        "--test-out",
        "sets/test.safetensors",
    ]));
}

/// `init-study`'s quick spec for the imported sets, shrunk to about a minute.
fn run_study(d: &Path) -> std::path::PathBuf {
    run_ok(bin("synthmix").current_dir(d).args([
        "init-study",
        "--name",
        "esc",
        "--train",
        "sets/train.safetensors",
        "--test",
        "sets/test.safetensors",
    ]));
    let spec = d.join("pipelines/esc-quick.toml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let text = set_field(&text, "clf_budget", "300", "the quick spec");
    let text = set_field(&text, "gan_epochs", "20", "the quick spec").replace("seed = [0, 1, 2]", "seed = [0, 1]");
    std::fs::write(&spec, text).unwrap();
    run_ok(bin("synthmix").current_dir(d).args(["run", "pipelines/esc-quick.toml", "-q"]));
    d.join("artifacts/report/esc-quick")
}

/// Every record of a CSV has the header's number of fields, and the dataset
/// column (if any) holds the dataset's name whole.
fn assert_csv_keeps_its_columns(path: &Path) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let head = r.headers().unwrap().clone();
    let ds = head.iter().position(|h| h == "dataset");
    let mut n = 0;
    for rec in r.records() {
        let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(rec.len(), head.len(), "{}: {rec:?}", path.display());
        if let Some(k) = ds {
            assert_eq!(&rec[k], DATASET, "{}", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "{}: no rows", path.display());
}

#[test]
fn an_imported_dataset_with_hostile_names_gets_a_whole_report() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    import(d);
    let report = run_study(d);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();

    // (a) The per-class table on the page: ESC and TAB shown escaped, never raw.
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(!html.contains('\u{1b}') && !html.contains("tab\there"), "a control character reached the page raw");
    assert!(html.contains("\\u{1b}[31mred") && html.contains("tab\\there"), "the class names are on the page");

    // (c) Every CSV keeps its columns with a `,` and a `"` in the dataset's name.
    for f in ["table2.csv", "results.csv"] {
        assert_csv_keeps_its_columns(&report.join(f));
    }

    // (d) Table 3 is MNIST's: a sentence here, not a table of a header alone;
    // Figure 1 is drawn from the imported test set.
    let t3 = md.split("## Table 3").nth(1).unwrap().split("\n## ").next().unwrap();
    assert!(!t3.contains('|') && t3.contains("no MNIST results"), "{t3}");
    assert!(!md.contains("no Figure 1"), "{md}");
    assert!(std::fs::read_dir(&report).unwrap().any(|e| {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        n.starts_with("figure1-") && n.ends_with(".png")
    }));

    // (b) `--title` on the page: escaped once, shown as written.
    let metrics: Vec<_> = std::fs::read_dir(d.join("artifacts/esc-quick/metrics"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let metrics: Vec<_> = metrics
        .into_iter()
        .filter(|p: &std::path::PathBuf| {
            let n = p.to_string_lossy();
            n.ends_with(".json") && !n.ends_with(".config.json")
        })
        .collect();
    assert!(!metrics.is_empty(), "the study's METRICS.json files");
    let out = d.join("retitled/report.md");
    run_ok(
        bin("synthmix")
            .current_dir(d)
            .args(["report", "--title", "A & B &amp; <i>", "--out"])
            .arg(&out)
            .arg("--metrics")
            .args(&metrics),
    );
    let html = std::fs::read_to_string(d.join("retitled/index.html")).unwrap();
    assert!(html.contains("<h1>A &amp; B &amp;amp; &lt;i&gt;</h1>"), "{}", &html[..html.len().min(4000)]);
    run_ok(bin("synthmix").arg("page").arg(d.join("retitled")));
    let html = std::fs::read_to_string(d.join("retitled/index.html")).unwrap();
    assert!(html.contains("<h1>A &amp; B &amp;amp; &lt;i&gt;</h1>"), "the page remade from report.md");
}
