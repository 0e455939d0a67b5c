//! The content-addressed cache under the artifacts folder.
//!
//! ```text
//! artifacts/
//!   .lock                      held (flock) by the one runner using this folder
//!   store/ab/abcdef…           every output file ever made, named by its BLAKE3, read-only
//!   cache/ke/key….json         one record per cache key: the files a target made
//!   state/PIPELINE/TARGET.json the record last placed for a target (for "why does it run")
//!   .staging/TARGET/…          where a running stage writes; never read as a result
//!   logs/PIPELINE/TARGET.log   each stage's stdout and stderr
//! ```
//!
//! Outputs are placed as read-only copies of their store objects (the kernel
//! may share the blocks), each stamped with its object's modification time:
//! editing an output can never change the store, and an edited output (its
//! size or time changed) is restored on the next run. The store is trusted
//! only after a hash: an object to be placed is re-hashed first and its copy
//! after, and one that is damaged or not a plain file is never served (its
//! target is rebuilt). `--verify` re-hashes every stored object and placed
//! output instead of trusting size and time.
//!
//! A target's key is the BLAKE3 of its stage, the stage's version, its
//! arguments (outputs written as `$OUT/REL`), its parameters and the content
//! hashes of its inputs. A record is written only after the command succeeded,
//! every file it read still has the hash its key holds, and every file it
//! wrote is in the store, so a run killed at any moment leaves no partial
//! result in the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const FORMAT: &str = "synthmix-cache/1";

/// Everything that decides a target's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Components {
    pub stage: String,
    pub stage_version: String,
    pub args: Vec<String>,
    pub params: BTreeMap<String, String>,
    /// (reference, BLAKE3) per input, in declaration order.
    pub inputs: Vec<(String, String)>,
}

impl Components {
    pub fn key(&self) -> String {
        let json = serde_json::to_string(&(FORMAT, self)).expect("components serialise");
        blake3::hash(json.as_bytes()).to_hex().to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to the pipeline's out folder.
    pub path: PathBuf,
    pub blake3: String,
    pub bytes: u64,
    /// Declared in the spec (as opposed to a side file such as `x.prov.bin`).
    pub declared: bool,
}

/// What a successful run of a target produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub format: String,
    pub key: String,
    pub target: String,
    pub pipeline: String,
    pub components: Components,
    pub outputs: Vec<OutputFile>,
    pub wall_time_s: f64,
    pub finished_unix: u64,
    /// CPU seconds of the stage's process (see [`super::cost`]); absent in
    /// records of older runs and where the platform does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time_s: Option<f64>,
    /// The threads it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// It resumed an interrupted run: its times cover only the last part.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

/// What the store holds for a key.
#[derive(Debug)]
pub enum Found {
    /// Every object of the record is there and sound.
    Intact(Record),
    /// A record whose objects are damaged: how.
    Damaged(String),
    /// No record, or an object is gone.
    Missing,
}

/// The artifacts folder's cache.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

fn fan(dir: &Path, h: &str) -> PathBuf {
    dir.join(&h[..2.min(h.len())]).join(h)
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    pub fn object(&self, hash: &str) -> PathBuf {
        fan(&self.root.join("store"), hash)
    }

    fn record_path(&self, key: &str) -> PathBuf {
        fan(&self.root.join("cache"), &format!("{key}.json"))
    }

    fn state_path(&self, pipeline: &str, target: &str) -> PathBuf {
        self.root.join("state").join(pipeline).join(format!("{target}.json"))
    }

    fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
        match crate::artifact::input::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::format(path, format!("corrupt cache record ({e}); delete it to rebuild"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The record for `key`, judged by its store objects: each must be a
    /// plain file (never a link) of the recorded size, and one that must be
    /// copied into `out` (or, with `verify`, every one) is re-hashed. A
    /// damaged record is never served: its target is rebuilt, and
    /// [`Cache::commit`] replaces the bad object.
    pub fn lookup(&self, key: &str, out: &Path, verify: bool) -> Result<Found> {
        let Some(r) = Self::read_json::<Record>(&self.record_path(key))? else {
            return Ok(Found::Missing);
        };
        for o in &r.outputs {
            let obj = self.object(&o.blake3);
            let meta = match std::fs::symlink_metadata(&obj) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
                Err(e) => return Err(Error::io(&obj, e)),
            };
            let damaged = if !meta.file_type().is_file() {
                Some("is not a plain file")
            } else if meta.len() != o.bytes {
                Some("changed size")
            } else if (verify || !placed(&obj, &out.join(&o.path), o, false))
                && crate::artifact::hash_file(&obj)? != o.blake3
            {
                Some("changed")
            } else {
                None
            };
            if let Some(how) = damaged {
                return Ok(Found::Damaged(format!("{} {how} in the store", o.path.display())));
            }
        }
        Ok(Found::Intact(r))
    }

    /// The outputs of `r` placed under `out` whose bytes are not the
    /// recorded ones (re-hashed; a missing one is not damaged).
    pub fn damaged_in_place(&self, r: &Record, out: &Path) -> Vec<PathBuf> {
        let differs = |o: &OutputFile| {
            let dst = out.join(&o.path);
            std::fs::symlink_metadata(&dst).is_ok() && !placed(&self.object(&o.blake3), &dst, o, true)
        };
        r.outputs.iter().filter(|o| differs(o)).map(|o| o.path.clone()).collect()
    }

    pub fn has_record(&self, key: &str) -> bool {
        self.record_path(key).is_file()
    }

    /// The record last placed for a target of a pipeline.
    pub fn last_state(&self, pipeline: &str, target: &str) -> Result<Option<Record>> {
        Self::read_json(&self.state_path(pipeline, target))
    }

    pub fn write_state(&self, r: &Record) -> Result<()> {
        let json = serde_json::to_string_pretty(r).expect("record serialises");
        crate::artifact::write_atomic(&self.state_path(&r.pipeline, &r.target), json.as_bytes())
    }

    /// Moves every file under `staging` into the store and writes the record.
    /// `declared` lists the staging-relative paths the spec declares; each
    /// must exist.
    pub fn commit(&self, staging: &Path, declared: &[PathBuf], mut record: Record) -> Result<Record> {
        for d in declared {
            if !staging.join(d).is_file() {
                return Err(Error::Invalid(format!(
                    "the command succeeded but did not write its declared output {}",
                    d.display()
                )));
            }
        }
        let mut files = Vec::new();
        walk(staging, &mut files)?;
        files.sort();
        let mut outputs = Vec::new();
        for f in files {
            let rel = f.strip_prefix(staging).expect("under staging").to_path_buf();
            let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with('.') && name.ends_with(".tmp") {
                continue; // an atomic writer's leftover temporary
            }
            let hash = crate::artifact::hash_file(&f)?;
            let bytes = std::fs::metadata(&f).at(&f)?.len();
            let obj = self.object(&hash);
            // An object that is not a plain file, or whose bytes no longer
            // match its name, is never reused.
            let kind = std::fs::symlink_metadata(&obj).map(|m| m.file_type());
            if kind.as_ref().is_ok_and(|k| !k.is_file()) || (kind.is_ok() && crate::artifact::hash_file(&obj)? != hash)
            {
                remove_object(&obj)?;
            }
            if std::fs::symlink_metadata(&obj).is_ok() {
                std::fs::remove_file(&f).at(&f)?;
            } else {
                let dir = obj.parent().expect("fanned out");
                std::fs::create_dir_all(dir).at(dir)?;
                // Read-only for everyone: nothing may change a stored object.
                std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o444)).at(&f)?;
                std::fs::rename(&f, &obj).at(&obj)?;
            }
            outputs.push(OutputFile { declared: declared.contains(&rel), path: rel, blake3: hash, bytes });
        }
        record.outputs = outputs;
        let json = serde_json::to_string_pretty(&record).expect("record serialises");
        crate::artifact::write_atomic(&self.record_path(&record.key), json.as_bytes())?;
        Ok(record)
    }

    /// Whether every output of `r` is in place under `out` (with `verify`:
    /// re-hashed, not judged by size and time).
    pub fn in_place(&self, r: &Record, out: &Path, verify: bool) -> bool {
        r.outputs.iter().all(|o| placed(&self.object(&o.blake3), &out.join(&o.path), o, verify))
    }

    /// Copies every output of `r` that is not in place into place under
    /// `out`; returns how many files had to be placed.
    pub fn place(&self, r: &Record, out: &Path, verify: bool) -> Result<usize> {
        let mut n = 0;
        for o in &r.outputs {
            let obj = self.object(&o.blake3);
            let dst = out.join(&o.path);
            if placed(&obj, &dst, o, verify) {
                continue;
            }
            let dir = match dst.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&dir).at(&dir)?;
            let tmp = dir.join(format!(
                ".{}.synthmix-place.tmp",
                dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            let _ = std::fs::remove_file(&tmp);
            // A copy, never a hard link: editing the output must not reach
            // the store. Hashed: only the recorded bytes are ever placed.
            if !std::fs::symlink_metadata(&obj).at(&obj)?.file_type().is_file() {
                return Err(Error::Invalid(format!("{}: a store object that is not a plain file", obj.display())));
            }
            std::fs::copy(&obj, &tmp).at(&tmp)?;
            if crate::artifact::hash_file(&tmp)? != o.blake3 {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::Invalid(format!(
                    "{}: the stored copy of {} changed while it was placed; run again",
                    obj.display(),
                    o.path.display()
                )));
            }
            let stamp = std::fs::metadata(&obj).and_then(|m| m.modified()).at(&obj)?;
            let f = std::fs::File::options().write(true).open(&tmp).at(&tmp)?;
            f.set_modified(stamp).at(&tmp)?;
            drop(f);
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o444)).at(&tmp)?;
            std::fs::rename(&tmp, &dst).at(&dst)?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes what a killed run can leave: the atomic writers'
    /// `.NAME.RANDOM.tmp` in the cache, state and store folders,
    /// [`Cache::place`]'s `.NAME.synthmix-place.tmp` under `out`, and store
    /// objects no record refers to (a run killed inside [`Cache::commit`],
    /// after moving some files into the store and before writing the
    /// record). Only call it holding the artifacts folder's lock. Returns how
    /// many files were removed.
    pub fn sweep(&self, out: &Path) -> Result<usize> {
        let mut n = 0;
        for obj in self.unreferenced_objects()? {
            remove_object(&obj)?;
            n += 1;
        }
        n += self.sweep_key_temporaries()?;
        for (dir, suffix) in [
            (self.root.join("cache"), ".tmp"),
            (self.root.join("state"), ".tmp"),
            (self.root.join("store"), ".tmp"),
            (out.to_path_buf(), ".synthmix-place.tmp"),
        ] {
            let mut files = Vec::new();
            walk(&dir, &mut files)?;
            for f in files {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if name.starts_with('.') && name.ends_with(suffix) {
                    std::fs::remove_file(&f).at(&f)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// The key files' atomic temporaries (`.staging/.TARGET.key.RANDOM.tmp`),
    /// which sit beside the staging folders, not in them. Only the top level:
    /// what a stage left inside its staging folder is its own to resume from.
    fn sweep_key_temporaries(&self) -> Result<usize> {
        let dir = self.root.join(".staging");
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            r => r.at(&dir)?,
        };
        let mut n = 0;
        for e in entries {
            let e = e.at(&dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") && e.file_type().at(&e.path())?.is_file() {
                std::fs::remove_file(e.path()).at(&e.path())?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Store objects no record refers to (no hashing: names only).
    fn unreferenced_objects(&self) -> Result<Vec<PathBuf>> {
        let mut records = Vec::new();
        walk(&self.root.join("cache"), &mut records)?;
        let mut referenced = std::collections::BTreeSet::new();
        for p in &records {
            if p.extension().is_some_and(|e| e == "json") {
                // A record that cannot be read refers to nothing (its target rebuilds).
                if let Ok(Some(r)) = Self::read_json::<Record>(p) {
                    referenced.extend(r.outputs.into_iter().map(|o| o.blake3));
                }
            }
        }
        let mut objects = Vec::new();
        walk(&self.root.join("store"), &mut objects)?;
        objects.retain(|p| !referenced.contains(&p.file_name().unwrap_or_default().to_string_lossy().into_owned()));
        Ok(objects)
    }
}

/// Whether `dst` is an unchanged copy of the object `obj` of output `o`:
/// a separate plain file (not a link) of the recorded size stamped with the
/// object's time (or, with `verify`, of the recorded hash). A hard link to
/// the object (as older versions placed outputs) is replaced by a copy.
fn placed(obj: &Path, dst: &Path, o: &OutputFile, verify: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(b)) = (std::fs::metadata(obj), std::fs::symlink_metadata(dst)) else {
        return false;
    };
    if !b.file_type().is_file() || (a.dev(), a.ino()) == (b.dev(), b.ino()) || b.len() != o.bytes {
        return false;
    }
    if verify {
        return crate::artifact::hash_file(dst).is_ok_and(|h| h == o.blake3);
    }
    a.modified().ok().is_some_and(|t| b.modified().ok() == Some(t))
}

/// Removes a (read-only) store object.
/// Removes a store object that is not to be trusted, whatever it became:
/// a folder put in its place is removed with what it holds (a file, link or
/// FIFO by `remove_file`), so the good bytes can be stored under the name.
fn remove_object(obj: &Path) -> Result<()> {
    match std::fs::symlink_metadata(obj) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(obj).at(obj),
        _ => std::fs::remove_file(obj).at(obj),
    }
}

/// Every regular file under `dir`, recursively (nothing if it does not exist).
pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in rd {
        let e = e.at(dir)?;
        let ft = e.file_type().at(e.path())?;
        if ft.is_dir() {
            walk(&e.path(), out)?;
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Removes a folder and everything in it, making read-only entries writable
/// first; a missing folder is fine.
pub fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_runs_temporaries_are_swept_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let (root, out) = (t.path().join("artifacts"), t.path().join("out"));
        let files = [
            (root.join("cache/73/.73ab.json.suw25g.tmp"), true),
            (root.join("state/p/.t.json.x1.tmp"), true),
            (root.join(".staging/.synthetic.key.kgaM4C.tmp"), true), // a key file's, killed mid-write
            (root.join(".staging/synthetic/.half.safetensors.x2.tmp"), false), // the stage's own, to resume
            (root.join(".staging/synthetic.key"), false),
            (root.join("cache/73/73ab.json"), false),
            (out.join("clf/.a.safetensors.synthmix-place.tmp"), true),
            (out.join("clf/.hidden.tmp"), false), // not ours to remove under out
            (out.join("clf/a.safetensors"), false),
        ];
        for (f, _) in &files {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b"x").unwrap();
        }
        // A store object without a record (a kill inside commit) goes too; a recorded one stays.
        let cache = Cache::new(&root);
        for h in ["aa11", "bb22"] {
            std::fs::create_dir_all(cache.object(h).parent().unwrap()).unwrap();
            std::fs::write(cache.object(h), b"o").unwrap();
        }
        let rec = serde_json::json!({"format": FORMAT, "key": "73ab", "target": "t", "pipeline": "p",
            "components": {"stage": "s", "stage_version": "v", "args": [], "params": {}, "inputs": []},
            "outputs": [{"path": "a", "blake3": "aa11", "bytes": 1, "declared": true}],
            "wall_time_s": 0.0, "finished_unix": 0});
        std::fs::write(root.join("cache/73/73ab.json"), rec.to_string()).unwrap();
        assert_eq!(cache.sweep(&out).unwrap(), 5);
        assert!(cache.object("aa11").is_file() && !cache.object("bb22").exists());
        for (f, swept) in &files {
            assert_eq!(f.exists(), !swept, "{}", f.display());
        }
    }
}
