//! Human rendering of the zombie section: zombies grouped by the parent that must reap them.

use std::fmt::Write as _;

use crate::zombie::analyzer::ZombieReport;

pub fn render(out: &mut String, z: &ZombieReport, top: usize) {
    let _ = writeln!(
        out,
        "\n== zombie: {} now, {} exits, {} reaped at once, {} reaped later; threshold {:.0}s ==",
        z.live, z.exits, z.reaped_quickly, z.reaped, z.threshold_s
    );
    let _ = writeln!(
        out,
        "node: {} tasks, kernel.pid_max {}, kernel.threads-max {}",
        z.node.tasks, z.node.pid_max, z.node.threads_max
    );
    for s in &z.init_signals {
        let row = format!(
            "{} to PID 1 `{}` (pid {}, {}) dropped {}x{}",
            s.signal,
            s.comm,
            s.pid,
            s.container_name.as_deref().unwrap_or("host"),
            s.dropped,
            s.killed_after_s
                .map_or(String::new(), |w| format!("; SIGKILL {w:.1}s later")),
        );
        let _ = writeln!(out, "{}", crate::shared::fit_report(&row, 100));
    }
    if z.groups.is_empty() {
        let _ = writeln!(out, "no zombies now");
        return;
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:<15} {:<4} {:<4} {:<14} {:>7} {:>5} {:>8} {:>7} {:>8}  LIMIT",
        "PARENT",
        "COMM",
        "PID1",
        "INIT",
        "CONTAINER",
        "ZOMBIES",
        "OVER",
        "OLDEST_S",
        "PER_MIN",
        "HEADROOM"
    );
    for g in z.groups.iter().take(top.max(10)) {
        let ctr: String = g
            .container_name
            .as_deref()
            .or(g.container_id.as_deref().map(|i| &i[..i.len().min(12)]))
            .unwrap_or("host")
            .chars()
            .take(14)
            .collect();
        let row = format!(
            "{:<8} {:<15} {:<4} {:<4} {:<14} {:>7} {:>5} {:>8.0} {:>7.1} {:>8}  {}",
            g.parent_pid,
            g.parent_comm,
            if g.parent_is_pid1 { "yes" } else { "no" },
            if g.known_init { "yes" } else { "no" },
            ctr,
            g.zombies,
            g.over_threshold,
            g.oldest_age_s,
            g.rate_per_min,
            g.headroom,
            g.headroom_limit,
        );
        let _ = writeln!(out, "{}", crate::shared::fit_report(&row, 100));
        if let Some(t) = g.time_to_limit_s {
            let _ = writeln!(
                out,
                "         at this rate the limit is reached in ~{:.0} min",
                t / 60.0
            );
        }
    }
}
