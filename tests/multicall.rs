//! The multi-call `synthmix`: under a stage's name (symlink or copy) and as
//! `synthmix STAGE ARGS…` it is that stage, byte for byte; and a copy of it
//! alone carries a whole pipeline (the runner falls back to its built-in
//! stages, keyed by the hash of the executable it actually runs).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, run_ok, shared_data, stdout};

const STAGES: [&str; 6] = ["gan-train", "dpm-train", "synth-sample", "mix-build", "clf-train", "evaluate"];

/// A command for the program at `exe`, set up as `common::bin` sets up the built ones.
fn program(exe: &Path) -> Command {
    let mut c = Command::new(exe);
    c.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG").env("SYNTHMIX_DATA", shared_data()).env("NO_COLOR", "1");
    c
}

/// A copy of the built `synthmix` at `dir/name`; `extra` bytes appended after
/// the executable (which the loader ignores) make its hash differ.
fn copy_synthmix(dir: &Path, name: &str, extra: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let to = dir.join(name);
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_synthmix")).unwrap();
    bytes.extend_from_slice(extra);
    std::fs::write(&to, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    to
}

#[test]
fn under_a_stage_name_synthmix_is_that_stage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let multi = copy_synthmix(d, "synthmix", b"");
    for (i, stage) in STAGES.into_iter().enumerate() {
        // Symlinks for some, copies for the others.
        let alias = if i % 2 == 0 {
            let l = d.join(stage);
            std::os::unix::fs::symlink("synthmix", &l).unwrap();
            l
        } else {
            copy_synthmix(d, stage, b"")
        };
        for flag in ["--version", "--help"] {
            let want = stdout(&run_ok(bin(stage).arg(flag)));
            assert_eq!(stdout(&run_ok(program(&alias).arg(flag))), want, "{stage} {flag}");
            // `synthmix STAGE`: the same, but for the program name in the usage line.
            let got = stdout(&run_ok(program(&multi).args([stage, flag])));
            let want = want.replace(&format!("Usage: {stage} "), &format!("Usage: synthmix {stage} "));
            assert_eq!(got, want, "synthmix {stage} {flag}");
        }
    }
    let help = stdout(&run_ok(program(&multi).arg("--help")));
    for stage in STAGES {
        assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("{stage} "))), "{stage} missing:\n{help}");
    }
    assert!(stdout(&run_ok(program(&multi).args(["help", "clf-train"]))).contains("Usage: synthmix clf-train"));
    // Flags before the stage name are refused with a hint, not misread.
    let msg = common::run_err(program(&multi).args(["-q", "mix-build", "--seed", "1"]));
    assert!(msg.contains("put the stage first: `synthmix mix-build"), "{msg}");
    // A stage's own errors keep their form.
    let msg = common::run_err(program(&d.join("mix-build")).args(["--real", "nope:train", "--synthetic", "x"]).args([
        "--ratio",
        "1:1",
        "--out",
        "m.safetensors",
    ]));
    assert!(msg.starts_with("error: mix-build m.safetensors: "), "{msg}");
}

#[test]
fn synthmix_mix_build_writes_the_bytes_mix_build_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = |out: &str| {
        ["--real", "mnist:test", "--synthetic", "mnist-c/shot_noise:test", "--ratio", "2:1", "--total", "300"]
            .into_iter()
            .map(String::from)
            .chain(["--seed".into(), "7".into(), "--out".into(), d.join(out).display().to_string()])
            .collect::<Vec<String>>()
    };
    let a = stdout(&run_ok(bin("mix-build").args(args("a.safetensors"))));
    let b = stdout(&run_ok(bin("synthmix").arg("mix-build").args(args("b.safetensors"))));
    assert_eq!(a.replace("a.safetensors", "b.safetensors"), b);
    assert!(b.contains("300 images (200 real, 100 synthetic)"), "{b}");
    let (fa, fb) = (std::fs::read(d.join("a.safetensors")).unwrap(), std::fs::read(d.join("b.safetensors")).unwrap());
    assert!(fa == fb, "the two mixes differ");
    assert!(d.join("b.prov.bin").is_file());
}

/// export (synthmix) → mix (mix-build) → clf (clf-train) → eval (evaluate), tiny.
const SPEC: &str = r#"[pipeline]
name = "carried"
out = "out"

[target.export]
command = "synthmix data export mnist:test --out {out}"
outputs = ["data/mnist-test.safetensors"]

[target.mix]
command = "mix-build --real {in} --synthetic mnist-c/shot_noise:test --ratio 1:1 --total 200 --seed 0 --out {out}"
inputs = ["export"]
outputs = ["mix.safetensors"]

[target.clf]
command = "clf-train --train {in} --arch simple-cnn --epochs 1 --limit 64 --batch-size 32 --seed 0 --out {out}"
inputs = ["mix"]
outputs = ["clf.safetensors"]

[target.eval]
command = "evaluate --classifier {in} --test mnist-c/shot_noise:test --out {out}"
inputs = ["clf"]
outputs = ["metrics.json"]
"#;

fn stage_version(d: &Path, target: &str) -> String {
    let p = d.join("artifacts/state/carried").join(format!("{target}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["components"]["stage_version"].as_str().unwrap().to_string()
}

fn blake3_of(p: &Path) -> String {
    format!("blake3:{}", blake3::hash(&std::fs::read(p).unwrap()).to_hex())
}

#[test]
fn one_copy_of_synthmix_carries_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    // A copy carried to another machine, under another name: no stage beside
    // it, and the `synthmix` beside it (a stand-in that always fails) is not
    // used without SYNTHMIX_BIN_DIR: the runner runs the stages itself.
    let carried = copy_synthmix(&d.join("carried"), "synthmix-cuda", b"");
    std::fs::write(d.join("carried/synthmix"), "#!/bin/sh\nexit 9\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("carried/synthmix"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = stdout(&run_ok(program(&carried).current_dir(d).args(["run", "spec.toml", "-j", "2"])));
    assert!(out.contains("carried: 4 ran, 0 up to date"), "{out}");
    for t in ["mix", "clf", "eval"] {
        let log = std::fs::read_to_string(d.join(format!("artifacts/logs/carried/{t}.log"))).unwrap();
        let stage = log.lines().find_map(|l| l.strip_prefix("# command: ")).unwrap().split(' ').next().unwrap();
        assert!(log.contains(&format!("# executable: {} {stage}\n", carried.display())), "{log}");
        let v = synthmix_core::stages::find(stage).unwrap().semantic_version();
        assert_eq!(stage_version(d, t), format!("semantic:{v}"), "{t}");
    }
    let clf = std::fs::read(d.join("out/clf.safetensors")).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/metrics.json")).unwrap()).unwrap();
    let accuracy = metrics["results"][0]["accuracy"].as_f64().unwrap();

    // SYNTHMIX_BIN_DIR holding only a (different) synthmix: the built runner
    // runs the stages in that one. Same semantic versions: every result stays
    // cached (the export is `synthmix` itself, the runner, whose bytes equal
    // the carried copy's).
    let bin_dir = d.join("bin");
    let other = copy_synthmix(&bin_dir, "synthmix", b"another build");
    let runner = || {
        let mut c = bin("synthmix");
        c.current_dir(d).env("NO_COLOR", "1").env("SYNTHMIX_BIN_DIR", &bin_dir);
        c
    };
    let again = stdout(&run_ok(runner().args(["run", "spec.toml", "-j", "2"])));
    assert!(again.contains("carried: 0 ran, 4 up to date"), "{again}");

    // stage_version = "binary": keyed by the executable that runs, so the other build reruns them.
    let binary = SPEC.replace("out = \"out\"", "out = \"out\"\nstage_version = \"binary\"");
    std::fs::write(d.join("spec.toml"), binary).unwrap();
    let st = stdout(&run_ok(runner().args(["status", "spec.toml"])));
    assert!(st.contains("stage mix-build version changed: semantic:mix-build/2+format1 → blake3:"), "{st}");
    let again = stdout(&run_ok(runner().args(["run", "spec.toml", "-j", "2"])));
    assert!(again.contains("carried: 3 ran, 1 up to date"), "{again}"); // export is `synthmix` itself: the runner
    let log = std::fs::read_to_string(d.join("artifacts/logs/carried/clf.log")).unwrap();
    assert!(log.contains(&format!("# executable: {} clf-train\n", other.display())), "{log}");
    assert_eq!(stage_version(d, "clf"), blake3_of(&other));
    assert_eq!(std::fs::read(d.join("out/clf.safetensors")).unwrap(), clf, "same code, same checkpoint");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["results"][0]["accuracy"].as_f64().unwrap(), accuracy);
}

/// What a new commit that changes only code outside the stages (the report,
/// say) costs a finished study: the stages are keyed by their semantic
/// versions, so only the targets `synthmix` itself computes (the export and
/// the report, keyed by the runner's own bytes) run again; `status` says so
/// first, naming the cause.
#[test]
fn a_new_build_reruns_only_what_synthmix_itself_computes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let report = "\n[target.report]\ncommand = \"synthmix report --metrics {in} --out {out}\"\ninputs = [\"eval\"]\noutputs = [\"report/report.md\"]\n";
    std::fs::write(d.join("spec.toml"), format!("{SPEC}{report}")).unwrap();
    let old = copy_synthmix(&d.join("old"), "synthmix", b"");
    let out = stdout(&run_ok(program(&old).current_dir(d).args(["run", "spec.toml", "-j", "2"])));
    assert!(out.contains("carried: 5 ran, 0 up to date"), "{out}");
    let md = std::fs::read(d.join("out/report/report.md")).unwrap();

    let new = copy_synthmix(&d.join("new"), "synthmix", b"a commit that changed the report");
    let st = stdout(&run_ok(program(&new).current_dir(d).args(["status", "spec.toml"])));
    // Before running, status cannot know that the export's bytes will not change,
    // so it lists what follows it as possibly out of date, naming the cause.
    assert!(st.contains("export  out of date: stage synthmix changed (rebuilt binary)"), "{st}");
    let again = stdout(&run_ok(program(&new).current_dir(d).args(["run", "spec.toml", "-j", "2"])));
    assert!(again.contains("carried: 2 ran, 3 up to date"), "export and report rerun, every stage kept: {again}");
    for t in ["mix", "clf", "eval"] {
        assert!(with_verb(&again, "up to date").iter().any(|n| n == t), "{t}: {again}");
    }
    // The rewritten report differs only in when it was written and the export's wall time.
    let md2 = std::fs::read_to_string(d.join("out/report/report.md")).unwrap();
    let tables = |s: &str| s.lines().filter(|l| l.starts_with("| MNIST")).map(String::from).collect::<Vec<_>>();
    assert!(!tables(&md2).is_empty(), "{md2}");
    assert_eq!(tables(&md2), tables(&String::from_utf8(md).unwrap()), "same inputs, same tables");
}

/// Target names printed with `verb` in a run's output.
fn with_verb(out: &str, verb: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix(verb))
        .filter_map(|r| r.split_whitespace().next().map(String::from))
        .collect()
}

/// `just install PREFIX`: synthmix once, the six stage names as symlinks to
/// it; each answers as its own binary, and the runner started from PREFIX/bin
/// finds the stages beside it. Run with `just --no-deps` (the build is
/// `just test`'s own); without `just` on PATH it says SKIP.
#[test]
fn just_install_is_one_synthmix_and_six_links() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prefix = d.join("prefix");
    let just = match Command::new("just").current_dir(root).arg("--version").output() {
        Ok(o) if o.status.success() => "just",
        _ => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "SKIP just_install: `just` not on PATH");
            return;
        }
    };
    run_ok(Command::new(just).current_dir(root).args(["--no-deps", "install"]).arg(&prefix));
    let b = prefix.join("bin");
    let built = std::fs::read(env!("CARGO_BIN_EXE_synthmix")).unwrap();
    assert!(std::fs::read(b.join("synthmix")).unwrap() == built, "bin/synthmix is not the built synthmix");
    let mut names: Vec<String> =
        std::fs::read_dir(&b).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want: Vec<String> = STAGES.iter().map(|s| s.to_string()).chain(["synthmix".into()]).collect();
    want.sort();
    assert_eq!(names, want);
    for stage in STAGES {
        let link = b.join(stage);
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("synthmix"), "{stage}");
        let want = stdout(&run_ok(bin(stage).arg("--version")));
        assert_eq!(stdout(&run_ok(program(&link).arg("--version"))), want, "{stage}");
    }
    // Installed again over itself: still one file and six links.
    run_ok(Command::new(just).current_dir(root).args(["--no-deps", "install"]).arg(&prefix));
    assert_eq!(std::fs::read_link(b.join("evaluate")).unwrap(), Path::new("synthmix"));

    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    let out = stdout(&run_ok(program(&b.join("synthmix")).current_dir(d).args(["run", "spec.toml", "-j", "2"])));
    assert!(out.contains("carried: 4 ran, 0 up to date"), "{out}");
    let log = std::fs::read_to_string(d.join("artifacts/logs/carried/clf.log")).unwrap();
    assert!(log.contains(&format!("# executable: {}\n", b.join("clf-train").display())), "{log}");
}
