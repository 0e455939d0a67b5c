//! The shipped CIFAR-10 quick pipeline (`pipelines/cifar-quick.toml`),
//! shrunk to about a minute by its `[params]` alone, run end to end on a
//! slice of the real CIFAR-10 JPEG copy: the spec chooses `cifar-10-jpeg`
//! where the official files are absent, and the report names it and sets
//! its Table 2 beside the paper's CIFAR-10 values.

use crate::common;

use std::path::Path;

use common::{markdown_rows, run_ok, shared_data, synthmix_at};

/// cifar-quick.toml with tiny sizes; every target and command as shipped.
fn tiny(root: &Path) -> String {
    let spec = std::fs::read_to_string(root.join("pipelines/cifar-quick.toml")).unwrap();
    let tiny = [
        ("features_epochs", "1"),
        ("features_limit", "500"),
        ("gan_epochs", "1"),
        ("gan_limit", "300"),
        ("synth_train_per_class", "20"),
        ("synth_test_per_class", "10"),
        ("mix_total", "200"),
        ("clf_epochs", "1"),
        ("test_total", "200"),
    ];
    let mut out = spec;
    for (k, v) in tiny {
        out = common::set_field(&out, k, v, "cifar-quick.toml");
    }
    out.replace("{spec_dir}/paper-values.toml", &root.join("pipelines/paper-values.toml").display().to_string())
}

#[test]
fn the_cifar_quick_study_runs_on_the_jpeg_copy_and_reports_table_2() {
    let data = shared_data();
    if !data.join("cifar-10-jpeg/cifar-10-jpeg.tar.gz").is_file() {
        eprintln!("SKIP: no cifar-10-jpeg/cifar-10-jpeg.tar.gz in {}", data.display());
        return;
    }
    if data.join("cifar-10/cifar-10-batches-bin").is_dir() {
        eprintln!("SKIP: the official CIFAR-10 files are present, so the spec would choose them");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cifar-quick.toml"), tiny(root)).unwrap();
    let out = run_ok(synthmix_at(d).args(["run", "cifar-quick.toml"]));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("gan-cifar-10-jpeg") && !log.contains("gan-cifar-10 "), "{log}");

    let md = std::fs::read_to_string(d.join("artifacts/report/cifar-quick/report.md")).unwrap();
    assert!(md.contains("CIFAR-10 (JPEG q75 copy)"), "the report names the copy:\n{md}");
    let t2 = markdown_rows(&md, "## Table 2");
    assert_eq!(t2.len(), 6, "O, S, 1:1, 2:1, 1:2, 5:1: {t2:?}");
    let o = t2.iter().find(|r| r.iter().any(|c| *c == "O")).expect("an O row");
    // The paper's CIFAR-10 O/O beside ours.
    assert!(o.contains(&"0.6771"), "{o:?}");
    for r in &t2 {
        assert!(r.iter().any(|c| c.contains("(n=3)")), "three seeds per cell: {r:?}");
    }
}
