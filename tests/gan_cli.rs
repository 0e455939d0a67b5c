//! The generator path end to end on small real MNIST subsets: gan-train,
//! --resume, synth-sample, evaluate --fid, and their refusals.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, ls, run_err, run_ok};
use synthmix_core::artifact::{checkpoint, hash_file, image_set, provenance};

/// A small Simple CNN trained on real MNIST: the FID features network,
/// trained once per test process (in cargo's scratch folder for tests; the
/// same seed gives the same bytes, so concurrent runs agree) and
/// copied into `dir`.
fn features_clf(dir: &Path) -> PathBuf {
    static CLF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let shared = CLF.get_or_init(|| {
        common::train_features_clf(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("gan_cli/clf.safetensors"), 640)
    });
    let out = dir.join("clf.safetensors");
    std::fs::copy(shared, &out).unwrap();
    out
}

fn gan_train(out: &Path, extra: &[&str]) -> std::process::Output {
    run_ok(
        bin("gan-train")
            .args(["--train", "mnist:train", "--limit", "300", "--fid-samples", "200", "--seed", "3", "-q", "--out"])
            .arg(out)
            .args(extra),
    )
}

/// CSV rows without the timing columns (images_per_s, wall_s).
fn csv_metrics(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.split(',').take(8).collect::<Vec<_>>().join(",")).collect()
}

#[test]
fn gan_train_writes_the_contract_and_resume_is_exact() {
    let t = tempfile::tempdir().unwrap();
    let clf = features_clf(t.path());
    let clf_s = clf.to_str().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));

    // Uninterrupted: 2 epochs.
    let ga = a.join("gen.safetensors");
    gan_train(&ga, &["--epochs", "2", "--features", clf_s]);
    assert_eq!(
        ls(&a),
        [
            "gen.config.json",
            "gen.disc.safetensors",
            "gen.grid-epoch001.png",
            "gen.grid-epoch002.png",
            "gen.log.csv",
            "gen.optim.safetensors",
            "gen.prov.bin",
            "gen.safetensors"
        ]
    );
    let ck = checkpoint::read(&ga, Some("generator")).unwrap();
    assert_eq!((ck.meta.arch.as_str(), ck.meta.dataset.as_str(), ck.meta.epoch), ("mlp", "mnist", 2));
    let cfg: serde_json::Value = serde_json::from_str(&ck.meta.config).unwrap();
    assert_eq!(
        (cfg["arch"].as_str(), cfg["latent"].as_u64(), cfg["num_classes"].as_u64()),
        (Some("mlp"), Some(100), Some(10))
    );
    assert_eq!(cfg["g_hidden"], serde_json::json!([256, 512, 1024]));
    assert_eq!(ck.meta.records_flat()["features"], clf_s);
    assert_eq!(ck.meta.records_flat()["features_blake3"], hash_file(&clf).unwrap());
    let fid: f64 = ck.meta.records_flat()["fid"].parse().unwrap();
    assert!(fid > 0.0 && fid.is_finite());
    assert_eq!(ck.weights["fc4.weight"].0, vec![784, 1024]);
    assert_eq!(ck.weights["label_emb.embeddings"].0, vec![10, 10]);
    let disc = checkpoint::read(&a.join("gen.disc.safetensors"), Some("discriminator")).unwrap();
    assert_eq!((disc.meta.epoch, disc.meta.config.as_str()), (2, ck.meta.config.as_str()));
    assert_eq!(disc.weights["fc1.weight"].0, vec![1024, 794]);
    let csv = std::fs::read_to_string(a.join("gen.log.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "epoch,d_loss,g_loss,d_real,d_fake,fid,recognition,sample_std,images_per_s,wall_s");
    assert_eq!(rows.len(), 3, "{csv}");
    let last: Vec<&str> = rows[2].split(',').collect();
    assert_eq!(last[0], "2");
    assert!((last[5].parse::<f64>().unwrap() - fid).abs() < 1e-4, "CSV FID {} = checkpoint FID {fid}", last[5]);
    let grid = image::open(a.join("gen.grid-epoch002.png")).unwrap();
    assert!(grid.width() > 10 * 56 && grid.height() > 10 * 56);
    let prov = provenance::read(&a.join("gen.prov.bin")).unwrap();
    assert_eq!(prov.stage, "gan-train");
    assert!(prov.inputs.iter().any(|i| i.role == "features" && i.blake3 == hash_file(&clf).unwrap()));
    assert!(prov.outputs.iter().any(|o| o.role == "generator" && o.blake3 == hash_file(&ga).unwrap()));

    // Interrupted after epoch 1, resumed to 2: the same bytes.
    let gb = b.join("gen.safetensors");
    gan_train(&gb, &["--epochs", "1", "--features", clf_s]);
    assert_eq!(checkpoint::read(&gb, None).unwrap().meta.epoch, 1);
    gan_train(&gb, &["--epochs", "2", "--features", clf_s, "--resume"]);
    assert_eq!(
        std::fs::read(&ga).unwrap(),
        std::fs::read(&gb).unwrap(),
        "resumed generator differs from the uninterrupted one"
    );
    assert_eq!(
        std::fs::read(a.join("gen.disc.safetensors")).unwrap(),
        std::fs::read(b.join("gen.disc.safetensors")).unwrap()
    );
    assert_eq!(csv_metrics(&a.join("gen.log.csv")), csv_metrics(&b.join("gen.log.csv")));
    assert_eq!(
        std::fs::read(a.join("gen.grid-epoch002.png")).unwrap(),
        std::fs::read(b.join("gen.grid-epoch002.png")).unwrap()
    );

    // A resume with other settings, past its budget, or best-fid without features: one line each.
    let e = run_err(
        bin("gan-train")
            .args(["--train", "mnist:train", "--limit", "300", "--seed", "4", "--epochs", "3", "--resume", "--out"])
            .arg(&gb),
    );
    assert!(e.contains("cannot --resume") && e.contains("seed"), "{e}");
    let e = run_err(
        bin("gan-train")
            .args(["--train", "mnist:train", "--limit", "300", "--seed", "3", "--epochs", "1", "--resume", "--out"])
            .arg(&gb),
    );
    assert!(e.contains("already trained for 2 epochs, past --epochs 1"), "{e}");
    let e = run_err(
        bin("gan-train")
            .args(["--train", "mnist:train", "--keep", "best-fid", "--out"])
            .arg(t.path().join("x.safetensors")),
    );
    assert!(e.contains("--keep best-fid needs --features"), "{e}");
    assert!(!t.path().join("x.safetensors").exists());

    // A run that fails mid-training (learning rates at their bound of 10: the
    // generator collapses in the first epoch) stops with one line and leaves
    // the files already there alone. (Larger or non-finite rates are refused
    // by the flag parser: tests/reliability.rs.)
    let before: Vec<Vec<u8>> = ls(&b).iter().map(|f| std::fs::read(b.join(f)).unwrap()).collect();
    let e = run_err(
        bin("gan-train")
            .args([
                "--train",
                "mnist:train",
                "--limit",
                "300",
                "--lr-d",
                "10",
                "--lr-g",
                "10",
                "--epochs",
                "2",
                "-q",
                "--out",
            ])
            .arg(&gb),
    );
    assert!(e.contains("epoch 1: generator collapsed") && e.contains("no checkpoint written yet"), "{e}");
    let after: Vec<Vec<u8>> = ls(&b).iter().map(|f| std::fs::read(b.join(f)).unwrap()).collect();
    assert!(before == after, "a diverged run must not touch the last good checkpoint");

    // The generator loads in Python.
    let script = r#"
import sys, json
from safetensors.numpy import load_file
from safetensors import safe_open
w = load_file(sys.argv[1])
assert w["fc1.weight"].shape == (256, 110) and w["fc1.weight"].dtype.name == "float32", w["fc1.weight"].shape
assert w["label_emb.embeddings"].shape == (10, 10)
with safe_open(sys.argv[1], "np") as f:
    m = f.metadata()
assert m["synthmix.kind"] == "generator" and m["arch"] == "mlp" and m["epoch"] == "2" and float(m["fid"]) > 0, m
assert json.loads(m["config"])["latent"] == 100
print("ok")
"#;
    let res = Command::new("python3").arg("-c").arg(script).arg(&ga).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));

    // The PyTorch name map: export to the reference Generator's state_dict
    // names and import back; the imported generator samples the same bytes.
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/import_generator.py");
    let (pt, back) = (t.path().join("gen_pt.safetensors"), t.path().join("gen_back.safetensors"));
    for args in [
        vec!["to-pytorch", ga.to_str().unwrap(), pt.to_str().unwrap()],
        vec!["to-synthmix", pt.to_str().unwrap(), back.to_str().unwrap(), "--dataset", "mnist"],
    ] {
        let res = Command::new("python3").arg(tool).args(&args).output().unwrap();
        assert!(res.status.success(), "{args:?}: {}", String::from_utf8_lossy(&res.stderr));
    }
    let pt_names: Vec<String> = st_names(&pt);
    assert_eq!(pt_names[..3], ["label_emb.weight", "net.0.bias", "net.0.weight"]);
    assert!(pt_names.contains(&"net.6.weight".to_string()), "{pt_names:?}");
    let sample = |g: &Path, out: &Path| {
        run_ok(bin("synth-sample").args(["--generator", g.to_str().unwrap(), "--per-class", "3", "--out"]).arg(out))
    };
    let (s1, s2) = (t.path().join("s1.safetensors"), t.path().join("s2.safetensors"));
    sample(&ga, &s1);
    sample(&back, &s2);
    let images = |p: &Path| image_set::read(p).unwrap().images;
    assert_eq!(images(&s1), images(&s2), "an imported generator must sample the same images");
    // A state_dict that is not the reference architecture is refused in one line.
    let res = Command::new("python3")
        .arg(tool)
        .args(["to-synthmix"])
        .arg(&s1)
        .arg(t.path().join("x.safetensors"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success() && err.lines().count() == 1 && err.contains("label_emb.weight"), "{err}");
}

/// Tensor names of a safetensors file, sorted.
fn st_names(p: &Path) -> Vec<String> {
    let bytes = std::fs::read(p).unwrap();
    let mut v: Vec<String> =
        safetensors::SafeTensors::deserialize(&bytes).unwrap().names().into_iter().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn keep_best_fid_and_checkpoint_every() {
    let t = tempfile::tempdir().unwrap();
    let clf = features_clf(t.path());
    let g = t.path().join("g.safetensors");
    gan_train(
        &g,
        &["--epochs", "3", "--checkpoint-every", "2", "--keep", "best-fid", "--features", clf.to_str().unwrap()],
    );
    // Grids at the checkpoints only (epoch 2, and the last).
    assert!(t.path().join("g.grid-epoch002.png").exists() && t.path().join("g.grid-epoch003.png").exists());
    assert!(!t.path().join("g.grid-epoch001.png").exists());
    let fids: Vec<f64> = csv_metrics(&t.path().join("g.log.csv"))
        .iter()
        .skip(1)
        .map(|r| r.split(',').nth(5).unwrap().parse().unwrap())
        .collect();
    let (best_epoch, best) =
        fids.iter().enumerate().fold((0, f64::MAX), |acc, (i, &f)| if f < acc.1 { (i + 1, f) } else { acc });
    let ck = checkpoint::read(&g, Some("generator")).unwrap();
    assert_eq!(ck.meta.epoch, best_epoch, "FIDs {fids:?}");
    assert_eq!(ck.meta.records_flat()["fid"], format!("{best:.4}"));
    assert_eq!(checkpoint::read(&t.path().join("g.disc.safetensors"), None).unwrap().meta.epoch, 3);
}

#[test]
fn synth_sample_is_deterministic_and_evaluate_fid_reports() {
    let t = tempfile::tempdir().unwrap();
    let clf = features_clf(t.path());
    let g = t.path().join("g.safetensors");
    gan_train(&g, &["--epochs", "1"]);
    let sample = |name: &str, extra: &[&str]| {
        let out = t.path().join(name);
        run_ok(bin("synth-sample").arg("--generator").arg(&g).args(["-q", "--out"]).arg(&out).args(extra));
        out
    };
    let s1 = sample("s1.safetensors", &["--per-class", "7", "--seed", "1"]);
    let s1b = sample("s1b.safetensors", &["--per-class", "7", "--seed", "1", "--batch-size", "16"]);
    let s2 = sample("s2.safetensors", &["--per-class", "7", "--seed", "2"]);
    let s1c = sample("s1c.safetensors", &["--per-class", "7", "--seed", "1"]);
    assert_eq!(std::fs::read(&s1).unwrap(), std::fs::read(&s1c).unwrap(), "same seed, same bytes");
    assert_ne!(std::fs::read(&s1).unwrap(), std::fs::read(&s2).unwrap());
    let set = image_set::read(&s1).unwrap();
    let set_b = image_set::read(&s1b).unwrap();
    assert_eq!(set.labels, set_b.labels);
    // Another batch size: the same noise per image (pixels agree up to rounding).
    let differ = set.images.iter().zip(&set_b.images).filter(|(a, b)| (**a as i32 - **b as i32).abs() > 1).count();
    assert_eq!(differ, 0);
    assert_eq!(
        (set.meta.dataset.as_str(), set.meta.source.as_str(), set.meta.split.as_str()),
        ("mnist", "synthetic", "train")
    );
    assert_eq!(set.class_histogram(), vec![7; 10]);
    assert_eq!((set.shape.c, set.shape.h, set.shape.w), (1, 28, 28));
    assert_eq!(set.meta.records_flat()["generator_blake3"], hash_file(&g).unwrap());
    let prov = provenance::read(&t.path().join("s1.prov.bin")).unwrap();
    assert!(prov.inputs.iter().any(|i| i.role == "generator" && i.blake3 == hash_file(&g).unwrap()));
    let counts = sample("c.safetensors", &["--class-counts", "0:5,3:2"]);
    assert_eq!(image_set::read(&counts).unwrap().class_histogram(), vec![5, 0, 0, 2, 0, 0, 0, 0, 0, 0]);

    // evaluate --fid: against itself 0; against real MNIST positive, symmetric per the dump.
    let out = run_ok(bin("evaluate").arg("--fid").arg(&s1).arg(&s1).arg("--features").arg(&clf).arg("-q"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("FID 0.000 "), "{text}");
    let json = t.path().join("fid.json");
    let dump = t.path().join("feat.safetensors");
    let out = run_ok(
        bin("evaluate")
            .args(["--fid", "mnist:test"])
            .arg(&s1)
            .arg("--features")
            .arg(&clf)
            .arg("--dump-features")
            .arg(&dump)
            .arg("--out")
            .arg(&json)
            .arg("-q"),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("recognition"), "{text}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let fid = r["fid"].as_f64().unwrap();
    assert!(fid > 1.0, "{r}");
    assert_eq!(r["per_class_fid"].as_array().unwrap().len(), 10);
    assert_eq!(r["generated_images"], 70);
    assert_eq!(r["real_images"], 10000);
    assert_eq!(r["features_blake3"].as_str().unwrap(), hash_file(&clf).unwrap());
    let rec = r["recognition"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rec));
    // numpy recomputes the FID from the dumped features with a general
    // (non-symmetric) eigen-solver on Σ₁Σ₂: an independent route.
    let script = r#"
import sys, json
import numpy as np
from safetensors.numpy import load_file
f = load_file(sys.argv[1])
r, g = f["real"].astype(np.float64), f["generated"].astype(np.float64)
assert r.shape == (10000, 128) and g.shape == (70, 128) and f["real"].dtype == np.float32, (r.shape, g.shape)
assert f["generated_labels"].tolist() == sorted(f["generated_labels"].tolist())
m1, m2 = r.mean(0), g.mean(0)
s1, s2 = np.cov(r, rowvar=False), np.cov(g, rowvar=False)
ev = np.linalg.eigvals(s1 @ s2)
tr = np.sqrt(np.clip(ev.real, 0, None)).sum()
fid = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr
want = float(sys.argv[2])
assert abs(fid - want) <= 1e-6 * max(1.0, want), (fid, want)
print(fid)
"#;
    let res = Command::new("python3").arg("-c").arg(script).arg(&dump).arg(fid.to_string()).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));

    // Refusals: one line, naming the file.
    let e = run_err(
        bin("synth-sample")
            .arg("--generator")
            .arg(&clf)
            .args(["--per-class", "1", "--out"])
            .arg(t.path().join("x.safetensors")),
    );
    assert!(e.contains("clf.safetensors") && e.contains("is a classifier, expected generator"), "{e}");
    let e = run_err(bin("evaluate").arg("--fid").arg(&s1).arg(&s2).arg("--features").arg(&g));
    assert!(e.contains("is a generator, expected classifier"), "{e}");
    let e = run_err(
        bin("synth-sample")
            .arg("--generator")
            .arg(&g)
            .args(["--class-counts", "12:1", "--out"])
            .arg(t.path().join("x.safetensors")),
    );
    assert!(e.contains("class 12"), "{e}");
    // A generator whose first weight is NaN.
    let mut bytes = std::fs::read(&g).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..8 + header + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let bad = t.path().join("nan.safetensors");
    std::fs::write(&bad, bytes).unwrap();
    let e = run_err(
        bin("synth-sample")
            .arg("--generator")
            .arg(&bad)
            .args(["--per-class", "1", "--out"])
            .arg(t.path().join("x.safetensors")),
    );
    assert!(e.contains("nan.safetensors") && e.contains("NaN"), "{e}");
    assert!(!t.path().join("x.safetensors").exists());
}

#[test]
fn dcgan_trains_and_samples() {
    let t = tempfile::tempdir().unwrap();
    let g = t.path().join("dc.safetensors");
    run_ok(
        bin("gan-train")
            .args(["--train", "mnist:train", "--arch", "dcgan", "--epochs", "1", "--limit", "100", "-q", "--out"])
            .arg(&g),
    );
    let ck = checkpoint::read(&g, Some("generator")).unwrap();
    assert_eq!(ck.meta.arch, "dcgan");
    let disc = checkpoint::read(&t.path().join("dc.disc.safetensors"), Some("discriminator")).unwrap();
    assert_eq!(disc.weights["label_emb.embeddings"].0, vec![10, 128], "projection embedding in feature space");
    let s = t.path().join("s.safetensors");
    run_ok(bin("synth-sample").arg("--generator").arg(&g).args(["--per-class", "2", "-q", "--out"]).arg(&s));
    assert_eq!(image_set::read(&s).unwrap().len(), 20);
}

/// `gan-train --arch dcgan --conv-algorithm winograd`: the same seed gives
/// the same bytes, other bits than im2col; the choice is in both
/// checkpoints' config, and a loaded generator (synth-sample's) computes
/// with it. The MLP, which has no conv layers, refuses the flag.
#[test]
fn dcgan_winograd_is_deterministic_recorded_and_used_on_load() {
    use candle_core::{Device, Tensor};
    use synthmix_core::model::gan::{self, GanConfig, Generator};
    use synthmix_core::ops::ConvAlgorithm;

    let t = tempfile::tempdir().unwrap();
    let fit = |name: &str, extra: &[&str]| {
        let g = t.path().join(name);
        run_ok(
            bin("gan-train")
                .args(["--train", "mnist:train", "--arch", "dcgan", "--epochs", "1", "--limit", "100", "-q", "--out"])
                .arg(&g)
                .args(extra),
        );
        g
    };
    let wino = ["--conv-algorithm", "winograd"];
    let (a, b, plain) = (fit("a.safetensors", &wino), fit("b.safetensors", &wino), fit("c.safetensors", &[]));
    let weights = |p: &Path| checkpoint::read(p, Some("generator")).unwrap().weights;
    assert_eq!(weights(&a), weights(&b), "same seed, same bytes");
    assert_ne!(weights(&a), weights(&plain), "winograd rounds differently from im2col");
    for f in ["a.safetensors", "a.disc.safetensors"] {
        let config = checkpoint::read(&t.path().join(f), None).unwrap().meta.config;
        assert!(config.contains(r#""conv":"winograd""#), "{f}: {config}");
    }
    let plain_config = checkpoint::read(&plain, None).unwrap().meta.config;
    assert!(!plain_config.contains(r#""conv":"#), "{plain_config}");

    let (loaded, _, ck) = gan::load_generator(&a, &Device::Cpu).unwrap();
    let im2col = GanConfig { conv: ConvAlgorithm::Im2col, ..serde_json::from_str(&ck.meta.config).unwrap() };
    let (other, varmap, ..) = gan::new_gan(&im2col, 0, &Device::Cpu).unwrap();
    ck.load_into(&a, &varmap).unwrap();
    let z = Tensor::randn(0f32, 1f32, (4, im2col.latent), &Device::Cpu).unwrap();
    let labels = Tensor::new(&[0u8, 3, 5, 9], &Device::Cpu).unwrap();
    let out = |g: &Generator| g.forward(&z, &labels).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (w, i) = (out(&loaded), out(&other));
    assert_ne!(w, i, "the loaded generator ignored its conv algorithm");
    assert!(w.iter().zip(&i).all(|(p, q)| (p - q).abs() <= 1e-4), "tanh outputs differ by more than rounding");

    let e = run_err(
        bin("gan-train")
            .args(["--train", "mnist:train", "--limit", "100", "--conv-algorithm", "winograd", "-q", "--out"])
            .arg(t.path().join("mlp.safetensors")),
    );
    assert!(e.contains("--conv-algorithm") && e.contains("dcgan"), "{e}");
    assert!(!t.path().join("mlp.safetensors").exists());
}

/// The strategies' mechanics in synth-sample: the noise scale σ changes the
/// samples' spread in its direction (σ = 1 is the plain sample, byte for
/// byte), and confidence filtering keeps only images the judge accepts at τ,
/// meets every class's count, records the acceptance and is deterministic.
#[test]
fn latent_scale_and_confidence_filtering() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    let judge = features_clf(t.path());
    let g = p("gen.safetensors");
    gan_train(&g, &["--epochs", "2"]);
    let sample = |out: &str, extra: &[&str]| {
        run_ok(
            bin("synth-sample")
                .arg("--generator")
                .arg(&g)
                .args(["--per-class", "60", "--seed", "4", "-q"])
                .args(extra)
                .arg("--out")
                .arg(p(out)),
        )
    };
    // Mean over classes of the per-pixel variance across a class's images.
    let spread = |out: &str| -> f64 {
        let s = image_set::read(&p(out)).unwrap();
        let px = s.shape.pixels();
        let mut total = 0.0;
        for idx in s.indices_by_class() {
            for j in 0..px {
                let v: Vec<f64> = idx.iter().map(|&i| s.image(i)[j] as f64).collect();
                let m = v.iter().sum::<f64>() / v.len() as f64;
                total += v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
            }
        }
        total
    };
    sample("plain.safetensors", &[]);
    sample("s1.safetensors", &["--latent-scale", "1"]);
    sample("s025.safetensors", &["--latent-scale", "0.25"]);
    sample("s3.safetensors", &["--latent-scale", "3"]);
    assert_eq!(hash_file(&p("plain.safetensors")).unwrap(), hash_file(&p("s1.safetensors")).unwrap());
    let (lo, mid, hi) = (spread("s025.safetensors"), spread("plain.safetensors"), spread("s3.safetensors"));
    assert!(lo < mid && mid < hi, "spread σ=0.25 {lo}, σ=1 {mid}, σ=3 {hi}");
    assert_eq!(image_set::read(&p("s3.safetensors")).unwrap().meta.records_flat()["latent_scale"], "3");

    // τ: high enough that the plain sample does not all pass, low enough that
    // every class of this small generator has many images above it.
    let (clf, _) = synthmix_core::model::load_classifier(&judge, &candle_core::Device::Cpu).unwrap();
    let plain = image_set::read(&p("plain.safetensors")).unwrap();
    let conf = synthmix_core::model::label_confidence(&clf, &plain, 100, &candle_core::Device::Cpu).unwrap();
    // The lowest class median: every class has half its images above it, one class half below.
    let lowest_median = plain
        .indices_by_class()
        .iter()
        .map(|idx| {
            let mut v: Vec<f32> = idx.iter().map(|&i| conf[i]).collect();
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        })
        .fold(1.0f32, f32::min);
    let tau_v = f64::from(lowest_median);
    assert!(conf.iter().any(|&q| f64::from(q) < tau_v), "the plain sample all passes τ: the filter is untested");
    let tau = format!("{tau_v}");
    for out in ["f1.safetensors", "f2.safetensors"] {
        run_ok(
            bin("synth-sample")
                .arg("--generator")
                .arg(&g)
                .args([
                    "--per-class",
                    "20",
                    "--seed",
                    "4",
                    "--batch-size",
                    "64",
                    "--min-confidence",
                    &tau,
                    "-q",
                    "--judge",
                ])
                .arg(&judge)
                .arg("--out")
                .arg(p(out)),
        );
    }
    assert_eq!(hash_file(&p("f1.safetensors")).unwrap(), hash_file(&p("f2.safetensors")).unwrap(), "deterministic");
    let f = image_set::read(&p("f1.safetensors")).unwrap();
    assert_eq!(f.class_histogram(), vec![20; 10]);
    let conf = synthmix_core::model::label_confidence(&clf, &f, 100, &candle_core::Device::Cpu).unwrap();
    assert!(conf.iter().all(|&q| f64::from(q) >= tau_v), "every kept image passes τ {tau_v}: {conf:?}");
    let rates: Vec<f64> = f.meta.records_flat()["acceptance"].split(',').map(|r| r.parse().unwrap()).collect();
    assert_eq!(rates.len(), 10);
    assert!(rates.iter().all(|&r| r > 0.0 && r <= 1.0), "{rates:?}");
    // How the pool was sampled travels into every mix made from it.
    run_ok(
        bin("mix-build")
            .args(["--real", "mnist:train", "--synthetic"])
            .arg(p("f1.safetensors"))
            .args(["--ratio", "1:1", "--total", "100", "-q", "--out"])
            .arg(p("mix.safetensors")),
    );
    let mix = image_set::read(&p("mix.safetensors")).unwrap().meta.records_flat();
    assert_eq!(mix["min_confidence"], f.meta.records_flat()["min_confidence"]);
    assert_eq!(mix["acceptance"], f.meta.records_flat()["acceptance"]);
    // An unreachable threshold is one line naming the class and its acceptance.
    let e = run_err(
        bin("synth-sample")
            .arg("--generator")
            .arg(&g)
            .args(["--per-class", "20", "--min-confidence", "0.999999", "--judge"])
            .arg(&judge)
            .arg("--out")
            .arg(p("none.safetensors")),
    );
    assert!(e.contains("class 0 kept") && e.contains("acceptance") && e.contains("--shortfall fill"), "{e}");
    assert!(!p("none.safetensors").exists());
    // `--shortfall fill` completes each class with its most confident rejects,
    // deterministically, and records how many.
    for out in ["fill1.safetensors", "fill2.safetensors"] {
        run_ok(
            bin("synth-sample")
                .arg("--generator")
                .arg(&g)
                .args(["--per-class", "20", "--min-confidence", "0.999999", "--shortfall", "fill", "-q", "--judge"])
                .arg(&judge)
                .arg("--out")
                .arg(p(out)),
        );
    }
    assert_eq!(hash_file(&p("fill1.safetensors")).unwrap(), hash_file(&p("fill2.safetensors")).unwrap());
    let filled = image_set::read(&p("fill1.safetensors")).unwrap();
    assert_eq!(filled.class_histogram(), vec![20; 10]);
    let counts: Vec<usize> = filled.meta.records_flat()["filled"].split(',').map(|n| n.parse().unwrap()).collect();
    assert_eq!(counts.len(), 10);
    assert!(counts.iter().all(|&n| n <= 20) && counts[0] > 0, "{counts:?}");
    // The fill is the top of 4000 candidates per class, so it beats the plain
    // sample's 90th percentile of that class.
    let fill_conf = synthmix_core::model::label_confidence(&clf, &filled, 100, &candle_core::Device::Cpu).unwrap();
    let plain_conf = synthmix_core::model::label_confidence(&clf, &plain, 100, &candle_core::Device::Cpu).unwrap();
    for (c, idx) in filled.indices_by_class().iter().enumerate() {
        let mut v: Vec<f32> = plain.indices_by_class()[c].iter().map(|&i| plain_conf[i]).collect();
        v.sort_by(f32::total_cmp);
        let p90 = v[v.len() * 9 / 10];
        let worst = idx.iter().map(|&i| fill_conf[i]).fold(1.0f32, f32::min);
        assert!(worst >= p90, "class {c}: a filled image at {worst} is below the plain sample's p90 {p90}");
    }
    // A usage error (clap's, exit 2): --shortfall means nothing without a judge.
    let out = bin("synth-sample")
        .arg("--generator")
        .arg(&g)
        .args(["--per-class", "2", "--shortfall", "fill", "--out"])
        .arg(p("nojudge.safetensors"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--judge"));
    assert!(!p("nojudge.safetensors").exists());
}
