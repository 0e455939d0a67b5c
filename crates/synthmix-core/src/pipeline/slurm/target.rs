//! `synthmix run-target`: what a Slurm job runs. It computes the target's
//! cache key once its inputs exist (they were unknown at submission), runs
//! the stage into its staging folder exactly as a local run does and
//! commits through the same store path.

use crate::error::{Error, IoContext, Result};
use crate::pipeline::cache::Found;
use crate::pipeline::cost::Watched;
use crate::pipeline::env::Env;
use crate::pipeline::job::{last_line, Job, Prepared};
use crate::pipeline::lock;
use crate::pipeline::plan::RunOptions;
use crate::pipeline::results::Results;
use crate::pipeline::spec::Pipeline;

/// Under the lock: places the target's inputs (which must be cached) and
/// prepares it (a cached result is placed, nothing runs). Without the lock:
/// runs the stage into its staging folder. Under the lock again: commits it
/// to the store, places it.
pub fn run_target(p: &Pipeline, name: &str, opts: &RunOptions) -> Result<()> {
    let Some(&i) = p.by_name.get(name) else {
        return Err(Error::Invalid(format!("{}: no target named '{name}'", p.spec_path.display())));
    };
    let t = &p.targets[i];
    let mut env = Env::new(&opts.data_dir)?;
    env.binary(p, t)?;
    env.check_sources(p, i)?;
    let what = format!("synthmix run-target {} {name} (pid {})", p.spec_path.display(), std::process::id());
    let mut results = Results::new(p);
    let job = {
        let _lock = lock::acquire_wait(&p.artifacts, &what)?;
        place_inputs(p, &mut env, &mut results, i)?;
        match Job::prepare(p, &mut env, &results, i, opts.force.then_some("forced"), opts.verify)? {
            Prepared::Run { job, .. } => job,
            Prepared::Cached { record: r, .. } => {
                let key = r.key.clone();
                results.place(p, i, r, opts.verify)?;
                println!("up to date {name} (key {key})");
                return Ok(());
            }
        }
    };
    let key = job.key.clone().expect("prepared with its inputs in place");
    let threads = job_threads();
    let log = p.log_path(t);
    println!("run {name}: key {}, {threads} thread(s), log {}", key.hash, log.display());
    let started = job.launch(p, &env, threads)?;
    let (status, cost) = Watched::new(started.child, threads, started.resumes).wait().at(&log)?;
    if !status.success() {
        return Err(Error::Invalid(format!(
            "target '{name}' failed ({status}); log {}: {}",
            log.display(),
            last_line(&log)
        )));
    }
    let _lock = lock::acquire_wait(&p.artifacts, &what)?;
    results.commit(p, i, key.comps, key.hash, cost).map_err(|e| Error::Invalid(format!("target '{name}': {e}")))?;
    println!("done {name} in {:.1} s", cost.wall_s);
    Ok(())
}

/// Places the results of target `i`'s dependencies, which its jobs' `afterok` put in the cache.
fn place_inputs(p: &Pipeline, env: &mut Env, results: &mut Results, i: usize) -> Result<()> {
    let name = &p.targets[i].name;
    let (order, _) = p.select(std::slice::from_ref(name))?;
    for &j in order.iter().filter(|&&j| j != i) {
        let key = env.components(p, j, results.records())?.key();
        let r = match results.cache.lookup(&key, &p.out, false)? {
            Found::Intact(r) => r,
            Found::Damaged(how) => {
                let dep = &p.targets[j].name;
                return Err(Error::Invalid(format!(
                    "target '{name}': the stored result of its input target '{dep}' is damaged ({how})"
                )));
            }
            Found::Missing => {
                let dep = &p.targets[j].name;
                return Err(Error::Invalid(format!("target '{name}': its input target '{dep}' is not in the cache")));
            }
        };
        results.place(p, j, r, false)?;
    }
    Ok(())
}

/// The threads a job's stage gets: the CPUs Slurm gave it
/// (`--cpus-per-task`, else what it allocated on the node), else the machine's.
fn job_threads() -> usize {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
    var("SLURM_CPUS_PER_TASK")
        .or_else(|| var("SLURM_CPUS_ON_NODE"))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}
