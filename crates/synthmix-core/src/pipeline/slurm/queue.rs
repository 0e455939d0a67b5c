//! Asking Slurm about jobs: the queue, a finished job's state, the table of
//! the job last submitted for each target (`jobs.json`), and what `status`
//! and a local run make of them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::pipeline::job::last_line;
use crate::pipeline::spec::Pipeline;

/// Where a pipeline's job scripts, their output and `jobs.json` live.
pub fn job_dir(p: &Pipeline) -> PathBuf {
    p.artifacts.join("slurm").join(&p.name)
}

/// The job last submitted for each target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobTable {
    pub jobs: BTreeMap<String, JobEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEntry {
    pub job: String,
    pub submitted_unix: u64,
}

impl JobTable {
    fn path(p: &Pipeline) -> PathBuf {
        job_dir(p).join("jobs.json")
    }

    pub fn load(p: &Pipeline) -> Result<JobTable> {
        let path = Self::path(p);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::format(&path, format!("corrupt Slurm job table ({e}); delete it"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JobTable::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Written whole, by rename.
    pub fn save(&self, p: &Pipeline) -> Result<()> {
        let path = Self::path(p);
        let tmp = path.with_file_name(".jobs.json.tmp");
        std::fs::create_dir_all(job_dir(p)).at(job_dir(p))?;
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("serialises")).at(&tmp)?;
        std::fs::rename(&tmp, &path).at(&path)
    }
}

/// Runs a Slurm command; its stdout, or one line naming the command and why it failed.
pub fn slurm_cmd(prog: &str, args: &[String]) -> Result<String> {
    let out = Command::new(prog).args(args).output().map_err(|e| {
        Error::Invalid(format!("cannot run {prog}: {e} (is Slurm installed and on PATH? --executor local runs here)"))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
        return Err(Error::Invalid(format!("{prog} failed ({}): {err}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What the cluster allows: the largest array task id + 1 (`MaxArraySize`)
/// and the most jobs one may queue (`MaxSubmitJobs` where the config has
/// it, else `MaxJobCount`), with the limit's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_array_size: usize,
    pub max_jobs: Option<(String, usize)>,
}

/// The limits from `scontrol show config`.
pub fn cluster_limits() -> Result<Limits> {
    Ok(parse_limits(&slurm_cmd("scontrol", &["show".into(), "config".into()])?))
}

/// Slurm's own defaults where a key is missing (MaxArraySize 1001).
fn parse_limits(config: &str) -> Limits {
    let get = |k: &str| {
        config.lines().find_map(|l| {
            let (key, v) = l.split_once('=')?;
            (key.trim() == k).then(|| v.trim().parse::<usize>().ok()).flatten()
        })
    };
    let max_jobs = ["MaxSubmitJobs", "MaxJobCount"].iter().find_map(|k| get(k).map(|n| (k.to_string(), n)));
    Limits { max_array_size: get("MaxArraySize").unwrap_or(1001).max(1), max_jobs }
}

/// States (PENDING, RUNNING, …) of those of `ids` still in the queue; an
/// array's tasks one by one (`JOBID_TASK`, `squeue -r`).
pub fn queued_states(ids: &[String]) -> Result<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let out = slurm_cmd("squeue", &["-h".into(), "-r".into(), "-o".into(), "%i %T".into()])?;
    let want: std::collections::HashSet<&String> = ids.iter().collect();
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(id, _)| want.contains(&id.to_string()))
        .map(|(id, st)| (id.to_string(), st.trim().to_string()))
        .collect())
}

/// A finished job's state and reason: `sacct` where accounting is on, else
/// `scontrol show job` (which knows jobs for `MinJobAge` after they end).
pub fn final_state(id: &str) -> Option<(String, String)> {
    let args = ["-n", "-X", "-P", "-o", "State", "-j", id].map(String::from);
    if let Ok(out) = slurm_cmd("sacct", &args) {
        if let Some(st) = out.lines().next().map(|l| l.split_whitespace().next().unwrap_or("").to_string()) {
            if !st.is_empty() {
                return Some((st, String::new()));
            }
        }
    }
    let out = slurm_cmd("scontrol", &["-o".into(), "show".into(), "job".into(), id.into()]).ok()?;
    let field = |k: &str| {
        out.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}="))).map(str::to_string).unwrap_or_default()
    };
    let st = field("JobState");
    (!st.is_empty()).then(|| (st, field("Reason")))
}

/// Refuses a local run while Slurm jobs of the pipeline are queued or
/// running (it would run their targets a second time). Where Slurm cannot
/// be asked (no `squeue` here), nothing is refused.
pub fn refuse_if_queued(p: &Pipeline) -> Result<()> {
    let table = JobTable::load(p)?;
    if table.jobs.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = table.jobs.values().map(|e| e.job.clone()).collect();
    let Ok(queued) = queued_states(&ids) else {
        return Ok(());
    };
    let live: Vec<(&String, &String)> =
        table.jobs.iter().filter(|(_, e)| queued.contains_key(&e.job)).map(|(n, e)| (n, &e.job)).collect();
    if live.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = live.iter().map(|(n, _)| n.as_str()).take(3).collect();
    let ids: Vec<&str> = live.iter().map(|(_, j)| j.as_str()).collect();
    Err(Error::Invalid(format!(
        "{}: {} Slurm job{} of pipeline '{}' {} still queued or running ({}{}); wait for them \
         (synthmix status) or cancel them (scancel {}) before a local run",
        p.spec_path.display(),
        live.len(),
        if live.len() == 1 { "" } else { "s" },
        p.name,
        if live.len() == 1 { "is" } else { "are" },
        names.join(", "),
        if live.len() > 3 { ", …" } else { "" },
        ids.join(" ")
    )))
}

/// `synthmix status`'s Slurm part: each target's last job, if it is queued,
/// running or did not complete (with its log's last line). Empty when no job
/// was ever submitted for the pipeline.
pub fn status_notes(p: &Pipeline) -> Result<HashMap<String, String>> {
    let table = JobTable::load(p)?;
    let mut notes = HashMap::new();
    if table.jobs.is_empty() {
        return Ok(notes);
    }
    let ids: Vec<String> = table.jobs.values().map(|e| e.job.clone()).collect();
    let queued = match queued_states(&ids) {
        Ok(q) => q,
        Err(e) => {
            notes.insert(String::new(), format!("Slurm jobs unknown: {e}"));
            return Ok(notes);
        }
    };
    for (name, e) in &table.jobs {
        let note = match queued.get(&e.job) {
            Some(st) => format!("slurm job {} {st}", e.job),
            None => match final_state(&e.job) {
                Some((st, _)) if st == "COMPLETED" => continue,
                Some((st, reason)) => {
                    let log = p.target(name).map(|t| p.log_path(t)).unwrap_or_default();
                    let why =
                        if reason.contains("Dependency") { "a dependency failed".into() } else { last_line(&log) };
                    format!("slurm job {} {st}: {why}", e.job)
                }
                None => continue,
            },
        };
        notes.insert(name.clone(), note);
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_scontrol_show_config() {
        let l = parse_limits("MaxArraySize            = 8\nMaxJobCount             = 10000\nMaxStepCount = 40000\n");
        assert_eq!(l, Limits { max_array_size: 8, max_jobs: Some(("MaxJobCount".into(), 10000)) });
        let l = parse_limits("MaxSubmitJobs = 50\nMaxJobCount = 10000\n");
        assert_eq!(l.max_jobs, Some(("MaxSubmitJobs".into(), 50)));
        assert_eq!(parse_limits(""), Limits { max_array_size: 1001, max_jobs: None });
    }
}
