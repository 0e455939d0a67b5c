//! `just bench --e2e` compares our stages with scripts/e2e_pytorch.py, which
//! must train the same models: its parameter counts against ours, and every
//! job's `--help`. The interpreter is env `SYNTHMIX_PYTHON` (default
//! `python3`); without torch the test says SKIP and why. No timings here.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

use crate::common;

use common::pytorch::{our_param_counts, python};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/e2e_pytorch.py");

/// The script's output, or None (with a SKIP line) where torch is missing.
fn script(args: &[&str]) -> Option<String> {
    let py = python();
    match Command::new(&py).arg(SCRIPT).args(args).output() {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") => {
            let _ = writeln!(std::io::stderr(), "SKIP e2e_bench_models: {py} lacks torch, numpy or safetensors");
            None
        }
        Ok(o) => panic!("{SCRIPT} {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "SKIP e2e_bench_models: {py} not runnable ({e})");
            None
        }
    }
}

#[test]
fn pytorch_reference_models_have_our_parameter_counts() {
    let Some(out) = script(&["params"]) else { return };
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let theirs: BTreeMap<String, u64> =
        v["params"].as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect();
    assert_eq!(theirs, our_param_counts());
}

#[test]
fn every_pytorch_job_explains_its_flags() {
    for job in ["clf-train", "gan-train", "synth-sample", "evaluate", "params"] {
        let Some(help) = script(&[job, "--help"]) else { return };
        assert!(help.contains("usage:"), "{job} --help:\n{help}");
    }
}
