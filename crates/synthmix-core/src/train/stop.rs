//! When a generator's training ends, one rule for both families (`gan-train`,
//! `dpm-train`): at its epoch budget, or earlier at a quality target
//! (`--until recognition:R` / `--until fid:F`), so that studies can compare
//! generators of the same quality instead of the same budget. Also the checks
//! every `--resume` of a generator run makes before it loads the saved state.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A quality target: training stops after the first measured epoch that meets
/// it (FID and recognition are measured every `--fid-every` epochs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Until {
    /// At least this share of generated images recognised as their class by
    /// the features network.
    Recognition(f64),
    /// FID at most this.
    Fid(f64),
}

impl Until {
    /// Whether an epoch that measured `fid` and `recognition` meets the target.
    pub fn reached(self, fid: f64, recognition: f64) -> bool {
        match self {
            Until::Recognition(r) => recognition >= r,
            Until::Fid(f) => fid <= f,
        }
    }
}

impl FromStr for Until {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("expected recognition:R (0 < R <= 1) or fid:F (F > 0), got '{}'", clip(s));
        let (what, value) = s.split_once(':').ok_or_else(bad)?;
        let v: f64 = value.trim().parse().map_err(|_| bad())?;
        match what.trim() {
            "recognition" if v > 0.0 && v <= 1.0 => Ok(Until::Recognition(v)),
            "fid" if v.is_finite() && v > 0.0 => Ok(Until::Fid(v)),
            _ => Err(bad()),
        }
    }
}

/// At most 40 characters of a user's value in an error line.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Until::Recognition(r) => write!(f, "recognition:{r}"),
            Until::Fid(x) => write!(f, "fid:{x}"),
        }
    }
}

impl TryFrom<String> for Until {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Until> for String {
    fn from(u: Until) -> String {
        u.to_string()
    }
}

/// `--until` and `--fid-reference` measure with the features network.
pub fn check_flags(has_features: bool, until: Option<Until>, reference: Option<&str>) -> Result<()> {
    if !has_features && (until.is_some() || reference.is_some()) {
        return Err(Error::Invalid(
            "--until and --fid-reference need --features (a classifier checkpoint to measure quality with)".into(),
        ));
    }
    Ok(())
}

/// What a generator run's `--resume` finds in its saved state.
pub struct Saved<'a> {
    pub identity: &'a serde_json::Value,
    pub epoch: usize,
    pub log_csv: &'a str,
}

/// What a `--resume` of this run's saved state does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Trains on from the saved epoch.
    Train,
    /// The saved epoch is the run's last (its budget, or the first epoch
    /// that met `--until`: then `stopped_at`): nothing is left to train, only
    /// the final artifacts to write as the uninterrupted run wrote them (a
    /// run killed after saving its state, or simply run again, finishes).
    Finish { stopped_at: Option<usize> },
}

/// The first epoch of a training log CSV whose measured quality meets `u`.
pub fn first_met(log_csv: &str, u: Until) -> Option<(usize, f64, f64)> {
    let mut lines = log_csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (e, f, r) = (col("epoch")?, col("fid")?, col("recognition")?);
    lines.find_map(|line| {
        let cells: Vec<&str> = line.split(',').collect();
        let num = |i: usize| cells.get(i).and_then(|c| c.parse::<f64>().ok());
        let (fid, rec) = (num(f)?, num(r)?);
        u.reached(fid, rec).then_some((cells.get(e)?.parse().ok()?, fid, rec))
    })
}

/// Refuses a `--resume` whose saved state belongs to another run, is past
/// the epoch budget, or went past the first epoch that met `until` (an
/// uninterrupted run would have stopped there, and its generator is gone);
/// otherwise says whether to train on or only finish.
pub fn check_resume(
    state: &Path,
    saved: &Saved,
    ident: &serde_json::Value,
    epochs: usize,
    until: Option<Until>,
) -> Result<Resume> {
    if saved.identity != ident {
        let obj = ident.as_object().expect("a run's identity is an object");
        let diff: Vec<&str> =
            obj.iter().filter(|(k, v)| saved.identity.get(k.as_str()) != Some(v)).map(|(k, _)| k.as_str()).collect();
        return Err(Error::Invalid(format!(
            "{}: cannot --resume: the saved run differs in {} (start afresh without --resume, or use the same settings)",
            state.display(),
            diff.join(", ")
        )));
    }
    if saved.epoch > epochs {
        return Err(Error::Invalid(format!(
            "{}: already trained for {} epochs, past --epochs {epochs}; raise --epochs to continue",
            state.display(),
            saved.epoch
        )));
    }
    match until.and_then(|u| first_met(saved.log_csv, u).map(|m| (u, m))) {
        Some((u, (e, f, r))) if e < saved.epoch => Err(Error::Invalid(format!(
            "{}: --until {u} was already met at epoch {e} (FID {f:.2}, recognition {r:.3}), before the saved epoch {}; \
             raise the target to continue, or start afresh",
            state.display(),
            saved.epoch
        ))),
        Some((_, (e, _, _))) => Ok(Resume::Finish { stopped_at: Some(e) }),
        None if saved.epoch == epochs => Ok(Resume::Finish { stopped_at: None }),
        None => Ok(Resume::Train),
    }
}

/// Stores a saved epoch's measured FID and recognition in a state file's
/// metadata as exact bits: a run finished by `--resume` writes them into
/// its generator's record as the uninterrupted run did.
pub fn put_quality(meta: &mut BTreeMap<String, String>, quality: Option<(f64, f64)>) {
    if let Some((f, r)) = quality {
        meta.insert("quality_bits".into(), format!("{},{}", f.to_bits(), r.to_bits()));
    }
}

/// The quality [`put_quality`] stored (None in states saved before it existed).
pub fn get_quality(path: &Path, meta: &BTreeMap<String, String>) -> Result<Option<(f64, f64)>> {
    let Some(v) = meta.get("quality_bits") else { return Ok(None) };
    let bits = |s: &str| s.parse::<u64>().ok().map(f64::from_bits);
    match v.split_once(',').and_then(|(f, r)| bits(f).zip(bits(r))) {
        Some(q) => Ok(Some(q)),
        None => Err(Error::format(path, "metadata quality_bits is malformed".to_string())),
    }
}

/// The last row of a training log CSV (the saved epoch's, in a state's log).
pub fn last_logged<T: serde::de::DeserializeOwned>(path: &Path, log_csv: &str) -> Result<T> {
    let rows = csv::Reader::from_reader(log_csv.as_bytes()).into_deserialize::<T>();
    let last = rows.last().ok_or_else(|| Error::format(path, "the saved log has no epoch".to_string()))?;
    last.map_err(|e| Error::format(path, format!("the saved log's last row: {e}")))
}

/// Logs why training stopped before its budget, or that the target was
/// missed; returns 1 if the target was met, 0 if not (the provenance metric
/// `until_reached`), nothing without a target.
pub fn report(until: Option<Until>, stopped_at: Option<usize>, epochs: usize, last: Option<(f64, f64)>) -> Option<f64> {
    let u = until?;
    match stopped_at {
        Some(e) => {
            let (f, r) = last.unwrap_or((f64::NAN, f64::NAN));
            tracing::info!("--until {u} met at epoch {e} (FID {f:.2}, recognition {r:.3}): stopped before the cap of {epochs} epochs");
            Some(1.0)
        }
        None => {
            tracing::warn!("--until {u} not met within {epochs} epochs: the generator is the last epoch's");
            Some(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_targets_and_refuses_the_rest() {
        assert_eq!("recognition:0.9".parse::<Until>(), Ok(Until::Recognition(0.9)));
        assert_eq!("fid:12.5".parse::<Until>(), Ok(Until::Fid(12.5)));
        for bad in ["recognition:1.5", "recognition:0", "fid:-1", "fid:inf", "fid:NaN", "fid", "accuracy:0.9", ""] {
            let e = bad.parse::<Until>().unwrap_err();
            assert!(e.contains("recognition:R") && e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
        let u: Until = serde_json::from_str("\"fid:20\"").unwrap();
        assert_eq!((u, serde_json::to_string(&u).unwrap()), (Until::Fid(20.0), "\"fid:20\"".to_string()));
    }

    #[test]
    fn reached_is_inclusive_in_the_right_direction() {
        assert!(Until::Recognition(0.9).reached(99.0, 0.9));
        assert!(!Until::Recognition(0.9).reached(1.0, 0.8999));
        assert!(Until::Fid(20.0).reached(20.0, 0.0));
        assert!(!Until::Fid(20.0).reached(20.01, 1.0));
    }

    #[test]
    fn first_met_skips_unmeasured_epochs_and_finds_columns_by_name() {
        let gan = "epoch,d_loss,g_loss,d_real,d_fake,fid,recognition,sample_std,images_per_s,wall_s\n\
                   1,0.9,1.8,0.7,0.4,40.5,0.61,0.2,1000.0,1.0\n2,0.9,1.8,0.7,0.4,,,0.2,1000.0,1.0\n";
        assert_eq!(first_met(gan, Until::Fid(1e9)), Some((1, 40.5, 0.61)));
        let dpm =
            "epoch,loss,fid,recognition,sample_std,images_per_s,wall_s\n2,0.1,,,,10.0,1.0\n3,0.1,9.0,0.97,,10.0,1.0\n";
        assert_eq!(first_met(dpm, Until::Fid(1e9)), Some((3, 9.0, 0.97)));
    }

    #[test]
    fn resume_finishes_at_the_budget_or_the_met_target_and_refuses_what_it_cannot_reproduce() {
        let id = serde_json::json!({"seed": 0});
        let log = "epoch,loss,fid,recognition\n2,0.2,30.0,0.80\n3,0.1,,\n4,0.1,15.0,0.92\n";
        let saved = Saved { identity: &id, epoch: 4, log_csv: log };
        let state = Path::new("g.optim.safetensors");
        let go = |epochs, until| check_resume(state, &saved, &id, epochs, until);
        // The saved epoch is the first that met the target, or the budget: finish.
        assert_eq!(go(10, Some(Until::Recognition(0.9))).unwrap(), Resume::Finish { stopped_at: Some(4) });
        assert_eq!(go(4, Some(Until::Recognition(0.9))).unwrap(), Resume::Finish { stopped_at: Some(4) });
        assert_eq!(go(4, None).unwrap(), Resume::Finish { stopped_at: None });
        assert_eq!(go(4, Some(Until::Recognition(0.95))).unwrap(), Resume::Finish { stopped_at: None });
        // A raised target or budget trains on.
        assert_eq!(go(10, Some(Until::Recognition(0.95))).unwrap(), Resume::Train);
        assert_eq!(go(10, None).unwrap(), Resume::Train);
        // Met before the saved epoch: the run that stops there cannot be rebuilt.
        let e = go(10, Some(Until::Recognition(0.8))).unwrap_err().to_string();
        assert!(e.contains("already met at epoch 2") && e.contains("g.optim.safetensors"), "{e}");
        assert!(e.contains("before the saved epoch 4") && e.contains("raise the target"), "{e}");
        let e = go(3, None).unwrap_err().to_string();
        assert!(e.contains("already trained for 4 epochs, past --epochs 3") && e.contains("raise --epochs"), "{e}");
        let other = serde_json::json!({"seed": 1});
        let e = check_resume(state, &saved, &other, 10, None).unwrap_err().to_string();
        assert!(e.contains("differs in seed"), "{e}");
    }

    #[test]
    fn first_met_finds_the_earliest_measured_epoch_meeting_the_target() {
        let log = "epoch,loss,fid,recognition\n1,0.3,,\n2,0.2,30.0,0.80\n4,0.1,15.0,0.92\n";
        assert_eq!(first_met(log, Until::Recognition(0.8)), Some((2, 30.0, 0.8)));
        assert_eq!(first_met(log, Until::Fid(20.0)), Some((4, 15.0, 0.92)));
        assert_eq!(first_met(log, Until::Fid(10.0)), None);
        assert_eq!(first_met("epoch,loss\n1,0.5\n", Until::Fid(1e9)), None);
    }
}
