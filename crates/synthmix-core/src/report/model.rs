//! The typed study model every study builds on: the axes of a result
//! (dataset, generator, training mix, test set), one observation per
//! classifier and test set, and cells of observations over seeds. It imports
//! only the statistics below it; studies and renderers import it.

use std::collections::BTreeMap;

use super::stats::Summary;
use super::writer::file_part;

/// A generator, as the report names it: its family (`gan`, `diffusion`),
/// architecture (`mlp`, `dcgan`, `unet`), optimiser preset and seed, told
/// apart from any other by the BLAKE3 of its checkpoint. The architecture is
/// in the label and file names, so an MLP cGAN and a DCGAN of the same preset
/// and seed never share either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenId {
    pub family: String,
    pub arch: String,
    /// Empty for a family without presets (diffusion).
    pub preset: String,
    pub seed: u64,
    pub blake3: String,
}

impl GenId {
    /// `mlp default, G seed 0`; `unet, G seed 0` without a preset.
    pub fn label(&self) -> String {
        let parts = [self.arch.as_str(), self.preset.as_str()];
        let name: Vec<&str> = parts.into_iter().filter(|s| !s.is_empty()).collect();
        format!("{}, G seed {}", name.join(" "), self.seed)
    }

    /// The label results.csv files written before generators carried their
    /// architecture used (`default, G seed 0`): what `compare` pairs an old
    /// table's rows by.
    pub fn legacy_label(preset: &str, seed: u64) -> String {
        format!("{preset}, G seed {seed}")
    }

    /// For file names: `mlp-default-g0`.
    pub fn slug(&self) -> String {
        let parts = [self.arch.as_str(), self.preset.as_str()];
        let name: Vec<String> = parts.into_iter().filter(|s| !s.is_empty()).map(file_part).collect();
        format!("{}-g{}", name.join("-"), self.seed)
    }
}

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
    /// The ratio in lowest terms (`2:2` is `1:1`, any `n:0` is O), so that
    /// equal ratios are equal values.
    pub fn new(original: u32, synthetic: u32) -> Mix {
        let (original, synthetic) = Mix { original, synthetic }.norm();
        Mix { original, synthetic }
    }

    /// Parses a label as [`Mix::label`] writes it: `O`, `S` or `O:S`.
    pub fn parse_label(s: &str) -> Option<Mix> {
        match s {
            "O" => Some(Mix::new(1, 0)),
            "S" => Some(Mix::new(0, 1)),
            _ => {
                let (o, r) = s.split_once(':')?;
                Some(Mix::new(o.trim().parse().ok()?, r.trim().parse().ok()?))
            }
        }
    }

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

    pub fn norm(&self) -> (u32, u32) {
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
    /// The paper's order, then by the raw fields: equal only when equal.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.paper_rank()
            .cmp(&other.paper_rank())
            .then(self.norm().cmp(&other.norm()))
            .then((self.original, self.synthetic).cmp(&(other.original, other.synthetic)))
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

    /// The inverse of [`TestKind::key`].
    pub fn from_key(key: &str) -> TestKind {
        match key {
            "original" => TestKind::Original,
            "synthetic" => TestKind::Synthetic,
            c => TestKind::Corrupted(c.to_string()),
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
    /// The generator of the classifier's synthetic training images, else of
    /// the synthetic test set it was scored on with this one (O's rows
    /// belong to the generator whose synthetic test set they were scored on).
    pub generator: Option<GenId>,
    pub mix: Mix,
    pub test: TestKind,
    /// The test set as `evaluate` named it.
    pub test_set: String,
    pub seed: u64,
    pub accuracy: f64,
    pub classifier: String,
    /// The classifier's training set (a DATASET:SPLIT or an image-set path);
    /// empty when imported from a results.csv that did not record it.
    pub train: String,
    /// The earlier report folder this result was imported from (`--prior`).
    pub imported_from: Option<String>,
    /// Accuracy (recall) per class; empty when imported from a results.csv.
    pub per_class: Vec<f64>,
}

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone)]
pub struct Cell {
    pub values: Vec<(u64, f64)>,
    pub mean: f64,
    pub std: f64,
}

impl Cell {
    /// The cell of these (seed, accuracy) values.
    pub fn new(values: Vec<(u64, f64)>) -> Self {
        let v: Vec<f64> = values.iter().map(|v| v.1).collect();
        let s = Summary::of(&v).unwrap_or(Summary { mean: f64::NAN, std: 0.0, n: 0 });
        Cell { values, mean: s.mean, std: s.std }
    }

    /// Mean, sample std and n of the cell's values.
    pub fn summary(&self) -> Summary {
        Summary { mean: self.mean, std: self.std, n: self.values.len() }
    }

    pub fn text(&self) -> String {
        format!("{:.4} ± {:.4} (n={})", self.mean, self.std, self.values.len())
    }
}

/// An optional cell as text (`–` where not measured).
pub fn cell_text(c: Option<Cell>) -> String {
    c.map(|c| c.text()).unwrap_or_else(|| "–".into())
}

/// Results grouped by (dataset, generator, mix, test).
pub type Cells = BTreeMap<(String, Option<GenId>, Mix, TestKind), Cell>;

/// The paper's test sets: original, synthetic and MNIST-C shot noise (its
/// Tables 2 and 3); the other corruptions have their own table.
pub fn is_paper_test(t: &TestKind) -> bool {
    match t {
        TestKind::Corrupted(c) => c == "shot_noise",
        _ => true,
    }
}

/// The cells on the paper's test sets only.
pub fn paper_cells(cells: &Cells) -> Cells {
    cells.iter().filter(|(k, _)| is_paper_test(&k.3)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Mean ± std over seeds per (dataset, generator, mix, test).
pub fn aggregate(obs: &[Observation]) -> Cells {
    let mut m: BTreeMap<(String, Option<GenId>, Mix, TestKind), Vec<(u64, f64)>> = BTreeMap::new();
    for o in obs {
        m.entry((o.dataset.clone(), o.generator.clone(), o.mix, o.test.clone()))
            .or_default()
            .push((o.seed, o.accuracy));
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            (k, Cell::new(v))
        })
        .collect()
}

pub fn dataset_title(d: &str) -> String {
    match d {
        "mnist" => "MNIST".into(),
        "fashion-mnist" => "Fashion-MNIST".into(),
        "cifar-10" => "CIFAR-10".into(),
        // Named so wherever it stands beside the paper's official-CIFAR-10 figures.
        "cifar-10-jpeg" => "CIFAR-10 (JPEG q75 copy)".into(),
        other => other.into(),
    }
}

/// The paper's order of datasets (the JPEG copy beside CIFAR-10); others after them.
pub fn dataset_rank(d: &str) -> usize {
    ["mnist", "fashion-mnist", "cifar-10", "cifar-10-jpeg"].iter().position(|x| *x == d).unwrap_or(9)
}

/// The dataset whose values the paper reports for `d`: CIFAR-10's for its JPEG copy.
pub fn paper_dataset(d: &str) -> &str {
    match d {
        "cifar-10-jpeg" => "cifar-10",
        other => other,
    }
}

/// Datasets in the paper's order, then any others.
pub fn datasets_of(cells: &Cells) -> Vec<String> {
    let mut ds: Vec<String> = cells.keys().map(|k| k.0.clone()).collect();
    ds.sort_by_key(|d| (dataset_rank(d), d.clone()));
    ds.dedup();
    ds
}

/// The generators with results for dataset `d`, in order (none first).
pub fn generators_of(cells: &Cells, d: &str) -> Vec<Option<GenId>> {
    let mut gs: Vec<Option<GenId>> = cells.keys().filter(|k| k.0 == d).map(|k| k.1.clone()).collect();
    gs.sort();
    gs.dedup();
    gs
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
        assert_eq!(Mix::new(2, 2), m(1, 1), "new gives lowest terms");
        assert_ne!(m(2, 2).cmp(&m(1, 1)), std::cmp::Ordering::Equal, "ordering agrees with equality");
        assert_eq!(Mix::parse_label("10:1"), Some(m(10, 1)));
        assert_eq!(Mix::parse_label("O"), Some(m(1, 0)));
        assert_eq!(Mix::parse_label("x"), None);
    }

    #[test]
    fn generators_of_other_architectures_never_share_a_label_or_file_name() {
        let g = |family: &str, arch: &str, preset: &str| GenId {
            family: family.into(),
            arch: arch.into(),
            preset: preset.into(),
            seed: 0,
            blake3: arch.into(),
        };
        let (mlp, dcgan, unet) = (g("gan", "mlp", "default"), g("gan", "dcgan", "default"), g("diffusion", "unet", ""));
        assert_eq!(mlp.label(), "mlp default, G seed 0");
        assert_eq!(mlp.slug(), "mlp-default-g0");
        assert_ne!(mlp.label(), dcgan.label());
        assert_ne!(mlp.slug(), dcgan.slug());
        assert_eq!((unet.label(), unet.slug()), ("unet, G seed 0".to_string(), "unet-g0".to_string()));
        assert_eq!(GenId::legacy_label("default", 0), "default, G seed 0");
    }

    #[test]
    fn cells_are_mean_and_sample_std() {
        let c = Cell::new(vec![(0, 0.9), (1, 0.8), (2, 0.7)]);
        assert!((c.mean - 0.8).abs() < 1e-12);
        assert!((c.std - 0.1).abs() < 1e-12);
        assert_eq!(Cell::new(vec![(0, 0.5)]).std, 0.0);
        assert_eq!(c.text(), "0.8000 ± 0.1000 (n=3)");
    }
}

/// One METRICS.json that `evaluate` wrote (the studies that read nothing
/// else share this; strategies also takes FID reports and reads its own).
pub fn read_metrics(path: &std::path::Path) -> crate::error::Result<crate::metrics::evaluate::EvalReport> {
    use crate::error::IoContext;
    let bytes = std::fs::read(path).at(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| crate::error::Error::format(path, format!("not evaluate's METRICS.json: {e}")))
}
