//! Bad numbers and outputs that would eat inputs, tried on the real
//! binaries as a user would: every one is refused with one line naming the
//! flag or file, before any work, and nothing is written or overwritten.

use crate::common;

use common::{bin, ls, run_err, run_ok, run_usage_err};
use std::path::Path;

/// Every stage's numeric flags, out of range or not numbers: clap's one
/// error naming the flag, exit 2, before a file is read.
#[test]
fn numeric_flags_are_bounded_and_named() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("o.safetensors");
    let o = out.to_str().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("clf-train", &["--train", "mnist:train", "--lr=-1e-4", "--out", o], "--lr"),
        ("clf-train", &["--train", "mnist:train", "--lr", "0", "--out", o], "--lr"),
        ("clf-train", &["--train", "mnist:train", "--lr", "NaN", "--out", o], "--lr"),
        ("clf-train", &["--train", "mnist:train", "--lr", "inf", "--out", o], "--lr"),
        ("clf-train", &["--train", "mnist:train", "--batch-size", "0", "--out", o], "--batch-size"),
        ("clf-train", &["--train", "mnist:train", "--epochs", "0", "--out", o], "--epochs"),
        ("clf-train", &["--train", "mnist:train", "--beta1", "1", "--out", o], "--beta1"),
        ("clf-train", &["--train", "mnist:train", "--eps", "0", "--out", o], "--eps"),
        ("clf-train", &["--train", "mnist:train", "--val-fraction", "1.5", "--out", o], "--val-fraction"),
        ("clf-train", &["--train", "mnist:train", "--limit", "0", "--out", o], "--limit"),
        ("gan-train", &["--train", "mnist:train", "--lr-d", "nan", "--out", o], "--lr-d"),
        ("gan-train", &["--train", "mnist:train", "--lr-g=-2e-4", "--out", o], "--lr-g"),
        ("gan-train", &["--train", "mnist:train", "--checkpoint-every", "0", "--out", o], "--checkpoint-every"),
        ("gan-train", &["--train", "mnist:train", "--fid-samples", "99999999999", "--out", o], "--fid-samples"),
        ("gan-train", &["--train", "mnist:train", "--batch-size", "18446744073709551616", "--out", o], "--batch-size"),
        ("evaluate", &["--classifier", "c", "--test", "mnist:test", "--batch-size", "0", "--out", o], "--batch-size"),
        ("mix-build", &["--real", "r", "--synthetic", "s", "--ratio", "1:1", "--total", "0", "--out", o], "--total"),
        (
            "mix-build",
            &["--real", "r", "--synthetic", "s", "--ratio", "1:1", "--total", "18446744073709551615", "--out", o],
            "--total",
        ),
        ("mix-build", &["--real", "r", "--synthetic", "s", "--ratio", "4294967295:1", "--out", o], "--ratio"),
        ("mix-build", &["--real", "r", "--synthetic", "s", "--ratio", "1:4294967296", "--out", o], "--ratio"),
        ("synth-sample", &["--generator", "g", "--per-class", "0", "--out", o], "--per-class"),
        ("synth-sample", &["--generator", "g", "--per-class", "10000000000", "--out", o], "--per-class"),
    ];
    for (stage, args, flag) in cases {
        let e = run_usage_err(bin(stage).args(*args));
        assert!(e.contains(flag), "{stage} {args:?}: {e}");
    }
    assert!(ls(t.path()).is_empty(), "nothing written: {:?}", ls(t.path()));
}

/// A ratio whose parts would overflow when added, and counts whose sets would
/// not fit in memory, are refused before the data is read.
#[test]
fn huge_counts_are_refused_before_any_allocation() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("m.safetensors");
    let e = run_usage_err(
        bin("mix-build")
            .args(["--real", "mnist:test", "--synthetic", "mnist:test", "--ratio", "4294967295:4294967295", "--out"])
            .arg(&out),
    );
    assert!(e.contains("--ratio") && e.contains("at most 1000"), "{e}");
    let gen = t.path().join("g.safetensors");
    std::fs::write(&gen, b"not a generator").unwrap();
    let e = run_err(
        bin("synth-sample").arg("--generator").arg(&gen).args(["--class-counts", "0:99999999999", "--out"]).arg(&out),
    );
    assert!(e.contains("g.safetensors"), "the bad generator is named first: {e}");
    assert_eq!(ls(t.path()), vec!["g.safetensors"]);
}

fn write_junk(p: &Path) {
    std::fs::write(p, b"precious input").unwrap();
}

/// `--out` naming an input (or a side file landing on one) is refused, and
/// the input keeps its bytes.
#[test]
fn an_output_never_overwrites_an_input() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let set = d.join("set.safetensors");
    let ck = d.join("clf.safetensors");
    let metrics = d.join("m.json");
    for f in [&set, &ck, &metrics] {
        write_junk(f);
    }
    let s = set.to_str().unwrap();
    let c = ck.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("mix-build", vec!["--real", s, "--synthetic", "mnist:test", "--ratio", "1:1", "--out", s], "--real"),
        ("mix-build", vec!["--real", "mnist:test", "--synthetic", s, "--ratio", "1:1", "--out", s], "--synthetic"),
        ("clf-train", vec!["--train", s, "--out", s], "--train"),
        ("clf-train", vec!["--train", "mnist:train", "--eval-test", s, "--out", s], "--eval-test"),
        ("evaluate", vec!["--classifier", c, "--test", "mnist:test", "--out", c], "--classifier"),
        ("evaluate", vec!["--classifier", c, "--test", s, "--out", s], "--test"),
        ("synth-sample", vec!["--generator", c, "--per-class", "1", "--out", c], "--generator"),
        ("gan-train", vec!["--train", s, "--out", s], "--train"),
        ("gan-train", vec!["--train", "mnist:train", "--features", c, "--out", c], "--features"),
    ];
    for (stage, args, flag) in &cases {
        let e = run_err(bin(stage).args(args));
        assert!(e.contains("would overwrite the input") && e.contains(flag), "{stage} {args:?}: {e}");
    }
    // A side file: evaluate's CSV goes beside its JSON as m.csv.
    let csv = d.join("m.csv");
    write_junk(&csv);
    let e = run_err(bin("evaluate").arg("--classifier").arg(&ck).arg("--test").arg(&csv).arg("--out").arg(&metrics));
    assert!(e.contains("would overwrite the input --test") && e.contains("through"), "{e}");
    // The same file under another name (a symlink) is still the same file.
    std::os::unix::fs::symlink(&set, d.join("alias.safetensors")).unwrap();
    let e = run_err(bin("clf-train").arg("--train").arg(d.join("alias.safetensors")).arg("--out").arg(&set));
    assert!(e.contains("would overwrite the input --train"), "{e}");
    for f in [&set, &ck, &metrics, &csv] {
        assert_eq!(std::fs::read(f).unwrap(), b"precious input", "{} kept", f.display());
    }
    assert_eq!(ls(d), vec!["alias.safetensors", "clf.safetensors", "m.csv", "m.json", "set.safetensors"]);
}

/// `--out` that is a folder, sits under a file, or lands in a dataset folder
/// of the data dir is refused before any work.
#[test]
fn an_output_must_be_a_writable_file_outside_the_data() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let e = run_err(bin("clf-train").args(["--train", "mnist:train", "--out"]).arg(d));
    assert!(e.contains("is a folder"), "{e}");
    write_junk(&d.join("file"));
    let e = run_err(bin("clf-train").args(["--train", "mnist:train", "--out"]).arg(d.join("file/x.safetensors")));
    assert!(e.contains("is not a folder"), "{e}");
    let data = d.join("data");
    std::fs::create_dir_all(data.join("mnist")).unwrap();
    let e = run_err(
        bin("mix-build")
            .arg("--data-dir")
            .arg(&data)
            .args(["--real", "mnist:test", "--synthetic", "mnist:test", "--ratio", "1:1", "--out"])
            .arg(data.join("mnist/x.safetensors")),
    );
    assert!(e.contains("dataset folder") && e.contains("holds real data"), "{e}");
    assert!(ls(&data.join("mnist")).is_empty());
}

/// Outputs are created with the usual mode under the caller's umask (0644
/// under umask 022), not tempfile's private 0600.
#[test]
fn outputs_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("mix.safetensors");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(bin("mix-build").get_program())
        .args(["--real", "mnist:test", "--synthetic", "fashion-mnist:test", "--ratio", "1:1", "--total", "100"])
        .args(["-q", "--out"])
        .arg(&out)
        .env("SYNTHMIX_DATA", common::shared_data());
    run_ok(&mut cmd);
    for f in ["mix.safetensors", "mix.prov.bin"] {
        let mode = std::fs::metadata(t.path().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{f}: {mode:o}");
    }
}

/// Errors name the thing that is wrong: a folder given as an image set or
/// lying where a data file should be, a test set that does not fit the
/// classifier, a provenance record without its magic or cut short.
#[test]
fn errors_name_the_file_and_the_problem() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let folder = d.join("aset");
    std::fs::create_dir(&folder).unwrap();
    let e = run_err(bin("clf-train").arg("--train").arg(&folder).arg("--out").arg(d.join("c.safetensors")));
    assert!(e.contains("aset: is a folder, not an image set"), "{e}");

    let data = d.join("data");
    std::fs::create_dir_all(data.join("mnist/t10k-images-idx3-ubyte.gz")).unwrap();
    for f in common::ls(&common::shared_data().join("mnist")).iter().filter(|f| f.starts_with("t10k-labels")) {
        std::fs::copy(common::shared_data().join("mnist").join(f), data.join("mnist").join(f)).unwrap();
    }
    let e = run_err(
        bin("mix-build")
            .arg("--data-dir")
            .arg(&data)
            .args(["--real", "mnist:test", "--synthetic", "mnist:test", "--ratio", "1:1", "--out"])
            .arg(d.join("m.safetensors")),
    );
    assert!(e.contains("t10k-images-idx3-ubyte.gz: is a folder where a data file should be"), "{e}");

    // A 1×28×28 classifier and a 3×32×32 test set in the official CIFAR-10 layout.
    let clf = d.join("clf.safetensors");
    run_ok(bin("clf-train").args(["--train", "mnist:test", "--limit", "50", "--epochs", "1", "-q", "--out"]).arg(&clf));
    std::fs::create_dir_all(data.join("cifar-10")).unwrap();
    let mut batch = Vec::new();
    for i in 0..20u8 {
        batch.push(i % 10);
        batch.extend(std::iter::repeat_n(i, 3072));
    }
    std::fs::write(data.join("cifar-10/test_batch.bin"), &batch).unwrap();
    let e = run_err(
        bin("evaluate")
            .arg("--data-dir")
            .arg(&data)
            .arg("--classifier")
            .arg(&clf)
            .args(["--test", "cifar-10:test", "--out"])
            .arg(d.join("e.json")),
    );
    assert!(e.contains("--test cifar-10:test does not fit the classifier") && e.contains("clf.safetensors"), "{e}");
    assert!(!d.join("e.json").exists());

    std::fs::write(d.join("g.prov.bin"), b"\x00garbage\nwith a newline").unwrap();
    let e = run_err(bin("synthmix").arg("show").arg(d.join("g.prov.bin")));
    assert!(e.contains("g.prov.bin: not a synthmix provenance record"), "{e}");
    let good = std::fs::read(d.join("clf.prov.bin")).unwrap();
    std::fs::write(d.join("t.prov.bin"), &good[..good.len() / 2]).unwrap();
    let e = run_err(bin("synthmix").arg("show").arg(d.join("t.prov.bin")));
    assert!(e.contains("t.prov.bin: corrupt provenance record: truncated"), "{e}");
}

/// `synthmix ARGS` in `d` (which holds spec.toml), with the real data.
fn synthmix_in(d: &Path, args: &[&str]) -> std::process::Command {
    let mut c = bin("synthmix");
    c.current_dir(d).args(args);
    c
}

/// A spec whose matrices would expand to a million targets is refused
/// before it expands (it took 4.9 GB and a minute): one line with the count
/// and the cap, in moments. `--max-targets` raises the cap.
#[test]
fn a_huge_matrix_is_refused_before_it_expands() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let axis = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let spec = |n: usize| {
        format!(
            "[axes]\na = [{0}]\nb = [{0}]\n\n[target.\"t-{{a}}-{{b}}\"]\nmatrix = {{ a = \"a\", b = \"b\" }}\n\
             command = \"clf-train --train mnist:test --seed {{a}} --out {{out}}\"\noutputs = [\"m/{{a}}-{{b}}.st\"]\n",
            axis(n)
        )
    };
    std::fs::write(d.join("spec.toml"), spec(1000)).unwrap();
    let t0 = std::time::Instant::now();
    let e = run_err(&mut synthmix_in(d, &["run", "spec.toml", "--dry-run"]));
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "took {:?}", t0.elapsed());
    assert!(e.contains("spec.toml:") && e.contains("1000000 targets") && e.contains("20000"), "{e}");
    assert!(e.contains("--max-targets"), "{e}");

    std::fs::write(d.join("spec.toml"), spec(30)).unwrap();
    let e = run_err(&mut synthmix_in(d, &["dag", "spec.toml", "--max-targets", "100"]));
    assert!(e.contains("900 targets") && e.contains("cap of 100"), "{e}");
    let dag = run_ok(&mut synthmix_in(d, &["dag", "spec.toml", "--max-targets", "900"]));
    assert_eq!(String::from_utf8_lossy(&dag.stdout).lines().filter(|l| l.starts_with("t-")).count(), 900);
}

/// A 1 MB value (a parameter, a name, a path, a command) is never echoed
/// whole: every error line stays short and still names the problem.
#[test]
fn a_huge_spec_value_is_clipped_in_the_error_line() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let big = "7".repeat(1 << 20);
    let cases = [
        (
            format!("[target.a]\ncommand = \"clf-train --train mnist:train --epochs {{e}} --out {{out}}\"\noutputs = [\"a\"]\nparams = {{ e = \"x{big}\" }}\n"),
            "--epochs",
        ),
        (format!("[target.a]\ncommand = \"mix-build --real {{{big} --out {{out}}\"\noutputs = [\"a\"]\n"), "unclosed"),
        (format!("[target.\"a/{big}\"]\ncommand = \"mix-build --out {{out}}\"\noutputs = [\"a\"]\n"), "target name"),
        (format!("[target.a]\ncommand = \"x {{in}} {{out}}\"\ninputs = [\"no/{big}\"]\noutputs = [\"a\"]\n"), "missing input"),
        (format!("[target.a]\ncommand = \"x {{out}}\"\noutputs = [\"../{big}\"]\n"), "relative path"),
        (format!("[target.a]\ncommand = \"x {{v{big}}} {{out}}\"\noutputs = [\"a\"]\n"), "unknown placeholder"),
    ];
    for (spec, needle) in cases {
        std::fs::write(d.join("spec.toml"), spec).unwrap();
        let e = run_err(&mut synthmix_in(d, &["dag", "spec.toml"]));
        assert!(
            e.len() < 2000 && e.contains(needle) && e.contains("bytes)"),
            "{needle}: {} bytes: {}",
            e.len(),
            &e[..e.len().min(300)]
        );
    }
}

/// A bad flag on a built-in `synthmix` command target is refused when the
/// spec is read, before any upstream target runs, naming the target.
#[test]
fn builtin_commands_are_checked_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let spec = |report: &str| {
        format!(
            "[target.export]\ncommand = \"synthmix data export mnist:test --out {{out}}\"\noutputs = [\"x/test.safetensors\"]\n\n\
             [target.report]\ncommand = \"{report}\"\ninputs = [\"export\"]\noutputs = [\"r/report.md\"]\n"
        )
    };
    let cases = [
        ("synthmix report --metrics {in} --out {out} --no-such-flag", "--no-such-flag"),
        ("synthmix report --out {out} --paper {in}", "--metrics"),
        ("synthmix data export {in} --out {out} --bogus", "--bogus"),
        ("synthmix no-such-command {in} {out}", "no-such-command"),
        ("synthmix mix-build --real {in} --ratio 1:x --out {out}", "--ratio"),
    ];
    for (report, needle) in cases {
        std::fs::write(d.join("spec.toml"), spec(report)).unwrap();
        let e = run_err(&mut synthmix_in(d, &["run", "spec.toml"]));
        assert!(e.contains("spec.toml:6: target 'report'") && e.contains(needle), "{report}: {e}");
        assert!(!d.join("artifacts").exists(), "{report}: nothing ran: {:?}", ls(&d.join("artifacts")));
    }
}

/// Outputs stay in the target's staging folder, and every path a command
/// names is a declared input or output: refused when the spec is read,
/// naming the target, the flag and the path; nothing written elsewhere.
#[test]
fn commands_name_only_declared_paths_and_write_only_their_outputs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let elsewhere = d.join("elsewhere.safetensors");
    let far = elsewhere.to_str().unwrap();
    std::fs::write(d.join("extra.safetensors"), b"x").unwrap();
    std::fs::write(d.join("cfg.json"), br#"{"stage": "clf-train", "stage_version": "", "settings": {}}"#).unwrap();
    let mix = "mix-build --real mnist:test --synthetic mnist:test --ratio 1:0 --total 10 --seed 0";
    let cases = [
        (format!("{mix} --out {{out}} --out {far}"), "--out"),
        (format!("{mix} --out={{out}} --out={far}"), "--out"),
        (format!("{mix} --seed 1 --out {{out}} --real extra.safetensors"), "--real extra.safetensors"),
        ("clf-train --train extra.safetensors --epochs 1 --out {out}".into(), "--train extra.safetensors"),
        ("clf-train --train mnist:test --config cfg.json --out {out}".into(), "--config cfg.json"),
        (
            "evaluate --classifier extra.safetensors --test mnist:test --out {out}".into(),
            "--classifier extra.safetensors",
        ),
        ("synthmix report --metrics extra.safetensors --out {out}".into(), "--metrics extra.safetensors"),
        ("clf-train --train mnist:test --data-dir . --out {out}".into(), "--data-dir"),
        (format!("my-stage {{out}} {far}"), far),
    ];
    for (command, needle) in &cases {
        let spec = format!("[target.a]\ncommand = \"{command}\"\noutputs = [\"a.safetensors\"]\n");
        std::fs::write(d.join("spec.toml"), spec).unwrap();
        let e = run_err(&mut synthmix_in(d, &["run", "spec.toml"]));
        assert!(e.contains("spec.toml:2: target 'a'") && e.contains(needle), "{command}: {e}");
        assert!(!elsewhere.exists() && !d.join("artifacts").exists(), "{command}: nothing written");
    }
    // Declared, the same paths pass.
    let ok = [
        "[target.a]\ncommand = \"clf-train --train extra.safetensors --epochs 1 --out {out}\"\ninputs = [\"extra.safetensors\"]\noutputs = [\"a\"]\n",
        "[target.a]\ncommand = \"clf-train --train {in.t} --config {in.c} --out {out}\"\ninputs = { t = \"extra.safetensors\", c = \"./cfg.json\" }\noutputs = [\"a\"]\n",
    ];
    for spec in ok {
        std::fs::write(d.join("spec.toml"), spec).unwrap();
        run_ok(&mut synthmix_in(d, &["dag", "spec.toml"]));
    }
}
