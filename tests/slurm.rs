//! `synthmix run --executor slurm` against a real Slurm: the single-node test
//! cluster of scripts/slurm-test-cluster.sh (`.ci/run` starts it). Where no
//! cluster answers, each test prints a SKIP line saying why and returns; with
//! SYNTHMIX_REQUIRE_SLURM=1 (set by `.ci/run` once the cluster is up) it
//! fails instead.
//!
//! The tests share the one cluster (2 CPUs), so they run one at a time.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::slurm::{cluster, script_stages, CLUSTER};
use common::{bin, run_ok, stdout, synthmix_at as synthmix, walk, with_verb};

/// export → a mix → a tiny clf-train → evaluate → report: every stage kind.
const SPEC: &str = r#"[pipeline]
name = "tiny-slurm"
out = "out"

[target.export]
command = "synthmix data export mnist:test --out {out}"
outputs = ["data/mnist-test.safetensors"]

[target.synthetic]
command = "mix-build --real mnist-c/shot_noise:test --synthetic mnist-c/shot_noise:test --ratio 0:1 --total 300 --seed 3 --out {out}"
outputs = ["data/stand-in-synthetic.safetensors"]

[target.mix]
command = "mix-build --real {in.real} --synthetic {in.synthetic} --ratio 1:1 --total 300 --seed 0 --out {out}"
inputs = { real = "export", synthetic = "synthetic" }
outputs = ["mix/1-1.safetensors"]

[target.real]
command = "mix-build --real {in} --synthetic {in} --ratio 1:0 --total 300 --seed 0 --out {out}"
inputs = ["export"]
outputs = ["mix/real.safetensors"]

[target.clf]
command = "clf-train --train {in} --arch simple-cnn --epochs 1 --limit 128 --batch-size 32 --seed 0 --out {out}"
inputs = ["mix"]
outputs = ["clf/1-1.safetensors"]

[target.eval]
command = "evaluate --classifier {in.clf} --test {in.test} --out {out}"
inputs = { clf = "clf", test = ["real", "synthetic"] }
outputs = ["metrics/1-1.json"]

[target.report]
command = "synthmix report --metrics {in.metrics} --out {out} --title \"tiny study\""
inputs = { metrics = "eval" }
outputs = ["report/report.md"]
"#;

/// Every file under `dir`, relative, with its bytes, except the run-time
/// provenance two runs never share (`*.prov.bin`: start times and wall
/// times; `*.log.csv`: images/s per epoch; the report, compared apart).
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let timed = |f: &Path| {
        let n = f.to_string_lossy();
        // The page and run.json carry the report's times too (when it was
        // written, the runs' span); report.md's comparison covers their content.
        n.ends_with(".prov.bin")
            || n.ends_with(".log.csv")
            || n.ends_with("report.md")
            || n.ends_with("index.html")
            || n.ends_with("run.json")
    };
    let mut v: Vec<(PathBuf, Vec<u8>)> = walk(dir)
        .into_iter()
        .filter(|f| !timed(f))
        .map(|f| (f.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&f).unwrap()))
        .collect();
    v.sort();
    v
}

/// A report's bytes without its two lines of run times (when the runs
/// happened, and the wall-time table), which differ between any two runs,
/// local ones included.
fn without_run_times(md: &[u8]) -> Vec<u8> {
    let md = String::from_utf8(md.to_vec()).unwrap();
    let mut out = String::new();
    let mut in_times = false;
    for l in md.split_inclusive('\n') {
        if l.starts_with("Wall time per stage") {
            in_times = true;
        } else if in_times && l.starts_with("## ") {
            in_times = false;
        }
        if !in_times && !l.starts_with("- Runs from ") {
            out.push_str(l);
        }
    }
    assert!(out.len() + 200 < md.len(), "the report's run-time lines were not found:\n{md}");
    out.into_bytes()
}

#[test]
fn a_spec_run_through_slurm_matches_the_local_run_and_a_rerun_submits_nothing() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("a_spec_run_through_slurm_matches_the_local_run_and_a_rerun_submits_nothing") {
        return;
    }
    for s in ["mix-build", "clf-train", "evaluate"] {
        bin(s); // asserts the binary is built
    }
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("spec.toml"), SPEC).unwrap();
    run_ok(synthmix(local.path()).args(["run", "spec.toml"]));

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    let t0 = Instant::now();
    let so = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "--executor", "slurm", "--wait"])));
    eprintln!("slurm run of 7 targets: {:.1} s", t0.elapsed().as_secs_f64());
    assert_eq!(with_verb(&so, "submitted").len(), 7, "{so}");
    assert_eq!(with_verb(&so, "done").len(), 7, "{so}");
    // A job's dependencies are the jobs of its inputs.
    let line = so.lines().find(|l| l.starts_with("submitted") && l.contains(" mix ")).unwrap();
    assert!(line.contains(" after "), "{line}");
    let report = without_run_times(&std::fs::read(d.join("out/report/report.md")).unwrap());
    let local_report = without_run_times(&std::fs::read(local.path().join("out/report/report.md")).unwrap());
    assert!(
        report == local_report,
        "the reports differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&report),
        String::from_utf8_lossy(&local_report)
    );
    assert_eq!(files(&d.join("out")), files(&local.path().join("out")), "outputs differ");
    assert!(d.join("artifacts/slurm/tiny-slurm/clf.out").is_file());
    assert!(d.join("artifacts/logs/tiny-slurm/clf.log").is_file());

    // The cache is the one source of truth: a second Slurm run submits
    // nothing, and a local run finds everything up to date.
    let so = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "--executor", "slurm"])));
    assert!(with_verb(&so, "submitted").is_empty(), "{so}");
    assert_eq!(with_verb(&so, "up to date").len(), 7, "{so}");
    assert!(so.contains("0 jobs submitted"), "{so}");
    let so = stdout(&run_ok(synthmix(d).args(["run", "spec.toml"])));
    assert!(so.contains("0 ran, 7 up to date"), "{so}");
}

const FAILING: &str = r#"[pipeline]
name = "f"
out = "out"

[target.base]
command = "write-file {out} base"
outputs = ["base.txt"]

[target.broken]
command = "fail {out} {in}"
inputs = ["base"]
outputs = ["broken.txt"]

[target.after-broken]
command = "write-file {out} after {in}"
inputs = ["broken"]
outputs = ["after.txt"]

[target.side]
command = "write-file {out} side {in}"
inputs = ["base"]
outputs = ["side.txt"]
"#;

#[test]
fn a_failing_job_stops_its_dependants_and_a_rerun_resubmits_only_what_is_missing() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("a_failing_job_stops_its_dependants_and_a_rerun_resubmits_only_what_is_missing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin_dir = script_stages(d);
    std::fs::write(d.join("spec.toml"), FAILING).unwrap();
    let out = synthmix(d)
        .env("SYNTHMIX_BIN_DIR", &bin_dir)
        .args(["run", "spec.toml", "--executor", "slurm", "--wait"])
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    assert!(se.contains("1 target failed: broken (job "), "{se}");
    // The failed job's log tail is shown with its target.
    assert!(so.contains("FAILED") && so.contains("error: this stage always fails"), "{so}");
    assert_eq!(with_verb(&so, "skipped"), ["after-broken"], "{so}");
    let mut done = with_verb(&so, "done");
    done.sort();
    assert_eq!(done, ["base", "side"], "{so}");
    assert_eq!(std::fs::read_to_string(d.join("out/side.txt")).unwrap(), "side\nbase\n");
    assert!(!d.join("out/broken.txt").exists() && !d.join("out/after.txt").exists());
    let st = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["status", "spec.toml"])));
    let line = st.lines().find(|l| l.starts_with("broken ")).unwrap();
    assert!(line.contains("FAILED") && line.contains("this stage always fails"), "{st}");

    // Fixed, the rerun submits the failed target and its dependant, nothing else.
    std::fs::write(d.join("spec.toml"), FAILING.replace("fail {out} {in}", "write-file {out} fixed {in}")).unwrap();
    let so = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args([
        "run",
        "spec.toml",
        "--executor",
        "slurm",
        "--wait",
    ])));
    assert_eq!(with_verb(&so, "submitted"), ["broken", "after-broken"], "{so}");
    assert_eq!(std::fs::read_to_string(d.join("out/after.txt")).unwrap(), "after\nfixed\nbase\n");
}

#[test]
fn a_job_cancelled_mid_run_leaves_no_partial_artifact() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("a_job_cancelled_mid_run_leaves_no_partial_artifact") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin_dir = script_stages(d);
    std::fs::write(d.join("spec.toml"), "[target.slow]\ncommand = \"slow-write {out} 60\"\noutputs = [\"slow.txt\"]\n")
        .unwrap();
    // Attached (--wait), with stdin not a terminal: Ctrl-C leaves the job
    // queued and says how to cancel it.
    let attached = synthmix(d)
        .env("SYNTHMIX_BIN_DIR", &bin_dir)
        .args(["run", "spec.toml", "--executor", "slurm", "--wait"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = d.join("artifacts/.staging/slow/slow.txt");
    let t0 = Instant::now();
    while !partial.is_file() {
        assert!(t0.elapsed() < Duration::from_secs(60), "the job never started its stage");
        std::thread::sleep(Duration::from_millis(100));
    }
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("artifacts/slurm/spec/jobs.json")).unwrap()).unwrap();
    let id = table["jobs"]["slow"]["job"].as_str().unwrap().to_string();
    let id = id.as_str();
    let st = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["status", "spec.toml"])));
    assert!(st.contains(&format!("slurm job {id} RUNNING")), "{st}");
    // A rerun while the job runs submits nothing: it reports the running job.
    let so = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args([
        "run",
        "spec.toml",
        "--executor",
        "slurm",
    ])));
    assert!(so.contains(&format!("queued     slow  job {id} (RUNNING, submitted earlier)")), "{so}");
    assert!(so.contains("0 jobs submitted, 1 queued from before"), "{so}");
    // A local run would run the target a second time: refused.
    let msg = common::run_err(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["run", "spec.toml"]));
    assert!(msg.contains(&"1 Slurm job of pipeline 'spec' is still queued or running (slow); wait for them"), "{msg}");
    run_ok(Command::new("kill").args(["-INT", &attached.id().to_string()]));
    let out = attached.wait_with_output().unwrap();
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{so}");
    assert!(so.contains(&format!("the jobs keep running; cancel them with: scancel {id}")), "{so}");
    run_ok(Command::new("scancel").arg(id));
    let t0 = Instant::now();
    loop {
        let q = stdout(&run_ok(Command::new("squeue").args(["-h", "-j", id, "-o", "%T"])));
        if q.trim().is_empty() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "job {id} still queued after scancel: {q}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!d.join("artifacts/slow.txt").exists(), "a cancelled job placed its output");
    assert!(walk(&d.join("artifacts/cache")).is_empty(), "a cancelled job left a cache record");
    assert!(walk(&d.join("artifacts/store")).is_empty(), "a cancelled job left a store object");
    let st = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["status", "spec.toml"])));
    assert!(st.contains(&format!("slurm job {id} CANCELLED")) && st.contains("out of date"), "{st}");
}
