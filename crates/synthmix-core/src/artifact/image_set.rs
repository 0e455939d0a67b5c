//! Image-set artifacts: `images` U8 `[N, C, H, W]`, `labels` U8 `[N]`, an
//! optional `synthetic` U8 `[N]`, and the metadata of [`SetMeta`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use safetensors::Dtype;

use super::st::{self, TensorBytes};
use crate::data::{ImageSet, ImageShape, SetMeta};
use crate::error::{Error, IoContext, Result};

/// Encodes a set as safetensors bytes (deterministic).
pub fn encode(set: &ImageSet) -> Result<Vec<u8>> {
    encode_marked(set, None)
}

/// [`encode`], with an optional `synthetic` U8 `[N]` tensor: 1 for each item
/// that is synthetic, 0 for a real one (`mix-build --mark-synthetic`; what
/// `clf-train --synthetic-weight` reads).
pub fn encode_marked(set: &ImageSet, synthetic: Option<&[u8]>) -> Result<Vec<u8>> {
    set.validate(Path::new("<image set>"))?;
    let meta: BTreeMap<String, String> = set.meta.to_flat(set.num_classes);
    let ImageShape { c, h, w } = set.shape;
    let mut tensors = vec![
        TensorBytes {
            name: "images".into(),
            dtype: Dtype::U8,
            shape: vec![set.len(), c, h, w],
            data: Cow::Borrowed(&set.images),
        },
        TensorBytes {
            name: "labels".into(),
            dtype: Dtype::U8,
            shape: vec![set.len()],
            data: Cow::Borrowed(&set.labels),
        },
    ];
    if let Some(flags) = synthetic {
        if flags.len() != set.len() || flags.iter().any(|&f| f > 1) {
            return Err(Error::Invalid(format!(
                "synthetic flags: {} values of 0/1 needed for {} images",
                flags.len(),
                set.len()
            )));
        }
        tensors.push(TensorBytes {
            name: "synthetic".into(),
            dtype: Dtype::U8,
            shape: vec![set.len()],
            data: Cow::Borrowed(flags),
        });
    }
    st::encode(&tensors, &meta)
}

/// The `synthetic` flags of an image-set file (see [`encode_marked`]), or
/// `None` when it has none; a malformed tensor is an error naming the file.
pub fn read_synthetic_flags(path: &Path) -> Result<Option<Vec<u8>>> {
    let bytes = super::input::read(path).at(path)?;
    let tensors = st::parse(path, &bytes)?;
    let Ok(t) = tensors.tensor("synthetic") else { return Ok(None) };
    let n = tensors.tensor("labels").map(|l| l.shape().first().copied().unwrap_or(0)).unwrap_or(0);
    if t.dtype() != Dtype::U8 || t.shape() != [n] || t.data().iter().any(|&f| f > 1) {
        return Err(Error::format(path, format!("tensor 'synthetic' must be U8 [{n}] of 0 and 1")));
    }
    Ok(Some(t.data().to_vec()))
}

/// Writes a set atomically.
pub fn write(path: &Path, set: &ImageSet) -> Result<()> {
    super::write_atomic(path, &encode(set)?)
}

/// Reads and validates an image-set artifact.
pub fn read(path: &Path) -> Result<ImageSet> {
    let bytes = super::input::read(path).at(path)?;
    decode(path, &bytes)
}

/// Validates and decodes image-set bytes; `path` names the input in errors.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<ImageSet> {
    let tensors = st::parse(path, bytes)?;
    let meta = st::metadata_of(path, bytes)?;
    st::expect_kind(path, &meta, &["image-set"])?;
    let get = |name: &str| tensors.tensor(name).map_err(|_| Error::format(path, format!("tensor '{name}' is missing")));
    let images = get("images")?;
    let labels = get("labels")?;
    for (name, t, rank) in [("images", &images, 4), ("labels", &labels, 1)] {
        if t.dtype() != Dtype::U8 {
            return Err(Error::format(path, format!("tensor '{name}' is {:?}, expected U8", t.dtype())));
        }
        if t.shape().len() != rank {
            return Err(Error::format(
                path,
                format!("tensor '{name}' has shape {:?}, expected rank {rank}", t.shape()),
            ));
        }
    }
    let (n, shape) = match images.shape() {
        &[n, c, h, w] => (n, ImageShape { c, h, w }),
        _ => unreachable!("rank checked above"),
    };
    if labels.shape()[0] != n {
        return Err(Error::format(path, format!("{n} images but {} labels", labels.shape()[0])));
    }
    let (set_meta, num_classes) = SetMeta::from_flat(path, &meta)?;
    ImageSet::new(path, images.data().to_vec(), labels.data().to_vec(), shape, num_classes, set_meta)
}

impl ImageSet {
    /// BLAKE3 of the set's canonical artifact bytes: equal for equal sets,
    /// however they were named (file or `DATASET:SPLIT`).
    pub fn content_hash(&self) -> Result<String> {
        Ok(blake3::hash(&encode(self)?).to_hex().to_string())
    }
}
