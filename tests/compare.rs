//! `synthmix compare` and `synthmix runs` on two real runs of a tiny study
//! that differ in one classifier parameter (the learning rate): the
//! comparison names exactly that parameter and the cells it moved, in
//! Markdown, CSV and JSON; a run against itself differs nowhere.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{bin, markdown_rows, run_err, run_ok};

/// export → a real and a stand-in synthetic set → O and 1:1 → two seeds of
/// clf-train at learning rate LR → evaluate on both → the paper report.
const SPEC: &str = r#"[pipeline]
name = "tiny"
out = "artifacts"

[axes]
mix = [{ name = "O", ratio = "1:0" }, { name = "1-1", ratio = "1:1" }]
seed = [0, 1]

[params]
lr = LR

[target.export]
command = "synthmix data export mnist:test --out {out}"
outputs = ["tiny/data/mnist-test.safetensors"]

[target.synthetic]
command = "mix-build --real mnist-c/shot_noise:test --synthetic mnist-c/shot_noise:test --ratio 0:1 --total 300 --seed 3 --out {out}"
outputs = ["tiny/data/stand-in-synthetic.safetensors"]

[target."mix-{mix}"]
matrix = { mix = "mix" }
command = "mix-build --real {in.real} --synthetic {in.synthetic} --ratio {mix.ratio} --total 300 --seed 0 --out {out}"
inputs = { real = "export", synthetic = "synthetic" }
outputs = ["tiny/mix/{mix}.safetensors"]

[target."clf-{mix}-s{seed}"]
matrix = { mix = "mix", seed = "seed" }
command = "clf-train --train {in} --epochs 1 --limit 128 --batch-size 32 --lr {lr} --seed {seed} --out {out}"
inputs = ["mix-{mix}"]
outputs = ["tiny/clf/{mix}-s{seed}.safetensors"]

[target."eval-{mix}-s{seed}"]
matrix = { mix = "mix", seed = "seed" }
command = "evaluate --classifier {in.clf} --test {in.test} --out {out}"
inputs = { clf = "clf-{mix}-s{seed}", test = ["mix-O", "synthetic"] }
outputs = ["tiny/metrics/{mix}-s{seed}.json"]

[target.report]
command = "synthmix report --metrics {in.metrics} --out {out} --title \"tiny study\""
inputs = { metrics = "eval-*" }
outputs = ["report/tiny/report.md"]
"#;

/// Runs the tiny study at learning rate `lr` in `dir`; its artifacts folder.
fn run_study(dir: &Path, lr: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("spec.toml"), SPEC.replace("LR", lr)).unwrap();
    run_ok(bin("synthmix").current_dir(dir).env("NO_COLOR", "1").args(["run", "spec.toml", "-q"]));
    dir.join("artifacts")
}

fn synthmix(args: &[&str]) -> String {
    let mut c: Command = bin("synthmix");
    String::from_utf8(run_ok(c.args(args)).stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compare_names_the_one_changed_parameter_and_the_cells_it_moved() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (run_study(d1.path(), "0.001"), run_study(d2.path(), "0.003"));
    assert!(a.join("report/tiny/run.json").is_file(), "the report writes run.json beside report.md");

    let md = synthmix(&["compare", s(&a), s(&b)]);
    println!("{md}");
    let params = markdown_rows(&md, "## Parameters that differ");
    assert_eq!(params, [["clf-train", "adam.lr", "0.001", "0.003"]], "exactly the changed parameter:\n{md}");
    let cells = markdown_rows(&md, "## Cells");
    assert_eq!(cells.len(), 4, "O and 1:1 on original and synthetic:\n{md}");
    for c in &cells {
        assert!(common::is_cell(c[4]) && common::is_cell(c[5]), "{c:?}");
        assert!(common::is_interval(c[6]) && c[7] == "paired", "same seeds: paired ({c:?})");
    }
    let moved = cells.iter().filter(|c| c[6].split_whitespace().next() != Some("+0.0000")).count();
    assert!(moved > 0, "a tripled learning rate moves some cell:\n{md}");

    check_csv(&synthmix(&["compare", s(&a), s(&b), "--format", "csv"]));
    let json: serde_json::Value =
        serde_json::from_str(&synthmix(&["compare", s(&a), s(&b), "--format", "json"])).unwrap();
    assert_eq!(json["parameters"].as_array().unwrap().len(), 1);
    assert_eq!(json["parameters"][0]["parameter"], "adam.lr");
    assert_eq!(json["cells"].as_array().unwrap().len(), 4);

    // A run against itself: nothing differs.
    let same: serde_json::Value =
        serde_json::from_str(&synthmix(&["compare", s(&a), s(&a), "--format", "json"])).unwrap();
    assert_eq!(same["parameters"], serde_json::json!([]));
    assert!(same["cells"].as_array().unwrap().iter().all(|c| c["difference"]["mean"] == 0.0), "{same}");
    assert!(synthmix(&["compare", s(&a), s(&a)]).contains("No parameter differs."));

    runs_lists_both_studies(&a, &b);
}

/// The CSV parses: one parameter row, four cells with numeric differences.
fn check_csv(text: &str) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap_or_else(|| panic!("no {name} in {h:?}"));
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let section = |s: &str| rows.iter().filter(|r| &r[col("section")] == s).count();
    assert_eq!((section("parameter"), section("cell")), (1, 4), "{text}");
    let p = rows.iter().find(|r| &r[0] == "parameter").unwrap();
    assert_eq!((&p[col("stage")], &p[col("parameter")], &p[col("b_values")]), ("clf-train", "adam.lr", "0.003"));
    for c in rows.iter().filter(|r| &r[0] == "cell") {
        assert!(c[col("difference")].parse::<f64>().is_ok() && &c[col("method")] == "paired", "{c:?}");
    }
}

/// `runs` on an artifacts folder holding both reports (B's copied in).
fn runs_lists_both_studies(a: &Path, b: &Path) {
    let other = a.join("report/tiny-lr3");
    std::fs::create_dir(&other).unwrap();
    for f in ["report.md", "results.csv", "run.json"] {
        std::fs::copy(b.join("report/tiny").join(f), other.join(f)).unwrap();
    }
    let md = synthmix(&["runs", s(a)]);
    println!("{md}");
    let rows = markdown_rows(&md, "| Study");
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(names, ["tiny", "tiny-lr3"], "{md}");
    for r in &rows {
        assert_eq!((r[1], r[4]), ("paper", "8"), "{r:?}");
        assert!(r[5].contains("O → original"), "headline: {r:?}");
    }
    let json: serde_json::Value = serde_json::from_str(&synthmix(&["runs", s(a), "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let csv_text = synthmix(&["runs", s(a), "--format", "csv"]);
    assert_eq!(csv::Reader::from_reader(csv_text.as_bytes()).records().count(), 2);

    // Two studies in one folder: compare asks which, --study names it.
    let e = run_err(bin("synthmix").args(["compare", s(a), s(a)]));
    assert!(e.contains("several studies") && e.contains("--study"), "{e}");
    assert!(synthmix(&["compare", s(a), s(a), "--study", "tiny-lr3"]).contains("No parameter differs."));
}

#[test]
fn reports_without_run_json_compare_their_results_and_bad_folders_are_named() {
    let d = tempfile::tempdir().unwrap();
    let old = d.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(
        old.join("results.csv"),
        "dataset,generator,generator_blake3,train,test,test_set,seed,accuracy,classifier\n\
         mnist,,,O,original,mnist:test,0,0.9,c0\nmnist,,,O,original,mnist:test,1,0.8,c1\n",
    )
    .unwrap();
    let md = synthmix(&["compare", s(&old), s(&old)]);
    assert!(md.contains("Parameters unknown: no run.json"), "{md}");
    assert_eq!(markdown_rows(&md, "## Cells").len(), 1);

    let e = run_err(bin("synthmix").args(["compare", s(&old), s(&d.path().join("nope"))]));
    assert!(e.contains("nope") && e.contains("no such folder"), "{e}");
    let e = run_err(bin("synthmix").args(["compare", s(&old), s(d.path())]));
    assert!(e.contains("neither a report folder"), "{e}");
    std::fs::write(old.join("run.json"), "{ not json").unwrap();
    let e = run_err(bin("synthmix").args(["compare", s(&old), s(&old)]));
    assert!(e.contains("run.json") && e.contains("not a run summary"), "{e}");
    let e = run_err(bin("synthmix").args(["runs", s(&old)]));
    assert!(e.contains("no report/ folder"), "{e}");
}
