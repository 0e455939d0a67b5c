//! The on-disk contracts (see DESIGN.md): image sets, checkpoints and
//! provenance records. Every reader validates before it trusts; every writer
//! goes through [`write_atomic`], so a crash never leaves a half-written file
//! under the real name.

pub mod checkpoint;
pub mod image_set;
pub mod input;
pub mod meta;
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
    let tmp = temp_beside(path, bytes)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// `bytes` in a synced temporary file in `path`'s folder (created if
/// missing), removed when dropped unless persisted.
fn temp_beside(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).at(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Mode 0666 at creation: the kernel applies the umask, as for any new file
    // (tempfile's own default is 0600).
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .at(dir)?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    Ok(tmp)
}

/// The files of one command written all or none: each is written to a
/// temporary beside its destination, and only once every one is written are
/// they renamed into place (a rename within a folder does not run out of
/// space or permission halfway). Dropped before [`Staged::commit`], the
/// temporaries are removed and nothing is written.
#[derive(Default)]
pub struct Staged(Vec<(tempfile::NamedTempFile, PathBuf)>);

impl Staged {
    /// Writes `bytes` for `path` to a temporary.
    pub fn add(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.0.push((temp_beside(path, bytes)?, path.to_path_buf()));
        Ok(())
    }

    /// Renames every temporary into place, in the order added.
    pub fn commit(self) -> Result<()> {
        for (tmp, path) in self.0 {
            tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        }
        Ok(())
    }
}

/// What a stage will write: its `--out` (named by `flag`) and the side files
/// beside it (log, provenance, optimiser state, grids).
pub struct Outputs<'a> {
    pub flag: &'a str,
    pub out: &'a Path,
    pub side: Vec<PathBuf>,
}

/// Checked before a stage reads or computes anything: its output is not a
/// folder, its folder can be created and written, and neither the output nor
/// a side file is one of `inputs` ((flag, path) pairs; names such as
/// `mnist:train` are skipped) or lies inside one of the data dir's dataset
/// folders, so no run can overwrite what it reads.
pub fn check_outputs(o: &Outputs, inputs: &[(&str, &Path)], data_dir: Option<&Path>) -> Result<()> {
    if o.out.is_dir() {
        return Err(Error::Invalid(format!("{} {}: is a folder; give a file name", o.flag, o.out.display())));
    }
    // The nearest folder that exists: the stage creates the rest when it writes.
    let mut dir = match o.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    while !dir.exists() {
        dir = match dir.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
    }
    if !dir.is_dir() {
        return Err(Error::Invalid(format!("{} {}: {} is not a folder", o.flag, o.out.display(), dir.display())));
    }
    tempfile::Builder::new()
        .prefix(".synthmix-write-test.")
        .tempfile_in(dir)
        .map_err(|e| Error::Invalid(format!("{} {}: its folder is not writable ({e})", o.flag, o.out.display())))?;
    let datasets: Vec<PathBuf> = data_dir
        .map(|d| ["mnist", "fashion-mnist", "cifar-10", "mnist-c"].iter().map(|n| d.join(n)).collect())
        .unwrap_or_default();
    let datasets: Vec<PathBuf> = datasets.iter().filter_map(|d| d.canonicalize().ok()).collect();
    for f in std::iter::once(o.out).chain(o.side.iter().map(PathBuf::as_path)) {
        let Some(canon) = canonical_target(f) else { continue };
        for (flag, input) in inputs {
            if input.canonicalize().is_ok_and(|i| i == canon) {
                let what = if f == o.out { String::new() } else { format!(" (through {})", f.display()) };
                return Err(Error::Invalid(format!(
                    "{} {} would overwrite the input {flag} {}{what}; choose another output",
                    o.flag,
                    o.out.display(),
                    input.display()
                )));
            }
        }
        if let Some(d) = datasets.iter().find(|d| canon.starts_with(d)) {
            return Err(Error::Invalid(format!(
                "{} {}: would write into the dataset folder {}, which holds real data; choose another output",
                o.flag,
                o.out.display(),
                d.display()
            )));
        }
    }
    Ok(())
}

/// The absolute path a file would have once written (its folder resolved,
/// symlinks followed), whether or not it exists yet.
/// Whether two paths name the same file (either may not exist yet).
pub fn same_file(a: &Path, b: &Path) -> bool {
    matches!((canonical_target(a), canonical_target(b)), (Some(x), Some(y)) if x == y)
}

fn canonical_target(f: &Path) -> Option<PathBuf> {
    if let Ok(c) = f.canonicalize() {
        return Some(c);
    }
    let dir = match f.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(f.file_name()?))
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
    let f = input::open(path).at(path)?;
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
    let mut f = input::open(path).at(path)?;
    let n = f.read(&mut head).at(path)?;
    if n >= provenance::MAGIC.len() && head[..provenance::MAGIC.len()] == *provenance::MAGIC {
        return Ok(Kind::Provenance);
    }
    // Named as a provenance record but without its magic: say so, not "not safetensors".
    if path.to_string_lossy().ends_with(".prov.bin") {
        return Err(Error::format(path, "not a synthmix provenance record (bad magic)"));
    }
    let meta = st::read_metadata(path)?;
    Ok(match meta.get(meta::KIND).map(String::as_str) {
        Some("image-set") => Kind::ImageSet,
        Some(k @ ("generator" | "discriminator" | "classifier")) => Kind::Checkpoint(k.to_string()),
        other => Kind::Safetensors(other.map(str::to_string)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_are_written_all_or_none() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a.bin"), t.path().join("sub/b.bin"));
        let mut s = Staged::default();
        s.add(&a, b"first").unwrap();
        // The second destination cannot be written (its folder is a file):
        // the first, already staged, never appears, and no temporary is left.
        std::fs::write(t.path().join("file"), b"").unwrap();
        assert!(s.add(&t.path().join("file/c.bin"), b"x").is_err());
        drop(s);
        assert_eq!(names(t.path()), ["file"]);
        let mut s = Staged::default();
        s.add(&a, b"first").unwrap();
        s.add(&b, b"second").unwrap();
        assert!(!a.exists() && !b.exists(), "nothing in place before the commit");
        s.commit().unwrap();
        assert_eq!((std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()), (b"first".to_vec(), b"second".to_vec()));
        assert_eq!(names(t.path()), ["a.bin", "file", "sub"]);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }
}
