//! Safetensors encoding and validated decoding.
//!
//! Writing is our own (~40 lines) because the `safetensors` crate serialises
//! `__metadata__` from a `HashMap`, whose order changes from run to run: we
//! promise byte-identical artifacts for identical inputs, so keys are sorted
//! here. Reading uses the `safetensors` crate, which checks the header's
//! offsets and sizes against the file.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, IoContext, Result};

/// One tensor to write: name, dtype, shape and little-endian bytes.
pub struct TensorBytes<'a> {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: std::borrow::Cow<'a, [u8]>,
}

fn dtype_name(d: Dtype) -> String {
    // Dtype's Debug form is its safetensors spelling (U8, F32, …).
    format!("{d:?}")
}

/// Encodes tensors (sorted by name) and metadata (sorted by key) as a
/// safetensors file.
pub fn encode(tensors: &[TensorBytes<'_>], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut order: Vec<&TensorBytes> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> =
        metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let mut parts = vec![format!("\"__metadata__\":{}", serde_json::Value::Object(meta))];
    let mut offset = 0usize;
    for t in &order {
        let expect = t.shape.iter().product::<usize>() * t.dtype.bitsize() / 8;
        if t.data.len() != expect {
            return Err(Error::Invalid(format!(
                "tensor '{}' has {} bytes but shape {:?} of {:?} needs {expect}",
                t.name,
                t.data.len(),
                t.shape,
                t.dtype
            )));
        }
        let info = serde_json::json!({
            "dtype": dtype_name(t.dtype),
            "shape": t.shape,
            "data_offsets": [offset, offset + t.data.len()],
        });
        parts.push(format!("{}:{}", serde_json::Value::String(t.name.clone()), info));
        offset += t.data.len();
    }
    header.clear();
    let mut json = format!("{{{}}}", parts.join(","));
    // Pad with spaces so the data starts 8-byte aligned (allowed by the format).
    while (8 + json.len()) % 8 != 0 {
        json.push(' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    for t in &order {
        out.extend_from_slice(&t.data);
    }
    Ok(out)
}

/// Validates `bytes` as safetensors, naming `path` in the error.
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))
}

/// The `__metadata__` of a safetensors file, sorted.
pub fn metadata_of(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default().into_iter().collect())
}

/// Reads only the header's metadata (validating the header as a whole).
pub fn read_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = super::input::read(path).at(path)?;
    parse(path, &bytes)?;
    metadata_of(path, &bytes)
}

/// Reads only the safetensors header's `__metadata__` (no tensor data).
pub fn header_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let v = header_json(path)?;
    Ok(v.get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default())
}

/// The safetensors header as JSON (tensor names, dtypes, shapes and the
/// metadata), read without the tensor data.
pub fn header_json(path: &Path) -> Result<serde_json::Value> {
    use std::io::Read;
    let mut f = super::input::open(path).at(path)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| Error::format(path, "too short for a safetensors file"))?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        return Err(Error::format(path, format!("safetensors header of {n} bytes is implausible")));
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf).map_err(|_| Error::format(path, "safetensors header is truncated"))?;
    serde_json::from_slice(&buf).map_err(|e| Error::format(path, format!("safetensors header is not JSON: {e}")))
}

/// Checks `synthmix.kind` and `synthmix.format` in `meta`.
pub fn expect_kind(path: &Path, meta: &BTreeMap<String, String>, kinds: &[&str]) -> Result<String> {
    let kind = meta
        .get(super::meta::KIND)
        .ok_or_else(|| Error::format(path, "no synthmix.kind in metadata: not a synthmix artifact"))?;
    if !kinds.contains(&kind.as_str()) {
        return Err(Error::format(path, format!("is a {kind}, expected {}", kinds.join(" or "))));
    }
    match meta.get(super::meta::FORMAT).map(String::as_str) {
        Some(super::FORMAT_VERSION) => Ok(kind.clone()),
        Some(v) => Err(Error::format(
            path,
            format!("synthmix.format {v} is not supported (this build reads {})", super::FORMAT_VERSION),
        )),
        None => Err(Error::format(path, "no synthmix.format in metadata")),
    }
}

/// A required metadata value.
pub fn meta_get<'m>(path: &Path, meta: &'m BTreeMap<String, String>, key: &str) -> Result<&'m str> {
    meta.get(key).map(String::as_str).ok_or_else(|| Error::format(path, format!("metadata key '{key}' is missing")))
}

/// A resume state's tensor as F32 values: refused (naming the file and the
/// tensor) unless it is F32 and every value finite.
pub fn finite_f32(path: &Path, name: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f32>> {
    if view.dtype() != safetensors::Dtype::F32 {
        return Err(Error::format(path, format!("tensor '{name}' is {:?}, expected F32", view.dtype())));
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::format(path, format!("tensor '{name}' holds NaN or infinite values")));
    }
    Ok(values)
}
