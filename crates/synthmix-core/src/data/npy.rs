//! NumPy `.npy` files as MNIST-C ships them: `{train,test}_images.npy`
//! (uint8 `[N, 28, 28, 1]`) and `{train,test}_labels.npy` (integer `[N]`).

use std::path::Path;

use super::{read_maybe_gz, ImageSet, ImageShape, SetMeta, Source};
use crate::error::{Error, Result};

/// A parsed array: dtype descriptor, shape, raw little-endian data.
#[derive(Debug)]
pub struct Npy {
    pub descr: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Parses `.npy` bytes (format versions 1–3, C order only).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Npy> {
    let bad = |m: String| Error::format(path, m);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (missing \\x93NUMPY magic)".into()));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or_else(|| bad(format!("header length {hlen} runs past the end of the file")))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    let descr = header_field(header, "descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| bad("header has no 'descr'".into()))?
        .to_string();
    if header_field(header, "fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err(bad("Fortran-order arrays are not supported".into()));
    }
    let shape_txt = header_field(header, "shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| bad("header has no 'shape'".into()))?;
    let shape = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(format!("bad shape entry '{s}'"))))
        .collect::<Result<Vec<_>>>()?;
    let itemsize: usize =
        descr.get(2..).and_then(|s| s.parse().ok()).ok_or_else(|| bad(format!("unsupported dtype '{descr}'")))?;
    let data = &bytes[hstart + hlen..];
    let expected = shape.iter().product::<usize>() * itemsize;
    if data.len() != expected {
        return Err(bad(format!(
            "truncated or oversized: shape {shape:?} of {descr} needs {expected} data bytes, file has {}",
            data.len()
        )));
    }
    Ok(Npy { descr, shape, data: data.to_vec() })
}

impl Npy {
    /// Values as u8, accepting any little-endian integer dtype whose values fit.
    pub fn to_u8(&self, path: &Path) -> Result<Vec<u8>> {
        let kind = self.descr.as_bytes().get(1).copied();
        let size: usize = self.descr[2..].parse().unwrap_or(0);
        if !matches!(kind, Some(b'u') | Some(b'i')) || self.descr.starts_with('>') && size > 1 {
            return Err(Error::format(path, format!("dtype '{}' is not a little-endian integer type", self.descr)));
        }
        self.data
            .chunks_exact(size)
            .enumerate()
            .map(|(i, b)| {
                let mut v = [0u8; 8];
                v[..size].copy_from_slice(b);
                let negative = kind == Some(b'i') && b[size - 1] & 0x80 != 0;
                let x = u64::from_le_bytes(v);
                if negative || x > 255 {
                    Err(Error::format(path, format!("value at index {i} does not fit in 0..=255")))
                } else {
                    Ok(x as u8)
                }
            })
            .collect()
    }
}

/// Encodes a uint8 array as `.npy` version 1 (tests and exports).
pub fn encode_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Reads an MNIST-C images/labels pair. Images may be `[N, H, W]` or `[N, H, W, C]`
/// (channels-last, as MNIST-C ships); they are stored as `[N, C, H, W]`.
pub fn read_mnist_c(images: &Path, labels: &Path) -> Result<ImageSet> {
    let img = parse(images, &read_maybe_gz(images)?)?;
    let lab = parse(labels, &read_maybe_gz(labels)?)?;
    if img.descr != "|u1" && img.descr != "<u1" {
        return Err(Error::format(images, format!("images must be uint8, found dtype '{}'", img.descr)));
    }
    let (n, h, w, c) = match img.shape[..] {
        [n, h, w] => (n, h, w, 1),
        [n, h, w, c] => (n, h, w, c),
        _ => return Err(Error::format(images, format!("images shape {:?} is not [N, H, W(, C)]", img.shape))),
    };
    if lab.shape != [n] {
        return Err(Error::format(
            labels,
            format!("labels shape {:?} does not match {n} images in {}", lab.shape, images.display()),
        ));
    }
    let mut chw = vec![0u8; img.data.len()];
    for i in 0..n {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    chw[((i * c + ch) * h + y) * w + x] = img.data[((i * h + y) * w + x) * c + ch];
                }
            }
        }
    }
    let meta = SetMeta::new("", "", Source::Corrupted);
    ImageSet::new(labels, chw, lab.to_u8(labels)?, ImageShape { c, h, w }, 10, meta)
}
