//! Each target's duration for the estimate: its own record's `wall_time_s`
//! where this machine ran it, else a per-stage-kind model fitted to the
//! records of the spec (and of `--calibrate` specs), else a guess.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::pipeline::cache::{walk, Record};
use crate::pipeline::spec::{InputKind, Pipeline};

/// Where a target's duration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Record,
    Model,
    /// No record of its stage kind: the median of every record.
    Guess,
}

/// One stage kind's model: seconds per image-epoch (where a target's images
/// and epochs are known from its command) and per target (the mean).
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
    pub guess: f64,
}

/// A target's stage kind: its stage, and for `synthmix` its subcommand.
pub fn kind(p: &Pipeline, i: usize) -> String {
    let t = &p.targets[i];
    match t.args.first() {
        Some(sub) if t.stage == "synthmix" => format!("synthmix {sub}"),
        _ => t.stage.clone(),
    }
}

fn flag(args: &[String], name: &str) -> Option<f64> {
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse::<f64>().ok())
}

/// Images a target's command names: `--limit`, `--total`, or `--per-class`
/// × 10 classes.
fn own_images(args: &[String]) -> Option<f64> {
    flag(args, "--limit").or_else(|| flag(args, "--total")).or_else(|| flag(args, "--per-class").map(|n| n * 10.0))
}

/// A target's work in image-epochs: its images (else those its target
/// inputs name) × `--epochs` (1 without): `None` where no images are named.
pub fn work(p: &Pipeline, i: usize) -> Option<f64> {
    let t = &p.targets[i];
    let images = own_images(&t.args).or_else(|| {
        let from_inputs: Vec<f64> = t
            .inputs
            .iter()
            .filter_map(|inp| match inp.kind {
                InputKind::Target { index, .. } => own_images(&p.targets[index].args),
                _ => None,
            })
            .collect();
        (!from_inputs.is_empty()).then(|| from_inputs.iter().sum())
    })?;
    Some(images * flag(&t.args, "--epochs").unwrap_or(1.0))
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

/// Each target's last recorded wall time, by (pipeline, target).
fn measured(records: &[Record]) -> HashMap<(&str, &str), f64> {
    records.iter().map(|r| ((r.pipeline.as_str(), r.target.as_str()), r.wall_time_s)).collect()
}

/// The models of every stage kind, fitted on the recorded targets of `specs`.
fn fit(specs: &[&Pipeline], m: &HashMap<(&str, &str), f64>) -> BTreeMap<String, Fit> {
    let mut pts: BTreeMap<String, Vec<(Option<f64>, f64)>> = BTreeMap::new();
    for p in specs {
        for (i, t) in p.targets.iter().enumerate() {
            if let Some(&s) = m.get(&(p.name.as_str(), t.name.as_str())) {
                pts.entry(kind(p, i)).or_default().push((work(p, i), s));
            }
        }
    }
    pts.into_iter()
        .map(|(k, v)| {
            let with_work: Vec<(f64, f64)> = v.iter().filter_map(|(w, s)| w.map(|w| (w, *s))).collect();
            let sum_w: f64 = with_work.iter().map(|x| x.0).sum();
            let per_unit = (sum_w > 0.0).then(|| with_work.iter().map(|x| x.1).sum::<f64>() / sum_w);
            let per_target = v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
            (k, Fit { per_unit, per_target, records: v.len() })
        })
        .collect()
}

/// The durations of `p`'s targets, or `None` where no record can inform any.
pub fn durations(p: &Pipeline, calibrate: &[Pipeline], records: &[Record]) -> Option<Durations> {
    let m = measured(records);
    let mut specs: Vec<&Pipeline> = vec![p];
    specs.extend(calibrate.iter());
    let fits = fit(&specs, &m);
    if fits.is_empty() {
        return None;
    }
    let mut all: Vec<f64> = m.values().copied().collect();
    all.sort_by(f64::total_cmp);
    let guess = all[all.len() / 2];
    let (mut secs, mut source) = (Vec::new(), Vec::new());
    for (i, t) in p.targets.iter().enumerate() {
        let (s, src) = match (m.get(&(p.name.as_str(), t.name.as_str())), fits.get(&kind(p, i))) {
            (Some(&s), _) => (s, Source::Record),
            (None, Some(f)) => match (f.per_unit, work(p, i)) {
                (Some(u), Some(w)) => (u * w, Source::Model),
                _ => (f.per_target, Source::Model),
            },
            (None, None) => (guess, Source::Guess),
        };
        secs.push(s);
        source.push(src);
    }
    Some(Durations { secs, source, fits, guess })
}
