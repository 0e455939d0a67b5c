//! The scheduler: decides what is up to date, runs the rest in parallel, and
//! explains itself (`--dry-run`, `status`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cache::{self, Cache, Components, Record};
use super::spec::{normalize, InputKind, Pipeline, StageVersion, Target, Threads};
use crate::data::DatasetName;
use crate::error::{Error, IoContext, Result};

/// Env var naming the folder that holds the stage binaries (default: the
/// folder of the running `synthmix`). A built-in stage without a binary there
/// runs in the `synthmix` of the folder this names, else in the running one.
pub const BIN_DIR_ENV: &str = "SYNTHMIX_BIN_DIR";

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Targets (names or globs) to bring up to date, with their dependencies; all when empty.
    pub targets: Vec<String>,
    /// Stages run at once (default: the number of cores).
    pub jobs: Option<usize>,
    pub dry_run: bool,
    pub keep_going: bool,
    /// Rerun the named targets (all selected ones when none is named) even if cached.
    pub force: bool,
    /// The data dir, passed to every stage as `SYNTHMIX_DATA`.
    pub data_dir: PathBuf,
    /// Re-hash stored and placed outputs instead of trusting their size and
    /// time; a changed stored output is rebuilt, a changed placed one restored.
    pub verify: bool,
}

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
                t.stage
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
            t.stage,
            self.bin_dir.display(),
            t.stage
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
                    return Err(at(format!("missing input '{}': no such file", f.display())))
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
                        return Err(at(inp.line, format!("missing input '{}': no such file", f.display())));
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

/// Why a target must run, compared with what was last placed.
pub fn explain(prev: Option<&Record>, cur: &Components, forced: bool) -> String {
    if forced {
        return "forced".into();
    }
    let Some(prev) = prev else {
        return "new (never built)".into();
    };
    let old = &prev.components;
    if old == cur {
        return "its cached result is gone from the store".into();
    }
    let mut why: Vec<String> = Vec::new();
    if old.stage != cur.stage {
        why.push(format!("stage changed: {} → {}", old.stage, cur.stage));
    } else if old.stage_version != cur.stage_version {
        why.push(version_change(&cur.stage, &old.stage_version, &cur.stage_version));
    }
    for (k, v) in &cur.params {
        match old.params.get(k) {
            Some(o) if o != v => why.push(format!("changed parameter {k}: {o} → {v}")),
            None => why.push(format!("new parameter {k} = {v}")),
            _ => {}
        }
    }
    for k in old.params.keys().filter(|k| !cur.params.contains_key(*k)) {
        why.push(format!("parameter {k} removed"));
    }
    let old_in: BTreeMap<&String, &String> = old.inputs.iter().map(|(a, b)| (a, b)).collect();
    let cur_in: BTreeMap<&String, &String> = cur.inputs.iter().map(|(a, b)| (a, b)).collect();
    for (k, h) in &cur_in {
        match old_in.get(k) {
            Some(o) if o != h => why.push(format!("changed input {k}")),
            None => why.push(format!("new input {k}")),
            _ => {}
        }
    }
    for k in old_in.keys().filter(|k| !cur_in.contains_key(*k)) {
        why.push(format!("input {k} removed"));
    }
    if why.iter().all(|w| !w.contains("parameter")) && old.args != cur.args {
        let first = old.args.iter().zip(&cur.args).find(|(a, b)| a != b);
        why.push(match first {
            Some((a, b)) => format!("changed command: {a} → {b}"),
            None => "changed command".into(),
        });
    }
    if why.is_empty() {
        "changed".into()
    } else {
        why.join("; ")
    }
}

/// Why a new stage version reruns a target, in the user's terms.
fn version_change(stage: &str, old: &str, cur: &str) -> String {
    match (old.strip_prefix("semantic:"), cur.strip_prefix("semantic:")) {
        (Some(o), Some(c)) => format!("stage {stage} changed what it computes: {o} → {c}"),
        (None, Some(c)) => format!("stage {stage} now keyed by its semantic version {c} (was {old})"),
        _ if old.starts_with("blake3:") && cur.starts_with("blake3:") => {
            format!("stage {stage} changed (rebuilt binary)")
        }
        _ => format!("stage {stage} version changed: {old} → {cur}"),
    }
}

/// What would happen to a target.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    UpToDate,
    /// Cached, but its outputs are not in place.
    Restore,
    Run(String),
    /// Runs after these dependencies run (its key is not known before).
    After(Vec<String>),
}

/// Decides, without running anything, what `run` would do for the selected targets.
pub fn plan(p: &Pipeline, opts: &RunOptions) -> Result<Vec<(usize, Plan)>> {
    let (order, named) = p.select(&opts.targets)?;
    let forced = forced_set(&order, &named, opts);
    let cache = Cache::new(&p.artifacts);
    let mut env = Env::new(&opts.data_dir)?;
    let mut records: HashMap<usize, Record> = HashMap::new();
    let mut will_run: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    for &i in &order {
        let t = &p.targets[i];
        let waiting: Vec<String> =
            t.deps.iter().filter(|d| will_run.contains(d)).map(|&d| p.targets[d].name.clone()).collect();
        if !waiting.is_empty() {
            will_run.insert(i);
            out.push((i, Plan::After(waiting)));
            continue;
        }
        let comps = env.components(p, i, &records)?;
        let key = comps.key();
        let hit = if forced.contains(&i) { None } else { cache.lookup(&key, opts.verify)? };
        match hit {
            Some(r) => {
                let state = if cache.in_place(&r, &p.out, opts.verify) { Plan::UpToDate } else { Plan::Restore };
                records.insert(i, r);
                out.push((i, state));
            }
            None => {
                let prev = cache.last_state(&p.name, &t.name)?;
                will_run.insert(i);
                out.push((i, Plan::Run(explain(prev.as_ref(), &comps, forced.contains(&i)))));
            }
        }
    }
    Ok(out)
}

pub(super) fn forced_set(order: &[usize], named: &BTreeSet<usize>, opts: &RunOptions) -> BTreeSet<usize> {
    if !opts.force {
        BTreeSet::new()
    } else if opts.targets.is_empty() {
        order.iter().copied().collect()
    } else {
        named.clone()
    }
}

/// `synthmix status`: one line per target.
pub fn status_text(p: &Pipeline, plans: &[(usize, Plan)]) -> String {
    status_text_with(p, plans, &HashMap::new())
}

/// `synthmix status` with a note per target (its Slurm job), and under the
/// key "" one for the whole pipeline.
pub fn status_text_with(p: &Pipeline, plans: &[(usize, Plan)], notes: &HashMap<String, String>) -> String {
    let w = plans.iter().map(|(i, _)| p.targets[*i].name.len()).max().unwrap_or(0);
    let mut s = String::new();
    let (mut ok, mut restore, mut run) = (0, 0, 0);
    for (i, pl) in plans {
        let what = match pl {
            Plan::UpToDate => {
                ok += 1;
                "up to date".to_string()
            }
            Plan::Restore => {
                restore += 1;
                "cached, not in place (run restores it)".to_string()
            }
            Plan::Run(why) => {
                run += 1;
                format!("out of date: {why}")
            }
            Plan::After(d) => {
                run += 1;
                format!("out of date: after {}", list_short(d))
            }
        };
        let name = &p.targets[*i].name;
        match notes.get(name) {
            Some(n) => writeln!(s, "{name:<w$}  {what} [{n}]"),
            None => writeln!(s, "{name:<w$}  {what}"),
        }
        .expect("a String takes writes");
    }
    if let Some(n) = notes.get("") {
        let _ = writeln!(s, "{n}");
    }
    let _ = writeln!(s, "{}: {ok} up to date, {restore} cached but not in place, {run} to run", p.name);
    s
}

/// `synthmix run --dry-run`: what would run and why.
pub fn dry_run_text(p: &Pipeline, plans: &[(usize, Plan)]) -> String {
    let w = plans.iter().map(|(i, _)| p.targets[*i].name.len()).max().unwrap_or(0);
    let mut s = String::new();
    let mut run = 0;
    for (i, pl) in plans {
        let t = &p.targets[*i];
        let line = match pl {
            Plan::UpToDate => format!("up to date    {:<w$}", t.name),
            Plan::Restore => format!("would restore {:<w$}  (from the cache)", t.name),
            Plan::Run(why) => {
                run += 1;
                format!("would run     {:<w$}  {why}", t.name)
            }
            Plan::After(d) => {
                run += 1;
                format!("would run     {:<w$}  after {}", t.name, list_short(d))
            }
        };
        let _ = writeln!(s, "{}", line.trim_end());
    }
    let _ = writeln!(s, "dry run: {run} of {} targets would run", plans.len());
    s
}

fn list_short(v: &[String]) -> String {
    if v.len() <= 3 {
        v.join(", ")
    } else {
        format!("{}, … ({} targets)", v[..2].join(", "), v.len())
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub ran: Vec<String>,
    pub up_to_date: Vec<String>,
    pub restored: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
    pub wall_s: f64,
}

enum State {
    Pending,
    Running { child: Child, started: Instant, comps: Components, key: String },
    Done,
    Failed,
    Skipped,
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    extern "C" {
        fn prctl(option: i32, ...) -> i32;
        fn getppid() -> i32;
    }
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: u64 = 9;
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if getppid() != parent {
                return Err(std::io::Error::other("the runner exited before the stage started"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

pub(super) fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|s| s.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().chars().take(300).collect()))
        .unwrap_or_default()
}

pub(super) fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One `synthmix run`'s targets and their progress: a loop of phases
/// (skip what cannot run, place cached results, start ready targets on free
/// cores, collect finished ones) until nothing is left to do.
struct Scheduler<'a> {
    p: &'a Pipeline,
    opts: &'a RunOptions,
    env: Env,
    cache: Cache,
    order: Vec<usize>,
    forced: BTreeSet<usize>,
    cores: usize,
    jobs: usize,
    declared_owner: HashMap<PathBuf, usize>,
    placed_by: HashMap<PathBuf, usize>,
    state: HashMap<usize, State>,
    records: HashMap<usize, Record>,
    threads_of: HashMap<usize, usize>,
    /// Cache key components, key and reason to run of targets waiting for a slot.
    prepared: HashMap<usize, (Components, String, String)>,
    summary: Summary,
    /// Set after a failure without --keep-going: nothing new starts.
    stop: bool,
    bar: indicatif::ProgressBar,
    name_width: usize,
}

impl<'a> Scheduler<'a> {
    fn new(p: &'a Pipeline, opts: &'a RunOptions, order: Vec<usize>, forced: BTreeSet<usize>, env: Env) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let bar = crate::progress::bar(order.len() as u64, "targets");
        if !bar.is_hidden() {
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} targets, {elapsed} {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(p.name.clone());
        }
        Scheduler {
            p,
            opts,
            env,
            cache: Cache::new(&p.artifacts),
            name_width: order.iter().map(|&i| p.targets[i].name.len()).max().unwrap_or(0),
            state: order.iter().map(|&i| (i, State::Pending)).collect(),
            order,
            forced,
            cores,
            jobs: opts.jobs.unwrap_or(cores).max(1),
            declared_owner: p
                .targets
                .iter()
                .enumerate()
                .flat_map(|(i, t)| t.outputs.iter().map(move |o| (normalize(&o.rel), i)))
                .collect(),
            placed_by: HashMap::new(),
            records: HashMap::new(),
            threads_of: HashMap::new(),
            prepared: HashMap::new(),
            summary: Summary::default(),
            stop: false,
            bar,
        }
    }

    /// One line per event on stdout, above the progress bar.
    fn say(&self, verb: &str, name: &str, detail: &str) {
        let w = self.name_width;
        let line = format!("{verb:<10} {name:<w$}  {detail}");
        self.bar.suspend(|| println!("{}", line.trim_end()));
    }

    fn is(&self, i: usize, pred: fn(&State) -> bool) -> bool {
        self.state.get(&i).is_some_and(pred)
    }

    fn running(&self) -> Vec<usize> {
        self.order.iter().copied().filter(|&i| self.is(i, |s| matches!(s, State::Running { .. }))).collect()
    }

    /// Targets whose dependencies failed will not run.
    fn skip_blocked(&mut self) -> bool {
        let mut progressed = false;
        for idx in 0..self.order.len() {
            let i = self.order[idx];
            let t = &self.p.targets[i];
            let blocked = t.deps.iter().any(|d| self.is(*d, |s| matches!(s, State::Failed | State::Skipped)));
            if self.is(i, |s| matches!(s, State::Pending)) && blocked {
                self.state.insert(i, State::Skipped);
                self.summary.skipped.push(t.name.clone());
                self.bar.inc(1);
                self.say("skipped", &t.name, "(a dependency failed)");
                progressed = true;
            }
        }
        progressed
    }

    /// Ready targets: a cached one is placed at once (true), another is
    /// prepared to run (false).
    fn place_or_prepare(&mut self, i: usize) -> Result<bool> {
        if self.prepared.contains_key(&i) {
            return Ok(false);
        }
        let t = &self.p.targets[i];
        let comps = self.env.components(self.p, i, &self.records)?;
        let key = comps.key();
        let forced = self.forced.contains(&i);
        let hit = if forced { None } else { self.cache.lookup(&key, self.opts.verify)? };
        let Some(r) = hit else {
            let prev = self.cache.last_state(&self.p.name, &t.name)?;
            let why = explain(prev.as_ref(), &comps, forced);
            self.prepared.insert(i, (comps, key, why));
            return Ok(false);
        };
        let placed = self.cache.place(&r, &self.p.out, self.opts.verify)?;
        self.cache.write_state(&r)?;
        for o in &r.outputs {
            self.placed_by.insert(normalize(&o.path), i);
        }
        self.records.insert(i, r);
        self.state.insert(i, State::Done);
        self.bar.inc(1);
        if placed > 0 {
            self.summary.restored.push(t.name.clone());
            self.say("restored", &t.name, &format!("(from the cache, {placed} files)"));
        } else {
            self.summary.up_to_date.push(t.name.clone());
            self.say("up to date", &t.name, "");
        }
        Ok(true)
    }

    /// Places ready cached targets; returns the ready ones that must run.
    fn ready(&mut self, progressed: &mut bool) -> Result<Vec<usize>> {
        let mut to_spawn = Vec::new();
        if self.stop {
            return Ok(to_spawn);
        }
        for idx in 0..self.order.len() {
            let i = self.order[idx];
            let deps_done = self.p.targets[i].deps.iter().all(|d| self.is(*d, |s| matches!(s, State::Done)));
            if !self.is(i, |s| matches!(s, State::Pending)) || !deps_done {
                continue;
            }
            if self.place_or_prepare(i)? {
                *progressed = true;
            } else {
                to_spawn.push(i);
            }
        }
        Ok(to_spawn)
    }

    /// Starts queued targets, in order, while job slots and cores are free.
    fn start(&mut self, to_spawn: Vec<usize>) -> Result<bool> {
        let running = self.running();
        let mut used: usize = running.iter().map(|i| self.threads_of.get(i).copied().unwrap_or(1)).sum();
        let mut slots = self.jobs.saturating_sub(running.len()).min(to_spawn.len());
        let mut progressed = false;
        for (started_now, i) in to_spawn.into_iter().enumerate() {
            if slots == 0 {
                break;
            }
            let t = &self.p.targets[i];
            let free = self.cores.saturating_sub(used);
            let n = match t.threads {
                Some(Threads::All) => self.cores,
                Some(Threads::Exactly(n)) => n.min(self.cores),
                None => (free / slots).max(1),
            };
            if n > free && running.len() + started_now > 0 {
                break; // wait for free cores, in order: nothing overtakes a waiting target
            }
            let (comps, key, why) = self.prepared.remove(&i).expect("prepared before queueing");
            let child = spawn(self.p, &self.env, t, &comps, &key, n)?;
            self.threads_of.insert(i, n);
            self.say("run", &t.name, &format!("{why} [{n} thread{}]", if n == 1 { "" } else { "s" }));
            self.state.insert(i, State::Running { child, started: Instant::now(), comps, key });
            used += n;
            slots -= 1;
            progressed = true;
        }
        Ok(progressed)
    }

    /// Collects finished stages: commits their outputs, or records the failure.
    fn reap(&mut self) -> Result<bool> {
        let mut progressed = false;
        for i in self.running() {
            let exit = match self.state.get_mut(&i) {
                Some(State::Running { child, .. }) => child.try_wait().at(self.p.log_path(&self.p.targets[i]))?,
                _ => None,
            };
            let Some(status) = exit else { continue };
            progressed = true;
            let Some(State::Running { started: t0, comps, key, .. }) = self.state.remove(&i) else { unreachable!() };
            let t = &self.p.targets[i];
            let secs = t0.elapsed().as_secs_f64();
            self.bar.inc(1);
            let outcome: Result<Record> = if status.success() {
                finish(self.p, &self.cache, i, comps, key, secs, &self.declared_owner, &mut self.placed_by)
            } else {
                Err(Error::Invalid(format!("{status}")))
            };
            match outcome {
                Ok(r) => {
                    self.records.insert(i, r);
                    self.state.insert(i, State::Done);
                    self.summary.ran.push(t.name.clone());
                    self.say("done", &t.name, &format!("in {secs:.1} s"));
                }
                Err(e) => {
                    let log = self.p.log_path(t);
                    let msg = format!("{e}; log {}: {}", log.display(), last_line(&log));
                    self.state.insert(i, State::Failed);
                    self.say("FAILED", &t.name, &msg);
                    self.summary.failed.push((t.name.clone(), msg));
                    self.stop |= !self.opts.keep_going;
                }
            }
        }
        Ok(progressed)
    }

    /// Runs phases until every target is done, skipped, or left after a failure.
    fn drive(&mut self) -> Result<()> {
        loop {
            let mut progressed = self.skip_blocked();
            let to_spawn = self.ready(&mut progressed)?;
            progressed |= self.start(to_spawn)?;
            progressed |= self.reap()?;
            let running: Vec<&str> = self.running().iter().map(|&i| self.p.targets[i].name.as_str()).collect();
            self.bar.set_message(if running.is_empty() {
                String::new()
            } else {
                format!("running: {}", running.join(", "))
            });
            if running.is_empty() && !progressed {
                return Ok(()); // all done, or stopped after a failure
            }
            if !progressed {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The closing line, and an error naming every failed target.
    fn conclude(mut self, started: Instant) -> Result<Summary> {
        self.bar.finish_and_clear();
        let summary = &mut self.summary;
        summary.wall_s = started.elapsed().as_secs_f64();
        let not_started = self.order.iter().filter(|i| matches!(self.state[*i], State::Pending)).count();
        println!(
            "{}: {} ran, {} up to date, {} restored from the cache{}{} in {:.1} s",
            self.p.name,
            summary.ran.len(),
            summary.up_to_date.len(),
            summary.restored.len(),
            if summary.failed.is_empty() { String::new() } else { format!(", {} FAILED", summary.failed.len()) },
            if summary.skipped.len() + not_started == 0 {
                String::new()
            } else {
                format!(", {} not run", summary.skipped.len() + not_started)
            },
            summary.wall_s
        );
        if summary.failed.is_empty() {
            return Ok(self.summary);
        }
        let parts: Vec<String> = summary.failed.iter().map(|(n, m)| format!("{n} ({m})")).collect();
        Err(Error::Invalid(format!(
            "{} target{} failed: {}{}",
            summary.failed.len(),
            if summary.failed.len() == 1 { "" } else { "s" },
            parts.join("; "),
            if self.opts.keep_going || not_started == 0 {
                String::new()
            } else {
                " (use --keep-going to run the independent targets too)".into()
            }
        )))
    }
}

/// Brings the selected targets up to date. Prints one line per target to
/// stdout; a failure ends in an error naming the failed targets and their logs.
pub fn run(p: &Pipeline, opts: &RunOptions) -> Result<Summary> {
    let started = Instant::now();
    let _lock = super::lock::acquire(&p.artifacts, &format!("synthmix run {}", p.spec_path.display()))?;
    super::slurm::refuse_if_queued(p)?;
    let (order, named) = p.select(&opts.targets)?;
    let forced = forced_set(&order, &named, opts);
    // Under the lock, a temporary or an unrecorded store object is a leftover
    // of a run that was killed.
    let swept = Cache::new(&p.artifacts).sweep(&p.out)?;
    if swept > 0 {
        tracing::debug!("removed {swept} files left by an interrupted run");
    }
    let mut env = Env::new(&opts.data_dir)?;
    // Every stage binary, dataset and file input exists before anything runs.
    for &i in &order {
        env.binary(p, &p.targets[i])?;
        env.check_sources(p, i)?;
    }
    let mut s = Scheduler::new(p, opts, order, forced, env);
    s.drive()?;
    s.conclude(started)
}

pub(super) fn spawn(
    p: &Pipeline,
    env: &Env,
    t: &Target,
    comps: &Components,
    key: &str,
    threads: usize,
) -> Result<Child> {
    let staging = p.staging_dir(t);
    cache::remove_tree(&staging)?;
    for o in &t.outputs {
        let d = staging.join(&o.rel);
        let d = d.parent().expect("has a parent");
        std::fs::create_dir_all(d).at(d)?;
    }
    let log = p.log_path(t);
    let dir = log.parent().expect("log has a folder");
    std::fs::create_dir_all(dir).at(dir)?;
    let mut header = String::new();
    let _ = writeln!(header, "# synthmix run {}: target {} (spec line {})", p.spec_path.display(), t.name, t.line);
    let bin = env.binary(p, t)?;
    let _ = writeln!(header, "# command: {} {}", t.stage, t.args.join(" "));
    let _ = writeln!(
        header,
        "# key {key}; stage version {}; {threads} thread(s); started unix {}",
        comps.stage_version,
        now_unix()
    );
    let _ = writeln!(header, "# executable: {bin}");
    std::fs::write(&log, header).at(&log)?;
    let f = std::fs::OpenOptions::new().append(true).open(&log).at(&log)?;
    let f2 = f.try_clone().at(&log)?;
    let mut cmd = bin.command();
    cmd.args(&t.args)
        .env("SYNTHMIX_DATA", &env.data_dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(f2));
    die_with_parent(&mut cmd);
    cmd.spawn().map_err(|e| Error::Invalid(format!("{}: cannot start {bin}: {e}", t.name)))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    p: &Pipeline,
    cache: &Cache,
    i: usize,
    comps: Components,
    key: String,
    secs: f64,
    declared_owner: &HashMap<PathBuf, usize>,
    placed_by: &mut HashMap<PathBuf, usize>,
) -> Result<Record> {
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
        wall_time_s: secs,
        finished_unix: now_unix(),
    };
    // Side files must not land on another target's outputs.
    let mut files = Vec::new();
    cache::walk(&staging, &mut files)?;
    for f in &files {
        let rel = normalize(f.strip_prefix(&staging).expect("under staging"));
        let other = declared_owner.get(&rel).or_else(|| placed_by.get(&rel)).copied();
        if let Some(j) = other.filter(|&j| j != i) {
            return Err(Error::Invalid(format!(
                "it wrote {}, which is an output of target '{}': give the two targets different output names",
                rel.display(),
                p.targets[j].name
            )));
        }
    }
    let r = cache.commit(&staging, &declared, record)?;
    cache.place(&r, &p.out, false)?;
    cache.write_state(&r)?;
    for o in &r.outputs {
        placed_by.insert(normalize(&o.path), i);
    }
    cache::remove_tree(&staging)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(epochs: &str, input: &str) -> Components {
        Components {
            stage: "clf-train".into(),
            stage_version: "blake3:aa".into(),
            args: vec!["--epochs".into(), epochs.into(), "--train".into(), "mix.safetensors".into()],
            params: [("epochs".to_string(), epochs.to_string())].into(),
            inputs: vec![("mix.safetensors".into(), input.into())],
        }
    }

    fn record(c: Components) -> Record {
        Record {
            format: cache::FORMAT.into(),
            key: c.key(),
            target: "t".into(),
            pipeline: "p".into(),
            components: c,
            outputs: vec![],
            wall_time_s: 0.0,
            finished_unix: 0,
        }
    }

    #[test]
    fn explains_why_a_target_runs() {
        let old = record(comps("1", "h1"));
        assert_eq!(explain(None, &comps("1", "h1"), false), "new (never built)");
        assert_eq!(explain(Some(&old), &comps("1", "h1"), true), "forced");
        assert_eq!(explain(Some(&old), &comps("2", "h1"), false), "changed parameter epochs: 1 → 2");
        assert_eq!(explain(Some(&old), &comps("1", "h2"), false), "changed input mix.safetensors");
        let mut v = comps("1", "h1");
        v.stage_version = "blake3:bb".into();
        assert_eq!(explain(Some(&old), &v, false), "stage clf-train changed (rebuilt binary)");
        let mut a = comps("1", "h1");
        a.args.push("--lr".into());
        assert!(explain(Some(&old), &a, false).starts_with("changed command"));
        assert_ne!(comps("1", "h1").key(), comps("1", "h2").key());
        assert_eq!(comps("1", "h1").key(), comps("1", "h1").key());
    }
}
