//! The chart model: what each picture shows, as data. The page embeds it beside each SVG
//! (`data-chart`), which is what the golden test compares; `svg.rs` draws it with plotters.

use serde::Serialize;

/// How values on the value axis read.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Ns,
    Bytes,
    Count,
    Ratio,
    Seconds,
}

impl Unit {
    pub fn fmt(self, v: f64) -> String {
        match self {
            Unit::Ns => super::fmt::ns(v),
            Unit::Bytes => super::fmt::bytes(v),
            Unit::Count => super::fmt::num(v),
            Unit::Ratio => format!("{:.2}×", v),
            Unit::Seconds => format!("{v:.3} s"),
        }
    }
}

/// One log2 bucket: [lo, hi) and its count.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Bucket {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

/// One horizontal bar: a value per stacked series, an optional interval and limit.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub values: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

/// A reference line across all bars (the floor, bpftrace).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Mark {
    pub label: String,
    pub value: f64,
}

/// One point of a percentile curve.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Point {
    /// p50, p99, max...
    pub at: String,
    /// The quantile, 0..=1 (max is 1).
    pub q: f64,
    pub value: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Curve {
    pub name: String,
    pub points: Vec<Point>,
    /// Shown beside the curve (e.g. "+12.3 ns per syscall").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// Vertical bars, one per non-empty log2 bucket, as bcc draws them.
    Hist { unit: Unit, buckets: Vec<Bucket> },
    /// Horizontal bars, optionally stacked (`series` names the stack's parts), on a log axis
    /// when values and limits are far apart.
    Bars {
        unit: Unit,
        series: Vec<String>,
        bars: Vec<Bar>,
        marks: Vec<Mark>,
        log: bool,
    },
    /// Percentile curves, one per series, on a log value axis.
    Curves { unit: Unit, curves: Vec<Curve> },
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    #[serde(flatten)]
    pub body: Body,
}

/// Series colours, readable on white and in greyscale print (dark to light).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (23, 190, 207),
];

pub fn colour(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

impl Chart {
    pub fn hist(title: impl Into<String>, unit: Unit, buckets: Vec<Bucket>) -> Chart {
        Chart {
            title: title.into(),
            body: Body::Hist { unit, buckets },
        }
    }

    pub fn bars(
        title: impl Into<String>,
        unit: Unit,
        series: Vec<String>,
        bars: Vec<Bar>,
    ) -> Chart {
        Chart {
            title: title.into(),
            body: Body::Bars {
                unit,
                series,
                bars,
                marks: Vec::new(),
                log: false,
            },
        }
    }

    pub fn curves(title: impl Into<String>, unit: Unit, curves: Vec<Curve>) -> Chart {
        Chart {
            title: title.into(),
            body: Body::Curves { unit, curves },
        }
    }

    /// Adds reference lines to a bar chart.
    pub fn with_marks(mut self, m: Vec<Mark>) -> Chart {
        if let Body::Bars { marks, .. } = &mut self.body {
            *marks = m;
        }
        self
    }

    /// A bar chart whose limits dwarf its values goes on a log axis, so both stay visible.
    pub fn log_if_far(mut self) -> Chart {
        if let Body::Bars { bars, log, .. } = &mut self.body {
            let top = bars
                .iter()
                .map(|b| b.values.iter().sum::<f64>())
                .fold(0.0, f64::max);
            let lim = bars.iter().filter_map(|b| b.limit).fold(0.0, f64::max);
            *log = lim > 0.0 && lim > 20.0 * top.max(1.0);
        }
        self
    }

    /// The SVG shapes that carry data: one rect per drawn bar or bucket, one polyline per curve.
    pub fn drawn(&self) -> usize {
        match &self.body {
            Body::Hist { buckets, .. } => buckets.iter().filter(|b| b.count > 0).count(),
            // A log axis cannot draw what is not above zero; a linear one draws negatives leftwards.
            Body::Bars { bars, log, .. } => bars
                .iter()
                .map(|b| {
                    b.values
                        .iter()
                        .filter(|v| v.is_finite() && if *log { **v > 0.0 } else { **v != 0.0 })
                        .count()
                })
                .sum(),
            Body::Curves { curves, .. } => curves.iter().filter(|c| !c.points.is_empty()).count(),
        }
    }

    /// Series in the legend (bars: the stack's parts; curves: one each; hist: one).
    pub fn series(&self) -> usize {
        match &self.body {
            Body::Hist { .. } => 1,
            Body::Bars { series, .. } => series.len().max(1),
            Body::Curves { curves, .. } => curves.len(),
        }
    }

    /// Nothing to draw: the page leaves such a chart out.
    pub fn is_empty(&self) -> bool {
        self.drawn() == 0
    }

    /// What the SVG's data shapes are: "rect" for bars, "polyline" for curves.
    pub fn shape(&self) -> &'static str {
        match self.body {
            Body::Curves { .. } => "polyline",
            _ => "rect",
        }
    }

    /// The legend's (name, colour) pairs, drawn in HTML beside the SVG.
    pub fn legend(&self) -> Vec<(String, (u8, u8, u8))> {
        match &self.body {
            Body::Hist { .. } => Vec::new(),
            Body::Bars { series, .. } if series.len() > 1 => series
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), colour(i)))
                .collect(),
            Body::Bars { .. } => Vec::new(),
            Body::Curves { curves, .. } => curves
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let name = match &c.note {
                        Some(n) => format!("{}: {n}", c.name),
                        None => c.name.clone(),
                    };
                    (name, colour(i))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_counts_only_shapes_with_data() {
        let h = Chart::hist(
            "h",
            Unit::Ns,
            vec![
                Bucket {
                    lo: 0,
                    hi: 1,
                    count: 0,
                },
                Bucket {
                    lo: 1,
                    hi: 2,
                    count: 3,
                },
            ],
        );
        assert_eq!(h.drawn(), 1);
        let b = Chart::bars(
            "b",
            Unit::Count,
            vec!["a".into(), "b".into()],
            vec![Bar {
                label: "x".into(),
                values: vec![1.0, 0.0],
                interval: None,
                limit: None,
            }],
        );
        assert_eq!((b.drawn(), b.series()), (1, 2));
    }

    #[test]
    fn far_limits_make_a_log_axis() {
        let bar = |v: f64, l: f64| Bar {
            label: "x".into(),
            values: vec![v],
            interval: None,
            limit: Some(l),
        };
        let c = Chart::bars("b", Unit::Count, vec![], vec![bar(3.0, 32000.0)]).log_if_far();
        assert!(matches!(c.body, Body::Bars { log: true, .. }));
        let c = Chart::bars("b", Unit::Count, vec![], vec![bar(30.0, 100.0)]).log_if_far();
        assert!(matches!(c.body, Body::Bars { log: false, .. }));
    }
}
