//! sigpipe: SIGPIPE outcomes per process, stacked by outcome (killed, handled, ignored...).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    chart::{Bar, Chart, Unit},
    fmt::{self, arr, str_of},
    page::{Group, Section},
};

pub fn section(doc: &Value) -> Option<Section> {
    let s = doc.get("sigpipe")?;
    // (process label) -> outcome -> count, in the order processes first appear.
    let mut order: Vec<String> = Vec::new();
    let mut counts: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for sig in arr(s, "signals") {
        let who = format!(
            "pid {} {}",
            fmt::value(sig.get("pid").unwrap_or(&Value::Null)),
            str_of(sig, "comm").unwrap_or("")
        );
        let outcome = str_of(sig, "outcome").unwrap_or("unknown").to_string();
        if !counts.contains_key(&who) {
            order.push(who.clone());
        }
        *counts.entry(who).or_default().entry(outcome).or_default() += 1.0;
    }
    // Without the signals, the per-command totals.
    if order.is_empty()
        && let Some(by) = s.get("by_comm").and_then(Value::as_object)
    {
        for (comm, n) in by {
            order.push(comm.clone());
            counts
                .entry(comm.clone())
                .or_default()
                .insert("SIGPIPE".into(), n.as_f64().unwrap_or(0.0));
        }
    }
    let mut outcomes: Vec<String> = counts.values().flat_map(|m| m.keys().cloned()).collect();
    outcomes.sort();
    outcomes.dedup();
    let bars: Vec<Bar> = order
        .iter()
        .map(|who| Bar {
            label: who.clone(),
            values: outcomes
                .iter()
                .map(|o| counts[who].get(o).copied().unwrap_or(0.0))
                .collect(),
            interval: None,
            limit: None,
        })
        .collect();
    let chart = Chart::bars("SIGPIPE outcomes per process", Unit::Count, outcomes, bars);
    let intro = format!(
        "{} SIGPIPE(s), {} death(s), {} journald restart(s), {} process(es) with EPIPE",
        fmt::value(s.get("sigpipes").unwrap_or(&Value::Null)),
        fmt::value(s.get("deaths").unwrap_or(&Value::Null)),
        arr(s, "journald_restarts").len(),
        arr(s, "epipe").len(),
    );
    Some(Section {
        id: "sigpipe",
        title: "sigpipe: SIGPIPE outcomes per process".into(),
        intro,
        groups: vec![Group::new(None, String::new(), vec![chart])],
    })
}
