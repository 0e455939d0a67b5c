//! The runner on a small pipeline of real stages (data export, mix-build, a
//! tiny clf-train, evaluate, report) and on shell-script stages: cached
//! reruns, parameter changes rerunning only dependants (and saying why), a
//! SIGKILL in the middle of a stage, the lock, failures and --keep-going.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{bin, hash, run_err, run_ok, stdout, synthmix_at as synthmix, walk, with_verb};

/// export → two mixes → clf-train (2 seeds each) → evaluate → report.
const SPEC: &str = r#"[pipeline]
name = "tiny"
out = "out"

[axes]
mix = [{ name = "O", ratio = "1:0" }, { name = "1-1", ratio = "1:1" }]
seed = [0, 1]

[params]
epochs = 1

[target.export]
command = "synthmix data export mnist:test --out {out}"
outputs = ["data/mnist-test.safetensors"]

[target.synthetic]
command = "mix-build --real mnist-c/shot_noise:test --synthetic mnist-c/shot_noise:test --ratio 0:1 --total 600 --seed 3 --out {out}"
outputs = ["data/stand-in-synthetic.safetensors"]

[target."mix-{mix}"]
matrix = { mix = "mix" }
command = "mix-build --real {in.real} --synthetic {in.synthetic} --ratio {mix.ratio} --total {total} --seed 0 --out {out}"
inputs = { real = "export", synthetic = "synthetic" }
outputs = ["mix/{mix}.safetensors"]
params = { total = 400 }

[target."clf-{mix}-s{seed}"]
matrix = { mix = "mix", seed = "seed" }
command = "clf-train --train {in} --arch simple-cnn --epochs {epochs} --limit {limit} --batch-size 32 --seed {seed} --out {out}"
inputs = ["mix-{mix}"]
outputs = ["clf/{mix}-s{seed}.safetensors"]
params = { limit = LIMIT }

[target."eval-{mix}-s{seed}"]
matrix = { mix = "mix", seed = "seed" }
command = "evaluate --classifier {in.clf} --test {in.test} --out {out}"
inputs = { clf = "clf-{mix}-s{seed}", test = ["mix-O", "synthetic"] }
outputs = ["metrics/{mix}-s{seed}.json"]

[target.report]
command = "synthmix report --metrics {in.metrics} --out {out} --title \"tiny study\""
inputs = { metrics = "eval-*" }
outputs = ["report/report.md"]
"#;

fn spec(limit: usize) -> String {
    SPEC.replace("LIMIT", &limit.to_string())
}

/// Accuracies of a METRICS.json.
fn accuracies(p: &Path) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v["results"].as_array().unwrap().iter().map(|r| r["accuracy"].as_f64().unwrap()).collect()
}

fn require_stages() {
    for s in ["mix-build", "clf-train", "evaluate"] {
        bin(s); // asserts the binary is built
    }
}

#[test]
fn reruns_are_cached_and_a_parameter_change_reruns_only_dependants() {
    require_stages();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("spec.toml"), spec(64)).unwrap();

    let first = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "-j", "2"])));
    assert_eq!(with_verb(&first, "done").len(), 13, "{first}");
    assert!(first.contains("new (never built)"), "{first}");
    let report = std::fs::read_to_string(d.join("out/report/report.md")).unwrap();
    assert!(report.starts_with("# tiny study"), "{report}");
    assert!(report.contains("| MNIST | none | O |") && report.contains("(n=2)"), "{report}");
    for f in ["table2.csv", "table3.md", "figure2.png", "results.csv"] {
        assert!(d.join("out/report").join(f).is_file(), "{f}");
    }
    // Side files (provenance, logs) are collected with the declared outputs.
    assert!(d.join("out/clf/O-s0.prov.bin").is_file() && d.join("out/clf/O-s0.log.csv").is_file());
    assert!(d.join("artifacts/logs/tiny/clf-O-s0.log").is_file());
    let clf_hash = hash(&d.join("out/clf/O-s0.safetensors"));

    // Everything cached: nothing runs.
    let t0 = Instant::now();
    let again = stdout(&run_ok(synthmix(d).args(["run", "spec.toml"])));
    assert!(with_verb(&again, "run").is_empty(), "{again}");
    assert_eq!(with_verb(&again, "up to date").len(), 13, "{again}");
    assert!(t0.elapsed() < Duration::from_secs(10), "a fully cached run takes {:?}", t0.elapsed());
    let status = stdout(&run_ok(synthmix(d).args(["status", "spec.toml"])));
    assert!(status.contains("13 up to date, 0 cached but not in place, 0 to run"), "{status}");

    // A classifier parameter changes: only classifiers and what reads them run, and the runner says why.
    std::fs::write(d.join("spec.toml"), spec(96)).unwrap();
    let dry = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "--dry-run"])));
    assert!(dry.contains("would run     clf-O-s0     changed parameter limit: 64 → 96"), "{dry}");
    assert!(dry.contains("up to date    mix-O"), "{dry}");
    assert!(dry.contains("dry run: 9 of 13 targets would run"), "{dry}");
    let changed = stdout(&run_ok(synthmix(d).args(["run", "spec.toml"])));
    let ran = with_verb(&changed, "done");
    assert_eq!(ran.len(), 9, "{changed}");
    assert!(ran.iter().all(|t| t.starts_with("clf-") || t.starts_with("eval-") || t == "report"), "{ran:?}");
    for t in ["export", "synthetic", "mix-O", "mix-1-1"] {
        assert!(with_verb(&changed, "up to date").contains(&t.to_string()), "{t} should be cached:\n{changed}");
    }
    assert!(changed.contains("changed parameter limit: 64 → 96"), "{changed}");
    assert_ne!(hash(&d.join("out/clf/O-s0.safetensors")), clf_hash);

    // Back to the old value: every result comes from the cache, bit for bit.
    std::fs::write(d.join("spec.toml"), spec(64)).unwrap();
    let back = stdout(&run_ok(synthmix(d).args(["run", "spec.toml"])));
    assert!(with_verb(&back, "run").is_empty(), "{back}");
    assert_eq!(with_verb(&back, "restored").len(), 9, "{back}");
    assert_eq!(hash(&d.join("out/clf/O-s0.safetensors")), clf_hash);

    // A deleted output is put back from the store without running.
    std::fs::remove_file(d.join("out/mix/O.safetensors")).unwrap();
    let st = stdout(&run_ok(synthmix(d).args(["status", "spec.toml"])));
    assert!(st.contains("mix-O") && st.contains("cached, not in place"), "{st}");
    let restored = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "mix-O"])));
    assert_eq!(with_verb(&restored, "restored"), ["mix-O"], "{restored}");
    assert!(d.join("out/mix/O.safetensors").is_file());

    // --force reruns only the named target.
    let forced = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "--force", "clf-O-s0"])));
    assert!(forced.contains("clf-O-s0") && forced.contains("forced"), "{forced}");
    assert_eq!(with_verb(&forced, "done"), ["clf-O-s0"], "{forced}");
}

/// Processes (other than this test) whose working directory is `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    let me = std::process::id().to_string();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if std::fs::read_link(e.path().join("cwd")).ok().as_deref() == Some(dir.as_path()) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            v.push(format!("{pid}: {}", String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    v
}

/// Starts `clf-O-s0` (its mix already built) and returns the running
/// `synthmix run` once the stage has written its first checkpoint.
fn run_until_first_checkpoint(d: &Path) -> std::process::Child {
    run_ok(synthmix(d).args(["run", "spec.toml", "-j", "1", "mix-O"]));
    let mut child = synthmix(d)
        .args(["run", "spec.toml", "-j", "1", "clf-O-s0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = d.join("artifacts/.staging/clf-O-s0/clf/O-s0.safetensors");
    let t0 = Instant::now();
    while !partial.is_file() {
        assert!(t0.elapsed() < Duration::from_secs(120), "clf-O-s0 never wrote its first checkpoint");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_stage_stopped_by_sigterm_resumes_and_one_that_fails_does_not() {
    require_stages();
    // 20 epochs, so the stage is still training when the signal comes.
    let b = tempfile::tempdir().unwrap();
    let d = b.path();
    std::fs::write(d.join("spec.toml"), spec(1500).replace("epochs = 1", "epochs = 20")).unwrap();
    let child = run_until_first_checkpoint(d);
    // `kill` the stage, not the run (as a session's end or a user does).
    let stage = processes_in(d).into_iter().find(|p| p.contains("clf-train")).expect("clf-train runs");
    let pid = stage.split(':').next().unwrap();
    run_ok(std::process::Command::new("kill").args(["-TERM", pid]));
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && said.contains("SIGTERM"), "{said}");
    assert!(d.join("artifacts/.staging/clf-O-s0.key").is_file(), "a stopped stage keeps its key");
    let resumed = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "-j", "1", "clf-O-s0"])));
    assert!(
        resumed.lines().any(|l| l.starts_with("run") && l.contains("clf-O-s0") && l.contains("resuming")),
        "the stopped stage continues its run: {resumed}"
    );

    // A stage that fails by itself (an abort) starts afresh next time.
    let e = tempfile::tempdir().unwrap();
    let d = e.path();
    std::fs::write(d.join("spec.toml"), spec(1500).replace("epochs = 1", "epochs = 20")).unwrap();
    let child = run_until_first_checkpoint(d);
    let stage = processes_in(d).into_iter().find(|p| p.contains("clf-train")).expect("clf-train runs");
    run_ok(std::process::Command::new("kill").args(["-ABRT", stage.split(':').next().unwrap()]));
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!d.join("artifacts/.staging/clf-O-s0.key").exists(), "a failed stage is not resumed");
}

#[test]
fn sigkill_in_the_middle_of_a_stage_resumes_with_identical_results() {
    require_stages();
    // Reference: one uninterrupted run.
    let a = tempfile::tempdir().unwrap();
    let two_epochs = spec(1500).replace("epochs = 1", "epochs = 2");
    std::fs::write(a.path().join("spec.toml"), &two_epochs).unwrap();
    run_ok(synthmix(a.path()).args(["run", "spec.toml", "-j", "1"]));

    // The same spec in another folder, killed while clf-O-s0 is training
    // (after it wrote its epoch-1 checkpoint into the staging folder).
    let b = tempfile::tempdir().unwrap();
    let d = b.path();
    std::fs::write(d.join("spec.toml"), &two_epochs).unwrap();
    let mut child = run_until_first_checkpoint(d);
    let partial = d.join("artifacts/.staging/clf-O-s0/clf/O-s0.safetensors");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial_hash = hash(&partial);
    // The stage dies with its runner (no orphan keeps writing).
    let t0 = Instant::now();
    while !processes_in(d).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "orphans: {:?}", processes_in(d));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing partial entered the cache, nothing is in place.
    assert!(!d.join("out/clf/O-s0.safetensors").exists());
    let objects = walk(&d.join("artifacts/store"));
    assert!(
        objects.iter().all(|o| o.file_name().unwrap().to_string_lossy() != partial_hash),
        "partial checkpoint in the store"
    );
    let records = walk(&d.join("artifacts/cache"));
    assert!(records.iter().all(|r| !std::fs::read_to_string(r).unwrap().contains("\"target\": \"clf-O-s0\"")));

    // Run again: it resumes and ends with the reference's results.
    let resumed = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "-j", "1"])));
    assert!(with_verb(&resumed, "up to date").contains(&"mix-O".to_string()), "{resumed}");
    assert!(
        resumed.lines().any(|l| l.starts_with("run") && l.contains("clf-O-s0") && l.contains("resuming")),
        "the killed stage continues its run: {resumed}"
    );
    for f in [
        "mix/O.safetensors",
        "mix/1-1.safetensors",
        "clf/O-s0.safetensors",
        "clf/1-1-s1.safetensors",
        "data/mnist-test.safetensors",
    ] {
        assert_eq!(hash(&a.path().join("out").join(f)), hash(&d.join("out").join(f)), "{f}");
    }
    for f in ["metrics/O-s0.json", "metrics/1-1-s1.json"] {
        assert_eq!(accuracies(&a.path().join("out").join(f)), accuracies(&d.join("out").join(f)), "{f}");
    }
    // Every store object belongs to a record, and every record's objects are intact.
    let referenced = common::recorded_objects(&d.join("artifacts"));
    for o in walk(&d.join("artifacts/store")) {
        let name = o.file_name().unwrap().to_string_lossy().into_owned();
        assert!(referenced.contains(&name), "unreferenced store object {}", o.display());
        assert_eq!(hash(&o), name, "store object content differs from its name");
    }
    assert!(!d.join("artifacts/.staging/clf-O-s0").exists(), "staging cleaned after success");
    assert!(!d.join("artifacts/.staging/clf-O-s0.key").exists(), "its key file too");
}

/// Shell-script stages in a bin folder (SYNTHMIX_BIN_DIR), for runner
/// mechanics that need no real work.
fn script_stages(d: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        // write-file OUT TEXT [INPUT…]: OUT gets TEXT and the inputs' contents.
        ("write-file", "#!/bin/sh\nout=$1; shift; text=$1; shift\n{ echo \"$text\"; for f in \"$@\"; do cat \"$f\"; done; } > \"$out\"\n"),
        ("slow-write", "#!/bin/sh\nsleep \"$2\"\necho slow > \"$1\"\n"),
        ("fail", "#!/bin/sh\necho \"error: this stage always fails\" >&2\nexit 3\n"),
    ];
    for (name, body) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn the_lock_refuses_a_second_runner() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin_dir = script_stages(d);
    std::fs::write(d.join("spec.toml"), "[target.slow]\ncommand = \"slow-write {out} 30\"\noutputs = [\"slow.txt\"]\n")
        .unwrap();
    let mut first = synthmix(d)
        .env("SYNTHMIX_BIN_DIR", &bin_dir)
        .args(["run", "spec.toml"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !d.join("artifacts/logs/spec/slow.log").is_file() {
        assert!(t0.elapsed() < Duration::from_secs(30), "first runner never started its stage");
        std::thread::sleep(Duration::from_millis(20));
    }
    let msg = run_err(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["run", "spec.toml"]));
    assert!(msg.contains("artifacts/.lock: another synthmix runner is using this artifacts folder"), "{msg}");
    assert!(msg.contains(&format!("pid {}", first.id())), "{msg}");
    // Read-only commands still work while a run holds the lock.
    let st = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["status", "spec.toml"])));
    assert!(st.contains("slow") && st.contains("out of date: new"), "{st}");
    first.kill().unwrap();
    first.wait().unwrap();
    // A killed runner leaves no stale lock.
    std::fs::write(d.join("spec.toml"), "[target.slow]\ncommand = \"slow-write {out} 0\"\noutputs = [\"slow.txt\"]\n")
        .unwrap();
    run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["run", "spec.toml"]));
    assert_eq!(std::fs::read_to_string(d.join("artifacts/slow.txt")).unwrap(), "slow\n");
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

[target."side-{n}"]
matrix = { n = [1, 2, 3] }
command = "write-file {out} side-{n} {in}"
inputs = ["base"]
outputs = ["side-{n}.txt"]
"#;

#[test]
fn a_failure_stops_dependants_and_keep_going_finishes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin_dir = script_stages(d);
    std::fs::write(d.join("spec.toml"), FAILING).unwrap();
    let out = synthmix(d)
        .env("SYNTHMIX_BIN_DIR", &bin_dir)
        .args(["run", "spec.toml", "-j", "1", "--keep-going"])
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    let err: Vec<&str> = se.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(err.len(), 1, "{se}");
    assert!(
        err[0].contains(
            "1 target failed: broken (exit status: 3; log artifacts/logs/f/broken.log: error: this stage always fails)"
        ),
        "{}",
        err[0]
    );
    assert!(with_verb(&so, "skipped").contains(&"after-broken".to_string()), "{so}");
    for n in 1..=3 {
        assert_eq!(std::fs::read_to_string(d.join(format!("out/side-{n}.txt"))).unwrap(), format!("side-{n}\nbase\n"));
    }
    assert!(!d.join("out/broken.txt").exists() && !d.join("out/after.txt").exists());

    // Without --keep-going the runner starts nothing new after the failure.
    let d2 = tempfile::tempdir().unwrap();
    std::fs::write(d2.path().join("spec.toml"), FAILING.replace("[target.\"side-{n}\"]", "[target.\"z-side-{n}\"]"))
        .unwrap();
    let out =
        synthmix(d2.path()).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["run", "spec.toml", "-j", "1"]).output().unwrap();
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use --keep-going"), "{so}");
    assert!(with_verb(&so, "done").len() < 5, "{so}");

    // A command that succeeds without writing its declared output fails the target.
    std::fs::write(
        d.join("spec.toml"),
        "[target.liar]\ncommand = \"slow-write {out}.other 0\"\noutputs = [\"x.txt\"]\n",
    )
    .unwrap();
    let msg = run_err(synthmix(d).env("SYNTHMIX_BIN_DIR", &bin_dir).args(["run", "spec.toml"]));
    assert!(msg.contains("liar") && msg.contains("did not write its declared output x.txt"), "{msg}");
}

/// The path of a store object by its hash.
fn object(d: &Path, hash: &str) -> PathBuf {
    d.join("artifacts/store").join(&hash[..2]).join(hash)
}

/// Makes a read-only file writable and appends a byte, as a user editing it would.
fn tamper(p: &Path) {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::OpenOptions::new().append(true).open(p).unwrap().write_all(b"x").unwrap();
}

#[test]
fn the_cache_cannot_be_fooled_by_edits_symlinks_or_another_artifacts_dir() {
    require_stages();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("spec.toml"), spec(64)).unwrap();
    // A data dir of symlinks to the real MNIST files.
    let data = d.join("data");
    std::fs::create_dir_all(data.join("mnist")).unwrap();
    let real = common::shared_data();
    for f in common::ls(&real.join("mnist")) {
        std::os::unix::fs::symlink(real.join("mnist").join(&f), data.join("mnist").join(&f)).unwrap();
    }
    let run = |args: &[&str]| stdout(&run_ok(synthmix(d).arg("--data-dir").arg(&data).args(args)));
    run(&["run", "spec.toml", "export"]);
    let out = d.join("out/data/mnist-test.safetensors");
    let good = hash(&out);

    // Editing a placed output leaves the store alone; the next run restores it.
    tamper(&out);
    assert_eq!(hash(&object(d, &good)), good, "the store object is a separate file");
    assert!(run(&["status", "spec.toml", "export"]).contains("cached, not in place"));
    assert_eq!(with_verb(&run(&["run", "spec.toml", "export"]), "restored"), ["export"]);
    assert_eq!(hash(&out), good);

    // A changed store object: trusted by size and time alone, caught by --verify and rebuilt.
    tamper(&object(d, &good));
    let st = run(&["status", "spec.toml", "export", "--verify"]);
    assert!(st.contains("export") && st.contains("out of date"), "{st}");
    let rerun = run(&["run", "spec.toml", "export", "--verify"]);
    assert_eq!(with_verb(&rerun, "done"), ["export"], "{rerun}");
    assert_eq!((hash(&out), hash(&object(d, &good))), (good.clone(), good.clone()), "rebuilt, store repaired");
    // --force never reuses a bad object either.
    tamper(&object(d, &good));
    run(&["run", "spec.toml", "export", "--force"]);
    assert_eq!(hash(&object(d, &good)), good);

    // The key follows the files a target reads, through symlinks: repointing
    // the training images leaves mnist:test cached; repointing its own test
    // images does not.
    let repoint = |name: &str, to: &str| {
        let l = data.join("mnist").join(name);
        std::fs::remove_file(&l).unwrap();
        std::os::unix::fs::symlink(real.join("fashion-mnist").join(to), &l).unwrap();
    };
    let img = |stem: &str| {
        common::ls(&real.join("mnist")).into_iter().find(|f| f.starts_with(stem) && f.contains("images")).unwrap()
    };
    let (train, test) = (img("train"), img("t10k"));
    repoint(&train, &train);
    assert!(run(&["status", "spec.toml", "export"]).contains("1 up to date"), "test files unchanged");
    repoint(&test, &test);
    let st = run(&["status", "spec.toml", "export"]);
    assert!(st.contains("0 up to date") && st.contains("changed input mnist:test"), "{st}");

    // --artifacts moves the outputs too: another folder, another copy.
    let other = d.join("elsewhere");
    run(&["run", "spec.toml", "export", "--artifacts", other.to_str().unwrap()]);
    assert!(other.join("out/data/mnist-test.safetensors").is_file());
    assert_eq!(hash(&out), good, "the first study's output is untouched");

    // A killed run's leftovers (a record's temporary, an unrecorded store
    // object) are swept by the next run, under its lock — never by status,
    // which may run beside a live runner.
    let tmp = d.join("artifacts/cache/zz/.abc.json.x1.tmp");
    let orphan = object(d, "ffff00");
    for f in [&tmp, &orphan] {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, b"x").unwrap();
    }
    run(&["status", "spec.toml", "export"]);
    assert!(tmp.exists() && orphan.exists(), "status only reads");
    run(&["run", "spec.toml", "export"]);
    assert!(!tmp.exists() && !orphan.exists(), "the run swept them");
    assert_eq!(hash(&object(d, &good)), good, "recorded objects stay");
}
