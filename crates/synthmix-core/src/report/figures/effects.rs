//! Charts of paired differences: the strategies study's forest plot and the
//! MNIST-C heatmap of the corruption table.

use super::*;

/// One paired difference to draw: a row of a forest plot.
#[derive(Debug, Clone)]
pub struct Effect {
    /// Rows are grouped by this (e.g. the regime) …
    pub group: String,
    /// … and coloured by this (e.g. the strategy).
    pub series: String,
    pub interval: crate::report::stats::Interval,
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
pub(super) fn diverging(x: f64) -> RGBColor {
    let x = x.clamp(-1.0, 1.0);
    let (r, g, b) = if x >= 0.0 { (33.0, 102.0, 172.0) } else { (178.0, 24.0, 43.0) };
    let a = x.abs();
    let mix = |c: f64| (255.0 + (c - 255.0) * a).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

/// The MNIST-C heatmap of one table: rows the corruptions (and their mean)
/// where some mix was tested beside O, columns the mixes; a cell's colour is
/// its mean difference to O on `scale` (one for every heatmap of a report,
/// so colours compare across them), its text that difference in percentage
/// points (`*` better or worse, `=` equivalent, after Holm); O's column shows
/// O's accuracy in grey. None when no row has a difference.
pub fn corruption_heatmap(t: &crate::report::corruptions::CorruptionTable, scale: f64) -> Result<Option<Vec<u8>>> {
    register_font();
    let titles = t.row_titles();
    let tested = t.tested_rows();
    let rows: Vec<(usize, &String)> = tested.iter().map(|r| (*r, &titles[*r])).collect();
    if rows.is_empty() || t.mixes.is_empty() {
        return Ok(None);
    }
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
        for (i, (r, title)) in rows.iter().enumerate() {
            let y = top + ch * i as i32;
            root.draw(&Text::new((*title).clone(), (10, y + 8), font(13))).map_err(plot_err)?;
            for (k, m) in t.mixes.iter().enumerate() {
                let x = left + cw * k as i32;
                let (fill, text) = heat_cell(t, *r, k, *m, scale);
                root.draw(&Rectangle::new([(x, y), (x + cw - 2, y + ch - 2)], fill.filled())).map_err(plot_err)?;
                let tx = x + cw / 2 - 4 * text.chars().count() as i32;
                // White on the darkest fills, where black would not read.
                let dark = 0.3 * f64::from(fill.0) + 0.59 * f64::from(fill.1) + 0.11 * f64::from(fill.2) < 120.0;
                let ink = if dark { WHITE } else { BLACK };
                let style = ("sans-serif", 13).into_font().color(&ink);
                root.draw(&Text::new(text, (tx, y + 8), style)).map_err(plot_err)?;
            }
        }
        // The mean row, when drawn, is set off by a rule.
        if rows.len() > 1 && rows.last().is_some_and(|x| x.0 == titles.len() - 1) {
            let y = top + ch * (rows.len() as i32 - 1) - 2;
            root.draw(&PathElement::new(vec![(10, y), (w as i32 - 10, y)], BLACK.stroke_width(1))).map_err(plot_err)?;
        }
        let legend = format!(
            "colour: ±{:.1} pp (every heatmap; beyond: clipped); * better/worse, = equivalent (Holm)",
            scale * 100.0
        );
        root.draw(&Text::new(legend, (10, h as i32 - 28), font(12))).map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(to_png(buf, w, h)?))
}

/// One heatmap cell's colour and text.
pub(super) fn heat_cell(
    t: &crate::report::corruptions::CorruptionTable,
    r: usize,
    k: usize,
    m: Mix,
    scale: f64,
) -> (RGBColor, String) {
    use crate::report::stats::Verdict;
    if m == Mix::new(1, 0) {
        let text = t.cells[r][k].as_ref().map(|c| format!("{:.1}%", c.mean * 100.0)).unwrap_or_else(|| "–".into());
        return (RGBColor(225, 225, 225), text);
    }
    match &t.diffs[r][k] {
        Some(c) => {
            let mark = match c.verdict() {
                Verdict::Better | Verdict::Worse => "*",
                Verdict::Equivalent | Verdict::Identical => "=",
                Verdict::Inconclusive => "",
            };
            (diverging(c.interval.mean / scale), format!("{:+.1}{mark}", c.interval.mean * 100.0))
        }
        None => (WHITE, "–".into()),
    }
}
