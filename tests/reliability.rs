//! Bad numbers and outputs that would eat inputs, tried on the real
//! binaries as a user would: every one is refused with one line naming the
//! flag or file, before any work, and nothing is written or overwritten.

mod common;

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
