//! The report's figures as PNG: Figure 1 (real beside synthetic samples),
//! Figure 2 (accuracy per train–test combination, bars with error bars) and
//! accuracy against the O:S ratio per test set. Drawn with plotters, text in
//! the bundled DejaVu Sans Mono so every machine draws the same pictures.

pub mod chart;
pub mod effects;
pub mod lines;
pub mod paper;

use std::sync::Once;

use image::{Rgb, RgbImage};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::generators::GeneratorInfo;
use super::grid::{self, GridOptions};
use super::model::{dataset_title, datasets_of, generators_of, Cells, Mix, TestKind};
use crate::data::{self, DataOptions};
use crate::error::{Error, Result};

static FONT: &[u8] = include_bytes!("../../../../../assets/DejaVuSansMono.ttf");
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

/// An epoch tick: whole numbers only.
fn epoch_tick(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
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
    pub(super) w: u32,
    pub(super) h: u32,
    pub(super) what: T,
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

    /// The PNG and its SVG twin (the page shows the SVG: it stays sharp).
    pub fn both(&self) -> Result<(Vec<u8>, String)> {
        Ok((self.png()?, self.svg()?))
    }
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
