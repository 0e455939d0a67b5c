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
//!
//! The targets of one matrix expansion go as one job array (`array` plans
//! the arrays and their `afterok`/`aftercorr` dependencies): a task's
//! script runs `run-target` for its target, writing `TARGET.out`, and
//! `jobs.json` holds `JOBID_TASK`; `--no-arrays` keeps one job per target.
//!
//! `queue` asks Slurm about jobs and keeps `jobs.json`; `sbatch` makes a
//! target's job; `executor` is the [`Executor`](super::executor::Executor)
//! the run loop drives; `target` is the job's side, `run-target`.

mod array;
mod executor;
mod queue;
mod sbatch;
mod target;

pub use executor::SlurmExecutor;
pub use queue::{
    cluster_limits, final_state, job_dir, queued_states, refuse_if_queued, status_notes, JobEntry, JobTable,
};
pub use sbatch::{array_flags, resources_for, sbatch_flags, SlurmOptions};
pub use target::run_target;
