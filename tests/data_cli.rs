//! `synthmix data export` / `synthmix show` end to end on the real files, and
//! every bad input of the foundation issue: one line, non-zero exit, nothing written.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::{bin, ls, run_err, run_ok, shared_data};

/// A private data dir holding copies of the real MNIST test files (gunzipped),
/// so a test can damage them.
fn copy_mnist_test(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("data/mnist");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        let gz = std::fs::read(shared_data().join("mnist").join(format!("{f}.gz"))).unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        std::fs::write(d.join(f), raw).unwrap();
    }
    dir.join("data")
}

#[test]
fn export_show_and_grid_on_real_mnist() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("mnist_test.safetensors");
    run_ok(bin("synthmix").args(["data", "export", "mnist:test", "--out"]).arg(&out));
    assert_eq!(ls(t.path()), vec!["mnist_test.prov.bin", "mnist_test.safetensors"]);
    let first = std::fs::read(&out).unwrap();
    // Deterministic: exporting again gives the same bytes.
    run_ok(bin("synthmix").args(["data", "export", "mnist:test", "--out"]).arg(&out));
    assert_eq!(first, std::fs::read(&out).unwrap());

    let shown = run_ok(bin("synthmix").arg("show").arg(&out));
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(text.contains("image-set") && text.contains("U8 [10000, 1, 28, 28]") && text.contains("1135"), "{text}");
    let prov = run_ok(bin("synthmix").arg("show").arg(t.path().join("mnist_test.prov.bin")));
    let json: serde_json::Value = serde_json::from_slice(&prov.stdout).unwrap();
    assert_eq!(json["stage"], "data-export");
    assert_eq!(json["outputs"][0]["blake3"], blake3::hash(&first).to_hex().to_string());

    let png = t.path().join("grid.png");
    run_ok(bin("synthmix").args(["show", "--grid"]).arg(&out).arg("--out").arg(&png).args(["--per-class", "4"]));
    let img = image::open(&png).unwrap();
    assert!(img.width() > 4 * 56 && img.height() > 10 * 56, "{}x{}", img.width(), img.height());
}

#[test]
fn exported_set_loads_in_python_with_documented_names() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("fm.safetensors");
    run_ok(bin("synthmix").args(["data", "export", "fashion-mnist:test", "--out"]).arg(&out));
    // Compare with the original IDX bytes, read independently by Python.
    let script = r#"
import sys, gzip, numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(sys.argv[1])
assert set(t) == {"images", "labels"}, set(t)
im, lb = t["images"], t["labels"]
assert im.dtype == np.uint8 and im.shape == (10000, 1, 28, 28), (im.dtype, im.shape)
assert lb.dtype == np.uint8 and lb.shape == (10000,), (lb.dtype, lb.shape)
raw = np.frombuffer(gzip.open(sys.argv[2] + "/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(10000, 1, 28, 28)
lab = np.frombuffer(gzip.open(sys.argv[2] + "/t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
assert (im == raw).all() and (lb == lab).all()
with safe_open(sys.argv[1], "np") as f:
    m = f.metadata()
assert m["synthmix.kind"] == "image-set" and m["source"] == "real" and m["num_classes"] == "10", m
print("ok")
"#;
    let res = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&out)
        .arg(shared_data().join("fashion-mnist"))
        .output()
        .expect("python3 runs (install numpy and safetensors: .ci/run does)");
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(String::from_utf8_lossy(&res.stdout).trim(), "ok");
}

#[test]
fn truncated_idx_is_refused_and_nothing_written() {
    let t = tempfile::tempdir().unwrap();
    let data = copy_mnist_test(t.path());
    let img = data.join("mnist/t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&img).unwrap();
    std::fs::write(&img, &bytes[..bytes.len() - 100]).unwrap();
    let out = t.path().join("out/x.safetensors");
    let e =
        run_err(bin("synthmix").arg("--data-dir").arg(&data).args(["data", "export", "mnist:test", "--out"]).arg(&out));
    assert!(e.contains("t10k-images-idx3-ubyte") && e.contains("truncated"), "{e}");
    assert!(!t.path().join("out").exists(), "no output folder or file may appear");
}

#[test]
fn wrong_magic_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let data = copy_mnist_test(t.path());
    let lab = data.join("mnist/t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&lab).unwrap();
    bytes[3] = 0x03;
    std::fs::write(&lab, &bytes).unwrap();
    let out = t.path().join("x.safetensors");
    let e =
        run_err(bin("synthmix").arg("--data-dir").arg(&data).args(["data", "export", "mnist:test", "--out"]).arg(&out));
    assert!(e.contains("t10k-labels-idx1-ubyte") && e.contains("wrong magic 0x00000803"), "{e}");
    assert!(!out.exists());
}

#[test]
fn image_and_label_counts_must_agree() {
    let t = tempfile::tempdir().unwrap();
    let data = copy_mnist_test(t.path());
    let lab = data.join("mnist/t10k-labels-idx1-ubyte");
    let bytes = std::fs::read(&lab).unwrap();
    std::fs::write(&lab, synthmix_core::data::idx::encode_labels(&bytes[8..bytes.len() - 1])).unwrap();
    let out = t.path().join("x.safetensors");
    let e =
        run_err(bin("synthmix").arg("--data-dir").arg(&data).args(["data", "export", "mnist:test", "--out"]).arg(&out));
    assert!(e.contains("t10k-labels-idx1-ubyte") && e.contains("9999 labels but") && e.contains("10000 images"), "{e}");
    assert!(!out.exists());
}

#[test]
fn missing_data_dir_and_unknown_names() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x.safetensors");
    let e = run_err(
        bin("synthmix")
            .arg("--data-dir")
            .arg(t.path().join("nowhere"))
            .args(["data", "export", "mnist:test", "--out"])
            .arg(&out),
    );
    assert!(e.contains("nowhere") && e.contains("data dir does not exist"), "{e}");
    let e = run_err(bin("synthmix").args(["data", "export", "mnist:validation", "--out"]).arg(&out));
    assert!(e.contains("mnist:validation") && e.contains("DATASET:SPLIT"), "{e}");
    let e = run_err(bin("synthmix").arg("show").arg(t.path().join("absent.safetensors")));
    assert!(e.contains("absent.safetensors") && e.contains("No such file"), "{e}");
    assert!(!out.exists());
}

/// Writes a valid image set with labels 0..n and returns its bytes.
fn small_set_bytes(t: &Path) -> Vec<u8> {
    let p = t.join("small.safetensors");
    run_ok(bin("synthmix").args(["data", "export", "mnist:test", "--out"]).arg(&p));
    let set = synthmix_core::artifact::image_set::read(&p).unwrap();
    let small = set.select(&(0..20).collect::<Vec<_>>());
    synthmix_core::artifact::image_set::encode(&small).unwrap()
}

fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

#[test]
fn safetensors_that_lie_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let good = small_set_bytes(t.path());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.safetensors", good[..good.len() - 10].to_vec(), "not a valid safetensors file"),
        (
            "header-size.safetensors",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&(good.len() as u64 * 4).to_le_bytes());
                b
            },
            "not a valid safetensors file",
        ),
        (
            "offsets.safetensors",
            {
                let h = header_len(&good);
                let head = String::from_utf8(good[8..8 + h].to_vec()).unwrap();
                // Shift the labels' end offset by one byte: offsets no longer tile the data.
                let start = head.find("\"labels\"").unwrap();
                let off = head[start..].find("\"data_offsets\":[").unwrap() + start + 16;
                let end = head[off..].find(']').unwrap() + off;
                let nums: Vec<usize> = head[off..end].split(',').map(|x| x.parse().unwrap()).collect();
                let new_head = format!("{}{},{}{}", &head[..off], nums[0], nums[1] + 1, &head[end..]);
                let mut b = (new_head.len() as u64).to_le_bytes().to_vec();
                b.extend_from_slice(new_head.as_bytes());
                b.extend_from_slice(&good[8 + h..]);
                b
            },
            "not a valid safetensors file",
        ),
        (
            "label.safetensors",
            {
                let mut b = good.clone();
                let last = b.len() - 1; // labels are the last tensor (sorted after images)
                b[last] = 10;
                b
            },
            "label 10 at index 19 is not below num_classes 10",
        ),
    ];
    for (name, bytes, want) in cases {
        let p = t.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(&bytes).unwrap();
        let e = run_err(bin("synthmix").arg("show").arg(&p));
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
        // A stage reading it as input fails the same way and writes nothing.
        let out = t.path().join(format!("{name}.out.safetensors"));
        let e = run_err(bin("synthmix").args(["show", "--grid"]).arg(&p).arg("--out").arg(&out));
        assert!(e.contains(name), "{e}");
        assert!(!out.exists());
    }
}

/// One rule for the data dir: SYNTHMIX_DATA, else ./data if it holds
/// anything, else ../shared/data, else ./data. An empty ./data (left by a
/// failed fetch of an older build) does not hide the shared folder.
#[test]
fn the_data_dir_rule_finds_a_shared_folder_beside_the_clone() {
    let t = tempfile::tempdir().unwrap();
    let clone = t.path().join("clone");
    std::fs::create_dir_all(clone.join("data")).unwrap();
    std::fs::create_dir_all(t.path().join("shared")).unwrap();
    std::os::unix::fs::symlink(shared_data(), t.path().join("shared/data")).unwrap();
    let verify = || {
        let mut c = bin("synthmix");
        c.current_dir(&clone).env_remove("SYNTHMIX_DATA").args(["data", "verify", "mnist"]);
        c
    };
    let out = String::from_utf8(run_ok(&mut verify()).stdout).unwrap();
    assert!(out.contains("../shared/data/mnist"), "{out}");
    // ./data holding a dataset folder wins.
    let own = copy_mnist_test(&t.path().join("own"));
    std::fs::remove_dir(clone.join("data")).unwrap();
    std::os::unix::fs::symlink(&own, clone.join("data")).unwrap();
    let out = verify().output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the clone's own data lacks the training files: {text}");
    assert!(text.contains("data/mnist/t10k-images") && !text.contains("shared"), "{text}");
}
