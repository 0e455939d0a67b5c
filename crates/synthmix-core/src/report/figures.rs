//! The report's figures as PNG: Figure 1 (real beside synthetic samples),
//! Figure 2 (accuracy per train–test combination, bars with error bars) and
//! accuracy against the O:S ratio per test set. Drawn with plotters, text in
//! the bundled DejaVu Sans Mono so every machine draws the same pictures.

use std::sync::Once;

use image::{Rgb, RgbImage};
use plotters::prelude::*;

use super::grid::{self, GridOptions};
use super::study::{dataset_title, datasets_of, Cells, Mix, TestKind};
use crate::data::{self, DataOptions};
use crate::error::{Error, Result};

static FONT: &[u8] = include_bytes!("../../../../assets/DejaVuSansMono.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for family in ["sans-serif", "serif", "monospace"] {
            for style in [FontStyle::Normal, FontStyle::Bold] {
                let _ = plotters::style::register_font(family, style, FONT);
            }
        }
    });
}

fn plot_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("drawing a figure: {e:?}"))
}

/// Figure 1 for one dataset: a grid of real test images (left) beside a grid
/// of the synthetic set (right), one row per class.
pub fn real_vs_synthetic(dataset: &str, synthetic: &str, opts: &DataOptions) -> Result<Vec<u8>> {
    let real = data::load_set(&format!("{dataset}:test"), opts)?;
    let synth = data::load_set(synthetic, opts)?;
    let go = |t: &str| GridOptions { per_class: 8, scale: 2, title: Some(t.to_string()) };
    let a = grid::render(&real, &go(&format!("{} real", dataset_title(dataset))))?;
    let b = grid::render(&synth, &go(&format!("{} synthetic", dataset_title(dataset))))?;
    let gap = 16;
    let (w, h) = (a.width() + gap + b.width(), a.height().max(b.height()));
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    image::imageops::overlay(&mut img, &a, 0, 0);
    image::imageops::overlay(&mut img, &b, (a.width() + gap) as i64, 0);
    grid::png_bytes(&img)
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn to_png(buf: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>> {
    let img = RgbImage::from_raw(w, h, buf).ok_or_else(|| Error::Invalid("figure buffer has the wrong size".into()))?;
    grid::png_bytes(&img)
}

/// The label of group `x` on an axis whose groups sit at 0, 1, 2, …;
/// empty between them.
fn group_tick(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
        labels[i as usize].clone()
    } else {
        String::new()
    }
}

/// An accuracy tick, none above 1 (the head room for error bars).
fn accuracy_tick(y: &f64) -> String {
    if *y <= 1.0 + 1e-9 {
        format!("{y:.2}")
    } else {
        String::new()
    }
}

/// Lower end of the accuracy axis: a little below the lowest error bar, on a 0.05 step.
fn y_floor(values: impl Iterator<Item = f64>) -> f64 {
    let lo = values.fold(1.0f64, f64::min);
    ((lo - 0.02) / 0.05).floor().clamp(0.0, 19.0) * 0.05
}

/// Top of the accuracy axis: room above 1.0 for the legend.
fn y_top(lo: f64) -> f64 {
    1.0 + (1.0 - lo) * 0.22
}

struct Panel {
    title: String,
    groups: Vec<Mix>,
    tests: Vec<TestKind>,
    /// (group, test) → (mean, std)
    values: Vec<Vec<Option<(f64, f64)>>>,
}

fn panels(cells: &Cells, only: Option<&[&str]>) -> Vec<Panel> {
    let mut out = Vec::new();
    for (n, d) in datasets_of(cells).into_iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&d.as_str())) {
            continue;
        }
        let mut groups: Vec<Mix> = cells.keys().filter(|k| k.0 == d).map(|k| k.1).collect();
        groups.sort();
        groups.dedup();
        let mut tests: Vec<TestKind> = cells.keys().filter(|k| k.0 == d).map(|k| k.2.clone()).collect();
        tests.sort();
        tests.dedup();
        let values = groups
            .iter()
            .map(|m| tests.iter().map(|t| cells.get(&(d.clone(), *m, t.clone())).map(|c| (c.mean, c.std))).collect())
            .collect();
        let letter = (b'a' + n as u8) as char;
        out.push(Panel { title: format!("({letter}) {}", dataset_title(&d)), groups, tests, values });
    }
    out
}

/// Figure 2: per dataset, bars of mean test accuracy for every training mix
/// and test set, with ±1 std error bars. `None` when there is nothing to draw.
pub fn bars(cells: &Cells) -> Result<Option<Vec<u8>>> {
    register_font();
    let ps = panels(cells, None);
    if ps.is_empty() {
        return Ok(None);
    }
    let (pw, h) = (720u32, 480u32);
    let w = pw * ps.len() as u32;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let areas = root.split_evenly((1, ps.len()));
        for (p, area) in ps.iter().zip(areas.iter()) {
            let lo = y_floor(p.values.iter().flatten().flatten().map(|(m, s)| m - s));
            let n = p.groups.len();
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..y_top(lo))
                .map_err(plot_err)?;
            let labels: Vec<String> = p.groups.iter().map(|m| m.label()).collect();
            let fmt = |x: &f64| group_tick(&labels, *x);
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n.max(2))
                .x_label_formatter(&fmt)
                .x_desc("training data (O:S)")
                .y_desc("test accuracy")
                .y_label_formatter(&accuracy_tick)
                .light_line_style(TRANSPARENT)
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
            let k = p.tests.len();
            let bw = 0.8 / k as f64;
            for (j, t) in p.tests.iter().enumerate() {
                let color = COLORS[j % COLORS.len()];
                let rects: Vec<_> = p
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(g, row)| row[j].map(|(m, _)| (g, m)))
                    .map(|(g, m)| {
                        let x0 = g as f64 - 0.4 + j as f64 * bw;
                        Rectangle::new([(x0 + 0.01, lo), (x0 + bw - 0.01, m)], color.filled())
                    })
                    .collect();
                chart
                    .draw_series(rects)
                    .map_err(plot_err)?
                    .label(t.title())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
                let errs: Vec<_> = p
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(g, row)| row[j].map(|(m, s)| (g, m, s)))
                    .map(|(g, m, s)| {
                        let xc = g as f64 - 0.4 + (j as f64 + 0.5) * bw;
                        ErrorBar::new_vertical(xc, (m - s).max(lo), m, (m + s).min(1.0), BLACK.stroke_width(1), 6)
                    })
                    .collect();
                chart.draw_series(errs).map_err(plot_err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}

/// Accuracy against the O:S ratio (real share decreasing left to right), one
/// line per test set with ±1 std error bars, one panel per dataset that has
/// at least three mixes.
pub fn ratio_curves(cells: &Cells) -> Result<Option<Vec<u8>>> {
    register_font();
    let mut ps: Vec<Panel> = panels(cells, None).into_iter().filter(|p| p.groups.len() >= 3).collect();
    if ps.is_empty() {
        return Ok(None);
    }
    // Order by real share: O first, S last.
    for p in &mut ps {
        let mut idx: Vec<usize> = (0..p.groups.len()).collect();
        idx.sort_by(|&a, &b| p.groups[b].real_share().total_cmp(&p.groups[a].real_share()));
        p.groups = idx.iter().map(|&i| p.groups[i]).collect();
        p.values = idx.iter().map(|&i| p.values[i].clone()).collect();
    }
    let (pw, h) = (760u32, 480u32);
    let w = pw * ps.len() as u32;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let areas = root.split_evenly((1, ps.len()));
        for (p, area) in ps.iter().zip(areas.iter()) {
            let lo = y_floor(p.values.iter().flatten().flatten().map(|(m, s)| m - s));
            let n = p.groups.len();
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{}: accuracy vs O:S", p.title), ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..y_top(lo))
                .map_err(plot_err)?;
            let labels: Vec<String> = p.groups.iter().map(|m| m.label()).collect();
            let fmt = |x: &f64| group_tick(&labels, *x);
            chart
                .configure_mesh()
                .x_labels(n.max(2))
                .x_label_formatter(&fmt)
                .x_desc("training data O:S (real share decreasing →)")
                .y_desc("test accuracy")
                .y_label_formatter(&accuracy_tick)
                .light_line_style(TRANSPARENT)
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
            for (j, t) in p.tests.iter().enumerate() {
                let color = COLORS[j % COLORS.len()];
                let pts: Vec<(f64, f64, f64)> =
                    p.values.iter().enumerate().filter_map(|(g, row)| row[j].map(|(m, s)| (g as f64, m, s))).collect();
                chart
                    .draw_series(LineSeries::new(pts.iter().map(|&(x, m, _)| (x, m)), color.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(t.title())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                chart
                    .draw_series(pts.iter().map(|&(x, m, _)| Circle::new((x, m), 4, color.filled())))
                    .map_err(plot_err)?;
                chart
                    .draw_series(pts.iter().map(|&(x, m, s)| {
                        ErrorBar::new_vertical(x, (m - s).max(lo), m, (m + s).min(1.0), color.stroke_width(1), 8)
                    }))
                    .map_err(plot_err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}
