//! `synthmix curves` as a user runs it: training logs in, one figure out
//! (PNG and SVG, the same bytes every time), bad input refused in one line
//! with nothing written and no log overwritten.

use crate::common;

use std::path::Path;

use common::{bin, run_err, run_ok, run_usage_err};

const WITH_TEST: &str = "epoch,train_loss,train_accuracy,val_accuracy,test_accuracy,images_per_s,wall_s\n\
    1,1.64,0.39,,0.51,274.0,180.0\n2,1.17,0.58,,0.63,248.0,200.0\n3,0.94,0.67,,0.67,316.0,160.0\n";
const TRAIN_ONLY: &str = "epoch,train_loss,train_accuracy,val_accuracy,test_accuracy,images_per_s,wall_s\n\
    1,1.82,0.32,,,281.7,177.5\n2,1.46,0.47,,,234.3,213.4\n3,1.25,0.55,,,259.0,190.0\n";

fn curves(d: &Path, extra: &[&str]) -> std::process::Command {
    let mut c = bin("synthmix");
    c.current_dir(d).args(["curves", "nodrop.log.csv", "O-s0.log.csv", "--out", "fig/curves.png"]).args(extra);
    c
}

/// A folder holding the two logs `curves` draws: one with a test column, one with train only.
fn two_logs() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("nodrop.log.csv"), WITH_TEST).unwrap();
    std::fs::write(t.path().join("O-s0.log.csv"), TRAIN_ONLY).unwrap();
    t
}

#[test]
fn curves_draws_each_logs_columns_and_the_references_the_same_every_time() {
    let t = two_logs();
    let d = t.path();
    let refs = ["--reference", "0.6771=paper O/O", "--title", "CIFAR-10 Deep CNN"];
    let out = run_ok(&mut curves(d, &refs));
    assert_eq!(common::stdout(&out), "wrote fig/curves.png\nwrote fig/curves.svg\n");
    let png = std::fs::read(d.join("fig/curves.png")).unwrap();
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (900, 520));
    let svg = std::fs::read_to_string(d.join("fig/curves.svg")).unwrap();
    // One legend entry per log and column with values, and the reference.
    for name in ["nodrop train", "nodrop test", "O-s0 train", "paper O/O", "CIFAR-10 Deep CNN", "axis cut at"] {
        assert!(svg.contains(name), "{name} missing from the SVG");
    }
    assert!(!svg.contains("O-s0 test") && !svg.contains(" val<"), "a column without values was drawn");
    // Deterministic: the same logs give the same bytes.
    run_ok(&mut curves(d, &refs));
    assert_eq!(std::fs::read(d.join("fig/curves.png")).unwrap(), png);
    // Named columns and labels: a loss axis is no accuracy axis.
    let named = ["--columns", "train_loss", "--label", "no dropout", "--label", "dropout", "--out", "fig/loss.png"];
    run_ok(bin("synthmix").current_dir(d).args(["curves", "nodrop.log.csv", "O-s0.log.csv"]).args(named));
    let svg = std::fs::read_to_string(d.join("fig/loss.svg")).unwrap();
    assert!(svg.contains("no dropout train_loss") && svg.contains("dropout train_loss") && !svg.contains("axis cut"));
    assert!(svg.contains("\ntrain_loss\n"), "the loss axis is named by its column");
}

/// Two reference lines are told apart by their dash patterns, in the plot
/// as in the legend: the second is dotted (more, shorter black segments).
#[test]
fn two_references_are_drawn_in_different_dash_patterns() {
    let t = two_logs();
    let d = t.path();
    run_ok(&mut curves(d, &["--reference", "0.45=ours", "--reference", "0.6=paper"]));
    let svg = std::fs::read_to_string(d.join("fig/curves.svg")).unwrap();
    // Short horizontal black segments, counted per height: the dashes of each reference line.
    let mut per_y: std::collections::BTreeMap<i64, usize> = Default::default();
    for l in svg.lines().filter(|l| l.contains("<polyline") && l.contains(r##"stroke="#000000""##)) {
        let pts: Vec<(i64, i64)> = l
            .split("points=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .unwrap()
            .split_whitespace()
            .map(|xy| xy.split_once(',').map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap())).unwrap())
            .collect();
        if let [(x0, y0), (x1, y1)] = pts[..] {
            if y0 == y1 && (1..=10).contains(&(x1 - x0)) {
                *per_y.entry(y0).or_default() += 1;
            }
        }
    }
    let mut counts: Vec<usize> = per_y.values().copied().filter(|&n| n > 10).collect();
    counts.sort();
    assert_eq!(counts.len(), 2, "two reference lines of dashes: {per_y:?}");
    assert!(counts[1] > 2 * counts[0], "the dotted line has over twice the dashed line's segments: {counts:?}");
}

#[test]
fn curves_refuses_bad_input_in_one_line_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("nodrop.log.csv"), WITH_TEST).unwrap();
    std::fs::write(d.join("O-s0.log.csv"), "epoch,test_accuracy\n1,0.5\n2,oops\n").unwrap();
    let e = run_err(&mut curves(d, &[]));
    assert!(e.contains("O-s0.log.csv: row 3: test_accuracy 'oops' is not a finite number"), "{e}");
    std::fs::write(d.join("O-s0.log.csv"), TRAIN_ONLY).unwrap();
    let e = run_err(&mut curves(d, &["--columns", "fid"]));
    assert!(e.contains("nodrop.log.csv: no column 'fid' (it has epoch, train_loss"), "{e}");
    let e = run_err(&mut curves(d, &["--label", "one"]));
    assert!(e.contains("--label: 1 names for 2 logs"), "{e}");
    let e = run_usage_err(&mut curves(d, &["--reference", "high=paper"]));
    assert!(e.contains("--reference") && e.contains("'high' is not a number"), "{e}");
    assert!(!d.join("fig").exists(), "a refused run wrote something");
    // Never over a log: --out naming an input (its SVG would be beside it) is refused.
    std::fs::write(d.join("x.png"), "not a log").unwrap();
    let e = run_err(bin("synthmix").current_dir(d).args(["curves", "x.png", "--out", "x.png"]));
    assert!(e.contains("--out x.png would overwrite the input log x.png"), "{e}");
    let e = run_err(bin("synthmix").current_dir(d).args(["curves", "nodrop.log.csv", "--out", "fig.jpg"]));
    assert!(e.contains("--out fig.jpg: must end in .png"), "{e}");
    assert_eq!(std::fs::read_to_string(d.join("x.png")).unwrap(), "not a log");
    assert_eq!(std::fs::read_to_string(d.join("nodrop.log.csv")).unwrap(), WITH_TEST);
}
