//! seccomp analyzer fed with recorded snapshots.

use super::*;
use crate::hist::Log2Hist;
use tracer_common::seccomp::log2_slot;

fn stats(count: u64, each_ns: u64) -> SysStats {
    let mut hist = Log2Hist::default();
    hist.slots[log2_slot(each_ns)] = count;
    SysStats {
        count,
        total_ns: count * each_ns,
        hist,
    }
}

fn ctr(id: &str, name: &str) -> Option<Container> {
    Some(Container {
        id: id.into(),
        name: Some(name.into()),
        runtime: "docker".into(),
        k8s: Default::default(),
    })
}

/// A recorded snapshot: two processes in one filtered container, one unconfined host process.
fn recorded() -> Analyzer {
    let mut a = Analyzer::default();
    a.update(vec![
        (SysKey { tgid: 10, nr: 110 }, stats(1000, 300)), // getppid
        (SysKey { tgid: 10, nr: 0 }, stats(10, 50_000)),  // read
        (SysKey { tgid: 11, nr: 110 }, stats(500, 300)),
        (SysKey { tgid: 20, nr: 39 }, stats(7, 100)), // getpid
    ]);
    let filtered = SeccompStatus::from_status(Some("2"), Some("1"));
    a.set_meta(
        10,
        ProcMeta {
            comm: "app".into(),
            container: ctr("abc", "web"),
            seccomp: filtered.clone(),
        },
    );
    a.set_meta(
        11,
        ProcMeta {
            comm: "worker".into(),
            container: ctr("abc", "web"),
            seccomp: filtered,
        },
    );
    a
}

#[test]
fn aggregates_per_process_and_container() {
    let a = recorded();
    assert_eq!(a.unknown_tgids(), vec![20]);
    assert_eq!(a.total(), 1517);
    let r = a.report(Mode::Latency, 2.0, 5);
    assert_eq!(r.syscalls, 1517);
    assert_eq!(r.processes.len(), 3);
    assert_eq!(r.processes[0].pid, 10);
    assert_eq!(r.processes[0].syscalls_per_s, 505.0);
    // By count (the default): getppid (1000) before read (10).
    assert_eq!(r.processes[0].top[0].syscall, "getppid");
    assert_eq!(r.processes[0].top[1].syscall, "read");
    assert_eq!(r.containers.len(), 1);
    let c = &r.containers[0];
    assert_eq!(
        (c.container_id.as_str(), c.processes, c.syscalls),
        ("abc", 2, 1510)
    );
    assert_eq!(
        (c.seccomp_mode.as_str(), c.seccomp_filters),
        ("filter", Some(1))
    );
    assert_eq!(c.top[0].count, 1500);
    let p50 = c.top[0].p50_ns.unwrap();
    assert!((256..=511).contains(&p50), "{p50}");
    // The host process has no container and an unknown seccomp mode.
    let host = r.processes.iter().find(|p| p.pid == 20).unwrap();
    assert_eq!(
        (host.container_id.as_deref(), host.seccomp_mode.as_str()),
        (None, "unknown")
    );
}

#[test]
fn time_ranks_by_time_inside_the_calls() {
    let mut a = recorded();
    a.sort = Sort::Time;
    let r = a.report(Mode::Latency, 2.0, 5);
    assert_eq!(r.sort, Sort::Time);
    // read (500 us) before getppid (300 us).
    assert_eq!(r.processes[0].top[0].syscall, "read");
    assert_eq!(r.processes[0].top[1].syscall, "getppid");
    // Count mode has no time to rank by.
    assert_eq!(a.report(Mode::Count, 2.0, 5).sort, Sort::Count);
}

#[test]
fn one_sample_is_itself_and_blocking_calls_are_marked() {
    let mut a = Analyzer::default();
    let mut sleep = SysStats {
        count: 1,
        total_ns: 1_000_123_456,
        ..Default::default()
    };
    sleep.hist.slots[tracer_common::seccomp::log2_slot(1_000_123_456)] = 1;
    a.update(vec![
        (SysKey { tgid: 1, nr: 230 }, sleep), // clock_nanosleep
        (SysKey { tgid: 1, nr: 110 }, stats(3, 300)),
    ]);
    let r = a.report(Mode::Latency, 2.0, 5);
    let top = &r.processes[0].top;
    let s = top.iter().find(|s| s.syscall == "clock_nanosleep").unwrap();
    assert_eq!(
        (s.p50_ns, s.p99_ns),
        (Some(1_000_123_456), Some(1_000_123_456))
    );
    assert!(s.blocking);
    assert!(
        !top.iter()
            .find(|s| s.syscall == "getppid")
            .unwrap()
            .blocking
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(
        json["processes"][0]["top"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["blocking"] == true)
    );
    assert!(
        json["processes"][0]["top"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("blocking").is_none())
    );
}

#[test]
fn count_mode_has_no_latency() {
    let mut a = Analyzer::default();
    a.update(vec![(
        SysKey { tgid: 1, nr: 110 },
        SysStats {
            count: 9,
            ..Default::default()
        },
    )]);
    let r = a.report(Mode::Count, 3.0, 5);
    let s = &r.processes[0].top[0];
    assert_eq!(
        (s.count, s.per_s, s.p50_ns, s.total_ns),
        (9, 3.0, None, None)
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["processes"][0]["top"][0].get("p99_ns").is_none());
    assert_eq!(json["mode"], "count");
}

#[test]
fn mixed_seccomp_modes_in_a_container() {
    let mut a = recorded();
    a.set_meta(
        11,
        ProcMeta {
            comm: "w".into(),
            container: ctr("abc", "web"),
            seccomp: SeccompStatus::from_status(Some("0"), Some("0")),
        },
    );
    let r = a.report(Mode::Latency, 1.0, 5);
    assert_eq!(r.containers[0].seccomp_mode, "mixed");
}

#[test]
fn names_unknown_syscalls() {
    assert_eq!(syscall_name(39), "getpid");
    assert_eq!(syscall_name(100_000), "syscall_100000");
}

#[test]
fn retired_processes_keep_their_figures_once_gone_from_the_kernel() {
    let mut a = recorded();
    let before = a.report(Mode::Latency, 2.0, 5);
    let keys = a.retire(&[10]);
    assert_eq!(keys.len(), 2);
    assert!(a.is_retired(10));
    // The kernel map no longer has process 10; 11 made 5 more calls meanwhile.
    a.update(vec![
        (SysKey { tgid: 11, nr: 110 }, stats(505, 300)),
        (SysKey { tgid: 20, nr: 39 }, stats(7, 100)),
    ]);
    let after = a.report(Mode::Latency, 2.0, 5);
    assert_eq!(after.syscalls, before.syscalls + 5);
    let p10 = |r: &SeccompReport| r.processes.iter().find(|p| p.pid == 10).unwrap().syscalls;
    assert_eq!(p10(&after), p10(&before));
    // Retiring again moves nothing twice.
    let again = a.retire(&[10]);
    a.update(vec![(SysKey { tgid: 11, nr: 110 }, stats(505, 300))]);
    assert_eq!(again.len(), 2);
    assert_eq!(p10(&a.report(Mode::Latency, 2.0, 5)), p10(&before));
    a.forget(&[10]);
    assert!(!a.is_retired(10));
    assert!(
        a.report(Mode::Latency, 2.0, 5)
            .processes
            .iter()
            .all(|p| p.pid != 10)
    );
}

/// Named before its execve, retired once dead, and only then seen to have exec'd: it is named
/// again all the same (from the kernel's record after the exec).
#[test]
fn a_retired_process_that_had_exec_d_is_named_again() {
    let mut a = recorded();
    a.retire(&[10]);
    a.update(vec![(SysKey { tgid: 11, nr: 110 }, stats(505, 300))]);
    assert!(a.unknown_tgids().is_empty());
    a.unset_meta(10);
    assert_eq!(a.unknown_tgids(), [10]);
}

#[test]
fn a_window_counts_what_grew_since_its_base_and_leaves_the_quiet_out() {
    let mut a = recorded();
    let base = a.stats().clone();
    // Ten seconds later only pid 10's getppid grew; pid 11 and the host process went quiet.
    a.update(vec![
        (SysKey { tgid: 10, nr: 110 }, stats(3000, 300)),
        (SysKey { tgid: 10, nr: 0 }, stats(10, 50_000)),
        (SysKey { tgid: 11, nr: 110 }, stats(500, 300)),
        (SysKey { tgid: 20, nr: 39 }, stats(7, 100)),
    ]);
    let r = a.report_since(&base, Mode::Latency, 10.0, 5);
    assert_eq!(r.syscalls, 2000);
    let pids: Vec<u32> = r.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [10]);
    assert_eq!(r.containers.len(), 1);
    assert!((r.containers[0].syscalls_per_s - 200.0).abs() < 1e-9);
    // Nothing grew at all: the window is empty, the container gone from it.
    let still = a.stats().clone();
    let r = a.report_since(&still, Mode::Latency, 10.0, 5);
    assert!(r.containers.is_empty() && r.processes.is_empty());
}
