//! bench seccomp: each workload's latency distribution under every setup, overlaid as
//! percentile curves from whatever percentiles the report has; the lost ns per syscall marked
//! on each curve and drawn as bars with their range; the command's time per setup.

use serde_json::Value;

use super::{
    chart::{Bar, Chart, Curve, Point, Unit},
    fmt::{self, arr, f64_of, str_of},
    page::{Group, Section},
};

/// The quantile a key names: p50_ns is 0.5, p99.9_ns 0.999, min_ns 0, max_ns 1.
fn quantile(key: &str) -> Option<(String, f64)> {
    match key {
        "min_ns" => return Some(("min".into(), 0.0)),
        "max_ns" => return Some(("max".into(), 1.0)),
        _ => {}
    }
    let num = key.strip_prefix('p')?.strip_suffix("_ns")?;
    let p: f64 = num.replace('_', ".").parse().ok()?;
    (0.0..100.0)
        .contains(&p)
        .then(|| (format!("p{}", num.replace('_', ".")), p / 100.0))
}

/// The points of one result row, in quantile order.
pub fn points(row: &Value) -> Vec<Point> {
    let mut pts: Vec<Point> = row
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let (at, q) = quantile(k)?;
            let value = v.as_f64()?;
            Some(Point { at, q, value })
        })
        .collect();
    // A later report may carry its percentiles as {"p50": ns, ...}.
    if let Some(m) = row.get("percentiles").and_then(Value::as_object) {
        for (k, v) in m {
            let key = format!("{}_ns", k.trim_end_matches("_ns"));
            if let (Some((at, q)), Some(value)) = (quantile(&key), v.as_f64())
                && !pts.iter().any(|p| p.q == q)
            {
                pts.push(Point { at, q, value });
            }
        }
    }
    pts.sort_by(|a, b| a.q.total_cmp(&b.q));
    pts
}

fn lost(row: &Value) -> Option<(f64, Option<(f64, f64)>)> {
    let l = f64_of(row, "lost_ns_per_syscall")?;
    let range = f64_of(row, "lost_ns_per_syscall_min").zip(f64_of(row, "lost_ns_per_syscall_max"));
    Some((l, range))
}

pub fn section(doc: &Value) -> Section {
    let results = arr(doc, "results");
    let first_setup = arr(doc, "setups")
        .first()
        .and_then(|s| str_of(s, "name"))
        .or_else(|| results.first().and_then(|r| str_of(r, "setup")))
        .unwrap_or("none")
        .to_string();
    let mut workloads: Vec<&str> = Vec::new();
    for r in results {
        if let Some(w) = str_of(r, "workload")
            && !workloads.contains(&w)
        {
            workloads.push(w);
        }
    }
    let mut groups = Vec::new();
    for w in &workloads {
        let rows: Vec<&Value> = results
            .iter()
            .filter(|r| str_of(r, "workload") == Some(w))
            .collect();
        let curves: Vec<Curve> = rows
            .iter()
            .map(|r| {
                let setup = str_of(r, "setup").unwrap_or("?").to_string();
                let note = lost(r).filter(|_| setup != first_setup).map(|(l, range)| {
                    let mut n = format!("{l:+.1} ns lost per syscall");
                    if let Some((lo, hi)) = range {
                        n.push_str(&format!(" [{lo:.1} to {hi:.1}]"));
                    }
                    n
                });
                Curve {
                    name: setup,
                    points: points(r),
                    note,
                }
            })
            .collect();
        let lost_bars: Vec<Bar> = rows
            .iter()
            .filter(|r| str_of(r, "setup") != Some(first_setup.as_str()))
            .filter_map(|r| {
                let (l, range) = lost(r)?;
                Some(Bar {
                    label: str_of(r, "setup").unwrap_or("?").to_string(),
                    values: vec![l],
                    interval: range,
                    limit: None,
                })
            })
            .collect();
        let mut charts = vec![Chart::curves(
            format!("{w}: latency per operation by percentile, every setup"),
            Unit::Ns,
            curves,
        )];
        if !lost_bars.is_empty() {
            charts.push(Chart::bars(
                format!("{w}: ns lost per syscall against {first_setup}"),
                Unit::Ns,
                Vec::new(),
                lost_bars,
            ));
        }
        groups.push(Group::new(
            Some(format!("workload {w}")),
            String::new(),
            charts,
        ));
    }
    let commands = arr(doc, "command");
    if !commands.is_empty() {
        let bars: Vec<Bar> = commands
            .iter()
            .map(|c| Bar {
                label: str_of(c, "setup").unwrap_or("?").to_string(),
                values: vec![f64_of(c, "median_s").unwrap_or(0.0)],
                interval: f64_of(c, "min_s").zip(f64_of(c, "median_s")),
                limit: None,
            })
            .collect();
        groups.push(Group::new(
            Some("your command".into()),
            "median wall time per setup; the line runs from the fastest run to the median".into(),
            vec![Chart::bars(
                "command wall time",
                Unit::Seconds,
                Vec::new(),
                bars,
            )],
        ));
    }
    let setups: Vec<String> = arr(doc, "setups")
        .iter()
        .map(|s| {
            let mut t = str_of(s, "name").unwrap_or("?").to_string();
            if let Some(n) = s.get("instructions").and_then(Value::as_u64) {
                t.push_str(&format!(" ({n} BPF instructions)"));
            }
            t
        })
        .collect();
    Section {
        id: "bench-seccomp",
        title: "bench seccomp: latency under each setup".into(),
        intro: format!(
            "{} workload(s); setups: {}",
            workloads.len(),
            if setups.is_empty() {
                "-".into()
            } else {
                setups.join(", ")
            }
        ),
        groups,
    }
}

/// The header's facts: the node the benchmark ran on.
pub fn facts(doc: &Value) -> Vec<(String, String)> {
    let node = doc.get("node").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    for (k, label) in [
        ("kernel", "kernel"),
        ("action_cache", "seccomp action cache"),
        ("spec_store_bypass", "spec_store_bypass"),
    ] {
        if let Some(v) = node.get(k) {
            out.push((label.to_string(), fmt::value(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_percentile_present_becomes_a_point_in_order() {
        let r = json!({"p99_ns": 400, "p50_ns": 100, "max_ns": 9000, "p99_9_ns": 700,
                       "ns_per_op": 120.0, "percentiles": {"p90": 300}});
        let at: Vec<String> = points(&r).into_iter().map(|p| p.at).collect();
        assert_eq!(at, ["p50", "p90", "p99", "p99.9", "max"]);
    }

    #[test]
    fn one_curve_per_setup_and_lost_bars_with_their_range() {
        let doc = json!({"setups": [{"name": "none"}, {"name": "docker-default"}],
            "results": [
                {"workload": "getppid", "setup": "none", "p50_ns": 100, "p99_ns": 200, "max_ns": 900, "lost_ns_per_syscall": 0.0},
                {"workload": "getppid", "setup": "docker-default", "p50_ns": 150, "p99_ns": 260, "max_ns": 990,
                 "lost_ns_per_syscall": 50.0, "lost_ns_per_syscall_min": 40.0, "lost_ns_per_syscall_max": 60.0}
            ], "command": []});
        let s = section(&doc);
        assert_eq!(s.groups.len(), 1);
        let c = &s.groups[0].charts;
        assert_eq!((c[0].drawn(), c[0].series()), (2, 2));
        assert_eq!(c[1].drawn(), 1);
        let legend = c[0].legend();
        assert!(
            legend[1]
                .0
                .contains("+50.0 ns lost per syscall [40.0 to 60.0]"),
            "{legend:?}"
        );
    }
}
