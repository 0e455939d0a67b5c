//! Line charts: the regimes study's per-class recall per arm and accuracy
//! against the real fraction with a band over seeds, and `synthmix curves`'
//! training logs per epoch.

use super::chart::{Axis, Layout, Legend, Line, LineChart, Spread, Stroke};
use super::*;

/// Per-class recall, one line per arm (the regimes study's imbalance
/// figure); `sizes` (real training images per class) label the x axis.
pub fn recall_lines(title: &str, series: &[(String, Vec<f64>)], sizes: &[usize]) -> Result<Option<(Vec<u8>, String)>> {
    register_font();
    let k = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    if k == 0 {
        return Ok(None);
    }
    let lo = y_floor(series.iter().flat_map(|s| s.1.iter().copied()));
    let label = |x: &f64| {
        let c = x.round();
        if (x - c).abs() > 1e-6 || c < 0.0 || c as usize >= k {
            return String::new();
        }
        match sizes.get(c as usize) {
            Some(n) => format!("{c} (n={n})"),
            None => format!("{c}"),
        }
    };
    let ydesc = if lo > 0.0 { format!("recall (axis cut at {lo:.2})") } else { "recall".into() };
    let xdesc = if sizes.is_empty() { "class" } else { "class (real training images)" };
    let lines = series
        .iter()
        .enumerate()
        .map(|(j, (name, v))| Line {
            name: Some(name.clone()),
            color: j,
            stroke: Stroke::Solid,
            points: v.iter().enumerate().map(|(c, &r)| (c as f64, r, 0.0)).collect(),
        })
        .collect();
    let chart = LineChart {
        title: title.to_string(),
        x: Axis { ticks: Some(k), label: Some(&label), ..Axis::new(xdesc, (-0.3, k as f64 - 0.7)) },
        y: Axis { label: Some(&accuracy_tick), ..Axis::new(ydesc, (lo, y_top(lo))) },
        lines,
        spread: Spread::None,
        clip: (lo, 1.0),
        legend: Some(Legend::LowerLeft),
        layout: Layout { caption: 18, margin: 12, x_area: 50, y_area: 60, labels: 12 },
    };
    Figure { w: 900, h: 480, what: chart }.both().map(Some)
}

/// A named curve of (x, mean, std) points.
pub type Curve = (String, Vec<(f64, f64, f64)>);

/// Accuracy against the real fraction (log axis), one curve per series of
/// (fraction, mean, std) with a ±1 std band over seeds.
pub fn fraction_curves(title: &str, curves: &[Curve]) -> Result<Option<(Vec<u8>, String)>> {
    register_font();
    let all: Vec<&(f64, f64, f64)> = curves.iter().flat_map(|c| c.1.iter()).collect();
    if all.is_empty() {
        return Ok(None);
    }
    let lo = y_floor(all.iter().map(|p| p.1 - p.2));
    let xmin = all.iter().map(|p| p.0).fold(1.0f64, f64::min) * 0.8;
    // The band is named on the figure itself: a spread over seeds, not an interval.
    let ydesc = if lo > 0.0 {
        format!("test accuracy, band ±1 std over seeds (axis cut at {lo:.2})")
    } else {
        "test accuracy, band ±1 std over seeds".into()
    };
    let percent = |x: &f64| format!("{}%", (x * 1000.0).round() / 10.0);
    // An empty curve is left out but keeps its colour, so each series keeps its colour.
    let lines = curves
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.1.is_empty())
        .map(|(j, (name, pts))| {
            let mut points = pts.clone();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line { name: Some(name.clone()), color: j, stroke: Stroke::Solid, points }
        })
        .collect();
    let chart = LineChart {
        title: title.to_string(),
        x: Axis {
            log: true,
            label: Some(&percent),
            ..Axis::new("real fraction of the training set (log scale)", (xmin, 1.15))
        },
        y: Axis { label: Some(&accuracy_tick), ..Axis::new(ydesc, (lo, y_top(lo))) },
        lines,
        spread: Spread::Band,
        clip: (lo, 1.0),
        legend: Some(Legend::LowerRight),
        layout: Layout { caption: 18, margin: 12, x_area: 45, y_area: 60, labels: 12 },
    };
    Figure { w: 900, h: 520, what: chart }.both().map(Some)
}

/// Per-epoch curves of training logs (`synthmix curves`), each reference a
/// thin black line across every epoch, each in its own dash pattern. An axis of values within
/// [0, 1] is an accuracy axis (cut below the lowest value, as the studies'
/// figures); any other, described by `ydesc`, runs from the lowest to the
/// highest value.
pub fn epoch_curves(
    title: &str,
    ydesc: &str,
    mut curves: Vec<Line>,
    references: &[(f64, String)],
) -> Result<(Vec<u8>, String)> {
    register_font();
    let xs = || curves.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (x0, x1) = (xs().fold(f64::INFINITY, f64::min), xs().fold(f64::NEG_INFINITY, f64::max));
    if !x0.is_finite() {
        return Err(Error::Invalid("no values to draw".into()));
    }
    let x1 = x1.max(x0 + 1.0);
    let ys: Vec<f64> =
        curves.iter().flat_map(|l| l.points.iter().map(|p| p.1)).chain(references.iter().map(|r| r.0)).collect();
    let (lo, hi) =
        (ys.iter().copied().fold(f64::INFINITY, f64::min), ys.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let accuracy = lo >= 0.0 && hi <= 1.0;
    let y = if accuracy {
        let floor = y_floor(ys.iter().copied());
        let desc = if floor > 0.0 { format!("accuracy (axis cut at {floor:.2})") } else { "accuracy".into() };
        Axis { label: Some(&accuracy_tick), ..Axis::new(desc, (floor, y_top(floor))) }
    } else {
        let pad = ((hi - lo) * 0.05).max(1e-6);
        Axis::new(ydesc, (lo - pad, hi + pad * 4.0))
    };
    for (i, (value, name)) in references.iter().enumerate() {
        let points = vec![(x0, *value, 0.0), (x1, *value, 0.0)];
        // A reference's colour index picks its dash pattern: two lines stay apart in the legend.
        curves.push(Line { name: Some(name.clone()), color: i, stroke: Stroke::Reference, points });
    }
    let chart = LineChart {
        title: title.to_string(),
        x: Axis { label: Some(&epoch_tick), ..Axis::new("epoch", (x0, x1)) },
        y,
        lines: curves,
        spread: Spread::None,
        clip: (f64::NEG_INFINITY, f64::INFINITY),
        // Accuracies rise over the epochs and losses fall: the legend goes where the curves are not.
        legend: Some(if accuracy { Legend::LowerRight } else { Legend::UpperRight }),
        layout: Layout { caption: 18, margin: 12, x_area: 45, y_area: 60, labels: 12 },
    };
    Figure { w: 900, h: 520, what: chart }.both()
}
