//! The paper study's figures: Figure 1 (real beside synthetic samples), Figure 2
//! (bars per train-test combination), accuracy against the O:S ratio, and each
//! generator's FID and recognition per epoch.

use super::chart::{Axis, Layout, Legend, Line, LineChart, Spread, Stroke};
use super::*;

/// Figure 1 for one dataset: a grid of real test images (left) beside a grid
/// of the synthetic set (right), one row per class; `real` names the real
/// test set (`mnist:test`, or an imported set's file).
pub fn real_vs_synthetic(real: &str, dataset: &str, synthetic: &str, opts: &DataOptions) -> Result<Vec<u8>> {
    let real = data::load_set(real, opts)?;
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

pub(super) struct Panel {
    title: String,
    groups: Vec<Mix>,
    tests: Vec<TestKind>,
    /// (group, test) → (mean, std)
    values: Vec<Vec<Option<(f64, f64)>>>,
}

/// One panel per dataset and generator with at least `min_groups` mixes;
/// lettered (a), (b), … only when there is more than one.
pub(super) fn panels(cells: &Cells, min_groups: usize) -> Vec<Panel> {
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

/// Panels in a grid of at most two columns.
pub struct PanelGrid {
    panels: Vec<Panel>,
    bars: bool,
}

impl Draw for PanelGrid {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (rows, cols) = grid_dims(self.panels.len(), 2);
        // One accuracy axis for every panel, so panels compare at a glance.
        let lo = y_floor(self.panels.iter().flat_map(|p| p.values.iter().flatten().flatten().map(|(m, s)| m - s)));
        for (p, area) in self.panels.iter().zip(root.split_evenly((rows, cols)).iter()) {
            if self.bars {
                bar_panel(p, area)?;
            } else {
                ratio_panel(p, lo, area)?;
            }
        }
        Ok(())
    }
}

pub(super) fn panel_figure(cells: &Cells, bars: bool) -> Option<Figure<PanelGrid>> {
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

pub(super) fn bar_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> Result<()> {
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

/// Accuracy against the real share of the training images (O at 1, S at 0,
/// 10:1 at 0.91, 1:2 at 0.33), one line per test set with ±1 std error bars
/// over seeds, one panel per dataset and generator with at least three mixes.
/// The accuracy axis is cut at one value for every panel (printed on it).
pub fn ratio_curves_figure(cells: &Cells) -> Option<Figure<PanelGrid>> {
    panel_figure(cells, false)
}

pub fn ratio_curves(cells: &Cells) -> Result<Option<Vec<u8>>> {
    ratio_curves_figure(cells).map(|f| f.png()).transpose()
}

pub(super) fn ratio_panel<DB: DrawingBackend>(p: &Panel, lo: f64, area: &DrawingArea<DB, Shift>) -> Result<()> {
    let ydesc = if lo > 0.0 { format!("test accuracy (axis cut at {lo:.2})") } else { "test accuracy".into() };
    let mut order: Vec<usize> = (0..p.groups.len()).collect();
    order.sort_by(|&a, &b| p.groups[a].real_share().total_cmp(&p.groups[b].real_share()));
    let lines = p
        .tests
        .iter()
        .enumerate()
        .map(|(j, t)| Line {
            name: Some(t.title()),
            color: j,
            stroke: Stroke::Solid,
            points: order
                .iter()
                .filter_map(|&g| p.values[g][j].map(|(m, s)| (p.groups[g].real_share(), m, s)))
                .collect(),
        })
        .collect();
    // The ends are the mixes themselves: S and O (real), never read as counts.
    let one_decimal = |x: &f64| match x {
        x if x.abs() < 1e-6 => "S".to_string(),
        x if (x - 1.0).abs() < 1e-6 => "O (real)".to_string(),
        x => format!("{x:.1}"),
    };
    LineChart {
        title: p.title.clone(),
        x: Axis {
            ticks: Some(11),
            label: Some(&one_decimal),
            ..Axis::new(
                "real share of the training images (S = 0, 1:1 = 0.5, 10:1 = 0.91, O (real) = 1)",
                (-0.03, 1.06),
            )
        },
        y: Axis { label: Some(&accuracy_tick), ..Axis::new(ydesc, (lo, y_top(lo))) },
        lines,
        spread: Spread::Bars,
        clip: (lo, 1.0),
        legend: Some(Legend::UpperRight),
        layout: Layout { caption: 18, margin: 12, x_area: 40, y_area: 60, labels: 13 },
    }
    .draw(area)
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
        let fid: Vec<(f64, f64, f64)> = g.curve.iter().filter_map(|(e, f, _)| f.map(|f| (*e as f64, f, 0.0))).collect();
        let rec: Vec<(f64, f64, f64)> = g.curve.iter().filter_map(|(e, _, r)| r.map(|r| (*e as f64, r, 0.0))).collect();
        // The dataset and generator once above both panels: in each panel's
        // title a long generator label ran into the other panel.
        let caption = format!("{}, generator {}", dataset_title(&g.dataset), g.id.label());
        let root = root.titled(&caption, ("sans-serif", 16)).map_err(plot_err)?;
        let areas = root.split_evenly((1, 2));
        let last = g.curve.iter().map(|c| c.0).max().unwrap_or(1).max(2) as f64;
        // FID falls by orders of magnitude over training: a log axis spanning whole decades.
        let fmin = fid.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).max(1e-3);
        let fmax = fid.iter().map(|p| p.1).fold(1e-3, f64::max);
        let (dlo, dhi) =
            (10f64.powf(fmin.log10().floor()), 10f64.powf(fmax.log10().ceil().max(fmin.log10().floor() + 1.0)));
        let plain = |y: &f64| format!("{y}");
        let ticks = Some((last as usize).min(15));
        let fid_axis =
            Axis { log: true, label: Some(&plain), ..Axis::new("FID (log scale; lower is better)", (dlo, dhi)) };
        let rec_axis = Axis::new("recognition (chance = 1 / classes)", (0.0, 1.0));
        for (k, (what, y, points)) in [("FID", fid_axis, fid), ("recognition", rec_axis, rec)].into_iter().enumerate() {
            LineChart {
                title: what.to_string(),
                x: Axis { ticks, label: Some(&epoch_tick), ..Axis::new("epoch", (1.0, last)) },
                y,
                lines: vec![Line { name: None, color: k, stroke: Stroke::Solid, points }],
                spread: Spread::None,
                clip: (0.0, 1.0),
                legend: None,
                layout: Layout { caption: 16, margin: 10, x_area: 36, y_area: 56, labels: 12 },
            }
            .draw(&areas[k])?;
        }
        Ok(())
    }
}
