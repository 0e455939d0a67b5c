//! Provenance records (`*.prov.bin`), written beside every stage's outputs:
//! what ran, with which parameters, on which inputs (path + BLAKE3), what it
//! wrote (path + BLAKE3), the seed, wall time and headline metrics.
//!
//! Encoding: the 8-byte [`MAGIC`], then bincode (pinned `=1.3.3`, because
//! bincode is declared finished upstream; its version is part of
//! [`FORMAT`], so a future encoding change is detectable).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const MAGIC: &[u8; 8] = b"SMXPROV\x01";
/// Format identifier stored inside every record.
pub const FORMAT: &str = "synthmix-provenance/1 bincode-1.3.3";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// What the file is to the stage (`train`, `out`, `real`, …).
    pub role: String,
    /// As the user named it: a path or a `DATASET:SPLIT`.
    pub path: String,
    /// BLAKE3 hex of the file (or of a named dataset's canonical image-set bytes).
    pub blake3: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub format: String,
    pub stage: String,
    pub version: String,
    pub git_commit: String,
    /// The stage's full parameters as JSON (every flag, defaults included).
    pub params_json: String,
    pub seed: Option<u64>,
    pub inputs: Vec<FileRecord>,
    pub outputs: Vec<FileRecord>,
    /// Seconds since the Unix epoch when the stage started.
    pub started_unix: u64,
    pub wall_time_s: f64,
    /// Headline metrics (accuracy, FID, counts, …).
    pub metrics: Vec<(String, f64)>,
    /// Stage-specific index lists, e.g. which source images went into a mix.
    pub indices: Vec<(String, Vec<u32>)>,
}

impl Provenance {
    /// A record for `stage` with `params` (any serialisable config), started now.
    pub fn start(stage: &str, params: &impl Serialize, seed: Option<u64>) -> Result<Self> {
        Ok(Provenance {
            format: FORMAT.into(),
            stage: stage.into(),
            version: crate::VERSION.into(),
            git_commit: crate::GIT_COMMIT.into(),
            params_json: serde_json::to_string(params).map_err(|e| Error::Invalid(format!("parameters: {e}")))?,
            seed,
            inputs: vec![],
            outputs: vec![],
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            wall_time_s: 0.0,
            metrics: vec![],
            indices: vec![],
        })
    }

    /// Records an input file by hashing it.
    pub fn input_file(&mut self, role: &str, path: &Path) -> Result<()> {
        let blake3 = super::hash_file(path)?;
        self.inputs.push(FileRecord { role: role.into(), path: path.display().to_string(), blake3 });
        Ok(())
    }

    /// Records an output file by hashing it (call after it is in place).
    pub fn output_file(&mut self, role: &str, path: &Path) -> Result<()> {
        let blake3 = super::hash_file(path)?;
        self.outputs.push(FileRecord { role: role.into(), path: path.display().to_string(), blake3 });
        Ok(())
    }

    /// Records an output by the bytes about to be written to `path` (for
    /// outputs written together at the end, [`super::Staged`]).
    pub fn output_bytes(&mut self, role: &str, path: &Path, bytes: &[u8]) {
        let blake3 = blake3::hash(bytes).to_hex().to_string();
        self.outputs.push(FileRecord { role: role.into(), path: path.display().to_string(), blake3 });
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&ProvenanceJson::from(self)).expect("provenance serialises")
    }
}

/// JSON view with parameters inlined as an object (for `synthmix show`).
#[derive(Serialize)]
struct ProvenanceJson<'a> {
    format: &'a str,
    stage: &'a str,
    version: &'a str,
    git_commit: &'a str,
    params: serde_json::Value,
    seed: Option<u64>,
    inputs: &'a [FileRecord],
    outputs: &'a [FileRecord],
    started_unix: u64,
    wall_time_s: f64,
    metrics: serde_json::Map<String, serde_json::Value>,
    indices: serde_json::Map<String, serde_json::Value>,
}

impl<'a> From<&'a Provenance> for ProvenanceJson<'a> {
    fn from(p: &'a Provenance) -> Self {
        ProvenanceJson {
            format: &p.format,
            stage: &p.stage,
            version: &p.version,
            git_commit: &p.git_commit,
            params: serde_json::from_str(&p.params_json).unwrap_or(serde_json::Value::String(p.params_json.clone())),
            seed: p.seed,
            inputs: &p.inputs,
            outputs: &p.outputs,
            started_unix: p.started_unix,
            wall_time_s: p.wall_time_s,
            metrics: p.metrics.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect(),
            indices: p
                .indices
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!({ "count": v.len(), "values": v })))
                .collect(),
        }
    }
}

/// `path` as a record keeps it, never absolute, so a set's metadata and
/// provenance say nothing of the machine it was made on: relative to the
/// working folder when inside it, else `<data>/REL` inside the data folder,
/// else `…/NAME` (its last component only).
pub fn recorded_path(path: &Path, data_dir: &Path) -> String {
    let full = real_path(path).unwrap_or_else(|| path.to_path_buf());
    let under = |base: Option<PathBuf>| base.and_then(|b| full.strip_prefix(b).ok().map(Path::to_path_buf));
    if let Some(rel) = under(std::env::current_dir().ok().and_then(|d| real_path(&d))) {
        return if rel.as_os_str().is_empty() { ".".into() } else { rel.display().to_string() };
    }
    if let Some(rel) = under(real_path(data_dir)) {
        return Path::new("<data>").join(rel).display().to_string();
    }
    format!("…/{}", full.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())
}

/// The canonical path, or for a file not yet written its folder's canonical
/// path joined with its name.
fn real_path(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok().or_else(|| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    })
}

/// The provenance path beside an artifact: `x.safetensors` → `x.prov.bin`.
pub fn path_for(artifact: &Path) -> PathBuf {
    super::sibling(artifact, "prov.bin")
}

pub fn encode(p: &Provenance) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    out.extend(bincode::serialize(p).map_err(|e| Error::Invalid(format!("provenance encoding: {e}")))?);
    Ok(out)
}

pub fn write(path: &Path, p: &Provenance) -> Result<()> {
    super::write_atomic(path, &encode(p)?)
}

pub fn read(path: &Path) -> Result<Provenance> {
    decode(path, &super::input::read(path).at(path)?)
}

/// Decodes a provenance record's bytes (`path` names it in errors).
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Provenance> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| Error::format(path, "not a synthmix provenance record (bad magic)"))?;
    let p: Provenance = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .with_limit(1 << 30)
        .deserialize(body)
        .map_err(|e| Error::format(path, format!("corrupt provenance record: {}", decode_error(&e))))?;
    if p.format != FORMAT {
        return Err(Error::format(
            path,
            format!("provenance format {:?} is not supported (expected {FORMAT:?})", p.format),
        ));
    }
    Ok(p)
}

use bincode::Options as _;

/// bincode's error, readable: its I/O errors on a short record print empty.
fn decode_error(e: &bincode::Error) -> String {
    match &**e {
        bincode::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated (it ends in the middle of a field)".into()
        }
        other => other.to_string(),
    }
}
