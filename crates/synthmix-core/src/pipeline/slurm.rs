//! `synthmix run --executor slurm`: every target that must run becomes one
//! `sbatch` job, queued at once with `--dependency=afterok:…` on the jobs of
//! its inputs, so the runner need not stay up.
//!
//! A job runs `synthmix run-target SPEC TARGET`, which computes the target's
//! cache key once its inputs exist (they were unknown at submission), runs
//! the stage into its staging folder exactly as a local run does and commits
//! through the same store path. A job holds the artifacts lock only while it
//! checks its inputs and while it commits, never while the stage runs, so
//! jobs run side by side and a local runner sees only whole results.
//!
//! ```text
//! artifacts/slurm/PIPELINE/
//!   jobs.json        target → the job last submitted for it
//!   TARGET.sh        the job's script
//!   TARGET.out       the job's stdout and stderr (the stage's own log is
//!                    logs/PIPELINE/TARGET.log, as in a local run)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cache::{Cache, Record};
use super::run::{finish, forced_set, last_line, now_unix, spawn, Env, RunOptions};
use super::spec::{normalize, Pipeline, Target, Threads};
use crate::error::{Error, IoContext, Result};

/// Resources of a job: `[executor.slurm]`, a stage's table below it, or the command line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Resources {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time`, e.g. "2:00:00".
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    /// `--mem`, e.g. "8G".
    pub mem: Option<String>,
    /// GPUs (`--gres=gpu:N`) of a target run with `--device cuda` (default 1).
    pub gpus: Option<usize>,
    /// Further `sbatch` flags, passed as given.
    pub extra: Option<Vec<String>>,
}

impl Resources {
    /// `self`, with every field `over` sets replaced.
    pub fn overlay(&self, over: &Resources) -> Resources {
        Resources {
            partition: over.partition.clone().or_else(|| self.partition.clone()),
            account: over.account.clone().or_else(|| self.account.clone()),
            time: over.time.clone().or_else(|| self.time.clone()),
            cpus_per_task: over.cpus_per_task.or(self.cpus_per_task),
            mem: over.mem.clone().or_else(|| self.mem.clone()),
            gpus: over.gpus.or(self.gpus),
            extra: over.extra.clone().or_else(|| self.extra.clone()),
        }
    }

    fn check(&self, what: &str) -> std::result::Result<(), String> {
        if self.cpus_per_task == Some(0) {
            return Err(format!("{what}: cpus-per-task must be at least 1"));
        }
        for (k, v) in
            [("partition", &self.partition), ("account", &self.account), ("time", &self.time), ("mem", &self.mem)]
        {
            if v.as_ref().is_some_and(|v| v.trim().is_empty() || v.contains(char::is_whitespace)) {
                return Err(format!("{what}: {k} must be one word, not '{}'", v.as_deref().unwrap_or("")));
            }
        }
        Ok(())
    }
}

/// `[executor.slurm]`: resources for every job, and per stage
/// (`[executor.slurm.stage.clf-train]`), which override them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlurmSpec {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    pub mem: Option<String>,
    pub gpus: Option<usize>,
    pub extra: Option<Vec<String>>,
    #[serde(default)]
    pub stage: BTreeMap<String, Resources>,
}

impl SlurmSpec {
    pub fn base(&self) -> Resources {
        Resources {
            partition: self.partition.clone(),
            account: self.account.clone(),
            time: self.time.clone(),
            cpus_per_task: self.cpus_per_task,
            mem: self.mem.clone(),
            gpus: self.gpus,
            extra: self.extra.clone(),
        }
    }

    pub fn check(&self) -> std::result::Result<(), String> {
        self.base().check("[executor.slurm]")?;
        for (stage, r) in &self.stage {
            r.check(&format!("[executor.slurm.stage.{stage}]"))?;
        }
        Ok(())
    }
}

/// `run --executor slurm`'s own options.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// Command-line resources; they override the spec's.
    pub resources: Resources,
    /// Stay attached until every job has finished (Ctrl-C offers to cancel them).
    pub wait: bool,
    /// The `--skip` patterns and `--artifacts` folder the spec was loaded
    /// with: each job loads it the same way, from the same folder, so its
    /// paths (which enter the cache keys) are the same.
    pub skip: Vec<String>,
    pub artifacts: Option<PathBuf>,
}

/// The resources of target `t`'s job: spec, its stage's table, command line.
pub fn resources_for(p: &Pipeline, t: &Target, cli: &Resources) -> Resources {
    let mut r = p.slurm.base();
    if let Some(s) = p.slurm.stage.get(&t.stage) {
        r = r.overlay(s);
    }
    r.overlay(cli)
}

/// Whether a target computes on a GPU (`--device cuda` in its command).
fn uses_cuda(t: &Target) -> bool {
    t.args.windows(2).any(|w| w[0] == "--device" && w[1].starts_with("cuda"))
        || t.args.iter().any(|a| a.starts_with("--device=cuda"))
}

/// The `sbatch` flags of a target's job (without the dependency).
pub fn sbatch_flags(p: &Pipeline, t: &Target, r: &Resources, cwd: &Path) -> Vec<String> {
    let dir = job_dir(p);
    let mut f = vec![
        "--parsable".to_string(),
        format!("--job-name=synthmix:{}:{}", p.name, t.name),
        format!("--output={}", dir.join(format!("{}.out", t.name)).display()),
        format!("--chdir={}", cwd.display()),
        "--export=ALL".to_string(),
        "--kill-on-invalid-dep=yes".to_string(),
    ];
    let opt = |f: &mut Vec<String>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            f.push(format!("--{k}={v}"));
        }
    };
    opt(&mut f, "partition", &r.partition);
    opt(&mut f, "account", &r.account);
    opt(&mut f, "time", &r.time);
    let cpus = r.cpus_per_task.or(match t.threads {
        Some(Threads::Exactly(n)) => Some(n),
        _ => None,
    });
    if let Some(n) = cpus {
        f.push(format!("--cpus-per-task={n}"));
    }
    opt(&mut f, "mem", &r.mem);
    if uses_cuda(t) {
        f.push(format!("--gres=gpu:{}", r.gpus.unwrap_or(1)));
    }
    f.extend(r.extra.iter().flatten().cloned());
    f
}

pub fn job_dir(p: &Pipeline) -> PathBuf {
    p.artifacts.join("slurm").join(&p.name)
}

/// The job last submitted for each target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobTable {
    pub jobs: BTreeMap<String, JobEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEntry {
    pub job: String,
    pub submitted_unix: u64,
}

impl JobTable {
    fn path(p: &Pipeline) -> PathBuf {
        job_dir(p).join("jobs.json")
    }

    pub fn load(p: &Pipeline) -> Result<JobTable> {
        let path = Self::path(p);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::format(&path, format!("corrupt Slurm job table ({e}); delete it"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JobTable::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Written whole, by rename.
    fn save(&self, p: &Pipeline) -> Result<()> {
        let path = Self::path(p);
        let tmp = path.with_file_name(".jobs.json.tmp");
        std::fs::create_dir_all(job_dir(p)).at(job_dir(p))?;
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("serialises")).at(&tmp)?;
        std::fs::rename(&tmp, &path).at(&path)
    }
}

/// Runs a Slurm command; its stdout, or one line naming the command and why it failed.
fn slurm_cmd(prog: &str, args: &[String]) -> Result<String> {
    let out = Command::new(prog).args(args).output().map_err(|e| {
        Error::Invalid(format!("cannot run {prog}: {e} (is Slurm installed and on PATH? --executor local runs here)"))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
        return Err(Error::Invalid(format!("{prog} failed ({}): {err}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// States (PENDING, RUNNING, …) of those of `ids` still in the queue.
pub fn queued_states(ids: &[String]) -> Result<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let out = slurm_cmd("squeue", &["-h".into(), "-o".into(), "%i %T".into()])?;
    let want: std::collections::HashSet<&String> = ids.iter().collect();
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(id, _)| want.contains(&id.to_string()))
        .map(|(id, st)| (id.to_string(), st.trim().to_string()))
        .collect())
}

/// A finished job's state and reason: `sacct` where accounting is on, else
/// `scontrol show job` (which knows jobs for `MinJobAge` after they end).
pub fn final_state(id: &str) -> Option<(String, String)> {
    let args = ["-n", "-X", "-P", "-o", "State", "-j", id].map(String::from);
    if let Ok(out) = slurm_cmd("sacct", &args) {
        if let Some(st) = out.lines().next().map(|l| l.split_whitespace().next().unwrap_or("").to_string()) {
            if !st.is_empty() {
                return Some((st, String::new()));
            }
        }
    }
    let out = slurm_cmd("scontrol", &["-o".into(), "show".into(), "job".into(), id.into()]).ok()?;
    let field = |k: &str| {
        out.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}="))).map(str::to_string).unwrap_or_default()
    };
    let st = field("JobState");
    (!st.is_empty()).then(|| (st, field("Reason")))
}

/// Quotes a word for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Writes the job script of target `t` and submits it; returns the job id.
fn sbatch(p: &Pipeline, t: &Target, deps: &[String], flags: Vec<String>, run_target: &[String]) -> Result<String> {
    let dir = job_dir(p);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let script = dir.join(format!("{}.sh", t.name));
    let cmd: Vec<String> = run_target.iter().map(|a| sh_quote(a)).collect();
    let body = format!(
        "#!/bin/sh\n# synthmix: target {} of pipeline {} (written by synthmix run --executor slurm)\nexec {}\n",
        t.name,
        p.name,
        cmd.join(" ")
    );
    std::fs::write(&script, body).at(&script)?;
    let mut args = flags;
    if !deps.is_empty() {
        args.push(format!("--dependency=afterok:{}", deps.join(":")));
    }
    args.push(script.display().to_string());
    tracing::debug!("sbatch {}", args.join(" "));
    let out = slurm_cmd("sbatch", &args).map_err(|e| Error::Invalid(format!("target '{}': {e}", t.name)))?;
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return Err(Error::Invalid(format!("target '{}': sbatch printed '{}', not a job id", t.name, out.trim())));
    }
    Ok(id)
}

/// What `submit` did.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// (target, job id) of every job this run submitted or found still queued.
    pub jobs: Vec<(String, String)>,
    pub submitted: Vec<String>,
    pub up_to_date: Vec<String>,
    pub restored: Vec<String>,
}

/// The `synthmix run-target` command line a job runs.
fn run_target_argv(
    p: &Pipeline,
    t: &Target,
    opts: &RunOptions,
    so: &SlurmOptions,
    forced: bool,
) -> Result<Vec<String>> {
    let exe =
        std::env::current_exe().map_err(|e| Error::Invalid(format!("cannot locate the synthmix executable: {e}")))?;
    let abs = |x: &Path| std::path::absolute(x).unwrap_or_else(|_| x.to_path_buf()).display().to_string();
    let mut v = vec![
        exe.display().to_string(),
        "--data-dir".into(),
        abs(&opts.data_dir),
        "run-target".into(),
        p.spec_path.display().to_string(),
        t.name.clone(),
    ];
    if let Some(a) = &so.artifacts {
        v.extend(["--artifacts".into(), a.display().to_string()]);
    }
    for s in &so.skip {
        v.extend(["--skip".into(), s.clone()]);
    }
    if forced {
        v.push("--force".into());
    }
    Ok(v)
}

/// Queues every selected target that is not cached as one job, with
/// `afterok` dependencies on the jobs of its inputs; places cached ones. A
/// target whose job from an earlier submission is still queued or running
/// is not submitted again: its dependants wait on that job.
pub fn submit(p: &Pipeline, opts: &RunOptions, so: &SlurmOptions) -> Result<Submission> {
    let _lock =
        super::lock::acquire(&p.artifacts, &format!("synthmix run --executor slurm {}", p.spec_path.display()))?;
    let (order, named) = p.select(&opts.targets)?;
    let forced = forced_set(&order, &named, opts);
    let cache = Cache::new(&p.artifacts);
    // Jobs commit only under the lock, so anything unrecorded now is a leftover.
    cache.sweep(&p.out)?;
    let mut env = Env::new(&opts.data_dir)?;
    for &i in &order {
        env.binary(p, &p.targets[i])?;
        env.check_sources(p, i)?;
    }
    let mut table = JobTable::load(p)?;
    let ids: Vec<String> = table.jobs.values().map(|e| e.job.clone()).collect();
    let queued = queued_states(&ids)?;
    let cwd = std::env::current_dir().map_err(|e| Error::Invalid(format!("cannot read the current folder: {e}")))?;
    let mut job_of: HashMap<usize, String> = HashMap::new();
    let mut records: HashMap<usize, Record> = HashMap::new();
    let mut s = Submission::default();
    let w = order.iter().map(|&i| p.targets[i].name.len()).max().unwrap_or(0);
    for &i in &order {
        let t = &p.targets[i];
        if let Some(e) = table.jobs.get(&t.name).filter(|e| queued.contains_key(&e.job)) {
            println!("{:<10} {:<w$}  job {} ({}, submitted earlier)", "queued", t.name, e.job, queued[&e.job]);
            job_of.insert(i, e.job.clone());
            s.jobs.push((t.name.clone(), e.job.clone()));
            continue;
        }
        let deps: Vec<String> = t.deps.iter().filter_map(|d| job_of.get(d).cloned()).collect();
        if deps.is_empty() && !forced.contains(&i) {
            let key = env.components(p, i, &records)?.key();
            if let Some(r) = cache.lookup(&key, opts.verify)? {
                let placed = cache.place(&r, &p.out, opts.verify)?;
                cache.write_state(&r)?;
                let verb = if placed > 0 { "restored" } else { "up to date" };
                println!("{}", format!("{verb:<10} {:<w$}", t.name).trim_end());
                if placed > 0 { &mut s.restored } else { &mut s.up_to_date }.push(t.name.clone());
                records.insert(i, r);
                continue;
            }
        }
        let flags = sbatch_flags(p, t, &resources_for(p, t, &so.resources), &cwd);
        let argv = run_target_argv(p, t, opts, so, forced.contains(&i))?;
        let id = sbatch(p, t, &deps, flags, &argv)?;
        let after = if deps.is_empty() { String::new() } else { format!(" after {}", deps.join(", ")) };
        println!("{:<10} {:<w$}  job {id}{after}", "submitted", t.name);
        table.jobs.insert(t.name.clone(), JobEntry { job: id.clone(), submitted_unix: now_unix() });
        table.save(p)?;
        job_of.insert(i, id.clone());
        s.jobs.push((t.name.clone(), id));
        s.submitted.push(t.name.clone());
    }
    println!(
        "{}: {} job{} submitted, {} queued from before, {} up to date, {} restored from the cache",
        p.name,
        s.submitted.len(),
        if s.submitted.len() == 1 { "" } else { "s" },
        s.jobs.len() - s.submitted.len(),
        s.up_to_date.len(),
        s.restored.len()
    );
    Ok(s)
}

/// The threads a job's stage gets: the CPUs Slurm gave it
/// (`--cpus-per-task`, else what it allocated on the node), else the machine's.
fn job_threads() -> usize {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
    var("SLURM_CPUS_PER_TASK")
        .or_else(|| var("SLURM_CPUS_ON_NODE"))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// `synthmix run-target`: what a Slurm job runs. Under the lock: places the
/// target's inputs (which must be cached) and computes its key (a cached
/// result is placed, nothing runs). Without the lock: runs the stage into its
/// staging folder. Under the lock again: commits it to the store, places it.
pub fn run_target(p: &Pipeline, name: &str, opts: &RunOptions) -> Result<()> {
    let Some(&i) = p.by_name.get(name) else {
        return Err(Error::Invalid(format!("{}: no target named '{name}'", p.spec_path.display())));
    };
    let t = &p.targets[i];
    let (order, _) = p.select(&[name.to_string()])?;
    let cache = Cache::new(&p.artifacts);
    let mut env = Env::new(&opts.data_dir)?;
    env.binary(p, t)?;
    env.check_sources(p, i)?;
    let what = format!("synthmix run-target {} {name} (pid {})", p.spec_path.display(), std::process::id());
    let (comps, key, mut placed_by) = {
        let _lock = super::lock::acquire_wait(&p.artifacts, &what)?;
        let mut records: HashMap<usize, Record> = HashMap::new();
        let mut placed_by = HashMap::new();
        for &j in order.iter().filter(|&&j| j != i) {
            let key = env.components(p, j, &records)?.key();
            let r = cache.lookup(&key, false)?.ok_or_else(|| {
                Error::Invalid(format!("target '{name}': its input target '{}' is not in the cache", p.targets[j].name))
            })?;
            cache.place(&r, &p.out, false)?;
            placed_by.extend(r.outputs.iter().map(|o| (normalize(&o.path), j)));
            records.insert(j, r);
        }
        let comps = env.components(p, i, &records)?;
        let key = comps.key();
        if !opts.force {
            if let Some(r) = cache.lookup(&key, opts.verify)? {
                cache.place(&r, &p.out, opts.verify)?;
                cache.write_state(&r)?;
                println!("up to date {name} (key {key})");
                return Ok(());
            }
        }
        (comps, key, placed_by)
    };
    let threads = job_threads();
    println!("run {name}: key {key}, {threads} thread(s), log {}", p.log_path(t).display());
    let t0 = Instant::now();
    let log = p.log_path(t);
    let status = spawn(p, &env, t, &comps, &key, threads)?.wait().at(&log)?;
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(Error::Invalid(format!(
            "target '{name}' failed ({status}); log {}: {}",
            log.display(),
            last_line(&log)
        )));
    }
    let _lock = super::lock::acquire_wait(&p.artifacts, &what)?;
    let declared_owner: HashMap<PathBuf, usize> =
        p.targets.iter().enumerate().flat_map(|(j, t)| t.outputs.iter().map(move |o| (normalize(&o.rel), j))).collect();
    finish(p, &cache, i, comps, key, secs, &declared_owner, &mut placed_by)
        .map_err(|e| Error::Invalid(format!("target '{name}': {e}")))?;
    println!("done {name} in {secs:.1} s");
    Ok(())
}

/// The last `n` non-empty lines of a stage's log (its header left out),
/// indented, for a failure message.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let header = ["# synthmix run ", "# command: ", "# key ", "# executable: "];
    let lines: Vec<&str> =
        text.lines().filter(|l| !l.trim().is_empty() && !header.iter().any(|h| l.starts_with(h))).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("    {l}\n")).collect()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_sigint() {
    extern "C" {
        fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
    }
    const SIGINT: i32 = 2;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        signal(SIGINT, on_sigint);
    }
}

/// After Ctrl-C: asks whether to cancel the jobs (on a terminal), else says how.
fn offer_cancel(jobs: &[(String, String)], queued: &HashMap<String, String>) -> Result<()> {
    let ids: Vec<String> = jobs.iter().map(|(_, id)| id.clone()).filter(|id| queued.contains_key(id)).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let cancel = if std::io::stdin().is_terminal() {
        eprint!("cancel the {} queued or running job(s) with scancel? [y/N] ", ids.len());
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        answer.trim().eq_ignore_ascii_case("y")
    } else {
        false
    };
    if cancel {
        slurm_cmd("scancel", &ids)?;
        println!("cancelled jobs {}", ids.join(" "));
    } else {
        println!("the jobs keep running; cancel them with: scancel {}", ids.join(" "));
    }
    Ok(())
}

/// `--wait`: follows the jobs until none is queued, then says how each
/// ended; a failed one with the tail of its target's log.
pub fn wait(p: &Pipeline, s: &Submission) -> Result<()> {
    catch_sigint();
    let started = Instant::now();
    let ids: Vec<String> = s.jobs.iter().map(|(_, id)| id.clone()).collect();
    let mut last: HashMap<String, String> = HashMap::new();
    loop {
        let queued = queued_states(&ids)?;
        for (name, id) in &s.jobs {
            if let Some(st) = queued.get(id).filter(|st| last.get(id) != Some(st)) {
                println!("{:<10} {name}  job {id}", st.to_lowercase());
                last.insert(id.clone(), st.clone());
            }
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            offer_cancel(&s.jobs, &queued)?;
            return Err(Error::Invalid(format!(
                "interrupted while following the jobs of {} (synthmix status shows them)",
                p.spec_path.display()
            )));
        }
        if queued.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    conclude(p, s, started)
}

/// One line per job's outcome; an error naming the failed targets.
fn conclude(p: &Pipeline, s: &Submission, started: Instant) -> Result<()> {
    let (mut ran, mut failed, mut not_run) = (0, Vec::new(), 0);
    for (name, id) in &s.jobs {
        let (st, reason) = final_state(id).unwrap_or_else(|| ("UNKNOWN".into(), String::new()));
        if st == "COMPLETED" {
            ran += 1;
            println!("{:<10} {name}  job {id}", "done");
        } else if reason.contains("Dependency") || st == "PENDING" {
            not_run += 1;
            println!("{:<10} {name}  job {id} (a dependency failed)", "skipped");
        } else {
            let t = p.target(name).expect("a submitted target");
            let log = p.log_path(t);
            let out = job_dir(p).join(format!("{name}.out"));
            println!("{:<10} {name}  job {id} {st}; log {}:\n{}", "FAILED", log.display(), tail(&log, 5));
            // The stage's own error, else (it never started) the job's.
            let why = match last_line(&log) {
                l if log.is_file() && !l.starts_with("# ") => format!("log {}: {l}", log.display()),
                _ => format!("{}: {}", out.display(), last_line(&out)),
            };
            failed.push(format!("{name} (job {id} {st}; {why})"));
        }
    }
    println!(
        "{}: {ran} ran, {} up to date, {} restored from the cache{}{} in {:.1} s",
        p.name,
        s.up_to_date.len(),
        s.restored.len(),
        if failed.is_empty() { String::new() } else { format!(", {} FAILED", failed.len()) },
        if not_run == 0 { String::new() } else { format!(", {not_run} not run") },
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{} target{} failed: {} (rerun to resubmit what is missing)",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        failed.join("; ")
    )))
}

/// Refuses a local run while Slurm jobs of the pipeline are queued or
/// running (it would run their targets a second time). Where Slurm cannot
/// be asked (no `squeue` here), nothing is refused.
pub fn refuse_if_queued(p: &Pipeline) -> Result<()> {
    let table = JobTable::load(p)?;
    if table.jobs.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = table.jobs.values().map(|e| e.job.clone()).collect();
    let Ok(queued) = queued_states(&ids) else {
        return Ok(());
    };
    let live: Vec<(&String, &String)> =
        table.jobs.iter().filter(|(_, e)| queued.contains_key(&e.job)).map(|(n, e)| (n, &e.job)).collect();
    if live.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = live.iter().map(|(n, _)| n.as_str()).take(3).collect();
    let ids: Vec<&str> = live.iter().map(|(_, j)| j.as_str()).collect();
    Err(Error::Invalid(format!(
        "{}: {} Slurm job{} of pipeline '{}' {} still queued or running ({}{}); wait for them \
         (synthmix status) or cancel them (scancel {}) before a local run",
        p.spec_path.display(),
        live.len(),
        if live.len() == 1 { "" } else { "s" },
        p.name,
        if live.len() == 1 { "is" } else { "are" },
        names.join(", "),
        if live.len() > 3 { ", …" } else { "" },
        ids.join(" ")
    )))
}

/// `synthmix status`'s Slurm part: each target's last job, if it is queued,
/// running or did not complete (with its log's last line). Empty when no job
/// was ever submitted for the pipeline.
pub fn status_notes(p: &Pipeline) -> Result<HashMap<String, String>> {
    let table = JobTable::load(p)?;
    let mut notes = HashMap::new();
    if table.jobs.is_empty() {
        return Ok(notes);
    }
    let ids: Vec<String> = table.jobs.values().map(|e| e.job.clone()).collect();
    let queued = match queued_states(&ids) {
        Ok(q) => q,
        Err(e) => {
            notes.insert(String::new(), format!("Slurm jobs unknown: {e}"));
            return Ok(notes);
        }
    };
    for (name, e) in &table.jobs {
        let note = match queued.get(&e.job) {
            Some(st) => format!("slurm job {} {st}", e.job),
            None => match final_state(&e.job) {
                Some((st, _)) if st == "COMPLETED" => continue,
                Some((st, reason)) => {
                    let log = p.target(name).map(|t| p.log_path(t)).unwrap_or_default();
                    let why =
                        if reason.contains("Dependency") { "a dependency failed".into() } else { last_line(&log) };
                    format!("slurm job {} {st}: {why}", e.job)
                }
                None => continue,
            },
        };
        notes.insert(name.clone(), note);
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::spec::{load, LoadOptions};

    fn spec(extra: &str) -> Result<Pipeline> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        let body = format!(
            "[target.a]\ncommand = \"my-stage --out {{out}}\"\noutputs = [\"a.st\"]\n\n\
             [target.g]\ncommand = \"my-gan --device cuda --out {{out}}\"\noutputs = [\"g.st\"]\nthreads = 3\n\n{extra}"
        );
        std::fs::write(&path, body).unwrap();
        load(&path, &LoadOptions::default())
    }

    #[test]
    fn resources_come_from_the_spec_its_stage_tables_and_the_command_line() {
        let p = spec(
            "[executor.slurm]\npartition = \"cpu\"\ntime = \"1:00:00\"\nmem = \"4G\"\nextra = [\"--qos=low\"]\n\n\
             [executor.slurm.stage.my-gan]\npartition = \"gpu\"\ngpus = 2\n",
        )
        .unwrap();
        let cli = Resources { time: Some("9:00".into()), ..Default::default() };
        let cwd = Path::new("/w");
        let a = sbatch_flags(&p, p.target("a").unwrap(), &resources_for(&p, p.target("a").unwrap(), &cli), cwd);
        for f in ["--partition=cpu", "--time=9:00", "--mem=4G", "--qos=low", "--kill-on-invalid-dep=yes", "--chdir=/w"]
        {
            assert!(a.contains(&f.to_string()), "{f} not in {a:?}");
        }
        assert!(!a.iter().any(|f| f.starts_with("--gres") || f.starts_with("--cpus-per-task")), "{a:?}");
        let g = sbatch_flags(&p, p.target("g").unwrap(), &resources_for(&p, p.target("g").unwrap(), &cli), cwd);
        for f in ["--partition=gpu", "--gres=gpu:2", "--cpus-per-task=3", "--job-name=synthmix:s:g"] {
            assert!(g.contains(&f.to_string()), "{f} not in {g:?}");
        }
    }

    #[test]
    fn bad_executor_tables_are_refused_with_their_line() {
        let e = spec("[executor.slurm]\npartitions = \"cpu\"\n").unwrap_err().to_string();
        assert!(e.contains("s.toml:11") && e.contains("partitions"), "{e}");
        let e = spec("[executor.slurm.stage.evaluate]\ntime = \"1:00\"\n").unwrap_err().to_string();
        assert!(e.contains("no target runs stage 'evaluate'"), "{e}");
        let e = spec("[executor.slurm]\ncpus-per-task = 0\n").unwrap_err().to_string();
        assert!(e.contains("cpus-per-task must be at least 1"), "{e}");
        let e = spec("[executor.pbs]\nqueue = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("pbs"), "{e}");
    }
}
