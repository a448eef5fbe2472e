//! zombie: zombies per container (by the parent that must reap them) against pids.max.

use serde_json::Value;

use super::{
    chart::{Bar, Chart, Unit},
    fmt::{self, arr, f64_of, str_of},
    page::{Group, Section},
};

pub fn section(doc: &Value) -> Option<Section> {
    let z = doc.get("zombie")?;
    let pid_max = z.get("node").and_then(|n| f64_of(n, "pid_max"));
    let mut node_limit = false;
    let bars: Vec<Bar> = arr(z, "groups")
        .iter()
        .map(|g| {
            let parent = format!(
                "pid {} {}",
                fmt::value(g.get("parent_pid").unwrap_or(&Value::Null)),
                str_of(g, "parent_comm").unwrap_or("")
            );
            let where_ = fmt::container_label(g, "host");
            let limit = f64_of(g, "pids_max").or_else(|| {
                node_limit |= pid_max.is_some();
                pid_max
            });
            Bar {
                label: format!("{where_}: {}", parent.trim()),
                values: vec![f64_of(g, "zombies").unwrap_or(0.0)],
                interval: None,
                limit,
            }
        })
        .collect();
    let title = if node_limit {
        "zombies per container against pids.max (red; kernel.pid_max where none)"
    } else {
        "zombies per container against pids.max (red)"
    };
    let chart = Chart::bars(title, Unit::Count, Vec::new(), bars).log_if_far();
    let intro = format!(
        "{} exit(s) seen, {} reaped at once, {} reaped later; a zombie older than {} s under a PID 1 is a finding",
        fmt::value(z.get("exits").unwrap_or(&Value::Null)),
        fmt::value(z.get("reaped_quickly").unwrap_or(&Value::Null)),
        fmt::value(z.get("reaped").unwrap_or(&Value::Null)),
        fmt::value(z.get("threshold_s").unwrap_or(&Value::Null)),
    );
    Some(Section {
        id: "zombie",
        title: "zombie: zombies per container against pids.max".into(),
        intro,
        groups: vec![Group::new(None, String::new(), vec![chart])],
    })
}
