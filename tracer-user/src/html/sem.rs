//! sem: semaphore sets per IPC namespace, live and leaked, against SEMMNI.

use serde_json::Value;

use super::{
    chart::{Bar, Chart, Unit},
    fmt::{self, arr, f64_of},
    page::{Group, Section},
};

pub fn section(doc: &Value) -> Option<Section> {
    let s = doc.get("sem")?;
    let bars: Vec<Bar> = arr(s, "namespaces")
        .iter()
        .map(|ns| {
            let sets = f64_of(ns, "sets").unwrap_or(0.0);
            let leaked = f64_of(ns, "leaked").unwrap_or(0.0).min(sets);
            let fallback = format!(
                "ipc ns {}",
                fmt::value(ns.get("ipc_ns").unwrap_or(&Value::Null))
            );
            Bar {
                label: fmt::container_label(ns, &fallback),
                values: vec![sets - leaked, leaked],
                interval: None,
                limit: ns.get("limits").and_then(|l| f64_of(l, "semmni")),
            }
        })
        .collect();
    let chart = Chart::bars(
        "semaphore sets per IPC namespace, against SEMMNI (red)",
        Unit::Count,
        vec!["in use".into(), "leaked".into()],
        bars,
    )
    .log_if_far();
    let ev = s.get("events").unwrap_or(&Value::Null);
    let intro = format!(
        "{} set(s) known, {} semget ({} failed), {} IPC_RMID; a set is leaked once its creator is gone and it is idle for {} s",
        arr(s, "sets").len(),
        fmt::value(ev.get("semget").unwrap_or(&Value::Null)),
        fmt::value(ev.get("semget_failed").unwrap_or(&Value::Null)),
        fmt::value(ev.get("rmid").unwrap_or(&Value::Null)),
        fmt::value(s.get("leak_age_s").unwrap_or(&Value::Null)),
    );
    Some(Section {
        id: "sem",
        title: "sem: semaphore sets against SEMMNI".into(),
        intro,
        groups: vec![Group::new(None, String::new(), vec![chart])],
    })
}
