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
use std::path::{Component, Path, PathBuf};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{ImageSet, ImageShape, SetMeta, Source};
use crate::artifact::meta::ImportRecord;
use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::artifact::{image_set, Outputs, Staged};
use crate::error::{Error, IoContext, Result};
use crate::rng;

/// Extensions read as images (what the image crate decodes here).
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];
/// Labels are stored as one byte (the image-set format's U8 labels), which
/// holds 256 class indices, 0 to 255.
pub const MAX_CLASSES: usize = 1 << u8::BITS;

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
    /// Let a CSV name images outside its own folder (absolute paths, `..`).
    #[serde(default)]
    pub allow_outside: bool,
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
fn list(params: &ImportParams, bad: &mut Vec<BadFile>) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let source = &params.source;
    if source.is_dir() {
        list_folders(source, bad)
    } else if source.is_file() {
        list_csv(source, params.allow_outside)
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
        // Lossy, not "?" for every non-UTF-8 name: distinct folders stay distinct.
        let name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
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

fn list_csv(csv: &Path, allow_outside: bool) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv)
        .map_err(|e| Error::format(csv, format!("cannot read as CSV: {e}")))?;
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::format(csv, format!("line {}: {e}", i + 1)))?;
        // The record's first line (a quoted cell may span lines).
        let line = rec.position().map_or(i + 1, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        let (path, label) = match (rec.get(0), rec.get(1), rec.len()) {
            (Some(p), Some(l), 2) => (p.trim(), l.trim()),
            _ => return Err(Error::format(csv, format!("line {line}: expected two columns, path,label"))),
        };
        if i == 0 && path.eq_ignore_ascii_case("path") && label.eq_ignore_ascii_case("label") {
            continue;
        }
        if path.is_empty() || label.is_empty() {
            return Err(Error::format(csv, format!("line {line}: empty path or label")));
        }
        if let (Some(why), false) = (outside(Path::new(path)), allow_outside) {
            return Err(Error::format(
                csv,
                format!("line {line}: image path '{path}' {why}; pass --allow-outside to read images outside it"),
            ));
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

/// Why a CSV's image path is not inside the CSV's folder (absolute, or
/// climbing out of it by `..`), told from the path's text alone: the CSV's
/// cells are what anyone may write; links in the folder are its owner's.
fn outside(rel: &Path) -> Option<&'static str> {
    let mut depth: usize = 0;
    for c in rel.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Some("is absolute, not under the CSV's folder"),
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Some("leaves the CSV's folder"),
            },
            Component::Normal(_) => depth = depth.saturating_add(1),
            Component::CurDir => {}
        }
    }
    None
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

/// Refuses an image from its header, before any pixel is decoded: too many
/// pixels to decode, or (without `--size`) not the set's size.
fn check_header(w: u64, h: u64, t: Option<&Target>) -> std::result::Result<(), String> {
    let pixels = w.checked_mul(h).unwrap_or(u64::MAX);
    if pixels > crate::limits::MAX_SOURCE_PIXELS || w == 0 || h == 0 {
        return Err(format!(
            "{h}x{w} pixels: not decoded (an image must have 1 to {} pixels)",
            crate::limits::MAX_SOURCE_PIXELS
        ));
    }
    match t {
        Some(t) if !t.resize && (u64::try_from(t.w), u64::try_from(t.h)) != (Ok(w), Ok(h)) => {
            Err(format!("{h}x{w} pixels, the set is {}x{} (pass --size HxW to fit every image)", t.h, t.w))
        }
        _ => Ok(()),
    }
}

/// Decodes one image file, its header checked first ([`check_header`]). A
/// damaged or truncated file is an error, never an image partly filled in.
fn open(path: &Path, t: Option<&Target>) -> std::result::Result<image::DynamicImage, String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| format!("cannot open: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        return open_jpeg(path, t);
    }
    let decoder = reader.into_decoder().map_err(|e| format!("not a decodable image: {e}"))?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    check_header(u64::from(w), u64::from(h), t)?;
    image::DynamicImage::from_decoder(decoder).map_err(|e| format!("not a decodable image: {e}"))
}

/// A JPEG through zune-jpeg (the image crate's own JPEG decoder) in strict
/// mode: the image crate runs it lenient, which decodes a truncated file with
/// the missing part grey and only logs a warning.
fn open_jpeg(path: &Path, t: Option<&Target>) -> std::result::Result<image::DynamicImage, String> {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let options = DecoderOptions::default().set_strict_mode(true).set_max_width(usize::MAX).set_max_height(usize::MAX);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes.as_slice()), options);
    let bad = |e: zune_jpeg::errors::DecodeErrors| format!("not a decodable image (damaged or truncated JPEG): {e}");
    d.decode_headers().map_err(bad)?;
    let (w, h) = d.dimensions().ok_or("not a decodable image: no JPEG header")?;
    let (w, h) = (u32::try_from(w).map_err(|_| "too wide")?, u32::try_from(h).map_err(|_| "too high")?);
    check_header(u64::from(w), u64::from(h), t)?;
    // The colour spaces the image crate keeps; any other becomes RGB, as there.
    let space = match d.input_colorspace() {
        Some(s @ (ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA)) => s,
        _ => ColorSpace::RGB,
    };
    d.set_options(d.options().jpeg_set_out_colorspace(space));
    let px = d.decode().map_err(bad)?;
    use image::DynamicImage as D;
    let img = match space {
        ColorSpace::Luma => image::ImageBuffer::from_raw(w, h, px).map(D::ImageLuma8),
        ColorSpace::LumaA => image::ImageBuffer::from_raw(w, h, px).map(D::ImageLumaA8),
        ColorSpace::RGBA => image::ImageBuffer::from_raw(w, h, px).map(D::ImageRgba8),
        _ => image::ImageBuffer::from_raw(w, h, px).map(D::ImageRgb8),
    };
    img.ok_or_else(|| "not a decodable image: fewer pixels than its header says".into())
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
    // The header check ([`check_header`]) refused any other size without --size.
    let (w0, h0) = (img.width() as usize, img.height() as usize);
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

/// The images as read: pixels, each image's index into the listed class
/// names (in a type that holds any count listed), the set's mode and size,
/// and the bad files met on the way.
struct Decoded {
    images: Vec<u8>,
    classes: Vec<usize>,
    names: Vec<String>,
    target: Option<Target>,
    bad: Vec<BadFile>,
}

/// Decodes every listed file; bad files are collected, not fatal here.
fn decode_all(
    params: &ImportParams,
    names: Vec<String>,
    items: &[(PathBuf, usize)],
    bad: Vec<BadFile>,
) -> Result<Decoded> {
    let mut d = Decoded { images: Vec::new(), classes: Vec::new(), names, target: None, bad };
    for (path, c) in items {
        let img = match open(path, d.target.as_ref()) {
            Ok(i) => i,
            Err(why) => {
                d.bad.push(BadFile { path: path.clone(), why });
                continue;
            }
        };
        let t = *d.target.get_or_insert_with(|| Target {
            channels: params.channels.unwrap_or(if is_grey(&img) { 1 } else { 3 }),
            h: params.size.map_or(img.height() as usize, |s| s.h),
            w: params.size.map_or(img.width() as usize, |s| s.w),
            convert: params.channels.is_some(),
            resize: params.size.is_some(),
        });
        if d.images.is_empty() {
            crate::limits::images_bytes(items.len(), t.channels * t.h * t.w, "data import")?;
        }
        match convert(img, &t, params.fit) {
            Ok(px) => {
                d.images.extend(px);
                d.classes.push(*c);
            }
            Err(why) => d.bad.push(BadFile { path: path.clone(), why }),
        }
    }
    Ok(d)
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
fn build(d: Decoded, params: &ImportParams) -> Result<Imported> {
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
fn write(params: &ImportParams, imported: &Imported, started: std::time::Instant) -> Result<()> {
    let mut prov = Provenance::start("data-import", params, Some(params.seed))?;
    prov.inputs.push(FileRecord {
        role: "source".into(),
        path: params.source.display().to_string(),
        blake3: imported.train.content_hash()?,
    });
    let mut staged = Staged::default();
    let train = image_set::encode(&imported.train)?;
    staged.add(&params.out, &train)?;
    prov.output_bytes("train", &params.out, &train);
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
    let imported = build(decoded, params)?;
    write(params, &imported, started)?;
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
    fn csv_paths_outside_the_csv_folder_are_told_from_their_text() {
        for inside in ["a.png", "cls/a.png", "./a.png", "cls/../a.png", "a/b/../../c.png", "..a.png"] {
            assert_eq!(outside(Path::new(inside)), None, "{inside}");
        }
        for (out, why) in [
            ("../x.png", "leaves"),
            ("../../../x.png", "leaves"),
            ("cls/../../x.png", "leaves"),
            ("a/./../b/../../x.png", "leaves"),
            ("/etc/x.png", "absolute"),
        ] {
            assert!(outside(Path::new(out)).is_some_and(|w| w.contains(why)), "{out}");
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

    #[test]
    fn headers_past_the_pixel_cap_or_of_another_size_are_refused() {
        assert!(check_header(20_000, 20_000, None).unwrap_err().contains("not decoded"));
        assert!(check_header(u64::from(u32::MAX), u64::from(u32::MAX), None).is_err());
        assert!(check_header(0, 28, None).is_err());
        assert_eq!(check_header(8192, 8192, None), Ok(()));
        let t = Target { channels: 1, h: 28, w: 28, convert: false, resize: false };
        assert_eq!(check_header(28, 28, Some(&t)), Ok(()));
        assert!(check_header(20, 28, Some(&t)).unwrap_err().contains("28x20 pixels, the set is 28x28"));
        assert_eq!(check_header(20, 28, Some(&Target { resize: true, ..t })), Ok(()));
    }
}
