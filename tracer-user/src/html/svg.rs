//! Draws a chart model as inline SVG with plotters' SVG backend.
//!
//! The data shapes are what the tests count: bars and buckets are `<rect>`s filled with a
//! palette colour (nothing else here draws a rect: no background fill, legends are HTML), and
//! curves are `<polyline>`s stroked with one (axes, ticks, whiskers and limits are polylines
//! too, but grey or red).

use anyhow::{Result, anyhow};
use plotters::{coord::Shift, prelude::*};

use super::chart::{Bar, Body, Bucket, Chart, Curve, Mark, Unit, colour};

const FONT: &str = "sans-serif";
const AXIS: RGBColor = RGBColor(60, 60, 60);
const LIMIT: RGBColor = RGBColor(200, 0, 0);

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// The chart as one `<svg>` element.
pub fn render(c: &Chart) -> Result<String> {
    let (w, h) = size(c);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        match &c.body {
            Body::Hist { unit, buckets } => hist(&root, *unit, buckets)?,
            Body::Bars {
                unit,
                series: _,
                bars: b,
                marks,
                log,
            } => bars(&root, *unit, b, marks, *log)?,
            Body::Curves { unit, curves: cs } => curves(&root, *unit, cs)?,
        }
        root.present().map_err(err)?;
    }
    Ok(buf)
}

fn size(c: &Chart) -> (u32, u32) {
    match &c.body {
        Body::Hist { buckets, .. } => ((buckets.len() as u32 * 34 + 90).clamp(300, 900), 230),
        Body::Bars { bars, .. } => (760, 60 + 30 * bars.len().max(1) as u32),
        Body::Curves { .. } => (640, 320),
    }
}

/// Category `i` of `n` sits at x = i on a continuous axis from -0.5 to n - 0.5: plotters'
/// segmented integer axes degenerate with one category. Ticks land on whole numbers when
/// asked for n + 1 of them; other ticks get no label.
fn category(v: f64, n: usize) -> Option<usize> {
    let r = v.round();
    ((v - r).abs() < 0.01 && r >= 0.0 && (r as usize) < n).then_some(r as usize)
}

fn hist(root: &DrawingArea<SVGBackend, Shift>, unit: Unit, buckets: &[Bucket]) -> Result<()> {
    let n = buckets.len().max(1);
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let top = most as f64 * 1.1;
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0f64..top)
        .map_err(err)?;
    let label = |v: &f64| {
        category(*v, n)
            .and_then(|i| buckets.get(i))
            .map_or(String::new(), |b| match unit {
                Unit::Bytes => super::fmt::bytes(b.lo as f64),
                _ => super::fmt::ns_short(b.lo),
            })
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&label)
        .y_labels((most as usize + 1).min(8))
        .y_label_formatter(&|v| super::fmt::num(v.round()))
        .x_desc("latency, from (log2 buckets)")
        .y_desc("count")
        .axis_style(AXIS)
        .label_style((FONT, 14))
        .x_label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    let fill = rgb(colour(0)).filled();
    chart
        .draw_series(
            buckets
                .iter()
                .enumerate()
                .filter(|(_, b)| b.count > 0)
                .map(|(i, b)| {
                    let x = i as f64;
                    Rectangle::new([(x - 0.42, 0.0), (x + 0.42, b.count as f64)], fill)
                }),
        )
        .map_err(err)?;
    Ok(())
}

/// Value-axis mapping: linear, or log10 on a log axis.
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64> + Clone, log: bool) -> Axis {
        // Beyond this no report value is real; plotters' ticks need a finite span.
        let values = values.filter(|v| v.is_finite() && v.abs() < 1e18);
        let max = values.clone().fold(0.0, f64::max);
        let min = values.clone().fold(0.0, f64::min);
        if log {
            let min = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
            let min = if min.is_finite() { min } else { 1.0 };
            let hi = max.max(min * 10.0).log10() + 0.3;
            Axis {
                log,
                lo: min.log10().floor() - 0.3,
                hi,
            }
        } else {
            let span = (max - min).max(f64::MIN_POSITIVE);
            Axis {
                log,
                lo: if min < 0.0 { min - 0.1 * span } else { 0.0 },
                hi: if max > 0.0 {
                    max + 0.15 * span
                } else {
                    0.1 * span.max(1.0)
                },
            }
        }
    }

    /// Where a value goes on the axis, clamped to it (plotters' pixel mapping overflows far
    /// outside).
    fn at(&self, v: f64) -> f64 {
        let x = if self.log {
            if v > 0.0 { v.log10() } else { self.lo }
        } else {
            v
        };
        if x.is_nan() {
            self.lo
        } else {
            x.clamp(self.lo, self.hi)
        }
    }

    fn value(&self, x: f64) -> f64 {
        if self.log { 10f64.powf(x) } else { x }
    }
}

fn bars(
    root: &DrawingArea<SVGBackend, Shift>,
    unit: Unit,
    bars: &[Bar],
    marks: &[Mark],
    log: bool,
) -> Result<()> {
    let n = bars.len().max(1);
    let axis = Axis::new(
        bars.iter()
            .flat_map(|b| {
                let total: f64 = b.values.iter().sum();
                [
                    Some(total),
                    b.interval.map(|i| i.1),
                    b.interval.map(|i| i.0),
                    b.limit,
                ]
            })
            .flatten()
            .chain(marks.iter().map(|m| m.value))
            .filter(|v| v.is_finite()),
        log,
    );
    let label_width = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40) as u32
        * 7
        + 10;
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .margin_right(90)
        .x_label_area_size(30)
        .y_label_area_size(label_width)
        .build_cartesian_2d(axis.lo..axis.hi, -0.5..n as f64 - 0.5)
        .map_err(err)?;
    // The first bar on top.
    let row = |i: usize| (n - 1 - i) as f64;
    let label = |v: &f64| {
        category(*v, n)
            .and_then(|r| bars.get(n - 1 - r))
            .map_or(String::new(), |b| b.label.clone())
    };
    let xfmt = |x: &f64| unit.fmt(axis.value(*x));
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n + 1)
        .y_label_formatter(&label)
        .x_label_formatter(&xfmt)
        .x_labels(6)
        .axis_style(AXIS)
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    let mut rects = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        let mut from = 0.0;
        for (s, v) in b.values.iter().enumerate() {
            if !v.is_finite() || *v == 0.0 || (log && *v < 0.0) {
                continue;
            }
            let to = from + v;
            let (x0, x1) = (axis.at(from).max(axis.lo), axis.at(to).max(axis.lo));
            rects.push(Rectangle::new(
                [(x0.min(x1), row(i) - 0.32), (x0.max(x1), row(i) + 0.32)],
                rgb(colour(s)).filled(),
            ));
            from = to;
        }
    }
    chart.draw_series(rects).map_err(err)?;
    let ink = ShapeStyle::from(&AXIS).stroke_width(2);
    for (i, b) in bars.iter().enumerate() {
        let y = || row(i);
        if let Some((lo, hi)) = b.interval {
            chart
                .draw_series([PathElement::new(
                    vec![(axis.at(lo), y()), (axis.at(hi), y())],
                    ink,
                )])
                .map_err(err)?;
        }
        if let Some(l) = b.limit {
            chart
                .draw_series([PathElement::new(
                    vec![(axis.at(l), row(i) - 0.45), (axis.at(l), row(i) + 0.45)],
                    ShapeStyle::from(&LIMIT).stroke_width(3),
                )])
                .map_err(err)?;
        }
        let total: f64 = b.values.iter().sum();
        let text = match b.limit {
            Some(l) => format!("{} of {}", unit.fmt(total), unit.fmt(l)),
            None => unit.fmt(total),
        };
        let end = axis.at(total.max(0.0).max(b.interval.map_or(0.0, |i| i.1)));
        chart
            .draw_series([Text::new(
                text,
                (end.max(axis.lo), y()),
                (FONT, 14).into_font().color(&BLACK),
            )])
            .map_err(err)?;
    }
    for m in marks {
        let x = axis.at(m.value);
        chart
            .draw_series([PathElement::new(
                vec![(x, -0.5), (x, n as f64 - 0.5)],
                ShapeStyle::from(&LIMIT).stroke_width(1),
            )])
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                m.label.clone(),
                (x, n as f64 - 0.5),
                (FONT, 13).into_font().color(&LIMIT),
            )])
            .map_err(err)?;
    }
    Ok(())
}

fn curves(root: &DrawingArea<SVGBackend, Shift>, unit: Unit, cs: &[Curve]) -> Result<()> {
    // The x axis: every quantile any curve has, in order, evenly spaced.
    let mut qs: Vec<(f64, String)> = cs
        .iter()
        .flat_map(|c| c.points.iter().map(|p| (p.q, p.at.clone())))
        .collect();
    qs.sort_by(|a, b| a.0.total_cmp(&b.0));
    qs.dedup_by(|a, b| a.0 == b.0);
    let n = qs.len().max(1) as u32;
    let axis = Axis::new(
        cs.iter()
            .flat_map(|c| c.points.iter().map(|p| p.value))
            .filter(|v| v.is_finite()),
        true,
    );
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), axis.lo..axis.hi)
        .map_err(err)?;
    let xlabel = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) => qs.get(*i as usize).map_or(String::new(), |q| q.1.clone()),
        _ => String::new(),
    };
    let yfmt = |y: &f64| unit.fmt(axis.value(*y));
    chart
        .configure_mesh()
        .x_labels(n as usize)
        .x_label_formatter(&xlabel)
        .y_label_formatter(&yfmt)
        .y_labels(6)
        .x_desc("percentile")
        .y_desc("latency per operation (log)")
        .axis_style(AXIS)
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for (i, c) in cs.iter().enumerate() {
        let col = rgb(colour(i));
        let pts: Vec<(SegmentValue<u32>, f64)> = c
            .points
            .iter()
            .filter_map(|p| {
                let x = qs.iter().position(|q| q.0 == p.q)? as u32;
                Some((SegmentValue::CenterOf(x), axis.at(p.value)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series([PathElement::new(
                pts.clone(),
                ShapeStyle::from(&col).stroke_width(2),
            )])
            .map_err(err)?;
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, col.filled())))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
