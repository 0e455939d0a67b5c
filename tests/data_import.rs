//! `synthmix data import` on real image files the test writes: MNIST test
//! images as PNG class folders (grey, 3 classes, uneven sizes), colour JPEGs
//! (12 classes, 64×64, fitted from other sizes), a CSV layout, and every
//! kind of bad file, one line each.

use crate::common;

use std::path::Path;

use common::{bin, run_err, run_ok};
use synthmix_core::artifact::{image_set, provenance};

/// Writes `per_class[c]` MNIST test images of class c as PNGs into DIR/NAME_c/.
fn mnist_folders(dir: &Path, names: &[&str], per_class: &[usize]) {
    let out =
        run_ok(bin("synthmix").args(["data", "export", "mnist:test", "-q", "--out"]).arg(dir.join("m.safetensors")));
    drop(out);
    let set = image_set::read(&dir.join("m.safetensors")).unwrap();
    std::fs::remove_file(dir.join("m.safetensors")).unwrap();
    let _ = std::fs::remove_file(dir.join("m.prov.bin"));
    for (c, (name, &n)) in names.iter().zip(per_class).enumerate() {
        let d = dir.join("folder").join(name);
        std::fs::create_dir_all(&d).unwrap();
        let idx: Vec<usize> = (0..set.len()).filter(|&i| set.labels[i] as usize == c).take(n).collect();
        for (j, &i) in idx.iter().enumerate() {
            image::GrayImage::from_raw(28, 28, set.image(i).to_vec())
                .unwrap()
                .save(d.join(format!("{j:04}.png")))
                .unwrap();
        }
    }
}

#[test]
fn png_class_folders_import_with_names_a_stratified_split_and_exact_pixels() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mnist_folders(d, &["zero", "one", "two"], &[30, 12, 5]);
    let o = run_ok(
        bin("synthmix")
            .args(["data", "import"])
            .arg(d.join("folder"))
            .args(["--test-fraction", "0.2", "--seed", "3", "--out"])
            .arg(d.join("train.safetensors"))
            .arg("--test-out")
            .arg(d.join("test.safetensors")),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("classes: one, two, zero"), "{stdout}");
    let train = image_set::read(&d.join("train.safetensors")).unwrap();
    let test = image_set::read(&d.join("test.safetensors")).unwrap();
    // Classes in name order: one (12), two (5), zero (30); 20 % of each held out.
    assert_eq!(train.class_histogram(), vec![10, 4, 24]);
    assert_eq!(test.class_histogram(), vec![2, 1, 6]);
    assert_eq!(train.class_names(), ["one", "two", "zero"]);
    assert_eq!((train.shape.c, train.shape.h, train.shape.w), (1, 28, 28));
    assert_eq!(train.meta.dataset, "folder");
    assert_eq!(test.meta.split, "test");
    // Pixels are the PNGs' bytes: every train image of class "zero" is one of the files.
    let files: Vec<Vec<u8>> = std::fs::read_dir(d.join("folder/zero"))
        .unwrap()
        .map(|e| image::open(e.unwrap().path()).unwrap().to_luma8().into_raw())
        .collect();
    for i in (0..train.len()).filter(|&i| train.labels[i] == 2) {
        assert!(files.iter().any(|f| f.as_slice() == train.image(i)), "image {i} is not a file's pixels");
    }
    // Same seed, same bytes; `show` names the classes.
    run_ok(
        bin("synthmix")
            .args(["data", "import"])
            .arg(d.join("folder"))
            .args(["--test-fraction", "0.2", "--seed", "3", "--out"])
            .arg(d.join("again.safetensors"))
            .arg("--test-out")
            .arg(d.join("again-test.safetensors")),
    );
    assert_eq!(
        std::fs::read(d.join("train.safetensors")).unwrap(),
        std::fs::read(d.join("again.safetensors")).unwrap()
    );
    let shown = run_ok(bin("synthmix").arg("show").arg(d.join("train.safetensors")));
    assert!(String::from_utf8_lossy(&shown.stdout).contains("zero"), "{shown:?}");
    // And the set trains a classifier as any other.
    run_ok(
        bin("clf-train")
            .arg("--train")
            .arg(d.join("train.safetensors"))
            .args(["--epochs", "1", "--lr", "1e-3", "-q", "--out"])
            .arg(d.join("clf.safetensors")),
    );
}

/// A folder named `test` is imported as the test split of the dataset its
/// parent names, unless `--split` says otherwise; `--split test` beside
/// `--test-fraction` is refused; the set's metadata and provenance record
/// the folder relative to the working folder, else to the data folder, and
/// never by its absolute path.
#[test]
fn a_test_folder_is_the_test_split_and_paths_are_recorded_relative() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mnist_folders(d, &["zero", "one"], &[4, 4]);
    std::fs::create_dir_all(d.join("digits")).unwrap();
    std::fs::rename(d.join("folder"), d.join("digits/test")).unwrap();
    let import = |cwd: &Path, out: &str| {
        let mut c = bin("synthmix");
        c.current_dir(cwd).args(["data", "import", "-q"]).arg(d.join("digits/test")).arg("--out").arg(d.join(out));
        c
    };
    let absolute = d.canonicalize().unwrap().display().to_string();
    let elsewhere = tempfile::tempdir().unwrap();
    for (cwd, extra, out, split, recorded) in [
        (d, vec![], "a.safetensors", "test", "digits/test"),
        (d, vec!["--split", "train"], "b.safetensors", "train", "digits/test"),
        (elsewhere.path(), vec!["--data-dir", absolute.as_str()], "c.safetensors", "test", "<data>/digits/test"),
        (elsewhere.path(), vec![], "e.safetensors", "test", "…/test"),
    ] {
        run_ok(import(cwd, out).args(&extra));
        let set = image_set::read(&d.join(out)).unwrap();
        assert_eq!((set.meta.dataset.as_str(), set.meta.split.as_str()), ("digits", split), "{extra:?}");
        assert_eq!(set.meta.import.as_ref().unwrap().imported_from, recorded, "{extra:?}");
        let prov = provenance::read(&provenance::path_for(&d.join(out))).unwrap().to_json();
        let folder = [d.canonicalize().unwrap().join("digits"), d.join("digits")];
        assert!(folder.iter().all(|f| !prov.contains(&f.display().to_string())), "{prov}");
        assert!(prov.contains(&format!("\"path\": \"{recorded}\"")), "{prov}");
        assert!(prov.contains(&format!("\"split\": \"{split}\"")), "{prov}");
    }
    let err =
        run_err(import(d, "f.safetensors").args(["--split", "test", "--test-fraction", "0.5", "--test-out", "g"]));
    assert!(err.contains("--split test with --test-fraction"), "{err}");
    assert!(!d.join("f.safetensors").exists());
}

/// Colour JPEGs of 12 classes in several sizes, fitted to 64×64 (resize and
/// crop), and the same images through a CSV of path,label.
#[test]
fn colour_jpegs_of_twelve_classes_fit_to_a_size_and_a_csv_lists_them() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let mut csv = String::from("path,label\n");
    for c in 0..12u8 {
        let name = format!("class{c:02}");
        std::fs::create_dir_all(d.join("jpg").join(&name)).unwrap();
        for j in 0..(3 + c as u32 % 4) {
            let (w, h) = (48 + 8 * (j % 3), 64 + 4 * (j % 2));
            let img =
                image::RgbImage::from_fn(w, h, |x, y| image::Rgb([c * 20, (x * 4) as u8, (y * 3 + j * 10) as u8]));
            let rel = format!("{name}/{j}.jpg");
            img.save(d.join("jpg").join(&rel)).unwrap();
            csv.push_str(&format!("{rel},{name}\n"));
        }
    }
    std::fs::write(d.join("jpg/labels.csv"), csv).unwrap();
    for fit in ["resize", "crop"] {
        let out = d.join(format!("{fit}.safetensors"));
        run_ok(
            bin("synthmix")
                .args(["data", "import"])
                .arg(d.join("jpg"))
                .args(["--size", "64x64", "--fit", fit, "-q", "--out"])
                .arg(&out),
        );
        let s = image_set::read(&out).unwrap();
        assert_eq!((s.shape.c, s.shape.h, s.shape.w, s.num_classes), (3, 64, 64, 12), "{fit}");
        assert_eq!(s.class_histogram(), (0..12).map(|c| 3 + c % 4).collect::<Vec<usize>>());
        assert_eq!(s.meta.records_flat()["import_fit"], fit);
    }
    let from_csv = d.join("csv.safetensors");
    run_ok(
        bin("synthmix")
            .args(["data", "import"])
            .arg(d.join("jpg/labels.csv"))
            .args(["--size", "64x64", "-q", "--out"])
            .arg(&from_csv),
    );
    let (a, b) = (image_set::read(&d.join("resize.safetensors")).unwrap(), image_set::read(&from_csv).unwrap());
    assert_eq!(a.class_histogram(), b.class_histogram());
    assert_eq!(a.class_names(), b.class_names());
    // Both classifiers train on 3×64×64 with 12 classes (built for that input) and evaluate.
    for arch in ["simple-cnn", "deep-cnn"] {
        let clf = d.join(format!("{arch}.safetensors"));
        run_ok(
            bin("clf-train")
                .arg("--train")
                .arg(d.join("crop.safetensors"))
                .args(["--arch", arch, "--epochs", "1", "--lr", "1e-3", "--batch-size", "16", "-q", "--out"])
                .arg(&clf),
        );
        run_ok(
            bin("evaluate")
                .arg("--classifier")
                .arg(&clf)
                .arg("--test")
                .arg(&from_csv)
                .args(["-q", "--out"])
                .arg(d.join(format!("{arch}.json"))),
        );
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join(format!("{arch}.json"))).unwrap()).unwrap();
        assert_eq!(m["results"][0]["per_class_accuracy"].as_array().unwrap().len(), 12, "{arch}");
    }
    // A DCGAN trains on the same 3×64×64, 12-class set, and samples every
    // class at that shape, deterministically.
    let g = d.join("gen.safetensors");
    run_ok(
        bin("gan-train")
            .arg("--train")
            .arg(d.join("crop.safetensors"))
            .args(["--arch", "dcgan", "--epochs", "1", "--batch-size", "16", "-q", "--out"])
            .arg(&g),
    );
    for out in ["s1.safetensors", "s2.safetensors"] {
        run_ok(
            bin("synth-sample").arg("--generator").arg(&g).args(["--per-class", "2", "-q", "--out"]).arg(d.join(out)),
        );
    }
    let s = image_set::read(&d.join("s1.safetensors")).unwrap();
    assert_eq!((s.shape.c, s.shape.h, s.shape.w, s.num_classes), (3, 64, 64, 12));
    assert_eq!(s.class_histogram(), vec![2; 12]);
    assert_eq!(std::fs::read(d.join("s1.safetensors")).unwrap(), std::fs::read(d.join("s2.safetensors")).unwrap());
    assert!(s.images.iter().any(|&p| p != s.images[0]), "the generator draws more than one grey level");
    // --channels 1 makes the colour set grey.
    let grey = d.join("grey.safetensors");
    run_ok(
        bin("synthmix")
            .args(["data", "import"])
            .arg(d.join("jpg"))
            .args(["--size", "32x32", "--channels", "1", "-q", "--out"])
            .arg(&grey),
    );
    assert_eq!(image_set::read(&grey).unwrap().shape.c, 1);
}

/// The number of classes comes from the data: 2 and 100 classes of 12×12
/// grey images (a CSV layout) go through gan-train (MLP cGAN), synth-sample,
/// mix-build, clf-train and evaluate, every class present in each output.
#[test]
fn two_and_a_hundred_classes_go_through_every_stage() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for k in [2usize, 100] {
        let dir = d.join(format!("k{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut csv = String::from("path,label\n");
        for c in 0..k {
            for j in 0..3u32 {
                let img = image::GrayImage::from_fn(12, 12, |x, y| {
                    image::Luma([((x * 7 + y * 3 + j * 11 + c as u32 * 29) % 256) as u8])
                });
                let rel = format!("{c}-{j}.png");
                img.save(dir.join(&rel)).unwrap();
                csv.push_str(&format!("{rel},c{c:03}\n"));
            }
        }
        std::fs::write(dir.join("labels.csv"), csv).unwrap();
        let set = dir.join("set.safetensors");
        run_ok(bin("synthmix").args(["data", "import"]).arg(dir.join("labels.csv")).args(["-q", "--out"]).arg(&set));
        let g = dir.join("gen.safetensors");
        run_ok(
            bin("gan-train").arg("--train").arg(&set).args(["--arch", "mlp", "--epochs", "1", "-q", "--out"]).arg(&g),
        );
        let synth = dir.join("synth.safetensors");
        run_ok(bin("synth-sample").arg("--generator").arg(&g).args(["--per-class", "2", "-q", "--out"]).arg(&synth));
        let s = image_set::read(&synth).unwrap();
        assert_eq!((s.num_classes, s.class_histogram()), (k, vec![2; k]), "{k} classes sampled");
        let mix = dir.join("mix.safetensors");
        run_ok(
            bin("mix-build")
                .arg("--real")
                .arg(&set)
                .arg("--synthetic")
                .arg(&synth)
                .args(["--ratio", "1:1", "--seed", "0", "-q", "--out"])
                .arg(&mix),
        );
        let clf = dir.join("clf.safetensors");
        run_ok(
            bin("clf-train")
                .arg("--train")
                .arg(&mix)
                .args(["--arch", "simple-cnn", "--epochs", "1", "--batch-size", "16", "-q", "--out"])
                .arg(&clf),
        );
        let m = dir.join("m.json");
        run_ok(bin("evaluate").arg("--classifier").arg(&clf).arg("--test").arg(&set).args(["-q", "--out"]).arg(&m));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
        assert_eq!(v["results"][0]["per_class_accuracy"].as_array().unwrap().len(), k, "{k} classes evaluated");
    }
}

/// Each kind of bad file is named on a line of its own and stops the import
/// with nothing written; --skip-bad leaves them out and counts them.
#[test]
fn bad_files_are_named_and_skip_bad_counts_them() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mnist_folders(d, &["a", "b", "c"], &[6, 6, 6]);
    let f = d.join("folder");
    std::fs::write(f.join("a/broken.png"), b"not a png at all").unwrap();
    std::fs::write(f.join("b/notes.txt"), b"hello").unwrap();
    image::RgbImage::new(28, 28).save(f.join("c/colour.png")).unwrap();
    image::GrayImage::new(20, 28).save(f.join("c/small.png")).unwrap();
    std::fs::create_dir_all(f.join("empty")).unwrap();
    let out =
        bin("synthmix").args(["data", "import"]).arg(&f).arg("--out").arg(d.join("x.safetensors")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for (file, why) in [
        ("broken.png", "not a decodable image"),
        ("notes.txt", "not an image"),
        ("colour.png", "colour image in a greyscale set"),
        ("small.png", "28x20 pixels, the set is 28x28"),
        ("empty", "empty class"),
    ] {
        let named = err.lines().filter(|l| l.contains("bad file:") && l.contains(file) && l.contains(why));
        assert_eq!(named.count(), 1, "{file}: {err}");
    }
    assert!(err.lines().last().unwrap().starts_with("error: ") && err.contains("5 bad files"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!d.join("x.safetensors").exists(), "nothing written");

    let o = run_ok(
        bin("synthmix").args(["data", "import"]).arg(&f).args(["--skip-bad", "--out"]).arg(d.join("x.safetensors")),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("left out 5 bad files"), "{o:?}");
    let s = image_set::read(&d.join("x.safetensors")).unwrap();
    assert_eq!(s.class_histogram(), vec![6, 6, 6]);
    let prov = provenance::read(&provenance::path_for(&d.join("x.safetensors"))).unwrap();
    assert!(prov.metrics.iter().any(|(k, v)| k == "bad_files" && *v == 5.0), "{:?}", prov.metrics);

    // One class only cannot be classified, skip-bad or not.
    std::fs::remove_dir_all(f.join("b")).unwrap();
    std::fs::remove_dir_all(f.join("c")).unwrap();
    let out = bin("synthmix")
        .args(["data", "import"])
        .arg(&f)
        .args(["--skip-bad", "--out"])
        .arg(d.join("y.safetensors"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.lines().last().unwrap().contains("needs at least two"), "{err}");
    assert!(!d.join("y.safetensors").exists());
}

/// Your own data end to end: PNG class folders → `data import` (with a test
/// split) → `init-study` → `run` of the quick spec as written → a report; the spec
/// names the classes and the generator and classifier the shape calls for.
#[test]
fn own_images_import_init_study_and_run_the_quick_spec() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    mnist_folders(d, &names, &[100; 10]);
    run_ok(
        bin("synthmix")
            .current_dir(d)
            .args(["data", "import", "folder", "--name", "digits", "--test-fraction", "0.25"])
            .args(["--out", "sets/train.safetensors", "--test-out", "sets/test.safetensors", "-q"]),
    );
    let o = run_ok(bin("synthmix").current_dir(d).args([
        "init-study",
        "--train",
        "sets/train.safetensors",
        "--test",
        "sets/test.safetensors",
        "--name",
        "digits",
    ]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("synthmix run pipelines/digits-quick.toml"), "{o:?}");
    let spec = std::fs::read_to_string(d.join("pipelines/digits-quick.toml")).unwrap();
    assert!(spec.contains("Classes: eight, five, four, nine, one, seven, six, three, two, zero."), "{spec}");
    assert!(spec.contains("gan_arch = \"mlp\"") && spec.contains("clf_arch = \"simple-cnn\""), "{spec}");
    // Every target and command as written, at smaller budgets: as written the
    // template takes about 2 minutes on 2 cores, a sixth of this suite's tests
    // (its time is a figure for docs/, not a test's).
    let small = common::set_field(&spec, "clf_budget", "300", "the quick spec");
    let small = common::set_field(&small, "gan_epochs", "20", "the quick spec");
    std::fs::write(d.join("pipelines/digits-quick.toml"), small).unwrap();
    run_ok(bin("synthmix").current_dir(d).args(["run", "pipelines/digits-quick.toml", "-q"]));
    assert!(d.join("artifacts/report/digits-quick/index.html").is_file(), "the report's page");
    let md = std::fs::read_to_string(d.join("artifacts/report/digits-quick/report.md")).unwrap();
    assert!(md.contains("digits"), "{md}");
    // The report names the classes.
    let rows = common::markdown_rows(&md, "## Accuracy per class");
    assert_eq!(rows.len(), 4, "O, S, 1:1, 5:1: {rows:?}");
    assert!(
        md.contains("| Generator | Train | eight | five | four | nine | one | seven | six | three | two | zero |"),
        "{md}"
    );
    // Writing over an existing spec is refused.
    let e = common::run_err(bin("synthmix").current_dir(d).args([
        "init-study",
        "--train",
        "sets/train.safetensors",
        "--test",
        "sets/test.safetensors",
        "--name",
        "digits",
    ]));
    assert!(e.contains("exists: not overwritten"), "{e}");
}

/// With enough images per class, init-study also writes the scarce-data
/// regimes (the fractions that keep ≥ 10 images of the smallest class, and
/// the whole set), whose quick variant runs to a regimes report.
#[test]
fn own_images_regimes_template_runs_to_a_regimes_report() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mnist_folders(d, &["zero", "one", "two"], &[60, 48, 56]);
    run_ok(
        bin("synthmix")
            .current_dir(d)
            .args(["data", "import", "folder", "--name", "digits", "--test-fraction", "0.2"])
            .args(["--out", "sets/train.safetensors", "--test-out", "sets/test.safetensors", "-q"]),
    );
    run_ok(bin("synthmix").current_dir(d).args([
        "init-study",
        "--train",
        "sets/train.safetensors",
        "--test",
        "sets/test.safetensors",
        "--name",
        "digits",
    ]));
    // The smallest class keeps 38 (80 % of 48); 25 % of it is 9, too few: no
    // fraction fits, so no regimes spec.
    assert!(d.join("pipelines/digits-quick.toml").exists());
    assert!(!d.join("pipelines/digits-regimes.toml").exists());
    std::fs::remove_dir_all(d.join("pipelines")).unwrap();
    // With 60+ per class (the smallest keeps ≥ 10 at 25 %), it is written.
    std::fs::remove_dir_all(d.join("folder")).unwrap();
    mnist_folders(d, &["zero", "one", "two"], &[80, 64, 72]);
    run_ok(
        bin("synthmix")
            .current_dir(d)
            .args(["data", "import", "folder", "--name", "digits", "--test-fraction", "0.2"])
            .args(["--out", "more/train.safetensors", "--test-out", "more/test.safetensors", "-q"]),
    );
    run_ok(bin("synthmix").current_dir(d).args([
        "init-study",
        "--train",
        "more/train.safetensors",
        "--test",
        "more/test.safetensors",
        "--name",
        "digits",
    ]));
    let full = std::fs::read_to_string(d.join("pipelines/digits-regimes.toml")).unwrap();
    assert!(
        full.contains("name = \"f25\", rule = \"fraction:0.25\"") && full.contains("rule = \"fraction:1\""),
        "{full}"
    );
    assert!(!full.contains("fraction:0.1\""), "10 % keeps fewer than 10 images of the smallest class: {full}");
    let quick = std::fs::read_to_string(d.join("pipelines/digits-regimes-quick.toml")).unwrap();
    let tiny = quick.replace("clf_budget = 10000", "clf_budget = 300");
    let tiny: String = tiny
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("{ name = \"f") {
                // Two generator epochs per regime.
                let (head, rest) = l.split_once("gan_epochs = ").unwrap();
                let tail = rest.split_once(',').unwrap().1;
                format!("{head}gan_epochs = 2,{tail}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("pipelines/digits-regimes-quick.toml"), tiny).unwrap();
    run_ok(bin("synthmix").current_dir(d).args(["run", "pipelines/digits-regimes-quick.toml", "-q"]));
    let md = std::fs::read_to_string(d.join("artifacts/report/digits-regimes-quick/report.md")).unwrap();
    assert!(md.contains("25 %") && md.contains("digits"), "{md}");
    let cas = common::markdown_rows(&md, "## Synthetic-to-real gap (CAS)");
    assert_eq!(cas.len(), 2, "one CAS row per regime: {cas:?}");
    // Three generator seeds per regime, study seed s using generator seed s.
    let gens = common::markdown_rows(&md, "## Generators and what the ± covers");
    assert_eq!(gens.len(), 2 * 3, "{gens:?}");
    assert!(gens.iter().all(|g| g[3] == g[4]), "{gens:?}");
}
