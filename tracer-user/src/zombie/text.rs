//! Human rendering of the zombie section: zombies grouped by the parent that must reap them.

use std::fmt::Write as _;

use crate::zombie::analyzer::ZombieReport;

pub fn render(out: &mut String, z: &ZombieReport, top: usize) {
    let _ = writeln!(
        out,
        "\n== zombie: {} exits, {} reaped at once, {} zombies reaped later; threshold {:.0}s ==",
        z.exits, z.reaped_quickly, z.reaped, z.threshold_s
    );
    let _ = writeln!(
        out,
        "node: {} tasks, kernel.pid_max {}, kernel.threads-max {}",
        z.node.tasks, z.node.pid_max, z.node.threads_max
    );
    if z.groups.is_empty() {
        let _ = writeln!(out, "no zombies now");
        return;
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:<16} {:<5} {:<5} {:<20} {:>7} {:>7} {:>9} {:>8} {:>10}  LIMIT",
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
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:<5} {:<5} {:<20} {:>7} {:>7} {:>9.0} {:>8.1} {:>10}  {}{}",
            g.parent_pid,
            g.parent_comm,
            if g.parent_is_pid1 { "yes" } else { "no" },
            if g.known_init { "yes" } else { "no" },
            g.container_name
                .as_deref()
                .or(g.container_id.as_deref().map(|i| &i[..i.len().min(12)]))
                .unwrap_or("host"),
            g.zombies,
            g.over_threshold,
            g.oldest_age_s,
            g.rate_per_min,
            g.headroom,
            g.headroom_limit,
            g.time_to_limit_s.map_or(String::new(), |t| format!(
                " (full in ~{:.0} min)",
                t / 60.0
            ))
        );
    }
}
