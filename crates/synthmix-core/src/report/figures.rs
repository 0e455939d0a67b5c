//! The report's figures as PNG: Figure 1 (real beside synthetic samples),
//! Figure 2 (accuracy per train–test combination, bars with error bars) and
//! accuracy against the O:S ratio per test set. Drawn with plotters, text in
//! the bundled DejaVu Sans Mono so every machine draws the same pictures.

use std::sync::Once;

use image::{Rgb, RgbImage};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::generators::GeneratorInfo;
use super::grid::{self, GridOptions};
use super::model::{dataset_title, datasets_of, generators_of, Cells, Mix, TestKind};
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

/// Lower end of a line plot's accuracy axis: a little below the lowest error bar, on a 0.05 step.
fn y_floor(values: impl Iterator<Item = f64>) -> f64 {
    let lo = values.fold(1.0f64, f64::min);
    ((lo - 0.02) / 0.05).floor().clamp(0.0, 19.0) * 0.05
}

/// Top of the accuracy axis: room above 1.0 for the legend.
fn y_top(lo: f64) -> f64 {
    1.0 + (1.0 - lo) * 0.22
}

/// A tick label of a training mix that no one reads as a zero or a count.
fn mix_tick(m: &Mix) -> String {
    match m.label().as_str() {
        "O" => "O (real)".into(),
        "S" => "S (synth)".into(),
        other => other.into(),
    }
}

struct Panel {
    title: String,
    groups: Vec<Mix>,
    tests: Vec<TestKind>,
    /// (group, test) → (mean, std)
    values: Vec<Vec<Option<(f64, f64)>>>,
}

/// One panel per dataset and generator with at least `min_groups` mixes;
/// lettered (a), (b), … only when there is more than one.
fn panels(cells: &Cells, min_groups: usize) -> Vec<Panel> {
    let mut out = Vec::new();
    for d in datasets_of(cells) {
        for g in generators_of(cells, &d) {
            let keys: Vec<_> = cells.keys().filter(|k| k.0 == d && k.1 == g).collect();
            let mut groups: Vec<Mix> = keys.iter().map(|k| k.2).collect();
            groups.sort();
            groups.dedup();
            if groups.len() < min_groups {
                continue;
            }
            let mut tests: Vec<TestKind> = keys.iter().map(|k| k.3.clone()).collect();
            tests.sort();
            tests.dedup();
            let values = groups
                .iter()
                .map(|m| {
                    tests
                        .iter()
                        .map(|t| cells.get(&(d.clone(), g.clone(), *m, t.clone())).map(|c| (c.mean, c.std)))
                        .collect()
                })
                .collect();
            let gl = g.as_ref().map(|g| format!(", generator {}", g.label())).unwrap_or_default();
            out.push(Panel { title: format!("{}{gl}", dataset_title(&d)), groups, tests, values });
        }
    }
    if out.len() > 1 {
        for (n, p) in out.iter_mut().enumerate() {
            p.title = format!("({}) {}", (b'a' + (n % 26) as u8) as char, p.title);
        }
    }
    out
}

/// Panels laid out in rows of at most `cols`.
fn grid_dims(n: usize, cols: usize) -> (usize, usize) {
    let c = n.clamp(1, cols);
    (n.div_ceil(c), c)
}

/// A figure's pixels as PNG bytes: `draw` paints on a white `w` × `h` area.
fn png_of<F>(w: u32, h: u32, draw: F) -> Result<Vec<u8>>
where
    F: FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
{
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    to_png(buf, w, h)
}

/// The same figure as SVG text (for the HTML page, where it stays sharp).
fn svg_of<F>(w: u32, h: u32, draw: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
{
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(s)
}

/// A figure drawn on any plotters backend, so one drawing gives the report's
/// PNG and the page's SVG.
pub struct Figure<T> {
    w: u32,
    h: u32,
    what: T,
}

/// What a [`Figure`] draws.
pub trait Draw {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

impl<T: Draw> Figure<T> {
    pub fn png(&self) -> Result<Vec<u8>> {
        png_of(self.w, self.h, |r| self.what.draw(r))
    }

    pub fn svg(&self) -> Result<String> {
        svg_of(self.w, self.h, |r| self.what.draw(r))
    }
}

/// Panels in a grid of at most two columns.
pub struct PanelGrid {
    panels: Vec<Panel>,
    bars: bool,
}

impl Draw for PanelGrid {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (rows, cols) = grid_dims(self.panels.len(), 2);
        for (p, area) in self.panels.iter().zip(root.split_evenly((rows, cols)).iter()) {
            if self.bars {
                bar_panel(p, area)?;
            } else {
                ratio_panel(p, area)?;
            }
        }
        Ok(())
    }
}

fn panel_figure(cells: &Cells, bars: bool) -> Option<Figure<PanelGrid>> {
    register_font();
    let panels = panels(cells, if bars { 1 } else { 3 });
    if panels.is_empty() {
        return None;
    }
    let (rows, cols) = grid_dims(panels.len(), 2);
    let (pw, ph) = (760u32, 440u32);
    Some(Figure { w: pw * cols as u32, h: ph * rows as u32, what: PanelGrid { panels, bars } })
}

/// Figure 2: per dataset and generator, bars of mean test accuracy for
/// every training mix and test set, with ±1 std error bars over seeds; the
/// accuracy axis starts at 0. `None` when there is nothing to draw.
pub fn bars_figure(cells: &Cells) -> Option<Figure<PanelGrid>> {
    panel_figure(cells, true)
}

pub fn bars(cells: &Cells) -> Result<Option<Vec<u8>>> {
    bars_figure(cells).map(|f| f.png()).transpose()
}

fn bar_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> Result<()> {
    let (lo, n) = (0.0, p.groups.len());
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..1.3f64)
        .map_err(plot_err)?;
    let labels: Vec<String> = p.groups.iter().map(mix_tick).collect();
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
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(plot_err)?;
    let bw = 0.8 / p.tests.len() as f64;
    for (j, t) in p.tests.iter().enumerate() {
        let color = COLORS[j % COLORS.len()];
        let pts: Vec<(usize, f64, f64)> =
            p.values.iter().enumerate().filter_map(|(g, row)| row[j].map(|(m, s)| (g, m, s))).collect();
        let x0 = |g: usize| g as f64 - 0.4 + j as f64 * bw;
        chart
            .draw_series(
                pts.iter()
                    .map(|&(g, m, _)| Rectangle::new([(x0(g) + 0.01, lo), (x0(g) + bw - 0.01, m)], color.filled())),
            )
            .map_err(plot_err)?
            .label(t.title())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        chart
            .draw_series(pts.iter().map(|&(g, m, s)| {
                ErrorBar::new_vertical(x0(g) + bw / 2.0, (m - s).max(lo), m, (m + s).min(1.0), BLACK.stroke_width(1), 6)
            }))
            .map_err(plot_err)?;
    }
    legend(&mut chart)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

/// Accuracy against the real share of the training images (O at 1, S at 0,
/// 10:1 at 0.91, 1:2 at 0.33), one line per test set with ±1 std error bars
/// over seeds, one panel per dataset and generator with at least three mixes.
/// The accuracy axis is cut (its range is printed on it).
pub fn ratio_curves_figure(cells: &Cells) -> Option<Figure<PanelGrid>> {
    panel_figure(cells, false)
}

pub fn ratio_curves(cells: &Cells) -> Result<Option<Vec<u8>>> {
    ratio_curves_figure(cells).map(|f| f.png()).transpose()
}

fn ratio_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> Result<()> {
    let lo = y_floor(p.values.iter().flatten().flatten().map(|(m, s)| m - s));
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.03f64..1.03, lo..y_top(lo))
        .map_err(plot_err)?;
    let ydesc = if lo > 0.0 { format!("test accuracy (axis cut at {lo:.2})") } else { "test accuracy".into() };
    chart
        .configure_mesh()
        .x_labels(11)
        .x_label_formatter(&|x: &f64| format!("{x:.1}"))
        .x_desc("real share of the training images (S = 0, 1:1 = 0.5, 10:1 = 0.91, O = 1)")
        .y_desc(ydesc)
        .y_label_formatter(&accuracy_tick)
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(plot_err)?;
    let mut order: Vec<usize> = (0..p.groups.len()).collect();
    order.sort_by(|&a, &b| p.groups[a].real_share().total_cmp(&p.groups[b].real_share()));
    for (j, t) in p.tests.iter().enumerate() {
        let color = COLORS[j % COLORS.len()];
        let pts: Vec<(f64, f64, f64)> =
            order.iter().filter_map(|&g| p.values[g][j].map(|(m, s)| (p.groups[g].real_share(), m, s))).collect();
        chart
            .draw_series(LineSeries::new(pts.iter().map(|&(x, m, _)| (x, m)), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(t.title())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&(x, m, _)| Circle::new((x, m), 3, color.filled()))).map_err(plot_err)?;
        chart
            .draw_series(pts.iter().map(|&(x, m, s)| {
                ErrorBar::new_vertical(x, (m - s).max(lo), m, (m + s).min(1.0), color.stroke_width(1), 6)
            }))
            .map_err(plot_err)?;
    }
    legend(&mut chart)
}

/// A generator's FID (left) and recognition (right) per epoch, from its log.
pub struct GeneratorCurves<'a>(&'a GeneratorInfo);

pub fn generator_curves_figure(g: &GeneratorInfo) -> Option<Figure<GeneratorCurves<'_>>> {
    register_font();
    let any = g.curve.iter().any(|(_, f, r)| f.is_some() || r.is_some());
    any.then_some(Figure { w: 1100, h: 380, what: GeneratorCurves(g) })
}

pub fn generator_curves(g: &GeneratorInfo) -> Result<Option<Vec<u8>>> {
    generator_curves_figure(g).map(|f| f.png()).transpose()
}

impl Draw for GeneratorCurves<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let g = self.0;
        let fid: Vec<(f64, f64)> = g.curve.iter().filter_map(|(e, f, _)| f.map(|f| (*e as f64, f))).collect();
        let rec: Vec<(f64, f64)> = g.curve.iter().filter_map(|(e, _, r)| r.map(|r| (*e as f64, r))).collect();
        let areas = root.split_evenly((1, 2));
        let last = g.curve.iter().map(|c| c.0).max().unwrap_or(1).max(2) as f64;
        // FID falls by orders of magnitude over training: a log axis spanning whole decades.
        let fmin = fid.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).max(1e-3);
        let fmax = fid.iter().map(|p| p.1).fold(1e-3, f64::max);
        let (dlo, dhi) =
            (10f64.powf(fmin.log10().floor()), 10f64.powf(fmax.log10().ceil().max(fmin.log10().floor() + 1.0)));
        let epochs = |x: &f64| if (x - x.round()).abs() < 1e-9 { format!("{x:.0}") } else { String::new() };
        let n_ticks = (last as usize).min(15);
        let mut c = ChartBuilder::on(&areas[0])
            .caption(format!("{}, generator {}: FID", dataset_title(&g.dataset), g.id.label()), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(1f64..last, (dlo..dhi).log_scale())
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_labels(n_ticks)
            .x_label_formatter(&epochs)
            .y_label_formatter(&|y: &f64| format!("{y}"))
            .light_line_style(TRANSPARENT)
            .x_desc("epoch")
            .y_desc("FID (log scale; lower is better)")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        c.draw_series(LineSeries::new(fid.iter().copied(), COLORS[0].stroke_width(2))).map_err(plot_err)?;
        c.draw_series(fid.iter().map(|&p| Circle::new(p, 3, COLORS[0].filled()))).map_err(plot_err)?;
        let mut c = ChartBuilder::on(&areas[1])
            .caption(
                format!("{}, generator {}: recognition", dataset_title(&g.dataset), g.id.label()),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(1f64..last, 0f64..1.0)
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_labels(n_ticks)
            .x_label_formatter(&epochs)
            .light_line_style(TRANSPARENT)
            .x_desc("epoch")
            .y_desc("recognition (chance = 1 / classes)")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        c.draw_series(LineSeries::new(rec.iter().copied(), COLORS[1].stroke_width(2))).map_err(plot_err)?;
        c.draw_series(rec.iter().map(|&p| Circle::new(p, 3, COLORS[1].filled()))).map_err(plot_err)?;
        Ok(())
    }
}

/// Per-class recall, one line per arm (the regimes study's imbalance
/// figure); `sizes` (real training images per class) label the x axis.
pub fn recall_lines(title: &str, series: &[(String, Vec<f64>)], sizes: &[usize]) -> Result<Option<Vec<u8>>> {
    register_font();
    let k = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    if k == 0 {
        return Ok(None);
    }
    let (w, h) = (900u32, 480u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let lo = y_floor(series.iter().flat_map(|s| s.1.iter().copied()));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.3f64..(k as f64 - 0.7), lo..y_top(lo))
            .map_err(plot_err)?;
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
        chart
            .configure_mesh()
            .x_labels(k)
            .x_label_formatter(&label)
            .x_desc(if sizes.is_empty() { "class" } else { "class (real training images)" })
            .y_desc(ydesc)
            .y_label_formatter(&accuracy_tick)
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        for (j, (name, v)) in series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let pts: Vec<(f64, f64)> = v.iter().enumerate().map(|(c, &r)| (c as f64, r)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}

/// A named curve of (x, mean, std) points.
pub type Curve = (String, Vec<(f64, f64, f64)>);

/// Accuracy against the real fraction (log axis), one curve per series of
/// (fraction, mean, std) with a ±1 std band over seeds.
pub fn fraction_curves(title: &str, curves: &[Curve]) -> Result<Option<Vec<u8>>> {
    register_font();
    let all: Vec<&(f64, f64, f64)> = curves.iter().flat_map(|c| c.1.iter()).collect();
    if all.is_empty() {
        return Ok(None);
    }
    let (w, h) = (900u32, 520u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let lo = y_floor(all.iter().map(|p| p.1 - p.2));
        let xmin = all.iter().map(|p| p.0).fold(1.0f64, f64::min) * 0.8;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((xmin..1.15f64).log_scale(), lo..y_top(lo))
            .map_err(plot_err)?;
        let ydesc = if lo > 0.0 { format!("test accuracy (axis cut at {lo:.2})") } else { "test accuracy".into() };
        chart
            .configure_mesh()
            .x_label_formatter(&|x: &f64| format!("{}%", (x * 1000.0).round() / 10.0))
            .x_desc("real fraction of the training set (log scale)")
            .y_desc(ydesc)
            .y_label_formatter(&accuracy_tick)
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        for (j, (name, pts)) in curves.iter().enumerate() {
            if pts.is_empty() {
                continue;
            }
            let color = COLORS[j % COLORS.len()];
            let mut pts = pts.clone();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, (p.1 + p.2).min(1.0)))
                .chain(pts.iter().rev().map(|p| (p.0, (p.1 - p.2).max(lo))))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.15).filled()))).map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, color.filled()))).map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}

/// One paired difference to draw: a row of a forest plot.
#[derive(Debug, Clone)]
pub struct Effect {
    /// Rows are grouped by this (e.g. the regime) …
    pub group: String,
    /// … and coloured by this (e.g. the strategy).
    pub series: String,
    pub interval: super::stats::Interval,
}

/// A forest plot: one row per effect (mean and 95 % interval of a paired
/// difference), grouped, with the zero line; infinite intervals are clipped
/// to the axis. `None` when there is nothing to draw.
pub fn effects(title: &str, effects: &[Effect]) -> Result<Option<Vec<u8>>> {
    register_font();
    if effects.is_empty() {
        return Ok(None);
    }
    let mut series: Vec<&str> = Vec::new();
    for e in effects {
        if !series.contains(&e.series.as_str()) {
            series.push(&e.series);
        }
    }
    let finite = |x: f64| x.is_finite().then_some(x);
    let lo = effects.iter().filter_map(|e| finite(e.interval.lo)).fold(0.0f64, f64::min);
    let hi = effects.iter().filter_map(|e| finite(e.interval.hi)).fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.002);
    let (xlo, xhi) = (lo - pad, hi + pad);
    let n = effects.len();
    let (w, h) = (900u32, (140 + 26 * n as u32).min(4000));
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let labels: Vec<String> = effects.iter().map(|e| format!("{} · {}", e.group, e.series)).collect();
        // Room for the longest label (≈ 7 px a character at 12 px), no more.
        let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size((widest * 7 + 16).clamp(120, 480))
            .build_cartesian_2d(xlo..xhi, -0.5f64..(n as f64 - 0.5))
            .map_err(plot_err)?;
        let ylabel = |y: &f64| {
            let r = y.round();
            if (y - r).abs() > 1e-6 || r < 0.0 || r as usize >= n {
                return String::new();
            }
            labels[n - 1 - r as usize].clone()
        };
        chart
            .configure_mesh()
            .y_labels(n)
            .y_label_formatter(&ylabel)
            .x_desc("paired difference in test accuracy (95 % interval)")
            .x_label_formatter(&|x: &f64| format!("{x:+.3}"))
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                BLACK.stroke_width(1),
            )))
            .map_err(plot_err)?;
        for (j, s) in series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let rows: Vec<(f64, &Effect)> = effects
                .iter()
                .enumerate()
                .filter(|(_, e)| e.series == *s)
                .map(|(i, e)| ((n - 1 - i) as f64, e))
                .collect();
            let clip = |x: f64| {
                if x.is_finite() {
                    x.clamp(xlo, xhi)
                } else if x > 0.0 {
                    xhi
                } else {
                    xlo
                }
            };
            chart
                .draw_series(rows.iter().map(|(y, e)| {
                    PathElement::new(vec![(clip(e.interval.lo), *y), (clip(e.interval.hi), *y)], color.stroke_width(2))
                }))
                .map_err(plot_err)?;
            chart
                .draw_series(rows.iter().map(|(y, e)| Circle::new((e.interval.mean, *y), 4, color.filled())))
                .map_err(plot_err)?;
        }
        // No legend: every row's label names its series, and a legend box
        // would hide the rows under it.
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}

/// Blue for a gain, red for a loss, white at 0; `x` in −1…1.
fn diverging(x: f64) -> RGBColor {
    let x = x.clamp(-1.0, 1.0);
    let (r, g, b) = if x >= 0.0 { (33.0, 102.0, 172.0) } else { (178.0, 24.0, 43.0) };
    let a = x.abs();
    let mix = |c: f64| (255.0 + (c - 255.0) * a).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

/// The MNIST-C heatmap of one table: rows the corruptions and their mean,
/// columns the mixes; a cell's colour is its mean difference to O (scaled to
/// the largest), its text that difference in percentage points (`*` when the
/// 95 % interval is off 0); O's column shows O's accuracy in grey.
pub fn corruption_heatmap(t: &super::corruptions::CorruptionTable) -> Result<Option<Vec<u8>>> {
    use super::corruptions::Effect;
    register_font();
    let rows = t.row_titles();
    if rows.is_empty() || t.mixes.is_empty() {
        return Ok(None);
    }
    // The scale follows the mixes with real images: S's far larger loss
    // would wash them out, so S's cells saturate instead.
    let has_real = |k: &usize| t.mixes[*k].original > 0;
    let scale_of = |keep: &dyn Fn(&usize) -> bool| {
        let ks: Vec<usize> = (0..t.mixes.len()).filter(|k| keep(k)).collect();
        t.diffs.iter().flat_map(|row| ks.iter().filter_map(|k| row[*k])).map(|i| i.mean.abs()).fold(0.0f64, f64::max)
    };
    let scale = match scale_of(&has_real) {
        x if x > 0.0 => x.max(0.005),
        _ => scale_of(&|_| true).max(0.005),
    };
    let (cw, ch, left, top) = (84i32, 30i32, 150i32, 74i32);
    // At least the title's width (about 10 px a character at 16 px).
    let w = (left + cw * t.mixes.len() as i32 + 16).max(620) as u32;
    let h = (top + ch * rows.len() as i32 + 44) as u32;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let font = |px: i32| ("sans-serif", px).into_font().color(&BLACK);
        let title = format!("MNIST-C, generator {}: difference to O (pp)", t.generator_label());
        root.draw(&Text::new(title, (10, 10), font(16))).map_err(plot_err)?;
        for (k, m) in t.mixes.iter().enumerate() {
            let x = left + cw * k as i32 + cw / 2 - 4 * mix_tick(m).chars().count() as i32;
            root.draw(&Text::new(mix_tick(m), (x, top - 22), font(13))).map_err(plot_err)?;
        }
        for (r, title) in rows.iter().enumerate() {
            let y = top + ch * r as i32;
            root.draw(&Text::new(title.clone(), (10, y + 8), font(13))).map_err(plot_err)?;
            for (k, m) in t.mixes.iter().enumerate() {
                let x = left + cw * k as i32;
                let (fill, text) = heat_cell(t, r, k, *m, scale, Effect::of);
                root.draw(&Rectangle::new([(x, y), (x + cw - 2, y + ch - 2)], fill.filled())).map_err(plot_err)?;
                let tx = x + cw / 2 - 4 * text.chars().count() as i32;
                // White on the darkest fills, where black would not read.
                let dark = 0.3 * f64::from(fill.0) + 0.59 * f64::from(fill.1) + 0.11 * f64::from(fill.2) < 120.0;
                let ink = if dark { WHITE } else { BLACK };
                let style = ("sans-serif", 13).into_font().color(&ink);
                root.draw(&Text::new(text, (tx, y + 8), style)).map_err(plot_err)?;
            }
        }
        // The last row (the mean) is set off by a rule.
        let y = top + ch * (rows.len() as i32 - 1) - 2;
        root.draw(&PathElement::new(vec![(10, y), (w as i32 - 10, y)], BLACK.stroke_width(1))).map_err(plot_err)?;
        let legend = format!("colour: ±{:.1} pp = full (beyond: clipped); * = 95 % interval off 0", scale * 100.0);
        root.draw(&Text::new(legend, (10, h as i32 - 28), font(12))).map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}

/// One heatmap cell's colour and text.
fn heat_cell(
    t: &super::corruptions::CorruptionTable,
    r: usize,
    k: usize,
    m: Mix,
    scale: f64,
    effect: fn(&super::stats::Interval) -> super::corruptions::Effect,
) -> (RGBColor, String) {
    if m == Mix::new(1, 0) {
        let text = t.cells[r][k].as_ref().map(|c| format!("{:.1}%", c.mean * 100.0)).unwrap_or_else(|| "–".into());
        return (RGBColor(225, 225, 225), text);
    }
    match &t.diffs[r][k] {
        Some(i) => {
            let star = if effect(i) == super::corruptions::Effect::Inconclusive { "" } else { "*" };
            (diverging(i.mean / scale), format!("{:+.1}{star}", i.mean * 100.0))
        }
        None => (WHITE, "–".into()),
    }
}
