//! Where a number came from, for the page's click-through: each file
//! behind a cell (a typed document cell's [`doc::Provenance`]) with its
//! provenance record (stage, parameters, input hashes, commit, wall time)
//! and, when a pipeline made it, the target and command that did (from the
//! runner's state records in the artifacts folder above it). A file is
//! listed once on the page however many cells it stands behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::artifact::provenance;
use crate::pipeline::cache;
use crate::report::document as doc;

/// One file behind a number, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// What it is to the number: `classifier, seed 0`, `test set`.
    pub role: String,
    pub artifact: String,
    /// Its provenance record; None where no record lies beside it (a
    /// dataset split, or an artifact not on this machine).
    pub record: Option<Record>,
}

/// An artifact's provenance record, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
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

/// The files behind one cell: indices into [`Data::entries`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Group {
    pub title: String,
    pub entries: Vec<usize>,
}

/// Everything the page's click-through shows (`data-prov` = a group's index).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Data {
    pub groups: Vec<Group>,
    pub entries: Vec<Entry>,
}

/// Builds a page's [`Data`] from its cells' provenance, each file and each
/// group once.
#[derive(Default)]
pub struct Collector {
    index: Index,
    data: Data,
    entries: HashMap<(String, String), usize>,
    groups: HashMap<Group, usize>,
}

impl Collector {
    /// The group of `p`'s files (its index on the page); None without files.
    pub fn group(&mut self, p: &doc::Provenance) -> Option<usize> {
        if p.artifacts.is_empty() {
            return None;
        }
        let entries = p.artifacts.iter().map(|a| self.entry(a)).collect();
        let g = Group { title: p.title.clone(), entries };
        if let Some(&i) = self.groups.get(&g) {
            return Some(i);
        }
        self.data.groups.push(g.clone());
        self.groups.insert(g, self.data.groups.len() - 1);
        Some(self.data.groups.len() - 1)
    }

    fn entry(&mut self, a: &doc::Artifact) -> usize {
        let role = match a.seed {
            Some(s) => format!("{}, seed {s}", a.role.name()),
            None => a.role.name().to_string(),
        };
        let key = (role, a.path.clone());
        if let Some(&i) = self.entries.get(&key) {
            return i;
        }
        let record = self.index.record(Path::new(&a.path));
        self.data.entries.push(Entry { role: key.0.clone(), artifact: a.path.clone(), record });
        self.entries.insert(key, self.data.entries.len() - 1);
        self.data.entries.len() - 1
    }

    pub fn finish(self) -> Data {
        self.data
    }
}

/// Reads provenance records and runner records once each.
#[derive(Default)]
pub struct Index {
    records: HashMap<PathBuf, Option<Record>>,
    /// artifacts root → (output BLAKE3 → runner record)
    runs: HashMap<PathBuf, HashMap<String, cache::Record>>,
}

impl Index {
    /// The record of `artifact`, or None when it has none.
    pub fn record(&mut self, artifact: &Path) -> Option<Record> {
        if let Some(e) = self.records.get(artifact) {
            return e.clone();
        }
        let e = self.read(artifact);
        self.records.insert(artifact.to_path_buf(), e.clone());
        e
    }

    fn read(&mut self, artifact: &Path) -> Option<Record> {
        let p = provenance::read(&provenance::path_for(artifact)).ok()?;
        let name = artifact.file_name()?.to_string_lossy().into_owned();
        let own =
            p.outputs.iter().find(|o| Path::new(&o.path).file_name().is_some_and(|f| f.to_string_lossy() == name));
        let rec = own.and_then(|o| self.run_of(artifact, &o.blake3));
        let params = serde_json::from_str::<serde_json::Value>(&p.params_json)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(p.params_json.clone());
        Some(Record {
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
    fn run_of(&mut self, artifact: &Path, blake3: &str) -> Option<cache::Record> {
        let abs = std::path::absolute(artifact).ok()?;
        let root =
            abs.ancestors().skip(1).find(|d| d.join("state").is_dir() && d.join("cache").is_dir())?.to_path_buf();
        let by_hash = self.runs.entry(root.clone()).or_insert_with(|| read_states(&root));
        by_hash.get(blake3).cloned()
    }
}

/// Every state record under `root/state/PIPELINE/*.json`, by output hash.
fn read_states(root: &Path) -> HashMap<String, cache::Record> {
    let mut m = HashMap::new();
    let Ok(pipelines) = std::fs::read_dir(root.join("state")) else { return m };
    for p in pipelines.flatten() {
        let Ok(files) = std::fs::read_dir(p.path()) else { continue };
        for f in files.flatten() {
            let Ok(bytes) = std::fs::read(f.path()) else { continue };
            let Ok(r) = serde_json::from_slice::<cache::Record>(&bytes) else { continue };
            for o in &r.outputs {
                m.insert(o.blake3.clone(), r.clone());
            }
        }
    }
    m
}
