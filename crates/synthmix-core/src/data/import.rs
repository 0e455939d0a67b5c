//! `synthmix data import`: a labelled image folder as image sets, so a
//! researcher's own data goes through every stage.
//!
//! Two layouts: a class-per-folder tree (`DIR/CLASS/*.png|jpg|bmp`,
//! torchvision's ImageFolder; classes in name order) and a CSV of
//! `path,label` (paths relative to the CSV's folder, labels class names).
//! Every image becomes `--channels` (1 grey, 3 RGB) at `--size HxW`, by
//! `--fit resize` (the image crate's Triangle filter: bilinear, antialiased
//! when shrinking) or `--fit crop` (centre crop, zero padding); without
//! them, the first image's mode and size are the set's and any other is a bad
//! file. Class names go into the set's metadata (`class_names`, a JSON list).

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;

mod decode;
mod list;
use decode::{decode_all, Decoded};
use list::list;
use serde::{Deserialize, Serialize};

use super::{ImageSet, ImageShape, SetMeta, Source, Split};
use crate::artifact::meta::ImportRecord;
use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::artifact::{image_set, Outputs, Staged};
use crate::error::{Error, Result};
use crate::rng;

/// Extensions read as images (what the image crate decodes here).
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];
/// Labels are stored as one byte (the image-set format's U8 labels), which
/// holds 256 class indices, 0 to 255.
pub const MAX_CLASSES: usize = 1 << u8::BITS;
/// The shortest side a set's images may have, fitted (`--size`) or as read:
/// below it no classifier's convolutions leave a pixel.
pub const MIN_SIDE: usize = 4;
/// The longest side `--size` fits to.
pub const MAX_SIDE: usize = 1024;

/// How an image of another size becomes `--size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Scale to the size (Triangle filter), ignoring the aspect ratio.
    Resize,
    /// Cut the centre out, padding with black where the image is smaller.
    Crop,
}

/// `HxW`, e.g. `28x28`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub h: usize,
    pub w: usize,
}

impl std::str::FromStr for Size {
    type Err = Error;
    fn from_str(s: &str) -> Result<Size> {
        let bad =
            || Error::Invalid(format!("size '{s}' is not HxW with sides from {MIN_SIDE} to {MAX_SIDE}, e.g. 28x28"));
        let (h, w) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let (h, w): (usize, usize) = (h.trim().parse().map_err(|_| bad())?, w.trim().parse().map_err(|_| bad())?);
        if !(MIN_SIDE..=MAX_SIDE).contains(&h) || !(MIN_SIDE..=MAX_SIDE).contains(&w) {
            return Err(bad());
        }
        Ok(Size { h, w })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportParams {
    /// A class-per-folder directory or a `path,label` CSV file.
    pub source: PathBuf,
    pub size: Option<Size>,
    pub channels: Option<usize>,
    pub fit: Fit,
    /// The split `out` is labelled with (`--split`); without it, the
    /// source's own name where that is `train` or `test`, else train. With
    /// `test_fraction`, `out` is the training part.
    #[serde(default)]
    pub split: Option<Split>,
    /// Hold out this stratified share of each class as the test set.
    pub test_fraction: Option<f64>,
    pub seed: u64,
    /// Leave bad files (and empty classes) out, counted, instead of stopping.
    pub skip_bad: bool,
    /// The dataset's name in the sets' metadata.
    pub name: String,
    pub out: PathBuf,
    pub test_out: Option<PathBuf>,
    /// Let a CSV name images outside its own folder (absolute paths, `..`).
    #[serde(default)]
    pub allow_outside: bool,
    /// The data folder, which recorded paths may be relative to
    /// ([`provenance::recorded_path`]); not itself recorded.
    #[serde(skip)]
    pub data_dir: PathBuf,
}

/// The split a folder's (or CSV file's) own name says: `train` or `test`,
/// in any case; None for any other name.
pub fn split_named(source: &Path) -> Option<Split> {
    let path = as_named(source);
    let name = if path.is_file() { path.file_stem() } else { path.file_name() };
    let name = name?.to_str()?;
    [Split::Train, Split::Test].into_iter().find(|s| name.eq_ignore_ascii_case(s.as_str()))
}

/// The dataset's default name: the folder's whole name (`my.v2.data` stays
/// `my.v2.data`; a dot in a folder's name is no extension), a CSV file's
/// name less its extension, or the parent folder's where the own name is
/// only a split (`faces/test` → `faces`). Not UTF-8: shown lossy, as class
/// folders are.
pub fn default_name(source: &Path) -> String {
    let path = as_named(source);
    let named = match split_named(source) {
        Some(_) => as_named(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))),
        None => path,
    };
    let name = if named.is_dir() { named.file_name() } else { named.file_stem() };
    name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "imported".into())
}

/// The longest dataset name: a folder's name can be no longer (255 bytes on
/// the common file systems), and every report and `show` echoes it whole.
pub const MAX_NAME_BYTES: usize = 255;

/// Refuses a dataset name that shows nothing (empty, or spaces only) or
/// that is longer than a folder's name can be.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Invalid(format!("--name '{name}': a dataset name needs a visible character")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::Invalid(format!(
            "--name {}: a dataset name is at most {MAX_NAME_BYTES} bytes, as a folder's name is",
            crate::terminal::clip(name)
        )));
    }
    Ok(())
}

/// The path as the user named it, or its real path where its last
/// component is no name (`.`, `..`, `/`); links keep the name given.
fn as_named(path: &Path) -> PathBuf {
    match path.file_name() {
        Some(_) => path.to_path_buf(),
        None => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// The split `--out` is labelled with; `--split test` beside
/// `--test-fraction` is refused (`--out` is then the training part).
fn out_split(params: &ImportParams) -> Result<Split> {
    match (params.split, params.test_fraction) {
        (Some(Split::Test), Some(_)) => Err(Error::Invalid(
            "--split test with --test-fraction: --out is then the training part and --test-out the test part".into(),
        )),
        (_, Some(_)) => Ok(Split::Train),
        (Some(s), None) => Ok(s),
        (None, None) => Ok(split_named(&params.source).unwrap_or(Split::Train)),
    }
}

/// One file that could not be imported, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadFile {
    pub path: PathBuf,
    pub why: String,
}

/// What an import produced.
#[derive(Debug)]
pub struct Imported {
    pub train: ImageSet,
    pub test: Option<ImageSet>,
    pub class_names: Vec<String>,
    pub bad: Vec<BadFile>,
}

/// Refuses more classes than a label can hold; `note` says which classes
/// were counted.
fn check_class_count(source: &Path, n: usize, note: &str) -> Result<()> {
    if n > MAX_CLASSES {
        return Err(Error::Invalid(format!(
            "{}: {n} classes{note}, more than the {MAX_CLASSES} an image set's one-byte labels hold",
            source.display()
        )));
    }
    Ok(())
}

/// Each listed class's label: classes left without an image are dropped,
/// the rest numbered in their order. The count is checked against what a
/// label holds, so no label is computed by a cast that could wrap.
fn labels_of(source: &Path, names: &[String], classes: &[usize]) -> Result<Vec<Option<u8>>> {
    let mut present = vec![false; names.len()];
    for &c in classes {
        present[c] = true;
    }
    let kept = present.iter().filter(|&&p| p).count();
    let dropped = names.len().saturating_sub(kept);
    let note = if dropped > 0 { format!(" with images ({dropped} left without one)") } else { String::new() };
    check_class_count(source, kept, &note)?;
    let mut next: usize = 0;
    let mut label = Vec::with_capacity(names.len());
    for p in present {
        label.push(if p {
            let l = u8::try_from(next)
                .map_err(|_| Error::Invalid(format!("{}: class {next} has no one-byte label", source.display())))?;
            next = next.saturating_add(1);
            Some(l)
        } else {
            None
        });
    }
    Ok(label)
}

/// The image set(s) of the decoded images: classes left without an image are
/// dropped (keeping the order), the rest split if asked.
fn build(d: Decoded, params: &ImportParams, split_of_out: Split) -> Result<Imported> {
    let Decoded { images, classes, names, target, bad } = d;
    let t = target.ok_or_else(|| Error::Invalid(format!("{}: no image could be read", params.source.display())))?;
    let label_of = labels_of(&params.source, &names, &classes)?;
    let present: Vec<&String> = names.iter().zip(&label_of).filter(|(_, l)| l.is_some()).map(|(n, _)| n).collect();
    if present.len() < 2 {
        return Err(Error::Invalid(format!(
            "{}: {} class{} with images ({}): a classifier needs at least two",
            params.source.display(),
            present.len(),
            if present.len() == 1 { "" } else { "es" },
            present.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    // Every image's class is present (it has this image): its label is Some.
    let labels: Vec<u8> = classes.iter().filter_map(|&c| label_of[c]).collect();
    let class_names: Vec<String> = present.into_iter().cloned().collect();
    let shape = ImageShape { c: t.channels, h: t.h, w: t.w };
    let meta = |split: &str| SetMeta {
        class_names: Some(class_names.clone()),
        import: Some(ImportRecord {
            imported_from: provenance::recorded_path(&params.source, &params.data_dir),
            fit: if params.size.is_some() { format!("{:?}", params.fit).to_lowercase() } else { "none".into() },
        }),
        ..SetMeta::new(params.name.clone(), split, Source::Real)
    };
    let all = ImageSet::new(&params.source, images, labels, shape, class_names.len(), meta(split_of_out.as_str()))?;
    let (train, test) = match params.test_fraction {
        Some(f) => {
            let (tr, te) = split(&all, f, params.seed);
            let mut test = all.select(&te);
            test.meta = meta("test");
            (all.select(&tr), Some(test))
        }
        None => (all, None),
    };
    Ok(Imported { train, test, class_names, bad })
}

/// A seeded, stratified split: per class ⌊n·f⌉ images to the test set, at
/// least one on each side when the class has two or more. Returns (train,
/// test) indices, sorted.
pub fn split(set: &ImageSet, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (c, mut idx) in set.indices_by_class().into_iter().enumerate() {
        idx.shuffle(&mut rng::stream(seed, &format!("import/split/class{c}")));
        let n = idx.len();
        let mut k = (n as f64 * fraction).round() as usize;
        if n >= 2 {
            k = k.clamp(1, n - 1);
        } else {
            k = 0;
        }
        test.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Checked before anything is read: every output can be written where it is
/// named (a folder that is a file or cannot be written is found now, not
/// after the train set is in place), none is the source, and no two are the
/// same file.
fn check_destinations(params: &ImportParams) -> Result<()> {
    let source = [("source", params.source.as_path())];
    let prov = provenance::path_for(&params.out);
    let out = Outputs { flag: "--out", out: &params.out, side: vec![prov.clone()] };
    crate::artifact::check_outputs(&out, &source, None)?;
    if let Some(test_out) = &params.test_out {
        let test = Outputs { flag: "--test-out", out: test_out, side: vec![] };
        crate::artifact::check_outputs(&test, &source, None)?;
        if let Some(other) = [&params.out, &prov].into_iter().find(|o| crate::artifact::same_file(test_out, o)) {
            return Err(Error::Invalid(format!(
                "--test-out {} is the same file as {}: give the test set a name of its own",
                test_out.display(),
                other.display()
            )));
        }
    }
    Ok(())
}

/// Refuses an output that is one of the images to be read (a CSV may list
/// any file name): only a listed file of the same name can be the same file.
fn check_not_inputs(params: &ImportParams, items: &[(PathBuf, usize)]) -> Result<()> {
    let prov = provenance::path_for(&params.out);
    let outs =
        [Some(("--out", &params.out)), Some(("--out", &prov)), params.test_out.as_ref().map(|t| ("--test-out", t))];
    for (flag, out) in outs.into_iter().flatten() {
        let same_name = items.iter().filter(|(p, _)| p.file_name() == out.file_name());
        if let Some((input, _)) = same_name.into_iter().find(|(p, _)| crate::artifact::same_file(p, out)) {
            return Err(Error::Invalid(format!(
                "{flag} {} would overwrite the listed image {}; choose another output",
                out.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Logs each bad file on a line of its own and, without `--skip-bad`, stops
/// the import at the first.
fn report_bad(params: &ImportParams, bad: &[BadFile]) -> Result<()> {
    for b in bad {
        tracing::warn!("bad file: {}: {}", crate::terminal::escape(&b.path.display().to_string()), b.why);
    }
    match (bad.first(), params.skip_bad) {
        (Some(first), false) => Err(Error::Invalid(format!(
            "{}: {} bad file{} (the first: {}: {}); fix them or pass --skip-bad to leave them out",
            params.source.display(),
            bad.len(),
            if bad.len() == 1 { "" } else { "s" },
            first.path.display(),
            first.why
        ))),
        _ => Ok(()),
    }
}

/// Writes the set(s) and the provenance all or none ([`Staged`]).
fn write(params: &ImportParams, imported: &Imported, split: Split, started: std::time::Instant) -> Result<()> {
    // The imported folder is recorded relative (never absolute); outputs as
    // named, as every stage records them.
    let source = PathBuf::from(provenance::recorded_path(&params.source, &params.data_dir));
    let recorded = ImportParams { source, split: Some(split), ..params.clone() };
    let mut prov = Provenance::start("data-import", &recorded, Some(params.seed))?;
    prov.inputs.push(FileRecord {
        role: "source".into(),
        path: recorded.source.display().to_string(),
        blake3: imported.train.content_hash()?,
    });
    let mut staged = Staged::default();
    let train = image_set::encode(&imported.train)?;
    staged.add(&params.out, &train)?;
    prov.output_bytes(split.as_str(), &params.out, &train);
    if let (Some(t), Some(p)) = (&imported.test, &params.test_out) {
        let test = image_set::encode(t)?;
        staged.add(p, &test)?;
        prov.output_bytes("test", p, &test);
    }
    prov.metrics.push(("bad_files".into(), imported.bad.len() as f64));
    prov.metrics.push(("classes".into(), imported.class_names.len() as f64));
    prov.wall_time_s = started.elapsed().as_secs_f64();
    staged.add(&provenance::path_for(&params.out), &provenance::encode(&prov)?)?;
    staged.commit()
}

/// Runs the import: the outputs and the class count are checked before any
/// image is decoded; every bad file is logged on a line of its own; without
/// `skip_bad` any bad file stops the import before anything is written.
/// Writes the set(s) and provenance (bad files counted) all or none.
pub fn run(params: &ImportParams) -> Result<Imported> {
    let started = std::time::Instant::now();
    if params.test_fraction.is_some() != params.test_out.is_some() {
        return Err(Error::Invalid("--test-fraction and --test-out go together".into()));
    }
    check_name(&params.name)?;
    let split = out_split(params)?;
    check_destinations(params)?;
    let mut bad = Vec::new();
    let (names, items) = list(params, &mut bad)?;
    if !params.skip_bad {
        // Every listed class keeps its images (a bad file stops the import):
        // too many is known now. With --skip-bad, once the bad are left out.
        check_class_count(&params.source, names.len(), "")?;
    }
    check_not_inputs(params, &items)?;
    let decoded = decode_all(params, names, &items, bad)?;
    report_bad(params, &decoded.bad)?;
    let imported = build(decoded, params, split)?;
    write(params, &imported, split, started)?;
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_within_bounds() {
        assert_eq!("28x28".parse::<Size>().unwrap(), Size { h: 28, w: 28 });
        assert_eq!("64X32".parse::<Size>().unwrap(), Size { h: 64, w: 32 });
        for bad in ["28", "0x28", "3x28", "28x2000", "ax1", ""] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_train_or_test_folder_names_the_split_and_its_parent_the_dataset() {
        assert_eq!(split_named(Path::new("faces/TEST")), Some(Split::Test));
        assert_eq!(split_named(Path::new("faces/train/")), Some(Split::Train));
        assert_eq!(split_named(Path::new("faces/val")), None);
        assert_eq!(split_named(Path::new("faces/testing")), None);
        assert_eq!(default_name(Path::new("data/faces/test")), "faces");
        assert_eq!(default_name(Path::new("data/faces")), "faces");
        assert_eq!(default_name(Path::new("data/labels.csv")), "labels");
        // A folder's name is whole, dots and all; a CSV file loses its extension.
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("my.v2.data/test")).unwrap();
        std::fs::write(t.path().join("my.v2.csv"), "").unwrap();
        assert_eq!(default_name(&t.path().join("my.v2.data")), "my.v2.data");
        assert_eq!(default_name(&t.path().join("my.v2.data/test")), "my.v2.data");
        assert_eq!(default_name(&t.path().join("my.v2.data/.")), "my.v2.data");
        assert_eq!(default_name(&t.path().join("my.v2.csv")), "my.v2");
        let p = ImportParams {
            source: "faces/test".into(),
            size: None,
            channels: None,
            fit: Fit::Resize,
            split: None,
            test_fraction: None,
            seed: 0,
            skip_bad: false,
            name: "faces".into(),
            out: "o".into(),
            test_out: None,
            allow_outside: false,
            data_dir: PathBuf::new(),
        };
        assert_eq!(out_split(&p).unwrap(), Split::Test);
        assert_eq!(out_split(&ImportParams { split: Some(Split::Train), ..p.clone() }).unwrap(), Split::Train);
        let with_fraction = ImportParams { test_fraction: Some(0.2), ..p.clone() };
        assert_eq!(out_split(&with_fraction).unwrap(), Split::Train, "--out is then the training part");
        assert!(out_split(&ImportParams { split: Some(Split::Test), ..with_fraction }).is_err());
    }

    #[test]
    fn a_dataset_name_shows_something_and_fits_a_folder_name() {
        for bad in ["", "   ", "\t"] {
            assert!(check_name(bad).unwrap_err().to_string().contains("visible character"), "{bad:?}");
        }
        let e = check_name(&"x".repeat(MAX_NAME_BYTES + 1)).unwrap_err().to_string();
        assert!(e.contains("at most 255 bytes") && e.contains("(256 bytes)"), "{e}");
        for good in ["my.v2.data", "x", "猫", &"x".repeat(MAX_NAME_BYTES)] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn labels_number_the_classes_with_images_and_never_wrap() {
        let names: Vec<String> = (0..300).map(|c| format!("c{c:03}")).collect();
        // The first 50 classes lost every image: the other 250 are 0 to 249.
        let classes: Vec<usize> = (50..300).chain(50..300).collect();
        let label = labels_of(Path::new("d"), &names, &classes).unwrap();
        assert!(label[..50].iter().all(Option::is_none));
        for c in 50..300 {
            assert_eq!(label[c].map(usize::from), Some(c - 50), "class {c}");
        }
        // 256 classes fit one byte; 257 are refused, naming the folder and both counts.
        let all: Vec<usize> = (0..256).collect();
        assert_eq!(labels_of(Path::new("d"), &names, &all).unwrap()[255], Some(255));
        let e = labels_of(Path::new("dir"), &names, &(0..257).collect::<Vec<_>>()).unwrap_err().to_string();
        assert!(e.starts_with("dir: 257 classes with images (43 left without one)") && e.contains("256"), "{e}");
    }
}
