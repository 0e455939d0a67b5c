//! Reduced real training sets for the regimes study: class imbalance
//! (`longtail`, `step`), scarce data (`fraction`) and the balanced upper
//! bound (`balanced`), made by `mix-build --subset RULE`.
//!
//! Every rule first fixes a count per class, then takes that many images of
//! each class from the front of a seeded per-class permutation. The same seed
//! therefore gives nested sets: a 1 % subset lies inside the 2 % one, and a
//! long tail's classes inside the balanced set, so "the same images plus more
//! real ones" is a real comparison.
//!
//! A validation split comes from the *back* of the same permutations:
//! `holdout:N` keeps the last N images of every class, `rest:N` all the
//! others. With one seed the holdout is disjoint from every front rule whose
//! count leaves N images of each class (a 10 % fraction, a long tail), so
//! knobs can be chosen on real images no training set of the study contains.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::ImageSet;
use crate::error::{Error, Result};
use crate::rng;

/// Which minority classes a `step` rule cuts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepClasses {
    /// These class indices.
    Named(Vec<usize>),
    /// This many classes, chosen by the seed (recorded in the provenance).
    Chosen(usize),
}

/// A rule that makes a reduced real set; `Display` and `FromStr` are inverse
/// (and the rule is saved as that text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Subset {
    /// `fraction:F`: a stratified share F ∈ (0, 1] of every class.
    Fraction(f64),
    /// `longtail:IF`: class c keeps ⌊n_max · IF^(−c/(K−1))⌋ images (as
    /// CIFAR-10-LT), n_max the smallest class's size, so IF = largest/smallest.
    LongTail(f64),
    /// `step:R:CLASSES`: every class keeps n_max images but the minority
    /// classes keep ⌊R · n_max⌋; CLASSES is `0,3,5` or `k=N` (seeded choice).
    Step { ratio: f64, classes: StepClasses },
    /// `balanced` (n_max per class) or `balanced:N`.
    Balanced(Option<usize>),
    /// `holdout:N`: the last N images of every class's permutation (a
    /// validation split).
    Holdout(usize),
    /// `rest:N`: every image but `holdout:N`'s (the training set beside it).
    Rest(usize),
}

fn bad(s: &str, why: &str) -> Error {
    Error::Invalid(format!(
        "--subset '{s}': {why} (rules: fraction:F, longtail:IF, step:R:CLASSES, step:R:k=N, balanced, balanced:N, holdout:N, rest:N)"
    ))
}

fn number(s: &str, what: &str) -> Result<f64> {
    let v: f64 = what.trim().parse().map_err(|_| bad(s, &format!("'{what}' is not a number")))?;
    if !v.is_finite() {
        return Err(bad(s, &format!("'{what}' is not a finite number")));
    }
    Ok(v)
}

impl std::str::FromStr for Subset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["fraction", f] => {
                let f = number(s, f)?;
                if !(f > 0.0 && f <= 1.0) {
                    return Err(bad(s, "the fraction must be in (0, 1]"));
                }
                Ok(Subset::Fraction(f))
            }
            ["longtail", f] => {
                let f = number(s, f)?;
                if !(1.0..=1e6).contains(&f) {
                    return Err(bad(s, "the imbalance factor must be in [1, 1e6]"));
                }
                Ok(Subset::LongTail(f))
            }
            ["step", r, classes] => {
                let ratio = number(s, r)?;
                if !(ratio > 0.0 && ratio <= 1.0) {
                    return Err(bad(s, "the minority ratio must be in (0, 1]"));
                }
                let classes = match classes.strip_prefix("k=") {
                    Some(k) => {
                        StepClasses::Chosen(k.parse().map_err(|_| bad(s, &format!("'{k}' is not a class count")))?)
                    }
                    None => {
                        let mut v = Vec::new();
                        for c in classes.split(',') {
                            v.push(c.trim().parse().map_err(|_| bad(s, &format!("'{c}' is not a class index")))?);
                        }
                        v.sort_unstable();
                        v.dedup();
                        StepClasses::Named(v)
                    }
                };
                Ok(Subset::Step { ratio, classes })
            }
            ["balanced"] => Ok(Subset::Balanced(None)),
            ["balanced", n] => {
                let n = crate::limits::images(n).map_err(|e| bad(s, &e))?;
                Ok(Subset::Balanced(Some(n)))
            }
            ["holdout", n] => Ok(Subset::Holdout(crate::limits::images(n).map_err(|e| bad(s, &e))?)),
            ["rest", n] => Ok(Subset::Rest(crate::limits::images(n).map_err(|e| bad(s, &e))?)),
            _ => Err(bad(s, "unknown rule")),
        }
    }
}

impl std::fmt::Display for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subset::Fraction(x) => write!(f, "fraction:{x}"),
            Subset::LongTail(x) => write!(f, "longtail:{x}"),
            Subset::Step { ratio, classes: StepClasses::Named(v) } => {
                let v: Vec<String> = v.iter().map(usize::to_string).collect();
                write!(f, "step:{ratio}:{}", v.join(","))
            }
            Subset::Step { ratio, classes: StepClasses::Chosen(k) } => write!(f, "step:{ratio}:k={k}"),
            Subset::Balanced(None) => write!(f, "balanced"),
            Subset::Balanced(Some(n)) => write!(f, "balanced:{n}"),
            Subset::Holdout(n) => write!(f, "holdout:{n}"),
            Subset::Rest(n) => write!(f, "rest:{n}"),
        }
    }
}

impl From<Subset> for String {
    fn from(s: Subset) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Subset {
    type Error = Error;
    fn try_from(s: String) -> Result<Subset> {
        s.parse()
    }
}

impl Subset {
    /// Whether the rule makes a class-imbalanced set (the imbalance regime).
    pub fn is_imbalanced(&self) -> bool {
        match self {
            Subset::LongTail(f) => *f > 1.0,
            Subset::Step { ratio, .. } => *ratio < 1.0,
            _ => false,
        }
    }

    /// Images to keep per class, given each class's available count; errors
    /// name the class that cannot supply its count.
    pub fn counts(&self, available: &[usize], seed: u64) -> Result<Vec<usize>> {
        let k = available.len();
        let n_max = available.iter().copied().min().unwrap_or(0);
        let counts: Vec<usize> = match self {
            Subset::Fraction(f) => {
                let total = (available.iter().sum::<usize>() as f64 * f).round() as usize;
                let w: Vec<f64> = available.iter().map(|&n| n as f64).collect();
                // At least one image of every class that has any.
                super::mix::allocate(total, &w)
                    .into_iter()
                    .zip(available)
                    .map(|(q, &n)| if n > 0 { q.max(1) } else { 0 })
                    .collect()
            }
            Subset::LongTail(factor) => (0..k)
                .map(|c| {
                    let e = if k > 1 { c as f64 / (k - 1) as f64 } else { 0.0 };
                    // The small epsilon keeps exact products (e.g. 1000·0.1) from flooring one below.
                    ((n_max as f64 * factor.powf(-e)) + 1e-9).floor().max(1.0) as usize
                })
                .collect(),
            Subset::Step { ratio, classes } => {
                let minority = self.minority_classes(classes, k, seed)?;
                let cut = ((n_max as f64 * ratio) + 1e-9).floor().max(1.0) as usize;
                (0..k).map(|c| if minority.contains(&c) { cut } else { n_max }).collect()
            }
            Subset::Balanced(n) => vec![n.unwrap_or(n_max); k],
            Subset::Holdout(n) => vec![*n; k],
            Subset::Rest(n) => {
                if let Some(c) = available.iter().position(|&have| have <= *n) {
                    return Err(Error::Invalid(format!(
                        "--subset {self} holds out {n} images of class {c}, which has only {} (nothing would remain)",
                        available[c]
                    )));
                }
                available.iter().map(|&have| have - n).collect()
            }
        };
        for (c, (&need, &have)) in counts.iter().zip(available).enumerate() {
            if need > have {
                return Err(Error::Invalid(format!(
                    "--subset {self} needs {need} images of class {c} but the set has only {have}"
                )));
            }
        }
        if counts.iter().all(|&n| n == 0) {
            return Err(Error::Invalid(format!("--subset {self} keeps no image")));
        }
        Ok(counts)
    }

    /// The minority classes of a `step` rule (sorted); `Chosen` draws them from the seed.
    pub fn minority_classes(&self, classes: &StepClasses, k: usize, seed: u64) -> Result<Vec<usize>> {
        match classes {
            StepClasses::Named(v) => {
                if let Some(c) = v.iter().find(|&&c| c >= k) {
                    return Err(Error::Invalid(format!("--subset {self}: class {c} does not exist ({k} classes)")));
                }
                Ok(v.clone())
            }
            StepClasses::Chosen(n) => {
                if *n == 0 || *n >= k {
                    return Err(Error::Invalid(format!("--subset {self}: k must be in 1..{k}")));
                }
                let mut all: Vec<usize> = (0..k).collect();
                all.shuffle(&mut rng::stream(seed, "subset/minority"));
                let mut v = all[..*n].to_vec();
                v.sort_unstable();
                Ok(v)
            }
        }
    }

    /// The retained indices of `set` (sorted): per class, the first `count`
    /// of a seeded permutation, so smaller counts give nested subsets
    /// (`holdout` takes the last `count` instead).
    pub fn select(&self, set: &ImageSet, seed: u64) -> Result<Vec<usize>> {
        let by_class = set.indices_by_class();
        let available: Vec<usize> = by_class.iter().map(Vec::len).collect();
        let counts = self.counts(&available, seed)?;
        let mut keep = Vec::with_capacity(counts.iter().sum());
        for (c, (mut idx, n)) in by_class.into_iter().zip(counts).enumerate() {
            idx.shuffle(&mut rng::stream(seed, &format!("subset/class{c}")));
            let from = if matches!(self, Subset::Holdout(_)) { idx.len() - n } else { 0 };
            keep.extend_from_slice(&idx[from..from + n]);
        }
        keep.sort_unstable();
        Ok(keep)
    }
}

/// A seeded, class-stratified choice of `n` indices of `set` (sorted).
pub fn stratified(set: &ImageSet, n: usize, seed: u64, purpose: &str) -> Vec<usize> {
    let mut r = rng::stream(seed, purpose);
    let by_class = set.indices_by_class();
    let total = set.len().max(1);
    // Largest-remainder allocation keeps class proportions and the exact total.
    let quotas = super::mix::allocate(
        n.min(set.len()),
        &by_class.iter().map(|c| c.len() as f64 / total as f64).collect::<Vec<_>>(),
    );
    let mut out = Vec::with_capacity(n);
    for (idx, q) in by_class.into_iter().zip(quotas) {
        let mut idx = idx;
        idx.shuffle(&mut r);
        out.extend(idx.into_iter().take(q));
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print_back() {
        for s in [
            "fraction:0.01",
            "longtail:100",
            "step:0.1:0,3,5",
            "step:0.05:k=3",
            "balanced",
            "balanced:500",
            "holdout:500",
            "rest:500",
        ] {
            let rule = s.parse::<Subset>().unwrap();
            assert_eq!(rule.to_string(), s);
            assert_eq!(serde_json::to_string(&rule).unwrap(), format!("\"{s}\""));
        }
        for s in [
            "fraction:0",
            "fraction:1.5",
            "longtail:0.5",
            "step:0:1",
            "step:0.1:x",
            "nope",
            "fraction:nan",
            "",
            "holdout:0",
            "rest:x",
        ] {
            assert!(s.parse::<Subset>().is_err(), "{s}");
        }
    }

    #[test]
    fn longtail_counts_follow_the_cifar_lt_profile() {
        let avail = [6000, 5000, 5500, 5200, 5300, 5100, 5050, 5400, 5600, 5900];
        // n_max = 5000; IF 100: 5000·100^(−c/9).
        let c = Subset::LongTail(100.0).counts(&avail, 0).unwrap();
        assert_eq!(c, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
        assert_eq!(c[0] / c[9], 100);
        let c = Subset::LongTail(10.0).counts(&avail, 0).unwrap();
        assert_eq!(c, [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]);
    }

    #[test]
    fn step_fraction_and_balanced_counts_are_exact() {
        let avail = [100, 80, 120, 90];
        assert_eq!(
            Subset::Step { ratio: 0.1, classes: StepClasses::Named(vec![1, 3]) }.counts(&avail, 0).unwrap(),
            [80, 8, 80, 8]
        );
        let chosen = Subset::Step { ratio: 0.5, classes: StepClasses::Chosen(2) }.counts(&avail, 7).unwrap();
        assert_eq!(chosen.iter().filter(|&&n| n == 40).count(), 2);
        assert_eq!(chosen.iter().filter(|&&n| n == 80).count(), 2);
        assert_eq!(Subset::Fraction(0.1).counts(&avail, 0).unwrap(), [10, 8, 12, 9]);
        assert_eq!(Subset::Fraction(0.001).counts(&avail, 0).unwrap(), [1, 1, 1, 1], "one per class at least");
        assert_eq!(Subset::Balanced(None).counts(&avail, 0).unwrap(), [80; 4]);
        let e = Subset::Balanced(Some(100)).counts(&avail, 0).unwrap_err().to_string();
        assert!(e.contains("needs 100 images of class 1 but the set has only 80"), "{e}");
        let e = Subset::Step { ratio: 0.5, classes: StepClasses::Named(vec![9]) }.counts(&avail, 0).unwrap_err();
        assert!(e.to_string().contains("class 9 does not exist"), "{e}");
    }

    fn toy_set(per_class: &[usize]) -> ImageSet {
        let labels: Vec<u8> =
            per_class.iter().enumerate().flat_map(|(c, &n)| std::iter::repeat(c as u8).take(n)).collect();
        let n = labels.len();
        ImageSet::new(
            std::path::Path::new("<toy>"),
            vec![0; n * 4],
            labels,
            crate::data::ImageShape { c: 1, h: 2, w: 2 },
            per_class.len(),
            crate::data::SetMeta::new("toy", "train", crate::data::Source::Real),
        )
        .unwrap()
    }

    #[test]
    fn holdout_and_rest_split_every_class_and_stay_clear_of_front_rules() {
        let set = toy_set(&[60, 75, 50]);
        let hold = Subset::Holdout(20).select(&set, 3).unwrap();
        let rest = Subset::Rest(20).select(&set, 3).unwrap();
        assert_eq!(hold.len(), 60);
        assert_eq!(rest.len(), 185 - 60);
        let mut all: Vec<usize> = hold.iter().chain(&rest).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..185).collect::<Vec<_>>(), "holdout and rest partition the set");
        // Front rules with the same seed never touch the holdout, and lie in the rest.
        for rule in [Subset::Fraction(0.5), Subset::Fraction(0.1), Subset::Balanced(Some(30))] {
            let front = rule.select(&set, 3).unwrap();
            assert!(front.iter().all(|i| !hold.contains(i)), "{rule} overlaps the holdout");
            assert!(front.iter().all(|i| rest.contains(i)), "{rule} leaves the rest");
        }
        // Another seed gives another holdout.
        assert_ne!(Subset::Holdout(20).select(&set, 4).unwrap(), hold);
        let e = Subset::Rest(50).select(&set, 3).unwrap_err().to_string();
        assert!(e.contains("holds out 50 images of class 2, which has only 50"), "{e}");
        let e = Subset::Holdout(51).select(&set, 3).unwrap_err().to_string();
        assert!(e.contains("needs 51 images of class 2 but the set has only 50"), "{e}");
    }
}
