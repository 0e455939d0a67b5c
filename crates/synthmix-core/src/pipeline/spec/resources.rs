//! The resources of a Slurm job, defined once: the spec's `[executor.slurm]`
//! table (and a stage's table below it) and `run`'s command-line flags are
//! this one struct, deserialised or parsed by clap.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Resources of a job: `[executor.slurm]`, a stage's table below it, or the
/// command line (each overrides the one before). The field docs are the
/// command line's help.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Resources {
    /// Slurm partition of every job (sbatch --partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account charged (sbatch --account).
    #[arg(long)]
    pub account: Option<String>,
    /// Time limit of every job, e.g. 2:00:00 (sbatch --time).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs of every job, its stage's threads (sbatch --cpus-per-task).
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<usize>,
    /// Memory of every job, e.g. 8G (sbatch --mem).
    #[arg(long)]
    pub mem: Option<String>,
    /// GPUs of each --device cuda target (sbatch --gres=gpu:N; default 1).
    #[arg(long, value_name = "N")]
    pub gpus: Option<usize>,
    /// The most tasks of one job array running at once (sbatch --array=…%N).
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,
    /// Further sbatch flags, passed as given (`extra` in the spec).
    #[arg(
        long = "sbatch-flag",
        value_name = "FLAG",
        allow_hyphen_values = true,
        help = "A further sbatch flag for every job, e.g. --sbatch-flag=--qos=long (repeatable)"
    )]
    pub extra: Option<Vec<String>>,
    /// `[executor.slurm.stage.NAME]`: the resources of one stage's jobs,
    /// over those of every job. Only `[executor.slurm]` itself has them.
    #[serde(default)]
    #[arg(skip)]
    pub stage: BTreeMap<String, Resources>,
}

impl Resources {
    /// `self`, with every field `over` sets replaced; a job's resources,
    /// so without stage tables.
    pub fn overlay(&self, over: &Resources) -> Resources {
        Resources {
            partition: over.partition.clone().or_else(|| self.partition.clone()),
            account: over.account.clone().or_else(|| self.account.clone()),
            time: over.time.clone().or_else(|| self.time.clone()),
            cpus_per_task: over.cpus_per_task.or(self.cpus_per_task),
            mem: over.mem.clone().or_else(|| self.mem.clone()),
            gpus: over.gpus.or(self.gpus),
            max_parallel: over.max_parallel.or(self.max_parallel),
            extra: over.extra.clone().or_else(|| self.extra.clone()),
            stage: BTreeMap::new(),
        }
    }

    /// The resources of a job running `stage`: these, under its stage table.
    pub fn for_stage(&self, stage: &str) -> Resources {
        match self.stage.get(stage) {
            Some(s) => self.overlay(s),
            None => self.overlay(&Resources::default()),
        }
    }

    /// Checks `[executor.slurm]` and its stage tables.
    pub fn check(&self) -> std::result::Result<(), String> {
        self.check_fields("[executor.slurm]")?;
        for (stage, r) in &self.stage {
            let what = format!("[executor.slurm.stage.{stage}]");
            if !r.stage.is_empty() {
                return Err(format!("{what}: stage tables go right below [executor.slurm]"));
            }
            r.check_fields(&what)?;
        }
        Ok(())
    }

    /// Checks the fields of one table, or of the command line (`what`).
    pub fn check_fields(&self, what: &str) -> std::result::Result<(), String> {
        if self.cpus_per_task == Some(0) {
            return Err(format!("{what}: cpus-per-task must be at least 1"));
        }
        if self.max_parallel == Some(0) {
            return Err(format!("{what}: max-parallel must be at least 1 (it throttles a job array's running tasks)"));
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
