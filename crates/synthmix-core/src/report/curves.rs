//! `synthmix curves`: the per-epoch columns of training logs (the
//! `STEM.log.csv` that clf-train, gan-train and dpm-train write beside their
//! checkpoints) drawn in one figure, so runs that differ in one setting are
//! compared by eye: a classifier's train and test accuracy with and without
//! dropout, a generator's recognition per epoch, a paper's value as a line.

use std::path::{Path, PathBuf};

use super::figures::chart::{Line, Stroke};
use super::figures::lines;
use crate::artifact::{check_outputs, Outputs, Staged};
use crate::error::{Error, Result};

/// The columns drawn when none are named: each that a log has values in.
pub const DEFAULT_COLUMNS: [&str; 4] = ["train_accuracy", "val_accuracy", "test_accuracy", "recognition"];

/// Logs larger than this are no training log (a 10 000-epoch log is ≈ 1 MB).
const MAX_LOG_BYTES: u64 = 64 << 20;

/// What `synthmix curves` draws.
pub struct CurvesRequest {
    /// The logs, each with its legend name.
    pub logs: Vec<(PathBuf, String)>,
    /// Columns to draw; empty: [`DEFAULT_COLUMNS`] where present.
    pub columns: Vec<String>,
    /// Horizontal reference lines: value and legend name.
    pub references: Vec<(f64, String)>,
    pub title: String,
    /// The PNG; the SVG goes beside it with the same stem.
    pub out: PathBuf,
}

/// One column of one log: (epoch, value) for every row with a value.
#[derive(Debug, PartialEq)]
pub struct Series {
    pub column: String,
    pub points: Vec<(f64, f64)>,
}

/// Each log with its legend name: `labels` in order (one per log, or none:
/// the file name without `.log.csv`).
pub fn named_logs(logs: Vec<PathBuf>, labels: Vec<String>) -> Result<Vec<(PathBuf, String)>> {
    if !labels.is_empty() && labels.len() != logs.len() {
        return Err(Error::Invalid(format!(
            "--label: {} names for {} logs (one per log, or none)",
            labels.len(),
            logs.len()
        )));
    }
    let stem = |p: &Path| {
        let f = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        f.strip_suffix(".log.csv").map(str::to_string).unwrap_or(f)
    };
    let mut labels = labels.into_iter();
    Ok(logs
        .into_iter()
        .map(|p| {
            let name = labels.next().unwrap_or_else(|| stem(&p));
            (p, name)
        })
        .collect())
}

/// `VALUE=LABEL` of `--reference`.
pub fn parse_reference(s: &str) -> std::result::Result<(f64, String), String> {
    let (v, label) = s.split_once('=').ok_or_else(|| format!("'{s}' is not VALUE=LABEL"))?;
    let value: f64 = v.trim().parse().map_err(|_| format!("'{v}' is not a number"))?;
    if !value.is_finite() {
        return Err(format!("'{v}' is not a finite number"));
    }
    Ok((value, label.trim().to_string()))
}

/// The named columns of a training log (every row's epoch and value, rows
/// without a value skipped); with no names, those of [`DEFAULT_COLUMNS`] that
/// hold a value. A missing column, a cell that is no finite number, or a log
/// with nothing to draw is refused naming the file.
pub fn read_log(path: &Path, columns: &[String]) -> Result<Vec<Series>> {
    let size = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if size > MAX_LOG_BYTES {
        return Err(Error::format(path, format!("{size} bytes is too large for a training log")));
    }
    let mut rd = csv::ReaderBuilder::new().from_path(path).map_err(|e| Error::format(path, e.to_string()))?;
    let header: Vec<String> =
        rd.headers().map_err(|e| Error::format(path, e.to_string()))?.iter().map(str::to_string).collect();
    let find = |name: &str| header.iter().position(|h| h == name);
    let epoch = find("epoch").ok_or_else(|| Error::format(path, "no 'epoch' column: not a training log"))?;
    let wanted: Vec<(usize, String)> = if columns.is_empty() {
        DEFAULT_COLUMNS.iter().filter_map(|c| find(c).map(|i| (i, c.to_string()))).collect()
    } else {
        columns
            .iter()
            .map(|c| {
                find(c)
                    .map(|i| (i, c.clone()))
                    .ok_or_else(|| Error::format(path, format!("no column '{c}' (it has {})", header.join(", "))))
            })
            .collect::<Result<_>>()?
    };
    let mut series: Vec<Series> =
        wanted.iter().map(|(_, c)| Series { column: c.clone(), points: Vec::new() }).collect();
    for (i, row) in rd.records().enumerate() {
        let row = row.map_err(|e| Error::format(path, e.to_string()))?;
        let cell = |col: usize, name: &str| -> Result<Option<f64>> {
            match row.get(col).map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => match s.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(Error::format(path, format!("row {}: {name} '{s}' is not a finite number", i + 2))),
                },
            }
        };
        let Some(e) = cell(epoch, "epoch")? else {
            return Err(Error::format(path, format!("row {}: no epoch", i + 2)));
        };
        for (s, (col, name)) in series.iter_mut().zip(&wanted) {
            if let Some(v) = cell(*col, name)? {
                s.points.push((e, v));
            }
        }
    }
    series.retain(|s| !s.points.is_empty());
    if series.is_empty() {
        let asked = if columns.is_empty() { DEFAULT_COLUMNS.join(", ") } else { columns.join(", ") };
        return Err(Error::format(path, format!("no values to draw in {asked}")));
    }
    Ok(series)
}

/// A column's name in the legend: `train`, `val`, `test` for accuracies.
fn short(column: &str) -> &str {
    column.strip_suffix("_accuracy").unwrap_or(column)
}

/// Reads every log, draws the figure and writes OUT.png and OUT.svg (both or
/// neither). Returns the paths written.
pub fn write(req: &CurvesRequest) -> Result<Vec<PathBuf>> {
    if req.out.extension().is_none_or(|e| e != "png") {
        return Err(Error::Invalid(format!("--out {}: must end in .png (the SVG goes beside it)", req.out.display())));
    }
    let svg = req.out.with_extension("svg");
    // The stages' own check: never over a log, a folder that can be written, no dataset folder.
    let inputs: Vec<(&str, &Path)> = req.logs.iter().map(|(log, _)| ("log", log.as_path())).collect();
    let outputs = Outputs { flag: "--out", out: &req.out, side: vec![svg.clone()] };
    check_outputs(&outputs, &inputs, None)?;
    let mut curves = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for (k, (log, name)) in req.logs.iter().enumerate() {
        for s in read_log(log, &req.columns)? {
            if !columns.contains(&s.column) {
                columns.push(s.column.clone());
            }
            let stroke = if s.column.starts_with("train_") { Stroke::Dashed } else { Stroke::Solid };
            let points = s.points.iter().map(|&(x, y)| (x, y, 0.0)).collect();
            curves.push(Line { name: Some(format!("{name} {}", short(&s.column))), color: k, stroke, points });
        }
    }
    let (png, svg_text) = lines::epoch_curves(&req.title, &columns.join(", "), curves, &req.references)?;
    let mut staged = Staged::default();
    staged.add(&req.out, &png)?;
    staged.add(&svg, svg_text.as_bytes())?;
    staged.commit()?;
    Ok(vec![req.out.clone(), svg])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log.csv");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    const CLF: &str = "epoch,train_loss,train_accuracy,val_accuracy,test_accuracy,images_per_s,wall_s\n\
                       1,1.8,0.32,,0.44,281.7,177.5\n2,1.4,0.47,,0.55,234.3,213.4\n3,1.2,0.55,,,250.0,200.0\n";

    #[test]
    fn default_columns_are_those_with_values_and_rows_without_one_are_skipped() {
        let (_d, p) = log(CLF);
        let s = read_log(&p, &[]).unwrap();
        assert_eq!(
            s,
            vec![
                Series { column: "train_accuracy".into(), points: vec![(1.0, 0.32), (2.0, 0.47), (3.0, 0.55)] },
                Series { column: "test_accuracy".into(), points: vec![(1.0, 0.44), (2.0, 0.55)] },
            ]
        );
        let loss = read_log(&p, &["train_loss".into()]).unwrap();
        assert_eq!(loss[0].points[2], (3.0, 1.2));
    }

    #[test]
    fn bad_logs_are_refused_naming_the_file_row_and_column() {
        let cases = [
            (CLF, vec!["fid".to_string()], "no column 'fid' (it has epoch, train_loss"),
            ("step,loss\n1,0.5\n", vec![], "no 'epoch' column"),
            ("epoch,test_accuracy\n1,0.5\n2,nan\n", vec![], "row 3: test_accuracy 'nan' is not a finite number"),
            ("epoch,test_accuracy\n1,x\n", vec![], "row 2: test_accuracy 'x'"),
            ("epoch,test_accuracy\n,0.5\n", vec![], "row 2: no epoch"),
            ("epoch,fid\n1,30\n", vec![], "no values to draw in train_accuracy, val_accuracy"),
            ("epoch,test_accuracy\n1,0.5,7\n", vec![], "a.log.csv"),
        ];
        for (text, cols, says) in cases {
            let (_d, p) = log(text);
            let e = read_log(&p, &cols).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("a.log.csv"), "{text:?}: {e}");
        }
    }

    #[test]
    fn references_parse_as_value_and_label() {
        assert_eq!(parse_reference("0.6771=paper O/O").unwrap(), (0.6771, "paper O/O".to_string()));
        assert_eq!(parse_reference(" 1 = a=b").unwrap(), (1.0, "a=b".to_string()));
        for bad in ["0.5", "x=paper", "inf=paper"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
