//! `seccomp_slowdown` from the sampled cost: what each filtered container loses per second, as
//! cpu-clock samples in the seccomp path say. The calibration (trace, once every probe is gone)
//! and the kernel tier's filter time are cross-checks beside it, named in `method`.

use serde_json::json;

use super::{
    calibration::Worker,
    estimate::{CRITICAL_SHARE, Estimate, WARN_SHARE},
    explain,
    sampled::SampledRow,
    section::SeccompReport,
};
use crate::{
    node,
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// A live process of the container with a filter (or the row's own host process), for the
/// subject and the cross-checks.
fn filtered_pid(report: &SeccompReport, r: &SampledRow) -> Option<u32> {
    if r.pid.is_some() {
        return r.pid;
    }
    let id = r.container_id.as_deref()?;
    r.pids
        .iter()
        .copied()
        .find(|&pid| node::proc_status_field(pid, "Seccomp").as_deref() == Some("2"))
        .or_else(|| {
            report
                .processes
                .iter()
                .find(|p| p.container_id.as_deref() == Some(id) && p.seccomp_mode == "filter")
                .map(|p| p.pid)
        })
}

/// One finding per filtered container (or host process with a row of its own) whose sampled
/// loss reaches WARN_SHARE of a CPU.
/// `cal`: the calibration, only where every syscall probe is gone.
pub fn findings(report: &SeccompReport, mut cal: Option<&mut Worker>) -> Vec<Finding> {
    let Some(s) = report.sampled.as_ref() else {
        return Vec::new();
    };
    let (major, minor) = node::kernel_version();
    let mut out = Vec::new();
    for r in s.containers.iter().filter(|r| {
        (r.container_id.is_some() || r.pid.is_some())
            && (r.seccomp_mode == "filter" || r.seccomp_mode == "mixed")
    }) {
        let share = r.seccomp.ms_per_s / 1000.0;
        if share < WARN_SHARE {
            continue;
        }
        let pid = filtered_pid(report, r);
        let id = r.container_id.clone();
        let traced = id
            .as_deref()
            .and_then(|id| report.containers.iter().find(|c| c.container_id == id));
        let mut method = s.method.clone();
        let mut checks = serde_json::Map::new();
        if let Some(k) = &s.residual {
            method.push_str(&format!(
                "; plus the residual no frame shows, {:.2} samples per slow-path sample ({}, \
                 calibrated on twins for this kernel and CPU)",
                k.per_slow_path_sample, k.source
            ));
        }
        if s.syscall_probes {
            method.push_str(
                "; ctrace's own syscall probes were attached, so every task took the slow path: \
                 only the filter's own time is counted, the slow path is shown apart",
            );
        }
        // Kernel tier: the filter's measured time per call, times the traced call rate.
        let kernel = pid
            .and_then(|p| report.filter_time.iter().find(|f| f.pid == p))
            .map(|f| f.measured_ns_per_syscall);
        if let (Some(ns), Some(c)) = (kernel, traced) {
            method.push_str("; cross-check: kernel tier (__secure_computing's duration)");
            checks.insert(
                "kernel_tier_ms_lost_per_s".into(),
                json!(ns * c.syscalls_per_s / 1e6),
            );
        }
        let calibration = match (cal.as_deref_mut(), pid) {
            (Some(cal), Some(p)) => cal.calibrate(p).ok(),
            _ => None,
        };
        if let (Some(k), Some(c)) = (calibration, traced) {
            method.push_str("; cross-check: calibration (getppid under the container's filter)");
            checks.insert(
                "calibration_ms_lost_per_s".into(),
                json!(k.ns_per_syscall * c.syscalls_per_s / 1e6),
            );
        }
        let syscalls_per_s = traced.map(|c| c.syscalls_per_s);
        // The traced calls, where the dispatcher counted them (not with --sampled).
        let top: Vec<serde_json::Value> = traced
            .map(|c| {
                c.top
                    .iter()
                    .map(|s| json!({"syscall": s.syscall, "per_s": s.per_s}))
                    .collect()
            })
            .unwrap_or_default();
        let e = Estimate {
            syscalls_per_s: syscalls_per_s.unwrap_or(0.0),
            ns_per_syscall: syscalls_per_s
                .filter(|r| *r > 0.0)
                .map_or(0.0, |rate| r.seccomp.ms_per_s * 1e6 / rate),
            ms_lost_per_s: r.seccomp.ms_per_s,
            cpu_share: share,
            instructions: calibration.map_or(0, |k| k.instructions),
            filters: pid
                .and_then(|p| node::proc_status_field(p, "Seccomp_filters"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            action_cache: (major, minor) >= (5, 11),
            ssb: pid.and_then(|p| node::proc_status_field(p, "Speculation_Store_Bypass")),
            method: "sampled",
        };
        out.push(Finding {
            kind: finding_kind::SECCOMP_SLOWDOWN,
            severity: if share >= CRITICAL_SHARE {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Subject {
                pid,
                comm: pid.and_then(node::proc_comm).or_else(|| r.comm.clone()),
                container_id: id,
                container_name: r.container_name.clone(),
                origin: crate::attrib::Origin {
                    runtime: r.runtime.clone(),
                    k8s: Default::default(),
                },
            },
            evidence: json!({
                "ms_lost_per_s": r.seccomp.ms_per_s,
                "ms_lost_per_s_low": r.seccomp.low,
                "ms_lost_per_s_high": r.seccomp.high,
                "cpu_share_pct": share * 100.0,
                "filter_ms_per_s": r.filter.ms_per_s,
                "slow_path_ms_per_s": r.slow_path.ms_per_s,
                "slow_path_shared_ms_per_s": r.slow_path_shared.ms_per_s,
                "residual_ms_per_s": r.residual.ms_per_s,
                "samples": r.samples,
                "sample_hz": s.hz,
                "seconds": s.seconds,
                "syscalls_per_s": syscalls_per_s,
                "ns_per_syscall": syscalls_per_s.map(|_| e.ns_per_syscall),
                "top_syscalls": top,
                "filter_instructions": calibration.map(|k| k.instructions),
                "filters": e.filters,
                "action_cache": e.action_cache,
                "speculation_store_bypass": e.ssb,
                "cross_checks": checks,
                "method": method,
            }),
            explanation: explain::sampled_explanation(r, &e, s.syscall_probes),
            remediation: explain::slowdown_remediation(&e),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::{
        Mode,
        analyzer::Analyzer,
        sampled::SampledSection,
        sampled_class::{Counts, rate},
    };

    fn row(id: &str, mode: &str, filter: u64, slow: u64, shared: u64) -> SampledRow {
        let samples = Counts {
            total: 5000,
            filter,
            slow_path: slow,
            slow_path_shared: shared,
            ..Counts::default()
        };
        let r = |n| rate(n, 1_001_001, 10.0);
        SampledRow {
            container_id: Some(id.into()),
            container_name: Some(format!("{id}-name")),
            runtime: Some("docker".into()),
            pid: None,
            comm: None,
            seccomp_mode: mode.into(),
            samples,
            seccomp: r(filter + slow),
            filter: r(filter),
            slow_path: r(slow),
            slow_path_shared: r(shared),
            residual: r(0),
            cpu_share_pct: r(filter + slow).ms_per_s / 10.0,
            pids: Vec::new(),
        }
    }

    fn report(rows: Vec<SampledRow>, probes: bool) -> SeccompReport {
        let mut r = Analyzer::default().report(Mode::Count, 10.0, 5);
        r.sampled = Some(SampledSection {
            hz: 999,
            seconds: 10.0,
            method: super::super::sampled::method(999),
            drops: 0,
            syscall_probes: probes,
            residual: None,
            containers: rows,
        });
        r
    }

    #[test]
    fn filtered_containers_over_the_threshold_only() {
        // 300 samples of ~1 ms over 10 s: 30 ms/s, 3% of a CPU. 50 samples: 0.5%.
        let r = report(
            vec![
                row("busy", "filter", 200, 100, 0),
                row("light", "filter", 50, 0, 0),
                row("open", "disabled", 0, 0, 0),
            ],
            false,
        );
        let f = findings(&r, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.container_id.as_deref(), Some("busy"));
        let e = &f[0].evidence;
        assert!(
            e["method"]
                .as_str()
                .unwrap()
                .starts_with("sampled: cpu-clock")
        );
        let ms = e["ms_lost_per_s"].as_f64().unwrap();
        assert!((ms - 30.03).abs() < 0.01, "{ms}");
        assert!(e["ms_lost_per_s_low"].as_f64().unwrap() < ms);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn with_syscall_probes_attached_the_method_says_the_slow_path_is_apart() {
        let r = report(vec![row("busy", "filter", 300, 0, 900)], true);
        let f = findings(&r, None);
        let e = &f[0].evidence;
        assert!(e["method"].as_str().unwrap().contains("shown apart"), "{e}");
        assert!(e["slow_path_shared_ms_per_s"].as_f64().unwrap() > 80.0);
        assert!((e["ms_lost_per_s"].as_f64().unwrap() - 30.03).abs() < 0.01);
    }

    /// Above the largest pid_max: no live process lends the subject its name.
    const NO_SUCH_PID: u32 = 4_194_305;

    #[test]
    fn a_filtered_host_process_has_its_own_finding_and_the_rest_of_the_host_none() {
        let mut own = row("x", "filter", 200, 100, 0);
        (own.container_id, own.container_name, own.runtime) = (None, None, None);
        (own.pid, own.comm) = (Some(NO_SUCH_PID), Some("loop".into()));
        let mut rest = row("x", "mixed", 0, 0, 0);
        (rest.container_id, rest.container_name, rest.runtime) = (None, None, None);
        let f = findings(&report(vec![own, rest], false), None);
        assert_eq!(f.len(), 1, "{f:#?}");
        let s = &f[0].subject;
        assert_eq!(
            (s.pid, s.container_id.as_deref()),
            (Some(NO_SUCH_PID), None)
        );
        assert_eq!(s.comm.as_deref(), Some("loop"));
        assert!(
            f[0].explanation
                .starts_with("Host process loop (pid 4194305)")
        );
    }
}
