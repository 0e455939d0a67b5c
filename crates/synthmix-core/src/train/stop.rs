//! When a generator's training ends, one rule for both families (`gan-train`,
//! `dpm-train`): at its epoch budget, or earlier at a quality target
//! (`--until recognition:R` / `--until fid:F`), so that studies can compare
//! generators of the same quality instead of the same budget. Also the checks
//! every `--resume` of a generator run makes before it loads the saved state.

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

/// The last epoch of a training log CSV (`epoch,…,fid,recognition,…`, the
/// columns found by name) that measured FID and recognition.
pub fn last_measured(log_csv: &str) -> Option<(usize, f64, f64)> {
    let mut lines = log_csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (e, f, r) = (col("epoch")?, col("fid")?, col("recognition")?);
    lines.rev().find_map(|line| {
        let cells: Vec<&str> = line.split(',').collect();
        let num = |i: usize| cells.get(i).and_then(|c| c.parse::<f64>().ok());
        Some((cells.get(e)?.parse().ok()?, num(f)?, num(r)?))
    })
}

/// What a generator run's `--resume` finds in its saved state.
pub struct Saved<'a> {
    pub identity: &'a serde_json::Value,
    pub epoch: usize,
    pub log_csv: &'a str,
}

/// Refuses a `--resume` whose saved state belongs to another run, or that
/// has nothing left to do: the epoch budget trained, or `until` already met.
pub fn check_resume(
    state: &Path,
    saved: &Saved,
    ident: &serde_json::Value,
    epochs: usize,
    until: Option<Until>,
) -> Result<()> {
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
    if saved.epoch >= epochs {
        return Err(Error::Invalid(format!(
            "{}: already trained for {} epochs; raise --epochs to continue",
            state.display(),
            saved.epoch
        )));
    }
    let met = until.zip(last_measured(saved.log_csv)).filter(|(u, (_, f, r))| u.reached(*f, *r));
    if let Some((u, (e, f, r))) = met {
        return Err(Error::Invalid(format!(
            "{}: --until {u} was already met at epoch {e} (FID {f:.2}, recognition {r:.3}); raise the target to continue",
            state.display()
        )));
    }
    Ok(())
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
    fn last_measured_skips_unmeasured_epochs_and_finds_columns_by_name() {
        let gan = "epoch,d_loss,g_loss,d_real,d_fake,fid,recognition,sample_std,images_per_s,wall_s\n\
                   1,0.9,1.8,0.7,0.4,40.5,0.61,0.2,1000.0,1.0\n2,0.9,1.8,0.7,0.4,,,0.2,1000.0,1.0\n";
        assert_eq!(last_measured(gan), Some((1, 40.5, 0.61)));
        let dpm = "epoch,loss,fid,recognition,sample_std,images_per_s,wall_s\n3,0.1,9.0,0.97,,10.0,1.0\n";
        assert_eq!(last_measured(dpm), Some((3, 9.0, 0.97)));
        assert_eq!(last_measured("epoch,loss\n1,0.5\n"), None);
    }

    #[test]
    fn resume_refuses_a_met_target_and_a_spent_budget_but_not_a_raised_one() {
        let id = serde_json::json!({"seed": 0});
        let log = "epoch,loss,fid,recognition\n4,0.1,15.0,0.92\n";
        let saved = Saved { identity: &id, epoch: 4, log_csv: log };
        let state = Path::new("g.optim.safetensors");
        let e = check_resume(state, &saved, &id, 10, Some(Until::Recognition(0.9))).unwrap_err().to_string();
        assert!(e.contains("already met at epoch 4") && e.contains("g.optim.safetensors"), "{e}");
        assert!(check_resume(state, &saved, &id, 10, Some(Until::Recognition(0.95))).is_ok());
        assert!(check_resume(state, &saved, &id, 10, None).is_ok());
        let e = check_resume(state, &saved, &id, 4, None).unwrap_err().to_string();
        assert!(e.contains("raise --epochs"), "{e}");
        let other = serde_json::json!({"seed": 1});
        let e = check_resume(state, &saved, &other, 10, None).unwrap_err().to_string();
        assert!(e.contains("differs in seed"), "{e}");
    }
}
