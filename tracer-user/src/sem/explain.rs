//! The sem finding's text, built from what was observed.

use super::section::{NsReport, SetReport};

pub fn explanation(ns: &NsReport, leaked: &[&SetReport], leak_age_s: f64) -> String {
    let mut out = String::new();
    let cookies = leaked.iter().filter(|s| s.cookie).count();
    if !leaked.is_empty() {
        out.push_str(&format!(
            "{} semaphore set(s) in IPC namespace {} are leaked: udev cookies whose last change is over \
             {leak_age_s:.0}s old (whether or not their creator still runs), or sets that outlived the process \
             that created or last used them and have been idle that long",
            leaked.len(),
            ns.ipc_ns
        ));
        if cookies > 0 {
            out.push_str(&format!(
                "; {cookies} of them are devicemapper udev cookies (key 0x0d4d....), which leak when the \
                 daemon is killed in the middle of a device operation"
            ));
        }
        out.push_str(". ");
    }
    if let Some(l) = ns.limits {
        out.push_str(&format!(
            "The namespace holds {} of SEMMNI={} sets ({:.1}%) and {} of SEMMNS={} semaphores ({:.1}%). ",
            ns.sets,
            l.semmni,
            ns.sets_pct.unwrap_or(0.0),
            ns.semaphores,
            l.semmns,
            ns.semaphores_pct.unwrap_or(0.0)
        ));
    }
    out.push_str(
        "When the count of sets reaches SEMMNI, semget fails with ENOSPC and a daemon that needs a new set \
         (dockerd with the devicemapper storage driver) cannot start.",
    );
    if let Some(t) = ns.time_to_semmni_s {
        out.push_str(&format!(
            " Sets leak at {:.1}/min here; SEMMNI is reached in about {:.0} min at this rate.",
            ns.leak_rate_per_min,
            t / 60.0
        ));
    }
    if ns.enospc_failures > 0 {
        out.push_str(&format!(
            " semget has already failed with ENOSPC {} time(s).",
            ns.enospc_failures
        ));
    }
    out
}

pub fn remediation(ns: &NsReport, leaked: &[&SetReport]) -> String {
    // Sets live in their IPC namespace: a container's are removed from inside it.
    let inside = ns
        .member_pid
        .map_or(String::new(), |p| format!("nsenter --ipc --target {p} "));
    let mut steps = Vec::new();
    if leaked.iter().any(|s| s.cookie) {
        steps.push(format!(
            "Release leaked udev cookies: `{inside}dmsetup udevcomplete_all <minutes>` completes every cookie \
             older than that many minutes (check first with `{inside}dmsetup udevcookies`)."
        ));
    }
    let others: Vec<String> = leaked
        .iter()
        .filter(|s| !s.cookie)
        .take(10)
        .map(|s| s.semid.to_string())
        .collect();
    if !others.is_empty() {
        steps.push(format!(
            "Remove the other orphaned sets once their owner is confirmed gone: `{inside}ipcrm -s {}`.",
            others.join(" -s ")
        ));
    }
    if let Some(l) = ns.limits {
        steps.push(format!(
            "Raise the limit if the workload needs more sets: `sysctl -w kernel.sem=\"{} {} {} {}\"` \
             (SEMMSL SEMMNS SEMOPM SEMMNI; per IPC namespace).",
            l.semmsl,
            l.semmns.max(l.semmsl * l.semmni * 2),
            l.semopm,
            l.semmni * 2
        ));
    }
    steps.push(
        "Avoid killing the daemon (SIGKILL, OOM) during device operations; stop it with SIGTERM and let it finish."
            .to_string(),
    );
    steps.join(" ")
}
