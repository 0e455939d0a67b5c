//! Where jobs run. The run loop (`run.rs`, above this module) decides what is ready and
//! what is cached; an [`Executor`] launches the jobs it is given and says
//! how each ended. The local executor runs them as processes here; the
//! Slurm executor queues each as an `sbatch` job.

use std::time::Duration;

use super::cost::Cost;
use super::env::Env;
use super::job::Job;

/// What launching (or finding) a job did, for the run's line on it: the verb
/// (`run`, `submitted`, `queued`) and the rest of the line.
#[derive(Debug, Clone)]
pub struct Launch {
    pub verb: &'static str,
    pub note: String,
}

/// News of a launched job.
#[derive(Debug, Clone)]
pub enum Event {
    /// It is still in flight, in a new state (a Slurm job went from PENDING
    /// to RUNNING): the state as a verb, and the rest of the line.
    Moved {
        verb: String,
        note: String,
    },
    Ended(Outcome),
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The stage succeeded; its outputs wait in staging for the run to commit.
    Staged { cost: Cost },
    /// The job committed its result itself (a Slurm job runs `run-target`).
    Committed { note: String },
    /// It failed: the rest of its line, and why in the run's closing error.
    /// `stopped`: it was stopped from outside (SIGTERM, SIGINT, SIGHUP,
    /// SIGKILL: a `kill`, a session's end) rather than failing by itself, so
    /// its staging folder stays resumable.
    Failed { note: String, why: String, stopped: bool },
    /// It never ran: a job it waited on failed.
    NotRun { note: String },
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

/// Runs the jobs of one `synthmix run`, driven by the run loop: it launches
/// ready jobs, is polled for their news, and cancels them on Ctrl-C.
pub trait Executor {
    /// Whether a job may be launched before the jobs of its inputs have
    /// ended (Slurm holds it with `afterok`); else it waits for them.
    fn chains(&self) -> bool;

    /// A job that an earlier run launched for target `i` and that is still
    /// queued or running: followed instead of launching another.
    fn resume(&mut self, _i: usize) -> Option<Launch> {
        None
    }

    /// Launches jobs from the front of `queue`, in order, as many as it can
    /// now (none overtakes one it leaves waiting); what it did for each.
    fn launch(&mut self, env: &Env, queue: &[&Job]) -> crate::error::Result<Vec<Launch>>;

    /// Everything is launched: the line that says so, if any.
    fn launched_all(&mut self, _s: &Summary) -> Option<String> {
        None
    }

    /// News of the launched jobs since the last poll, by target index.
    fn poll(&mut self) -> crate::error::Result<Vec<(usize, Event)>>;

    /// Whether the run stays until the launched jobs end (a Slurm run
    /// without `--wait` leaves them queued).
    fn follows(&self) -> bool;

    /// How long the loop waits when nothing moved before polling again.
    fn idle_wait(&self) -> Duration;

    /// Whether Ctrl-C was pressed while it follows its jobs.
    fn interrupted(&self) -> bool {
        false
    }

    /// Stops the launched jobs, or says how to (after Ctrl-C).
    fn cancel(&mut self) -> crate::error::Result<()>;

    /// What the closing error adds after the failed targets, given how many
    /// targets never started and whether the run was asked to keep going.
    fn failure_hint(&self, not_started: usize, keep_going: bool) -> Option<&'static str>;
}
