//! Human rendering of the seccomp section: containers, processes, histograms, filter time.

use std::fmt::Write as _;

use super::{
    analyzer::{SeccompReport, Sort, SyscallStat},
    explain,
    section::Cost,
};
use crate::{hist::Log2Hist, report::text::short_id};

fn ns(v: Option<u64>) -> String {
    match v {
        None => "-".into(),
        Some(n) if n >= 10_000_000 => format!("{}ms", n / 1_000_000),
        Some(n) if n >= 10_000 => format!("{}us", n / 1_000),
        Some(n) => format!("{n}ns"),
    }
}

/// Lines of the tables fit this many columns.
const WIDTH: usize = 100;

fn fit(line: String) -> String {
    crate::shared::fit_report(&line, WIDTH)
}

fn top_line(top: &[SyscallStat]) -> String {
    top.iter()
        .map(|s| {
            let mark = if s.blocking { "*" } else { "" };
            match s.p99_ns {
                Some(_) => format!(
                    "{}{mark} {} (p50 {}, p99 {})",
                    s.syscall,
                    s.count,
                    ns(s.p50_ns),
                    ns(s.p99_ns)
                ),
                None => format!("{}{mark} {}", s.syscall, s.count),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn lost(c: Option<Cost>) -> String {
    c.map_or("-".into(), |c| format!("{:.2}ms", c.ms_lost_per_s))
}

pub fn render(out: &mut String, s: &SeccompReport, top: usize) {
    let _ = writeln!(
        out,
        "\n== seccomp ({} mode): {} syscalls in {:.1}s observed ==",
        s.mode, s.syscalls, s.observed_s
    );
    if s.processes.is_empty() && s.containers.is_empty() {
        // No table headers over no rows: --sampled attaches no syscall probe at all.
        let _ = writeln!(
            out,
            "No syscalls were counted{}.",
            if s.sampled.is_some() {
                " (--sampled attaches no syscall probe; the sampled cost is below)"
            } else {
                ""
            }
        );
    } else {
        tables(out, s, top);
    }
    if let Some(sm) = &s.sampled {
        sampled(out, sm, top);
    }
    let _ = writeln!(out, "\n{}", explain::CAVEATS);
}

/// The ranking, the containers' and processes' tables, their histograms and filter times.
fn tables(out: &mut String, s: &SeccompReport, top: usize) {
    let _ = writeln!(
        out,
        "Ranked by {}. CALLS: syscalls seen. TIME: time inside them,\n\
         summed over threads (a thread blocked in a call counts its wait). LOST/S: CPU time a\n\
         second that its seccomp filter costs (estimated). * a call that blocks (sleep, wait, poll).",
        if s.sort == Sort::Time {
            "TIME (--sort count: by CALLS)"
        } else {
            "CALLS (--sort time: by TIME)"
        },
    );
    if !s.containers.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<14} {:<20} {:<9} {:>5} {:>10} {:>9} {:>8} {:>8}",
            "CONTAINER", "NAME", "SECCOMP", "PROCS", "CALLS", "PER_S", "TIME", "LOST/S"
        );
        for c in s.containers.iter().take(top) {
            let name: String = c
                .container_name
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(20)
                .collect();
            let _ = writeln!(
                out,
                "{:<14} {:<20} {:<9} {:>5} {:>10} {:>9.0} {:>8} {:>8}",
                short_id(&c.container_id),
                name,
                mode_with_filters(&c.seccomp_mode, c.seccomp_filters),
                c.processes,
                c.syscalls,
                c.syscalls_per_s,
                ns(c.total_ns),
                lost(c.cost),
            );
            out.push_str(&fit(format!(
                "    {}",
                top_line(&c.top[..c.top.len().min(3)])
            )));
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:<16} {:<14} {:<9} {:>10} {:>9} {:>8} {:>8}",
        "PID", "COMM", "CONTAINER", "SECCOMP", "CALLS", "PER_S", "TIME", "LOST/S"
    );
    for p in s.processes.iter().take(top) {
        let comm = if p.other_ctrace {
            format!("{} (tracer)", p.comm)
        } else {
            p.comm.clone()
        };
        let ctr: String = p
            .container_name
            .as_deref()
            .or(p.container_id.as_deref().map(short_id))
            .unwrap_or("-")
            .chars()
            .take(14)
            .collect();
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:<14} {:<9} {:>10} {:>9.0} {:>8} {:>8}",
            p.pid,
            comm.chars().take(16).collect::<String>(),
            ctr,
            mode_with_filters(&p.seccomp_mode, p.seccomp_filters),
            p.syscalls,
            p.syscalls_per_s,
            ns(p.total_ns),
            lost(p.cost),
        );
        out.push_str(&fit(format!(
            "    {}",
            top_line(&p.top[..p.top.len().min(3)])
        )));
        out.push('\n');
    }
    if s.processes.len() > top {
        let _ = writeln!(
            out,
            "... {} more processes (--top, or --json for all)",
            s.processes.len() - top
        );
    }
    // Histograms: each container's busiest syscall, then the busiest processes'.
    let mut hists: Vec<(String, &SyscallStat)> = Vec::new();
    for c in &s.containers {
        if let Some(t) = c.top.first() {
            let label = c
                .container_name
                .clone()
                .unwrap_or_else(|| short_id(&c.container_id).into());
            hists.push((format!("container {label}"), t));
        }
    }
    for p in &s.processes {
        if let Some(t) = p.top.first() {
            hists.push((format!("pid {} ({})", p.pid, p.comm), t));
        }
    }
    for (label, st) in hists
        .into_iter()
        .filter(|(_, st)| !st.hist_ns.is_empty())
        .take(top)
    {
        let h = Log2Hist::from_buckets(&st.hist_ns);
        let _ = writeln!(
            out,
            "\n{label}: {} latency ({} calls)",
            st.syscall, st.count
        );
        out.push_str(&h.render("nsecs"));
    }
    if !s.filter_time.is_empty() {
        let _ = writeln!(out, "\nseccomp filter time per syscall ({} tier):", s.tier);
        for t in &s.filter_time {
            let _ = writeln!(
                out,
                "  pid {} ({}): {:.0} ns measured over {} calls, {} calibrated",
                t.pid,
                t.comm,
                t.measured_ns_per_syscall,
                t.calls,
                t.calibrated_ns_per_syscall
                    .map_or("not".into(), |c| format!("{c:.0} ns"))
            );
        }
    }
}

/// The sampled cost per container: the filter, the slow path it forces, and the slow path
/// shared with other reasons (ctrace's own syscall probes among them), apart.
fn sampled(out: &mut String, s: &super::sampled::SampledSection, top: usize) {
    let _ = writeln!(
        out,
        "\nseccomp sampled cost (cpu-clock {} Hz, {:.1}s, {} samples dropped):",
        s.hz, s.seconds, s.drops,
    );
    if s.syscall_probes {
        let _ = writeln!(
            out,
            "  ctrace's syscall probes were attached: SHARED slow path not blamed on seccomp"
        );
    }
    let _ = writeln!(
        out,
        "{}",
        fit(format!(
            "  {:<24} {:<9} {:>8} {:>18} {:>9} {:>9} {:>9}",
            "CONTAINER", "SECCOMP", "SAMPLES", "LOST MS/S [95%]", "FILTER", "SLOWPATH", "SHARED"
        ))
    );
    for r in s.containers.iter().take(top.max(1)) {
        let who = match (&r.container_name, &r.container_id, r.pid) {
            (Some(name), _, _) => name.clone(),
            (None, Some(id), _) => short_id(id).to_string(),
            (None, None, Some(pid)) => format!("{} ({pid})", r.comm.as_deref().unwrap_or("?")),
            _ => "(host)".into(),
        };
        let _ = writeln!(
            out,
            "{}",
            fit(format!(
                "  {:<24} {:<9} {:>8} {:>18} {:>9.2} {:>9.2} {:>9.2}",
                who,
                r.seccomp_mode,
                r.samples.total,
                format!(
                    "{:.2} [{:.2}-{:.2}]",
                    r.seccomp.ms_per_s, r.seccomp.low, r.seccomp.high
                ),
                r.filter.ms_per_s,
                r.slow_path.ms_per_s,
                r.slow_path_shared.ms_per_s
            ))
        );
    }
}

fn mode_with_filters(mode: &str, filters: Option<u32>) -> String {
    match filters {
        Some(n) if mode == "filter" => format!("filter:{n}"),
        _ => mode.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        report::{Report, text},
        shared::{Finding, Severity, Subject},
    };

    fn report(seccomp: Option<SeccompReport>) -> Report {
        Report {
            version: "0.1.0",
            kernel: "6.1.0".into(),
            probes: vec![],
            duration_s: 2.0,
            events: BTreeMap::from([("seccomp".into(), 5)]),
            drops: BTreeMap::from([("seccomp".into(), 0)]),
            drop_reasons: BTreeMap::new(),
            findings: vec![Finding {
                kind: "seccomp_slowdown",
                severity: Severity::Warning,
                subject: Subject::default(),
                evidence: serde_json::json!({"ns_per_s": 5}),
                explanation: "x".into(),
                remediation: "y".into(),
            }],
            windows: Vec::new(),
            duty_cycle_pct: 100,
            bpf: None,
            sections: seccomp
                .into_iter()
                .map(|s| ("seccomp", Box::new(s) as Box<dyn crate::shared::Section>))
                .collect(),
            evidence: None,
        }
    }

    #[test]
    fn json_keeps_the_contract_keys() {
        let v: serde_json::Value = serde_json::from_str(&report(None).to_json()).unwrap();
        for key in [
            "schema",
            "version",
            "kernel",
            "probes",
            "duration_s",
            "events",
            "drops",
            "findings",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["schema"], crate::report::SCHEMA);
        let f = &v["findings"][0];
        assert_eq!(f["severity"], "warning");
        for key in ["pid", "comm", "container_id", "container_name"] {
            assert!(f["subject"].get(key).is_some(), "subject lacks {key}");
        }
        assert!(v.get("seccomp").is_none());
    }

    #[test]
    fn no_processes_no_empty_tables() {
        use crate::seccomp::{Mode, analyzer::Analyzer};
        let r = report(Some(Analyzer::default().report(Mode::Latency, 2.0, 5)));
        let text = text::render(&r, 5);
        assert!(text.contains("No syscalls were counted."), "{text}");
        assert!(!text.contains("PID "), "{text}");
        assert!(!text.contains("Ranked by"), "{text}");
    }

    #[test]
    fn text_shows_findings_and_histograms() {
        use crate::seccomp::{Mode, SysStats, analyzer::Analyzer};
        use tracer_common::seccomp::{SysKey, log2_slot};
        let mut a = Analyzer::default();
        let mut st = SysStats {
            count: 4,
            total_ns: 1200,
            ..Default::default()
        };
        st.hist.slots[log2_slot(300)] = 4;
        a.update(vec![(SysKey { tgid: 7, nr: 110 }, st)]);
        let r = report(Some(a.report(Mode::Latency, 2.0, 5)));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            v["seccomp"]["syscalls"], 4,
            "the section is keyed by its problem"
        );
        let text = text::render(&r, 5);
        assert!(text.contains("[WARNING] seccomp_slowdown"), "{text}");
        assert!(text.contains("getppid latency (4 calls)"), "{text}");
        assert!(text.contains("256 -> 511"), "{text}");
        assert!(
            text.contains("|****************************************|"),
            "{text}"
        );
    }
}
