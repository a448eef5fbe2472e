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
