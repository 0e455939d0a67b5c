//! Golden tests of the stages' semantic versions. The pipeline cache keys a
//! built-in stage on its declared version (`synthmix_core::stages::STAGES`),
//! not on its binary, so a rebuild keeps every cached result. That is only
//! safe if a change of a stage's output comes with a version bump: each stage
//! runs a tiny deterministic job here, and its output's BLAKE3 is pinned
//! beside the version it belongs to. A stage whose bytes change while its
//! version stays fails this test; bump the version in `STAGES` and pin the
//! new hash (the failure prints it).

use crate::common;

use std::path::Path;

use common::{bin, run_ok};
use synthmix_core::stages::STAGES;

/// (stage, its semantic version, BLAKE3 of the tiny job's output). The
/// floating-point stages' bytes depend on the CPU's kernel path (gemm's
/// AVX-512 and AVX2 micro-kernels sum in other orders), so they are pinned
/// per [`cpu_class`]; `mix-build` is integer-only and pinned everywhere.
const GOLDEN: &[(&str, u32, &str, &str)] = &[
    ("mix-build", 2, "any", "6538933a3138038b01d7bafa7c3a71635b17db61f9411e64f9df2b8fc5bbd333"),
    ("gan-train", 1, "x86-64-v4", "a915d357a749a2eaf62b246174762a5e23ba6b381b6348cd40dece2efef66d41"),
    // Pinned on an AVX2 machine (no AVX-512 there to pin x86-64-v4 with),
    // as are the x86-64-v3 rows below.
    // Version 3: the vectorised GroupNorm + SiLU (f64 sums in 8 fixed
    // lanes, a polynomial exp) — new bits, intended.
    ("dpm-train", 3, "x86-64-v3", "18bc0094e51fe1f5de99c7b0d1b801d102daebf5ea86e971aefeb4937864c72c"),
    ("gan-train", 1, "x86-64-v3", "c2ddc95596321aa7fb625e7114cd2d5786c1636f6745698c3811b23796e87124"),
    ("synth-sample", 3, "x86-64-v3", "49897879f1829f09a122a447873220a54d872307219faa7907bf5d472a43b970"),
    ("clf-train", 1, "x86-64-v3", "ff4c1a768a3ca76d70883b8cadb5bcb8567f0dd993e41e06104de9b0dc46a015"),
    ("evaluate", 3, "x86-64-v3", "1f7f35f090b52c5a24d461737e601f4162ebdcf701cd49428cfad316ac843142"),
    // Versions 2 and 3 changed only the U-Net's bytes (its fused GroupNorm,
    // then that op vectorised): the GAN sample pinned here is the same
    // bytes as version 1's.
    ("synth-sample", 3, "x86-64-v4", "2725bb72f9e6b1bf1ae5c63ef11132438b0c3da3063cfb400421d1d71affdb21"),
    ("clf-train", 1, "x86-64-v4", "ff4c1a768a3ca76d70883b8cadb5bcb8567f0dd993e41e06104de9b0dc46a015"),
    ("evaluate", 3, "x86-64-v4", "1f7f35f090b52c5a24d461737e601f4162ebdcf701cd49428cfad316ac843142"),
];

/// The kernel path gemm dispatches to on this CPU.
fn cpu_class() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "x86-64-v4";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "x86-64-v3";
        }
    }
    "other"
}

/// Runs `synthmix STAGE ARGS` in `dir` (the multi-call binary: same code as
/// the stage binary) and returns the BLAKE3 of `out`.
fn run_stage(dir: &Path, stage: &str, args: &[&str], out: &str) -> String {
    run_ok(bin("synthmix").current_dir(dir).arg(stage).args(args).args(["--out", out, "-q"]));
    blake3::hash(&std::fs::read(dir.join(out)).unwrap()).to_hex().to_string()
}

/// Every stage's tiny job, in pipeline order; returns (stage, output hash).
fn tiny_study(dir: &Path) -> Vec<(&'static str, String)> {
    let mut h = Vec::new();
    // Integer only: real and MNIST-C shot-noise images, drawn by seed.
    let real = ["--real", "mnist:test", "--synthetic", "mnist-c/shot_noise:test"];
    let mix = [&real[..], &["--ratio", "2:1", "--total", "60", "--seed", "3"]].concat();
    h.push(("mix-build", run_stage(dir, "mix-build", &mix, "mix.safetensors")));
    let gan = ["--train", "mnist:train", "--limit", "200", "--epochs", "1", "--batch-size", "50", "--seed", "0"];
    h.push(("gan-train", run_stage(dir, "gan-train", &gan, "gan.safetensors")));
    let dpm = [
        "--train",
        "mnist:train",
        "--limit",
        "40",
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--channels",
        "8",
        "--channel-mults",
        "1,2",
        "--groups",
        "4",
        "--sample-steps",
        "2",
        "--seed",
        "0",
    ];
    h.push(("dpm-train", run_stage(dir, "dpm-train", &dpm, "dpm.safetensors")));
    let sample = ["--generator", "gan.safetensors", "--per-class", "3", "--seed", "1"];
    h.push(("synth-sample", run_stage(dir, "synth-sample", &sample, "synth.safetensors")));
    let clf = ["--train", "mix.safetensors", "--epochs", "3", "--lr", "0.003", "--batch-size", "10", "--seed", "0"];
    h.push(("clf-train", run_stage(dir, "clf-train", &clf, "clf.safetensors")));
    let eval = ["--classifier", "clf.safetensors", "--test", "synth.safetensors", "mix.safetensors"];
    h.push(("evaluate", run_stage(dir, "evaluate", &eval, "metrics.json")));
    h
}

#[test]
fn a_stage_whose_output_changes_bumps_its_version() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let got = tiny_study(a.path());
    assert_eq!(got, tiny_study(b.path()), "the tiny study is not deterministic");
    let class = cpu_class();
    let mut problems = Vec::new();
    for (stage, hash) in &got {
        let declared = STAGES.iter().find(|s| s.name == *stage).expect("a stage").version;
        let pins: Vec<_> = GOLDEN.iter().filter(|g| g.0 == *stage && (g.2 == "any" || g.2 == class)).collect();
        match pins.as_slice() {
            [] => eprintln!("note: {stage}: no golden hash for CPU class {class}; checked for determinism only"),
            [(_, v, _, pinned)] => {
                if *v != declared {
                    problems.push(format!(
                        "{stage}: version {declared} declared, golden pinned for {v}: pin {stage} {declared} {hash}"
                    ));
                } else if pinned != hash {
                    problems.push(format!(
                        "{stage}: output changed ({pinned} → {hash}) without a version bump: bump its version in \
                         synthmix_core::stages::STAGES (cached results of the old version are then recomputed) \
                         and pin the new hash"
                    ));
                }
            }
            _ => problems.push(format!("{stage}: more than one golden hash for CPU class {class}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_stage_has_a_golden_hash() {
    for s in STAGES {
        assert!(GOLDEN.iter().any(|g| g.0 == s.name), "{}: no golden hash", s.name);
    }
}
