//! A job: one target brought up to date. Prepared (its key computed, its
//! cached result found, else why it must run), launched as a stage process
//! writing into its staging folder and its log, then committed through
//! [`Results`](super::results::Results).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::cache::{self, Components, Found, Record};
use super::env::Env;
use super::results::{key_file, now_unix, Results};
use super::spec::{Pipeline, Target};
use crate::error::{Error, IoContext, Result};
use crate::terminal::clip;

/// A job's cache key and what it is computed from.
#[derive(Debug, Clone)]
pub struct Key {
    pub comps: Components,
    pub hash: String,
}

/// A target that must run.
#[derive(Debug, Clone)]
pub struct Job {
    pub index: usize,
    /// Runs even if cached (`--force`).
    pub forced: bool,
    /// Known once its inputs exist; a job queued behind the jobs of its
    /// inputs (a Slurm job) computes it when it starts.
    pub key: Option<Key>,
    /// Why it runs, in the user's words.
    pub why: String,
}

/// What preparing a target found. `damage` says what was found damaged (a
/// stored object; with `--verify`, a placed output): whatever read the
/// target's result may have read bad bytes, so it is rechecked.
pub enum Prepared {
    Cached { record: Record, damage: Option<String> },
    Run { job: Job, damage: Option<String> },
}

impl Prepared {
    pub fn damage(&self) -> Option<String> {
        match self {
            Prepared::Cached { damage, .. } | Prepared::Run { damage, .. } => damage.clone(),
        }
    }
}

/// Why a target that reads target `i`, whose result was found damaged,
/// runs again.
pub fn recheck_why(p: &Pipeline, i: usize, damage: &str) -> String {
    format!("rechecked: its input {} was repaired ({damage})", p.targets[i].name)
}

impl Job {
    /// Target `i`, whose inputs are all done: its cached result (unless
    /// forced: `Some(why)`), else a job to run and why.
    pub fn prepare(
        p: &Pipeline,
        env: &mut Env,
        results: &Results,
        i: usize,
        forced: Option<&str>,
        verify: bool,
    ) -> Result<Prepared> {
        let comps = env.components(p, i, results.records())?;
        let hash = comps.key();
        let found = results.cache.lookup(&hash, &p.out, verify)?;
        let damage = match found {
            Found::Intact(record) if forced.is_none() => {
                let placed = if verify { results.cache.damaged_in_place(&record, &p.out) } else { vec![] };
                let damage = placed.first().map(|f| format!("{} changed where it was placed", f.display()));
                return Ok(Prepared::Cached { record, damage });
            }
            Found::Damaged(how) => Some(how),
            Found::Intact(_) | Found::Missing => None,
        };
        let why = match (&damage, forced) {
            (Some(how), None) => format!("its stored result is damaged ({how})"),
            _ => explain(results.cache.last_state(&p.name, &p.targets[i].name)?.as_ref(), &comps, forced),
        };
        let job = Job { index: i, forced: forced.is_some(), key: Some(Key { comps, hash }), why };
        Ok(Prepared::Run { job, damage })
    }

    /// Target `i` as a job that computes its key itself when it starts: one
    /// queued behind the jobs of its inputs, or one an earlier run queued.
    pub fn keyed_later(i: usize, forced: bool) -> Job {
        Job { index: i, forced, key: None, why: "its inputs are still being made".into() }
    }

    /// Starts the stage with `threads` threads, its outputs going to a fresh
    /// staging folder (or the one an interrupted run under the same key
    /// left, which it resumes), stdout and stderr to its log (under a header
    /// that says what runs).
    pub fn launch(&self, p: &Pipeline, env: &Env, threads: usize) -> Result<Started> {
        let t = &p.targets[self.index];
        let key = self.key.as_ref().expect("a job launched here has its inputs, so its key");
        let staging = p.staging_dir(t);
        let resume = self.resumes(p);
        if !resume {
            cache::remove_tree(&staging)?;
        }
        for o in &t.outputs {
            let d = staging.join(&o.rel);
            let d = d.parent().expect("has a parent");
            std::fs::create_dir_all(d).at(d)?;
        }
        let key_file = key_file(&staging);
        crate::artifact::write_atomic(&key_file, key.hash.as_bytes())?;
        let bin = env.binary(p, t)?;
        let log = p.log_path(t);
        let header = log_header(p, t, key, threads, &bin.to_string());
        let dir = log.parent().expect("log has a folder");
        std::fs::create_dir_all(dir).at(dir)?;
        std::fs::write(&log, header).at(&log)?;
        let f = std::fs::OpenOptions::new().append(true).open(&log).at(&log)?;
        let f2 = f.try_clone().at(&log)?;
        let mut cmd = bin.command();
        cmd.args(&t.args)
            .args(resume.then_some("--resume"))
            .env("SYNTHMIX_DATA", &env.data_dir)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .env("NO_COLOR", "1")
            .env(super::lock::STAGING_ENV, std::path::absolute(&staging).at(&staging)?)
            .stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2));
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| Error::Invalid(format!("{}: cannot start {bin}: {e}", t.name)))?;
        Ok(Started { child, resumes: resume })
    }
}

/// A stage [`Job::launch`] started: its process, and whether it resumes an
/// interrupted run (decided once, from the staging folder's key file).
pub struct Started {
    pub child: Child,
    pub resumes: bool,
}

impl Job {
    /// Whether this launch continues an interrupted run instead of starting
    /// afresh: the stage resumes (it has `--resume`: gan-train, clf-train,
    /// which then continue bit for bit), the command does not already say
    /// so, and the staging folder was left by a run under the same key. A
    /// study stopped mid-target (a session's end, a kill) loses at most the
    /// epoch in progress.
    fn resumes(&self, p: &Pipeline) -> bool {
        let t = &p.targets[self.index];
        let Some(key) = &self.key else { return false };
        let has_resume = crate::stages::find(&t.stage)
            .is_some_and(|s| (s.command)().get_arguments().any(|a| a.get_long() == Some("resume")));
        let staging = p.staging_dir(t);
        has_resume
            && !t.args.iter().any(|a| a == "--resume")
            && staging.is_dir()
            && std::fs::read_to_string(key_file(&staging)).is_ok_and(|k| k == key.hash)
    }
}

/// The first lines of a stage's log: what runs, with which key and threads.
fn log_header(p: &Pipeline, t: &Target, key: &Key, threads: usize, exe: &str) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "# synthmix run {}: target {} (spec line {})", p.spec_path.display(), t.name, t.line);
    let _ = writeln!(h, "# command: {} {}", t.stage, t.args.join(" "));
    let _ = writeln!(
        h,
        "# key {}; stage version {}; {threads} thread(s); started unix {}",
        key.hash,
        key.comps.stage_version,
        now_unix()
    );
    let _ = writeln!(h, "# executable: {exe}");
    h
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

/// Why target `t` failed, with the last line of its log.
pub fn failure(p: &Pipeline, t: &Target, e: impl std::fmt::Display) -> String {
    let log = p.log_path(t);
    format!("{e}; log {}: {}", log.display(), last_line(&log))
}

/// The last non-empty line of a log (at most 300 characters).
pub fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|s| s.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().chars().take(300).collect()))
        .unwrap_or_default()
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

/// Why a target must run, compared with what was last placed (`forced`:
/// why it runs regardless).
pub fn explain(prev: Option<&Record>, cur: &Components, forced: Option<&str>) -> String {
    if let Some(why) = forced {
        return why.into();
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
        why.push(format!("stage changed: {} → {}", clip(&old.stage), clip(&cur.stage)));
    } else if old.stage_version != cur.stage_version {
        why.push(version_change(&cur.stage, &old.stage_version, &cur.stage_version));
    }
    for (k, v) in &cur.params {
        match old.params.get(k) {
            Some(o) if o != v => why.push(format!("changed parameter {k}: {} → {}", clip(o), clip(v))),
            None => why.push(format!("new parameter {k} = {}", clip(v))),
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
            Some((a, b)) => format!("changed command: {} → {}", clip(a), clip(b)),
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
            cpu_time_s: None,
            threads: None,
            resumed: false,
        }
    }

    #[test]
    fn explains_why_a_target_runs() {
        let old = record(comps("1", "h1"));
        assert_eq!(explain(None, &comps("1", "h1"), None), "new (never built)");
        assert_eq!(explain(Some(&old), &comps("1", "h1"), Some("forced")), "forced");
        assert_eq!(explain(Some(&old), &comps("2", "h1"), None), "changed parameter epochs: 1 → 2");
        assert_eq!(explain(Some(&old), &comps("1", "h2"), None), "changed input mix.safetensors");
        let mut v = comps("1", "h1");
        v.stage_version = "blake3:bb".into();
        assert_eq!(explain(Some(&old), &v, None), "stage clf-train changed (rebuilt binary)");
        let mut a = comps("1", "h1");
        a.args.push("--lr".into());
        assert!(explain(Some(&old), &a, None).starts_with("changed command"));
        // A huge value is shown clipped.
        let big = "9".repeat(1 << 20);
        let why = explain(Some(&old), &comps(&big, "h1"), None);
        assert!(why.starts_with("changed parameter epochs: 1 → 999") && why.len() < 400, "{} bytes", why.len());
        assert_ne!(comps("1", "h1").key(), comps("1", "h2").key());
        assert_eq!(comps("1", "h1").key(), comps("1", "h1").key());
    }
}
