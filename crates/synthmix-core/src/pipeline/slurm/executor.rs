//! The Slurm executor: every job one `sbatch` job, or the targets of one
//! matrix expansion one job array (see [`super::array`]), queued at once
//! with `afterok`/`aftercorr` dependencies on the jobs of their inputs.
//! With `--wait` it follows them through `squeue` until they end; Ctrl-C
//! offers to cancel.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::array::{self, Dep, Item, JobRef, Submission};
use super::queue::{cluster_limits, final_state, queued_states, slurm_cmd, JobEntry, JobTable, Limits};
use super::sbatch::{array_flags, resources_for, run_target_argv, sbatch, sbatch_array, sbatch_flags, SlurmOptions};
use crate::error::{Error, Result};
use crate::pipeline::env::Env;
use crate::pipeline::executor::{Event, Executor, Launch, Outcome, Summary};
use crate::pipeline::job::{last_line, tail, Job};
use crate::pipeline::lock::Lock;
use crate::pipeline::plan::RunOptions;
use crate::pipeline::results::now_unix;
use crate::pipeline::spec::Pipeline;

pub struct SlurmExecutor<'a> {
    p: &'a Pipeline,
    opts: &'a RunOptions,
    so: &'a SlurmOptions,
    cwd: PathBuf,
    /// The job last submitted for each target (`jobs.json`).
    table: JobTable,
    /// The states of those of its jobs still queued when the run began.
    queued_before: HashMap<String, String>,
    /// The job (or array task, `JOBID_TASK`) of every target launched or
    /// resumed; how many were submitted, and how many arrays they made.
    job_of: HashMap<usize, String>,
    submitted: usize,
    arrays: usize,
    /// Each target's matrix expansion (its table's line), its cell's place
    /// in it and the expansion's size.
    cells: Vec<(usize, usize, usize)>,
    /// `MaxArraySize` and the job-count limit, asked once, at the first launch.
    limits: Option<Limits>,
    /// With `--wait`: the jobs not yet ended, the queue as last polled, and
    /// the state last said of each job.
    following: Vec<usize>,
    queue: HashMap<String, String>,
    said: HashMap<String, String>,
    /// Held while submitting; the jobs take it to commit.
    lock: Option<Lock>,
}

impl<'a> SlurmExecutor<'a> {
    /// Reads `jobs.json` and asks Slurm which of its jobs are still queued.
    pub fn new(p: &'a Pipeline, opts: &'a RunOptions, so: &'a SlurmOptions, lock: Lock) -> Result<Self> {
        let table = JobTable::load(p)?;
        let ids: Vec<String> = table.jobs.values().map(|e| e.job.clone()).collect();
        let queued_before = queued_states(&ids)?;
        let cwd =
            std::env::current_dir().map_err(|e| Error::Invalid(format!("cannot read the current folder: {e}")))?;
        Ok(SlurmExecutor {
            p,
            opts,
            so,
            cwd,
            table,
            queued_before,
            job_of: HashMap::new(),
            submitted: 0,
            arrays: 0,
            cells: cells(p),
            limits: None,
            following: Vec::new(),
            queue: HashMap::new(),
            said: HashMap::new(),
            lock: Some(lock),
        })
    }

    /// What the planner needs of a queued job: its array group (None: a
    /// job of its own), its cell and what it waits on.
    fn item(&self, job: &Job, queued: &HashMap<usize, bool>) -> Item {
        let t = &self.p.targets[job.index];
        let (line, cell, size) = self.cells[job.index];
        let group = (!self.so.no_arrays && size > 1).then(|| {
            let flags: Vec<String> = sbatch_flags(self.p, t, &resources_for(self.p, t, &self.so.resources), &self.cwd)
                .into_iter()
                .filter(|f| !f.starts_with("--job-name=") && !f.starts_with("--output="))
                .collect();
            format!("{line}\u{1}{}\u{1}{}\u{1}{}", t.stage, job.forced, flags.join("\u{1}"))
        });
        let deps = t
            .deps
            .iter()
            .filter_map(|d| match (queued.contains_key(d), self.job_of.get(d)) {
                (true, _) => Some(Dep::Queued(*d)),
                (false, Some(id)) => Some(Dep::Known(id.clone())),
                (false, None) => None, // cached
            })
            .collect();
        Item { target: job.index, group, cell, deps }
    }

    /// Submits one planned job or array after the jobs it waits on; its id,
    /// and what the run says of each of its targets.
    fn submit(
        &mut self,
        s: &Submission,
        ids: &[String],
        forced: &HashMap<usize, bool>,
    ) -> Result<(String, Vec<Launch>)> {
        let id_of = |j: &JobRef| match j {
            JobRef::Id(id) => id.clone(),
            JobRef::Planned(n, None) => ids[*n].clone(),
            JobRef::Planned(n, Some(t)) => format!("{}_{t}", ids[*n]),
        };
        let ok: Vec<String> = s.after_ok.iter().map(id_of).collect();
        let corr: Vec<String> = s.after_corr.iter().map(|n| ids[*n].clone()).collect();
        let mut dependency = Vec::new();
        if !ok.is_empty() {
            dependency.push(format!("afterok:{}", ok.join(":")));
        }
        if !corr.is_empty() {
            dependency.push(format!("aftercorr:{}", corr.join(":")));
        }
        let t0 = &self.p.targets[s.members[0].0];
        let r = resources_for(self.p, t0, &self.so.resources);
        let id = if s.array {
            let mut tasks = Vec::new();
            for &(i, task) in &s.members {
                let t = &self.p.targets[i];
                tasks.push((task, t, run_target_argv(self.p, t, self.opts, self.so, forced[&i])?));
            }
            let spec = array::array_spec(&s.tasks(), r.max_parallel);
            self.arrays += 1;
            sbatch_array(self.p, &tasks, &dependency.join(","), array_flags(self.p, t0, &r, &self.cwd, &spec))?
        } else {
            let argv = run_target_argv(self.p, t0, self.opts, self.so, forced[&s.members[0].0])?;
            sbatch(self.p, t0, &dependency.join(","), sbatch_flags(self.p, t0, &r, &self.cwd), &argv)?
        };
        let mut after: Vec<String> = ok;
        after.extend(corr.iter().map(|c| format!("{c} task by task")));
        let after = if after.is_empty() { String::new() } else { format!(" after {}", after.join(", ")) };
        let mut launches = Vec::new();
        for &(i, task) in &s.members {
            let job = if s.array { format!("{id}_{task}") } else { id.clone() };
            let name = self.p.targets[i].name.clone();
            self.table.jobs.insert(name, JobEntry { job: job.clone(), submitted_unix: now_unix() });
            self.follow(i, &job);
            self.submitted += 1;
            let of = if s.array { format!(" (array {id} of {})", s.members.len()) } else { String::new() };
            launches.push(Launch { verb: "submitted", note: format!("job {job}{of}{after}") });
        }
        self.table.save(self.p)?;
        Ok((id, launches))
    }

    fn follow(&mut self, i: usize, id: &str) {
        self.job_of.insert(i, id.to_string());
        self.following.push(i);
    }

    /// How a job that left the queue ended: `sacct`, else `scontrol`.
    fn outcome(&self, i: usize, id: &str) -> Outcome {
        let (st, reason) = final_state(id).unwrap_or_else(|| ("UNKNOWN".into(), String::new()));
        if st == "COMPLETED" {
            return Outcome::Committed { note: format!("job {id}") };
        }
        if reason.contains("Dependency") || st == "PENDING" {
            return Outcome::NotRun { note: format!("job {id} (a dependency failed)") };
        }
        let t = &self.p.targets[i];
        let log = self.p.log_path(t);
        let out = super::queue::job_dir(self.p).join(format!("{}.out", t.name));
        // The stage's own error, else (it never started) the job's.
        let why = match last_line(&log) {
            l if log.is_file() && !l.starts_with("# ") => format!("log {}: {l}", log.display()),
            _ => format!("{}: {}", out.display(), last_line(&out)),
        };
        Outcome::Failed {
            note: format!("job {id} {st}; log {}:\n{}", log.display(), tail(&log, 5)),
            why: format!("job {id} {st}; {why}"),
            stopped: false,
        }
    }
}

impl Executor for SlurmExecutor<'_> {
    fn chains(&self) -> bool {
        true
    }

    fn resume(&mut self, i: usize) -> Option<Launch> {
        let e = self.table.jobs.get(&self.p.targets[i].name)?;
        let state = self.queued_before.get(&e.job)?;
        let note = format!("job {} ({state}, submitted earlier)", e.job);
        let id = e.job.clone();
        self.follow(i, &id);
        Some(Launch { verb: "queued", note })
    }

    /// Plans the whole queue (arrays, exact dependencies), checks it
    /// against the cluster's limits, then submits it in order.
    fn launch(&mut self, _env: &Env, queue: &[&Job]) -> Result<Vec<Launch>> {
        let forced: HashMap<usize, bool> = queue.iter().map(|j| (j.index, j.forced)).collect();
        let items: Vec<Item> = queue.iter().map(|job| self.item(job, &forced)).collect();
        if self.limits.is_none() {
            self.limits = Some(cluster_limits()?);
        }
        let limits = self.limits.clone().expect("asked above");
        let subs = array::plan(&items, limits.max_array_size);
        array::check_count(&subs, limits.max_jobs.as_ref().map(|(k, n)| (k.as_str(), *n)))
            .map_err(|e| Error::Invalid(format!("{}: {e}", self.p.spec_path.display())))?;
        let mut ids = Vec::new();
        let mut said: HashMap<usize, Launch> = HashMap::new();
        for s in &subs {
            let (id, launches) = self.submit(s, &ids, &forced)?;
            ids.push(id);
            said.extend(s.members.iter().map(|m| m.0).zip(launches));
        }
        Ok(queue.iter().map(|j| said.remove(&j.index).expect("every queued job is planned")).collect())
    }

    fn launched_all(&mut self, s: &Summary) -> Option<String> {
        self.lock = None;
        if self.so.wait {
            catch_sigint();
        }
        let arrays = match self.arrays {
            0 => String::new(),
            1 => " (as 1 job array and single jobs)".to_string(),
            n => format!(" (as {n} job arrays and single jobs)"),
        };
        Some(format!(
            "{}: {} job{} submitted{arrays}, {} queued from before, {} up to date, {} restored from the cache",
            self.p.name,
            self.submitted,
            if self.submitted == 1 { "" } else { "s" },
            self.job_of.len() - self.submitted,
            s.up_to_date.len(),
            s.restored.len()
        ))
    }

    fn poll(&mut self) -> Result<Vec<(usize, Event)>> {
        if !self.so.wait {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = self.following.iter().map(|i| self.job_of[i].clone()).collect();
        self.queue = queued_states(&ids)?;
        let mut news = Vec::new();
        for (i, id) in self.following.iter().zip(&ids) {
            match self.queue.get(id) {
                Some(st) if self.said.get(id) != Some(st) => {
                    news.push((*i, Event::Moved { verb: st.to_lowercase(), note: format!("job {id}") }));
                    self.said.insert(id.clone(), st.clone());
                }
                Some(_) => {}
                None => news.push((*i, Event::Ended(self.outcome(*i, id)))),
            }
        }
        self.following.retain(|i| self.queue.contains_key(&self.job_of[i]));
        Ok(news)
    }

    fn follows(&self) -> bool {
        self.so.wait
    }

    fn idle_wait(&self) -> Duration {
        Duration::from_millis(500)
    }

    fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }

    fn cancel(&mut self) -> Result<()> {
        let ids: Vec<String> =
            self.following.iter().map(|i| self.job_of[i].clone()).filter(|id| self.queue.contains_key(id)).collect();
        offer_cancel(&ids)
    }

    fn failure_hint(&self, _not_started: usize, _keep_going: bool) -> Option<&'static str> {
        Some("rerun to resubmit what is missing")
    }
}

/// Each target's matrix expansion (the line of its table), its cell's
/// place in it, and the expansion's size.
fn cells(p: &Pipeline) -> Vec<(usize, usize, usize)> {
    let mut size: HashMap<usize, usize> = HashMap::new();
    let mut v = Vec::with_capacity(p.targets.len());
    for t in &p.targets {
        let n = size.entry(t.line).or_insert(0);
        v.push((t.line, *n, 0));
        *n += 1;
    }
    for c in &mut v {
        c.2 = size[&c.0];
    }
    v
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

/// After Ctrl-C: asks whether to cancel the jobs `ids` (on a terminal), else says how.
fn offer_cancel(ids: &[String]) -> Result<()> {
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
        slurm_cmd("scancel", ids)?;
        println!("cancelled jobs {}", ids.join(" "));
    } else {
        println!("the jobs keep running; cancel them with: scancel {}", ids.join(" "));
    }
    Ok(())
}
