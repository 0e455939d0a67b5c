//! The classifier path end to end on real data subsets: clf-train, evaluate
//! and mix-build as a user runs them.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, ls, run_err, run_ok, run_usage_err};
use synthmix_core::artifact::checkpoint;

fn train(dir: &Path, name: &str, limit: usize, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    run_ok(
        bin("clf-train")
            .args([
                "--train",
                "mnist:train",
                "--epochs",
                "1",
                "--lr",
                "1e-3",
                "-q",
                "--limit",
                &limit.to_string(),
                "--out",
            ])
            .arg(&out)
            .args(extra),
    );
    out
}

#[test]
fn same_seed_same_checkpoint_bytes_and_evaluate_scores_it() {
    let t = tempfile::tempdir().unwrap();
    let a = train(t.path(), "a.safetensors", 1280, &["--seed", "7"]);
    let b = train(t.path(), "b.safetensors", 1280, &["--seed", "7"]);
    let c = train(t.path(), "c.safetensors", 1280, &["--seed", "8"]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "same seed and data must give identical bytes");
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    let csv = std::fs::read_to_string(t.path().join("a.log.csv")).unwrap();
    let csv_b = std::fs::read_to_string(t.path().join("b.log.csv")).unwrap();
    // Loss and accuracy agree; only the timing columns may differ.
    let metrics = |s: &str| s.lines().map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",")).collect::<Vec<_>>();
    assert_eq!(metrics(&csv), metrics(&csv_b));
    assert!(
        csv.starts_with("epoch,train_loss,train_accuracy,val_accuracy,test_accuracy,images_per_s,wall_s\n1,"),
        "{csv}"
    );

    let ck = checkpoint::read(&a, Some("classifier")).unwrap();
    assert_eq!(ck.meta.arch, "simple-cnn");
    assert_eq!(ck.meta.epoch, 1);
    let names: Vec<&str> = ck.weights.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );
    assert_eq!(ck.weights["fc1.weight"].0, vec![128, 1600]);

    let m = t.path().join("metrics.json");
    let out = run_ok(
        bin("evaluate")
            .arg("--classifier")
            .arg(&a)
            .args(["--test", "mnist:test", "mnist-c/shot_noise:test", "-q", "--out"])
            .arg(&m),
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("mnist-c/shot_noise:test"), "{table}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    let res = json["results"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    let acc = res[0]["accuracy"].as_f64().unwrap();
    // 20 Adam steps on 1280 real digits lift accuracy far above chance (0.10);
    // this run gives 0.589 (deterministic, so a change here means a change in training).
    assert!(acc > 0.5, "accuracy {acc}");
    let conf = res[0]["confusion"].as_array().unwrap();
    let total: u64 = conf.iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 10000);
    assert_eq!(res[1]["test_source"], "corrupted");
    assert!(t.path().join("metrics.csv").exists() && t.path().join("metrics.prov.bin").exists());
}

#[test]
fn checkpoint_loads_in_python() {
    let t = tempfile::tempdir().unwrap();
    let a = train(t.path(), "a.safetensors", 64, &[]);
    let script = r#"
import sys, json
from safetensors.numpy import load_file
from safetensors import safe_open
w = load_file(sys.argv[1])
assert w["conv1.weight"].shape == (32, 1, 3, 3) and w["conv1.weight"].dtype.name == "float32", w["conv1.weight"].shape
assert w["fc2.weight"].shape == (10, 128)
with safe_open(sys.argv[1], "np") as f:
    m = f.metadata()
assert m["synthmix.kind"] == "classifier" and m["arch"] == "simple-cnn" and m["epoch"] == "1", m
assert json.loads(m["config"])["arch"] == "simple-cnn"
print("ok")
"#;
    let res = Command::new("python3").arg("-c").arg(script).arg(&a).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

#[test]
fn evaluate_refuses_wrong_shapes_and_nan_weights() {
    let t = tempfile::tempdir().unwrap();
    let a = train(t.path(), "a.safetensors", 64, &[]);
    let ck = checkpoint::read(&a, None).unwrap();
    // Wrong shape: fc2 with 9 outputs under a config that says 10.
    let mut w = ck.weights.clone();
    let (shape, vals) = w.get_mut("fc2.weight").unwrap();
    shape[0] = 9;
    vals.truncate(9 * 128);
    let bad = t.path().join("shape.safetensors");
    std::fs::write(&bad, checkpoint::encode(&w, &ck.meta).unwrap()).unwrap();
    let m = t.path().join("m.json");
    let e = run_err(bin("evaluate").arg("--classifier").arg(&bad).args(["--test", "mnist:test", "--out"]).arg(&m));
    assert!(
        e.contains("shape.safetensors")
            && e.contains("'fc2.weight' has shape [9, 128], arch simple-cnn needs [10, 128]"),
        "{e}"
    );
    // NaN weights.
    let mut bytes = std::fs::read(&a).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan = t.path().join("nan.safetensors");
    std::fs::write(&nan, &bytes).unwrap();
    let e = run_err(bin("evaluate").arg("--classifier").arg(&nan).args(["--test", "mnist:test", "--out"]).arg(&m));
    assert!(e.contains("nan.safetensors") && e.contains("NaN or infinite"), "{e}");
    // An image set is not a classifier.
    let set = t.path().join("set.safetensors");
    run_ok(bin("synthmix").args(["data", "export", "mnist:test", "--out"]).arg(&set));
    let e = run_err(bin("evaluate").arg("--classifier").arg(&set).args(["--test", "mnist:test", "--out"]).arg(&m));
    assert!(e.contains("set.safetensors") && e.contains("is a image-set, expected classifier"), "{e}");
    assert!(!m.exists(), "no metrics file may appear");
}

#[test]
fn mix_build_cli_writes_counts_and_refuses_too_small_sources() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("mix.safetensors");
    let o = run_ok(
        bin("mix-build")
            .args([
                "--real",
                "mnist:test",
                "--synthetic",
                "fashion-mnist:test",
                "--ratio",
                "5:1",
                "--total",
                "6000",
                "-q",
                "--out",
            ])
            .arg(&out),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("6000 images (5000 real, 1000 synthetic) at 5:1"));
    let prov = run_ok(bin("synthmix").arg("show").arg(t.path().join("mix.prov.bin")));
    let j: serde_json::Value = serde_json::from_slice(&prov.stdout).unwrap();
    assert_eq!(j["indices"]["real"]["count"], 5000);
    assert_eq!(j["indices"]["synthetic"]["count"], 1000);
    assert_eq!(j["indices"]["source"]["count"], 6000);
    let bad = t.path().join("bad.safetensors");
    let e = run_err(
        bin("mix-build")
            .args(["--real", "mnist:test", "--synthetic", "fashion-mnist:test", "--ratio", "0:1", "--out"])
            .arg(&bad),
    );
    assert!(
        e.contains("needs") && e.contains("synthetic images of class 1 (1) but the synthetic set has only 1000"),
        "{e}"
    );
    assert_eq!(ls(t.path()), vec!["mix.config.json", "mix.prov.bin", "mix.safetensors"]);
}

#[test]
fn deep_cnn_runs_on_padded_fashion_mnist_and_on_cifar10_layout() {
    let t = tempfile::tempdir().unwrap();
    // Fashion-MNIST 1x28x28 is fitted to the Deep CNN's 3x32x32.
    let out = t.path().join("deep.safetensors");
    run_ok(
        bin("clf-train")
            .args([
                "--train",
                "fashion-mnist:train",
                "--arch",
                "deep-cnn",
                "--limit",
                "128",
                "--epochs",
                "1",
                "-q",
                "--out",
            ])
            .arg(&out),
    );
    let ck = checkpoint::read(&out, None).unwrap();
    assert_eq!(ck.weights["block1.conv1.weight"].0, vec![32, 3, 3, 3]);
    assert_eq!(ck.weights["fc1.weight"].0, vec![128, 2048]);
    // CIFAR-10 files in the real layout, written here (the real files are not available).
    let data = t.path().join("data/cifar-10/cifar-10-batches-bin");
    std::fs::create_dir_all(&data).unwrap();
    for (b, name) in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
        .iter()
        .enumerate()
    {
        let n = 20;
        let images: Vec<u8> = (0..n * 3072).map(|i| ((i * 31 + b * 7) % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        std::fs::write(data.join(format!("{name}.bin")), synthmix_core::data::cifar::encode_batch(&images, &labels))
            .unwrap();
    }
    let cout = t.path().join("cifar.safetensors");
    run_ok(
        bin("clf-train")
            .arg("--data-dir")
            .arg(t.path().join("data"))
            .args(["--train", "cifar-10:train", "--arch", "deep-cnn", "--epochs", "1", "-q", "--out"])
            .arg(&cout),
    );
    let m = t.path().join("m.json");
    run_ok(
        bin("evaluate")
            .arg("--data-dir")
            .arg(t.path().join("data"))
            .arg("--classifier")
            .arg(&cout)
            .args(["--test", "cifar-10:test", "-q", "--out"])
            .arg(&m),
    );
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    assert_eq!(j["results"][0]["images"], 20);
}

/// The regimes study's options by hand: a step subset, filled to balance or
/// mixed with every real image kept; clf-train's rebalancing and budget.
#[test]
fn subsets_fill_all_real_rebalance_and_budget() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    let o = run_ok(
        bin("mix-build")
            .args(["--real", "mnist:test", "--subset", "step:0.1:0,1", "-q", "--out"])
            .arg(p("step.safetensors")),
    );
    // MNIST test's smallest class (5) has 892 images: classes 0 and 1 keep 89.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("per class [89, 89, 892, 892, 892, 892, 892, 892, 892, 892]"),
        "{o:?}"
    );
    let step = synthmix_core::artifact::image_set::read(&p("step.safetensors")).unwrap();
    assert_eq!(step.meta.records_flat()["subset"], "step:0.1:0,1");
    assert_eq!(step.meta.records_flat()["minority_classes"], "0,1");

    let o = run_ok(
        bin("mix-build")
            .arg("--real")
            .arg(p("step.safetensors"))
            .args(["--synthetic", "fashion-mnist:test", "--fill", "-q", "--out"])
            .arg(p("fill.safetensors")),
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("8920 images (7314 real, 1606 synthetic) filled to balance"),
        "{o:?}"
    );
    let fill = synthmix_core::artifact::image_set::read(&p("fill.safetensors")).unwrap();
    assert_eq!(fill.class_histogram(), vec![892; 10]);
    assert_eq!(fill.meta.records_flat()["subset"], "step:0.1:0,1", "the rule travels with the mix");

    let o = run_ok(
        bin("mix-build")
            .arg("--real")
            .arg(p("step.safetensors"))
            .args(["--synthetic", "fashion-mnist:train", "--ratio", "1:2", "--all-real", "-q", "--out"])
            .arg(p("x2.safetensors")),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("21942 images (7314 real, 14628 synthetic)"), "{o:?}");
    let e = run_err(
        bin("mix-build")
            .arg("--real")
            .arg(p("step.safetensors"))
            .args(["--synthetic", "fashion-mnist:test", "--ratio", "0:1", "--all-real", "--out"])
            .arg(p("bad.safetensors")),
    );
    assert!(e.contains("--all-real needs real images in the ratio"), "{e}");
    assert!(!p("bad.safetensors").exists());

    for (rebalance, budget) in [("oversample", "1000"), ("class-weight", "700")] {
        let out = p(&format!("clf-{rebalance}.safetensors"));
        run_ok(
            bin("clf-train")
                .arg("--train")
                .arg(p("step.safetensors"))
                .args(["--rebalance", rebalance, "--budget", budget, "--lr", "1e-3", "-q", "--out"])
                .arg(&out),
        );
        let ck = checkpoint::read(&out, Some("classifier")).unwrap();
        assert_eq!(ck.meta.records_flat()["rebalance"], rebalance);
        let prov = run_ok(bin("synthmix").arg("show").arg(out.with_extension("prov.bin")));
        let j: serde_json::Value = serde_json::from_slice(&prov.stdout).unwrap();
        assert_eq!(j["metrics"]["images_seen"].as_f64(), Some(budget.parse().unwrap()), "{j}");
        assert_eq!(j["metrics"]["epochs"].as_f64(), Some(1.0));
    }
}

/// Two-stage training: `--init` starts from the checkpoint's weights (a tiny
/// learning rate leaves them where they were, unlike a fresh start), and a
/// checkpoint of another kind or shape is refused by name.
#[test]
fn init_starts_from_the_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let first = train(t.path(), "first.safetensors", 640, &[]);
    let tiny_lr = |name: &str, extra: &[&str]| {
        let out = t.path().join(name);
        run_ok(
            bin("clf-train")
                .args(["--train", "mnist:train", "--epochs", "1", "--lr", "1e-9", "-q", "--limit", "640", "--out"])
                .arg(&out)
                .args(extra),
        );
        out
    };
    let second = tiny_lr("second.safetensors", &["--init", first.to_str().unwrap()]);
    let fresh = tiny_lr("fresh.safetensors", &[]);
    let w = |p: &Path| checkpoint::read(p, Some("classifier")).unwrap().weights;
    let max_diff = |a: &checkpoint::Weights, b: &checkpoint::Weights| {
        a.iter().flat_map(|(k, (_, v))| v.iter().zip(&b[k].1).map(|(x, y)| (x - y).abs())).fold(0.0f32, f32::max)
    };
    let (w1, w2, w0) = (w(&first), w(&second), w(&fresh));
    assert!(max_diff(&w1, &w2) < 1e-4, "--init kept the weights: {}", max_diff(&w1, &w2));
    assert!(max_diff(&w1, &w0) > 1e-2, "a fresh start differs: {}", max_diff(&w1, &w0));
    assert_eq!(checkpoint::read(&second, None).unwrap().meta.records_flat()["init"], first.display().to_string());
    // Another architecture, or a file that is no classifier checkpoint: refused by name.
    let refuse = |init: &str, arch: &str| {
        run_err(
            bin("clf-train")
                .args(["--train", "mnist:test", "--epochs", "1", "--limit", "100", "--arch", arch, "--init"])
                .arg(t.path().join(init))
                .arg("--out")
                .arg(t.path().join("bad.safetensors")),
        )
    };
    let e = refuse("first.safetensors", "deep-cnn");
    assert!(e.contains("first.safetensors") && e.contains("simple-cnn") && e.contains("deep-cnn"), "{e}");
    let e = refuse("first.log.csv", "simple-cnn");
    assert!(e.contains("first.log.csv"), "{e}");
    assert!(!t.path().join("bad.safetensors").exists());
}

/// Down-weighting: at `--synthetic-weight 0` the synthetic items of a marked
/// mix contribute nothing — replacing their images and labels leaves the
/// trained weights bit for bit the same, while at weight 1 it does not.
#[test]
fn zero_weight_on_synthetic_items_ignores_them() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    run_ok(
        bin("mix-build")
            .args(["--real", "mnist:train", "--synthetic", "fashion-mnist:train", "--ratio", "1:1", "--total", "400"])
            .args(["--mark-synthetic", "-q", "--out"])
            .arg(p("a.safetensors")),
    );
    let a = synthmix_core::artifact::image_set::read(&p("a.safetensors")).unwrap();
    let flags = synthmix_core::artifact::image_set::read_synthetic_flags(&p("a.safetensors")).unwrap().unwrap();
    assert_eq!(flags.iter().filter(|&&f| f == 1).count(), 200);
    // B: the same real items; every synthetic item blanked and relabelled.
    let mut b = a.clone();
    let px = b.shape.pixels();
    for (i, &f) in flags.iter().enumerate() {
        if f == 1 {
            b.images[i * px..(i + 1) * px].fill(0);
            b.labels[i] = (b.labels[i] + 1) % 10;
        }
    }
    std::fs::write(p("b.safetensors"), synthmix_core::artifact::image_set::encode_marked(&b, Some(&flags)).unwrap())
        .unwrap();
    let fit = |set: &str, w: &str| {
        let out = p(&format!("clf-{set}-{w}.safetensors"));
        run_ok(
            bin("clf-train")
                .arg("--train")
                .arg(p(&format!("{set}.safetensors")))
                .args(["--epochs", "1", "--lr", "1e-3", "--synthetic-weight", w, "-q", "--out"])
                .arg(&out),
        );
        checkpoint::read(&out, Some("classifier")).unwrap().weights
    };
    assert_eq!(fit("a", "0"), fit("b", "0"), "weight 0: the synthetic items change nothing");
    assert_ne!(fit("a", "1"), fit("b", "1"), "weight 1: they do");
    let meta = checkpoint::read(&p("clf-a-1.safetensors"), None).unwrap().meta.records_flat();
    assert_eq!(meta["synthetic_weight"], "1", "the strategy is recorded in the checkpoint");
    let e = run_err(
        bin("clf-train")
            .args(["--train", "mnist:test", "--limit", "100", "--synthetic-weight", "0.5", "--out"])
            .arg(p("bad.safetensors")),
    );
    assert!(e.contains("--mark-synthetic"), "{e}");
}

/// Dataset recycling: the same seed gives the same bytes, and the fresh
/// synthetic images change what is learnt.
#[test]
fn recycling_is_deterministic_and_changes_training() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    run_ok(
        bin("mix-build")
            .args(["--real", "mnist:train", "--synthetic", "fashion-mnist:test", "--ratio", "1:1", "--total", "400"])
            .args(["--mark-synthetic", "-q", "--out"])
            .arg(p("mix.safetensors")),
    );
    let fit = |name: &str, extra: &[&str]| {
        let out = p(name);
        run_ok(
            bin("clf-train")
                .arg("--train")
                .arg(p("mix.safetensors"))
                .args(["--epochs", "3", "--lr", "1e-3", "-q"])
                .args(extra)
                .arg("--out")
                .arg(&out),
        );
        checkpoint::read(&out, Some("classifier")).unwrap().weights
    };
    let recycle = ["--recycle", "fashion-mnist:train", "--recycle-every", "1"];
    let (a, b) = (fit("a.safetensors", &recycle), fit("b.safetensors", &recycle));
    assert_eq!(a, b, "same seed, same bytes");
    let meta = checkpoint::read(&p("a.safetensors"), None).unwrap().meta.records_flat();
    assert_eq!((meta["recycle"].as_str(), meta["recycle_every"].as_str()), ("fashion-mnist:train", "1"));
    assert_ne!(a, fit("plain.safetensors", &[]), "fresh images change training");
}

/// `--conv-algorithm winograd`: the same seed gives the same bytes, the
/// choice is recorded in the checkpoint's model config (a default run's
/// config is written as before, without the key), and a loaded model
/// computes with it: its logits are other bits than the same weights under
/// im2col, equal to rounding.
#[test]
fn winograd_is_deterministic_recorded_and_used_on_load() {
    use candle_core::{Device, Tensor};
    use synthmix_core::model::{self, ClassifierConfig};
    use synthmix_core::ops::ConvAlgorithm;

    let t = tempfile::tempdir().unwrap();
    let fit = |name: &str, extra: &[&str]| {
        let out = t.path().join(name);
        run_ok(
            bin("clf-train")
                .args(["--train", "fashion-mnist:train", "--arch", "deep-cnn", "--limit", "192", "--epochs", "1"])
                .args(["-q", "--out"])
                .arg(&out)
                .args(extra),
        );
        out
    };
    let wino = ["--conv-algorithm", "winograd"];
    let (a, b, plain) = (fit("a.safetensors", &wino), fit("b.safetensors", &wino), fit("c.safetensors", &[]));
    assert_eq!(weights(&a), weights(&b), "same seed, same bytes");
    assert_ne!(weights(&a), weights(&plain), "winograd rounds differently from im2col");
    assert!(config(&a).contains(r#""conv":"winograd""#), "{}", config(&a));
    assert!(!config(&plain).contains(r#""conv":"#), "{}", config(&plain));

    let (loaded, ck) = model::load_classifier(&a, &Device::Cpu).unwrap();
    let im2col = ClassifierConfig { conv: ConvAlgorithm::Im2col, ..serde_json::from_str(&ck.meta.config).unwrap() };
    let (other, varmap) = model::new_classifier(&im2col, 0, &Device::Cpu).unwrap();
    ck.load_into(&a, &varmap).unwrap();
    let x = Tensor::rand(0f32, 1f32, (4, 3, 32, 32), &Device::Cpu).unwrap();
    let logits = |m: &model::Classifier| m.forward(&x, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (w, i) = (logits(&loaded), logits(&other));
    assert_ne!(w, i, "the loaded model ignored its conv algorithm");
    let scale = i.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(w.iter().zip(&i).all(|(p, q)| (p - q).abs() <= 1e-4 * scale), "{w:?} vs {i:?}");
}

/// A one-epoch `clf-train` of `arch` on 128 Fashion-MNIST images with
/// `extra` flags, into `dir/name`: the output path and the command.
fn small_fit(dir: &Path, name: &str, arch: &str, extra: &[&str]) -> (PathBuf, Command) {
    let out = dir.join(name);
    let mut c = bin("clf-train");
    c.args(["--train", "fashion-mnist:train", "--arch", arch, "--limit", "128", "--epochs", "1", "-q", "--out"])
        .arg(&out)
        .args(extra);
    (out, c)
}

/// A classifier checkpoint's tensors by name.
fn weights(p: &Path) -> checkpoint::Weights {
    checkpoint::read(p, Some("classifier")).unwrap().weights
}

/// A checkpoint's model config (JSON text).
fn config(p: &Path) -> String {
    checkpoint::read(p, None).unwrap().meta.config
}

/// `--dropout-conv/--dropout-head` replace the architecture's rates (0.2,
/// 0.5 for the deep CNN), are recorded in the checkpoint's config and change
/// training; rates outside [0, 1), or conv dropout on the simple CNN (which
/// has none), are refused in one line before any work.
#[test]
fn dropout_rates_are_flags_recorded_in_the_config() {
    let t = tempfile::tempdir().unwrap();
    let fit = |name: &str, arch: &str, extra: &[&str]| small_fit(t.path(), name, arch, extra);
    let (plain, mut c) = fit("plain.safetensors", "deep-cnn", &[]);
    run_ok(&mut c);
    assert!(config(&plain).contains(r#""dropout_conv":0.2,"dropout_head":0.5"#), "{}", config(&plain));
    let (none, mut c) = fit("none.safetensors", "deep-cnn", &["--dropout-conv", "0", "--dropout-head", "0"]);
    run_ok(&mut c);
    assert!(config(&none).contains(r#""dropout_conv":0.0,"dropout_head":0.0"#), "{}", config(&none));
    assert_ne!(weights(&plain), weights(&none), "the rates did not reach training");
    let (simple, mut c) = fit("simple.safetensors", "simple-cnn", &["--dropout-head", "0.25"]);
    run_ok(&mut c);
    assert!(config(&simple).contains(r#""dropout_head":0.25"#), "{}", config(&simple));

    // Out of range: clap's usage error; conv dropout on the simple CNN: our one line.
    for (flags, says) in
        [(["--dropout-head", "1"], "--dropout-head"), (["--dropout-conv=-0.1", "--seed=0"], "--dropout-conv")]
    {
        let (out, mut c) = fit("refused.safetensors", "deep-cnn", &flags);
        let e = run_usage_err(&mut c);
        assert!(e.contains(says) && e.contains("below 1"), "{flags:?}: {e}");
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    }
    let (out, mut c) = fit("refused.safetensors", "simple-cnn", &["--dropout-conv", "0.1"]);
    let e = run_err(&mut c);
    assert!(e.contains("--dropout-conv: simple-cnn has no dropout after its convs"), "{e}");
    assert!(!out.exists(), "wrote {}", out.display());
}

/// `--convs-per-block 1` builds the deep CNN with one conv per block: it is
/// recorded in the config (absent at the default 2, so earlier checkpoints
/// keep their bytes), the checkpoint has no second convs and evaluate
/// rebuilds it; the simple CNN, 0 and 5 are refused in one line.
#[test]
fn convs_per_block_is_a_flag_recorded_in_the_config() {
    let t = tempfile::tempdir().unwrap();
    let fit = |name: &str, arch: &str, extra: &[&str]| small_fit(t.path(), name, arch, extra);
    let (two, mut c) = fit("two.safetensors", "deep-cnn", &[]);
    run_ok(&mut c);
    let (one, mut c) = fit("one.safetensors", "deep-cnn", &["--convs-per-block", "1"]);
    run_ok(&mut c);
    assert!(!config(&two).contains("convs_per_block"), "{}", config(&two));
    assert!(config(&one).contains(r#""convs_per_block":1"#), "{}", config(&one));
    let names = |p: &Path| checkpoint::read(p, Some("classifier")).unwrap().weights.into_keys().collect::<Vec<_>>();
    assert!(names(&two).contains(&"block3.conv2.weight".to_string()), "{:?}", names(&two));
    assert!(!names(&one).iter().any(|n| n.contains("conv2")), "{:?}", names(&one));
    let metrics = t.path().join("one.json");
    run_ok(
        bin("evaluate")
            .arg("--classifier")
            .arg(&one)
            .args(["--test", "fashion-mnist:test", "-q", "--out"])
            .arg(&metrics),
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    let conf = json["results"][0]["confusion"].as_array().unwrap();
    let total: u64 = conf.iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 10000, "evaluate did not score every test image with the one-conv model");

    for n in ["0", "5"] {
        let (out, mut c) = fit("refused.safetensors", "deep-cnn", &["--convs-per-block", n]);
        let e = run_usage_err(&mut c);
        assert!(e.contains("--convs-per-block"), "{n}: {e}");
        assert!(!out.exists(), "{n} wrote {}", out.display());
    }
    let (out, mut c) = fit("refused.safetensors", "simple-cnn", &["--convs-per-block", "1"]);
    let e = run_err(&mut c);
    assert!(e.contains("--convs-per-block: simple-cnn has no conv blocks"), "{e}");
    assert!(!out.exists(), "wrote {}", out.display());
}

/// `clf-train --resume` after a kill ends with the uninterrupted run's
/// checkpoint bytes (weights, Adam moments and dropout streams restored);
/// a resume with other settings is refused in one line and keeps the state.
#[test]
fn a_killed_run_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = |out: &Path, seed: &str| -> Vec<String> {
        ["--train", "mnist:train", "--limit", "200", "--epochs", "40", "--lr", "1e-3", "--seed", seed, "-q", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([out.display().to_string()])
            .collect()
    };
    let reference = d.join("ref.safetensors");
    run_ok(bin("clf-train").args(args(&reference, "3")));
    assert!(!d.join("ref.resume.safetensors").exists(), "a finished run leaves no resume state");

    let out = d.join("b.safetensors");
    let state = d.join("b.resume.safetensors");
    let mut child = bin("clf-train").args(args(&out, "3")).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !state.is_file() {
        assert!(t0.elapsed().as_secs() < 120, "no resume state after an epoch");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(std::fs::read(&out).ok(), std::fs::read(&reference).ok(), "killed before the end");

    let e = run_err(bin("clf-train").args(args(&out, "4")).arg("--resume"));
    assert!(e.contains("cannot --resume") && e.contains("seed"), "{e}");
    assert!(state.is_file(), "a refused resume keeps the state");

    run_ok(bin("clf-train").args(args(&out, "3")).arg("--resume"));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&reference).unwrap(), "resumed checkpoint differs");
    assert!(!state.exists());
    let log = std::fs::read_to_string(d.join("b.log.csv")).unwrap();
    let epochs: Vec<&str> = log.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(epochs, (1..=40).map(|e| e.to_string()).collect::<Vec<_>>(), "one log row per epoch");
}
