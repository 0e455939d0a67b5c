//! The regimes study's report (`synthmix report --study regimes`): class
//! imbalance, scarce real data and the synthetic-to-real gap (CAS).
//!
//! Every result is labelled from the artifacts themselves: the classifier's
//! checkpoint (dataset, seed, rebalancing), its training set's metadata (the
//! subset rule of its real part, fill or ratio, the generator) and the
//! provenance of the mix and of the generator (which real file each was made
//! from, by BLAKE3, so the report can check that every generator saw only its
//! regime's real subset). Statistics are the paper study's: mean ± std over
//! seeds, and paired differences (same seed) with 95 % Student-t intervals.

pub mod analysis;
pub mod cas;
pub mod collect;
pub mod families;
pub mod render;
pub mod rows;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::context::Context;
use super::kind::StudyKind;
use super::md;
use super::model::{dataset_title, Cell};
use super::results::RegimeRow;
use super::stats::{compared_cell, Compared, Estimate, Family, Interval, Verdict, MARGIN};
use super::study::{MetaCache, ReportParams};
use super::writer::Writer;
use crate::artifact::meta::{MixKind, MixRecord, SetMeta};
use crate::artifact::provenance;
use crate::data::subset::Subset;
use crate::error::{Error, Result};

/// How a classifier's training set was made from its regime's real subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arm {
    /// The real subset as it is.
    Real,
    Oversample,
    ClassWeight,
    /// Minority classes filled with synthetic images up to balance.
    Fill,
    /// Every real image plus this many synthetic images per real one.
    Synthetic(u32),
    /// Synthetic images only (Classification Accuracy Score).
    Cas,
}

impl Arm {
    /// Whether the arm's training set holds synthetic images (fill, +M×, CAS).
    pub fn is_synthetic(&self) -> bool {
        matches!(self, Arm::Fill | Arm::Synthetic(_) | Arm::Cas)
    }

    pub fn label(&self) -> String {
        match self {
            Arm::Real => "real only".into(),
            Arm::Oversample => "oversampling".into(),
            Arm::ClassWeight => "class-weighted loss".into(),
            Arm::Fill => "synthetic fill".into(),
            Arm::Synthetic(m) => format!("+{m}× synthetic"),
            Arm::Cas => "synthetic only (CAS)".into(),
        }
    }
}

/// One classifier scored on its dataset's real test set.
#[derive(Debug, Clone)]
pub struct RegimeObs {
    pub dataset: String,
    pub rule: Subset,
    pub arm: Arm,
    pub seed: u64,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub recall: Vec<f64>,
    /// Real training images per class (arms on the real subset itself; empty for the others).
    pub class_sizes: Vec<usize>,
    pub classifier: String,
    pub train: String,
    /// For arms with synthetic images: whether the generator was trained on
    /// the same real file as the classifier's real part (None: no record).
    pub fair: Option<bool>,
    /// The generator's final FID and recognition, where recorded.
    pub generator_quality: Quality,
    /// For arms with synthetic images: the generator behind them (None: no
    /// record, as in results.csv files written before these columns).
    pub generator: Option<UsedGenerator>,
}

impl RegimeObs {
    /// The generator group this observation belongs to: None for the arms
    /// trained on the real subset alone (shared by every group), the
    /// generator's source otherwise (an unnamed one where none is recorded).
    pub fn source(&self) -> Option<Source> {
        self.arm.is_synthetic().then(|| self.generator.as_ref().map(|g| g.source.clone()).unwrap_or_default())
    }
}

pub use super::generator_use::{Quality, Source, UsedGenerator};
