//! The paper's Table 2 (accuracy per training mix on the original and the
//! synthetic test set, per dataset) and Table 3 (MNIST: accuracy against the
//! O:S ratio, with MNIST-C shot noise), as Markdown and CSV, ours beside the
//! paper's.

use std::fmt::Write as _;

use super::study::{dataset_title, datasets_of, Cells, Mix, Observation, PaperValues, TestKind};

/// One cell: mean, std, n and the per-seed values as text.
type Stat = (f64, f64, usize, String);

/// Rows of (dataset, mix) × columns of test sets.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub rows: Vec<(String, Mix)>,
    pub tests: Vec<TestKind>,
    cells: Vec<Vec<Option<Stat>>>,
    paper: Vec<Vec<Option<f64>>>,
}

fn paper_text(v: Option<f64>) -> String {
    v.map(|a| format!("{a:.4}")).unwrap_or_else(|| "n/a".into())
}

impl Table {
    fn build(name: &str, cells: &Cells, paper: &PaperValues, rows: Vec<(String, Mix)>, tests: Vec<TestKind>) -> Table {
        let mut c = Vec::new();
        let mut pv = Vec::new();
        for (d, m) in &rows {
            c.push(
                tests
                    .iter()
                    .map(|t| {
                        cells.get(&(d.clone(), *m, t.clone())).map(|cell| {
                            let seeds =
                                cell.values.iter().map(|v| format!("{}:{:.4}", v.0, v.1)).collect::<Vec<_>>().join(" ");
                            (cell.mean, cell.std, cell.values.len(), seeds)
                        })
                    })
                    .collect(),
            );
            pv.push(tests.iter().map(|t| paper.get(d, m, t)).collect());
        }
        Table { name: name.into(), rows, tests, cells: c, paper: pv }
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("| Dataset | Training data |");
        for t in &self.tests {
            let _ = write!(s, " {} (ours) | {} (paper) |", t.title(), t.title());
        }
        s.push_str("\n|---|---|");
        for _ in &self.tests {
            s.push_str("---:|---:|");
        }
        s.push('\n');
        for (r, (d, m)) in self.rows.iter().enumerate() {
            let _ = write!(s, "| {} | {} |", dataset_title(d), m.label());
            for (k, _) in self.tests.iter().enumerate() {
                let ours = match &self.cells[r][k] {
                    Some((mean, std, n, _)) => format!("{mean:.4} ± {std:.4} (n={n})"),
                    None => "not run".into(),
                };
                let _ = write!(s, " {ours} | {} |", paper_text(self.paper[r][k]));
            }
            s.push('\n');
        }
        s
    }

    /// One line per cell: table, dataset, train, test, n, mean, std, paper, per-seed values.
    pub fn csv(&self) -> String {
        let mut s = String::from("table,dataset,train,test,n,mean,std,paper,seeds\n");
        for (r, (d, m)) in self.rows.iter().enumerate() {
            for (k, t) in self.tests.iter().enumerate() {
                let (n, mean, std, seeds) = match &self.cells[r][k] {
                    Some((mean, std, n, seeds)) => {
                        (n.to_string(), format!("{mean:.6}"), format!("{std:.6}"), seeds.clone())
                    }
                    None => ("0".into(), String::new(), String::new(), String::new()),
                };
                let paper = self.paper[r][k].map(|a| format!("{a}")).unwrap_or_default();
                let _ = writeln!(s, "{},{d},{},{},{n},{mean},{std},{paper},{seeds}", self.name, m.label(), t.key());
            }
        }
        s
    }

    /// Every (row, test) that has no result.
    pub fn missing(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (r, (d, m)) in self.rows.iter().enumerate() {
            for (k, t) in self.tests.iter().enumerate() {
                if self.cells[r][k].is_none() {
                    v.push(format!("{d} {} on {}", m.label(), t.key()));
                }
            }
        }
        v
    }
}

const TABLE2_MIXES: [(u32, u32); 6] = [(1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (5, 1)];

/// Table 2: for every dataset, the mixes O, S, 1:1, 2:1, 1:2, 5:1 on the
/// original and the synthetic test set.
pub fn table2(cells: &Cells, paper: &PaperValues) -> Table {
    let mut rows = Vec::new();
    for d in datasets_of(cells) {
        for (o, s) in TABLE2_MIXES {
            rows.push((d.clone(), Mix { original: o, synthetic: s }));
        }
    }
    Table::build("table2", cells, paper, rows, vec![TestKind::Original, TestKind::Synthetic])
}

/// Table 3: MNIST, every mix that was trained (in the paper's order), on the
/// original, synthetic and every corrupted test set.
pub fn table3(cells: &Cells, paper: &PaperValues) -> Table {
    let d = "mnist".to_string();
    let mut mixes: Vec<Mix> = cells.keys().filter(|k| k.0 == d).map(|k| k.1).collect();
    mixes.sort();
    mixes.dedup();
    let mut tests = vec![TestKind::Original, TestKind::Synthetic];
    for k in cells.keys().filter(|k| k.0 == d) {
        if matches!(k.2, TestKind::Corrupted(_)) && !tests.contains(&k.2) {
            tests.push(k.2.clone());
        }
    }
    if tests.len() == 2 {
        tests.push(TestKind::Corrupted("shot_noise".into()));
    }
    let rows = mixes.into_iter().map(|m| (d.clone(), m)).collect();
    Table::build("table3", cells, paper, rows, tests)
}

/// Every observation: dataset, train, test, test set, seed, accuracy, classifier.
pub fn observations_csv(obs: &[Observation]) -> String {
    let mut s = String::from("dataset,train,test,test_set,seed,accuracy,classifier\n");
    let mut sorted: Vec<&Observation> = obs.iter().collect();
    sorted.sort_by(|a, b| (&a.dataset, a.mix, &a.test, a.seed).cmp(&(&b.dataset, b.mix, &b.test, b.seed)));
    for o in sorted {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.6},{}",
            o.dataset,
            o.mix.label(),
            o.test.key(),
            o.test_set,
            o.seed,
            o.accuracy,
            o.classifier
        );
    }
    s
}
