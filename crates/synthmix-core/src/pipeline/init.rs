//! `synthmix init-study`: a study spec for a user's own image sets (from
//! `synthmix data import`), the paper's graph fitted to the data: the
//! generator and classifier chosen by the images' shape, compute sized by the
//! set's size, three seeds, and a quick variant for a first look.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::data::ImageSet;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct InitParams {
    pub train: PathBuf,
    pub test: PathBuf,
    /// The study's name: the specs are `DIR/NAME.toml`, `NAME-quick.toml` and
    /// the scarce-data regimes `NAME-regimes.toml`, `NAME-regimes-quick.toml`.
    pub name: String,
    pub dir: PathBuf,
}

/// What the data decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub gan_arch: &'static str,
    pub clf_arch: &'static str,
    /// Generator epochs for ≈ `images` training images seen.
    pub gan_epochs: usize,
    /// Synthetic images per class: the largest real class (so S can take the real proportions).
    pub synth_per_class: usize,
    pub synth_test_per_class: usize,
}

/// Architectures by shape: the MLP cGAN and the Simple CNN for small grey
/// images (up to 32×32), the convolutional generator and the Deep CNN
/// otherwise (sides divisible by 4).
pub fn choose(train: &ImageSet, test: &ImageSet, gan_images: usize) -> Result<Choice> {
    let s = train.shape;
    let small_grey = s.c == 1 && s.h <= 32 && s.w <= 32;
    if !small_grey && (s.h % 4 != 0 || s.w % 4 != 0) {
        return Err(Error::Invalid(format!(
            "{}x{} images: the convolutional generator needs sides divisible by 4 (import with --size)",
            s.h, s.w
        )));
    }
    let largest = |set: &ImageSet| set.class_histogram().into_iter().max().unwrap_or(0);
    Ok(Choice {
        gan_arch: if small_grey { "mlp" } else { "dcgan" },
        clf_arch: if small_grey { "simple-cnn" } else { "deep-cnn" },
        gan_epochs: gan_images.div_ceil(train.len().max(1)).clamp(1, 1000),
        synth_per_class: largest(train).max(1),
        synth_test_per_class: test.len().div_ceil(test.num_classes.max(1)).max(1),
    })
}

/// The spec text. `quick`: a small generator and classifier budget and the
/// mixes S, 1:1 and 5:1 only.
pub fn spec_text(p: &InitParams, c: &Choice, classes: &[String], quick: bool) -> String {
    let (mixes, clf_budget) = if quick {
        ("{ name = \"S\", ratio = \"0:1\" },\n  { name = \"1-1\", ratio = \"1:1\" },\n  { name = \"5-1\", ratio = \"5:1\" }", 10_000)
    } else {
        (
            "{ name = \"S\", ratio = \"0:1\" },\n  { name = \"1-1\", ratio = \"1:1\" },\n  { name = \"2-1\", ratio = \"2:1\" },\n  \
             { name = \"1-2\", ratio = \"1:2\" },\n  { name = \"5-1\", ratio = \"5:1\" }",
            120_000,
        )
    };
    let name = if quick { format!("{}-quick", p.name) } else { p.name.clone() };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# The paper's study on your data ({name}), written by `synthmix init-study`:\n\
         # a conditional generator trained on the real training set, synthetic training\n\
         # sets per seed, the mixes O, {mixes_list} at the real set's size, a\n\
         # classifier per mix and seed, evaluated on the real and a synthetic test set.\n\
         # Classes: {classes}.\n#\n#   synthmix run {dir}/{name}.toml\n#\n\
         # Chosen from the data: generator {gan} ({gan_epochs} epochs), classifier {clf}\n\
         # trained on {clf_budget} images each (clf-train --budget). Run from the folder\n\
         # the set paths below are relative to.",
        mixes_list = if quick { "S, 1:1, 5:1" } else { "S, 1:1, 2:1, 1:2, 5:1" },
        classes = classes.join(", "),
        dir = p.dir.display(),
        gan = c.gan_arch,
        gan_epochs = c.gan_epochs,
        clf = c.clf_arch,
    );
    let _ = write!(
        s,
        r#"[pipeline]
name = "{name}"
description = "real and synthetic training mixes on {name}"
out = "artifacts"

[axes]
mix = [
  {mixes},
]
seed = [0, 1, 2]

[params]
device = "cpu"
train_set = "{train}"
test_set = "{test}"
gan_arch = "{gan}"
gan_epochs = {gan_epochs}
clf_arch = "{clf}"
clf_budget = {clf_budget}
clf_lr = 0.001
synth_per_class = {spc}
synth_test_per_class = {stpc}

[target.features]
description = "the FID and recognition network (the classifier on the real training set)"
command = "clf-train --train {{in.train}} --arch {{clf_arch}} --budget {{clf_budget}} --lr {{clf_lr}} --seed 0 --device {{device}} --out {{out}}"
inputs = {{ train = "{{train_set}}" }}
outputs = ["{name}/features.safetensors"]

[target.gan]
threads = "all"
command = "gan-train --train {{in.train}} --arch {{gan_arch}} --epochs {{gan_epochs}} --seed 0 --features {{in.features}} --fid-every {fid_every} --checkpoint-every {fid_every} --on-collapse warn --device {{device}} --out {{out}}"
inputs = {{ train = "{{train_set}}", features = "features" }}
outputs = {{ generator = "{name}/gan.safetensors" }}

[target."synth-train-s{{seed}}"]
matrix = {{ seed = "seed" }}
command = "synth-sample --generator {{in}} --per-class {{synth_per_class}} --seed 10{{seed}} --device {{device}} --out {{out}}"
inputs = ["gan:generator"]
outputs = ["{name}/synth/train-s{{seed}}.safetensors"]

[target.synth-test]
command = "synth-sample --generator {{in}} --per-class {{synth_test_per_class}} --seed 2 --device {{device}} --out {{out}}"
inputs = ["gan:generator"]
outputs = ["{name}/synth/test.safetensors"]

[target."mix-{{mix}}-s{{seed}}"]
matrix = {{ mix = "mix", seed = "seed" }}
command = "mix-build --real {{in.train}} --synthetic {{in.synthetic}} --ratio {{mix.ratio}} --seed {{seed}} --out {{out}}"
inputs = {{ train = "{{train_set}}", synthetic = "synth-train-s{{seed}}" }}
outputs = ["{name}/mix/{{mix}}-s{{seed}}.safetensors"]

[target."clf-O-s{{seed}}"]
matrix = {{ seed = "seed" }}
command = "clf-train --train {{in.train}} --arch {{clf_arch}} --budget {{clf_budget}} --lr {{clf_lr}} --seed {{seed}} --device {{device}} --out {{out}}"
inputs = {{ train = "{{train_set}}" }}
outputs = ["{name}/clf/O-s{{seed}}.safetensors"]

[target."clf-{{mix}}-s{{seed}}"]
matrix = {{ mix = "mix", seed = "seed" }}
command = "clf-train --train {{in}} --arch {{clf_arch}} --budget {{clf_budget}} --lr {{clf_lr}} --seed {{seed}} --device {{device}} --out {{out}}"
inputs = ["mix-{{mix}}-s{{seed}}"]
outputs = ["{name}/clf/{{mix}}-s{{seed}}.safetensors"]

[target."eval-O-s{{seed}}"]
matrix = {{ seed = "seed" }}
command = "evaluate --classifier {{in.clf}} --test {{in.test}} {{in.synthetic}} --device {{device}} --out {{out}}"
inputs = {{ clf = "clf-O-s{{seed}}", test = "{{test_set}}", synthetic = "synth-test" }}
outputs = ["{name}/metrics/O-s{{seed}}.json"]

[target."eval-{{mix}}-s{{seed}}"]
matrix = {{ mix = "mix", seed = "seed" }}
command = "evaluate --classifier {{in.clf}} --test {{in.test}} {{in.synthetic}} --device {{device}} --out {{out}}"
inputs = {{ clf = "clf-{{mix}}-s{{seed}}", test = "{{test_set}}", synthetic = "synth-test" }}
outputs = ["{name}/metrics/{{mix}}-s{{seed}}.json"]

[target.report]
command = "synthmix report --metrics {{in}} --out {{out}} --title \"{name}: real and synthetic training mixes\""
inputs = ["eval-*"]
outputs = ["report/{name}/report.md"]
"#,
        train = p.train.display(),
        test = p.test.display(),
        gan = c.gan_arch,
        gan_epochs = c.gan_epochs,
        clf = c.clf_arch,
        spc = c.synth_per_class,
        stpc = c.synth_test_per_class,
        fid_every = (c.gan_epochs / 10).max(1),
    );
    s
}

/// Writes `DIR/NAME.toml` and `DIR/NAME-quick.toml`; refuses to overwrite.
pub fn run(p: &InitParams) -> Result<Vec<PathBuf>> {
    if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::Invalid(format!("--name '{}': use letters, digits, - and _", p.name)));
    }
    let train = crate::artifact::image_set::read(&p.train)?;
    let test = crate::artifact::image_set::read(&p.test)?;
    if (train.shape, train.num_classes) != (test.shape, test.num_classes) {
        return Err(Error::Invalid(format!(
            "--train {} ({}, {} classes) and --test {} ({}, {} classes) do not match",
            p.train.display(),
            train.shape,
            train.num_classes,
            p.test.display(),
            test.shape,
            test.num_classes
        )));
    }
    let classes = train.class_names();
    let mut written = Vec::new();
    for (quick, gan_images) in [(false, 600_000), (true, 100_000)] {
        let c = choose(&train, &test, gan_images)?;
        let suffix = if quick { "-quick" } else { "" };
        written.push((p.dir.join(format!("{}{suffix}.toml", p.name)), spec_text(p, &c, &classes, quick)));
        let regimes = scarce_regimes(&train, gan_images, quick);
        if !regimes.is_empty() {
            let file = p.dir.join(format!("{}-regimes{suffix}.toml", p.name));
            written.push((file, regimes_spec_text(p, &c, &regimes, &classes, quick)));
        }
    }
    if let Some((file, _)) = written.iter().find(|(f, _)| f.exists()) {
        return Err(Error::Invalid(format!("{} exists: not overwritten", file.display())));
    }
    std::fs::create_dir_all(&p.dir).map_err(|e| Error::io(&p.dir, e))?;
    for (file, text) in &written {
        crate::artifact::write_atomic(file, text.as_bytes())?;
    }
    Ok(written.into_iter().map(|w| w.0).collect())
}

/// One scarce-data regime of an imported set: a share of each class.
#[derive(Debug, Clone, PartialEq)]
pub struct Regime {
    /// e.g. `f10` for 10 %.
    pub name: String,
    pub fraction: f64,
    pub gan_epochs: usize,
    /// Synthetic images per class sampled per seed: the regime's largest
    /// class × the largest multiple, so every mix and the CAS set fit.
    pub pool: usize,
}

/// The smallest class share a regime may keep: below 10 images a class is
/// not a training set.
const MIN_REGIME_CLASS: usize = 10;

/// The fractions of the regimes study that keep ≥ 10 images of the smallest
/// class, and the whole set; the quick variant keeps the smallest of them
/// and the whole set. Generator epochs give ≈ `gan_images` images seen.
pub fn scarce_regimes(train: &ImageSet, gan_images: usize, quick: bool) -> Vec<Regime> {
    let hist = train.class_histogram();
    let smallest = hist.iter().copied().min().unwrap_or(0);
    let largest = hist.iter().copied().max().unwrap_or(0);
    let mut fr: Vec<f64> = [0.01, 0.05, 0.1, 0.25]
        .into_iter()
        .filter(|f| (smallest as f64 * f).floor() as usize >= MIN_REGIME_CLASS)
        .collect();
    if fr.is_empty() {
        return Vec::new();
    }
    if quick {
        fr.truncate(1);
    }
    fr.push(1.0);
    let max_mult = if quick { 1 } else { 5 };
    fr.into_iter()
        .map(|f| {
            let size = ((train.len() as f64 * f).ceil() as usize).max(1);
            Regime {
                name: format!("f{}", (f * 100.0).round() as u32),
                fraction: f,
                gan_epochs: gan_images.div_ceil(size).clamp(1, 2000),
                pool: ((largest as f64 * f).ceil() as usize).max(1) * max_mult,
            }
        })
        .collect()
}

/// The regimes spec: per regime a real subset with its own generator; real
/// only, real plus ×1 (and ×5) synthetic, and synthetic only (CAS), three
/// seeds, reported by `synthmix report --study regimes`.
pub fn regimes_spec_text(p: &InitParams, c: &Choice, regimes: &[Regime], classes: &[String], quick: bool) -> String {
    let name = format!("{}-regimes{}", p.name, if quick { "-quick" } else { "" });
    let regime_rows: Vec<String> = regimes
        .iter()
        .map(|r| {
            format!(
                "  {{ name = \"{}\", rule = \"fraction:{}\", gan_epochs = {}, every = {}, pool = {} }},",
                r.name,
                r.fraction,
                r.gan_epochs,
                (r.gan_epochs / 10).max(1),
                r.pool
            )
        })
        .collect();
    let mults = if quick {
        "  { name = \"x1\", ratio = \"1:1\" },".to_string()
    } else {
        "  { name = \"x1\", ratio = \"1:1\" },\n  { name = \"x5\", ratio = \"1:5\" },".to_string()
    };
    let clf_budget = if quick { 10_000 } else { 120_000 };
    format!(
        r#"# Scarce real data on your data ({name}), written by `synthmix init-study`:
# per regime (a share of every class, seeded), a generator trained on that
# share only; classifiers on the real share alone, with synthetic images added
# (×1{x5} the real count, --all-real) and on synthetic images alone (CAS); three
# seeds; evaluated on the real test set. Regimes: the fractions that keep at
# least {min} images of the smallest class, and the whole set.
# Classes: {classes}.
#
#   synthmix run {dir}/{name}.toml
#
# Generator {gan} (epochs for ≈ the same images seen in every regime),
# classifier {clf} trained on {clf_budget} images each.
[pipeline]
name = "{name}"
description = "scarce real data and the synthetic-to-real gap on {name}"
out = "artifacts"

[axes]
regime = [
{regimes}
]
mult = [
{mults}
]
cas = ["cas"]
seed = [0, 1, 2]

[params]
device = "cpu"
train_set = "{train}"
test_set = "{test}"
gan_arch = "{gan}"
clf_arch = "{clf}"
clf_budget = {clf_budget}
clf_lr = 0.001

[target.features]
description = "the FID and recognition network (the classifier on the whole real training set)"
command = "clf-train --train {{in.train}} --arch {{clf_arch}} --budget {{clf_budget}} --lr {{clf_lr}} --seed 0 --device {{device}} --out {{out}}"
inputs = {{ train = "{{train_set}}" }}
outputs = ["{name}/features.safetensors"]

[target."real-{{regime}}"]
command = "mix-build --real {{in.train}} --subset {{regime.rule}} --seed 0 --out {{out}}"
inputs = {{ train = "{{train_set}}" }}
matrix = {{ regime = "regime" }}
outputs = ["{name}/real/{{regime}}.safetensors"]

[target."gan-{{regime}}"]
threads = "all"
matrix = {{ regime = "regime" }}
command = "gan-train --train {{in.train}} --arch {{gan_arch}} --epochs {{regime.gan_epochs}} --checkpoint-every {{regime.every}} --fid-every {{regime.every}} --seed 0 --features {{in.features}} --on-collapse warn --device {{device}} --out {{out}}"
inputs = {{ train = "real-{{regime}}", features = "features" }}
outputs = {{ generator = "{name}/gan/{{regime}}.safetensors" }}

[target."synth-{{regime}}-s{{seed}}"]
matrix = {{ regime = "regime", seed = "seed" }}
command = "synth-sample --generator {{in}} --per-class {{regime.pool}} --seed 10{{seed}} --device {{device}} --out {{out}}"
inputs = ["gan-{{regime}}:generator"]
outputs = ["{name}/synth/{{regime}}-s{{seed}}.safetensors"]

[target."mix-{{regime}}-{{mult}}-s{{seed}}"]
matrix = {{ regime = "regime", mult = "mult", seed = "seed" }}
command = "mix-build --real {{in.real}} --synthetic {{in.synthetic}} --ratio {{mult.ratio}} --all-real --seed {{seed}} --out {{out}}"
inputs = {{ real = "real-{{regime}}", synthetic = "synth-{{regime}}-s{{seed}}" }}
outputs = ["{name}/mix/{{regime}}-{{mult}}-s{{seed}}.safetensors"]

[target."mix-{{regime}}-{{cas}}-s{{seed}}"]
matrix = {{ regime = "regime", cas = "cas", seed = "seed" }}
command = "mix-build --real {{in.real}} --synthetic {{in.synthetic}} --ratio 0:1 --seed {{seed}} --out {{out}}"
inputs = {{ real = "real-{{regime}}", synthetic = "synth-{{regime}}-s{{seed}}" }}
outputs = ["{name}/mix/{{regime}}-cas-s{{seed}}.safetensors"]

[target."clf-{{regime}}-s{{seed}}"]
matrix = {{ regime = "regime", seed = "seed" }}
command = "clf-train --train {{in}} --arch {{clf_arch}} --budget {{clf_budget}} --lr {{clf_lr}} --seed {{seed}} --device {{device}} --out {{out}}"
inputs = ["real-{{regime}}"]
outputs = ["{name}/clf/{{regime}}-s{{seed}}.safetensors"]

[target."clf-{{regime}}-{{arm}}-s{{seed}}"]
matrix = [
  {{ regime = "regime", arm = "mult", seed = "seed" }},
  {{ regime = "regime", arm = "cas", seed = "seed" }},
]
command = "clf-train --train {{in}} --arch {{clf_arch}} --budget {{clf_budget}} --lr {{clf_lr}} --seed {{seed}} --device {{device}} --out {{out}}"
inputs = ["mix-{{regime}}-{{arm}}-s{{seed}}"]
outputs = ["{name}/clf/{{regime}}-{{arm}}-s{{seed}}.safetensors"]

[target."eval-{{regime}}-s{{seed}}"]
matrix = {{ regime = "regime", seed = "seed" }}
command = "evaluate --classifier {{in.clf}} --test {{in.test}} --device {{device}} --out {{out}}"
inputs = {{ clf = "clf-{{regime}}-s{{seed}}", test = "{{test_set}}" }}
outputs = ["{name}/metrics/{{regime}}-s{{seed}}.json"]

[target."eval-{{regime}}-{{arm}}-s{{seed}}"]
matrix = [
  {{ regime = "regime", arm = "mult", seed = "seed" }},
  {{ regime = "regime", arm = "cas", seed = "seed" }},
]
command = "evaluate --classifier {{in.clf}} --test {{in.test}} --device {{device}} --out {{out}}"
inputs = {{ clf = "clf-{{regime}}-{{arm}}-s{{seed}}", test = "{{test_set}}" }}
outputs = ["{name}/metrics/{{regime}}-{{arm}}-s{{seed}}.json"]

[target.report]
command = "synthmix report --study regimes --metrics {{in}} --out {{out}} --title \"{name}: scarce real data and the synthetic-to-real gap\""
inputs = ["eval-*"]
outputs = ["report/{name}/report.md"]
"#,
        x5 = if quick { "" } else { ", ×5" },
        min = MIN_REGIME_CLASS,
        classes = classes.join(", "),
        dir = p.dir.display(),
        gan = c.gan_arch,
        clf = c.clf_arch,
        regimes = regime_rows.join("\n"),
        train = p.train.display(),
        test = p.test.display(),
    )
}
