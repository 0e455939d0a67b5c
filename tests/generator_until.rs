//! Quality-matched generators: `--until recognition:R|fid:F` ends gan-train
//! and dpm-train at the first measured epoch that meets the target, with the
//! same generator bytes as a run whose budget ended there; a target never met
//! trains to the cap; `--fid-reference` refuses a test split; a `--resume`
//! of a run whose saved state is its last epoch (its budget or its met
//! target) finishes with the uninterrupted run's bytes, and one that went
//! past its target's first epoch is refused.

use crate::common;

use std::path::{Path, PathBuf};

use common::{bin, run_err, run_ok, run_usage_err};
use synthmix_core::artifact::provenance;

/// A small features classifier (as tests/gan_cli.rs trains one).
fn features_clf(dir: &Path) -> PathBuf {
    common::train_features_clf(&dir.join("clf.safetensors"), 300)
}

/// The two generator families at test size: the stage and its tiny flags.
fn families() -> [(&'static str, Vec<&'static str>); 2] {
    let tiny_unet = ["--channels", "8", "--channel-mults", "1,2", "--groups", "4", "--sample-steps", "2"];
    [("gan-train", vec![]), ("dpm-train", tiny_unet.to_vec())]
}

fn train(stage: &str, extra: &[&str], clf: &Path, out: &Path, until: &[&str]) -> std::process::Output {
    let common = ["--train", "mnist:train", "--limit", "100", "--batch-size", "25", "--seed", "3"];
    let fid = ["--fid-samples", "20", "--fid-every", "2"];
    run_ok(bin(stage).args(common).args(extra).args(fid).arg("--features").arg(clf).args(until).arg("--out").arg(out))
}

fn metric(out: &Path, name: &str) -> Option<f64> {
    let prov = provenance::read(&provenance::path_for(out)).unwrap();
    prov.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

fn log_epochs(out: &Path) -> usize {
    let log = synthmix_core::artifact::sibling(out, "log.csv");
    std::fs::read_to_string(log).unwrap().lines().count() - 1
}

#[test]
fn until_stops_at_the_first_measured_epoch_that_meets_it_with_the_budgets_bytes() {
    let t = tempfile::tempdir().unwrap();
    let clf = features_clf(t.path());
    for (stage, extra) in families() {
        let d = t.path().join(stage);
        let (early, budget, never) =
            (d.join("early/g.safetensors"), d.join("budget/g.safetensors"), d.join("never/g.safetensors"));
        // Any FID meets fid:1e9, so the first measured epoch (2 with --fid-every 2) stops it.
        train(stage, &extra, &clf, &early, &["--epochs", "6", "--until", "fid:1e9", "-q"]);
        train(stage, &extra, &clf, &budget, &["--epochs", "2", "-q"]);
        assert_eq!(log_epochs(&early), 2, "{stage}: stopped at epoch 2");
        assert_eq!(metric(&early, "until_reached"), Some(1.0), "{stage}");
        assert_eq!(metric(&early, "epochs_trained"), Some(2.0), "{stage}");
        assert_eq!(
            std::fs::read(&early).unwrap(),
            std::fs::read(&budget).unwrap(),
            "{stage}: stopping early trains exactly what a budget of 2 epochs does"
        );
        // A target no generator meets trains to the cap and says so.
        let out = train(stage, &extra, &clf, &never, &["--epochs", "3", "--until", "recognition:1"]);
        assert_eq!(log_epochs(&never), 3, "{stage}");
        assert_eq!(metric(&never, "until_reached"), Some(0.0), "{stage}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not met within 3 epochs"), "{stage}");
        // A run whose saved state is its last epoch finishes on --resume: run
        // again, or killed after its state was saved (here: every other file
        // gone), it writes the uninterrupted run's generator bytes and exits 0.
        resume_finishes(stage, &extra, &clf, &early, &["--epochs", "6", "--until", "fid:1e9"]);
        resume_finishes(stage, &extra, &clf, &budget, &["--epochs", "2"]);
        assert_eq!(metric(&early, "until_reached"), Some(1.0), "{stage}: finished at the met target");
        assert_eq!(metric(&budget, "epochs_trained"), Some(2.0), "{stage}");
        // A target first met before the saved epoch cannot be rebuilt: refused.
        let common = ["--train", "mnist:train", "--limit", "100", "--batch-size", "25", "--seed", "3", "--resume"];
        let fid = ["--fid-samples", "20", "--fid-every", "2", "--epochs", "6", "--until", "fid:1e9"];
        let err = run_err(
            bin(stage).args(common).args(&extra).args(fid).arg("--features").arg(&clf).arg("--out").arg(&never),
        );
        assert!(err.contains("already met at epoch 2") && err.contains("before the saved epoch 3"), "{stage}: {err}");
    }
}

/// `--resume` of a finished run (`out`, trained with `args`) exits 0 twice:
/// once as a plain rerun, once after every file its last epoch wrote but the
/// saved state is deleted (earlier epochs' grids stay); both leave the
/// generator, the grids and the log as they were.
fn resume_finishes(stage: &str, extra: &[&str], clf: &Path, out: &Path, args: &[&str]) {
    let dir = out.parent().unwrap();
    let files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let keep = |n: &str| n.ends_with(".safetensors") || n.ends_with(".png") || n.ends_with(".log.csv");
        common::ls(d).into_iter().filter(|n| keep(n)).map(|n| (n.clone(), std::fs::read(d.join(&n)).unwrap())).collect()
    };
    let before = files(dir);
    let state = synthmix_core::artifact::sibling(out, "optim.safetensors");
    let last_grid = common::ls(dir).into_iter().filter(|n| n.ends_with(".png")).max().unwrap();
    let earlier_grid = |n: &str| n.ends_with(".png") && n != last_grid;
    for kill in [false, true] {
        if kill {
            for f in common::ls(dir).into_iter().filter(|n| !earlier_grid(n)).map(|n| dir.join(n)) {
                if f != state {
                    std::fs::remove_file(f).unwrap();
                }
            }
        }
        train(stage, extra, clf, out, &[args, &["--resume"]].concat());
        let after = files(dir);
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&after), names(&before), "{stage} {args:?} (kill {kill})");
        for ((n, a), (_, b)) in after.iter().zip(&before) {
            assert!(a == b, "{stage} {args:?} (kill {kill}): {n} differs from the uninterrupted run's");
        }
    }
}

#[test]
fn until_and_fid_reference_refuse_bad_values_before_any_work() {
    let t = tempfile::tempdir().unwrap();
    let clf = features_clf(t.path());
    for (stage, _) in families() {
        let out = t.path().join(stage).join("g.safetensors");
        let go = |args: &[&str]| {
            run_err(
                bin(stage)
                    .args(["--train", "mnist:train", "--limit", "50", "--epochs", "1"])
                    .args(args)
                    .arg("--out")
                    .arg(&out),
            )
        };
        let clf = clf.to_str().unwrap();
        let e = go(&["--features", clf, "--fid-reference", "mnist:test"]);
        assert!(e.contains("--fid-reference mnist:test") && e.contains("test split"), "{stage}: {e}");
        let e = go(&["--features", clf, "--fid-reference", "fashion-mnist:train", "--until", "fid:10"]);
        assert!(
            e.contains("--fid-reference fashion-mnist:train: is fashion-mnist, the training set mnist"),
            "{stage}: {e}"
        );
        let e = go(&["--until", "recognition:0.9"]);
        assert!(e.contains("need --features"), "{stage}: {e}");
        let e =
            run_usage_err(bin(stage).args(["--train", "mnist:train", "--until", "accuracy:0.9", "--out"]).arg(&out));
        assert!(e.contains("recognition:R") && e.contains("--until"), "{stage}: {e}");
        assert!(!out.exists(), "{stage}: nothing written");
    }
}
