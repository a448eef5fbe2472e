//! `ctrace report --html OUT REPORT.json`: one self-contained HTML page (inline SVG and CSS, no
//! script, nothing from the network) from any saved JSON report: `trace`, serve's `/report`,
//! `bench seccomp`, `bench overhead`.
//!
//! It reads the report as a `serde_json::Value` only, never the in-memory report types, and
//! draws what is there: a key it does not know is ignored, a section the report lacks is not
//! drawn. `trace --html` and `bench seccomp --html` call `hook` with their JSON document.

mod bench_overhead;
mod bench_seccomp;
mod chart;
mod findings;
mod fmt;
mod overlay;
mod page;
mod sem;
mod sigpipe;
mod svg;
mod syscalls;
mod zombie;

use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::out::Usage;
use page::Page;

/// What kind of JSON document a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ctrace trace --json`, or serve's `/report`.
    Trace,
    BenchSeccomp,
    BenchOverhead,
}

impl Kind {
    pub fn of(doc: &Value) -> Option<Kind> {
        let o = doc.as_object()?;
        let is_arr = |k: &str| o.get(k).is_some_and(Value::is_array);
        if is_arr("results") && (is_arr("setups") || o.contains_key("node")) {
            Some(Kind::BenchSeccomp)
        } else if is_arr("cases") {
            Some(Kind::BenchOverhead)
        } else if is_arr("findings")
            || (o.contains_key("kernel") && (is_arr("probes") || o.contains_key("events")))
        {
            Some(Kind::Trace)
        } else {
            None
        }
    }
}

/// The whole page for a report.
pub fn render(doc: &Value, top: usize) -> Result<String> {
    let kind = Kind::of(doc).ok_or_else(|| {
        Usage("not a ctrace report: expected the JSON of `ctrace trace --json`, serve's /report, `ctrace bench seccomp --json` or `ctrace bench overhead --json`".into())
    })?;
    let page = match kind {
        Kind::Trace => trace_page(doc, top.max(1)),
        Kind::BenchSeccomp => Page {
            title: "ctrace bench seccomp".into(),
            facts: bench_seccomp::facts(doc),
            first: None,
            sections: vec![bench_seccomp::section(doc)],
        },
        Kind::BenchOverhead => Page {
            title: "ctrace bench overhead".into(),
            facts: bench_overhead::facts(doc),
            first: None,
            sections: vec![bench_overhead::section(doc)],
        },
    };
    page.render()
}

fn trace_page(doc: &Value, top: usize) -> Page {
    let mut facts = Vec::new();
    for (k, label) in [
        ("version", "ctrace"),
        ("schema", "schema"),
        ("kernel", "kernel"),
        ("duration_s", "duration (s)"),
        ("duty_cycle_pct", "duty cycle (%)"),
    ] {
        if let Some(v) = doc.get(k) {
            facts.push((label.to_string(), fmt::value(v)));
        }
    }
    let probes: Vec<String> = fmt::arr(doc, "probes")
        .iter()
        .filter_map(|p| {
            let problem = fmt::str_of(p, "problem")?;
            let how = [fmt::str_of(p, "tier"), fmt::str_of(p, "attach_type")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            Some(format!("{problem} ({how})"))
        })
        .collect();
    if !probes.is_empty() {
        facts.push(("probes".into(), probes.join("; ")));
    }
    for (k, label) in [
        ("events", "events"),
        ("drops", "drops"),
        ("drop_reasons", "drop reasons"),
    ] {
        if let Some(m) = doc.get(k).and_then(Value::as_object)
            && !m.is_empty()
        {
            let t: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k} {}", fmt::value(v)))
                .collect();
            facts.push((label.into(), t.join(", ")));
        }
    }
    // ctrace's own kernel cost, where the report has it.
    if let Some(b) = doc.get("bpf").and_then(|b| fmt::f64_of(b, "map_bytes")) {
        facts.push(("ctrace's BPF maps".into(), fmt::bytes(b)));
    }
    let sections = [
        syscalls::section(doc, top),
        overlay::section(doc),
        sem::section(doc),
        zombie::section(doc),
        sigpipe::section(doc),
    ]
    .into_iter()
    .flatten()
    .collect();
    Page {
        title: "ctrace report".into(),
        facts,
        first: findings::section(doc),
        sections,
    }
}

/// Reads a saved report (a file, or `-` for standard input) as JSON.
fn read(input: &Path) -> Result<Value> {
    let name = input.display();
    let max = crate::input::REPORT_MAX;
    let text = if input == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), max + 1),
            &mut buf,
        )
        .context("reading standard input")?;
        if buf.len() as u64 > max {
            return Err(Usage(format!(
                "standard input: larger than the {} ctrace reads",
                crate::input::size_name(max)
            ))
            .into());
        }
        buf
    } else {
        crate::input::read_bounded(input, max, "report")?
    };
    serde_json::from_slice(&text)
        .map_err(|e| Usage(format!("{name} is not a ctrace report: not JSON ({e})")).into())
}

fn write(out: &Path, html: &str) -> Result<()> {
    std::fs::write(out, html).with_context(|| format!("writing {}", out.display()))
}

/// `ctrace report --html OUT REPORT.json`.
pub fn run(input: &Path, out: &Path, top: usize) -> Result<()> {
    crate::input::check_writable(out, "--html")?;
    let doc = read(input)?;
    let html = render(&doc, top).map_err(|e| match e.downcast::<Usage>() {
        Ok(u) => Usage(format!("{}: {u}", input.display())).into(),
        Err(e) => e,
    })?;
    write(out, &html)?;
    crate::say!("ctrace: wrote {}", out.display());
    Ok(())
}

/// `--html OUT` on a command that made a JSON document: writes its page, when asked.
pub fn hook(out: Option<&Path>, top: usize, doc: impl FnOnce() -> Result<Value>) -> Result<()> {
    let Some(out) = out else { return Ok(()) };
    let html = render(&doc()?, top)?;
    write(out, &html)?;
    crate::say!("ctrace: wrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_is_told_apart_and_others_are_refused() {
        assert_eq!(Kind::of(&json!({"findings": []})), Some(Kind::Trace));
        assert_eq!(
            Kind::of(&json!({"kernel": "6.1", "probes": [], "schema": 1})),
            Some(Kind::Trace)
        );
        assert_eq!(
            Kind::of(&json!({"node": {}, "setups": [], "results": []})),
            Some(Kind::BenchSeccomp)
        );
        assert_eq!(Kind::of(&json!({"cases": []})), Some(Kind::BenchOverhead));
        for bad in [json!([]), json!({"a": 1}), json!("x"), json!(null)] {
            assert_eq!(Kind::of(&bad), None);
            let e = render(&bad, 5).unwrap_err();
            assert!(e.is::<Usage>() && e.to_string().contains("not a ctrace report"));
        }
    }

    #[test]
    fn a_report_with_odd_values_renders_without_panicking() {
        let odd = [
            json!({"findings": "no", "kernel": 1, "probes": [1], "seccomp": 3, "sem": [], "zombie": {"groups": 4},
                   "sigpipe": {"signals": [{}], "by_comm": []}, "overlay": {"groups": [{}]}}),
            json!({"findings": [], "seccomp": {"processes": [{"top": [{"hist_ns": [{"lo": 0, "hi": 0, "count": 1}]}]}]}}),
            json!({"setups": [7], "results": [{}, {"workload": "x", "p50_ns": -1, "max_ns": 0}], "command": [{}]}),
            json!({"cases": [{"case": "x", "added_ns": -5.0, "vs_floor": f64::MAX, "vs_floor_ci95": [1]}], "programs": [{}]}),
        ];
        for doc in odd {
            render(&doc, 5).unwrap_or_else(|e| panic!("{doc}: {e:#}"));
        }
    }

    #[test]
    fn absent_sections_are_not_drawn() {
        let html = render(&json!({"kernel": "6.1", "probes": [], "findings": [],
            "sem": {"namespaces": [{"ipc_ns": 1, "sets": 3, "leaked": 1, "limits": {"semmni": 32000}}]}}), 5).unwrap();
        assert!(html.contains("id=\"sem\""));
        for absent in [
            "id=\"seccomp\"",
            "id=\"overlay\"",
            "id=\"zombie\"",
            "id=\"sigpipe\"",
        ] {
            assert!(!html.contains(absent), "{absent}");
        }
        assert_eq!(html.matches("<figure").count(), 1);
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(!html.contains("<script"));
        let facts = render(&json!({"kernel": "6.1", "probes": [], "schema": 1, "bpf": {"map_bytes": 2048, "maps": {}}}), 5).unwrap();
        assert!(
            facts.contains("<dd>2.0 KiB</dd>") && facts.contains("<dt>schema</dt><dd>1</dd>"),
            "{facts}"
        );
    }
}
