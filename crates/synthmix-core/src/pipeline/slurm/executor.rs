//! The Slurm executor: every job one `sbatch` job, queued at once with
//! `afterok` dependencies on the jobs of its inputs. With `--wait` it
//! follows them through `squeue` until they end; Ctrl-C offers to cancel.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::queue::{final_state, queued_states, slurm_cmd, JobEntry, JobTable};
use super::sbatch::{resources_for, run_target_argv, sbatch, sbatch_flags, SlurmOptions};
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
    /// The job of every target launched or resumed, and how many were submitted.
    job_of: HashMap<usize, String>,
    submitted: usize,
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
            following: Vec::new(),
            queue: HashMap::new(),
            said: HashMap::new(),
            lock: Some(lock),
        })
    }

    /// Writes and submits the job of `job`, after the jobs of its inputs.
    fn submit(&mut self, job: &Job) -> Result<Launch> {
        let t = &self.p.targets[job.index];
        let deps: Vec<String> = t.deps.iter().filter_map(|d| self.job_of.get(d).cloned()).collect();
        let flags = sbatch_flags(self.p, t, &resources_for(self.p, t, &self.so.resources), &self.cwd);
        let argv = run_target_argv(self.p, t, self.opts, self.so, job.forced)?;
        let id = sbatch(self.p, t, &deps, flags, &argv)?;
        self.table.jobs.insert(t.name.clone(), JobEntry { job: id.clone(), submitted_unix: now_unix() });
        self.table.save(self.p)?;
        self.follow(job.index, &id);
        self.submitted += 1;
        let after = if deps.is_empty() { String::new() } else { format!(" after {}", deps.join(", ")) };
        Ok(Launch { verb: "submitted", note: format!("job {id}{after}") })
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

    fn launch(&mut self, _env: &Env, queue: &[&Job]) -> Result<Vec<Launch>> {
        queue.iter().map(|job| self.submit(job)).collect()
    }

    fn launched_all(&mut self, s: &Summary) -> Option<String> {
        self.lock = None;
        if self.so.wait {
            catch_sigint();
        }
        Some(format!(
            "{}: {} job{} submitted, {} queued from before, {} up to date, {} restored from the cache",
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
