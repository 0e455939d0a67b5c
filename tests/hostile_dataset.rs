//! `synthmix data import` and `show` on image folders and CSVs built to do
//! harm: more classes than a label holds, damaged and truncated images, an
//! image too large to decode, CSV rows reaching outside their folder, outputs
//! that cannot all be written, names carrying terminal control characters,
//! and absurd thread counts. Each is refused with one line (or left out with
//! --skip-bad), writes nothing half, and never changes a kept image's label.

use crate::common;

use std::path::Path;

use common::{bin, ls, run_err, run_ok};
use synthmix_core::artifact::{image_set, provenance};
use synthmix_core::data::ImageSet;

/// An 8×8 grey PNG whose first two pixels spell `c` (high byte, low byte):
/// the test reads an image's class folder back from its pixels.
fn spelled(c: usize, path: &Path) {
    let (hi, lo) = (u8::try_from(c / 256).unwrap(), u8::try_from(c % 256).unwrap());
    let img = image::GrayImage::from_fn(8, 8, |x, y| {
        image::Luma([match (x, y) {
            (0, 0) => hi,
            (1, 0) => lo,
            _ => u8::try_from((x * 8 + y) % 256).unwrap(),
        }])
    });
    img.save(path).unwrap();
}

/// `n` class folders `c000`…: the first `broken` hold one file that is not an
/// image decoder's (bad), the rest two images each spelling their class.
fn class_folders(dir: &Path, n: usize, broken: usize) {
    for c in 0..n {
        let d = dir.join(format!("c{c:03}"));
        std::fs::create_dir_all(&d).unwrap();
        if c < broken {
            std::fs::write(d.join("0.png"), b"\x89PNG but nothing after").unwrap();
        } else {
            spelled(c, &d.join("0.png"));
            spelled(c, &d.join("1.png"));
        }
    }
}

/// Every image's label names the folder its pixels spell.
fn assert_labels_match_folders(set: &ImageSet) {
    let names = set.class_names();
    for i in 0..set.len() {
        let px = set.image(i);
        let c = usize::from(px[0]) * 256 + usize::from(px[1]);
        assert_eq!(names[usize::from(set.labels[i])], format!("c{c:03}"), "image {i}");
    }
}

fn import(source: &Path) -> std::process::Command {
    let mut c = bin("synthmix");
    c.args(["data", "import"]).arg(source);
    c
}

#[test]
fn skip_bad_never_changes_a_kept_images_label_past_256_classes() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("folder");
    class_folders(&f, 300, 50);
    let out = t.path().join("set.safetensors");
    let o = run_ok(import(&f).args(["--skip-bad", "--out"]).arg(&out));
    assert!(String::from_utf8_lossy(&o.stdout).contains("left out 50 bad files"), "{o:?}");
    let set = image_set::read(&out).unwrap();
    assert_eq!((set.num_classes, set.len()), (250, 500));
    assert_eq!(set.class_names().first().map(String::as_str), Some("c050"));
    assert_labels_match_folders(&set);
}

#[test]
fn more_classes_than_a_label_holds_are_refused_before_any_image_is_read() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("folder");
    // 257 classes, one with a bad file: the class count is what is reported
    // (one line, no "bad file" lines), so no image was decoded first.
    class_folders(&f, 257, 1);
    let e = run_err(import(&f).arg("--out").arg(t.path().join("x.safetensors")));
    assert!(e.contains("folder: 257 classes") && e.contains("256"), "{e}");
    assert_eq!(ls(t.path()), ["folder"], "nothing written");
    // 256 classes are what one byte holds: imported, every label right.
    std::fs::remove_dir_all(f.join("c000")).unwrap();
    let out = t.path().join("set.safetensors");
    run_ok(import(&f).arg("-q").arg("--out").arg(&out));
    let set = image_set::read(&out).unwrap();
    assert_eq!((set.num_classes, set.len()), (256, 512));
    assert_labels_match_folders(&set);
}

/// Two classes, `a` and `b`, of three colour 32×32 images each.
fn two_classes(dir: &Path) {
    for (k, class) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for j in 0..3u32 {
            let img = image::RgbImage::from_fn(32, 32, |x, y| {
                image::Rgb([
                    u8::try_from(k).unwrap() * 90,
                    u8::try_from(x * 8).unwrap(),
                    u8::try_from(y * 4 + j).unwrap(),
                ])
            });
            img.save(dir.join(class).join(format!("{j}.png"))).unwrap();
        }
    }
}

/// An image file's bytes cut halfway through its pixel data (after the JPEG
/// scan's start, the first PNG IDAT chunk, the BMP pixel offset): the header
/// reads, the pixels end early.
fn truncated(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).unwrap();
    let mut bytes = bytes.into_inner();
    let find = |pat: &[u8]| bytes.windows(pat.len()).position(|w| w == pat).unwrap();
    let pixels = match format {
        image::ImageFormat::Jpeg => find(&[0xff, 0xda]),
        image::ImageFormat::Png => find(b"IDAT"),
        _ => usize::try_from(u32::from_le_bytes(bytes[10..14].try_into().unwrap())).unwrap(),
    };
    bytes.truncate(pixels + (bytes.len() - pixels) / 2);
    bytes
}

#[test]
fn truncated_images_are_bad_files_not_images_partly_grey() {
    let colour = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([u8::try_from((x * y) % 251).unwrap(), u8::try_from((x * 7 + y * 13) % 256).unwrap(), 200])
    }));
    for (name, format) in [
        ("cut.jpg", image::ImageFormat::Jpeg),
        ("cut.png", image::ImageFormat::Png),
        ("cut.bmp", image::ImageFormat::Bmp),
    ] {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("folder");
        two_classes(&f);
        std::fs::write(f.join("a").join(name), truncated(&colour, format)).unwrap();
        let out = import(&f).arg("--out").arg(t.path().join("x.safetensors")).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        let named =
            err.lines().filter(|l| l.contains("bad file:") && l.contains(name) && l.contains("not a decodable"));
        assert_eq!(named.count(), 1, "{name}: {err}");
        assert!(err.lines().last().unwrap().starts_with("error: ") && err.contains("1 bad file"), "{err}");
        assert_eq!(ls(t.path()), ["folder"], "{name}: nothing written");
        let o = run_ok(import(&f).args(["--skip-bad", "--out"]).arg(t.path().join("x.safetensors")));
        assert!(String::from_utf8_lossy(&o.stdout).contains("left out 1 bad files"), "{name}: {o:?}");
        assert_eq!(image_set::read(&t.path().join("x.safetensors")).unwrap().class_histogram(), [3, 3]);
    }
}

/// A valid greyscale PNG of `side` × `side` black pixels, written without
/// ever holding its pixels (rows of zeros streamed through the compressor).
fn black_png(path: &Path, side: u32) {
    use std::io::Write;
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let row = vec![0u8; usize::try_from(side).unwrap() + 1];
    for _ in 0..side {
        z.write_all(&row).unwrap();
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let ihdr: Vec<u8> = [side.to_be_bytes(), side.to_be_bytes()].concat().into_iter().chain([8, 0, 0, 0, 0]).collect();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

#[test]
fn an_image_too_large_to_decode_is_refused_from_its_header() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("folder");
    two_classes(&f);
    black_png(&f.join("a/huge.png"), 20_000);
    // Every size and mode is fitted, so only the pixel cap stops it.
    let started = std::time::Instant::now();
    let fit = ["--size", "28x28", "--channels", "3", "--out"];
    let out = import(&f).args(fit).arg(t.path().join("x.safetensors")).output().unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line =
        err.lines().find(|l| l.contains("bad file:") && l.contains("huge.png")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("20000x20000 pixels: not decoded"), "{line}");
    assert!(took.as_secs() < 20, "refused from the header, not after decoding ({took:?})");
    assert_eq!(ls(t.path()), ["folder"]);
}

#[test]
fn outputs_are_written_all_or_none() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = d.join("folder");
    two_classes(&f);
    std::fs::write(d.join("a-file"), b"").unwrap();
    let split = ["--test-fraction", "0.5", "--out"];
    // The test set's folder is a file: found before the train set is written.
    let e =
        run_err(import(&f).args(split).arg(d.join("train.safetensors")).arg("--test-out").arg(d.join("a-file/t.st")));
    assert!(e.contains("--test-out") && e.contains("a-file"), "{e}");
    // The test set named as the train set, or as its provenance record.
    for same in ["train.safetensors", "train.prov.bin"] {
        let e = run_err(import(&f).args(split).arg(d.join("train.safetensors")).arg("--test-out").arg(d.join(same)));
        assert!(e.contains("--test-out") && e.contains("same file"), "{e}");
    }
    // A test set folder that exists as a folder of that name.
    std::fs::create_dir(d.join("test.safetensors")).unwrap();
    let e = run_err(
        import(&f).args(split).arg(d.join("train.safetensors")).arg("--test-out").arg(d.join("test.safetensors")),
    );
    assert!(e.contains("--test-out") && e.contains("is a folder"), "{e}");
    assert_eq!(ls(d), ["a-file", "folder", "test.safetensors"], "nothing written");
    assert_eq!(ls(&d.join("test.safetensors")), Vec::<String>::new());
    // And when every output can be written, all three are.
    run_ok(
        import(&f)
            .arg("-q")
            .args(split)
            .arg(d.join("train.safetensors"))
            .arg("--test-out")
            .arg(d.join("t.safetensors")),
    );
    let prov = provenance::read(&d.join("train.prov.bin")).unwrap();
    assert_eq!(prov.outputs.iter().map(|o| o.role.as_str()).collect::<Vec<_>>(), ["train", "test"]);
    for o in &prov.outputs {
        assert_eq!(o.blake3, common::hash(Path::new(&o.path)), "{}", o.path);
    }
}

#[test]
fn csv_rows_naming_images_outside_the_csv_folder_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let sets = d.join("sets");
    std::fs::create_dir_all(sets.join("imgs")).unwrap();
    for j in 0..4 {
        spelled(j, &sets.join(format!("imgs/{j}.png")));
    }
    spelled(7, &d.join("private.png"));
    let rows = "path,label\nimgs/0.png,a\nimgs/1.png,a\nimgs/2.png,b\nimgs/3.png,b\n";
    let absolute = format!("{},b\n", d.join("private.png").display());
    for (extra, shown) in [
        ("../private.png,b\n", "'../private.png'"),
        ("imgs/../../private.png,b\n", "'imgs/../../private.png'"),
        (absolute.as_str(), "is absolute"),
    ] {
        std::fs::write(sets.join("labels.csv"), format!("{rows}{extra}")).unwrap();
        let e = run_err(import(&sets.join("labels.csv")).arg("--out").arg(d.join("x.safetensors")));
        assert!(e.contains("labels.csv") && e.contains("line 6") && e.contains(shown), "{e}");
        assert!(e.contains("--allow-outside"), "{e}");
        assert!(!d.join("x.safetensors").exists());
        // With --allow-outside the row is read.
        let out = d.join("y.safetensors");
        run_ok(import(&sets.join("labels.csv")).args(["-q", "--allow-outside", "--out"]).arg(&out));
        assert_eq!(image_set::read(&out).unwrap().class_histogram(), [2, 3]);
    }
    let help = run_ok(bin("synthmix").args(["data", "import", "--help"]));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--allow-outside"));
}

/// Whether text holds a character a terminal acts on (C0, DEL, C1, bidi overrides).
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn names_with_control_characters_are_printed_escaped() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // The dataset's folder and two classes: ESC sequences, a newline, a C1 CSI
    // (which JSON leaves unescaped) and a right-to-left override.
    let f = d.join("ds\u{9b}31m");
    for (k, class) in ["red\u{1b}[31m\u{1b}]0;title\u{7}", "two\nlines\u{202e}"].iter().enumerate() {
        std::fs::create_dir_all(f.join(class)).unwrap();
        for j in 0..2 {
            spelled(k * 2 + j, &f.join(class).join(format!("{j}.png")));
        }
    }
    std::fs::write(f.join("two\nlines\u{202e}/bad\u{1b}[2J.png"), b"no").unwrap();
    let out = d.join("set.safetensors");
    let o = run_ok(import(&f).args(["--skip-bad", "--out"]).arg(&out));
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!has_control(&stdout) && !has_control(&stderr), "{stdout:?} {stderr:?}");
    assert!(stdout.contains("classes: red\\u{1b}[31m\\u{1b}]0;title\\u{7}, two\\nlines\\u{202e}"), "{stdout}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("bad file:") && l.contains("bad\\u{1b}[2J.png")).count(),
        1,
        "{stderr}"
    );
    let shown = run_ok(bin("synthmix").arg("show").arg(&out));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(!has_control(&text) && text.contains("dataset  ds\\u{9b}31m") && text.contains("two\\nlines"), "{text}");
    let prov = run_ok(bin("synthmix").arg("show").arg(d.join("set.prov.bin")));
    let json = String::from_utf8_lossy(&prov.stdout);
    assert!(!has_control(&json), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["params"]["name"], "ds\u{9b}31m", "still JSON, the name intact");
    // An error line naming the class: one line, escaped.
    std::fs::remove_dir_all(f.join("two\nlines\u{202e}")).unwrap();
    let e = run_err(import(&f).arg("--out").arg(d.join("z.safetensors")));
    assert!(!has_control(&e) && e.contains("red\\u{1b}[31m"), "{e}");
}

#[test]
fn thread_counts_past_the_cap_are_clamped_with_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("folder");
    class_folders(&f, 2, 0);
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        let o = run_ok(import(&f).env(var, "30000").arg("--out").arg(t.path().join("x.safetensors")));
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err.lines().find(|l| l.contains(var)).unwrap_or_else(|| panic!("{var}: {err}"));
        assert!(
            line.contains("WARN") && line.contains("30000 threads is more than the") && line.contains("using"),
            "{line}"
        );
    }
}

/// A Markdown table row's cells, split at the pipes GFM splits at (a `\`
/// escapes the next character).
fn gfm_cells(row: &str) -> usize {
    let (mut n, mut esc) = (0, false);
    for c in row.trim().trim_start_matches('|').chars() {
        match (esc, c) {
            (false, '\\') => esc = true,
            (false, '|') => n += 1,
            _ => esc = false,
        }
    }
    n
}

/// Every table of `md` (runs of lines starting with `|`): each row has the
/// header's number of cells.
fn assert_tables_keep_their_columns(md: &str) {
    let lines: Vec<&str> = md.lines().collect();
    let mut k = 0;
    let mut tables = 0;
    while k < lines.len() {
        if !lines[k].starts_with('|') {
            k += 1;
            continue;
        }
        let head = gfm_cells(lines[k]);
        tables += 1;
        while k < lines.len() && lines[k].starts_with('|') {
            assert_eq!(gfm_cells(lines[k]), head, "line {}: {:?}", k + 1, lines[k]);
            k += 1;
        }
    }
    assert!(tables >= 5, "{tables} tables: {md}");
}

/// The whole path with a dataset and classes named to do harm: folder →
/// `data import` → `init-study` → `run` (its report and page) → the page.
/// Every table keeps its columns, the page carries no element a name brought,
/// and the spec parses with exactly the targets a plainly named set gets.
#[test]
fn hostile_names_pass_import_report_page_init_study_and_run_as_text() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let hostile = "ds<img src=x onerror=alert(8)>|\"[target.x]";
    let classes = ["a|b", "two\nlines", "<img src=y onerror=alert(9)>", "q\"uote", "[target.x]", "\u{1b}[31mred"];
    // Real digits (the report needs a classifier that learns something).
    run_ok(bin("synthmix").args(["data", "export", "mnist:test", "-q", "--out"]).arg(d.join("m.safetensors")));
    let mnist = image_set::read(&d.join("m.safetensors")).unwrap();
    for (c, name) in classes.iter().enumerate() {
        let dir = d.join(hostile).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let idx = (0..mnist.len()).filter(|&i| usize::from(mnist.labels[i]) == c).take(40);
        for (j, i) in idx.enumerate() {
            let img = image::GrayImage::from_raw(28, 28, mnist.image(i).to_vec()).unwrap();
            img.save(dir.join(format!("{j:03}.png"))).unwrap();
        }
    }
    let import = |from: &str, to: &str| {
        run_ok(bin("synthmix").current_dir(d).args(["data", "import", from, "--test-fraction", "0.25", "-q"]).args([
            "--out",
            &format!("{to}/train.safetensors"),
            "--test-out",
            &format!("{to}/test.safetensors"),
        ]))
    };
    import(hostile, "se\"ts");
    let init = |sets: &str, name: &str| {
        run_ok(bin("synthmix").current_dir(d).args(["init-study", "--name", name, "--train"]).args([
            format!("{sets}/train.safetensors"),
            "--test".into(),
            format!("{sets}/test.safetensors"),
        ]));
        let text = std::fs::read_to_string(d.join(format!("pipelines/{name}-quick.toml"))).unwrap();
        let spec: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let targets: Vec<String> = spec["target"].as_table().unwrap().keys().cloned().collect();
        (text, spec, targets)
    };
    let (text, spec, targets) = init("se\"ts", "hostile");
    assert_eq!(spec["params"]["train_set"].as_str(), Some("se\"ts/train.safetensors"));
    // A plainly named set: the same targets.
    std::fs::rename(d.join(hostile), d.join("plain")).unwrap();
    import("plain", "plain-sets");
    let (_, _, plain_targets) = init("plain-sets", "plain");
    assert_eq!(targets, plain_targets, "{text}");
    assert!(!targets.iter().any(|t| t == "x"));
    // Run it, small (a minute on 2 cores): two seeds, 20 generator epochs, a
    // small classifier budget.
    let small: String = text
        .replace("clf_budget = 10000", "clf_budget = 300")
        .replace("seed = [0, 1, 2]", "seed = [0, 1]")
        .lines()
        .map(|l| if l.starts_with("gan_epochs = ") { "gan_epochs = 20\n".to_string() } else { format!("{l}\n") })
        .collect();
    assert!(small.contains("clf_budget = 300") && small.contains("seed = [0, 1]\n"), "the template moved: {text}");
    std::fs::write(d.join("pipelines/hostile-quick.toml"), small).unwrap();
    run_ok(bin("synthmix").current_dir(d).args(["run", "pipelines/hostile-quick.toml", "-q"]));
    let report = d.join("artifacts/report/hostile-quick");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert_tables_keep_their_columns(&md);
    assert!(!md.contains("<img") && !md.contains('\u{1b}'), "{md}");
    assert!(md.contains("| a\\|b |") && md.contains("| &lt;img src=y onerror=alert(9)> |"), "{md}");
    // The page the report wrote, and the one `synthmix page` makes from report.md.
    for remade in [false, true] {
        if remade {
            run_ok(bin("synthmix").arg("page").arg(&report));
        }
        let html = std::fs::read_to_string(report.join("index.html")).unwrap();
        for injected in ["<img src=x", "<img src=y"] {
            assert!(!html.contains(injected), "{injected:?} in the page (remade: {remade})");
        }
        assert!(html.contains("onerror=alert(9)"), "the class name is on the page, as text");
    }
}
