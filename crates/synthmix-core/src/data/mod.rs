//! Real datasets and the in-memory image set every stage works on.
//!
//! A set is named either by a path to an image-set artifact or by
//! `DATASET:SPLIT` (see [`DatasetName`]), resolved in the data dir.

pub mod cifar;
pub mod cifar_jpeg;
pub mod corrupt;
pub mod fetch;
pub mod idx;
pub mod import;
pub mod jpeg;
pub mod loader;
pub mod mix;
mod name;
pub mod npy;
pub mod subset;

use std::path::{Path, PathBuf};

pub use name::{Dataset, DatasetName, Split};

use crate::error::{Error, Result};

/// Channels × height × width of every image in a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl ImageShape {
    pub fn pixels(&self) -> usize {
        self.c * self.h * self.w
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.c, self.h, self.w)
    }
}

/// Where the images of a set came from (`source` in the artifact metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Real,
    Synthetic,
    Mix,
    Corrupted,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Real => "real",
            Source::Synthetic => "synthetic",
            Source::Mix => "mix",
            Source::Corrupted => "corrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "real" => Source::Real,
            "synthetic" => Source::Synthetic,
            "mix" => Source::Mix,
            "corrupted" => Source::Corrupted,
            _ => return None,
        })
    }
}

pub use crate::artifact::meta::SetMeta;

/// Labelled images as raw 0–255 pixels, `[N, C, H, W]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub shape: ImageShape,
    pub num_classes: usize,
    pub meta: SetMeta,
}

impl ImageSet {
    /// Builds a set, checking sizes and labels; `origin` names the input in errors.
    pub fn new(
        origin: &Path,
        images: Vec<u8>,
        labels: Vec<u8>,
        shape: ImageShape,
        num_classes: usize,
        meta: SetMeta,
    ) -> Result<Self> {
        let set = ImageSet { images, labels, shape, num_classes, meta };
        set.validate(origin)?;
        Ok(set)
    }

    /// Checks the invariants every reader and writer relies on.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let n = self.labels.len();
        if self.shape.pixels() == 0 {
            return Err(Error::format(origin, format!("image shape {} is empty", self.shape)));
        }
        if self.images.len() != n * self.shape.pixels() {
            return Err(Error::format(
                origin,
                format!(
                    "{} images of {} but {} labels",
                    self.images.len() as f64 / self.shape.pixels() as f64,
                    self.shape,
                    n
                ),
            ));
        }
        if self.num_classes == 0 || self.num_classes > 256 {
            return Err(Error::format(origin, format!("num_classes {} out of range 1..=256", self.num_classes)));
        }
        if let Some((i, &l)) = self.labels.iter().enumerate().find(|(_, &l)| l as usize >= self.num_classes) {
            return Err(Error::format(
                origin,
                format!("label {l} at index {i} is not below num_classes {}", self.num_classes),
            ));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.shape.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// Number of images per class, index = class.
    pub fn class_histogram(&self) -> Vec<usize> {
        let mut h = vec![0usize; self.num_classes];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }

    /// Indices of the images of each class, in set order.
    pub fn indices_by_class(&self) -> Vec<Vec<usize>> {
        let mut by = vec![Vec::new(); self.num_classes];
        for (i, &l) in self.labels.iter().enumerate() {
            by[l as usize].push(i);
        }
        by
    }

    /// A new set holding the given images, in the given order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let p = self.shape.pixels();
        let mut images = Vec::with_capacity(indices.len() * p);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        ImageSet { images, labels, shape: self.shape, num_classes: self.num_classes, meta: self.meta.clone() }
    }

    /// Human-readable class names where the dataset is known.
    pub fn class_names(&self) -> Vec<String> {
        // An imported set names its classes; the known datasets have theirs.
        if let Some(names) = &self.meta.class_names {
            if names.len() == self.num_classes {
                return names.clone();
            }
        }
        Dataset::parse(&self.meta.dataset)
            .map(|d| d.class_names().iter().map(|s| s.to_string()).collect())
            .unwrap_or_else(|| (0..self.num_classes).map(|c| c.to_string()).collect())
    }
}

/// Where datasets live and how derived ones (MNIST-C corruptions) are made.
#[derive(Debug, Clone)]
pub struct DataOptions {
    pub data_dir: PathBuf,
    /// MNIST-C severity (1–5) used when a corruption is computed, not read;
    /// `None`: each corruption's MNIST-C severity (its reference default).
    pub severity: Option<u8>,
    /// Seed of computed corruptions. Fixed by default so every stage and every
    /// classifier seed sees the same corrupted test set.
    pub corruption_seed: u64,
}

impl DataOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DataOptions { data_dir: data_dir.into(), severity: None, corruption_seed: 0 }
    }
}

/// The one rule for the data dir, used by every binary (and so by `just`):
/// `--data-dir`, else env `SYNTHMIX_DATA`, else `data/` in the current folder
/// if it holds anything, else `../shared/data` (a data folder beside the
/// clone) if that holds anything, else `data/` (where `synthmix data fetch`
/// puts the files).
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(v) = std::env::var_os("SYNTHMIX_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let local = Path::new("data");
    let shared = Path::new("../shared/data");
    let holds_data = |d: &Path| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some());
    if !holds_data(local) && holds_data(shared) {
        return shared.to_path_buf();
    }
    local.to_path_buf()
}

/// Loads an image set named by `spec`: a `DATASET:SPLIT` name or a path to an
/// image-set artifact.
pub fn load_set(spec: &str, opts: &DataOptions) -> Result<ImageSet> {
    match DatasetName::parse(spec) {
        Ok(name) => name.load(opts),
        Err(parse_err) => {
            let path = Path::new(spec);
            if path.is_dir() {
                Err(Error::format(
                    path,
                    "is a folder, not an image set (give a .safetensors image set or DATASET:SPLIT)",
                ))
            } else if path.exists() {
                crate::artifact::image_set::read(path)
            } else if spec.contains(':') {
                Err(parse_err)
            } else {
                Err(Error::NotFound(format!(
                    "{spec}: no such file, and not a dataset name (expected DATASET:SPLIT, e.g. mnist:train)"
                )))
            }
        }
    }
}

/// Reads a whole file, transparently gunzipping when it starts with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    if path.is_dir() {
        return Err(Error::format(path, "is a folder where a data file should be"));
    }
    let raw = crate::artifact::input::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The first of `candidates` (relative to `dir`) that exists, trying each
/// with and without `.gz`. A folder in a data file's place is returned too,
/// so that reading it says so instead of "not found".
pub(crate) fn find_file(dir: &Path, candidates: &[String]) -> Option<PathBuf> {
    for c in candidates {
        for name in [format!("{c}.gz"), c.clone()] {
            let p = dir.join(&name);
            if p.exists() {
                return Some(p);
            }
        }
    }
    None
}

/// Writes the set named by `spec` (a `DATASET:SPLIT` or a file) as an
/// image-set artifact at `out`, with a provenance record beside it.
pub fn export(spec: &str, opts: &DataOptions, out: &Path) -> Result<ImageSet> {
    use crate::artifact::{image_set, provenance};
    let started = std::time::Instant::now();
    let set = load_set(spec, opts)?;
    // The severity a computed corruption used (its own default unless given).
    let severity = set.meta.corruption.as_ref().and_then(|c| c.severity).or(opts.severity);
    let params = serde_json::json!({
        "input": spec,
        "out": out.display().to_string(),
        "severity": severity,
        "corruption_seed": opts.corruption_seed,
    });
    let mut prov = provenance::Provenance::start("data-export", &params, None)?;
    prov.inputs.push(provenance::FileRecord { role: "input".into(), path: spec.into(), blake3: set.content_hash()? });
    image_set::write(out, &set)?;
    prov.output_file("out", out)?;
    prov.wall_time_s = started.elapsed().as_secs_f64();
    prov.metrics.push(("images".into(), set.len() as f64));
    provenance::write(&provenance::path_for(out), &prov)?;
    Ok(set)
}

/// Whether images of shape `s` can be fitted to a model's input `target`
/// (see [`fit_to_shape`]), checked before any work.
pub fn check_fit(s: ImageShape, target: ImageShape) -> Result<()> {
    let channels_ok = s.c == target.c || (s.c == 1 && target.c > 1);
    if s != target
        && (!channels_ok || s.h > target.h || s.w > target.w || (target.h - s.h) % 2 != 0 || (target.w - s.w) % 2 != 0)
    {
        return Err(Error::Invalid(format!(
            "images of {s} cannot be fitted to the model's input {target} (only 1→3 channel repeat and symmetric zero-padding)"
        )));
    }
    Ok(())
}

/// Adapts a set to a model's input shape: a 1-channel set is repeated over 3
/// channels, and smaller images are zero-padded symmetrically (e.g. 28×28
/// Fashion-MNIST to the Deep CNN's 3×32×32). Anything else is an error.
pub fn fit_to_shape(set: &ImageSet, target: ImageShape) -> Result<std::borrow::Cow<'_, ImageSet>> {
    let s = set.shape;
    if s == target {
        return Ok(std::borrow::Cow::Borrowed(set));
    }
    check_fit(s, target)?;
    let (py, px) = ((target.h - s.h) / 2, (target.w - s.w) / 2);
    let mut images = vec![0u8; set.len() * target.pixels()];
    for i in 0..set.len() {
        let src = set.image(i);
        let dst = &mut images[i * target.pixels()..(i + 1) * target.pixels()];
        for c in 0..target.c {
            let sc = if s.c == 1 { 0 } else { c };
            for y in 0..s.h {
                let from = &src[(sc * s.h + y) * s.w..(sc * s.h + y + 1) * s.w];
                let at = (c * target.h + y + py) * target.w + px;
                dst[at..at + s.w].copy_from_slice(from);
            }
        }
    }
    let mut out = ImageSet {
        images,
        labels: set.labels.clone(),
        shape: target,
        num_classes: set.num_classes,
        meta: set.meta.clone(),
    };
    out.meta.fitted_from = Some(s.to_string());
    Ok(std::borrow::Cow::Owned(out))
}

/// Images `indices` as F32 `[n, C, H, W]` scaled to [0, 1].
pub fn batch_tensor(set: &ImageSet, indices: &[usize], device: &candle_core::Device) -> Result<candle_core::Tensor> {
    pixels_tensor(batch_pixels(set, indices), set.shape, device)
}

/// [`batch_tensor`]'s values, on the host (what the batch loader prepares
/// ahead; the device is only touched by the thread that trains).
pub fn batch_pixels(set: &ImageSet, indices: &[usize]) -> Vec<f32> {
    let mut buf = Vec::with_capacity(indices.len() * set.shape.pixels());
    for &i in indices {
        buf.extend(set.image(i).iter().map(|&v| v as f32 * (1.0 / 255.0)));
    }
    buf
}

/// Host pixels (whole images of `shape`) as an `[n, C, H, W]` tensor.
pub fn pixels_tensor(pixels: Vec<f32>, shape: ImageShape, device: &candle_core::Device) -> Result<candle_core::Tensor> {
    let ImageShape { c, h, w } = shape;
    let n = pixels.len() / shape.pixels().max(1);
    Ok(candle_core::Tensor::from_vec(pixels, (n, c, h, w), device)?)
}
