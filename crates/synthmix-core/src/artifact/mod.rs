//! The on-disk contracts (see DESIGN.md): image sets, checkpoints and
//! provenance records. Every reader validates before it trusts; every writer
//! goes through [`write_atomic`], so a crash never leaves a half-written file
//! under the real name.

pub mod checkpoint;
pub mod image_set;
pub mod provenance;
pub mod show;
pub mod st;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// `synthmix.format` written into every safetensors artifact.
pub const FORMAT_VERSION: &str = "1";

/// Writes `bytes` to `path` via a temporary file in the same folder, synced
/// and renamed into place. Creates missing parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).at(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir).at(dir)?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// `dir/stem.safetensors` → `dir/stem.SUFFIX`: logs, grids and provenance
/// records live beside the artifact they describe.
pub fn sibling(artifact: &Path, suffix: &str) -> PathBuf {
    let stem = artifact.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    artifact.with_file_name(format!("{stem}.{suffix}"))
}

/// BLAKE3 of a file's bytes, hex.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path).at(path)?;
    h.update_reader(f).at(path)?;
    Ok(h.finalize().to_hex().to_string())
}

/// What a file on disk holds, told from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    ImageSet,
    Checkpoint(String),
    Provenance,
    /// A safetensors file without a synthmix kind (e.g. dumped features).
    Safetensors(Option<String>),
}

/// Detects the kind of artifact at `path`.
pub fn detect(path: &Path) -> Result<Kind> {
    use std::io::Read;
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path).at(path)?;
    let n = f.read(&mut head).at(path)?;
    if n >= provenance::MAGIC.len() && head[..provenance::MAGIC.len()] == *provenance::MAGIC {
        return Ok(Kind::Provenance);
    }
    let meta = st::read_metadata(path)?;
    Ok(match meta.get("synthmix.kind").map(String::as_str) {
        Some("image-set") => Kind::ImageSet,
        Some(k @ ("generator" | "discriminator" | "classifier")) => Kind::Checkpoint(k.to_string()),
        other => Kind::Safetensors(other.map(str::to_string)),
    })
}
