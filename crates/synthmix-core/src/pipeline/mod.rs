//! Pipelines: a TOML spec of targets (a stage command, its inputs, outputs
//! and parameters) expanded over matrices, run as a DAG with a
//! content-addressed cache.
//!
//! From the bottom up (each module uses only those above it in this list):
//!
//! - [`spec`]: parsing, matrix expansion, validation (errors name the line);
//!   the Slurm resources of `[executor.slurm]` and of `run`'s flags.
//! - [`template`], [`cache`], [`lock`]: placeholders; keys, the store,
//!   records, placing outputs; one runner per artifacts folder.
//! - [`env`]: where stages are found, what inputs hash to.
//! - [`results`]: what a run has made; placing and committing, once.
//! - [`job`]: one target: prepare → cached | run (and why), launch, its log.
//! - [`plan`]: the selection, the forced set, `--dry-run` and `status`.
//! - [`executor`]: the [`executor::Executor`] interface; [`local`] and
//!   [`slurm`] (every target an `sbatch` job, and `run-target`) behind it.
//! - [`run`]: the one loop that drives an executor.
//! - [`graph`]: `synthmix dag`; [`init`]: `synthmix init-study`.
//! - [`estimate`]: `synthmix estimate`: the makespan on N workers from the
//!   cache's records.

pub mod cache;
pub mod cost;
pub mod env;
pub mod estimate;
pub mod executor;
pub mod graph;
pub mod init;
pub mod job;
pub mod local;
pub mod lock;
pub mod plan;
pub mod results;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod template;

pub use executor::Summary;
pub use plan::{plan, RunOptions};
pub use run::run;
pub use spec::{load, LoadOptions, Pipeline};
