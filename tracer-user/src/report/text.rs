//! Human rendering of the report: a header and the findings, then each problem's section.

use std::fmt::Write as _;

use super::Report;

pub fn render(r: &Report, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ctrace {} report — kernel {}, {:.1}s",
        r.version, r.kernel, r.duration_s
    );
    for p in &r.probes {
        // The program list is cut to keep the line within 100 columns (--json has them all).
        let line = format!(
            "  probes: {} via {}, {} tier ({})",
            p.problem,
            p.attach_type,
            p.tier,
            p.programs.join(", ")
        );
        let _ = writeln!(out, "{}", crate::shared::fit_report(&line, 100));
    }
    if let Some(e) = &r.evidence {
        let _ = writeln!(out, "{}", crate::shared::fit_report(&e.line(), 100));
        for m in &e.misses {
            let _ = writeln!(out, "{}", crate::shared::wrap("    misses: ", m, 100));
        }
    }
    if r.duty_cycle_pct < 100 {
        let _ = writeln!(
            out,
            "  duty cycle: probes attached {}% of each interval",
            r.duty_cycle_pct
        );
    }
    let events: Vec<String> = r.events.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let drops: Vec<String> = r.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        out,
        "  events: {}\n  drops:  {}",
        events.join(" "),
        drops.join(" ")
    );
    if !r.drop_reasons.is_empty() {
        let reasons: Vec<String> = r
            .drop_reasons
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "  DROPPED EVENTS: {}", reasons.join(" "));
        for reason in r.drop_reasons.keys() {
            if let Some(a) = drop_advice(reason) {
                let _ = writeln!(out, "{}", crate::shared::wrap("    ", &a, 100));
            }
        }
    }
    let resolved = r.resolved();
    let _ = writeln!(
        out,
        "\nfindings: {}{}",
        r.findings.len(),
        if resolved > 0 {
            format!(" ({resolved} resolved before the end)")
        } else {
            String::new()
        }
    );
    for (i, f) in r.findings.iter().enumerate() {
        let s = &f.subject;
        let who: Vec<String> = [
            s.pid.map(|p| format!("pid {p}")),
            s.comm.clone(),
            s.container_name.clone().or(s
                .container_id
                .as_deref()
                .map(|c| format!("container {}", short_id(c)))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = writeln!(
            out,
            "\n  [{}] {}{}",
            format!("{:?}", f.severity).to_uppercase(),
            f.kind,
            if who.is_empty() {
                String::new()
            } else {
                format!(" ({})", who.join(", "))
            }
        );
        if let Some(w) = r.windows.get(i) {
            let _ = writeln!(out, "  seen:  {}", seen(w));
        }
        let _ = writeln!(
            out,
            "{}",
            crate::shared::wrap("  what:  ", &f.explanation, 100)
        );
        let _ = writeln!(
            out,
            "{}",
            crate::shared::wrap("  fix:   ", &f.remediation, 100)
        );
    }
    for (_, section) in &r.sections {
        section.render(&mut out, top);
    }
    out
}

/// What to do about a drop reason, for those the user can act on.
fn drop_advice(reason: &str) -> Option<String> {
    let kib = crate::map_sizes::bytes_per_key(crate::map_sizes::cpus()).div_ceil(1024);
    match reason {
        "hist_map_full" | "count_map_full" => Some(format!(
            "{reason}: more (process, syscall) pairs than --max-syscall-keys holds; raise it (each \
             pair costs about {kib} KiB of kernel memory on this node, a histogram per CPU), or \
             narrow the trace with --pid, --comm or --container"
        )),
        "filter_map_full" => Some(format!(
            "{reason}: more processes than the pid filter holds (children of selected ones join \
             it); select by --container or --comm instead"
        )),
        r if r.ends_with("_ring_full") || r.ends_with("_queue_full") => Some(format!(
            "{reason}: events came faster than ctrace drained them; narrow the trace (--pid, \
             --container, --comm) or lower --duty-cycle"
        )),
        _ => None,
    }
}

/// "7.0s to 26.5s, resolved" or "from 7.0s, still active".
fn seen(w: &crate::shared::Window) -> String {
    if w.active {
        format!("from {:.1}s, still active at the end", w.first_seen_s)
    } else {
        format!(
            "{:.1}s to {:.1}s, resolved before the end",
            w.first_seen_s, w.last_seen_s
        )
    }
}

pub fn short_id(id: &str) -> &str {
    if id.len() == 64 { &id[..12] } else { id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_histogram_map_names_the_flag_and_its_cost() {
        let a = drop_advice("hist_map_full").unwrap();
        assert!(a.contains("--max-syscall-keys") && a.contains("KiB"), "{a}");
        assert!(drop_advice("zombie_ring_full").unwrap().contains("--pid"));
        assert!(drop_advice("tid_out_of_range").is_none());
    }
}
