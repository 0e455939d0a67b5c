//! Making a target's Slurm job: its `sbatch` flags from the resources, its
//! script, and the `synthmix run-target` command line it runs.

use std::path::Path;

use super::queue::{job_dir, slurm_cmd};
use crate::error::{Error, IoContext, Result};
use crate::pipeline::plan::RunOptions;
use crate::pipeline::spec::{LoadOptions, Pipeline, Resources, Target, Threads};

/// `run --executor slurm`'s own options.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// Command-line resources; they override the spec's.
    pub resources: Resources,
    /// Stay attached until every job has finished (Ctrl-C offers to cancel them).
    pub wait: bool,
    /// One job per target even where targets of one matrix expansion could
    /// go as a job array (`--no-arrays`).
    pub no_arrays: bool,
    /// How the spec was loaded (`--skip`, `--artifacts`, `--max-targets`):
    /// each job loads it the same way, from the same folder, so its paths
    /// (which enter the cache keys) are the same.
    pub load: LoadOptions,
}

/// The resources of target `t`'s job: spec, its stage's table, command line.
pub fn resources_for(p: &Pipeline, t: &Target, cli: &Resources) -> Resources {
    p.slurm.for_stage(&t.stage).overlay(cli)
}

/// Whether a target computes on a GPU (`--device cuda` in its command).
fn uses_cuda(t: &Target) -> bool {
    t.args.windows(2).any(|w| w[0] == "--device" && w[1].starts_with("cuda"))
        || t.args.iter().any(|a| a.starts_with("--device=cuda"))
}

/// The `sbatch` flags of a target's job (without the dependency).
pub fn sbatch_flags(p: &Pipeline, t: &Target, r: &Resources, cwd: &Path) -> Vec<String> {
    let dir = job_dir(p);
    let mut f = vec![
        "--parsable".to_string(),
        format!("--job-name=synthmix:{}:{}", p.name, t.name),
        format!("--output={}", dir.join(format!("{}.out", t.name)).display()),
        format!("--chdir={}", cwd.display()),
        "--export=ALL".to_string(),
        "--kill-on-invalid-dep=yes".to_string(),
    ];
    let opt = |f: &mut Vec<String>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            f.push(format!("--{k}={v}"));
        }
    };
    opt(&mut f, "partition", &r.partition);
    opt(&mut f, "account", &r.account);
    opt(&mut f, "time", &r.time);
    let cpus = r.cpus_per_task.or(match t.threads {
        Some(Threads::Exactly(n)) => Some(n),
        _ => None,
    });
    if let Some(n) = cpus {
        f.push(format!("--cpus-per-task={n}"));
    }
    opt(&mut f, "mem", &r.mem);
    if uses_cuda(t) {
        f.push(format!("--gres=gpu:{}", r.gpus.unwrap_or(1)));
    }
    f.extend(r.extra.iter().flatten().cloned());
    f
}

/// Quotes a word for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Writes the job script of target `t` and submits it after `dependency`
/// (`afterok:…`, empty for none); returns the job id.
pub fn sbatch(p: &Pipeline, t: &Target, dependency: &str, flags: Vec<String>, run_target: &[String]) -> Result<String> {
    let cmd: Vec<String> = run_target.iter().map(|a| sh_quote(a)).collect();
    let body = format!(
        "#!/bin/sh\n# synthmix: target {} of pipeline {} (written by synthmix run --executor slurm)\nexec {}\n",
        t.name,
        p.name,
        cmd.join(" ")
    );
    submit(p, &t.name, &format!("target '{}'", t.name), &body, flags, dependency)
}

/// Writes the script of a job array whose task `id` runs target `t` of each
/// `(id, t, run-target command line)`, its stdout and stderr going to the
/// target's own `TARGET.out` as a single job's do, and submits it; returns
/// the array's job id.
pub fn sbatch_array(
    p: &Pipeline,
    tasks: &[(u32, &Target, Vec<String>)],
    dependency: &str,
    flags: Vec<String>,
) -> Result<String> {
    let first = &tasks[0].1.name;
    let dir = job_dir(p);
    let mut body = format!(
        "#!/bin/sh\n# synthmix: a job array of pipeline {} (written by synthmix run --executor slurm)\n\
         case \"$SLURM_ARRAY_TASK_ID\" in\n",
        p.name
    );
    for (id, t, argv) in tasks {
        let out = sh_quote(&dir.join(format!("{}.out", t.name)).display().to_string());
        let cmd: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
        body.push_str(&format!("{id}) exec >{out} 2>&1; exec {} ;;\n", cmd.join(" ")));
    }
    body.push_str("*) echo \"synthmix: no target for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 1 ;;\nesac\n");
    let what = format!("the array of '{first}' ({} tasks)", tasks.len());
    submit(p, &format!("array-{first}"), &what, &body, flags, dependency)
}

/// Writes `body` as `NAME.sh` in the job folder and submits it; returns the job id.
fn submit(p: &Pipeline, name: &str, what: &str, body: &str, flags: Vec<String>, dependency: &str) -> Result<String> {
    let dir = job_dir(p);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let script = dir.join(format!("{name}.sh"));
    std::fs::write(&script, body).at(&script)?;
    let mut args = flags;
    if !dependency.is_empty() {
        args.push(format!("--dependency={dependency}"));
    }
    args.push(script.display().to_string());
    tracing::debug!("sbatch {}", args.join(" "));
    let out = slurm_cmd("sbatch", &args).map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return Err(Error::Invalid(format!("{what}: sbatch printed '{}', not a job id", out.trim())));
    }
    Ok(id)
}

/// The flags of a job array of targets like `t` (the first of its tasks):
/// a target's flags, named for the array, with `--array`.
pub fn array_flags(p: &Pipeline, t: &Target, r: &Resources, cwd: &Path, array: &str) -> Vec<String> {
    let dir = job_dir(p);
    let mut f: Vec<String> = sbatch_flags(p, t, r, cwd)
        .into_iter()
        .map(|f| {
            if f.starts_with("--job-name=") {
                format!("--job-name=synthmix:{}:{}[]", p.name, t.name)
            } else if f.starts_with("--output=") {
                // Only what a task says before its target's own .out is open.
                format!("--output={}", dir.join(format!("array-{}-%a.out", t.name)).display())
            } else {
                f
            }
        })
        .collect();
    f.push(format!("--array={array}"));
    f
}

/// The `synthmix run-target` command line a job runs.
pub fn run_target_argv(
    p: &Pipeline,
    t: &Target,
    opts: &RunOptions,
    so: &SlurmOptions,
    forced: bool,
) -> Result<Vec<String>> {
    let exe =
        std::env::current_exe().map_err(|e| Error::Invalid(format!("cannot locate the synthmix executable: {e}")))?;
    let abs = |x: &Path| std::path::absolute(x).unwrap_or_else(|_| x.to_path_buf()).display().to_string();
    let mut v = vec![
        exe.display().to_string(),
        "--data-dir".into(),
        abs(&opts.data_dir),
        "run-target".into(),
        p.spec_path.display().to_string(),
        t.name.clone(),
    ];
    if let Some(a) = &so.load.artifacts {
        v.extend(["--artifacts".into(), a.display().to_string()]);
    }
    for s in &so.load.skip {
        v.extend(["--skip".into(), s.clone()]);
    }
    if let Some(n) = so.load.max_targets {
        v.extend(["--max-targets".into(), n.to_string()]);
    }
    if forced {
        v.push("--force".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::spec::{load, LoadOptions};

    fn spec(extra: &str) -> Result<Pipeline> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        let body = format!(
            "[target.a]\ncommand = \"my-stage --out {{out}}\"\noutputs = [\"a.st\"]\n\n\
             [target.g]\ncommand = \"my-gan --device cuda --out {{out}}\"\noutputs = [\"g.st\"]\nthreads = 3\n\n{extra}"
        );
        std::fs::write(&path, body).unwrap();
        load(&path, &LoadOptions::default())
    }

    #[test]
    fn resources_come_from_the_spec_its_stage_tables_and_the_command_line() {
        let p = spec(
            "[executor.slurm]\npartition = \"cpu\"\ntime = \"1:00:00\"\nmem = \"4G\"\nextra = [\"--qos=low\"]\n\n\
             [executor.slurm.stage.my-gan]\npartition = \"gpu\"\ngpus = 2\n",
        )
        .unwrap();
        let cli = Resources { time: Some("9:00".into()), ..Default::default() };
        let cwd = Path::new("/w");
        let a = sbatch_flags(&p, p.target("a").unwrap(), &resources_for(&p, p.target("a").unwrap(), &cli), cwd);
        for f in ["--partition=cpu", "--time=9:00", "--mem=4G", "--qos=low", "--kill-on-invalid-dep=yes", "--chdir=/w"]
        {
            assert!(a.contains(&f.to_string()), "{f} not in {a:?}");
        }
        assert!(!a.iter().any(|f| f.starts_with("--gres") || f.starts_with("--cpus-per-task")), "{a:?}");
        let g = sbatch_flags(&p, p.target("g").unwrap(), &resources_for(&p, p.target("g").unwrap(), &cli), cwd);
        for f in ["--partition=gpu", "--gres=gpu:2", "--cpus-per-task=3", "--job-name=synthmix:s:g"] {
            assert!(g.contains(&f.to_string()), "{f} not in {g:?}");
        }
    }

    #[test]
    fn bad_executor_tables_are_refused_with_their_line() {
        let e = spec("[executor.slurm]\npartitions = \"cpu\"\n").unwrap_err().to_string();
        assert!(e.contains("s.toml:11") && e.contains("partitions"), "{e}");
        let e = spec("[executor.slurm.stage.evaluate]\ntime = \"1:00\"\n").unwrap_err().to_string();
        assert!(e.contains("no target runs stage 'evaluate'"), "{e}");
        let e = spec("[executor.slurm]\ncpus-per-task = 0\n").unwrap_err().to_string();
        assert!(e.contains("cpus-per-task must be at least 1"), "{e}");
        let e = spec("[executor.pbs]\nqueue = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("pbs"), "{e}");
    }
}
