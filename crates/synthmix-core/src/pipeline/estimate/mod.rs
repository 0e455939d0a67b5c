//! `synthmix estimate SPEC`: how long a spec takes on 1, 8, 64 … workers,
//! by list-scheduling its real target graph ([`schedule`]) with each
//! target's duration from this machine's cache records or a per-stage model
//! fitted to them ([`durations`]); with the critical path, the busiest stage
//! kind and each kind's share of the work. A worker is one target at a time
//! at this machine's speed (as measured, with the threads it had here).

pub mod durations;
pub mod schedule;
pub mod work;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use durations::{Durations, Source};
use schedule::Graph;

use super::spec::Pipeline;
use crate::error::{Error, Result};

/// What `estimate` is asked.
#[derive(Debug, Clone)]
pub struct EstimateOptions {
    pub workers: Vec<usize>,
    /// GPUs for the targets that compute on a device (`--device`); none: on the workers.
    pub gpus: Vec<usize>,
    /// How much faster such a target runs on a GPU than here (an assumption).
    pub gpu_speedup: f64,
    /// How a record times its target.
    pub timing: durations::Timing,
}

/// Parses a list of counts like `1,8,64` for `flag`: whole numbers ≥ 1.
pub fn parse_counts(flag: &str, s: &str) -> Result<Vec<usize>> {
    let v: Vec<usize> = s
        .split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Error::Invalid(format!("{flag}: '{}' is not a count (a whole number, at least 1)", w.trim()))),
        })
        .collect::<Result<_>>()?;
    Ok(v)
}

/// The estimate of `p` as text, its durations informed by the records of
/// its artifacts folder and of the `calibrate` specs'.
pub fn estimate(p: &Pipeline, calibrate: &[Pipeline], o: &EstimateOptions) -> Result<String> {
    if !(o.gpu_speedup.is_finite() && o.gpu_speedup > 0.0) {
        return Err(Error::Invalid(format!("--gpu-speedup: {} is not a positive number", o.gpu_speedup)));
    }
    let mut folders = vec![p.artifacts.clone()];
    folders.extend(calibrate.iter().map(|c| c.artifacts.clone()));
    folders.sort();
    folders.dedup();
    let records = durations::records(&folders)?;
    let Some(d) = durations::durations(p, calibrate, &records, o.timing) else {
        return Err(Error::Invalid(format!(
            "{}: no records to estimate from: {} holds none of pipeline '{}' (or of --calibrate specs); \
             run it, or part of it, first",
            p.spec_path.display(),
            p.artifacts.join("cache").display(),
            p.name
        )));
    };
    Ok(render(p, &d, o))
}

fn render(p: &Pipeline, d: &Durations, o: &EstimateOptions) -> String {
    let ms: Vec<u64> = d.secs.iter().map(|s| (s * 1000.0).round() as u64).collect();
    let deps: Vec<Vec<usize>> = p.targets.iter().map(|t| t.deps.clone()).collect();
    let on_gpu: Vec<bool> = p.targets.iter().map(|t| t.args.iter().any(|a| a == "--device")).collect();
    let g = Graph { ms: &ms, deps: &deps, on_gpu: &on_gpu };
    let topo = p.topo_order();
    let total: f64 = d.secs.iter().sum();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} ({}): {} targets, {} of work ({:.2} CPU-hours at this machine's speed)",
        p.name,
        p.spec_path.display(),
        p.targets.len(),
        hms(total),
        total / 3600.0
    );
    sources(&mut s, p, d, o.timing);
    table(&mut s, &g, topo, total, o);
    let path = g.critical_path(topo);
    let cp: f64 = path.iter().map(|&i| d.secs[i]).sum();
    let names: Vec<String> = path.iter().map(|&i| format!("{} ({})", p.targets[i].name, hms(d.secs[i]))).collect();
    let _ = writeln!(s, "critical path: {} over {} targets: {}", hms(cp), path.len(), names.join(" → "));
    shares(&mut s, p, d, total);
    s
}

/// Which durations are measured, modelled and guessed, and the models.
fn sources(s: &mut String, p: &Pipeline, d: &Durations, timing: durations::Timing) {
    let count = |w: Source| d.source.iter().filter(|&&x| x == w).count();
    // + 0.0: an empty float sum is -0.0, printed "-0.00".
    let measured: f64 =
        d.secs.iter().zip(&d.source).filter(|(_, &w)| w == Source::Record).map(|(s, _)| s).sum::<f64>() + 0.0;
    let _ = writeln!(
        s,
        "durations: {} targets from this machine's records ({}, {:.2} CPU-hours measured), {} from \
         per-stage models, {} guessed ({} each: the median record; no record of their stage kind)",
        count(Source::Record),
        match timing {
            durations::Timing::Cpu => "CPU time ÷ threads: this machine idle",
            durations::Timing::Wall => "wall time, as loaded as the machine was",
        },
        measured / 3600.0,
        count(Source::Model),
        count(Source::Guess),
        hms(d.guess)
    );
    if d.stale > 0 {
        let _ = writeln!(
            s,
            "  {} records left out: of an older command of their target (other sizes, epochs or parameters)",
            d.stale
        );
    }
    if d.resumed > 0 {
        let _ = writeln!(s, "  {} records left out: of a resumed run (they time only its last part)", d.resumed);
    }
    if d.wall_only > 0 {
        let _ = writeln!(s, "  {} records without CPU time (older runs): timed by their wall time", d.wall_only);
    }
    for k in &d.used {
        let f = &d.fits[k];
        let how = match f.per_unit {
            Some(u) if k.contains('[') || !d.used.iter().any(|x| x.starts_with(&format!("{k} ["))) => format!(
                "{u:.3e} s per image-epoch at 28×28×1 (images × epochs or --budget from its command, its inputs' \
                 or its datasets' sizes; × pixels·channels / 784)"
            ),
            Some(u) => {
                format!("{u:.3e} s per image-epoch at 28×28×1 (for its architectures without records of their own)")
            }
            None => format!("{:.1} s per target (the mean)", f.per_target),
        };
        let _ = writeln!(s, "  model {k}: {how}, fitted on {} records", f.records);
    }
    let guessed: std::collections::BTreeSet<String> =
        (0..p.targets.len()).filter(|&i| d.source[i] == Source::Guess).map(|i| durations::kind(p, i)).collect();
    if !guessed.is_empty() {
        let _ = writeln!(s, "  no record of: {}", guessed.into_iter().collect::<Vec<_>>().join(", "));
    }
}

/// One row per worker count, without GPUs and with each GPU count:
/// makespan, speed-up over one worker's work, the workers' utilisation.
fn table(s: &mut String, g: &Graph, topo: &[usize], total: f64, o: &EstimateOptions) {
    let gpus: Vec<usize> = std::iter::once(0).chain(o.gpus.iter().copied()).collect();
    if !o.gpus.is_empty() {
        let _ = writeln!(
            s,
            "GPU targets (a --device flag): on the GPUs, {}× faster than here (--gpu-speedup: an assumption, \
             not measured)",
            o.gpu_speedup
        );
    }
    let _ = writeln!(s, "{:>8} {:>5}  {:>14}  {:>9}  {:>8}", "workers", "gpus", "makespan", "speed-up", "busy");
    for &gp in &gpus {
        let scaled: Vec<u64> = if gp > 0 {
            g.ms.iter().zip(g.on_gpu).map(|(&m, &on)| if on { (m as f64 / o.gpu_speedup) as u64 } else { m }).collect()
        } else {
            g.ms.to_vec()
        };
        let gg = Graph { ms: &scaled, deps: g.deps, on_gpu: g.on_gpu };
        for &w in &o.workers {
            let m = gg.makespan(topo, w, gp) as f64 / 1000.0;
            let busy = if m > 0.0 { total / (m * w as f64) * 100.0 } else { 0.0 };
            let busy = if gp > 0 { "-".to_string() } else { format!("{busy:.0} %") };
            let _ = writeln!(s, "{w:>8} {gp:>5}  {:>14}  {:>8.1}×  {busy:>8}", hms(m), total / m.max(1e-9));
        }
    }
}

/// Each stage kind's share of the work, the busiest first, and its longest
/// target (what a job's time limit must cover).
fn shares(s: &mut String, p: &Pipeline, d: &Durations, total: f64) {
    let mut by: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut longest: BTreeMap<String, usize> = BTreeMap::new();
    for (i, secs) in d.secs.iter().enumerate() {
        let k = durations::kind(p, i);
        let l = longest.entry(k.clone()).or_insert(i);
        if *secs > d.secs[*l] {
            *l = i;
        }
        let e = by.entry(k).or_default();
        e.0 += secs;
        e.1 += 1;
    }
    let l: Vec<String> =
        longest.iter().map(|(k, &i)| format!("{k} {} ({})", hms(d.secs[i]), p.targets[i].name)).collect();
    let _ = writeln!(s, "longest target per stage kind: {}", l.join("; "));
    let mut v: Vec<(String, (f64, usize))> = by.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    if let Some((k, _)) = v.first() {
        let _ = writeln!(s, "busiest stage kind: {k}");
    }
    let parts: Vec<String> = v
        .iter()
        .map(|(k, (secs, n))| format!("{k} {:.1} % ({n} targets, {})", secs / total.max(1e-9) * 100.0, hms(*secs)))
        .collect();
    let _ = writeln!(s, "work per stage kind: {}", parts.join("; "));
}

/// Seconds as `1h 02m 03s` (under a minute: `4.2s`).
pub fn hms(secs: f64) -> String {
    if secs < 59.95 {
        return format!("{:.1}s", secs.max(0.0));
    }
    let t = secs.round() as u64;
    match (t / 3600, t / 60 % 60, t % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts_are_whole_numbers_of_at_least_one() {
        assert_eq!(parse_counts("--workers", "1,8, 64").unwrap(), [1, 8, 64]);
        for bad in ["-1", "x", "0", "1,,2", "2.5"] {
            let e = parse_counts("--workers", bad).unwrap_err().to_string();
            assert!(e.starts_with("--workers: '") && e.contains("is not a count") && !e.contains('\n'), "{e}");
        }
        assert_eq!(hms(3725.0), "1h 02m 05s");
        assert_eq!(hms(65.0), "1m 05s");
        assert_eq!(hms(4.24), "4.2s");
    }
}
