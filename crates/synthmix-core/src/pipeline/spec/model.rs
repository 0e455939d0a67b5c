//! A pipeline as the runner sees it: targets after matrix expansion, with
//! their commands, inputs, outputs and dependencies.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::resources::Resources;
use crate::data::DatasetName;
use crate::error::{Error, Result};

/// Threads a target's stage gets (`threads = 4` or `threads = "all"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Every core: the target waits until no other stage runs (a bottleneck
    /// that everything else depends on, e.g. the generator).
    All,
    /// This many (at most the number of cores); waits until they are free.
    Exactly(usize),
}

/// How a stage's version enters the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageVersion {
    /// The default: a built-in stage's declared semantic version and the
    /// artifact format (`STAGE --stage-version`, e.g. `clf-train/1+format1`),
    /// bumped whenever what the stage computes changes and guarded by golden
    /// tests, so a rebuild or a new commit keeps every result whose stage did
    /// not change. Other stages (the runner itself: `synthmix report`, …)
    /// are keyed by their executable's BLAKE3, as with `Binary`.
    Semantic,
    /// BLAKE3 of the stage's executable: any rebuild that changes it reruns
    /// its targets.
    Binary,
    /// The stage's `--version` line (e.g. `clf-train 0.1.0`): reuse results
    /// across rebuilds until the version number changes.
    Cli,
}

/// What a target reads.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// Declared outputs of another target (all of them, or the one of `role`).
    Target { index: usize, role: Option<String> },
    /// A real dataset split, resolved in the data dir.
    Dataset(DatasetName),
    /// A file that no target makes.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Input {
    /// The role name (`{in.ROLE}`); list inputs use `0`, `1`, …; inputs found
    /// in the command but not declared use `auto`.
    pub role: String,
    /// As written (after placeholders).
    pub reference: String,
    pub kind: InputKind,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub role: String,
    /// Path relative to the pipeline's `out` folder.
    pub rel: PathBuf,
    pub line: usize,
}

/// One concrete target after matrix expansion.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub description: Option<String>,
    /// Line of the target's table header.
    pub line: usize,
    pub command_line: usize,
    /// The stage: the command's first word (a binary beside `synthmix`).
    pub stage: String,
    /// Arguments after the stage name, outputs in the staging folder.
    pub args: Vec<String>,
    /// Arguments as hashed into the cache key: outputs as `$OUT/REL`.
    pub key_args: Vec<String>,
    /// The parameters the target uses, rendered.
    pub params: BTreeMap<String, String>,
    /// The matrix values that made this target.
    pub vars: BTreeMap<String, String>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    /// Targets this one reads from (sorted, unique).
    pub deps: Vec<usize>,
    /// Threads asked for; `None`: a fair share of the free cores.
    pub threads: Option<Threads>,
}

/// A validated, expanded pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    pub spec_path: PathBuf,
    pub artifacts: PathBuf,
    pub out: PathBuf,
    pub stage_version: StageVersion,
    /// In spec order (a valid topological order is in [`Pipeline::topo_order`]).
    pub targets: Vec<Target>,
    pub by_name: HashMap<String, usize>,
    pub topo: Vec<usize>,
    /// `[executor.slurm]`: the resources of `run --executor slurm` jobs.
    pub slurm: Resources,
}

impl Pipeline {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.by_name.get(name).map(|&i| &self.targets[i])
    }

    /// Where an output of a target is placed.
    pub fn final_path(&self, o: &Output) -> PathBuf {
        self.out.join(&o.rel)
    }

    /// The staging folder a target's command writes into.
    pub fn staging_dir(&self, t: &Target) -> PathBuf {
        self.artifacts.join(".staging").join(&t.name)
    }

    pub fn log_path(&self, t: &Target) -> PathBuf {
        self.artifacts.join("logs").join(&self.name).join(format!("{}.log", t.name))
    }

    /// A topological order (dependencies first), stable with respect to spec order.
    pub fn topo_order(&self) -> &[usize] {
        &self.topo
    }

    /// Every target named by `patterns` (names or globs with `*`/`?`) and all
    /// their dependencies, in topological order; every target when empty.
    pub fn select(&self, patterns: &[String]) -> Result<(Vec<usize>, BTreeSet<usize>)> {
        if patterns.is_empty() {
            let all: BTreeSet<usize> = (0..self.targets.len()).collect();
            return Ok((self.topo.clone(), all));
        }
        let mut named = BTreeSet::new();
        for p in patterns {
            let hits: Vec<usize> =
                self.targets.iter().enumerate().filter(|(_, t)| glob_match(p, &t.name)).map(|(i, _)| i).collect();
            if hits.is_empty() {
                let close: Vec<&str> = self
                    .targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .filter(|n| n.contains(p.trim_matches(['*', '?'])))
                    .take(5)
                    .collect();
                return Err(Error::Invalid(format!(
                    "{}: no target named '{p}'{}",
                    self.spec_path.display(),
                    if close.is_empty() { String::new() } else { format!(" (similar: {})", close.join(", ")) }
                )));
            }
            named.extend(hits);
        }
        let mut want = BTreeSet::new();
        let mut stack: Vec<usize> = named.iter().copied().collect();
        while let Some(i) = stack.pop() {
            if want.insert(i) {
                stack.extend(self.targets[i].deps.iter().copied());
            }
        }
        Ok((self.topo.iter().copied().filter(|i| want.contains(i)).collect(), named))
    }

    /// Targets that (transitively) read `i`'s outputs.
    pub fn dependants(&self, i: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for (k, t) in self.targets.iter().enumerate() {
                if t.deps.contains(&j) && out.insert(k) {
                    stack.push(k);
                }
            }
        }
        out
    }
}

/// `*` and `?` glob matching of target names and axis selectors; greedy
/// with one backtrack point, so time is at most pattern × name (a spec's
/// `a*a*a*…b` cannot stall loading).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || (p[i] != '*' && p[i] == n[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            // Let the last `*` take one more character and retry.
            star = Some((si, sj + 1));
            i = si + 1;
            j = sj + 1;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Options that are not in the spec.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overrides `[pipeline] artifacts`.
    pub artifacts: Option<PathBuf>,
    /// Check that file inputs exist.
    pub check_files: bool,
    /// Targets (names or globs) left out of the graph, as if the spec did
    /// not define them; a glob input simply matches fewer targets.
    pub skip: Vec<String>,
    /// The most targets the matrices may make (default [`MAX_TARGETS`]),
    /// counted before any is made.
    pub max_targets: Option<usize>,
    /// The `synthmix` command line (the binary's), by which a spec's
    /// `synthmix SUBCOMMAND …` targets are checked when it is read; without
    /// it only built-in stages' commands are parsed.
    pub runner: Option<fn() -> clap::Command>,
    /// The data dir an axis value's `first-present` looks in (default: the
    /// binaries' own rule, `data::resolve_data_dir`).
    pub data_dir: Option<PathBuf>,
}

/// The default cap on a spec's targets: over ten times the largest shipped
/// study, and about 100 MB and a second or two to expand.
pub const MAX_TARGETS: usize = 20_000;

impl LoadOptions {
    pub fn max_targets(&self) -> usize {
        self.max_targets.unwrap_or(MAX_TARGETS)
    }
}

/// Lexical normalisation (`a/./b` → `a/b`, `a/x/../b` → `a/b`) for comparing paths.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_target_names() {
        assert!(glob_match("eval-*", "eval-mnist-O-s0"));
        assert!(glob_match("clf-*-s?", "clf-mnist-1-1-s2"));
        assert!(!glob_match("clf-*-s?", "clf-mnist-1-1-s12"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("eval-*", "clf-eval-x"));
        assert!(glob_match("cifar-10*", "cifar-10-jpeg") && glob_match("cifar-10*", "cifar-10"));
        assert!(glob_match("a*b*c", "aXbYbZc") && !glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("*x", "xxx") && !glob_match("?", "") && glob_match("a**", "a"));
    }

    #[test]
    fn a_pathological_glob_is_quick() {
        // The old recursive matcher took exponential time on this.
        let pattern = "a*".repeat(40) + "b";
        let name = "a".repeat(200);
        let t = std::time::Instant::now();
        assert!(!glob_match(&pattern, &name));
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "took {:?}", t.elapsed());
    }
}
