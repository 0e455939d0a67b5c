//! Job arrays on the real single-node test Slurm (scripts/slurm-test-cluster.sh,
//! whose `MaxArraySize=8` makes a 12-cell matrix two arrays): a matrix spec
//! goes as arrays and gives the local run's outputs byte for byte; a failed
//! task, and one cancelled mid-stage (`scancel JOBID_5`), cancel only their
//! dependants and leave nothing partial; a rerun submits just the missing
//! indices; a spec over the job-count limit or `max-parallel = 0` is refused
//! before anything is submitted; `--no-arrays` keeps one job per target. One
//! queued run serves most checks: the cluster has 2 CPUs. Where no cluster
//! answers each test says SKIP and why (see tests/common/slurm.rs).

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
outputs = ["mid/{seed}.txt"]

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

/// The cluster's `KEY` from `scontrol show config`, where it has a number.
fn config(key: &str) -> Option<usize> {
    let cfg = stdout(&run_ok(Command::new("scontrol").args(["show", "config"])));
    cfg.lines()
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string()))
        .and_then(|v| v.parse().ok())
}

/// Cancels a study's queued jobs when a test ends, so that a failed one
/// leaves no job holding the 2 CPUs for the next.
struct CancelOnDrop(PathBuf);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Ok(b) = std::fs::read(self.0.join("artifacts/slurm/arr/jobs.json")) else { return };
        let Ok(t) = serde_json::from_slice::<serde_json::Value>(&b) else { return };
        let ids: BTreeSet<String> = t["jobs"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, e)| e["job"].as_str().map(|j| j.split('_').next().unwrap_or(j).to_string()))
            .collect();
        let _ = Command::new("scancel").args(&ids).output();
    }
}

/// Waits (up to two minutes) until `f` is a file.
fn wait_for(f: &Path, what: &str) {
    let t0 = Instant::now();
    while !f.is_file() {
        assert!(t0.elapsed() < Duration::from_secs(120), "{what}: {} never appeared", f.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One queued run of the 38 targets, shared by every check (the cluster
/// has 2 CPUs: each run is a minute): it goes as arrays (`squeue` shows
/// `JOBID_[…]`), task 3 fails and task 5 is cancelled (`scancel JOBID_5`)
/// mid-stage; only their dependants are cancelled, nothing partial is
/// placed or recorded; a rerun submits one array of just indices 3 and 5,
/// `--wait` follows it to the end, and the outputs are the local run's,
/// byte for byte.
#[test]
fn a_matrix_goes_as_arrays_a_failed_or_cancelled_task_stops_only_its_dependants_and_the_rerun_matches_local() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster(
        "a_matrix_goes_as_arrays_a_failed_or_cancelled_task_stops_only_its_dependants_and_the_rerun_matches_local",
    ) {
        return;
    }
    let local = Study::new();
    run_ok(&mut local.synthmix(&["run", "spec.toml"]));
    let s = Study::new();
    let _cancel = CancelOnDrop(s.d.clone());
    let child = s
        .synthmix(&["run", "spec.toml", "--executor", "slurm", "--max-parallel", "2", "--wait"])
        .env("SYNTHMIX_TEST_FAIL_AT", "3")
        .env("SYNTHMIX_TEST_SLOW_AT", "5")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Task 5 mid-stage (its half output in staging; everything submitted).
    wait_for(&s.d.join("artifacts/.staging/work-s5/mid/5.txt"), "task 5's stage");
    // squeue during the run: array tasks, JOBID_TASK (or JOBID_[…%2] for
    // the tasks of an array still in one record).
    let q = stdout(&run_ok(Command::new("squeue").args(["-h", "-o", "%i %j %T %r"])));
    eprintln!("squeue during the array run:\n{q}");
    let tasks = q.lines().filter(|l| l.split_whitespace().next().is_some_and(|id| id.contains('_'))).count();
    assert!(tasks >= 12 && q.contains("arr:post-s0[]"), "no array tasks in squeue:\n{q}");
    // Cancel just task 5.
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.d.join("artifacts/slurm/arr/jobs.json")).unwrap()).unwrap();
    let id5 = table["jobs"]["work-s5"]["job"].as_str().unwrap().to_string();
    assert!(id5.ends_with("_5"), "{table}");
    run_ok(Command::new("scancel").arg(&id5));
    let out = child.wait_with_output().unwrap();
    let (so, se) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    check_submission(&so);
    assert!(so.contains("told to fail at 3"), "{so}");
    let mut skipped = with_verb(&so, "skipped");
    skipped.sort();
    assert_eq!(skipped, ["post-s3", "post-s5", "report"], "only the dependants of tasks 3 and 5: {so}");
    assert_eq!(with_verb(&so, "done").len(), 33, "{so}");
    // Nothing of the cancelled task is placed, stored or recorded.
    assert!(!s.d.join("out/mid/5.txt").exists(), "the cancelled task placed its output");
    for f in walk(&s.d.join("artifacts/cache")) {
        let r = std::fs::read_to_string(&f).unwrap();
        assert!(!r.contains("\"work-s5\""), "a record of the cancelled task: {r}");
    }
    for f in walk(&s.d.join("artifacts/store")) {
        assert_ne!(std::fs::read(&f).unwrap(), b"partial\n", "the cancelled task's half output was stored");
    }
    let st = stdout(&run_ok(&mut s.synthmix(&["status", "spec.toml"])));
    let l = |t: &str| st.lines().find(|l| l.starts_with(&format!("{t} "))).unwrap_or_default().to_string();
    assert!(l("work-s3").contains("_3 FAILED") && l("work-s3").contains("told to fail at 3"), "{st}");
    assert!(l("work-s5").contains(&format!("{id5} CANCELLED")), "{st}");

    // The rerun: one array of just indices 3 and 5; --wait follows the
    // queued jobs to their end.
    let so = stdout(&run_ok(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm"])));
    assert_eq!(with_verb(&so, "submitted"), ["work-s3", "work-s5", "post-s3", "post-s5", "report"], "{so}");
    let (w3, w5) = (line(&so, "submitted", "work-s3"), line(&so, "submitted", "work-s5"));
    assert!(w3.contains("_3 (array") && w3.contains(" of 2)") && array_of(w3) == array_of(w5), "{so}");
    let so = stdout(&run_ok(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm", "--wait"])));
    assert!(with_verb(&so, "submitted").is_empty(), "{so}");
    assert_eq!(std::fs::read_to_string(s.d.join("out/post/5.txt")).unwrap(), "post5\nwork5\nprep5\nbase\n");
    let (a, b) =
        (std::fs::read(s.d.join("out/report.txt")).unwrap(), std::fs::read(local.d.join("out/report.txt")).unwrap());
    eprintln!("report.txt: Slurm {} bytes, local {} bytes, identical: {}", a.len(), b.len(), a == b);
    assert!(a == b);
    assert_eq!(files(&s.d.join("out")), files(&local.d.join("out")), "outputs differ:\n{so}");
    let st = stdout(&run_ok(&mut s.synthmix(&["status", "spec.toml"])));
    assert!(st.contains("arr: 38 up to date"), "{st}");
}

/// The first run's submission: 38 jobs as arrays split at `MaxArraySize`,
/// `aftercorr` task by task, `afterok` on whole arrays for the report.
fn check_submission(so: &str) {
    assert_eq!(with_verb(so, "submitted").len(), 38, "{so}");
    let m = config("MaxArraySize").unwrap_or(1001);
    let per_matrix = 12usize.div_ceil(m.min(12));
    let prep: BTreeSet<String> = (0..12).map(|c| array_of(line(so, "submitted", &format!("prep-s{c}")))).collect();
    assert_eq!(prep.len(), per_matrix, "MaxArraySize {m}:\n{so}");
    assert!(so.contains(&format!("(as {} job arrays and single jobs)", 3 * per_matrix)), "{so}");
    let work = line(so, "submitted", "work-s3");
    assert!(work.contains("_3 (array") && work.contains("task by task"), "aftercorr expected: {work}");
    let report = line(so, "submitted", "report");
    assert!(!report.contains("(array") && !report.contains('_'), "afterok on whole arrays expected: {report}");
}

/// Refusals before anything is submitted (one line each): `max-parallel =
/// 0` and a spec over the cluster's job-count limit; `--no-arrays` keeps
/// one job per target.
#[test]
fn bad_limits_are_refused_before_submitting_and_no_arrays_keeps_one_job_per_target() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster("bad_limits_are_refused_before_submitting_and_no_arrays_keeps_one_job_per_target") {
        return;
    }
    let s = Study::new();
    let msg = common::run_err(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm", "--max-parallel", "0"]));
    assert!(msg.contains("max-parallel must be at least 1") && msg.lines().count() == 1, "{msg}");
    std::fs::write(s.d.join("spec.toml"), format!("{SPEC}\n[executor.slurm]\nmax-parallel = 0\n")).unwrap();
    let msg = common::run_err(&mut s.synthmix(&["run", "spec.toml", "--executor", "slurm"]));
    assert!(msg.contains("max-parallel must be at least 1"), "{msg}");
    over_the_job_limit(&s);
    assert!(!s.d.join("artifacts/slurm").exists(), "something was submitted");
    std::fs::write(s.d.join("spec.toml"), SPEC).unwrap();
    let so = stdout(&run_ok(&mut s.synthmix(&[
        "run",
        "spec.toml",
        "prep-s1",
        "prep-s2",
        "--executor",
        "slurm",
        "--no-arrays",
        "--wait",
    ])));
    assert_eq!(with_verb(&so, "submitted"), ["base", "prep-s1", "prep-s2"], "{so}");
    assert!(!so.contains("(array"), "{so}");
    assert_eq!(with_verb(&so, "done").len(), 3, "{so}");
}

/// A matrix of one cell more than the cluster lets one queue (`MaxSubmitJobs`
/// where its config has it, else `MaxJobCount`): refused in one line naming
/// the limit and both counts, before any `sbatch`.
fn over_the_job_limit(s: &Study) {
    let (key, limit) = ["MaxSubmitJobs", "MaxJobCount"]
        .into_iter()
        .find_map(|k| config(k).map(|n| (k, n)))
        .expect("scontrol show config has MaxJobCount");
    if limit >= 50_000 {
        eprintln!("SKIP the job-limit refusal: {key} is {limit}, a spec over it is too large to plan here");
        return;
    }
    let n = limit + 1;
    let cells: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let big = format!(
        "[pipeline]\nname = \"big\"\nout = \"out\"\n[axes]\nn = [{}]\n[target.\"t{{n}}\"]\nmatrix = {{ n = \"n\" }}\n\
         command = \"write-file {{out}} t{{n}}\"\noutputs = [\"t/{{n}}.txt\"]\n",
        cells.join(",")
    );
    std::fs::write(s.d.join("big.toml"), big).unwrap();
    let msg =
        common::run_err(&mut s.synthmix(&["run", "big.toml", "--executor", "slurm", "--max-targets", &n.to_string()]));
    assert!(
        msg.contains(&format!("would queue {n} Slurm jobs"))
            && msg.contains(&format!("{key} of {limit}"))
            && msg.contains("nothing was submitted"),
        "{msg}"
    );
}
