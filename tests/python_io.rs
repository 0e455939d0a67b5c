//! The Python package `python/` (synthmix_io) against ours: tiny models are
//! trained by the stages on real MNIST, synthmix-core computes their logits
//! and generator images (the reference), and pytest runs
//! `python/test_synthmix_io.py` on them: Python reads the same image sets and
//! its PyTorch models give the same outputs (logits and a diffusion U-Net's
//! predicted noise within 1e-5, pixels within 1 grey level). The interpreter is env `SYNTHMIX_PYTHON` (default
//! `python3`). Without numpy, safetensors or pytest the test says SKIP and
//! why; without torch the model checks say SKIP. With
//! `SYNTHMIX_REQUIRE_TORCH=1` (set by .ci/run once it has installed them)
//! nothing may skip: a missing package or a skipped check fails.

use crate::common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor};
use common::pytorch::python;
use common::{bin, run_ok, shared_data};
use synthmix_core::artifact::image_set;
use synthmix_core::data::{self, DataOptions, ImageSet};
use synthmix_core::model::{self, gan, unet};
use synthmix_core::rng;

/// Writes past the test harness's capture, so a skip is never silent.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether every Python check must run (CI installs numpy, safetensors,
/// pytest, torch and the package itself).
fn required() -> bool {
    std::env::var_os("SYNTHMIX_REQUIRE_TORCH").is_some_and(|v| v == "1")
}

/// Says SKIP and why, or fails when nothing may skip.
fn skip(why: &str) {
    assert!(!required(), "SYNTHMIX_REQUIRE_TORCH=1, but {why}");
    say(&format!("SKIP {why}"));
}

/// Why the interpreter cannot run the Python side, if it cannot.
fn missing_python_packages(python: &str) -> Option<String> {
    match Command::new(python).args(["-c", "import numpy, safetensors, pytest"]).output() {
        Err(e) => Some(format!("{python} not runnable ({e})")),
        Ok(o) if !o.status.success() => {
            let why = String::from_utf8_lossy(&o.stderr);
            Some(format!(
                "{python} lacks numpy, safetensors or pytest ({})",
                why.lines().last().unwrap_or("import failed")
            ))
        }
        Ok(_) => None,
    }
}

/// Runs a stage quietly in `dir` (so files are named relative to it).
fn stage(dir: &Path, name: &str, args: &[&str]) {
    run_ok(bin(name).current_dir(dir).args(args).args(["--seed", "0", "-q"]));
}

/// Tiny models, a synthetic set and a marked mix from the stages, on real MNIST.
fn make_artifacts(d: &Path) {
    let train = ["--train", "mnist:train"];
    // Trained enough for logits of a trained model's size, not an initial one's.
    let simple = ["--epochs", "3", "--lr", "3e-3", "--limit", "600", "--out", "clf-simple-cnn.safetensors"];
    stage(d, "clf-train", &[&train[..], &simple].concat());
    let deep = ["--arch", "deep-cnn", "--epochs", "5", "--batch-size", "32", "--limit", "400"];
    stage(d, "clf-train", &[&train[..], &deep, &["--out", "clf-deep-cnn.safetensors"]].concat());
    let one_conv = ["--convs-per-block", "1", "--out", "clf-deep-cnn-1conv.safetensors"];
    stage(d, "clf-train", &[&train[..], &deep, &one_conv].concat());
    let gan = ["--epochs", "1", "--limit", "200", "--on-collapse", "warn"];
    stage(d, "gan-train", &[&train[..], &gan, &["--out", "gen-mlp.safetensors"]].concat());
    stage(d, "gan-train", &[&train[..], &gan, &["--arch", "dcgan", "--out", "gen-dcgan.safetensors"]].concat());
    // A small U-Net with two blocks per level and attention (every part's names and order).
    let dpm = ["--epochs", "1", "--limit", "64", "--batch-size", "16", "--channels", "8", "--channel-mults", "1,2"];
    let dpm_rest = ["--groups", "4", "--res-blocks", "2", "--sample-steps", "2", "--out", "gen-unet.safetensors"];
    stage(d, "dpm-train", &[&train[..], &dpm, &dpm_rest].concat());
    stage(
        d,
        "synth-sample",
        &["--generator", "gen-mlp.safetensors", "--per-class", "10", "--out", "synth.safetensors"],
    );
    let mix = ["--real", "mnist:test", "--synthetic", "synth.safetensors", "--ratio", "1:1", "--total", "100"];
    stage(d, "mix-build", &[&mix[..], &["--mark-synthetic", "--out", "mix.safetensors"]].concat());
}

/// The first `n` images of `set`, as a set of their own.
fn head(set: &ImageSet, n: usize) -> ImageSet {
    let px = set.shape.pixels();
    ImageSet::new(
        Path::new("head"),
        set.images[..n * px].to_vec(),
        set.labels[..n].to_vec(),
        set.shape,
        set.num_classes,
        set.meta.clone(),
    )
    .unwrap()
}

/// Our logits `[N, classes]` for every image of `set` (inference mode, the
/// set fitted to the model's input as evaluate does).
fn logits(clf: &Path, set: &ImageSet) -> Tensor {
    let (model, _) = model::load_classifier(clf, &Device::Cpu).unwrap();
    let fitted = data::fit_to_shape(set, model.config.input).unwrap();
    let idx: Vec<usize> = (0..fitted.len()).collect();
    let parts: Vec<Tensor> = idx
        .chunks(250)
        .map(|c| model.forward(&data::batch_tensor(&fitted, c, &Device::Cpu).unwrap(), false).unwrap())
        .collect();
    Tensor::cat(&parts, 0).unwrap()
}

/// Noise, labels, images in [-1, 1] and their pixels from our generator, under `tag.*`.
fn generated(gen: &Path, tag: &str, out: &mut HashMap<String, Tensor>) {
    let dev = Device::Cpu;
    let (g, _, _) = gan::load_generator(gen, &dev).unwrap();
    let labels: Vec<u8> = (0..100).map(|i| (i % g.config.num_classes) as u8).collect();
    let z = gan::noise(&mut rng::stream(7, "python-io"), labels.len(), g.config.latent, &dev).unwrap();
    let y = gan::label_tensor(&labels, &dev).unwrap();
    let x = g.forward(&z, &y).unwrap();
    let pixels = Tensor::from_vec(gan::to_pixels(&x).unwrap(), x.dims(), &dev).unwrap();
    for (name, t) in [("z", z), ("labels", y), ("images", x), ("pixels", pixels)] {
        out.insert(format!("{tag}.{name}"), t);
    }
}

/// Noisy images x_t, timesteps (0 to 999), labels (the null class among
/// them) and our U-Net's predicted noise for them, under `unet.*`.
fn unet_eps(gen: &Path, out: &mut HashMap<String, Tensor>) {
    let dev = Device::Cpu;
    let (net, _, _) = unet::load_unet(gen, &dev).unwrap();
    let (k, img) = (net.config.num_classes, net.config.image);
    let n = 3 * (k + 1);
    let labels: Vec<u8> = (0..n).map(|i| (i % (k + 1)) as u8).collect();
    let ts: Vec<usize> = (0..n).map(|i| i * 999 / (n - 1)).collect();
    let x = gan::noise(&mut rng::stream(7, "python-io/unet"), n, img.pixels(), &dev).unwrap();
    let x = x.reshape((n, img.c, img.h, img.w)).unwrap();
    let y = gan::label_tensor(&labels, &dev).unwrap();
    let eps = net.forward(&x, &ts, &y).unwrap();
    let t = Tensor::from_vec(ts.iter().map(|&t| t as u32).collect::<Vec<u32>>(), n, &dev).unwrap();
    for (name, v) in [("x", x), ("t", t), ("labels", y), ("eps", eps)] {
        out.insert(format!("unet.{name}"), v);
    }
}

/// The image set as our reader sees it, under `tag.*`, and its metadata as JSON.
fn read_back(set_path: &Path, tag: &str, out: &mut HashMap<String, Tensor>, dir: &Path) {
    let set = image_set::read(set_path).unwrap();
    let (c, h, w) = (set.shape.c, set.shape.h, set.shape.w);
    let dev = Device::Cpu;
    out.insert(format!("{tag}.images"), Tensor::from_vec(set.images.clone(), (set.len(), c, h, w), &dev).unwrap());
    out.insert(format!("{tag}.labels"), Tensor::from_vec(set.labels.clone(), set.len(), &dev).unwrap());
    if let Some(flags) = image_set::read_synthetic_flags(set_path).unwrap() {
        out.insert(format!("{tag}.synthetic"), Tensor::from_vec(flags, set.len(), &dev).unwrap());
    }
    let flat = set.meta.to_flat(set.num_classes);
    std::fs::write(dir.join(format!("{tag}.meta.json")), serde_json::to_string(&flat).unwrap()).unwrap();
}

/// What synthmix-core reads and computes, in `reference.safetensors` (and
/// the sets' metadata in `TAG.meta.json`): logits on the first 1000 MNIST
/// test images, generator outputs for fixed noise and the U-Net's noise
/// prediction.
fn write_reference(d: &Path) {
    let test = data::load_set("mnist:test", &DataOptions::new(shared_data())).unwrap();
    image_set::write(&d.join("test1000.safetensors"), &head(&test, 1000)).unwrap();
    let test1000 = image_set::read(&d.join("test1000.safetensors")).unwrap();
    let mut reference = HashMap::new();
    for arch in ["simple-cnn", "deep-cnn", "deep-cnn-1conv"] {
        reference.insert(format!("logits.{arch}"), logits(&d.join(format!("clf-{arch}.safetensors")), &test1000));
    }
    for arch in ["mlp", "dcgan"] {
        generated(&d.join(format!("gen-{arch}.safetensors")), arch, &mut reference);
    }
    unet_eps(&d.join("gen-unet.safetensors"), &mut reference);
    for tag in ["mix", "test1000"] {
        read_back(&d.join(format!("{tag}.safetensors")), tag, &mut reference, d);
    }
    candle_core::safetensors::save(&reference, d.join("reference.safetensors")).unwrap();
}

#[test]
fn python_reads_our_artifacts_and_its_models_match_ours() {
    let python = python();
    if let Some(why) = missing_python_packages(&python) {
        return skip(&format!("python_io: {why}; pip install ./python pytest (and torch for the model checks)"));
    }
    let started = std::time::Instant::now();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_artifacts(d);
    write_reference(d);
    say(&format!("python_io: models and reference in {:.0} s", started.elapsed().as_secs_f64()));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // -s: the checks' own lines (max |logit diff| …); no cache or
    // __pycache__ written into the source tree.
    let out = Command::new(&python)
        .args(["-m", "pytest", "-v", "-s", "-rs", "-p", "no:cacheprovider"])
        .arg(root.join("python"))
        .env("SYNTHMIX_IO_DIR", d)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(d)
        .output()
        .expect("the interpreter ran a moment ago");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours =
        |l: &&str| l.contains("max |") || l.contains("SKIP") || l.starts_with("SKIPPED") || l.starts_with("FAILED");
    for line in stdout.lines().filter(ours) {
        say(&format!("python_io: {line}"));
    }
    // pytest's closing line: "===== 9 passed in 3.1s =====", "7 passed, 2 skipped in …".
    let summary =
        stdout.lines().rev().find(|l| l.starts_with('=') && l.contains(" in ")).unwrap_or("").trim_matches([' ', '=']);
    say(&format!("python_io: pytest: {summary}; {:.0} s in all", started.elapsed().as_secs_f64()));
    assert!(out.status.success(), "Python checks failed:\n{stdout}\n{stderr}");
    let count = |what: &str| -> usize {
        let n = |part: &str| {
            let mut w = part.split_whitespace();
            let n = w.next()?.parse::<usize>().ok()?;
            (w.next()? == what).then_some(n)
        };
        summary.split(", ").filter_map(n).sum()
    };
    let (passed, skipped) = (count("passed"), count("skipped"));
    assert_eq!(passed + skipped, 10, "{summary}");
    if skipped > 0 {
        assert!(stdout.contains("SKIP torch not installed"), "only the torch checks may skip: {stdout}");
        skip(&format!("python_io: {skipped} model checks (torch not installed)"));
    } else {
        let all = ["max |logit diff|", "max grey-level diff", "max |eps diff|"];
        assert!(all.iter().all(|s| stdout.contains(s)), "{stdout}");
    }
}

/// `pip install ./python`: importable from any folder as `synthmix_io`, and
/// the installed module is this checkout's file. Without an installed package
/// it says SKIP (CI installs it).
#[test]
fn the_installed_package_is_this_checkouts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pyproject = std::fs::read_to_string(root.join("python/pyproject.toml")).unwrap();
    let version = format!("version = \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(pyproject.lines().any(|l| l == version), "python/pyproject.toml must say {version}, as Cargo.toml");
    let python = python();
    let away = tempfile::tempdir().unwrap();
    let script =
        "import importlib.metadata as m, synthmix_io; print(m.version('synthmix-io')); print(synthmix_io.__file__)";
    let out = match Command::new(&python)
        .args(["-c", script])
        .current_dir(away.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
    {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            return skip(&format!(
                "python_io: synthmix_io not installed ({}); pip install ./python",
                why.lines().last().unwrap_or("")
            ));
        }
        Err(e) => return skip(&format!("python_io: {python} not runnable ({e})")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(env!("CARGO_PKG_VERSION")), "{stdout}");
    let file = lines.next().unwrap();
    assert!(!Path::new(file).starts_with(root.join("python")), "imported from the source tree, not installed: {file}");
    assert!(
        std::fs::read(file).unwrap() == std::fs::read(root.join("python/synthmix_io.py")).unwrap(),
        "{file} is not this checkout's python/synthmix_io.py: pip install ./python again"
    );
}
