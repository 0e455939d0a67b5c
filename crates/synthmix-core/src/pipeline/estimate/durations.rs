//! Each target's duration for the estimate: its own record's time where
//! this machine ran it (CPU time ÷ threads, or wall time: [`Timing`]), else
//! a per-stage-kind model fitted to the records of the spec (and of
//! `--calibrate` specs), else a guess. A resumed run's record is left out:
//! its times cover only the part after the interruption.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::work;
use crate::error::Result;
use crate::pipeline::cache::{walk, Record};
use crate::pipeline::spec::Pipeline;

/// How a record times its target (`--timing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Timing {
    /// CPU time ÷ the threads it had, at most its wall time: what it takes
    /// on this machine when idle, whatever the load it ran under (records
    /// without CPU time use their wall time).
    #[default]
    Cpu,
    /// Wall time as it ran, load included: to check an estimate against a
    /// run on the same busy machine.
    Wall,
}

impl Timing {
    /// A record's duration in seconds.
    pub fn of(self, r: &Record) -> f64 {
        match (self, r.cpu_time_s, r.threads) {
            (Timing::Cpu, Some(cpu), Some(n)) if n > 0 => (cpu / n as f64).min(r.wall_time_s),
            _ => r.wall_time_s,
        }
    }
}

/// Where a target's duration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Record,
    Model,
    /// No record of its stage kind: the median of every record.
    Guess,
}

/// One model: seconds per unit, an image-epoch at 28×28×1 (where a target's
/// images and epochs are known, see [`work`]), and per target (the mean).
#[derive(Debug, Clone, Default)]
pub struct Fit {
    pub per_unit: Option<f64>,
    pub per_target: f64,
    pub records: usize,
}

pub struct Durations {
    pub secs: Vec<f64>,
    pub source: Vec<Source>,
    pub fits: BTreeMap<String, Fit>,
    /// The fits that modelled a target.
    pub used: Vec<String>,
    pub guess: f64,
    /// Records of the spec's targets left out: of an older command.
    pub stale: usize,
    /// Records left out because their run resumed an interrupted one.
    pub resumed: usize,
    /// Records used that carry no CPU time (timed by their wall time).
    pub wall_only: usize,
}

/// A target's stage kind: its stage, and for `synthmix` its subcommand.
pub fn kind(p: &Pipeline, i: usize) -> String {
    let t = &p.targets[i];
    match t.args.first() {
        Some(sub) if t.stage == "synthmix" => format!("synthmix {sub}"),
        _ => t.stage.clone(),
    }
}

/// The key of a target's model: its stage kind and, where the command
/// names one, its architecture (a DCGAN's image costs far more than an
/// MLP's, beyond the pixels).
fn model_key(p: &Pipeline, i: usize) -> (String, Option<String>) {
    (kind(p, i), work::arch(&p.targets[i].args).map(str::to_string))
}

/// Every record in the cache folders of `artifacts`, newest last.
pub fn records(artifacts: &[PathBuf]) -> Result<Vec<Record>> {
    let mut files = Vec::new();
    for a in artifacts {
        walk(&a.join("cache"), &mut files)?;
    }
    let mut v: Vec<Record> =
        files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")).filter_map(|f| read_record(f)).collect();
    v.sort_by_key(|r| r.finished_unix);
    Ok(v)
}

/// A record, or `None` (with a warning) for one that cannot be read.
fn read_record(f: &Path) -> Option<Record> {
    match std::fs::read(f).map(|b| serde_json::from_slice::<Record>(&b)) {
        Ok(Ok(r)) => Some(r),
        _ => {
            tracing::warn!("{}: not a readable cache record; left out of the estimate", f.display());
            None
        }
    }
}

/// What [`measured`] found.
struct Measured<'r> {
    /// Each target's duration, by (pipeline, target).
    secs: HashMap<(&'r str, &'r str), f64>,
    stale: usize,
    resumed: usize,
    wall_only: usize,
}

/// Each target's last recorded time, by (pipeline, target), where the
/// record is of the target's command as the spec has it now (a record of
/// an older command — other epochs, sizes, parameters — times other work)
/// and of a run that did not resume (it timed only its last part).
fn measured<'r>(specs: &[&Pipeline], records: &'r [Record], timing: Timing) -> Measured<'r> {
    let mut latest: HashMap<(&str, &str), &Record> = HashMap::new();
    for r in records {
        latest.insert((r.pipeline.as_str(), r.target.as_str()), r);
    }
    let mut m = Measured { secs: HashMap::new(), stale: 0, resumed: 0, wall_only: 0 };
    for ((pl, tg), r) in latest {
        let Some(t) = specs.iter().filter(|p| p.name == pl).find_map(|p| p.by_name.get(tg).map(|&i| &p.targets[i]))
        else {
            continue;
        };
        let c = &r.components;
        if !(c.stage == t.stage && c.args == t.key_args && c.params == t.params) {
            m.stale += 1;
        } else if r.resumed {
            m.resumed += 1;
        } else {
            m.wall_only += usize::from(timing == Timing::Cpu && r.cpu_time_s.is_none());
            m.secs.insert((pl, tg), timing.of(r));
        }
    }
    m
}

/// Seconds per unit (image-epoch at 28×28×1) and per target, fitted on
/// `(units, secs)` points.
fn fit_points(v: &[(Option<f64>, f64)]) -> Fit {
    let with_work: Vec<(f64, f64)> = v.iter().filter_map(|(w, s)| w.map(|w| (w, *s))).collect();
    let sum_w: f64 = with_work.iter().map(|x| x.0).sum();
    let per_unit = (sum_w > 0.0).then(|| with_work.iter().map(|x| x.1).sum::<f64>() / sum_w);
    let per_target = v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
    Fit { per_unit, per_target, records: v.len() }
}

/// The models of every stage kind (key `KIND`) and of every kind and
/// architecture (key `KIND [ARCH]`), fitted on the recorded targets of `specs`.
fn fit(specs: &[&Pipeline], m: &HashMap<(&str, &str), f64>) -> BTreeMap<String, Fit> {
    let mut pts: BTreeMap<String, Vec<(Option<f64>, f64)>> = BTreeMap::new();
    for p in specs {
        let w = work::all(p);
        for (i, t) in p.targets.iter().enumerate() {
            if let Some(&s) = m.get(&(p.name.as_str(), t.name.as_str())) {
                let (k, arch) = model_key(p, i);
                if let Some(a) = arch {
                    pts.entry(format!("{k} [{a}]")).or_default().push((w[i].units(), s));
                }
                pts.entry(k).or_default().push((w[i].units(), s));
            }
        }
    }
    pts.into_iter().map(|(k, v)| (k, fit_points(&v))).collect()
}

/// A target's modelled seconds and the model used: its architecture's fit
/// where it has one per unit, else its kind's per unit (the image-size
/// factor carrying it across datasets), else its kind's mean.
fn modelled(fits: &BTreeMap<String, Fit>, p: &Pipeline, i: usize, w: &work::Work) -> Option<(f64, String)> {
    let (k, arch) = model_key(p, i);
    let by_arch = arch.map(|a| format!("{k} [{a}]"));
    for key in by_arch.iter().chain(std::iter::once(&k)) {
        if let (Some(f), Some(u)) = (fits.get(key), w.units()) {
            if let Some(per) = f.per_unit {
                return Some((per * u, key.clone()));
            }
        }
    }
    fits.get(&k).map(|f| (f.per_target, k))
}

/// The durations of `p`'s targets, or `None` where no record can inform any.
pub fn durations(p: &Pipeline, calibrate: &[Pipeline], records: &[Record], timing: Timing) -> Option<Durations> {
    let mut specs: Vec<&Pipeline> = vec![p];
    specs.extend(calibrate.iter());
    let Measured { secs: m, stale, resumed, wall_only } = measured(&specs, records, timing);
    let fits = fit(&specs, &m);
    if fits.is_empty() {
        return None;
    }
    let mut all: Vec<f64> = m.values().copied().collect();
    all.sort_by(f64::total_cmp);
    let guess = all[all.len() / 2];
    let w = work::all(p);
    let (mut secs, mut source, mut used) = (Vec::new(), Vec::new(), Vec::new());
    for (i, t) in p.targets.iter().enumerate() {
        let (s, src) = match (m.get(&(p.name.as_str(), t.name.as_str())), modelled(&fits, p, i, &w[i])) {
            (Some(&s), _) => (s, Source::Record),
            (None, Some((s, key))) => {
                used.push(key);
                (s, Source::Model)
            }
            (None, None) => (guess, Source::Guess),
        };
        secs.push(s);
        source.push(src);
    }
    used.sort();
    used.dedup();
    Some(Durations { secs, source, fits, used, guess, stale, resumed, wall_only })
}
