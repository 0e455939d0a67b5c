//! The store is trusted only after a hash: a damaged or replaced store
//! object is never restored nor served, a target's key is recorded only
//! with the hashes of the inputs it actually read, `--verify` rechecks what
//! read a result it repaired, and a stage run by hand may not write into an
//! artifacts folder a runner holds.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{bin, hash, run_err, run_ok, stdout, synthmix_at as synthmix, walk, with_verb};

/// A small mix → classifier → evaluation.
const SPEC: &str = r#"[pipeline]
name = "c"
out = "out"

[target.mix]
command = "mix-build --real mnist:test --synthetic mnist:test --ratio 1:0 --total 300 --seed 0 --out {out}"
outputs = ["mix/m.safetensors"]

[target.clf]
command = "clf-train --train {in} --arch simple-cnn --epochs 1 --limit 200 --batch-size 32 --seed 0 --out {out}"
inputs = ["mix"]
outputs = ["clf/c.safetensors"]

[target.eval]
command = "evaluate --classifier {in.clf} --test {in.test} --out {out}"
inputs = { clf = "clf", test = "mix" }
outputs = ["metrics/e.json"]
"#;

fn object(d: &Path, hash: &str) -> PathBuf {
    d.join("artifacts/store").join(&hash[..2]).join(hash)
}

/// Flips one byte in the middle of a (read-only) file: same size, new time.
fn flip(p: &Path) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut b = std::fs::read(p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(p, b).unwrap();
}

/// Flips a byte of a placed output and gives it back its old time, so size
/// and time say it is in place.
fn flip_keeping_time(p: &Path) {
    let t = std::fs::metadata(p).unwrap().modified().unwrap();
    flip(p);
    std::fs::File::options().write(true).open(p).unwrap().set_modified(t).unwrap();
}

/// Runs SPEC once; the placed checkpoint's and metrics' hashes.
fn first_run(d: &Path) -> (String, String) {
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    let out = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "-j", "1"])));
    assert_eq!(with_verb(&out, "done").len(), 3, "{out}");
    (hash(&d.join("out/clf/c.safetensors")), hash(&d.join("out/metrics/e.json")))
}

#[test]
fn a_damaged_or_replaced_store_object_is_never_restored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (clf, metrics) = first_run(d);
    let placed = d.join("out/clf/c.safetensors");

    // A flipped byte in the stored checkpoint (same size): not restored over
    // the good placed output, but rebuilt, and the store repaired.
    flip(&object(d, &clf));
    let st = stdout(&run_ok(synthmix(d).args(["status", "spec.toml"])));
    assert!(st.lines().any(|l| l.starts_with("clf ") && l.contains("out of date") && l.contains("damaged")), "{st}");
    let out = stdout(&run_ok(synthmix(d).args(["run", "spec.toml"])));
    assert_eq!(with_verb(&out, "done"), ["clf", "eval"], "rebuilt, and what read it rechecked:\n{out}");
    assert!(with_verb(&out, "restored").is_empty(), "{out}");
    assert_eq!((hash(&placed), hash(&object(d, &clf))), (clf.clone(), clf.clone()));
    assert_eq!(hash(&d.join("out/metrics/e.json")), metrics);

    // A store object swapped for a symlink (to a good copy, or a bad one) is
    // never served, and the rerun puts a plain file back.
    for bad in [false, true] {
        let copy = d.join("copy.bin");
        let _ = std::fs::remove_file(&copy);
        std::fs::copy(object(d, &clf), &copy).unwrap();
        if bad {
            flip(&copy);
        }
        std::fs::remove_file(object(d, &clf)).unwrap();
        std::os::unix::fs::symlink(&copy, object(d, &clf)).unwrap();
        let out = stdout(&run_ok(synthmix(d).args(["run", "spec.toml"])));
        assert!(with_verb(&out, "done").contains(&"clf".to_string()), "bad={bad}:\n{out}");
        assert!(std::fs::symlink_metadata(object(d, &clf)).unwrap().file_type().is_file(), "bad={bad}");
        assert_eq!(hash(&placed), clf, "bad={bad}");
    }
    assert_eq!(hash(&d.join("out/metrics/e.json")), metrics);
}

/// A poisoned evaluation recorded under the good checkpoint's key (as an
/// evaluation that read a damaged checkpoint once was): after `--verify`
/// repairs the checkpoint, the evaluation is rechecked, not served.
#[test]
fn verify_rechecks_what_read_a_repaired_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (clf, metrics) = first_run(d);
    for damage_store in [true, false] {
        poison_evaluation(d, &metrics);
        if damage_store {
            flip(&object(d, &clf));
        } else {
            flip_keeping_time(&d.join("out/clf/c.safetensors"));
        }
        let out = stdout(&run_ok(synthmix(d).args(["run", "spec.toml", "--verify"])));
        assert!(with_verb(&out, "done").contains(&"eval".to_string()), "damage_store={damage_store}:\n{out}");
        assert!(out.contains("rechecked"), "{out}");
        assert_eq!(hash(&d.join("out/clf/c.safetensors")), clf);
        assert_eq!(hash(&d.join("out/metrics/e.json")), metrics, "damage_store={damage_store}");
        let st = stdout(&run_ok(synthmix(d).args(["status", "spec.toml", "--verify"])));
        assert!(st.contains("3 up to date"), "{st}");
    }
}

/// Rewrites the evaluation's cache record to point at metrics with another
/// accuracy (a consistent record: its object hashes to its name).
fn poison_evaluation(d: &Path, good: &str) {
    let rec_path = walk(&d.join("artifacts/cache"))
        .into_iter()
        .find(|p| std::fs::read_to_string(p).unwrap().contains("\"target\": \"eval\""))
        .unwrap();
    let mut rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rec_path).unwrap()).unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(object(d, good)).unwrap()).unwrap();
    m["results"][0]["accuracy"] = serde_json::json!(0.1);
    let bytes = serde_json::to_vec_pretty(&m).unwrap();
    let h = blake3::hash(&bytes).to_hex().to_string();
    std::fs::create_dir_all(object(d, &h).parent().unwrap()).unwrap();
    std::fs::write(object(d, &h), &bytes).unwrap();
    for o in rec["outputs"].as_array_mut().unwrap() {
        if o["path"] == "metrics/e.json" {
            o["blake3"] = h.clone().into();
            o["bytes"] = bytes.len().into();
        }
    }
    std::fs::write(&rec_path, serde_json::to_string_pretty(&rec).unwrap()).unwrap();
}

/// Shell-script stages for the lock and input-change cases.
fn script_stages(d: &Path) -> PathBuf {
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        ("write-file", "#!/bin/sh\nout=\"$1\"; shift\nmkdir -p \"$(dirname \"$out\")\"\necho \"$@\" > \"$out\"\n"),
        ("slow-copy", "#!/bin/sh\nsleep \"$3\"\ncat \"$1\" > \"$2\"\n"),
    ];
    for (name, body) in scripts {
        std::fs::write(bin.join(name), body).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Waits for a file to appear.
fn wait_for(p: &Path) {
    let t0 = Instant::now();
    while !p.is_file() {
        assert!(t0.elapsed() < Duration::from_secs(30), "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

const SLOW: &str = r#"[pipeline]
name = "s"

[target.base]
command = "write-file {out} base"
outputs = ["base.txt"]

[target.copy]
command = "slow-copy {in} {out} 3"
inputs = ["base"]
outputs = ["copy.txt"]
"#;

/// A placed input rewritten while its reader runs: the reader's result is
/// not recorded under a key made from the old content.
#[test]
fn an_input_changed_while_its_reader_runs_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bins = script_stages(d);
    std::fs::write(d.join("spec.toml"), SLOW).unwrap();
    let run = synthmix(d)
        .env("SYNTHMIX_BIN_DIR", &bins)
        .args(["run", "spec.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&d.join("artifacts/logs/s/copy.log"));
    let base = d.join("artifacts/base.txt");
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&base, "changed by hand\n").unwrap();
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("copy") && err.contains("base.txt changed while it ran"), "{err}");
    let st = stdout(&run_ok(synthmix(d).env("SYNTHMIX_BIN_DIR", &bins).args(["status", "spec.toml"])));
    assert!(st.lines().any(|l| l.starts_with("copy") && l.contains("out of date")), "nothing recorded:\n{st}");
}

/// A stage run by hand into an artifacts folder a runner holds is refused;
/// once the runner is gone it writes there.
#[test]
fn a_stage_by_hand_may_not_write_into_a_held_artifacts_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bins = script_stages(d);
    std::fs::write(d.join("spec.toml"), SLOW.replace("{out} 3", "{out} 30")).unwrap();
    let mut run = synthmix(d)
        .env("SYNTHMIX_BIN_DIR", &bins)
        .args(["run", "spec.toml"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&d.join("artifacts/logs/s/copy.log"));
    let mix = |out: &str| {
        let mut c = bin("mix-build");
        c.current_dir(d).args(["--real", "mnist:test", "--subset", "balanced:20", "--out", out]);
        c
    };
    for out in ["artifacts/x.safetensors", "artifacts/.staging/copy/y.safetensors", "artifacts/new/z.safetensors"] {
        let e = run_err(&mut mix(out));
        assert!(e.contains(out) && e.contains("runner is using"), "{e}");
        assert!(!d.join(out).exists());
    }
    run.kill().unwrap();
    run.wait().unwrap();
    run_ok(&mut mix("artifacts/x.safetensors"));
}
