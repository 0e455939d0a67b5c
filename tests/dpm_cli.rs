//! The diffusion generator end to end on tiny real MNIST subsets and a tiny
//! U-Net: dpm-train (files, records, FID), --resume byte identity,
//! synth-sample from a DPM (deterministic by seed and across thread
//! counts, both samplers), and the refusals of bad flags and of flags of the
//! other family.

use crate::common;

use std::path::{Path, PathBuf};

use common::{bin, ls, run_err, run_ok};
use synthmix_core::artifact::{checkpoint, image_set, provenance};

/// A U-Net small enough for a test: 8 channels, two levels, 4 groups.
const TINY: [&str; 16] = [
    "--train",
    "mnist:train",
    "--limit",
    "64",
    "--channels",
    "8",
    "--channel-mults",
    "1,2",
    "--groups",
    "4",
    "--batch-size",
    "16",
    "--sample-steps",
    "2",
    "--seed",
    "5",
];

fn dpm_train(out: &Path, extra: &[&str]) -> std::process::Output {
    run_ok(bin("dpm-train").args(TINY).args(["-q", "--out"]).arg(out).args(extra))
}

/// A small features classifier (as tests/gan_cli.rs trains one).
fn features_clf(dir: &Path) -> PathBuf {
    common::train_features_clf(&dir.join("clf.safetensors"), 300)
}

/// CSV rows without the timing columns (images_per_s, wall_s).
fn csv_metrics(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",")).collect()
}

#[test]
fn dpm_train_writes_the_contract_and_resume_is_exact() {
    let t = tempfile::tempdir().unwrap();
    let clf = features_clf(t.path());
    let fid = ["--features", clf.to_str().unwrap(), "--fid-samples", "20", "--fid-every", "1"];
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let ga = a.join("dpm.safetensors");
    dpm_train(&ga, &[&["--epochs", "2"][..], &fid].concat());
    assert_eq!(
        ls(&a),
        [
            "dpm.config.json",
            "dpm.grid-epoch001.png",
            "dpm.grid-epoch002.png",
            "dpm.log.csv",
            "dpm.optim.safetensors",
            "dpm.prov.bin",
            "dpm.safetensors"
        ]
    );
    let ck = checkpoint::read(&ga, Some("generator")).unwrap();
    assert_eq!((ck.meta.arch.as_str(), ck.meta.dataset.as_str(), ck.meta.epoch), ("unet", "mnist", 2));
    let rec = ck.meta.diffusion().expect("a diffusion record");
    assert_eq!((rec.ema_decay, rec.label_dropout, rec.seed), (0.999, 0.1, 5));
    let f = ck.meta.fid().expect("an FID record").fid;
    assert!(f > 0.0 && f.is_finite());
    let cfg: serde_json::Value = serde_json::from_str(&ck.meta.config).unwrap();
    assert_eq!((cfg["base"].as_u64(), cfg["num_classes"].as_u64()), (Some(8), Some(10)));
    assert_eq!(ck.weights["class_emb.embeddings"].0, vec![11, 32], "10 classes and the null class");
    let csv = std::fs::read_to_string(a.join("dpm.log.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("epoch,loss,fid,recognition,sample_std,images_per_s,wall_s"));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let prov = provenance::read(&a.join("dpm.prov.bin")).unwrap();
    assert_eq!(prov.stage, "dpm-train");
    let config = std::fs::read_to_string(a.join("dpm.config.json")).unwrap();
    assert!(config.contains("\"label-dropout\": \"0.1\""), "{config}");

    // Interrupted after epoch 1, resumed to 2: the same bytes.
    let gb = b.join("dpm.safetensors");
    dpm_train(&gb, &[&["--epochs", "1"][..], &fid].concat());
    dpm_train(&gb, &[&["--epochs", "2", "--resume"][..], &fid].concat());
    for f in ["dpm.safetensors", "dpm.grid-epoch002.png"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs after --resume");
    }
    // The resume state: every tensor (weights, EMA, Adam) equal; its log differs only in timings.
    let tensors = |d: &Path| {
        let bytes = std::fs::read(d.join("dpm.optim.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut v: Vec<(String, Vec<u8>)> = st.tensors().into_iter().map(|(n, t)| (n, t.data().to_vec())).collect();
        v.sort();
        v
    };
    let ta = tensors(&a);
    assert!(ta.len() > 30 && ta == tensors(&b), "resume state tensors differ");
    assert_eq!(csv_metrics(&a.join("dpm.log.csv")), csv_metrics(&b.join("dpm.log.csv")));
    let e = run_err(bin("dpm-train").args(TINY).args(["--epochs", "3", "--lr", "1e-3", "--resume", "--out"]).arg(&gb));
    assert!(e.contains("cannot --resume") && e.contains("adam"), "{e}");
}

fn sample(g: &Path, out: &Path, extra: &[&str], threads: &str) {
    run_ok(
        bin("synth-sample")
            .env("RAYON_NUM_THREADS", threads)
            .args(["--generator", g.to_str().unwrap(), "--per-class", "2", "--seed", "1", "-q", "--out"])
            .arg(out)
            .args(extra),
    );
}

#[test]
fn synth_sample_draws_from_a_dpm_deterministically_and_refuses_the_other_familys_flags() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let g = d.join("dpm.safetensors");
    dpm_train(&g, &["--epochs", "1"]);
    let steps = ["--steps", "3"];
    for (i, extra) in [&steps[..], &["--sampler", "ddpm", "--steps", "3", "--guidance", "0"]].iter().enumerate() {
        let (x, y) = (d.join(format!("x{i}.safetensors")), d.join(format!("y{i}.safetensors")));
        sample(&g, &x, extra, "1");
        sample(&g, &y, extra, "2");
        assert!(std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(), "{extra:?}: 1 and 2 threads differ");
        let set = image_set::read(&x).unwrap();
        assert_eq!((set.len(), set.meta.draw.as_ref().unwrap().generator_arch.as_str()), (20, "unet"));
    }
    // Bad diffusion flags: one line, before any work, nothing written.
    let out = d.join("bad.safetensors");
    for (flags, want) in [
        (vec!["--steps", "0"], "--steps 0"),
        (vec!["--steps", "1001"], "--steps 1001"),
        (vec!["--guidance", "NaN"], "--guidance NaN"),
        (vec!["--guidance=-1"], "--guidance -1"),
    ] {
        let e = run_err(
            bin("synth-sample")
                .args(["--generator", g.to_str().unwrap(), "--per-class", "1", "--out"])
                .arg(&out)
                .args(&flags),
        );
        assert!(e.contains(want), "{flags:?}: {e}");
        assert!(!out.exists());
    }
    let e = run_err(bin("dpm-train").args(TINY).args(["--groups", "3", "--out"]).arg(d.join("x.safetensors")));
    assert!(e.contains("--groups 3") && e.contains("does not divide"), "{e}");
    let e = run_err(bin("dpm-train").args(TINY).args(["--sample-steps", "0", "--out"]).arg(d.join("x.safetensors")));
    assert!(e.contains("--steps 0"), "{e}");

    // A GAN with a diffusion flag, and the DPM where only a GAN will do.
    let gan = d.join("gan.safetensors");
    run_ok(
        bin("gan-train").args(["--train", "mnist:train", "--limit", "100", "--epochs", "1", "-q", "--out"]).arg(&gan),
    );
    let e = run_err(
        bin("synth-sample")
            .args(["--generator", gan.to_str().unwrap(), "--per-class", "1", "--steps", "5", "--out"])
            .arg(&out),
    );
    assert!(e.contains("--steps applies to diffusion generators") && e.contains("is a GAN"), "{e}");
    let e = match synthmix_core::model::gan::load_generator(&g, &candle_core::Device::Cpu) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a DPM checkpoint loaded as a GAN"),
    };
    assert!(e.contains("dpm.safetensors") && e.contains("diffusion generator") && !e.contains('\n'), "{e}");
}
