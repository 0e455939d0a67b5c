//! What a reader needs to trust a report on its own: the settings the
//! classifiers and generators ran with, the commits that made the
//! artifacts, the machine, and the wall time per stage — all read from the
//! provenance records beside the artifacts the report covers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::document::{Block, Cell, Table};
use crate::artifact::provenance::{self, Provenance};

/// Provenance of every artifact behind a report, by stage.
#[derive(Debug, Default)]
pub struct Context {
    /// stage → (artifact, its provenance)
    by_stage: BTreeMap<String, Vec<(PathBuf, Provenance)>>,
    seen: BTreeSet<PathBuf>,
}

impl Context {
    /// Reads `artifact`'s provenance record (if it has one) and, for inputs
    /// that are files with records of their own, theirs too.
    pub fn add(&mut self, artifact: &Path) {
        let mut todo = vec![artifact.to_path_buf()];
        while let Some(a) = todo.pop() {
            if !self.seen.insert(a.clone()) {
                continue;
            }
            let Ok(p) = provenance::read(&provenance::path_for(&a)) else { continue };
            todo.extend(p.inputs.iter().map(|i| PathBuf::from(&i.path)).filter(|i| i.is_file()));
            self.by_stage.entry(p.stage.clone()).or_default().push((a, p));
        }
    }

    /// The distinct values of one parameter over a stage's runs, e.g. `clf-train` `epochs`.
    fn param_values(&self, stage: &str, key: &str) -> Vec<String> {
        let mut v: BTreeSet<String> = BTreeSet::new();
        for (_, p) in self.by_stage.get(stage).into_iter().flatten() {
            if let Ok(j) = serde_json::from_str::<serde_json::Value>(&p.params_json) {
                v.insert(match j.get(key) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    // An optimiser config: its learning rate is what a reader compares.
                    Some(serde_json::Value::Object(o)) if o.contains_key("lr") => format!("lr {}", o["lr"]),
                    Some(serde_json::Value::Null) | None => "–".into(),
                    Some(x) => x.to_string(),
                });
            }
        }
        v.into_iter().collect()
    }

    /// The settings table: per stage, the parameters a reader asks about
    /// ("–": a run that did not set it, so the default or none).
    pub fn settings_table(&self) -> Table {
        let wanted: [(&str, &[&str]); 6] = [
            (
                "gan-train",
                &[
                    "train",
                    "arch",
                    "conv",
                    "preset",
                    "adam_d",
                    "adam_g",
                    "epochs",
                    "batch_size",
                    "seed",
                    "limit",
                    "fid_every",
                ],
            ),
            (
                "dpm-train",
                &["train", "channels", "adam", "epochs", "batch_size", "seed", "limit", "ema_decay", "label_dropout"],
            ),
            // A GAN's sample has no steps or guidance: "–" beside a diffusion model's values.
            ("synth-sample", &["per_class", "seed", "steps", "guidance"]),
            ("mix-build", &["real", "ratio", "mode", "total", "all_real", "balance", "seed"]),
            (
                "clf-train",
                &[
                    "arch",
                    "convs_per_block",
                    "dropout_conv",
                    "dropout_head",
                    "conv",
                    "epochs",
                    "budget",
                    "rebalance",
                    "adam",
                    "batch_size",
                    "seed",
                    "limit",
                    "val_fraction",
                ],
            ),
            ("evaluate", &["test", "batch_size"]),
        ];
        let mut t = Table::new(["Stage", "Runs", "Parameter: values used"], "lrl");
        for (stage, keys) in wanted {
            let Some(runs) = self.by_stage.get(stage) else { continue };
            let parts: Vec<String> = keys
                .iter()
                .map(|k| (k, self.param_values(stage, k)))
                .filter(|(_, v)| !v.is_empty() && v.iter().any(|x| x != "–"))
                .map(|(k, v)| {
                    let shown = if v.len() > 6 { format!("{} values", v.len()) } else { v.join(", ") };
                    format!("{k}: {shown}")
                })
                .collect();
            t.row([
                Cell::text(stage),
                Cell::number(runs.len().to_string(), runs.len() as f64),
                Cell::text(parts.join("; ")),
            ]);
        }
        t
    }

    /// Wall time per stage: runs, total, mean, longest (each sorts by seconds).
    pub fn wall_times_table(&self) -> Table {
        let mut table = Table::new(["Stage", "Runs", "Total", "Mean", "Longest"], "lrrrr");
        let mut all = 0.0;
        for (stage, runs) in &self.by_stage {
            let t: Vec<f64> = runs.iter().map(|r| r.1.wall_time_s).collect();
            let total: f64 = t.iter().sum();
            all += total;
            let max = t.iter().copied().fold(0.0, f64::max);
            let runs = Cell::number(t.len().to_string(), t.len() as f64);
            let [total, mean, max] = [total, total / t.len().max(1) as f64, max].map(seconds);
            table.row([Cell::text(stage), runs, total, mean, max]);
        }
        let sum = "all stages (sum of run times; runs overlap on several cores)";
        table.row([Cell::text(sum), Cell::text(""), seconds(all)]);
        table
    }

    /// Every run's stage and provenance record.
    pub fn runs(&self) -> impl Iterator<Item = (&str, &Provenance)> {
        self.by_stage.iter().flat_map(|(s, runs)| runs.iter().map(move |(_, p)| (s.as_str(), p)))
    }

    /// The commits whose builds wrote the artifacts.
    pub fn commits(&self) -> Vec<String> {
        let c: BTreeSet<String> = self.by_stage.values().flatten().map(|(_, p)| p.git_commit.clone()).collect();
        c.into_iter().collect()
    }

    /// First start and last finish over every run, as Unix seconds.
    pub fn span(&self) -> Option<(u64, u64)> {
        let runs = self.by_stage.values().flatten().map(|(_, p)| p);
        let start = runs.clone().map(|p| p.started_unix).min()?;
        let end = runs.map(|p| p.started_unix + p.wall_time_s.ceil() as u64).max()?;
        Some((start, end))
    }
}

/// A duration as [`duration`] prints it, sorted by its seconds.
fn seconds(s: f64) -> Cell {
    Cell::sorted(duration(s), s)
}

/// `1 h 02 min`, `3 min 12 s`, `4.2 s`.
pub fn duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{} h {:02} min", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    } else if s >= 60.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// This machine: CPU model and logical cores (Linux), else what is known.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {cores} logical cores available")
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(t: u64) -> String {
    let (days, rem) = (t / 86400, t % 86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, (rem % 3600) / 60)
}

/// What made the artifacts (version, commits, time span, the report's own
/// build and machine), `extra` lines, then the settings and wall-time tables:
/// the provenance part of every study's report.
pub fn context_blocks(ctx: &Context, extra: &str) -> Vec<Block> {
    let mut s = String::new();
    let commits = ctx.commits();
    let _ = writeln!(
        s,
        "- Artifacts made by synthmix {} at commit{} {}.",
        crate::VERSION,
        if commits.len() == 1 { "" } else { "s" },
        if commits.is_empty() { "unknown".into() } else { commits.join(", ") }
    );
    if let Some((a, b)) = ctx.span() {
        let _ = writeln!(
            s,
            "- Runs from {} to {} ({} from the first start to the last finish).",
            utc(a),
            utc(b),
            duration(b.saturating_sub(a) as f64)
        );
    }
    let _ = writeln!(
        s,
        "- Report written by synthmix {} at commit {} on: {}.",
        crate::VERSION,
        crate::GIT_COMMIT,
        machine()
    );
    s.push_str(extra);
    s.push_str("\nSettings, as the stages recorded them (every value used by any run):\n\n");
    vec![
        Block::Prose(s),
        Block::Table(ctx.settings_table()),
        Block::Prose("Wall time per stage (from each run's provenance):\n\n".into()),
        Block::Table(ctx.wall_times_table()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_well() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1796203796), "2026-12-02 09:29 UTC");
        assert_eq!(duration(4.24), "4.2 s");
        assert_eq!(duration(192.0), "3 min 12 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
