//! Human rendering of the sem section: namespaces against their limits, then the sets.

use std::fmt::Write as _;

use crate::sem::analyzer::SemReport;

pub fn render(out: &mut String, s: &SemReport, top: usize) {
    let e = &s.events;
    let _ = writeln!(
        out,
        "\n== sem: {} semget ({} failed), {} IPC_RMID, {} semop seen; leak age {:.0}s ==",
        e.semget, e.semget_failed, e.rmid, e.use_, s.leak_age_s
    );
    let _ = writeln!(
        out,
        "\n{:<12} {:<20} {:>13} {:>21} {:>8} {:>7} {:>7}",
        "IPC_NS", "CONTAINER", "SETS/SEMMNI", "SEMS/SEMMNS", "COOKIES", "LEAKED", "ENOSPC"
    );
    for ns in &s.namespaces {
        let (mni, mns) = ns.limits.map_or(("?".into(), "?".into()), |l| {
            (l.semmni.to_string(), l.semmns.to_string())
        });
        let _ = writeln!(
            out,
            "{:<12} {:<20} {:>13} {:>21} {:>8} {:>7} {:>7}",
            ns.ipc_ns,
            ns.container_name
                .as_deref()
                .or(ns.container_id.as_deref())
                .unwrap_or("host"),
            format!("{}/{}", ns.sets, mni),
            format!("{}/{}", ns.semaphores, mns),
            ns.cookies,
            ns.leaked,
            ns.enospc_failures
        );
        if let Some(t) = ns.time_to_semmni_s {
            let _ = writeln!(
                out,
                "             leaking {:.1} sets/min: SEMMNI reached in ~{:.0} min",
                ns.leak_rate_per_min,
                t / 60.0
            );
        }
    }
    if s.sets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{:<11} {:>8} {:<8} {:>5} {:<8} {:<16} {:>9} {:>9}  CONTAINER",
        "KEY", "SEMID", "STATE", "NSEMS", "CREATOR", "COMM", "AGE_S", "IDLE_S"
    );
    // Leaked sets first, then the oldest.
    let mut sets: Vec<_> = s.sets.iter().collect();
    sets.sort_by_key(|x| x.state != "leaked");
    for x in sets.iter().take(top.max(10)) {
        let row = format!(
            "{:<11} {:>8} {:<8} {:>5} {:<8} {:<16} {:>9.0} {:>9.0}  {}",
            x.key,
            x.semid,
            x.state,
            x.nsems,
            x.creator_pid.map_or("?".into(), |p| p.to_string()),
            x.creator_comm
                .as_deref()
                .unwrap_or(if x.source == "inventory" {
                    "(before ctrace)"
                } else {
                    "?"
                }),
            x.age_s,
            x.idle_s,
            x.container_name
                .as_deref()
                .or(x.container_id.as_deref())
                .unwrap_or("-")
        );
        let _ = writeln!(out, "{}", crate::shared::fit_report(&row, 100));
    }
    if s.sets.len() > top.max(10) {
        let _ = writeln!(
            out,
            "... {} more sets (--json for all)",
            s.sets.len() - top.max(10)
        );
    }
}
