//! `synthmix estimate`: the makespan of a spec's graph on N workers from the
//! cache's records, and its refusals (one line each).

use crate::common;

use std::path::Path;
use std::time::Instant;

use common::slurm::script_stages;
use common::{run_err, run_ok, stdout, synthmix_at};

/// a (sleeps 0.6 s) → b0, b1, b2 (0.3 s each) → c (0.1 s).
const SPEC: &str = r#"[pipeline]
name = "est"
out = "out"

[axes]
n = [0, 1, 2]

[target.a]
command = "sleep-write {out} 0.6"
outputs = ["a.txt"]

[target."b{n}"]
matrix = { n = "n" }
command = "sleep-write {out} 0.3 {in}"
inputs = ["a"]
outputs = ["b{n}.txt"]

[target.c]
command = "sleep-write {out} 0.1 {in}"
inputs = ["b*"]
outputs = ["c.txt"]
"#;

fn study(d: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = script_stages(d);
    let p = bin.join("sleep-write");
    std::fs::write(&p, "#!/bin/sh\nsleep \"$2\"\necho done > \"$1\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    bin
}

/// The makespan in seconds of the row for `workers` (no GPUs).
fn makespan(out: &str, workers: usize) -> f64 {
    let row = out
        .lines()
        .find(|l| l.split_whitespace().take(2).collect::<Vec<_>>() == [workers.to_string().as_str(), "0"])
        .unwrap_or_else(|| panic!("no row for {workers} workers:\n{out}"));
    let m = row.split_whitespace().nth(2).unwrap();
    m.trim_end_matches('s').parse::<f64>().unwrap_or_else(|_| panic!("{row}"))
}

#[test]
fn the_estimate_schedules_the_recorded_durations_and_refuses_bad_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = study(d);
    let synthmix = || {
        let mut c = synthmix_at(d);
        c.env("SYNTHMIX_BIN_DIR", &bin);
        c
    };
    let msg = run_err(synthmix().args(["estimate", "spec.toml"]));
    assert!(msg.contains("no records to estimate from") && msg.contains("'est'"), "{msg}");
    run_ok(synthmix().args(["run", "spec.toml", "-j", "1"]));
    let out = stdout(&run_ok(synthmix().args(["estimate", "spec.toml", "--workers", "1,3", "--timing", "wall"])));
    // 0.6 + 3 × 0.3 + 0.1 s of work (and the runner's own overhead per target).
    let (one, three) = (makespan(&out, 1), makespan(&out, 3));
    assert!((1.0..=4.0).contains(&one), "{out}");
    assert!(three < one && three >= 0.9, "{out}");
    assert!(out.contains("5 targets from this machine's records"), "{out}");
    assert!(out.contains("critical path:") && out.contains("a (") && out.contains("→ c ("), "{out}");
    assert!(out.contains("busiest stage kind: sleep-write"), "{out}");
    assert!(out.contains("longest target per stage kind: sleep-write "), "{out}");
    cpu_timing_and_resumed_records(d, &synthmix);
    // A changed command: its old record times other work and is left out.
    std::fs::write(d.join("spec.toml"), SPEC.replace("{out} 0.1 {in}", "{out} 0.2 {in}")).unwrap();
    let out = stdout(&run_ok(synthmix().args(["estimate", "spec.toml", "--timing", "wall"])));
    assert!(out.contains("4 targets from this machine's records") && out.contains("1 from per-stage models"), "{out}");
    assert!(out.contains("1 records left out: of an older command"), "{out}");
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();

    for bad in ["-1", "x", "0", "1,-8"] {
        let msg = run_err(synthmix().args(["estimate", "spec.toml", "--workers", bad]));
        assert!(msg.contains("--workers") && msg.contains("is not a count"), "{bad}: {msg}");
    }
    let msg = run_err(synthmix().args(["estimate", "spec.toml", "--gpus", "two"]));
    assert!(msg.contains("--gpus: 'two' is not a count"), "{msg}");
    std::fs::write(
        d.join("cycle.toml"),
        SPEC.replace(
            "command = \"sleep-write {out} 0.6\"",
            "command = \"sleep-write {out} 0.6 {in}\"\ninputs = [\"c\"]",
        ),
    )
    .unwrap();
    let msg = run_err(synthmix().args(["estimate", "cycle.toml"]));
    assert!(msg.contains("cycle"), "{msg}");
    std::fs::write(d.join("missing.toml"), SPEC.replace("inputs = [\"a\"]", "inputs = [\"nothing-makes-this\"]"))
        .unwrap();
    let msg = run_err(synthmix().args(["estimate", "missing.toml"]));
    assert!(msg.contains("nothing-makes-this"), "{msg}");
}

/// Every record carries its run's CPU time and threads; the default timing
/// prices a target at CPU time ÷ threads (a sleeping stage costs nothing),
/// and a resumed run's record is left out.
fn cpu_timing_and_resumed_records(d: &Path, synthmix: &dyn Fn() -> std::process::Command) {
    let mut records = Vec::new();
    for e in walkdir(&d.join("artifacts/cache")) {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&e).unwrap()).unwrap();
        assert!(v["threads"].as_u64().is_some_and(|n| n >= 1), "{v}");
        let (cpu, wall) = (v["cpu_time_s"].as_f64().unwrap(), v["wall_time_s"].as_f64().unwrap());
        assert!(cpu < 0.1 && wall >= 0.1, "a sleep costs wall time, not CPU time: {v}");
        records.push((e, v));
    }
    assert_eq!(records.len(), 5);
    let out = stdout(&run_ok(synthmix().args(["estimate", "spec.toml", "--workers", "1"])));
    assert!(out.contains("CPU time ÷ threads") && makespan(&out, 1) < 0.5, "{out}");
    let (path, mut v) = records.into_iter().find(|(_, v)| v["target"] == "a").unwrap();
    v["resumed"] = serde_json::Value::Bool(true);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = stdout(&run_ok(synthmix().args(["estimate", "spec.toml", "--workers", "1"])));
    assert!(out.contains("1 records left out: of a resumed run") && out.contains("4 targets from"), "{out}");
    v["resumed"] = serde_json::Value::Bool(false);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// The files under `dir`, recursively.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walkdir(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            v.push(p);
        }
    }
    v
}

#[test]
fn the_estimate_of_the_1514_target_strategies_study_takes_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = study(d);
    let mut c = synthmix_at(d);
    run_ok(c.env("SYNTHMIX_BIN_DIR", &bin).args(["run", "spec.toml"]));
    let strategies = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/strategies.toml");
    let t0 = Instant::now();
    let mut c = synthmix_at(d);
    let out = stdout(&run_ok(c.env("SYNTHMIX_BIN_DIR", &bin).args([
        "estimate",
        strategies.to_str().unwrap(),
        "--workers",
        "1,8,64",
        "--gpus",
        "8",
        "--artifacts",
        d.join("artifacts").to_str().unwrap(),
        "--calibrate",
        "spec.toml",
    ])));
    let secs = t0.elapsed().as_secs_f64();
    assert!(out.contains("1514 targets"), "{out}");
    // No record of strategies' stage kinds here: every target guessed, and said so.
    assert!(out.contains("1514 guessed") && out.contains("no record of: "), "{out}");
    assert!(out.lines().filter(|l| l.trim_start().starts_with("64 ")).count() == 2, "{out}");
    assert!(secs < 20.0, "estimate of 1514 targets took {secs:.1} s");
}
