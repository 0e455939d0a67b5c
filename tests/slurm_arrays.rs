//! Job arrays on the real single-node test Slurm (scripts/slurm-test-cluster.sh,
//! whose `MaxArraySize=8` makes a 12-cell matrix two arrays): a matrix spec
//! goes as arrays and gives the local run's outputs byte for byte; a failed
//! task cancels only its dependants and a rerun submits just the missing
//! indices; `--no-arrays` keeps one job per target. Where no cluster answers
//! each test says SKIP and why (see tests/common/slurm.rs).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::slurm::{cluster, script_stages, CLUSTER};
use common::{run_ok, stdout, synthmix_at, walk, with_verb};

/// base → prep-s0…11 → work-s0…11 (fail-at: fails at $SYNTHMIX_TEST_FAIL_AT)
/// → post-s0…11, and a report of every work target: 38 targets.
const SPEC: &str = r#"[pipeline]
name = "arr"
out = "out"

[axes]
seed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]

[target.base]
command = "write-file {out} base"
outputs = ["base.txt"]

[target."prep-s{seed}"]
matrix = { seed = "seed" }
command = "write-file {out} prep{seed} {in}"
inputs = ["base"]
outputs = ["prep/{seed}.txt"]

[target."work-s{seed}"]
matrix = { seed = "seed" }
command = "fail-at {out} {seed} work{seed} {in}"
inputs = ["prep-s{seed}"]
outputs = ["work/{seed}.txt"]

[target."post-s{seed}"]
matrix = { seed = "seed" }
command = "write-file {out} post{seed} {in}"
inputs = ["work-s{seed}"]
outputs = ["post/{seed}.txt"]

[target.report]
command = "write-file {out} report {in}"
inputs = ["work-s*"]
outputs = ["report.txt"]
"#;

/// A folder with the spec and the script stages; `synthmix` run in it.
struct Study {
    _dir: tempfile::TempDir,
    d: PathBuf,
    bin: PathBuf,
}

impl Study {
    fn new() -> Study {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let bin = script_stages(&d);
        std::fs::write(d.join("spec.toml"), SPEC).unwrap();
        Study { _dir: dir, d, bin }
    }

    fn synthmix(&self, args: &[&str]) -> Command {
        let mut c = synthmix_at(&self.d);
        c.env("SYNTHMIX_BIN_DIR", &self.bin).env_remove("SYNTHMIX_TEST_FAIL_AT").args(args);
        c
    }
}

/// Every output file, relative, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|f| (f.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&f).unwrap()))
        .collect();
    v.sort();
    v
}

/// The cluster's `MaxArraySize`.
fn max_array_size() -> usize {
    let cfg = stdout(&run_ok(Command::new("scontrol").args(["show", "config"])));
    cfg.lines()
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == "MaxArraySize").map(|(_, v)| v.trim().to_string()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1001)
}

/// The line of `verb target` in a run's output.
fn line<'a>(out: &'a str, verb: &str, target: &str) -> &'a str {
    let prefix = format!("{verb} ");
    out.lines()
        .find(|l| l.starts_with(&prefix) && l[prefix.len()..].split_whitespace().next() == Some(target))
        .unwrap_or_else(|| panic!("no '{verb} {target}' line in:\n{out}"))
}

/// The array job id of a submitted line `… job 123_4 (array 123 of 8) …`.
fn array_of(l: &str) -> String {
    l.split("(array ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("{l}")).to_string()
}

#[test]
fn a_matrix_goes_as_job_arrays_and_matches_the_local_run() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("a_matrix_goes_as_job_arrays_and_matches_the_local_run") {
        return;
    }
    let local = Study::new();
    run_ok(&mut local.synthmix(&["run", "spec.toml"]));
    let s = Study::new();
    let so = stdout(&run_ok(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm", "--max-parallel", "2"])));
    // squeue right after submission: the arrays that wait show as JOBID_[…].
    let q = stdout(&run_ok(Command::new("squeue").args(["-h", "-o", "%i %T"])));
    eprintln!("squeue after submitting:\n{q}");
    assert!(q.lines().any(|l| l.contains("_[") && l.contains("%2]")), "no pending array in squeue:\n{q}\n{so}");
    assert_eq!(with_verb(&so, "submitted").len(), 38, "{so}");
    // 12 cells over MaxArraySize ids: that many arrays per matrix.
    let m = max_array_size();
    let per_matrix = 12usize.div_ceil(m.min(12));
    let prep: BTreeSet<String> = (0..12).map(|c| array_of(line(&so, "submitted", &format!("prep-s{c}")))).collect();
    assert_eq!(prep.len(), per_matrix, "MaxArraySize {m}:\n{so}");
    assert!(so.contains(&format!("(as {} job arrays and single jobs)", 3 * per_matrix)), "{so}");
    let work = line(&so, "submitted", "work-s3");
    assert!(work.contains("_3 (array") && work.contains("task by task"), "aftercorr expected: {work}");
    let report = line(&so, "submitted", "report");
    assert!(!report.contains("(array") && !report.contains('_'), "afterok on whole arrays expected: {report}");
    let jobs = std::fs::read_to_string(s.d.join("artifacts/slurm/arr/jobs.json")).unwrap();
    assert!(jobs.contains("\"job\": \"") && jobs.matches('_').count() >= 36, "{jobs}");

    // Following the queued jobs to their end: the local run's bytes.
    let so = stdout(&run_ok(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm", "--wait"])));
    assert!(with_verb(&so, "submitted").is_empty(), "{so}");
    assert!(
        std::fs::read(s.d.join("out/report.txt")).unwrap() == std::fs::read(local.d.join("out/report.txt")).unwrap()
    );
    assert_eq!(files(&s.d.join("out")), files(&local.d.join("out")), "outputs differ:\n{so}");
    let st = stdout(&run_ok(&mut s.synthmix(&["status", "spec.toml"])));
    assert!(st.contains("arr: 38 up to date"), "{st}");
}

#[test]
fn a_failed_task_cancels_only_its_dependants_and_a_rerun_submits_just_its_indices() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("a_failed_task_cancels_only_its_dependants_and_a_rerun_submits_just_its_indices") {
        return;
    }
    let s = Study::new();
    let out = s
        .synthmix(&["run", "spec.toml", "--executor", "slurm", "--wait"])
        .env("SYNTHMIX_TEST_FAIL_AT", "3")
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    assert!(so.contains("told to fail at 3"), "{so}");
    let mut skipped = with_verb(&so, "skipped");
    skipped.sort();
    assert_eq!(skipped, ["post-s3", "report"], "only the failed task's dependants: {so}");
    assert_eq!(with_verb(&so, "done").len(), 35, "{so}");
    let st = stdout(&run_ok(&mut s.synthmix(&["status", "spec.toml"])));
    let l = st.lines().find(|l| l.starts_with("work-s3 ")).unwrap_or_default();
    assert!(l.contains("_3 FAILED") && l.contains("told to fail at 3"), "{st}");

    let so = stdout(&run_ok(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm", "--wait"])));
    assert_eq!(with_verb(&so, "submitted"), ["work-s3", "post-s3", "report"], "{so}");
    let work = line(&so, "submitted", "work-s3");
    assert!(work.contains("_3 (array") && work.contains(" of 1)"), "one array of just index 3: {work}");
    assert_eq!(std::fs::read_to_string(s.d.join("out/post/3.txt")).unwrap(), "post3\nwork3\nprep3\nbase\n");
}

#[test]
fn no_arrays_keeps_one_job_per_target_and_max_parallel_0_is_refused() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("no_arrays_keeps_one_job_per_target_and_max_parallel_0_is_refused") {
        return;
    }
    let s = Study::new();
    let msg = common::run_err(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm", "--max-parallel", "0"]));
    assert!(msg.contains("max-parallel must be at least 1") && msg.lines().count() == 1, "{msg}");
    std::fs::write(s.d.join("spec.toml"), format!("{SPEC}\n[executor.slurm]\nmax-parallel = 0\n")).unwrap();
    let msg = common::run_err(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm"]));
    assert!(msg.contains("max-parallel must be at least 1"), "{msg}");
    assert!(!s.d.join("artifacts/slurm").exists(), "something was submitted");
    std::fs::write(s.d.join("spec.toml"), SPEC).unwrap();
    let so = stdout(&run_ok(&mut s.synthmix(&[
        "run",
        "spec.toml",
        "prep-*",
        "--executor",
        "slurm",
        "--no-arrays",
        "--wait",
    ])));
    assert_eq!(with_verb(&so, "submitted").len(), 13, "{so}");
    assert!(!so.contains("(array"), "{so}");
    assert_eq!(with_verb(&so, "done").len(), 13, "{so}");
}
