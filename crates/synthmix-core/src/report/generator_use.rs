//! Which generator made a study's synthetic training images, read from the
//! artifacts (the set's `sampled` record, the generator's checkpoint header
//! and provenance, never file names), and the table every study with
//! generator seeds prints of them: which study seeds used which generator,
//! so a reader knows what the ± of a synthetic arm covers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::document::{Cell as Entry, Section, Table};
use super::model::dataset_title;
use super::study::MetaCache;
use crate::artifact::meta::SetMeta;
use crate::artifact::provenance;

/// What a report groups synthetic arms by: the generator's architecture
/// and when its training stopped. Two seeds of one source are replicates;
/// two sources are compared, never pooled.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// `mlp`, `dcgan`, `unet`; empty where the results do not record it.
    pub arch: String,
    /// The quality target it trained to (`recognition:0.9`); empty for the
    /// fixed epoch budget.
    pub until: String,
}

impl Source {
    /// `MLP cGAN`, `DDPM (U-Net)`, `MLP cGAN to recognition ≥ 0.9`; empty for
    /// an unrecorded source.
    pub fn label(&self) -> String {
        let family = match self.arch.as_str() {
            "mlp" => "MLP cGAN".to_string(),
            "dcgan" => "DCGAN".to_string(),
            "unet" => "DDPM (U-Net)".to_string(),
            other => other.to_string(),
        };
        match self.until.split_once(':') {
            None if self.until.is_empty() => family,
            Some(("recognition", r)) => format!("{family} to recognition ≥ {r}"),
            Some(("fid", f)) => format!("{family} to FID ≤ {f}"),
            _ => format!("{family} until {}", self.until),
        }
    }
}

/// The generator behind a synthetic arm: its source, seed and length of training.
#[derive(Debug, Clone, PartialEq)]
pub struct UsedGenerator {
    pub source: Source,
    pub seed: u64,
    /// The epoch of its final checkpoint (where `--until` stopped it, or the budget).
    pub epochs: usize,
    /// Its checkpoint, as the training set names it (empty where a
    /// results.csv written before that column does not say).
    pub path: String,
}

impl UsedGenerator {
    /// results.csv's generator columns (architecture, quality target, seed,
    /// epochs, path) back into a generator: all set, or all empty (no
    /// synthetic images, or a file written before these columns); the path
    /// may be empty (files written before that column).
    pub fn from_columns(
        arch: String,
        until: String,
        seed: Option<u64>,
        epochs: Option<usize>,
        path: String,
    ) -> std::result::Result<Option<UsedGenerator>, String> {
        match (seed, epochs) {
            (Some(seed), Some(epochs)) if !arch.is_empty() => {
                Ok(Some(UsedGenerator { source: Source { arch, until }, seed, epochs, path }))
            }
            (None, None) if arch.is_empty() && until.is_empty() && path.is_empty() => Ok(None),
            _ => Err("generator_arch, generator_seed and generator_epochs must all be set or all empty".into()),
        }
    }
}

/// A generator's final (FID, recognition), where its checkpoint records them.
pub type Quality = (Option<f64>, Option<f64>);

/// What a training set's `sampled` record says about its generator.
#[derive(Debug, Clone)]
pub struct GeneratorRecord {
    pub quality: Quality,
    /// None where the checkpoint cannot be read or records no seed.
    pub used: Option<UsedGenerator>,
    /// The BLAKE3 of the real set the generator trained on (None: no provenance).
    pub trained_on: Option<String>,
}

/// What a report takes from a generator's provenance.
#[derive(Debug, Clone, Default)]
struct GenProv {
    train: Option<String>,
    /// The `--until` quality target it trained to (empty: the epoch budget).
    until: String,
}

impl GenProv {
    fn read(generator: &Path) -> GenProv {
        let Ok(p) = provenance::read(&provenance::path_for(generator)) else { return GenProv::default() };
        let params = serde_json::from_str::<serde_json::Value>(&p.params_json).ok();
        let until = params.and_then(|v| v.get("until")?.as_str().map(str::to_string)).unwrap_or_default();
        GenProv { train: p.inputs.into_iter().find(|i| i.role == "train").map(|i| i.blake3), until }
    }
}

/// Reads each generator's provenance once, however many sets it made.
#[derive(Default)]
pub struct GeneratorReader {
    provs: BTreeMap<PathBuf, GenProv>,
}

impl GeneratorReader {
    /// The generator of a pool or a mix made from one; None for a set
    /// without synthetic images drawn by synth-sample.
    pub fn of_set(&mut self, meta: &mut MetaCache, set: &SetMeta) -> Option<GeneratorRecord> {
        let gpath = set.sampled.as_ref()?.generator.clone();
        let header = meta.checkpoint(&gpath).ok();
        let fid = header.as_ref().and_then(|g| g.fid().cloned());
        let quality = (fid.as_ref().map(|f| f.fid), fid.as_ref().map(|f| f.recognition));
        let gp = self.provs.entry(gpath.clone()).or_insert_with(|| GenProv::read(&gpath)).clone();
        let used = header.and_then(|h| {
            let seed = h.gan().map(|g| g.seed).or(h.diffusion().map(|d| d.seed))?;
            let source = Source { arch: h.arch.clone(), until: gp.until };
            Some(UsedGenerator { source, seed, epochs: h.epoch, path: gpath.display().to_string() })
        });
        Some(GeneratorRecord { quality, used, trained_on: gp.train })
    }
}

/// One classifier's synthetic images: from which generator, for which study seed.
pub struct GenUse<'a> {
    pub dataset: &'a str,
    /// The regime's subset rule as printed.
    pub regime: String,
    pub study_seed: u64,
    pub generator: &'a UsedGenerator,
    pub quality: Quality,
}

impl<'a> GenUse<'a> {
    /// One classifier's use, where its synthetic images' generator is recorded.
    pub fn of(
        dataset: &'a str,
        regime: &crate::data::subset::Subset,
        study_seed: u64,
        generator: Option<&'a UsedGenerator>,
        quality: Quality,
    ) -> Option<GenUse<'a>> {
        Some(GenUse { dataset, regime: regime.to_string(), study_seed, generator: generator?, quality })
    }
}

/// Every (dataset, regime, source, generator seed): the study seeds that
/// used it, its epochs and quality.
struct GenRow {
    dataset: String,
    regime: String,
    source: Source,
    seed: u64,
    study_seeds: BTreeSet<u64>,
    epochs: usize,
    quality: Quality,
}

fn gen_rows(uses: &[GenUse]) -> Vec<GenRow> {
    let mut rows: Vec<GenRow> = Vec::new();
    for u in uses {
        let g = u.generator;
        let same = |r: &&mut GenRow| {
            r.dataset == u.dataset && r.regime == u.regime && r.source == g.source && r.seed == g.seed
        };
        match rows.iter_mut().find(|r| same(r)) {
            Some(r) => {
                r.study_seeds.insert(u.study_seed);
            }
            None => rows.push(GenRow {
                dataset: u.dataset.to_string(),
                regime: u.regime.clone(),
                source: g.source.clone(),
                seed: g.seed,
                study_seeds: BTreeSet::from([u.study_seed]),
                epochs: g.epochs,
                quality: u.quality,
            }),
        }
    }
    rows.sort_by(|a, b| (&a.dataset, &a.source, &a.regime, a.seed).cmp(&(&b.dataset, &b.source, &b.regime, b.seed)));
    rows
}

/// Whether a quality-matched generator's final quality meets its target
/// (`no`: it ran to its epoch cap); empty for a generator at its budget.
fn target_met(r: &GenRow) -> String {
    let Ok(until) = r.source.until.parse::<crate::train::stop::Until>() else { return String::new() };
    match r.quality {
        (Some(f), Some(rec)) if until.reached(f, rec) => "yes".into(),
        (Some(_), Some(_)) => "no (ran to its cap)".into(),
        _ => "–".into(),
    }
}

/// Study seeds as `0, 3`.
fn seeds_text(s: &BTreeSet<u64>) -> String {
    s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// What the generators add to the ±: one sentence from the seeds per cell.
fn spread(rows: &[GenRow]) -> String {
    let per_cell = |r: &GenRow| {
        rows.iter().filter(|x| x.dataset == r.dataset && x.regime == r.regime && x.source == r.source).count()
    };
    let fewest = rows.iter().map(per_cell).min().unwrap_or(0);
    let most = rows.iter().map(per_cell).max().unwrap_or(0);
    if most <= 1 {
        return "one generator per regime and source, so the ± of an arm with synthetic images leaves out the \
                generator's own variance (a second generator seed would widen it)"
            .to_string();
    }
    format!(
        "{} generator seeds per regime and source, each study seed using one of them (the table says which), \
         so the ± of an arm with synthetic images includes the generator's own variance beside the \
         classifier's, the sample's and the mix draw's",
        if fewest == most { fewest.to_string() } else { format!("{fewest}–{most}") }
    )
}

/// The section "Generators and what the ± covers": `seeds_set` says what a
/// study seed sets and what the real arms share; None where no result
/// records its generator (a report rebuilt from an older CSV).
pub fn generators_section(uses: &[GenUse], seeds_set: &str) -> Option<Section> {
    let rows = gen_rows(uses);
    if rows.is_empty() {
        return None;
    }
    let mut s = Section::new("Generators and what the ± covers");
    s.prose(format!(
        "{seeds_set} Generators: {}. Two generator sources (a family, or the same family trained to a quality \
         target instead of its epoch budget) are compared, never pooled.\n\n",
        spread(&rows)
    ));
    let targets = rows.iter().any(|r| !r.source.until.is_empty());
    let mut head = vec!["Dataset", "Regime", "Generator", "G seed", "Study seeds", "Epochs", "FID / recognition"];
    if targets {
        head.push("Quality target met");
    }
    let mut t = Table::new(head, if targets { "lllrlrrl" } else { "lllrlrr" });
    for r in &rows {
        let quality = match r.quality {
            (Some(f), Some(rec)) => Entry::number(format!("{f:.1} / {rec:.3}"), f),
            _ => Entry::text("–"),
        };
        let mut row = vec![
            Entry::text(dataset_title(&r.dataset)),
            Entry::text(format!("`{}`", r.regime)),
            Entry::text(r.source.label()),
            Entry::number(r.seed.to_string(), r.seed as f64),
            Entry::text(seeds_text(&r.study_seeds)),
            Entry::number(r.epochs.to_string(), r.epochs as f64),
            quality,
        ];
        if targets {
            row.push(Entry::text(target_met(r)));
        }
        t.row(row);
    }
    s.table(t);
    Some(s)
}
