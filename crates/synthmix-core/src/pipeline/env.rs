//! Where a target's stage is found, and what its inputs hash to: the
//! components of its cache key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cache::{Components, Record};
use super::spec::{InputKind, Pipeline, StageVersion, Target};
use crate::data::DatasetName;
use crate::error::{Error, IoContext, Result};
use crate::terminal::clip;

/// Env var naming the folder that holds the stage binaries (default: the
/// folder of the running `synthmix`). A built-in stage without a binary there
/// runs in the `synthmix` of the folder this names, else in the running one.
pub const BIN_DIR_ENV: &str = "SYNTHMIX_BIN_DIR";

/// The program that runs a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageExe {
    pub path: PathBuf,
    /// The stage's name, passed first, when a multi-call `synthmix` runs it.
    pub stage_arg: Option<String>,
}

impl StageExe {
    /// A command that starts the stage; its own arguments follow.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.args(&self.stage_arg);
        c
    }
}

impl std::fmt::Display for StageExe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        match &self.stage_arg {
            Some(s) => write!(f, " {s}"),
            None => Ok(()),
        }
    }
}

/// Where stage binaries are found, and memoised hashes.
pub struct Env {
    bin_dir: PathBuf,
    self_exe: PathBuf,
    /// The multi-call `synthmix` that runs built-in stages without a binary:
    /// the one in `$SYNTHMIX_BIN_DIR` if that holds one, else this one.
    multi_call: PathBuf,
    pub data_dir: PathBuf,
    versions: HashMap<String, String>,
    datasets: HashMap<String, String>,
    files: HashMap<PathBuf, String>,
}

impl Env {
    pub fn new(data_dir: &Path) -> Result<Self> {
        let self_exe = std::env::current_exe()
            .map_err(|e| Error::Invalid(format!("cannot locate the synthmix executable: {e}")))?;
        let (bin_dir, multi_call) = match std::env::var_os(BIN_DIR_ENV) {
            Some(v) if !v.is_empty() => {
                let dir = PathBuf::from(v);
                let multi = Some(dir.join("synthmix")).filter(|m| m.is_file()).unwrap_or_else(|| self_exe.clone());
                (dir, multi)
            }
            _ => (self_exe.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")), self_exe.clone()),
        };
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        Ok(Env {
            bin_dir,
            self_exe,
            multi_call,
            data_dir,
            versions: HashMap::new(),
            datasets: HashMap::new(),
            files: HashMap::new(),
        })
    }

    /// How a stage is started: `synthmix` itself; a binary of the stage's name
    /// in the bin dir; else, for a built-in stage, the multi-call `synthmix`
    /// (`$SYNTHMIX_BIN_DIR/synthmix`, or this one) with the stage name first.
    pub fn binary(&self, p: &Pipeline, t: &Target) -> Result<StageExe> {
        if t.stage == "synthmix" {
            return Ok(StageExe { path: self.self_exe.clone(), stage_arg: None });
        }
        if t.stage.contains('/') {
            return Err(Error::Invalid(format!(
                "{}:{}: stage '{}' must be a binary name (found beside synthmix or in ${BIN_DIR_ENV}), not a path",
                p.spec_path.display(),
                t.command_line,
                clip(&t.stage)
            )));
        }
        let b = self.bin_dir.join(&t.stage);
        if b.is_file() {
            return Ok(StageExe { path: b, stage_arg: None });
        }
        if crate::stages::find(&t.stage).is_some() {
            return Ok(StageExe { path: self.multi_call.clone(), stage_arg: Some(t.stage.clone()) });
        }
        Err(Error::NotFound(format!(
            "{}:{}: stage '{}' not found in {} (build it: cargo build --release -p {}; or set {BIN_DIR_ENV})",
            p.spec_path.display(),
            t.command_line,
            clip(&t.stage),
            self.bin_dir.display(),
            clip(&t.stage)
        )))
    }

    fn stage_version(&mut self, p: &Pipeline, t: &Target) -> Result<String> {
        if let Some(v) = self.versions.get(&t.stage) {
            return Ok(v.clone());
        }
        let bin = self.binary(p, t)?;
        let builtin = crate::stages::find(&t.stage).is_some();
        let v = match p.stage_version {
            StageVersion::Semantic if builtin => {
                let s = first_line_of(&bin, crate::stages::STAGE_VERSION_FLAG)?;
                // An older build without the flag prints something else: refuse rather than key on it.
                if !s.starts_with(&format!("{}/", t.stage)) {
                    return Err(Error::Invalid(format!(
                        "{bin}: `{}` printed '{s}', not a semantic version (a build older than the runner? rebuild it)",
                        crate::stages::STAGE_VERSION_FLAG
                    )));
                }
                format!("semantic:{s}")
            }
            // The executable actually run: the multi-call synthmix when it stands in for the stage.
            StageVersion::Semantic | StageVersion::Binary => {
                format!("blake3:{}", crate::artifact::hash_file(&bin.path)?)
            }
            StageVersion::Cli => format!("cli:{}", first_line_of(&bin, "--version")?),
        };
        self.versions.insert(t.stage.clone(), v.clone());
        Ok(v)
    }

    /// BLAKE3 over the files a DATASET:SPLIT is read from (their names in
    /// the data dir and their contents, symlinks followed), so changing the
    /// test files leaves what was built from the training files cached, and
    /// repointing a symlink is seen. MNIST-C corruptions absent from the data
    /// dir are computed from MNIST, so they hash MNIST's files.
    fn dataset_hash(&mut self, d: &DatasetName) -> std::result::Result<String, String> {
        let key = d.to_string();
        if let Some(h) = self.datasets.get(&key) {
            return Ok(h.clone());
        }
        let opts = crate::data::DataOptions::new(&self.data_dir);
        let resolved = d.resolve(&opts).map_err(|e| format!("dataset {d}: {e}"))?;
        let mut h = blake3::Hasher::new();
        h.update(format!("{key} from {}", resolved.tag()).as_bytes());
        for f in resolved.files() {
            let fh = self.file_hash(&f).map_err(|e| e.to_string())?;
            h.update(f.strip_prefix(&self.data_dir).unwrap_or(&f).to_string_lossy().as_bytes());
            h.update(fh.as_bytes());
        }
        let hex = h.finalize().to_hex().to_string();
        self.datasets.insert(key, hex.clone());
        Ok(hex)
    }

    /// Hashes a target's dataset and file inputs (errors name the spec line).
    pub fn check_sources(&mut self, p: &Pipeline, i: usize) -> Result<()> {
        let t = &p.targets[i];
        for inp in &t.inputs {
            let at = |msg: String| {
                Error::Invalid(format!("{}:{}: target '{}': {msg}", p.spec_path.display(), inp.line, t.name))
            };
            match &inp.kind {
                InputKind::Dataset(d) => {
                    self.dataset_hash(d).map_err(at)?;
                }
                InputKind::File(f) if !f.is_file() => {
                    return Err(at(format!("missing input '{}': no such file", clip(&f.display().to_string()))))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn file_hash(&mut self, f: &Path) -> Result<String> {
        if let Some(h) = self.files.get(f) {
            return Ok(h.clone());
        }
        let h = crate::artifact::hash_file(f)?;
        self.files.insert(f.to_path_buf(), h.clone());
        Ok(h)
    }

    /// The cache components of target `i`, given the records of its dependencies.
    pub fn components(&mut self, p: &Pipeline, i: usize, records: &HashMap<usize, Record>) -> Result<Components> {
        let t = &p.targets[i];
        let at = |line: usize, msg: String| {
            Error::Invalid(format!("{}:{line}: target '{}': {msg}", p.spec_path.display(), t.name))
        };
        let mut inputs = Vec::new();
        for inp in &t.inputs {
            match &inp.kind {
                InputKind::Target { index, role } => {
                    let dep = &p.targets[*index];
                    let r = records
                        .get(index)
                        .ok_or_else(|| at(inp.line, format!("input target '{}' has no result yet", dep.name)))?;
                    for o in dep.outputs.iter().filter(|o| role.as_ref().is_none_or(|x| &o.role == x)) {
                        let f = r.outputs.iter().find(|f| f.path == o.rel).ok_or_else(|| {
                            at(inp.line, format!("the record of '{}' lacks its output {}", dep.name, o.rel.display()))
                        })?;
                        inputs.push((p.final_path(o).display().to_string(), f.blake3.clone()));
                    }
                }
                InputKind::Dataset(d) => {
                    let h = self.dataset_hash(d).map_err(|e| at(inp.line, e))?;
                    inputs.push((d.to_string(), h));
                }
                InputKind::File(f) => {
                    if !f.is_file() {
                        return Err(at(
                            inp.line,
                            format!("missing input '{}': no such file", clip(&f.display().to_string())),
                        ));
                    }
                    inputs.push((f.display().to_string(), self.file_hash(f)?));
                }
            }
        }
        Ok(Components {
            stage: t.stage.clone(),
            stage_version: self.stage_version(p, t)?,
            args: t.key_args.clone(),
            params: t.params.clone(),
            inputs,
        })
    }
}

/// The trimmed output of `BIN FLAG`, which must succeed and print something.
fn first_line_of(bin: &StageExe, flag: &str) -> Result<String> {
    let out = bin.command().arg(flag).output().at(&bin.path)?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || s.is_empty() {
        return Err(Error::Invalid(format!("{bin}: `{flag}` printed nothing")));
    }
    Ok(s)
}
