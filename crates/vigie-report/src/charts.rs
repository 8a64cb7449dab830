//! Charts as self-contained SVG text: a line chart, a grouped bar chart and a
//! sparkline, for the weekly report and the dashboard alike.
//!
//! The SVG is written by hand rather than with plotters. Plotters 0.3.7 with
//! `default-features = false, features = ["svg_backend", "line_series"]` does draw
//! text without fonts (it estimates text widths and leaves the glyphs to the viewer),
//! but its output is a flat list of shapes: a series is not a group one can count,
//! style or hover in the dashboard, a missing value must be drawn as separate series
//! by the caller, there is no `<title>` for screen readers, and a small chart's
//! default mesh weighs 16 kB. The charts here are a few hundred lines that give:
//!
//! - one `<g class="series" data-name="…">` per series, bars as `<rect class="bar">`,
//!   points as `<circle class="point">`, each with a `<title>` tooltip;
//! - a gap in the line wherever a value is `None` (or not finite);
//! - the Okabe–Ito colour-blind-safe palette, and a dash pattern per series, so that
//!   series stay apart in grey or for any colour vision;
//! - a `viewBox`, so that a chart scales down in a narrow e-mail or page;
//! - no script, no external font or URL: the text uses the reader's system fonts.
//!
//! Values are drawn from zero (or from the lowest negative value) to a rounded top;
//! percentages are fractions (0.63 is 63 %).

use std::fmt::Write as _;

use vigie_core::Language;

use crate::format::{escape, number, percent};

/// The Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008) without its
/// yellow, which is unreadable on white; series take the colours in this order.
pub const PALETTE: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

/// Dash patterns, combined with the colours: series `i` has colour `i % 7` and dash
/// `i % 4`, so 28 series differ.
const DASHES: [&str; 4] = ["none", "6 3", "2 3", "8 3 2 3"];

/// The system font stack: no web font is ever fetched.
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const TITLE_SIZE: f64 = 14.0;
const TEXT_SIZE: f64 = 11.0;
const TEXT_COLOUR: &str = "#222222";
const GRID_COLOUR: &str = "#DDDDDD";
const AXIS_COLOUR: &str = "#767676";
/// The most y ticks a chart draws.
const TICKS_MAX: usize = 12;

/// Writes to a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// How the y axis and the tooltips show values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YFormat {
    /// Values are fractions, shown as percentages (0.63 is `63 %`).
    Percent,
    /// Values are shown as they are.
    Number,
}

/// One named line or set of bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// One value per x label; `None` is a gap (no point, no bar).
    pub values: Vec<Option<f64>>,
}

/// What a line or bar chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The title, drawn above the chart and read by screen readers.
    pub title: String,
    /// The x axis's labels, one per value.
    pub x_labels: Vec<String>,
    /// The series, in legend order.
    pub series: Vec<Series>,
    /// How values are shown.
    pub y_format: YFormat,
    /// The language of numbers (decimal comma in French).
    pub language: Language,
    /// The width in pixels (the `viewBox` lets it scale).
    pub width: u32,
    /// The height in pixels.
    pub height: u32,
}

/// A line chart: one line per series over the x labels, a gap where a value is
/// missing, a dot at each value.
pub fn line_chart(chart: &Chart) -> String {
    let mut out = String::new();
    let frame = Frame::draw(&mut out, chart, Swatch::Line);
    for (index, series) in chart.series.iter().enumerate() {
        let (colour, dash) = style(index);
        w!(out, r#"<g class="series" data-name="{}">"#, escape(&series.name));
        let mut path = String::new();
        let mut previous_drawn = false;
        for (i, value) in series.values.iter().enumerate() {
            match finite(*value) {
                Some(v) => {
                    let command = if previous_drawn { 'L' } else { 'M' };
                    w!(path, "{command}{:.1} {:.1} ", frame.x(i), frame.y(v));
                    previous_drawn = true;
                }
                None => previous_drawn = false,
            }
        }
        if !path.is_empty() {
            w!(
                out,
                r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}" stroke-linejoin="round" stroke-linecap="round"/>"#,
                path.trim_end()
            );
        }
        for (i, value) in series.values.iter().enumerate() {
            if let Some(v) = finite(*value) {
                w!(
                    out,
                    r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}</title></circle>"#,
                    frame.x(i),
                    frame.y(v),
                    tooltip(chart, series, i, v)
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A grouped bar chart: for each x label, one bar per series side by side; no bar
/// where a value is missing. A zero is drawn one pixel high, so that it differs from a
/// missing value.
pub fn bar_chart(chart: &Chart) -> String {
    let mut out = String::new();
    let frame = Frame::draw(&mut out, chart, Swatch::Bar);
    let count = chart.series.len().max(1) as f64;
    let group = frame.band * 0.8;
    let bar = group / count;
    let zero = frame.y(0.0);
    for (index, series) in chart.series.iter().enumerate() {
        let (colour, _) = style(index);
        w!(out, r#"<g class="series" data-name="{}">"#, escape(&series.name));
        for (i, value) in series.values.iter().enumerate() {
            if let Some(v) = finite(*value) {
                let left = frame.x(i) - group / 2.0 + bar * index as f64;
                let height = (frame.y(v) - zero).abs().max(1.0);
                let top = if v >= 0.0 { zero - height } else { zero };
                w!(
                    out,
                    r#"<rect class="bar" x="{left:.1}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="{colour}"><title>{}</title></rect>"#,
                    (bar - 1.0).max(1.0),
                    tooltip(chart, series, i, v)
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A small line without axes or text, to sit in a table cell: scaled from its lowest
/// to its highest value, a gap where a value is missing, a dot on the last value and
/// on values with no neighbour.
pub fn sparkline(values: &[Option<f64>], width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let pad = 2.0_f64.min(h / 4.0);
    let known: Vec<f64> = values.iter().filter_map(|v| finite(*v)).collect();
    let low = known.iter().copied().fold(f64::INFINITY, f64::min);
    let high = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let x = |i: usize| {
        if values.len() <= 1 { w / 2.0 } else { pad + (w - 2.0 * pad) * i as f64 / (values.len() - 1) as f64 }
    };
    let y = |v: f64| {
        if high > low { h - pad - (h - 2.0 * pad) * (v - low) / (high - low) } else { h / 2.0 }
    };
    let mut out = String::new();
    w!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-hidden="true">"#
    );
    let mut path = String::new();
    let mut dots = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let Some(v) = finite(*value) else { continue };
        let before = i > 0 && finite(values[i - 1]).is_some();
        let after = values.get(i + 1).is_some_and(|next| finite(*next).is_some());
        w!(path, "{}{:.1} {:.1} ", if before { 'L' } else { 'M' }, x(i), y(v));
        if !(before || after) || i + 1 == values.len() {
            dots.push((x(i), y(v)));
        }
    }
    if !path.is_empty() {
        w!(
            out,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.5" stroke-linejoin="round"/>"#,
            path.trim_end(),
            PALETTE[0]
        );
    }
    for (cx, cy) in dots {
        w!(out, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="1.8" fill="{}"/>"#, PALETTE[0]);
    }
    out.push_str("</svg>");
    out
}

/// The colour and dash pattern of series `index`.
fn style(index: usize) -> (&'static str, &'static str) {
    (PALETTE[index % PALETTE.len()], DASHES[index % DASHES.len()])
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// The tooltip of one value: `Pool A — lun. 23/11 : 63,0 %`.
fn tooltip(chart: &Chart, series: &Series, i: usize, value: f64) -> String {
    let label = chart.x_labels.get(i).map(String::as_str).unwrap_or("");
    let colon = match chart.language {
        Language::Fr => "\u{A0}:",
        Language::En => ":",
    };
    escape(&format!("{} — {label}{colon} {}", series.name, show(chart.y_format, value, chart.language, None)))
}

/// A value as the axis or a tooltip shows it; `decimals` from the tick step, or as
/// needed.
fn show(format: YFormat, value: f64, language: Language, decimals: Option<usize>) -> String {
    match format {
        YFormat::Percent => percent(value, decimals.unwrap_or(1), language),
        YFormat::Number => {
            let decimals = decimals.unwrap_or(if value.fract() == 0.0 { 0 } else { 2 });
            number(value, decimals, language)
        }
    }
}

/// How the legend marks a series.
#[derive(Clone, Copy)]
enum Swatch {
    Line,
    Bar,
}

/// The plot area and the y scale, once the title, legend and axes are drawn.
struct Frame {
    left: f64,
    bottom: f64,
    plot_height: f64,
    band: f64,
    low: f64,
    high: f64,
}

impl Frame {
    /// Opens the `<svg>` and draws everything but the series: title, legend, grid,
    /// axis labels.
    fn draw(out: &mut String, chart: &Chart, swatch: Swatch) -> Frame {
        let (width, height) = (f64::from(chart.width.max(1)), f64::from(chart.height.max(1)));
        w!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{title}" font-family="{FONT}" font-size="{TEXT_SIZE}" fill="{TEXT_COLOUR}"><title>{title}</title>"#,
            chart.width,
            chart.height,
            chart.width,
            chart.height,
            title = escape(&chart.title),
        );
        out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#FFFFFF\"/>");
        w!(
            out,
            r#"<text x="8" y="{:.1}" font-size="{TITLE_SIZE}" font-weight="bold">{}</text>"#,
            8.0 + TITLE_SIZE,
            escape(&chart.title)
        );

        // The legend, wrapped to the width.
        let mut legend_y = 8.0 + TITLE_SIZE + 8.0 + TEXT_SIZE;
        let mut legend_x = 8.0;
        for (index, series) in chart.series.iter().enumerate() {
            let item = 22.0 + text_width(&series.name, TEXT_SIZE) + 14.0;
            if legend_x > 8.0 && legend_x + item > width - 8.0 {
                legend_x = 8.0;
                legend_y += TEXT_SIZE + 6.0;
            }
            let (colour, dash) = style(index);
            match swatch {
                Swatch::Line => w!(
                    out,
                    r#"<line x1="{legend_x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                    legend_x + 18.0,
                    y = legend_y - TEXT_SIZE * 0.35
                ),
                Swatch::Bar => w!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/>"#,
                    legend_x + 4.0,
                    legend_y - 9.0
                ),
            }
            w!(out, r#"<text x="{:.1}" y="{legend_y:.1}">{}</text>"#, legend_x + 22.0, escape(&series.name));
            legend_x += item;
        }
        let top = if chart.series.is_empty() { 8.0 + TITLE_SIZE + 14.0 } else { legend_y + 16.0 };

        // The y scale and its labels, which set the left margin.
        let values = || chart.series.iter().flat_map(|s| s.values.iter().filter_map(|v| finite(*v)));
        // Counts (all whole numbers) get whole ticks.
        let whole = chart.y_format == YFormat::Number && values().all(|v| v.fract() == 0.0);
        let (low, high, step) = scale(values(), whole);
        let decimals = tick_decimals(step, chart.y_format);
        let ticks = (((high - low) / step).round() as usize).min(TICKS_MAX);
        let labels: Vec<(f64, String)> = (0..=ticks)
            .map(|i| {
                let value = low + step * i as f64;
                (value, show(chart.y_format, value, chart.language, Some(decimals)))
            })
            .collect();
        let label_width = labels.iter().map(|(_, text)| text_width(text, TEXT_SIZE)).fold(0.0, f64::max);
        let left = (label_width + 14.0).max(30.0).min(width / 3.0);
        let right = width - 10.0;
        let bottom = (height - 24.0).max(top + 1.0);
        let count = chart.x_labels.len().max(chart.series.iter().map(|s| s.values.len()).max().unwrap_or(0)).max(1);
        let frame =
            Frame { left, bottom, plot_height: bottom - top, band: (right - left).max(1.0) / count as f64, low, high };

        for (value, text) in &labels {
            let y = frame.y(*value);
            let stroke = if *value == 0.0 { AXIS_COLOUR } else { GRID_COLOUR };
            w!(out, r#"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="{stroke}"/>"#);
            w!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 6.0,
                y + TEXT_SIZE * 0.35,
                escape(text)
            );
        }

        // The x labels, every `skip`-th one when they would overlap.
        let widest = chart.x_labels.iter().map(|l| text_width(l, TEXT_SIZE)).fold(0.0, f64::max);
        let skip = ((widest + 6.0) / frame.band).ceil().max(1.0) as usize;
        for (i, label) in chart.x_labels.iter().enumerate().step_by(skip) {
            w!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                frame.x(i),
                bottom + TEXT_SIZE + 6.0,
                escape(label)
            );
        }
        frame
    }

    /// The centre of the `i`-th x band.
    fn x(&self, i: usize) -> f64 {
        self.left + self.band * (i as f64 + 0.5)
    }

    fn y(&self, value: f64) -> f64 {
        self.bottom - self.plot_height * (value - self.low) / (self.high - self.low)
    }
}

/// An estimate of the width of `text` in a sans-serif font: the SVG is drawn without
/// font metrics.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// The y axis: from zero (or the lowest value) to a round top, with a round step
/// giving about four intervals; a step of at least one when `whole`.
fn scale(values: impl Iterator<Item = f64>, whole: bool) -> (f64, f64, f64) {
    let (mut low, mut high) = (0.0_f64, 0.0_f64);
    for v in values {
        low = low.min(v);
        high = high.max(v);
    }
    if high - low <= 0.0 {
        high = low + 1.0;
    }
    let step = nice_step((high - low) / 4.0);
    let step = if whole { step.max(1.0).round() } else { step };
    ((low / step).floor() * step, (high / step).ceil() * step, step)
}

/// The round number (1, 2, 2.5 or 5 times a power of ten) at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let normal = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0].into_iter().find(|n| normal <= n + 1e-9).unwrap_or(10.0);
    nice * magnitude
}

/// The decimals a tick label needs to show `step` exactly.
fn tick_decimals(step: f64, format: YFormat) -> usize {
    let step = match format {
        YFormat::Percent => step * 100.0,
        YFormat::Number => step,
    };
    (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6)
}
