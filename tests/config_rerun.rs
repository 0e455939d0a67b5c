//! `STEM.config.json` beside every artifact, and `--config` reproducing the
//! artifact byte for byte: one run of each stage on small real MNIST, then
//! the same stage again from its config alone (plus a new --out).

use crate::common;

use std::path::Path;

use common::{bin, run_err, run_ok};

/// Runs `stage` with `args` + `--out dir/name`, then from the config it
/// wrote with `--out dir/again-name`; the two artifacts must be equal.
fn rerun_matches(dir: &Path, stage: &str, name: &str, args: &[&str]) {
    let out = dir.join(name);
    run_ok(bin(stage).args(args).args(["-q", "--out"]).arg(&out));
    let config = synthmix_core::stages::config::path_for(&out);
    let text = std::fs::read_to_string(&config).unwrap_or_else(|e| panic!("{stage}: no {}: {e}", config.display()));
    let c: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(c["stage"], stage);
    // Defaults are recorded too (--device was never given); --out is not a setting.
    assert!(c["settings"].get("out").is_none() && c["settings"]["device"] == "cpu", "{c}");
    let again = dir.join(format!("again-{name}"));
    run_ok(bin(stage).arg("--config").arg(&config).args(["-q", "--out"]).arg(&again));
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&again).unwrap(), "{stage}: the rerun differs");
    assert_eq!(std::fs::read_to_string(synthmix_core::stages::config::path_for(&again)).unwrap(), text);
}

#[test]
fn every_stage_writes_its_config_and_reruns_from_it_byte_for_byte() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    rerun_matches(d, "gan-train", "g.safetensors", &["--train", "mnist:train", "--limit", "300", "--seed", "3"]);
    rerun_matches(d, "synth-sample", "s.safetensors", &["--generator", &p("g.safetensors"), "--per-class", "30"]);
    let real = ["--real", "mnist:test", "--synthetic", &p("s.safetensors"), "--ratio", "5:1", "--total", "300"];
    rerun_matches(d, "mix-build", "m.safetensors", &[&real[..], &["--mark-synthetic", "--seed", "2"]].concat());
    let train = ["--train", &p("m.safetensors"), "--epochs", "1", "--synthetic-weight", "0.5", "--seed", "1"];
    rerun_matches(d, "clf-train", "c.safetensors", &train);
    let eval =
        ["--classifier", &p("c.safetensors"), "--test", &p("m.safetensors"), "mnist:test", "--batch-size", "500"];
    rerun_matches(d, "evaluate", "r.json", &eval);
}

#[test]
fn a_config_that_would_be_overwritten_or_is_broken_is_refused_in_one_line() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("m.safetensors");
    run_ok(bin("mix-build").args(["--real", "mnist:test", "--subset", "fraction:0.01", "-q", "--out"]).arg(&out));
    let config = synthmix_core::stages::config::path_for(&out);
    let before = std::fs::read(&config).unwrap();
    let e = run_err(bin("mix-build").arg("--config").arg(&config).arg("--out").arg(&out));
    assert!(e.contains("--config") && e.contains("overwrite") && e.lines().count() == 1, "{e}");
    assert_eq!(std::fs::read(&config).unwrap(), before, "the config is left alone");
    let other = t.path().join("x.config.json");
    std::fs::write(&other, br#"{"stage":"clf-train","stage_version":"","settings":{}}"#).unwrap();
    let e = run_err(bin("mix-build").arg("--config").arg(&other).arg("--out").arg(t.path().join("y.safetensors")));
    assert!(e.contains("x.config.json") && e.contains("not of mix-build") && e.lines().count() == 1, "{e}");
}
