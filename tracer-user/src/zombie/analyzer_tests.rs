//! zombie analyzer fed with recorded observations.

use super::*;

const T0: f64 = 1_700_000_000.0;

fn pid1(pid: u32, comm: &str) -> ParentInfo {
    ParentInfo {
        pid,
        comm: comm.into(),
        ns_pid1: true,
        pidns: Some(4026532000),
        container: Some(Container {
            id: "a".repeat(64),
            name: Some("web".into()),
            runtime: "docker".into(),
            k8s: Default::default(),
        }),
        pids_max: Some(100),
        pids_current: Some(40),
    }
}

fn node() -> NodeLimits {
    NodeLimits {
        pid_max: 32768,
        threads_max: 192729,
        tasks: 200,
    }
}

#[test]
fn unreaped_zombies_under_pid1_raise_the_finding() {
    let mut a = Analyzer::new(5.0, T0);
    for pid in 10..16 {
        a.on_exit();
        a.seen(pid, "worker", pid1(9, "python"), Some(T0 + 1.0), T0 + 1.1);
    }
    assert_eq!(a.current(), 6);
    // Under the threshold: no finding yet.
    let (_, f) = a.report(T0 + 3.0, node());
    assert!(f.is_empty());
    let (r, f) = a.report(T0 + 61.0, node());
    let g = &r.groups[0];
    assert_eq!(
        (g.zombies, g.over_threshold, g.parent_comm.as_str()),
        (6, 6, "python")
    );
    assert!(!g.known_init && g.parent_is_pid1);
    assert_eq!((g.headroom, g.headroom_limit), (60, "pids.max"));
    // 6 zombies in 61 s: about 5.9 per minute, 60 left -> about 10 minutes.
    assert!((g.rate_per_min - 5.9).abs() < 0.1, "{}", g.rate_per_min);
    let t = g.time_to_limit_s.unwrap();
    assert!((590.0..=620.0).contains(&t), "{t}");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].subject.container_name.as_deref(), Some("web"));
    assert_eq!(f[0].evidence["zombies"], 6);
    assert!(f[0].explanation.contains("not an init"));
    assert!(f[0].remediation.contains("--init"));
}

#[test]
fn reaped_zombies_raise_nothing() {
    let mut a = Analyzer::new(1.0, T0);
    a.seen(20, "sleep", pid1(9, "tini"), Some(T0), T0);
    a.reaped(20, T0 + 0.2);
    let (r, f) = a.report(T0 + 100.0, node());
    assert!(f.is_empty());
    assert_eq!(r.reaped, 1);
    assert!(r.groups.is_empty());
    let row = r.zombies.iter().find(|z| z.pid == 20).unwrap();
    assert!((row.reaped_after_s.unwrap() - 0.2).abs() < 1e-6);
}

#[test]
fn a_non_pid1_parent_that_never_waits_is_named_without_init_advice() {
    let mut a = Analyzer::new(1.0, T0);
    let mut app = pid1(30, "worker.py");
    app.ns_pid1 = false;
    for pid in 31..35 {
        a.seen(pid, "sh", app.clone(), Some(T0), T0);
    }
    let (r, f) = a.report(T0 + 100.0, node());
    assert_eq!(r.groups[0].parent_pid, 30);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject.comm.as_deref(), Some("worker.py"));
    assert_eq!(f[0].evidence["parent_pid"], 30);
    assert_eq!(f[0].evidence["parent_is_pid1"], false);
    assert_eq!(f[0].evidence["pid1_pid"], serde_json::Value::Null);
    assert!(f[0].explanation.contains("not PID 1"));
    assert!(!f[0].remediation.contains("--init"));
    assert!(f[0].remediation.contains("worker.py"));
    // 4 in 100 s, 60 left under pids.max: 60 / (2.4/min) = 25 min.
    let t = r.groups[0].time_to_limit_s.unwrap();
    assert!((t - 1500.0).abs() < 1.0, "{t}");
}

#[test]
fn scanned_zombies_are_aged_from_first_sight_and_warn_without_a_rate() {
    let mut a = Analyzer::new(1.0, T0);
    let mut p = pid1(9, "sleep");
    p.pids_max = None;
    a.seen(40, "sleep", p, None, T0);
    let (r, f) = a.report(T0 + 10.0, node());
    assert_eq!(r.zombies[0].source, "scan");
    assert_eq!(r.zombies[0].age_s, 10.0);
    assert_eq!(r.groups[0].rate_per_min, 0.0);
    assert_eq!(r.groups[0].headroom_limit, "kernel.pid_max");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].remediation.contains("--pids-limit"));
}

#[test]
fn reparented_zombie_moves_to_its_new_parent() {
    let mut a = Analyzer::new(1.0, T0);
    let mut shell = pid1(30, "sh");
    shell.ns_pid1 = false;
    a.seen(50, "child", shell, Some(T0), T0);
    a.seen(50, "child", pid1(9, "app"), Some(T0), T0 + 1.0);
    let (r, f) = a.report(T0 + 5.0, node());
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].parent_pid, 9);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].evidence["pid1_pid"], 9);
}

#[test]
fn a_scan_before_the_traced_lookup_keeps_the_exit_time() {
    let mut a = Analyzer::new(1.0, T0);
    a.seen(60, "w", pid1(9, "app"), None, T0 + 1.0);
    a.seen(60, "w", pid1(9, "app"), Some(T0 + 0.9), T0 + 1.05);
    let (r, _) = a.report(T0 + 5.0, node());
    assert_eq!(r.zombies[0].source, "traced");
    assert!(r.groups[0].rate_per_min > 0.0);
    // Reaped, then the pid comes back as another zombie: a new entry.
    a.reaped(60, T0 + 6.0);
    a.seen(60, "other", pid1(9, "app"), Some(T0 + 7.0), T0 + 7.1);
    let (r, _) = a.report(T0 + 8.0, node());
    assert_eq!(r.zombies[0].comm, "other");
    assert_eq!(r.zombies[0].reaped_after_s, None);
}

#[test]
fn known_inits() {
    for c in [
        "tini",
        "docker-init",
        "dumb-init",
        "catatonit",
        "s6-svscan",
        "systemd",
        "runit",
    ] {
        assert!(is_known_init(c), "{c}");
    }
    assert!(!is_known_init("sleep"));
    assert!(!is_known_init("python3"));
}
