//! The MNIST-C study: every corruption × every training mix (accuracy mean ±
//! std over seeds), the mean over the corruptions, and each mix's paired
//! difference to O with a 95 % t-interval, judged with every other
//! difference of the report's MNIST-C tables as one Holm family; as
//! Markdown, CSV and the heatmap's data. One table per dataset and
//! generator that has corrupted test results.

use super::document::{Block, Cell as Entry, Provenance, Table};
use super::model::{datasets_of, generators_of, Cell, Cells, GenId, Mix, TestKind};
use super::results::CsvText;
use super::stats::{self, paired, Compared, Estimate, Family, Verdict, MARGIN};
use crate::data::corrupt;

/// The mixes whose effect the headline reports (the paper's 5:1–7:1).
pub const HEADLINE_MIXES: [Mix; 3] =
    [Mix { original: 5, synthetic: 1 }, Mix { original: 6, synthetic: 1 }, Mix { original: 7, synthetic: 1 }];

const O: Mix = Mix { original: 1, synthetic: 0 };

/// One dataset and generator: rows are the corruptions then their mean.
#[derive(Debug, Clone)]
pub struct CorruptionTable {
    pub dataset: String,
    pub generator: Option<GenId>,
    pub corruptions: Vec<String>,
    pub mixes: Vec<Mix>,
    /// [row][mix]: rows = corruptions, then the mean over them.
    pub cells: Vec<Vec<Option<Cell>>>,
    /// [row][mix]: acc(mix) − acc(O) paired by seed, judged in the family.
    pub diffs: Vec<Vec<Option<Compared>>>,
}

/// Every MNIST-C table of a report and the family their differences form.
#[derive(Debug, Clone)]
pub struct Corruptions {
    pub tables: Vec<CorruptionTable>,
    /// Keyed by (table, row, mix) of `tables`.
    pub family: Family<(usize, usize, usize)>,
}

/// The files behind a cell of a table: its mixes (a mix, or a mix and O for
/// a difference) on a corruption, or on all of them (None: the mean row).
pub type CellProv<'a> = &'a dyn Fn(&[Mix], Option<&str>) -> Option<Provenance>;

/// A table's differences before judging: [row][mix].
type Estimates = Vec<Vec<Option<Estimate>>>;

/// MNIST-C's order first (known names), then any others by name.
fn corruption_rank(name: &str) -> (usize, String) {
    let i = corrupt::ALL.iter().position(|c| c.name() == name).unwrap_or(usize::MAX);
    (i, name.to_string())
}

/// The corrupted test sets of dataset `d`, in MNIST-C's order.
pub fn corruptions_of(cells: &Cells, d: &str) -> Vec<String> {
    let mut v: Vec<String> = cells
        .keys()
        .filter(|k| k.0 == d)
        .filter_map(|k| match &k.3 {
            TestKind::Corrupted(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    v.sort_by_key(|c| corruption_rank(c));
    v.dedup();
    v
}

/// Per seed, the mean accuracy over `tests`; only seeds scored on every one.
pub fn mean_over(cells: &Cells, d: &str, g: &Option<GenId>, m: Mix, tests: &[TestKind]) -> Vec<(u64, f64)> {
    let per_test: Vec<&Cell> =
        tests.iter().filter_map(|t| cells.get(&(d.to_string(), g.clone(), m, t.clone()))).collect();
    if tests.is_empty() || per_test.len() < tests.len() {
        return Vec::new();
    }
    per_test[0]
        .values
        .iter()
        .filter_map(|(seed, _)| {
            let vs: Vec<f64> =
                per_test.iter().filter_map(|c| c.values.iter().find(|v| v.0 == *seed).map(|v| v.1)).collect();
            (vs.len() == tests.len()).then(|| stats::mean(&vs).map(|m| (*seed, m))).flatten()
        })
        .collect()
}

impl CorruptionTable {
    fn build(
        cells: &Cells,
        d: &str,
        g: &Option<GenId>,
        corruptions: &[String],
    ) -> Option<(CorruptionTable, Estimates)> {
        let mut mixes: Vec<Mix> = cells.keys().filter(|k| k.0 == d && &k.1 == g).map(|k| k.2).collect();
        mixes.sort();
        mixes.dedup();
        let tests: Vec<TestKind> = corruptions.iter().map(|c| TestKind::Corrupted(c.clone())).collect();
        // Per row and mix: (seed, accuracy) values; the last row is the mean over corruptions.
        let values = |m: Mix, row: usize| -> Vec<(u64, f64)> {
            match tests.get(row) {
                Some(t) => {
                    cells.get(&(d.to_string(), g.clone(), m, t.clone())).map(|c| c.values.clone()).unwrap_or_default()
                }
                None => mean_over(cells, d, g, m, &tests),
            }
        };
        if !mixes.contains(&O) || (0..tests.len()).all(|r| values(O, r).is_empty()) {
            return None;
        }
        let (mut cs, mut ds) = (Vec::new(), Vec::new());
        for row in 0..=tests.len() {
            let o = values(O, row);
            cs.push(mixes.iter().map(|m| Some(values(*m, row)).filter(|v| !v.is_empty()).map(Cell::new)).collect());
            ds.push(
                mixes
                    .iter()
                    .map(|m| (*m != O).then(|| Estimate::one_sample(&paired(&values(*m, row), &o))).flatten())
                    .collect(),
            );
        }
        let table = CorruptionTable {
            dataset: d.to_string(),
            generator: g.clone(),
            corruptions: corruptions.to_vec(),
            mixes,
            cells: cs,
            diffs: Vec::new(),
        };
        Some((table, ds))
    }

    /// Row titles: the corruptions, then the mean.
    pub fn row_titles(&self) -> Vec<String> {
        let mut v: Vec<String> = self.corruptions.clone();
        v.push(format!("mean of {}", self.corruptions.len()));
        v
    }

    pub fn generator_label(&self) -> String {
        self.generator.as_ref().map(GenId::label).unwrap_or_else(|| "none".into())
    }

    /// The rows (of [`Self::row_titles`]) where some mix has a difference to
    /// O: the others were not tested beyond O and are left out of the
    /// difference table and the heatmap.
    pub fn tested_rows(&self) -> Vec<usize> {
        (0..self.diffs.len()).filter(|r| self.diffs[*r].iter().any(Option::is_some)).collect()
    }

    /// Accuracy table and difference table with their lead-ins; `prov`
    /// gives the artifacts behind a cell: its mixes (a mix, or a mix and O
    /// for a difference) on a corruption, or on all of them (the mean row).
    pub fn blocks(&self, prov: CellProv) -> Vec<Block> {
        let table = |mixes: &[Mix]| {
            let head = std::iter::once("Corruption".to_string()).chain(mixes.iter().map(|m| m.label()));
            Table::new(head, &format!("l{}", "r".repeat(mixes.len())))
        };
        let titles = self.row_titles();
        let corruption = |r: usize| self.corruptions.get(r).map(String::as_str);
        let mut acc = table(&self.mixes);
        for (r, title) in titles.iter().enumerate() {
            let cells = self.cells[r].iter().zip(&self.mixes).map(|(c, m)| match c {
                Some(c) => Entry::mean(Some(c.clone())).with_seeds(c).with_prov(prov(&[*m], corruption(r))),
                None => Entry::text("not run"),
            });
            acc.row(std::iter::once(Entry::text(title.clone())).chain(cells));
        }
        let others: Vec<(usize, Mix)> = self.mixes.iter().copied().enumerate().filter(|(_, m)| *m != O).collect();
        let om: Vec<Mix> = others.iter().map(|x| x.1).collect();
        let mut diff = table(&om);
        for r in self.tested_rows() {
            let cells = others.iter().map(|(k, m)| match &self.diffs[r][*k] {
                Some(c) => Entry::sorted(c.cell(), c.interval.mean).with_prov(prov(&[*m, O], corruption(r))),
                None => Entry::text("no paired seeds"),
            });
            diff.row(std::iter::once(Entry::text(titles[r].clone())).chain(cells));
        }
        let untested = titles.len() - self.tested_rows().len();
        let lead = format!(
            "Difference to O, acc(mix) − acc(O) paired by seed: mean [95 % CI] (n), verdict (p and TOST p, raw and \
             Holm-adjusted over the MNIST-C family){}:\n\n",
            if untested > 0 {
                format!("; the {untested} rows where only O was tested are left out")
            } else {
                String::new()
            },
        );
        vec![
            Block::Prose("Accuracy (mean ± std over seeds, n):\n\n".into()),
            Block::Table(acc),
            Block::Prose(lead),
            Block::Table(diff),
        ]
    }

    /// [`Self::blocks`] as report.md prints them, less the click-through.
    pub fn markdown(&self) -> String {
        let text = |b: &Block| match b {
            Block::Table(t) => format!("{}\n", t.markdown()),
            Block::Prose(s) | Block::Quoted(s) => s.clone(),
            Block::Figure(_) | Block::Strip(_) => String::new(),
        };
        self.blocks(&|_, _| None).iter().map(text).collect()
    }

    /// One line per row and mix.
    pub fn csv_rows(&self, out: &mut CsvText) -> crate::error::Result<()> {
        let gl = self.generator_label();
        let gh = self.generator.as_ref().map(|g| g.blake3.clone()).unwrap_or_default();
        for (r, title) in self.row_titles().iter().enumerate() {
            for (k, m) in self.mixes.iter().enumerate() {
                let (n, mean, std) = match &self.cells[r][k] {
                    Some(c) => (c.values.len().to_string(), format!("{:.6}", c.mean), format!("{:.6}", c.std)),
                    None => ("0".into(), String::new(), String::new()),
                };
                let d: [String; 10] = match &self.diffs[r][k] {
                    Some(c) => [
                        format!("{:.6}", c.interval.mean),
                        format!("{:.6}", c.interval.lo),
                        format!("{:.6}", c.interval.hi),
                        c.interval.n.to_string(),
                        c.verdict().word().to_string(),
                        format!("{}", c.margin),
                        p_csv(c.judged.p),
                        p_csv(c.judged.p_holm),
                        p_csv(c.judged.tost_p),
                        p_csv(c.judged.tost_p_holm),
                    ],
                    None => Default::default(),
                };
                let head = [self.dataset.clone(), gl.clone(), gh.clone(), title.clone(), m.label(), n, mean, std];
                out.row(head.iter().chain(d.iter()))?;
            }
        }
        Ok(())
    }

    /// Per headline mix present: the corruptions where it is better, worse,
    /// equivalent, inconclusive (identical counts as equivalent).
    pub fn headline(&self) -> Vec<(Mix, [Vec<String>; 4])> {
        let mut out = Vec::new();
        for m in HEADLINE_MIXES {
            let Some(k) = self.mixes.iter().position(|x| *x == m) else { continue };
            let mut by: [Vec<String>; 4] = Default::default();
            for (r, c) in self.corruptions.iter().enumerate() {
                if let Some(x) = &self.diffs[r][k] {
                    let slot = match x.verdict() {
                        Verdict::Better => 0,
                        Verdict::Worse => 1,
                        Verdict::Equivalent | Verdict::Identical => 2,
                        Verdict::Inconclusive => 3,
                    };
                    by[slot].push(format!("{c} {:+.4}", x.interval.mean));
                }
            }
            out.push((m, by));
        }
        out
    }
}

/// A p-value in a CSV: full precision.
fn p_csv(p: f64) -> String {
    format!("{p:.6e}")
}

/// The `- 5:1 vs O, …` lines under a table (and in claim 6's notes).
pub fn headline_line(m: Mix, by: &[Vec<String>; 4]) -> String {
    let list = |v: &Vec<String>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    format!(
        "{} vs O: better on {}; worse on {}; equivalent on {}; inconclusive on {}",
        m.label(),
        list(&by[0]),
        list(&by[1]),
        list(&by[2]),
        list(&by[3])
    )
}

pub const CSV_HEADER: [&str; 18] = [
    "dataset",
    "generator",
    "generator_blake3",
    "corruption",
    "train",
    "n",
    "mean",
    "std",
    "diff_to_o",
    "diff_lo",
    "diff_hi",
    "diff_n",
    "verdict",
    "margin",
    "p",
    "p_holm",
    "tost_p",
    "tost_p_holm",
];

/// Every dataset and generator with corrupted results and an O row, every
/// difference to O of all of them judged as one family (margin [`MARGIN`]).
pub fn tables(cells: &Cells) -> Corruptions {
    let mut built = Vec::new();
    for d in datasets_of(cells) {
        let cs = corruptions_of(cells, &d);
        if cs.is_empty() {
            continue;
        }
        for g in generators_of(cells, &d) {
            built.extend(CorruptionTable::build(cells, &d, &g, &cs));
        }
    }
    let mut items = Vec::new();
    for (t, (_, est)) in built.iter().enumerate() {
        for (r, row) in est.iter().enumerate() {
            items.extend(row.iter().enumerate().filter_map(|(k, e)| e.map(|e| ((t, r, k), e))));
        }
    }
    let family = Family::judge(items, MARGIN);
    let tables = built
        .into_iter()
        .enumerate()
        .map(|(t, (mut table, est))| {
            table.diffs = est
                .iter()
                .enumerate()
                .map(|(r, row)| (0..row.len()).map(|k| family.get(&(t, r, k)).copied()).collect())
                .collect();
            table
        })
        .collect();
    Corruptions { tables, family }
}

impl Corruptions {
    /// The family's paragraph for the report.
    pub fn describe(&self) -> String {
        self.family.describe(
            "every difference to O (acc(mix) − acc(O), paired by study seed) in the MNIST-C tables below, over \
             every dataset, generator, corruption (and the mean over them) and mix",
        )
    }

    /// The largest |mean difference to O| over every table's mixes with real
    /// images (S saturates instead), else over all: one colour scale for
    /// every heatmap of the report.
    pub fn heat_scale(&self) -> f64 {
        let over = |keep: &dyn Fn(Mix) -> bool| {
            let mut x = 0.0f64;
            for t in &self.tables {
                for row in &t.diffs {
                    for (k, c) in row.iter().enumerate() {
                        if let Some(c) = c.filter(|_| keep(t.mixes[k])) {
                            x = x.max(c.interval.mean.abs());
                        }
                    }
                }
            }
            x
        };
        match over(&|m| m.original > 0) {
            x if x > 0.0 => x.max(0.005),
            _ => over(&|_| true).max(0.005),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(rows: &[(Mix, &str, &[(u64, f64)])]) -> Cells {
        rows.iter()
            .map(|(m, t, v)| (("mnist".to_string(), None, *m, TestKind::from_key(t)), Cell::new(v.to_vec())))
            .collect()
    }

    #[test]
    fn mean_row_and_paired_differences_follow_hand_computation() {
        let five = Mix::new(5, 1);
        let c = cells(&[
            (O, "shot_noise", &[(0, 0.90), (1, 0.92), (2, 0.94)]),
            (O, "fog", &[(0, 0.50), (1, 0.52), (2, 0.54)]),
            (five, "shot_noise", &[(0, 0.95), (1, 0.96), (2, 0.97)]),
            // seed 2 missing on fog: the mean row pairs seeds 0 and 1 only
            (five, "fog", &[(0, 0.40), (1, 0.44)]),
        ]);
        let all = tables(&c);
        let ts = &all.tables;
        assert_eq!(ts.len(), 1);
        let t = &ts[0];
        assert_eq!(t.corruptions, vec!["shot_noise", "fog"], "MNIST-C's order");
        assert_eq!(t.mixes, vec![O, five]);
        // shot noise: diffs 0.05, 0.04, 0.03 → mean 0.04, sd 0.01, t(0.975, 2) = 4.3027 (SciPy)
        let c0 = t.diffs[0][1].unwrap();
        let i = c0.interval;
        assert!((i.mean - 0.04).abs() < 1e-12 && (i.hi - i.mean - 4.302652729749462 * 0.01 / 3f64.sqrt()).abs() < 1e-9);
        // Family of 3 (shot noise, fog, mean): raw p 0.0202 (SciPy ttest_1samp), smallest of three → ×3.
        assert!((c0.judged.p - 0.02020410288672877).abs() < 1e-9, "{c0:?}");
        assert!((c0.judged.p_holm - 3.0 * c0.judged.p).abs() < 1e-12, "{c0:?}");
        // Alone it would be better (p 0.020); Holm's 0.061 over the family is not.
        assert_eq!(c0.verdict(), Verdict::Inconclusive);
        // fog: −0.10, −0.08 at n = 2 (t(1) = 12.706, half width 0.127): inconclusive
        let f = t.diffs[1][1].unwrap();
        assert_eq!((f.interval.n, f.verdict()), (2, Verdict::Inconclusive));
        assert_eq!(all.family.len(), 3);
        // mean row: O seeds 0,1,2 = 0.70, 0.72, 0.74; 5:1 seeds 0,1 = 0.675, 0.70
        let mean = t.cells[2][1].as_ref().unwrap();
        assert_eq!(mean.values.len(), 2);
        assert!((mean.mean - 0.6875).abs() < 1e-12);
        let md = t.diffs[2][1].unwrap();
        assert!((md.interval.mean - (-0.0225)).abs() < 1e-12, "{md:?}");
        assert!(t.diffs[0][0].is_none(), "O has no difference to itself");
        let h = t.headline();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].1[3], vec!["shot_noise +0.0400".to_string(), "fog -0.0900".to_string()]);
    }

    #[test]
    fn heatmap_has_a_cell_per_row_and_mix() {
        let c = cells(&[
            (O, "fog", &[(0, 0.50), (1, 0.52)]),
            (Mix::new(5, 1), "fog", &[(0, 0.40), (1, 0.44)]),
            (Mix::new(0, 1), "fog", &[(0, 0.60), (1, 0.64)]),
        ]);
        let all = tables(&c);
        let t = &all.tables[0];
        let png = super::super::figures::effects::corruption_heatmap(t, all.heat_scale()).unwrap().unwrap();
        let img = image::load_from_memory(&png).unwrap();
        // 150 px of labels + 84 px per mix + margin; 74 px of header + 30 px per row + footer.
        // At least 620 px wide for the title.
        assert_eq!((img.width(), img.height()), (620, 74 + 30 * 2 + 44));
    }

    #[test]
    fn untested_rows_leave_the_difference_table_and_the_heatmap() {
        let c = cells(&[
            (O, "shot_noise", &[(0, 0.90), (1, 0.92)]),
            (O, "fog", &[(0, 0.50), (1, 0.52)]),
            (Mix::new(5, 1), "shot_noise", &[(0, 0.91), (1, 0.94)]),
        ]);
        let all = tables(&c);
        let t = &all.tables[0];
        // fog and the mean (needs every corruption) have no 5:1 result.
        assert_eq!(t.tested_rows(), vec![0]);
        assert!(!t.markdown().contains("no paired seeds"), "{}", t.markdown());
        let png = super::super::figures::effects::corruption_heatmap(t, all.heat_scale()).unwrap().unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!(img.height(), 74 + 30 + 44, "one row drawn");
    }

    #[test]
    fn no_table_without_o() {
        let c = cells(&[(Mix::new(5, 1), "fog", &[(0, 0.4)])]);
        assert!(tables(&c).tables.is_empty());
    }
}
