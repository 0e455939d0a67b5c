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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{ImageSet, ImageShape, SetMeta, Source};
use crate::artifact::meta::ImportRecord;
use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::error::{Error, IoContext, Result};
use crate::rng;

/// Extensions read as images (what the image crate decodes here).
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];
/// Class indices are one byte; the stages are tested up to 100 classes.
const MAX_CLASSES: usize = 255;

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
        let bad = || Error::Invalid(format!("size '{s}' is not HxW with sides from 4 to 1024, e.g. 28x28"));
        let (h, w) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let (h, w): (usize, usize) = (h.trim().parse().map_err(|_| bad())?, w.trim().parse().map_err(|_| bad())?);
        if !(4..=1024).contains(&h) || !(4..=1024).contains(&w) {
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
    /// Hold out this stratified share of each class as the test set.
    pub test_fraction: Option<f64>,
    pub seed: u64,
    /// Leave bad files (and empty classes) out, counted, instead of stopping.
    pub skip_bad: bool,
    /// The dataset's name in the sets' metadata.
    pub name: String,
    pub out: PathBuf,
    pub test_out: Option<PathBuf>,
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

/// Files and their class indices, and the class names, from either layout.
fn list(source: &Path, bad: &mut Vec<BadFile>) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    if source.is_dir() {
        list_folders(source, bad)
    } else if source.is_file() {
        list_csv(source)
    } else {
        Err(Error::Invalid(format!("{}: no such folder or CSV file", source.display())))
    }
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).at(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !is_hidden(p)).collect();
    v.sort();
    Ok(v)
}

fn list_folders(dir: &Path, bad: &mut Vec<BadFile>) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let mut classes = Vec::new();
    let mut items = Vec::new();
    for sub in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        let mut files = Vec::new();
        for f in sorted_entries(&sub)?.into_iter().filter(|p| p.is_file()) {
            let ext = f.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
            if EXTENSIONS.contains(&ext.as_str()) {
                files.push(f);
            } else {
                bad.push(BadFile {
                    path: f,
                    why: format!("not an image (extensions read: {})", EXTENSIONS.join(", ")),
                });
            }
        }
        if files.is_empty() {
            bad.push(BadFile { path: sub, why: "empty class: no image files in this class folder".into() });
            continue;
        }
        let c = classes.len();
        classes.push(name);
        items.extend(files.into_iter().map(|f| (f, c)));
    }
    Ok((classes, items))
}

fn list_csv(csv: &Path) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv)
        .map_err(|e| Error::format(csv, format!("cannot read as CSV: {e}")))?;
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::format(csv, format!("line {}: {e}", i + 1)))?;
        let (path, label) = match (rec.get(0), rec.get(1), rec.len()) {
            (Some(p), Some(l), 2) => (p.trim(), l.trim()),
            _ => return Err(Error::format(csv, format!("line {}: expected two columns, path,label", i + 1))),
        };
        if i == 0 && path.eq_ignore_ascii_case("path") && label.eq_ignore_ascii_case("label") {
            continue;
        }
        if path.is_empty() || label.is_empty() {
            return Err(Error::format(csv, format!("line {}: empty path or label", i + 1)));
        }
        rows.push((base.join(path), label.to_string()));
    }
    let mut classes: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    classes.sort();
    classes.dedup();
    let index: BTreeMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let items = rows.iter().map(|(p, l)| (p.clone(), index[l.as_str()])).collect();
    Ok((classes, items))
}

/// The set's mode and size: the flags', else the first decodable image's.
#[derive(Debug, Clone, Copy)]
struct Target {
    channels: usize,
    h: usize,
    w: usize,
    /// Convert and resize everything (the flags were given) or refuse what differs.
    convert: bool,
    resize: bool,
}

fn open(path: &Path) -> std::result::Result<image::DynamicImage, String> {
    image::ImageReader::open(path)
        .map_err(|e| format!("cannot open: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?
        .decode()
        .map_err(|e| format!("not a decodable image: {e}"))
}

fn is_grey(img: &image::DynamicImage) -> bool {
    !img.color().has_color()
}

/// One image as CHW bytes in the target's mode and size.
fn convert(img: image::DynamicImage, t: &Target, fit: Fit) -> std::result::Result<Vec<u8>, String> {
    let grey = is_grey(&img);
    if !t.convert && (grey != (t.channels == 1)) {
        return Err(format!(
            "{} image in a {} set (pass --channels {} to convert every image)",
            if grey { "greyscale" } else { "colour" },
            if t.channels == 1 { "greyscale" } else { "colour" },
            t.channels
        ));
    }
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    if !t.resize && (w0, h0) != (t.w, t.h) {
        return Err(format!("{h0}x{w0} pixels, the set is {}x{} (pass --size HxW to fit every image)", t.h, t.w));
    }
    let img = match fit {
        _ if (w0, h0) == (t.w, t.h) => img,
        Fit::Resize => img.resize_exact(t.w as u32, t.h as u32, image::imageops::FilterType::Triangle),
        Fit::Crop => {
            let mut canvas = image::RgbImage::new(t.w as u32, t.h as u32);
            let (x, y) = ((t.w as i64 - w0 as i64) / 2, (t.h as i64 - h0 as i64) / 2);
            image::imageops::overlay(&mut canvas, &img.to_rgb8(), x, y);
            image::DynamicImage::ImageRgb8(canvas)
        }
    };
    Ok(if t.channels == 1 {
        img.to_luma8().into_raw()
    } else {
        // HWC → CHW.
        let rgb = img.to_rgb8().into_raw();
        let n = t.h * t.w;
        (0..3).flat_map(|c| (0..n).map(move |i| (c, i))).map(|(c, i)| rgb[i * 3 + c]).collect()
    })
}

/// The images as read: pixels, labels, the listed class names, the set's
/// mode and size, and the bad files met on the way.
struct Decoded {
    images: Vec<u8>,
    labels: Vec<u8>,
    names: Vec<String>,
    target: Option<Target>,
    bad: Vec<BadFile>,
}

/// Lists and decodes every file; bad files are collected, not fatal here.
fn decode_all(params: &ImportParams) -> Result<Decoded> {
    let mut bad = Vec::new();
    let (names, items) = list(&params.source, &mut bad)?;
    let mut target: Option<Target> = None;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (path, c) in &items {
        let img = match open(path) {
            Ok(i) => i,
            Err(why) => {
                bad.push(BadFile { path: path.clone(), why });
                continue;
            }
        };
        let t = *target.get_or_insert_with(|| Target {
            channels: params.channels.unwrap_or(if is_grey(&img) { 1 } else { 3 }),
            h: params.size.map_or(img.height() as usize, |s| s.h),
            w: params.size.map_or(img.width() as usize, |s| s.w),
            convert: params.channels.is_some(),
            resize: params.size.is_some(),
        });
        if images.is_empty() {
            crate::limits::images_bytes(items.len(), t.channels * t.h * t.w, "data import")?;
        }
        match convert(img, &t, params.fit) {
            Ok(px) => {
                images.extend(px);
                labels.push(*c as u8);
            }
            Err(why) => bad.push(BadFile { path: path.clone(), why }),
        }
    }
    Ok(Decoded { images, labels, names, target, bad })
}

/// The image set(s) of the decoded images: classes left without an image are
/// dropped (keeping the order), the rest split if asked.
fn build(d: Decoded, params: &ImportParams) -> Result<Imported> {
    let Decoded { images, labels, names, target, bad } = d;
    let t = target.ok_or_else(|| Error::Invalid(format!("{}: no image could be read", params.source.display())))?;
    // Classes left without an image (all bad) are dropped, keeping the order.
    let present: Vec<usize> = (0..names.len()).filter(|&c| labels.iter().any(|&l| l as usize == c)).collect();
    if present.len() < 2 {
        return Err(Error::Invalid(format!(
            "{}: {} class{} with images ({}): a classifier needs at least two",
            params.source.display(),
            present.len(),
            if present.len() == 1 { "" } else { "es" },
            present.iter().map(|&c| names[c].as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    if present.len() > MAX_CLASSES {
        return Err(Error::Invalid(format!(
            "{}: {} classes, at most {MAX_CLASSES}",
            params.source.display(),
            present.len()
        )));
    }
    let remap: BTreeMap<u8, u8> = present.iter().enumerate().map(|(new, &old)| (old as u8, new as u8)).collect();
    let labels: Vec<u8> = labels.iter().map(|l| remap[l]).collect();
    let class_names: Vec<String> = present.iter().map(|&c| names[c].clone()).collect();
    let shape = ImageShape { c: t.channels, h: t.h, w: t.w };
    let meta = |split: &str| SetMeta {
        class_names: Some(class_names.clone()),
        import: Some(ImportRecord {
            imported_from: params.source.display().to_string(),
            fit: if params.size.is_some() { format!("{:?}", params.fit).to_lowercase() } else { "none".into() },
        }),
        ..SetMeta::new(params.name.clone(), split, Source::Real)
    };
    let all = ImageSet::new(&params.source, images, labels, shape, class_names.len(), meta("train"))?;
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

/// Runs the import: every bad file is logged on a line of its own; without
/// `skip_bad` any bad file stops the import before anything is written.
/// Writes the set(s) and provenance (bad files counted).
pub fn run(params: &ImportParams) -> Result<Imported> {
    let started = std::time::Instant::now();
    if params.test_fraction.is_some() != params.test_out.is_some() {
        return Err(Error::Invalid("--test-fraction and --test-out go together".into()));
    }
    let decoded = decode_all(params)?;
    for b in &decoded.bad {
        tracing::warn!("bad file: {}: {}", b.path.display(), b.why);
    }
    if let (Some(first), false) = (decoded.bad.first(), params.skip_bad) {
        return Err(Error::Invalid(format!(
            "{}: {} bad file{} (the first: {}: {}); fix them or pass --skip-bad to leave them out",
            params.source.display(),
            decoded.bad.len(),
            if decoded.bad.len() == 1 { "" } else { "s" },
            first.path.display(),
            first.why
        )));
    }
    let imported = build(decoded, params)?;
    let mut prov = Provenance::start("data-import", params, Some(params.seed))?;
    prov.inputs.push(FileRecord {
        role: "source".into(),
        path: params.source.display().to_string(),
        blake3: imported.train.content_hash()?,
    });
    crate::artifact::image_set::write(&params.out, &imported.train)?;
    prov.output_file("train", &params.out)?;
    if let (Some(t), Some(p)) = (&imported.test, &params.test_out) {
        crate::artifact::image_set::write(p, t)?;
        prov.output_file("test", p)?;
    }
    prov.metrics.push(("bad_files".into(), imported.bad.len() as f64));
    prov.metrics.push(("classes".into(), imported.class_names.len() as f64));
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
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
}
