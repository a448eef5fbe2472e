use super::*;
use crate::html::chart::Point;

/// Shapes of `tag` in a palette colour: the data, not the axes.
fn count(svg: &str, tag: &str) -> usize {
    let colours: Vec<String> = crate::html::chart::PALETTE
        .iter()
        .map(|(r, g, b)| format!("\"#{r:02X}{g:02X}{b:02X}\""))
        .collect();
    svg.split(&format!("<{tag} "))
        .skip(1)
        .filter(|t| {
            let t = t.split('>').next().unwrap_or("");
            colours.iter().any(|c| t.contains(c.as_str()))
        })
        .count()
}

#[test]
fn a_histogram_draws_one_rect_per_non_empty_bucket() {
    let c = Chart::hist(
        "h",
        Unit::Ns,
        (0..6)
            .map(|k| Bucket {
                lo: 1 << k,
                hi: 2 << k,
                count: if k == 2 { 0 } else { k * 10 + 1 },
            })
            .collect(),
    );
    let svg = render(&c).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert_eq!(count(&svg, "rect"), c.drawn());
    assert_eq!(c.drawn(), 5);
}

#[test]
fn bars_draw_stacks_intervals_limits_and_marks() {
    let c = Chart::bars(
        "b",
        Unit::Count,
        vec!["killed".into(), "ignored".into()],
        vec![
            Bar {
                label: "a".into(),
                values: vec![2.0, 3.0],
                interval: Some((4.0, 6.0)),
                limit: Some(32000.0),
            },
            Bar {
                label: "b".into(),
                values: vec![0.0, 1.0],
                interval: None,
                limit: None,
            },
        ],
    )
    .with_marks(vec![Mark {
        label: "floor".into(),
        value: 3.0,
    }])
    .log_if_far();
    let svg = render(&c).unwrap();
    assert_eq!(count(&svg, "rect"), 3);
    assert!(svg.contains("\n5 of 32000\n"), "{svg}");
    assert!(svg.contains("\nfloor\n"), "{svg}");
}

#[test]
fn curves_draw_one_polyline_each() {
    let pt = |at: &str, q: f64, value: f64| Point {
        at: at.into(),
        q,
        value,
    };
    let c = Chart::curves(
        "c",
        Unit::Ns,
        vec![
            Curve {
                name: "none".into(),
                points: vec![pt("p50", 0.5, 100.0), pt("max", 1.0, 9000.0)],
                note: None,
            },
            Curve {
                name: "docker".into(),
                points: vec![
                    pt("p50", 0.5, 150.0),
                    pt("p99", 0.99, 400.0),
                    pt("max", 1.0, 20000.0),
                ],
                note: Some("+12 ns".into()),
            },
        ],
    );
    let svg = render(&c).unwrap();
    assert_eq!(count(&svg, "polyline"), 2);
    assert!(svg.contains("\np99\n"), "{svg}");
}

#[test]
fn one_bar_one_bucket_one_point_and_negative_bars_draw() {
    let one = Chart::bars(
        "b",
        Unit::Ns,
        vec![],
        vec![Bar {
            label: "x".into(),
            values: vec![-5.0],
            interval: Some((-7.0, -1.0)),
            limit: None,
        }],
    );
    assert_eq!(count(&render(&one).unwrap(), "rect"), 1);
    let h = Chart::hist(
        "h",
        Unit::Ns,
        vec![Bucket {
            lo: 0,
            hi: 1,
            count: 1,
        }],
    );
    assert_eq!(count(&render(&h).unwrap(), "rect"), 1);
    let c = Chart::curves(
        "c",
        Unit::Ns,
        vec![Curve {
            name: "x".into(),
            points: vec![Point {
                at: "p50".into(),
                q: 0.5,
                value: 10.0,
            }],
            note: None,
        }],
    );
    assert_eq!(count(&render(&c).unwrap(), "polyline"), 1);
}
