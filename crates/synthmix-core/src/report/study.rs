//! The study's report: reads `evaluate`'s METRICS.json files, labels every
//! result by dataset, training mix, test set and seed (from the checkpoint's
//! and the training set's own metadata, so no naming convention is assumed),
//! and writes the paper's tables and figures with a `report.md` linking them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::document::{Block, Document, Section};
use super::generators::{self, GeneratorInfo};
use super::kind::StudyKind;
use super::model::{aggregate, dataset_rank, paper_dataset, Cells, GenId, Mix, Observation, TestKind};
use crate::artifact::meta::{self, CheckpointMeta, SetMeta};
use crate::data::DatasetName;
use crate::error::{Error, IoContext, Result};

/// The O:S mix of a training or test set.
fn mix_of(meta: &SetMeta, path: &Path) -> Result<Mix> {
    let r = meta.ratio().ok_or_else(|| Error::format(path, "a fill mix has no O:S ratio"))?;
    Ok(Mix::new(r.original, r.synthetic))
}

/// Artifacts' header metadata, typed, each file read once.
#[derive(Default)]
pub struct MetaCache {
    sets: HashMap<PathBuf, SetMeta>,
    checkpoints: HashMap<PathBuf, CheckpointMeta>,
}

impl MetaCache {
    pub fn set(&mut self, p: &Path) -> Result<SetMeta> {
        if let Some(m) = self.sets.get(p) {
            return Ok(m.clone());
        }
        let m = meta::read_set_header(p)?;
        self.sets.insert(p.to_path_buf(), m.clone());
        Ok(m)
    }

    pub fn checkpoint(&mut self, p: &Path) -> Result<CheckpointMeta> {
        if let Some(m) = self.checkpoints.get(p) {
            return Ok(m.clone());
        }
        let m = meta::read_checkpoint_header(p)?;
        self.checkpoints.insert(p.to_path_buf(), m.clone());
        Ok(m)
    }
}

/// Reads and remembers artifacts' metadata and the generators they name.
#[derive(Default)]
struct Labeller {
    meta: MetaCache,
    generators: BTreeMap<GenId, GeneratorInfo>,
}

/// How a classifier was trained, from its checkpoint and its training set.
struct Trained {
    dataset: String,
    train: String,
    seed: u64,
    mix: Mix,
    generator: Option<GenId>,
}

impl Labeller {
    fn meta(&mut self, p: &Path) -> Result<SetMeta> {
        self.meta.set(p)
    }

    /// The generator a set's metadata names, remembered for the report.
    fn generator(&mut self, set_meta: &SetMeta) -> Result<Option<GenId>> {
        let Some(s) = &set_meta.sampled else { return Ok(None) };
        if let Some(id) = self.generators.keys().find(|k| k.blake3 == s.generator_blake3) {
            return Ok(Some(id.clone()));
        }
        let g = generators::read(&s.generator, &s.generator_blake3)?;
        let id = g.id.clone();
        self.generators.insert(id.clone(), g);
        Ok(Some(id))
    }

    fn trained(&mut self, classifier: &str) -> Result<Trained> {
        let cpath = PathBuf::from(classifier);
        let cm = self.meta.checkpoint(&cpath).map_err(|e| Error::Invalid(format!("classifier {classifier}: {e}")))?;
        let rec = cm.classifier().ok_or_else(|| Error::format(&cpath, "is not a classifier trained by clf-train"))?;
        let (dataset, train, seed) = (cm.dataset.clone(), rec.train.clone(), rec.seed);
        if DatasetName::parse(&train).is_ok() {
            return Ok(Trained { dataset, train, seed, mix: Mix::new(1, 0), generator: None });
        }
        let tp = PathBuf::from(&train);
        let tm = self.meta(&tp).map_err(|e| Error::Invalid(format!("training set of {classifier}: {e}")))?;
        let mix = mix_of(&tm, &tp)?;
        let generator = if mix.synthetic > 0 { self.generator(&tm)? } else { None };
        Ok(Trained { dataset, train, seed, mix, generator })
    }

    /// The corruption of an MNIST-C test set: from its name
    /// (`mnist-c/fog:test`), else from the file's typed metadata (an exported
    /// set records the corruption it was computed with, an official one its
    /// dataset name).
    fn corruption_of(&mut self, test: &str) -> Result<String> {
        if let Ok(DatasetName { dataset: crate::data::Dataset::MnistC(c), .. }) = DatasetName::parse(test) {
            return Ok(c);
        }
        let p = PathBuf::from(test);
        let m = self.meta(&p)?;
        match (&m.corruption, m.dataset.strip_prefix("mnist-c/")) {
            (Some(c), _) => Ok(c.corruption.clone()),
            (None, Some(c)) => Ok(c.to_string()),
            (None, None) => Err(Error::format(&p, "scored as corrupted but names no MNIST-C corruption")),
        }
    }

    /// What a test set is, and the generator of a synthetic one.
    fn test(&mut self, mpath: &Path, test: &str, source: &str) -> Result<(TestKind, Option<GenId>)> {
        Ok(match source {
            "real" => (TestKind::Original, None),
            "synthetic" => {
                let m = self.meta(Path::new(test))?;
                (TestKind::Synthetic, self.generator(&m)?)
            }
            "corrupted" => (TestKind::Corrupted(self.corruption_of(test)?), None),
            "mix" => {
                // A subset of one source built by mix-build (1:0 or 0:1).
                let tp = PathBuf::from(test);
                let m = self.meta(&tp)?;
                let corrupted = m.dataset.strip_prefix("mnist-c/").map(str::to_string);
                match (mix_of(&m, &tp)?.norm(), corrupted) {
                    ((1, 0), Some(c)) => (TestKind::Corrupted(c), None),
                    ((1, 0), None) => (TestKind::Original, None),
                    ((0, 1), _) => (TestKind::Synthetic, self.generator(&m)?),
                    _ => return Err(Error::format(&tp, "a test set mixing real and synthetic images")),
                }
            }
            other => return Err(Error::format(mpath, format!("result with unknown test_source '{other}'"))),
        })
    }
}

/// Every result of every METRICS.json, labelled, and the generators behind them.
pub fn gather(metrics: &[PathBuf]) -> Result<(Vec<Observation>, BTreeMap<GenId, GeneratorInfo>)> {
    let mut lab = Labeller::default();
    let mut out = Vec::new();
    for mpath in metrics {
        let rep = super::model::read_metrics(mpath)?;
        let mut file_obs = Vec::new();
        let mut test_generator = None;
        for r in &rep.results {
            let t = lab.trained(&r.classifier)?;
            let (test, tg) = lab.test(mpath, &r.test, &r.test_source)?;
            test_generator = test_generator.or(tg);
            file_obs.push(Observation {
                dataset: t.dataset,
                generator: t.generator,
                mix: t.mix,
                test,
                test_set: r.test.clone(),
                seed: t.seed,
                accuracy: r.accuracy,
                classifier: r.classifier.clone(),
                train: t.train,
                imported_from: None,
                per_class: r.per_class_accuracy.clone(),
            });
        }
        for mut o in file_obs {
            o.generator = o.generator.or_else(|| test_generator.clone());
            out.push(o);
        }
    }
    Ok((out, lab.generators))
}

/// The paper's reported accuracies: `[values.DATASET."MIX"] TEST = accuracy`.
#[derive(Debug, Clone, Default)]
pub struct PaperValues {
    pub source: String,
    pub note: String,
    values: BTreeMap<(String, String, String), f64>,
}

impl PaperValues {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let v: toml::Table = toml::from_str(&text).map_err(|e| Error::format(path, e.message().to_string()))?;
        let mut pv = PaperValues {
            source: v.get("source").and_then(|s| s.as_str()).unwrap_or("").to_string(),
            note: v.get("note").and_then(|s| s.as_str()).unwrap_or("").to_string(),
            values: BTreeMap::new(),
        };
        if let Some(vals) = v.get("values").and_then(|x| x.as_table()) {
            for (ds, mixes) in vals {
                for (mix, tests) in mixes.as_table().into_iter().flatten() {
                    for (test, acc) in tests.as_table().into_iter().flatten() {
                        let a = acc.as_float().or_else(|| acc.as_integer().map(|i| i as f64)).ok_or_else(|| {
                            Error::format(path, format!("values.{ds}.\"{mix}\".{test} must be a number"))
                        })?;
                        pv.values.insert((ds.clone(), mix.clone(), test.clone()), a);
                    }
                }
            }
        }
        Ok(pv)
    }

    pub fn get(&self, dataset: &str, mix: &Mix, test: &TestKind) -> Option<f64> {
        self.values.get(&(paper_dataset(dataset).to_string(), mix.label(), test.key())).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The mixes of `dataset` with a value on any of `tests`.
    pub fn mixes(&self, dataset: &str, tests: &[TestKind]) -> Vec<Mix> {
        let keys: Vec<String> = tests.iter().map(TestKind::key).collect();
        let mut v: Vec<Mix> = self
            .values
            .keys()
            .filter(|(d, _, t)| d == paper_dataset(dataset) && keys.contains(t))
            .filter_map(|(_, m, _)| Mix::parse_label(m))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every cell: ((dataset, mix label, test key), accuracy).
    pub fn cells(&self) -> impl Iterator<Item = (&(String, String, String), &f64)> {
        self.values.iter()
    }
}

#[derive(Debug, Clone)]
pub struct ReportParams {
    pub metrics: Vec<PathBuf>,
    pub paper: Option<PathBuf>,
    /// `report.md`; everything else is written beside it.
    pub out: PathBuf,
    pub title: Option<String>,
    /// Datasets whose rows appear even without results ("not run").
    pub expect_datasets: Vec<String>,
    /// Paragraphs for the top of the report (e.g. that a study is reduced).
    pub notes: Vec<String>,
    /// An earlier report folder of the same study whose results are merged
    /// in (see [`super::prior`]).
    pub prior: Option<PathBuf>,
}

impl ReportParams {
    /// `--title`, or the study's own.
    pub fn title_or(&self, kind: StudyKind) -> String {
        self.title.clone().unwrap_or_else(|| kind.default_title().to_string())
    }

    /// The report's title as written: `--title`, else a folder's it is
    /// rebuilt from (`--prior` alone, whose opening it carries), else the
    /// study's own.
    pub fn title_for(&self, kind: StudyKind) -> Result<String> {
        match (&self.title, &self.prior, self.metrics.is_empty()) {
            (None, Some(dir), true) => Ok(super::prior::PriorText::read(dir)?.title()),
            _ => Ok(self.title_or(kind)),
        }
    }
}

/// The context (settings, commits, wall times) of `params.metrics`, and
/// the datasets to report: those `found` plus `--expect-datasets`, in the
/// paper's order.
pub fn context_and_datasets(
    params: &ReportParams,
    found: impl Iterator<Item = String>,
) -> (super::context::Context, Vec<String>) {
    let mut ctx = super::context::Context::default();
    for m in &params.metrics {
        ctx.add(m);
    }
    let mut datasets: Vec<String> = found.collect();
    datasets.extend(params.expect_datasets.iter().cloned());
    datasets.sort_by_key(|d| (dataset_rank(d), d.clone()));
    datasets.dedup();
    (ctx, datasets)
}

/// The opening every typed study's report shares: the report folder's
/// writer, the runs' context, the datasets to report (see
/// [`context_and_datasets`]) and the document with its title and notes — a
/// rebuilt report's `prior`'s own, verbatim, unless `--title` or `--note`
/// is given.
pub fn open_report(
    params: &ReportParams,
    kind: StudyKind,
    found: impl Iterator<Item = String>,
    prior: Option<&super::prior::PriorText>,
) -> Result<(super::writer::Writer, super::context::Context, Vec<String>, Document)> {
    let w = super::writer::Writer::create(&params.out)?;
    let (ctx, datasets) = context_and_datasets(params, found);
    let doc = match prior {
        Some(p) if params.title.is_none() && params.notes.is_empty() => p.document(),
        _ => Document::titled(&params.title_or(kind), &params.notes),
    };
    Ok((w, ctx, datasets, doc))
}

/// The closing section every typed study's report shares: settings and
/// provenance, with `results.csv` (one row per classifier) written and
/// linked. A report rebuilt from a `prior` folder alone quotes that folder's
/// provenance (the runs' commits, machine and wall times); with
/// METRICS.json files too, the prior's follows this run's.
pub fn close_report(
    ctx: &super::context::Context,
    w: &mut super::writer::Writer,
    results_csv: &str,
    prior: Option<&super::prior::PriorText>,
) -> Result<Section> {
    let mut s = Section::new("Settings, provenance and cost");
    match prior {
        Some(p) if ctx.runs().next().is_none() => s.blocks.push(Block::Quoted(p.provenance_markdown())),
        Some(p) => {
            s.blocks.extend(super::context::context_blocks(ctx, ""));
            s.prose(format!("### Results imported from {}\n\n", p.dir.display()));
            s.blocks.push(Block::Quoted(p.provenance_markdown()));
        }
        None => s.blocks.extend(super::context::context_blocks(ctx, "")),
    }
    w.write("results.csv", results_csv.as_bytes())?;
    s.prose("All results, one row per classifier: [results.csv](results.csv).\n");
    Ok(s)
}

/// Everything the report is made of, read from the artifacts.
#[derive(Default)]
pub struct Study {
    pub obs: Vec<Observation>,
    pub cells: Cells,
    pub generators: BTreeMap<GenId, GeneratorInfo>,
    pub paper: PaperValues,
    pub context: super::context::Context,
    /// What merging `--prior` did, if it was given.
    pub prior: Option<super::prior::Merged>,
    /// The prior folder's prose, when the report is rebuilt from it alone:
    /// its title, notes and provenance, and the sections that need the
    /// artifacts (generators, Figure 1, accuracy per class), quoted.
    pub quote: Option<super::prior::PriorText>,
    /// The prior folder's prose when new METRICS.json files are merged with
    /// it and some of its generators are behind none of them: the sections
    /// that need those generators' artifacts quote it before their own.
    pub imported_quote: Option<super::prior::PriorText>,
}

impl Study {
    /// Reads every METRICS.json, the artifacts they name and their provenance.
    pub fn read(params: &ReportParams) -> Result<Study> {
        let (mut obs, mut generators) = gather(&params.metrics)?;
        let alone = params.metrics.is_empty();
        let prior = match &params.prior {
            Some(dir) => Some(super::prior::Prior::read(dir)?.merge_into(&mut obs, &mut generators, alone)?),
            None => None,
        };
        // Rebuilt from the prior folder alone: its prose, for what no CSV holds.
        let text = |dir: &PathBuf| super::prior::PriorText::read(dir).map(Some);
        let (quote, imported_quote) = match (&params.prior, &prior) {
            (Some(dir), _) if alone => (text(dir)?, None),
            (Some(dir), _) if generators.values().any(|g| g.from_results_csv) => (None, text(dir)?),
            _ => (None, None),
        };
        if obs.is_empty() {
            return Err(Error::Invalid("the METRICS.json files hold no results".into()));
        }
        let paper = match &params.paper {
            Some(p) => PaperValues::read(p)?,
            None => PaperValues::default(),
        };
        let mut context = super::context::Context::default();
        for m in &params.metrics {
            context.add(m);
        }
        for g in generators.values().filter(|g| !g.from_results_csv) {
            context.add(&g.path);
        }
        Ok(Study { cells: aggregate(&obs), obs, generators, paper, context, prior, quote, imported_quote })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{dataset_rank, dataset_title, Mix, TestKind};

    #[test]
    fn the_jpeg_copy_is_named_and_takes_cifar_10s_paper_values() {
        assert_eq!(dataset_title("cifar-10-jpeg"), "CIFAR-10 (JPEG q75 copy)");
        assert!(dataset_rank("cifar-10") < dataset_rank("cifar-10-jpeg") && dataset_rank("cifar-10-jpeg") < 9);
        let mut pv = PaperValues { source: String::new(), note: String::new(), values: BTreeMap::new() };
        pv.values.insert(("cifar-10".into(), "O".into(), TestKind::Original.key()), 0.6771);
        let o = Mix { original: 1, synthetic: 0 };
        assert_eq!(pv.get("cifar-10-jpeg", &o, &TestKind::Original), Some(0.6771));
        assert_eq!(pv.get("mnist", &o, &TestKind::Original), None);
        // The mixes a not-run dataset's rows list, too (Table 2's CIFAR-10 rows).
        assert_eq!(pv.mixes("cifar-10-jpeg", &[TestKind::Original]), vec![o]);
    }

    #[test]
    fn paper_values_are_read_by_dataset_mix_and_test() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.toml");
        std::fs::write(
            &p,
            "source = \"x\"\n[values.mnist.O]\noriginal = 0.9484\n[values.mnist.\"5:1\"]\nshot_noise = 0.91\n",
        )
        .unwrap();
        let v = PaperValues::read(&p).unwrap();
        let m = |o, s| Mix { original: o, synthetic: s };
        assert_eq!(v.get("mnist", &m(1, 0), &TestKind::Original), Some(0.9484));
        assert_eq!(v.get("mnist", &m(5, 1), &TestKind::Corrupted("shot_noise".into())), Some(0.91));
        assert_eq!(v.get("mnist", &m(5, 1), &TestKind::Original), None);
    }
}
