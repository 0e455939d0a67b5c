//! The one line chart every study draws: lines of (x, y, spread) points on
//! linear or log axes, the spread (±1 std over seeds) as error bars or a
//! band, an optional legend. A [`LineChart`] is a [`Draw`], so each chart
//! gives the report's PNG and the page's SVG alike.

use super::*;

/// How a line's spread is drawn.
#[derive(Clone, Copy, PartialEq)]
pub enum Spread {
    None,
    /// A vertical error bar at each point, in the line's colour.
    Bars,
    /// A translucent band between y − spread and y + spread.
    Band,
}

/// Where the legend sits.
#[derive(Clone, Copy)]
pub enum Legend {
    UpperRight,
    LowerLeft,
    LowerRight,
}

/// One axis: its description, range, scale and ticks.
pub struct Axis<'a> {
    pub desc: String,
    pub range: (f64, f64),
    pub log: bool,
    /// How many tick labels; plotters' default when `None`.
    pub ticks: Option<usize>,
    /// A tick's text; plotters' default when `None`.
    pub label: Option<&'a dyn Fn(&f64) -> String>,
}

impl<'a> Axis<'a> {
    pub fn new(desc: impl Into<String>, range: (f64, f64)) -> Axis<'a> {
        Axis { desc: desc.into(), range, log: false, ticks: None, label: None }
    }
}

/// A line: its legend entry (none: not in the legend), its colour (an index
/// into the figures' palette, so a series keeps its colour across charts),
/// how it is stroked and its points.
pub struct Line {
    pub name: Option<String>,
    pub color: usize,
    pub stroke: Stroke,
    pub points: Vec<(f64, f64, f64)>,
}

/// How a line is stroked.
#[derive(Clone, Copy, PartialEq)]
pub enum Stroke {
    /// Solid, a dot at each point (up to [`MAX_DOTS`] points).
    Solid,
    /// Dashed, with dots as a solid line: a second series of one colour
    /// (a training-set curve beside its test curve).
    Dashed,
    /// A thin black dashed line without dots: a reference value; its
    /// `color` index picks the dash pattern ([`REFERENCE_DASHES`]).
    Reference,
}

/// Dash and gap lengths (pixels) of reference lines, by their colour index:
/// dashed, dotted, long-dashed.
pub const REFERENCE_DASHES: [(u32, u32); 3] = [(8, 5), (2, 3), (16, 4)];

/// Lines with more points than this are drawn without a dot at each (a
/// 50-epoch curve would be beads).
pub const MAX_DOTS: usize = 25;

/// Sizes of a chart's parts, in pixels.
#[derive(Clone, Copy)]
pub struct Layout {
    pub caption: u32,
    pub margin: u32,
    pub x_area: u32,
    pub y_area: u32,
    pub labels: u32,
}

/// A line chart.
pub struct LineChart<'a> {
    pub title: String,
    pub x: Axis<'a>,
    pub y: Axis<'a>,
    pub lines: Vec<Line>,
    pub spread: Spread,
    /// The spread is cut to this range (the axis floor, accuracy's 1.0).
    pub clip: (f64, f64),
    pub legend: Option<Legend>,
    pub layout: Layout,
}

impl Draw for LineChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let l = self.layout;
        let mut b = ChartBuilder::on(root);
        b.caption(&self.title, ("sans-serif", l.caption))
            .margin(l.margin)
            .x_label_area_size(l.x_area)
            .y_label_area_size(l.y_area);
        let ((x0, x1), (y0, y1)) = (self.x.range, self.y.range);
        match (self.x.log, self.y.log) {
            (false, false) => self.on(&mut b.build_cartesian_2d(x0..x1, y0..y1).map_err(plot_err)?),
            (true, false) => self.on(&mut b.build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(plot_err)?),
            (false, true) => self.on(&mut b.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(plot_err)?),
            (true, true) => {
                self.on(&mut b.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale()).map_err(plot_err)?)
            }
        }
    }
}

impl LineChart<'_> {
    /// The mesh, every line, then the legend, on coordinates of either scale.
    fn on<'a, DB, X, Y>(&self, chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>) -> Result<()>
    where
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let mut mesh = chart.configure_mesh();
        if let Some(n) = self.x.ticks {
            mesh.x_labels(n);
        }
        if let Some(f) = self.x.label {
            mesh.x_label_formatter(f);
        }
        if let Some(f) = self.y.label {
            mesh.y_label_formatter(f);
        }
        mesh.light_line_style(TRANSPARENT)
            .x_desc(self.x.desc.as_str())
            .y_desc(self.y.desc.as_str())
            .label_style(("sans-serif", self.layout.labels))
            .draw()
            .map_err(plot_err)?;
        for line in &self.lines {
            self.line(chart, line, COLORS[line.color % COLORS.len()])?;
        }
        let pos = match self.legend {
            None => return Ok(()),
            Some(Legend::UpperRight) => SeriesLabelPosition::UpperRight,
            Some(Legend::LowerLeft) => SeriesLabelPosition::LowerLeft,
            Some(Legend::LowerRight) => SeriesLabelPosition::LowerRight,
        };
        chart
            .configure_series_labels()
            .position(pos)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)
    }

    /// One line: its band, the line (with its legend entry), its points, its error bars.
    fn line<'a, DB, X, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
        l: &Line,
        c: RGBColor,
    ) -> Result<()>
    where
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let (lo, hi) = self.clip;
        let pts = &l.points;
        if self.spread == Spread::Band {
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, (p.1 + p.2).min(hi)))
                .chain(pts.iter().rev().map(|p| (p.0, (p.1 - p.2).max(lo))))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled()))).map_err(plot_err)?;
        }
        let style = match l.stroke {
            Stroke::Reference => BLACK.stroke_width(1),
            _ => c.stroke_width(2),
        };
        let xy = pts.iter().map(|p| (p.0, p.1));
        let (dash, gap) = match l.stroke {
            Stroke::Reference => REFERENCE_DASHES[l.color % REFERENCE_DASHES.len()],
            _ => (8, 5),
        };
        let drawn = match l.stroke {
            Stroke::Solid => chart.draw_series(LineSeries::new(xy, style)),
            Stroke::Dashed | Stroke::Reference => chart.draw_series(DashedLineSeries::new(xy, dash, gap, style)),
        }
        .map_err(plot_err)?;
        if let Some(name) = &l.name {
            let entry = drawn.label(name.as_str());
            match l.stroke {
                Stroke::Solid => entry.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style)),
                // The line's own pattern, shortened to the legend's 16 pixels.
                _ => entry.legend(move |(x, y)| {
                    let (d, g) = ((dash * 5 / 8).max(2), (gap * 3 / 5).max(2));
                    plotters::element::DashedPathElement::new(vec![(x, y), (x + 16, y)], d, g, style)
                }),
            };
        }
        if l.stroke != Stroke::Reference && pts.len() <= MAX_DOTS {
            chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, c.filled()))).map_err(plot_err)?;
        }
        if self.spread == Spread::Bars {
            chart
                .draw_series(pts.iter().map(|&(x, m, s)| {
                    ErrorBar::new_vertical(x, (m - s).max(lo), m, (m + s).min(hi), c.stroke_width(1), 6)
                }))
                .map_err(plot_err)?;
        }
        Ok(())
    }
}
