//! `synthmix compare A B`: two runs of a study side by side — the
//! parameters that differ (from each report's run.json, like `dvc params
//! diff`), then every cell of results.csv with B − A and its 95 % interval
//! (paired by seed when both cells have the same seeds, else Welch's t),
//! its verdict judged with every other compared cell as one Holm family
//! (better / worse / equivalent within ±MARGIN / inconclusive), and whether
//! the two cells' own 95 % intervals overlap.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::kind::StudyKind;
use super::md;
use super::model::Cell;
use super::run_summary::{self, RunSummary};
use super::run_table;
use super::stats::{p_text, Estimate, Family, Interval, Verdict, LEVEL, MARGIN};
use crate::error::{Error, Result};

/// How `compare` and `runs` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown tables.
    Md,
    /// One CSV table.
    Csv,
    /// One JSON document.
    Json,
}

/// One side of a comparison, as found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The folder as given.
    pub given: PathBuf,
    /// Its report folder (results.csv, report.md, run.json).
    pub report: PathBuf,
    pub summary: Option<RunSummary>,
}

/// A parameter whose values differ; a list is every value the stage's runs used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamDiff {
    pub stage: String,
    pub parameter: String,
    pub a: Vec<String>,
    pub b: Vec<String>,
}

/// One cell of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
    pub seeds: Vec<u64>,
    /// The cell's own 95 % t-interval of the mean (none for n < 2).
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Per-seed differences, Student t (both cells have the same seeds).
    Paired,
    /// Welch's unequal-variance t.
    Welch,
}

/// B − A with its 95 % interval (none where a side has n < 2), and its
/// tests within the family of every compared cell.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub mean: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub method: Method,
    #[serde(skip)]
    pub estimate: Estimate,
    pub margin: f64,
    pub p: f64,
    pub p_holm: f64,
    pub tost_p: f64,
    pub tost_p_holm: f64,
    /// better / worse / equivalent / identical / inconclusive (B against A).
    pub verdict: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellDiff {
    /// Values of the study's key columns.
    pub key: Vec<String>,
    pub a: Option<Side>,
    pub b: Option<Side>,
    /// Present when both runs have the cell.
    pub difference: Option<Difference>,
    pub intervals_overlap: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub study: StudyKind,
    pub key_columns: Vec<String>,
    pub a: RunInfo,
    pub b: RunInfo,
    /// None when a run has no run.json (a report older than it).
    pub parameters: Option<Vec<ParamDiff>>,
    pub cells: Vec<CellDiff>,
}

/// Compares the runs in `a` and `b` (report folders, or artifacts folders
/// whose `report/NAME/` is `study`, or the one study both hold).
pub fn compare(a: &Path, b: &Path, study: Option<&str>) -> Result<Comparison> {
    let (ra, rb) = (report_dir(a, b, study)?, report_dir(b, a, study)?);
    let (sa, sb) = (run_summary::read(&ra)?, run_summary::read(&rb)?);
    let (ka, mut rows_a) = run_table::read(&ra, sa.as_ref().map(|s| s.study))?;
    let (kb, mut rows_b) = run_table::read(&rb, sb.as_ref().map(|s| s.study))?;
    run_table::align_generations(&mut rows_a, &mut rows_b);
    if ka != kb {
        return Err(Error::Invalid(format!(
            "{} is a {} study and {} a {} study: their cells cannot be compared",
            ra.display(),
            ka.name(),
            rb.display(),
            kb.name()
        )));
    }
    let parameters = match (&sa, &sb) {
        (Some(x), Some(y)) => Some(param_diff(x, y)),
        _ => None,
    };
    Ok(Comparison {
        study: ka,
        key_columns: ka.key_columns().iter().map(|c| c.to_string()).collect(),
        cells: cell_diffs(ka, &run_table::cells(&rows_a), &run_table::cells(&rows_b)),
        a: RunInfo { given: a.to_path_buf(), report: ra, summary: sa },
        b: RunInfo { given: b.to_path_buf(), report: rb, summary: sb },
        parameters,
    })
}

/// A report folder holds results.csv or report.md; an artifacts folder `report/NAME/` folders.
fn is_report(dir: &Path) -> bool {
    dir.join("results.csv").is_file() || dir.join("report.md").is_file()
}

/// The study names (`report/NAME/` holding a report) of an artifacts folder.
pub fn studies_in(artifacts: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(artifacts.join("report"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_report(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The report folder of `run`: itself, or the study of an artifacts folder
/// named by `study`, else its only one, else the only one `other` shares.
fn report_dir(run: &Path, other: &Path, study: Option<&str>) -> Result<PathBuf> {
    if !run.is_dir() {
        return Err(Error::NotFound(format!("{}: no such folder", run.display())));
    }
    if is_report(run) {
        return Ok(run.to_path_buf());
    }
    let names = studies_in(run);
    if names.is_empty() {
        return Err(Error::NotFound(format!(
            "{}: neither a report folder (results.csv, report.md) nor an artifacts folder with report/NAME/ in it",
            run.display()
        )));
    }
    let shared: Vec<&String> = names.iter().filter(|n| studies_in(other).contains(n)).collect();
    let pick = match study {
        Some(s) if names.iter().any(|n| n == s) => s.to_string(),
        Some(s) => {
            return Err(Error::NotFound(format!("{}: no report/{s}/ (it has {})", run.display(), names.join(", "))))
        }
        None if names.len() == 1 => names[0].clone(),
        None if shared.len() == 1 => shared[0].clone(),
        None => {
            return Err(Error::Invalid(format!(
                "{}: holds several studies ({}): choose one with --study NAME",
                run.display(),
                names.join(", ")
            )))
        }
    };
    Ok(run.join("report").join(pick))
}

/// Every (stage, parameter) whose set of values differs, a missing one as empty.
pub fn param_diff(a: &RunSummary, b: &RunSummary) -> Vec<ParamDiff> {
    let mut keys: Vec<(&String, &String)> = Vec::new();
    for s in [a, b] {
        keys.extend(s.params.iter().flat_map(|(st, m)| m.keys().map(move |k| (st, k))));
    }
    keys.sort();
    keys.dedup();
    let values =
        |s: &RunSummary, st: &str, k: &str| s.params.get(st).and_then(|m| m.get(k)).cloned().unwrap_or_default();
    keys.into_iter()
        .map(|(st, k)| ParamDiff { stage: st.clone(), parameter: k.clone(), a: values(a, st, k), b: values(b, st, k) })
        .filter(|d| d.a != d.b)
        .collect()
}

fn cell_diffs(
    kind: StudyKind,
    a: &std::collections::BTreeMap<Vec<String>, Cell>,
    b: &std::collections::BTreeMap<Vec<String>, Cell>,
) -> Vec<CellDiff> {
    let mut keys: Vec<&Vec<String>> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    kind.sort(&mut keys);
    let mut cells: Vec<CellDiff> = keys
        .into_iter()
        .map(|k| {
            let (ca, cb) = (a.get(k), b.get(k));
            let (sa, sb) = (ca.map(side), cb.map(side));
            let both = ca.zip(cb);
            CellDiff {
                key: k.clone(),
                difference: both.map(|(x, y)| difference(x, y)),
                intervals_overlap: sa.as_ref().zip(sb.as_ref()).map(|(x, y)| overlap(x, y)),
                a: sa,
                b: sb,
            }
        })
        .collect();
    judge(&mut cells);
    cells
}

/// Judges every cell both runs have as one family: Holm over all of them.
pub fn judge(cells: &mut [CellDiff]) {
    let items: Vec<(usize, Estimate)> =
        cells.iter().enumerate().filter_map(|(i, c)| c.difference.as_ref().map(|d| (i, d.estimate))).collect();
    let family = Family::judge(items, MARGIN);
    for (i, c) in family.members {
        let d = cells[i].difference.as_mut().expect("collected from a difference");
        let j = c.judged;
        (d.margin, d.p, d.p_holm, d.tost_p, d.tost_p_holm) = (c.margin, j.p, j.p_holm, j.tost_p, j.tost_p_holm);
        d.verdict = c.verdict().word();
    }
}

fn side(c: &Cell) -> Side {
    let v: Vec<f64> = c.values.iter().map(|x| x.1).collect();
    let i = Interval::of(&v);
    let finite = |x: f64| x.is_finite().then_some(x);
    Side {
        mean: c.mean,
        std: c.std,
        n: v.len(),
        seeds: c.values.iter().map(|x| x.0).collect(),
        lo: i.and_then(|i| finite(i.lo)),
        hi: i.and_then(|i| finite(i.hi)),
    }
}

/// A missing bound is an unbounded interval: it overlaps everything.
fn overlap(a: &Side, b: &Side) -> bool {
    let lo = |s: &Side| s.lo.unwrap_or(f64::NEG_INFINITY);
    let hi = |s: &Side| s.hi.unwrap_or(f64::INFINITY);
    lo(a) <= hi(b) && lo(b) <= hi(a)
}

/// B − A: paired by seed when both cells have the same distinct seeds, else Welch.
pub fn difference(a: &Cell, b: &Cell) -> Difference {
    let seeds = |c: &Cell| c.values.iter().map(|v| v.0).collect::<Vec<_>>();
    let distinct = |s: &[u64]| s.windows(2).all(|w| w[0] != w[1]);
    let (estimate, method) = if seeds(a) == seeds(b) && distinct(&seeds(a)) {
        (Estimate::paired(&b.values, &a.values).expect("a cell has a value"), Method::Paired)
    } else {
        (Estimate::welch(&a.summary(), &b.summary()), Method::Welch)
    };
    let i = estimate.interval(LEVEL);
    let finite = |x: f64| x.is_finite().then_some(x);
    // The tests are filled in by `judge`, over the whole family.
    Difference {
        mean: i.mean,
        lo: finite(i.lo),
        hi: finite(i.hi),
        method,
        estimate,
        margin: MARGIN,
        p: f64::NAN,
        p_holm: f64::NAN,
        tost_p: f64::NAN,
        tost_p_holm: f64::NAN,
        verdict: Verdict::Inconclusive.word(),
    }
}

impl Comparison {
    pub fn render(&self, format: Format) -> Result<String> {
        match format {
            Format::Md => Ok(self.markdown()),
            Format::Csv => self.csv(),
            Format::Json => serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(format!("json: {e}"))),
        }
    }

    /// Cells in both runs: (how many, how many differ, how many whose intervals do not overlap).
    pub fn counts(&self) -> (usize, usize, usize) {
        let both: Vec<&CellDiff> = self.cells.iter().filter(|c| c.difference.is_some()).collect();
        let moved = both.iter().filter(|c| c.difference.as_ref().is_some_and(|d| d.mean != 0.0)).count();
        let apart = both.iter().filter(|c| c.intervals_overlap == Some(false)).count();
        (both.len(), moved, apart)
    }

    fn markdown(&self) -> String {
        let mut s = format!("# {} study: A against B\n\n", self.study.name());
        for (name, r) in [("A", &self.a), ("B", &self.b)] {
            s.push_str(&format!("- {name}: {}\n", run_line(r)));
        }
        s.push_str("\n## Parameters that differ\n\n");
        s.push_str(&self.params_markdown());
        let (both, moved, apart) = self.counts();
        s.push_str(&format!(
            "\n## Cells\n\n{both} cells in both runs, {moved} of them differ, {apart} with 95 % intervals that do \
             not overlap. B − A with its 95 % interval: paired by seed where both cells have the same seeds, else \
             Welch's t; \"overlap\" is whether the two cells' own 95 % intervals overlap. Verdict of B against A: \
             the {both} cells both runs have are one family, their p-values (t-test of no difference, and TOST \
             against a margin of ±{MARGIN}) Holm-adjusted over it; better/worse where the adjusted p < 0.05, \
             equivalent where the adjusted TOST p < 0.05, else inconclusive. p: raw / Holm.\n\n"
        ));
        s.push_str(&self.cells_markdown());
        s
    }

    fn params_markdown(&self) -> String {
        let Some(ps) = &self.parameters else {
            let missing: Vec<String> = [&self.a, &self.b]
                .iter()
                .filter(|r| r.summary.is_none())
                .map(|r| r.report.display().to_string())
                .collect();
            return format!("Parameters unknown: no {} in {}.\n", run_summary::FILE, missing.join(" and "));
        };
        if ps.is_empty() {
            return "No parameter differs.\n".into();
        }
        let mut t = md::Table::new(["Stage", "Parameter", "A", "B"], "llll");
        for p in ps {
            t.row([p.stage.clone(), p.parameter.clone(), values_text(&p.a), values_text(&p.b)]);
        }
        t.render()
    }

    fn cells_markdown(&self) -> String {
        let head = self.key_columns.iter().map(String::as_str).chain([
            "A",
            "B",
            "B − A [95 %]",
            "method",
            "overlap",
            "verdict",
            "p (raw / Holm)",
            "TOST p (raw / Holm)",
        ]);
        let mut t = md::Table::new(head, &format!("{}rrrlllrr", "l".repeat(self.key_columns.len())));
        for c in &self.cells {
            let key: Vec<&str> = c.key.iter().map(|k| if k.is_empty() { "–" } else { k.as_str() }).collect();
            let (d, method, tests) = match &c.difference {
                Some(d) => (
                    diff_text(d),
                    format!("{:?}", d.method).to_lowercase(),
                    [
                        d.verdict.to_string(),
                        format!("{} / {}", p_text(d.p), p_text(d.p_holm)),
                        format!("{} / {}", p_text(d.tost_p), p_text(d.tost_p_holm)),
                    ],
                ),
                None => {
                    (String::new(), format!("only in {}", if c.a.is_some() { "A" } else { "B" }), Default::default())
                }
            };
            let overlap = c.intervals_overlap.map_or("", |o| if o { "yes" } else { "no" });
            let side = |x: &Option<Side>| x.as_ref().map_or("–".to_string(), side_text);
            let key = key.into_iter().map(String::from);
            t.row(key.chain([side(&c.a), side(&c.b), d, method, overlap.into()]).chain(tests));
        }
        t.render()
    }

    fn csv(&self) -> Result<String> {
        let err = |e: csv::Error| Error::Invalid(format!("csv: {e}"));
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["section", "stage", "parameter", "a_values", "b_values"];
        header.extend(self.key_columns.iter().map(String::as_str));
        header.extend([
            "a_mean",
            "a_std",
            "a_n",
            "b_mean",
            "b_std",
            "b_n",
            "difference",
            "lo",
            "hi",
            "method",
            "intervals_overlap",
            "margin",
            "p",
            "p_holm",
            "tost_p",
            "tost_p_holm",
            "verdict",
        ]);
        w.write_record(&header).map_err(err)?;
        let blank_key = vec![String::new(); self.key_columns.len()];
        let mut record = |head: [String; 5], key: &[String], rest: [String; 17]| {
            w.write_record(head.iter().chain(key).chain(rest.iter())).map_err(err)
        };
        match &self.parameters {
            None => record(
                ["parameters_unknown".into(), "".into(), "".into(), known(&self.a), known(&self.b)],
                &blank_key,
                Default::default(),
            )?,
            Some(ps) => {
                for p in ps {
                    record(
                        ["parameter".into(), p.stage.clone(), p.parameter.clone(), p.a.join(";"), p.b.join(";")],
                        &blank_key,
                        Default::default(),
                    )?;
                }
            }
        }
        for c in &self.cells {
            let section = match (&c.a, &c.b) {
                (Some(_), Some(_)) => "cell",
                (Some(_), None) => "only_a",
                _ => "only_b",
            };
            record([section.into(), "".into(), "".into(), "".into(), "".into()], &c.key, cell_fields(c))?;
        }
        let bytes = w.into_inner().map_err(|e| Error::Invalid(format!("csv: {e}")))?;
        String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("csv: {e}")))
    }
}

/// `known` or why not, for the CSV's parameters_unknown row.
fn known(r: &RunInfo) -> String {
    if r.summary.is_some() {
        "known".into()
    } else {
        format!("unknown: no {}", run_summary::FILE)
    }
}

fn cell_fields(c: &CellDiff) -> [String; 17] {
    let num = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    let side = |s: &Option<Side>| match s {
        Some(s) => [s.mean.to_string(), s.std.to_string(), s.n.to_string()],
        None => Default::default(),
    };
    let [am, asd, an] = side(&c.a);
    let [bm, bsd, bn] = side(&c.b);
    let d = c.difference.as_ref();
    [
        am,
        asd,
        an,
        bm,
        bsd,
        bn,
        num(d.map(|d| d.mean)),
        num(d.and_then(|d| d.lo)),
        num(d.and_then(|d| d.hi)),
        d.map_or(String::new(), |d| format!("{:?}", d.method).to_lowercase()),
        c.intervals_overlap.map_or(String::new(), |o| o.to_string()),
        num(d.map(|d| d.margin)),
        num(d.map(|d| d.p)),
        num(d.map(|d| d.p_holm)),
        num(d.map(|d| d.tost_p)),
        num(d.map(|d| d.tost_p_holm)),
        d.map_or(String::new(), |d| d.verdict.to_string()),
    ]
}

/// `path (title, written DATE, commit C)` or what is unknown.
fn run_line(r: &RunInfo) -> String {
    match &r.summary {
        Some(s) => format!(
            "`{}` ({}, written {}, artifacts from commit{} {})",
            r.report.display(),
            s.title,
            s.created(),
            if s.commits.len() == 1 { "" } else { "s" },
            if s.commits.is_empty() { "unknown".into() } else { s.commits.join(", ") }
        ),
        None => format!("`{}` (no {}: parameters and commits unknown)", r.report.display(), run_summary::FILE),
    }
}

/// A parameter's values; a long list shortened (the CSV and JSON keep all).
fn values_text(v: &[String]) -> String {
    match v.len() {
        0 => "–".to_string(),
        n if n > 8 => format!("{}, … ({n} values)", v[..8].join(", ")),
        _ => v.join(", "),
    }
}

fn side_text(s: &Side) -> String {
    format!("{:.4} ± {:.4} (n={})", s.mean, s.std, s.n)
}

fn diff_text(d: &Difference) -> String {
    match (d.lo, d.hi) {
        (Some(lo), Some(hi)) => format!("{:+.4} [{lo:+.4}, {hi:+.4}]", d.mean),
        _ => format!("{:+.4} [no interval]", d.mean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seeds_pair_and_others_use_welch() {
        let a = Cell::new(vec![(0, 0.90), (1, 0.80), (2, 0.85)]);
        let b = Cell::new(vec![(0, 0.91), (1, 0.81), (2, 0.86)]);
        let d = difference(&a, &b);
        assert_eq!(d.method, Method::Paired);
        assert!((d.mean - 0.01).abs() < 1e-12 && (d.hi.unwrap() - d.lo.unwrap()) < 1e-9, "{d:?}");
        let c = Cell::new(vec![(3, 0.91), (4, 0.81), (5, 0.86)]);
        let w = difference(&a, &c);
        assert_eq!(w.method, Method::Welch);
        // Equal std 0.05, n = 3: se = 0.05·√(2/3), df = 4, t(0.975, 4) = 2.7764 (SciPy).
        let half = 2.7764451051977943 * 0.05 * (2.0f64 / 3.0).sqrt();
        assert!((w.hi.unwrap() - w.mean - half).abs() < 1e-9, "{w:?}");
        let one = Cell::new(vec![(9, 0.5)]);
        assert_eq!(difference(&a, &one).lo, None, "no interval from one value");
        assert!(overlap(&side(&a), &side(&c)) && overlap(&side(&a), &side(&one)));
    }

    #[test]
    fn compared_cells_are_one_holm_family() {
        use std::collections::BTreeMap;
        let k = |s: &str| vec![s.to_string()];
        let a = BTreeMap::from([
            (k("x"), Cell::new(vec![(0, 0.90), (1, 0.80), (2, 0.85)])),
            (k("y"), Cell::new(vec![(0, 0.50), (1, 0.52), (2, 0.51)])),
            (k("only a"), Cell::new(vec![(0, 0.5)])),
        ]);
        let b = BTreeMap::from([
            (k("x"), Cell::new(vec![(0, 0.91), (1, 0.82), (2, 0.86)])),
            (k("y"), Cell::new(vec![(0, 0.50), (1, 0.52), (2, 0.51)])),
        ]);
        let cells = cell_diffs(StudyKind::Regimes, &a, &b);
        let d: Vec<&Difference> = cells.iter().filter_map(|c| c.difference.as_ref()).collect();
        assert_eq!(d.len(), 2, "a cell in one run only is not compared");
        // x: B − A = 0.01, 0.02, 0.01 → SciPy ttest_1samp p 0.0572; y identical (p 1):
        // Holm over the two doubles x's p (the smaller).
        let x = d.iter().find(|d| d.mean > 0.0).unwrap();
        assert!((x.p - 0.05719095841793663).abs() < 1e-6 && (x.p_holm - 2.0 * x.p).abs() < 1e-12, "{x:?}");
        assert_eq!(x.verdict, "inconclusive");
        assert!(d.iter().any(|d| d.verdict == "identical"));
    }

    #[test]
    fn only_differing_parameters_are_listed() {
        let s = |lr: &str| RunSummary {
            params: run_summary::Params::from([(
                "clf-train".to_string(),
                std::collections::BTreeMap::from([
                    ("adam.lr".to_string(), vec![lr.to_string()]),
                    ("seed".to_string(), vec!["0".to_string()]),
                ]),
            )]),
            ..serde_json::from_value::<RunSummary>(serde_json::json!({
                "format": 1, "study": "paper", "title": "", "created_unix": 0, "version": "", "report_commit": "",
                "commits": [], "machine": "", "span_unix": null, "results": 0, "params": {}, "headlines": []
            }))
            .unwrap()
        };
        assert_eq!(param_diff(&s("0.001"), &s("0.001")), vec![]);
        let d = param_diff(&s("0.001"), &s("0.002"));
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].parameter.as_str(), d[0].a[0].as_str(), d[0].b[0].as_str()), ("adam.lr", "0.001", "0.002"));
    }
}
