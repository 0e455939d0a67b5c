//! Which study a report is: the one `StudyKind`, chosen by `synthmix report
//! --study`, recorded in run.json and recognised from a results.csv header;
//! what differs between the studies' tables is a method here, not a match
//! at each caller.

use serde::{Deserialize, Serialize};

use super::model::Mix;

/// Which study wrote a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StudyKind {
    Paper,
    Regimes,
    Strategies,
}

impl StudyKind {
    pub fn name(self) -> &'static str {
        match self {
            StudyKind::Paper => "paper",
            StudyKind::Regimes => "regimes",
            StudyKind::Strategies => "strategies",
        }
    }

    /// report.md's title when `--title` is not given.
    pub fn default_title(self) -> &'static str {
        match self {
            StudyKind::Paper => "synthmix report",
            StudyKind::Regimes => "synthmix: the regimes study",
            StudyKind::Strategies => "synthmix: strategies that close the synthetic-to-real gap",
        }
    }

    /// Whether the study sets its results beside the paper's values (`--paper`).
    pub fn takes_paper(self) -> bool {
        self == StudyKind::Paper
    }

    /// The columns that name a cell of this study's results.
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            StudyKind::Paper => &["dataset", "generator", "train", "test"],
            StudyKind::Regimes => &["dataset", "regime", "arm", "metric"],
            StudyKind::Strategies => &["dataset", "regime", "base", "strategies", "metric"],
        }
    }

    /// Puts cell keys in reading order: the paper study's mixes in the
    /// paper's order (O, S, 1:1, …), every other column as text.
    pub fn sort(self, keys: &mut [&Vec<String>]) {
        match self {
            StudyKind::Paper => {
                keys.sort_by_key(|k| (k[0].clone(), k[1].clone(), Mix::parse_label(&k[2]), k[3].clone()))
            }
            _ => keys.sort(),
        }
    }

    /// The study whose results.csv has this header (each has its own columns).
    pub fn of_header(header: &str) -> StudyKind {
        if header.contains("balanced_accuracy") {
            StudyKind::Regimes
        } else if header.contains("test_accuracy") {
            StudyKind::Strategies
        } else {
            StudyKind::Paper
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_flag_values_and_the_run_json_values() {
        for k in [StudyKind::Paper, StudyKind::Regimes, StudyKind::Strategies] {
            let flag = clap::ValueEnum::to_possible_value(&k).unwrap();
            assert_eq!(flag.get_name(), k.name());
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.name()));
            assert_eq!(k.takes_paper(), k == StudyKind::Paper);
        }
    }
}
