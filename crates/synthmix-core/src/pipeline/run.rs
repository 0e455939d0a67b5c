//! The run loop: one `synthmix run`, whichever executor runs its jobs. In
//! phases until nothing is left to do: skip what cannot run, place cached
//! results and queue the rest as they become ready, hand the queue to the
//! executor, and collect what it says of its jobs (committing what a local
//! stage staged). It prints one line per event and the closing line.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::cache::Cache;
use super::env::Env;
use super::executor::{Event, Executor, Outcome, Summary};
use super::job::{failure, recheck_why, Job, Prepared};
use super::local::LocalExecutor;
use super::lock;
use super::plan::{RunOptions, Selection};
use super::results::Results;
use super::slurm::{refuse_if_queued, SlurmExecutor, SlurmOptions};
use super::spec::Pipeline;
use crate::error::{Error, Result};

/// Brings the selected targets up to date with local processes. Prints one
/// line per target to stdout; a failure ends in an error naming the failed
/// targets and their logs.
pub fn run(p: &Pipeline, opts: &RunOptions) -> Result<Summary> {
    let started = Instant::now();
    let _lock = lock::acquire(&p.artifacts, &format!("synthmix run {}", p.spec_path.display()))?;
    refuse_if_queued(p)?;
    let (sel, env) = setup(p, opts)?;
    let mut exec = LocalExecutor::new(p, opts.jobs);
    Scheduler::new(p, opts, sel, env, &mut exec).run(started)
}

/// `run --executor slurm`: queues every target that is not cached as one
/// Slurm job, after the jobs of its inputs; with `--wait`, follows them to
/// the end. A target whose job from an earlier run is still queued or
/// running is followed, not submitted again.
pub fn run_on_slurm(p: &Pipeline, opts: &RunOptions, so: &SlurmOptions) -> Result<Summary> {
    let started = Instant::now();
    let lock = lock::acquire(&p.artifacts, &format!("synthmix run --executor slurm {}", p.spec_path.display()))?;
    let (sel, env) = setup(p, opts)?;
    let mut exec = SlurmExecutor::new(p, opts, so, lock)?;
    Scheduler::new(p, opts, sel, env, &mut exec).run(started)
}

/// Under the lock: the selected targets; the leftovers of a killed run
/// swept (a temporary or an unrecorded store object); and every stage
/// binary, dataset and file input checked before anything runs.
fn setup(p: &Pipeline, opts: &RunOptions) -> Result<(Selection, Env)> {
    let sel = Selection::new(p, opts)?;
    let swept = Cache::new(&p.artifacts).sweep(&p.out)?;
    if swept > 0 {
        tracing::debug!("removed {swept} files left by an interrupted run");
    }
    let mut env = Env::new(&opts.data_dir)?;
    for &i in &sel.order {
        env.binary(p, &p.targets[i])?;
        env.check_sources(p, i)?;
    }
    Ok((sel, env))
}

enum State {
    Pending,
    /// Ready, waiting for the executor to take it.
    Queued(Job),
    Running(Job),
    Done,
    Failed,
    Skipped,
}

/// One run's targets and their progress.
struct Scheduler<'a> {
    p: &'a Pipeline,
    opts: &'a RunOptions,
    exec: &'a mut dyn Executor,
    env: Env,
    results: Results,
    order: Vec<usize>,
    /// Each target's place in `order`: news is told in that order.
    rank: HashMap<usize, usize>,
    forced: BTreeSet<usize>,
    /// Targets that read a result found damaged, and why they rerun.
    recheck: HashMap<usize, String>,
    state: HashMap<usize, State>,
    summary: Summary,
    /// Set after a failure without --keep-going: nothing new starts.
    stop: bool,
    /// Set once nothing is left to launch.
    all_launched: bool,
    bar: indicatif::ProgressBar,
    name_width: usize,
}

impl<'a> Scheduler<'a> {
    fn new(p: &'a Pipeline, opts: &'a RunOptions, sel: Selection, env: Env, exec: &'a mut dyn Executor) -> Self {
        let order = sel.order;
        Scheduler {
            p,
            opts,
            exec,
            env,
            results: Results::new(p),
            rank: order.iter().enumerate().map(|(r, &i)| (i, r)).collect(),
            forced: sel.forced,
            recheck: HashMap::new(),
            state: order.iter().map(|&i| (i, State::Pending)).collect(),
            summary: Summary::default(),
            stop: false,
            all_launched: false,
            bar: progress_bar(p, order.len()),
            name_width: order.iter().map(|&i| p.targets[i].name.len()).max().unwrap_or(0),
            order,
        }
    }

    fn run(mut self, started: Instant) -> Result<Summary> {
        self.drive()?;
        self.conclude(started)
    }

    /// One line per event on stdout, above the progress bar.
    fn say(&self, verb: &str, i: usize, detail: &str) {
        let (w, name) = (self.name_width, &self.p.targets[i].name);
        let line = format!("{verb:<10} {name:<w$}  {detail}");
        self.bar.suspend(|| println!("{}", line.trim_end()));
    }

    fn is(&self, i: usize, pred: fn(&State) -> bool) -> bool {
        self.state.get(&i).is_some_and(pred)
    }

    fn running(&self) -> Vec<usize> {
        self.order.iter().copied().filter(|&i| self.is(i, |s| matches!(s, State::Running(_)))).collect()
    }

    /// Runs phases until every target is done, skipped, or left after a
    /// failure, or (an executor that does not follow its jobs) launched.
    fn drive(&mut self) -> Result<()> {
        loop {
            let mut progressed = self.skip_blocked();
            progressed |= self.ready()?;
            progressed |= self.launch()?;
            self.note_all_launched();
            progressed |= self.collect()?;
            if self.exec.interrupted() {
                self.exec.cancel()?;
                return Err(Error::Invalid(format!(
                    "interrupted while following the jobs of {} (synthmix status shows them)",
                    self.p.spec_path.display()
                )));
            }
            let running: Vec<&str> = self.running().iter().map(|&i| self.p.targets[i].name.as_str()).collect();
            self.bar.set_message(if running.is_empty() {
                String::new()
            } else {
                format!("running: {}", running.join(", "))
            });
            if (running.is_empty() || !self.exec.follows()) && !progressed {
                return Ok(()); // all done, or stopped after a failure, or left to the queue
            }
            if !progressed {
                std::thread::sleep(self.exec.idle_wait());
            }
        }
    }

    /// Targets whose dependencies failed will not run.
    fn skip_blocked(&mut self) -> bool {
        let mut progressed = false;
        for idx in 0..self.order.len() {
            let i = self.order[idx];
            let blocked =
                self.p.targets[i].deps.iter().any(|d| self.is(*d, |s| matches!(s, State::Failed | State::Skipped)));
            if self.is(i, |s| matches!(s, State::Pending)) && blocked {
                self.state.insert(i, State::Skipped);
                self.summary.skipped.push(self.p.targets[i].name.clone());
                self.bar.inc(1);
                self.say("skipped", i, "(a dependency failed)");
                progressed = true;
            }
        }
        progressed
    }

    /// Whether target `i`'s inputs allow it to be prepared: all done, or
    /// (an executor that chains jobs) each done, queued or launched.
    fn inputs_ready(&self, i: usize) -> bool {
        let chains = self.exec.chains();
        self.p.targets[i].deps.iter().all(|d| match self.state.get(d) {
            Some(State::Done) => true,
            Some(State::Queued(_) | State::Running(_)) => chains,
            _ => false,
        })
    }

    /// Ready targets, in order: one an earlier run launched is followed, a
    /// cached one placed, another queued to run.
    fn ready(&mut self) -> Result<bool> {
        let mut progressed = false;
        if self.stop {
            return Ok(progressed);
        }
        for idx in 0..self.order.len() {
            let i = self.order[idx];
            if !self.is(i, |s| matches!(s, State::Pending)) || !self.inputs_ready(i) {
                continue;
            }
            let forced = self.forced_why(i);
            let state = match self.exec.resume(i) {
                Some(l) => {
                    self.say(l.verb, i, &l.note);
                    State::Running(Job::keyed_later(i, forced.is_some()))
                }
                None => self.prepare(i, forced)?,
            };
            progressed |= matches!(state, State::Done);
            self.state.insert(i, state);
        }
        Ok(progressed)
    }

    /// Why target `i` runs even if cached: `--force`, or it reads a result
    /// that was found damaged.
    fn forced_why(&self, i: usize) -> Option<String> {
        if self.forced.contains(&i) {
            return Some("forced".into());
        }
        self.recheck.get(&i).cloned()
    }

    /// Target `i`'s result was found damaged: what read it may have read bad
    /// bytes, and is rechecked (run, not served from the cache).
    fn recheck_dependants(&mut self, i: usize, damage: &str) {
        let why = recheck_why(self.p, i, damage);
        for k in self.p.dependants(i) {
            if self.state.contains_key(&k) {
                self.recheck.entry(k).or_insert_with(|| why.clone());
            }
        }
    }

    /// A ready target: placed when cached, else queued (behind the jobs of
    /// its inputs where they are still to end).
    fn prepare(&mut self, i: usize, forced: Option<String>) -> Result<State> {
        if !self.p.targets[i].deps.iter().all(|d| self.is(*d, |s| matches!(s, State::Done))) {
            return Ok(State::Queued(Job::keyed_later(i, forced.is_some())));
        }
        let prepared = Job::prepare(self.p, &mut self.env, &self.results, i, forced.as_deref(), self.opts.verify)?;
        if let Some(d) = prepared.damage() {
            self.recheck_dependants(i, &d);
        }
        self.place_or_queue(i, prepared)
    }

    /// A prepared target: queued, or its cached result placed.
    fn place_or_queue(&mut self, i: usize, prepared: Prepared) -> Result<State> {
        match prepared {
            Prepared::Run { job, .. } => Ok(State::Queued(job)),
            Prepared::Cached { record: r, .. } => {
                let placed = self.results.place(self.p, i, r, self.opts.verify)?;
                self.bar.inc(1);
                let name = self.p.targets[i].name.clone();
                if placed > 0 {
                    self.summary.restored.push(name);
                    self.say("restored", i, &format!("(from the cache, {placed} files)"));
                } else {
                    self.summary.up_to_date.push(name);
                    self.say("up to date", i, "");
                }
                Ok(State::Done)
            }
        }
    }

    /// Hands the queued jobs, in order, to the executor.
    fn launch(&mut self) -> Result<bool> {
        if self.stop {
            return Ok(false);
        }
        let queue: Vec<&Job> = self
            .order
            .iter()
            .filter_map(|i| match self.state.get(i) {
                Some(State::Queued(job)) => Some(job),
                _ => None,
            })
            .collect();
        if queue.is_empty() {
            return Ok(false);
        }
        let launches = self.exec.launch(&self.env, &queue)?;
        let launched: Vec<usize> = queue[..launches.len()].iter().map(|job| job.index).collect();
        for (&i, l) in launched.iter().zip(launches) {
            let Some(State::Queued(job)) = self.state.remove(&i) else { unreachable!("launched from the queue") };
            self.say(l.verb, i, &l.note);
            self.state.insert(i, State::Running(job));
        }
        Ok(!launched.is_empty())
    }

    /// Once no target waits to be launched, the executor may say so.
    fn note_all_launched(&mut self) {
        let waiting = self.state.values().any(|s| matches!(s, State::Pending | State::Queued(_)));
        if self.all_launched || waiting {
            return;
        }
        self.all_launched = true;
        if let Some(line) = self.exec.launched_all(&self.summary) {
            self.bar.suspend(|| println!("{line}"));
        }
    }

    /// What the executor says of its jobs, told in order.
    fn collect(&mut self) -> Result<bool> {
        let mut news = self.exec.poll()?;
        news.sort_by_key(|(i, _)| self.rank[i]);
        let mut progressed = false;
        for (i, event) in news {
            match event {
                Event::Moved { verb, note } => self.say(&verb, i, &note),
                Event::Ended(outcome) => {
                    self.end(i, outcome);
                    progressed = true;
                }
            }
        }
        Ok(progressed)
    }

    /// A job ended: a staged result is committed; the target is done,
    /// failed or skipped.
    fn end(&mut self, i: usize, outcome: Outcome) {
        let Some(State::Running(job)) = self.state.remove(&i) else { unreachable!("news of a launched job") };
        let t = &self.p.targets[i];
        self.bar.inc(1);
        let ended = match outcome {
            Outcome::Staged { cost } => {
                let key = job.key.expect("a staged job ran with its key");
                match self.results.commit(self.p, i, key.comps, key.hash, cost) {
                    Ok(()) => Ok(format!("in {:.1} s", cost.wall_s)),
                    Err(e) => {
                        let why = failure(self.p, t, e);
                        Err((why.clone(), why, false))
                    }
                }
            }
            Outcome::Committed { note } => Ok(note),
            Outcome::Failed { note, why, stopped } => Err((note, why, stopped)),
            Outcome::NotRun { note } => {
                self.state.insert(i, State::Skipped);
                self.summary.skipped.push(t.name.clone());
                self.say("skipped", i, &note);
                return;
            }
        };
        match ended {
            Ok(note) => {
                self.state.insert(i, State::Done);
                self.summary.ran.push(t.name.clone());
                self.say("done", i, &note);
            }
            Err((note, why, stopped)) => {
                // A failed run is not resumed: the next launch starts afresh
                // (a resume that fails again would fail every time). One
                // stopped from outside resumes, as after a SIGKILL of the run.
                if !stopped {
                    let _ = std::fs::remove_file(super::results::key_file(&self.p.staging_dir(t)));
                }
                self.state.insert(i, State::Failed);
                self.say("FAILED", i, &note);
                self.summary.failed.push((t.name.clone(), why));
                self.stop |= !self.opts.keep_going;
            }
        }
    }

    /// The closing line, and an error naming every failed target.
    fn conclude(mut self, started: Instant) -> Result<Summary> {
        self.bar.finish_and_clear();
        self.summary.wall_s = started.elapsed().as_secs_f64();
        if !self.exec.follows() {
            return Ok(self.summary); // its jobs are left to the queue
        }
        let summary = &self.summary;
        let not_started = self.state.values().filter(|s| matches!(s, State::Pending | State::Queued(_))).count();
        println!(
            "{}: {} ran, {} up to date, {} restored from the cache{}{} in {:.1} s",
            self.p.name,
            summary.ran.len(),
            summary.up_to_date.len(),
            summary.restored.len(),
            if summary.failed.is_empty() { String::new() } else { format!(", {} FAILED", summary.failed.len()) },
            if summary.skipped.len() + not_started == 0 {
                String::new()
            } else {
                format!(", {} not run", summary.skipped.len() + not_started)
            },
            summary.wall_s
        );
        if summary.failed.is_empty() {
            return Ok(self.summary);
        }
        let parts: Vec<String> = summary.failed.iter().map(|(n, m)| format!("{n} ({m})")).collect();
        Err(Error::Invalid(format!(
            "{} target{} failed: {}{}",
            summary.failed.len(),
            if summary.failed.len() == 1 { "" } else { "s" },
            parts.join("; "),
            match self.exec.failure_hint(not_started, self.opts.keep_going) {
                Some(h) => format!(" ({h})"),
                None => String::new(),
            }
        )))
    }
}

/// The bar under the event lines (hidden where stderr is no terminal).
fn progress_bar(p: &Pipeline, targets: usize) -> indicatif::ProgressBar {
    let bar = crate::progress::bar(targets as u64, "targets");
    if !bar.is_hidden() {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} targets, {elapsed} {wide_msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(p.name.clone());
    }
    bar
}
