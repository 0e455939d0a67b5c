//! The IDX format of MNIST and Fashion-MNIST (big-endian u32 header, u8 data),
//! gzip-compressed or plain.

use std::path::Path;

use super::{read_maybe_gz, ImageSet, ImageShape, SetMeta, Source};
use crate::error::{Error, Result};

pub const IMAGES_MAGIC: u32 = 0x0000_0803;
pub const LABELS_MAGIC: u32 = 0x0000_0801;

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses an IDX images file: returns (count, rows, cols, pixels).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>)> {
    if bytes.len() < 16 {
        return Err(Error::format(path, format!("IDX images file too short ({} bytes, header needs 16)", bytes.len())));
    }
    let magic = be_u32(bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(Error::format(
            path,
            format!("wrong magic 0x{magic:08x} for IDX images (expected 0x{IMAGES_MAGIC:08x})"),
        ));
    }
    let (n, r, c) = (be_u32(bytes, 4) as usize, be_u32(bytes, 8) as usize, be_u32(bytes, 12) as usize);
    // Checked: a crafted header must not wrap the product into the file's length.
    let expected = n.checked_mul(r).and_then(|x| x.checked_mul(c)).and_then(|x| x.checked_add(16));
    if expected != Some(bytes.len()) {
        let expected = expected.map(|e| format!("{e} bytes")).unwrap_or_else(|| "more bytes than exist".into());
        return Err(Error::format(
            path,
            format!("truncated or oversized: header says {n} images of {r}x{c} ({expected}), file has {}", bytes.len()),
        ));
    }
    Ok((n, r, c, bytes[16..].to_vec()))
}

/// Parses an IDX labels file.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() < 8 {
        return Err(Error::format(path, format!("IDX labels file too short ({} bytes, header needs 8)", bytes.len())));
    }
    let magic = be_u32(bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(Error::format(
            path,
            format!("wrong magic 0x{magic:08x} for IDX labels (expected 0x{LABELS_MAGIC:08x})"),
        ));
    }
    let n = be_u32(bytes, 4) as usize;
    if bytes.len() != 8 + n {
        return Err(Error::format(
            path,
            format!("truncated or oversized: header says {n} labels ({} bytes), file has {}", 8 + n, bytes.len()),
        ));
    }
    Ok(bytes[8..].to_vec())
}

/// Reads an images file and its labels file into a real 10-class set.
pub fn read_pair(images: &Path, labels: &Path) -> Result<ImageSet> {
    let (n, r, c, pixels) = parse_images(images, &read_maybe_gz(images)?)?;
    let labs = parse_labels(labels, &read_maybe_gz(labels)?)?;
    if labs.len() != n {
        return Err(Error::format(labels, format!("{} labels but {} has {n} images", labs.len(), images.display())));
    }
    let meta = SetMeta::new("", "", Source::Real);
    ImageSet::new(labels, pixels, labs, ImageShape { c: 1, h: r, w: c }, 10, meta)
}

/// Encodes images/labels as IDX bytes (used by tests and exports).
pub fn encode_images(n: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, n as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for v in [LABELS_MAGIC, labels.len() as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(labels);
    out
}
