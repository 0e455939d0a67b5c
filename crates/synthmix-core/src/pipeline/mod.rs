//! Pipelines: a TOML spec of targets (a stage command, its inputs, outputs
//! and parameters) expanded over matrices, run as a DAG with a
//! content-addressed cache.
//!
//! - [`spec`]: parsing, matrix expansion, validation (errors name the line).
//! - [`graph`]: `synthmix dag` (text and DOT).
//! - [`init`]: `synthmix init-study`, a spec for a user's own image sets.
//! - [`cache`]: keys, the store, records, placing outputs.
//! - [`lock`]: one runner per artifacts folder.
//! - [`run`]: the scheduler, `--dry-run` and `status`.
//! - [`slurm`]: `run --executor slurm`: every target to run as one `sbatch` job.

pub mod cache;
pub mod graph;
pub mod init;
pub mod lock;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod template;

pub use run::{plan, run, RunOptions, Summary};
pub use spec::{load, LoadOptions, Pipeline};
