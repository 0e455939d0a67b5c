//! `synthmix data export mnist-c/CORRUPTION:test` for all fifteen
//! corruptions, and `synthmix show --grid mnist-c:all`, end to end.

use crate::common;

use common::{bin, run_err, run_ok};

const CORRUPTIONS: [&str; 15] = [
    "shot_noise",
    "impulse_noise",
    "glass_blur",
    "motion_blur",
    "shear",
    "scale",
    "rotate",
    "brightness",
    "translate",
    "stripe",
    "fog",
    "spatter",
    "dotted_line",
    "zigzag",
    "canny_edges",
];

#[test]
fn every_corruption_exports_with_its_severity_and_seed() {
    let t = tempfile::tempdir().unwrap();
    for c in CORRUPTIONS {
        let out = t.path().join(format!("{c}.safetensors"));
        run_ok(bin("synthmix").args(["data", "export", &format!("mnist-c/{c}:test"), "--out"]).arg(&out));
        let shown = String::from_utf8(run_ok(bin("synthmix").arg("show").arg(&out)).stdout).unwrap();
        assert!(shown.contains("U8 [10000, 1, 28, 28]") && shown.contains(c) && shown.contains("corrupted"), "{shown}");
    }
    // Seeded: same seed, same bytes; another seed, other bytes. A given severity is used.
    let export = |name: &str, extra: &[&str]| {
        let out = t.path().join(name);
        run_ok(bin("synthmix").args(["data", "export", "mnist-c/zigzag:test", "--out"]).arg(&out).args(extra));
        std::fs::read(out).unwrap()
    };
    assert_eq!(export("a.safetensors", &[]), std::fs::read(t.path().join("zigzag.safetensors")).unwrap());
    assert_ne!(export("b.safetensors", &["--corruption-seed", "1"]), export("c.safetensors", &[]));
    let out = t.path().join("fog1.safetensors");
    run_ok(bin("synthmix").args(["data", "export", "mnist-c/fog:test", "--severity", "1", "--out"]).arg(&out));
    let prov = run_ok(bin("synthmix").arg("show").arg(t.path().join("fog1.prov.bin")));
    let json: serde_json::Value = serde_json::from_slice(&prov.stdout).unwrap();
    assert_eq!(json["params"]["severity"], 1, "{json}");
    let e = run_err(bin("synthmix").args(["data", "export", "mnist-c/frost:test", "--out"]).arg(t.path().join("x")));
    assert!(e.contains("mnist-c/frost:test"), "{e}");
}

#[test]
fn grid_has_a_row_per_corruption() {
    let t = tempfile::tempdir().unwrap();
    let png = t.path().join("all.png");
    let out = run_ok(bin("synthmix").args(["show", "--grid", "mnist-c:all", "--per-class", "3", "--out"]).arg(&png));
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote"));
    let img = image::open(&png).unwrap();
    // 16 rows (identity and the fifteen) of 56-pixel images.
    assert!(img.height() > 16 * 56 && img.height() < 17 * 58 + 40, "{}x{}", img.width(), img.height());
}
