//! seccomp: per container and process, the top syscalls' latency as log2 histograms, in the
//! report's own order (counts only, as bars, when the report was taken with --count-only).

use serde_json::Value;

use super::{
    chart::{Bar, Bucket, Chart, Unit},
    fmt::{self, arr, f64_of, str_of},
    page::{Group, Section},
};

/// Log2 buckets as the report has them, with the empty buckets between them put back, so that
/// the x axis is continuous as bcc draws it.
pub fn buckets(hist: &[Value]) -> Vec<Bucket> {
    let mut got: Vec<Bucket> = hist
        .iter()
        .filter_map(|b| {
            Some(Bucket {
                lo: b.get("lo")?.as_u64()?,
                hi: b.get("hi")?.as_u64()?,
                count: b.get("count")?.as_u64()?,
            })
        })
        .filter(|b| b.hi >= b.lo)
        .collect();
    got.sort_by_key(|b| b.lo);
    got.dedup_by_key(|b| b.lo);
    let mut out: Vec<Bucket> = Vec::with_capacity(got.len());
    for b in got {
        if let Some(last) = out.last() {
            // The powers of two in between ([lo, 2lo - 1], as the report writes them).
            let mut lo = if last.lo == 0 {
                1
            } else {
                last.lo.saturating_mul(2)
            };
            while lo < b.lo && out.len() < 128 {
                out.push(Bucket {
                    lo,
                    hi: lo.saturating_mul(2) - 1,
                    count: 0,
                });
                lo = lo.saturating_mul(2);
            }
        }
        out.push(b);
    }
    out
}

/// The charts for one subject's `top` list.
fn charts(top: &[Value], n: usize) -> Vec<Chart> {
    let top = &top[..top.len().min(n)];
    let with_hist: Vec<&Value> = top
        .iter()
        .filter(|s| !arr(s, "hist_ns").is_empty())
        .collect();
    if with_hist.is_empty() {
        let bars: Vec<Bar> = top
            .iter()
            .filter_map(|s| {
                Some(Bar {
                    label: str_of(s, "syscall")?.to_string(),
                    values: vec![f64_of(s, "count")?],
                    interval: None,
                    limit: None,
                })
            })
            .collect();
        if bars.is_empty() {
            return Vec::new();
        }
        return vec![Chart::bars(
            "syscalls by count",
            Unit::Count,
            Vec::new(),
            bars,
        )];
    }
    with_hist
        .into_iter()
        .map(|s| {
            let name = str_of(s, "syscall").unwrap_or("?");
            let mut title = format!("{name}: {} calls", fmt::value(&s["count"]));
            for (k, label) in [("p50_ns", "p50"), ("p99_ns", "p99")] {
                if let Some(v) = f64_of(s, k) {
                    title.push_str(&format!(", {label} {}", fmt::ns(v)));
                }
            }
            Chart::hist(title, Unit::Ns, buckets(arr(s, "hist_ns")))
        })
        .collect()
}

fn note(s: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = str_of(s, "seccomp_mode") {
        let filters = s
            .get("seccomp_filters")
            .and_then(Value::as_u64)
            .map_or(String::new(), |n| format!(", {n} filter(s)"));
        parts.push(format!("seccomp {m}{filters}"));
    }
    if let Some(n) = s.get("syscalls").and_then(Value::as_u64) {
        parts.push(format!("{n} syscalls"));
    }
    if let Some(r) = f64_of(s, "syscalls_per_s") {
        parts.push(format!("{r:.0}/s"));
    }
    if let Some(t) = f64_of(s, "total_ns") {
        parts.push(format!("{} in syscalls", fmt::ns(t)));
    }
    parts.join(" · ")
}

/// Containers all; processes and syscalls each the first `top` in the report's order.
pub fn section(doc: &Value, top: usize) -> Option<Section> {
    let s = doc.get("seccomp")?;
    let mut groups = Vec::new();
    for c in arr(s, "containers") {
        groups.push(Group::new(
            Some(format!("container {}", fmt::container_label(c, "?"))),
            note(c),
            charts(arr(c, "top"), top),
        ));
    }
    let procs = arr(s, "processes");
    for p in &procs[..procs.len().min(top)] {
        let mut h = format!(
            "pid {} {}",
            fmt::value(p.get("pid").unwrap_or(&Value::Null)),
            str_of(p, "comm").unwrap_or("")
        );
        let c = fmt::container_label(p, "");
        if !c.is_empty() {
            h.push_str(&format!(" in {c}"));
        }
        groups.push(Group::new(Some(h), note(p), charts(arr(p, "top"), top)));
    }
    let mut intro = Vec::new();
    if let Some(m) = str_of(s, "mode") {
        intro.push(format!("mode {m}"));
    }
    if let Some(n) = s.get("syscalls").and_then(Value::as_u64) {
        intro.push(format!("{n} syscalls"));
    }
    if let Some(t) = f64_of(s, "observed_s") {
        intro.push(format!("over {t:.1} s"));
    }
    if procs.len() > top {
        intro.push(format!("the first {top} of {} processes", procs.len()));
    }
    intro.push("latency of each top syscall as log2 buckets (count per bucket, bucket's lower bound below)".into());
    Some(Section {
        id: "seccomp",
        title: "seccomp: syscall latency per container and process".into(),
        intro: intro.join(" · "),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gaps_between_buckets_are_filled_with_empty_buckets() {
        let b = buckets(&[
            json!({"lo": 1024, "hi": 2047, "count": 3}),
            json!({"lo": 256, "hi": 511, "count": 1}),
            json!({"lo": 8192, "hi": 16383, "count": 2}),
            json!({"lo": "bad"}),
        ]);
        let los: Vec<u64> = b.iter().map(|b| b.lo).collect();
        assert_eq!(los, [256, 512, 1024, 2048, 4096, 8192]);
        let counts: Vec<u64> = b.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 0, 3, 0, 0, 2]);
    }

    #[test]
    fn count_only_reports_get_count_bars() {
        let doc = json!({"seccomp": {"processes": [
            {"pid": 1, "comm": "a", "top": [{"syscall": "read", "count": 5, "hist_ns": []}]}
        ]}});
        let s = section(&doc, 5).unwrap();
        assert_eq!(s.groups.len(), 1);
        assert_eq!(s.groups[0].charts[0].drawn(), 1);
    }
}
