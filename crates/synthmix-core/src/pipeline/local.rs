//! The local executor: each job a process on this machine, as many at once
//! as `--jobs` allows, sharing the cores.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cost::Watched;
use super::env::Env;
use super::executor::{Event, Executor, Launch, Outcome};
use super::job::{failure, Job};
use super::spec::{Pipeline, Threads};
use crate::error::{IoContext, Result};

pub struct LocalExecutor<'a> {
    p: &'a Pipeline,
    cores: usize,
    /// Stages run at once.
    jobs: usize,
    running: BTreeMap<usize, Watched>,
}

impl<'a> LocalExecutor<'a> {
    /// `jobs` stages at once (default: the number of cores).
    pub fn new(p: &'a Pipeline, jobs: Option<usize>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        LocalExecutor { p, cores, jobs: jobs.unwrap_or(cores).max(1), running: BTreeMap::new() }
    }

    /// The threads of a job given the free cores and the free job slots
    /// that the waiting jobs will take: its `threads`, else a fair share.
    fn threads(&self, job: &Job, free: usize, slots: usize) -> usize {
        match self.p.targets[job.index].threads {
            Some(Threads::All) => self.cores,
            Some(Threads::Exactly(n)) => n.min(self.cores),
            None => (free / slots).max(1),
        }
    }
}

impl Executor for LocalExecutor<'_> {
    fn chains(&self) -> bool {
        false
    }

    fn launch(&mut self, env: &Env, queue: &[&Job]) -> Result<Vec<Launch>> {
        let mut used: usize = self.running.values().map(|r| r.threads).sum();
        let mut slots = self.jobs.saturating_sub(self.running.len()).min(queue.len());
        let mut launched = Vec::new();
        for job in queue.iter().take(slots) {
            let free = self.cores.saturating_sub(used);
            let n = self.threads(job, free, slots);
            if n > free && !self.running.is_empty() {
                break; // wait for free cores, in order: nothing overtakes a waiting job
            }
            let started = job.launch(self.p, env, n)?;
            let how = if started.resumes { ", resuming its interrupted run" } else { "" };
            self.running.insert(job.index, Watched::new(started.child, n, started.resumes));
            launched.push(Launch {
                verb: "run",
                note: format!("{}{how} [{n} thread{}]", job.why, if n == 1 { "" } else { "s" }),
            });
            used += n;
            slots -= 1;
        }
        Ok(launched)
    }

    fn poll(&mut self) -> Result<Vec<(usize, Event)>> {
        let mut ended = Vec::new();
        for (&i, r) in self.running.iter_mut() {
            let t = &self.p.targets[i];
            if let Some((status, cost)) = r.try_finish().at(self.p.log_path(t))? {
                let outcome = if status.success() {
                    Outcome::Staged { cost }
                } else {
                    let why = failure(self.p, t, status);
                    Outcome::Failed { note: why.clone(), why, stopped: stopped_from_outside(status) }
                };
                ended.push((i, Event::Ended(outcome)));
            }
        }
        for (i, _) in &ended {
            self.running.remove(i);
        }
        Ok(ended)
    }

    fn follows(&self) -> bool {
        true
    }

    fn idle_wait(&self) -> Duration {
        Duration::from_millis(50)
    }

    fn cancel(&mut self) -> Result<()> {
        for r in self.running.values_mut() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        self.running.clear();
        Ok(())
    }

    fn failure_hint(&self, not_started: usize, keep_going: bool) -> Option<&'static str> {
        (!keep_going && not_started > 0).then_some("use --keep-going to run the independent targets too")
    }
}

/// Whether a stage ended by a signal someone sends to stop a process (a
/// `kill`, Ctrl-C, a closed terminal, a session's end) rather than by failing.
fn stopped_from_outside(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    // SIGHUP, SIGINT, SIGKILL, SIGTERM: the same numbers on every Unix.
    matches!(status.signal(), Some(1 | 2 | 9 | 15))
}
