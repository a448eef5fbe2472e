//! Human rendering of the sigpipe section: every SIGPIPE with what was being written.

use std::fmt::Write as _;

use crate::sigpipe::analyzer::SigpipeReport;

pub fn render(out: &mut String, s: &SigpipeReport, top: usize) {
    let outcomes: Vec<String> = s
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "\n== sigpipe: {} SIGPIPE, {} deaths, {} journald restarts ==",
        s.sigpipes,
        s.deaths,
        s.journald_restarts.len()
    );
    if let Some(t) = &s.totals {
        let _ = writeln!(
            out,
            "generated: queued={} blocked={} ignored={} already_pending={}; delivered: default={} \
             handler={} ignore={}",
            t.queued,
            t.blocked,
            t.ignored,
            t.already_pending,
            t.delivered_default,
            t.delivered_handler,
            t.delivered_ignore
        );
    }
    let _ = writeln!(
        out,
        "records kept: {} ({})",
        s.records,
        if outcomes.is_empty() {
            "none".into()
        } else {
            outcomes.join(" ")
        }
    );
    if !s.signals.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<8} {:<16} {:<9} {:>4} {:<6} {:<7} {:>7} {:<9} {:<8}  TARGET",
            "PID", "COMM", "SYSCALL", "FD", "KIND", "ROLE", "BYTES", "HANDLER", "OUTCOME"
        );
        for r in s.signals.iter().rev().take(top.max(10)) {
            let f = r.fd_info.as_ref();
            let _ = writeln!(
                out,
                "{:<8} {:<16} {:<9} {:>4} {:<6} {:<7} {:>7} {:<9} {:<8}  {}",
                r.pid,
                r.comm,
                r.syscall.as_deref().unwrap_or("-"),
                r.fd.map_or("-".into(), |f| f.to_string()),
                f.map_or("?", |f| f.kind),
                r.fd_role,
                r.size,
                r.disposition,
                r.outcome,
                f.and_then(|f| f
                    .peer
                    .clone()
                    .or(f.local.clone())
                    .or(f.inode.map(|i| format!("inode {i}"))))
                    .unwrap_or_default()
            );
        }
    }
    for e in &s.epipe {
        let _ = writeln!(
            out,
            "EPIPE: pid {} ({}) {} failed write(s)",
            e.pid, e.comm, e.count
        );
    }
}
