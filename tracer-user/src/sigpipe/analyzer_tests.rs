//! sigpipe analyzer fed with recorded events.

use super::*;

const T0: f64 = 1_700_000_000.0;

fn pipe_fd() -> Option<FdInfo> {
    Some(FdInfo {
        kind: "pipe",
        inode: Some(4242),
        local: None,
        peer: None,
    })
}

fn signal(comm: &str, watched: bool) -> Signal {
    Signal {
        at: T0,
        tgid: 100,
        tid: 100,
        comm: comm.into(),
        syscall: Some("write".into()),
        fd: Some(2),
        fd_info: pipe_fd(),
        size: 120,
        watched: watched.then(|| comm.to_string()),
        ..Default::default()
    }
}

#[test]
fn watched_daemon_killed_by_sigpipe_is_critical() {
    let mut a = Analyzer::default();
    a.on_journald(T0 - 3.0);
    a.on_generate(signal("dockerd", true));
    a.on_deliver(100, 0);
    a.on_exit(100, T0 + 0.01);
    let (r, f) = a.report();
    assert_eq!((r.sigpipes, r.deaths), (1, 1));
    assert_eq!(r.by_outcome.get("fatal"), Some(&1));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Critical);
    let e = &f[0].evidence;
    assert_eq!(
        (
            e["outcome"].as_str(),
            e["fd_kind"].as_str(),
            e["syscall"].as_str()
        ),
        (Some("fatal"), Some("pipe"), Some("write"))
    );
    assert_eq!(e["journald_restart_s_before"], 3.0);
    assert!(
        f[0].explanation
            .contains("systemd-journald restarted 3.0s before")
    );
    assert!(f[0].explanation.contains("a pipe (inode 4242)"));
    assert!(f[0].remediation.contains("Restart dockerd"));
}

#[test]
fn ignored_sigpipe_with_epipe_failures_is_a_warning() {
    let mut a = Analyzer::default();
    let mut s = signal("dockerd", true);
    s.ignored_at_generation = true;
    a.on_generate(s);
    a.on_epipe(
        EpipeRow {
            pid: 100,
            comm: "dockerd".into(),
            count: 1,
            syscall: Some("write".into()),
            fd: Some(2),
            fd_info: pipe_fd(),
        },
        Some("dockerd".into()),
    );
    a.set_epipe_counts(BTreeMap::from([(100, 7)]));
    let (r, f) = a.report();
    assert_eq!(r.epipe[0].count, 7);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].evidence["epipe_count"], 7);
    assert_eq!(f[0].evidence["outcome"], "ignored");
    assert!(f[0].explanation.contains("7 write(s) failed with EPIPE"));
}

#[test]
fn unwatched_processes_count_but_raise_nothing() {
    let mut a = Analyzer::default();
    a.on_generate(signal("yes", false));
    a.on_deliver(100, 0);
    a.on_exit(100, T0 + 0.1);
    let (r, f) = a.report();
    assert_eq!(r.sigpipes, 1);
    assert_eq!(r.by_comm.get("yes"), Some(&1));
    assert!(f.is_empty());
}

#[test]
fn handled_signal_and_late_exit_are_not_deaths() {
    let mut a = Analyzer::default();
    a.on_generate(signal("containerd", true));
    a.on_deliver(100, 0x55aa);
    a.on_exit(100, T0 + 0.1);
    assert_eq!(a.signals[0].outcome(), "handled");
    let mut b = Analyzer::default();
    b.on_generate(signal("containerd", true));
    b.on_deliver(100, 0);
    b.on_exit(100, T0 + 30.0);
    assert_eq!(b.signals[0].outcome(), "default");
    // Neither died nor saw EPIPE: no finding.
    assert!(a.report().1.is_empty() && b.report().1.is_empty());
}
