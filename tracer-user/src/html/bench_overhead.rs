//! bench overhead: the added cost per syscall of each case, against the floor (an empty probe
//! pair) and bpftrace, as bars with their intervals where the report has them.

use serde_json::Value;

use super::{
    chart::{Bar, Chart, Mark, Unit},
    fmt::{self, arr, f64_of, str_of},
    page::{Group, Section},
};

/// A `[lo, hi]` pair.
fn interval(v: Option<&Value>) -> Option<(f64, f64)> {
    let a = v?.as_array()?;
    match a.as_slice() {
        [lo, hi] => Some((lo.as_f64()?, hi.as_f64()?)),
        _ => None,
    }
}

fn ratio_chart(cases: &[Value], key: &str, title: &str, against: &str) -> Chart {
    let bars: Vec<Bar> = cases
        .iter()
        .filter_map(|c| {
            Some(Bar {
                label: str_of(c, "case")?.to_string(),
                values: vec![f64_of(c, key)?],
                interval: interval(c.get(format!("{key}_ci95"))),
                limit: None,
            })
        })
        .collect();
    Chart::bars(title, Unit::Ratio, Vec::new(), bars).with_marks(vec![Mark {
        label: format!("1× {against}"),
        value: 1.0,
    }])
}

pub fn section(doc: &Value) -> Section {
    let cases = arr(doc, "cases");
    let added = |pred: &dyn Fn(&str) -> bool| {
        cases
            .iter()
            .find(|c| str_of(c, "case").is_some_and(pred))
            .and_then(|c| f64_of(c, "added_ns"))
    };
    let mut marks = Vec::new();
    if let Some(f) = added(&|c| c.contains("floor") && !c.contains("classic")) {
        marks.push(Mark {
            label: "floor".into(),
            value: f,
        });
    }
    if let Some(b) = added(&|c| c.contains("bpftrace")) {
        marks.push(Mark {
            label: "bpftrace".into(),
            value: b,
        });
    }
    let bars: Vec<Bar> = cases
        .iter()
        .filter_map(|c| {
            Some(Bar {
                label: str_of(c, "case")?.to_string(),
                values: vec![f64_of(c, "added_ns")?],
                interval: interval(c.get("added_ns_ci95")),
                limit: None,
            })
        })
        .collect();
    let charts = vec![
        Chart::bars(
            "added ns per syscall (red lines: the floor and bpftrace)",
            Unit::Ns,
            Vec::new(),
            bars,
        )
        .with_marks(marks),
        ratio_chart(
            cases,
            "vs_floor",
            "added cost against the floor (with its 95% interval where measured)",
            "floor",
        ),
        ratio_chart(
            cases,
            "vs_bpftrace",
            "added cost against bpftrace (with its 95% interval where measured)",
            "bpftrace",
        ),
    ];
    let mut groups = vec![Group::new(None, String::new(), charts)];
    let progs = arr(doc, "programs");
    if !progs.is_empty() {
        let bars: Vec<Bar> = progs
            .iter()
            .filter_map(|p| {
                Some(Bar {
                    label: format!("{}: {}", str_of(p, "case")?, str_of(p, "program")?),
                    values: vec![f64_of(p, "ns_per_run")?],
                    interval: None,
                    limit: None,
                })
            })
            .collect();
        groups.push(Group::new(
            Some("each program's own run time".into()),
            "kernel.bpf_stats_enabled, in a separate pass".into(),
            vec![Chart::bars(
                "ns per program run",
                Unit::Ns,
                Vec::new(),
                bars,
            )],
        ));
    }
    let mut intro = format!("{} case(s)", cases.len());
    if let Some(s) = doc.get("exit_storm").filter(|s| s.is_object()) {
        intro.push_str(&format!(
            "; exit storm: {} exits/s generated, {} handled, {} dropped",
            fmt::value(s.get("generated_per_s").unwrap_or(&Value::Null)),
            fmt::value(s.get("handled_per_s").unwrap_or(&Value::Null)),
            fmt::value(s.get("dropped").unwrap_or(&Value::Null)),
        ));
    }
    Section {
        id: "bench-overhead",
        title: "bench overhead: added cost per syscall".into(),
        intro,
        groups,
    }
}

pub fn facts(doc: &Value) -> Vec<(String, String)> {
    ["iterations", "runs", "rounds", "map_bytes"]
        .iter()
        .filter_map(|k| Some((k.replace('_', " "), fmt::value(doc.get(*k)?))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ratios_with_their_intervals_and_marks_for_floor_and_bpftrace() {
        let doc = json!({"iterations": 10, "cases": [
            {"case": "bare (no probes)", "added_ns": 0.0, "vs_floor": 0.0, "vs_floor_ci95": [0.0, 0.0]},
            {"case": "empty raw_tp enter/exit pair (floor)", "added_ns": 40.0, "vs_floor": 1.0, "vs_floor_ci95": [0.9, 1.1]},
            {"case": "ctrace seccomp latency", "added_ns": 60.0, "vs_floor": 1.5, "vs_floor_ci95": [1.2, 1.7], "vs_bpftrace": 0.4, "vs_bpftrace_ci95": null},
            {"case": "bpftrace raw_syscalls latency hist", "added_ns": 150.0, "vs_floor": 3.75, "vs_bpftrace": 1.0}
        ]});
        let s = section(&doc);
        let c = &s.groups[0].charts;
        assert_eq!(c[0].drawn(), 3);
        match &c[0].body {
            crate::html::chart::Body::Bars { marks, .. } => assert_eq!(marks.len(), 2),
            _ => panic!(),
        }
        match &c[1].body {
            crate::html::chart::Body::Bars { bars, .. } => {
                assert_eq!(bars[2].interval, Some((1.2, 1.7)));
                assert_eq!(bars[3].interval, None);
            }
            _ => panic!(),
        }
        assert_eq!(c[2].drawn(), 2);
        assert_eq!(facts(&doc), [("iterations".to_string(), "10".to_string())]);
    }
}
