//! The study's report: reads `evaluate`'s METRICS.json files, labels every
//! result by dataset, training mix, test set and seed (from the checkpoint's
//! and the training set's own metadata, so no naming convention is assumed),
//! and writes the paper's tables and figures with a `report.md` linking them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::{mix::Ratio, DataOptions, DatasetName};
use crate::error::{Error, IoContext, Result};
use crate::metrics::evaluate::EvalReport;

/// The training data of a classifier: its O:S ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mix {
    pub original: u32,
    pub synthetic: u32,
}

/// The paper's order of training mixes; others follow by decreasing real share.
const PAPER_ORDER: [(u32, u32); 11] =
    [(1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1)];

impl Mix {
    pub fn label(&self) -> String {
        match (self.original, self.synthetic) {
            (_, 0) => "O".into(),
            (0, _) => "S".into(),
            (o, s) => format!("{o}:{s}"),
        }
    }

    /// Share of real images.
    pub fn real_share(&self) -> f64 {
        self.original as f64 / (self.original + self.synthetic) as f64
    }

    fn norm(&self) -> (u32, u32) {
        match (self.original, self.synthetic) {
            (_, 0) => (1, 0),
            (0, _) => (0, 1),
            (o, s) => {
                let g = gcd(o, s);
                (o / g, s / g)
            }
        }
    }

    pub fn paper_rank(&self) -> (usize, i64) {
        let n = self.norm();
        match PAPER_ORDER.iter().position(|&p| p == n) {
            Some(i) => (i, 0),
            None => (PAPER_ORDER.len(), -(self.real_share() * 1e6) as i64),
        }
    }
}

impl PartialOrd for Mix {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Mix {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.paper_rank().cmp(&other.paper_rank()).then(self.norm().cmp(&other.norm()))
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// What a classifier was tested on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TestKind {
    Original,
    Synthetic,
    /// An MNIST-C corruption, e.g. `shot_noise`.
    Corrupted(String),
}

impl TestKind {
    /// Key in the paper-values file and the CSV.
    pub fn key(&self) -> String {
        match self {
            TestKind::Original => "original".into(),
            TestKind::Synthetic => "synthetic".into(),
            TestKind::Corrupted(c) => c.clone(),
        }
    }

    pub fn title(&self) -> String {
        match self {
            TestKind::Original => "original test".into(),
            TestKind::Synthetic => "synthetic test".into(),
            TestKind::Corrupted(c) => format!("MNIST-C {}", c.replace('_', " ")),
        }
    }
}

/// One classifier scored on one test set.
#[derive(Debug, Clone)]
pub struct Observation {
    pub dataset: String,
    pub mix: Mix,
    pub test: TestKind,
    /// The test set as `evaluate` named it.
    pub test_set: String,
    pub seed: u64,
    pub accuracy: f64,
    pub classifier: String,
}

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone)]
pub struct Cell {
    pub values: Vec<(u64, f64)>,
    pub mean: f64,
    pub std: f64,
}

impl Cell {
    fn new(values: Vec<(u64, f64)>) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().map(|v| v.1).sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v.1 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Cell { values, mean, std }
    }

    pub fn text(&self) -> String {
        format!("{:.4} ± {:.4} (n={})", self.mean, self.std, self.values.len())
    }
}

/// Results grouped by (dataset, mix, test).
pub type Cells = BTreeMap<(String, Mix, TestKind), Cell>;

/// Reads only the safetensors header's `__metadata__` (no tensor data).
pub fn header_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let mut f = std::fs::File::open(path).at(path)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| Error::format(path, "too short for a safetensors file"))?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        return Err(Error::format(path, format!("safetensors header of {n} bytes is implausible")));
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf).map_err(|_| Error::format(path, "safetensors header is truncated"))?;
    let v: serde_json::Value = serde_json::from_slice(&buf)
        .map_err(|e| Error::format(path, format!("safetensors header is not JSON: {e}")))?;
    Ok(v.get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default())
}

fn ratio_of(meta: &BTreeMap<String, String>, path: &Path) -> Result<Mix> {
    let source = meta.get("source").map(String::as_str).unwrap_or("");
    Ok(match source {
        "real" | "corrupted" => Mix { original: 1, synthetic: 0 },
        "synthetic" => Mix { original: 0, synthetic: 1 },
        "mix" => {
            let r: Ratio = meta
                .get("ratio")
                .ok_or_else(|| Error::format(path, "a mix without a 'ratio' in its metadata"))?
                .parse()?;
            Mix { original: r.original, synthetic: r.synthetic }
        }
        other => return Err(Error::format(path, format!("image set of unknown source '{other}'"))),
    })
}

/// Labels every result of every METRICS.json.
pub fn gather(metrics: &[PathBuf]) -> Result<Vec<Observation>> {
    let mut meta_cache: HashMap<PathBuf, BTreeMap<String, String>> = HashMap::new();
    let mut meta = |p: &Path| -> Result<BTreeMap<String, String>> {
        if let Some(m) = meta_cache.get(p) {
            return Ok(m.clone());
        }
        let m = header_metadata(p)?;
        meta_cache.insert(p.to_path_buf(), m.clone());
        Ok(m)
    };
    let mut out = Vec::new();
    for mpath in metrics {
        let bytes = std::fs::read(mpath).at(mpath)?;
        let rep: EvalReport = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(mpath, format!("not evaluate's METRICS.json: {e}")))?;
        for r in &rep.results {
            let cpath = PathBuf::from(&r.classifier);
            let cm = meta(&cpath)
                .map_err(|e| Error::Invalid(format!("{}: classifier {}: {e}", mpath.display(), r.classifier)))?;
            let dataset = cm.get("dataset").cloned().unwrap_or_else(|| "unknown".into());
            let seed: u64 = cm.get("seed").and_then(|s| s.parse().ok()).unwrap_or(0);
            let train = cm.get("train").ok_or_else(|| {
                Error::format(&cpath, "checkpoint metadata has no 'train' (not written by clf-train?)")
            })?;
            let mix = if DatasetName::parse(train).is_ok() {
                Mix { original: 1, synthetic: 0 }
            } else {
                let tp = PathBuf::from(train);
                ratio_of(
                    &meta(&tp).map_err(|e| Error::Invalid(format!("training set of {}: {e}", r.classifier)))?,
                    &tp,
                )?
            };
            let test = match r.test_source.as_str() {
                "real" => TestKind::Original,
                "synthetic" => TestKind::Synthetic,
                "corrupted" => {
                    let c =
                        r.test.split(':').next().unwrap_or("").rsplit('/').next().unwrap_or("corrupted").to_string();
                    TestKind::Corrupted(c)
                }
                "mix" => {
                    // A subset of one source built by mix-build (1:0 or 0:1).
                    let tp = PathBuf::from(&r.test);
                    let m = meta(&tp)?;
                    let corrupted = m.get("dataset").and_then(|d| d.strip_prefix("mnist-c/")).map(str::to_string);
                    match (ratio_of(&m, &tp)?.norm(), corrupted) {
                        ((1, 0), Some(c)) => TestKind::Corrupted(c),
                        ((1, 0), None) => TestKind::Original,
                        ((0, 1), _) => TestKind::Synthetic,
                        _ => return Err(Error::format(&tp, "a test set mixing real and synthetic images")),
                    }
                }
                other => return Err(Error::format(mpath, format!("result with unknown test_source '{other}'"))),
            };
            out.push(Observation {
                dataset,
                mix,
                test,
                test_set: r.test.clone(),
                seed,
                accuracy: r.accuracy,
                classifier: r.classifier.clone(),
            });
        }
    }
    Ok(out)
}

/// Mean ± std over seeds per (dataset, mix, test).
pub fn aggregate(obs: &[Observation]) -> Cells {
    let mut m: BTreeMap<(String, Mix, TestKind), Vec<(u64, f64)>> = BTreeMap::new();
    for o in obs {
        m.entry((o.dataset.clone(), o.mix, o.test.clone())).or_default().push((o.seed, o.accuracy));
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            (k, Cell::new(v))
        })
        .collect()
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
        self.values.get(&(dataset.to_string(), mix.label(), test.key())).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct ReportParams {
    pub metrics: Vec<PathBuf>,
    pub paper: Option<PathBuf>,
    /// `report.md`; everything else is written beside it.
    pub out: PathBuf,
    pub title: Option<String>,
}

pub fn dataset_title(d: &str) -> String {
    match d {
        "mnist" => "MNIST".into(),
        "fashion-mnist" => "Fashion-MNIST".into(),
        "cifar-10" => "CIFAR-10".into(),
        other => other.into(),
    }
}

/// Datasets in the paper's order, then any others.
pub fn datasets_of(cells: &Cells) -> Vec<String> {
    let mut ds: Vec<String> = Vec::new();
    for (d, _, _) in cells.keys() {
        if !ds.contains(d) {
            ds.push(d.clone());
        }
    }
    let rank = |d: &str| ["mnist", "fashion-mnist", "cifar-10"].iter().position(|x| *x == d).unwrap_or(9);
    ds.sort_by_key(|d| (rank(d), d.clone()));
    ds
}

/// Writes report.md, the tables (Markdown + CSV) and the figures; returns the files written.
pub fn run(params: &ReportParams, opts: &DataOptions) -> Result<Vec<PathBuf>> {
    let obs = gather(&params.metrics)?;
    if obs.is_empty() {
        return Err(Error::Invalid("the METRICS.json files hold no results".into()));
    }
    let cells = aggregate(&obs);
    let paper = match &params.paper {
        Some(p) => PaperValues::read(p)?,
        None => PaperValues::default(),
    };
    let dir = match params.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).at(&dir)?;
    let mut written = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let p = dir.join(name);
        crate::artifact::write_atomic(&p, bytes)?;
        written.push(p.clone());
        Ok(p)
    };

    let t2 = super::tables::table2(&cells, &paper);
    let t3 = super::tables::table3(&cells, &paper);
    write("table2.md", t2.markdown().as_bytes())?;
    write("table2.csv", t2.csv().as_bytes())?;
    write("table3.md", t3.markdown().as_bytes())?;
    write("table3.csv", t3.csv().as_bytes())?;
    write("results.csv", super::tables::observations_csv(&obs).as_bytes())?;

    // Figure 1: real beside synthetic, per dataset (the synthetic test set that was evaluated).
    let mut fig1: Vec<(String, String)> = Vec::new();
    let mut fig1_notes: Vec<String> = Vec::new();
    for d in datasets_of(&cells) {
        let Some(synth) =
            obs.iter().find(|o| o.dataset == d && o.test == TestKind::Synthetic).map(|o| o.test_set.clone())
        else {
            continue;
        };
        let name = format!("figure1-{d}.png");
        match super::figures::real_vs_synthetic(&d, &synth, opts) {
            Ok(png) => {
                write(&name, &png)?;
                fig1.push((d.clone(), name));
            }
            Err(e) => fig1_notes.push(format!("{}: no Figure 1 ({e})", dataset_title(&d))),
        }
    }
    let fig2 = super::figures::bars(&cells)?;
    if let Some(png) = &fig2 {
        write("figure2.png", png)?;
    }
    let ratio = super::figures::ratio_curves(&cells)?;
    if let Some(png) = &ratio {
        write("accuracy-vs-ratio.png", png)?;
    }

    let mut md = String::new();
    let title = params.title.clone().unwrap_or_else(|| "synthmix report".into());
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(
        md,
        "Test accuracy of classifiers trained on mixes of original (O) and GAN-synthetic (S) images, \
         mean ± sample standard deviation over classifier seeds (n = number of seeds). \
         {} results from {} METRICS.json files.\n",
        obs.len(),
        params.metrics.len()
    );
    let _ = writeln!(
        md,
        "Table and figure layouts follow the study's description (Table 2: every dataset's mixes on original and \
         synthetic test data; Table 3: MNIST over all ratios with MNIST-C shot noise); cells without a result say \
         \"not run\", paper cells without a known value \"n/a\".\n"
    );
    if paper.is_empty() {
        let _ = writeln!(md, "No paper values were given (`--paper`), so the paper columns are empty.\n");
    } else {
        let _ = writeln!(md, "Paper values: {}. {}\n", paper.source, paper.note);
    }
    let _ = writeln!(md, "## Table 2: test accuracy per training mix (original and synthetic test sets)\n");
    let _ = writeln!(md, "{}\n[CSV](table2.csv)\n", t2.markdown());
    let _ = writeln!(md, "## Table 3: MNIST, accuracy against the O:S ratio, with MNIST-C shot noise\n");
    let _ = writeln!(md, "{}\n[CSV](table3.csv)\n", t3.markdown());
    let _ = writeln!(md, "## Figure 1: real (left) beside synthetic (right) samples\n");
    for (d, f) in &fig1 {
        let _ = writeln!(md, "**{}**\n\n![Figure 1, {}]({f})\n", dataset_title(d), dataset_title(d));
    }
    for n in &fig1_notes {
        let _ = writeln!(md, "- {n}");
    }
    if fig2.is_some() {
        let _ =
            writeln!(md, "## Figure 2: test accuracy for every train–test combination\n\n![Figure 2](figure2.png)\n");
    }
    if ratio.is_some() {
        let _ = writeln!(
            md,
            "## Accuracy against the O:S ratio, per test set\n\n![accuracy vs ratio](accuracy-vs-ratio.png)\n"
        );
    }
    let _ = writeln!(md, "All results, one row per classifier and test set: [results.csv](results.csv).");
    write(params.out.file_name().and_then(|n| n.to_str()).unwrap_or("report.md"), md.as_bytes())?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_order_and_label_like_the_paper() {
        let m = |o, s| Mix { original: o, synthetic: s };
        let mut v = [m(10, 1), m(1, 2), m(0, 1), m(5, 1), m(1, 0), m(2, 2), m(3, 1), m(2, 1)];
        v.sort();
        let labels: Vec<String> = v.iter().map(Mix::label).collect();
        assert_eq!(labels, ["O", "S", "2:2", "2:1", "1:2", "5:1", "10:1", "3:1"]);
        assert_eq!(m(2, 2).paper_rank().0, 2, "2:2 is the paper's 1:1");
    }

    #[test]
    fn cells_are_mean_and_sample_std() {
        let c = Cell::new(vec![(0, 0.9), (1, 0.8), (2, 0.7)]);
        assert!((c.mean - 0.8).abs() < 1e-12);
        assert!((c.std - 0.1).abs() < 1e-12);
        assert_eq!(Cell::new(vec![(0, 0.5)]).std, 0.0);
        assert_eq!(c.text(), "0.8000 ± 0.1000 (n=3)");
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
