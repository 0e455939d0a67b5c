//! What a run would do, without running anything: the selected targets and
//! the forced ones, each target's [`Plan`], and the `--dry-run` and
//! `status` text.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use super::env::Env;
use super::job::{recheck_why, Job, Prepared};
use super::results::Results;
use super::spec::Pipeline;
use crate::error::Result;

/// What a run (or `status`, or `--dry-run`) is asked to do.
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

/// The targets a run brings up to date: the named ones and their
/// dependencies in topological order, and those it reruns even if cached.
pub struct Selection {
    pub order: Vec<usize>,
    pub forced: BTreeSet<usize>,
}

impl Selection {
    pub fn new(p: &Pipeline, opts: &RunOptions) -> Result<Selection> {
        let (order, named) = p.select(&opts.targets)?;
        let forced = if !opts.force {
            BTreeSet::new()
        } else if opts.targets.is_empty() {
            order.iter().copied().collect()
        } else {
            named
        };
        Ok(Selection { order, forced })
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
    let sel = Selection::new(p, opts)?;
    let mut env = Env::new(&opts.data_dir)?;
    let mut results = Results::new(p);
    let mut will_run: BTreeSet<usize> = BTreeSet::new();
    // Targets that read a result found damaged, and why they would rerun.
    let mut recheck: HashMap<usize, String> = HashMap::new();
    let mut out = Vec::new();
    for &i in &sel.order {
        let t = &p.targets[i];
        let waiting: Vec<String> =
            t.deps.iter().filter(|d| will_run.contains(d)).map(|&d| p.targets[d].name.clone()).collect();
        if !waiting.is_empty() {
            will_run.insert(i);
            out.push((i, Plan::After(waiting)));
            continue;
        }
        let forced = if sel.forced.contains(&i) { Some("forced".to_string()) } else { recheck.get(&i).cloned() };
        let prepared = Job::prepare(p, &mut env, &results, i, forced.as_deref(), opts.verify)?;
        if let Some(d) = prepared.damage() {
            for k in p.dependants(i) {
                recheck.entry(k).or_insert_with(|| recheck_why(p, i, &d));
            }
        }
        match prepared {
            Prepared::Cached { record: r, .. } => {
                let in_place = results.cache.in_place(&r, &p.out, opts.verify);
                results.remember(i, r);
                out.push((i, if in_place { Plan::UpToDate } else { Plan::Restore }));
            }
            Prepared::Run { job, .. } => {
                will_run.insert(i);
                out.push((i, Plan::Run(job.why)));
            }
        }
    }
    Ok(out)
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
