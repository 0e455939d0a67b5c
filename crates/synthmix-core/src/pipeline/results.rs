//! What a run has made so far: the record of every target done, and which
//! target placed which output. Every cached result is placed, and every
//! finished stage committed, through here.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::cache::{self, Cache, Components, Record};
use super::cost::Cost;
use super::spec::{normalize, InputKind, Pipeline};
use crate::error::{Error, Result};

pub struct Results {
    pub cache: Cache,
    records: HashMap<usize, Record>,
    /// The target that declares each output (normalised path).
    declared_owner: HashMap<PathBuf, usize>,
    /// The target whose result placed each file, side files included.
    placed_by: HashMap<PathBuf, usize>,
}

impl Results {
    pub fn new(p: &Pipeline) -> Self {
        Results {
            cache: Cache::new(&p.artifacts),
            records: HashMap::new(),
            declared_owner: p
                .targets
                .iter()
                .enumerate()
                .flat_map(|(i, t)| t.outputs.iter().map(move |o| (normalize(&o.rel), i)))
                .collect(),
            placed_by: HashMap::new(),
        }
    }

    /// The records of the targets done so far, by target index.
    pub fn records(&self) -> &HashMap<usize, Record> {
        &self.records
    }

    /// Notes target `i`'s result without placing it (a dry run).
    pub fn remember(&mut self, i: usize, r: Record) {
        self.records.insert(i, r);
    }

    /// Places target `i`'s cached result in the out folder and makes it the
    /// target's last state; the number of files copied (0: all in place).
    pub fn place(&mut self, p: &Pipeline, i: usize, r: Record, verify: bool) -> Result<usize> {
        let placed = self.cache.place(&r, &p.out, verify)?;
        self.cache.write_state(&r)?;
        self.note_placed(i, &r);
        self.records.insert(i, r);
        // A run killed between committing this target and clearing its
        // staging folder left them behind: the result is cached, so they go.
        discard_staging(p, i)?;
        Ok(placed)
    }

    fn note_placed(&mut self, i: usize, r: &Record) {
        for o in &r.outputs {
            self.placed_by.insert(normalize(&o.path), i);
        }
    }

    /// Commits what target `i`'s stage wrote into its staging folder to the
    /// store and places it, unless a file lands on another target's output.
    pub fn commit(&mut self, p: &Pipeline, i: usize, comps: Components, key: String, cost: Cost) -> Result<()> {
        let t = &p.targets[i];
        let staging = p.staging_dir(t);
        let declared: Vec<PathBuf> = t.outputs.iter().map(|o| o.rel.clone()).collect();
        let record = Record {
            format: cache::FORMAT.into(),
            key,
            target: t.name.clone(),
            pipeline: p.name.clone(),
            components: comps,
            outputs: vec![],
            wall_time_s: cost.wall_s,
            finished_unix: now_unix(),
            cpu_time_s: cost.cpu_s,
            threads: Some(cost.threads),
            resumed: cost.resumed,
        };
        self.check_side_files(p, i, &staging)?;
        inputs_unchanged(p, i, &record.components)?;
        let r = self.cache.commit(&staging, &declared, record)?;
        self.cache.place(&r, &p.out, false)?;
        self.cache.write_state(&r)?;
        self.note_placed(i, &r);
        self.records.insert(i, r);
        discard_staging(p, i)
    }

    /// Side files must not land on another target's outputs.
    fn check_side_files(&self, p: &Pipeline, i: usize, staging: &std::path::Path) -> Result<()> {
        let mut files = Vec::new();
        cache::walk(staging, &mut files)?;
        for f in &files {
            let rel = normalize(f.strip_prefix(staging).expect("under staging"));
            let other = self.declared_owner.get(&rel).or_else(|| self.placed_by.get(&rel)).copied();
            if let Some(j) = other.filter(|&j| j != i) {
                return Err(Error::Invalid(format!(
                    "it wrote {}, which is an output of target '{}': give the two targets different output names",
                    rel.display(),
                    p.targets[j].name
                )));
            }
        }
        Ok(())
    }
}

/// Every file target `i` read (another target's output, a file input)
/// still has the hash its key holds: one changed while the stage ran (by
/// hand, by another process) would otherwise be recorded under a key that
/// does not describe what the stage read. (Datasets are hashed once a run.)
fn inputs_unchanged(p: &Pipeline, i: usize, comps: &Components) -> Result<()> {
    let datasets: HashSet<String> = p.targets[i]
        .inputs
        .iter()
        .filter_map(|x| match &x.kind {
            InputKind::Dataset(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    for (path, keyed) in comps.inputs.iter().filter(|(r, _)| !datasets.contains(r)) {
        let now = crate::artifact::hash_file(Path::new(path))?;
        if &now != keyed {
            return Err(Error::Invalid(format!(
                "its input {path} changed while it ran ({} now, {} when it started): its result is not cached; run again",
                &now[..12],
                &keyed[..12.min(keyed.len())]
            )));
        }
    }
    Ok(())
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where a launch records its key: beside the staging folder, not in it
/// (everything in it is committed).
pub(super) fn key_file(staging: &Path) -> PathBuf {
    let mut name = staging.file_name().expect("a target's folder").to_os_string();
    name.push(".key");
    staging.with_file_name(name)
}

/// Removes target `i`'s staging folder and the key file beside it (what an
/// interrupted run would resume from), once its result is in the cache.
fn discard_staging(p: &Pipeline, i: usize) -> Result<()> {
    let staging = p.staging_dir(&p.targets[i]);
    let key_file = key_file(&staging);
    match std::fs::remove_file(&key_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&key_file, e)),
        _ => {}
    }
    cache::remove_tree(&staging)
}
