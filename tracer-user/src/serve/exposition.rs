//! The two exposition formats Prometheus reads: OpenMetrics 1.0.0 (what prometheus-client
//! writes, and what Prometheus asks for first) and the classic text format 0.0.4 (what
//! `promtool check metrics`, older scrapers and plain clients read).

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an Accept header asks for OpenMetrics (Prometheus lists it first) with a q above 0.
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let q = params
            .find_map(|p| p.strip_prefix("q="))
            .map_or(1.0, |q| q.parse().unwrap_or(0.0));
        media == "application/openmetrics-text" && q > 0.0
    })
}

/// Rewrites OpenMetrics text as text 0.0.4. The samples are the same; the differences are in
/// the metadata: a counter family is named after its `_total` sample, info and state sets are
/// gauges, and there is no `# UNIT` or `# EOF`.
pub fn to_text_004(om: &str) -> String {
    let mut renamed = std::collections::BTreeMap::new();
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                let (new_name, new_kind) = match kind {
                    "counter" => (format!("{name}_total"), "counter"),
                    "info" => (format!("{name}_info"), "gauge"),
                    "stateset" | "gaugehistogram" => (name.to_string(), "gauge"),
                    "unknown" => (name.to_string(), "untyped"),
                    k => (name.to_string(), k),
                };
                renamed.insert(name.to_string(), (new_name, new_kind.to_string()));
            }
        }
    }
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("HELP", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("TYPE", r)));
        if let Some((what, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some((new_name, new_kind)) = renamed.get(name) {
                let tail = if what == "TYPE" {
                    new_kind.as_str()
                } else {
                    tail
                };
                out.push_str(&format!("# {what} {new_name} {tail}\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OM: &str = "# HELP ctrace_events Events handled.\n# TYPE ctrace_events counter\n\
ctrace_events_total{problem=\"sem\"} 3\n# HELP ctrace_tracked Held now.\n# TYPE ctrace_tracked gauge\n\
ctrace_tracked{what=\"process\"} 2\n# HELP ctrace_lat_seconds Latency.\n# TYPE ctrace_lat_seconds histogram\n\
# UNIT ctrace_lat_seconds seconds\nctrace_lat_seconds_bucket{le=\"+Inf\"} 1\nctrace_lat_seconds_sum 0.5\n\
ctrace_lat_seconds_count 1\n# EOF\n";

    #[test]
    fn counters_are_named_after_their_samples_and_eof_goes() {
        let t = to_text_004(OM);
        assert!(
            t.contains("# HELP ctrace_events_total Events handled.\n"),
            "{t}"
        );
        assert!(t.contains("# TYPE ctrace_events_total counter\n"), "{t}");
        assert!(t.contains("ctrace_events_total{problem=\"sem\"} 3\n"));
        assert!(t.contains("# TYPE ctrace_tracked gauge\n"));
        assert!(t.contains("# TYPE ctrace_lat_seconds histogram\n"));
        assert!(!t.contains("# EOF") && !t.contains("# UNIT"), "{t}");
    }

    #[test]
    fn prometheus_gets_openmetrics_and_plain_clients_get_text() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(prom));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }
}
