//! The runner killed at 20 seeded random moments of a small real pipeline,
//! by SIGKILL or SIGINT: after each, a rerun must finish with exactly the
//! bytes of an uninterrupted run, and leave no stray file behind (no staging
//! folder, no temporary, no store object without a record).

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, hash, run_ok, walk};

const SPEC: &str = r#"[pipeline]
name = "torture"
out = "out"

[target.export]
command = "synthmix data export mnist:test --out {out}"
outputs = ["data/mnist-test.safetensors"]

[target.synthetic]
command = "mix-build --real mnist-c/shot_noise:test --synthetic mnist-c/shot_noise:test --ratio 0:1 --total 400 --seed 3 --out {out}"
outputs = ["data/synthetic.safetensors"]

[target.mix]
command = "mix-build --real {in.real} --synthetic {in.synthetic} --ratio 1:1 --total 300 --seed 0 --out {out}"
inputs = { real = "export", synthetic = "synthetic" }
outputs = ["mix/1-1.safetensors"]

[target.clf]
command = "clf-train --train {in} --epochs 3 --limit 200 --batch-size 32 --seed 0 --out {out}"
inputs = ["mix"]
outputs = ["clf/1-1.safetensors"]

[target.eval]
command = "evaluate --classifier {in.clf} --test {in.test} --out {out}"
inputs = { clf = "clf", test = "synthetic" }
outputs = ["metrics/1-1.json"]
"#;

fn runner(d: &Path) -> Command {
    let mut c = bin("synthmix");
    c.current_dir(d).env("NO_COLOR", "1").args(["run", "spec.toml", "-j", "2", "-q"]);
    c
}

/// Every placed output (relative path → BLAKE3), but for provenance records
/// and training logs, which hold run times (different in any two runs).
fn outputs(d: &Path) -> Vec<(String, String)> {
    walk(&d.join("out"))
        .iter()
        .filter(|f| !f.to_string_lossy().ends_with(".prov.bin") && !f.to_string_lossy().ends_with(".log.csv"))
        .map(|f| (f.strip_prefix(d).unwrap().display().to_string(), hash(f)))
        .collect()
}

/// No staging folder, no temporary, every store object named by its hash
/// and referenced by a record.
fn assert_clean(d: &Path, round: usize) {
    let art = d.join("artifacts");
    assert!(walk(&art.join(".staging")).is_empty(), "round {round}: staging left: {:?}", walk(&art.join(".staging")));
    for f in walk(d) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "round {round}: stray temporary {}", f.display());
    }
    let referenced = common::recorded_objects(&art);
    for o in walk(&art.join("store")) {
        let name = o.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            referenced.contains(&name),
            "round {round}: unreferenced store object {name} ({} bytes, starts {:?}); records: {:?}",
            std::fs::metadata(&o).unwrap().len(),
            String::from_utf8_lossy(
                &std::fs::read(&o).unwrap()[..16.min(std::fs::metadata(&o).unwrap().len() as usize)]
            ),
            walk(&art.join("cache"))
        );
        assert_eq!(hash(&o), name, "round {round}: store object differs from its name");
    }
}

/// A small seeded generator (splitmix64), so the kill moments are the same on every run.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn killed_at_twenty_random_moments_every_rerun_ends_with_the_clean_bytes() {
    for s in ["mix-build", "clf-train", "evaluate"] {
        bin(s);
    }
    let clean_dir = tempfile::tempdir().unwrap();
    std::fs::write(clean_dir.path().join("spec.toml"), SPEC).unwrap();
    let t0 = Instant::now();
    run_ok(&mut runner(clean_dir.path()));
    let clean_time = t0.elapsed();
    let clean = outputs(clean_dir.path());
    assert_eq!(
        clean.len(),
        10,
        "three sets, the checkpoint, the metrics JSON and CSV, and the four stages' configs: {clean:?}"
    );

    let mut rng = 2026u64;
    let mut signals = BTreeSet::new();
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("spec.toml"), SPEC).unwrap();
        let at = clean_time.mul_f64((splitmix(&mut rng) % 1000) as f64 / 1000.0);
        let signal = if splitmix(&mut rng) % 2 == 0 { "KILL" } else { "INT" };
        signals.insert(signal);
        let mut child = runner(d).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(at);
        let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        child.wait().unwrap();
        // The runner's stages die with it.
        let t = Instant::now();
        while std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c == d.canonicalize().unwrap())
                && e.file_name().to_string_lossy() != std::process::id().to_string()
        }) {
            assert!(t.elapsed() < Duration::from_secs(20), "round {round}: a stage outlived its runner");
            std::thread::sleep(Duration::from_millis(50));
        }
        run_ok(&mut runner(d));
        assert_eq!(outputs(d), clean, "round {round}: SIG{signal} after {at:?}");
        assert_clean(d, round);
    }
    assert_eq!(signals.len(), 2, "both SIGKILL and SIGINT were sent");
}
