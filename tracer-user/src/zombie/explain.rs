//! The zombie finding's text, built from what was observed.

use super::section::GroupReport;

pub fn explanation(g: &GroupReport, threshold_s: f64) -> String {
    let place = match (&g.container_name, &g.container_id) {
        (Some(n), _) => format!("container {n}"),
        (None, Some(id)) => format!("container {}", &id[..id.len().min(12)]),
        (None, None) => format!(
            "pid namespace {}",
            g.pidns.map_or("?".into(), |n| n.to_string())
        ),
    };
    let head = format!(
        "{} zombie process(es) in {place} have stayed unreaped for more than {threshold_s:.0}s (oldest {:.0}s)",
        g.over_threshold, g.oldest_age_s,
    );
    let mut s = if g.parent_is_pid1 {
        format!(
            "{head} under PID 1 `{}` (host pid {}){}. PID 1 of a pid namespace inherits every orphan and must \
             wait() for it; this one does not, so each exited process keeps its pid until the container stops.",
            g.parent_comm,
            g.parent_pid,
            if g.known_init {
                ", although it is a known init"
            } else {
                ", which is not an init"
            },
        )
    } else {
        format!(
            "{head} under their parent `{}` (host pid {}), which is not PID 1 and does not wait() for the \
             children it started. An init as PID 1 does not help: these zombies are not orphans, and each \
             keeps its pid until `{}` reaps it or exits.",
            g.parent_comm, g.parent_pid, g.parent_comm,
        )
    };
    if g.rate_per_min > 0.0 {
        s.push_str(&format!(" They accumulate at {:.1}/min;", g.rate_per_min));
        match g.time_to_limit_s {
            Some(t) => s.push_str(&format!(
                " {} more processes fit under {}, reached in about {:.0} min at this rate.",
                g.headroom,
                g.headroom_limit,
                t / 60.0
            )),
            None => s.push_str(&format!(
                " {} more processes fit under {}.",
                g.headroom, g.headroom_limit
            )),
        }
    }
    s
}

pub fn remediation(g: &GroupReport) -> String {
    let mut s = if g.parent_is_pid1 {
        String::from(
            "Run an init as PID 1 that reaps orphans: `docker run --init` (or `init: true` in compose, tini or \
             dumb-init as the entrypoint, shareProcessNamespace in a Kubernetes pod so the pause container \
             reaps), or make the application wait() for its children (handle SIGCHLD).",
        )
    } else {
        format!(
            "Make `{}` wait() for its children (waitpid in a SIGCHLD handler), or set SIGCHLD to SIG_IGN if it \
             never needs their exit status, so the kernel reaps them. Restarting it hands the zombies to PID 1, \
             which reaps them only if it is a real init.",
            g.parent_comm
        )
    };
    if g.pids_max.is_none() {
        s.push_str(
            " Set a pids limit (`docker run --pids-limit`) so a leak stays inside the container.",
        );
    }
    s
}
