//! overlay: copy-up bytes per container, and each container's copy-up latency as log2 buckets.

use serde_json::Value;

use super::{
    chart::{Bar, Chart, Unit},
    fmt::{self, arr, f64_of},
    page::{Group, Section},
    syscalls::buckets,
};

pub fn section(doc: &Value) -> Option<Section> {
    let o = doc.get("overlay")?;
    let groups_json = arr(o, "groups");
    let label = |g: &Value| fmt::container_label(g, "host");
    let bytes: Vec<Bar> = groups_json
        .iter()
        .map(|g| Bar {
            label: label(g),
            values: vec![f64_of(g, "bytes").unwrap_or(0.0)],
            interval: None,
            limit: None,
        })
        .collect();
    let mut groups = vec![Group::new(
        None,
        String::new(),
        vec![Chart::bars(
            "copy-up bytes per container",
            Unit::Bytes,
            Vec::new(),
            bytes,
        )],
    )];
    for g in groups_json {
        let mut note = format!("{} copy-up(s)", fmt::value(&g["copy_ups"]));
        for (k, l) in [("p50_latency_ns", "p50"), ("p99_latency_ns", "p99")] {
            if let Some(v) = f64_of(g, k) {
                note.push_str(&format!(", {l} {}", fmt::ns(v)));
            }
        }
        if let Some(n) = g
            .get("exdev_renames")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
        {
            note.push_str(&format!(", {n} EXDEV rename(s)"));
        }
        groups.push(Group::new(
            Some(format!("copy-ups in {}", label(g))),
            note,
            vec![Chart::hist(
                format!("copy-up latency: {}", label(g)),
                Unit::Ns,
                buckets(arr(g, "latency_hist_ns")),
            )],
        ));
    }
    if groups_json.is_empty() && !arr(o, "latency_hist_ns").is_empty() {
        groups.push(Group::new(
            None,
            String::new(),
            vec![Chart::hist(
                "copy-up latency",
                Unit::Ns,
                buckets(arr(o, "latency_hist_ns")),
            )],
        ));
    }
    let intro = format!(
        "{} copy-up(s), {} copied, {} EXDEV rename(s), {} call(s) checked",
        fmt::value(o.get("copy_ups").unwrap_or(&Value::Null)),
        fmt::bytes(f64_of(o, "bytes").unwrap_or(0.0)),
        arr(o, "exdev").len(),
        fmt::value(o.get("checked").unwrap_or(&Value::Null)),
    );
    Some(Section {
        id: "overlay",
        title: "overlay: copy-up per container".into(),
        intro,
        groups,
    })
}
