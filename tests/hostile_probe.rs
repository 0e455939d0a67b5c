//! Issue 39, round three: what a fresh hostile probe found still failing.
//! A folder's dotted name cut at its last dot, names that show nothing or
//! hide a difference, a FIFO or device named as an input (a hang), one
//! image listed twice or reached through a link out of its folder, images
//! too small for any classifier (a panic downstream), a store object
//! replaced by a folder (every later run failed), a huge environment value
//! echoed whole. Each case here failed before its fix.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{bin, ls, run_err, run_ok, stdout, synthmix_at};
use synthmix_core::artifact::image_set;

/// An 8×8 (or `w`×`h`) grey PNG.
fn png(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([u8::try_from((x * 7 + y * 13) % 256).unwrap()]))
        .save(path)
        .unwrap();
}

/// Class folders, three 8×8 images each.
fn folder(dir: &Path, classes: &[&str]) {
    for c in classes {
        for j in 0..3 {
            png(&dir.join(c).join(format!("{j}.png")), 8, 8);
        }
    }
}

fn import(source: &Path, out: &Path) -> std::process::Command {
    let mut c = bin("synthmix");
    c.args(["data", "import"]).arg(source).arg("--out").arg(out);
    c
}

fn mkfifo(p: &Path) {
    assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
}

/// Runs `cmd`, killing it after 60 s (a regression here is a hang, not a
/// failure): its stderr, having failed with one line.
fn err_within_a_minute(cmd: &mut std::process::Command) -> String {
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{cmd:?} still waiting after a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn a_folder_names_the_dataset_whole_and_a_name_must_show() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    folder(&d.join("my.v2.data"), &["a", "b"]);
    run_ok(import(&d.join("my.v2.data"), &d.join("s.st")).arg("-q"));
    assert_eq!(image_set::read(&d.join("s.st")).unwrap().meta.dataset, "my.v2.data", "not cut at the last dot");
    // A CSV file's name loses only its extension.
    std::fs::write(d.join("my.v2.data/rows.v3.csv"), "a/0.png,a\na/1.png,a\nb/0.png,b\nb/1.png,b\n").unwrap();
    run_ok(import(&d.join("my.v2.data/rows.v3.csv"), &d.join("c.st")).arg("-q"));
    assert_eq!(image_set::read(&d.join("c.st")).unwrap().meta.dataset, "rows.v3");
    for (name, why) in [("", "visible character"), ("  ", "visible character"), (&"n".repeat(256), "at most 255 bytes")]
    {
        let e = run_err(import(&d.join("my.v2.data"), &d.join("x.st")).args(["--name", name]));
        assert!(e.contains("--name") && e.contains(why) && e.len() < 400, "{e}");
    }
    assert!(!d.join("x.st").exists());
}

#[test]
fn invisible_characters_in_names_are_printed_escaped() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Two classes that look the same raw, and separators some terminals break at.
    folder(&d.join("f"), &["a", "a\u{200b}", "l\u{2028}s", "\u{feff}bom"]);
    let o = run_ok(import(&d.join("f"), &d.join("s.st")).arg("-q"));
    let out = stdout(&o);
    assert!(out.contains("classes: a, a\\u{200b}, l\\u{2028}s, \\u{feff}bom"), "{out}");
    let shown = stdout(&run_ok(bin("synthmix").arg("show").arg(d.join("s.st"))));
    assert!(shown.contains("a\\u{200b}") && !shown.contains('\u{200b}'), "{shown}");
}

#[test]
fn a_fifo_or_a_device_named_as_an_input_is_refused_not_waited_on() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mkfifo(&d.join("f.safetensors"));
    mkfifo(&d.join("spec.toml"));
    let fifo = d.join("f.safetensors");
    let cases: Vec<(std::process::Command, &str)> = vec![
        (
            {
                let mut c = bin("synthmix");
                c.arg("show").arg(&fifo);
                c
            },
            "a FIFO",
        ),
        (
            {
                let mut c = bin("synthmix");
                c.arg("show").arg("/dev/zero");
                c
            },
            "a device",
        ),
        (
            {
                let mut c = bin("clf-train");
                c.arg("--train").arg(&fifo).arg("--out").arg(d.join("c.st"));
                c
            },
            "a FIFO",
        ),
        (
            {
                let mut c = bin("clf-train");
                c.args(["--train", "/dev/zero", "--out"]).arg(d.join("c.st"));
                c
            },
            "a device",
        ),
        (
            {
                let mut c = bin("clf-train");
                c.args(["--train", "mnist:test", "--config"]).arg(&fifo).arg("--out").arg(d.join("c.st"));
                c
            },
            "a FIFO",
        ),
        (
            {
                let mut c = synthmix_at(d);
                c.args(["dag", "spec.toml"]);
                c
            },
            "a FIFO",
        ),
    ];
    for (mut cmd, what) in cases {
        let e = err_within_a_minute(&mut cmd);
        assert!(e.contains(&format!("{what}, not a regular file")), "{cmd:?}: {e}");
    }
    assert_eq!(ls(d), ["f.safetensors", "spec.toml"], "nothing written");
}

#[test]
fn one_image_listed_twice_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    folder(&d.join("c"), &["a", "b"]);
    for rows in [
        "a/0.png,a\na/1.png,a\na/0.png,a\nb/0.png,b\nb/1.png,b\n", // a row repeated
        "a/0.png,a\na/1.png,a\na/0.png,b\nb/0.png,b\nb/1.png,b\n", // one image, two labels
        "a/0.png,a\n./a/0.png,a\na/1.png,a\nb/0.png,b\nb/1.png,b\n", // spelt another way
    ] {
        std::fs::write(d.join("c/l.csv"), rows).unwrap();
        let e = run_err(
            import(&d.join("c/l.csv"), &d.join("s.st"))
                .args(["--test-fraction", "0.5", "--test-out"])
                .arg(d.join("t.st")),
        );
        assert!(e.contains("a/0.png is listed twice (first as ") && e.contains("0.png)"), "{rows}: {e}");
    }
    // A link to another class's image, in the folder layout.
    std::os::unix::fs::symlink("../a/0.png", d.join("c/b/dup.png")).unwrap();
    let e = run_err(&mut import(&d.join("c"), &d.join("s.st")));
    assert!(e.contains("b/dup.png is listed twice") && e.contains("a/0.png"), "{e}");
    assert_eq!(ls(d), ["c"], "nothing written");
}

#[test]
fn links_leading_out_of_the_imported_folder_need_allow_outside() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    png(&d.join("private/secret.png"), 8, 8);
    // A linked image, a linked class folder, and a CSV row through a linked folder.
    folder(&d.join("f1"), &["a", "b"]);
    std::os::unix::fs::symlink(d.join("private/secret.png"), d.join("f1/a/x.png")).unwrap();
    folder(&d.join("f2"), &["a"]);
    std::os::unix::fs::symlink(d.join("private"), d.join("f2/b")).unwrap();
    folder(&d.join("f3"), &["a", "b"]);
    std::os::unix::fs::symlink(d.join("private"), d.join("f3/up")).unwrap();
    std::fs::write(d.join("f3/l.csv"), "a/0.png,a\na/1.png,a\nb/0.png,b\nup/secret.png,b\n").unwrap();
    for (source, shown) in [("f1", "f1/a/x.png"), ("f2", "f2/b/secret.png"), ("f3/l.csv", "f3/up/secret.png")] {
        let e = run_err(&mut import(&d.join(source), &d.join("s.st")));
        assert!(e.contains(shown) && e.contains("secret.png, outside") && e.contains("--allow-outside"), "{e}");
        assert!(!d.join("s.st").exists());
        run_ok(import(&d.join(source), &d.join("s.st")).args(["-q", "--allow-outside"]));
        std::fs::remove_file(d.join("s.st")).unwrap();
    }
}

#[test]
fn images_with_a_side_below_four_are_bad_unless_fitted() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for c in ["a", "b"] {
        for j in 0..3 {
            png(&d.join("f").join(c).join(format!("{j}.png")), 28, 1);
        }
    }
    // As its own size the set would be 1x28: clf-train then panicked.
    let o = import(&d.join("f"), &d.join("s.st")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1x28 pixels: a side below 4") && err.contains("--size"), "{err}");
    assert!(!d.join("s.st").exists());
    run_ok(import(&d.join("f"), &d.join("s.st")).args(["-q", "--size", "8x8"]));
    assert_eq!(image_set::read(&d.join("s.st")).unwrap().shape.h, 8);
}

/// A small spec: one mix, read by a second.
const SPEC: &str = r#"[target.mix]
command = "mix-build --real mnist:test --synthetic mnist:test --ratio 1:0 --total 60 --seed 0 --out {out}"
outputs = ["mix/m.safetensors"]

[target.mix2]
command = "mix-build --real {in} --synthetic mnist:test --ratio 1:0 --total 30 --seed 1 --out {out}"
inputs = ["mix"]
outputs = ["mix/m2.safetensors"]
"#;

#[test]
fn a_store_object_become_a_folder_is_replaced_and_a_fifo_record_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    run_ok(synthmix_at(d).args(["run", "spec.toml", "-q"]));
    let m2 = common::hash(&d.join("artifacts/mix/m2.safetensors"));
    let obj = d.join("artifacts/store").join(&m2[..2]).join(&m2);
    std::fs::remove_file(&obj).unwrap();
    std::fs::create_dir_all(obj.join("inside")).unwrap();
    // The damaged object is rebuilt and stored again (the commit failed on the folder).
    let out = stdout(&run_ok(synthmix_at(d).args(["run", "spec.toml"])));
    assert!(out.contains("not a plain file in the store"), "{out}");
    assert!(obj.is_file() && common::hash(&obj) == m2, "stored again");
    run_ok(synthmix_at(d).args(["status", "spec.toml", "--verify"]));
    // A cache record that is a FIFO: one line, not a hang.
    std::fs::remove_dir_all(d.join("artifacts/mix")).unwrap(); // looked up, not in place
    let record = common::walk(&d.join("artifacts/cache")).into_iter().next().unwrap();
    std::fs::remove_file(&record).unwrap();
    mkfifo(&record);
    let e = err_within_a_minute(synthmix_at(d).args(["run", "spec.toml"]));
    assert!(e.contains("a FIFO, not a regular file"), "{e}");
}

#[test]
fn a_huge_environment_value_is_clipped_in_the_error_line() {
    let t = tempfile::tempdir().unwrap();
    let huge = t.path().join("d".repeat(100_000));
    let e = run_err(
        bin("synthmix")
            .args(["data", "export", "mnist:test", "--out"])
            .arg(t.path().join("m.st"))
            .env("SYNTHMIX_DATA", &huge),
    );
    assert!(
        e.len() < 600 && e.contains("(100") && e.contains("data dir does not exist"),
        "{} bytes: {e:.300}",
        e.len()
    );
}

#[test]
fn target_names_with_control_bidi_or_invisible_characters_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for name in ["a\u{202e}b", "a\u{200b}", "a\u{1b}[2J"] {
        // As a TOML escape, so the spec file itself stays plain text.
        let toml: String = name.chars().map(|c| format!("\\u{:04X}", u32::from(c))).collect();
        let spec = SPEC
            .replacen("[target.mix]", &format!("[target.\"{toml}\"]"), 1)
            .replace("inputs = [\"mix\"]", &format!("inputs = [\"{toml}\"]"));
        std::fs::write(d.join("spec.toml"), spec).unwrap();
        let e = run_err(synthmix_at(d).args(["dag", "spec.toml"]));
        assert!(e.contains("spec.toml:1: target name") && e.contains("invisible character"), "{e}");
        assert!(!e.chars().any(|c| c == '\u{202e}' || c == '\u{200b}' || c == '\u{1b}'), "{e}");
    }
}
