//! Where a number came from, for the page's click-through: the artifact's
//! provenance record (stage, parameters, input hashes, commit, wall time)
//! and, when a pipeline made it, the target and command that did (from the
//! runner's state records in the artifacts folder above it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::artifact::provenance;
use crate::pipeline::cache::Record;

/// One artifact's origin, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub artifact: String,
    pub stage: String,
    /// `PIPELINE:TARGET`, or empty when no runner record names it.
    pub target: String,
    pub command: String,
    /// The stage's full parameters, pretty JSON.
    pub params: String,
    /// (role, path, BLAKE3) per input.
    pub inputs: Vec<(String, String, String)>,
    pub commit: String,
    pub wall_time_s: f64,
}

/// A group of entries behind one cell (e.g. a classifier per seed).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub title: String,
    pub entries: Vec<Entry>,
}

/// Reads provenance records and runner records once each.
#[derive(Default)]
pub struct Index {
    entries: HashMap<PathBuf, Option<Entry>>,
    /// artifacts root → (output BLAKE3 → record)
    records: HashMap<PathBuf, HashMap<String, Record>>,
}

impl Index {
    /// The entry of `artifact`, or None when it has no provenance record.
    pub fn entry(&mut self, artifact: &Path) -> Option<Entry> {
        if let Some(e) = self.entries.get(artifact) {
            return e.clone();
        }
        let e = self.read(artifact);
        self.entries.insert(artifact.to_path_buf(), e.clone());
        e
    }

    fn read(&mut self, artifact: &Path) -> Option<Entry> {
        let p = provenance::read(&provenance::path_for(artifact)).ok()?;
        let name = artifact.file_name()?.to_string_lossy().into_owned();
        let own =
            p.outputs.iter().find(|o| Path::new(&o.path).file_name().is_some_and(|f| f.to_string_lossy() == name));
        let rec = own.and_then(|o| self.record_of(artifact, &o.blake3));
        let params = serde_json::from_str::<serde_json::Value>(&p.params_json)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(p.params_json.clone());
        Some(Entry {
            artifact: artifact.display().to_string(),
            stage: p.stage.clone(),
            target: rec.as_ref().map(|r| format!("{}:{}", r.pipeline, r.target)).unwrap_or_default(),
            command: rec
                .as_ref()
                .map(|r| format!("{} {}", r.components.stage, r.components.args.join(" ")))
                .unwrap_or_else(|| format!("{} (run by hand; its settings are below)", p.stage)),
            params,
            inputs: p.inputs.iter().map(|i| (i.role.clone(), i.path.clone(), i.blake3.clone())).collect(),
            commit: p.git_commit.clone(),
            wall_time_s: p.wall_time_s,
        })
    }

    /// The runner's record whose outputs include this BLAKE3, searched in
    /// the artifacts folder above `artifact` (the one with `state/`).
    fn record_of(&mut self, artifact: &Path, blake3: &str) -> Option<Record> {
        let abs = std::path::absolute(artifact).ok()?;
        let root =
            abs.ancestors().skip(1).find(|d| d.join("state").is_dir() && d.join("cache").is_dir())?.to_path_buf();
        let by_hash = self.records.entry(root.clone()).or_insert_with(|| read_states(&root));
        by_hash.get(blake3).cloned()
    }
}

/// Every state record under `root/state/PIPELINE/*.json`, by output hash.
fn read_states(root: &Path) -> HashMap<String, Record> {
    let mut m = HashMap::new();
    let Ok(pipelines) = std::fs::read_dir(root.join("state")) else { return m };
    for p in pipelines.flatten() {
        let Ok(files) = std::fs::read_dir(p.path()) else { continue };
        for f in files.flatten() {
            let Ok(bytes) = std::fs::read(f.path()) else { continue };
            let Ok(r) = serde_json::from_slice::<Record>(&bytes) else { continue };
            for o in &r.outputs {
                m.insert(o.blake3.clone(), r.clone());
            }
        }
    }
    m
}
