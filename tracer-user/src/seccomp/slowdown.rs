//! The live `seccomp_slowdown` finding: what each filtered container loses per second, from its
//! syscall rate and a calibration of its own filter (measured once per distinct filter).

use super::{
    analyzer::{ContainerStat, SeccompReport},
    calibration::Worker,
    estimate::{CRITICAL_SHARE, Estimate, WARN_SHARE},
    explain,
    section::Cost,
};
use crate::{
    node,
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// A live process of the container that runs under a filter, to read the filter from.
fn filtered_pid(report: &SeccompReport, c: &ContainerStat) -> Option<u32> {
    report
        .processes
        .iter()
        .filter(|p| {
            p.container_id.as_deref() == Some(c.container_id.as_str()) && p.seccomp_mode == "filter"
        })
        .map(|p| p.pid)
        .find(|&pid| node::proc_status_field(pid, "Seccomp").as_deref() == Some("2"))
}

/// One finding per filtered container that loses at least WARN_SHARE of a CPU.
pub fn findings(report: &mut SeccompReport, cal: &mut Worker) -> Vec<Finding> {
    let (major, minor) = node::kernel_version();
    let mut out = Vec::new();
    let mut costs = Vec::new();
    for c in report
        .containers
        .iter()
        .filter(|c| c.seccomp_mode == "filter" || c.seccomp_mode == "mixed")
    {
        let Some(pid) = filtered_pid(report, c) else {
            continue;
        };
        let calibration = match cal.calibrate(pid) {
            Ok(k) => k,
            Err(e) => {
                log::warn!("seccomp: calibrating the filter of pid {pid}: {e:#}");
                continue;
            }
        };
        let lost_ns_per_s = c.syscalls_per_s * calibration.ns_per_syscall;
        let e = Estimate {
            syscalls_per_s: c.syscalls_per_s,
            ns_per_syscall: calibration.ns_per_syscall,
            ms_lost_per_s: lost_ns_per_s / 1e6,
            cpu_share: lost_ns_per_s / 1e9,
            instructions: calibration.instructions,
            filters: calibration.filters,
            action_cache: (major, minor) >= (5, 11),
            ssb: node::proc_status_field(pid, "Speculation_Store_Bypass"),
            method: "calibration: getppid under the container's own filter (PTRACE_SECCOMP_GET_FILTER) against none",
        };
        costs.push((c.container_id.clone(), calibration.ns_per_syscall));
        if e.cpu_share < WARN_SHARE {
            continue;
        }
        let top: Vec<serde_json::Value> = c
            .top
            .iter()
            .map(|s| {
                serde_json::json!({"syscall": s.syscall, "per_s": s.per_s,
                    "ms_lost_per_s": s.per_s * e.ns_per_syscall / 1e6})
            })
            .collect();
        out.push(Finding {
            kind: finding_kind::SECCOMP_SLOWDOWN,
            severity: if e.cpu_share >= CRITICAL_SHARE {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Subject {
                pid: Some(pid),
                comm: node::proc_comm(pid),
                container_id: Some(c.container_id.clone()),
                container_name: c.container_name.clone(),
                origin: crate::attrib::Origin {
                    runtime: Some(c.runtime.clone()),
                    k8s: c.k8s.clone(),
                },
            },
            evidence: serde_json::json!({
                "syscalls_per_s": e.syscalls_per_s,
                "ns_per_syscall": e.ns_per_syscall,
                "ms_lost_per_s": e.ms_lost_per_s,
                "cpu_share_pct": e.cpu_share * 100.0,
                "top_syscalls": top,
                "filter_instructions": e.instructions,
                "filters": e.filters,
                "action_cache": e.action_cache,
                "speculation_store_bypass": e.ssb,
                "method": e.method,
            }),
            explanation: explain::slowdown_explanation(c, &e),
            remediation: explain::slowdown_remediation(&e),
        });
    }
    show_costs(report, &costs, cal);
    out
}

/// Host processes with a filter of their own calibrated per report at most: reading a filter
/// stops the process for a moment (ptrace), so only the busiest are.
const HOST_PROCESSES_CALIBRATED: usize = 8;

fn cost(per_s: f64, ns_per_syscall: f64) -> Cost {
    let lost_ns_per_s = per_s * ns_per_syscall;
    Cost {
        ns_per_syscall,
        ms_lost_per_s: lost_ns_per_s / 1e6,
        cpu_share_pct: lost_ns_per_s / 1e7,
    }
}

/// Every filtered container and process shows what its filter costs, under the finding's
/// threshold too. A container's processes share its calibration (runc gives them one filter).
fn show_costs(report: &mut SeccompReport, by_container: &[(String, f64)], cal: &mut Worker) {
    for c in &mut report.containers {
        if let Some((_, ns)) = by_container.iter().find(|(id, _)| *id == c.container_id) {
            c.cost = Some(cost(c.syscalls_per_s, *ns));
        }
    }
    let mut host_left = HOST_PROCESSES_CALIBRATED;
    for p in report
        .processes
        .iter_mut()
        .filter(|p| p.seccomp_mode == "filter" && p.syscalls > 0)
    {
        let ns = match &p.container_id {
            Some(id) => by_container
                .iter()
                .find(|(c, _)| c == id)
                .map(|(_, ns)| *ns),
            None if host_left > 0 && !p.other_ctrace => {
                host_left -= 1;
                cal.calibrate(p.pid).ok().map(|k| k.ns_per_syscall)
            }
            None => None,
        };
        p.cost = ns.map(|ns| cost(p.syscalls_per_s, ns));
    }
}
