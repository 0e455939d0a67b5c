//! `synthmix init-study`: a study spec for a user's own image sets (from
//! `synthmix data import`), the paper's graph fitted to the data: the
//! generator and classifier chosen by the images' shape, compute sized by the
//! set's size, three seeds, and a quick variant for a first look.

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

/// `template` with every `@key@` replaced by its value (the spec's own
/// `{…}` placeholders pass through untouched). The user's values go in last,
/// so an `@key@` inside a path or class name is never filled.
fn fill(template: &str, user: [(&str, String); 4], values: &[(&str, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in values {
        s = s.replace(&format!("@{k}@"), v);
    }
    debug_assert!(!s.contains("@name@"), "a template placeholder was left unfilled");
    for (k, v) in &user {
        s = s.replace(&format!("@{k}@"), v);
    }
    s
}

/// `s` as a TOML basic string, quotes included, written by the TOML
/// serializer: a path or name with `"`, `\\` or a newline stays one value.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `s` for a `#` comment line: control characters (a newline would end the
/// comment and start spec text) shown escaped.
fn comment_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// The values every spec fills from the user's paths and class names, made
/// safe for where the templates put them: strings as TOML strings, the rest
/// inside comments.
fn user_values(p: &InitParams, classes: &[String]) -> [(&'static str, String); 4] {
    [
        ("classes", comment_text(&classes.join(", "))),
        ("dir", comment_text(&p.dir.display().to_string())),
        ("train", toml_string(&p.train.display().to_string())),
        ("test", toml_string(&p.test.display().to_string())),
    ]
}

/// The spec text (`templates/study.toml`). `quick`: a small generator and
/// classifier budget and the mixes S, 1:1 and 5:1 only.
pub fn spec_text(p: &InitParams, c: &Choice, classes: &[String], quick: bool) -> String {
    let mixes: &[(&str, &str)] = if quick {
        &[("S", "0:1"), ("1-1", "1:1"), ("5-1", "5:1")]
    } else {
        &[("S", "0:1"), ("1-1", "1:1"), ("2-1", "2:1"), ("1-2", "1:2"), ("5-1", "5:1")]
    };
    let rows: Vec<String> = mixes.iter().map(|(n, r)| format!("{{ name = \"{n}\", ratio = \"{r}\" }}")).collect();
    let listed: Vec<&str> = mixes.iter().map(|&(n, r)| if n == "S" { n } else { r }).collect();
    let name = if quick { format!("{}-quick", p.name) } else { p.name.clone() };
    fill(
        include_str!("templates/study.toml"),
        user_values(p, classes),
        &[
            ("name", name),
            ("mixes", rows.join(",\n  ")),
            ("mixes_list", listed.join(", ")),
            ("gan", c.gan_arch.to_string()),
            ("gan_epochs", c.gan_epochs.to_string()),
            ("fid_every", (c.gan_epochs / 10).max(1).to_string()),
            ("clf", c.clf_arch.to_string()),
            ("clf_budget", (if quick { 10_000 } else { 120_000 }).to_string()),
            ("spc", c.synth_per_class.to_string()),
            ("stpc", c.synth_test_per_class.to_string()),
        ],
    )
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
    fill(
        include_str!("templates/regimes.toml"),
        user_values(p, classes),
        &[
            ("name", name),
            ("regimes", regime_rows.join("\n")),
            ("mults", mults),
            ("x5", (if quick { "" } else { ", ×5" }).to_string()),
            ("min", MIN_REGIME_CLASS.to_string()),
            ("gan", c.gan_arch.to_string()),
            ("clf", c.clf_arch.to_string()),
            ("clf_budget", (if quick { 10_000 } else { 120_000 }).to_string()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_placeholder_is_filled_and_the_specs_parse() {
        let p = InitParams {
            train: "d/train.safetensors".into(),
            test: "d/test.safetensors".into(),
            name: "st".into(),
            dir: "pipelines".into(),
        };
        let c = Choice {
            gan_arch: "mlp",
            clf_arch: "simple-cnn",
            gan_epochs: 30,
            synth_per_class: 7,
            synth_test_per_class: 3,
        };
        let classes = ["a".to_string(), "b".to_string()];
        let r = [Regime { name: "f10".into(), fraction: 0.1, gan_epochs: 40, pool: 5 }];
        for quick in [false, true] {
            for text in [spec_text(&p, &c, &classes, quick), regimes_spec_text(&p, &c, &r, &classes, quick)] {
                assert!(!text.contains('@'), "{text}");
                let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert!(v["target"].as_table().is_some_and(|t| t.len() > 5), "{text}");
                assert!(text.contains("Classes: a, b.") && text.contains("d/train.safetensors"), "{text}");
            }
        }
    }

    /// The specs' target names and parameters, as parsed.
    fn parsed(text: &str) -> (Vec<String>, toml::Value) {
        let v: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        (v["target"].as_table().unwrap().keys().cloned().collect(), v["params"].clone())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(200))]
        /// Whatever the class names and paths hold (quotes, newlines, TOML
        /// headers, `@key@`), every written spec parses, has exactly the targets
        /// of a spec for plain names, and holds the paths as given.
        #[test]
        fn hostile_names_never_change_the_spec(
            classes in proptest::collection::vec("(\\PC|[\"\\n\\r\\[\\]=#@]){0,12}", 1..4),
            train in "(\\PC|[\"\\n\\\\]){1,20}",
            dir in "(\\PC|[\"\\n\\[]){1,12}",
        ) {
            let plain = InitParams { train: "t".into(), test: "u".into(), name: "st".into(), dir: "p".into() };
            let hostile = InitParams { train: train.clone().into(), test: "u\"\n[target.x]".into(), dir: dir.into(), ..plain.clone() };
            let c = Choice { gan_arch: "mlp", clf_arch: "simple-cnn", gan_epochs: 30, synth_per_class: 7, synth_test_per_class: 3 };
            let r = [Regime { name: "f10".into(), fraction: 0.1, gan_epochs: 40, pool: 5 }];
            for quick in [false, true] {
                let want = parsed(&spec_text(&plain, &c, &["a".into()], quick)).0;
                let (targets, params) = parsed(&spec_text(&hostile, &c, &classes, quick));
                proptest::prop_assert_eq!(&targets, &want);
                proptest::prop_assert_eq!(params["train_set"].as_str(), Some(train.as_str()));
                proptest::prop_assert_eq!(params["test_set"].as_str(), Some("u\"\n[target.x]"));
                let want = parsed(&regimes_spec_text(&plain, &c, &r, &["a".into()], quick)).0;
                proptest::prop_assert_eq!(parsed(&regimes_spec_text(&hostile, &c, &r, &classes, quick)).0, want);
            }
        }
    }
}
